/*
** test_transform.c: unit tests for the feature transforms of
** src/core/transform.c: each kind against hand-computed values, matching
** by column name and level text, the save -> load round trip (bit-identical
** output), error messages, damaged state and running out of memory.
**
** Hand-computed figures: standardize of [1, 2, 3, 4] has mean 2.5 and
** population std sqrt(1.25) = 1.118033988749895 (scikit-learn's
** StandardScaler), so the outputs are +-1.5 / std = +-1.3416407864998738
** and +-0.5 / std = +-0.4472135954999579. Medians follow numpy.median.
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
#include "frame.h"
#include "transform.h"

/* {====== helpers ======} */

#define N_(a) (sizeof(a) / sizeof((a)[0]))

static void add_num(mb_frame *f, const char *name, const float *v)
{
    mb_column *c = mb_frame_add_num(f, name, NULL, 1, NULL);
    assert_non_null(c);
    for (size_t i = 0; i < f->nrows; i++)
        c->num[i] = v[i];
}

static void add_cat(mb_frame *f, const char *name, const char *const *levels, size_t nl, const int32_t *codes)
{
    mb_column *c = mb_frame_add_cat(f, name, NULL);
    assert_non_null(c);
    for (size_t l = 0; l < nl; l++)
        assert_int_equal(mb_column_add_level(c, levels[l], strlen(levels[l])), (int32_t)l);
    for (size_t i = 0; i < f->nrows; i++)
        c->codes[i] = codes[i];
}

static const mb_column *col(const mb_frame *f, const char *name)
{
    long j = mb_frame_find(f, name);
    if (j < 0)
        fail_msg("no column '%s' in the result", name);
    return &f->cols[j];
}

/* Numeric column name of f holds want (NaN matching NaN), within tol. */
static void expect_num(const mb_frame *f, const char *name, const float *want, double tol)
{
    const mb_column *c = col(f, name);
    assert_int_equal(c->type, MB_COL_NUM);
    for (size_t i = 0; i < f->nrows; i++) {
        double g = (double)MB_NUM(c, i), w = (double)want[i];
        if (isnan(w) ? !isnan(g) : isinf(w) ? g != w : !(fabs(g - w) <= tol))
            fail_msg("%s[%zu] = %.9g, want %.9g", name, i, g, w);
    }
}

/* The level text of row i of categorical column name ("" when missing). */
static const char *cat_at(const mb_frame *f, const char *name, size_t i)
{
    const mb_column *c = col(f, name);
    assert_int_equal(c->type, MB_COL_CAT);
    int32_t code = c->codes[i];
    return code < 0 ? "" : c->levels[code];
}

static void expect_names(const mb_frame *f, const char *const *names, size_t n)
{
    if (f->ncols != n)
        fail_msg("%zu columns, want %zu", f->ncols, n);
    for (size_t j = 0; j < n; j++)
        if (strcmp(f->cols[j].name, names[j]) != 0)
            fail_msg("column %zu is '%s', want '%s'", j, f->cols[j].name, names[j]);
}

static mb_transform *make(const char *kind, const mb_transform_opts *o)
{
    mb_transform *t = NULL;
    mb_error err = {0};
    if (mb_transform_new(kind, o, &t, &err) != MB_OK)
        fail_msg("new %s: %s", kind, err.msg);
    return t;
}

static mb_transform *fitted(const char *kind, const mb_transform_opts *o, const mb_frame *train)
{
    mb_transform *t = make(kind, o);
    mb_error err = {0};
    if (mb_transform_fit(t, train, &err) != MB_OK)
        fail_msg("fit %s: %s", kind, err.msg);
    assert_true(mb_transform_fitted(t));
    return t;
}

static mb_frame *apply_ok(const mb_transform *t, const mb_frame *in)
{
    mb_frame *out = NULL;
    mb_error err = {0};
    if (mb_transform_apply(t, in, &out, &err) != MB_OK)
        fail_msg("apply %s: %s", mb_transform_kind(t), err.msg);
    assert_non_null(out);
    return out;
}

/* Save t and load it back as a new transform. */
static mb_transform *roundtrip(const mb_transform *t)
{
    mb_state s = {0};
    mb_error err = {0};
    mb_transform *u = NULL;
    if (mb_transform_save(t, &s, &err) != MB_OK)
        fail_msg("save %s: %s", mb_transform_kind(t), err.msg);
    if (mb_transform_load(mb_transform_kind(t), &s, &u, &err) != MB_OK)
        fail_msg("load %s: %s", mb_transform_kind(t), err.msg);
    mb_state_clear(&s);
    assert_true(mb_transform_fitted(u));
    return u;
}

/* a and b are the same frame, numeric values compared bit for bit. */
static void expect_identical(const mb_frame *a, const mb_frame *b)
{
    assert_int_equal(a->nrows, b->nrows);
    assert_int_equal(a->ncols, b->ncols);
    assert_int_equal(a->target, b->target);
    for (size_t j = 0; j < a->ncols; j++) {
        const mb_column *x = &a->cols[j], *y = &b->cols[j];
        assert_string_equal(x->name, y->name);
        assert_int_equal(x->type, y->type);
        if (x->type == MB_COL_NUM) {
            for (size_t i = 0; i < a->nrows; i++)
                if (memcmp(&MB_NUM(x, i), &MB_NUM(y, i), sizeof(float)) != 0)
                    fail_msg("column '%s' row %zu: %.9g vs %.9g", x->name, i, (double)MB_NUM(x, i),
                             (double)MB_NUM(y, i));
        } else {
            assert_memory_equal(x->codes, y->codes, a->nrows * sizeof *x->codes);
            assert_int_equal(x->nlevels, y->nlevels);
            for (size_t l = 0; l < x->nlevels; l++)
                assert_string_equal(x->levels[l], y->levels[l]);
        }
    }
}

static const mb_state_array *array_of(const mb_state *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->arrays[i].name, name) == 0)
            return &s->arrays[i];
    fail_msg("no state array '%s'", name);
    abort(); /* not reached: fail_msg does not return */
}

/* The F64 state array name of t, element i. */
static double saved_f64(const mb_transform *t, const char *name, size_t i)
{
    mb_state s = {0};
    assert_int_equal(mb_transform_save(t, &s, NULL), MB_OK);
    const mb_state_array *a = array_of(&s, name);
    assert_int_equal(a->type, MB_DT_F64);
    assert_true(i < a->count);
    double v = ((const double *)a->data)[i];
    mb_state_clear(&s);
    return v;
}

#define NaN NAN
static const char *const COLORS[] = {"red", "green", "blue", "purple"};

/* A frame of every kind of column: x (NaN in row 2), y = target (numeric),
** color (levels red green blue purple; purple unused; row 4 missing), z. */
static mb_frame *mixed_frame(void)
{
    const float x[] = {1, 2, NaN, 4, 8, 2};
    const float y[] = {0, 1, 0, 1, 1, 0};
    const float z[] = {-3, 0.5f, 7, 1, 0, 2};
    const int32_t color[] = {0, 1, 2, 0, -1, 1};
    mb_frame *f = mb_frame_new(6);
    add_num(f, "x", x);
    add_num(f, "y", y);
    add_cat(f, "color", COLORS, 4, color);
    add_num(f, "z", z);
    f->target = 1;
    return f;
}

/* The same rows with color's dictionary in another order (as a CSV read at
** serving time would give): blue purple green red. */
static mb_frame *mixed_frame_reordered(void)
{
    static const char *const lv[] = {"blue", "purple", "green", "red"};
    const float x[] = {1, 2, NaN, 4, 8, 2};
    const float y[] = {0, 1, 0, 1, 1, 0};
    const float z[] = {-3, 0.5f, 7, 1, 0, 2};
    const int32_t color[] = {3, 2, 0, 3, -1, 2};
    mb_frame *f = mb_frame_new(6);
    add_num(f, "x", x);
    add_num(f, "y", y);
    add_cat(f, "color", lv, 4, color);
    add_num(f, "z", z);
    f->target = 1;
    return f;
}

/* }====== */

/* {====== each kind ======} */

static void test_standardize(void **state)
{
    (void)state;
    const float a[] = {1, 2, 3, 4}, k[] = {5, 5, 5, 5}, y[] = {9, 8, 7, 6};
    mb_frame *f = mb_frame_new(4);
    add_num(f, "a", a);
    add_num(f, "k", k);
    add_num(f, "y", y);
    f->target = 2;
    mb_transform *t = fitted("standardize", NULL, f);
    assert_string_equal(mb_transform_kind(t), "standardize");
    assert_true(saved_f64(t, "mean", 0) == 2.5);
    assert_true(fabs(saved_f64(t, "scale", 0) - 1.118033988749895) < 1e-15);
    assert_true(saved_f64(t, "mean", 1) == 5.0);
    assert_true(saved_f64(t, "scale", 1) == 1.0); /* std 0 -> scale 1 */
    mb_frame *o = apply_ok(t, f);
    const float want[] = {-1.3416407864998738f, -0.4472135954999579f, 0.4472135954999579f,
                          1.3416407864998738f};
    expect_num(o, "a", want, 1e-7);
    const float zeros[] = {0, 0, 0, 0};
    expect_num(o, "k", zeros, 0);
    expect_num(o, "y", y, 0); /* the target is untouched */
    assert_int_equal(o->target, 2);
    mb_frame_free(&o);

    /* NaN is ignored in fit and passed through in apply */
    const float b[] = {1, NaN, 3, NaN};
    mb_frame *g = mb_frame_new(4);
    add_num(g, "a", b);
    mb_transform *u = fitted("standardize", NULL, g);
    assert_true(saved_f64(u, "mean", 0) == 2.0);
    assert_true(saved_f64(u, "scale", 0) == 1.0);
    o = apply_ok(u, g);
    const float wb[] = {-1, NaN, 1, NaN};
    expect_num(o, "a", wb, 0);
    mb_frame_free(&o);
    mb_transform_free(&u);
    mb_transform_free(&t);
    mb_frame_free(&g);
    mb_frame_free(&f);
}

static void test_minmax(void **state)
{
    (void)state;
    const float a[] = {2, 4, NaN, 10}, k[] = {3, 3, 3, 3};
    mb_frame *f = mb_frame_new(4);
    add_num(f, "a", a);
    add_num(f, "k", k);
    mb_transform *t = fitted("minmax", NULL, f);
    assert_true(saved_f64(t, "min", 0) == 2.0);
    assert_true(saved_f64(t, "scale", 0) == 8.0);
    mb_frame *o = apply_ok(t, f);
    const float wa[] = {0, 0.25f, NaN, 1}, wk[] = {0, 0, 0, 0};
    expect_num(o, "a", wa, 0);
    expect_num(o, "k", wk, 0);
    mb_frame_free(&o);
    /* values outside the training range go outside [0, 1] */
    const float b[] = {-6, 18, 6, 2}, k2[] = {4, 3, 2, 3};
    mb_frame *g = mb_frame_new(4);
    add_num(g, "k", k2);
    add_num(g, "a", b);
    o = apply_ok(t, g);
    const float wb[] = {-1, 2, 0.5f, 0}, wk2[] = {1, 0, -1, 0};
    expect_num(o, "a", wb, 0);
    expect_num(o, "k", wk2, 0);
    const char *const names[] = {"k", "a"}; /* the input's order is kept */
    expect_names(o, names, 2);
    mb_frame_free(&o);
    mb_frame_free(&g);
    mb_transform_free(&t);
    mb_frame_free(&f);
}

static void impute_one(const char *strategy, const float *v, size_t n, double fill, float want_fill)
{
    mb_frame *f = mb_frame_new(n);
    add_num(f, "v", v);
    mb_transform_opts o = {.strategy = strategy, .fill = fill};
    mb_transform *t = fitted("impute", &o, f);
    mb_frame *out = apply_ok(t, f);
    float want[16];
    assert_true(n <= N_(want));
    for (size_t i = 0; i < n; i++)
        want[i] = isnan(v[i]) ? want_fill : v[i];
    expect_num(out, "v", want, 0);
    assert_int_equal(out->ncols, 1); /* no indicator unless asked */
    mb_frame_free(&out);
    mb_transform_free(&t);
    mb_frame_free(&f);
}

static void test_impute_numeric(void **state)
{
    (void)state;
    const float a[] = {1, NaN, 3, 8};
    impute_one("mean", a, 4, 0, 4);
    impute_one(NULL, a, 4, 0, 4);       /* mean is the default */
    impute_one("median", a, 4, 0, 3);   /* odd count */
    const float b[] = {10, NaN, 1, 8, 3};
    impute_one("median", b, 5, 0, 5.5f); /* even count: (3 + 8) / 2 */
    const float c[] = {2, 1, 2, 1, NaN, 7};
    impute_one("most_frequent", c, 6, 0, 1); /* tie 1 / 2 -> the smaller */
    const float d[] = {7, 2, NaN, 7, 1};
    impute_one("most_frequent", d, 5, 0, 7);
    impute_one("constant", d, 5, -1.5, -1.5f);
    const float e[] = {NaN, NaN};
    impute_one("mean", e, 2, 0, 0); /* no values: 0 (keep_empty_features) */
    impute_one("median", e, 2, 0, 0);
}

static void test_impute_indicator(void **state)
{
    (void)state;
    const float a[] = {1, NaN, 3, 8}, b[] = {1, 2, 3, 4}, y[] = {0, 1, 0, 1};
    mb_frame *f = mb_frame_new(4);
    add_num(f, "a", a);
    add_num(f, "y", y);
    add_num(f, "b", b);
    f->target = 1;
    mb_transform_opts o = {.strategy = "median", .add_indicator = 1};
    mb_transform *t = fitted("impute", &o, f);
    /* b had nothing missing in training: no indicator, even if it has now */
    const float a2[] = {NaN, 5, NaN, 0}, b2[] = {NaN, 1, 1, 1};
    mb_frame *g = mb_frame_new(4);
    add_num(g, "a", a2);
    add_num(g, "y", y);
    add_num(g, "b", b2);
    g->target = 1;
    mb_frame *out = apply_ok(t, g);
    const char *const names[] = {"a", "a_missing", "y", "b"};
    expect_names(out, names, 4);
    assert_int_equal(out->target, 2);
    const float wa[] = {3, 5, 3, 0}, wm[] = {1, 0, 1, 0}, wb[] = {2.5f, 1, 1, 1};
    expect_num(out, "a", wa, 0);
    expect_num(out, "a_missing", wm, 0);
    expect_num(out, "b", wb, 0);
    expect_num(out, "y", y, 0);
    mb_frame_free(&out);
    mb_frame_free(&g);
    mb_transform_free(&t);
    mb_frame_free(&f);
}

static void test_impute_categorical(void **state)
{
    (void)state;
    /* x and y are equally frequent: the smaller text wins, whatever the
    ** order of the dictionary */
    static const char *const lv1[] = {"y", "x", "z"};
    static const char *const lv2[] = {"z", "x", "y"};
    const int32_t c1[] = {0, -1, 1, 0, 2, 1};   /* y x y z x */
    const int32_t c2[] = {2, -1, 1, 2, 0, 1};   /* same texts */
    for (int pass = 0; pass < 2; pass++) {
        mb_frame *f = mb_frame_new(6);
        add_cat(f, "c", pass ? lv2 : lv1, 3, pass ? c2 : c1);
        mb_transform_opts o = {.strategy = "most_frequent", .add_indicator = 1};
        mb_transform *t = fitted("impute", &o, f);
        mb_frame *out = apply_ok(t, f);
        assert_string_equal(cat_at(out, "c", 1), "x");
        assert_string_equal(cat_at(out, "c", 0), "y");
        assert_int_equal(col(out, "c")->nlevels, 3);
        const float wm[] = {0, 1, 0, 0, 0, 0};
        expect_num(out, "c_missing", wm, 0);
        mb_frame_free(&out);
        mb_transform_free(&t);
        mb_frame_free(&f);
    }
    /* constant: a new level where the data has none of that text; an
    ** existing level (matched by text) where it has */
    mb_frame *f = mb_frame_new(6);
    add_cat(f, "c", lv1, 3, c1);
    mb_transform_opts o = {.strategy = "constant", .fill_text = "unk"};
    mb_transform *t = fitted("impute", &o, f);
    mb_frame *out = apply_ok(t, f);
    assert_string_equal(cat_at(out, "c", 1), "unk");
    assert_int_equal(col(out, "c")->nlevels, 4);
    assert_string_equal(cat_at(out, "c", 4), "z");
    mb_frame_free(&out);
    static const char *const lv3[] = {"unk", "x"};
    const int32_t c3[] = {1, -1, 1, 0, -1, 1};
    mb_frame *g = mb_frame_new(6);
    add_cat(g, "c", lv3, 2, c3);
    out = apply_ok(t, g);
    const mb_column *c = col(out, "c");
    assert_int_equal(c->nlevels, 2);
    assert_int_equal(c->codes[1], 0);
    assert_int_equal(c->codes[4], 0);
    assert_int_equal(c->codes[0], 1);
    mb_frame_free(&out);
    mb_frame_free(&g);
    mb_transform_free(&t);
    /* the default fill text is "missing"; with NULL columns and strategy
    ** mean only numeric columns are imputed */
    mb_transform_opts o2 = {.strategy = "constant"};
    t = fitted("impute", &o2, f);
    out = apply_ok(t, f);
    assert_string_equal(cat_at(out, "c", 1), "missing");
    mb_frame_free(&out);
    mb_transform_free(&t);
    const float v[] = {1, NaN, 3, 4, 5, 6};
    add_num(f, "v", v);
    t = fitted("impute", NULL, f);
    out = apply_ok(t, f);
    assert_string_equal(cat_at(out, "c", 1), "");
    assert_true(MB_NUM(col(out, "v"), 1) == 3.8f);
    mb_frame_free(&out);
    mb_transform_free(&t);
    mb_frame_free(&f);
}

static void test_onehot(void **state)
{
    (void)state;
    mb_frame *f = mixed_frame();
    mb_transform *t = fitted("onehot", NULL, f);
    mb_frame *out = apply_ok(t, f);
    /* in place, training level order, purple (never seen) left out */
    const char *const names[] = {"x", "y", "color=red", "color=green", "color=blue", "z"};
    expect_names(out, names, 6);
    assert_int_equal(out->target, 1);
    const float r[] = {1, 0, 0, 1, 0, 0}, g[] = {0, 1, 0, 0, 0, 1}, b[] = {0, 0, 1, 0, 0, 0};
    expect_num(out, "color=red", r, 0);
    expect_num(out, "color=green", g, 0);
    expect_num(out, "color=blue", b, 0); /* row 4 (missing): all zeros */
    const float x[] = {1, 2, NaN, 4, 8, 2};
    expect_num(out, "x", x, 0);
    mb_frame_free(&out);

    /* serving data: other dictionary order, an unknown level (black) and a
    ** level known to the dictionary but unseen in training (purple) */
    static const char *const lv[] = {"black", "blue", "red", "purple"};
    const int32_t codes[] = {1, 0, 2, -1, 3};
    mb_frame *s = mb_frame_new(5);
    add_cat(s, "color", lv, 4, codes);
    out = apply_ok(t, s);
    const float r2[] = {0, 0, 1, 0, 0}, g2[] = {0, 0, 0, 0, 0}, b2[] = {1, 0, 0, 0, 0};
    expect_num(out, "color=red", r2, 0);
    expect_num(out, "color=green", g2, 0);
    expect_num(out, "color=blue", b2, 0);
    assert_int_equal(out->target, -1);
    mb_frame_free(&out);
    mb_transform_free(&t);

    /* unknown = "error" names the column, the row and the level */
    mb_transform_opts o = {.unknown = "error"};
    t = fitted("onehot", &o, f);
    mb_error err = {0};
    out = NULL;
    assert_int_equal(mb_transform_apply(t, s, &out, &err), MB_EARG);
    assert_null(out);
    assert_non_null(strstr(err.msg, "'color'"));
    assert_non_null(strstr(err.msg, "'black'"));
    assert_non_null(strstr(err.msg, "row 2"));
    /* a missing value is not an unknown level */
    const int32_t ok[] = {1, -1, 2, -1, 1};
    mb_frame *s2 = mb_frame_new(5);
    add_cat(s2, "color", lv, 4, ok);
    out = apply_ok(t, s2);
    expect_num(out, "color=blue", (const float[]){1, 0, 0, 0, 1}, 0);
    mb_frame_free(&out);
    mb_frame_free(&s2);
    mb_frame_free(&s);
    mb_transform_free(&t);
    mb_frame_free(&f);
}

static void test_onehot_target_moves(void **state)
{
    (void)state;
    static const char *const lv[] = {"a", "b", "c"};
    const int32_t c[] = {0, 1, 2};
    const float y[] = {1, 2, 3};
    mb_frame *f = mb_frame_new(3);
    add_cat(f, "k", lv, 3, c);
    add_cat(f, "label", lv, 3, c);
    add_num(f, "y", y);
    f->target = 1; /* a categorical target: never encoded */
    mb_transform *t = fitted("onehot", NULL, f);
    mb_frame *out = apply_ok(t, f);
    const char *const names[] = {"k=a", "k=b", "k=c", "label", "y"};
    expect_names(out, names, 5);
    assert_int_equal(out->target, 3);
    assert_string_equal(cat_at(out, "label", 2), "c");
    mb_frame_free(&out);
    mb_transform_free(&t);
    mb_frame_free(&f);
}

static void test_ordinal(void **state)
{
    (void)state;
    static const char *const lv[] = {"lo", "mid", "hi"};
    const int32_t c[] = {0, 0, 2, -1}; /* mid never occurs: still code 1 */
    mb_frame *f = mb_frame_new(4);
    add_cat(f, "size", lv, 3, c);
    mb_transform *t = fitted("ordinal", NULL, f);
    mb_frame *out = apply_ok(t, f);
    expect_num(out, "size", (const float[]){0, 0, 2, NaN}, 0);
    mb_frame_free(&out);
    static const char *const lv2[] = {"hi", "huge", "mid", "lo"};
    const int32_t c2[] = {0, 1, 2, 3, -1};
    mb_frame *g = mb_frame_new(5);
    add_cat(g, "size", lv2, 4, c2);
    out = apply_ok(t, g);
    expect_num(out, "size", (const float[]){2, NaN, 1, 0, NaN}, 0);
    mb_frame_free(&out);
    mb_frame_free(&g);
    mb_transform_free(&t);
    mb_frame_free(&f);
}

static void test_log1p_clip(void **state)
{
    (void)state;
    const float v[] = {0, (float)(exp(1.0) - 1.0), -1, -2, NaN, 3};
    mb_frame *f = mb_frame_new(6);
    add_num(f, "v", v);
    mb_transform *t = fitted("log1p", NULL, f);
    mb_frame *out = apply_ok(t, f);
    expect_num(out, "v", (const float[]){0, 1, -INFINITY, NaN, NaN, (float)log(4.0)}, 1e-7);
    mb_frame_free(&out);
    mb_transform_free(&t);

    mb_transform_opts o = {.lo = 0, .hi = 1};
    const float w[] = {-1, 0.5f, 2, NaN, 1, 0};
    mb_frame *g = mb_frame_new(6);
    add_num(g, "w", w);
    t = fitted("clip", &o, g);
    out = apply_ok(t, g);
    expect_num(out, "w", (const float[]){0, 0.5f, 1, NaN, 1, 0}, 0);
    mb_frame_free(&out);
    mb_transform_free(&t);
    /* one open side; the default (no options) changes nothing */
    mb_transform_opts o2 = {.lo = -(double)INFINITY, .hi = 0.25};
    t = fitted("clip", &o2, g);
    out = apply_ok(t, g);
    expect_num(out, "w", (const float[]){-1, 0.25f, 0.25f, NaN, 0.25f, 0}, 0);
    mb_frame_free(&out);
    mb_transform_free(&t);
    t = fitted("clip", NULL, g);
    out = apply_ok(t, g);
    expect_num(out, "w", w, 0);
    mb_frame_free(&out);
    mb_transform_free(&t);
    mb_frame_free(&g);
    mb_frame_free(&f);
}

static void test_poly2(void **state)
{
    (void)state;
    static const char *const lv[] = {"u", "v"};
    const float a[] = {1, 2, 3}, b[] = {4, 5, NaN}, y[] = {7, 8, 9};
    const int32_t c[] = {0, 1, 0};
    mb_frame *f = mb_frame_new(3);
    add_num(f, "a", a);
    add_num(f, "y", y);
    add_cat(f, "c", lv, 2, c);
    add_num(f, "b", b);
    f->target = 1;
    mb_transform *t = fitted("poly2", NULL, f);
    mb_frame *out = apply_ok(t, f);
    const char *const names[] = {"a", "y", "c", "b", "a^2", "a*b", "b^2"};
    expect_names(out, names, 7);
    assert_int_equal(out->target, 1);
    expect_num(out, "a^2", (const float[]){1, 4, 9}, 0);
    expect_num(out, "a*b", (const float[]){4, 10, NaN}, 0);
    expect_num(out, "b^2", (const float[]){16, 25, NaN}, 0);
    expect_num(out, "a", a, 0);
    assert_string_equal(cat_at(out, "c", 1), "v");
    mb_frame_free(&out);
    mb_transform_free(&t);
    /* listed columns, in the listed order */
    const char *const cols[] = {"b", "a"};
    mb_transform_opts o = {.columns = cols, .ncolumns = 2};
    t = fitted("poly2", &o, f);
    out = apply_ok(t, f);
    const char *const names2[] = {"a", "y", "c", "b", "b^2", "b*a", "a^2"};
    expect_names(out, names2, 7);
    mb_frame_free(&out);
    mb_transform_free(&t);
    mb_frame_free(&f);
}

static void test_select_drop(void **state)
{
    (void)state;
    mb_frame *f = mixed_frame();
    const char *const keep[] = {"z", "color"};
    mb_transform_opts o = {.columns = keep, .ncolumns = 2};
    mb_transform *t = fitted("select", &o, f);
    mb_frame *out = apply_ok(t, f);
    const char *const n1[] = {"z", "color", "y"};
    expect_names(out, n1, 3);
    assert_int_equal(out->target, 2);
    expect_num(out, "z", (const float[]){-3, 0.5f, 7, 1, 0, 2}, 0);
    assert_string_equal(cat_at(out, "color", 2), "blue");
    mb_frame_free(&out);
    mb_transform_free(&t);

    /* select with no list: the training features, in training order, so a
    ** serving frame with its columns shuffled comes out the same */
    t = fitted("select", NULL, f);
    mb_frame *g = mb_frame_new(2);
    add_num(g, "z", (const float[]){1, 2});
    add_num(g, "extra", (const float[]){0, 0});
    add_cat(g, "color", COLORS, 4, (const int32_t[]){0, 1});
    add_num(g, "x", (const float[]){3, 4});
    out = apply_ok(t, g);
    const char *const n2[] = {"x", "color", "z"};
    expect_names(out, n2, 3);
    assert_int_equal(out->target, -1);
    mb_frame_free(&out);
    mb_transform_free(&t);

    const char *const gone[] = {"x", "color"};
    mb_transform_opts o2 = {.columns = gone, .ncolumns = 2};
    t = fitted("drop", &o2, f);
    out = apply_ok(t, f);
    const char *const n3[] = {"y", "z"};
    expect_names(out, n3, 2);
    assert_int_equal(out->target, 0);
    mb_frame_free(&out);
    /* a column already absent is simply not there to drop */
    mb_frame *h = mb_frame_new(2);
    add_num(h, "z", (const float[]){1, 2});
    add_cat(h, "color", COLORS, 4, (const int32_t[]){0, 1});
    add_num(h, "extra", (const float[]){0, 0});
    out = apply_ok(t, h);
    const char *const n4[] = {"z", "extra"};
    expect_names(out, n4, 2);
    mb_frame_free(&out);
    mb_frame_free(&h);
    mb_transform_free(&t);
    mb_frame_free(&g);
    mb_frame_free(&f);
}

/* A row-major block (as read from HDF5 /X) gives the same results as
** separate columns, and the features of the result form one row-major
** block a model can take without a copy. */
static void test_strided_and_view(void **state)
{
    (void)state;
    const size_t n = 5, p = 3;
    float *block = malloc(n * p * sizeof *block);
    assert_non_null(block);
    mb_frame *f = mb_frame_new(n), *g = mb_frame_new(n);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < p; j++)
            block[i * p + j] = (float)(i * i) + 0.25f * (float)j - (j == 1 ? 10.0f : 0.0f);
    block[2 * p + 2] = NAN;
    mb_frame_adopt_block(f, block);
    const char *names[] = {"a", "t", "b"};
    for (size_t j = 0; j < p; j++) {
        mb_frame_add_num(f, names[j], block + j, p, NULL);
        mb_column *c = mb_frame_add_num(g, names[j], NULL, 1, NULL);
        for (size_t i = 0; i < n; i++)
            c->num[i] = block[i * p + j];
    }
    f->target = 1;
    g->target = 1;
    mb_transform *t = fitted("standardize", NULL, f);
    mb_transform *u = fitted("standardize", NULL, g);
    mb_frame *o1 = apply_ok(t, f), *o2 = apply_ok(u, g);
    expect_identical(o1, o2);
    mb_matrix X;
    float *owned = (float *)1;
    mb_error err = {0};
    assert_int_equal(mb_matrix_from_frame(o1, &X, &owned, &err), MB_OK);
    assert_null(owned); /* a view */
    assert_int_equal(X.cols, 2);
    assert_true(X.x[0] == MB_NUM(col(o1, "a"), 0));
    assert_true(X.x[X.ld * 3 + 1] == MB_NUM(col(o1, "b"), 3));
    mb_frame_free(&o1);
    mb_frame_free(&o2);
    mb_transform_free(&t);
    mb_transform_free(&u);
    mb_frame_free(&f);
    mb_frame_free(&g);
}

/* A larger strided frame: the outputs have mean 0 and std 1 and equal the
** formula with the saved statistics. */
static void test_standardize_large(void **state)
{
    (void)state;
    const size_t n = 60000, p = 8;
    float *block = malloc(n * p * sizeof *block);
    assert_non_null(block);
    uint64_t r = 88172645463325252ULL;
    for (size_t i = 0; i < n * p; i++) {
        r ^= r << 13;
        r ^= r >> 7;
        r ^= r << 17;
        block[i] = (float)((double)(r >> 11) * 0x1p-53 * 100.0 + 1000.0 * (double)(i % p));
    }
    mb_frame *f = mb_frame_new(n);
    mb_frame_adopt_block(f, block);
    for (size_t j = 0; j < p; j++) {
        char name[8];
        snprintf(name, sizeof name, "f%zu", j);
        mb_frame_add_num(f, name, block + j, p, NULL);
    }
    mb_transform *t = fitted("standardize", NULL, f);
    mb_frame *o = apply_ok(t, f);
    for (size_t j = 0; j < p; j++) {
        double mean = saved_f64(t, "mean", j), scale = saved_f64(t, "scale", j);
        double s = 0, s2 = 0;
        const mb_column *c = &o->cols[j];
        for (size_t i = 0; i < n; i++) {
            float want = (float)(((double)block[i * p + j] - mean) / scale);
            if (MB_NUM(c, i) != want)
                fail_msg("f%zu[%zu] = %.9g, want %.9g", j, i, (double)MB_NUM(c, i), (double)want);
            s += (double)MB_NUM(c, i);
            s2 += (double)MB_NUM(c, i) * (double)MB_NUM(c, i);
        }
        assert_true(fabs(s / (double)n) < 1e-5);
        assert_true(fabs(s2 / (double)n - 1.0) < 1e-5);
    }
    mb_frame_free(&o);
    mb_transform_free(&t);
    mb_frame_free(&f);
}

/* }====== */

/* {====== save and load ======} */

/* Every kind, with options that matter: the loaded transform gives the same
** frame, bit for bit, on the training data and on reordered serving data,
** and saves the same arrays again. */
static void test_roundtrip_all(void **state)
{
    (void)state;
    const char *const xz[] = {"x", "z"};
    const char *const c1[] = {"color"};
    const struct {
        const char *kind;
        mb_transform_opts o;
    } cases[] = {
        {"standardize", {0}},
        {"minmax", {.columns = xz, .ncolumns = 2}},
        {"impute", {.strategy = "mean", .add_indicator = 1}},
        {"impute", {.strategy = "median", .add_indicator = 1}},
        {"impute", {.strategy = "most_frequent", .add_indicator = 1}},
        {"impute", {.strategy = "constant", .fill = 42, .fill_text = "none", .add_indicator = 1}},
        {"onehot", {.unknown = "ignore"}},
        {"onehot", {.unknown = "error"}},
        {"ordinal", {0}},
        {"log1p", {0}},
        {"clip", {.lo = 0.5, .hi = 3.3}},
        {"poly2", {.columns = xz, .ncolumns = 2}},
        {"select", {.columns = c1, .ncolumns = 1}},
        {"drop", {.columns = c1, .ncolumns = 1}},
    };
    mb_frame *f = mixed_frame(), *g = mixed_frame_reordered();
    for (size_t i = 0; i < N_(cases); i++) {
        mb_transform *t = fitted(cases[i].kind, &cases[i].o, f);
        mb_transform *u = roundtrip(t);
        mb_frame *a = apply_ok(t, f), *b = apply_ok(u, f);
        expect_identical(a, b);
        mb_frame *a2 = apply_ok(t, g), *b2 = apply_ok(u, g);
        expect_identical(a2, b2);
        /* and level text, not codes, decides: numeric results of the
        ** reordered frame equal those of the original */
        for (size_t j = 0; j < a->ncols; j++)
            if (a->cols[j].type == MB_COL_NUM)
                for (size_t r = 0; r < a->nrows; r++)
                    assert_memory_equal(&MB_NUM(&a->cols[j], r), &MB_NUM(&a2->cols[j], r), sizeof(float));
        mb_state s1 = {0}, s2 = {0};
        assert_int_equal(mb_transform_save(t, &s1, NULL), MB_OK);
        assert_int_equal(mb_transform_save(u, &s2, NULL), MB_OK);
        assert_int_equal(s1.n, s2.n);
        for (size_t k = 0; k < s1.n; k++) {
            const mb_state_array *x = &s1.arrays[k], *y = array_of(&s2, x->name);
            assert_int_equal(x->type, y->type);
            assert_int_equal(x->count, y->count);
            assert_memory_equal(x->data, y->data, x->count * mb_dtype_size(x->type));
        }
        mb_state_clear(&s1);
        mb_state_clear(&s2);
        mb_frame_free(&a);
        mb_frame_free(&b);
        mb_frame_free(&a2);
        mb_frame_free(&b2);
        mb_transform_free(&t);
        mb_transform_free(&u);
    }
    mb_frame_free(&f);
    mb_frame_free(&g);
}

/* The loaded transform applies without its options: strategy, unknown,
** bounds and the indicator come from the state. */
static void test_load_keeps_options(void **state)
{
    (void)state;
    mb_frame *f = mixed_frame();
    mb_transform_opts o = {.unknown = "error"};
    mb_transform *t = fitted("onehot", &o, f);
    mb_transform *u = roundtrip(t);
    static const char *const lv[] = {"black"};
    mb_frame *s = mb_frame_new(1);
    add_cat(s, "color", lv, 1, (const int32_t[]){0});
    mb_frame *out = NULL;
    mb_error err = {0};
    assert_int_equal(mb_transform_apply(u, s, &out, &err), MB_EARG);
    assert_non_null(strstr(err.msg, "'black'"));
    mb_transform_free(&t);
    mb_transform_free(&u);
    mb_frame_free(&s);

    mb_transform_opts o2 = {.lo = -1, .hi = 1};
    t = fitted("clip", &o2, f);
    u = roundtrip(t);
    out = apply_ok(u, f);
    expect_num(out, "z", (const float[]){-1, 0.5f, 1, 1, 0, 1}, 0);
    expect_num(out, "x", (const float[]){1, 1, NaN, 1, 1, 1}, 0);
    mb_frame_free(&out);
    /* a loaded transform can be refitted: same columns */
    assert_int_equal(mb_transform_fit(u, f, NULL), MB_OK);
    out = apply_ok(u, f);
    expect_num(out, "z", (const float[]){-1, 0.5f, 1, 1, 0, 1}, 0);
    mb_frame_free(&out);
    mb_transform_free(&t);
    mb_transform_free(&u);
    mb_frame_free(&f);
}

static void test_state_strings(void **state)
{
    (void)state;
    mb_state s = {0};
    const char *const v[] = {"alpha", "", "ünï", "x=y"};
    assert_int_equal(mb_state_put_strings(&s, "words", v, 4, NULL), MB_OK);
    assert_int_equal(mb_state_put_strings(&s, "none", NULL, 0, NULL), MB_OK);
    mb_error err = {0};
    assert_int_equal(mb_state_put_strings(&s, "words", v, 1, &err), MB_EARG); /* already there */
    assert_non_null(strstr(err.msg, "words"));
    size_t n = 9;
    char **got = mb_state_get_strings(&s, "words", &n, NULL);
    assert_non_null(got);
    assert_int_equal(n, 4);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(got[i], v[i]);
        mb_free(got[i]);
    }
    mb_free(got);
    got = mb_state_get_strings(&s, "none", &n, NULL);
    assert_non_null(got);
    assert_int_equal(n, 0);
    mb_free(got);
    assert_null(mb_state_get_strings(&s, "nothing", &n, &err));
    assert_int_equal(err.code, MB_EFORMAT);
    assert_non_null(strstr(err.msg, "nothing"));
    /* not terminated / not text */
    mb_state_writer w = mb_state_writer_for(&s);
    assert_int_equal(w.put(w.ud, "raw", MB_DT_U8, "ab", 2), 0);
    assert_null(mb_state_get_strings(&s, "raw", &n, &err));
    assert_int_equal(err.code, MB_EFORMAT);
    const double d = 1;
    assert_int_equal(w.put(w.ud, "num", MB_DT_F64, &d, 1), 0);
    assert_null(mb_state_get_strings(&s, "num", &n, &err));
    assert_int_equal(err.code, MB_EFORMAT);
    mb_state_clear(&s);
}

/* A copy of s without array `skip`, with array `shrink` one element
** shorter (-1: neither). */
static void state_copy(const mb_state *s, mb_state *d, long skip, long shrink)
{
    mb_state_writer w = mb_state_writer_for(d);
    for (size_t i = 0; i < s->n; i++) {
        const mb_state_array *a = &s->arrays[i];
        if ((long)i == skip)
            continue;
        size_t count = (long)i == shrink && a->count ? a->count - 1 : a->count;
        assert_int_equal(w.put(w.ud, a->name, a->type, a->data, count), 0);
    }
}

static void expect_load_fails(const char *kind, mb_state *s, const char *what)
{
    mb_transform *t = (mb_transform *)1;
    mb_error err = {0};
    mb_status rc = mb_transform_load(kind, s, &t, &err);
    if (rc != MB_EFORMAT)
        fail_msg("%s, %s: load gave %d (%s), want MB_EFORMAT", kind, what, (int)rc, err.msg);
    assert_null(t);
    assert_non_null(strstr(err.msg, kind));
}

/* Every array of every kind removed, then shortened: a clean MB_EFORMAT. */
static void test_damaged_state(void **state)
{
    (void)state;
    const char *const kinds[] = {"standardize", "minmax", "impute", "onehot", "ordinal",
                                 "log1p",       "clip",   "poly2",  "select", "drop"};
    const char *const c1[] = {"color"};
    mb_frame *f = mixed_frame();
    for (size_t i = 0; i < N_(kinds); i++) {
        mb_transform_opts o = {.strategy = "most_frequent", .lo = 0, .hi = 1, .add_indicator = 1};
        if (strcmp(kinds[i], "drop") == 0) {
            o.columns = c1;
            o.ncolumns = 1;
        }
        mb_transform *t = fitted(kinds[i], &o, f);
        mb_state s = {0};
        assert_int_equal(mb_transform_save(t, &s, NULL), MB_OK);
        for (size_t k = 0; k < s.n; k++) {
            char what[96];
            mb_state d = {0};
            state_copy(&s, &d, (long)k, -1);
            snprintf(what, sizeof what, "without %s", s.arrays[k].name);
            expect_load_fails(kinds[i], &d, what);
            mb_state_clear(&d);
            if (s.arrays[k].count == 0)
                continue;
            state_copy(&s, &d, -1, (long)k);
            snprintf(what, sizeof what, "%s shortened", s.arrays[k].name);
            expect_load_fails(kinds[i], &d, what);
            mb_state_clear(&d);
        }
        /* loading as another kind */
        expect_load_fails(strcmp(kinds[i], "log1p") ? "log1p" : "poly2", &s, "wrong kind");
        mb_state_clear(&s);
        mb_transform_free(&t);
    }

    /* bad values */
    mb_transform *t = fitted("onehot", NULL, f);
    mb_state s = {0};
    assert_int_equal(mb_transform_save(t, &s, NULL), MB_OK);
    int64_t *nlev = s.arrays[4].data;
    assert_string_equal(s.arrays[4].name, "nlevels");
    nlev[0] = 4;
    expect_load_fails("onehot", &s, "nlevels too big");
    nlev[0] = -1;
    expect_load_fails("onehot", &s, "nlevels negative");
    nlev[0] = 2;
    expect_load_fails("onehot", &s, "nlevels too small");
    nlev[0] = 3;
    mb_transform *u = NULL;
    assert_int_equal(mb_transform_load("onehot", &s, &u, NULL), MB_OK);
    mb_transform_free(&u);
    int32_t *version = s.arrays[0].data;
    assert_string_equal(s.arrays[0].name, "version");
    *version = 2;
    expect_load_fails("onehot", &s, "version 2");
    mb_state_clear(&s);
    mb_transform_free(&t);

    mb_transform_opts o = {.lo = 0, .hi = 1};
    t = fitted("clip", &o, f);
    assert_int_equal(mb_transform_save(t, &s, NULL), MB_OK);
    double *b = array_of(&s, "bounds")->data;
    b[0] = 2;
    expect_load_fails("clip", &s, "lo > hi");
    b[0] = NAN;
    expect_load_fails("clip", &s, "lo NaN");
    mb_state_clear(&s);
    mb_transform_free(&t);

    t = fitted("impute", NULL, f);
    assert_int_equal(mb_transform_save(t, &s, NULL), MB_OK);
    uint8_t *iscat = array_of(&s, "is_cat")->data;
    iscat[0] = 7;
    expect_load_fails("impute", &s, "is_cat 7");
    iscat[0] = 0;
    char *strategy = array_of(&s, "strategy")->data;
    strategy[0] = 'x';
    expect_load_fails("impute", &s, "strategy xean");
    mb_state_clear(&s);
    mb_transform_free(&t);

    /* text stored as numbers */
    t = fitted("log1p", NULL, f);
    mb_state_writer w = mb_state_writer_for(&s);
    const int32_t one = 1;
    const double cols[] = {1, 2};
    w.put(w.ud, "version", MB_DT_I32, &one, 1);
    mb_state_put_strings(&s, "kind", (const char *const[]){"log1p"}, 1, NULL);
    w.put(w.ud, "columns", MB_DT_F64, cols, 2);
    expect_load_fails("log1p", &s, "columns as F64");
    mb_state_clear(&s);
    mb_state empty = {0};
    expect_load_fails("log1p", &empty, "empty state");
    mb_transform_free(&t);
    mb_frame_free(&f);
}

/* }====== */

/* {====== errors ======} */

static void expect_err(mb_status got, mb_status want, const mb_error *err, const char *a, const char *b)
{
    if (got != want)
        fail_msg("status %d, want %d (%s)", (int)got, (int)want, err->msg);
    if (a && !strstr(err->msg, a))
        fail_msg("message '%s' lacks '%s'", err->msg, a);
    if (b && !strstr(err->msg, b))
        fail_msg("message '%s' lacks '%s'", err->msg, b);
}

static void test_errors_new(void **state)
{
    (void)state;
    mb_transform *t = NULL;
    mb_error err = {0};
    expect_err(mb_transform_new("whiten", NULL, &t, &err), MB_EARG, &err, "'whiten'", "standardize");
    assert_null(t);
    mb_transform_opts o = {.strategy = "mode"};
    expect_err(mb_transform_new("impute", &o, &t, &err), MB_EARG, &err, "'mode'", "most_frequent");
    mb_transform_opts o2 = {.unknown = "skip"};
    expect_err(mb_transform_new("onehot", &o2, &t, &err), MB_EARG, &err, "'skip'", "ignore");
    mb_transform_opts o3 = {.lo = 2, .hi = 1};
    expect_err(mb_transform_new("clip", &o3, &t, &err), MB_EARG, &err, "clip", "lo <= hi");
    mb_transform_opts o4 = {0};
    expect_err(mb_transform_new("clip", &o4, &t, &err), MB_EARG, &err, "both 0", "INFINITY");
    expect_err(mb_transform_new("drop", NULL, &t, &err), MB_EARG, &err, "drop", "columns");
    const char *const twice[] = {"a", "a"};
    mb_transform_opts o5 = {.columns = twice, .ncolumns = 2};
    expect_err(mb_transform_new("select", &o5, &t, &err), MB_EARG, &err, "'a'", "twice");
    assert_null(t);
}

static void test_errors_fit(void **state)
{
    (void)state;
    mb_frame *f = mixed_frame();
    mb_error err = {0};
    const char *const nope[] = {"age"};
    mb_transform_opts o = {.columns = nope, .ncolumns = 1};
    mb_transform *t = make("standardize", &o);
    expect_err(mb_transform_fit(t, f, &err), MB_ENOTFOUND, &err, "'age'", "standardize");
    assert_false(mb_transform_fitted(t));
    mb_transform_free(&t);

    const char *const color[] = {"color"}, *const x[] = {"x"}, *const y[] = {"y"};
    mb_transform_opts oc = {.columns = color, .ncolumns = 1};
    t = make("standardize", &oc);
    expect_err(mb_transform_fit(t, f, &err), MB_ETYPE, &err, "'color'", "numeric");
    mb_transform_free(&t);
    mb_transform_opts ox = {.columns = x, .ncolumns = 1};
    t = make("onehot", &ox);
    expect_err(mb_transform_fit(t, f, &err), MB_ETYPE, &err, "'x'", "categorical");
    mb_transform_free(&t);
    mb_transform_opts om = {.columns = color, .ncolumns = 1, .strategy = "median"};
    t = make("impute", &om);
    expect_err(mb_transform_fit(t, f, &err), MB_ETYPE, &err, "'color'", "most_frequent");
    mb_transform_free(&t);
    mb_transform_opts oy = {.columns = y, .ncolumns = 1};
    t = make("log1p", &oy);
    expect_err(mb_transform_fit(t, f, &err), MB_EARG, &err, "'y'", "target");
    mb_transform_free(&t);
    t = make("drop", &oy);
    expect_err(mb_transform_fit(t, f, &err), MB_EARG, &err, "'y'", "target");
    mb_transform_free(&t);

    /* a generated name that is taken */
    mb_frame *g = mb_frame_new(2);
    add_num(g, "a", (const float[]){1, NaN});
    add_num(g, "a_missing", (const float[]){0, 1});
    mb_transform_opts oi = {.add_indicator = 1};
    t = make("impute", &oi);
    expect_err(mb_transform_fit(t, g, &err), MB_EARG, &err, "'a_missing'", "same name");
    mb_transform_free(&t);
    mb_frame_free(&g);

    /* no values to scale by */
    g = mb_frame_new(2);
    add_num(g, "a", (const float[]){NaN, NaN});
    t = make("minmax", NULL);
    expect_err(mb_transform_fit(t, g, &err), MB_EEMPTY, &err, "'a'", "no values");
    mb_transform_free(&t);
    mb_frame_free(&g);

    /* a failed refit keeps the earlier state */
    t = fitted("standardize", &ox, f);
    mb_frame *h = mb_frame_new(1);
    add_num(h, "z", (const float[]){1});
    expect_err(mb_transform_fit(t, h, &err), MB_ENOTFOUND, &err, "'x'", NULL);
    assert_true(mb_transform_fitted(t));
    mb_frame *out = apply_ok(t, f);
    mb_frame_free(&out);
    mb_transform_free(&t);
    mb_frame_free(&h);
    mb_frame_free(&f);
}

static void test_errors_apply(void **state)
{
    (void)state;
    mb_frame *f = mixed_frame(), *out = NULL;
    mb_error err = {0};
    mb_transform *t = make("onehot", NULL);
    expect_err(mb_transform_apply(t, f, &out, &err), MB_EARG, &err, "transform 'onehot' applied before fit",
               NULL);
    assert_null(out);
    mb_state s = {0};
    expect_err(mb_transform_save(t, &s, &err), MB_EARG, &err, "onehot", "before fit");
    mb_transform_free(&t);

    /* the fitted column is missing */
    mb_frame *g = mb_frame_new(2);
    add_num(g, "x", (const float[]){1, 2});
    add_num(g, "age", (const float[]){30, 40});
    t = fitted("standardize", NULL, g);
    mb_frame *h = mb_frame_new(2);
    add_num(h, "x", (const float[]){1, 2});
    expect_err(mb_transform_apply(t, h, &out, &err), MB_ENOTFOUND, &err,
               "transform 'standardize': the data has no column 'age', which it was fitted on", NULL);
    assert_null(out);
    /* ... or has another type */
    add_cat(h, "age", COLORS, 1, (const int32_t[]){0, 0});
    expect_err(mb_transform_apply(t, h, &out, &err), MB_ETYPE, &err, "'age'", "numeric");
    assert_null(out);
    mb_frame_free(&h);
    /* ... or is the target of this frame */
    mb_frame_set_target(g, "age", NULL);
    expect_err(mb_transform_apply(t, g, &out, &err), MB_EARG, &err, "'age'", "target");
    mb_transform_free(&t);
    mb_frame_free(&g);

    t = fitted("onehot", NULL, f);
    h = mb_frame_new(1);
    add_num(h, "color", (const float[]){1});
    expect_err(mb_transform_apply(t, h, &out, &err), MB_ETYPE, &err, "'color'", "categorical");
    mb_frame_free(&h);
    mb_transform_free(&t);
    mb_frame_free(&f);
}

/* An allocator that refuses big requests: the data-sized buffers (result
** block, median scratch) fail cleanly, the small ones still work. */
static void *small_malloc(size_t n) { return n > (1u << 18) ? NULL : malloc(n); }
static void *small_realloc(void *p, size_t n) { return n > (1u << 18) ? NULL : realloc(p, n); }

static void test_out_of_memory(void **state)
{
    (void)state;
    const size_t n = 100000;
    mb_frame *f = mb_frame_new(n);
    mb_column *c = mb_frame_add_num(f, "a", NULL, 1, NULL);
    for (size_t i = 0; i < n; i++)
        c->num[i] = (float)(i % 7);
    mb_transform *t = fitted("standardize", NULL, f);
    mb_transform *u = make("impute", &(mb_transform_opts){.strategy = "median"});
    const mb_allocator small = {small_malloc, small_realloc, free};
    mb_error err = {0};
    mb_frame *out = NULL;
    mb_set_allocator(&small);
    mb_status rc1 = mb_transform_apply(t, f, &out, &err);
    mb_error err2 = {0};
    mb_status rc2 = mb_transform_fit(u, f, &err2);
    mb_set_allocator(NULL);
    expect_err(rc1, MB_ENOMEM, &err, "standardize", "memory");
    assert_null(out);
    expect_err(rc2, MB_ENOMEM, &err2, "impute", "memory");
    assert_false(mb_transform_fitted(u));
    mb_transform_free(&t);
    mb_transform_free(&u);
    mb_frame_free(&f);
}

/* }====== */

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_standardize),
        cmocka_unit_test(test_minmax),
        cmocka_unit_test(test_impute_numeric),
        cmocka_unit_test(test_impute_indicator),
        cmocka_unit_test(test_impute_categorical),
        cmocka_unit_test(test_onehot),
        cmocka_unit_test(test_onehot_target_moves),
        cmocka_unit_test(test_ordinal),
        cmocka_unit_test(test_log1p_clip),
        cmocka_unit_test(test_poly2),
        cmocka_unit_test(test_select_drop),
        cmocka_unit_test(test_strided_and_view),
        cmocka_unit_test(test_standardize_large),
        cmocka_unit_test(test_roundtrip_all),
        cmocka_unit_test(test_load_keeps_options),
        cmocka_unit_test(test_state_strings),
        cmocka_unit_test(test_damaged_state),
        cmocka_unit_test(test_errors_new),
        cmocka_unit_test(test_errors_fit),
        cmocka_unit_test(test_errors_apply),
        cmocka_unit_test(test_out_of_memory),
    };
    return cmocka_run_group_tests_name("transform", tests, NULL, NULL);
}
