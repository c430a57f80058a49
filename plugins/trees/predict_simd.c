/*
** predict_simd.c: batch prediction of shallow tree ensembles (gradient
** boosting's depth <= 6) with AVX-512, sixteen rows to a register; the
** scalar walk (walk_block in ensemble.c) stays the fallback and the oracle.
**
** WHY
** A padded tree of depth <= 6 has at most 63 inner nodes: its thresholds
** fit in four zmm registers and its features in four more, so a level's
** node fetch for sixteen rows is a register permute (vpermt2ps/d: a
** 32-entry table lookup, two of them and a blend at the sixth level)
** instead of sixteen dependent loads; the rows' feature values come in one
** gather. Eight groups of sixteen rows walk a tree together so eight
** chains of gathers are in flight: a level's latency (permute, gather,
** compare: ~30 cycles) would otherwise bound the walk (CPU s of the
** 200k-row predict below: 2 groups 0.116, 4 0.076, 8 0.063, 16 0.062). On this Xeon (Sapphire/Emerald Rapids) a
** 16-lane gather from L1 costs about 3.4 ns of throughput and 12 ns of
** latency (a microbench, 2026-12-03), against ~1 ns per row and level for
** the scalar walk, so a level for sixteen rows costs about what one row's
** did. 200 depth-6 trees over clf_1m's 200,000 test rows (bench_fit, 1
** thread, CPU s): scalar 0.223, vector 0.063, and 0.054 with the first
** three levels taken from transposed rows without gathers (mbv_walk_tree_xt).
** (On AMD Zen 3 gathers are slow: portable_trees.c measured an AVX2 walk
** slower there; the CPU check, mbt_avx512_ok, asks for AVX-512 F and DQ,
** which Zen 3 lacks; Zen 4 has them, unmeasured.)
**
** The same split rule as the scalar walk: right when v > threshold (an
** ordered compare, false for NaN), or when v is NaN and the node does not
** send NaN left; padding nodes (+inf, NaN left) send everything left. The
** leaves reached are added to each row's sums tree by tree, in tree order,
** with the same double additions: the sums are the same bits.
**
** The kernel itself is vwalk.h, shared with the deployment runtime
** (src/core/portable_trees.c); this file builds its trees from the
** plugin's padded form and hands it blocks.
*/
#include "predict.h"

#include <stdlib.h>
#include <string.h>

void mbt_simd_free(const mb_host *h, mbt_predictor *pr)
{
    mbt_free(h, pr->vt_mem);
    pr->vt_mem = NULL;
    pr->vt = NULL;
}

#if MBV_HAVE

int mbt_simd_prepare(const mb_host *h, const mbt_ensemble *e, mbt_predictor *pr)
{
    mbt_simd_free(h, pr);
    if (e->leaf_width != 1 || e->noutputs > 16 || !e->ntrees || !mbt_avx512_ok())
        return MB_PLUGIN_OK;
    for (size_t t = 0; t < e->ntrees; t++)
        if (pr->trees[t].depth < 0 || pr->trees[t].depth > MBV_DEPTH)
            return MB_PLUGIN_OK;
    if (e->ntrees > (SIZE_MAX - 64) / sizeof(mbt_vtree))
        return MB_PLUGIN_OK;
    pr->vt_mem = mbt_alloc(h, e->ntrees * sizeof(mbt_vtree) + 64);
    if (!pr->vt_mem)
        return MB_PLUGIN_ENOMEM;
    pr->vt = (mbt_vtree *)(((uintptr_t)pr->vt_mem + 63) & ~(uintptr_t)63);
    memset(pr->vt, 0, e->ntrees * sizeof(mbt_vtree));
    for (size_t t = 0; t < e->ntrees; t++) {
        const ptree *pt = &pr->trees[t];
        size_t ninner = ((size_t)1 << pt->depth) - 1;
        mbt_vtree *v = &pr->vt[t];
        for (size_t i = 0; i < ninner; i++) {
            v->thr[i] = pr->nodes[pt->node_off + i].thr;
            v->feat[i] = pr->nodes[pt->node_off + i].feat; /* NAN_LEFT is MBV_NAN_LEFT */
        }
        memcpy(v->leaf, pr->leaves + pt->leaf_off, (ninner + 1) * sizeof(double));
        v->depth = pt->depth;
        v->out = pt->out;
    }
    return MB_PLUGIN_OK;
}

int mbt_simd_fits(const mbt_predictor *pr, size_t ld)
{
    /* gather offsets are int32: row (BLOCK - 1) of a block, any feature */
    return pr->vt && ld <= (size_t)INT32_MAX / (BLOCK + 1);
}

void mbt_simd_block(const mbt_ensemble *e, const mbt_predictor *pr, const float *xb, size_t ld, size_t nb,
                    int has_nan, double *a)
{
    size_t K = e->noutputs;
    double acc[16 * BLOCK] __attribute__((aligned(64)));
    memset(acc, 0, K * BLOCK * sizeof acc[0]);
    for (size_t r0 = 0; r0 < nb; r0 += MBV_CHUNK)
        (has_nan ? mbv_walk_chunk_nan : mbv_walk_chunk_plain)(pr->vt, e->ntrees, e->nfeatures, xb, ld, nb, r0, acc,
                                                              BLOCK);
    for (size_t i = 0; i < nb; i++)
        for (size_t k = 0; k < K; k++)
            a[i * K + k] = acc[k * BLOCK + i];
}

#else /* not x86-64 GCC/Clang (vwalk.h): the scalar walk only */

int mbt_simd_prepare(const mb_host *h, const mbt_ensemble *e, mbt_predictor *pr)
{
    (void)e;
    mbt_simd_free(h, pr);
    return MB_PLUGIN_OK;
}

int mbt_simd_fits(const mbt_predictor *pr, size_t ld)
{
    (void)pr;
    (void)ld;
    return 0;
}

void mbt_simd_block(const mbt_ensemble *e, const mbt_predictor *pr, const float *xb, size_t ld, size_t nb,
                    int has_nan, double *a)
{
    (void)e, (void)pr, (void)xb, (void)ld, (void)nb, (void)has_nan, (void)a;
}
#endif
