/*
** transform.c: the feature transforms of a pipeline (standardize, minmax,
** impute, onehot, ordinal, log1p, clip, poly2, select, drop): fitting them
** on training rows, applying them to any frame with the same columns, and
** their fitted state as named arrays (see transform.h).
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
#include "transform.h"
#include "stats.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATE_VERSION 1

/* {====== kinds and options ======} */

typedef enum tkind {
    K_STANDARDIZE,
    K_MINMAX,
    K_IMPUTE,
    K_ONEHOT,
    K_ORDINAL,
    K_LOG1P,
    K_CLIP,
    K_POLY2,
    K_SELECT,
    K_DROP,
    K_COUNT_
} tkind;

typedef enum twant { W_NUM, W_CAT, W_ANY } twant;

static const struct {
    const char *name;
    twant want; /* the columns it takes (impute: see kind_wants) */
} kinds[K_COUNT_] = {
    {"standardize", W_NUM}, {"minmax", W_NUM}, {"impute", W_ANY}, {"onehot", W_CAT},
    {"ordinal", W_CAT},     {"log1p", W_NUM},  {"clip", W_NUM},   {"poly2", W_NUM},
    {"select", W_ANY},      {"drop", W_ANY},
};

#define KIND_LIST "standardize, minmax, impute, onehot, ordinal, log1p, clip, poly2, select, drop"

enum { S_MEAN, S_MEDIAN, S_MOST_FREQUENT, S_CONSTANT, S_COUNT_ };
static const char *const strategy_names[S_COUNT_] = {"mean", "median", "most_frequent", "constant"};

static int strategy_of(const char *s)
{
    for (int i = 0; i < S_COUNT_; i++)
        if (strcmp(s, strategy_names[i]) == 0)
            return i;
    return -1;
}

static int kind_of(const char *s)
{
    for (int i = 0; i < K_COUNT_; i++)
        if (strcmp(s, kinds[i].name) == 0)
            return i;
    return -1;
}

/* The column type a kind takes; impute with mean or median: numbers only. */
static twant kind_wants(tkind k, int strategy)
{
    if (k == K_IMPUTE)
        return strategy == S_MEAN || strategy == S_MEDIAN ? W_NUM : W_ANY;
    return kinds[k].want;
}

static const char *type_name(mb_coltype t) { return t == MB_COL_NUM ? "numeric" : "categorical"; }

/* {====== state ======} */

/* A level of a fitted categorical column, for lookup by text. */
typedef struct lvref {
    const char *s;
    int32_t i;    /* index among the column's training levels */
} lvref;

/* Everything apply needs. Arrays have n entries (one per fitted column)
** unless said otherwise; unused ones stay NULL. */
typedef struct tstate {
    size_t n;
    char **cols;          /* fitted column names */
    uint8_t *iscat;       /* impute: the column is categorical */
    double *a, *b;        /* standardize: mean, scale; minmax: min, scale; impute: fill */
    char **text;          /* impute: fill level of categorical columns ("" otherwise) */
    uint8_t *missing;     /* impute: the column had missing values in training */
    size_t *off;          /* onehot, ordinal: n + 1 offsets into levels */
    char **levels;        /* onehot, ordinal: the training levels, column after column */
    size_t nlevels;
    lvref *sorted;        /* levels sorted by text within each column (not saved) */
    int strategy, add_indicator, unknown_error;
    double lo, hi;        /* clip */
} tstate;

struct mb_transform {
    tkind kind;
    char **opt_cols;      /* the columns option, or NULL */
    size_t nopt_cols;
    int strategy;
    double fill;
    char *fill_text;
    int add_indicator, unknown_error;
    double lo, hi;
    int fitted;
    tstate st;
};

static void strv_free(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        mb_free(v[i]);
    mb_free(v);
}

static void tstate_free(tstate *s)
{
    strv_free(s->cols, s->n);
    strv_free(s->text, s->n);
    strv_free(s->levels, s->nlevels);
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
static mb_status finish_state(tkind kind, tstate *st, mb_error *err)
{
    if (kind != K_ONEHOT && kind != K_ORDINAL)
        return MB_OK;
    st->sorted = mb_trycalloc(st->nlevels ? st->nlevels : 1, sizeof *st->sorted);
    if (!st->sorted)
        return mb_fail(err, MB_ENOMEM, "transform '%s': no memory for %zu levels", kinds[kind].name,
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
    int k = kind ? kind_of(kind) : -1;
    if (k < 0)
        return mb_fail(err, MB_EARG, "unknown transform '%s' (kinds: " KIND_LIST ")",
                       kind ? kind : "(null)");
    const char *kn = kinds[k].name;
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

const char *mb_transform_kind(const mb_transform *t) { return kinds[t->kind].name; }

int mb_transform_fitted(const mb_transform *t) { return t->fitted; }

void mb_transform_free(mb_transform **pt)
{
    if (!pt || !*pt)
        return;
    mb_transform *t = *pt;
    strv_free(t->opt_cols, t->nopt_cols);
    mb_free(t->fill_text);
    tstate_free(&t->st);
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
    const char *kn = kinds[t->kind].name;
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
        twant w = t->kind == K_IMPUTE ? (st->iscat[k] ? W_CAT : W_NUM) : kinds[t->kind].want;
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

/* remap index of a code: code + 1, or 0 (missing) for -1 and bad codes. */
static inline size_t code_slot(int32_t code, size_t nl)
{
    return code >= 0 && (size_t)code < nl ? (size_t)code + 1 : 0;
}

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
    const char *kn = kinds[t->kind].name;
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
        return mb_fail(err, MB_EARG, "transform '%s' applied before fit", kinds[t->kind].name);
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
        return mb_fail(err, MB_EARG, "transform '%s' described before fit", kinds[t->kind].name);
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

/* {====== fit ======} */

/* The columns to fit: the option's list (checked against the frame) or
** every applicable column but the target. idx gets their frame indices. */
static mb_status pick_columns(const mb_transform *t, const mb_frame *f, tstate *st, long **idx,
                              mb_error *err)
{
    const char *kn = kinds[t->kind].name;
    twant want = kind_wants(t->kind, t->strategy);
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
                               name, strategy_names[t->strategy]);
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
                         kinds[t->kind].name, st->cols[k]);
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
                           kinds[t->kind].name, c->name);
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
    plan p = {0};
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
        rc = finish_state(t->kind, &st, err);
    if (rc == MB_OK) /* the training frame must take its own transform */
        rc = plan_build(t, &st, train, &p, err);
    if (rc != MB_OK)
        goto exit;
    tstate_free(&t->st);
    t->st = st;
    memset(&st, 0, sizeof st);
    t->fitted = 1;
exit:
    plan_free(&p);
    tstate_free(&st);
    mb_free(idx);
    return rc;
}

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
            strv_free(v, i);
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
    const char *kn = kinds[t->kind].name;
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
        if ((rc = put_text(s, "strategy", strategy_names[st->strategy], err)) == MB_OK &&
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
        strv_free(v, n);
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
    strv_free(v, 1);
    return rc;
}

static mb_status load_state(tkind kind, mb_state *s, tstate *st, mb_error *err)
{
    static const char *const unknowns[] = {"ignore", "error"};
    const char *kn = kinds[kind].name;
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
        if ((rc = get_choice(s, "strategy", strategy_names, S_COUNT_, &st->strategy, err)) != MB_OK ||
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
        rc = finish_state(kind, st, err);
exit:
    mb_free(nlev);
    return rc;
}

mb_status mb_transform_load(const char *kind, mb_state *s, mb_transform **out, mb_error *err)
{
    *out = NULL;
    int k = kind ? kind_of(kind) : -1;
    if (k < 0)
        return mb_fail(err, MB_EARG, "unknown transform '%s' (kinds: " KIND_LIST ")",
                       kind ? kind : "(null)");
    mb_transform *t = mb_calloc(1, sizeof *t);
    t->kind = (tkind)k;
    t->fill_text = mb_strdup("missing");
    mb_status rc;
    mb_error e = {0};
    if ((rc = load_state(t->kind, s, &t->st, &e)) != MB_OK) {
        mb_fail(err, rc, "transform '%s': cannot load its saved state: %s", kinds[t->kind].name, e.msg);
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
