/*
** view_results.c: the Results tab (the leaderboard of the session's runs,
** sortable, with the selected run's held-out metrics and confusion
** matrix; two marked runs are compared by mb.compare, the Lua layer's
** cross-validation with the corrected resampled t-test, in a worker) and
** the Export tab (the selected run's bundle saved to a path, the session
** saved as a script).
*/
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io.h"
#include "tui.h"

typedef struct results_view {
    int sort;                     /* 0: run, 1: score (best first), 2: fit time */
    int pos;
    int order[MBTUI_MAXRUNS];
} results_view;

static const char *const sort_names[] = {"run", "score", "fit time"};

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
    draw_details(a->runs[rv->order[rv->pos]], (mbtui_rect){r.y + 2 + lh, r.x, r.h - 2 - lh, r.w});
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

static const int results_hints[] = {MBTUI_REQ_SORT, MBTUI_REQ_MARK, MBTUI_REQ_COMPARE, MBTUI_REQ_EXPORT, 0};

const mbtui_view_ops mbtui_results_ops = {
    .name = "Results",
    .hints = results_hints,
    .open = results_open,
    .draw = results_draw,
    .request = results_request,
    .done = results_done,
    .private_size = sizeof(results_view),
};

/* {====== export ======} */

static int copy_file(const char *from, const char *to, mb_error *err)
{
    int in = open(from, O_RDONLY);
    if (in < 0) {
        mb_fail(err, MB_EIO, "%s: cannot read the run's bundle", from);
        return -1;
    }
    char *tmp = NULL;
    int out = mb_tmp_create(to, &tmp, err);
    if (out < 0) {
        close(in);
        return -1;
    }
    char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w <= 0) {
                close(in);
                close(out);
                mb_tmp_discard(&tmp);
                mb_fail(err, MB_EIO, "%s: cannot write (disk full?)", to);
                return -1;
            }
            off += w;
        }
    close(in);
    if (n < 0) {
        close(out);
        mb_tmp_discard(&tmp);
        mb_fail(err, MB_EIO, "%s: read error", from);
        return -1;
    }
    return mb_tmp_publish(out, &tmp, to, err) == MB_OK ? 0 : -1;
}

static void export_done(mbtui_app *a, const char *path, void *ud)
{
    mbtui_run *r = ud;
    mb_error err;
    if (!path[0])
        return;
    if (copy_file(r->bundle, path, &err) != 0) {
        mbtui_say(a, MBTUI_A_ERROR, "%s", err.msg);
        return;
    }
    char q[600], lua[700];
    snprintf(lua, sizeof lua, "run%d:save(%s)", r->id, mbtui_lua_quote(path, q, sizeof q));
    mbtui_session_record(a, lua);
    r->exported = 1;
    mbtui_say(a, MBTUI_A_OK, "saved run %d to %s; score data with: moonbench predict %s DATA", r->id, path, path);
}

static mbtui_run *selected(mbtui_app *a)
{
    if (a->run_cursor >= 0 && a->run_cursor < a->nruns) {
        mbtui_run *r = a->runs[a->run_cursor];
        if (!r->is_compare && r->state == MBTUI_RUN_DONE)
            return r;
    }
    for (int i = a->nruns - 1; i >= 0; i--) /* else the latest finished one */
        if (!a->runs[i]->is_compare && a->runs[i]->state == MBTUI_RUN_DONE)
            return a->runs[i];
    return NULL;
}

static void export_draw(mbtui_view *v, mbtui_rect r)
{
    mbtui_app *a = v->app;
    mbtui_run *run = selected(a);
    int y = r.y;
    mbtui_text(y++, r.x, r.w, MBTUI_A_HEADER, "Export");
    if (run) {
        double s = score(run);
        mbtui_textf(y++, r.x, r.w, MBTUI_A_TITLE, "run %d: %s %s  %s %.4f", run->id, run->model,
                    run->params[0] ? run->params : "(defaults)", is_clf(run) ? "accuracy" : "r2", s);
        mbtui_textf(y++, r.x, r.w, MBTUI_A_DIM, "bundle in the session folder: %s", run->bundle);
    } else
        mbtui_text(y++, r.x, r.w, MBTUI_A_DIM, "no finished run yet (train one in the Models tab; choose it in Results)");
    y++;
    char k1[32], k2[32];
    mbtui_textf(y++, r.x, r.w, MBTUI_A_NORMAL, "%-6s save the run's pipeline as a bundle file; then score data with",
                mbtui_keys_for(MBTUI_REQ_EXPORT, k1, sizeof k1));
    mbtui_text(y++, r.x, r.w, MBTUI_A_NORMAL, "       moonbench predict BUNDLE.h5 DATA -o scores.csv");
    mbtui_textf(y++, r.x, r.w, MBTUI_A_NORMAL, "%-6s save the session as a Lua script; replay it headless with",
                mbtui_keys_for(MBTUI_REQ_SAVE_SESSION, k2, sizeof k2));
    mbtui_text(y++, r.x, r.w, MBTUI_A_NORMAL, "       moonbench run session.lua");
    y++;
    for (int i = 0; i < a->nruns && y < r.y + r.h; i++)
        if (a->runs[i]->exported)
            mbtui_textf(y++, r.x, r.w, MBTUI_A_OK, "run %d exported", a->runs[i]->id);
}

static int export_request(mbtui_view *v, int req)
{
    mbtui_app *a = v->app;
    if (req != MBTUI_REQ_EXPORT && req != MBTUI_REQ_ENTER)
        return 0;
    mbtui_run *run = selected(a);
    if (!run) {
        mbtui_say(a, MBTUI_A_ERROR, "no finished run to export");
        return 1;
    }
    char init[64];
    snprintf(init, sizeof init, "run%d.h5", run->id);
    mbtui_prompt(a, "save bundle to: ", init, export_done, run);
    return 1;
}

static const int export_hints[] = {MBTUI_REQ_EXPORT, MBTUI_REQ_SAVE_SESSION, 0};

const mbtui_view_ops mbtui_export_ops = {
    .name = "Export",
    .hints = export_hints,
    .open = results_open,
    .draw = export_draw,
    .request = export_request,
    .done = results_done,
    .private_size = 0,
};
