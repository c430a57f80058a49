/*
** runtime_pipe.c: compiling a bundle's fitted C transforms into a row
** program and running it (see runtime_pipe.h). Each step is first loaded
** with mb_transform_load, so a damaged state is refused with the
** transforms' own messages; the arrays are then read as transform.h
** specifies them, and the output columns follow plan_build's rules in
** transform.c (matched by name, same names, same generated names).
*/
#include "runtime_pipe.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transform.h"

typedef enum rop {
    R_AFFINE,  /* (x - a) / b */
    R_FILL,    /* NaN -> a */
    R_ISNAN,
    R_ISMISS,  /* category missing: 1 */
    R_ONEHOT,  /* writes lv->n slots from dst on */
    R_ORDINAL, /* training level index, NaN if none */
    R_LOG1P,
    R_CLIP,    /* to [a, b] */
    R_PROD,
    R_CATFILL  /* missing category -> text */
} rop;

/* A fitted column's training levels, sorted by text for bsearch. */
typedef struct lvtab {
    size_t n;
    const char **s;
    int32_t *idx; /* the level's index in training order */
} lvtab;

typedef struct rtop {
    rop op;
    size_t dst, src, src2;
    double a, b;
    float fa, fb;
    const lvtab *lv;
    const char *text; /* R_CATFILL: the fill; R_ONEHOT: the column, for messages */
    int unknown_error;
} rtop;

typedef struct envcol {
    const char *name;
    int cat;
    size_t slot;
} envcol;

typedef struct env {
    envcol *c;
    size_t n, cap;
} env;

struct mbrt_pipe {
    size_t ninputs;
    const char **inputs;
    uint8_t *input_cat;
    size_t *input_slot;
    size_t nnum, ncat;
    rtop *ops;
    size_t nops, capops;
    size_t nfeat;
    size_t *feat_slot;
    char **strs; /* owned texts: generated names, levels, fills */
    size_t nstrs, capstrs;
    lvtab **lvs;
    size_t nlvs, caplvs;
};

/* {====== building ======} */

static const char *keep(mbrt_pipe *p, char *s)
{
    if (p->nstrs == p->capstrs) {
        p->capstrs = p->capstrs ? 2 * p->capstrs : 32;
        p->strs = mb_realloc(p->strs, p->capstrs * sizeof *p->strs);
    }
    return p->strs[p->nstrs++] = s;
}

static const char *join(mbrt_pipe *p, const char *a, const char *sep, const char *b)
{
    size_t la = strlen(a), ls = strlen(sep), lb = strlen(b);
    char *s = mb_malloc(la + ls + lb + 1);
    memcpy(s, a, la);
    memcpy(s + la, sep, ls);
    memcpy(s + la + ls, b, lb + 1);
    return keep(p, s);
}

static rtop *add_op(mbrt_pipe *p, rop op, size_t src)
{
    if (p->nops == p->capops) {
        p->capops = p->capops ? 2 * p->capops : 32;
        p->ops = mb_realloc(p->ops, p->capops * sizeof *p->ops);
    }
    rtop *o = &p->ops[p->nops++];
    memset(o, 0, sizeof *o);
    o->op = op;
    o->src = src;
    return o;
}

static void env_push(env *e, const char *name, int cat, size_t slot)
{
    if (e->n == e->cap) {
        e->cap = e->cap ? 2 * e->cap : 32;
        e->c = mb_realloc(e->c, e->cap * sizeof *e->c);
    }
    e->c[e->n++] = (envcol){name, cat, slot};
}

static long env_find(const env *e, const char *name)
{
    for (size_t i = 0; i < e->n; i++)
        if (strcmp(e->c[i].name, name) == 0)
            return (long)i;
    return -1;
}

/* A new numeric output column. */
static size_t new_num(mbrt_pipe *p, env *out, const char *name)
{
    env_push(out, name, 0, p->nnum);
    return p->nnum++;
}

typedef struct lvpair {
    const char *s;
    int32_t i;
} lvpair;

static int cmp_lv(const void *a, const void *b)
{
    const lvpair *x = a, *y = b;
    int c = strcmp(x->s, y->s);
    return c ? c : (x->i > y->i) - (x->i < y->i);
}

/* The sorted table of levels[0..n); levels are kept in p. */
static const lvtab *make_levels(mbrt_pipe *p, char **levels, size_t n)
{
    lvtab *t = mb_calloc(1, sizeof *t);
    lvpair *v = mb_malloc((n ? n : 1) * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = (lvpair){levels[i], (int32_t)i};
    qsort(v, n, sizeof *v, cmp_lv);
    t->n = n;
    t->s = mb_malloc((n ? n : 1) * sizeof *t->s);
    t->idx = mb_malloc((n ? n : 1) * sizeof *t->idx);
    for (size_t i = 0; i < n; i++) {
        t->s[i] = v[i].s;
        t->idx[i] = v[i].i;
    }
    mb_free(v);
    if (p->nlvs == p->caplvs) {
        p->caplvs = p->caplvs ? 2 * p->caplvs : 8;
        p->lvs = mb_realloc(p->lvs, p->caplvs * sizeof *p->lvs);
    }
    p->lvs[p->nlvs++] = t;
    return t;
}

/* Arrays of a step's state (already validated by mb_transform_load). */
static void *get_array(mb_state *s, const char *name, mb_dtype type, size_t n)
{
    mb_state_reader r = mb_state_reader_for(s);
    void *v = mb_calloc(n ? n : 1, mb_dtype_size(type));
    if (n && r.get(r.ud, name, type, v, n) != MB_PLUGIN_OK)
        memset(v, 0, n * mb_dtype_size(type));
    return v;
}

static char **get_text(mbrt_pipe *p, mb_state *s, const char *name, size_t *n)
{
    char **v = mb_state_get_strings(s, name, n, NULL);
    for (size_t i = 0; v && i < *n; i++)
        keep(p, v[i]);
    return v; /* the array itself is the caller's to free */
}

typedef struct stepinfo {
    const char *kind;
    size_t step;            /* 1-based, for messages */
    size_t n;               /* fitted columns */
    char **cols;
    long *where;            /* their index in the input env, or -1 */
} stepinfo;

/* standardize, minmax, impute, onehot, ordinal, log1p, clip, drop: each
** input column either passes, or is replaced by its outputs in place. */
static void compile_columns(mbrt_pipe *p, const stepinfo *si, mb_state *st, const env *in, env *out)
{
    const char *k = si->kind;
    size_t n = si->n;
    double *a = NULL, *b = NULL, bounds[2] = {-INFINITY, INFINITY};
    uint8_t *iscat = NULL, *missing = NULL, ind = 0;
    char **fill_text = NULL, **levels = NULL, **unknown = NULL;
    int64_t *nlev = NULL;
    size_t nfill = 0, nlevels = 0, nunk = 0;
    const lvtab **tabs = NULL;
    if (!strcmp(k, "standardize") || !strcmp(k, "minmax")) {
        a = get_array(st, !strcmp(k, "minmax") ? "min" : "mean", MB_DT_F64, n);
        b = get_array(st, "scale", MB_DT_F64, n);
    } else if (!strcmp(k, "impute")) {
        a = get_array(st, "fill", MB_DT_F64, n);
        iscat = get_array(st, "is_cat", MB_DT_U8, n);
        missing = get_array(st, "had_missing", MB_DT_U8, n);
        uint8_t *v = get_array(st, "add_indicator", MB_DT_U8, 1);
        ind = v[0];
        mb_free(v);
        fill_text = get_text(p, st, "fill_text", &nfill);
    } else if (!strcmp(k, "onehot") || !strcmp(k, "ordinal")) {
        nlev = get_array(st, "nlevels", MB_DT_I64, n);
        levels = get_text(p, st, "levels", &nlevels);
        tabs = mb_calloc(n ? n : 1, sizeof *tabs);
        for (size_t c = 0, off = 0; c < n; off += (size_t)nlev[c], c++)
            tabs[c] = make_levels(p, levels + off, (size_t)nlev[c]);
        if (!strcmp(k, "onehot"))
            unknown = get_text(p, st, "unknown", &nunk);
    } else if (!strcmp(k, "clip")) {
        double *v = get_array(st, "bounds", MB_DT_F64, 2);
        bounds[0] = v[0];
        bounds[1] = v[1];
        mb_free(v);
    }
    for (size_t j = 0; j < in->n; j++) {
        const envcol *c = &in->c[j];
        long f = -1;
        for (size_t q = 0; q < n && f < 0; q++)
            if (si->where[q] == (long)j)
                f = (long)q;
        if (f < 0) {
            env_push(out, c->name, c->cat, c->slot);
            continue;
        }
        rtop *o;
        if (a && b) { /* standardize, minmax */
            o = add_op(p, R_AFFINE, c->slot);
            o->a = a[f];
            o->b = b[f];
            o->dst = new_num(p, out, c->name);
        } else if (iscat) { /* impute */
            if (iscat[f]) {
                o = add_op(p, R_CATFILL, c->slot);
                o->text = fill_text[f];
                env_push(out, c->name, 1, o->dst = p->ncat++);
            } else {
                o = add_op(p, R_FILL, c->slot);
                o->fa = (float)a[f];
                o->dst = new_num(p, out, c->name);
            }
            if (ind && missing[f]) {
                o = add_op(p, iscat[f] ? R_ISMISS : R_ISNAN, c->slot);
                o->dst = new_num(p, out, join(p, c->name, "", "_missing"));
            }
        } else if (tabs && unknown) { /* onehot */
            o = add_op(p, R_ONEHOT, c->slot);
            o->lv = tabs[f];
            o->text = c->name;
            o->unknown_error = nunk && !strcmp(unknown[0], "error");
            o->dst = p->nnum;
            size_t off = 0;
            for (long q = 0; q < f; q++)
                off += (size_t)nlev[q];
            for (size_t l = 0; l < tabs[f]->n; l++)
                new_num(p, out, join(p, c->name, "=", levels[off + l]));
        } else if (tabs) { /* ordinal */
            o = add_op(p, R_ORDINAL, c->slot);
            o->lv = tabs[f];
            o->dst = new_num(p, out, c->name);
        } else if (!strcmp(k, "log1p")) {
            add_op(p, R_LOG1P, c->slot)->dst = new_num(p, out, c->name);
        } else if (!strcmp(k, "clip")) {
            o = add_op(p, R_CLIP, c->slot);
            o->a = bounds[0];
            o->b = bounds[1];
            o->fa = (float)bounds[0];
            o->fb = (float)bounds[1];
            o->dst = new_num(p, out, c->name);
        } /* drop: nothing */
    }
    mb_free(a);
    mb_free(b);
    mb_free(iscat);
    mb_free(missing);
    mb_free(fill_text);
    mb_free(levels);
    mb_free(unknown);
    mb_free(nlev);
    mb_free(tabs);
}

/* One step: in -> out. */
static mb_status compile_step(mbrt_pipe *p, mb_bundle *bd, size_t i, const env *in, env *out, mb_error *err)
{
    const char *kind = bd->step_kinds[i];
    mb_state *st = &bd->steps[i];
    if (!strcmp(kind, "lua"))
        return mb_fail(err, MB_EARG, "step %zu of the pipeline is a Lua transform", i + 1);
    mb_transform *t = NULL;
    mb_status rc = mb_transform_load(kind, st, &t, err); /* validates the state */
    mb_transform_free(&t);
    if (rc != MB_OK)
        return rc;
    stepinfo si = {kind, i + 1, 0, NULL, NULL};
    si.cols = get_text(p, st, "columns", &si.n);
    si.where = mb_malloc((si.n ? si.n : 1) * sizeof *si.where);
    int want_cat = !strcmp(kind, "onehot") || !strcmp(kind, "ordinal");
    int any = !strcmp(kind, "impute") || !strcmp(kind, "select") || !strcmp(kind, "drop");
    uint8_t *iscat = !strcmp(kind, "impute") ? get_array(st, "is_cat", MB_DT_U8, si.n) : NULL;
    for (size_t k = 0; k < si.n && rc == MB_OK; k++) {
        long j = si.where[k] = env_find(in, si.cols[k]);
        if (j < 0 && strcmp(kind, "drop") != 0)
            rc = mb_fail(err, MB_EFORMAT, "pipeline step %zu (%s) is fitted on column '%s', which the steps before "
                         "it do not give", i + 1, kind, si.cols[k]);
        else if (j >= 0 && !any && in->c[j].cat != want_cat)
            rc = mb_fail(err, MB_EFORMAT, "pipeline step %zu (%s): column '%s' is %s there", i + 1, kind,
                         si.cols[k], in->c[j].cat ? "categorical" : "numeric");
        else if (j >= 0 && iscat && in->c[j].cat != iscat[k])
            rc = mb_fail(err, MB_EFORMAT, "pipeline step %zu (impute): column '%s' is %s there", i + 1, si.cols[k],
                         in->c[j].cat ? "categorical" : "numeric");
    }
    mb_free(iscat);
    if (rc == MB_OK) {
        if (!strcmp(kind, "select")) {
            for (size_t k = 0; k < si.n; k++)
                env_push(out, in->c[si.where[k]].name, in->c[si.where[k]].cat, in->c[si.where[k]].slot);
        } else if (!strcmp(kind, "poly2")) {
            for (size_t j = 0; j < in->n; j++)
                env_push(out, in->c[j].name, in->c[j].cat, in->c[j].slot);
            for (size_t a = 0; a < si.n; a++)
                for (size_t b = a; b < si.n; b++) {
                    const envcol *x = &in->c[si.where[a]], *y = &in->c[si.where[b]];
                    rtop *o = add_op(p, R_PROD, x->slot);
                    o->src2 = y->slot;
                    o->dst = new_num(p, out, a == b ? join(p, x->name, "^", "2") : join(p, x->name, "*", y->name));
                }
        } else {
            compile_columns(p, &si, st, in, out);
        }
    }
    mb_free(si.cols);
    mb_free(si.where);
    return rc;
}

static mb_status compile(mb_bundle *b, int inputs_only, mbrt_pipe **out, mb_error *err)
{
    *out = NULL;
    mbrt_pipe *p = mb_calloc(1, sizeof *p);
    env cur = {0}, next = {0};
    mb_status rc = MB_OK;
    int plain = b->ninputs == 0; /* no pipeline: the inputs are the features */
    if (plain && b->nsteps) {
        rc = mb_fail(err, MB_EFORMAT, "the bundle has %zu pipeline steps but lists no input columns (/schema inputs)",
                     b->nsteps);
        goto exit;
    }
    p->ninputs = plain ? b->nfeatures : b->ninputs;
    p->inputs = mb_calloc(p->ninputs + 1, sizeof *p->inputs);
    p->input_cat = mb_calloc(p->ninputs + 1, 1);
    p->input_slot = mb_calloc(p->ninputs + 1, sizeof *p->input_slot);
    for (size_t i = 0; i < p->ninputs; i++) {
        p->inputs[i] = plain ? b->features[i] : b->inputs[i];
        p->input_cat[i] = !plain && b->input_types && !strcmp(b->input_types[i], "categorical");
        p->input_slot[i] = p->input_cat[i] ? p->ncat++ : p->nnum++;
        env_push(&cur, p->inputs[i], p->input_cat[i], p->input_slot[i]);
    }
    for (size_t i = 0; i < b->nsteps && rc == MB_OK && !inputs_only; i++) {
        next.n = 0;
        rc = compile_step(p, b, i, &cur, &next, err);
        env t = cur;
        cur = next;
        next = t;
    }
    p->nfeat = inputs_only ? 0 : b->nfeatures;
    p->feat_slot = mb_calloc(p->nfeat + 1, sizeof *p->feat_slot);
    for (size_t k = 0; k < p->nfeat && rc == MB_OK; k++) {
        long j = env_find(&cur, b->features[k]);
        if (j < 0 || cur.c[j].cat)
            rc = mb_fail(err, j < 0 ? MB_ENOTFOUND : MB_ETYPE,
                         j < 0 ? "the data has no column '%s', which the model was trained on"
                               : "column '%s' is categorical, but the model takes it as a number",
                         b->features[k]);
        else
            p->feat_slot[k] = cur.c[j].slot;
    }
exit:
    mb_free(cur.c);
    mb_free(next.c);
    if (rc != MB_OK)
        mbrt_pipe_free(&p);
    *out = p;
    return rc;
}

mb_status mbrt_pipe_compile(mb_bundle *b, mbrt_pipe **out, mb_error *err) { return compile(b, 0, out, err); }
mb_status mbrt_pipe_inputs(mb_bundle *b, mbrt_pipe **out, mb_error *err) { return compile(b, 1, out, err); }

void mbrt_pipe_free(mbrt_pipe **pp)
{
    if (!pp || !*pp)
        return;
    mbrt_pipe *p = *pp;
    for (size_t i = 0; i < p->nstrs; i++)
        mb_free(p->strs[i]);
    for (size_t i = 0; i < p->nlvs; i++) {
        mb_free(p->lvs[i]->s);
        mb_free(p->lvs[i]->idx);
        mb_free(p->lvs[i]);
    }
    mb_free(p->strs);
    mb_free(p->lvs);
    mb_free(p->inputs);
    mb_free(p->input_cat);
    mb_free(p->input_slot);
    mb_free(p->ops);
    mb_free(p->feat_slot);
    mb_free(p);
    *pp = NULL;
}

size_t mbrt_pipe_ninputs(const mbrt_pipe *p) { return p->ninputs; }
const char *mbrt_pipe_input(const mbrt_pipe *p, size_t i) { return p->inputs[i]; }
int mbrt_pipe_input_cat(const mbrt_pipe *p, size_t i) { return p->input_cat[i]; }
size_t mbrt_pipe_input_slot(const mbrt_pipe *p, size_t i) { return p->input_slot[i]; }
size_t mbrt_pipe_nnum(const mbrt_pipe *p) { return p->nnum; }
size_t mbrt_pipe_ncat(const mbrt_pipe *p) { return p->ncat; }

/* {====== running ======} */

static int cmp_key(const void *key, const void *elem)
{
    return strcmp(key, *(const char *const *)elem);
}

/* Training index of level s, or -1 (s NULL: missing). */
static int32_t level_of(const lvtab *t, const char *s)
{
    if (!s || !t->n)
        return -1;
    const char **r = bsearch(s, t->s, t->n, sizeof *t->s, cmp_key);
    return r ? t->idx[r - t->s] : -1;
}

mb_status mbrt_pipe_run(const mbrt_pipe *p, float *num, const char **cat, float *x, mb_error *err)
{
    for (size_t i = 0; i < p->nops; i++) {
        const rtop *o = &p->ops[i];
        switch (o->op) {
        case R_AFFINE:
            num[o->dst] = (float)(((double)num[o->src] - o->a) / o->b);
            break;
        case R_FILL:
            num[o->dst] = isnan(num[o->src]) ? o->fa : num[o->src];
            break;
        case R_ISNAN:
            num[o->dst] = isnan(num[o->src]) ? 1.0f : 0.0f;
            break;
        case R_ISMISS:
            num[o->dst] = cat[o->src] ? 0.0f : 1.0f;
            break;
        case R_ONEHOT: {
            int32_t l = level_of(o->lv, cat[o->src]);
            if (l < 0 && cat[o->src] && o->unknown_error)
                return mb_fail(err, MB_EARG, "column '%s' has level '%s', which was not seen in training", o->text,
                               cat[o->src]);
            for (size_t k = 0; k < o->lv->n; k++)
                num[o->dst + k] = (int32_t)k == l ? 1.0f : 0.0f;
            break;
        }
        case R_ORDINAL: {
            int32_t l = level_of(o->lv, cat[o->src]);
            num[o->dst] = l < 0 ? NAN : (float)l;
            break;
        }
        case R_LOG1P: {
            float v = num[o->src];
            num[o->dst] = v < -1.0f ? NAN : (float)log1p((double)v);
            break;
        }
        case R_CLIP: {
            float v = num[o->src];
            double d = (double)v;
            num[o->dst] = d < o->a ? o->fa : d > o->b ? o->fb : v;
            break;
        }
        case R_PROD:
            num[o->dst] = num[o->src] * num[o->src2];
            break;
        case R_CATFILL:
            cat[o->dst] = cat[o->src] ? cat[o->src] : o->text;
            break;
        }
    }
    for (size_t k = 0; k < p->nfeat; k++)
        x[k] = num[p->feat_slot[k]];
    return MB_OK;
}
