/*
** portable_mlp.c: an MLP form compiled for scoring (portable.h,
** mb_mlp_plan): each layer's weights transposed once, input-major with
** the outputs padded to a block, so a layer runs as axpy over outputs
** (acc[o] += w[j][o] * h[j]) in vector registers instead of one scalar
** dot product per output.
**
** The results are bit for bit mb_portable_predict_rows's: each output's
** sum starts at its bias and adds (double)w * h[j] for j = 0, 1, ... in
** the same order, a multiply then an add (the build is ISO C11, so the
** compiler fuses nothing, and the intrinsics below are mul and add, never
** FMA). The only terms left out are those of an input that is zero, and
** only in a layer whose weights are all finite and whose biases are not
** -0.0: there w * 0 is a zero, the running sum is never -0.0 (under
** round-to-nearest a sum is -0.0 only when both terms are), and s + +-0
** is s. ReLU layers give many zero inputs to the next layer.
**
** The kernel is chosen when the plan is made (mb_cpu_level): AVX2 on a CPU
** and OS that run it, else plain C over the same blocks; a test runs both.
*/
#include <math.h>
#include <string.h>

#include "cpu.h"
#include "portable.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define MLP_HAVE_AVX2 1
#include <immintrin.h>
#else
#define MLP_HAVE_AVX2 0
#endif

enum {
    BLOCK = 16, /* outputs per pass: four AVX2 registers of doubles */
    CHUNK = 512 /* nonzero inputs gathered per pass, on the stack */
};

typedef struct plan_layer {
    size_t in, out, pad;  /* pad: out rounded up to BLOCK */
    float *wt;            /* in x pad: wt[j * pad + o] = weight[o * in + j], 0 past out */
    double *bias;         /* pad, 0 past out */
    mb_activation act;
    float alpha;
    int skip_zero;        /* inputs equal to 0 may be left out (see above) */
} plan_layer;

typedef void (*block_fn)(const float *wt, size_t pad, const unsigned *idx, const double *val, size_t n,
                         double *acc);

struct mb_mlp_plan {
    size_t nlayers, nfeatures, noutputs, width;
    mb_link link;
    plan_layer *layers;
    block_fn block;
    const char *kernel;
};

/* acc[0..BLOCK) += wt[idx[i] * pad + 0..BLOCK) * val[i] for i = 0..n, in
** that order: the plain C kernel (at -O2 GCC vectorises the fixed-length
** inner loop with SSE2). */
static void block_c(const float *wt, size_t pad, const unsigned *idx, const double *val, size_t n, double *acc)
{
    double a[BLOCK];
    memcpy(a, acc, sizeof a);
    for (size_t i = 0; i < n; i++) {
        const float *w = wt + (size_t)idx[i] * pad;
        double v = val[i];
        for (size_t t = 0; t < BLOCK; t++)
            a[t] += (double)w[t] * v;
    }
    memcpy(acc, a, sizeof a);
}

#if MLP_HAVE_AVX2
/* The same with AVX2: four registers of four doubles, a multiply then an
** add per register (no FMA: the sum must round as the plain loop's). */
__attribute__((target("avx2"))) static void block_avx2(const float *wt, size_t pad, const unsigned *idx,
                                                        const double *val, size_t n, double *acc)
{
    __m256d a0 = _mm256_loadu_pd(acc), a1 = _mm256_loadu_pd(acc + 4);
    __m256d a2 = _mm256_loadu_pd(acc + 8), a3 = _mm256_loadu_pd(acc + 12);
    for (size_t i = 0; i < n; i++) {
        const float *w = wt + (size_t)idx[i] * pad;
        __m256d v = _mm256_broadcast_sd(&val[i]);
        a0 = _mm256_add_pd(a0, _mm256_mul_pd(_mm256_cvtps_pd(_mm_loadu_ps(w)), v));
        a1 = _mm256_add_pd(a1, _mm256_mul_pd(_mm256_cvtps_pd(_mm_loadu_ps(w + 4)), v));
        a2 = _mm256_add_pd(a2, _mm256_mul_pd(_mm256_cvtps_pd(_mm_loadu_ps(w + 8)), v));
        a3 = _mm256_add_pd(a3, _mm256_mul_pd(_mm256_cvtps_pd(_mm_loadu_ps(w + 12)), v));
    }
    _mm256_storeu_pd(acc, a0);
    _mm256_storeu_pd(acc + 4, a1);
    _mm256_storeu_pd(acc + 8, a2);
    _mm256_storeu_pd(acc + 12, a3);
}
#endif

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
    P->pad = (L->out + BLOCK - 1) / BLOCK * BLOCK;
    P->act = L->act;
    P->alpha = L->alpha;
    size_t cells;
    if (!mb_mul_ok(P->in, P->pad, &cells) || !(P->wt = mb_trymalloc(cells * sizeof *P->wt)) ||
        !(P->bias = mb_trymalloc(P->pad * sizeof *P->bias)))
        return 0;
    int finite = 1, neg_zero = 0;
    for (size_t j = 0; j < P->in; j++) {
        float *row = P->wt + j * P->pad;
        for (size_t o = 0; o < P->out; o++) {
            row[o] = L->weight[o * L->in + j];
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
    pl->block = block_c;
    pl->kernel = "c";
#if MLP_HAVE_AVX2
    if (level >= 2) {
        pl->block = block_avx2;
        pl->kernel = "avx2";
    }
#endif
    return pl;
fail:
    mb_mlp_plan_free(&pl);
    return NULL;
}

const char *mb_mlp_plan_kernel(const mb_mlp_plan *pl) { return pl->kernel; }

/* {====== scoring ======} */

/* g[0..pad) = bias + W h, h of width in: the nonzero inputs (all of them
** when the layer may not skip) are gathered CHUNK at a time, then each
** block of outputs adds the chunk's terms in input order. */
static void layer_forward(const mb_mlp_plan *pl, const plan_layer *P, const double *h, double *g)
{
    unsigned idx[CHUNK];
    double val[CHUNK];
    memcpy(g, P->bias, P->pad * sizeof *g);
    for (size_t j0 = 0; j0 < P->in; j0 += CHUNK) {
        size_t j1 = P->in - j0 < CHUNK ? P->in : j0 + CHUNK, n = 0;
        for (size_t j = j0; j < j1; j++) { /* branch-free: ReLU zeros fall anywhere */
            idx[n] = (unsigned)j;
            val[n] = h[j];
            n += !(P->skip_zero && h[j] == 0);
        }
        for (size_t o = 0; o < P->pad; o += BLOCK)
            pl->block(P->wt + o, P->pad, idx, val, n, g + o);
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
            layer_forward(pl, P, h, g);
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
