#!/usr/bin/env bats
# moonbench serve: the real server on a free port of 127.0.0.1, driven by
# curl. Predictions are checked against `moonbench predict` on the same
# rows, drift against a PSI computed here in Python from the bundle's
# /monitoring deciles; every error code, concurrency and SIGTERM under load.
load helpers

setup_file() {
    export BUNDLES="$BATS_FILE_TMPDIR"
    "$MB" fit "$DATA/iris.h5" -m linear -o "$BUNDLES/iris_lin.h5" >/dev/null
    "$MB" fit "$DATA/breast_cancer.h5" -m gbdt -p n_trees=30 -o "$BUNDLES/bc_gbdt.h5" >/dev/null
    "$MB" fit "$DATA/diabetes.h5" -m linear -o "$BUNDLES/diab_lin.h5" >/dev/null
    "$MB" fit "$DATA/iris.h5" -m knn -o "$BUNDLES/iris_knn.h5" >/dev/null
    "$MB" fit "$DATA/iris.h5" -m mlp -p hidden_layers=20,12 -p epochs=30 -p standardize=true \
        -o "$BUNDLES/iris_mlp.h5" >/dev/null
    # pipelines over credit_g's categorical and numeric columns (Lua)
    cat > "$BUNDLES/fit.lua" <<'EOF'
local mb = require "moonbench"
local f = mb.open(arg[2] .. "/csv/credit_g.csv")
f:set_target("class")
mb.pipeline{ mb.impute{strategy = "most_frequent"}, mb.onehot(), mb.standardize(), mb.model("linear") }:fit(f):save(arg[1] .. "/credit_lin.h5")
mb.pipeline{ mb.onehot{unknown = "error"}, mb.model("linear") }:fit(f):save(arg[1] .. "/credit_strict.h5")
EOF
    "$MB" run "$BUNDLES/fit.lua" "$BUNDLES" "$DATA" >/dev/null
}

setup() {
    SERVER_PID=
    AUTH=()
}

teardown() {
    stop_server
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# start_server BUNDLE [ARGS...]: start it in the background, wait (at most
# 20 s) until /v2/health/ready answers; sets PORT, URL, SERVER_PID.
start_server() {
    PORT=$(free_port)
    URL="http://127.0.0.1:$PORT"
    "$MB" serve "$@" --port "$PORT" 2>"$BATS_TEST_TMPDIR/server.err" &
    SERVER_PID=$!
    for _ in $(seq 1 200); do
        if curl -s -o /dev/null "${AUTH[@]}" "$URL/v2/health/ready"; then return 0; fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then cat "$BATS_TEST_TMPDIR/server.err"; return 1; fi
        sleep 0.1
    done
    echo "server did not answer in 20 s"
    return 1
}

# stop_server: SIGTERM, wait at most 20 s (then SIGKILL); the server must
# exit 0 with nothing from a sanitizer on stderr (leaks included).
stop_server() {
    [ -n "$SERVER_PID" ] || return 0
    local pid=$SERVER_PID rc=0
    SERVER_PID=
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || rc=$?
    if [ "$rc" -ne 0 ] || grep -q Sanitizer "$BATS_TEST_TMPDIR/server.err"; then
        echo "server exit $rc"; cat "$BATS_TEST_TMPDIR/server.err"; return 1
    fi
}

# post PATH BODY: sets CODE and BODY (the reply).
post() {
    local out
    out=$(curl -s -w '\n%{http_code}' "${AUTH[@]}" -X POST -H 'Content-Type: application/json' \
        --data-binary "$2" "$URL$1")
    CODE=${out##*$'\n'}
    BODY=${out%$'\n'*}
}

get() {
    local out
    out=$(curl -s -w '\n%{http_code}' "${AUTH[@]}" "$URL$1")
    CODE=${out##*$'\n'}
    BODY=${out%$'\n'*}
}

# instances CSV [by-name] [first N rows]: a /predict body from a CSV file
# without its target column.
instances() {
    python3 - "$1" "${2:-rows}" "${3:-100000}" <<'EOF'
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1])))[: int(sys.argv[3])]
names = [c for c in rows[0] if c not in ("target", "class")]
def value(s):  # a number, or the text of a category
    try:
        return float(s)
    except ValueError:
        return s
if sys.argv[2] == "names":
    inst = [{c: value(r[c]) for c in names} for r in rows]
else:
    inst = [[value(r[c]) for c in names] for r in rows]
print(json.dumps({"instances": inst}))
EOF
}

# same_as_predict REPLY PREDICT.csv: labels identical, probabilities (or
# values) within 1e-5 of `moonbench predict`'s CSV.
same_as_predict() {
    python3 - "$1" "$2" <<'EOF'
import csv, json, sys
got = json.load(open(sys.argv[1]))
want = list(csv.reader(open(sys.argv[2])))[1:]
assert len(got["predictions"]) == len(want), (len(got["predictions"]), len(want))
for i, row in enumerate(want):
    p = got["predictions"][i]
    if "probabilities" in got:
        assert p == row[0], (i, p, row[0])
        for a, b in zip(got["probabilities"][i], row[1:]):
            assert abs(a - float(b)) <= 1e-5, (i, a, b)
        assert len(got["probabilities"][i]) == len(row) - 1
    else:
        assert abs(p - float(row[0])) <= 1e-5 * max(1, abs(float(row[0]))), (i, p, row[0])
print("same", len(want))
EOF
}

@test "serve: /predict equals moonbench predict for linear, tree, MLP, regression and plugin-scored bundles" {
    for spec in iris_lin:iris bc_gbdt:breast_cancer iris_mlp:iris diab_lin:diabetes iris_knn:iris; do
        b=${spec%%:*} d=${spec##*:}
        start_server "$BUNDLES/$b.h5" --threads 2 --max-body 4m
        instances "$DATA/csv/$d.csv" > "$BATS_TEST_TMPDIR/req.json"
        post /predict "@$BATS_TEST_TMPDIR/req.json"
        [ "$CODE" = 200 ]
        echo "$BODY" > "$BATS_TEST_TMPDIR/reply.json"
        mb predict "$BUNDLES/$b.h5" "$DATA/csv/$d.csv" -o "$BATS_TEST_TMPDIR/want.csv" 2>/dev/null
        run same_as_predict "$BATS_TEST_TMPDIR/reply.json" "$BATS_TEST_TMPDIR/want.csv"
        assert_success
        # rows by name give the same answers
        instances "$DATA/csv/$d.csv" names 20 > "$BATS_TEST_TMPDIR/req.json"
        post /predict "@$BATS_TEST_TMPDIR/req.json"
        [ "$CODE" = 200 ]
        echo "$BODY" > "$BATS_TEST_TMPDIR/reply.json"
        head -21 "$BATS_TEST_TMPDIR/want.csv" > "$BATS_TEST_TMPDIR/want20.csv"
        run same_as_predict "$BATS_TEST_TMPDIR/reply.json" "$BATS_TEST_TMPDIR/want20.csv"
        assert_success
        stop_server
    done
    grep -q "scoring with the plugin template" "$BATS_TEST_TMPDIR/server.err"
}

@test "serve: a pipeline with categorical inputs scores as predict does; an unseen level under onehot error is 422" {
    start_server "$BUNDLES/credit_lin.h5"
    instances "$DATA/csv/credit_g.csv" names 200 > "$BATS_TEST_TMPDIR/req.json"
    post /predict "@$BATS_TEST_TMPDIR/req.json"
    [ "$CODE" = 200 ]
    echo "$BODY" > "$BATS_TEST_TMPDIR/reply.json"
    head -201 "$DATA/csv/credit_g.csv" > "$BATS_TEST_TMPDIR/in.csv"
    mb predict "$BUNDLES/credit_lin.h5" "$BATS_TEST_TMPDIR/in.csv" -o "$BATS_TEST_TMPDIR/want.csv" 2>/dev/null
    run same_as_predict "$BATS_TEST_TMPDIR/reply.json" "$BATS_TEST_TMPDIR/want.csv"
    assert_success
    get /v2/models/credit_lin
    [[ "$BODY" == *'"shape":[-1,20]'* ]]
    # the metadata's per-input tensors, as infer takes them: BYTES exactly for the CSV's
    # non-numeric columns; an infer request built from them answers as /predict does
    python3 - "$BODY" "$DATA/csv/credit_g.csv" > "$BATS_TEST_TMPDIR/v2.json" <<'EOP'
import csv, json, sys
m = json.loads(sys.argv[1])
rows = list(csv.DictReader(open(sys.argv[2])))[:3]
def num(v):
    try: float(v); return True
    except ValueError: return False
assert [t["shape"] for t in m["inputs"]] == [[-1]] * 20, m["inputs"]
for t in m["inputs"]:
    want = "FP32" if all(num(r[t["name"]]) for r in list(csv.DictReader(open(sys.argv[2])))) else "BYTES"
    assert t["datatype"] == want, (t, want)
print(json.dumps({"inputs": [{"name": t["name"], "datatype": t["datatype"], "shape": [len(rows)],
                              "data": [r[t["name"]] if t["datatype"] == "BYTES" else float(r[t["name"]]) for r in rows]}
                             for t in m["inputs"]]}))
EOP
    post /v2/models/credit_lin/infer "@$BATS_TEST_TMPDIR/v2.json"
    [ "$CODE" = 200 ]
    run python3 -c '
import json, sys
got = json.loads(sys.argv[1])["outputs"][0]["data"]
want = json.load(open(sys.argv[2]))["predictions"][:3]
assert got == want, (got, want)' "$BODY" "$BATS_TEST_TMPDIR/reply.json"
    assert_success
    stop_server
    start_server "$BUNDLES/credit_strict.h5"
    instances "$DATA/csv/credit_g.csv" rows 2 > "$BATS_TEST_TMPDIR/req.json"
    post /predict "@$BATS_TEST_TMPDIR/req.json"
    [ "$CODE" = 200 ]
    sed -i 's|"radio/tv"|"spaceship"|' "$BATS_TEST_TMPDIR/req.json"
    post /predict "@$BATS_TEST_TMPDIR/req.json"
    assert_equal "$CODE" 422
    [[ "$BODY" == *"instance 0: "*"purpose"*"spaceship"* ]]
}

@test "serve: a pipeline with a Lua step is served only with --allow-lua, as score scores it" {
    cat > "$BATS_TEST_TMPDIR/luastep.lua" <<'EOS'
local mb = require "moonbench"
local step = mb.lua_transform [[
return {
  fit = function(state, frame) state.mean = frame:col("petal length (cm)"):mean() end,
  apply = function(state, frame) return frame:derive("pc", frame:col("petal length (cm)") - state.mean) end,
}]]
mb.pipeline { step, mb.model("linear") }:fit(mb.open(arg[1])):save(arg[2])
EOS
    mb run "$BATS_TEST_TMPDIR/luastep.lua" "$DATA/iris.h5" "$BATS_TEST_TMPDIR/luab.h5" >/dev/null
    run mb serve "$BATS_TEST_TMPDIR/luab.h5" --port 0
    assert_failure 1
    assert_output --partial "pass --allow-lua"
    start_server "$BATS_TEST_TMPDIR/luab.h5" --allow-lua --threads 2
    instances "$DATA/csv/iris.csv" rows 30 > "$BATS_TEST_TMPDIR/req.json"
    post /predict "@$BATS_TEST_TMPDIR/req.json"
    [ "$CODE" = 200 ]
    echo "$BODY" > "$BATS_TEST_TMPDIR/reply.json"
    head -31 "$DATA/csv/iris.csv" > "$BATS_TEST_TMPDIR/in.csv"
    mb score "$BATS_TEST_TMPDIR/luab.h5" "$BATS_TEST_TMPDIR/in.csv" --allow-lua -o "$BATS_TEST_TMPDIR/want.csv" 2>/dev/null
    run same_as_predict "$BATS_TEST_TMPDIR/reply.json" "$BATS_TEST_TMPDIR/want.csv"
    assert_success
    grep -q "scoring with the embedded Lua for pipeline step 1 (allowed), then the portable linear form" "$BATS_TEST_TMPDIR/server.err"
}

@test "serve: a bundle stored with threshold 0.3 labels class 1 when P > 0.3, as score does" {
    mb fit "$DATA/breast_cancer.h5" -m gbdt -p n_trees=30 --threshold 0.3 -o "$BATS_TEST_TMPDIR/thr.h5" >/dev/null
    start_server "$BATS_TEST_TMPDIR/thr.h5"
    grep -q "scoring with the portable trees form of trees/gbdt (no plugin loaded)" "$BATS_TEST_TMPDIR/server.err"
    instances "$DATA/csv/breast_cancer.csv" > "$BATS_TEST_TMPDIR/req.json"
    post /predict "@$BATS_TEST_TMPDIR/req.json"
    [ "$CODE" = 200 ]
    echo "$BODY" > "$BATS_TEST_TMPDIR/reply.json"
    mb score "$BATS_TEST_TMPDIR/thr.h5" "$DATA/csv/breast_cancer.csv" -o "$BATS_TEST_TMPDIR/want.csv" 2>/dev/null
    run same_as_predict "$BATS_TEST_TMPDIR/reply.json" "$BATS_TEST_TMPDIR/want.csv"
    assert_success
    run python3 - "$BATS_TEST_TMPDIR/reply.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
moved = 0
for lab, (p0, p1) in zip(r["predictions"], r["probabilities"]):
    assert lab == ("benign" if p1 > 0.3 else "malignant"), (lab, p1)
    moved += 0.3 < p1 <= 0.5
assert moved > 0, "no row between 0.3 and 0.5"
print("ok", moved)
EOF
    assert_success
    # the v2 infer endpoint answers the same labels
    python3 -c 'import json,sys; r = json.load(open(sys.argv[1]))["instances"]; print(json.dumps({"inputs": [{"name": "input", "shape": [len(r), len(r[0])], "datatype": "FP32", "data": r}], "outputs": [{"name": "label"}]}))' "$BATS_TEST_TMPDIR/req.json" > "$BATS_TEST_TMPDIR/v2.json"
    post /v2/models/thr/infer "@$BATS_TEST_TMPDIR/v2.json"
    [ "$CODE" = 200 ]
    run python3 -c 'import json,sys; a = json.loads(sys.argv[1])["outputs"][0]["data"]; b = json.load(open(sys.argv[2]))["predictions"]; assert a == b; print(len(a))' "$BODY" "$BATS_TEST_TMPDIR/reply.json"
    assert_success
}

@test "serve: Open Inference Protocol v2 metadata, health and infer" {
    start_server "$BUNDLES/iris_lin.h5" --name iris
    get /v2
    [ "$CODE" = 200 ]
    assert_equal "$(echo "$BODY" | python3 -c 'import json,sys; print(json.load(sys.stdin)["name"])')" moonbench
    get /v2/health/live
    assert_equal "$CODE $BODY" '200 {"live":true}'
    get /v2/models/iris/ready
    assert_equal "$CODE $BODY" '200 {"ready":true}'
    get /health
    assert_equal "$CODE $BODY" '200 {"status":"ok","model":"iris"}'
    get /v2/models/iris
    [ "$CODE" = 200 ]
    run python3 -c '
import json, sys
m = json.loads(sys.argv[1])
assert m["name"] == "iris" and m["platform"] == "moonbench", m
names = open(sys.argv[2]).readline().strip().split(",")[:-1]  # the CSV header: the features, then the target
assert m["inputs"] == [{"name": n, "datatype": "FP32", "shape": [-1]} for n in names], m["inputs"]
assert m["parameters"]["matrix_input"] == {"name": "input", "datatype": "FP32", "shape": [-1, 4]}, m["parameters"]
assert [o["name"] for o in m["outputs"]] == ["label", "probabilities"], m["outputs"]
assert m["outputs"][1]["shape"] == [-1, 3]' "$BODY" "$DATA/csv/iris.csv"
    assert_success
    # the same two rows through /predict and /infer (FP64 nested, INT64 flat)
    post /predict '{"instances": [[5.1, 3.5, 1.4, 0.2], [6, 3, 5, 2]]}'
    pred=$BODY
    post /v2/models/iris/infer '{"id": "r1", "inputs": [{"name": "input", "shape": [2, 4], "datatype": "FP64", "data": [[5.1, 3.5, 1.4, 0.2], [6, 3, 5, 2]]}]}'
    [ "$CODE" = 200 ]
    run python3 -c '
import json, sys
p, r = json.loads(sys.argv[1]), json.loads(sys.argv[2])
assert r["model_name"] == "iris" and r["id"] == "r1", r
lab, pro = r["outputs"]
assert lab == {"name": "label", "datatype": "BYTES", "shape": [2], "data": p["predictions"]}, lab
assert pro["name"] == "probabilities" and pro["datatype"] == "FP32" and pro["shape"] == [2, 3], pro
assert pro["data"] == p["probabilities"][0] + p["probabilities"][1], pro' "$pred" "$BODY"
    assert_success
    post /v2/models/iris/infer '{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "INT64", "data": [6, 3, 5, 2]}], "outputs": [{"name": "label"}]}'
    [ "$CODE" = 200 ]
    assert_equal "$(echo "$BODY" | python3 -c 'import json,sys; r=json.load(sys.stdin); print(len(r["outputs"]), r["outputs"][0]["data"][0])')" "1 $(echo "$pred" | python3 -c 'import json,sys; print(json.load(sys.stdin)["predictions"][1])')"
    post /v2/models/iris/infer '{"inputs": [{"name": "input", "shape": [4], "datatype": "FP32", "data": [6, 3, 5, 2]}], "outputs": [{"name": "probabilities"}]}'
    [ "$CODE" = 200 ]
    [[ "$BODY" == *'"outputs":[{"name":"probabilities","datatype":"FP32","shape":[1,3],'* ]]
    # refusals naming the problem
    post /v2/models/iris/infer '{"inputs": [{"name": "input", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]}'
    assert_equal "$CODE" 422
    assert_equal "$BODY" '{"error":"input '"'"'input'"'"': shape must be [n, 4] (sepal length (cm), sepal width (cm), petal length (cm), petal width (cm)), or one tensor of shape [n] per input named by it"}'
    post /v2/models/iris/infer '{"inputs": [{"name": "input", "shape": [2, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}'
    assert_equal "$CODE" 422
    [[ "$BODY" == *"data has 4 values, shape [2, 4] needs 8"* ]]
    post /v2/models/iris/infer '{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "BYTES", "data": ["a", "b", "c", "d"]}]}'
    assert_equal "$CODE" 422
    [[ "$BODY" == *"input 'input', row 0: column 'sepal length (cm)': 'a' is not a number"* ]]
    post /v2/models/iris/infer '{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP16", "data": [1, 2, 3, 4]}]}'
    assert_equal "$CODE" 422
    [[ "$BODY" == *"datatype 'FP16' is not supported"* ]]
    post /v2/models/iris/infer '{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "INT32", "data": [1.5, 2, 3, 4]}]}'
    assert_equal "$CODE" 422
    [[ "$BODY" == *"value 0 is not an integer"* ]]
    post /v2/models/other/infer '{}'
    assert_equal "$CODE" 404
    [[ "$BODY" == *"this server serves 'iris'"* ]]
}

@test "serve: v2 infer with one tensor per input (by feature name, BYTES for categories), parameters and id echoed" {
    start_server "$BUNDLES/credit_lin.h5" --name credit
    # the first 5 rows of credit_g as /predict instances and as per-input tensors
    instances "$DATA/csv/credit_g.csv" names 5 > "$BATS_TEST_TMPDIR/req.json"
    python3 - "$BATS_TEST_TMPDIR/req.json" > "$BATS_TEST_TMPDIR/v2.json" <<'EOF'
import json, sys
rows = json.load(open(sys.argv[1]))["instances"]
tensors = []
for c in reversed(list(rows[0])):  # any order: matched by name
    v = [r[c] for r in rows]
    text = isinstance(v[0], str)
    tensors.append({"name": c, "shape": [len(v)], "datatype": "BYTES" if text else "FP64", "data": v})
print(json.dumps({"id": "q7", "parameters": {"trace": "abc", "n": 2}, "inputs": tensors}))
EOF
    post /predict "@$BATS_TEST_TMPDIR/req.json"
    [ "$CODE" = 200 ]
    pred=$BODY
    post /v2/models/credit/infer "@$BATS_TEST_TMPDIR/v2.json"
    [ "$CODE" = 200 ]
    run python3 -c '
import json, sys
p, r = json.loads(sys.argv[1]), json.loads(sys.argv[2])
assert r["id"] == "q7" and r["parameters"] == {"trace": "abc", "n": 2} and r["model_name"] == "credit", r
lab, pro = r["outputs"]
assert lab == {"name": "label", "datatype": "BYTES", "shape": [5], "data": p["predictions"]}, (lab, p)
assert pro["shape"] == [5, 2] and pro["data"] == sum(p["probabilities"], []), pro
print("same")' "$pred" "$BODY"
    assert_output same
    # [n, 1] shapes and nested data are the same tensors
    python3 -c 'import json,sys; q = json.load(open(sys.argv[1]))
for t in q["inputs"]: t["shape"] = [5, 1]; t["data"] = [[x] for x in t["data"]]
print(json.dumps(q))' "$BATS_TEST_TMPDIR/v2.json" > "$BATS_TEST_TMPDIR/v2b.json"
    post /v2/models/credit/infer "@$BATS_TEST_TMPDIR/v2b.json"
    [ "$CODE" = 200 ]
    [ "$(echo "$BODY" | python3 -c 'import json,sys; print(json.load(sys.stdin)["outputs"][0]["data"])')" = \
      "$(echo "$pred" | python3 -c 'import json,sys; print(json.load(sys.stdin)["predictions"])')" ]
    # refusals, each naming the tensor and the problem
    edit() { python3 -c "import json,sys; q = json.load(open(sys.argv[1])); t = q['inputs']; $1
print(json.dumps(q))" "$BATS_TEST_TMPDIR/v2.json" > "$BATS_TEST_TMPDIR/bad.json"; post /v2/models/credit/infer "@$BATS_TEST_TMPDIR/bad.json"; }
    edit 'del t[3]'
    assert_equal "$CODE" 422
    [[ "$BODY" == *"no input tensor named '"*"' (the model takes 20, one tensor of shape [n] each)"* ]]
    edit 't[0]["name"] = "durashun"'
    assert_equal "$CODE" 422
    [[ "$BODY" == *"input 'durashun': the model has no input of that name (it takes checking_status, duration,"* ]]
    edit 't.append(dict(t[0]))'
    assert_equal "$CODE" 422
    [[ "$BODY" == *"input '"*"' is given twice"* ]]
    edit 't[2]["shape"] = [4]; t[2]["data"] = t[2]["data"][:4]'
    assert_equal "$CODE" 422
    [[ "$BODY" == *"shape must be [5] (one value per row, as the first input)"* ]]
    edit 't[2]["data"] = t[2]["data"][:4]'
    assert_equal "$CODE" 422
    [[ "$BODY" == *"data has 4 values, shape [5] needs 5"* ]]
    edit 'c = [x for x in t if x["name"] == "duration"][0]; c["datatype"] = "INT32"; c["data"] = [int(x) for x in c["data"]]; c["data"][1] = 1.5'
    assert_equal "$CODE" 422
    [[ "$BODY" == *"input 'duration': value 1 is not an integer"* ]]
    edit 'c = [x for x in t if x["name"] == "duration"][0]; c["datatype"] = "BYTES"; c["data"] = ["12", "x", "1", "2", "3"]'
    assert_equal "$CODE" 422
    [[ "$BODY" == *"input 'duration', row 1: column 'duration': 'x' is not a number"* ]]
    edit 'q["inputs"] = []'
    assert_equal "$CODE" 422
    [[ "$BODY" == *'"inputs\" must list one tensor of shape [n, 20], or one tensor of shape [n] per input'* ]]
    post /v2/models/credit/infer '{"inputs": [{"name": "duration", "shape": [1], "datatype": "FP32", "data": [1]'
    assert_equal "$CODE" 400
    [[ "$BODY" == *"malformed JSON"* ]]
    get /metrics
    [ "$CODE" = 200 ]
}

@test "serve: 401 without or with a wrong token, constant-time checked; 200 with it" {
    AUTH=(-H "Authorization: Bearer s3cret-token")
    start_server "$BUNDLES/iris_lin.h5" --token s3cret-token
    post /predict '{"instances": [[5.1, 3.5, 1.4, 0.2]]}'
    assert_equal "$CODE" 200
    AUTH=()
    post /predict '{"instances": [[5.1, 3.5, 1.4, 0.2]]}'
    assert_equal "$CODE" 401
    [[ "$BODY" == *"Authorization: Bearer TOKEN"* ]]
    for bad in "Bearer s3cret-toke" "Bearer s3cret-token2" "Basic s3cret-token" "Bearer "; do
        AUTH=(-H "Authorization: $bad")
        get /metrics
        assert_equal "$CODE" 401
    done
    run curl -s -D - -o /dev/null "$URL/health"
    assert_output --partial "WWW-Authenticate: Bearer"
    # the token file form
    stop_server
    printf 'from-a-file\n' > "$BATS_TEST_TMPDIR/token"
    AUTH=(-H "Authorization: Bearer from-a-file")
    start_server "$BUNDLES/iris_lin.h5" --token-file "$BATS_TEST_TMPDIR/token"
    get /health
    assert_equal "$CODE" 200
    run mb serve "$BUNDLES/iris_lin.h5" --token 'has space'
    assert_failure 2
    assert_output --partial "printable ASCII characters without spaces"
}

@test "serve: 413 over --max-body, 400 with the parse error, 422 naming the problem, 404, 405" {
    start_server "$BUNDLES/iris_lin.h5" --max-body 1k
    body=$(python3 -c 'import json; print(json.dumps({"instances": [[5.1, 3.5, 1.4, 0.2]] * 60}))')
    post /predict "$body"
    assert_equal "$CODE" 413
    [[ "$BODY" == *"limit of 1024 bytes"* ]]
    # a chunked body (no Content-Length) over the limit
    out=$(printf '%s' "$body" | curl -s -w '\n%{http_code}' -X POST -H 'Transfer-Encoding: chunked' --data-binary @- "$URL/predict")
    assert_equal "${out##*$'\n'}" 413
    post /predict '{"instances": [[5.1, 3.5,
 1.4, 0.2]'
    assert_equal "$CODE" 400
    assert_equal "$BODY" '{"error":"malformed JSON at line 2, column 10: '"']' expected near end of file"'","line":2,"column":10,"text":"'"']' expected near end of file"'"}'
    post /predict '{"instances": [[5.1, 3.5, 1.4]]}'
    assert_equal "$CODE" 422
    assert_equal "$BODY" '{"error":"instance 0 has 3 values; the model takes 4 (sepal length (cm), sepal width (cm), petal length (cm), petal width (cm))"}'
    post /predict '{"instances": [{"sepal length (cm)": 5.1, "sepal width (cm)": 3.5, "petal length (cm)": 1.4, "petal width": 0.2}]}'
    assert_equal "$CODE" 422
    assert_equal "$BODY" '{"error":"instance 0 has no value for '"'petal width (cm)'"' (the model takes 4 named values)"}'
    post /predict '{"instances": [[5.1, 3.5, 1.4, "x"]]}'
    assert_equal "$CODE" 422
    assert_equal "$BODY" '{"error":"instance 0: column '"'petal width (cm)': 'x'"' is not a number"}'
    post /predict '{"instances": [[5.1, 3.5, 1.4, true]]}'
    assert_equal "$CODE" 422
    [[ "$BODY" == *"instance 0, 'petal width (cm)': expected a number, a string or null"* ]]
    post /predict '{"rows": []}'
    assert_equal "$CODE" 422
    get /nowhere
    assert_equal "$CODE" 404
    [[ "$BODY" == *"no endpoint /nowhere"* ]]
    get /predict
    assert_equal "$CODE" 405
    run curl -s -D - -o /dev/null "$URL/predict"
    assert_output --partial "Allow: POST"
    post /metrics '{}'
    assert_equal "$CODE" 405
    # a missing value (null) is scored, as NaN
    post /predict '{"instances": [[5.1, 3.5, 1.4, null]]}'
    assert_equal "$CODE" 200
}

@test "serve: hostile bodies get 4xx and the server stays up" {
    start_server "$BUNDLES/bc_gbdt.h5" --max-body 256k
    deep=$(python3 -c 'print("[" * 5000 + "]" * 5000)')
    for body in "" "null" "[]" '{"instances": 5}' '{"instances": [5]}' '{"instances": [[]]}' \
        '{"instances": [[1e999]]}' '{"instances": [{"a": 1}]}' '{"a": 1, "a": 2}' "$deep" \
        "$(printf '\xff\xfe{')" '{"instances": [[' '{"instances": [[1e39, 0]]}'; do
        post /predict "$body"
        [[ "$CODE" =~ ^4[0-9][0-9]$ ]] || { echo "body ${body:0:40}: $CODE $BODY"; false; }
        post /v2/models/bc_gbdt/infer "$body"
        [[ "$CODE" =~ ^4[0-9][0-9]$ ]] || { echo "infer ${body:0:40}: $CODE $BODY"; false; }
    done
    post /predict '{"instances": []}'
    assert_equal "$CODE $BODY" '200 {"predictions":[],"probabilities":[]}'
    get /v2/health/live
    assert_equal "$CODE" 200
    kill -0 "$SERVER_PID"
}

@test "serve: /metrics counts requests and classes; drift equals a PSI computed from /monitoring" {
    start_server "$BUNDLES/iris_lin.h5" --drift-window 150
    get /metrics
    [[ "$BODY" != *'moonbench_requests_total{endpoint="/predict"'* ]]
    [[ "$BODY" == *"moonbench_drift_window_rows 0"* ]]
    # the training rows: no drift
    instances "$DATA/csv/iris.csv" > "$BATS_TEST_TMPDIR/req.json"
    post /predict "@$BATS_TEST_TMPDIR/req.json"
    post /predict '{"instances": [[1]]}'
    get /metrics
    echo "$BODY" > "$BATS_TEST_TMPDIR/m1.txt"
    assert_equal "$(grep -c '^moonbench_requests_total{endpoint="/predict",code="200"} 1$' "$BATS_TEST_TMPDIR/m1.txt")" 1
    assert_equal "$(grep -c '^moonbench_requests_total{endpoint="/predict",code="422"} 1$' "$BATS_TEST_TMPDIR/m1.txt")" 1
    assert_equal "$(grep -c '^moonbench_request_errors_total{endpoint="/predict"} 1$' "$BATS_TEST_TMPDIR/m1.txt")" 1
    assert_equal "$(grep -c '^moonbench_request_duration_seconds_count 4$' "$BATS_TEST_TMPDIR/m1.txt")" 1
    assert_equal "$(grep -c '^moonbench_drift_window_rows 150$' "$BATS_TEST_TMPDIR/m1.txt")" 1
    # predictions by class: the counts of the labels /predict returned
    mb predict "$BUNDLES/iris_lin.h5" "$DATA/csv/iris.csv" -o "$BATS_TEST_TMPDIR/want.csv" 2>/dev/null
    for c in setosa versicolor virginica; do
        n=$(grep -c "^$c," "$BATS_TEST_TMPDIR/want.csv")
        grep -qx "moonbench_predictions_total{class=\"$c\"} $n" "$BATS_TEST_TMPDIR/m1.txt"
    done
    ! grep -q '^moonbench_drift_flag{.*} 1$' "$BATS_TEST_TMPDIR/m1.txt"
    # 100 rows with petal length 6.9 and more, pushed into the window: that feature drifts
    python3 -c '
import csv, json
rows = list(csv.DictReader(open("'"$DATA/csv/iris.csv"'")))[:100]
print(json.dumps({"instances": [[float(r["sepal length (cm)"]), float(r["sepal width (cm)"]), 6.9 + i / 100, float(r["petal width (cm)"])] for i, r in enumerate(rows)]}))' > "$BATS_TEST_TMPDIR/shift.json"
    post /predict "@$BATS_TEST_TMPDIR/shift.json"
    get /metrics
    echo "$BODY" > "$BATS_TEST_TMPDIR/m2.txt"
    grep -qx 'moonbench_drift_flag{feature="petal length (cm)"} 1' "$BATS_TEST_TMPDIR/m2.txt"
    grep -qx 'moonbench_drift_window_rows 150' "$BATS_TEST_TMPDIR/m2.txt"
    # the served PSI of every feature equals one computed here from the bundle's
    # drift bins (/monitoring bin_edges, bin_shares) over the window: the
    # last 50 training rows and the 100 shifted ones
    for a in bin_edges bin_shares; do
        h5dump -y -w 0 -d "/monitoring/$a" "$BUNDLES/iris_lin.h5" > "$BATS_TEST_TMPDIR/$a.txt"
    done
    run python3 - "$BATS_TEST_TMPDIR" <<'EOF'
import json, math, re, sys
d = sys.argv[1]
def nums(f):
    body = open(f).read().split("DATA {", 1)[1].split("}", 1)[0]
    return [float(x) for x in re.findall(r"[-+]?(?:[0-9.]+(?:[eE][-+]?[0-9]+)?|nan|inf)", body)]
edges, shares = nums(d + "/bin_edges.txt"), nums(d + "/bin_shares.txt")
window = json.load(open(d + "/req.json"))["instances"][100:] + json.load(open(d + "/shift.json"))["instances"]
served = {}
for line in open(d + "/m2.txt"):
    m = re.match(r'moonbench_drift_psi\{feature="(.*)"\} (\S+)', line)
    if m:
        served[m.group(1)] = float(m.group(2))
names = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
for j, name in enumerate(names):
    e = [x for x in edges[j * 9:(j + 1) * 9] if not math.isnan(x)]
    exp = shares[j * 11:(j + 1) * 11]
    cnt = [0] * 11
    for row in window:
        v = row[j]
        cnt[10 if v is None else next((k for k in range(len(e)) if v <= e[k]), len(e))] += 1
    psi = 0.0
    for k in range(11):
        a, x = max(cnt[k] / len(window), 1e-4), max(exp[k], 1e-4)
        psi += (a - x) * math.log(a / x)
    assert abs(psi - served[name]) <= 1e-4 * max(1, psi), (name, psi, served[name])
    print(name, round(psi, 4))
# the window as a CSV, for moonbench drift
with open(d + "/window.csv", "w") as f:
    f.write(",".join(names) + "\n")
    for row in window:
        f.write(",".join(repr(v) for v in row) + "\n")
assert served["petal length (cm)"] > 0.2
EOF
    assert_success
    # and equals moonbench drift's figures on the same rows
    mb drift "$BUNDLES/iris_lin.h5" "$BATS_TEST_TMPDIR/window.csv" --json > "$BATS_TEST_TMPDIR/drift.json" || true
    run python3 - "$BATS_TEST_TMPDIR" <<'EOF'
import json, re, sys
d = sys.argv[1]
rep = json.load(open(d + "/drift.json"))
served = {}
for line in open(d + "/m2.txt"):
    m = re.match(r'moonbench_drift_(psi|ks|flag)\{feature="(.*)"\} (\S+)', line)
    if m:
        served[(m.group(1), m.group(2))] = float(m.group(3))
assert rep["rows"] == 150
for f in rep["features"]:
    assert abs(f["psi"] - served[("psi", f["feature"])]) <= 1e-5 * max(1, f["psi"]), f
    assert abs(f["ks"] - served[("ks", f["feature"])]) <= 1e-5, f
    assert f["drift"] == (served[("flag", f["feature"])] == 1), f
EOF
    assert_success
}

@test "serve: 8 parallel clients, all answers correct" {
    start_server "$BUNDLES/bc_gbdt.h5" --threads 4
    mb predict "$BUNDLES/bc_gbdt.h5" "$DATA/csv/breast_cancer.csv" -o "$BATS_TEST_TMPDIR/want.csv" 2>/dev/null
    python3 - "$DATA/csv/breast_cancer.csv" "$BATS_TEST_TMPDIR" <<'EOF'
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1])))
names = [c for c in rows[0] if c != "target"]
for i in range(200):
    json.dump({"instances": [[float(rows[i][c]) for c in names]]}, open("%s/row%d.json" % (sys.argv[2], i), "w"))
EOF
    pids=()
    for w in $(seq 0 7); do
        (
            for r in $(seq 0 24); do
                i=$((w * 25 + r))
                echo "$i $(curl -s "$URL/predict" --data-binary "@$BATS_TEST_TMPDIR/row$i.json" |
                    sed -E 's/^\{"predictions":\["([a-z]+)"\].*/\1/')"
            done > "$BATS_TEST_TMPDIR/got$w.txt"
        ) &
        pids+=($!)
    done
    wait "${pids[@]}"
    cat "$BATS_TEST_TMPDIR"/got*.txt | sort -n > "$BATS_TEST_TMPDIR/got.txt"
    awk -F, 'NR > 1 && NR <= 201 { print NR - 2, $1 }' "$BATS_TEST_TMPDIR/want.csv" > "$BATS_TEST_TMPDIR/expect.txt"
    [ "$(wc -l < "$BATS_TEST_TMPDIR/got.txt")" -eq 200 ]
    run diff "$BATS_TEST_TMPDIR/expect.txt" "$BATS_TEST_TMPDIR/got.txt"
    assert_success
    get /metrics
    [[ "$BODY" == *'moonbench_requests_total{endpoint="/predict",code="200"} 200'* ]]
}

@test "serve: SIGTERM under load drains in-flight requests and exits 0" {
    start_server "$BUNDLES/iris_lin.h5" --threads 2 --access-log "$BATS_TEST_TMPDIR/access.log"
    # a request in flight: headers sent, body still coming for a second
    ( { printf '{"instances": [[5.1, 3.5, '; sleep 1.5; printf '1.4, 0.2]]}'; } |
        curl -s -w '\n%{http_code}' -X POST -T - "$URL/predict" \
        > "$BATS_TEST_TMPDIR/slow.txt" ) &
    slow=$!
    # wait (at most 20 s) until it is in flight, beside the /metrics request asking
    for _ in $(seq 1 200); do
        get /metrics
        [[ "$BODY" == *"moonbench_requests_in_flight 2"* ]] && break
        sleep 0.1
    done
    [[ "$BODY" == *"moonbench_requests_in_flight 2"* ]]
    # and load: 4 loops of requests
    pids=()
    for w in 1 2 3 4; do
        ( for _ in $(seq 1 40); do
              curl -s -o /dev/null -w '%{http_code}\n' "$URL/predict" --data-binary '{"instances": [[6, 3, 5, 2]]}'
          done > "$BATS_TEST_TMPDIR/load$w.txt" ) &
        pids+=($!)
    done
    sleep 0.3
    kill -TERM "$SERVER_PID"
    rc=0
    wait "$SERVER_PID" || rc=$?
    SERVER_PID=
    assert_equal "$rc" 0
    wait "$slow"
    assert_equal "$(cat "$BATS_TEST_TMPDIR/slow.txt")" '{"predictions":["setosa"],"probabilities":[[0.9815723,0.018427728,1.4714163e-8]]}
200'
    wait "${pids[@]}" || true # curl fails on a connection the kernel queued as the port closed
    # every load request was answered 200, or found the port closed (000)
    run grep -cvE '^(200|000)$' "$BATS_TEST_TMPDIR"/load*.txt
    refute_output --regexp ':[1-9]'
    grep -q 'stopped on SIGTERM' "$BATS_TEST_TMPDIR/server.err"
    ! grep -q 'Sanitizer' "$BATS_TEST_TMPDIR/server.err"
    grep -qE '^[0-9TZ:-]+ 127\.0\.0\.1 "POST /predict HTTP/1\.1" 200 [0-9]+ [0-9.]+$' "$BATS_TEST_TMPDIR/access.log"
    # the port is closed
    run curl -s "$URL/health"
    assert_failure
}

@test "serve: refuses a bad bundle, an untrusted one, a busy port and bad options with a message" {
    run mb serve "$DATA/iris.h5" --port 0
    assert_failure 1
    assert_output --partial "not a moonbench model bundle"
    run mb serve "$BUNDLES/iris_lin.h5" --threads 0
    assert_failure 2
    assert_output --partial "--threads: '0' is not valid"
    run mb serve "$BUNDLES/iris_lin.h5" --name 'a/b'
    assert_failure 2
    assert_output --partial "--name: 'a/b' is not valid"
    run mb serve "$BUNDLES/iris_lin.h5" --threshold 1
    assert_failure 2
    assert_output --partial "--threshold: '1' is not valid"
    run mb serve "$BUNDLES/iris_lin.h5" --max-body 2x
    assert_failure 2
    assert_output --partial "--max-body: '2x' is not valid"
    run mb serve "$BUNDLES/iris_lin.h5" --port
    assert_failure 2
    assert_output --partial "--port needs a value"
    run mb serve "$BUNDLES/iris_lin.h5" --bogus
    assert_failure 2
    assert_output --partial "unknown option '--bogus'"
    # --trust: an unsigned bundle is refused, a signed one served
    mb keygen -o "$BATS_TEST_TMPDIR/k" >/dev/null 2>&1
    run mb serve "$BUNDLES/iris_lin.h5" --trust "$BATS_TEST_TMPDIR/k.pub"
    assert_failure 1
    assert_output --partial "not signed, and only bundles signed by a trusted key are loaded"
    cp "$BUNDLES/iris_lin.h5" "$BATS_TEST_TMPDIR/signed.h5"
    mb sign "$BATS_TEST_TMPDIR/signed.h5" --key "$BATS_TEST_TMPDIR/k.key" >/dev/null
    start_server "$BATS_TEST_TMPDIR/signed.h5" --trust "$BATS_TEST_TMPDIR/k.pub"
    stop_server
    start_server "$BUNDLES/iris_lin.h5"
    run mb serve "$BUNDLES/iris_lin.h5" --port "$PORT"
    assert_failure 1
    assert_output --partial "cannot listen on 127.0.0.1 port $PORT"
}

@test "serve: [[number]] bodies (read without jansson, serve_rows.c) answer byte for byte as jansson's reading" {
    # each body is posted as it is and again with a key before "instances",
    # which the fast reading never takes: code and reply must be the same
    python3 - "$DATA/csv/breast_cancer.csv" "$BATS_TEST_TMPDIR/bodies" <<'EOF2'
import csv, json, os, sys
rows = [[float(r[c]) for c in r if c != "target"] for r in list(csv.DictReader(open(sys.argv[1])))[:40]]
os.makedirs(sys.argv[2])
def num(x, k):  # the same value in JSON's other spellings, in turn
    if x == int(x):
        return ["%d" % x, "%.1f" % x, "%dE0" % x, "-0" if x == 0 else "%d" % x][k % 4]
    return [repr(x), "%.17e" % x, "%.17E" % x, repr(x)][k % 4]
bodies = {
    "plain": json.dumps({"instances": rows}),
    "spellings": '{"instances":[' + ",".join(
        "[" + ",".join(num(x, i + j) if (i + j) % 7 else "null" for j, x in enumerate(r)) + "]"
        for i, r in enumerate(rows)) + "]}",
    "spaces": " \t{ \"instances\" :\r\n[ [" + " ,\t".join(repr(x) for x in rows[0]) + "] ] }\n",
    "underflow": json.dumps({"instances": [[1e-300] * 30]}).replace("1e-300", "1e-400"),
    "zero": '{"instances":[[' + ",".join(["-0", "0", "-0.0", "0e5"] * 7 + ["-0", "0"]) + "]]}",
}
bad = {
    "too_big_float32": ("1e39", 422), "too_big_double": ("1e400", 400), "too_big_int": ("123456789012345678901234567890", 400),
    "long_number": ("0." + "0" * 70 + "1", 200), "leading_zero": ("01", 400), "bare_dot": ("1.", 400),
    "plus": ("+1", 400), "nan": ("NaN", 400), "string": ('"1.5"', 200),
}
for name, (v, _) in bad.items():
    bodies[name] = '{"instances":[[' + ",".join([v] + [repr(x) for x in rows[0][1:]]) + "]]}"
bodies["short_row"] = json.dumps({"instances": [rows[0][:29]]})
bodies["trailing"] = json.dumps({"instances": rows[:2]}) + " x"
bodies["empty"] = '{"instances":[]}'
bodies["two_keys"] = json.dumps({"instances": rows[:2], "x": 1})
for name, b in bodies.items():
    open(os.path.join(sys.argv[2], name + ".json"), "w").write(b)
    open(os.path.join(sys.argv[2], name + ".pad"), "w").write('{"pad": 0,' + b.lstrip(" \t")[1:])
codes = {n: c for n, (_, c) in bad.items()}
codes.update(plain=200, spellings=200, spaces=200, underflow=200, zero=200, short_row=422, trailing=400, empty=200, two_keys=200)
open(os.path.join(sys.argv[2], "codes"), "w").write("".join("%s %d\n" % kv for kv in codes.items()))
EOF2
    # a linear model too: its probabilities move with the least change of an input
    mb fit "$DATA/breast_cancer.h5" -m linear -o "$BATS_TEST_TMPDIR/bc_lin.h5" >/dev/null
    for b in "$BUNDLES/bc_gbdt.h5" "$BATS_TEST_TMPDIR/bc_lin.h5"; do
        start_server "$b"
        while read -r name want; do
            post /predict "@$BATS_TEST_TMPDIR/bodies/$name.json"
            fast_code=$CODE fast_body=$BODY
            post /predict "@$BATS_TEST_TMPDIR/bodies/$name.pad"
            echo "$b $name: $fast_code $CODE (want $want)"
            assert_equal "$fast_code" "$want"
            assert_equal "$CODE" "$want"
            # a 400 names the position of the fault, which the pad moves
            if [ "$want" != 400 ]; then assert_equal "$fast_body" "$BODY"; fi
        done < "$BATS_TEST_TMPDIR/bodies/codes"
        stop_server
    done
    start_server "$BUNDLES/bc_gbdt.h5"
    # the plain rows also answer as moonbench predict does
    post /predict "@$BATS_TEST_TMPDIR/bodies/plain.json"
    echo "$BODY" > "$BATS_TEST_TMPDIR/reply.json"
    head -41 "$DATA/csv/breast_cancer.csv" > "$BATS_TEST_TMPDIR/in.csv"
    mb predict "$BUNDLES/bc_gbdt.h5" "$BATS_TEST_TMPDIR/in.csv" -o "$BATS_TEST_TMPDIR/want.csv" 2>/dev/null
    run same_as_predict "$BATS_TEST_TMPDIR/reply.json" "$BATS_TEST_TMPDIR/want.csv"
    assert_success
}
