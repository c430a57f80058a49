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
** - Histograms are built row-parallel: each thread sums the row pieces
**   it takes into its own histogram, then slot ranges are reduced in
**   parallel. Sparse nodes are summed row by row (a row's bins share a
**   cache line), dense ones column-wise (eight features a pass over the
**   piece's rows). The two children's best splits are searched on two
**   threads.
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

#include "gbdt.h"

/* Add the final leaves' values to the scores of their rows: each thread
** takes a slice of the index array and the leaves overlapping it; the
** rows of a deferred split go to a side on the split's column.
**
** WHY two phases when the tree takes every row (bylid): a leaf's rows are
** increasing but sparse (at depth 6, one in 64), so updating scores leaf
** by leaf reads and writes a whole cache line of scores for every row, each
** line once per leaf it has rows of, from L3 (the scores of 400k rows are
** 3.2 MB). Phase 0 writes each row's leaf number instead (2 bytes a row,
** in L2), phase 1 adds the leaves' values to the scores in row order. The
** same one add a row, so the same bits. */
typedef struct score_job {
    const gb *g;
    const mbt_ensemble *e;
    double *score;
    size_t K, k;
    uint32_t nrows;
    uint16_t *lid;                /* bylid: each row's leaf */
    const double *lval;           /* bylid: each leaf's value */
    int phase;
} score_job;

static void score_task(void *arg, int tid, int nt)
{
    score_job *j = arg;
    const gb *g = j->g;
    size_t c0 = (size_t)j->nrows * (size_t)tid / (size_t)nt, c1 = (size_t)j->nrows * (size_t)(tid + 1) / (size_t)nt;
    size_t K = j->K, k = j->k;
    if (j->phase == 1) {
        /* rows c0..c1 in order (bylid: the tree's rows are 0..n-1) */
        size_t r = c0;
        if (K == 1 && mbt_avx512_ok()) /* the same adds, eight rows at a time */
            mbt_gb_add_lval_simd(j->score, j->lid, j->lval, c0, c1, &r);
        for (; r < c1; r++)
            j->score[r * K + k] += j->lval[j->lid[r]];
        return;
    }
    for (size_t li = 0; li < g->nleaves; li++) {
        const leaf *L = &g->leaves[li];
        if (L->deferred && !L->split_done)
            continue;
        if (L->split_done && !L->deferred)
            continue;
        size_t a = L->start > c0 ? L->start : c0, b = (size_t)L->start + L->count < c1 ? (size_t)L->start + L->count : c1;
        if (L->split_done) {
            uint8_t lut[256];
            mbt_gb_split_lut(g, L, lut);
            const uint8_t *col = g->d->colbins + (size_t)L->best.feature * g->n;
            if (j->lid) {
                uint16_t side[2] = {(uint16_t)L->child[1], (uint16_t)L->child[0]};
                for (size_t i = a; i < b; i++) {
                    size_t r = g->idx[i];
                    j->lid[r] = side[lut[col[r]]];
                }
                continue;
            }
            double v[2] = {j->e->value[g->leaves[L->child[1]].node], j->e->value[g->leaves[L->child[0]].node]};
            for (size_t i = a; i < b; i++) {
                size_t r = g->idx[i];
                j->score[r * K + k] += v[lut[col[r]]];
            }
            continue;
        }
        if (j->lid) {
            for (size_t i = a; i < b; i++)
                j->lid[g->idx[i]] = (uint16_t)li;
            continue;
        }
        double v = j->e->value[L->node];
        for (size_t i = a; i < b; i++)
            j->score[(size_t)g->idx[i] * K + k] += v;
    }
}

/* The scores of the tree's nrows rows updated (score_task); OK or ENOMEM.
** With *pending (not NULL), phase 1 is left to the next round's gradient
** pass (mbt_gb_grad_task), which then reads every score anyway: *pending
** gets the leaves' values (the rows' leaves stay in g->tmp), or NULL when
** the update was done here. */
static int update_scores(const gb *g, const mbt_ensemble *e, double *score, size_t K, size_t k, uint32_t nrows,
                         double **pending)
{
    score_job j = {g, e, score, K, k, nrows, NULL, NULL, 0};
    double *lval = NULL;
    if (pending)
        *pending = NULL;
    if (nrows == g->n && g->nleaves <= 65536) {
        lval = mbt_alloc(g->host, g->nleaves * sizeof *lval);
        if (!lval)
            return MB_PLUGIN_ENOMEM;
        for (size_t li = 0; li < g->nleaves; li++)
            lval[li] = e->value[g->leaves[li].node];
        j.lid = (uint16_t *)(void *)g->tmp; /* free after the growth; n x 4 bytes */
        j.lval = lval;
    }
    mbt_pool_run(g->pool, score_task, &j);
    if (lval && pending && K == 1) {
        *pending = lval;
        return MB_PLUGIN_OK;
    }
    if (lval) {
        j.phase = 1;
        mbt_pool_run(g->pool, score_task, &j);
        mbt_free(g->host, lval);
    }
    return MB_PLUGIN_OK;
}

/* The update left to the gradient pass, done now (phase 1 of score_task). */
static void flush_scores(const gb *g, double *score, double **pending)
{
    if (!*pending)
        return;
    score_job j = {g, NULL, score, 1, 0, (uint32_t)g->n, (uint16_t *)(void *)g->tmp, *pending, 1};
    mbt_pool_run(g->pool, score_task, &j);
    mbt_free(g->host, *pending);
    *pending = NULL;
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

/* The state of one fit, shared by its steps (fit_* below). */
typedef struct fit {
    mbt_model *m;
    const mb_host *h;
    const mbt_params *p;
    const mb_dataset *train, *valid;
    const mb_fit_context *ctx;
    int loss;
    size_t n, F, K;
    mbt_binned d, dv;
    gb g;
    float *gh;
    double *score, *vscore;
    uint32_t *train_rows, *hold_rows, *oob, *sampled, *perm;
    wv *wvbuf;
    size_t ntrain, nhold, ncol;
    lossctx lc;
    mbt_rng rng;
    int defer_scores;             /* nothing reads the scores between rounds: see update_scores */
    double *pending;              /* the last tree's leaf values, its update not yet done */
} fit;

static int oom(char *err) { return mbt_fail(err, MB_PLUGIN_ENOMEM, "out of memory while fitting gbdt"); }

/* The loss (auto resolved) and the limits of the data; 0 when fine. */
static int fit_check(fit *s, char *err)
{
    const mbt_params *p = s->p;
    const mb_dataset *train = s->train;
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
    if (s->n > ((size_t)1 << 30))
        return mbt_fail(err, MB_PLUGIN_EINVAL, "too many rows (%zu; at most 2^30)", s->n); /* quantised sums */
    if (s->F > ((size_t)1 << 22))
        return mbt_fail(err, MB_PLUGIN_EINVAL, "too many features (%zu; at most 2^22)", s->F);
    if (p->growth == MBT_GROW_DEPTHWISE && p->max_depth == 0 && p->max_leaves == 0)
        return mbt_fail(err, MB_PLUGIN_EINVAL, "unlimited depth needs a max_leaves limit");
    s->loss = loss;
    s->K = loss == MBT_LOSS_SOFTMAX ? train->nclasses : 1;
    s->lc.loss = loss;
    s->lc.K = s->K;
    s->lc.delta = p->huber_delta;
    return MB_PLUGIN_OK;
}

/* Train rows and the held-out part for early stopping (the fit's first
** draws from its random stream), and the labels and weights of the train
** rows checked. */
static int fit_rows(fit *s, char *err)
{
    const mb_dataset *train = s->train;
    size_t n = s->n, K = s->K;
    s->train_rows = mbt_alloc(s->h, n * sizeof *s->train_rows);
    s->hold_rows = mbt_alloc(s->h, n * sizeof *s->hold_rows);
    s->oob = mbt_alloc(s->h, n * sizeof *s->oob);
    if (!s->train_rows || !s->hold_rows || !s->oob)
        return oom(err);
    int hold = s->p->early_stopping_rounds > 0 && !s->valid;
    for (size_t r = 0; r < n; r++) {
        if (hold && mbt_rng_unif(&s->rng) < s->p->validation_fraction)
            s->hold_rows[s->nhold++] = (uint32_t)r;
        else
            s->train_rows[s->ntrain++] = (uint32_t)r;
    }
    if (s->ntrain == 0)
        return mbt_fail(err, MB_PLUGIN_EINVAL, "no training rows left after holding out the validation part");
    for (size_t i = 0; i < s->ntrain; i++) {
        size_t r = s->train_rows[i];
        if (isnan(train->y[r]) || (train->w && !(train->w[r] >= 0.0f)))
            return mbt_fail(err, MB_PLUGIN_EINVAL, "row %zu has a missing label or a bad weight", r);
        if (K > 1 && (train->y[r] < 0 || (size_t)train->y[r] >= K))
            return mbt_fail(err, MB_PLUGIN_EINVAL, "row %zu has class %g, outside 0..%zu", r,
                            (double)train->y[r], K - 1);
    }
    return MB_PLUGIN_OK;
}

/* The base score from the train rows: log-odds, centred log class
** frequencies, the weighted median (absolute loss) or the mean. */
static int fit_base_score(fit *s, char *err)
{
    const mb_dataset *train = s->train;
    mbt_ensemble *e = &s->m->ens;
    size_t K = s->K;
    double sw = 0.0, sy = 0.0, cls[256] = {0};
    for (size_t i = 0; i < s->ntrain; i++) {
        size_t r = s->train_rows[i];
        double wt = train->w ? (double)train->w[r] : 1.0;
        sw += wt;
        sy += wt * (double)train->y[r];
        if (K > 1)
            cls[(size_t)train->y[r]] += wt;
    }
    if (!(sw > 0))
        return mbt_fail(err, MB_PLUGIN_EINVAL, "the sample weights sum to zero");
    double mean = sy / sw;
    if (s->loss == MBT_LOSS_LOGLOSS) {
        double pr = mean < 1e-15 ? 1e-15 : mean > 1 - 1e-15 ? 1 - 1e-15 : mean;
        e->base_score[0] = log(pr / (1 - pr));
    } else if (s->loss == MBT_LOSS_SOFTMAX) {
        double avg = 0.0;
        for (size_t k = 0; k < K; k++) {
            double pr = cls[k] / sw;
            e->base_score[k] = log(pr < 1e-15 ? 1e-15 : pr);
            avg += e->base_score[k] / (double)K;
        }
        for (size_t k = 0; k < K; k++)
            e->base_score[k] -= avg;
    } else if (s->loss == MBT_LOSS_ABSOLUTE) {
        s->wvbuf = mbt_alloc(s->h, s->n * sizeof *s->wvbuf);
        if (!s->wvbuf)
            return oom(err);
        for (size_t i = 0; i < s->ntrain; i++) {
            size_t r = s->train_rows[i];
            s->wvbuf[i].v = (double)train->y[r];
            s->wvbuf[i].w = train->w ? (double)train->w[r] : 1.0;
        }
        e->base_score[0] = mbt_gb_weighted_median(s->wvbuf, s->ntrain);
    } else {
        e->base_score[0] = mean;
    }
    return MB_PLUGIN_OK;
}

/* Working memory, the grower's settings, the scores at the base score
** (and the binned validation set with its scores). */
static int fit_setup(fit *s, char *err)
{
    const mb_host *h = s->h;
    const mbt_params *p = s->p;
    size_t n = s->n, F = s->F, K = s->K;
    gb *g = &s->g;
    s->gh = mbt_alloc(h, K * n * 2 * sizeof *s->gh);
    s->score = mbt_alloc(h, K * n * sizeof *s->score);
    s->sampled = mbt_alloc(h, n * sizeof *s->sampled);
    s->perm = mbt_alloc(h, F * sizeof *s->perm);
    g->idx = mbt_alloc(h, n * sizeof *g->idx);
    g->tmp = mbt_alloc(h, n * sizeof *g->tmp);
    g->q = mbt_alloc(h, n * sizeof *g->q);
    g->qb = mbt_alloc(h, n * sizeof *g->qb);
    g->fmask = mbt_alloc(h, F);
    g->thist = mbt_calloc(h, (size_t)g->nt, sizeof *g->thist);
    if (!s->gh || !s->score || !s->sampled || !s->perm || !g->idx || !g->tmp || !g->q || !g->qb || !g->fmask ||
        !g->thist)
        return oom(err);
    const double *base = s->m->ens.base_score;
    for (size_t r = 0; r < n; r++)
        for (size_t k = 0; k < K; k++)
            s->score[r * K + k] = base[k];
    g->host = h;
    g->p = p;
    g->d = &s->d;
    g->bins = &s->m->bins;
    g->ens = &s->m->ens;
    g->n = n;
    g->F = F;
    g->nslots = (uint32_t)(F * HSTRIDE);
    g->defer_ok = s->loss != MBT_LOSS_ABSOLUTE;
    g->lr = p->learning_rate;
    g->l1 = p->lambda_l1;
    g->l2 = p->lambda_l2;
    for (int t = 1; t < g->nt; t++)
        if (!(g->thist[t] = mbt_alloc(h, g->nslots * sizeof(hbin))))
            return oom(err);
    if (s->valid) {
        int rc = mbt_bin_data(&s->dv, h, &s->m->bins, &s->valid->X, 1, 0, g->pool, err);
        if (rc != MB_PLUGIN_OK)
            return rc;
        size_t nv = s->valid->X.rows;
        s->vscore = mbt_alloc(h, K * nv * sizeof *s->vscore);
        if (!s->vscore)
            return oom(err);
        for (size_t r = 0; r < nv; r++)
            for (size_t k = 0; k < K; k++)
                s->vscore[r * K + k] = base[k];
    }
    size_t ncol = (size_t)llround(p->colsample * (double)F);
    s->ncol = ncol < 1 ? 1 : ncol > F ? F : ncol;
    return MB_PLUGIN_OK;
}

/* The columns of one tree: ncol of F drawn without replacement (a
** partial Fisher-Yates shuffle), or all. */
static void fit_columns(fit *s)
{
    size_t F = s->F;
    if (s->ncol >= F) {
        memset(s->g.fmask, 1, F);
        return;
    }
    for (size_t f = 0; f < F; f++) {
        s->perm[f] = (uint32_t)f;
        s->g.fmask[f] = 0;
    }
    for (size_t i = 0; i < s->ncol; i++) {
        size_t jx = i + (size_t)mbt_rng_below(&s->rng, F - i);
        uint32_t t = s->perm[i];
        s->perm[i] = s->perm[jx];
        s->perm[jx] = t;
        s->g.fmask[s->perm[i]] = 1;
    }
}

/* Tree of output k in round it over g.idx[0..nrows): grown, its leaf
** values set and added to the scores of every row it concerns. */
static int fit_tree(fit *s, int64_t it, size_t k, size_t nrows, size_t noob, const float mm[3], char *err)
{
    gb *g = &s->g;
    mbt_ensemble *e = &s->m->ens;
    const mb_dataset *train = s->train;
    size_t n = s->n, K = s->K;
    g->gh = s->gh + k * 2 * n;
    hbin qsum = mbt_gb_quantise(g, (uint32_t)nrows, s->ctx->seed * 0x2545f4914f6cdd1dULL ^ (uint64_t)(it * (int64_t)K + (int64_t)k),
                                K == 1 && nrows == n ? mm : NULL);
    int32_t t = mbt_ens_add_tree(e, s->h, (int32_t)k);
    if (t < 0)
        return oom(err);
    int32_t root = e->root[t];
    if (mbt_gb_grow_tree(g, root, (uint32_t)nrows, qsum) != MB_PLUGIN_OK)
        return oom(err);
    for (size_t li = 0; li < g->nleaves; li++) {
        leaf *L = &g->leaves[li];
        if (L->split_done)
            continue;
        double v;
        if (s->loss == MBT_LOSS_ABSOLUTE) {
            for (uint32_t i = 0; i < L->count; i++) {
                size_t r = g->idx[L->start + i];
                s->wvbuf[i].v = (double)train->y[r] - s->score[r];
                s->wvbuf[i].w = train->w ? (double)train->w[r] : 1.0;
            }
            v = mbt_gb_weighted_median(s->wvbuf, L->count) * g->lr;
        } else {
            v = -mbt_gb_thresh_l1(L->g, g->l1) / (L->h + g->l2) * g->lr;
        }
        e->value[L->node] = v;
    }
    if (update_scores(g, e, s->score, K, k, (uint32_t)nrows, s->defer_scores ? &s->pending : NULL) != MB_PLUGIN_OK)
        return oom(err);
    if (noob)
        walk_add(e, root, &s->d, s->oob, noob, s->score, K, k);
    if (s->nhold)
        walk_add(e, root, &s->d, s->hold_rows, s->nhold, s->score, K, k);
    if (s->valid)
        walk_add(e, root, &s->dv, NULL, s->valid->X.rows, s->vscore, K, k);
    return MB_PLUGIN_OK;
}

/* Round it: gradients, the round's rows (subsampling draws before the
** trees' column draws), then one tree per output. */
static int fit_round(fit *s, int64_t it, char *err)
{
    gb *g = &s->g;
    const mbt_params *p = s->p;
    grad_job gj = {&s->lc, s->train->y, s->train->w, s->score, s->gh, s->n, {{0}},
                   s->pending ? (const uint16_t *)(const void *)g->tmp : NULL, s->pending};
    mbt_pool_run(g->pool, mbt_gb_grad_task, &gj);
    mbt_free(s->h, s->pending);
    s->pending = NULL;
    float mm[3] = {0.0f, INFINITY, 0.0f}; /* max |g|, min h, max h over all rows */
    for (int t = 0; t < g->nt; t++) {
        mm[0] = gj.mm[t][0] > mm[0] ? gj.mm[t][0] : mm[0];
        mm[1] = gj.mm[t][1] < mm[1] ? gj.mm[t][1] : mm[1];
        mm[2] = gj.mm[t][2] > mm[2] ? gj.mm[t][2] : mm[2];
    }
    size_t nrows = 0, noob = 0;
    if (p->subsample < 1.0) {
        for (size_t i = 0; i < s->ntrain; i++) {
            if (mbt_rng_unif(&s->rng) < p->subsample)
                s->sampled[nrows++] = s->train_rows[i];
            else
                s->oob[noob++] = s->train_rows[i];
        }
        if (nrows == 0)
            s->sampled[nrows++] = s->oob[--noob];
    }
    for (size_t k = 0; k < s->K; k++) {
        if (p->subsample >= 1.0) {
            /* a tree of every train row with its extremes known (fit_tree):
            ** no pass reads idx before quantisation's, whose threads copy
            ** the rows in (a serial 3.2 MB copy a tree for clf_1m) */
            if (s->K == 1 && s->ntrain == s->n)
                g->rows_src = s->train_rows;
            else
                memcpy(g->idx, s->train_rows, s->ntrain * sizeof *g->idx);
            nrows = s->ntrain;
        } else {
            memcpy(g->idx, s->sampled, nrows * sizeof *g->idx);
        }
        fit_columns(s);
        int rc = fit_tree(s, it, k, nrows, noob, mm, err);
        if (rc != MB_PLUGIN_OK)
            return rc;
    }
    return MB_PLUGIN_OK;
}

/* The boosting rounds with progress, cancellation and early stopping;
** the kept model's losses and best iteration to the model. */
static int fit_rounds(fit *s, char *err)
{
    const mbt_params *p = s->p;
    const mb_dataset *train = s->train, *valid = s->valid;
    mbt_model *m = s->m;
    size_t K = s->K;
    double best_loss = INFINITY;
    int64_t best_round = 0, since_best = 0, rounds_done = 0;
    int track = p->early_stopping_rounds > 0 && (valid || s->nhold > 0);
    s->defer_scores = K == 1 && !track && !s->ctx->progress;
    for (int64_t it = 0; it < p->n_trees; it++) {
        int rc = fit_round(s, it, err);
        if (rc != MB_PLUGIN_OK)
            return rc;
        rounds_done = it + 1;
        double tl = NAN, vl = NAN;
        if (track || (s->ctx->progress)) {
            if (valid)
                vl = mbt_gb_mean_loss(&s->lc, valid->y, valid->w, s->vscore, NULL, valid->X.rows);
            else if (s->nhold)
                vl = mbt_gb_mean_loss(&s->lc, train->y, train->w, s->score, s->hold_rows, s->nhold);
        }
        if (s->ctx->progress)
            tl = mbt_gb_mean_loss(&s->lc, train->y, train->w, s->score, s->train_rows, s->ntrain);
        char msg[96];
        snprintf(msg, sizeof msg, "tree %lld of %lld", (long long)(it + 1), (long long)p->n_trees);
        if (mbt_progress(s->ctx, (double)(it + 1) / (double)p->n_trees, msg, tl, vl))
            return mbt_fail(err, MB_PLUGIN_ECANCELLED, "cancelled after %lld trees", (long long)(it + 1));
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
    flush_scores(&s->g, s->score, &s->pending);
    if (track && best_round > 0) {
        /* take the dropped trees' values back out of the training scores,
        ** so that they are the kept model's (for its training loss) */
        for (size_t t = (size_t)best_round * K; t < m->ens.ntrees; t++) {
            size_t k = (size_t)m->ens.tree_output[t];
            for (size_t i = 0; i < s->ntrain; i++) {
                size_t r = s->train_rows[i];
                int32_t leafn = mbt_ens_leaf_binned(&m->ens, m->ens.root[t], s->d.rowbins + r * s->d.cols, s->d.nb);
                s->score[r * K + k] -= m->ens.value[leafn];
            }
        }
        mbt_ens_truncate(&m->ens, (size_t)best_round * K);
        m->best_iteration = best_round;
    } else {
        m->best_iteration = rounds_done;
    }
    m->early_stopping = track;
    m->n_held_out = (int64_t)s->nhold; /* train_loss excludes them: hosts say so (fit_info) */
    m->train_loss = mbt_gb_mean_loss(&s->lc, train->y, train->w, s->score, s->train_rows, s->ntrain);
    if (track && best_round > 0)
        m->valid_loss = best_loss;
    else if (valid)
        m->valid_loss = mbt_gb_mean_loss(&s->lc, valid->y, valid->w, s->vscore, NULL, valid->X.rows);
    else if (s->nhold)
        m->valid_loss = mbt_gb_mean_loss(&s->lc, train->y, train->w, s->score, s->hold_rows, s->nhold);
    else
        m->valid_loss = NAN;
    return MB_PLUGIN_OK;
}

static void fit_free(fit *s)
{
    const mb_host *h = s->h;
    gb *g = &s->g;
    if (g->all_h)
        for (size_t i = 0; i < g->nall; i++)
            mbt_free(h, g->all_h[i]);
    mbt_free(h, g->all_h);
    mbt_free(h, g->pool_h);
    if (g->thist)
        for (int t = 1; t < g->nt; t++)
            mbt_free(h, g->thist[t]);
    mbt_free(h, g->thist);
    mbt_free(h, g->leaves);
    mbt_free(h, g->idx);
    mbt_free(h, g->tmp);
    mbt_free(h, g->q);
    mbt_free(h, g->qb);
    mbt_free(h, g->fmask);
    mbt_pool_free(&g->pool);
    mbt_binned_free(&s->d, h);
    mbt_binned_free(&s->dv, h);
    mbt_free(h, s->gh);
    mbt_free(h, s->score);
    mbt_free(h, s->vscore);
    mbt_free(h, s->sampled);
    mbt_free(h, s->perm);
    mbt_free(h, s->train_rows);
    mbt_free(h, s->hold_rows);
    mbt_free(h, s->oob);
    mbt_free(h, s->wvbuf);
    mbt_free(h, s->pending);
}

/* The fit's steps in order; the random stream is drawn from by fit_rows
** (held-out rows), then per round by the subsampling and per tree by the
** column draw, so the trees depend only on the seed. */
int mbt_gbdt_fit(mbt_model *m, const mb_dataset *train, const mb_dataset *valid,
                 const mb_fit_context *ctx, char *err)
{
    fit s = {0};
    s.m = m;
    s.h = m->host;
    s.p = &m->p;
    s.train = train;
    s.valid = valid;
    s.ctx = ctx;
    s.n = train->X.rows;
    s.F = train->X.cols;
    mbt_rng_seed(&s.rng, ctx->seed);
    int rc = fit_check(&s, err);
    if (rc != MB_PLUGIN_OK)
        return rc;
    s.g.pool = mbt_pool_new(s.h, ctx->threads > 64 ? 64 : ctx->threads); /* job arrays hold 64 */
    if (!s.g.pool) {
        rc = oom(err);
        goto exit;
    }
    s.g.nt = mbt_pool_size(s.g.pool);
    if ((rc = mbt_bins_fit(&m->bins, s.h, &train->X, (int)s.p->max_bins, ctx->seed, s.g.pool, err)) != MB_PLUGIN_OK ||
        (rc = mbt_bin_data(&s.d, s.h, &m->bins, &train->X, 1, 1, s.g.pool, err)) != MB_PLUGIN_OK)
        goto exit;
    if (mbt_ens_init(&m->ens, s.h, s.F, s.K, 1) != MB_PLUGIN_OK) {
        rc = oom(err);
        goto exit;
    }
    m->ens.link = s.loss == MBT_LOSS_LOGLOSS ? MB_LINK_LOGISTIC : s.loss == MBT_LOSS_SOFTMAX ? MB_LINK_SOFTMAX
                                                                                            : MB_LINK_IDENTITY;
    m->ens.average = 0;
    if ((rc = fit_rows(&s, err)) != MB_PLUGIN_OK || (rc = fit_base_score(&s, err)) != MB_PLUGIN_OK ||
        (rc = fit_setup(&s, err)) != MB_PLUGIN_OK || (rc = fit_rounds(&s, err)) != MB_PLUGIN_OK)
        goto exit;
    /* importance is read from the split nodes (feature, gain) on demand */
    m->task = train->task;
    m->nclasses = train->nclasses;
    m->nfeatures = s.F;
    m->threads = s.g.nt;
    if (mbt_prepare_predict(m) != MB_PLUGIN_OK)
        rc = oom(err);
    else
        m->fitted = 1;
exit:
    if (rc != MB_PLUGIN_OK)
        mbt_model_clear(m);
    fit_free(&s);
    return rc;
}
