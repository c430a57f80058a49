#!/bin/bash
# tests/bench/scaling.sh: how fit time grows with rows and threads, for
# users to see the curve and for us to see where it bends. moonbench only
# (no peers): GBDT (200 trees, depth 6, 255 bins, as trees.sh) on the first
# 100k, 200k, 400k and 800k rows of clf_1m, and the MLP (256-128, Adam,
# batch 256, 2 epochs, as mlp.sh) on 100k, 200k, 400k and 800k rows of
# clf_1m too (multi_200k has only 160k training rows), each at 1 and 2
# threads. Each cell is the median of MB_BENCH_ROUNDS runs (default 3; the
# thread counts alternate within a round). Prints a table of wall seconds,
# CPU seconds and the 2-thread speed-up; raw lines go to
# $MB_BUILD/bench/scaling.jsonl. Never asserts a time.
#
# Environment: MB_BUILD (build), MB_PEERS_DIR (the shared peer scripts, for
# the data: common.sh), MB_PYTHON (/usr/bin/python3), MB_BENCH_ROUNDS (3),
# MB_SCALING_ROWS ("100000 200000 400000 800000"), MB_SCALING_MODELS
# ("gbdt mlp").
set -eu -o pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$ROOT"
BUILD=${MB_BUILD:-build}
PY=${MB_PYTHON:-/usr/bin/python3}
ROUNDS=${MB_BENCH_ROUNDS:-3}
ROWS=${MB_SCALING_ROWS:-100000 200000 400000 800000}
MODELS=${MB_SCALING_MODELS:-gbdt mlp}
OUT=$BUILD/bench/scaling.jsonl
# shellcheck source=tests/bench/common.sh
. "$HERE/common.sh"

make -j2 BUILD="$BUILD" >/dev/null
eval "$(sed -n 's/^\([A-Z_]*\) := \(.*\)$/\1="\2"/p' "$BUILD/config.mk")"
mkdir -p "$BUILD/bench"
# shellcheck disable=SC2086
cc -std=c11 -O2 -Isrc/core -Iplugins $PKG_CFLAGS tests/bench/bench_fit.c "$BUILD/libmbcore.a" $PKG_LIBS \
    -o "$BUILD/bench/bench_fit"
bench_peers clf_1m
bench_blas
DATA=$PEERS/data/clf_1m.h5
export MOONBENCH_PLUGIN_PATH=$BUILD/plugins

settings() {
    case $1 in
    gbdt) echo "n_trees=200 max_depth=6 learning_rate=0.1 max_bins=255" ;;
    mlp) echo "hidden_layers=256,128 activation=relu optimizer=adam learning_rate=0.001 batch_size=256 epochs=2 early_stopping_rounds=0 standardize=true" ;;
    esac
}

: >"$OUT"
for r in $(seq "$ROUNDS"); do
    for m in $MODELS; do
        for n in $ROWS; do
            for t in 1 2; do
                echo "bench scaling: round $r/$ROUNDS $m $n rows, $t thread(s) (load $(cut -d' ' -f1 /proc/loadavg))" >&2
                # shellcheck disable=SC2046
                "$BUILD/bench/bench_fit" "$m" "$DATA" --threads "$t" --train-rows "$n" $(settings "$m") |
                    sed "s/^{/{\"round\": $r, \"load1\": $(cut -d' ' -f1 /proc/loadavg), /" >>"$OUT"
            done
        done
    done
done

"$PY" - "$OUT" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def med(m, n, t, key):
    v = [r[key] for r in rows if r["model"] == m and r["n_train"] == n and r["threads"] == t]
    return statistics.median(v) if v else float("nan")
print("fit time against rows and threads (clf_1m, medians of %d rounds; OpenBLAS kernel %s; mean load %.1f)" % (
    max(r["round"] for r in rows), rows[0].get("blas_kernel", "?"), statistics.mean(r["load1"] for r in rows)))
print("| model | rows | 1 thread: wall s | CPU s | 2 threads: wall s | CPU s | speed-up | wall s per 100k rows (2 threads) |")
print("|---|---|---|---|---|---|---|---|")
for m in sorted({r["model"] for r in rows}):
    for n in sorted({r["n_train"] for r in rows if r["model"] == m}):
        w1, c1, w2, c2 = med(m, n, 1, "fit_seconds"), med(m, n, 1, "fit_cpu_seconds"), \
            med(m, n, 2, "fit_seconds"), med(m, n, 2, "fit_cpu_seconds")
        print("| %s | %dk | %.2f | %.2f | %.2f | %.2f | %.2fx | %.3f |" % (
            m, n // 1000, w1, c1, w2, c2, w1 / w2, w2 / (n / 1e5)))
EOF
echo "bench scaling: raw lines in $OUT" >&2
