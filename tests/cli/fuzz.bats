#!/usr/bin/env bats
# The libFuzzer targets of tests/fuzz, each run once over its seed corpus
# and over the regression inputs of every crash fixed (tests/fuzz/
# regressions/T): a crash, a leak or a sanitizer report fails the test.
# The targets are built by `make fuzz-build` (part of `make test`) into
# build/fuzz; without them these tests are skipped. They run with the
# normal build's suite only (the targets carry their own sanitizers).

load helpers

FUZZ="$ROOT/build/fuzz"

run_target() {
    local t=$1
    [[ "${MOONBENCH_BUILD:-build}" != *asan* ]] || skip "run with the normal build's suite"
    [ -x "$FUZZ/fuzz_$t" ] || skip "build/fuzz/fuzz_$t not built (make fuzz-build)"
    local work="$BATS_TEST_TMPDIR/work"
    mkdir -p "$work" "$BATS_TEST_TMPDIR/empty"
    cp "$DATA/iris.h5" "$DATA/csv/iris.csv" "$work/"
    cd "$work"
    # -runs=0: every corpus input once, no mutation: the result is the same each time
    LSAN_OPTIONS="suppressions=$ROOT/tests/fuzz/lsan.supp" TMPDIR="$BATS_TEST_TMPDIR" \
        run timeout 300 "$FUZZ/fuzz_$t" -runs=0 -timeout=30 -close_fd_mask=1 \
        -artifact_prefix="$BATS_TEST_TMPDIR/" "$ROOT/tests/fuzz/corpus/$t" "$ROOT/tests/fuzz/regressions/$t"
    assert_success
    assert_output --partial "INITED"
    refute_output --partial "ERROR: AddressSanitizer"
    refute_output --partial "runtime error:"
}

@test "fuzz: the CSV reader over its corpus and regressions" { run_target csv; }
@test "fuzz: the HDF5 reader behind the probe over its corpus and regressions" { run_target h5; }
@test "fuzz: the bundle loader (seal recomputed) over its corpus and regressions" { run_target bundle; }
@test "fuzz: sandboxed Lua over its corpus and regressions" { run_target lua; }
@test "fuzz: the server's /predict reader and float writer against jansson over its corpus and regressions" { run_target serve; }
