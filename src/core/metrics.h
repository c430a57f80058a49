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
** copy (mb_scored_sort): O(n). */
double mb_roc_auc(const float *y, const float *score, size_t n);
/* A score and its row's label: what the ranking metrics sort. */
typedef struct mb_scored {
    float s;
    float y;
} mb_scored;
/* Sort v by s, increasing (desc: decreasing), stably: rows with equal
** scores (-0 equals +0) keep their order, so the result is exactly a
** stable comparison sort's (qsort's merge sort with a < / > comparator).
** O(n): radix passes over the float bits (insertion for a few rows),
** with n entries of scratch. A NaN sorts after +inf (one with its sign
** bit set before -inf); a comparison sort has no order for NaN at all. */
void mb_scored_sort(mb_scored *v, size_t n, int desc);
/* Mean negative log-likelihood of k-class probabilities (rows x k), with
** probabilities clipped to [1e-15, 1 - 1e-15] as scikit-learn does. */
double mb_log_loss(const float *y, const float *proba, size_t n, size_t k);

#endif
