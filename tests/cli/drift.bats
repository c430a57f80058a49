#!/usr/bin/env bats
# moonbench drift: PSI and the decile-grid KS of a data file against a
# bundle's training statistics (src/deploy/drift.h), by hand-computed cases
# and the invariant "the training data itself does not drift".
load helpers
bats_require_minimum_version 1.5.0

@test "drift: the training data against itself gives PSI 0 for every feature, exit 0" {
    T="$BATS_TEST_TMPDIR"
    cd "$ROOT"
    printf 'local mb = require "moonbench"\nlocal f = mb.open("datasets/csv/credit_g.csv")\nf:set_target("class")\nmb.pipeline{ mb.ordinal(), mb.model("gbdt", {n_trees = 10}) }:fit(f):save(arg[1])\n' > "$T/fit.lua"
    run -0 "$MB" run "$T/fit.lua" "$T/g.h5"
    run -0 mb drift "$T/g.h5" "$DATA/csv/credit_g.csv"
    assert_output --partial "0 of 20 features drifted (PSI > 0.2)"
    # every PSI and KS is 0 (all 1000 rows were sampled for the statistics)
    [ "$(printf '%s\n' "$output" | awk 'NF == 5 && $2 ~ /^[0-9.]+$/ && ($2 + 0 > 0.00005 || $3 + 0 > 0.00005)' | wc -l)" -eq 0 ]
    [ "$(printf '%s\n' "$output" | awk 'NF == 5 && $2 ~ /^[0-9.]+$/' | wc -l)" -eq 20 ]
    # labels present: the model's metrics on the data
    assert_output --regexp "metrics on 1000 labelled rows: accuracy 0\.[0-9]+, balanced_accuracy"
}

@test "drift: PSI and KS equal a hand computation; drifted features first; exit 3" {
    T="$BATS_TEST_TMPDIR"
    # training x = 1..10 (z constant): deciles 1,2,3,4,5,6,6,7,8,9,10, so the
    # bins are x<=2, 3, 4, ..., 9, >9 with training shares 0.2, 0.1 x 8.
    { echo "x,z,y"; for i in 1 2 3 4 5 6 7 8 9 10; do echo "$i,5,$((i % 2))"; done; } > "$T/train.csv"
    run -0 mb fit "$T/train.csv" -m linear --target y -o "$T/m.h5"
    # serving x = 1,1,1,1,1,6,7,8,9,10: shares 0.5, 0, 0, 0, 0.1 x 5 (empty bins
    # count as 1e-4). PSI = (0.5-0.2) ln(0.5/0.2) + 3 (1e-4-0.1) ln(1e-4/0.1)
    #                      = 0.274887 + 3 x 0.690086 = 2.345141
    # KS on the edges 2..9: |0.5-0.2|, |0.5-0.3|, ... = 0.3
    { echo "x,z"; for i in 1 1 1 1 1 6 7 8 9 10; do echo "$i,5"; done; } > "$T/serve.csv"
    run -3 mb drift "$T/m.h5" "$T/serve.csv"
    # (bats drops empty lines from $lines: index 1 is the table's header)
    assert_line --index 2 --regexp '^x +2\.3451 +0\.3000 +0\.0% +0\.0%  DRIFT$'
    assert_line --index 3 --regexp '^z +0\.0000 +0\.0000 '
    assert_output --partial "1 of 2 features drifted (PSI > 0.2)"
    refute_output --partial "metrics on"
    run -3 mb drift "$T/m.h5" "$T/serve.csv" --json
    [ "$(printf '%s\n' "$output" | grep -c '"drift": true')" -eq 1 ]
    # x first (drifted), with its figures
    [ "$(printf '%s\n' "$output" | grep -m1 '"feature"')" = '      "feature": "x",' ]
    assert_output --partial '"psi": 2.34514,'
    assert_output --partial '"ks": 0.3,'
    assert_output --partial '"drifted": 1'
    # a higher threshold flags nothing: exit 0
    run -0 mb drift "$T/m.h5" "$T/serve.csv" --threshold 3
    assert_output --partial "0 of 2 features drifted (PSI > 3)"
    # the training rows themselves: no drift
    run -0 mb drift "$T/m.h5" "$T/train.csv"
    assert_output --regexp 'x +0\.0000 +0\.0000 '
}

@test "drift: missing values count as their own bin; bad input is refused by name" {
    T="$BATS_TEST_TMPDIR"
    { echo "x,y"; for i in 1 2 3 4 5 6 7 8 9 10; do echo "$i,$((i % 2))"; done; } > "$T/train.csv"
    run -0 mb fit "$T/train.csv" -m gbdt -p n_trees=2 -p min_samples_leaf=1 --target y -o "$T/m.h5"
    # 1..5 and 5 missing: shares 0.2, 0.1, 0.1, 0.1 (as in training), 0 x 5,
    # missing 0.5, against 0.2, 0.1 x 8, missing 0 (floored at 1e-4):
    # PSI = 5 (1e-4-0.1) ln(1e-4/0.1) + (0.5-1e-4) ln(0.5/1e-4)
    #     = 3.450432 + 4.257737 = 7.708169
    # KS of the non-missing values at the edges 2..9: max |0.4-0.2|, |0.6-0.3|,
    # |0.8-0.4|, |1-0.5|, ... = 0.5
    { echo "x"; for i in 1 2 3 4 5; do echo "$i"; echo "NA"; done; } > "$T/serve.csv"
    run -3 mb drift "$T/m.h5" "$T/serve.csv"
    assert_line --index 2 --regexp '^x +7\.7082 +0\.5000 +50\.0% +0\.0%  DRIFT$'
    run -1 mb drift "$T/m.h5" "$DATA/csv/iris.csv"
    assert_output --partial "the data has no column 'x', which the model was trained on"
    run -2 mb drift "$T/m.h5"
    assert_output --partial "usage: moonbench drift"
    run -2 mb drift "$T/m.h5" "$T/serve.csv" --threshold -1
}
