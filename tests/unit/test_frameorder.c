/*
** test_frameorder.c: unit tests for mb_frame_order (src/core/frameops.c),
** the stable sort behind frame:sort and the workbench's Data tab, checked
** against a brute-force oracle: insertion sort by (missing last, key, row),
** on random columns with many ties and missing values, both directions,
** numeric and categorical; progress and cancellation.
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

#include "frameops.h"

/* a before b in the oracle's order: present before missing, then by key
** (reversed when desc), then by row */
static int before(double ka, size_t a, double kb, size_t b, int desc)
{
    if (isnan(ka) || isnan(kb))
        return isnan(ka) && isnan(kb) ? a < b : !isnan(ka);
    if (ka != kb)
        return desc ? ka > kb : ka < kb;
    return a < b;
}

static void oracle(const double *key, size_t n, int desc, size_t *idx)
{
    for (size_t i = 0; i < n; i++) {
        size_t j = i;
        for (; j > 0 && before(key[i], i, key[idx[j - 1]], idx[j - 1], desc); j--)
            idx[j] = idx[j - 1];
        idx[j] = i;
    }
}

static uint64_t rng = 12345;
static unsigned next(void)
{
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (unsigned)(rng >> 33);
}

static void test_numeric_random(void **state)
{
    (void)state;
    mb_error err;
    for (size_t n = 0; n < 1200; n = n * 3 + 1) {
        mb_frame *f = mb_frame_new(n);
        mb_column *c = mb_frame_add_num(f, "x", NULL, 1, &err);
        assert_non_null(c);
        double *key = malloc((n + 1) * sizeof *key);
        for (size_t i = 0; i < n; i++) {
            unsigned r = next() % 23;
            c->num[i] = r == 0 ? NAN : (float)(r % 7) - 3.5f; /* ties, negatives, missing */
            key[i] = c->num[i];
        }
        size_t *got = malloc((n + 1) * sizeof *got), *want = malloc((n + 1) * sizeof *want);
        for (int desc = 0; desc < 2; desc++) {
            assert_int_equal(mb_frame_order(f, 0, desc, got, NULL, NULL, &err), MB_OK);
            oracle(key, n, desc, want);
            for (size_t i = 0; i < n; i++)
                if (got[i] != want[i])
                    fail_msg("n=%zu desc=%d: position %zu has row %zu, want %zu", n, desc, i, got[i], want[i]);
        }
        free(key);
        free(got);
        free(want);
        mb_frame_free(&f);
    }
}

static void test_categorical_by_text(void **state)
{
    (void)state;
    mb_error err;
    const char *levels[] = {"pear", "apple", "fig", "banana"}; /* code order is not text order */
    const double rank[] = {3, 0, 2, 1};
    size_t n = 300;
    mb_frame *f = mb_frame_new(n);
    mb_column *c = mb_frame_add_cat(f, "fruit", &err);
    assert_non_null(c);
    for (int l = 0; l < 4; l++)
        mb_column_add_level(c, levels[l], strlen(levels[l]));
    double key[300];
    for (size_t i = 0; i < n; i++) {
        int code = (int)(next() % 5) - 1; /* -1: missing */
        c->codes[i] = code;
        key[i] = code < 0 ? (double)NAN : rank[code];
    }
    size_t got[300], want[300];
    for (int desc = 0; desc < 2; desc++) {
        assert_int_equal(mb_frame_order(f, 0, desc, got, NULL, NULL, &err), MB_OK);
        oracle(key, n, desc, want);
        assert_memory_equal(got, want, sizeof got);
    }
    mb_frame_free(&f);
}

static int calls;
static double last;
static int count_progress(void *ud, double frac)
{
    int stop_at = *(int *)ud;
    assert_true(frac > last && frac <= 1.0);
    last = frac;
    return ++calls == stop_at;
}

static void test_progress_and_cancel(void **state)
{
    (void)state;
    mb_error err;
    size_t n = 5000;
    mb_frame *f = mb_frame_new(n);
    mb_column *c = mb_frame_add_num(f, "x", NULL, 1, &err);
    for (size_t i = 0; i < n; i++)
        c->num[i] = (float)(next() % 1000);
    size_t *idx = malloc(n * sizeof *idx);
    int never = -1;
    calls = 0, last = 0;
    assert_int_equal(mb_frame_order(f, 0, 0, idx, count_progress, &never, &err), MB_OK);
    assert_true(calls >= 8); /* a pass per doubling from runs of 16 */
    int stop = 2;
    calls = 0, last = 0;
    assert_int_equal(mb_frame_order(f, 0, 0, idx, count_progress, &stop, &err), MB_ECANCELLED);
    assert_non_null(strstr(err.msg, "cancelled"));
    assert_int_equal(mb_frame_order(f, 3, 0, idx, NULL, NULL, &err), MB_EARG);
    free(idx);
    mb_frame_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numeric_random),
        cmocka_unit_test(test_categorical_by_text),
        cmocka_unit_test(test_progress_and_cancel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
