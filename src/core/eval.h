/*
** eval.h: everything about judging models that is not a single metric:
** data splits, cross-validation folds, classification and regression
** reports, curves for plotting, and the corrected resampled t-test used to
** compare pipelines on the same folds. Single metrics are in metrics.h.
**
** Labels are class indices (as floats) 0..k-1 or regression values; scores
** are probabilities (rows x k, binary: the 2-column form).
*/
#ifndef MB_EVAL_H
#define MB_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include "mb.h"

/* {====== splits ======}
** All splits are deterministic for a seed (a documented PRNG, not rand()).
** Row indices are returned sorted ascending within each part. */

/* Train/test split: test_size is a fraction in (0, 1) or, when >= 1, a row
** count. With strata (class index per row, or NULL) the split is
** stratified: each class keeps its proportion (at least one test row per
** class that has two or more rows). The fraction gives ceil(test_size * n)
** test rows, as scikit-learn. Strata are any float values but NaN; the
** stratified split also keeps a train row per class of two or more rows
** and fails (MB_EARG) when the test or train part is too small for that.
** *train and *test are mb_malloc'd (release with mb_free); on failure they
** are NULL. The PRNG is xoshiro256** seeded by splitmix64 (see eval.c). */
mb_status mb_split_train_test(size_t n, double test_size, const float *strata, uint64_t seed,
                              size_t **train, size_t *ntrain, size_t **test, size_t *ntest,
                              mb_error *err);

/* K folds: fold[i] in 0..k-1 for each row. shuffle=0 keeps row order
** (contiguous folds, as scikit-learn's KFold); strata gives stratified
** folds; groups (a group id per row, or NULL) keeps each group in one fold
** (GroupKFold: groups assigned greedily, largest first, to the smallest
** fold). k must be in [2, n] (and at most the number of groups); strata
** and groups together are refused (MB_EARG). Without shuffle the folds
** equal scikit-learn's KFold, StratifiedKFold and (for groups of distinct
** sizes) GroupKFold; shuffle also randomises the order of equal groups. */
mb_status mb_kfold(size_t n, size_t k, int shuffle, const float *strata, const int64_t *groups,
                   uint64_t seed, int32_t *fold, mb_error *err);

/* {====== classification ======} */

typedef struct mb_class_report {
    size_t k, n;
    double accuracy, balanced_accuracy;
    double precision_macro, recall_macro, f1_macro;
    double precision_weighted, recall_weighted, f1_weighted;
    double *precision, *recall, *f1;   /* per class (k) */
    size_t *support;                   /* per class (k) */
    size_t *confusion;                 /* k x k: row = true class, column = predicted */
    double roc_auc;                    /* binary; multiclass: one-vs-rest macro average */
    double pr_auc;                     /* average precision (binary; multiclass: OvR macro) */
    double log_loss, brier;            /* brier: binary, mean (p1 - y)^2; multiclass: mean sum_k (p_k - y_k)^2 */
} mb_class_report;

/* y: true classes, pred: predicted classes, proba: rows x k or NULL (then
** AUCs, log-loss and Brier are NaN). Undefined ratios (no predicted rows of
** a class) are 0, as scikit-learn's zero_division=0. Macro averages run
** over the classes present in y or pred, balanced accuracy over those in
** y (scikit-learn without labels=); the OvR AUC averages the classes with
** positive and negative rows, average precision those with positive rows.
** Labels must be whole numbers in [0, k), k >= 2, proba free of NaN; on
** failure r is left empty (freeing it is harmless). */
mb_status mb_class_report_compute(const float *y, const float *pred, const float *proba, size_t n,
                                  size_t k, mb_class_report *r, mb_error *err);
void mb_class_report_free(mb_class_report *r);

/* {====== regression ======}
** n = 0 gives NaN everywhere; constant y gives r2 NaN (mb_r2). */

typedef struct mb_reg_report {
    size_t n;
    double rmse, mae, r2, mape;        /* mape: mean |e| / max(|y|, eps), as scikit-learn */
} mb_reg_report;

void mb_reg_report_compute(const float *y, const float *pred, size_t n, mb_reg_report *r);

/* {====== curves ======}
** Points for plotting, for the positive class of binary scores: y must be
** 0 or 1 and scores not NaN. ROC: one point per distinct score, from
** (0, 0) at threshold +inf (roc_curve, drop_intermediate=False); needs
** both classes. PR: recall decreasing, ending at recall 0, precision 1 with
** threshold +inf (precision_recall_curve); needs a positive row. Curves are
** mb_malloc'd; release them with mb_curve_free. */
typedef struct mb_curve {
    size_t n;
    double *x, *y, *threshold;         /* ROC: fpr, tpr; PR: recall, precision */
} mb_curve;

mb_status mb_roc_curve(const float *y, const float *score, size_t n, mb_curve *c, mb_error *err);
mb_status mb_pr_curve(const float *y, const float *score, size_t n, mb_curve *c, mb_error *err);
/* Calibration: nbins equal-width bins of predicted probability; per bin
** the mean prediction (x), the fraction of positives (y) and the count
** (threshold holds counts). Empty bins are left out. As scikit-learn's
** calibration_curve(strategy='uniform'): edges j / nbins, a score on an
** interior edge falls in the lower bin. nbins >= 1; scores in [0, 1]. */
mb_status mb_calibration(const float *y, const float *score, size_t n, size_t nbins, mb_curve *c,
                         mb_error *err);
void mb_curve_free(mb_curve *c);

/* {====== comparing pipelines ======}
** The corrected resampled t-test (Nadeau and Bengio 2003, as Weka's
** Experimenter uses) on paired per-fold scores a[i], b[i] of r folds
** (repetitions x k): t = mean(d) / sqrt((1/r + n_test/n_train) var(d)),
** r - 1 degrees of freedom. Returns the two-sided p-value (NaN when all
** differences are equal or r < 2; *t is then NaN). t may be NULL. */
double mb_corrected_ttest(const double *a, const double *b, size_t r, double test_train_ratio, double *t);
/* Student's t distribution: P(|T| > |t|) with df degrees of freedom (any
** df > 0), through the regularised incomplete beta function; NaN for NaN t
** or df <= 0. */
double mb_student_t_2sided(double t, double df);

#endif
