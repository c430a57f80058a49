/*
** view_results.c: the Results tab: the leaderboard of the session's runs,
** sortable; two marked runs are compared by mb.compare (the Lua layer's
** cross-validation with the corrected resampled t-test, in a worker). For
** the selected run, panes cycled by `v`: metrics and the confusion matrix
** (counts and share of the row), ROC and PR curves, the calibration curve,
** residuals, the loss curve, the model's importances and the explanations
** (global mean |SHAP| and one row's contributions). The figures come from
** the worker (job.c, results.h); the charts are chart.c's.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "results.h"

enum { PANE_METRICS, PANE_ROC, PANE_PR, PANE_CAL, PANE_RESID, PANE_LOSS, PANE_IMPORTANCE, PANE_EXPLAIN,
       NPANES };
static const char *const pane_names[NPANES] = {"metrics", "ROC", "PR", "calibration", "residuals", "loss",
                                               "importance", "explanations"};

typedef struct results_view {
    int sort;                     /* 0: run, 1: score (best first), 2: fit time */
    int pos;
    int order[MBTUI_MAXRUNS];
    int pane;
    int xrow;                     /* the explained row shown (0-based) */
    int cls;                      /* multiclass ROC / PR: the class against the rest */
} results_view;

static const char *const sort_names[] = {"run", "score", "fit time"};

#define MAXCOLS_SHOWN 256

static int is_clf(const mbtui_run *r) { return !isnan(mbtui_run_metric(r, "accuracy")); }

/* The run's main score, larger is better (accuracy, or R2 for regression). */
static double score(const mbtui_run *r)
{
    double s = is_clf(r) ? mbtui_run_metric(r, "accuracy") : mbtui_run_metric(r, "r2");
    return isnan(s) ? -(double)INFINITY : s;
}

static int sort_key;
static mbtui_app *sort_app;

static int cmp(const void *pa, const void *pb)
{
    const mbtui_run *a = sort_app->runs[*(const int *)pa], *b = sort_app->runs[*(const int *)pb];
    double d = 0;
    if (sort_key == 1)
        d = score(b) - score(a);
    else if (sort_key == 2)
        d = a->elapsed - b->elapsed;
    if (d != 0 && !isnan(d))
        return d < 0 ? -1 : 1;
    return a->id - b->id;
}

static void order(mbtui_app *a, results_view *rv)
{
    for (int i = 0; i < a->nruns; i++)
        rv->order[i] = i;
    sort_key = rv->sort;
    sort_app = a;
    qsort(rv->order, (size_t)a->nruns, sizeof rv->order[0], cmp);
    if (rv->pos >= a->nruns)
        rv->pos = a->nruns ? a->nruns - 1 : 0;
    if (a->nruns)
        a->run_cursor = rv->order[rv->pos];
}

static int results_open(mbtui_view *v)
{
    (void)v;
    return 0;
}

static void results_done(mbtui_view *v) { (void)v; }

/* A cross-validated run reports each metric's std as NAME_std. */
static int is_cv(const mbtui_run *r)
{
    return !isnan(mbtui_run_metric(r, "accuracy_std")) || !isnan(mbtui_run_metric(r, "r2_std"));
}

static const char *state_name(const mbtui_run *r)
{
    const char *st[] = {"queued", "running", "done", "failed", "cancelled"};
    return r->state == MBTUI_RUN_DONE && is_cv(r) ? "done (cv)" : st[r->state];
}

static void draw_details(const mbtui_run *r, mbtui_rect b)
{
    if (b.h < 2)
        return;
    if (r->is_compare || r->state != MBTUI_RUN_DONE) {
        mbtui_textf(b.y, b.x, b.w, MBTUI_A_TITLE, "run %d: %s", r->id, r->is_compare ? "comparison" : state_name(r));
        const char *t = r->is_compare && r->text ? r->text : r->msg;
        int y = b.y + 1;
        for (const char *p = t; *p && y < b.y + b.h; y++) {
            const char *nl = strchr(p, '\n');
            int len = nl ? (int)(nl - p) : (int)strlen(p);
            char line[512];
            snprintf(line, sizeof line, "%.*s", len, p);
            mbtui_text(y, b.x, b.w, r->state == MBTUI_RUN_FAILED ? MBTUI_A_ERROR : MBTUI_A_NORMAL, line);
            p += len + (nl ? 1 : 0);
        }
        return;
    }
    int cv = is_cv(r);
    mbtui_textf(b.y, b.x, b.w, MBTUI_A_TITLE, "run %d: %s %s, %s", r->id, r->model, r->params,
                cv ? "cross-validated metrics (mean ± std over the folds)" : "held-out metrics");
    int cw = cv ? 36 : 26, ncol = b.w / cw > 0 ? b.w / cw : 1, nshown = 0;
    int mh = r->nclasses ? 4 : b.h - 1;
    for (int i = 0; i < r->nmetrics; i++) {
        const char *name = r->metric_name[i];
        size_t len = strlen(name);
        if (!strcmp(name, "n") || (len > 4 && !strcmp(name + len - 4, "_std")))
            continue;
        int row = nshown / ncol, col = nshown % ncol;
        if (row >= mh)
            break;
        char stdname[40];
        snprintf(stdname, sizeof stdname, "%.30s_std", name);
        double sd = mbtui_run_metric(r, stdname);
        if (isnan(sd))
            mbtui_textf(b.y + 1 + row, b.x + col * cw, cw, MBTUI_A_NORMAL, "%-18s %.4f", name, r->metric[i]);
        else
            mbtui_textf(b.y + 1 + row, b.x + col * cw, cw, MBTUI_A_NORMAL, "%-18s %.4f ± %.4f", name, r->metric[i],
                        sd);
        nshown++;
    }
    if (!r->nclasses)
        return;
    int y = b.y + 1 + mh;
    if (y >= b.y + b.h)
        return;
    mbtui_text(y++, b.x, b.w, MBTUI_A_HEADER, "confusion (rows: true, columns: predicted; count / share of the row)");
    char line[1024];
    size_t o = (size_t)snprintf(line, sizeof line, "%-14s", "");
    for (int j = 0; j < r->nclasses && o < sizeof line; j++)
        o += (size_t)snprintf(line + o, sizeof line - o, " %12.12s", r->classes[j]);
    mbtui_text(y++, b.x, b.w, MBTUI_A_DIM, line);
    for (int i = 0; i < r->nclasses && y < b.y + b.h; i++) {
        long total = 0;
        for (int j = 0; j < r->nclasses; j++)
            total += r->confusion[i][j];
        o = (size_t)snprintf(line, sizeof line, "%-14.14s", r->classes[i]);
        for (int j = 0; j < r->nclasses && o < sizeof line; j++)
            o += (size_t)snprintf(line + o, sizeof line - o, " %5ld (%3.0f%%)", r->confusion[i][j],
                                  total ? 100.0 * (double)r->confusion[i][j] / (double)total : 0.0);
        mbtui_text(y++, b.x, b.w, MBTUI_A_NORMAL, line);
    }
}

/* {====== the panes ======} */

static void say_none(mbtui_rect b, const char *what, const char *why)
{
    mbtui_textf(b.y, b.x, b.w, MBTUI_A_DIM, "no %s for this run%s%s", what, why && *why ? ": " : "", why ? why : "");
}

/* Multiclass ROC or PR: class cls against the rest. */
static void draw_ovr(const mbtui_run *r, int pane, int cls, mbtui_rect b)
{
    const mbtui_figures *f = r->fig;
    int k = pane == PANE_PR;
    const mbtui_series *c = &f->ovr[cls][k];
    char kl[16], kr[16];
    mbtui_textf(b.y, b.x, b.w, MBTUI_A_TITLE, "%s, class %s against the rest: %s %.4f (%s %s: class %d of %d) %s",
                k ? "precision-recall" : "ROC curve", f->classname[cls], k ? "average precision" : "AUC",
                f->ovr_area[cls][k], mbtui_keys_for(MBTUI_REQ_LEFT, kl, sizeof kl),
                mbtui_keys_for(MBTUI_REQ_RIGHT, kr, sizeof kr), cls + 1, f->nclasses, f->eval_note);
    mbtui_textf(b.y + 1, b.x, b.w, MBTUI_A_DIM, "macro average over the classes (the metrics' %s): %.4f",
                k ? "pr_auc" : "roc_auc", mbtui_run_metric(r, k ? "pr_auc" : "roc_auc"));
    if (!c->n)
        return;
    mbtui_plot p = {k ? "recall" : "false positive rate", k ? "prec." : "TPR", 0, 1, 0, 1, !k, 0};
    const double *xs[] = {c->x}, *ys[] = {c->y};
    int ns[] = {c->n};
    mbtui_chart((mbtui_rect){b.y + 2, b.x, b.h - 2, b.w}, &p, xs, ys, ns, 1, 1);
}

/* ROC, PR and calibration: binary scores on the held-out rows. */
static void draw_curve(const mbtui_run *r, int pane, int cls, mbtui_rect b)
{
    const mbtui_figures *f = r->fig;
    if (f->nclasses && pane != PANE_CAL) {
        draw_ovr(r, pane, cls < f->nclasses ? cls : 0, b);
        return;
    }
    int k = pane == PANE_ROC ? MBTUI_CURVE_ROC : pane == PANE_PR ? MBTUI_CURVE_PR : MBTUI_CURVE_CAL;
    const mbtui_series *c = &f->curve[k];
    if (!c->n) {
        say_none(b, pane_names[pane], f->curve_note);
        return;
    }
    mbtui_plot p = {NULL, NULL, 0, 1, 0, 1, 0, 0};
    if (pane == PANE_ROC) {
        mbtui_textf(b.y, b.x, b.w, MBTUI_A_TITLE, "ROC curve %s: AUC %.4f (dotted: chance)", f->eval_note,
                    mbtui_run_metric(r, "roc_auc"));
        p.xlabel = "false positive rate", p.ylabel = "TPR", p.diagonal = 1;
    } else if (pane == PANE_PR) {
        mbtui_textf(b.y, b.x, b.w, MBTUI_A_TITLE, "precision-recall curve %s: average precision (PR AUC) %.4f",
                    f->eval_note, mbtui_run_metric(r, "pr_auc"));
        p.xlabel = "recall", p.ylabel = "prec.";
    } else {
        mbtui_textf(b.y, b.x, b.w, MBTUI_A_TITLE, "calibration (reliability, 10 bins) %s: Brier %.4f (dotted: perfect)",
                    f->eval_note, mbtui_run_metric(r, "brier"));
        p.xlabel = "mean predicted probability", p.ylabel = "pos.", p.diagonal = 1;
        char line[512];
        size_t o = (size_t)snprintf(line, sizeof line, "rows per bin:");
        for (int i = 0; i < c->n && o < sizeof line; i++)
            o += (size_t)snprintf(line + o, sizeof line - o, " %.0f", c->z[i]);
        mbtui_text(b.y + b.h - 1, b.x, b.w, MBTUI_A_DIM, line);
        b.h--;
    }
    const double *xs[] = {c->x}, *ys[] = {c->y};
    int ns[] = {c->n};
    mbtui_chart((mbtui_rect){b.y + 1, b.x, b.h - 1, b.w}, &p, xs, ys, ns, 1, 1);
}

static void range(const double *v, int n, double *lo, double *hi)
{
    *lo = INFINITY, *hi = -INFINITY;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i]))
            *lo = v[i] < *lo ? v[i] : *lo, *hi = v[i] > *hi ? v[i] : *hi;
    if (!(*lo <= *hi))
        *lo = 0, *hi = 1;
    if (*lo == *hi)
        *lo -= 0.5, *hi += 0.5;
}

static void draw_residuals(const mbtui_run *r, mbtui_rect b)
{
    const mbtui_series *c = &r->fig->curve[MBTUI_CURVE_RESID];
    if (!c->n) {
        say_none(b, "residuals", is_clf(r) ? "residuals are for regression (see ROC, PR, calibration)"
                                           : r->fig->curve_note);
        return;
    }
    mbtui_textf(b.y, b.x, b.w, MBTUI_A_TITLE, "residuals (true - predicted) against the prediction %s: RMSE %.4f, R2 %.4f",
                r->fig->eval_note, mbtui_run_metric(r, "rmse"), mbtui_run_metric(r, "r2"));
    mbtui_plot p = {"predicted", "resid.", 0, 0, 0, 0, 0, 1};
    range(c->x, c->n, &p.x0, &p.x1);
    range(c->y, c->n, &p.y0, &p.y1);
    double m = fabs(p.y0) > fabs(p.y1) ? fabs(p.y0) : fabs(p.y1); /* symmetric about 0 */
    p.y0 = -m, p.y1 = m;
    const double *xs[] = {c->x}, *ys[] = {c->y};
    int ns[] = {c->n};
    mbtui_chart((mbtui_rect){b.y + 1, b.x, b.h - 1, b.w}, &p, xs, ys, ns, 1, 0);
}

static void draw_loss(const mbtui_run *r, mbtui_rect b)
{
    const mbtui_figures *f = r->fig;
    if (!r->nloss && !f->nvloss) {
        say_none(b, "loss curve", "the model reported no loss while it trained");
        return;
    }
    double tx[MBTUI_MAXLOSS], vx[MBTUI_MAXLOSS], lo, hi, lo2, hi2;
    for (int i = 0; i < MBTUI_MAXLOSS; i++)
        tx[i] = i + 1, vx[i] = i + 1;
    range(r->loss, r->nloss, &lo, &hi);
    range(f->vloss, f->nvloss, &lo2, &hi2);
    if (f->nvloss)
        lo = lo < lo2 ? lo : lo2, hi = hi > hi2 ? hi : hi2;
    if (!r->nloss)
        lo = lo2, hi = hi2;
    int n = r->nloss > f->nvloss ? r->nloss : f->nvloss;
    char tl[64] = "none reported", vl[64] = "none reported";
    if (r->nloss)
        snprintf(tl, sizeof tl, "%.5g (%s)", r->loss[r->nloss - 1], mbtui_utf8() ? "first colour" : "*");
    if (f->nvloss)
        snprintf(vl, sizeof vl, "%.5g (%s)", f->vloss[f->nvloss - 1], mbtui_utf8() ? "second colour" : "+");
    mbtui_textf(b.y, b.x, b.w, MBTUI_A_TITLE, "loss while training, last: train %s, validation %s", tl, vl);
    mbtui_plot p = {"progress report", "loss", 1, n > 1 ? n : 2, lo, hi, 0, 0};
    const double *xs[] = {tx, vx}, *ys[] = {r->loss, f->vloss};
    int ns[] = {r->nloss, f->nvloss};
    mbtui_chart((mbtui_rect){b.y + 1, b.x, b.h - 1, b.w}, &p, xs, ys, ns, 2, 1);
}

/* Ranked names with values and bars: importances, the global summary. */
static int draw_ranked(const mbtui_ranked *k, int y, int x, int w, int h, int with_sd)
{
    int nw = 8;
    for (int i = 0; i < k->n && i < h; i++)
        nw = mbtui_width(k->name[i]) > nw ? mbtui_width(k->name[i]) : nw;
    nw = nw > 28 ? 28 : nw;
    int vw = with_sd ? 26 : 13, bw = w - nw - vw - 6;
    for (int i = 0; i < k->n && i < h; i++) {
        char v[64];
        if (with_sd && !isnan(k->sd[i]))
            snprintf(v, sizeof v, "%11.6g ± %-10.4g", k->v[i], k->sd[i]);
        else
            snprintf(v, sizeof v, "%11.6g", k->v[i]);
        mbtui_textf(y + i, x, nw + vw + 6, MBTUI_A_NORMAL, "%2d. %-*.*s %s", i + 1, nw, nw, k->name[i], v);
        if (bw > 4)
            mbtui_hbar(y + i, x + nw + vw + 6, bw, MBTUI_A_BAR, k->v[i], k->v[0]);
    }
    return k->n < h ? k->n : h;
}

static void draw_importance(const mbtui_run *r, mbtui_rect b)
{
    const mbtui_figures *f = r->fig;
    if (!f->importance.n) {
        say_none(b, "importances", "the model reports none (see the explanations pane)");
        return;
    }
    mbtui_textf(b.y, b.x, b.w, MBTUI_A_TITLE, "the model's feature importance (%s), per model feature",
                f->importance_kind);
    int shown = draw_ranked(&f->importance, b.y + 1, b.x, b.w, b.h - 1, 0);
    if (shown < f->importance.n)
        mbtui_textf(b.y + b.h - 1, b.x, b.w, MBTUI_A_DIM, "(%d more)", f->importance.n - shown);
}

/* The output a row's contributions are shown for: its predicted class. */
static int row_output(const mbtui_figures *f, int row)
{
    for (int k = 0; f->outname && k < f->noutputs; k++)
        if (f->outname[k] && !strcmp(f->outname[k], f->pred[row]))
            return k;
    return 0;
}

static void draw_row(const mbtui_figures *f, int row, mbtui_rect b)
{
    int k = row_output(f, row), C = f->ncols - 1;
    const double *phi = f->phi + ((size_t)row * (size_t)f->noutputs + (size_t)k) * (size_t)f->ncols;
    double sum = phi[C];
    for (int j = 0; j < C; j++)
        sum += phi[j];
    char out[96] = "";
    if (f->noutputs > 1 && f->outname && f->outname[k])
        snprintf(out, sizeof out, ", for class %.60s", f->outname[k]);
    char kl[16], kr[16], kg[16];
    mbtui_textf(b.y, b.x, b.w, MBTUI_A_HEADER, "row %d of the %d explained (%s %s %s picks): true %.30s, predicted %.30s%s",
                row + 1, f->nrows, mbtui_keys_for(MBTUI_REQ_LEFT, kl, sizeof kl),
                mbtui_keys_for(MBTUI_REQ_RIGHT, kr, sizeof kr), mbtui_keys_for(MBTUI_REQ_GOTO, kg, sizeof kg),
                f->truth[row], f->pred[row], out);
    mbtui_textf(b.y + 1, b.x, b.w, MBTUI_A_DIM, "expected value %.6g + contributions = %.6g (raw margin)", phi[C], sum);
    int order[MAXCOLS_SHOWN];
    int n = C < MAXCOLS_SHOWN ? C : MAXCOLS_SHOWN;
    for (int j = 0; j < n; j++)
        order[j] = j;
    for (int i = 1; i < n; i++) /* by |contribution|, largest first */
        for (int j = i; j > 0 && fabs(phi[order[j]]) > fabs(phi[order[j - 1]]); j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    double max = n ? fabs(phi[order[0]]) : 0;
    int nw = 8;
    for (int j = 0; j < n; j++)
        nw = mbtui_width(f->colname[order[j]] ? f->colname[order[j]] : "") > nw
                 ? mbtui_width(f->colname[order[j]] ? f->colname[order[j]] : "") : nw;
    nw = nw > 28 ? 28 : nw;
    for (int i = 0; i < n && i < b.h - 2; i++) {
        int j = order[i];
        mbtui_textf(b.y + 2 + i, b.x, nw + 16, MBTUI_A_NORMAL, "  %-*.*s %+12.6g", nw, nw,
                    f->colname[j] ? f->colname[j] : "?", phi[j]);
        if (b.w - nw - 17 > 4)
            mbtui_hbar(b.y + 2 + i, b.x + nw + 17, b.w - nw - 17, phi[j] < 0 ? MBTUI_A_ERROR : MBTUI_A_OK,
                       fabs(phi[j]), max);
    }
}

static void draw_explain(const mbtui_run *r, int row, mbtui_rect b)
{
    const mbtui_figures *f = r->fig;
    if (!f->shap.n) {
        say_none(b, "explanations", f->explain_note[0] ? f->explain_note : "(none reported)");
        return;
    }
    int perm = !strcmp(f->method, "permutation");
    if (perm)
        mbtui_textf(b.y, b.x, b.w, MBTUI_A_TITLE, "permutation importance of %ld rows %s", f->shap_rows, f->eval_note);
    else
        mbtui_textf(b.y, b.x, b.w, MBTUI_A_TITLE, "mean |SHAP| per %s%s, %s SHAP of %ld rows %s",
                    f->mapped ? "input column" : "feature", f->noutputs > 1 ? " (summed over the classes)" : "",
                    !strcmp(f->method, "treeshap") ? "exact tree" : "exact linear", f->shap_rows, f->eval_note);
    if (perm && f->explain_note[0])
        mbtui_text(b.y + 1, b.x, b.w, MBTUI_A_DIM, f->explain_note);
    int top = b.y + 1 + (perm && f->explain_note[0]);
    int h = f->nrows ? (b.h - 2) / 2 : b.h - 2;
    top += draw_ranked(&f->shap, top, b.x, b.w, h < 1 ? 1 : h, perm);
    if (f->nrows && row >= 0 && row < f->nrows)
        draw_row(f, row, (mbtui_rect){top + 1, b.x, b.y + b.h - top - 1, b.w});
}

static void draw_pane(results_view *rv, const mbtui_run *r, mbtui_rect b)
{
    if (b.h < 3)
        return;
    if (r->is_compare || r->state != MBTUI_RUN_DONE || !r->fig) {
        draw_details(r, b);
        return;
    }
    char line[256];
    char kv[16];
    size_t o = (size_t)snprintf(line, sizeof line, "%s:", mbtui_keys_for(MBTUI_REQ_PANE, kv, sizeof kv));
    for (int i = 0; i < NPANES && o < sizeof line; i++)
        o += (size_t)snprintf(line + o, sizeof line - o, i == rv->pane ? " [%s]" : "  %s ", pane_names[i]);
    mbtui_text(b.y, b.x, b.w, MBTUI_A_DIM, line);
    b.y++, b.h--;
    switch (rv->pane) {
    case PANE_METRICS: draw_details(r, b); break;
    case PANE_ROC: case PANE_PR: case PANE_CAL: draw_curve(r, rv->pane, rv->cls, b); break;
    case PANE_RESID: draw_residuals(r, b); break;
    case PANE_LOSS: draw_loss(r, b); break;
    case PANE_IMPORTANCE: draw_importance(r, b); break;
    case PANE_EXPLAIN: draw_explain(r, rv->xrow, b); break;
    }
}

/* A metric in 8 columns; "-" when the run has none. */
static void fmt_metric(char *buf, double v)
{
    if (isnan(v))
        snprintf(buf, 16, "-");
    else
        snprintf(buf, 16, "%.4f", v);
}

static void results_draw(mbtui_view *v, mbtui_rect r)
{
    results_view *rv = v->priv;
    mbtui_app *a = v->app;
    order(a, rv);
    if (!a->nruns) {
        mbtui_text(r.y, r.x, r.w, MBTUI_A_DIM, "No runs yet: train a model in the Models tab (3, then r).");
        return;
    }
    mbtui_textf(r.y, r.x, r.w, MBTUI_A_HEADER, "%-3s %-1s %-9s %-18s %-9s %8s %8s %8s %6s  (by %s)", "run", "",
                "model", "parameters", "state", "accuracy", "f1_macro", "auc/r2", "fit s", sort_names[rv->sort]);
    int lh = r.h / 2 - 1 < a->nruns ? r.h / 2 - 1 : a->nruns;
    if (lh < 1)
        lh = 1;
    int top = rv->pos >= lh ? rv->pos - lh + 1 : 0;
    for (int k = 0; k < lh; k++) {
        int p = top + k;
        if (p >= a->nruns)
            break;
        const mbtui_run *run = a->runs[rv->order[p]];
        char line[512];
        if (run->is_compare)
            snprintf(line, sizeof line, "%-3d %-1s %-9s %-18.18s %-9s", run->id, "", "compare", run->params,
                     state_name(run));
        else {
            double third = is_clf(run) ? mbtui_run_metric(run, "roc_auc") : mbtui_run_metric(run, "r2");
            char m[3][16];
            fmt_metric(m[0], mbtui_run_metric(run, "accuracy"));
            fmt_metric(m[1], mbtui_run_metric(run, "f1_macro"));
            fmt_metric(m[2], third);
            snprintf(line, sizeof line, "%-3d %-1s %-9.9s %-18.18s %-9s %8s %8s %8s %6.2f", run->id,
                     run->marked ? "*" : "", run->model, run->params[0] ? run->params : "(defaults)", state_name(run),
                     m[0], m[1], m[2], run->elapsed);
        }
        int attr = p == rv->pos ? MBTUI_A_CURSOR : run->state == MBTUI_RUN_FAILED ? MBTUI_A_ERROR
                                                 : run->marked ? MBTUI_A_MARK : MBTUI_A_NORMAL;
        mbtui_text(r.y + 1 + k, r.x, r.w, attr, line);
    }
    draw_pane(rv, a->runs[rv->order[rv->pos]], (mbtui_rect){r.y + 1 + lh, r.x, r.h - 1 - lh, r.w});
}

static void compare(mbtui_app *a)
{
    mbtui_run *m[2];
    int n = 0;
    for (int i = 0; i < a->nruns && n < 2; i++)
        if (a->runs[i]->marked)
            m[n++] = a->runs[i];
    if (n < 2) {
        mbtui_say(a, MBTUI_A_ERROR, "mark two finished runs with m first (%d marked)", n);
        return;
    }
    size_t len = strlen(m[0]->def) + strlen(m[1]->def) + 512;
    char *lua = mb_malloc(len);
    int id = a->nruns + 1;
    snprintf(lua, len,
             "-- run %d: compare run%d and run%d on the same 5 folds (corrected resampled t-test)\n"
             "board = mb.compare({ run%d = %s, run%d = %s }, data, { k = 5, seed = %lu })\n"
             "print(board)",
             id, m[0]->id, m[1]->id, m[0]->id, m[0]->def, m[1]->id, m[1]->def, a->plan_seed);
    char what[64];
    snprintf(what, sizeof what, "run%d vs run%d", m[0]->id, m[1]->id);
    if (mbtui_run_queue(a, 1, "compare", "", what, mb_strdup(""), lua))
        mbtui_say(a, MBTUI_A_OK, "comparing %s by 5-fold cross-validation...", what);
}

static void goto_done(mbtui_app *a, const char *text, void *ud)
{
    results_view *rv = ud;
    mbtui_run *cur = a->nruns ? a->runs[rv->order[rv->pos]] : NULL;
    char *end;
    long n = strtol(text, &end, 10);
    if (!cur || !cur->fig || end == text || *end || n < 1 || n > cur->fig->nrows) {
        mbtui_say(a, MBTUI_A_ERROR, "'%s': a row number from 1 to %d", text, cur && cur->fig ? cur->fig->nrows : 0);
        return;
    }
    rv->xrow = (int)n - 1;
}

static int results_request(mbtui_view *v, int req)
{
    results_view *rv = v->priv;
    mbtui_app *a = v->app;
    order(a, rv);
    mbtui_run *cur = a->nruns ? a->runs[rv->order[rv->pos]] : NULL;
    switch (req) {
    case MBTUI_REQ_UP: if (rv->pos > 0) rv->pos--; return 1;
    case MBTUI_REQ_DOWN: if (rv->pos + 1 < a->nruns) rv->pos++; return 1;
    case MBTUI_REQ_FIRST: rv->pos = 0; return 1;
    case MBTUI_REQ_LAST: rv->pos = a->nruns ? a->nruns - 1 : 0; return 1;
    case MBTUI_REQ_SORT: rv->sort = (rv->sort + 1) % 3; return 1;
    case MBTUI_REQ_MARK:
        if (cur && cur->state == MBTUI_RUN_DONE && !cur->is_compare) {
            int marked = 0;
            for (int i = 0; i < a->nruns; i++)
                marked += a->runs[i]->marked;
            if (!cur->marked && marked >= 2)
                mbtui_say(a, MBTUI_A_ERROR, "two runs are marked already (m on one unmarks it)");
            else
                cur->marked = !cur->marked;
        } else
            mbtui_say(a, MBTUI_A_ERROR, "only a finished training run can be marked");
        return 1;
    case MBTUI_REQ_COMPARE: compare(a); return 1;
    case MBTUI_REQ_PANE: rv->pane = (rv->pane + 1) % NPANES; return 1;
    case MBTUI_REQ_LEFT:
    case MBTUI_REQ_RIGHT:
        if ((rv->pane == PANE_ROC || rv->pane == PANE_PR) && cur && cur->fig && cur->fig->nclasses) {
            int n = cur->fig->nclasses;
            rv->cls = (rv->cls + (req == MBTUI_REQ_RIGHT ? 1 : n - 1)) % n;
            return 1;
        }
        if (rv->pane != PANE_EXPLAIN || !cur || !cur->fig || !cur->fig->nrows)
            return 0;
        rv->xrow += req == MBTUI_REQ_RIGHT ? 1 : -1;
        rv->xrow = rv->xrow < 0 ? 0 : rv->xrow >= cur->fig->nrows ? cur->fig->nrows - 1 : rv->xrow;
        return 1;
    case MBTUI_REQ_GOTO:
        if (rv->pane != PANE_EXPLAIN || !cur || !cur->fig || !cur->fig->nrows) {
            mbtui_say(a, MBTUI_A_DIM, "g picks a row in the explanations pane (v)");
            return 1;
        }
        mbtui_prompt(a, "explain row (1 = the first evaluation row): ", "", goto_done, rv);
        return 1;
    case MBTUI_REQ_CANCEL:
        if (cur)
            mbtui_run_cancel(a, cur);
        return 1;
    case MBTUI_REQ_EXPORT:
    case MBTUI_REQ_ENTER: /* the Export tab, on this run */
        a->tab = MBTUI_TAB_EXPORT;
        if (req == MBTUI_REQ_EXPORT)
            a->tabs[MBTUI_TAB_EXPORT].ops->request(&a->tabs[MBTUI_TAB_EXPORT], req);
        return 1;
    }
    return 0;
}

static const int results_hints[] = {MBTUI_REQ_PANE, MBTUI_REQ_SORT, MBTUI_REQ_MARK, MBTUI_REQ_COMPARE,
                                    MBTUI_REQ_EXPORT, 0};

const mbtui_view_ops mbtui_results_ops = {
    .name = "Results",
    .hints = results_hints,
    .open = results_open,
    .draw = results_draw,
    .request = results_request,
    .done = results_done,
    .private_size = sizeof(results_view),
};
