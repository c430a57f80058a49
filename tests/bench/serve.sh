#!/bin/bash
# tests/bench/serve.sh: `moonbench serve`, single-row POST /predict under
# wrk on loopback (-t2 -c32, --latency), for the 200-tree GBDT and the MLP
# (deploy_lib.sh's gbdt.h5 and mlp.h5), against the seed's FastAPI service
# on uvicorn (tests/bench/fastapi_peer.py) serving the equivalent XGBoost
# model and the PyTorch MLP with the same /predict contract.
#
# Each request is one real test row of the bench data; wrk's Lua script
# rotates MB_SERVE_ROWS of them (default 8), formatted once at start. Both
# servers of a model stay up; rounds alternate moonbench and FastAPI
# (MB_BENCH_ROUNDS, default 3) with MB_SERVE_SECONDS of load each (default
# 10), after a 1 s warm-up of each server. Before timing, the classes the
# two servers give the rotated rows are compared (a sanity check: they are
# separately trained models, so all must agree on the first row and at
# least half of the rows).
# Two placements, each with its own servers and rows in the table:
# - shared (model "gbdt", "mlp"): the servers and wrk -t2 on all cores,
#   moonbench with its default --threads (one per core), FastAPI with
#   uvicorn's default of one worker (MB_FASTAPI_WORKERS): the throughput
#   figure. Its p99 is not the server's: with wrk's two threads and the
#   server's two busy on 2 cores, a response waits in the socket until the
#   scheduler runs the wrk thread that reads it (the floor below shows it).
# - pinned (model "gbdt/pinned", "mlp/pinned"; needs 2+ CPUs): each server
#   alone on the last CPU (taskset; moonbench --threads 1, FastAPI's one
#   worker), wrk -t1 on the others: the p99 goal's figure, the server's
#   latency with the load generator off its core, as on a real deployment.
# The HTTP floor: each round also loads moonbench's GET /v2/health/live
# (no body, no model, a 13-byte reply) the same way in each placement; its
# p99 bounds what /predict's can reach there, whatever the scoring costs
# (with 32 connections always busy, mean latency = 32 / throughput:
# Little's law).
# Raw lines: $BUILD/bench/serve.jsonl (the floor's: serve_floor.jsonl); the
# table: deploy_report.py, then the floor's medians.
set -eu -o pipefail
BENCH_NAME=serve
# shellcheck source=deploy_lib.sh
. "$(dirname "$0")/deploy_lib.sh"
SECONDS_EACH=${MB_SERVE_SECONDS:-10}
NROWS=${MB_SERVE_ROWS:-8}
WORKERS=${MB_FASTAPI_WORKERS:-1}
RAW=$OUT/serve.jsonl
FLOOR=$OUT/serve_floor.jsonl
command -v wrk >/dev/null || die "run as root: apt-get install -y wrk"
command -v curl >/dev/null || die "run as root: apt-get install -y curl"
"$PY" -c 'import fastapi, uvicorn' 2>/dev/null || die "run as root: apt-get install -y python3-fastapi python3-uvicorn"
deploy_setup gbdt mlp xgb torch

MB_PID= PEER_PID=
cleanup() { stop_pid "$MB_PID"; stop_pid "$PEER_PID"; }
trap cleanup EXIT

# wrk_script MODEL: a Lua script POSTing the first NROWS test rows in turn.
wrk_script() {
    local rows=$DEP/serve_$1_rows.json
    "$PY" "$HERE/deploy_data.py" rows "$(test_file "$1")" "$NROWS" "$rows"
    "$PY" - "$rows" "$DEP/serve_$1.lua" <<'EOF'
import json, sys
rows = json.load(open(sys.argv[1]))
with open(sys.argv[2], "w") as f:
    f.write("-- made by tests/bench/serve.sh: one test row per request, in turn\n")
    f.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nlocal bodies = {\n')
    for r in rows:
        f.write("  [==[%s]==],\n" % json.dumps({"instances": [r]}, separators=(",", ":")))
    f.write("}\nlocal reqs, i = {}, 0\n")
    f.write("init = function() for k, b in ipairs(bodies) do reqs[k] = wrk.format(nil, '/predict', nil, b) end end\n")
    f.write("request = function() i = i % #reqs + 1; return reqs[i] end\n")
EOF
}

# classes PORT MODEL: the predicted class of each rotated row, one a line.
classes() {
    local r
    "$PY" -c 'import json,sys; [print(json.dumps({"instances": [r]})) for r in json.load(open(sys.argv[1]))]' \
        "$DEP/serve_$2_rows.json" | while read -r r; do
        curl -sf -X POST -H 'Content-Type: application/json' --data-binary "$r" "http://127.0.0.1:$1/predict" |
            "$PY" -c 'import json,sys; print(json.load(sys.stdin)["predictions"][0])'
    done
}

# run_wrk PORT SECONDS MODEL [URL_PATH]: wrk as the placement wants it
# (WRK_PIN: the taskset prefix, WRK_THREADS); no path: the rotated rows.
run_wrk() {
    if [ -n "${4:-}" ]; then
        $WRK_PIN wrk -t"$WRK_THREADS" -c32 -d"$2" --latency "http://127.0.0.1:$1$4"
    else
        $WRK_PIN wrk -t"$WRK_THREADS" -c32 -d"$2" --latency -s "$DEP/serve_$3.lua" "http://127.0.0.1:$1"
    fi
}

NCPU=$(nproc)
PLACEMENTS=shared
[ "$NCPU" -ge 2 ] && PLACEMENTS="shared pinned" || say "one CPU: no pinned placement"

: >"$RAW"
: >"$FLOOR"
for model in gbdt mlp; do
    case $model in gbdt) peer=xgb pfile=$DEP/xgb_gbdt.json ;; mlp) peer=torch pfile=$DEP/torch_mlp.pt ;; esac
    wrk_script "$model"
    for place in $PLACEMENTS; do
        if [ "$place" = pinned ]; then
            SRV_PIN="taskset -c $((NCPU - 1))" MB_THREADS=(--threads 1)
            WRK_PIN="taskset -c 0-$((NCPU - 2))" WRK_THREADS=1 tag=$model/pinned
        else
            SRV_PIN="" MB_THREADS=() WRK_PIN="" WRK_THREADS=2 tag=$model
        fi
        mport=$(free_port)
        $SRV_PIN "$MB" serve "$DEP/$model.h5" --port "$mport" "${MB_THREADS[@]}" 2>"$DEP/serve_${model}_$place.log" &
        MB_PID=$!
        wait_port "$mport" "$MB_PID" || die "moonbench serve did not start: $DEP/serve_${model}_$place.log"
        pport=$(free_port)
        $SRV_PIN "$PY" "$HERE/fastapi_peer.py" "$peer" "$pfile" "$pport" "$WORKERS" 2>"$DEP/fastapi_${model}_$place.log" &
        PEER_PID=$!
        wait_port "$pport" "$PEER_PID" || die "the FastAPI peer did not start: $DEP/fastapi_${model}_$place.log"
        # {====== sanity: the same classes ======}
        a=$(classes "$mport" "$model") b=$(classes "$pport" "$model")
        [ -n "$a" ] && [ "$(echo "$a" | wc -l)" -eq "$NROWS" ] || die "moonbench serve did not answer every row"
        [ "$(echo "$b" | wc -l)" -eq "$NROWS" ] || die "the FastAPI peer did not answer every row"
        same=$(paste <(echo "$a") <(echo "$b") | awk '$1 == $2' | wc -l)
        say "sanity ($tag): the two servers give the same class to $same of $NROWS rows"
        [ "$(echo "$a" | head -n 1)" = "$(echo "$b" | head -n 1)" ] && [ $((2 * same)) -ge "$NROWS" ] ||
            die "moonbench ($(echo $a)) and the peer ($(echo $b)) disagree on the rows' classes"
        run_wrk "$mport" 1s "$model" >/dev/null
        run_wrk "$pport" 1s "$model" >/dev/null
        # {====== timed runs ======}
        for r in $(seq "$ROUNDS"); do
            say "$tag round $r/$ROUNDS (load $(load1))"
            run_wrk "$mport" "${SECONDS_EACH}s" "$model" |
                "$PY" "$HERE/deploy_report.py" wrk serve moonbench "$tag" "$r" >>"$RAW"
            run_wrk "$pport" "${SECONDS_EACH}s" "$model" |
                "$PY" "$HERE/deploy_report.py" wrk serve "fastapi-$peer" "$tag" "$r" >>"$RAW"
            run_wrk "$mport" "${SECONDS_EACH}s" "$model" /v2/health/live |
                "$PY" "$HERE/deploy_report.py" wrk serve moonbench-floor "$tag" "$r" >>"$FLOOR"
        done
        stop_pid "$MB_PID"
        stop_pid "$PEER_PID"
        MB_PID= PEER_PID=
    done
done
"$PY" "$HERE/deploy_report.py" report "$RAW"
# the floor: medians over the rounds, and Little's law's mean latency
"$PY" - "$FLOOR" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
for model in sorted({r["model"] for r in rows}):
    rs = [r for r in rows if r["model"] == model]
    m = {k: statistics.median(r[k] for r in rs) for k in ("rps", "p50_ms", "p99_ms")}
    print("floor   %-11s GET /v2/health/live: %.0f req/s, p50 %.3g ms, p99 %.3g ms, 32/throughput %.3g ms (p99 < 1 ms: %s)"
          % (model, m["rps"], m["p50_ms"], m["p99_ms"], 32e3 / m["rps"], "PASS" if m["p99_ms"] < 1 else "FAIL"))
EOF
