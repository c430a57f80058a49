/*
** test_results.c: unit tests for what the workbench's Results and Export
** tabs read: the worker's figure lines (src/tui/figures.c), parsed as
** hostile input (bad kinds, short rows, names past the declared count,
** caps), and the served model's live summary (mbsv_metrics_summary in
** src/deploy/serve_metrics.c), whose latency quantiles are checked
** against hand-computed Prometheus histogram_quantile figures.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "results.h"
#include "serve.h"

static void test_curves_and_notes(void **state)
{
    (void)state;
    mbtui_figures *f = mbtui_figures_new();
    assert_int_equal(mbtui_figures_parse(f, "eval on the 3 held-out rows"), 1);
    assert_string_equal(f->eval_note, "on the 3 held-out rows");
    assert_int_equal(mbtui_figures_parse(f, "point r 0 0 0"), 1);
    assert_int_equal(mbtui_figures_parse(f, "point r 0.5 1 0"), 1);
    assert_int_equal(mbtui_figures_parse(f, "point c 0.25 0.5 7"), 1);
    assert_int_equal(mbtui_figures_parse(f, "point q 1 1 1"), 0);   /* no such curve */
    assert_int_equal(mbtui_figures_parse(f, "point r 1"), 0);       /* short */
    assert_int_equal(mbtui_figures_parse(f, "frobnicate 1 2"), 0);
    assert_int_equal(mbtui_figures_parse(f, ""), 0);
    assert_int_equal(f->curve[MBTUI_CURVE_ROC].n, 2);
    assert_true(f->curve[MBTUI_CURVE_ROC].y[1] == 1.0);
    assert_int_equal(f->curve[MBTUI_CURVE_CAL].n, 1);
    assert_true(f->curve[MBTUI_CURVE_CAL].z[0] == 7.0);
    /* the first reason for no curves is kept */
    mbtui_figures_parse(f, "nocurve roc: needs both classes");
    mbtui_figures_parse(f, "nocurve pr: later");
    assert_string_equal(f->curve_note, "roc: needs both classes");
    for (int i = 0; i < 5000; i++) /* capped, not unbounded */
        mbtui_figures_parse(f, "point s 1 2 0");
    assert_int_equal(f->curve[MBTUI_CURVE_RESID].n, 4096);
    /* one class against the rest: classes come in order, points name theirs */
    assert_int_equal(mbtui_figures_parse(f, "point r0 0 0 0"), 0); /* no class 0 yet */
    assert_int_equal(mbtui_figures_parse(f, "class 1 b"), 0);      /* out of order */
    assert_int_equal(mbtui_figures_parse(f, "class 0 a"), 1);
    assert_int_equal(mbtui_figures_parse(f, "point r0 0.5 0.75 0"), 1);
    assert_int_equal(mbtui_figures_parse(f, "point c0 0.5 0.75 0"), 0); /* no calibration per class */
    assert_int_equal(mbtui_figures_parse(f, "point p-1 0.5 0.75 0"), 0);
    assert_int_equal(mbtui_figures_parse(f, "area 0 pr 0.625"), 1);
    assert_int_equal(mbtui_figures_parse(f, "area 3 pr 0.625"), 0);
    assert_int_equal(f->ovr[0][0].n, 1);
    assert_true(f->ovr_area[0][1] == 0.625 && isnan(f->ovr_area[0][0]));
    mbtui_figures_free(&f);
    assert_null(f);
    mbtui_figures_free(&f); /* twice: harmless */
}

static void test_ranking(void **state)
{
    (void)state;
    mbtui_figures *f = mbtui_figures_new();
    /* values then names (with spaces); ties keep their order of arrival, as moonbench explain's */
    assert_int_equal(mbtui_figures_parse(f, "g 0.5 nan 1 b"), 1);
    assert_int_equal(mbtui_figures_parse(f, "g 0.9 nan 2 petal length (cm)"), 1);
    assert_int_equal(mbtui_figures_parse(f, "g 0.5 nan 3 d"), 1);
    assert_int_equal(mbtui_figures_parse(f, "g 0.7 0.1 4"), 0); /* no name */
    assert_int_equal(f->shap.n, 3);
    assert_string_equal(f->shap.name[0], "petal length (cm)");
    assert_string_equal(f->shap.name[1], "b");
    assert_string_equal(f->shap.name[2], "d");
    assert_true(isnan(f->shap.sd[0]));
    assert_int_equal(mbtui_figures_parse(f, "imp 3 x"), 1);
    assert_int_equal(mbtui_figures_parse(f, "imp 7 y"), 1);
    assert_string_equal(f->importance.name[0], "y");
    assert_int_equal(mbtui_figures_parse(f, "shap treeshap 1 150"), 1);
    assert_string_equal(f->method, "treeshap");
    assert_int_equal(f->mapped, 1);
    assert_int_equal(f->shap_rows, 150);
    mbtui_figures_free(&f);
}

static void test_rows(void **state)
{
    (void)state;
    mbtui_figures *f = mbtui_figures_new();
    assert_int_equal(mbtui_figures_parse(f, "row a\tb\t1 2"), 1); /* before cols: dropped */
    assert_int_equal(f->nrows, 0);
    assert_int_equal(mbtui_figures_parse(f, "cols 100000 100"), 0); /* too wide */
    assert_int_equal(mbtui_figures_parse(f, "cols 3 2"), 1);
    assert_int_equal(mbtui_figures_parse(f, "cols 4 2"), 0); /* once */
    assert_int_equal(mbtui_figures_parse(f, "col x"), 1);
    assert_int_equal(mbtui_figures_parse(f, "col y"), 1);
    assert_int_equal(mbtui_figures_parse(f, "col z"), 0); /* 3 columns = 2 names + the expected value */
    assert_int_equal(mbtui_figures_parse(f, "out A"), 1);
    assert_int_equal(mbtui_figures_parse(f, "out B"), 1);
    assert_int_equal(mbtui_figures_parse(f, "out C"), 0);
    assert_string_equal(f->outname[1], "B");
    assert_null(f->outname[2]);
    mbtui_figures_parse(f, "row setosa\tversicolor\t1 2 3 4 5 6");
    mbtui_figures_parse(f, "row setosa\tsetosa\t1 2 3");   /* short: dropped */
    mbtui_figures_parse(f, "row no tabs 1 2 3 4 5 6");      /* no labels: dropped */
    assert_int_equal(f->nrows, 1);
    assert_string_equal(f->truth[0], "setosa");
    assert_string_equal(f->pred[0], "versicolor");
    assert_true(f->phi[5] == 6.0);
    for (int i = 0; i < 300; i++)
        mbtui_figures_parse(f, "row a\tb\t1 2 3 4 5 6");
    assert_int_equal(f->nrows, 200);
    mbtui_figures_free(&f);
}

static void test_serve_summary(void **state)
{
    (void)state;
    mb_bundle b;
    memset(&b, 0, sizeof b);
    b.task = MB_TASK_REGRESSION;
    const char *note = NULL;
    mbsv_metrics *m = mbsv_metrics_new(&b, 0, 0.2, &note);
    assert_non_null(note); /* a window of 0 rows: no drift */
    mbsv_summary s;
    mbsv_metrics_summary(m, &s);
    assert_true(s.requests == 0 && s.errors == 0);
    assert_true(isnan(s.p50) && isnan(s.p99));
    for (int i = 0; i < 50; i++)
        mbsv_metrics_request(m, MBSV_EP_PREDICT, 200, 0.0002);
    for (int i = 0; i < 50; i++)
        mbsv_metrics_request(m, i < 10 ? MBSV_EP_OTHER : MBSV_EP_PREDICT, i < 10 ? 404 : 200, 0.003);
    float x = 1;
    for (int i = 0; i < 3; i++)
        mbsv_metrics_scored(m, &x, -1);
    mbsv_metrics_summary(m, &s);
    assert_true(s.requests == 100);
    assert_true(s.errors == 10);
    assert_true(s.scored == 3);
    /* by hand, as histogram_quantile: p50 at rank 50 ends the (0.0001, 0.00025]
    ** bucket (50 of 50 in it): 0.00025; p99 at rank 99 is 49/50 into
    ** (0.0025, 0.005]: 0.0025 + 0.0025 * 0.98 = 0.00495 */
    assert_true(fabs(s.p50 - 0.00025) < 1e-12);
    assert_true(fabs(s.p99 - 0.00495) < 1e-12);
    assert_true(s.window_rows == 0 && s.drifting == 0);
    /* a request slower than the last bucket: the last finite bound, as Prometheus */
    mbsv_metrics_free(&m);
    m = mbsv_metrics_new(&b, 0, 0.2, NULL);
    mbsv_metrics_request(m, MBSV_EP_PREDICT, 200, 5.0);
    mbsv_metrics_summary(m, &s);
    assert_true(s.p50 == 1.0 && s.p99 == 1.0);
    mbsv_metrics_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_curves_and_notes),
        cmocka_unit_test(test_ranking),
        cmocka_unit_test(test_rows),
        cmocka_unit_test(test_serve_summary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
