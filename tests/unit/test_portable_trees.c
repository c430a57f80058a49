/*
** test_portable_trees.c: the scorers' compiled tree evaluator
** (mb_trees_plan, src/core/portable_trees.c) against its oracle, the portable
** loop (mb_portable_predict_rows): bit-identical outputs on random rows
** with NaNs, for hand-made forms that exercise what the compiler does:
** leaves above the ensemble's depth (padding), NaN sent left and right,
** one output per tree (binary and multiclass by tree_output) and leaves of
** width k, base scores, averaging, the logistic and softmax links, a
** depth-0 tree, and row counts that are not multiples of the row block
** (8) or group (128); each with the vector walk (plugins/trees/vwalk.h,
** AVX-512) and without it (MOONBENCH_TREES_SIMD=0).
** Plus a hand-computed case and the depth limit.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "portable.h"
#include "fixture.h"

#define MAXN 4096

/* A random tree of at most depth max_depth from node pool at *used. */
typedef struct pool {
    int32_t feature[MAXN], left[MAXN], right[MAXN];
    float threshold[MAXN];
    uint8_t dl[MAXN];
    double value[MAXN * 4];
    size_t used, width, nfeat;
    int chain; /* every inner node has a leaf child: trees as deep as allowed, unbalanced */
} pool;

static unsigned rnd(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (*s >> 16) & 0x7fff;
}

static int32_t grow(pool *p, unsigned *s, int depth, int max_depth)
{
    int32_t n = (int32_t)p->used++;
    assert_true(p->used < MAXN);
    /* leaves at any depth, so compiled trees need padding */
    if (depth == max_depth || (depth > 0 && !p->chain && rnd(s) % 4 == 0)) {
        p->feature[n] = -1;
        p->left[n] = p->right[n] = -1;
        p->threshold[n] = 0;
        p->dl[n] = 0;
        for (size_t j = 0; j < p->width; j++)
            p->value[(size_t)n * p->width + j] = (double)(int)(rnd(s) % 2001 - 1000) / 997.0;
        return n;
    }
    /* the first and last features often: the ends of a doubled row's copies */
    p->feature[n] = (int32_t)(rnd(s) % 3 == 0 ? (rnd(s) % 2 ? 0 : p->nfeat - 1) : rnd(s) % p->nfeat);
    p->threshold[n] = (float)(int)(rnd(s) % 201 - 100) / 50.0f;
    p->dl[n] = (uint8_t)(rnd(s) % 2);
    int leaf_left = p->chain && rnd(s) % 2;
    int32_t l = grow(p, s, depth + 1, leaf_left ? depth + 1 : max_depth);
    int32_t r = grow(p, s, depth + 1, p->chain && !leaf_left ? depth + 1 : max_depth);
    p->left[n] = l;
    p->right[n] = r;
    return n;
}

/* Compare the compiled evaluator with the portable loop on nrows rows. */
static size_t g_nfeat = 5; /* features of the forms check_form makes */
static int g_nan = 1;      /* whether its rows have NaNs (the vector walk compiles both ways) */
static size_t g_pad = 0;   /* floats after each row's features (ld = nfeatures + g_pad), NaN */

static void check_form_chain(size_t ntrees, size_t k, size_t width, mb_link link, int average, int max_depth,
                             size_t nrows, unsigned seed, int chain)
{
    static pool p;
    memset(&p, 0, sizeof p);
    p.chain = chain;
    p.width = width;
    p.nfeat = g_nfeat;
    unsigned s = seed;
    int32_t root[64], tout[64];
    double base[4] = {0.25, -0.5, 0.125, 1};
    assert_true(ntrees <= 64 && k <= 4);
    for (size_t t = 0; t < ntrees; t++) {
        root[t] = grow(&p, &s, 0, t == 3 ? 0 : max_depth); /* tree 3: a single leaf */
        tout[t] = (int32_t)(t % k);
    }
    mb_portable form;
    memset(&form, 0, sizeof form);
    form.kind = MB_FORM_TREES;
    mb_tree_form *t = &form.u.trees;
    t->nfeatures = p.nfeat;
    t->noutputs = k;
    t->ntrees = ntrees;
    t->nnodes = p.used;
    t->leaf_width = width;
    t->root = root;
    t->tree_output = width == 1 ? tout : NULL;
    t->feature = p.feature;
    t->threshold = p.threshold;
    t->default_left = p.dl;
    t->left = p.left;
    t->right = p.right;
    t->value = p.value;
    t->base_score = base;
    t->average = average;
    t->link = link;
    mb_error err;
    assert_int_equal(mb_portable_check(&form, &err), MB_OK);
    size_t ld = p.nfeat + g_pad;
    float *x = malloc(nrows * ld * sizeof *x);
    double *want = malloc(nrows * k * sizeof *want), *got = malloc(nrows * k * sizeof *got);
    for (size_t i = 0; i < nrows * ld; i++)
        /* thresholds hit exactly, and NaNs; the padding NaN (never read) */
        x[i] = i % ld >= p.nfeat               ? NAN
               : g_nan && rnd(&s) % 7 == 0 ? NAN
               : rnd(&s) % 13 == 0         ? (rnd(&s) % 2 ? INFINITY : -INFINITY)
                                           : (float)(int)(rnd(&s) % 201 - 100) / 50.0f;
    mb_matrix X = {x, nrows, p.nfeat, ld};
    mb_portable_predict_rows(&form, &X, want, NULL);
    /* both batch walks: the doubled-row one, and the vector one where the
    ** CPU and the ensemble take it (one output a tree, depth <= 6) */
    int depth = mb_trees_depth(t, 12);
    for (int simd = 0; simd < 2; simd++) {
        if (!simd)
            setenv("MOONBENCH_TREES_SIMD", "0", 1);
        mb_trees_plan *c = mb_trees_plan_new(t);
        unsetenv("MOONBENCH_TREES_SIMD");
        assert_non_null(c);
        assert_int_equal(mb_trees_plan_vector(c), simd && mbt_cpu_avx512() && width == 1 && depth <= 6);
        memset(got, 0xff, nrows * k * sizeof *got);
        mb_trees_plan_predict_rows(c, &X, got);
        assert_memory_equal(want, got, nrows * k * sizeof *got);
        mb_trees_plan_free(&c);
        assert_null(c);
    }
    free(x);
    free(want);
    free(got);
}

static void check_form(size_t ntrees, size_t k, size_t width, mb_link link, int average, int max_depth,
                       size_t nrows, unsigned seed)
{
    check_form_chain(ntrees, k, width, link, average, max_depth, nrows, seed, 0);
}

static void test_binary_logistic(void **state)
{
    (void)state;
    check_form(40, 1, 1, MB_LINK_LOGISTIC, 0, 6, 1001, 1);
}

/* Row counts around the kernels' block (8) and group (128) sizes, with
** the bench's shape of ensemble (depth 6, one output). */
static void test_group_edges(void **state)
{
    (void)state;
    size_t n[] = {7, 8, 9, 47, 48, 49, 127, 128, 129, 175, 176, 255, 256, 257, 1000};
    for (size_t i = 0; i < sizeof n / sizeof *n; i++)
        check_form(50, 1, 1, MB_LINK_LOGISTIC, 0, 6, n[i], 40 + (unsigned)i);
}

/* The vector walk's shapes: chunks without a NaN (its NaN tests compiled
** out), shallow trees (no transposed levels below depth 3), several
** outputs by tree_output, and rows wider than its transposed chunk (64
** features: every level gathered). */
static void test_vector_shapes(void **state)
{
    (void)state;
    for (g_nan = 0; g_nan < 2; g_nan++) {
        check_form(60, 1, 1, MB_LINK_LOGISTIC, 0, 6, 300, 1200 + (unsigned)g_nan);
        check_form(30, 1, 1, MB_LINK_IDENTITY, 0, 2, 200, 1210 + (unsigned)g_nan);
        check_form(30, 1, 1, MB_LINK_IDENTITY, 0, 1, 130, 1220 + (unsigned)g_nan);
        check_form(30, 3, 1, MB_LINK_SOFTMAX, 0, 5, 301, 1230 + (unsigned)g_nan);
        g_nfeat = 70;
        check_form(40, 2, 1, MB_LINK_SOFTMAX, 0, 6, 260, 1240 + (unsigned)g_nan);
        g_nfeat = 5;
    }
    g_nan = 1;
}

/* Rows further apart than their features (a column slice of a wider
** matrix: ld > cols), at the widths around the vector walk's transposed
** chunk (64 features), one and several outputs; the padding is NaN, which
** a walk reading it would show. */
static void test_strided_rows(void **state)
{
    (void)state;
    size_t nf[] = {1, 5, 63, 64, 65}, pad[] = {1, 7, 64};
    for (g_nan = 0; g_nan < 2; g_nan++)
        for (size_t a = 0; a < sizeof nf / sizeof *nf; a++)
            for (size_t b = 0; b < sizeof pad / sizeof *pad; b++) {
                g_nfeat = nf[a];
                g_pad = pad[b];
                check_form(30, 1, 1, MB_LINK_LOGISTIC, 0, 6, 300, 1300 + (unsigned)(a * 10 + b));
                check_form(20, 3, 1, MB_LINK_SOFTMAX, 0, 3, 200, 1400 + (unsigned)(a * 10 + b));
            }
    g_nfeat = 5;
    g_nan = 1;
    g_pad = 3;
    check_form(40, 4, 4, MB_LINK_SOFTMAX, 0, 6, 150, 1500); /* one leaf holding every output */
    g_pad = 0;
}

static void test_multiclass_tree_output(void **state)
{
    (void)state;
    check_form(30, 3, 1, MB_LINK_SOFTMAX, 0, 5, 37, 2);
}

static void test_leaf_width_average(void **state)
{
    (void)state;
    check_form(20, 4, 4, MB_LINK_IDENTITY, 1, 7, 9, 3);
}

static void test_regression_small_blocks(void **state)
{
    (void)state;
    for (size_t n = 0; n <= 17; n++)
        check_form(5, 1, 1, MB_LINK_IDENTITY, 0, 3, n, 4 + (unsigned)n);
}

/* Fewer rows than a block (a single row from serve or the worker, a
** chunk's tail) walk their trees 8 at a time: every tree count around 8
** and 16, one output and k outputs, with NaNs, on padded trees and on
** chains as deep as the evaluator takes (12, every inner node with a leaf
** child, so nearly every leaf is padded down). */
static void test_rows_trees_interleaved(void **state)
{
    (void)state;
    for (size_t nt = 1; nt <= 17; nt++)
        for (size_t n = 1; n <= 9; n += 4) {
            check_form(nt, 1, 1, MB_LINK_LOGISTIC, 0, 6, n, 100 + (unsigned)(nt * 10 + n));
            check_form(nt, 3, 1, MB_LINK_SOFTMAX, 0, 5, n, 300 + (unsigned)(nt * 10 + n));
            check_form(nt, 2, 2, MB_LINK_IDENTITY, 1, 4, n, 500 + (unsigned)(nt * 10 + n));
            check_form_chain(nt, 1, 1, MB_LINK_IDENTITY, 0, 12, n, 700 + (unsigned)(nt * 10 + n), 1);
        }
    check_form_chain(40, 2, 1, MB_LINK_SOFTMAX, 0, 12, 1003, 9, 1);
}

/* Wide models: a group holds fewer rows when the doubled rows (2 x 600
** floats) fill the stack buffer, and past 4096 features rows are not
** doubled at all (the slot-decoding walk). */
static void test_wide(void **state)
{
    (void)state;
    size_t nf[] = {600, 1100, 5000};
    for (size_t i = 0; i < 3; i++) {
        g_nfeat = nf[i];
        check_form(20, 1, 1, MB_LINK_LOGISTIC, 0, 6, 37, 900 + (unsigned)i);
        check_form(9, 3, 1, MB_LINK_SOFTMAX, 0, 5, 5, 950 + (unsigned)i);
    }
    g_nfeat = 5;
}

/* Infinite thresholds, hand-made: x <= +inf goes left for every number,
** x <= -inf only for -inf; NaN goes the node's way. A +inf threshold whose
** NaN goes right is the one node the doubled rows would get wrong (NaN
** read as +inf, and +inf > +inf is false): not compiled, the portable loop
** keeps it. */
static void test_infinite_thresholds(void **state)
{
    (void)state;
    float xs[5] = {-INFINITY, -1, 2, INFINITY, NAN};
    float ths[2] = {INFINITY, -INFINITY};
    for (int ti = 0; ti < 2; ti++)
        for (int dl = 0; dl < 2; dl++) {
            int32_t root = 0, out = 0, feature[3] = {0, -1, -1}, left[3] = {1, -1, -1}, right[3] = {2, -1, -1};
            float thr[3] = {ths[ti], 0, 0};
            uint8_t dls[3] = {(uint8_t)dl, 0, 0};
            double value[3] = {0, 1, 3};
            mb_tree_form t = {1, 1, 1, 3, 1, &root, &out, feature, thr, dls, left, right, value, NULL, 0,
                              MB_LINK_IDENTITY, NULL};
            mb_trees_plan *c = mb_trees_plan_new(&t);
            if (ti == 0 && dl == 0) {
                assert_null(c);
                continue;
            }
            assert_non_null(c);
            mb_portable form;
            memset(&form, 0, sizeof form);
            form.kind = MB_FORM_TREES;
            form.u.trees = t;
            double want[5], got[5];
            mb_matrix X = {xs, 5, 1, 1};
            mb_portable_predict_rows(&form, &X, want, NULL);
            mb_trees_plan_predict_rows(c, &X, got);
            assert_memory_equal(want, got, sizeof got);
            assert_true(got[4] == (dl ? 1 : 3)); /* NaN: the default way */
            assert_true(got[3] == (ti == 0 ? 1 : 3) && got[0] == 1);
            mb_trees_plan_free(&c);
        }
}

/* One stump by hand: x0 <= 1 left (1.0), else right (3.0); NaN right. */
static void test_hand_stump(void **state)
{
    (void)state;
    int32_t root = 0, out = 0, feature[3] = {0, -1, -1}, left[3] = {1, -1, -1}, right[3] = {2, -1, -1};
    float thr[3] = {1, 0, 0};
    uint8_t dl[3] = {0, 0, 0};
    double value[3] = {0, 1, 3};
    mb_tree_form t = {1, 1, 1, 3, 1, &root, &out, feature, thr, dl, left, right, value, NULL, 0,
                      MB_LINK_IDENTITY, NULL};
    mb_trees_plan *c = mb_trees_plan_new(&t);
    assert_non_null(c);
    float x[4] = {0.5f, 1.0f, 1.5f, NAN};
    double o[4];
    mb_matrix X = {x, 4, 1, 1};
    mb_trees_plan_predict_rows(c, &X, o);
    assert_true(o[0] == 1 && o[1] == 1 && o[2] == 3 && o[3] == 3);
    mb_trees_plan_free(&c);
}

/* A NaN threshold is refused when the form is checked (every load and save
** checks it): the scorers' rules would disagree on it. */
static void test_nan_threshold_refused(void **state)
{
    (void)state;
    int32_t root = 0, out = 0, feature[3] = {0, -1, -1}, left[3] = {1, -1, -1}, right[3] = {2, -1, -1};
    float thr[3] = {NAN, 0, 0};
    uint8_t dl[3] = {0, 0, 0};
    double value[3] = {0, 1, 3};
    mb_portable form;
    memset(&form, 0, sizeof form);
    form.kind = MB_FORM_TREES;
    form.u.trees = (mb_tree_form){1, 1, 1, 3, 1, &root, &out, feature, thr, dl, left, right, value, NULL, 0,
                                  MB_LINK_IDENTITY, NULL};
    mb_error err;
    assert_int_equal(mb_portable_check(&form, &err), MB_EFORMAT);
    assert_non_null(strstr(err.msg, "node 0: threshold is NaN"));
    thr[0] = INFINITY; /* +inf is a number: everything but NaN goes left */
    assert_int_equal(mb_portable_check(&form, &err), MB_OK);
}

/* A chain deeper than the evaluator's limit is not compiled. */
static void test_too_deep(void **state)
{
    (void)state;
    enum { N = 41 };
    int32_t root = 0, out = 0, feature[N], left[N], right[N];
    float thr[N];
    uint8_t dl[N];
    double value[N];
    for (int i = 0; i < N; i++) {
        int leaf = i % 2 == 1 || i == N - 1;
        feature[i] = leaf ? -1 : 0;
        left[i] = leaf ? -1 : i + 1;
        right[i] = leaf ? -1 : i + 2;
        thr[i] = (float)i;
        dl[i] = 1;
        value[i] = i;
    }
    mb_tree_form t = {1, 1, 1, N, 1, &root, &out, feature, thr, dl, left, right, value, NULL, 0,
                      MB_LINK_IDENTITY, NULL};
    assert_null(mb_trees_plan_new(&t));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_binary_logistic),     cmocka_unit_test(test_multiclass_tree_output),
        cmocka_unit_test(test_leaf_width_average),  cmocka_unit_test(test_regression_small_blocks),
        cmocka_unit_test(test_hand_stump),          cmocka_unit_test(test_too_deep),
        cmocka_unit_test(test_group_edges),         cmocka_unit_test(test_nan_threshold_refused),
        cmocka_unit_test(test_vector_shapes),
        cmocka_unit_test(test_strided_rows),
        cmocka_unit_test(test_rows_trees_interleaved), cmocka_unit_test(test_wide),
        cmocka_unit_test(test_infinite_thresholds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
