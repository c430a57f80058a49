/*
** tui.c: the workbench's frame: start-up checks, the event loop, the tab
** bar, the file-tree pane, the message and status lines, and the modal
** pieces every view shares (line prompt with history, menu, command
** palette, help screen, quit confirmation). Requests go to the focused
** view's ops->request first, then to the generic handler here (tig's
** view_driver). The terminal is restored on every way out: quit, SIGINT,
** SIGTERM, SIGHUP (the loop notices a flag), and a crash (the handler
** restores it, says what happened on stderr, then dies of the signal).
*/
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include "frame.h"
#include "mbtui.h"
#include "plugin.h"
#include "tui.h"

void mbtui_data_set(mbtui_view *v, mbtui_source *src);
const char *mbtui_data_column(mbtui_view *v, int *categorical);
void mbtui_tree_root(mbtui_view *v, const char *path);

static mbtui_app app_;
static volatile sig_atomic_t got_signal;

double mbtui_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void mbtui_say(mbtui_app *a, int attr, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->msg, sizeof a->msg, fmt, ap);
    va_end(ap);
    a->msg_attr = attr;
}

/* {====== modal input ======} */

enum { M_NONE, M_PROMPT, M_MENU, M_HELP, M_PALETTE, M_QUIT };

#define HIST 32

static struct {
    int mode;
    char label[128];
    char buf[1024];
    size_t len;
    mbtui_prompt_fn prompt_done;
    mbtui_menu_fn menu_done;
    void *ud;
    char **items;
    int nitems, cursor, top;
    int palette[MBTUI_REQ_COUNT];
    int npalette;
    char *hist[HIST];
    int nhist, hist_at;
    int is_lua;
} M;

void mbtui_prompt(mbtui_app *a, const char *label, const char *initial, mbtui_prompt_fn done, void *ud)
{
    (void)a;
    M.mode = M_PROMPT;
    snprintf(M.label, sizeof M.label, "%s", label);
    snprintf(M.buf, sizeof M.buf, "%s", initial);
    M.len = strlen(M.buf);
    M.prompt_done = done;
    M.ud = ud;
    M.is_lua = 0;
    M.hist_at = M.nhist;
}

static void free_items(void)
{
    for (int i = 0; i < M.nitems; i++)
        mb_free(M.items[i]);
    mb_free(M.items);
    M.items = NULL;
    M.nitems = 0;
}

void mbtui_menu(mbtui_app *a, const char *title, const char *const *items, int n, mbtui_menu_fn done, void *ud)
{
    (void)a;
    free_items();
    M.mode = M_MENU;
    snprintf(M.label, sizeof M.label, "%s", title);
    M.items = mb_malloc((size_t)(n ? n : 1) * sizeof *M.items);
    for (int i = 0; i < n; i++)
        M.items[i] = mb_strdup(items[i]);
    M.nitems = n;
    M.cursor = M.top = 0;
    M.menu_done = done;
    M.ud = ud;
}

static void lua_done(mbtui_app *a, const char *text, void *ud)
{
    (void)ud;
    if (!text[0])
        return;
    if (M.nhist == HIST) {
        mb_free(M.hist[0]);
        memmove(M.hist, M.hist + 1, (HIST - 1) * sizeof *M.hist);
        M.nhist--;
    }
    M.hist[M.nhist++] = mb_strdup(text);
    mbtui_session_eval(a, text);
}

/* Fuzzy match: the query's characters in order (case-folded) in s; a
** higher score for matches at word starts and in a row, 0 for none. */
static int fuzzy(const char *q, const char *s)
{
    int score = 1, run = 0;
    const char *p = s;
    for (; *q; q++) {
        if (*q == ' ')
            continue;
        int c = *q >= 'A' && *q <= 'Z' ? *q + 32 : *q;
        while (*p && (*p >= 'A' && *p <= 'Z' ? *p + 32 : *p) != c)
            p++, run = 0;
        if (!*p)
            return 0;
        score += 1 + run * 2 + (p == s || p[-1] == '-' || p[-1] == ' ' ? 3 : 0);
        run++;
        p++;
    }
    return score;
}

static void palette_filter(void)
{
    int score[MBTUI_REQ_COUNT];
    M.npalette = 0;
    for (const mbtui_request_info *r = mbtui_requests; r->name; r++) {
        if (r->req == MBTUI_REQ_NONE || r->req == MBTUI_REQ_PALETTE)
            continue;
        char hay[512];
        snprintf(hay, sizeof hay, "%s %s", r->name, r->help);
        int s = M.buf[0] ? fuzzy(M.buf, r->name) * 2 : 1;
        if (!s && M.buf[0])
            s = fuzzy(M.buf, hay);
        if (!s)
            continue;
        int k = M.npalette++;
        M.palette[k] = r->req;
        score[k] = s;
        for (; k > 0 && score[k] > score[k - 1]; k--) { /* stable: best first */
            int t = score[k]; score[k] = score[k - 1]; score[k - 1] = t;
            t = M.palette[k]; M.palette[k] = M.palette[k - 1]; M.palette[k - 1] = t;
        }
    }
    if (M.cursor >= M.npalette)
        M.cursor = M.npalette ? M.npalette - 1 : 0;
}

static const mbtui_request_info *req_info(int req)
{
    for (const mbtui_request_info *r = mbtui_requests; r->name; r++)
        if (r->req == req)
            return r;
    return NULL;
}

/* {====== drawing ======} */

/* The tree is the Data tab's file browser: other tabs get the full width. */
static int tree_on(const mbtui_app *a) { return a->tree_shown && a->tab == MBTUI_TAB_DATA; }

static mbtui_view *focused(mbtui_app *a) { return tree_on(a) && a->tree_focus ? &a->tree : &a->tabs[a->tab]; }

static void draw_tabs(mbtui_app *a, int cols)
{
    mbtui_text(0, 0, 11, MBTUI_A_TITLE, " moonbench ");
    int x = 11;
    for (int t = 0; t < MBTUI_NTABS && x < cols; t++) {
        char buf[64];
        snprintf(buf, sizeof buf, " %d %s ", t + 1, a->tabs[t].ops->name);
        int w = mbtui_width(buf);
        mbtui_text(0, x, w, t == a->tab ? MBTUI_A_TAB_ON : MBTUI_A_TAB, buf);
        x += w;
        if (x < cols)
            mbtui_text(0, x++, 1, MBTUI_A_NORMAL, " ");
    }
    char right[128] = "";
    for (int i = 0; i < a->nruns; i++)
        if (a->runs[i]->state == MBTUI_RUN_RUNNING)
            snprintf(right, sizeof right, "● run %d %3.0f%% ", a->runs[i]->id, a->runs[i]->fraction * 100);
    int rw = mbtui_width(right);
    if (x < cols)
        mbtui_text(0, x, cols - x, MBTUI_A_NORMAL, "");
    if (rw && cols - rw > x)
        mbtui_text(0, cols - rw, rw, MBTUI_A_WARN, right);
}

static void draw_status(mbtui_app *a, int rows, int cols)
{
    mbtui_view *v = focused(a);
    char line[1024] = "";
    size_t used = 0;
    int extra[] = {MBTUI_REQ_HELP, MBTUI_REQ_PALETTE, MBTUI_REQ_QUIT, 0};
    const int *lists[] = {v->ops->hints, extra};
    for (int l = 0; l < 2; l++)
        for (const int *h = lists[l]; h && *h; h++) {
            char key[32];
            const mbtui_request_info *ri = req_info(*h);
            if (!ri || !mbtui_keys_for(*h, key, sizeof key)[0])
                continue;
            int w = snprintf(line + used, sizeof line - used, "%s %s  ", key, ri->name);
            if (w > 0 && (size_t)w < sizeof line - used)
                used += (size_t)w;
        }
    mbtui_text(rows - 1, 0, cols, MBTUI_A_STATUS, line);
    if (M.mode == M_PROMPT) {
        int lw = mbtui_width(M.label);
        mbtui_text(rows - 2, 0, lw, MBTUI_A_TITLE, M.label);
        /* the end of a long input stays visible */
        const char *b = M.buf;
        while (mbtui_width(b) > cols - lw - 1 && *b)
            b++;
        int bw = mbtui_text(rows - 2, lw, cols - lw, MBTUI_A_NORMAL, b);
        mbtui_cursor(rows - 2, lw + bw, 1);
    } else {
        mbtui_text(rows - 2, 0, cols, a->msg_attr, a->msg);
        mbtui_cursor(a->cursor_y, a->cursor_x, a->cursor_y >= 0 && M.mode == M_NONE);
    }
}

static void draw_help(mbtui_rect r)
{
    int line = 0;
    for (const mbtui_request_info *ri = mbtui_requests; ri->name; ri++, line++) {
        int y = r.y + line - M.top;
        if (y < r.y)
            continue;
        if (y >= r.y + r.h)
            break;
        if (ri->req == MBTUI_REQ_NONE) {
            mbtui_text(y, r.x, r.w, MBTUI_A_HEADER, ri->help);
            continue;
        }
        char keys[64];
        mbtui_keys_all(ri->req, keys, sizeof keys);
        mbtui_textf(y, r.x, r.w, MBTUI_A_NORMAL, "  %-14s %-14s %s", keys, ri->name, ri->help);
    }
    for (int y = r.y + line - M.top; y < r.y + r.h; y++)
        if (y >= r.y)
            mbtui_text(y, r.x, r.w, MBTUI_A_NORMAL, "");
}

static void draw_list(mbtui_rect r, const char *title, int n, const char *(*item)(int, char *, size_t))
{
    mbtui_text(r.y, r.x, r.w, MBTUI_A_TITLE, title);
    int h = r.h - 1;
    if (M.cursor < M.top)
        M.top = M.cursor;
    if (M.cursor >= M.top + h)
        M.top = M.cursor - h + 1;
    for (int k = 0; k < h; k++) {
        int i = M.top + k;
        char buf[512];
        mbtui_text(r.y + 1 + k, r.x, r.w, i == M.cursor ? MBTUI_A_CURSOR : MBTUI_A_NORMAL,
                   i < n ? item(i, buf, sizeof buf) : "");
    }
}

static const char *menu_item(int i, char *buf, size_t n)
{
    snprintf(buf, n, "  %s", M.items[i]);
    return buf;
}

static const char *palette_item(int i, char *buf, size_t n)
{
    const mbtui_request_info *ri = req_info(M.palette[i]);
    char key[32];
    if (!ri)
        return "";
    snprintf(buf, n, "  %-14s %-8s %s", ri->name, mbtui_keys_for(ri->req, key, sizeof key), ri->help);
    return buf;
}

static void draw(mbtui_app *a)
{
    int rows, cols;
    mbtui_size(&rows, &cols);
    mbtui_erase();
    if (rows < 10 || cols < 40) {
        mbtui_text(0, 0, cols, MBTUI_A_ERROR, "terminal too small");
        mbtui_text(1, 0, cols, MBTUI_A_NORMAL, "(40x10 at least)");
        mbtui_flush();
        return;
    }
    draw_tabs(a, cols);
    a->cursor_y = a->cursor_x = -1;
    mbtui_rect body = {1, 0, rows - 3, cols};
    if (M.mode == M_HELP) {
        mbtui_text(1, 0, cols, MBTUI_A_TITLE, "Commands (Esc closes; keys can be rebound in ~/.config/moonbench/keys)");
        draw_help((mbtui_rect){2, 0, rows - 4, cols});
    } else if (M.mode == M_PALETTE) {
        char title[1200];
        snprintf(title, sizeof title, "command: %s", M.buf);
        draw_list(body, title, M.npalette, palette_item);
    } else {
        if (tree_on(a)) {
            int tw = cols / 3 < 34 ? cols / 3 : 34;
            a->tree.ops->draw(&a->tree, (mbtui_rect){1, 0, body.h, tw});
            for (int y = 1; y < 1 + body.h; y++)
                mbtui_text(y, tw, 1, MBTUI_A_DIM, "│");
            body.x = tw + 1;
            body.w = cols - tw - 1;
        }
        a->tabs[a->tab].ops->draw(&a->tabs[a->tab], body);
        if (M.mode == M_MENU)
            draw_list((mbtui_rect){body.y, body.x, body.h < M.nitems + 1 ? body.h : M.nitems + 1, body.w},
                      M.label, M.nitems, menu_item);
    }
    if (M.mode == M_QUIT)
        mbtui_say(a, MBTUI_A_WARN, "Runs are running, or not exported and the session not saved: quit anyway? (y/n)");
    draw_status(a, rows, cols);
    mbtui_flush();
}

/* {====== dispatch ======} */

static int want_quit;

void mbtui_set_target(mbtui_app *a, const char *name, int categorical)
{
    char q[600], lua[700];
    snprintf(a->target, sizeof a->target, "%s", name);
    a->target_categorical = categorical;
    snprintf(lua, sizeof lua, "data:set_target(%s)", mbtui_lua_quote(name, q, sizeof q));
    mbtui_session_defer(a, lua);
    mbtui_say(a, MBTUI_A_OK, "target: %s; train a model in the Models tab (3)", name);
}

int mbtui_open_data(mbtui_app *a, const char *spec)
{
    mb_error err;
    double t0 = mbtui_now();
    mbtui_source *src = mbtui_source_open(spec, &err);
    if (!src) {
        mbtui_say(a, MBTUI_A_ERROR, "%s", err.msg);
        return -1;
    }
    mbtui_data_set(&a->tabs[MBTUI_TAB_DATA], src);
    mb_free(a->data_spec);
    a->data_spec = mb_strdup(spec);
    const mb_frame *f = mbtui_source_schema(src);
    a->target[0] = 0;
    if (f->target >= 0) {
        snprintf(a->target, sizeof a->target, "%s", f->cols[f->target].name);
        a->target_categorical = f->cols[f->target].type == MB_COL_CAT || (f->task && strcmp(f->task, "regression"));
    }
    char q[1200], lua[1300];
    snprintf(lua, sizeof lua, "data = mb.open(%s)", mbtui_lua_quote(spec, q, sizeof q));
    mbtui_session_defer(a, lua);
    mbtui_say(a, MBTUI_A_OK, "opened %s (%zu rows) in %.3f s; s: statistics, T: target, 3: models", spec,
              mbtui_source_rows(src), mbtui_now() - t0);
    return 0;
}

static void save_session_done(mbtui_app *a, const char *path, void *ud)
{
    (void)ud;
    mb_error err;
    if (mbtui_session_save(a, path, &err) != 0)
        mbtui_say(a, MBTUI_A_ERROR, "%s", err.msg);
    else
        mbtui_say(a, MBTUI_A_OK, "session saved to %s; replay it with: moonbench run %s", path, path);
}

static void run_request(mbtui_app *a, int req);

static void generic(mbtui_app *a, int req)
{
    switch (req) {
    case MBTUI_REQ_QUIT:
        if (mbtui_runs_unsaved(a))
            M.mode = M_QUIT;
        else
            want_quit = 1;
        break;
    case MBTUI_REQ_HELP: M.mode = M_HELP; M.top = 0; break;
    case MBTUI_REQ_PALETTE:
        M.mode = M_PALETTE;
        M.buf[0] = 0;
        M.len = 0;
        M.cursor = M.top = 0;
        palette_filter();
        break;
    case MBTUI_REQ_LUA:
        mbtui_prompt(a, "lua> ", "", lua_done, NULL);
        M.is_lua = 1;
        break;
    case MBTUI_REQ_TREE:
        a->tree_shown = a->tab != MBTUI_TAB_DATA || !a->tree_shown;
        a->tree_focus = a->tree_shown;
        a->tab = MBTUI_TAB_DATA;
        break;
    case MBTUI_REQ_FOCUS:
        if (a->tree_shown)
            a->tree_focus = !a->tree_focus;
        break;
    case MBTUI_REQ_NEXT_TAB: a->tab = (a->tab + 1) % MBTUI_NTABS; a->tree_focus = 0; break;
    case MBTUI_REQ_PREV_TAB: a->tab = (a->tab + MBTUI_NTABS - 1) % MBTUI_NTABS; a->tree_focus = 0; break;
    case MBTUI_REQ_TAB_DATA: case MBTUI_REQ_TAB_PIPELINE: case MBTUI_REQ_TAB_MODELS:
    case MBTUI_REQ_TAB_RESULTS: case MBTUI_REQ_TAB_EXPORT:
        a->tab = req - MBTUI_REQ_TAB_DATA;
        a->tree_focus = 0;
        break;
    case MBTUI_REQ_SAVE_SESSION:
        mbtui_prompt(a, "save session to: ", "session.lua", save_session_done, NULL);
        break;
    default: {
        const mbtui_request_info *ri = req_info(req);
        if (ri)
            mbtui_say(a, MBTUI_A_DIM, "%s: nothing to do here (%s)", ri->name, ri->help);
    }
    }
}

static void run_request(mbtui_app *a, int req)
{
    mbtui_view *v = focused(a);
    if (v->ops->request(v, req))
        return;
    /* tree focus: tab requests still reach the tab */
    if (v == &a->tree && a->tabs[a->tab].ops->request(&a->tabs[a->tab], req))
        return;
    generic(a, req);
}

static void edit_key(int key)
{
    if (mbtui_key_is_backspace(key)) {
        while (M.len > 0 && ((unsigned char)M.buf[M.len - 1] & 0xC0) == 0x80)
            M.len--; /* a whole UTF-8 character */
        if (M.len > 0)
            M.len--;
        M.buf[M.len] = 0;
    } else if (key >= ' ' && key < MBTUI_KEY_FN && key != 127) {
        char mbs[8];
        mbstate_t st;
        memset(&st, 0, sizeof st);
        size_t k = wcrtomb(mbs, (wchar_t)key, &st);
        if (k != (size_t)-1 && M.len + k < sizeof M.buf) {
            memcpy(M.buf + M.len, mbs, k);
            M.len += k;
            M.buf[M.len] = 0;
        }
    }
}

static void modal_key(mbtui_app *a, int key)
{
    int req = mbtui_keys_lookup(key);
    switch (M.mode) {
    case M_QUIT:
        if (key == 'y' || key == 'Y')
            want_quit = 1;
        M.mode = M_NONE;
        a->msg[0] = 0;
        return;
    case M_HELP:
        if (req == MBTUI_REQ_DOWN || req == MBTUI_REQ_PAGE_DOWN)
            M.top += req == MBTUI_REQ_DOWN ? 1 : 10;
        else if (req == MBTUI_REQ_UP || req == MBTUI_REQ_PAGE_UP)
            M.top = M.top > (req == MBTUI_REQ_UP ? 1 : 10) ? M.top - (req == MBTUI_REQ_UP ? 1 : 10) : 0;
        else
            M.mode = M_NONE;
        return;
    case M_MENU:
        if (mbtui_key_is_escape(key))
            M.mode = M_NONE;
        else if (req == MBTUI_REQ_UP && M.cursor > 0)
            M.cursor--;
        else if (req == MBTUI_REQ_DOWN && M.cursor + 1 < M.nitems)
            M.cursor++;
        else if (mbtui_key_is_enter(key)) {
            M.mode = M_NONE;
            M.menu_done(a, M.cursor, M.ud);
        }
        return;
    case M_PALETTE:
        if (mbtui_key_is_escape(key))
            M.mode = M_NONE;
        else if (mbtui_key_is_up(key) && M.cursor > 0)
            M.cursor--;
        else if (mbtui_key_is_down(key) && M.cursor + 1 < M.npalette)
            M.cursor++;
        else if (mbtui_key_is_enter(key)) {
            M.mode = M_NONE;
            if (M.npalette)
                run_request(a, M.palette[M.cursor]);
        } else {
            edit_key(key);
            palette_filter();
        }
        return;
    case M_PROMPT:
        if (mbtui_key_is_escape(key)) {
            M.mode = M_NONE;
        } else if (mbtui_key_is_enter(key)) {
            M.mode = M_NONE;
            char text[sizeof M.buf];
            memcpy(text, M.buf, sizeof text);
            M.prompt_done(a, text, M.ud);
        } else if (M.is_lua && (mbtui_key_is_up(key) || mbtui_key_is_down(key))) {
            M.hist_at += mbtui_key_is_up(key) ? -1 : 1;
            if (M.hist_at < 0)
                M.hist_at = 0;
            if (M.hist_at >= M.nhist) {
                M.hist_at = M.nhist;
                M.buf[0] = 0;
            } else
                snprintf(M.buf, sizeof M.buf, "%s", M.hist[M.hist_at]);
            M.len = strlen(M.buf);
        } else
            edit_key(key);
        return;
    }
}

/* {====== start and end ======} */

static const char *signame(int sig)
{
    switch (sig) {
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    case SIGHUP: return "SIGHUP";
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    case SIGILL: return "SIGILL";
    case SIGABRT: return "SIGABRT";
    }
    return "a signal";
}

static void on_stop(int sig) { got_signal = sig; }

/* A crash of the workbench itself: the terminal first, then the news. */
static void on_crash(int sig)
{
    mbtui_draw_end();
    mbtui_runs_kill_all(&app_);
    const char *a = "moonbench: the workbench crashed (", *b = signame(sig),
               *c = "); the terminal was restored. Please report it with the steps that led here.\n";
    ssize_t r = write(2, a, strlen(a));
    r = write(2, b, strlen(b));
    r = write(2, c, strlen(c));
    (void)r;
    signal(sig, SIG_DFL);
    raise(sig);
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_stop;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = on_crash;
    sa.sa_flags = SA_RESETHAND;
    int fatal[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
    for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++)
        sigaction(fatal[i], &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int mb_tui_is_path(const char *arg)
{
    struct stat st;
    char *file = NULL;
    if (stat(arg, &st) == 0)
        return 1;
    const char *colon = strstr(arg, ":/");
    if (!colon)
        return 0;
    file = mb_strndup(arg, (size_t)(colon - arg));
    int ok = stat(file, &st) == 0;
    mb_free(file);
    return ok;
}

static int check_terminal(void)
{
    const char *term = getenv("TERM");
    if (!isatty(0) || !isatty(1)) {
        fprintf(stderr, "moonbench: the workbench needs a terminal (standard input and output are not a TTY);\n"
                        "run it in a terminal, or use the commands: moonbench --help\n");
        return 2;
    }
    if (!term || !*term || strcmp(term, "dumb") == 0) {
        fprintf(stderr, "moonbench: the workbench needs a full-screen terminal (TERM is %s);\n"
                        "set TERM (e.g. TERM=xterm-256color), or use the commands: moonbench --help\n",
                term && *term ? "'dumb'" : "not set");
        return 2;
    }
    return 0;
}

static void init_views(mbtui_app *a)
{
    const mbtui_view_ops *ops[MBTUI_NTABS] = {&mbtui_data_ops, &mbtui_pipeline_ops, &mbtui_models_ops,
                                              &mbtui_results_ops, &mbtui_export_ops};
    a->tree.ops = &mbtui_tree_ops;
    for (int t = 0; t < MBTUI_NTABS; t++)
        a->tabs[t].ops = ops[t];
    mbtui_view *all[MBTUI_NTABS + 1] = {&a->tree};
    for (int t = 0; t < MBTUI_NTABS; t++)
        all[t + 1] = &a->tabs[t];
    for (int i = 0; i <= MBTUI_NTABS; i++) {
        all[i]->app = a;
        all[i]->priv = mb_calloc(1, all[i]->ops->private_size ? all[i]->ops->private_size : 1);
        all[i]->ops->open(all[i]);
    }
}

static void done_views(mbtui_app *a)
{
    mbtui_view *all[MBTUI_NTABS + 1] = {&a->tree};
    for (int t = 0; t < MBTUI_NTABS; t++)
        all[t + 1] = &a->tabs[t];
    for (int i = 0; i <= MBTUI_NTABS; i++) {
        all[i]->ops->done(all[i]);
        mb_free(all[i]->priv);
        all[i]->priv = NULL;
    }
}

static void loop(mbtui_app *a)
{
    while (!want_quit && !got_signal) {
        int busy = 0;
        for (int t = 0; t < MBTUI_NTABS; t++)
            if (a->tabs[t].ops->tick)
                busy |= a->tabs[t].ops->tick(&a->tabs[t]);
        draw(a);
        int key = mbtui_getkey(busy ? 5 : 80);
        mbtui_data_poll(a);
        mbtui_runs_poll(a);
        if (key == MBTUI_KEY_NONE || mbtui_key_is_resize(key))
            continue;
        if (M.mode != M_NONE) {
            modal_key(a, key);
            continue;
        }
        mbtui_view *v = focused(a);
        if (v->ops->key && v->ops->key(v, key))
            continue;
        if (mbtui_key_is_escape(key)) {
            a->msg[0] = 0;
            continue;
        }
        int req = mbtui_keys_lookup(key);
        if (req != MBTUI_REQ_NONE)
            run_request(a, req);
        else {
            char name[32];
            mbtui_say(a, MBTUI_A_DIM, "%s is not bound to a command (? lists them)",
                      mbtui_key_name(key, name, sizeof name));
        }
    }
}

int mb_tui_main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : ".";
    if (argc > 2) {
        fprintf(stderr, "moonbench: the workbench takes one folder or data file, not %d arguments\n", argc - 1);
        return 2;
    }
    if (!mb_tui_is_path(path)) {
        fprintf(stderr, "moonbench: '%s' is neither a command nor a file or folder (moonbench --help)\n", path);
        return 2;
    }
    int rc = check_terminal();
    if (rc)
        return rc;
    setlocale(LC_ALL, "");
    setlocale(LC_NUMERIC, "C"); /* numbers in files, Lua and on screen never change format */
    mbtui_app *a = &app_;
    a->plan_test = 0.25;
    a->plan_seed = 1;
    char msg[512];
    if (mbtui_session_init(a, msg, sizeof msg) != 0) {
        fprintf(stderr, "moonbench: %s\n", msg);
        return 1;
    }
    char keymsg[512];
    mbtui_keys_init(keymsg, sizeof keymsg);
    const char *nc = getenv("NO_COLOR");
    install_signals();
    if (mbtui_draw_init(nc && *nc, msg, sizeof msg) != 0) {
        fprintf(stderr, "moonbench: %s\n", msg);
        mbtui_session_close(a);
        return 2;
    }
    init_views(a);
    mbtui_tree_root(&a->tree, path);
    struct stat st;
    int is_dir = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
    a->tree_shown = is_dir; /* a file opens full width; t shows its tree */
    a->tree_focus = is_dir;
    if (is_dir)
        mbtui_say(a, MBTUI_A_NORMAL, "Choose a dataset in the tree and press Enter (? lists every command)");
    else if (mbtui_open_data(a, path) != 0)
        a->tree_shown = a->tree_focus = 1; /* its objects, to choose one */
    char recovered[700];
    if (mbtui_journal_start(a, recovered, sizeof recovered)) {
        if (a->msg_attr == MBTUI_A_ERROR) { /* both matter: the file's problem first */
            char first[sizeof a->msg];
            memcpy(first, a->msg, sizeof first);
            mbtui_say(a, MBTUI_A_ERROR, "%.200s; also: %.300s", first, recovered);
        } else
            mbtui_say(a, MBTUI_A_WARN, "%s", recovered);
    }
    if (keymsg[0])
        mbtui_say(a, MBTUI_A_ERROR, "%s", keymsg);
    loop(a);
    if (!got_signal) /* a clean end: nothing to recover */
        mbtui_journal_end(a);
    mbtui_draw_end();
    mbtui_runs_kill_all(a);
    int sig = got_signal;
    done_views(a);
    mbtui_runs_free(a);
    mbtui_session_close(a);
    free_items();
    for (int i = 0; i < M.nhist; i++)
        mb_free(M.hist[i]);
    mb_free(a->data_spec);
    if (sig) {
        fprintf(stderr, "moonbench: stopped by %s; the terminal was restored\n", signame(sig));
        return 128 + sig;
    }
    return 0;
}
