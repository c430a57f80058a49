#!/bin/bash
# tests/bench/score.sh: batch `moonbench score` end to end (read the HDF5
# file, transform, predict, write the HDF5 output, and the metrics of the
# labelled rows) of the 200,000 test rows of clf_1m with the GBDT bundle,
# against ONNX Runtime (onnxruntime-node, tests/onnx) running the bundle's
# ONNX export on the same rows already in memory, timing only the run call
# (tests/bench/ort_peer.mjs), with ORT's default threads (one per core) and
# with 1 thread. The goal (>= 3x ORT's rows/s) is taken against the faster.
#
# moonbench is timed as a whole process with /usr/bin/time (its peak RSS
# too). Rounds alternate moonbench and ORT (MB_BENCH_ROUNDS, default 3; ORT
# times MB_ORT_RUNS runs per round, default 1, and reports their median).
# CPU seconds are recorded too (user + system of the process): on a loaded
# machine rows per CPU second is the steadier figure.
# Before timing, the ONNX export's probabilities are checked against
# moonbench's (the sums over all rows within 1e-3 of each other).
# Raw lines: $BUILD/bench/score.jsonl; the table: deploy_report.py.
set -eu -o pipefail
BENCH_NAME=score
# shellcheck source=deploy_lib.sh
. "$(dirname "$0")/deploy_lib.sh"
ORT_RUNS=${MB_ORT_RUNS:-1}
RAW=$OUT/score.jsonl
command -v node >/dev/null && command -v npm >/dev/null || die "node and npm are needed for ONNX Runtime"
[ -x /usr/bin/time ] || die "run as root: apt-get install -y time"
deploy_setup gbdt
if [ ! -d tests/onnx/node_modules/onnxruntime-node ]; then
    say "installing onnxruntime-node in tests/onnx"
    (cd tests/onnx && ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund >/dev/null 2>&1) ||
        die "npm ci in tests/onnx failed"
fi
"$MB" export "$DEP/gbdt.h5" --format onnx -o "$DEP/gbdt.onnx" 2>/dev/null || die "moonbench export --format onnx failed"
[ -f "$DEP/clf_test.f32" ] && [ "$DEP/clf_test.f32" -nt "$DEP/clf_test.h5" ] ||
    "$PY" "$HERE/deploy_data.py" raw "$DEP/clf_test.h5" "$DEP/clf_test.f32"

ort() { node "$HERE/ort_peer.mjs" "$DEP/gbdt.onnx" "$DEP/clf_test.f32" 28 "$1" "$2"; }
mb_score() {
    /usr/bin/time -f '%e %U %S %M' -o "$DEP/score.time" \
        "$MB" score "$DEP/gbdt.h5" "$DEP/clf_test.h5" -o "$DEP/scores.h5" 2>"$DEP/score.log" ||
        die "moonbench score failed: $DEP/score.log"
    read -r wall user sys rss <"$DEP/score.time"
    printf '{"rows": 200000, "seconds": %s, "user_seconds": %s, "sys_seconds": %s, "peak_rss_mb": %s, "rows_per_s": %s, "cpu_seconds": %s, "rows_per_cpu_s": %s, "scorer": "%s"}\n' \
        "$wall" "$user" "$sys" "$(awk "BEGIN{print $rss/1024}")" "$(awk "BEGIN{print 200000/$wall}")" "$(awk "BEGIN{print $user+$sys}")" \
        "$(awk "BEGIN{print 200000/($user+$sys)}")" \
        "$(sed -n 's/.*, with the \(.*\)$/\1/p' "$DEP/score.log" | head -n 1)"
}

# {====== sanity: the same probabilities ======}
mb_score >/dev/null
sum_mb=$("$PY" -c 'import h5py,sys; print(float(h5py.File(sys.argv[1])["X"][:, 1].astype("f8").sum()))' "$DEP/scores.h5")
sum_ort=$(ort 0 1 | "$PY" -c 'import json,sys; print(json.loads(sys.stdin.read())["proba1_sum"])')
say "sanity: the sum of P(class 1) over the 200,000 rows: moonbench $sum_mb, ONNX Runtime $sum_ort"
"$PY" -c 'import sys; sys.exit(abs(float(sys.argv[1]) - float(sys.argv[2])) > 1e-3)' "$sum_mb" "$sum_ort" ||
    die "the ONNX export does not give moonbench's probabilities"

# {====== timed runs ======}
: >"$RAW"
for r in $(seq "$ROUNDS"); do
    say "round $r/$ROUNDS (load $(load1))"
    mb_score | "$PY" "$HERE/deploy_report.py" tag score moonbench gbdt "$r" >>"$RAW"
    ort 0 "$ORT_RUNS" | "$PY" "$HERE/deploy_report.py" tag score ort-default-threads gbdt "$r" >>"$RAW"
    ort 1 "$ORT_RUNS" | "$PY" "$HERE/deploy_report.py" tag score ort-1-thread gbdt "$r" >>"$RAW"
done
"$PY" "$HERE/deploy_report.py" report "$RAW"
