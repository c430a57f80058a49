#!/usr/bin/python3
"""CSV-import peer for moonbench's benchmark (tests/bench/run.sh): pandas.

  /usr/bin/python3 csv_peer.py IN.csv OUTDIR
      Times, in this process, pandas.read_csv(IN.csv) and then
      df.to_hdf(OUTDIR/pandas_fixed.h5, key="data") (pandas' default "fixed"
      format) and, as a second figure, df.to_hdf(OUTDIR/pandas_table.h5,
      key="data", format="table") on the same DataFrame. Prints one JSON line:
      import_fixed_seconds = read_csv + to_hdf fixed, import_table_seconds =
      read_csv + to_hdf table. Interpreter start and `import pandas` are not
      timed (moonbench's figure is a whole process, start included).
      Neither write is fsync'ed inside the timing (moonbench's import does
      fsync its output); fsync_*_seconds give that cost separately.

  /usr/bin/python3 csv_peer.py --make-csv IN.h5 OUT.csv
      Writes the benchmark CSV from a matrix-layout HDF5 file (/X with
      feature_names, /y): header f00..f27,y, values as pandas
      to_csv(float_format="%.8g", index=False) writes them, y as integers.
      Written to OUT.csv.tmp and renamed into place.

  /usr/bin/python3 csv_peer.py --check IMPORTED.h5 SOURCE.h5
      Checks moonbench's import against the source file: same shape, /y
      equal, /X within the rounding of "%.8g" (relative 1e-6). Exit 1 if not.
"""
import json
import os
import resource
import sys
import time


def make_csv(h5, out):
    import h5py
    import pandas as pd
    with h5py.File(h5, "r") as h:
        X = h["X"][...]
        y = h["y"][...]
        names = [n.decode() if isinstance(n, bytes) else str(n)
                 for n in h["X"].attrs["feature_names"]]
    df = pd.DataFrame(X, columns=names)
    df["y"] = y
    tmp = out + ".tmp"
    df.to_csv(tmp, index=False, float_format="%.8g")
    os.replace(tmp, out)
    print(f"{out}: {df.shape[0]} rows x {df.shape[1]} columns, "
          f"{os.path.getsize(out) / 1e6:.1f} MB", file=sys.stderr)


def check(imported, source):
    import h5py
    import numpy as np
    with h5py.File(imported, "r") as m, h5py.File(source, "r") as s:
        X, X0, y, y0 = m["X"][...], s["X"][...], m["y"][...], s["y"][...]
    ok = X.shape == X0.shape and y.shape == y0.shape
    rel = float(np.max(np.abs(X - X0) / np.maximum(np.abs(X0), 1e-30))) if ok else None
    ok = ok and rel <= 1e-6 and np.array_equal(y.astype(np.float64), y0.astype(np.float64))
    print(f"{imported}: X {X.shape} {X.dtype}, y {y.shape} {y.dtype}; max relative difference "
          f"from {source}: {rel}; {'OK' if ok else 'MISMATCH'}", file=sys.stderr)
    sys.exit(0 if ok else 1)


def cpu_busy_seconds():
    """Busy CPU seconds of the whole machine (/proc/stat), or None."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:8]]
    except OSError:
        return None
    user, nice, system, idle, iowait, irq, softirq = v
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def fsync_seconds(path):
    t0 = time.perf_counter()
    fd = os.open(path, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
    return time.perf_counter() - t0


def timed_import(csv, outdir):
    import numpy as np
    import pandas as pd
    import tables
    fixed = os.path.join(outdir, "pandas_fixed.h5")
    table = os.path.join(outdir, "pandas_table.h5")
    for p in (fixed, table):
        if os.path.exists(p):
            os.remove(p)
    load1 = os.getloadavg()[0]
    busy0, own0, wall0 = cpu_busy_seconds(), own_cpu_seconds(), time.perf_counter()

    t0 = time.perf_counter()
    df = pd.read_csv(csv)
    t_read = time.perf_counter() - t0

    t0 = time.perf_counter()
    df.to_hdf(fixed, key="data")
    t_fixed = time.perf_counter() - t0
    sync_fixed = fsync_seconds(fixed)

    t0 = time.perf_counter()
    df.to_hdf(table, key="data", format="table")
    t_table = time.perf_counter() - t0
    sync_table = fsync_seconds(table)
    busy1, own1, wall1 = cpu_busy_seconds(), own_cpu_seconds(), time.perf_counter()
    other = (round(busy1 - busy0 - (own1 - own0), 2)
             if busy0 is not None and busy1 is not None else None)

    return {"tool": "pandas", "library": f"pandas {pd.__version__} (PyTables {tables.__version__}, "
                                         f"numpy {np.__version__})",
            "rows": int(df.shape[0]), "columns": int(df.shape[1]),
            "dtypes": sorted({str(t) for t in df.dtypes}),
            "read_csv_seconds": round(t_read, 4),
            "to_hdf_fixed_seconds": round(t_fixed, 4),
            "to_hdf_table_seconds": round(t_table, 4),
            "import_fixed_seconds": round(t_read + t_fixed, 4),
            "import_table_seconds": round(t_read + t_table, 4),
            "fsync_fixed_seconds": round(sync_fixed, 4),
            "fsync_table_seconds": round(sync_table, 4),
            "fixed_bytes": os.path.getsize(fixed), "table_bytes": os.path.getsize(table),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "loadavg_1m_at_start": round(load1, 2),
            # CPU used by OTHER processes while this ran (as peers.py reports it)
            "task_wall_seconds": round(wall1 - wall0, 2), "other_cpu_seconds": other,
            "note": "in-process: pandas.read_csv(path) then df.to_hdf(out, key='data') "
                    "(fixed, the default) or format='table'; interpreter start and imports "
                    "not timed; no fsync inside the timing"}


def main():
    a = sys.argv[1:]
    if len(a) == 3 and a[0] == "--make-csv":
        make_csv(a[1], a[2])
    elif len(a) == 3 and a[0] == "--check":
        check(a[1], a[2])
    elif len(a) == 2 and not a[0].startswith("-"):
        print(json.dumps(timed_import(a[0], a[1])))
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
