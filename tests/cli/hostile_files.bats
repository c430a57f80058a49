#!/usr/bin/env bats
# Hostile data files and plugin folders (docs/security.md): every one is
# refused with a message naming the file and exit status 1; none crashes,
# hangs or takes gigabytes. The HDF5 fixtures come from
# tests/data/make_hostile.c, made fresh into a temporary folder.

load helpers

setup_file() {
    export HZ="$BATS_FILE_TMPDIR/hz"
    mkdir -p "$HZ"
    "${MOONBENCH_BUILD:-$ROOT/build}/tests/make_hostile" "$HZ" "$DATA/iris.h5"
}

# Address-space limit for the run, unless the build is under ASan (its
# shadow memory needs terabytes of address space).
bounded() {
    if [[ "$MB" == *asan* ]]; then "$@"; else (ulimit -v 1500000; "$@"); fi
}

@test "hostile HDF5: 2 GiB of fill values in a 1.4 KB file is refused within 1.5 GB" {
    run bounded "$MB" inspect "$HZ/bigread.h5"
    assert_failure 1
    assert_output --partial "bigread.h5:/X: reading it needs 2.0 GiB for a file of 1.4 KiB, more than 1100 times its size"
    assert_output --partial "MOONBENCH_MAX_EXPANSION"
}

@test "hostile HDF5: a 1 GiB chunk is refused; MOONBENCH_MAX_EXPANSION raises the limit" {
    run bounded "$MB" inspect "$HZ/bigchunk.h5"
    assert_failure 1
    assert_output --partial "bigchunk.h5:/X: reading it needs 1.0 GiB (one chunk)"
    # raised: HDF5 reads the 10 fill values without allocating the chunk
    MOONBENCH_MAX_EXPANSION=1000000000 run bounded "$MB" inspect "$HZ/bigchunk.h5"
    assert_success
    assert_output --partial "10 rows x 1 columns"
}

@test "hostile HDF5: a compound array of 16.7 million columns is refused" {
    run bounded "$MB" inspect "$HZ/wide.h5"
    assert_failure 1
    assert_output --partial "wide.h5:/records: field 'v' is an array of more than 1000000 elements, each a column (MOONBENCH_MAX_COLUMNS raises it)"
}

@test "hostile HDF5: strings of 16 MiB each are refused" {
    run bounded "$MB" inspect "$HZ/longstr.h5"
    assert_failure 1
    assert_output --partial "longstr.h5:/names: strings of 16777216 bytes, more than 1048576 (MOONBENCH_MAX_STRING raises it)"
}

@test "hostile HDF5: a hard-link cycle is shown once and the file reads" {
    run timeout 20 "$MB" inspect "$HZ/cycle.h5"
    assert_success
    assert_line "    b/"
    assert_output --partial "4 rows x 3 columns, target: y"
    [ "$(grep -c '^  X ' <<<"$output")" -eq 1 ]
}

@test "hostile HDF5: 200 nested groups stop at MOONBENCH_MAX_DEPTH" {
    run timeout 20 "$MB" inspect "$HZ/deep.h5"
    assert_failure 1
    assert_output --partial "groups nested too deep (MOONBENCH_MAX_DEPTH raises the limit)"
    MOONBENCH_MAX_DEPTH=300 run timeout 20 "$MB" inspect "$HZ/deep.h5"
    assert_success
}

@test "hostile HDF5: an external link is not followed" {
    run "$MB" inspect "$HZ/external.h5:/ext"
    assert_failure 1
    assert_output --partial "external.h5:/ext: no such group or dataset"
    run "$MB" inspect "$HZ/external.h5"
    assert_success
    refute_output --partial "ext/"
}

@test "hostile HDF5: 64 files with changed bytes: exit 0 or 1, never a signal; crashes become 'damaged'" {
    local damaged=0
    for f in "$HZ"/flip-*.h5; do
        run timeout 30 "$MB" inspect "$f"
        [ "$status" -le 1 ] || { echo "$f: exit $status: $output"; return 1; }
        if [ "$status" -eq 1 ]; then assert_output --partial "$f"; fi
        if [[ "$output" == *"damaged (the HDF5 library failed reading it)"* ]]; then damaged=$((damaged + 1)); fi
    done
    # flip-009 and flip-013 crash h5dump and libhdf5; the probe catches them
    [ "$damaged" -ge 2 ]
}

@test "hostile HDF5: a FIFO named .h5 is refused without blocking (no HDF5 signature read)" {
    mkfifo "$BATS_TEST_TMPDIR/pipe.h5"
    run timeout 10 "$MB" inspect "$BATS_TEST_TMPDIR/pipe.h5"
    assert_failure 1
    assert_output --partial "pipe.h5: not an HDF5 file (no HDF5 signature)"
}
