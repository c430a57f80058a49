/*
** test_csv.c: unit tests of the streaming CSV reader (src/core/csv.c):
** delimiter detection, quoting, line ends, BOM, header names, missing
** values, type inference, exact number parsing, chunked reading, records
** cut at every byte by small reads, and every error with its message.
** Each test writes its CSV files under /tmp (mkstemp); the per-test
** teardown removes them.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "csv.h"

/* Test hook in csv.c: each refill reads at most n bytes (0 = normal). */
void mbcsv_set_readsize(size_t n);

/* {====== helpers ======} */

#define MAX_TMP 16
static char tmp_paths[MAX_TMP][64];
static int ntmp;

/* Write len bytes to a new temporary file; returns its path. */
static const char *write_tmp_n(const char *data, size_t len)
{
    assert_true(ntmp < MAX_TMP);
    char *path = tmp_paths[ntmp];
    snprintf(path, sizeof tmp_paths[0], "/tmp/mb_test_csv_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    ntmp++;
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, data + off, len - off);
        assert_true(n > 0);
        off += (size_t)n;
    }
    assert_int_equal(close(fd), 0);
    return path;
}

static const char *write_tmp(const char *text) { return write_tmp_n(text, strlen(text)); }

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < ntmp; i++)
        unlink(tmp_paths[i]);
    ntmp = 0;
    mbcsv_set_readsize(0);
    return 0;
}

/* Load text as a CSV file; fails the test on error. */
static mb_frame *load_text(const char *text, const mb_csv_options *opt)
{
    mb_error err = {0};
    mb_frame *f = NULL;
    const char *path = write_tmp(text);
    mb_status st = mb_csv_load(path, opt, &f, &err);
    if (st != MB_OK)
        print_error("mb_csv_load: %s\n", err.msg);
    assert_int_equal(st, MB_OK);
    assert_non_null(f);
    return f;
}

/* Load text expecting failure with code; returns the message (static). */
static const char *load_fail(const char *path, mb_status code)
{
    static mb_error err;
    mb_frame *f = NULL;
    memset(&err, 0, sizeof err);
    mb_status st = mb_csv_load(path, NULL, &f, &err);
    assert_int_equal(st, code);
    assert_int_equal(err.code, code);
    assert_null(f);
    return err.msg;
}

static void assert_contains(const char *msg, const char *part)
{
    if (!strstr(msg, part))
        print_error("message '%s' lacks '%s'\n", msg, part);
    assert_non_null(strstr(msg, part));
}

static int same_float(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

static float num_at(const mb_frame *f, size_t col, size_t row)
{
    assert_true(col < f->ncols);
    assert_int_equal(f->cols[col].type, MB_COL_NUM);
    return MB_NUM(&f->cols[col], row);
}

/* The level of categorical cell (col, row), or NULL when missing. */
static const char *level_at(const mb_frame *f, size_t col, size_t row)
{
    assert_true(col < f->ncols);
    const mb_column *c = &f->cols[col];
    assert_int_equal(c->type, MB_COL_CAT);
    int32_t code = c->codes[row];
    if (code < 0)
        return NULL;
    assert_true((size_t)code < c->nlevels);
    return c->levels[code];
}

/* Every cell of two frames equal (values, codes, levels, names). */
static void assert_frames_equal(const mb_frame *a, const mb_frame *b)
{
    assert_int_equal(a->nrows, b->nrows);
    assert_int_equal(a->ncols, b->ncols);
    for (size_t j = 0; j < a->ncols; j++) {
        const mb_column *ca = &a->cols[j], *cb = &b->cols[j];
        assert_string_equal(ca->name, cb->name);
        assert_int_equal(ca->type, cb->type);
        for (size_t i = 0; i < a->nrows; i++) {
            if (ca->type == MB_COL_NUM) {
                assert_true(same_float(MB_NUM(ca, i), MB_NUM(cb, i)));
            } else {
                const char *la = level_at(a, j, i), *lb = level_at(b, j, i);
                if (!la || !lb)
                    assert_true(la == lb);
                else
                    assert_string_equal(la, lb);
            }
        }
    }
}

/* {====== delimiters ======} */

static void test_delim_comma(void **state)
{
    (void)state;
    mb_frame *f = load_text("x,y;z,w\n1,2,3\n4,5,6\n", NULL);
    assert_int_equal(f->ncols, 3);
    assert_int_equal(f->nrows, 2);
    assert_string_equal(f->cols[1].name, "y;z");
    assert_true(num_at(f, 2, 1) == 6.0f);
    mb_frame_free(&f);
}

static void test_delim_semicolon(void **state)
{
    (void)state;
    /* decimal commas make the comma count vary; the semicolons do not */
    mb_frame *f = load_text("a;b;c\n1,5;x;2\n3;y,z;4\n7,25;w;5\n", NULL);
    assert_int_equal(f->ncols, 3);
    assert_int_equal(f->nrows, 3);
    assert_string_equal(f->cols[0].name, "a");
    assert_int_equal(f->cols[0].type, MB_COL_CAT); /* "1,5" is not a number */
    assert_string_equal(level_at(f, 0, 0), "1,5");
    assert_string_equal(level_at(f, 1, 1), "y,z");
    assert_true(num_at(f, 2, 2) == 5.0f);
    mb_frame_free(&f);
}

static void test_delim_tab(void **state)
{
    (void)state;
    mb_frame *f = load_text("name\tvalue, with comma\tn\nab\t1.5\t2\n\"c\td\"\t-3\t4\n", NULL);
    assert_int_equal(f->ncols, 3);
    assert_string_equal(f->cols[1].name, "value, with comma");
    assert_true(num_at(f, 1, 0) == 1.5f);
    assert_true(num_at(f, 1, 1) == -3.0f);
    assert_string_equal(level_at(f, 0, 1), "c\td");
    mb_frame_free(&f);
}

static void test_delim_option(void **state)
{
    (void)state;
    mb_csv_options opt = {.delim = '|'};
    mb_frame *f = load_text("a|b,c\n1|x,y\n", &opt);
    assert_int_equal(f->ncols, 2);
    assert_string_equal(f->cols[1].name, "b,c");
    assert_string_equal(level_at(f, 1, 0), "x,y");
    mb_frame_free(&f);

    mb_error err = {0};
    mb_frame *g = NULL;
    opt.delim = '"';
    assert_int_equal(mb_csv_load(write_tmp("a\n1\n"), &opt, &g, &err), MB_EARG);
    assert_null(g);
}

/* {====== quoting, line ends, BOM, names ======} */

static void test_quoted_fields(void **state)
{
    (void)state;
    mb_frame *f = load_text("name,text,n\n"
                            "\"a,b\",\"he said \"\"hi\"\"\",1\n"
                            "\"multi\nline\",plain,\"2.5\"\n"
                            "\"\",\"\"\"\",3\n",
                            NULL);
    assert_int_equal(f->nrows, 3);
    assert_string_equal(level_at(f, 0, 0), "a,b");
    assert_string_equal(level_at(f, 1, 0), "he said \"hi\"");
    assert_string_equal(level_at(f, 0, 1), "multi\nline");
    assert_string_equal(level_at(f, 1, 1), "plain");
    assert_null(level_at(f, 0, 2)); /* "" is empty: missing */
    assert_string_equal(level_at(f, 1, 2), "\"");
    assert_int_equal(f->cols[2].type, MB_COL_NUM); /* quoted "2.5" is a number */
    assert_true(num_at(f, 2, 1) == 2.5f);
    assert_true(num_at(f, 2, 2) == 3.0f);
    mb_frame_free(&f);
}

static void test_crlf(void **state)
{
    (void)state;
    mb_frame *f = load_text("a,b,c\r\n1,x,2.5\r\n\"q\r\nr\",y,-4\r\n\r\n5,\"z\",6\r\n", NULL);
    assert_int_equal(f->nrows, 3);
    assert_int_equal(f->cols[0].type, MB_COL_CAT);
    assert_string_equal(f->cols[2].name, "c");
    assert_int_equal(f->cols[2].type, MB_COL_NUM);
    assert_true(num_at(f, 2, 0) == 2.5f);
    assert_true(num_at(f, 2, 1) == -4.0f);
    assert_true(num_at(f, 2, 2) == 6.0f);
    assert_string_equal(level_at(f, 0, 1), "q\r\nr");
    assert_string_equal(level_at(f, 1, 2), "z");
    mb_frame_free(&f);
}

static void test_bom(void **state)
{
    (void)state;
    mb_frame *f = load_text("\xEF\xBB\xBFid;name\n1;x\n2;y\n", NULL);
    assert_int_equal(f->ncols, 2);
    assert_string_equal(f->cols[0].name, "id");
    assert_true(num_at(f, 0, 1) == 2.0f);
    mb_frame_free(&f);
}

static void test_utf8_header(void **state)
{
    (void)state;
    mb_frame *f = load_text("größe,名前,\"naïve, quoted\"\n1.5,太郎,x\n2,花子,y\n", NULL);
    assert_int_equal(f->ncols, 3);
    assert_string_equal(f->cols[0].name, "größe");
    assert_string_equal(f->cols[1].name, "名前");
    assert_string_equal(f->cols[2].name, "naïve, quoted");
    assert_int_equal(mb_frame_find(f, "größe"), 0);
    assert_string_equal(level_at(f, 1, 1), "花子");
    mb_frame_free(&f);
}

static void test_header_names(void **state)
{
    (void)state;
    mb_frame *f = load_text("a,a,, b ,a,a.1,\n1,2,3,4,5,6,7\n", NULL);
    static const char *const want[] = {"a", "a.1", "column_3", "b", "a.2", "a.1.1", "column_7"};
    assert_int_equal(f->ncols, 7);
    for (size_t j = 0; j < 7; j++)
        assert_string_equal(f->cols[j].name, want[j]);
    assert_non_null(f->note);
    assert_non_null(strstr(f->note, "renamed"));
    mb_frame_free(&f);
}

static void test_header_only(void **state)
{
    (void)state;
    mb_frame *f = load_text("a,b,c\n", NULL);
    assert_int_equal(f->nrows, 0);
    assert_int_equal(f->ncols, 3);
    assert_string_equal(f->cols[2].name, "c");
    mb_frame_free(&f);

    f = load_text("x;y", NULL); /* no line end at all */
    assert_int_equal(f->nrows, 0);
    assert_int_equal(f->ncols, 2);
    mb_frame_free(&f);
}

static void test_blank_lines(void **state)
{
    (void)state;
    mb_frame *f = load_text("\n\na,b\n1,2\n\n   \n3,4\n\r\n5,6", NULL);
    assert_int_equal(f->nrows, 3);
    assert_true(num_at(f, 0, 2) == 5.0f);
    assert_true(num_at(f, 1, 2) == 6.0f);
    mb_frame_free(&f);

    f = load_text("a\n1\n2\n\n\n", NULL); /* trailing empty lines */
    assert_int_equal(f->nrows, 2);
    mb_frame_free(&f);
}

/* {====== values ======} */

static void test_missing_values(void **state)
{
    (void)state;
    static const char *const spellings[] = {"",     "NA",  "na",  "N/A", "n/a", "NaN",  "nan",
                                            "?",    "null", "NULL", "Null", " NA ", "\"\"", "\"NA\""};
    size_t n = sizeof spellings / sizeof *spellings;
    char text[1024] = "num,cat\n";
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(text);
        snprintf(text + len, sizeof text - len, "%s,%s\n", spellings[i], spellings[i]);
    }
    strcat(text, "1.5,word\n");
    mb_frame *f = load_text(text, NULL);
    assert_int_equal(f->nrows, n + 1);
    assert_int_equal(f->cols[0].type, MB_COL_NUM);
    assert_int_equal(f->cols[1].type, MB_COL_CAT);
    for (size_t i = 0; i < n; i++) {
        assert_true(isnan(num_at(f, 0, i)));
        assert_null(level_at(f, 1, i));
    }
    assert_true(num_at(f, 0, n) == 1.5f);
    assert_string_equal(level_at(f, 1, n), "word");
    assert_int_equal(f->cols[1].nlevels, 1);
    mb_frame_free(&f);

    /* a quoted value keeps its blanks: " NA " quoted is a level */
    f = load_text("c\n\" NA \"\nNA\n", NULL);
    assert_int_equal(f->cols[0].type, MB_COL_CAT);
    assert_string_equal(level_at(f, 0, 0), " NA ");
    assert_null(level_at(f, 0, 1));
    mb_frame_free(&f);
}

static void test_type_inference(void **state)
{
    (void)state;
    mb_frame *f = load_text("a,b,c,d\n"
                            "3,1,,x\n"
                            "1.5,2, ,y\n"
                            "3,oops,NA,x\n"
                            "-2e3,4,,\n"
                            "  7 ,-inf,,z\n",
                            NULL);
    assert_int_equal(f->nrows, 5);
    assert_int_equal(f->cols[0].type, MB_COL_NUM);
    assert_true(num_at(f, 0, 3) == -2000.0f);
    assert_true(num_at(f, 0, 4) == 7.0f);
    /* one non-number makes b categorical; levels in order of appearance */
    const mb_column *b = &f->cols[1];
    assert_int_equal(b->type, MB_COL_CAT);
    assert_int_equal(b->nlevels, 5);
    static const char *const lv[] = {"1", "2", "oops", "4", "-inf"};
    for (size_t i = 0; i < 5; i++) {
        assert_string_equal(b->levels[i], lv[i]);
        assert_int_equal(b->codes[i], (int32_t)i);
    }
    /* all missing: numeric, all NaN */
    assert_int_equal(f->cols[2].type, MB_COL_NUM);
    for (size_t i = 0; i < 5; i++)
        assert_true(isnan(num_at(f, 2, i)));
    const mb_column *d = &f->cols[3];
    assert_int_equal(d->nlevels, 3);
    assert_int_equal(d->codes[0], 0);
    assert_int_equal(d->codes[1], 1);
    assert_int_equal(d->codes[2], 0);
    assert_int_equal(d->codes[3], -1);
    assert_int_equal(d->codes[4], 2);
    mb_frame_free(&f);
}

/* Each string as one numeric field must read as (float)strtod of it. */
static void check_numbers(const char *const *vals, size_t n)
{
    size_t cap = 64 + n * 48, len = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    len += (size_t)snprintf(text, cap, "v,w\n");
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(text + len, cap - len, "%s,%zu\n", vals[i], i);
    mb_frame *f = load_text(text, NULL);
    assert_int_equal(f->nrows, n);
    assert_int_equal(f->cols[0].type, MB_COL_NUM);
    for (size_t i = 0; i < n; i++) {
        float want = (float)strtod(vals[i], NULL), got = num_at(f, 0, i);
        if (!same_float(want, got))
            print_error("'%s': want %a, got %a\n", vals[i], (double)want, (double)got);
        assert_true(same_float(want, got));
    }
    mb_frame_free(&f);
    free(text);
}

static void test_numbers_exact(void **state)
{
    (void)state;
    static const char *const vals[] = {
        "0.1", "1e-7", "3.4028235e38", "3.4028236e38", "1e39", "-0", "0", "+0.0",
        "123456789012345678901234", "1.17549435e-38", "1.4e-45", "1e-46", "  42  ",
        "0.30000000000000004", "16777217", "16777219", "33554434", "8388608.5", "8388609.5",
        "-8388608.50", "9007199254740993", "0.000000059604645", "5.", ".5", "-.5", "+7",
        "1E5", "1e+5", "2.5E-3", "inf", "-Infinity", "+INF", "00000000000000000000001.5",
        "123456789012345", "12345678901234.5", "1234567.8901234", "0.00000000000001",
        "999999999999999", "1.00000005960464477539", "0.1000000000000000055511151231257827",
        "4.9406564584124654e-324", "2.2250738585072014e-308", "1e-400", "1e400",
    };
    check_numbers(vals, sizeof vals / sizeof *vals);
}

static void test_numbers_random(void **state)
{
    (void)state;
    enum { N = 4000 };
    static char buf[N][40];
    const char *vals[N];
    srand(12345);
    for (size_t i = 0; i < N; i++) {
        char digits[24];
        int nd = 1 + rand() % 17;
        for (int k = 0; k < nd; k++)
            digits[k] = (char)('0' + rand() % 10);
        digits[nd] = '\0';
        const char *sign = rand() % 3 == 0 ? "-" : rand() % 5 == 0 ? "+" : "";
        int dot = rand() % (nd + 2);
        switch (rand() % 4) {
        case 0: /* integer */
            snprintf(buf[i], sizeof buf[i], "%s%s", sign, digits);
            break;
        case 1: /* exponent */
            snprintf(buf[i], sizeof buf[i], "%s%se%d", sign, digits, rand() % 90 - 50);
            break;
        default: /* decimal point somewhere */
            if (dot > nd)
                dot = nd;
            snprintf(buf[i], sizeof buf[i], "%s%.*s.%s", sign, dot, digits, digits + dot);
            break;
        }
        if (rand() % 4 == 0) { /* a float32 printed with %.9g round-trips */
            union { uint32_t u; float f; } bits = {.u = (uint32_t)rand() ^ ((uint32_t)rand() << 16)};
            if (isfinite(bits.f))
                snprintf(buf[i], sizeof buf[i], "%.9g", (double)bits.f);
        }
        vals[i] = buf[i];
    }
    check_numbers(vals, N);
}

/* {====== chunks and refills ======} */

/* A CSV of n rows mixing numbers, levels, quotes, missing values, CRLF. */
static char *mixed_csv(size_t n)
{
    size_t cap = 128 + n * 96, len = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    static const char *const cats[] = {"red", "\"gr,een\"", "blue", "", "\"multi\nline\"",
                                       "NA", "\"say \"\"x\"\"\"", "  padded  "};
    len += (size_t)snprintf(text + len, cap - len, "id,x,colour,y,note\r\n");
    for (size_t i = 0; i < n; i++) {
        len += (size_t)snprintf(text + len, cap - len, "%zu,%s,%s,%.7g,%s%s", i,
                                i % 11 == 3 ? "?" : i % 13 == 5 ? "1.5e-3" : "-0.25",
                                cats[i % 8], (double)i * 0.37 - 50.0, i % 3 ? "n" : "\"q\"",
                                i % 2 ? "\n" : "\r\n");
        if (i % 17 == 0)
            len += (size_t)snprintf(text + len, cap - len, "\n");
    }
    return text;
}

static void test_chunked_matches_load(void **state)
{
    (void)state;
    char *text = mixed_csv(500);
    const char *path = write_tmp(text);
    free(text);

    mb_error err = {0};
    mb_frame *whole = NULL;
    assert_int_equal(mb_csv_load(path, NULL, &whole, &err), MB_OK);
    assert_int_equal(whole->nrows, 500);

    mb_csv *c = NULL;
    assert_int_equal(mb_csv_open(path, NULL, &c, &err), MB_OK);
    mb_frame *schema = mb_csv_schema(c);
    assert_int_equal(schema->nrows, 500);
    assert_null(schema->cols[1].num);
    mb_frame *chunk = mb_csv_chunk_new(c, 7);
    assert_non_null(chunk);
    size_t total = 0, nread = 0, calls = 0;
    for (;;) {
        assert_int_equal(mb_csv_read(c, chunk, &nread, &err), MB_OK);
        if (nread == 0)
            break;
        calls++;
        for (size_t i = 0; i < nread; i++) {
            for (size_t j = 0; j < chunk->ncols; j++) {
                const mb_column *cc = &chunk->cols[j];
                if (cc->type == MB_COL_NUM) {
                    assert_true(same_float(MB_NUM(cc, i), num_at(whole, j, total + i)));
                } else {
                    const char *lw = level_at(whole, j, total + i);
                    int32_t code = cc->codes[i];
                    if (code < 0) {
                        assert_null(lw);
                    } else {
                        assert_true((size_t)code < schema->cols[j].nlevels);
                        assert_string_equal(schema->cols[j].levels[code], lw);
                    }
                }
            }
        }
        total += nread;
    }
    assert_int_equal(total, 500);
    assert_int_equal(calls, (500 + 6) / 7);
    for (size_t j = 0; j < schema->ncols; j++)
        assert_int_equal(schema->cols[j].nlevels, whole->cols[j].nlevels);
    assert_string_equal(level_at(whole, 2, 1), "gr,een");
    assert_string_equal(level_at(whole, 2, 6), "say \"x\"");
    assert_string_equal(level_at(whole, 2, 7), "padded");
    assert_null(level_at(whole, 2, 3));

    /* a frame of another shape is refused */
    mb_frame *wrong = mb_frame_new(3);
    assert_non_null(mb_frame_add_num(wrong, "x", NULL, 1, &err));
    assert_int_equal(mb_csv_read(c, wrong, &nread, &err), MB_EARG);
    mb_frame_free(&wrong);

    mb_frame_free(&chunk);
    mb_csv_close(&c);
    assert_null(c);
    mb_frame_free(&whole);
}

static void test_small_reads(void **state)
{
    (void)state;
    char *text = mixed_csv(60);
    const char *path = write_tmp(text);
    free(text);
    mb_error err = {0};
    mb_frame *ref = NULL;
    assert_int_equal(mb_csv_load(path, NULL, &ref, &err), MB_OK);
    static const size_t sizes[] = {1, 2, 3, 5, 7, 13, 64, 100};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        mbcsv_set_readsize(sizes[k]);
        mb_frame *f = NULL;
        mb_status st = mb_csv_load(path, NULL, &f, &err);
        if (st != MB_OK)
            print_error("read size %zu: %s\n", sizes[k], err.msg);
        assert_int_equal(st, MB_OK);
        assert_frames_equal(ref, f);
        mb_frame_free(&f);
    }
    mbcsv_set_readsize(0);
    mb_frame_free(&ref);
}

static void test_long_record(void **state)
{
    (void)state;
    size_t big = 3u << 20; /* a 3 MiB quoted field: the buffer must grow */
    char *text = malloc(big + 64);
    assert_non_null(text);
    size_t len = (size_t)sprintf(text, "n,t\n1,\"");
    memset(text + len, 'x', big);
    len += big;
    len += (size_t)sprintf(text + len, "\"\n2,short\n");
    const char *path = write_tmp_n(text, len);
    free(text);
    mb_error err = {0};
    mb_frame *f = NULL;
    assert_int_equal(mb_csv_load(path, NULL, &f, &err), MB_OK);
    assert_int_equal(f->nrows, 2);
    assert_int_equal(strlen(level_at(f, 1, 0)), big);
    assert_string_equal(level_at(f, 1, 1), "short");
    mb_frame_free(&f);
}

/* {====== errors ======} */

static void test_err_missing_file(void **state)
{
    (void)state;
    const char *msg = load_fail("/tmp/mb_test_csv_does_not_exist.csv", MB_ENOTFOUND);
    assert_contains(msg, "/tmp/mb_test_csv_does_not_exist.csv");
    assert_contains(msg, strerror(ENOENT));
    msg = load_fail("/tmp", MB_EIO);
    assert_contains(msg, "/tmp");
    assert_contains(msg, strerror(EISDIR));
}

static void test_err_empty_file(void **state)
{
    (void)state;
    const char *path = write_tmp("");
    const char *msg = load_fail(path, MB_EEMPTY);
    assert_contains(msg, path);
    assert_contains(msg, "empty file, expected a header row");
    path = write_tmp("\n\r\n  \n");
    msg = load_fail(path, MB_EEMPTY);
    assert_contains(msg, path);
}

static void test_err_ragged(void **state)
{
    (void)state;
    const char *path = write_tmp("a,b,c,d\n1,2,3,4\n5,6,7,8\n\n\"x\ny\",1,2,3\n9,9,9,9\n1,2,3,4,5\n");
    const char *msg = load_fail(path, MB_EFORMAT);
    assert_contains(msg, path);
    assert_contains(msg, ": line 8: 5 fields, expected 4 (as in the header)");

    path = write_tmp("a;b;c;d\n1;2;3;4\n1;2;3;4\n1;2;3;4\n1;2;3;4\n1;2;3;4\n1;2;3\n");
    msg = load_fail(path, MB_EFORMAT);
    assert_contains(msg, path);
    assert_contains(msg, ": line 7: 3 fields, expected 4");
}

static void test_err_unterminated_quote(void **state)
{
    (void)state;
    char text[512] = "a,b\n";
    for (int i = 2; i < 12; i++)
        strcat(text, "1,x\n");
    strcat(text, "2,\"open\n3,y\n4,z\n");
    const char *path = write_tmp(text);
    const char *msg = load_fail(path, MB_EFORMAT);
    assert_contains(msg, path);
    assert_contains(msg, ": line 12: unterminated quoted field (opened on this line)");
}

static void test_err_after_quote(void **state)
{
    (void)state;
    const char *path = write_tmp("a,b\n1,\"x\"y\n");
    const char *msg = load_fail(path, MB_EFORMAT);
    assert_contains(msg, path);
    assert_contains(msg, ": line 2: field 2: unexpected 'y' after the closing quote");
}

/* A NUL byte or invalid UTF-8 is an error naming the line, the field and
** the column (never cut or replaced silently); valid UTF-8 passes. */
static void test_err_nul_and_utf8(void **state)
{
    (void)state;
    const char nul[] = "a,city\n1,x\n2,ab\0cd\n";
    const char *path = write_tmp_n(nul, sizeof nul - 1);
    const char *msg = load_fail(path, MB_EFORMAT);
    assert_contains(msg, path);
    assert_contains(msg, ": line 3: field 2 ('city') holds a NUL byte");

    path = write_tmp("a,city\n1,x\n2,\"Z\xfcrich\nnorth\"\n3,Gen\xe8ve\n");
    msg = load_fail(path, MB_EFORMAT);
    assert_contains(msg, ": line 3: field 2 ('city'): invalid UTF-8 (byte 0xfc)");

    /* the line is the byte's own line inside a multi-line quoted field */
    path = write_tmp("a,city\n1,\"ok\nok\xff\"\n");
    msg = load_fail(path, MB_EFORMAT);
    assert_contains(msg, ": line 3: field 2 ('city'): invalid UTF-8 (byte 0xff)");

    /* overlong '/', a surrogate, past U+10FFFF, a cut sequence */
    const char *bad[] = {"a\n\xc0\xaf\n", "a\n\xed\xa0\x80\n", "a\n\xf4\x90\x80\x80\n", "a\n\xe2\x82\n"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        msg = load_fail(write_tmp(bad[i]), MB_EFORMAT);
        assert_contains(msg, ": line 2: field 1 ('a'): invalid UTF-8");
        teardown(NULL);
    }

    /* in the header */
    const char hnul[] = "a,b\0c\n1,2\n";
    msg = load_fail(write_tmp_n(hnul, sizeof hnul - 1), MB_EFORMAT);
    assert_contains(msg, ": line 1: field 2 holds a NUL byte");

    /* valid 2-, 3- and 4-byte sequences are kept byte for byte */
    mb_frame *f = load_text("name,v\nZ\xc3\xbcrich,1\n\xe2\x82\xac,2\n\xf0\x9f\x8c\x99,3\n", NULL);
    assert_int_equal(f->cols[0].nlevels, 3);
    assert_string_equal(f->cols[0].levels[0], "Z\xc3\xbcrich");
    assert_string_equal(f->cols[0].levels[1], "\xe2\x82\xac");
    assert_string_equal(f->cols[0].levels[2], "\xf0\x9f\x8c\x99");
    mb_frame_free(&f);
}

/* 100,000 columns stream in chunks of at most 16 Mi values: memory does
** not grow with the chunk size asked for times the column count. */
static void test_wide_file_bounded(void **state)
{
    (void)state;
    enum { NC = 100000, NR = 170 };
    size_t cap = (size_t)NC * 8 + 64;
    char *text = malloc(cap * (NR + 1)), *w = text;
    assert_non_null(text);
    for (int j = 0; j < NC; j++)
        w += sprintf(w, "c%d%c", j, j + 1 < NC ? ',' : '\n');
    for (int i = 0; i < NR; i++)
        for (int j = 0; j < NC; j++)
            w += sprintf(w, "%d%c", (i + j) % 7, j + 1 < NC ? ',' : '\n');
    const char *path = write_tmp_n(text, (size_t)(w - text));
    free(text);
    mb_error err;
    mb_csv *c = NULL;
    assert_int_equal(mb_csv_open(path, NULL, &c, &err), MB_OK);
    assert_int_equal(mb_csv_schema(c)->ncols, NC);
    mb_frame *chunk = mb_csv_chunk_new(c, 65536);
    assert_non_null(chunk);
    assert_int_equal(chunk->nrows, (16u << 20) / NC); /* 167 rows, not 65,536 */
    size_t got = 0, n;
    do {
        assert_int_equal(mb_csv_read(c, chunk, &n, &err), MB_OK);
        for (size_t i = 0; i < n; i += 97)
            for (size_t j = 0; j < NC; j += 9973)
                assert_true(num_at(chunk, j, i) == (float)((got + i + j) % 7));
        got += n;
    } while (n > 0);
    assert_int_equal(got, NR);
    mb_frame_free(&chunk);
    mb_csv_close(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_delim_comma, teardown),
        cmocka_unit_test_teardown(test_delim_semicolon, teardown),
        cmocka_unit_test_teardown(test_delim_tab, teardown),
        cmocka_unit_test_teardown(test_delim_option, teardown),
        cmocka_unit_test_teardown(test_quoted_fields, teardown),
        cmocka_unit_test_teardown(test_crlf, teardown),
        cmocka_unit_test_teardown(test_bom, teardown),
        cmocka_unit_test_teardown(test_utf8_header, teardown),
        cmocka_unit_test_teardown(test_header_names, teardown),
        cmocka_unit_test_teardown(test_header_only, teardown),
        cmocka_unit_test_teardown(test_blank_lines, teardown),
        cmocka_unit_test_teardown(test_missing_values, teardown),
        cmocka_unit_test_teardown(test_type_inference, teardown),
        cmocka_unit_test_teardown(test_numbers_exact, teardown),
        cmocka_unit_test_teardown(test_numbers_random, teardown),
        cmocka_unit_test_teardown(test_chunked_matches_load, teardown),
        cmocka_unit_test_teardown(test_small_reads, teardown),
        cmocka_unit_test_teardown(test_long_record, teardown),
        cmocka_unit_test_teardown(test_err_missing_file, teardown),
        cmocka_unit_test_teardown(test_err_empty_file, teardown),
        cmocka_unit_test_teardown(test_err_ragged, teardown),
        cmocka_unit_test_teardown(test_err_unterminated_quote, teardown),
        cmocka_unit_test_teardown(test_err_after_quote, teardown),
        cmocka_unit_test_teardown(test_err_nul_and_utf8, teardown),
        cmocka_unit_test_teardown(test_wide_file_bounded, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
