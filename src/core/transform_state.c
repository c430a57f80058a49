/*
** transform_state.c: a fitted transform as named arrays (mb_state) and
** back: saving, and loading with every array checked (a bundle is hostile
** until checked; see docs/security.md).
*/
#include "transform_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* {====== state arrays ======} */

static const mb_state_array *state_array(const mb_state *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->arrays[i].name, name) == 0)
            return &s->arrays[i];
    return NULL;
}

static mb_status put_status(int prc, const char *name, mb_error *err)
{
    if (prc == MB_PLUGIN_OK)
        return MB_OK;
    if (prc == MB_PLUGIN_ENOMEM)
        return mb_fail(err, MB_ENOMEM, "no memory for state array '%s'", name);
    return mb_fail(err, MB_EARG, "cannot store state array '%s' (bad name, or already present)", name);
}

mb_status mb_state_put_strings(mb_state *s, const char *name, const char *const *v, size_t n, mb_error *err)
{
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += strlen(v[i]) + 1;
    char *buf = mb_trymalloc(bytes);
    if (!buf)
        return mb_fail(err, MB_ENOMEM, "no memory for state array '%s'", name);
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(v[i]) + 1;
        memcpy(buf + at, v[i], len);
        at += len;
    }
    mb_state_writer w = mb_state_writer_for(s);
    mb_status rc = put_status(w.put(w.ud, name, MB_DT_U8, buf, bytes), name, err);
    mb_free(buf);
    return rc;
}

char **mb_state_get_strings(const mb_state *s, const char *name, size_t *n, mb_error *err)
{
    *n = 0;
    const mb_state_array *a = state_array(s, name);
    if (!a) {
        mb_fail(err, MB_EFORMAT, "state array '%s' is missing", name);
        return NULL;
    }
    if (a->type != MB_DT_U8) {
        mb_fail(err, MB_EFORMAT, "state array '%s' is not text (a U8 array)", name);
        return NULL;
    }
    const char *d = a->data;
    if (a->count && d[a->count - 1] != '\0') {
        mb_fail(err, MB_EFORMAT, "state array '%s': the last string is not terminated", name);
        return NULL;
    }
    size_t cnt = 0;
    for (size_t i = 0; i < a->count; i++)
        cnt += d[i] == '\0';
    char **v = mb_trycalloc(cnt ? cnt : 1, sizeof *v);
    if (!v) {
        mb_fail(err, MB_ENOMEM, "no memory for state array '%s'", name);
        return NULL;
    }
    for (size_t i = 0, at = 0; i < cnt; i++) {
        size_t len = strlen(d + at);
        if (!(v[i] = mb_trymalloc(len + 1))) {
            mbt_strv_free(v, i);
            mb_fail(err, MB_ENOMEM, "no memory for state array '%s'", name);
            return NULL;
        }
        memcpy(v[i], d + at, len + 1);
        at += len + 1;
    }
    *n = cnt;
    return v;
}

/* {====== save ======}
** Arrays: version (I32 [1]), kind and columns (text), then by kind:
**   standardize  mean, scale (F64 [n])
**   minmax       min, scale (F64 [n])
**   impute       strategy (text [1]), add_indicator (U8 [1]), is_cat, had_missing (U8 [n]),
**                fill (F64 [n]), fill_text (text [n], "" for numeric columns)
**   onehot       unknown (text [1]: ignore | error), nlevels (I64 [n]), levels (text)
**   ordinal      nlevels (I64 [n]), levels (text)
**   clip         bounds (F64 [2]: lo, hi)
*/

static mb_status put(mb_state *s, const char *name, mb_dtype type, const void *data, size_t count,
                     mb_error *err)
{
    mb_state_writer w = mb_state_writer_for(s);
    return put_status(w.put(w.ud, name, type, data, count), name, err);
}

static mb_status put_text(mb_state *s, const char *name, const char *v, mb_error *err)
{
    return mb_state_put_strings(s, name, &v, 1, err);
}

mb_status mb_transform_save(const mb_transform *t, mb_state *s, mb_error *err)
{
    const char *kn = mbt_kinds[t->kind].name;
    const tstate *st = &t->st;
    if (!t->fitted)
        return mb_fail(err, MB_EARG, "transform '%s' saved before fit", kn);
    mb_status rc;
    int32_t version = STATE_VERSION;
    int64_t *nlev = NULL;
    if ((rc = put(s, "version", MB_DT_I32, &version, 1, err)) != MB_OK ||
        (rc = put_text(s, "kind", kn, err)) != MB_OK ||
        (rc = mb_state_put_strings(s, "columns", (const char *const *)st->cols, st->n, err)) != MB_OK)
        goto exit;
    switch (t->kind) {
    case K_STANDARDIZE:
    case K_MINMAX:
        if ((rc = put(s, t->kind == K_MINMAX ? "min" : "mean", MB_DT_F64, st->a, st->n, err)) == MB_OK)
            rc = put(s, "scale", MB_DT_F64, st->b, st->n, err);
        break;
    case K_IMPUTE: {
        uint8_t ind = (uint8_t)st->add_indicator;
        if ((rc = put_text(s, "strategy", mbt_strategy_names[st->strategy], err)) == MB_OK &&
            (rc = put(s, "add_indicator", MB_DT_U8, &ind, 1, err)) == MB_OK &&
            (rc = put(s, "is_cat", MB_DT_U8, st->iscat, st->n, err)) == MB_OK &&
            (rc = put(s, "had_missing", MB_DT_U8, st->missing, st->n, err)) == MB_OK &&
            (rc = put(s, "fill", MB_DT_F64, st->a, st->n, err)) == MB_OK)
            rc = mb_state_put_strings(s, "fill_text", (const char *const *)st->text, st->n, err);
        break;
    }
    case K_ONEHOT:
    case K_ORDINAL:
        if (t->kind == K_ONEHOT &&
            (rc = put_text(s, "unknown", st->unknown_error ? "error" : "ignore", err)) != MB_OK)
            break;
        nlev = mb_malloc((st->n ? st->n : 1) * sizeof *nlev);
        for (size_t k = 0; k < st->n; k++)
            nlev[k] = (int64_t)(st->off[k + 1] - st->off[k]);
        if ((rc = put(s, "nlevels", MB_DT_I64, nlev, st->n, err)) == MB_OK)
            rc = mb_state_put_strings(s, "levels", (const char *const *)st->levels, st->nlevels, err);
        break;
    case K_CLIP: {
        double bounds[2] = {st->lo, st->hi};
        rc = put(s, "bounds", MB_DT_F64, bounds, 2, err);
        break;
    }
    default:
        break;
    }
exit:
    mb_free(nlev);
    if (rc != MB_OK && err) {
        char why[sizeof err->msg];
        snprintf(why, sizeof why, "%s", err->msg);
        mb_fail(err, rc, "transform '%s': %s", kn, why);
    }
    return rc;
}

/* {====== load ======} */

/* Read array name of exactly count elements, converted to type. */
static mb_status get(mb_state *s, const char *name, mb_dtype type, void *out, size_t count, mb_error *err)
{
    mb_state_reader r = mb_state_reader_for(s);
    mb_dtype have;
    size_t n;
    if (r.size(r.ud, name, &have, &n) != MB_PLUGIN_OK)
        return mb_fail(err, MB_EFORMAT, "state array '%s' is missing", name);
    if (n != count)
        return mb_fail(err, MB_EFORMAT, "state array '%s' has %zu values, expected %zu", name, n, count);
    if (r.get(r.ud, name, type, out, count) != MB_PLUGIN_OK)
        return mb_fail(err, MB_EFORMAT, "state array '%s' is unreadable", name);
    return MB_OK;
}

/* Text array name of exactly count strings (any count when count is
** (size_t)-1; *got gets it). */
static mb_status get_strings(mb_state *s, const char *name, size_t count, char ***out, size_t *got,
                             mb_error *err)
{
    size_t n;
    char **v = mb_state_get_strings(s, name, &n, err);
    if (!v)
        return err ? err->code : MB_EFORMAT;
    if (count != (size_t)-1 && n != count) {
        mbt_strv_free(v, n);
        return mb_fail(err, MB_EFORMAT, "state array '%s' has %zu strings, expected %zu", name, n, count);
    }
    *out = v;
    if (got)
        *got = n;
    return MB_OK;
}

/* One string that must be one of the choices; its index. */
static mb_status get_choice(mb_state *s, const char *name, const char *const *choices, int nchoices,
                            int *out, mb_error *err)
{
    char **v = NULL;
    mb_status rc = get_strings(s, name, 1, &v, NULL, err);
    if (rc != MB_OK)
        return rc;
    *out = -1;
    for (int i = 0; i < nchoices; i++)
        if (strcmp(v[0], choices[i]) == 0)
            *out = i;
    if (*out < 0)
        rc = mb_fail(err, MB_EFORMAT, "state array '%s' holds '%s', which is not a valid value", name, v[0]);
    mbt_strv_free(v, 1);
    return rc;
}

static mb_status load_state(tkind kind, mb_state *s, tstate *st, mb_error *err)
{
    static const char *const unknowns[] = {"ignore", "error"};
    const char *kn = mbt_kinds[kind].name;
    mb_status rc;
    int32_t version = 0;
    int64_t *nlev = NULL;
    int which = -1;
    const char *const kindname[] = {kn};
    if ((rc = get(s, "version", MB_DT_I32, &version, 1, err)) != MB_OK)
        goto exit;
    if (version != STATE_VERSION) {
        rc = mb_fail(err, MB_EFORMAT, "state version %d is not supported (this build reads %d)",
                     (int)version, STATE_VERSION);
        goto exit;
    }
    if ((rc = get_choice(s, "kind", kindname, 1, &which, err)) != MB_OK ||
        (rc = get_strings(s, "columns", (size_t)-1, &st->cols, &st->n, err)) != MB_OK)
        goto exit;
    for (size_t i = 0; i < st->n; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(st->cols[i], st->cols[j]) == 0) {
                rc = mb_fail(err, MB_EFORMAT, "column '%s' is listed twice", st->cols[i]);
                goto exit;
            }
    size_t n = st->n, m = n ? n : 1;
    st->lo = -INFINITY;
    st->hi = INFINITY;
    switch (kind) {
    case K_STANDARDIZE:
    case K_MINMAX:
        st->a = mb_malloc(m * sizeof *st->a);
        st->b = mb_malloc(m * sizeof *st->b);
        if ((rc = get(s, kind == K_MINMAX ? "min" : "mean", MB_DT_F64, st->a, n, err)) == MB_OK)
            rc = get(s, "scale", MB_DT_F64, st->b, n, err);
        break;
    case K_IMPUTE: {
        uint8_t ind = 0;
        st->a = mb_malloc(m * sizeof *st->a);
        st->iscat = mb_malloc(m);
        st->missing = mb_malloc(m);
        if ((rc = get_choice(s, "strategy", mbt_strategy_names, S_COUNT_, &st->strategy, err)) != MB_OK ||
            (rc = get(s, "add_indicator", MB_DT_U8, &ind, 1, err)) != MB_OK ||
            (rc = get(s, "is_cat", MB_DT_U8, st->iscat, n, err)) != MB_OK ||
            (rc = get(s, "had_missing", MB_DT_U8, st->missing, n, err)) != MB_OK ||
            (rc = get(s, "fill", MB_DT_F64, st->a, n, err)) != MB_OK ||
            (rc = get_strings(s, "fill_text", n, &st->text, NULL, err)) != MB_OK)
            break;
        st->add_indicator = ind != 0;
        for (size_t k = 0; k < n && rc == MB_OK; k++)
            if (st->iscat[k] > 1)
                rc = mb_fail(err, MB_EFORMAT, "state array 'is_cat' holds %d, not 0 or 1", st->iscat[k]);
        break;
    }
    case K_ONEHOT:
    case K_ORDINAL: {
        if (kind == K_ONEHOT && (rc = get_choice(s, "unknown", unknowns, 2, &st->unknown_error, err)) != MB_OK)
            break;
        nlev = mb_malloc(m * sizeof *nlev);
        st->off = mb_calloc(n + 1, sizeof *st->off);
        if ((rc = get(s, "nlevels", MB_DT_I64, nlev, n, err)) != MB_OK ||
            (rc = get_strings(s, "levels", (size_t)-1, &st->levels, &st->nlevels, err)) != MB_OK)
            break;
        for (size_t k = 0; k < n; k++) {
            if (nlev[k] < 0 || (uint64_t)nlev[k] > st->nlevels - st->off[k]) {
                rc = mb_fail(err, MB_EFORMAT, "state array 'nlevels' does not match the %zu levels saved",
                             st->nlevels);
                break;
            }
            st->off[k + 1] = st->off[k] + (size_t)nlev[k];
        }
        if (rc == MB_OK && st->off[n] != st->nlevels)
            rc = mb_fail(err, MB_EFORMAT, "state array 'nlevels' does not match the %zu levels saved",
                         st->nlevels);
        break;
    }
    case K_CLIP: {
        double bounds[2];
        if ((rc = get(s, "bounds", MB_DT_F64, bounds, 2, err)) != MB_OK)
            break;
        if (isnan(bounds[0]) || isnan(bounds[1]) || bounds[0] > bounds[1])
            rc = mb_fail(err, MB_EFORMAT, "state array 'bounds' holds [%g, %g], not lo <= hi", bounds[0],
                         bounds[1]);
        st->lo = bounds[0];
        st->hi = bounds[1];
        break;
    }
    default:
        break;
    }
    if (rc == MB_OK)
        rc = mbt_finish_state(kind, st, err);
exit:
    mb_free(nlev);
    return rc;
}

mb_status mb_transform_load(const char *kind, mb_state *s, mb_transform **out, mb_error *err)
{
    *out = NULL;
    int k = kind ? mbt_kind_of(kind) : -1;
    if (k < 0)
        return mb_fail(err, MB_EARG, "unknown transform '%s' (kinds: " KIND_LIST ")",
                       kind ? kind : "(null)");
    mb_transform *t = mb_calloc(1, sizeof *t);
    t->kind = (tkind)k;
    t->fill_text = mb_strdup("missing");
    mb_status rc;
    mb_error e = {0};
    if ((rc = load_state(t->kind, s, &t->st, &e)) != MB_OK) {
        mb_fail(err, rc, "transform '%s': cannot load its saved state: %s", mbt_kinds[t->kind].name, e.msg);
        mb_transform_free(&t);
        return rc;
    }
    t->strategy = t->st.strategy;
    t->add_indicator = t->st.add_indicator;
    t->unknown_error = t->st.unknown_error;
    t->lo = t->st.lo;
    t->hi = t->st.hi;
    /* a refit of a loaded transform uses the same columns and fills */
    t->opt_cols = mb_malloc((t->st.n ? t->st.n : 1) * sizeof *t->opt_cols);
    for (size_t j = 0; j < t->st.n; j++) {
        t->opt_cols[j] = mb_strdup(t->st.cols[j]);
        if (t->kind == K_IMPUTE && t->st.strategy == S_CONSTANT && t->st.iscat[j]) {
            mb_free(t->fill_text);
            t->fill_text = mb_strdup(t->st.text[j]);
        } else if (t->kind == K_IMPUTE && t->st.strategy == S_CONSTANT) {
            t->fill = t->st.a[j];
        }
    }
    t->nopt_cols = t->st.n;
    t->fitted = 1;
    *out = t;
    return MB_OK;
}
