#!/usr/bin/python3
"""tests/bench/fastapi_peer.py: the seed's FastAPI service, the peer of `moonbench serve` in
tests/bench/serve.sh: FastAPI on uvicorn (Debian's python3-fastapi, python3-uvicorn) serving
the equivalent XGBoost model (deploy_data.py xgb) or the PyTorch MLP (deploy_data.py torch)
with the seed's /predict contract:

  POST /predict {"instances": [[...], ...]} -> {"predictions": [...], "probabilities": [[...]]}

  fastapi_peer.py xgb|torch MODEL PORT [WORKERS]

The model is loaded once per process; a request is parsed by pydantic, scored as one batch
(xgboost's inplace_predict, or torch under no_grad on the saved mean/std) and answered as JSON,
as the seed's example does. WORKERS (default 1, uvicorn's default) are uvicorn worker processes.
"""
import os
import sys
from typing import List, Optional

import numpy as np
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

KIND = os.environ.get("MB_PEER_KIND", "xgb")
MODEL = os.environ.get("MB_PEER_MODEL", "")


class Instances(BaseModel):
    instances: List[List[Optional[float]]]


def load_xgb(path):
    import xgboost
    booster = xgboost.Booster()
    booster.load_model(path)
    booster.set_param({"nthread": 1})

    def predict(x):
        p1 = booster.inplace_predict(x)  # binary:logistic: P(class 1)
        proba = np.stack([1 - p1, p1], axis=1)
        return proba
    return predict


def load_torch(path):
    import torch
    torch.set_num_threads(1)
    saved = torch.load(path)
    net = torch.nn.Sequential(torch.nn.Linear(saved["n_in"], 256), torch.nn.ReLU(),
                              torch.nn.Linear(256, 128), torch.nn.ReLU(), torch.nn.Linear(128, saved["n_out"]))
    net.load_state_dict(saved["state"])
    net.eval()
    mean, std = saved["mean"], saved["std"]

    def predict(x):
        with torch.no_grad():
            t = (torch.from_numpy(x) - mean) / std
            return torch.softmax(net(t.float()), dim=1).numpy()
    return predict


app = FastAPI()
predict_fn = None


@app.on_event("startup")
def startup():
    global predict_fn
    predict_fn = (load_xgb if KIND == "xgb" else load_torch)(MODEL)


@app.post("/predict")
def predict(body: Instances):
    x = np.array([[np.nan if v is None else v for v in r] for r in body.instances], dtype=np.float32)
    if x.ndim != 2 or x.shape[0] == 0:
        raise HTTPException(status_code=422, detail="instances must be a non-empty list of rows")
    proba = predict_fn(x)
    return {"predictions": [str(int(c)) for c in proba.argmax(axis=1)],
            "probabilities": proba.astype(float).tolist()}


if __name__ == "__main__":
    if len(sys.argv) not in (4, 5) or sys.argv[1] not in ("xgb", "torch"):
        sys.exit(__doc__)
    os.environ["MB_PEER_KIND"], os.environ["MB_PEER_MODEL"] = sys.argv[1], sys.argv[2]
    KIND, MODEL = sys.argv[1], sys.argv[2]
    import uvicorn
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    workers = int(sys.argv[4]) if len(sys.argv) == 5 else 1
    uvicorn.run("fastapi_peer:app", host="127.0.0.1", port=int(sys.argv[3]), workers=workers,
                log_level="warning", access_log=False)
