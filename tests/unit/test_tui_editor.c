/*
** test_tui_editor.c: the Pipeline tab's editor (src/tui/editor.c) without a
** terminal: UTF-8 text edited a character at a time (never a byte), wide
** characters two columns, line and page moves keeping the column, undo and
** redo of grouped edits back to the exact earlier texts, go to line.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <locale.h>
#include <string.h>

#include "editor.h"

static void cursor_is(const mbtui_editor *e, int line, int col)
{
    int l, c;
    mbtui_editor_cursor(e, &l, &c);
    assert_int_equal(l, line);
    assert_int_equal(c, col);
}

static void typing_moving_deleting(void **state)
{
    (void)state;
    mbtui_editor *e = mbtui_editor_new("");
    mbtui_editor_insert(e, "print(1)");
    mbtui_editor_insert_char(e, '\r'); /* Enter is a newline */
    mbtui_editor_insert(e, "x = 2");
    assert_string_equal(mbtui_editor_text(e), "print(1)\nx = 2");
    assert_int_equal(mbtui_editor_lines(e), 2);
    cursor_is(e, 1, 5);
    mbtui_editor_move(e, MBTUI_ED_UP, 1);
    cursor_is(e, 0, 5);
    mbtui_editor_move(e, MBTUI_ED_END, 1);
    cursor_is(e, 0, 8);
    mbtui_editor_move(e, MBTUI_ED_DOWN, 1); /* the shorter line: its end */
    cursor_is(e, 1, 5);
    mbtui_editor_move(e, MBTUI_ED_HOME, 1);
    mbtui_editor_backspace(e); /* joins the lines */
    assert_string_equal(mbtui_editor_text(e), "print(1)x = 2");
    mbtui_editor_delete(e);
    assert_string_equal(mbtui_editor_text(e), "print(1) = 2");
    mbtui_editor_move(e, MBTUI_ED_TOP, 1);
    mbtui_editor_move(e, MBTUI_ED_WORD_RIGHT, 1);
    assert_int_equal(mbtui_editor_cursor_byte(e), 6); /* after "print(" */
    mbtui_editor_move(e, MBTUI_ED_WORD_LEFT, 1);
    assert_int_equal(mbtui_editor_cursor_byte(e), 0);
    mbtui_editor_move(e, MBTUI_ED_LEFT, 1); /* at the start: stays */
    assert_int_equal(mbtui_editor_cursor_byte(e), 0);
    mbtui_editor_free(&e);
    assert_null(e);
}

static void utf8_a_character_per_step(void **state)
{
    (void)state;
    /* é is 2 bytes, 日 3 bytes and 2 columns wide, 🙂 4 bytes and 2 columns */
    mbtui_editor *e = mbtui_editor_new("aé日🙂b");
    mbtui_editor_move(e, MBTUI_ED_END, 1);
    cursor_is(e, 0, 5);
    assert_int_equal(mbtui_editor_cursor_x(e), 1 + 1 + 2 + 2 + 1);
    mbtui_editor_move(e, MBTUI_ED_LEFT, 1);
    mbtui_editor_move(e, MBTUI_ED_LEFT, 1);
    cursor_is(e, 0, 3);
    assert_int_equal(mbtui_editor_cursor_byte(e), 1 + 2 + 3);
    assert_int_equal(mbtui_editor_cursor_x(e), 4);
    mbtui_editor_backspace(e); /* the whole of 日 */
    assert_string_equal(mbtui_editor_text(e), "aé🙂b");
    mbtui_editor_delete(e); /* the whole of 🙂 */
    assert_string_equal(mbtui_editor_text(e), "aéb");
    mbtui_editor_insert_char(e, 0x00FC); /* ü typed as a code point */
    mbtui_editor_insert_char(e, 0x4E2D); /* 中 */
    assert_string_equal(mbtui_editor_text(e), "aéü中b");
    /* Up / Down aim at the display column: under 中 (columns 3-4) on a line of wide characters */
    mbtui_editor_set_text(e, "日本語\nabcdef");
    mbtui_editor_goto(e, 2, 5); /* before 'e': display column 4 */
    mbtui_editor_move(e, MBTUI_ED_UP, 1);
    cursor_is(e, 0, 2); /* before 語, which starts at column 4 */
    assert_int_equal(mbtui_utf8_width("日本語", strlen("日本語")), 6);
    assert_int_equal(mbtui_utf8_skip_cols("日本語", strlen("日本語"), 3), 6); /* past 本, not half of it */
    mbtui_editor_free(&e);
}

static void undo_redo_groups(void **state)
{
    (void)state;
    mbtui_editor *e = mbtui_editor_new("x = 1\n");
    assert_false(mbtui_editor_modified(e));
    mbtui_editor_move(e, MBTUI_ED_BOTTOM, 1);
    mbtui_editor_insert(e, "y");
    mbtui_editor_insert(e, " = 2"); /* typed on: one step with "y" */
    mbtui_editor_move(e, MBTUI_ED_LEFT, 1);
    mbtui_editor_backspace(e);
    mbtui_editor_backspace(e); /* two backspaces: one step */
    assert_string_equal(mbtui_editor_text(e), "x = 1\ny 2");
    assert_true(mbtui_editor_modified(e));
    assert_true(mbtui_editor_undo(e));
    assert_string_equal(mbtui_editor_text(e), "x = 1\ny = 2");
    assert_int_equal(mbtui_editor_cursor_byte(e), strlen("x = 1\ny = "));
    assert_true(mbtui_editor_undo(e));
    assert_string_equal(mbtui_editor_text(e), "x = 1\n");
    assert_false(mbtui_editor_undo(e)); /* nothing more */
    assert_true(mbtui_editor_redo(e));
    assert_string_equal(mbtui_editor_text(e), "x = 1\ny = 2");
    assert_true(mbtui_editor_redo(e));
    assert_string_equal(mbtui_editor_text(e), "x = 1\ny 2");
    assert_false(mbtui_editor_redo(e));
    /* a new edit after an undo drops the redo */
    mbtui_editor_undo(e);
    mbtui_editor_insert(e, "!");
    assert_false(mbtui_editor_redo(e));
    /* replacing the whole text is one step, back to the exact text */
    char before[64];
    strcpy(before, mbtui_editor_text(e));
    mbtui_editor_set_text(e, "pipeline = nil\n");
    assert_string_equal(mbtui_editor_text(e), "pipeline = nil\n");
    assert_true(mbtui_editor_undo(e));
    assert_string_equal(mbtui_editor_text(e), before);
    mbtui_editor_mark_saved(e);
    assert_false(mbtui_editor_modified(e));
    mbtui_editor_free(&e);
}

static void goto_lines_and_pages(void **state)
{
    (void)state;
    mbtui_editor *e = mbtui_editor_new("one\ntwo\nthree\nfour\nfive\n");
    assert_int_equal(mbtui_editor_lines(e), 6); /* the empty line after the last newline */
    mbtui_editor_goto(e, 3, 1);
    cursor_is(e, 2, 0);
    size_t len;
    const char *l = mbtui_editor_line(e, 2, &len);
    assert_int_equal(len, 5);
    assert_memory_equal(l, "three", 5);
    assert_null(mbtui_editor_line(e, 6, &len));
    mbtui_editor_goto(e, 99, 99); /* clamped to the last line */
    cursor_is(e, 5, 0);
    mbtui_editor_goto(e, 1, 3);
    mbtui_editor_move(e, MBTUI_ED_PGDN, 3);
    cursor_is(e, 3, 2);
    mbtui_editor_move(e, MBTUI_ED_PGUP, 10);
    cursor_is(e, 0, 2);
    mbtui_editor_goto(e, 2, 99);
    cursor_is(e, 1, 3);
    mbtui_editor_free(&e);
}

int main(void)
{
    setlocale(LC_ALL, "C.UTF-8"); /* wcwidth of the wide characters */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(typing_moving_deleting),
        cmocka_unit_test(utf8_a_character_per_step),
        cmocka_unit_test(undo_redo_groups),
        cmocka_unit_test(goto_lines_and_pages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
