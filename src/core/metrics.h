/*
** metrics.h: evaluation metrics, in double precision. Labels are class
** indices (as floats) or regression values; scores are probabilities.
*/
#ifndef MB_METRICS_H
#define MB_METRICS_H

#include <stddef.h>

/* Fraction of rows where pred == y. */
double mb_accuracy(const float *y, const float *pred, size_t n);
/* Root mean squared error and R^2 of regression predictions. */
double mb_rmse(const float *y, const float *pred, size_t n);
double mb_r2(const float *y, const float *pred, size_t n);
/* Area under the ROC curve of scores for the positive class (y == 1),
** ties counted half (Mann-Whitney); NaN when one class is absent. Sorts a
** copy: O(n log n). */
double mb_roc_auc(const float *y, const float *score, size_t n);
/* Mean negative log-likelihood of k-class probabilities (rows x k), with
** probabilities clipped to [1e-15, 1 - 1e-15] as scikit-learn does. */
double mb_log_loss(const float *y, const float *proba, size_t n, size_t k);

#endif
