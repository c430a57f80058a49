/*
** models.c: the model commands: `moonbench plugins` (what is installed),
** `moonbench fit` (train a plugin's model on a dataset into a bundle). fit
** runs a training job (src/core/job.h): transforms from -t, --pipeline or
** --prep auto, a held-out test part or cross-validation, early-stopping
** data. (`predict` is an alias of `score`, src/cli/score.c.)
*/
#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "blas.h"
#include "bundle.h"
#include "cli.h"
#include "dataset.h"
#include "io.h"
#include "metrics.h"
#include "plugin.h"
#include "train.h"

static const char *tasks_text(unsigned t, char *buf, size_t n)
{
    snprintf(buf, n, "%s%s%s%s%s", t & MB_TASK_REGRESSION ? "regression" : "",
             (t & MB_TASK_REGRESSION) && (t & (MB_TASK_BINARY | MB_TASK_MULTICLASS)) ? ", " : "",
             t & MB_TASK_BINARY ? "binary" : "", (t & MB_TASK_BINARY) && (t & MB_TASK_MULTICLASS) ? ", " : "",
             t & MB_TASK_MULTICLASS ? "multiclass" : "");
    return buf;
}

int mb_cmd_plugins(int argc, char **argv)
{
    (void)argv;
    if (argc > 1)
        return mb_cli_usage("plugins", "takes no arguments");
    mb_registry r;
    mb_cli_registry(&r);
    mb_registry_load_pending(&r);
    if (r.nplugins == 0)
        printf("no plugins found (looked beside the executable, in its lib/moonbench/plugins and in "
               "$MOONBENCH_PLUGIN_PATH)\n");
    for (size_t i = 0; i < r.nplugins; i++) {
        const mb_plugin *p = r.plugins[i].plugin;
        printf("%s %s: %s\n  %s\n", p->name, p->version, p->summary ? p->summary : "", r.plugins[i].path);
        for (size_t k = 0; k < p->nmodels; k++) {
            const mb_model_type *t = p->models[k];
            char tasks[64];
            printf("\n  model %s (%s): %s\n", t->name, tasks_text(t->tasks, tasks, sizeof tasks),
                   t->summary ? t->summary : "");
            for (size_t j = 0; j < t->nparams; j++) {
                char line[1024];
                mb_param_describe(&t->params[j], line, sizeof line);
                printf("    %s\n", line);
            }
        }
        printf("\n");
    }
    for (size_t i = 0; i < r.nproblems; i++)
        printf("refused: %s\n", r.problems[i]);
    char blas[256], running[32];
    mb_blas_describe(mb_blas_select(), blas, sizeof blas);
    printf("%s\n", blas);
    if (mb_blas_loaded(running) == 0) /* what the plugins loaded really runs */
        printf("  loaded by the plugins: kernel %s\n", running);
    mb_registry_close(&r);
    return 0;
}

/* {====== fit ======} */

typedef struct progress_state {
    double start;
    int tty;
} progress_state;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A one-line progress bar on a terminal; nothing when stderr is a file. */
static void show_progress(void *ud, double frac, const char *msg, double train_loss, double valid_loss)
{
    progress_state *ps = ud;
    if (!ps->tty)
        return;
    int w = 30, done = (int)(frac * w + 0.5);
    char bar[64];
    for (int i = 0; i < w; i++)
        bar[i] = i < done ? '#' : '.';
    bar[w] = '\0';
    fprintf(stderr, "\r[%s] %3.0f%% %-24.24s", bar, 100 * frac, msg ? msg : "");
    if (!isnan(train_loss))
        fprintf(stderr, " loss %.5g", train_loss);
    if (!isnan(valid_loss))
        fprintf(stderr, " valid %.5g", valid_loss);
    fprintf(stderr, " %5.1fs\033[K", now_s() - ps->start);
    fflush(stderr);
}

/* The figures a user expects first: accuracy, log-loss, AUC (binary, or
** one-vs-rest for multiclass), F1 macro; or RMSE, MAE and R^2. */
static const char *const class_keys[] = {"accuracy", "log_loss", "roc_auc", "f1_macro"};
static const char *const class_labels[] = {"accuracy", "log-loss", "ROC AUC", "F1 macro"};
static const char *const reg_keys[] = {"rmse", "mae", "r2"};
static const char *const reg_labels[] = {"RMSE", "MAE", "R2"};

static void print_metrics(const char *label, const mb_job_metrics *m)
{
    int reg = m->task == MB_TASK_REGRESSION;
    size_t n = reg ? 3 : 4;
    printf("%s:", label);
    for (size_t i = 0; i < n; i++) {
        double v = mb_job_metric(m, reg ? reg_keys[i] : class_keys[i]);
        if (!isnan(v))
            printf(reg && i < 2 ? "%s %s %.6g" : "%s %s %.4f", i ? "," : "", reg ? reg_labels[i] : class_labels[i], v);
    }
    printf(" (%s)\n", m->what);
}

/* Mean and sample standard deviation over the folds, as mb.cross_validate. */
static void print_cv(const mb_job_result *r, size_t k, int stratified, uint64_t seed)
{
    int reg = r->task == MB_TASK_REGRESSION;
    size_t n = reg ? 3 : 4;
    printf("cross-validation: %zu folds%s, seed %llu; each fold's figures are from its own test rows, "
           "fitted on the others (mean +- std over folds):\n ",
           k, stratified ? ", stratified" : "", (unsigned long long)seed);
    for (size_t i = 0; i < n; i++) {
        const char *key = reg ? reg_keys[i] : class_keys[i];
        double s = 0, s2 = 0;
        for (size_t f = 0; f < r->nfolds; f++)
            s += mb_job_metric(&r->folds[f], key);
        double mean = s / (double)r->nfolds;
        for (size_t f = 0; f < r->nfolds; f++)
            s2 += pow(mb_job_metric(&r->folds[f], key) - mean, 2);
        double sd = r->nfolds > 1 ? sqrt(s2 / (double)(r->nfolds - 1)) : (double)NAN;
        if (!isnan(mean))
            printf("%s %s %.4f +- %.4f", i ? "," : "", reg ? reg_labels[i] : class_labels[i], mean, sd);
    }
    printf("\n");
}

/* What the fit found, with counts as integers; and what it means. */
/* A model that held rows of its training data out for early stopping
** (fit_info n_held_out) trained on the others: scoring every row would mix
** the held-out ones in, so report the model's own split. 1 when printed. */
static int print_held_out(mb_model *m, size_t nrows)
{
    mb_fit_info fi;
    mb_error err;
    double held = 0, tl = NAN, vl = NAN;
    if (mb_model_fit_info(m, &fi, &err) != MB_OK)
        return 0;
    for (size_t k = 0; k < fi.n; k++) {
        held = !strcmp(fi.names[k], "n_held_out") ? fi.values[k] : held;
        tl = !strcmp(fi.names[k], "train_loss") ? fi.values[k] : tl;
        vl = !strcmp(fi.names[k], "valid_loss") ? fi.values[k] : vl;
    }
    if (!(held > 0 && held < (double)nrows))
        return 0;
    printf("training (%.0f rows): loss %.6g; held out for early stopping (%.0f rows): loss %.6g\n",
           (double)nrows - held, tl, held, vl);
    return 1;
}

static void print_fit_info(mb_model *m)
{
    mb_fit_info fi;
    mb_error err;
    if (mb_model_fit_info(m, &fi, &err) != MB_OK || !fi.n)
        return;
    printf("fit:");
    double epochs = NAN;
    int shown = 0;
    for (size_t k = 0; k < fi.n; k++) {
        double v = fi.values[k];
        char b[40];
        if (isnan(v))
            continue; /* not known for this fit */
        if (!strcmp(fi.names[k], "converged"))
            snprintf(b, sizeof b, "%s", v != 0 ? "yes" : "no");
        else if (v == floor(v) && fabs(v) < 1e15)
            snprintf(b, sizeof b, "%lld", (long long)v);
        else
            snprintf(b, sizeof b, "%.6g", v);
        printf("%s %s=%s", shown++ ? "," : "", fi.names[k], b);
        if (!strcmp(fi.names[k], "epochs"))
            epochs = v;
    }
    printf("\n");
    for (size_t i = 0; i < m->params.n; i++) /* an MLP that used every epoch was stopped, not converged */
        if (!strcmp(m->type->name, "mlp") && !strcmp(m->type->params[i].name, "epochs") &&
            epochs == strtod(m->params.text[i], NULL))
            printf("note: the MLP did not converge: it ran all %s epochs (raise -p epochs=, or the learning rate)\n",
                   m->params.text[i]);
    for (size_t k = 0; k < fi.n; k++)
        if (!strcmp(fi.names[k], "converged") && fi.values[k] == 0)
            printf("note: %s did not converge (raise -p max_iter= or -p tol=)\n", m->type->name);
}

typedef struct fit_args {
    const char *data, *model, *out, *target, *task, *weights, *valid, *pipeline, *test, *cv;
    const char **settings;
    size_t nset;
    char **owned_settings;        /* from --pipeline */
    size_t nowned;
    char *owned_model;
    mb_cli_steps steps;
    int threads;
    uint64_t seed;
    double threshold;             /* --threshold; 0: none */
} fit_args;

static void fit_args_free(fit_args *a)
{
    mb_free(a->settings);
    for (size_t i = 0; i < a->nowned; i++)
        mb_free(a->owned_settings[i]);
    mb_free(a->owned_settings);
    mb_free(a->owned_model);
    mb_cli_steps_free(&a->steps);
}

static int fit_threshold(const char *v, double *out)
{
    char *end;
    *out = strtod(v, &end);
    if (!v[0] || *end || !(*out > 0 && *out < 1))
        return mb_cli_usage("fit", "--threshold takes a probability in (0, 1), not '%s'", v);
    return 0;
}

/* 0, or the exit status of a usage error (2) or bad input (1). */
static int parse_fit(int argc, char **argv, fit_args *a)
{
    const char *threads = NULL;
    memset(a, 0, sizeof *a);
    a->settings = mb_calloc((size_t)argc + 1, sizeof *a->settings);
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        int more = i + 1 < argc, rc = 0;
        if (!strcmp(s, "-m") && more)
            a->model = argv[++i];
        else if (!strcmp(s, "-p") && more)
            a->settings[a->nset++] = argv[++i];
        else if (!strcmp(s, "-t") && more)
            rc = mb_cli_steps_add(&a->steps, "fit", argv[++i]);
        else if (!strcmp(s, "--prep") && more)
            rc = mb_cli_steps_prep(&a->steps, "fit", argv[++i]);
        else if (!strcmp(s, "--pipeline") && more)
            a->pipeline = argv[++i];
        else if (!strcmp(s, "--test") && more)
            a->test = argv[++i];
        else if (!strcmp(s, "--cv") && more)
            a->cv = argv[++i];
        else if (!strcmp(s, "-o") && more)
            a->out = argv[++i];
        else if (!strcmp(s, "--target") && more)
            a->target = argv[++i];
        else if (!strcmp(s, "--task") && more)
            a->task = argv[++i];
        else if (!strcmp(s, "--weights") && more)
            a->weights = argv[++i];
        else if (!strcmp(s, "--valid") && more)
            a->valid = argv[++i];
        else if (!strcmp(s, "--threads") && more)
            threads = argv[++i];
        else if (!strcmp(s, "--seed") && more)
            rc = mb_cli_seed("fit", argv[++i], &a->seed);
        else if (!strcmp(s, "--threshold") && more)
            rc = fit_threshold(argv[++i], &a->threshold);
        else if (s[0] == '-' && s[1])
            return mb_cli_usage("fit", "unknown option or missing value: '%s'", s);
        else if (!a->data)
            a->data = s;
        else
            return mb_cli_usage("fit", "one dataset only ('%s' and '%s')", a->data, s);
        if (rc)
            return rc;
    }
    if (mb_cli_threads("fit", threads, &a->threads))
        return 2;
    if (a->test && a->cv)
        return mb_cli_usage("fit", "--test and --cv are two ways to judge the model: choose one");
    if (a->pipeline && (a->steps.n || a->steps.prep_given))
        return mb_cli_usage("fit", "--pipeline gives the transforms: no -t or --prep with it");
    if (a->pipeline) {
        char *model;
        if (mb_cli_pipeline_file(a->pipeline, &a->steps, &model, &a->owned_settings, &a->nowned))
            return 1;
        a->steps.prep_none = 1; /* the pipeline is what the user wants, as it is */
        a->owned_model = model;
        if (a->model && strcmp(a->model, model) && !strstr(model, a->model))
            return mb_cli_usage("fit", "-m %s, but the pipeline's model is %s", a->model, model);
        a->model = model;
        /* the pipeline's parameters first, -p after them (the last one wins) */
        const char **all = mb_calloc(a->nowned + a->nset + 1, sizeof *all);
        for (size_t i = 0; i < a->nowned; i++)
            all[i] = a->owned_settings[i];
        for (size_t i = 0; i < a->nset; i++)
            all[a->nowned + i] = a->settings[i];
        mb_free(a->settings);
        a->settings = all;
        a->nset += a->nowned;
    }
    if (!a->data || !a->model || !a->out)
        return mb_cli_usage("fit", "%s", !a->data ? "name the dataset" : !a->model ? "name the model with -m" : "name the output bundle with -o");
    return 0;
}

/* --test F|N and --cv K into the job. */
static int eval_plan(const fit_args *a, mb_job *job)
{
    if (a->cv) {
        long long k;
        if (mb_cli_int("fit", "--cv", a->cv, 2, 1000000, &k))
            return 2;
        job->eval = MB_EVAL_CV;
        job->k = (size_t)k;
    } else if (a->test) {
        char *end;
        double t = strtod(a->test, &end);
        if (!a->test[0] || *end || !(t > 0) || (t >= 1 && t != floor(t)) || t > 1e15)
            return mb_cli_usage("fit", "--test takes a fraction in (0, 1) or a whole number of rows, not '%s'", a->test);
        job->eval = MB_EVAL_TEST;
        job->test = t;
    }
    return 0;
}

static mb_task task_of(const char *task)
{
    return !strcmp(task, "regression") ? MB_TASK_REGRESSION
           : !strcmp(task, "binary")   ? MB_TASK_BINARY
           : !strcmp(task, "multiclass") ? MB_TASK_MULTICLASS
                                         : 0;
}

int mb_cmd_fit(int argc, char **argv)
{
    fit_args a;
    int status = parse_fit(argc, argv, &a);
    mb_job job = {0};
    job.stratify = -1;
    if (status || (status = eval_plan(&a, &job)) != 0) {
        fit_args_free(&a);
        return status;
    }
    if (a.task && !(job.task = task_of(a.task))) {
        fit_args_free(&a);
        return mb_cli_usage("fit", "--task is regression, binary or multiclass, not '%s'", a.task);
    }
    mb_error err;
    mb_registry reg;
    mb_frame *f = NULL, *vf = NULL;
    mb_job_result res = {0};
    mb_cli_steps steps = {0};
    status = 1;
    mb_cli_registry(&reg);
    const mb_loaded_plugin *owner;
    const mb_model_type *type = mb_registry_find(&reg, a.model, &owner, &err);
    const char *inputs[] = {a.data, a.valid};
    if (!type || mb_output_check_inputs(a.out, inputs, 2, &err) != MB_OK)
        goto fail;
    mb_params check;
    if (mb_params_parse(&check, type, a.settings, a.nset, &err) != MB_OK) {
        status = mb_cli_usage("fit", "%s", err.msg); /* a bad -p is a usage error */
        goto exit;
    }
    mb_params_free(&check);
    if (mb_open(a.data, &f, &err) != MB_OK || (a.target && mb_frame_set_target(f, a.target, &err) != MB_OK))
        goto fail;
    if (f->target < 0) {
        mb_fail(&err, MB_EARG, "%s: no target column; name one (--target COLUMN)", f->source ? f->source : a.data);
        goto fail;
    }
    if (a.valid && (mb_open(a.valid, &vf, &err) != MB_OK ||
                    mb_frame_set_target(vf, f->cols[f->target].name, &err) != MB_OK))
        goto fail;
    int added;
    if (mb_cli_steps_for(&a.steps, f, a.weights, type, &steps, &added))
        goto exit;
    if (added) {
        printf("prep auto (for %s): ", type->name);
        mb_cli_steps_print(stdout, &steps);
        printf("  (give these -t flags to change them, or --prep none)\n");
    }
    progress_state ps = {now_s(), isatty(2)};
    job.data = f;
    job.weights = a.weights;
    job.valid = vf;
    job.steps = steps.v;
    job.nsteps = steps.n;
    job.type = type;
    job.owner = owner;
    job.settings = a.settings;
    job.nsettings = a.nset;
    job.threads = a.threads;
    job.seed = a.seed;
    job.threshold = a.threshold;
    job.progress = show_progress;
    job.progress_ud = &ps;
    job.source = f->source ? f->source : a.data;
    mb_status rc = mb_job_run(&job, &res, &err);
    if (ps.tty)
        fprintf(stderr, "\r\033[K");
    if (rc != MB_OK || mb_bundle_save(a.out, res.bundle, &err) != MB_OK)
        goto fail;
    if (job.eval == MB_EVAL_CV)
        print_cv(&res, job.k, res.nclasses > 0, a.seed);
    printf("fitted %s (%s) on %zu rows x %zu features in %.2f s -> %s\n", type->name, mb_task_name(res.task),
           res.ntrain, res.nfeatures, res.seconds, a.out);
    print_fit_info(res.model);
    if (a.threshold > 0)
        printf("decision threshold %g stored: class '%s' when its probability is above it (in the figures below too)\n",
               a.threshold, res.classes[1]);
    if (!print_held_out(res.model, res.ntrain))
        print_metrics("training", &res.train);
    if (res.test.done)
        print_metrics("test", &res.test);
    if (vf)
        printf("early stopping watched %s (%zu rows; not a score: the model was tuned on it)\n",
               vf->source ? vf->source : a.valid, vf->nrows);
    if (job.eval == MB_EVAL_NONE)
        printf("(no held-out figure: add --test 0.2 or --cv 5)\n");
    status = 0;
    goto exit;
fail:
    status = mb_cli_error(&err);
exit:
    mb_job_result_free(&res);
    mb_cli_steps_free(&steps);
    mb_frame_free(&f);
    mb_frame_free(&vf);
    mb_registry_close(&reg);
    fit_args_free(&a);
    return status;
}
