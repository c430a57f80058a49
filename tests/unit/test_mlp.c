/*
** test_mlp.c: unit tests for the MLP plugin (plugins/mlp).
**
** White-box: the network kernels (plugins/mlp/mlp_net.c, included below)
** are checked against central finite differences for every hidden
** activation, every output / loss, with and without dropout and sample
** weights, on a tiny network. Black-box, through the host and the ABI
** (build/plugins/mlp.so): XOR, a smooth regression function, the bundled
** digits data above 95% test accuracy (standardised here, in the test),
** save -> load -> identical predictions, the portable form scored by
** mb_portable_predict against the plugin, standardize=true folded into
** the weights, reproducibility from the seed, early stopping with the best
** weights restored, cancellation, and bad input refused with a message.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "io.h"
#include "metrics.h"
#include "plugin.h"
#include "fixture.h"
#include "portable.h"

/* The kernels themselves, for the gradient checks (their functions are
** hidden in the plugin, so there is no clash with the loaded .so). */
#include "mlp/mlp_net.c"
#include "mlp/mlp_simd.c"
#include "mlp/mlp_gemm.c"

/* {====== helpers ======} */

/* |got - want| <= tol, in double (cmocka's assert_float_equal is float). */
#define assert_close(got, want, tol) assert_close_((double)(got), (double)(want), (double)(tol), __LINE__)
static void assert_close_(double got, double want, double tol, int line)
{
    if (!(fabs(got - want) <= tol)) {
        fprintf(stderr, "# line %d: got %.9g, want %.9g (tolerance %.3g)\n", line, got, want, tol);
        fail();
    }
}

static mb_registry reg;
static const mb_model_type *mlp;
static const mb_loaded_plugin *owner;

static int setup(void **state)
{
    (void)state;
    if (mbt_load_plugin(&reg, "mlp") != 0)
        return -1;
    mb_error err;
    mlp = mb_registry_find(&reg, "mlp", &owner, &err);
    return mlp ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    mb_registry_close(&reg);
    return 0;
}

/* A model with settings ("key=value", NULL-terminated). */
static mb_model *make_model(const char *const *settings)
{
    return mbt_make_model(mlp, owner, settings);
}

static mb_fit_context ctx1(uint64_t seed)
{
    mb_fit_context c = {sizeof c, mb_host_services(), 1, seed, NULL, NULL, NULL};
    return c;
}

static void fit_ok(mb_model *m, const mb_dataset *tr, const mb_dataset *va, const mb_fit_context *c)
{
    mb_error err;
    mb_status st = mb_model_fit(m, tr, va, c, &err);
    if (st != MB_OK)
        fprintf(stderr, "# fit: %s\n", err.msg);
    assert_int_equal(st, MB_OK);
}

/* Standardise columns of a (n x f) and b (m x f) with a's mean and std. */
static void standardise(float *a, size_t n, float *b, size_t nb, size_t f)
{
    for (size_t j = 0; j < f; j++) {
        double s = 0, ss = 0;
        for (size_t i = 0; i < n; i++)
            s += (double)a[i * f + j];
        double mu = s / (double)n;
        for (size_t i = 0; i < n; i++)
            ss += ((double)a[i * f + j] - mu) * ((double)a[i * f + j] - mu);
        double sd = sqrt(ss / (double)n);
        if (sd == 0)
            sd = 1;
        for (size_t i = 0; i < n; i++)
            a[i * f + j] = (float)(((double)a[i * f + j] - mu) / sd);
        for (size_t i = 0; i < nb; i++)
            b[i * f + j] = (float)(((double)b[i * f + j] - mu) / sd);
    }
}

/* The bundled digits data, rows in a fixed random order (the file's own
** order groups writers: its last rows are harder; scikit-learn's
** MLPClassifier scores 91-93% on them, 98.7% on a random split), then
** 1400 training rows and 397 test rows. */
typedef struct digits {
    mb_frame *f;
    mb_data d;
    float *x, *y;
    mb_dataset train, test;
} digits;

static void digits_open(digits *g, int standardised)
{
    mb_error err;
    assert_int_equal(mb_open("datasets/digits.h5", &g->f, &err), MB_OK);
    assert_int_equal(mb_data_from_frame(g->f, 0, &g->d, &err), MB_OK);
    assert_int_equal(g->d.ds.task, MB_TASK_MULTICLASS);
    size_t n = g->d.ds.X.rows, f = g->d.ds.X.cols, ntr = 1400;
    g->x = mb_malloc(n * f * sizeof(float));
    g->y = mb_malloc(n * sizeof(float));
    size_t *perm = mb_malloc(n * sizeof *perm);
    mbmlp_rng r;
    mbmlp_rng_seed(&r, 2024);
    for (size_t i = 0; i < n; i++)
        perm[i] = i;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)(mbmlp_rng_next(&r) % (i + 1)), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    for (size_t i = 0; i < n; i++) {
        memcpy(g->x + i * f, g->d.ds.X.x + perm[i] * g->d.ds.X.ld, f * sizeof(float));
        g->y[i] = g->d.ds.y[perm[i]];
    }
    mb_free(perm);
    if (standardised)
        standardise(g->x, ntr, g->x + ntr * f, n - ntr, f);
    mb_dataset all = g->d.ds;
    all.X.x = g->x;
    all.X.ld = f;
    all.y = g->y;
    g->train = mb_dataset_rows(&all, 0, ntr);
    g->test = mb_dataset_rows(&all, ntr, n - ntr);
}

static void digits_close(digits *g)
{
    mb_free(g->x);
    mb_free(g->y);
    mb_data_free(&g->d);
    mb_frame_free(&g->f);
}

/* {====== gradients against finite differences ======} */

typedef struct gc {
    mbmlp_net net;
    size_t rows;
    float X[8 * 3], y[8], w[8];
    float *acts[8], *pre[8], *masks[8], *delta, *tmp, *grad;
    int dropout;
} gc;

/* The scaled loss at the current parameters (dropout masks drawn from a
** fixed seed, so every evaluation uses the same ones). With grad, also
** the analytic gradient. */
static double gc_loss(gc *g, int with_grad, double huber_delta)
{
    mbmlp_rng r;
    mbmlp_rng_seed(&r, 99);
    mbmlp_forward(&g->net, g->X, 3, g->rows, g->acts, g->pre, g->dropout ? g->masks : NULL,
                  g->dropout ? 0.6f : 1.0f, &r);
    double sw = 0;
    for (size_t i = 0; i < g->rows; i++)
        sw += (double)g->w[i];
    double L = mbmlp_loss(&g->net, g->acts[g->net.nlayers - 1], g->y, g->w, g->rows, 1 / sw,
                          with_grad ? g->delta : NULL, huber_delta, NULL) / sw;
    if (with_grad)
        mbmlp_backward(&g->net, g->X, 3, g->rows, g->acts, g->pre, g->dropout ? g->masks : NULL, g->delta,
                       g->tmp, g->grad);
    return L;
}

static void gradcheck(mb_activation act, mbmlp_out out, int dropout)
{
    const mb_host *h = mb_host_services();
    gc g;
    memset(&g, 0, sizeof g);
    size_t k = out == MBMLP_OUT_SOFTMAX ? 3 : 1;
    size_t width[4] = {3, 5, 4, k};
    g.net.act = act;
    g.net.alpha = 0.1f;
    g.net.out = out;
    g.rows = 7;
    g.dropout = dropout;
    assert_int_equal(mbmlp_net_alloc(&g.net, h, 3, width), 0);
    mbmlp_rng r;
    mbmlp_rng_seed(&r, 1234 + (uint64_t)act * 10 + (uint64_t)out);
    mbmlp_net_init(&g.net, MBMLP_INIT_GLOROT, &r);
    for (size_t l = 0; l < 3; l++)
        for (size_t o = 0; o < width[l + 1]; o++)
            g.net.params[g.net.boff[l] + o] = (float)(0.3 * mbmlp_rng_normal(&r));
    for (size_t i = 0; i < g.rows; i++) {
        for (size_t j = 0; j < 3; j++)
            g.X[i * 3 + j] = (float)mbmlp_rng_normal(&r);
        g.y[i] = out == MBMLP_OUT_SOFTMAX   ? (float)(i % 3)
                 : out == MBMLP_OUT_SIGMOID ? (float)(i % 2)
                                            : (float)(1.5 * mbmlp_rng_normal(&r));
        g.w[i] = (float)(0.5 + mbmlp_rng_uniform(&r));
    }
    for (size_t l = 0; l < 3; l++) {
        g.acts[l] = calloc(g.rows * width[l + 1], sizeof(float));
        g.pre[l] = calloc(g.rows * width[l + 1], sizeof(float));
        g.masks[l] = calloc(g.rows * width[l + 1], sizeof(float));
    }
    g.delta = calloc(g.rows * 5, sizeof(float));
    g.tmp = calloc(g.rows * 5, sizeof(float));
    g.grad = calloc(g.net.nparams, sizeof(float));
    double hd = 0.5;
    gc_loss(&g, 1, hd);
    double maxerr = 0;
    size_t skipped = 0;
    for (size_t l = 0; l < 3; l++) {
        size_t fi = width[l], fo = width[l + 1];
        for (size_t q = 0; q < fi * fo + fo; q++) {
            size_t idx = q < fi * fo ? g.net.woff[l] + q : g.net.boff[l] + (q - fi * fo);
            float keep = g.net.params[idx];
            float eps = 1e-3f;
            g.net.params[idx] = keep + eps;
            double lp = gc_loss(&g, 0, hd);
            g.net.params[idx] = keep - eps;
            double lm = gc_loss(&g, 0, hd);
            g.net.params[idx] = keep;
            double fd = (lp - lm) / (2 * (double)eps), an = (double)g.grad[idx];
            /* a relu kink within eps makes the difference quotient meaningless:
            ** then the half step disagrees; skip such a parameter */
            g.net.params[idx] = keep + eps / 2;
            double lp2 = gc_loss(&g, 0, hd);
            g.net.params[idx] = keep - eps / 2;
            double lm2 = gc_loss(&g, 0, hd);
            g.net.params[idx] = keep;
            double fd2 = (lp2 - lm2) / (double)eps;
            if (fabs(fd2 - fd) > 0.01 * (1e-3 + fabs(fd)) && (act == MB_ACT_RELU || act == MB_ACT_LEAKY_RELU)) {
                skipped++;
                continue;
            }
            double e = fabs(fd - an) / (5e-3 + fabs(fd)); /* float rounding: ~1e-5 absolute */
            if (e > maxerr)
                maxerr = e;
            if (e > 0.02)
                fprintf(stderr, "# act %d out %d dropout %d layer %zu param %zu: analytic %.6g, fd %.6g\n",
                        (int)act, (int)out, dropout, l, q, an, fd);
        }
    }
    for (size_t l = 0; l < 3; l++) {
        free(g.acts[l]);
        free(g.pre[l]);
        free(g.masks[l]);
    }
    free(g.delta);
    free(g.tmp);
    free(g.grad);
    assert_true(skipped < g.net.nparams / 4);
    mbmlp_net_free(&g.net, h);
    assert_true(maxerr <= 0.02);
}

/* {====== the SIMD kernels equal the portable ones ======} */

static void fill(float *x, size_t n, unsigned *seed)
{
    for (size_t i = 0; i < n; i++) {
        *seed = *seed * 1103515245u + 12345u;
        x[i] = (float)((int)(*seed >> 8 & 0xFFFF) - 32768) / 4096.0f;
    }
}

/* Every width 1..40 (full vectors and every tail), relu and leaky relu:
** each vector body the CPU can run gives the portable body's bits. */
static void simd_equals_portable(void)
{
    enum { R = 3, W = 40 };
    unsigned seed = 7;
    mbmlp_adam_k k = {0.9f, 0.1f, 0.999f, 0.001f, 0.01f, 1.3f, 1e-8f, 0.001f, 0.9999f};
    for (size_t w = 1; w <= W; w++)
        for (int kind = 0; kind < 3; kind++) {
            float a0[R * W], b[W], a1[R * W], d0[R * W], d1[R * W], g0[W], g1[W];
            float m0[R * W], m1[R * W], v0[R * W], v1[R * W], mu[W], isd[W], o0[W], o1[W];
            fill(a0, R * w, &seed);
            fill(b, w, &seed);
            fill(d0, R * w, &seed);
            fill(m0, R * w, &seed);
            fill(v0, R * w, &seed);
            fill(mu, w, &seed);
            fill(isd, w, &seed);
            for (size_t i = 0; i < R * w; i++)
                v0[i] = fabsf(v0[i]);
            memcpy(a1, a0, sizeof a0);
            memcpy(d1, d0, sizeof d0);
            memcpy(m1, m0, sizeof m0);
            memcpy(v1, v0, sizeof v0);
            {   /* without a bias (the forward pass's prefilled layers) */
                float c0[R * W], c1[R * W];
                memcpy(c0, a0, sizeof c0);
                memcpy(c1, a0, sizeof c1);
                bias_act_c(c0, NULL, R, w, kind, 0.01f);
                mbmlp_k_bias_act(c1, NULL, R, w, kind, 0.01f);
                assert_memory_equal(c0, c1, R * w * sizeof *c0);
                for (size_t i = 0; i < R * w; i++) /* and no add happened */
                    assert_true(kind == 0 ? c0[i] == a0[i] : c0[i] == (a0[i] > 0 ? a0[i] : kind == 1 ? 0.0f : 0.01f * a0[i]));
            }
            bias_act_c(a0, b, R, w, kind, 0.01f);
            mbmlp_k_bias_act(a1, b, R, w, kind, 0.01f);
            assert_memory_equal(a0, a1, R * w * sizeof *a0);
            relu_back_c(d0, a0, R, w, kind == 2, 0.01f, g0);
            mbmlp_k_relu_back(d1, a1, R, w, kind == 2, 0.01f, g1);
            assert_memory_equal(d0, d1, R * w * sizeof *d0);
            assert_memory_equal(g0, g1, w * sizeof *g0);
            float p0[R * W], p1[R * W];
            memcpy(p0, a0, sizeof p0);
            memcpy(p1, a0, sizeof p1);
            adam_c(p0, d0, NULL, m0, v0, R * w, &k);
            mbmlp_k_adam(p1, d1, NULL, m1, v1, R * w, &k);
            assert_memory_equal(p0, p1, R * w * sizeof *p0);
            assert_memory_equal(m0, m1, R * w * sizeof *m0);
            {   /* a second gradient summed on the way: the bits of adding it first */
                float q0[R * W], q1[R * W], qm0[R * W], qm1[R * W], qv0[R * W], qv1[R * W], gs[R * W];
                memcpy(q0, p0, sizeof q0);
                memcpy(q1, p0, sizeof q1);
                memcpy(qm0, m0, sizeof qm0);
                memcpy(qm1, m0, sizeof qm1);
                memcpy(qv0, v0, sizeof qv0);
                memcpy(qv1, v0, sizeof qv1);
                for (size_t i = 0; i < R * w; i++)
                    gs[i] = d0[i] + a0[i];
                adam_c(q0, gs, NULL, qm0, qv0, R * w, &k);
                mbmlp_k_adam(q1, d0, a0, qm1, qv1, R * w, &k);
                assert_memory_equal(q0, q1, R * w * sizeof *q0);
                assert_memory_equal(qm0, qm1, R * w * sizeof *qm0);
                assert_memory_equal(qv0, qv1, R * w * sizeof *qv0);
                adam_c(q1, d0, a0, qm1, qv1, R * w, &k); /* and the portable body */
                adam_c(q0, gs, NULL, qm0, qv0, R * w, &k);
                assert_memory_equal(q0, q1, R * w * sizeof *q0);
            }
            axpy_c(p0, d0, 0.37f, R * w);
            mbmlp_k_axpy(p1, d1, 0.37f, R * w);
            assert_memory_equal(p0, p1, R * w * sizeof *p0);
            standardize_c(o0, p0, mu, isd, w);
            mbmlp_k_standardize(o1, p1, mu, isd, w);
            assert_memory_equal(o0, o1, w * sizeof *o0);
        }
}

/* Run f at every vector level the CPU has (mlp_simd.c's simd_level forced
** down), so an AVX-512 machine checks the AVX2 bodies too. */
static void at_each_level(void (*f)(void))
{
    int lv = level();
    for (int l = lv; l >= 0; l--) {
#if MBMLP_X86
        simd_level = l;
#endif
        f();
    }
#if MBMLP_X86
    simd_level = lv;
#endif
    print_message("# vector levels %d..0 (2 AVX-512, 1 AVX2, 0 portable only)\n", lv);
}

static void test_simd_equals_portable(void **state)
{
    (void)state;
    at_each_level(simd_equals_portable);
}

/* fit's first passes: the finiteness check finds a NaN or infinity at
** every position of every width 1..40, and the column sums and squared
** deviations in double are the portable body's bits. */
static void simd_stats(void)
{
    enum { W = 40 };
    unsigned seed = 3;
    for (size_t w = 1; w <= W; w++) {
        float x[W];
        double s0[W], s1[W], q0[W], q1[W], mu[W];
        fill(x, w, &seed);
        for (size_t j = 0; j < w; j++) {
            s0[j] = s1[j] = 0.25 * (double)j;
            q0[j] = q1[j] = 0.5;
            mu[j] = (double)x[j] * 0.75 + 1e-3;
        }
        assert_true(mbmlp_k_finite(x, w) && finite_c(x, w));
        for (size_t r = 0; r < 3; r++) {
            sum_c(s0, x, w);
            mbmlp_k_sum(s1, x, w);
            sqdev_c(q0, x, mu, w);
            mbmlp_k_sqdev(q1, x, mu, w);
        }
        assert_memory_equal(s0, s1, w * sizeof *s0);
        assert_memory_equal(q0, q1, w * sizeof *q0);
        const float bad[3] = {NAN, INFINITY, -INFINITY};
        for (size_t j = 0; j < w; j++)
            for (int b = 0; b < 3; b++) {
                float keep = x[j];
                x[j] = bad[b];
                assert_false(mbmlp_k_finite(x, w));
                assert_false(finite_c(x, w));
                x[j] = keep;
            }
        assert_true(mbmlp_k_finite(x, w));
    }
    float big[2] = {3.4e38f, -1e-45f}; /* the largest and a denormal are finite */
    assert_true(mbmlp_k_finite(big, 2) && finite_c(big, 2));
}

static void test_simd_stats(void **state)
{
    (void)state;
    at_each_level(simd_stats);
}

static void test_gradients(void **state)
{
    (void)state;
    const mb_activation acts[] = {MB_ACT_RELU, MB_ACT_LEAKY_RELU, MB_ACT_TANH, MB_ACT_SIGMOID, MB_ACT_GELU};
    const mbmlp_out outs[] = {MBMLP_OUT_SOFTMAX, MBMLP_OUT_SIGMOID, MBMLP_OUT_SQUARED, MBMLP_OUT_HUBER};
    for (size_t a = 0; a < 5; a++)
        for (size_t o = 0; o < 4; o++)
            for (int d = 0; d < 2; d++)
                gradcheck(acts[a], outs[o], d);
}

/* The one-row kernel and the batched forward agree. */
static void test_row_kernel(void **state)
{
    (void)state;
    const mb_host *h = mb_host_services();
    const mb_activation acts[] = {MB_ACT_RELU, MB_ACT_LEAKY_RELU, MB_ACT_TANH, MB_ACT_SIGMOID, MB_ACT_GELU};
    for (size_t a = 0; a < 5; a++) {
        mbmlp_net n;
        memset(&n, 0, sizeof n);
        size_t width[4] = {7, 33, 17, 4};
        n.act = acts[a];
        n.alpha = 0.05f;
        assert_int_equal(mbmlp_net_alloc(&n, h, 3, width), 0);
        mbmlp_rng r;
        mbmlp_rng_seed(&r, 5);
        mbmlp_net_init(&n, MBMLP_INIT_AUTO, &r);
        float x[5 * 7], b0[5 * 33], b1[5 * 17], b2[5 * 4], *ac[3] = {b0, b1, b2}, hh[66], o[4];
        for (size_t i = 0; i < 35; i++)
            x[i] = i % 4 == 0 ? 0.0f : (float)mbmlp_rng_normal(&r);
        mbmlp_forward(&n, x, 7, 5, ac, NULL, NULL, 1.0f, NULL);
        float *wt = malloc(n.nparams * sizeof(float));
        mbmlp_transpose(&n, wt);
        for (size_t i = 0; i < 5; i++) {
            mbmlp_forward_row(&n, wt, x + i * 7, hh, o);
            for (size_t c = 0; c < 4; c++)
                assert_close(o[c], b2[i * 4 + c], 1e-4 * (1 + fabs((double)o[c])));
        }
        free(wt);
        mbmlp_net_free(&n, h);
    }
}

/* The forward pass starts identity and relu layers from the biases (sgemm
** with beta 1) when the layer's input is at most MBMLP_PREFILL_K wide: the
** activations must be the bits of the plain order, sgemm into zeros and
** then the portable bias + activation, on the running OpenBLAS kernel.
** Inputs 64, 256, 128 take the prefill; 512 (wider than Zen's K block)
** keeps beta 0 (7 -> 512 takes the prefill). Biases are made non-zero. */
static void test_forward_prefill_bits(void **state)
{
    (void)state;
    const mb_host *h = mb_host_services();
    const size_t shapes[2][4] = {{64, 256, 128, 10}, {7, 512, 512, 10}};
    const mb_activation kinds[3] = {MB_ACT_RELU, MB_ACT_LEAKY_RELU, MB_ACT_IDENTITY};
    enum { ROWS = 37 };
    for (int s = 0; s < 2; s++)
        for (int a = 0; a < 3; a++) {
            mbmlp_net n;
            memset(&n, 0, sizeof n);
            n.act = kinds[a];
            n.alpha = 0.05f;
            assert_int_equal(mbmlp_net_alloc(&n, h, 3, shapes[s]), 0);
            mbmlp_rng r;
            mbmlp_rng_seed(&r, 11);
            mbmlp_net_init(&n, MBMLP_INIT_HE, &r);
            for (size_t l = 0; l < 3; l++)
                for (size_t o = 0; o < n.width[l + 1]; o++)
                    n.params[n.boff[l] + o] = (float)mbmlp_rng_normal(&r);
            size_t f = shapes[s][0];
            float *x = malloc(ROWS * f * sizeof *x), *ac[3], *ref[3];
            for (size_t i = 0; i < ROWS * f; i++)
                x[i] = (float)mbmlp_rng_normal(&r);
            for (size_t l = 0; l < 3; l++) {
                ac[l] = malloc(ROWS * n.width[l + 1] * sizeof(float));
                ref[l] = malloc(ROWS * n.width[l + 1] * sizeof(float));
            }
            mbmlp_forward(&n, x, f, ROWS, ac, NULL, NULL, 1.0f, NULL);
            const float *in = x;
            for (size_t l = 0; l < 3; l++) {
                size_t fi = n.width[l], fo = n.width[l + 1];
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, ROWS, (int)fo, (int)fi, 1.0f, in, (int)fi,
                            n.params + n.woff[l], (int)fi, 0.0f, ref[l], (int)fo);
                int kind = l == 2 || kinds[a] == MB_ACT_IDENTITY ? 0 : kinds[a] == MB_ACT_RELU ? 1 : 2;
                bias_act_c(ref[l], n.params + n.boff[l], ROWS, fo, kind, n.alpha);
                assert_memory_equal(ac[l], ref[l], ROWS * fo * sizeof(float));
                in = ref[l];
            }
            for (size_t l = 0; l < 3; l++) {
                free(ac[l]);
                free(ref[l]);
            }
            free(x);
            mbmlp_net_free(&n, h);
        }
}

/* mlp_gemm.c's AVX-512 body gives the portable body's bits (each element
** one fmaf chain over k from 0, then the store's operations): every row
** count of a block and its tails, widths with and without a tail vector,
** A read by rows and by columns (the weight gradient's D^T), padded
** leading dimensions, each store (plain, bias + identity / relu / leaky,
** relu backward with its column sums); inputs with zeros and both signs.
** And the band transposition against the plain loop. */
static void test_gemm_bits(void **state)
{
    (void)state;
    /* the CPU, not mbmlp_gemm_on: MOONBENCH_MLP_GEMM=0 must not skip the comparison */
    if (!avx512()) {
        print_message("no AVX-512: only the portable body runs\n");
        return;
    }
    const size_t ms[] = {1, 5, 6, 7, 8, 13, 128}, ns[] = {1, 10, 16, 17, 64, 65, 130}, ks[] = {1, 3, 64, 256};
    unsigned seed = 5;
    for (size_t a = 0; a < sizeof ms / sizeof *ms; a++)
        for (size_t b = 0; b < sizeof ns / sizeof *ns; b++)
            for (size_t c = 0; c < sizeof ks / sizeof *ks; c++) {
                size_t m = ms[a], n = ns[b], K = ks[c], ldb = n + 3, ldc = n + 1;
                float *A = malloc(m * K * sizeof *A), *B = malloc(K * ldb * sizeof *B);
                float *bias = malloc(n * sizeof *bias), *act = malloc(m * ldc * sizeof *act);
                float *C0 = calloc(m * ldc, sizeof *C0), *C1 = calloc(m * ldc, sizeof *C1);
                float *g0 = malloc(n * sizeof *g0), *g1 = malloc(n * sizeof *g1);
                fill(A, m * K, &seed);
                fill(B, K * ldb, &seed);
                fill(bias, n, &seed);
                fill(act, m * ldc, &seed);
                for (size_t i = 0; i < m * K; i += 7)
                    A[i] = 0;
                for (int lay = 0; lay < 2; lay++) {
                    size_t sa = lay ? 1 : K, sk = lay ? m : 1;
                    for (int kind = 0; kind < 6; kind++) {
                        gemm_ep e = {kind == 0 ? EP_STORE : kind <= 3 ? EP_BIAS_ACT : EP_RELU_BACK, bias,
                                     kind <= 3 ? kind - 1 : kind - 3, 0.03f, act, g0};
                        if (kind == 0)
                            e.act = 0;
                        gemm_c(m, n, K, A, sa, sk, B, ldb, C0, ldc, &e);
                        e.gb = g1;
                        gemm_avx512(m, n, K, A, sa, sk, B, ldb, C1, ldc, &e);
                        for (size_t i = 0; i < m; i++)
                            assert_memory_equal(C0 + i * ldc, C1 + i * ldc, n * sizeof *C0);
                        if (e.kind == EP_RELU_BACK)
                            assert_memory_equal(g0, g1, n * sizeof *g0);
                    }
                }
                free(A), free(B), free(bias), free(act), free(C0), free(C1), free(g0), free(g1);
            }
    const size_t sh[][2] = {{64, 256}, {256, 128}, {128, 10}, {7, 5}, {17, 33}, {1, 1}, {3, 40}};
    for (size_t s = 0; s < sizeof sh / sizeof *sh; s++) {
        size_t fi = sh[s][0], fo = sh[s][1];
        float *W = malloc(fi * fo * sizeof *W), *T0 = calloc(fi * fo, sizeof *W), *T1 = calloc(fi * fo, sizeof *W);
        fill(W, fi * fo, &seed);
        for (size_t o0 = 0; o0 < fo; o0 += 16) {
            size_t o1 = o0 + 16 * (1 + o0 % 3) < fo ? o0 + 16 * (1 + o0 % 3) : fo;
            transpose_avx512(W, fi, fo, o0, o1, T1);
        }
        for (size_t o = 0; o < fo; o++)
            for (size_t j = 0; j < fi; j++)
                T0[j * fo + o] = W[o * fi + j];
        assert_memory_equal(T0, T1, fi * fo * sizeof *W);
        free(W), free(T0), free(T1);
    }
}

/* The training step's products through mlp_gemm.c (forward with the
** transposed weights, bias and relu fused; the weight gradients; the input
** gradients with relu backward fused) give the bits of the cblas_sgemm
** path on the running OpenBLAS kernel, at the bench's network (64-256-128-10)
** and chunk (128 rows) and at 256 rows (a one-thread batch): OpenBLAS sums
** K <= 256 in one chain there (mlp_gemm.c's design note; mlp.sh's fits
** are then the same bits either way). */
static void test_train_products_bits(void **state)
{
    (void)state;
    if (!avx512()) { /* gemm_state is set below, so MOONBENCH_MLP_GEMM=0 runs this too */
        print_message("no AVX-512: the products are cblas_sgemm's alone\n");
        return;
    }
    const mb_host *h = mb_host_services();
    const size_t width[4] = {64, 256, 128, 10}, rowss[2] = {128, 256};
    for (int s = 0; s < 2; s++) {
        size_t rows = rowss[s];
        mbmlp_net n;
        memset(&n, 0, sizeof n);
        n.act = MB_ACT_RELU;
        n.out = MBMLP_OUT_SOFTMAX;
        assert_int_equal(mbmlp_net_alloc(&n, h, 3, width), 0);
        mbmlp_rng r;
        mbmlp_rng_seed(&r, 3);
        mbmlp_net_init(&n, MBMLP_INIT_AUTO, &r);
        for (size_t l = 0; l < 3; l++)
            for (size_t o = 0; o < width[l + 1]; o++)
                n.params[n.boff[l] + o] = 0.1f * (float)mbmlp_rng_normal(&r);
        float *wt = malloc(n.nparams * sizeof *wt), *x = malloc(rows * 64 * sizeof *x), *y = malloc(rows * sizeof *y);
        mbmlp_transpose(&n, wt);
        for (size_t i = 0; i < rows * 64; i++)
            x[i] = (float)mbmlp_rng_normal(&r);
        for (size_t i = 0; i < rows; i++)
            y[i] = (float)(i % 10);
        float *ac[2][3], *delta[2], *tmp[2], *grad[2];
        for (int v = 0; v < 2; v++) {
            for (size_t l = 0; l < 3; l++)
                ac[v][l] = malloc(rows * width[l + 1] * sizeof(float));
            delta[v] = malloc(rows * 256 * sizeof(float));
            tmp[v] = malloc(rows * 256 * sizeof(float));
            grad[v] = calloc(n.nparams, sizeof(float));
            gemm_state = v == 0 ? 0 : 1; /* 0: every product through cblas_sgemm */
            mbmlp_forward_t(&n, v ? wt : NULL, x, 64, rows, ac[v], NULL, NULL, 1.0f, NULL);
            mbmlp_loss(&n, ac[v][2], y, NULL, rows, 1.0 / (double)rows, delta[v], 1.0, NULL);
            mbmlp_backward(&n, x, 64, rows, ac[v], NULL, NULL, delta[v], tmp[v], grad[v]);
        }
        gemm_state = -1;
        for (size_t l = 0; l < 3; l++)
            assert_memory_equal(ac[0][l], ac[1][l], rows * width[l + 1] * sizeof(float));
        assert_memory_equal(grad[0], grad[1], n.nparams * sizeof(float));
        for (int v = 0; v < 2; v++) {
            for (size_t l = 0; l < 3; l++)
                free(ac[v][l]);
            free(delta[v]), free(tmp[v]), free(grad[v]);
        }
        free(wt), free(x), free(y);
        mbmlp_net_free(&n, h);
    }
}

/* {====== learning ======} */

static void test_xor(void **state)
{
    (void)state;
    const float X[] = {0, 0, 0, 1, 1, 0, 1, 1}, y[] = {0, 1, 1, 0};
    const char *const acts[] = {"activation=tanh", "activation=relu", "activation=gelu"};
    for (size_t a = 0; a < 3; a++) {
        const char *s[] = {"hidden_layers=8", acts[a], "learning_rate=0.05", "batch_size=4", "epochs=400",
                           "early_stopping_rounds=0", NULL};
        mb_model *m = make_model(s);
        mb_dataset d = {{X, 4, 2, 2}, y, NULL, MB_TASK_BINARY, 2, NULL};
        mb_fit_context c = ctx1(3);
        fit_ok(m, &d, NULL, &c);
        float pred[4], proba[8];
        mb_error err;
        assert_int_equal(mb_model_predict(m, &d.X, pred, &err), MB_OK);
        assert_int_equal(mb_model_predict_proba(m, &d.X, proba, &err), MB_OK);
        for (int i = 0; i < 4; i++) {
            assert_close(pred[i], y[i], 0);
            assert_close(proba[2 * i] + proba[2 * i + 1], 1, 1e-6);
            assert_true(fabsf(proba[2 * i + 1] - y[i]) < 0.2f);
        }
        mb_model_free(&m);
    }
}

/* y = sin(2 x0) + x1^2 - x0 x2 on [-1, 1]^3, fitted and scored on fresh points. */
static void make_smooth(float *X, float *y, size_t n, uint64_t seed)
{
    mbmlp_rng r;
    mbmlp_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) {
        float *x = X + 3 * i;
        for (int j = 0; j < 3; j++)
            x[j] = (float)(2 * mbmlp_rng_uniform(&r) - 1);
        y[i] = (float)(sin(2.0 * (double)x[0]) + (double)(x[1] * x[1]) - (double)(x[0] * x[2])) * 10 + 50;
    }
}

static void test_smooth_regression(void **state)
{
    (void)state;
    enum { N = 2000, NT = 500 };
    static float X[N * 3], y[N], Xt[NT * 3], yt[NT], p[NT];
    make_smooth(X, y, N, 1);
    make_smooth(Xt, yt, NT, 2);
    const char *const losses[] = {"loss=squared", "loss=huber"};
    for (int l = 0; l < 2; l++) {
        const char *s[] = {"hidden_layers=32,32", "activation=tanh", "learning_rate=0.01", "batch_size=32",
                           "epochs=60", losses[l], NULL};
        mb_model *m = make_model(s);
        mb_dataset d = {{X, N, 3, 3}, y, NULL, MB_TASK_REGRESSION, 0, NULL};
        mb_fit_context c = ctx1(7);
        fit_ok(m, &d, NULL, &c);
        mb_matrix T = {Xt, NT, 3, 3};
        mb_error err;
        assert_int_equal(mb_model_predict(m, &T, p, &err), MB_OK);
        double r2 = mb_r2(yt, p, NT);
        if (r2 < 0.98)
            fprintf(stderr, "# %s: R^2 %.4f\n", losses[l], r2);
        assert_true(r2 > 0.98);
        mb_model_free(&m);
    }
}

/* The digits: > 95% test accuracy, with each optimiser and schedule. */
static void test_digits(void **state)
{
    (void)state;
    digits g;
    digits_open(&g, 1);
    const char *const variants[][4] = {
        {"optimizer=adam", "schedule=constant", "dropout=0", "learning_rate=0.002"},
        {"optimizer=adamw", "schedule=cosine", "weight_decay=0.01", "learning_rate=0.002"},
        {"optimizer=sgd", "schedule=step", "lr_step=20", "learning_rate=0.05"},
        {"optimizer=sgd", "nesterov=false", "schedule=plateau", "learning_rate=0.05"},
        {"optimizer=adam", "dropout=0.2", "activation=gelu", "learning_rate=0.002"},
    };
    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
        /* the last variant trains on two threads (batch 64: two halves of 32 rows) */
        int two = v + 1 == sizeof variants / sizeof variants[0];
        const char *s[] = {"hidden_layers=64", two ? "batch_size=64" : "batch_size=32", "epochs=40",
                           variants[v][0], variants[v][1], variants[v][2], variants[v][3], NULL};
        mb_model *m = make_model(s);
        mb_fit_context c = ctx1(11);
        c.threads = two ? 2 : 1;
        fit_ok(m, &g.train, NULL, &c);
        float *pred = mb_malloc(g.test.X.rows * sizeof(float));
        mb_error err;
        assert_int_equal(mb_model_predict(m, &g.test.X, pred, &err), MB_OK);
        double acc = mb_accuracy(g.test.y, pred, g.test.X.rows);
        fprintf(stderr, "# digits %s %s %s: test accuracy %.4f\n", variants[v][0], variants[v][1], variants[v][2],
                acc);
        assert_true(acc > 0.95);
        mb_free(pred);
        mb_model_free(&m);
    }
    digits_close(&g);
}

/* {====== save / load, portable form ======} */

/* Fit, then check save -> load and the portable form against predictions. */
static void check_roundtrip(mb_model *m, const mb_matrix *X, size_t k)
{
    mb_error err;
    char msg[MB_PLUGIN_ERRLEN];
    size_t n = X->rows, w = m->task == MB_TASK_REGRESSION ? 1 : (m->task == MB_TASK_BINARY ? 2 : k);
    float *p1 = mb_malloc(n * w * sizeof(float)), *p2 = mb_malloc(n * w * sizeof(float));
    float *c1 = mb_malloc(n * sizeof(float)), *c2 = mb_malloc(n * sizeof(float));
    double *pp = mb_malloc(n * k * sizeof(double));
    if (m->task == MB_TASK_REGRESSION)
        assert_int_equal(mb_model_predict(m, X, p1, &err), MB_OK);
    else
        assert_int_equal(mb_model_predict_proba(m, X, p1, &err), MB_OK);
    assert_int_equal(mb_model_predict(m, X, c1, &err), MB_OK);

    /* save -> load into a fresh model with the same parameters */
    mb_state st = {0};
    mb_state_writer wr = mb_state_writer_for(&st);
    assert_int_equal(m->type->save(m->impl, &wr, msg), MB_PLUGIN_OK);
    mb_params p;
    const char *const *none = NULL;
    assert_int_equal(mb_params_parse(&p, mlp, none, 0, &err), MB_OK);
    mb_model *m2;
    assert_int_equal(mb_model_create(&m2, mlp, owner, &p, &err), MB_OK);
    mb_state_reader rd = mb_state_reader_for(&st);
    assert_int_equal(m2->type->load(m2->impl, &rd, msg), MB_PLUGIN_OK);
    m2->task = m->task;
    m2->nfeatures = m->nfeatures;
    m2->nclasses = m->nclasses;
    if (m->task == MB_TASK_REGRESSION)
        assert_int_equal(mb_model_predict(m2, X, p2, &err), MB_OK);
    else
        assert_int_equal(mb_model_predict_proba(m2, X, p2, &err), MB_OK);
    assert_int_equal(mb_model_predict(m2, X, c2, &err), MB_OK);
    assert_memory_equal(p1, p2, n * w * sizeof(float));
    assert_memory_equal(c1, c2, n * sizeof(float));
    /* one row at a time (the one-row kernel) agrees with the batch */
    for (size_t i = 0; i < n; i += 7) {
        mb_matrix row = {X->x + i * X->ld, 1, X->cols, X->ld};
        float o[16];
        if (m->task == MB_TASK_REGRESSION)
            assert_int_equal(mb_model_predict(m2, &row, o, &err), MB_OK);
        else
            assert_int_equal(mb_model_predict_proba(m2, &row, o, &err), MB_OK);
        for (size_t c = 0; c < w; c++)
            assert_close(o[c], p1[i * w + c], 1e-4 * (1 + fabs((double)p1[i * w + c])));
    }
    /* a corrupted state is refused with a message */
    for (size_t a = 0; a < st.n; a++)
        if (!strcmp(st.arrays[a].name, "bias_0"))
            st.arrays[a].count--;
    msg[0] = 0;
    assert_int_equal(m2->type->load(m2->impl, &rd, msg), MB_PLUGIN_EFORMAT);
    assert_true(strlen(msg) > 0);

    /* the portable form, scored by the host */
    mb_portable form;
    assert_int_equal(m->type->portable(m->impl, &form, msg), MB_PLUGIN_OK);
    assert_int_equal(mb_portable_check(&form, &err), MB_OK);
    assert_int_equal(mb_portable_noutputs(&form), k);
    assert_int_equal(mb_portable_predict(&form, X, pp, &err), MB_OK);
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < k; c++) {
            double want = m->task == MB_TASK_BINARY ? (double)p1[2 * i + 1]
                                                    : (double)p1[i * w + c];
            assert_close(pp[i * k + c], want, 1e-4 * (1 + fabs(want)));
        }
    mb_free(p1);
    mb_free(p2);
    mb_free(c1);
    mb_free(c2);
    mb_free(pp);
    mb_state_clear(&st);
    mb_model_free(&m2);
}

static void test_save_load_portable(void **state)
{
    (void)state;
    /* multiclass on raw digits with standardize=true (folded into layer 0) */
    digits g;
    digits_open(&g, 0);
    const char *s[] = {"hidden_layers=32,16", "epochs=15", "batch_size=32", "standardize=true",
                       "activation=leaky_relu", NULL};
    mb_model *m = make_model(s);
    mb_fit_context c = ctx1(1);
    fit_ok(m, &g.train, NULL, &c);
    float *pred = mb_malloc(g.test.X.rows * sizeof(float));
    mb_error err;
    assert_int_equal(mb_model_predict(m, &g.test.X, pred, &err), MB_OK);
    double acc = mb_accuracy(g.test.y, pred, g.test.X.rows);
    fprintf(stderr, "# digits raw, standardize=true: test accuracy %.4f\n", acc);
    assert_true(acc > 0.93);
    mb_free(pred);
    check_roundtrip(m, &g.test.X, 10);
    mb_model_free(&m);
    digits_close(&g);

    /* binary (sigmoid output, logistic link) and regression (identity) */
    enum { N = 300 };
    static float X[N * 3], y[N], yb[N];
    make_smooth(X, y, N, 4);
    for (size_t i = 0; i < N; i++)
        yb[i] = y[i] > 50 ? 1.0f : 0.0f;
    const char *s2[] = {"hidden_layers=16,8", "epochs=20", "activation=sigmoid", "standardize=true", NULL};
    mb_dataset db = {{X, N, 3, 3}, yb, NULL, MB_TASK_BINARY, 2, NULL};
    m = make_model(s2);
    fit_ok(m, &db, NULL, &c);
    check_roundtrip(m, &db.X, 1);
    mb_model_free(&m);
    const char *s3[] = {"hidden_layers=16", "epochs=20", "activation=gelu", "loss=huber", NULL};
    mb_dataset dr = {{X, N, 3, 3}, y, NULL, MB_TASK_REGRESSION, 0, NULL};
    m = make_model(s3);
    fit_ok(m, &dr, NULL, &c);
    check_roundtrip(m, &dr.X, 1);
    mb_model_free(&m);
}

/* {====== seed, early stopping, cancel, errors ======} */

static void test_reproducible(void **state)
{
    (void)state;
    enum { N = 400 };
    static float X[N * 3], y[N], p1[N], p2[N], p3[N];
    make_smooth(X, y, N, 9);
    mb_dataset d = {{X, N, 3, 3}, y, NULL, MB_TASK_REGRESSION, 0, NULL};
    const char *s[] = {"hidden_layers=16,16", "epochs=5", NULL};
    mb_error err;
    float *out[3] = {p1, p2, p3};
    uint64_t seeds[3] = {42, 42, 43};
    for (int r = 0; r < 3; r++) {
        mb_model *m = make_model(s);
        mb_fit_context c = ctx1(seeds[r]);
        fit_ok(m, &d, NULL, &c);
        assert_int_equal(mb_model_predict(m, &d.X, out[r], &err), MB_OK);
        mb_model_free(&m);
    }
    assert_memory_equal(p1, p2, sizeof p1);
    assert_memory_not_equal(p1, p3, sizeof p1);
    /* two threads (the batch of 256 rows split in two): reproducible too,
    ** and close to one thread (only the gradient sums' order differs) */
    for (int r = 0; r < 2; r++) {
        mb_model *m = make_model(s);
        mb_fit_context c = ctx1(42);
        c.threads = 2;
        fit_ok(m, &d, NULL, &c);
        assert_int_equal(mb_model_predict(m, &d.X, out[r + 1], &err), MB_OK);
        mb_model_free(&m);
    }
    assert_memory_equal(p2, p3, sizeof p2);
    for (size_t i = 0; i < N; i++)
        assert_close(p2[i], p1[i], 1e-2 * (1 + fabs((double)p1[i])));
}

typedef struct curve {
    double valid[256];
    int n;
    double last_fraction;
    volatile int *cancel_at;
    int cancel_after;
} curve;

static void on_progress(void *ud, double fraction, const char *msg, double tl, double vl)
{
    curve *c = ud;
    assert_non_null(msg);
    assert_true(strlen(msg) > 0);
    assert_true(isfinite(tl));
    assert_true(fraction >= c->last_fraction && fraction <= 1);
    c->last_fraction = fraction;
    if (c->n < 256)
        c->valid[c->n] = vl;
    c->n++;
    if (c->cancel_at && c->n >= c->cancel_after)
        *c->cancel_at = 1;
}

static void test_early_stopping(void **state)
{
    (void)state;
    /* a big network on few noisy rows overfits: validation loss turns up */
    enum { N = 120, NV = 200 };
    static float X[N * 3], y[N], Xv[NV * 3], yv[NV], pv[NV * 2];
    make_smooth(X, y, N, 21);
    make_smooth(Xv, yv, NV, 22);
    mbmlp_rng r;
    mbmlp_rng_seed(&r, 5);
    for (size_t i = 0; i < N; i++)
        y[i] = (y[i] > 50) != (mbmlp_rng_uniform(&r) < 0.3) ? 1.0f : 0.0f; /* 30% flipped labels */
    for (size_t i = 0; i < NV; i++)
        yv[i] = yv[i] > 50 ? 1.0f : 0.0f;
    mb_dataset d = {{X, N, 3, 3}, y, NULL, MB_TASK_BINARY, 2, NULL};
    mb_dataset v = {{Xv, NV, 3, 3}, yv, NULL, MB_TASK_BINARY, 2, NULL};
    const char *s[] = {"hidden_layers=128,128", "epochs=250", "learning_rate=0.01", "batch_size=16",
                       "early_stopping_rounds=15", NULL};
    mb_model *m = make_model(s);
    curve cv;
    memset(&cv, 0, sizeof cv);
    mb_fit_context c = ctx1(2);
    c.progress = on_progress;
    c.progress_ud = &cv;
    fit_ok(m, &d, &v, &c);
    assert_true(cv.n < 250);     /* stopped early */
    assert_true(cv.n >= 16);
    assert_close(cv.last_fraction, 1.0, 0);
    double best = INFINITY;
    for (int i = 0; i < cv.n && i < 256; i++)
        best = cv.valid[i] < best ? cv.valid[i] : best;
    /* the restored weights give the best validation loss seen */
    mb_error err;
    assert_int_equal(mb_model_predict_proba(m, &v.X, pv, &err), MB_OK);
    double ll = 0;
    for (size_t i = 0; i < NV; i++) {
        double p = (double)pv[2 * i + 1];
        p = p < 1e-7 ? 1e-7 : (p > 1 - 1e-7 ? 1 - 1e-7 : p);
        ll -= yv[i] > 0.5f ? log(p) : log(1 - p);
    }
    ll /= NV;
    assert_close(ll, best, 1e-3 * (1 + best));
    assert_true(cv.valid[cv.n - 1] > best);
    mb_model_free(&m);
}

static void test_cancel(void **state)
{
    (void)state;
    enum { N = 500 };
    static float X[N * 3], y[N];
    make_smooth(X, y, N, 3);
    mb_dataset d = {{X, N, 3, 3}, y, NULL, MB_TASK_REGRESSION, 0, NULL};
    const char *s[] = {"hidden_layers=8", "epochs=1000", NULL};
    mb_model *m = make_model(s);
    volatile int stop = 0;
    curve cv;
    memset(&cv, 0, sizeof cv);
    cv.cancel_at = &stop;
    cv.cancel_after = 3;
    mb_fit_context c = ctx1(2);
    c.progress = on_progress;
    c.progress_ud = &cv;
    c.cancel = &stop;
    mb_error err;
    assert_int_equal(mb_model_fit(m, &d, NULL, &c, &err), MB_ECANCELLED);
    assert_int_equal(cv.n, 3);
    float p[1];
    mb_matrix one = {X, 1, 3, 3};
    assert_int_not_equal(mb_model_predict(m, &one, p, &err), MB_OK); /* still unfitted */
    mb_model_free(&m);
}

static void test_bad_input(void **state)
{
    (void)state;
    float X[] = {0, 1, 2, NAN, 4, 5}, y[] = {0, 1, 0}, yb[] = {0, 3, 1};
    mb_error err;
    const char *s[] = {"hidden_layers=4", "epochs=2", NULL};
    mb_model *m = make_model(s);
    mb_fit_context c = ctx1(0);
    mb_dataset d = {{X, 3, 2, 2}, y, NULL, MB_TASK_BINARY, 2, NULL};
    assert_int_not_equal(mb_model_fit(m, &d, NULL, &c, &err), MB_OK);
    assert_non_null(strstr(err.msg, "missing"));
    {   /* standardize=true takes the feature sums in the same pass; the
        ** refusals after it free them (ASan) */
        const char *st[] = {"hidden_layers=4", "epochs=2", "standardize=true", NULL};
        mb_model *ms = make_model(st);
        assert_int_not_equal(mb_model_fit(ms, &d, NULL, &c, &err), MB_OK);
        assert_non_null(strstr(err.msg, "training data: feature 1 of row 1 is missing (NaN)"));
        X[3] = -INFINITY;
        assert_int_not_equal(mb_model_fit(ms, &d, NULL, &c, &err), MB_OK);
        assert_non_null(strstr(err.msg, "feature 1 of row 1 is infinite"));
        X[3] = 3;
        mb_dataset v1 = {{X, 6, 1, 1}, y, NULL, MB_TASK_BINARY, 2, NULL};
        assert_int_not_equal(mb_model_fit(ms, &d, &v1, &c, &err), MB_OK);
        assert_non_null(strstr(err.msg, "validation data has 1 features"));
        float Xv[] = {0, 1, 2, 3, NAN, 5};
        mb_dataset v2 = {{Xv, 3, 2, 2}, y, NULL, MB_TASK_BINARY, 2, NULL};
        assert_int_not_equal(mb_model_fit(ms, &d, &v2, &c, &err), MB_OK);
        assert_non_null(strstr(err.msg, "validation data: feature 0 of row 2 is missing"));
        mb_model_free(&ms);
    }
    X[3] = 3;
    d.y = yb;
    assert_int_not_equal(mb_model_fit(m, &d, NULL, &c, &err), MB_OK);
    assert_non_null(strstr(err.msg, "class index"));
    mb_model_free(&m);
    const char *s2[] = {"loss=huber", NULL};
    m = make_model(s2);
    d.y = y;
    assert_int_not_equal(mb_model_fit(m, &d, NULL, &c, &err), MB_OK);
    assert_non_null(strstr(err.msg, "regression"));
    mb_model_free(&m);
    /* bad parameters are refused by the host from the spec table */
    mb_params p;
    const char *bad[] = {"activation=swish"};
    assert_int_not_equal(mb_params_parse(&p, mlp, bad, 1, &err), MB_OK);
    const char *bad2[] = {"hidden_layers=0"};
    assert_int_not_equal(mb_params_parse(&p, mlp, bad2, 1, &err), MB_OK);
}

/* {====== fit_info ======} */

typedef struct lcurve {
    double train[512], valid[512];
    int n;
} lcurve;

static void on_losses(void *ud, double fraction, const char *msg, double tl, double vl)
{
    lcurve *c = ud;
    (void)fraction;
    (void)msg;
    if (c->n < 512) {
        c->train[c->n] = tl;
        c->valid[c->n] = vl;
    }
    c->n++;
}

static double info_value(const mb_fit_info *fi, const char *name)
{
    for (size_t i = 0; i < fi->n; i++)
        if (strcmp(fi->names[i], name) == 0)
            return fi->values[i];
    fprintf(stderr, "# fit_info has no '%s' (%zu values)\n", name, fi->n);
    fail();
    return NAN;
}

static void test_fit_info(void **state)
{
    (void)state;
    mb_error err;
    char perr[MB_PLUGIN_ERRLEN] = "";
    mb_fit_info fi;
    /* no validation data, no early stopping: every epoch runs, the last
    ** epoch's training loss is reported, valid_loss is NaN */
    enum { N = 120, NV = 200 };
    static float X[N * 3], y[N], Xv[NV * 3], yv[NV];
    make_smooth(X, y, N, 31);
    mb_dataset d = {{X, N, 3, 3}, y, NULL, MB_TASK_REGRESSION, 0, NULL};
    const char *s[] = {"hidden_layers=8", "epochs=7", "early_stopping_rounds=0", "batch_size=16", NULL};
    mb_model *m = make_model(s);
    assert_non_null(m->type->fit_info);
    assert_int_equal(m->type->fit_info(m->impl, &fi, perr), MB_PLUGIN_OK);
    assert_int_equal(fi.n, 0);
    lcurve cv;
    memset(&cv, 0, sizeof cv);
    mb_fit_context c = ctx1(3);
    c.progress = on_losses;
    c.progress_ud = &cv;
    fit_ok(m, &d, NULL, &c);
    assert_int_equal(mb_model_fit_info(m, &fi, &err), MB_OK);
    assert_int_equal(fi.n, 4);
    assert_string_equal(fi.names[0], "epochs");
    assert_string_equal(fi.names[1], "best_epoch");
    assert_string_equal(fi.names[2], "train_loss");
    assert_string_equal(fi.names[3], "valid_loss");
    assert_int_equal(cv.n, 7);
    assert_close(info_value(&fi, "epochs"), 7, 0);
    double be = info_value(&fi, "best_epoch");
    assert_true(be >= 1 && be <= 7 && be == floor(be));
    assert_close(info_value(&fi, "train_loss"), cv.train[6], 0);
    assert_true(isnan(info_value(&fi, "valid_loss")));
    /* saved and loaded: the same; a state saved before "fit_stats": none */
    mb_state st = {0}, old = {0};
    mb_state_writer w = mb_state_writer_for(&st);
    assert_int_equal(m->type->save(m->impl, &w, perr), MB_PLUGIN_OK);
    mb_model *b = make_model(s);
    mb_state_reader r = mb_state_reader_for(&st);
    assert_int_equal(b->type->load(b->impl, &r, perr), MB_PLUGIN_OK);
    mb_fit_info fb;
    assert_int_equal(b->type->fit_info(b->impl, &fb, perr), MB_PLUGIN_OK);
    assert_int_equal(fb.n, 4);
    assert_memory_equal(fb.values, fi.values, 4 * sizeof(double));
    mb_state_writer wo = mb_state_writer_for(&old);
    for (size_t i = 0; i < st.n; i++)
        if (strcmp(st.arrays[i].name, "fit_stats") != 0)
            assert_int_equal(wo.put(wo.ud, st.arrays[i].name, st.arrays[i].type, st.arrays[i].data,
                                    st.arrays[i].count), MB_PLUGIN_OK);
    r = mb_state_reader_for(&old);
    assert_int_equal(b->type->load(b->impl, &r, perr), MB_PLUGIN_OK);
    assert_int_equal(b->type->fit_info(b->impl, &fb, perr), MB_PLUGIN_OK);
    assert_int_equal(fb.n, 0);
    mb_state_clear(&st);
    mb_state_clear(&old);
    mb_model_free(&b);
    mb_model_free(&m);

    /* early stopping on validation data (overfitting, as in
    ** test_early_stopping): fewer epochs than asked, the best epoch's
    ** losses, best_epoch <= epochs */
    make_smooth(X, y, N, 21);
    make_smooth(Xv, yv, NV, 22);
    mbmlp_rng rr;
    mbmlp_rng_seed(&rr, 5);
    for (size_t i = 0; i < N; i++)
        y[i] = (y[i] > 50) != (mbmlp_rng_uniform(&rr) < 0.3) ? 1.0f : 0.0f;
    for (size_t i = 0; i < NV; i++)
        yv[i] = yv[i] > 50 ? 1.0f : 0.0f;
    mb_dataset db = {{X, N, 3, 3}, y, NULL, MB_TASK_BINARY, 2, NULL};
    mb_dataset v = {{Xv, NV, 3, 3}, yv, NULL, MB_TASK_BINARY, 2, NULL};
    const char *es[] = {"hidden_layers=32,32", "epochs=300", "learning_rate=0.01", "batch_size=16",
                        "early_stopping_rounds=10", NULL};
    m = make_model(es);
    memset(&cv, 0, sizeof cv);
    fit_ok(m, &db, &v, &c);
    assert_int_equal(mb_model_fit_info(m, &fi, &err), MB_OK);
    assert_int_equal(fi.n, 4);
    double ep = info_value(&fi, "epochs");
    be = info_value(&fi, "best_epoch");
    assert_close(ep, cv.n, 0);
    assert_true(ep < 300 && be >= 1 && be <= ep - 10);
    int ib = (int)be - 1;
    double vmin = INFINITY;
    for (int i = 0; i < cv.n && i < 512; i++)
        vmin = cv.valid[i] < vmin ? cv.valid[i] : vmin;
    assert_close(info_value(&fi, "valid_loss"), vmin, 0);
    assert_close(info_value(&fi, "valid_loss"), cv.valid[ib], 0);
    assert_close(info_value(&fi, "train_loss"), cv.train[ib], 0);
    mb_model_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradients),
        cmocka_unit_test(test_row_kernel),
        cmocka_unit_test(test_xor),
        cmocka_unit_test(test_smooth_regression),
        cmocka_unit_test(test_digits),
        cmocka_unit_test(test_save_load_portable),
        cmocka_unit_test(test_reproducible),
        cmocka_unit_test(test_early_stopping),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_fit_info),
        cmocka_unit_test(test_simd_equals_portable),
        cmocka_unit_test(test_simd_stats),
        cmocka_unit_test(test_forward_prefill_bits),
        cmocka_unit_test(test_gemm_bits),
        cmocka_unit_test(test_train_products_bits),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
