/*
** test_mlp_train.c: unit tests for the MLP plugin's training threads
** (plugins/mlp/mlp_train.c), through the host and the ABI
** (build/plugins/mlp.so).
**
** A batch is split into fixed chunks (one per thread asked for) and any
** running thread takes the next chunk or update range; so the bits must
** not depend on how many threads actually run them. The oracle is the
** same fit run by one thread (MOONBENCH_MLP_RUNNERS=1: every task in
** order on the calling thread, the plain sequential path): predictions
** and the reported losses must be bit-identical at every runner count,
** with dropout (each chunk's own generator), sample weights and every
** optimiser. Cancellation on several threads stops at an epoch boundary
** and leaves the model unfitted.
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

#include "plugin.h"
#include "fixture.h"

/* {====== helpers ======} */

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
    unsetenv("MOONBENCH_MLP_RUNNERS");
    mb_registry_close(&reg);
    return 0;
}

/* A model with settings ("key=value", NULL-terminated). */
static mb_model *make_model(const char *const *settings)
{
    return mbt_make_model(mlp, owner, settings);
}

/* A fixed pseudo-random sequence in [0, 1) (splitmix64). */
static double unit(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (double)((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
}

/* n rows of 4 features, 3 classes by the sign of two smooth functions. */
static void make_classes(float *X, float *y, size_t n, uint64_t seed)
{
    for (size_t i = 0; i < n; i++) {
        float *x = X + 4 * i;
        for (int j = 0; j < 4; j++)
            x[j] = (float)(2 * unit(&seed) - 1);
        double a = sin(3.0 * (double)x[0]) + (double)x[1], b = (double)(x[2] * x[3]);
        y[i] = a > 0.3 ? 0.0f : (b > 0 ? 1.0f : 2.0f);
    }
}

/* Fit with `runners` threads running the chunks of `threads` (0: all of
** them); class probabilities into proba (n x 3), fit_info's train loss. */
static void fit_with(const char *const *s, const mb_dataset *d, int threads, int runners, float *proba,
                     double *train_loss)
{
    char env[16];
    snprintf(env, sizeof env, "%d", runners);
    if (runners > 0)
        setenv("MOONBENCH_MLP_RUNNERS", env, 1);
    else
        unsetenv("MOONBENCH_MLP_RUNNERS");
    mb_model *m = make_model(s);
    mb_fit_context c = {sizeof c, mb_host_services(), threads, 7, NULL, NULL, NULL};
    mb_error err;
    mb_status st = mb_model_fit(m, d, NULL, &c, &err);
    if (st != MB_OK)
        fprintf(stderr, "# fit: %s\n", err.msg);
    assert_int_equal(st, MB_OK);
    assert_int_equal(mb_model_predict_proba(m, &d->X, proba, &err), MB_OK);
    mb_fit_info fi;
    assert_int_equal(mb_model_fit_info(m, &fi, &err), MB_OK);
    *train_loss = NAN;
    for (size_t i = 0; i < fi.n; i++)
        if (strcmp(fi.names[i], "train_loss") == 0)
            *train_loss = fi.values[i];
    assert_true(isfinite(*train_loss));
    mb_model_free(&m);
    unsetenv("MOONBENCH_MLP_RUNNERS");
}

/* {====== tests ======} */

static void test_runners_same_bits(void **state)
{
    (void)state;
    enum { N = 1500 };
    static float X[N * 4], y[N], w[N], p0[N * 3], p1[N * 3];
    make_classes(X, y, N, 3);
    uint64_t s = 11;
    for (size_t i = 0; i < N; i++)
        w[i] = i % 7 == 0 ? 0.0f : (float)(0.5 + unit(&s));
    mb_dataset d = {{X, N, 4, 4}, y, NULL, MB_TASK_MULTICLASS, 3, NULL};
    mb_dataset dw = {{X, N, 4, 4}, y, w, MB_TASK_MULTICLASS, 3, NULL};
    const char *const variants[][4] = {
        {"optimizer=adam", "dropout=0.2", "batch_size=128", "activation=relu"},
        {"optimizer=adamw", "weight_decay=0.01", "batch_size=100", "activation=gelu"},
        {"optimizer=sgd", "weight_decay=0.001", "batch_size=96", "activation=tanh"},
    };
    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
        const char *sv[] = {"hidden_layers=32,16", "epochs=3", "learning_rate=0.01", variants[v][0],
                            variants[v][1], variants[v][2], variants[v][3], NULL};
        for (int threads = 2; threads <= 3; threads++) {
            const mb_dataset *dd = v == 0 ? &dw : &d; /* the first variant weighted */
            double l0, l1;
            fit_with(sv, dd, threads, 1, p0, &l0); /* the oracle: one thread runs every task in order */
            for (int r = 0; r <= threads; r++) {   /* 0: every thread asked for */
                if (r == 1)
                    continue;
                fit_with(sv, dd, threads, r, p1, &l1);
                if (memcmp(p0, p1, sizeof p0) != 0 || l0 != l1)
                    fprintf(stderr, "# variant %zu, %d threads, %d runners: not the one-runner bits\n", v,
                            threads, r);
                assert_memory_equal(p0, p1, sizeof p0);
                assert_true(l0 == l1);
            }
        }
    }
}

typedef struct stopper {
    volatile int *flag;
    int epochs, at;
} stopper;

static void on_progress(void *ud, double fraction, const char *msg, double tl, double vl)
{
    (void)fraction, (void)msg, (void)tl, (void)vl;
    stopper *s = ud;
    if (++s->epochs >= s->at)
        *s->flag = 1;
}

static void test_cancel_threads(void **state)
{
    (void)state;
    enum { N = 2000 };
    static float X[N * 4], y[N];
    make_classes(X, y, N, 5);
    mb_dataset d = {{X, N, 4, 4}, y, NULL, MB_TASK_MULTICLASS, 3, NULL};
    const char *s[] = {"hidden_layers=16", "epochs=500", "batch_size=64", NULL};
    for (int threads = 2; threads <= 3; threads++) {
        mb_model *m = make_model(s);
        volatile int stop = 0;
        stopper st = {&stop, 0, 2};
        mb_fit_context c = {sizeof c, mb_host_services(), threads, 1, on_progress, &st, &stop};
        mb_error err;
        assert_int_equal(mb_model_fit(m, &d, NULL, &c, &err), MB_ECANCELLED);
        assert_int_equal(st.epochs, 2);
        float p[3];
        mb_matrix one = {X, 1, 4, 4};
        assert_int_not_equal(mb_model_predict(m, &one, p, &err), MB_OK); /* still unfitted */
        mb_model_free(&m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_runners_same_bits),
        cmocka_unit_test(test_cancel_threads),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
