#!/usr/bin/env bats
# moonbench plugins / fit / predict, with the template plugin (knn,
# baseline) and the broken test plugins of tests/plugins; bundle errors.
load helpers

BUILD_DIR="$(dirname "$MB")"
TPLUG="$BUILD_DIR/tests/plugins"

@test "plugins: lists each plugin with version, tasks and parameters" {
    run mb plugins
    assert_success
    assert_output --regexp "template [0-9.]+: "
    assert_output --partial "model knn (regression, binary, multiclass)"
    assert_output --partial "n_neighbors: integer in [1, 1000], default 5"
    assert_output --partial "weights: one of uniform, distance, default uniform"
}

@test "fit + predict: knn on iris round-trips through a bundle" {
    run mb fit "$DATA/iris.h5" -m knn -p n_neighbors=7 -o "$BATS_TEST_TMPDIR/knn.h5"
    assert_success
    assert_output --partial "fitted knn (multiclass) on 150 rows x 4 features"
    assert_output --partial "fit: n_train=150, n_neighbors=7"
    assert_output --regexp "training: accuracy 0\.9[5-9]"
    run mb predict "$BATS_TEST_TMPDIR/knn.h5" "$DATA/iris.h5" -o "$BATS_TEST_TMPDIR/p.csv"
    assert_success
    run head -2 "$BATS_TEST_TMPDIR/p.csv"
    assert_line --index 0 "prediction,proba_setosa,proba_versicolor,proba_virginica"
    assert_line --index 1 "setosa,1,0,0"
    [ "$(wc -l < "$BATS_TEST_TMPDIR/p.csv")" -eq 151 ]
}

@test "fit + predict: a portable bundle scores without its plugin" {
    run mb fit "$DATA/diabetes.h5" -m baseline -o "$BATS_TEST_TMPDIR/b.h5"
    assert_success
    assert_output --partial "fitted baseline (regression)"
    # a copy of the executable with no plugins beside it
    cp "$MB" "$BATS_TEST_TMPDIR/mb"
    MOONBENCH_PLUGIN_PATH= run "$BATS_TEST_TMPDIR/mb" predict "$BATS_TEST_TMPDIR/b.h5" "$DATA/csv/diabetes.csv"
    assert_success
    assert_line --index 1 "152.133484"
}

@test "bundle: readable layout (h5dump) with schema, model, provenance" {
    run mb fit "$DATA/breast_cancer.h5" -m knn -o "$BATS_TEST_TMPDIR/k.h5"
    assert_success
    run h5dump -A "$BATS_TEST_TMPDIR/k.h5"
    assert_success
    assert_output --partial '"moonbench-bundle"'
    assert_output --partial 'GROUP "schema"'
    assert_output --partial 'GROUP "pipeline"'
    assert_output --partial 'GROUP "provenance"'
    assert_output --partial '"malignant", "benign"'
    sha=$(sha256sum "$DATA/breast_cancer.h5" | cut -d' ' -f1)
    assert_output --partial "\"$sha\""
    assert_output --partial 'ATTRIBUTE "n_neighbors"'
}

@test "bad input: a bundle whose plugin is not installed" {
    run mb fit "$DATA/iris.h5" -m knn -o "$BATS_TEST_TMPDIR/knn.h5"
    assert_success
    cp "$MB" "$BATS_TEST_TMPDIR/mb"
    MOONBENCH_PLUGIN_PATH= run "$BATS_TEST_TMPDIR/mb" predict "$BATS_TEST_TMPDIR/knn.h5" "$DATA/iris.h5"
    assert_failure 1
    assert_output --partial "model 'knn' (plugin template"
    assert_output --partial "has no portable form and its plugin is not installed"
}

@test "bad input: truncated, foreign and newer-format bundles" {
    run mb fit "$DATA/iris.h5" -m baseline -o "$BATS_TEST_TMPDIR/b.h5"
    assert_success
    head -c 2000 "$BATS_TEST_TMPDIR/b.h5" > "$BATS_TEST_TMPDIR/t.h5"
    run mb predict "$BATS_TEST_TMPDIR/t.h5" "$DATA/iris.h5"
    assert_failure 1
    assert_output --partial "t.h5"
    run mb predict "$DATA/iris.h5" "$DATA/iris.h5"
    assert_failure 1
    assert_output --partial "iris.h5: not a moonbench model bundle"
    # (a newer format_version is tested in tests/unit/test_bundle.c)
}

@test "bad input: predict on data missing a feature, or with the wrong width" {
    run mb fit "$DATA/iris.h5" -m knn -o "$BATS_TEST_TMPDIR/knn.h5"
    assert_success
    run mb predict "$BATS_TEST_TMPDIR/knn.h5" "$DATA/wine.h5"
    assert_failure 1
    assert_output --partial "no column 'sepal length (cm)', which the model was trained on"
}

@test "bad input: unknown model, unknown and out-of-range parameters" {
    run mb fit "$DATA/iris.h5" -m nope -o "$BATS_TEST_TMPDIR/x.h5"
    assert_failure 1
    assert_output --regexp "no model named 'nope' \(available: .*knn"
    run mb fit "$DATA/iris.h5" -m knn -p k=3 -o "$BATS_TEST_TMPDIR/x.h5"
    assert_failure 2
    assert_output --partial "unknown parameter in 'k=3' (parameters: n_neighbors, weights, standardize)"
    run mb fit "$DATA/iris.h5" -m knn -p n_neighbors=0 -o "$BATS_TEST_TMPDIR/x.h5"
    assert_failure 2
    assert_output --partial "n_neighbors: '0' is out of range; n_neighbors: integer in [1, 1000]"
    run mb fit "$DATA/iris.h5" -m knn -p weights=far -o "$BATS_TEST_TMPDIR/x.h5"
    assert_failure 2
    assert_output --partial "one of uniform, distance"
    [ ! -e "$BATS_TEST_TMPDIR/x.h5" ]
}

@test "bad input: categorical features (with --prep none) and a missing target are refused clearly" {
    run mb fit "$DATA/table/credit_g.h5" -m knn --prep none -o "$BATS_TEST_TMPDIR/x.h5"
    assert_failure 1
    assert_output --partial "column 'checking_status' is categorical"
    run mb fit "$DATA/iris.h5" -m knn --target nope -o "$BATS_TEST_TMPDIR/x.h5"
    assert_failure 1
    assert_output --partial "no column named 'nope' to use as target"
}

@test "bad input: broken plugins are refused by name, the rest keeps working" {
    [ -d "$TPLUG" ] || skip "no test plugins built"
    mkdir -p "$BATS_TEST_TMPDIR/p"
    printf 'not a shared object\n' > "$BATS_TEST_TMPDIR/p/text.so"
    cp "$TPLUG"/*.so "$BATS_TEST_TMPDIR/p/"
    MOONBENCH_PLUGIN_PATH="$BATS_TEST_TMPDIR/p" run mb plugins
    assert_success
    assert_output --partial "text.so: cannot load"
    assert_output --partial "no_entry.so: no entry point moonbench_plugin()"
    assert_output --regexp "future_abi.so: built for plugin ABI 2, but this moonbench speaks ABI 1"
    assert_output --partial "model knn (regression, binary, multiclass)"
    MOONBENCH_PLUGIN_PATH="$BATS_TEST_TMPDIR/p" run mb fit "$DATA/iris.h5" -m knn -o "$BATS_TEST_TMPDIR/k.h5"
    assert_success
}

@test "fit + predict: linear models on the bundled datasets score sanely" {
    run mb fit "$DATA/breast_cancer.h5" -m linear -p alpha=0.01 -o "$BATS_TEST_TMPDIR/lr.h5"
    assert_success
    assert_output --partial "fitted linear (binary) on 569 rows x 30 features"
    assert_output --regexp "training: accuracy 0\.9[5-9][0-9]*, log-loss 0\.[0-9]+, ROC AUC 0\.99"
    run mb fit "$DATA/diabetes.h5" -m linear -o "$BATS_TEST_TMPDIR/ridge.h5"
    assert_success
    assert_output --regexp "training: RMSE 5[0-9]\.[0-9]+, MAE [0-9.]+, R2 0\.5"
    run mb fit "$DATA/digits.h5" -m linear -p alpha=10 -o "$BATS_TEST_TMPDIR/soft.h5"
    assert_success
    assert_output --regexp "fitted linear \(multiclass\).*"
    assert_output --regexp "training: accuracy 0\.9[5-9]"
    # the portable bundle scores without the plugin, identically to the fit
    cp "$MB" "$BATS_TEST_TMPDIR/mb"
    MOONBENCH_PLUGIN_PATH= run "$BATS_TEST_TMPDIR/mb" predict "$BATS_TEST_TMPDIR/lr.h5" "$DATA/csv/breast_cancer.csv" -o "$BATS_TEST_TMPDIR/p1.csv"
    assert_success
    run mb predict "$BATS_TEST_TMPDIR/lr.h5" "$DATA/breast_cancer.h5" -o "$BATS_TEST_TMPDIR/p2.csv"
    assert_success
    cmp "$BATS_TEST_TMPDIR/p1.csv" "$BATS_TEST_TMPDIR/p2.csv"
    right=$(paste -d, <(tail -n +2 "$BATS_TEST_TMPDIR/p1.csv" | cut -d, -f1) <(tail -n +2 "$DATA/csv/breast_cancer.csv" | awk -F, '{print $NF}') | awk -F, '$1 == $2' | wc -l)
    [ "$right" -ge 540 ]
}

@test "fit --weights: a weights column is used, not a feature; bad weights are refused" {
    awk -F, 'NR == 1 {print $0 ",w"; next} {print $0 "," (NR % 3 ? 1 : 2)}' "$DATA/csv/diabetes.csv" > "$BATS_TEST_TMPDIR/dw.csv"
    run mb fit "$BATS_TEST_TMPDIR/dw.csv" -m linear --target target --weights w -o "$BATS_TEST_TMPDIR/w.h5"
    assert_success
    assert_output --partial "on 442 rows x 10 features"
    awk -F, 'NR == 1 {print $0 ",w"; next} {print $0 "," (NR == 7 ? -1 : 1)}' "$DATA/csv/diabetes.csv" > "$BATS_TEST_TMPDIR/neg.csv"
    run mb fit "$BATS_TEST_TMPDIR/neg.csv" -m linear --target target --weights w -o "$BATS_TEST_TMPDIR/n.h5"
    assert_failure 1
    assert_output --partial "weight -1 in row 6 of 'w'; weights must be finite and >= 0"
}

@test "fit --valid: early-stopping data only, never reported as a score" {
    run mb fit "$DATA/nested_example.h5:/train" -m gbdt -p early_stopping_rounds=10 --valid "$DATA/nested_example.h5:/test" -o "$BATS_TEST_TMPDIR/v.h5"
    assert_success
    assert_output --partial "fitted gbdt (binary) on 426 rows x 30 features"
    assert_output --partial "early stopping watched $DATA/nested_example.h5:/test (143 rows; not a score"
    assert_output --regexp "best_iteration=[0-9]+"
    refute_output --partial "validation:"
    run mb fit "$DATA/nested_example.h5:/train" -m linear --valid "$DATA/iris.h5" -o "$BATS_TEST_TMPDIR/v.h5"
    assert_failure 1
    assert_output --partial "no column named 'y' to use as target"
}

@test "bundle: /monitoring holds the training statistics of the model's inputs" {
    run mb fit "$DATA/iris.h5" -m linear -o "$BATS_TEST_TMPDIR/m.h5"
    assert_success
    run h5dump -d /monitoring/mean "$BATS_TEST_TMPDIR/m.h5"
    assert_success
    # iris feature means (sepal length 5.843, ..., petal width 1.199)
    assert_output --partial "5.84333, 3.05733, 3.758, 1.19933"
    run h5dump -d /monitoring/quantiles "$BATS_TEST_TMPDIR/m.h5"
    assert_success
    assert_output --partial "( 44 )"
    # a pipeline saved from Lua carries them too
    cd "$ROOT"
    printf 'local mb = require "moonbench"\nlocal f = mb.open("datasets/iris.h5")\nmb.pipeline{ mb.standardize(), mb.model("linear") }:fit(f):save(arg[1])\n' > "$BATS_TEST_TMPDIR/p.lua"
    run "$MB" run "$BATS_TEST_TMPDIR/p.lua" "$BATS_TEST_TMPDIR/p.h5"
    assert_success
    run h5dump -d /monitoring/max "$BATS_TEST_TMPDIR/p.h5"
    assert_success
    assert_output --partial "( 4 )"
}

@test "predict: a pipeline saved from Lua is scored with its transforms" {
    cd "$ROOT"
    printf 'local mb = require "moonbench"\nlocal f = mb.open("datasets/iris.h5")\nmb.pipeline{ mb.standardize(), mb.model("linear") }:fit(f):save(arg[1])\n' > "$BATS_TEST_TMPDIR/p.lua"
    run "$MB" run "$BATS_TEST_TMPDIR/p.lua" "$BATS_TEST_TMPDIR/p.h5"
    assert_success
    run mb predict "$BATS_TEST_TMPDIR/p.h5" "$DATA/csv/iris.csv"
    assert_success
    assert_line --index 1 --regexp "^setosa,0\.9"
    [ "$(printf '%s\n' "$output" | grep -c '^setosa,')" -ge 48 ]
}
