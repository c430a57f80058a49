#!/usr/bin/env bats
# moonbench run and the Lua layer: the example scripts of lua/examples, every
# ```lua block of docs/lua-api.md, and `moonbench run` itself (errors and
# tracebacks, arg, --sandbox, --timeout, --memory, Ctrl-C). The busted specs
# of tests/lua run separately: $MB run /usr/bin/busted -o TAP tests/lua
load helpers

# the tests change folder: make a relative $MOONBENCH (build/moonbench) absolute
case "$MB" in /*) ;; *) MB="$PWD/$MB" ;; esac

# A script file in the test's temporary folder: script NAME <<'EOF' ... EOF
script() { cat > "$BATS_TEST_TMPDIR/$1"; }

# {====== examples ======}

@test "example: binary.lua (logistic regression, ROC curve, save + load)" {
    cd "$ROOT"
    run "$MB" run lua/examples/binary.lua
    assert_success
    assert_output --partial "classification report (n = 143)"
    assert_output --partial "ROC curve: "
    assert_output --partial "the loaded pipeline predicts the same 143 labels"
    assert_output --regexp "ok: accuracy 0\.9[3-9][0-9]*, ROC AUC 0\.9[89][0-9]*"
}

@test "example: multiclass.lua (5-fold cross-validation, leaderboard)" {
    cd "$ROOT"
    run "$MB" run lua/examples/multiclass.lua
    assert_success
    assert_output --partial "cross-validation: 5 folds"
    assert_output --partial "leaderboard: accuracy, 5 folds x 1 repeats"
    assert_output --regexp "3 +baseline +0\.[0-9]+"
    assert_output --regexp "ok: mean accuracy 0\.9[0-9]+ over 5 folds"
}

@test "example: regression.lua (ridge, grid search over alpha)" {
    cd "$ROOT"
    run "$MB" run lua/examples/regression.lua
    assert_success
    assert_output --partial "search: 5 candidates, metric r2 (5-fold cross-validation)"
    assert_output --partial "regression report (n = 89)"
    assert_output --regexp "ok: test R\^2 0\.[4-9][0-9]*, RMSE [0-9.]+ with alpha [0-9.e+-]+"
}

@test "example: categorical.lua on vote (impute, onehot, describe, derive, filter)" {
    cd "$ROOT"
    run "$MB" run lua/examples/categorical.lua
    assert_success
    assert_output --partial "handicapped-infants"
    assert_output --partial "kept 431 of 435 rows"
    assert_output --regexp "ok: test accuracy 0\.9[0-9]+ on [0-9]+ held-out rows"
}

@test "example: categorical.lua on credit_g" {
    cd "$ROOT"
    run "$MB" run lua/examples/categorical.lua datasets/table/credit_g.h5
    assert_success
    assert_output --regexp "ok: test accuracy 0\.[7-9][0-9]+ on 250 held-out rows"
}

@test "example: a failed assertion exits 1 with the script's message" {
    cd "$ROOT"
    # the binary example on credit_g, where a linear model stays far below 0.93
    run "$MB" run lua/examples/binary.lua datasets/credit_g.h5
    [ "$status" -eq 1 ]
    assert_output --regexp "moonbench: .*binary\.lua:[0-9]+: scores too low: accuracy 0\.[0-9]+ \(want > 0\.93\)"
}

# {====== docs/lua-api.md ======}

@test "docs: every \`\`\`lua block of docs/lua-api.md runs" {
    cd "$ROOT"
    dir="$BATS_TEST_TMPDIR/doc"
    mkdir -p "$dir"
    # one file per block, named after the line where the block starts, so
    # that line k of an error message is line START + k - 1 of the document
    awk -v dir="$dir" '
        /^```lua[[:space:]]*$/ { n++; f = sprintf("%s/block%02d_line%d.lua", dir, n, NR + 1); inb = 1; next }
        /^```[[:space:]]*$/ && inb { inb = 0; close(f); next }
        inb { print > f }' docs/lua-api.md
    count=$(ls "$dir" | wc -l)
    [ "$count" -ge 20 ] || { echo "only $count lua blocks found"; false; }
    failed=0
    for f in "$dir"/block*.lua; do
        where="docs/lua-api.md:${f##*_line}"
        where=${where%.lua}
        if [ "$(head -1 "$f")" != 'local mb = require "moonbench"' ]; then
            echo "block at $where does not start with: local mb = require \"moonbench\""
            failed=$((failed + 1))
            continue
        fi
        if ! out=$("$MB" run "$f" 2>&1); then
            echo "block at $where failed:"
            echo "$out" | head -20
            failed=$((failed + 1))
        fi
    done
    [ "$failed" -eq 0 ]
}

# {====== moonbench run: errors ======}

@test "run: a syntax error exits 1 and names file:line" {
    script syntax.lua <<'EOF'
local mb = require "moonbench"
local x = 1
print(x +)
EOF
    run "$MB" run "$BATS_TEST_TMPDIR/syntax.lua"
    [ "$status" -eq 1 ]
    assert_output --regexp "moonbench: .*syntax\.lua:3: unexpected symbol near '\)'"
}

@test "run: an error deep in a pipeline shows the script's file:line in the traceback" {
    script deep.lua <<'EOF'
local mb = require "moonbench"
local data = mb.open(arg[1])
local broken = mb.lua_transform([[
return { apply = function(state, frame)
  return frame:derive("ratio", frame:col("no such column") / 2)
end }]])
local function evaluate(p)
  local cv = mb.cross_validate(p, data, { k = 3 })
  return cv
end
evaluate(mb.pipeline { broken, mb.model("linear") })
EOF
    run "$MB" run "$BATS_TEST_TMPDIR/deep.lua" "$DATA/iris.h5"
    [ "$status" -eq 1 ]
    assert_output --partial "no column named 'no such column'"
    assert_output --partial "stack traceback:"
    assert_output --regexp "deep\.lua:8: in (upvalue|local|function) '?evaluate'?"
    assert_output --partial "deep.lua:11: in main chunk"
}

@test "run: an error raised in a progress callback keeps its file:line" {
    script progress.lua <<'EOF'
local mb = require "moonbench"
local f = mb.open(arg[1])
local function on_progress(fraction)
  if fraction > 0.05 then error("stop at 5%") end
end
local p = mb.pipeline { mb.standardize(), mb.model("linear") }
p:fit(f, { progress = on_progress })
print("not reached")
EOF
    run "$MB" run "$BATS_TEST_TMPDIR/progress.lua" "$DATA/breast_cancer.h5"
    [ "$status" -eq 1 ]
    assert_output --partial "progress.lua:4: stop at 5%"
    assert_output --partial "progress.lua:7: in main chunk"
    refute_output --partial "not reached"
}

@test "run: arg and ... work as in lua" {
    script args.lua <<'EOF'
print("arg[0]=" .. arg[0], "arg[1]=" .. arg[1], "arg[2]=" .. arg[2], "#arg=" .. #arg)
print("...", ...)
EOF
    run "$MB" run "$BATS_TEST_TMPDIR/args.lua" first "two words"
    assert_success
    assert_line --index 0 "arg[0]=$BATS_TEST_TMPDIR/args.lua	arg[1]=first	arg[2]=two words	#arg=2"
    assert_line --index 1 "...	first	two words"
    run "$MB" run -- "$BATS_TEST_TMPDIR/args.lua" --not-an-option x
    assert_success
    assert_output --partial "arg[1]=--not-an-option"
}

@test "run: usage errors" {
    run "$MB" run
    assert_failure
    assert_output --partial "name the script to run"
    run "$MB" run --memory 0 x.lua
    assert_failure
    assert_output --partial "--memory takes megabytes from 0.001 to 1e9, not '0'"
    run "$MB" run --timeout -1 x.lua
    assert_failure
    assert_output --partial "--timeout takes seconds from 0 to 1e8"
    run "$MB" run --fast x.lua
    assert_failure
    assert_output --partial "unknown option '--fast'"
    run "$MB" run "$BATS_TEST_TMPDIR/missing.lua"
    [ "$status" -eq 1 ]
    assert_output --partial "cannot open"
}

# {====== --sandbox ======}

@test "sandbox: os.execute and io.popen are not available" {
    mkdir -p "$BATS_TEST_TMPDIR/work"
    cd "$BATS_TEST_TMPDIR/work"
    echo 'os.execute("touch executed")' > exec.lua
    run "$MB" run --sandbox exec.lua
    [ "$status" -eq 1 ]
    assert_output --partial "exec.lua:1: sandbox: os.execute is not allowed"
    [ ! -e executed ]
    echo 'io.popen("touch popened")' > popen.lua
    run "$MB" run --sandbox popen.lua
    [ "$status" -eq 1 ]
    assert_output --partial "popen.lua:1: sandbox: io.popen is not allowed"
    [ ! -e popened ]
    printf 'print(debug)\nprint(pcall(package.loadlib, "x", "y"))\nprint(pcall(os.remove, "x"))\n' > other.lua
    run "$MB" run --sandbox other.lua
    assert_success
    assert_line --index 0 "nil"
    assert_line --index 1 --regexp "^false	.*sandbox: package.loadlib is not allowed$"
    assert_line --index 2 --regexp "^false	.*sandbox: os.remove is not allowed$"
    # without --sandbox the same script may run commands
    run "$MB" run exec.lua
    assert_success
    [ -e executed ]
}

@test "sandbox: no writing outside the working folder; inside is fine" {
    mkdir -p "$BATS_TEST_TMPDIR/work"
    cd "$BATS_TEST_TMPDIR/work"
    script write.lua <<'EOF'
local f = assert(io.open(arg[1], "w"))
f:write("x")
f:close()
print("wrote " .. arg[1])
EOF
    run "$MB" run --sandbox "$BATS_TEST_TMPDIR/write.lua" ../outside.txt
    [ "$status" -eq 1 ]
    assert_output --partial "sandbox: writing '../outside.txt' is not allowed (only under $BATS_TEST_TMPDIR/work)"
    [ ! -e "$BATS_TEST_TMPDIR/outside.txt" ]
    run "$MB" run --sandbox "$BATS_TEST_TMPDIR/write.lua" /tmp/moonbench_sandbox_escape.txt
    [ "$status" -eq 1 ]
    assert_output --partial "sandbox: writing '/tmp/moonbench_sandbox_escape.txt' is not allowed"
    [ ! -e /tmp/moonbench_sandbox_escape.txt ]
    run "$MB" run --sandbox "$BATS_TEST_TMPDIR/write.lua" inside.txt
    assert_success
    [ -e inside.txt ]
}

@test "sandbox: frames and pipelines save only under the working folder" {
    mkdir -p "$BATS_TEST_TMPDIR/work"
    cd "$BATS_TEST_TMPDIR/work"
    script save.lua <<'EOF'
local mb = require "moonbench"
local f = mb.open(arg[1])
f:head(5):save("small.h5")
print("saved inside")
local p = mb.pipeline { mb.model("baseline") }:fit(f)
local ok, err = pcall(p.save, p, "../model.h5")
print(err)
f:save(arg[2])
EOF
    run "$MB" run --sandbox "$BATS_TEST_TMPDIR/save.lua" "$DATA/iris.h5" "$BATS_TEST_TMPDIR/frame.h5"
    [ "$status" -eq 1 ]
    assert_line --index 0 "saved inside"
    assert_output --partial "sandbox: writing '../model.h5' is not allowed"
    assert_output --partial "sandbox: writing '$BATS_TEST_TMPDIR/frame.h5' is not allowed"
    [ -e small.h5 ]
    [ ! -e "$BATS_TEST_TMPDIR/model.h5" ]
    [ ! -e "$BATS_TEST_TMPDIR/frame.h5" ]
}

# {====== limits and Ctrl-C ======}

@test "run: --timeout 1 stops a script that loops forever" {
    echo 'while true do end' > "$BATS_TEST_TMPDIR/loop.lua"
    run timeout 20 "$MB" run --timeout 1 "$BATS_TEST_TMPDIR/loop.lua"
    [ "$status" -ne 0 ]
    [ "$status" -ne 124 ]
    assert_output --partial "timeout: the script ran past its time limit"
}

@test "run: --timeout also stops a model's fit" {
    script slowfit.lua <<'EOF'
local mb = require "moonbench"
local f = mb.open(arg[1])
while true do
  mb.model("linear", { tol = 0, max_iter = 10000000, alpha = 1e-6 }):fit(f)
end
EOF
    run timeout 20 "$MB" run --timeout 1 "$BATS_TEST_TMPDIR/slowfit.lua" "$DATA/digits.h5"
    [ "$status" -eq 1 ]
    assert_output --partial "timeout"
}

@test "run: --timeout cannot be escaped by catching the error" {
    script escape.lua <<'EOF'
while true do pcall(function() while true do end end) end
EOF
    run timeout 10 "$MB" run --timeout 1 "$BATS_TEST_TMPDIR/escape.lua"
    [ "$status" -ne 0 ]
    [ "$status" -ne 124 ]
    assert_output --partial "timeout"
}

@test "run: --memory 50 stops a script that allocates without bound" {
    script hog.lua <<'EOF'
local t = {}
for i = 1, math.huge do t[i] = string.rep("x", 1000) .. i end
EOF
    run timeout 60 "$MB" run --memory 50 "$BATS_TEST_TMPDIR/hog.lua"
    [ "$status" -eq 1 ]
    assert_output --partial "not enough memory (the limit is 50 MB)"
}

@test "run: Ctrl-C stops a running script with status 130 and 'interrupted'" {
    # ends by itself after 20 s, so a missed signal fails instead of hanging
    script endless.lua <<'EOF'
local t0 = os.time()
while os.time() - t0 < 20 do end
print("not interrupted")
EOF
    "$MB" run "$BATS_TEST_TMPDIR/endless.lua" > "$BATS_TEST_TMPDIR/out" 2>&1 &
    pid=$!
    sleep 0.5
    kill -INT "$pid"
    rc=0
    wait "$pid" || rc=$?
    run cat "$BATS_TEST_TMPDIR/out"
    assert_output --partial "interrupted"
    refute_output --partial "not interrupted"
    [ "$rc" -eq 130 ] || { echo "exit status $rc, want 130"; false; }
}

# {====== known bugs ======}

@test "run: mb.load as the first use of the plugins exits cleanly" {
    run "$MB" fit "$DATA/iris.h5" -m knn -o "$BATS_TEST_TMPDIR/knn.h5"
    assert_success
    script load.lua <<'EOF'
local mb = require "moonbench"
local p = mb.load(arg[1])
print(p, #p:predict(mb.open(arg[2])))
EOF
    run "$MB" run "$BATS_TEST_TMPDIR/load.lua" "$BATS_TEST_TMPDIR/knn.h5" "$DATA/iris.h5"
    assert_success
    assert_output "pipeline: loaded model knn	150"
}

@test "README: the Lua tour runs" {
    awk '/^```lua/{f=1;next}/^```/{f=0}f' "$ROOT/README.md" > "$BATS_TEST_TMPDIR/readme.lua"
    [ -s "$BATS_TEST_TMPDIR/readme.lua" ]
    cd "$ROOT"
    run "$MB" run "$BATS_TEST_TMPDIR/readme.lua"
    assert_success
    assert_output --partial "classification report"
    assert_output --partial "cross-validation: 5 folds"
}
