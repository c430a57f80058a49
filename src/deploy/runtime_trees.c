/*
** runtime_trees.c: the runtime's tree-ensemble evaluator (runtime_trees.h):
** the portable tree form recompiled once, at mb_runtime_open, into complete
** binary trees walked without branches, several rows at a time.
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
** The results are bit for bit mb_portable_predict_rows's: the same split
** rule (v <= threshold goes left, NaN goes the node's default way), the
** same leaf values added in the same tree order, then the same base score,
** average and link. An ensemble deeper than MAX_DEPTH, or one whose padded
** form would exceed MAX_BYTES, is not compiled: the caller keeps the
** portable loop.
*/
#include "runtime_trees.h"

#include <math.h>
#include <string.h>

#include "portable.h"

#define MAX_DEPTH 12
#define MAX_BYTES ((size_t)256 << 20)
#define BLOCK 8 /* rows walked together */

typedef struct node {
    float thr;
    uint32_t feat; /* feature << 1 | 1 when NaN goes right */
} node;

struct mbrt_trees {
    size_t ntrees, depth, k, width; /* width: doubles per leaf (1 or k) */
    size_t ninner, nleaf;           /* per tree: 2^D - 1 and 2^D */
    node *nodes;                    /* ntrees x ninner */
    double *leaf;                   /* ntrees x nleaf x width */
    const mb_tree_form *form;
};

/* Depth of the subtree at n (a leaf is 0); -1 past MAX_DEPTH. */
static int depth_of(const mb_tree_form *t, int32_t n, int d)
{
    if (t->feature[n] < 0)
        return 0;
    if (d >= MAX_DEPTH)
        return -1;
    int l = depth_of(t, t->left[n], d + 1), r = depth_of(t, t->right[n], d + 1);
    return l < 0 || r < 0 ? -1 : 1 + (l > r ? l : r);
}

/* Lay out the subtree at n from position pos (0-based, level order) of a
** tree whose level `level` holds pos. */
static void lay(mbrt_trees *c, const mb_tree_form *t, node *nd, double *lf, int32_t n, size_t pos, size_t level)
{
    if (level == c->depth) {
        memcpy(lf + (pos - c->ninner) * c->width, t->value + (size_t)n * c->width, c->width * sizeof *lf);
        return;
    }
    if (t->feature[n] < 0) { /* a leaf above depth D: both ways lead to it */
        nd[pos].thr = 0;
        nd[pos].feat = 0;
        lay(c, t, nd, lf, n, 2 * pos + 1, level + 1);
        lay(c, t, nd, lf, n, 2 * pos + 2, level + 1);
        return;
    }
    nd[pos].thr = t->threshold[n];
    nd[pos].feat = (uint32_t)t->feature[n] << 1 | (t->default_left[n] ? 0u : 1u);
    lay(c, t, nd, lf, t->left[n], 2 * pos + 1, level + 1);
    lay(c, t, nd, lf, t->right[n], 2 * pos + 2, level + 1);
}

mbrt_trees *mbrt_trees_compile(const mb_tree_form *t)
{
    size_t depth = 0;
    if (t->nfeatures >= (1u << 31))
        return NULL;
    for (size_t i = 0; i < t->ntrees; i++) {
        int d = depth_of(t, t->root[i], 0);
        if (d < 0)
            return NULL;
        depth = (size_t)d > depth ? (size_t)d : depth;
    }
    mbrt_trees *c = mb_trycalloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->ntrees = t->ntrees;
    c->depth = depth;
    c->k = t->noutputs;
    c->width = t->leaf_width;
    c->nleaf = (size_t)1 << depth;
    c->ninner = c->nleaf - 1;
    c->form = t;
    size_t bytes = t->ntrees * (c->ninner * sizeof(node) + c->nleaf * c->width * sizeof(double));
    if (bytes > MAX_BYTES || !(c->nodes = mb_trymalloc((t->ntrees * c->ninner + 1) * sizeof *c->nodes)) ||
        !(c->leaf = mb_trymalloc(t->ntrees * c->nleaf * c->width * sizeof *c->leaf))) {
        mbrt_trees_free(&c);
        return NULL;
    }
    for (size_t i = 0; i < t->ntrees; i++)
        lay(c, t, c->nodes + i * c->ninner, c->leaf + i * c->nleaf * c->width, t->root[i], 0, 0);
    return c;
}

void mbrt_trees_free(mbrt_trees **pc)
{
    mbrt_trees *c = *pc;
    if (!c)
        return;
    mb_free(c->nodes);
    mb_free(c->leaf);
    mb_free(c);
    *pc = NULL;
}

/* Rows [i0, i0 + nb) of X, nb <= BLOCK, into out (rows x k, raw sums). */
static void walk_block(const mbrt_trees *c, const mb_matrix *X, size_t i0, size_t nb, double *out)
{
    const float *x[BLOCK];
    size_t at[BLOCK];
    for (size_t r = 0; r < nb; r++)
        x[r] = X->x + (i0 + r) * X->ld;
    const int32_t *to = c->form->tree_output;
    for (size_t tr = 0; tr < c->ntrees; tr++) {
        const node *nd = c->nodes + tr * c->ninner;
        for (size_t r = 0; r < nb; r++)
            at[r] = 0;
        for (size_t d = 0; d < c->depth; d++)
            for (size_t r = 0; r < nb; r++) {
                node e = nd[at[r]];
                float v = x[r][e.feat >> 1];
                /* NaN compares false: it goes right only when the node says so */
                at[r] = 2 * at[r] + 1 + (size_t)((v > e.thr) | (isnan(v) & (int)(e.feat & 1)));
            }
        const double *lf = c->leaf + tr * c->nleaf * c->width;
        for (size_t r = 0; r < nb; r++) {
            double *o = out + (i0 + r) * c->k;
            size_t leaf = at[r] - c->ninner;
            if (c->width == 1)
                o[to[tr]] += lf[leaf];
            else
                for (size_t j = 0; j < c->k; j++)
                    o[j] += lf[leaf * c->width + j];
        }
    }
}

void mbrt_trees_predict(const mbrt_trees *c, const mb_matrix *X, double *out)
{
    const mb_tree_form *t = c->form;
    size_t k = c->k;
    memset(out, 0, X->rows * k * sizeof *out);
    for (size_t i = 0; i < X->rows; i += BLOCK)
        walk_block(c, X, i, X->rows - i < BLOCK ? X->rows - i : BLOCK, out);
    for (size_t i = 0; i < X->rows; i++) {
        double *o = out + i * k;
        for (size_t j = 0; j < k; j++)
            o[j] = (t->base_score ? t->base_score[j] : 0) + (t->average ? o[j] / (double)t->ntrees : o[j]);
        mb_portable_apply_link(t->link, o, k);
    }
}
