/*
** metrics.c: evaluation metrics (see metrics.h).
*/
#include "metrics.h"

#include <math.h>
#include <stdlib.h>

#include "mb.h"

double mb_accuracy(const float *y, const float *pred, size_t n)
{
    size_t ok = 0;
    for (size_t i = 0; i < n; i++)
        ok += y[i] == pred[i];
    return n ? (double)ok / (double)n : (double)NAN;
}

double mb_rmse(const float *y, const float *pred, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)y[i] - (double)pred[i];
        s += d * d;
    }
    return n ? sqrt(s / (double)n) : (double)NAN;
}

double mb_r2(const float *y, const float *pred, size_t n)
{
    double mean = 0, ss = 0, sr = 0;
    for (size_t i = 0; i < n; i++)
        mean += (double)y[i];
    mean /= (double)n;
    for (size_t i = 0; i < n; i++) {
        double d = (double)y[i] - mean, r = (double)y[i] - (double)pred[i];
        ss += d * d;
        sr += r * r;
    }
    return ss > 0 ? 1 - sr / ss : (double)NAN;
}

typedef struct scored {
    float s;
    float y;
} scored;

static int cmp_scored(const void *a, const void *b)
{
    float x = ((const scored *)a)->s, z = ((const scored *)b)->s;
    return (x > z) - (x < z);
}

double mb_roc_auc(const float *y, const float *score, size_t n)
{
    scored *v = mb_malloc((n ? n : 1) * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = (scored){score[i], y[i]};
    qsort(v, n, sizeof *v, cmp_scored);
    /* Sum of the positives' ranks, tied scores sharing their mean rank. */
    double rank_sum = 0;
    size_t npos = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && v[j].s == v[i].s)
            j++;
        double mean_rank = ((double)i + (double)j + 1) / 2; /* ranks i+1..j */
        for (size_t k = i; k < j; k++)
            if (v[k].y == 1) {
                rank_sum += mean_rank;
                npos++;
            }
        i = j;
    }
    mb_free(v);
    size_t nneg = n - npos;
    if (!npos || !nneg)
        return (double)NAN;
    return (rank_sum - (double)npos * ((double)npos + 1) / 2) / ((double)npos * (double)nneg);
}

double mb_log_loss(const float *y, const float *proba, size_t n, size_t k)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        double p = proba[i * k + (size_t)y[i]];
        p = p < 1e-15 ? 1e-15 : p > 1 - 1e-15 ? 1 - 1e-15 : p;
        s -= log(p);
    }
    return n ? s / (double)n : (double)NAN;
}
