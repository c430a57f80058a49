/*
** gbdt_grow.c: growing one gbdt tree: split search, partitioning, leaf-wise
** and level-wise growth. See gbdt.c for the design.
*/
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gbdt.h"

/* {====== split finding ======} */

static double leaf_score(const gb *g, double G, double H)
{
    double t = mbt_gb_thresh_l1(G, g->l1);
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
    int simd = mbt_avx512_ok();
    gain_ctx gc = {G, Hs, parent, ig, ih, cnt_factor, min_cnt, mcw, g->l1, g->l2};
    for (size_t f = 0; f < g->F; f++) {
        if (!g->fmask[f])
            continue;
        int nb = g->d->nb[f];
        const hbin *H = L->hist + f * HSTRIDE;
        hbin qn = H[nb];
        int has_nan = q_h(qn) > 0 || q_g(qn) != 0;
        if (simd) {
            /* the gains eight bins at a time (gbdt_simd.c), then the same
            ** scan in the same order: the same best split. Eight bins that
            ** are shown not to beat the best so far are neither computed
            ** nor scanned (most of them, 92% in a reg_500k fit). */
            hbin qs[HSTRIDE + 8], acc = 0;
            double gr[HSTRIDE + 8], gl[HSTRIDE + 8];
            int b = 0;
            for (; b < nb; b++)
                qs[b] = acc += H[b];
            for (; b % 8; b++)
                qs[b] = 0;
            uint32_t blocks = mbt_gb_gains_simd(&gc, qs, qn, nb, gr, has_nan ? gl : NULL, best);
            for (b = 0; b < nb; b++) {
                if (!(blocks >> (b / 8) & 1)) { /* eight bins none of which can win */
                    b |= 7;
                    continue;
                }
                if (b == nb - 1 && !has_nan)
                    break;
                if (gr[b] > best) {
                    double HL = (double)q_h(qs[b]) * ih;
                    best = bs.gain = gr[b];
                    bs.feature = (int32_t)f;
                    bs.bin = b;
                    bs.default_left = !has_nan && HL > Hs - HL;
                    bs.ql = qs[b];
                }
                if (has_nan && b < nb - 1 && gl[b] > best) {
                    best = bs.gain = gl[b];
                    bs.feature = (int32_t)f;
                    bs.bin = b;
                    bs.default_left = 1;
                    bs.ql = qs[b] + qn;
                }
            }
            continue;
        }
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
    const leaf *L;
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
        size_t lp = c0, rp = c1, i = c0;
        const uint8_t *col = j->col, *lut = j->lut;
        if (mbt_avx512_ok()) { /* the same, 16 rows at a time (gbdt_simd.c) */
            const leaf *L = j->L;
            size_t done;
            lp += mbt_gb_part_simd(idx + c0, c1 - c0, col, L->best.bin, j->g->d->nb[L->best.feature],
                                   L->best.default_left, tmp + c0, tmp + c1, 1, &done);
            i = c0 + done;
            rp -= done - (lp - c0);
        }
        /* branch-free: the side is random, so a branch would mispredict */
        for (; i < c1; i++) {
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

void mbt_gb_split_lut(const gb *g, const leaf *L, uint8_t lut[256])
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
    uint32_t nl = 0, nr = 0, i = 0;
    if (mbt_avx512_ok()) { /* the same partition, 16 rows at a time (gbdt_simd.c) */
        size_t done;
        nl = (uint32_t)mbt_gb_part_simd(idx, L->count, col, L->best.bin, g->d->nb[L->best.feature],
                                        L->best.default_left, idx, tmp, 0, &done);
        i = (uint32_t)done;
        nr = i - nl;
    }
    for (; i < L->count; i++) {
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
    j.L = L;
    mbt_gb_split_lut(g, L, j.lut);
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
        mbt_gb_hist_put(g, parent);
        return MB_PLUGIN_OK;
    }
    A->start = L->start;
    A->count = nl;
    B->start = L->start + nl;
    B->count = L->count - nl;
    if (!may_split(g, A) && !may_split(g, B)) {
        mbt_gb_hist_put(g, parent);
        return MB_PLUGIN_OK;
    }
    int small = A->count <= B->count ? 0 : 1;
    leaf *S = small == 0 ? A : B, *Lg = small == 0 ? B : A;
    S->hist = mbt_gb_hist_get(g);
    if (!S->hist) {
        mbt_gb_hist_put(g, parent);
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
        mbt_gb_hist_put(g, L->hist);
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
    mbt_gb_build_hist(g, S->hist, sibling(g, (size_t)si)->hist, S->start, S->count);
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
** its share to the others); a leaf heavier than a thread's share of the
** leaves from it on, and a last one left alone, keeps its own row- or
** column-parallel path. Leaves own disjoint row ranges, and so disjoint
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
            mbt_gb_split_lut(g, L, lut);
            j->nl[i] = part_serial(g, L, lut, g->d->colbins + (size_t)L->best.feature * g->n);
        } else if (j->stage == 1) {
            mbt_gb_hist_serial(g, L->hist, sibling(g, j->leaf[i])->hist, L->start, L->count);
        } else {
            find_split(g, L);
        }
    }
}

/* Sort n items of weights w into j's order, heaviest first: the first
** *nbig are heavier than a thread's share of the items from them on (or
** the last item left) and are the caller's, each on every thread, the
** rest the threads', whole; j->next starts at the first of those.
** WHY "from them on": of two leaves of 250k and 150k rows the first is
** the caller's, and the second, alone in a job, kept one thread busy and
** the other idle. */
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
    while (b < n && (n - b == 1 || wi[b].w * (uint64_t)nt > total))
        total -= wi[b++].w;
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
        mbt_gb_build_hist(g, S->hist, sibling(g, item[wi[k].i])->hist, S->start, S->count);
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
int mbt_gb_grow_tree(gb *g, int32_t root, uint32_t nrows, hbin q)
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
        R->hist = mbt_gb_hist_get(g);
        if (!R->hist)
            return MB_PLUGIN_ENOMEM;
        mbt_gb_build_hist(g, R->hist, NULL, 0, nrows);
        find_split(g, R);
        if (R->best.feature < 0) {
            mbt_gb_hist_put(g, R->hist);
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
            mbt_gb_hist_put(g, g->leaves[pick].hist);
            g->leaves[pick].hist = NULL;
        }
    }
    for (size_t i = 0; i < g->nleaves; i++)
        if (g->leaves[i].hist) {
            mbt_gb_hist_put(g, g->leaves[i].hist);
            g->leaves[i].hist = NULL;
        }
    return MB_PLUGIN_OK;
}
