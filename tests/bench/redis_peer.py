#!/usr/bin/python3
"""tests/bench/redis_peer.py: the peer of `moonbench worker` in tests/bench/worker.sh, a Redis
Streams consumer-group loop in Python (Debian's python3-redis, python3-xgboost, numpy) doing
what the worker does with the equivalent XGBoost model (deploy_data.py xgb: the same data, the
same 200 trees of depth 6), on one thread per consumer like the worker:

  redis_peer.py PORT STREAM GROUP CONSUMER OUT MODEL.json BATCH TEST.h5

TEST.h5 only names the features (/X's feature_names), which are the entries' field names. Each
loop: XREADGROUP COUNT BATCH BLOCK 1000 (new entries), the batch's features as one float32
matrix, one Booster.inplace_predict on it, the XADDs of the outputs pipelined (fields id,
prediction, proba_0, proba_1, as the worker writes them), then, once Redis has answered them,
one XACK of the batch: the worker's at-least-once order, three round trips a batch like it.
An entry without a feature field is dead-lettered as the worker does (STREAM:dead). Stops on
SIGTERM/SIGINT after the batch in hand. On start, like the worker, it first finishes its own
pending entries and claims idle ones (XAUTOCLAIM); it prints 'ready' on stderr once the model is loaded.
"""
import signal
import sys

import h5py
import numpy as np
import redis
import xgboost as xgb

stop = False


def on_signal(sig, frame):
    global stop
    stop = True


def main(port, stream, group, consumer, out, model, batch, test):
    with h5py.File(test, "r") as h:
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in h["X"].attrs["feature_names"]]
    keys = [n.encode() for n in names]
    bst = xgb.Booster()
    bst.load_model(model)
    bst.set_param({"nthread": 1})  # one thread per consumer, as the worker; more consumers use more cores
    r = redis.Redis(host="127.0.0.1", port=int(port))
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    batch = int(batch)
    X = np.empty((batch, len(keys)), dtype=np.float32)
    # the worker's start: its own pending entries first, then a claim (which also makes the
    # consumer known to the group at once, as the worker's XAUTOCLAIM does)
    r.xautoclaim(stream, group, consumer, 30000, "0-0", count=batch)
    print("redis_peer.py: ready", file=sys.stderr, flush=True)
    start = "0"
    while not stop:
        got = r.xreadgroup(group, consumer, {stream: start}, count=batch, block=None if start == "0" else 1000)
        if start == "0" and not (got and got[0][1]):
            start = ">"
            continue
        if not got:
            continue
        entries = got[0][1]
        ok, dead = [], []
        for eid, fields in entries:
            try:
                X[len(ok)] = [float(fields[k]) for k in keys]
                ok.append(eid)
            except (KeyError, ValueError) as e:
                dead.append((eid, "field %s: %s" % (e, type(e).__name__)))
        p = bst.inplace_predict(X[:len(ok)]) if ok else []
        pipe = r.pipeline(transaction=False)
        for eid, p1 in zip(ok, p):
            p1 = float(p1)
            pipe.xadd(out, {"id": eid, "prediction": int(p1 > 0.5), "proba_0": "%.6g" % (1 - p1),
                            "proba_1": "%.6g" % p1})
        for eid, why in dead:
            pipe.xadd(stream + ":dead", {"id": eid, "reason": why})
        pipe.execute()  # raises on an error reply: the batch stays pending
        r.xack(stream, group, *[eid for eid, _ in entries])


if __name__ == "__main__":
    if len(sys.argv) != 9:
        sys.exit(__doc__)
    main(*sys.argv[1:])
