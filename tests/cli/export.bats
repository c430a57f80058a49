#!/usr/bin/env bats
# moonbench export: C and ONNX exports of linear, tree (GBDT, forest) and
# MLP bundles with transforms, each checked against `moonbench predict` on
# a dataset (max abs difference <= 1e-5, identical classes). The C output
# is compiled with cc -std=c99 -Wall -Wextra -Werror and a driver
# (export_driver.c); the ONNX output passes onnx.checker (full check) and
# runs in ONNX Runtime (npm onnxruntime-node, installed into tests/onnx).
load helpers

ONNX_DIR="$ROOT/tests/onnx"

# name dataset(table layout) model params steps
BUNDLES=(
    "lin_bin breast_cancer linear - standardize"
    "lin_multi wine linear - impute:strategy=median,minmax"
    "lin_reg diabetes linear - log1p,poly2:columns=bmi|bp,standardize"
    "gbdt_bin credit_g gbdt n_trees=30 onehot,standardize"
    "gbdt_multi iris gbdt n_trees=20 clip:lo=1;hi=6"
    "gbdt_reg auto_mpg gbdt n_trees=30 impute:add_indicator=true,ordinal"
    "forest_bin vote forest n_trees=20 impute:strategy=most_frequent,onehot"
    "forest_multi wine forest n_trees=10 select:columns=alcohol|flavanoids|proline|hue"
    "forest_reg diabetes forest n_trees=10 drop:columns=sex,minmax"
    "mlp_multi iris mlp hidden_layers=16,epochs=40 standardize"
    "mlp_reg diabetes mlp hidden_layers=8,epochs=40,activation=tanh standardize"
    "mlp_bin breast_cancer mlp hidden_layers=8,epochs=20,activation=gelu minmax"
)

setup_file() {
    cd "$BATS_FILE_TMPDIR" || return 1
    for spec in "${BUNDLES[@]}"; do
        read -r name data model params steps <<<"$spec"
        [ "$params" = - ] && params=""
        "$MB" run "$ONNX_DIR/fit_pipeline.lua" "$DATA/table/$data.h5" "$name.h5" "$model" "$params" "$steps" \
            >/dev/null || return 1
        "$MB" predict "$name.h5" "$DATA/csv/$data.csv" -o "$name.ref.csv" 2>/dev/null || return 1
        echo "$data" > "$name.data"
    done
    # without transforms (moonbench fit: the inputs are the model's features)
    "$MB" fit "$DATA/breast_cancer.h5" -m gbdt -p n_trees=200 -o plain_gbdt.h5 >/dev/null || return 1
    "$MB" predict plain_gbdt.h5 "$DATA/csv/breast_cancer.csv" -o plain_gbdt.ref.csv 2>/dev/null || return 1
    echo breast_cancer > plain_gbdt.data
    "$MB" fit "$DATA/iris.h5" -m gbdt -p n_trees=20 -o plain_iris.h5 >/dev/null || return 1
    # ONNX Runtime for node, once (the CPU library is in the npm package;
    # the postinstall would download CUDA parts: skipped)
    if command -v npm >/dev/null && [ ! -d "$ONNX_DIR/node_modules/onnxruntime-node" ]; then
        (cd "$ONNX_DIR" && ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund) >npm.log 2>&1
    fi
}

# Export NAME to C (options after the CSV), build it with the driver,
# score the dataset's CSV.
c_predict() {
    local name=$1 csv=$2
    shift 2
    "$MB" export "$name.h5" --format c "$@" -o "$name.c.d" 2>/dev/null || return 1
    cc -std=c99 -Wall -Wextra -Werror -pedantic -O1 -I"$name.c.d" -o "$name.drv" \
        "$ROOT/tests/cli/export_driver.c" "$name.c.d/model.c" -lm || return 1
    "./$name.drv" < "$csv" > "$name.c.out"
}

c_equal() {
    local name=$1
    shift
    cd "$BATS_FILE_TMPDIR"
    c_predict "$name" "$DATA/csv/$(cat "$name.data").csv" "$@"
    run /usr/bin/python3 "$ONNX_DIR/compare.py" "$name.ref.csv" "$name.c.out"
    echo "$output"
    assert_success
    assert_output --partial "0 labels differ"
}

# ONNX Runtime is there, or npm is absent (skip), or its install failed.
need_ort() {
    command -v node >/dev/null && command -v npm >/dev/null || skip "node and npm are not installed"
    [ -d "$ONNX_DIR/node_modules/onnxruntime-node" ] && return 0
    cat "$BATS_FILE_TMPDIR/npm.log" 2>/dev/null
    fail "npm ci in tests/onnx did not install onnxruntime-node (its output above)"
}

onnx_equal() {
    local name=$1
    need_ort
    cd "$BATS_FILE_TMPDIR"
    local csv="$DATA/csv/$(cat "$name.data").csv"
    run "$MB" export "$name.h5" --format onnx -o "$name.onnx"
    assert_success
    run /usr/bin/python3 "$ONNX_DIR/check_model.py" "$name.onnx"
    assert_success
    assert_output --partial "IR 8, opsets ai.onnx 13, ai.onnx.ml 3"
    # the rows as the model's float inputs (names matched, level codes), by the C driver
    [ -x "$name.drv" ] || c_predict "$name" "$csv"
    "./$name.drv" --rows < "$csv" > "$name.rows"
    run node "$ONNX_DIR/run.mjs" "$name.onnx" "$name.rows"
    assert_success
    echo "$output" > "$name.onnx.out"
    run /usr/bin/python3 "$ONNX_DIR/compare.py" "$name.ref.csv" "$name.onnx.out"
    echo "$output"
    assert_success
    assert_output --partial "0 labels differ"
}

@test "export c: linear, binary, standardize" { c_equal lin_bin; }
@test "export c: linear, multiclass, impute (median) + minmax" { c_equal lin_multi; }
@test "export c: linear, regression, log1p + poly2 + standardize" { c_equal lin_reg; }
@test "export c: gbdt, binary, onehot (categorical inputs) + standardize" { c_equal gbdt_bin; }
@test "export c: gbdt, multiclass, clip" { c_equal gbdt_multi; }
@test "export c: gbdt, regression, impute with indicators + ordinal" { c_equal gbdt_reg; }
@test "export c: forest, binary, impute (most frequent, categorical) + onehot" { c_equal forest_bin; }
@test "export c: forest, multiclass, select" { c_equal forest_multi; }
@test "export c: forest, regression, drop + minmax" { c_equal forest_reg; }
@test "export c: mlp, multiclass, standardize" { c_equal mlp_multi; }
@test "export c: mlp (tanh), regression" { c_equal mlp_reg; }
@test "export c: mlp (gelu), binary" { c_equal mlp_bin; }

@test "export onnx: linear, binary, standardize" { onnx_equal lin_bin; }
@test "export onnx: linear, multiclass, impute (median) + minmax" { onnx_equal lin_multi; }
@test "export onnx: linear, regression, log1p + poly2 + standardize" { onnx_equal lin_reg; }
@test "export onnx: gbdt, binary, onehot (categorical inputs) + standardize" { onnx_equal gbdt_bin; }
@test "export onnx: gbdt, multiclass, clip" { onnx_equal gbdt_multi; }
@test "export onnx: gbdt, regression, impute with indicators + ordinal" { onnx_equal gbdt_reg; }
@test "export onnx: forest, binary, impute (most frequent, categorical) + onehot" { onnx_equal forest_bin; }
@test "export onnx: forest, multiclass, select" { onnx_equal forest_multi; }
@test "export onnx: forest, regression, drop + minmax" { onnx_equal forest_reg; }
@test "export onnx: mlp, multiclass, standardize" { onnx_equal mlp_multi; }
@test "export onnx: mlp (tanh), regression" { onnx_equal mlp_reg; }
@test "export onnx: mlp (gelu), binary" { onnx_equal mlp_bin; }

@test "export c: gbdt of 200 trees without transforms" { c_equal plain_gbdt; }
@test "export c: trees are padded complete trees by default, nested ifs with --tree-code" {
    cd "$BATS_FILE_TMPDIR"
    c_equal plain_gbdt
    grep -q "static const uint32_t feat" plain_gbdt.c.d/model.c
    ! grep -q "if (f\[" plain_gbdt.c.d/model.c
    c_equal plain_gbdt --tree-code
    grep -q "if (f\[" plain_gbdt.c.d/model.c
    ! grep -q "static const uint32_t feat" plain_gbdt.c.d/model.c
    c_equal gbdt_multi --tree-code
    c_equal forest_bin --tree-code
    run "$MB" export plain_gbdt.h5 --format onnx --tree-code -o x.onnx
    assert_failure 2
    assert_output --partial "--tree-code is an option of --format c"
}
@test "export c --tree-tables: gbdt and forest as tables" {
    c_equal gbdt_multi --tree-tables
    grep -q "static const float threshold" "$BATS_FILE_TMPDIR/gbdt_multi.c.d/model.c"
    c_equal forest_bin --tree-tables
}
@test "export onnx: gbdt of 200 trees without transforms" { onnx_equal plain_gbdt; }

# Inputs exactly on every split threshold and one float32 step either side:
# the exports take the workbench's branch at each (x <= t goes left).
@test "export c and onnx: rows on the split thresholds take the workbench's branches" {
    cd "$BATS_FILE_TMPDIR"
    # the thresholds are read from the nested ifs (--tree-code)
    "$MB" export plain_iris.h5 --format c --tree-code -o ties.d 2>/dev/null
    run /usr/bin/python3 "$ONNX_DIR/tie_rows.py" ties.d "$DATA/csv/iris.csv" ties.csv
    assert_success
    "$MB" predict plain_iris.h5 ties.csv -o ties.ref.csv 2>/dev/null
    cc -std=c99 -Wall -Wextra -Werror -Ities.d -o ties.drv "$ROOT/tests/cli/export_driver.c" ties.d/model.c -lm
    ./ties.drv < ties.csv > ties.c.out
    # the probabilities change across a threshold: the rows do test the branches
    [ "$(sort -u ties.c.out | wc -l)" -gt 10 ]
    run /usr/bin/python3 "$ONNX_DIR/compare.py" ties.ref.csv ties.c.out
    assert_success
    # the other two layouts: tables, and the default padded complete trees
    for how in --tree-tables ""; do
        "$MB" export plain_iris.h5 --format c $how -o ties_t.d 2>/dev/null
        cc -std=c99 -Wall -Wextra -Werror -Ities_t.d -o ties_t.drv "$ROOT/tests/cli/export_driver.c" ties_t.d/model.c -lm
        ./ties_t.drv < ties.csv > ties_t.c.out
        run /usr/bin/python3 "$ONNX_DIR/compare.py" ties.ref.csv ties_t.c.out
        assert_success
    done
    grep -q "static const uint32_t feat" ties_t.d/model.c
    need_ort
    "$MB" export plain_iris.h5 --format onnx -o ties.onnx 2>/dev/null
    ./ties.drv --rows < ties.csv > ties.rows
    node "$ONNX_DIR/run.mjs" ties.onnx ties.rows > ties.onnx.out
    run /usr/bin/python3 "$ONNX_DIR/compare.py" ties.ref.csv ties.onnx.out
    assert_success
}

# Missing values (NaN: the trees' default direction) and a level not seen
# in training (onehot: all zeros), in the same rows for predict, C and ONNX.
@test "export c and onnx: missing numbers and an unseen level score as in the workbench" {
    cd "$BATS_FILE_TMPDIR"
    # credit_g: duration (2nd) and credit_amount (5th) blanked on every third
    # row, purpose (4th) set to a level training never saw on every fifth
    awk -F, -v OFS=, 'NR > 1 && NR % 3 == 0 { $2 = ""; $5 = "" } NR > 1 && NR % 5 == 0 { $4 = "spaceship" } 1' \
        "$DATA/csv/credit_g.csv" > holes.csv
    grep -q ',spaceship,' holes.csv
    run "$MB" predict gbdt_bin.h5 holes.csv -o holes.ref.csv
    assert_success
    c_predict gbdt_bin holes.csv
    run /usr/bin/python3 "$ONNX_DIR/compare.py" holes.ref.csv gbdt_bin.c.out
    assert_success
    need_ort
    "$MB" export gbdt_bin.h5 --format onnx -o holes.onnx 2>/dev/null
    ./gbdt_bin.drv --rows < holes.csv > holes.rows
    grep -q ',-1,' holes.rows
    grep -q 'nan' holes.rows
    node "$ONNX_DIR/run.mjs" holes.onnx holes.rows > holes.onnx.out
    run /usr/bin/python3 "$ONNX_DIR/compare.py" holes.ref.csv holes.onnx.out
    assert_success
}

# The padded trees' two walks (no feature missing / some missing) in one
# file: 200 trees whose nodes send NaN both ways, rows with and without holes.
@test "export c: a 200-tree gbdt on rows with missing values, every layout, as the workbench" {
    cd "$BATS_FILE_TMPDIR"
    awk -F, -v OFS=, 'NR > 1 && NR % 3 == 0 { $1 = ""; $8 = "" } NR > 1 && NR % 4 == 0 { $3 = ""; $22 = "" } 1' \
        "$DATA/csv/breast_cancer.csv" > bc_holes.csv
    run "$MB" predict plain_gbdt.h5 bc_holes.csv -o bc_holes.ref.csv
    assert_success
    for how in "" --tree-code --tree-tables; do
        c_predict plain_gbdt bc_holes.csv $how
        run /usr/bin/python3 "$ONNX_DIR/compare.py" bc_holes.ref.csv plain_gbdt.c.out
        assert_success
        assert_output --partial "0 labels differ"
    done
    # NaN goes left at some nodes and right at others
    sed -n '/default_left\[/,/};/p' plain_gbdt.c.d/model.c | grep -q ' 0,'
    sed -n '/default_left\[/,/};/p' plain_gbdt.c.d/model.c | grep -q ' 1,'
}

@test "export c: model.h gives names, classes, levels and versions" {
    cd "$BATS_FILE_TMPDIR"
    "$MB" export gbdt_bin.h5 --format c -o api.d 2>/dev/null
    run cat api.d/model.h
    assert_output --partial "#define MB_MODEL_NINPUTS 20 "
    assert_output --partial "#define MB_MODEL_NCLASSES 2 "
    assert_output --partial '#define MB_MODEL_TASK "binary"'
    assert_output --partial "int mb_model_predict(const float *x, float *out);"
    cat > api.c <<'C'
#include <stdio.h>
#include "model.h"
int main(void)
{
    int j = 0;
    while (j < MB_MODEL_NINPUTS && mb_model_levels[j] == 0)
        j++;
    printf("%s %s %s %d %d %s\n", mb_model_inputs[0], mb_model_classes[0], mb_model_classes[1], j,
           mb_model_level(j, mb_model_levels[j][1]), MB_MODEL_MOONBENCH_VERSION);
    printf("%d %d\n", mb_model_level(j, "no such level"), mb_model_level(1, "x"));
    return 0;
}
C
    cc -std=c99 -Wall -Wextra -Werror -Iapi.d -o api api.c api.d/model.c -lm
    run ./api
    assert_line --index 0 --regexp "^checking_status good bad 0 1 [0-9.]+$"
    assert_line --index 1 "-1 -1"
}

@test "export: refusals name the reason (Lua step, no portable form, usage, output path)" {
    cd "$BATS_FILE_TMPDIR"
    cat > luastep.lua <<'LUA'
local mb = require "moonbench"
local t = mb.lua_transform [[
return { apply = function(state, frame) return frame end }
]]
mb.pipeline { mb.standardize(), t, mb.model("linear") }:fit(mb.open(arg[1])):save(arg[2])
LUA
    "$MB" run luastep.lua "$DATA/iris.h5" luastep.h5 >/dev/null
    run "$MB" export luastep.h5 --format c -o luastep.d
    assert_failure 1
    assert_output --partial "luastep.h5: cannot export: step 2 of the pipeline is a Lua transform"
    "$MB" fit "$DATA/iris.h5" -m knn -o knn.h5 >/dev/null
    run "$MB" export knn.h5 --format onnx -o knn.onnx
    assert_failure 1
    assert_output --partial "model 'knn' (plugin template) has no portable form"
    [ ! -e knn.onnx ]
    run "$MB" export lin_bin.h5 --format tflite -o x
    assert_failure 2
    assert_output --partial "--format is 'c' or 'onnx', not 'tflite'"
    run "$MB" export lin_bin.h5 --format onnx
    assert_failure 2
    run "$MB" export lin_bin.h5 --format onnx --tree-tables -o x.onnx
    assert_failure 2
    run "$MB" export lin_bin.h5 --format onnx -o no/such/folder/m.onnx
    assert_failure 1
    assert_output --partial "no/such/folder"
    run "$MB" export "$DATA/iris.h5" --format c -o d
    assert_failure 1
    assert_output --partial "not a moonbench model bundle"
}

# Column names and levels are data: they reach the C source only as
# escaped string literals or sanitised comments, and ONNX metadata as JSON.
@test "export: odd column names and levels compile and come back intact" {
    cd "$BATS_FILE_TMPDIR"
    cat > odd.lua <<'LUA'
local mb = require "moonbench"
local n1, n2 = 'a*/b??/', 'q"uo\\te é'
local x, c, y = {}, {}, {}
for i = 1, 40 do
  x[i] = i % 7
  c[i] = ({ '*/', '??=', 'x"\\' })[i % 3 + 1]
  y[i] = (i % 7 > 3) and 1 or 0
end
local f = mb.frame({ [n1] = x, [n2] = c, y = y }, { order = { n1, n2, "y" }, target = "y" })
mb.pipeline { mb.onehot(), mb.standardize(), mb.model("linear") }:fit(f):save(arg[1])
LUA
    "$MB" run odd.lua odd.h5 >/dev/null
    run "$MB" export odd.h5 --format c -o odd.d
    assert_success
    cat > odd.c <<'C'
#include <stdio.h>
#include "model.h"
int main(void)
{
    for (int j = 0; j < MB_MODEL_NINPUTS; j++)
        printf("[%s]\n", mb_model_inputs[j]);
    for (int l = 0; l < mb_model_nlevels[1]; l++)
        printf("<%s> %d\n", mb_model_levels[1][l], mb_model_level(1, mb_model_levels[1][l]));
    return 0;
}
C
    cc -std=c99 -Wall -Wextra -Werror -pedantic -Iodd.d -o odd odd.c odd.d/model.c -lm
    run ./odd
    assert_line --index 0 '[a*/b??/]'
    assert_line --index 1 '[q"uo\te é]'
    assert_output --partial '<*/> '
    assert_output --partial '<??=> '
    assert_output --partial '<x"\> '
    run "$MB" export odd.h5 --format onnx -o odd.onnx
    assert_success
    run /usr/bin/python3 -c 'import json, onnx, sys
m = {p.key: p.value for p in onnx.load(sys.argv[1]).metadata_props}
print(json.loads(m["moonbench.inputs"])[1]); print(sorted(json.loads(m["moonbench.levels.q\"uo\\te é"])))' odd.onnx
    assert_success
    assert_line --index 0 'q"uo\te é'
    assert_line --index 1 "['*/', '??=', 'x\"\\\\']"
}

@test "export --threshold: binary labels follow P(class 1) > T, as score --threshold" {
    cd "$BATS_FILE_TMPDIR"
    run "$MB" score lin_bin.h5 "$DATA/csv/breast_cancer.csv" --threshold 0.9 -o thr.ref.csv
    assert_success
    "$MB" export lin_bin.h5 --format c --threshold 0.9 -o thr.d 2>/dev/null
    grep -q "#define MB_MODEL_THRESHOLD 0x1.ccccccccccccdp-1" thr.d/model.h
    cc -std=c99 -Wall -Wextra -Werror -Ithr.d -o thr.drv "$ROOT/tests/cli/export_driver.c" thr.d/model.c -lm
    ./thr.drv < "$DATA/csv/breast_cancer.csv" > thr.c.out
    run /usr/bin/python3 "$ONNX_DIR/compare.py" thr.ref.csv thr.c.out
    assert_success
    # the threshold matters here: 0.5 gives other labels
    run /usr/bin/python3 "$ONNX_DIR/compare.py" lin_bin.ref.csv thr.c.out
    assert_failure
    run "$MB" export lin_multi.h5 --format c --threshold 0.9 -o x.d
    assert_failure 1
    assert_output --partial "--threshold is for binary models"
    run "$MB" export lin_bin.h5 --format c --threshold 1.5 -o x.d
    assert_failure 2
    need_ort
    "$MB" export lin_bin.h5 --format onnx --threshold 0.9 -o thr.onnx 2>/dev/null
    ./thr.drv --rows < "$DATA/csv/breast_cancer.csv" > thr.rows
    node "$ONNX_DIR/run.mjs" thr.onnx thr.rows > thr.onnx.out
    run /usr/bin/python3 "$ONNX_DIR/compare.py" thr.ref.csv thr.onnx.out
    assert_success
}

@test "export: a bundle stored with threshold 0.3 (fit --threshold) exports that rule to C and ONNX" {
    cd "$BATS_FILE_TMPDIR"
    "$MB" fit "$DATA/breast_cancer.h5" -m linear --threshold 0.3 -o thr3.h5 >/dev/null
    "$MB" score thr3.h5 "$DATA/csv/breast_cancer.csv" -o thr3.ref.csv 2>/dev/null
    # the reference does follow P(benign) > 0.3, and the threshold moves labels
    run awk -F, 'NR > 1 && (($3 > 0.3) != ($1 == "benign")) { bad++ } NR > 1 && $3 > 0.3 && $3 <= 0.5 { mid++ } END { print bad + 0, (mid > 0) }' thr3.ref.csv
    assert_output "0 1"
    c_predict thr3 "$DATA/csv/breast_cancer.csv"
    grep -q "#define MB_MODEL_THRESHOLD 0x1.3333333333333p-2" thr3.c.d/model.h
    run /usr/bin/python3 "$ONNX_DIR/compare.py" thr3.ref.csv thr3.c.out
    assert_success
    need_ort
    "$MB" export thr3.h5 --format onnx -o thr3.onnx 2>/dev/null
    ./thr3.drv --rows < "$DATA/csv/breast_cancer.csv" > thr3.rows
    node "$ONNX_DIR/run.mjs" thr3.onnx thr3.rows > thr3.onnx.out
    run /usr/bin/python3 "$ONNX_DIR/compare.py" thr3.ref.csv thr3.onnx.out
    assert_success
}

# An infinite input makes inf - inf = NaN in a layer's sum; the workbench's
# ReLU (s > 0 ? s : 0) turns that NaN into 0, so the export must too (ONNX's
# Relu would carry it: the ONNX export uses Greater and Where).
@test "export: infinite inputs give the workbench's outputs in C and ONNX (MLP with ReLU, plain and with transforms)" {
    cd "$BATS_FILE_TMPDIR"
    "$MB" fit "$DATA/diabetes.h5" -m mlp -p hidden_layers=8 -p epochs=5 --prep none -o mlp_plain.h5 >/dev/null
    { head -1 "$DATA/csv/diabetes.csv"; sed -n 2,4p "$DATA/csv/diabetes.csv"
      sed -n 2p "$DATA/csv/diabetes.csv" | awk -F, -v OFS=, '{ $1 = "inf"; $2 = "-inf"; print }'
      sed -n 3p "$DATA/csv/diabetes.csv" | awk -F, -v OFS=, '{ $1 = "inf"; print }'
      sed -n 4p "$DATA/csv/diabetes.csv" | awk -F, -v OFS=, '{ $3 = "-inf"; $7 = "inf"; print }'; } > inf_d.csv
    { head -1 "$DATA/csv/iris.csv"; sed -n 2,3p "$DATA/csv/iris.csv"
      echo "inf,-inf,1.4,0.2,0"; echo "5.1,3.5,inf,-inf,0"; echo "-inf,-inf,-inf,-inf,0"; } > inf_i.csv
    for spec in mlp_plain:inf_d mlp_multi:inf_i; do
        name=${spec%%:*} csv=${spec##*:}.csv
        "$MB" score "$name.h5" "$csv" -o "$name.inf.ref.csv" 2>/dev/null
        c_predict "$name" "$csv"
        run /usr/bin/python3 "$ONNX_DIR/compare.py" "$name.inf.ref.csv" "$name.c.out"
        assert_success
        "./$name.drv" --rows < "$csv" > "$name.inf.rows"
    done
    # the rows do reach the case: the plain MLP's outputs include inf or NaN
    grep -qiE 'inf|nan' mlp_plain.inf.ref.csv
    need_ort
    for name in mlp_plain mlp_multi; do
        "$MB" export "$name.h5" --format onnx -o "$name.inf.onnx" 2>/dev/null
        node "$ONNX_DIR/run.mjs" "$name.inf.onnx" "$name.inf.rows" > "$name.inf.onnx.out"
        run /usr/bin/python3 "$ONNX_DIR/compare.py" "$name.inf.ref.csv" "$name.inf.onnx.out"
        assert_success
    done
}

@test "export --trust: an unsigned bundle is refused, a signed one exported" {
    cd "$BATS_FILE_TMPDIR"
    "$MB" keygen -o exkey >/dev/null 2>&1
    run "$MB" export lin_bin.h5 --format c --trust exkey.pub -o trust.d
    assert_failure 1
    [ ! -e trust.d/model.c ]
    cp lin_bin.h5 signed.h5
    "$MB" sign signed.h5 --key exkey.key >/dev/null 2>&1
    run "$MB" export signed.h5 --format c --trust exkey.pub -o trust.d
    assert_success
    [ -f trust.d/model.c ]
}
