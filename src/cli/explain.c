/*
** explain.c: `moonbench explain MODEL DATA`: per-row SHAP contributions
** (exact TreeSHAP or linear SHAP, src/core/explain.h) written as CSV or
** HDF5, and a global summary (mean |SHAP| per column, ranked, with a bar)
** on stdout; `--permutation` for permutation importance, which works for
** every model; `--pdp COL[,COL]` for partial dependence and ICE curves,
** also for every model (docs/explain.md).
*/
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "explain.h"
#include "frameops.h"
#include "h5io.h"
#include "io.h"
#include "train.h"

typedef struct explain_args {
    const char *model, *data, *out, *rows, *metric, *threads, *pdp;
    long long top, repeats, grid;
    uint64_t seed;
    int permutation, ice;
    mb_cli_trust trust;
} explain_args;

/* The output's format from its name: 'c' (.csv), 'h' (.h5, .hdf5) or 0. */
static int out_format(const char *path)
{
    const char *dot = strrchr(path, '.');
    return !dot ? 0 : !strcmp(dot, ".csv") ? 'c' : !strcmp(dot, ".h5") || !strcmp(dot, ".hdf5") ? 'h' : 0;
}

static int parse(int argc, char **argv, explain_args *a)
{
    const char *cmd = "explain";
    memset(a, 0, sizeof *a);
    a->repeats = 5;
    a->grid = 100;
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
        else if (!strcmp(s, "--rows") && more)
            a->rows = argv[++i];
        else if (!strcmp(s, "--top") && more)
            rc = mb_cli_int(cmd, s, argv[++i], 1, 1000000, &a->top);
        else if (!strcmp(s, "--permutation"))
            a->permutation = 1;
        else if (!strcmp(s, "--pdp") && more)
            a->pdp = argv[++i];
        else if (!strcmp(s, "--grid") && more)
            rc = mb_cli_int(cmd, s, argv[++i], 2, 100000, &a->grid);
        else if (!strcmp(s, "--ice"))
            a->ice = 1;
        else if (!strcmp(s, "--repeats") && more)
            rc = mb_cli_int(cmd, s, argv[++i], 1, 10000, &a->repeats);
        else if (!strcmp(s, "--metric") && more)
            a->metric = argv[++i];
        else if (!strcmp(s, "--seed") && more)
            rc = mb_cli_seed(cmd, argv[++i], &a->seed);
        else if (!strcmp(s, "--threads") && more)
            a->threads = argv[++i];
        else if (s[0] == '-' && s[1])
            return mb_cli_usage(cmd, "unknown option or missing value: '%s'", s);
        else if (!a->model)
            a->model = s;
        else if (!a->data)
            a->data = s;
        else
            return mb_cli_usage(cmd, "too many arguments ('%s')", s);
        if (rc)
            return rc;
    }
    if (!a->model || !a->data)
        return mb_cli_usage(cmd, "name the model bundle and the data to explain");
    if (a->permutation && a->out)
        return mb_cli_usage(cmd, "-o writes per-row contributions, which --permutation does not make");
    if (!a->permutation && a->metric)
        return mb_cli_usage(cmd, "--metric is for --permutation");
    if (a->pdp && a->permutation)
        return mb_cli_usage(cmd, "--pdp and --permutation are two different explanations: choose one");
    if (a->ice && !a->pdp)
        return mb_cli_usage(cmd, "--ice is an option of --pdp");
    if (a->pdp && a->out && out_format(a->out) != 'c')
        return mb_cli_usage(cmd, "-o %s: --pdp writes .csv", a->out);
    if (a->out && !out_format(a->out))
        return mb_cli_usage(cmd, "-o %s: write .csv or .h5", a->out);
    return 0;
}

/* --rows A:B: rows A..B-1 counting from 0 (either side may be left out). */
static mb_status take_rows(const char *spec, mb_frame **f, mb_error *err)
{
    if (!spec)
        return MB_OK;
    char *end;
    const char *colon = strchr(spec, ':');
    size_t n = (*f)->nrows, a = 0, b = n;
    if (!colon)
        return mb_fail(err, MB_EARG, "--rows takes A:B (rows A to B-1, from 0), not '%s'", spec);
    if (colon != spec) {
        long long v = strtoll(spec, &end, 10);
        if (end != colon || v < 0)
            return mb_fail(err, MB_EARG, "--rows %s: the start must be a number >= 0", spec);
        a = (size_t)v;
    }
    if (colon[1]) {
        long long v = strtoll(colon + 1, &end, 10);
        if (*end || v < 0)
            return mb_fail(err, MB_EARG, "--rows %s: the end must be a number >= 0", spec);
        b = (size_t)v < n ? (size_t)v : n;
    }
    if (a >= b)
        return mb_fail(err, MB_EARG, "--rows %s selects no rows of the %zu in the data", spec, n);
    size_t *idx = mb_malloc((b - a) * sizeof *idx);
    for (size_t i = a; i < b; i++)
        idx[i - a] = i;
    mb_frame *t = NULL;
    mb_status rc = mb_frame_take(*f, idx, b - a, &t, err);
    mb_free(idx);
    if (rc == MB_OK) {
        mb_frame_free(f);
        *f = t;
    }
    return rc;
}

/* {====== output ======} */

static char *column_name(const mb_explanation *e, const mb_bundle *b, size_t c, size_t k)
{
    const char *base = c < e->ncols ? e->cols[c] : "expected_value";
    char buf[1024];
    if (e->noutputs > 1)
        snprintf(buf, sizeof buf, "%s:%s", base, b->classes[k]);
    else
        snprintf(buf, sizeof buf, "%s", base);
    return mb_strdup(buf);
}

static mb_status write_csv(const char *path, const mb_explanation *e, const mb_bundle *b, size_t first,
                           mb_error *err)
{
    char *tmp = NULL;
    int fd = mb_tmp_create(path, &tmp, err);
    if (fd < 0)
        return err->code;
    FILE *fp = fdopen(fd, "w");
    if (!fp) {
        close(fd);
        mb_tmp_discard(&tmp);
        return mb_fail(err, MB_EIO, "%s: cannot write", path);
    }
    size_t C1 = e->ncols + 1;
    fputs("row", fp);
    for (size_t k = 0; k < e->noutputs; k++)
        for (size_t c = 0; c < C1; c++) {
            char *n = column_name(e, b, c, k);
            int quote = strpbrk(n, ",\"\n") != NULL;
            fputc(',', fp);
            if (quote) {
                fputc('"', fp);
                for (const char *p = n; *p; p++)
                    fputs(*p == '"' ? "\"\"" : (char[2]){*p, 0}, fp);
                fputc('"', fp);
            } else {
                fputs(n, fp);
            }
            mb_free(n);
        }
    fputc('\n', fp);
    for (size_t i = 0; i < e->rows; i++) {
        fprintf(fp, "%zu", first + i);
        for (size_t v = 0; v < e->noutputs * C1; v++)
            fprintf(fp, ",%.17g", e->phi[i * e->noutputs * C1 + v]);
        fputc('\n', fp);
    }
    int bad = ferror(fp) | fflush(fp);
    if (bad || fsync(fileno(fp)) != 0) {
        fclose(fp);
        mb_tmp_discard(&tmp);
        return mb_fail(err, MB_EIO, "%s: write failed", path);
    }
    if (fclose(fp) != 0) {
        mb_tmp_discard(&tmp);
        return mb_fail(err, MB_EIO, "%s: write failed", path);
    }
    return mb_tmp_publish(-1, &tmp, path, err);
}

/* HDF5: one float32 column per contribution, in moonbench's matrix layout. */
static mb_status write_h5(const char *path, const mb_explanation *e, const mb_bundle *b, size_t first,
                          mb_error *err)
{
    size_t C1 = e->ncols + 1, W = e->noutputs * C1;
    mb_frame *f = mb_frame_new(e->rows);
    mb_status rc = MB_OK;
    mb_column *rows = mb_frame_add_num(f, "row", NULL, 1, err);
    if (!rows)
        rc = err->code;
    for (size_t i = 0; rows && i < e->rows; i++)
        rows->num[i] = (float)(first + i);
    for (size_t k = 0; k < e->noutputs && rc == MB_OK; k++)
        for (size_t c = 0; c < C1 && rc == MB_OK; c++) {
            char *n = column_name(e, b, c, k);
            mb_column *col = mb_frame_add_num(f, n, NULL, 1, err);
            mb_free(n);
            if (!col) {
                rc = err->code;
                break;
            }
            for (size_t i = 0; i < e->rows; i++)
                col->num[i] = (float)e->phi[i * W + k * C1 + c];
        }
    if (rc == MB_OK)
        rc = mb_h5_write(path, f, err);
    mb_frame_free(&f);
    return rc;
}

/* {====== the summary ======} */

/* A bar of v / max in 30 cells with eighth blocks. */
static void print_bar(double v, double max)
{
    static const char *const eighths[] = {"", "▏", "▎", "▍", "▌", "▋", "▊", "▉"};
    int units = max > 0 && v > 0 ? (int)lround(v / max * 240) : 0;
    for (int i = 0; i < units / 8; i++)
        fputs("█", stdout);
    fputs(eighths[units % 8], stdout);
}

typedef struct ranked {
    size_t col;
    double v, sd;
} ranked;

static int by_value(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    return x->v < y->v ? 1 : x->v > y->v ? -1 : x->col < y->col ? -1 : x->col > y->col;
}

static void print_ranking(ranked *r, size_t n, char *const *names, long long top, int with_sd)
{
    qsort(r, n, sizeof *r, by_value);
    size_t show = top > 0 && (size_t)top < n ? (size_t)top : n, w = 8;
    for (size_t i = 0; i < show; i++)
        w = strlen(names[r[i].col]) > w ? strlen(names[r[i].col]) : w;
    w = w > 40 ? 40 : w;
    for (size_t i = 0; i < show; i++) {
        printf("  %2zu. %-*.*s  %11.6g", i + 1, (int)w, (int)w, names[r[i].col], r[i].v);
        if (with_sd)
            printf(" ± %-10.4g", r[i].sd);
        fputs("  ", stdout);
        print_bar(r[i].v, r[0].v);
        fputc('\n', stdout);
    }
    if (show < n)
        printf("  (%zu more; --top to show them)\n", n - show);
}

static void shap_summary(const mb_explanation *e, const mb_bundle *b, long long top)
{
    size_t C1 = e->ncols + 1;
    ranked *r = mb_calloc(e->ncols, sizeof *r);
    for (size_t c = 0; c < e->ncols; c++) {
        r[c].col = c;
        for (size_t i = 0; i < e->rows; i++)
            for (size_t k = 0; k < e->noutputs; k++)
                r[c].v += fabs(e->phi[(i * e->noutputs + k) * C1 + c]);
        r[c].v /= (double)e->rows;
    }
    printf("%s SHAP of %zu rows, in the model's raw margin (%s)%s\n",
           !strcmp(e->method, "treeshap") ? "exact path-dependent tree" : "exact linear", e->rows,
           b->task == MB_TASK_REGRESSION        ? "the predicted value"
           : e->link == MB_LINK_LOGISTIC        ? "log-odds of class 1"
           : e->link == MB_LINK_SOFTMAX         ? "per-class margins before the softmax"
           : b->task == MB_TASK_BINARY          ? "the probability of class 1"
                                                : "per-class probabilities",
           e->mapped ? ";\nper input column: one-hot levels summed to their column, poly2 products split half "
                       "and half" : "");
    for (size_t k = 0; k < e->noutputs; k++) {
        double ev = e->rows ? e->phi[k * C1 + e->ncols] : 0;
        if (e->noutputs > 1)
            printf("expected value (%s): %.6g\n", b->classes[k], ev);
        else
            printf("expected value: %.6g\n", ev);
    }
    printf("mean |SHAP| per %s%s:\n", e->mapped ? "input column" : "feature",
           e->noutputs > 1 ? " (summed over the classes)" : "");
    print_ranking(r, e->ncols, e->cols, top, 0);
    mb_free(r);
}

/* {====== permutation importance ======} */

static mb_status scorer_predict(void *ud, const mb_matrix *X, float *label, float *proba, mb_error *err)
{
    return mb_scorer_predict(ud, X, label, proba, err);
}

static int permutation(const explain_args *a, mb_scorer *s, const mb_frame *f, int threads, mb_error *err)
{
    (void)threads;
    const mb_bundle *b = s->bundle;
    size_t K = b->task == MB_TASK_REGRESSION ? 0 : b->nclasses;
    int metric = a->metric ? mb_pi_metric_find(a->metric) : K ? MB_PI_ACCURACY : MB_PI_R2;
    if (metric < 0)
        return mb_cli_usage("explain", "--metric is accuracy, roc_auc, neg_log_loss, r2 or neg_rmse, not '%s'",
                            a->metric);
    float *y = NULL, *x = NULL;
    mb_matrix X;
    mb_status rc = mb_explain_labels(b, f, &y, err);
    if (rc == MB_OK)
        rc = mb_explain_matrix(s, f, &X, &x, err);
    size_t M = rc == MB_OK ? X.cols : 0;
    double base = 0, *scores = mb_calloc(M * (size_t)a->repeats + 1, sizeof *scores);
    double *mean = mb_calloc(M + 1, sizeof *mean), *sd = mb_calloc(M + 1, sizeof *sd);
    mb_pi_opts o = {(size_t)a->repeats, a->seed, (mb_pi_metric)metric, K, NULL};
    if (rc == MB_OK)
        rc = mb_permutation_importance(scorer_predict, s, &X, y, &o, &base, scores, mean, sd, err);
    if (rc == MB_OK) {
        printf("permutation importance on %zu rows, %lld repeats (seed %llu): %s %.6g unpermuted;\n"
               "the score's drop when one model feature is shuffled, mean ± standard deviation:\n",
               X.rows, a->repeats, (unsigned long long)a->seed, mb_pi_metric_name((mb_pi_metric)metric), base);
        ranked *r = mb_calloc(M, sizeof *r);
        for (size_t j = 0; j < M; j++)
            r[j] = (ranked){j, mean[j], sd[j]};
        print_ranking(r, M, b->features, a->top, 1);
        mb_free(r);
    }
    mb_free(y);
    mb_free(x);
    mb_free(scores);
    mb_free(mean);
    mb_free(sd);
    return rc == MB_OK ? 0 : mb_cli_error(err);
}

/* {====== partial dependence ======} */

/* Grid point g's value(s) as CSV fields (or a table's cells). */
static void put_point(FILE *fp, const mb_pdp *p, size_t g, const char *sep)
{
    size_t at[2] = {g / p->ngrid[1], g % p->ngrid[1]};
    for (size_t a = 0; a < p->ncols; a++) {
        if (p->levels[a])
            fprintf(fp, "%s%s", a ? sep : "", p->levels[a][at[a]]);
        else
            fprintf(fp, "%s%.17g", a ? sep : "", p->grid[a][at[a]]);
    }
}

/* -o OUT.csv: kind,row,COL[,COL2],value (value:CLASS per class); one
** "average" line per grid point, then with --ice one "individual" line
** per row and grid point. */
static mb_status pdp_csv(const char *path, const mb_pdp *p, const mb_bundle *b, size_t first, mb_error *err)
{
    FILE *fp = fopen(path, "w");
    if (!fp)
        return mb_fail(err, MB_EIO, "%s: %s", path, strerror(errno));
    size_t K = p->noutputs, np = p->npoints;
    fprintf(fp, "kind,row");
    for (size_t a = 0; a < p->ncols; a++)
        fprintf(fp, ",%s", p->cols[a]);
    for (size_t q = 0; q < K; q++)
        fprintf(fp, K > 1 ? ",value:%s" : ",value", K > 1 ? b->classes[q] : "");
    fputc('\n', fp);
    for (size_t g = 0; g < np; g++) {
        fprintf(fp, "average,,");
        put_point(fp, p, g, ",");
        for (size_t q = 0; q < K; q++)
            fprintf(fp, ",%.17g", p->average[q * np + g]);
        fputc('\n', fp);
    }
    for (size_t i = 0; p->individual && i < p->rows; i++)
        for (size_t g = 0; g < np; g++) {
            fprintf(fp, "individual,%zu,", first + i);
            put_point(fp, p, g, ",");
            for (size_t q = 0; q < K; q++)
                fprintf(fp, ",%.17g", p->individual[(q * p->rows + i) * np + g]);
            fputc('\n', fp);
        }
    int bad = ferror(fp);
    if (fclose(fp) != 0 || bad)
        return mb_fail(err, MB_EIO, "%s: write error", path);
    return MB_OK;
}

static int pdp(const explain_args *a, mb_scorer *s, const mb_frame *f, size_t first, mb_error *err)
{
    char *spec = mb_strdup(a->pdp), *comma = strchr(spec, ',');
    const char *cols[2] = {spec, comma ? comma + 1 : NULL};
    if (comma)
        *comma = '\0';
    if (comma && strchr(comma + 1, ','))
        return mb_free(spec), mb_cli_usage("explain", "--pdp takes one column or two (COL,COL), not '%s'", a->pdp);
    mb_pdp_opts o = {(size_t)a->grid, 0.05, 0.95, a->ice};
    mb_pdp p;
    mb_status rc = mb_partial_dependence(s, f, cols, comma ? 2 : 1, &o, &p, err);
    mb_free(spec);
    if (rc != MB_OK)
        return mb_cli_error(err);
    const mb_bundle *b = s->bundle;
    size_t K = p.noutputs, np = p.npoints;
    printf("partial dependence of the %s on %s%s%s (%zu rows, %zu grid points%s)\n",
           b->task == MB_TASK_REGRESSION ? "prediction" : b->task == MB_TASK_BINARY ? "probability of class 1"
                                                                                   : "probability of each class",
           p.cols[0], p.ncols == 2 ? " and " : "", p.ncols == 2 ? p.cols[1] : "", p.rows, np,
           a->ice ? "; ICE curves in -o" : "");
    for (size_t c = 0; c < p.ncols; c++)
        printf("%s%16s", c ? " " : "", p.cols[c]);
    for (size_t q = 0; q < K; q++)
        printf(" %16s", K > 1 ? b->classes[q] : "average");
    printf("\n");
    for (size_t g = 0; g < np; g++) {
        size_t at[2] = {g / p.ngrid[1], g % p.ngrid[1]};
        for (size_t c = 0; c < p.ncols; c++) {
            if (p.levels[c])
                printf("%s%16s", c ? " " : "", p.levels[c][at[c]]);
            else
                printf("%s%16.6g", c ? " " : "", p.grid[c][at[c]]);
        }
        for (size_t q = 0; q < K; q++)
            printf(" %16.6g", p.average[q * np + g]);
        printf("\n");
    }
    if (a->out && (rc = pdp_csv(a->out, &p, b, first, err)) == MB_OK)
        fprintf(stderr, "%zu grid points%s -> %s\n", np, a->ice ? " and the rows' curves" : "", a->out);
    mb_pdp_free(&p);
    return rc == MB_OK ? 0 : mb_cli_error(err);
}

int mb_cmd_explain(int argc, char **argv)
{
    explain_args a;
    int status = parse(argc, argv, &a), threads = 0;
    if (status)
        return status;
    if ((status = mb_cli_threads("explain", a.threads, &threads)))
        return status;
    mb_error err;
    mb_registry reg;
    mb_bundle *b = NULL;
    mb_frame *f = NULL;
    mb_scorer s;
    memset(&s, 0, sizeof s);
    mb_explanation e;
    memset(&e, 0, sizeof e);
    mb_cli_registry(&reg);
    mb_bundle_options bo = {a.trust.files, a.trust.n, NULL};
    const char *inputs[] = {a.model, a.data};
    status = 1;
    if ((a.out && mb_output_check_inputs(a.out, inputs, 2, &err) != MB_OK) ||
        mb_bundle_load_opts(a.model, &bo, &b, &err) != MB_OK || mb_scorer_open(&s, b, &reg, &err) != MB_OK ||
        mb_open(a.data, &f, &err) != MB_OK || take_rows(a.rows, &f, &err) != MB_OK)
        goto fail;
    if (a.permutation) {
        status = permutation(&a, &s, f, threads, &err);
        goto exit;
    }
    size_t first = 0;
    if (a.rows && a.rows[0] != ':')
        first = (size_t)strtoull(a.rows, NULL, 10);
    if (a.pdp) {
        status = pdp(&a, &s, f, first, &err);
        goto exit;
    }
    if (mb_explain_frame(&s, f, threads, &e, &err) != MB_OK)
        goto fail;
    if (a.out && (out_format(a.out) == 'c' ? write_csv(a.out, &e, b, first, &err)
                                                        : write_h5(a.out, &e, b, first, &err)) != MB_OK)
        goto fail;
    shap_summary(&e, b, a.top);
    if (a.out)
        fprintf(stderr, "%zu rows of contributions -> %s\n", e.rows, a.out);
    status = 0;
    goto exit;
fail:
    status = mb_cli_error(&err);
exit:
    mb_explanation_free(&e);
    mb_frame_free(&f);
    mb_scorer_close(&s);
    mb_bundle_free(&b);
    mb_registry_close(&reg);
    return status;
}
