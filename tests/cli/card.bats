#!/usr/bin/env bats
# moonbench card: a model card for every model family (linear, gbdt, forest,
# cart, mlp, and a pipeline with transforms), checked for its facts against
# independent sources: the SHA-256 against sha256sum of the bundle, the rows
# against the CSV, the schema against the CSV's header, the metrics against
# `moonbench evaluate --json`, the intervals holding their value; the HTML
# page parsed as XML (xmllint) and by python3's html.parser, with its SVG
# bars and every text escaped; a card without --data says it has no metrics.
load helpers
bats_require_minimum_version 1.5.0

setup_file() {
    cd "$ROOT"
    T="$BATS_FILE_TMPDIR"
    C=datasets/csv
    "$MB" fit $C/breast_cancer.csv --target target -m linear -o "$T/linear.h5" >/dev/null 2>&1
    "$MB" fit $C/breast_cancer.csv --target target -m gbdt -p n_trees=20 -o "$T/gbdt.h5" >/dev/null 2>&1
    "$MB" fit $C/diabetes.csv --target target -m forest -p n_trees=10 -o "$T/forest.h5" >/dev/null 2>&1
    "$MB" fit $C/iris.csv --target target -m cart -o "$T/cart.h5" >/dev/null 2>&1
    "$MB" fit $C/credit_g.csv --target class -m mlp -p epochs=5 -o "$T/mlp.h5" >/dev/null 2>&1
    "$MB" fit $C/vote.csv --target Class -m linear -t impute:strategy=most_frequent -t onehot -o "$T/vote.h5" >/dev/null 2>&1
}

# check_card CARD.md BUNDLE DATA.csv TARGET EVAL.json: the facts of the card
check_card() {
    python3 - "$@" <<'PY'
import csv, hashlib, json, re, sys
card, bundle, data, target, evaljson = sys.argv[1:6]
unesc = lambda s: re.sub(r"\\(.)", r"\1", s).replace("&lt;", "<").replace("&amp;", "&")
lines = [unesc(l) for l in open(card, encoding="utf-8").read().splitlines()]
def fact(key):
    v = [l.split(": ", 1)[1] for l in lines if l.startswith("- **%s**: " % key)]
    assert len(v) == 1, (key, v)
    return v[0]
def table(after):
    i = lines.index(after)
    while not lines[i].startswith("|"):            # the first table under the heading
        i += 1
    head = [c.strip() for c in lines[i].strip("|").split(" | ")]
    rows = []
    for l in lines[i + 2:]:
        if not l.startswith("|"):
            break
        rows.append([c.strip() for c in l.strip().strip("|").split(" | ")])
    return head, rows
sha = hashlib.sha256(open(bundle, "rb").read()).hexdigest()
assert fact("Bundle SHA-256") == sha, (fact("Bundle SHA-256"), sha)
src = list(csv.reader(open(data, encoding="utf-8")))
assert fact("Rows used") == str(len(src) - 1), fact("Rows used")          # fit without --test: all rows
assert fact("Rows") == str(len(src) - 1)
assert fact("Data SHA-256") == hashlib.sha256(open(data, "rb").read()).hexdigest()
assert fact("Target") == target
head, rows = table("## Schema")
cols = [r[0] for r in rows]
assert cols == [c for c in src[0] if c != target], (cols, src[0])
ev = json.load(open(evaljson))
head, rows = table("### Metrics")
assert head[:4] == ["metric", "value", "95% low", "95% high"], head
assert len(rows) >= 3
for name, value, lo, hi in rows:
    assert value == "%.4f" % ev[name], (name, value, ev[name])
    assert float(lo) <= float(value) <= float(hi), (name, lo, value, hi)
i = lines.index("## Feature importance")
imp = [l for l in lines[i:] if re.match(r"^\| \d+ \| ", l)]
assert imp, "no importance rows"
for h in ("## Intended use", "## Limitations", "## Ethical considerations"):
    j = lines.index(h)
    assert lines[j + 2] == "_To be written by the model owner._", lines[j + 2]
assert any(l.startswith("## Drift baseline") for l in lines)
print("ok", len(imp), "importance rows")
PY
}

# card_for NAME DATA TARGET: write the card and evaluate's JSON, then check
card_for() {
    T="$BATS_FILE_TMPDIR"
    run mb card "$T/$1.h5" --data "$2" --boot 50 -o "$T/$1.md"
    assert_success
    assert_output --partial "model card -> $T/$1.md"
    mb evaluate "$T/$1.h5" "$2" --json > "$T/$1.json"
    run check_card "$T/$1.md" "$T/$1.h5" "$2" "$3" "$T/$1.json"
    echo "$output"
    assert_success
}

@test "card: linear (binary): SHA-256, rows, schema and metrics are the facts" {
    card_for linear datasets/csv/breast_cancer.csv target
    run grep -c "exact linear SHAP" "$BATS_FILE_TMPDIR/linear.md"
    assert_output 1
}

@test "card: gbdt: TreeSHAP importance, the top column first" {
    card_for gbdt datasets/csv/breast_cancer.csv target
    T="$BATS_FILE_TMPDIR"
    # the ranking is mean |SHAP| from explain's per-row output, recomputed here
    mb explain "$T/gbdt.h5" datasets/csv/breast_cancer.csv -o "$T/gbdt_shap.csv" >/dev/null
    top=$(python3 -c '
import csv, sys
r = list(csv.reader(open(sys.argv[1])))
h, rows = r[0], r[1:]
m = {h[j]: sum(abs(float(x[j])) for x in rows) / len(rows) for j in range(1, len(h) - 1)}
print(max(m, key=m.get))' "$T/gbdt_shap.csv")
    run grep -F "| 1 | $top |" "$T/gbdt.md"
    assert_success
}

@test "card: forest (regression): rmse, mae, r2 as evaluate" {
    card_for forest datasets/csv/diabetes.csv target
    run grep -E '^\| (rmse|mae|r2) \|' "$BATS_FILE_TMPDIR/forest.md"
    assert_equal "${#lines[@]}" 3
}

@test "card: cart (multiclass)" {
    card_for cart datasets/csv/iris.csv target
    run grep -F -- "- **Classes**: " "$BATS_FILE_TMPDIR/cart.md"
    assert_output --partial "setosa"
}

@test "card: mlp: permutation importance, as it has no SHAP form" {
    card_for mlp datasets/csv/credit_g.csv class
    run grep -c "permutation importance on the evaluation data" "$BATS_FILE_TMPDIR/mlp.md"
    assert_output 1
}

@test "card: a pipeline with transforms lists its steps and the levels it learnt" {
    card_for vote datasets/csv/vote.csv Class
    T="$BATS_FILE_TMPDIR"
    run grep -E '^\| 1 \| impute \| |^\| 2 \| onehot \| ' "$T/vote.md"
    assert_equal "${#lines[@]}" 2
    run grep -F "| physician-fee-freeze | categorical | " "$T/vote.md"
    assert_success
    assert_output --regexp "(n, y|y, n)"
}

@test "card --group: fairness by group as evaluate --group reports it" {
    T="$BATS_FILE_TMPDIR"
    run mb card "$T/mlp.h5" --data datasets/csv/credit_g.csv --group foreign_worker --boot 50
    assert_success
    assert_output --partial "## Fairness by foreign\_worker"
    dp=$(mb evaluate "$T/mlp.h5" datasets/csv/credit_g.csv --group foreign_worker --boot 50 --json |
         jq -r '.fairness.between_groups.demographic_parity_difference.value * 10000 | round / 10000')
    assert_output --regexp "\| demographic\\\\_parity\\\\_difference \| $(printf %.4f "$dp") \|"
}

@test "card --html: a standalone page, well-formed, inline SVG bars, texts escaped" {
    T="$BATS_FILE_TMPDIR"
    # a hostile column name and level must come out escaped
    python3 - "$T/evil.csv" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write('x,"<b>&name</b>",y\n')
    for i in range(60):
        f.write('%d,%s,%s\n' % (i, "<script>" if i % 2 else "ok", "a" if i < 30 else "b"))
PY
    mb fit "$T/evil.csv" --target y -m gbdt -p n_trees=5 -o "$T/evil.h5" >/dev/null 2>&1
    run mb card "$T/evil.h5" --data "$T/evil.csv" --html -o "$T/evil.html"
    assert_success
    run xmllint --noout "$T/evil.html"
    assert_success
    run python3 - "$T/evil.html" <<'PY'
import html.parser, sys
text = open(sys.argv[1], encoding="utf-8").read()
assert "<script>" not in text and "<b>" not in text
assert "&lt;script&gt;" in text and "&lt;b&gt;&amp;name&lt;/b&gt;" in text
assert "http" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")   # no external assets
class P(html.parser.HTMLParser):
    void = {"meta", "rect"}
    def __init__(s):
        super().__init__(); s.stack, s.svg, s.rect = [], 0, 0
    def handle_starttag(s, t, a):
        s.svg += t == "svg"
        s.rect += t == "rect"
        if t not in s.void: s.stack.append(t)
    def handle_startendtag(s, t, a):
        s.rect += t == "rect"
    def handle_endtag(s, t):
        assert s.stack and s.stack[-1] == t, (t, s.stack[-3:]); s.stack.pop()
p = P(); p.feed(text); p.close()
assert not p.stack and p.svg >= 2 and p.rect == p.svg, (p.stack, p.svg, p.rect)
print("svg", p.svg)
PY
    assert_success
}

@test "card without --data: no metrics, and it says so" {
    T="$BATS_FILE_TMPDIR"
    run mb card "$T/forest.h5"
    assert_success
    assert_output --partial "No evaluation data was given (--data TEST): this card has no metrics"
    refute_output --partial "### Metrics"
    assert_output --partial "## Drift baseline"
    assert_output --partial "$(sha256sum "$T/forest.h5" | cut -d' ' -f1)"
}

@test "card: errors name the problem; -o is checked as every output" {
    T="$BATS_FILE_TMPDIR"
    run mb card "$T/linear.h5" --group x
    assert_failure 2
    assert_output --partial "--group needs labelled data"
    run mb card "$T/linear.h5" --data datasets/csv/breast_cancer.csv --group nope
    assert_failure 1
    assert_output --partial "no group column 'nope'"
    run mb card "$T/linear.h5" --data datasets/csv/breast_cancer.csv -o datasets/csv/breast_cancer.csv
    assert_failure
    run mb card "$T/linear.h5" -o "$T/no/such/dir/card.md"
    assert_failure
    assert_output --partial "$T/no/such/dir"
    run mb card "$T/missing.h5"
    assert_failure 1
    assert_output --partial "missing.h5"
}
