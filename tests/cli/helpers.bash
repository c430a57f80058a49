# Shared set-up of the bats CLI tests: the executable under test comes from
# $MOONBENCH (tests/run.sh sets it to build/ or build/asan/), the bundled
# datasets from datasets/ and fixtures from tests/data/.
load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

ROOT="$(cd "$BATS_TEST_DIRNAME/../.." && pwd)"
MB="${MOONBENCH:-$ROOT/build/moonbench}"
DATA="$ROOT/datasets"
FIX="$ROOT/tests/data"
# The audit events of the tests (docs/audit.md) go to the run's temporary folder (not the
# test's own, which some tests list), never $HOME.
export MOONBENCH_AUDIT_LOG="${BATS_RUN_TMPDIR:-${BATS_TMPDIR:-/tmp}}/audit.jsonl"

mb() { "$MB" "$@"; }
