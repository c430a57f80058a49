/*
** test_runtime.c: the deployment runtime (src/deploy/runtime.h) and drift
** (src/deploy/drift.h). Bundles are fitted with the Lua layer on credit_g
** (categorical and numeric columns) with transforms, then: the one-row
** entry equals the frame path bit for bit; column order does not matter;
** threads sharing one runtime give the single-thread results, and so does
** a frame scored on a pool of 1, 2 or 3 threads; a row
** allocates nothing; the bundle's threshold round-trips; drift counts
** equal a hand computation, merge, and the sliding window equals a batch
** count of its rows. A bundle without steps on breast_cancer's number
** columns (the frame path copies them as they are, or scores them in
** place when they are one row-major block): its features and scores
** equal the row path's, NaN and infinities included.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "drift.h"
#include "frameops.h"
#include "io.h"
#include "runtime.h"
#include "runtime_pool.h"

int luaopen_moonbench(lua_State *L);

static char dir[256];
static mb_frame *credit;
static const char *const kinds[] = {"lin", "gbdt", "mlp"};

static void bundle_path(char *buf, size_t n, const char *kind) { snprintf(buf, n, "%s/%s.h5", dir, kind); }

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/mb_test_runtime_XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    luaL_requiref(L, "moonbench", luaopen_moonbench, 0);
    lua_pop(L, 1);
    char code[2048];
    snprintf(code, sizeof code,
             "local mb = require 'moonbench'\n"
             "local f = mb.open('datasets/csv/credit_g.csv')\n"
             "f:set_target('class')\n"
             "mb.pipeline{ mb.impute{strategy = 'most_frequent'}, mb.onehot(), mb.standardize(), mb.model('linear') }:fit(f):save('%s/lin.h5')\n"
             "mb.pipeline{ mb.ordinal(), mb.model('gbdt', {n_trees = 20}) }:fit(f):save('%s/gbdt.h5')\n"
             "mb.pipeline{ mb.onehot(), mb.minmax(), mb.model('mlp', {epochs = 5, hidden_layers = '8'}) }:fit(f):save('%s/mlp.h5')\n"
             "local g = mb.open('datasets/csv/breast_cancer.csv')\n"
             "g:set_target('target')\n"
             "mb.pipeline{ mb.model('gbdt', {n_trees = 5}) }:fit(g):save('%s/plain.h5')\n",
             dir, dir, dir, dir);
    int rc = luaL_dostring(L, code);
    if (rc != LUA_OK)
        fprintf(stderr, "setup: %s\n", lua_tostring(L, -1));
    lua_close(L);
    mb_error err;
    if (rc != LUA_OK || mb_open("datasets/csv/credit_g.csv", &credit, &err) != MB_OK)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    mb_frame_free(&credit);
    for (size_t i = 0; i < 3; i++) {
        char p[300];
        bundle_path(p, sizeof p, kinds[i]);
        unlink(p);
    }
    char p[300];
    snprintf(p, sizeof p, "%s/thr.h5", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/plain.h5", dir);
    unlink(p);
    rmdir(dir);
    return 0;
}

static mb_runtime *open_kind(const char *kind)
{
    char p[300];
    bundle_path(p, sizeof p, kind);
    mb_runtime *rt = NULL;
    mb_error err;
    if (mb_runtime_open(p, NULL, &rt, &err) != MB_OK)
        fail_msg("%s: %s", p, err.msg);
    assert_int_equal(mb_runtime_path(rt), MB_RUNTIME_PORTABLE);
    return rt;
}

/* Row r of f into the context, every input by name. */
static void set_row(mb_runtime_row_ctx *c, const mb_runtime *rt, const mb_frame *f, size_t r)
{
    mb_error err;
    mb_runtime_row_reset(c);
    for (size_t i = 0; i < mb_runtime_ninputs(rt); i++) {
        long j = mb_frame_find(f, mb_runtime_input(rt, i));
        assert_true(j >= 0);
        const mb_column *col = &f->cols[j];
        mb_status rc = col->type == MB_COL_NUM ? mb_runtime_row_set_number(c, i, (double)MB_NUM(col, r), &err)
                                               : mb_runtime_row_set_text(c, i, col->codes[r] >= 0 ? col->levels[col->codes[r]] : NULL, &err);
        assert_int_equal(rc, MB_OK);
    }
}

static void frame_scores(const mb_runtime *rt, const mb_frame *f, float **label, float **proba)
{
    size_t n = f->nrows, k = mb_runtime_nclasses(rt);
    *label = mb_malloc(n * sizeof **label);
    *proba = mb_malloc(n * k * sizeof **proba);
    mb_error err;
    if (mb_runtime_score_frame(rt, f, *label, *proba, NULL, NULL, NULL, &err) != MB_OK)
        fail_msg("%s", err.msg);
}

static void test_row_equals_frame(void **state)
{
    (void)state;
    for (size_t b = 0; b < 3; b++) {
        mb_runtime *rt = open_kind(kinds[b]);
        float *label, *proba;
        frame_scores(rt, credit, &label, &proba);
        size_t k = mb_runtime_nclasses(rt);
        assert_int_equal(k, 2);
        mb_runtime_row_ctx *c = mb_runtime_row_ctx_new(rt);
        mb_error err;
        for (size_t r = 0; r < credit->nrows; r++) {
            set_row(c, rt, credit, r);
            mb_prediction p;
            assert_int_equal(mb_runtime_row_predict(c, &p, &err), MB_OK);
            assert_int_equal(p.label, (long)label[r]);
            assert_string_equal(p.class_name, mb_runtime_class(rt, (size_t)label[r]));
            for (size_t j = 0; j < k; j++)
                assert_memory_equal(&p.proba[j], &proba[r * k + j], sizeof(float));
        }
        mb_runtime_row_ctx_free(&c);
        /* and the core's scorer, whose transforms are transform.c's on whole frames */
        mb_scorer sc;
        float *l2 = mb_malloc(credit->nrows * sizeof *l2), *p2 = mb_malloc(credit->nrows * k * sizeof *p2);
        assert_int_equal(mb_scorer_open(&sc, mb_runtime_bundle(rt), NULL, &err), MB_OK);
        assert_int_equal(mb_scorer_predict_frame(&sc, credit, l2, p2, &err), MB_OK);
        assert_memory_equal(l2, label, credit->nrows * sizeof *l2);
        assert_memory_equal(p2, proba, credit->nrows * k * sizeof *p2);
        mb_scorer_close(&sc);
        mb_free(l2);
        mb_free(p2);
        mb_free(label);
        mb_free(proba);
        mb_runtime_close(&rt);
    }
}

static void test_columns_by_name(void **state)
{
    (void)state;
    mb_runtime *rt = open_kind("lin");
    /* the columns reversed, the target dropped, and an extra column */
    size_t n = credit->ncols;
    const char **names = mb_calloc(n, sizeof *names);
    size_t m = 0;
    for (size_t j = n; j-- > 0;)
        if ((long)j != credit->target)
            names[m++] = credit->cols[j].name;
    mb_frame *rev = NULL, *extra = NULL;
    mb_error err;
    assert_int_equal(mb_frame_select(credit, names, m, 1, &rev, &err), MB_OK);
    rev->target = -1;
    float *col = mb_malloc(rev->nrows * sizeof *col);
    for (size_t i = 0; i < rev->nrows; i++)
        col[i] = (float)i;
    assert_int_equal(mb_frame_with_column(rev, "not an input", col, NULL, NULL, 0, &extra, &err), MB_OK);
    float *l1, *p1, *l2, *p2;
    frame_scores(rt, credit, &l1, &p1);
    frame_scores(rt, extra, &l2, &p2);
    assert_memory_equal(l1, l2, credit->nrows * sizeof *l1);
    assert_memory_equal(p1, p2, credit->nrows * 2 * sizeof *p1);
    /* a missing input is an error naming it */
    mb_frame *less = NULL;
    const char *drop[] = {"age"};
    assert_int_equal(mb_frame_select(credit, drop, 1, 0, &less, &err), MB_OK);
    assert_int_equal(mb_runtime_score_frame(rt, less, l2, p2, NULL, NULL, NULL, &err), MB_ENOTFOUND);
    assert_non_null(strstr(err.msg, "no column 'age'"));
    /* rows: an unset input too */
    mb_runtime_row_ctx *c = mb_runtime_row_ctx_new(rt);
    mb_runtime_row_reset(c);
    mb_prediction p;
    assert_int_equal(mb_runtime_row_predict(c, &p, &err), MB_ENOTFOUND);
    assert_non_null(strstr(err.msg, "the row has no value for column 'checking_status'"));
    /* a number where text is expected and text that is no number */
    assert_int_equal(mb_runtime_row_set_text(c, (size_t)mb_runtime_input_find(rt, "age"), "old", &err), MB_ETYPE);
    assert_non_null(strstr(err.msg, "column 'age': 'old' is not a number"));
    assert_int_equal(mb_runtime_input_find(rt, "class"), -1);
    mb_runtime_row_ctx_free(&c);
    mb_frame_free(&rev);
    mb_frame_free(&extra);
    mb_frame_free(&less);
    mb_free(names);
    mb_free(col);
    mb_free(l1);
    mb_free(p1);
    mb_free(l2);
    mb_free(p2);
    mb_runtime_close(&rt);
}

/* {====== threads ======} */

typedef struct job {
    const mb_runtime *rt;
    size_t start;
    float *label, *proba;
    int bad;
} job;

static void *score_rows(void *ud)
{
    job *j = ud;
    mb_runtime_row_ctx *c = mb_runtime_row_ctx_new(j->rt);
    mb_error err;
    for (size_t n = 0; n < credit->nrows; n++) {
        size_t r = (j->start + n) % credit->nrows; /* each thread in another order */
        mb_runtime_row_reset(c);
        for (size_t i = 0; i < mb_runtime_ninputs(j->rt); i++) {
            const mb_column *col = &credit->cols[mb_frame_find(credit, mb_runtime_input(j->rt, i))];
            if (col->type == MB_COL_NUM)
                mb_runtime_row_set_number(c, i, (double)MB_NUM(col, r), &err);
            else
                mb_runtime_row_set_text(c, i, col->codes[r] >= 0 ? col->levels[col->codes[r]] : NULL, &err);
        }
        mb_prediction p;
        if (mb_runtime_row_predict(c, &p, &err) != MB_OK) {
            j->bad = 1;
            break;
        }
        j->label[r] = (float)p.label;
        memcpy(j->proba + 2 * r, p.proba, 2 * sizeof(float));
    }
    mb_runtime_row_ctx_free(&c);
    return NULL;
}

static void test_threads_share_a_runtime(void **state)
{
    (void)state;
    enum { NT = 4 };
    for (size_t b = 0; b < 3; b++) {
        mb_runtime *rt = open_kind(kinds[b]);
        float *label, *proba;
        frame_scores(rt, credit, &label, &proba);
        job jobs[NT];
        pthread_t tid[NT];
        for (int t = 0; t < NT; t++) {
            jobs[t] = (job){rt, (size_t)t * 250, mb_malloc(credit->nrows * sizeof(float)),
                            mb_malloc(credit->nrows * 2 * sizeof(float)), 0};
            assert_int_equal(pthread_create(&tid[t], NULL, score_rows, &jobs[t]), 0);
        }
        for (int t = 0; t < NT; t++) {
            pthread_join(tid[t], NULL);
            assert_false(jobs[t].bad);
            assert_memory_equal(jobs[t].label, label, credit->nrows * sizeof(float));
            assert_memory_equal(jobs[t].proba, proba, credit->nrows * 2 * sizeof(float));
            mb_free(jobs[t].label);
            mb_free(jobs[t].proba);
        }
        mb_free(label);
        mb_free(proba);
        mb_runtime_close(&rt);
    }
}

/* A frame of 8 copies of credit (8,000 rows: several of the pool's
** 2,048-row slices, the last one short) scored on pools of 1, 2 and 3
** threads gives, row for row, the one-call scores of credit. */
static void test_pool_equals_one_call(void **state)
{
    (void)state;
    mb_frame *big = NULL, *next = NULL;
    mb_error err;
    assert_int_equal(mb_frame_concat(credit, credit, &big, &err), MB_OK);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(mb_frame_concat(big, big, &next, &err), MB_OK);
        mb_frame_free(&big);
        big = next;
    }
    size_t n = big->nrows, n1 = credit->nrows;
    assert_int_equal(n, 8 * n1);
    for (size_t b = 0; b < 3; b++) {
        mb_runtime *rt = open_kind(kinds[b]);
        float *label, *proba;
        frame_scores(rt, credit, &label, &proba);
        for (size_t t = 1; t <= 3; t++) {
            mb_pool *pool = mb_pool_new(t);
            assert_int_equal(mb_pool_size(pool), t);
            float *l = mb_malloc(n * sizeof *l), *p = mb_malloc(n * 2 * sizeof *p);
            unsigned char *ok = mb_malloc(n);
            assert_int_equal(mb_runtime_score_frame_on(rt, pool, big, l, p, ok, NULL, NULL, &err), MB_OK);
            for (size_t r = 0; r < n; r++) {
                assert_int_equal(ok[r], 1);
                assert_memory_equal(&l[r], &label[r % n1], sizeof *l);
                assert_memory_equal(&p[2 * r], &proba[2 * (r % n1)], 2 * sizeof *p);
            }
            mb_free(l);
            mb_free(p);
            mb_free(ok);
            mb_pool_free(&pool);
            assert_null(pool);
        }
        mb_free(label);
        mb_free(proba);
        mb_runtime_close(&rt);
    }
    mb_frame_free(&big);
}

/* {====== no allocation per row ======} */

static size_t nallocs;
static void *count_malloc(size_t n)
{
    nallocs++;
    return malloc(n);
}
static void *count_realloc(void *p, size_t n)
{
    nallocs++;
    return realloc(p, n);
}

static void test_row_allocates_nothing(void **state)
{
    (void)state;
    for (size_t b = 0; b < 3; b++) {
        mb_runtime *rt = open_kind(kinds[b]);
        mb_runtime_row_ctx *c = mb_runtime_row_ctx_new(rt);
        mb_error err;
        mb_prediction p;
        set_row(c, rt, credit, 0); /* (set_row itself allocates nothing either) */
        mb_allocator a = {count_malloc, count_realloc, free};
        mb_set_allocator(&a);
        nallocs = 0;
        for (size_t r = 0; r < 50; r++) {
            set_row(c, rt, credit, r);
            mb_runtime_row_predict(c, &p, &err);
        }
        size_t seen = nallocs;
        mb_set_allocator(NULL);
        assert_int_equal(seen, 0);
        mb_runtime_row_ctx_free(&c);
        mb_runtime_close(&rt);
    }
}

/* {====== the threshold ======} */

static void test_threshold(void **state)
{
    (void)state;
    char p[300], q[300];
    bundle_path(p, sizeof p, "lin");
    snprintf(q, sizeof q, "%s/thr.h5", dir);
    mb_bundle *b = NULL;
    mb_error err;
    assert_int_equal(mb_bundle_load(p, &b, &err), MB_OK);
    assert_true(b->threshold == 0); /* older bundles: unset */
    b->threshold = 0.75;
    assert_int_equal(mb_bundle_save(q, b, &err), MB_OK);
    mb_bundle_free(&b);
    mb_runtime *rt = NULL, *rt5 = open_kind("lin"), *rt9 = NULL;
    assert_int_equal(mb_runtime_open(q, NULL, &rt, &err), MB_OK);
    assert_true(mb_runtime_threshold(rt) == 0.75);
    assert_true(mb_runtime_threshold(rt5) == 0.5);
    mb_runtime_opts o = {NULL, 0, 0.9};
    assert_int_equal(mb_runtime_open(q, &o, &rt9, &err), MB_OK);
    assert_true(mb_runtime_threshold(rt9) == 0.9);
    float *l, *pr;
    frame_scores(rt, credit, &l, &pr);
    size_t ones = 0;
    for (size_t r = 0; r < credit->nrows; r++) {
        assert_int_equal((int)l[r], (double)pr[2 * r + 1] > 0.75);
        ones += l[r] == 1;
    }
    assert_true(ones > 0 && ones < credit->nrows);
    mb_free(l);
    mb_free(pr);
    mb_runtime_close(&rt);
    mb_runtime_close(&rt5);
    mb_runtime_close(&rt9);
}

/* {====== drift ======} */

/* A one-feature bundle whose training values were 1..10. */
static void small_bundle(mb_bundle *b, char **name, int with_bins)
{
    memset(b, 0, sizeof *b);
    b->features = name;
    b->nfeatures = 1;
    float x[10];
    for (int i = 0; i < 10; i++)
        x[i] = (float)(i + 1);
    mb_matrix X = {x, 10, 1, 1};
    mb_error err;
    assert_int_equal(mb_monitoring_compute(&X, &b->monitoring, &err), MB_OK);
    if (!with_bins) /* as bundles written before the drift bins */
        for (size_t i = 0; i < b->monitoring.n; i++)
            if (!strncmp(b->monitoring.arrays[i].name, "bin_", 4))
                strcpy(b->monitoring.arrays[i].name, "unused");
}

static void test_drift_hand_computed(void **state)
{
    (void)state;
    char xname[] = "x", *name[] = {xname};
    /* serving 1,1,1,1,1,6,7,8,9,10 against 1..10: PSI = 0.3 ln 2.5 + 3 (1e-4 - 0.1) ln(1e-3) */
    const double psi = 0.3 * log(2.5) + 3 * (1e-4 - 0.1) * log(1e-4 / 0.1);
    float v[10] = {1, 1, 1, 1, 1, 6, 7, 8, 9, 10};
    for (int bins = 0; bins < 2; bins++) {
        mb_bundle b;
        small_bundle(&b, name, bins);
        mb_drift_ref *r = NULL;
        mb_error err;
        assert_int_equal(mb_drift_ref_new(&b, &r, &err), MB_OK);
        mb_drift_counts *c = mb_drift_counts_new(r), *half = mb_drift_counts_new(r), *rest = mb_drift_counts_new(r);
        for (int i = 0; i < 10; i++) {
            mb_drift_counts_add(c, &v[i]);
            mb_drift_counts_add(i < 4 ? half : rest, &v[i]);
        }
        mb_drift_feature f, g;
        assert_int_equal(mb_drift_report(r, c, 0.2, &f), 1);
        if (fabs(f.psi - psi) >= 1e-9)
            fail_msg("bins %d: psi %.9g, expected %.9g (ks %.9g)", bins, f.psi, psi, f.ks);
        /* deciles 1,2,3,4,5,6,6,7,8,9,10: the estimate is exact here too */
        assert_true(fabs(f.psi - psi) < 1e-9);
        assert_true(fabs(f.ks - 0.3) < 1e-9);
        mb_drift_counts_merge(half, rest);
        mb_drift_report(r, half, 0.2, &g);
        assert_true(f.psi == g.psi && f.ks == g.ks);
        /* the training values themselves: 0 */
        mb_drift_counts *same = mb_drift_counts_new(r);
        for (int i = 0; i < 10; i++) {
            float x = (float)(i + 1);
            mb_drift_counts_add(same, &x);
        }
        assert_int_equal(mb_drift_report(r, same, 0.2, &g), 0);
        assert_true(fabs(g.psi) < 1e-12 && fabs(g.ks) < 1e-12);
        mb_drift_counts_free(&c);
        mb_drift_counts_free(&half);
        mb_drift_counts_free(&rest);
        mb_drift_counts_free(&same);
        mb_drift_ref_free(&r);
        mb_state_clear(&b.monitoring);
    }
    /* no statistics: a clear error */
    mb_bundle none;
    memset(&none, 0, sizeof none);
    none.features = name;
    none.nfeatures = 1;
    mb_drift_ref *r = NULL;
    mb_error err;
    assert_int_equal(mb_drift_ref_new(&none, &r, &err), MB_ENOTFOUND);
    assert_non_null(strstr(err.msg, "no training statistics"));
}

static void test_drift_window(void **state)
{
    (void)state;
    char xname[] = "x", *name[] = {xname};
    mb_bundle b;
    small_bundle(&b, name, 1);
    mb_drift_ref *r = NULL;
    mb_error err;
    assert_int_equal(mb_drift_ref_new(&b, &r, &err), MB_OK);
    mb_drift_window *w = mb_drift_window_new(r, 10);
    /* 25 rows in: the window holds the last 10, as a batch count of them */
    float v[25];
    for (int i = 0; i < 25; i++)
        v[i] = i < 15 ? 100.0f : (i % 2 ? NAN : (float)(i % 10));
    for (int i = 0; i < 25; i++)
        mb_drift_window_add(w, &v[i]);
    assert_int_equal(mb_drift_window_rows(w), 10);
    mb_drift_counts *c = mb_drift_counts_new(r);
    for (int i = 15; i < 25; i++)
        mb_drift_counts_add(c, &v[i]);
    mb_drift_feature f, g;
    mb_drift_window_report(w, 0.2, &f);
    mb_drift_report(r, c, 0.2, &g);
    assert_true(f.psi == g.psi && f.missing == g.missing && f.missing == 0.5);
    assert_true((isnan(f.ks) && isnan(g.ks)) || f.ks == g.ks);
    mb_drift_counts_free(&c);
    mb_drift_window_free(&w);
    mb_drift_ref_free(&r);
    mb_state_clear(&b.monitoring);
}

/* A bundle without steps on number columns: the frame path copies the
** columns into the features (no row program); it must give the row
** path's features bit for bit, NaN and infinities included, on the pool
** too, and the same scores. */
static void test_plain_numbers(void **state)
{
    (void)state;
    char p[300];
    snprintf(p, sizeof p, "%s/plain.h5", dir);
    mb_runtime *rt = NULL;
    mb_error err;
    mb_frame *f = NULL;
    if (mb_runtime_open(p, NULL, &rt, &err) != MB_OK || mb_open("datasets/csv/breast_cancer.csv", &f, &err) != MB_OK)
        fail_msg("%s", err.msg);
    size_t n = f->nrows, nf = mb_runtime_nfeatures(rt), k = mb_runtime_nclasses(rt);
    assert_true(nf > 20 && n > 500);
    for (size_t r = 0; r < n; r++) { /* holes and infinities in several columns */
        long j = mb_frame_find(f, mb_runtime_input(rt, r % nf));
        f->cols[j].num[r * f->cols[j].stride] = r % 3 ? NAN : r % 2 ? INFINITY : -INFINITY;
    }
    float *X = mb_malloc(n * nf * sizeof *X), *x = mb_malloc(nf * sizeof *x);
    unsigned char *ok = mb_malloc(n);
    assert_int_equal(mb_runtime_transform_frame(rt, f, X, ok, NULL, NULL, &err), MB_OK);
    mb_runtime_row_ctx *c = mb_runtime_row_ctx_new(rt);
    for (size_t r = 0; r < n; r++) {
        assert_int_equal(ok[r], 1);
        set_row(c, rt, f, r);
        assert_int_equal(mb_runtime_row_transform(c, x, &err), MB_OK);
        assert_memory_equal(x, X + r * nf, nf * sizeof *x);
    }
    mb_runtime_row_ctx_free(&c);
    /* a frame bigger than the pool's slice, on 2 threads, against one call */
    mb_frame *big = NULL, *next = NULL;
    assert_int_equal(mb_frame_concat(f, f, &big, &err), MB_OK);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(mb_frame_concat(big, big, &next, &err), MB_OK);
        mb_frame_free(&big);
        big = next;
    }
    float *l1 = mb_malloc(big->nrows * sizeof *l1), *p1 = mb_malloc(big->nrows * k * sizeof *p1);
    float *l2 = mb_malloc(big->nrows * sizeof *l2), *p2 = mb_malloc(big->nrows * k * sizeof *p2);
    mb_pool *pool = mb_pool_new(2);
    assert_int_equal(mb_runtime_score_frame(rt, big, l1, p1, NULL, NULL, NULL, &err), MB_OK);
    assert_int_equal(mb_runtime_score_frame_on(rt, pool, big, l2, p2, NULL, NULL, NULL, &err), MB_OK);
    assert_memory_equal(l1, l2, big->nrows * sizeof *l1);
    assert_memory_equal(p1, p2, big->nrows * k * sizeof *p1);
    for (size_t r = 0; r < n; r++) {
        mb_runtime_row_ctx *c1 = mb_runtime_row_ctx_new(rt);
        mb_prediction pr;
        set_row(c1, rt, f, r);
        assert_int_equal(mb_runtime_row_predict(c1, &pr, &err), MB_OK);
        assert_int_equal(pr.label, (long)l1[r]);
        assert_memory_equal(pr.proba, p1 + r * k, k * sizeof *p1);
        mb_runtime_row_ctx_free(&c1);
    }
    /* the same rows as one row-major block in feature order with a column
    ** more (a matrix read from HDF5 is such a block): scored as a view */
    size_t nb = big->nrows, ld = nf + 1;
    float *block = mb_malloc(nb * ld * sizeof *block);
    mb_frame *vf = mb_frame_new(nb);
    mb_frame_adopt_block(vf, block);
    for (size_t j = 0; j < nf; j++) {
        const mb_column *bc = &big->cols[mb_frame_find(big, mb_runtime_input(rt, j))];
        for (size_t r = 0; r < nb; r++)
            block[r * ld + j] = MB_NUM(bc, r);
        assert_non_null(mb_frame_add_num(vf, mb_runtime_input(rt, j), block + j, ld, &err));
    }
    for (size_t r = 0; r < nb; r++)
        block[r * ld + nf] = 42;
    assert_non_null(mb_frame_add_num(vf, "extra", block + nf, ld, &err));
    for (size_t t = 1; t <= 2; t++) {
        mb_pool *vp = mb_pool_new(t);
        memset(l2, 0, nb * sizeof *l2);
        unsigned char *vok = mb_calloc(nb, 1);
        assert_int_equal(mb_runtime_score_frame_on(rt, vp, vf, l2, p2, vok, NULL, NULL, &err), MB_OK);
        assert_memory_equal(l1, l2, nb * sizeof *l1);
        assert_memory_equal(p1, p2, nb * k * sizeof *p1);
        for (size_t r = 0; r < nb; r++)
            assert_int_equal(vok[r], 1);
        mb_free(vok);
        mb_pool_free(&vp);
    }
    mb_frame_free(&vf);
    mb_pool_free(&pool);
    mb_free(l1);
    mb_free(p1);
    mb_free(l2);
    mb_free(p2);
    mb_frame_free(&big);
    mb_free(X);
    mb_free(x);
    mb_free(ok);
    mb_frame_free(&f);
    mb_runtime_close(&rt);
}

int main(void)
{
    const char *b = getenv("MOONBENCH_BUILD");
    char path[1024];
    snprintf(path, sizeof path, "%s/plugins", b ? b : "build");
    setenv("MOONBENCH_PLUGIN_PATH", path, 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_row_equals_frame),   cmocka_unit_test(test_columns_by_name),
        cmocka_unit_test(test_threads_share_a_runtime), cmocka_unit_test(test_row_allocates_nothing),
        cmocka_unit_test(test_threshold),          cmocka_unit_test(test_drift_hand_computed),
        cmocka_unit_test(test_drift_window),       cmocka_unit_test(test_pool_equals_one_call),
        cmocka_unit_test(test_plain_numbers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
