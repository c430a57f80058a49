/*
** explain.h: explanations of a model's predictions from its portable form
** (moonbench_plugin.h) or from any scorer: exact path-dependent TreeSHAP,
** exact linear SHAP, and model-agnostic permutation importance.
** docs/explain.md says what each computes; the tests check them against
** brute-force Shapley values and hand-computed cases.
**
** Output layout of the SHAP calls (XGBoost's pred_contribs): for row i and
** output k (1, or k classes for multiclass), the nfeatures + 1 values
** phi[(i * noutputs + k) * (nfeatures + 1) + j]: the contribution of
** feature j, and last the expected value, in the raw margin (before the
** link: log-odds for binary, per-class margins for softmax). For every row
** sum_j phi[j] + expected = the raw output (additivity).
**
** Thread safety: every call reads only its arguments; calls on different
** outputs may run at once. mb_treeshap starts its own worker threads.
*/
#ifndef MB_EXPLAIN_H
#define MB_EXPLAIN_H

#include "mb.h"
#include "moonbench_plugin.h"

/* Deepest tree TreeSHAP accepts (its path memory is quadratic in depth). */
#define MB_TREESHAP_MAX_DEPTH 256

/* Path-dependent TreeSHAP (Lundberg et al. 2018, Algorithm 2) of the tree
** form t for every row of X, with nthreads workers (0: the online
** processors, at most 16; never more than the rows). The conditional
** expectation of a tree given the features in S follows x at splits on S
** (NaN by the node's default direction) and otherwise averages both
** children weighted by cover[child] / cover[node] (1/2 each when the
** node's cover is not positive). Forests divide by ntrees, base_score is
** added to the expected value. MB_EFORMAT when the form has no covers or a
** tree is deeper than MB_TREESHAP_MAX_DEPTH; MB_ESHAPE for a wrong width. */
mb_status mb_treeshap(const mb_tree_form *t, const mb_matrix *X, int nthreads, double *phi, mb_error *err);

/* The cover-weighted expectation of one tree's leaves (what TreeSHAP's
** expected value sums), per output: adds to ev[0..noutputs). */
void mb_treeshap_tree_expectation(const mb_tree_form *t, size_t tree, double *ev);

/* Exact linear SHAP (features taken as independent): phi_j = coef_kj *
** (x_j - mean_j), expected value intercept_k + sum_j coef_kj * mean_j, with
** mean the training means of the features (/monitoring "mean"). Terms with
** a zero coefficient are 0 even for a NaN input, as the form scores. */
mb_status mb_linear_shap(const mb_linear_form *l, const double *mean, const mb_matrix *X, double *phi,
                         mb_error *err);

/* {====== permutation importance ======}
** As scikit-learn's permutation_importance: the baseline score of the
** model on (X, y), then for each feature j and repeat r the score with
** column j shuffled (the other columns untouched), importance[j][r] =
** baseline - permuted score. Scores are "higher is better" (for errors
** their negatives, as scikit-learn's neg_* scorers). */

typedef enum mb_pi_metric {
    MB_PI_ACCURACY = 0,           /* classification: label == y */
    MB_PI_R2 = 1,                 /* regression */
    MB_PI_NEG_RMSE = 2,           /* regression: -rmse */
    MB_PI_NEG_LOG_LOSS = 3,       /* classification, from probabilities */
    MB_PI_ROC_AUC = 4             /* binary, from the probability of class 1 */
} mb_pi_metric;

/* Name <-> metric ("accuracy", "r2", "neg_rmse", "neg_log_loss", "roc_auc");
** -1 for an unknown name. */
int mb_pi_metric_find(const char *name);
const char *mb_pi_metric_name(mb_pi_metric m);

/* Predicts X's rows: label[i] (class index or value) and, when nclasses >
** 0, proba[i * nclasses + k]. */
typedef mb_status (*mb_pi_predict_fn)(void *ud, const mb_matrix *X, float *label, float *proba,
                                      mb_error *err);

typedef struct mb_pi_opts {
    size_t repeats;               /* >= 1 */
    uint64_t seed;                /* permutations: Fisher-Yates on xoshiro256** seeded by splitmix64 */
    mb_pi_metric metric;
    size_t nclasses;              /* 0 for regression */
    /* Fixed permutations instead of seeded ones (tests): perms[r] is a
    ** permutation of 0..rows-1 used for repeat r of every feature; or NULL. */
    const size_t *const *perms;
} mb_pi_opts;

/* baseline: the unpermuted score; scores[j * repeats + r] = baseline -
** score with column j permuted; mean[j], sd[j] over repeats (population
** standard deviation, as numpy's std). Calls predict 1 + nfeatures *
** repeats times on a private copy of X. */
mb_status mb_permutation_importance(mb_pi_predict_fn predict, void *ud, const mb_matrix *X, const float *y,
                                    const mb_pi_opts *o, double *baseline, double *scores, double *mean,
                                    double *sd, mb_error *err);

#endif
