"""tests/bench/explain_peer.py: the XGBoost half of tests/bench/explain.sh.
  fit DATA.h5 MODEL.json TRAIN_ROWS   XGBClassifier(hist, 200 trees, depth 6, lr 0.1, 256 bins) on the first rows
  shap DATA.h5 MODEL.json FIRST ROWS  Booster.predict(pred_contribs=True), nthread=2, on ROWS rows from FIRST;
                                      one JSON line: rows, seconds (the predict call only), rows_per_s
"""
import json, sys, time
import h5py, numpy as np, xgboost as xgb

mode, data, model = sys.argv[1:4]
with h5py.File(data, "r") as h:
    if mode == "fit":
        n = int(sys.argv[4])
        X, y = h["X"][:n], h["y"][:n]
        m = xgb.XGBClassifier(tree_method="hist", n_estimators=200, max_depth=6, learning_rate=0.1,
                              max_bin=256, n_jobs=2, random_state=0)
        m.fit(np.ascontiguousarray(X), y)
        m.get_booster().save_model(model)
        sys.exit(0)
    first, n = int(sys.argv[4]), int(sys.argv[5])
    X = np.ascontiguousarray(h["X"][first:first + n])
b = xgb.Booster(model_file=model)
b.set_param({"nthread": 2})
d = xgb.DMatrix(X, nthread=2)
t0 = time.perf_counter()
phi = b.predict(d, pred_contribs=True)
s = time.perf_counter() - t0
assert phi.shape == (n, X.shape[1] + 1)
print(json.dumps({"rows": n, "seconds": round(s, 6), "rows_per_s": round(n / s, 1),
                  "library": "xgboost " + xgb.__version__}))
