/*
** test_serve_rows.c: POST /predict's body read without jansson
** (src/deploy/serve_rows.c, mbsv_fast_rows) against jansson's reading of
** the same body: for a column read exactly (as_float 0) the very double
** json_number_value gives; for a numeric column (as_float 1) the same
** float32. Numbers as Python, printf and people write them: 17-digit
** reprs of doubles and of float32s, %.9g, %.17e, short decimals,
** integers, exponents, zeros of both signs, 19 and 20 digits, and
** decimals within a few double ulps of a float32 midpoint (where the float
** path must step aside for strtod).
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "serve.h"

enum { NIN = 8 };

static double unit(mb_rng *r) { return (double)(mb_rng_next(r) >> 11) * 0x1.0p-53; }

/* One number's text, in one of many spellings. */
static void number(mb_rng *r, char *b, size_t n)
{
    double mag = pow(10, (double)mb_rng_below(r, 60) - 30) * (unit(r) * 9 + 1);
    double v = mb_rng_below(r, 2) ? -mag : mag;
    float f = (float)v;
    switch (mb_rng_below(r, 12)) {
    case 0: snprintf(b, n, "%.17g", v); break;
    case 1: snprintf(b, n, "%.17g", (double)f); break;          /* Python's float of a float32 */
    case 2: snprintf(b, n, "%.9g", (double)f); break;
    case 3: snprintf(b, n, "%.17e", v); break;
    case 4: snprintf(b, n, "%.3f", unit(r) * 200 - 100); break;
    case 5: snprintf(b, n, "%.19g", v); break;
    case 6: snprintf(b, n, "%.20g", v); break;                   /* 20 digits: strtod */
    case 7: snprintf(b, n, "%.6E", v); break;
    case 8: snprintf(b, n, "%.16f", unit(r)); break;             /* leading zeros */
    case 9: { /* a float32 midpoint, or a few double ulps off it */
        float g = (float)(unit(r) * pow(10, (double)mb_rng_below(r, 40) - 20));
        double mid = ((double)g + (double)nextafterf(g, INFINITY)) / 2;
        for (uint64_t k = mb_rng_below(r, 7); k > 0; k--)
            mid = nextafter(mid, mb_rng_below(r, 2) ? INFINITY : 0);
        snprintf(b, n, "%.*g", 16 + (int)mb_rng_below(r, 4), mid);
        break;
    }
    case 10: snprintf(b, n, "%s", (const char *[]){"0.0", "-0.0", "0e5", "-0.000e-3", "1e0", "-1E+2"}[mb_rng_below(r, 6)]); break;
    default: snprintf(b, n, "%.*g", 1 + (int)mb_rng_below(r, 17), v); break;
    }
    if (!strchr(b, '.') && !strchr(b, 'e') && !strchr(b, 'E') && strlen(b) < n - 3)
        strcat(b, ".0"); /* a real, not an integer token (those go to strtoll, as before) */
}

/* A body of one row of NIN numbers; the fast reading against jansson's. */
static void check_body(mb_rng *r, const unsigned char *as_float, long *fast, long *total)
{
    char body[NIN * 48 + 32], num[48];
    size_t len = (size_t)snprintf(body, sizeof body, "{\"instances\":[[");
    for (size_t j = 0; j < NIN; j++) {
        number(r, num, sizeof num);
        len += (size_t)snprintf(body + len, sizeof body - len, "%s%s", j ? "," : "", num);
    }
    len += (size_t)snprintf(body + len, sizeof body - len, "]]}");
    json_error_t e;
    json_t *j = json_loadb(body, len, 0, &e);
    assert_non_null(j);
    const json_t *row = json_array_get(json_object_get(j, "instances"), 0);
    double *v;
    size_t n;
    (*total)++;
    if (mbsv_fast_rows(body, len, NIN, as_float, &v, &n)) {
        (*fast)++;
        assert_int_equal(n, 1);
        for (size_t c = 0; c < NIN; c++) {
            double want = json_number_value(json_array_get(row, c));
            float wf = (float)want, gf = (float)v[c];
            if (as_float && as_float[c] ? memcmp(&wf, &gf, sizeof wf) != 0 : memcmp(&want, &v[c], sizeof want) != 0)
                fail_msg("%s: value %zu %.17g (float %a), expected %.17g (float %a)", body, c, v[c], (double)gf, want,
                         (double)wf);
        }
        mb_free(v);
    } else {
        /* only a value out of float32's range sends this body to jansson */
        int out = 0;
        for (size_t c = 0; c < NIN; c++)
            out |= !(fabs(json_number_value(json_array_get(row, c))) <= 3.4028234663852886e38);
        if (!out)
            fail_msg("%s: left to jansson", body);
    }
    json_decref(j);
}

static void test_exact_columns(void **state)
{
    (void)state;
    mb_rng r;
    mb_rng_seed(&r, 31);
    long fast = 0, total = 0;
    for (int t = 0; t < 40000; t++)
        check_body(&r, NULL, &fast, &total);
    assert_true(fast > total / 4);
}

static void test_float_columns(void **state)
{
    (void)state;
    mb_rng r;
    mb_rng_seed(&r, 32);
    unsigned char all[NIN], mixed[NIN];
    for (size_t j = 0; j < NIN; j++) {
        all[j] = 1;
        mixed[j] = j % 2;
    }
    long fast = 0, total = 0;
    for (int t = 0; t < 60000; t++)
        check_body(&r, t % 3 ? all : mixed, &fast, &total);
    assert_true(fast > total / 4);
}

/* Float32 midpoints spelled with few digits: 2^24 + 1 = 16777217 lies
** between two float32s, and strtod's double of each spelling decides. */
static void test_midpoints(void **state)
{
    (void)state;
    static const char *const nums[] = {"16777217.0", "1.6777217e7", "1.67772170000000001e7", "1.6777217000000001e7",
                                       "16777216.999999999", "16777217.00000001", "0.100000001490116119384765625",
                                       "3.4028235e38", "3.40282357e38", "1e-38", "1.1754943e-38", "1e-45"};
    unsigned char all[1] = {1};
    for (size_t i = 0; i < sizeof nums / sizeof *nums; i++) {
        char body[128];
        size_t len = (size_t)snprintf(body, sizeof body, "{\"instances\":[[%s]]}", nums[i]);
        double *v, want = strtod(nums[i], NULL);
        size_t n;
        if (mbsv_fast_rows(body, len, 1, all, &v, &n)) {
            float wf = (float)want, gf = (float)v[0];
            assert_memory_equal(&wf, &gf, sizeof wf);
            mb_free(v);
        } else {
            assert_false(fabs(want) <= 3.4028234663852886e38);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_columns),
        cmocka_unit_test(test_float_columns),
        cmocka_unit_test(test_midpoints),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
