/*
** editor.h: the Pipeline tab's text editor, without curses: a UTF-8 text
** with a cursor, moves by characters (never bytes), lines and pages, and an
** undo log with redo. Unit-tested in tests/unit/test_tui_editor.c.
*/
#ifndef MBTUI_EDITOR_H
#define MBTUI_EDITOR_H

#include <stddef.h>

typedef struct mbtui_editor mbtui_editor;

enum {
    MBTUI_ED_LEFT, MBTUI_ED_RIGHT, MBTUI_ED_UP, MBTUI_ED_DOWN, MBTUI_ED_HOME, MBTUI_ED_END,
    MBTUI_ED_PGUP, MBTUI_ED_PGDN, MBTUI_ED_TOP, MBTUI_ED_BOTTOM, MBTUI_ED_WORD_LEFT, MBTUI_ED_WORD_RIGHT
};

mbtui_editor *mbtui_editor_new(const char *text);
void mbtui_editor_free(mbtui_editor **e);
/* The whole text (NUL-terminated, owned by the editor, valid until the next edit). */
const char *mbtui_editor_text(const mbtui_editor *e);
size_t mbtui_editor_len(const mbtui_editor *e);
/* Replace the whole text (one undoable step); the cursor goes to the start. */
void mbtui_editor_set_text(mbtui_editor *e, const char *text);
/* Insert UTF-8 text at the cursor (typing: runs of characters undo together). */
void mbtui_editor_insert(mbtui_editor *e, const char *text);
/* Insert the character of code point cp (as typed). */
void mbtui_editor_insert_char(mbtui_editor *e, unsigned cp);
void mbtui_editor_backspace(mbtui_editor *e);
void mbtui_editor_delete(mbtui_editor *e);
/* MBTUI_ED_*; page is the number of lines a page moves. */
void mbtui_editor_move(mbtui_editor *e, int op, int page);
/* Line and column from 1 (the column counts characters); clamped. */
void mbtui_editor_goto(mbtui_editor *e, int line, int col);
/* 1 when something was undone / redone. */
int mbtui_editor_undo(mbtui_editor *e);
int mbtui_editor_redo(mbtui_editor *e);

/* Where the cursor is: line and character column, both from 0; its byte offset. */
void mbtui_editor_cursor(const mbtui_editor *e, int *line, int *col);
size_t mbtui_editor_cursor_byte(const mbtui_editor *e);
/* Terminal columns from the start of the cursor's line to the cursor. */
int mbtui_editor_cursor_x(const mbtui_editor *e);
int mbtui_editor_lines(const mbtui_editor *e);
/* Line i (from 0): its first byte and length without the newline; NULL past the end. */
const char *mbtui_editor_line(const mbtui_editor *e, int i, size_t *len);
/* Edits since the text was set (or marked saved); mark clears it. */
int mbtui_editor_modified(const mbtui_editor *e);
void mbtui_editor_mark_saved(mbtui_editor *e);

/* Terminal columns of n bytes of UTF-8 (invalid bytes count 1, wide characters 2). */
int mbtui_utf8_width(const char *s, size_t n);
/* The first byte of s (n bytes) at or after display column cols. */
size_t mbtui_utf8_skip_cols(const char *s, size_t n, int cols);

#endif
