/*
** fairness.h: a model's metrics by group and the disparities between
** groups, as fairlearn's MetricFrame and its demographic parity and
** equalized odds functions define them, with bootstrap confidence
** intervals (docs/governance.md). Also the bootstrap intervals of a whole
** report's metrics, for model cards.
**
** Groups are the rows' values of one or several columns (several: their
** intersection, as MetricFrame with several sensitive features): a
** categorical column, or a numeric one with at most MB_FAIR_MAX_LEVELS
** distinct values. A missing value is a group of its own, "(missing)".
** Groups are ordered as pandas' groupby orders them (by each column's
** value, the first column first); only groups with rows are reported.
**
** Per group:
**   binary      count, selection rate (share predicted class 1), accuracy,
**               TPR, FPR, precision, ROC AUC (from the scores, when given);
**               an undefined rate (no positive rows for TPR, ...) is 0, as
**               scikit-learn's confusion_matrix(normalize="true") and
**               zero_division=0 give it; an undefined AUC is NaN.
**   multiclass  count, accuracy, and per class the selection rate (share
**               of the group's rows predicted as that class).
**   regression  count, MAE, RMSE, mean error (prediction - label).
** Between groups (difference = max - min over groups, ratio = min / max,
** NaN when max is 0):
**   binary      demographic_parity_difference/_ratio (selection rate),
**               equalized_odds_difference (the larger of the TPR and FPR
**               differences) and _ratio (the smaller of the two ratios),
**               accuracy_difference
**   multiclass  accuracy_difference, accuracy_ratio, and
**               demographic_parity_difference: the largest, over the
**               classes, of the difference of that class's selection rate
**   regression  mae_difference, rmse_difference, mean_error_difference
**
** Confidence intervals: B bootstrap replicates resample the rows with
** replacement (xoshiro256** seeded by splitmix64, the generator of
** eval.c); each replicate recomputes the groups it holds and the
** disparities over those (a group absent from a replicate is left out of
** it; a replicate with fewer than two groups gives no value); the interval
** is the percentile interval (numpy's linear interpolation) of the values.
*/
#ifndef MB_FAIRNESS_H
#define MB_FAIRNESS_H

#include <stddef.h>
#include <stdint.h>

#include "bundle.h"
#include "eval.h"
#include "frame.h"
#include "mb.h"

/* Most distinct values a numeric group column may have. */
#define MB_FAIR_MAX_LEVELS 50
/* Most groups (of the intersection) a report may have. */
#define MB_FAIR_MAX_GROUPS 1000

/* The group of every row of f by the columns cols: code[i] in
** 0..*ngroups-1, *labels the groups' names ("a" for one column, "a, x" for
** two), *values[g * ncols + c] the value of column c. Groups without rows
** are not numbered. MB_ENOTFOUND naming a missing column (and the
** columns there are); MB_EARG for a numeric column with too many distinct
** values, or too many groups. Everything allocated with mb_malloc; free
** with mb_fair_groups_free. */
typedef struct mb_fair_groups {
    size_t n, ngroups, ncols;
    int32_t *code;
    char **labels;                /* ngroups */
    char **values;                /* ngroups x ncols */
    char **cols;                  /* ncols */
} mb_fair_groups;

mb_status mb_fair_groups_make(const mb_frame *f, const char *const *cols, size_t ncols, mb_fair_groups *g,
                              mb_error *err);
void mb_fair_groups_free(mb_fair_groups *g);

/* A point estimate and its bootstrap interval (lo, hi NaN without one). */
typedef struct mb_fair_value {
    const char *name;             /* static */
    double value, lo, hi;
} mb_fair_value;

typedef struct mb_fair_group {
    size_t n;
    double selection_rate, accuracy, tpr, fpr, precision, auc; /* binary (accuracy also multiclass) */
    double *class_rate;           /* multiclass: k */
    double mae, rmse, mean_error; /* regression */
} mb_fair_group;

typedef struct mb_fair_opts {
    size_t boot;                  /* replicates; 0: no intervals */
    uint64_t seed;
    double level;                 /* e.g. 0.95 */
} mb_fair_opts;

#define MB_FAIR_MAX_DISPARITIES 6

typedef struct mb_fairness {
    mb_task task;
    size_t k;                     /* classes (0 for regression) */
    size_t n, ngroups;
    mb_fair_group *groups;        /* ngroups, in the order of mb_fair_groups */
    mb_fair_group overall;
    mb_fair_value disparity[MB_FAIR_MAX_DISPARITIES];
    size_t ndisparities;
    mb_fair_opts opts;
} mb_fairness;

/* y: labels (class indices 0..k-1, or values), pred: predictions (the
** same), score: binary only, P(class 1) per row or NULL. k = 0 for
** regression, 2 for binary. MB_EARG for fewer than one group, a label out
** of range, or level outside (0, 1) with boot > 0. */
mb_status mb_fairness_compute(mb_task task, size_t k, const float *y, const float *pred, const float *score,
                              const mb_fair_groups *g, const mb_fair_opts *o, mb_fairness *out, mb_error *err);
void mb_fairness_free(mb_fairness *f);

/* The scorer's predictions on f (labels from the bundle's target column
** of f, as mb_explain_labels), grouped by cols: the one call of `evaluate
** --group`, `card --group` and mb.fairness. g is filled too (the caller
** frees both). */
mb_status mb_fairness_of_scorer(mb_scorer *s, const mb_frame *f, const char *const *cols, size_t ncols,
                                const mb_fair_opts *o, mb_fair_groups *g, mb_fairness *out, mb_error *err);

/* {====== bootstrap intervals of a report ======}
** The metrics of mb_class_report_compute (accuracy, balanced_accuracy,
** f1_macro, roc_auc, log_loss) or mb_reg_report_compute (rmse, mae, r2):
** the point value on all rows and the percentile interval over o->boot
** replicates (rows resampled as above; a replicate where a metric is NaN,
** e.g. AUC with one class, is left out of that metric). out holds up to
** MB_FAIR_MAX_DISPARITIES values; *nout is set. proba: rows x k, or NULL
** (then no roc_auc and log_loss). */
mb_status mb_report_bootstrap(mb_task task, size_t k, const float *y, const float *pred, const float *proba,
                              size_t n, const mb_fair_opts *o, mb_fair_value *out, size_t *nout,
                              mb_error *err);

#endif
