/*
** view_pipeline.c: the Pipeline tab. On the left the pipeline as a list:
** the transform steps, then the model of the Models tab. A step is kept
** as the CLI's -t text ("impute:strategy=median"), so the core's own
** parser (mb_job_step_parse) validates every option as it is set, and the
** step's Lua constructor is generated from it. The forms are generated
** from the option table below (which options each kind takes). On the
** right (below on a narrow terminal) the Lua the pipeline stands for, in
** the built-in editor (editor.c) or $EDITOR, and under it the output pane
** of the script and of `:`. R runs the script (pipeline_script.c).
**
** The script text is regenerated from the list and the model whenever
** they change other than by the script itself; each regeneration is one
** undoable edit, so hand edits are never lost (C-z brings them back).
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "editor.h"
#include "job.h"
#include "pipeline.h"

static const char *const all_kinds[] = {"standardize", "minmax", "impute", "onehot", "ordinal",
                                        "log1p",       "clip",   "poly2",  "select", "drop"};
#define NKINDS (sizeof all_kinds / sizeof all_kinds[0])

/* The options of mb_transform_opts (job.h's text names), and the kinds they apply to. */
enum { T_LIST, T_TEXT, T_NUMBER, T_BOOL };
static const struct {
    const char *name;
    int type;
    const char *kinds;            /* space-separated; NULL: every kind */
    const char *help;
} options[] = {
    {"columns", T_LIST, NULL, "a,b,c; empty: every column the kind applies to"},
    {"strategy", T_TEXT, "impute", "mean | median | most_frequent | constant"},
    {"fill", T_NUMBER, "impute", "the constant for numeric columns (strategy=constant)"},
    {"fill_text", T_TEXT, "impute", "the constant for categorical columns (default missing)"},
    {"add_indicator", T_BOOL, "impute", "true: a 0/1 column <name>_missing per column"},
    {"unknown", T_TEXT, "onehot", "levels unseen in training: ignore (zeros) | error"},
    {"lo", T_NUMBER, "clip", "lower bound (empty: none)"},
    {"hi", T_NUMBER, "clip", "upper bound (empty: none)"},
};
#define NOPTIONS (sizeof options / sizeof options[0])

typedef struct pipeline_view {
    const char *kinds[NKINDS];
    int nkinds;
    char *desc[MBTUI_MAXSTEPS];   /* NULL: a Lua step taken from a script */
    int cursor;                   /* 0..nsteps-1 a step, nsteps the model */
    int chosen;
    int scroll;                   /* output pane: lines up from the end */
    mbtui_editor *ed;
    int editing, top, hscroll;
    int show_session;             /* the session's text instead of the editor */
    char *last_gen;               /* the text last generated from the list */
    int nscripts, err_line;
    double script_started;
    char save_path[512];
    int form_opt[NOPTIONS], nform;
} pipeline_view;

static pipeline_view *P(mbtui_app *a) { return a->tabs[MBTUI_TAB_PIPELINE].priv; }

/* {====== steps as text ======} */

static int applies(int o, const char *kind)
{
    const char *k = options[o].kinds;
    if (!k)
        return 1;
    size_t n = strlen(kind);
    for (const char *p = strstr(k, kind); p; p = strstr(p + 1, kind))
        if ((p == k || p[-1] == ' ') && (p[n] == 0 || p[n] == ' '))
            return 1;
    return 0;
}

static void desc_kind(const char *desc, char *kind, size_t n)
{
    size_t k = strcspn(desc, ":");
    snprintf(kind, n, "%.*s", (int)(k < n ? k : n - 1), desc);
}

/* The value of option name in desc ("" when not set). */
static void desc_get(const char *desc, const char *name, char *out, size_t n)
{
    out[0] = 0;
    size_t nl = strlen(name);
    for (const char *p = strchr(desc, ':'); p; p = strchr(p + 1, ':'))
        if (strncmp(p + 1, name, nl) == 0 && p[1 + nl] == '=') {
            size_t len = strcspn(p + 2 + nl, ":");
            snprintf(out, n, "%.*s", (int)(len < n ? len : n - 1), p + 2 + nl);
        }
}

/* desc with option name set to value (removed when value is empty). */
static char *desc_set(const char *desc, const char *name, const char *value)
{
    size_t n = strlen(desc) + strlen(name) + strlen(value) + 4, nl = strlen(name);
    char *out = mb_malloc(n);
    size_t k = strcspn(desc, ":"), o = (size_t)snprintf(out, n, "%.*s", (int)k, desc);
    for (const char *p = desc + k; *p == ':';) {
        size_t len = strcspn(p + 1, ":");
        if (!(strncmp(p + 1, name, nl) == 0 && p[1 + nl] == '='))
            o += (size_t)snprintf(out + o, n - o, ":%.*s", (int)len, p + 1);
        p += 1 + len;
    }
    if (value[0])
        snprintf(out + o, n - o, ":%s=%s", name, value);
    return out;
}

static void put(char **s, size_t *len, const char *t)
{
    size_t k = strlen(t);
    *s = mb_realloc(*s, *len + k + 1);
    memcpy(*s + *len, t, k + 1);
    *len += k;
}

/* The Lua constructor of a step, after the core's parser accepted it; NULL and err if not. */
static char *desc_expr(const char *desc, mb_error *err)
{
    mb_job_step js;
    if (mb_job_step_parse(desc, &js, err) != MB_OK)
        return NULL;
    mb_job_step_free(&js);
    char kind[64], q[600], buf[700], *s = NULL;
    size_t len = 0, nopt = 0;
    desc_kind(desc, kind, sizeof kind);
    snprintf(buf, sizeof buf, "mb.transform_new(%s", mbtui_lua_quote(kind, q, sizeof q));
    put(&s, &len, buf);
    for (size_t o = 0; o < NOPTIONS; o++) {
        char v[512];
        desc_get(desc, options[o].name, v, sizeof v);
        if (!v[0])
            continue;
        snprintf(buf, sizeof buf, "%s%s = ", nopt++ ? ", " : ", { ", options[o].name);
        put(&s, &len, buf);
        if (options[o].type == T_LIST) {
            put(&s, &len, "{ ");
            for (char *c = v, *e; c; c = e ? e + 1 : NULL) {
                e = strchr(c, ',');
                if (e)
                    *e = 0;
                snprintf(buf, sizeof buf, "%s%s", c == v ? "" : ", ", mbtui_lua_quote(c, q, sizeof q));
                put(&s, &len, buf);
            }
            put(&s, &len, " }");
        } else if (options[o].type == T_NUMBER) {
            double d = strtod(v, NULL);
            if (isinf(d))
                snprintf(buf, sizeof buf, "%smath.huge", d < 0 ? "-" : "");
            else if (isnan(d))
                snprintf(buf, sizeof buf, "0 / 0");
            else
                snprintf(buf, sizeof buf, "%.17g", d);
            put(&s, &len, buf);
        } else if (options[o].type == T_BOOL)
            put(&s, &len, !strcmp(v, "true") || !strcmp(v, "1") ? "true" : "false");
        else
            put(&s, &len, mbtui_lua_quote(v, q, sizeof q));
    }
    put(&s, &len, nopt ? " })" : ")");
    return s;
}

static void free_steps(mbtui_app *a, pipeline_view *p)
{
    for (int i = 0; i < a->nsteps; i++) {
        mb_free(a->steps[i]);
        mb_free(p->desc[i]);
        p->desc[i] = NULL;
    }
    a->nsteps = 0;
}

int mbtui_pipeline_set_steps(mbtui_app *a, char **descs, char **exprs, int n)
{
    pipeline_view *p = P(a);
    char *d[MBTUI_MAXSTEPS], *e[MBTUI_MAXSTEPS];
    for (int i = 0; i < n; i++) {
        mb_error err;
        d[i] = descs[i] ? mb_strdup(descs[i]) : NULL;
        e[i] = descs[i] ? desc_expr(descs[i], &err) : mb_strdup(exprs[i]);
        if (!e[i]) {
            mbtui_say(a, MBTUI_A_ERROR, "step %d (%s): %s", i + 1, descs[i], err.msg);
            for (int j = 0; j <= i; j++)
                mb_free(d[j]), mb_free(e[j]);
            return -1;
        }
    }
    free_steps(a, p);
    for (int i = 0; i < n; i++)
        p->desc[i] = d[i], a->steps[i] = e[i];
    a->nsteps = n;
    p->cursor = 0;
    return 0;
}

/* {====== the script the pipeline stands for ======} */

static char *gen_script(mbtui_app *a)
{
    char *s = NULL, buf[1600], ctor[1400], name[64], plugin[64], shown[256], msg[400];
    size_t len = 0;
    put(&s, &len,
        "-- the list's steps, then tab 3's model; R runs this and\n"
        "-- takes the pipeline it returns (or sets in `pipeline`)\n"
        "local mb = require \"moonbench\"\n");
    if (mbtui_models_current(a, ctor, sizeof ctor, name, plugin, sizeof name, shown, sizeof shown, msg, sizeof msg)) {
        snprintf(buf, sizeof buf, "-- (no model yet: %s)\n", msg);
        put(&s, &len, buf);
        return s;
    }
    put(&s, &len, "return mb.pipeline {\n");
    for (int i = 0; i < a->nsteps; i++) {
        put(&s, &len, "  ");
        put(&s, &len, a->steps[i]);
        put(&s, &len, ",\n");
    }
    snprintf(buf, sizeof buf, "  %s,\n}\n", ctor);
    put(&s, &len, buf);
    return s;
}

/* Regenerate the editor's text when the list or the model changed. */
static void sync_script(mbtui_app *a, pipeline_view *p)
{
    char *gen = gen_script(a);
    if (p->last_gen && strcmp(gen, p->last_gen) == 0) {
        mb_free(gen);
        return;
    }
    if (!p->ed)
        p->ed = mbtui_editor_new(gen);
    else if (strcmp(mbtui_editor_text(p->ed), gen) != 0)
        mbtui_editor_set_text(p->ed, gen); /* undoable: C-z in the editor */
    mb_free(p->last_gen);
    p->last_gen = gen;
}

/* {====== drawing ======} */

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

static void draw_list(mbtui_app *a, pipeline_view *p, mbtui_rect r)
{
    mbtui_text(r.y, r.x, r.w, MBTUI_A_HEADER, "pipeline steps (then the model)");
    int y = r.y + 1, first = p->cursor >= r.h - 2 ? p->cursor - (r.h - 3) : 0;
    for (int i = first; i < a->nsteps && y < r.y + r.h - 1; i++, y++) {
        int attr = i == p->cursor && !p->editing ? MBTUI_A_CURSOR : MBTUI_A_NORMAL;
        if (p->desc[i])
            mbtui_textf(y, r.x, r.w, attr, "%d. %s", i + 1, p->desc[i]);
        else
            mbtui_textf(y, r.x, r.w, attr, "%d. lua (%s)", i + 1, a->steps[i]);
    }
    if (a->nsteps == 0 && y < r.y + r.h - 1)
        mbtui_text(y++, r.x, r.w, MBTUI_A_DIM, "(no transforms: a adds one)");
    char ctor[1400], name[64], plugin[64], shown[256], msg[400];
    int attr = p->cursor == a->nsteps && !p->editing ? MBTUI_A_CURSOR : MBTUI_A_TITLE;
    if (mbtui_models_current(a, ctor, sizeof ctor, name, plugin, sizeof name, shown, sizeof shown, msg, sizeof msg))
        mbtui_textf(y++, r.x, r.w, MBTUI_A_ERROR, "-> model: %s", msg);
    else
        mbtui_textf(y++, r.x, r.w, attr, "-> model: %s/%s %s", plugin, name, shown);
    while (y < r.y + r.h)
        mbtui_text(y++, r.x, r.w, MBTUI_A_NORMAL, "");
}

static void draw_editor(mbtui_app *a, pipeline_view *p, mbtui_rect r)
{
    int line, col;
    mbtui_editor_cursor(p->ed, &line, &col);
    if (mbtui_script_running())
        mbtui_textf(r.y, r.x, r.w, MBTUI_A_WARN, "script %d running, %.1f s (x stops it)", p->nscripts,
                    mbtui_now() - p->script_started);
    else if (p->editing)
        mbtui_textf(r.y, r.x, r.w, MBTUI_A_TITLE, "editing line %d, col %d%s  Esc leaves  C-s save  C-z undo  C-y redo  F5 run",
                    line + 1, col + 1, mbtui_editor_modified(p->ed) ? " [+]" : "");
    else
        mbtui_textf(r.y, r.x, r.w, MBTUI_A_HEADER, "script line %d, col %d%s  (E edit, R run, V $EDITOR)", line + 1,
                    col + 1, mbtui_editor_modified(p->ed) ? " [+]" : "");
    int h = r.h - 1, gw = 4, tw = r.w - gw;
    if (h < 1 || tw < 4)
        return;
    if (line < p->top)
        p->top = line;
    if (line >= p->top + h)
        p->top = line - h + 1;
    int cx = mbtui_editor_cursor_x(p->ed);
    if (cx < p->hscroll)
        p->hscroll = cx;
    if (cx >= p->hscroll + tw)
        p->hscroll = cx - tw + 1;
    for (int k = 0; k < h; k++) {
        size_t len;
        const char *s = mbtui_editor_line(p->ed, p->top + k, &len);
        int y = r.y + 1 + k;
        if (!s) {
            mbtui_text(y, r.x, r.w, MBTUI_A_DIM, "~");
            continue;
        }
        mbtui_textf(y, r.x, gw, p->top + k + 1 == p->err_line ? MBTUI_A_ERROR : MBTUI_A_DIM, "%3d ", p->top + k + 1);
        size_t skip = mbtui_utf8_skip_cols(s, len, p->hscroll);
        char buf[2048];
        snprintf(buf, sizeof buf, "%.*s", (int)(len - skip), s + skip);
        mbtui_text(y, r.x + gw, tw, MBTUI_A_NORMAL, buf);
    }
    if (p->editing) {
        a->cursor_y = r.y + 1 + line - p->top;
        a->cursor_x = r.x + gw + cx - p->hscroll;
    }
}

static void pipeline_draw(mbtui_view *v, mbtui_rect r)
{
    pipeline_view *p = v->priv;
    mbtui_app *a = v->app;
    sync_script(a, p);
    mbtui_rect list, right;
    if (r.w >= 90) {
        int lw = r.w * 2 / 5 > 44 ? 44 : r.w * 2 / 5;
        list = (mbtui_rect){r.y, r.x, r.h, lw};
        right = (mbtui_rect){r.y, r.x + lw + 1, r.h, r.w - lw - 1};
        for (int y = r.y; y < r.y + r.h; y++)
            mbtui_text(y, r.x + lw, 1, MBTUI_A_DIM, "│");
    } else { /* narrow: the list on top */
        int lh = a->nsteps + 3 < r.h / 3 ? a->nsteps + 3 : r.h / 3;
        list = (mbtui_rect){r.y, r.x, lh, r.w};
        right = (mbtui_rect){r.y + lh, r.x, r.h - lh, r.w};
    }
    draw_list(a, p, list);
    int oh = right.h / 3 < 3 ? 3 : right.h / 3;
    if (p->show_session) { /* as it will be saved; PgUp / PgDn scroll */
        mbtui_text(right.y, right.x, right.w, MBTUI_A_HEADER, "session (the Lua of every action; L: the script, W saves)");
        char *text = mbtui_session_text(a);
        draw_lines(text, (mbtui_rect){right.y + 1, right.x, right.h - oh - 1, right.w}, MBTUI_A_NORMAL, p->scroll);
        mb_free(text);
    } else
        draw_editor(a, p, (mbtui_rect){right.y, right.x, right.h - oh, right.w});
    int oy = right.y + right.h - oh;
    if (p->err_line)
        mbtui_textf(oy, right.x, right.w, MBTUI_A_ERROR, "output: error at line %d (J jumps there)", p->err_line);
    else
        mbtui_text(oy, right.x, right.w, MBTUI_A_HEADER, "output (print, errors; : results)");
    draw_lines(a->lua_output ? a->lua_output : "", (mbtui_rect){oy + 1, right.x, oh - 1, right.w}, MBTUI_A_NORMAL,
               p->show_session ? 0 : p->scroll);
}

/* {====== the forms ======} */

static struct {
    pipeline_view *p;
    int step, opt;                /* opt < 0: a new step's options */
} form;

static void add_done(mbtui_app *a, const char *text, void *ud);
static void option_done(mbtui_app *a, const char *text, void *ud);

/* The prompts say what was refused in their label: the message line is under them. */
static void ask_add(mbtui_app *a, const char *initial, const char *refused)
{
    char label[160];
    if (refused)
        snprintf(label, sizeof label, "! %.100s; again: ", refused);
    else
        snprintf(label, sizeof label, "%s options (opt=value, ':' between; empty: defaults): ",
                 form.p->kinds[form.p->chosen]);
    mbtui_prompt(a, label, initial, add_done, NULL);
}

static void add_done(mbtui_app *a, const char *text, void *ud)
{
    (void)ud;
    pipeline_view *p = form.p;
    if (a->nsteps == MBTUI_MAXSTEPS) {
        mbtui_say(a, MBTUI_A_ERROR, "a pipeline takes %d steps at most here", MBTUI_MAXSTEPS);
        return;
    }
    char desc[1200];
    snprintf(desc, sizeof desc, "%s%s%s", p->kinds[p->chosen], text[0] ? ":" : "", text);
    mb_error err;
    char *expr = desc_expr(desc, &err);
    if (!expr) { /* inline: the prompt again, with the message */
        mbtui_say(a, MBTUI_A_ERROR, "%s", err.msg);
        ask_add(a, text, err.msg);
        return;
    }
    int at = p->cursor < a->nsteps ? p->cursor + 1 : a->nsteps;
    memmove(a->steps + at + 1, a->steps + at, (size_t)(a->nsteps - at) * sizeof *a->steps);
    memmove(p->desc + at + 1, p->desc + at, (size_t)(a->nsteps - at) * sizeof *p->desc);
    a->steps[at] = expr;
    p->desc[at] = mb_strdup(desc);
    a->nsteps++;
    p->cursor = at;
    mbtui_say(a, MBTUI_A_OK, "added %s; Enter sets its options; the next training (tab 3, r) runs it", desc);
}

static void kind_done(mbtui_app *a, int index, void *ud)
{
    form.p = ud;
    form.p->chosen = index;
    ask_add(a, "", NULL);
}

static void ask_option(mbtui_app *a, const char *initial, const char *refused)
{
    char label[160];
    if (refused)
        snprintf(label, sizeof label, "! %.100s; %s = ", refused, options[form.opt].name);
    else
        snprintf(label, sizeof label, "%s (%s) = ", options[form.opt].name, options[form.opt].help);
    mbtui_prompt(a, label, initial, option_done, NULL);
}

static void option_done(mbtui_app *a, const char *text, void *ud)
{
    (void)ud;
    pipeline_view *p = form.p;
    if (form.step >= a->nsteps || !p->desc[form.step])
        return;
    char *desc = desc_set(p->desc[form.step], options[form.opt].name, text);
    mb_error err;
    char *expr = desc_expr(desc, &err);
    if (!expr) {
        mbtui_say(a, MBTUI_A_ERROR, "%s", err.msg);
        mb_free(desc);
        ask_option(a, text, err.msg);
        return;
    }
    mb_free(p->desc[form.step]);
    mb_free(a->steps[form.step]);
    p->desc[form.step] = desc;
    a->steps[form.step] = expr;
    mbtui_say(a, MBTUI_A_OK, "step %d: %s", form.step + 1, desc);
}

static void opt_chosen(mbtui_app *a, int index, void *ud)
{
    (void)ud;
    char value[512];
    form.opt = form.p->form_opt[index];
    desc_get(form.p->desc[form.step], options[form.opt].name, value, sizeof value);
    ask_option(a, value, NULL);
}

static void open_form(mbtui_app *a, pipeline_view *p)
{
    if (p->cursor == a->nsteps) {
        a->tab = MBTUI_TAB_MODELS; /* the model's form is the Models tab */
        mbtui_say(a, MBTUI_A_OK, "the model: choose it and its parameters here; 2 goes back to the pipeline");
        return;
    }
    if (p->cursor > a->nsteps || !p->desc[p->cursor]) {
        mbtui_say(a, MBTUI_A_WARN, "a Lua step from a script: change it in the script (E) and run it (R)");
        return;
    }
    char kind[64], items[NOPTIONS][700];
    const char *list[NOPTIONS];
    desc_kind(p->desc[p->cursor], kind, sizeof kind);
    p->nform = 0;
    for (size_t o = 0; o < NOPTIONS; o++) {
        if (!applies((int)o, kind))
            continue;
        char v[512];
        desc_get(p->desc[p->cursor], options[o].name, v, sizeof v);
        snprintf(items[p->nform], sizeof items[0], "%-14s %-18s %s", options[o].name, v[0] ? v : "(default)",
                 options[o].help);
        list[p->nform] = items[p->nform];
        p->form_opt[p->nform++] = (int)o;
    }
    form.p = p;
    form.step = p->cursor;
    char title[128];
    snprintf(title, sizeof title, "%s: options (Enter edits one, Esc closes)", kind);
    mbtui_menu(a, title, list, p->nform, opt_chosen, p);
}

/* {====== the editor's keys ======} */

static void save_done(mbtui_app *a, const char *path, void *ud)
{
    pipeline_view *p = ud;
    mb_error err;
    if (mbtui_write_text(path, mbtui_editor_text(p->ed), &err) != 0) {
        mbtui_say(a, MBTUI_A_ERROR, "%s", err.msg);
        return;
    }
    snprintf(p->save_path, sizeof p->save_path, "%s", path);
    mbtui_editor_mark_saved(p->ed);
    mbtui_say(a, MBTUI_A_OK, "script saved to %s (moonbench fit DATA --pipeline %s trains the same)", path, path);
}

static void run_script(mbtui_app *a, pipeline_view *p)
{
    mbtui_script_result res;
    p->err_line = 0;
    p->scroll = 0;
    if (mbtui_script_start(a, mbtui_editor_text(p->ed), p->nscripts + 1, &res) != 0) {
        p->err_line = res.line;
        mbtui_session_output(a, res.msg);
        mbtui_session_output(a, "\n");
        mbtui_say(a, MBTUI_A_ERROR, "%s%s", res.msg, res.line ? " (J jumps to the line)" : "");
        return;
    }
    p->nscripts++;
    p->script_started = mbtui_now();
    mbtui_say(a, MBTUI_A_OK, "script %d running (x stops it)", p->nscripts);
}

static int pipeline_tick(mbtui_view *v)
{
    pipeline_view *p = v->priv;
    mbtui_app *a = v->app;
    mbtui_script_result res;
    if (!mbtui_script_running())
        return 0;
    if (!mbtui_script_step(a, &res))
        return 1;
    if (!res.ok) {
        p->err_line = res.line;
        mbtui_say(a, MBTUI_A_ERROR, "script %d: %s%s", p->nscripts, res.msg, res.line ? " (J jumps to the line)" : "");
        return 0;
    }
    mbtui_say(a, MBTUI_A_OK, "%s", res.msg);
    mb_free(p->last_gen); /* the script stands for the new pipeline: keep its text */
    p->last_gen = gen_script(a);
    return 0;
}

static int editor_key(mbtui_app *a, pipeline_view *p, int key)
{
    static int k_left, k_right, k_up, k_down, k_home, k_end, k_pgup, k_pgdn, k_del, k_f5;
    if (!k_left) {
        k_left = mbtui_key_code("Left"), k_right = mbtui_key_code("Right"), k_up = mbtui_key_code("Up");
        k_down = mbtui_key_code("Down"), k_home = mbtui_key_code("Home"), k_end = mbtui_key_code("End");
        k_pgup = mbtui_key_code("PgUp"), k_pgdn = mbtui_key_code("PgDn"), k_del = mbtui_key_code("Del");
        k_f5 = mbtui_key_code("F5");
    }
    int page = 10;
    const struct { int key, op; } moves[] = {
        {k_left, MBTUI_ED_LEFT}, {k_right, MBTUI_ED_RIGHT}, {k_up, MBTUI_ED_UP},     {k_down, MBTUI_ED_DOWN},
        {k_home, MBTUI_ED_HOME}, {k_end, MBTUI_ED_END},     {k_pgup, MBTUI_ED_PGUP}, {k_pgdn, MBTUI_ED_PGDN},
    };
    for (size_t i = 0; i < sizeof moves / sizeof moves[0]; i++)
        if (key == moves[i].key) {
            mbtui_editor_move(p->ed, moves[i].op, page);
            return 1;
        }
    static const struct { const char *name; int op; } ext[] = {
        {"kLFT5", MBTUI_ED_WORD_LEFT}, {"kRIT5", MBTUI_ED_WORD_RIGHT}, {"kHOM5", MBTUI_ED_TOP}, {"kEND5", MBTUI_ED_BOTTOM},
    };
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++)
        if (mbtui_key_is_ext(key, ext[i].name)) {
            mbtui_editor_move(p->ed, ext[i].op, 1);
            return 1;
        }
    if (mbtui_key_is_escape(key)) {
        p->editing = 0;
        mbtui_say(a, MBTUI_A_NORMAL, "R runs the script, E edits it again");
    } else if (mbtui_key_is_enter(key))
        mbtui_editor_insert(p->ed, "\n");
    else if (key == '\t')
        mbtui_editor_insert(p->ed, "  ");
    else if (mbtui_key_is_backspace(key))
        mbtui_editor_backspace(p->ed);
    else if (key == k_del)
        mbtui_editor_delete(p->ed);
    else if (key == 26) /* C-z */
        mbtui_say(a, MBTUI_A_DIM, "%s", mbtui_editor_undo(p->ed) ? "undone" : "nothing to undo");
    else if (key == 25) /* C-y */
        mbtui_say(a, MBTUI_A_DIM, "%s", mbtui_editor_redo(p->ed) ? "redone" : "nothing to redo");
    else if (key == 19) /* C-s */
        mbtui_prompt(a, "save the script to: ", p->save_path[0] ? p->save_path : "pipeline.lua", save_done, p);
    else if (key == k_f5)
        run_script(a, p);
    else if (key >= ' ' && key < MBTUI_KEY_FN && key != 127)
        mbtui_editor_insert_char(p->ed, (unsigned)key);
    else
        return 0; /* C-c, C-p, F1...: the workbench's */
    return 1;
}

static int pipeline_key(mbtui_view *v, int key)
{
    pipeline_view *p = v->priv;
    return p->editing && p->ed ? editor_key(v->app, p, key) : 0;
}

/* {====== requests ======} */

static void external_edit(mbtui_app *a, pipeline_view *p)
{
    char *text = NULL, msg[600];
    if (mbtui_external_edit(mbtui_editor_text(p->ed), &text, msg, sizeof msg) != 0) {
        mbtui_say(a, MBTUI_A_ERROR, "%s", msg);
        return;
    }
    if (strcmp(text, mbtui_editor_text(p->ed)) == 0)
        mbtui_say(a, MBTUI_A_NORMAL, "the editor left the script as it was");
    else {
        mbtui_editor_set_text(p->ed, text);
        mbtui_say(a, MBTUI_A_OK, "the script as the editor left it (R runs it; C-z in the built-in editor undoes it)");
    }
    mb_free(text);
}

static void move_step(mbtui_app *a, pipeline_view *p, int j)
{
    if (p->cursor >= a->nsteps || j < 0 || j >= a->nsteps)
        return;
    char *t = a->steps[j], *d = p->desc[j];
    a->steps[j] = a->steps[p->cursor], p->desc[j] = p->desc[p->cursor];
    a->steps[p->cursor] = t, p->desc[p->cursor] = d;
    p->cursor = j;
}

static int pipeline_request(mbtui_view *v, int req)
{
    pipeline_view *p = v->priv;
    mbtui_app *a = v->app;
    if (!p->ed)
        sync_script(a, p);
    switch (req) {
    case MBTUI_REQ_ADD_STEP:
        mbtui_menu(a, "add a transform (Enter chooses, Esc closes)", p->kinds, p->nkinds, kind_done, p);
        return 1;
    case MBTUI_REQ_UP: if (p->cursor > 0) p->cursor--; return 1;
    case MBTUI_REQ_DOWN: if (p->cursor < a->nsteps) p->cursor++; return 1;
    case MBTUI_REQ_PAGE_UP: p->scroll += 5; return 1;
    case MBTUI_REQ_PAGE_DOWN: p->scroll = p->scroll > 5 ? p->scroll - 5 : 0; return 1;
    case MBTUI_REQ_ENTER: open_form(a, p); return 1;
    case MBTUI_REQ_DELETE:
        if (p->cursor < a->nsteps) {
            mb_free(a->steps[p->cursor]);
            mb_free(p->desc[p->cursor]);
            memmove(a->steps + p->cursor, a->steps + p->cursor + 1, (size_t)(a->nsteps - p->cursor - 1) * sizeof *a->steps);
            memmove(p->desc + p->cursor, p->desc + p->cursor + 1, (size_t)(a->nsteps - p->cursor - 1) * sizeof *p->desc);
            a->nsteps--;
            p->desc[a->nsteps] = NULL;
        }
        return 1;
    case MBTUI_REQ_MOVE_UP: move_step(a, p, p->cursor - 1); return 1;
    case MBTUI_REQ_MOVE_DOWN: move_step(a, p, p->cursor + 1); return 1;
    case MBTUI_REQ_SHOW_SESSION:
        p->show_session = !p->show_session;
        p->scroll = 0;
        return 1;
    case MBTUI_REQ_EDIT:
        p->show_session = 0;
        p->editing = 1;
        mbtui_say(a, MBTUI_A_NORMAL, "editing the script: Esc leaves, C-s saves, C-z undoes, F5 runs");
        return 1;
    case MBTUI_REQ_EXTERNAL_EDIT: external_edit(a, p); return 1;
    case MBTUI_REQ_RUN_SCRIPT: run_script(a, p); return 1;
    case MBTUI_REQ_JUMP_ERROR:
        if (!p->err_line) {
            mbtui_say(a, MBTUI_A_DIM, "no error with a line number to jump to");
            return 1;
        }
        mbtui_editor_goto(p->ed, p->err_line, 1);
        p->editing = 1;
        p->show_session = 0;
        mbtui_say(a, MBTUI_A_WARN, "line %d, where the error was (Esc leaves the editor)", p->err_line);
        return 1;
    case MBTUI_REQ_CANCEL:
        if (!mbtui_script_running())
            return 0;
        mbtui_script_stop();
        return 1;
    }
    return 0;
}

static int pipeline_open(mbtui_view *v)
{
    pipeline_view *p = v->priv;
    for (size_t i = 0; i < NKINDS; i++) {
        mb_transform *t = NULL;
        if (mb_transform_new(all_kinds[i], NULL, &t, NULL) == MB_OK || !strcmp(all_kinds[i], "drop"))
            p->kinds[p->nkinds++] = all_kinds[i]; /* drop exists, but only with its columns */
        mb_transform_free(&t);
    }
    return 0;
}

static void pipeline_done(mbtui_view *v)
{
    pipeline_view *p = v->priv;
    mbtui_script_free(v->app);
    free_steps(v->app, p);
    mbtui_editor_free(&p->ed);
    mb_free(p->last_gen);
    p->last_gen = NULL;
}

static const int pipeline_hints[] = {MBTUI_REQ_ADD_STEP, MBTUI_REQ_ENTER, MBTUI_REQ_DELETE, MBTUI_REQ_EDIT,
                                     MBTUI_REQ_RUN_SCRIPT, MBTUI_REQ_EXTERNAL_EDIT, MBTUI_REQ_JUMP_ERROR,
                                     MBTUI_REQ_SHOW_SESSION, 0};

const mbtui_view_ops mbtui_pipeline_ops = {
    .name = "Pipeline",
    .hints = pipeline_hints,
    .open = pipeline_open,
    .draw = pipeline_draw,
    .request = pipeline_request,
    .done = pipeline_done,
    .private_size = sizeof(pipeline_view),
    .key = pipeline_key,
    .tick = pipeline_tick,
};
