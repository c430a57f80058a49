/*
** dataset.c: frames to model inputs (see dataset.h).
*/
#include "dataset.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *mb_task_name(mb_task t)
{
    switch (t) {
    case MB_TASK_REGRESSION:
        return "regression";
    case MB_TASK_BINARY:
        return "binary";
    case MB_TASK_MULTICLASS:
        return "multiclass";
    }
    return "unknown";
}

mb_task mb_task_from_name(const char *name)
{
    return !name                        ? 0
           : !strcmp(name, "regression") ? MB_TASK_REGRESSION
           : !strcmp(name, "binary")     ? MB_TASK_BINARY
           : !strcmp(name, "multiclass") ? MB_TASK_MULTICLASS
                                         : 0;
}

mb_status mb_matrix_from_frame(const mb_frame *f, mb_matrix *X, float **owned, mb_error *err)
{
    const char *src = f->source ? f->source : "data";
    size_t p = 0;
    const mb_column *first = NULL;
    int view = 1;
    for (size_t j = 0; j < f->ncols; j++) {
        const mb_column *c = &f->cols[j];
        if ((long)j == f->target)
            continue;
        if (c->type != MB_COL_NUM)
            return mb_fail(err, MB_ETYPE,
                           "%s: column '%s' is categorical; models take numbers: encode it first "
                           "(one-hot or ordinal in a pipeline) or drop it",
                           src, c->name);
        if (!first)
            first = c;
        else if (c->stride != first->stride || c->num != first->num + p)
            view = 0;
        p++;
    }
    if (p == 0)
        return mb_fail(err, MB_EEMPTY, "%s: no feature columns", src);
    *owned = NULL;
    if (view && first->stride >= p) {
        *X = (mb_matrix){first->num, f->nrows, p, first->stride};
        return MB_OK;
    }
    size_t n;
    if (!mb_mul_ok(f->nrows, p, &n) || !mb_mul_ok(n, sizeof(float), &n))
        return mb_fail(err, MB_ENOMEM, "%s: too large", src);
    float *x = mb_trymalloc(n);
    if (!x)
        return mb_fail(err, MB_ENOMEM, "%s: no memory for a %zu x %zu matrix", src, f->nrows, p);
    /* Column by column over blocks of rows, so a block's rows stay in the
    ** cache while each column fills them: a whole column at a time wrote a
    ** strided float to every row of a matrix far bigger than the cache. */
    enum { BLOCK = 512 };
    for (size_t i0 = 0; i0 < f->nrows; i0 += BLOCK) {
        size_t i1 = i0 + BLOCK < f->nrows ? i0 + BLOCK : f->nrows, k = 0;
        for (size_t j = 0; j < f->ncols; j++) {
            const mb_column *c = &f->cols[j];
            if ((long)j == f->target)
                continue;
            for (size_t i = i0; i < i1; i++)
                x[i * p + k] = MB_NUM(c, i);
            k++;
        }
    }
    *owned = x;
    *X = (mb_matrix){x, f->nrows, p, p};
    return MB_OK;
}

size_t mb_hash_float(float v, unsigned log2_slots)
{
    /* Fibonacci hashing keeps the product's high bits: the low bits of a
    ** float that holds a small integer are all zero, and so are the
    ** product's, so masking them put every integer label in one slot (a
    ** linear probe as long as the set: 1000 integer targets cost ~500
    ** probes a row). */
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    return (size_t)((bits * 2654435761u) >> (32 - log2_slots));
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* A numeric target t of n rows into out's labels: its distinct values
** decide classification when no task is given (*task 0: integers, at most
** 20 distinct, binary at 2), found in one pass with a small hash set that
** gives up past 1000 values (then it is regression), so this stays O(n).
** Classes are the sorted distinct values. */
static mb_status numeric_target(const mb_column *t, size_t n, const char *src, mb_task *task, mb_data *out,
                                mb_error *err)
{
    size_t missing = 0;
    enum { LOG2CAP = 11, CAP = 1 << LOG2CAP, MAXD = 1000 };
    float set[CAP];
    unsigned char used[CAP];
    memset(used, 0, sizeof used);
    size_t nd = 0;
    int integral = 1;
    /* The first 8 distinct values, NaN-padded, compared all at once
    ** without branches: class labels in random order made the old "same
    ** as the last row" test a coin toss for the branch predictor. */
    enum { NFIRST = 8 };
    float first[NFIRST];
    for (int k = 0; k < NFIRST; k++)
        first[k] = NAN;
    for (size_t i = 0; i < n; i++) {
        float v = MB_NUM(t, i);
        if (!isfinite(v)) {
            missing++;
            continue;
        }
        if (v == 0.0f)
            v = 0.0f; /* -0 is the class 0, not a class of its own */
        int seen = 0;
        for (int k = 0; k < NFIRST; k++)
            seen |= v == first[k];
        if (seen || nd > MAXD)
            continue;
        size_t h = mb_hash_float(v, LOG2CAP);
        while (used[h] && set[h] != v)
            h = (h + 1) & (CAP - 1);
        if (!used[h]) {
            used[h] = 1;
            set[h] = v;
            integral &= v == floorf(v);
            if (nd < NFIRST)
                first[nd] = v;
            nd++;
        }
    }
    if (missing)
        return mb_fail(err, MB_EARG, "%s: the target '%s' is missing or not finite in %zu of %zu rows; "
                       "drop or fill those rows first", src, t->name, missing, n);
    if (!*task)
        *task = (integral && nd <= 20) ? (nd <= 2 ? MB_TASK_BINARY : MB_TASK_MULTICLASS)
                                      : MB_TASK_REGRESSION;
    if (*task == MB_TASK_REGRESSION) {
        for (size_t i = 0; i < n; i++)
            out->ybuf[i] = MB_NUM(t, i);
    } else {
        if (nd > MAXD)
            return mb_fail(err, MB_EARG, "%s: the target '%s' has more than %d distinct values; too many "
                           "classes (is this regression?)", src, t->name, MAXD);
        float sorted[MAXD + 1];
        size_t k = 0;
        for (size_t h = 0; h < CAP; h++)
            if (used[h])
                sorted[k++] = set[h];
        qsort(sorted, nd, sizeof *sorted, cmp_float);
        out->class_names = mb_calloc(nd + 1, sizeof *out->class_names);
        for (size_t c = 0; c < nd; c++) {
            char b[32];
            snprintf(b, sizeof b, "%.9g", (double)sorted[c]);
            out->class_names[c] = mb_strdup(b);
        }
        out->ds.nclasses = nd;
        /* few classes: a value's index is how many classes are below it,
        ** counted over 16 +inf-padded slots without a branch */
        float few[16];
        for (size_t c = 0; c < 16; c++)
            few[c] = c < nd ? sorted[c] : INFINITY;
        for (size_t i = 0; i < n; i++) {
            float v = MB_NUM(t, i);
            size_t lo = 0, hi = nd;
            if (nd <= 16) {
                for (size_t c = 0; c < 16; c++)
                    lo += few[c] < v;
            } else {
                while (hi - lo > 1) {
                    size_t mid = (lo + hi) / 2;
                    if (sorted[mid] <= v)
                        lo = mid;
                    else
                        hi = mid;
                }
            }
            out->ybuf[i] = (float)lo;
        }
    }
    return MB_OK;
}

mb_status mb_data_from_frame(const mb_frame *f, mb_task want, mb_data *out, mb_error *err)
{
    memset(out, 0, sizeof *out);
    const char *src = f->source ? f->source : "data";
    if (f->target < 0)
        return mb_fail(err, MB_EARG, "%s: no target column; name one (--target COLUMN)", src);
    if (f->nrows == 0)
        return mb_fail(err, MB_EEMPTY, "%s: no rows", src);
    const mb_column *t = &f->cols[f->target];
    mb_status rc = mb_matrix_from_frame(f, &out->ds.X, &out->xbuf, err);
    if (rc != MB_OK)
        return rc;
    size_t n = f->nrows;
    out->ybuf = mb_trymalloc(n * sizeof(float));
    if (!out->ybuf) {
        mb_data_free(out);
        return mb_fail(err, MB_ENOMEM, "%s: no memory for labels", src);
    }
    /* Missing labels: counted here for categorical targets, in the
    ** distinct-value pass below for numeric ones (one pass over the rows). */
    size_t missing = 0;
    if (t->type == MB_COL_CAT)
        for (size_t i = 0; i < n; i++)
            missing += t->codes[i] < 0;
    if (missing) {
        mb_data_free(out);
        return mb_fail(err, MB_EARG, "%s: the target '%s' is missing or not finite in %zu of %zu rows; "
                       "drop or fill those rows first", src, t->name, missing, n);
    }
    mb_task task = want;
    if (!task && f->task) {
        task = mb_task_from_name(f->task);
        if (!task) {
            mb_data_free(out);
            return mb_fail(err, MB_EFORMAT, "%s: the file declares task '%s'; expected regression, binary or "
                           "multiclass", src, f->task);
        }
    }
    /* Where the task came from, for messages. */
    const char *asked = want ? "asked for" : "declared by the file";
    if (t->type == MB_COL_CAT) {
        if (task == MB_TASK_REGRESSION) {
            mb_data_free(out);
            return mb_fail(err, MB_ETYPE, "%s: the target '%s' is categorical; regression (%s) needs numbers",
                           src, t->name, asked);
        }
        out->class_names = mb_calloc(t->nlevels + 1, sizeof *out->class_names);
        for (size_t k = 0; k < t->nlevels; k++)
            out->class_names[k] = mb_strdup(t->levels[k]);
        out->ds.nclasses = t->nlevels;
        for (size_t i = 0; i < n; i++)
            out->ybuf[i] = (float)t->codes[i];
        if (!task)
            task = MB_TASK_MULTICLASS; /* binary when 2 classes, below */
    } else if ((rc = numeric_target(t, n, src, &task, out, err)) != MB_OK) {
        mb_data_free(out);
        return rc;
    }
    if (task != MB_TASK_REGRESSION) {
        if (out->ds.nclasses < 2) {
            mb_data_free(out);
            return mb_fail(err, MB_EARG, "%s: the target '%s' has only one class", src, t->name);
        }
        if (task == MB_TASK_BINARY && out->ds.nclasses > 2 && (want || f->task)) {
            size_t k = out->ds.nclasses;
            mb_data_free(out);
            return mb_fail(err, MB_EARG, "%s: task binary (%s), but the target '%s' has %zu classes; "
                           "use multiclass", src, asked, t->name, k);
        }
        if (task == MB_TASK_BINARY && out->ds.nclasses > 2)
            task = MB_TASK_MULTICLASS;
        if (task == MB_TASK_MULTICLASS && out->ds.nclasses == 2)
            task = MB_TASK_BINARY;
    }
    out->ds.task = task;
    out->ds.y = out->ybuf;
    out->feature_names = mb_calloc(out->ds.X.cols + 1, sizeof *out->feature_names);
    for (size_t j = 0, k = 0; j < f->ncols; j++)
        if ((long)j != f->target)
            out->feature_names[k++] = f->cols[j].name;
    out->ds.feature_names = out->feature_names;
    return MB_OK;
}

mb_status mb_data_from_frame_weighted(const mb_frame *f, mb_task want, const char *weights, mb_data *out,
                                      mb_error *err)
{
    if (!weights)
        return mb_data_from_frame(f, want, out, err);
    const char *src = f->source ? f->source : "data";
    long j = mb_frame_find(f, weights);
    if (j < 0)
        return mb_fail(err, MB_ENOTFOUND, "%s: no column named '%s' for the sample weights", src, weights);
    if (j == f->target)
        return mb_fail(err, MB_EARG, "%s: '%s' is the target; it cannot also be the weights", src, weights);
    const mb_column *c = &f->cols[j];
    if (c->type != MB_COL_NUM)
        return mb_fail(err, MB_ETYPE, "%s: the weights column '%s' is categorical; weights are numbers", src, weights);
    double total = 0;
    for (size_t i = 0; i < f->nrows; i++) {
        float w = MB_NUM(c, i);
        if (!isfinite(w) || w < 0)
            return mb_fail(err, MB_EARG, "%s: weight %g in row %zu of '%s'; weights must be finite and >= 0", src,
                           (double)w, i + 1, weights);
        total += (double)w;
    }
    if (!(total > 0))
        return mb_fail(err, MB_EARG, "%s: every weight in '%s' is 0", src, weights);
    /* A view of f without the weights column: it shares f's columns and
    ** owns nothing (no blocks), so it is only read, never freed. */
    mb_frame view = *f;
    view.cols = mb_malloc((f->ncols ? f->ncols : 1) * sizeof *view.cols);
    view.ncols = 0;
    for (size_t k = 0; k < f->ncols; k++)
        if ((long)k != j)
            view.cols[view.ncols++] = f->cols[k];
    view.target = f->target > j ? f->target - 1 : f->target;
    view.blocks = NULL;
    view.nblocks = 0;
    mb_status rc = mb_data_from_frame(&view, want, out, err);
    mb_free(view.cols);
    if (rc != MB_OK)
        return rc;
    out->wbuf = mb_trymalloc((f->nrows ? f->nrows : 1) * sizeof *out->wbuf);
    if (!out->wbuf) {
        mb_data_free(out);
        return mb_fail(err, MB_ENOMEM, "%s: no memory for weights", src);
    }
    for (size_t i = 0; i < f->nrows; i++)
        out->wbuf[i] = MB_NUM(c, i);
    out->ds.w = out->wbuf;
    return MB_OK;
}

mb_status mb_matrix_by_names(const mb_frame *f, const char *const *names, size_t n, const char *what,
                             mb_matrix *X, float **owned, mb_error *err)
{
    *owned = NULL;
    size_t rows = f->nrows;
    const mb_column **cols = mb_calloc(n + 1, sizeof *cols);
    int view = n > 0;
    for (size_t j = 0; j < n; j++) {
        long c = mb_frame_find(f, names[j]);
        if (c < 0 || f->cols[c].type != MB_COL_NUM) {
            mb_free(cols);
            return c < 0 ? mb_fail(err, MB_ENOTFOUND, "%s: the data has no column '%s', which the model was trained on",
                                   what, names[j])
                         : mb_fail(err, MB_ETYPE, "%s: column '%s' is categorical; the model takes numbers", what,
                                   names[j]);
        }
        cols[j] = &f->cols[c];
        if (j && (cols[j]->stride != cols[0]->stride || cols[j]->num != cols[0]->num + j))
            view = 0;
    }
    if (view && cols[0]->stride >= n) {
        *X = (mb_matrix){cols[0]->num, rows, n, cols[0]->stride};
        mb_free(cols);
        return MB_OK;
    }
    size_t bytes;
    float *x = NULL;
    if (!mb_mul_ok(rows, n, &bytes) || !mb_mul_ok(bytes, sizeof *x, &bytes) || !(x = mb_trymalloc(bytes + 1))) {
        mb_free(cols);
        return mb_fail(err, MB_ENOMEM, "%s: no memory for %zu x %zu features", what, rows, n);
    }
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < n; j++)
            x[i * n + j] = MB_NUM(cols[j], i);
    mb_free(cols);
    *X = (mb_matrix){x, rows, n, n};
    *owned = x;
    return MB_OK;
}

void mb_data_free(mb_data *d)
{
    mb_free(d->wbuf);
    if (d->class_names)
        for (size_t k = 0; d->class_names[k]; k++)
            mb_free(d->class_names[k]);
    mb_free(d->class_names);
    mb_free(d->feature_names);
    mb_free(d->xbuf);
    mb_free(d->ybuf);
    memset(d, 0, sizeof *d);
}

mb_dataset mb_dataset_rows(const mb_dataset *d, size_t start, size_t n)
{
    mb_dataset v = *d;
    v.X.x = d->X.x + start * d->X.ld;
    v.X.rows = n;
    v.y = d->y ? d->y + start : NULL;
    v.w = d->w ? d->w + start : NULL;
    return v;
}
