/*
** gbdt_simd.c: AVX-512 (F + DQ) versions of gbdt's per-row passes, eight
** rows to a register, with the scalar loops of gbdt_loss.c as fallback
** and oracle: the same integer hash, the same double operations in the
** same order (a multiply and then an add: the plugin is built with
** -std=c11, so the compiler does not fuse them, here or in the scalar
** loop), so the same bits (tests/unit/test_trees_fit.c pins them).
**
** WHY: quantising a tree's rows (hash, scale, round, pack) is about 25
** scalar instructions a row, 7.6% of a 2-thread clf_1m fit's CPU samples
** (perf, 2026-12-03); it has no data-dependent branch, so it vectorises.
** Partitioning a leaf's rows (part_serial, part_task: ~10%) is a byte
** gather, a compare and two compress-stores for sixteen rows. perf samples
** of a 400k-row, 60-tree fit on 1 thread: quantisation 262 -> 101,
** partition 338 -> 145 (the same trees).
*/
#include "gbdt.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

int mbt_avx512_ok(void)
{
    /* read at every call: cheap next to what it guards (a fit's pass, a
    ** predictor), and tests switch it within one process */
    const char *env = getenv("MOONBENCH_TREES_SIMD");
    __builtin_cpu_init();
    return !(env && !strcmp(env, "0")) && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
}

#define TARGET __attribute__((target("avx512f,avx512dq")))

/* Rows idx[c0..c1) of g quantised into g->q (gbdt_loss.c's quant_task,
** phase 1): returns the packed sum of the rows; hconst >= 0 is every
** row's hq. The tail of fewer than 8 rows is left to the caller (*done). */
TARGET hbin mbt_gb_quant_simd(gb *g, size_t c0, size_t c1, int64_t hconst, size_t *done)
{
    const long long *gh = (const long long *)(const void *)g->gh; /* (g, h) float pairs as 64 bits */
    const uint32_t *idx = g->idx;
    long long *q = (long long *)(void *)g->q;
    const __m512i k1 = _mm512_set1_epi64((long long)0x9e3779b97f4a7c15ULL),
                  k2 = _mm512_set1_epi64((long long)0xbf58476d1ce4e5b9ULL),
                  k3 = _mm512_set1_epi64((long long)0x94d049bb133111ebULL),
                  salt = _mm512_set1_epi64((long long)g->salt), one = _mm512_set1_epi64(1),
                  m24 = _mm512_set1_epi64(0xffffff), hc = _mm512_set1_epi64(hconst);
    const __m512d sg = _mm512_set1_pd(g->qg), sh = _mm512_set1_pd(g->qh), u24 = _mm512_set1_pd(0x1.0p-24);
    __m512i sum = _mm512_setzero_si512();
    size_t i = c0;
    /* the rows are increasing (gbdt.c): consecutive ones (a tree that takes
    ** every row) are loaded and stored in place, others gathered/scattered */
    int consecutive = c1 > c0 && idx[c1 - 1] - idx[c0] == c1 - 1 - c0;
    const __m512i iota = _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0);
    for (; i + 8 <= c1; i += 8) {
        __m256i r32 = _mm256_loadu_si256((const __m256i *)(const void *)(idx + i));
        __m512i r = consecutive ? _mm512_add_epi64(_mm512_set1_epi64(idx[i]), iota) : _mm512_cvtepu32_epi64(r32);
        __m512i x = _mm512_xor_si512(_mm512_mullo_epi64(_mm512_add_epi64(r, one), k1), salt);
        x = _mm512_mullo_epi64(_mm512_xor_si512(x, _mm512_srli_epi64(x, 30)), k2);
        x = _mm512_mullo_epi64(_mm512_xor_si512(x, _mm512_srli_epi64(x, 27)), k3);
        x = _mm512_xor_si512(x, _mm512_srli_epi64(x, 31));
        __m512i pair = consecutive ? _mm512_loadu_si512(gh + idx[i]) : _mm512_i32gather_epi64(r32, gh, 8);
        __m512d gv = _mm512_cvtps_pd(_mm256_castsi256_ps(_mm512_cvtepi64_epi32(pair)));
        __m512d ug = _mm512_mul_pd(_mm512_cvtepi64_pd(_mm512_srli_epi64(x, 40)), u24);
        __m512d xg = _mm512_add_pd(_mm512_mul_pd(gv, sg), ug);
        __m512i gq = _mm512_cvttpd_epi64(xg); /* truncation, as the C cast */
        gq = _mm512_mask_sub_epi64(gq, _mm512_cmp_pd_mask(xg, _mm512_cvtepi64_pd(gq), _CMP_LT_OQ), gq, one);
        __m512i hq = hc;
        if (hconst < 0) {
            __m512d hv = _mm512_cvtps_pd(_mm256_castsi256_ps(_mm512_cvtepi64_epi32(_mm512_srli_epi64(pair, 32))));
            __m512d uh = _mm512_mul_pd(_mm512_cvtepi64_pd(_mm512_and_si512(x, m24)), u24);
            __m512d xh = _mm512_add_pd(_mm512_mul_pd(hv, sh), uh);
            hq = _mm512_cvttpd_epi64(xh);
            hq = _mm512_mask_sub_epi64(hq, _mm512_cmp_pd_mask(xh, _mm512_cvtepi64_pd(hq), _CMP_LT_OQ), hq, one);
        }
        __m512i v = _mm512_add_epi64(_mm512_slli_epi64(gq, 32), hq); /* q_pack: gq * 2^32 + hq */
        if (consecutive)
            _mm512_storeu_si512(q + idx[i], v);
        else
            _mm512_i32scatter_epi64(q, r32, v, 8);
        sum = _mm512_add_epi64(sum, v);
    }
    *done = i;
    return (hbin)_mm512_reduce_add_epi64(sum);
}

/* Gradients (gbdt_loss.c's gradients) of rows [r0, r1) of one output for
** squared error and logloss, eight rows at a time, up to *done (the rest,
** under 8, for the caller); gm, hlo, hhi (the largest |g|, the smallest and
** largest h) are updated as there: max_ps(a, b) is a > b ? a : b, as the
** scalar loop's test. exp(-s) is libm's bits: exp_simd.c's vector exp when
** its probe agrees with libm (a block of rows at once, before the loop that
** uses them), else libm's exp called for each row; the division, products
** and conversions are the scalar loop's, one IEEE operation each. */
#define GRAD_BLOCK 256
TARGET void mbt_gb_grad_simd(int logloss, const float *y, const float *w, const double *score, float *gh,
                             size_t r0, size_t r1, float mm[3], size_t *done)
{
    const __m512d one = _mm512_set1_pd(1.0), tiny = _mm512_set1_pd(1e-16);
    const __m512i inter = _mm512_set_epi32(15, 7, 14, 6, 13, 5, 12, 4, 11, 3, 10, 2, 9, 1, 8, 0);
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 gm = _mm256_set1_ps(mm[0]), hlo = _mm256_set1_ps(mm[1]), hhi = _mm256_set1_ps(mm[2]);
    int vexp = logloss && mbt_exp_simd_ok();
    double eb[GRAD_BLOCK];
    size_t r = r0, eb0 = r0, eb1 = r0; /* eb holds exp(-s) of rows [eb0, eb1) */
    for (; r + 8 <= r1; r += 8) {
        __m512d sv = _mm512_loadu_pd(score + r), yv = _mm512_cvtps_pd(_mm256_loadu_ps(y + r));
        __m512d wt = w ? _mm512_cvtps_pd(_mm256_loadu_ps(w + r)) : one, g, h = one;
        if (logloss) {
            double e[8];
            __m512d ev;
            if (vexp) {
                if (r + 8 > eb1) {
                    size_t m = (r1 - r) / 8 * 8;
                    m = m < GRAD_BLOCK ? m : GRAD_BLOCK;
                    for (size_t l = 0; l < m; l++)
                        eb[l] = -score[r + l];
                    mbt_exp_simd(eb, eb, m);
                    eb0 = r;
                    eb1 = r + m;
                }
                ev = _mm512_loadu_pd(eb + (r - eb0));
            } else {
                for (int l = 0; l < 8; l++)
                    e[l] = exp(-score[r + (size_t)l]);
                ev = _mm512_loadu_pd(e);
            }
            __m512d pr = _mm512_div_pd(one, _mm512_add_pd(one, ev));
            g = _mm512_sub_pd(pr, yv);
            h = _mm512_mul_pd(pr, _mm512_sub_pd(one, pr));
            h = _mm512_mask_mov_pd(h, _mm512_cmp_pd_mask(h, tiny, _CMP_LT_OQ), tiny);
        } else {
            g = _mm512_sub_pd(sv, yv);
        }
        __m256 fg = _mm512_cvtpd_ps(_mm512_mul_pd(wt, g)), fh = _mm512_cvtpd_ps(_mm512_mul_pd(wt, h));
        __m512 pair = _mm512_permutexvar_ps(inter, _mm512_insertf32x8(_mm512_castps256_ps512(fg), fh, 1));
        _mm512_storeu_ps(gh + 2 * r, pair);
        gm = _mm256_max_ps(_mm256_and_ps(fg, absmask), gm);
        hlo = _mm256_min_ps(fh, hlo);
        hhi = _mm256_max_ps(fh, hhi);
    }
    float a[8], b[8], c[8];
    _mm256_storeu_ps(a, gm);
    _mm256_storeu_ps(b, hlo);
    _mm256_storeu_ps(c, hhi);
    for (int l = 0; l < 8; l++) {
        mm[0] = a[l] > mm[0] ? a[l] : mm[0];
        mm[1] = b[l] < mm[1] ? b[l] : mm[1];
        mm[2] = c[l] > mm[2] ? c[l] : mm[2];
    }
    *done = r;
}

/* dst[s] += src[s] (sub: -=) for s < n, eight slots at a time, up to the
** returned count (the rest for the caller): the histograms' reduction over
** threads and the subtraction, exact integer sums whatever the width. */
TARGET size_t mbt_gb_hist_addsub_simd(hbin *dst, const hbin *src, size_t n, int sub)
{
    size_t s = 0;
    if (sub)
        for (; s + 8 <= n; s += 8)
            _mm512_storeu_si512(dst + s, _mm512_sub_epi64(_mm512_loadu_si512(dst + s), _mm512_loadu_si512(src + s)));
    else
        for (; s + 8 <= n; s += 8)
            _mm512_storeu_si512(dst + s, _mm512_add_epi64(_mm512_loadu_si512(dst + s), _mm512_loadu_si512(src + s)));
    return s;
}

/* score[r] += lval[lid[r]] for rows [r0, r1) (the score update's phase 1,
** gbdt.c), eight rows at a time, up to *done (the rest, under 8, for the
** caller): the same add a row. A scalar loop took ~4 cycles a row. */
TARGET void mbt_gb_add_lval_simd(double *score, const uint16_t *lid, const double *lval, size_t r0, size_t r1,
                                 size_t *done)
{
    size_t r = r0;
    for (; r + 8 <= r1; r += 8) {
        __m256i l = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)(lid + r)));
        __m512d v = _mm512_i32gather_pd(l, lval, 8);
        _mm512_storeu_pd(score + r, _mm512_add_pd(_mm512_loadu_pd(score + r), v));
    }
    *done = r;
}

/* The split search's gains (gbdt_grow.c's find_split) of one feature's
** nb bins, eight at a time: from the prefix sums ql[0..nb) (ql rounded up
** to 8 readable), gr[b] the gain of bins <= b going left with NaN rows
** right, gl[b] with ql[b] + qn (NaN rows left); -inf where a side breaks
** the leaf limits (no candidate: never above the best). The same IEEE
** operations in the same order as leaf_score and find_split. */
static inline TARGET __m512d leaf_score8(const gain_ctx *c, __m512d G, __m512d H)
{
    __m512d l1 = _mm512_set1_pd(c->l1), t = _mm512_setzero_pd();
    t = _mm512_mask_mov_pd(t, _mm512_cmp_pd_mask(G, _mm512_sub_pd(t, l1), _CMP_LT_OQ), _mm512_add_pd(G, l1));
    t = _mm512_mask_mov_pd(t, _mm512_cmp_pd_mask(G, l1, _CMP_GT_OQ), _mm512_sub_pd(G, l1));
    return _mm512_div_pd(_mm512_mul_pd(t, t), _mm512_add_pd(H, _mm512_set1_pd(c->l2)));
}

/* Eight packed bin sums q (q_g high, q_h low 32 bits) as the left and
** right children's G and H; the lanes whose children meet the limits
** (min_child_weight, the minimum count) are returned set. */
static inline TARGET __mmask8 sides8(const gain_ctx *c, __m512i q, __m512d *GL, __m512d *HL, __m512d *GR,
                                     __m512d *HR)
{
    __m512i lo = _mm512_and_si512(q, _mm512_set1_epi64(0xffffffffLL));
    __m512i hi = _mm512_srai_epi64(_mm512_sub_epi64(q, lo), 32); /* q_g: exact */
    *GL = _mm512_mul_pd(_mm512_cvtepi64_pd(hi), _mm512_set1_pd(c->ig));
    *HL = _mm512_mul_pd(_mm512_cvtepi64_pd(lo), _mm512_set1_pd(c->ih));
    *GR = _mm512_sub_pd(_mm512_set1_pd(c->G), *GL);
    *HR = _mm512_sub_pd(_mm512_set1_pd(c->Hs), *HL);
    __m512d mcw = _mm512_set1_pd(c->mcw), cf = _mm512_set1_pd(c->cf), mc = _mm512_set1_pd(c->min_cnt);
    return _mm512_cmp_pd_mask(*HL, mcw, _CMP_GE_OQ) & _mm512_cmp_pd_mask(*HR, mcw, _CMP_GE_OQ) &
           _mm512_cmp_pd_mask(_mm512_mul_pd(*HL, cf), mc, _CMP_GE_OQ) &
           _mm512_cmp_pd_mask(_mm512_mul_pd(*HR, cf), mc, _CMP_GE_OQ);
}

static inline TARGET __m512d gain8(const gain_ctx *c, __m512i q)
{
    __m512d GL, HL, GR, HR;
    __mmask8 ok = sides8(c, q, &GL, &HL, &GR, &HR);
    __m512d gain = _mm512_sub_pd(_mm512_add_pd(leaf_score8(c, GL, HL), leaf_score8(c, GR, HR)), _mm512_set1_pd(c->parent));
    return _mm512_mask_mov_pd(_mm512_set1_pd(-INFINITY), ok, gain);
}

/* Whether every one of gain8(c, q)'s lanes is at most best, shown without
** its divisions: each leaf score t^2 / d is at most t^2 rcp14(d) (1 + 2^-13)
** (rcp14's error is below 2^-14), so the gain is at most (the two
** estimates) (1 + 2^-10) - parent, rounding included (the margin is many
** ulps of the estimates, and parent >= 0). A lane whose estimate is not a
** finite number (d 0, huge or subnormal) is never passed as shown. */
static inline TARGET int below8(const gain_ctx *c, __m512i q, double best)
{
    __m512d GL, HL, GR, HR;
    __mmask8 ok = sides8(c, q, &GL, &HL, &GR, &HR);
    if (!ok)
        return 1;
    __m512d l1 = _mm512_set1_pd(c->l1), l2 = _mm512_set1_pd(c->l2), z = _mm512_setzero_pd();
    __m512d tl = _mm512_mask_mov_pd(z, _mm512_cmp_pd_mask(GL, _mm512_sub_pd(z, l1), _CMP_LT_OQ), _mm512_add_pd(GL, l1));
    tl = _mm512_mask_mov_pd(tl, _mm512_cmp_pd_mask(GL, l1, _CMP_GT_OQ), _mm512_sub_pd(GL, l1));
    __m512d tr = _mm512_mask_mov_pd(z, _mm512_cmp_pd_mask(GR, _mm512_sub_pd(z, l1), _CMP_LT_OQ), _mm512_add_pd(GR, l1));
    tr = _mm512_mask_mov_pd(tr, _mm512_cmp_pd_mask(GR, l1, _CMP_GT_OQ), _mm512_sub_pd(GR, l1));
    __m512d dl = _mm512_add_pd(HL, l2), dr = _mm512_add_pd(HR, l2);
    /* d in [2^-1000, 2^1000]: rcp14 is then neither flushed nor infinite */
    __m512d dmin = _mm512_set1_pd(0x1p-1000), dmax = _mm512_set1_pd(0x1p1000);
    __mmask8 fine = _mm512_cmp_pd_mask(dl, dmin, _CMP_GE_OQ) & _mm512_cmp_pd_mask(dl, dmax, _CMP_LE_OQ) &
                    _mm512_cmp_pd_mask(dr, dmin, _CMP_GE_OQ) & _mm512_cmp_pd_mask(dr, dmax, _CMP_LE_OQ);
    if ((ok & fine) != ok)
        return 0;
    __m512d est = _mm512_add_pd(_mm512_mul_pd(_mm512_mul_pd(tl, tl), _mm512_rcp14_pd(dl)),
                                _mm512_mul_pd(_mm512_mul_pd(tr, tr), _mm512_rcp14_pd(dr)));
    __m512d ub = _mm512_sub_pd(_mm512_mul_pd(est, _mm512_set1_pd(1.0 + 0x1p-10)), _mm512_set1_pd(c->parent));
    /* not (ub <= best) also catches NaN */
    return (_mm512_cmp_pd_mask(ub, _mm512_set1_pd(best), _CMP_LE_OQ) & ok) == ok;
}

/* best: the split search's best gain so far. Eight bins whose gains are
** shown to be at most it (below8) are left out (their gains could not win
** the scan, whose best only grows): returns the bit b / 8 set for every
** eight bins whose gr (or gl) were computed; only those are to be read. */
TARGET uint32_t mbt_gb_gains_simd(const gain_ctx *c, const hbin *ql, hbin qn, int nb, double *gr, double *gl,
                                  double best)
{
    const __m512i vqn = _mm512_set1_epi64(qn);
    const __m512d ninf = _mm512_set1_pd(-INFINITY);
    uint32_t blocks = 0;
    for (int b = 0; b < nb; b += 8) {
        __m512i q = _mm512_loadu_si512(ql + b), q2 = _mm512_add_epi64(q, vqn);
        int r = !below8(c, q, best), l = gl && !below8(c, q2, best);
        if (!r && !l)
            continue;
        blocks |= 1u << (b / 8);
        _mm512_storeu_pd(gr + b, r ? gain8(c, q) : ninf);
        if (gl)
            _mm512_storeu_pd(gl + b, l ? gain8(c, q2) : ninf);
    }
    return blocks;
}

/* Rows src[0..n) split stably by column col (left: bin <= bin, or the
** NaN bin nb when dl), sixteen at a time, up to *done (the rest, under
** 16, for the caller): the left ones written forward from left, the right
** ones forward from right, or, when right_down, backward from right - 1.
** Returns how many went left. left may be src itself (it never passes the
** rows read). col has 3 readable bytes past every row (binning.c). */
TARGET size_t mbt_gb_part_simd(const uint32_t *src, size_t n, const uint8_t *col, int bin, int nb, int dl,
                               uint32_t *left, uint32_t *right, int right_down, size_t *done)
{
    const __m512i vbin = _mm512_set1_epi32(bin), vnb = _mm512_set1_epi32(nb), low = _mm512_set1_epi32(0xff),
                  rev = _mm512_set_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    size_t nl = 0, nr = 0, i = 0;
    /* consecutive rows (a tree's root when it takes every row): their bytes
    ** are one load, not a gather */
    int consecutive = n > 0 && src[n - 1] - src[0] == n - 1;
    for (; i + 16 <= n; i += 16) {
        __m512i r = _mm512_loadu_si512(src + i);
        __m512i b = consecutive ? _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(col + src[i])))
                                : _mm512_and_si512(_mm512_i32gather_epi32(r, col, 1), low);
        __mmask16 l = _mm512_cmple_epu32_mask(b, vbin);
        if (dl)
            l |= _mm512_cmpeq_epi32_mask(b, vnb);
        unsigned cl = (unsigned)__builtin_popcount(l), cr = 16 - cl;
        _mm512_mask_compressstoreu_epi32(left + nl, l, r);
        if (!right_down) {
            _mm512_mask_compressstoreu_epi32(right + nr, (__mmask16)~l, r);
        } else if (cr) {
            /* the right rows reversed, into the top cr lanes of right - 16 - nr */
            __m512i v = _mm512_permutexvar_epi32(rev, _mm512_maskz_compress_epi32((__mmask16)~l, r));
            _mm512_mask_storeu_epi32(right - nr - 16, (__mmask16)(0xffffu << (16 - cr)), v);
        }
        nl += cl;
        nr += cr;
    }
    *done = i;
    return nl;
}

/* Binning (bin_task in binning.c): mbt_bin_search's branch-free search is
** the lower bound of x among a feature's ascending edges (the count of
** edges below x; the last edge is +inf, so at most nb - 1). Padded with
** +inf to 256 edges the count is the same, and every feature's search is
** then the same eight halvings and a last compare: sixteen features of a
** row searched at once, one gather a step. NaN is bin nb, as there. */
TARGET void mbt_bin_rows_simd(const float *pad, const uint16_t *nbs, const mb_matrix *X, size_t r0, size_t r1,
                              uint8_t *rb, uint8_t *cb, size_t n)
{
    size_t F = X->cols, ld = X->ld;
    const __m512i iota = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    const __m512 zero = _mm512_setzero_ps();
    /* two rows a pass: their searches are independent chains of gathers
    ** (each waits for the last), so the core overlaps them */
    for (size_t r = r0; r < r1; r += 2) {
        size_t nr = r + 1 < r1 ? 2 : 1;
        const float *x[2] = {X->x + r * ld, X->x + (r + nr - 1) * ld};
        for (size_t f0 = 0; f0 < F; f0 += 16) {
            size_t w = F - f0 < 16 ? F - f0 : 16;
            __mmask16 m = (__mmask16)(w == 16 ? 0xffffu : (1u << w) - 1u);
            __m512 v[2] = {_mm512_maskz_loadu_ps(m, x[0] + f0), _mm512_maskz_loadu_ps(m, x[1] + f0)};
            __m512i base = _mm512_slli_epi32(_mm512_add_epi32(_mm512_set1_epi32((int)f0), iota), 8);
            __m512i pos[2] = {base, base};
            for (int half = 128; half >= 1; half >>= 1) {
                __m512i off = _mm512_set1_epi32(half - 1), step = _mm512_set1_epi32(half);
                for (int k = 0; k < 2; k++) {
                    __m512 e = _mm512_mask_i32gather_ps(zero, m, _mm512_add_epi32(pos[k], off), pad, 4);
                    pos[k] = _mm512_mask_add_epi32(pos[k], _mm512_cmp_ps_mask(e, v[k], _CMP_LT_OQ), pos[k], step);
                }
            }
            uint16_t nbw[16] = {0};
            memcpy(nbw, nbs + f0, w * sizeof *nbw);
            __m512i nb = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(const void *)nbw));
            for (size_t k = 0; k < nr; k++) {
                __m512 e = _mm512_mask_i32gather_ps(zero, m, pos[k], pad, 4);
                __m512i p = _mm512_mask_add_epi32(pos[k], _mm512_cmp_ps_mask(e, v[k], _CMP_LT_OQ), pos[k],
                                                  _mm512_set1_epi32(1));
                p = _mm512_sub_epi32(p, base);
                p = _mm512_mask_mov_epi32(p, _mm512_cmp_ps_mask(v[k], v[k], _CMP_UNORD_Q), nb);
                uint8_t out[16];
                _mm_storeu_si128((__m128i *)(void *)out, _mm512_cvtepi32_epi8(p));
                size_t rr = r + k;
                if (rb)
                    memcpy(rb + rr * F + f0, out, w);
                if (cb)
                    for (size_t l = 0; l < w; l++)
                        cb[(f0 + l) * n + rr] = out[l];
            }
        }
    }
}

#else

int mbt_avx512_ok(void) { return 0; }

void mbt_bin_rows_simd(const float *pad, const uint16_t *nbs, const mb_matrix *X, size_t r0, size_t r1,
                       uint8_t *rb, uint8_t *cb, size_t n)
{
    (void)pad, (void)nbs, (void)X, (void)r0, (void)r1, (void)rb, (void)cb, (void)n;
}

void mbt_gb_grad_simd(int logloss, const float *y, const float *w, const double *score, float *gh, size_t r0,
                      size_t r1, float mm[3], size_t *done)
{
    (void)logloss, (void)y, (void)w, (void)score, (void)gh, (void)r1, (void)mm;
    *done = r0;
}

uint32_t mbt_gb_gains_simd(const gain_ctx *c, const hbin *ql, hbin qn, int nb, double *gr, double *gl,
                           double best)
{
    (void)c, (void)ql, (void)qn, (void)nb, (void)gr, (void)gl, (void)best;
    return 0;
}

size_t mbt_gb_hist_addsub_simd(hbin *dst, const hbin *src, size_t n, int sub)
{
    (void)dst, (void)src, (void)n, (void)sub;
    return 0;
}

void mbt_gb_add_lval_simd(double *score, const uint16_t *lid, const double *lval, size_t r0, size_t r1,
                          size_t *done)
{
    (void)score, (void)lid, (void)lval, (void)r1;
    *done = r0;
}

size_t mbt_gb_part_simd(const uint32_t *src, size_t n, const uint8_t *col, int bin, int nb, int dl,
                        uint32_t *left, uint32_t *right, int right_down, size_t *done)
{
    (void)src, (void)n, (void)col, (void)bin, (void)nb, (void)dl, (void)left, (void)right, (void)right_down;
    *done = 0;
    return 0;
}

hbin mbt_gb_quant_simd(gb *g, size_t c0, size_t c1, int64_t hconst, size_t *done)
{
    (void)g, (void)c1, (void)hconst;
    *done = c0;
    return 0;
}
#endif
