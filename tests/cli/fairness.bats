#!/usr/bin/env bats
# moonbench evaluate --group and mb.fairness: metrics by group against
# tables computed by hand, fairlearn's definitions of the disparities, the
# intersection of two columns, regression errors by group against the
# predictions of `moonbench score`, the bootstrap's reproducibility, the
# aligned text and the JSON, and errors naming the column.
#
# The fixture: a tree learns y = (x == 1) exactly from train.csv, so on
# test.csv its prediction is x, and the labels y are set against it:
#   row  g  h  x=pred  y
#   1-6  B  1 1 1 2 2 2   pred 1 1 0 0 1 1   y 1 1 0 0 0 1
#   7-10 A  1 2 1 2       pred 1 0 1 0       y 1 1 0 0
load helpers
bats_require_minimum_version 1.5.0

setup_file() {
    cd "$ROOT"
    T="$BATS_FILE_TMPDIR"
    python3 - "$T" <<'PY'
import sys
t = sys.argv[1]
with open(t + "/train.csv", "w") as f:
    f.write("g,h,x,y\n")
    for i in range(40):
        x = i % 2
        f.write("%s,%d,%d,%s\n" % ("AB"[i // 2 % 2], 1 + i // 4 % 2, x, "yes" if x else "no"))
with open(t + "/test.csv", "w") as f:
    f.write("g,h,x,y\n")
    pred = [1, 1, 0, 0, 1, 1, 1, 0, 1, 0]
    y = [1, 1, 0, 0, 0, 1, 1, 1, 0, 0]
    g = "BBBBBBAAAA"
    h = [1, 1, 1, 2, 2, 2, 1, 2, 1, 2]
    for i in range(10):
        f.write("%s,%d,%d,%s\n" % (g[i], h[i], pred[i], "yes" if y[i] else "no"))
PY
    "$MB" fit "$T/train.csv" --target y -m cart -o "$T/tree.h5" >/dev/null 2>&1
    "$MB" fit datasets/csv/diabetes.csv --target target -m forest -p n_trees=10 -o "$T/dia.h5" >/dev/null 2>&1
}

# near JSON JQPATH VALUE: the number at JQPATH equals VALUE within 1e-9
near() {
    jq -e --argjson v "$3" "($2 - \$v) | (if . < 0 then -. else . end) < 1e-9" <<<"$1" >/dev/null ||
        { echo "$2 = $(jq "$2" <<<"$1"), expected $3"; return 1; }
}

@test "fixture: the tree predicts x" {
    T="$BATS_FILE_TMPDIR"
    mb score "$T/tree.h5" "$T/test.csv" -o "$T/pred.csv"
    assert_equal "$(cut -d, -f1 "$T/pred.csv" | tail -n +2 | tr '\n' ' ')" "yes yes no no yes yes yes no yes no "
}

@test "evaluate --group g: the table by hand and fairlearn's disparities" {
    T="$BATS_FILE_TMPDIR"
    run mb evaluate "$T/tree.h5" "$T/test.csv" --group g --json
    assert_success
    j=$output
    assert_equal "$(jq -r '.fairness.positive_class' <<<"$j")" yes
    assert_equal "$(jq -r '[.fairness.groups[].label] | join(" ")' <<<"$j")" "A B"
    # A: 4 rows; predicted yes 2 (1/2); right 2 (1/2); of 2 positives 1 found (TPR 1/2);
    #    of 2 negatives 1 flagged (FPR 1/2); of 2 flagged 1 positive (precision 1/2)
    near "$j" '.fairness.groups[0].n' 4
    for m in selection_rate accuracy tpr fpr precision; do near "$j" ".fairness.groups[0].$m" 0.5; done
    # B: 6 rows; predicted yes 4 (2/3); right 5 (5/6); positives 3 all found (TPR 1);
    #    negatives 3, 1 flagged (FPR 1/3); flagged 4, 3 positive (precision 3/4)
    near "$j" '.fairness.groups[1].n' 6
    near "$j" '.fairness.groups[1].selection_rate' 0.6666666667
    near "$j" '.fairness.groups[1].accuracy' 0.8333333333
    near "$j" '.fairness.groups[1].tpr' 1
    near "$j" '.fairness.groups[1].fpr' 0.3333333333
    near "$j" '.fairness.groups[1].precision' 0.75
    near "$j" '.fairness.overall.accuracy' 0.7
    near "$j" '.accuracy' 0.7                                  # the report of evaluate agrees
    # fairlearn: DP difference max - min of the selection rates, ratio min / max;
    # EO difference the larger of the TPR (1 - 1/2) and FPR (1/2 - 1/3) differences,
    # ratio the smaller of the TPR (1/2) and FPR ((1/3) / (1/2)) ratios
    b='.fairness.between_groups'
    near "$j" "$b.demographic_parity_difference.value" 0.1666666667
    near "$j" "$b.demographic_parity_ratio.value" 0.75
    near "$j" "$b.equalized_odds_difference.value" 0.5
    near "$j" "$b.equalized_odds_ratio.value" 0.5
    near "$j" "$b.accuracy_difference.value" 0.3333333333
}

@test "evaluate --group g --group h: the intersection, by hand" {
    T="$BATS_FILE_TMPDIR"
    run mb evaluate "$T/tree.h5" "$T/test.csv" --group g --group h --json
    assert_success
    j=$output
    assert_equal "$(jq -r '[.fairness.groups[].label] | join("; ")' <<<"$j")" "A, 1; A, 2; B, 1; B, 2"
    assert_equal "$(jq -r '.fairness.groups[3].group.h' <<<"$j")" 2
    # (A,1): rows 7, 9: y 1 0, pred 1 1 -> selection 1, accuracy 1/2, TPR 1, FPR 1, precision 1/2
    near "$j" '.fairness.groups[0].selection_rate' 1
    near "$j" '.fairness.groups[0].fpr' 1
    near "$j" '.fairness.groups[0].precision' 0.5
    # (A,2): rows 8, 10: y 1 0, pred 0 0 -> selection 0, TPR 0, FPR 0, precision 0 (nothing flagged)
    near "$j" '.fairness.groups[1].selection_rate' 0
    near "$j" '.fairness.groups[1].precision' 0
    # (B,2): rows 4-6: y 0 0 1, pred 0 1 1 -> selection 2/3, accuracy 2/3, FPR 1/2, precision 1/2
    near "$j" '.fairness.groups[3].accuracy' 0.6666666667
    near "$j" '.fairness.groups[3].fpr' 0.5
    # selection rates 1 .. 0: difference 1, ratio 0; TPR 1 vs 0 and FPR 1 vs 0
    near "$j" '.fairness.between_groups.demographic_parity_difference.value' 1
    near "$j" '.fairness.between_groups.demographic_parity_ratio.value' 0
    near "$j" '.fairness.between_groups.equalized_odds_difference.value' 1
    near "$j" '.fairness.between_groups.equalized_odds_ratio.value' 0
}

@test "evaluate --group h: a numeric column with few values" {
    T="$BATS_FILE_TMPDIR"
    j=$(mb evaluate "$T/tree.h5" "$T/test.csv" --group h --json)
    # h=1: rows 1 2 3 7 9: y 1 1 0 1 0, pred 1 1 0 1 1 -> selection 4/5, TPR 1, FPR 1/2, precision 3/4
    # h=2: rows 4 5 6 8 10: y 0 0 1 1 0, pred 0 1 1 0 0 -> selection 2/5, TPR 1/2, FPR 1/3, precision 1/2
    near "$j" '.fairness.groups[0].selection_rate' 0.8
    near "$j" '.fairness.groups[0].precision' 0.75
    near "$j" '.fairness.groups[1].tpr' 0.5
    near "$j" '.fairness.groups[1].fpr' 0.3333333333
    near "$j" '.fairness.between_groups.demographic_parity_difference.value' 0.4
    near "$j" '.fairness.between_groups.equalized_odds_ratio.value' 0.5   # min(1/2 / 1, (1/3) / (1/2))
}

@test "evaluate --group: the bootstrap holds the estimate, is reproducible, moves with the seed" {
    T="$BATS_FILE_TMPDIR"
    a=$(mb evaluate "$T/tree.h5" "$T/test.csv" --group g --boot 300 --seed 4 --json)
    b=$(mb evaluate "$T/tree.h5" "$T/test.csv" --group g --boot 300 --seed 4 --json)
    c=$(mb evaluate "$T/tree.h5" "$T/test.csv" --group g --boot 300 --seed 5 --json)
    assert_equal "$(jq -c .fairness <<<"$a")" "$(jq -c .fairness <<<"$b")"
    [ "$(jq -c .fairness.between_groups <<<"$a")" != "$(jq -c .fairness.between_groups <<<"$c")" ]
    run jq -e '[.fairness.between_groups[] | select(.lo != null) | .lo <= .value and .value <= .hi and .lo < .hi] | length >= 4 and all' <<<"$a"
    assert_success
    assert_equal "$(jq -c '.fairness.bootstrap' <<<"$a")" '{"level":0.95,"replicates":300,"seed":4}'
    run jq -e '.fairness.between_groups.demographic_parity_difference.lo == null' \
        <<<"$(mb evaluate "$T/tree.h5" "$T/test.csv" --group g --boot 0 --json)"
    assert_success
}

@test "evaluate --group: aligned text after the report" {
    T="$BATS_FILE_TMPDIR"
    run mb evaluate "$T/tree.h5" "$T/test.csv" --group g --boot 50
    assert_success
    assert_output --partial "classification report (n = 10)"
    assert_output --partial "Fairness by g:"
    assert_output --regexp $'\n  g +rows +selection_rate +accuracy +tpr +fpr +precision +roc_auc\n'
    assert_output --regexp $'\n  A +4 +0\\.5000 +0\\.5000 +0\\.5000 +0\\.5000 +0\\.5000 '
    assert_output --regexp $'\n  B +6 +0\\.6667 +0\\.8333 +1\\.0000 +0\\.3333 +0\\.7500 '
    assert_output --regexp $'\n  demographic_parity_difference +0\\.1667 +[0-9.]+ +[0-9.]+\n'
    # the columns line up: each header ends where its numbers end
    printf '%s\n' "$output" > "$T/text.out"
    python3 - "$T/text.out" <<'PY' || false
import sys
lines = open(sys.argv[1]).read().splitlines()
h = next(l for l in lines if l.startswith("  g "))
a = next(l for l in lines if l.startswith("  A "))
import re
assert len(h) == len(a), (h, a)
for m in re.finditer(r"\S+", h[h.index("rows"):]):
    end = h.index("rows") + m.end()
    assert a[end - 1] != " " and (end == len(a) or a[end] == " "), (m.group(), h, a)
PY
}

@test "evaluate --group on regression: MAE, RMSE, mean error as computed from score's predictions" {
    T="$BATS_FILE_TMPDIR"
    mb score "$T/dia.h5" datasets/csv/diabetes.csv -o "$T/dia_pred.csv"
    mb evaluate "$T/dia.h5" datasets/csv/diabetes.csv --group sex --boot 20 --json > "$T/dia.json"
    run python3 - "$T/dia_pred.csv" datasets/csv/diabetes.csv "$T/dia.json" <<'PY'
import csv, json, math, sys
p = [float(r[0]) for r in list(csv.reader(open(sys.argv[1])))[1:]]
d = list(csv.DictReader(open(sys.argv[2])))
j = json.load(open(sys.argv[3]))["fairness"]
by = {}
for r, q in zip(d, p):
    by.setdefault(float(r["sex"]), []).append(q - float(r["target"]))
assert [float(g["group"]["sex"]) for g in j["groups"]] == sorted(by)
for g, s in zip(j["groups"], sorted(by)):
    e = by[s]
    want = {"n": len(e), "mae": sum(map(abs, e)) / len(e), "rmse": math.sqrt(sum(x * x for x in e) / len(e)),
            "mean_error": sum(e) / len(e)}
    for k, v in want.items():
        assert abs(g[k] - v) <= 1e-4 * max(1, abs(v)), (s, k, g[k], v)
maes = [g["mae"] for g in j["groups"]]
assert abs(j["between_groups"]["mae_difference"]["value"] - (max(maes) - min(maes))) < 1e-6  # 10 digits printed
print("ok")
PY
    assert_success
}

@test "mb.fairness in Lua gives evaluate --group's figures" {
    T="$BATS_FILE_TMPDIR"
    cat > "$T/f.lua" <<'LUA'
local mb = require "moonbench"
local r = mb.fairness(mb.load(arg[1]), mb.open(arg[2]), {group = {"g", "h"}, boot = 100, seed = 2})
for _, g in ipairs(r.groups) do
  print(g.label, g.n, string.format("%.10f %.10f", g.selection_rate, g.tpr))
end
local d = r.between_groups.equalized_odds_difference
print(r.positive_class, r.bootstrap.replicates, string.format("%.10f %.10f %.10f", d.value, d.lo, d.hi))
local ok, err = pcall(mb.fairness, mb.load(arg[1]), mb.open(arg[2]), {group = "nope"})
print(ok, err)
LUA
    run mb run "$T/f.lua" "$T/tree.h5" "$T/test.csv"
    assert_success
    j=$(mb evaluate "$T/tree.h5" "$T/test.csv" --group g --group h --boot 100 --seed 2 --json)
    want=$(jq -r '.fairness.groups[] | "\(.label)\t\(.n)\t\(.selection_rate)\t\(.tpr)"' <<<"$j")
    got=$(head -4 <<<"$output" | awk -F'\t' '{split($3, v, " "); printf "%s\t%s\t%.10g\t%.10g\n", $1, $2, v[1], v[2]}')
    assert_equal "$got" "$(awk -F'\t' '{printf "%s\t%s\t%.10g\t%.10g\n", $1, $2, $3, $4}' <<<"$want")"
    eo=$(jq -r '.fairness.between_groups.equalized_odds_difference | "\(.value) \(.lo) \(.hi)"' <<<"$j")
    assert_equal "$(sed -n 5p <<<"$output" | awk '{printf "%s %s %.10g %.10g %.10g", $1, $2, $3, $4, $5}')" \
        "yes 100 $(awk '{printf "%.10g %.10g %.10g", $1, $2, $3}' <<<"$eo")"
    assert_line --partial "no group column 'nope'"
}

@test "evaluate --group: errors name the column" {
    T="$BATS_FILE_TMPDIR"
    run mb evaluate "$T/tree.h5" "$T/test.csv" --group sex
    assert_failure 1
    assert_output --partial "has no group column 'sex' (its columns: g, h, x, y)"
    run mb evaluate "$T/tree.h5" "$T/test.csv" --group y
    assert_failure 1
    assert_output --partial "group column 'y' is the model's target"
    run mb evaluate "$T/dia.h5" datasets/csv/diabetes.csv --group bmi
    assert_failure 1
    assert_output --partial "group column 'bmi' is numeric with more than 50 distinct values"
    run mb evaluate "$T/tree.h5" "$T/test.csv" --group g --boot -1
    assert_failure 2
}
