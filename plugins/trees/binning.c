/*
** binning.c: quantile bins fitted on training data, and binning a float
** matrix into uint8 codes (row-major and column-major).
**
** Edges are fitted on a sample of at most 200,000 rows (as LightGBM does).
** A feature with at most max_bins distinct values gets one bin per value,
** its edges the midpoints between neighbours, so small data sets split
** exactly where an exact tree would. Otherwise bins hold about equal
** counts of sample values, a value never straddling two bins. The last
** edge of every feature is +inf, so every non-NaN value has a bin, and
** bin(x) = the first b with x <= edge[b] (NaN: bin nb).
*/
#include <math.h>
#include <string.h>

#include "trees.h"

#define SAMPLE_ROWS 200000

/* {====== sorting floats (LSD radix on order-preserving keys) ======} */

static uint32_t float_key(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

static float key_float(uint32_t k)
{
    uint32_t u = (k & 0x80000000u) ? (k & 0x7fffffffu) : ~k;
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* Sort n keys in a, using tmp (n) as scratch; result in a. The four
** bytes' counts in one pass, and the passes go a -> tmp -> a -> tmp -> a
** (no copies back). */
static void radix_sort(uint32_t *a, uint32_t *tmp, size_t n)
{
    size_t cnt[4][257] = {{0}};
    for (size_t i = 0; i < n; i++) {
        uint32_t k = a[i];
        cnt[0][(k & 255u) + 1]++;
        cnt[1][(k >> 8 & 255u) + 1]++;
        cnt[2][(k >> 16 & 255u) + 1]++;
        cnt[3][(k >> 24) + 1]++;
    }
    uint32_t *src = a, *dst = tmp;
    for (int d = 0; d < 4; d++) {
        size_t *c = cnt[d];
        for (int b = 0; b < 256; b++)
            c[b + 1] += c[b];
        for (size_t i = 0; i < n; i++)
            dst[c[(src[i] >> (8 * d)) & 255u]++] = src[i];
        uint32_t *t = src;
        src = dst;
        dst = t;
    }
}

/* {====== fitting edges ======} */

/* An edge e with a <= e < b (the midpoint when representable). */
static float mid_edge(float a, float b)
{
    float e = (float)(((double)a + (double)b) * 0.5);
    if (!(e >= a && e < b))
        e = a;
    return e;
}

/* Edges of sorted values v[0..m) into out (at most max_bins, last +inf);
** returns their count. */
static int fit_edges(const float *v, size_t m, int max_bins, float *out)
{
    int ne = 0;
    if (m == 0) {
        out[0] = INFINITY;
        return 1;
    }
    size_t nd = 1;
    for (size_t i = 1; i < m; i++)
        nd += v[i] != v[i - 1];
    if (nd <= (size_t)max_bins) {
        for (size_t i = 1; i < m; i++)
            if (v[i] != v[i - 1])
                out[ne++] = mid_edge(v[i - 1], v[i]);
        out[ne++] = INFINITY;
        return ne;
    }
    size_t consumed = 0, acc = 0, i = 0;
    while (i < m && ne < max_bins - 1) {
        size_t j = i;
        while (j < m && v[j] == v[i])
            j++;
        acc += j - i;
        double target = (double)(m - consumed) / (double)(max_bins - ne);
        if ((double)acc >= target && j < m) {
            out[ne++] = mid_edge(v[j - 1], v[j]);
            consumed += acc;
            acc = 0;
        }
        i = j;
    }
    out[ne++] = INFINITY;
    return ne;
}

typedef struct fit_job {
    const mb_matrix *X;
    const uint32_t *rows;         /* sample rows */
    size_t nrows;
    int max_bins;
    uint32_t *keys, *tmp;         /* per thread: nrows each */
    float *vals;                  /* per thread: nrows */
    float *edges;                 /* cols x max_bins */
    int *nedges;                  /* cols */
} fit_job;

/* A thread's features (tid, tid + nt, ...) FIT_GROUP at a time: one pass
** over the sample rows reads a row's values of the group together (one
** cache line, where a pass a feature read it once for each). */
#define FIT_GROUP 4

static void fit_task(void *arg, int tid, int nt)
{
    fit_job *j = arg;
    size_t ns = j->nrows, F = j->X->cols, ld = j->X->ld;
    uint32_t *keys = j->keys + (size_t)tid * FIT_GROUP * ns, *tmp = j->tmp + (size_t)tid * ns;
    float *vals = j->vals + (size_t)tid * ns;
    for (size_t f0 = (size_t)tid; f0 < F; f0 += FIT_GROUP * (size_t)nt) {
        size_t fs[FIT_GROUP], m[FIT_GROUP] = {0}, g = 0;
        for (; g < FIT_GROUP && f0 + g * (size_t)nt < F; g++)
            fs[g] = f0 + g * (size_t)nt;
        for (size_t i = 0; i < ns; i++) {
            const float *xr = j->X->x + (size_t)j->rows[i] * ld;
            for (size_t k = 0; k < g; k++) {
                float x = xr[fs[k]];
                if (!isnan(x))
                    keys[k * ns + m[k]++] = float_key(x);
            }
        }
        for (size_t k = 0; k < g; k++) {
            uint32_t *kk = keys + k * ns;
            radix_sort(kk, tmp, m[k]);
            for (size_t i = 0; i < m[k]; i++)
                vals[i] = key_float(kk[i]);
            j->nedges[fs[k]] = fit_edges(vals, m[k], j->max_bins, j->edges + fs[k] * (size_t)j->max_bins);
        }
    }
}

int mbt_bins_fit(mbt_bins *b, const mb_host *h, const mb_matrix *X, int max_bins, uint64_t seed,
                 mbt_pool *pool, char *err)
{
    int rc = MB_PLUGIN_ENOMEM, nt = mbt_pool_size(pool);
    size_t n = X->rows, F = X->cols, ns = n < SAMPLE_ROWS ? n : SAMPLE_ROWS;
    fit_job j = {0};
    memset(b, 0, sizeof *b);
    if (max_bins < 2 || max_bins > MBT_MAX_BINS)
        max_bins = MBT_MAX_BINS;
    uint32_t *rows = mbt_alloc(h, ns * sizeof *rows);
    j.keys = mbt_alloc(h, (size_t)nt * FIT_GROUP * ns * sizeof *j.keys);
    j.tmp = mbt_alloc(h, (size_t)nt * ns * sizeof *j.tmp);
    j.vals = mbt_alloc(h, (size_t)nt * ns * sizeof *j.vals);
    j.edges = mbt_alloc(h, F * (size_t)max_bins * sizeof *j.edges);
    j.nedges = mbt_alloc(h, F * sizeof *j.nedges);
    b->offset = mbt_alloc(h, (F + 1) * sizeof *b->offset);
    if (!rows || !j.keys || !j.tmp || !j.vals || !j.edges || !j.nedges || !b->offset)
        goto exit;
    /* selection sampling (Knuth's algorithm S): an ordered uniform sample */
    if (ns == n) {
        for (size_t i = 0; i < n; i++)
            rows[i] = (uint32_t)i;
    } else {
        mbt_rng rng;
        mbt_rng_seed(&rng, seed ^ 0x62696e73ULL);
        size_t got = 0;
        for (size_t i = 0; i < n && got < ns; i++)
            if ((double)(n - i) * mbt_rng_unif(&rng) < (double)(ns - got))
                rows[got++] = (uint32_t)i;
        ns = got;
    }
    j.X = X;
    j.rows = rows;
    j.nrows = ns;
    j.max_bins = max_bins;
    mbt_pool_run(pool, fit_task, &j);
    b->nfeatures = F;
    b->offset[0] = 0;
    for (size_t f = 0; f < F; f++)
        b->offset[f + 1] = b->offset[f] + j.nedges[f];
    b->edges = mbt_alloc(h, (size_t)b->offset[F] * sizeof *b->edges);
    if (!b->edges)
        goto exit;
    for (size_t f = 0; f < F; f++)
        memcpy(b->edges + b->offset[f], j.edges + f * (size_t)max_bins,
               (size_t)j.nedges[f] * sizeof *b->edges);
    rc = MB_PLUGIN_OK;
exit:
    mbt_free(h, rows);
    mbt_free(h, j.keys);
    mbt_free(h, j.tmp);
    mbt_free(h, j.vals);
    mbt_free(h, j.edges);
    mbt_free(h, j.nedges);
    if (rc != MB_PLUGIN_OK) {
        mbt_bins_free(b, h);
        mbt_fail(err, rc, "out of memory while fitting bins");
    }
    return rc;
}

void mbt_bins_free(mbt_bins *b, const mb_host *h)
{
    mbt_free(h, b->offset);
    mbt_free(h, b->edges);
    memset(b, 0, sizeof *b);
}

/* {====== binning data ======} */

uint8_t mbt_bin_of(const mbt_bins *b, size_t f, float x)
{
    return mbt_bin_search(b->edges + b->offset[f], b->offset[f + 1] - b->offset[f], x);
}

typedef struct bin_job {
    const mbt_bins *b;
    const mb_matrix *X;
    mbt_binned *d;
    const float *pad;             /* edges padded to 256 a feature: the vector search (gbdt_simd.c) */
} bin_job;

static void bin_task(void *arg, int tid, int nt)
{
    bin_job *j = arg;
    size_t n = j->X->rows, F = j->X->cols, ld = j->X->ld;
    size_t r0 = n * (size_t)tid / (size_t)nt, r1 = n * (size_t)(tid + 1) / (size_t)nt;
    if (j->pad) {
        mbt_bin_rows_simd(j->pad, j->d->nb, j->X, r0, r1, j->d->rowbins, j->d->colbins, n);
        return;
    }
    /* locals, so the uint8 stores cannot alias what the loop reads */
    uint8_t *restrict rb = j->d->rowbins, *restrict cb = j->d->colbins;
    const float *restrict edges = j->b->edges;
    const int32_t *restrict off = j->b->offset;
    const uint16_t *restrict nbs = j->d->nb;
    const float *restrict X = j->X->x;
    uint8_t row[4096];
    for (size_t f0 = 0; f0 < F; f0 += sizeof row) {
        size_t f1 = F - f0 < sizeof row ? F : f0 + sizeof row;
        for (size_t r = r0; r < r1; r++) {
            const float *x = X + r * ld;
            for (size_t f = f0; f < f1; f++)
                row[f - f0] = mbt_bin_search(edges + off[f], nbs[f], x[f]);
            if (rb)
                memcpy(rb + r * F + f0, row, f1 - f0);
            if (cb)
                for (size_t f = f0; f < f1; f++)
                    cb[f * n + r] = row[f - f0];
        }
    }
}

int mbt_bin_data(mbt_binned *d, const mb_host *h, const mbt_bins *b, const mb_matrix *X, int want_rows,
                 int want_cols, mbt_pool *pool, char *err)
{
    size_t n = X->rows, F = X->cols;
    memset(d, 0, sizeof *d);
    d->rows = n;
    d->cols = F;
    d->nb = mbt_alloc(h, F * sizeof *d->nb);
    d->hoff = mbt_alloc(h, (F + 1) * sizeof *d->hoff);
    /* not zeroed: bin_task writes every code (a memset pass fewer) */
    if (want_rows)
        d->rowbins = n && F > SIZE_MAX / n ? NULL : mbt_alloc(h, n * F);
    if (want_cols) { /* 4 spare bytes: the vector partition reads a column's bytes 4 at a time */
        d->colbins = n && F > (SIZE_MAX - 4) / n ? NULL : mbt_alloc(h, n * F + 4);
        if (d->colbins)
            memset(d->colbins + n * F, 0, 4);
    }
    if (!d->nb || !d->hoff || (want_rows && !d->rowbins) || (want_cols && !d->colbins)) {
        mbt_binned_free(d, h);
        return mbt_fail(err, MB_PLUGIN_ENOMEM, "out of memory binning %zu x %zu values", n, F);
    }
    d->hoff[0] = 0;
    for (size_t f = 0; f < F; f++) {
        d->nb[f] = (uint16_t)(b->offset[f + 1] - b->offset[f]);
        d->hoff[f + 1] = d->hoff[f] + d->nb[f] + 1u;
    }
    /* the vector search needs F x 256 padded edges, gathered at int32 offsets */
    float *pad = mbt_avx512_ok() && F < ((size_t)1 << 22) ? mbt_alloc(h, F * 256 * sizeof *pad) : NULL;
    for (size_t f = 0; pad && f < F; f++)
        for (size_t i = 0; i < 256; i++)
            pad[f * 256 + i] = i < d->nb[f] ? b->edges[b->offset[f] + (int32_t)i] : INFINITY;
    bin_job j = {b, X, d, pad};
    mbt_pool_run(pool, bin_task, &j);
    mbt_free(h, pad);
    return MB_PLUGIN_OK;
}

void mbt_binned_free(mbt_binned *d, const mb_host *h)
{
    mbt_free(h, d->rowbins);
    mbt_free(h, d->colbins);
    mbt_free(h, d->nb);
    mbt_free(h, d->hoff);
    memset(d, 0, sizeof *d);
}
