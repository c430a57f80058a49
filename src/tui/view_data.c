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

typedef struct data_view {
    mbtui_source *src;
    mbtui_stats *stats;
    size_t nrows, ncols;
    int *width;
    size_t top, row, col, left;
    int show_stats;
    int page_rows;
    char error[512];
} data_view;

static data_view *D(mbtui_view *v) { return v->priv; }

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

static void size_columns(data_view *d, const mb_frame *f, size_t nrows)
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

/* Called by mbtui_open_data with a new source (or NULL to close). */
void mbtui_data_set(mbtui_view *v, mbtui_source *src);
void mbtui_data_set(mbtui_view *v, mbtui_source *src)
{
    data_view *d = D(v);
    mbtui_stats_stop(&d->stats);
    mbtui_source_free(&d->src);
    free(d->width);
    memset(d, 0, sizeof *d);
    d->src = src;
    if (!src)
        return;
    const mb_frame *f = mbtui_source_schema(src);
    d->nrows = mbtui_source_rows(src);
    d->ncols = f->ncols;
    d->width = calloc(d->ncols ? d->ncols : 1, sizeof *d->width);
    size_columns(d, f, f->nrows);
    d->stats = mbtui_stats_start(src);
}

const char *mbtui_data_column(mbtui_view *v, int *categorical);
const char *mbtui_data_column(mbtui_view *v, int *categorical)
{
    data_view *d = D(v);
    if (!d->src || d->col >= d->ncols)
        return NULL;
    const mb_column *c = &mbtui_source_schema(d->src)->cols[d->col];
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
    data_view *d = D(v);
    const mb_frame *schema = mbtui_source_schema(d->src);
    char buf[256];
    int numw = snprintf(buf, sizeof buf, "%zu", d->nrows ? d->nrows : 1) + 1;
    d->page_rows = r.h - 1;
    if (d->page_rows < 1)
        d->page_rows = 1;
    if (d->row < d->top)
        d->top = d->row;
    if (d->row >= d->top + (size_t)d->page_rows)
        d->top = d->row - (size_t)d->page_rows + 1;
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
    for (int k = 0; k < d->page_rows; k++) {
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
            int level = (int)lround(eighths) - (h - 1 - row) * 8;
            if (level < 0)
                level = 0;
            if (level > 8)
                level = 8;
            if (cs->hist[b] > 0 && row == h - 1 && level == 0)
                level = 1; /* a non-empty bin always shows */
            strcat(line, blocks[level]);
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
    data_view *d = D(v);
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

static void data_draw(mbtui_view *v, mbtui_rect r)
{
    data_view *d = D(v);
    if (!d->src) {
        mbtui_text(r.y, r.x, r.w, MBTUI_A_DIM, "No data open. Choose a file in the tree on the left (t shows it)");
        mbtui_text(r.y + 1, r.x, r.w, MBTUI_A_DIM, "and press Enter: HDF5 (.h5), pandas tables or CSV.");
        for (int y = r.y + 2; y < r.y + r.h; y++)
            mbtui_text(y, r.x, r.w, MBTUI_A_NORMAL, "");
        return;
    }
    mbtui_app *a = v->app;
    char plan[96];
    if (a->plan_k)
        snprintf(plan, sizeof plan, "%d-fold CV, seed %lu", a->plan_k, a->plan_seed);
    else
        snprintf(plan, sizeof plan, "hold-out %.2f, seed %lu", a->plan_test, a->plan_seed);
    mbtui_textf(r.y, r.x, r.w, MBTUI_A_TITLE, "%s  %zu rows x %zu columns  target: %s  plan: %s", a->data_spec,
                d->nrows, d->ncols, a->target[0] ? a->target : "(none: T sets it)", plan);
    int sh = d->show_stats && d->ncols ? (r.h - 1) * 2 / 5 : 0;
    if (sh < 6 && d->show_stats)
        sh = r.h - 1 > 12 ? 6 : (r.h - 1) / 2;
    mbtui_rect t = {r.y + 1, r.x, r.h - 1 - sh, r.w};
    if (d->ncols)
        draw_table(v, t);
    if (sh) {
        mbtui_text(t.y + t.h, r.x, r.w, MBTUI_A_DIM, "");
        draw_stats(v, (mbtui_rect){t.y + t.h + 1, r.x, sh - 1, r.w});
    }
}

/* {====== requests ======} */

static void goto_row(mbtui_app *a, const char *text, void *ud)
{
    data_view *d = ud;
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
    data_view *d = ud;
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


static int data_request(mbtui_view *v, int req)
{
    data_view *d = D(v);
    mbtui_app *a = v->app;
    if (!d->src)
        return 0;
    size_t page = d->page_rows > 0 ? (size_t)d->page_rows : 10;
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
    case MBTUI_REQ_GOTO: mbtui_prompt(a, "go to row: ", "", goto_row, d); return 1;
    case MBTUI_REQ_FIND: mbtui_prompt(a, "column: ", "", find_column, d); return 1;
    case MBTUI_REQ_STATS: d->show_stats = !d->show_stats; return 1;
    case MBTUI_REQ_ENTER: d->show_stats = !d->show_stats; return 1;
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

static const int data_hints[] = {MBTUI_REQ_STATS, MBTUI_REQ_TARGET, MBTUI_REQ_PLAN, MBTUI_REQ_GOTO,
                                 MBTUI_REQ_FIND, MBTUI_REQ_TAB_MODELS, 0};

const mbtui_view_ops mbtui_data_ops = {
    .name = "Data",
    .hints = data_hints,
    .open = data_open,
    .draw = data_draw,
    .request = data_request,
    .done = data_done,
    .private_size = sizeof(data_view),
};
