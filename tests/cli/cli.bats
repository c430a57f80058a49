#!/usr/bin/env bats
# The command line itself: help generated from the command table for every
# command, usage errors (exit 2), strict numbers for --threads and --seed.
load helpers

COMMANDS="inspect import plugins fit predict evaluate compare tune run"

@test "help: lists every command and says where the manual is" {
    run mb help
    assert_success
    for c in $COMMANDS; do assert_line --regexp "^  $c +[a-z]"; done
    assert_output --partial "moonbench help COMMAND (or moonbench COMMAND --help)"
    # from the build tree the page is not installed yet: the source copy is named
    assert_output --partial "man -l $ROOT/docs/moonbench.1"
    [ -f "$ROOT/docs/moonbench.1" ]
    # installed (make install's layout): plain man moonbench
    mkdir -p "$BATS_TEST_TMPDIR/p/bin" "$BATS_TEST_TMPDIR/p/share/man/man1"
    cp "$MB" "$BATS_TEST_TMPDIR/p/bin/moonbench"
    cp "$ROOT/docs/moonbench.1" "$BATS_TEST_TMPDIR/p/share/man/man1/"
    run "$BATS_TEST_TMPDIR/p/bin/moonbench" help
    assert_success
    assert_output --partial "The manual: man moonbench ($BATS_TEST_TMPDIR/p/bin/../share/man/man1/moonbench.1)"
}

@test "help CMD, CMD --help, CMD ... --help: usage, every option and an example" {
    for c in $COMMANDS; do
        run mb help "$c"
        assert_success
        assert_line --index 0 --regexp "^moonbench $c: "
        assert_output --partial "usage: moonbench $c"
        assert_output --partial "example:"
        assert_output --partial "moonbench $c"
        help="$output"
        run mb "$c" --help
        assert_success
        [ "$output" = "$help" ]
    done
    run mb fit "$DATA/iris.h5" -m linear --help
    assert_success
    assert_output --partial "options:"
    # every option of fit has a line
    for o in -m -p -t --pipeline --prep --test --cv --valid --target --weights --task --threads --seed -o; do
        assert_line --regexp "^  $o( |$)"
    done
    # run: options after the script belong to the script
    printf 'print(arg[1])\n' > "$BATS_TEST_TMPDIR/a.lua"
    run mb run "$BATS_TEST_TMPDIR/a.lua" --help
    assert_success
    assert_output "--help"
    run mb help nope
    assert_failure 2
    assert_output --partial "no command 'nope'"
}

@test "help: the man page documents every command" {
    for c in $COMMANDS help; do grep -q "^\.B $c\$" "$ROOT/docs/moonbench.1" || { echo "no $c"; false; }; done
    if command -v man >/dev/null; then
        run man -l "$ROOT/docs/moonbench.1"
        assert_success
        assert_output --partial "mb.compare"
    fi
}

@test "usage errors exit 2: unknown options, bad -p, bad -t, conflicting options" {
    run mb fit "$DATA/iris.h5" -m linear --bogus -o "$BATS_TEST_TMPDIR/x.h5"
    assert_failure 2
    assert_output --partial "usage: moonbench fit"
    run mb fit "$DATA/iris.h5" -m linear -p alpha=-3 -o "$BATS_TEST_TMPDIR/x.h5"
    assert_failure 2
    assert_output --partial "alpha"
    run mb fit "$DATA/iris.h5" -m linear --test 0.2 --cv 5 -o "$BATS_TEST_TMPDIR/x.h5"
    assert_failure 2
    assert_output --partial "--test and --cv"
    run mb fit "$DATA/iris.h5" -m linear --prep maybe -o "$BATS_TEST_TMPDIR/x.h5"
    assert_failure 2
    run mb fit "$DATA/iris.h5" -m linear --test 1.5 -o "$BATS_TEST_TMPDIR/x.h5"
    assert_failure 2
    run mb evaluate "$DATA/iris.h5"
    assert_failure 2
    run mb compare "$DATA/iris.h5" -p alpha=1
    assert_failure 2
    assert_output --partial "name the model first"
    run mb tune "$DATA/iris.h5" -m linear
    assert_failure 2
    assert_output --partial "--grid"
    run mb nope
    assert_failure 2
    [ ! -e "$BATS_TEST_TMPDIR/x.h5" ]
}

@test "--threads and --seed parse strictly; threads are capped at the machine's cores" {
    for bad in abc 0 -2 1.5 "" 4x; do
        run mb fit "$DATA/iris.h5" -m linear --threads "$bad" -o "$BATS_TEST_TMPDIR/x.h5"
        assert_failure 2
        assert_output --partial "--threads takes a whole number"
    done
    for bad in -1 1.5 abc "" 99999999999999999999999; do
        run mb fit "$DATA/iris.h5" -m linear --seed "$bad" -o "$BATS_TEST_TMPDIR/x.h5"
        assert_failure 2
        assert_output --partial "--seed takes a whole number"
    done
    # 100000 threads asked: capped, so this finishes at once and the same as 1 thread
    run mb fit "$DATA/breast_cancer.h5" -m forest -p n_trees=20 --threads 100000 --seed 18446744073709551615 -o "$BATS_TEST_TMPDIR/a.h5"
    assert_success
    many="$(echo "$output" | grep '^training')"
    run mb fit "$DATA/breast_cancer.h5" -m forest -p n_trees=20 --threads 1 --seed 18446744073709551615 -o "$BATS_TEST_TMPDIR/b.h5"
    assert_success
    [ "$(echo "$output" | grep '^training')" = "$many" ]
    # the same rules in Lua's model:fit
    printf 'local mb = require "moonbench"\nlocal f = mb.open("datasets/iris.h5")\nfor _, o in ipairs{{threads = 0}, {seed = -1}, {seed = 1.5}} do print((pcall(mb.model("linear").fit, mb.model("linear"), f, o))) end\nprint(mb.model("linear"):fit(f, {threads = 100000}):info().fitted)\n' > "$BATS_TEST_TMPDIR/t.lua"
    cd "$ROOT"
    run mb run "$BATS_TEST_TMPDIR/t.lua"
    assert_success
    assert_output "$(printf 'false\nfalse\nfalse\ntrue')"
    run mb compare "$DATA/iris.h5" -m linear -m knn --threads abc
    assert_failure 2
    run mb tune "$DATA/iris.h5" -m linear --grid alpha=1 --seed -4
    assert_failure 2
}
