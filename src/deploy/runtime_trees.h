/*
** runtime_trees.h: the runtime's fast evaluator of a portable tree
** ensemble (runtime_trees.c): compiled once when the runtime opens, then
** read-only (share it between threads), allocating nothing per call.
*/
#ifndef MBRT_TREES_H
#define MBRT_TREES_H

#include "mb.h"
#include "moonbench_plugin.h"

typedef struct mbrt_trees mbrt_trees;

/* The compiled ensemble, or NULL when it does not suit (deeper than the
** evaluator's limit, or no memory): then score with the portable loop.
** t must have passed mb_portable_check and outlive the result. */
mbrt_trees *mbrt_trees_compile(const mb_tree_form *t);
void mbrt_trees_free(mbrt_trees **c);
/* out[i * noutputs + k]: exactly mb_portable_predict_rows's outputs for
** X's rows (X has the form's nfeatures columns). */
void mbrt_trees_predict(const mbrt_trees *c, const mb_matrix *X, double *out);
#endif
