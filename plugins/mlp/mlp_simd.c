/*
** mlp_simd.c: the MLP's element-wise kernels (bias + relu, relu backward
** with bias-gradient sums, Adam (which can add a second gradient on the
** way: two workers' shares), axpy, standardising a row; and for fit's
** first passes over the data: the finiteness check and the column sums in
** double), in AVX-512
** or AVX2 when the CPU has it and in portable branch-free C otherwise.
**
** DESIGN
** ------
** The plugin is built for baseline x86-64 (no -march), where GCC at -O2
** does not vectorise these loops and compiles relu to a data-dependent
** branch that mispredicts half the time on real activations: that alone
** cost more than the matrix products. So each kernel has an AVX-512 body
** (compiled with a target attribute, tails through masked loads and
** stores) chosen once at run time with __builtin_cpu_supports, and a plain
** C body for other CPUs. Both compute the same float operations in the same
** order per element, so results do not depend on which one ran, except
** Adam's sqrt/divide which are IEEE-exact in both.
*/
#include "mlp.h"

#include <math.h>
#include <string.h>

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define MBMLP_X86 1
#include <immintrin.h>
#else
#define MBMLP_X86 0
#endif

/* {====== portable bodies ======} */

static void bias_act_c(float *a, const float *b, size_t rows, size_t w, int kind, float alpha)
{
    for (size_t i = 0; i < rows; i++) {
        float *r = a + i * w;
        for (size_t o = 0; o < w; o++) {
            float v = b ? r[o] + b[o] : r[o];
            if (kind == 1)
                v = v > 0.0f ? v : 0.0f; /* not fmaxf: a libm call per element */
            else if (kind == 2)
                v = v > 0 ? v : alpha * v;
            r[o] = v;
        }
    }
}

static void relu_back_c(float *d, const float *a, size_t rows, size_t w, int leaky, float alpha, float *gb)
{
    memset(gb, 0, w * sizeof *gb);
    for (size_t i = 0; i < rows; i++) {
        float *di = d + i * w;
        const float *ai = a + i * w;
        for (size_t o = 0; o < w; o++) {
            float s = ai[o] > 0 ? 1.0f : (leaky ? alpha : 0.0f);
            di[o] *= s;
            gb[o] += di[o];
        }
    }
}

static void adam_c(float *p, const float *g, const float *g2, float *m, float *v, size_t n, const mbmlp_adam_k *k)
{
    for (size_t i = 0; i < n; i++) {
        float gi = (g2 ? g[i] + g2[i] : g[i]) + k->l2 * p[i];
        float mi = k->b1 * m[i] + k->c1 * gi, vi = k->b2 * v[i] + k->c2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] = p[i] * k->shrink - k->step * mi / (sqrtf(vi) * k->isb + k->eps);
    }
}

static void axpy_c(float *y, const float *x, float a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] += a * x[i];
}

static void standardize_c(float *o, const float *x, const float *mu, const float *isd, size_t n)
{
    for (size_t j = 0; j < n; j++)
        o[j] = (x[j] - mu[j]) * isd[j];
}

/* 1 when x[0..n) has no NaN and no infinity: an all-ones exponent */
static int finite_c(const float *x, size_t n)
{
    uint32_t bad = 0;
    for (size_t j = 0; j < n; j++) {
        uint32_t u;
        memcpy(&u, x + j, sizeof u);
        bad |= (u & 0x7f800000u) == 0x7f800000u;
    }
    return !bad;
}

static void sum_c(double *s, const float *x, size_t n)
{
    for (size_t j = 0; j < n; j++)
        s[j] += (double)x[j];
}

static void sqdev_c(double *s, const float *x, const double *mu, size_t n)
{
    for (size_t j = 0; j < n; j++) {
        double d = (double)x[j] - mu[j];
        s[j] += d * d;
    }
}

/* {====== AVX-512 bodies ======} */

#if MBMLP_X86
#define AVX512 __attribute__((target("avx512f")))

static AVX512 inline __mmask16 tail_mask(size_t r) { return (__mmask16)((1u << r) - 1u); }

static AVX512 void bias_act_avx512(float *a, const float *b, size_t rows, size_t w, int kind, float alpha)
{
    __m512 zero = _mm512_setzero_ps(), al = _mm512_set1_ps(alpha);
    for (size_t i = 0; i < rows; i++) {
        float *r = a + i * w;
        for (size_t o = 0; o < w; o += 16) {
            __mmask16 mk = w - o >= 16 ? (__mmask16)0xFFFF : tail_mask(w - o);
            __m512 v = _mm512_maskz_loadu_ps(mk, r + o);
            if (b)
                v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mk, b + o));
            if (kind == 1)
                v = _mm512_max_ps(v, zero);
            else if (kind == 2)
                v = _mm512_mask_mul_ps(v, _mm512_cmp_ps_mask(v, zero, _CMP_LE_OQ), v, al);
            _mm512_mask_storeu_ps(r + o, mk, v);
        }
    }
}

static AVX512 void relu_back_avx512(float *d, const float *a, size_t rows, size_t w, int leaky, float alpha,
                                    float *gb)
{
    memset(gb, 0, w * sizeof *gb);
    __m512 zero = _mm512_setzero_ps(), al = _mm512_set1_ps(alpha);
    for (size_t i = 0; i < rows; i++) {
        float *di = d + i * w;
        const float *ai = a + i * w;
        for (size_t o = 0; o < w; o += 16) {
            __mmask16 mk = w - o >= 16 ? (__mmask16)0xFFFF : tail_mask(w - o);
            __m512 x = _mm512_maskz_loadu_ps(mk, di + o), av = _mm512_maskz_loadu_ps(mk, ai + o);
            __mmask16 pos = _mm512_cmp_ps_mask(av, zero, _CMP_GT_OQ);
            /* inactive lanes multiplied, as the portable body does: x * 0 keeps
            ** x's sign (-0 for a negative x), which a zeroing move would not */
            x = _mm512_mask_mul_ps(x, (__mmask16)~pos, x, leaky ? al : zero);
            _mm512_mask_storeu_ps(di + o, mk, x);
            _mm512_mask_storeu_ps(gb + o, mk, _mm512_add_ps(_mm512_maskz_loadu_ps(mk, gb + o), x));
        }
    }
}

static AVX512 void adam_avx512(float *p, const float *g, const float *g2, float *m, float *v, size_t n,
                               const mbmlp_adam_k *k)
{
    __m512 l2 = _mm512_set1_ps(k->l2), b1 = _mm512_set1_ps(k->b1), c1 = _mm512_set1_ps(k->c1),
           b2 = _mm512_set1_ps(k->b2), c2 = _mm512_set1_ps(k->c2), shrink = _mm512_set1_ps(k->shrink),
           step = _mm512_set1_ps(k->step), isb = _mm512_set1_ps(k->isb), eps = _mm512_set1_ps(k->eps);
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 mk = n - i >= 16 ? (__mmask16)0xFFFF : tail_mask(n - i);
        __m512 pi = _mm512_maskz_loadu_ps(mk, p + i);
        /* the same operations, unfused, as adam_c */
        __m512 gs = _mm512_maskz_loadu_ps(mk, g + i);
        if (g2)
            gs = _mm512_add_ps(gs, _mm512_maskz_loadu_ps(mk, g2 + i));
        __m512 gi = _mm512_add_ps(gs, _mm512_mul_ps(l2, pi));
        __m512 mi = _mm512_add_ps(_mm512_mul_ps(b1, _mm512_maskz_loadu_ps(mk, m + i)), _mm512_mul_ps(c1, gi));
        __m512 vi = _mm512_add_ps(_mm512_mul_ps(b2, _mm512_maskz_loadu_ps(mk, v + i)),
                                  _mm512_mul_ps(_mm512_mul_ps(c2, gi), gi));
        _mm512_mask_storeu_ps(m + i, mk, mi);
        _mm512_mask_storeu_ps(v + i, mk, vi);
        __m512 den = _mm512_add_ps(_mm512_mul_ps(_mm512_sqrt_ps(vi), isb), eps);
        __m512 upd = _mm512_div_ps(_mm512_mul_ps(step, mi), den);
        _mm512_mask_storeu_ps(p + i, mk, _mm512_sub_ps(_mm512_mul_ps(pi, shrink), upd));
    }
}

static AVX512 void axpy_avx512(float *y, const float *x, float a, size_t n)
{
    __m512 av = _mm512_set1_ps(a);
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 mk = n - i >= 16 ? (__mmask16)0xFFFF : tail_mask(n - i);
        __m512 r = _mm512_add_ps(_mm512_maskz_loadu_ps(mk, y + i), _mm512_mul_ps(av, _mm512_maskz_loadu_ps(mk, x + i)));
        _mm512_mask_storeu_ps(y + i, mk, r);
    }
}

static AVX512 void standardize_avx512(float *o, const float *x, const float *mu, const float *isd, size_t n)
{
    for (size_t j = 0; j < n; j += 16) {
        __mmask16 mk = n - j >= 16 ? (__mmask16)0xFFFF : tail_mask(n - j);
        __m512 r = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(mk, x + j), _mm512_maskz_loadu_ps(mk, mu + j)),
                                 _mm512_maskz_loadu_ps(mk, isd + j));
        _mm512_mask_storeu_ps(o + j, mk, r);
    }
}

static AVX512 int finite_avx512(const float *x, size_t n)
{
    __m512i e = _mm512_set1_epi32(0x7f800000);
    __mmask16 bad = 0;
    for (size_t j = 0; j < n; j += 16) {
        __mmask16 mk = n - j >= 16 ? (__mmask16)0xFFFF : tail_mask(n - j);
        __m512i u = _mm512_maskz_loadu_epi32(mk, x + j);
        bad |= _mm512_mask_cmpeq_epi32_mask(mk, _mm512_and_si512(u, e), e);
    }
    return bad == 0;
}

/* 16 floats as two vectors of 8 doubles */
static AVX512 inline void widen(__m512 v, __m512d *lo, __m512d *hi)
{
    *lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
    *hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
}

/* s[0..16) += (lo, hi), lanes masked by mk; the high half is not touched
** (nor its address formed) past the end */
static AVX512 inline void add16(double *s, __mmask16 mk, __m512d lo, __m512d hi)
{
    __mmask8 ml = (__mmask8)mk, mh = (__mmask8)(mk >> 8);
    _mm512_mask_storeu_pd(s, ml, _mm512_add_pd(_mm512_maskz_loadu_pd(ml, s), lo));
    if (mh)
        _mm512_mask_storeu_pd(s + 8, mh, _mm512_add_pd(_mm512_maskz_loadu_pd(mh, s + 8), hi));
}

static AVX512 void sum_avx512(double *s, const float *x, size_t n)
{
    for (size_t j = 0; j < n; j += 16) {
        __mmask16 mk = n - j >= 16 ? (__mmask16)0xFFFF : tail_mask(n - j);
        __m512d lo, hi;
        widen(_mm512_maskz_loadu_ps(mk, x + j), &lo, &hi);
        add16(s + j, mk, lo, hi);
    }
}

static AVX512 void sqdev_avx512(double *s, const float *x, const double *mu, size_t n)
{
    for (size_t j = 0; j < n; j += 16) {
        __mmask16 mk = n - j >= 16 ? (__mmask16)0xFFFF : tail_mask(n - j);
        __mmask8 ml = (__mmask8)mk, mh = (__mmask8)(mk >> 8);
        __m512d lo, hi;
        widen(_mm512_maskz_loadu_ps(mk, x + j), &lo, &hi);
        lo = _mm512_sub_pd(lo, _mm512_maskz_loadu_pd(ml, mu + j));
        hi = mh ? _mm512_sub_pd(hi, _mm512_maskz_loadu_pd(mh, mu + j + 8)) : hi;
        /* the same multiply, then add, as sqdev_c (no fused multiply-add) */
        add16(s + j, mk, _mm512_mul_pd(lo, lo), _mm512_mul_pd(hi, hi));
    }
}

/* {====== AVX2 bodies ======} */

/* Eight lanes, then the portable expression for the tail of each row.
** The target is avx2 without fma, so GCC cannot contract a multiply and an
** add into one rounding: the same operations, element by element, as the
** portable and AVX-512 bodies. */
#define AVX2 __attribute__((target("avx2")))

static AVX2 void bias_act_avx2(float *a, const float *b, size_t rows, size_t w, int kind, float alpha)
{
    __m256 zero = _mm256_setzero_ps(), al = _mm256_set1_ps(alpha);
    for (size_t i = 0; i < rows; i++) {
        float *r = a + i * w;
        size_t o = 0;
        for (; o + 8 <= w; o += 8) {
            __m256 v = _mm256_loadu_ps(r + o);
            if (b)
                v = _mm256_add_ps(v, _mm256_loadu_ps(b + o));
            if (kind == 1)
                v = _mm256_max_ps(v, zero);
            else if (kind == 2)
                v = _mm256_blendv_ps(_mm256_mul_ps(v, al), v, _mm256_cmp_ps(v, zero, _CMP_GT_OQ));
            _mm256_storeu_ps(r + o, v);
        }
        for (; o < w; o++) {
            float v = b ? r[o] + b[o] : r[o];
            if (kind == 1)
                v = v > 0.0f ? v : 0.0f;
            else if (kind == 2)
                v = v > 0 ? v : alpha * v;
            r[o] = v;
        }
    }
}

static AVX2 void relu_back_avx2(float *d, const float *a, size_t rows, size_t w, int leaky, float alpha, float *gb)
{
    memset(gb, 0, w * sizeof *gb);
    __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f), neg = _mm256_set1_ps(leaky ? alpha : 0.0f);
    for (size_t i = 0; i < rows; i++) {
        float *di = d + i * w;
        const float *ai = a + i * w;
        size_t o = 0;
        for (; o + 8 <= w; o += 8) {
            __m256 s = _mm256_blendv_ps(neg, one, _mm256_cmp_ps(_mm256_loadu_ps(ai + o), zero, _CMP_GT_OQ));
            __m256 x = _mm256_mul_ps(_mm256_loadu_ps(di + o), s);
            _mm256_storeu_ps(di + o, x);
            _mm256_storeu_ps(gb + o, _mm256_add_ps(_mm256_loadu_ps(gb + o), x));
        }
        for (; o < w; o++) {
            float s = ai[o] > 0 ? 1.0f : (leaky ? alpha : 0.0f);
            di[o] *= s;
            gb[o] += di[o];
        }
    }
}

static AVX2 void adam_avx2(float *p, const float *g, const float *g2, float *m, float *v, size_t n,
                           const mbmlp_adam_k *k)
{
    __m256 l2 = _mm256_set1_ps(k->l2), b1 = _mm256_set1_ps(k->b1), c1 = _mm256_set1_ps(k->c1),
           b2 = _mm256_set1_ps(k->b2), c2 = _mm256_set1_ps(k->c2), shrink = _mm256_set1_ps(k->shrink),
           step = _mm256_set1_ps(k->step), isb = _mm256_set1_ps(k->isb), eps = _mm256_set1_ps(k->eps);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 pi = _mm256_loadu_ps(p + i);
        __m256 gs = _mm256_loadu_ps(g + i);
        if (g2)
            gs = _mm256_add_ps(gs, _mm256_loadu_ps(g2 + i));
        __m256 gi = _mm256_add_ps(gs, _mm256_mul_ps(l2, pi));
        __m256 mi = _mm256_add_ps(_mm256_mul_ps(b1, _mm256_loadu_ps(m + i)), _mm256_mul_ps(c1, gi));
        __m256 vi = _mm256_add_ps(_mm256_mul_ps(b2, _mm256_loadu_ps(v + i)), _mm256_mul_ps(_mm256_mul_ps(c2, gi), gi));
        _mm256_storeu_ps(m + i, mi);
        _mm256_storeu_ps(v + i, vi);
        __m256 den = _mm256_add_ps(_mm256_mul_ps(_mm256_sqrt_ps(vi), isb), eps);
        __m256 upd = _mm256_div_ps(_mm256_mul_ps(step, mi), den);
        _mm256_storeu_ps(p + i, _mm256_sub_ps(_mm256_mul_ps(pi, shrink), upd));
    }
    adam_c(p + i, g + i, g2 ? g2 + i : NULL, m + i, v + i, n - i, k);
}

static AVX2 void axpy_avx2(float *y, const float *x, float a, size_t n)
{
    __m256 av = _mm256_set1_ps(a);
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(y + i), _mm256_mul_ps(av, _mm256_loadu_ps(x + i))));
    axpy_c(y + i, x + i, a, n - i);
}

static AVX2 void standardize_avx2(float *o, const float *x, const float *mu, const float *isd, size_t n)
{
    size_t j = 0;
    for (; j + 8 <= n; j += 8)
        _mm256_storeu_ps(o + j, _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + j), _mm256_loadu_ps(mu + j)),
                                              _mm256_loadu_ps(isd + j)));
    standardize_c(o + j, x + j, mu + j, isd + j, n - j);
}

static AVX2 int finite_avx2(const float *x, size_t n)
{
    __m256i e = _mm256_set1_epi32(0x7f800000);
    __m256i bad = _mm256_setzero_si256();
    size_t j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256i u = _mm256_loadu_si256((const __m256i *)(const void *)(x + j));
        bad = _mm256_or_si256(bad, _mm256_cmpeq_epi32(_mm256_and_si256(u, e), e));
    }
    return _mm256_testz_si256(bad, bad) && finite_c(x + j, n - j);
}

static AVX2 void sum_avx2(double *s, const float *x, size_t n)
{
    size_t j = 0;
    for (; j + 4 <= n; j += 4)
        _mm256_storeu_pd(s + j, _mm256_add_pd(_mm256_loadu_pd(s + j), _mm256_cvtps_pd(_mm_loadu_ps(x + j))));
    sum_c(s + j, x + j, n - j);
}

static AVX2 void sqdev_avx2(double *s, const float *x, const double *mu, size_t n)
{
    size_t j = 0;
    for (; j + 4 <= n; j += 4) {
        __m256d d = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + j)), _mm256_loadu_pd(mu + j));
        _mm256_storeu_pd(s + j, _mm256_add_pd(_mm256_loadu_pd(s + j), _mm256_mul_pd(d, d)));
    }
    sqdev_c(s + j, x + j, mu + j, n - j);
}

/* 2 when AVX-512F is usable, 1 AVX2, 0 neither, -1 before the first check
** (a benign race: every thread stores the same answer). */
static int simd_level = -1;

static int level(void)
{
    if (simd_level < 0) {
        __builtin_cpu_init();
        simd_level = __builtin_cpu_supports("avx512f") ? 2 : __builtin_cpu_supports("avx2") ? 1 : 0;
    }
    return simd_level;
}
#else
static int level(void) { return 0; }
#endif

/* {====== dispatch ======} */

void mbmlp_k_bias_act(float *a, const float *b, size_t rows, size_t w, int kind, float alpha)
{
    if (!b && kind == 0) /* nothing to do */
        return;
#if MBMLP_X86
    switch (level()) {
    case 2:
        bias_act_avx512(a, b, rows, w, kind, alpha);
        return;
    case 1:
        bias_act_avx2(a, b, rows, w, kind, alpha);
        return;
    }
#endif
    bias_act_c(a, b, rows, w, kind, alpha);
}

void mbmlp_k_relu_back(float *d, const float *a, size_t rows, size_t w, int leaky, float alpha, float *gb)
{
#if MBMLP_X86
    switch (level()) {
    case 2:
        relu_back_avx512(d, a, rows, w, leaky, alpha, gb);
        return;
    case 1:
        relu_back_avx2(d, a, rows, w, leaky, alpha, gb);
        return;
    }
#endif
    relu_back_c(d, a, rows, w, leaky, alpha, gb);
}

void mbmlp_k_adam(float *p, const float *g, const float *g2, float *m, float *v, size_t n, const mbmlp_adam_k *k)
{
#if MBMLP_X86
    switch (level()) {
    case 2:
        adam_avx512(p, g, g2, m, v, n, k);
        return;
    case 1:
        adam_avx2(p, g, g2, m, v, n, k);
        return;
    }
#endif
    adam_c(p, g, g2, m, v, n, k);
}

void mbmlp_k_axpy(float *y, const float *x, float a, size_t n)
{
#if MBMLP_X86
    switch (level()) {
    case 2:
        axpy_avx512(y, x, a, n);
        return;
    case 1:
        axpy_avx2(y, x, a, n);
        return;
    }
#endif
    axpy_c(y, x, a, n);
}

void mbmlp_k_standardize(float *o, const float *x, const float *mu, const float *isd, size_t n)
{
#if MBMLP_X86
    switch (level()) {
    case 2:
        standardize_avx512(o, x, mu, isd, n);
        return;
    case 1:
        standardize_avx2(o, x, mu, isd, n);
        return;
    }
#endif
    standardize_c(o, x, mu, isd, n);
}

int mbmlp_k_finite(const float *x, size_t n)
{
#if MBMLP_X86
    switch (level()) {
    case 2:
        return finite_avx512(x, n);
    case 1:
        return finite_avx2(x, n);
    }
#endif
    return finite_c(x, n);
}

void mbmlp_k_sum(double *s, const float *x, size_t n)
{
#if MBMLP_X86
    switch (level()) {
    case 2:
        sum_avx512(s, x, n);
        return;
    case 1:
        sum_avx2(s, x, n);
        return;
    }
#endif
    sum_c(s, x, n);
}

void mbmlp_k_sqdev(double *s, const float *x, const double *mu, size_t n)
{
#if MBMLP_X86
    switch (level()) {
    case 2:
        sqdev_avx512(s, x, mu, n);
        return;
    case 1:
        sqdev_avx2(s, x, mu, n);
        return;
    }
#endif
    sqdev_c(s, x, mu, n);
}
