/*
** inspect.c: `moonbench inspect FILE[:/PATH]`: the tree of groups and
** datasets (shape, type, chunks, filters, attributes) and a summary of the
** columns of the table the file holds, laid out for an 80-column terminal
** (a column name too long for its cell gets a line of its own, never cut;
** PyTables' index groups are hidden unless --all).
*/
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "frame.h"
#include "h5io.h"
#include "io.h"
#include "stats.h"

#define WIDTH 80

/* Print s in at most w display columns (UTF-8 aware; cut ones end in '~';
** a newline shows as U+21B5, other control characters as U+00B7, so a
** value never breaks the layout); returns the columns used. */
static int put_cut(const char *s, int w)
{
    int cols = 0;
    const char *p = s;
    while (*p && cols < w) {
        const char *q = p + 1;
        while ((*q & 0xC0) == 0x80)
            q++;
        if (cols == w - 1 && *q) {
            fputc('~', stdout);
            return w;
        }
        if ((unsigned char)*p < 0x20)
            fputs(*p == '\n' ? "\xe2\x86\xb5" : "\xc2\xb7", stdout); /* U+21B5, U+00B7 */
        else
            fwrite(p, 1, (size_t)(q - p), stdout);
        cols++;
        p = q;
    }
    return cols;
}

/* Display columns of UTF-8 text. */
static int display_width(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += (*s & 0xC0) != 0x80;
    return n;
}

/* s left-aligned in exactly w columns. */
static void put_cell(const char *s, int w)
{
    for (int c = put_cut(s, w); c < w; c++)
        fputc(' ', stdout);
}

/* A number in at most w characters, with as many digits as fit. */
static void fmt_num(char *buf, size_t n, double v, int w)
{
    if (isnan(v)) {
        snprintf(buf, n, "-");
        return;
    }
    for (int p = 6; p >= 1; p--) {
        snprintf(buf, n, "%.*g", p, v);
        if ((int)strlen(buf) <= w)
            return;
    }
    snprintf(buf, n, "%.0e", v);
}

/* Print text wrapped at spaces to WIDTH columns. */
static void put_wrapped(const char *s)
{
    while (strlen(s) > WIDTH) {
        const char *cut = s + WIDTH;
        while (cut > s && *cut != ' ')
            cut--;
        if (cut == s)
            break;
        printf("%.*s\n", (int)(cut - s), s);
        s = cut + 1;
    }
    printf("%s\n", s);
}

/* {====== tree ======} */

/* PyTables keeps a table's index in groups named _i_<table>: machinery,
** not data. They are hidden unless --all. */
static int in_index_internals(const char *path, int *root)
{
    const char *p = strstr(path, "/_i_");
    if (!p && strncmp(path, "_i_", 3) != 0)
        return 0;
    if (!p)
        p = path - 1;
    *root = strchr(p + 1, '/') == NULL;
    return 1;
}

static int print_node(const mb_h5_node *nd, void *ud)
{
    const int *all = ud;
    const char *name = strrchr(nd->path, '/');
    name = (name && name[1]) ? name + 1 : nd->path;
    int indent = 2 * nd->depth, root = 0;
    if (!*all && in_index_internals(nd->path, &root)) {
        if (root)
            printf("%*s%s%s  (PyTables index internals; --all shows them)\n", indent, "", name,
                   nd->is_group ? "/" : "");
        return 0;
    }
    char head[512];
    snprintf(head, sizeof head, "%*s%s%s", indent, "", name,
             nd->is_group && strcmp(name, "/") ? "/" : "");
    if (nd->is_group) {
        put_cut(head, WIDTH);
        fputc('\n', stdout);
    } else {
        char shape[160] = "", store[200] = "";
        size_t k = 0;
        if (nd->rank == 0)
            snprintf(shape, sizeof shape, "scalar");
        for (int i = 0; i < nd->rank; i++)
            k += (size_t)snprintf(shape + k, sizeof shape - k, "%s%llu", i ? " x " : "", nd->dims[i]);
        k = 0;
        if (nd->chunked) {
            k = (size_t)snprintf(store, sizeof store, "chunks ");
            for (int i = 0; i < nd->rank; i++)
                k += (size_t)snprintf(store + k, sizeof store - k, "%s%llu", i ? "x" : "", nd->chunk[i]);
        } else {
            k = (size_t)snprintf(store, sizeof store, "contiguous");
        }
        if (nd->filters[0])
            snprintf(store + k, sizeof store - k, " %s", nd->filters);
        char line[1024];
        put_cell(head, 20);
        snprintf(line, sizeof line, " %-11s %-15s %s", nd->type, shape, store);
        put_cut(line, WIDTH - 20);
        fputc('\n', stdout);
    }
    for (size_t i = 0; i < nd->nattrs; i++) {
        char line[1024];
        snprintf(line, sizeof line, "%*s  @%s = %s", indent, "", nd->attrs[i].name, nd->attrs[i].value);
        put_cut(line, WIDTH);
        fputc('\n', stdout);
    }
    return 0;
}

/* {====== column summary ======} */

#define NAMEW 15

static int summarise(const mb_frame *f)
{
    printf("%zu rows x %zu columns", f->nrows, f->ncols);
    if (f->target >= 0)
        printf(", target: %s", f->cols[f->target].name);
    printf("\n");
    if (f->note)
        printf("note: %s\n", f->note);
    printf("\n");
    put_cell("column", NAMEW);
    printf(" %7s %5s %6s %6s %6s %6s %6s %6s %6s\n", "count", "miss", "mean", "std", "min", "25%",
           "50%", "75%", "max");
    for (size_t j = 0; j < f->ncols; j++) {
        const mb_column *c = &f->cols[j];
        mb_colstats st;
        mb_error err;
        if (mb_colstats_compute(f, c, &st, &err) != MB_OK)
            return mb_cli_error(&err);
        char name[600];
        snprintf(name, sizeof name, "%s%s", c->name, (long)j == f->target ? "*" : "");
        if (display_width(name) > NAMEW) {
            /* a long name gets its own line, whole; its figures follow on the next */
            put_cut(name, 1 << 20);
            fputc('\n', stdout);
            name[0] = '\0';
        }
        put_cell(name, NAMEW);
        printf(" %7zu %5zu", st.count, st.missing);
        if (c->type == MB_COL_NUM) {
            double v[7] = {st.mean, st.std, st.min, st.q25, st.q50, st.q75, st.max};
            for (int k = 0; k < 7; k++) {
                char b[32];
                fmt_num(b, sizeof b, v[k], 6);
                printf(" %6s", b);
            }
            fputc('\n', stdout);
        } else {
            char line[1024];
            size_t k = (size_t)snprintf(line, sizeof line, " %zu distinct:", st.distinct);
            for (size_t t = 0; t < st.ntop && k < sizeof line; t++)
                k += (size_t)snprintf(line + k, sizeof line - k, " %s %zu%s",
                                      c->levels[st.top[t].code], st.top[t].count,
                                      t + 1 < st.ntop ? "," : "");
            put_cut(line, WIDTH - NAMEW - 14);
            fputc('\n', stdout);
        }
    }
    if (f->target >= 0)
        printf("(* target)\n");
    return 0;
}

static int inspect_one(const char *spec, int all)
{
    char *file, *object;
    mb_error err;
    int status = 0;
    mb_split_spec(spec, &file, &object);
    mb_format fmt = mb_guess_format(file);
    if (fmt == MB_FMT_HDF5) {
        printf("%s (HDF5)\n", file);
        if (mb_h5_walk(file, object, print_node, &all, &err) != MB_OK) {
            status = mb_cli_error(&err);
            goto exit;
        }
        printf("\n");
    }
    mb_frame *f = NULL;
    if (mb_open(spec, &f, &err) != MB_OK) {
        /* A file of many unrelated datasets has no one table to summarise:
        ** the tree above is the answer, with the hint how to pick one. */
        if (fmt == MB_FMT_HDF5 && err.code == MB_ENOTFOUND && !object) {
            put_wrapped(err.msg);
            goto exit;
        }
        status = mb_cli_error(&err);
        goto exit;
    }
    printf("%s: ", f->source ? f->source : spec);
    status = summarise(f);
    mb_frame_free(&f);
exit:
    mb_free(file);
    mb_free(object);
    return status;
}

int mb_cmd_inspect(int argc, char **argv)
{
    int all = 0, files = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--all"))
            all = 1;
        else if (argv[i][0] == '-' && argv[i][1])
            return mb_cli_usage("inspect", "unknown option '%s'", argv[i]);
        else
            files++;
    }
    if (!files)
        return mb_cli_usage("inspect", "name a file");
    int status = 0, shown = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--all"))
            continue;
        if (shown++)
            printf("\n");
        int s = inspect_one(argv[i], all);
        if (s)
            status = s;
    }
    return status;
}
