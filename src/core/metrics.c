/*
** metrics.c: evaluation metrics (see metrics.h).
*/
#include "metrics.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mb.h"
#include "stats.h"

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
** given +0's key (they compare equal). flip (0 or ~0) inverts the key for
** decreasing order. */
static inline uint32_t sort_key(float s, uint32_t flip)
{
    return mb_float_key(s == 0.0f ? 0.0f : s) ^ flip;
}

/* Below this many rows an insertion sort beats the radix passes. */
#define SMALL_SORT 32
/* Three passes of 11, 11 and 10 bits of the key. */
#define RADIX_BITS 11
#define RADIX (1u << RADIX_BITS)

void mb_scored_sort(mb_scored *v, size_t n, int desc)
{
    uint32_t flip = desc ? ~0u : 0;
    if (n < 2)
        return;
    if (n <= SMALL_SORT) {
        for (size_t i = 1; i < n; i++) {
            mb_scored x = v[i];
            uint32_t kx = sort_key(x.s, flip);
            size_t j = i;
            for (; j > 0 && sort_key(v[j - 1].s, flip) > kx; j--)
                v[j] = v[j - 1];
            v[j] = x;
        }
        return;
    }
    /* LSD radix: stable, so rows with equal keys keep their order, which
    ** is what a stable comparison sort gives. */
    size_t *count = mb_calloc(3 * RADIX, sizeof *count);
    for (size_t i = 0; i < n; i++) {
        uint32_t k = sort_key(v[i].s, flip);
        count[k & (RADIX - 1)]++;
        count[RADIX + ((k >> RADIX_BITS) & (RADIX - 1))]++;
        count[2 * RADIX + (k >> 2 * RADIX_BITS)]++;
    }
    mb_scored *tmp = mb_malloc(n * sizeof *tmp), *src = v, *dst = tmp;
    uint32_t k0 = sort_key(v[0].s, flip);
    for (int d = 0; d < 3; d++) {
        size_t *c = count + (size_t)d * RADIX;
        int shift = d * RADIX_BITS;
        /* every key has these bits: the pass would move nothing */
        if (c[(k0 >> shift) & (RADIX - 1)] == n)
            continue;
        for (size_t b = 0, sum = 0; b < RADIX; b++) {
            size_t here = c[b];
            c[b] = sum;
            sum += here;
        }
        for (size_t i = 0; i < n; i++)
            dst[c[(sort_key(src[i].s, flip) >> shift) & (RADIX - 1)]++] = src[i];
        mb_scored *t = src;
        src = dst;
        dst = t;
    }
    if (src != v)
        memcpy(v, src, n * sizeof *v);
    mb_free(tmp);
    mb_free(count);
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
