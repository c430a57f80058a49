/*
** test_gbdt_stop.c: GBDT early stopping against its own recorded
** validation curve. The oracle: the progress callback reports each
** round's validation loss; training must keep the round of the curve's
** minimum (best_iteration = argmin + 1) and stop exactly `patience` rounds
** after it (or at n_trees). Before the fix the first round never counted as
** an improvement (inf - 1e-12 * inf is NaN), so every fit stopped at
** exactly early_stopping_rounds trees.
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

typedef struct curve {
    double v[4096];
    int n;
} curve;

static void record(void *ud, double fraction, const char *msg, double tl, double vl)
{
    curve *c = ud;
    (void)fraction, (void)msg, (void)tl;
    if (c->n < 4096)
        c->v[c->n] = vl;
    c->n++;
}

/* Every 4th row to valid, the rest to train (copies into x / y). */
static void split(const mb_dataset *d, mb_dataset *tr, mb_dataset *va, float **buf)
{
    size_t n = d->X.rows, F = d->X.cols, nva = (n + 3) / 4, ntr = n - nva;
    float *xt = malloc(ntr * F * sizeof *xt), *yt = malloc(ntr * sizeof *yt);
    float *xv = malloc(nva * F * sizeof *xv), *yv = malloc(nva * sizeof *yv);
    size_t a = 0, b = 0;
    for (size_t i = 0; i < n; i++) {
        const float *x = d->X.x + i * d->X.ld;
        if (i % 4 == 0) {
            memcpy(xv + b * F, x, F * sizeof *x);
            yv[b++] = d->y[i];
        } else {
            memcpy(xt + a * F, x, F * sizeof *x);
            yt[a++] = d->y[i];
        }
    }
    *tr = *d;
    tr->X = (mb_matrix){xt, ntr, F, F};
    tr->y = yt;
    tr->w = NULL;
    *va = *tr;
    va->X = (mb_matrix){xv, nva, F, F};
    va->y = yv;
    buf[0] = xt, buf[1] = yt, buf[2] = xv, buf[3] = yv;
}

/* Fit gbdt with settings, on train (+ valid), and check the stopping
** round against the recorded curve. */
static void check_stop(const mb_dataset *tr, const mb_dataset *va, const char *const *settings, size_t ns,
                       int patience, int ntrees)
{
    mb_error err;
    const mb_loaded_plugin *owner;
    const mb_model_type *t = mb_registry_find(&reg, "gbdt", &owner, &err);
    assert_non_null(t);
    mb_params p;
    if (mb_params_parse(&p, t, settings, ns, &err) != MB_OK)
        fail_msg("%s", err.msg);
    mb_model *m;
    assert_int_equal(mb_model_create(&m, t, owner, &p, &err), MB_OK);
    curve *c = calloc(1, sizeof *c);
    mb_fit_context ctx = {sizeof ctx, mb_host_services(), 2, 7, record, c, NULL};
    if (mb_model_fit(m, tr, va, &ctx, &err) != MB_OK)
        fail_msg("fit: %s", err.msg);
    int best = 0;
    for (int i = 1; i < c->n && i < 4096; i++)
        if (c->v[i] < c->v[best])
            best = i;
    mb_fit_info fi;
    assert_int_equal(mb_model_fit_info(m, &fi, &err), MB_OK);
    double best_it = NAN;
    for (size_t k = 0; k < fi.n; k++)
        if (!strcmp(fi.names[k], "best_iteration"))
            best_it = fi.values[k];
    if (best_it != (double)(best + 1))
        fail_msg("best_iteration %g, the curve's minimum is at round %d (of %d)", best_it, best + 1, c->n);
    int want = best + 1 + patience < ntrees ? best + 1 + patience : ntrees;
    if (c->n != want)
        fail_msg("stopped after %d rounds; the minimum at round %d plus patience %d is %d", c->n, best + 1,
                 patience, want);
    /* a case where it matters: the minimum well after the start */
    if (best + 1 <= 2 * patience)
        fail_msg("the curve's minimum is at round %d: too early to test stopping", best + 1);
    free(c);
    mb_model_free(&m);
}

static void test_stop_at_minimum_plus_patience(void **state)
{
    (void)state;
    const char *names[] = {"breast_cancer", "diabetes"};
    for (int s = 0; s < 2; s++) {
        char path[256];
        snprintf(path, sizeof path, "datasets/%s.h5", names[s]);
        mb_frame *f;
        mb_data d;
        mb_error err;
        if (mb_open(path, &f, &err) != MB_OK || mb_data_from_frame(f, 0, &d, &err) != MB_OK)
            fail_msg("%s: %s", path, err.msg);
        mb_dataset tr, va;
        float *buf[4];
        split(&d.ds, &tr, &va, buf);
        const char *const es[] = {"n_trees=1500", "learning_rate=0.05", "early_stopping_rounds=10"};
        check_stop(&tr, &va, es, 3, 10, 1500);                   /* a validation set */
        check_stop(&tr, NULL, es, 3, 10, 1500);                  /* a held-out part of train */
        for (int i = 0; i < 4; i++)
            free(buf[i]);
        mb_data_free(&d);
        mb_frame_free(&f);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stop_at_minimum_plus_patience),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
