/*
** test_eval.c: unit tests for src/core/eval.c: splits and folds,
** classification and regression reports, curves, and the corrected
** resampled t-test.
**
** REFERENCES
** ----------
** Unless a comment says otherwise, expected figures come from
** scikit-learn 1.2.1 / scipy 1.10.1 / numpy 1.24.2 (Debian's
** /usr/bin/python3), run on the same small arrays, printed with %.17g:
**   accuracy_score, balanced_accuracy_score,
**   precision_recall_fscore_support(average=None|'macro'|'weighted',
**     zero_division=0), confusion_matrix(labels=range(k)),
**   roc_auc_score(y, p[:, 1]) and roc_auc_score(y, P, multi_class='ovr',
**     average='macro'), average_precision_score(y, p[:, 1]) and
**     average_precision_score(label_binarize(y), P, average='macro'),
**   log_loss(y, P, labels=range(k)), brier_score_loss(y, p[:, 1]),
**   roc_curve(y, s, drop_intermediate=False), precision_recall_curve(y, s),
**   calibration_curve(y, s, n_bins, strategy='uniform'),
**   mean_squared_error (square-rooted), mean_absolute_error, r2_score,
**     mean_absolute_percentage_error, on float32 values widened to float64
**     (moonbench computes regression metrics in double),
**   2 * scipy.stats.t.sf(|t|, df),
**   KFold(k), StratifiedKFold(k), GroupKFold(k) (no shuffling).
** Probabilities are dyadic fractions (k/16), exact in float32, so float32
** inputs and scikit-learn's float64 agree exactly; the multiclass
** multi-class Brier score is numpy's mean(sum((P - onehot)^2, axis=1)).
** The seeded splits are checked against an independent Python
** re-implementation of the documented PRNG (splitmix64 seeding,
** xoshiro256**, rejection bound, Fisher-Yates from the end).
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

#include "eval.h"

/* {====== helpers ======} */

#define DNAN ((double)NAN)
#define DINF ((double)INFINITY)
#define RTOL 1e-12
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* got == want: NaN matching NaN, infinities by sign, finite values within
** relative tolerance rtol (absolute when want is 0). */
static void check_close(const char *what, double got, double want, double rtol)
{
    if (isnan(want)) {
        if (!isnan(got))
            fail_msg("%s = %.17g, want NaN", what, got);
        return;
    }
    if (isinf(want)) {
        if (!(got == want))
            fail_msg("%s = %.17g, want %.17g", what, got, want);
        return;
    }
    double tol = rtol * (want != 0.0 ? fabs(want) : 1.0);
    if (!(fabs(got - want) <= tol))
        fail_msg("%s = %.17g, want %.17g (rtol %g)", what, got, want, rtol);
}

static void check_array(const char *what, const double *got, const double *want, size_t n)
{
    char label[128];
    for (size_t i = 0; i < n; i++) {
        snprintf(label, sizeof label, "%s[%zu]", what, i);
        check_close(label, got[i], want[i], RTOL);
    }
}

static void check_msg(const mb_error *err, const char *needle)
{
    if (!strstr(err->msg, needle))
        fail_msg("error message \"%s\" lacks \"%s\"", err->msg, needle);
}

/* Rows x k probabilities from a binary score column: (1 - p, p). */
static void binary_proba(const float *p1, size_t n, float *proba)
{
    for (size_t i = 0; i < n; i++) {
        proba[2 * i] = 1 - p1[i];
        proba[2 * i + 1] = p1[i];
    }
}

/* }====== */

/* {====== classification report ======} */

/* A binary problem with tied scores at 0.25 and 0.5. */
static const float bin_y[] = {0, 0, 1, 1, 0, 1, 0, 1, 1, 0, 1, 0};
static const float bin_p1[] = {0.125f, 0.25f, 0.75f, 0.5f,   0.5f,  0.875f,
                               0.25f,  0.5f,  0.625f, 0.375f, 0.25f, 0.0f};
static const float bin_pred[] = {0, 0, 1, 1, 1, 1, 0, 1, 1, 0, 0, 0};

static void test_binary_report(void **state)
{
    (void)state;
    size_t n = ARRAY_LEN(bin_y);
    float proba[2 * ARRAY_LEN(bin_y)];
    binary_proba(bin_p1, n, proba);
    mb_class_report r;
    mb_error err = {0};
    assert_int_equal(mb_class_report_compute(bin_y, bin_pred, proba, n, 2, &r, &err), MB_OK);
    assert_int_equal(r.k, 2);
    assert_int_equal(r.n, n);
    check_close("accuracy", r.accuracy, 0.83333333333333337, RTOL);
    check_close("balanced_accuracy", r.balanced_accuracy, 0.83333333333333337, RTOL);
    check_close("precision_macro", r.precision_macro, 0.83333333333333337, RTOL);
    check_close("recall_macro", r.recall_macro, 0.83333333333333337, RTOL);
    check_close("f1_macro", r.f1_macro, 0.83333333333333337, RTOL);
    check_close("precision_weighted", r.precision_weighted, 0.83333333333333337, RTOL);
    check_close("recall_weighted", r.recall_weighted, 0.83333333333333337, RTOL);
    check_close("f1_weighted", r.f1_weighted, 0.83333333333333337, RTOL);
    const size_t conf[] = {5, 1, 1, 5};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(r.confusion[i], conf[i]);
    assert_int_equal(r.support[0], 6);
    assert_int_equal(r.support[1], 6);
    check_close("roc_auc", r.roc_auc, 0.88888888888888895, RTOL);
    check_close("pr_auc", r.pr_auc, 0.87777777777777788, RTOL);
    check_close("brier", r.brier, 0.15104166666666666, RTOL);
    check_close("log_loss", r.log_loss, 0.46132101365796552, RTOL);
    mb_class_report_free(&r);
    assert_null(r.confusion);
    mb_class_report_free(&r); /* twice is harmless */
}

/* k = 4; class 3 is never predicted (precision 0 by zero_division=0). */
static const float k4_y[] = {0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 0, 1, 2};
static const float k4_pred[] = {0, 1, 2, 0, 0, 2, 2, 1, 1, 1, 2, 2, 0, 1, 1, 0};
static const float k4_proba[] = {
    0.5f,    0.125f,  0.125f, 0.25f,   0.1875f, 0.5625f, 0.25f,   0.0f,    0.0f,    0.125f,
    0.5f,    0.375f,  0.3125f, 0.0f,   0.125f,  0.5625f, 0.3125f, 0.5f,    0.0f,    0.1875f,
    0.375f,  0.375f,  0.125f, 0.125f,  0.1875f, 0.0625f, 0.625f,  0.125f,  0.125f,  0.1875f,
    0.1875f, 0.5f,    0.375f, 0.25f,   0.1875f, 0.1875f, 0.1875f, 0.4375f, 0.0625f, 0.3125f,
    0.1875f, 0.0625f, 0.6875f, 0.0625f, 0.5f,   0.25f,   0.0f,    0.25f,   0.625f,  0.0f,
    0.0625f, 0.3125f, 0.5f,   0.0625f, 0.1875f, 0.25f,   0.25f,   0.5f,    0.125f,  0.125f,
    0.125f,  0.1875f, 0.625f, 0.0625f};

static void test_multiclass_report(void **state)
{
    (void)state;
    mb_class_report r;
    mb_error err = {0};
    assert_int_equal(mb_class_report_compute(k4_y, k4_pred, k4_proba, 16, 4, &r, &err), MB_OK);
    check_close("accuracy", r.accuracy, 0.5625, RTOL);
    check_close("balanced_accuracy", r.balanced_accuracy, 0.52500000000000002, RTOL);
    check_close("precision_macro", r.precision_macro, 0.42500000000000004, RTOL);
    check_close("recall_macro", r.recall_macro, 0.52500000000000002, RTOL);
    check_close("f1_macro", r.f1_macro, 0.46666666666666662, RTOL);
    check_close("precision_weighted", r.precision_weighted, 0.46250000000000002, RTOL);
    check_close("recall_weighted", r.recall_weighted, 0.5625, RTOL);
    check_close("f1_weighted", r.f1_weighted, 0.50416666666666665, RTOL);
    const double prec[] = {0.59999999999999998, 0.5, 0.59999999999999998, 0};
    const double rec[] = {0.59999999999999998, 0.75, 0.75, 0};
    const double f1[] = {0.59999999999999998, 0.59999999999999998, 0.66666666666666652, 0};
    check_array("precision", r.precision, prec, 4);
    check_array("recall", r.recall, rec, 4);
    check_array("f1", r.f1, f1, 4);
    const size_t support[] = {5, 4, 4, 3};
    const size_t conf[] = {3, 2, 0, 0, 0, 3, 1, 0, 1, 0, 3, 0, 1, 1, 1, 0};
    for (size_t c = 0; c < 4; c++)
        assert_int_equal(r.support[c], support[c]);
    for (size_t i = 0; i < 16; i++)
        assert_int_equal(r.confusion[i], conf[i]);
    check_close("roc_auc (ovr macro)", r.roc_auc, 0.93861086829836826, RTOL);
    check_close("pr_auc (ovr macro)", r.pr_auc, 0.83854166666666663, RTOL);
    check_close("brier (multi-class)", r.brier, 0.39501953125, RTOL);
    check_close("log_loss", r.log_loss, 0.73368442374493503, RTOL);
    mb_class_report_free(&r);
}

/* k = 4 with class 2 in neither y nor pred: the macro averages run over the
** three present classes (scikit-learn without labels=). scikit-learn's
** roc_auc_score refuses such a y, so the AUC and AP references are the means
** of roc_auc_score(y == c, P[:, c]) and average_precision_score(y == c,
** P[:, c]) over c in {0, 1, 3}. */
static void test_absent_class_report(void **state)
{
    (void)state;
    const float y[] = {0, 1, 3, 0, 1, 3, 0, 1, 3, 0};
    const float pred[] = {0, 1, 3, 1, 1, 0, 0, 3, 3, 0};
    const float proba[] = {0.5f,   0.25f, 0.125f, 0.125f, 0.25f,  0.5f,  0,      0.25f,
                           0,      0.25f, 0.25f,  0.5f,   0.25f,  0.5f,  0.125f, 0.125f,
                           0.125f, 0.625f, 0.125f, 0.125f, 0.5f,  0.125f, 0.125f, 0.25f,
                           0.75f,  0.125f, 0,      0.125f, 0.25f, 0.25f, 0,      0.5f,
                           0.125f, 0.125f, 0.25f,  0.5f,   0.5f,  0.25f, 0.25f,  0};
    mb_class_report r;
    assert_int_equal(mb_class_report_compute(y, pred, proba, 10, 4, &r, NULL), MB_OK);
    check_close("accuracy", r.accuracy, 0.69999999999999996, RTOL);
    check_close("balanced_accuracy", r.balanced_accuracy, 0.69444444444444431, RTOL);
    check_close("precision_macro", r.precision_macro, 0.69444444444444431, RTOL);
    check_close("recall_macro", r.recall_macro, 0.69444444444444431, RTOL);
    check_close("f1_macro", r.f1_macro, 0.69444444444444431, RTOL);
    check_close("precision_weighted", r.precision_weighted, 0.69999999999999996, RTOL);
    check_close("recall_weighted", r.recall_weighted, 0.69999999999999996, RTOL);
    check_close("f1_weighted", r.f1_weighted, 0.69999999999999996, RTOL);
    assert_int_equal(r.support[2], 0);
    check_close("precision[2]", r.precision[2], 0, RTOL);
    check_close("roc_auc", r.roc_auc, 0.87103174603174605, RTOL);
    check_close("pr_auc", r.pr_auc, 0.70357142857142863, RTOL);
    check_close("brier", r.brier, 0.46562500000000001, RTOL);
    check_close("log_loss", r.log_loss, 0.83823046878569163, RTOL);
    mb_class_report_free(&r);
}

/* Perfect one-hot predictions, k = 3. log_loss: scikit-learn 1.2.1 gives
** 4.4408920985006271e-16 (it renormalises the clipped rows); moonbench
** clips without renormalising, -log(1 - 1e-15) = 1.1e-15: both are 0 for
** any purpose, so only the order of magnitude is checked. */
static void test_perfect_report(void **state)
{
    (void)state;
    const float y[] = {0, 1, 2, 1, 0, 2};
    float proba[18] = {0};
    for (size_t i = 0; i < 6; i++)
        proba[i * 3 + (size_t)y[i]] = 1;
    mb_class_report r;
    assert_int_equal(mb_class_report_compute(y, y, proba, 6, 3, &r, NULL), MB_OK);
    check_close("accuracy", r.accuracy, 1, 0);
    check_close("balanced_accuracy", r.balanced_accuracy, 1, 0);
    check_close("f1_macro", r.f1_macro, 1, 0);
    check_close("f1_weighted", r.f1_weighted, 1, 0);
    check_close("roc_auc", r.roc_auc, 1, 0);
    check_close("pr_auc", r.pr_auc, 1, 0);
    check_close("brier", r.brier, 0, 0);
    assert_true(r.log_loss >= 0 && r.log_loss < 2e-15);
    for (size_t t = 0; t < 3; t++)
        for (size_t p = 0; p < 3; p++)
            assert_int_equal(r.confusion[t * 3 + p], t == p ? 2 : 0);
    mb_class_report_free(&r);
}

/* Only class 0 in y (binary): AUC and average precision are undefined
** (NaN); scikit-learn returns nan for both, with warnings. */
static void test_single_class_report(void **state)
{
    (void)state;
    const float y[] = {0, 0, 0, 0, 0};
    const float pred[] = {0, 1, 0, 0, 1};
    const float p1[] = {0.25f, 0.75f, 0.5f, 0.125f, 0.625f};
    float proba[10];
    binary_proba(p1, 5, proba);
    mb_class_report r;
    assert_int_equal(mb_class_report_compute(y, pred, proba, 5, 2, &r, NULL), MB_OK);
    check_close("accuracy", r.accuracy, 0.59999999999999998, RTOL);
    check_close("balanced_accuracy", r.balanced_accuracy, 0.59999999999999998, RTOL);
    check_close("precision_macro", r.precision_macro, 0.5, RTOL);
    check_close("recall_macro", r.recall_macro, 0.29999999999999999, RTOL);
    check_close("f1_macro", r.f1_macro, 0.37499999999999994, RTOL);
    check_close("precision_weighted", r.precision_weighted, 1, RTOL);
    check_close("recall_weighted", r.recall_weighted, 0.59999999999999998, RTOL);
    check_close("f1_weighted", r.f1_weighted, 0.74999999999999989, RTOL);
    check_close("roc_auc", r.roc_auc, DNAN, 0);
    check_close("pr_auc", r.pr_auc, DNAN, 0);
    check_close("brier", r.brier, 0.25624999999999998, RTOL);
    check_close("log_loss", r.log_loss, 0.69629685195357316, RTOL);
    mb_class_report_free(&r);
}

static void test_report_without_proba(void **state)
{
    (void)state;
    mb_class_report r;
    assert_int_equal(mb_class_report_compute(bin_y, bin_pred, NULL, 12, 2, &r, NULL), MB_OK);
    check_close("accuracy", r.accuracy, 0.83333333333333337, RTOL);
    check_close("roc_auc", r.roc_auc, DNAN, 0);
    check_close("pr_auc", r.pr_auc, DNAN, 0);
    check_close("log_loss", r.log_loss, DNAN, 0);
    check_close("brier", r.brier, DNAN, 0);
    mb_class_report_free(&r);
}

static void test_report_errors(void **state)
{
    (void)state;
    mb_class_report r;
    mb_error err = {0};
    const float y[] = {0, 1, 2, 1};
    const float bad[] = {0, 1, 1.5f, 1};
    const float big[] = {0, 1, 3, 1};
    const float nan[] = {0, NAN, 1, 1};
    float proba[12] = {0.5f, 0.5f, 0, 0.5f, 0.5f, 0, 0.5f, 0.5f, 0, 0.5f, 0.5f, 0};

    assert_int_equal(mb_class_report_compute(y, bad, NULL, 4, 3, &r, &err), MB_EARG);
    check_msg(&err, "pred[2] = 1.5");
    check_msg(&err, "[0, 3)");
    assert_null(r.confusion);
    assert_int_equal(mb_class_report_compute(big, y, NULL, 4, 3, &r, &err), MB_EARG);
    check_msg(&err, "y[2] = 3");
    assert_int_equal(mb_class_report_compute(y, nan, NULL, 4, 3, &r, &err), MB_EARG);
    check_msg(&err, "pred[1] = nan");
    assert_int_equal(mb_class_report_compute(y, y, NULL, 4, 1, &r, &err), MB_EARG);
    check_msg(&err, "k = 1");
    assert_int_equal(mb_class_report_compute(y, y, NULL, 0, 3, &r, &err), MB_EEMPTY);
    proba[7] = NAN;
    assert_int_equal(mb_class_report_compute(y, y, proba, 4, 3, &r, &err), MB_EARG);
    check_msg(&err, "proba[2, 1] is NaN");
    /* A k x k confusion matrix that cannot be allocated. */
    assert_int_equal(mb_class_report_compute(y, y, NULL, 4, SIZE_MAX / 2, &r, &err), MB_ENOMEM);
    check_msg(&err, "confusion matrix");
    assert_null(r.precision);
    mb_class_report_free(&r);
}

/* }====== */

/* {====== regression ======} */

static void test_regression_report(void **state)
{
    (void)state;
    const float y[] = {3.0f, -0.5f, 2.0f, 7.0f, 4.25f, 1.5f, -2.0f, 10.0f};
    const float pred[] = {2.5f, 0.0f, 2.0f, 8.0f, 4.0f, 1.0f, -1.5f, 9.0f};
    mb_reg_report r;
    mb_reg_report_compute(y, pred, 8, &r);
    assert_int_equal(r.n, 8);
    check_close("rmse", r.rmse, 0.61871843353822908, RTOL);
    check_close("mae", r.mae, 0.53125, RTOL);
    check_close("r2", r.r2, 0.97134293442503106, RTOL);
    check_close("mape", r.mape, 0.25646008403361342, RTOL);

    /* y = 0: the error is divided by float64 machine epsilon.
    ** mean_absolute_percentage_error([0, 1, 2], [0.5, 1, 1]) */
    const float yz[] = {0, 1, 2}, pz[] = {0.5f, 1, 1};
    mb_reg_report_compute(yz, pz, 3, &r);
    check_close("mape (y = 0)", r.mape, 750599937895082.88, RTOL);

    mb_reg_report_compute(yz, pz, 0, &r);
    assert_int_equal(r.n, 0);
    check_close("rmse (n = 0)", r.rmse, DNAN, 0);
    check_close("mae (n = 0)", r.mae, DNAN, 0);
    check_close("r2 (n = 0)", r.r2, DNAN, 0);
    check_close("mape (n = 0)", r.mape, DNAN, 0);
}

/* }====== */

/* {====== curves ======} */

static void test_roc_curve(void **state)
{
    (void)state;
    mb_curve c;
    mb_error err = {0};
    assert_int_equal(mb_roc_curve(bin_y, bin_p1, 12, &c, &err), MB_OK);
    /* roc_curve(y, s, drop_intermediate=False); scikit-learn 1.2.1 writes
    ** the first threshold as max + 1 = 1.875, 1.3 and later as +inf. */
    const double fpr[] = {0, 0, 0, 0, 0.16666666666666666, 0.33333333333333331,
                          0.66666666666666663, 0.83333333333333337, 1};
    const double tpr[] = {0, 0.16666666666666666, 0.33333333333333331, 0.5, 0.83333333333333337,
                          0.83333333333333337, 1, 1, 1};
    const double thr[] = {DINF, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125, 0};
    assert_int_equal(c.n, 9);
    check_array("fpr", c.x, fpr, 9);
    check_array("tpr", c.y, tpr, 9);
    check_array("threshold", c.threshold, thr, 9);
    mb_curve_free(&c);
    assert_null(c.x);

    const float one[] = {1, 1, 1};
    assert_int_equal(mb_roc_curve(one, bin_p1, 3, &c, &err), MB_EARG);
    check_msg(&err, "3 positive and 0 negative");
    const float two[] = {0, 2, 1};
    assert_int_equal(mb_roc_curve(two, bin_p1, 3, &c, &err), MB_EARG);
    check_msg(&err, "y[1] = 2");
    const float s_nan[] = {0.5f, NAN, 0.25f};
    assert_int_equal(mb_roc_curve(bin_y + 1, s_nan, 3, &c, &err), MB_EARG);
    check_msg(&err, "score[1] is NaN");
    mb_curve_free(&c);
}

static void test_pr_curve(void **state)
{
    (void)state;
    mb_curve c;
    mb_error err = {0};
    assert_int_equal(mb_pr_curve(bin_y, bin_p1, 12, &c, &err), MB_OK);
    /* precision_recall_curve(y, s): recall decreasing, ending (0, 1); the
    ** last point has no threshold there, +inf here. */
    const double prec[] = {0.5, 0.54545454545454541, 0.59999999999999998, 0.7142857142857143,
                           0.83333333333333337, 1, 1, 1, 1};
    const double rec[] = {1, 1, 1, 0.83333333333333337, 0.83333333333333337, 0.5,
                          0.33333333333333331, 0.16666666666666666, 0};
    const double thr[] = {0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, DINF};
    assert_int_equal(c.n, 9);
    check_array("precision", c.y, prec, 9);
    check_array("recall", c.x, rec, 9);
    check_array("threshold", c.threshold, thr, 9);
    mb_curve_free(&c);

    /* No negatives is fine (precision 1 throughout); no positives is not. */
    const float pos[] = {1, 1, 1};
    assert_int_equal(mb_pr_curve(pos, bin_p1, 3, &c, &err), MB_OK);
    assert_int_equal(c.n, 4);
    for (size_t i = 0; i < c.n; i++)
        check_close("precision (all positive)", c.y[i], 1, 0);
    mb_curve_free(&c);
    const float neg[] = {0, 0, 0};
    assert_int_equal(mb_pr_curve(neg, bin_p1, 3, &c, &err), MB_EARG);
    check_msg(&err, "positive");
    mb_curve_free(&c);
}

static void test_calibration(void **state)
{
    (void)state;
    const float y[] = {0, 1, 0, 1, 1, 0, 1, 1, 0, 0, 1, 1};
    const float s[] = {0.05f, 0.2f, 0.2f, 0.35f, 0.4f, 0.41f, 0.6f, 0.8f, 0.8f, 0.0f, 1.0f, 0.95f};
    mb_curve c;
    mb_error err = {0};
    /* calibration_curve(y, s, n_bins=5) -> (prob_true, prob_pred); counts from
    ** np.bincount(np.searchsorted(bins[1:-1], s)). float32 0.2 > 0.2, so it
    ** falls in the second bin; 0.4f < 0.4 stays in the second. */
    assert_int_equal(mb_calibration(y, s, 12, 5, &c, &err), MB_OK);
    const double t5[] = {0, 0.66666666666666663, 0.5, 1, 0.75};
    const double p5[] = {0.02500000037252903, 0.25, 0.4050000011920929, 0.60000002384185791,
                         0.88750000298023224};
    const double n5[] = {2, 3, 2, 1, 4};
    assert_int_equal(c.n, 5);
    check_array("prob_true", c.y, t5, 5);
    check_array("prob_pred", c.x, p5, 5);
    check_array("count", c.threshold, n5, 5);
    mb_curve_free(&c);

    /* n_bins=10: three bins are empty and left out. */
    assert_int_equal(mb_calibration(y, s, 12, 10, &c, &err), MB_OK);
    const double t10[] = {0, 0.5, 1, 0.5, 1, 0.5, 1};
    const double p10[] = {0.02500000037252903, 0.20000000298023224, 0.34999999403953552,
                          0.4050000011920929,  0.60000002384185791, 0.80000001192092896,
                          0.97499999403953552};
    const double n10[] = {2, 2, 1, 2, 1, 2, 2};
    assert_int_equal(c.n, 7);
    check_array("prob_true", c.y, t10, 7);
    check_array("prob_pred", c.x, p10, 7);
    check_array("count", c.threshold, n10, 7);
    mb_curve_free(&c);

    const float out[] = {0.5f, 1.5f};
    assert_int_equal(mb_calibration(y, out, 2, 5, &c, &err), MB_EARG);
    check_msg(&err, "score[1] = 1.5");
    check_msg(&err, "[0, 1]");
    assert_int_equal(mb_calibration(y, s, 12, 0, &c, &err), MB_EARG);
    check_msg(&err, "nbins = 0");
    mb_curve_free(&c);
}

/* }====== */

/* {====== t-test ======} */

static void test_student_t(void **state)
{
    (void)state;
    /* 2 * scipy.stats.t.sf(|t|, df) */
    static const struct {
        double t, df, p;
    } ref[] = {
        {2.0, 9, 0.076552823770700926},    {0.0, 9, 1},
        {-3.5, 4, 0.024896163460222751},   {1.5, 100, 0.13676505812468887},
        {0.5, 2.5, 0.65769791986971482},   {50.0, 3, 1.7617152041271951e-05},
        {1e3, 1, 0.00063661956016111774},  {12.0, 30, 5.5801854151992606e-13},
        {1.0, 1, 0.49999999999999956},
    };
    char label[64];
    for (size_t i = 0; i < ARRAY_LEN(ref); i++) {
        snprintf(label, sizeof label, "p(t = %g, df = %g)", ref[i].t, ref[i].df);
        check_close(label, mb_student_t_2sided(ref[i].t, ref[i].df), ref[i].p, 1e-10);
        check_close(label, mb_student_t_2sided(-ref[i].t, ref[i].df), ref[i].p, 1e-10);
    }
    /* Far tails: tiny, never negative; scipy gives 0 for t = 1e200. */
    double p = mb_student_t_2sided(1e200, 1);
    assert_true(p >= 0 && p < 1e-199);
    p = mb_student_t_2sided(1e8, 9);
    assert_true(p >= 0 && p < 1e-60);
    check_close("p(inf)", mb_student_t_2sided(DINF, 5), 0, 0);
    check_close("p(NaN)", mb_student_t_2sided(DNAN, 5), DNAN, 0);
    check_close("p(df = 0)", mb_student_t_2sided(1, 0), DNAN, 0);
}

static void test_corrected_ttest(void **state)
{
    (void)state;
    /* Paired accuracies of two pipelines on 10 folds, test/train = 1/9.
    ** numpy: d = a - b; t = d.mean() / sqrt((1/10 + 1/9) * d.var(ddof=1));
    ** p = 2 * scipy.stats.t.sf(|t|, 9). */
    const double a[] = {0.81, 0.79, 0.84, 0.80, 0.83, 0.78, 0.82, 0.85, 0.80, 0.81};
    const double b[] = {0.78, 0.79, 0.80, 0.77, 0.82, 0.76, 0.80, 0.81, 0.79, 0.78};
    double t;
    double p = mb_corrected_ttest(a, b, 10, 1.0 / 9, &t);
    check_close("t", t, 3.7426619934202576, 1e-10);
    check_close("p", p, 0.0046065293777998537, 1e-10);
    p = mb_corrected_ttest(b, a, 10, 1.0 / 9, &t);
    check_close("t (swapped)", t, -3.7426619934202576, 1e-10);
    check_close("p (swapped)", p, 0.0046065293777998537, 1e-10);
    check_close("p (t NULL)", mb_corrected_ttest(a, b, 10, 1.0 / 9, NULL), p, 0);

    const double c[] = {0.5, 0.6, 0.7}, d[] = {0.4, 0.5, 0.6}; /* all differences equal */
    check_close("p (equal differences)", mb_corrected_ttest(c, d, 3, 0.5, &t), DNAN, 0);
    check_close("t (equal differences)", t, DNAN, 0);
    check_close("p (identical)", mb_corrected_ttest(a, a, 10, 0.1, &t), DNAN, 0);
    check_close("p (r = 1)", mb_corrected_ttest(a, b, 1, 0.1, &t), DNAN, 0);
}

/* }====== */

/* {====== train/test split ======} */

/* Sorted, disjoint, covering 0..n-1. */
static void check_partition(const size_t *train, size_t ntrain, const size_t *test, size_t ntest,
                            size_t n)
{
    assert_int_equal(ntrain + ntest, n);
    unsigned char *seen = calloc(n, 1);
    assert_non_null(seen);
    for (size_t i = 0; i < ntrain; i++) {
        assert_true(train[i] < n);
        if (i)
            assert_true(train[i - 1] < train[i]);
        seen[train[i]]++;
    }
    for (size_t i = 0; i < ntest; i++) {
        assert_true(test[i] < n);
        if (i)
            assert_true(test[i - 1] < test[i]);
        seen[test[i]]++;
    }
    for (size_t i = 0; i < n; i++)
        assert_int_equal(seen[i], 1);
    free(seen);
}

static void test_split_sizes(void **state)
{
    (void)state;
    size_t *train, *test, ntrain, ntest;
    mb_error err = {0};
    /* Fraction: ceil(0.25 * 10) = 3 test rows, as scikit-learn. */
    assert_int_equal(mb_split_train_test(10, 0.25, NULL, 1, &train, &ntrain, &test, &ntest, &err),
                     MB_OK);
    assert_int_equal(ntest, 3);
    check_partition(train, ntrain, test, ntest, 10);
    mb_free(train), mb_free(test);
    /* Count. */
    assert_int_equal(mb_split_train_test(10, 4, NULL, 1, &train, &ntrain, &test, &ntest, &err),
                     MB_OK);
    assert_int_equal(ntest, 4);
    check_partition(train, ntrain, test, ntest, 10);
    mb_free(train), mb_free(test);
    assert_int_equal(mb_split_train_test(2, 1, NULL, 1, &train, &ntrain, &test, &ntest, &err),
                     MB_OK);
    assert_int_equal(ntest, 1);
    assert_int_equal(ntrain, 1);
    mb_free(train), mb_free(test);
}

static void test_split_golden(void **state)
{
    (void)state;
    /* From the independent Python re-implementation of the PRNG: n = 10,
    ** test_size 0.3, seed 42 -> test rows [3, 7, 8]. */
    size_t *train, *test, ntrain, ntest;
    assert_int_equal(mb_split_train_test(10, 0.3, NULL, 42, &train, &ntrain, &test, &ntest, NULL),
                     MB_OK);
    assert_int_equal(ntest, 3);
    assert_int_equal(test[0], 3);
    assert_int_equal(test[1], 7);
    assert_int_equal(test[2], 8);
    mb_free(train), mb_free(test);
}

static void test_split_seeds(void **state)
{
    (void)state;
    size_t *tr1, *te1, *tr2, *te2, ntr1, nte1, ntr2, nte2;
    assert_int_equal(mb_split_train_test(100, 0.3, NULL, 7, &tr1, &ntr1, &te1, &nte1, NULL), MB_OK);
    assert_int_equal(mb_split_train_test(100, 0.3, NULL, 7, &tr2, &ntr2, &te2, &nte2, NULL), MB_OK);
    assert_int_equal(nte1, 30);
    assert_int_equal(nte2, 30);
    assert_memory_equal(te1, te2, 30 * sizeof *te1);
    mb_free(tr2), mb_free(te2);
    assert_int_equal(mb_split_train_test(100, 0.3, NULL, 8, &tr2, &ntr2, &te2, &nte2, NULL), MB_OK);
    assert_int_equal(nte2, 30);
    assert_true(memcmp(te1, te2, 30 * sizeof *te1) != 0);
    mb_free(tr1), mb_free(te1), mb_free(tr2), mb_free(te2);
}

static void test_split_stratified(void **state)
{
    (void)state;
    /* Classes of 60, 30, 10, 2 and 1 rows (n = 103), interleaved. */
    enum { N = 103 };
    float strata[N];
    size_t cnt[5] = {0};
    for (size_t i = 0; i < N; i++) {
        size_t m = i % 10;
        strata[i] = i == 50 ? 4.5f : i == 7 || i == 77 ? -3.0f : m < 6 ? 0.0f : m < 9 ? 2.0f : 1.0f;
        size_t c = strata[i] == 0 ? 0 : strata[i] == 2 ? 1 : strata[i] == 1 ? 2 : strata[i] < 0 ? 3 : 4;
        cnt[c]++;
    }
    const float value[5] = {0, 2, 1, -3, 4.5f};
    for (uint64_t seed = 0; seed < 20; seed++) {
        size_t *train, *test, ntrain, ntest, intest[5] = {0};
        assert_int_equal(
            mb_split_train_test(N, 0.2, strata, seed, &train, &ntrain, &test, &ntest, NULL), MB_OK);
        assert_int_equal(ntest, 21); /* ceil(20.6) */
        check_partition(train, ntrain, test, ntest, N);
        for (size_t i = 0; i < ntest; i++)
            for (size_t c = 0; c < 5; c++)
                intest[c] += strata[test[i]] == value[c];
        for (size_t c = 0; c < 5; c++) {
            double quota = 21.0 * (double)cnt[c] / N;
            if (fabs((double)intest[c] - quota) >= 1)
                fail_msg("seed %zu: class %g has %zu test rows, quota %g", (size_t)seed,
                         (double)value[c], intest[c], quota);
        }
        assert_true(intest[3] == 1); /* two rows: one test, one train */
        mb_free(train), mb_free(test);
    }
}

static void test_split_errors(void **state)
{
    (void)state;
    size_t *train = (size_t *)1, *test = (size_t *)1, ntrain, ntest;
    mb_error err = {0};
    const double bad[] = {0, -0.1, 1.5, 10, 11, (double)NAN};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        assert_int_equal(
            mb_split_train_test(10, bad[i], NULL, 1, &train, &ntrain, &test, &ntest, &err),
            MB_EARG);
        check_msg(&err, "test_size = ");
        check_msg(&err, "(0, 1)");
        check_msg(&err, "[1, 9]");
        assert_null(train);
        assert_null(test);
    }
    assert_int_equal(mb_split_train_test(10, 1.5, NULL, 1, &train, &ntrain, &test, &ntest, &err),
                     MB_EARG);
    check_msg(&err, "1.5");
    /* A fraction that leaves no train row. */
    assert_int_equal(mb_split_train_test(2, 0.9, NULL, 1, &train, &ntrain, &test, &ntest, &err),
                     MB_EARG);
    check_msg(&err, "test_size = 0.9");
    check_msg(&err, "(0, 0.5]");
    assert_int_equal(mb_split_train_test(1, 0.5, NULL, 1, &train, &ntrain, &test, &ntest, &err),
                     MB_EARG);
    check_msg(&err, "1 rows");
    /* Stratified: 3 classes of two or more rows need 3 test rows. */
    const float strata[] = {0, 0, 1, 1, 2, 2, 0, 1, 2, 0};
    assert_int_equal(mb_split_train_test(10, 2, strata, 1, &train, &ntrain, &test, &ntest, &err),
                     MB_EARG);
    check_msg(&err, "2 test rows");
    check_msg(&err, "3 classes");
    assert_int_equal(mb_split_train_test(10, 8, strata, 1, &train, &ntrain, &test, &ntest, &err),
                     MB_EARG);
    check_msg(&err, "2 train rows");
    const float snan[] = {0, 1, NAN, 1};
    assert_int_equal(mb_split_train_test(4, 0.5, snan, 1, &train, &ntrain, &test, &ntest, &err),
                     MB_EARG);
    check_msg(&err, "strata[2] is NaN");
}

/* }====== */

/* {====== k folds ======} */

static void fold_counts(const int32_t *fold, size_t n, size_t k, size_t *count)
{
    memset(count, 0, k * sizeof *count);
    for (size_t i = 0; i < n; i++) {
        assert_true(fold[i] >= 0 && (size_t)fold[i] < k);
        count[fold[i]]++;
    }
}

static void check_fold_sizes(const int32_t *fold, size_t n, size_t k)
{
    size_t count[64], lo = SIZE_MAX, hi = 0;
    fold_counts(fold, n, k, count);
    for (size_t f = 0; f < k; f++) {
        lo = count[f] < lo ? count[f] : lo;
        hi = count[f] > hi ? count[f] : hi;
    }
    assert_true(lo >= 1);
    assert_true(hi - lo <= 1);
}

static void test_kfold_sklearn(void **state)
{
    (void)state;
    int32_t fold[32];
    mb_error err = {0};
    /* KFold(3) on 10 rows. */
    const int32_t kf[] = {0, 0, 0, 0, 1, 1, 1, 2, 2, 2};
    assert_int_equal(mb_kfold(10, 3, 0, NULL, NULL, 0, fold, &err), MB_OK);
    assert_memory_equal(fold, kf, sizeof kf);

    /* StratifiedKFold(4) on 20 rows. */
    const float s20[] = {2, 0, 0, 1, 2, 2, 0, 1, 1, 0, 0, 2, 1, 0, 0, 1, 2, 0, 0, 1};
    const int32_t skf20[] = {0, 0, 0, 0, 0, 1, 1, 1, 2, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 3};
    assert_int_equal(mb_kfold(20, 4, 0, s20, NULL, 0, fold, &err), MB_OK);
    assert_memory_equal(fold, skf20, sizeof skf20);

    /* StratifiedKFold(3) on 13 rows with uneven classes. */
    const float s13[] = {1, 1, 0, 0, 0, 0, 0, 1, 2, 2, 2, 0, 0};
    const int32_t skf13[] = {0, 1, 0, 0, 0, 1, 1, 2, 0, 1, 2, 2, 2};
    assert_int_equal(mb_kfold(13, 3, 0, s13, NULL, 0, fold, &err), MB_OK);
    assert_memory_equal(fold, skf13, sizeof skf13);

    /* GroupKFold(3), groups of distinct sizes (6, 5, 4, 3, 2, 1 rows). */
    const int64_t g[] = {5, 5, 5, 5, 5, 9, 9, 1, 1, 1, 7, 3, 3, 3, 3, 3, 3, 7, 7, 7, 2};
    const int32_t gkf[] = {1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0, 2, 2, 2, 0};
    assert_int_equal(mb_kfold(21, 3, 0, NULL, g, 0, fold, &err), MB_OK);
    assert_memory_equal(fold, gkf, sizeof gkf);
}

static void test_kfold_shuffle(void **state)
{
    (void)state;
    int32_t a[11], b[11];
    /* From the independent Python re-implementation of the PRNG. */
    const int32_t golden[] = {1, 1, 0, 0, 2, 1, 2, 0, 1, 0, 2};
    assert_int_equal(mb_kfold(11, 3, 1, NULL, NULL, 7, a, NULL), MB_OK);
    assert_memory_equal(a, golden, sizeof golden);

    enum { N = 200 };
    int32_t f1[N], f2[N];
    for (size_t k = 2; k <= 10; k++) {
        assert_int_equal(mb_kfold(N - k, k, 1, NULL, NULL, 3, f1, NULL), MB_OK);
        check_fold_sizes(f1, N - k, k);
        assert_int_equal(mb_kfold(N - k, k, 1, NULL, NULL, 3, f2, NULL), MB_OK);
        assert_memory_equal(f1, f2, (N - k) * sizeof *f1);
        assert_int_equal(mb_kfold(N - k, k, 1, NULL, NULL, 4, f2, NULL), MB_OK);
        assert_true(memcmp(f1, f2, (N - k) * sizeof *f1) != 0);
        assert_int_equal(mb_kfold(N - k, k, 0, NULL, NULL, 3, f2, NULL), MB_OK);
        check_fold_sizes(f2, N - k, k);
        for (size_t i = 1; i < N - k; i++) /* unshuffled: contiguous */
            assert_true(f2[i - 1] <= f2[i]);
    }
    /* k = n: leave one out. */
    assert_int_equal(mb_kfold(11, 11, 1, NULL, NULL, 1, b, NULL), MB_OK);
    check_fold_sizes(b, 11, 11);
}

static void test_kfold_stratified(void **state)
{
    (void)state;
    enum { N = 157, C = 4 };
    float strata[N];
    size_t cnt[C] = {0};
    int32_t fold[N], again[N];
    uint64_t x = 12345;
    for (size_t i = 0; i < N; i++) {
        x = x * 6364136223846793005u + 1442695040888963407u;
        size_t c = (x >> 33) % 10;
        c = c < 5 ? 0 : c < 8 ? 1 : c < 9 ? 2 : 3;
        strata[i] = (float)c;
        cnt[c]++;
    }
    for (int shuffle = 0; shuffle <= 1; shuffle++)
        for (size_t k = 2; k <= 7; k++) {
            assert_int_equal(mb_kfold(N, k, shuffle, strata, NULL, 99, fold, NULL), MB_OK);
            check_fold_sizes(fold, N, k);
            for (size_t c = 0; c < C; c++)
                for (size_t f = 0; f < k; f++) {
                    size_t m = 0;
                    for (size_t i = 0; i < N; i++)
                        m += strata[i] == (float)c && fold[i] == (int32_t)f;
                    if (m != cnt[c] / k && m != (cnt[c] + k - 1) / k)
                        fail_msg("k = %zu shuffle %d: class %zu has %zu rows in fold %zu of %zu",
                                 k, shuffle, c, m, f, cnt[c]);
                }
            assert_int_equal(mb_kfold(N, k, shuffle, strata, NULL, 99, again, NULL), MB_OK);
            assert_memory_equal(fold, again, sizeof fold);
        }
}

static void test_kfold_groups(void **state)
{
    (void)state;
    enum { N = 300 };
    int64_t groups[N];
    int32_t fold[N], again[N];
    uint64_t x = 777;
    for (size_t i = 0; i < N; i++) {
        x = x * 6364136223846793005u + 1442695040888963407u;
        groups[i] = (int64_t)((x >> 33) % 37) * 1000003 - 5000000; /* 37 groups, some negative */
    }
    for (int shuffle = 0; shuffle <= 1; shuffle++)
        for (size_t k = 2; k <= 10; k++) {
            size_t count[16];
            assert_int_equal(mb_kfold(N, k, shuffle, NULL, groups, 5, fold, NULL), MB_OK);
            fold_counts(fold, N, k, count);
            for (size_t f = 0; f < k; f++)
                assert_true(count[f] > 0);
            for (size_t i = 0; i < N; i++)
                for (size_t j = i + 1; j < N; j++)
                    if (groups[i] == groups[j] && fold[i] != fold[j])
                        fail_msg("k = %zu: group %lld split between folds %d and %d", k,
                                 (long long)groups[i], fold[i], fold[j]);
            assert_int_equal(mb_kfold(N, k, shuffle, NULL, groups, 5, again, NULL), MB_OK);
            assert_memory_equal(fold, again, sizeof fold);
        }
}

static void test_kfold_errors(void **state)
{
    (void)state;
    int32_t fold[10];
    mb_error err = {0};
    assert_int_equal(mb_kfold(10, 1, 0, NULL, NULL, 0, fold, &err), MB_EARG);
    check_msg(&err, "k = 1");
    check_msg(&err, "[2, 10]");
    assert_int_equal(mb_kfold(10, 11, 1, NULL, NULL, 0, fold, &err), MB_EARG);
    check_msg(&err, "k = 11");
    check_msg(&err, "[2, 10]");
    assert_int_equal(mb_kfold(1, 2, 0, NULL, NULL, 0, fold, &err), MB_EARG);
    check_msg(&err, "1 rows");
    const int64_t g[] = {1, 1, 2, 2, 2, 3, 3, 1, 2, 3};
    assert_int_equal(mb_kfold(10, 4, 0, NULL, g, 0, fold, &err), MB_EARG);
    check_msg(&err, "k = 4");
    check_msg(&err, "3 groups");
    check_msg(&err, "[2, 3]");
    const float s[] = {0, 1, 0, 1, 0, 1, 0, 1, 0, 1};
    assert_int_equal(mb_kfold(10, 2, 0, s, g, 0, fold, &err), MB_EARG);
    check_msg(&err, "not both");
    const float snan[] = {0, 1, 0, NAN, 0, 1, 0, 1, 0, 1};
    assert_int_equal(mb_kfold(10, 2, 0, snan, NULL, 0, fold, &err), MB_EARG);
    check_msg(&err, "strata[3] is NaN");
}

/* }====== */

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_binary_report),
        cmocka_unit_test(test_multiclass_report),
        cmocka_unit_test(test_absent_class_report),
        cmocka_unit_test(test_perfect_report),
        cmocka_unit_test(test_single_class_report),
        cmocka_unit_test(test_report_without_proba),
        cmocka_unit_test(test_report_errors),
        cmocka_unit_test(test_regression_report),
        cmocka_unit_test(test_roc_curve),
        cmocka_unit_test(test_pr_curve),
        cmocka_unit_test(test_calibration),
        cmocka_unit_test(test_student_t),
        cmocka_unit_test(test_corrected_ttest),
        cmocka_unit_test(test_split_sizes),
        cmocka_unit_test(test_split_golden),
        cmocka_unit_test(test_split_seeds),
        cmocka_unit_test(test_split_stratified),
        cmocka_unit_test(test_split_errors),
        cmocka_unit_test(test_kfold_sklearn),
        cmocka_unit_test(test_kfold_shuffle),
        cmocka_unit_test(test_kfold_stratified),
        cmocka_unit_test(test_kfold_groups),
        cmocka_unit_test(test_kfold_errors),
    };
    return cmocka_run_group_tests_name("eval", tests, NULL, NULL);
}
