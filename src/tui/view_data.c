/*
** view_data.c: the Data tab: the open dataset as a table that reads only
** the rows on screen (source.c's page cache), with a frozen first column,
** horizontal scroll and columns sized to their content; below it, the
** statistics of the column under the cursor (stats.c, in the background):
** a histogram for a numeric column, a frequency table for a categorical
** one. Target and evaluation plan are chosen here.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "tui.h"

#define MAXW 24

#define MAXLEVELS 32

/* One view of the stack: the file (level 0), then each sort, filter or
** derived column over the one below, with its own cursor and statistics. */
typedef struct level {
    mbtui_source *src;
    mbtui_stats *stats;
    size_t nrows, ncols;
    int *width;
    size_t top, row, col, left;
    char what[1200];              /* "sorted by x ↓", "filter: E", "+ name = E" */
    int sort_col, sort_desc;      /* a sort: its column (else -1) */
} level;

typedef struct data_view {
    level lv[MAXLEVELS];
    int n;                        /* levels; 0 when no data is open */
    int show_stats;
    int page_rows;
    /* the operation running (dataops.c): what its level will show */
    level next;
    char next_name[256];          /* a derived column's name, for the cursor */
    char *lua;
} data_view;

static data_view *D(mbtui_view *v) { return v->priv; }
static data_view *pending; /* the view whose operation runs (one at a time) */
/* The view on top of the stack: what the table shows. */
static level *top_of(data_view *d) { return &d->lv[d->n ? d->n - 1 : 0]; }

static void cell_text(const mb_column *c, size_t i, char *buf, size_t n)
{
    if (c->type == MB_COL_CAT) {
        int32_t code = c->codes[i];
        snprintf(buf, n, "%s", code >= 0 && (size_t)code < c->nlevels ? c->levels[code] : "NA");
        return;
    }
    double v = MB_NUM(c, i);
    if (isnan(v))
        snprintf(buf, n, "NA");
    else if (v == floor(v) && fabs(v) < 1e9)
        snprintf(buf, n, "%.0f", v);
    else
        snprintf(buf, n, "%.6g", v);
}

static void size_columns(level *d, const mb_frame *f, size_t nrows)
{
    for (size_t c = 0; c < d->ncols && c < f->ncols; c++) {
        int w = mbtui_width(f->cols[c].name) + 1;
        for (size_t i = 0; i < nrows && i < 256; i++) {
            char buf[128];
            cell_text(&f->cols[c], i, buf, sizeof buf);
            int cw = mbtui_width(buf);
            if (cw > w)
                w = cw;
        }
        if (w > MAXW)
            w = MAXW;
        if (w > d->width[c])
            d->width[c] = w;
    }
}

static void level_free(level *l)
{
    mbtui_stats_stop(&l->stats);
    mbtui_source_free(&l->src);
    free(l->width);
    memset(l, 0, sizeof *l);
}

/* Make l show src: columns sized, statistics started. */
static void level_set(level *l, mbtui_source *src)
{
    const mb_frame *f = mbtui_source_schema(src);
    l->src = src;
    l->nrows = mbtui_source_rows(src);
    l->ncols = f->ncols;
    l->width = calloc(l->ncols ? l->ncols : 1, sizeof *l->width);
    size_columns(l, f, f->nrows);
    l->stats = mbtui_stats_start(src);
    l->sort_col = -1;
}

/* Called by mbtui_open_data with a new source (or NULL to close). */
void mbtui_data_set(mbtui_view *v, mbtui_source *src);
void mbtui_data_set(mbtui_view *v, mbtui_source *src)
{
    data_view *d = D(v);
    mbtui_dataop_stop(v->app);
    mb_free(d->lua);
    d->lua = NULL;
    for (int i = d->n - 1; i >= 0; i--) {
        level_free(&d->lv[i]);
        if (i > 0)
            mbtui_dataop_forget(v->app, i);
    }
    d->n = 0;
    if (pending == d)
        pending = NULL;
    if (!src)
        return;
    level_set(&d->lv[0], src);
    d->n = 1;
}

const char *mbtui_data_column(mbtui_view *v, int *categorical);
const char *mbtui_data_column(mbtui_view *v, int *categorical)
{
    data_view *d = D(v);
    level *l = top_of(d);
    if (!d->n || l->col >= l->ncols)
        return NULL;
    const mb_column *c = &mbtui_source_schema(l->src)->cols[l->col];
    *categorical = c->type == MB_COL_CAT;
    return c->name;
}

static int data_open(mbtui_view *v)
{
    (void)v;
    return 0;
}

static void data_done(mbtui_view *v) { mbtui_data_set(v, NULL); }

/* {====== drawing ======} */

static void draw_cell(int y, int x, int w, int attr, const char *s, int right)
{
    if (right) {
        int tw = mbtui_width(s);
        if (tw < w - 1) {
            mbtui_text(y, x, w - 1 - tw, attr, "");
            mbtui_text(y, x + w - 1 - tw, tw + 1, attr, s);
            return;
        }
    }
    mbtui_text(y, x, w, attr, s);
}

static void draw_table(mbtui_view *v, mbtui_rect r)
{
    data_view *dv = D(v);
    level *d = top_of(dv);
    const mb_frame *schema = mbtui_source_schema(d->src);
    char buf[256];
    int numw = snprintf(buf, sizeof buf, "%zu", d->nrows ? d->nrows : 1) + 1;
    dv->page_rows = r.h - 1;
    if (dv->page_rows < 1)
        dv->page_rows = 1;
    if (d->row < d->top)
        d->top = d->row;
    if (d->row >= d->top + (size_t)dv->page_rows)
        d->top = d->row - (size_t)dv->page_rows + 1;
    /* columns: 0 frozen, then from left; keep the cursor's column visible */
    if (d->col > 0 && d->col < d->left)
        d->left = d->col;
    if (d->left < 1)
        d->left = 1;
    for (;;) {
        int x = numw + (d->ncols ? d->width[0] + 1 : 0);
        size_t last = d->left;
        for (size_t c = d->left; c < d->ncols && x + d->width[c] <= r.w; c++)
            x += d->width[c] + 1, last = c;
        if (d->col <= last || d->col == 0 || d->left >= d->col)
            break;
        d->left++;
    }
    /* header */
    int y = r.y, x = r.x;
    mbtui_text(y, x, numw, MBTUI_A_HEADER, "#");
    x += numw;
    for (size_t c = 0; c < d->ncols && x < r.x + r.w; c = (c == 0 ? d->left : c + 1)) {
        int w = d->width[c];
        if (x + w > r.x + r.w)
            w = r.x + r.w - x;
        snprintf(buf, sizeof buf, "%s%s", schema->cols[c].name, strcmp(schema->cols[c].name, v->app->target) ? "" : "*");
        mbtui_text(y, x, w, c == d->col ? MBTUI_A_CURSOR : (c == 0 ? MBTUI_A_FROZEN : MBTUI_A_HEADER), buf);
        x += w;
        if (x < r.x + r.w)
            mbtui_text(y, x++, 1, MBTUI_A_NORMAL, c == 0 ? "│" : " ");
        if (c == 0 && d->left >= d->ncols)
            break;
    }
    if (x < r.x + r.w)
        mbtui_text(y, x, r.x + r.w - x, MBTUI_A_NORMAL, "");
    /* rows */
    for (int k = 0; k < dv->page_rows; k++) {
        size_t i = d->top + (size_t)k;
        y = r.y + 1 + k;
        if (i >= d->nrows) {
            mbtui_text(y, r.x, r.w, MBTUI_A_DIM, k == 0 && d->nrows == 0 ? "(no rows)" : "");
            continue;
        }
        mb_error err;
        size_t first = 0;
        const mb_frame *f = mbtui_source_page(d->src, i, &first, &err);
        if (!f) {
            mbtui_text(y, r.x, r.w, MBTUI_A_ERROR, err.msg);
            continue;
        }
        size_t j = i - first;
        if (j >= f->nrows)
            continue;
        x = r.x;
        snprintf(buf, sizeof buf, "%zu", i + 1);
        mbtui_text(y, x, numw, i == d->row ? MBTUI_A_CURSOR : MBTUI_A_DIM, buf);
        x += numw;
        for (size_t c = 0; c < d->ncols && x < r.x + r.w; c = (c == 0 ? d->left : c + 1)) {
            int w = d->width[c];
            if (x + w > r.x + r.w)
                w = r.x + r.w - x;
            cell_text(&f->cols[c], j, buf, sizeof buf);
            int attr = (i == d->row && c == d->col) ? MBTUI_A_CURSOR : (c == 0 ? MBTUI_A_FROZEN : MBTUI_A_NORMAL);
            draw_cell(y, x, w, attr, buf, f->cols[c].type == MB_COL_NUM);
            x += w;
            if (x < r.x + r.w)
                mbtui_text(y, x++, 1, MBTUI_A_NORMAL, c == 0 ? "│" : " ");
            if (c == 0 && d->left >= d->ncols)
                break;
        }
        if (x < r.x + r.w)
            mbtui_text(y, x, r.x + r.w - x, MBTUI_A_NORMAL, "");
    }
}

static const char *const blocks[] = {" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};

static void draw_hist(const mbtui_colstat *cs, mbtui_rect r)
{
    size_t peak = 1;
    for (int b = 0; b < MBTUI_HBINS; b++)
        if (cs->hist[b] > peak)
            peak = cs->hist[b];
    int h = r.h - 1;
    if (h < 1)
        return;
    for (int row = 0; row < h; row++) {
        char line[MBTUI_HBINS * 8 + 1] = "";
        for (int b = 0; b < MBTUI_HBINS; b++) {
            /* eighths of a cell, counted from the bottom row up */
            double eighths = (double)cs->hist[b] / (double)peak * h * 8;
            int lvl = (int)lround(eighths) - (h - 1 - row) * 8;
            if (lvl < 0)
                lvl = 0;
            if (lvl > 8)
                lvl = 8;
            if (cs->hist[b] > 0 && row == h - 1 && lvl == 0)
                lvl = 1; /* a non-empty bin always shows */
            strcat(line, blocks[lvl]);
        }
        mbtui_text(r.y + row, r.x, r.w, MBTUI_A_BAR, line);
    }
    mbtui_textf(r.y + h, r.x, r.w, MBTUI_A_DIM, "%-*.4g%*.4g", MBTUI_HBINS / 2, cs->min, MBTUI_HBINS / 2,
                cs->max);
}

static void draw_freq(const mbtui_colstat *cs, mbtui_rect r)
{
    int order[MBTUI_MAXLEVELS];
    for (int i = 0; i < cs->nkept; i++)
        order[i] = i;
    for (int i = 1; i < cs->nkept; i++) /* most frequent first */
        for (int j = i; j > 0 && cs->level_count[order[j]] > cs->level_count[order[j - 1]]; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    mbtui_text(r.y, r.x, r.w, MBTUI_A_HEADER, "level                  count   share");
    size_t total = cs->count + cs->missing;
    for (int i = 0; i < cs->nkept && i + 1 < r.h; i++) {
        size_t n = cs->level_count[order[i]];
        double share = total ? (double)n / (double)total : 0;
        char bar[3 * 20 + 1] = "";
        for (int k = 0; k < (int)lround(share * 20); k++)
            strcat(bar, "█");
        mbtui_textf(r.y + 1 + i, r.x, r.w, MBTUI_A_NORMAL, "%-20.20s %8zu %6.1f%% %s", cs->level[order[i]], n,
                    share * 100, bar);
    }
    int shown = cs->nkept < r.h - 1 ? cs->nkept : r.h - 1;
    if (cs->nlevels > (size_t)shown && shown + 1 < r.h)
        mbtui_textf(r.y + 1 + shown, r.x, r.w, MBTUI_A_DIM, "... %zu more levels%s", cs->nlevels - (size_t)shown,
                    cs->other_count ? " (past the first 64 seen, counted together)" : "");
}

static void draw_stats(mbtui_view *v, mbtui_rect r)
{
    level *d = top_of(D(v));
    const mb_frame *schema = mbtui_source_schema(d->src);
    const char *error = NULL;
    const mbtui_colstat *cs = mbtui_stats_column(d->stats, d->col, &error);
    const char *name = schema->cols[d->col].name;
    if (error) {
        mbtui_textf(r.y, r.x, r.w, MBTUI_A_ERROR, "statistics: %s", error);
        return;
    }
    if (!cs) {
        mbtui_textf(r.y, r.x, r.w, MBTUI_A_DIM, "statistics of '%s': computing in the background... %.0f%%", name,
                    mbtui_stats_progress(d->stats) * 100);
        return;
    }
    mbtui_rect body = {r.y + 1, r.x, r.h - 1, r.w};
    if (cs->categorical) {
        mbtui_textf(r.y, r.x, r.w, MBTUI_A_TITLE, "%s (categorical): %zu values, %zu missing, %zu distinct levels",
                    name, cs->count, cs->missing, cs->nlevels);
        draw_freq(cs, body);
        return;
    }
    mbtui_textf(r.y, r.x, r.w, MBTUI_A_TITLE, "%s (numeric): %zu values, %zu missing", name, cs->count, cs->missing);
    double sd = cs->count > 1 ? sqrt(cs->m2 / (double)(cs->count - 1)) : (double)NAN;
    int lw = 26;
    const char *lab[] = {"mean", "std", "min", "max"};
    double nan = (double)NAN;
    double val[] = {cs->count ? cs->mean : nan, sd, cs->count ? cs->min : nan, cs->count ? cs->max : nan};
    for (int i = 0; i < 4 && i < body.h; i++)
        mbtui_textf(body.y + i, body.x, lw, MBTUI_A_NORMAL, "  %-5s %.6g", lab[i], val[i]);
    if (cs->count)
        draw_hist(cs, (mbtui_rect){body.y, body.x + lw, body.h, body.w - lw});
}

/* The title: the file, rows, target and plan, after the progress of an
** operation that runs; below it, when there is one, the stack of views.
** Returns the lines it took. */
static int draw_title(mbtui_view *v, mbtui_rect r)
{
    data_view *d = D(v);
    mbtui_app *a = v->app;
    level *l = top_of(d);
    char plan[96], title[1400], rows[96];
    if (a->plan_k)
        snprintf(plan, sizeof plan, "%d-fold CV, seed %lu", a->plan_k, a->plan_seed);
    else
        snprintf(plan, sizeof plan, "hold-out %.2f, seed %lu", a->plan_test, a->plan_seed);
    if (d->n > 1)
        snprintf(rows, sizeof rows, "%zu -> %zu rows", d->lv[0].nrows, l->nrows);
    else
        snprintf(rows, sizeof rows, "%zu rows", l->nrows);
    snprintf(title, sizeof title, "%s  %s x %zu columns  target: %s  plan: %s", a->data_spec, rows, l->ncols,
             a->target[0] ? a->target : "(none: T sets it)", plan);
    int x = 0;
    const char *busy = mbtui_data_busy(a);
    if (busy && d->lua) {
        double p = mbtui_dataop_progress(), t = mbtui_dataop_elapsed();
        char head[160];
        if (p >= 0)
            snprintf(head, sizeof head, "%s %.0f%% %.1fs (x cancels) ", busy, p * 100, t);
        else
            snprintf(head, sizeof head, "%s: loading the data %.1fs (x cancels) ", busy, t);
        x = mbtui_text(r.y, r.x, r.w, MBTUI_A_WARN, head);
    }
    mbtui_text(r.y, r.x + x, r.w - x, MBTUI_A_TITLE, title);
    if (d->n < 2)
        return 1;
    size_t o = (size_t)snprintf(title, sizeof title, "views: %s", d->lv[0].src ? "file" : "");
    for (int i = 1; i < d->n && o < sizeof title; i++)
        o += (size_t)snprintf(title + o, sizeof title - o, " · %s", d->lv[i].what);
    if (o < sizeof title)
        snprintf(title + o, sizeof title - o, "  (u undoes; = derives a column)");
    mbtui_text(r.y + 1, r.x, r.w, MBTUI_A_DIM, title);
    return 2;
}

static void data_draw(mbtui_view *v, mbtui_rect r)
{
    data_view *d = D(v);
    if (!d->n) {
        mbtui_text(r.y, r.x, r.w, MBTUI_A_DIM, "No data open. Choose a file in the tree on the left (t shows it)");
        mbtui_text(r.y + 1, r.x, r.w, MBTUI_A_DIM, "and press Enter: HDF5 (.h5), pandas tables or CSV.");
        for (int y = r.y + 2; y < r.y + r.h; y++)
            mbtui_text(y, r.x, r.w, MBTUI_A_NORMAL, "");
        return;
    }
    level *l = top_of(d);
    int th = draw_title(v, r);
    int sh = d->show_stats && l->ncols ? (r.h - th) * 2 / 5 : 0;
    if (sh < 6 && d->show_stats)
        sh = r.h - th > 12 ? 6 : (r.h - th) / 2;
    mbtui_rect t = {r.y + th, r.x, r.h - th - sh, r.w};
    if (l->ncols)
        draw_table(v, t);
    else
        for (int y = t.y; y < t.y + t.h; y++)
            mbtui_text(y, r.x, r.w, MBTUI_A_NORMAL, "");
    if (sh) {
        mbtui_text(t.y + t.h, r.x, r.w, MBTUI_A_DIM, "");
        draw_stats(v, (mbtui_rect){t.y + t.h + 1, r.x, sh - 1, r.w});
    }
}

/* {====== requests ======} */

static void goto_row(mbtui_app *a, const char *text, void *ud)
{
    level *d = top_of(ud);
    char *end;
    unsigned long long n = strtoull(text, &end, 10);
    if (end == text || n < 1 || n > d->nrows) {
        mbtui_say(a, MBTUI_A_ERROR, "go to row: '%s' is not a row number in 1..%zu", text, d->nrows);
        return;
    }
    d->row = (size_t)n - 1;
    d->top = d->row;
}

static void find_column(mbtui_app *a, const char *text, void *ud)
{
    level *d = top_of(ud);
    const mb_frame *f = mbtui_source_schema(d->src);
    for (size_t k = 1; k <= f->ncols; k++) {
        size_t c = (d->col + k) % f->ncols;
        if (strstr(f->cols[c].name, text)) {
            d->col = c;
            return;
        }
    }
    mbtui_say(a, MBTUI_A_ERROR, "no column name contains '%s'", text);
}

static void set_plan(mbtui_app *a, const char *text, void *ud)
{
    (void)ud;
    double test;
    int k;
    unsigned long seed;
    char extra;
    if (sscanf(text, "k=%d %lu %c", &k, &seed, &extra) == 2 && k >= 2 && k <= 100) {
        a->plan_k = k;
        a->plan_seed = seed;
        mbtui_say(a, MBTUI_A_OK, "plan: %d-fold cross-validation (seed %lu); the bundle is fitted on all rows", k,
                  seed);
        return;
    }
    if (sscanf(text, "%lf %lu %c", &test, &seed, &extra) != 2 || !(test > 0 && test < 1)) {
        mbtui_say(a, MBTUI_A_ERROR,
                  "plan: expected 'FRACTION SEED' (a fraction in (0, 1), e.g. '0.25 1') or 'k=K SEED' (K in 2..100)");
        return;
    }
    a->plan_test = test;
    a->plan_k = 0;
    a->plan_seed = seed;
    mbtui_say(a, MBTUI_A_OK, "plan: hold out %.2f of the rows (seed %lu) for the metrics", test, seed);
}

/* {====== sort, filter, derive, undo ======} */

/* Start the chunk `do local view = CALL ... end` for the new level next (its what,
** cursor column and sort filled in). */
static void start_op(mbtui_app *a, data_view *d, const char *verb, const char *call, const level *next)
{
    level *l = top_of(d);
    const char *busy = mbtui_data_busy(a);
    if (busy) {
        mbtui_say(a, MBTUI_A_ERROR, "%s: wait for the %s to end (x cancels it)", verb, busy);
        return;
    }
    if (d->n == MAXLEVELS) {
        mbtui_say(a, MBTUI_A_ERROR, "%s: %d views at most; u undoes the last", verb, MAXLEVELS);
        return;
    }
    /* the whole data in memory, and the copy the operation makes */
    double mb = (double)l->nrows * (double)(l->ncols + 1) * 4 * 2 / 1048576, limit = mbtui_dataop_limit_mb();
    if (mb > limit) {
        mbtui_say(a, MBTUI_A_ERROR,
                  "%s: %zu rows x %zu columns need about %.0f MB in memory, over the limit of %.0f MB "
                  "(MOONBENCH_TUI_MAX_MB; a quarter of the RAM by default): use moonbench run on a sample",
                  verb, l->nrows, l->ncols, mb, limit);
        return;
    }
    size_t n = strlen(call) + 256;
    char *lua = mb_malloc(n);
    /* in a block: a saved session is one chunk, which may hold 200 locals at most */
    snprintf(lua, n, "do\n  local view = %s\n  views = views or {}\n  views[#views + 1], data = data, view\nend",
             call);
    if (mbtui_dataop_start(a, verb, lua, d->n) != 0) {
        mb_free(lua);
        return;
    }
    mb_free(d->lua);
    d->lua = lua;
    d->next = *next;
    pending = d;
    mbtui_say(a, MBTUI_A_NORMAL, "%s: running in the background (x cancels; the table stays live)", verb);
}

static void sort_rows(mbtui_app *a, data_view *d)
{
    level *l = top_of(d);
    int cat;
    const char *name = mbtui_data_column(&a->tabs[MBTUI_TAB_DATA], &cat);
    if (!name)
        return;
    int desc = l->sort_col == (int)l->col && !l->sort_desc; /* again: descending */
    char q[600], call[800];
    snprintf(call, sizeof call, "data:sort(%s, { desc = %s, progress = progress })", mbtui_lua_quote(name, q, sizeof q),
             desc ? "true" : "false");
    level next = {.sort_col = (int)l->col, .sort_desc = desc, .col = l->col};
    snprintf(next.what, sizeof next.what, "sorted by %s %s", name, desc ? "↓" : "↑");
    start_op(a, d, "sort", call, &next);
}

static void filter_done(mbtui_app *a, const char *text, void *ud)
{
    data_view *d = ud;
    if (!text[0])
        return;
    char q[2200], call[2400];
    snprintf(call, sizeof call, "data:filter(%s, { progress = progress })", mbtui_lua_quote(text, q, sizeof q));
    level next = {.sort_col = -1, .col = top_of(d)->col};
    snprintf(next.what, sizeof next.what, "filter: %s", text);
    start_op(a, d, "filter", call, &next);
}

/* "name = expression": the first '=' that is not part of ==, ~=, <= or >=. */
static void derive_done(mbtui_app *a, const char *text, void *ud)
{
    data_view *d = ud;
    const char *eq = NULL;
    for (const char *p = text; *p && !eq; p++)
        if (*p == '=' && p[1] != '=' && (p == text || !strchr("=~<>", p[-1])))
            eq = p;
    char name[256];
    size_t nl = eq ? (size_t)(eq - text) : 0;
    while (nl && text[nl - 1] == ' ')
        nl--;
    const char *name0 = text;
    while (*name0 == ' ' && name0 < text + nl)
        name0++, nl--;
    const char *expr = eq ? eq + 1 : "";
    while (*expr == ' ')
        expr++;
    if (!eq || nl == 0 || nl >= sizeof name || !*expr) {
        mbtui_say(a, MBTUI_A_ERROR, "derive: expected 'name = expression', e.g. 'ratio = petal_length_cm / petal_width_cm'");
        return;
    }
    memcpy(name, name0, nl);
    name[nl] = 0;
    char qn[600], qe[2200], call[3000];
    snprintf(call, sizeof call, "data:derive(%s, %s, { progress = progress })", mbtui_lua_quote(name, qn, sizeof qn),
             mbtui_lua_quote(expr, qe, sizeof qe));
    level next = {.sort_col = -1, .col = (size_t)-1}; /* the cursor: the new column, found by name when done */
    snprintf(next.what, sizeof next.what, "+ %s = %s", name, expr);
    if (!mbtui_data_busy(a))
        snprintf(d->next_name, sizeof d->next_name, "%s", name);
    start_op(a, d, "derive", call, &next);
}

void mbtui_data_poll(mbtui_app *a)
{
    const mb_frame *f = NULL;
    double secs = 0;
    char err[1100];
    int rc = mbtui_dataop_poll(a, &f, &secs, err, sizeof err);
    if (!rc || !pending)
        return;
    data_view *d = pending;
    pending = NULL;
    if (rc < 0) {
        int cancelled = strstr(err, "cancelled") != NULL;
        char first[600];
        snprintf(first, sizeof first, "%.590s", err);
        first[strcspn(first, "\n")] = 0;
        mbtui_say(a, cancelled ? MBTUI_A_WARN : MBTUI_A_ERROR, "%s%s (the view is unchanged)",
                  cancelled ? "cancelled: " : "", first);
        mb_free(d->lua);
        d->lua = NULL;
        return;
    }
    level *below = top_of(d), *l = &d->lv[d->n];
    size_t before = below->nrows;
    *l = d->next;
    level_set(l, mbtui_source_wrap(f));
    l->sort_col = d->next.sort_col;
    l->sort_desc = d->next.sort_desc;
    if (d->next.col == (size_t)-1) { /* derived: the cursor on the new column */
        long c = mb_frame_find(f, d->next_name);
        l->col = c >= 0 ? (size_t)c : 0;
    }
    if (l->col >= l->ncols)
        l->col = 0;
    d->n++;
    size_t n = strlen(d->lua) + 200;
    char *chunk = mb_malloc(n);
    snprintf(chunk, n, "-- %s: %zu -> %zu rows\n%s", l->what, before, l->nrows, d->lua);
    for (char *p = chunk + 3; *p && *p != '\n'; p++)
        if (*p == '\r')
            *p = ' ';
    mbtui_session_record(a, chunk);
    mb_free(chunk);
    mb_free(d->lua);
    d->lua = NULL;
    mbtui_say(a, MBTUI_A_OK, "%s: %zu -> %zu rows in %.2f s (u undoes)", l->what, before, l->nrows, secs);
}

static void undo(mbtui_app *a, data_view *d)
{
    if (mbtui_data_busy(a)) {
        mbtui_say(a, MBTUI_A_ERROR, "undo: wait for the %s to end (x cancels it)", mbtui_data_busy(a));
        return;
    }
    if (d->n < 2) {
        mbtui_say(a, MBTUI_A_DIM, "undo: nothing to undo (sort O, filter |, derive = make new views)");
        return;
    }
    level *gone = top_of(d), *back = &d->lv[d->n - 2];
    char lua[1400], q[600];
    int o = snprintf(lua, sizeof lua, "data = table.remove(views) -- undo %.1000s", gone->what);
    for (char *p = lua; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    /* the target follows the data: set again if that view has the column */
    if (a->target[0]) {
        const mb_frame *f = mbtui_source_schema(back->src);
        if (mb_frame_find(f, a->target) >= 0)
            snprintf(lua + o, sizeof lua - (size_t)o, "\ndata:set_target(%s)", mbtui_lua_quote(a->target, q, sizeof q));
        else
            a->target[0] = 0;
    }
    if (mbtui_session_do(a, lua, 1) != 0) {
        mbtui_say(a, MBTUI_A_ERROR, "undo: %s", a->lua_error);
        return;
    }
    char what[sizeof gone->what];
    snprintf(what, sizeof what, "%s", gone->what);
    level_free(gone);
    mbtui_dataop_forget(a, d->n - 1);
    d->n--;
    mbtui_say(a, MBTUI_A_OK, "undone: %s; back to %zu rows", what, back->nrows);
}

static int data_request(mbtui_view *v, int req)
{
    data_view *dv = D(v);
    mbtui_app *a = v->app;
    if (!dv->n)
        return 0;
    level *d = top_of(dv);
    size_t page = dv->page_rows > 0 ? (size_t)dv->page_rows : 10;
    switch (req) {
    case MBTUI_REQ_UP: if (d->row > 0) d->row--; return 1;
    case MBTUI_REQ_DOWN: if (d->row + 1 < d->nrows) d->row++; return 1;
    case MBTUI_REQ_PAGE_UP: d->row = d->row > page ? d->row - page : 0; d->top = d->top > page ? d->top - page : 0; return 1;
    case MBTUI_REQ_PAGE_DOWN:
        if (d->nrows) {
            d->row = d->row + page < d->nrows ? d->row + page : d->nrows - 1;
            d->top = d->top + page < d->nrows ? d->top + page : d->top;
        }
        return 1;
    case MBTUI_REQ_FIRST: d->row = 0; return 1;
    case MBTUI_REQ_LAST: d->row = d->nrows ? d->nrows - 1 : 0; return 1;
    case MBTUI_REQ_LEFT: if (d->col > 0) d->col--; if (d->col > 0 && d->col < d->left) d->left = d->col; return 1;
    case MBTUI_REQ_RIGHT: if (d->col + 1 < d->ncols) d->col++; return 1;
    case MBTUI_REQ_GOTO: mbtui_prompt(a, "go to row: ", "", goto_row, dv); return 1;
    case MBTUI_REQ_FIND: mbtui_prompt(a, "find column: ", "", find_column, dv); return 1;
    case MBTUI_REQ_STATS: dv->show_stats = !dv->show_stats; return 1;
    case MBTUI_REQ_ENTER: dv->show_stats = !dv->show_stats; return 1;
    case MBTUI_REQ_SORT_ROWS: sort_rows(a, dv); return 1;
    case MBTUI_REQ_FILTER:
        mbtui_prompt(a, "filter rows where (Lua; columns by name, col[\"a b\"] or a_b): ", "", filter_done, dv);
        return 1;
    case MBTUI_REQ_DERIVE: mbtui_prompt(a, "derive column (name = Lua expression): ", "", derive_done, dv); return 1;
    case MBTUI_REQ_UNDO: undo(a, dv); return 1;
    case MBTUI_REQ_CANCEL:
        if (!mbtui_data_busy(a))
            return 0; /* the Models tab's cancel */
        mbtui_dataop_cancel();
        mbtui_say(a, MBTUI_A_WARN, "%s: cancelling", mbtui_data_busy(a));
        return 1;
    case MBTUI_REQ_TARGET: {
        int cat = 0;
        const char *name = mbtui_data_column(v, &cat);
        if (name)
            mbtui_set_target(a, name, cat);
        return 1;
    }
    case MBTUI_REQ_PLAN: {
        char init[64];
        if (a->plan_k)
            snprintf(init, sizeof init, "k=%d %lu", a->plan_k, a->plan_seed);
        else
            snprintf(init, sizeof init, "%g %lu", a->plan_test, a->plan_seed);
        mbtui_prompt(a, "plan (hold-out fraction or k=K, seed): ", init, set_plan, NULL);
        return 1;
    }
    }
    return 0;
}

/* what fits in 100 columns with ? C-p q; the views line names u and = */
static const int data_hints[] = {MBTUI_REQ_STATS, MBTUI_REQ_TARGET, MBTUI_REQ_PLAN, MBTUI_REQ_FILTER,
                                 MBTUI_REQ_SORT_ROWS, MBTUI_REQ_TAB_MODELS, 0};

const mbtui_view_ops mbtui_data_ops = {
    .name = "Data",
    .hints = data_hints,
    .open = data_open,
    .draw = data_draw,
    .request = data_request,
    .done = data_done,
    .private_size = sizeof(data_view),
};
