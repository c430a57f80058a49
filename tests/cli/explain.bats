#!/usr/bin/env bats
# moonbench explain: SHAP contributions add up to the raw margin that
# `moonbench score` reports (logit of the probability for binary, the
# softmax inputs for multiclass, the value for regression); the summary's
# ranking is the mean |SHAP| recomputed from the CSV; pipelines report
# input columns; --permutation works for the MLP; errors name the problem.
load helpers
bats_require_minimum_version 1.5.0

setup_file() {
    cd "$ROOT"
    T="$BATS_FILE_TMPDIR"
    "$MB" fit datasets/breast_cancer.h5 -m gbdt -p n_trees=40 -p max_depth=4 -o "$T/bc.h5" >/dev/null 2>&1
    "$MB" fit datasets/iris.h5 -m gbdt -p n_trees=15 -o "$T/iris.h5" >/dev/null 2>&1
    "$MB" fit datasets/table/vote.h5 -m linear -t impute:strategy=most_frequent -t onehot -o "$T/vote.h5" >/dev/null 2>&1
    "$MB" fit datasets/auto_mpg.h5 -m linear -t impute:strategy=mean -t poly2:columns=weight,horsepower -t standardize -o "$T/mpg.h5" >/dev/null 2>&1
    "$MB" fit datasets/diabetes.h5 -m forest -p n_trees=10 -o "$T/dia.h5" >/dev/null 2>&1
    "$MB" fit datasets/table/credit_g.h5 -m mlp -p epochs=5 -o "$T/mlp.h5" >/dev/null 2>&1
}

# additivity CSV SCORES KIND [TOL]: every row's contributions + expected
# value against score's output (binary: logit of proba column 3, rows with
# 0.01 < p < 0.99, as score prints 6 digits; multiclass: softmax of the sums; regression: col 1)
additivity() {
    python3 - "$1" "$2" "$3" <<'PY'
import csv, math, sys
shap, scores, kind = sys.argv[1:4]
S = list(csv.reader(open(shap)))
P = list(csv.reader(open(scores)))
head, rows = S[0], S[1:]
assert len(rows) == len(P) - 1, (len(rows), len(P))
ev = [i for i, h in enumerate(head) if h.startswith("expected_value")]
worst, n = 0.0, 0
for r, p in zip(rows, P[1:]):
    v = [float(x) for x in r]
    sums, start = [], 1
    for e in ev:
        sums.append(sum(v[start:e + 1]))
        start = e + 1
    if kind == "binary":
        q = float(p[2])
        if not 0.01 < q < 0.99:  # score prints 6 digits
            continue
        worst = max(worst, abs(math.log(q / (1 - q)) - sums[0]))
    elif kind == "multiclass":
        m = max(sums)
        z = [math.exp(s - m) for s in sums]
        worst = max(worst, max(abs(zi / sum(z) - float(p[1 + k])) for k, zi in enumerate(z)))
    else:
        worst = max(worst, abs(sums[0] - float(p[0])) / max(1.0, abs(float(p[0]))))
    n += 1
print(n, worst)
sys.exit(0 if n > 5 and worst < 1e-4 else 1)
PY
}

@test "binary GBDT: contributions + expected value = logit of score's probability" {
    T="$BATS_FILE_TMPDIR"
    run mb explain "$T/bc.h5" datasets/breast_cancer.h5 -o "$T/bc_shap.csv"
    assert_success
    assert_output --partial "exact path-dependent tree SHAP of 569 rows"
    assert_output --partial "log-odds of class 1"
    mb score "$T/bc.h5" datasets/breast_cancer.h5 -o "$T/bc_scores.csv" 2>/dev/null
    run additivity "$T/bc_shap.csv" "$T/bc_scores.csv" binary
    assert_success
}

@test "multiclass GBDT: per-class contributions, softmax of the sums = score's probabilities" {
    T="$BATS_FILE_TMPDIR"
    run mb explain "$T/iris.h5" datasets/iris.h5 -o "$T/iris_shap.csv"
    assert_success
    assert_output --partial "expected value (versicolor)"
    run head -1 "$T/iris_shap.csv"
    assert_output --partial "petal width (cm):virginica"
    assert_output --partial "expected_value:setosa"
    mb score "$T/iris.h5" datasets/iris.h5 -o "$T/iris_scores.csv" 2>/dev/null
    run additivity "$T/iris_shap.csv" "$T/iris_scores.csv" multiclass
    assert_success
}

@test "regression forest and a linear pipeline with poly2: contributions add up to the prediction" {
    T="$BATS_FILE_TMPDIR"
    mb explain "$T/dia.h5" datasets/diabetes.h5 -o "$T/dia_shap.csv" >/dev/null
    mb score "$T/dia.h5" datasets/diabetes.h5 -o "$T/dia_scores.csv" 2>/dev/null
    run additivity "$T/dia_shap.csv" "$T/dia_scores.csv" regression
    assert_success
    run mb explain "$T/mpg.h5" datasets/auto_mpg.h5 -o "$T/mpg_shap.csv"
    assert_success
    assert_output --partial "exact linear SHAP"
    assert_output --partial "poly2 products split half and half"
    mb score "$T/mpg.h5" datasets/auto_mpg.h5 -o "$T/mpg_scores.csv" 2>/dev/null
    run additivity "$T/mpg_shap.csv" "$T/mpg_scores.csv" regression
    assert_success
}

@test "a one-hot pipeline reports one column per input column, and still adds up" {
    T="$BATS_FILE_TMPDIR"
    run mb explain "$T/vote.h5" datasets/table/vote.h5 -o "$T/vote_shap.csv"
    assert_success
    assert_output --partial "mean |SHAP| per input column"
    assert_output --partial "one-hot levels summed to their column"
    # row, the 16 votes, expected_value; no "col=level" columns
    run python3 -c "import csv,sys; h=next(csv.reader(open(sys.argv[1]))); print(len(h), any('=' in c for c in h))" "$T/vote_shap.csv"
    assert_output "18 False"
    mb score "$T/vote.h5" datasets/table/vote.h5 -o "$T/vote_scores.csv" 2>/dev/null
    run additivity "$T/vote_shap.csv" "$T/vote_scores.csv" binary
    assert_success
}

@test "the summary ranks columns by mean |SHAP| recomputed from the CSV, and --top cuts it" {
    T="$BATS_FILE_TMPDIR"
    run mb explain "$T/bc.h5" datasets/breast_cancer.h5 -o "$T/rank.csv" --top 3
    assert_success
    assert_output --partial "(27 more; --top to show them)"
    want=$(python3 - "$T/rank.csv" <<'PY'
import csv, sys
R = list(csv.reader(open(sys.argv[1])))
h, rows = R[0], R[1:]
m = [(sum(abs(float(r[j])) for r in rows) / len(rows), h[j]) for j in range(1, len(h) - 1)]
m.sort(key=lambda t: -t[0])
print("|".join(n for _, n in m[:3]))
PY
)
    got=$(printf '%s\n' "$output" | sed -n 's/^ *[0-9]*\. \(.*[^ ]\)  *[0-9.e-]*  .*$/\1/p' | paste -sd'|')
    [ "$got" = "$want" ] || { echo "summary: $got"; echo "from the CSV: $want"; false; }
    printf '%s\n' "$output" | grep -q "█"
}

@test "--rows A:B explains rows A..B-1 and numbers them from 0; HDF5 output" {
    T="$BATS_FILE_TMPDIR"
    mb explain "$T/bc.h5" datasets/breast_cancer.h5 --rows 10:15 -o "$T/few.csv" >/dev/null
    run cut -d, -f1 "$T/few.csv"
    assert_output "$(printf 'row\n10\n11\n12\n13\n14')"
    run mb explain "$T/bc.h5" datasets/breast_cancer.h5 --rows 10:15 -o "$T/few.h5"
    assert_success
    run mb inspect "$T/few.h5"
    assert_output --partial "5 rows x 32 columns"
}

@test "--permutation works for the MLP and is reproducible with a seed" {
    T="$BATS_FILE_TMPDIR"
    run mb explain "$T/mlp.h5" datasets/table/credit_g.h5 --permutation --repeats 2 --seed 3 --top 5
    assert_success
    assert_output --partial "permutation importance on 1000 rows, 2 repeats (seed 3): accuracy"
    first="$output"
    run mb explain "$T/mlp.h5" datasets/table/credit_g.h5 --permutation --repeats 2 --seed 3 --top 5
    [ "$output" = "$first" ]
}

@test "errors: SHAP of an MLP, bad rows, bad output, metric without --permutation, no target" {
    T="$BATS_FILE_TMPDIR"
    run mb explain "$T/mlp.h5" datasets/table/credit_g.h5
    assert_failure 1
    assert_output --partial "mlp.h5: exact SHAP needs a tree or linear model (this one is an MLP): use --permutation"
    run mb explain "$T/bc.h5" datasets/breast_cancer.h5 --rows 9:3
    assert_failure
    assert_output --partial "--rows 9:3 selects no rows of the 569"
    run mb explain "$T/bc.h5" datasets/breast_cancer.h5 -o "$T/x.txt"
    assert_failure 2
    assert_output --partial "write .csv or .h5"
    run mb explain "$T/bc.h5" datasets/breast_cancer.h5 --metric r2
    assert_failure 2
    run mb explain "$T/bc.h5" datasets/breast_cancer.h5 --permutation --metric r2
    assert_failure
    assert_output --partial "metric r2 does not fit a binary model"
    run mb explain "$T/iris.h5" datasets/breast_cancer.h5
    assert_failure
    run mb explain "$T/bc.h5" datasets/breast_cancer.h5 -o datasets/breast_cancer.h5
    assert_failure
}

# pdp_oracle DATA.h5 PDP.csv OUT.csv COL[,COL] PROBA_COL: checks the grid against
# scikit-learn's own (_grid_from_X, grid_resolution from the file's points)
# and writes OUT.csv: every row of DATA once per grid point with the
# column(s) set, for `moonbench score` (the brute force); then
# pdp_check compares the averages (and ICE curves) with those scores.
pdp_oracle() {
    /usr/bin/python3 - "$@" <<'PY'
import csv, sys, h5py, numpy as np
from sklearn.inspection._partial_dependence import _grid_from_X
data, pdp, out, cols, res = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(","), int(sys.argv[5])
f = h5py.File(data)
X = f["/X"][()].astype(np.float32)
names = [n.decode() if isinstance(n, bytes) else n for n in f["/X"].attrs["feature_names"]]
idx = [names.index(c) for c in cols]
_, values = _grid_from_X(X[:, idx].astype(np.float64), (0.05, 0.95), [False] * len(idx), res)
rows = [r for r in csv.DictReader(open(pdp)) if r["kind"] == "average"]
got = [np.array(sorted({float(r[c]) for r in rows})) for c in cols]
for c, g, v in zip(cols, got, values):
    assert len(g) == len(v) and np.allclose(g, v, rtol=1e-12, atol=0), (c, g[:4], v[:4])
with open(out, "w") as o:
    w = csv.writer(o)
    w.writerow(names)
    for r in rows:
        Z = X.copy()
        for c, j in zip(cols, idx):
            Z[:, j] = np.float32(float(r[c]))
        for z in Z:
            w.writerow(["%.9g" % v for v in z])
PY
}

# pdp_check PDP.csv SCORES.csv NROWS VALUE_COL [linear]: the average of each
# block of NROWS scores is the PD value; ICE lines are the scores themselves;
# with "linear", the PD's slope is the same between every two grid points.
pdp_check() {
    /usr/bin/python3 - "$@" <<'PY'
import csv, sys, numpy as np
pdp, scores, n, vc = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
linear = len(sys.argv) > 5
S = np.array([float(r[vc]) for r in list(csv.reader(open(scores)))[1:]])
rows = list(csv.DictReader(open(pdp)))
avg = np.array([float(r["value"]) for r in rows if r["kind"] == "average"])
want = S.reshape(len(avg), n).mean(axis=1)
assert np.allclose(avg, want, rtol=1e-5, atol=1e-6), (avg[:3], want[:3])
ice = [r for r in rows if r["kind"] == "individual"]
if ice:
    I = np.array([float(r["value"]) for r in ice]).reshape(n, len(avg))
    assert np.allclose(I, S.reshape(len(avg), n).T, rtol=1e-5, atol=1e-6)
    assert np.allclose(I.mean(axis=0), avg, rtol=1e-9)
if linear:
    g = np.array([float(r[list(r)[2]]) for r in rows if r["kind"] == "average"])
    slope = np.diff(avg) / np.diff(g)
    assert np.allclose(slope, slope[0], rtol=1e-4), slope
print("ok", len(avg), "points")
PY
}

@test "--pdp of a linear model: scikit-learn's grid, brute-force averages, a straight line" {
    cd "$ROOT"
    T="$BATS_FILE_TMPDIR"
    "$MB" fit datasets/diabetes.h5 -m linear -o "$T/dlin.h5" >/dev/null 2>&1
    run "$MB" explain "$T/dlin.h5" datasets/diabetes.h5 --pdp bmi --grid 20 -o "$T/pd.csv"
    assert_success
    assert_output --partial "partial dependence of the prediction on bmi (442 rows, 20 grid points)"
    pdp_oracle datasets/diabetes.h5 "$T/pd.csv" "$T/pd_rows.csv" bmi 20
    "$MB" score "$T/dlin.h5" "$T/pd_rows.csv" -o "$T/pd_scores.csv"
    run pdp_check "$T/pd.csv" "$T/pd_scores.csv" 442 0 linear
    assert_success
    # few distinct values: the grid is the values themselves (sex has 2)
    run "$MB" explain "$T/dlin.h5" datasets/diabetes.h5 --pdp sex
    assert_success
    assert_output --partial "(442 rows, 2 grid points)"
}

@test "--pdp --ice of a GBDT (probability of class 1) and a 2-D grid: brute force over the grid" {
    cd "$ROOT"
    T="$BATS_FILE_TMPDIR"
    run "$MB" explain "$T/bc.h5" datasets/breast_cancer.h5 --pdp "mean radius" --grid 8 --ice -o "$T/pd.csv"
    assert_success
    assert_output --partial "probability of class 1"
    pdp_oracle datasets/breast_cancer.h5 "$T/pd.csv" "$T/pd_rows.csv" "mean radius" 8
    "$MB" score "$T/bc.h5" "$T/pd_rows.csv" -o "$T/pd_scores.csv"
    run pdp_check "$T/pd.csv" "$T/pd_scores.csv" 569 2
    assert_success
    run "$MB" explain "$T/bc.h5" datasets/breast_cancer.h5 --pdp "mean radius,worst texture" --grid 4 -o "$T/pd2.csv"
    assert_success
    assert_output --partial "(569 rows, 16 grid points)"
    pdp_oracle datasets/breast_cancer.h5 "$T/pd2.csv" "$T/pd2_rows.csv" "mean radius,worst texture" 4
    "$MB" score "$T/bc.h5" "$T/pd2_rows.csv" -o "$T/pd2_scores.csv"
    run pdp_check "$T/pd2.csv" "$T/pd2_scores.csv" 569 2
    assert_success
}

@test "--pdp errors name the problem" {
    cd "$ROOT"
    T="$BATS_FILE_TMPDIR"
    run "$MB" explain "$T/bc.h5" datasets/breast_cancer.h5 --pdp nosuch
    assert_failure 1
    assert_output --partial "no column 'nosuch' in the data"
    run "$MB" explain "$T/bc.h5" datasets/breast_cancer.h5 --pdp "a,b,c"
    assert_failure 2
    run "$MB" explain "$T/bc.h5" datasets/breast_cancer.h5 --pdp "mean radius" --grid 1
    assert_failure 2
    run "$MB" explain "$T/bc.h5" datasets/breast_cancer.h5 --ice
    assert_failure 2
    assert_output --partial "--ice is an option of --pdp"
    run "$MB" explain "$T/bc.h5" datasets/breast_cancer.h5 --pdp "mean radius" -o "$T/x.h5"
    assert_failure 2
}
