/*
** test_worker_number.c: the worker's fast decimal parse
** (src/deploy/worker_number.c) against its oracle, glibc's strtod: every
** string it accepts must give strtod's double bit for bit (and one strtod
** reads whole); it must accept the bench's %.9g float values and refuse
** what it cannot round exactly, leaving it to the runtime's text parse.
** The %.6g of a probability against snprintf's, byte for byte.
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

#include "worker.h"

/* 1 when s is accepted; then its value must be strtod's, bit for bit. */
static int check_one(const char *s)
{
    double v = 0;
    if (!mbwk_parse_decimal(s, strlen(s), &v))
        return 0;
    char *end;
    double ref = strtod(s, &end);
    if (*end != '\0' || memcmp(&v, &ref, sizeof v) != 0)
        fail_msg("'%s': fast %.17g, strtod %.17g", s, v, ref);
    return 1;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return rng;
}

static void test_random_values_equal_strtod(void **state)
{
    (void)state;
    char buf[64];
    long accepted = 0, n = 0;
    for (int i = 0; i < 300000; i++) {
        uint64_t bits = next();
        double d;
        memcpy(&d, &bits, sizeof d);
        if (!isfinite(d))
            continue;
        float f = (float)ldexp((double)(next() % 2000001) - 1e6, (int)(next() % 40) - 30);
        double x = i % 2 ? d : (double)f;
        switch (i % 5) {
        case 0: snprintf(buf, sizeof buf, "%.9g", (double)f); break;
        case 1: snprintf(buf, sizeof buf, "%.17g", x); break;
        case 2: snprintf(buf, sizeof buf, "%.6g", x); break;
        case 3: snprintf(buf, sizeof buf, "%.3f", x); break;
        default: snprintf(buf, sizeof buf, "%.12e", x); break;
        }
        accepted += check_one(buf), n++;
        /* random digit strings: long mantissas, leading zeros, exponents */
        int len = 1 + (int)(next() % 22), p = 0;
        if (next() % 2)
            buf[p++] = "+-"[next() % 2];
        for (int j = 0; j < len; j++)
            buf[p++] = (char)('0' + next() % 10);
        if (next() % 2) {
            buf[p++] = '.';
            for (int j = (int)(next() % 12); j >= 0; j--)
                buf[p++] = (char)('0' + next() % 10);
        }
        if (next() % 2)
            p += snprintf(buf + p, sizeof buf - (size_t)p, "e%d", (int)(next() % 61) - 30);
        buf[p] = '\0';
        accepted += check_one(buf), n++;
    }
    assert_true(accepted > n / 4); /* the fast path is taken, not only refused */
}

static void test_the_bench_values_take_the_fast_path(void **state)
{
    (void)state;
    static const char *const ok[] = {"0.123456789", "-1.52587891e-05", "5.1", "0", "-0", "12345678", "3e22",
                                     "9007199254740992", "1E+5", "+7.25"};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
        assert_true(check_one(ok[i]));
    double v;
    assert_true(mbwk_parse_decimal("-0", 2, &v) && signbit(v));
}

static void test_what_it_cannot_round_is_refused(void **state)
{
    (void)state;
    static const char *const no[] = {"",      "-",     ".5",   "1.",   " 1",    "1 ",          "inf",
                                     "nan",   "0x10",  "1e",   "1e+",  "1e-23", "1e23",        "1.5e00001",
                                     "9007199254740993", "12345678901234567890", "1..2", "1e5.5", "--1", "1,5"};
    for (size_t i = 0; i < sizeof no / sizeof *no; i++) {
        double v = 42;
        if (mbwk_parse_decimal(no[i], strlen(no[i]), &v))
            fail_msg("'%s' accepted as %.17g", no[i], v);
    }
    double v; /* the length bounds the parse: "12" of "123" */
    assert_true(mbwk_parse_decimal("123", 2, &v) && v == 12.0);
}

/* Eight digits at a time: any byte that is not a digit, anywhere in a
** word of them (before or after the point, the word ending the string or
** not), sends the parse to the byte-wise test, which refuses it, and a
** word of digits gives strtod's value. */
static void test_eight_digit_words_see_every_byte(void **state)
{
    (void)state;
    static const char *const base[] = {"123456789012", "0.123456789", "-9.87654321e-05", "31415926", "1.23456789"};
    for (size_t b = 0; b < sizeof base / sizeof *base; b++) {
        size_t len = strlen(base[b]);
        assert_true(check_one(base[b]));
        for (size_t p = 0; p < len; p++)
            for (int c = 1; c < 256; c++) {
                char buf[32];
                memcpy(buf, base[b], len + 1);
                buf[p] = (char)c;
                check_one(buf); /* accepted: strtod reads it whole, to the same value */
            }
    }
}

/* One float: the fast %.6g equals snprintf's byte for byte, or is refused
** (outside [10^-4, 1) and not +0); returns 1 when it was taken. */
static int format_one(float f)
{
    char fast[32], ref[32];
    size_t n = mbwk_format_proba(f, fast);
    int inside = ((double)f >= 1e-4 && f < 1.0f) || (f == 0 && !signbit(f));
    if (!n) {
        if (inside)
            fail_msg("%a (%.9g) refused", (double)f, (double)f);
        return 0;
    }
    snprintf(ref, sizeof ref, "%.6g", (double)f);
    if (strlen(fast) != n || strcmp(fast, ref) != 0)
        fail_msg("%a: fast '%s', snprintf '%s'", (double)f, fast, ref);
    return 1;
}

static float float_of(uint32_t bits)
{
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Every float near the edges (the powers of ten where the digits after
** the point change, 1, values that round up to a power of ten), floats
** with short binary expansions (where a tie at the 7th digit can be
** exact: round half to even), and random ones. */
static void test_format_proba_equals_snprintf(void **state)
{
    (void)state;
    static const float edges[] = {1e-4f, 1e-3f, 1e-2f, 1e-1f, 1.0f, 0.9999995f, 0.09999995f, 0.009999995f,
                                  0.0009999995f, 0.5f, 0.25f};
    long taken = 0;
    for (size_t i = 0; i < sizeof edges / sizeof *edges; i++) {
        uint32_t b;
        memcpy(&b, &edges[i], sizeof b);
        for (uint32_t d = 0; d < 40000; d++)
            taken += format_one(float_of(b - 20000 + d));
    }
    for (int j = 1; j <= 40; j++)
        for (uint32_t k = 1; k < 4096; k += 2)
            taken += format_one((float)k / (float)((uint64_t)1 << j));
    for (int i = 0; i < 2000000; i++) {
        uint32_t bits = (uint32_t)next();
        taken += format_one(float_of(bits));
        /* uniform in the probability range */
        taken += format_one(float_of(0x38D1B717u + (uint32_t)(next() % (0x3F800000u - 0x38D1B717u))));
    }
    assert_true(format_one(0.0f));
    assert_false(format_one(-0.0f));
    assert_false(format_one(1.0f));
    assert_false(format_one(9.9e-5f));
    assert_false(format_one(1e-4f)); /* 9.99999975e-05: below 10^-4 */
    assert_true(taken > 2000000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_values_equal_strtod),
        cmocka_unit_test(test_the_bench_values_take_the_fast_path),
        cmocka_unit_test(test_what_it_cannot_round_is_refused),
        cmocka_unit_test(test_eight_digit_words_see_every_byte),
        cmocka_unit_test(test_format_proba_equals_snprintf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
