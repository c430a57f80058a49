/*
** frameops.h: operations that make new frames from frames: row subsets
** (filters, samples, splits), column subsets, concatenation, and adding a
** column. Inputs are never changed; outputs own their data.
*/
#ifndef MB_FRAMEOPS_H
#define MB_FRAMEOPS_H

#include "frame.h"

/* Rows idx[0..n) of f (0-based, any order, repeats allowed), all columns. */
mb_status mb_frame_take(const mb_frame *f, const size_t *idx, size_t n, mb_frame **out, mb_error *err);

/* The listed columns (keep = 1, in the listed order) or all but them
** (keep = 0); the target is kept by name when present. An unknown name is
** an error listing the columns. */
mb_status mb_frame_select(const mb_frame *f, const char *const *names, size_t n, int keep,
                          mb_frame **out, mb_error *err);

/* Rows of a then rows of b. The columns must match by name and type (in
** any order; a's order wins); categorical values are matched by text. */
mb_status mb_frame_concat(const mb_frame *a, const mb_frame *b, mb_frame **out, mb_error *err);

/* A copy of f with column `name` set to values (numeric, f->nrows floats,
** NaN = missing) or, when levels != NULL, codes (-1 = missing) with those
** levels; replaces a column of that name in place, else appends. */
mb_status mb_frame_with_column(const mb_frame *f, const char *name, const float *values,
                               const int32_t *codes, char *const *levels, size_t nlevels,
                               mb_frame **out, mb_error *err);

/* The stable order of f's rows by column col into idx (f->nrows indices):
** ascending, or descending when desc; missing values (NaN, code -1) last
** either way; a categorical column by its levels' text (strcmp). A merge
** sort: progress(ud, fraction), when not NULL, is called after each pass,
** and a nonzero return stops it with MB_ECANCELLED. */
mb_status mb_frame_order(const mb_frame *f, size_t col, int desc, size_t *idx,
                         int (*progress)(void *ud, double fraction), void *ud, mb_error *err);

/* A deep copy. */
mb_status mb_frame_copy(const mb_frame *f, mb_frame **out, mb_error *err);

#endif
