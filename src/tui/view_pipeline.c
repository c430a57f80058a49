/*
** view_pipeline.c: the Pipeline tab: the transform steps that the next
** training puts before the model, built from a menu of the core's
** transform kinds (each kind offered only if the core constructs it), and
** beside them the session itself: the Lua every action ran, as it will be
** saved, and the output of the last `:` line.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transform.h"
#include "tui.h"

static const char *const all_kinds[] = {"standardize", "minmax", "impute", "onehot", "ordinal",
                                        "log1p",       "clip",   "poly2",  "select", "drop"};
#define NKINDS (sizeof all_kinds / sizeof all_kinds[0])

typedef struct pipeline_view {
    const char *kinds[NKINDS];
    int nkinds;
    int cursor;
    int chosen;
    int scroll;                   /* session pane: lines up from the end */
} pipeline_view;

static int pipeline_open(mbtui_view *v)
{
    pipeline_view *p = v->priv;
    for (size_t i = 0; i < NKINDS; i++) {
        mb_transform *t = NULL;
        if (mb_transform_new(all_kinds[i], NULL, &t, NULL) == MB_OK)
            p->kinds[p->nkinds++] = all_kinds[i];
        mb_transform_free(&t);
    }
    return 0;
}

static void pipeline_done(mbtui_view *v)
{
    mbtui_app *a = v->app;
    for (int i = 0; i < a->nsteps; i++)
        mb_free(a->steps[i]);
    a->nsteps = 0;
}

static void draw_lines(const char *text, mbtui_rect r, int attr, int scroll)
{
    int n = 0;
    for (const char *p = text; *p; p++)
        n += *p == '\n';
    int first = n - r.h - scroll;
    if (first < 0)
        first = 0;
    int line = 0, y = r.y;
    for (const char *p = text; *p && y < r.y + r.h;) {
        const char *nl = strchr(p, '\n');
        int len = nl ? (int)(nl - p) : (int)strlen(p);
        if (line++ >= first) {
            char buf[1024];
            snprintf(buf, sizeof buf, "%.*s", len, p);
            mbtui_text(y++, r.x, r.w, attr, buf);
        }
        p += len + (nl ? 1 : 0);
    }
    while (y < r.y + r.h)
        mbtui_text(y++, r.x, r.w, attr, "");
}

static void pipeline_draw(mbtui_view *v, mbtui_rect r)
{
    pipeline_view *p = v->priv;
    mbtui_app *a = v->app;
    int lw = r.w * 2 / 5;
    mbtui_text(r.y, r.x, lw, MBTUI_A_HEADER, "pipeline steps (then the model)");
    int y = r.y + 1;
    for (int i = 0; i < a->nsteps && y < r.y + r.h; i++, y++)
        mbtui_textf(y, r.x, lw, i == p->cursor ? MBTUI_A_CURSOR : MBTUI_A_NORMAL, "%d. %s", i + 1, a->steps[i]);
    if (a->nsteps == 0)
        mbtui_text(y++, r.x, lw, MBTUI_A_DIM, "(none: a adds a transform)");
    if (y < r.y + r.h)
        mbtui_text(y++, r.x, lw, MBTUI_A_DIM, "-> the model chosen in tab 3");
    int ox = r.x + lw + 1, ow = r.w - lw - 1;
    int oh = a->lua_output ? r.h / 3 : 0;
    mbtui_text(r.y, ox, ow, MBTUI_A_HEADER, "session (Lua; W saves it, : runs a line)");
    char *text = mbtui_session_text(a);
    draw_lines(text, (mbtui_rect){r.y + 1, ox, r.h - 1 - oh, ow}, MBTUI_A_NORMAL, p->scroll);
    mb_free(text);
    if (oh)
        draw_lines(a->lua_output, (mbtui_rect){r.y + r.h - oh, ox, oh, ow}, MBTUI_A_OK, 0);
}

static void options_done(mbtui_app *a, const char *text, void *ud)
{
    pipeline_view *p = ud;
    if (a->nsteps == MBTUI_MAXSTEPS) {
        mbtui_say(a, MBTUI_A_ERROR, "a pipeline takes %d steps at most here", MBTUI_MAXSTEPS);
        return;
    }
    char expr[1200], check[1300];
    snprintf(expr, sizeof expr, "mb.transform_new(\"%s\", { %s })", p->kinds[p->chosen], text);
    snprintf(check, sizeof check, "local _ = %s", expr);
    if (mbtui_session_do(a, check, 0) != 0) {
        char *nl = strchr(a->lua_error, '\n');
        if (nl)
            *nl = 0;
        mbtui_say(a, MBTUI_A_ERROR, "%s", a->lua_error);
        return;
    }
    a->steps[a->nsteps++] = mb_strdup(expr);
    p->cursor = a->nsteps - 1;
    mbtui_say(a, MBTUI_A_OK, "added %s; the next training (tab 3, r) runs it before the model", p->kinds[p->chosen]);
}

static void kind_done(mbtui_app *a, int index, void *ud)
{
    pipeline_view *p = ud;
    p->chosen = index;
    char label[128];
    snprintf(label, sizeof label, "%s options (Lua fields, empty = defaults): ", p->kinds[index]);
    mbtui_prompt(a, label, "", options_done, p);
}

static int pipeline_request(mbtui_view *v, int req)
{
    pipeline_view *p = v->priv;
    mbtui_app *a = v->app;
    switch (req) {
    case MBTUI_REQ_ADD_STEP:
        mbtui_menu(a, "add a transform (Enter chooses, Esc closes)", p->kinds, p->nkinds, kind_done, p);
        return 1;
    case MBTUI_REQ_UP: if (p->cursor > 0) p->cursor--; return 1;
    case MBTUI_REQ_DOWN: if (p->cursor + 1 < a->nsteps) p->cursor++; return 1;
    case MBTUI_REQ_PAGE_UP: p->scroll += 10; return 1;
    case MBTUI_REQ_PAGE_DOWN: p->scroll = p->scroll > 10 ? p->scroll - 10 : 0; return 1;
    case MBTUI_REQ_DELETE:
        if (p->cursor < a->nsteps) {
            mb_free(a->steps[p->cursor]);
            memmove(a->steps + p->cursor, a->steps + p->cursor + 1,
                    (size_t)(a->nsteps - p->cursor - 1) * sizeof *a->steps);
            a->nsteps--;
            if (p->cursor > 0 && p->cursor >= a->nsteps)
                p->cursor--;
        }
        return 1;
    case MBTUI_REQ_MOVE_UP:
    case MBTUI_REQ_MOVE_DOWN: {
        int j = p->cursor + (req == MBTUI_REQ_MOVE_UP ? -1 : 1);
        if (j >= 0 && j < a->nsteps) {
            char *t = a->steps[j];
            a->steps[j] = a->steps[p->cursor];
            a->steps[p->cursor] = t;
            p->cursor = j;
        }
        return 1;
    }
    }
    return 0;
}

static const int pipeline_hints[] = {MBTUI_REQ_ADD_STEP, MBTUI_REQ_DELETE, MBTUI_REQ_MOVE_UP, MBTUI_REQ_MOVE_DOWN,
                                     MBTUI_REQ_LUA, MBTUI_REQ_SAVE_SESSION, 0};

const mbtui_view_ops mbtui_pipeline_ops = {
    .name = "Pipeline",
    .hints = pipeline_hints,
    .open = pipeline_open,
    .draw = pipeline_draw,
    .request = pipeline_request,
    .done = pipeline_done,
    .private_size = sizeof(pipeline_view),
};
