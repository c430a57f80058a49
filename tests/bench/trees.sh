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
# Environment: MB_BUILD (build), MB_PEERS_DIR (../shared/bench beside the
# repository), MB_PYTHON (/usr/bin/python3), MB_BENCH_ROUNDS (3).
set -eu -o pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$ROOT"
BUILD=${MB_BUILD:-build}
OUT=$BUILD/bench
WORK=$OUT/peers
PEERS_SRC=${MB_PEERS_DIR:-$ROOT/../shared/bench}
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
mkdir -p "$WORK"
for f in "$PEERS_SRC"/*.py "$PEERS_SRC"/*.sh; do
    [ -f "$f" ] && cp -f "$f" "$WORK/" && chmod u+w "$WORK/$(basename "$f")"
done
for d in clf_1m reg_500k; do
    if [ ! -f "$WORK/data/$d.h5" ]; then
        say "generating $d.h5"
        (cd "$WORK" && "$PY" gen_data.py)
    fi
done

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
peer() { (cd "$WORK" && "$PY" peers.py "$1"); }
MB_GBDT="n_trees=200 max_depth=6 learning_rate=0.1 max_bins=255"
BF=$OUT/bench_fit

for r in $(seq "$ROUNDS"); do
    for t in $TASKS; do
        say "$t, round $r/$ROUNDS (load $(load))"
        case $t in
        gbdt)
            run gbdt/moonbench "$r" "$BF" gbdt "$WORK/data/clf_1m.h5" --threads 2 $MB_GBDT
            run gbdt/xgboost "$r" peer gbdt_xgboost
            run gbdt/sklearn "$r" peer gbdt_sklearn ;;
        gbdt_reg)
            run gbdt_reg/xgboost "$r" peer gbdt_reg_xgboost
            run gbdt_reg/moonbench "$r" "$BF" gbdt "$WORK/data/reg_500k.h5" --threads 2 $MB_GBDT
            run gbdt_reg/sklearn "$r" peer gbdt_reg_sklearn ;;
        forest)
            run forest/sklearn "$r" peer rf_sklearn
            run forest/moonbench "$r" "$BF" forest "$WORK/data/clf_1m.h5" --threads 2 --train-rows 200000 \
                n_trees=100 max_depth=12 ;;
        esac
    done
done

# {====== medians and ratios ======}
"$PY" - "$RAW" <<'EOF'
import json, statistics, sys
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
def ratios(task, peers, quality, higher_better):
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
    if task + "/xgboost" in by:
        xp = med(task + "/xgboost", "predict_seconds")
        print("%s: predict %.4f s vs xgboost %.4f s: throughput %.2fx xgboost's; single-row latency %.1f us (xgboost %.1f us)" % (
            task, med(me, "predict_seconds"), xp, xp / med(me, "predict_seconds"),
            med(me, "single_row_latency_us"), med(task + "/xgboost", "single_row_latency_us")))
    print("%s: peak RSS %.1f MB" % (task, med(me, "peak_rss_mb")))
ratios("gbdt", ["xgboost", "sklearn"], "roc_auc", True)
ratios("gbdt_reg", ["xgboost", "sklearn"], "rmse", False)
ratios("forest", ["sklearn"], "roc_auc", True)
EOF
