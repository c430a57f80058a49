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
** three levels taken from transposed rows without gathers (walk_tree_xt).
** (On AMD Zen 3 gathers are slow: runtime_trees.c measured an AVX2 walk
** slower there; the CPU check, mbt_avx512_ok, asks for AVX-512 F and DQ,
** which Zen 3 lacks; Zen 4 has them, unmeasured.)
**
** The same split rule as the scalar walk: right when v > threshold (an
** ordered compare, false for NaN), or when v is NaN and the node does not
** send NaN left; padding nodes (+inf, NaN left) send everything left. The
** leaves reached are added to each row's sums tree by tree, in tree order,
** with the same double additions: the sums are the same bits.
*/
#include "predict.h"

#include <stdlib.h>
#include <string.h>

#define VT_DEPTH 6
#define VT_NODES 64 /* 63 inner nodes and one unused slot; 64 leaves */
#define LANES 16
#define CHAINS 8    /* groups of 16 rows walking one tree together */

struct mbt_vtree {
    float thr[VT_NODES];
    int32_t feat[VT_NODES];       /* feature | NAN_LEFT, as pnode */
    double leaf[VT_NODES];
};

void mbt_simd_free(const mb_host *h, mbt_predictor *pr)
{
    mbt_free(h, pr->vt_mem);
    pr->vt_mem = NULL;
    pr->vt = NULL;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

int mbt_simd_prepare(const mb_host *h, const mbt_ensemble *e, mbt_predictor *pr)
{
    mbt_simd_free(h, pr);
    if (e->leaf_width != 1 || e->noutputs > 16 || !e->ntrees || !mbt_avx512_ok())
        return MB_PLUGIN_OK;
    for (size_t t = 0; t < e->ntrees; t++)
        if (pr->trees[t].depth < 0 || pr->trees[t].depth > VT_DEPTH)
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
            v->feat[i] = pr->nodes[pt->node_off + i].feat;
        }
        memcpy(v->leaf, pr->leaves + pt->leaf_off, (ninner + 1) * sizeof(double));
    }
    return MB_PLUGIN_OK;
}

int mbt_simd_fits(const mbt_predictor *pr, size_t ld)
{
    /* gather offsets are int32: row (BLOCK - 1) of a block, any feature */
    return pr->vt && ld <= (size_t)INT32_MAX / (BLOCK + 1);
}

#define TARGET __attribute__((target("avx512f")))

/* Tree v (depth D) over the CHAINS x 16 rows whose offsets (in floats from
** xb) are off[]: leaf positions (0..2^D - 1) to leaf[]. nan: take the
** nodes' NaN directions (the block has a NaN). */
static inline __attribute__((always_inline)) TARGET void walk_tree(const mbt_vtree *v, int D, int nan,
                                                                    const float *xb, const __m512i *off,
                                                                    __m512i *leaf)
{
    const __m512 t0 = _mm512_load_ps(v->thr), t1 = _mm512_load_ps(v->thr + 16),
                 t2 = _mm512_load_ps(v->thr + 32), t3 = _mm512_load_ps(v->thr + 48);
    const __m512i f0 = _mm512_load_si512(v->feat), f1 = _mm512_load_si512(v->feat + 16),
                  f2 = _mm512_load_si512(v->feat + 32), f3 = _mm512_load_si512(v->feat + 48);
    const __m512i one = _mm512_set1_epi32(1), fmask = _mm512_set1_epi32(NAN_LEFT - 1),
                  nanleft = _mm512_set1_epi32(NAN_LEFT), b32 = _mm512_set1_epi32(32);
    __m512i p[CHAINS];
    for (int c = 0; c < CHAINS; c++)
        p[c] = _mm512_setzero_si512();
    for (int d = 0; d < D; d++) {
        for (int c = 0; c < CHAINS; c++) {
            /* positions of level d are 2^d - 1 .. 2^(d+1) - 2: under 32
            ** above the sixth level, whose 31..62 span both tables */
            __m512 thr = _mm512_permutex2var_ps(t0, p[c], t1);
            __m512i ft = _mm512_permutex2var_epi32(f0, p[c], f1);
            if (d == VT_DEPTH - 1) {
                __mmask16 hi = _mm512_test_epi32_mask(p[c], b32);
                thr = _mm512_mask_blend_ps(hi, thr, _mm512_permutex2var_ps(t2, p[c], t3));
                ft = _mm512_mask_blend_epi32(hi, ft, _mm512_permutex2var_epi32(f2, p[c], f3));
            }
            __m512i idx = _mm512_add_epi32(off[c], _mm512_and_si512(ft, fmask));
            __m512 x = _mm512_i32gather_ps(idx, xb, 4);
            __mmask16 right = _mm512_cmp_ps_mask(x, thr, _CMP_GT_OQ);
            if (nan)
                right |= _mm512_mask_cmp_ps_mask(_mm512_testn_epi32_mask(ft, nanleft), x, x, _CMP_UNORD_Q);
            __m512i p2 = _mm512_add_epi32(_mm512_add_epi32(p[c], p[c]), one);
            p[c] = _mm512_mask_add_epi32(p2, right, p2, one);
        }
    }
    const __m512i first = _mm512_set1_epi32((1 << D) - 1);
    for (int c = 0; c < CHAINS; c++)
        leaf[c] = _mm512_sub_epi32(p[c], first);
}

/* The chunk's rows transposed (XT_MAX features at most): column f of row
** i at xt[f * CHUNK + i]. The first three levels then need no gather: the
** root's feature is one load for sixteen rows, the two nodes of level 1
** and four of level 2 are a load and a compare each, and the lane's own
** node is picked with mask logic from the sides already taken; only
** levels 3 and below gather. That halves the gathers of a depth-6 tree
** (six plus two for the leaves -> three plus two). */
#define CHUNK (CHAINS * LANES)
#define XT_MAX 64

/* The side (1: right) that node j of v sends the sixteen values at col to. */
static inline __attribute__((always_inline)) TARGET __mmask16 side(const mbt_vtree *v, int j, int nan,
                                                                   const float *col)
{
    __m512 x = _mm512_loadu_ps(col);
    __mmask16 r = _mm512_cmp_ps_mask(x, _mm512_set1_ps(v->thr[j]), _CMP_GT_OQ);
    if (nan && !(v->feat[j] & NAN_LEFT))
        r |= _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
    return r;
}

/* walk_tree over the transposed rows xt (D >= 3): chain c is rows c * 16 ... */
static inline __attribute__((always_inline)) TARGET void walk_tree_xt(const mbt_vtree *v, int D, int nan,
                                                                       const float *xt, __m512i *leaf)
{
    const __m512 t0 = _mm512_load_ps(v->thr), t1 = _mm512_load_ps(v->thr + 16),
                 t2 = _mm512_load_ps(v->thr + 32), t3 = _mm512_load_ps(v->thr + 48);
    const __m512i f0 = _mm512_load_si512(v->feat), f1 = _mm512_load_si512(v->feat + 16),
                  f2 = _mm512_load_si512(v->feat + 32), f3 = _mm512_load_si512(v->feat + 48);
    const __m512i one = _mm512_set1_epi32(1), fmask = _mm512_set1_epi32(NAN_LEFT - 1),
                  nanleft = _mm512_set1_epi32(NAN_LEFT), b32 = _mm512_set1_epi32(32),
                  iota = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    const float *c0 = xt + (size_t)(v->feat[0] & (NAN_LEFT - 1)) * CHUNK;
    const float *c1 = xt + (size_t)(v->feat[1] & (NAN_LEFT - 1)) * CHUNK,
                *c2 = xt + (size_t)(v->feat[2] & (NAN_LEFT - 1)) * CHUNK;
    const float *c3 = xt + (size_t)(v->feat[3] & (NAN_LEFT - 1)) * CHUNK,
                *c4 = xt + (size_t)(v->feat[4] & (NAN_LEFT - 1)) * CHUNK,
                *c5 = xt + (size_t)(v->feat[5] & (NAN_LEFT - 1)) * CHUNK,
                *c6 = xt + (size_t)(v->feat[6] & (NAN_LEFT - 1)) * CHUNK;
    __m512i p[CHAINS];
    for (int c = 0; c < CHAINS; c++) {
        size_t o = (size_t)c * LANES;
        __mmask16 R0 = side(v, 0, nan, c0 + o);
        __mmask16 R1 = (__mmask16)((side(v, 1, nan, c1 + o) & ~R0) | (side(v, 2, nan, c2 + o) & R0));
        __mmask16 R2 = (__mmask16)((side(v, 3, nan, c3 + o) & ~R0 & ~R1) | (side(v, 4, nan, c4 + o) & ~R0 & R1) |
                                   (side(v, 5, nan, c5 + o) & R0 & ~R1) | (side(v, 6, nan, c6 + o) & R0 & R1));
        __m512i q = _mm512_set1_epi32(7); /* level 3 starts at position 7 */
        q = _mm512_mask_add_epi32(q, R0, q, _mm512_set1_epi32(4));
        q = _mm512_mask_add_epi32(q, R1, q, _mm512_set1_epi32(2));
        p[c] = _mm512_mask_add_epi32(q, R2, q, one);
    }
    for (int d = 3; d < D; d++) {
        for (int c = 0; c < CHAINS; c++) {
            __m512 thr = _mm512_permutex2var_ps(t0, p[c], t1);
            __m512i ft = _mm512_permutex2var_epi32(f0, p[c], f1);
            if (d == VT_DEPTH - 1) {
                __mmask16 hi = _mm512_test_epi32_mask(p[c], b32);
                thr = _mm512_mask_blend_ps(hi, thr, _mm512_permutex2var_ps(t2, p[c], t3));
                ft = _mm512_mask_blend_epi32(hi, ft, _mm512_permutex2var_epi32(f2, p[c], f3));
            }
            __m512i idx = _mm512_add_epi32(_mm512_set1_epi32(c * LANES),
                                           _mm512_add_epi32(iota, _mm512_slli_epi32(_mm512_and_si512(ft, fmask), 7)));
            __m512 x = _mm512_i32gather_ps(idx, xt, 4);
            __mmask16 right = _mm512_cmp_ps_mask(x, thr, _CMP_GT_OQ);
            if (nan)
                right |= _mm512_mask_cmp_ps_mask(_mm512_testn_epi32_mask(ft, nanleft), x, x, _CMP_UNORD_Q);
            __m512i p2 = _mm512_add_epi32(_mm512_add_epi32(p[c], p[c]), one);
            p[c] = _mm512_mask_add_epi32(p2, right, p2, one);
        }
    }
    const __m512i first = _mm512_set1_epi32((1 << D) - 1);
    for (int c = 0; c < CHAINS; c++)
        leaf[c] = _mm512_sub_epi32(p[c], first);
}

/* Every tree over rows [r0, r0 + CHAINS * 16) of the block (rows past nb
** read row 0 and are never copied out), sums into acc (noutputs x BLOCK). */
static inline __attribute__((always_inline)) TARGET void walk_chunk(const mbt_ensemble *e,
                                                                     const mbt_predictor *pr,
                                                                     const float *xb, size_t ld,
                                                                     size_t nb, size_t r0, int nan,
                                                                     double *acc)
{
    __m512i off[CHAINS], leaf[CHAINS];
    size_t nf = e->nfeatures;
    float xt[XT_MAX * CHUNK] __attribute__((aligned(64)));
    if (nf <= XT_MAX) /* rows past nb: zeros, walked and never copied out */
        for (size_t i = 0; i < CHUNK; i++)
            for (size_t f = 0; f < nf; f++)
                xt[f * CHUNK + i] = r0 + i < nb ? xb[(r0 + i) * ld + f] : 0.0f;
    for (int c = 0; c < CHAINS; c++) {
        int32_t o[LANES];
        for (int l = 0; l < LANES; l++) {
            size_t r = r0 + (size_t)c * LANES + (size_t)l;
            o[l] = r < nb ? (int32_t)(r * ld) : 0;
        }
        off[c] = _mm512_loadu_si512(o);
    }
    for (size_t t = 0; t < e->ntrees; t++) {
        const ptree *pt = &pr->trees[t];
        const mbt_vtree *v = &pr->vt[t];
        if (nf <= XT_MAX && pt->depth >= 3)
            walk_tree_xt(v, pt->depth, nan, xt, leaf);
        else
            walk_tree(v, pt->depth, nan, xb, off, leaf);
        double *a = acc + (size_t)pt->out * BLOCK + r0;
        for (int c = 0; c < CHAINS; c++) {
            __m512d lo = _mm512_i32gather_pd(_mm512_castsi512_si256(leaf[c]), v->leaf, 8);
            __m512d hi = _mm512_i32gather_pd(_mm512_extracti64x4_epi64(leaf[c], 1), v->leaf, 8);
            _mm512_storeu_pd(a, _mm512_add_pd(_mm512_loadu_pd(a), lo));
            _mm512_storeu_pd(a + 8, _mm512_add_pd(_mm512_loadu_pd(a + 8), hi));
            a += LANES;
        }
    }
}

static TARGET void walk_chunk_plain(const mbt_ensemble *e, const mbt_predictor *pr, const float *xb, size_t ld,
                                    size_t nb, size_t r0, double *acc)
{
    walk_chunk(e, pr, xb, ld, nb, r0, 0, acc);
}

static TARGET void walk_chunk_nan(const mbt_ensemble *e, const mbt_predictor *pr, const float *xb, size_t ld,
                                  size_t nb, size_t r0, double *acc)
{
    walk_chunk(e, pr, xb, ld, nb, r0, 1, acc);
}

void mbt_simd_block(const mbt_ensemble *e, const mbt_predictor *pr, const float *xb, size_t ld, size_t nb,
                    int has_nan, double *a)
{
    size_t K = e->noutputs;
    double acc[16 * BLOCK] __attribute__((aligned(64)));
    memset(acc, 0, K * BLOCK * sizeof acc[0]);
    for (size_t r0 = 0; r0 < nb; r0 += CHAINS * LANES)
        (has_nan ? walk_chunk_nan : walk_chunk_plain)(e, pr, xb, ld, nb, r0, acc);
    for (size_t i = 0; i < nb; i++)
        for (size_t k = 0; k < K; k++)
            a[i * K + k] = acc[k * BLOCK + i];
}

#else /* not x86-64 GCC/Clang: the scalar walk only */

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
