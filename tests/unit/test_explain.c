/*
** test_explain.c: unit tests of src/core/explain.c.
**
** What is checked: TreeSHAP equal to brute-force Shapley values (all 2^M
** coalitions of the same path-dependent conditional expectation, computed
** by an independent cover-weighted traversal) on random ensembles (binary,
** multiclass with per-class trees and with vector leaves, regression
** forests) with NaN inputs routed by default directions; additivity
** against the portable scorer's raw margin on bundled datasets with a
** GBDT and a forest fitted through the trees plugin; the refusal of a form
** without covers; linear SHAP and permutation importance by hand.
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
#include "explain.h"
#include "io.h"
#include "plugin.h"
#include "fixture.h"
#include "portable.h"

/* {====== random ensembles ======} */

typedef struct rforest {
    size_t M, K, lw, ntrees, nnodes;
    int32_t root[16], out[16], feature[512], left[512], right[512];
    float thr[512];
    uint8_t dl[512];
    double value[512 * 4], cover[512], base[4];
    mb_tree_form t;
} rforest;

static uint64_t rs = 12345;
static double unif(void)
{
    rs = rs * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(rs >> 11) / 9007199254740992.0;
}

/* Grow node n at depth d; returns the node's cover (the sum of its leaves'). */
static double grow(rforest *f, int32_t n, int d)
{
    if (d < 4 && (d == 0 || unif() < 0.7)) {
        int32_t a = (int32_t)f->nnodes++, b = (int32_t)f->nnodes++;
        f->feature[n] = (int32_t)(unif() * (double)f->M);
        f->thr[n] = (float)(unif() * 2 - 1);
        f->dl[n] = unif() < 0.5;
        f->left[n] = a;
        f->right[n] = b;
        return f->cover[n] = grow(f, a, d + 1) + grow(f, b, d + 1);
    }
    f->feature[n] = f->left[n] = f->right[n] = -1;
    for (size_t k = 0; k < f->lw; k++)
        f->value[(size_t)n * f->lw + k] = unif() * 4 - 2;
    return f->cover[n] = 0.5 + unif() * 10;
}

static void random_forest(rforest *f, size_t M, size_t K, size_t lw, size_t ntrees, int average, mb_link link)
{
    memset(f, 0, sizeof *f);
    f->M = M, f->K = K, f->lw = lw, f->ntrees = ntrees;
    for (size_t t = 0; t < ntrees; t++) {
        f->root[t] = (int32_t)f->nnodes++;
        f->out[t] = (int32_t)(t % K);
        grow(f, f->root[t], 0);
    }
    for (size_t k = 0; k < K; k++)
        f->base[k] = unif() - 0.5;
    f->t = (mb_tree_form){M, K, ntrees, f->nnodes, lw, f->root, f->out, f->feature, f->thr, f->dl,
                          f->left, f->right, f->value, f->base, average, link, f->cover};
}

/* {====== brute force ======} */

/* E[tree | x_S], written from the definition: follow x on S, else average
** the children by cover. */
static double cond_exp(const mb_tree_form *t, int32_t n, const float *x, unsigned S, size_t k)
{
    if (t->feature[n] < 0)
        return t->value[(size_t)n * t->leaf_width + (t->leaf_width == 1 ? 0 : k)];
    int f = t->feature[n];
    if (S & (1u << f)) {
        float v = x[f];
        int left = isnan(v) ? t->default_left[n] : v <= t->threshold[n];
        return cond_exp(t, left ? t->left[n] : t->right[n], x, S, k);
    }
    double w = t->cover[n];
    return (t->cover[t->left[n]] * cond_exp(t, t->left[n], x, S, k) +
            t->cover[t->right[n]] * cond_exp(t, t->right[n], x, S, k)) / w;
}

static double value_of(const mb_tree_form *t, const float *x, unsigned S, size_t k)
{
    double s = 0;
    for (size_t tr = 0; tr < t->ntrees; tr++)
        if (t->leaf_width > 1 || (size_t)t->tree_output[tr] == k)
            s += cond_exp(t, t->root[tr], x, S, k);
    return t->base_score[k] + (t->average ? s / (double)t->ntrees : s);
}

static double fact(size_t n)
{
    return n <= 1 ? 1 : (double)n * fact(n - 1);
}

static void brute_shap(const mb_tree_form *t, const float *x, double *phi)
{
    size_t M = t->nfeatures;
    for (size_t k = 0; k < t->noutputs; k++) {
        double *o = phi + k * (M + 1);
        for (size_t j = 0; j < M; j++) {
            o[j] = 0;
            for (unsigned S = 0; S < 1u << M; S++) {
                if (S & (1u << j))
                    continue;
                size_t s = (size_t)__builtin_popcount(S);
                double w = fact(s) * fact(M - s - 1) / fact(M);
                o[j] += w * (value_of(t, x, S | (1u << j), k) - value_of(t, x, S, k));
            }
        }
        o[M] = value_of(t, x, 0, k);
    }
}

static void check_against_brute(rforest *f, int threads)
{
    size_t M = f->M, K = f->K, n = 12;
    float X[12 * 6];
    for (size_t i = 0; i < n * M; i++)
        X[i] = unif() < 0.2 ? NAN : (float)(unif() * 3 - 1.5);
    mb_matrix m = {X, n, M, M};
    double *phi = malloc(n * K * (M + 1) * sizeof *phi), want[4 * 7];
    mb_error err;
    if (mb_treeshap(&f->t, &m, threads, phi, &err) != MB_OK)
        fail_msg("treeshap: %s", err.msg);
    for (size_t i = 0; i < n; i++) {
        brute_shap(&f->t, X + i * M, want);
        for (size_t k = 0; k < K * (M + 1); k++)
            if (fabs(phi[i * K * (M + 1) + k] - want[k]) > 1e-9)
                fail_msg("row %zu value %zu: treeshap %.12g, brute force %.12g", i, k, phi[i * K * (M + 1) + k],
                         want[k]);
    }
    free(phi);
}

static void test_brute_binary(void **state)
{
    (void)state;
    rforest f;
    for (int r = 0; r < 5; r++) {
        random_forest(&f, 6, 1, 1, 4, 0, MB_LINK_LOGISTIC);
        check_against_brute(&f, 2);
    }
}

static void test_brute_multiclass(void **state)
{
    (void)state;
    rforest f;
    for (int r = 0; r < 3; r++) {
        random_forest(&f, 5, 3, 1, 6, 0, MB_LINK_SOFTMAX); /* a tree per class and round */
        check_against_brute(&f, 3);
        random_forest(&f, 4, 3, 3, 3, 1, MB_LINK_IDENTITY); /* forest: vector leaves, averaged */
        check_against_brute(&f, 1);
    }
}

static void test_brute_regression(void **state)
{
    (void)state;
    rforest f;
    for (int r = 0; r < 4; r++) {
        random_forest(&f, 3 + (size_t)r, 1, 1, 5, r % 2, MB_LINK_IDENTITY);
        check_against_brute(&f, 0);
    }
}

static void test_no_cover(void **state)
{
    (void)state;
    rforest f;
    random_forest(&f, 3, 1, 1, 2, 0, MB_LINK_IDENTITY);
    f.t.cover = NULL;
    float X[3] = {0, 0, 0};
    mb_matrix m = {X, 1, 3, 3};
    double phi[4];
    mb_error err;
    assert_int_equal(mb_treeshap(&f.t, &m, 1, phi, &err), MB_EFORMAT);
    assert_non_null(strstr(err.msg, "no node covers"));
    m.cols = m.ld = 2;
    f.t.cover = f.cover;
    assert_int_equal(mb_treeshap(&f.t, &m, 1, phi, &err), MB_ESHAPE);
}

/* Covers survive the bundle's named arrays; a form stored without them
** (older bundles) still loads, with cover NULL, and explaining it names
** the bundle and says to refit. */
static void test_cover_state(void **state)
{
    (void)state;
    rforest f;
    random_forest(&f, 3, 1, 1, 2, 0, MB_LINK_LOGISTIC);
    mb_portable p = {.kind = MB_FORM_TREES}, q;
    p.u.trees = f.t;
    mb_state st;
    memset(&st, 0, sizeof st);
    mb_mlp_layer *layers = NULL;
    assert_int_equal(mb_portable_to_state(&p, &st, NULL), MB_OK);
    assert_int_equal(mb_portable_from_state(MB_FORM_TREES, &st, &q, &layers, NULL), MB_OK);
    assert_non_null(q.u.trees.cover);
    assert_memory_equal(q.u.trees.cover, f.cover, f.nnodes * sizeof(double));
    mb_state_clear(&st);
    p.u.trees.cover = NULL;
    assert_int_equal(mb_portable_to_state(&p, &st, NULL), MB_OK);
    assert_int_equal(mb_portable_from_state(MB_FORM_TREES, &st, &q, &layers, NULL), MB_OK);
    assert_null(q.u.trees.cover);

    char a0[] = "a", a1[] = "b", a2[] = "c", *features[] = {a0, a1, a2};
    mb_bundle b;
    memset(&b, 0, sizeof b);
    b.features = features;
    b.nfeatures = 3;
    b.task = MB_TASK_BINARY;
    b.nclasses = 2;
    b.form = MB_FORM_TREES;
    char old[] = "old.h5";
    b.file = old;
    mb_scorer sc;
    memset(&sc, 0, sizeof sc);
    sc.bundle = &b;
    sc.form = q;
    mb_frame *fr = mb_frame_new(2);
    mb_error err;
    for (int j = 0; j < 3; j++)
        assert_non_null(mb_frame_add_num(fr, features[j], NULL, 1, &err));
    mb_explanation e;
    assert_int_equal(mb_explain_frame(&sc, fr, 1, &e, &err), MB_EFORMAT);
    assert_non_null(strstr(err.msg, "old.h5: the tree model has no node covers"));
    assert_non_null(strstr(err.msg, "refit"));
    /* with covers, the same frame is explained per feature and adds up */
    sc.form.u.trees.cover = f.cover;
    for (int j = 0; j < 3; j++)
        for (size_t i = 0; i < 2; i++)
            fr->cols[j].num[i] = (float)(j - (int)i);
    assert_int_equal(mb_explain_frame(&sc, fr, 1, &e, &err), MB_OK);
    assert_int_equal(e.ncols, 3);
    assert_int_equal(e.mapped, 0);
    sc.form.u.trees.link = MB_LINK_IDENTITY;
    double raw[2];
    float X[6];
    for (int j = 0; j < 3; j++)
        for (size_t i = 0; i < 2; i++)
            X[i * 3 + (size_t)j] = fr->cols[j].num[i];
    mb_matrix m = {X, 2, 3, 3};
    assert_int_equal(mb_portable_predict(&sc.form, &m, raw, NULL), MB_OK);
    for (size_t i = 0; i < 2; i++)
        assert_true(fabs(e.phi[i * 4] + e.phi[i * 4 + 1] + e.phi[i * 4 + 2] + e.phi[i * 4 + 3] - raw[i]) < 1e-12);
    mb_explanation_free(&e);
    mb_frame_free(&fr);
    mb_state_clear(&st);
}

/* {====== additivity on fitted models ======} */

static mb_registry reg;

static int setup(void **state)
{
    (void)state;
    if (mbt_load_plugin(&reg, "trees") != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    mb_registry_close(&reg);
    return 0;
}

/* Covers are training weights: children add up to their parent, and a
** root's cover is root_cover when given (> 0). */
static void check_covers(const mb_tree_form *t, double root_cover)
{
    for (size_t n = 0; n < t->nnodes; n++)
        if (t->feature[n] >= 0 &&
            !(fabs(t->cover[t->left[n]] + t->cover[t->right[n]] - t->cover[n]) <= 1e-6 * t->cover[n]))
            fail_msg("node %zu: cover %g, children %g + %g", n, t->cover[n], t->cover[t->left[n]],
                     t->cover[t->right[n]]);
    if (root_cover > 0)
        for (size_t tr = 0; tr < t->ntrees; tr++)
            if (!(fabs(t->cover[t->root[tr]] - root_cover) <= 1e-6 * root_cover))
                fail_msg("tree %zu: root cover %g, expected %g", tr, t->cover[t->root[tr]], root_cover);
}

static void additivity(const char *set, const char *type, const char *const *settings, int unit_root)
{
    char path[256];
    mb_error err;
    mb_frame *fr;
    mb_data d;
    snprintf(path, sizeof path, "datasets/%s.h5", set);
    if (mb_open(path, &fr, &err) != MB_OK || mb_data_from_frame(fr, 0, &d, &err) != MB_OK)
        fail_msg("%s: %s", path, err.msg);
    const mb_loaded_plugin *owner;
    const mb_model_type *t = mb_registry_find(&reg, type, &owner, &err);
    size_t ns = 0;
    while (settings[ns])
        ns++;
    mb_params p;
    mb_model *m;
    mb_fit_context ctx = {sizeof(mb_fit_context), mb_host_services(), 2, 7, NULL, NULL, NULL};
    if (!t || mb_params_parse(&p, t, settings, ns, &err) != MB_OK || mb_model_create(&m, t, owner, &p, &err) ||
        mb_model_fit(m, &d.ds, NULL, &ctx, &err) != MB_OK)
        fail_msg("%s on %s: %s", type, set, err.msg);
    mb_portable pf;
    memset(&pf, 0, sizeof pf);
    char msg[MB_PLUGIN_ERRLEN] = "";
    assert_int_equal(m->type->portable(m->impl, &pf, msg), MB_PLUGIN_OK);
    assert_non_null(pf.u.trees.cover);
    pf.u.trees.link = MB_LINK_IDENTITY; /* the raw margin */
    const mb_matrix *X = &d.ds.X;
    check_covers(&pf.u.trees, unit_root ? (double)X->rows : 0);
    size_t n = X->rows, M = X->cols, K = pf.u.trees.noutputs;
    double *raw = malloc(n * K * sizeof *raw), *phi = malloc(n * K * (M + 1) * sizeof *phi);
    assert_int_equal(mb_portable_predict(&pf, X, raw, &err), MB_OK);
    if (mb_treeshap(&pf.u.trees, X, 2, phi, &err) != MB_OK)
        fail_msg("treeshap: %s", err.msg);
    double worst = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < K; k++) {
            double s = 0;
            for (size_t j = 0; j <= M; j++)
                s += phi[(i * K + k) * (M + 1) + j];
            worst = fmax(worst, fabs(s - raw[i * K + k]));
        }
    if (!(worst < 1e-5))
        fail_msg("%s on %s: contributions miss the raw margin by %g", type, set, worst);
    free(raw);
    free(phi);
    mb_model_free(&m);
    mb_data_free(&d);
    mb_frame_free(&fr);
}

static void test_additivity(void **state)
{
    (void)state;
    /* squared loss has hessian 1 and bootstraps draw n rows: a root covers n */
    additivity("breast_cancer", "gbdt", (const char *const[]){"n_trees=30", "max_depth=4", NULL}, 0);
    additivity("iris", "gbdt", (const char *const[]){"n_trees=10", NULL}, 0);
    additivity("diabetes", "gbdt", (const char *const[]){"n_trees=20", NULL}, 1);
    additivity("diabetes", "gbdt", (const char *const[]){"n_trees=20", "subsample=0.7", NULL}, 0);
    additivity("wine", "forest", (const char *const[]){"n_trees=10", "max_depth=5", NULL}, 1);
    additivity("diabetes", "forest", (const char *const[]){"n_trees=5", NULL}, 1);
    additivity("breast_cancer", "cart", (const char *const[]){"max_depth=6", NULL}, 1);
}

/* {====== linear SHAP and permutation importance by hand ======} */

static void test_linear(void **state)
{
    (void)state;
    /* raw = 1 + 2 x0 - 3 x1 + 0 x2, means (1, 2, 5): x = (3, 1, NaN) gives
    ** phi = (2*(3-1), -3*(1-2), 0) = (4, 3, 0), expected 1 + 2 - 6 = -3 */
    double coef[3] = {2, -3, 0}, icpt[1] = {1}, mean[3] = {1, 2, 5}, phi[4];
    mb_linear_form l = {3, 1, coef, icpt, MB_LINK_LOGISTIC};
    float X[3] = {3, 1, NAN};
    mb_matrix m = {X, 1, 3, 3};
    assert_int_equal(mb_linear_shap(&l, mean, &m, phi, NULL), MB_OK);
    assert_true(phi[0] == 4 && phi[1] == 3 && phi[2] == 0 && phi[3] == -3);
    /* the sum is the raw margin: 1 + 6 - 3 = 4 */
    assert_true(phi[0] + phi[1] + phi[2] + phi[3] == 4);
}

/* label = x0 > 0: x1 is ignored */
static mb_status step_model(void *ud, const mb_matrix *X, float *label, float *proba, mb_error *err)
{
    (void)ud, (void)err;
    for (size_t i = 0; i < X->rows; i++) {
        label[i] = X->x[i * X->ld] > 0;
        proba[i * 2 + 1] = label[i];
        proba[i * 2] = 1 - label[i];
    }
    return MB_OK;
}

static void test_permutation(void **state)
{
    (void)state;
    float X[8] = {-1, 5, 1, 6, 2, 7, -2, 8}, y[4] = {0, 1, 1, 0};
    mb_matrix m = {X, 4, 2, 2};
    size_t p1[4] = {1, 0, 3, 2}, p2[4] = {0, 1, 2, 3}, p3[4] = {2, 3, 0, 1};
    const size_t *perms[3] = {p1, p2, p3};
    mb_pi_opts o = {3, 0, MB_PI_ACCURACY, 2, perms};
    double base, scores[6], mean[2], sd[2];
    assert_int_equal(mb_permutation_importance(step_model, NULL, &m, y, &o, &base, scores, mean, sd, NULL),
                     MB_OK);
    /* x0 permuted by p1: (1, -1, -2, 2) -> labels (1, 0, 0, 1): accuracy 0; p2 is the
    ** identity; p3: (2, -2, -1, 1) -> accuracy 0. So 1, 0, 1: mean 2/3, sd sqrt(2/9) */
    assert_true(base == 1);
    assert_true(scores[0] == 1 && scores[1] == 0 && scores[2] == 1);
    assert_true(fabs(mean[0] - 2.0 / 3) < 1e-15 && fabs(sd[0] - sqrt(2.0 / 9)) < 1e-15);
    assert_true(mean[1] == 0 && sd[1] == 0);
    /* seeded: the unused feature stays exactly 0 whatever the permutation */
    o.perms = NULL;
    o.repeats = 5;
    o.seed = 42;
    double s2[10];
    assert_int_equal(mb_permutation_importance(step_model, NULL, &m, y, &o, &base, s2, mean, sd, NULL), MB_OK);
    for (int r = 0; r < 5; r++)
        assert_true(s2[5 + r] == 0);
    o.metric = MB_PI_R2;
    mb_error err;
    assert_int_equal(mb_permutation_importance(step_model, NULL, &m, y, &o, &base, s2, mean, sd, &err), MB_EARG);
    assert_int_equal(mb_pi_metric_find("neg_log_loss"), MB_PI_NEG_LOG_LOSS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_brute_binary),     cmocka_unit_test(test_brute_multiclass),
        cmocka_unit_test(test_brute_regression), cmocka_unit_test(test_no_cover), cmocka_unit_test(test_cover_state),
        cmocka_unit_test(test_additivity),       cmocka_unit_test(test_linear),
        cmocka_unit_test(test_permutation),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
