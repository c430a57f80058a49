#!/usr/bin/python3
"""Compare an exported model's predictions with `moonbench predict`'s.

usage: compare.py REFERENCE.csv CANDIDATE.csv [TOLERANCE]
REFERENCE: predict's CSV (header "prediction[,proba_CLASS...]", a class
name or a value per row). CANDIDATE: no header, "label,p_0,..." (class
index) or a value per row. Fails (exit 1) unless every label is the same
and every number is within TOLERANCE (default 1e-5, absolute); prints the
largest difference either way.
"""
import math
import sys

ref_path, cand_path = sys.argv[1], sys.argv[2]
tol = float(sys.argv[3]) if len(sys.argv) > 3 else 1e-5
with open(ref_path) as f:
    header = f.readline().strip().split(",")
    ref = [l.strip().split(",") for l in f if l.strip()]
with open(cand_path) as f:
    cand = [l.strip().split(",") for l in f if l.strip()]
classes = [h[len("proba_"):] for h in header[1:]]
if len(ref) != len(cand):
    sys.exit(f"compare: {len(ref)} reference rows, {len(cand)} candidate rows")
worst, labels = 0.0, 0
for i, (r, c) in enumerate(zip(ref, cand)):
    if len(r) != len(c):
        sys.exit(f"compare: row {i + 1}: {len(r)} reference fields, {len(c)} candidate fields")
    if classes:
        if classes[int(c[0])] != r[0]:
            labels += 1
            print(f"row {i + 1}: label {classes[int(c[0])]}, reference {r[0]}", file=sys.stderr)
        pairs = zip(r[1:], c[1:])
    else:
        pairs = [(r[0], c[0])]
    for a, b in pairs:
        a, b = float(a), float(b)
        d = 0.0 if (math.isnan(a) and math.isnan(b)) or a == b else abs(a - b)
        worst = max(worst, d if not math.isnan(d) else math.inf)
print(f"{len(ref)} rows, max abs difference {worst:.3g}, {labels} labels differ")
sys.exit(0 if worst <= tol and labels == 0 else 1)
