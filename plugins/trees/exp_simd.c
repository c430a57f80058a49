/*
** exp_simd.c: exp of eight doubles at a time (AVX-512 F + DQ) that gives
** the bits of glibc's exp on this machine, for the logloss gradients
** (gbdt_simd.c): libm's exp, called once a row, was ~10% of a clf_1m fit's
** CPU (perf, 2026-12-03), and a vector exp that is merely accurate would
** change every model.
**
** HOW: glibc >= 2.28 computes exp (sysdeps/ieee754/dbl-64/e_exp.c, from
** Arm's optimized-routines, MIT) as 2^(k/128) * exp(r): k = round(x *
** 128/ln2), r = x - k ln2/128 in two parts, a table of 2^(k/128) as a
** scale and a tail, and a degree-5 polynomial. On a CPU with FMA (every
** AVX-512 one) glibc runs its FMA build of that code; the operations below
** are those of its machine code in Debian 12's libm (objdump of
** __ieee754_exp_fma, glibc 2.36), fused where it fuses, in its order, and
** the table and constants are its __exp_data (read from that libm; the
** same as e_exp_data.c). Arguments outside [2^-54, 512) in magnitude
** (tiny, overflow, underflow, inf, NaN) take glibc's special paths: those
** lanes call exp itself.
**
** WHY the probe (mbt_exp_simd_ok): another libm (another glibc, musl, no
** FMA build) may round differently; the vector exp is used only when it
** agrees bit for bit with the running exp on a fixed set of arguments,
** and libm's exp is called otherwise. tests/unit/test_trees_predict.c
** compares the two on many more.
*/
#include "gbdt.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define TARGET __attribute__((target("avx512f,avx512dq,fma")))

/* __exp_data.tab: tab[2k] = the bits of T[k], tab[2k + 1] = the bits of
** H[k] - (k << 45), where 2^(k/128) ~= H[k] (1 + T[k]) */
static const uint64_t tab[256] = {
    0x0000000000000000ULL, 0x3ff0000000000000ULL, 0x3c9b3b4f1a88bf6eULL, 0x3feff63da9fb3335ULL,
    0xbc7160139cd8dc5dULL, 0x3fefec9a3e778061ULL, 0xbc905e7a108766d1ULL, 0x3fefe315e86e7f85ULL,
    0x3c8cd2523567f613ULL, 0x3fefd9b0d3158574ULL, 0xbc8bce8023f98efaULL, 0x3fefd06b29ddf6deULL,
    0x3c60f74e61e6c861ULL, 0x3fefc74518759bc8ULL, 0x3c90a3e45b33d399ULL, 0x3fefbe3ecac6f383ULL,
    0x3c979aa65d837b6dULL, 0x3fefb5586cf9890fULL, 0x3c8eb51a92fdeffcULL, 0x3fefac922b7247f7ULL,
    0x3c3ebe3d702f9cd1ULL, 0x3fefa3ec32d3d1a2ULL, 0xbc6a033489906e0bULL, 0x3fef9b66affed31bULL,
    0xbc9556522a2fbd0eULL, 0x3fef9301d0125b51ULL, 0xbc5080ef8c4eea55ULL, 0x3fef8abdc06c31ccULL,
    0xbc91c923b9d5f416ULL, 0x3fef829aaea92de0ULL, 0x3c80d3e3e95c55afULL, 0x3fef7a98c8a58e51ULL,
    0xbc801b15eaa59348ULL, 0x3fef72b83c7d517bULL, 0xbc8f1ff055de323dULL, 0x3fef6af9388c8deaULL,
    0x3c8b898c3f1353bfULL, 0x3fef635beb6fcb75ULL, 0xbc96d99c7611eb26ULL, 0x3fef5be084045cd4ULL,
    0x3c9aecf73e3a2f60ULL, 0x3fef54873168b9aaULL, 0xbc8fe782cb86389dULL, 0x3fef4d5022fcd91dULL,
    0x3c8a6f4144a6c38dULL, 0x3fef463b88628cd6ULL, 0x3c807a05b0e4047dULL, 0x3fef3f49917ddc96ULL,
    0x3c968efde3a8a894ULL, 0x3fef387a6e756238ULL, 0x3c875e18f274487dULL, 0x3fef31ce4fb2a63fULL,
    0x3c80472b981fe7f2ULL, 0x3fef2b4565e27cddULL, 0xbc96b87b3f71085eULL, 0x3fef24dfe1f56381ULL,
    0x3c82f7e16d09ab31ULL, 0x3fef1e9df51fdee1ULL, 0xbc3d219b1a6fbffaULL, 0x3fef187fd0dad990ULL,
    0x3c8b3782720c0ab4ULL, 0x3fef1285a6e4030bULL, 0x3c6e149289cecb8fULL, 0x3fef0cafa93e2f56ULL,
    0x3c834d754db0abb6ULL, 0x3fef06fe0a31b715ULL, 0x3c864201e2ac744cULL, 0x3fef0170fc4cd831ULL,
    0x3c8fdd395dd3f84aULL, 0x3feefc08b26416ffULL, 0xbc86a3803b8e5b04ULL, 0x3feef6c55f929ff1ULL,
    0xbc924aedcc4b5068ULL, 0x3feef1a7373aa9cbULL, 0xbc9907f81b512d8eULL, 0x3feeecae6d05d866ULL,
    0xbc71d1e83e9436d2ULL, 0x3feee7db34e59ff7ULL, 0xbc991919b3ce1b15ULL, 0x3feee32dc313a8e5ULL,
    0x3c859f48a72a4c6dULL, 0x3feedea64c123422ULL, 0xbc9312607a28698aULL, 0x3feeda4504ac801cULL,
    0xbc58a78f4817895bULL, 0x3feed60a21f72e2aULL, 0xbc7c2c9b67499a1bULL, 0x3feed1f5d950a897ULL,
    0x3c4363ed60c2ac11ULL, 0x3feece086061892dULL, 0x3c9666093b0664efULL, 0x3feeca41ed1d0057ULL,
    0x3c6ecce1daa10379ULL, 0x3feec6a2b5c13cd0ULL, 0x3c93ff8e3f0f1230ULL, 0x3feec32af0d7d3deULL,
    0x3c7690cebb7aafb0ULL, 0x3feebfdad5362a27ULL, 0x3c931dbdeb54e077ULL, 0x3feebcb299fddd0dULL,
    0xbc8f94340071a38eULL, 0x3feeb9b2769d2ca7ULL, 0xbc87deccdc93a349ULL, 0x3feeb6daa2cf6642ULL,
    0xbc78dec6bd0f385fULL, 0x3feeb42b569d4f82ULL, 0xbc861246ec7b5cf6ULL, 0x3feeb1a4ca5d920fULL,
    0x3c93350518fdd78eULL, 0x3feeaf4736b527daULL, 0x3c7b98b72f8a9b05ULL, 0x3feead12d497c7fdULL,
    0x3c9063e1e21c5409ULL, 0x3feeab07dd485429ULL, 0x3c34c7855019c6eaULL, 0x3feea9268a5946b7ULL,
    0x3c9432e62b64c035ULL, 0x3feea76f15ad2148ULL, 0xbc8ce44a6199769fULL, 0x3feea5e1b976dc09ULL,
    0xbc8c33c53bef4da8ULL, 0x3feea47eb03a5585ULL, 0xbc845378892be9aeULL, 0x3feea34634ccc320ULL,
    0xbc93cedd78565858ULL, 0x3feea23882552225ULL, 0x3c5710aa807e1964ULL, 0x3feea155d44ca973ULL,
    0xbc93b3efbf5e2228ULL, 0x3feea09e667f3bcdULL, 0xbc6a12ad8734b982ULL, 0x3feea012750bdabfULL,
    0xbc6367efb86da9eeULL, 0x3fee9fb23c651a2fULL, 0xbc80dc3d54e08851ULL, 0x3fee9f7df9519484ULL,
    0xbc781f647e5a3ecfULL, 0x3fee9f75e8ec5f74ULL, 0xbc86ee4ac08b7db0ULL, 0x3fee9f9a48a58174ULL,
    0xbc8619321e55e68aULL, 0x3fee9feb564267c9ULL, 0x3c909ccb5e09d4d3ULL, 0x3feea0694fde5d3fULL,
    0xbc7b32dcb94da51dULL, 0x3feea11473eb0187ULL, 0x3c94ecfd5467c06bULL, 0x3feea1ed0130c132ULL,
    0x3c65ebe1abd66c55ULL, 0x3feea2f336cf4e62ULL, 0xbc88a1c52fb3cf42ULL, 0x3feea427543e1a12ULL,
    0xbc9369b6f13b3734ULL, 0x3feea589994cce13ULL, 0xbc805e843a19ff1eULL, 0x3feea71a4623c7adULL,
    0xbc94d450d872576eULL, 0x3feea8d99b4492edULL, 0x3c90ad675b0e8a00ULL, 0x3feeaac7d98a6699ULL,
    0x3c8db72fc1f0eab4ULL, 0x3feeace5422aa0dbULL, 0xbc65b6609cc5e7ffULL, 0x3feeaf3216b5448cULL,
    0x3c7bf68359f35f44ULL, 0x3feeb1ae99157736ULL, 0xbc93091fa71e3d83ULL, 0x3feeb45b0b91ffc6ULL,
    0xbc5da9b88b6c1e29ULL, 0x3feeb737b0cdc5e5ULL, 0xbc6c23f97c90b959ULL, 0x3feeba44cbc8520fULL,
    0xbc92434322f4f9aaULL, 0x3feebd829fde4e50ULL, 0xbc85ca6cd7668e4bULL, 0x3feec0f170ca07baULL,
    0x3c71affc2b91ce27ULL, 0x3feec49182a3f090ULL, 0x3c6dd235e10a73bbULL, 0x3feec86319e32323ULL,
    0xbc87c50422622263ULL, 0x3feecc667b5de565ULL, 0x3c8b1c86e3e231d5ULL, 0x3feed09bec4a2d33ULL,
    0xbc91bbd1d3bcbb15ULL, 0x3feed503b23e255dULL, 0x3c90cc319cee31d2ULL, 0x3feed99e1330b358ULL,
    0x3c8469846e735ab3ULL, 0x3feede6b5579fdbfULL, 0xbc82dfcd978e9db4ULL, 0x3feee36bbfd3f37aULL,
    0x3c8c1a7792cb3387ULL, 0x3feee89f995ad3adULL, 0xbc907b8f4ad1d9faULL, 0x3feeee07298db666ULL,
    0xbc55c3d956dcaebaULL, 0x3feef3a2b84f15fbULL, 0xbc90a40e3da6f640ULL, 0x3feef9728de5593aULL,
    0xbc68d6f438ad9334ULL, 0x3feeff76f2fb5e47ULL, 0xbc91eee26b588a35ULL, 0x3fef05b030a1064aULL,
    0x3c74ffd70a5fddcdULL, 0x3fef0c1e904bc1d2ULL, 0xbc91bdfbfa9298acULL, 0x3fef12c25bd71e09ULL,
    0x3c736eae30af0cb3ULL, 0x3fef199bdd85529cULL, 0x3c8ee3325c9ffd94ULL, 0x3fef20ab5fffd07aULL,
    0x3c84e08fd10959acULL, 0x3fef27f12e57d14bULL, 0x3c63cdaf384e1a67ULL, 0x3fef2f6d9406e7b5ULL,
    0x3c676b2c6c921968ULL, 0x3fef3720dcef9069ULL, 0xbc808a1883ccb5d2ULL, 0x3fef3f0b555dc3faULL,
    0xbc8fad5d3ffffa6fULL, 0x3fef472d4a07897cULL, 0xbc900dae3875a949ULL, 0x3fef4f87080d89f2ULL,
    0x3c74a385a63d07a7ULL, 0x3fef5818dcfba487ULL, 0xbc82919e2040220fULL, 0x3fef60e316c98398ULL,
    0x3c8e5a50d5c192acULL, 0x3fef69e603db3285ULL, 0x3c843a59ac016b4bULL, 0x3fef7321f301b460ULL,
    0xbc82d52107b43e1fULL, 0x3fef7c97337b9b5fULL, 0xbc892ab93b470dc9ULL, 0x3fef864614f5a129ULL,
    0x3c74b604603a88d3ULL, 0x3fef902ee78b3ff6ULL, 0x3c83c5ec519d7271ULL, 0x3fef9a51fbc74c83ULL,
    0xbc8ff7128fd391f0ULL, 0x3fefa4afa2a490daULL, 0xbc8dae98e223747dULL, 0x3fefaf482d8e67f1ULL,
    0x3c8ec3bc41aa2008ULL, 0x3fefba1bee615a27ULL, 0x3c842b94c3a9eb32ULL, 0x3fefc52b376bba97ULL,
    0x3c8a64a931d185eeULL, 0x3fefd0765b6e4540ULL, 0xbc8e37bae43be3edULL, 0x3fefdbfdad9cbe14ULL,
    0x3c77893b4d91cd9dULL, 0x3fefe7c1819e90d8ULL, 0x3c5305c14160cc89ULL, 0x3feff3c22b8f71f1ULL,
};

#define INVLN2N 0x1.71547652b82fep+7   /* 128 / ln 2 */
#define NEGLN2HIN -0x1.62e42fefa0000p-8 /* -ln 2 / 128, high part */
#define NEGLN2LON -0x1.cf79abc9e3b3ap-47
#define SHIFT 0x1.8p52
#define C2 0x1.ffffffffffdbdp-2
#define C3 0x1.555555555543cp-3
#define C4 0x1.55555cf172b91p-5
#define C5 0x1.1111167a4d017p-7

/* exp of eight lanes; lanes outside glibc's main path are exp's own */
static TARGET __m512d exp8(__m512d x)
{
    __m512i ix = _mm512_castpd_si512(x);
    __m512i abstop = _mm512_and_si512(_mm512_srli_epi64(ix, 52), _mm512_set1_epi64(0x7ff));
    /* abstop - top12(0x1p-54) < top12(512) - top12(0x1p-54), unsigned */
    __mmask8 main = _mm512_cmplt_epu64_mask(_mm512_sub_epi64(abstop, _mm512_set1_epi64(0x3c9)),
                                            _mm512_set1_epi64(0x3f));
    __m512d shift = _mm512_set1_pd(SHIFT);
    __m512d kd = _mm512_fmadd_pd(x, _mm512_set1_pd(INVLN2N), shift);
    __m512i ki = _mm512_castpd_si512(kd);
    kd = _mm512_sub_pd(kd, shift);
    __m512d r = _mm512_fmadd_pd(kd, _mm512_set1_pd(NEGLN2HIN), x);
    r = _mm512_fmadd_pd(kd, _mm512_set1_pd(NEGLN2LON), r);
    __m512i idx = _mm512_slli_epi64(_mm512_and_si512(ki, _mm512_set1_epi64(0x7f)), 1);
    __m512i top = _mm512_slli_epi64(ki, 45);
    __m512d tail = _mm512_castsi512_pd(_mm512_i64gather_epi64(idx, (const void *)tab, 8));
    __m512i sbits = _mm512_add_epi64(_mm512_i64gather_epi64(idx, (const void *)(tab + 1), 8), top);
    __m512d p = _mm512_fmadd_pd(r, _mm512_set1_pd(C3), _mm512_set1_pd(C2));
    __m512d t1 = _mm512_add_pd(r, tail);
    __m512d r2 = _mm512_mul_pd(r, r);
    __m512d q = _mm512_fmadd_pd(r, _mm512_set1_pd(C5), _mm512_set1_pd(C4));
    p = _mm512_fmadd_pd(p, r2, t1);
    __m512d tmp = _mm512_fmadd_pd(_mm512_mul_pd(r2, r2), q, p);
    __m512d scale = _mm512_castsi512_pd(sbits);
    __m512d e = _mm512_fmadd_pd(scale, tmp, scale);
    if (main != 0xff) {
        double xs[8], es[8];
        _mm512_storeu_pd(xs, x);
        _mm512_storeu_pd(es, e);
        for (int l = 0; l < 8; l++)
            if (!(main >> l & 1))
                es[l] = exp(xs[l]);
        e = _mm512_loadu_pd(es);
    }
    return e;
}

TARGET void mbt_exp_simd(const double *x, double *out, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm512_storeu_pd(out + i, exp8(_mm512_loadu_pd(x + i)));
    if (i < n) {
        __mmask8 m = (__mmask8)((1u << (n - i)) - 1u);
        /* the missing lanes read as 1.0: on the main path, no exp call */
        __m512d v = _mm512_mask_loadu_pd(_mm512_set1_pd(1.0), m, x + i);
        _mm512_mask_storeu_pd(out + i, m, exp8(v));
    }
}

/* The probe: arguments over the main path's range and its edges. */
static int probe(void)
{
    double x[1088], e[1088];
    size_t n = 0;
    for (int i = 0; i < 800; i++) /* -50 .. 50, steps not a multiple of ln2/128 */
        x[n++] = -50.0 + 100.0 * (double)i / 799.0 + 1e-7 * (double)(i % 7);
    uint64_t s = 0x243f6a8885a308d3ULL;
    for (int i = 0; i < 256; i++) { /* random, of magnitude 2^-60 .. 2^10 */
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        double u = (double)(s >> 11) * 0x1.0p-53;
        x[n++] = (s & 1 ? -1.0 : 1.0) * ldexp(1.0 + u, (int)((s >> 3) % 70) - 60);
    }
    const double edge[] = {0.0, -0.0, 0x1p-54, -0x1p-54, 0x1.fffffffffffffp-55, 511.99, -511.99, 512.0, -512.0,
                           709.78, -745.1, 710.0, -746.0, INFINITY, -INFINITY, NAN, 1.0, -1.0, 0.5, -0.5,
                           1e-10, -1e-10, 20.0, -20.0, 36.7, -36.7, 88.0, -88.0, 300.0, -300.0, 1e-300, 5e-324};
    for (size_t i = 0; i < sizeof edge / sizeof *edge; i++)
        x[n++] = edge[i];
    mbt_exp_simd(x, e, n);
    for (size_t i = 0; i < n; i++) {
        double want = exp(x[i]);
        if (memcmp(&want, &e[i], sizeof want) != 0)
            return 0;
    }
    return 1;
}

int mbt_exp_simd_ok(void)
{
    static atomic_int state; /* 0 not probed, 1 agrees, -1 differs */
    if (!mbt_avx512_ok())
        return 0;
    int s = atomic_load_explicit(&state, memory_order_relaxed);
    if (s == 0) {
        s = probe() ? 1 : -1;
        atomic_store_explicit(&state, s, memory_order_relaxed);
    }
    return s > 0;
}

#else

void mbt_exp_simd(const double *x, double *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = exp(x[i]);
}

int mbt_exp_simd_ok(void) { return 0; }
#endif
