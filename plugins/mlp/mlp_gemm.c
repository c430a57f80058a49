/*
** mlp_gemm.c: the training step's matrix products for small inputs, in
** AVX-512 without OpenBLAS's packing, with the pass that follows each
** product fused into its store (bias + relu after the forward product,
** relu backward and the bias gradient after the input-gradient product).
**
** DESIGN
** ------
** At the training shapes (a chunk of 128 rows, widths 10..256) OpenBLAS's
** kernel ran at about half of this CPU's FMA peak and packed both operands
** on every call (packing was 13% of a training thread, the zeroing of C and
** the bias and relu passes 7% more). Here every product is one form,
** C[i][j] = sum over k of a(i, k) B[k][j], with a(i, k) = A[i sa + k sk]
** (any strides, so D^T and D are read where they lie) and B row-major: the
** forward product reads the transposed weights (fit keeps a copy, made by
** the update tasks), the weight gradient reads the layer's input rows, the
** input gradient the weights as they are. A block of rows x 16-float
** columns is kept in registers while k runs; each element is one fused
** multiply-add chain over k = 0, 1, ... from zero, which is what OpenBLAS
** computes while K fits in one of its K blocks (test_train_products_bits
** compares the two on the running kernel at the bench's shapes), so the
** results are the same bits as the cblas_sgemm calls they replace there;
** mlp_net.c calls these for K <= MBMLP_GEMM_MAX_K when the CPU has AVX-512.
** Where OpenBLAS sums in another order (its small-matrix kernel for the
** output layer's forward product below ~120 rows, e.g. a batch's last
** rows) the results differ from its by rounding; they are this order's on
** every CPU with AVX-512, whichever OpenBLAS kernel is loaded.
**
** In the bench's step (128 rows, 64-256-128-10; 1-thread CPU time, best
** of 30 x 50 steps): 250-265 us with OpenBLAS and the separate passes,
** 192-207 us here (k unrolled twice: 6% off 205-229 us; four times was no
** better). Blocks are 6 rows x 4 vectors (24 sums); 12 rows x 2
** vectors (half the loads of B a multiply-add) and B's strip packed
** contiguously were tried and gained nothing.
*/
#include "mlp.h"

#include <math.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>

#if defined(__GNUC__) && defined(__x86_64__)
#define MBMLP_GEMM_X86 1
#else
#define MBMLP_GEMM_X86 0
#endif


#define EP_STORE 0
#define EP_BIAS_ACT 1
#define EP_RELU_BACK 2

/* What a block's store does with its sums. */
typedef struct gemm_ep {
    int kind;                     /* EP_* */
    const float *bias;            /* BIAS_ACT: per column */
    int act;                      /* 0 identity, 1 relu, 2 leaky */
    float alpha;
    const float *a;               /* RELU_BACK: the activations, ldc apart */
    float *gb;                    /* RELU_BACK: the column sums, added in row order */
} gemm_ep;

/* {====== portable body (the definition; tests compare against it) ======} */

static void gemm_c(size_t m, size_t n, size_t K, const float *A, size_t sa, size_t sk, const float *B, size_t ldb,
                   float *C, size_t ldc, const gemm_ep *e)
{
    if (e->kind == EP_RELU_BACK)
        memset(e->gb, 0, n * sizeof *e->gb);
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            float acc = 0;
            for (size_t k = 0; k < K; k++)
                acc = fmaf(A[i * sa + k * sk], B[k * ldb + j], acc);
            if (e->kind == EP_BIAS_ACT) {
                acc += e->bias[j];
                if (e->act == 1)
                    acc = acc > 0.0f ? acc : 0.0f;
                else if (e->act == 2)
                    acc = acc > 0 ? acc : e->alpha * acc;
            } else if (e->kind == EP_RELU_BACK) {
                acc *= e->a[i * ldc + j] > 0 ? 1.0f : (e->act == 2 ? e->alpha : 0.0f);
                e->gb[j] += acc;
            }
            C[i * ldc + j] = acc;
        }
}

/* T[j fo + o] = W[o fi + j] for rows o0 <= o < o1, in 16 x 16 tiles. */
static void transpose_c(const float *W, size_t fi, size_t fo, size_t o0, size_t o1, float *T)
{
    for (size_t a = o0; a < o1; a += 16) {
        size_t b = a + 16 < o1 ? a + 16 : o1;
        for (size_t j0 = 0; j0 < fi; j0 += 16) {
            size_t j1 = j0 + 16 < fi ? j0 + 16 : fi;
            for (size_t j = j0; j < j1; j++)
                for (size_t o = a; o < b; o++)
                    T[j * fo + o] = W[o * fi + j];
        }
    }
}

/* {====== AVX-512 body ======} */

#if MBMLP_GEMM_X86
#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f")))

/* The stores of a block's sums, as mlp_simd.c's passes compute them (the
** same operations on the same values): the sums as they are, or + bias
** then the activation; */
static AVX512 inline void store_fwd(__m512 v, float *c, __m512 bv, __mmask16 mk, const gemm_ep *e)
{
    if (e->kind == EP_BIAS_ACT) {
        __m512 zero = _mm512_setzero_ps();
        v = _mm512_add_ps(v, bv);
        if (e->act == 1)
            v = _mm512_max_ps(v, zero);
        else if (e->act == 2)
            v = _mm512_mask_mul_ps(v, _mm512_cmp_ps_mask(v, zero, _CMP_LE_OQ), v, _mm512_set1_ps(e->alpha));
    }
    _mm512_mask_storeu_ps(c, mk, v);
}

/* or relu backward (inactive lanes multiplied by 0 or alpha, keeping the
** sign, as relu_back does), returning the column sums s + the result. */
static AVX512 inline __m512 store_back(__m512 x, float *c, const float *a, __mmask16 mk, const gemm_ep *e, __m512 s)
{
    __m512 zero = _mm512_setzero_ps();
    __mmask16 pos = _mm512_cmp_ps_mask(_mm512_maskz_loadu_ps(mk, a), zero, _CMP_GT_OQ);
    x = _mm512_mask_mul_ps(x, (__mmask16)~pos, x, e->act == 2 ? _mm512_set1_ps(e->alpha) : zero);
    _mm512_mask_storeu_ps(c, mk, x);
    return _mm512_add_ps(s, x);
}

/* One block: nr (<= R) rows, NZ vectors of 16 columns from j0, the last
** one masked by ml. Rows past nr repeat row 0 and are not stored. The
** loops have constant bounds and are unrolled, so the sums stay in
** registers. */
#define GEMM_BLOCK(NAME, R, NZ)                                                                             \
    static AVX512 void NAME(const float *A, size_t sa, size_t sk, const float *B, size_t ldb, size_t K,   \
                            float *C, size_t ldc, size_t nr, __mmask16 ml, const gemm_ep *e, size_t j0)       \
    {                                                                                                     \
        __m512 acc[R][NZ];                                                                                \
        const float *ar[R];                                                                               \
        _Pragma("GCC unroll 16") for (int r = 0; r < R; r++)                                               \
        {                                                                                                 \
            ar[r] = A + ((size_t)r < nr ? (size_t)r : 0) * sa;                                            \
            _Pragma("GCC unroll 4") for (int z = 0; z < NZ; z++) acc[r][z] = _mm512_setzero_ps();         \
        }                                                                                                 \
        _Pragma("GCC unroll 2") for (size_t k = 0; k < K; k++) {                                         \
            const float *bk = B + k * ldb;                                                                \
            __m512 b[NZ];                                                                                 \
            _Pragma("GCC unroll 4") for (int z = 0; z < NZ; z++) b[z] =                                   \
                z + 1 < NZ ? _mm512_loadu_ps(bk + 16 * z) : _mm512_maskz_loadu_ps(ml, bk + 16 * z);       \
            _Pragma("GCC unroll 16") for (int r = 0; r < R; r++)                                           \
            {                                                                                             \
                __m512 x = _mm512_set1_ps(ar[r][k * sk]);                                                 \
                _Pragma("GCC unroll 4") for (int z = 0; z < NZ; z++) acc[r][z] =                          \
                    _mm512_fmadd_ps(x, b[z], acc[r][z]);                                                  \
            }                                                                                             \
        }                                                                                                 \
        _Pragma("GCC unroll 4") for (int z = 0; z < NZ; z++)                                              \
        {                                                                                                 \
            __mmask16 mk = z + 1 < NZ ? (__mmask16)0xFFFF : ml;                                           \
            size_t j = j0 + 16 * (size_t)z;                                                               \
            if (e->kind == EP_RELU_BACK) {                                                                \
                __m512 s = _mm512_maskz_loadu_ps(mk, e->gb + j);                                          \
                _Pragma("GCC unroll 16") for (int r = 0; r < R; r++) if ((size_t)r < nr) s =               \
                    store_back(acc[r][z], C + (size_t)r * ldc + j, e->a + (size_t)r * ldc + j, mk, e, s); \
                _mm512_mask_storeu_ps(e->gb + j, mk, s);                                                  \
            } else {                                                                                      \
                __m512 bv = e->kind == EP_BIAS_ACT ? _mm512_maskz_loadu_ps(mk, e->bias + j)               \
                                                   : _mm512_setzero_ps();                                 \
                _Pragma("GCC unroll 16") for (int r = 0; r < R; r++) if ((size_t)r < nr)                   \
                    store_fwd(acc[r][z], C + (size_t)r * ldc + j, bv, mk, e);                             \
            }                                                                                             \
        }                                                                                                 \
    }

GEMM_BLOCK(block_6x4, 6, 4)
GEMM_BLOCK(block_6x3, 6, 3)
GEMM_BLOCK(block_6x2, 6, 2)
GEMM_BLOCK(block_8x1, 8, 1)

/* C (m x n, ldc) from the sums: column strips of 64 outer (B's strip is
** read from L2 once per row block), row blocks of 6 inner and in row order
** (the bias gradient's sums are added row by row); a strip of one vector
** (an output layer of <= 16 classes) takes 8 rows a block. Narrower 32-column
** strips that fit L1 at K 256, with 12 rows a block, were twice as slow (the
** 12 row pointers spill). */
static AVX512 void gemm_avx512(size_t m, size_t n, size_t K, const float *A, size_t sa, size_t sk,
                               const float *B, size_t ldb, float *C, size_t ldc, const gemm_ep *e)
{
    if (e->kind == EP_RELU_BACK)
        memset(e->gb, 0, n * sizeof *e->gb);
    size_t sw = 64;
    for (size_t j0 = 0; j0 < n; j0 += sw) {
        size_t w = n - j0 < sw ? n - j0 : sw, nz = (w + 15) / 16, last = w - 16 * (nz - 1);
        __mmask16 ml = (__mmask16)(last == 16 ? 0xFFFFu : (1u << last) - 1u);
        size_t R = nz >= 2 ? 6 : 8;
        gemm_ep el = *e;
        for (size_t i0 = 0; i0 < m; i0 += R) {
            size_t nr = m - i0 < R ? m - i0 : R;
            const float *Ai = A + i0 * sa;
            float *Ci = C + i0 * ldc;
            el.a = e->kind == EP_RELU_BACK ? e->a + i0 * ldc : NULL;
            switch (nz) {
            case 4:
                block_6x4(Ai, sa, sk, B + j0, ldb, K, Ci, ldc, nr, ml, &el, j0);
                break;
            case 3:
                block_6x3(Ai, sa, sk, B + j0, ldb, K, Ci, ldc, nr, ml, &el, j0);
                break;
            case 2:
                block_6x2(Ai, sa, sk, B + j0, ldb, K, Ci, ldc, nr, ml, &el, j0);
                break;
            default:
                block_8x1(Ai, sa, sk, B + j0, ldb, K, Ci, ldc, nr, ml, &el, j0);
                break;
            }
        }
    }
}

/* transpose_c in 16 x 16 tiles held in registers: in-lane unpacks and
** shuffles, then two rounds of 128-bit lane shuffles (the usual 16 x 16
** transpose): 9.8 us for the bench's 50K weights, against 13.6 in scalar
** 16 x 16 tiles and no better with a gather a column. */
static AVX512 void transpose_avx512(const float *W, size_t fi, size_t fo, size_t o0, size_t o1, float *T)
{
    for (size_t a = o0; a < o1; a += 16) {
        size_t nr = o1 - a < 16 ? o1 - a : 16;
        __mmask16 rm = (__mmask16)(nr == 16 ? 0xFFFFu : (1u << nr) - 1u);
        for (size_t j0 = 0; j0 < fi; j0 += 16) {
            size_t nc = fi - j0 < 16 ? fi - j0 : 16;
            __mmask16 cm = (__mmask16)(nc == 16 ? 0xFFFFu : (1u << nc) - 1u);
            __m512 r[16], t[16];
            _Pragma("GCC unroll 16") for (size_t i = 0; i < 16; i++) r[i] =
                i < nr ? _mm512_maskz_loadu_ps(cm, W + (a + i) * fi + j0) : _mm512_setzero_ps();
            _Pragma("GCC unroll 8") for (int i = 0; i < 16; i += 2)
            {
                t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
                t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
            }
            _Pragma("GCC unroll 4") for (int g = 0; g < 16; g += 4)
            {
                r[g] = _mm512_shuffle_ps(t[g], t[g + 2], 0x44);
                r[g + 1] = _mm512_shuffle_ps(t[g], t[g + 2], 0xEE);
                r[g + 2] = _mm512_shuffle_ps(t[g + 1], t[g + 3], 0x44);
                r[g + 3] = _mm512_shuffle_ps(t[g + 1], t[g + 3], 0xEE);
            }
            _Pragma("GCC unroll 4") for (int c = 0; c < 4; c++)
            {
                t[c] = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x88);
                t[4 + c] = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xDD);
                t[8 + c] = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x88);
                t[12 + c] = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xDD);
            }
            _Pragma("GCC unroll 4") for (int c = 0; c < 4; c++)
            {
                r[c] = _mm512_shuffle_f32x4(t[c], t[8 + c], 0x88);
                r[8 + c] = _mm512_shuffle_f32x4(t[c], t[8 + c], 0xDD);
                r[4 + c] = _mm512_shuffle_f32x4(t[4 + c], t[12 + c], 0x88);
                r[12 + c] = _mm512_shuffle_f32x4(t[4 + c], t[12 + c], 0xDD);
            }
            _Pragma("GCC unroll 16") for (size_t j = 0; j < 16; j++) if (j < nc)
                _mm512_mask_storeu_ps(T + (j0 + j) * fo + a, rm, r[j]);
        }
    }
}

#endif

static int avx512(void)
{
#if MBMLP_GEMM_X86
    /* atomic: two fits may ask first at once (they store the same value) */
    static _Atomic int have = -1;
    int h = atomic_load_explicit(&have, memory_order_relaxed);
    if (h < 0) {
        __builtin_cpu_init();
        h = __builtin_cpu_supports("avx512f") ? 1 : 0;
        atomic_store_explicit(&have, h, memory_order_relaxed);
    }
    return h;
#else
    return 0;
#endif
}

/* AVX-512 where the CPU has it, else the portable body. */
static void gemm(size_t m, size_t n, size_t K, const float *A, size_t sa, size_t sk, const float *B, size_t ldb,
                 float *C, size_t ldc, const gemm_ep *e)
{
#if MBMLP_GEMM_X86
    if (avx512()) {
        gemm_avx512(m, n, K, A, sa, sk, B, ldb, C, ldc, e);
        return;
    }
#endif
    gemm_c(m, n, K, A, sa, sk, B, ldb, C, ldc, e);
}

/* mbmlp_gemm_on's answer once known (-1 before; test_mlp sets it to
** compare against cblas_sgemm in one process) */
static _Atomic int gemm_state = -1;

int mbmlp_gemm_on(void)
{
    int g = atomic_load_explicit(&gemm_state, memory_order_relaxed);
    if (g < 0) {
        const char *env = getenv("MOONBENCH_MLP_GEMM");
        g = avx512() && !(env && strcmp(env, "0") == 0);
        atomic_store_explicit(&gemm_state, g, memory_order_relaxed);
    }
    return g;
}

void mbmlp_gemm_plain(size_t m, size_t n, size_t K, const float *A, size_t sa, size_t sk, const float *B,
                      size_t ldb, float *C, size_t ldc)
{
    gemm_ep e = {EP_STORE, NULL, 0, 0, NULL, NULL};
    gemm(m, n, K, A, sa, sk, B, ldb, C, ldc, &e);
}

void mbmlp_gemm_bias_act(size_t m, size_t n, size_t K, const float *A, size_t sa, size_t sk, const float *B,
                         size_t ldb, float *C, size_t ldc, const float *bias, int act, float alpha)
{
    gemm_ep e = {EP_BIAS_ACT, bias, act, alpha, NULL, NULL};
    gemm(m, n, K, A, sa, sk, B, ldb, C, ldc, &e);
}

void mbmlp_gemm_relu_back(size_t m, size_t n, size_t K, const float *A, size_t sa, size_t sk, const float *B,
                          size_t ldb, float *C, size_t ldc, const float *act, int leaky, float alpha, float *gb)
{
    gemm_ep e = {EP_RELU_BACK, NULL, leaky ? 2 : 1, alpha, act, gb};
    gemm(m, n, K, A, sa, sk, B, ldb, C, ldc, &e);
}

void mbmlp_gemm_transpose(const float *W, size_t fi, size_t fo, size_t o0, size_t o1, float *T)
{
#if MBMLP_GEMM_X86
    if (avx512()) {
        transpose_avx512(W, fi, fo, o0, o1, T);
        return;
    }
#endif
    transpose_c(W, fi, fo, o0, o1, T);
}
