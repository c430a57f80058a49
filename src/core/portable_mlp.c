/*
** portable_mlp.c: an MLP form compiled for scoring (portable.h,
** mb_mlp_plan): each layer's weights transposed once, input-major with
** the outputs padded to a block, so a layer runs as axpy over outputs
** (acc[o] += w[j][o] * h[j]) in vector registers instead of one scalar
** dot product per output.
**
** The results are bit for bit mb_portable_predict_rows's: each output's
** sum starts at its bias and adds (double)w * h[j] for j = 0, 1, ... in
** the same order, a multiply then an add (the build is ISO C11, so GCC
** fuses nothing, clang is told not to below, and the intrinsics are mul
** and add, never FMA). The only terms left out are those of an input that is zero, and
** only in a layer whose weights are all finite and whose biases are not
** -0.0: there w * 0 is a zero, the running sum is never -0.0 (under
** round-to-nearest a sum is -0.0 only when both terms are), and s + +-0
** is s. ReLU layers give many zero inputs to the next layer.
**
** The weights are stored as doubles (exact), so a term is one load-multiply
** and one add. The kernel is chosen when the plan is made (mb_cpu_level):
** AVX-512 or AVX2 on a CPU and OS that run them, else plain C over the
** same blocks; a test runs each the CPU has.
*/
#include <math.h>
#include <string.h>

#include "cpu.h"
#include "portable.h"

/* GCC contracts nothing under -std=c11; clang's default (fp-contract on)
** may fuse a multiply and an add of one expression when the target has
** FMA (AVX-512F does): a fused sum rounds once, not twice */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define MLP_HAVE_X86 1
#include <immintrin.h>
#else
#define MLP_HAVE_X86 0
#endif

enum {
    PAD = 8,    /* outputs are padded to a multiple of this: one AVX-512 register of doubles */
    CHUNK = 512 /* nonzero inputs gathered per pass, on the stack */
};

typedef struct plan_layer {
    size_t in, out, pad;  /* pad: out rounded up to PAD */
    double *wt;           /* in x pad: wt[j * pad + o] = weight[o * in + j], 0 past out */
    double *bias;         /* pad, 0 past out */
    mb_activation act;
    float alpha;
    int skip_zero;        /* inputs equal to 0 may be left out (see above) */
} plan_layer;

/* acc[0..width) += rows[i][off + 0..width) * val[i] for i = 0..n, in that
** order, a multiply then an add (never FMA: each sum must round as the
** plain loop's). */
typedef void (*block_fn)(const double *const *rows, size_t off, const double *val, size_t n, double *acc);

typedef struct kernel {
    const char *name;
    size_t wide;          /* outputs per pass of big; small does PAD */
    block_fn big, small;
} kernel;

struct mb_mlp_plan {
    size_t nlayers, nfeatures, noutputs, width;
    mb_link link;
    plan_layer *layers;
    kernel k;
};

/* The plain C kernel (at -O2 GCC vectorises the fixed-length inner loop
** with SSE2). */
static void block8_c(const double *const *rows, size_t off, const double *val, size_t n, double *acc)
{
    double a[PAD];
    memcpy(a, acc, sizeof a);
    for (size_t i = 0; i < n; i++) {
        const double *w = rows[i] + off;
        double v = val[i];
        for (size_t t = 0; t < PAD; t++)
            a[t] += w[t] * v;
    }
    memcpy(acc, a, sizeof a);
}

#if MLP_HAVE_X86
/* AVX2: eight registers of four doubles (32 outputs), or two (8). The
** registers are named, not an array: GCC -O2 would keep an array in
** memory. */
__attribute__((target("avx2"))) static void block32_avx2(const double *const *rows, size_t off, const double *val,
                                                          size_t n, double *acc)
{
    __m256d a0 = _mm256_loadu_pd(acc), a1 = _mm256_loadu_pd(acc + 4), a2 = _mm256_loadu_pd(acc + 8),
            a3 = _mm256_loadu_pd(acc + 12), a4 = _mm256_loadu_pd(acc + 16), a5 = _mm256_loadu_pd(acc + 20),
            a6 = _mm256_loadu_pd(acc + 24), a7 = _mm256_loadu_pd(acc + 28);
    for (size_t i = 0; i < n; i++) {
        const double *w = rows[i] + off;
        __m256d v = _mm256_broadcast_sd(&val[i]);
        a0 = _mm256_add_pd(a0, _mm256_mul_pd(_mm256_loadu_pd(w), v));
        a1 = _mm256_add_pd(a1, _mm256_mul_pd(_mm256_loadu_pd(w + 4), v));
        a2 = _mm256_add_pd(a2, _mm256_mul_pd(_mm256_loadu_pd(w + 8), v));
        a3 = _mm256_add_pd(a3, _mm256_mul_pd(_mm256_loadu_pd(w + 12), v));
        a4 = _mm256_add_pd(a4, _mm256_mul_pd(_mm256_loadu_pd(w + 16), v));
        a5 = _mm256_add_pd(a5, _mm256_mul_pd(_mm256_loadu_pd(w + 20), v));
        a6 = _mm256_add_pd(a6, _mm256_mul_pd(_mm256_loadu_pd(w + 24), v));
        a7 = _mm256_add_pd(a7, _mm256_mul_pd(_mm256_loadu_pd(w + 28), v));
    }
    _mm256_storeu_pd(acc, a0);
    _mm256_storeu_pd(acc + 4, a1);
    _mm256_storeu_pd(acc + 8, a2);
    _mm256_storeu_pd(acc + 12, a3);
    _mm256_storeu_pd(acc + 16, a4);
    _mm256_storeu_pd(acc + 20, a5);
    _mm256_storeu_pd(acc + 24, a6);
    _mm256_storeu_pd(acc + 28, a7);
}

__attribute__((target("avx2"))) static void block8_avx2(const double *const *rows, size_t off, const double *val,
                                                         size_t n, double *acc)
{
    __m256d a0 = _mm256_loadu_pd(acc), a1 = _mm256_loadu_pd(acc + 4);
    for (size_t i = 0; i < n; i++) {
        const double *w = rows[i] + off;
        __m256d v = _mm256_broadcast_sd(&val[i]);
        a0 = _mm256_add_pd(a0, _mm256_mul_pd(_mm256_loadu_pd(w), v));
        a1 = _mm256_add_pd(a1, _mm256_mul_pd(_mm256_loadu_pd(w + 4), v));
    }
    _mm256_storeu_pd(acc, a0);
    _mm256_storeu_pd(acc + 4, a1);
}

/* AVX-512: eight registers of eight doubles (64 outputs), or one (8). */
__attribute__((target("avx512f"))) static void block64_avx512(const double *const *rows, size_t off,
                                                               const double *val, size_t n, double *acc)
{
    __m512d a0 = _mm512_loadu_pd(acc), a1 = _mm512_loadu_pd(acc + 8), a2 = _mm512_loadu_pd(acc + 16),
            a3 = _mm512_loadu_pd(acc + 24), a4 = _mm512_loadu_pd(acc + 32), a5 = _mm512_loadu_pd(acc + 40),
            a6 = _mm512_loadu_pd(acc + 48), a7 = _mm512_loadu_pd(acc + 56);
    for (size_t i = 0; i < n; i++) {
        const double *w = rows[i] + off;
        __m512d v = _mm512_set1_pd(val[i]);
        a0 = _mm512_add_pd(a0, _mm512_mul_pd(_mm512_loadu_pd(w), v));
        a1 = _mm512_add_pd(a1, _mm512_mul_pd(_mm512_loadu_pd(w + 8), v));
        a2 = _mm512_add_pd(a2, _mm512_mul_pd(_mm512_loadu_pd(w + 16), v));
        a3 = _mm512_add_pd(a3, _mm512_mul_pd(_mm512_loadu_pd(w + 24), v));
        a4 = _mm512_add_pd(a4, _mm512_mul_pd(_mm512_loadu_pd(w + 32), v));
        a5 = _mm512_add_pd(a5, _mm512_mul_pd(_mm512_loadu_pd(w + 40), v));
        a6 = _mm512_add_pd(a6, _mm512_mul_pd(_mm512_loadu_pd(w + 48), v));
        a7 = _mm512_add_pd(a7, _mm512_mul_pd(_mm512_loadu_pd(w + 56), v));
    }
    _mm512_storeu_pd(acc, a0);
    _mm512_storeu_pd(acc + 8, a1);
    _mm512_storeu_pd(acc + 16, a2);
    _mm512_storeu_pd(acc + 24, a3);
    _mm512_storeu_pd(acc + 32, a4);
    _mm512_storeu_pd(acc + 40, a5);
    _mm512_storeu_pd(acc + 48, a6);
    _mm512_storeu_pd(acc + 56, a7);
}

__attribute__((target("avx512f"))) static void block8_avx512(const double *const *rows, size_t off,
                                                              const double *val, size_t n, double *acc)
{
    __m512d a = _mm512_loadu_pd(acc);
    for (size_t i = 0; i < n; i++)
        a = _mm512_add_pd(a, _mm512_mul_pd(_mm512_loadu_pd(rows[i] + off), _mm512_set1_pd(val[i])));
    _mm512_storeu_pd(acc, a);
}
#endif

/* The kernel for a CPU level (mb_cpu_level): 3 AVX-512, 2 AVX2, else C. */
static kernel kernel_for(int level)
{
#if MLP_HAVE_X86
    if (level >= 3)
        return (kernel){"avx512", 64, block64_avx512, block8_avx512};
    if (level >= 2)
        return (kernel){"avx2", 32, block32_avx2, block8_avx2};
#else
    (void)level;
#endif
    return (kernel){"c", PAD, block8_c, block8_c};
}

/* {====== making a plan ======} */

void mb_mlp_plan_free(mb_mlp_plan **pp)
{
    if (!pp || !*pp)
        return;
    mb_mlp_plan *pl = *pp;
    for (size_t l = 0; pl->layers && l < pl->nlayers; l++) {
        mb_free(pl->layers[l].wt);
        mb_free(pl->layers[l].bias);
    }
    mb_free(pl->layers);
    mb_free(pl);
    *pp = NULL;
}

/* One layer transposed; 0 when out of memory. */
static int plan_layer_make(plan_layer *P, const mb_mlp_layer *L)
{
    P->in = L->in;
    P->out = L->out;
    P->pad = (L->out + PAD - 1) / PAD * PAD;
    P->act = L->act;
    P->alpha = L->alpha;
    size_t cells;
    if (!mb_mul_ok(P->in, P->pad, &cells) || !(P->wt = mb_trymalloc(cells * sizeof *P->wt)) ||
        !(P->bias = mb_trymalloc(P->pad * sizeof *P->bias)))
        return 0;
    int finite = 1, neg_zero = 0;
    for (size_t j = 0; j < P->in; j++) {
        double *row = P->wt + j * P->pad;
        for (size_t o = 0; o < P->out; o++) {
            row[o] = (double)L->weight[o * L->in + j]; /* exact: the plain loop's own conversion */
            finite &= isfinite(row[o]) != 0;
        }
        for (size_t o = P->out; o < P->pad; o++)
            row[o] = 0;
    }
    for (size_t o = 0; o < P->pad; o++) {
        P->bias[o] = o < P->out ? (double)L->bias[o] : 0;
        neg_zero |= o < P->out && L->bias[o] == 0 && signbit(L->bias[o]);
    }
    P->skip_zero = finite && !neg_zero;
    return 1;
}

mb_mlp_plan *mb_mlp_plan_new(const mb_portable *p, int level)
{
    if (p->kind != MB_FORM_MLP || mb_portable_check(p, NULL) != MB_OK)
        return NULL;
    const mb_mlp_form *m = &p->u.mlp;
    mb_mlp_plan *pl = mb_trymalloc(sizeof *pl);
    if (!pl)
        return NULL;
    memset(pl, 0, sizeof *pl);
    pl->nlayers = m->nlayers;
    pl->link = m->link;
    pl->nfeatures = mb_portable_nfeatures(p);
    pl->noutputs = mb_portable_noutputs(p);
    pl->width = mb_portable_work_size(p) / 2;
    if (!(pl->layers = mb_trymalloc(m->nlayers * sizeof *pl->layers)))
        goto fail;
    memset(pl->layers, 0, m->nlayers * sizeof *pl->layers);
    for (size_t l = 0; l < m->nlayers; l++)
        if (!plan_layer_make(&pl->layers[l], &m->layers[l]))
            goto fail;
    if (level < 0) {
        mb_cpu_facts f;
        mb_cpu_read(&f);
        level = mb_cpu_level(&f);
    }
    pl->k = kernel_for(level);
    return pl;
fail:
    mb_mlp_plan_free(&pl);
    return NULL;
}

const char *mb_mlp_plan_kernel(const mb_mlp_plan *pl) { return pl->k.name; }

/* {====== scoring ======} */

/* g[0..pad) = bias + W h, h of width in: the nonzero inputs (all of them
** when the layer may not skip) are gathered CHUNK at a time, as their
** weight rows and values, then each block of outputs adds the chunk's
** terms in input order. */
static void layer_forward(const kernel *K, const plan_layer *P, const double *h, double *g)
{
    const double *rows[CHUNK];
    double val[CHUNK];
    memcpy(g, P->bias, P->pad * sizeof *g);
    for (size_t j0 = 0; j0 < P->in; j0 += CHUNK) {
        size_t j1 = P->in - j0 < CHUNK ? P->in : j0 + CHUNK, n = 0;
        for (size_t j = j0; j < j1; j++) { /* branch-free: ReLU zeros fall anywhere */
            rows[n] = P->wt + j * P->pad;
            val[n] = h[j];
            n += !(P->skip_zero && h[j] == 0);
        }
        size_t o = 0;
        for (; o + K->wide <= P->pad; o += K->wide)
            K->big(rows, o, val, n, g + o);
        for (; o < P->pad; o += PAD)
            K->small(rows, o, val, n, g + o);
    }
}

void mb_mlp_plan_predict_rows(const mb_mlp_plan *pl, const mb_matrix *X, double *out, double *work)
{
    size_t k = pl->noutputs;
    for (size_t i = 0; i < X->rows; i++) {
        double *h = work, *g = work + pl->width;
        for (size_t j = 0; j < pl->nfeatures; j++)
            h[j] = (double)X->x[i * X->ld + j];
        for (size_t l = 0; l < pl->nlayers; l++) {
            const plan_layer *P = &pl->layers[l];
            layer_forward(&pl->k, P, h, g);
            if (P->act == MB_ACT_RELU) /* mb_portable_activate's ReLU, inline */
                for (size_t o = 0; o < P->out; o++)
                    g[o] = g[o] > 0 ? g[o] : 0;
            else if (P->act != MB_ACT_IDENTITY)
                for (size_t o = 0; o < P->out; o++)
                    g[o] = mb_portable_activate(P->act, P->alpha, g[o]);
            double *tmp = h;
            h = g;
            g = tmp;
        }
        mb_portable_apply_link(pl->link, h, k);
        memcpy(out + i * k, h, k * sizeof *h);
    }
}
