#!/usr/bin/python3
"""JSON-lines plumbing for tests/bench/run.sh (standard library only).

  results.py tag BENCH TOOL ROUND < LINE     add bench/tool/round to one JSON line
  results.py hyperfine FILE.json ROUND       a hyperfine --export-json result as one line
  results.py times ROUND CMD SECONDS...      wall times measured by run.sh as one line
  results.py machine                         the machine and versions, one line
  results.py report RESULTS.jsonl            medians, ratios and goals: prints the table
                                             and appends the summary lines to the file

Ratios are moonbench / peer, medians over the rounds of the same run: < 1
means moonbench is faster.
"""
import json
import os
import platform
import statistics
import subprocess
import sys
import time


def out(d):
    print(json.dumps(d))


def tag(bench, tool, rnd):
    d = json.loads(sys.stdin.read())
    d = {"bench": bench, "tool": tool, "round": int(rnd), **d}
    d.setdefault("timestamp", time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    out(d)


def process_line(rnd, cmd, times, user=None, system=None, extra=None):
    d = {"bench": "csv_import", "tool": "moonbench", "round": int(rnd), "command": cmd,
         "runs": len(times), "times": [round(t, 4) for t in times],
         "import_seconds": round(statistics.median(times), 4),
         "min_seconds": round(min(times), 4), "max_seconds": round(max(times), 4),
         "loadavg_1m_at_start": None, "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    rss = os.environ.get("MB_IMPORT_RSS_KIB")
    d["peak_rss_mb"] = round(int(rss) / 1024, 1) if rss and rss.isdigit() else None
    if user is not None:
        d["user_seconds"] = round(user, 4)
        d["system_seconds"] = round(system, 4)
    d.update(extra or {})
    return d


def hyperfine(path, rnd):
    r = json.load(open(path))["results"][0]
    d = process_line(rnd, r["command"], r["times"], r.get("user"), r.get("system"),
                     {"timer": "hyperfine -N", "loadavg_1m_at_start": _load()})
    out(d)


def times(rnd, cmd, *secs):
    out(process_line(rnd, cmd, [float(s) for s in secs],
                     extra={"timer": "bash EPOCHREALTIME", "loadavg_1m_at_start": _load()}))


def _load():
    return round(os.getloadavg()[0], 2)


def _run(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True).stdout.strip()
    except OSError:
        return None


def machine():
    model = None
    for line in (_run("lscpu") or "").splitlines():
        if line.startswith("Model name:"):
            model = line.split(":", 1)[1].strip()
    mods = {}
    for m in ("numpy", "h5py", "pandas", "tables", "sklearn"):
        try:
            mods[m] = __import__(m).__version__
        except Exception:  # noqa: BLE001 - a missing peer is reported, not fatal here
            mods[m] = None
    try:
        import h5py
        mods["hdf5 (h5py)"] = h5py.version.hdf5_version
    except Exception:  # noqa: BLE001
        pass
    commit = _run("git", "rev-parse", "--short", "HEAD")
    dirty = bool(_run("git", "status", "--porcelain", "--", "src", "plugins", "Makefile"))
    out({"bench": "machine", "cpu_model": model, "nproc": os.cpu_count(),
         "kernel": platform.release(), "python": platform.python_version(), "versions": mods,
         "hdf5_lib": _run("dpkg-query", "-W", "-f=${Version}", "libhdf5-dev"),
         "hyperfine": _run("hyperfine", "--version"),
         "git_commit": commit, "git_dirty_src": dirty,
         "thp": _read("/sys/kernel/mm/transparent_hugepage/enabled"),
         "loadavg_1m_at_start": _load(), "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z")})


def _read(p):
    try:
        return open(p).read().strip()
    except OSError:
        return None


def _med(lines, key):
    v = [d[key] for d in lines if isinstance(d.get(key), (int, float))]
    return (statistics.median(v), min(v), max(v), len(v)) if v else None


def report(path):
    rows = [json.loads(l) for l in open(path) if l.strip()]
    rows = [d for d in rows if d.get("bench") != "summary"]
    pick = lambda b, t: [d for d in rows if d.get("bench") == b and d.get("tool") == t]
    h5_mb, h5_py = pick("h5_read", "moonbench"), pick("h5_read", "h5py")
    csv_mb, csv_pd = pick("csv_import", "moonbench"), pick("csv_import", "pandas")
    specs = [
        # name, moonbench lines, key, peer lines, key, peer name, goal (ratio <=)
        ("h5 read cold", h5_mb, "first_read_seconds", h5_py, "first_read_seconds", "h5py", 1.0),
        ("h5 read warm", h5_mb, "second_read_seconds", h5_py, "second_read_seconds", "h5py", 1.0),
        ("csv import", csv_mb, "import_seconds", csv_pd, "import_fixed_seconds",
         "pandas read_csv+to_hdf(fixed)", 0.5),
        ("csv import", csv_mb, "import_seconds", csv_pd, "import_table_seconds",
         "pandas read_csv+to_hdf(table)", 0.5),
    ]
    summaries = []
    print()
    print("moonbench / peer, medians of the rounds of this run (< 1: moonbench faster)")
    print()
    w = max(len(s[0]) + len(s[5]) for s in specs) + 8
    for name, ml, mk, pl, pk, peer, goal in specs:
        m, p = _med(ml, mk), _med(pl, pk)
        if not m or not p:
            print(f"{name}: no data")
            continue
        ratio = m[0] / p[0]
        ok = ratio <= goal
        head = f"{name}: {ratio:.2f}x {peer}"
        print(f"{head:<{w}} (goal <= {goal:.1f}) {'PASS' if ok else 'FAIL'}   "
              f"moonbench {m[0]:.4f} s [{m[1]:.4f}-{m[2]:.4f}], peer {p[0]:.4f} s "
              f"[{p[1]:.4f}-{p[2]:.4f}], {m[3]}/{p[3]} rounds; "
              f"{'moonbench' if ratio < 1 else peer.split()[0]} {max(ratio, 1 / ratio):.1f}x faster")
        summaries.append({"bench": "summary", "name": name, "peer": peer,
                          "moonbench_field": mk, "peer_field": pk,
                          "moonbench_seconds": round(m[0], 4), "peer_seconds": round(p[0], 4),
                          "moonbench_range": [m[1], m[2]], "peer_range": [p[1], p[2]],
                          "rounds": [m[3], p[3]], "ratio": round(ratio, 3),
                          "speedup": round(1 / ratio, 2) if ratio else None,
                          "goal_ratio_max": goal, "pass": ok})
    print()
    print("h5 read: bench_read times mb_open of clf_1m.h5:/X (the /X dataset alone, into a frame);")
    print("  h5py reads /X with read_direct. Bytes and MB/s are /X (112,000,000 B) for both.")
    print("  cold = first read after posix_fadvise(DONTNEED) on the file; warm = median of 5 reads.")
    print("csv import: moonbench is a whole process (start, parse, write, fsync);")
    print("  pandas is in-process (interpreter start and imports not timed, no fsync).")
    if csv_pd:
        fx = _med(csv_pd, "fsync_fixed_seconds")
        rd = _med(csv_pd, "read_csv_seconds")
        print(f"  pandas read_csv alone: {rd[0]:.3f} s; fsync of its fixed output (untimed): "
              f"{fx[0]:.3f} s.")
    # Other processes' CPU during the peer tasks (over 5% of the machine, as
    # run_peers.sh rejects), and the load before the run started (during the
    # run the load average counts the benchmark itself).
    ncpu = os.cpu_count() or 1
    busy = [d for d in rows if (d.get("other_cpu_seconds") or 0)
            > 0.05 * (d.get("task_wall_seconds") or 1e9) * ncpu]
    start = [d for d in rows if d.get("bench") == "machine"]
    load0 = start[0].get("loadavg_1m_at_start") if start else None
    if busy:
        print(f"WARNING: other processes used over 5% of the CPUs during {len(busy)} peer "
              f"task(s) (other_cpu_seconds); figures may be noisy.")
    if load0 is not None and load0 > 0.5 * ncpu:
        print(f"WARNING: load average {load0:.2f} on {ncpu} CPUs when the run started; "
              "figures may be noisy.")
    with open(path, "a") as f:
        for s in summaries:
            f.write(json.dumps(s) + "\n")


def main():
    a = sys.argv[1:]
    cmds = {"tag": (tag, 3), "hyperfine": (hyperfine, 2), "machine": (machine, 0),
            "report": (report, 1)}
    if a and a[0] == "times" and len(a) >= 4:
        times(*a[1:])
    elif a and a[0] in cmds and len(a) - 1 == cmds[a[0]][1]:
        cmds[a[0]][0](*a[1:])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
