#!/usr/bin/env bats
# The workbench (src/tui) driven in a real terminal: tmux on a private
# socket, keys sent with send-keys, the screen read with capture-pane and
# polled for the expected text with a bounded wait (longer under ASan).
# Screens that matter are compared with tests/tui/*.screen (tig's way).
bats_require_minimum_version 1.5.0
load tui_helpers

@test "no terminal, TERM=dumb: a clear message and exit status 2" {
    run "$MB" datasets/ </dev/null
    assert_failure 2
    assert_output --partial "needs a terminal"
    tui_start TERM=dumb datasets/
    wait_for "[exit 2]"
    screen | grep -q "TERM is 'dumb'"
    run "$MB" frobnicate
    assert_failure 2
    assert_output --partial "unknown command 'frobnicate'"
}

@test "opens the bundled datasets and browses an HDF5 file's tree" {
    tui_start datasets/
    wait_for "nested_example.h5"
    snapshot start
    find nested
    keys Right
    wait_for "▾ meta/"
    wait_for "@class_names ="
    # a group inside opens as a table: /train (X with its y)
    find train/
    wait_for "X  float64 426x30"
    keys Enter
    wait_for "nested_example.h5:/train  426 rows x 31 columns"
}

@test "a table reads the rows on screen: page down, go to row, frozen first column, horizontal scroll" {
    open_iris
    keys Escape
    wait_gone "opened datasets"
    keys t
    wait_gone "▾ datasets/"
    snapshot iris-table
    keys PgDn
    wait_for "$(printf '%-5s' 30)"
    keys g
    wait_for "go to row:"
    type_text 150
    keys Enter
    wait_for "datasets/iris.h5"
    screen | grep -Eq "^150 +5.9 │ +3 +5.1 +1.8"
    # scroll right past the frame: sepal length stays (frozen), target shows
    keys Right Right Right Right
    screen | grep -q "sepal length (cm) │"
    wait_for "virginica"
    keys g
    type_text 999
    keys Enter
    wait_for "not a row number in 1..150"
}

@test "column statistics and a histogram, computed in the background, match the core's" {
    open_iris
    run "$MB" run <(echo 'local f = require("moonbench").open("datasets/iris.h5")
      local d = f:describe()[3]
      print(string.format("mean %.6g", d.mean)); print(string.format("std %.6g", d.std))')
    assert_success
    mean=$(echo "$output" | sed -n 's/^mean //p')
    std=$(echo "$output" | sed -n 's/^std //p')
    keys Right Right s
    wait_for "petal length (cm) (numeric): 150 values, 0 missing"
    wait_for "mean  $mean"
    wait_for "std   $std"
    screen | grep -q "max   6.9"
    screen | grep -q "█"
}

@test "a frequency table for a categorical column (pandas table)" {
    tui_start datasets/table/vote.h5
    wait_for "435 rows"
    run "$MB" run <(echo 'local f = require("moonbench").open("datasets/table/vote.h5")
      local c = f:col("crime")
      print(string.format("%d %d %d", c:eq("y"):sum(), c:eq("n"):sum(), #c - c:count()))')
    assert_success
    read -r yes no missing <<<"$output"
    keys /
    wait_for "column:"
    type_text crime
    keys Enter s
    wait_for "crime (categorical): $((yes + no)) values, $missing missing, 2 distinct levels"
    screen | grep -Eq "^y +$yes "
    screen | grep -Eq "^n +$no "
}

@test "trains two models with progress, leaderboard and metrics; the saved session replays them headless" {
    open_iris
    keys 3
    wait_for "linear/linear"
    keys r
    wait_for "run 1 (linear) done"
    # knn with a parameter changed through the form (validated inline)
    find knn
    wait_for "knn: k-nearest"
    keys Right Enter
    wait_for "n_neighbors = 5"
    keys BSpace
    type_text 0
    keys Enter
    wait_for "out of range"
    keys Enter BSpace BSpace
    type_text 7
    keys Enter
    wait_gone "out of range"
    keys r
    wait_for "run 2 (knn) done"
    keys 4
    wait_for "n_neighbors=7"
    acc1=$(board_row 1 | awk '{print $5}')
    acc2=$(board_row 2 | awk '{print $5}')
    echo "$acc1 $acc2" | grep -Eq '^0\.[0-9]{4} 0\.[0-9]{4}$'
    wait_for "confusion (rows: true"
    keys W
    wait_for "save session to: session.lua"
    keys Enter
    wait_for "session saved to session.lua"
    run "$MB" run session.lua
    assert_success
    assert_output --partial "run1: accuracy=$acc1"
    assert_output --partial "run2: accuracy=$acc2"
    grep -q 'mb.model("knn", { n_neighbors = 7 })' session.lua
    # nothing is unsaved now: q quits at once
    keys q
    wait_for "[exit 0]"
}

@test "cancel a long training; a crashing plugin is a failed run naming the signal, and the UI stays up" {
    open_iris MOONBENCH_PLUGIN_PATH="$BATS_TEST_TMPDIR/plug"
    keys 3
    wait_for "crashy/sleepy"
    find sleepy
    keys r
    wait_for "sleeping"
    keys x
    wait_for "cancelled after" 10
    find crashy/crash
    keys r
    # SIGSEGV; under ASan the sanitizer's report ("SEGV on unknown address")
    wait_for "the plugin 'crashy' (model crash) crashed:"
    screen | grep "crashed:" | grep -q SEGV || { screen; false; }
    find aborts
    keys r
    wait_for "crashed: SIGABRT"
    # still working: train a real model after the crashes
    find linear/linear
    keys r
    wait_for "run 4 (linear) done"
    keys 4
    wait_for "cancelled"
    board_row 2 | grep -q failed
    board_row 4 | grep -q done
}

@test "compare two marked runs (corrected resampled t-test), export a bundle and score it with the CLI" {
    open_iris
    keys 3
    wait_for "linear/linear"
    keys r
    wait_for "run 1 (linear) done"
    find baseline
    keys r
    wait_for "run 2 (baseline) done"
    keys 4
    wait_for "baseline"
    keys Home m Down m c
    wait_for "comparison done" $((WAIT * 4))   # the message before it may be too quick to see
    keys End
    wait_for "run 3: comparison"
    screen | grep -q "run1"
    screen | grep -q "run2"
    screen | grep -Eq "p *[=<]|p-value| p "
    # export run 1
    keys Home S
    wait_for "save bundle to: run1.h5"
    keys Enter
    wait_for "saved run 1 to run1.h5"
    [ -s run1.h5 ]
    run --separate-stderr "$MB" predict run1.h5 datasets/iris.h5
    assert_success
    [ "$(echo "$output" | wc -l)" -eq 151 ]
}

@test "pipeline steps from the menu go into the next training; a Lua error is shown and the session goes on" {
    open_iris
    keys 2
    wait_for "pipeline steps"
    keys a
    wait_for "add a transform"
    keys Enter
    wait_for "standardize options"
    keys Enter
    wait_for '1. standardize'
    keys :
    type_text 'nosuch.call()'
    keys Enter
    wait_for "lua error:"
    keys :
    type_text '#data'
    keys Enter
    wait_for "= 150"
    keys 3 r
    wait_for "run 1 (linear) done"
    keys 2 L
    wait_for 'run1 = mb.pipeline { mb.transform_new("standardize"'
}

@test "help, command palette and a user key file generated from the one command table" {
    printf 'bind Z help\nbind F2 nosuch\n' >keys
    tui_start MOONBENCH_KEYS="$BATS_TEST_TMPDIR/keys" datasets/
    wait_for "keys:2: unknown command 'nosuch'"
    keys Escape
    wait_gone "unknown command"
    keys Z
    wait_for "Commands (Esc closes"
    snapshot help
    keys Escape C-p
    wait_for "command:"
    type_text savses
    wait_for "save-session"
    keys Enter
    wait_for "save session to:"
    keys Escape
}

@test "resize to 60x20 and back; quitting with unsaved runs asks first; SIGTERM restores the terminal" {
    open_iris
    tmux -L "$SOCK" resize-window -t t -x 60 -y 20
    wait_for "150 rows"
    screen | head -1 | grep -q "moonbench"
    [ "$(screen | wc -l)" -eq 20 ]
    tmux -L "$SOCK" resize-window -t t -x 100 -y 30
    wait_for "150 rows x 5 columns"
    [ "$(screen | wc -l)" -eq 30 ]
    keys 3 r
    wait_for "run 1 (linear) done"
    keys q
    wait_for "quit anyway? (y/n)"
    keys n
    wait_gone "quit anyway"
    pid=$(pgrep -n -f "$MB datasets/" || true)
    [ -n "$pid" ]
    kill -TERM "$pid"
    wait_for "moonbench: stopped by SIGTERM; the terminal was restored"
    wait_for "[exit 143]"
}

@test "a CSV file: choose the target and the evaluation plan, then train on them" {
    tui_start datasets/csv/iris.csv
    wait_for "150 rows x 5 columns  target: (none: T sets it)"
    keys 3 r
    wait_for "no target: in the Data tab"
    keys 1
    find target
    keys T
    wait_for "target: target;"
    keys e
    wait_for "plan (hold-out fraction or k=K, seed): 0.25 1"
    keys BSpace BSpace BSpace BSpace BSpace BSpace
    type_text "0.3 7"
    keys Enter
    wait_for "hold out 0.30 of the rows (seed 7)"
    keys 3 r
    wait_for "run 1 (linear) done"
    keys W Enter
    wait_for "session saved"
    grep -q 'data:set_target("target")' session.lua
    grep -q 'mb.split(data, { test = 0.29999999999999999, seed = 7, stratify = true })' session.lua
    run "$MB" run session.lua
    assert_success
    assert_output --partial "run1: accuracy="
}

@test "make run opens the workbench on datasets/ in a terminal" {
    local build=${BUILD_DIR#"$ROOT/"} san=0
    case "$build" in *asan*) san=1 ;; esac
    tmux -L "$SOCK" -f /dev/null new-session -d -x 100 -y 30 -s t \
        "cd '$ROOT' && make -s run BUILD='$build' SAN=$san; echo \"[exit \$?]\"; sleep 600"
    wait_for "nested_example.h5" $((WAIT * 4))
    wait_for "Choose a dataset in the tree"
    keys q
    wait_for "[exit 0]"
}

@test "a Lua line that runs too long is stopped; SIGHUP and a crash of the workbench restore the terminal" {
    open_iris MOONBENCH_TUI_LUA_SECONDS=1
    keys :
    type_text 'while true do end'
    keys Enter
    wait_for "stopped: the Lua ran past 1.0 s"
    keys :
    type_text '2 + 2'
    keys Enter
    wait_for "= 4"
    pid=$(pgrep -n -f "$MB datasets/")
    kill -HUP "$pid"
    wait_for "moonbench: stopped by SIGHUP; the terminal was restored"
    wait_for "[exit 129]"
    tmux -L "$SOCK" kill-server
    tui_start datasets/
    wait_for "nested_example.h5"
    pid=$(pgrep -n -f "$MB datasets/")
    kill -SEGV "$pid"
    wait_for "moonbench: the workbench crashed (SIGSEGV); the terminal was restored"
    wait_for "[exit 139]"
}

@test "a file the workbench cannot read says why, and its tree offers the objects inside" {
    cp "$FIX/bad_codes.h5" "$FIX/types.h5" "$FIX/zero_rows.h5" .
    tui_start bad_codes.h5
    wait_for "bad_codes.h5:/y: class code 5 in row 2 is outside target_names (2 names)"
    keys q
    wait_for "[exit 0]"
    tmux -L "$SOCK" kill-server
    tui_start zero_rows.h5
    wait_for "zero_rows.h5:/X: the dataset has zero rows"
    keys q
    wait_for "[exit 0]"
    tmux -L "$SOCK" kill-server
    tui_start types.h5
    wait_for "no X dataset or pandas table here"
    find col_f4
    keys Enter
    wait_for "types.h5:/col_f4  4 rows x 1 columns"
    keys s
    wait_for "(numeric): 4 values"
}

@test "colours, and the monochrome look with NO_COLOR" {
    tui_start datasets/iris.h5
    wait_for "150 rows"
    tmux -L "$SOCK" capture-pane -e -p -t t | grep -q $'\e\\[3[0-7]m'
    tmux -L "$SOCK" kill-server
    tui_start NO_COLOR=1 datasets/iris.h5
    wait_for "150 rows"
    run tmux -L "$SOCK" capture-pane -e -p -t t
    echo "$output" | grep -q $'\e\\[7m'            # reverse video for the tab and the cursor
    if echo "$output" | grep -q $'\e\\[[34][0-7]m'; then false; fi  # and no colour at all
}

@test "a session killed with its terminal is kept: the next start says where its Lua is" {
    open_iris
    keys 3 r
    wait_for "run 1 (linear) done"
    tmux -L "$SOCK" kill-server   # the terminal goes: SIGHUP
    local end=$((SECONDS + WAIT))
    while pgrep -f "$MB datasets/" >/dev/null && ((SECONDS < end)); do sleep 0.2; done
    tui_start datasets/
    wait_for "the last session did not end cleanly"
    rec=$(ls "$HOME"/.local/state/moonbench/recovered-*.lua)
    grep -q 'run1 = mb.pipeline { mb.model("linear") }' "$rec"
    run "$MB" run "$rec"
    assert_success
    assert_output --partial "run1: accuracy=0.9737"
    # a clean quit leaves no journal behind
    keys q
    wait_for "[exit 0]"
    [ -z "$(ls "$HOME"/.local/state/moonbench/ | grep journal- || true)" ]
}

@test "a k-fold plan: cross-validated mean and std per metric, the bundle fitted on all rows" {
    open_iris
    keys e
    wait_for "plan (hold-out fraction or k=K, seed): 0.25 1"
    keys BSpace BSpace BSpace BSpace BSpace BSpace
    type_text "k=3 1"
    keys Enter
    wait_for "plan: 3-fold cross-validation (seed 1)"
    keys 3 r
    wait_for "run 1 (linear) done"
    keys 4
    wait_for "done (cv)"
    wait_for "cross-validated metrics (mean ± std over the folds)"
    acc=$(screen | sed -n 's/^accuracy  *\([0-9.]*\) ± \([0-9.]*\).*/\1+-\2/p' | head -1)
    [ -n "$acc" ]
    keys S Enter
    wait_for "saved run 1 to run1.h5"
    keys W Enter
    wait_for "session saved"
    run "$MB" run session.lua
    assert_success
    assert_output --partial "run1: accuracy=$acc"
    run "$MB" predict run1.h5 datasets/iris.h5
    assert_success
}
