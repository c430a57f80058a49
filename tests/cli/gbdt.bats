#!/usr/bin/env bats
# moonbench fit with gbdt's early stopping on a held-out part of the
# training data: the "training" figures are the model's own split (the rows
# it trained on, and the rows it held out), not a score over all rows that
# mixes the held-out ones in.
load helpers

setup() {
    cd "$BATS_TEST_TMPDIR"
}

@test "fit gbdt: training metrics exclude the rows held out for early stopping" {
    run mb fit "$DATA/breast_cancer.h5" -m gbdt -p early_stopping_rounds=10 -p learning_rate=0.05 -o g.h5
    assert_success
    refute_output --partial "training: accuracy"
    line=$(echo "$output" | grep '^training (')
    read -r ntr tl nho vl <<<"$(echo "$line" | sed -E 's/^training \(([0-9]+) rows\): loss ([0-9.e-]+); held out for early stopping \(([0-9]+) rows\): loss ([0-9.e-]+)$/\1 \2 \3 \4/')"
    [ $((ntr + nho)) -eq 569 ]
    [ "$nho" -gt 20 ] && [ "$nho" -lt 100 ]              # validation_fraction 0.1
    assert_output --partial "n_held_out=$nho"
    # the oracle: the two parts' mean log-losses, weighted by their rows, are
    # the log-loss of the saved model's predictions over all 569 rows
    mb predict g.h5 "$DATA/csv/breast_cancer.csv" -o p.csv >/dev/null 2>&1
    all=$(paste -d, <(tail -n +2 p.csv) <(tail -n +2 "$DATA/csv/breast_cancer.csv" | awk -F, '{print $NF}') |
          awk -F, '{p = ($NF == "malignant") ? $2 : $3; if (p < 1e-15) p = 1e-15; s -= log(p); n++} END {printf "%.6f", s / n}')
    want=$(awk -v a="$tl" -v b="$vl" -v n="$ntr" -v m="$nho" 'BEGIN {printf "%.6f", (a * n + b * m) / (n + m)}')
    awk -v x="$all" -v y="$want" 'BEGIN {d = x - y; if (d < 0) d = -d; exit !(d < 2e-3 * y)}'
    # with --valid nothing is held out, and the training score is over all rows
    run mb fit "$DATA/breast_cancer.h5" -m gbdt -p early_stopping_rounds=10 --valid "$DATA/breast_cancer.h5" -o v.h5
    assert_success
    assert_output --partial "training: accuracy"
    refute_output --partial "n_held_out"
}
