/*
** vwalk.h: the AVX-512 walk of shallow padded trees (depth <= 6), sixteen
** rows to a register, as one header-only kernel for the two places that
** score tree ensembles in batches: the trees plugin (predict_simd.c) and
** the host's scorers (src/core/portable_trees.c: `moonbench score`,
** evaluate, serve's and the Redis worker's batches, Lua, the workbench). Header only
** because the plugin is a separate shared object: both compile the same
** code and neither links the other. Each caller keeps its scalar walk as
** the fallback and as the oracle its tests compare against.
**
** WHY (the measurements are in predict_simd.c)
** A padded tree of depth <= 6 has at most 63 inner nodes: its thresholds
** fit in four zmm registers and its features in four more, so a level's
** node fetch for sixteen rows is a register permute (a 32-entry table
** lookup, two and a blend at the sixth level) instead of sixteen dependent
** loads; the rows' feature values come in one gather. Eight groups of
** sixteen rows walk a tree together, so eight chains of gathers are in
** flight. The first three levels read transposed rows and need no gather.
**
** The split rule: right when v > threshold (an ordered compare, false for
** NaN), or when v is NaN and the node does not send NaN left (feature |
** MBV_NAN_LEFT); a tree is complete to its depth (a leaf above it padded
** down by copies, whatever its padding nodes test). The leaves reached are
** added to each row's sums tree by tree, in tree order, with one double
** addition each: a caller that adds the same leaves in the same order from
** +0 gets the same bits.
*/
#ifndef MB_VWALK_H
#define MB_VWALK_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#define MBV_DEPTH 6
#define MBV_NODES 64 /* 63 inner nodes and one unused slot; 64 leaves */
#define MBV_LANES 16
#define MBV_CHAINS 8 /* groups of 16 rows walking one tree together */
#define MBV_CHUNK (MBV_CHAINS * MBV_LANES) /* 128: a transposed column's stride, 1 << 7 */
#define MBV_XT_MAX 64 /* features the transposed chunk holds */
#define MBV_NAN_LEFT (1 << 30)
_Static_assert(MBV_CHUNK == 1 << 7, "mbv_walk_tree_xt shifts features by 7");

/* One tree (64-byte aligned: the kernel loads its tables whole). */
typedef struct mbv_tree {
    float thr[MBV_NODES];
    int32_t feat[MBV_NODES]; /* feature | MBV_NAN_LEFT when NaN goes left */
    double leaf[MBV_NODES];  /* leaf j at the padded depth */
    int32_t depth;           /* 0..MBV_DEPTH */
    int32_t out;             /* the output its leaves add to */
} __attribute__((aligned(64))) mbv_tree;

#if defined(__x86_64__) && defined(__GNUC__)
#define MBV_HAVE 1
#include <immintrin.h>

#define MBV_TARGET __attribute__((target("avx512f,avx512dq")))
#define MBV_INLINE static inline __attribute__((always_inline)) MBV_TARGET

/* Levels d0 .. D - 1 of tree v for the MBV_CHAINS x 16 lanes at their
** level-d0 positions p[], then their leaf positions (0..2^D - 1) to at[].
** A lane's value of feature f is x[base + (f << shift)], base its lane of
** base[]: shift 0 for rows as they lie (base: the row's offset), 7 for a
** transposed chunk (base: the lane's row in it). nan: take the nodes' NaN
** directions (the chunk has a NaN). */
MBV_INLINE void mbv_levels(const mbv_tree *v, int d0, int D, int nan, const float *x, const __m512i *base, int shift,
                           __m512i *p, __m512i *at)
{
    const __m512 t0 = _mm512_load_ps(v->thr), t1 = _mm512_load_ps(v->thr + 16),
                 t2 = _mm512_load_ps(v->thr + 32), t3 = _mm512_load_ps(v->thr + 48);
    const __m512i f0 = _mm512_load_si512(v->feat), f1 = _mm512_load_si512(v->feat + 16),
                  f2 = _mm512_load_si512(v->feat + 32), f3 = _mm512_load_si512(v->feat + 48);
    const __m512i one = _mm512_set1_epi32(1), fmask = _mm512_set1_epi32(MBV_NAN_LEFT - 1),
                  nanleft = _mm512_set1_epi32(MBV_NAN_LEFT), b32 = _mm512_set1_epi32(32);
    for (int d = d0; d < D; d++) {
        for (int c = 0; c < MBV_CHAINS; c++) {
            /* positions of level d are 2^d - 1 .. 2^(d+1) - 2: under 32
            ** above the sixth level, whose 31..62 span both tables */
            __m512 thr = _mm512_permutex2var_ps(t0, p[c], t1);
            __m512i ft = _mm512_permutex2var_epi32(f0, p[c], f1);
            if (d == MBV_DEPTH - 1) {
                __mmask16 hi = _mm512_test_epi32_mask(p[c], b32);
                thr = _mm512_mask_blend_ps(hi, thr, _mm512_permutex2var_ps(t2, p[c], t3));
                ft = _mm512_mask_blend_epi32(hi, ft, _mm512_permutex2var_epi32(f2, p[c], f3));
            }
            __m512i idx = _mm512_add_epi32(base[c], _mm512_slli_epi32(_mm512_and_si512(ft, fmask), shift));
            __m512 xv = _mm512_i32gather_ps(idx, x, 4);
            __mmask16 right = _mm512_cmp_ps_mask(xv, thr, _CMP_GT_OQ);
            if (nan)
                right |= _mm512_mask_cmp_ps_mask(_mm512_testn_epi32_mask(ft, nanleft), xv, xv, _CMP_UNORD_Q);
            __m512i p2 = _mm512_add_epi32(_mm512_add_epi32(p[c], p[c]), one);
            p[c] = _mm512_mask_add_epi32(p2, right, p2, one);
        }
    }
    const __m512i first = _mm512_set1_epi32((1 << D) - 1);
    for (int c = 0; c < MBV_CHAINS; c++)
        at[c] = _mm512_sub_epi32(p[c], first);
}

/* Tree v over the MBV_CHAINS x 16 rows whose offsets (in floats from xb)
** are off[]: leaf positions (0..2^D - 1) to at[]. */
MBV_INLINE void mbv_walk_tree(const mbv_tree *v, int D, int nan, const float *xb, const __m512i *off,
                              __m512i *at)
{
    __m512i p[MBV_CHAINS];
    for (int c = 0; c < MBV_CHAINS; c++)
        p[c] = _mm512_setzero_si512();
    mbv_levels(v, 0, D, nan, xb, off, 0, p, at);
}

/* The side (1: right) that node j of v sends the sixteen values at col to. */
MBV_INLINE __mmask16 mbv_side(const mbv_tree *v, int j, int nan, const float *col)
{
    __m512 x = _mm512_loadu_ps(col);
    __mmask16 r = _mm512_cmp_ps_mask(x, _mm512_set1_ps(v->thr[j]), _CMP_GT_OQ);
    if (nan && !(v->feat[j] & MBV_NAN_LEFT))
        r |= _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
    return r;
}

/* mbv_walk_tree over the chunk's rows transposed (column f of row i at
** xt[f * MBV_CHUNK + i]; D >= 3): the root's feature is one load for
** sixteen rows, the two nodes of level 1 and four of level 2 a load and a
** compare each, the lane's own node picked with mask logic from the sides
** already taken; only levels 3 and below gather. That halves the gathers
** of a depth-6 tree (six plus two for the leaves -> three plus two). */
MBV_INLINE void mbv_walk_tree_xt(const mbv_tree *v, int D, int nan, const float *xt, __m512i *at)
{
    const __m512i one = _mm512_set1_epi32(1),
                  iota = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
#define MBV_COL(j) (xt + (size_t)(v->feat[j] & (MBV_NAN_LEFT - 1)) * MBV_CHUNK)
    const float *c0 = MBV_COL(0), *c1 = MBV_COL(1), *c2 = MBV_COL(2), *c3 = MBV_COL(3), *c4 = MBV_COL(4),
                *c5 = MBV_COL(5), *c6 = MBV_COL(6);
#undef MBV_COL
    __m512i p[MBV_CHAINS];
    for (int c = 0; c < MBV_CHAINS; c++) {
        size_t o = (size_t)c * MBV_LANES;
        __mmask16 R0 = mbv_side(v, 0, nan, c0 + o);
        __mmask16 R1 = (__mmask16)((mbv_side(v, 1, nan, c1 + o) & ~R0) | (mbv_side(v, 2, nan, c2 + o) & R0));
        __mmask16 R2 =
            (__mmask16)((mbv_side(v, 3, nan, c3 + o) & ~R0 & ~R1) | (mbv_side(v, 4, nan, c4 + o) & ~R0 & R1) |
                        (mbv_side(v, 5, nan, c5 + o) & R0 & ~R1) | (mbv_side(v, 6, nan, c6 + o) & R0 & R1));
        __m512i q = _mm512_set1_epi32(7); /* level 3 starts at position 7 */
        q = _mm512_mask_add_epi32(q, R0, q, _mm512_set1_epi32(4));
        q = _mm512_mask_add_epi32(q, R1, q, _mm512_set1_epi32(2));
        p[c] = _mm512_mask_add_epi32(q, R2, q, one);
    }
    __m512i base[MBV_CHAINS]; /* lane l of chain c is the chunk's row 16 c + l */
    for (int c = 0; c < MBV_CHAINS; c++)
        base[c] = _mm512_add_epi32(_mm512_set1_epi32(c * MBV_LANES), iota);
    mbv_levels(v, 3, D, nan, xt, base, 7, p, at); /* 7: log2(MBV_CHUNK), a column's stride */
}

/* Every tree of vt over rows [r0, r0 + MBV_CHUNK) of the nb rows at xb (ld
** floats apart, nf features; rows past nb read row 0 or zeros and are
** walked but never read back): the leaves added into acc, the sums of
** output o and row r at acc[o * acc_ld + r]. The caller checks that
** nb * ld fits an int32 gather offset. */
MBV_INLINE void mbv_walk_chunk(const mbv_tree *vt, size_t ntrees, size_t nf, const float *xb, size_t ld,
                               size_t nb, size_t r0, int nan, double *acc, size_t acc_ld)
{
    __m512i off[MBV_CHAINS], at[MBV_CHAINS];
    float xt[MBV_XT_MAX * MBV_CHUNK] __attribute__((aligned(64)));
    if (nf <= MBV_XT_MAX)
        for (size_t i = 0; i < MBV_CHUNK; i++)
            for (size_t f = 0; f < nf; f++)
                xt[f * MBV_CHUNK + i] = r0 + i < nb ? xb[(r0 + i) * ld + f] : 0.0f;
    for (int c = 0; c < MBV_CHAINS; c++) {
        int32_t o[MBV_LANES];
        for (int l = 0; l < MBV_LANES; l++) {
            size_t r = r0 + (size_t)c * MBV_LANES + (size_t)l;
            o[l] = r < nb ? (int32_t)(r * ld) : 0;
        }
        off[c] = _mm512_loadu_si512(o);
    }
    for (size_t t = 0; t < ntrees; t++) {
        const mbv_tree *v = &vt[t];
        if (nf <= MBV_XT_MAX && v->depth >= 3)
            mbv_walk_tree_xt(v, v->depth, nan, xt, at);
        else
            mbv_walk_tree(v, v->depth, nan, xb, off, at);
        double *a = acc + (size_t)v->out * acc_ld + r0;
        for (int c = 0; c < MBV_CHAINS; c++) {
            __m512d lo = _mm512_i32gather_pd(_mm512_castsi512_si256(at[c]), v->leaf, 8);
            __m512d hi = _mm512_i32gather_pd(_mm512_extracti64x4_epi64(at[c], 1), v->leaf, 8);
            _mm512_storeu_pd(a, _mm512_add_pd(_mm512_loadu_pd(a), lo));
            _mm512_storeu_pd(a + 8, _mm512_add_pd(_mm512_loadu_pd(a + 8), hi));
            a += MBV_LANES;
        }
    }
}

/* The chunk walk with the NaN tests compiled out and in: a chunk without
** NaN (the usual case) skips the default directions. */
static inline MBV_TARGET void mbv_walk_chunk_plain(const mbv_tree *vt, size_t ntrees, size_t nf, const float *xb,
                                                   size_t ld, size_t nb, size_t r0, double *acc, size_t acc_ld)
{
    mbv_walk_chunk(vt, ntrees, nf, xb, ld, nb, r0, 0, acc, acc_ld);
}

static inline MBV_TARGET void mbv_walk_chunk_nan(const mbv_tree *vt, size_t ntrees, size_t nf, const float *xb,
                                                 size_t ld, size_t nb, size_t r0, double *acc, size_t acc_ld)
{
    mbv_walk_chunk(vt, ntrees, nf, xb, ld, nb, r0, 1, acc, acc_ld);
}

/* Whether this CPU runs the kernel: AVX-512 F and DQ, and the user has not
** set MOONBENCH_TREES_SIMD=0 (read at each call: tests switch it). */
static inline int mbv_cpu_ok(void)
{
    const char *env = getenv("MOONBENCH_TREES_SIMD");
    __builtin_cpu_init();
    return !(env && env[0] == '0' && !env[1]) && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512dq");
}
#else
#define MBV_HAVE 0
static inline int mbv_cpu_ok(void)
{
    return 0;
}
#endif

#endif
