/*
** test_job.c: training jobs (src/core/job.h): transform steps as text
** read back identically, --prep auto picks what each model needs, and a
** job's figures are consistent with its bundle: the held-out and training
** rows partition the data, folds cover every row once, and the saved
** bundle scores every row as the job's model did.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io.h"
#include "job.h"
#include "fixture.h"

static mb_registry reg;
static char dir[64];

static int setup(void **state)
{
    (void)state;
    if (mbt_load_plugin(&reg, "linear") != 0)
        return -1;
    snprintf(dir, sizeof dir, "/tmp/mb_job_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    mb_registry_close(&reg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* text -> step -> text -> step -> text: the same text twice */
static void test_step_text_round_trip(void **state)
{
    (void)state;
    const char *specs[] = {"standardize", "impute:strategy=median:add_indicator=true",
                           "impute:strategy=constant:fill=2.5:fill_text=none", "onehot:columns=a,b c:unknown=error",
                           "clip:columns=x:lo=-1:hi=3", "drop:columns=id", "poly2"};
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        mb_job_step a, b;
        mb_error err;
        assert_int_equal(mb_job_step_parse(specs[i], &a, &err), MB_OK);
        char *t1 = mb_job_step_text(&a);
        assert_int_equal(mb_job_step_parse(t1, &b, &err), MB_OK);
        char *t2 = mb_job_step_text(&b);
        assert_string_equal(t1, t2);
        mb_free(t1);
        mb_free(t2);
        mb_job_step_free(&a);
        mb_job_step_free(&b);
    }
    mb_job_step s;
    mb_error err;
    assert_int_equal(mb_job_step_parse("impute:strategy=mode", &s, &err), MB_EARG);
    assert_non_null(strstr(err.msg, "unknown strategy 'mode'"));
    assert_int_equal(mb_job_step_parse("onehot:colour=red", &s, &err), MB_EARG);
    assert_non_null(strstr(err.msg, "unknown option 'colour'"));
    assert_int_equal(mb_job_step_parse("clip:lo=x", &s, &err), MB_EARG);
    assert_non_null(strstr(err.msg, "lo takes a number, not 'x'"));
    assert_int_equal(mb_job_step_parse("drop", &s, &err), MB_EARG);
}

/* A frame with a categorical column and a numeric one with a NaN. */
static mb_frame *small_frame(void)
{
    mb_error err;
    mb_frame *f = mb_frame_new(4);
    mb_column *x = mb_frame_add_num(f, "x", NULL, 1, &err);
    x->num[0] = 1, x->num[1] = NAN, x->num[2] = 3, x->num[3] = 4;
    mb_column *c = mb_frame_add_cat(f, "c", &err);
    for (int i = 0; i < 4; i++)
        c->codes[i] = mb_column_add_level(c, i % 2 ? "u" : "v", 1);
    mb_column *y = mb_frame_add_num(f, "y", NULL, 1, &err);
    for (int i = 0; i < 4; i++)
        y->num[i] = (float)i;
    assert_int_equal(mb_frame_set_target(f, "y", &err), MB_OK);
    return f;
}

static void expect_steps(const mb_frame *f, const char *model, const char *want)
{
    mb_model_type t = {0};
    t.name = model;
    mb_job_step *steps;
    size_t n;
    mb_error err;
    assert_int_equal(mb_job_auto_steps(f, NULL, &t, &steps, &n, &err), MB_OK);
    char got[256] = "";
    for (size_t i = 0; i < n; i++) {
        char *s = mb_job_step_text(&steps[i]);
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s", i ? " " : "", s);
        mb_free(s);
        mb_job_step_free(&steps[i]);
    }
    mb_free(steps);
    assert_string_equal(got, want);
}

static void test_auto_steps(void **state)
{
    (void)state;
    mb_frame *f = small_frame();
    expect_steps(f, "gbdt", "ordinal");
    expect_steps(f, "knn", "onehot");
    expect_steps(f, "linear", "impute:strategy=median onehot");
    expect_steps(f, "mlp", "impute:strategy=median standardize onehot");
    expect_steps(f, "someone_elses", "impute:strategy=median onehot");
    mb_frame_free(&f);
    mb_error err;
    assert_int_equal(mb_open("datasets/iris.h5", &f, &err), MB_OK);
    expect_steps(f, "linear", "");
    mb_frame_free(&f);
}

/* The figures of a job agree with its parts and with its saved bundle. */
static void test_job_consistent(void **state)
{
    (void)state;
    mb_frame *f;
    mb_error err;
    assert_int_equal(mb_open("datasets/iris.h5", &f, &err), MB_OK);
    const mb_loaded_plugin *owner;
    const mb_model_type *type = mb_registry_find(&reg, "linear", &owner, &err);
    assert_non_null(type);
    mb_job_step step;
    assert_int_equal(mb_job_step_parse("standardize", &step, &err), MB_OK);
    const char *settings[] = {"alpha=0.5"};
    mb_job job = {0};
    job.data = f;
    job.steps = &step;
    job.nsteps = 1;
    job.type = type;
    job.owner = owner;
    job.settings = settings;
    job.nsettings = 1;
    job.stratify = -1;
    job.threads = 1;
    job.seed = 3;
    job.eval = MB_EVAL_TEST;
    job.test = 0.2;
    mb_job_result r;
    assert_int_equal(mb_job_run(&job, &r, &err), MB_OK);
    assert_int_equal(r.ntrain + r.test.nrows, 150);
    assert_int_equal(r.test.nrows, 30);
    assert_int_equal(r.bundle->rows_used, 120);
    assert_int_equal(r.bundle->nsteps, 1);
    assert_string_equal(r.bundle->step_kinds[0], "standardize");
    /* stratified: 10 test rows per class */
    for (size_t c = 0; c < 3; c++)
        assert_int_equal(r.test.cls.support[c], 10);
    /* the saved bundle scores every row as the job's model: its correct
    ** labels are the training and test figures' together */
    char path[128];
    snprintf(path, sizeof path, "%s/job.h5", dir);
    assert_int_equal(mb_bundle_save(path, r.bundle, &err), MB_OK);
    mb_bundle *b = NULL;
    assert_int_equal(mb_bundle_load(path, &b, &err), MB_OK);
    mb_scorer sc;
    memset(&sc, 0, sizeof sc);
    assert_int_equal(mb_scorer_open(&sc, b, &reg, &err), MB_OK);
    float label[150];
    assert_int_equal(mb_scorer_predict_frame(&sc, f, label, NULL, &err), MB_OK);
    size_t right = 0;
    const mb_column *y = &f->cols[f->target];
    for (size_t i = 0; i < 150; i++)
        right += label[i] == (float)y->codes[i];
    double want = r.train.cls.accuracy * 120 + r.test.cls.accuracy * 30;
    assert_true(fabs((double)right - want) < 1e-6);
    assert_non_null(mb_bundle_importance(b, 0));
    mb_scorer_close(&sc);
    mb_bundle_free(&b);
    mb_job_result_free(&r);

    /* cross-validation: every row is a test row once */
    job.eval = MB_EVAL_CV;
    job.k = 4;
    assert_int_equal(mb_job_run(&job, &r, &err), MB_OK);
    assert_int_equal(r.nfolds, 4);
    size_t total = 0;
    for (size_t i = 0; i < r.nfolds; i++) {
        total += r.folds[i].nrows;
        assert_true(r.folds[i].cls.accuracy > 0.7);
    }
    assert_int_equal(total, 150);
    assert_int_equal(r.ntrain, 150);
    mb_job_result_free(&r);
    job.k = 151;
    assert_int_equal(mb_job_run(&job, &r, &err), MB_EARG);
    assert_non_null(strstr(err.msg, "k = 151"));
    mb_job_step_free(&step);
    mb_frame_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_step_text_round_trip),
        cmocka_unit_test(test_auto_steps),
        cmocka_unit_test(test_job_consistent),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
