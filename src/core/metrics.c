/*
** metrics.c: evaluation metrics (see metrics.h).
*/
#include "metrics.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

/* {====== sorting scores ======} */

/* A float's bits as an unsigned key in the float order: the sign bit set
** for a positive number, all bits inverted for a negative one; -0 is
** given +0's key (they compare equal). Decreasing order inverts the key. */
static uint32_t sort_key(float s, int desc)
{
    uint32_t b;
    memcpy(&b, &s, sizeof b);
    if (b == 0x80000000u)
        b = 0;
    b = b & 0x80000000u ? ~b : b | 0x80000000u;
    return desc ? ~b : b;
}

/* Below this many rows an insertion sort beats the radix passes. */
#define SMALL_SORT 32

void mb_scored_sort(mb_scored *v, size_t n, int desc)
{
    if (n < 2)
        return;
    if (n <= SMALL_SORT) {
        for (size_t i = 1; i < n; i++) {
            mb_scored x = v[i];
            uint32_t kx = sort_key(x.s, desc);
            size_t j = i;
            for (; j > 0 && sort_key(v[j - 1].s, desc) > kx; j--)
                v[j] = v[j - 1];
            v[j] = x;
        }
        return;
    }
    /* LSD radix, a byte a pass: stable, so rows with equal keys keep their
    ** order, which is what a stable comparison sort gives. */
    size_t count[4][256];
    memset(count, 0, sizeof count);
    for (size_t i = 0; i < n; i++) {
        uint32_t k = sort_key(v[i].s, desc);
        for (int d = 0; d < 4; d++)
            count[d][(k >> (8 * d)) & 255]++;
    }
    mb_scored *tmp = mb_malloc(n * sizeof *tmp), *src = v, *dst = tmp;
    uint32_t k0 = sort_key(v[0].s, desc);
    for (int d = 0; d < 4; d++) {
        /* every key has this byte: the pass would move nothing */
        if (count[d][(k0 >> (8 * d)) & 255] == n)
            continue;
        size_t at[256], sum = 0;
        for (int b = 0; b < 256; b++) {
            at[b] = sum;
            sum += count[d][b];
        }
        for (size_t i = 0; i < n; i++)
            dst[at[(sort_key(src[i].s, desc) >> (8 * d)) & 255]++] = src[i];
        mb_scored *t = src;
        src = dst;
        dst = t;
    }
    if (src != v)
        memcpy(v, src, n * sizeof *v);
    mb_free(tmp);
}

/* }====== */

double mb_roc_auc(const float *y, const float *score, size_t n)
{
    mb_scored *v = mb_malloc((n ? n : 1) * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = (mb_scored){score[i], y[i]};
    mb_scored_sort(v, n, 0);
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
