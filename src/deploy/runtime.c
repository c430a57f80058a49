/*
** runtime.c: the one inference runtime (see runtime.h): a bundle opened
** once into a compiled row program (runtime_pipe.c) and the core's scorer
** (portable form or plugin, mb_scorer_open), then scored row by row or a
** frame at a time, from any number of threads.
*/
#include "runtime.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dataset.h"
#include "lmb_run.h"
#include "runtime_pipe.h"
#include "runtime_pool.h"

struct mb_runtime {
    mb_bundle *b;
    char *path;
    mb_runtime_kind kind;
    char describe[256];
    mbrt_pipe *pipe;
    mb_scorer sc;               /* the model: sc.form (portable) or sc.model (plugin) */
    int sc_open;
    size_t nout, nwork;         /* portable: outputs per row, scratch doubles */
    double threshold;
    int plain_numbers;          /* no steps, the inputs are the features and all numbers (plain_inputs) */
    pthread_mutex_t lock;       /* plugin calls, the Lua state */
    int has_lock;
};

struct mb_runtime_row_ctx {
    const mb_runtime *rt;
    float *num;                 /* pipeline number slots */
    const char **cat;           /* pipeline text slots */
    unsigned char *set;         /* per input: given since the last reset */
    char (*numtext)[32];        /* per input: a number given to a categorical input, as text */
    float *x;                   /* the model's features */
    double *out, *work;         /* portable outputs and scratch */
    float *proba;
    float label;
};

/* {====== opening ======} */

mb_status mb_runtime_open(const char *path, const mb_runtime_opts *opts, mb_runtime **out, mb_error *err)
{
    *out = NULL;
    mb_bundle *b = NULL;
    mb_status rc = mb_bundle_load(path, &b, err);
    if (rc != MB_OK)
        return rc;
    return mb_runtime_open_bundle(&b, path, opts, out, err);
}

static int has_lua_step(const mb_bundle *b, size_t *step)
{
    for (size_t i = 0; i < b->nsteps; i++)
        if (strcmp(b->step_kinds[i], "lua") == 0) {
            *step = i + 1;
            return 1;
        }
    return 0;
}

/* A bundle without steps whose inputs are its features, in order, all
** numbers: the row program only gathers input i into feature i (feature
** names are resolved to the input of that name; equal names read the
** same frame column), so a frame's number columns can be copied into the
** features as they are (transform_rows). */
static int plain_inputs(const mb_runtime *rt)
{
    const mb_bundle *b = rt->b;
    if (b->nsteps || mbrt_pipe_ninputs(rt->pipe) != b->nfeatures)
        return 0;
    for (size_t i = 0; i < b->nfeatures; i++)
        if (mbrt_pipe_input_cat(rt->pipe, i) || strcmp(mbrt_pipe_input(rt->pipe, i), b->features[i]) != 0)
            return 0;
    return 1;
}

mb_status mb_runtime_open_bundle(mb_bundle **pb, const char *path, const mb_runtime_opts *opts, mb_runtime **out,
                                 mb_error *err)
{
    mb_runtime_opts none = {0};
    const mb_runtime_opts *o = opts ? opts : &none;
    mb_runtime *rt = mb_calloc(1, sizeof *rt);
    rt->b = *pb;
    *pb = NULL;
    *out = NULL;
    rt->path = mb_strdup(path ? path : "bundle");
    mb_bundle *b = rt->b;
    mb_status rc = MB_OK;
    size_t lua_step = 0;
    int lua = has_lua_step(b, &lua_step);
    /* Lua steps: rows go through the scorer's frame path, whose Lua steps
    ** run in a restricted private state, only when allowed (lmb_run.h) */
    rc = lua ? mbrt_pipe_inputs(b, &rt->pipe, err) : mbrt_pipe_compile(b, &rt->pipe, err);
    if (rc != MB_OK) {
        char why[sizeof err->msg];
        snprintf(why, sizeof why, "%s", err ? err->msg : "");
        rc = mb_fail(err, rc, "%s: %s", rt->path, why);
        goto fail;
    }
    if ((rc = mb_scorer_open(&rt->sc, b, o->registry, err)) != MB_OK)
        goto fail;
    rt->sc_open = 1;
    if (lua && (rc = mb_lua_scorer_steps(&rt->sc, rt->path, o->allow_lua, err)) != MB_OK)
        goto fail;
    if (rt->sc.model || lua) {
        pthread_mutex_init(&rt->lock, NULL);
        rt->has_lock = 1;
    }
    if (rt->sc.model) {
        rt->kind = MB_RUNTIME_PLUGIN;
        snprintf(rt->describe, sizeof rt->describe, "plugin %s %s (model %s; no portable form)", b->plugin,
                 b->plugin_version, b->model);
    } else {
        rt->kind = MB_RUNTIME_PORTABLE;
        rt->nout = mb_portable_noutputs(&rt->sc.form);
        rt->nwork = mb_portable_work_size(&rt->sc.form);
        snprintf(rt->describe, sizeof rt->describe, "portable %s form of %s/%s (no plugin loaded)",
                 mb_form_name(b->form), b->plugin, b->model);
    }
    if (lua) {
        char d[sizeof rt->describe];
        snprintf(d, sizeof d, "%s", rt->describe);
        snprintf(rt->describe, sizeof rt->describe, "embedded Lua for pipeline step %zu (allowed), then the %.180s",
                 lua_step, d);
        rt->kind = MB_RUNTIME_LUA;
    }
    rt->threshold = o->threshold > 0 && o->threshold < 1 ? o->threshold : mb_bundle_threshold(b);
    rt->plain_numbers = !lua && plain_inputs(rt);
    *out = rt;
    return MB_OK;
fail:
    mb_runtime_close(&rt);
    return rc;
}

void mb_runtime_close(mb_runtime **prt)
{
    if (!prt || !*prt)
        return;
    mb_runtime *rt = *prt;
    if (rt->sc_open)
        mb_scorer_close(&rt->sc);
    if (rt->has_lock)
        pthread_mutex_destroy(&rt->lock);
    mbrt_pipe_free(&rt->pipe);
    mb_bundle_free(&rt->b);
    mb_free(rt->path);
    mb_free(rt);
    *prt = NULL;
}

/* {====== facts ======} */

const mb_bundle *mb_runtime_bundle(const mb_runtime *rt) { return rt->b; }
mb_runtime_kind mb_runtime_path(const mb_runtime *rt) { return rt->kind; }
const char *mb_runtime_describe(const mb_runtime *rt) { return rt->describe; }
mb_task mb_runtime_task(const mb_runtime *rt) { return rt->b->task; }
size_t mb_runtime_nclasses(const mb_runtime *rt) { return rt->b->nclasses; }
const char *mb_runtime_class(const mb_runtime *rt, size_t k) { return k < rt->b->nclasses ? rt->b->classes[k] : NULL; }
double mb_runtime_threshold(const mb_runtime *rt) { return rt->threshold; }
size_t mb_runtime_ninputs(const mb_runtime *rt) { return mbrt_pipe_ninputs(rt->pipe); }
const char *mb_runtime_input(const mb_runtime *rt, size_t i) { return mbrt_pipe_input(rt->pipe, i); }
int mb_runtime_input_categorical(const mb_runtime *rt, size_t i) { return mbrt_pipe_input_cat(rt->pipe, i); }
size_t mb_runtime_nfeatures(const mb_runtime *rt) { return rt->b->nfeatures; }

long mb_runtime_input_find(const mb_runtime *rt, const char *name)
{
    size_t n = mbrt_pipe_ninputs(rt->pipe);
    for (size_t i = 0; i < n; i++)
        if (strcmp(mbrt_pipe_input(rt->pipe, i), name) == 0)
            return (long)i;
    return -1;
}

/* {====== the model stage ======} */

/* Labels (and probabilities) of X's rows. out holds rows x nout doubles
** and work nwork (portable); proba may be NULL unless the model is a
** binary one scored by its plugin. */
static mb_status model_rows(const mb_runtime *rt, const mb_matrix *X, float *label, float *proba, double *out,
                            double *work, mb_error *err)
{
    const mb_bundle *b = rt->b;
    if (rt->sc.model) {
        mb_runtime *w = (mb_runtime *)rt; /* the lock only */
        pthread_mutex_lock(&w->lock);
        mb_status rc = mb_model_predict(rt->sc.model, X, label, err);
        if (rc == MB_OK && proba && b->task != MB_TASK_REGRESSION)
            rc = mb_model_predict_proba(rt->sc.model, X, proba, err);
        pthread_mutex_unlock(&w->lock);
        if (rc == MB_OK && proba && b->task == MB_TASK_BINARY)
            for (size_t i = 0; i < X->rows; i++)
                label[i] = (double)proba[2 * i + 1] > rt->threshold ? 1.0f : 0.0f;
        return rc;
    }
    size_t k = rt->nout;
    mb_scorer_rows(&rt->sc, X, out, work); /* the form compiled when the scorer opened */
    mb_outputs_to_labels(b->task, rt->threshold, out, X->rows, k, label, proba);
    return MB_OK;
}

mb_status mb_runtime_score_matrix(const mb_runtime *rt, const mb_matrix *X, float *label, float *proba,
                                  mb_error *err)
{
    const mb_bundle *b = rt->b;
    if (X->cols != b->nfeatures)
        return mb_fail(err, MB_ESHAPE, "the model takes %zu features, the data has %zu", b->nfeatures, X->cols);
    size_t n = X->rows, k = b->nclasses;
    double *out = NULL, *work = NULL;
    float *pr = proba;
    if (!rt->sc.model) {
        size_t cells;
        if (!mb_mul_ok(n ? n : 1, rt->nout, &cells) || !(out = mb_trymalloc(cells * sizeof *out)))
            return mb_fail(err, MB_ENOMEM, "no memory to score %zu rows", n);
        work = mb_malloc((rt->nwork ? rt->nwork : 1) * sizeof *work);
    } else if (!pr && b->task == MB_TASK_BINARY) {
        if (!(pr = mb_trymalloc((n ? n : 1) * k * sizeof *pr)))
            return mb_fail(err, MB_ENOMEM, "no memory to score %zu rows", n);
    }
    mb_status rc = model_rows(rt, X, label, pr, out, work, err);
    if (pr != proba)
        mb_free(pr);
    mb_free(out);
    mb_free(work);
    return rc;
}

/* {====== rows ======} */

mb_runtime_row_ctx *mb_runtime_row_ctx_new(const mb_runtime *rt)
{
    mb_runtime_row_ctx *c = mb_calloc(1, sizeof *c);
    size_t ni = mbrt_pipe_ninputs(rt->pipe), k = rt->b->nclasses;
    c->rt = rt;
    c->num = mb_calloc(mbrt_pipe_nnum(rt->pipe) + 1, sizeof *c->num);
    c->cat = mb_calloc(mbrt_pipe_ncat(rt->pipe) + 1, sizeof *c->cat);
    c->set = mb_calloc(ni + 1, 1);
    c->numtext = mb_calloc(ni + 1, sizeof *c->numtext);
    c->x = mb_calloc(rt->b->nfeatures + 1, sizeof *c->x);
    c->out = mb_calloc(rt->nout + 1, sizeof *c->out);
    c->work = mb_calloc(rt->nwork + 1, sizeof *c->work);
    c->proba = mb_calloc(k + 1, sizeof *c->proba);
    return c;
}

void mb_runtime_row_ctx_free(mb_runtime_row_ctx **pc)
{
    if (!pc || !*pc)
        return;
    mb_runtime_row_ctx *c = *pc;
    mb_free(c->num);
    mb_free(c->cat);
    mb_free(c->set);
    mb_free(c->numtext);
    mb_free(c->x);
    mb_free(c->out);
    mb_free(c->work);
    mb_free(c->proba);
    mb_free(c);
    *pc = NULL;
}

void mb_runtime_row_reset(mb_runtime_row_ctx *c)
{
    memset(c->set, 0, mbrt_pipe_ninputs(c->rt->pipe));
}

/* The CSV reader's missing-value texts (csv.h). */
static int is_missing_text(const char *s, size_t n)
{
    static const char *const miss[] = {"na", "nan", "?", "null", "n/a"};
    if (n == 0)
        return 1;
    for (size_t i = 0; i < sizeof miss / sizeof miss[0]; i++)
        if (strlen(miss[i]) == n && strncasecmp(s, miss[i], n) == 0)
            return 1;
    return 0;
}

/* A number as the CSV reader takes it: [+-] digits [. digits] [e [+-]
** digits], or [+-] inf / infinity; surrounding blanks ignored. */
static int parse_number(const char *s, double *v)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        n--;
    if (is_missing_text(s, n)) {
        *v = NAN;
        return 1;
    }
    const char *p = s + (*s == '+' || *s == '-');
    size_t rest = n - (size_t)(p - s);
    if ((rest == 3 && !strncasecmp(p, "inf", 3)) || (rest == 8 && !strncasecmp(p, "infinity", 8))) {
        *v = *s == '-' ? -INFINITY : INFINITY;
        return 1;
    }
    int digits = 0;
    for (size_t i = 0; i < rest; i++) {
        char ch = p[i];
        if (ch >= '0' && ch <= '9')
            digits = 1;
        else if (ch != '.' && ch != 'e' && ch != 'E' && ch != '+' && ch != '-')
            return 0;
    }
    if (!digits || n >= 64)
        return 0;
    char buf[64], *end;
    memcpy(buf, s, n);
    buf[n] = '\0';
    *v = strtod(buf, &end);
    return *end == '\0';
}

mb_status mb_runtime_row_set_number(mb_runtime_row_ctx *c, size_t i, double v, mb_error *err)
{
    const mbrt_pipe *p = c->rt->pipe;
    if (i >= mbrt_pipe_ninputs(p))
        return mb_fail(err, MB_EARG, "input %zu of %zu", i, mbrt_pipe_ninputs(p));
    size_t slot = mbrt_pipe_input_slot(p, i);
    if (mbrt_pipe_input_cat(p, i)) {
        if (isnan(v)) {
            c->cat[slot] = NULL;
        } else {
            snprintf(c->numtext[i], sizeof c->numtext[i], "%.9g", v);
            c->cat[slot] = c->numtext[i];
        }
    } else {
        c->num[slot] = (float)v;
    }
    c->set[i] = 1;
    return MB_OK;
}

mb_status mb_runtime_row_set_text(mb_runtime_row_ctx *c, size_t i, const char *s, mb_error *err)
{
    const mbrt_pipe *p = c->rt->pipe;
    if (i >= mbrt_pipe_ninputs(p))
        return mb_fail(err, MB_EARG, "input %zu of %zu", i, mbrt_pipe_ninputs(p));
    size_t slot = mbrt_pipe_input_slot(p, i);
    if (mbrt_pipe_input_cat(p, i)) {
        c->cat[slot] = s && !is_missing_text(s, strlen(s)) ? s : NULL;
    } else {
        double v = NAN;
        if (s && !parse_number(s, &v))
            return mb_fail(err, MB_ETYPE, "column '%s': '%.40s' is not a number", mbrt_pipe_input(p, i), s);
        c->num[slot] = (float)v;
    }
    c->set[i] = 1;
    return MB_OK;
}

/* Pipelines with Lua steps: the scorer's steps on a whole frame (one Lua
** state: under the lock), then the model's features by name, into X. */
static mb_status lua_features(const mb_runtime *rt, const mb_frame *f, float *X, mb_error *err)
{
    mb_runtime *w = (mb_runtime *)rt; /* the lock only */
    const mb_bundle *b = rt->b;
    mb_frame *cur = NULL;
    const mb_frame *in = f;
    mb_status rc = MB_OK;
    pthread_mutex_lock(&w->lock);
    for (size_t i = 0; i < b->nsteps && rc == MB_OK; i++) {
        mb_frame *next = NULL;
        rc = rt->sc.steps[i] ? mb_transform_apply(rt->sc.steps[i], in, &next, err)
                             : rt->sc.lua_apply(rt->sc.lua_ud, i, in, &next, err);
        mb_frame_free(&cur);
        in = cur = next;
    }
    pthread_mutex_unlock(&w->lock);
    float *owned = NULL;
    mb_matrix M;
    if (rc == MB_OK)
        rc = mb_matrix_by_names(in, (const char *const *)b->features, b->nfeatures, rt->path, &M, &owned, err);
    for (size_t r = 0; rc == MB_OK && r < M.rows; r++)
        memcpy(X + r * b->nfeatures, M.x + r * M.ld, b->nfeatures * sizeof *X);
    mb_free(owned);
    mb_frame_free(&cur);
    return rc;
}

/* A Lua pipeline's row: a one-row frame of the inputs (this allocates). */
static mb_status lua_row(mb_runtime_row_ctx *c, mb_error *err)
{
    const mbrt_pipe *p = c->rt->pipe;
    mb_frame *f = mb_frame_new(1);
    mb_status rc = MB_OK;
    for (size_t i = 0; i < mbrt_pipe_ninputs(p) && rc == MB_OK; i++) {
        size_t slot = mbrt_pipe_input_slot(p, i);
        mb_column *col = mbrt_pipe_input_cat(p, i) ? mb_frame_add_cat(f, mbrt_pipe_input(p, i), err)
                                                   : mb_frame_add_num(f, mbrt_pipe_input(p, i), NULL, 1, err);
        if (!col)
            rc = MB_ENOMEM;
        else if (col->type == MB_COL_NUM)
            col->num[0] = c->num[slot];
        else if (c->cat[slot])
            col->codes[0] = mb_column_add_level(col, c->cat[slot], strlen(c->cat[slot]));
    }
    if (rc == MB_OK)
        rc = lua_features(c->rt, f, c->x, err);
    mb_frame_free(&f);
    return rc;
}

/* Inputs to features, for one row. */
static mb_status row_features(mb_runtime_row_ctx *c, mb_error *err)
{
    const mbrt_pipe *p = c->rt->pipe;
    size_t ni = mbrt_pipe_ninputs(p);
    for (size_t i = 0; i < ni; i++)
        if (!c->set[i])
            return mb_fail(err, MB_ENOTFOUND, "the row has no value for column '%s'", mbrt_pipe_input(p, i));
    if (c->rt->kind == MB_RUNTIME_LUA)
        return lua_row(c, err);
    return mbrt_pipe_run(p, c->num, c->cat, c->x, err);
}

mb_status mb_runtime_row_predict(mb_runtime_row_ctx *c, mb_prediction *out, mb_error *err)
{
    const mb_runtime *rt = c->rt;
    mb_status rc = row_features(c, err);
    if (rc != MB_OK)
        return rc;
    mb_matrix X = {c->x, 1, rt->b->nfeatures, rt->b->nfeatures};
    if ((rc = model_rows(rt, &X, &c->label, c->proba, c->out, c->work, err)) != MB_OK)
        return rc;
    size_t k = rt->b->nclasses;
    out->value = (double)c->label;
    out->label = -1;
    out->class_name = NULL;
    out->proba = NULL;
    if (k) {
        if (!(c->label >= 0 && c->label < (float)k))
            return mb_fail(err, MB_EFORMAT, "%s: the model predicted class %g, but the bundle names %zu classes",
                           rt->path, (double)c->label, k);
        out->label = (long)c->label;
        out->class_name = rt->b->classes[out->label];
        out->proba = c->proba;
    }
    return MB_OK;
}

mb_status mb_runtime_row_transform(mb_runtime_row_ctx *c, float *x, mb_error *err)
{
    mb_status rc = row_features(c, err);
    if (rc == MB_OK)
        memcpy(x, c->x, c->rt->b->nfeatures * sizeof *x);
    return rc;
}

const float *mb_runtime_row_features(const mb_runtime_row_ctx *c) { return c->x; }

/* {====== frames ======} */

/* The frame's column of each input (mb_free it), or NULL when one is
** missing (err says which). */
static long *input_columns(const mb_runtime *rt, const mb_frame *f, mb_error *err)
{
    size_t ni = mb_runtime_ninputs(rt);
    long *col = mb_malloc((ni ? ni : 1) * sizeof *col);
    for (size_t i = 0; i < ni; i++) {
        col[i] = mb_frame_find(f, mb_runtime_input(rt, i));
        if (col[i] < 0 || col[i] == f->target) {
            mb_free(col);
            mb_fail(err, MB_ENOTFOUND, "%s: the data has no column '%s', which the model was trained on",
                    f->source ? f->source : "data", mb_runtime_input(rt, i));
            return NULL;
        }
    }
    return col;
}

/* Rows [r0, r1) of f (inputs from columns col) into X (nf floats a row,
** NaN for a row that fails), ok[r] (may be NULL) 1 for a good row; reject
** (may be NULL) is told of each bad one, in row order. */
static void transform_rows(const mb_runtime *rt, const mb_frame *f, const long *col, size_t r0, size_t r1, float *X,
                           unsigned char *ok, mb_runtime_reject_fn reject, void *ud)
{
    size_t ni = mb_runtime_ninputs(rt), nf = rt->b->nfeatures;
    int plain = rt->plain_numbers;
    for (size_t i = 0; plain && i < ni; i++)
        plain = f->cols[col[i]].type == MB_COL_NUM;
    if (plain) {
        /* the row program's result, without it: every row is good */
        const mb_column **fc = mb_malloc((nf ? nf : 1) * sizeof *fc);
        for (size_t j = 0; j < nf; j++)
            fc[j] = &f->cols[col[j]];
        for (size_t r = r0; r < r1; r++) {
            float *x = X + r * nf;
            for (size_t j = 0; j < nf; j++)
                x[j] = fc[j]->num[r * fc[j]->stride];
            if (ok)
                ok[r] = 1;
        }
        mb_free(fc);
        return;
    }
    mb_runtime_row_ctx *c = mb_runtime_row_ctx_new(rt);
    mb_error rowerr;
    /* A number column into a number input is the common case and needs no
    ** checks: its slot is looked up once here, not per value (the setters'
    ** checks and lookups were most of the transform's cost). -1: through
    ** the setters. */
    long *direct = mb_malloc((ni ? ni : 1) * sizeof *direct);
    for (size_t i = 0; i < ni; i++)
        direct[i] = f->cols[col[i]].type == MB_COL_NUM && !mbrt_pipe_input_cat(rt->pipe, i)
                        ? (long)mbrt_pipe_input_slot(rt->pipe, i)
                        : -1;
    for (size_t r = r0; r < r1; r++) {
        mb_status rc = MB_OK;
        mb_runtime_row_reset(c);
        for (size_t i = 0; i < ni && rc == MB_OK; i++) {
            const mb_column *fc = &f->cols[col[i]];
            if (direct[i] >= 0) {
                /* what mb_runtime_row_set_number stores: the float itself */
                c->num[direct[i]] = MB_NUM(fc, r);
                c->set[i] = 1;
            } else if (fc->type == MB_COL_NUM) {
                rc = mb_runtime_row_set_number(c, i, (double)MB_NUM(fc, r), &rowerr);
            } else {
                int32_t code = fc->codes[r];
                rc = mb_runtime_row_set_text(c, i, code >= 0 && (size_t)code < fc->nlevels ? fc->levels[code] : NULL,
                                             &rowerr);
            }
        }
        if (rc == MB_OK)
            rc = row_features(c, &rowerr);
        float *x = X + r * nf;
        if (rc == MB_OK) {
            memcpy(x, c->x, nf * sizeof *x);
        } else {
            for (size_t j = 0; j < nf; j++)
                x[j] = NAN;
            if (reject)
                reject(ud, r, rowerr.msg);
        }
        if (ok)
            ok[r] = rc == MB_OK;
    }
    mb_free(direct);
    mb_runtime_row_ctx_free(&c);
}

mb_status mb_runtime_transform_frame(const mb_runtime *rt, const mb_frame *f, float *X, unsigned char *ok,
                                     mb_runtime_reject_fn reject, void *ud, mb_error *err)
{
    if (rt->kind == MB_RUNTIME_LUA) {
        /* the frame as it is, through the steps: all rows or an error */
        mb_status rc = lua_features(rt, f, X, err);
        for (size_t r = 0; ok && rc == MB_OK && r < f->nrows; r++)
            ok[r] = 1;
        (void)reject;
        (void)ud;
        return rc;
    }
    long *col = input_columns(rt, f, err);
    if (!col)
        return err ? err->code : MB_ENOTFOUND;
    transform_rows(rt, f, col, 0, f->nrows, X, ok, reject, ud);
    mb_free(col);
    return MB_OK;
}

/* {====== several threads ======} */

/* A matrix scored by the pool's parts, each taking the next slice of
** UNIT rows until none is left: on a loaded machine a part that gets less
** CPU takes fewer slices instead of holding the others up. Rows are
** independent, so the results are those of one call on all rows. */
#define UNIT 2048

typedef struct par_job {
    const mb_runtime *rt;
    const mb_matrix *X;
    float *label, *proba;
    atomic_size_t next;
    atomic_int failed;
    mb_error err[64];   /* per part; the first failure is reported */
    mb_status rc[64];
} par_job;

static void par_part(void *ud, size_t part, size_t nparts)
{
    par_job *j = ud;
    const mb_matrix *X = j->X;
    size_t k = j->rt->b->nclasses;
    (void)nparts;
    j->rc[part] = MB_OK;
    for (;;) {
        size_t i0 = atomic_fetch_add(&j->next, UNIT);
        if (i0 >= X->rows || atomic_load(&j->failed))
            return;
        size_t n = X->rows - i0 < UNIT ? X->rows - i0 : UNIT;
        mb_matrix S = {X->x + i0 * X->ld, n, X->cols, X->ld};
        mb_status rc = mb_runtime_score_matrix(j->rt, &S, j->label + i0, j->proba ? j->proba + i0 * k : NULL,
                                               &j->err[part]);
        if (rc != MB_OK) {
            j->rc[part] = rc;
            atomic_store(&j->failed, 1);
            return;
        }
    }
}

/* A frame's rows transformed by the pool's parts, UNIT rows a slice (the
** pipeline is read-only; each part has its own row context). Rejects are
** reported afterwards on the caller's thread, in row order: the failed
** rows are transformed again, one by one, with the callback (the
** transform is a pure function of the row, so X is the same). */
typedef struct tf_job {
    const mb_runtime *rt;
    const mb_frame *f;
    const long *col;
    float *X;
    unsigned char *ok;
    atomic_size_t next;
} tf_job;

static void tf_part(void *ud, size_t part, size_t nparts)
{
    tf_job *j = ud;
    (void)part;
    (void)nparts;
    for (;;) {
        size_t r0 = atomic_fetch_add(&j->next, UNIT), n = j->f->nrows;
        if (r0 >= n)
            return;
        transform_rows(j->rt, j->f, j->col, r0, n - r0 < UNIT ? n : r0 + UNIT, j->X, j->ok, NULL, NULL);
    }
}

static mb_status transform_frame_on(const mb_runtime *rt, mb_pool *pool, const mb_frame *f, float *X,
                                    unsigned char *ok, mb_runtime_reject_fn reject, void *ud, mb_error *err)
{
    if (!pool || mb_pool_size(pool) < 2 || rt->kind == MB_RUNTIME_LUA || f->nrows <= UNIT)
        return mb_runtime_transform_frame(rt, f, X, ok, reject, ud, err);
    long *col = input_columns(rt, f, err);
    if (!col)
        return err ? err->code : MB_ENOTFOUND;
    tf_job j = {rt, f, col, X, ok, 0};
    atomic_init(&j.next, 0);
    mb_pool_run(pool, tf_part, &j);
    for (size_t r = 0; reject && r < f->nrows; r++)
        if (!ok[r])
            transform_rows(rt, f, col, r, r + 1, X, ok, reject, ud);
    mb_free(col);
    return MB_OK;
}

mb_status mb_runtime_score_matrix_on(const mb_runtime *rt, mb_pool *pool, const mb_matrix *X, float *label,
                                     float *proba, mb_error *err)
{
    /* a plugin's calls are serialised anyway: one call, no slicing */
    if (!pool || mb_pool_size(pool) < 2 || rt->sc.model || X->rows <= UNIT)
        return mb_runtime_score_matrix(rt, X, label, proba, err);
    if (X->cols != rt->b->nfeatures)
        return mb_fail(err, MB_ESHAPE, "the model takes %zu features, the data has %zu", rt->b->nfeatures,
                       X->cols);
    par_job *j = mb_calloc(1, sizeof *j);
    j->rt = rt;
    j->X = X;
    j->label = label;
    j->proba = proba;
    atomic_init(&j->next, 0);
    atomic_init(&j->failed, 0);
    mb_pool_run(pool, par_part, j);
    mb_status rc = MB_OK;
    for (size_t p = 0; p < mb_pool_size(pool) && p < 64 && rc == MB_OK; p++)
        if ((rc = j->rc[p]) != MB_OK && err)
            *err = j->err[p];
    mb_free(j);
    return rc;
}

mb_status mb_runtime_score_frame(const mb_runtime *rt, const mb_frame *f, float *label, float *proba,
                                 unsigned char *ok, mb_runtime_reject_fn reject, void *ud, mb_error *err)
{
    return mb_runtime_score_frame_on(rt, NULL, f, label, proba, ok, reject, ud, err);
}

/* The features of f as a view, when the bundle's inputs are plain numbers
** (plain_inputs) and their columns are one row-major block in feature
** order (a matrix read from HDF5): the block is what transform_rows would
** copy, value for value, so it is scored where it is (as the core's
** mb_matrix_by_names views it; scoring only reads X). NULL otherwise. */
static float *plain_view(const mb_runtime *rt, const mb_frame *f, size_t *ld)
{
    size_t nf = rt->b->nfeatures;
    if (!rt->plain_numbers || !nf)
        return NULL;
    const mb_column *c0 = NULL;
    for (size_t j = 0; j < nf; j++) {
        long i = mb_frame_find(f, mbrt_pipe_input(rt->pipe, j));
        if (i < 0 || i == f->target || f->cols[i].type != MB_COL_NUM)
            return NULL;
        const mb_column *c = &f->cols[i];
        if (!c0)
            c0 = c;
        if (c->stride != c0->stride || c->stride < nf || c->num != c0->num + j)
            return NULL;
    }
    *ld = c0->stride;
    return c0->num;
}

mb_status mb_runtime_score_frame_on(const mb_runtime *rt, mb_pool *pool, const mb_frame *f, float *label,
                                    float *proba, unsigned char *ok, mb_runtime_reject_fn reject, void *ud,
                                    mb_error *err)
{
    size_t n = f->nrows, nf = rt->b->nfeatures, k = rt->b->nclasses, cells, ld;
    float *view = plain_view(rt, f, &ld);
    if (view) {
        /* every row is good: number columns into number inputs cannot fail */
        mb_matrix V = {view, n, nf, ld};
        mb_status rc = n ? mb_runtime_score_matrix_on(rt, pool, &V, label, proba, err) : MB_OK;
        for (size_t r = 0; ok && rc == MB_OK && r < n; r++)
            ok[r] = 1;
        return rc;
    }
    if (!mb_mul_ok(n ? n : 1, nf ? nf : 1, &cells))
        return mb_fail(err, MB_ENOMEM, "%zu rows x %zu features is too large", n, nf);
    float *X = mb_trymalloc(cells * sizeof *X);
    unsigned char *good = mb_trymalloc(n ? n : 1);
    float *lab = mb_trymalloc((n ? n : 1) * sizeof *lab), *pr = k ? mb_trymalloc((n ? n : 1) * k * sizeof *pr) : NULL;
    mb_status rc = MB_OK;
    if (!X || !good || !lab || (k && !pr)) {
        rc = mb_fail(err, MB_ENOMEM, "no memory to score %zu rows", n);
        goto exit;
    }
    if ((rc = transform_frame_on(rt, pool, f, X, good, reject, ud, err)) != MB_OK)
        goto exit;
    /* the good rows, packed in place, scored in one call */
    size_t m = 0;
    for (size_t r = 0; r < n; r++)
        if (good[r]) {
            if (m != r)
                memcpy(X + m * nf, X + r * nf, nf * sizeof *X);
            m++;
        }
    mb_matrix M = {X, m, nf, nf};
    if (m && (rc = mb_runtime_score_matrix_on(rt, pool, &M, lab, pr, err)) != MB_OK)
        goto exit;
    for (size_t r = 0, i = 0; r < n; r++) {
        if (ok)
            ok[r] = good[r];
        label[r] = good[r] ? lab[i] : NAN;
        for (size_t c = 0; proba && c < k; c++)
            proba[r * k + c] = good[r] ? pr[i * k + c] : NAN;
        i += good[r];
    }
exit:
    mb_free(X);
    mb_free(good);
    mb_free(lab);
    mb_free(pr);
    return rc;
}
