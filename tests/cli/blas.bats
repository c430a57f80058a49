#!/usr/bin/env bats
# The OpenBLAS kernel (src/core/blas.h): reported by --version and plugins,
# the user's OPENBLAS_CORETYPE kept, and the same models whichever kernel runs.
load helpers
bats_require_minimum_version 1.5.0

@test "blas: --version names the kernel, and plugins load that kernel" {
    run -0 env -u OPENBLAS_CORETYPE -u MOONBENCH_BLAS_CHOICE "$MB" --version
    [[ "${lines[1]}" =~ ^BLAS:\ OpenBLAS\ [0-9.]+,\ kernel\ ([A-Za-z0-9]+)\ \((the\ library\'s\ own\ choice|chosen\ by\ moonbench:\ the\ library\ would\ use\ [A-Za-z0-9]+\ on\ this\ CPU)\)$ ]]
    k="${BASH_REMATCH[1]}"
    # the OpenBLAS that the plugins load in the process runs the kernel reported
    run -0 env -u OPENBLAS_CORETYPE -u MOONBENCH_BLAS_CHOICE "$MB" plugins
    assert_output --partial "kernel $k ("
    assert_output --partial "loaded by the plugins: kernel $k"
}

@test "blas: a user's OPENBLAS_CORETYPE is kept and reported as the user's" {
    run -0 env -u MOONBENCH_BLAS_CHOICE OPENBLAS_CORETYPE=Haswell "$MB" --version
    [[ "${lines[1]}" == *", kernel Haswell (OPENBLAS_CORETYPE set by the user)" ]]
    run -0 env -u MOONBENCH_BLAS_CHOICE OPENBLAS_CORETYPE=Prescott "$MB" plugins
    assert_output --partial "loaded by the plugins: kernel Prescott"
}

@test "blas: the Lua module reports its choice (mb.blas_info)" {
    [ -f "${MOONBENCH_BUILD:-$ROOT/build}/lua/moonbench.so" ] || skip "no Lua module built"
    case "${MOONBENCH_BUILD:-$ROOT/build}" in
        */asan*) skip "an ASan-built Lua module cannot load into a stock lua5.4" ;;
    esac
    run -0 env -u OPENBLAS_CORETYPE -u MOONBENCH_BLAS_CHOICE LUA_CPATH="${MOONBENCH_BUILD:-$ROOT/build}/lua/?.so" \
        lua5.4 -e 'local b = require("moonbench").blas_info(); print(b.how, b.kernel); print(b.text)'
    v="$(env -u OPENBLAS_CORETYPE -u MOONBENCH_BLAS_CHOICE "$MB" --version | sed -n 2p)"
    assert_line --index 1 "$v"
    [[ "${lines[0]}" =~ ^(chosen|library)[[:space:]] ]]
}

# Predictions of a model fitted under each kernel, equal within 1e-4.
same_fit() {
    local T="$BATS_TEST_TMPDIR"
    env -u MOONBENCH_BLAS_CHOICE OPENBLAS_CORETYPE=Prescott "$MB" fit "$DATA/breast_cancer.h5" "$@" --seed 1 -o "$T/p.h5" 2>/dev/null
    env -u OPENBLAS_CORETYPE -u MOONBENCH_BLAS_CHOICE "$MB" fit "$DATA/breast_cancer.h5" "$@" --seed 1 -o "$T/c.h5" 2>/dev/null
    "$MB" score "$T/p.h5" "$DATA/breast_cancer.h5" -o "$T/p.csv" 2>/dev/null
    "$MB" score "$T/c.h5" "$DATA/breast_cancer.h5" -o "$T/c.csv" 2>/dev/null
    [ "$(wc -l <"$T/p.csv")" -gt 500 ]
    paste -d, "$T/p.csv" "$T/c.csv" | awk -F, 'NR > 1 { h = NF / 2; for (i = 1; i <= h; i++) {
        d = $i - $(i + h); if (d < 0) d = -d; if (d > 1e-4) { print "row " NR " column " i ": " $i " vs " $(i + h); bad = 1 } } }
        END { exit bad }'
}

@test "blas: the MLP fitted under Prescott and under the chosen kernel predicts the same" {
    same_fit -m mlp -p epochs=5
}

@test "blas: a linear model fitted under Prescott and under the chosen kernel predicts the same" {
    same_fit -m linear
}
