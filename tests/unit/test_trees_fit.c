/*
** test_trees_fit.c: fixed-seed gbdt fits pinned to the bits of their
** predictions, so that speed work and restructuring of the gbdt trainer
** (plugins/trees/gbdt*.c) and of batch prediction (ensemble.c: blocks with
** and without NaN walk differently) cannot change a model or a prediction
** unnoticed.
**
** Each case fits a gbdt with one seed on generated data (its own LCG, so
** the data do not depend on libc), predicts every row, as it is and with
** its NaN replaced, and hashes the output floats (FNV-1a over their
** bytes). The expected hashes were taken from the trainer and predictor of
** commit 95565cf (before the eight-row walk and the split of the fit
** driver); a case covers one path of the driver: squared error, logloss,
** softmax, absolute loss (weighted medians), row and column sampling,
** early stopping on a held-out part and on a validation set, leaf-wise
** growth. Every case is fitted on 2 threads and on 1, and on 2 with the
** scalar loops (MOONBENCH_TREES_SIMD=0), which must all agree.
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
#include "plugin.h"

static mb_registry reg;
static const mb_loaded_plugin *owner;
static mb_fit_context ctx = {sizeof(mb_fit_context), NULL, 2, 11, NULL, NULL, NULL};

static int setup(void **state)
{
    (void)state;
    char path[1024];
    const char *b = getenv("MOONBENCH_BUILD");
    snprintf(path, sizeof path, "%s/plugins/trees.so", b ? b : "build");
    mb_error err;
    if (mb_registry_load(&reg, path, &err) != MB_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    ctx.host = mb_host_services();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    mb_registry_close(&reg);
    return 0;
}

static uint64_t lcg = 88172645463325252ULL;
static double urand(void)
{
    lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(lcg >> 11) * (1.0 / 9007199254740992.0);
}

static uint64_t fnv1a(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ULL;
    return h;
}

typedef struct fixture {
    size_t n, F;
    float *X, *yr, *yb, *ym, *w;
} fixture;

/* n rows of F uniform features (every 53rd row has a NaN in feature 2),
** a regression target, a binary and a 3-class label, positive weights */
static void fixture_make(fixture *fx, size_t n, size_t F)
{
    lcg = 88172645463325252ULL;
    fx->n = n;
    fx->F = F;
    fx->X = malloc(n * F * sizeof *fx->X);
    fx->yr = malloc(n * sizeof *fx->yr);
    fx->yb = malloc(n * sizeof *fx->yb);
    fx->ym = malloc(n * sizeof *fx->ym);
    fx->w = malloc(n * sizeof *fx->w);
    for (size_t i = 0; i < n; i++) {
        float *x = fx->X + i * F;
        for (size_t f = 0; f < F; f++)
            x[f] = (float)urand();
        if (i % 53 == 0)
            x[2] = NAN;
        double t = 2.0 * (double)x[0] + ((double)x[1] > 0.4 ? 1.5 : 0.0) - 1.5 * (double)x[3] * (double)x[4] + 0.3 * (urand() - 0.5);
        fx->yr[i] = (float)t;
        fx->yb[i] = t > 1.2 ? 1.0f : 0.0f;
        fx->ym[i] = t < 0.6 ? 0.0f : t < 1.8 ? 1.0f : 2.0f;
        fx->w[i] = (float)(0.5 + urand());
    }
}

static void fixture_free(fixture *fx)
{
    free(fx->X);
    free(fx->yr);
    free(fx->yb);
    free(fx->ym);
    free(fx->w);
}

/* Fit a gbdt with settings (NULL-terminated) on threads threads and hash
** its predictions of every row (probabilities for classification), of
** the rows as they are and with their NaN replaced by 0.5. */
static uint64_t fit_hash(const mb_dataset *d, const mb_dataset *valid, const char *const *settings, int threads,
                         double *rounds)
{
    mb_error err;
    const mb_model_type *t = mb_registry_find(&reg, "gbdt", &owner, &err);
    if (!t)
        fail_msg("find gbdt: %s", err.msg);
    size_t ns = 0;
    while (settings[ns])
        ns++;
    mb_params p;
    if (mb_params_parse(&p, t, settings, ns, &err) != MB_OK)
        fail_msg("params: %s", err.msg);
    mb_model *m;
    if (mb_model_create(&m, t, owner, &p, &err) != MB_OK)
        fail_msg("create: %s", err.msg);
    mb_fit_context c = ctx;
    c.threads = threads;
    if (mb_model_fit(m, d, valid, &c, &err) != MB_OK)
        fail_msg("fit: %s", err.msg);
    mb_fit_info fi;
    if (mb_model_fit_info(m, &fi, &err) != MB_OK)
        fail_msg("fit_info: %s", err.msg);
    /* rounds kept: n_trees, or n_rounds when a round has a tree per class */
    double nt = -1, nr = -1;
    for (size_t i = 0; i < fi.n; i++) {
        if (strcmp(fi.names[i], "n_trees") == 0)
            nt = fi.values[i];
        if (strcmp(fi.names[i], "n_rounds") == 0)
            nr = fi.values[i];
    }
    *rounds = nr >= 0 ? nr : nt;
    size_t k = d->task == MB_TASK_REGRESSION ? 1 : d->nclasses, n = d->X.rows;
    float *o = malloc(n * k * sizeof *o);
    mb_status s = d->task == MB_TASK_REGRESSION ? mb_model_predict(m, &d->X, o, &err)
                                                : mb_model_predict_proba(m, &d->X, o, &err);
    if (s != MB_OK)
        fail_msg("predict: %s", err.msg);
    uint64_t h = fnv1a(o, n * k * sizeof *o);
    /* again with the NaN replaced: blocks without NaN take another walk */
    size_t F = d->X.cols;
    float *x2 = malloc(n * F * sizeof *x2);
    for (size_t i = 0; i < n * F; i++)
        x2[i] = isnan(d->X.x[(i / F) * d->X.ld + i % F]) ? 0.5f : d->X.x[(i / F) * d->X.ld + i % F];
    mb_matrix X2 = {x2, n, F, F};
    s = d->task == MB_TASK_REGRESSION ? mb_model_predict(m, &X2, o, &err) : mb_model_predict_proba(m, &X2, o, &err);
    if (s != MB_OK)
        fail_msg("predict: %s", err.msg);
    h = h * 31 + fnv1a(o, n * k * sizeof *o);
    free(x2);
    free(o);
    mb_model_free(&m);
    return h;
}

typedef struct fit_case {
    const char *name;
    int target;                   /* 0 regression, 1 binary, 2 three classes */
    int weighted, with_valid;
    const char *settings[8];
    uint64_t expect;
} fit_case;

static const fit_case cases[] = {
    {"squared", 0, 0, 0, {"n_trees=12", "max_depth=6", NULL}, 0x997a6d16ae176e00ULL},
    {"logloss weighted", 1, 1, 0, {"n_trees=12", "max_depth=5", NULL}, 0x98ed8274defa15c0ULL},
    {"softmax sampled", 2, 0, 0, {"n_trees=6", "max_depth=4", "subsample=0.7", "colsample=0.6", NULL}, 0xbbf0477d599e3a1fULL},
    {"absolute", 0, 0, 0, {"n_trees=6", "max_depth=4", "loss=absolute", NULL}, 0x99e8adce003f1160ULL},
    {"early stop held out", 1, 0, 0,
     {"n_trees=40", "max_depth=4", "early_stopping_rounds=3", "validation_fraction=0.2", "learning_rate=0.5", NULL}, 0xf3ed8841b8be5c20ULL},
    {"early stop valid", 0, 0, 1, {"n_trees=40", "max_depth=10", "early_stopping_rounds=2", "learning_rate=0.9", "min_samples_leaf=1", NULL}, 0x6aff19f97859f461ULL},
    {"leafwise", 0, 1, 0, {"n_trees=8", "growth=leafwise", "max_leaves=20", "max_depth=0", "min_samples_leaf=4", NULL}, 0x19ffc94a46143ee0ULL},
};

static void test_fixed_seed_hashes(void **state)
{
    (void)state;
    fixture fx;
    fixture_make(&fx, 40000, 7);
    size_t nv = 10000, nt = fx.n - nv; /* the last rows validate the "valid" case */
    int bad = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const fit_case *fc = &cases[c];
        const float *y = fc->target == 0 ? fx.yr : fc->target == 1 ? fx.yb : fx.ym;
        mb_task task = fc->target == 0 ? MB_TASK_REGRESSION : fc->target == 1 ? MB_TASK_BINARY : MB_TASK_MULTICLASS;
        size_t ncls = fc->target == 0 ? 0 : fc->target == 1 ? 2 : 3;
        size_t n = fc->with_valid ? nt : fx.n;
        mb_dataset d = {{fx.X, n, fx.F, fx.F}, y, fc->weighted ? fx.w : NULL, task, ncls, NULL};
        mb_dataset v = {{fx.X + nt * fx.F, nv, fx.F, fx.F}, y + nt, NULL, task, ncls, NULL};
        double r2, r1;
        uint64_t h2 = fit_hash(&d, fc->with_valid ? &v : NULL, fc->settings, 2, &r2);
        uint64_t h1 = fit_hash(&d, fc->with_valid ? &v : NULL, fc->settings, 1, &r1);
        /* the scalar loops (the AVX-512 ones' oracle) on 2 threads */
        double r0;
        setenv("MOONBENCH_TREES_SIMD", "0", 1);
        uint64_t h0 = fit_hash(&d, fc->with_valid ? &v : NULL, fc->settings, 2, &r0);
        unsetenv("MOONBENCH_TREES_SIMD");
        assert_true(r0 == r2);
        /* the early-stopping cases must stop early to test that path */
        int ntrees = atoi(fc->settings[0] + strlen("n_trees="));
        assert_true(r1 == r2 && r2 >= 1);
        if (strncmp(fc->name, "early stop", 10) == 0)
            assert_true(r2 < ntrees);
        else
            assert_true(r2 == ntrees);
        if (h1 != h2 || h0 != h2 || h2 != fc->expect) {
            fprintf(stderr, "# %s: 2 threads 0x%016llxULL, 1 thread 0x%016llxULL, scalar 0x%016llxULL, expected 0x%016llxULL\n",
                    fc->name, (unsigned long long)h2, (unsigned long long)h1, (unsigned long long)h0,
                    (unsigned long long)fc->expect);
            bad++;
        }
    }
    fixture_free(&fx);
    assert_int_equal(bad, 0);
}

/* Settings the pinned cases leave at their defaults (L1 and L2 penalties,
** hessian and count limits that reject splits) through the split search:
** the AVX-512 gains (gbdt_simd.c) against the scalar loop, as an oracle. */
static void test_simd_scalar_penalties(void **state)
{
    (void)state;
    fixture fx;
    fixture_make(&fx, 20000, 7);
    static const char *const set[][8] = {
        {"n_trees=8", "max_depth=6", "lambda_l1=40", "lambda_l2=3", NULL},
        {"n_trees=8", "max_depth=5", "min_child_weight=30", "min_samples_leaf=200", "lambda_l1=0.5", NULL},
    };
    for (int target = 0; target < 2; target++)
        for (size_t c = 0; c < sizeof set / sizeof set[0]; c++) {
            mb_dataset d = {{fx.X, fx.n, fx.F, fx.F}, target ? fx.yb : fx.yr, target ? fx.w : NULL,
                            target ? MB_TASK_BINARY : MB_TASK_REGRESSION, target ? 2 : 0, NULL};
            double r1, r0;
            uint64_t h1 = fit_hash(&d, NULL, set[c], 2, &r1);
            setenv("MOONBENCH_TREES_SIMD", "0", 1);
            uint64_t h0 = fit_hash(&d, NULL, set[c], 2, &r0);
            unsetenv("MOONBENCH_TREES_SIMD");
            assert_true(r1 == r0);
            assert_true(h1 == h0);
        }
    fixture_free(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixed_seed_hashes),
        cmocka_unit_test(test_simd_scalar_penalties),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
