#!/bin/bash
# tests/bench/lua.sh: what the Lua layer adds to a plugin's fit, and the
# pipeline path (standardize + model) on the bench data.
#
#   plugin alone: bench_fit linear clf_1m (the plugin's fit, data in memory)
#   from Lua:     lua_overhead.lua: model:fit(frame) (frame -> dataset
#                 conversion + the same fit), pipeline fit and predict
#
# Rounds (MB_BENCH_ROUNDS, default 3) alternate the two; prints medians and
# the overhead (Lua fit / plugin fit - 1; goal at most 5%, reported, never
# asserted). Environment: MB_BUILD (build), MB_PEERS_DIR (folder with
# data/clf_1m.h5; default $MB_BUILD/bench/peers), MB_MODEL (linear).
set -eu -o pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
BUILD=${MB_BUILD:-build}
DATA=${MB_PEERS_DIR:-$BUILD/bench/peers}/data/clf_1m.h5
MODEL=${MB_MODEL:-linear}
ROUNDS=${MB_BENCH_ROUNDS:-3}
[ -f "$DATA" ] || { echo "bench: $DATA missing; run tests/bench/run.sh first (it generates the data)" >&2; exit 1; }
[ -x "$BUILD/bench/bench_fit" ] || { echo "bench: $BUILD/bench/bench_fit missing; run make bench" >&2; exit 1; }
plugin=() lua=()
for r in $(seq "$ROUNDS"); do
    echo "== round $r (load $(cut -d' ' -f1 /proc/loadavg))" >&2
    p=$("$BUILD/bench/bench_fit" "$MODEL" "$DATA" --threads 2)
    l=$("$BUILD/moonbench" run tests/bench/lua_overhead.lua "$DATA" "$MODEL")
    echo "$p"; echo "$l"
    plugin+=("$(printf '%s' "$p" | sed -n 's/.*"fit_seconds": \([0-9.]*\).*/\1/p')")
    lua+=("$(printf '%s' "$l" | sed -n 's/.*"lua_fit_seconds": \([0-9.]*\).*/\1/p')")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
mp=$(median "${plugin[@]}") ml=$(median "${lua[@]}")
awk -v p="$mp" -v l="$ml" -v m="$MODEL" 'BEGIN {
    o = l / p - 1
    printf "lua overhead (%s on clf_1m, 800k x 28): plugin fit %.3f s, from Lua %.3f s: %+.1f%% (goal <= 5%%) %s\n",
           m, p, l, 100 * o, o <= 0.05 ? "PASS" : "FAIL" }'
