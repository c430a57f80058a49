/*
** test_fairness.c: unit tests of src/core/fairness.c.
**
** What is checked: per-group rates and the disparities against tables
** computed by hand below (binary, multiclass, regression), fairlearn's
** definitions (difference = max - min, ratio = min / max, equalized odds
** = the worse of TPR and FPR), groups of two columns as their intersection
** in pandas' order with a "(missing)" group, refusals naming the column,
** and the bootstrap: intervals that hold the point estimate, the same for
** the same seed and different for another; a report's intervals likewise.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "fairness.h"

#define NEAR(a, b) assert_true(fabs((double)(a) - (double)(b)) < 1e-12)

/* A frame of one categorical column "g" from texts (NULL = missing). */
static mb_frame *cat_frame(const char *const *v, size_t n)
{
    mb_error err;
    mb_frame *f = mb_frame_new(n);
    mb_column *c = mb_frame_add_cat(f, "g", &err);
    assert_non_null(c);
    for (size_t i = 0; i < n; i++) {
        if (!v[i])
            continue;
        size_t l = 0;
        while (l < c->nlevels && strcmp(c->levels[l], v[i]))
            l++;
        c->codes[i] = l < c->nlevels ? (int32_t)l : mb_column_add_level(c, v[i], strlen(v[i]));
    }
    return f;
}

static double disparity(const mb_fairness *r, const char *name)
{
    for (size_t d = 0; d < r->ndisparities; d++)
        if (!strcmp(r->disparity[d].name, name))
            return r->disparity[d].value;
    fail_msg("no disparity %s", name);
    return 0;
}

/* Group A (4 rows): y 1 1 0 0, pred 1 0 1 0 -> selection 1/2, accuracy
** 1/2, TPR 1/2, FPR 1/2, precision 1/2. Group B (6 rows): y 1 1 0 0 0 1,
** pred 1 1 0 0 1 1 -> selection 4/6, accuracy 5/6, TPR 3/3, FPR 1/3,
** precision 3/4. B comes first in the data; A is reported first. */
static void test_binary_by_hand(void **state)
{
    (void)state;
    const char *gv[] = {"B", "B", "B", "B", "B", "B", "A", "A", "A", "A"};
    float y[] = {1, 1, 0, 0, 0, 1, 1, 1, 0, 0}, p[] = {1, 1, 0, 0, 1, 1, 1, 0, 1, 0};
    mb_frame *f = cat_frame(gv, 10);
    const char *cols[] = {"g"};
    mb_fair_groups g;
    mb_error err;
    assert_int_equal(mb_fair_groups_make(f, cols, 1, &g, &err), MB_OK);
    assert_int_equal(g.ngroups, 2);
    assert_string_equal(g.labels[0], "A");
    assert_string_equal(g.labels[1], "B");
    mb_fairness r;
    mb_fair_opts o = {0, 0, 0.95};
    assert_int_equal(mb_fairness_compute(MB_TASK_BINARY, 2, y, p, NULL, &g, &o, &r, &err), MB_OK);
    const mb_fair_group *a = &r.groups[0], *b = &r.groups[1];
    assert_int_equal(a->n, 4);
    assert_int_equal(b->n, 6);
    NEAR(a->selection_rate, 0.5), NEAR(a->accuracy, 0.5), NEAR(a->tpr, 0.5), NEAR(a->fpr, 0.5);
    NEAR(a->precision, 0.5);
    NEAR(b->selection_rate, 4.0 / 6), NEAR(b->accuracy, 5.0 / 6), NEAR(b->tpr, 1), NEAR(b->fpr, 1.0 / 3);
    NEAR(b->precision, 0.75);
    NEAR(r.overall.accuracy, 0.7);
    /* fairlearn: differences max - min, ratios min / max */
    NEAR(disparity(&r, "demographic_parity_difference"), 4.0 / 6 - 0.5);
    NEAR(disparity(&r, "demographic_parity_ratio"), 0.5 / (4.0 / 6));
    NEAR(disparity(&r, "equalized_odds_difference"), 0.5);        /* max(TPR 1 - .5, FPR .5 - 1/3) */
    NEAR(disparity(&r, "equalized_odds_ratio"), 0.5);             /* min(TPR .5/1, FPR (1/3)/.5) */
    NEAR(disparity(&r, "accuracy_difference"), 5.0 / 6 - 0.5);
    assert_true(isnan(r.disparity[0].lo));                        /* no bootstrap asked */
    mb_fairness_free(&r);
    mb_fair_groups_free(&g);
    mb_frame_free(&f);
}

/* A group without positive rows has TPR 0 (scikit-learn's normalised
** confusion matrix), a ratio with max 0 is NaN; AUC by group. */
static void test_binary_edges(void **state)
{
    (void)state;
    const char *gv[] = {"x", "x", "y", "y", "y"};
    float y[] = {0, 0, 1, 0, 1}, p[] = {0, 0, 1, 0, 0}, s[] = {0.2f, 0.1f, 0.9f, 0.3f, 0.4f};
    mb_frame *f = cat_frame(gv, 5);
    const char *cols[] = {"g"};
    mb_fair_groups g;
    mb_error err;
    assert_int_equal(mb_fair_groups_make(f, cols, 1, &g, &err), MB_OK);
    mb_fairness r;
    mb_fair_opts o = {0, 0, 0.95};
    assert_int_equal(mb_fairness_compute(MB_TASK_BINARY, 2, y, p, s, &g, &o, &r, &err), MB_OK);
    NEAR(r.groups[0].tpr, 0);
    NEAR(r.groups[0].precision, 0);
    assert_true(isnan(r.groups[0].auc));                          /* one class only */
    NEAR(r.groups[1].auc, 1.0);                                   /* 0.9, 0.4 above 0.3 */
    NEAR(r.groups[1].tpr, 0.5);
    NEAR(disparity(&r, "demographic_parity_ratio"), 0);           /* 0 / (1/3) */
    assert_true(isnan(disparity(&r, "equalized_odds_ratio")));    /* FPR 0 and 0: 0 / 0 */
    mb_fairness_free(&r);
    mb_fair_groups_free(&g);
    mb_frame_free(&f);
}

/* Multiclass: A y 0 1 2 pred 0 1 1 (accuracy 2/3, predicted shares 1/3
** 2/3 0); B y 2 2 pred 2 0 (1/2; 1/2 0 1/2). */
static void test_multiclass_by_hand(void **state)
{
    (void)state;
    const char *gv[] = {"A", "A", "A", "B", "B"};
    float y[] = {0, 1, 2, 2, 2}, p[] = {0, 1, 1, 2, 0};
    mb_frame *f = cat_frame(gv, 5);
    const char *cols[] = {"g"};
    mb_fair_groups g;
    mb_error err;
    assert_int_equal(mb_fair_groups_make(f, cols, 1, &g, &err), MB_OK);
    mb_fairness r;
    mb_fair_opts o = {0, 0, 0.95};
    assert_int_equal(mb_fairness_compute(MB_TASK_MULTICLASS, 3, y, p, NULL, &g, &o, &r, &err), MB_OK);
    NEAR(r.groups[0].accuracy, 2.0 / 3);
    NEAR(r.groups[0].class_rate[0], 1.0 / 3), NEAR(r.groups[0].class_rate[1], 2.0 / 3);
    NEAR(r.groups[0].class_rate[2], 0);
    NEAR(r.groups[1].accuracy, 0.5);
    NEAR(r.groups[1].class_rate[0], 0.5), NEAR(r.groups[1].class_rate[2], 0.5);
    NEAR(disparity(&r, "accuracy_difference"), 2.0 / 3 - 0.5);
    NEAR(disparity(&r, "accuracy_ratio"), 0.75);
    NEAR(disparity(&r, "demographic_parity_difference"), 2.0 / 3); /* class 1: 2/3 vs 0 */
    float bad[] = {0, 1, 3, 2, 2};
    mb_fairness_free(&r);
    assert_int_equal(mb_fairness_compute(MB_TASK_MULTICLASS, 3, bad, p, NULL, &g, &o, &r, &err), MB_EARG);
    assert_non_null(strstr(err.msg, "row 3"));
    mb_fair_groups_free(&g);
    mb_frame_free(&f);
}

/* Regression: A y 1 2 pred 2 2 (errors 1 0: MAE 1/2, RMSE sqrt(1/2),
** mean error 1/2); B y 0 pred -2 (2, 2, -2). */
static void test_regression_by_hand(void **state)
{
    (void)state;
    const char *gv[] = {"A", "B", "A"};
    float y[] = {1, 0, 2}, p[] = {2, -2, 2};
    mb_frame *f = cat_frame(gv, 3);
    const char *cols[] = {"g"};
    mb_fair_groups g;
    mb_error err;
    assert_int_equal(mb_fair_groups_make(f, cols, 1, &g, &err), MB_OK);
    mb_fairness r;
    mb_fair_opts o = {0, 0, 0.95};
    assert_int_equal(mb_fairness_compute(MB_TASK_REGRESSION, 0, y, p, NULL, &g, &o, &r, &err), MB_OK);
    NEAR(r.groups[0].mae, 0.5), NEAR(r.groups[0].rmse, sqrt(0.5)), NEAR(r.groups[0].mean_error, 0.5);
    NEAR(r.groups[1].mae, 2), NEAR(r.groups[1].rmse, 2), NEAR(r.groups[1].mean_error, -2);
    NEAR(disparity(&r, "mae_difference"), 1.5);
    NEAR(disparity(&r, "rmse_difference"), 2 - sqrt(0.5));
    NEAR(disparity(&r, "mean_error_difference"), 2.5);
    mb_fairness_free(&r);
    mb_fair_groups_free(&g);
    mb_frame_free(&f);
}

/* Two columns: their observed combinations, sorted by the first column's
** value then the second's (numbers by value, not text); missing values are
** a group "(missing)" sorted last; a numeric column with too many values
** and a missing column are refused by name. */
static void test_intersection(void **state)
{
    (void)state;
    const char *gv[] = {"m", "f", "m", "f", NULL, "m"};
    mb_frame *f = cat_frame(gv, 6);
    mb_error err;
    mb_column *age = mb_frame_add_num(f, "age", NULL, 1, &err);
    float ages[] = {10, 2, 2, 10, 2, NAN};
    for (int i = 0; i < 6; i++)
        age->num[i] = ages[i];
    const char *cols[] = {"g", "age"};
    mb_fair_groups g;
    assert_int_equal(mb_fair_groups_make(f, cols, 2, &g, &err), MB_OK);
    const char *want[] = {"f, 2", "f, 10", "m, 2", "m, 10", "m, (missing)", "(missing), 2"};
    int32_t code[] = {3, 0, 2, 1, 5, 4};
    assert_int_equal(g.ngroups, 6);
    for (int j = 0; j < 6; j++)
        assert_string_equal(g.labels[j], want[j]);
    for (int i = 0; i < 6; i++)
        assert_int_equal(g.code[i], code[i]);
    assert_string_equal(g.values[1 * 2 + 1], "10");
    mb_fair_groups_free(&g);

    const char *nope[] = {"g", "income"};
    assert_int_equal(mb_fair_groups_make(f, nope, 2, &g, &err), MB_ENOTFOUND);
    assert_non_null(strstr(err.msg, "'income'"));
    mb_frame_free(&f);

    f = mb_frame_new(200);
    mb_column *x = mb_frame_add_num(f, "x", NULL, 1, &err);
    for (int i = 0; i < 200; i++)
        x->num[i] = (float)i;
    const char *xc[] = {"x"};
    assert_int_equal(mb_fair_groups_make(f, xc, 1, &g, &err), MB_EARG);
    assert_non_null(strstr(err.msg, "'x'"));
    mb_frame_free(&f);

    /* a categorical column of 1500 distinct values: too many groups, refused by name */
    enum { N = 1500 };
    static char text[N][16];
    static const char *ids[N];
    for (int i = 0; i < N; i++)
        snprintf(text[i], sizeof text[i], "id%d", i), ids[i] = text[i];
    f = cat_frame(ids, N);
    assert_int_equal(mb_fair_groups_make(f, cols, 1, &g, &err), MB_EARG);
    assert_non_null(strstr(err.msg, "group column 'g' has 1500 values"));
    mb_frame_free(&f);
}

/* 400 rows of two groups with different rates: the 95% intervals hold the
** point estimates, are reproducible, move with the seed. */
static void test_bootstrap(void **state)
{
    (void)state;
    enum { N = 400 };
    const char *gv[N];
    float y[N], p[N];
    uint32_t s = 12345;
    for (int i = 0; i < N; i++) {
        s = s * 1103515245u + 12345u;
        gv[i] = i % 3 ? "u" : "v";
        y[i] = (float)((s >> 16) & 1);
        p[i] = (float)((s >> 20) % 10 < (gv[i][0] == 'u' ? 7u : 4u) ? y[i] : 1 - y[i]);
    }
    mb_frame *f = cat_frame(gv, N);
    const char *cols[] = {"g"};
    mb_fair_groups g;
    mb_error err;
    assert_int_equal(mb_fair_groups_make(f, cols, 1, &g, &err), MB_OK);
    mb_fairness a, b, c;
    mb_fair_opts o = {300, 7, 0.95}, o2 = {300, 8, 0.95};
    assert_int_equal(mb_fairness_compute(MB_TASK_BINARY, 2, y, p, NULL, &g, &o, &a, &err), MB_OK);
    assert_int_equal(mb_fairness_compute(MB_TASK_BINARY, 2, y, p, NULL, &g, &o, &b, &err), MB_OK);
    assert_int_equal(mb_fairness_compute(MB_TASK_BINARY, 2, y, p, NULL, &g, &o2, &c, &err), MB_OK);
    int moved = 0;
    for (size_t d = 0; d < a.ndisparities; d++) {
        const mb_fair_value *v = &a.disparity[d];
        assert_true(v->lo <= v->value && v->value <= v->hi);
        assert_true(v->lo < v->hi);
        assert_true(v->lo == b.disparity[d].lo && v->hi == b.disparity[d].hi);
        moved |= v->lo != c.disparity[d].lo;
    }
    assert_true(moved);
    mb_fairness_free(&a);
    mb_fairness_free(&b);
    mb_fairness_free(&c);

    /* a report's intervals: accuracy as counted, inside its interval */
    float proba[2 * N];
    for (int i = 0; i < N; i++)
        proba[2 * i + 1] = p[i] == 1 ? 0.8f : 0.3f, proba[2 * i] = 1 - proba[2 * i + 1];
    mb_fair_value v[MB_FAIR_MAX_DISPARITIES], w[MB_FAIR_MAX_DISPARITIES];
    size_t nv, nw;
    assert_int_equal(mb_report_bootstrap(MB_TASK_BINARY, 2, y, p, proba, N, &o, v, &nv, &err), MB_OK);
    assert_int_equal(mb_report_bootstrap(MB_TASK_BINARY, 2, y, p, proba, N, &o, w, &nw, &err), MB_OK);
    assert_int_equal(nv, 5);
    assert_string_equal(v[0].name, "accuracy");
    size_t ok = 0;
    for (int i = 0; i < N; i++)
        ok += y[i] == p[i];
    NEAR(v[0].value, (double)ok / N);
    for (size_t j = 0; j < nv; j++) {
        assert_true(v[j].lo <= v[j].value && v[j].value <= v[j].hi);
        assert_true(v[j].lo == w[j].lo && v[j].hi == w[j].hi);
    }
    mb_fair_groups_free(&g);
    mb_frame_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_binary_by_hand),     cmocka_unit_test(test_binary_edges),
        cmocka_unit_test(test_multiclass_by_hand), cmocka_unit_test(test_regression_by_hand),
        cmocka_unit_test(test_intersection),       cmocka_unit_test(test_bootstrap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
