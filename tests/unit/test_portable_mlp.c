/*
** test_portable_mlp.c: the compiled MLP (mb_mlp_plan, portable_mlp.c)
** against its oracles, a plain textbook forward written here and the
** core's portable loop (mb_portable_predict_rows): bit-identical outputs
** (same_bits: NaN payloads aside) on random networks, with each kernel
** (plain C, and AVX2 and AVX-512 when this CPU runs them). The networks exercise what the plan
** does differently: widths that are not multiples of its blocks (8, 32, 64), an
** input wider than its chunk (512), every activation and link, inputs
** that are zero (left out), -0.0, NaN and infinite, and the two cases
** where leaving zeros out would change a bit (a -0.0 bias, an infinite
** weight), which must keep every term.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "portable.h"
#include "rng.h"

#define MAXL 5

typedef struct net {
    size_t nlayers, width[MAXL + 1];
    mb_mlp_layer layer[MAXL];
    float *w[MAXL], *b[MAXL];
    mb_portable form;
} net;

static double unit(mb_rng *r) { return (double)(mb_rng_next(r) >> 11) * 0x1.0p-53; }

/* A weight or bias: mostly small reals, sometimes exactly 0, +-0.0 or 1. */
static float draw(mb_rng *r)
{
    uint64_t c = mb_rng_below(r, 20);
    if (c == 0)
        return 0.0f;
    if (c == 1)
        return -0.0f;
    if (c == 2)
        return 1.0f;
    return (float)(unit(r) * 2 - 1);
}

static void net_make(net *n, mb_rng *r, size_t nlayers, const size_t *width, mb_link link, int acts_any)
{
    memset(n, 0, sizeof *n);
    n->nlayers = nlayers;
    memcpy(n->width, width, (nlayers + 1) * sizeof *width);
    for (size_t l = 0; l < nlayers; l++) {
        mb_mlp_layer *L = &n->layer[l];
        L->in = width[l];
        L->out = width[l + 1];
        n->w[l] = malloc(L->in * L->out * sizeof(float));
        n->b[l] = malloc(L->out * sizeof(float));
        for (size_t i = 0; i < L->in * L->out; i++)
            n->w[l][i] = draw(r);
        for (size_t i = 0; i < L->out; i++)
            n->b[l][i] = draw(r) == 0 ? 0.0f : (float)(unit(r) - 0.5); /* no -0.0 bias here */
        L->weight = n->w[l];
        L->bias = n->b[l];
        L->act = l + 1 == nlayers ? MB_ACT_IDENTITY
                 : acts_any     ? (mb_activation)mb_rng_below(r, MB_ACT_GELU + 1)
                                : MB_ACT_RELU;
        L->alpha = 0.01f;
    }
    n->form.kind = MB_FORM_MLP;
    n->form.u.mlp.nlayers = nlayers;
    n->form.u.mlp.layers = n->layer;
    n->form.u.mlp.link = link;
}

static void net_free(net *n)
{
    for (size_t l = 0; l < n->nlayers; l++) {
        free(n->w[l]);
        free(n->b[l]);
    }
}

/* The forward as written in any textbook: out = act(W h + b), one dot
** product per output, then the link. */
static void reference(const net *n, const float *x, double *out)
{
    double h[2048], g[2048];
    for (size_t j = 0; j < n->width[0]; j++)
        h[j] = (double)x[j];
    for (size_t l = 0; l < n->nlayers; l++) {
        const mb_mlp_layer *L = &n->layer[l];
        for (size_t o = 0; o < L->out; o++) {
            double s = (double)L->bias[o];
            for (size_t j = 0; j < L->in; j++)
                s += (double)L->weight[o * L->in + j] * h[j];
            g[o] = mb_portable_activate(L->act, L->alpha, s);
        }
        memcpy(h, g, L->out * sizeof *h);
    }
    size_t k = n->width[n->nlayers];
    mb_portable_apply_link(n->form.u.mlp.link, h, k);
    memcpy(out, h, k * sizeof *out);
}

/* Rows of x: mostly reals, with zeros, -0.0, NaN, infinities and big
** values among them (specials 0: none). */
static void fill_rows(mb_rng *r, float *x, size_t n, int specials)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t c = mb_rng_below(r, 16);
        x[i] = c < 4 ? 0.0f : (float)((unit(r) * 2 - 1) * 3);
        if (specials && c == 4)
            x[i] = -0.0f;
        else if (specials && c == 5)
            x[i] = mb_rng_below(r, 4) ? NAN : INFINITY;
        else if (specials && c == 6)
            x[i] = 1e30f;
    }
}

/* Bit for bit, except that any NaN equals any NaN: which NaN payload an
** add of two NaNs keeps depends on the operand order the compiler picks
** for a commutative operation, which C leaves open (the server writes
** every NaN as null). */
static void same_bits(const double *want, const double *got, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (isnan(want[i]) && isnan(got[i]))
            continue;
        if (memcmp(&want[i], &got[i], sizeof *want) != 0)
            fail_msg("output %zu: %a, expected %a", i, got[i], want[i]);
    }
}

/* The kernels to test: plain C, and AVX2 and AVX-512 when the CPU has them. */
static int levels(int *lv)
{
    mb_cpu_facts f;
    mb_cpu_read(&f);
    int n = 0;
    lv[n++] = 0;
    for (int l = 2; l <= 3; l++)
        if (mb_cpu_level(&f) >= l)
            lv[n++] = l;
    return n;
}

/* The plan of n (each kernel) against both oracles on nrows rows. */
static void check_net(const net *n, mb_rng *r, size_t nrows, int specials)
{
    size_t nf = n->width[0], k = n->width[n->nlayers], ld = nf + 3;
    float *x = malloc(nrows * ld * sizeof *x);
    fill_rows(r, x, nrows * ld, specials);
    mb_matrix X = {x, nrows, nf, ld};
    double *want = malloc(nrows * k * sizeof *want), *loop = malloc(nrows * k * sizeof *loop),
           *got = malloc(nrows * k * sizeof *got);
    double *work = malloc(mb_portable_work_size(&n->form) * sizeof *work);
    for (size_t i = 0; i < nrows; i++)
        reference(n, x + i * ld, want + i * k);
    mb_portable_predict_rows(&n->form, &X, loop, work);
    same_bits(want, loop, nrows * k);
    int lv[3], nl = levels(lv);
    for (int t = 0; t < nl; t++) {
        mb_mlp_plan *pl = mb_mlp_plan_new(&n->form, lv[t]);
        assert_non_null(pl);
        assert_string_equal(mb_mlp_plan_kernel(pl), lv[t] >= 3 ? "avx512" : lv[t] >= 2 ? "avx2" : "c");
        memset(got, 0xa5, nrows * k * sizeof *got);
        mb_mlp_plan_predict_rows(pl, &X, got, work);
        same_bits(want, got, nrows * k);
        mb_mlp_plan_free(&pl);
        assert_null(pl);
    }
    free(x);
    free(want);
    free(loop);
    free(got);
    free(work);
}

static void test_random_relu(void **state)
{
    (void)state;
    mb_rng r;
    mb_rng_seed(&r, 11);
    for (int trial = 0; trial < 60; trial++) {
        size_t nl = 1 + mb_rng_below(&r, 4), w[MAXL + 1];
        for (size_t l = 0; l <= nl; l++)
            w[l] = 1 + mb_rng_below(&r, 70);
        mb_link link = (mb_link)mb_rng_below(&r, 3);
        net n;
        net_make(&n, &r, nl, w, link, 0);
        check_net(&n, &r, 1 + mb_rng_below(&r, 9), trial % 2);
        net_free(&n);
    }
}

static void test_random_activations(void **state)
{
    (void)state;
    mb_rng r;
    mb_rng_seed(&r, 12);
    for (int trial = 0; trial < 60; trial++) {
        size_t nl = 2 + mb_rng_below(&r, 3), w[MAXL + 1];
        for (size_t l = 0; l <= nl; l++)
            w[l] = 1 + mb_rng_below(&r, 40);
        net n;
        net_make(&n, &r, nl, w, (mb_link)mb_rng_below(&r, 3), 1);
        check_net(&n, &r, 1 + mb_rng_below(&r, 5), trial % 3 == 0);
        net_free(&n);
    }
}

/* The bench's shape (64 -> 256 -> 128 -> 10, softmax) and an input wider
** than a chunk (600 -> 33 -> 5), so the gathered inputs come in two passes. */
static void test_wide(void **state)
{
    (void)state;
    mb_rng r;
    mb_rng_seed(&r, 13);
    const size_t bench[] = {64, 256, 128, 10}, wide[] = {600, 33, 5}, wide2[] = {1030, 17};
    net n;
    net_make(&n, &r, 3, bench, MB_LINK_SOFTMAX, 0);
    check_net(&n, &r, 20, 0);
    net_free(&n);
    net_make(&n, &r, 2, wide, MB_LINK_LOGISTIC, 0);
    check_net(&n, &r, 7, 1);
    net_free(&n);
    net_make(&n, &r, 1, wide2, MB_LINK_IDENTITY, 0);
    check_net(&n, &r, 3, 0);
    net_free(&n);
}

/* A -0.0 bias: -0.0 + (+1 * 0) is +0.0, so a zero input's term changes the
** output's sign bit and must be kept (identity layer, zero inputs). */
static void test_negative_zero_bias(void **state)
{
    (void)state;
    float w[4] = {1, 2, -1, 3}, b[2] = {-0.0f, -0.0f}, x[2] = {0, 0};
    mb_mlp_layer L = {2, 2, w, b, MB_ACT_IDENTITY, 0};
    mb_portable f = {.kind = MB_FORM_MLP};
    f.u.mlp.nlayers = 1;
    f.u.mlp.layers = &L;
    f.u.mlp.link = MB_LINK_IDENTITY;
    mb_matrix X = {x, 1, 2, 2};
    double want[2], got[2], work[64];
    mb_portable_predict_rows(&f, &X, want, work);
    assert_false(signbit(want[0])); /* -0 + 0 + 0: +0.0 */
    int lv[3], nl = levels(lv);
    for (int t = 0; t < nl; t++) {
        mb_mlp_plan *pl = mb_mlp_plan_new(&f, lv[t]);
        mb_mlp_plan_predict_rows(pl, &X, got, work);
        same_bits(want, got, 2);
        mb_mlp_plan_free(&pl);
    }
}

/* An infinite weight: inf * 0 is NaN, so the zero input's term counts. */
static void test_infinite_weight(void **state)
{
    (void)state;
    float w[2] = {INFINITY, 1}, b[1] = {0.5f}, x[2] = {0, 2};
    mb_mlp_layer L = {2, 1, w, b, MB_ACT_IDENTITY, 0};
    mb_portable f = {.kind = MB_FORM_MLP};
    f.u.mlp.nlayers = 1;
    f.u.mlp.layers = &L;
    f.u.mlp.link = MB_LINK_IDENTITY;
    mb_matrix X = {x, 1, 2, 2};
    double want, got, work[64];
    mb_portable_predict_rows(&f, &X, &want, work);
    assert_true(isnan(want));
    int lv[3], nl = levels(lv);
    for (int t = 0; t < nl; t++) {
        mb_mlp_plan *pl = mb_mlp_plan_new(&f, lv[t]);
        mb_mlp_plan_predict_rows(pl, &X, &got, work);
        assert_true(isnan(got));
        mb_mlp_plan_free(&pl);
    }
}

/* Not an MLP, or an inconsistent one: no plan. */
static void test_refused(void **state)
{
    (void)state;
    mb_portable f = {.kind = MB_FORM_TREES};
    assert_null(mb_mlp_plan_new(&f, -1));
    float w[6] = {0}, b[3] = {0};
    mb_mlp_layer L[2] = {{2, 3, w, b, MB_ACT_RELU, 0}, {2, 1, w, b, MB_ACT_IDENTITY, 0}}; /* 3 -> 2 mismatch */
    f.kind = MB_FORM_MLP;
    f.u.mlp.nlayers = 2;
    f.u.mlp.layers = L;
    assert_null(mb_mlp_plan_new(&f, -1));
    mb_mlp_plan_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_relu),        cmocka_unit_test(test_random_activations),
        cmocka_unit_test(test_wide),               cmocka_unit_test(test_negative_zero_bias),
        cmocka_unit_test(test_infinite_weight),    cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
