# Shared set-up of the workbench's tmux tests (tests/cli/tui*.bats): the
# workbench runs in tmux on a private socket, keys go in with send-keys, the
# screen comes back with capture-pane and is polled for the expected text
# with a bounded wait (longer under ASan).
load helpers

SOCK="mbtest$$"
WAIT=15
case "$MB" in *asan*) WAIT=60 ;; esac
BUILD_DIR="${MOONBENCH_BUILD:-$(dirname "$MB")}"

setup() {
    cd "$BATS_TEST_TMPDIR"
    ln -sfn "$DATA" datasets
    export HOME="$BATS_TEST_TMPDIR/home"   # no user key file
    mkdir -p "$HOME"
    unset MOONBENCH_KEYS
    # the crashing test plugin, alone in its folder
    mkdir -p plug
    ln -sf "$BUILD_DIR/tests/plugins/crash_fit.so" plug/crash_fit.so
}

teardown() {
    tmux -L "$SOCK" kill-server 2>/dev/null || true
}

# tui_start [ENV=VALUE...] ARGS...: the workbench in a 100x30 terminal; when it
# ends, the pane shows "[exit N]".
tui_start() {
    local envs=""
    while [[ "${1:-}" == *=* ]]; do envs+="$1 "; shift; done
    # a server just killed on this socket may still be going away: retry
    local try
    for try in 1 2 3 4 5 6 7 8 9 10; do
        tmux -L "$SOCK" -f /dev/null new-session -d -x "${TUI_W:-100}" -y "${TUI_H:-30}" -s t \
            "cd '$BATS_TEST_TMPDIR' && env $envs '$MB' $* ; echo \"[exit \$?]\"; sleep 600" && return 0
        sleep 0.3
    done
    return 1
}
keys() { tmux -L "$SOCK" send-keys -t t "$@"; }
# type TEXT: literal text into the terminal
type_text() { tmux -L "$SOCK" send-keys -t t -l "$1"; }
screen() { tmux -L "$SOCK" capture-pane -p -t t; }
# wait_for TEXT [SECONDS]: poll the screen until it shows TEXT
wait_for() {
    local end=$((SECONDS + ${2:-$WAIT}))
    while ((SECONDS < end)); do
        screen | grep -qF -- "$1" && return 0
        sleep 0.2
    done
    echo "timed out waiting for: $1"
    screen
    return 1
}
wait_gone() {
    local end=$((SECONDS + ${2:-$WAIT}))
    while ((SECONDS < end)); do
        screen | grep -qF -- "$1" || return 0
        sleep 0.2
    done
    echo "still on screen: $1"
    screen
    return 1
}
# snapshot NAME: the screen (trailing blanks dropped) equals tests/tui/NAME.screen
snapshot() {
    screen | sed 's/[[:space:]]*$//' >"$BATS_TEST_TMPDIR/$1.screen"
    # MB_UPDATE_SCREENS=1 rewrites the snapshots (then read them in a review)
    if [ -n "${MB_UPDATE_SCREENS:-}" ]; then cp "$BATS_TEST_TMPDIR/$1.screen" "$ROOT/tests/tui/$1.screen"; fi
    diff -u "$ROOT/tests/tui/$1.screen" "$BATS_TEST_TMPDIR/$1.screen"
}
# find TEXT: the focused view's find (/): a file in the tree, a column, a model
find() {
    keys /
    wait_for "find"
    type_text "$1"
    keys Enter
}
# open_iris: the workbench on datasets/, iris opened from the tree
open_iris() {
    tui_start "$@" datasets/
    wait_for "iris.h5"
    find iris.h5
    keys Enter
    wait_for "150 rows x 5 columns"
}
# the row of the leaderboard for run N
board_row() { screen | grep -E "^$1 +[* ] *[a-z]" | head -1; }
