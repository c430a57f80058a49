/*
** test_trees.c: unit tests of the trees plugin (plugins/trees: "cart",
** "forest", "gbdt"), loaded through the host as the program loads it.
**
** What is checked: XOR-like data no linear model fits; a tiny set whose
** best split is known by hand; missing values following the learned
** default direction (both ways); a step function learned exactly; the
** bundled multiclass, binary and regression sets; identical models for
** the same seed; save -> load -> identical predictions; the portable form
** scored by the host (mb_portable_predict) equal to the plugin's own
** predictions; early stopping; progress and cancel; weights; importance.
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
#include "plugin.h"
#include "fixture.h"
#include "portable.h"

/* {====== helpers ======} */

static mb_registry reg;
static const mb_loaded_plugin *owner;

static mb_fit_context ctx2 = {sizeof(mb_fit_context), NULL, 2, 7, NULL, NULL, NULL};

static int setup(void **state)
{
    (void)state;
    if (mbt_load_plugin(&reg, "trees") != 0)
        return -1;
    ctx2.host = mb_host_services();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    mb_registry_close(&reg);
    return 0;
}

/* A model of a type with settings (NULL-terminated "key=value" list). */
static mb_model *model_new(const char *type, const char *const *settings)
{
    mb_error err;
    const mb_model_type *t = mb_registry_find(&reg, type, &owner, &err);
    if (!t)
        fail_msg("find %s: %s", type, err.msg);
    size_t n = 0;
    while (settings && settings[n])
        n++;
    mb_params p;
    if (mb_params_parse(&p, t, settings, n, &err) != MB_OK)
        fail_msg("params: %s", err.msg);
    mb_model *m;
    if (mb_model_create(&m, t, owner, &p, &err) != MB_OK)
        fail_msg("create: %s", err.msg);
    return m;
}

static void fit_ok(mb_model *m, const mb_dataset *d, const mb_dataset *valid, const mb_fit_context *ctx)
{
    mb_error err;
    if (mb_model_fit(m, d, valid, ctx ? ctx : &ctx2, &err) != MB_OK)
        fail_msg("fit: %s", err.msg);
}

static mb_tree_form form_of(mb_model *m)
{
    mb_portable pf;
    char err[MB_PLUGIN_ERRLEN] = "";
    if (m->type->portable(m->impl, &pf, err) != MB_PLUGIN_OK)
        fail_msg("portable: %s", err);
    assert_int_equal(pf.kind, MB_FORM_TREES);
    return pf.u.trees;
}

/* Plugin outputs as the portable form defines them: probabilities of
** class 1 (binary), k probabilities (multiclass) or values. */
static double *plugin_outputs(mb_model *m, const mb_matrix *X, size_t *k)
{
    mb_error err;
    size_t n = X->rows;
    if (m->task == MB_TASK_REGRESSION) {
        float *o = malloc(n * sizeof *o);
        double *r = malloc(n * sizeof *r);
        if (mb_model_predict(m, X, o, &err) != MB_OK)
            fail_msg("predict: %s", err.msg);
        for (size_t i = 0; i < n; i++)
            r[i] = o[i];
        free(o);
        *k = 1;
        return r;
    }
    size_t c = m->nclasses;
    float *o = malloc(n * c * sizeof *o);
    if (mb_model_predict_proba(m, X, o, &err) != MB_OK)
        fail_msg("predict_proba: %s", err.msg);
    *k = c == 2 ? 1 : c;
    double *r = malloc(n * *k * sizeof *r);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < *k; j++)
            r[i * *k + j] = c == 2 ? o[i * 2 + 1] : o[i * c + j];
    free(o);
    return r;
}

static float *predict_all(mb_model *m, const mb_matrix *X)
{
    mb_error err;
    float *o = malloc(X->rows * sizeof *o);
    if (mb_model_predict(m, X, o, &err) != MB_OK)
        fail_msg("predict: %s", err.msg);
    return o;
}

static double accuracy(const float *pred, const float *y, size_t n)
{
    size_t ok = 0;
    for (size_t i = 0; i < n; i++)
        ok += pred[i] == y[i];
    return (double)ok / (double)n;
}

/* A bundled dataset (matrix layout). */
typedef struct bundled {
    mb_frame *f;
    mb_data d;
} bundled;

static void open_bundled(bundled *b, const char *name)
{
    char path[256];
    mb_error err;
    snprintf(path, sizeof path, "datasets/%s.h5", name);
    if (mb_open(path, &b->f, &err) != MB_OK)
        fail_msg("open %s: %s", path, err.msg);
    if (mb_data_from_frame(b->f, 0, &b->d, &err) != MB_OK)
        fail_msg("data %s: %s", path, err.msg);
}

static void close_bundled(bundled *b)
{
    mb_data_free(&b->d);
    mb_frame_free(&b->f);
}

/* Every 4th row to the test part, the rest to train (copies). */
typedef struct split_data {
    float *xtr, *ytr, *xte, *yte;
    mb_dataset tr, te;
} split_data;

static void split4(const mb_dataset *d, split_data *s)
{
    size_t n = d->X.rows, F = d->X.cols, nte = (n + 3) / 4, ntr = n - nte;
    s->xtr = malloc(ntr * F * sizeof(float));
    s->ytr = malloc(ntr * sizeof(float));
    s->xte = malloc(nte * F * sizeof(float));
    s->yte = malloc(nte * sizeof(float));
    size_t a = 0, b = 0;
    for (size_t i = 0; i < n; i++) {
        const float *x = d->X.x + i * d->X.ld;
        if (i % 4 == 0) {
            memcpy(s->xte + b * F, x, F * sizeof(float));
            s->yte[b++] = d->y[i];
        } else {
            memcpy(s->xtr + a * F, x, F * sizeof(float));
            s->ytr[a++] = d->y[i];
        }
    }
    s->tr = *d;
    s->tr.X = (mb_matrix){s->xtr, ntr, F, F};
    s->tr.y = s->ytr;
    s->tr.w = NULL;
    s->te = s->tr;
    s->te.X = (mb_matrix){s->xte, nte, F, F};
    s->te.y = s->yte;
}

static void split_free(split_data *s)
{
    free(s->xtr);
    free(s->ytr);
    free(s->xte);
    free(s->yte);
}

/* The portable form scored by the host equals the plugin's outputs. */
static void check_portable(mb_model *m, const mb_matrix *X, double tol)
{
    mb_portable pf;
    char perr[MB_PLUGIN_ERRLEN] = "";
    mb_error err;
    if (m->type->portable(m->impl, &pf, perr) != MB_PLUGIN_OK)
        fail_msg("portable: %s", perr);
    if (mb_portable_check(&pf, &err) != MB_OK)
        fail_msg("portable check: %s", err.msg);
    size_t k, kp = mb_portable_noutputs(&pf);
    double *mine = plugin_outputs(m, X, &k);
    assert_int_equal(k, kp);
    double *host = malloc(X->rows * kp * sizeof *host);
    if (mb_portable_predict(&pf, X, host, &err) != MB_OK)
        fail_msg("portable predict: %s", err.msg);
    for (size_t i = 0; i < X->rows * k; i++)
        if (!(fabs(mine[i] - host[i]) <= tol * (fabs(host[i]) > 1 ? fabs(host[i]) : 1)))
            fail_msg("%s: output %zu: plugin %.9g, portable %.9g", m->type->name, i, mine[i], host[i]);
    /* small batches (one row, three rows) take another path in the plugin:
    ** the same outputs bit for bit */
    for (size_t step = 1; step <= 3; step += 2) {
        for (size_t r0 = 0; r0 < X->rows; r0 += step) {
            size_t cnt = X->rows - r0 < step ? X->rows - r0 : step, k1;
            mb_matrix part = {X->x + r0 * X->ld, cnt, X->cols, X->ld};
            double *few = plugin_outputs(m, &part, &k1);
            for (size_t i = 0; i < cnt * k; i++)
                if (memcmp(&few[i], &mine[r0 * k + i], sizeof few[i]))
                    fail_msg("%s: rows %zu..+%zu: output %zu: %.17g, in the whole batch %.17g", m->type->name,
                             r0, cnt, i, few[i], mine[r0 * k + i]);
            free(few);
        }
    }
    free(mine);
    free(host);
}

/* Save, load into a fresh model, and compare predictions bit for bit. */
static void check_roundtrip(mb_model *m, const char *type, const char *const *settings, const mb_matrix *X)
{
    mb_state st = {0};
    mb_state_writer w = mb_state_writer_for(&st);
    char perr[MB_PLUGIN_ERRLEN] = "";
    if (m->type->save(m->impl, &w, perr) != MB_PLUGIN_OK)
        fail_msg("save: %s", perr);
    mb_model *m2 = model_new(type, settings);
    mb_state_reader r = mb_state_reader_for(&st);
    if (m2->type->load(m2->impl, &r, perr) != MB_PLUGIN_OK)
        fail_msg("load: %s", perr);
    m2->task = m->task;
    m2->nfeatures = m->nfeatures;
    m2->nclasses = m->nclasses;
    size_t k1, k2;
    double *a = plugin_outputs(m, X, &k1), *b = plugin_outputs(m2, X, &k2);
    assert_int_equal(k1, k2);
    for (size_t i = 0; i < X->rows * k1; i++)
        if (a[i] != b[i])
            fail_msg("%s: output %zu differs after load: %.9g vs %.9g", type, i, a[i], b[i]);
    /* a damaged state is refused, not trusted */
    for (size_t i = 0; i < st.n; i++)
        if (!strcmp(st.arrays[i].name, "left") && st.arrays[i].count > 1) {
            ((int32_t *)st.arrays[i].data)[0] = 0; /* a cycle */
            mb_model *m3 = model_new(type, settings);
            int rc = m3->type->load(m3->impl, &r, perr);
            assert_int_equal(rc, MB_PLUGIN_EFORMAT);
            mb_model_free(&m3);
        }
    free(a);
    free(b);
    mb_model_free(&m2);
    mb_state_clear(&st);
}

static const char *const kinds[] = {"cart", "forest", "gbdt"};

/* {====== synthetic data ======} */

static uint64_t rng_state = 12345;
static double urand(void)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(rng_state >> 11) * 0x1.0p-53;
}

/* XOR: class = (x0 > 0) != (x1 > 0), two noise features. */
static void make_xor(size_t n, float *X, float *y)
{
    for (size_t i = 0; i < n; i++) {
        for (int j = 0; j < 4; j++)
            X[i * 4 + j] = (float)(2 * urand() - 1);
        y[i] = (float)((X[i * 4] > 0) != (X[i * 4 + 1] > 0));
    }
}

/* {====== tests ======} */

static void test_plugin_describes_itself(void **state)
{
    (void)state;
    mb_error err;
    for (int k = 0; k < 3; k++) {
        const mb_model_type *t = mb_registry_find(&reg, kinds[k], NULL, &err);
        assert_non_null(t);
        assert_true(t->tasks & MB_TASK_REGRESSION);
        assert_true(t->tasks & MB_TASK_BINARY);
        assert_true(t->tasks & MB_TASK_MULTICLASS);
        assert_true(t->nparams > 3);
    }
}

static void test_xor(void **state)
{
    (void)state;
    size_t n = 800;
    float *X = malloc(n * 4 * sizeof *X), *y = malloc(n * sizeof *y);
    make_xor(n, X, y);
    mb_dataset d = {{X, n, 4, 4}, y, NULL, MB_TASK_BINARY, 2, NULL};
    mb_dataset tr = mb_dataset_rows(&d, 0, 600), te = mb_dataset_rows(&d, 600, 200);
    const char *const gs[] = {"n_trees=50", "min_samples_leaf=5", NULL};
    const char *const fs[] = {"n_trees=30", NULL};
    const char *const *sets[] = {NULL, fs, gs};
    for (int k = 0; k < 3; k++) {
        mb_model *m = model_new(kinds[k], sets[k]);
        fit_ok(m, &tr, NULL, NULL);
        float *p = predict_all(m, &te.X);
        double acc = accuracy(p, te.y, 200);
        if (acc < 0.93)
            fail_msg("%s: XOR test accuracy %.3f", kinds[k], acc);
        check_portable(m, &te.X, 1e-6);
        free(p);
        mb_model_free(&m);
    }
    free(X);
    free(y);
}

/* x0 = 1..8, y = 1 for x0 >= 5 except noise in x1: the best split is
** x0 <= 4.5 (the midpoint of 4 and 5), with pure leaves. */
static void test_known_split(void **state)
{
    (void)state;
    float X[16], y[8];
    const float noise[8] = {3, 1, 4, 1, 5, 9, 2, 6};
    for (int i = 0; i < 8; i++) {
        X[2 * i] = (float)(i + 1);
        X[2 * i + 1] = noise[i];
        y[i] = i >= 4;
    }
    mb_dataset d = {{X, 8, 2, 2}, y, NULL, MB_TASK_BINARY, 2, NULL};
    const char *const cs[] = {"max_depth=1", NULL};
    mb_model *m = model_new("cart", cs);
    fit_ok(m, &d, NULL, NULL);
    mb_tree_form t = form_of(m);
    assert_int_equal(t.ntrees, 1);
    assert_int_equal(t.nnodes, 3);
    int r = t.root[0];
    assert_int_equal(t.feature[r], 0);
    assert_true(t.threshold[r] == 4.5f);
    assert_true(t.value[t.left[r]] == 0.0);
    assert_true(t.value[t.right[r]] == 1.0);
    mb_model_free(&m);

    /* gbdt: one tree of depth 1, no shrinkage or regularisation: the leaf
    ** values are the Newton steps -G/H from the base score 0 (p = 0.5) */
    const char *const gs[] = {"n_trees=1", "max_depth=1", "min_samples_leaf=1", "learning_rate=1",
                              "lambda_l2=0", NULL};
    m = model_new("gbdt", gs);
    fit_ok(m, &d, NULL, NULL);
    t = form_of(m);
    r = t.root[0];
    assert_int_equal(t.feature[r], 0);
    assert_true(t.threshold[r] == 4.5f);
    assert_true(fabs(t.base_score[0]) < 1e-12);
    /* left: 4 rows y=0, g = 0.5 each, h = 0.25 each: -2 / 1 = -2 */
    assert_true(fabs(t.value[t.left[r]] + 2.0) < 1e-6);
    assert_true(fabs(t.value[t.right[r]] - 2.0) < 1e-6);
    assert_int_equal(t.link, MB_LINK_LOGISTIC);
    mb_model_free(&m);

    /* regression: y = x0 * 10 step at 4.5, squared error: means 25, 65 */
    float yr[8];
    for (int i = 0; i < 8; i++)
        yr[i] = i < 4 ? 25.0f + (float)(i - 2) : 65.0f;
    mb_dataset dr = {{X, 8, 2, 2}, yr, NULL, MB_TASK_REGRESSION, 0, NULL};
    m = model_new("cart", cs);
    fit_ok(m, &dr, NULL, NULL);
    t = form_of(m);
    r = t.root[0];
    assert_int_equal(t.feature[r], 0);
    assert_true(t.threshold[r] == 4.5f);
    assert_true(fabs(t.value[t.left[r]] - 24.5) < 1e-9);
    assert_true(fabs(t.value[t.right[r]] - 65.0) < 1e-9);
    mb_model_free(&m);
}

/* Class 1 has x0 > 0.5 or missing; class 0 has x0 < 0.5. The tree must
** send NaN right; with the roles swapped, left. */
static void test_missing_default_direction(void **state)
{
    (void)state;
    size_t n = 400;
    float *X = malloc(n * 2 * sizeof *X), *y = malloc(n * sizeof *y);
    for (int swap = 0; swap < 2; swap++) {
        for (size_t i = 0; i < n; i++) {
            int c = (int)(i % 2);
            float x = (float)(c ? 0.5 + 0.5 * urand() : 0.5 * urand());
            if (c == 1 && i % 4 == 1)
                x = NAN;
            X[2 * i] = x;
            X[2 * i + 1] = (float)urand();
            y[i] = swap ? (float)(1 - c) : (float)c;
        }
        /* swap: NaN rows are class 0, with the small values */
        if (swap)
            for (size_t i = 0; i < n; i++)
                if (!isnan(X[2 * i]))
                    X[2 * i] = 1.0f - X[2 * i];
        mb_dataset d = {{X, n, 2, 2}, y, NULL, MB_TASK_BINARY, 2, NULL};
        const char *const cs[] = {"max_depth=1", NULL};
        const char *const gs[] = {"n_trees=5", "max_depth=1", NULL};
        const char *const fs[] = {"n_trees=5", "max_depth=1", "max_features=1", NULL};
        const char *const *sets[] = {cs, fs, gs};
        for (int k = 0; k < 3; k++) {
            mb_model *m = model_new(kinds[k], sets[k]);
            fit_ok(m, &d, NULL, NULL);
            mb_tree_form t = form_of(m);
            int r = t.root[0];
            assert_int_equal(t.feature[r], 0);
            /* NaN goes with class 1 (right) unswapped, with class 0 (left) swapped */
            if (t.default_left[r] != (swap ? 1 : 0))
                fail_msg("%s swap=%d: default_left = %d", kinds[k], swap, t.default_left[r]);
            float q[4] = {NAN, 0.3f, NAN, 0.7f};
            mb_matrix Q = {q, 2, 2, 2};
            float *p = predict_all(m, &Q);
            assert_true(p[0] == (swap ? 0.0f : 1.0f));
            check_portable(m, &Q, 1e-6);
            check_portable(m, &d.X, 1e-6);
            free(p);
            mb_model_free(&m);
        }
    }
    free(X);
    free(y);
}

/* y = a step function of x0 with 6 levels: regression trees learn it
** exactly (cart; gbdt with one unshrunk tree, depth-wise and leaf-wise
** with exactly 6 leaves; a forest without bootstrap). */
static void test_step_function(void **state)
{
    (void)state;
    size_t n = 600;
    float *X = malloc(n * 2 * sizeof *X), *y = malloc(n * sizeof *y);
    const float level[6] = {3, -1, 7, 7.5f, 0, 2};
    for (size_t i = 0; i < n; i++) {
        /* 60 distinct values, fewer than the bins: split points are exact */
        X[2 * i] = (float)((floor(60 * urand()) + 0.5) / 10);
        X[2 * i + 1] = (float)urand();
        y[i] = level[(int)X[2 * i]];
    }
    mb_dataset d = {{X, n, 2, 2}, y, NULL, MB_TASK_REGRESSION, 0, NULL};
    const char *const cs[] = {NULL};
    const char *const gs[] = {"n_trees=1", "max_depth=6", "min_samples_leaf=1", "learning_rate=1",
                              "lambda_l2=0", NULL};
    const char *const gl[] = {"n_trees=1", "growth=leafwise", "max_leaves=6", "max_depth=0",
                              "min_samples_leaf=1", "learning_rate=1", "lambda_l2=0", NULL};
    const char *const fs[] = {"n_trees=3", "bootstrap=false", "max_features=1", NULL};
    const char *const *sets[] = {cs, gs, gl, fs};
    const char *names[] = {"cart", "gbdt", "gbdt", "forest"};
    float grid[2 * 60];
    for (int i = 0; i < 60; i++) {
        grid[2 * i] = (float)(0.05 + 0.1 * i);
        grid[2 * i + 1] = 0.5f;
    }
    mb_matrix G = {grid, 60, 2, 2};
    for (int k = 0; k < 4; k++) {
        mb_model *m = model_new(names[k], sets[k]);
        fit_ok(m, &d, NULL, NULL);
        float *p = predict_all(m, &G);
        for (int i = 0; i < 60; i++)
            if (fabsf(p[i] - level[i / 10]) > 1e-4f)
                fail_msg("%s (%d): f(%.2f) = %g, want %g", names[k], k, (double)grid[2 * i], (double)p[i],
                         (double)level[i / 10]);
        if (k == 2)
            assert_true(form_of(m).nnodes == 11); /* 6 leaves */
        free(p);
        mb_model_free(&m);
    }
    free(X);
    free(y);
}

static void test_multiclass_bundled(void **state)
{
    (void)state;
    const char *sets_names[] = {"iris", "wine", "digits"};
    const double want[3][3] = {{0.89, 0.89, 0.89}, {0.85, 0.9, 0.9}, {0.75, 0.9, 0.9}};
    const char *const gs[] = {"n_trees=30", "min_samples_leaf=3", NULL};
    const char *const fs[] = {"n_trees=30", NULL};
    const char *const *sets[] = {NULL, fs, gs};
    for (int s = 0; s < 3; s++) {
        bundled b;
        open_bundled(&b, sets_names[s]);
        assert_int_equal(b.d.ds.task, MB_TASK_MULTICLASS);
        split_data sp;
        split4(&b.d.ds, &sp);
        for (int k = 0; k < 3; k++) {
            mb_model *m = model_new(kinds[k], sets[k]);
            fit_ok(m, &sp.tr, NULL, NULL);
            float *p = predict_all(m, &sp.te.X);
            double acc = accuracy(p, sp.te.y, sp.te.X.rows);
            if (acc < want[s][k])
                fail_msg("%s on %s: accuracy %.3f < %.2f", kinds[k], sets_names[s], acc, want[s][k]);
            /* probabilities sum to 1 and agree with predict */
            size_t c = b.d.ds.nclasses;
            float *pr = malloc(sp.te.X.rows * c * sizeof *pr);
            mb_error err;
            assert_int_equal(mb_model_predict_proba(m, &sp.te.X, pr, &err), MB_OK);
            for (size_t i = 0; i < sp.te.X.rows; i++) {
                double sum = 0;
                size_t best = 0;
                for (size_t j = 0; j < c; j++) {
                    sum += (double)pr[i * c + j];
                    if (pr[i * c + j] > pr[i * c + best])
                        best = j;
                }
                assert_true(fabs(sum - 1) < 1e-5);
                assert_true((float)best == p[i]);
            }
            if (!strcmp(kinds[k], "gbdt")) {
                mb_tree_form t = form_of(m);
                assert_int_equal(t.noutputs, c);
                assert_int_equal(t.leaf_width, 1);
                assert_int_equal(t.ntrees, 30 * c);
                assert_int_equal(t.link, MB_LINK_SOFTMAX);
                for (size_t i = 0; i < t.ntrees; i++)
                    assert_int_equal(t.tree_output[i], (int)(i % c));
            }
            check_portable(m, &sp.te.X, 1e-6);
            free(pr);
            free(p);
            mb_model_free(&m);
        }
        split_free(&sp);
        close_bundled(&b);
    }
}

static void test_binary_and_regression_bundled(void **state)
{
    (void)state;
    /* breast_cancer: binary; diabetes and auto_mpg (with missing values): regression; vote: missing */
    const char *names[] = {"breast_cancer", "vote", "diabetes", "auto_mpg"};
    for (int s = 0; s < 4; s++) {
        bundled b;
        open_bundled(&b, names[s]);
        split_data sp;
        split4(&b.d.ds, &sp);
        for (int k = 0; k < 3; k++) {
            const char *const fs[] = {"n_trees=20", NULL};
            const char *const gs[] = {"n_trees=40", NULL};
            const char *const *sets[] = {NULL, fs, gs};
            mb_model *m = model_new(kinds[k], sets[k]);
            fit_ok(m, &sp.tr, NULL, NULL);
            float *p = predict_all(m, &sp.te.X);
            size_t nte = sp.te.X.rows;
            if (b.d.ds.task == MB_TASK_REGRESSION) {
                double sse = 0, sst = 0, mean = 0;
                for (size_t i = 0; i < nte; i++)
                    mean += (double)sp.te.y[i] / (double)nte;
                for (size_t i = 0; i < nte; i++) {
                    sse += (double)(p[i] - sp.te.y[i]) * (double)(p[i] - sp.te.y[i]);
                    sst += ((double)sp.te.y[i] - mean) * ((double)sp.te.y[i] - mean);
                }
                double r2 = 1 - sse / sst;
                /* one unpruned tree on diabetes overfits: only ask it to beat nothing much */
                double want = k == 0 ? -0.5 : 0.25;
                if (r2 < want)
                    fail_msg("%s on %s: R^2 %.3f", kinds[k], names[s], r2);
            } else {
                double acc = accuracy(p, sp.te.y, nte);
                if (acc < 0.88)
                    fail_msg("%s on %s: accuracy %.3f", kinds[k], names[s], acc);
            }
            check_portable(m, &sp.te.X, 1e-6);
            free(p);
            mb_model_free(&m);
        }
        split_free(&sp);
        close_bundled(&b);
    }
}

static int same_form(const mb_tree_form *a, const mb_tree_form *b)
{
    if (a->ntrees != b->ntrees || a->nnodes != b->nnodes || a->leaf_width != b->leaf_width)
        return 0;
    return !memcmp(a->feature, b->feature, a->nnodes * 4) && !memcmp(a->threshold, b->threshold, a->nnodes * 4) &&
           !memcmp(a->left, b->left, a->nnodes * 4) && !memcmp(a->default_left, b->default_left, a->nnodes) &&
           !memcmp(a->value, b->value, a->nnodes * a->leaf_width * 8);
}

static void test_same_seed_same_model(void **state)
{
    (void)state;
    bundled b;
    open_bundled(&b, "breast_cancer");
    const char *const gs[] = {"n_trees=20", "subsample=0.7", "colsample=0.6", NULL};
    const char *const fs[] = {"n_trees=10", NULL};
    const char *const *sets[] = {NULL, fs, gs};
    for (int k = 0; k < 3; k++) {
        mb_model *m1 = model_new(kinds[k], sets[k]), *m2 = model_new(kinds[k], sets[k]),
                 *m3 = model_new(kinds[k], sets[k]);
        fit_ok(m1, &b.d.ds, NULL, NULL);
        fit_ok(m2, &b.d.ds, NULL, NULL);
        mb_fit_context other = ctx2;
        other.seed = 8;
        fit_ok(m3, &b.d.ds, NULL, &other);
        mb_tree_form f1 = form_of(m1), f2 = form_of(m2), f3 = form_of(m3);
        if (!same_form(&f1, &f2))
            fail_msg("%s: two fits with the same seed differ", kinds[k]);
        if (k > 0 && same_form(&f1, &f3))
            fail_msg("%s: a different seed gave the same model", kinds[k]);
        /* forest and gbdt (exact integer histograms): the thread count does not matter either */
        if (k >= 1) {
            mb_model *m4 = model_new(kinds[k], sets[k]);
            mb_fit_context one = ctx2;
            one.threads = 1;
            fit_ok(m4, &b.d.ds, NULL, &one);
            mb_tree_form f4 = form_of(m4);
            assert_true(same_form(&f1, &f4));
            mb_model_free(&m4);
        }
        mb_model_free(&m1);
        mb_model_free(&m2);
        mb_model_free(&m3);
    }
    close_bundled(&b);
}

/* Large enough for the parallel paths (row- and column-wise histograms,
** split partitions): the same model on 1 and 2 threads, for squared error
** (constant hessian) and logloss, and a sensible fit. */
static void test_threads_large(void **state)
{
    (void)state;
    size_t n = 120000, F = 10;
    float *X = malloc(n * F * sizeof *X), *y = malloc(n * sizeof *y), *yb = malloc(n * sizeof *yb);
    for (size_t i = 0; i < n; i++) {
        for (size_t f = 0; f < F; f++)
            X[i * F + f] = (float)urand();
        if (i % 97 == 0)
            X[i * F + 3] = NAN;
        double t = 3 * X[i * F] + 2 * (X[i * F + 1] > 0.5f) - X[i * F + 2] * X[i * F + 4];
        y[i] = (float)(t + 0.1 * (urand() - 0.5));
        yb[i] = t + 0.5 * (urand() - 0.5) > 1.5 ? 1.0f : 0.0f;
    }
    mb_dataset dr = {{X, n, F, F}, y, NULL, MB_TASK_REGRESSION, 0, NULL};
    mb_dataset db = {{X, n, F, F}, yb, NULL, MB_TASK_BINARY, 2, NULL};
    const mb_dataset *ds[] = {&dr, &db};
    /* two threads grow a depth-wise tree a level at a time, one thread a
    ** leaf at a time: the same trees; also with sampled rows and columns
    ** (rows out of order in their ranges) and deeper, sparser levels */
    const char *const gs[] = {"n_trees=5", "max_depth=6", NULL};
    const char *const gs2[] = {"n_trees=4", "max_depth=9", "subsample=0.7", "colsample=0.8",
                               "min_samples_leaf=5", NULL};
    for (int k = 0; k < 4; k++) {
        const char *const *set = k < 2 ? gs : gs2;
        mb_model *m1 = model_new("gbdt", set), *m2 = model_new("gbdt", set);
        mb_fit_context one = ctx2;
        one.threads = 1;
        fit_ok(m1, ds[k % 2], NULL, NULL);
        fit_ok(m2, ds[k % 2], NULL, &one);
        mb_tree_form f1 = form_of(m1), f2 = form_of(m2);
        assert_true(same_form(&f1, &f2));
        if (k == 0) {
            float *p = predict_all(m1, &dr.X);
            double se = 0, sv = 0, mean = 0;
            for (size_t i = 0; i < n; i++)
                mean += (double)y[i] / (double)n;
            for (size_t i = 0; i < n; i++) {
                double e = (double)p[i] - (double)y[i], v = (double)y[i] - mean;
                se += e * e;
                sv += v * v;
            }
            /* five trees at learning rate 0.1 explain about 40% of the variance */
            assert_true(se < 0.75 * sv);
            free(p);
        }
        mb_model_free(&m1);
        mb_model_free(&m2);
    }
    free(X);
    free(y);
    free(yb);
}

static void test_save_load(void **state)
{
    (void)state;
    const char *names[] = {"breast_cancer", "iris", "auto_mpg"};
    for (int s = 0; s < 3; s++) {
        bundled b;
        open_bundled(&b, names[s]);
        for (int k = 0; k < 3; k++) {
            const char *const fs[] = {"n_trees=10", NULL};
            const char *const gs[] = {"n_trees=15", NULL};
            const char *const *sets[] = {NULL, fs, gs};
            mb_model *m = model_new(kinds[k], sets[k]);
            fit_ok(m, &b.d.ds, NULL, NULL);
            check_roundtrip(m, kinds[k], sets[k], &b.d.ds.X);
            mb_model_free(&m);
        }
        close_bundled(&b);
    }
}

typedef struct prog {
    int calls, cancel_at;
    volatile int cancel;
    double last_train, last_valid;
} prog;

static void on_progress(void *ud, double fraction, const char *msg, double tl, double vl)
{
    prog *p = ud;
    (void)fraction;
    (void)msg;
    p->calls++;
    p->last_train = tl;
    p->last_valid = vl;
    if (p->cancel_at && p->calls >= p->cancel_at)
        p->cancel = 1;
}

static void test_progress_cancel_early_stopping(void **state)
{
    (void)state;
    bundled b;
    open_bundled(&b, "breast_cancer");
    split_data sp;
    split4(&b.d.ds, &sp);
    for (int k = 1; k < 3; k++) {
        prog pr = {0};
        mb_fit_context c = ctx2;
        c.progress = on_progress;
        c.progress_ud = &pr;
        c.cancel = &pr.cancel;
        const char *const s[] = {"n_trees=12", NULL};
        mb_model *m = model_new(kinds[k], s);
        fit_ok(m, &sp.tr, &sp.te, &c);
        /* forest reports per batch of trees (one per thread) */
        assert_true(pr.calls >= (k == 2 ? 12 : 6));
        assert_false(isnan(pr.last_train));
        assert_false(isnan(pr.last_valid));
        assert_true(pr.last_train < 0.4);
        pr = (prog){0};
        pr.cancel_at = 3;
        mb_error err;
        assert_int_equal(mb_model_fit(m, &sp.tr, NULL, &c, &err), MB_ECANCELLED);
        mb_model_free(&m);
    }
    /* early stopping on a validation set: a high learning rate overfits soon */
    const char *const es[] = {"n_trees=500", "learning_rate=0.5", "early_stopping_rounds=5", NULL};
    mb_model *m = model_new("gbdt", es);
    fit_ok(m, &sp.tr, &sp.te, NULL);
    size_t nt = form_of(m).ntrees;
    assert_true(nt >= 1 && nt < 400);
    mb_model_free(&m);
    /* ... and on a held-out part of train */
    m = model_new("gbdt", es);
    fit_ok(m, &sp.tr, NULL, NULL);
    nt = form_of(m).ntrees;
    assert_true(nt >= 1 && nt < 400);
    mb_model_free(&m);
    split_free(&sp);
    close_bundled(&b);
}

static void test_weights_and_importance(void **state)
{
    (void)state;
    /* rows with weight 0 carry wrong labels: they must change nothing */
    size_t n = 600;
    float *X = malloc(2 * n * 4 * sizeof *X), *y = malloc(2 * n * sizeof *y), *w = malloc(2 * n * sizeof *w);
    make_xor(n, X, y);
    for (size_t i = 0; i < n; i++) {
        memcpy(X + (n + i) * 4, X + i * 4, 4 * sizeof *X);
        y[n + i] = 1 - y[i];
        w[i] = 1;
        w[n + i] = 0;
    }
    mb_dataset d = {{X, 2 * n, 4, 4}, y, w, MB_TASK_BINARY, 2, NULL};
    mb_dataset d1 = {{X, n, 4, 4}, y, NULL, MB_TASK_BINARY, 2, NULL};
    const char *const gs[] = {"n_trees=20", "min_samples_leaf=1", "min_child_weight=0", NULL};
    for (int k = 0; k < 3; k += 2) {
        const char *const *s = k == 2 ? gs : NULL;
        mb_model *a = model_new(kinds[k], s), *b = model_new(kinds[k], s);
        fit_ok(a, &d, NULL, NULL);
        fit_ok(b, &d1, NULL, NULL);
        float *pa = predict_all(a, &d1.X), *pb = predict_all(b, &d1.X);
        double agree = accuracy(pa, pb, n);
        if (agree < 0.97)
            fail_msg("%s: zero-weight rows changed %.1f%% of predictions", kinds[k], 100 * (1 - agree));
        /* importance: the two XOR features carry nearly all gain */
        double imp[4], cnt[4];
        char perr[MB_PLUGIN_ERRLEN];
        assert_int_equal(a->type->importance(a->impl, 1, imp, perr), MB_PLUGIN_OK);
        assert_int_equal(a->type->importance(a->impl, 0, cnt, perr), MB_PLUGIN_OK);
        assert_true(imp[0] + imp[1] > 0.8 * (imp[0] + imp[1] + imp[2] + imp[3]));
        assert_true(cnt[0] >= 1 && cnt[1] >= 1);
        free(pa);
        free(pb);
        mb_model_free(&a);
        mb_model_free(&b);
    }
    free(X);
    free(y);
    free(w);
}

static void test_losses_and_options(void **state)
{
    (void)state;
    bundled b;
    open_bundled(&b, "diabetes");
    split_data sp;
    split4(&b.d.ds, &sp);
    const char *const opts[][6] = {
        {"loss=absolute", "n_trees=60", NULL},
        {"loss=huber", "huber_delta=20", "n_trees=60", NULL},
        {"growth=leafwise", "max_leaves=8", "n_trees=60", NULL},
        {"lambda_l1=5", "subsample=0.8", "colsample=0.5", "n_trees=60", NULL},
    };
    for (int i = 0; i < 4; i++) {
        mb_model *m = model_new("gbdt", opts[i]);
        fit_ok(m, &sp.tr, NULL, NULL);
        float *p = predict_all(m, &sp.te.X);
        double sae = 0, sab = 0, mean = 0;
        size_t nte = sp.te.X.rows;
        for (size_t j = 0; j < nte; j++)
            mean += (double)sp.te.y[j] / (double)nte;
        for (size_t j = 0; j < nte; j++) {
            sae += fabs((double)(p[j] - sp.te.y[j]));
            sab += fabs(mean - (double)sp.te.y[j]);
        }
        if (!(sae < 0.85 * sab))
            fail_msg("option set %d: MAE %.2f vs baseline %.2f", i, sae / nte, sab / nte);
        check_portable(m, &sp.te.X, 1e-4);
        free(p);
        mb_model_free(&m);
    }
    /* pruning: a larger ccp_alpha gives a smaller tree */
    const char *const c0[] = {NULL}, *const c1[] = {"ccp_alpha=20", NULL};
    mb_model *a = model_new("cart", c0), *bm = model_new("cart", c1);
    fit_ok(a, &sp.tr, NULL, NULL);
    fit_ok(bm, &sp.tr, NULL, NULL);
    assert_true(form_of(bm).nnodes < form_of(a).nnodes);
    assert_true(form_of(bm).nnodes >= 1);
    check_portable(bm, &sp.te.X, 1e-6);
    mb_model_free(&a);
    mb_model_free(&bm);
    /* bad data is refused with a message */
    mb_model *m = model_new("gbdt", NULL);
    float yb[2] = {0, NAN}, xb[2] = {1, 2};
    mb_dataset bad = {{xb, 2, 1, 1}, yb, NULL, MB_TASK_REGRESSION, 0, NULL};
    mb_error err;
    assert_int_not_equal(mb_model_fit(m, &bad, NULL, &ctx2, &err), MB_OK);
    assert_non_null(strstr(err.msg, "label"));
    /* unfitted predict is an error, not a crash */
    float o[2];
    assert_int_not_equal(m->type->predict(m->impl, &bad.X, o, err.msg), MB_PLUGIN_OK);
    mb_model_free(&m);
    split_free(&sp);
    close_bundled(&b);
}

/* {====== fit_info ======} */

/* Index of name in fi, or -1. */
static int info_find(const mb_fit_info *fi, const char *name)
{
    for (size_t i = 0; i < fi->n; i++)
        if (strcmp(fi->names[i], name) == 0)
            return (int)i;
    return -1;
}

static double info_value(const mb_fit_info *fi, const char *name)
{
    int i = info_find(fi, name);
    if (i < 0)
        fail_msg("fit_info has no '%s' (%zu values)", name, fi->n);
    return fi->values[i];
}

static mb_fit_info info_of(mb_model *m)
{
    mb_fit_info fi;
    mb_error err;
    if (mb_model_fit_info(m, &fi, &err) != MB_OK)
        fail_msg("fit_info: %s", err.msg);
    return fi;
}

/* Mean log loss of a binary model's probabilities on d. */
static double binary_logloss(mb_model *m, const mb_dataset *d)
{
    size_t n = d->X.rows;
    float *pr = malloc(2 * n * sizeof *pr);
    mb_error err;
    assert_int_equal(mb_model_predict_proba(m, &d->X, pr, &err), MB_OK);
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s -= log((double)pr[2 * i + (d->y[i] > 0.5f ? 1 : 0)]);
    free(pr);
    return s / (double)n;
}

/* A state equal to st without the array named drop. */
static void state_without(const mb_state *st, const char *drop, mb_state *out)
{
    mb_state_writer w = mb_state_writer_for(out);
    for (size_t i = 0; i < st->n; i++)
        if (strcmp(st->arrays[i].name, drop) != 0)
            assert_int_equal(w.put(w.ud, st->arrays[i].name, st->arrays[i].type, st->arrays[i].data,
                                   st->arrays[i].count), MB_PLUGIN_OK);
}

/* Load state st into a new model of m's kind; its fit_info into *fi (the
** model is returned: the arrays live as long as it). */
static mb_model *load_copy(const char *type, const char *const *settings, mb_state *st, mb_fit_info *fi)
{
    mb_model *b = model_new(type, settings);
    mb_state_reader r = mb_state_reader_for(st);
    char err[MB_PLUGIN_ERRLEN] = "";
    if (b->type->load(b->impl, &r, err) != MB_PLUGIN_OK)
        fail_msg("load: %s", err);
    assert_int_equal(b->type->fit_info(b->impl, fi, err), MB_PLUGIN_OK);
    return b;
}

static void test_fit_info(void **state)
{
    (void)state;
    bundled b;
    open_bundled(&b, "breast_cancer");
    split_data sp;
    split4(&b.d.ds, &sp);
    mb_fit_info fi;
    char perr[MB_PLUGIN_ERRLEN] = "";

    /* cart: n_leaves and depth, as the tree's nodes say */
    const char *const cs[] = {"max_depth=3", NULL};
    mb_model *m = model_new("cart", cs);
    assert_int_equal(m->type->fit_info(m->impl, &fi, perr), MB_PLUGIN_OK);
    assert_int_equal(fi.n, 0);
    fit_ok(m, &sp.tr, NULL, NULL);
    fi = info_of(m);
    assert_int_equal(fi.n, 2);
    assert_string_equal(fi.names[0], "n_leaves");
    assert_string_equal(fi.names[1], "depth");
    mb_tree_form t = form_of(m);
    size_t leaves = 0;
    for (size_t i = 0; i < t.nnodes; i++)
        leaves += t.feature[i] < 0;
    assert_true(info_value(&fi, "n_leaves") == (double)leaves);
    assert_true(leaves >= 5 && leaves <= 8);
    assert_true(info_value(&fi, "depth") == 3.0);
    mb_model_free(&m);
    const char *const stump[] = {"max_depth=1", NULL};
    m = model_new("cart", stump);
    fit_ok(m, &sp.tr, NULL, NULL);
    fi = info_of(m);
    assert_true(info_value(&fi, "n_leaves") == 2.0 && info_value(&fi, "depth") == 1.0);
    mb_model_free(&m);

    /* forest: n_trees, and oob_score only when asked for */
    const char *const fs[] = {"n_trees=20", "oob_score=true", NULL};
    const char *const fs0[] = {"n_trees=20", NULL};
    m = model_new("forest", fs);
    fit_ok(m, &sp.tr, NULL, NULL);
    fi = info_of(m);
    assert_int_equal(fi.n, 2);
    assert_true(info_value(&fi, "n_trees") == 20.0);
    double oob = info_value(&fi, "oob_score");
    assert_true(oob > 0.85 && oob <= 1.0);
    mb_state st = {0};
    mb_state_writer w = mb_state_writer_for(&st);
    assert_int_equal(m->type->save(m->impl, &w, perr), MB_PLUGIN_OK);
    mb_fit_info fl;
    mb_model *l = load_copy("forest", fs, &st, &fl);
    assert_int_equal(fl.n, 2);
    assert_true(info_value(&fl, "n_trees") == 20.0 && info_value(&fl, "oob_score") == oob);
    mb_model_free(&l);
    mb_state_clear(&st);
    mb_model_free(&m);
    m = model_new("forest", fs0);
    fit_ok(m, &sp.tr, NULL, NULL);
    fi = info_of(m);
    assert_int_equal(fi.n, 1);
    assert_true(info_value(&fi, "n_trees") == 20.0);
    mb_model_free(&m);

    /* gbdt with early stopping on a validation set: best_iteration rounds
    ** kept, and the kept model's losses (checked against its predictions:
    ** the training scores had the dropped trees taken back out) */
    const char *const es[] = {"n_trees=500", "learning_rate=0.5", "early_stopping_rounds=5", NULL};
    m = model_new("gbdt", es);
    fit_ok(m, &sp.tr, &sp.te, NULL);
    fi = info_of(m);
    assert_int_equal(fi.n, 4);
    assert_string_equal(fi.names[0], "n_trees");
    assert_string_equal(fi.names[1], "best_iteration");
    assert_string_equal(fi.names[2], "train_loss");
    assert_string_equal(fi.names[3], "valid_loss");
    double nt = info_value(&fi, "n_trees"), best = info_value(&fi, "best_iteration");
    assert_true(nt == (double)form_of(m).ntrees);
    assert_true(best >= 1 && best <= nt && best == nt); /* binary: one tree per round */
    double tl = info_value(&fi, "train_loss"), vl = info_value(&fi, "valid_loss");
    double tl_want = binary_logloss(m, &sp.tr), vl_want = binary_logloss(m, &sp.te);
    if (!(fabs(tl - tl_want) <= 1e-4 * tl_want + 1e-6) || !(fabs(vl - vl_want) <= 1e-4 * vl_want + 1e-6))
        fail_msg("gbdt losses: train %.9g (predictions %.9g), valid %.9g (predictions %.9g)", tl, tl_want, vl,
                 vl_want);
    assert_true(tl < vl);
    /* saved and loaded: the same; from a state saved before "fit_stats":
    ** n_trees and best_iteration only */
    w = mb_state_writer_for(&st);
    assert_int_equal(m->type->save(m->impl, &w, perr), MB_PLUGIN_OK);
    l = load_copy("gbdt", es, &st, &fl);
    assert_int_equal(fl.n, 4);
    assert_memory_equal(fl.values, fi.values, 4 * sizeof(double));
    mb_model_free(&l);
    mb_state old = {0};
    state_without(&st, "fit_stats", &old);
    l = load_copy("gbdt", es, &old, &fl);
    assert_int_equal(fl.n, 2);
    assert_true(info_value(&fl, "n_trees") == nt && info_value(&fl, "best_iteration") == best);
    mb_model_free(&l);
    mb_state_clear(&old);
    mb_state_clear(&st);
    mb_model_free(&m);

    /* early stopping on a held-out part of train: valid_loss is that
    ** part's; without early stopping: no best_iteration */
    m = model_new("gbdt", es);
    fit_ok(m, &sp.tr, NULL, NULL);
    fi = info_of(m);
    assert_true(info_value(&fi, "best_iteration") <= info_value(&fi, "n_trees"));
    assert_true(info_value(&fi, "valid_loss") > 0 && info_value(&fi, "train_loss") > 0);
    mb_model_free(&m);
    const char *const g20[] = {"n_trees=20", NULL};
    m = model_new("gbdt", g20);
    fit_ok(m, &sp.tr, NULL, NULL);
    fi = info_of(m);
    assert_int_equal(fi.n, 2);
    assert_true(info_value(&fi, "n_trees") == 20.0);
    assert_int_equal(info_find(&fi, "best_iteration"), -1);
    assert_int_equal(info_find(&fi, "valid_loss"), -1);
    tl = info_value(&fi, "train_loss");
    tl_want = binary_logloss(m, &sp.tr);
    assert_true(fabs(tl - tl_want) <= 1e-4 * tl_want + 1e-6);
    fit_ok(m, &sp.tr, &sp.te, NULL); /* refit, now with validation data */
    fi = info_of(m);
    assert_int_equal(fi.n, 3);
    vl_want = binary_logloss(m, &sp.te);
    assert_true(fabs(info_value(&fi, "valid_loss") - vl_want) <= 1e-4 * vl_want + 1e-6);
    mb_model_free(&m);
    split_free(&sp);
    close_bundled(&b);

    /* multiclass: one tree per class per round */
    open_bundled(&b, "iris");
    split4(&b.d.ds, &sp);
    m = model_new("gbdt", es);
    fit_ok(m, &sp.tr, &sp.te, NULL);
    fi = info_of(m);
    assert_true(info_value(&fi, "best_iteration") * 3 == info_value(&fi, "n_trees"));
    mb_model_free(&m);
    split_free(&sp);
    close_bundled(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plugin_describes_itself),
        cmocka_unit_test(test_xor),
        cmocka_unit_test(test_known_split),
        cmocka_unit_test(test_missing_default_direction),
        cmocka_unit_test(test_step_function),
        cmocka_unit_test(test_multiclass_bundled),
        cmocka_unit_test(test_binary_and_regression_bundled),
        cmocka_unit_test(test_same_seed_same_model),
        cmocka_unit_test(test_threads_large),
        cmocka_unit_test(test_save_load),
        cmocka_unit_test(test_progress_cancel_early_stopping),
        cmocka_unit_test(test_weights_and_importance),
        cmocka_unit_test(test_losses_and_options),
        cmocka_unit_test(test_fit_info),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
