#!/usr/bin/env bats
# moonbench worker: a Redis Streams consumer group against a real
# redis-server started per test on a free port of 127.0.0.1, in the test's
# temporary folder (nothing persists outside it), stopped in teardown.
# Predictions are checked against `moonbench score` on the same rows; the
# at-least-once claims as invariants over the streams (every input id has
# an output, the pending list ends empty, no duplicate without a crash).
load helpers

setup_file() {
    export BUNDLES="$BATS_FILE_TMPDIR"
    "$MB" fit "$DATA/iris.h5" -m gbdt -p n_trees=20 -o "$BUNDLES/iris.h5" >/dev/null
    "$MB" score "$BUNDLES/iris.h5" "$DATA/csv/iris.csv" -o "$BUNDLES/ref.csv" >/dev/null
    # feed.py CSV N: RESP for redis-cli --pipe, N XADDs to 'rows' of the CSV's
    # rows in turn, each with a 'row' field (its 0-based row; not an input)
    cat >"$BUNDLES/feed.py" <<'EOF'
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
head, body = rows[0], rows[1:]
out = sys.stdout.buffer
for i in range(int(sys.argv[2])):
    r = body[i % len(body)]
    args = ["XADD", "rows", "*", "row", str(i % len(body))]
    for k, v in zip(head, r):
        args += [k, v]
    out.write(b"*%d\r\n" % len(args))
    for a in args:
        a = a.encode()
        out.write(b"$%d\r\n%s\r\n" % (len(a), a))
EOF
}

setup() {
    REDIS_PID=
    WORKERS=()
    RTMP="$BATS_TEST_TMPDIR"
    RPORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
    REDIS_ARGS=()
}

teardown() {
    for p in "${WORKERS[@]}"; do kill -KILL "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    stop_redis
}

# start_redis [ARGS...]: redis-server on RPORT, data only in RTMP; waits (5 s at most).
start_redis() {
    redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$RTMP" \
        --daemonize no "$@" >>"$RTMP/redis.log" 2>&1 &
    REDIS_PID=$!
    for _ in $(seq 1 50); do
        if redis-cli -p "$RPORT" PING 2>/dev/null | grep -q -e PONG -e NOAUTH; then return 0; fi
        sleep 0.1
    done
    cat "$RTMP/redis.log"
    return 1
}

stop_redis() {
    [ -n "$REDIS_PID" ] || return 0
    kill -TERM "$REDIS_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$REDIS_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$REDIS_PID" 2>/dev/null || true
    wait "$REDIS_PID" 2>/dev/null || true
    REDIS_PID=
}

rcli() { redis-cli -p "$RPORT" "$@"; }

feed() { python3 "$BUNDLES/feed.py" "$DATA/csv/iris.csv" "$1" | rcli --pipe >/dev/null; }

# start_worker NAME [ARGS...]: in the background, stderr to RTMP/NAME.err; sets WPID.
start_worker() {
    local name=$1
    shift
    "$MB" worker "$BUNDLES/iris.h5" --redis "redis://127.0.0.1:$RPORT" --in rows --group g --create-group \
        --consumer "$name" "$@" 2>"$RTMP/$name.err" &
    WPID=$!
    WORKERS+=("$WPID")
}

# wait_len STREAM N: until XLEN STREAM >= N (20 s at most).
wait_len() {
    for _ in $(seq 1 200); do
        [ "$(rcli XLEN "$1")" -ge "$2" ] && return 0
        sleep 0.1
    done
    echo "XLEN $1 is $(rcli XLEN "$1"), expected $2"
    tail -n 5 "$RTMP"/*.err
    return 1
}

pending() { rcli XPENDING rows g | head -1; }

ghost_pending() { rcli --json XPENDING rows g - + 100 ghost | python3 -c 'import json, sys; print(len(json.load(sys.stdin)))'; }

# stop_worker PID [SIGNAL]: signal it and wait (10 s at most); sets WSTATUS.
stop_worker() {
    kill "-${2:-TERM}" "$1"
    for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    WSTATUS=0
    wait "$1" || WSTATUS=$?
}

# check_outputs N: every one of the N input ids has an output, with no
# duplicate unless DUPS_OK=1; prints the number of outputs.
check_outputs() {
    rcli --json XRANGE rows - + >"$RTMP/in.json"
    rcli --json XRANGE rows:out - + >"$RTMP/out.json"
    python3 - "$RTMP/in.json" "$RTMP/out.json" "$1" "${DUPS_OK:-0}" <<'EOF'
import json, sys
ins = [e[0] for e in json.load(open(sys.argv[1]))]
outs = [dict(zip(e[1][::2], e[1][1::2]))["id"] for e in json.load(open(sys.argv[2]))]
assert len(ins) == int(sys.argv[3]), (len(ins), sys.argv[3])
missing = set(ins) - set(outs)
assert not missing, "no output for %d inputs, e.g. %s" % (len(missing), sorted(missing)[:3])
assert set(outs) <= set(ins), "outputs for ids never written"
if sys.argv[4] != "1":
    assert len(outs) == len(set(outs)), "%d duplicates" % (len(outs) - len(set(outs)))
print(len(outs))
EOF
}

@test "worker: a stream of rows is scored exactly as moonbench score scores them; /metrics counts them" {
    start_redis
    feed 150
    MPORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
    start_worker w1 --batch 16 --metrics-port "$MPORT"
    wait_len rows:out 150
    rcli --json XRANGE rows - + >"$RTMP/in.json"
    rcli --json XRANGE rows:out - + >"$RTMP/out.json"
    run python3 - "$RTMP/in.json" "$RTMP/out.json" "$BUNDLES/ref.csv" <<'EOF'
import csv, json, sys
row_of = {e[0]: int(dict(zip(e[1][::2], e[1][1::2]))["row"]) for e in json.load(open(sys.argv[1]))}
ref = list(csv.DictReader(open(sys.argv[3])))
assert len(ref) == 150
seen = set()
for e in json.load(open(sys.argv[2])):
    f = dict(zip(e[1][::2], e[1][1::2]))
    r = ref[row_of[f["id"]]]
    seen.add(f["id"])
    assert set(f) == set(r) | {"id"}, (sorted(f), sorted(r))
    for k in r:
        assert f[k] == r[k], (f["id"], k, f[k], r[k])
assert len(seen) == 150
print("ok")
EOF
    assert_success
    assert_output ok
    [ "$(pending)" = 0 ]
    for _ in $(seq 1 30); do
        curl -s "http://127.0.0.1:$MPORT/metrics" >"$RTMP/metrics"
        grep -q '^moonbench_worker_group_lag 0$' "$RTMP/metrics" && break
        sleep 0.1
    done
    grep -q '^moonbench_worker_entries_read_total 150$' "$RTMP/metrics"
    grep -q '^moonbench_worker_entries_scored_total 150$' "$RTMP/metrics"
    grep -q '^moonbench_worker_entries_dead_total 0$' "$RTMP/metrics"
    grep -q '^moonbench_worker_group_pending 0$' "$RTMP/metrics"
    grep -q '^moonbench_worker_batch_seconds_count [1-9]' "$RTMP/metrics"
    grep -q '^moonbench_drift_window_rows 150$' "$RTMP/metrics"
    grep -q '^moonbench_drift_psi{feature="petal width (cm)"} ' "$RTMP/metrics"
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MPORT/other")" = 404 ]
}

@test "worker: field layouts that change from entry to entry, and values only the slow parse reads, score as moonbench score" {
    start_redis
    # the worker caches the input index of each field by the entry's field
    # order: mix three orders (one with an unknown field) in every batch, and
    # values the fast decimal parse leaves to the runtime (blanks, 22 digits)
    python3 - "$DATA/csv/iris.csv" <<'EOF' | rcli --pipe >/dev/null
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
head, body = rows[0], rows[1:]
out = sys.stdout.buffer
for i, r in enumerate(body):
    pairs = list(zip(head, r))
    if i % 3 == 1:
        pairs = pairs[::-1] + [("note", "x")]
    elif i % 3 == 2:
        pairs = pairs[1:] + pairs[:1]
        k, v = pairs[0]
        pairs[0] = (k, " %s " % v if i % 2 else v + ("" if "." in v else ".0") + "0000000000000000000001")
    args = ["XADD", "rows", "*", "row", str(i)] + [x for p in pairs for x in p]
    out.write(b"*%d\r\n" % len(args))
    for a in args:
        a = a.encode()
        out.write(b"$%d\r\n%s\r\n" % (len(a), a))
EOF
    start_worker w1 --batch 7
    wait_len rows:out 150
    rcli --json XRANGE rows - + >"$RTMP/in.json"
    rcli --json XRANGE rows:out - + >"$RTMP/out.json"
    run python3 - "$RTMP/in.json" "$RTMP/out.json" "$BUNDLES/ref.csv" <<'EOF'
import csv, json, sys
row_of = {e[0]: int(dict(zip(e[1][::2], e[1][1::2]))["row"]) for e in json.load(open(sys.argv[1]))}
ref = list(csv.DictReader(open(sys.argv[3])))
seen = set()
for e in json.load(open(sys.argv[2])):
    f = dict(zip(e[1][::2], e[1][1::2]))
    r = ref[row_of[f["id"]]]
    seen.add(f["id"])
    for k in r:
        assert f[k] == r[k], (f["id"], k, f[k], r[k])
assert len(seen) == 150
print("ok")
EOF
    assert_success
    assert_output ok
    [ "$(rcli XLEN rows:dead)" = 0 ]
}

@test "worker: entries that cannot be scored go to the dead-letter stream with the reason and their fields" {
    start_redis
    rcli XADD rows '*' 'sepal length (cm)' abc 'sepal width (cm)' 3 'petal length (cm)' 1 'petal width (cm)' 0.2 >/dev/null
    rcli XADD rows '*' 'sepal length (cm)' 5.1 >/dev/null
    rcli XADD rows '*' json '{"sepal length (cm)": 5.1,' >/dev/null
    rcli XADD rows '*' json '[1, 2]' >/dev/null
    good=$(rcli XADD rows '*' json '{"sepal length (cm)": 6.7, "sepal width (cm)": 3.0, "petal length (cm)": 5.2, "petal width (cm)": 2.3}')
    start_worker w1
    wait_len rows:dead 4
    wait_len rows:out 1
    run rcli --json XRANGE rows:dead - +
    assert_output --partial "\"reason\",\"column 'sepal length (cm)': 'abc' is not a number\",\"sepal length (cm)\",\"abc\",\"sepal width (cm)\",\"3\""
    assert_output --partial "no value for column 'sepal width (cm)'"
    assert_output --partial '"reason","not JSON: '
    assert_output --partial '"reason","an array of 2 values; the model takes 4'
    run rcli --json XRANGE rows:out - +
    assert_output --partial "\"id\",\"$good\",\"prediction\",\"virginica\""
    for _ in $(seq 1 50); do [ "$(pending)" = 0 ] && break; sleep 0.1; done
    [ "$(pending)" = 0 ]
    stop_worker "$WPID"
    [ "$WSTATUS" = 0 ]
}

@test "worker: two workers in one group share the stream; no entry lost or scored twice" {
    start_redis
    start_worker a --batch 8
    A=$WPID
    start_worker b --batch 8
    B=$WPID
    for _ in 1 2 3 4; do feed 100; sleep 0.2; done
    wait_len rows:out 400
    run check_outputs 400
    assert_success
    assert_output 400
    stop_worker "$A"
    [ "$WSTATUS" = 0 ]
    stop_worker "$B"
    [ "$WSTATUS" = 0 ]
    na=$(sed -n 's/.*stopped (signal): \([0-9]*\) scored.*/\1/p' "$RTMP/a.err")
    nb=$(sed -n 's/.*stopped (signal): \([0-9]*\) scored.*/\1/p' "$RTMP/b.err")
    [ "$((na + nb))" = 400 ]
    [ "$na" -gt 0 ] && [ "$nb" -gt 0 ]
    [ "$(pending)" = 0 ]
}

@test "worker: killed with SIGKILL mid-way and restarted, every entry is finished; a dead consumer's entries are claimed" {
    start_redis
    feed 3000
    # a consumer that read 7 entries and died: its entries stay pending until claimed
    rcli XGROUP CREATE rows g 0 >/dev/null
    rcli XREADGROUP GROUP g ghost COUNT 7 STREAMS rows '>' >/dev/null
    [ "$(ghost_pending)" = 7 ]
    start_worker a --batch 50 --claim-idle 300
    wait_len rows:out 100
    stop_worker "$WPID" KILL
    left=$(pending)
    # the same consumer again: it first finishes its own pending batch (XREADGROUP from 0)
    start_worker a --batch 50 --claim-idle 300
    wait_len rows:out 3000
    for _ in $(seq 1 100); do [ "$(pending)" = 0 ] && break; sleep 0.1; done
    [ "$(pending)" = 0 ]
    [ "$(ghost_pending)" = 0 ]
    DUPS_OK=1 run check_outputs 3000
    assert_success
    # duplicates only for what a had in hand when killed: at most one batch
    [ "$output" -le $((3000 + 50)) ]
    echo "pending at the kill: $left; outputs: $output" >&3
}

@test "worker: Redis restarted under a running worker: it reconnects and finishes" {
    start_redis --appendonly yes
    feed 1000
    start_worker a --batch 10
    wait_len rows:out 50
    stop_redis
    start_redis --appendonly yes
    feed 200
    wait_len rows:out 1200
    for _ in $(seq 1 100); do [ "$(pending)" = 0 ] && break; sleep 0.1; done
    [ "$(pending)" = 0 ]
    DUPS_OK=1 run check_outputs 1200
    assert_success
    grep -q 'lost the connection to redis://127.0.0.1' "$RTMP/a.err"
    grep -q 'connected to redis://127.0.0.1:.* again' "$RTMP/a.err"
}

@test "worker: an XADD that fails leaves its batch pending; the batches before it are acknowledged" {
    start_redis
    # --batch 2: [g1 g2] [g3 g4] [g5 bad]; the dead-letter stream is a plain
    # string, so bad's XADD fails (WRONGTYPE): a fatal error. Each batch's
    # XACK is held to ride in one write with the next read: [g3 g4]'s goes
    # out with the read of [g5 bad], and none may name g5 or bad.
    rcli SET rows:dead not-a-stream >/dev/null
    feed 5
    bad=$(rcli XADD rows '*' 'sepal length (cm)' abc)
    run "$MB" worker "$BUNDLES/iris.h5" --redis "redis://127.0.0.1:$RPORT" --in rows --group g --create-group \
        --consumer a --batch 2
    [ "$status" = 1 ]
    assert_output --partial "XADD to 'rows:dead' failed: WRONGTYPE"
    [ "$(rcli XLEN rows:out)" = 5 ]
    rcli --json XRANGE rows - + >"$RTMP/in.json"
    rcli --json XPENDING rows g - + 100 >"$RTMP/pending.json"
    run python3 - "$RTMP/in.json" "$RTMP/pending.json" "$bad" <<'EOF'
import json, sys
ins = [e[0] for e in json.load(open(sys.argv[1]))]
pend = [p[0] for p in json.load(open(sys.argv[2]))]
assert ins[5] == sys.argv[3]
assert pend == ins[4:6], ("pending", pend, "expected", ins[4:6])
print("ok")
EOF
    assert_success
    assert_output ok
    # a restart (dead letters now writable) finishes the two; g5 is written twice (at-least-once)
    rcli DEL rows:dead >/dev/null
    start_worker a --batch 2
    wait_len rows:dead 1
    for _ in $(seq 1 50); do [ "$(pending)" = 0 ] && break; sleep 0.1; done
    [ "$(pending)" = 0 ]
    [ "$(rcli XLEN rows:out)" = 6 ]
}

@test "worker: SIGTERM finishes the batch in hand, acknowledges it and exits 0" {
    start_redis
    # small batches of a long stream, so the signal lands mid-stream, when
    # the last batch's XACK is still held (it rides with the next read):
    # leaving must send it
    feed 30000
    start_worker a --batch 10
    wait_len rows:out 100
    stop_worker "$WPID" TERM
    [ "$WSTATUS" = 0 ]
    grep -q 'stopped (signal).*every entry read was acknowledged' "$RTMP/a.err"
    echo "outputs at the stop: $(rcli XLEN rows:out) of 30000"
    # everything delivered to the group was written and acknowledged
    [ "$(pending)" = 0 ]
    read_by_group=$(rcli --json XINFO GROUPS rows | python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["entries-read"])')
    [ "$(rcli XLEN rows:out)" = "$read_by_group" ]
}

@test "worker: it reads one batch ahead, so at most two batches are pending, and at times two are" {
    start_redis
    # the read ahead goes out (after the last batch's XACK) before the batch
    # in hand is scored: the pending list is two batches most of the time,
    # never more (the bound on memory and on a dead worker's leftovers)
    feed 20000
    rcli XGROUP CREATE rows g 0 >/dev/null
    start_worker a --batch 10
    max=0
    while [ "$(rcli XLEN rows:out)" -lt 20000 ]; do
        p=$(pending)
        [ "$p" -gt "$max" ] && max=$p
        kill -0 "$WPID"
    done
    echo "most pending seen: $max" >&3
    [ "$max" -le 20 ]
    [ "$max" -gt 10 ]
    for _ in $(seq 1 50); do [ "$(pending)" = 0 ] && break; sleep 0.1; done
    [ "$(pending)" = 0 ]
    run check_outputs 20000
    assert_success
    stop_worker "$WPID"
    [ "$WSTATUS" = 0 ]
}

@test "worker: a wrong or missing password is a clear error that does not print it; rediss:// is refused" {
    start_redis --requirepass s3cr3t-pw
    run timeout 10 "$MB" worker "$BUNDLES/iris.h5" --redis "redis://:wr0ng-pw@127.0.0.1:$RPORT" --in rows --group g
    assert_failure 1
    assert_output --partial "redis://:***@127.0.0.1:$RPORT/0: authentication failed"
    refute_output --partial wr0ng-pw
    run timeout 10 "$MB" worker "$BUNDLES/iris.h5" --redis "redis://127.0.0.1:$RPORT" --in rows --group g
    assert_failure 1
    assert_output --partial "NOAUTH"
    run timeout 10 "$MB" worker "$BUNDLES/iris.h5" --redis "rediss://127.0.0.1:$RPORT" --in rows --group g
    assert_failure 2
    assert_output --partial "no TLS"
    # the right password (as the ACL default user) works
    redis-cli -a s3cr3t-pw --no-auth-warning -p "$RPORT" XADD rows '*' json '{"sepal length (cm)": 5, "sepal width (cm)": 3.4, "petal length (cm)": 1.5, "petal width (cm)": 0.2}' >/dev/null
    "$MB" worker "$BUNDLES/iris.h5" --redis "redis://default:s3cr3t-pw@127.0.0.1:$RPORT" --in rows --group g \
        --create-group 2>"$RTMP/ok.err" &
    WPID=$!
    WORKERS+=("$WPID")
    for _ in $(seq 1 100); do
        [ "$(redis-cli -a s3cr3t-pw --no-auth-warning -p "$RPORT" XLEN rows:out)" = 1 ] && break
        sleep 0.1
    done
    [ "$(redis-cli -a s3cr3t-pw --no-auth-warning -p "$RPORT" XLEN rows:out)" = 1 ]
    stop_worker "$WPID"
    [ "$WSTATUS" = 0 ]
    ! grep -q s3cr3t "$RTMP/ok.err"
}

@test "worker: bad options and URLs are usage errors naming what was expected" {
    run "$MB" worker "$BUNDLES/iris.h5" --redis "redis://127.0.0.1:99999" --in rows --group g
    assert_failure 2
    assert_output --partial "the port is not a number in 1..65535"
    run "$MB" worker "$BUNDLES/iris.h5" --redis "http://127.0.0.1" --in rows --group g
    assert_failure 2
    assert_output --partial "expected redis://[user:password@]host[:port][/db]"
    run "$MB" worker "$BUNDLES/iris.h5" --redis "redis://127.0.0.1" --in rows
    assert_failure 2
    assert_output --partial "--group G are required"
    run "$MB" worker "$BUNDLES/iris.h5" --redis "redis://127.0.0.1" --in rows --group g --batch 0
    assert_failure 2
    assert_output --partial "--batch: '0' is not valid"
    run "$MB" worker "$BUNDLES/iris.h5" --redis "redis://u:p%40ss@127.0.0.1" --in rows --group g --batch x
    assert_failure 2
    refute_output --partial "p%40ss"
    # the option loop serve shares (src/deploy/options.c)
    run "$MB" worker "$BUNDLES/iris.h5" --redis "redis://127.0.0.1" --in rows --group g --metrics-port 70000
    assert_failure 2
    assert_output --partial "--metrics-port: '70000' is not valid"
    run "$MB" worker "$BUNDLES/iris.h5" --redis "redis://127.0.0.1" --in rows --group g --out
    assert_failure 2
    assert_output --partial "--out needs a value"
    run "$MB" worker "$BUNDLES/iris.h5" --redis "redis://127.0.0.1" --in rows --group g --bogus 1
    assert_failure 2
    assert_output --partial "unknown option '--bogus'"
    run "$MB" worker "$BUNDLES/iris.h5" other.h5 --redis "redis://127.0.0.1" --in rows --group g
    assert_failure 2
    assert_output --partial "one model bundle only"
}
