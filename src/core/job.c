/*
** job.c: training jobs (see job.h): transform steps as text, the steps a
** model needs ("prep auto"), and running a job: labels, split, fit per
** part, scores, the final pipeline and its bundle.
*/
#include "job.h"

#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "frameops.h"
#include "io.h"

/* {====== transform steps as text ======} */

#define STEP_OPTIONS "columns, strategy, fill, fill_text, add_indicator, unknown, lo, hi"

static char **split_list(const char *s, size_t *n)
{
    size_t cap = 1;
    for (const char *p = s; *p; p++)
        cap += *p == ',';
    char **v = mb_calloc(cap + 1, sizeof *v);
    *n = 0;
    while (1) {
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        v[(*n)++] = mb_strndup(s, len);
        if (!e)
            break;
        s = e + 1;
    }
    return v;
}

static mb_status parse_number(const char *spec, const char *key, const char *val, double *out, mb_error *err)
{
    char *end;
    double v = strtod(val, &end);
    if (!val[0] || *end)
        return mb_fail(err, MB_EARG, "transform '%s': %s takes a number, not '%s'", spec, key, val);
    *out = v;
    return MB_OK;
}

/* One "key=value" of a step into s. */
static mb_status set_option(mb_job_step *s, const char *spec, const char *kv, mb_error *err)
{
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv)
        return mb_fail(err, MB_EARG, "transform '%s': expected option=value, not '%s' (options: " STEP_OPTIONS ")",
                       spec, kv);
    char key[32];
    size_t klen = (size_t)(eq - kv);
    if (klen >= sizeof key)
        klen = sizeof key - 1;
    memcpy(key, kv, klen);
    key[klen] = '\0';
    const char *val = eq + 1;
    mb_transform_opts *o = &s->opts;
    if (!strcmp(key, "columns")) {
        if (s->cols)
            return mb_fail(err, MB_EARG, "transform '%s': columns given twice", spec);
        s->cols = split_list(val, &s->ncols);
    } else if (!strcmp(key, "strategy") || !strcmp(key, "fill_text") || !strcmp(key, "unknown")) {
        const char **slot = !strcmp(key, "strategy") ? &o->strategy : !strcmp(key, "fill_text") ? &o->fill_text
                                                                                                 : &o->unknown;
        mb_free((void *)*slot);
        *slot = mb_strdup(val);
    } else if (!strcmp(key, "fill")) {
        return parse_number(spec, key, val, &o->fill, err);
    } else if (!strcmp(key, "lo")) {
        return parse_number(spec, key, val, &o->lo, err);
    } else if (!strcmp(key, "hi")) {
        return parse_number(spec, key, val, &o->hi, err);
    } else if (!strcmp(key, "add_indicator")) {
        if (strcmp(val, "true") && strcmp(val, "false") && strcmp(val, "1") && strcmp(val, "0"))
            return mb_fail(err, MB_EARG, "transform '%s': add_indicator is true or false, not '%s'", spec, val);
        o->add_indicator = !strcmp(val, "true") || !strcmp(val, "1");
    } else {
        return mb_fail(err, MB_EARG, "transform '%s': unknown option '%s' (options: " STEP_OPTIONS ")", spec, key);
    }
    return MB_OK;
}

/* Check the step as Lua's mb.transform_new would: make one and drop it. */
static mb_status check_step(mb_job_step *s, mb_error *err)
{
    s->opts.columns = (const char *const *)s->cols;
    s->opts.ncolumns = s->ncols;
    mb_transform *t = NULL;
    mb_status rc = mb_transform_new(s->kind, &s->opts, &t, err);
    mb_transform_free(&t);
    return rc;
}

mb_status mb_job_step_parse(const char *spec, mb_job_step *out, mb_error *err)
{
    memset(out, 0, sizeof *out);
    out->opts.lo = -HUGE_VAL;
    out->opts.hi = HUGE_VAL;
    const char *colon = strchr(spec, ':');
    out->kind = colon ? mb_strndup(spec, (size_t)(colon - spec)) : mb_strdup(spec);
    mb_status rc = MB_OK;
    while (rc == MB_OK && colon) {
        const char *next = strchr(colon + 1, ':');
        char *kv = next ? mb_strndup(colon + 1, (size_t)(next - colon - 1)) : mb_strdup(colon + 1);
        rc = set_option(out, spec, kv, err);
        mb_free(kv);
        colon = next;
    }
    if (rc == MB_OK)
        rc = check_step(out, err);
    if (rc != MB_OK)
        mb_job_step_free(out);
    return rc;
}

mb_status mb_job_step_make(const char *kind, const mb_transform_opts *opts, mb_job_step *out, mb_error *err)
{
    memset(out, 0, sizeof *out);
    out->kind = mb_strdup(kind);
    out->opts.lo = -HUGE_VAL;
    out->opts.hi = HUGE_VAL;
    if (opts) {
        out->opts = *opts;
        out->opts.strategy = opts->strategy ? mb_strdup(opts->strategy) : NULL;
        out->opts.fill_text = opts->fill_text ? mb_strdup(opts->fill_text) : NULL;
        out->opts.unknown = opts->unknown ? mb_strdup(opts->unknown) : NULL;
        if (opts->columns) {
            out->cols = mb_calloc(opts->ncolumns + 1, sizeof *out->cols);
            for (size_t i = 0; i < opts->ncolumns; i++)
                out->cols[i] = mb_strdup(opts->columns[i] ? opts->columns[i] : "");
            out->ncols = opts->ncolumns;
        }
    }
    mb_status rc = check_step(out, err);
    if (rc != MB_OK)
        mb_job_step_free(out);
    return rc;
}

/* Append printf text to a growing string. */
static void append(char **s, size_t *len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void append(char **s, size_t *len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    *s = mb_realloc(*s, *len + (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(*s + *len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    *len += (size_t)n;
}

char *mb_job_step_text(const mb_job_step *s)
{
    char *t = NULL;
    size_t n = 0;
    const mb_transform_opts *o = &s->opts;
    append(&t, &n, "%s", s->kind);
    if (s->cols) {
        append(&t, &n, ":columns=");
        for (size_t i = 0; i < s->ncols; i++)
            append(&t, &n, "%s%s", i ? "," : "", s->cols[i]);
    }
    if (o->strategy)
        append(&t, &n, ":strategy=%s", o->strategy);
    if (o->strategy && !strcmp(o->strategy, "constant"))
        append(&t, &n, ":fill=%.17g", o->fill);
    if (o->fill_text)
        append(&t, &n, ":fill_text=%s", o->fill_text);
    if (o->add_indicator)
        append(&t, &n, ":add_indicator=true");
    if (o->unknown)
        append(&t, &n, ":unknown=%s", o->unknown);
    if (!strcmp(s->kind, "clip")) {
        if (o->lo > -HUGE_VAL)
            append(&t, &n, ":lo=%.17g", o->lo);
        if (o->hi < HUGE_VAL)
            append(&t, &n, ":hi=%.17g", o->hi);
    }
    return t;
}

void mb_job_step_free(mb_job_step *s)
{
    if (!s)
        return;
    mb_free(s->kind);
    for (size_t i = 0; i < s->ncols; i++)
        mb_free(s->cols[i]);
    mb_free(s->cols);
    mb_free((void *)s->opts.strategy);
    mb_free((void *)s->opts.fill_text);
    mb_free((void *)s->opts.unknown);
    memset(s, 0, sizeof *s);
}

/* {====== prep auto ======} */

/* What a model needs from its inputs. Plugins do not declare it (yet), so
** the known models are listed; any other model gets imputation and one-hot
** encoding, which every numeric model accepts. */
typedef struct model_needs {
    const char *name;
    int takes_missing;            /* NaN is a value it handles */
    int wants_scaling;            /* inputs of mean 0, std 1 */
    int ordinal;                  /* categorical codes as numbers suffice (trees) */
} model_needs;

static const model_needs needs_table[] = {
    {"gbdt", 1, 0, 1},
    {"forest", 1, 0, 1},
    {"cart", 1, 0, 1},
    {"knn", 1, 0, 0},             /* knn scales itself (its standardize parameter) */
    {"baseline", 1, 0, 0},
    {"mlp", 0, 1, 0},
    {"linear", 0, 0, 0},
};

mb_status mb_job_auto_steps(const mb_frame *f, const char *weights, const mb_model_type *type,
                            mb_job_step **steps, size_t *n, mb_error *err)
{
    model_needs need = {NULL, 0, 0, 0};
    for (size_t i = 0; i < sizeof needs_table / sizeof needs_table[0]; i++)
        if (!strcmp(type->name, needs_table[i].name))
            need = needs_table[i];
    int cat = 0, num_missing = 0;
    for (size_t j = 0; j < f->ncols; j++) {
        const mb_column *c = &f->cols[j];
        if ((long)j == f->target || (weights && !strcmp(c->name, weights)))
            continue;
        if (c->type == MB_COL_CAT) {
            cat = 1;
            continue;
        }
        for (size_t i = 0; i < f->nrows && !num_missing; i++)
            num_missing = isnan(MB_NUM(c, i));
    }
    *steps = mb_calloc(4, sizeof **steps);
    *n = 0;
    mb_transform_opts o = {0};
    o.lo = -HUGE_VAL;
    o.hi = HUGE_VAL;
    mb_status rc = MB_OK;
    if (num_missing && !need.takes_missing) {
        o.strategy = "median";
        rc = mb_job_step_make("impute", &o, &(*steps)[(*n)++], err);
        o.strategy = NULL;
    }
    /* scaling before encoding: it scales the numeric columns, not the 0/1 ones */
    if (rc == MB_OK && need.wants_scaling)
        rc = mb_job_step_make("standardize", &o, &(*steps)[(*n)++], err);
    if (rc == MB_OK && cat)
        rc = mb_job_step_make(need.ordinal ? "ordinal" : "onehot", &o, &(*steps)[(*n)++], err);
    if (rc != MB_OK) {
        (*n)--; /* the failed one is already empty */
        for (size_t i = 0; i < *n; i++)
            mb_job_step_free(&(*steps)[i]);
        mb_free(*steps);
        *steps = NULL;
        *n = 0;
    }
    return rc;
}

/* {====== running a job ======} */

typedef struct fitted {
    mb_transform **steps;
    size_t nsteps;
    mb_model *model;
    char **features;
    size_t nfeatures;
    mb_state monitoring;          /* the final fit only */
} fitted;

static void fitted_free(fitted *f)
{
    for (size_t i = 0; i < f->nsteps; i++)
        mb_transform_free(&f->steps[i]);
    mb_free(f->steps);
    mb_model_free(&f->model);
    for (size_t i = 0; i < f->nfeatures; i++)
        mb_free(f->features[i]);
    mb_free(f->features);
    mb_state_clear(&f->monitoring);
    memset(f, 0, sizeof *f);
}

/* The progress of one fit as part of the whole job. */
typedef struct part_progress {
    const mb_job *job;
    size_t part, nparts;
    char label[48];
} part_progress;

static void on_part_progress(void *ud, double frac, const char *msg, double tl, double vl)
{
    part_progress *p = ud;
    char text[160];
    snprintf(text, sizeof text, "%s%s%s", p->label, p->label[0] && msg && msg[0] ? ": " : "", msg ? msg : "");
    p->job->progress(p->job->progress_ud, ((double)p->part + frac) / (double)p->nparts, text, tl, vl);
}

/* The labels of every row, the task and the class names, from the target
** alone (a frame of the target and a placeholder feature), so that each
** part of a split names the same classes. */
static mb_status get_labels(const mb_job *job, const mb_frame *base, mb_data *lab, mb_frame **keep, mb_error *err)
{
    const char *tname = base->cols[base->target].name;
    mb_frame *t = NULL;
    float *zeros = mb_calloc(base->nrows + 1, sizeof *zeros);
    mb_status rc = mb_frame_select(base, &tname, 1, 1, &t, err);
    if (rc == MB_OK)
        rc = mb_frame_with_column(t, "(placeholder)", zeros, NULL, NULL, 0, keep, err);
    mb_frame_free(&t);
    mb_free(zeros);
    if (rc != MB_OK)
        return rc;
    mb_frame *k = *keep;
    if (!k->source && base->source)
        k->source = mb_strdup(base->source);
    if (!k->task && base->task)
        k->task = mb_strdup(base->task);
    return mb_data_from_frame(k, job->task, lab, err);
}

/* in -> each fitted step -> a new frame (in itself when there are none). */
static mb_status apply_steps(mb_transform *const *steps, size_t n, const mb_frame *in, mb_frame **owned,
                             const mb_frame **out, mb_error *err)
{
    *owned = NULL;
    *out = in;
    for (size_t i = 0; i < n; i++) {
        mb_frame *next = NULL;
        mb_status rc = mb_transform_apply(steps[i], *out, &next, err);
        mb_frame_free(owned);
        if (rc != MB_OK)
            return rc;
        *owned = next;
        *out = next;
    }
    return MB_OK;
}

/* Early-stopping data through the fitted steps, its labels named as the
** training classes (by text: its file may order its levels otherwise). */
static mb_status valid_data(const mb_job *job, const fitted *ft, const mb_data *lab, mb_frame **owned,
                            mb_data *vd, mb_error *err)
{
    const mb_frame *v = job->valid, *in;
    mb_frame *nw = NULL;
    if (v->target < 0)
        return mb_fail(err, MB_EARG, "%s: the validation data has no target column", v->source ? v->source : "valid");
    if (job->weights && mb_frame_find(v, job->weights) >= 0) {
        mb_status rc = mb_frame_select(v, &job->weights, 1, 0, &nw, err);
        if (rc != MB_OK)
            return rc;
        v = nw;
    }
    mb_status rc = apply_steps(ft->steps, ft->nsteps, v, owned, &in, err);
    if (rc == MB_OK)
        rc = mb_data_from_frame(in, lab->ds.task, vd, err);
    if (rc == MB_OK && *owned == NULL && nw) {
        *owned = nw; /* vd may view it */
        nw = NULL;
    }
    mb_frame_free(&nw);
    if (rc != MB_OK || !lab->ds.nclasses)
        return rc;
    for (size_t i = 0; i < vd->ds.X.rows; i++) {
        const char *name = vd->class_names[(size_t)vd->ybuf[i]];
        size_t c = 0;
        while (c < lab->ds.nclasses && strcmp(lab->class_names[c], name))
            c++;
        if (c == lab->ds.nclasses)
            return mb_fail(err, MB_EARG, "%s: row %zu of the validation data has class '%s', which the training data "
                           "does not have", job->valid->source ? job->valid->source : "valid", i + 1, name);
        vd->ybuf[i] = (float)c;
    }
    vd->ds.nclasses = lab->ds.nclasses;
    return MB_OK;
}

static const model_needs *needs_of(const mb_model_type *type)
{
    for (size_t i = 0; i < sizeof needs_table / sizeof needs_table[0]; i++)
        if (!strcmp(type->name, needs_table[i].name))
            return &needs_table[i];
    return NULL;
}

/* A model that refuses missing values hears of the first one here, by
** row (1-based, of the whole data) and column name, rather than by the
** plugin's matrix indices. */
static mb_status check_missing(const mb_job *job, const mb_data *d, const size_t *idx, mb_error *err)
{
    const model_needs *need = needs_of(job->type);
    if (!need || need->takes_missing)
        return MB_OK;
    const mb_matrix *X = &d->ds.X;
    for (size_t i = 0; i < X->rows; i++)
        for (size_t j = 0; j < X->cols; j++)
            if (isnan(X->x[i * X->ld + j]))
                return mb_fail(err, MB_EARG,
                               "%s: row %zu, column '%s' is missing; %s needs complete features: impute them "
                               "(-t impute:strategy=median, or --prep auto) or drop those rows",
                               job->data->source ? job->data->source : "data", (idx ? idx[i] : i) + 1,
                               d->feature_names[j], job->type->name);
    return MB_OK;
}

/* Fit the steps and the model on rows idx[0..n) of base (all when idx is
** NULL). w: the weights of every row, or NULL. */
static mb_status fit_part(const mb_job *job, const mb_frame *base, const mb_data *lab, const float *w,
                          const size_t *idx, size_t n, part_progress *pp, int final, fitted *out, mb_error *err)
{
    memset(out, 0, sizeof *out);
    mb_frame *rows = NULL, *cur = NULL, *vowned = NULL;
    mb_data d = {0}, vd = {0};
    mb_params params;
    memset(&params, 0, sizeof params);
    float *wpart = NULL;
    const mb_frame *in = base;
    mb_status rc = MB_OK;
    if (idx) {
        if ((rc = mb_frame_take(base, idx, n, &rows, err)) != MB_OK)
            goto exit;
        in = rows;
    }
    out->steps = mb_calloc(job->nsteps + 1, sizeof *out->steps);
    for (size_t i = 0; i < job->nsteps; i++) {
        const mb_job_step *s = &job->steps[i];
        mb_frame *next = NULL;
        if ((rc = mb_transform_new(s->kind, &s->opts, &out->steps[i], err)) != MB_OK)
            goto exit;
        out->nsteps++;
        if ((rc = mb_transform_fit(out->steps[i], in, err)) != MB_OK ||
            (rc = mb_transform_apply(out->steps[i], in, &next, err)) != MB_OK)
            goto exit;
        mb_frame_free(&cur);
        cur = next;
        in = cur;
    }
    if (w) { /* weights were set apart from the transforms; back as a column */
        wpart = mb_malloc((n ? n : 1) * sizeof *wpart);
        for (size_t i = 0; i < n; i++)
            wpart[i] = w[idx ? idx[i] : i];
        mb_frame *next = NULL;
        if ((rc = mb_frame_with_column(in, job->weights, wpart, NULL, NULL, 0, &next, err)) != MB_OK)
            goto exit;
        mb_frame_free(&cur);
        cur = next;
        in = cur;
    }
    if ((rc = mb_data_from_frame_weighted(in, lab->ds.task, job->weights, &d, err)) != MB_OK)
        goto exit;
    for (size_t i = 0; i < n; i++) /* the labels of the whole data: the same classes in every part */
        d.ybuf[i] = lab->ybuf[idx ? idx[i] : i];
    d.ds.y = d.ybuf;
    d.ds.nclasses = lab->ds.nclasses;
    if ((rc = check_missing(job, &d, idx, err)) != MB_OK)
        goto exit;
    if (job->valid && (rc = valid_data(job, out, lab, &vowned, &vd, err)) != MB_OK)
        goto exit;
    if ((rc = mb_params_parse(&params, job->type, job->settings, job->nsettings, err)) != MB_OK ||
        (rc = mb_model_create(&out->model, job->type, job->owner, &params, err)) != MB_OK)
        goto exit;
    mb_fit_context ctx = {sizeof ctx, mb_host_services(), job->threads > 0 ? job->threads : 1, job->seed,
                          job->progress ? on_part_progress : NULL, pp, job->cancel};
    if ((rc = mb_model_fit(out->model, &d.ds, job->valid ? &vd.ds : NULL, &ctx, err)) != MB_OK)
        goto exit;
    out->nfeatures = d.ds.X.cols;
    out->features = mb_calloc(out->nfeatures + 1, sizeof *out->features);
    for (size_t j = 0; j < out->nfeatures; j++)
        out->features[j] = mb_strdup(d.feature_names[j]);
    if (final)
        rc = mb_monitoring_compute(&d.ds.X, &out->monitoring, err);
exit:
    if (rc != MB_OK)
        fitted_free(out);
    mb_params_free(&params);
    mb_data_free(&d);
    mb_data_free(&vd);
    mb_frame_free(&vowned);
    mb_frame_free(&cur);
    mb_frame_free(&rows);
    mb_free(wpart);
    return rc;
}

/* Score the fitted pipeline on rows idx[0..n) of base (all when NULL). */
static mb_status eval_part(const mb_job *job, const fitted *ft, const mb_frame *base, const mb_data *lab,
                           const size_t *idx, size_t n, mb_job_metrics *m, mb_error *err)
{
    mb_frame *rows = NULL, *owned = NULL;
    const mb_frame *in = base;
    float *xown = NULL, *pred = NULL, *proba = NULL, *y = NULL;
    size_t k = lab->ds.nclasses;
    mb_matrix X;
    mb_status rc = MB_OK;
    if (idx && (rc = mb_frame_take(base, idx, n, &rows, err)) != MB_OK)
        goto exit;
    if (idx)
        in = rows;
    if ((rc = apply_steps(ft->steps, ft->nsteps, in, &owned, &in, err)) != MB_OK ||
        (rc = mb_matrix_by_names(in, (const char *const *)ft->features, ft->nfeatures, "evaluate", &X, &xown,
                                 err)) != MB_OK)
        goto exit;
    pred = mb_malloc((n ? n : 1) * sizeof *pred);
    y = mb_malloc((n ? n : 1) * sizeof *y);
    for (size_t i = 0; i < n; i++)
        y[i] = lab->ybuf[idx ? idx[i] : i];
    if ((rc = mb_model_predict(ft->model, &X, pred, err)) != MB_OK)
        goto exit;
    m->nrows = n;
    m->task = lab->ds.task;
    if (k) {
        proba = mb_malloc((n ? n : 1) * k * sizeof *proba);
        mb_error perr; /* a model without probabilities: AUCs and log-loss are NaN */
        if (mb_model_predict_proba(ft->model, &X, proba, &perr) != MB_OK) {
            mb_free(proba);
            proba = NULL;
        }
        for (size_t i = 0; proba && job->threshold > 0 && lab->ds.task == MB_TASK_BINARY && i < n; i++)
            pred[i] = (double)proba[2 * i + 1] > job->threshold ? 1.0f : 0.0f; /* the bundle's rule */
        if ((rc = mb_class_report_compute(y, pred, proba, n, k, &m->cls, err)) != MB_OK)
            goto exit;
    } else {
        mb_reg_report_compute(y, pred, n, &m->reg);
    }
    m->done = 1;
exit:
    mb_frame_free(&rows);
    mb_frame_free(&owned);
    mb_free(xown);
    mb_free(pred);
    mb_free(proba);
    mb_free(y);
    return rc;
}

/* The final pipeline as a bundle: schema, inputs, fitted steps, model,
** provenance, monitoring (as pipeline:save in Lua writes it). */
static mb_status make_bundle(const mb_job *job, const mb_frame *base, const mb_data *lab, fitted *ft, size_t ntrain,
                             mb_bundle **out, mb_error *err)
{
    mb_bundle *b = mb_calloc(1, sizeof *b);
    char *file = NULL, *object = NULL;
    const char *spec = job->source ? job->source : (base->source ? base->source : "");
    mb_split_spec(spec, &file, &object);
    mb_status rc = mb_bundle_from_model(b, ft->model, (const char *const *)ft->features, ft->nfeatures,
                                        base->cols[base->target].name, (const char *const *)lab->class_names, file,
                                        spec, ntrain, err);
    mb_free(file);
    mb_free(object);
    if (rc == MB_OK) {
        mb_state_clear(&b->monitoring);
        b->monitoring = ft->monitoring; /* moved */
        memset(&ft->monitoring, 0, sizeof ft->monitoring);
        b->inputs = mb_calloc(base->ncols + 1, sizeof *b->inputs);
        b->input_types = mb_calloc(base->ncols + 1, sizeof *b->input_types);
        for (size_t j = 0; j < base->ncols; j++) {
            if ((long)j == base->target)
                continue;
            b->inputs[b->ninputs] = mb_strdup(base->cols[j].name);
            b->input_types[b->ninputs++] = mb_strdup(base->cols[j].type == MB_COL_NUM ? "numeric" : "categorical");
        }
        b->nsteps = ft->nsteps;
        b->step_kinds = mb_calloc(ft->nsteps + 1, sizeof *b->step_kinds);
        b->steps = mb_calloc(ft->nsteps + 1, sizeof *b->steps);
        for (size_t i = 0; rc == MB_OK && i < ft->nsteps; i++) {
            b->step_kinds[i] = mb_strdup(mb_transform_kind(ft->steps[i]));
            rc = mb_transform_save(ft->steps[i], &b->steps[i], err);
        }
        if (job->script) {
            mb_free(b->script);
            b->script = mb_strdup(job->script);
        }
        if (rc == MB_OK)
            rc = mb_bundle_add_model_facts(b, ft->model, err);
        if (rc == MB_OK && job->threshold > 0)
            rc = mb_bundle_set_threshold(b, job->threshold, err);
    }
    if (rc != MB_OK)
        mb_bundle_free(&b);
    *out = b;
    return rc;
}

static const char *const importance_names[2] = {"importance", "importance_gain"};

mb_status mb_bundle_add_model_facts(mb_bundle *b, mb_model *m, mb_error *err)
{
    double *imp = mb_calloc(b->nfeatures + 1, sizeof *imp);
    mb_status rc = MB_OK;
    for (int kind = 0; kind < 2 && rc == MB_OK && m->type->importance && b->nfeatures; kind++) {
        char msg[MB_PLUGIN_ERRLEN] = "";
        if (m->type->importance(m->impl, kind, imp, msg) != MB_PLUGIN_OK)
            continue; /* this kind is not reported: nothing stored */
        mb_state_writer w = mb_state_writer_for(&b->monitoring);
        if (w.put(w.ud, importance_names[kind], MB_DT_F64, imp, b->nfeatures) != MB_PLUGIN_OK)
            rc = mb_fail(err, MB_ENOMEM, "bundle: cannot store the feature importance");
    }
    mb_free(imp);
    mb_fit_info fi;
    mb_error ignored; /* a model that reports nothing stores nothing */
    if (rc == MB_OK && mb_model_fit_info(m, &fi, &ignored) == MB_OK && fi.n) {
        mb_state_writer w = mb_state_writer_for(&b->monitoring);
        rc = mb_state_put_strings(&b->monitoring, "fit_names", fi.names, fi.n, err);
        if (rc == MB_OK && w.put(w.ud, "fit_values", MB_DT_F64, fi.values, fi.n) != MB_PLUGIN_OK)
            rc = mb_fail(err, MB_ENOMEM, "bundle: cannot store the fit info");
    }
    return rc;
}

char **mb_bundle_fit_info(const mb_bundle *b, const double **values, size_t *n)
{
    mb_error err;
    char **names = NULL;
    for (size_t i = 0; i < b->monitoring.n; i++) {
        const mb_state_array *a = &b->monitoring.arrays[i];
        if (!strcmp(a->name, "fit_names"))
            names = mb_state_get_strings(&b->monitoring, "fit_names", n, &err);
    }
    for (size_t i = 0; names && i < b->monitoring.n; i++) {
        const mb_state_array *a = &b->monitoring.arrays[i];
        if (!strcmp(a->name, "fit_values") && a->type == MB_DT_F64 && a->count == *n) {
            *values = a->data;
            return names;
        }
    }
    for (size_t i = 0; names && i < *n; i++)
        mb_free(names[i]);
    mb_free(names);
    *n = 0;
    return NULL;
}

const double *mb_bundle_importance(const mb_bundle *b, int kind)
{
    if (kind < 0 || kind > 1)
        return NULL;
    for (size_t i = 0; i < b->monitoring.n; i++) {
        const mb_state_array *a = &b->monitoring.arrays[i];
        if (!strcmp(a->name, importance_names[kind]) && a->type == MB_DT_F64 && a->count == b->nfeatures)
            return a->data;
    }
    return NULL;
}

static void describe_rows(mb_job_metrics *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void describe_rows(mb_job_metrics *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->what, sizeof m->what, fmt, ap);
    va_end(ap);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Strata for a split: the target's codes or values (as mb._split in Lua). */
static float *strata_of(const mb_frame *f)
{
    const mb_column *t = &f->cols[f->target];
    float *s = mb_malloc((f->nrows ? f->nrows : 1) * sizeof *s);
    for (size_t i = 0; i < f->nrows; i++)
        s[i] = t->type == MB_COL_CAT ? (float)t->codes[i] : MB_NUM(t, i);
    return s;
}

mb_status mb_job_run(const mb_job *job, mb_job_result *out, mb_error *err)
{
    memset(out, 0, sizeof *out);
    const mb_frame *data = job->data;
    mb_frame *nw = NULL, *labframe = NULL;
    mb_data lab = {0};
    fitted ft = {0}, part = {0};
    float *w = NULL, *strata = NULL;
    size_t *tr = NULL, *te = NULL, ntr = 0, nte = 0;
    int32_t *fold = NULL;
    mb_status rc = MB_OK;
    if (data->target < 0)
        return mb_fail(err, MB_EARG, "%s: no target column; name one (--target COLUMN)",
                       data->source ? data->source : "data");
    if (!job->type)
        return mb_fail(err, MB_EARG, "job: no model type");
    const mb_frame *base = data;
    if (job->weights) { /* the weights are no feature: set apart before the transforms */
        long j = mb_frame_find(data, job->weights);
        if (j < 0 || data->cols[j].type != MB_COL_NUM || j == data->target)
            return mb_fail(err, MB_EARG, "%s: the weights must be a numeric column other than the target, not '%s'",
                           data->source ? data->source : "data", job->weights);
        w = mb_malloc((data->nrows ? data->nrows : 1) * sizeof *w);
        for (size_t i = 0; i < data->nrows; i++)
            w[i] = MB_NUM(&data->cols[j], i);
        if ((rc = mb_frame_select(data, &job->weights, 1, 0, &nw, err)) != MB_OK)
            goto exit;
        if (!nw->source && data->source)
            nw->source = mb_strdup(data->source);
        base = nw;
    }
    if ((rc = get_labels(job, base, &lab, &labframe, err)) != MB_OK)
        goto exit;
    size_t n = base->nrows, k = lab.ds.nclasses;
    if (job->threshold != 0 && lab.ds.task != MB_TASK_BINARY) {
        rc = mb_fail(err, MB_EARG, "a decision threshold is for binary models; this task is %s (%zu classes)",
                     mb_task_name(lab.ds.task), k);
        goto exit;
    }
    if (job->threshold != 0 && !(job->threshold > 0 && job->threshold < 1)) {
        rc = mb_fail(err, MB_EARG, "the decision threshold must be in (0, 1), not %g", job->threshold);
        goto exit;
    }
    int stratify = job->stratify < 0 ? k > 0 : job->stratify;
    if (stratify)
        strata = strata_of(base);
    part_progress pp = {job, 0, 1, ""};
    if (job->eval == MB_EVAL_CV) {
        if (job->k < 2 || job->k > n) {
            rc = mb_fail(err, MB_EARG, "cross-validation: k = %zu; expected 2 to %zu (the number of rows)", job->k, n);
            goto exit;
        }
        fold = mb_malloc((n ? n : 1) * sizeof *fold);
        if ((rc = mb_kfold(n, job->k, 1, strata, NULL, job->seed, fold, err)) != MB_OK)
            goto exit;
        out->folds = mb_calloc(job->k, sizeof *out->folds);
        tr = mb_malloc(n * sizeof *tr);
        te = mb_malloc(n * sizeof *te);
        pp.nparts = job->k + 1;
        for (size_t f = 0; f < job->k; f++) {
            ntr = nte = 0;
            for (size_t i = 0; i < n; i++) {
                if ((size_t)fold[i] == f)
                    te[nte++] = i;
                else
                    tr[ntr++] = i;
            }
            pp.part = f;
            snprintf(pp.label, sizeof pp.label, "fold %zu/%zu", f + 1, job->k);
            if ((rc = fit_part(job, base, &lab, w, tr, ntr, &pp, 0, &part, err)) != MB_OK)
                goto exit;
            rc = eval_part(job, &part, base, &lab, te, nte, &out->folds[f], err);
            describe_rows(&out->folds[f], "fold %zu: %zu test rows, fitted on the other %zu", f + 1, nte, ntr);
            out->nfolds++;
            fitted_free(&part);
            if (rc != MB_OK)
                goto exit;
        }
        pp.part = job->k;
        snprintf(pp.label, sizeof pp.label, "all rows");
        mb_free(tr);
        mb_free(te);
        tr = te = NULL;
        ntr = n;
    } else if (job->eval == MB_EVAL_TEST) {
        if ((rc = mb_split_train_test(n, job->test, strata, job->seed, &tr, &ntr, &te, &nte, err)) != MB_OK)
            goto exit;
    } else {
        ntr = n;
    }
    double t0 = now_s();
    if ((rc = fit_part(job, base, &lab, w, tr, ntr, &pp, 1, &ft, err)) != MB_OK)
        goto exit;
    out->seconds = now_s() - t0;
    if ((rc = eval_part(job, &ft, base, &lab, tr, ntr, &out->train, err)) != MB_OK)
        goto exit;
    if (tr)
        describe_rows(&out->train, "%zu training rows of %zu; optimistic: the model saw them", ntr, n);
    else
        describe_rows(&out->train, "all %zu rows, the training rows; optimistic: the model saw them", n);
    if (te) {
        if ((rc = eval_part(job, &ft, base, &lab, te, nte, &out->test, err)) != MB_OK)
            goto exit;
        describe_rows(&out->test, "%zu held-out test rows of %zu%s, seed %llu", nte, n,
                      stratify ? ", stratified" : "", (unsigned long long)job->seed);
    }
    if ((rc = make_bundle(job, base, &lab, &ft, ntr, &out->bundle, err)) != MB_OK)
        goto exit;
    out->task = lab.ds.task;
    out->nclasses = k;
    out->classes = mb_calloc(k + 1, sizeof *out->classes);
    for (size_t c = 0; c < k; c++)
        out->classes[c] = mb_strdup(lab.class_names[c]);
    out->nfeatures = ft.nfeatures;
    out->features = ft.features;
    ft.features = NULL;
    ft.nfeatures = 0;
    out->model = ft.model;
    ft.model = NULL;
    out->nrows = n;
    out->ntrain = ntr;
exit:
    if (rc != MB_OK)
        mb_job_result_free(out);
    fitted_free(&ft);
    fitted_free(&part);
    mb_data_free(&lab);
    mb_frame_free(&labframe);
    mb_frame_free(&nw);
    mb_free(w);
    mb_free(strata);
    mb_free(tr);
    mb_free(te);
    mb_free(fold);
    return rc;
}

static void metrics_free(mb_job_metrics *m)
{
    if (m->done && m->task != MB_TASK_REGRESSION)
        mb_class_report_free(&m->cls);
    memset(m, 0, sizeof *m);
}

void mb_job_result_free(mb_job_result *r)
{
    for (size_t c = 0; c < r->nclasses; c++)
        mb_free(r->classes[c]);
    mb_free(r->classes);
    for (size_t j = 0; j < r->nfeatures; j++)
        mb_free(r->features[j]);
    mb_free(r->features);
    mb_model_free(&r->model);
    mb_bundle_free(&r->bundle);
    metrics_free(&r->train);
    metrics_free(&r->test);
    for (size_t f = 0; f < r->nfolds; f++)
        metrics_free(&r->folds[f]);
    mb_free(r->folds);
    memset(r, 0, sizeof *r);
}

double mb_job_metric(const mb_job_metrics *m, const char *name)
{
    if (!m->done)
        return (double)NAN;
    if (m->task == MB_TASK_REGRESSION) {
        const mb_reg_report *r = &m->reg;
        return !strcmp(name, "rmse") ? r->rmse : !strcmp(name, "mae") ? r->mae : !strcmp(name, "r2") ? r->r2
               : !strcmp(name, "mape") ? r->mape : (double)NAN;
    }
    const mb_class_report *c = &m->cls;
    static const struct {
        const char *name;
        size_t off;
    } fields[] = {
        {"accuracy", offsetof(mb_class_report, accuracy)},
        {"balanced_accuracy", offsetof(mb_class_report, balanced_accuracy)},
        {"precision_macro", offsetof(mb_class_report, precision_macro)},
        {"recall_macro", offsetof(mb_class_report, recall_macro)},
        {"f1_macro", offsetof(mb_class_report, f1_macro)},
        {"precision_weighted", offsetof(mb_class_report, precision_weighted)},
        {"recall_weighted", offsetof(mb_class_report, recall_weighted)},
        {"f1_weighted", offsetof(mb_class_report, f1_weighted)},
        {"roc_auc", offsetof(mb_class_report, roc_auc)},
        {"pr_auc", offsetof(mb_class_report, pr_auc)},
        {"log_loss", offsetof(mb_class_report, log_loss)},
        {"brier", offsetof(mb_class_report, brier)},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (!strcmp(name, fields[i].name))
            return *(const double *)(const void *)((const char *)c + fields[i].off);
    return (double)NAN;
}
