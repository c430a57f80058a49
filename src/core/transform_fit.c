/*
** transform_fit.c: fitting a transform on training rows: the columns it
** takes, then per kind the statistics (moments, fill values, levels) that
** apply will use (see transform.c for the design).
*/
#include "transform_int.h"
#include "stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* {====== fit ======} */

/* The columns to fit: the option's list (checked against the frame) or
** every applicable column but the target. idx gets their frame indices. */
static mb_status pick_columns(const mb_transform *t, const mb_frame *f, tstate *st, long **idx,
                              mb_error *err)
{
    const char *kn = mbt_kinds[t->kind].name;
    twant want = mbt_kind_wants(t->kind, t->strategy);
    size_t cap = t->opt_cols ? t->nopt_cols : f->ncols;
    st->cols = mb_malloc((cap ? cap : 1) * sizeof *st->cols);
    *idx = mb_malloc((cap ? cap : 1) * sizeof **idx);
    st->n = 0;
    if (!t->opt_cols) {
        for (size_t j = 0; j < f->ncols; j++) {
            const mb_column *c = &f->cols[j];
            if ((long)j == f->target || (want == W_NUM && c->type != MB_COL_NUM) ||
                (want == W_CAT && c->type != MB_COL_CAT))
                continue;
            (*idx)[st->n] = (long)j;
            st->cols[st->n++] = mb_strdup(c->name);
        }
        return MB_OK;
    }
    for (size_t i = 0; i < t->nopt_cols; i++) {
        const char *name = t->opt_cols[i];
        long j = mb_frame_find(f, name);
        if (j < 0)
            return mb_fail(err, MB_ENOTFOUND, "transform '%s': the training data has no column '%s'", kn,
                           name);
        if (j == f->target) {
            if (t->kind == K_SELECT)
                continue; /* select keeps the target anyway */
            return mb_fail(err, MB_EARG,
                           "transform '%s': column '%s' is the target, which transforms never change", kn,
                           name);
        }
        const mb_column *c = &f->cols[j];
        if (want == W_NUM && c->type != MB_COL_NUM) {
            if (t->kind == K_IMPUTE)
                return mb_fail(err, MB_ETYPE,
                               "transform 'impute': column '%s' is categorical; strategy '%s' needs numeric "
                               "columns (use most_frequent or constant)",
                               name, mbt_strategy_names[t->strategy]);
            return mb_fail(err, MB_ETYPE, "transform '%s': column '%s' is categorical; %s needs numeric columns",
                           kn, name, kn);
        }
        if (want == W_CAT && c->type != MB_COL_CAT)
            return mb_fail(err, MB_ETYPE,
                           "transform '%s': column '%s' is numeric; %s needs categorical columns", kn, name, kn);
        (*idx)[st->n] = j;
        st->cols[st->n++] = mb_strdup(name);
    }
    return MB_OK;
}

/* standardize and minmax: two passes over the rows (moments, then the
** corrected two-pass variance), all columns at once so a row-major block is
** read in order. */
static mb_status fit_scale(const mb_transform *t, const mb_frame *f, const long *idx, tstate *st,
                           mb_error *err)
{
    size_t n = st->n, m = n ? n : 1;
    mb_status rc = MB_OK;
    const float **x = mb_malloc(m * sizeof *x);
    size_t *sx = mb_malloc(m * sizeof *sx), *cnt = mb_calloc(m, sizeof *cnt);
    double *sum = mb_calloc(m, sizeof *sum), *mn = mb_malloc(m * sizeof *mn), *mx = mb_malloc(m * sizeof *mx);
    double *s1 = mb_calloc(m, sizeof *s1), *s2 = mb_calloc(m, sizeof *s2);
    st->a = mb_malloc(m * sizeof *st->a);
    st->b = mb_malloc(m * sizeof *st->b);
    for (size_t k = 0; k < n; k++) {
        x[k] = f->cols[idx[k]].num;
        sx[k] = f->cols[idx[k]].stride;
        mn[k] = INFINITY;
        mx[k] = -INFINITY;
    }
    for (size_t i = 0; i < f->nrows; i++)
        for (size_t k = 0; k < n; k++) {
            float v = x[k][i * sx[k]];
            if (isnan(v))
                continue;
            double d = (double)v;
            cnt[k]++;
            sum[k] += d;
            if (d < mn[k])
                mn[k] = d;
            if (d > mx[k])
                mx[k] = d;
        }
    for (size_t k = 0; k < n; k++)
        if (cnt[k] == 0) {
            rc = mb_fail(err, MB_EEMPTY, "transform '%s': column '%s' has no values in the training data",
                         mbt_kinds[t->kind].name, st->cols[k]);
            goto exit;
        }
    if (t->kind == K_MINMAX) {
        for (size_t k = 0; k < n; k++) {
            double range = mx[k] - mn[k];
            st->a[k] = mn[k];
            st->b[k] = range > 0 ? range : 1.0; /* as scikit-learn: constant -> 0 */
        }
        goto exit;
    }
    for (size_t k = 0; k < n; k++)
        st->a[k] = mn[k] == mx[k] ? mn[k] : sum[k] / (double)cnt[k];
    for (size_t i = 0; i < f->nrows; i++)
        for (size_t k = 0; k < n; k++) {
            float v = x[k][i * sx[k]];
            if (isnan(v))
                continue;
            double d = (double)v - st->a[k];
            s1[k] += d;
            s2[k] += d * d;
        }
    for (size_t k = 0; k < n; k++) {
        double c = (double)cnt[k], var = (s2[k] - s1[k] * s1[k] / c) / c;
        double sd = sqrt(var > 0 ? var : 0);
        /* a constant column (or one whose spread is not a number) keeps scale 1 */
        st->b[k] = mn[k] == mx[k] || !(sd > 0) ? 1.0 : sd;
    }
exit:
    mb_free(x);
    mb_free(sx);
    mb_free(cnt);
    mb_free(sum);
    mb_free(mn);
    mb_free(mx);
    mb_free(s1);
    mb_free(s2);
    return rc;
}

/* The fill value of a numeric column; buf has room for nrows floats and
** scratch for 2 nrows words (mb_sort_floats). */
static double impute_num(int strategy, double fill, const mb_column *c, size_t nrows, float *buf,
                         uint32_t *scratch, int *missing)
{
    size_t n = 0;
    double sum = 0;
    for (size_t i = 0; i < nrows; i++) {
        float v = MB_NUM(c, i);
        if (isnan(v))
            continue;
        if (buf)
            buf[n] = v;
        sum += (double)v;
        n++;
    }
    *missing = n < nrows;
    if (strategy == S_CONSTANT)
        return fill;
    if (n == 0)
        return 0; /* no values: 0, as scikit-learn's keep_empty_features */
    if (strategy == S_MEAN)
        return sum / (double)n;
    mb_sort_floats(buf, scratch, n);
    if (strategy == S_MEDIAN)
        return n % 2 ? (double)buf[n / 2] : ((double)buf[n / 2 - 1] + (double)buf[n / 2]) / 2.0;
    /* most frequent; ties go to the smallest value (the first run in order) */
    size_t best = 0, bestn = 0;
    for (size_t i = 0, j; i < n; i = j) {
        for (j = i + 1; j < n && buf[j] == buf[i]; j++)
            ;
        if (j - i > bestn) {
            bestn = j - i;
            best = i;
        }
    }
    return (double)buf[best];
}

/* The fill level of a categorical column; counts has room for its levels. */
static const char *impute_cat(int strategy, const char *fill_text, const mb_column *c, size_t nrows,
                              size_t *counts, int *missing)
{
    size_t nmiss = 0;
    if (counts)
        memset(counts, 0, c->nlevels * sizeof *counts);
    for (size_t i = 0; i < nrows; i++) {
        size_t s = code_slot(c->codes[i], c->nlevels);
        if (!s)
            nmiss++;
        else if (counts)
            counts[s - 1]++;
    }
    *missing = nmiss > 0;
    if (strategy != S_MOST_FREQUENT)
        return fill_text;
    /* most frequent; ties go to the smallest text, as scikit-learn does, so
    ** the choice does not depend on the order of the dictionary */
    const char *best = NULL;
    size_t bestn = 0;
    for (size_t l = 0; l < c->nlevels; l++)
        if (counts[l] && (counts[l] > bestn || (counts[l] == bestn && strcmp(c->levels[l], best) < 0))) {
            bestn = counts[l];
            best = c->levels[l];
        }
    return best ? best : fill_text;
}

static mb_status fit_impute(const mb_transform *t, const mb_frame *f, const long *idx, tstate *st,
                            mb_error *err)
{
    size_t n = st->n, m = n ? n : 1;
    mb_status rc = MB_OK;
    float *buf = NULL;
    uint32_t *scratch = NULL;
    size_t *counts = NULL, ncounts = 0;
    int sorts = t->strategy == S_MEDIAN || t->strategy == S_MOST_FREQUENT;
    st->iscat = mb_calloc(m, 1);
    st->missing = mb_calloc(m, 1);
    st->a = mb_malloc(m * sizeof *st->a);
    st->text = mb_calloc(m, sizeof *st->text);
    for (size_t k = 0; k < n; k++) {
        const mb_column *c = &f->cols[idx[k]];
        int miss = 0;
        if (c->type == MB_COL_NUM) {
            if (sorts && !buf && (!(buf = mb_trymalloc((f->nrows ? f->nrows : 1) * sizeof *buf)) ||
                                  !(scratch = mb_trymalloc((2 * f->nrows + 1) * sizeof *scratch)))) {
                rc = mb_fail(err, MB_ENOMEM, "transform 'impute': no memory for %zu rows", f->nrows);
                goto exit;
            }
            st->a[k] = impute_num(t->strategy, t->fill, c, f->nrows, buf, scratch, &miss);
            st->text[k] = mb_strdup("");
        } else {
            if (t->strategy == S_MOST_FREQUENT && c->nlevels > ncounts) {
                mb_free(counts);
                ncounts = c->nlevels;
                if (!(counts = mb_trymalloc(ncounts * sizeof *counts))) {
                    rc = mb_fail(err, MB_ENOMEM, "transform 'impute': no memory for %zu levels", ncounts);
                    goto exit;
                }
            }
            st->iscat[k] = 1;
            st->a[k] = NAN;
            st->text[k] = mb_strdup(impute_cat(t->strategy, t->fill_text, c, f->nrows, counts, &miss));
        }
        st->missing[k] = (uint8_t)miss;
    }
exit:
    mb_free(buf);
    mb_free(scratch);
    mb_free(counts);
    return rc;
}

/* onehot: the levels seen in training rows; ordinal: the whole dictionary. */
static mb_status fit_levels(const mb_transform *t, const mb_frame *f, const long *idx, tstate *st,
                            mb_error *err)
{
    size_t cap = 0;
    st->off = mb_calloc(st->n + 1, sizeof *st->off);
    for (size_t k = 0; k < st->n; k++) {
        const mb_column *c = &f->cols[idx[k]];
        uint8_t *seen = mb_trycalloc(c->nlevels ? c->nlevels : 1, 1);
        if (!seen)
            return mb_fail(err, MB_ENOMEM, "transform '%s': no memory for the levels of '%s'",
                           mbt_kinds[t->kind].name, c->name);
        if (t->kind == K_ORDINAL)
            memset(seen, 1, c->nlevels);
        else
            for (size_t i = 0; i < f->nrows; i++) {
                size_t s = code_slot(c->codes[i], c->nlevels);
                if (s)
                    seen[s - 1] = 1;
            }
        for (size_t l = 0; l < c->nlevels; l++) {
            if (!seen[l])
                continue;
            if (st->nlevels == cap) {
                cap = cap ? 2 * cap : 16;
                st->levels = mb_realloc(st->levels, cap * sizeof *st->levels);
            }
            st->levels[st->nlevels++] = mb_strdup(c->levels[l]);
        }
        mb_free(seen);
        st->off[k + 1] = st->nlevels;
    }
    return MB_OK;
}

mb_status mb_transform_fit(mb_transform *t, const mb_frame *train, mb_error *err)
{
    tstate st;
    long *idx = NULL;
    memset(&st, 0, sizeof st);
    st.strategy = t->strategy;
    st.add_indicator = t->add_indicator;
    st.unknown_error = t->unknown_error;
    st.lo = t->lo;
    st.hi = t->hi;
    mb_status rc = pick_columns(t, train, &st, &idx, err);
    if (rc != MB_OK)
        goto exit;
    switch (t->kind) {
    case K_STANDARDIZE:
    case K_MINMAX:
        rc = fit_scale(t, train, idx, &st, err);
        break;
    case K_IMPUTE:
        rc = fit_impute(t, train, idx, &st, err);
        break;
    case K_ONEHOT:
    case K_ORDINAL:
        rc = fit_levels(t, train, idx, &st, err);
        break;
    default:
        break; /* the column names are the whole state */
    }
    if (rc == MB_OK)
        rc = mbt_finish_state(t->kind, &st, err);
    if (rc == MB_OK) /* the training frame must take its own transform */
        rc = mbt_plan_check(t, &st, train, err);
    if (rc != MB_OK)
        goto exit;
    mbt_tstate_free(&t->st);
    t->st = st;
    memset(&st, 0, sizeof st);
    t->fitted = 1;
exit:
    mbt_tstate_free(&st);
    mb_free(idx);
    return rc;
}
