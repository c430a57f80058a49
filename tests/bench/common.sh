# tests/bench/common.sh: sourced by the model benchmarks (linear.sh, trees.sh,
# mlp.sh, lua.sh, scaling.sh) so that they keep peers and data as run.sh does
# and record the BLAS kernels. Expects ROOT, BUILD and PY to be set.
#
# bench_peers NAME...  copy the shared peer scripts into $BUILD/bench/peers
#                      (on every run: ../shared is read-only, and gen_data.py
#                      writes beside itself) and generate data/NAME.h5 there
#                      when it is missing. Sets PEERS (absolute).
# bench_blas           MB_KERNEL: the OpenBLAS kernel moonbench runs (from
#                      `moonbench --version`), MB_BLAS_LINE: that line, and
#                      PEER_KERNELS: how to run the BLAS-using peers, "default"
#                      (OPENBLAS_CORETYPE unset: the library's own choice) and,
#                      when moonbench chose another kernel, that kernel too, so
#                      the ratios are fair either way. MB_BENCH_PEER_KERNELS
#                      overrides the list (e.g. "default SkylakeX").
# peer_with KERNEL TASK  peers.py TASK with OPENBLAS_CORETYPE=KERNEL (unset
#                      for "default"); its JSON line gets "peer_kernel" (the
#                      setting) and "peer_blas" (what threadpoolctl saw run).

bench_peers() {
    local src=${MB_PEERS_DIR:-$ROOT/../shared/bench} f d
    [ -f "$src/peers.py" ] && [ -f "$src/gen_data.py" ] ||
        { echo "bench: no peer scripts in $src (set MB_PEERS_DIR to the shared bench folder)" >&2; exit 1; }
    PEERS=$ROOT/$BUILD/bench/peers
    case $BUILD in /*) PEERS=$BUILD/bench/peers ;; esac
    mkdir -p "$PEERS/data"
    for f in "$src"/*.py "$src"/*.sh; do
        [ -f "$f" ] && cp -f "$f" "$PEERS/" && chmod u+w "$PEERS/$(basename "$f")"
    done
    for d in "$@"; do
        if [ ! -f "$PEERS/data/$d.h5" ]; then
            echo "bench: generating $PEERS/data/$d.h5" >&2
            (cd "$PEERS" && "$PY" gen_data.py "$d") >&2 || { echo "bench: cannot generate $d.h5" >&2; exit 1; }
        fi
    done
}

bench_blas() {
    MB_BLAS_LINE=$("$BUILD/moonbench" --version | grep '^BLAS:' || true)
    MB_KERNEL=$(printf '%s\n' "$MB_BLAS_LINE" | sed -n 's/.*kernel \([A-Za-z0-9_]*\).*/\1/p')
    PEER_KERNELS=default
    case $MB_BLAS_LINE in *"chosen by moonbench"*) PEER_KERNELS="default $MB_KERNEL" ;; esac
    PEER_KERNELS=${MB_BENCH_PEER_KERNELS:-$PEER_KERNELS}
    echo "bench: moonbench: ${MB_BLAS_LINE:-no BLAS line in moonbench --version}; peers run with: $PEER_KERNELS" >&2
}

peer_with() {
    local k=$1 task=$2
    (
        cd "$PEERS" || exit 1
        unset OPENBLAS_CORETYPE MOONBENCH_BLAS_CHOICE
        [ "$k" = default ] || export OPENBLAS_CORETYPE=$k
        "$PY" peers.py "$task" 2>/dev/null
    ) | "$PY" -c '
import json, sys
for line in sys.stdin:
    if not line.startswith("{"):
        continue
    d = json.loads(line)
    d["peer_kernel"] = sys.argv[1]
    arch = [t.get("architecture") for t in d.get("threadpools", []) if t.get("internal_api") == "openblas"]
    d["peer_blas"] = arch[0] if arch else "none"
    print(json.dumps(d))' "$k"
}
