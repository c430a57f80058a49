/*
** draw.c: the workbench's drawing layer, the only file of moonbench that
** includes curses (as tig's draw.h). Views write clipped, padded text with
** logical attributes (MBTUI_A_*); here they become colour pairs, or bold /
** reverse / underline on a monochrome terminal or when NO_COLOR is set.
** Keys arrive through get_wch, so UTF-8 input is whole characters.
*/
#ifndef NCURSES_WIDECHAR
#define NCURSES_WIDECHAR 1
#endif
#include <curses.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "tui.h"

static volatile sig_atomic_t started;
static int attrs[MBTUI_A_COUNT_];

/* {====== keys ======} */

static const struct {
    const char *name;
    int code;
} named[] = {
    {"Up", MBTUI_KEY_FN + KEY_UP},       {"Down", MBTUI_KEY_FN + KEY_DOWN},
    {"Left", MBTUI_KEY_FN + KEY_LEFT},   {"Right", MBTUI_KEY_FN + KEY_RIGHT},
    {"PgUp", MBTUI_KEY_FN + KEY_PPAGE},  {"PgDn", MBTUI_KEY_FN + KEY_NPAGE},
    {"Home", MBTUI_KEY_FN + KEY_HOME},   {"End", MBTUI_KEY_FN + KEY_END},
    {"Enter", '\r'},                     {"Tab", '\t'},
    {"BTab", MBTUI_KEY_FN + KEY_BTAB},   {"Esc", 27},
    {"Del", MBTUI_KEY_FN + KEY_DC},      {"Backspace", MBTUI_KEY_FN + KEY_BACKSPACE},
    {"Space", ' '},                      {"F1", MBTUI_KEY_FN + KEY_F(1)},
    {"F2", MBTUI_KEY_FN + KEY_F(2)},     {"F3", MBTUI_KEY_FN + KEY_F(3)},
    {"F5", MBTUI_KEY_FN + KEY_F(5)},     {"F10", MBTUI_KEY_FN + KEY_F(10)},
};

int mbtui_key_code(const char *name)
{
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++)
        if (strcmp(named[i].name, name) == 0)
            return named[i].code;
    if (name[0] == 'C' && name[1] == '-' && name[2] >= 'a' && name[2] <= 'z' && !name[3])
        return name[2] - 'a' + 1;
    /* one character, possibly multibyte */
    wchar_t wc;
    mbstate_t st;
    memset(&st, 0, sizeof st);
    size_t len = strlen(name);
    size_t k = mbrtowc(&wc, name, len, &st);
    if (k == len && k > 0 && wc > ' ')
        return (int)wc;
    return -1;
}

const char *mbtui_key_name(int key, char *buf, size_t n)
{
    if (key == '\n')
        key = '\r';
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++)
        if (named[i].code == key) {
            snprintf(buf, n, "%s", named[i].name);
            return buf;
        }
    if (key >= 1 && key <= 26)
        snprintf(buf, n, "C-%c", 'a' + key - 1);
    else if (key > ' ' && key < MBTUI_KEY_FN) {
        char mb[16];
        mbstate_t st;
        memset(&st, 0, sizeof st);
        size_t k = wcrtomb(mb, (wchar_t)key, &st);
        if (k == (size_t)-1)
            k = 0;
        mb[k] = 0;
        snprintf(buf, n, "%s", mb);
    } else
        snprintf(buf, n, "<%d>", key);
    return buf;
}

int mbtui_key_is_resize(int key) { return key == MBTUI_KEY_FN + KEY_RESIZE; }
int mbtui_key_is_backspace(int key)
{
    return key == MBTUI_KEY_FN + KEY_BACKSPACE || key == 127 || key == 8;
}
int mbtui_key_is_enter(int key) { return key == '\r' || key == '\n' || key == MBTUI_KEY_FN + KEY_ENTER; }
int mbtui_key_is_escape(int key) { return key == 27; }
int mbtui_key_is_up(int key) { return key == MBTUI_KEY_FN + KEY_UP; }
int mbtui_key_is_down(int key) { return key == MBTUI_KEY_FN + KEY_DOWN; }

int mbtui_getkey(int timeout_ms)
{
    wint_t wc;
    timeout(timeout_ms);
    int r = get_wch(&wc);
    if (r == ERR)
        return MBTUI_KEY_NONE;
    if (r == KEY_CODE_YES)
        return MBTUI_KEY_FN + (int)wc;
    if (wc == '\n')
        return '\r';
    return (int)wc;
}

/* {====== screen ======} */

int mbtui_draw_init(int mono, char *msg, size_t n)
{
    if (!newterm(NULL, stdout, stdin)) {
        snprintf(msg, n, "cannot start the terminal (TERM=%s)", getenv("TERM") ? getenv("TERM") : "");
        return -1;
    }
    started = 1;
    raw();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    set_escdelay(25);
    curs_set(0);
    int colour = !mono && has_colors();
    if (colour) {
        start_color();
        use_default_colors();
        static const short pair[][2] = {
            [MBTUI_A_DIM] = {COLOR_BLUE, -1},   [MBTUI_A_TITLE] = {COLOR_CYAN, -1},
            [MBTUI_A_TAB] = {COLOR_WHITE, COLOR_BLUE}, [MBTUI_A_TAB_ON] = {COLOR_BLACK, COLOR_CYAN},
            [MBTUI_A_STATUS] = {COLOR_BLACK, COLOR_WHITE}, [MBTUI_A_CURSOR] = {COLOR_BLACK, COLOR_CYAN},
            [MBTUI_A_HEADER] = {COLOR_YELLOW, -1}, [MBTUI_A_FROZEN] = {COLOR_GREEN, -1},
            [MBTUI_A_ERROR] = {COLOR_RED, -1},  [MBTUI_A_OK] = {COLOR_GREEN, -1},
            [MBTUI_A_WARN] = {COLOR_YELLOW, -1}, [MBTUI_A_BAR] = {COLOR_CYAN, -1},
            [MBTUI_A_KEY] = {COLOR_YELLOW, COLOR_WHITE}, [MBTUI_A_MARK] = {COLOR_MAGENTA, -1},
        };
        for (int i = 1; i < MBTUI_A_COUNT_; i++) {
            init_pair((short)i, pair[i][0], pair[i][1]);
            attrs[i] = (int)COLOR_PAIR(i);
        }
        attrs[MBTUI_A_HEADER] |= A_BOLD;
        attrs[MBTUI_A_TITLE] |= A_BOLD;
        attrs[MBTUI_A_TAB_ON] |= A_BOLD;
        attrs[MBTUI_A_ERROR] |= A_BOLD;
    } else {
        attrs[MBTUI_A_DIM] = A_DIM;
        attrs[MBTUI_A_TITLE] = A_BOLD;
        attrs[MBTUI_A_TAB] = A_NORMAL;
        attrs[MBTUI_A_TAB_ON] = A_REVERSE | A_BOLD;
        attrs[MBTUI_A_STATUS] = A_REVERSE;
        attrs[MBTUI_A_CURSOR] = A_REVERSE;
        attrs[MBTUI_A_HEADER] = A_BOLD | A_UNDERLINE;
        attrs[MBTUI_A_FROZEN] = A_BOLD;
        attrs[MBTUI_A_ERROR] = A_BOLD;
        attrs[MBTUI_A_OK] = A_NORMAL;
        attrs[MBTUI_A_WARN] = A_BOLD;
        attrs[MBTUI_A_BAR] = A_NORMAL;
        attrs[MBTUI_A_KEY] = A_REVERSE | A_BOLD;
        attrs[MBTUI_A_MARK] = A_BOLD;
    }
    return 0;
}

void mbtui_draw_end(void)
{
    if (!started)
        return;
    started = 0;
    endwin();
}

void mbtui_size(int *rows, int *cols)
{
    getmaxyx(stdscr, *rows, *cols);
}

void mbtui_erase(void) { erase(); }

int mbtui_width(const char *s)
{
    mbstate_t st;
    memset(&st, 0, sizeof st);
    int w = 0;
    size_t len = strlen(s);
    while (len > 0) {
        wchar_t wc;
        size_t k = mbrtowc(&wc, s, len, &st);
        if (k == (size_t)-1 || k == (size_t)-2 || k == 0) {
            memset(&st, 0, sizeof st);
            k = 1;
            wc = '?';
        }
        int cw = wcwidth(wc);
        w += cw > 0 ? cw : 0;
        s += k;
        len -= k;
    }
    return w;
}

int mbtui_text(int y, int x, int w, int attr, const char *s)
{
    int rows, cols;
    getmaxyx(stdscr, rows, cols);
    if (y < 0 || y >= rows || x >= cols || w <= 0)
        return 0;
    if (x + w > cols)
        w = cols - x;
    attr_t a = (attr_t)attrs[attr >= 0 && attr < MBTUI_A_COUNT_ ? attr : 0];
    attron(a);
    move(y, x);
    mbstate_t st;
    memset(&st, 0, sizeof st);
    size_t len = strlen(s);
    int used = 0;
    while (len > 0) {
        wchar_t wc;
        size_t k = mbrtowc(&wc, s, len, &st);
        if (k == (size_t)-1 || k == (size_t)-2 || k == 0) {
            memset(&st, 0, sizeof st);
            k = 1;
            wc = '?';
        }
        if (wc == '\t' || wc == '\n' || wc == '\r' || (wc < ' ' && wc >= 0))
            wc = ' ';
        int cw = wcwidth(wc);
        if (cw < 0)
            cw = 1, wc = '?';
        if (used + cw > w)
            break;
        addnwstr(&wc, 1);
        used += cw;
        s += k;
        len -= k;
    }
    for (int i = used; i < w; i++)
        addch(' ');
    attroff(a);
    return used;
}

int mbtui_textf(int y, int x, int w, int attr, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return mbtui_text(y, x, w, attr, buf);
}

void mbtui_cursor(int y, int x, int visible)
{
    if (visible)
        move(y, x);
    curs_set(visible ? 1 : 0);
}

void mbtui_flush(void) { refresh(); }

void mbtui_draw_suspend(void)
{
    def_prog_mode();
    endwin();
}

void mbtui_draw_resume(void)
{
    reset_prog_mode();
    clearok(stdscr, TRUE); /* the other program drew over everything */
    refresh();
}

/* Extended keys have names from terminfo (kLFT5 is Ctrl+Left), not KEY_ codes. */
int mbtui_key_is_ext(int key, const char *name)
{
    if (key < MBTUI_KEY_FN)
        return 0;
    const char *k = keyname(key - MBTUI_KEY_FN);
    return k && strcmp(k, name) == 0;
}
