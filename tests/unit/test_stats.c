/*
** test_stats.c: unit tests for the column summaries of src/core/stats.c
** (mb_colstats_compute), checked against pandas.
**
** Unless a comment says otherwise, the expected figures were produced by
** pandas 1.5.3 / numpy 1.24.2 (/usr/bin/python3) as
**     pd.Series(np.array(v, dtype=np.float32).astype(np.float64)).describe()
** i.e. pandas on the float32 values widened to float64, since moonbench
** takes its moments in double precision.
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

#include "frame.h"
#include "stats.h"

/* {====== helpers ======} */

/* NAN and INFINITY are floats; the expected summaries are doubles. */
#define DNAN ((double)NAN)
#define DINF ((double)INFINITY)

/* The expected numeric summary of a column. */
typedef struct want_num {
    size_t count, missing, ninf;
    double mean, std, min, q25, q50, q75, max;
} want_num;

/* got == want, NaN matching NaN and infinities matching by sign; finite
** values within relative tolerance rtol (absolute when want is 0). */
static void check_close(const char *label, const char *field, double got, double want, double rtol)
{
    if (isnan(want)) {
        if (!isnan(got))
            fail_msg("%s: %s = %.17g, want NaN", label, field, got);
        return;
    }
    if (isinf(want) || rtol == 0.0) {
        if (!(got == want))
            fail_msg("%s: %s = %.17g, want %.17g", label, field, got, want);
        return;
    }
    double tol = rtol * (want != 0.0 ? fabs(want) : 1.0);
    if (!(fabs(got - want) <= tol))
        fail_msg("%s: %s = %.17g, want %.17g (rtol %g)", label, field, got, want, rtol);
}

static void check_num(const char *label, const mb_colstats *s, const want_num *w)
{
    if (s->count != w->count || s->missing != w->missing || s->ninf != w->ninf)
        fail_msg("%s: count/missing/ninf = %zu/%zu/%zu, want %zu/%zu/%zu", label, s->count,
                 s->missing, s->ninf, w->count, w->missing, w->ninf);
    /* A mean near 0 is the difference of large sums: measure its error
    ** against the spread of the data as well as against its size. */
    double mscale = isfinite(w->mean) && isfinite(w->std) && w->std > fabs(w->mean)
                        ? w->std / fabs(w->mean) : 1.0;
    check_close(label, "mean", s->mean, w->mean, 1e-13 * mscale);
    check_close(label, "std", s->std, w->std, 1e-12);
    /* min, max and the quartiles are order statistics or numpy's
    ** interpolation of them: exact. */
    check_close(label, "min", s->min, w->min, 0.0);
    check_close(label, "q25", s->q25, w->q25, 0.0);
    check_close(label, "q50", s->q50, w->q50, 0.0);
    check_close(label, "q75", s->q75, w->q75, 0.0);
    check_close(label, "max", s->max, w->max, 0.0);
    /* categorical fields of a numeric column are zero */
    assert_int_equal(s->distinct, 0);
    assert_int_equal(s->ntop, 0);
}

/* A frame holding one stride-1 numeric column with the n values v. */
static mb_frame *frame_of(const float *v, size_t n)
{
    mb_error err = {0};
    mb_frame *f = mb_frame_new(n);
    mb_column *c = mb_frame_add_num(f, "x", NULL, 0, &err);
    assert_non_null(c);
    assert_int_equal(c->stride, 1);
    for (size_t i = 0; i < n; i++)
        c->num[i] = v[i];
    return f;
}

/* Summarise the n values v and compare with w. */
static void run_num(const char *label, const float *v, size_t n, const want_num *w)
{
    mb_frame *f = frame_of(v, n);
    mb_colstats s;
    mb_error err = {0};
    assert_int_equal(mb_colstats_compute(f, &f->cols[0], &s, &err), MB_OK);
    check_num(label, &s, w);
    mb_frame_free(&f);
    assert_null(f);
}

static int cmp_float(const void *pa, const void *pb)
{
    float a = *(const float *)pa, b = *(const float *)pb;
    return (a > b) - (a < b);
}

/* Reference quantile p of the sorted n finite values a, spelled out as
** numpy.percentile(method="linear") does it: position p (n - 1), neighbours
** floor and floor + 1 (clipped), numpy's _lerp. */
static double ref_quantile(const float *sorted, size_t n, double p)
{
    double pos = p * (double)(n - 1);
    double fl = floor(pos), t = pos - fl;
    size_t lo = (size_t)fl, hi = lo + 1 < n ? lo + 1 : n - 1;
    double a = (double)sorted[lo], b = (double)sorted[hi], d = b - a;
    return t < 0.5 ? a + d * t : b - d * (1.0 - t);
}

/* Compare a summary's order statistics with a sort of the n finite
** values v (NaN-free). */
static void check_against_sort(const char *label, const float *v, size_t n, const mb_colstats *s)
{
    float *sorted = malloc(n * sizeof *sorted);
    assert_non_null(sorted);
    memcpy(sorted, v, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_float);
    assert_int_equal(s->count, n);
    check_close(label, "min", s->min, (double)sorted[0], 0.0);
    check_close(label, "q25", s->q25, ref_quantile(sorted, n, 0.25), 0.0);
    check_close(label, "q50", s->q50, ref_quantile(sorted, n, 0.50), 0.0);
    check_close(label, "q75", s->q75, ref_quantile(sorted, n, 0.75), 0.0);
    check_close(label, "max", s->max, (double)sorted[n - 1], 0.0);
    free(sorted);
}

/* The test's random numbers: a 64-bit LCG (Knuth's MMIX constants); the
** top 24 bits are returned, so they convert to float exactly. */
static uint32_t lcg_next(uint64_t *x)
{
    *x = *x * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(*x >> 40);
}

/* A uniform value in [-100, 100), computed exactly as the Python script
** quoted in test_large_strided computes it. */
static float lcg_uniform(uint64_t *x)
{
    return (float)((double)lcg_next(x) / 16777216.0 * 200.0 - 100.0);
}

/* }====== */

/* {====== numeric columns ======} */

static void test_basic(void **state)
{
    (void)state;
    /* pandas: [1,2,3,4] */
    const float v[] = {1, 2, 3, 4};
    const want_num w = {4, 0, 0, 2.5, 1.2909944487358056, 1.0, 1.75, 2.5, 3.25, 4.0};
    run_num("1,2,3,4", v, 4, &w);
}

static void test_nan_is_missing(void **state)
{
    (void)state;
    /* pandas: [nan, 2.5, -1, nan, 7, 0.5] */
    const float v[] = {NAN, 2.5f, -1.0f, NAN, 7.0f, 0.5f};
    const want_num w = {4, 2, 0, 2.25, 3.476108935769035, -1.0, 0.125, 1.5, 3.625, 7.0};
    run_num("with NaN", v, 6, &w);
}

static void test_single_value(void **state)
{
    (void)state;
    /* pandas: [3.5] -> std NaN (ddof = 1), every quantile 3.5 */
    const float v[] = {NAN, 3.5f, NAN};
    const want_num w = {1, 2, 0, 3.5, DNAN, 3.5, 3.5, 3.5, 3.5, 3.5};
    run_num("single", v, 3, &w);
}

static void test_all_nan(void **state)
{
    (void)state;
    /* pandas: [nan, nan, nan] -> count 0, everything else NaN */
    const float v[] = {NAN, NAN, NAN};
    const want_num w = {0, 3, 0, DNAN, DNAN, DNAN, DNAN, DNAN, DNAN, DNAN};
    run_num("all NaN", v, 3, &w);
}

static void test_numpy_lerp(void **state)
{
    (void)state;
    /* Two values of very different size, so b - a rounds and numpy's two
    ** interpolation forms differ: from t = 0.5 on numpy takes
    ** b - (b - a)(1 - t), and a + (b - a) t would end one ulp away in q75.
    ** pandas: [-0x1.41eddep-93, -0x1.ccc386p-40] (found by a random search
    ** for a pair where the forms disagree). */
    const float v[] = {-0x1.41eddep-93f, -0x1.ccc386p-40f};
    const want_num w = {2,
                        0,
                        0,
                        -8.184808625126551e-13,
                        1.1575067363082251e-12,
                        -1.63696172502531e-12,
                        -1.2277212937689824e-12,
                        -8.18480862512655e-13,
                        -4.092404312563276e-13,
                        -1.2697866771932713e-28};
    run_num("numpy lerp", v, 2, &w);
}

static void test_large_mean(void **state)
{
    (void)state;
    /* pandas: [1e7+1, 1e7+2, 1e7+3, 1e7+4] (exact in float32): the spread is
    ** tiny against the mean, the case the corrected two-pass formula is for
    ** (sum x^2 - n mean^2 would cancel 14 of the 16 digits). */
    const float v[] = {10000001.0f, 10000002.0f, 10000003.0f, 10000004.0f};
    const want_num w = {4,          0,           0,          10000002.5,  1.2909944487358056,
                        10000001.0, 10000001.75, 10000002.5, 10000003.25, 10000004.0};
    run_num("large mean", v, 4, &w);
}

static void test_inf(void **state)
{
    (void)state;
    /* pandas: [1, 2, inf] -> count 3, mean inf, std NaN, min 1, q25 1.5,
    ** max inf. pandas gives q50 = q75 = NaN (numpy's lerp computes
    ** 2 + (inf - 2) * 0 and inf - inf); moonbench returns the order
    ** statistic 2 at the integral position 1, and inf between 2 and inf
    ** (see the DESIGN note of stats.c). */
    const float v1[] = {1.0f, INFINITY, 2.0f};
    const want_num w1 = {3, 0, 1, DINF, DNAN, 1.0, 1.5, 2.0, DINF, DINF};
    run_num("1,inf,2", v1, 3, &w1);

    /* pandas: [-inf, 1, inf] -> mean NaN (inf - inf), std NaN, min -inf,
    ** q25 -inf, max inf; q50 = 1 and q75 = inf by the rule above (pandas:
    ** NaN, NaN). */
    const float v2[] = {INFINITY, NAN, 1.0f, -INFINITY};
    const want_num w2 = {3, 1, 2, DNAN, DNAN, -DINF, -DINF, 1.0, DINF, DINF};
    run_num("-inf,1,inf", v2, 4, &w2);

    /* By the same rule: all +inf (pandas: mean inf, std NaN, min/max inf,
    ** quartiles NaN). */
    const float v3[] = {INFINITY, INFINITY, INFINITY};
    const want_num w3 = {3, 0, 3, DINF, DNAN, DINF, DINF, DINF, DINF, DINF};
    run_num("inf,inf,inf", v3, 3, &w3);

    /* One -inf among finite values, where pandas and moonbench agree:
    ** pandas: [3, 1, -inf, 4, 2] -> mean -inf, std NaN, min -inf, q25 1
    ** (sorted -inf,1,2,3,4: position 1), q50 2, q75 3, max 4. */
    const float v4[] = {3.0f, 1.0f, -INFINITY, 4.0f, 2.0f};
    const want_num w4 = {5, 0, 1, -DINF, DNAN, -DINF, 1.0, 2.0, 3.0, 4.0};
    run_num("-inf,1..4", v4, 5, &w4);
}

static void test_strided(void **state)
{
    (void)state;
    /* A 5 x 3 row-major block, as /X is read from HDF5; each column views
    ** it with stride 3. pandas on the columns of
    **   [[1, 10, -2], [2, nan, -4], [3, 30, nan], [4, 40, -8], [5, 50, -16.5]]
    ** gives the figures below. */
    static const float rows[5][3] = {
        {1, 10, -2}, {2, NAN, -4}, {3, 30, NAN}, {4, 40, -8}, {5, 50, -16.5f}};
    const want_num w[3] = {
        {5, 0, 0, 3.0, 1.5811388300841898, 1.0, 2.0, 3.0, 4.0, 5.0},
        {4, 1, 0, 32.5, 17.07825127659933, 10.0, 25.0, 35.0, 42.5, 50.0},
        {4, 1, 0, -7.625, 6.42099421169858, -16.5, -10.125, -6.0, -3.5, -2.0},
    };
    mb_error err = {0};
    mb_frame *f = mb_frame_new(5);
    float *block = mb_malloc(sizeof rows);
    memcpy(block, rows, sizeof rows);
    mb_frame_adopt_block(f, block);
    static const char *const names[3] = {"a", "b", "c"};
    for (size_t j = 0; j < 3; j++)
        assert_non_null(mb_frame_add_num(f, names[j], block + j, 3, &err));
    for (size_t j = 0; j < 3; j++) {
        mb_colstats s;
        assert_int_equal(mb_colstats_compute(f, &f->cols[j], &s, &err), MB_OK);
        check_num(names[j], &s, &w[j]);
    }
    /* The block is untouched: the summary works on a copy. */
    assert_memory_equal(block, rows, sizeof rows);
    mb_frame_free(&f);
}

static void test_large_strided(void **state)
{
    (void)state;
    /* 100000 rows x 2 columns, row-major. Column 0 is uniform on
    ** [-100, 100); pandas on the same numbers, made by
    **   M = 2**64 - 1; x = 42
    **   for _ in range(100000):
    **       x = (x * 6364136223846793005 + 1442695040888963407) & M
    **       v.append(np.float32(((x >> 40) / 16777216.0) * 200.0 - 100.0))
    ** gives the figures in w (the first two values are 13.6460542678833
    ** and -54.90732192993164). Column 1 takes 7 distinct values, so the
    ** selection meets long runs of equal keys. */
    enum { N = 100000 };
    const want_num w = {N,
                        0,
                        0,
                        -0.12119705850124358,
                        57.80966014510131,
                        -99.99677276611328,
                        -50.11904525756836,
                        -0.08677840232849121,
                        49.918264389038086,
                        99.99425506591797};
    mb_error err = {0};
    mb_frame *f = mb_frame_new(N);
    float *block = mb_malloc(2 * N * sizeof *block);
    mb_frame_adopt_block(f, block);
    float *col0 = malloc(N * sizeof *col0), *col1 = malloc(N * sizeof *col1);
    assert_non_null(col0);
    assert_non_null(col1);
    uint64_t x = 42, y = 7;
    for (size_t i = 0; i < N; i++) {
        col0[i] = block[2 * i] = lcg_uniform(&x);
        col1[i] = block[2 * i + 1] = (float)(lcg_next(&y) % 7) - 3.0f;
    }
    assert_true(col0[0] == 13.6460542678833f && col0[1] == -54.90732192993164f);
    assert_non_null(mb_frame_add_num(f, "u", block, 2, &err));
    assert_non_null(mb_frame_add_num(f, "k", block + 1, 2, &err));

    mb_colstats s;
    assert_int_equal(mb_colstats_compute(f, &f->cols[0], &s, &err), MB_OK);
    check_num("uniform 100k", &s, &w);
    check_against_sort("uniform 100k", col0, N, &s);
    assert_int_equal(mb_colstats_compute(f, &f->cols[1], &s, &err), MB_OK);
    check_against_sort("7 values 100k", col1, N, &s);
    free(col0);
    free(col1);
    mb_frame_free(&f);
}

/* Shapes that trouble a selection algorithm, at sizes around every
** boundary of the quartile positions (1..70), around the size where
** stats.c starts sampling (600) and up to 100k. Expected: the order
** statistics of a qsort of the same values (ref_quantile). */
static void test_selection_shapes(void **state)
{
    (void)state;
    enum { BIG = 100000, NSHAPES = 8 };
    static const size_t sizes[] = {600, 601, 602, 603, 604, 1000, 4097, 33333, BIG};
    enum { NSIZES = sizeof sizes / sizeof sizes[0] };
    static const char *const shape_name[NSHAPES] = {
        "random", "few values", "ascending", "descending", "constant",
        "organ pipe", "sawtooth", "alternating"};
    float *v = malloc(BIG * sizeof *v);
    assert_non_null(v);
    uint64_t x = 12345;
    for (int shape = 0; shape < NSHAPES; shape++) {
        for (size_t step = 0; step < 70 + NSIZES; step++) {
            size_t n = step < 70 ? step + 1 : sizes[step - 70];
            for (size_t i = 0; i < n; i++) {
                switch (shape) {
                case 0: v[i] = lcg_uniform(&x); break;
                case 1: v[i] = (float)(lcg_next(&x) % 3); break;
                case 2: v[i] = (float)i; break;
                case 3: v[i] = (float)(n - i); break;
                case 4: v[i] = 2.5f; break;
                case 5: v[i] = (float)(i < n / 2 ? i : n - i); break;
                case 6: v[i] = (float)(i % 17); break;
                default: v[i] = (i & 1) ? -1.0f : (float)i; break;
                }
            }
            char label[64];
            snprintf(label, sizeof label, "%s n=%zu", shape_name[shape], n);
            mb_frame *f = frame_of(v, n);
            mb_colstats s;
            mb_error err = {0};
            assert_int_equal(mb_colstats_compute(f, &f->cols[0], &s, &err), MB_OK);
            check_against_sort(label, v, n, &s);
            mb_frame_free(&f);
        }
    }
    free(v);
}

/* }====== */

/* {====== categorical columns ======} */

static void test_categorical(void **state)
{
    (void)state;
    /* Levels a..h; c and h never occur. pandas:
    **   pd.Categorical.from_codes([1,3,1,-1,3,0,4,5,6,-1,0],
    **                             categories=list("abcdefgh"))
    ** value_counts(): a 2, b 2, d 2, e 1, f 1, g 1, c 0, h 0. So count 9,
    ** missing 2, distinct 6, and the top five by count, ties by code:
    ** a, b, d, e, f (g ties with e and f but has the highest code). */
    static const int32_t codes[] = {1, 3, 1, -1, 3, 0, 4, 5, 6, -1, 0};
    enum { N = sizeof codes / sizeof codes[0] };
    mb_error err = {0};
    mb_frame *f = mb_frame_new(N);
    mb_column *c = mb_frame_add_cat(f, "letter", &err);
    assert_non_null(c);
    for (char l = 'a'; l <= 'h'; l++)
        assert_int_equal(mb_column_add_level(c, &l, 1), l - 'a');
    memcpy(c->codes, codes, sizeof codes);

    mb_colstats s;
    assert_int_equal(mb_colstats_compute(f, c, &s, &err), MB_OK);
    assert_int_equal(s.count, 9);
    assert_int_equal(s.missing, 2);
    assert_int_equal(s.distinct, 6);
    assert_int_equal(s.ntop, MB_STATS_TOP);
    static const int32_t top_code[MB_STATS_TOP] = {0, 1, 3, 4, 5};
    static const size_t top_count[MB_STATS_TOP] = {2, 2, 2, 1, 1};
    for (size_t k = 0; k < MB_STATS_TOP; k++) {
        assert_int_equal(s.top[k].code, top_code[k]);
        assert_int_equal(s.top[k].count, top_count[k]);
    }
    /* numeric fields of a categorical column are NaN */
    assert_true(isnan(s.mean) && isnan(s.std) && isnan(s.min) && isnan(s.q25) &&
                isnan(s.q50) && isnan(s.q75) && isnan(s.max));
    assert_int_equal(s.ninf, 0);
    mb_frame_free(&f);
}

static void test_categorical_order(void **state)
{
    (void)state;
    /* Worked by hand: counts by code 0..3 are 1, 3, 3, 5 (code 3 most
    ** frequent, then the tie 1/2 in code order, then 0); fewer used levels
    ** than MB_STATS_TOP, so ntop = distinct = 4. */
    static const int32_t codes[] = {3, 2, 1, 3, 0, 2, 3, 1, 3, 2, 1, 3};
    enum { N = sizeof codes / sizeof codes[0] };
    mb_error err = {0};
    mb_frame *f = mb_frame_new(N);
    mb_column *c = mb_frame_add_cat(f, "k", &err);
    assert_non_null(c);
    for (int i = 0; i < 4; i++) {
        char name[2] = {(char)('w' + i), 0};
        assert_int_equal(mb_column_add_level(c, name, 1), i);
    }
    memcpy(c->codes, codes, sizeof codes);
    mb_colstats s;
    assert_int_equal(mb_colstats_compute(f, c, &s, &err), MB_OK);
    assert_int_equal(s.count, N);
    assert_int_equal(s.missing, 0);
    assert_int_equal(s.distinct, 4);
    assert_int_equal(s.ntop, 4);
    static const int32_t top_code[4] = {3, 1, 2, 0};
    static const size_t top_count[4] = {5, 3, 3, 1};
    for (size_t k = 0; k < 4; k++) {
        assert_int_equal(s.top[k].code, top_code[k]);
        assert_int_equal(s.top[k].count, top_count[k]);
    }
    mb_frame_free(&f);
}

static void test_categorical_all_missing(void **state)
{
    (void)state;
    /* A new categorical column is all -1 and has no levels: count 0. */
    mb_error err = {0};
    mb_frame *f = mb_frame_new(4);
    mb_column *c = mb_frame_add_cat(f, "empty", &err);
    assert_non_null(c);
    mb_colstats s;
    assert_int_equal(mb_colstats_compute(f, c, &s, &err), MB_OK);
    assert_int_equal(s.count, 0);
    assert_int_equal(s.missing, 4);
    assert_int_equal(s.distinct, 0);
    assert_int_equal(s.ntop, 0);
    assert_true(isnan(s.mean) && isnan(s.max));
    mb_frame_free(&f);
}

static void test_categorical_bad_code(void **state)
{
    (void)state;
    /* A code past the last level is reported, not read out of bounds. */
    mb_error err = {0};
    mb_frame *f = mb_frame_new(3);
    mb_column *c = mb_frame_add_cat(f, "broken", &err);
    assert_non_null(c);
    assert_int_equal(mb_column_add_level(c, "x", 1), 0);
    c->codes[0] = 0;
    c->codes[1] = 1;
    mb_colstats s;
    assert_int_equal(mb_colstats_compute(f, c, &s, &err), MB_EFORMAT);
    assert_int_equal(err.code, MB_EFORMAT);
    assert_non_null(strstr(err.msg, "broken"));
    assert_int_equal(s.count, 0);
    assert_int_equal(s.ntop, 0);
    mb_frame_free(&f);
}

/* }====== */

/* {====== empty frames and failures ======} */

static void test_zero_rows(void **state)
{
    (void)state;
    /* pandas: pd.Series([], dtype="float64").describe() -> count 0, the
    ** rest NaN; a categorical column: count 0, no top. */
    mb_error err = {0};
    mb_frame *f = mb_frame_new(0);
    assert_non_null(mb_frame_add_num(f, "x", NULL, 0, &err));
    mb_column *c = mb_frame_add_cat(f, "y", &err);
    assert_non_null(c);
    assert_int_equal(mb_column_add_level(c, "unused", 6), 0);
    mb_colstats s;
    const want_num w = {0, 0, 0, DNAN, DNAN, DNAN, DNAN, DNAN, DNAN, DNAN};
    assert_int_equal(mb_colstats_compute(f, &f->cols[0], &s, &err), MB_OK);
    check_num("zero rows", &s, &w);
    assert_int_equal(mb_colstats_compute(f, &f->cols[1], &s, &err), MB_OK);
    assert_int_equal(s.count, 0);
    assert_int_equal(s.missing, 0);
    assert_int_equal(s.distinct, 0);
    assert_int_equal(s.ntop, 0);
    assert_true(isnan(s.mean) && isnan(s.q50));
    mb_frame_free(&f);
}

/* An allocator that fails every request (installed only around the call
** under test, after the frame is built). */
static void *fail_malloc(size_t n)
{
    (void)n;
    return NULL;
}
static void *fail_realloc(void *p, size_t n)
{
    (void)p;
    (void)n;
    return NULL;
}

static void test_out_of_memory(void **state)
{
    (void)state;
    const float v[] = {1, 2, 3};
    mb_frame *f = frame_of(v, 3);
    mb_column *c = mb_frame_add_cat(f, "cat", NULL);
    assert_non_null(c);
    assert_int_equal(mb_column_add_level(c, "z", 1), 0);
    const mb_allocator failing = {fail_malloc, fail_realloc, free};
    for (size_t j = 0; j < 2; j++) {
        mb_error err = {0};
        mb_colstats s;
        mb_set_allocator(&failing);
        mb_status rc = mb_colstats_compute(f, &f->cols[j], &s, &err);
        mb_set_allocator(NULL);
        assert_int_equal(rc, MB_ENOMEM);
        assert_int_equal(err.code, MB_ENOMEM);
        assert_non_null(strstr(err.msg, f->cols[j].name));
        /* no partial summary is left behind */
        assert_int_equal(s.count, 0);
        assert_true(isnan(s.mean));
        /* and a NULL error record is allowed */
        mb_set_allocator(&failing);
        rc = mb_colstats_compute(f, &f->cols[j], &s, NULL);
        mb_set_allocator(NULL);
        assert_int_equal(rc, MB_ENOMEM);
    }
    mb_frame_free(&f);
}

/* }====== */

static int cmp_f(const void *pa, const void *pb)
{
    float a = *(const float *)pa, b = *(const float *)pb;
    return (a > b) - (a < b);
}

/* mb_sort_floats against qsort: random values of every sign and scale,
** duplicates, infinities, signed zeros (which compare equal; the radix
** order puts -0 first), denormals; lengths 0, 1 and up to 5000. */
static void test_sort_floats(void **state)
{
    (void)state;
    enum { N = 5000 };
    float *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b);
    uint32_t *scratch = malloc(2 * N * sizeof *scratch);
    uint64_t r = 88172645463325252ull;
    const size_t lens[] = {0, 1, 2, 255, 256, 257, 4096, N};
    for (size_t t = 0; t < sizeof lens / sizeof *lens; t++) {
        size_t n = lens[t];
        for (size_t i = 0; i < n; i++) {
            r ^= r << 13, r ^= r >> 7, r ^= r << 17;
            uint32_t u = (uint32_t)(r >> 32);
            float v;
            switch (r % 8) {
            case 0: v = (float)(int)(u % 7) - 3.0f; break;         /* duplicates */
            case 1: v = (u & 1) ? 0.0f : -0.0f; break;              /* signed zeros */
            case 2: v = (u & 1) ? INFINITY : -INFINITY; break;
            case 3: v = (float)(u & 0x7fffff) * 1.4e-45f * ((u >> 31) ? -1.0f : 1.0f); break; /* denormals */
            default: memcpy(&v, &u, sizeof v); if (isnan(v)) v = 1.5f; break; /* any bits */
            }
            a[i] = b[i] = v;
        }
        mb_sort_floats(a, scratch, n);
        qsort(b, n, sizeof *b, cmp_f);
        for (size_t i = 0; i < n; i++) {
            assert_true(a[i] == b[i]);
            if (i) /* no -0 after a +0 */
                assert_false(a[i - 1] == 0.0f && a[i] == 0.0f && !signbit(a[i - 1]) && signbit(a[i]));
        }
    }
    free(a);
    free(b);
    free(scratch);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_nan_is_missing),
        cmocka_unit_test(test_single_value),
        cmocka_unit_test(test_all_nan),
        cmocka_unit_test(test_numpy_lerp),
        cmocka_unit_test(test_large_mean),
        cmocka_unit_test(test_inf),
        cmocka_unit_test(test_strided),
        cmocka_unit_test(test_large_strided),
        cmocka_unit_test(test_selection_shapes),
        cmocka_unit_test(test_categorical),
        cmocka_unit_test(test_categorical_order),
        cmocka_unit_test(test_categorical_all_missing),
        cmocka_unit_test(test_categorical_bad_code),
        cmocka_unit_test(test_zero_rows),
        cmocka_unit_test(test_sort_floats),
        cmocka_unit_test(test_out_of_memory),
    };
    return cmocka_run_group_tests_name("stats", tests, NULL, NULL);
}
