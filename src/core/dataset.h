/*
** dataset.h: from a frame to what a model sees: a dense float32 feature
** matrix, labels, the task and the class names (an mb_dataset of the
** plugin ABI), without copying when the frame's features already are one
** row-major block (a matrix read from HDF5).
*/
#ifndef MB_DATASET_H
#define MB_DATASET_H

#include "frame.h"
#include "moonbench_plugin.h"

typedef struct mb_data {
    mb_dataset ds;
    const char **feature_names;   /* borrowed from the frame */
    char **class_names;           /* nclasses owned strings (classification) */
    float *xbuf;                  /* owned copy of X, or NULL for a view */
    float *ybuf;                  /* owned labels */
    float *wbuf;                  /* owned sample weights, or NULL */
} mb_data;

/* The task to use for a frame's target: `want` when not 0; else the file's
** declared task; else categorical targets are classification (2 levels:
** binary), and numeric ones classification only when every value is an
** integer and there are at most 20 distinct values. A task that disagrees
** with the labels is an error, not a correction: binary (asked for or
** declared) on more than 2 classes, regression on a categorical target, a
** declared task name that is none of the three. Multiclass on 2 classes
** is binary. */
mb_status mb_data_from_frame(const mb_frame *f, mb_task want, mb_data *out, mb_error *err);

/* The slot of v in a hash set of 2^log2_slots slots (1..31), for the
** distinct-value pass over a numeric target. */
size_t mb_hash_float(float v, unsigned log2_slots);

/* Features only (for prediction): no target needed; if the frame has one,
** it is left out. */
mb_status mb_matrix_from_frame(const mb_frame *f, mb_matrix *X, float **owned, mb_error *err);

/* The same, with sample weights taken from column `weights` (numeric,
** finite, >= 0, not all 0), which is then not a feature. */
mb_status mb_data_from_frame_weighted(const mb_frame *f, mb_task want, const char *weights, mb_data *out,
                                      mb_error *err);

/* Columns names[0..n) of f, in that order, as the matrix a model takes: a
** view when they already are one row-major block in that order (a matrix
** read from HDF5, a transform's output), else one copy in *owned. A missing
** or categorical column is an error "WHAT: the data has no column 'x',
** which the model was trained on". */
mb_status mb_matrix_by_names(const mb_frame *f, const char *const *names, size_t n, const char *what,
                             mb_matrix *X, float **owned, mb_error *err);

void mb_data_free(mb_data *d);

/* Rows [start, start + n) of d as a view (shares d's memory). */
mb_dataset mb_dataset_rows(const mb_dataset *d, size_t start, size_t n);

const char *mb_task_name(mb_task t);
/* "regression", "binary", "multiclass" to the task; 0 for anything else. */
mb_task mb_task_from_name(const char *name);

#endif
