/*
** gbdt.c: histogram-based gradient boosting (the "gbdt" model).
**
** DESIGN (after LightGBM and XGBoost's hist method)
** - Features are binned once (binning.c) into uint8 codes, row-major for
**   histograms and column-major for partitioning.
** - Each round computes gradient/hessian pairs (float) for every output,
**   then grows one tree per output. A tree's rows live in one index array;
**   each leaf owns a contiguous range of it, and a split partitions the
**   range stably (so rows stay in increasing order, which keeps memory
**   access forward-moving).
** - Quantised gradients (as LightGBM's quantised training): before a tree,
**   every row's pair is scaled so the largest |g| is Qg and the largest h
**   is Qh, rounded stochastically (unbiased; the random bits are a hash of
**   the row, the tree and the seed), and packed into one int64,
**   g * 2^32 + h. Qg and Qh are as large as the row count allows without
**   overflow of either half in a sum over all rows (about 2,700 and 5,400
**   for 800k rows, 2^20 for small data); when the tree takes every row,
**   the largest |g| and h come from the gradient pass, and a constant h
**   whose scaled value is an integer (unweighted squared error) skips the
**   rounding, which would give that same value. A histogram slot is one
**   int64 and a row adds to it with one integer add; sums, subtraction and the
**   reduction over threads are exact, so the thread count and the
**   row-/column-wise choice never change a histogram. Unweighted squared
**   error has h = 1, which is represented exactly.
** - A leaf's histogram holds the packed sums per bin of every feature. Only
**   the smaller child's histogram is built from rows; the larger one is the
**   parent's minus the smaller (histogram subtraction), in place.
** - Histograms are built row-parallel (each thread sums a slice of the
**   rows into its own histogram, then slot ranges are reduced in parallel)
**   for sparse nodes, and column-parallel (features split between
**   threads; 8, 4, 2 or 1 features a pass) for dense ones. The two
**   children's best splits are searched on two threads.
** - Growth is depth-wise (all leaves of a level, up to max_depth) or
**   leaf-wise (the best leaf first, up to max_leaves; max_depth 0 =
**   unlimited). Split gain = score(L) + score(R) - score(parent) with
**   score(G, H) = T(G)^2 / (H + lambda_l2), T the L1 soft threshold; NaN
**   rows try both sides and the better one becomes the default direction.
**   min_samples_leaf is checked on counts estimated from hessians, as
**   LightGBM does (exact for unweighted squared error).
** - A split whose children are at max_depth is not partitioned: the score
**   update sends each of its rows to a side on the split's column.
** - Scores of the tree's rows are updated from the leaf ranges, not by
**   walking the tree; rows left out (subsampling, the validation part) are
**   walked on their bins.
*/
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trees.h"

typedef int64_t hbin;             /* packed quantised sums: g * 2^32 + h (h >= 0) */

/* Histogram slots: feature f's bin b is slot f * HSTRIDE + b (fixed, so
** the slots of neighbouring features are constant offsets apart). */
#define HSTRIDE 256

typedef struct split {
    double gain;
    int32_t feature, bin;
    int default_left;
    hbin ql;                      /* left side sums, NaN rows included when default_left */
} split;

typedef struct leaf {
    uint32_t start, count;
    hbin q;                       /* packed sums of the leaf's rows */
    double g, h;                  /* the same, dequantised */
    int depth;
    int32_t node;
    hbin *hist;
    split best;
    int split_done;
    int deferred;                 /* split, but rows not partitioned (children are final) */
    int32_t child[2];             /* leaf indices of the children (deferred splits) */
} leaf;

typedef struct gb {
    const mb_host *host;
    mbt_pool *pool;
    int nt;
    const mbt_params *p;
    const mbt_binned *d;
    const mbt_bins *bins;
    mbt_ensemble *ens;
    size_t n, F;
    uint32_t nslots;
    const float *gh;              /* the current output's pairs, n x 2 */
    hbin *q;                      /* quantised pairs of the tree's rows (by row) */
    hbin *qb;                     /* the node's pairs gathered in index order (column-wise builds) */
    double ig, ih;                /* dequantisation: g = gq * ig, h = hq * ih */
    double qg, qh;                /* quantisation levels */
    uint64_t salt;                /* random bits of this tree's rounding */
    uint32_t *idx, *tmp;
    hbin **thist;                 /* nt scratch histograms (index 0 unused) */
    hbin **pool_h;                /* free histograms */
    size_t npool, cap_pool;
    hbin **all_h;                 /* every histogram allocated, for freeing */
    size_t nall, cap_all;
    uint8_t *fmask;
    leaf *leaves;
    size_t nleaves, cap_leaves;
    int defer_ok;                 /* leaves need no row ranges (not the absolute loss) */
    double lr, l1, l2;
} gb;

static inline int64_t q_h(hbin p) { return (int64_t)(uint32_t)p; }
static inline int64_t q_g(hbin p) { return (p - q_h(p)) / ((int64_t)1 << 32); }
static inline hbin q_pack(int64_t gq, int64_t hq) { return gq * ((int64_t)1 << 32) + hq; }

/* {====== histograms ======} */

static hbin *hist_get(gb *g)
{
    if (g->npool)
        return g->pool_h[--g->npool];
    if (g->nall == g->cap_all) {
        size_t c = g->cap_all ? g->cap_all * 2 : 64;
        hbin **na = mbt_realloc(g->host, g->all_h, c * sizeof *na);
        if (!na)
            return NULL;
        g->all_h = na;
        hbin **np = mbt_realloc(g->host, g->pool_h, c * sizeof *np);
        if (!np)
            return NULL;
        g->pool_h = np;
        g->cap_all = g->cap_pool = c;
    }
    hbin *h = mbt_alloc(g->host, g->nslots * sizeof *h);
    if (h)
        g->all_h[g->nall++] = h;
    return h;
}

static void hist_put(gb *g, hbin *h)
{
    if (h)
        g->pool_h[g->npool++] = h;
}

static void hist_rows(const gb *g, hbin *H, const uint32_t *ids, size_t cnt)
{
    const uint8_t *rb = g->d->rowbins;
    const hbin *q = g->q;
    size_t F = g->F;
    memset(H, 0, g->nslots * sizeof *H);
    for (size_t i = 0; i < cnt; i++) {
        uint32_t r = ids[i];
        if (i + 32 < cnt) {
            /* a row's bins may straddle two cache lines */
            const uint8_t *ahead = rb + (size_t)ids[i + 32] * F;
            __builtin_prefetch(ahead);
            __builtin_prefetch(ahead + F - 1);
            __builtin_prefetch(q + ids[i + 32]);
        }
        hbin v = q[r];
        const uint8_t *b = rb + (size_t)r * F;
        hbin *Hf = H;
        size_t f = 0;
        for (; f + 4 <= F; f += 4, Hf += 4 * HSTRIDE) {
            Hf[b[f]] += v;
            Hf[HSTRIDE + b[f + 1]] += v;
            Hf[2 * HSTRIDE + b[f + 2]] += v;
            Hf[3 * HSTRIDE + b[f + 3]] += v;
        }
        for (; f < F; f++, Hf += HSTRIDE)
            Hf[b[f]] += v;
    }
}

/* Column-wise over features [f0, f1) of the rows ids[0..cnt), whose pairs
** are qb[0..cnt): eight features at a time, so a row's index and pair are
** loaded once for eight adds. Good for dense nodes, whose column bytes are
** read nearly sequentially. */
#define COLS_GROUP(IDX)                                                                            \
    for (size_t i = 0; i < cnt; i++) {                                                             \
        size_t r_ = (IDX);                                                                         \
        hbin v = qb[i];                                                                            \
        H0[c0[r_]] += v;                                                                           \
        H0[HSTRIDE + c1[r_]] += v;                                                                 \
        H0[2 * HSTRIDE + c2[r_]] += v;                                                             \
        H0[3 * HSTRIDE + c3[r_]] += v;                                                             \
        H0[4 * HSTRIDE + c4[r_]] += v;                                                             \
        H0[5 * HSTRIDE + c5[r_]] += v;                                                             \
        H0[6 * HSTRIDE + c6[r_]] += v;                                                             \
        H0[7 * HSTRIDE + c7[r_]] += v;                                                             \
    }

#define COLS_GROUP4(IDX)                                                                           \
    for (size_t i = 0; i < cnt; i++) {                                                             \
        size_t r_ = (IDX);                                                                         \
        hbin v = qb[i];                                                                            \
        H0[c0[r_]] += v;                                                                           \
        H0[HSTRIDE + c1[r_]] += v;                                                                 \
        H0[2 * HSTRIDE + c2[r_]] += v;                                                             \
        H0[3 * HSTRIDE + c3[r_]] += v;                                                             \
    }

#define COLS_GROUP2(IDX)                                                                           \
    for (size_t i = 0; i < cnt; i++) {                                                             \
        size_t r_ = (IDX);                                                                         \
        hbin v = qb[i];                                                                            \
        H0[c0[r_]] += v;                                                                           \
        H0[HSTRIDE + c1[r_]] += v;                                                                 \
    }

static void hist_cols(const gb *g, hbin *H, const uint32_t *ids, const hbin *qb, size_t cnt, size_t f0,
                      size_t f1)
{
    const uint8_t *colbins = g->d->colbins;
    size_t n = g->n;
    int contiguous = cnt > 0 && ids[cnt - 1] - ids[0] == cnt - 1;
    memset(H + f0 * HSTRIDE, 0, (f1 - f0) * HSTRIDE * sizeof *H);
    size_t f = f0;
    for (; f + 8 <= f1; f += 8) {
        const uint8_t *c0 = colbins + f * n, *c1 = c0 + n, *c2 = c1 + n, *c3 = c2 + n;
        const uint8_t *c4 = c3 + n, *c5 = c4 + n, *c6 = c5 + n, *c7 = c6 + n;
        hbin *H0 = H + f * HSTRIDE;
        if (contiguous) {
            size_t o = ids[0];
            c0 += o;
            c1 += o;
            c2 += o;
            c3 += o;
            c4 += o;
            c5 += o;
            c6 += o;
            c7 += o;
            COLS_GROUP(i)
        } else {
            COLS_GROUP(ids[i])
        }
    }
    for (; f + 4 <= f1; f += 4) {
        const uint8_t *c0 = colbins + f * n, *c1 = c0 + n, *c2 = c1 + n, *c3 = c2 + n;
        hbin *H0 = H + f * HSTRIDE;
        if (contiguous) {
            size_t o = ids[0];
            c0 += o;
            c1 += o;
            c2 += o;
            c3 += o;
            COLS_GROUP4(i)
        } else {
            COLS_GROUP4(ids[i])
        }
    }
    for (; f + 2 <= f1; f += 2) {
        const uint8_t *c0 = colbins + f * n, *c1 = c0 + n;
        hbin *H0 = H + f * HSTRIDE;
        if (contiguous) {
            size_t o = ids[0];
            c0 += o;
            c1 += o;
            COLS_GROUP2(i)
        } else {
            COLS_GROUP2(ids[i])
        }
    }
    for (; f < f1; f++) {
        const uint8_t *col = colbins + f * n;
        hbin *Hf = H + f * HSTRIDE;
        for (size_t i = 0; i < cnt; i++)
            Hf[col[ids[i]]] += qb[i];
    }
}

/* Build the histogram out of idx[start..start+count); when parent is
** given, subtract out from it afterwards (parent becomes the sibling). */
typedef struct hist_job {
    gb *g;
    uint32_t start, count;
    hbin *out, *parent;
    int colwise, phase;
    const hbin *qb;               /* column-wise: the rows' pairs in index order */
} hist_job;

static void hist_task(void *arg, int tid, int nt)
{
    hist_job *j = arg;
    gb *g = j->g;
    const uint32_t *ids = g->idx + j->start;
    size_t c0 = (size_t)j->count * (size_t)tid / (size_t)nt, c1 = (size_t)j->count * (size_t)(tid + 1) / (size_t)nt;
    if (j->colwise && j->phase == 0) {
        /* gather the pairs in index order, rows split between threads */
        for (size_t i = c0; i < c1; i++)
            g->qb[i] = g->q[ids[i]];
        return;
    }
    if (j->colwise) {
        /* features split between threads: no reduction needed */
        size_t F = g->F, f0 = F * (size_t)tid / (size_t)nt, f1 = F * (size_t)(tid + 1) / (size_t)nt;
        if (f1 > f0) {
            hist_cols(g, j->out, ids, j->qb, j->count, f0, f1);
            if (j->parent)
                for (size_t s = f0 * HSTRIDE; s < f1 * HSTRIDE; s++)
                    j->parent[s] -= j->out[s];
        }
        return;
    }
    if (j->phase == 0) {
        hist_rows(g, tid == 0 ? j->out : g->thist[tid], ids + c0, c1 - c0);
        return;
    }
    /* reduce the threads' histograms over a slice of the slots */
    size_t s0 = (size_t)g->nslots * (size_t)tid / (size_t)nt, s1 = (size_t)g->nslots * (size_t)(tid + 1) / (size_t)nt;
    for (int t = 1; t < nt; t++) {
        const hbin *src = g->thist[t];
        for (size_t s = s0; s < s1; s++)
            j->out[s] += src[s];
    }
    if (j->parent)
        for (size_t s = s0; s < s1; s++)
            j->parent[s] -= j->out[s];
}

/* dense nodes (at least 1 row in 16): column-wise; sparse ones row-wise,
** where a row's bins share one cache line */
static int hist_colwise(const gb *g, uint32_t count) { return (size_t)count * 16 >= g->n; }

/* build_hist on the calling thread only. The column-wise gather goes to
** qb[start..start+count), so leaves with disjoint ranges can be built on
** several threads at once (grow_level). */
static void hist_serial(const gb *g, hbin *out, hbin *parent, uint32_t start, uint32_t count)
{
    const uint32_t *ids = g->idx + start;
    if (hist_colwise(g, count)) {
        /* consecutive rows (the root of an unsampled tree): their pairs are in place */
        const hbin *qb = g->q + (count ? ids[0] : 0);
        if (!(count > 0 && ids[count - 1] - ids[0] == count - 1)) {
            hbin *dst = g->qb + start;
            for (uint32_t i = 0; i < count; i++)
                dst[i] = g->q[ids[i]];
            qb = dst;
        }
        hist_cols(g, out, ids, qb, count, 0, g->F);
    } else {
        hist_rows(g, out, ids, count);
    }
    if (parent)
        for (uint32_t s = 0; s < g->nslots; s++)
            parent[s] -= out[s];
}

static void build_hist(gb *g, hbin *out, hbin *parent, uint32_t start, uint32_t count)
{
    if (g->nt == 1 || count < 4096) {
        hist_serial(g, out, parent, start, count);
        return;
    }
    int colwise = hist_colwise(g, count);
    const uint32_t *ids = g->idx + start;
    int inplace = count > 0 && ids[count - 1] - ids[0] == count - 1;
    const hbin *qb = inplace ? g->q + ids[0] : g->qb;
    hist_job j = {g, start, count, out, parent, colwise, 0, qb};
    if (!colwise || !inplace)
        mbt_pool_run(g->pool, hist_task, &j);
    j.phase = 1;
    mbt_pool_run(g->pool, hist_task, &j);
}

/* {====== split finding ======} */

static double thresh_l1(double G, double l1)
{
    if (G > l1)
        return G - l1;
    if (G < -l1)
        return G + l1;
    return 0.0;
}

static double leaf_score(const gb *g, double G, double H)
{
    double t = thresh_l1(G, g->l1);
    return t * t / (H + g->l2);
}

static void leaf_set_sums(const gb *g, leaf *L, hbin q)
{
    L->q = q;
    L->g = (double)q_g(q) * g->ig;
    L->h = (double)q_h(q) * g->ih;
}

static void find_split(const gb *g, leaf *L)
{
    const mbt_params *p = g->p;
    L->best.gain = -INFINITY;
    L->best.feature = -1;
    if (p->max_depth > 0 && L->depth >= p->max_depth)
        return;
    if (L->count < 2 * (uint64_t)p->min_samples_leaf || L->h < 2.0 * p->min_child_weight)
        return;
    double G = L->g, Hs = L->h, parent = leaf_score(g, G, Hs), ig = g->ig, ih = g->ih;
    double cnt_factor = Hs > 0 ? (double)L->count / Hs : 0.0;
    double min_cnt = (double)p->min_samples_leaf - 0.5, mcw = p->min_child_weight;
    double best = p->min_split_gain > 1e-12 ? p->min_split_gain : 1e-12;
    split bs = L->best;
    for (size_t f = 0; f < g->F; f++) {
        if (!g->fmask[f])
            continue;
        int nb = g->d->nb[f];
        const hbin *H = L->hist + f * HSTRIDE;
        hbin qn = H[nb];
        int has_nan = q_h(qn) > 0 || q_g(qn) != 0;
        hbin ql = 0;
        for (int b = 0; b < nb; b++) {
            ql += H[b];
            if (b == nb - 1 && !has_nan)
                break;
            /* NaN rows go right */
            double GL = (double)q_g(ql) * ig, HL = (double)q_h(ql) * ih;
            double GR = G - GL, HR = Hs - HL;
            if (HL >= mcw && HR >= mcw && HL * cnt_factor >= min_cnt && HR * cnt_factor >= min_cnt) {
                double gain = leaf_score(g, GL, HL) + leaf_score(g, GR, HR) - parent;
                if (gain > best) {
                    best = gain;
                    bs.gain = gain;
                    bs.feature = (int32_t)f;
                    bs.bin = b;
                    /* without NaN rows here, send future NaNs to the heavier side */
                    bs.default_left = !has_nan && HL > HR;
                    bs.ql = ql;
                }
            }
            if (has_nan && b < nb - 1) {
                hbin ql2 = ql + qn;
                double GL2 = (double)q_g(ql2) * ig, HL2 = (double)q_h(ql2) * ih, GR2 = G - GL2, HR2 = Hs - HL2;
                if (HL2 >= mcw && HR2 >= mcw && HL2 * cnt_factor >= min_cnt && HR2 * cnt_factor >= min_cnt) {
                    double gain = leaf_score(g, GL2, HL2) + leaf_score(g, GR2, HR2) - parent;
                    if (gain > best) {
                        best = gain;
                        bs.gain = gain;
                        bs.feature = (int32_t)f;
                        bs.bin = b;
                        bs.default_left = 1;
                        bs.ql = ql2;
                    }
                }
            }
        }
    }
    L->best = bs;
}

/* Best splits of two sibling leaves, one per thread when there are two. */
typedef struct fs_job {
    const gb *g;
    leaf *L[2];
} fs_job;

static void fs_task(void *arg, int tid, int nt)
{
    fs_job *j = arg;
    (void)nt;
    if (tid < 2)
        find_split(j->g, j->L[tid]);
}

static void find_splits(const gb *g, leaf *A, leaf *B)
{
    if (g->nt == 1) {
        find_split(g, A);
        find_split(g, B);
        return;
    }
    fs_job j = {g, {A, B}};
    mbt_pool_run(g->pool, fs_task, &j);
}

/* {====== partitioning ======} */

/* Two passes, no counting: each thread splits its slice of the range into
** tmp (left rows forward from the slice start, right rows backward from
** its end), then copies both parts to their final places in idx (the right
** part reversed back, so the order stays stable). */
typedef struct part_job {
    gb *g;
    uint32_t start, count;
    const uint8_t *col;
    uint8_t lut[256];
    int phase;
    uint32_t nleft[64], total_left;
} part_job;

static void part_task(void *arg, int tid, int nt)
{
    part_job *j = arg;
    size_t c0 = (size_t)j->count * (size_t)tid / (size_t)nt, c1 = (size_t)j->count * (size_t)(tid + 1) / (size_t)nt;
    uint32_t *idx = j->g->idx + j->start, *tmp = j->g->tmp + j->start;
    if (j->phase == 0) {
        size_t lp = c0, rp = c1;
        const uint8_t *col = j->col, *lut = j->lut;
        /* branch-free: the side is random, so a branch would mispredict */
        for (size_t i = c0; i < c1; i++) {
            uint32_t r = idx[i];
            size_t left = lut[col[r]];
            tmp[lp] = r;
            tmp[rp - 1] = r;
            lp += left;
            rp -= 1 - left;
        }
        j->nleft[tid] = (uint32_t)(lp - c0);
        return;
    }
    size_t lp = 0;
    for (int t = 0; t < tid; t++)
        lp += j->nleft[t];
    size_t nl = j->nleft[tid], rp = j->total_left + (c0 - lp);
    memcpy(idx + lp, tmp + c0, nl * sizeof *idx);
    for (size_t i = c1; i > c0 + nl; i--)
        idx[rp++] = tmp[i - 1];
}

static void split_lut(const gb *g, const leaf *L, uint8_t lut[256])
{
    int nb = g->d->nb[L->best.feature];
    for (int b = 0; b < 256; b++)
        lut[b] = (uint8_t)(b <= L->best.bin || (b == nb && L->best.default_left));
}

/* partition on the calling thread; the scratch is tmp[start..start+count),
** so leaves with disjoint ranges can be partitioned at once (grow_level) */
static uint32_t part_serial(const gb *g, const leaf *L, const uint8_t lut[256], const uint8_t *col)
{
    uint32_t *idx = g->idx + L->start, *tmp = g->tmp + L->start;
    uint32_t nl = 0, nr = 0;
    for (uint32_t i = 0; i < L->count; i++) {
        uint32_t r = idx[i], left = lut[col[r]];
        idx[nl] = r;
        tmp[nr] = r;
        nl += left;
        nr += 1 - left;
    }
    memcpy(idx + nl, tmp, nr * sizeof *idx);
    return nl;
}

/* Partition leaf L's rows by its best split; returns the left count. */
static uint32_t partition(gb *g, const leaf *L)
{
    part_job j;
    j.g = g;
    j.start = L->start;
    j.count = L->count;
    j.col = g->d->colbins + (size_t)L->best.feature * g->n;
    split_lut(g, L, j.lut);
    if (g->nt == 1 || L->count < 32768)
        return part_serial(g, L, j.lut, j.col);
    j.phase = 0;
    mbt_pool_run(g->pool, part_task, &j);
    j.total_left = 0;
    for (int t = 0; t < g->nt; t++)
        j.total_left += j.nleft[t];
    j.phase = 1;
    mbt_pool_run(g->pool, part_task, &j);
    return j.total_left;
}

/* {====== growing one tree ======} */

static leaf *new_leaf(gb *g)
{
    if (g->nleaves == g->cap_leaves) {
        size_t c = g->cap_leaves ? g->cap_leaves * 2 : 64;
        leaf *nl = mbt_realloc(g->host, g->leaves, c * sizeof *nl);
        if (!nl)
            return NULL;
        g->leaves = nl;
        g->cap_leaves = c;
    }
    leaf *L = &g->leaves[g->nleaves++];
    memset(L, 0, sizeof *L);
    return L;
}

static int may_split(const gb *g, const leaf *L)
{
    const mbt_params *p = g->p;
    if (p->max_depth > 0 && L->depth >= p->max_depth)
        return 0;
    return L->count >= 2 * (uint64_t)p->min_samples_leaf && L->h >= 2.0 * p->min_child_weight;
}

/* Whether leaf L's split makes final children whose rows need no partition. */
static int split_defers(const gb *g, const leaf *L)
{
    const mbt_params *p = g->p;
    return g->defer_ok && p->max_depth > 0 && L->depth + 1 >= p->max_depth;
}

/* Split leaf li after its rows are partitioned (nl rows go left; unused
** when defer): its node and children, their sums and ranges. *si gets the
** child whose histogram is to be built from rows (it has a fresh
** histogram, and its sibling the parent's, to subtract it from), or -1
** when neither child may split or the leaf stays whole. OK or ENOMEM. */
static int split_apply(gb *g, size_t li, int defer, uint32_t nl, ptrdiff_t *si)
{
    leaf *L = &g->leaves[li];
    *si = -1;
    if (!defer && (nl == 0 || nl == L->count)) {
        /* the estimated counts disagreed with the rows (zero weights): keep the leaf */
        L->best.feature = -1;
        L->best.gain = -INFINITY;
        return MB_PLUGIN_OK;
    }
    int32_t a = mbt_ens_add_node(g->ens, g->host), b = mbt_ens_add_node(g->ens, g->host);
    if (a < 0 || b < 0)
        return MB_PLUGIN_ENOMEM;
    mbt_ensemble *e = g->ens;
    int32_t node = L->node, f = L->best.feature;
    e->feature[node] = f;
    e->tbin[node] = L->best.bin;
    e->threshold[node] = g->bins->edges[g->bins->offset[f] + L->best.bin];
    e->default_left[node] = (uint8_t)L->best.default_left;
    e->gain[node] = L->best.gain;
    e->left[node] = a;
    e->right[node] = b;
    L->split_done = 1;
    L->deferred = defer;

    if (!new_leaf(g) || !new_leaf(g))
        return MB_PLUGIN_ENOMEM;
    /* new_leaf may move the array: take the pointers after both */
    leaf *A = &g->leaves[g->nleaves - 2], *B = &g->leaves[g->nleaves - 1];
    L = &g->leaves[li];
    L->child[0] = (int32_t)(g->nleaves - 2);
    L->child[1] = (int32_t)(g->nleaves - 1);
    leaf_set_sums(g, A, L->best.ql);
    leaf_set_sums(g, B, L->q - L->best.ql);
    e->cover[a] = A->h; /* the hessian sum, as XGBoost's cover */
    e->cover[b] = B->h;
    A->depth = B->depth = L->depth + 1;
    A->node = a;
    B->node = b;
    A->best.feature = B->best.feature = -1;
    A->best.gain = B->best.gain = -INFINITY;
    hbin *parent = L->hist;
    L->hist = NULL;
    if (defer) {
        /* final leaves with no rows of their own: the score update reads L's */
        A->start = B->start = L->start;
        A->count = B->count = 0;
        A->deferred = B->deferred = 1;
        hist_put(g, parent);
        return MB_PLUGIN_OK;
    }
    A->start = L->start;
    A->count = nl;
    B->start = L->start + nl;
    B->count = L->count - nl;
    if (!may_split(g, A) && !may_split(g, B)) {
        hist_put(g, parent);
        return MB_PLUGIN_OK;
    }
    int small = A->count <= B->count ? 0 : 1;
    leaf *S = small == 0 ? A : B, *Lg = small == 0 ? B : A;
    S->hist = hist_get(g);
    if (!S->hist) {
        hist_put(g, parent);
        return MB_PLUGIN_ENOMEM;
    }
    Lg->hist = parent;
    *si = L->child[small];
    return MB_PLUGIN_OK;
}

/* After the children's split search: drop the histogram of a leaf that
** will not be split. */
static void drop_hist(gb *g, leaf *L)
{
    if (!may_split(g, L) || L->best.feature < 0) {
        hist_put(g, L->hist);
        L->hist = NULL;
    }
}

static leaf *sibling(gb *g, size_t c)
{
    return &g->leaves[c % 2 ? c + 1 : c - 1];
}

/* Split leaf li (one at a time: leaf-wise growth, one thread); OK or ENOMEM. */
static int split_leaf(gb *g, size_t li)
{
    int defer = split_defers(g, &g->leaves[li]);
    uint32_t nl = defer ? 0 : partition(g, &g->leaves[li]);
    ptrdiff_t si;
    int rc = split_apply(g, li, defer, nl, &si);
    if (rc != MB_PLUGIN_OK || si < 0)
        return rc;
    leaf *S = &g->leaves[si], *A = &g->leaves[g->leaves[li].child[0]], *B = A + 1;
    build_hist(g, S->hist, sibling(g, (size_t)si)->hist, S->start, S->count);
    find_splits(g, A, B);
    drop_hist(g, A);
    drop_hist(g, B);
    return MB_PLUGIN_OK;
}

/* {====== growing a level at once (depth-wise, several threads) ======}
** A depth-wise tree splits every leaf of a level, so the level's work runs
** as three pool jobs instead of a few for every leaf: the partitions, the
** histograms built from rows, the split searches. Each job hands whole
** leaves to the threads, the heaviest first, each thread taking the next
** one when it is free (so a thread the machine has descheduled leaves
** its share to the others); a leaf heavier than a thread's share keeps its
** own row- or column-parallel path. Leaves own disjoint row ranges, and so disjoint
** parts of the scratch arrays. The bookkeeping between the jobs runs on
** the caller in leaf order, so the node numbering, and so the model, are
** those of split_leaf one leaf at a time, bit for bit. */

typedef struct witem {
    uint64_t w;
    size_t i;
} witem;

static int cmp_witem(const void *a, const void *b)
{
    const witem *x = a, *y = b;
    if (x->w != y->w)
        return x->w < y->w ? 1 : -1;
    return (x->i > y->i) - (x->i < y->i);
}

typedef struct level_job {
    gb *g;
    int stage;                    /* 0 partition, 1 histograms, 2 split search */
    size_t n;
    const size_t *leaf;           /* the item's leaf (stage 1: the child built from rows) */
    const witem *order;           /* the items for the threads, heaviest first */
    size_t nshared;
    atomic_size_t next;           /* the next of them to take */
    uint32_t *nl;                 /* stage 0: left counts */
} level_job;

static void level_task(void *arg, int tid, int nt)
{
    level_job *j = arg;
    gb *g = j->g;
    (void)tid;
    (void)nt;
    for (;;) {
        size_t k = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (k >= j->nshared)
            break;
        size_t i = j->order[k].i;
        leaf *L = &g->leaves[j->leaf[i]];
        if (j->stage == 0) {
            uint8_t lut[256];
            split_lut(g, L, lut);
            j->nl[i] = part_serial(g, L, lut, g->d->colbins + (size_t)L->best.feature * g->n);
        } else if (j->stage == 1) {
            hist_serial(g, L->hist, sibling(g, j->leaf[i])->hist, L->start, L->count);
        } else {
            find_split(g, L);
        }
    }
}

/* Sort n items of weights w into j's order, heaviest first: the first
** *nbig are heavier than a thread's share (or the only item) and are the
** caller's, the rest the threads'; j->next starts at the first of those. */
static void order_items(level_job *j, witem *wi, const uint64_t *w, size_t n, int nt, size_t *nbig)
{
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        wi[i].w = w[i];
        wi[i].i = i;
        total += w[i];
    }
    qsort(wi, n, sizeof *wi, cmp_witem);
    size_t b = 0;
    while (b < n && (n == 1 || wi[b].w * (uint64_t)nt > total))
        b++;
    *nbig = b;
    j->n = n;
    j->order = wi;
    j->nshared = n;
    atomic_store(&j->next, b);
}

/* Split every leaf of [lo, hi) that has a split, in three jobs. */
static int grow_level(gb *g, size_t lo, size_t hi)
{
    size_t m = hi - lo, n = 0;
    /* items: 2 per leaf for the split search */
    size_t *item = mbt_alloc(g->host, 2 * m * sizeof *item);
    uint64_t *w = mbt_alloc(g->host, 2 * m * sizeof *w);
    uint32_t *nl = mbt_calloc(g->host, m, sizeof *nl);
    size_t *cand = mbt_alloc(g->host, m * sizeof *cand);
    witem *wi = mbt_alloc(g->host, 2 * m * sizeof *wi);
    int rc = MB_PLUGIN_ENOMEM;
    if (!item || !w || !nl || !cand || !wi)
        goto done;
    size_t nc = 0;
    for (size_t i = lo; i < hi; i++)
        if (!g->leaves[i].split_done && g->leaves[i].best.feature >= 0)
            cand[nc++] = i;
    int defer = nc && split_defers(g, &g->leaves[cand[0]]);
    level_job j = {.g = g, .leaf = item, .nl = nl};
    size_t nbig;
    /* partitions */
    if (!defer) {
        for (size_t k = 0; k < nc; k++) {
            item[k] = cand[k];
            w[k] = g->leaves[cand[k]].count;
        }
        order_items(&j, wi, w, nc, g->nt, &nbig);
        for (size_t k = 0; k < nbig; k++)
            nl[wi[k].i] = partition(g, &g->leaves[cand[wi[k].i]]);
        if (nbig < nc)
            mbt_pool_run(g->pool, level_task, &j);
    }
    /* the splits, in leaf order */
    for (size_t k = 0; k < nc; k++) {
        ptrdiff_t si;
        rc = split_apply(g, cand[k], defer, nl[k], &si);
        if (rc != MB_PLUGIN_OK)
            goto done;
        if (si >= 0) {
            item[n] = (size_t)si;
            w[n++] = g->leaves[si].count;
        }
    }
    /* histograms of the smaller children */
    j.stage = 1;
    order_items(&j, wi, w, n, g->nt, &nbig);
    for (size_t k = 0; k < nbig; k++) {
        leaf *S = &g->leaves[item[wi[k].i]];
        build_hist(g, S->hist, sibling(g, item[wi[k].i])->hist, S->start, S->count);
    }
    if (nbig < n)
        mbt_pool_run(g->pool, level_task, &j);
    /* split searches of both children, spread evenly */
    for (size_t k = n; k-- > 0;) {
        size_t first = item[k] % 2 ? item[k] : item[k] - 1;
        item[2 * k] = first;
        item[2 * k + 1] = first + 1;
    }
    j.stage = 2;
    for (size_t k = 0; k < 2 * n; k++)
        w[k] = 1;
    order_items(&j, wi, w, 2 * n, g->nt, &nbig);
    atomic_store(&j.next, 0); /* every search is the threads' */
    if (n)
        mbt_pool_run(g->pool, level_task, &j);
    for (size_t k = 0; k < 2 * n; k++)
        drop_hist(g, &g->leaves[item[k]]);
    rc = MB_PLUGIN_OK;
done:
    mbt_free(g->host, item);
    mbt_free(g->host, w);
    mbt_free(g->host, nl);
    mbt_free(g->host, cand);
    mbt_free(g->host, wi);
    return rc;
}

/* Grow a tree over idx[0..nrows) into the ensemble's current tree (root
** node root); q holds the rows' packed sums. Final leaves are the leaves
** with split_done == 0 (deferred ones have no rows: see score_task). */
static int grow_tree(gb *g, int32_t root, uint32_t nrows, hbin q)
{
    const mbt_params *p = g->p;
    g->nleaves = 0;
    leaf *R = new_leaf(g);
    if (!R)
        return MB_PLUGIN_ENOMEM;
    R->start = 0;
    R->count = nrows;
    leaf_set_sums(g, R, q);
    R->node = root;
    g->ens->cover[root] = R->h;
    R->best.feature = -1;
    if (may_split(g, R)) {
        R->hist = hist_get(g);
        if (!R->hist)
            return MB_PLUGIN_ENOMEM;
        build_hist(g, R->hist, NULL, 0, nrows);
        find_split(g, R);
        if (R->best.feature < 0) {
            hist_put(g, R->hist);
            R->hist = NULL;
        }
    }
    int leafwise = p->growth == MBT_GROW_LEAFWISE || p->max_depth == 0;
    if (!leafwise && g->nt > 1) {
        for (size_t lo = 0; lo < g->nleaves;) {
            size_t hi = g->nleaves;
            int rc = grow_level(g, lo, hi);
            if (rc != MB_PLUGIN_OK)
                return rc;
            lo = hi;
        }
    }
    size_t cursor = 0, nfinal = 1;
    for (;;) {
        size_t pick = (size_t)-1;
        if (leafwise) {
            double bg = -INFINITY;
            for (size_t i = 0; i < g->nleaves; i++) {
                leaf *L = &g->leaves[i];
                if (!L->split_done && L->best.feature >= 0 && L->best.gain > bg) {
                    bg = L->best.gain;
                    pick = i;
                }
            }
            if (p->max_leaves > 0 && nfinal >= (size_t)p->max_leaves)
                pick = (size_t)-1;
        } else {
            while (cursor < g->nleaves &&
                   (g->leaves[cursor].split_done || g->leaves[cursor].best.feature < 0))
                cursor++;
            if (cursor < g->nleaves)
                pick = cursor;
        }
        if (pick == (size_t)-1)
            break;
        int rc = split_leaf(g, pick);
        if (rc != MB_PLUGIN_OK)
            return rc;
        if (g->leaves[pick].split_done)
            nfinal++;
        else {
            hist_put(g, g->leaves[pick].hist);
            g->leaves[pick].hist = NULL;
        }
    }
    for (size_t i = 0; i < g->nleaves; i++)
        if (g->leaves[i].hist) {
            hist_put(g, g->leaves[i].hist);
            g->leaves[i].hist = NULL;
        }
    return MB_PLUGIN_OK;
}

/* {====== losses ======} */

typedef struct lossctx {
    int loss;
    size_t K;
    double delta;
} lossctx;

static double sigmoid(double s) { return 1.0 / (1.0 + exp(-s)); }

/* Gradients of rows [r0, r1) into gh (K blocks of n x 2); for one output,
** also the largest |g| and the smallest and largest h into mm[0..3). */
static void gradients(const lossctx *lc, const float *y, const float *w, const double *score, float *gh,
                      size_t n, size_t r0, size_t r1, float mm[3])
{
    size_t K = lc->K;
    float gm = 0.0f, hlo = INFINITY, hhi = 0.0f;
    for (size_t r = r0; r < r1; r++) {
        float wt = w ? w[r] : 1.0f;
        if (lc->loss == MBT_LOSS_SOFTMAX) {
            const double *s = score + r * K;
            double mx = s[0], sum = 0.0, pk[256];
            double *pp = pk;
            for (size_t k = 1; k < K; k++)
                mx = s[k] > mx ? s[k] : mx;
            for (size_t k = 0; k < K; k++)
                sum += (pp[k] = exp(s[k] - mx));
            double f = (double)K / (double)(K - 1);
            for (size_t k = 0; k < K; k++) {
                double pr = pp[k] / sum;
                double t = (size_t)y[r] == k ? 1.0 : 0.0;
                double hh = f * pr * (1.0 - pr);
                gh[k * 2 * n + 2 * r] = (float)((double)wt * (pr - t));
                gh[k * 2 * n + 2 * r + 1] = (float)((double)wt * (hh > 1e-16 ? hh : 1e-16));
            }
            continue;
        }
        double s = score[r], d = s - (double)y[r], g, h = 1.0;
        switch (lc->loss) {
        case MBT_LOSS_LOGLOSS: {
            double pr = sigmoid(s);
            g = pr - (double)y[r];
            h = pr * (1.0 - pr);
            if (h < 1e-16)
                h = 1e-16;
            break;
        }
        case MBT_LOSS_ABSOLUTE:
            g = d > 0 ? 1.0 : d < 0 ? -1.0 : 0.0;
            break;
        case MBT_LOSS_HUBER:
            g = d > lc->delta ? lc->delta : d < -lc->delta ? -lc->delta : d;
            break;
        default:
            g = d;
        }
        float fg = (float)((double)wt * g), fh = (float)((double)wt * h), ag = fabsf(fg);
        gh[2 * r] = fg;
        gh[2 * r + 1] = fh;
        gm = ag > gm ? ag : gm;
        hlo = fh < hlo ? fh : hlo;
        hhi = fh > hhi ? fh : hhi;
    }
    mm[0] = gm;
    mm[1] = hlo;
    mm[2] = hhi;
}

/* Weighted mean loss of rows (list, or all n when rows is NULL). */
static double mean_loss(const lossctx *lc, const float *y, const float *w, const double *score,
                        const uint32_t *rows, size_t nrows)
{
    double sl = 0.0, sw = 0.0;
    size_t K = lc->K;
    for (size_t i = 0; i < nrows; i++) {
        size_t r = rows ? rows[i] : i;
        double wt = w ? (double)w[r] : 1.0, l;
        if (lc->loss == MBT_LOSS_SOFTMAX) {
            const double *s = score + r * K;
            double mx = s[0], sum = 0.0;
            for (size_t k = 1; k < K; k++)
                mx = s[k] > mx ? s[k] : mx;
            for (size_t k = 0; k < K; k++)
                sum += exp(s[k] - mx);
            l = -(s[(size_t)y[r]] - mx - log(sum));
        } else {
            double s = score[r], d = s - (double)y[r];
            switch (lc->loss) {
            case MBT_LOSS_LOGLOSS:
                /* log(1 + exp(-m)) with m = s for y=1, -s for y=0, stably */
                {
                    double m = y[r] > 0.5f ? s : -s;
                    l = m > 0 ? log1p(exp(-m)) : -m + log1p(exp(m));
                }
                break;
            case MBT_LOSS_ABSOLUTE:
                l = fabs(d);
                break;
            case MBT_LOSS_HUBER:
                l = fabs(d) <= lc->delta ? 0.5 * d * d : lc->delta * (fabs(d) - 0.5 * lc->delta);
                break;
            default:
                l = d * d;
            }
        }
        sl += wt * l;
        sw += wt;
    }
    return sw > 0 ? sl / sw : (double)NAN;
}

typedef struct wv {
    double v, w;
} wv;

static int cmp_wv(const void *a, const void *b)
{
    double x = ((const wv *)a)->v, y = ((const wv *)b)->v;
    return (x > y) - (x < y);
}

/* Weighted median of n pairs (sorts them). */
static double weighted_median(wv *a, size_t n)
{
    if (n == 0)
        return 0.0;
    qsort(a, n, sizeof *a, cmp_wv);
    double tot = 0.0, acc = 0.0;
    for (size_t i = 0; i < n; i++)
        tot += a[i].w;
    for (size_t i = 0; i < n; i++) {
        acc += a[i].w;
        if (acc >= 0.5 * tot)
            return a[i].v;
    }
    return a[n - 1].v;
}

/* {====== the round loop ======} */

typedef struct grad_job {
    const lossctx *lc;
    const float *y, *w;
    const double *score;
    float *gh;
    size_t n;
    float mm[64][3];              /* per thread: max |g|, min h, max h (one output) */
} grad_job;

static void grad_task(void *arg, int tid, int nt)
{
    grad_job *j = arg;
    gradients(j->lc, j->y, j->w, j->score, j->gh, j->n, j->n * (size_t)tid / (size_t)nt,
              j->n * (size_t)(tid + 1) / (size_t)nt, j->mm[tid]);
}

/* Quantisation of the tree's rows idx[0..nrows): phase 0 finds the
** largest |g| and h, phase 1 rounds and packs every row and sums the
** packed pairs (integers: the sum does not depend on the split). */
typedef struct quant_job {
    gb *gb;
    uint32_t nrows;
    int phase;
    int64_t hconst;               /* every row's hq when all are equal and exact, else -1 */
    double gmax[64], hmax[64];
    hbin sum[64];
} quant_job;

static void quant_task(void *arg, int tid, int nt)
{
    quant_job *j = arg;
    gb *g = j->gb;
    const float *gh = g->gh;
    const uint32_t *idx = g->idx;
    size_t c0 = (size_t)j->nrows * (size_t)tid / (size_t)nt, c1 = (size_t)j->nrows * (size_t)(tid + 1) / (size_t)nt;
    if (j->phase == 0) {
        float gm = 0.0f, hm = 0.0f;
        for (size_t i = c0; i < c1; i++) {
            size_t r = idx[i];
            float ag = fabsf(gh[2 * r]), hh = gh[2 * r + 1];
            gm = ag > gm ? ag : gm;
            hm = hh > hm ? hh : hm;
        }
        j->gmax[tid] = (double)gm;
        j->hmax[tid] = (double)hm;
        return;
    }
    double sg = g->qg, sh = g->qh;
    uint64_t salt = g->salt;
    hbin sum = 0;
    if (j->hconst >= 0) {
        /* a constant, exactly scaled hessian (squared error): round g only */
        int64_t hq = j->hconst;
        for (size_t i = c0; i < c1; i++) {
            size_t r = idx[i];
            uint64_t x = ((uint64_t)r + 1) * 0x9e3779b97f4a7c15ULL ^ salt;
            x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
            x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
            x ^= x >> 31;
            double xg = (double)gh[2 * r] * sg + (double)(x >> 40) * 0x1.0p-24;
            int64_t gq = (int64_t)xg;
            gq -= xg < (double)gq;
            hbin v = q_pack(gq, hq);
            g->q[r] = v;
            sum += v;
        }
        j->sum[tid] = sum;
        return;
    }
    for (size_t i = c0; i < c1; i++) {
        size_t r = idx[i];
        /* random bits of (row, tree): a splitmix64 finaliser */
        uint64_t x = ((uint64_t)r + 1) * 0x9e3779b97f4a7c15ULL ^ salt;
        x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
        x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
        x ^= x >> 31;
        double ug = (double)(x >> 40) * 0x1.0p-24, uh = (double)(x & 0xffffffu) * 0x1.0p-24;
        double xg = (double)gh[2 * r] * sg + ug, xh = (double)gh[2 * r + 1] * sh + uh;
        int64_t gq = (int64_t)xg, hq = (int64_t)xh; /* floor, without a libm call */
        gq -= xg < (double)gq;
        hq -= xh < (double)hq;
        hbin v = q_pack(gq, hq);
        g->q[r] = v;
        sum += v;
    }
    j->sum[tid] = sum;
}

/* Quantise the current output's pairs of idx[0..nrows) into g->q (levels
** set from the row count, see DESIGN); returns their packed sum. mm,
** when given, is the largest |g| and the smallest and largest h of the
** rows (known from the gradient pass when the tree takes every row). */
static hbin quantise(gb *g, uint32_t nrows, uint64_t salt, const float *mm)
{
    quant_job j;
    j.gb = g;
    j.nrows = nrows;
    j.hconst = -1;
    double gm = 0.0, hm = 0.0;
    if (mm) {
        gm = (double)mm[0];
        hm = (double)mm[2];
    } else {
        j.phase = 0;
        mbt_pool_run(g->pool, quant_task, &j);
        for (int t = 0; t < g->nt; t++) {
            gm = j.gmax[t] > gm ? j.gmax[t] : gm;
            hm = j.hmax[t] > hm ? j.hmax[t] : hm;
        }
    }
    /* |sum gq| <= nrows (Qg + 1) < 2^31 and sum hq <= nrows (Qh + 1) < 2^32 */
    double lim = 1048576.0, n = nrows ? (double)nrows : 1.0;
    double Qg = floor(2147483647.0 / n) - 1.0, Qh = floor(4294967295.0 / n) - 1.0;
    Qg = Qg < lim ? Qg : lim;
    Qh = Qh < lim ? Qh : lim;
    /* hessians: an integer scale when hm <= 1, so h = 1 stays exact */
    g->qg = gm > 0 ? Qg / gm : 0.0;
    g->qh = hm > 0 ? (hm <= 1.0 ? floor(Qh / hm) : Qh / hm) : 0.0;
    g->ig = g->qg > 0 ? 1.0 / g->qg : 0.0;
    g->ih = g->qh > 0 ? 1.0 / g->qh : 0.0;
    g->salt = salt;
    if (mm && mm[1] == mm[2] && g->qh > 0) {
        /* every h the same: its scaled value, when an integer, is every row's hq */
        double xh = (double)mm[1] * g->qh;
        if (xh == floor(xh))
            j.hconst = (int64_t)xh;
    }
    j.phase = 1;
    mbt_pool_run(g->pool, quant_task, &j);
    hbin sum = 0;
    for (int t = 0; t < g->nt; t++)
        sum += j.sum[t];
    return sum;
}

/* Add the final leaves' values to the scores of their rows: each thread
** takes a slice of the index array and the leaves overlapping it; the
** rows of a deferred split go to a side on the split's column. */
typedef struct score_job {
    const gb *g;
    const mbt_ensemble *e;
    double *score;
    size_t K, k;
    uint32_t nrows;
} score_job;

static void score_task(void *arg, int tid, int nt)
{
    score_job *j = arg;
    const gb *g = j->g;
    size_t c0 = (size_t)j->nrows * (size_t)tid / (size_t)nt, c1 = (size_t)j->nrows * (size_t)(tid + 1) / (size_t)nt;
    size_t K = j->K, k = j->k;
    for (size_t li = 0; li < g->nleaves; li++) {
        const leaf *L = &g->leaves[li];
        if (L->deferred && !L->split_done)
            continue;
        if (L->split_done && !L->deferred)
            continue;
        size_t a = L->start > c0 ? L->start : c0, b = (size_t)L->start + L->count < c1 ? (size_t)L->start + L->count : c1;
        if (L->split_done) {
            uint8_t lut[256];
            split_lut(g, L, lut);
            const uint8_t *col = g->d->colbins + (size_t)L->best.feature * g->n;
            double v[2] = {j->e->value[g->leaves[L->child[1]].node], j->e->value[g->leaves[L->child[0]].node]};
            for (size_t i = a; i < b; i++) {
                size_t r = g->idx[i];
                j->score[r * K + k] += v[lut[col[r]]];
            }
            continue;
        }
        double v = j->e->value[L->node];
        for (size_t i = a; i < b; i++)
            j->score[(size_t)g->idx[i] * K + k] += v;
    }
}

/* Add tree t's leaf values to scores (stride K, output k) of rows walked on bins. */
static void walk_add(const mbt_ensemble *e, int32_t root, const mbt_binned *d, const uint32_t *rows,
                     size_t nrows, double *score, size_t K, size_t k)
{
    for (size_t i = 0; i < nrows; i++) {
        size_t r = rows ? rows[i] : i;
        int32_t leafn = mbt_ens_leaf_binned(e, root, d->rowbins + r * d->cols, d->nb);
        score[r * K + k] += e->value[leafn];
    }
}

int mbt_gbdt_fit(mbt_model *m, const mb_dataset *train, const mb_dataset *valid,
                 const mb_fit_context *ctx, char *err)
{
    const mb_host *h = m->host;
    const mbt_params *p = &m->p;
    int rc = MB_PLUGIN_OK;
    size_t n = train->X.rows, F = train->X.cols;
    mbt_binned d = {0}, dv = {0};
    gb g = {0};
    float *gh = NULL;
    double *score = NULL, *vscore = NULL;
    uint32_t *train_rows = NULL, *hold_rows = NULL, *oob = NULL, *sampled = NULL, *perm = NULL;
    wv *wvbuf = NULL;
    size_t ntrain = 0, nhold = 0;
    lossctx lc = {0};
    mbt_rng rng;
    mbt_rng_seed(&rng, ctx->seed);

    /* loss and outputs */
    int loss = (int)p->loss;
    if (loss == MBT_LOSS_AUTO)
        loss = train->task == MB_TASK_REGRESSION ? MBT_LOSS_SQUARED
             : train->task == MB_TASK_BINARY     ? MBT_LOSS_LOGLOSS
                                                 : MBT_LOSS_SOFTMAX;
    if (train->task == MB_TASK_REGRESSION && (loss == MBT_LOSS_LOGLOSS || loss == MBT_LOSS_SOFTMAX))
        return mbt_fail(err, MB_PLUGIN_EINVAL, "loss '%s' needs a classification target",
                        loss == MBT_LOSS_LOGLOSS ? "logloss" : "softmax");
    if (train->task == MB_TASK_BINARY && loss != MBT_LOSS_LOGLOSS)
        return mbt_fail(err, MB_PLUGIN_EINVAL, "binary classification uses loss logloss (or auto)");
    if (train->task == MB_TASK_MULTICLASS && loss != MBT_LOSS_SOFTMAX)
        return mbt_fail(err, MB_PLUGIN_EINVAL, "multiclass classification uses loss softmax (or auto)");
    if (train->task == MB_TASK_MULTICLASS && train->nclasses > 256)
        return mbt_fail(err, MB_PLUGIN_EINVAL, "at most 256 classes (got %zu)", train->nclasses);
    if (n > ((size_t)1 << 30))
        return mbt_fail(err, MB_PLUGIN_EINVAL, "too many rows (%zu; at most 2^30)", n); /* quantised sums */
    if (F > ((size_t)1 << 22))
        return mbt_fail(err, MB_PLUGIN_EINVAL, "too many features (%zu; at most 2^22)", F);
    if (p->growth == MBT_GROW_DEPTHWISE && p->max_depth == 0 && p->max_leaves == 0)
        return mbt_fail(err, MB_PLUGIN_EINVAL, "unlimited depth needs a max_leaves limit");
    size_t K = loss == MBT_LOSS_SOFTMAX ? train->nclasses : 1;
    lc.loss = loss;
    lc.K = K;
    lc.delta = p->huber_delta;

    g.pool = mbt_pool_new(h, ctx->threads > 64 ? 64 : ctx->threads); /* job arrays hold 64 */
    if (!g.pool)
        goto nomem;
    g.nt = mbt_pool_size(g.pool);
    rc = mbt_bins_fit(&m->bins, h, &train->X, (int)p->max_bins, ctx->seed, g.pool, err);
    if (rc != MB_PLUGIN_OK)
        goto exit;
    rc = mbt_bin_data(&d, h, &m->bins, &train->X, 1, 1, g.pool, err);
    if (rc != MB_PLUGIN_OK)
        goto exit;
    if (mbt_ens_init(&m->ens, h, F, K, 1) != MB_PLUGIN_OK)
        goto nomem;
    m->ens.link = loss == MBT_LOSS_LOGLOSS ? MB_LINK_LOGISTIC : loss == MBT_LOSS_SOFTMAX ? MB_LINK_SOFTMAX
                                                                                        : MB_LINK_IDENTITY;
    m->ens.average = 0;

    /* train rows and the held-out part for early stopping */
    train_rows = mbt_alloc(h, n * sizeof *train_rows);
    hold_rows = mbt_alloc(h, n * sizeof *hold_rows);
    oob = mbt_alloc(h, n * sizeof *oob);
    if (!train_rows || !hold_rows || !oob)
        goto nomem;
    int hold = p->early_stopping_rounds > 0 && !valid;
    for (size_t r = 0; r < n; r++) {
        if (hold && mbt_rng_unif(&rng) < p->validation_fraction)
            hold_rows[nhold++] = (uint32_t)r;
        else
            train_rows[ntrain++] = (uint32_t)r;
    }
    if (ntrain == 0) {
        rc = mbt_fail(err, MB_PLUGIN_EINVAL, "no training rows left after holding out the validation part");
        goto exit;
    }
    for (size_t i = 0; i < ntrain; i++) {
        size_t r = train_rows[i];
        if (isnan(train->y[r]) || (train->w && !(train->w[r] >= 0.0f))) {
            rc = mbt_fail(err, MB_PLUGIN_EINVAL, "row %zu has a missing label or a bad weight", r);
            goto exit;
        }
        if (K > 1 && (train->y[r] < 0 || (size_t)train->y[r] >= K)) {
            rc = mbt_fail(err, MB_PLUGIN_EINVAL, "row %zu has class %g, outside 0..%zu", r,
                          (double)train->y[r], K - 1);
            goto exit;
        }
    }

    /* base score */
    {
        double sw = 0.0, sy = 0.0, cls[256] = {0};
        for (size_t i = 0; i < ntrain; i++) {
            size_t r = train_rows[i];
            double wt = train->w ? (double)train->w[r] : 1.0;
            sw += wt;
            sy += wt * (double)train->y[r];
            if (K > 1)
                cls[(size_t)train->y[r]] += wt;
        }
        if (!(sw > 0)) {
            rc = mbt_fail(err, MB_PLUGIN_EINVAL, "the sample weights sum to zero");
            goto exit;
        }
        double mean = sy / sw;
        if (loss == MBT_LOSS_LOGLOSS) {
            double pr = mean < 1e-15 ? 1e-15 : mean > 1 - 1e-15 ? 1 - 1e-15 : mean;
            m->ens.base_score[0] = log(pr / (1 - pr));
        } else if (loss == MBT_LOSS_SOFTMAX) {
            double avg = 0.0;
            for (size_t k = 0; k < K; k++) {
                double pr = cls[k] / sw;
                m->ens.base_score[k] = log(pr < 1e-15 ? 1e-15 : pr);
                avg += m->ens.base_score[k] / (double)K;
            }
            for (size_t k = 0; k < K; k++)
                m->ens.base_score[k] -= avg;
        } else if (loss == MBT_LOSS_ABSOLUTE) {
            wvbuf = mbt_alloc(h, n * sizeof *wvbuf);
            if (!wvbuf)
                goto nomem;
            for (size_t i = 0; i < ntrain; i++) {
                size_t r = train_rows[i];
                wvbuf[i].v = (double)train->y[r];
                wvbuf[i].w = train->w ? (double)train->w[r] : 1.0;
            }
            m->ens.base_score[0] = weighted_median(wvbuf, ntrain);
        } else {
            m->ens.base_score[0] = mean;
        }
    }

    /* working memory */
    gh = mbt_alloc(h, K * n * 2 * sizeof *gh);
    score = mbt_alloc(h, K * n * sizeof *score);
    sampled = mbt_alloc(h, n * sizeof *sampled);
    perm = mbt_alloc(h, F * sizeof *perm);
    g.idx = mbt_alloc(h, n * sizeof *g.idx);
    g.tmp = mbt_alloc(h, n * sizeof *g.tmp);
    g.q = mbt_alloc(h, n * sizeof *g.q);
    g.qb = mbt_alloc(h, n * sizeof *g.qb);
    g.fmask = mbt_alloc(h, F);
    g.thist = mbt_calloc(h, (size_t)g.nt, sizeof *g.thist);

    if (!gh || !score || !sampled || !perm || !g.idx || !g.tmp || !g.q || !g.qb || !g.fmask || !g.thist)
        goto nomem;
    for (size_t r = 0; r < n; r++)
        for (size_t k = 0; k < K; k++)
            score[r * K + k] = m->ens.base_score[k];
    g.host = h;
    g.p = p;
    g.d = &d;
    g.bins = &m->bins;
    g.ens = &m->ens;
    g.n = n;
    g.F = F;
    g.nslots = (uint32_t)(F * HSTRIDE);
    g.defer_ok = loss != MBT_LOSS_ABSOLUTE;
    g.lr = p->learning_rate;
    g.l1 = p->lambda_l1;
    g.l2 = p->lambda_l2;
    for (int t = 1; t < g.nt; t++)
        if (!(g.thist[t] = mbt_alloc(h, g.nslots * sizeof(hbin))))
            goto nomem;
    if (valid) {
        rc = mbt_bin_data(&dv, h, &m->bins, &valid->X, 1, 0, g.pool, err);
        if (rc != MB_PLUGIN_OK)
            goto exit;
        vscore = mbt_alloc(h, K * valid->X.rows * sizeof *vscore);
        if (!vscore)
            goto nomem;
        for (size_t r = 0; r < valid->X.rows; r++)
            for (size_t k = 0; k < K; k++)
                vscore[r * K + k] = m->ens.base_score[k];
    }

    double best_loss = INFINITY;
    int64_t best_round = 0, since_best = 0, rounds_done = 0;
    int track = p->early_stopping_rounds > 0 && (valid || nhold > 0);
    size_t ncol = (size_t)llround(p->colsample * (double)F);
    if (ncol < 1)
        ncol = 1;
    if (ncol > F)
        ncol = F;
    for (int64_t it = 0; it < p->n_trees; it++) {
        grad_job gj = {&lc, train->y, train->w, score, gh, n, {{0}}};
        mbt_pool_run(g.pool, grad_task, &gj);
        float mm[3] = {0.0f, INFINITY, 0.0f}; /* max |g|, min h, max h over all rows */
        for (int t = 0; t < g.nt; t++) {
            mm[0] = gj.mm[t][0] > mm[0] ? gj.mm[t][0] : mm[0];
            mm[1] = gj.mm[t][1] < mm[1] ? gj.mm[t][1] : mm[1];
            mm[2] = gj.mm[t][2] > mm[2] ? gj.mm[t][2] : mm[2];
        }
        /* rows of this round */
        size_t nrows = 0, noob = 0;
        if (p->subsample < 1.0) {
            for (size_t i = 0; i < ntrain; i++) {
                if (mbt_rng_unif(&rng) < p->subsample)
                    sampled[nrows++] = train_rows[i];
                else
                    oob[noob++] = train_rows[i];
            }
            if (nrows == 0)
                sampled[nrows++] = oob[--noob];
        }
        for (size_t k = 0; k < K; k++) {
            if (p->subsample >= 1.0) {
                memcpy(g.idx, train_rows, ntrain * sizeof *g.idx);
                nrows = ntrain;
            } else {
                memcpy(g.idx, sampled, nrows * sizeof *g.idx);
            }
            /* columns of this tree */
            if (ncol < F) {
                for (size_t f = 0; f < F; f++) {
                    perm[f] = (uint32_t)f;
                    g.fmask[f] = 0;
                }
                for (size_t i = 0; i < ncol; i++) {
                    size_t jx = i + (size_t)mbt_rng_below(&rng, F - i);
                    uint32_t t = perm[i];
                    perm[i] = perm[jx];
                    perm[jx] = t;
                    g.fmask[perm[i]] = 1;
                }
            } else {
                memset(g.fmask, 1, F);
            }
            g.gh = gh + k * 2 * n;
            hbin qsum = quantise(&g, (uint32_t)nrows, ctx->seed * 0x2545f4914f6cdd1dULL ^ (uint64_t)(it * (int64_t)K + (int64_t)k),
                                 K == 1 && nrows == n ? mm : NULL);
            int32_t t = mbt_ens_add_tree(&m->ens, h, (int32_t)k);
            if (t < 0)
                goto nomem;
            int32_t root = m->ens.root[t];
            rc = grow_tree(&g, root, (uint32_t)nrows, qsum);
            if (rc != MB_PLUGIN_OK)
                goto nomem;
            /* leaf values and the scores of the tree's rows */
            for (size_t li = 0; li < g.nleaves; li++) {
                leaf *L = &g.leaves[li];
                if (L->split_done)
                    continue;
                double v;
                if (loss == MBT_LOSS_ABSOLUTE) {
                    for (uint32_t i = 0; i < L->count; i++) {
                        size_t r = g.idx[L->start + i];
                        wvbuf[i].v = (double)train->y[r] - score[r];
                        wvbuf[i].w = train->w ? (double)train->w[r] : 1.0;
                    }
                    v = weighted_median(wvbuf, L->count) * g.lr;
                } else {
                    v = -thresh_l1(L->g, g.l1) / (L->h + g.l2) * g.lr;
                }
                m->ens.value[L->node] = v;
            }
            score_job scj = {&g, &m->ens, score, K, k, (uint32_t)nrows};
            mbt_pool_run(g.pool, score_task, &scj);
            if (noob)
                walk_add(&m->ens, root, &d, oob, noob, score, K, k);
            if (nhold)
                walk_add(&m->ens, root, &d, hold_rows, nhold, score, K, k);
            if (valid)
                walk_add(&m->ens, root, &dv, NULL, valid->X.rows, vscore, K, k);
        }
        rounds_done = it + 1;
        double tl = NAN, vl = NAN;
        if (track || (ctx->progress)) {
            if (valid)
                vl = mean_loss(&lc, valid->y, valid->w, vscore, NULL, valid->X.rows);
            else if (nhold)
                vl = mean_loss(&lc, train->y, train->w, score, hold_rows, nhold);
        }
        if (ctx->progress)
            tl = mean_loss(&lc, train->y, train->w, score, train_rows, ntrain);
        char msg[96];
        snprintf(msg, sizeof msg, "tree %lld of %lld", (long long)(it + 1), (long long)p->n_trees);
        if (mbt_progress(ctx, (double)(it + 1) / (double)p->n_trees, msg, tl, vl)) {
            rc = mbt_fail(err, MB_PLUGIN_ECANCELLED, "cancelled after %lld trees", (long long)(it + 1));
            goto exit;
        }
        if (track) {
            /* the first round always improves on nothing: best_loss starts
            ** at infinity, and inf - 1e-12 * inf is NaN, which no loss beats */
            if (best_round == 0 || vl < best_loss - 1e-12 * fabs(best_loss)) {
                best_loss = vl;
                best_round = it + 1;
                since_best = 0;
            } else if (++since_best >= p->early_stopping_rounds) {
                break;
            }
        }
    }
    if (track && best_round > 0) {
        /* take the dropped trees' values back out of the training scores,
        ** so that they are the kept model's (for its training loss) */
        for (size_t t = (size_t)best_round * K; t < m->ens.ntrees; t++) {
            size_t k = (size_t)m->ens.tree_output[t];
            for (size_t i = 0; i < ntrain; i++) {
                size_t r = train_rows[i];
                int32_t leafn = mbt_ens_leaf_binned(&m->ens, m->ens.root[t], d.rowbins + r * d.cols, d.nb);
                score[r * K + k] -= m->ens.value[leafn];
            }
        }
        mbt_ens_truncate(&m->ens, (size_t)best_round * K);
        m->best_iteration = best_round;
    } else {
        m->best_iteration = rounds_done;
    }
    m->early_stopping = track;
    m->n_held_out = (int64_t)nhold; /* train_loss excludes them: hosts say so (fit_info) */
    m->train_loss = mean_loss(&lc, train->y, train->w, score, train_rows, ntrain);
    if (track && best_round > 0)
        m->valid_loss = best_loss;
    else if (valid)
        m->valid_loss = mean_loss(&lc, valid->y, valid->w, vscore, NULL, valid->X.rows);
    else if (nhold)
        m->valid_loss = mean_loss(&lc, train->y, train->w, score, hold_rows, nhold);
    else
        m->valid_loss = NAN;
    /* importance is read from the split nodes (feature, gain) on demand */
    m->task = train->task;
    m->nclasses = train->nclasses;
    m->nfeatures = F;
    m->threads = g.nt;
    rc = mbt_prepare_predict(m);
    if (rc != MB_PLUGIN_OK)
        goto nomem;
    m->fitted = 1;
    goto exit;
nomem:
    rc = mbt_fail(err, MB_PLUGIN_ENOMEM, "out of memory while fitting gbdt");
exit:
    if (rc != MB_PLUGIN_OK)
        mbt_model_clear(m);
    if (g.all_h)
        for (size_t i = 0; i < g.nall; i++)
            mbt_free(h, g.all_h[i]);
    mbt_free(h, g.all_h);
    mbt_free(h, g.pool_h);
    if (g.thist)
        for (int t = 1; t < g.nt; t++)
            mbt_free(h, g.thist[t]);
    mbt_free(h, g.thist);
    mbt_free(h, g.leaves);
    mbt_free(h, g.idx);
    mbt_free(h, g.tmp);
    mbt_free(h, g.q);
    mbt_free(h, g.qb);
    mbt_free(h, g.fmask);
    mbt_pool_free(&g.pool);
    mbt_binned_free(&d, h);
    mbt_binned_free(&dv, h);
    mbt_free(h, gh);
    mbt_free(h, score);
    mbt_free(h, vscore);
    mbt_free(h, sampled);
    mbt_free(h, perm);
    mbt_free(h, train_rows);
    mbt_free(h, hold_rows);
    mbt_free(h, oob);
    mbt_free(h, wvbuf);
    return rc;
}
