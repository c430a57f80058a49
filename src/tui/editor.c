/*
** editor.c: the Pipeline tab's text editor (editor.h), kept free of curses
** so that it is unit-tested on its own. The text is one contiguous UTF-8
** buffer (scripts are a few kilobytes: finding lines by scanning is cheaper
** than keeping a line index right) with the cursor as a byte offset that
** only ever sits on a character boundary. Every change is an insertion or
** a deletion in the undo log, grouped: a run of typed characters, a run of
** backspaces or one replacement of the whole text undoes in one step.
*/
#include "editor.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "mb.h"

typedef struct edit_op {
    int insert;                   /* 1: text was inserted at pos; 0: deleted from pos */
    size_t pos;
    char *text;
    size_t len;
    size_t cursor_before;
    unsigned group;
} edit_op;

#define MAX_UNDO 4096

struct mbtui_editor {
    char *buf;
    size_t len, cap;
    size_t cur;                   /* byte offset of the cursor */
    int goal_x;                   /* display column Up / Down aim for (-1: the cursor's) */
    edit_op *undo, *redo;
    size_t nundo, nredo;
    unsigned group;
    int typing;                   /* 1 after typed text, 2 after backspaces: the next may join */
    int modified;
};

/* {====== UTF-8 ======} */

static int is_cont(unsigned char c) { return (c & 0xC0) == 0x80; }

/* Length of the character at s (n bytes left): 1 for an invalid byte. */
static size_t char_len(const char *s, size_t n)
{
    unsigned char c = (unsigned char)s[0];
    size_t k = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
    if (k > n)
        return 1;
    for (size_t i = 1; i < k; i++)
        if (!is_cont((unsigned char)s[i]))
            return 1;
    return k;
}

static unsigned decode(const char *s, size_t k)
{
    const unsigned char *u = (const unsigned char *)s;
    switch (k) {
    case 2: return (unsigned)(u[0] & 0x1F) << 6 | (u[1] & 0x3F);
    case 3: return (unsigned)(u[0] & 0x0F) << 12 | (unsigned)(u[1] & 0x3F) << 6 | (u[2] & 0x3F);
    case 4:
        return (unsigned)(u[0] & 0x07) << 18 | (unsigned)(u[1] & 0x3F) << 12 | (unsigned)(u[2] & 0x3F) << 6 |
               (u[3] & 0x3F);
    }
    return u[0];
}

static int char_width(const char *s, size_t k)
{
    if (k == 1 && (unsigned char)s[0] >= 0x80)
        return 1; /* an invalid byte is shown as one '?' */
    if (s[0] == '\t')
        return 1;
    int w = wcwidth((wchar_t)decode(s, k));
    return w < 0 ? 1 : w;
}

int mbtui_utf8_width(const char *s, size_t n)
{
    int w = 0;
    for (size_t i = 0; i < n;) {
        size_t k = char_len(s + i, n - i);
        w += char_width(s + i, k);
        i += k;
    }
    return w;
}

size_t mbtui_utf8_skip_cols(const char *s, size_t n, int cols)
{
    size_t i = 0;
    int w = 0;
    while (i < n && w < cols) {
        size_t k = char_len(s + i, n - i);
        w += char_width(s + i, k);
        i += k;
    }
    return i;
}

/* The start of the character before byte offset at. */
static size_t prev_char(const char *s, size_t at)
{
    if (at == 0)
        return 0;
    size_t p = at - 1;
    while (p > 0 && at - p < 4 && is_cont((unsigned char)s[p]))
        p--;
    /* a stray continuation byte is a character of its own */
    return char_len(s + p, at - p) == at - p ? p : at - 1;
}

/* {====== the buffer ======} */

static void raw_insert(mbtui_editor *e, size_t pos, const char *t, size_t n)
{
    if (e->len + n + 1 > e->cap) {
        e->cap = (e->len + n + 1) * 2;
        e->buf = mb_realloc(e->buf, e->cap);
    }
    memmove(e->buf + pos + n, e->buf + pos, e->len - pos + 1);
    memcpy(e->buf + pos, t, n);
    e->len += n;
}

static void raw_delete(mbtui_editor *e, size_t pos, size_t n)
{
    memmove(e->buf + pos, e->buf + pos + n, e->len - pos - n + 1);
    e->len -= n;
}

static void ops_free(edit_op *v, size_t *n)
{
    for (size_t i = 0; i < *n; i++)
        mb_free(v[i].text);
    *n = 0;
}

enum { NEW_STEP, MERGE, SAME_STEP }; /* how an edit joins the undo log */

static void log_op(mbtui_editor *e, int insert, size_t pos, const char *t, size_t n, size_t before, int join)
{
    ops_free(e->redo, &e->nredo);
    e->modified = 1;
    edit_op *last = e->nundo ? &e->undo[e->nundo - 1] : NULL;
    if (join == MERGE && last && last->insert == insert && last->group == e->group) {
        if (insert && last->pos + last->len == pos) { /* typing on */
            last->text = mb_realloc(last->text, last->len + n + 1);
            memcpy(last->text + last->len, t, n);
            last->len += n;
            return;
        }
        if (!insert && pos + n == last->pos) { /* backspacing on */
            char *m = mb_malloc(last->len + n + 1);
            memcpy(m, t, n);
            memcpy(m + n, last->text, last->len);
            mb_free(last->text);
            last->text = m;
            last->len += n;
            last->pos = pos;
            return;
        }
    }
    if (join != SAME_STEP)
        e->group++;
    if (e->nundo == MAX_UNDO) { /* the oldest step goes */
        unsigned g = e->undo[0].group;
        size_t k = 0;
        while (k < e->nundo && e->undo[k].group == g)
            mb_free(e->undo[k++].text);
        memmove(e->undo, e->undo + k, (e->nundo - k) * sizeof *e->undo);
        e->nundo -= k;
    }
    e->undo[e->nundo++] = (edit_op){insert, pos, mb_strndup(t, n), n, before, e->group};
}

mbtui_editor *mbtui_editor_new(const char *text)
{
    mbtui_editor *e = mb_calloc(1, sizeof *e);
    e->undo = mb_malloc(MAX_UNDO * sizeof *e->undo);
    e->redo = mb_malloc(MAX_UNDO * sizeof *e->redo);
    e->cap = 64;
    e->buf = mb_malloc(e->cap);
    e->buf[0] = 0;
    e->goal_x = -1;
    if (text)
        raw_insert(e, 0, text, strlen(text));
    return e;
}

void mbtui_editor_free(mbtui_editor **pe)
{
    mbtui_editor *e = *pe;
    if (!e)
        return;
    ops_free(e->undo, &e->nundo);
    ops_free(e->redo, &e->nredo);
    mb_free(e->undo);
    mb_free(e->redo);
    mb_free(e->buf);
    mb_free(e);
    *pe = NULL;
}

const char *mbtui_editor_text(const mbtui_editor *e) { return e->buf; }
size_t mbtui_editor_len(const mbtui_editor *e) { return e->len; }
int mbtui_editor_modified(const mbtui_editor *e) { return e->modified; }
void mbtui_editor_mark_saved(mbtui_editor *e) { e->modified = 0; }

void mbtui_editor_set_text(mbtui_editor *e, const char *text)
{
    if (strcmp(text, e->buf) == 0)
        return;
    size_t before = e->cur;
    int modified = e->modified;
    e->typing = 0;
    log_op(e, 0, 0, e->buf, e->len, before, NEW_STEP);
    raw_delete(e, 0, e->len);
    log_op(e, 1, 0, text, strlen(text), before, SAME_STEP); /* one undo */
    raw_insert(e, 0, text, strlen(text));
    e->cur = 0;
    e->goal_x = -1;
    e->modified = modified;
}

void mbtui_editor_insert(mbtui_editor *e, const char *text)
{
    size_t n = strlen(text);
    if (!n)
        return;
    int join = e->typing == 1 && !strchr(text, '\n') ? MERGE : NEW_STEP;
    log_op(e, 1, e->cur, text, n, e->cur, join);
    raw_insert(e, e->cur, text, n);
    e->cur += n;
    e->typing = strchr(text, '\n') ? 0 : 1;
    e->goal_x = -1;
}

void mbtui_editor_insert_char(mbtui_editor *e, unsigned cp)
{
    char s[5] = {0};
    if (cp == '\r')
        cp = '\n';
    if (cp < 0x80)
        s[0] = (char)cp;
    else if (cp < 0x800)
        s[0] = (char)(0xC0 | cp >> 6), s[1] = (char)(0x80 | (cp & 0x3F));
    else if (cp < 0x10000)
        s[0] = (char)(0xE0 | cp >> 12), s[1] = (char)(0x80 | (cp >> 6 & 0x3F)), s[2] = (char)(0x80 | (cp & 0x3F));
    else if (cp < 0x110000)
        s[0] = (char)(0xF0 | cp >> 18), s[1] = (char)(0x80 | (cp >> 12 & 0x3F)),
        s[2] = (char)(0x80 | (cp >> 6 & 0x3F)), s[3] = (char)(0x80 | (cp & 0x3F));
    else
        return;
    mbtui_editor_insert(e, s);
}

void mbtui_editor_backspace(mbtui_editor *e)
{
    if (e->cur == 0)
        return;
    size_t p = prev_char(e->buf, e->cur), n = e->cur - p;
    log_op(e, 0, p, e->buf + p, n, e->cur, e->typing == 2 ? MERGE : NEW_STEP);
    raw_delete(e, p, n);
    e->cur = p;
    e->typing = 2;
    e->goal_x = -1;
}

void mbtui_editor_delete(mbtui_editor *e)
{
    if (e->cur >= e->len)
        return;
    size_t n = char_len(e->buf + e->cur, e->len - e->cur);
    log_op(e, 0, e->cur, e->buf + e->cur, n, e->cur, NEW_STEP);
    raw_delete(e, e->cur, n);
    e->typing = 0;
    e->goal_x = -1;
}

/* {====== undo ======} */

static void apply(mbtui_editor *e, const edit_op *op, int forward)
{
    if (op->insert == forward)
        raw_insert(e, op->pos, op->text, op->len);
    else
        raw_delete(e, op->pos, op->len);
}

static int replay(mbtui_editor *e, edit_op *from, size_t *nfrom, edit_op *to, size_t *nto, int forward)
{
    if (*nfrom == 0)
        return 0;
    unsigned g = from[*nfrom - 1].group;
    size_t cursor = 0;
    while (*nfrom > 0 && from[*nfrom - 1].group == g) {
        edit_op op = from[--*nfrom];
        apply(e, &op, forward);
        if (forward)
            cursor = op.insert ? op.pos + op.len : op.pos;
        else
            cursor = op.cursor_before;
        to[(*nto)++] = op; /* undo pops the group's ops last first; redo pushes them back in order */
    }
    e->cur = cursor > e->len ? e->len : cursor;
    e->typing = 0;
    e->goal_x = -1;
    e->modified = 1;
    return 1;
}

int mbtui_editor_undo(mbtui_editor *e) { return replay(e, e->undo, &e->nundo, e->redo, &e->nredo, 0); }

int mbtui_editor_redo(mbtui_editor *e)
{
    int r = replay(e, e->redo, &e->nredo, e->undo, &e->nundo, 1);
    if (r) /* the replayed group must not absorb the next typing */
        e->group++;
    return r;
}

/* {====== lines and moves ======} */

static size_t line_start(const mbtui_editor *e, size_t at)
{
    while (at > 0 && e->buf[at - 1] != '\n')
        at--;
    return at;
}

static size_t line_end(const mbtui_editor *e, size_t at)
{
    while (at < e->len && e->buf[at] != '\n')
        at++;
    return at;
}

int mbtui_editor_lines(const mbtui_editor *e)
{
    int n = 1;
    for (size_t i = 0; i < e->len; i++)
        n += e->buf[i] == '\n';
    return n;
}

const char *mbtui_editor_line(const mbtui_editor *e, int i, size_t *len)
{
    size_t p = 0;
    for (int l = 0; l < i; l++) {
        p = line_end(e, p);
        if (p >= e->len)
            return NULL;
        p++;
    }
    *len = line_end(e, p) - p;
    return e->buf + p;
}

void mbtui_editor_cursor(const mbtui_editor *e, int *line, int *col)
{
    int l = 0, c = 0;
    size_t s = line_start(e, e->cur);
    for (size_t i = 0; i < s; i++)
        l += e->buf[i] == '\n';
    for (size_t i = s; i < e->cur; i += char_len(e->buf + i, e->cur - i))
        c++;
    *line = l;
    *col = c;
}

size_t mbtui_editor_cursor_byte(const mbtui_editor *e) { return e->cur; }

int mbtui_editor_cursor_x(const mbtui_editor *e)
{
    size_t s = line_start(e, e->cur);
    return mbtui_utf8_width(e->buf + s, e->cur - s);
}

/* To the line starting at s, at the display column nearest goal (not past it). */
static void to_column(mbtui_editor *e, size_t s, int goal)
{
    size_t end = line_end(e, s), i = s;
    int w = 0;
    while (i < end) {
        size_t k = char_len(e->buf + i, end - i);
        int cw = char_width(e->buf + i, k);
        if (w + cw > goal)
            break;
        w += cw;
        i += k;
    }
    e->cur = i;
}

static int is_word(unsigned char c) { return c >= 0x80 || c == '_' || (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z'); }

static void vertical(mbtui_editor *e, int lines)
{
    if (e->goal_x < 0)
        e->goal_x = mbtui_editor_cursor_x(e);
    size_t s = line_start(e, e->cur);
    for (; lines < 0 && s > 0; lines++)
        s = line_start(e, s - 1);
    for (; lines > 0; lines--) {
        size_t end = line_end(e, s);
        if (end >= e->len)
            break;
        s = end + 1;
    }
    to_column(e, s, e->goal_x);
}

void mbtui_editor_move(mbtui_editor *e, int op, int page)
{
    e->typing = 0;
    if (page < 1)
        page = 1;
    switch (op) {
    case MBTUI_ED_UP: vertical(e, -1); return;
    case MBTUI_ED_DOWN: vertical(e, 1); return;
    case MBTUI_ED_PGUP: vertical(e, -page); return;
    case MBTUI_ED_PGDN: vertical(e, page); return;
    }
    e->goal_x = -1;
    switch (op) {
    case MBTUI_ED_LEFT: e->cur = prev_char(e->buf, e->cur); break;
    case MBTUI_ED_RIGHT:
        if (e->cur < e->len)
            e->cur += char_len(e->buf + e->cur, e->len - e->cur);
        break;
    case MBTUI_ED_HOME: e->cur = line_start(e, e->cur); break;
    case MBTUI_ED_END: e->cur = line_end(e, e->cur); break;
    case MBTUI_ED_TOP: e->cur = 0; break;
    case MBTUI_ED_BOTTOM: e->cur = e->len; break;
    case MBTUI_ED_WORD_LEFT:
        while (e->cur > 0 && !is_word((unsigned char)e->buf[e->cur - 1]))
            e->cur--;
        while (e->cur > 0 && is_word((unsigned char)e->buf[e->cur - 1]))
            e->cur--;
        break;
    case MBTUI_ED_WORD_RIGHT:
        while (e->cur < e->len && is_word((unsigned char)e->buf[e->cur]))
            e->cur++;
        while (e->cur < e->len && !is_word((unsigned char)e->buf[e->cur]))
            e->cur++;
        break;
    }
}

void mbtui_editor_goto(mbtui_editor *e, int line, int col)
{
    e->typing = 0;
    e->goal_x = -1;
    size_t s = 0;
    for (int l = 1; l < line; l++) {
        size_t end = line_end(e, s);
        if (end >= e->len)
            break;
        s = end + 1;
    }
    size_t end = line_end(e, s);
    for (int c = 1; c < col && s < end; c++)
        s += char_len(e->buf + s, end - s);
    e->cur = s;
}
