/*
** transform.h: feature transforms, fitted on training data only and
** applied to any frame with the same columns; their fitted state is saved
** in the bundle's /pipeline group so that serving recomputes features
** exactly as training did.
**
** Kinds (name: what it does; options):
**   standardize  (x - mean) / std per numeric column (std 0 -> 1)          columns
**   minmax       (x - min) / (max - min) to [0, 1] (range 0 -> 0)           columns
**   impute       fill NaN / missing categories: strategy mean | median |
**                most_frequent | constant (fill / fill_text); add_indicator
**                adds a 0/1 column "<name>_missing" per column that had
**                missing values in training                                 columns
**   onehot       categorical -> one 0/1 column per training level, named
**                "<col>=<level>"; unknown levels at apply: "ignore" (all
**                zeros) or "error"; missing -> all zeros                     columns
**   ordinal      categorical -> its training level code as a number;
**                unknown levels and missing -> NaN                          columns
**   log1p        log(1 + x) (x < -1 -> NaN)                                 columns
**   clip         x clipped to [lo, hi]                                      columns
**   poly2        adds every product x_i * x_j (i <= j) of the columns as
**                "<a>*<b>" (squares "<a>^2")                                columns
**   select       keep only the listed columns (and the target)             columns
**   drop         drop the listed columns                                    columns
** "columns" NULL means every column the transform applies to (numeric ones
** for scaling, categorical ones for encoders), decided at fit time; the
** target column is never transformed.
**
** Apply returns a new frame; the input is not changed. Applying before fit,
** or to a frame missing a fitted column, is an error that names it.
**
** Details (transform.c implements exactly these):
** - Columns are matched by name, categorical levels by their text (never by
**   code), so the applied frame may order its columns and dictionaries
**   differently. A fitted column of the other type at apply -> MB_ETYPE; one
**   that is the target of the applied frame -> MB_EARG. Options naming a
**   column the training frame lacks -> MB_ENOTFOUND; naming the target ->
**   MB_EARG (select just ignores it: the target is always kept).
** - Output order: the input's columns in the input's order, transformed ones
**   in place (onehot's columns and impute's indicator where the column was),
**   poly2's products after all of them; select gives the listed (or fitted)
**   columns in that order, then the target. The target keeps its column
**   (re-indexed) and is copied unchanged. drop ignores listed columns the
**   applied frame does not have.
** - The numeric outputs share one row-major block (features first, a
**   numeric target last): mb_matrix_from_frame takes it without a copy.
** - Statistics are in double and ignore NaN; NaN passes through. standardize:
**   population std (ddof = 0); a constant column gets mean = its value and
**   scale 1. minmax: range 0 -> divisor 1 (so training values map to 0).
**   A standardize / minmax column with no values in training -> MB_EEMPTY.
** - impute: median as numpy.median; most_frequent ties go to the smallest
**   value, and for categorical columns to the smallest level TEXT (as
**   scikit-learn, and independent of the dictionary order); a numeric
**   column with no values gets 0, a categorical one fill_text. With
**   columns NULL, mean and median impute the numeric columns only;
**   most_frequent and constant impute every column. An explicit categorical
**   column with mean / median -> MB_ETYPE. A categorical fill is matched by
**   text in the applied column's dictionary and added as a level if absent.
** - onehot / unknown = "error": MB_EARG naming the column, the level and the
**   row (1-based) of the first unknown level; a missing value is never an
**   error. ordinal codes are the training dictionary's (all its levels, seen
**   or not).
** - log1p: x = -1 -> -inf. clip: with opts given, lo and hi are both taken
**   from it; lo = hi = 0 (a zeroed struct) is refused, as it is surely a
**   forgotten setting: use -INFINITY / INFINITY for an open side.
** - A generated name (onehot, indicator, poly2) equal to another column's is
**   refused (at fit already, as fit checks the training frame applies).
** - State arrays (version 1): version (I32), kind, columns (text), and
**   mean|min + scale (F64) for standardize|minmax; strategy, add_indicator,
**   is_cat, had_missing, fill, fill_text for impute; unknown (onehot),
**   nlevels (I64) and levels (text) for onehot and ordinal; bounds (F64 [2])
**   for clip. A loaded transform applies identically and refits with the
**   same columns. Damaged state (missing arrays, wrong sizes or types, bad
**   values, another kind) -> MB_EFORMAT naming the array.
*/
#ifndef MB_TRANSFORM_H
#define MB_TRANSFORM_H

#include "frame.h"
#include "plugin.h"

typedef struct mb_transform mb_transform;

typedef struct mb_transform_opts {
    const char *const *columns;   /* NULL: all applicable columns */
    size_t ncolumns;
    const char *strategy;         /* impute: "mean" (default) | "median" | "most_frequent" | "constant" */
    double fill;                  /* impute constant, numeric columns */
    const char *fill_text;        /* impute constant, categorical columns (default "missing") */
    int add_indicator;            /* impute */
    const char *unknown;          /* onehot: "ignore" (default) | "error" */
    double lo, hi;                /* clip (default -inf, +inf) */
} mb_transform_opts;

/* A new unfitted transform of a kind above; opts may be NULL. */
mb_status mb_transform_new(const char *kind, const mb_transform_opts *opts, mb_transform **out, mb_error *err);
const char *mb_transform_kind(const mb_transform *t);
int mb_transform_fitted(const mb_transform *t);
/* Learn from training rows (means, levels, ...). Refits replace the state. */
mb_status mb_transform_fit(mb_transform *t, const mb_frame *train, mb_error *err);
/* A new frame: in, transformed. */
mb_status mb_transform_apply(const mb_transform *t, const mb_frame *in, mb_frame **out, mb_error *err);
/* The fitted state as named arrays (strings as NUL-separated U8 arrays),
** and back: load gives a fitted transform. */
mb_status mb_transform_save(const mb_transform *t, mb_state *s, mb_error *err);
mb_status mb_transform_load(const char *kind, mb_state *s, mb_transform **out, mb_error *err);
void mb_transform_free(mb_transform **t);

/* {====== the plan, for exporters ======}
** What apply would do to a frame with in's columns (rows are not read: a
** frame of zero rows will do), one entry per output column in output
** order, so an exporter can emit the same arithmetic (transform.c's row
** loop is the reference: AFFINE is (float)(((double)x - a) / b), CLIP
** compares (double)x with a and b and gives (float)a or (float)b, PROD is
** a float product, LOG1P is NaN below -1 and (float)log1p((double)x)).
** Categorical ops read codes of in's dictionary: ONEHOT is 1 when
** remap[code + 1] == k, ORDINAL is remap[code + 1] (NaN when < 0), with
** remap[0] for a missing code; CATFILL replaces a missing code with the
** level named fill. The plan borrows from t and in: free it first. */
typedef enum mb_step_op {
    MB_STEP_COPY, MB_STEP_AFFINE, MB_STEP_FILL, MB_STEP_ISNAN, MB_STEP_ISMISS, MB_STEP_ONEHOT,
    MB_STEP_ORDINAL, MB_STEP_LOG1P, MB_STEP_CLIP, MB_STEP_PROD, MB_STEP_CATCOPY, MB_STEP_CATFILL
} mb_step_op;

typedef struct mb_step_col {
    const char *name;
    mb_step_op op;
    long src, src2;               /* columns of in (src2: PROD only, else -1) */
    double a, b;                  /* AFFINE mean|min and scale; FILL a; CLIP [a, b] */
    int32_t k;                    /* ONEHOT: the training level */
    const int32_t *remap;         /* ONEHOT, ORDINAL: nremap entries */
    size_t nremap;
    const char *fill;             /* CATFILL */
} mb_step_col;

typedef struct mb_step_plan {
    mb_step_col *cols;
    size_t n;
    long target;                  /* output index of in's target, or -1 */
    struct mb_step_plan_impl *impl;
} mb_step_plan;

mb_status mb_transform_plan(const mb_transform *t, const mb_frame *in, mb_step_plan *out, mb_error *err);
void mb_step_plan_free(mb_step_plan *p);

/* Strings in an mb_state (a U8 array of NUL-terminated strings). */
mb_status mb_state_put_strings(mb_state *s, const char *name, const char *const *v, size_t n, mb_error *err);
/* New array of *n new strings (free each and the array with mb_free); NULL
** and err (MB_EFORMAT) when absent, not U8, or not NUL-terminated. */
char **mb_state_get_strings(const mb_state *s, const char *name, size_t *n, mb_error *err);

#endif
