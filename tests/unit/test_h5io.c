/*
** test_h5io.c: HDF5 reading and writing of frames: round trips (missing
** values in every column kind), row ranges (hyperslabs), layouts of the
** bundled datasets, atomic writes; values outside their declared levels;
** the hostile files of tests/data/make_hostile.c (each refused with its
** message, none crashing); the probe's cost on the bundled datasets.
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

#include <hdf5.h>
#include <time.h>

#include "bundle.h"
#include "dataset.h"
#include "h5io.h"
#include "io.h"

/* LeakSanitizer (ASan build): libhdf5 1.10 leaks a layout message when
** H5Dopen2 fails on a damaged header (the byte-flipped fixtures); that
** leak is the library's, with no handle for us to close. Ours still count. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:libhdf5_serial.so\n"; }

/* Test hook in h5probe.c: forget the files probed so far. */
void mbh5_probe_forget(void);
static char tooldir[256]; /* where this test binary (and make_hostile) live */

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

static int count_nodes(const mb_h5_node *node, void *ud)
{
    (void)node;
    ++*(size_t *)ud;
    return 0;
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

/* {====== missing values, levels, tasks ======} */

/* Every column kind with missing values: NaN features, -1 codes, a
** categorical column with no levels at all, a categorical target with
** missing labels (moonbench once wrote -1 there and could not read it
** back), then a numeric target with NaN; written whole and streamed in
** two chunks, read back equal. */
static void test_round_trip_missing_everywhere(void **state)
{
    (void)state;
    char path[300];
    tmp_path(path, sizeof path, "missing.h5");
    mb_frame *f = sample_frame(50), *g = NULL;
    mb_column *none = mb_frame_add_cat(f, "none", NULL); /* all missing, zero levels */
    assert_non_null(none);
    mb_column *t = &f->cols[f->target];
    t->codes[0] = t->codes[7] = t->codes[49] = -1;
    mb_error err;
    assert_int_equal(mb_h5_write(path, f, &err), MB_OK);
    mb_status rc = mb_h5_read(path, NULL, 0, 0, &g, &err);
    if (rc != MB_OK)
        print_error("%s\n", err.msg);
    assert_int_equal(rc, MB_OK);
    assert_same_rows(f, 0, g);
    assert_int_equal(g->cols[g->target].codes[7], -1);
    mb_frame_free(&g);

    /* streamed: two appends, then commit */
    mb_h5w *w = NULL;
    assert_int_equal(mb_h5w_begin(path, f, &w, &err), MB_OK);
    size_t full = f->nrows;
    f->nrows = 20;
    assert_int_equal(mb_h5w_append(w, f, &err), MB_OK);
    f->nrows = full;
    mb_frame tail = *f;
    tail.nrows = full - 20;
    tail.cols = mb_calloc(f->ncols, sizeof *tail.cols);
    for (size_t j = 0; j < f->ncols; j++) {
        tail.cols[j] = f->cols[j];
        if (f->cols[j].type == MB_COL_CAT)
            tail.cols[j].codes += 20;
        else
            tail.cols[j].num += 20 * f->cols[j].stride;
    }
    assert_int_equal(mb_h5w_append(w, &tail, &err), MB_OK);
    mb_free(tail.cols);
    assert_int_equal(mb_h5w_commit(&w, f, &err), MB_OK);
    assert_int_equal(mb_h5_read(path, NULL, 0, 0, &g, &err), MB_OK);
    assert_same_rows(f, 0, g);
    mb_frame_free(&g);
    mb_frame_free(&f);

    /* a numeric target with NaN */
    f = mb_frame_new(6);
    mb_column *x = mb_frame_add_num(f, "x", NULL, 1, NULL), *y = mb_frame_add_num(f, "y", NULL, 1, NULL);
    for (size_t i = 0; i < 6; i++) {
        x->num[i] = (float)i;
        y->num[i] = i == 2 ? NAN : 0.25f * (float)i;
    }
    f->target = 1;
    assert_int_equal(mb_h5_write(path, f, &err), MB_OK);
    assert_int_equal(mb_h5_read(path, NULL, 0, 0, &g, &err), MB_OK);
    assert_same_rows(f, 0, g);
    mb_frame_free(&g);
    mb_frame_free(&f);
}

/* Overwrite one int32 element of a 2-D dataset (or 1-D with col 0). */
static void poke_int(const char *path, const char *ds, hsize_t row, hsize_t col, int rank, int v)
{
    hid_t fid = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT), d = H5Dopen2(fid, ds, H5P_DEFAULT);
    assert_true(fid >= 0 && d >= 0);
    hid_t fs = H5Dget_space(d);
    hsize_t off[2] = {row, col}, one[2] = {1, 1};
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, off, NULL, one, NULL);
    hid_t ms = H5Screate_simple(rank, one, NULL);
    assert_true(H5Dwrite(d, H5T_NATIVE_INT, ms, fs, H5P_DEFAULT, &v) >= 0);
    H5Sclose(ms);
    H5Sclose(fs);
    H5Dclose(d);
    H5Fclose(fid);
}

static void assert_read_fails(const char *path, const char *part)
{
    mb_frame *g = NULL;
    mb_error err;
    mb_status rc = mb_h5_read(path, NULL, 0, 0, &g, &err);
    if (rc == MB_OK || !strstr(err.msg, part))
        print_error("expected '%s', got %d '%s'\n", part, (int)rc, rc == MB_OK ? "" : err.msg);
    assert_int_not_equal(rc, MB_OK);
    assert_non_null(strstr(err.msg, part));
    assert_non_null(strstr(err.msg, path));
    assert_null(g);
}

/* Values outside their declared levels are errors, not missing values;
** target_names on a float target is refused. */
static void test_values_outside_levels(void **state)
{
    (void)state;
    char path[300];
    tmp_path(path, sizeof path, "levels.h5");
    mb_frame *f = sample_frame(10);
    mb_error err;
    assert_int_equal(mb_h5_write(path, f, &err), MB_OK);
    poke_int(path, "/categorical/codes", 3, 0, 2, 7);
    assert_read_fails(path, "code 7 in row 3 of column 'colour' is outside its 2 levels");
    poke_int(path, "/categorical/codes", 3, 0, 2, -2);
    assert_read_fails(path, "code -2 in row 3 of column 'colour'");
    poke_int(path, "/categorical/codes", 3, 0, 2, -1); /* -1: missing, fine */
    mb_frame *g = NULL;
    assert_int_equal(mb_h5_read(path, NULL, 0, 0, &g, &err), MB_OK);
    assert_int_equal(g->cols[2].codes[3], -1);
    mb_frame_free(&g);
    poke_int(path, "/y", 5, 0, 1, 2);
    assert_read_fails(path, "class code 2 in row 5 is outside target_names (2 names)");
    mb_frame_free(&f);

    /* y float32 with target_names */
    tmp_path(path, sizeof path, "floaty.h5");
    hid_t fid = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dx[2] = {3, 1}, dy = 3;
    float xv[3] = {1, 2, 3}, yv[3] = {0, 1, 0};
    hid_t sx = H5Screate_simple(2, dx, NULL), sy = H5Screate_simple(1, &dy, NULL);
    hid_t X = H5Dcreate2(fid, "X", H5T_IEEE_F32LE, sx, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t Y = H5Dcreate2(fid, "y", H5T_IEEE_F32LE, sy, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(X, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, xv);
    H5Dwrite(Y, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, yv);
    hid_t st = H5Tcopy(H5T_C_S1);
    H5Tset_size(st, 4);
    hsize_t two = 2;
    hid_t as = H5Screate_simple(1, &two, NULL), a = H5Acreate2(Y, "target_names", st, as, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, st, "no\0\0yes\0");
    H5Aclose(a);
    H5Sclose(as);
    H5Tclose(st);
    H5Dclose(X);
    H5Dclose(Y);
    H5Sclose(sx);
    H5Sclose(sy);
    H5Fclose(fid);
    assert_read_fails(path, ":/y: target_names (2 names) on a float target");
}

/* A task that disagrees with the labels is an error: binary on 3
** classes, asked for or declared; an unknown declared task. */
static void test_task_disagrees(void **state)
{
    (void)state;
    mb_frame *f = NULL;
    mb_error err;
    mb_data d;
    assert_int_equal(mb_h5_read(SRCDIR "/datasets/iris.h5", NULL, 0, 0, &f, &err), MB_OK);
    assert_int_equal(mb_data_from_frame(f, MB_TASK_BINARY, &d, &err), MB_EARG);
    assert_non_null(strstr(err.msg, "task binary (asked for), but the target 'target' has 3 classes"));
    mb_free(f->task);
    f->task = mb_strdup("binary");
    assert_int_equal(mb_data_from_frame(f, 0, &d, &err), MB_EARG);
    assert_non_null(strstr(err.msg, "task binary (declared by the file)"));
    mb_free(f->task);
    f->task = mb_strdup("clustering");
    assert_int_equal(mb_data_from_frame(f, 0, &d, &err), MB_EFORMAT);
    assert_non_null(strstr(err.msg, "declares task 'clustering'"));
    assert_int_equal(mb_data_from_frame(f, MB_TASK_MULTICLASS, &d, &err), MB_OK);
    assert_int_equal(d.ds.task, MB_TASK_MULTICLASS);
    assert_int_equal(d.ds.nclasses, 3);
    mb_data_free(&d);
    mb_frame_free(&f);
}

/* Integer-valued labels spread over the distinct-value set's slots: the
** old mask of the product's low bits put every one of them in slot 0. */
static void test_label_hash_spreads_integers(void **state)
{
    (void)state;
    unsigned char seen[2048] = {0};
    size_t slots = 0;
    for (int v = 0; v < 1000; v++) {
        size_t h = mb_hash_float((float)v, 11);
        assert_true(h < 2048);
        slots += !seen[h];
        seen[h] = 1;
    }
    assert_true(slots > 600); /* ~790 for a random spread */
}

/* Numeric targets around the 1000-distinct-values limit: 1000 integer
** classes are found and mapped to their sorted index; 1001 is regression. */
static void test_many_integer_classes(void **state)
{
    (void)state;
    enum { N = 5000 };
    for (int nd = 1000; nd <= 1001; nd++) {
        mb_frame *f = mb_frame_new(N);
        mb_error err;
        mb_column *x = mb_frame_add_num(f, "x", NULL, 1, &err), *y = mb_frame_add_num(f, "y", NULL, 1, &err);
        for (size_t i = 0; i < N; i++) {
            x->num[i] = (float)i;
            y->num[i] = (float)(3 * (int)((i * 7919) % (size_t)nd)); /* 0, 3, ..., 3 (nd - 1) */
        }
        f->target = 1;
        mb_data d;
        assert_int_equal(mb_data_from_frame(f, nd == 1000 ? MB_TASK_MULTICLASS : 0, &d, &err), MB_OK);
        if (nd == 1000) {
            assert_int_equal(d.ds.task, MB_TASK_MULTICLASS);
            assert_int_equal(d.ds.nclasses, 1000);
            for (size_t i = 0; i < N; i++)
                assert_true(d.ds.y[i] == (float)((i * 7919) % 1000));
            assert_string_equal(d.class_names[999], "2997");
        } else {
            assert_int_equal(d.ds.task, MB_TASK_REGRESSION);
        }
        mb_data_free(&d);
        mb_frame_free(&f);
    }
}

/* -0 and +0 labels are one class (they compare equal), past the first 8
** distinct values too; random class order maps to the sorted index. */
static void test_signed_zero_labels(void **state)
{
    (void)state;
    enum { N = 64 };
    mb_frame *f = mb_frame_new(N);
    mb_error err;
    mb_column *x = mb_frame_add_num(f, "x", NULL, 1, &err), *y = mb_frame_add_num(f, "y", NULL, 1, &err);
    for (size_t i = 0; i < N; i++) {
        x->num[i] = (float)i;
        size_t c = (i * 7) % 10; /* classes 1..9, then 0 / -0 from row 10 on */
        y->num[i] = i < 10 ? (float)(c ? c : 5) : c == 0 ? (i % 2 ? -0.0f : 0.0f) : (float)c;
    }
    f->target = 1;
    mb_data d;
    assert_int_equal(mb_data_from_frame(f, MB_TASK_MULTICLASS, &d, &err), MB_OK);
    assert_int_equal(d.ds.nclasses, 10);
    for (size_t i = 0; i < N; i++)
        assert_true(d.ds.y[i] == (float)(y->num[i] == 0 ? 0 : y->num[i]));
    mb_data_free(&d);
    mb_frame_free(&f);
}

static const double *state_array(const mb_state *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->arrays[i].name, name))
            return s->arrays[i].data;
    fail_msg("no monitoring array '%s'", name);
    return NULL;
}

/* Training statistics of a strided view (ld > cols) over more rows than
** are sampled equal those of a packed copy, and the mean is that of the
** sampled rows (every step-th, step = ceil(n / 4096)). */
static void test_monitoring_strided(void **state)
{
    (void)state;
    enum { N = 10001, P = 3, LD = 5 };
    float *a = malloc(N * LD * sizeof *a), *b = malloc(N * P * sizeof *b);
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < LD; j++) {
            float v = (i % 97 == 0 && j == 1) ? NAN : (float)((i * 31 + j * 17) % 1000) / 8;
            a[i * LD + j] = v;
            if (j < P)
                b[i * P + j] = v;
        }
    mb_matrix XA = {a, N, P, LD}, XB = {b, N, P, P};
    mb_state sa = {0}, sb = {0};
    mb_error err;
    assert_int_equal(mb_monitoring_compute(&XA, &sa, &err), MB_OK);
    assert_int_equal(mb_monitoring_compute(&XB, &sb, &err), MB_OK);
    assert_int_equal(sa.n, sb.n);
    for (size_t k = 0; k < sa.n; k++) {
        assert_string_equal(sa.arrays[k].name, sb.arrays[k].name);
        assert_int_equal(sa.arrays[k].count, sb.arrays[k].count);
        assert_memory_equal(sa.arrays[k].data, sb.arrays[k].data, sa.arrays[k].count * mb_dtype_size(sa.arrays[k].type));
    }
    size_t step = (N + 4095) / 4096, ns = (N - 1) / step + 1;
    assert_true(state_array(&sa, "rows_sampled")[0] == (double)ns);
    double sum = 0;
    for (size_t r = 0; r < ns; r++)
        sum += (double)a[r * step * LD + 2];
    assert_true(fabs(state_array(&sa, "mean")[2] - sum / (double)ns) < 1e-9);
    mb_state_clear(&sa);
    mb_state_clear(&sb);
    free(a);
    free(b);
}

/* {====== hostile files ======} */

/* Every fixture of make_hostile: refused with its message (never a crash,
** never gigabytes), or read safely (cycles, external links). */
static void test_hostile_files(void **state)
{
    (void)state;
    char cmd[1024], path[300];
    snprintf(cmd, sizeof cmd, "'%s/make_hostile' '%s' '%s/datasets/iris.h5'", tooldir, tmpdir, SRCDIR);
    assert_int_equal(system(cmd), 0);
    struct {
        const char *file, *part;
    } bad[] = {
        {"deep.h5", "groups nested too deep (MOONBENCH_MAX_DEPTH"},
        {"bigread.h5", ":/X: reading it needs 2.0 GiB for a file of"},
        {"bigchunk.h5", ":/X: reading it needs 1.0 GiB (one chunk)"},
        {"wide.h5", ":/records: field 'v' is an array of more than 1000000 elements"},
        {"longstr.h5", ":/names: strings of 16777216 bytes, more than 1048576 (MOONBENCH_MAX_STRING"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        tmp_path(path, sizeof path, bad[i].file);
        assert_read_fails(path, bad[i].part);
    }
    /* a hard-link cycle: the walk shows each object once and ends */
    tmp_path(path, sizeof path, "cycle.h5");
    size_t nodes = 0;
    mb_error err;
    assert_int_equal(mb_h5_walk(path, NULL, count_nodes, &nodes, &err), MB_OK);
    assert_int_equal(nodes, 5); /* /, X, a, a/b, y */
    mb_frame *g = NULL;
    assert_int_equal(mb_h5_read(path, NULL, 0, 0, &g, &err), MB_OK);
    assert_int_equal(g->nrows, 4);
    mb_frame_free(&g);
    /* an external link is not followed */
    tmp_path(path, sizeof path, "external.h5");
    assert_int_equal(mb_h5_read(path, "/ext", 0, 0, &g, &err), MB_ENOTFOUND);
    /* changed bytes: an error or a frame, never a crash */
    size_t damaged = 0, failed = 0;
    for (int k = 0; k < 64; k++) {
        char name[32];
        snprintf(name, sizeof name, "flip-%03d.h5", k);
        tmp_path(path, sizeof path, name);
        nodes = 0;
        if (mb_h5_walk(path, NULL, count_nodes, &nodes, &err) != MB_OK) {
            failed++;
            if (getenv("MB_DEBUG_FLIPS"))
                print_message("# %s\n", err.msg);
            damaged += strstr(err.msg, "damaged (the HDF5 library failed reading it)") != NULL;
            assert_non_null(strstr(err.msg, path));
        }
        if (mb_h5_read(path, NULL, 0, 0, &g, &err) == MB_OK)
            mb_frame_free(&g);
        else
            assert_non_null(strstr(err.msg, path));
    }
    print_message("# flipped files: %zu of 64 refused by the walk, %zu as damaged by the probe\n", failed, damaged);
}

/* The probe's cost: one fork and a metadata walk per new file. */
static void test_probe_cost(void **state)
{
    (void)state;
    const char *names[] = {"iris", "wine", "breast_cancer", "digits", "credit_g", "vote", "auto_mpg", "diabetes"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char path[300];
        snprintf(path, sizeof path, "%s/datasets/%s.h5", SRCDIR, names[i]);
        double best = 1e9, total = 0;
        for (int r = 0; r < 10; r++) {
            struct timespec t0, t1;
            mbh5_probe_forget();
            clock_gettime(CLOCK_MONOTONIC, &t0);
            size_t nodes = 0;
            mb_error err;
            assert_int_equal(mb_h5_walk(path, NULL, count_nodes, &nodes, &err), MB_OK);
            clock_gettime(CLOCK_MONOTONIC, &t1);
            double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
            best = ms < best ? ms : best;
            total += ms;
        }
        print_message("# probe + walk of %s.h5: best %.2f ms, mean %.2f ms\n", names[i], best, total / 10);
        assert_true(best < 100); /* loose: a shared, loaded machine */
    }
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_label_hash_spreads_integers),
        cmocka_unit_test(test_many_integer_classes),
        cmocka_unit_test(test_signed_zero_labels),
        cmocka_unit_test(test_monitoring_strided),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_row_range),
        cmocka_unit_test(test_chunked_gzip_range),
        cmocka_unit_test(test_bundled_matrix),
        cmocka_unit_test(test_bundled_table_matches_matrix),
        cmocka_unit_test(test_write_missing_folder),
        cmocka_unit_test(test_abort_leaves_nothing),
        cmocka_unit_test(test_overwrite_is_atomic),
        cmocka_unit_test(test_spec_split),
        cmocka_unit_test(test_round_trip_missing_everywhere),
        cmocka_unit_test(test_values_outside_levels),
        cmocka_unit_test(test_task_disagrees),
        cmocka_unit_test(test_hostile_files),
        cmocka_unit_test(test_probe_cost),
    };
    (void)argc;
    snprintf(tooldir, sizeof tooldir, "%s", argv[0]);
    char *slash = strrchr(tooldir, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(tooldir, sizeof tooldir, ".");
    return cmocka_run_group_tests(tests, setup, teardown);
}
