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
    # ONNX Runtime for node, once (the CPU library is in the npm package;
    # the postinstall would download CUDA parts: skipped)
    if command -v npm >/dev/null && [ ! -d "$ONNX_DIR/node_modules/onnxruntime-node" ]; then
        (cd "$ONNX_DIR" && ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund >/dev/null 2>&1)
    fi
}

# Export NAME to C, build it with the driver, score the dataset's CSV.
c_predict() {
    local name=$1 csv=$2
    "$MB" export "$name.h5" --format c -o "$name.c.d" 2>/dev/null || return 1
    cc -std=c99 -Wall -Wextra -Werror -pedantic -O1 -I"$name.c.d" -o "$name.drv" \
        "$ROOT/tests/cli/export_driver.c" "$name.c.d/model.c" -lm || return 1
    "./$name.drv" < "$csv" > "$name.c.out"
}

c_equal() {
    local name=$1
    cd "$BATS_FILE_TMPDIR"
    c_predict "$name" "$DATA/csv/$(cat "$name.data").csv"
    run /usr/bin/python3 "$ONNX_DIR/compare.py" "$name.ref.csv" "$name.c.out"
    echo "$output"
    assert_success
    assert_output --partial "0 labels differ"
}

onnx_equal() {
    local name=$1
    command -v node >/dev/null || skip "node is not installed"
    [ -d "$ONNX_DIR/node_modules/onnxruntime-node" ] || skip "onnxruntime-node is not installed (npm is absent?)"
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
