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
/* Whether c takes the vector walk for batches (AVX-512, one output per
** tree, depth <= 6; MOONBENCH_TREES_SIMD=0 at compile turns it off): for
** tests, which compare both walks. */
int mbrt_trees_vector(const mbrt_trees *c);

/* {====== padding, shared with the C export (export_c.c) ======} */

/* The depth of the ensemble's deepest tree (a leaf is 0), or -1 when a
** tree is deeper than max_depth. */
int mbrt_trees_depth(const mb_tree_form *t, int max_depth);
/* Tree tr padded to a complete binary tree of depth `depth` (at least its
** own): at[pos], pos in level order (the 2^depth - 1 inner positions, then
** the 2^depth leaves; the children of pos are 2 pos + 1 and 2 pos + 2), is
** the form's node there. A leaf above depth `depth` fills every position
** below it: an inner position holding a leaf leads both ways to it. */
void mbrt_trees_pad(const mb_tree_form *t, size_t tr, size_t depth, int32_t *at);
#endif
