/*
** models.c: the model commands: `moonbench plugins` (what is installed),
** `moonbench fit` (train a plugin's model on a dataset into a bundle) and
** `moonbench predict` (score a dataset with a bundle), the path a plugin
** author uses to try a model without Lua.
*/
#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bundle.h"
#include "cli.h"
#include "dataset.h"
#include "io.h"
#include "metrics.h"
#include "plugin.h"

/* Discover plugins beside this executable, in the install and in
** $MOONBENCH_PLUGIN_PATH; lazily: none is loaded until a model is looked
** up (so predict with a portable bundle runs no plugin code). */
static void open_registry(mb_registry *r)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    memset(r, 0, sizeof *r);
    if (n > 0) {
        exe[n] = '\0';
        mb_registry_discover_lazy(r, dirname(exe));
    } else {
        mb_registry_discover_lazy(r, NULL);
    }
}

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
    open_registry(&r);
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

/* The score a user expects first: accuracy (and AUC) or RMSE and R^2. */
static void print_score(const char *what, mb_model *m, const mb_dataset *d)
{
    size_t n = d->X.rows, k = d->nclasses;
    float *pred = mb_malloc(n * sizeof(float));
    mb_error err;
    if (mb_model_predict(m, &d->X, pred, &err) != MB_OK) {
        fprintf(stderr, "moonbench: %s\n", err.msg);
        mb_free(pred);
        return;
    }
    if (d->task == MB_TASK_REGRESSION) {
        printf("%s: RMSE %.6g, R2 %.4f\n", what, mb_rmse(d->y, pred, n), mb_r2(d->y, pred, n));
    } else {
        printf("%s: accuracy %.4f", what, mb_accuracy(d->y, pred, n));
        float *proba = mb_malloc(n * k * sizeof(float));
        if (mb_model_predict_proba(m, &d->X, proba, &err) == MB_OK) {
            printf(", log-loss %.4f", mb_log_loss(d->y, proba, n, k));
            if (k == 2) {
                for (size_t i = 0; i < n; i++)
                    proba[i] = proba[2 * i + 1];
                printf(", ROC AUC %.4f", mb_roc_auc(d->y, proba, n));
            }
        }
        printf("\n");
        mb_free(proba);
    }
    mb_free(pred);
}

int mb_cmd_fit(int argc, char **argv)
{
    const char *data = NULL, *model = NULL, *out = NULL, *target = NULL, *task = NULL, *weights = NULL,
               *valid = NULL;
    const char **settings = mb_calloc((size_t)argc + 1, sizeof *settings);
    size_t nset = 0;
    int threads = 0;
    unsigned long long seed = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "-m") && more)
            model = argv[++i];
        else if (!strcmp(a, "-p") && more)
            settings[nset++] = argv[++i];
        else if (!strcmp(a, "-o") && more)
            out = argv[++i];
        else if (!strcmp(a, "--target") && more)
            target = argv[++i];
        else if (!strcmp(a, "--task") && more)
            task = argv[++i];
        else if (!strcmp(a, "--weights") && more)
            weights = argv[++i];
        else if (!strcmp(a, "--valid") && more)
            valid = argv[++i];
        else if (!strcmp(a, "--threads") && more)
            threads = atoi(argv[++i]);
        else if (!strcmp(a, "--seed") && more)
            seed = strtoull(argv[++i], NULL, 10);
        else if (a[0] == '-' && a[1]) {
            mb_free(settings);
            return mb_cli_usage("fit", "unknown option or missing value: '%s'", a);
        } else if (!data)
            data = a;
        else {
            mb_free(settings);
            return mb_cli_usage("fit", "one dataset only ('%s' and '%s')", data, a);
        }
    }
    if (!data || !model || !out) {
        mb_free(settings);
        return mb_cli_usage("fit", "%s", !data ? "name the dataset" : !model ? "name the model with -m" : "name the output bundle with -o");
    }
    mb_task want = 0;
    if (task) {
        want = !strcmp(task, "regression") ? MB_TASK_REGRESSION
               : !strcmp(task, "binary")   ? MB_TASK_BINARY
               : !strcmp(task, "multiclass") ? MB_TASK_MULTICLASS
                                             : 0;
        if (!want) {
            mb_free(settings);
            return mb_cli_usage("fit", "--task is regression, binary or multiclass, not '%s'", task);
        }
    }
    if (threads <= 0) {
        long nc = sysconf(_SC_NPROCESSORS_ONLN);
        threads = nc > 0 ? (int)nc : 1;
    }
    mb_error err;
    mb_registry reg;
    mb_frame *f = NULL, *vf = NULL;
    mb_data d = {0}, vd = {0};
    mb_model *m = NULL;
    mb_bundle *b = mb_calloc(1, sizeof *b);
    int status = 1;
    open_registry(&reg);
    const mb_loaded_plugin *owner;
    const mb_model_type *type = mb_registry_find(&reg, model, &owner, &err);
    mb_params params;
    memset(&params, 0, sizeof params); /* freed at exit until mb_model_create takes it */
    const char *inputs[] = {data, valid};
    if (mb_output_check_inputs(out, inputs, 2, &err) != MB_OK)
        goto fail;
    if (!type || mb_params_parse(&params, type, settings, nset, &err) != MB_OK)
        goto fail;
    if (mb_open(data, &f, &err) != MB_OK)
        goto fail;
    if (target && mb_frame_set_target(f, target, &err) != MB_OK)
        goto fail;
    if (mb_data_from_frame_weighted(f, want, weights, &d, &err) != MB_OK)
        goto fail;
    if (valid) {
        /* the validation data: the same target (by name), the task of the training data */
        if (mb_open(valid, &vf, &err) != MB_OK ||
            mb_frame_set_target(vf, f->cols[f->target].name, &err) != MB_OK ||
            mb_data_from_frame_weighted(vf, d.ds.task, weights, &vd, &err) != MB_OK)
            goto fail;
    }
    if (mb_model_create(&m, type, owner, &params, &err) != MB_OK)
        goto fail;
    progress_state ps = {now_s(), isatty(2)};
    mb_fit_context ctx = {sizeof ctx, mb_host_services(), threads, seed, show_progress, &ps, NULL};
    mb_status rc = mb_model_fit(m, &d.ds, valid ? &vd.ds : NULL, &ctx, &err);
    if (ps.tty)
        fprintf(stderr, "\r\033[K");
    if (rc != MB_OK)
        goto fail;
    double secs = now_s() - ps.start;
    char *file, *object;
    mb_split_spec(data, &file, &object);
    rc = mb_bundle_from_model(b, m, d.feature_names, d.ds.X.cols, f->cols[f->target].name,
                              (const char *const *)d.class_names, file, f->source ? f->source : data,
                              d.ds.X.rows, &err);
    mb_free(file);
    mb_free(object);
    if (rc == MB_OK)
        rc = mb_monitoring_compute(&d.ds.X, &b->monitoring, &err);
    if (rc != MB_OK || mb_bundle_save(out, b, &err) != MB_OK)
        goto fail;
    printf("fitted %s (%s) on %zu rows x %zu features in %.2f s -> %s\n", type->name,
           mb_task_name(d.ds.task), d.ds.X.rows, d.ds.X.cols, secs, out);
    mb_fit_info fi;
    double held = 0, tl = NAN, vl = NAN;
    if (mb_model_fit_info(m, &fi, &err) == MB_OK && fi.n) {
        printf("fit:");
        for (size_t k = 0; k < fi.n; k++) {
            printf("%s %s %.6g", k ? "," : "", fi.names[k], fi.values[k]);
            held = !strcmp(fi.names[k], "n_held_out") ? fi.values[k] : held;
            tl = !strcmp(fi.names[k], "train_loss") ? fi.values[k] : tl;
            vl = !strcmp(fi.names[k], "valid_loss") ? fi.values[k] : vl;
        }
        printf("\n");
    }
    /* rows the model held out for early stopping are no training rows:
    ** scoring all of d would mix them in, so report the model's own split */
    if (held > 0 && held < (double)d.ds.X.rows)
        printf("training (%.0f rows): loss %.6g; held out for early stopping (%.0f rows): loss %.6g\n",
               (double)d.ds.X.rows - held, tl, held, vl);
    else
        print_score("training", m, &d.ds);
    if (valid)
        print_score("validation", m, &vd.ds);
    status = 0;
    goto exit;
fail:
    status = mb_cli_error(&err);
exit:
    mb_params_free(&params);
    mb_bundle_free(&b);
    mb_model_free(&m);
    mb_data_free(&d);
    mb_data_free(&vd);
    mb_frame_free(&f);
    mb_frame_free(&vf);
    mb_registry_close(&reg);
    mb_free(settings);
    return status;
}

/* {====== predict ======} */

int mb_cmd_predict(int argc, char **argv)
{
    const char *model = NULL, *data = NULL, *out = NULL;
    mb_cli_trust trust = {{0}, 0};
    for (int i = 1; i < argc; i++) {
        int tr = mb_cli_trust_option(&trust, "predict", argc, argv, &i);
        if (tr < 0)
            return 2;
        if (tr)
            continue;
        if (!strcmp(argv[i], "-o") && i + 1 < argc)
            out = argv[++i];
        else if (argv[i][0] == '-' && argv[i][1])
            return mb_cli_usage("predict", "unknown option or missing value: '%s'", argv[i]);
        else if (!model)
            model = argv[i];
        else if (!data)
            data = argv[i];
        else
            return mb_cli_usage("predict", "too many arguments ('%s')", argv[i]);
    }
    if (!model || !data)
        return mb_cli_usage("predict", "name the model bundle and the dataset");
    mb_error err;
    mb_registry reg;
    mb_bundle *b = NULL;
    mb_frame *f = NULL;
    mb_scorer sc;
    memset(&sc, 0, sizeof sc);
    float *label = NULL, *proba = NULL;
    FILE *fp = NULL;
    char *tmp = NULL;
    int status = 1;
    open_registry(&reg);
    const char *inputs[] = {model, data};
    if (out && mb_output_check_inputs(out, inputs, 2, &err) != MB_OK)
        goto fail;
    mb_bundle_options bo = {.trust_files = trust.files, .ntrust_files = trust.n};
    if (mb_bundle_load_opts(model, &bo, &b, &err) != MB_OK || mb_scorer_open(&sc, b, &reg, &err) != MB_OK ||
        mb_open(data, &f, &err) != MB_OK)
        goto fail;
    size_t n = f->nrows, k = b->nclasses;
    label = mb_malloc((n ? n : 1) * sizeof *label);
    if (k)
        proba = mb_malloc((n ? n : 1) * k * sizeof *proba);
    /* the bundle's pipeline (C transforms), then its model: features by name */
    if (mb_scorer_predict_frame(&sc, f, label, proba, &err) != MB_OK)
        goto fail;
    if (out) {
        /* written beside out and renamed when complete (io.h) */
        int fd = mb_tmp_create(out, &tmp, &err);
        if (fd < 0)
            goto fail;
        fp = fdopen(fd, "w");
        if (!fp) {
            close(fd);
            mb_fail(&err, MB_EIO, "cannot write %s: %s", out, strerror(errno));
            goto fail;
        }
    } else {
        fp = stdout;
    }
    fprintf(fp, "prediction");
    for (size_t c = 0; c < k; c++)
        fprintf(fp, ",proba_%s", b->classes[c]);
    fputc('\n', fp);
    for (size_t i = 0; i < n; i++) {
        if (k && !(label[i] >= 0 && label[i] < (float)k)) {
            mb_fail(&err, MB_EFORMAT, "%s: the model predicted class %g, but the bundle names %zu classes", model,
                    (double)label[i], k);
            goto fail;
        }
        if (k)
            fprintf(fp, "%s", b->classes[(size_t)label[i]]);
        else
            fprintf(fp, "%.9g", (double)label[i]);
        for (size_t c = 0; c < k; c++)
            fprintf(fp, ",%.6g", (double)proba[i * k + c]);
        fputc('\n', fp);
    }
    if (out) {
        int bad = ferror(fp) | fflush(fp) | fsync(fileno(fp));
        bad |= fclose(fp);
        fp = NULL;
        if (bad) {
            mb_fail(&err, MB_EIO, "cannot write %s: %s", out, strerror(errno));
            goto fail;
        }
        if (mb_tmp_publish(-1, &tmp, out, &err) != MB_OK)
            goto fail;
        fprintf(stderr, "%zu predictions -> %s\n", n, out);
    }
    status = 0;
    goto exit;
fail:
    status = mb_cli_error(&err);
exit:
    if (fp && fp != stdout)
        fclose(fp);
    mb_tmp_discard(&tmp);
    mb_free(label);
    mb_free(proba);
    mb_scorer_close(&sc);
    mb_frame_free(&f);
    mb_bundle_free(&b);
    mb_registry_close(&reg);
    return status;
}
