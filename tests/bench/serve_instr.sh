#!/bin/bash
# tests/bench/serve_instr.sh: instructions per single-row POST /predict,
# counted by callgrind, for the 200-tree GBDT and the MLP of serve.sh
# (deploy_lib.sh's gbdt.h5 and mlp.h5). A count does not depend on the
# machine's load, so it judges a change to the request path where wrk's
# wall-clock figures on shared cores cannot.
#
# Method: `moonbench serve BUNDLE --threads 1` under callgrind; one
# keep-alive curl connection POSTs the first test row N0 times, then (a
# second server) N0 + N times; per request = (Ir of the second - Ir of the
# first) / N, which cancels start-up, the bundle's load and shutdown. Also
# the functions whose own (self) count per request is largest.
# Valgrind reports no AVX-512 to the program, so the MLP runs its AVX2
# kernel here (portable_mlp.c); a real run on an AVX-512 CPU runs fewer.
#
# Environment: MB_INSTR_N0 (20), MB_INSTR_N (100), MB_INSTR_TOP (15),
# MB_BUILD, MB_PYTHON as deploy_lib.sh. Output: $BUILD/bench/instr/.
set -eu -o pipefail
BENCH_NAME=serve_instr
# shellcheck source=deploy_lib.sh
. "$(dirname "$0")/deploy_lib.sh"
N0=${MB_INSTR_N0:-20}
N=${MB_INSTR_N:-100}
TOP=${MB_INSTR_TOP:-15}
command -v valgrind >/dev/null || die "run as root: apt-get install -y valgrind"
command -v callgrind_annotate >/dev/null || die "run as root: apt-get install -y valgrind"
command -v curl >/dev/null || die "run as root: apt-get install -y curl"
deploy_setup gbdt mlp
IO=$OUT/instr
mkdir -p "$IO"

VG_PID=
cleanup() { stop_pid "$VG_PID"; }
trap cleanup EXIT

# count BUNDLE BODY REQUESTS TAG: callgrind files $IO/TAG.PID.out of a server that answered REQUESTS posts.
count() {
    local port urls i
    port=$(free_port)
    rm -f "$IO/$4".*.out
    valgrind --tool=callgrind --callgrind-out-file="$IO/$4.%p.out" "$MB" serve "$1" --port "$port" --threads 1 \
        2>"$IO/$4.log" &
    VG_PID=$!
    wait_port "$port" "$VG_PID" || die "the server under valgrind did not start: $IO/$4.log"
    urls=()
    for ((i = 0; i < $3; i++)); do urls+=("http://127.0.0.1:$port/predict"); done
    curl -sf -H 'Content-Type: application/json' --data-binary @"$2" "${urls[@]}" >"$IO/$4.replies" ||
        die "a request failed"
    stop_pid "$VG_PID"
    VG_PID=
}

for model in gbdt mlp; do
    "$PY" "$HERE/deploy_data.py" rows "$(test_file "$model")" 1 "$IO/${model}_rows.json"
    "$PY" -c 'import json, sys; r = json.load(open(sys.argv[1]))
open(sys.argv[2], "w").write(json.dumps({"instances": [r[0]]}, separators=(",", ":")))' \
        "$IO/${model}_rows.json" "$IO/${model}_body.json"
    count "$DEP/$model.h5" "$IO/${model}_body.json" "$N0" "${model}_a"
    count "$DEP/$model.h5" "$IO/${model}_body.json" $((N0 + N)) "${model}_b"
    # the server's own file: the process valgrind started (the bundle probe forks others)
    "$PY" - "$IO" "$model" "$N" "$TOP" <<'EOF'
import glob, re, subprocess, sys
io, model, n, top = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def load(tag):
    best = None
    for f in glob.glob("%s/%s_%s.*.out" % (io, model, tag)):
        out = subprocess.run(["callgrind_annotate", "--auto=no", "--threshold=100", "--inclusive=no", f],
                             capture_output=True, text=True, check=True).stdout
        total, fns = 0, {}
        for line in out.splitlines():
            m = re.match(r"\s*([\d,]+) \([ \d.]+%\)\s+(\S.*)", line)
            if not m:
                continue
            v = int(m.group(1).replace(",", ""))
            if "PROGRAM TOTALS" in m.group(2):
                total = v
            else:
                name = re.sub(r" \[.*\]$", "", m.group(2)).split(":")[-1]
                fns[name] = fns.get(name, 0) + v
        if best is None or total > best[0]:
            best = (total, fns)
    return best
(ta, fa), (tb, fb) = load("a"), load("b")
print("%s: %d instructions per request (callgrind, --threads 1)" % (model, (tb - ta) / n))
rows = sorted(((fb.get(k, 0) - fa.get(k, 0)) / n, k) for k in set(fa) | set(fb))
for v, k in list(reversed(rows))[:top]:
    print("  %8d  %s" % (v, k))
EOF
done
