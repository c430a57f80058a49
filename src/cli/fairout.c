/*
** fairout.c: a fairness report (src/core/fairness.h) as document blocks
** (doc.h: a terminal table for `evaluate --group`, Markdown and HTML for
** `card --group`) and as JSON (`evaluate --group --json`). Both take the
** columns from one list, so the text, the card and the JSON show the same
** figures under the same names.
*/
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "doc.h"

/* The per-group metrics of the report's task: their count, and name j
** (into buf) and value j of a group. */
static size_t nmetrics(const mb_fairness *r)
{
    int auc = r->task == MB_TASK_BINARY && !isnan(r->overall.auc);
    return r->task == MB_TASK_BINARY ? 5 + (size_t)auc : r->task == MB_TASK_MULTICLASS ? 1 + r->k : 3;
}

static const char *metric_name(const mb_fairness *r, size_t j, char *const *classes, char *buf, size_t n)
{
    static const char *const bin[] = {"selection_rate", "accuracy", "tpr", "fpr", "precision", "roc_auc"};
    static const char *const reg[] = {"mae", "rmse", "mean_error"};
    if (r->task == MB_TASK_BINARY)
        return bin[j];
    if (r->task == MB_TASK_REGRESSION)
        return reg[j];
    if (!j)
        return "accuracy";
    snprintf(buf, n, "selection_rate:%s", classes ? classes[j - 1] : "?");
    return buf;
}

static double metric_value(const mb_fairness *r, const mb_fair_group *g, size_t j)
{
    if (r->task == MB_TASK_BINARY) {
        const double v[] = {g->selection_rate, g->accuracy, g->tpr, g->fpr, g->precision, g->auc};
        return v[j];
    }
    if (r->task == MB_TASK_REGRESSION) {
        const double v[] = {g->mae, g->rmse, g->mean_error};
        return v[j];
    }
    return j ? g->class_rate[j - 1] : g->accuracy;
}

static const char *num(char *buf, size_t n, double v)
{
    if (isnan(v))
        snprintf(buf, n, "NaN");
    else
        snprintf(buf, n, "%.4f", v);
    return buf;
}

void mb_cli_fairness_doc(mb_doc *d, int level, const mb_fairness *r, const mb_fair_groups *g,
                         char *const *classes)
{
    char cols[512] = "";
    for (size_t c = 0; c < g->ncols; c++)
        snprintf(cols + strlen(cols), sizeof cols - strlen(cols), "%s%s", c ? ", " : "", g->cols[c]);
    mb_doc_heading(d, level, "Fairness by %s", cols);
    mb_doc_para(d, "%zu rows in %zu groups%s.%s%s%s", r->n, r->ngroups,
                g->ncols > 1 ? " (the observed combinations of the columns)" : "",
                r->task == MB_TASK_BINARY && classes ? " Positive class (of selection rate, TPR, FPR, precision): " : "",
                r->task == MB_TASK_BINARY && classes ? classes[1] : "", r->task == MB_TASK_BINARY && classes ? "." : "");
    size_t M = nmetrics(r), nc = g->ncols + 1 + M;
    const char **head = mb_calloc(nc, sizeof *head), **cell = mb_calloc(nc, sizeof *cell);
    char (*buf)[64] = mb_calloc(nc, sizeof *buf), (*names)[96] = mb_calloc(M, sizeof *names);
    for (size_t c = 0; c < g->ncols; c++)
        head[c] = g->cols[c];
    head[g->ncols] = "rows";
    for (size_t j = 0; j < M; j++)
        head[g->ncols + 1 + j] = metric_name(r, j, classes, names[j], sizeof names[j]);
    mb_doc_table(d, nc, head, 0);
    for (size_t gi = 0; gi <= r->ngroups; gi++) {
        const mb_fair_group *x = gi < r->ngroups ? &r->groups[gi] : &r->overall;
        for (size_t c = 0; c < g->ncols; c++)
            cell[c] = gi < r->ngroups ? g->values[gi * g->ncols + c] : c ? "" : "(all)";
        snprintf(buf[g->ncols], sizeof buf[0], "%zu", x->n);
        cell[g->ncols] = buf[g->ncols];
        for (size_t j = 0; j < M; j++)
            cell[g->ncols + 1 + j] = num(buf[g->ncols + 1 + j], sizeof buf[0], metric_value(r, x, j));
        mb_doc_row(d, cell, 0);
    }
    const char *dh[] = {"between groups", "value", "low", "high"};
    mb_doc_table(d, 4, dh, 0);
    for (size_t k = 0; k < r->ndisparities; k++) {
        const mb_fair_value *v = &r->disparity[k];
        const char *row[] = {v->name, num(buf[0], sizeof buf[0], v->value), num(buf[1], sizeof buf[1], v->lo),
                             num(buf[2], sizeof buf[2], v->hi)};
        mb_doc_row(d, row, 0);
    }
    if (r->opts.boot)
        mb_doc_para(d, "low, high: the %g%% percentile bootstrap interval over %zu resamples of the rows (seed %llu). "
                       "Differences are max - min over the groups, ratios min / max (fairlearn's definitions).",
                    r->opts.level * 100, r->opts.boot, (unsigned long long)r->opts.seed);
    else
        mb_doc_para(d, "No bootstrap intervals (--boot 0). Differences are max - min over the groups, ratios min / max.");
    mb_free(head);
    mb_free(cell);
    mb_free(buf);
    mb_free(names);
}

static json_t *jnum(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static json_t *group_json(const mb_fairness *r, const mb_fair_group *x, char *const *classes)
{
    json_t *o = json_object();
    json_object_set_new(o, "n", json_integer((json_int_t)x->n));
    char name[96];
    for (size_t j = 0; j < nmetrics(r); j++)
        json_object_set_new(o, metric_name(r, j, classes, name, sizeof name), jnum(metric_value(r, x, j)));
    return o;
}

json_t *mb_cli_fairness_json(const mb_fairness *r, const mb_fair_groups *g, char *const *classes)
{
    json_t *o = json_object(), *cols = json_array(), *groups = json_array(), *dis = json_object();
    for (size_t c = 0; c < g->ncols; c++)
        json_array_append_new(cols, json_string(g->cols[c]));
    for (size_t gi = 0; gi < r->ngroups; gi++) {
        json_t *x = group_json(r, &r->groups[gi], classes), *key = json_object();
        for (size_t c = 0; c < g->ncols; c++)
            json_object_set_new(key, g->cols[c], json_string(g->values[gi * g->ncols + c]));
        json_object_set_new(x, "group", key);
        json_object_set_new(x, "label", json_string(g->labels[gi]));
        json_array_append_new(groups, x);
    }
    for (size_t k = 0; k < r->ndisparities; k++) {
        const mb_fair_value *v = &r->disparity[k];
        json_t *d = json_object();
        json_object_set_new(d, "value", jnum(v->value));
        json_object_set_new(d, "lo", jnum(v->lo));
        json_object_set_new(d, "hi", jnum(v->hi));
        json_object_set_new(dis, v->name, d);
    }
    json_object_set_new(o, "columns", cols);
    json_object_set_new(o, "groups", groups);
    json_object_set_new(o, "overall", group_json(r, &r->overall, classes));
    json_object_set_new(o, "between_groups", dis);
    if (r->task == MB_TASK_BINARY && classes)
        json_object_set_new(o, "positive_class", json_string(classes[1]));
    json_t *b = json_object();
    json_object_set_new(b, "replicates", json_integer((json_int_t)r->opts.boot));
    json_object_set_new(b, "seed", json_integer((json_int_t)r->opts.seed));
    json_object_set_new(b, "level", json_real(r->opts.level));
    json_object_set_new(o, "bootstrap", b);
    return o;
}
