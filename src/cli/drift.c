/*
** drift.c: `moonbench drift MODEL DATA [--json] [--threshold 0.2]`: how
** far a data file has moved from the training data, per model feature (PSI
** and the decile-grid KS of src/deploy/drift.h), the drifted features
** first; with labels, the model's metrics on it. Exit status 3 when drift
** is flagged, so cron or CI can act on it.
*/
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "train.h"
#include "eval.h"
#include "train.h"
#include "../deploy/score.h"

typedef struct sorted {
    const mb_drift_feature *f;
} sorted;

static int cmp_feature(const void *pa, const void *pb)
{
    const mb_drift_feature *a = ((const sorted *)pa)->f, *b = ((const sorted *)pb)->f;
    if (a->flagged != b->flagged)
        return b->flagged - a->flagged;
    double x = isnan(a->psi) ? -1 : a->psi, y = isnan(b->psi) ? -1 : b->psi;
    return (x < y) - (x > y);
}

static json_t *num_or_null(double v) { return isnan(v) || isinf(v) ? json_null() : json_real(v); }

/* The labelled rows' metrics as name/value pairs; n = 0 when none. */
typedef struct metrics {
    size_t n, rows;
    const char *name[6];
    double value[6];
} metrics;

static void compute_metrics(const mb_runtime *rt, const mb_score_stats *st, metrics *m)
{
    memset(m, 0, sizeof *m);
    size_t k = mb_runtime_nclasses(rt);
    m->rows = st->labelled;
    if (!st->labelled)
        return;
    if (!k) {
        mb_reg_report r;
        mb_reg_report_compute(st->y, st->pred, st->labelled, &r);
        *m = (metrics){3, st->labelled, {"rmse", "mae", "r2"}, {r.rmse, r.mae, r.r2}};
        return;
    }
    mb_class_report r;
    mb_error err;
    if (mb_class_report_compute(st->y, st->pred, st->proba, st->labelled, k, &r, &err) == MB_OK)
        *m = (metrics){5, st->labelled, {"accuracy", "balanced_accuracy", "f1_macro", "log_loss", "roc_auc"},
                       {r.accuracy, r.balanced_accuracy, r.f1_macro, r.log_loss, r.roc_auc}};
    mb_class_report_free(&r);
}

static void print_json(const char *data, const mb_runtime *rt, const mb_drift_feature *f, const sorted *order,
                       size_t nf, size_t flagged, double threshold, const mb_score_stats *st, const metrics *m)
{
    const mb_bundle *b = mb_runtime_bundle(rt);
    json_t *o = json_object(), *fs = json_array();
    json_object_set_new(o, "data", json_string(data));
    json_object_set_new(o, "rows", json_integer((json_int_t)st->scored));
    json_object_set_new(o, "rejected", json_integer((json_int_t)st->rejected));
    json_object_set_new(o, "threshold", json_real(threshold));
    json_object_set_new(o, "drifted", json_integer((json_int_t)flagged));
    for (size_t i = 0; i < nf; i++) {
        const mb_drift_feature *x = order[i].f;
        json_t *e = json_object();
        json_object_set_new(e, "feature", json_string(b->features[x->index]));
        json_object_set_new(e, "psi", num_or_null(x->psi));
        json_object_set_new(e, "ks", num_or_null(x->ks));
        json_object_set_new(e, "missing", num_or_null(x->missing));
        json_object_set_new(e, "train_missing", num_or_null(x->train_missing));
        json_object_set_new(e, "drift", json_boolean(x->flagged));
        json_array_append_new(fs, e);
    }
    (void)f;
    json_object_set_new(o, "features", fs);
    if (m->n) {
        json_t *mm = json_object();
        json_object_set_new(mm, "rows", json_integer((json_int_t)m->rows));
        for (size_t i = 0; i < m->n; i++)
            json_object_set_new(mm, m->name[i], num_or_null(m->value[i]));
        json_object_set_new(o, "metrics", mm);
    } else {
        json_object_set_new(o, "metrics", json_null());
    }
    json_object_set_new(o, "training_metrics", json_null()); /* bundles do not record them yet */
    json_dumpf(o, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
    fputc('\n', stdout);
    json_decref(o);
}

static void print_text(const char *data, const char *model, const mb_runtime *rt, const sorted *order, size_t nf,
                       size_t flagged, double threshold, const mb_score_stats *st, const metrics *m)
{
    const mb_bundle *b = mb_runtime_bundle(rt);
    size_t w = 7;
    for (size_t j = 0; j < nf; j++)
        w = strlen(b->features[j]) > w ? strlen(b->features[j]) : w;
    if (w > 60)
        w = 60;
    printf("drift of %s against the training data of %s: %zu rows", data, model, st->scored);
    if (st->rejected)
        printf(" (%zu rejected)", st->rejected);
    printf(", PSI threshold %g\n\n", threshold);
    printf("%-*s  %8s  %8s  %8s  %8s\n", (int)w, "feature", "PSI", "KS", "missing", "training");
    for (size_t i = 0; i < nf; i++) {
        const mb_drift_feature *x = order[i].f;
        char ks[16];
        snprintf(ks, sizeof ks, isnan(x->ks) ? "-" : "%.4f", x->ks);
        printf("%-*.*s  %8.4f  %8s  %7.1f%%  %7.1f%%%s\n", (int)w, (int)w, b->features[x->index], x->psi, ks,
               100 * x->missing, 100 * x->train_missing, x->flagged ? "  DRIFT" : "");
    }
    printf("\n%zu of %zu features drifted (PSI > %g)\n", flagged, nf, threshold);
    if (m->n) {
        printf("metrics on %zu labelled rows:", m->rows);
        for (size_t i = 0; i < m->n; i++)
            printf("%s %s %.4f", i ? "," : "", m->name[i], m->value[i]);
        printf("\ntraining metrics: not recorded in this bundle\n");
    }
}

int mb_cmd_drift(int argc, char **argv)
{
    const char *model = NULL, *data = NULL;
    int json = 0, allow_lua = 0;
    double threshold = MB_DRIFT_THRESHOLD;
    mb_score_opts o = {0};
    mb_cli_trust trust = {{0}, 0};
    for (int i = 1; i < argc; i++) {
        int tr = mb_cli_trust_option(&trust, "drift", argc, argv, &i);
        if (tr < 0)
            return 2;
        if (tr)
            continue;
        const char *a = argv[i];
        char *end;
        if (!strcmp(a, "--json"))
            json = 1;
        else if (!strcmp(a, "--allow-lua"))
            allow_lua = 1;
        else if (!strcmp(a, "--rejects") && i + 1 < argc)
            o.rejects = argv[++i];
        else if (!strcmp(a, "--threshold") && i + 1 < argc) {
            threshold = strtod(argv[++i], &end);
            if (*end || !(threshold > 0) || isinf(threshold))
                return mb_cli_usage("drift", "--threshold takes a positive number, not '%s'", argv[i]);
        } else if (a[0] == '-' && a[1])
            return mb_cli_usage("drift", "unknown option or missing value: '%s'", a);
        else if (!model)
            model = a;
        else if (!data)
            data = a;
        else
            return mb_cli_usage("drift", "too many arguments ('%s')", a);
    }
    if (!model || !data)
        return mb_cli_usage("drift", "name the model bundle and the data");
    mb_error err;
    mb_registry reg;
    mb_runtime *rt = NULL;
    mb_bundle *b = NULL;
    mb_drift_ref *ref = NULL;
    mb_drift_counts *counts = NULL;
    mb_drift_feature *f = NULL;
    sorted *order = NULL;
    mb_score_stats st;
    memset(&st, 0, sizeof st);
    int status = 1;
    mb_cli_registry(&reg);
    mb_runtime_opts ro = {&reg, allow_lua, 0};
    mb_bundle_options bo = {trust.files, trust.n, NULL};
    if (mb_bundle_load_opts(model, &bo, &b, &err) != MB_OK || mb_runtime_open_bundle(&b, model, &ro, &rt, &err) != MB_OK ||
        mb_drift_ref_new(mb_runtime_bundle(rt), &ref, &err) != MB_OK)
        goto fail;
    counts = mb_drift_counts_new(ref);
    if (mb_score_drift(rt, data, &o, counts, &st, &err) != MB_OK)
        goto fail;
    size_t nf = mb_runtime_nfeatures(rt);
    f = mb_calloc(nf + 1, sizeof *f);
    order = mb_calloc(nf + 1, sizeof *order);
    size_t flagged = mb_drift_report(ref, counts, threshold, f);
    for (size_t j = 0; j < nf; j++)
        order[j].f = &f[j];
    qsort(order, nf, sizeof *order, cmp_feature);
    metrics m;
    compute_metrics(rt, &st, &m);
    if (json)
        print_json(data, rt, f, order, nf, flagged, threshold, &st, &m);
    else
        print_text(data, model, rt, order, nf, flagged, threshold, &st, &m);
    fflush(stdout);
    status = flagged ? 3 : 0;
    goto exit;
fail:
    status = mb_cli_error(&err);
exit:
    mb_free(f);
    mb_free(order);
    mb_score_stats_free(&st);
    mb_drift_counts_free(&counts);
    mb_drift_ref_free(&ref);
    mb_runtime_close(&rt);
    mb_bundle_free(&b);
    mb_registry_close(&reg);
    return status;
}
