#!/bin/bash
# tests/bench/export_c.sh: single-row latency of the exported C
# (`moonbench export --format c`) of the 200-tree depth-6 GBDT (gbdt.h5,
# deploy_lib.sh), goal < 2 us. model.c is compiled with export_c_bench.c at
# -O2, for each tree layout: the default padded complete trees and the
# nested ifs (--tree-code); model.c's size and its compile time are
# recorded. For context, on the same rows: the workbench's runtime one row
# at a time (export_c_ref.c: mb_runtime_row_set_number + _row_predict, as
# `moonbench serve` scores a row) and XGBoost's inplace_predict on one row
# (the XGBoost peer of deploy_lib.sh, 1 thread). Every figure is the median
# over batches of 1000 consecutive calls after a warm-up; rounds alternate
# the tools (MB_BENCH_ROUNDS, default 3). The exported C's checksum (the sum
# of P(class 1)) must equal the runtime's. Raw lines: $BUILD/bench/export_c.jsonl.
set -eu -o pipefail
BENCH_NAME=export_c
# shellcheck source=deploy_lib.sh
. "$(dirname "$0")/deploy_lib.sh"
RAW=$OUT/export_c.jsonl
CALLS=${MB_EXPORT_C_CALLS:-200000}
CC=${CC:-cc}
deploy_setup gbdt xgb
[ -x "$OUT/export_c_ref" ] || die "no $OUT/export_c_ref: run make bench BENCH=export_c"
[ -f "$DEP/clf_test.f32" ] && [ "$DEP/clf_test.f32" -nt "$DEP/clf_test.h5" ] ||
    "$PY" "$HERE/deploy_data.py" raw "$DEP/clf_test.h5" "$DEP/clf_test.f32"
NROWS=$(($(stat -c %s "$DEP/clf_test.f32") / (28 * 4)))

for how in complete code; do
    d=$DEP/export_c_$how
    rm -rf "$d"
    "$MB" export "$DEP/gbdt.h5" --format c $([ $how = code ] && echo --tree-code) -o "$d" 2>/dev/null ||
        die "moonbench export --format c failed"
    t0=$(date +%s.%N)
    "$CC" -std=c99 -Wall -Wextra -Werror -O2 -I"$d" -o "$d/bench" "$HERE/export_c_bench.c" "$d/model.c" -lm ||
        die "model.c ($how) does not compile"
    t1=$(date +%s.%N)
    printf '{"layout": "%s", "model_c_bytes": %s, "compile_seconds": %s}\n' "$how" "$(stat -c %s "$d/model.c")" \
        "$(awk "BEGIN{print $t1-$t0}")" >"$d/build.json"
    say "$how: model.c $(stat -c %s "$d/model.c") bytes, cc -O2 $(awk "BEGIN{printf \"%.1f\", $t1-$t0}") s"
done

xgb() {
    "$PY" - "$DEP/xgb_gbdt.json" "$DEP/clf_test.f32" "$NROWS" "$CALLS" <<'PYEOF'
import json, statistics, sys, time
import numpy as np, xgboost as xgb
b = xgb.Booster(model_file=sys.argv[1])
b.set_param({"nthread": 1})
X = np.fromfile(sys.argv[2], dtype="<f4").reshape(-1, 28)[: int(sys.argv[3])]
calls = min(int(sys.argv[4]), 20000)  # a Python call per row: fewer rows, same median
r, t, s = 0, [], 0.0
for i in range(1000):
    b.inplace_predict(X[r:r + 1]); r = (r + 1) % len(X)
for k in range(calls // 1000):
    t0 = time.perf_counter_ns()
    for i in range(1000):
        s += float(b.inplace_predict(X[r:r + 1])[0]); r = (r + 1) % len(X)
    t.append((time.perf_counter_ns() - t0) / 1000)
print(json.dumps({"calls": calls, "ns_per_call": statistics.median(t), "min_ns_per_call": min(t), "checksum": s}))
PYEOF
}
tagged() { "$PY" "$HERE/deploy_report.py" tag export "$1" gbdt "$2" | "$PY" -c '
import json, sys; d = json.loads(sys.stdin.readline()); d.update(json.load(open(sys.argv[1])) if sys.argv[1] != "-" else {}); print(json.dumps(d))' "$3"; }

: >"$RAW"
for r in $(seq "$ROUNDS"); do
    say "round $r/$ROUNDS (load $(load1))"
    "$DEP/export_c_complete/bench" "$DEP/clf_test.f32" "$NROWS" "$CALLS" |
        tagged moonbench "$r" "$DEP/export_c_complete/build.json" >>"$RAW"
    "$DEP/export_c_code/bench" "$DEP/clf_test.f32" "$NROWS" "$CALLS" |
        tagged moonbench-tree-code "$r" "$DEP/export_c_code/build.json" >>"$RAW"
    "$OUT/export_c_ref" "$DEP/gbdt.h5" "$DEP/clf_test.f32" "$NROWS" "$CALLS" | tagged runtime-row "$r" - >>"$RAW"
    xgb | tagged xgboost-inplace-1row "$r" - >>"$RAW"
done
"$PY" - "$RAW" <<'PYEOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
by = lambda t: [r for r in rows if r["tool"] == t]
med = lambda t, k: statistics.median(r[k] for r in by(t))
sums = {r["checksum"] for r in rows if r["tool"] in ("moonbench", "moonbench-tree-code", "runtime-row")}
if len(sums) != 1:
    sys.exit("export_c: the exported C and the runtime disagree (checksums %s)" % sorted(sums))
a = med("moonbench", "ns_per_call")
print("export_c (gbdt, 200 trees, depth 6), ns per single-row call, median of %d rounds, load %.1f-%.1f:" % (
    len(by("moonbench")), min(r["load1"] for r in rows), max(r["load1"] for r in rows)))
for t in ("moonbench", "moonbench-tree-code", "runtime-row", "xgboost-inplace-1row"):
    b = med(t, "ns_per_call")
    extra = ""
    if "model_c_bytes" in by(t)[0]:
        extra = "  model.c %d bytes, cc -O2 %.1f s" % (by(t)[0]["model_c_bytes"], by(t)[0]["compile_seconds"])
    print("  %-22s %9.0f ns  (%.1fx the exported C's time)%s" % (t, b, b / a, extra))
print("  goal < 2000 ns: %s" % ("PASS" if a < 2000 else "FAIL"))
PYEOF
