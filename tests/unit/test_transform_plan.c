/*
** test_transform_plan.c: the read-only plan of a fitted transform
** (mb_transform_plan, transform.h), which the exporters print as C and
** ONNX: each output column's operation, sources and constants against
** hand-computed values, and the invariant that evaluating the plan as its
** header specifies gives what mb_transform_apply gives, bit for bit.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "frame.h"
#include "transform.h"

#define NROWS 5

/* x: 1, 2, 3, 4, NaN; c: a b a NaN z (z appears only at apply) */
static mb_frame *frame(int with_z)
{
    static const float x[NROWS] = {1, 2, 3, 4, NAN};
    mb_frame *f = mb_frame_new(NROWS);
    mb_column *cx = mb_frame_add_num(f, "x", NULL, 1, NULL);
    for (size_t i = 0; i < NROWS; i++)
        cx->num[i] = x[i];
    mb_column *cc = mb_frame_add_cat(f, "c", NULL);
    /* at apply the dictionary is in another order, with a new level */
    const char *lv[] = {"b", "a", "z"};
    for (size_t l = 0; l < (with_z ? 3u : 2u); l++)
        mb_column_add_level(cc, lv[l], 1);
    const int32_t codes[NROWS] = {1, 0, 1, -1, with_z ? 2 : 0};
    memcpy(cc->codes, codes, sizeof codes);
    return f;
}

static mb_transform *fitted(const char *kind, const mb_transform_opts *o)
{
    mb_transform *t = NULL;
    mb_error err;
    mb_frame *f = frame(0);
    assert_int_equal(mb_transform_new(kind, o, &t, &err), MB_OK);
    assert_int_equal(mb_transform_fit(t, f, &err), MB_OK);
    mb_frame_free(&f);
    return t;
}

/* Row i of output column o, evaluated from the plan as transform.h says. */
static float eval(const mb_step_col *o, const mb_frame *in, size_t i, int *cat, int32_t *code)
{
    const mb_column *s = &in->cols[o->src];
    float x = s->type == MB_COL_NUM ? MB_NUM(s, i) : NAN;
    int32_t c = s->type == MB_COL_CAT ? s->codes[i] : -1;
    *cat = 0;
    switch (o->op) {
    case MB_STEP_COPY:
        return x;
    case MB_STEP_AFFINE:
        return (float)(((double)x - o->a) / o->b);
    case MB_STEP_FILL:
        return isnan(x) ? (float)o->a : x;
    case MB_STEP_ISNAN:
        return isnan(x) ? 1.0f : 0.0f;
    case MB_STEP_ISMISS:
        return c < 0 ? 1.0f : 0.0f;
    case MB_STEP_ONEHOT:
        return o->remap[c + 1] == o->k ? 1.0f : 0.0f;
    case MB_STEP_ORDINAL:
        return o->remap[c + 1] < 0 ? NAN : (float)o->remap[c + 1];
    case MB_STEP_LOG1P:
        return x < -1.0f ? NAN : (float)log1p((double)x);
    case MB_STEP_CLIP:
        return (double)x < o->a ? (float)o->a : (double)x > o->b ? (float)o->b : x;
    case MB_STEP_PROD:
        return x * MB_NUM(&in->cols[o->src2], i);
    case MB_STEP_CATCOPY:
    case MB_STEP_CATFILL:
        *cat = 1;
        *code = c;
        return 0;
    }
    return NAN;
}

/* The plan of t on the frame with z, evaluated, equals apply. */
static void plan_matches_apply(mb_transform *t)
{
    mb_error err;
    mb_frame *in = frame(1), *out = NULL;
    mb_step_plan p;
    assert_int_equal(mb_transform_plan(t, in, &p, &err), MB_OK);
    assert_int_equal(mb_transform_apply(t, in, &out, &err), MB_OK);
    assert_int_equal(p.n, out->ncols);
    for (size_t j = 0; j < p.n; j++) {
        assert_string_equal(p.cols[j].name, out->cols[j].name);
        for (size_t i = 0; i < NROWS; i++) {
            int cat;
            int32_t code = 0;
            float v = eval(&p.cols[j], in, i, &cat, &code);
            if (cat) {
                const mb_column *oc = &out->cols[j];
                if (p.cols[j].op == MB_STEP_CATFILL && code < 0)
                    assert_string_equal(oc->levels[oc->codes[i]], p.cols[j].fill);
                else
                    assert_int_equal(oc->codes[i], code);
                continue;
            }
            float w = MB_NUM(&out->cols[j], i);
            if (isnan(w))
                assert_true(isnan(v));
            else
                assert_memory_equal(&v, &w, sizeof v);
        }
    }
    mb_step_plan_free(&p);
    mb_frame_free(&out);
    mb_frame_free(&in);
}

static void test_standardize(void **state)
{
    (void)state;
    mb_transform *t = fitted("standardize", NULL);
    mb_error err;
    mb_frame *in = frame(1);
    mb_step_plan p;
    assert_int_equal(mb_transform_plan(t, in, &p, &err), MB_OK);
    assert_int_equal(p.n, 2);
    assert_int_equal(p.cols[0].op, MB_STEP_AFFINE);
    assert_float_equal(p.cols[0].a, 2.5, 1e-12);
    assert_float_equal(p.cols[0].b, 1.118033988749895, 1e-12); /* population std of 1..4 */
    assert_int_equal(p.cols[1].op, MB_STEP_CATCOPY);
    assert_int_equal(p.target, -1);
    mb_step_plan_free(&p);
    mb_frame_free(&in);
    plan_matches_apply(t);
    mb_transform_free(&t);
}

static void test_onehot_remap(void **state)
{
    (void)state;
    mb_transform *t = fitted("onehot", NULL);
    mb_error err;
    mb_frame *in = frame(1);
    mb_step_plan p;
    assert_int_equal(mb_transform_plan(t, in, &p, &err), MB_OK);
    /* x, c=b, c=a: the training dictionary's order, remapped by text */
    assert_int_equal(p.n, 3);
    assert_string_equal(p.cols[1].name, "c=b");
    assert_int_equal(p.cols[1].op, MB_STEP_ONEHOT);
    assert_int_equal(p.cols[1].nremap, 4);       /* missing + b, a, z */
    assert_int_equal(p.cols[1].remap[0], -1);    /* missing */
    assert_int_equal(p.cols[1].remap[1], 0);     /* b */
    assert_int_equal(p.cols[1].remap[2], 1);     /* a */
    assert_int_equal(p.cols[1].remap[3], -1);    /* z: unseen */
    mb_step_plan_free(&p);
    mb_frame_free(&in);
    plan_matches_apply(t);
    mb_transform_free(&t);
}

static void test_every_kind_matches_apply(void **state)
{
    (void)state;
    const char *x[] = {"x"};
    mb_transform_opts imp = {.add_indicator = 1, .strategy = "most_frequent"};
    mb_transform_opts clip = {.lo = 1.5, .hi = 3.25};
    mb_transform_opts sel = {.columns = x, .ncolumns = 1};
    const struct {
        const char *kind;
        const mb_transform_opts *o;
    } k[] = {{"minmax", NULL}, {"impute", &imp}, {"ordinal", NULL}, {"log1p", NULL},
             {"clip", &clip},  {"poly2", NULL},  {"select", &sel},  {"drop", &sel}};
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        mb_transform *t = fitted(k[i].kind, k[i].o);
        plan_matches_apply(t);
        mb_transform_free(&t);
    }
}

static void test_unfitted(void **state)
{
    (void)state;
    mb_transform *t = NULL;
    mb_error err;
    mb_frame *in = frame(0);
    mb_step_plan p;
    assert_int_equal(mb_transform_new("standardize", NULL, &t, &err), MB_OK);
    assert_int_equal(mb_transform_plan(t, in, &p, &err), MB_EARG);
    assert_non_null(strstr(err.msg, "before fit"));
    mb_transform_free(&t);
    mb_frame_free(&in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_standardize),
        cmocka_unit_test(test_onehot_remap),
        cmocka_unit_test(test_every_kind_matches_apply),
        cmocka_unit_test(test_unfitted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
