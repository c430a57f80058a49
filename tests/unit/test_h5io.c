/*
** test_h5io.c: HDF5 reading and writing of frames: round trips, row
** ranges (hyperslabs), layouts of the bundled datasets, atomic writes.
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
#include <sys/stat.h>
#include <unistd.h>

#include "h5io.h"
#include "io.h"

#ifndef SRCDIR
#define SRCDIR "."
#endif

static char tmpdir[256];

static int setup(void **state)
{
    (void)state;
    umask(022);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/mb_h5test_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd);
}

static void tmp_path(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", tmpdir, name);
}

/* A frame with two numeric columns (one with NaN), a categorical one with
** a missing value and UTF-8 levels, and a categorical target. */
static mb_frame *sample_frame(size_t n)
{
    mb_frame *f = mb_frame_new(n);
    mb_column *a = mb_frame_add_num(f, "alpha", NULL, 1, NULL);
    for (size_t i = 0; i < n; i++)
        a->num[i] = (float)i * 0.5f;
    mb_column *b = mb_frame_add_num(f, "größe", NULL, 1, NULL);
    for (size_t i = 0; i < n; i++)
        b->num[i] = i % 7 == 3 ? NAN : (float)(n - i);
    mb_column *c = mb_frame_add_cat(f, "colour", NULL);
    mb_column_add_level(c, "red", 3);
    mb_column_add_level(c, "grün", 5);
    for (size_t i = 0; i < n; i++)
        c->codes[i] = i % 5 == 4 ? -1 : (int32_t)(i % 2);
    mb_column *t = mb_frame_add_cat(f, "label", NULL);
    mb_column_add_level(t, "no", 2);
    mb_column_add_level(t, "yes", 3);
    for (size_t i = 0; i < n; i++)
        t->codes[i] = (int32_t)(i % 3 == 0);
    f->target = 3;
    return f;
}

static void assert_same_rows(const mb_frame *a, size_t from, const mb_frame *b)
{
    assert_int_equal(a->ncols, b->ncols);
    assert_int_equal(a->target, b->target);
    for (size_t j = 0; j < a->ncols; j++) {
        const mb_column *x = &a->cols[j], *y = &b->cols[j];
        assert_string_equal(x->name, y->name);
        assert_int_equal(x->type, y->type);
        if (x->type == MB_COL_CAT) {
            assert_int_equal(x->nlevels, y->nlevels);
            for (size_t k = 0; k < x->nlevels; k++)
                assert_string_equal(x->levels[k], y->levels[k]);
        }
        for (size_t i = 0; i < b->nrows; i++) {
            if (x->type == MB_COL_CAT) {
                assert_int_equal(x->codes[from + i], y->codes[i]);
            } else {
                float u = MB_NUM(x, from + i), v = MB_NUM(y, i);
                if (isnan(u))
                    assert_true(isnan(v));
                else
                    assert_true(u == v);
            }
        }
    }
}

static void test_round_trip(void **state)
{
    (void)state;
    char path[300];
    tmp_path(path, sizeof path, "rt.h5");
    mb_frame *f = sample_frame(1000), *g = NULL;
    mb_error err;
    assert_int_equal(mb_h5_write(path, f, &err), MB_OK);
    assert_int_equal(mb_h5_read(path, NULL, 0, 0, &g, &err), MB_OK);
    assert_int_equal(g->nrows, 1000);
    assert_same_rows(f, 0, g);
    mb_frame_free(&g);
    mb_frame_free(&f);
}

static void test_row_range(void **state)
{
    (void)state;
    char path[300];
    tmp_path(path, sizeof path, "range.h5");
    mb_frame *f = sample_frame(300000), *g = NULL;
    mb_error err;
    assert_int_equal(mb_h5_write(path, f, &err), MB_OK);
    assert_int_equal(mb_h5_read(path, NULL, 123456, 1000, &g, &err), MB_OK);
    assert_int_equal(g->nrows, 1000);
    assert_same_rows(f, 123456, g);
    mb_frame_free(&g);
    /* a window running past the end is clipped; one starting past it is empty */
    assert_int_equal(mb_h5_read(path, NULL, 299990, 1000, &g, &err), MB_OK);
    assert_int_equal(g->nrows, 10);
    assert_same_rows(f, 299990, g);
    mb_frame_free(&g);
    assert_int_equal(mb_h5_read(path, NULL, 400000, 10, &g, &err), MB_OK);
    assert_int_equal(g->nrows, 0);
    mb_frame_free(&g);
    mb_frame_free(&f);
}

static void test_chunked_gzip_range(void **state)
{
    (void)state;
    /* tests/data/chunked.h5: X = arange(50000).reshape(10000, 5), gzip+shuffle, chunks 1000x5 */
    mb_frame *g = NULL;
    mb_error err;
    assert_int_equal(mb_h5_read(SRCDIR "/tests/data/chunked.h5", NULL, 4321, 2000, &g, &err), MB_OK);
    assert_int_equal(g->nrows, 2000);
    assert_int_equal(g->ncols, 6);
    assert_string_equal(g->cols[0].name, "a");
    for (size_t i = 0; i < g->nrows; i++)
        for (size_t j = 0; j < 5; j++)
            assert_true(MB_NUM(&g->cols[j], i) == (float)((4321 + i) * 5 + j));
    const mb_column *y = &g->cols[5];
    assert_int_equal(y->type, MB_COL_CAT);
    assert_int_equal(y->nlevels, 3);
    assert_string_equal(y->levels[1], "g");
    assert_int_equal(y->codes[0], 4321 % 3);
    mb_frame_free(&g);
}

static void test_bundled_matrix(void **state)
{
    (void)state;
    mb_frame *g = NULL;
    mb_error err;
    assert_int_equal(mb_open(SRCDIR "/datasets/iris.h5", &g, &err), MB_OK);
    assert_int_equal(g->nrows, 150);
    assert_int_equal(g->ncols, 5);
    assert_int_equal(g->target, 4);
    assert_string_equal(g->cols[0].name, "sepal length (cm)");
    assert_true(MB_NUM(&g->cols[0], 0) == 5.1f); /* first row of iris: 5.1 3.5 1.4 0.2 setosa */
    assert_true(MB_NUM(&g->cols[3], 0) == 0.2f);
    assert_string_equal(g->cols[4].levels[g->cols[4].codes[0]], "setosa");
    mb_frame_free(&g);
}

static void test_bundled_table_matches_matrix(void **state)
{
    (void)state;
    /* The pandas table and the matrix file of wine hold the same numbers. */
    mb_frame *t = NULL, *m = NULL;
    mb_error err;
    assert_int_equal(mb_open(SRCDIR "/datasets/table/wine.h5", &t, &err), MB_OK);
    assert_int_equal(mb_open(SRCDIR "/datasets/wine.h5", &m, &err), MB_OK);
    assert_int_equal(t->nrows, m->nrows);
    assert_int_equal(t->ncols, m->ncols);
    for (size_t j = 0; j + 1 < m->ncols; j++) {
        assert_string_equal(t->cols[j].name, m->cols[j].name);
        for (size_t i = 0; i < m->nrows; i++)
            assert_true(MB_NUM(&t->cols[j], i) == MB_NUM(&m->cols[j], i));
    }
    const mb_column *tt = &t->cols[t->target], *mt = &m->cols[m->target];
    for (size_t i = 0; i < m->nrows; i++)
        assert_string_equal(tt->levels[tt->codes[i]], mt->levels[mt->codes[i]]);
    mb_frame_free(&t);
    mb_frame_free(&m);
}

static void test_write_missing_folder(void **state)
{
    (void)state;
    char path[300];
    tmp_path(path, sizeof path, "no/such/folder/out.h5");
    mb_frame *f = sample_frame(10);
    mb_error err;
    assert_int_equal(mb_h5_write(path, f, &err), MB_ENOTFOUND);
    assert_non_null(strstr(err.msg, "does not exist"));
    assert_non_null(strstr(err.msg, "no/such/folder"));
    mb_frame_free(&f);
}

static void test_abort_leaves_nothing(void **state)
{
    (void)state;
    char path[300];
    tmp_path(path, sizeof path, "aborted.h5");
    mb_frame *f = sample_frame(10);
    mb_error err;
    mb_h5w *w = NULL;
    assert_int_equal(mb_h5w_begin(path, f, &w, &err), MB_OK);
    assert_int_equal(mb_h5w_append(w, f, &err), MB_OK);
    mb_h5w_abort(&w);
    assert_null(w);
    struct stat st;
    assert_int_not_equal(stat(path, &st), 0);
    /* no temporary file left either */
    char cmd[400];
    snprintf(cmd, sizeof cmd, "test -z \"$(ls -A '%s' | grep aborted)\"", tmpdir);
    assert_int_equal(system(cmd), 0);
    /* a commit with a wrong row count publishes nothing */
    assert_int_equal(mb_h5w_begin(path, f, &w, &err), MB_OK);
    assert_int_not_equal(mb_h5w_commit(&w, f, &err), MB_OK);
    assert_int_not_equal(stat(path, &st), 0);
    mb_frame_free(&f);
}

static void test_overwrite_is_atomic(void **state)
{
    (void)state;
    char path[300];
    tmp_path(path, sizeof path, "over.h5");
    mb_frame *f = sample_frame(50), *g = NULL;
    mb_error err;
    assert_int_equal(mb_h5_write(path, f, &err), MB_OK);
    mb_frame *f2 = sample_frame(70);
    assert_int_equal(mb_h5_write(path, f2, &err), MB_OK);
    assert_int_equal(mb_h5_read(path, NULL, 0, 0, &g, &err), MB_OK);
    assert_int_equal(g->nrows, 70);
    /* the temporary file's private mode is not what gets published */
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    mb_frame_free(&g);
    mb_frame_free(&f);
    mb_frame_free(&f2);
}

static void test_spec_split(void **state)
{
    (void)state;
    char *file, *obj;
    mb_split_spec(SRCDIR "/datasets/iris.h5:/X", &file, &obj);
    assert_string_equal(file, SRCDIR "/datasets/iris.h5");
    assert_string_equal(obj, "/X");
    mb_free(file);
    mb_free(obj);
    mb_split_spec("no-such-file.h5:/X", &file, &obj);
    assert_string_equal(file, "no-such-file.h5:/X");
    assert_null(obj);
    mb_free(file);
    mb_free(obj);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_row_range),
        cmocka_unit_test(test_chunked_gzip_range),
        cmocka_unit_test(test_bundled_matrix),
        cmocka_unit_test(test_bundled_table_matches_matrix),
        cmocka_unit_test(test_write_missing_folder),
        cmocka_unit_test(test_abort_leaves_nothing),
        cmocka_unit_test(test_overwrite_is_atomic),
        cmocka_unit_test(test_spec_split),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
