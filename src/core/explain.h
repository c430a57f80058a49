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
#include "bundle.h"
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


/* {====== a bundle's explanation ======}
** SHAP of a scorer's model (mb_scorer_open) on a raw frame: the pipeline
** is applied as the scorer applies it, SHAP is computed on the model's
** features (TreeSHAP for a tree form, linear SHAP against /monitoring's
** means for a linear form), then mapped back to the bundle's input columns
** through each step's plan (transform.h): a feature made from one column
** (copy, standardize, minmax, impute, log1p, clip, ordinal, a one-hot
** level, a missing indicator) gives its whole contribution to that column,
** so one-hot levels sum back to their column; a poly2 product gives half
** to each of its two columns (a square all to its one). A model without a
** pipeline reports its features. Lua steps are refused (MB_EARG). */
typedef struct mb_explanation {
    size_t rows, noutputs;
    size_t ncols;                 /* reported columns */
    char **cols;                  /* their names (owned) */
    double *phi;                  /* rows x noutputs x (ncols + 1), the layout above */
    const char *method;           /* "treeshap" or "linear" (static) */
    int mapped;                   /* 1: model features were mapped back to input columns */
    mb_link link;                 /* the form's link: what the raw margin is */
} mb_explanation;

mb_status mb_explain_frame(const mb_scorer *s, const mb_frame *f, int nthreads, mb_explanation *out,
                           mb_error *err);
void mb_explanation_free(mb_explanation *e);

/* The model's feature matrix of a raw frame (the pipeline applied as the
** scorer applies it; Lua steps through s->lua_apply when set); *owned is
** freed by the caller with mb_free. */
mb_status mb_explain_matrix(const mb_scorer *s, const mb_frame *f, mb_matrix *X, float **owned, mb_error *err);
/* The frame's target as the bundle's labels: class indices matched by the
** class names (a number matched by its %g text), or regression values.
** MB_ENOTFOUND without the bundle's target column; MB_EARG naming the first
** row whose label is missing or none of the model's classes. */
mb_status mb_explain_labels(const mb_bundle *b, const mb_frame *f, float **y, mb_error *err);

/* {====== partial dependence and ICE ======}
** As scikit-learn's partial_dependence (method "brute"): for one or two
** input columns of a raw frame, the model is scored on copies of the frame
** with the column(s) set to each grid point (the pipeline applied, so any
** model works), in the input feature space. The grid of a numeric column
** is its distinct values when there are fewer than grid_resolution of
** them, else grid_resolution evenly spaced points between its lo and hi
** quantiles (scipy's mquantiles, alphap = betap = 0.4, as scikit-learn);
** missing values are left out of the grid. A categorical column's grid is
** its levels that occur, in text order. Two columns: the cartesian
** product, the first column varying slowest. The response is the
** predicted value (regression), the probability of class 1 (binary) or
** of each class (multiclass). */
typedef struct mb_pdp_opts {
    size_t grid_resolution;       /* > 1 (scikit-learn's default 100) */
    double lo, hi;                /* quantiles, 0 <= lo < hi <= 1 (0.05, 0.95) */
    int individual;               /* also the ICE curves */
} mb_pdp_opts;

typedef struct mb_pdp {
    size_t ncols;                 /* 1 or 2 */
    char *cols[2];                /* the columns (owned) */
    size_t ngrid[2];              /* grid points per column */
    double *grid[2];              /* numeric: the values; categorical: level codes */
    char **levels[2];             /* categorical: the level of each grid point (owned), else NULL */
    size_t npoints;               /* ngrid[0] * ngrid[1] (ngrid[1] = 1 for one column) */
    size_t noutputs;              /* 1, or the classes of a multiclass model */
    size_t rows;
    double *average;              /* [k * npoints + g] */
    double *individual;           /* [(k * rows + i) * npoints + g], or NULL */
} mb_pdp;

mb_status mb_partial_dependence(mb_scorer *s, const mb_frame *f, const char *const *cols, size_t ncols,
                                const mb_pdp_opts *o, mb_pdp *out, mb_error *err);
void mb_pdp_free(mb_pdp *p);

#endif
