/*
** ensemble.c: the fitted form every tree model shares (flat node arrays
** shaped like mb_tree_form), prediction from it, and saving/loading it
** through the host's state writer/reader.
**
** Prediction walks a compact copy of the nodes (16 bytes each) over
** blocks of rows, tree by tree, so one tree stays in cache while a block of
** rows passes through it; several rows are walked at once so their memory
** loads overlap. Large batches are split over threads by row ranges, so
** the result never depends on the thread count.
*/
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "predict.h"

/* {====== building ======} */

int mbt_ens_init(mbt_ensemble *e, const mb_host *h, size_t nfeatures, size_t noutputs, size_t leaf_width)
{
    memset(e, 0, sizeof *e);
    e->nfeatures = nfeatures;
    e->noutputs = noutputs;
    e->leaf_width = leaf_width;
    e->base_score = mbt_calloc(h, noutputs, sizeof *e->base_score);
    return e->base_score ? MB_PLUGIN_OK : MB_PLUGIN_ENOMEM;
}

void mbt_ens_free(mbt_ensemble *e, const mb_host *h)
{
    mbt_free(h, e->root);
    mbt_free(h, e->tree_output);
    mbt_free(h, e->feature);
    mbt_free(h, e->left);
    mbt_free(h, e->right);
    mbt_free(h, e->tbin);
    mbt_free(h, e->threshold);
    mbt_free(h, e->default_left);
    mbt_free(h, e->value);
    mbt_free(h, e->gain);
    mbt_free(h, e->cover);
    mbt_free(h, e->base_score);
    memset(e, 0, sizeof *e);
}


int32_t mbt_ens_add_node(mbt_ensemble *e, const mb_host *h)
{
    if (e->nnodes >= INT32_MAX - 1)
        return -1;
    if (e->nnodes == e->cap_nodes) {
        size_t c = e->cap_nodes ? e->cap_nodes * 2 : 256;
        MBT_GROW(h, e->feature, c);
        MBT_GROW(h, e->left, c);
        MBT_GROW(h, e->right, c);
        MBT_GROW(h, e->tbin, c);
        MBT_GROW(h, e->threshold, c);
        MBT_GROW(h, e->default_left, c);
        MBT_GROW(h, e->gain, c);
        MBT_GROW(h, e->cover, c);
        MBT_GROW(h, e->value, c * e->leaf_width);
        e->cap_nodes = c;
    }
    size_t n = e->nnodes++;
    e->feature[n] = -1;
    e->left[n] = e->right[n] = -1;
    e->tbin[n] = 0;
    e->threshold[n] = 0.0f;
    e->default_left[n] = 0;
    e->gain[n] = 0.0;
    e->cover[n] = 0.0;
    for (size_t k = 0; k < e->leaf_width; k++)
        e->value[n * e->leaf_width + k] = 0.0;
    return (int32_t)n;
}

int32_t mbt_ens_add_tree(mbt_ensemble *e, const mb_host *h, int32_t output)
{
    if (e->ntrees == e->cap_trees) {
        size_t c = e->cap_trees ? e->cap_trees * 2 : 64;
        MBT_GROW(h, e->root, c);
        MBT_GROW(h, e->tree_output, c);
        e->cap_trees = c;
    }
    int32_t node = mbt_ens_add_node(e, h);
    if (node < 0)
        return -1;
    e->root[e->ntrees] = node;
    e->tree_output[e->ntrees] = output;
    return (int32_t)e->ntrees++;
}

void mbt_ens_truncate(mbt_ensemble *e, size_t ntrees)
{
    if (ntrees >= e->ntrees)
        return;
    e->nnodes = (size_t)e->root[ntrees];
    e->ntrees = ntrees;
}

int32_t mbt_ens_leaf_binned(const mbt_ensemble *e, int32_t node, const uint8_t *rowbins, const uint16_t *nb)
{
    while (e->feature[node] >= 0) {
        int f = e->feature[node];
        int b = rowbins[f];
        int go_left = b <= e->tbin[node] || (b == nb[f] && e->default_left[node]);
        node = go_left ? e->left[node] : e->right[node];
    }
    return node;
}

/* {====== prediction ======} */

/* The padded trees and their types: predict.h. */

void mbt_predictor_free(const mb_host *h, mbt_predictor **pp)
{
    mbt_predictor *p = *pp;
    if (!p)
        return;
    mbt_free(h, p->trees);
    mbt_free(h, p->nodes);
    mbt_free(h, p->leaves);
    mbt_simd_free(h, p);
    mbt_free(h, p);
    *pp = NULL;
}

static int tree_depth(const mbt_ensemble *e, int32_t n)
{
    if (e->feature[n] < 0)
        return 0;
    int a = tree_depth(e, e->left[n]), b = tree_depth(e, e->right[n]);
    return 1 + (a > b ? a : b);
}

static void pad_fill(const mbt_ensemble *e, pnode *nodes, double *leaves, int D, size_t i, int d, int32_t n)
{
    size_t lw = e->leaf_width;
    if (d == D) {
        size_t slot = i - (((size_t)1 << D) - 1);
        memcpy(leaves + slot * lw, e->value + (size_t)n * lw, lw * sizeof(double));
        return;
    }
    if (e->feature[n] < 0) {
        nodes[i].thr = INFINITY;
        nodes[i].feat = NAN_LEFT;
        pad_fill(e, nodes, leaves, D, 2 * i + 1, d + 1, n);
        pad_fill(e, nodes, leaves, D, 2 * i + 2, d + 1, n);
        return;
    }
    nodes[i].thr = e->threshold[n];
    nodes[i].feat = e->feature[n] | (e->default_left[n] ? NAN_LEFT : 0);
    pad_fill(e, nodes, leaves, D, 2 * i + 1, d + 1, e->left[n]);
    pad_fill(e, nodes, leaves, D, 2 * i + 2, d + 1, e->right[n]);
}

int mbt_prepare_predict(mbt_model *m)
{
    const mbt_ensemble *e = &m->ens;
    const mb_host *h = m->host;
    mbt_predictor_free(h, &m->pred);
    mbt_predictor *p = mbt_calloc(h, 1, sizeof *p);
    if (!p)
        return MB_PLUGIN_ENOMEM;
    m->pred = p;
    p->trees = mbt_calloc(h, e->ntrees ? e->ntrees : 1, sizeof *p->trees);
    if (!p->trees)
        goto nomem;
    size_t nn = 0, nl = 0;
    for (size_t t = 0; t < e->ntrees; t++) {
        int D = tree_depth(e, e->root[t]);
        ptree *pt = &p->trees[t];
        pt->out = e->leaf_width == 1 ? e->tree_output[t] : 0;
        pt->depth = D <= MAX_PAD_DEPTH ? D : -1;
        pt->node_off = nn;
        pt->leaf_off = nl;
        if (pt->depth >= 0) {
            nn += ((size_t)1 << D) - 1;
            nl += ((size_t)1 << D) * e->leaf_width;
        }
    }
    p->nodes = mbt_alloc(h, (nn ? nn : 1) * sizeof *p->nodes);
    p->leaves = mbt_alloc(h, (nl ? nl : 1) * sizeof *p->leaves);
    if (!p->nodes || !p->leaves)
        goto nomem;
    for (size_t t = 0; t < e->ntrees; t++) {
        const ptree *pt = &p->trees[t];
        if (pt->depth >= 0)
            pad_fill(e, p->nodes + pt->node_off, p->leaves + pt->leaf_off, pt->depth, 0, 0, e->root[t]);
    }
    if (mbt_simd_prepare(h, e, p) != MB_PLUGIN_OK)
        goto nomem;
    return MB_PLUGIN_OK;
nomem:
    mbt_predictor_free(h, &m->pred);
    return MB_PLUGIN_ENOMEM;
}

/* Batches under this many rows take the row-at-a-time path (walk_row). */
#define FEW_ROWS 16

/* The leaf of tree t (not padded) that row x reaches, node by node. */
static int32_t walk_nodes(const mbt_ensemble *e, size_t t, const float *x)
{
    int32_t n = e->root[t];
    while (e->feature[n] >= 0) {
        float v = x[e->feature[n]];
        int left = v <= e->threshold[n] || (isnan(v) && e->default_left[n]);
        n = left ? e->left[n] : e->right[n];
    }
    return n;
}

/* One step down a padded tree: NaN goes right unless the node sends it left. */
#define PSTEP(nodes, p)                                                                            \
    do {                                                                                           \
        pnode nd_ = (nodes)[p];                                                                    \
        float v_ = x[nd_.feat & (NAN_LEFT - 1)];                                                   \
        (p) = 2 * (p) + 1 + (uint32_t)((v_ > nd_.thr) | ((v_ != v_) & !(nd_.feat & NAN_LEFT)));    \
    } while (0)

/* Add leaf values v (leaf_width of them) of a tree with output ok to a. */
static inline void add_leaf(double *a, const double *v, size_t lw, size_t K, size_t ok)
{
    if (lw == 1)
        a[ok] += v[0];
    else
        for (size_t k = 0; k < K; k++)
            a[k] += v[k];
}

/* One row through every tree, for small batches (single-row latency): a
** run of four trees of the same padded depth is walked at once, so the four
** chains of dependent loads overlap instead of following each other. The
** trees are still added in order, so the sums equal the block path's bit
** for bit. */
static void walk_row(const mbt_ensemble *e, const mbt_predictor *pr, const float *x, double *a)
{
    size_t K = e->noutputs, lw = e->leaf_width, T = e->ntrees;
    for (size_t t = 0; t < T;) {
        const ptree *pt = pr->trees + t;
        int D = pt->depth;
        if (D < 0) {
            add_leaf(a, e->value + (size_t)walk_nodes(e, t, x) * lw, lw, K, (size_t)pt->out);
            t++;
            continue;
        }
        uint32_t first = ((uint32_t)1 << D) - 1;
        if (t + 4 <= T && pt[1].depth == D && pt[2].depth == D && pt[3].depth == D) {
            const pnode *n0 = pr->nodes + pt[0].node_off, *n1 = pr->nodes + pt[1].node_off,
                        *n2 = pr->nodes + pt[2].node_off, *n3 = pr->nodes + pt[3].node_off;
            uint32_t p0 = 0, p1 = 0, p2 = 0, p3 = 0;
            for (int d = 0; d < D; d++) {
                PSTEP(n0, p0);
                PSTEP(n1, p1);
                PSTEP(n2, p2);
                PSTEP(n3, p3);
            }
            const uint32_t p[4] = {p0, p1, p2, p3};
            for (int j = 0; j < 4; j++)
                add_leaf(a, pr->leaves + pt[j].leaf_off + (size_t)(p[j] - first) * lw, lw, K,
                         (size_t)pt[j].out);
            t += 4;
            continue;
        }
        const pnode *nodes = pr->nodes + pt->node_off;
        uint32_t p0 = 0;
        for (int d = 0; d < D; d++)
            PSTEP(nodes, p0);
        add_leaf(a, pr->leaves + pt->leaf_off + (size_t)(p0 - first) * lw, lw, K, (size_t)pt->out);
        t++;
    }
}

/* Eight rows (from x, ld apart) down a padded tree of depth D, their node
** indices in registers (named, not an array, so the compiler keeps them
** there): eight independent chains of loads in flight per level, with no
** store and reload of the positions between levels (the idea of walk8 in
** src/core/portable_trees.c). Leaf positions to pos[0..8). walk8 is for
** blocks without NaN (no default directions to look at), walk8_nan takes
** PSTEP's NaN rule. */
#define WALK8(NAME, STEP)                                                                          \
    static void NAME(const pnode *nodes, int D, const float *xr, size_t ld, uint32_t *pos)         \
    {                                                                                              \
        const float *x0 = xr, *x1 = x0 + ld, *x2 = x1 + ld, *x3 = x2 + ld, *x4 = x3 + ld,          \
                    *x5 = x4 + ld, *x6 = x5 + ld, *x7 = x6 + ld;                                   \
        uint32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;                   \
        for (int d = 0; d < D; d++) {                                                              \
            STEP(a0, x0);                                                                          \
            STEP(a1, x1);                                                                          \
            STEP(a2, x2);                                                                          \
            STEP(a3, x3);                                                                          \
            STEP(a4, x4);                                                                          \
            STEP(a5, x5);                                                                          \
            STEP(a6, x6);                                                                          \
            STEP(a7, x7);                                                                          \
        }                                                                                          \
        pos[0] = a0;                                                                               \
        pos[1] = a1;                                                                               \
        pos[2] = a2;                                                                               \
        pos[3] = a3;                                                                               \
        pos[4] = a4;                                                                               \
        pos[5] = a5;                                                                               \
        pos[6] = a6;                                                                               \
        pos[7] = a7;                                                                               \
    }
#define STEP_PLAIN(a, x)                                                                           \
    do {                                                                                           \
        pnode nd_ = nodes[a];                                                                      \
        (a) = 2 * (a) + 1 + (uint32_t)((x)[nd_.feat & (NAN_LEFT - 1)] > nd_.thr);                   \
    } while (0)
#define STEP_NAN(a, x)                                                                             \
    do {                                                                                           \
        pnode nd_ = nodes[a];                                                                      \
        float v_ = (x)[nd_.feat & (NAN_LEFT - 1)];                                                 \
        (a) = 2 * (a) + 1 + (uint32_t)((v_ > nd_.thr) | ((v_ != v_) & !(nd_.feat & NAN_LEFT)));    \
    } while (0)
WALK8(walk8, STEP_PLAIN)
WALK8(walk8_nan, STEP_NAN)

/* A block of nb rows through every tree, tree by tree: eight rows at a
** time down all levels (walk8, or walk8_nan when the block has a NaN), the
** last nb % 8 level by level. Each row still adds the trees in order, so
** the sums are the same bits as walk_row's. */
static void walk_block(const mbt_ensemble *e, const mbt_predictor *pr, const float *xb, size_t ld,
                       size_t ncols, size_t nb, double *a)
{
    size_t K = e->noutputs, lw = e->leaf_width;
    uint32_t pos[BLOCK];
    /* blocks without NaN (the usual case) skip the default directions */
    int has_nan = 0;
    for (size_t i = 0; i < nb; i++) {
        const float *x = xb + i * ld;
        int any = 0;
        for (size_t f = 0; f < ncols; f++)
            any |= x[f] != x[f];
        has_nan |= any;
    }
    if (mbt_simd_fits(pr, ld)) {
        mbt_simd_block(e, pr, xb, ld, nb, has_nan, a);
        return;
    }
    for (size_t t = 0; t < e->ntrees; t++) {
        const ptree *pt = &pr->trees[t];
        size_t ok = (size_t)pt->out;
        if (pt->depth < 0) {
            for (size_t i = 0; i < nb; i++)
                add_leaf(a + i * K, e->value + (size_t)walk_nodes(e, t, xb + i * ld) * lw, lw, K, ok);
            continue;
        }
        const pnode *nodes = pr->nodes + pt->node_off;
        const double *leaves = pr->leaves + pt->leaf_off;
        int D = pt->depth;
        size_t i0 = 0;
        for (; i0 + 8 <= nb; i0 += 8)
            (has_nan ? walk8_nan : walk8)(nodes, D, xb + i0 * ld, ld, pos + i0);
        for (size_t i = i0; i < nb; i++)
            pos[i] = 0;
        for (int d = 0; d < (has_nan ? 0 : D); d++) {
            const float *x = xb + i0 * ld;
            for (size_t i = i0; i < nb; i++, x += ld) {
                pnode nd = nodes[pos[i]];
                float v = x[nd.feat & (NAN_LEFT - 1)];
                pos[i] = 2 * pos[i] + 1 + (uint32_t)(v > nd.thr);
            }
        }
        for (int d = 0; d < (has_nan ? D : 0); d++) {
            const float *x = xb + i0 * ld;
            for (size_t i = i0; i < nb; i++, x += ld)
                PSTEP(nodes, pos[i]);
        }
        uint32_t first = ((uint32_t)1 << D) - 1;
        if (lw == 1) {
            for (size_t i = 0; i < nb; i++)
                a[i * K + ok] += leaves[pos[i] - first];
        } else {
            for (size_t i = 0; i < nb; i++)
                for (size_t k = 0; k < K; k++)
                    a[i * K + k] += leaves[(size_t)(pos[i] - first) * lw + k];
        }
    }
}

static void predict_rows(const mbt_model *m, const mb_matrix *X, size_t r0, size_t r1, double *out)
{
    const mbt_ensemble *e = &m->ens;
    const mbt_predictor *pr = m->pred;
    size_t K = e->noutputs, ld = X->ld;
    double acc[BLOCK * 16];
    for (size_t b0 = r0; b0 < r1; b0 += BLOCK) {
        size_t nb = r1 - b0 < BLOCK ? r1 - b0 : BLOCK;
        double *a = K <= 16 ? acc : out + b0 * K;
        const float *xb = X->x + b0 * ld;
        for (size_t i = 0; i < nb * K; i++)
            a[i] = 0.0;
        if (nb < FEW_ROWS)
            for (size_t i = 0; i < nb; i++)
                walk_row(e, pr, xb + i * ld, a + i * K);
        else
            walk_block(e, pr, xb, ld, X->cols, nb, a);
        double scale = e->average && e->ntrees ? 1.0 / (double)e->ntrees : 1.0;
        for (size_t i = 0; i < nb; i++) {
            double *dst = out + (b0 + i) * K;
            const double *src = a + i * K;
            for (size_t k = 0; k < K; k++)
                dst[k] = e->base_score[k] + (e->average ? src[k] * scale : src[k]);
            if (e->link == MB_LINK_LOGISTIC) {
                dst[0] = 1.0 / (1.0 + exp(-dst[0]));
            } else if (e->link == MB_LINK_SOFTMAX) {
                double mx = dst[0], s = 0.0;
                for (size_t k = 1; k < K; k++)
                    mx = dst[k] > mx ? dst[k] : mx;
                for (size_t k = 0; k < K; k++)
                    s += (dst[k] = exp(dst[k] - mx));
                for (size_t k = 0; k < K; k++)
                    dst[k] /= s;
            }
        }
    }
}

typedef struct pred_job {
    const mbt_model *m;
    const mb_matrix *X;
    double *out;
} pred_job;

typedef struct pred_thread {
    pred_job *job;
    size_t r0, r1;
} pred_thread;

static void *pred_thread_main(void *arg)
{
    pred_thread *t = arg;
    predict_rows(t->job->m, t->job->X, t->r0, t->r1, t->job->out);
    return NULL;
}

int mbt_predict_out(mbt_model *m, const mb_matrix *X, double *out, char *err)
{
    if (!m->fitted)
        return mbt_fail(err, MB_PLUGIN_EINVAL, "the model is not fitted");
    if (X->cols != m->nfeatures)
        return mbt_fail(err, MB_PLUGIN_EINVAL, "expected %zu features, got %zu", m->nfeatures, X->cols);
    if (!m->pred && mbt_prepare_predict(m) != MB_PLUGIN_OK)
        return mbt_fail(err, MB_PLUGIN_ENOMEM, "out of memory");
    size_t n = X->rows;
    int nt = m->threads < 1 ? 1 : m->threads > 64 ? 64 : m->threads;
    if (n < 4096 || nt == 1) {
        predict_rows(m, X, 0, n, out);
        return MB_PLUGIN_OK;
    }
    pred_job job = {m, X, out};
    pred_thread th[64];
    pthread_t tid[64];
    int started[64] = {0};
    for (int t = 0; t < nt; t++) {
        th[t].job = &job;
        th[t].r0 = n * (size_t)t / (size_t)nt;
        th[t].r1 = n * (size_t)(t + 1) / (size_t)nt;
    }
    for (int t = 1; t < nt; t++)
        started[t] = pthread_create(&tid[t], NULL, pred_thread_main, &th[t]) == 0;
    pred_thread_main(&th[0]);
    for (int t = 1; t < nt; t++) {
        if (started[t])
            pthread_join(tid[t], NULL);
        else
            pred_thread_main(&th[t]);
    }
    return MB_PLUGIN_OK;
}

/* {====== saving and loading ======} */

#define FORMAT_VERSION 1
enum { META_VERSION, META_KIND, META_TASK, META_NCLASSES, META_NFEATURES, META_NOUTPUTS, META_LEAFW,
       META_NTREES, META_NNODES, META_AVERAGE, META_LINK, META_BEST, META_N };

int mbt_save(const mbt_model *m, const mb_state_writer *w, char *err)
{
    const mbt_ensemble *e = &m->ens;
    if (!m->fitted)
        return mbt_fail(err, MB_PLUGIN_EINVAL, "the model is not fitted");
    int64_t meta[META_N] = {FORMAT_VERSION, m->kind, m->task, (int64_t)m->nclasses,
                            (int64_t)m->nfeatures, (int64_t)e->noutputs, (int64_t)e->leaf_width,
                            (int64_t)e->ntrees, (int64_t)e->nnodes, e->average, e->link,
                            m->best_iteration};
    int rc = 0;
    rc |= w->put(w->ud, "meta", MB_DT_I64, meta, META_N);
    rc |= w->put(w->ud, "oob_score", MB_DT_F64, &m->oob_score, 1);
    {
        double stats[3] = {(double)m->early_stopping, m->train_loss, m->valid_loss};
        rc |= w->put(w->ud, "fit_stats", MB_DT_F64, stats, 3);
    }
    rc |= w->put(w->ud, "root", MB_DT_I32, e->root, e->ntrees);
    rc |= w->put(w->ud, "tree_output", MB_DT_I32, e->tree_output, e->ntrees);
    rc |= w->put(w->ud, "feature", MB_DT_I32, e->feature, e->nnodes);
    rc |= w->put(w->ud, "tbin", MB_DT_I32, e->tbin, e->nnodes);
    rc |= w->put(w->ud, "left", MB_DT_I32, e->left, e->nnodes);
    rc |= w->put(w->ud, "right", MB_DT_I32, e->right, e->nnodes);
    rc |= w->put(w->ud, "threshold", MB_DT_F32, e->threshold, e->nnodes);
    rc |= w->put(w->ud, "default_left", MB_DT_U8, e->default_left, e->nnodes);
    rc |= w->put(w->ud, "value", MB_DT_F64, e->value, e->nnodes * e->leaf_width);
    rc |= w->put(w->ud, "gain", MB_DT_F64, e->gain, e->nnodes);
    if (e->cover) /* NULL for a model loaded from a state saved before covers */
        rc |= w->put(w->ud, "cover", MB_DT_F64, e->cover, e->nnodes);
    rc |= w->put(w->ud, "base_score", MB_DT_F64, e->base_score, e->noutputs);
    rc |= w->put(w->ud, "bin_offset", MB_DT_I32, m->bins.offset, m->bins.nfeatures + 1);
    rc |= w->put(w->ud, "bin_edges", MB_DT_F32, m->bins.edges, (size_t)m->bins.offset[m->bins.nfeatures]);
    if (rc)
        return mbt_fail(err, MB_PLUGIN_EFAIL, "the host could not store the model's arrays");
    return MB_PLUGIN_OK;
}

/* Read array name of exactly count elements into a new buffer *out. */
static int read_array(const mbt_model *m, const mb_state_reader *r, const char *name, mb_dtype t,
                      size_t elem, size_t count, void **out, char *err)
{
    mb_dtype have;
    size_t n;
    if (r->size(r->ud, name, &have, &n) != MB_PLUGIN_OK)
        return mbt_fail(err, MB_PLUGIN_EFORMAT, "saved state has no array '%s'", name);
    if (n != count)
        return mbt_fail(err, MB_PLUGIN_EFORMAT, "saved array '%s' has %zu elements, expected %zu", name,
                        n, count);
    *out = mbt_alloc(m->host, count * elem);
    if (!*out)
        return mbt_fail(err, MB_PLUGIN_ENOMEM, "out of memory loading '%s'", name);
    if (count && r->get(r->ud, name, t, *out, count) != MB_PLUGIN_OK)
        return mbt_fail(err, MB_PLUGIN_EFORMAT, "cannot read saved array '%s'", name);
    return MB_PLUGIN_OK;
}

void mbt_model_clear(mbt_model *m)
{
    mbt_ens_free(&m->ens, m->host);
    mbt_bins_free(&m->bins, m->host);
    mbt_predictor_free(m->host, &m->pred);
    m->fitted = 0;
    m->info_n = 0;
    m->n_held_out = 0;
}

int mbt_load(mbt_model *m, const mb_state_reader *r, char *err)
{
    int64_t meta[META_N];
    mb_dtype t;
    size_t n;
    int rc;
    mbt_model_clear(m);
    if (r->size(r->ud, "meta", &t, &n) != MB_PLUGIN_OK || n != META_N ||
        r->get(r->ud, "meta", MB_DT_I64, meta, META_N) != MB_PLUGIN_OK)
        return mbt_fail(err, MB_PLUGIN_EFORMAT, "saved state has no valid 'meta' array");
    if (meta[META_VERSION] != FORMAT_VERSION)
        return mbt_fail(err, MB_PLUGIN_EFORMAT, "saved state has format version %lld, this plugin reads %d",
                        (long long)meta[META_VERSION], FORMAT_VERSION);
    if (meta[META_KIND] != m->kind)
        return mbt_fail(err, MB_PLUGIN_EFORMAT, "saved state is of another tree model kind");
    int64_t nf = meta[META_NFEATURES], no = meta[META_NOUTPUTS], lw = meta[META_LEAFW],
            nt = meta[META_NTREES], nn = meta[META_NNODES];
    if (nf < 1 || nf > (1 << 30) || no < 1 || no > 100000 || (lw != 1 && lw != no) || nt < 1 || nn < nt ||
        nn > INT32_MAX || meta[META_LINK] < 0 || meta[META_LINK] > 2)
        return mbt_fail(err, MB_PLUGIN_EFORMAT, "saved state has inconsistent sizes");
    mbt_ensemble *e = &m->ens;
    if (mbt_ens_init(e, m->host, (size_t)nf, (size_t)no, (size_t)lw) != MB_PLUGIN_OK)
        return mbt_fail(err, MB_PLUGIN_ENOMEM, "out of memory");
    e->ntrees = e->cap_trees = (size_t)nt;
    e->nnodes = e->cap_nodes = (size_t)nn;
    e->average = (int)meta[META_AVERAGE];
    e->link = (mb_link)meta[META_LINK];
    mbt_free(m->host, e->base_score);
    e->base_score = NULL;
    size_t NN = (size_t)nn, NT = (size_t)nt;
    if ((rc = read_array(m, r, "root", MB_DT_I32, 4, NT, (void **)&e->root, err)) ||
        (rc = read_array(m, r, "tree_output", MB_DT_I32, 4, NT, (void **)&e->tree_output, err)) ||
        (rc = read_array(m, r, "feature", MB_DT_I32, 4, NN, (void **)&e->feature, err)) ||
        (rc = read_array(m, r, "tbin", MB_DT_I32, 4, NN, (void **)&e->tbin, err)) ||
        (rc = read_array(m, r, "left", MB_DT_I32, 4, NN, (void **)&e->left, err)) ||
        (rc = read_array(m, r, "right", MB_DT_I32, 4, NN, (void **)&e->right, err)) ||
        (rc = read_array(m, r, "threshold", MB_DT_F32, 4, NN, (void **)&e->threshold, err)) ||
        (rc = read_array(m, r, "default_left", MB_DT_U8, 1, NN, (void **)&e->default_left, err)) ||
        (rc = read_array(m, r, "value", MB_DT_F64, 8, NN * (size_t)lw, (void **)&e->value, err)) ||
        (rc = read_array(m, r, "gain", MB_DT_F64, 8, NN, (void **)&e->gain, err)) ||
        (rc = read_array(m, r, "base_score", MB_DT_F64, 8, (size_t)no, (void **)&e->base_score, err)) ||
        (rc = read_array(m, r, "bin_offset", MB_DT_I32, 4, (size_t)nf + 1, (void **)&m->bins.offset, err)))
        goto exit;
    m->bins.nfeatures = (size_t)nf;
    for (size_t f = 0; f < (size_t)nf; f++)
        if (m->bins.offset[f + 1] <= m->bins.offset[f] || m->bins.offset[f + 1] - m->bins.offset[f] > MBT_MAX_BINS) {
            rc = mbt_fail(err, MB_PLUGIN_EFORMAT, "saved bin offsets are inconsistent");
            goto exit;
        }
    if (m->bins.offset[0] != 0) {
        rc = mbt_fail(err, MB_PLUGIN_EFORMAT, "saved bin offsets are inconsistent");
        goto exit;
    }
    if ((rc = read_array(m, r, "bin_edges", MB_DT_F32, 4, (size_t)m->bins.offset[nf], (void **)&m->bins.edges, err)))
        goto exit;
    /* every path must end: children come after their parent, in range */
    for (size_t i = 0; i < NT; i++)
        if (e->root[i] < 0 || (size_t)e->root[i] >= NN || (lw == 1 && (e->tree_output[i] < 0 || e->tree_output[i] >= no))) {
            rc = mbt_fail(err, MB_PLUGIN_EFORMAT, "saved tree %zu is malformed", i);
            goto exit;
        }
    for (size_t i = 0; i < NN; i++)
        if (e->feature[i] >= 0 &&
            (e->feature[i] >= nf || e->left[i] <= (int32_t)i || e->right[i] <= (int32_t)i ||
             (size_t)e->left[i] >= NN || (size_t)e->right[i] >= NN)) {
            rc = mbt_fail(err, MB_PLUGIN_EFORMAT, "saved node %zu is malformed", i);
            goto exit;
        }
    /* optional: states saved before covers have none (TreeSHAP then refuses) */
    if (r->size(r->ud, "cover", &t, &n) == MB_PLUGIN_OK &&
        (rc = read_array(m, r, "cover", MB_DT_F64, 8, NN, (void **)&e->cover, err)))
        goto exit;
    m->task = (mb_task)meta[META_TASK];
    m->nclasses = (size_t)meta[META_NCLASSES];
    m->nfeatures = (size_t)nf;
    m->best_iteration = meta[META_BEST];
    {
        double oob = NAN;
        if (r->size(r->ud, "oob_score", &t, &n) == MB_PLUGIN_OK && n == 1)
            r->get(r->ud, "oob_score", MB_DT_F64, &oob, 1);
        m->oob_score = oob;
    }
    {
        /* optional (absent from states saved before it was added):
        ** early stopping 0/1, train loss, valid loss */
        double stats[3] = {-1.0, NAN, NAN};
        if (r->size(r->ud, "fit_stats", &t, &n) == MB_PLUGIN_OK && n == 3 &&
            r->get(r->ud, "fit_stats", MB_DT_F64, stats, 3) == MB_PLUGIN_OK) {
            m->early_stopping = stats[0] == 1.0 ? 1 : stats[0] == 0.0 ? 0 : -1;
            m->train_loss = stats[1];
            m->valid_loss = stats[2];
        } else {
            m->early_stopping = -1; /* unknown */
            m->train_loss = m->valid_loss = NAN;
        }
    }
    if (mbt_prepare_predict(m) != MB_PLUGIN_OK) {
        rc = mbt_fail(err, MB_PLUGIN_ENOMEM, "out of memory");
        goto exit;
    }
    m->fitted = 1;
    rc = MB_PLUGIN_OK;
exit:
    if (rc != MB_PLUGIN_OK)
        mbt_model_clear(m);
    return rc;
}
