#!/bin/bash
# tests/bench/trees.sh: the trees plugin (gbdt, forest) against its peers
# (XGBoost hist, scikit-learn HistGradientBoosting and RandomForest), with
# the peers' settings, 2 threads, the same split (last 20% of rows = test).
#
#   gbdt binary:     clf_1m, 200 trees, depth 6, learning rate 0.1, 255 bins
#                    vs peers.py gbdt_xgboost, gbdt_sklearn
#   gbdt regression: reg_500k, same settings vs gbdt_reg_xgboost, gbdt_reg_sklearn
#   forest:          first 200k train rows of clf_1m, 100 trees, depth 12
#                    vs peers.py rf_sklearn
#
# Each task runs MB_BENCH_ROUNDS times (default 3), moonbench and the peers
# alternately; raw lines go to $BUILD/bench/trees.jsonl, then the medians
# and the ratios moonbench / best peer are printed. Goals are reported,
# never asserted. MB_TREES_TASKS limits the tasks ("gbdt gbdt_reg forest").
#
# The peers run from a copy in $MB_BUILD/bench/peers with the data
# (common.sh). XGBoost's and scikit-learn's tree fits do not call BLAS, but
# the peers still run with their OpenBLAS's own kernel and, when moonbench
# chose another one, with that one too (tags "PEER@KERNEL"), as every model
# benchmark does; bench_fit records moonbench's kernel.
#
# Environment: MB_BUILD (build), MB_PEERS_DIR (the shared peer scripts;
# ../shared/bench), MB_PYTHON (/usr/bin/python3), MB_BENCH_ROUNDS (3),
# MB_BENCH_PEER_KERNELS (common.sh).
set -eu -o pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$ROOT"
BUILD=${MB_BUILD:-build}
OUT=$BUILD/bench
PY=${MB_PYTHON:-/usr/bin/python3}
ROUNDS=${MB_BENCH_ROUNDS:-3}
TASKS=${MB_TREES_TASKS:-gbdt gbdt_reg forest}
RAW=$OUT/trees.jsonl
say() { printf 'bench trees: %s\n' "$*" >&2; }

# {====== build ======}
make -j2 BUILD="$BUILD" >/dev/null
eval "$(sed -n 's/^\([A-Z_]*\) := \(.*\)$/\1="\2"/p' "$BUILD/config.mk")"
mkdir -p "$OUT"
cc -std=c11 -O2 -Isrc/core -Iplugins $PKG_CFLAGS tests/bench/bench_fit.c "$BUILD/libmbcore.a" $PKG_LIBS \
    -o "$OUT/bench_fit"
export MOONBENCH_PLUGIN_PATH=$BUILD/plugins

# {====== peers and data (a writable copy, as tests/bench/run.sh keeps it) ======}
# shellcheck source=tests/bench/common.sh
. "$HERE/common.sh"
bench_peers clf_1m reg_500k
bench_blas
WORK=$PEERS

: > "$RAW"
load() { cut -d' ' -f1 /proc/loadavg; }
# run TAG ROUND COMMAND...: one JSON line tagged with the task, round and load
run() {
    local tag=$1 round=$2 l out
    shift 2
    l=$(load)
    if ! out=$("$@"); then
        say "$tag: '$*' failed; skipped"
        return 0
    fi
    printf '%s\n' "$out" | tail -n 1 | "$PY" -c 'import json,sys; d=json.loads(sys.stdin.readline()); d.update(tag=sys.argv[1], round=int(sys.argv[2]), load1=float(sys.argv[3])); print(json.dumps(d))' \
        "$tag" "$round" "$l" >> "$RAW"
}
# peer TASK/NAME ROUND PEERTASK: the peer with each kernel of PEER_KERNELS
peer() {
    local k
    for k in $PEER_KERNELS; do
        if [ "$k" = default ]; then run "$1" "$2" peer_with "$k" "$3"; else run "$1@$k" "$2" peer_with "$k" "$3"; fi
    done
}
MB_GBDT="n_trees=200 max_depth=6 learning_rate=0.1 max_bins=255"
BF=$OUT/bench_fit

for r in $(seq "$ROUNDS"); do
    for t in $TASKS; do
        say "$t, round $r/$ROUNDS (load $(load))"
        case $t in
        gbdt)
            run gbdt/moonbench "$r" "$BF" gbdt "$WORK/data/clf_1m.h5" --threads 2 $MB_GBDT
            peer gbdt/xgboost "$r" gbdt_xgboost
            peer gbdt/sklearn "$r" gbdt_sklearn ;;
        gbdt_reg)
            peer gbdt_reg/xgboost "$r" gbdt_reg_xgboost
            run gbdt_reg/moonbench "$r" "$BF" gbdt "$WORK/data/reg_500k.h5" --threads 2 $MB_GBDT
            peer gbdt_reg/sklearn "$r" gbdt_reg_sklearn ;;
        forest)
            peer forest/sklearn "$r" rf_sklearn
            run forest/moonbench "$r" "$BF" forest "$WORK/data/clf_1m.h5" --threads 2 --train-rows 200000 \
                n_trees=100 max_depth=12 ;;
        esac
    done
done

# {====== medians and ratios ======}
"$PY" - "$RAW" "$PEER_KERNELS" <<'EOF'
import json, statistics, sys
suffixes = ["" if k == "default" else "@" + k for k in sys.argv[2].split()]
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = {}
for r in rows:
    by.setdefault(r["tag"], []).append(r)
def med(tag, key):
    v = [r[key] for r in by.get(tag, []) if key in r]
    return statistics.median(v) if v else None
print("%-20s %9s %9s %9s %9s %9s %8s %6s" % ("task", "fit_s", "pred_s", "lat_us", "auc", "rmse", "rss_mb", "load"))
for tag in sorted(by):
    f = lambda k: med(tag, k)
    fmt = lambda v, p: ("%9." + str(p) + "f") % v if v is not None else "%9s" % "-"
    print("%-20s %s %s %s %s %s %8.1f %6.2f" % (tag, fmt(f("fit_seconds"), 3), fmt(f("predict_seconds"), 4),
          fmt(f("single_row_latency_us"), 1), fmt(f("roc_auc"), 5), fmt(f("rmse"), 5), f("peak_rss_mb") or 0,
          statistics.mean(r["load1"] for r in by[tag])))
mbk = sorted({r.get("blas_kernel", "?") for r in rows if r["tag"].endswith("/moonbench")})
pk = {s: sorted({r["peer_blas"] for r in rows if "peer_blas" in r and (r["tag"].endswith(s) if s else "@" not in r["tag"])})
      for s in suffixes}
print("OpenBLAS kernel: moonbench %s; peers %s" % (", ".join(mbk), "; ".join(
    "%s ran %s" % ("OPENBLAS_CORETYPE=" + s[1:] if s else "default", ", ".join(map(str, v))) for s, v in pk.items())))
def ratios(task, peers, quality, higher_better, suffix=""):
    peers = [p + suffix for p in peers]
    me = task + "/moonbench"
    if me not in by:
        return
    have = [p for p in peers if task + "/" + p in by]
    if not have:
        return
    best_fit = min(med(task + "/" + p, "fit_seconds") for p in have)
    qs = [med(task + "/" + p, quality) for p in have]
    best_q = max(qs) if higher_better else min(qs)
    print("%s: fit %.3f s = %.2fx the faster peer (%.3f s); %s %.5f vs best peer %.5f (diff %+.5f)" % (
        task, med(me, "fit_seconds"), med(me, "fit_seconds") / best_fit, best_fit, quality,
        med(me, quality), best_q, med(me, quality) - best_q))
    if suffix:
        print("%s: (peers with OPENBLAS_CORETYPE=%s)" % (task, suffix[1:]))
    if task + "/xgboost" + suffix in by:
        xp = med(task + "/xgboost" + suffix, "predict_seconds")
        print("%s: predict %.4f s vs xgboost %.4f s: throughput %.2fx xgboost's; single-row latency %.1f us (xgboost %.1f us)" % (
            task, med(me, "predict_seconds"), xp, xp / med(me, "predict_seconds"),
            med(me, "single_row_latency_us"), med(task + "/xgboost" + suffix, "single_row_latency_us")))
    print("%s: peak RSS %.1f MB" % (task, med(me, "peak_rss_mb")))
for s in suffixes:
    ratios("gbdt", ["xgboost", "sklearn"], "roc_auc", True, s)
    ratios("gbdt_reg", ["xgboost", "sklearn"], "rmse", False, s)
    ratios("forest", ["sklearn"], "roc_auc", True, s)
EOF
