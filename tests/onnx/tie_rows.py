#!/usr/bin/python3
"""Rows that sit exactly on a tree ensemble's split thresholds, and one
float32 step either side, for a bundle fitted without transforms (so the
model's features are the inputs).

usage: tie_rows.py MODEL_C_DIR BASE.csv OUT.csv
Reads the thresholds and features from the C export's if statements (model.c),
the header and first row from BASE.csv (a CSV with every input column),
and writes, per split node, three copies of that row with the node's
feature at nextafter(t, -inf), t and nextafter(t, +inf) in float32
(printed with 9 digits, which read back as the same float32).
"""
import re
import struct
import sys

src = open(f"{sys.argv[1]}/model.c").read()


inputs = re.findall(r'"((?:[^"\\]|\\.)*)"', re.search(r"mb_model_inputs\[MB_MODEL_NINPUTS\] = \{(.*?)\};",
                                                       src, re.S).group(1))
# the splits, as the C export writes them: if (f[J] <= T) or if (!(f[J] > T))
splits = re.findall(r"if \(!?\(?f\[(\d+)\] (?:<=|>) (-?0x[0-9a-fA-F.]+p[-+]\d+)f\)", src)
feature = [int(j) for j, _ in splits]
threshold = [float.fromhex(t) for _, t in splits]
if not splits:
    sys.exit(f"tie_rows.py: no splits found in {sys.argv[1]}/model.c")


def f32_step(x, d):
    (b,) = struct.unpack("<i", struct.pack("<f", x))
    if x == 0:
        return struct.unpack("<f", struct.pack("<i", 1 if d > 0 else -2147483647))[0]
    b += d if x > 0 else -d
    return struct.unpack("<f", struct.pack("<i", b))[0]


with open(sys.argv[2]) as f:
    header = f.readline().rstrip("\n")
    base = f.readline().rstrip("\n").split(",")
cols = header.split(",")
out = [header]
for fe, t in zip(feature, threshold):
    if fe < 0:
        continue
    j = cols.index(inputs[fe])
    for v in (f32_step(t, -1), t, f32_step(t, 1)):
        row = list(base)
        row[j] = "%.9g" % v
        out.append(",".join(row))
open(sys.argv[3], "w").write("\n".join(out) + "\n")
print(f"{len(out) - 1} rows")
