/*
** transform.c: the feature transforms of a pipeline (standardize, minmax,
** impute, onehot, ordinal, log1p, clip, poly2, select, drop): creating
** them and applying them to any frame with the same columns (see
** transform.h). Fitting is in transform_fit.c, the fitted state as named
** arrays in transform_state.c; transform_int.h is what the three share.
**
** DESIGN
** ------
** A transform is its options (from mb_transform_new) and, once fitted, a
** `tstate`: everything apply needs, including the options that change the
** output (strategy, unknown, bounds, add_indicator), so that a transform
** loaded from its saved arrays applies exactly as the fitted one did. Fit
** builds a new tstate and swaps it in only on success, so a failed refit
** leaves the old state alone.
**
** Apply works in two steps. plan_build() matches the fitted columns BY NAME
** (and categorical levels BY TEXT) against the input frame and lists the
** output columns, each with an operation and its source column(s). Fit runs
** it once on the training frame too, so problems such as a generated name
** clashing with an existing column show up at fit time. plan_run() then
** makes the output frame: all numeric output columns share one row-major
** block (features in frame order, then a numeric target last), filled in a
** single pass over the rows with no allocation per row. Reading row i of
** every input column touches one row of a row-major input block, and writing
** one contiguous output row keeps the pass cache friendly; the features of
** the result form one row-major matrix, so mb_matrix_from_frame can hand it
** to a model without copying. Categorical outputs (copies, imputed
** categorical columns) are copied column by column: codes and level texts.
**
** Numbers: statistics are taken in double precision, ignoring NaN; an output
** value is computed in double from the float input and rounded once to
** float. Apply depends only on the tstate values, which are saved as F64
** arrays without rounding, so a reloaded transform gives bit-identical
** output.
*/
#include "transform_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* {====== kinds and options ======} */

const mbt_kind mbt_kinds[K_COUNT_] = {
    {"standardize", W_NUM}, {"minmax", W_NUM}, {"impute", W_ANY}, {"onehot", W_CAT},
    {"ordinal", W_CAT},     {"log1p", W_NUM},  {"clip", W_NUM},   {"poly2", W_NUM},
    {"select", W_ANY},      {"drop", W_ANY},
};


const char *const mbt_strategy_names[S_COUNT_] = {"mean", "median", "most_frequent", "constant"};

static int strategy_of(const char *s)
{
    for (int i = 0; i < S_COUNT_; i++)
        if (strcmp(s, mbt_strategy_names[i]) == 0)
            return i;
    return -1;
}

int mbt_kind_of(const char *s)
{
    for (int i = 0; i < K_COUNT_; i++)
        if (strcmp(s, mbt_kinds[i].name) == 0)
            return i;
    return -1;
}

/* The column type a kind takes; impute with mean or median: numbers only. */
twant mbt_kind_wants(tkind k, int strategy)
{
    if (k == K_IMPUTE)
        return strategy == S_MEAN || strategy == S_MEDIAN ? W_NUM : W_ANY;
    return mbt_kinds[k].want;
}

static const char *type_name(mb_coltype t) { return t == MB_COL_NUM ? "numeric" : "categorical"; }
/* {====== state ======} */

void mbt_strv_free(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        mb_free(v[i]);
    mb_free(v);
}

void mbt_tstate_free(tstate *s)
{
    mbt_strv_free(s->cols, s->n);
    mbt_strv_free(s->text, s->n);
    mbt_strv_free(s->levels, s->nlevels);
    mb_free(s->iscat);
    mb_free(s->a);
    mb_free(s->b);
    mb_free(s->missing);
    mb_free(s->off);
    mb_free(s->sorted);
    memset(s, 0, sizeof *s);
}

static char *str3(const char *a, const char *sep, const char *b)
{
    size_t la = strlen(a), ls = strlen(sep), lb = strlen(b);
    char *s = mb_malloc(la + ls + lb + 1);
    memcpy(s, a, la);
    memcpy(s + la, sep, ls);
    memcpy(s + la + ls, b, lb + 1);
    return s;
}

static int cmp_lvref(const void *pa, const void *pb)
{
    const lvref *a = pa, *b = pb;
    int c = strcmp(a->s, b->s);
    return c ? c : (a->i > b->i) - (a->i < b->i);
}

static int cmp_key_lvref(const void *key, const void *p)
{
    return strcmp(key, ((const lvref *)p)->s);
}

/* Derived lookup tables, after fit and load: the levels of each column
** sorted by text. */
mb_status mbt_finish_state(tkind kind, tstate *st, mb_error *err)
{
    if (kind != K_ONEHOT && kind != K_ORDINAL)
        return MB_OK;
    st->sorted = mb_trycalloc(st->nlevels ? st->nlevels : 1, sizeof *st->sorted);
    if (!st->sorted)
        return mb_fail(err, MB_ENOMEM, "transform '%s': no memory for %zu levels", mbt_kinds[kind].name,
                       st->nlevels);
    for (size_t k = 0; k < st->n; k++) {
        size_t lo = st->off[k], hi = st->off[k + 1];
        for (size_t l = lo; l < hi; l++)
            st->sorted[l] = (lvref){st->levels[l], (int32_t)(l - lo)};
        if (hi > lo)
            qsort(st->sorted + lo, hi - lo, sizeof *st->sorted, cmp_lvref);
    }
    return MB_OK;
}

/* Index of level text s among the training levels of fitted column k, or -1. */
static int32_t level_index(const tstate *st, size_t k, const char *s)
{
    size_t lo = st->off[k], n = st->off[k + 1] - lo;
    if (n == 0)
        return -1;
    const lvref *r = bsearch(s, st->sorted + lo, n, sizeof *st->sorted, cmp_key_lvref);
    return r ? r->i : -1;
}
/* {====== creating ======} */

mb_status mb_transform_new(const char *kind, const mb_transform_opts *opts, mb_transform **out,
                           mb_error *err)
{
    *out = NULL;
    int k = kind ? mbt_kind_of(kind) : -1;
    if (k < 0)
        return mb_fail(err, MB_EARG, "unknown transform '%s' (kinds: " KIND_LIST ")",
                       kind ? kind : "(null)");
    const char *kn = mbt_kinds[k].name;
    mb_transform_opts none = {0};
    none.lo = -INFINITY;
    none.hi = INFINITY;
    const mb_transform_opts *o = opts ? opts : &none;

    if (o->ncolumns && !o->columns)
        return mb_fail(err, MB_EARG, "transform '%s': %zu columns announced but no list given", kn,
                       o->ncolumns);
    if (k == K_DROP && !o->columns)
        return mb_fail(err, MB_EARG, "transform 'drop' needs the columns to drop");
    for (size_t i = 0; o->columns && i < o->ncolumns; i++) {
        if (!o->columns[i] || !o->columns[i][0])
            return mb_fail(err, MB_EARG, "transform '%s': column %zu of the list has no name", kn, i + 1);
        for (size_t j = 0; j < i; j++)
            if (strcmp(o->columns[i], o->columns[j]) == 0)
                return mb_fail(err, MB_EARG, "transform '%s': column '%s' is listed twice", kn,
                               o->columns[i]);
    }
    int strategy = S_MEAN;
    if (o->strategy && (strategy = strategy_of(o->strategy)) < 0)
        return mb_fail(err, MB_EARG,
                       "transform '%s': unknown strategy '%s' (mean, median, most_frequent, constant)",
                       kn, o->strategy);
    if (k == K_IMPUTE && strategy == S_CONSTANT && isnan(o->fill))
        return mb_fail(err, MB_EARG, "transform 'impute': the constant fill is NaN");
    int unknown_error = 0;
    if (o->unknown) {
        if (strcmp(o->unknown, "error") == 0)
            unknown_error = 1;
        else if (strcmp(o->unknown, "ignore") != 0)
            return mb_fail(err, MB_EARG, "transform '%s': unknown must be 'ignore' or 'error', not '%s'",
                           kn, o->unknown);
    }
    if (k == K_CLIP) {
        if (isnan(o->lo) || isnan(o->hi) || o->lo > o->hi)
            return mb_fail(err, MB_EARG, "transform 'clip': bad bounds [%g, %g] (need lo <= hi)", o->lo,
                           o->hi);
        if (o->lo == 0 && o->hi == 0)
            return mb_fail(err, MB_EARG,
                           "transform 'clip': lo and hi are both 0, which would make every value 0; "
                           "set both (-INFINITY / INFINITY for no bound)");
    }

    mb_transform *t = mb_calloc(1, sizeof *t);
    t->kind = (tkind)k;
    if (o->columns) {
        t->opt_cols = mb_malloc((o->ncolumns ? o->ncolumns : 1) * sizeof *t->opt_cols);
        for (size_t i = 0; i < o->ncolumns; i++)
            t->opt_cols[i] = mb_strdup(o->columns[i]);
        t->nopt_cols = o->ncolumns;
    }
    t->strategy = strategy;
    t->fill = o->fill;
    t->fill_text = mb_strdup(o->fill_text ? o->fill_text : "missing");
    t->add_indicator = o->add_indicator != 0;
    t->unknown_error = unknown_error;
    t->lo = k == K_CLIP ? o->lo : -(double)INFINITY;
    t->hi = k == K_CLIP ? o->hi : (double)INFINITY;
    *out = t;
    return MB_OK;
}

const char *mb_transform_kind(const mb_transform *t) { return mbt_kinds[t->kind].name; }

int mb_transform_fitted(const mb_transform *t) { return t->fitted; }

void mb_transform_free(mb_transform **pt)
{
    if (!pt || !*pt)
        return;
    mb_transform *t = *pt;
    mbt_strv_free(t->opt_cols, t->nopt_cols);
    mb_free(t->fill_text);
    mbt_tstate_free(&t->st);
    mb_free(t);
    *pt = NULL;
}

/* {====== apply: plan and run ======} */

/* The same values as mb_step_op (transform.h), which exporters see. */
typedef enum opcode {
    OP_COPY = MB_STEP_COPY,         /* numeric copy */
    OP_AFFINE = MB_STEP_AFFINE,     /* (x - a) / b */
    OP_FILL = MB_STEP_FILL,         /* NaN -> a */
    OP_ISNAN = MB_STEP_ISNAN,       /* x is NaN: 1, else 0 */
    OP_ISMISS = MB_STEP_ISMISS,     /* categorical code missing: 1, else 0 */
    OP_ONEHOT = MB_STEP_ONEHOT,     /* training level of the code == k: 1, else 0 */
    OP_ORDINAL = MB_STEP_ORDINAL,   /* training level of the code, NaN if none */
    OP_LOG1P = MB_STEP_LOG1P,
    OP_CLIP = MB_STEP_CLIP,         /* to [a, b] */
    OP_PROD = MB_STEP_PROD,         /* x * y */
    OP_CATCOPY = MB_STEP_CATCOPY,   /* categorical copy */
    OP_CATFILL = MB_STEP_CATFILL    /* categorical copy, missing -> level text[fit] */
} opcode;

/* One output column. */
typedef struct pcol {
    const char *name;     /* borrowed from the input or the state, or == owned */
    char *owned;
    int generated;        /* a new column (name clashes matter) */
    opcode op;
    long src, src2;       /* input columns */
    size_t fit;           /* fitted column index (remap, fill text) */
    double a, b;
    int32_t k;
    size_t slot;          /* numeric: position in the output rows */
} pcol;

typedef struct plan {
    pcol *c;
    size_t n, cap;
    long target;          /* output index of the target, or -1 */
    int32_t **remap;      /* per fitted column: input code + 1 -> training level, or -1 */
    size_t nremap;
} plan;

static void plan_free(plan *p)
{
    for (size_t i = 0; i < p->n; i++)
        mb_free(p->c[i].owned);
    mb_free(p->c);
    for (size_t i = 0; i < p->nremap; i++)
        mb_free(p->remap[i]);
    mb_free(p->remap);
    memset(p, 0, sizeof *p);
}

static pcol *plan_add(plan *p, opcode op, long src, const char *name, char *owned)
{
    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 16;
        p->c = mb_realloc(p->c, p->cap * sizeof *p->c);
    }
    pcol *c = &p->c[p->n++];
    memset(c, 0, sizeof *c);
    c->op = op;
    c->src = src;
    c->src2 = -1;
    c->name = owned ? owned : name;
    c->owned = owned;
    c->generated = owned != NULL;
    return c;
}

static void plan_copy(plan *p, const mb_frame *in, long j)
{
    const mb_column *c = &in->cols[j];
    plan_add(p, c->type == MB_COL_NUM ? OP_COPY : OP_CATCOPY, j, c->name, NULL);
    if (j == in->target)
        p->target = (long)p->n - 1;
}

typedef struct nameref {
    const char *s;
    int generated;
} nameref;

static int cmp_nameref(const void *pa, const void *pb)
{
    return strcmp(((const nameref *)pa)->s, ((const nameref *)pb)->s);
}

/* A generated column must not share its name with any other output column
** (later transforms find columns by name). Equal names already in the input
** are left alone. */
static mb_status check_names(const char *kn, const plan *p, mb_error *err)
{
    int any = 0;
    for (size_t i = 0; i < p->n && !any; i++)
        any = p->c[i].generated;
    if (!any || p->n < 2)
        return MB_OK;
    nameref *v = mb_malloc(p->n * sizeof *v);
    for (size_t i = 0; i < p->n; i++)
        v[i] = (nameref){p->c[i].name, p->c[i].generated};
    qsort(v, p->n, sizeof *v, cmp_nameref);
    mb_status rc = MB_OK;
    for (size_t i = 0, j; i < p->n && rc == MB_OK; i = j) {
        int gen = v[i].generated;
        for (j = i + 1; j < p->n && strcmp(v[j].s, v[i].s) == 0; j++)
            gen |= v[j].generated;
        if (j - i > 1 && gen)
            rc = mb_fail(err, MB_EARG,
                         "transform '%s': the new column '%s' has the same name as another column", kn,
                         v[i].s);
    }
    mb_free(v);
    return rc;
}

/* The output columns of t (fitted state st) applied to in. */
static mb_status plan_build(const mb_transform *t, const tstate *st, const mb_frame *in, plan *p,
                            mb_error *err)
{
    const char *kn = mbt_kinds[t->kind].name;
    mb_status rc = MB_OK;
    long *where = mb_malloc((st->n ? st->n : 1) * sizeof *where);
    long *fitof = mb_malloc((in->ncols ? in->ncols : 1) * sizeof *fitof);
    memset(p, 0, sizeof *p);
    p->target = -1;
    for (size_t j = 0; j < in->ncols; j++)
        fitof[j] = -1;

    for (size_t k = 0; k < st->n; k++) {
        long j = mb_frame_find(in, st->cols[k]);
        where[k] = j;
        if (j < 0) {
            if (t->kind == K_DROP)
                continue; /* nothing to drop */
            rc = mb_fail(err, MB_ENOTFOUND, "transform '%s': the data has no column '%s', which it was fitted on",
                         kn, st->cols[k]);
            goto exit;
        }
        if (j == in->target && t->kind != K_SELECT) {
            rc = mb_fail(err, MB_EARG,
                         "transform '%s': column '%s' is the target here, but it was fitted as a feature",
                         kn, st->cols[k]);
            goto exit;
        }
        const mb_column *c = &in->cols[j];
        twant w = t->kind == K_IMPUTE ? (st->iscat[k] ? W_CAT : W_NUM) : mbt_kinds[t->kind].want;
        if ((w == W_NUM && c->type != MB_COL_NUM) || (w == W_CAT && c->type != MB_COL_CAT)) {
            rc = mb_fail(err, MB_ETYPE, "transform '%s': column '%s' is %s here, but %s when fitted", kn,
                         c->name, type_name(c->type), w == W_NUM ? "numeric" : "categorical");
            goto exit;
        }
        fitof[j] = (long)k;
    }

    if (t->kind == K_ONEHOT || t->kind == K_ORDINAL) {
        p->remap = mb_calloc(st->n ? st->n : 1, sizeof *p->remap);
        p->nremap = st->n;
        for (size_t k = 0; k < st->n; k++) {
            const mb_column *c = &in->cols[where[k]];
            int32_t *r = mb_trymalloc((c->nlevels + 1) * sizeof *r);
            if (!r) {
                rc = mb_fail(err, MB_ENOMEM, "transform '%s': no memory for the levels of '%s'", kn,
                             c->name);
                goto exit;
            }
            r[0] = -1;
            for (size_t l = 0; l < c->nlevels; l++)
                r[l + 1] = level_index(st, k, c->levels[l]);
            p->remap[k] = r;
        }
    }

    if (t->kind == K_SELECT) {
        int have_target = 0;
        for (size_t k = 0; k < st->n; k++) {
            plan_copy(p, in, where[k]);
            have_target |= where[k] == in->target;
        }
        if (in->target >= 0 && !have_target)
            plan_copy(p, in, in->target);
        goto names;
    }

    for (size_t j = 0; j < in->ncols; j++) {
        const mb_column *c = &in->cols[j];
        long k = fitof[j];
        if (k < 0 || t->kind == K_POLY2) {
            plan_copy(p, in, (long)j);
            continue;
        }
        pcol *o;
        switch (t->kind) {
        case K_STANDARDIZE:
        case K_MINMAX:
            o = plan_add(p, OP_AFFINE, (long)j, c->name, NULL);
            o->a = st->a[k];
            o->b = st->b[k];
            break;
        case K_IMPUTE:
            o = plan_add(p, st->iscat[k] ? OP_CATFILL : OP_FILL, (long)j, c->name, NULL);
            o->a = st->a[k];
            o->fit = (size_t)k;
            if (st->add_indicator && st->missing[k])
                plan_add(p, st->iscat[k] ? OP_ISMISS : OP_ISNAN, (long)j, NULL,
                         str3(c->name, "", "_missing"));
            break;
        case K_ONEHOT:
            for (size_t l = st->off[k]; l < st->off[k + 1]; l++) {
                o = plan_add(p, OP_ONEHOT, (long)j, NULL, str3(c->name, "=", st->levels[l]));
                o->fit = (size_t)k;
                o->k = (int32_t)(l - st->off[k]);
            }
            break;
        case K_ORDINAL:
            o = plan_add(p, OP_ORDINAL, (long)j, c->name, NULL);
            o->fit = (size_t)k;
            break;
        case K_LOG1P:
            plan_add(p, OP_LOG1P, (long)j, c->name, NULL);
            break;
        case K_CLIP:
            o = plan_add(p, OP_CLIP, (long)j, c->name, NULL);
            o->a = st->lo;
            o->b = st->hi;
            break;
        case K_DROP:
            break;
        default:
            mb_panic("transform kind without an apply rule");
        }
    }
    if (t->kind == K_POLY2) {
        for (size_t a = 0; a < st->n; a++)
            for (size_t b = a; b < st->n; b++) {
                const char *na = in->cols[where[a]].name, *nb = in->cols[where[b]].name;
                pcol *o = plan_add(p, OP_PROD, where[a], NULL, a == b ? str3(na, "^", "2") : str3(na, "*", nb));
                o->src2 = where[b];
            }
    }
names:
    rc = check_names(kn, p, err);
exit:
    mb_free(where);
    mb_free(fitof);
    return rc;
}

/* A numeric output operation, as the row loop wants it. */
typedef struct rowop {
    opcode op;
    const float *x, *y;
    size_t sx, sy;
    const int32_t *codes;
    size_t nl;            /* levels of the source column */
    const int32_t *remap;
    double a, b;
    float fa, fb;
    int32_t k;
    size_t slot;
} rowop;

static inline float rowop_eval(const rowop *r, size_t i)
{
    switch (r->op) {
    case OP_COPY:
        return r->x[i * r->sx];
    case OP_AFFINE:
        return (float)(((double)r->x[i * r->sx] - r->a) / r->b);
    case OP_FILL: {
        float x = r->x[i * r->sx];
        return isnan(x) ? r->fa : x;
    }
    case OP_ISNAN:
        return isnan(r->x[i * r->sx]) ? 1.0f : 0.0f;
    case OP_ISMISS:
        return code_slot(r->codes[i], r->nl) == 0 ? 1.0f : 0.0f;
    case OP_ONEHOT:
        return r->remap[code_slot(r->codes[i], r->nl)] == r->k ? 1.0f : 0.0f;
    case OP_ORDINAL: {
        int32_t v = r->remap[code_slot(r->codes[i], r->nl)];
        return v < 0 ? NAN : (float)v;
    }
    case OP_LOG1P: {
        float x = r->x[i * r->sx];
        return x < -1.0f ? NAN : (float)log1p((double)x);
    }
    case OP_CLIP: {
        float x = r->x[i * r->sx];
        double d = (double)x;
        return d < r->a ? r->fa : d > r->b ? r->fb : x;
    }
    case OP_PROD:
        return r->x[i * r->sx] * r->y[i * r->sy];
    case OP_CATCOPY:
    case OP_CATFILL:
        break;
    }
    return NAN;
}

/* Copy categorical column src into the new column dst (codes and levels). */
static mb_status copy_cat(mb_column *dst, const mb_column *src, size_t nrows, mb_error *err)
{
    if (nrows)
        memcpy(dst->codes, src->codes, nrows * sizeof *dst->codes);
    for (size_t l = 0; l < src->nlevels; l++)
        if (mb_column_add_level(dst, src->levels[l], strlen(src->levels[l])) < 0)
            return mb_fail(err, MB_ENOMEM, "no memory for the levels of column '%s'", src->name);
    return MB_OK;
}

/* unknown = "error": the first row of an onehot column whose level was not
** seen in training. */
static mb_status check_unknown(const mb_transform *t, const tstate *st, const plan *p,
                               const mb_frame *in, mb_error *err)
{
    if (t->kind != K_ONEHOT || !st->unknown_error)
        return MB_OK;
    for (size_t k = 0; k < p->nremap; k++) {
        const mb_column *c = &in->cols[mb_frame_find(in, st->cols[k])];
        const int32_t *r = p->remap[k];
        int any = 0;
        for (size_t l = 0; l < c->nlevels && !any; l++)
            any = r[l + 1] < 0;
        for (size_t i = 0; any && i < in->nrows; i++) {
            size_t s = code_slot(c->codes[i], c->nlevels);
            if (s && r[s] < 0)
                return mb_fail(err, MB_EARG,
                               "transform 'onehot': column '%s' has level '%s' at row %zu, which was not "
                               "seen in training",
                               c->name, c->levels[s - 1], i + 1);
        }
    }
    return MB_OK;
}

static mb_status plan_run(const mb_transform *t, const tstate *st, plan *p, const mb_frame *in,
                          mb_frame **out, mb_error *err)
{
    const char *kn = mbt_kinds[t->kind].name;
    mb_status rc = MB_OK;
    mb_frame *f = NULL;
    rowop *ops = NULL;
    size_t width = 0, nops = 0, bytes = 0;

    if ((rc = check_unknown(t, st, p, in, err)) != MB_OK)
        return rc;
    /* numeric slots: features in order, then a numeric target last */
    for (size_t i = 0; i < p->n; i++)
        if (p->c[i].op != OP_CATCOPY && p->c[i].op != OP_CATFILL && (long)i != p->target)
            p->c[i].slot = width++;
    if (p->target >= 0 && p->c[p->target].op == OP_COPY)
        p->c[p->target].slot = width++;

    f = mb_frame_new(in->nrows);
    if (in->source)
        f->source = mb_strdup(in->source);
    if (in->task)
        f->task = mb_strdup(in->task);
    float *block = NULL;
    if (width) {
        if (!mb_mul_ok(in->nrows, width, &bytes) || !mb_mul_ok(bytes, sizeof(float), &bytes) ||
            !(block = mb_trymalloc_big(bytes))) {
            rc = mb_fail(err, MB_ENOMEM, "transform '%s': no memory for the result (%zu rows x %zu columns)",
                         kn, in->nrows, width);
            goto exit;
        }
        mb_frame_adopt_block(f, block);
        ops = mb_malloc(width * sizeof *ops);
    }

    for (size_t i = 0; i < p->n; i++) {
        const pcol *o = &p->c[i];
        const mb_column *src = &in->cols[o->src];
        if (o->op == OP_CATCOPY || o->op == OP_CATFILL) {
            mb_column *c = mb_frame_add_cat(f, o->name, err);
            if (!c) {
                rc = MB_ENOMEM;
                goto exit;
            }
            if ((rc = copy_cat(c, src, in->nrows, err)) != MB_OK)
                goto exit;
            if (o->op == OP_CATFILL) {
                const char *fill = st->text[o->fit];
                int32_t code = -1;
                for (size_t l = 0; l < c->nlevels && code < 0; l++)
                    if (strcmp(c->levels[l], fill) == 0)
                        code = (int32_t)l;
                if (code < 0 && (code = mb_column_add_level(c, fill, strlen(fill))) < 0) {
                    rc = mb_fail(err, MB_ENOMEM, "no memory for the levels of column '%s'", src->name);
                    goto exit;
                }
                for (size_t r = 0; r < in->nrows; r++)
                    if (code_slot(c->codes[r], src->nlevels) == 0)
                        c->codes[r] = code;
            }
            continue;
        }
        mb_frame_add_num(f, o->name, block + o->slot, width, err); /* cannot fail with data given */
        rowop *r = &ops[nops++];
        memset(r, 0, sizeof *r);
        r->op = o->op;
        r->slot = o->slot;
        r->a = o->a;
        r->b = o->b;
        r->fa = (float)o->a;
        r->fb = (float)o->b;
        r->k = o->k;
        if (src->type == MB_COL_NUM) {
            r->x = src->num;
            r->sx = src->stride;
        } else {
            r->codes = src->codes;
            r->nl = src->nlevels;
        }
        if (o->src2 >= 0) {
            r->y = in->cols[o->src2].num;
            r->sy = in->cols[o->src2].stride;
        }
        if (o->op == OP_ONEHOT || o->op == OP_ORDINAL)
            r->remap = p->remap[o->fit];
    }
    f->target = p->target;

    /* the one pass over the rows */
    for (size_t i = 0; nops && i < in->nrows; i++) {
        float *row = block + i * width;
        for (size_t k = 0; k < nops; k++)
            row[ops[k].slot] = rowop_eval(&ops[k], i);
    }
    *out = f;
    f = NULL;
exit:
    mb_free(ops);
    mb_frame_free(&f);
    return rc;
}

mb_status mb_transform_apply(const mb_transform *t, const mb_frame *in, mb_frame **out, mb_error *err)
{
    *out = NULL;
    if (!t->fitted)
        return mb_fail(err, MB_EARG, "transform '%s' applied before fit", mbt_kinds[t->kind].name);
    plan p;
    mb_status rc = plan_build(t, &t->st, in, &p, err);
    if (rc == MB_OK)
        rc = plan_run(t, &t->st, &p, in, out, err);
    plan_free(&p);
    return rc;
}

/* {====== the plan, read-only, for exporters ======} */

struct mb_step_plan_impl {
    plan p;
};

mb_status mb_transform_plan(const mb_transform *t, const mb_frame *in, mb_step_plan *out, mb_error *err)
{
    memset(out, 0, sizeof *out);
    if (!t->fitted)
        return mb_fail(err, MB_EARG, "transform '%s' described before fit", mbt_kinds[t->kind].name);
    struct mb_step_plan_impl *impl = mb_calloc(1, sizeof *impl);
    mb_status rc = plan_build(t, &t->st, in, &impl->p, err);
    if (rc != MB_OK) {
        plan_free(&impl->p);
        mb_free(impl);
        return rc;
    }
    const plan *p = &impl->p;
    out->impl = impl;
    out->n = p->n;
    out->target = p->target;
    out->cols = mb_calloc(p->n ? p->n : 1, sizeof *out->cols);
    for (size_t i = 0; i < p->n; i++) {
        const pcol *c = &p->c[i];
        mb_step_col *o = &out->cols[i];
        o->name = c->name;
        o->op = (mb_step_op)c->op;
        o->src = c->src;
        o->src2 = c->src2;
        o->a = c->a;
        o->b = c->b;
        o->k = c->k;
        if (c->op == OP_ONEHOT || c->op == OP_ORDINAL) {
            o->remap = p->remap[c->fit];
            o->nremap = in->cols[c->src].nlevels + 1;
        }
        if (c->op == OP_CATFILL)
            o->fill = t->st.text[c->fit];
    }
    return MB_OK;
}

void mb_step_plan_free(mb_step_plan *p)
{
    if (p->impl) {
        plan_free(&p->impl->p);
        mb_free(p->impl);
    }
    mb_free(p->cols);
    memset(p, 0, sizeof *p);
}

mb_status mbt_plan_check(const mb_transform *t, const tstate *st, const mb_frame *f, mb_error *err)
{
    plan p = {0};
    mb_status rc = plan_build(t, st, f, &p, err);
    plan_free(&p);
    return rc;
}
