#!/usr/bin/env bats
# make install: the executable, plugins, plugin header, Lua module, docs and
# man page land under PREFIX and work from there; make uninstall removes them.
load helpers

setup() {
    case "$MB" in
        */asan/*) skip "an ASan-built Lua module cannot load into a stock lua5.4" ;;
    esac
    PREFIX="$BATS_TEST_TMPDIR/prefix"
    make -C "$ROOT" -s install PREFIX="$PREFIX" >/dev/null
}

@test "install: files in place, executable finds its plugins" {
    [ -x "$PREFIX/bin/moonbench" ]
    [ -f "$PREFIX/include/moonbench_plugin.h" ]
    [ -f "$PREFIX/share/man/man1/moonbench.1" ]
    [ -f "$PREFIX/share/doc/moonbench/model-format.md" ]
    [ -f "$PREFIX/lib/moonbench/plugins/linear.so" ]
    MOONBENCH_PLUGIN_PATH= run "$PREFIX/bin/moonbench" plugins
    assert_success
    assert_output --partial "$PREFIX/bin/../lib/moonbench/plugins/linear.so"
    # the man page renders (groff's checker, when man is installed)
    if command -v man >/dev/null; then
        run man -l "$PREFIX/share/man/man1/moonbench.1"
        assert_success
        # groff justifies lines with extra spaces: compare with single spaces
        echo "$output" | tr -s ' ' | grep -q "Run a Lua 5.4 script"
    fi
}

@test "install: a stock lua5.4 loads the module with require \"moonbench\"" {
    cd "$ROOT"
    LUA_CPATH="$PREFIX/lib/lua/5.4/?.so" run lua5.4 -e '
        local mb = require "moonbench"
        local f = mb.open("datasets/iris.h5")
        local p = mb.pipeline{ mb.standardize(), mb.model("linear") }:fit(f)
        print(mb.version, #f, mb.evaluate(p, f).accuracy > 0.9)'
    assert_success
    assert_output --regexp "^[0-9.]+	150	true$"
}

@test "install: a plugin built outside the tree against the installed header loads" {
    mkdir -p "$BATS_TEST_TMPDIR/oot"
    cp "$ROOT/plugins/template/template.c" "$BATS_TEST_TMPDIR/oot/"
    cd "$BATS_TEST_TMPDIR/oot"
    # the line docs/plugins.md gives, with only the installed header
    run cc -shared -fPIC -I"$PREFIX/include" -o knn.so template.c -lm
    assert_success
    MOONBENCH_PLUGIN_PATH="$BATS_TEST_TMPDIR/oot" run "$PREFIX/bin/moonbench" plugins
    assert_success
    assert_output --partial "$BATS_TEST_TMPDIR/oot/knn.so"
    assert_output --partial "model knn (regression, binary, multiclass)"
    MOONBENCH_PLUGIN_PATH="$BATS_TEST_TMPDIR/oot" run "$PREFIX/bin/moonbench" fit "$DATA/iris.h5" -m knn -o m.h5
    assert_success
    assert_output --regexp "training: accuracy 0\.9"
}

@test "uninstall removes everything it installed" {
    make -C "$ROOT" -s uninstall PREFIX="$PREFIX" >/dev/null
    [ -z "$(find "$PREFIX" -type f)" ]
}
