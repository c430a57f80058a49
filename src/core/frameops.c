/*
** frameops.c: new frames from frames (see frameops.h). The numeric columns
** of a result share one new row-major block (strided views, frame.h), so a
** split or a filtered frame goes to a model without another copy;
** categorical columns copy their levels. A result never points into its
** source.
*/
#include "frameops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Append to out a copy of column c taking rows idx (or all rows in order
** when idx is NULL). */
static mb_status copy_column(mb_frame *out, const mb_column *c, const size_t *idx, mb_error *err)
{
    size_t n = out->nrows;
    if (c->type == MB_COL_NUM) {
        mb_column *d = mb_frame_add_num(out, c->name, NULL, 1, err);
        if (!d)
            return MB_ENOMEM;
        for (size_t i = 0; i < n; i++)
            d->num[i] = MB_NUM(c, idx ? idx[i] : i);
        return MB_OK;
    }
    mb_column *d = mb_frame_add_cat(out, c->name, err);
    if (!d)
        return MB_ENOMEM;
    for (size_t k = 0; k < c->nlevels; k++)
        if (mb_column_add_level(d, c->levels[k], strlen(c->levels[k])) < 0)
            return mb_fail(err, MB_ENOMEM, "no memory for levels of '%s'", c->name);
    for (size_t i = 0; i < n; i++)
        d->codes[i] = c->codes[idx ? idx[i] : i];
    return MB_OK;
}

/* Fill out (nrows rows, no columns yet) with columns order[0..norder) of
** f, rows idx (or all, in order, when idx is NULL); numeric features in
** one row-major block, a numeric target in a column of its own. */
static mb_status build(mb_frame *out, const mb_frame *f, const size_t *order, size_t norder,
                       const size_t *idx, mb_error *err)
{
    size_t n = out->nrows, q = 0;
    /* the numeric target gets a contiguous column of its own (as /y beside
    ** /X): labels are read row after row, features a row at a time */
    for (size_t k = 0; k < norder; k++)
        q += f->cols[order[k]].type == MB_COL_NUM && (long)order[k] != f->target;
    float *block = NULL;
    size_t bytes;
    if (q) {
        if (!mb_mul_ok(n, q, &bytes) || !mb_mul_ok(bytes, sizeof(float), &bytes) ||
            !(block = mb_trymalloc_big(bytes + 1)))
            return mb_fail(err, MB_ENOMEM, "no memory for %zu x %zu values", n, q);
        mb_frame_adopt_block(out, block);
    }
    size_t jn = 0;
    const mb_column **num = mb_calloc(q + 1, sizeof *num);
    for (size_t k = 0; k < norder; k++) {
        const mb_column *c = &f->cols[order[k]];
        if (c->type == MB_COL_NUM && (long)order[k] == f->target) {
            mb_status rc = copy_column(out, c, idx, err);
            if (rc != MB_OK) {
                mb_free(num);
                return rc;
            }
        } else if (c->type == MB_COL_NUM) {
            if (!mb_frame_add_num(out, c->name, block + jn, q, err)) {
                mb_free(num);
                return MB_ENOMEM;
            }
            num[jn++] = c;
        } else {
            mb_status rc = copy_column(out, c, idx, err);
            if (rc != MB_OK) {
                mb_free(num);
                return rc;
            }
        }
        if ((long)order[k] == f->target)
            out->target = (long)out->ncols - 1;
    }
    for (size_t i = 0; i < n; i++) {
        size_t r = idx ? idx[i] : i;
        float *row = block + i * q;
        for (size_t j = 0; j < q; j++)
            row[j] = MB_NUM(num[j], r);
    }
    mb_free(num);
    return MB_OK;
}

static size_t *all_columns(const mb_frame *f)
{
    size_t *order = mb_calloc(f->ncols + 1, sizeof *order);
    for (size_t j = 0; j < f->ncols; j++)
        order[j] = j;
    return order;
}

static void copy_meta(mb_frame *out, const mb_frame *f)
{
    if (f->source)
        out->source = mb_strdup(f->source);
    if (f->task)
        out->task = mb_strdup(f->task);
}

mb_status mb_frame_take(const mb_frame *f, const size_t *idx, size_t n, mb_frame **out, mb_error *err)
{
    for (size_t i = 0; i < n; i++)
        if (idx[i] >= f->nrows)
            return mb_fail(err, MB_EARG, "row %zu out of range (the frame has %zu rows)", idx[i] + 1, f->nrows);
    mb_frame *g = mb_frame_new(n);
    size_t *order = all_columns(f);
    mb_status rc = build(g, f, order, f->ncols, idx, err);
    mb_free(order);
    if (rc != MB_OK) {
        mb_frame_free(&g);
        return rc;
    }
    copy_meta(g, f);
    *out = g;
    return MB_OK;
}

mb_status mb_frame_copy(const mb_frame *f, mb_frame **out, mb_error *err)
{
    mb_frame *g = mb_frame_new(f->nrows);
    size_t *order = all_columns(f);
    mb_status rc = build(g, f, order, f->ncols, NULL, err);
    mb_free(order);
    if (rc != MB_OK) {
        mb_frame_free(&g);
        return rc;
    }
    copy_meta(g, f);
    *out = g;
    return MB_OK;
}

static mb_status unknown_column(const mb_frame *f, const char *name, mb_error *err)
{
    char list[512];
    mb_frame_column_list(f, list, sizeof list);
    return mb_fail(err, MB_ENOTFOUND, "no column named '%s' (columns: %s)", name, list);
}

mb_status mb_frame_select(const mb_frame *f, const char *const *names, size_t n, int keep,
                          mb_frame **out, mb_error *err)
{
    char *chosen = mb_calloc(f->ncols + 1, 1);
    size_t *order = mb_calloc(f->ncols + 1, sizeof *order), norder = 0;
    mb_status rc = MB_OK;
    for (size_t i = 0; i < n; i++) {
        long j = mb_frame_find(f, names[i]);
        if (j < 0) {
            rc = unknown_column(f, names[i], err);
            goto exit;
        }
        if (!chosen[j] && keep)
            order[norder++] = (size_t)j;
        chosen[j] = 1;
    }
    if (!keep)
        for (size_t j = 0; j < f->ncols; j++)
            if (!chosen[j] || (long)j == f->target)
                order[norder++] = j;
    if (keep && f->target >= 0 && !chosen[f->target])
        order[norder++] = (size_t)f->target;
    mb_frame *g = mb_frame_new(f->nrows);
    rc = build(g, f, order, norder, NULL, err);
    if (rc != MB_OK) {
        mb_frame_free(&g);
        goto exit;
    }
    copy_meta(g, f);
    *out = g;
exit:
    mb_free(chosen);
    mb_free(order);
    return rc;
}

mb_status mb_frame_concat(const mb_frame *a, const mb_frame *b, mb_frame **out, mb_error *err)
{
    if (a->ncols != b->ncols)
        return mb_fail(err, MB_ESHAPE, "concat: %zu columns and %zu columns", a->ncols, b->ncols);
    size_t n = a->nrows + b->nrows;
    mb_frame *g = mb_frame_new(n);
    mb_status rc = MB_OK;
    for (size_t j = 0; j < a->ncols && rc == MB_OK; j++) {
        const mb_column *ca = &a->cols[j];
        long jb = mb_frame_find(b, ca->name);
        if (jb < 0 || b->cols[jb].type != ca->type) {
            rc = mb_fail(err, MB_ESHAPE, "concat: the second frame has no %s column '%s'",
                         ca->type == MB_COL_NUM ? "numeric" : "categorical", ca->name);
            break;
        }
        const mb_column *cb = &b->cols[jb];
        if (ca->type == MB_COL_NUM) {
            mb_column *d = mb_frame_add_num(g, ca->name, NULL, 1, err);
            if (!d) {
                rc = MB_ENOMEM;
                break;
            }
            for (size_t i = 0; i < a->nrows; i++)
                d->num[i] = MB_NUM(ca, i);
            for (size_t i = 0; i < b->nrows; i++)
                d->num[a->nrows + i] = MB_NUM(cb, i);
        } else {
            mb_column *d = mb_frame_add_cat(g, ca->name, err);
            if (!d) {
                rc = MB_ENOMEM;
                break;
            }
            mb_dict dict;
            mb_dict_init(&dict, d);
            int32_t *map = mb_calloc(cb->nlevels + 1, sizeof *map);
            for (size_t k = 0; k < ca->nlevels; k++)
                mb_dict_intern(&dict, ca->levels[k], strlen(ca->levels[k]));
            for (size_t k = 0; k < cb->nlevels; k++)
                map[k] = mb_dict_intern(&dict, cb->levels[k], strlen(cb->levels[k]));
            for (size_t i = 0; i < a->nrows; i++)
                d->codes[i] = ca->codes[i];
            for (size_t i = 0; i < b->nrows; i++)
                d->codes[a->nrows + i] = cb->codes[i] < 0 ? -1 : map[cb->codes[i]];
            mb_free(map);
            mb_dict_free(&dict);
        }
    }
    if (rc != MB_OK) {
        mb_frame_free(&g);
        return rc;
    }
    g->target = a->target;
    copy_meta(g, a);
    *out = g;
    return MB_OK;
}

mb_status mb_frame_with_column(const mb_frame *f, const char *name, const float *values,
                               const int32_t *codes, char *const *levels, size_t nlevels,
                               mb_frame **out, mb_error *err)
{
    mb_frame *g = mb_frame_new(f->nrows);
    long at = mb_frame_find(f, name);
    mb_status rc = MB_OK;
    for (size_t j = 0; j <= f->ncols && rc == MB_OK; j++) {
        int here = at >= 0 ? (long)j == at : j == f->ncols;
        if (here) {
            mb_column *d = levels ? mb_frame_add_cat(g, name, err) : mb_frame_add_num(g, name, NULL, 1, err);
            if (!d) {
                rc = MB_ENOMEM;
                break;
            }
            if (levels) {
                for (size_t k = 0; k < nlevels; k++)
                    mb_column_add_level(d, levels[k], strlen(levels[k]));
                memcpy(d->codes, codes, f->nrows * sizeof *codes);
            } else {
                memcpy(d->num, values, f->nrows * sizeof *values);
            }
            if ((long)j == f->target)
                g->target = (long)j;
            continue;
        }
        if (j < f->ncols) {
            rc = copy_column(g, &f->cols[j], NULL, err);
            if ((long)j == f->target)
                g->target = (long)g->ncols - 1;
        }
    }
    if (rc != MB_OK) {
        mb_frame_free(&g);
        return rc;
    }
    copy_meta(g, f);
    *out = g;
    return MB_OK;
}

/* {====== sorting ======} */

typedef struct keyed {
    double k;
    size_t i;
} keyed;

/* qsort of pointers into a level array: the text they point at */
static int level_cmp(const void *a, const void *b)
{
    return strcmp(**(char *const *const *)a, **(char *const *const *)b);
}

/* The rank of each level in text order, so codes sort as numbers. */
static mb_status level_ranks(const mb_column *c, double *rank, mb_error *err)
{
    char *const **order = mb_trymalloc((c->nlevels ? c->nlevels : 1) * sizeof *order);
    if (!order)
        return mb_fail(err, MB_ENOMEM, "no memory to sort the %zu levels of '%s'", c->nlevels, c->name);
    for (size_t l = 0; l < c->nlevels; l++)
        order[l] = &c->levels[l];
    qsort(order, c->nlevels, sizeof *order, level_cmp);
    for (size_t r = 0; r < c->nlevels; r++)
        rank[order[r] - c->levels] = (double)r;
    mb_free(order);
    return MB_OK;
}

/* Bottom-up merge sort of a[0..n) by k (stable: ties keep their order). */
static int merge_sort(keyed *a, keyed *tmp, size_t n, int (*progress)(void *, double), void *ud)
{
    const size_t run = 16;
    for (size_t s = 0; s < n; s += run) { /* insertion sort of short runs */
        size_t e = s + run < n ? s + run : n;
        for (size_t i = s + 1; i < e; i++) {
            keyed x = a[i];
            size_t j = i;
            for (; j > s && a[j - 1].k > x.k; j--)
                a[j] = a[j - 1];
            a[j] = x;
        }
    }
    double passes = 1, done = 0;
    for (size_t w = run; w < n; w *= 2)
        passes++;
    keyed *src = a, *dst = tmp;
    for (size_t w = run; w < n; w *= 2) {
        if (progress && progress(ud, ++done / passes))
            return -1;
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t i = lo, j = mid, o = lo;
            while (i < mid && j < hi)
                dst[o++] = src[j].k < src[i].k ? src[j++] : src[i++];
            while (i < mid)
                dst[o++] = src[i++];
            while (j < hi)
                dst[o++] = src[j++];
        }
        keyed *t = src;
        src = dst;
        dst = t;
    }
    if (src != a)
        memcpy(a, src, n * sizeof *a);
    return 0;
}

mb_status mb_frame_order(const mb_frame *f, size_t col, int desc, size_t *idx,
                         int (*progress)(void *ud, double fraction), void *ud, mb_error *err)
{
    if (col >= f->ncols)
        return mb_fail(err, MB_EARG, "sort: column %zu of a frame with %zu columns", col + 1, f->ncols);
    const mb_column *c = &f->cols[col];
    size_t n = f->nrows, m = 0, bytes;
    keyed *a = NULL, *tmp = NULL;
    double *rank = NULL;
    mb_status rc = MB_OK;
    if (!mb_mul_ok(n ? n : 1, sizeof *a, &bytes) || !(a = mb_trymalloc_big(bytes)) ||
        !(tmp = mb_trymalloc_big(bytes))) {
        rc = mb_fail(err, MB_ENOMEM, "sort: no memory to order %zu rows by '%s'", n, c->name);
        goto exit;
    }
    if (c->type == MB_COL_CAT) {
        if (!(rank = mb_trymalloc((c->nlevels ? c->nlevels : 1) * sizeof *rank))) {
            rc = mb_fail(err, MB_ENOMEM, "sort: no memory for the levels of '%s'", c->name);
            goto exit;
        }
        if ((rc = level_ranks(c, rank, err)) != MB_OK)
            goto exit;
    }
    /* present values first (to be sorted), missing ones after, in row order */
    size_t nmiss = 0;
    for (size_t i = 0; i < n; i++) {
        double v;
        if (c->type == MB_COL_NUM)
            v = MB_NUM(c, i);
        else
            v = c->codes[i] >= 0 && (size_t)c->codes[i] < c->nlevels ? rank[c->codes[i]] : (double)NAN;
        if (isnan(v))
            idx[n - 1 - nmiss++] = i; /* reversed below */
        else
            a[m++] = (keyed){desc ? -v : v, i};
    }
    if (merge_sort(a, tmp, m, progress, ud) != 0) {
        rc = mb_fail(err, MB_ECANCELLED, "sort by '%s': cancelled", c->name);
        goto exit;
    }
    for (size_t i = 0; i < m; i++)
        idx[i] = a[i].i;
    for (size_t lo = m, hi = n; hi > lo + 1; lo++, hi--) { /* the missing rows back in order */
        size_t t = idx[lo];
        idx[lo] = idx[hi - 1];
        idx[hi - 1] = t;
    }
exit:
    mb_free(a);
    mb_free(tmp);
    mb_free(rank);
    return rc;
}
