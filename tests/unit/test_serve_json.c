/*
** test_serve_json.c: the server's JSON text written without jansson
** (src/deploy/serve_json.c) against jansson itself, the way the server
** wrote it before: a float32 as the shortest "%.*g" (6..9 digits) that
** strtof reads back, made a json_real and dumped with
** JSON_REAL_PRECISION(9); and the whole /predict reply as a jansson tree
** dumped JSON_COMPACT. Byte-identical text on random bit patterns, random
** probabilities, and the edges: +-0, subnormals, FLT_MAX, powers of two
** and ten, integers, short decimals, the neighbours of the %g layout's
** switches (1e-5, 1e-4, 1e9), and class names that need escapes.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "serve.h"

/* The old jfloat: the oracle. */
static json_t *old_jfloat(float f)
{
    if (!isfinite(f))
        return json_null();
    char buf[32];
    for (int p = 6; p <= 9; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, (double)f);
        if (strtof(buf, NULL) == f)
            break;
    }
    return json_real(strtod(buf, NULL));
}

static char *dump(json_t *j)
{
    char *s = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(9));
    json_decref(j);
    assert_non_null(s);
    return s;
}

static void check_float(float f)
{
    char got[32];
    double v;
    size_t n = mbsv_float_text(f, got, &v);
    char *want = dump(old_jfloat(f));
    if (strcmp(got, want) != 0 || n != strlen(want))
        fail_msg("%a (%.9g): got '%s' (%zu), expected '%s'", (double)f, (double)f, got, n, want);
    free(want);
    if (isfinite(f)) {
        /* the value, as the /v2 replies dump it, gives the same text */
        char *again = dump(json_real(v));
        if (strcmp(got, again) != 0)
            fail_msg("%a: value %.17g dumps as '%s', text '%s'", (double)f, v, again, got);
        free(again);
        assert_true((float)v == f);
    } else {
        assert_true(isnan(v));
    }
}

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static void test_random_bits(void **state)
{
    (void)state;
    mb_rng r;
    mb_rng_seed(&r, 21);
    for (int i = 0; i < 400000; i++)
        check_float(from_bits((uint32_t)mb_rng_next(&r)));
}

/* What a classifier gives: probabilities in [0, 1], many near 0 or 1. */
static void test_probabilities(void **state)
{
    (void)state;
    mb_rng r;
    mb_rng_seed(&r, 22);
    for (int i = 0; i < 300000; i++) {
        double u = (double)(mb_rng_next(&r) >> 11) * 0x1.0p-53;
        float p = i % 3 == 0 ? (float)u : i % 3 == 1 ? (float)exp(-40 * u) : (float)(1 - exp(-30 * u));
        check_float(p);
    }
}

static void test_edges(void **state)
{
    (void)state;
    const float fixed[] = {0.0f, -0.0f, 1.0f, -1.0f, 0.5f, 0.1f, 0.2f, 0.3f, 1e-5f, 1e-4f, 9.99999e-5f, 1e9f,
                           1e8f, 123456789.0f, 999999999.0f, 1e10f, 3.4028235e38f, 1e38f, 1.0001e38f, FLT_MIN,
                           FLT_TRUE_MIN, 1e-37f, 9.99e-38f, 1e-14f, 1e-15f, 16777216.0f, 16777217.0f,
                           NAN, INFINITY, -INFINITY, 0.33333334f, 0.6666667f, 2.5f, 100.0f, 1234567.0f};
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) {
        check_float(fixed[i]);
        check_float(-fixed[i]);
    }
    for (int e = -149; e <= 127; e++) /* powers of two and their neighbours */
        for (int d = -2; d <= 2; d++) {
            float f = ldexpf(1.0f, e);
            uint32_t u;
            memcpy(&u, &f, sizeof u);
            if (u + (uint32_t)d < 0x7f800000u)
                check_float(from_bits(u + (uint32_t)d));
        }
    for (int e = -45; e <= 38; e++) { /* powers of ten, a few ulps either side */
        float f = (float)pow(10, e);
        uint32_t u;
        memcpy(&u, &f, sizeof u);
        for (int d = -3; d <= 3; d++)
            if (u + (uint32_t)d < 0x7f800000u)
                check_float(from_bits(u + (uint32_t)d));
    }
    for (int i = 0; i <= 200000; i++) /* integers, and short decimals */
        check_float((float)i);
    for (int i = 0; i <= 100000; i++) {
        check_float((float)i / 1000.0f);
        check_float((float)((double)i / 1e6));
    }
    for (uint32_t u = 1; u < 3000; u++) /* subnormals */
        check_float(from_bits(u));
}

/* The reply of /predict: the old jansson tree, against the text. */
static void check_reply(size_t n, size_t k, const long *label, const float *value, const char *const *names,
                        size_t nnames, const float *proba)
{
    char **cj = NULL;
    if (names) {
        cj = calloc(nnames, sizeof *cj);
        for (size_t c = 0; c < nnames; c++)
            cj[c] = dump(json_string(names[c]));
    }
    json_t *out = json_object(), *labels = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(labels, names ? json_string(names[label[i]]) : old_jfloat(value[i]));
    json_object_set_new(out, "predictions", labels);
    if (k) {
        json_t *pa = json_array();
        for (size_t i = 0; i < n; i++) {
            json_t *row = json_array();
            for (size_t c = 0; c < k; c++)
                json_array_append_new(row, old_jfloat(proba[i * k + c]));
            json_array_append_new(pa, row);
        }
        json_object_set_new(out, "probabilities", pa);
    }
    char *want = dump(out);
    mbsv_predict_rows pr = {n, k, label, value, (const char *const *)cj, proba};
    size_t len;
    char *got = mbsv_predict_body(&pr, &len);
    assert_non_null(got);
    assert_string_equal(got, want);
    assert_int_equal(len, strlen(want));
    mb_free(got);
    free(want);
    for (size_t c = 0; cj && c < nnames; c++)
        free(cj[c]);
    free(cj);
}

static void test_predict_reply(void **state)
{
    (void)state;
    static const char *const names[] = {"setosa", "a \"quoted\" \\ name", "caf\xc3\xa9 \xe2\x82\xac", "tab\there",
                                        "new\nline", "\x01", "/slash/", "9"};
    mb_rng r;
    mb_rng_seed(&r, 23);
    for (int t = 0; t < 3000; t++) {
        size_t n = mb_rng_below(&r, 6), k = t % 5 == 0 ? 0 : 1 + mb_rng_below(&r, 8);
        long label[8];
        float value[8], proba[8 * 8];
        for (size_t i = 0; i < n; i++) {
            label[i] = (long)mb_rng_below(&r, 8);
            value[i] = mb_rng_below(&r, 10) == 0 ? NAN : (float)((double)(int64_t)mb_rng_next(&r) * 1e-15);
        }
        for (size_t i = 0; i < n * k; i++)
            proba[i] = mb_rng_below(&r, 30) == 0   ? INFINITY
                       : mb_rng_below(&r, 4) == 0 ? (float)exp(-(double)mb_rng_below(&r, 90))
                                                  : (float)((double)(mb_rng_next(&r) >> 11) * 0x1.0p-53);
        /* classification has names; regression (k = 0) values */
        check_reply(n, k, label, value, k ? names : NULL, 8, proba);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_bits),
        cmocka_unit_test(test_probabilities),
        cmocka_unit_test(test_edges),
        cmocka_unit_test(test_predict_reply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
