# tests/bench/deploy_lib.sh: what the deployment benchmarks share (sourced by
# tests/bench/serve.sh, score.sh, export_c.sh and worker.sh): the build, the
# bench data split into train and test files, the bundles and the peers'
# models (made once, kept in $MB_BUILD/bench/deploy and remade when missing),
# free loopback ports and JSON-line output.
#
#   gbdt.h5        moonbench fit clf_train.h5 -m gbdt, trees.sh's settings (200 trees,
#                  depth 6, learning rate 0.1, 255 bins), 2 threads
#   mlp.h5         moonbench fit multi_train.h5 -m mlp, mlp.sh's settings (256-128, relu,
#                  Adam 1e-3, batch 256, 5 epochs, standardize=true)
#   xgb_gbdt.json  peers.py gbdt_xgboost's XGBClassifier on clf_train (deploy_data.py xgb)
#   torch_mlp.pt   peers.py mlp_torch's MLP on multi_train (deploy_data.py torch)
#
# Environment: MB_BUILD (build), MB_PEERS_DIR (../shared/bench beside the
# repository), MB_PYTHON (/usr/bin/python3), MB_BENCH_ROUNDS (3).

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$ROOT"
BUILD=${MB_BUILD:-build}
PY=${MB_PYTHON:-/usr/bin/python3}
ROUNDS=${MB_BENCH_ROUNDS:-3}
PEERS_SRC=${MB_PEERS_DIR:-$ROOT/../shared/bench}
OUT=$BUILD/bench
WORK=$OUT/peers
DEP=$OUT/deploy
MB=$BUILD/moonbench
export MOONBENCH_PLUGIN_PATH=$BUILD/plugins

say() { printf 'bench %s: %s\n' "$BENCH_NAME" "$*" >&2; }
die() { say "$*"; exit 1; }
load1() { cut -d' ' -f1 /proc/loadavg; }

# The test rows of a bundle's data set.
test_file() { case $1 in gbdt) echo "$DEP/clf_test.h5" ;; mlp) echo "$DEP/multi_test.h5" ;; esac; }

# A free TCP port on 127.0.0.1 (bound, read and released: a race with other
# processes is possible but harmless here, the server then fails to start).
free_port() {
    "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Wait until something answers on 127.0.0.1:PORT (up to 30 s), or fail.
wait_port() {
    local port=$1 pid=$2 i
    for i in $(seq 300); do
        kill -0 "$pid" 2>/dev/null || return 1
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# Stop a process we started, by its pid, and reap it.
stop_pid() {
    [ -n "${1:-}" ] || return 0
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# deploy_setup [gbdt] [mlp] [xgb] [torch]: build, then make what is asked.
deploy_setup() {
    make -j2 BUILD="$BUILD" >/dev/null || die "the build failed"
    [ -f "$PEERS_SRC/gen_data.py" ] || die "no gen_data.py in $PEERS_SRC (set MB_PEERS_DIR)"
    "$PY" -c 'import h5py, numpy' 2>/dev/null || die "run as root: apt-get install -y python3-h5py python3-numpy"
    mkdir -p "$WORK/data" "$DEP"
    local want=" $* " d
    for d in clf_1m multi_200k; do
        [ -f "$WORK/data/$d.h5" ] && continue
        cp -f "$PEERS_SRC/gen_data.py" "$WORK/" && chmod u+w "$WORK/gen_data.py"
        say "generating $d.h5"
        (cd "$WORK" && "$PY" gen_data.py "$d" >/dev/null) || die "cannot generate $d.h5"
    done
    for d in clf:clf_1m multi:multi_200k; do
        [ -f "$DEP/${d%%:*}_test.h5" ] && [ "$DEP/${d%%:*}_test.h5" -nt "$WORK/data/${d#*:}.h5" ] && continue
        "$PY" "$HERE/deploy_data.py" split "$WORK/data/${d#*:}.h5" "$DEP/${d%%:*}_train.h5" "$DEP/${d%%:*}_test.h5" ||
            die "cannot split ${d#*:}.h5"
    done
    if [[ $want == *" gbdt "* ]] && [ ! -f "$DEP/gbdt.h5" ]; then
        say "fitting gbdt.h5 (200 trees on 800,000 rows)"
        "$MB" fit "$DEP/clf_train.h5" -m gbdt -p n_trees=200 -p max_depth=6 -p learning_rate=0.1 -p max_bins=255 \
            --prep none --threads 2 -o "$DEP/gbdt.h5" >"$DEP/gbdt.fit.log" 2>&1 || die "fit failed: $DEP/gbdt.fit.log"
    fi
    if [[ $want == *" mlp "* ]] && [ ! -f "$DEP/mlp.h5" ]; then
        say "fitting mlp.h5 (256-128, 5 epochs on 160,000 rows)"
        "$MB" fit "$DEP/multi_train.h5" -m mlp -p hidden_layers=256,128 -p activation=relu -p optimizer=adam \
            -p learning_rate=0.001 -p batch_size=256 -p epochs=5 -p early_stopping_rounds=0 -p standardize=true \
            --prep none --threads 2 -o "$DEP/mlp.h5" >"$DEP/mlp.fit.log" 2>&1 || die "fit failed: $DEP/mlp.fit.log"
    fi
    if [[ $want == *" xgb "* ]] && [ ! -f "$DEP/xgb_gbdt.json" ]; then
        "$PY" -c 'import xgboost' 2>/dev/null || die "run as root: apt-get install -y python3-xgboost"
        say "fitting the XGBoost peer"
        "$PY" "$HERE/deploy_data.py" xgb "$DEP/clf_train.h5" "$DEP/xgb_gbdt.json" || die "the XGBoost fit failed"
    fi
    if [[ $want == *" torch "* ]] && [ ! -f "$DEP/torch_mlp.pt" ]; then
        "$PY" -c 'import torch' 2>/dev/null || die "run as root: apt-get install -y python3-torch"
        say "fitting the PyTorch peer"
        "$PY" "$HERE/deploy_data.py" torch "$DEP/multi_train.h5" "$DEP/torch_mlp.pt" || die "the PyTorch fit failed"
    fi
}
