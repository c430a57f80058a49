/*
** forest.c: decision trees (the "cart" model) and random forests (the
** "forest" model) on binned features, with impurity criteria.
**
** DESIGN
** - A tree grows depth-first over an index array; each node owns a range
**   of it and a split partitions the range stably. At a node, each sampled
**   feature's histogram (per bin: class weights + row count, or
**   sum w*y, sum w, row count) is built from the column-major bins and
**   scanned; NaN rows try both sides, the better one is the default.
** - Impurity cost of a node is N_t * impurity_t (gini: W - sum c^2 / W,
**   entropy: W log W - sum c log c, squared error: -S^2 / W, whose missing
**   sum w*y^2 term cancels in every difference); a split's gain is the cost
**   decrease, and min_impurity_decrease compares gain / W_root, as
**   scikit-learn does.
** - Leaves hold class probabilities (binary: P(class 1) alone) or means, so
**   the portable form averages trees with an identity link.
** - The forest builds trees in batches, one tree per thread, each from its
**   own random stream (seed, tree index), and appends them in tree order:
**   results depend on the seed only, not on the thread count.
** - CART can be pruned by minimal cost-complexity (ccp_alpha).
*/
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "trees.h"

/* {====== one tree under construction ======} */

typedef struct ltree {
    size_t n, cap, lw;
    int32_t *feature, *tbin, *left, *right;
    uint8_t *dl;
    double *gain, *cost, *value;
    double *cover;                /* weight sum of the node's rows */
} ltree;

static void ltree_free(const mb_host *h, ltree *t)
{
    mbt_free(h, t->feature);
    mbt_free(h, t->tbin);
    mbt_free(h, t->left);
    mbt_free(h, t->right);
    mbt_free(h, t->dl);
    mbt_free(h, t->gain);
    mbt_free(h, t->cost);
    mbt_free(h, t->cover);
    mbt_free(h, t->value);
    memset(t, 0, sizeof *t);
}


static int32_t ltree_add(const mb_host *h, ltree *t)
{
    if (t->n == t->cap) {
        size_t c = t->cap ? t->cap * 2 : 64;
        MBT_GROW(h, t->feature, c);
        MBT_GROW(h, t->tbin, c);
        MBT_GROW(h, t->left, c);
        MBT_GROW(h, t->right, c);
        MBT_GROW(h, t->dl, c);
        MBT_GROW(h, t->gain, c);
        MBT_GROW(h, t->cost, c);
        MBT_GROW(h, t->cover, c);
        MBT_GROW(h, t->value, c * t->lw);
        t->cap = c;
    }
    size_t i = t->n++;
    t->feature[i] = -1;
    t->tbin[i] = 0;
    t->left[i] = t->right[i] = -1;
    t->dl[i] = 0;
    t->gain[i] = t->cost[i] = t->cover[i] = 0.0;
    return (int32_t)i;
}

/* {====== shared fit state ======} */

typedef struct fctx {
    const mb_host *host;
    const mbt_params *p;
    const mbt_binned *d;
    const float *y, *w;
    const uint16_t *cls;          /* class of each row (classification) */
    size_t n, F, K, S, lw, mtry;  /* K = classes (0 regression), S = stats width */
    int crit;
    uint64_t seed;
    double wroot_min_decrease;    /* min_impurity_decrease * W_root (set per tree) */
    int forest;
    const uint32_t *rows;         /* training rows */
    size_t nrows;
} fctx;

typedef struct fstack {
    uint32_t start, count;
    int32_t node;
    int depth;
} fstack;

typedef struct fws {
    uint32_t *idx, *tmp, *cnt, *perm;
    float *wr;
    double *hist, *tot, *lst, *bst, *sst;
    fstack *stack;
    size_t cap_stack;
    double *oob_acc;              /* n * lw */
    uint32_t *oob_n;              /* n */
    ltree tree;
    int rc;
} fws;

/* N_t * impurity of a stats vector */
static double cost(const fctx *c, const double *s)
{
    if (c->K == 0) {
        double W = s[1];
        return W > 0 ? -s[0] * s[0] / W : 0.0;
    }
    double W = 0.0;
    for (size_t k = 0; k < c->K; k++)
        W += s[k];
    if (!(W > 0))
        return 0.0;
    if (c->crit == MBT_CRIT_ENTROPY) {
        double r = W * log(W);
        for (size_t k = 0; k < c->K; k++)
            if (s[k] > 0)
                r -= s[k] * log(s[k]);
        return r;
    }
    double q = 0.0;
    for (size_t k = 0; k < c->K; k++)
        q += s[k] * s[k];
    return W - q / W;
}

static double weight_of(const fctx *c, const double *s)
{
    if (c->K == 0)
        return s[1];
    double W = 0.0;
    for (size_t k = 0; k < c->K; k++)
        W += s[k];
    return W;
}

static void leaf_value(const fctx *c, const double *s, double *v)
{
    if (c->K == 0) {
        v[0] = s[1] > 0 ? s[0] / s[1] : 0.0;
        return;
    }
    double W = weight_of(c, s);
    if (c->K == 2) {
        v[0] = W > 0 ? s[1] / W : 0.5;
        return;
    }
    for (size_t k = 0; k < c->K; k++)
        v[k] = W > 0 ? s[k] / W : 1.0 / (double)c->K;
}

/* Add row r's stats to s. */
static inline void add_row(const fctx *c, double *s, size_t r, double wr)
{
    if (c->K == 0) {
        s[0] += wr * (double)c->y[r];
        s[1] += wr;
        s[2] += 1.0;
    } else {
        s[c->cls[r]] += wr;
        s[c->K] += 1.0;
    }
}

typedef struct fsplit {
    double gain;
    int32_t feature, bin;
    int dl;
} fsplit;

static void best_split(const fctx *c, fws *ws, uint32_t start, uint32_t count, const double *tot,
                       double ptotcost, mbt_rng *rng, fsplit *bs)
{
    size_t S = c->S, F = c->F;
    double msl = (double)c->p->min_samples_leaf;
    double eps = 1e-12 * (fabs(ptotcost) + weight_of(c, tot)) + 1e-300;
    bs->gain = 0.0;
    bs->feature = -1;
    for (size_t f = 0; f < F; f++)
        ws->perm[f] = (uint32_t)f;
    size_t mtry = c->mtry;
    for (size_t i = 0; i < mtry; i++) {
        if (mtry < F) {
            size_t j = i + (size_t)mbt_rng_below(rng, F - i);
            uint32_t t = ws->perm[i];
            ws->perm[i] = ws->perm[j];
            ws->perm[j] = t;
        }
        size_t f = ws->perm[i];
        int nb = c->d->nb[f];
        const uint8_t *col = c->d->colbins + f * c->n;
        double *H = ws->hist;
        memset(H, 0, (size_t)(nb + 1) * S * sizeof *H);
        const uint32_t *ids = ws->idx + start;
        if (c->K == 0) {
            for (uint32_t k = 0; k < count; k++) {
                uint32_t r = ids[k];
                double *hb = H + (size_t)col[r] * 3;
                double wr = (double)ws->wr[r];
                hb[0] += wr * (double)c->y[r];
                hb[1] += wr;
                hb[2] += 1.0;
            }
        } else {
            size_t K = c->K;
            for (uint32_t k = 0; k < count; k++) {
                uint32_t r = ids[k];
                double *hb = H + (size_t)col[r] * S;
                hb[c->cls[r]] += (double)ws->wr[r];
                hb[K] += 1.0;
            }
        }
        const double *nan = H + (size_t)nb * S;
        int has_nan = nan[S - 1] > 0;
        double *L = ws->lst, *R = ws->sst;
        memset(L, 0, S * sizeof *L);
        for (int b = 0; b < nb; b++) {
            const double *hb = H + (size_t)b * S;
            if (hb[S - 1] == 0 && !(b == nb - 1 && has_nan))
                continue; /* empty bin: same split as the previous one */
            for (size_t s = 0; s < S; s++)
                L[s] += hb[s];
            if (b == nb - 1 && !has_nan)
                break;
            for (int v = 0; v < 2; v++) {
                /* v = 0: NaN right; v = 1: NaN left */
                if (v == 1 && (!has_nan || b == nb - 1))
                    break;
                double lc = L[S - 1] + (v ? nan[S - 1] : 0.0), rc = (double)count - lc;
                if (lc < msl || rc < msl)
                    continue;
                double Ls[260];
                const double *lp = L;
                if (v) {
                    for (size_t s = 0; s < S; s++)
                        Ls[s] = L[s] + nan[s];
                    lp = Ls;
                }
                for (size_t s = 0; s < S; s++)
                    R[s] = tot[s] - lp[s];
                double gain = ptotcost - cost(c, lp) - cost(c, R);
                if (gain > bs->gain + eps) {
                    bs->gain = gain;
                    bs->feature = (int32_t)f;
                    bs->bin = b;
                    bs->dl = v ? 1 : (!has_nan && weight_of(c, lp) > weight_of(c, R));
                }
            }
        }
    }
}

static int push(const mb_host *h, fws *ws, size_t *sp, fstack e)
{
    if (*sp == ws->cap_stack) {
        size_t nc = ws->cap_stack ? ws->cap_stack * 2 : 64;
        fstack *ns = mbt_realloc(h, ws->stack, nc * sizeof *ns);
        if (!ns)
            return -1;
        ws->stack = ns;
        ws->cap_stack = nc;
    }
    ws->stack[(*sp)++] = e;
    return 0;
}

/* Grow one tree over ws->idx[0..m) with weights ws->wr. */
static int grow(const fctx *c, fws *ws, uint32_t m, mbt_rng *rng)
{
    const mb_host *h = c->host;
    const mbt_params *p = c->p;
    ltree *t = &ws->tree;
    t->n = 0;
    t->lw = c->lw;
    size_t S = c->S, sp = 0;
    int32_t root = ltree_add(h, t);
    if (root < 0 || push(h, ws, &sp, (fstack){0, m, root, 0}))
        return MB_PLUGIN_ENOMEM;
    double wroot = -1.0;
    while (sp) {
        fstack e = ws->stack[--sp];
        double *tot = ws->tot;
        memset(tot, 0, S * sizeof *tot);
        for (uint32_t i = 0; i < e.count; i++) {
            uint32_t r = ws->idx[e.start + i];
            add_row(c, tot, r, ws->wr[r]);
        }
        double W = weight_of(c, tot), pc = cost(c, tot);
        if (wroot < 0)
            wroot = W;
        t->cost[e.node] = pc;
        t->cover[e.node] = W;
        leaf_value(c, tot, t->value + (size_t)e.node * t->lw);
        if ((p->max_depth > 0 && e.depth >= p->max_depth) || e.count < (uint64_t)p->min_samples_split ||
            e.count < 2 * (uint64_t)p->min_samples_leaf || !(W > 0))
            continue;
        if (c->K) {
            size_t nz = 0;
            for (size_t k = 0; k < c->K; k++)
                nz += tot[k] > 0;
            if (nz <= 1)
                continue;
        }
        fsplit bs;
        best_split(c, ws, e.start, e.count, tot, pc, rng, &bs);
        if (bs.feature < 0 || bs.gain < p->min_impurity_decrease * wroot)
            continue;
        /* partition */
        int nb = c->d->nb[bs.feature];
        const uint8_t *col = c->d->colbins + (size_t)bs.feature * c->n;
        uint32_t *idx = ws->idx + e.start, nl = 0, nr = 0;
        for (uint32_t i = 0; i < e.count; i++) {
            uint32_t r = idx[i];
            int b = col[r];
            if (b <= bs.bin || (b == nb && bs.dl))
                idx[nl++] = r;
            else
                ws->tmp[nr++] = r;
        }
        memcpy(idx + nl, ws->tmp, nr * sizeof *idx);
        if (nl == 0 || nr == 0)
            continue;
        int32_t a = ltree_add(h, t), b = ltree_add(h, t);
        if (a < 0 || b < 0)
            return MB_PLUGIN_ENOMEM;
        t->feature[e.node] = bs.feature;
        t->tbin[e.node] = bs.bin;
        t->dl[e.node] = (uint8_t)bs.dl;
        t->gain[e.node] = bs.gain;
        t->left[e.node] = a;
        t->right[e.node] = b;
        /* right first so the left subtree is built (and numbered) first */
        if (push(h, ws, &sp, (fstack){e.start + nl, nr, b, e.depth + 1}) ||
            push(h, ws, &sp, (fstack){e.start, nl, a, e.depth + 1}))
            return MB_PLUGIN_ENOMEM;
    }
    (void)S;
    return MB_PLUGIN_OK;
}

/* {====== cost-complexity pruning ======} */

/* Prune t in place with alpha (costs are normalised by the root weight):
** repeatedly collapse the internal node whose effective alpha
** (R(t) - R(subtree)) / (leaves - 1) is smallest while it is <= alpha.
** Children have larger indices than parents, so one backward pass gives
** every subtree's cost and leaf count. */
static int prune(const mb_host *h, ltree *t, double alpha, double wroot)
{
    uint8_t *cut = mbt_calloc(h, t->n, 1), *reach = mbt_alloc(h, t->n);
    int32_t *map = mbt_alloc(h, t->n * sizeof *map);
    int32_t *order = mbt_alloc(h, t->n * sizeof *order);
    double *rsub = mbt_alloc(h, t->n * sizeof *rsub);
    size_t *nlv = mbt_alloc(h, t->n * sizeof *nlv);
    ltree nt = {0};
    int rc = MB_PLUGIN_ENOMEM;
    if (!cut || !reach || !map || !order || !rsub || !nlv)
        goto exit;
    for (;;) {
        for (size_t i = t->n; i-- > 0;) {
            if (t->feature[i] < 0 || cut[i]) {
                rsub[i] = t->cost[i];
                nlv[i] = 1;
            } else {
                rsub[i] = rsub[t->left[i]] + rsub[t->right[i]];
                nlv[i] = nlv[t->left[i]] + nlv[t->right[i]];
            }
        }
        memset(reach, 0, t->n);
        reach[0] = 1;
        double best = INFINITY;
        int32_t bi = -1;
        for (size_t i = 0; i < t->n; i++) {
            if (!reach[i] || t->feature[i] < 0 || cut[i])
                continue;
            reach[t->left[i]] = reach[t->right[i]] = 1;
            double g = (t->cost[i] - rsub[i]) / wroot / (double)(nlv[i] - 1);
            if (g < best) {
                best = g;
                bi = (int32_t)i;
            }
        }
        if (bi < 0 || best > alpha)
            break;
        cut[bi] = 1;
    }
    /* renumber reachable nodes in preorder */
    nt.lw = t->lw;
    size_t no = 0, sp = 0;
    order[sp++] = 0;
    for (size_t i = 0; i < t->n; i++)
        map[i] = -1;
    while (sp) {
        int32_t i = order[--sp];
        map[i] = (int32_t)no++;
        if (t->feature[i] >= 0 && !cut[i]) {
            order[sp++] = t->right[i];
            order[sp++] = t->left[i];
        }
    }
    for (size_t k = 0; k < no; k++)
        if (ltree_add(h, &nt) < 0)
            goto exit;
    for (size_t i = 0; i < t->n; i++) {
        int32_t j = map[i];
        if (j < 0)
            continue;
        int leaf = t->feature[i] < 0 || cut[i];
        nt.feature[j] = leaf ? -1 : t->feature[i];
        nt.tbin[j] = leaf ? 0 : t->tbin[i];
        nt.dl[j] = leaf ? 0 : t->dl[i];
        nt.gain[j] = leaf ? 0.0 : t->gain[i];
        nt.left[j] = leaf ? -1 : map[t->left[i]];
        nt.right[j] = leaf ? -1 : map[t->right[i]];
        nt.cost[j] = t->cost[i];
        nt.cover[j] = t->cover[i];
        memcpy(nt.value + (size_t)j * nt.lw, t->value + i * t->lw, t->lw * sizeof(double));
    }
    ltree_free(h, t);
    *t = nt;
    memset(&nt, 0, sizeof nt);
    rc = MB_PLUGIN_OK;
exit:
    ltree_free(h, &nt);
    mbt_free(h, cut);
    mbt_free(h, reach);
    mbt_free(h, rsub);
    mbt_free(h, nlv);
    mbt_free(h, map);
    mbt_free(h, order);
    return rc;
}

/* {====== the forest loop ======} */

typedef struct batch_job {
    const fctx *c;
    fws *ws;                      /* per thread */
    size_t first, ntrees;         /* this batch: trees first .. first + nt - 1 */
    int want_oob;
} batch_job;

static void tree_task(void *arg, int tid, int nt)
{
    (void)nt;
    batch_job *j = arg;
    const fctx *c = j->c;
    fws *ws = &j->ws[tid];
    size_t t = j->first + (size_t)tid;
    ws->rc = MB_PLUGIN_OK;
    ws->tree.n = 0;
    if (t >= j->ntrees)
        return;
    mbt_rng rng;
    mbt_rng_seed(&rng, c->seed * 0x9e3779b97f4a7c15ULL + t + 1);
    const mbt_params *p = c->p;
    size_t nr = c->nrows, m = 0;
    size_t draw = (size_t)llround(p->max_samples * (double)nr);
    if (draw < 1)
        draw = 1;
    if (!c->forest) {
        for (size_t i = 0; i < nr; i++) {
            uint32_t r = c->rows[i];
            ws->idx[m++] = r;
            ws->wr[r] = c->w ? c->w[r] : 1.0f;
        }
    } else if (p->bootstrap) {
        for (size_t i = 0; i < nr; i++)
            ws->cnt[c->rows[i]] = 0;
        for (size_t i = 0; i < draw; i++)
            ws->cnt[c->rows[mbt_rng_below(&rng, nr)]]++;
        for (size_t i = 0; i < nr; i++) {
            uint32_t r = c->rows[i];
            if (ws->cnt[r]) {
                ws->idx[m++] = r;
                ws->wr[r] = (float)ws->cnt[r] * (c->w ? c->w[r] : 1.0f);
            }
        }
    } else {
        size_t got = 0;
        for (size_t i = 0; i < nr; i++) {
            uint32_t r = c->rows[i];
            int take = (double)(nr - i) * mbt_rng_unif(&rng) < (double)(draw - got);
            ws->cnt[r] = (uint32_t)take;
            if (take) {
                got++;
                ws->idx[m++] = r;
                ws->wr[r] = c->w ? c->w[r] : 1.0f;
            }
        }
    }
    ws->rc = grow(c, ws, (uint32_t)m, &rng);
    if (ws->rc != MB_PLUGIN_OK)
        return;
    if (!c->forest && p->ccp_alpha > 0) {
        double W = 0.0;
        for (size_t i = 0; i < m; i++)
            W += (double)ws->wr[ws->idx[i]];
        ws->rc = prune(c->host, &ws->tree, p->ccp_alpha, W);
        if (ws->rc != MB_PLUGIN_OK)
            return;
    }
    if (j->want_oob && c->forest) {
        const ltree *tr = &ws->tree;
        for (size_t i = 0; i < nr; i++) {
            uint32_t r = c->rows[i];
            if (ws->cnt[r])
                continue;
            int32_t nd = 0;
            while (tr->feature[nd] >= 0) {
                int f = tr->feature[nd], b = c->d->colbins[(size_t)f * c->n + r];
                nd = (b <= tr->tbin[nd] || (b == c->d->nb[f] && tr->dl[nd])) ? tr->left[nd] : tr->right[nd];
            }
            for (size_t k = 0; k < c->lw; k++)
                ws->oob_acc[(size_t)r * c->lw + k] += tr->value[(size_t)nd * c->lw + k];
            ws->oob_n[r]++;
        }
    }
}

/* Append a built tree to the ensemble. */
static int append_tree(mbt_model *m, const ltree *t)
{
    mbt_ensemble *e = &m->ens;
    int32_t ti = mbt_ens_add_tree(e, m->host, 0);
    if (ti < 0)
        return MB_PLUGIN_ENOMEM;
    int32_t base = e->root[ti];
    for (size_t i = 1; i < t->n; i++)
        if (mbt_ens_add_node(e, m->host) < 0)
            return MB_PLUGIN_ENOMEM;
    for (size_t i = 0; i < t->n; i++) {
        size_t j = (size_t)base + i;
        int32_t f = t->feature[i];
        e->feature[j] = f;
        e->tbin[j] = f >= 0 ? t->tbin[i] : 0;
        e->threshold[j] = f >= 0 ? m->bins.edges[m->bins.offset[f] + t->tbin[i]] : 0.0f;
        e->default_left[j] = f >= 0 ? t->dl[i] : 0;
        e->left[j] = f >= 0 ? base + t->left[i] : -1;
        e->right[j] = f >= 0 ? base + t->right[i] : -1;
        e->gain[j] = f >= 0 ? t->gain[i] : 0.0;
        e->cover[j] = t->cover[i];
        memcpy(e->value + j * e->leaf_width, t->value + i * t->lw, t->lw * sizeof(double));
    }
    return MB_PLUGIN_OK;
}

/* Losses of the running average for progress: log-loss or MSE. */
static double avg_loss(const fctx *c, const double *acc, size_t ntrees, const float *y, const float *w,
                       size_t n)
{
    double sl = 0.0, sw = 0.0;
    for (size_t r = 0; r < n; r++) {
        double wt = w ? (double)w[r] : 1.0, l;
        const double *a = acc + r * c->lw;
        if (c->K == 0) {
            double d = a[0] / (double)ntrees - (double)y[r];
            l = d * d;
        } else {
            double pr;
            if (c->K == 2)
                pr = y[r] > 0.5f ? a[0] / (double)ntrees : 1.0 - a[0] / (double)ntrees;
            else
                pr = a[(size_t)y[r]] / (double)ntrees;
            pr = pr < 1e-15 ? 1e-15 : pr > 1 - 1e-15 ? 1 - 1e-15 : pr;
            l = -log(pr);
        }
        sl += wt * l;
        sw += wt;
    }
    return sw > 0 ? sl / sw : (double)NAN;
}

static void acc_tree(const mbt_ensemble *e, int32_t root, const mbt_binned *d, double *acc)
{
    for (size_t r = 0; r < d->rows; r++) {
        int32_t nd = mbt_ens_leaf_binned(e, root, d->rowbins + r * d->cols, d->nb);
        for (size_t k = 0; k < e->leaf_width; k++)
            acc[r * e->leaf_width + k] += e->value[(size_t)nd * e->leaf_width + k];
    }
}

/* Each row's class (K > 0) into cls and its index into rows; a missing
** label, a bad weight or a class outside 0..K-1 is an error. */
static int labels(const mb_dataset *train, size_t K, uint16_t *cls, uint32_t *rows, char *err)
{
    for (size_t r = 0; r < train->X.rows; r++) {
        float y = train->y[r];
        if (isnan(y) || (train->w && !(train->w[r] >= 0.0f)))
            return mbt_fail(err, MB_PLUGIN_EINVAL, "row %zu has a missing label or a bad weight", r);
        if (K) {
            if (y < 0 || (size_t)y >= K)
                return mbt_fail(err, MB_PLUGIN_EINVAL, "row %zu has class %g, outside 0..%zu", r, (double)y,
                                K - 1);
            cls[r] = (uint16_t)y;
        }
        rows[r] = (uint32_t)r;
    }
    return MB_PLUGIN_OK;
}

/* One worker's scratch per pool thread (psize of them, zeroed by the
** caller); MB_PLUGIN_ENOMEM when any allocation failed (free them all with
** workspaces_free either way). */
static int workspaces_alloc(const mb_host *h, fws *ws, int psize, const fctx *c, int want_oob)
{
    size_t n = c->n, F = c->F;
    for (int t = 0; t < psize; t++) {
        fws *w = &ws[t];
        w->idx = mbt_alloc(h, n * sizeof *w->idx);
        w->tmp = mbt_alloc(h, n * sizeof *w->tmp);
        w->cnt = mbt_alloc(h, n * sizeof *w->cnt);
        w->perm = mbt_alloc(h, F * sizeof *w->perm);
        w->wr = mbt_alloc(h, n * sizeof *w->wr);
        w->hist = mbt_alloc(h, (MBT_MAX_BINS + 1) * c->S * sizeof *w->hist);
        w->tot = mbt_alloc(h, c->S * sizeof *w->tot);
        w->lst = mbt_alloc(h, c->S * sizeof *w->lst);
        w->bst = mbt_alloc(h, c->S * sizeof *w->bst);
        w->sst = mbt_alloc(h, c->S * sizeof *w->sst);
        if (!w->idx || !w->tmp || !w->cnt || !w->perm || !w->wr || !w->hist || !w->tot || !w->lst ||
            !w->bst || !w->sst)
            return MB_PLUGIN_ENOMEM;
        if (want_oob) {
            w->oob_acc = mbt_calloc(h, n * c->lw, sizeof *w->oob_acc);
            w->oob_n = mbt_calloc(h, n, sizeof *w->oob_n);
            if (!w->oob_acc || !w->oob_n)
                return MB_PLUGIN_ENOMEM;
        }
    }
    return MB_PLUGIN_OK;
}

static void workspaces_free(const mb_host *h, fws *ws, int psize)
{
    for (int t = 0; t < psize; t++) {
        fws *w = &ws[t];
        mbt_free(h, w->idx);
        mbt_free(h, w->tmp);
        mbt_free(h, w->cnt);
        mbt_free(h, w->perm);
        mbt_free(h, w->wr);
        mbt_free(h, w->hist);
        mbt_free(h, w->tot);
        mbt_free(h, w->lst);
        mbt_free(h, w->bst);
        mbt_free(h, w->sst);
        mbt_free(h, w->stack);
        mbt_free(h, w->oob_acc);
        mbt_free(h, w->oob_n);
        ltree_free(h, &w->tree);
    }
    mbt_free(h, ws);
}

/* The out-of-bag score from the workers' accumulators (summed in worker
** order, so the figure does not depend on scheduling): accuracy, or R^2 for
** regression; logged. */
static void oob_score(mbt_model *m, const fctx *c, const fws *ws, int psize, const mb_dataset *train)
{
    /* sum the per-thread accumulators in thread order */
    double hit = 0.0, sw = 0.0, sy = 0.0, syy = 0.0, sse = 0.0;
    size_t lw = c->lw, n = c->n;
    for (size_t r = 0; r < n; r++) {
        double a[256] = {0};
        uint32_t cnt = 0;
        for (int t = 0; t < psize; t++) {
            cnt += ws[t].oob_n[r];
            for (size_t k = 0; k < lw; k++)
                a[k] += ws[t].oob_acc[r * lw + k];
        }
        if (!cnt)
            continue;
        double wt = train->w ? (double)train->w[r] : 1.0, yv = (double)train->y[r];
        if (c->K == 0) {
            double d0 = a[0] / cnt - yv;
            sse += wt * d0 * d0;
            sy += wt * yv;
            syy += wt * yv * yv;
        } else {
            size_t pred = 0;
            if (c->K == 2)
                pred = a[0] / cnt > 0.5;
            else
                for (size_t k = 1; k < lw; k++)
                    if (a[k] > a[pred])
                        pred = k;
            hit += wt * (pred == (size_t)yv);
        }
        sw += wt;
    }
    if (sw > 0) {
        if (c->K == 0) {
            double var = syy - sy * sy / sw;
            m->oob_score = var > 0 ? 1.0 - sse / var : (double)NAN;
        } else {
            m->oob_score = hit / sw;
        }
    }
    char msg[128];
    snprintf(msg, sizeof msg, "forest: out-of-bag %s %.5f", c->K ? "accuracy" : "R^2", m->oob_score);
    if (m->host->log)
        m->host->log(1, msg);
}

int mbt_forest_fit(mbt_model *m, const mb_dataset *train, const mb_dataset *valid,
                   const mb_fit_context *ctx, char *err)
{
    const mb_host *h = m->host;
    const mbt_params *p = &m->p;
    size_t n = train->X.rows, F = train->X.cols;
    int rc = MB_PLUGIN_OK;
    mbt_pool *pool = NULL;
    mbt_binned d = {0}, dtr = {0}, dv = {0};
    fws *ws = NULL;
    uint16_t *cls = NULL;
    uint32_t *rows = NULL;
    double *tacc = NULL, *vacc = NULL;
    fctx c = {0};
    int forest = m->kind == MBT_FOREST;
    size_t ntrees = forest ? (size_t)p->n_trees : 1;
    if (n > UINT32_MAX - 1)
        return mbt_fail(err, MB_PLUGIN_EINVAL, "too many rows (%zu)", n);
    int crit = (int)p->criterion;
    if (crit == MBT_CRIT_AUTO)
        crit = train->task == MB_TASK_REGRESSION ? MBT_CRIT_SQUARED : MBT_CRIT_GINI;
    if (train->task == MB_TASK_REGRESSION && crit != MBT_CRIT_SQUARED)
        return mbt_fail(err, MB_PLUGIN_EINVAL, "regression uses criterion squared (or auto)");
    if (train->task != MB_TASK_REGRESSION && crit == MBT_CRIT_SQUARED)
        return mbt_fail(err, MB_PLUGIN_EINVAL, "classification uses criterion gini or entropy");
    if (train->task != MB_TASK_REGRESSION && train->nclasses > 256)
        return mbt_fail(err, MB_PLUGIN_EINVAL, "at most 256 classes (got %zu)", train->nclasses);
    c.host = h;
    c.p = p;
    c.y = train->y;
    c.w = train->w;
    c.n = n;
    c.F = F;
    c.K = train->task == MB_TASK_REGRESSION ? 0 : train->nclasses;
    c.S = c.K ? c.K + 1 : 3;
    c.lw = c.K == 0 || c.K == 2 ? 1 : c.K;
    c.crit = crit;
    c.seed = ctx->seed;
    c.forest = forest;
    double mf = p->max_features;
    if (mf <= 0)
        c.mtry = forest && c.K ? (size_t)floor(sqrt((double)F)) : F;
    else
        c.mtry = (size_t)floor(mf * (double)F);
    if (c.mtry < 1)
        c.mtry = 1;
    if (c.mtry > F)
        c.mtry = F;

    cls = mbt_alloc(h, n * sizeof *cls);
    rows = mbt_alloc(h, n * sizeof *rows);
    if (!cls || !rows)
        goto nomem;
    if ((rc = labels(train, c.K, cls, rows, err)) != MB_PLUGIN_OK)
        goto exit;
    c.cls = cls;
    c.rows = rows;
    c.nrows = n;

    pool = mbt_pool_new(h, forest ? ctx->threads : 1);
    if (!pool)
        goto nomem;
    rc = mbt_bins_fit(&m->bins, h, &train->X, (int)p->max_bins, ctx->seed, pool, err);
    if (rc != MB_PLUGIN_OK)
        goto exit;
    rc = mbt_bin_data(&d, h, &m->bins, &train->X, 0, 1, pool, err);
    if (rc != MB_PLUGIN_OK)
        goto exit;
    c.d = &d;
    if (mbt_ens_init(&m->ens, h, F, c.lw, c.lw) != MB_PLUGIN_OK)
        goto nomem;
    m->ens.average = 1;
    m->ens.link = MB_LINK_IDENTITY;

    int psize = mbt_pool_size(pool);
    int want_oob = forest && p->oob_score;
    ws = mbt_calloc(h, (size_t)psize, sizeof *ws);
    if (!ws || workspaces_alloc(h, ws, psize, &c, want_oob) != MB_PLUGIN_OK)
        goto nomem;
    if (ctx->progress) {
        rc = mbt_bin_data(&dtr, h, &m->bins, &train->X, 1, 0, pool, err);
        if (rc != MB_PLUGIN_OK)
            goto exit;
        tacc = mbt_calloc(h, n * c.lw, sizeof *tacc);
        if (!tacc)
            goto nomem;
        if (valid) {
            rc = mbt_bin_data(&dv, h, &m->bins, &valid->X, 1, 0, pool, err);
            if (rc != MB_PLUGIN_OK)
                goto exit;
            vacc = mbt_calloc(h, valid->X.rows * c.lw, sizeof *vacc);
            if (!vacc)
                goto nomem;
        }
    }

    for (size_t first = 0; first < ntrees; first += (size_t)psize) {
        batch_job j = {&c, ws, first, ntrees, want_oob};
        mbt_pool_run(pool, tree_task, &j);
        for (int t = 0; t < psize && first + (size_t)t < ntrees; t++) {
            if (ws[t].rc != MB_PLUGIN_OK)
                goto nomem;
            if (append_tree(m, &ws[t].tree) != MB_PLUGIN_OK)
                goto nomem;
            if (tacc) {
                int32_t root = m->ens.root[m->ens.ntrees - 1];
                acc_tree(&m->ens, root, &dtr, tacc);
                if (vacc)
                    acc_tree(&m->ens, root, &dv, vacc);
            }
        }
        size_t done = first + (size_t)psize < ntrees ? first + (size_t)psize : ntrees;
        double tl = tacc ? avg_loss(&c, tacc, done, train->y, train->w, n) : (double)NAN;
        double vl = vacc ? avg_loss(&c, vacc, done, valid->y, valid->w, valid->X.rows) : (double)NAN;
        char msg[96];
        snprintf(msg, sizeof msg, "tree %zu of %zu", done, ntrees);
        if (mbt_progress(ctx, (double)done / (double)ntrees, msg, tl, vl)) {
            rc = mbt_fail(err, MB_PLUGIN_ECANCELLED, "cancelled after %zu trees", done);
            goto exit;
        }
    }
    if (want_oob)
        oob_score(m, &c, ws, psize, train);
    m->task = train->task;
    m->nclasses = train->nclasses;
    m->nfeatures = F;
    m->threads = ctx->threads > 0 ? ctx->threads : 1;
    if (mbt_prepare_predict(m) != MB_PLUGIN_OK)
        goto nomem;
    m->fitted = 1;
    goto exit;
nomem:
    rc = mbt_fail(err, MB_PLUGIN_ENOMEM, "out of memory while fitting the %s", forest ? "forest" : "tree");
exit:
    if (rc != MB_PLUGIN_OK)
        mbt_model_clear(m);
    if (ws)
        workspaces_free(h, ws, mbt_pool_size(pool));
    mbt_pool_free(&pool);
    mbt_binned_free(&d, h);
    mbt_binned_free(&dtr, h);
    mbt_binned_free(&dv, h);
    mbt_free(h, cls);
    mbt_free(h, rows);
    mbt_free(h, tacc);
    mbt_free(h, vacc);
    return rc;
}
