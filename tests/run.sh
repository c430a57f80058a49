#!/usr/bin/env bash
# tests/run.sh BUILD_DIR...: run the whole suite against each build folder
# (build/, build/asan/): the cmocka unit tests in BUILD/tests/, the busted
# Lua specs in tests/lua/ (run by BUILD/moonbench) and the bats CLI tests in
# tests/cli/ driving BUILD/moonbench. All speak TAP; this script counts the
# results and ends with the line "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
pass=0 fail=0
failed=()
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT
# the audit events of the unit tests and Lua specs (docs/audit.md) stay here, not in $HOME
export MOONBENCH_AUDIT_LOG="$log/audit.jsonl"

# count NAME FILE RC: add the TAP results in FILE; a non-zero RC with no
# failing line (a crash, a sanitizer report) counts as one failure.
count() {
    local name=$1 file=$2 rc=$3 p f
    p=$(grep -cE '^ok ' "$file")
    f=$(grep -cE '^not ok ' "$file")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    if [ "$f" -ne 0 ]; then
        failed+=("$name")
        echo "---- $name: $f failed"; grep -E '^not ok|^#' "$file" | head -40
        grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$file" | head -5
    fi
    pass=$((pass + p)); fail=$((fail + f))
    printf '%-44s %4d passed %3d failed\n' "$name" "$p" "$f"
}

for build in "$@"; do
    export MOONBENCH="$PWD/$build/moonbench"
    export MOONBENCH_BUILD="$PWD/$build"
    for t in "$build"/tests/test_*; do
        [ -x "$t" ] || continue
        out="$log/$(basename "$t").tap"
        CMOCKA_MESSAGE_OUTPUT=TAP "$t" >"$out" 2>&1; rc=$?
        count "$build: $(basename "$t")" "$out" "$rc"
    done
    # Lua specs (busted), run inside moonbench itself so both builds are tested
    if ls tests/lua/*_spec.lua >/dev/null 2>&1; then
        out="$log/lua.tap"
        "$MOONBENCH" run /usr/bin/busted -o TAP tests/lua >"$out" 2>&1; rc=$?
        count "$build: tests/lua (busted)" "$out" "$rc"
    fi
    for t in tests/cli/*.bats; do
        [ -f "$t" ] || continue
        out="$log/$(basename "$t").tap"
        bats --tap "$t" >"$out" 2>&1; rc=$?
        count "$build: $(basename "$t")" "$out" "$rc"
    done
done
if [ "$fail" -ne 0 ]; then echo "failed: ${failed[*]}"; fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
