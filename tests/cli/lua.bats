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

@test "sandbox: binary chunks are refused on every path (require, load, loadfile, dofile); no string.dump" {
    mkdir -p "$BATS_TEST_TMPDIR/work"
    cd "$BATS_TEST_TMPDIR/work"
    # bytecode written by an unsandboxed run, then offered to a sandboxed one
    echo 'local f = assert(io.open("x.lua", "wb")); f:write(string.dump(function() return "ran bytecode" end)); f:close()' > dump.lua
    run "$MB" run dump.lua
    assert_success
    script attack.lua <<'EOF'
local f = assert(io.open("x.lua", "rb")); local bc = f:read("a"); f:close()
print("dump", string.dump, ("").dump)
print("require", pcall(require, "x"))
print("load", load(bc))
print("load b", load(bc, "bc", "b"))
print("reader", load(function() local s = bc; bc = nil; return s end))
print("loadfile", loadfile("x.lua", "b"))
print("dofile", pcall(dofile, "x.lua"))
print("text", load("return 1")(), load("return x", "t", "t", { x = 2 })(), dofile(arg[1]))
EOF
    echo 'return 3' > three.lua
    run "$MB" run --sandbox "$BATS_TEST_TMPDIR/attack.lua" three.lua
    assert_success
    refute_output --partial "ran bytecode"
    assert_line --index 0 "dump	nil	nil"
    assert_line --index 1 --regexp "^require	false	error loading module 'x' from file './x.lua':"
    assert_output --partial "attempt to load a binary chunk (mode is 't')"
    assert_line --index 3 "load	nil	attempt to load a binary chunk (mode is 't')"
    assert_line --index 4 "load b	nil	attempt to load a binary chunk (mode is 't')"
    assert_line --index 5 "reader	nil	attempt to load a binary chunk (mode is 't')"
    assert_line --index 6 "loadfile	nil	attempt to load a binary chunk (mode is 't')"
    assert_line --index 7 --regexp "^dofile	false	.*attempt to load a binary chunk \(mode is 't'\)$"
    assert_line --index 8 "text	1	2	3"
    # without --sandbox the same script runs the bytecode
    run "$MB" run "$BATS_TEST_TMPDIR/attack.lua" three.lua
    assert_output --partial "ran bytecode"
}

@test "sandbox: the documented mb.lua_transform example runs (load keeps the globals)" {
    cd "$ROOT"
    awk '/^### mb.lua_transform/{f=1} f&&/^```lua/{g=1;next} g&&/^```/{exit} g' docs/lua-api.md > "$BATS_TEST_TMPDIR/lt.lua"
    grep -q 'mb.lua_transform' "$BATS_TEST_TMPDIR/lt.lua"
    run "$MB" run --sandbox "$BATS_TEST_TMPDIR/lt.lua"
    assert_success
    assert_output --regexp "^3\.75[0-9]*	lua	true"
}

@test "sandbox: no writing through a hard link, a FIFO or a device" {
    mkdir -p "$BATS_TEST_TMPDIR/work"
    cd "$BATS_TEST_TMPDIR/work"
    echo "outside" > "$BATS_TEST_TMPDIR/outside.txt"
    ln "$BATS_TEST_TMPDIR/outside.txt" linked.txt
    mkfifo fifo
    script write.lua <<'EOF'
local mb = require "moonbench"
print(pcall(io.open, "linked.txt", "w"))
print(pcall(io.open, "linked.txt", "a"))
print(pcall(function() mb.frame { a = { 1 } }:save("linked.txt") end))
print(pcall(io.open, "fifo", "w"))
print(io.open("linked.txt", "r") ~= nil)
EOF
    run "$MB" run --sandbox "$BATS_TEST_TMPDIR/write.lua"
    assert_success
    assert_line --index 0 --regexp "^false	.*sandbox: writing 'linked.txt' is not allowed \(the file has 2 hard links; another may be outside .*work\)$"
    assert_line --index 1 --regexp "^false	.*the file has 2 hard links"
    assert_line --index 2 --regexp "^false	.*the file has 2 hard links"
    assert_line --index 3 --regexp "^false	.*sandbox: writing 'fifo' is not allowed \(not a regular file\)$"
    assert_line --index 4 "true"
    [ "$(cat "$BATS_TEST_TMPDIR/outside.txt")" = "outside" ]
}

# {====== Lua steps in bundles ======}

# evil_bundle BUNDLE LABELS: a bundle whose Lua step runs os.execute('touch
# ...') when its source is loaded and when it is applied (if os exists), and
# centres a column the model uses, so a step that did not run cannot score;
# LABELS gets the fitted pipeline's predictions on iris.
evil_bundle() {
    script evil.lua <<'EOF'
local mb = require "moonbench"
local step = mb.lua_transform [[
if os then os.execute("touch PWNED_load") end
return {
  fit = function(state, frame) state.mean = frame:col("petal length (cm)"):mean() end,
  apply = function(state, frame)
    if os then os.execute("touch PWNED_apply") end
    return frame:derive("pc", frame:col("petal length (cm)") - state.mean)
  end,
}]]
local f = mb.open(arg[1])
local p = mb.pipeline { step, mb.model("linear") }:fit(f)
p:save(arg[2])
local out = assert(io.open(arg[3], "w"))
for _, y in ipairs(p:predict(f):totable()) do out:write(y, "\n") end
out:close()
EOF
    run "$MB" run "$BATS_TEST_TMPDIR/evil.lua" "$DATA/iris.h5" "$1" "$2"
    assert_success
    rm -f PWNED_load PWNED_apply
}

@test "bundle: a Lua step is refused on load without {allow_lua=true}; with it, os is absent" {
    mkdir -p "$BATS_TEST_TMPDIR/work"
    cd "$BATS_TEST_TMPDIR/work"
    evil_bundle evil.h5 expected.txt
    script load.lua <<'EOF'
local mb = require "moonbench"
local p = mb.load(arg[1], arg[3] == "allow" and { allow_lua = true } or nil)
local out = assert(io.open("got.txt", "w"))
for _, y in ipairs(p:predict(mb.open(arg[2])):totable()) do out:write(y, "\n") end
out:close()
EOF
    run "$MB" run "$BATS_TEST_TMPDIR/load.lua" evil.h5 "$DATA/iris.h5"
    [ "$status" -eq 1 ]
    assert_output --partial "evil.h5: pipeline step 1 is a Lua transform; loading it runs code from the bundle: pass --allow-lua (or {allow_lua=true}) if you trust it"
    [ ! -e PWNED_load ] && [ ! -e PWNED_apply ] && [ ! -e got.txt ]
    run "$MB" run "$BATS_TEST_TMPDIR/load.lua" evil.h5 "$DATA/iris.h5" allow
    assert_success
    [ ! -e PWNED_load ] && [ ! -e PWNED_apply ]
    # the step ran (the model needs its column) and predicts as before saving
    diff expected.txt got.txt
}

@test "bundle: moonbench predict refuses a Lua step without --allow-lua, scores it with" {
    mkdir -p "$BATS_TEST_TMPDIR/work"
    cd "$BATS_TEST_TMPDIR/work"
    evil_bundle evil.h5 expected.txt
    run "$MB" predict evil.h5 "$DATA/iris.h5" -o pred.csv
    [ "$status" -ne 0 ]
    assert_output --partial "evil.h5: pipeline step 1 is a Lua transform; loading it runs code from the bundle: pass --allow-lua (or {allow_lua=true}) if you trust it"
    [ ! -e pred.csv ] && [ ! -e PWNED_load ] && [ ! -e PWNED_apply ]
    run "$MB" predict --allow-lua evil.h5 "$DATA/iris.h5" -o pred.csv
    assert_success
    [ ! -e PWNED_load ] && [ ! -e PWNED_apply ]
    # the same labels as the pipeline before it was saved
    tail -n +2 pred.csv | cut -d, -f1 | diff expected.txt -
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

# Each way of running code that the hook may not reach ends within the
# limit plus the watchdog's grace (2 s): the hook in coroutines, the
# watchdog for __gc finalizers (Lua runs them without hooks), message
# handlers (run with hooks off when the hook raised) and long C calls.
# Exit status 1 (the hook) or 3 (the watchdog).
@test "run: --timeout holds in coroutines, __gc finalizers, xpcall handlers and long string.find" {
    cd "$BATS_TEST_TMPDIR"
    echo 'local co = coroutine.wrap(function() while true do end end) co()' > co.lua
    echo 'local co = coroutine.create(function() while true do end end) while true do coroutine.resume(co) end' > co2.lua
    echo 'setmetatable({}, { __gc = function() while true do end end }) collectgarbage() print("not reached")' > gc.lua
    echo 'while true do xpcall(error, function() while true do end end) end' > xpcall.lua
    echo 'print(string.find(string.rep("a", 40), string.rep("a*", 40) .. "b"))' > find.lua
    for s in co co2 gc xpcall find; do
        start=$(date +%s%N)
        run timeout -s KILL 20 "$MB" run --timeout 1 $s.lua
        ms=$(( ($(date +%s%N) - start) / 1000000 ))
        echo "$s: status $status after $ms ms: $output"
        [ "$status" -eq 1 ] || [ "$status" -eq 3 ]
        [ "$ms" -lt 4500 ]
        refute_output --partial "not reached"
        if [ "$status" -eq 3 ]; then assert_output "moonbench run: $s.lua exceeded --timeout 1 s"; fi
        if [ "$status" -eq 1 ]; then assert_output --partial "timeout: the script ran past its time limit"; fi
    done
}

@test "run: --memory bounds C allocations too (frames, a huge network) with a message" {
    script frames.lua <<'EOF'
local mb = require "moonbench"
local f, keep = mb.open(arg[1]), {}
for i = 1, 100000 do keep[i] = f:copy() end
EOF
    run timeout -s KILL 60 "$MB" run --memory 100 "$BATS_TEST_TMPDIR/frames.lua" "$DATA/digits.h5"
    [ "$status" -eq 1 ]
    assert_output --partial "not enough memory (the limit is 100 MB): no memory for 1797 x 64 values"
    script mlp.lua <<'EOF'
local mb = require "moonbench"
mb.model("mlp", { hidden_layers = "65536,65536", epochs = 1 }):fit(mb.open(arg[1]))
print("fitted")
EOF
    run timeout -s KILL 60 "$MB" run --memory 200 "$BATS_TEST_TMPDIR/mlp.lua" "$DATA/iris.h5"
    [ "$status" -eq 1 ]
    assert_output --partial "not enough memory (the limit is 200 MB): model 'mlp' (fit): no memory for the network's parameters"
    refute_output --partial "fitted"
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
