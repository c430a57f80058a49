/*
** score.c: `moonbench score` (and its alias `predict`): a model bundle
** scoring a file in chunks or a stream of lines on stdin, through the one
** runtime of src/deploy (docs/deployment.md). Says on stderr which path
** scored (portable form or plugin), counts scored and rejected rows, and
** prints the metrics when the input carries the bundle's target.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "train.h"
#include "eval.h"
#include "io.h"
#include "train.h"
#include "../deploy/score.h"

/* The metrics of the labelled rows, to stderr. */
static void print_metrics(const mb_runtime *rt, const mb_score_stats *st)
{
    size_t k = mb_runtime_nclasses(rt), n = st->labelled;
    if (st->unknown_labels)
        fprintf(stderr, "metrics: %zu rows have a target that is missing or none of the model's classes; left out\n",
                st->unknown_labels);
    if (!n)
        return;
    if (!k) {
        mb_reg_report r;
        mb_reg_report_compute(st->y, st->pred, n, &r);
        fprintf(stderr, "metrics on %zu labelled rows: RMSE %.6g, MAE %.6g, R2 %.4f\n", n, r.rmse, r.mae, r.r2);
        return;
    }
    mb_class_report r;
    mb_error err;
    if (mb_class_report_compute(st->y, st->pred, st->proba, n, k, &r, &err) != MB_OK) {
        fprintf(stderr, "metrics: %s\n", err.msg);
        mb_class_report_free(&r);
        return;
    }
    fprintf(stderr, "metrics on %zu labelled rows: accuracy %.4f, balanced accuracy %.4f, macro F1 %.4f", n,
            r.accuracy, r.balanced_accuracy, r.f1_macro);
    if (!isnan(r.log_loss))
        fprintf(stderr, ", log-loss %.4f", r.log_loss);
    if (!isnan(r.roc_auc))
        fprintf(stderr, ", ROC AUC %.4f", r.roc_auc);
    fputc('\n', stderr);
    mb_class_report_free(&r);
}

static int bad_value(const char *cmd, const char *opt, const char *v)
{
    return mb_cli_usage(cmd, "%s takes a positive number, not '%s'", opt, v);
}

int mb_cmd_score(int argc, char **argv)
{
    const char *cmd = argv[0], *model = NULL, *input = NULL, *output = NULL, *fmt = NULL;
    mb_score_opts o = {0};
    int stream = 0, allow_lua = 0; /* a bundle's Lua steps run only when asked (lmb_run.h) */
    double threshold = 0;
    mb_cli_trust trust = {{0}, 0};
    for (int i = 1; i < argc; i++) {
        int tr = mb_cli_trust_option(&trust, cmd, argc, argv, &i);
        if (tr < 0)
            return 2;
        if (tr)
            continue;
        const char *a = argv[i];
        int more = i + 1 < argc;
        char *end;
        if ((!strcmp(a, "-o") || !strcmp(a, "--output")) && more)
            output = argv[++i];
        else if (!strcmp(a, "--id") && more)
            o.id = argv[++i];
        else if (!strcmp(a, "--rejects") && more)
            o.rejects = argv[++i];
        else if (!strcmp(a, "--stream"))
            stream = 1;
        else if (!strcmp(a, "--allow-lua"))
            allow_lua = 1;
        else if (!strcmp(a, "--format") && more)
            fmt = argv[++i];
        else if (!strcmp(a, "--threshold") && more) {
            threshold = strtod(argv[++i], &end);
            if (*end || !(threshold > 0 && threshold < 1))
                return mb_cli_usage(cmd, "--threshold takes a number between 0 and 1, not '%s'", argv[i]);
        } else if ((!strcmp(a, "--batch") || !strcmp(a, "--chunk")) && more) {
            long v = strtol(argv[++i], &end, 10);
            if (*end || v <= 0 || v > 10000000)
                return bad_value(cmd, a, argv[i]);
            *(a[2] == 'b' ? &o.batch : &o.chunk) = (size_t)v;
        } else if (!strcmp(a, "--threads") && more) {
            long long v;
            int rc = mb_cli_int(cmd, a, argv[++i], 1, 64, &v);
            if (rc)
                return rc;
            o.threads = (size_t)v;
        } else if (a[0] == '-' && a[1])
            return mb_cli_usage(cmd, "unknown option or missing value: '%s'", a);
        else if (!model)
            model = a;
        else if (!input)
            input = a;
        else
            return mb_cli_usage(cmd, "too many arguments ('%s')", a);
    }
    if (!model)
        return mb_cli_usage(cmd, "name the model bundle");
    if (stream && (input || output))
        return mb_cli_usage(cmd, "--stream reads stdin and writes stdout: no INPUT or -o");
    if (!stream && !input)
        return mb_cli_usage(cmd, "name the data to score (or --stream for stdin)");
    if (fmt && !stream)
        return mb_cli_usage(cmd, "--format is for --stream");
    if (fmt) {
        o.format = !strcmp(fmt, "ndjson") || !strcmp(fmt, "json") ? 'j' : !strcmp(fmt, "csv") ? 'c' : 0;
        if (!o.format)
            return mb_cli_usage(cmd, "--format is ndjson or csv, not '%s'", fmt);
    }
    char rejects[4096];
    if (!stream && !o.rejects && output) {
        snprintf(rejects, sizeof rejects, "%s.rejects.csv", output);
        o.rejects = rejects;
    }
    o.progress = !stream && isatty(2);

    mb_error err;
    mb_registry reg;
    mb_runtime *rt = NULL;
    mb_score_stats st;
    memset(&st, 0, sizeof st);
    int status = 1;
    mb_cli_registry(&reg);
    mb_runtime_opts ro = {&reg, allow_lua, threshold};
    mb_bundle *b = NULL;
    mb_bundle_options bo = {trust.files, trust.n, NULL};
    const char *inputs[] = {model, input};
    if ((output && mb_output_check_inputs(output, inputs, 2, &err) != MB_OK) ||
        (o.rejects && mb_output_check_inputs(o.rejects, inputs, 2, &err) != MB_OK))
        goto fail;
    if (mb_bundle_load_opts(model, &bo, &b, &err) != MB_OK || mb_runtime_open_bundle(&b, model, &ro, &rt, &err) != MB_OK)
        goto fail;
    if (stream) {
        fprintf(stderr, "scoring stdin with the %s\n", mb_runtime_describe(rt));
        if (mb_score_stream(rt, 0, stdout, &o, &st, &err) != MB_OK)
            goto fail;
        fprintf(stderr, "%zu lines scored, %zu errors\n", st.scored, st.rejected);
        status = 0;
        goto exit;
    }
    if (mb_score_batch(rt, input, output, &o, &st, &err) != MB_OK)
        goto fail;
    fflush(stdout);
    fprintf(stderr, "%zu rows scored, %zu rejected", st.scored, st.rejected);
    if (st.rejects_path[0])
        fprintf(stderr, " (-> %s)", st.rejects_path);
    fprintf(stderr, "%s%s, with the %s\n", output ? " -> " : "", output ? output : "", mb_runtime_describe(rt));
    print_metrics(rt, &st);
    status = 0;
    goto exit;
fail:
    fflush(stdout);
    status = mb_cli_error(&err);
exit:
    mb_score_stats_free(&st);
    mb_runtime_close(&rt);
    mb_registry_close(&reg);
    return status;
}
