#!/bin/bash
# tests/bench/mlp.sh: the MLP plugin against PyTorch and scikit-learn on
# multi_200k (160k train rows x 64 features, 10 classes; last 20% test),
# with the peers' settings: layers 256-128, relu, Adam lr 1e-3, batch 256,
# 5 epochs, inputs standardised with the training mean/std, 2 threads.
#
# The peers standardise X themselves (peers.py _std); moonbench gets the raw
# file and standardize=true, which computes the same train mean/std inside
# fit (and folds them into the first layer, so prediction takes raw rows).
#
# Rounds (MB_BENCH_ROUNDS, default 3) alternate: moonbench, mlp_torch,
# mlp_torch_1thread, mlp_sklearn. Prints medians and the ratios the issue
# sets as goals (reported, never asserted):
#   time per epoch <= 0.3 x PyTorch's best (faster of 1 and 2 threads)
#                  <= 0.5 x scikit-learn MLPClassifier's
#   test accuracy within 0.5 points of PyTorch's
#   the epoch's GFLOP/s >= 75% of bench_sgemm's at the layer shapes (the
#   same kernel and threading: the machine's own ceiling, not a nominal peak;
#   with AVX-512 the plugin's training runs its own products, mlp_gemm.c,
#   so this is then against what OpenBLAS's products alone would reach)
# plus batch prediction time and single-row latency (goal < 20 us), and one
# line per round (the load when moonbench's fit started, its s/epoch and CPU
# s/epoch, the share of that round's sgemm, the ratio to that round's torch):
# on a shared machine the load moves between rounds, and a round's own
# figures were taken within a minute or two of each other.
#
# The peers are copied into $MB_BUILD/bench/peers and the data generated
# there (common.sh); nothing is written outside build/. moonbench's OpenBLAS
# kernel is recorded (bench_fit's "blas_kernel"), and the peers run with
# their library's own kernel and, when moonbench chose another one, with
# that one too (OPENBLAS_CORETYPE): ratios are printed for each.
#
# The moonbench fit runs with the audit trail off (MOONBENCH_AUDIT_LOG=, as
# explain.sh does): an audited fit first hashes the whole data file for its
# event (SHA-256 of multi_200k.h5's 55 MB, ~0.3 s on the session 7 Xeon,
# once per fit and independent of the epochs), which is neither training
# nor anything the peers' epoch timings contain.
#
# Environment: MB_BUILD (build), MB_PEERS_DIR (the shared peer scripts;
# ../shared/bench), MB_PYTHON (/usr/bin/python3), MB_BENCH_ROUNDS (3),
# MB_MLP_THREADS (2), MB_BENCH_PEER_KERNELS (common.sh).
set -eu -o pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$ROOT"

BUILD=${MB_BUILD:-build}
PY=${MB_PYTHON:-/usr/bin/python3}
ROUNDS=${MB_BENCH_ROUNDS:-3}
THREADS=${MB_MLP_THREADS:-2}
OUT=$BUILD/bench/mlp.jsonl
# shellcheck source=tests/bench/common.sh
. "$HERE/common.sh"

say() { printf 'bench-mlp: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# {====== build ======}
make -j2 BUILD="$BUILD" >/dev/null || die "build failed"
eval "$(sed -n 's/^\([A-Z_]*\) := \(.*\)$/\1="\2"/p' "$BUILD/config.mk")"
mkdir -p "$BUILD/bench"
# shellcheck disable=SC2086
cc -std=c11 -O2 -Isrc/core -Iplugins $PKG_CFLAGS tests/bench/bench_fit.c "$BUILD/libmbcore.a" \
    $PKG_LIBS -o "$BUILD/bench/bench_fit" || die "cannot build bench_fit"
# shellcheck disable=SC2086
cc -std=c11 -O2 $BLAS_CFLAGS tests/bench/bench_sgemm.c $BLAS_LIBS -lpthread -o "$BUILD/bench/bench_sgemm" ||
    die "cannot build bench_sgemm"

# {====== data and peers ======}
"$PY" -c "import torch, sklearn, threadpoolctl" 2>/dev/null ||
    die "the peers need Debian's python3-torch python3-sklearn python3-threadpoolctl libopenblas0-pthread"
bench_peers multi_200k
bench_blas
DATA=$PEERS/data/multi_200k.h5

# {====== runs ======}
# bench_sgemm: the products of a training step at these layer shapes, with
# the plugin's threading and the kernel moonbench runs
: >"$OUT"
for r in $(seq 1 "$ROUNDS"); do
    say "round $r/$ROUNDS (load $(cut -d' ' -f1-3 /proc/loadavg))"
    MOONBENCH_AUDIT_LOG= MOONBENCH_PLUGIN_PATH=$BUILD/plugins "$BUILD/bench/bench_fit" mlp "$DATA" --threads "$THREADS" \
        hidden_layers=256,128 activation=relu optimizer=adam learning_rate=0.001 batch_size=256 \
        epochs=5 early_stopping_rounds=0 standardize=true |
        sed "s/^{/{\"task\": \"moonbench\", \"round\": $r, \"load\": $(cut -d' ' -f1 /proc/loadavg), /" >>"$OUT"
    OPENBLAS_CORETYPE=$MB_KERNEL "$BUILD/bench/bench_sgemm" --threads "$THREADS" --batch 256 64 256 128 10 |
        sed "s/^{/{\"round\": $r, /" >>"$OUT"
    for k in $PEER_KERNELS; do
        for t in mlp_torch mlp_torch_1thread mlp_sklearn; do
            peer_with "$k" "$t" | sed "s/^{\"task\": \"$t\"/{\"task\": \"$t\", \"round\": $r/" >>"$OUT" ||
                die "peer $t failed"
        done
    done
done

# {====== report ======}
"$PY" - "$OUT" "$PEER_KERNELS" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
kernels = sys.argv[2].split()
def med(task, key, kernel=None):
    v = [r[key] for r in rows if r.get("task") == task and key in r
         and (kernel is None or r.get("peer_kernel") == kernel)]
    return statistics.median(v) if v else float("nan")
EPOCHS = 5
# forward 2*(64*256 + 256*128 + 128*10) flops a row; backward: weight
# gradients as much again, input gradients for layers 2 and 3
fwd = 2 * (64 * 256 + 256 * 128 + 128 * 10)
flops = 160000 * (2 * fwd + 2 * (256 * 128 + 128 * 10))
mb = [r for r in rows if r["task"] == "moonbench"]
mb_ep = med("moonbench", "fit_seconds") / EPOCHS
gf = flops / mb_ep / 1e9
acc_mb = med("moonbench", "accuracy")
sg = med("sgemm", "gflops")
print(f"multi_200k MLP 256-128 relu, Adam 1e-3, batch 256, 5 epochs, {len(mb)} rounds (medians); "
      f"moonbench's OpenBLAS kernel {mb[0].get('blas_kernel') if mb else '?'}")
print(f"  moonbench: {mb_ep:.3f} s/epoch, {gf:.0f} GFLOP/s ({flops / 1e9:.1f} GFLOP an epoch); sgemm alone at the "
      f"layer shapes {sg:.0f} GFLOP/s: {100 * gf / sg:.0f}% (goal >= 75%) {'PASS' if gf >= 0.75 * sg else 'FAIL'}")
# each round on its own: the load moves between rounds, and a round's
# figures were taken minutes apart at most
def one(task, key, rnd, kernel="default"):
    v = [r[key] for r in rows if r.get("task") == task and r.get("round") == rnd and key in r
         and (task in ("moonbench", "sgemm") or r.get("peer_kernel") == kernel)]
    return v[0] if v else float("nan")
for rnd in sorted({r["round"] for r in mb}):
    ep = one("moonbench", "fit_seconds", rnd) / EPOCHS
    tb = min(one("mlp_torch", "seconds_per_epoch", rnd, kernels[0]),
             one("mlp_torch_1thread", "seconds_per_epoch", rnd, kernels[0]))
    print(f"  round {rnd} (load {one('moonbench', 'load', rnd)}): moonbench {ep:.3f} s/epoch ({one('moonbench', 'fit_cpu_seconds', rnd) / EPOCHS:.3f} CPU s), "
          f"{100 * flops / ep / 1e9 / one('sgemm', 'gflops', rnd):.0f}% of that round's sgemm; "
          f"torch best ({kernels[0]} kernel) {tb:.3f} s/epoch: ratio {ep / tb:.2f}")
for k in kernels:
    t2, t1, sk = (med(t, "seconds_per_epoch", k) for t in ("mlp_torch", "mlp_torch_1thread", "mlp_sklearn"))
    best = min(t1, t2)
    acc_t = med("mlp_torch", "accuracy", k)
    blas = sorted({str(r.get("peer_blas")) for r in rows if r.get("peer_kernel") == k})
    print(f"  peers with OPENBLAS_CORETYPE={'(unset)' if k == 'default' else k} (ran: {', '.join(blas)}):")
    print(f"    seconds/epoch: torch 2t {t2:.3f}  torch 1t {t1:.3f}  sklearn {sk:.3f}")
    print(f"    ratio vs torch best: {mb_ep / best:.2f} (goal <= 0.3) {'PASS' if mb_ep <= 0.3 * best else 'FAIL'}"
          f"   vs sklearn: {mb_ep / sk:.2f} (goal <= 0.5)")
    print(f"    test accuracy: moonbench {acc_mb:.4f}  torch {acc_t:.4f}  sklearn {med('mlp_sklearn', 'accuracy', k):.4f}"
          f"  (moonbench - torch = {100 * (acc_mb - acc_t):+.2f} points, goal within 0.5)")
    print(f"    predict 40k rows: moonbench {med('moonbench', 'predict_seconds') * 1e3:.1f} ms"
          f"  torch {med('mlp_torch', 'predict_seconds', k) * 1e3:.1f} ms"
          f"  sklearn {med('mlp_sklearn', 'predict_seconds', k) * 1e3:.1f} ms")
    print(f"    single-row latency: moonbench {med('moonbench', 'single_row_latency_us'):.1f} us (goal < 20)"
          f"  torch {med('mlp_torch', 'single_row_latency_us', k):.1f} us"
          f"  sklearn {med('mlp_sklearn', 'single_row_latency_us', k):.1f} us")
EOF
say "raw lines in $OUT"
