/*
** frame.c: the in-memory table (see frame.h for layout and ownership) and
** the string dictionary readers use to build categorical columns.
*/
#include "frame.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

mb_frame *mb_frame_new(size_t nrows)
{
    mb_frame *f = mb_calloc(1, sizeof *f);
    f->nrows = nrows;
    f->target = -1;
    return f;
}

static void column_clear(mb_column *c)
{
    mb_free(c->name);
    mb_free(c->codes);
    for (size_t i = 0; i < c->nlevels; i++)
        mb_free(c->levels[i]);
    mb_free(c->levels);
}

void mb_frame_free(mb_frame **pf)
{
    if (!pf || !*pf)
        return;
    mb_frame *f = *pf;
    for (size_t i = 0; i < f->ncols; i++)
        column_clear(&f->cols[i]);
    mb_free(f->cols);
    for (size_t i = 0; i < f->nblocks; i++)
        mb_free(f->blocks[i]);
    mb_free(f->blocks);
    mb_free(f->source);
    mb_free(f->note);
    mb_free(f->task);
    mb_free(f);
    *pf = NULL;
}

void mb_frame_adopt_block(mb_frame *f, void *block)
{
    f->blocks = mb_realloc(f->blocks, (f->nblocks + 1) * sizeof *f->blocks);
    f->blocks[f->nblocks++] = block;
}

static mb_column *push_column(mb_frame *f, const char *name)
{
    if (f->ncols == f->capcols) {
        f->capcols = f->capcols ? 2 * f->capcols : 8;
        f->cols = mb_realloc(f->cols, f->capcols * sizeof *f->cols);
    }
    mb_column *c = &f->cols[f->ncols];
    memset(c, 0, sizeof *c);
    c->name = mb_strdup(name);
    return c;
}

mb_column *mb_frame_add_num(mb_frame *f, const char *name, float *data, size_t stride,
                            mb_error *err)
{
    if (!data) {
        data = mb_trycalloc(f->nrows, sizeof *data);
        if (!data) {
            mb_fail(err, MB_ENOMEM, "no memory for column '%s' (%zu rows)", name, f->nrows);
            return NULL;
        }
        for (size_t i = 0; i < f->nrows; i++)
            data[i] = NAN;
        mb_frame_adopt_block(f, data);
        stride = 1;
    }
    mb_column *c = push_column(f, name);
    c->type = MB_COL_NUM;
    c->num = data;
    c->stride = stride;
    f->ncols++;
    return c;
}

mb_column *mb_frame_add_cat(mb_frame *f, const char *name, mb_error *err)
{
    int32_t *codes = mb_trycalloc(f->nrows, sizeof *codes);
    if (!codes) {
        mb_fail(err, MB_ENOMEM, "no memory for column '%s' (%zu rows)", name, f->nrows);
        return NULL;
    }
    for (size_t i = 0; i < f->nrows; i++)
        codes[i] = -1;
    mb_column *c = push_column(f, name);
    c->type = MB_COL_CAT;
    c->codes = codes;
    f->ncols++;
    return c;
}

int32_t mb_column_add_level(mb_column *c, const char *s, size_t len)
{
    if (c->nlevels >= INT32_MAX)
        return -1;
    if (c->nlevels == c->caplevels) {
        size_t cap = c->caplevels ? 2 * c->caplevels : 8;
        char **lv = mb_tryrealloc(c->levels, cap * sizeof *lv);
        if (!lv)
            return -1;
        c->levels = lv;
        c->caplevels = cap;
    }
    char *d = mb_trymalloc(len + 1);
    if (!d)
        return -1;
    memcpy(d, s, len);
    d[len] = '\0';
    c->levels[c->nlevels] = d;
    return (int32_t)c->nlevels++;
}

long mb_frame_find(const mb_frame *f, const char *name)
{
    for (size_t i = 0; i < f->ncols; i++)
        if (strcmp(f->cols[i].name, name) == 0)
            return (long)i;
    return -1;
}

void mb_frame_column_list(const mb_frame *f, char *buf, size_t n)
{
    size_t k = 0;
    buf[0] = '\0';
    for (size_t j = 0; j < f->ncols && k + 8 < n; j++)
        k += (size_t)snprintf(buf + k, n - k, "%s%s", j ? ", " : "", f->cols[j].name);
    if (k + 8 >= n && n > 8)
        snprintf(buf + n - 8, 8, ", ...");
}

mb_status mb_frame_set_target(mb_frame *f, const char *name, mb_error *err)
{
    long i = mb_frame_find(f, name);
    if (i < 0) {
        char list[512];
        mb_frame_column_list(f, list, sizeof list);
        return mb_fail(err, MB_ENOTFOUND, "%s: no column named '%s' to use as target (columns: %s)",
                       f->source ? f->source : "frame", name, list);
    }
    f->target = i;
    return MB_OK;
}

void mb_frame_set_note(mb_frame *f, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    mb_free(f->note);
    f->note = mb_strdup(buf);
}

/* {====== string dictionary ======} */

static uint64_t hash_bytes(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

void mb_dict_init(mb_dict *d, mb_column *col)
{
    d->slots = NULL;
    d->nslots = 0;
    d->col = col;
}

void mb_dict_free(mb_dict *d)
{
    mb_free(d->slots);
    d->slots = NULL;
    d->nslots = 0;
}

static int dict_grow(mb_dict *d)
{
    size_t n = d->nslots ? 2 * d->nslots : 64;
    uint32_t *s = mb_trycalloc(n, sizeof *s);
    if (!s)
        return -1;
    for (size_t i = 0; i < d->col->nlevels; i++) {
        const char *lv = d->col->levels[i];
        size_t h = (size_t)hash_bytes(lv, strlen(lv)) & (n - 1);
        while (s[h])
            h = (h + 1) & (n - 1);
        s[h] = (uint32_t)i + 1;
    }
    mb_free(d->slots);
    d->slots = s;
    d->nslots = n;
    return 0;
}

int32_t mb_dict_intern(mb_dict *d, const char *s, size_t len)
{
    if (2 * (d->col->nlevels + 1) > d->nslots && dict_grow(d) < 0)
        return -1;
    size_t mask = d->nslots - 1, h = (size_t)hash_bytes(s, len) & mask;
    while (d->slots[h]) {
        const char *lv = d->col->levels[d->slots[h] - 1];
        if (strncmp(lv, s, len) == 0 && lv[len] == '\0')
            return (int32_t)(d->slots[h] - 1);
        h = (h + 1) & mask;
    }
    int32_t code = mb_column_add_level(d->col, s, len);
    if (code >= 0)
        d->slots[h] = (uint32_t)code + 1;
    return code;
}
