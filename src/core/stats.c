/*
** stats.c: column summaries (count, missing, mean, std, min, quartiles,
** max; or counts of categorical levels), as `moonbench inspect` and
** frame:describe() show them (see stats.h).
**
** DESIGN
** ------
** The figures follow pandas' DataFrame.describe(), except that moments are
** always taken in double precision (pandas keeps float32 columns in
** float32), so they match pandas run on the column converted to float64.
**
** A numeric column is read once, through its stride: NaN values are
** counted as missing, the others are copied to a contiguous float scratch
** array while the sum (compensated, so the mean is good to about an ulp),
** min, max and the number of infinities are kept. The sample standard
** deviation (ddof = 1) then comes from a second pass over the scratch
** array, using the corrected two-pass formula (Chan, Golub & LeVeque):
** var = (sum d^2 - (sum d)^2 / n) / (n - 1) with d = x - mean, which stays
** accurate when the mean is large against the spread. With an infinity
** present the mean is whatever IEEE arithmetic makes of the sum (+-inf, or
** NaN for +inf and -inf) and the deviation from it is NaN, so std is NaN,
** as in pandas.
**
** Quartiles use numpy's default ("linear") rule: position p * (n - 1)
** between the order statistics, interpolated with numpy's _lerp so finite
** results are identical to numpy.percentile on float64. The order
** statistics come from Floyd & Rivest's selection (O(n) on average,
** falling back to qsort of the remaining range when the partitions keep
** coming out lopsided), never a full sort: a quartile needs at most two
** neighbouring order statistics, and each selection works only on the
** part of the array between those already found.
**
** One deliberate difference from numpy: when an order statistic is
** infinite, numpy's arithmetic turns the quantile into NaN even where it
** is well defined (inf * 0, inf - inf). Here the quantile at an integral
** position is the order statistic itself, and between a finite and an
** infinite neighbour it is the infinite one (NaN only between -inf and
** +inf).
**
** A categorical column is counted per level in one pass over its codes.
*/
#include "stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* {====== order statistics ======} */

static void swapf(float *a, ptrdiff_t i, ptrdiff_t j)
{
    float t = a[i];
    a[i] = a[j];
    a[j] = t;
}

static int cmp_float(const void *pa, const void *pb)
{
    float a = *(const float *)pa, b = *(const float *)pb;
    return (a > b) - (a < b);
}

/* Rearrange a[l..r] (inclusive) so that a[k] holds the value a sorted
** a[l..r] would hold there, nothing greater before it and nothing smaller
** after it. The values contain no NaN, so < is a total preorder.
**
** This is Floyd & Rivest's SELECT (CACM 18(3), 1975): before partitioning
** a large range it selects k within a window around the place rank k is
** expected to hold in a random sample of size n^(2/3), so the pivot lands
** next to rank k and one partition discards almost all the range; that
** takes ~1.5 n comparisons for a median against ~2.75 n for quickselect.
** The partition stops on values equal to the pivot, so long runs of equal
** values still split evenly. If the ranges keep shrinking slowly (crafted
** input), the rest is sorted instead, as introselect does. */
static void select_kth(float *a, ptrdiff_t l, ptrdiff_t r, ptrdiff_t k)
{
    int budget = 8;
    for (ptrdiff_t n = r - l + 1; n > 1; n >>= 1)
        budget += 2;
    while (l < r) {
        if (budget-- == 0) {
            qsort(a + l, (size_t)(r - l + 1), sizeof *a, cmp_float);
            return;
        }
        if (r - l > 600) {
            double n = (double)(r - l + 1), i = (double)(k - l + 1);
            double z = log(n), s = 0.5 * exp(2.0 * z / 3.0);
            double sign = i < n / 2 ? -1.0 : i > n / 2 ? 1.0 : 0.0;
            double sd = 0.5 * sqrt(z * s * (n - s) / n) * sign;
            ptrdiff_t wl = (ptrdiff_t)fmax((double)l, floor((double)k - i * s / n + sd));
            ptrdiff_t wr = (ptrdiff_t)fmin((double)r, floor((double)k + (n - i) * s / n + sd));
            select_kth(a, wl, wr, k);
        }
        /* Partition a[l..r] around t = a[k], with a[l] <= t <= a[r] as
        ** sentinels for the scans; t ends at j. */
        float t = a[k];
        ptrdiff_t i = l, j = r;
        swapf(a, l, k);
        if (a[r] > t)
            swapf(a, r, l);
        while (i < j) {
            swapf(a, i, j);
            i++;
            j--;
            while (a[i] < t)
                i++;
            while (a[j] > t)
                j--;
        }
        if (a[l] == t) {
            swapf(a, l, j);
        } else {
            j++;
            swapf(a, j, r);
        }
        /* Now a[l..j) <= t = a[j] <= a(j..r]. */
        if (j <= k)
            l = j + 1;
        if (k <= j)
            r = j - 1;
    }
}

/* The positions of a[0..n) already holding their order statistic. Between
** two neighbouring ones (or an end of the array) lie exactly the values of
** the ranks in between, so the next selection need only look there. */
typedef struct picks {
    size_t n;
    size_t at[6]; /* two neighbours for each of the three quartiles */
} picks;

/* Order statistic k of the n values in a (k < n). */
static double order_stat(float *a, size_t n, size_t k, picks *p)
{
    size_t l = 0, r = n - 1;
    for (size_t i = 0; i < p->n; i++) {
        size_t at = p->at[i];
        if (at == k)
            return (double)a[k];
        if (at < k && at + 1 > l)
            l = at + 1;
        if (at > k && at - 1 < r)
            r = at - 1;
    }
    if (k == l || k == r) {
        /* An end of the range: its minimum or maximum, found by a scan. */
        size_t m = k;
        for (size_t i = l; i <= r; i++)
            if (k == l ? a[i] < a[m] : a[i] > a[m])
                m = i;
        swapf(a, (ptrdiff_t)k, (ptrdiff_t)m);
    } else {
        select_kth(a, (ptrdiff_t)l, (ptrdiff_t)r, (ptrdiff_t)k);
    }
    mb_assert(p->n < sizeof p->at / sizeof p->at[0]);
    p->at[p->n++] = k;
    return (double)a[k];
}

/* numpy's _lerp: a + (b - a) t, or b - (b - a)(1 - t) from t = 0.5 on,
** which keeps the result exact at both ends. Infinite ends are handled
** as the DESIGN note says. */
static double lerp(double a, double b, double t)
{
    if (t == 0.0 || a == b)
        return a;
    if (isinf(a) || isinf(b)) {
        if (isinf(a) && isinf(b))
            return (double)NAN; /* -inf to +inf: no defined value between */
        return isinf(a) ? a : b;
    }
    double d = b - a;
    return t < 0.5 ? a + d * t : b - d * (1.0 - t);
}

/* Quantile p of the n values in a (n >= 1), linear interpolation. */
static double quantile(float *a, size_t n, double p, picks *pk)
{
    double pos = p * (double)(n - 1);
    size_t lo = (size_t)pos; /* floor: pos >= 0 */
    double t = pos - (double)lo;
    double x = order_stat(a, n, lo, pk);
    if (t == 0.0 || lo + 1 >= n)
        return x;
    return lerp(x, order_stat(a, n, lo + 1, pk), t);
}

/* }====== */

/* {====== numeric and categorical summaries ======} */

static mb_status num_stats(const mb_frame *f, const mb_column *c, mb_colstats *s, mb_error *err)
{
    size_t nrows = f->nrows, n = 0, ninf = 0, bytes;
    mb_assert(c->num || nrows == 0);
    if (nrows == 0)
        return MB_OK;
    float *a = NULL;
    if (mb_mul_ok(nrows, sizeof *a, &bytes))
        a = mb_trymalloc(bytes);
    if (!a)
        return mb_fail(err, MB_ENOMEM, "no memory to summarise column '%s' (%zu rows)", c->name,
                       nrows);

    /* Pass 1, strided: gather the non-NaN values; sum (Neumaier's
    ** compensated summation: sum + comp carries the rounding errors), min,
    ** max, infinities. */
    double sum = 0.0, comp = 0.0;
    float lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < nrows; i++) {
        float v = MB_NUM(c, i);
        if (isnan(v))
            continue;
        a[n++] = v;
        double x = (double)v, t = sum + x;
        comp += fabs(sum) >= fabs(x) ? (sum - t) + x : (x - t) + sum;
        sum = t;
        if (v < lo)
            lo = v;
        if (v > hi)
            hi = v;
        if (isinf(v))
            ninf++;
    }
    s->count = n;
    s->missing = nrows - n;
    s->ninf = ninf;
    if (n == 0)
        goto exit;
    s->min = (double)lo;
    s->max = (double)hi;

    /* Pass 2, contiguous: corrected two-pass mean and variance. The sums
    ** are taken in blocks, which bounds their rounding error by about
    ** (BLOCK + n / BLOCK) ulps instead of n. */
    enum { BLOCK = 1024 };
    double mean = ninf == 0 ? (sum + comp) / (double)n : sum / (double)n;
    if (ninf == 0) {
        double s1 = 0.0, s2 = 0.0;
        for (size_t i0 = 0; i0 < n; i0 += BLOCK) {
            size_t i1 = n - i0 < BLOCK ? n : i0 + BLOCK;
            double b1 = 0.0, b2 = 0.0;
            for (size_t i = i0; i < i1; i++) {
                double d = (double)a[i] - mean;
                b1 += d;
                b2 += d * d;
            }
            s1 += b1;
            s2 += b2;
        }
        if (n >= 2) {
            double var = (s2 - s1 * s1 / (double)n) / (double)(n - 1);
            s->std = sqrt(var > 0.0 ? var : 0.0);
        }
    } /* else the mean is +-inf or NaN and every deviation from it NaN */
    s->mean = mean;

    /* The median first, over everything; then each outer quartile needs
    ** only the half on its side. */
    picks pk = {0};
    s->q50 = quantile(a, n, 0.50, &pk);
    s->q25 = quantile(a, n, 0.25, &pk);
    s->q75 = quantile(a, n, 0.75, &pk);
exit:
    mb_free(a);
    return MB_OK;
}

static mb_status cat_stats(const mb_frame *f, const mb_column *c, mb_colstats *s, mb_error *err)
{
    size_t nrows = f->nrows, nlev = c->nlevels;
    mb_assert(c->codes || nrows == 0);
    size_t *counts = mb_trycalloc(nlev, sizeof *counts);
    if (!counts)
        return mb_fail(err, MB_ENOMEM, "no memory to summarise column '%s' (%zu levels)", c->name,
                       nlev);
    mb_status rc = MB_OK;
    for (size_t i = 0; i < nrows; i++) {
        int32_t code = c->codes[i];
        if (code == -1) {
            s->missing++;
        } else if (code < 0 || (size_t)code >= nlev) {
            rc = mb_fail(err, MB_EFORMAT, "column '%s': row %zu has code %ld but only %zu levels",
                         c->name, i, (long)code, nlev);
            goto exit;
        } else {
            counts[code]++;
        }
    }
    s->count = nrows - s->missing;

    /* Keep the MB_STATS_TOP largest counts by insertion; scanning codes in
    ** increasing order and moving only past strictly smaller counts puts
    ** the lower code first among equal counts. */
    for (size_t k = 0; k < nlev; k++) {
        size_t cnt = counts[k];
        if (cnt == 0)
            continue;
        s->distinct++;
        size_t j = s->ntop < MB_STATS_TOP ? s->ntop++ : MB_STATS_TOP;
        while (j > 0 && s->top[j - 1].count < cnt) {
            if (j < MB_STATS_TOP)
                s->top[j] = s->top[j - 1];
            j--;
        }
        if (j < MB_STATS_TOP) {
            s->top[j].code = (int32_t)k;
            s->top[j].count = cnt;
        }
    }
exit:
    mb_free(counts);
    return rc;
}

/* The summary of a column with no values: counts zero, numbers NaN. */
static void stats_empty(mb_colstats *s)
{
    *s = (mb_colstats){0};
    s->mean = s->std = (double)NAN;
    s->min = s->q25 = s->q50 = s->q75 = s->max = (double)NAN;
}

mb_status mb_colstats_compute(const mb_frame *f, const mb_column *c, mb_colstats *out,
                              mb_error *err)
{
    mb_assert(f && c && out);
    mb_colstats s;
    mb_status rc;
    stats_empty(&s);
    if (c->type == MB_COL_NUM)
        rc = num_stats(f, c, &s, err);
    else if (c->type == MB_COL_CAT)
        rc = cat_stats(f, c, &s, err);
    else
        rc = mb_fail(err, MB_ETYPE, "column '%s' has unknown type %d", c->name, (int)c->type);
    if (rc != MB_OK)
        stats_empty(&s); /* no partial summaries */
    *out = s;
    return rc;
}

/* }====== */

/* {====== sorting floats ======} */

/* mb_float_key (stats.h) undone. */
static float key_float(uint32_t k)
{
    uint32_t u = (k & 0x80000000u) ? (k & 0x7fffffffu) : ~k;
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

void mb_sort_floats(float *a, uint32_t *scratch, size_t n)
{
    uint32_t *k = scratch, *t = scratch + n;
    for (size_t i = 0; i < n; i++)
        k[i] = mb_float_key(a[i]);
    for (int shift = 0; shift < 32; shift += 8) {
        size_t cnt[257] = {0};
        for (size_t i = 0; i < n; i++)
            cnt[((k[i] >> shift) & 255u) + 1]++;
        if (n && cnt[((k[0] >> shift) & 255u) + 1] == n)
            continue; /* one byte value throughout (the exponent byte, often) */
        for (int b = 0; b < 256; b++)
            cnt[b + 1] += cnt[b];
        for (size_t i = 0; i < n; i++)
            t[cnt[(k[i] >> shift) & 255u]++] = k[i];
        uint32_t *sw = k;
        k = t;
        t = sw;
    }
    for (size_t i = 0; i < n; i++)
        a[i] = key_float(k[i]);
}
