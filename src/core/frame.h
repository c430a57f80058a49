/*
** frame.h: the in-memory table every layer of moonbench passes around.
**
** DESIGN
** ------
** A frame is a row count and a list of named columns. A column is either
** numeric (float32, NaN = missing) or categorical (int32 codes, -1 =
** missing, plus a dictionary of level strings). One column may be marked
** as the target.
**
** Numeric values are reached through a pointer and a stride (in elements):
** value i of column c is c->num[i * c->stride]. A column the frame made
** itself has stride 1; the columns of a matrix read from HDF5 (/X, rows x
** features, row-major) all point into one shared row-major block with
** stride = number of features, so reading /X costs one read and no
** transpose, and a plugin can take the block as its dense matrix.
**
** Ownership: the frame owns everything reachable from it: column names,
** level strings, code arrays and the numeric blocks (kept in `blocks` and
** freed by mb_frame_free). A column's `num` is a view into one of those
** blocks; never free it directly. Adding a column may move f->cols, so a
** mb_column pointer is valid only until the next mb_frame_add_*. Frames are not thread-safe for writing;
** concurrent readers are fine.
*/
#ifndef MB_FRAME_H
#define MB_FRAME_H

#include "mb.h"

typedef enum mb_coltype { MB_COL_NUM = 0, MB_COL_CAT = 1 } mb_coltype;

typedef struct mb_column {
    char *name;          /* owned, UTF-8, never NULL */
    mb_coltype type;
    float *num;          /* MB_COL_NUM: view into a frame block */
    size_t stride;       /* MB_COL_NUM: distance between rows, in floats */
    int32_t *codes;      /* MB_COL_CAT: nrows codes, -1 = missing; owned */
    char **levels;       /* MB_COL_CAT: nlevels owned strings */
    size_t nlevels;
    size_t caplevels;
} mb_column;

typedef struct mb_frame {
    size_t nrows;
    size_t ncols;
    size_t capcols;
    mb_column *cols;
    long target;         /* index into cols, or -1 when there is none */
    char *source;        /* where it came from ("file.h5:/X"), or NULL */
    char *note;          /* a remark for the user from the reader, or NULL */
    char *task;          /* the task the file declares ("binary", ...), or NULL */
    void **blocks;       /* numeric storage owned by the frame */
    size_t nblocks;
} mb_frame;

/* Value i of numeric column c. */
#define MB_NUM(c, i) ((c)->num[(size_t)(i) * (c)->stride])

/* A new empty frame of nrows rows (no columns). Never NULL. */
mb_frame *mb_frame_new(size_t nrows);
/* Free the frame and all it owns; *f becomes NULL. Accepts NULL and a NULL *f. */
void mb_frame_free(mb_frame **f);

/* Hand a malloc'd numeric block to the frame, which frees it later. */
void mb_frame_adopt_block(mb_frame *f, void *block);

/* Append a numeric column viewing data (owned by the frame: either a block
** adopted by it, or NULL to allocate a fresh stride-1 column, filled with
** NaN). Returns the column, or NULL (err set) if memory ran out. */
mb_column *mb_frame_add_num(mb_frame *f, const char *name, float *data,
                            size_t stride, mb_error *err);
/* Append a categorical column: codes allocated and set to -1, no levels. */
mb_column *mb_frame_add_cat(mb_frame *f, const char *name, mb_error *err);

/* Add a level to a categorical column; returns its code, or -1 on OOM.
** Does not look for an existing equal level (see mb_dict for that). */
int32_t mb_column_add_level(mb_column *c, const char *s, size_t len);

/* Index of the column named name, or -1. */
long mb_frame_find(const mb_frame *f, const char *name);

/* The column names as "a, b, c" for messages, cut with ", ..." to fit n. */
void mb_frame_column_list(const mb_frame *f, char *buf, size_t n);

/* Mark column name as the target; MB_ENOTFOUND (listing the columns) if
** there is no such column. */
mb_status mb_frame_set_target(mb_frame *f, const char *name, mb_error *err);

/* Set the reader's note (formatted); replaces an earlier one. */
void mb_frame_set_note(mb_frame *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* {====== string dictionary ======}
** A hash table from strings to level codes, used by readers to intern
** categorical values while filling a column. */
typedef struct mb_dict {
    uint32_t *slots;     /* code + 1, 0 = empty */
    size_t nslots;
    mb_column *col;      /* levels live in the column */
} mb_dict;

void mb_dict_init(mb_dict *d, mb_column *col);
/* Code of s[0..len), adding it as a new level when absent; -1 on OOM. */
int32_t mb_dict_intern(mb_dict *d, const char *s, size_t len);
void mb_dict_free(mb_dict *d);

#endif
