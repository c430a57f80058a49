#!/usr/bin/env bats
# The workbench's Pipeline tab in a real terminal (tmux): steps from the
# menus and their option forms, trained with the metrics of `moonbench fit`
# on the same pipeline (the oracle); the built-in editor (UTF-8 typing,
# deleting, undo, redo, save); running the script, an error's line and J;
# $EDITOR; a runaway loop stopped while the UI stays live; the session
# replayed headless.
bats_require_minimum_version 1.5.0
load tui_helpers

# the accuracy moonbench fit reports on its held-out rows
cli_accuracy() {
    "$MB" fit "$@" --test 0.25 --seed 1 -o "$BATS_TEST_TMPDIR/cli.h5" 2>&1 | sed -n 's/^test: accuracy \([0-9.]*\),.*/\1/p'
}

@test "a pipeline built from the menus (add, set an option, reorder, delete) trains as moonbench fit does" {
    tui_start datasets/table/credit_g.h5
    wait_for "1000 rows"
    keys 2
    wait_for "pipeline steps"
    keys a
    wait_for "add a transform"
    keys Enter                      # standardize
    wait_for "standardize options"
    keys Enter
    wait_for "1. standardize"
    keys a Down Down Down Enter     # onehot, with a refused option first
    wait_for "onehot options"
    type_text "unknown=bogus"
    keys Enter
    wait_for "unknown must be 'ignore' or 'error', not 'bogus'"
    for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13; do keys BSpace; done
    keys Enter
    wait_for "2. onehot"
    # its form: the options onehot takes, generated from the option table
    keys Enter
    wait_for "onehot: options"
    screen | grep -q "unknown .*(default)"
    if screen | grep -q "strategy"; then false; fi
    keys Down Enter
    wait_for "unknown (levels unseen"
    type_text ignore
    keys Enter
    wait_for "2. onehot:unknown=ignore"
    wait_for 'mb.transform_new("onehot", { unknown = "ignore" })'
    # a third step, deleted again; then onehot moved before standardize
    keys a Down Enter Enter
    wait_for "3. minmax"
    keys d
    wait_gone "3. minmax"
    keys Up '<'
    wait_for "1. onehot:unknown=ignore"
    wait_for "2. standardize"
    wait_for "-> model: linear/linear"
    keys 3 r
    wait_for "run 1 (linear) done"
    want=$(cli_accuracy datasets/table/credit_g.h5 -m linear -t onehot:unknown=ignore -t standardize)
    [ -n "$want" ]
    keys 4
    wait_for "$want"
    board_row 1 | grep -q " $want "
    # the saved session replays headless with the same figure
    keys W
    wait_for "save session to:"
    keys Enter
    wait_for "session saved to session.lua"
    run "$MB" run session.lua
    assert_success
    assert_output --partial "run1: accuracy=$want"
    grep -q 'mb.transform_new("onehot", { unknown = "ignore" }), mb.transform_new("standardize")' session.lua
}

@test "the built-in editor: UTF-8 typing, delete, undo, redo, save; the script runs and prints" {
    tui_start datasets/iris.h5
    wait_for "150 rows"
    keys 2 E
    wait_for "editing line 1, col 1"
    # the script as generated is a pipeline file that moonbench fit takes
    keys C-s
    wait_for "save the script to: pipeline.lua"
    keys Enter
    wait_for "script saved to pipeline.lua"
    run "$MB" fit datasets/iris.h5 --pipeline pipeline.lua -o "$BATS_TEST_TMPDIR/p.h5"
    assert_success
    assert_output --partial "fitted linear"
    type_text 'print("日本 " .. #data) -- wörld'
    keys Enter
    keys Up End
    wait_for "editing line 1, col 31"          # characters, not bytes (日 is 3, ö 2)
    screen | grep -qF '  1 print("日本 " .. #data) -- wörld'
    for _ in 1 2 3 4 5; do keys BSpace; done  # the five characters of wörld
    wait_for "editing line 1, col 26"
    screen | grep -qF '  1 print("日本 " .. #data) --'
    if screen | grep -qF 'wörld'; then false; fi
    keys C-z
    wait_for '  1 print("日本 " .. #data) -- wörld'
    keys C-y
    wait_gone 'wörld'
    keys C-z
    wait_for 'wörld'
    keys C-s
    wait_for "save the script to: pipeline.lua"    # the last path is offered
    for _ in 1 2 3 4 5 6 7 8 9 10 11 12; do keys BSpace; done
    type_text edited.lua
    keys Enter
    wait_for "script saved to edited.lua"
    [ "$(head -1 edited.lua)" = 'print("日本 " .. #data) -- wörld' ]
    grep -q '^return mb.pipeline {$' edited.lua
    grep -q '^  mb.model("linear"),$' edited.lua
    keys Escape R
    wait_for "日本 150"
    wait_for "script 1 ran; its pipeline (script1)"
}

@test "a script with an error on line 3 says so, and J puts the cursor on that line" {
    tui_start datasets/iris.h5
    wait_for "150 rows"
    keys 2 E
    wait_for "editing line 1"
    type_text "local x = 1"
    keys Enter
    type_text "local y = x + 1"
    keys Enter
    type_text "nosuch.call(y)"
    keys Enter
    wait_for "editing line 4, col 1"
    keys Escape R
    wait_for "error at line 3 (J jumps there)"
    screen | grep -q "script:3: attempt to index a nil value (global 'nosuch')"
    keys J
    wait_for "editing line 3, col 1"
    # the UI goes on: the tab works, the session did not record the failed script
    keys Escape L
    wait_for "session (the Lua of every action"
    keys W
    wait_for "save session to:"
    keys Enter
    wait_for "session saved"
    if grep -q "nosuch.call" session.lua; then false; fi
}

@test "\$EDITOR edits the script (a failing editor leaves it unchanged); the script's model is the next training's" {
    printf '#!/bin/sh\nif [ -e once ]; then sed -i "s/mb.model(\\"linear\\")/mb.model(\\"knn\\", { n_neighbors = 7 })/" "$1"; else touch once; exit 3; fi\n' >ed.sh
    chmod +x ed.sh
    tui_start EDITOR="$BATS_TEST_TMPDIR/ed.sh" datasets/iris.h5
    wait_for "150 rows"
    keys 2 V
    wait_for "exited with status 3: the text is unchanged"
    screen | grep -qF 'mb.model("linear")'
    keys V
    wait_for 'mb.model("knn", { n_neighbors = 7 })'
    keys R
    wait_for "script 1 ran; its pipeline (script1)"
    wait_for "-> model: template/knn n_neighbors=7"
    keys 3
    wait_for "template/knn"
    keys r
    wait_for "run 1 (knn) done"
    keys W
    wait_for "save session to:"
    keys Enter
    wait_for "session saved"
    grep -q 'script1 = pipeline' session.lua
    run "$MB" run session.lua
    assert_success
    want=$(cli_accuracy datasets/iris.h5 -m knn -p n_neighbors=7)
    [ -n "$want" ]
    assert_output --partial "run1: accuracy=$want"
}

@test "a runaway loop is stopped by the time limit or by x, and input stays live meanwhile" {
    tui_start MOONBENCH_TUI_LUA_SECONDS=4 datasets/iris.h5
    wait_for "150 rows"
    keys 2 E
    type_text "while true do end"
    keys Enter Escape R
    wait_for "script 1 running"
    keys 1                          # the UI answers while the loop runs
    wait_for "sepal length (cm)"
    keys 2
    wait_for "ran past 4.0 s"
    keys R
    wait_for "script 2 running"
    keys x
    wait_for "stopped by the user (x)"
    keys :
    type_text "#data"
    keys Enter
    wait_for "= 150"
    keys q
    wait_for "[exit 0]"
}

@test "a script's Lua transform becomes a step of the list; the run trains, loads back and replays" {
    cat >lt.lua <<'LUA'
local mb = require "moonbench"
return mb.pipeline {
  mb.lua_transform([[return { apply = function(s, f) return f end }]]),
  mb.transform_new("clip", { lo = 0, hi = 7 }),
  mb.model("knn", { n_neighbors = 3 }),
}
LUA
    printf '#!/bin/sh\ncp "%s/lt.lua" "$1"\n' "$BATS_TEST_TMPDIR" >ed.sh
    chmod +x ed.sh
    tui_start EDITOR="$BATS_TEST_TMPDIR/ed.sh" datasets/iris.h5
    wait_for "150 rows"
    keys 2 V
    wait_for 'mb.lua_transform'
    keys R
    wait_for "1. lua (script1.steps[1]:clone())"
    wait_for "2. clip:lo=0:hi=7"          # read back from the transform's options
    wait_for "-> model: template/knn n_neighbors=3"
    keys 3 r
    wait_for "run 1 (knn) done"
    keys :
    type_text '#run1:predict(data)'
    keys Enter
    wait_for "= 150"
    keys W
    wait_for "save session to:"
    keys Enter
    wait_for "session saved"
    run "$MB" run session.lua
    assert_success
    want=$(cli_accuracy datasets/iris.h5 -m knn -p n_neighbors=3 -t clip:lo=0:hi=7)
    [ -n "$want" ]
    assert_output --partial "run1: accuracy=$want"
}
