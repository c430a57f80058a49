#!/usr/bin/env bats
# The workbench's Results and Export tabs in a real terminal (tmux; see
# tui_helpers.bash): each figure on screen is checked against the CLI or
# the core on the same run (its bundle saved with S), and each Export
# action against the command it stands for.
bats_require_minimum_version 1.5.0
load tui_helpers

# train MODEL: find it in the Models tab, train it, wait until run N is done
train() {
    keys 3
    wait_for "linear/linear"
    find "$1"
    keys r
    wait_for "run $2 ($1) done" $((WAIT * 2))
}
# answer the prompt on screen with TEXT instead of its proposal
answer() {
    local i
    for i in $(seq 1 40); do keys BSpace; done
    type_text "$1"
    keys Enter
}
# the pane of the Results tab named NAME, cycling with v
pane() {
    local i
    for i in 1 2 3 4 5 6 7 8; do
        screen | grep -qF "[$1]" && return 0
        keys v
        sleep 0.2
    done
    wait_for "[$1]"
}
# the mean |SHAP| ranking as "rank|name|value" lines, from the screen or the CLI
ranking() { sed -nE 's/^ *([0-9]+)\. (.*[^ ]) +([-0-9.e+]+)( .*)?$/\1|\2|\3/p'; }

@test "Results: ROC AUC and the confusion matrix equal the core's on the same held-out rows" {
    tui_start datasets/breast_cancer.h5
    wait_for "569 rows"
    train gbdt 1
    keys 4
    wait_for "confusion (rows: true"
    pane ROC
    wait_for "ROC curve on the 143 held-out rows"
    auc=$(screen | sed -nE 's/.*ROC curve .*: AUC ([0-9.]+).*/\1/p')
    screen | grep -q "⠉"                       # a braille curve
    pane PR
    wait_for "average precision (PR AUC)"
    pane calibration
    wait_for "rows per bin:"
    bins=$(screen | sed -nE 's/^rows per bin: (.*)$/\1/p')
    pane metrics
    conf=$(screen | grep -E '^(malignant|benign) ' | sed -E 's/\( *[0-9]+%\)//g' | tr -s ' ')
    keys S
    wait_for "save bundle to: run1.h5"
    keys Enter
    wait_for "saved run 1"
    # the same split as the run's chunk, scored by the core (mb.evaluate, mb.curve)
    keys W Enter
    wait_for "session saved"
    split=$(grep -m1 '^train, test = mb.split' session.lua)
    cat >check.lua <<EOF
mb = require "moonbench"
data = mb.open("datasets/breast_cancer.h5")
$split
local q = mb.load("run1.h5")
local r = mb.evaluate(q, test)
print(string.format("auc %.4f", r.roc_auc))
for i, row in ipairs(r.confusion) do print(r.classes[i].class .. " " .. table.concat(row, " ")) end
local c = mb.curve("calibration", q, test, 10)
print("bins " .. table.concat(c.threshold, " "))
EOF
    run "$MB" run check.lua
    assert_success
    assert_output --partial "auc $auc"
    [ -n "$auc" ]
    echo "$conf" | sed -E 's/ +$//' >tui.conf
    echo "$output" | grep -E '^(malignant|benign) ' >core.conf
    diff core.conf tui.conf
    [ "$(echo "$output" | sed -n 's/^bins //p' | sed -E 's/\.0\b//g')" = "$bins" ]
}

@test "Results: the global SHAP summary equals moonbench explain's; a row's contributions add up" {
    open_iris
    keys e
    wait_for "plan (hold-out fraction or k=K, seed)"
    answer "k=3 1"
    wait_for "plan: 3-fold cross-validation"
    train gbdt 1
    keys 4
    pane explanations
    wait_for "exact tree SHAP of 150 rows"
    wait_for "(summed over the classes)"
    screen | ranking >tui.rank
    keys S Enter
    wait_for "saved run 1"
    keys 4
    wait_for "[explanations]"
    run --separate-stderr "$MB" explain run1.h5 datasets/iris.h5
    assert_success
    echo "$output" | ranking >cli.rank
    cat tui.rank cli.rank
    [ "$(wc -l <cli.rank)" -eq 4 ]
    diff cli.rank tui.rank
    # row 2's contributions add up to its raw margin (expected value + sum)
    keys Right
    wait_for "row 2 of the 150 explained"
    line=$(screen | sed -nE 's/^expected value ([-0-9.e+]+) \+ contributions = ([-0-9.e+]+).*/\1 \2/p')
    sum=$(screen | sed -n '/^row 2 of/,$p' | sed -nE 's/^  .* ([-+][0-9.e+-]+)( .*)?$/\1/p' | awk '{ s += $1 } END { printf "%.9g", s }')
    awk -v l="$line" -v s="$sum" 'BEGIN { split(l, a, " "); d = a[1] + s - a[2]; exit !(d < 1e-4 && d > -1e-4) }'
    # the row is one of moonbench explain's: the same contributions
    "$MB" explain run1.h5 datasets/iris.h5 --rows 1:2 -o row.csv 2>/dev/null
    top=$(screen | sed -n '/^row 2 of/,$p' | sed -n 3p | sed -E 's/^  (.*[^ ]) +([-+][0-9.e+-]+).*/\1|\2/')
    cls=$(screen | sed -nE 's/^row 2 of .*for class ([a-z]+).*/\1/p')
    col=$(head -1 row.csv | tr ',' '\n' | grep -nxF "${top%|*}:$cls" | cut -d: -f1)
    [ -n "$col" ]
    want=$(sed -n 2p row.csv | cut -d, -f"$col")
    awk -v a="$want" -v b="${top#*|}" 'BEGIN { d = a - b; exit !(d < 1e-5 && d > -1e-5) }'
    # g picks a row
    keys g
    wait_for "explain row"
    type_text 150
    keys Enter
    wait_for "row 150 of the 150 explained"
}

@test "Results: regression residuals, the loss curve, importances; ASCII charts without UTF-8" {
    tui_start LC_ALL=C LANG=C datasets/diabetes.h5
    wait_for "rows x"
    train gbdt 1
    keys 4
    pane residuals
    wait_for "residuals (true - predicted) against the prediction on the"
    rmse=$(screen | sed -nE 's/.*: RMSE ([0-9.]+),.*/\1/p')
    screen | grep -qE '^ +[-0-9.e+]+ \|' # an ASCII axis
    screen | grep -q '\*'               # ASCII points
    ! screen | grep -q "⠉"
    pane loss
    wait_for "loss while training, last: train"
    pane importance
    wait_for "feature importance (total gain)"
    screen | grep -qE '^ 1\. .*#'
    pane metrics
    want=$(screen | sed -nE 's/.*rmse +([0-9.]+).*/\1/p')
    [ -n "$rmse" ] && [ "$rmse" = "$want" ]
    # a model without a portable form: permutation importance instead
    train knn 2
    keys 4 End
    pane explanations
    wait_for "permutation importance of"
    wait_for "no SHAP ("
}

@test "Export: score a file, export C and ONNX, as the CLI does; the session records them" {
    open_iris
    train linear 1
    keys 5
    wait_for "P      score a data file"
    keys S Enter
    wait_for "saved run 1 to run1.h5"
    keys P
    wait_for "score the data file: datasets/iris.h5"
    keys Enter
    wait_for "write the scores to: scores.csv"
    keys Enter
    wait_for "score   run 1: 150 rows scored, 0 rejected"
    "$MB" score run1.h5 datasets/iris.h5 -o cli.csv 2>/dev/null
    cmp scores.csv cli.csv
    # a file that does not score says why, and the tab goes on
    keys P
    wait_for "score the data file:"
    answer nosuch.csv
    wait_for "write the scores to:"
    keys Enter
    wait_for "nosuch.csv"
    keys X
    wait_for "export to (a folder for C, FILE.onnx for ONNX): run1_c"
    keys Enter
    wait_for "export  run 1: written: run1_c"
    [ -s run1_c/model.c ] && [ -s run1_c/model.h ]
    cc -std=c99 -Wall -Wextra -Werror -pedantic -c -Irun1_c -o model.o run1_c/model.c
    keys X
    wait_for "export to"
    answer run1.onnx
    wait_for "export  run 1: written: run1.onnx"
    run /usr/bin/python3 "$ROOT/tests/onnx/check_model.py" run1.onnx
    assert_success
    keys W Enter
    wait_for "session saved"
    grep -qF "run1:save(\"run1.h5\")" session.lua
    grep -qF -e "-- moonbench score 'run1.h5' 'datasets/iris.h5' -o 'scores.csv'" session.lua
    grep -qF -e "-- moonbench export 'run1.h5' --format c -o 'run1_c'" session.lua
    grep -qF -e "-- moonbench export 'run1.h5' --format onnx -o 'run1.onnx'" session.lua
    run "$MB" run session.lua
    assert_success
    assert_output --partial "run1: accuracy="
}

@test "Export: serve over HTTP from the tab, a request is counted, K stops it" {
    open_iris
    train linear 1
    keys 5 H
    wait_for "port on 127.0.0.1 (0: any free port): 0"
    keys Enter
    wait_for "serving on http://127.0.0.1:"
    url=$(screen | sed -nE 's/^serving on (http:\/\/127\.0\.0\.1:[0-9]+) .*/\1/p')
    [ -n "$url" ]
    wait_for "requests 0  errors 0"
    run curl -sf "$url/predict" -d '{"instances": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}'
    assert_success
    assert_output --partial "setosa"
    wait_for "requests 1  errors 0  rows scored 2"
    run curl -s "$url/predict" -d 'nonsense'
    wait_for "requests 2  errors 1"
    # the same counters as the server's own /metrics
    run curl -sf "$url/metrics"
    assert_output --partial 'moonbench_scored_rows_total 2'
    keys K
    wait_for "serve   run 1: stopped after"
    run curl -s "$url/health"
    assert_failure
    # quitting stops a running server too
    keys H Enter
    wait_for "serving on http://127.0.0.1:"
    url=$(screen | sed -nE 's/^serving on (http:\/\/127\.0\.0\.1:[0-9]+) .*/\1/p')
    curl -sf "$url/health"
    keys W Enter
    wait_for "session saved"
    grep -q "^-- moonbench serve '.*run1.h5' --host 127.0.0.1 --port 0" session.lua
    keys q
    wait_for "[exit 0]"
    run curl -s "$url/health"
    assert_failure
}

@test "Results: multiclass ROC and PR, one class against the rest; their mean is the macro AUC" {
    open_iris
    train gbdt 1
    keys 4
    pane ROC
    wait_for "ROC curve, class setosa against the rest"
    aucs=""
    for cls in setosa versicolor virginica; do
        wait_for "class $cls against the rest"
        aucs+=" $(screen | sed -nE 's/.* against the rest: AUC ([0-9.]+) .*/\1/p')"
        keys Right
    done
    macro=$(screen | sed -nE "s/^macro average over the classes \(the metrics' roc_auc\): ([0-9.]+)/\1/p")
    echo "$aucs / $macro"
    awk -v a="$aucs" -v m="$macro" 'BEGIN { n = split(a, v, " "); s = 0; for (i = 1; i <= n; i++) s += v[i];
        d = s / n - m; exit !(n == 3 && d < 2e-4 && d > -2e-4) }'
    pane PR
    wait_for "precision-recall, class setosa against the rest"
    pane calibration
    wait_for "calibration is drawn for two classes"
}
