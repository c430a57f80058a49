#!/bin/bash
# tests/bench/tui.sh: the workbench on a 10M x 28 float32 HDF5 file, and
# while a model trains (issue 10's Performance), beside VisiData.
#
#   first screen: moonbench FILE and `vd FILE` (Enter on /X when its list
#                 shows) in tmux, 100x30, timed from the start to the first
#                 row's first value on screen (capture-pane every ~5 ms),
#                 alternately, MB_BENCH_ROUNDS rounds (3)
#   browsing:     moonbench in a pty (tui_drive.py browse): per page-down the
#                 time to the last byte of the redraw and the bytes written,
#                 two far jumps, a cursor move's bytes, an idle second's
#                 bytes, then peak RSS (VmHWM)
#   latency:      moonbench on clf_1m.h5 (the bench data) training gbdt with
#                 the machine's 2 cores; from the Data tab, 'g' until its
#                 prompt is written, 20 times (tui_drive.py latency)
#
# Goals (reported PASS/FAIL, never asserted): first screen < 0.5 s, page-down
# < 20 ms, peak RSS < 100 MB, keystroke latency < 50 ms. Writes only under
# build/: the file is build/bench/tui_10m.h5 (~1.1 GB; deleted at the end
# unless MB_KEEP=1), the lines build/bench/tui.jsonl. Environment: MB_BUILD
# (build), MB_PEERS_DIR (folder with data/clf_1m.h5, default
# $MB_BUILD/bench/peers), MB_PYTHON (/usr/bin/python3), MB_TUI_ROWS (10000000).
set -eu -o pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
BUILD=${MB_BUILD:-build}
PY=${MB_PYTHON:-/usr/bin/python3}
ROUNDS=${MB_BENCH_ROUNDS:-3}
ROWS=${MB_TUI_ROWS:-10000000}
CLF=${MB_PEERS_DIR:-$BUILD/bench/peers}/data/clf_1m.h5
DRIVE="$PY tests/bench/tui_drive.py"
FILE=$BUILD/bench/tui_10m.h5
OUT=$BUILD/bench/tui.jsonl
MB=$BUILD/moonbench
[ -x "$MB" ] || { echo "bench: $MB missing; run make" >&2; exit 1; }
for t in tmux vd; do command -v $t >/dev/null || { echo "bench: $t missing (apt-get install tmux visidata)" >&2; exit 1; }; done
$PY -c 'import h5py, numpy' || { echo "bench: apt-get install python3-h5py python3-numpy" >&2; exit 1; }
mkdir -p "$BUILD/bench"
if [ ! -f "$FILE" ]; then
    need=$((ROWS * 29 * 4 / 1048576 + 100))
    free=$(df -Pm "$BUILD/bench" | awk 'NR == 2 {print $4}')
    [ "$free" -gt $((need * 2)) ] || { echo "bench: $need MB needed in $BUILD/bench, $free MB free" >&2; exit 1; }
    $DRIVE gen "$FILE" "$ROWS" >"$OUT"
else
    : >"$OUT"
fi
[ -n "${MB_KEEP:-}" ] || trap 'rm -f "$FILE"' EXIT
# the first value as each tool writes it: moonbench %.6g, VisiData the
# value's text cut to its column; both contain its first 6 characters
first=$($PY -c "import h5py; print(str(float(h5py.File('$FILE')['X'][0, 0]))[:6])")
echo "== load before: $(cut -d' ' -f1-3 /proc/loadavg) (2 cores shared with other work: timings are noisy)" >&2
for r in $(seq "$ROUNDS"); do
    echo "== round $r (load $(cut -d' ' -f1 /proc/loadavg))" >&2
    $DRIVE first moonbench "$MB $FILE" "$first" | tee -a "$OUT"
    $DRIVE first vd "vd $FILE" "$first" | tee -a "$OUT"
    $DRIVE browse "$MB" "$FILE" | tee -a "$OUT"
done
if [ -f "$CLF" ]; then
    $DRIVE latency "$MB" "$CLF" | tee -a "$OUT"
else
    echo "bench: $CLF missing (tests/bench/run.sh generates it): no latency figure" >&2
fi
$PY - "$OUT" <<'EOF'
import json, statistics, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
def med(bench, tool, key):
    v = [l[key] for l in lines if l.get("bench") == bench and l.get("tool") == tool and l.get(key) is not None]
    return statistics.median(v) if v else None
def row(name, value, unit, goal, ok, extra=""):
    shown = "n/a" if value is None else ("%.3f" % value if unit == "s" else "%.0f" % value)
    verdict = "n/a" if value is None else "" if ok is None else ("PASS" if ok(value) else "FAIL")
    print("%-34s %10s %-4s %-10s %-5s %s" % (name, shown, unit, goal, verdict, extra))
mf, vf = med("tui first screen", "moonbench", "seconds"), med("tui first screen", "vd", "seconds")
ratio = "moonbench/vd %.2f" % (mf / vf) if mf and vf else ""
print("%-34s %10s %-4s %-10s %-5s %s" % ("measure", "median", "", "goal", "", ""))
row("first screen, moonbench", mf, "s", "< 0.5 s", lambda v: v < 0.5, ratio)
row("first screen, VisiData (peer)", vf, "s", "", None,
    "RSS then: VisiData %.0f MB, moonbench %.0f MB" % (med("tui first screen", "vd", "rss_mb_at_first_screen") or 0,
                                                     med("tui first screen", "moonbench", "rss_mb_at_first_screen") or 0))
row("page-down (median of 40 x rounds)", med("tui browse", "moonbench", "page_seconds_median"), "s", "< 0.020 s",
    lambda v: v < 0.020, "max %.3f s" % (med("tui browse", "moonbench", "page_seconds_max") or 0))
row("peak RSS while browsing", med("tui browse", "moonbench", "peak_rss_mb"), "MB", "< 100 MB", lambda v: v < 100)
row("bytes per page-down", med("tui browse", "moonbench", "bytes_per_page_median"), "B", "", None,
    "a 100x30 screen is 3000 cells")
row("bytes per cursor move", med("tui browse", "moonbench", "bytes_per_down_median"), "B", "", None,
    "idle: %s B/s" % med("tui browse", "moonbench", "idle_bytes_per_second"))
row("keystroke latency, gbdt fitting", med("tui latency during gbdt fit", "moonbench", "seconds_median"), "s",
    "< 0.050 s", lambda v: v < 0.050, "max %.3f s" % (med("tui latency during gbdt fit", "moonbench", "seconds_max") or 0))
EOF
