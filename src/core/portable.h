/*
** portable.h: scoring from a model's portable form (moonbench_plugin.h):
** a linear model, a tree ensemble or an MLP, without the plugin that
** trained it. The bundle stores the form; scorers and exporters use this.
*/
#ifndef MB_PORTABLE_H
#define MB_PORTABLE_H

#include "mb.h"
#include "moonbench_plugin.h"
#include "plugin.h"

/* Number of outputs of a form (1, or k for multiclass). */
size_t mb_portable_noutputs(const mb_portable *p);
/* Number of input features a form expects. */
size_t mb_portable_nfeatures(const mb_portable *p);

/* out[i * noutputs + k]: output k of row i after the link (regression
** value, probability of class 1, or class probabilities). MB_ESHAPE when X
** has the wrong number of columns; MB_EFORMAT when the form is malformed
** (a node index out of range, a cycle-length path, ...). */
mb_status mb_portable_predict(const mb_portable *p, const mb_matrix *X, double *out, mb_error *err);

/* The scoring loop alone, for callers that checked the form once
** (mb_portable_check) and X's width: allocates nothing and writes no
** shared state, so one form can score from many threads. work holds
** mb_portable_work_size(p) doubles (0 for linear and trees forms). */
size_t mb_portable_work_size(const mb_portable *p);
void mb_portable_predict_rows(const mb_portable *p, const mb_matrix *X, double *out, double *work);

/* An MLP layer's activation of one pre-activation sum (both MLP loops). */
double mb_portable_activate(mb_activation a, float alpha, double x);

/* A form's link on k raw outputs, in place (logistic, softmax or none):
** the last step of the loop above, for scorers that compute the raw sums
** their own way (portable_trees.c). */
void mb_portable_apply_link(mb_link link, double *v, size_t k);

/* Check a form's internal consistency (indices in range, sizes). */
mb_status mb_portable_check(const mb_portable *p, mb_error *err);

/* {====== a compiled MLP (portable_mlp.c) ======}
** An MLP form with each layer's weights transposed once, scored as axpy
** over outputs in vector registers: bit for bit the results of
** mb_portable_predict_rows, at a fraction of its instructions. Made when
** a scorer is opened, read-only after: one plan scores from many threads.
** mb_mlp_plan_new copies the weights (the form may go after it) and gives
** NULL when the form is not a valid MLP or memory runs out; level is the
** CPU level whose kernel to use (mb_cpu_level: 3 for AVX-512, 2 for AVX2,
** lower for plain C), or -1 for this CPU's best. work holds mb_portable_work_size(p) doubles. */
typedef struct mb_mlp_plan mb_mlp_plan;
mb_mlp_plan *mb_mlp_plan_new(const mb_portable *p, int level);
void mb_mlp_plan_free(mb_mlp_plan **pp);
/* The kernel in use: "avx512", "avx2" or "c". */
const char *mb_mlp_plan_kernel(const mb_mlp_plan *pl);
void mb_mlp_plan_predict_rows(const mb_mlp_plan *pl, const mb_matrix *X, double *out, double *work);

/* {====== a compiled tree ensemble (portable_trees.c) ======}
** Every tree padded to the ensemble's depth and walked without branches,
** several rows at a time (and AVX-512 for gradient boosting's shape): bit
** for bit the results of mb_portable_predict_rows. Made when a scorer is
** opened, read-only after (share it between threads), allocating nothing
** per call. mb_trees_plan_new gives NULL when the ensemble does not suit
** (deeper than the walk's limit, or no memory): then the portable loop
** scores. t must have passed mb_portable_check; its arrays (not t itself)
** must outlive the plan. */
typedef struct mb_trees_plan mb_trees_plan;
mb_trees_plan *mb_trees_plan_new(const mb_tree_form *t);
void mb_trees_plan_free(mb_trees_plan **c);
/* out[i * noutputs + k]: exactly mb_portable_predict_rows's outputs for
** X's rows (X has the form's nfeatures columns). */
void mb_trees_plan_predict_rows(const mb_trees_plan *c, const mb_matrix *X, double *out);
/* Whether c takes the vector walk for batches (AVX-512, one output per
** tree, depth <= 6; MOONBENCH_TREES_SIMD=0 when it is made turns it off):
** for tests, which compare both walks. */
int mb_trees_plan_vector(const mb_trees_plan *c);
/* The depth of the ensemble's deepest tree (a leaf is 0), or -1 when a
** tree is deeper than max_depth (shared with the C export, export_c.c). */
int mb_trees_depth(const mb_tree_form *t, int max_depth);
/* Tree tr padded to a complete binary tree of depth `depth` (at least its
** own): at[pos], pos in level order (the 2^depth - 1 inner positions, then
** the 2^depth leaves; the children of pos are 2 pos + 1 and 2 pos + 2), is
** the form's node there. A leaf above depth `depth` fills every position
** below it: an inner position holding a leaf leads both ways to it. */
void mb_trees_pad(const mb_tree_form *t, size_t tr, size_t depth, int32_t *at);

#endif

/* {====== as named arrays ======}
** A portable form as named typed arrays (an mb_state, plugin.h), the way
** the bundle stores it in /model/portable, and back. mb_portable_from_state
** points the form into the state's arrays: keep the state alive while the
** form is used. */
const char *mb_form_name(mb_form_kind k);
mb_status mb_portable_to_state(const mb_portable *p, mb_state *s, mb_error *err);
mb_status mb_portable_from_state(mb_form_kind kind, mb_state *s, mb_portable *p,
                                 mb_mlp_layer **layers, mb_error *err);
