#!/bin/bash
# tests/bench/worker.sh: `moonbench worker` (Redis Streams consumer group,
# GBDT bundle) against tests/bench/redis_peer.py (python3-redis with the
# equivalent XGBoost model, the same consumer-group protocol), both on a
# private redis-server on a free loopback port whose data lives only in
# $BUILD/bench/worker (no persistence: --save '' --appendonly no).
#
# Throughput: MB_WORKER_ROWS test rows of clf_1m (default 200,000: at
# ~180,000 entries/s a drain of 50,000 lasted 0.28 s, too short for the CPU
# times below) are pre-loaded once into a stream (pipelined XADDs, fields by
# feature name);
# each run creates a fresh group from id 0 and times 1, then 2 consumers in
# it draining them to a fresh output stream: entries/s between the first and
# the last output entry (worker_drive.py drain), so start-up is not counted.
# Latency: an open-loop producer XADDs at MB_WORKER_RATE entries/s (2,000)
# for MB_WORKER_SECONDS (5) to one consumer; XADD -> output entry seen by a
# blocked reader, p50/p99 (worker_drive.py pace).
# What the broker allows: each round also drains the stream with 1 and 2
# workers running a one-split GBDT (tool "stump": the same protocol with
# next to no scoring). Where moonbench's figure equals the stump's, the
# scoring is not what bounds it: redis-server and the machine's cores are.
# Both use --batch/COUNT MB_WORKER_BATCH (64, the worker's default). Each
# drain line also has the CPU time per entry of the consumers and of
# redis-server (consumer_cpu_us, redis_cpu_us; /proc/PID/schedstat). Rounds
# alternate moonbench and the peer (MB_BENCH_ROUNDS, default 3). Before the
# timed rounds the outputs are checked: the worker's equal `moonbench score`
# on the same rows, and the peer's class agrees (worker_drive.py check).
# Raw lines: $BUILD/bench/worker.jsonl; the table: deploy_report.py.
set -eu -o pipefail
BENCH_NAME=worker
# shellcheck source=deploy_lib.sh
. "$(dirname "$0")/deploy_lib.sh"
N=${MB_WORKER_ROWS:-200000}
RATE=${MB_WORKER_RATE:-2000}
SECS=${MB_WORKER_SECONDS:-5}
BATCH=${MB_WORKER_BATCH:-64}
RAW=$OUT/worker.jsonl
RDIR=$OUT/worker
DRIVE=("$PY" "$HERE/worker_drive.py")
command -v redis-server >/dev/null && command -v redis-cli >/dev/null || die "run as root: apt-get install -y redis-server"
"$PY" -c 'import redis' 2>/dev/null || die "run as root: apt-get install -y python3-redis"
deploy_setup gbdt xgb
TEST=$DEP/clf_test.h5

REDIS_PID=
CONSUMERS=()
rm -rf "$RDIR" && mkdir -p "$RDIR"
stop_consumers() {
    local p
    for p in "${CONSUMERS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${CONSUMERS[@]}"; do
        for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    CONSUMERS=()
}
cleanup() { stop_consumers; stop_pid "$REDIS_PID"; }
trap cleanup EXIT
RPORT=$(free_port)
redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$RDIR" --daemonize no \
    >"$RDIR/redis.log" 2>&1 &
REDIS_PID=$!
wait_port "$RPORT" "$REDIS_PID" || die "redis-server did not start: $RDIR/redis.log"
rcli() { redis-cli -p "$RPORT" "$@"; }

# consumer TOOL STREAM GROUP NAME OUT: one consumer in the background.
consumer() {
    local tool=$1 stream=$2 group=$3 name=$4 out=$5
    if [ "$tool" = moonbench ] || [ "$tool" = stump ]; then
        local bundle=$DEP/gbdt.h5
        [ "$tool" = stump ] && bundle=$RDIR/stump.h5
        "$MB" worker "$bundle" --redis "redis://127.0.0.1:$RPORT" --in "$stream" --group "$group" \
            --consumer "$name" --out "$out" --batch "$BATCH" >>"$RDIR/$tool.log" 2>&1 &
    else
        "$PY" "$HERE/redis_peer.py" "$RPORT" "$stream" "$group" "$name" "$out" "$DEP/xgb_gbdt.json" "$BATCH" \
            "$TEST" >>"$RDIR/$tool.log" 2>&1 &
    fi
    CONSUMERS+=($!)
}

# CPU time (ns) of the processes named, from /proc/PID/schedstat (0 without it).
cpu_ns() {
    local t=0 p v
    for p in "$@"; do
        v=$(cut -d' ' -f1 "/proc/$p/schedstat" 2>/dev/null) || v=0
        t=$((t + v))
    done
    echo "$t"
}

# drain TOOL K: K consumers of a fresh group empty the pre-loaded stream.
# Also the CPU time per entry of the consumers and of redis-server, from
# when every consumer has read once (start-up done) to the end, over the
# entries output in that time: it depends on the machine's load much less
# than entries/s does (consumer_cpu_us, redis_cpu_us).
drain() {
    local tool=$1 k=$2 i c0 r0 o0 c1 r1 cc rc line
    rcli DEL out >/dev/null
    rcli XGROUP CREATE rows g 0 >/dev/null
    for i in $(seq "$k"); do consumer "$tool" rows g "c$i" out; done
    "${DRIVE[@]}" ready "$RPORT" rows g "$k" || die "$tool did not start: $RDIR/$tool.log"
    c0=$(cpu_ns "${CONSUMERS[@]}") r0=$(cpu_ns "$REDIS_PID") o0=$(rcli XLEN out)
    line=$("${DRIVE[@]}" drain "$RPORT" out "$N" 600) || die "$tool did not drain the stream: $RDIR/$tool.log"
    c1=$(cpu_ns "${CONSUMERS[@]}") r1=$(cpu_ns "$REDIS_PID")
    per_entry() { awk -v c="$1" -v n="$((N - o0))" 'BEGIN { printf "%.3f", (n > 0 ? c / 1e3 / n : 0) }'; }
    cc=$(per_entry "$((c1 - c0))") rc=$(per_entry "$((r1 - r0))")
    echo "$line" | sed "s/}\$/, \"consumers\": $k, \"consumer_cpu_us\": $cc, \"redis_cpu_us\": $rc}/"
    stop_consumers
    [ "$(rcli XPENDING rows g | head -n 1)" = 0 ] || die "$tool left entries pending"
    rcli XGROUP DESTROY rows g >/dev/null
}

# paced TOOL: one consumer, the open-loop producer, the latencies.
paced() {
    local tool=$1
    rcli DEL live live:out >/dev/null
    rcli XGROUP CREATE live g '$' MKSTREAM >/dev/null
    consumer "$tool" live g c1 live:out
    "${DRIVE[@]}" ready "$RPORT" live g 1 || die "$tool did not start: $RDIR/$tool.log"
    "${DRIVE[@]}" pace "$RPORT" live live:out "$RATE" "$SECS" "$TEST" | sed 's/}$/, "consumers": 1}/'
    stop_consumers
}

"$MB" fit "$DEP/clf_train.h5" -m gbdt -p n_trees=1 -p max_depth=1 --prep none -o "$RDIR/stump.h5" \
    >"$RDIR/stump.log" 2>&1 || die "the one-split GBDT did not fit: $RDIR/stump.log"
say "pre-loading $N entries (load $(load1))"
"${DRIVE[@]}" feed "$TEST" "$N" rows | rcli --pipe >"$RDIR/feed.log" || die "the feed failed: $RDIR/feed.log"
[ "$(rcli XLEN rows)" = "$N" ] || die "the stream holds $(rcli XLEN rows) entries, not $N"

# {====== sanity: the same predictions ======}
"$MB" score "$DEP/gbdt.h5" "$TEST" -o "$RDIR/scores.csv" 2>"$RDIR/score.log" || die "moonbench score failed"
for tool in moonbench peer; do
    rcli DEL "check:$tool" >/dev/null
    rcli XGROUP CREATE rows "check-$tool" 0 >/dev/null
    consumer "$tool" rows "check-$tool" c1 "check:$tool"
done
for tool in moonbench peer; do
    "${DRIVE[@]}" drain "$RPORT" "check:$tool" "$N" 600 >/dev/null || die "$tool did not score the stream"
done
stop_consumers
"${DRIVE[@]}" check "$RPORT" rows check:moonbench check:peer "$RDIR/scores.csv" 5000 ||
    die "the outputs differ (worker_drive.py check)"
rcli DEL check:moonbench check:peer >/dev/null

# {====== timed runs ======}
: >"$RAW"
for r in $(seq "$ROUNDS"); do
    for tool in moonbench peer; do
        for k in 1 2; do
            say "round $r/$ROUNDS: $tool, $k consumer(s), $N entries (load $(load1))"
            drain "$tool" "$k" | "$PY" "$HERE/deploy_report.py" tag worker "$tool" gbdt "$r" >>"$RAW"
        done
        say "round $r/$ROUNDS: $tool, $RATE entries/s for $SECS s (load $(load1))"
        paced "$tool" | "$PY" "$HERE/deploy_report.py" tag worker "$tool" gbdt "$r" >>"$RAW"
    done
    for k in 1 2; do
        say "round $r/$ROUNDS: stump (a one-split GBDT), $k consumer(s) (load $(load1))"
        drain stump "$k" | "$PY" "$HERE/deploy_report.py" tag worker stump gbdt "$r" >>"$RAW"
    done
done
"$PY" "$HERE/deploy_report.py" report "$RAW"
