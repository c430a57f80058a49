#!/usr/bin/python3
"""tests/bench/deploy_data.py: data and peer models for the deployment benchmarks
(tests/bench/serve.sh, score.sh, worker.sh, export_c.sh).

  deploy_data.py split SRC.h5 TRAIN.h5 TEST.h5   the bench layout's split rule (last n_test
                                                rows = test) as two files in the same layout
  deploy_data.py xgb TRAIN.h5 OUT.json           peers.py gbdt_xgboost's model, saved as a Booster
  deploy_data.py torch TRAIN.h5 OUT.pt           peers.py mlp_torch's MLP 256-128 (5 epochs of
                                                Adam, inputs standardised), saved with its mean/std
  deploy_data.py rows TEST.h5 N OUT.json         the first N test rows as a JSON list of lists
  deploy_data.py raw TEST.h5 OUT.f32             /X as raw little-endian float32, row-major (for
                                                ort_peer.mjs, which has no HDF5 reader)

Everything runs on Debian's python3 (h5py, xgboost, torch). Models are trained with the peers'
settings (../shared/bench/peers.py) on 2 threads; they are peers for serving speed, so only
their own predictions are checked (by the benchmark scripts), not their equality with
moonbench's independently trained models.
"""
import json
import os
import sys

import h5py
import numpy as np

THREADS = 2


def split(src, train, test):
    with h5py.File(src, "r") as h:
        X, y = h["X"][...], h["y"][...]
        names = h["X"].attrs["feature_names"]
        attrs = dict(h.attrs)
    n_train = int(attrs["n_train"])
    for path, sl in ((train, slice(0, n_train)), (test, slice(n_train, None))):
        with h5py.File(path + ".tmp", "w") as o:
            for k, v in attrs.items():
                o.attrs[k] = v
            o.attrs["n_train"] = n_train if path == train else 0
            o.attrs["n_test"] = 0 if path == train else X.shape[0] - n_train
            d = o.create_dataset("X", data=X[sl], chunks=(min(16384, X[sl].shape[0]), X.shape[1]))
            d.attrs["feature_names"] = names
            o.create_dataset("y", data=y[sl], chunks=(min(65536, y[sl].shape[0]),))
        os.replace(path + ".tmp", path)


def load(path):
    with h5py.File(path, "r") as h:
        return np.ascontiguousarray(h["X"][...]), h["y"][...]


def xgb(train, out):
    from xgboost import XGBClassifier
    X, y = load(train)
    m = XGBClassifier(tree_method="hist", n_estimators=200, max_depth=6, learning_rate=0.1,
                      max_bin=256, n_jobs=THREADS, random_state=0)
    m.fit(X, y)
    m.get_booster().save_model(out)


def torch_mlp(train, out):
    import torch
    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    X, y = load(train)
    mean, std = X.mean(axis=0), X.std(axis=0)
    std[std == 0] = 1
    Xt = torch.from_numpy((X - mean) / std)
    yt = torch.from_numpy(y.astype(np.int64))
    k = int(y.max()) + 1
    net = torch.nn.Sequential(torch.nn.Linear(X.shape[1], 256), torch.nn.ReLU(),
                              torch.nn.Linear(256, 128), torch.nn.ReLU(), torch.nn.Linear(128, k))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    lossf = torch.nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(0)
    for _ in range(5):
        perm = torch.randperm(Xt.shape[0], generator=g)
        for i in range(0, Xt.shape[0], 256):
            idx = perm[i:i + 256]
            opt.zero_grad(set_to_none=True)
            lossf(net(Xt[idx]), yt[idx]).backward()
            opt.step()
    net.eval()
    torch.save({"state": net.state_dict(), "mean": torch.from_numpy(mean),
                "std": torch.from_numpy(std), "n_in": X.shape[1], "n_out": k}, out)


def rows(test, n, out):
    X, _ = load(test)
    with open(out, "w") as f:
        json.dump([[float(v) for v in r] for r in X[:int(n)]], f)


def raw(test, out):
    X, _ = load(test)
    X.astype("<f4").tofile(out)


if __name__ == "__main__":
    cmds = {"split": (split, 3), "xgb": (xgb, 2), "torch": (torch_mlp, 2), "rows": (rows, 3), "raw": (raw, 2)}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds or len(sys.argv) != cmds[sys.argv[1]][1] + 2:
        sys.exit(__doc__)
    cmds[sys.argv[1]][0](*sys.argv[2:])
