#!/usr/bin/env bats
# moonbench inspect: every bundled layout, and bad input.
load helpers

@test "inspect: matrix layout shows tree, attributes and column summary" {
    run mb inspect "$DATA/iris.h5"
    assert_success
    assert_output --regexp "  X +float64 +150 x 4 +chunks 150x4 gzip\(4\)"
    assert_output --partial "@feature_names = [sepal length (cm), sepal width (cm)"
    assert_output --partial "@target_names = [setosa, versicolor, virginica]"
    assert_output --partial "150 rows x 5 columns, target: target"
    # sepal length: mean 5.843333, std 0.828066, min 4.3, quartiles 5.1 5.8 6.4, max 7.9 (pandas describe)
    # a name longer than its cell is shown whole on its own line, the figures below it
    assert_line "sepal length (cm)"
    assert_line --regexp "^ {15} +150 +0 +5.8433 +0.8281 +4.3 +5.1 +5.8 +6.4 +7.9$"
    assert_output --regexp "target\* +150 +0 3 distinct: setosa 50, versicolor 50, virginica 50"
}

@test "inspect: every line fits in 80 columns" {
    for f in "$DATA"/*.h5 "$DATA"/table/*.h5; do
        run mb inspect "$f"
        assert_success
        # (a line naming the file is as long as the path the user typed)
        long=$(printf '%s\n' "$output" | grep -vF "$f" | awk '{ if (length($0) > 80) print }' | head -3)
        [ -z "$long" ] || { echo "$f: $long"; false; }
    done
}

@test "inspect: pandas table names columns from the pickled attributes" {
    run mb inspect "$DATA/table/credit_g.h5"
    assert_success
    assert_output --partial "1000 rows x 21 columns, target: class"
    assert_output --partial "pickle [checking_status, duration, credit_history"
    assert_output --regexp "checking_status +1000 +0 4 distinct"
    assert_output --regexp "duration +1000 +0 +20.903"
    assert_output --regexp "class\* +1000 +0 2 distinct: good 700, bad 300"
}

@test "inspect: pandas missing strings (nan_rep) count as missing" {
    run mb inspect "$DATA/table/vote.h5"
    assert_success
    assert_output --partial "435 rows x 17 columns"
    # handicapped-infants has 12 missing votes (datasets/README.md: 392 cells in 16 columns)
    assert_line "handicapped-infants"
    assert_line --regexp "^ {15} +423 +12 2 distinct"
}

@test "inspect: nested groups, addressed as file.h5:/group/dataset" {
    run mb inspect "$DATA/nested_example.h5:/train"
    assert_success
    assert_output --partial "426 rows x 31 columns, target: y"
    # a dataset named alone is read alone (its feature names kept)
    run mb inspect "$DATA/nested_example.h5:/train/X"
    assert_success
    assert_output --partial "426 rows x 30 columns"
    assert_output --regexp "mean radius +426 +0 "
    run mb inspect "$DATA/nested_example.h5:/test"
    assert_success
    assert_output --partial "143 rows x 31 columns"
}

@test "inspect: compound records become columns" {
    run mb inspect "$DATA/nested_example.h5:/meta/samples"
    assert_success
    assert_output --partial "569 rows x 6 columns"
    assert_output --regexp "split +569 +0 2 distinct: train 426, test 143"
}

@test "inspect: a 3-D dataset is flattened per row, with a note" {
    run mb inspect "$DATA/nested_example.h5:/images"
    assert_success
    assert_output --regexp "images +uint8 +1797 x 8 x 8 +chunks 256x8x8 shuffle\+gzip\(6\)"
    assert_output --partial "1797 rows x 64 columns"
    assert_output --partial "3-D dataset (1797 x 8 x 8) flattened to 64 columns per row"
}

@test "inspect: a file of many datasets shows its tree and how to pick one" {
    run mb inspect "$DATA/nested_example.h5"
    assert_success
    assert_output --partial "@n_samples = 426"
    # the hint is wrapped to 80 columns: join its lines again
    [[ "$(printf '%s' "$output" | tr '\n' ' ')" == *"name one of its 7 datasets, e.g. $DATA/nested_example.h5:/image_labels"* ]]
}

@test "inspect: every numeric HDF5 type reads as float32; strings as categories" {
    for t in i1 u1 i2 u2 i4 u4 i8 u8 f2 f4 f8; do
        run mb inspect "$FIX/types.h5:/col_$t"
        assert_success
        assert_output --regexp "col_$t +4 +0 +25.75 +49.507 +0 +0.75 +1.5 +26.5 +100"
    done
    run mb inspect "$FIX/types.h5:/vnames"
    assert_success
    assert_output --regexp "vnames +3 +0 2 distinct: x 2, yy 1"
}

@test "inspect: NaN is missing, Inf is counted" {
    run mb inspect "$FIX/nan_inf.h5"
    assert_success
    assert_output --regexp "x0 +3 +0 +inf +- +1 +2 +3 +inf +inf"
    assert_output --regexp "x1 +2 +1 +-inf +- +-inf"
    assert_output --regexp "y\* +2 +1 +1 +0.7071 +0.5 +0.75 +1 +1.25 +1.5"
}

@test "bad input: a file that does not exist" {
    run mb inspect "$FIX/nope.h5"
    assert_failure 1
    assert_output --partial "nope.h5: No such file or directory"
}

@test "bad input: a file that is not HDF5" {
    printf 'hello\n' > "$BATS_TEST_TMPDIR/x.h5"
    run mb inspect "$BATS_TEST_TMPDIR/x.h5"
    assert_failure 1
    assert_output --partial "x.h5: not an HDF5 file"
}

@test "bad input: a truncated HDF5 file" {
    head -c 3000 "$DATA/breast_cancer.h5" > "$BATS_TEST_TMPDIR/t.h5"
    run mb inspect "$BATS_TEST_TMPDIR/t.h5"
    assert_failure 1
    assert_output --partial "t.h5"
    assert_output --regexp "truncated|damaged|cannot"
    head -c 20000 "$DATA/digits.h5" > "$BATS_TEST_TMPDIR/t2.h5"
    run mb inspect "$BATS_TEST_TMPDIR/t2.h5"
    assert_failure 1
    assert_output --partial "t2.h5"
}

@test "bad input: a path inside the file that does not exist" {
    run mb inspect "$DATA/iris.h5:/nope/X"
    assert_failure 1
    assert_output --partial "iris.h5:/nope/X: no such group or dataset in the file"
}

@test "bad input: a string dataset where numbers are expected" {
    run mb inspect "$FIX/string_x.h5"
    assert_failure 1
    assert_output --partial "string_x.h5:/X: expected a numeric dataset, found string[1]"
    run mb inspect "$FIX/types.h5:/strings2d"
    assert_failure 1
    assert_output --partial "strings2d: expected numbers"
}

@test "bad input: zero rows" {
    run mb inspect "$FIX/zero_rows.h5"
    assert_failure 1
    assert_output --partial "zero_rows.h5:/X: the dataset has zero rows"
}

@test "bad input: X and y of different lengths" {
    run mb inspect "$FIX/xy_mismatch.h5"
    assert_failure 1
    assert_output --partial "/X has 10 rows but /y has 9; they must match"
}

@test "bad input: a class code outside target_names" {
    run mb inspect "$FIX/bad_codes.h5"
    assert_failure 1
    assert_output --partial "bad_codes.h5:/y: class code 5 in row 2 is outside target_names (2 names)"
}

@test "bad input: a scalar dataset is not a table" {
    run mb inspect "$FIX/types.h5:/scalar"
    assert_failure 1
    assert_output --partial "/scalar: a scalar (float64), not a table"
}

@test "usage: no file, unknown command" {
    run mb inspect
    assert_failure 2
    run mb frobnicate
    assert_failure 2
    assert_output --partial "unknown command 'frobnicate'"
}

@test "inspect: full column names, never cut (soybean-style one-hot names stay distinct)" {
    run mb inspect "$DATA/vote.h5"
    assert_success
    # the matrix layout one-hot encodes: 'adoption-of-the-budget-resolution=y' and '=n'
    assert_line "adoption-of-the-budget-resolution=y"
    assert_line "adoption-of-the-budget-resolution=n"
    refute_output --partial "~ "
}

@test "inspect: PyTables index internals hidden unless --all" {
    run mb inspect "$DATA/table/credit_g.h5"
    assert_success
    assert_output --partial "_i_table/  (PyTables index internals; --all shows them)"
    refute_output --partial "@CLASS = 'INDEX'"
    run mb inspect --all "$DATA/table/credit_g.h5"
    assert_success
    assert_output --partial "@CLASS = 'INDEX'"
    refute_output --partial "index internals"
    run mb inspect --bogus "$DATA/table/credit_g.h5"
    assert_failure 2
}
