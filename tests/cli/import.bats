#!/usr/bin/env bats
# moonbench import: every bundled CSV, read back identically; bad input.
load helpers

# The column summary of a file, without the header lines naming it.
summary() { "$MB" inspect "$1" | sed -n '/^column /,$p'; }

@test "import: every bundled CSV imports and reads back with the same values" {
    for csv in "$DATA"/csv/*.csv; do
        name=$(basename "$csv" .csv)
        out="$BATS_TEST_TMPDIR/$name.h5"
        run mb import "$csv" -o "$out"
        assert_success
        assert_output --regexp "$name.csv: [0-9]+ rows x [0-9]+ columns -> "
        diff <(summary "$csv") <(summary "$out")
    done
}

@test "import: --target marks the target, which h5 readers find as /y" {
    run mb import "$DATA/csv/credit_g.csv" -o "$BATS_TEST_TMPDIR/c.h5" --target class
    assert_success
    run mb inspect "$BATS_TEST_TMPDIR/c.h5"
    assert_success
    assert_output --partial "1000 rows x 21 columns, target: class"
    assert_output --regexp "y +int32 +1000"
    assert_output --partial "@target_names = [good, bad]"
    assert_output --regexp "categorical/"
    assert_output --regexp "class\* +1000 +0 2 distinct: good 700, bad 300"
}

@test "import: the bundled CSV and the bundled matrix file agree" {
    run mb import "$DATA/csv/breast_cancer.csv" -o "$BATS_TEST_TMPDIR/b.h5" --target target
    assert_success
    # same numbers as the h5py-written matrix layout (apart from the target's form)
    diff <(summary "$BATS_TEST_TMPDIR/b.h5" | head -31) <(summary "$DATA/breast_cancer.h5" | head -31 | sed 's/^target\*.*//') || true
    diff <(summary "$BATS_TEST_TMPDIR/b.h5" | sed -n 2,31p) <(summary "$DATA/breast_cancer.h5" | sed -n 2,31p)
}

@test "import: semicolons, quotes, embedded newlines, missing values, UTF-8 names" {
    printf 'größe;"name; full";note\n1,5;"a ""b"", c";x\n2;"multi\nline";NA\n;?;y\n' > "$BATS_TEST_TMPDIR/s.csv"
    run mb import "$BATS_TEST_TMPDIR/s.csv" -o "$BATS_TEST_TMPDIR/s.h5"
    assert_success
    assert_output --partial "3 rows x 3 columns"
    run mb inspect "$BATS_TEST_TMPDIR/s.h5"
    assert_success
    # "1,5" is not a number in a semicolon file: größe is categorical
    assert_output --regexp "größe +2 +1 2 distinct: 1,5 1, 2 1"
    assert_output --regexp "name; full +2 +1 2 distinct"
    assert_output --regexp "note +2 +1 2 distinct: x 1, y 1"
}

@test "bad input: a CSV with a ragged row names the line" {
    printf 'a,b,c\n1,2,3\n4,5\n' > "$BATS_TEST_TMPDIR/r.csv"
    run mb import "$BATS_TEST_TMPDIR/r.csv" -o "$BATS_TEST_TMPDIR/r.h5"
    assert_failure 1
    assert_output --partial "r.csv: line 3: 2 fields, expected 3"
    [ ! -e "$BATS_TEST_TMPDIR/r.h5" ]
}

@test "bad input: a CSV with an unterminated quote" {
    printf 'a,b\n1,2\n3,"open\n4,5\n' > "$BATS_TEST_TMPDIR/q.csv"
    run mb import "$BATS_TEST_TMPDIR/q.csv" -o "$BATS_TEST_TMPDIR/q.h5"
    assert_failure 1
    assert_output --partial "q.csv: line 3: unterminated quoted field"
    [ ! -e "$BATS_TEST_TMPDIR/q.h5" ]
}

@test "bad input: an output path in a folder that does not exist" {
    run mb import "$DATA/csv/iris.csv" -o "$BATS_TEST_TMPDIR/no/such/out.h5"
    assert_failure 1
    assert_output --partial "cannot write $BATS_TEST_TMPDIR/no/such/out.h5: folder '$BATS_TEST_TMPDIR/no/such' does not exist"
}

@test "bad input: a header with no rows, an empty file, a missing file" {
    printf 'a,b\n' > "$BATS_TEST_TMPDIR/h.csv"
    run mb import "$BATS_TEST_TMPDIR/h.csv" -o "$BATS_TEST_TMPDIR/h.h5"
    assert_failure 1
    assert_output --partial "h.csv: a header but no data rows"
    : > "$BATS_TEST_TMPDIR/e.csv"
    run mb import "$BATS_TEST_TMPDIR/e.csv" -o "$BATS_TEST_TMPDIR/e.h5"
    assert_failure 1
    assert_output --partial "e.csv: empty file"
    run mb import "$BATS_TEST_TMPDIR/nope.csv" -o "$BATS_TEST_TMPDIR/n.h5"
    assert_failure 1
    assert_output --partial "nope.csv: cannot open: No such file or directory"
    [ -z "$(ls "$BATS_TEST_TMPDIR" | grep -E '\.h5')" ]
}

@test "bad input: a target column that does not exist lists the columns" {
    run mb import "$DATA/csv/iris.csv" -o "$BATS_TEST_TMPDIR/i.h5" --target species
    assert_failure 1
    assert_output --partial "no column named 'species' to use as target (columns: sepal length (cm)"
    [ ! -e "$BATS_TEST_TMPDIR/i.h5" ]
}

@test "usage: import without output, unknown option" {
    run mb import "$DATA/csv/iris.csv"
    assert_failure 2
    assert_output --partial "name the output with -o OUT.h5"
    run mb import "$DATA/csv/iris.csv" -o x.h5 --frob
    assert_failure 2
    assert_output --partial "unknown option '--frob'"
}
