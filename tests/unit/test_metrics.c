/*
** test_metrics.c: unit tests for src/core/metrics.c's ranking sort and ROC
** AUC: mb_scored_sort against qsort with ties broken by position (the
** order any stable sort gives), on ties, -0 and +0, infinities and
** denormals, both directions, sizes on both sides of the insertion-sort
** cut-off; mb_roc_auc against the qsort version it replaced (exactly) and
** the pair-count definition of the AUC.
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

#include "metrics.h"
#include "rng.h"

#define DNAN ((double)NAN)
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* got within relative tolerance rtol of want (NaN matching NaN). */
static void check_close(const char *what, double got, double want, double rtol)
{
    if (isnan(want)) {
        if (!isnan(got))
            fail_msg("%s = %.17g, want NaN", what, got);
        return;
    }
    double tol = rtol * (want != 0.0 ? fabs(want) : 1.0);
    if (!(fabs(got - want) <= tol))
        fail_msg("%s = %.17g, want %.17g (rtol %g)", what, got, want, rtol);
}

/* {====== the ranking sort ======} */

/* The oracle: qsort with ties broken by the original position, which is
** the order any stable sort must give. */
typedef struct ranked_ref {
    float s, y;
    size_t at;
} ranked_ref;

static int cmp_ref_up(const void *a, const void *b)
{
    const ranked_ref *p = a, *q = b;
    int c = (p->s > q->s) - (p->s < q->s);
    return c ? c : (p->at > q->at) - (p->at < q->at);
}

static int cmp_ref_down(const void *a, const void *b)
{
    const ranked_ref *p = a, *q = b;
    int c = (p->s < q->s) - (p->s > q->s);
    return c ? c : (p->at > q->at) - (p->at < q->at);
}

/* Scores of kind 0: 1/64 steps in [0, 1] (ties everywhere), 1: any float
** in [-2, 2], 2: both with -0, +0, infinities and large magnitudes. */
static float random_score(mb_rng *r, int kind)
{
    double u = (double)(mb_rng_next(r) >> 11) / 9007199254740992.0;
    if (kind == 0)
        return (float)((int)(u * 65) / 64.0);
    if (kind == 1 || mb_rng_next(r) % 4)
        return (float)(4 * u - 2);
    static const float odd[] = {0.0f, -0.0f, INFINITY, -INFINITY, 3e38f, -3e38f, 1e-40f, -1e-40f, 1.0f};
    return odd[mb_rng_next(r) % (sizeof odd / sizeof odd[0])];
}

static void test_scored_sort(void **state)
{
    (void)state;
    mb_rng r;
    mb_rng_seed(&r, 11);
    const size_t sizes[] = {0, 1, 2, 5, 31, 32, 33, 100, 1000, 70000};
    for (size_t si = 0; si < ARRAY_LEN(sizes); si++)
        for (int kind = 0; kind < 3; kind++)
            for (int desc = 0; desc < 2; desc++) {
                size_t n = sizes[si];
                mb_scored *v = malloc((n ? n : 1) * sizeof *v);
                ranked_ref *ref = malloc((n ? n : 1) * sizeof *ref);
                for (size_t i = 0; i < n; i++) {
                    v[i] = (mb_scored){random_score(&r, kind), (float)(mb_rng_next(&r) % 2)};
                    ref[i] = (ranked_ref){v[i].s, (float)i, i};
                    v[i].y = (float)i; /* the payload: where the row came from */
                }
                qsort(ref, n, sizeof *ref, desc ? cmp_ref_down : cmp_ref_up);
                mb_scored_sort(v, n, desc);
                for (size_t i = 0; i < n; i++) {
                    if (memcmp(&v[i].s, &ref[i].s, sizeof v[i].s) != 0 || v[i].y != ref[i].y)
                        fail_msg("n %zu kind %d desc %d: entry %zu is %g (row %g), want %g (row %g)", n, kind, desc,
                                 i, (double)v[i].s, (double)v[i].y, (double)ref[i].s, (double)ref[i].y);
                }
                free(v);
                free(ref);
            }
}

/* mb_roc_auc as it was before the radix sort (qsort of the pairs). */
typedef struct old_scored {
    float s, y;
} old_scored;

static int cmp_old(const void *a, const void *b)
{
    float x = ((const old_scored *)a)->s, z = ((const old_scored *)b)->s;
    return (x > z) - (x < z);
}

static double old_roc_auc(const float *y, const float *score, size_t n)
{
    old_scored *v = malloc((n ? n : 1) * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = (old_scored){score[i], y[i]};
    qsort(v, n, sizeof *v, cmp_old);
    double rank_sum = 0;
    size_t npos = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && v[j].s == v[i].s)
            j++;
        double mean_rank = ((double)i + (double)j + 1) / 2;
        for (size_t k = i; k < j; k++)
            if (v[k].y == 1) {
                rank_sum += mean_rank;
                npos++;
            }
        i = j;
    }
    free(v);
    size_t nneg = n - npos;
    if (!npos || !nneg)
        return DNAN;
    return (rank_sum - (double)npos * ((double)npos + 1) / 2) / ((double)npos * (double)nneg);
}

static void test_roc_auc_sorted(void **state)
{
    (void)state;
    mb_rng r;
    mb_rng_seed(&r, 5);
    const size_t sizes[] = {3, 20, 33, 500, 100000};
    for (size_t si = 0; si < ARRAY_LEN(sizes); si++)
        for (int kind = 0; kind < 3; kind++) {
            size_t n = sizes[si], npos = 0;
            float *y = malloc(n * sizeof *y), *s = malloc(n * sizeof *s);
            for (size_t i = 0; i < n; i++) {
                s[i] = random_score(&r, kind);
                y[i] = (float)(mb_rng_next(&r) % 3 == 0);
                npos += y[i] == 1;
            }
            double got = mb_roc_auc(y, s, n), want = old_roc_auc(y, s, n);
            if (!(got == want || (isnan(got) && isnan(want))))
                fail_msg("n %zu kind %d: AUC %.17g, the qsort version %.17g", n, kind, got, want);
            /* and the definition, pair by pair, where that is cheap */
            if (n <= 500 && npos && npos < n) {
                double wins = 0;
                for (size_t i = 0; i < n; i++)
                    for (size_t j = 0; j < n; j++)
                        if (y[i] == 1 && y[j] != 1)
                            wins += s[i] > s[j] ? 1 : s[i] == s[j] ? 0.5 : 0;
                check_close("AUC by pairs", got, wins / ((double)npos * (double)(n - npos)), 1e-12);
            }
            free(y);
            free(s);
        }
}

/* }====== */

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scored_sort),
        cmocka_unit_test(test_roc_auc_sorted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
