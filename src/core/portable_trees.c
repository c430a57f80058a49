/*
** portable_trees.c: the scorers' tree-ensemble evaluator (portable.h,
** mb_trees_plan): the portable tree form compiled once, when a scorer is
** opened (mb_scorer_open: every command, Lua, the workbench, and through it
** the deployment runtime), into complete binary trees walked without
** branches, several rows at a time.
**
** WHY
** ---
** The portable form (moonbench_plugin.h) is a node list with child
** indices: a walk is a chain of dependent loads and hard-to-predict
** branches (is this a leaf? left or right?), which took 86% of `moonbench
** score` on a 200-tree GBDT. Here every tree is padded to the ensemble's
** depth D (a leaf above depth D is copied into all the leaves below it), so
** a walk is exactly D steps of i = 2i + 1 + right, with no leaf test, and
** `right` is computed, not branched on. The rows of a block are walked
** together, so their loads overlap instead of waiting for each other.
**
** A chunk is walked GROUP rows by GROUP rows, every tree over the whole
** group before the next tree, so one tree (a depth-6 tree is 1 KB) and
** the group's rows stay in L1 while they are used, and 8 rows step down
** each level together with their node indices in registers (walk8): 8
** independent chains of loads in flight. This took the 200-tree GBDT's
** 200,000 rows from 0.97 to 0.67 CPU s (whole `moonbench score`).
** An AVX2 kernel (8 lanes, nodes and feature values fetched by gathers)
** was measured and dropped: 1.7 CPU s on the same run (AMD Zen 3, where
** gathers are slow); the walk is bound by dependent loads, not compares.
**
** Rows after a chunk's last full block of 8, and so every single row
** (mb_runtime_row_predict: serve, the Redis worker), have no other rows to
** overlap with: each walks its trees 8 at a time (row8), the 8 trees'
** chains interleaved, as the exported C does (export_c.c). That took one
** row through the 200-tree GBDT from 9.6 to 2.1 us (export_c_ref.c, with
** the doubled rows below; median call, load 3.4).
**
** NaN without a test: a group's rows are copied once into a buffer that
** holds each row twice, NaN as +inf in the first copy and as -inf in the
** second, and a node whose NaN goes right reads its feature from the
** first copy, one whose NaN goes left from the second (the node stores the
** slot, feature or nfeatures + feature). A step is then just
** i = 2i + 1 + (slot value > threshold): +inf > t holds for every
** threshold t but +inf, -inf > t for none, and a number is the same in
** both copies. That cut the walk's instructions by 34% (callgrind, 20,000
** rows of the 200-tree GBDT) and `moonbench score`'s CPU time on the
** 200,000 rows from 0.56 to 0.43 s (1 thread). The one case
** it gets wrong, a +inf threshold whose NaN goes right (no trainer makes
** one), is not compiled. Models too wide for the buffer (over 4096
** features) take the slot-decoding walk (wide_row).
**
** AVX-512 (Intel; not AMD Zen 3, whose gathers are slow, and which lacks
** AVX-512 anyway): an ensemble of one output per tree and depth <= 6, the
** shape of gradient boosting, also gets the trees plugin's vector walk
** (plugins/trees/vwalk.h: sixteen rows a register, node tables in
** registers, eight chains of gathers in flight), for every run of at least
** VEC_MIN rows of a chunk. `moonbench score` of the 200-tree GBDT on the
** 200,000 rows: the walk took 73% of its CPU time before.
**
** The results are bit for bit mb_portable_predict_rows's: the same split
** rule (v <= threshold goes left, NaN goes the node's default way), the
** same leaf values added in the same tree order, then the same base score,
** average and link. An ensemble deeper than MAX_DEPTH, or one whose padded
** form would exceed MAX_BYTES, is not compiled: the caller keeps the
** portable loop.
*/
#include <math.h>
#include <string.h>

#include "portable.h"
#include "trees/vwalk.h"

#define MAX_DEPTH 12
#define MAX_BYTES ((size_t)256 << 20)
#define BLOCK 8     /* rows stepped down a level together */
#define GROUP 128   /* rows that every tree walks before the next tree */
#define DBUF 8192   /* floats of doubled rows on the stack (32 KB) */
#define VEC_MIN 48  /* rows from which a chunk of MBV_CHUNK takes the vector walk:
                    ** it costs the same for 1 or 128 rows, the scalar walk ~1/40 of it a row */
#define VEC_MAX_OUT 16 /* outputs of the vector walk's sums on the stack */

typedef struct node {
    float thr;
    uint32_t slot; /* feature when NaN goes right, nfeatures + feature when it goes left */
} node;

struct mb_trees_plan {
    size_t ntrees, depth, k, width; /* width: doubles per leaf (1 or k) */
    size_t ninner, nleaf;           /* per tree: 2^D - 1 and 2^D */
    size_t nf;                      /* features: a doubled row holds 2 nf floats */
    node *nodes;                    /* ntrees x ninner */
    double *leaf;                   /* ntrees x nleaf x width */
    mbv_tree *vt;                   /* the vector walk's trees (64-byte aligned), or NULL */
    void *vt_mem;                   /* what vt was carved from */
    mb_tree_form form;              /* a copy (a scorer may move); its arrays must outlive c */
};

/* Depth of the subtree at n (a leaf is 0); -1 past max_depth. */
static int depth_of(const mb_tree_form *t, int32_t n, int d, int max_depth)
{
    if (t->feature[n] < 0)
        return 0;
    if (d >= max_depth)
        return -1;
    int l = depth_of(t, t->left[n], d + 1, max_depth), r = depth_of(t, t->right[n], d + 1, max_depth);
    return l < 0 || r < 0 ? -1 : 1 + (l > r ? l : r);
}

int mb_trees_depth(const mb_tree_form *t, int max_depth)
{
    int depth = 0;
    for (size_t i = 0; i < t->ntrees; i++) {
        int d = depth_of(t, t->root[i], 0, max_depth);
        if (d < 0)
            return -1;
        depth = d > depth ? d : depth;
    }
    return depth;
}

static void pad(const mb_tree_form *t, int32_t n, size_t pos, size_t level, size_t depth, int32_t *at)
{
    at[pos] = n;
    if (level == depth)
        return;
    int leaf = t->feature[n] < 0; /* a leaf above the depth: both ways lead to it */
    pad(t, leaf ? n : t->left[n], 2 * pos + 1, level + 1, depth, at);
    pad(t, leaf ? n : t->right[n], 2 * pos + 2, level + 1, depth, at);
}

void mb_trees_pad(const mb_tree_form *t, size_t tr, size_t depth, int32_t *at)
{
    pad(t, t->root[tr], 0, 0, depth, at);
}

/* Tree tr laid out from its padded positions at (mb_trees_pad). */
static void lay(mb_trees_plan *c, const mb_tree_form *t, size_t tr, const int32_t *at)
{
    node *nd = c->nodes + tr * c->ninner;
    double *lf = c->leaf + tr * c->nleaf * c->width;
    for (size_t pos = 0; pos < c->ninner; pos++) {
        int32_t n = at[pos];
        int leaf = t->feature[n] < 0;
        nd[pos].thr = leaf ? 0 : t->threshold[n];
        nd[pos].slot = leaf ? 0 : (uint32_t)((size_t)t->feature[n] + (t->default_left[n] ? c->nf : 0));
    }
    for (size_t j = 0; j < c->nleaf; j++)
        memcpy(lf + j * c->width, t->value + (size_t)at[c->ninner + j] * c->width, c->width * sizeof *lf);
}

/* The vector walk's form of c's padded trees, when the ensemble and the
** CPU suit it (VEC_MIN above); none without memory, the scalar walk stays. */
static void vector_trees(mb_trees_plan *c)
{
    if (!MBV_HAVE || c->width != 1 || c->depth > MBV_DEPTH || !c->nf || c->k > VEC_MAX_OUT || !mbv_cpu_ok() ||
        c->ntrees > (SIZE_MAX - 64) / sizeof(mbv_tree) || !(c->vt_mem = mb_trymalloc(c->ntrees * sizeof(mbv_tree) + 64)))
        return;
    c->vt = (mbv_tree *)(((uintptr_t)c->vt_mem + 63) & ~(uintptr_t)63);
    memset(c->vt, 0, c->ntrees * sizeof *c->vt);
    for (size_t tr = 0; tr < c->ntrees; tr++) {
        mbv_tree *v = &c->vt[tr];
        const node *nd = c->nodes + tr * c->ninner;
        for (size_t i = 0; i < c->ninner; i++) {
            /* the slot's two copies (WHY) are the NaN direction here */
            size_t f = nd[i].slot < c->nf ? nd[i].slot : nd[i].slot - c->nf;
            v->thr[i] = nd[i].thr;
            v->feat[i] = (int32_t)f | (nd[i].slot < c->nf ? 0 : MBV_NAN_LEFT);
        }
        memcpy(v->leaf, c->leaf + tr * c->nleaf, c->nleaf * sizeof *v->leaf);
        v->depth = (int32_t)c->depth;
        v->out = c->form.tree_output[tr];
    }
}

int mb_trees_plan_vector(const mb_trees_plan *c)
{
    return c->vt != NULL;
}

mb_trees_plan *mb_trees_plan_new(const mb_tree_form *t)
{
    int d = mb_trees_depth(t, MAX_DEPTH);
    if (d < 0 || t->nfeatures >= (1u << 30))
        return NULL;
    for (size_t i = 0; i < t->nnodes; i++) /* the one node the doubled rows get wrong (WHY) */
        if (t->feature[i] >= 0 && isinf(t->threshold[i]) && t->threshold[i] > 0 && !t->default_left[i])
            return NULL;
    size_t depth = (size_t)d;
    mb_trees_plan *c = mb_trycalloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->ntrees = t->ntrees;
    c->depth = depth;
    c->k = t->noutputs;
    c->width = t->leaf_width;
    c->nleaf = (size_t)1 << depth;
    c->ninner = c->nleaf - 1;
    c->nf = t->nfeatures;
    c->form = *t;
    size_t bytes = t->ntrees * (c->ninner * sizeof(node) + c->nleaf * c->width * sizeof(double));
    int32_t *at = NULL;
    if (bytes > MAX_BYTES || !(c->nodes = mb_trymalloc((t->ntrees * c->ninner + 1) * sizeof *c->nodes)) ||
        !(c->leaf = mb_trymalloc(t->ntrees * c->nleaf * c->width * sizeof *c->leaf)) ||
        !(at = mb_trymalloc((c->ninner + c->nleaf) * sizeof *at))) {
        mb_trees_plan_free(&c);
        return NULL;
    }
    for (size_t i = 0; i < t->ntrees; i++) {
        mb_trees_pad(t, i, depth, at);
        lay(c, t, i, at);
    }
    mb_free(at);
    vector_trees(c);
    return c;
}

void mb_trees_plan_free(mb_trees_plan **pc)
{
    mb_trees_plan *c = *pc;
    if (!c)
        return;
    mb_free(c->nodes);
    mb_free(c->leaf);
    mb_free(c->vt_mem);
    mb_free(c);
    *pc = NULL;
}

/* Row x (nf floats) twice into d (2 nf): NaN as +inf, then as -inf. */
static void double_row(const float *x, size_t nf, float *d)
{
    for (size_t j = 0; j < nf; j++) {
        float v = x[j];
        d[j] = isnan(v) ? INFINITY : v;
        d[nf + j] = isnan(v) ? -INFINITY : v;
    }
}

/* The leaves reached by the rows of a block, added to their sums (out:
** rows x k, row 0 of the block first), in tree order like the oracle. */
static void add_leaves(const mb_trees_plan *c, size_t tr, const size_t *at, size_t nb, double *out)
{
    const double *lf = c->leaf + tr * c->nleaf * c->width;
    size_t k = c->k;
    if (c->width == 1) {
        size_t o = (size_t)c->form.tree_output[tr];
        for (size_t r = 0; r < nb; r++)
            out[r * k + o] += lf[at[r] - c->ninner];
        return;
    }
    for (size_t r = 0; r < nb; r++)
        for (size_t j = 0; j < k; j++)
            out[r * k + j] += lf[(at[r] - c->ninner) * c->width + j];
}

/* One level down for a walk at a over doubled row x (see WHY). */
#define STEP(a, nd, x)                                                                               \
    do {                                                                                             \
        node e = (nd)[a];                                                                            \
        a = 2 * a + 1 + (size_t)((x)[e.slot] > e.thr);                                               \
    } while (0)

/* One tree over the 8 doubled rows from x0 (ld floats apart, row 0's sums
** at out): D steps of i = 2i + 1 + right with the 8 row indices in
** registers (named, not an array, so the compiler keeps them there), 8
** independent chains of loads in flight per level. */
static void walk8(const mb_trees_plan *c, size_t tr, const float *x0, size_t ld, double *out)
{
    const node *nd = c->nodes + tr * c->ninner;
    const float *x1 = x0 + ld, *x2 = x1 + ld, *x3 = x2 + ld, *x4 = x3 + ld, *x5 = x4 + ld, *x6 = x5 + ld,
                *x7 = x6 + ld;
    size_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
    for (size_t d = 0; d < c->depth; d++) {
        STEP(a0, nd, x0);
        STEP(a1, nd, x1);
        STEP(a2, nd, x2);
        STEP(a3, nd, x3);
        STEP(a4, nd, x4);
        STEP(a5, nd, x5);
        STEP(a6, nd, x6);
        STEP(a7, nd, x7);
    }
    size_t at[BLOCK] = {a0, a1, a2, a3, a4, a5, a6, a7};
    add_leaves(c, tr, at, BLOCK, out);
}

/* The leaf of tree tr at position at, added to a row's sums (o: k doubles). */
static void add_leaf(const mb_trees_plan *c, size_t tr, size_t at, double *o)
{
    const double *lf = c->leaf + (tr * c->nleaf + at - c->ninner) * c->width;
    if (c->width == 1)
        o[c->form.tree_output[tr]] += lf[0];
    else
        for (size_t j = 0; j < c->k; j++)
            o[j] += lf[j];
}

/* One doubled row x down the 8 trees from tr, the 8 walks interleaved (the
** exported C's walk, export_c.c): a single row has no other rows to
** overlap with, so its trees are the 8 independent chains of loads. The
** leaves are added in tree order, like the oracle. */
static void row8(const mb_trees_plan *c, size_t tr, const float *x, double *o)
{
    size_t ni = c->ninner;
    const node *n0 = c->nodes + tr * ni, *n1 = n0 + ni, *n2 = n1 + ni, *n3 = n2 + ni, *n4 = n3 + ni, *n5 = n4 + ni,
               *n6 = n5 + ni, *n7 = n6 + ni;
    size_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
    for (size_t d = 0; d < c->depth; d++) {
        STEP(a0, n0, x);
        STEP(a1, n1, x);
        STEP(a2, n2, x);
        STEP(a3, n3, x);
        STEP(a4, n4, x);
        STEP(a5, n5, x);
        STEP(a6, n6, x);
        STEP(a7, n7, x);
    }
    size_t at[8] = {a0, a1, a2, a3, a4, a5, a6, a7};
    for (size_t j = 0; j < 8; j++)
        add_leaf(c, tr + j, at[j], o);
}

/* Every tree over the one doubled row x, raw sums into o (k doubles). */
static void walk_row(const mb_trees_plan *c, const float *x, double *o)
{
    size_t tr = 0;
    for (; tr + 8 <= c->ntrees; tr += 8)
        row8(c, tr, x, o);
    for (; tr < c->ntrees; tr++) {
        const node *nd = c->nodes + tr * c->ninner;
        size_t a = 0;
        for (size_t d = 0; d < c->depth; d++)
            STEP(a, nd, x);
        add_leaf(c, tr, a, o);
    }
}
#undef STEP

/* A row too wide to double on the stack (x: the row itself): the slot
** decoded at every step, NaN tested. */
static void wide_row(const mb_trees_plan *c, const float *x, double *o)
{
    for (size_t tr = 0; tr < c->ntrees; tr++) {
        const node *nd = c->nodes + tr * c->ninner;
        size_t a = 0;
        for (size_t d = 0; d < c->depth; d++) {
            node e = nd[a];
            size_t right_nan = e.slot < c->nf, f = right_nan ? e.slot : e.slot - c->nf;
            float v = x[f];
            a = 2 * a + 1 + (size_t)((v > e.thr) | (isnan(v) & (int)right_nan));
        }
        add_leaf(c, tr, a, o);
    }
}

/* Rows [g0, g0 + n) of X, n <= GROUP and 2 nf n <= DBUF: every tree over
** them, raw sums into out (rows x k). Full blocks of BLOCK rows walk tree
** by tree (rows interleaved); the rows after the last full block (a
** single row from serve or the worker, a chunk's tail) walk row by row
** with their trees interleaved instead. Either way a row's sums take the
** trees in order. */
static void walk_group(const mb_trees_plan *c, const mb_matrix *X, size_t g0, size_t n, double *out)
{
    float d[DBUF];
    size_t ld = 2 * c->nf, full = n / BLOCK * BLOCK;
    for (size_t i = 0; i < n; i++)
        double_row(X->x + (g0 + i) * X->ld, c->nf, d + i * ld);
    for (size_t tr = 0; full && tr < c->ntrees; tr++)
        for (size_t i = 0; i < full; i += BLOCK)
            walk8(c, tr, d + i * ld, ld, out + (g0 + i) * c->k);
    for (size_t i = full; i < n; i++)
        walk_row(c, d + i * ld, out + (g0 + i) * c->k);
}

#if MBV_HAVE
/* Rows [r0, r0 + nb) of X (nb <= MBV_CHUNK) by the vector walk, raw sums
** into out (rows x k): the same leaves added in the same order from +0 as
** walk_group's, so the same bits. */
static void vector_chunk(const mb_trees_plan *c, const mb_matrix *X, size_t r0, size_t nb, double *out)
{
    double acc[VEC_MAX_OUT * MBV_CHUNK] __attribute__((aligned(64)));
    const float *xb = X->x + r0 * X->ld;
    int nan = 0;
    for (size_t i = 0; i < nb; i++)
        for (size_t f = 0; f < c->nf; f++)
            nan |= xb[i * X->ld + f] != xb[i * X->ld + f];
    memset(acc, 0, c->k * MBV_CHUNK * sizeof *acc);
    (nan ? mbv_walk_chunk_nan : mbv_walk_chunk_plain)(c->vt, c->ntrees, c->nf, xb, X->ld, nb, 0, acc, MBV_CHUNK);
    for (size_t i = 0; i < nb; i++)
        for (size_t j = 0; j < c->k; j++)
            out[(r0 + i) * c->k + j] = acc[j * MBV_CHUNK + i];
}
#endif

void mb_trees_plan_predict_rows(const mb_trees_plan *c, const mb_matrix *X, double *out)
{
    const mb_tree_form *t = &c->form;
    size_t k = c->k, fit = c->nf ? DBUF / (2 * c->nf) : GROUP;
    /* rows per group: GROUP, or as many doubled rows as the buffer holds
    ** (whole blocks when it holds one); 0: too wide, wide_row */
    size_t g = fit >= GROUP ? GROUP : fit >= BLOCK ? fit / BLOCK * BLOCK : fit;
    memset(out, 0, X->rows * k * sizeof *out);
    size_t i0 = 0;
#if MBV_HAVE
    /* gather offsets are int32: row MBV_CHUNK - 1 of a chunk, any feature */
    if (c->vt && X->ld <= (size_t)INT32_MAX / (MBV_CHUNK + 1))
        while (X->rows - i0 >= VEC_MIN) {
            size_t nb = X->rows - i0 < MBV_CHUNK ? X->rows - i0 : MBV_CHUNK;
            vector_chunk(c, X, i0, nb, out);
            i0 += nb;
        }
#endif
    for (size_t i = i0; i < X->rows; i += g ? g : 1) {
        if (g)
            walk_group(c, X, i, X->rows - i < g ? X->rows - i : g, out);
        else
            wide_row(c, X->x + i * X->ld, out + i * k);
    }
    for (size_t i = 0; i < X->rows; i++) {
        double *o = out + i * k;
        for (size_t j = 0; j < k; j++)
            o[j] = (t->base_score ? t->base_score[j] : 0) + (t->average ? o[j] / (double)t->ntrees : o[j]);
        mb_portable_apply_link(t->link, o, k);
    }
}
