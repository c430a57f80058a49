#!/bin/bash
# tests/bench/lua.sh: what the Lua layer adds to a plugin's fit, and to a
# pipeline's predict, on the bench data (clf_1m).
#
#   fit, plugin alone: bench_fit linear clf_1m --repeat 3 (the plugin's fit,
#                      data in memory; best of 3, as the Lua side is)
#   fit, from Lua:     lua_overhead.lua: model:fit(frame) (frame -> dataset
#                      conversion + the same fit)
#   predict, C:        bench_score: the C scorer (mb_scorer_predict_frame) on
#                      the bundle lua_overhead.lua saved, over the whole file
#   predict, Lua:      the standardize + model pipeline's p:predict(frame), and
#                      mb.load(bundle):predict(frame), on the same file
#
# Rounds (MB_BENCH_ROUNDS, default 3) alternate the two; prints medians and
# the overheads (Lua / C - 1; goals: fit at most 5%, predict at most 10%;
# reported, never asserted). Everything is written under $MB_BUILD/bench.
# Environment: MB_BUILD (build), MB_PEERS_DIR (the shared peer scripts, for
# the data: common.sh), MB_PYTHON (/usr/bin/python3), MB_MODEL (linear).
set -eu -o pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$ROOT"
BUILD=${MB_BUILD:-build}
PY=${MB_PYTHON:-/usr/bin/python3}
MODEL=${MB_MODEL:-linear}
ROUNDS=${MB_BENCH_ROUNDS:-3}
# shellcheck source=tests/bench/common.sh
. "$HERE/common.sh"
make -s -j2 BUILD="$BUILD" >/dev/null
eval "$(sed -n 's/^\([A-Z_]*\) := \(.*\)$/\1="\2"/p' "$BUILD/config.mk")"
mkdir -p "$BUILD/bench"
for t in bench_fit bench_score; do
    # shellcheck disable=SC2086
    cc -std=c11 -O2 -Isrc/core -Iplugins $PKG_CFLAGS "tests/bench/$t.c" "$BUILD/libmbcore.a" $PKG_LIBS \
        -o "$BUILD/bench/$t"
done
bench_peers clf_1m
bench_blas
DATA=$PEERS/data/clf_1m.h5
BUNDLE=$BUILD/bench/lua_pipeline.h5
export MOONBENCH_PLUGIN_PATH=$BUILD/plugins
num() { sed -n "s/.*\"$1\": \([0-9.]*\).*/\1/p"; }
plugin=() lua=() cpred=() lpred=() loaded=()
for r in $(seq "$ROUNDS"); do
    echo "== round $r (load $(cut -d' ' -f1 /proc/loadavg))" >&2
    p=$("$BUILD/bench/bench_fit" "$MODEL" "$DATA" --threads 2 --repeat 3)
    l=$("$BUILD/moonbench" run tests/bench/lua_overhead.lua "$DATA" "$MODEL" "$BUNDLE")
    c=$("$BUILD/bench/bench_score" "$BUNDLE" "$DATA")
    echo "$p"; echo "$l"; echo "$c"
    plugin+=("$(printf '%s' "$p" | num fit_seconds)")
    lua+=("$(printf '%s' "$l" | num lua_fit_seconds)")
    lpred+=("$(printf '%s' "$l" | num pipeline_predict_seconds)")
    loaded+=("$(printf '%s' "$l" | num loaded_predict_seconds)")
    cpred+=("$(printf '%s' "$c" | num predict_seconds)")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
awk -v p="$(median "${plugin[@]}")" -v l="$(median "${lua[@]}")" -v c="$(median "${cpred[@]}")" \
    -v lp="$(median "${lpred[@]}")" -v ld="$(median "${loaded[@]}")" -v m="$MODEL" -v k="$MB_KERNEL" 'BEGIN {
    o = l / p - 1
    printf "lua overhead (%s on clf_1m, 800k x 28; OpenBLAS kernel %s): plugin fit %.3f s, from Lua %.3f s: %+.1f%% (goal <= 5%%) %s\n",
           m, k, p, l, 100 * o, o <= 0.05 ? "PASS" : "FAIL"
    o = lp / c - 1
    printf "pipeline predict (standardize + %s, 1M rows): C scorer %.4f s, Lua p:predict %.4f s: %+.1f%% (goal <= 10%%) %s\n",
           m, c, lp, 100 * o, o <= 0.10 ? "PASS" : "FAIL"
    printf "  mb.load(bundle):predict %.4f s: %+.1f%%\n", ld, 100 * (ld / c - 1) }'
