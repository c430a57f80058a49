/*
** card.c: `moonbench card MODEL [--data TEST] [--group COL]... [-o card.md]
** [--html]`: a model card made only from facts: what the bundle holds
** (model, parameters, pipeline, provenance, schema, the drift baseline),
** the bundle file's SHA-256, and what the data given measures (metrics
** with bootstrap intervals, mean |SHAP| or permutation importance,
** fairness by group). What only people know (intended use, limitations,
** ethical considerations) is left as marked sections for the model owner.
** One document (doc.h) is written as Markdown or as a standalone HTML page.
*/
#include <math.h>
#include "sha256.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "doc.h"
#include "explain.h"
#include "frameops.h"
#include "io.h"
#include "train.h"

#define OWNER "To be written by the model owner."
/* Rows explained for the importance section (the first ones of --data). */
#define CARD_SHAP_ROWS 10000

typedef struct card_args {
    const char *model, *data, *out;
    const char **groups;
    size_t ngroups;
    long long top, boot;
    uint64_t seed;
    int html;
    mb_cli_trust trust;
} card_args;

static int parse(int argc, char **argv, card_args *a)
{
    const char *cmd = "card";
    memset(a, 0, sizeof *a);
    a->top = 10;
    a->boot = 200;
    a->groups = mb_calloc((size_t)argc + 1, sizeof *a->groups);
    for (int i = 1; i < argc; i++) {
        int tr = mb_cli_trust_option(&a->trust, cmd, argc, argv, &i);
        if (tr < 0)
            return 2;
        if (tr)
            continue;
        const char *s = argv[i];
        int more = i + 1 < argc, rc = 0;
        if (!strcmp(s, "-o") && more)
            a->out = argv[++i];
        else if (!strcmp(s, "--data") && more)
            a->data = argv[++i];
        else if (!strcmp(s, "--group") && more)
            a->groups[a->ngroups++] = argv[++i];
        else if (!strcmp(s, "--html"))
            a->html = 1;
        else if (!strcmp(s, "--top") && more)
            rc = mb_cli_int(cmd, s, argv[++i], 1, 1000, &a->top);
        else if (!strcmp(s, "--boot") && more)
            rc = mb_cli_int(cmd, s, argv[++i], 0, 100000, &a->boot);
        else if (!strcmp(s, "--seed") && more)
            rc = mb_cli_seed(cmd, argv[++i], &a->seed);
        else if (s[0] == '-' && s[1])
            return mb_cli_usage(cmd, "unknown option or missing value: '%s'", s);
        else if (!a->model)
            a->model = s;
        else
            return mb_cli_usage(cmd, "one model bundle only ('%s' and '%s'); the test data goes after --data", a->model, s);
        if (rc)
            return rc;
    }
    if (!a->model)
        return mb_cli_usage(cmd, "name the model bundle");
    if (a->ngroups && !a->data)
        return mb_cli_usage(cmd, "--group needs labelled data: --data TEST");
    return 0;
}

static const mb_state_array *array(const mb_state *s, const char *name, mb_dtype type)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->arrays[i].name, name) && s->arrays[i].type == type)
            return &s->arrays[i];
    return NULL;
}

static const char *g6(char *buf, size_t n, double v)
{
    snprintf(buf, n, isnan(v) ? "NaN" : "%.6g", v);
    return buf;
}

static const char *f4(char *buf, size_t n, double v)
{
    snprintf(buf, n, isnan(v) ? "NaN" : "%.4f", v);
    return buf;
}

/* {====== what the bundle says ======} */

static void model_section(mb_doc *d, const mb_bundle *b, const char *path, const char *sha)
{
    static const char *const forms[] = {"none", "linear", "trees", "mlp"};
    mb_doc_heading(d, 2, "Model details");
    mb_doc_fact(d, "Bundle", "%s", path);
    mb_doc_fact(d, "Bundle SHA-256", "%s", sha);
    mb_doc_fact(d, "Task", "%s", b->task == MB_TASK_REGRESSION ? "regression"
                                 : b->task == MB_TASK_BINARY   ? "binary classification"
                                                               : "multiclass classification");
    if (b->nclasses) {
        char list[1024] = "";
        for (size_t k = 0; k < b->nclasses && strlen(list) < sizeof list - 64; k++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", k ? ", " : "", b->classes[k]);
        mb_doc_fact(d, "Classes", "%s", list);
    }
    if (b->task == MB_TASK_BINARY)
        mb_doc_fact(d, "Decision threshold", "class %s when its probability is above %g%s", b->classes[1],
                    b->threshold > 0 ? b->threshold : 0.5, b->threshold > 0 ? "" : " (the default)");
    mb_doc_fact(d, "Model", "%s (plugin %s %s)", b->model, b->plugin, b->plugin_version);
    mb_doc_fact(d, "Portable form", "%s%s", (unsigned)b->form < 4 ? forms[b->form] : "?",
                b->form == MB_FORM_NONE ? " (scoring loads the plugin)" : " (scored by moonbench without the plugin)");
    mb_doc_fact(d, "Created", "%s", b->created ? b->created : "(not recorded)");
    mb_doc_fact(d, "Trained with", "moonbench %s", b->moonbench_version ? b->moonbench_version : "(not recorded)");
    mb_doc_fact(d, "Card made by", "moonbench %s", MB_VERSION);
    mb_doc_heading(d, 3, "Parameters");
    if (!b->nparams) {
        mb_doc_para(d, "The bundle records no parameters.");
        return;
    }
    const char *head[] = {"parameter", "value"};
    mb_doc_table(d, 2, head, 0);
    for (size_t i = 0; i < b->nparams; i++) {
        const char *row[] = {b->param_names[i], b->param_values[i]};
        mb_doc_row(d, row, 0);
    }
}

/* The levels a step learnt for its column c ("a, b, c"), into buf. */
static void step_levels(const mb_state *st, size_t c, char *buf, size_t n)
{
    buf[0] = 0;
    const mb_state_array *nl = array(st, "nlevels", MB_DT_I64);
    size_t nlev = 0;
    mb_error err;
    char **lv = nl ? mb_state_get_strings(st, "levels", &nlev, &err) : NULL;
    if (!lv)
        return;
    const int64_t *cnt = nl->data;
    size_t off = 0;
    for (size_t k = 0; k < c && k < nl->count; k++)
        off += (size_t)cnt[k];
    for (size_t j = 0; c < nl->count && j < (size_t)cnt[c] && off + j < nlev; j++) {
        if (strlen(buf) + strlen(lv[off + j]) + 8 >= n) {
            snprintf(buf + strlen(buf), n - strlen(buf), ", ...");
            break;
        }
        snprintf(buf + strlen(buf), n - strlen(buf), "%s%s", j ? ", " : "", lv[off + j]);
    }
    for (size_t j = 0; j < nlev; j++)
        mb_free(lv[j]);
    mb_free(lv);
}

static void pipeline_section(mb_doc *d, const mb_bundle *b)
{
    mb_doc_heading(d, 2, "Pipeline");
    if (!b->nsteps) {
        mb_doc_para(d, "No transforms: the model reads its %zu features as they are in the data.", b->nfeatures);
        return;
    }
    mb_doc_para(d, "%zu fitted step%s, applied in this order to the input columns, then the model.", b->nsteps,
                b->nsteps > 1 ? "s" : "");
    const char *head[] = {"step", "kind", "columns"};
    mb_doc_table(d, 3, head, 0);
    for (size_t i = 0; i < b->nsteps; i++) {
        char num[32], cols[1024] = "";
        size_t n = 0;
        mb_error err;
        char **c = strcmp(b->step_kinds[i], "lua") ? mb_state_get_strings(&b->steps[i], "columns", &n, &err) : NULL;
        for (size_t j = 0; j < n; j++) {
            if (strlen(cols) + strlen(c[j]) + 8 < sizeof cols)
                snprintf(cols + strlen(cols), sizeof cols - strlen(cols), "%s%s", j ? ", " : "", c[j]);
            mb_free(c[j]);
        }
        mb_free(c);
        snprintf(num, sizeof num, "%zu", i + 1);
        const char *row[] = {num, b->step_kinds[i], c ? cols : !strcmp(b->step_kinds[i], "lua") ? "(a Lua step)" : ""};
        mb_doc_row(d, row, 0);
    }
}

static void training_section(mb_doc *d, const mb_bundle *b)
{
    mb_doc_heading(d, 2, "Training data");
    mb_doc_fact(d, "Source", "%s", b->source && *b->source ? b->source : "(not recorded)");
    mb_doc_fact(d, "Source SHA-256", "%s", b->source_sha256 && *b->source_sha256 ? b->source_sha256 : "(not recorded)");
    mb_doc_fact(d, "Rows used", "%zu", b->rows_used);
    mb_doc_fact(d, "Trained on", "%s", b->created ? b->created : "(not recorded)");
    if (b->script && *b->script) {
        size_t lines = 1;
        for (const char *p = b->script; *p; p++)
            lines += *p == '\n' && p[1];
        mb_doc_fact(d, "Script", "%zu lines of Lua kept in the bundle (/provenance@script)", lines);
    }
}

static void schema_section(mb_doc *d, const mb_bundle *b)
{
    mb_doc_heading(d, 2, "Schema");
    mb_doc_fact(d, "Target", "%s", b->target ? b->target : "(none)");
    if (b->ninputs)
        mb_doc_fact(d, "Model features", "%zu, made by the pipeline from %zu input columns", b->nfeatures, b->ninputs);
    const char *head[] = {"column", "type", "levels (learnt by the pipeline)"};
    mb_doc_table(d, 3, head, 0);
    size_t n = b->ninputs ? b->ninputs : b->nfeatures;
    for (size_t i = 0; i < n; i++) {
        const char *name = b->ninputs ? b->inputs[i] : b->features[i];
        char lv[512] = "";
        for (size_t s = 0; s < b->nsteps && !lv[0]; s++) {
            if (strcmp(b->step_kinds[s], "onehot") && strcmp(b->step_kinds[s], "ordinal"))
                continue;
            size_t nc = 0;
            mb_error err;
            char **c = mb_state_get_strings(&b->steps[s], "columns", &nc, &err);
            for (size_t j = 0; j < nc; j++) {
                if (!lv[0] && !strcmp(c[j], name))
                    step_levels(&b->steps[s], j, lv, sizeof lv);
                mb_free(c[j]);
            }
            mb_free(c);
        }
        const char *row[] = {name, b->ninputs ? b->input_types[i] : "numeric", lv};
        mb_doc_row(d, row, 0);
    }
}

static void drift_section(mb_doc *d, const mb_bundle *b)
{
    mb_doc_heading(d, 2, "Drift baseline");
    const mb_state *m = &b->monitoring;
    const mb_state_array *a[5] = {array(m, "mean", MB_DT_F64), array(m, "std", MB_DT_F64), array(m, "min", MB_DT_F64),
                                  array(m, "max", MB_DT_F64), array(m, "missing", MB_DT_F64)};
    const mb_state_array *rows = array(m, "rows_sampled", MB_DT_F64);
    for (int k = 0; k < 5; k++)
        if (!a[k] || a[k]->count != b->nfeatures) {
            mb_doc_para(d, "The bundle has no training statistics (/monitoring): moonbench drift cannot run on it.");
            return;
        }
    mb_doc_para(d, "Training statistics of the model's %zu features from %.0f sampled training rows (/monitoring), "
                   "the baseline that moonbench drift and the server's drift metrics compare serving data with.",
                b->nfeatures, rows && rows->count ? ((const double *)rows->data)[0] : 0.0);
    const char *head[] = {"feature", "mean", "std", "min", "max", "missing"};
    mb_doc_table(d, 6, head, 0);
    for (size_t j = 0; j < b->nfeatures; j++) {
        char v[5][32];
        const char *row[6] = {b->features[j]};
        for (int k = 0; k < 5; k++)
            row[k + 1] = g6(v[k], sizeof v[k], ((const double *)a[k]->data)[j]);
        mb_doc_row(d, row, 0);
    }
}

static void owner_sections(mb_doc *d)
{
    static const char *const titles[] = {"Intended use", "Limitations", "Ethical considerations"};
    for (int i = 0; i < 3; i++) {
        mb_doc_heading(d, 2, "%s", titles[i]);
        mb_doc_note(d, OWNER);
    }
}

/* {====== what the data measures ======} */

typedef struct card_data {
    mb_frame *f;
    float *y, *pred, *proba;
    char sha[65];
} card_data;

static void data_free(card_data *cd)
{
    mb_frame_free(&cd->f);
    mb_free(cd->y);
    mb_free(cd->pred);
    mb_free(cd->proba);
}

static mb_status predict_data(mb_scorer *s, const char *path, card_data *cd, mb_error *err)
{
    const mb_bundle *b = s->bundle;
    size_t K = b->task == MB_TASK_REGRESSION ? 0 : b->nclasses;
    char spec[4096];
    snprintf(spec, sizeof spec, "%s", path);
    char *colon = strstr(spec, ".h5:");
    if (colon)
        colon[3] = 0;
    if (mb_sha256_file(spec, 0, cd->sha) != 0)
        snprintf(cd->sha, sizeof cd->sha, "(unreadable)");
    mb_status rc = mb_open(path, &cd->f, err);
    if (rc == MB_OK)
        rc = mb_explain_labels(b, cd->f, &cd->y, err);
    if (rc == MB_OK) {
        size_t n = cd->f->nrows;
        cd->pred = mb_trymalloc(n * sizeof *cd->pred + 1);
        cd->proba = K ? mb_trymalloc(n * K * sizeof *cd->proba + 1) : NULL;
        rc = !cd->pred || (K && !cd->proba) ? mb_fail(err, MB_ENOMEM, "no memory for %zu predictions", n) : MB_OK;
    }
    if (rc == MB_OK)
        rc = mb_scorer_predict_frame(s, cd->f, cd->pred, cd->proba, err);
    return rc;
}

static mb_status metrics_section(mb_doc *d, const card_args *a, const mb_bundle *b, const card_data *cd, mb_error *err)
{
    mb_doc_heading(d, 2, "Evaluation data");
    mb_doc_fact(d, "Data", "%s", a->data);
    mb_doc_fact(d, "Data SHA-256", "%s", cd->sha);
    mb_doc_fact(d, "Rows", "%zu", cd->f->nrows);
    mb_doc_heading(d, 3, "Metrics");
    mb_fair_value v[MB_FAIR_MAX_DISPARITIES];
    size_t nv;
    mb_fair_opts o = {(size_t)a->boot, a->seed, 0.95};
    size_t K = b->task == MB_TASK_REGRESSION ? 0 : b->nclasses;
    mb_status rc = mb_report_bootstrap(b->task, K, cd->y, cd->pred, cd->proba, cd->f->nrows, &o, v, &nv, err);
    if (rc != MB_OK)
        return rc;
    const char *head[] = {"metric", "value", "95% low", "95% high"};
    mb_doc_table(d, 4, head, 0);
    for (size_t j = 0; j < nv; j++) {
        char x[3][32];
        const char *row[] = {v[j].name, f4(x[0], 32, v[j].value), f4(x[1], 32, v[j].lo), f4(x[2], 32, v[j].hi)};
        mb_doc_row(d, row, 0);
    }
    if (a->boot)
        mb_doc_para(d, "Intervals: percentile bootstrap, %lld resamples of the rows (seed %llu). The values are those of "
                       "moonbench evaluate on the same data.", a->boot, (unsigned long long)a->seed);
    return MB_OK;
}

typedef struct ranked {
    size_t col;
    double v;
} ranked;

static int by_value(const void *x, const void *y)
{
    const ranked *p = x, *q = y;
    return p->v < q->v ? 1 : p->v > q->v ? -1 : p->col < q->col ? -1 : p->col > q->col;
}

static void ranking_table(mb_doc *d, ranked *r, size_t n, char *const *names, long long top, const char *what)
{
    qsort(r, n, sizeof *r, by_value);
    size_t show = (size_t)top < n ? (size_t)top : n;
    const char *head[] = {"rank", "column", what};
    mb_doc_table(d, 3, head, 1);
    for (size_t i = 0; i < show; i++) {
        char k[32], v[32];
        snprintf(k, sizeof k, "%zu", i + 1);
        const char *row[] = {k, names[r[i].col], g6(v, sizeof v, r[i].v)};
        mb_doc_row(d, row, r[i].v);
    }
    if (show < n)
        mb_doc_para(d, "%zu more columns rank lower (--top to show them).", n - show);
}

static mb_status scorer_predict(void *ud, const mb_matrix *X, float *label, float *proba, mb_error *err)
{
    return mb_scorer_predict(ud, X, label, proba, err);
}

static mb_status permutation_table(mb_doc *d, const card_args *a, mb_scorer *s, const card_data *cd, mb_error *err)
{
    const mb_bundle *b = s->bundle;
    size_t K = b->task == MB_TASK_REGRESSION ? 0 : b->nclasses;
    mb_matrix X;
    float *x = NULL;
    mb_status rc = mb_explain_matrix(s, cd->f, &X, &x, err);
    if (rc != MB_OK)
        return rc;
    size_t M = X.cols, R = 5;
    double base = 0, *scores = mb_calloc(M * R + 1, sizeof *scores), *mean = mb_calloc(M + 1, sizeof *mean),
           *sd = mb_calloc(M + 1, sizeof *sd);
    mb_pi_opts o = {R, a->seed, K ? MB_PI_ACCURACY : MB_PI_R2, K, NULL};
    rc = mb_permutation_importance(scorer_predict, s, &X, cd->y, &o, &base, scores, mean, sd, err);
    if (rc == MB_OK) {
        mb_doc_para(d, "The model has no portable form SHAP can read: permutation importance on the evaluation data, the "
                       "drop of %s (%.4f unpermuted) when one model feature is shuffled, mean of %zu repeats (seed %llu).",
                    mb_pi_metric_name(o.metric), base, R, (unsigned long long)a->seed);
        ranked *r = mb_calloc(M + 1, sizeof *r);
        for (size_t j = 0; j < M; j++)
            r[j] = (ranked){j, mean[j]};
        ranking_table(d, r, M, b->features, a->top, "importance");
        mb_free(r);
    }
    mb_free(x);
    mb_free(scores);
    mb_free(mean);
    mb_free(sd);
    return rc;
}

static mb_status importance_section(mb_doc *d, const card_args *a, mb_scorer *s, const card_data *cd, mb_error *err)
{
    const mb_bundle *b = s->bundle;
    mb_doc_heading(d, 2, "Feature importance");
    if (b->form != MB_FORM_TREES && b->form != MB_FORM_LINEAR)
        return permutation_table(d, a, s, cd, err);
    mb_frame *part = NULL;
    const mb_frame *f = cd->f;
    if (f->nrows > CARD_SHAP_ROWS) {
        size_t *idx = mb_malloc(CARD_SHAP_ROWS * sizeof *idx);
        for (size_t i = 0; i < CARD_SHAP_ROWS; i++)
            idx[i] = i;
        mb_status rc = mb_frame_take(f, idx, CARD_SHAP_ROWS, &part, err);
        mb_free(idx);
        if (rc != MB_OK)
            return rc;
        f = part;
    }
    mb_explanation e;
    mb_status rc = mb_explain_frame(s, f, 0, &e, err);
    mb_frame_free(&part);
    if (rc != MB_OK)
        return rc;
    size_t C1 = e.ncols + 1;
    ranked *r = mb_calloc(e.ncols + 1, sizeof *r);
    for (size_t c = 0; c < e.ncols; c++) {
        r[c].col = c;
        for (size_t i = 0; i < e.rows * e.noutputs; i++)
            r[c].v += fabs(e.phi[i * C1 + c]);
        r[c].v /= (double)(e.rows ? e.rows : 1);
    }
    mb_doc_para(d, "Mean |SHAP| per %s over the first %zu rows of the evaluation data (exact %s SHAP, in the model's raw "
                   "margin%s)%s.", e.mapped ? "input column" : "feature", e.rows,
                !strcmp(e.method, "treeshap") ? "path-dependent tree" : "linear",
                e.noutputs > 1 ? ", summed over the classes" : "",
                e.mapped ? "; one-hot levels are summed back to their column" : "");
    ranking_table(d, r, e.ncols, e.cols, a->top, "mean |SHAP|");
    mb_free(r);
    mb_explanation_free(&e);
    return MB_OK;
}

/* Without data: the plugin's own importance recorded at training, if any. */
static void stored_importance(mb_doc *d, const card_args *a, const mb_bundle *b)
{
    mb_doc_heading(d, 2, "Feature importance");
    const mb_state_array *imp = array(&b->monitoring, "importance", MB_DT_F64);
    if (!imp || imp->count != b->nfeatures) {
        mb_doc_para(d, "Not measured: no evaluation data was given (--data), and the bundle records no importance.");
        return;
    }
    mb_doc_para(d, "No evaluation data was given (--data): the importance the plugin reported at training "
                   "(/monitoring/importance), per model feature.");
    ranked *r = mb_calloc(b->nfeatures + 1, sizeof *r);
    for (size_t j = 0; j < b->nfeatures; j++)
        r[j] = (ranked){j, ((const double *)imp->data)[j]};
    ranking_table(d, r, b->nfeatures, b->features, a->top, "importance");
    mb_free(r);
}

/* {====== the card ======} */

static mb_status build(mb_doc *d, const card_args *a, mb_scorer *s, const char *sha, mb_error *err)
{
    const mb_bundle *b = s->bundle;
    model_section(d, b, a->model, sha);
    pipeline_section(d, b);
    training_section(d, b);
    schema_section(d, b);
    card_data cd;
    memset(&cd, 0, sizeof cd);
    mb_status rc = MB_OK;
    if (a->data) {
        rc = predict_data(s, a->data, &cd, err);
        if (rc == MB_OK)
            rc = metrics_section(d, a, b, &cd, err);
        if (rc == MB_OK)
            rc = importance_section(d, a, s, &cd, err);
        if (rc == MB_OK && a->ngroups) {
            mb_fair_groups g;
            mb_fairness r;
            mb_fair_opts o = {(size_t)a->boot, a->seed, 0.95};
            rc = mb_fairness_of_scorer(s, cd.f, a->groups, a->ngroups, &o, &g, &r, err);
            if (rc == MB_OK)
                mb_cli_fairness_doc(d, 2, &r, &g, b->classes);
            mb_fairness_free(&r);
            mb_fair_groups_free(&g);
        }
    } else {
        mb_doc_heading(d, 2, "Evaluation data");
        mb_doc_para(d, "No evaluation data was given (--data TEST): this card has no metrics and no fairness figures.");
        stored_importance(d, a, b);
    }
    data_free(&cd);
    if (rc == MB_OK)
        drift_section(d, b);
    owner_sections(d);
    return rc;
}

static mb_status write_card(const mb_doc *d, const card_args *a, mb_error *err)
{
    mb_doc_format fmt = a->html ? MB_DOC_HTML : MB_DOC_MARKDOWN;
    if (!a->out)
        return mb_doc_write(d, stdout, fmt) ? mb_fail(err, MB_EIO, "standard output: write failed") : MB_OK;
    char *tmp = NULL;
    int fd = mb_tmp_create(a->out, &tmp, err);
    if (fd < 0)
        return err->code;
    FILE *fp = fdopen(fd, "w");
    if (!fp) {
        close(fd);
        mb_tmp_discard(&tmp);
        return mb_fail(err, MB_EIO, "%s: cannot write", a->out);
    }
    int bad = mb_doc_write(d, fp, fmt) | fflush(fp);
    if (bad || fsync(fileno(fp)) != 0 || fclose(fp) != 0) {
        if (bad)
            fclose(fp);
        mb_tmp_discard(&tmp);
        return mb_fail(err, MB_EIO, "%s: write failed", a->out);
    }
    return mb_tmp_publish(-1, &tmp, a->out, err);
}

int mb_cmd_card(int argc, char **argv)
{
    card_args a;
    int status = parse(argc, argv, &a);
    if (status) {
        mb_free(a.groups);
        return status;
    }
    mb_error err;
    mb_registry reg;
    mb_bundle *b = NULL;
    mb_scorer s;
    memset(&s, 0, sizeof s);
    mb_cli_registry(&reg);
    mb_bundle_options bo = {a.trust.files, a.trust.n, NULL};
    const char *inputs[] = {a.model, a.data};
    char sha[65];
    mb_doc *d = NULL;
    status = 1;
    if (a.out && mb_output_check_inputs(a.out, inputs, 2, &err) != MB_OK)
        goto fail;
    if (mb_sha256_file(a.model, 0, sha) != 0) {
        mb_fail(&err, MB_EIO, "%s: cannot read the bundle", a.model);
        goto fail;
    }
    if (mb_bundle_load_opts(a.model, &bo, &b, &err) != MB_OK || mb_scorer_open(&s, b, &reg, &err) != MB_OK)
        goto fail;
    const char *base = strrchr(a.model, '/');
    char title[1024];
    snprintf(title, sizeof title, "Model card: %s", base ? base + 1 : a.model);
    d = mb_doc_new(title);
    if (build(d, &a, &s, sha, &err) != MB_OK || write_card(d, &a, &err) != MB_OK)
        goto fail;
    if (a.out)
        fprintf(stderr, "model card -> %s\n", a.out);
    status = 0;
    goto exit;
fail:
    status = mb_cli_error(&err);
exit:
    mb_doc_free(&d);
    mb_scorer_close(&s);
    mb_bundle_free(&b);
    mb_registry_close(&reg);
    mb_free(a.groups);
    return status;
}
