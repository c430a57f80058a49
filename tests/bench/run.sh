#!/bin/bash
# tests/bench/run.sh: moonbench against peer tools, in one run (tests/bench/README.md).
# Run through `make bench`, which builds build/moonbench and build/bench/bench_read first.
#
#   h5 read:    bench_read (mb_open of clf_1m.h5:/X) vs peers.py h5_read_h5py, cold and warm
#   csv import: `moonbench import clf_1m.csv -o OUT.h5 --target y` vs csv_peer.py
#               (pandas read_csv + to_hdf, fixed and table formats)
#
# Every task runs MB_BENCH_ROUNDS times (default 3), moonbench and its peer
# alternately; the medians and the ratios moonbench/peer go to
# $BUILD/bench/results.jsonl and a short table. Goals are reported, never
# asserted: the script fails only when something cannot run.
#
# Environment: MB_PEERS_DIR (default ../shared/bench beside the repository),
# MB_BUILD (build), MB_PYTHON (/usr/bin/python3), MB_BENCH_ROUNDS (3),
# MB_BENCH_HF_RUNS (runs of `moonbench import` per round, 3), MB_HYPERFINE
# (hyperfine's path; empty: time with bash instead).
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
HF_RUNS=${MB_BENCH_HF_RUNS:-3}
MB=$BUILD/moonbench
BENCH_READ=$OUT/bench_read
RESULTS=$OUT/results.jsonl
H5=$WORK/data/clf_1m.h5
CSV=$OUT/clf_1m.csv
MB_OUT=$OUT/moonbench_import.h5
# sha256sum prefix of clf_1m.h5 from numpy 1.24.2 + scikit-learn 1.2.1 (shared/bench README)
H5_SHA=8bb9f4c005ba8551
APT_LINE="apt-get install -y python3-sklearn python3-h5py python3-pandas python3-tables python3-numpy hyperfine libopenblas0-pthread"

say() { printf 'bench: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# {====== preconditions ======}
if [ ! -x "$MB" ] || [ ! -x "$BENCH_READ" ]; then
    die "$MB or $BENCH_READ is missing; run 'make bench' from the repository root"
fi
if [ ! -f "$PEERS_SRC/peers.py" ] || [ ! -f "$PEERS_SRC/gen_data.py" ]; then
    die "no peer scripts in $PEERS_SRC (set MB_PEERS_DIR to the shared bench folder)"
fi
[ -x "$PY" ] || die "$PY not found; the peers use Debian's Python. Run as root: apt-get install -y python3 && $APT_LINE"
missing=$("$PY" - <<'EOF'
import importlib.util
mods = {"sklearn": "python3-sklearn", "h5py": "python3-h5py", "pandas": "python3-pandas",
        "tables": "python3-tables", "numpy": "python3-numpy",
        "threadpoolctl": "python3-threadpoolctl"}
print(" ".join(p for m, p in mods.items() if importlib.util.find_spec(m) is None))
EOF
)
if [ -n "$missing" ]; then
    say "missing Python modules for the peers (from Debian packages $missing)."
    say "The peers are not project dependencies; install them yourself, as root:"
    printf '%s\n' "$APT_LINE" >&2
    exit 1
fi
HYPERFINE=${MB_HYPERFINE-$(command -v hyperfine || true)}
[ -n "$HYPERFINE" ] || say "no hyperfine: timing 'moonbench import' with bash instead"

# {====== peers and data, in a writable copy ======}
# gen_data.py and peers.py work in their own folder (HERE/data), and the shared
# folder is read-only in CI: copy the scripts (refreshed every run), keep data/.
mkdir -p "$WORK"
for f in "$PEERS_SRC"/*.py "$PEERS_SRC"/*.sh "$PEERS_SRC"/README.md; do
    if [ -f "$f" ]; then
        cp -f "$f" "$WORK/"
        chmod u+w "$WORK/$(basename "$f")"
    fi
done
if [ ! -f "$H5" ]; then
    say "generating $H5 (gen_data.py clf_1m)"
    (cd "$WORK" && "$PY" gen_data.py clf_1m)
fi
sha=$(sha256sum "$H5" | cut -c1-16)
[ "$sha" = "$H5_SHA" ] ||
    say "note: sha256 of $H5 starts $sha, not $H5_SHA (other numpy/scikit-learn versions?)"
if [ ! -f "$CSV" ] || [ "$H5" -nt "$CSV" ]; then
    say "writing $CSV from $H5 (pandas to_csv, float_format=%.8g; once, ~25 s)"
    "$PY" "$HERE/csv_peer.py" --make-csv "$H5" "$CSV"
fi

if [ -f "$RESULTS" ]; then mv -f "$RESULTS" "$OUT/results.prev.jsonl"; fi
"$PY" "$HERE/results.py" machine > "$RESULTS"

tag() { "$PY" "$HERE/results.py" tag "$@" >> "$RESULTS"; }

# {====== HDF5 read: /X of clf_1m.h5 into memory ======}
# Both evict the file with posix_fadvise(DONTNEED) (no root needed), time a
# first read, then report the median of 5 warm reads.
h5_h5py() { (cd "$WORK" && "$PY" peers.py h5_read_h5py) | tag h5_read h5py "$1"; }
h5_moonbench() { "$BENCH_READ" "$H5" "$H5:/X" | tag h5_read moonbench "$1"; }
for r in $(seq "$ROUNDS"); do
    say "h5 read, round $r/$ROUNDS"
    if [ $((r % 2)) = 1 ]; then h5_h5py "$r"; h5_moonbench "$r"; else h5_moonbench "$r"; h5_h5py "$r"; fi
done

# {====== CSV import: clf_1m.csv to HDF5 ======}
import_argv=("$MB" import "$CSV" -o "$MB_OUT" --target y)
import_cmd="${import_argv[*]}"  # for hyperfine -N, which splits it on blanks
# One untimed run: checks the output and warms the page cache for the CSV
# (pandas then reads it warm too); GNU time gives moonbench's peak RSS
# (MB_IMPORT_RSS_KIB, copied into the timed lines).
say "csv import: check run"
rm -f "$MB_OUT"
if [ -x /usr/bin/time ]; then
    msg=$(/usr/bin/time -f 'rss_kib=%M' -o "$OUT/import.time" "${import_argv[@]}")
    MB_IMPORT_RSS_KIB=$(sed -n 's/^rss_kib=//p' "$OUT/import.time")
    export MB_IMPORT_RSS_KIB
else
    msg=$("${import_argv[@]}")
fi
case $msg in
*"1000000 rows x 29 columns"*) ;;
*) die "unexpected output from '$import_cmd': $msg" ;;
esac
[ -f "$MB_OUT" ] || die "'$import_cmd' wrote no $MB_OUT"
"$PY" "$HERE/csv_peer.py" --check "$MB_OUT" "$H5" || die "moonbench's import of $CSV does not match $H5"

csv_pandas() { "$PY" "$HERE/csv_peer.py" "$CSV" "$OUT" | tag csv_import pandas "$1"; }
csv_moonbench() {
    if [ -n "$HYPERFINE" ]; then
        "$HYPERFINE" -N --runs "$HF_RUNS" --prepare "rm -f $MB_OUT" --style none \
            --export-json "$OUT/hyperfine.json" "$import_cmd" >/dev/null
        "$PY" "$HERE/results.py" hyperfine "$OUT/hyperfine.json" "$1" >> "$RESULTS"
    else
        local ts=() _ t0
        for _ in $(seq "$HF_RUNS"); do
            rm -f "$MB_OUT"
            t0=$EPOCHREALTIME
            "${import_argv[@]}" >/dev/null
            ts+=("$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.6f", b - a }')")
        done
        "$PY" "$HERE/results.py" times "$1" "$import_cmd" "${ts[@]}" >> "$RESULTS"
    fi
}
for r in $(seq "$ROUNDS"); do
    say "csv import, round $r/$ROUNDS"
    if [ $((r % 2)) = 1 ]; then csv_pandas "$r"; csv_moonbench "$r"; else csv_moonbench "$r"; csv_pandas "$r"; fi
done

"$PY" "$HERE/results.py" report "$RESULTS"
say "all lines in $RESULTS"
