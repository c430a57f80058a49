#!/usr/bin/python3
"""Check ONNX files with the reference checker of Debian's python3-onnx,
with full checking (strict shape and type inference). The model is checked
in memory: onnx 1.12's check_model(PATH, full_check=True) would rewrite PATH.

usage: /usr/bin/python3 check_model.py MODEL.onnx...   exit 0 when all pass
"""
import sys

import onnx

bad = 0
for path in sys.argv[1:]:
    try:
        model = onnx.load(path)
        onnx.checker.check_model(model, full_check=True)
        print(f"ok {path}: IR {model.ir_version}, opsets "
              + ", ".join(f"{o.domain or 'ai.onnx'} {o.version}" for o in model.opset_import))
    except Exception as e:  # the checker raises several types
        bad += 1
        print(f"FAIL {path}: {e}", file=sys.stderr)
sys.exit(1 if bad or len(sys.argv) < 2 else 0)
