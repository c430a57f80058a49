#!/usr/bin/env bats
# The audit trail (docs/audit.md): fit, save, export and serve append
# chained JSON lines; `moonbench audit BUNDLE` finds the events of a bundle
# by its SHA-256 (checked against sha256sum), --verify names the first
# broken line after an edit, a deletion or a reorder; concurrent writers
# keep the chain; secrets never reach the log; hostile lines are reported.
load helpers

setup() {
    T="$BATS_TEST_TMPDIR"
    LOG="$T/audit.jsonl"
    export MOONBENCH_AUDIT_LOG="$LOG"
}

sha() { sha256sum "$1" | cut -d' ' -f1; }

# wait_for EVENT: until the log has an event of that kind (at most 20 s)
wait_for() {
    for _ in $(seq 1 200); do
        grep -q "\"event\":\"$1\"" "$LOG" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "no $1 event in $LOG"; return 1
}

# a field of line N of the log, through python's json (an independent reader)
field() {
    python3 -c 'import json,sys; e=json.loads(open(sys.argv[1]).read().splitlines()[int(sys.argv[2])-1]); print(eval("e"+sys.argv[3]))' "$LOG" "$1" "$2"
}

@test "fit then serve: audit BUNDLE names the data file, its checksum, the command and the serving" {
    cp "$DATA/iris.h5" "$T/train.h5"
    run "$MB" fit "$T/train.h5" -m gbdt -p n_trees=5 -o "$T/m.h5"
    assert_success
    "$MB" serve "$T/m.h5" --port 0 --token s3cret-value 2>"$T/serve.err" &
    pid=$!
    wait_for serve
    kill -TERM "$pid"; wait "$pid" || true
    run "$MB" audit "$T/m.h5"
    assert_success
    assert_output --partial "save by"
    assert_output --partial "serve by"
    assert_output --partial "$T/train.h5  sha256 $(sha "$T/train.h5")"
    assert_output --partial "bundle   $T/m.h5  sha256 $(sha "$T/m.h5")"
    assert_output --partial "n_trees=5"
    assert_output --partial "fit $T/train.h5 -m gbdt -p n_trees=5 -o $T/m.h5"
    assert_output --partial "at       http://127.0.0.1:"
    # the log itself, read by python: the fit event, then the save with the same data
    [ "$(field 1 '["event"]')" = fit ]
    [ "$(field 2 '["event"]')" = save ]
    [ "$(field 2 '["inputs"][0]["sha256"]')" = "$(sha "$T/train.h5")" ]
    [ "$(field 2 '["bundle"]["sha256"]')" = "$(sha "$T/m.h5")" ]
    [ "$(field 1 '["prev"]')" = 0000000000000000000000000000000000000000000000000000000000000000 ]
    [ "$(field 2 '["prev"]')" = "$(sed -n 1p "$LOG" | tr -d '\n' | sha256sum | cut -d' ' -f1)" ]
    # the token is masked
    ! grep -q s3cret "$LOG"
    grep -q '"--token","\*\*\*"' "$LOG"
    run "$MB" audit --verify
    assert_success
    assert_output --partial "3 events, chain intact"
    # --json: the same events as logged, one a line
    run "$MB" audit "$T/m.h5" --json
    assert_success
    [ "$(echo "$output" | python3 -c 'import json,sys; print(",".join(json.loads(l)["event"] for l in sys.stdin))')" = save,serve ]
}

@test "an edited line breaks the chain at that line; --verify exits 1 naming it" {
    for i in 1 2; do "$MB" fit "$DATA/iris.h5" -m linear -o "$T/m$i.h5" >/dev/null 2>&1; done
    run "$MB" audit --verify
    assert_success
    # change one figure of line 2 (the rows of the first save)
    python3 - "$LOG" <<'EOF'
import sys
p = sys.argv[1]; lines = open(p).read().splitlines(True)
assert '"rows":150' in lines[1]
lines[1] = lines[1].replace('"rows":150', '"rows":149', 1)
open(p, "w").write("".join(lines))
EOF
    run "$MB" audit --verify
    assert_failure 1
    assert_output --partial "line 3: 'prev' is not the SHA-256 of line 2: line 2 was changed"
}

@test "a deleted line, a reordered pair or a removed first line breaks the chain" {
    for i in 1 2; do "$MB" fit "$DATA/iris.h5" -m linear -o "$T/m$i.h5" >/dev/null 2>&1; done
    cp "$LOG" "$T/orig"
    sed -i 2d "$LOG"
    run "$MB" audit --verify
    assert_failure 1
    assert_output --partial "line 2: 'prev' is not the SHA-256 of line 1"
    { sed -n 1p "$T/orig"; sed -n 3p "$T/orig"; sed -n 2p "$T/orig"; sed -n 4p "$T/orig"; } > "$LOG"
    run "$MB" audit --verify
    assert_failure 1
    assert_output --partial "line 2:"
    sed 1d "$T/orig" > "$LOG"
    run "$MB" audit --verify
    assert_failure 1
    assert_output --partial "line 1: 'prev' is not the genesis value"
}

@test "concurrent fits keep a valid chain" {
    for i in 1 2 3 4; do
        "$MB" fit "$DATA/breast_cancer.h5" -m linear -o "$T/c$i.h5" >/dev/null 2>&1 &
    done
    wait
    run "$MB" audit --verify
    assert_success
    assert_output --partial "8 events, chain intact"
    for i in 1 2 3 4; do
        run "$MB" audit "$T/c$i.h5"
        assert_success
        assert_output --partial "$(sha "$T/c$i.h5")"
    done
}

@test "MOONBENCH_AUDIT_LOG empty writes nothing; the default path is under the state folder, 0700/0600" {
    mkdir "$T/home"
    HOME="$T/home" MOONBENCH_AUDIT_LOG= run "$MB" fit "$DATA/iris.h5" -m linear -o "$T/m.h5"
    assert_success
    [ ! -e "$T/home/.local" ]
    [ ! -e "$LOG" ]
    HOME="$T/home" MOONBENCH_AUDIT_LOG= run "$MB" audit
    assert_failure 1
    assert_output --partial "the audit log is off"
    unset MOONBENCH_AUDIT_LOG
    HOME="$T/home" XDG_STATE_HOME= run "$MB" fit "$DATA/iris.h5" -m linear -o "$T/m.h5"
    assert_success
    f="$T/home/.local/state/moonbench/audit.jsonl"
    [ "$(stat -c %a "$f")" = 600 ]
    [ "$(stat -c %a "$T/home/.local/state/moonbench")" = 700 ]
    [ "$(wc -l < "$f")" = 2 ]
    HOME="$T/home" XDG_STATE_HOME="$T/xdg" run "$MB" fit "$DATA/iris.h5" -m linear -o "$T/m.h5"
    [ "$(wc -l < "$T/xdg/moonbench/audit.jsonl")" = 2 ]
}

@test "an unwritable log path is a warning naming it, and the fit succeeds" {
    touch "$T/afile"
    MOONBENCH_AUDIT_LOG="$T/afile/audit.jsonl" run "$MB" fit "$DATA/iris.h5" -m linear -o "$T/m.h5"
    assert_success
    assert_output --partial "warning: audit log $T/afile/audit.jsonl: Not a directory; this save is not recorded (it went ahead)"
    [ -s "$T/m.h5" ]
    MOONBENCH_AUDIT_LOG="$T" run "$MB" fit "$DATA/iris.h5" -m linear -o "$T/m2.h5"
    assert_success
    assert_output --partial "warning: audit log $T:"
    [ -s "$T/m2.h5" ]
}

@test "Lua saves, exports and signed bundles are audited; the bundle is found after signing" {
    cat > "$T/fit.lua" <<'EOF'
local mb = require "moonbench"
local f = mb.open(arg[1])
mb.pipeline{ mb.standardize(), mb.model("linear") }:fit(f):save(arg[2])
EOF
    run "$MB" run "$T/fit.lua" "$DATA/iris.h5" "$T/p.h5"
    assert_success
    "$MB" export "$T/p.h5" --format onnx -o "$T/p.onnx" 2>/dev/null
    "$MB" keygen -o "$T/k" >/dev/null
    "$MB" sign "$T/p.h5" --key "$T/k.key" >/dev/null
    run "$MB" audit "$T/p.h5"
    assert_success
    assert_output --partial "command  $MB run $T/fit.lua $DATA/iris.h5 $T/p.h5"
    assert_output --partial "export by"
    assert_output --partial "output   $T/p.onnx  sha256 $(sha "$T/p.onnx")"
    run "$MB" audit "$DATA/iris.h5"
    assert_failure 1
    assert_output --partial "no event in $LOG names $DATA/iris.h5"
}

@test "secrets are masked: --token=V, --redis-password V, the password of a redis:// URL" {
    run "$MB" worker "$T/none.h5" --redis redis://alice:hunter22@127.0.0.1:1/0 --in s --group g
    assert_failure
    # no worker started (no bundle): nothing logged; check the masking on a fit's command line
    run "$MB" fit "$DATA/iris.h5" -m linear -o "$T/m.h5" --token=abc123 redis://bob:pw99@h:1 --redis-password zz77
    # fit refuses the unknown options before fitting: nothing logged either
    [ ! -s "$LOG" ] || ! grep -q 'abc123\|pw99\|zz77\|hunter22' "$LOG"
    cat > "$T/s.lua" <<'EOF'
local mb = require "moonbench"
mb.pipeline{ mb.model("linear") }:fit(mb.open(arg[1])):save(arg[2])
EOF
    run "$MB" run "$T/s.lua" "$DATA/iris.h5" "$T/m.h5" --token=abc123 redis://bob:pw99@h:1 --redis-password zz77 --token-file /x/y
    assert_success
    ! grep -q 'abc123\|pw99\|zz77' "$LOG"
    grep -q '"--token=\*\*\*","redis://bob:\*\*\*@h:1","--redis-password","\*\*\*","--token-file","/x/y"' "$LOG"
}

@test "hostile log lines are reported with their line number, never a crash" {
    "$MB" fit "$DATA/iris.h5" -m linear -o "$T/m.h5" >/dev/null 2>&1
    cp "$LOG" "$T/good"
    { cat "$T/good"; echo 'not json at all'; } > "$LOG"
    run "$MB" audit --verify
    assert_failure 1
    assert_output --partial "line 3: not JSON"
    run "$MB" audit "$T/m.h5"
    assert_success
    assert_output --partial "line 3: not JSON; skipped"
    { cat "$T/good"; python3 -c 'print("{\"a\":\"" + "x" * 1100000 + "\"}")'; } > "$LOG"
    run "$MB" audit --verify
    assert_failure 1
    assert_output --partial "line 3: longer than 1048576 bytes"
    { cat "$T/good"; echo '{"time":1,"event":[],"prev":"0"}'; echo '[1,2]'; } > "$LOG"
    run "$MB" audit --verify
    assert_failure 1
    assert_output --partial "line 3: 'time' and 'event' must be strings"
    run "$MB" audit
    assert_success
    assert_output --partial "line 3  ?  ? by ?@?"
    assert_output --partial "line 4: not a JSON object; skipped"
    # a torn last line (no newline): the next event starts a line of its own
    { cat "$T/good"; printf '{"torn":'; } > "$LOG"
    "$MB" fit "$DATA/iris.h5" -m linear -o "$T/m.h5" >/dev/null 2>&1
    [ "$(wc -l < "$LOG")" = 5 ]
    run "$MB" audit --verify
    assert_failure 1
    assert_output --partial "line 3: not JSON"
    run "$MB" audit --log "$T/missing.jsonl"
    assert_failure 1
    assert_output --partial "audit log $T/missing.jsonl: No such file or directory"
}
