/*
** bundle.c: building a model bundle from a fitted model, and scoring from
** one (see bundle.h). The HDF5 side is h5bundle.c.
*/
#include "bundle.h"
#include "audit.h"
#include "dataset.h"
#include "stats.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static char **copy_strings(const char *const *v, size_t n)
{
    char **out = mb_calloc(n + 1, sizeof *out);
    for (size_t i = 0; i < n; i++)
        out[i] = mb_strdup(v[i] ? v[i] : "");
    return out;
}

static void free_strings(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        mb_free(v[i]);
    mb_free(v);
}

void mb_bundle_free(mb_bundle **pb)
{
    if (!pb || !*pb)
        return;
    mb_bundle *b = *pb;
    free_strings(b->features, b->nfeatures);
    free_strings(b->classes, b->nclasses);
    free_strings(b->param_names, b->nparams);
    free_strings(b->param_values, b->nparams);
    mb_free(b->target);
    free_strings(b->inputs, b->ninputs);
    free_strings(b->input_types, b->ninputs);
    free_strings(b->step_kinds, b->nsteps);
    for (size_t i = 0; b->steps && i < b->nsteps; i++)
        mb_state_clear(&b->steps[i]);
    mb_free(b->steps);
    mb_free(b->plugin);
    mb_free(b->plugin_version);
    mb_free(b->model);
    mb_state_clear(&b->portable_state);
    mb_state_clear(&b->plugin_state);
    mb_state_clear(&b->monitoring);
    mb_free(b->source);
    mb_free(b->source_sha256);
    mb_free(b->created);
    mb_free(b->moonbench_version);
    mb_free(b->script);
    mb_free(b->file);
    mb_free(b);
    *pb = NULL;
}

double mb_bundle_threshold(const mb_bundle *b)
{
    return b->threshold > 0 && b->threshold < 1 ? b->threshold : 0.5;
}

mb_status mb_bundle_set_threshold(mb_bundle *b, double t, mb_error *err)
{
    if (b->task != MB_TASK_BINARY)
        return mb_fail(err, MB_EARG, "a decision threshold is for binary models; this one is %s",
                       mb_task_name(b->task));
    if (!(t > 0 && t < 1))
        return mb_fail(err, MB_EARG, "the decision threshold must be a number in (0, 1), not %g", t);
    b->threshold = t;
    return MB_OK;
}

mb_status mb_bundle_from_model(mb_bundle *b, mb_model *m, const char *const *features,
                               size_t nfeatures, const char *target, const char *const *classes,
                               const char *source_file, const char *source_spec, size_t rows,
                               mb_error *err)
{
    b->features = copy_strings(features, nfeatures);
    b->nfeatures = nfeatures;
    b->target = mb_strdup(target ? target : "");
    b->task = m->task;
    b->nclasses = m->task == MB_TASK_REGRESSION ? 0 : m->nclasses;
    b->classes = copy_strings(classes, b->nclasses);
    b->plugin = mb_strdup(m->owner->plugin->name);
    b->plugin_version = mb_strdup(m->owner->plugin->version);
    b->model = mb_strdup(m->type->name);
    b->nparams = m->params.n;
    b->param_names = mb_calloc(b->nparams + 1, sizeof *b->param_names);
    b->param_values = mb_calloc(b->nparams + 1, sizeof *b->param_values);
    for (size_t i = 0; i < b->nparams; i++) {
        b->param_names[i] = mb_strdup(m->type->params[i].name);
        b->param_values[i] = mb_strdup(m->params.text[i]);
    }
    char msg[MB_PLUGIN_ERRLEN] = "";
    mb_state_writer w = mb_state_writer_for(&b->plugin_state);
    int rc = m->type->save(m->impl, &w, msg);
    if (rc != MB_PLUGIN_OK)
        return mb_fail(err, MB_EARG, "model '%s' (save): %s", m->type->name, msg[0] ? msg : "failed");
    b->form = MB_FORM_NONE;
    if (m->type->portable) {
        mb_portable p;
        memset(&p, 0, sizeof p);
        rc = m->type->portable(m->impl, &p, msg);
        if (rc != MB_PLUGIN_OK)
            return mb_fail(err, MB_EARG, "model '%s' (portable): %s", m->type->name, msg[0] ? msg : "failed");
        if (p.kind != MB_FORM_NONE) {
            mb_status st = mb_portable_to_state(&p, &b->portable_state, err);
            if (st != MB_OK)
                return st;
            b->form = p.kind;
        }
    }
    char hex[65];
    b->source = mb_strdup(source_spec ? source_spec : "");
    /* cached: the audit event of this fit names the same file */
    b->source_sha256 = mb_strdup(source_file && mb_audit_file_sha256(source_file, hex) == 0 ? hex : "");
    b->rows_used = rows;
    char when[32];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    b->created = mb_strdup(when);
    b->moonbench_version = mb_strdup(MB_VERSION);
    b->script = mb_strdup("");
    return MB_OK;
}

/* {====== monitoring ======} */

/* The drift bins (src/deploy/drift.h) with their exact training shares:
** edges are a feature's distinct interior deciles (NaN-padded to 9), a
** value goes to the first bin whose edge it does not exceed, and shares
** (11 per feature: up to 10 value bins, then missing) are fractions of the
** sampled rows. Deciles alone cannot say how much of a repeated value lies
** at an edge; these can. Non-zero when storing failed. */
static int monitoring_bins(const float *S, size_t p, size_t ns, const double *q, mb_state *out)
{
    enum { NQ = 11, NB = 11 };
    double *edges = mb_malloc((p * 9 + 1) * sizeof *edges), *share = mb_calloc(p * NB + 1, sizeof *share);
    for (size_t j = 0; j < p; j++) {
        double *e = edges + j * 9;
        size_t m = 0;
        for (int t = 1; t <= 9; t++) {
            double v = q[j * NQ + (size_t)t];
            if (!isnan(v) && (m == 0 || v > e[m - 1]))
                e[m++] = v;
        }
        for (size_t k = m; k < 9; k++)
            e[k] = (double)NAN;
        for (size_t r = 0; r < ns; r++) {
            float v = S[r * p + j];
            size_t k = 0;
            if (isnan(v))
                k = NB - 1;
            else
                while (k < m && (double)v > e[k])
                    k++;
            share[j * NB + k] += 1.0 / (double)ns;
        }
    }
    mb_state_writer w = mb_state_writer_for(out);
    int bad = w.put(w.ud, "bin_edges", MB_DT_F64, edges, p * 9) || w.put(w.ud, "bin_shares", MB_DT_F64, share, p * NB);
    mb_free(edges);
    mb_free(share);
    return bad;
}

mb_status mb_monitoring_compute(const mb_matrix *X, mb_state *out, mb_error *err)
{
    /* From evenly spaced rows only: cheap next to any fit (a few ms), and
    ** plenty for drift statistics. */
    enum { NQ = 11, MAXROWS = 4096 };
    size_t p = X->cols, n = X->rows;
    size_t step = n > MAXROWS ? (n + MAXROWS - 1) / MAXROWS : 1, ns = n ? (n - 1) / step + 1 : 0;
    double *mean = mb_calloc(p + 1, sizeof *mean), *std = mb_calloc(p + 1, sizeof *std),
           *mn = mb_calloc(p + 1, sizeof *mn), *mx = mb_calloc(p + 1, sizeof *mx),
           *miss = mb_calloc(p + 1, sizeof *miss), *q = mb_calloc(p * NQ + 1, sizeof *q);
    float *col = mb_malloc((ns + 1) * sizeof *col);
    uint32_t *scratch = mb_malloc((2 * ns + 1) * sizeof *scratch);
    /* The sampled rows, gathered once: read in place, each column's pass
    ** touched a cache line (or a page) of every sampled row of a matrix far
    ** bigger than the cache, 2p times over. */
    float *S = mb_malloc((ns * p + 1) * sizeof *S);
    for (size_t r = 0; r < ns; r++)
        memcpy(S + r * p, X->x + r * step * X->ld, p * sizeof *S);
    double rows = (double)ns;
    mb_status rc = MB_OK;
    for (size_t j = 0; j < p; j++) {
        double sum = 0, sum2 = 0;
        size_t k = 0;
        for (size_t r = 0; r < ns; r++) {
            float v = S[r * p + j];
            if (!isnan(v)) {
                col[k++] = v;
                sum += (double)v;
            }
        }
        double m = k ? sum / (double)k : (double)NAN;
        for (size_t r = 0; r < k; r++)
            sum2 += ((double)col[r] - m) * ((double)col[r] - m);
        mb_sort_floats(col, scratch, k);
        mean[j] = m;
        std[j] = k > 1 ? sqrt(sum2 / (double)(k - 1)) : (double)NAN;
        mn[j] = k ? (double)col[0] : (double)NAN;
        mx[j] = k ? (double)col[k - 1] : (double)NAN;
        miss[j] = ns ? (double)(ns - k) / (double)ns : 0;
        for (int t = 0; t < NQ; t++)
            q[j * NQ + (size_t)t] = k ? (double)col[(size_t)((double)t / (NQ - 1) * (double)(k - 1) + 0.5)]
                                      : (double)NAN;
    }
    mb_state_writer w = mb_state_writer_for(out);
    if (monitoring_bins(S, p, ns, q, out) ||
        w.put(w.ud, "mean", MB_DT_F64, mean, p) || w.put(w.ud, "std", MB_DT_F64, std, p) ||
        w.put(w.ud, "min", MB_DT_F64, mn, p) || w.put(w.ud, "max", MB_DT_F64, mx, p) ||
        w.put(w.ud, "missing", MB_DT_F64, miss, p) || w.put(w.ud, "quantiles", MB_DT_F64, q, p * NQ) ||
        w.put(w.ud, "rows_sampled", MB_DT_F64, &rows, 1))
        rc = mb_fail(err, MB_ENOMEM, "cannot store training statistics");
    mb_free(mean);
    mb_free(std);
    mb_free(mn);
    mb_free(mx);
    mb_free(miss);
    mb_free(q);
    mb_free(col);
    mb_free(S);
    mb_free(scratch);
    return rc;
}

/* {====== scoring ======} */

/* The bundle's model from the registry, by its plugin's name and its own:
** a model of the same name from another plugin is not the saved one. */
static const mb_model_type *find_bundle_model(const mb_bundle *b, const mb_registry *reg,
                                              const mb_loaded_plugin **owner, mb_error *err)
{
    const char *file = b->file ? b->file : "bundle";
    if (!reg) {
        mb_fail(err, MB_ENOTFOUND, "%s: the model '%s' (plugin %s %s) has no portable form and no plugin registry "
                "was given", file, b->model, b->plugin, b->plugin_version);
        return NULL;
    }
    size_t n = strlen(b->plugin) + strlen(b->model) + 2;
    char *want = mb_malloc(n);
    snprintf(want, n, "%s/%s", b->plugin, b->model);
    mb_error e;
    const mb_model_type *type = mb_registry_find(reg, want, owner, &e);
    mb_free(want);
    if (type)
        return type;
    const mb_loaded_plugin *other = NULL;
    if (mb_registry_find(reg, b->model, &other, &e) && other)
        mb_fail(err, MB_ENOTFOUND,
                "%s: the model '%s' comes from plugin '%s' %s, which is not installed; plugin '%s' (%s) also "
                "has a model named '%s', but it is another plugin's and is not used",
                file, b->model, b->plugin, b->plugin_version, other->plugin->name, other->path, b->model);
    else
        mb_fail(err, MB_ENOTFOUND,
                "%s: the bundle's model '%s' (plugin %s %s) has no portable form and its plugin is not "
                "installed; install the plugin or set MOONBENCH_PLUGIN_PATH",
                file, b->model, b->plugin, b->plugin_version);
    return NULL;
}

/* The plugin's model, created with the saved parameters and loaded with
** the saved state (non-portable bundles). */
static mb_status open_plugin_model(mb_scorer *s, const mb_bundle *b, const mb_registry *reg, mb_error *err)
{
    const mb_loaded_plugin *owner = NULL;
    const mb_model_type *type = find_bundle_model(b, reg, &owner, err);
    if (!type)
        return err ? err->code : MB_ENOTFOUND;
    const char **settings = mb_calloc(b->nparams + 1, sizeof *settings);
    char **buf = mb_calloc(b->nparams + 1, sizeof *buf);
    for (size_t i = 0; i < b->nparams; i++) {
        size_t n = strlen(b->param_names[i]) + strlen(b->param_values[i]) + 2;
        buf[i] = mb_malloc(n);
        snprintf(buf[i], n, "%s=%s", b->param_names[i], b->param_values[i]);
        settings[i] = buf[i];
    }
    mb_params params;
    mb_status rc = mb_params_parse(&params, type, settings, b->nparams, err);
    free_strings(buf, b->nparams);
    mb_free(settings);
    if (rc != MB_OK)
        return rc;
    if ((rc = mb_model_create(&s->model, type, owner, &params, err)) != MB_OK)
        return rc;
    char msg[MB_PLUGIN_ERRLEN] = "";
    mb_state_reader r = mb_state_reader_for((mb_state *)&b->plugin_state);
    int prc = type->load(s->model->impl, &r, msg);
    if (prc != MB_PLUGIN_OK)
        return mb_fail(err, MB_EFORMAT, "model '%s' (load): %s", b->model, msg[0] ? msg : "failed");
    /* The loaded state must agree with the schema the host sizes its
    ** buffers by (a bundle can be rewritten and sealed again). */
    if (type->struct_size >= offsetof(mb_model_type, dims) + sizeof type->dims && type->dims) {
        size_t nf = 0, nc = 0;
        prc = type->dims(s->model->impl, &nf, &nc, msg);
        if (prc != MB_PLUGIN_OK || nf != b->nfeatures || nc != b->nclasses)
            return mb_fail(err, MB_EFORMAT,
                           "model '%s': its saved state has %zu features and %zu classes, the bundle's schema "
                           "%zu and %zu",
                           b->model, nf, nc, b->nfeatures, b->nclasses);
    }
    s->model->task = b->task;
    s->model->nfeatures = b->nfeatures;
    s->model->nclasses = b->nclasses;
    return MB_OK;
}

mb_status mb_scorer_open(mb_scorer *s, const mb_bundle *b, const mb_registry *reg, mb_error *err)
{
    memset(s, 0, sizeof *s);
    s->bundle = b;
    mb_status rc = MB_OK;
    if (b->nsteps)
        s->steps = mb_calloc(b->nsteps, sizeof *s->steps);
    for (size_t i = 0; i < b->nsteps && rc == MB_OK; i++)
        if (strcmp(b->step_kinds[i], "lua") != 0) /* a Lua step is applied by the Lua layer */
            rc = mb_transform_load(b->step_kinds[i], &b->steps[i], &s->steps[i], err);
    /* portable_from_state converts arrays in place: it needs a mutable state */
    if (rc == MB_OK)
        rc = b->form != MB_FORM_NONE
                 ? mb_portable_from_state(b->form, (mb_state *)&b->portable_state, &s->form, &s->layers, err)
                 : open_plugin_model(s, b, reg, err);
    /* checked once here, so scoring trusts every index; then compiled
    ** (NULL when a form does not suit: the portable loop scores) */
    if (rc == MB_OK && !s->model && (rc = mb_portable_check(&s->form, err)) == MB_OK) {
        s->checked = 1;
        if (s->form.kind == MB_FORM_TREES)
            s->trees = mb_trees_plan_new(&s->form.u.trees);
        else if (s->form.kind == MB_FORM_MLP)
            s->mlp = mb_mlp_plan_new(&s->form, -1);
    }
    if (rc != MB_OK)
        mb_scorer_close(s);
    return rc;
}

void mb_scorer_rows(const mb_scorer *s, const mb_matrix *X, double *out, double *work)
{
    if (s->trees)
        mb_trees_plan_predict_rows(s->trees, X, out);
    else if (s->mlp)
        mb_mlp_plan_predict_rows(s->mlp, X, out, work);
    else
        mb_portable_predict_rows(&s->form, X, out, work);
}

void mb_outputs_to_labels(mb_task task, double thr, const double *out, size_t n, size_t k, float *label,
                          float *proba)
{
    for (size_t i = 0; i < n; i++) {
        const double *o = out + i * k;
        if (task == MB_TASK_REGRESSION) {
            label[i] = (float)o[0];
        } else if (task == MB_TASK_BINARY) {
            double p1 = k == 2 ? o[1] : o[0]; /* a 2-output (softmax) form gives both classes */
            label[i] = p1 > thr ? 1.0f : 0.0f;
            if (proba) {
                proba[2 * i] = (float)(1 - p1);
                proba[2 * i + 1] = (float)p1;
            }
        } else {
            size_t best = 0;
            for (size_t c = 0; c < k; c++) {
                if (o[c] > o[best])
                    best = c;
                if (proba)
                    proba[i * k + c] = (float)o[c];
            }
            label[i] = (float)best;
        }
    }
}

mb_status mb_scorer_predict(mb_scorer *s, const mb_matrix *X, float *label, float *proba, mb_error *err)
{
    const mb_bundle *b = s->bundle;
    if (X->cols != b->nfeatures)
        return mb_fail(err, MB_ESHAPE, "the model takes %zu features, the data has %zu", b->nfeatures, X->cols);
    double thr = mb_bundle_threshold(b);
    if (s->model) {
        /* a binary label at a threshold other than 0.5 comes from P(class 1) */
        int relabel = b->task == MB_TASK_BINARY && thr != 0.5;
        float *p = proba, *own = NULL;
        if (relabel && !p && !(p = own = mb_trymalloc((X->rows ? X->rows : 1) * 2 * sizeof *p)))
            return mb_fail(err, MB_ENOMEM, "no memory to score %zu rows", X->rows);
        mb_status rc = mb_model_predict(s->model, X, label, err);
        if (rc == MB_OK && p && b->task != MB_TASK_REGRESSION)
            rc = mb_model_predict_proba(s->model, X, p, err);
        for (size_t i = 0; rc == MB_OK && relabel && i < X->rows; i++)
            label[i] = (double)p[2 * i + 1] > thr ? 1.0f : 0.0f;
        mb_free(own);
        return rc;
    }
    size_t k = mb_portable_noutputs(&s->form), n = X->rows, nw = mb_portable_work_size(&s->form);
    double *out = mb_trymalloc((n ? n : 1) * k * sizeof *out), *work = nw ? mb_trymalloc(nw * sizeof *work) : NULL;
    mb_status rc = MB_OK;
    if (!out || (nw && !work))
        rc = mb_fail(err, MB_ENOMEM, "no memory to score %zu rows", n);
    else if (!s->checked && (rc = mb_portable_check(&s->form, err)) != MB_OK)
        ; /* a form that did not come through mb_scorer_open */
    else if (X->cols != mb_portable_nfeatures(&s->form))
        rc = mb_fail(err, MB_ESHAPE, "the model takes %zu features, the data has %zu",
                     mb_portable_nfeatures(&s->form), X->cols);
    if (rc == MB_OK) {
        mb_scorer_rows(s, X, out, work);
        mb_outputs_to_labels(b->task, thr, out, n, k, label, proba);
    }
    mb_free(out);
    mb_free(work);
    return rc;
}

mb_status mb_scorer_predict_frame(mb_scorer *s, const mb_frame *f, float *label, float *proba, mb_error *err)
{
    const mb_bundle *b = s->bundle;
    mb_frame *cur = NULL;
    const mb_frame *in = f;
    mb_status rc = MB_OK;
    for (size_t i = 0; i < b->nsteps && rc == MB_OK; i++) {
        if (!s->steps[i] && !s->lua_apply) {
            rc = mb_fail(err, MB_EARG, "pipeline step %zu is a Lua transform; loading it runs code from the "
                         "bundle: pass --allow-lua (or {allow_lua=true}) if you trust it", i + 1);
            break;
        }
        mb_frame *next = NULL;
        rc = s->steps[i] ? mb_transform_apply(s->steps[i], in, &next, err) : s->lua_apply(s->lua_ud, i, in, &next, err);
        mb_frame_free(&cur);
        cur = next;
        in = cur;
    }
    float *x = NULL;
    mb_matrix X;
    if (rc == MB_OK)
        rc = mb_matrix_by_names(in, (const char *const *)b->features, b->nfeatures, f->source ? f->source : "data",
                                &X, &x, err);
    if (rc == MB_OK)
        rc = mb_scorer_predict(s, &X, label, proba, err);
    mb_free(x);
    mb_frame_free(&cur);
    return rc;
}

void mb_scorer_close(mb_scorer *s)
{
    if (s->lua_free)
        s->lua_free(s->lua_ud);
    for (size_t i = 0; s->steps && s->bundle && i < s->bundle->nsteps; i++)
        mb_transform_free(&s->steps[i]);
    mb_free(s->steps);
    mb_model_free(&s->model);
    mb_trees_plan_free(&s->trees);
    mb_mlp_plan_free(&s->mlp);
    mb_free(s->layers);
    memset(s, 0, sizeof *s);
}
