#!/usr/bin/env bats
# moonbench score (batch and --stream) and its alias predict: the runtime of
# src/deploy against the Lua scorer (mb.load: the pipeline's transforms
# applied to whole frames by transform.c, then the core's scorer), rejects,
# chunks, HDF5 in and out, streams of NDJSON and CSV lines.
load helpers
bats_require_minimum_version 1.5.0

# Bundles are fitted once for the file: pipelines with transforms over the
# categorical and numeric columns of credit_g, and a regression on auto_mpg.
setup_file() {
    cd "$ROOT"
    T="$BATS_FILE_TMPDIR"
    cat > "$T/fit.lua" <<'EOF'
local mb = require "moonbench"
local d = arg[1]
local f = mb.open("datasets/csv/credit_g.csv")
f:set_target("class")
mb.pipeline{ mb.impute{strategy = "most_frequent"}, mb.onehot(), mb.standardize(), mb.model("linear") }:fit(f):save(d .. "/lin.h5")
mb.pipeline{ mb.ordinal(), mb.impute{strategy = "median", add_indicator = true}, mb.model("gbdt", {n_trees = 30}) }:fit(f):save(d .. "/gbdt.h5")
mb.pipeline{ mb.onehot{unknown = "error"}, mb.minmax(), mb.clip{lo = 0, hi = 1}, mb.model("mlp", {epochs = 20, hidden_layers = "16"}) }:fit(f):save(d .. "/mlp.h5")
local g = mb.open("datasets/auto_mpg.h5")
mb.pipeline{ mb.impute{strategy = "mean"}, mb.log1p{"displacement"}, mb.poly2{"weight", "horsepower"}, mb.standardize(), mb.model("linear") }:fit(g):save(d .. "/reg.h5")
EOF
    # the Lua scorer's predictions, in score's CSV format
    cat > "$T/lua_predict.lua" <<'EOF'
local mb = require "moonbench"
local f, q = mb.open(arg[2]), mb.load(arg[1])
local v = q:predict(f)
if q:info().task == "regression" then
  print("prediction")
  for r = 1, #v do print(string.format("%.9g", (string.unpack("f", string.pack("f", v[r]))))) end
  return
end
local pr = q:predict_proba(f)
local cols, h, pc = pr:columns(), {"prediction"}, {}
for i, c in ipairs(cols) do h[#h + 1] = "proba_" .. c; pc[i] = pr:col(c) end
print(table.concat(h, ","))
for r = 1, #v do
  local t = {tostring(v[r])}
  -- the float itself (Lua gets its shortest decimal), formatted as C does
  for i = 1, #cols do t[#t + 1] = string.format("%.6g", (string.unpack("f", string.pack("f", pc[i][r])))) end
  print(table.concat(t, ","))
end
EOF
    "$MB" run "$T/fit.lua" "$T" >/dev/null
    "$MB" fit "$DATA/iris.h5" -m knn -o "$T/knn.h5" >/dev/null
}

# same_csv A B: the same labels, and numbers equal to one unit of the 6th digit (Lua sees a float32
# as the shortest decimal that reads back as it, so the 6th digit of a value
# printed with %.6g may round the other way)
same_csv() {
    paste -d'|' "$1" "$2" | awk -F'|' '{
        na = split($1, a, ","); nb = split($2, b, ",")
        if (na != nb) { print "line " NR ": " $0; bad = 1; next }
        for (i = 1; i <= na; i++) {
            if (a[i] == b[i]) continue
            if (a[i] ~ /^-?[0-9.e+-]+$/ && b[i] ~ /^-?[0-9.e+-]+$/ && (a[i] - b[i] < 1.5e-6 && b[i] - a[i] < 1.5e-6)) continue
            print "line " NR ": " a[i] " vs " b[i]; bad = 1
        }
    } END { exit bad }'
    [ "$(wc -l < "$1")" -eq "$(wc -l < "$2")" ]
}

@test "score: equals the Lua scorer for linear, trees and MLP pipelines with transforms" {
    T="$BATS_FILE_TMPDIR"
    for m in lin gbdt mlp; do
        run -0 "$MB" run "$T/lua_predict.lua" "$T/$m.h5" "$DATA/csv/credit_g.csv"
        printf '%s\n' "$output" > "$T/$m.lua.csv"
        run -0 --separate-stderr mb score "$T/$m.h5" "$DATA/csv/credit_g.csv" -o "$T/$m.csv"
        same_csv "$T/$m.csv" "$T/$m.lua.csv"
        [ "$(wc -l < "$T/$m.csv")" -eq 1001 ]
    done
    # regression, HDF5 input, log1p and poly2 steps
    run -0 "$MB" run "$T/lua_predict.lua" "$T/reg.h5" "$DATA/auto_mpg.h5"
    printf '%s\n' "$output" > "$T/reg.lua.csv"
    run -0 --separate-stderr mb score "$T/reg.h5" "$DATA/auto_mpg.h5" -o "$T/reg.csv"
    same_csv "$T/reg.csv" "$T/reg.lua.csv"
}

@test "score: says which path scored, counts rows, prints metrics when the target is there" {
    T="$BATS_FILE_TMPDIR"
    run -0 --separate-stderr mb score "$T/gbdt.h5" "$DATA/csv/credit_g.csv" -o "$T/o.csv"
    [[ "$stderr" == *"1000 rows scored, 0 rejected -> $T/o.csv, with the portable trees form of trees/gbdt (no plugin loaded)"* ]]
    [[ "$stderr" =~ "metrics on 1000 labelled rows: accuracy 0."[0-9]+", balanced accuracy" ]]
    [[ "$stderr" == *"ROC AUC 0."* ]]
    # accuracy as computed from the output itself
    acc=$(paste -d, "$T/o.csv" <(cut -d, -f21 "$DATA/csv/credit_g.csv") | awk -F, 'NR > 1 { n++; if ($1 == $NF) k++ } END { printf "%.4f", k / n }')
    [[ "$stderr" == *"accuracy $acc,"* ]]
    # the regression's RMSE against awk's
    run -0 --separate-stderr mb score "$T/reg.h5" "$DATA/auto_mpg.h5" -o "$T/r.csv"
    printf 'local f = require("moonbench").open(arg[1])\nprint("mpg")\nlocal y = f:col("mpg")\nfor i = 1, #y do print(y[i]) end\n' > "$T/y.lua"
    "$MB" run "$T/y.lua" "$DATA/auto_mpg.h5" > "$T/y.csv"
    rmse=$(paste -d, "$T/r.csv" "$T/y.csv" | awk -F, 'NR > 1 { d = $1 - $2; s += d * d; n++ } END { print sqrt(s / n) }')
    got=$(printf '%s\n' "$stderr" | sed -n 's/.*RMSE \([0-9.]*\),.*/\1/p')
    awk -v a="$got" -v b="$rmse" 'BEGIN { exit !(a - b < 1e-4 && b - a < 1e-4) }'
    # no target column: no metrics
    cut -d, -f1-20 "$DATA/csv/credit_g.csv" > "$T/nolabel.csv"
    run -0 --separate-stderr mb score "$T/gbdt.h5" "$T/nolabel.csv" -o "$T/o2.csv"
    [[ "$stderr" != *metrics* ]]
    cmp "$T/o.csv" "$T/o2.csv"
    # a model without a portable form goes through its plugin, and says so
    run -0 --separate-stderr mb score "$T/knn.h5" "$DATA/iris.h5" -o "$T/k.csv"
    [[ "$stderr" == *"with the plugin template "*"(model knn; no portable form)"* ]]
}

@test "predict is score: the same output, the same flags" {
    T="$BATS_FILE_TMPDIR"
    run -0 --separate-stderr mb score "$T/lin.h5" "$DATA/csv/credit_g.csv" -o "$T/s.csv" --id purpose
    run -0 --separate-stderr mb predict "$T/lin.h5" "$DATA/csv/credit_g.csv" -o "$T/p.csv" --id purpose
    cmp "$T/s.csv" "$T/p.csv"
    run -0 --separate-stderr mb predict "$T/lin.h5" "$DATA/csv/credit_g.csv"
    [ "$output" = "$(cut -d, -f2- "$T/s.csv")" ]
}

@test "score: chunks, HDF5 tables in and HDF5 out give the same predictions" {
    T="$BATS_FILE_TMPDIR"
    run -0 --separate-stderr mb score "$T/lin.h5" "$DATA/csv/credit_g.csv" -o "$T/a.csv"
    run -0 --separate-stderr mb score "$T/lin.h5" "$DATA/csv/credit_g.csv" -o "$T/b.csv" --chunk 7
    cmp "$T/a.csv" "$T/b.csv"
    # a chunk's 2,048-row slices scored on a pool: the same bytes for any thread count
    { cat "$DATA/csv/credit_g.csv"; for k in 1 2 3 4 5 6; do tail -n +2 "$DATA/csv/credit_g.csv"; done; } > "$T/big.csv"
    run -0 --separate-stderr mb score "$T/gbdt.h5" "$T/big.csv" -o "$T/g1.csv" --threads 1
    run -0 --separate-stderr mb score "$T/gbdt.h5" "$T/big.csv" -o "$T/g3.csv" --threads 3 --chunk 5000
    cmp "$T/g1.csv" "$T/g3.csv"
    [ "$(wc -l < "$T/g3.csv")" -eq 7001 ]
    # the pandas table layout of the same data, read by row ranges
    run -0 --separate-stderr mb score "$T/lin.h5" "$DATA/table/credit_g.h5" -o "$T/c.csv" --chunk 333
    cmp "$T/a.csv" "$T/c.csv"
    # HDF5 out: moonbench reads it back as the same table
    run -0 --separate-stderr mb score "$T/lin.h5" "$DATA/csv/credit_g.csv" -o "$T/o.h5" --chunk 100 --id credit_amount
    run -0 h5dump -d /X -w 0 "$T/o.h5"
    assert_output --partial "( 1000, 3 ) / ( H5S_UNLIMITED, 3 )"
    printf 'local mb = require "moonbench"\nlocal f = mb.open(arg[1])\nprint(table.concat(f:columns(), ","))\nlocal p = f:col("prediction")\nprint(p[1], p[2], f:col("credit_amount")[2])\n' > "$T/read.lua"
    run -0 "$MB" run "$T/read.lua" "$T/o.h5"
    assert_line --index 0 "credit_amount,prediction,proba_good,proba_bad"
    assert_line --index 1 "$(printf 'good\tbad\t5951.0')"
}

@test "score --threads: rows transformed on the pool, rejects still reported in row order with the same bytes" {
    T="$BATS_FILE_TMPDIR"
    # 7,000 rows, every 997th duration not a number, so several 2,048-row slices hold rejects
    { cat "$DATA/csv/credit_g.csv"; for k in 1 2 3 4 5 6; do tail -n +2 "$DATA/csv/credit_g.csv"; done; } |
        awk -F, -v OFS=, 'NR > 1 && NR % 997 == 0 { $2 = "x" $2 } { print }' > "$T/bigbad.csv"
    run -0 --separate-stderr mb score "$T/gbdt.h5" "$T/bigbad.csv" -o "$T/bb1.csv" --threads 1
    [[ "$stderr" == *"6993 rows scored, 7 rejected"* ]]
    run -0 --separate-stderr mb score "$T/gbdt.h5" "$T/bigbad.csv" -o "$T/bb3.csv" --threads 3
    cmp "$T/bb1.csv" "$T/bb3.csv"
    cmp "$T/bb1.csv.rejects.csv" "$T/bb3.csv.rejects.csv"
    run cat "$T/bb3.csv.rejects.csv"
    assert_line --index 1 --regexp "^997,column 'duration': 'x[0-9]+' is not a number$"
    assert_line --index 7 --regexp "^6979,column 'duration': 'x[0-9]+' is not a number$"
}

@test "score: reading, scoring and writing overlapped give the sequential bytes (CSV and HDF5, in and out)" {
    T="$BATS_FILE_TMPDIR"
    # 7,000 rows in chunks of 300: a text id unique to each row (its levels grow in every chunk,
    # while the chunks before are still being scored and written), every 997th duration not a number
    { cat "$DATA/csv/credit_g.csv"; for k in 1 2 3 4 5 6; do tail -n +2 "$DATA/csv/credit_g.csv"; done; } |
        awk -F, -v OFS=, 'NR == 1 { print "rid", $0; next } NR % 997 == 0 { $2 = "x" $2 } { print "r" NR, $0 }' > "$T/ov.csv"
    printf 'require("moonbench").open(arg[1]):save(arg[2])\n' > "$T/ovh5.lua"
    mb run "$T/ovh5.lua" "$T/ov.csv" "$T/ov.h5"
    for in in csv h5; do
        for out in csv h5; do
            run -0 --separate-stderr env MOONBENCH_SCORE_SEQUENTIAL=1 "$MB" score "$T/gbdt.h5" "$T/ov.$in" \
                -o "$T/seq.$in.$out" --chunk 300 --threads 2 --id rid
            [[ "$stderr" == *"6993 rows scored, 7 rejected"* ]]
            run -0 --separate-stderr mb score "$T/gbdt.h5" "$T/ov.$in" -o "$T/ovl.$in.$out" --chunk 300 --threads 2 --id rid
            [[ "$stderr" == *"6993 rows scored, 7 rejected"* ]]
            cmp "$T/seq.$in.$out.rejects.csv" "$T/ovl.$in.$out.rejects.csv"
            if [ "$out" = csv ]; then
                cmp "$T/seq.$in.$out" "$T/ovl.$in.$out"
            else # HDF5 files carry their creation times: compare what they hold
                h5dump "$T/seq.$in.$out" | tail -n +2 > "$T/seq.dump"
                h5dump "$T/ovl.$in.$out" | tail -n +2 > "$T/ovl.dump"
                cmp "$T/seq.dump" "$T/ovl.dump"
                grep -q '"r7001"' "$T/ovl.dump"
            fi
        done
        # to stdout, rejects on stderr, in row order
        run -0 --separate-stderr env MOONBENCH_SCORE_SEQUENTIAL=1 "$MB" score "$T/gbdt.h5" "$T/ov.$in" --chunk 300 --id rid
        printf '%s\n' "$output" > "$T/seq.stdout"
        printf '%s\n' "$stderr" > "$T/seq.stderr"
        run -0 --separate-stderr mb score "$T/gbdt.h5" "$T/ov.$in" --chunk 300 --id rid
        [ "$output" = "$(cat "$T/seq.stdout")" ]
        [ "$stderr" = "$(cat "$T/seq.stderr")" ]
    done
    # every good row is there, the ids with them
    [ "$(wc -l < "$T/ovl.csv.csv")" -eq 6994 ]
    tail -n 1 "$T/ovl.csv.csv" | grep -q '^r7001,'
}

@test "score: an HDF5 input's forked probe runs before the reader, writer and pool threads start" {
    # the probe's child waits forever on a lock another thread held at the fork (h5probe.c):
    # no process may be forked once a thread exists (strace shows forks and thread starts in order)
    command -v strace >/dev/null || skip "no strace"
    T="$BATS_FILE_TMPDIR"
    # (LeakSanitizer cannot run under ptrace: off for the ASan build)
    run -0 --separate-stderr env ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
        strace -f -qq -e trace=clone,clone3,fork,vfork -o "$T/clones.txt" \
        "$MB" score "$T/gbdt.h5" "$DATA/table/credit_g.h5" -o "$T/probe.csv" --chunk 100 --threads 2
    [[ "$stderr" == *"1000 rows scored"* ]]
    grep -q CLONE_THREAD "$T/clones.txt"
    awk '/CLONE_THREAD/ { t = 1; next } /(clone|fork)\(/ && /SIGCHLD/ && t { print "fork after a thread: " $0; bad = 1 }
         END { exit bad }' "$T/clones.txt"
}

@test "score: a deep gbdt on rows with missing values gives the plugin's own probabilities" {
    T="$BATS_FILE_TMPDIR"
    # holes in several columns, so NaN meets nodes that send it left and right (in training too);
    # depth 10 and 13 trees (not a multiple of the walk's 8); whole chunks, and chunks of one row
    awk -F, -v OFS=, 'NR > 1 && NR % 3 == 0 { $1 = ""; $8 = "" } NR > 1 && NR % 4 == 0 { $3 = ""; $22 = ""; $28 = "" } 1' \
        "$DATA/csv/breast_cancer.csv" > "$T/bch.csv"
    cat > "$T/deep.lua" <<'EOF'
local mb = require "moonbench"
local f = mb.open(arg[1])
f:set_target("target")
local p = mb.pipeline{ mb.model("gbdt", {n_trees = 13, max_depth = 10, learning_rate = 0.3}) }:fit(f)
p:save(arg[2])
local pr = p:predict_proba(f)
local c = pr:col(pr:columns()[2])
for r = 1, #c do print(string.format("%.9g", c[r])) end
EOF
    "$MB" run "$T/deep.lua" "$T/bch.csv" "$T/deep.h5" > "$T/deep.plugin.txt"
    [ "$(wc -l < "$T/deep.plugin.txt")" -eq 569 ]
    for chunk in 100000 1; do
        run -0 --separate-stderr mb score "$T/deep.h5" "$T/bch.csv" -o "$T/deep.csv" --chunk $chunk
        [[ "$stderr" == *"portable trees form"* ]]
        paste -d, <(tail -n +2 "$T/deep.csv" | cut -d, -f3) "$T/deep.plugin.txt" |
            awk -F, '{ d = $1 - $2; if (d < 0) d = -d; if (d > 1e-6) { print NR ": " $0; bad++ } } END { exit bad > 0 }'
    done
}

@test "score: rejected rows go to the rejects file with their CSV line (HDF5: row index) and reason" {
    T="$BATS_FILE_TMPDIR"
    # blank lines (skipped, as pandas does): a line is not a row + 1
    { head -1 "$DATA/csv/credit_g.csv"; echo; sed -n 2p "$DATA/csv/credit_g.csv"; echo "  ";
      sed -n 3,6p "$DATA/csv/credit_g.csv"; } > "$T/bad.csv"
    sed -i '5s/,48,/,forty,/; 7s/,42,/,4x2,/' "$T/bad.csv"
    sed -n 5p "$T/bad.csv" | grep -q '^0<=X<200,forty,'   # line 5 holds data row 2
    run -0 --separate-stderr mb score "$T/lin.h5" "$T/bad.csv" -o "$T/bad.out.csv" --id credit_amount
    [[ "$stderr" == *"3 rows scored, 2 rejected (-> $T/bad.out.csv.rejects.csv)"* ]]
    run cat "$T/bad.out.csv.rejects.csv"
    assert_line --index 0 "line,reason"
    assert_line --index 1 "5,column 'duration': 'forty' is not a number"
    assert_line --index 2 "7,column 'duration': '4x2' is not a number"
    # with chunks of 2 rows the lines are the same
    run -0 --separate-stderr mb score "$T/lin.h5" "$T/bad.csv" -o "$T/bad2.csv" --chunk 2
    assert_equal "$(cat "$T/bad2.csv.rejects.csv")" "$(cat "$T/bad.out.csv.rejects.csv")"
    # the same rows from HDF5 are named by their 0-based row index (X[i])
    cat > "$T/toh5.lua" <<'EOS'
require("moonbench").open(arg[1]):save(arg[2])
EOS
    mb run "$T/toh5.lua" "$T/bad.csv" "$T/bad.h5"
    run -0 --separate-stderr mb score "$T/lin.h5" "$T/bad.h5" -o "$T/badh.csv" --rejects "$T/badh.rej"
    run cat "$T/badh.rej"
    assert_line --index 0 "row,reason"
    assert_line --index 1 "1,column 'duration': 'forty' is not a number"
    assert_line --index 2 "3,column 'duration': '4x2' is not a number"
    # the others are scored as in the clean file
    run -0 --separate-stderr mb score "$T/lin.h5" "$DATA/csv/credit_g.csv" -o "$T/clean.csv" --id credit_amount
    [ "$(sed -n '2p;4p;6p' "$T/clean.csv")" = "$(tail -n 3 "$T/bad.out.csv")" ]
    # an unseen level: onehot "ignore" scores it, onehot "error" rejects the row naming it
    sed -i '6s/,education,/,spaceship,/' "$T/bad.csv"
    sed -n 6p "$T/bad.csv" | grep -q ',spaceship,'
    run -0 --separate-stderr mb score "$T/lin.h5" "$T/bad.csv" -o "$T/u.csv" --rejects "$T/u.rej"
    [[ "$stderr" == *"3 rows scored, 2 rejected (-> $T/u.rej)"* ]]
    run -0 --separate-stderr mb score "$T/mlp.h5" "$T/bad.csv" -o "$T/u.csv" --rejects "$T/u.rej"
    [[ "$stderr" == *"2 rows scored, 3 rejected"* ]]
    grep -qx "6,\"column 'purpose' has level 'spaceship', which was not seen in training\"" "$T/u.rej"
    # to stdout, rejects are reported on stderr
    run -0 --separate-stderr mb score "$T/lin.h5" "$T/bad.csv"
    [[ "$stderr" == *"rejected line 5: column 'duration': 'forty' is not a number"* ]]
}

@test "score: bad input is refused by name, with no output left behind" {
    T="$BATS_FILE_TMPDIR"
    cut -d, -f2- "$DATA/csv/credit_g.csv" > "$T/nocol.csv"
    run -1 mb score "$T/lin.h5" "$T/nocol.csv" -o "$T/none.csv"
    assert_output --partial "the data has no column 'checking_status', which the model was trained on"
    [ ! -e "$T/none.csv" ]
    run -1 mb score "$T/lin.h5" "$DATA/csv/credit_g.csv" -o "$T/none.csv" --id nosuch
    assert_output --partial "no column 'nosuch' to pass through (--id)"
    run -2 mb score "$T/lin.h5"
    assert_output --partial "usage: moonbench score"
    run -2 mb score "$T/lin.h5" --stream "$DATA/iris.h5"
    run -2 mb score "$T/lin.h5" x.csv --threshold 2
    run -2 mb score "$T/lin.h5" --stream --batch 0
    run -2 mb score "$T/lin.h5" "$DATA/csv/credit_g.csv" -o "$T/none.csv" --threads 0
    assert_output --partial "--threads takes a whole number from 1 to 64, not '0'"
    [ ! -e "$T/none.csv" ]
}

@test "score --threshold: binary labels follow P(class 1) > threshold" {
    T="$BATS_FILE_TMPDIR"
    run -0 --separate-stderr mb score "$T/lin.h5" "$DATA/csv/credit_g.csv" -o "$T/t.csv" --threshold 0.8
    # class 1 is the second class ("bad"): its probability is column 3
    run awk -F, 'NR > 1 && (($3 > 0.8) != ($1 == "bad")) { bad++ } NR > 1 && $1 == "bad" { n++ } END { print bad + 0, n + 0 }' "$T/t.csv"
    [ "${output% *}" = 0 ]
    n08=${output#* }
    run -0 --separate-stderr mb score "$T/lin.h5" "$DATA/csv/credit_g.csv" -o "$T/t5.csv"
    n05=$(awk -F, 'NR > 1 && $1 == "bad"' "$T/t5.csv" | wc -l)
    [ "$n08" -lt "$n05" ]
}

@test "fit --threshold and p:save{threshold}: the bundle's threshold decides score's labels, fit's figures and mb.load's" {
    T="$BATS_FILE_TMPDIR"
    run -0 mb fit "$DATA/breast_cancer.h5" -m linear --threshold 0.3 -o "$T/thr.h5"
    assert_output --partial "decision threshold 0.3 stored: class 'benign'"
    fit_acc=$(echo "$output" | sed -n 's/^training: accuracy \([0-9.]*\),.*/\1/p')
    run -0 mb inspect "$T/thr.h5"
    assert_output --partial "@threshold = '0.3'"
    run -0 --separate-stderr mb score "$T/thr.h5" "$DATA/breast_cancer.h5" -o "$T/thr.csv"
    # fit's training figure (all rows) is the accuracy at 0.3 that score measures
    [[ "$stderr" == *"metrics on 569 labelled rows: accuracy $fit_acc,"* ]]
    # class 1 ("benign") exactly when its probability (column 3) is above 0.3
    run awk -F, 'NR > 1 && (($3 > 0.3) != ($1 == "benign")) { bad++ } NR > 1 && $3 > 0.3 && $3 <= 0.5 { mid++ } END { print bad + 0, mid + 0 }' "$T/thr.csv"
    [ "${output% *}" = 0 ]
    [ "${output#* }" -gt 0 ]   # rows between 0.3 and 0.5: the threshold changed their label
    # --threshold on the command line still wins over the bundle's
    run -0 --separate-stderr mb score "$T/thr.h5" "$DATA/breast_cancer.h5" -o "$T/thr5.csv" --threshold 0.5
    run awk -F, 'NR > 1 && (($3 > 0.5) != ($1 == "benign")) { bad++ } END { print bad + 0 }' "$T/thr5.csv"
    [ "$output" = 0 ]
    # the same from Lua: p:save{threshold = 0.3}; mb.load predicts with it, and
    # a plugin-scored bundle (knn: no portable form) follows it too
    cat > "$T/thr.lua" <<'EOS'
local mb = require "moonbench"
local f = mb.open(arg[1])
local p = mb.pipeline{ mb.standardize(), mb.model("linear") }:fit(f)
p:save(arg[2] .. "/thr_lua.h5", { threshold = 0.3 })
mb.model("knn"):fit(f):save(arg[2] .. "/thr_knn.h5", { threshold = 0.7 })
for _, c in ipairs{ { "thr_lua.h5", 0.3 }, { "thr_knn.h5", 0.7 } } do
  local q = mb.load(arg[2] .. "/" .. c[1])
  local lab, pr = q:predict(f), q:predict_proba(f):col("benign")
  local moved = 0
  for i = 1, #lab do
    assert((pr[i] > c[2]) == (lab[i] == "benign"), c[1] .. " row " .. i)
    if (pr[i] > c[2]) ~= (pr[i] > 0.5) then moved = moved + 1 end
  end
  assert(moved > 0, c[1] .. ": no row between the thresholds")
end
local ok, e = pcall(p.save, p, arg[2] .. "/bad.h5", { threshold = 1.5 })
assert(not ok and e:find("threshold must be a probability in %(0, 1%)"), e)
print("ok")
EOS
    run -0 mb run "$T/thr.lua" "$DATA/breast_cancer.h5" "$T"
    assert_output "ok"
    run -0 mb inspect "$T/thr_knn.h5"
    assert_output --partial "@threshold = '0.7'"
    run -0 --separate-stderr mb score "$T/thr_knn.h5" "$DATA/breast_cancer.h5" -o "$T/knn.csv"
    run awk -F, 'NR > 1 && (($3 > 0.7) != ($1 == "benign")) { bad++ } END { print bad + 0 }' "$T/knn.csv"
    [ "$output" = 0 ]
    # refused: a multiclass model, a value outside (0, 1)
    run -1 mb fit "$DATA/iris.h5" -m linear --threshold 0.3 -o "$T/no.h5"
    assert_output --partial "a decision threshold is for binary models; this task is multiclass (3 classes)"
    run -2 mb fit "$DATA/breast_cancer.h5" -m linear --threshold 1 -o "$T/no.h5"
    assert_output --partial "--threshold takes a probability in (0, 1), not '1'"
    [ ! -e "$T/no.h5" ]
}

@test "score --stream: NDJSON objects and arrays, errors per line, order kept" {
    T="$BATS_FILE_TMPDIR"
    # the first rows of iris as objects, an array, then bad lines
    run -0 --separate-stderr mb score "$T/knn.h5" "$DATA/iris.h5" -o "$T/k.csv"
    cat > "$T/in.ndjson" <<'EOF'
{"sepal length (cm)": 5.1, "sepal width (cm)": 3.5, "petal length (cm)": 1.4, "petal width (cm)": 0.2, "extra": [1]}
[7.0, 3.2, 4.7, 1.4]

{"sepal length (cm)": 5.1}
not json
[1, 2]
{"sepal length (cm)": "x", "sepal width (cm)": 3.5, "petal length (cm)": 1.4, "petal width (cm)": 0.2}
{"sepal length (cm)": {}, "sepal width (cm)": 3.5, "petal length (cm)": 1.4, "petal width (cm)": 0.2}
["6.3", "3.3", "6.0", "2.5"]
EOF
    run -0 --separate-stderr mb score "$T/knn.h5" --stream < "$T/in.ndjson"
    assert_line --index 0 '{"line":1,"prediction":"setosa","probabilities":{"setosa":1.0,"versicolor":0.0,"virginica":0.0}}'
    assert_line --index 1 --regexp '^\{"line":2,"prediction":"versicolor",'
    assert_line --index 2 '{"line":4,"error":"the row has no value for column '"'"'sepal width (cm)'"'"'"}'
    assert_line --index 3 --regexp '^\{"line":5,"error":"not JSON: '
    assert_line --index 4 '{"line":6,"error":"an array of 2 values; the model takes 4 (its inputs in order)"}'
    assert_line --index 5 '{"line":7,"error":"column '"'"'sepal length (cm)'"'"': '"'"'x'"'"' is not a number"}'
    assert_line --index 6 --regexp '^\{"line":8,"error":"column .* expected a number, a string or null, got an object"\}'
    assert_line --index 7 --regexp '^\{"line":9,"prediction":"virginica",'
    [ "${#lines[@]}" -eq 8 ]
    [[ "$stderr" == *"3 lines scored, 5 errors"* ]]
}

@test "score --stream: CSV lines (header or positional) equal batch scoring; batching keeps order" {
    T="$BATS_FILE_TMPDIR"
    run -0 --separate-stderr mb score "$T/gbdt.h5" "$DATA/csv/credit_g.csv" -o "$T/g.csv"
    # the batch answers as stream lines, to compare with
    awk -F, 'NR > 1 { printf "{\"line\":%d,\"prediction\":\"%s\",\"probabilities\":{\"good\":%s,\"bad\":%s}}\n", NR, $1, $2, $3 }' "$T/g.csv" > "$T/want"
    run -0 --separate-stderr mb score "$T/gbdt.h5" --stream < "$DATA/csv/credit_g.csv"
    [ "$output" = "$(cat "$T/want")" ]
    # micro-batches of 64 and a producer that pauses: same lines, same order
    run -0 --separate-stderr mb score "$T/gbdt.h5" --stream --batch 64 --format csv < "$DATA/csv/credit_g.csv"
    [ "$output" = "$(cat "$T/want")" ]
    run -0 --separate-stderr bash -c "{ head -30 '$DATA/csv/credit_g.csv'; sleep 0.3; tail -n +31 '$DATA/csv/credit_g.csv'; } | '$MB' score '$T/gbdt.h5' --stream --batch 1000"
    [ "$output" = "$(cat "$T/want")" ]
    # positional CSV lines (no header) in input order, and a bad one
    sed -n 2,3p "$DATA/csv/credit_g.csv" | cut -d, -f1-20 > "$T/pos.csv"
    echo '1,2' >> "$T/pos.csv"
    run -0 --separate-stderr mb score "$T/gbdt.h5" --stream < "$T/pos.csv"
    assert_line --index 0 "$(sed -n 1p "$T/want" | sed 's/"line":2/"line":1/')"
    assert_line --index 1 "$(sed -n 2p "$T/want" | sed 's/"line":3/"line":2/')"
    assert_line --index 2 --partial '"line":3,"error":"2 fields, expected 20'
}

@test "score --stream: each answer is flushed before the next line arrives" {
    T="$BATS_FILE_TMPDIR"
    mkfifo "$T/fifo"
    "$MB" score "$T/knn.h5" --stream --batch 100 < "$T/fifo" > "$T/answers" 2>/dev/null &
    pid=$!
    exec 7> "$T/fifo"
    echo '[5.1, 3.5, 1.4, 0.2]' >&7
    for i in $(seq 50); do [ -s "$T/answers" ] && break; sleep 0.1; done
    run cat "$T/answers"
    assert_output --partial '"line":1,"prediction":"setosa"'
    exec 7>&-
    wait "$pid"
}

@test "score: a pipeline with a Lua step runs through embedded Lua only with --allow-lua" {
    T="$BATS_FILE_TMPDIR"
    cd "$T"
    cat > luastep.lua <<'EOS'
local mb = require "moonbench"
local step = mb.lua_transform [[
return {
  fit = function(state, frame) state.mean = frame:col("petal length (cm)"):mean() end,
  apply = function(state, frame) return frame:derive("pc", frame:col("petal length (cm)") - state.mean) end,
}]]
local f = mb.open(arg[1])
mb.pipeline { step, mb.model("linear") }:fit(f):save(arg[2])
EOS
    run -0 "$MB" run luastep.lua "$DATA/iris.h5" luab.h5
    run -1 mb score luab.h5 "$DATA/iris.h5" -o l.csv
    assert_output --partial "pipeline step 1 is a Lua transform; loading it runs code from the bundle: pass --allow-lua"
    [ ! -e l.csv ]
    run -0 --separate-stderr mb score luab.h5 "$DATA/iris.h5" -o l.csv --allow-lua --chunk 40
    [[ "$stderr" == *"150 rows scored, 0 rejected -> l.csv, with the embedded Lua for pipeline step 1 (allowed), then the portable linear form"* ]]
    # the row path (a one-row frame through the same steps) agrees with the batch
    run -0 --separate-stderr mb score luab.h5 --stream --allow-lua <<< '[5.1, 3.5, 1.4, 0.2]'
    p=$(sed -n 2p l.csv | cut -d, -f2)
    assert_output --regexp "^\{\"line\":1,\"prediction\":\"setosa\",\"probabilities\":\{\"setosa\":$p,"
}
