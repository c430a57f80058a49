#!/usr/bin/python3
"""tests/bench/worker_drive.py: the load and the measuring of tests/bench/worker.sh (the Redis
Streams worker against tests/bench/redis_peer.py); Debian's python3-redis, h5py, numpy.

  worker_drive.py feed TEST.h5 N STREAM          RESP for `redis-cli --pipe` on stdout: N XADDs
                                                 of the test rows in turn, fields by feature name
                                                 (values as %.9g, exact for float32) and 'row'
                                                 (the row's index; not a feature: both ignore it)
  worker_drive.py drain PORT OUT N TIMEOUT       wait until OUT holds N entries; one JSON line:
                                                 entries/s between the first and the last output
                                                 entry (their stream ids are Redis's ms clock),
                                                 so start-up (loading the model, importing
                                                 xgboost) is not counted for either side
  worker_drive.py ready PORT STREAM GROUP N      wait until the group has N consumers (each has
                                                 read once)
  worker_drive.py pace PORT STREAM OUT RATE SECONDS TEST.h5
                                                 open-loop producer: XADD at RATE entries/s for
                                                 SECONDS, noting the monotonic time before each;
                                                 a reader process blocks on OUT (XREAD) and notes
                                                 when each output arrives. Latency = arrival -
                                                 send, matched by the input id. One JSON line
                                                 (p50/p99/max ms; 'missing' outputs after 10 s)
  worker_drive.py check PORT STREAM OUT_MB OUT_PEER SCORES.csv SAMPLE
                                                 the first SAMPLE entries of STREAM: moonbench's
                                                 output equals `moonbench score` (SCORES.csv) on
                                                 the same rows (class, P within 1e-5), and the
                                                 peer's class agrees on >= 95% (the two models
                                                 are trained apart); exits 1 otherwise
"""
import csv
import json
import os
import statistics
import sys
import time

import redis


def features(test):
    # imported here: 'ready' and 'drain' start fast (worker.sh samples CPU times right after 'ready')
    import h5py
    import numpy as np
    with h5py.File(test, "r") as h:
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in h["X"].attrs["feature_names"]]
        return names, np.asarray(h["X"][...], dtype=np.float32)


def resp(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def entry_fields(names, X, i):
    row = X[i % X.shape[0]]
    f = {"row": str(i % X.shape[0])}
    for n, v in zip(names, row.tolist()):
        f[n] = "%.9g" % v
    return f


def feed(test, n, stream):
    names, X = features(test)
    w = sys.stdout.buffer
    for i in range(int(n)):
        args = ["XADD", stream, "*"]
        for k, v in entry_fields(names, X, i).items():
            args += [k, v]
        w.write(resp(args))
    w.flush()


def ms_of(eid):
    return int(eid.split(b"-")[0])


def drain(port, out, n, timeout):
    r = redis.Redis(host="127.0.0.1", port=int(port))
    n, t0 = int(n), time.monotonic()
    while r.xlen(out) < n:
        if time.monotonic() - t0 > float(timeout):
            sys.exit("worker_drive.py: %s holds %d of %d entries after %s s" % (out, r.xlen(out), n, timeout))
        time.sleep(0.02)
    got = r.xlen(out)
    first, last = r.xrange(out, count=1)[0][0], r.xrevrange(out, count=1)[0][0]
    secs = max(ms_of(last) - ms_of(first), 1) / 1e3
    print(json.dumps({"entries": n, "outputs": got, "seconds": secs, "entries_per_s": (n - 1) / secs}))


def ready(port, stream, group, n):
    r = redis.Redis(host="127.0.0.1", port=int(port))
    t0 = time.monotonic()
    while len(r.xinfo_consumers(stream, group)) < int(n):
        if time.monotonic() - t0 > 60:
            sys.exit("worker_drive.py: the consumers of group %s did not start reading" % group)
        time.sleep(0.05)


def reader(port, out, total, fd):
    r = redis.Redis(host="127.0.0.1", port=int(port))
    seen, last, quiet = {}, b"0-0", time.monotonic()
    while len(seen) < total and time.monotonic() - quiet < 10:
        got = r.xread({out: last}, count=1000, block=500)
        t = time.monotonic_ns()
        for _, entries in got or []:
            for eid, f in entries:
                seen[f[b"id"].decode()] = t
                last = eid
            quiet = time.monotonic()
    os.write(fd, json.dumps(seen).encode())
    os.close(fd)


def pace(port, stream, out, rate, seconds, test):
    names, X = features(test)
    rate, total = float(rate), int(float(rate) * float(seconds))
    rfd, wfd = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(rfd)
        reader(port, out, total, wfd)
        os._exit(0)
    os.close(wfd)
    r = redis.Redis(host="127.0.0.1", port=int(port))
    fields = [entry_fields(names, X, i) for i in range(total)]
    time.sleep(0.5)  # the reader is blocking on OUT
    sent, t0 = {}, time.monotonic_ns()
    for i in range(total):
        due = t0 + int(i * 1e9 / rate)
        now = time.monotonic_ns()
        if due > now:
            time.sleep((due - now) / 1e9)
        t = time.monotonic_ns()
        sent[r.xadd(stream, fields[i]).decode()] = t
    span = (time.monotonic_ns() - t0) / 1e9
    chunks = []
    while True:
        b = os.read(rfd, 1 << 20)
        if not b:
            break
        chunks.append(b)
    os.waitpid(child, 0)
    seen = json.loads(b"".join(chunks))
    lat = sorted((seen[i] - t) / 1e6 for i, t in sent.items() if i in seen)
    if not lat:
        sys.exit("worker_drive.py: no output arrived on %s" % out)
    q = statistics.quantiles(lat, n=100, method="inclusive")
    print(json.dumps({"paced": True, "rate": rate, "achieved_rate": total / span, "entries": total,
                      "missing": total - len(lat), "p50_ms": q[49], "p99_ms": q[98], "max_ms": lat[-1]}))


def outputs(r, out):
    d = {}
    for eid, f in r.xrange(out):
        d[f[b"id"]] = {k.decode(): v.decode() for k, v in f.items()}
    return d


def check(port, stream, out_mb, out_peer, scores, sample):
    r = redis.Redis(host="127.0.0.1", port=int(port))
    ref = list(csv.DictReader(open(scores)))
    mb, peer = outputs(r, out_mb), outputs(r, out_peer)
    n = same = 0
    for eid, f in r.xrange(stream, count=int(sample)):
        row = ref[int(f[b"row"])]
        m, p = mb.get(eid), peer.get(eid)
        if m is None or p is None:
            sys.exit("worker_drive.py: entry %s has no output (moonbench %s, peer %s)" % (eid, m, p))
        if m["prediction"] != row["prediction"]:
            sys.exit("worker_drive.py: entry %s (row %s): worker says %s, moonbench score %s" % (
                eid, f[b"row"], m["prediction"], row["prediction"]))
        for k in m:
            if k.startswith("proba_") and abs(float(m[k]) - float(row[k])) > 1e-5:
                sys.exit("worker_drive.py: entry %s: %s %s, moonbench score %s" % (eid, k, m[k], row[k]))
        n += 1
        same += m["prediction"] == p["prediction"]
    print("worker_drive.py: %d entries: the worker's predictions equal moonbench score's; the XGBoost "
          "peer's class agrees on %.2f%%" % (n, 100 * same / n), file=sys.stderr)
    sys.exit(0 if n and same >= 0.95 * n else 1)


if __name__ == "__main__":
    cmds = {"feed": (feed, 3), "drain": (drain, 4), "ready": (ready, 4), "pace": (pace, 6), "check": (check, 6)}
    a = sys.argv[1:]
    if not a or a[0] not in cmds or len(a) - 1 != cmds[a[0]][1]:
        sys.exit(__doc__)
    cmds[a[0]][0](*a[1:])
