#!/usr/bin/env bats
# moonbench fit as a front end of the training job (src/core/job.h):
# transforms (-t, --pipeline, --prep auto), held-out figures (--test, --cv)
# checked against the Lua API on the same data, early stopping (--valid),
# errors by row and column, and what the bundle carries.
load helpers

lua() { printf '%s\n' "$1" > "$BATS_TEST_TMPDIR/s.lua"; cd "$ROOT"; "$MB" run "$BATS_TEST_TMPDIR/s.lua"; }

@test "fit: the README's credit_g fits with --prep auto, which prints copyable -t flags" {
    run mb fit "$DATA/table/credit_g.h5" -m gbdt --test 0.2 -o "$BATS_TEST_TMPDIR/a.h5"
    assert_success
    assert_line --index 0 "prep auto (for gbdt): -t ordinal  (give these -t flags to change them, or --prep none)"
    auto_test="$(echo "$output" | grep '^test:')"
    run mb fit "$DATA/table/credit_g.h5" -m gbdt -t ordinal --test 0.2 -o "$BATS_TEST_TMPDIR/b.h5"
    assert_success
    refute_output --partial "prep auto"
    [ "$(echo "$output" | grep '^test:')" = "$auto_test" ]
    run mb fit "$DATA/table/credit_g.h5" -m mlp -o "$BATS_TEST_TMPDIR/c.h5"
    assert_success
    assert_line --index 0 --partial "prep auto (for mlp): -t standardize -t onehot"
    run mb fit "$DATA/table/vote.h5" -m linear -o "$BATS_TEST_TMPDIR/d.h5"
    assert_success
    assert_line --index 0 --partial "(for linear): -t onehot"
    run mb fit "$DATA/csv/auto_mpg.csv" --target mpg -m linear -o "$BATS_TEST_TMPDIR/e.h5"
    assert_success
    assert_line --index 0 --partial "(for linear): -t impute:strategy=median -t onehot"
    run mb fit "$DATA/table/credit_g.h5" -m gbdt --prep none -o "$BATS_TEST_TMPDIR/f.h5"
    assert_failure 1
    assert_output --partial "column 'checking_status' is categorical"
}

@test "fit -t: every transform kind and option, validated with the Lua API's messages" {
    run mb fit "$DATA/table/vote.h5" -m linear -t impute:strategy=most_frequent:add_indicator=true -t onehot:unknown=error -t standardize -o "$BATS_TEST_TMPDIR/a.h5"
    assert_success
    run mb fit "$DATA/csv/auto_mpg.csv" --target mpg -m linear -t drop:columns=name -t impute:strategy=constant:fill=0 -t onehot:columns=origin -t log1p:columns=weight -t clip:columns=acceleration:lo=9:hi=24 -t poly2:columns=cylinders,displacement -t minmax -o "$BATS_TEST_TMPDIR/b.h5"
    assert_success
    assert_output --regexp "x 1[0-9] features"
    run mb fit "$DATA/iris.h5" -m linear -t select:columns=sepal\ length\ \(cm\),petal\ width\ \(cm\) -t ordinal -o "$BATS_TEST_TMPDIR/c.h5"
    assert_success
    assert_output --partial "x 2 features"
    # the same messages as mb.transform_new in Lua, exit 2
    for spec in frobnicate impute:strategy=mode onehot:unknown=shout clip:lo=3:hi=1 drop; do
        kind="${spec%%:*}"; opts=""
        case "$spec" in
            impute:*) opts='{strategy = "mode"}' ;;
            onehot:*) opts='{unknown = "shout"}' ;;
            clip:*) opts='{lo = 3, hi = 1}' ;;
        esac
        expected="$(lua "local mb = require 'moonbench'; local ok, e = pcall(mb.transform_new, '$kind', $( [ -n "$opts" ] && echo "$opts" || echo nil )); print(e)")"
        run mb fit "$DATA/iris.h5" -m linear -t "$spec" -o "$BATS_TEST_TMPDIR/x.h5"
        assert_failure 2
        assert_output --partial "$expected"
    done
    run mb fit "$DATA/iris.h5" -m linear -t impute:colour=red -o "$BATS_TEST_TMPDIR/x.h5"
    assert_failure 2
    assert_output --partial "unknown option 'colour' (options: columns, strategy, fill, fill_text, add_indicator, unknown, lo, hi)"
    [ ! -e "$BATS_TEST_TMPDIR/x.h5" ]
}

@test "fit --test: the held-out figures equal the Lua API's split + fit + evaluate (CSV with categoricals)" {
    run mb fit "$DATA/csv/credit_g.csv" --target class -m gbdt -t ordinal --test 0.2 --seed 7 -o "$BATS_TEST_TMPDIR/a.h5"
    assert_success
    assert_output --partial "fitted gbdt (binary) on 800 rows x 20 features"
    assert_output --regexp "test: accuracy [0-9.]+, log-loss [0-9.]+, ROC AUC [0-9.]+, F1 macro [0-9.]+ \(200 held-out test rows of 1000, stratified, seed 7\)"
    assert_output --partial "(800 training rows of 1000; optimistic: the model saw them)"
    got="$(echo "$output" | grep '^test:' | sed 's/ (.*//')"
    want="$(lua 'local mb = require "moonbench"
        local f = mb.open("datasets/csv/credit_g.csv"); f:set_target("class")
        local tr, te = mb.split(f, {test = 0.2, stratify = true, seed = 7})
        local p = mb.pipeline{ mb.ordinal(), mb.model("gbdt") }:fit(tr, {seed = 7})
        local r = mb.evaluate(p, te)
        print(string.format("test: accuracy %.4f, log-loss %.4f, ROC AUC %.4f, F1 macro %.4f", r.accuracy, r.log_loss, r.roc_auc, r.f1_macro))')"
    [ "$got" = "$want" ] || { echo "cli: $got"; echo "lua: $want"; false; }
    # a row count works too
    run mb fit "$DATA/iris.h5" -m linear --test 30 -o "$BATS_TEST_TMPDIR/b.h5"
    assert_success
    assert_output --partial "(30 held-out test rows of 150, stratified, seed 0)"
}

@test "fit --cv: fold figures equal mb.cross_validate on the same folds (table with missing values)" {
    run mb fit "$DATA/table/vote.h5" -m linear -t onehot --cv 5 --seed 3 -o "$BATS_TEST_TMPDIR/a.h5"
    assert_success
    assert_output --partial "cross-validation: 5 folds, stratified, seed 3"
    assert_output --partial "fitted linear (binary) on 435 rows"
    got="$(echo "$output" | grep -A1 '^cross-validation' | tail -1 | sed 's/^ *//')"
    want="$(lua 'local mb = require "moonbench"
        local f = mb.open("datasets/table/vote.h5")
        local cv = mb.cross_validate(mb.pipeline{ mb.onehot(), mb.model("linear") }, f, {k = 5, seed = 3, stratify = true})
        local m, s = cv.mean, cv.std
        print(string.format("accuracy %.4f +- %.4f, log-loss %.4f +- %.4f, ROC AUC %.4f +- %.4f, F1 macro %.4f +- %.4f",
            m.accuracy, s.accuracy, m.log_loss, s.log_loss, m.roc_auc, s.roc_auc, m.f1_macro, s.f1_macro))')"
    [ "$got" = "$want" ] || { echo "cli: $got"; echo "lua: $want"; false; }
    # regression
    run mb fit "$DATA/diabetes.h5" -m linear --cv 4 -o "$BATS_TEST_TMPDIR/b.h5"
    assert_success
    got="$(echo "$output" | grep -A1 '^cross-validation' | tail -1 | sed 's/^ *//')"
    want="$(lua 'local mb = require "moonbench"
        local cv = mb.cross_validate(mb.pipeline{ mb.model("linear") }, mb.open("datasets/diabetes.h5"), {k = 4, seed = 0})
        local m, s = cv.mean, cv.std
        print(string.format("RMSE %.4f +- %.4f, MAE %.4f +- %.4f, R2 %.4f +- %.4f", m.rmse, s.rmse, m.mae, s.mae, m.r2, s.r2))')"
    [ "$got" = "$want" ] || { echo "cli: $got"; echo "lua: $want"; false; }
}

@test "fit: the bundle carries the transforms; predict and Lua's mb.load score it the same" {
    run mb fit "$DATA/table/vote.h5" -m linear -t impute:strategy=most_frequent -t onehot -o "$BATS_TEST_TMPDIR/v.h5"
    assert_success
    run mb predict "$BATS_TEST_TMPDIR/v.h5" "$DATA/csv/vote.csv" -o "$BATS_TEST_TMPDIR/p.csv"
    assert_success
    lua "local mb = require 'moonbench'
        local p = mb.load('$BATS_TEST_TMPDIR/v.h5')
        local pr = p:predict_proba(mb.open('datasets/csv/vote.csv'))
        local c = pr:columns()
        local out = io.open('$BATS_TEST_TMPDIR/l.csv', 'w')
        for i = 1, #pr do out:write(string.format('%.6g\n', pr:col(c[2])[i])) end
        out:close()"
    # (predict prints 6 digits of the float; Lua's number is its shortest decimal, each rounded once: equal to 1e-6)
    [ "$(wc -l < "$BATS_TEST_TMPDIR/l.csv")" -eq 435 ]
    paste -d, <(tail -n +2 "$BATS_TEST_TMPDIR/p.csv" | cut -d, -f3) "$BATS_TEST_TMPDIR/l.csv" |
        awk -F, '{ d = $1 - $2; if (d < 0) d = -d; if (d > 1.5e-6) { print NR ": " $0; bad = 1 } } END { exit bad }'
    run h5dump -A "$BATS_TEST_TMPDIR/v.h5"
    assert_output --partial 'GROUP "00_impute"'
    assert_output --partial 'GROUP "01_onehot"'
    # the loaded bundle answers importance() like the fresh model, without the plugin's help
    run lua "local mb = require 'moonbench'
        local f = mb.open('datasets/table/vote.h5')
        local fresh = mb.pipeline{ mb.impute{strategy = 'most_frequent'}, mb.onehot(), mb.model('linear') }:fit(f, {threads = 2})
        local a, b = fresh.model:importance(), mb.load('$BATS_TEST_TMPDIR/v.h5').model:importance()
        local n = 0
        for k, v in pairs(a) do assert(math.abs(b[k] - v) < 1e-9, k); n = n + 1 end
        print(n)"
    assert_success
    assert_output --regexp "^[0-9]+$"
}

@test "fit --pipeline FILE.lua: the Lua pipeline's C transforms and model, fitted by the job" {
    printf 'local mb = require "moonbench"\nreturn mb.pipeline{ mb.impute{strategy = "most_frequent"}, mb.onehot(), mb.model("linear", {alpha = 0.5}) }\n' > "$BATS_TEST_TMPDIR/p.lua"
    run mb fit "$DATA/table/vote.h5" --pipeline "$BATS_TEST_TMPDIR/p.lua" --test 0.25 -o "$BATS_TEST_TMPDIR/a.h5"
    assert_success
    viafile="$(echo "$output" | grep '^test:')"
    run mb fit "$DATA/table/vote.h5" -m linear -p alpha=0.5 -t impute:strategy=most_frequent -t onehot --test 0.25 -o "$BATS_TEST_TMPDIR/b.h5"
    assert_success
    [ "$(echo "$output" | grep '^test:')" = "$viafile" ]
    printf 'local mb = require "moonbench"\nreturn mb.pipeline{ mb.lua_transform("return {apply = function(s, f) return f end}"), mb.model("linear") }\n' > "$BATS_TEST_TMPDIR/l.lua"
    run mb fit "$DATA/iris.h5" --pipeline "$BATS_TEST_TMPDIR/l.lua" -o "$BATS_TEST_TMPDIR/c.h5"
    assert_failure 1
    assert_output --partial "step 1 is a Lua transform"
    printf 'return 42\n' > "$BATS_TEST_TMPDIR/n.lua"
    run mb fit "$DATA/iris.h5" --pipeline "$BATS_TEST_TMPDIR/n.lua" -o "$BATS_TEST_TMPDIR/c.h5"
    assert_failure 1
    assert_output --partial "the file must return a pipeline"
}

@test "fit: the MLP no longer scores badly by default (standardised by --prep auto)" {
    # (pima is not among the bundled datasets; breast_cancer shows the same effect)
    run mb fit "$DATA/breast_cancer.h5" -m mlp --prep none --test 0.25 -o "$BATS_TEST_TMPDIR/a.h5"
    assert_success
    raw="$(echo "$output" | grep '^test:' | sed 's/.*ROC AUC \([0-9.]*\).*/\1/')"
    run mb fit "$DATA/breast_cancer.h5" -m mlp --test 0.25 -o "$BATS_TEST_TMPDIR/b.h5"
    assert_success
    assert_output --partial "prep auto (for mlp): -t standardize"
    scaled="$(echo "$output" | grep '^test:' | sed 's/.*ROC AUC \([0-9.]*\).*/\1/')"
    awk -v a="$raw" -v b="$scaled" 'BEGIN { exit !(b > 0.99 && b > a + 0.01) }'
}

@test "fit: errors name the column and the 1-based row; --valid is early stopping only" {
    # auto_mpg.csv line 34 (data row 33) has no horsepower
    run mb fit "$DATA/csv/auto_mpg.csv" --target mpg -m linear -t drop:columns=name -t onehot -o "$BATS_TEST_TMPDIR/x.h5"
    assert_failure 1
    assert_output --partial "row 33, column 'horsepower' is missing; linear needs complete features"
    [ "$(sed -n 34p "$DATA/csv/auto_mpg.csv" | cut -d, -f4)" = "" ]
    run mb fit "$DATA/table/credit_g.h5" -m gbdt -p early_stopping_rounds=5 --valid "$DATA/csv/credit_g.csv" -o "$BATS_TEST_TMPDIR/v.h5"
    assert_success
    assert_output --partial "early stopping watched $DATA/csv/credit_g.csv (1000 rows; not a score"
    assert_output --regexp "best_iteration=[0-9]+"
}

@test "fit: counts print as integers, multiclass GBDT rounds, non-convergence said" {
    run mb fit "$DATA/iris.h5" -m gbdt -p n_trees=30 -o "$BATS_TEST_TMPDIR/a.h5"
    assert_success
    assert_output --partial "fit: n_trees=90, n_rounds=30, trees_per_round=3"
    run mb fit "$DATA/breast_cancer.h5" -m mlp -p epochs=3 -o "$BATS_TEST_TMPDIR/b.h5"
    assert_success
    assert_output --partial "note: the MLP did not converge: it ran all 3 epochs"
    run lua 'local mb = require "moonbench"
        local m = mb.model("gbdt", {n_trees = 30}):fit(mb.open("datasets/iris.h5"))
        local fit = m:info().fit
        print(math.type(fit.n_trees), fit.n_rounds, tostring(fit):match("n_trees=%d+"))
        print(mb.open("datasets/iris.h5"):col("sepal length (cm)")[6])'
    assert_success
    assert_line --index 0 "integer	30	n_trees=90"
    assert_line --index 1 "5.4"
}
