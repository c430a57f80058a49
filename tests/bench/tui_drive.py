#!/usr/bin/python3
"""tests/bench/tui_drive.py: drives the workbench (and VisiData) in a
terminal for tests/bench/tui.sh; prints one JSON line per measurement.

  gen PATH ROWS          write a ROWS x 28 float32 /X (+ int32 /y) HDF5 file,
                         chunked as the bench data (16384 rows), with h5py
  first TOOL CMD EXPECT  time from starting CMD in tmux (100x30) to EXPECT
                         on the screen (capture-pane polled every ~5 ms);
                         TOOL vd: Enter is sent when the file's list shows,
                         to open /X (VisiData opens a file as its list)
  browse MB FILE         MB on FILE in a pty: per page-down, the time from
                         the key to the last byte of the redraw and the
                         bytes written; then jumps; then peak RSS (VmHWM)
  latency MB FILE        MB on FILE in a pty: starts a gbdt fit (Models
                         tab), then from the Data tab times 'g' until the
                         prompt "go to row:" is written, while it trains

Both tools are timed the same way in `first`; browse and latency read the
pty directly (bytes are what the terminal receives)."""
import json
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import time
import fcntl
import termios

COLS, ROWS = 100, 30


def gen(path, rows):
    import h5py
    import numpy as np
    rng = np.random.default_rng(10)
    chunk = 16384
    with h5py.File(path + ".tmp", "w") as f:
        x = f.create_dataset("X", (rows, 28), "f4", chunks=(chunk, 28))
        y = f.create_dataset("y", (rows,), "i4", chunks=(65536,))
        x.attrs["feature_names"] = [("f%02d" % i).encode() for i in range(28)]
        for s in range(0, rows, chunk * 16):
            n = min(chunk * 16, rows - s)
            block = rng.standard_normal((n, 28), dtype=np.float32)
            x[s:s + n] = block
            y[s:s + n] = (block[:, 0] + block[:, 1] > 0).astype(np.int32)
    os.rename(path + ".tmp", path)
    print(json.dumps({"generated": path, "rows": rows, "bytes": os.path.getsize(path)}))


def tmux(sock, *args):
    return subprocess.run(["tmux", "-L", sock, *args], capture_output=True, text=True).stdout


def first(tool, cmd, expect):
    sock = "mbbench%d" % os.getpid()
    t0 = time.monotonic()
    subprocess.run(["tmux", "-L", sock, "-f", "/dev/null", "new-session", "-d", "-x", str(COLS), "-y", str(ROWS),
                    "-s", "t", "exec " + cmd], check=True)
    pid = int(tmux(sock, "display", "-p", "-t", "t", "#{pane_pid}").strip() or 0)
    sent = tool != "vd"
    t_list = None
    try:
        while time.monotonic() - t0 < 120:
            screen = tmux(sock, "capture-pane", "-p", "-t", "t")
            if not sent and "Dataset" in screen:
                t_list = time.monotonic() - t0
                tmux(sock, "send-keys", "-t", "t", "Enter")
                sent = True
            if sent and expect in screen:
                secs = time.monotonic() - t0
                break
            time.sleep(0.005)
        else:
            secs = None
        rss = None
        try:
            with open("/proc/%d/status" % pid) as fp:
                for line in fp:
                    if line.startswith("VmHWM:"):
                        rss = int(line.split()[1]) / 1024
        except OSError:
            pass
    finally:
        tmux(sock, "kill-server")
    print(json.dumps({"bench": "tui first screen", "tool": tool, "seconds": secs, "list_seconds": t_list,
                      "rss_mb_at_first_screen": rss}))


class Pty:
    """The program in a pseudo-terminal of COLS x ROWS; reads what it writes."""

    def __init__(self, argv, env=None):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.environ["TERM"] = "xterm-256color"
            os.environ.update(env or {})
            os.execvp(argv[0], argv)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
        self.out = bytearray()

    def _read(self, got, quiet, until):
        """Add to got what comes; stop after `quiet` s of silence (None: never)
        or at time `until`. Returns the time of the last byte (or None)."""
        last = None
        while True:
            left = until - time.monotonic()
            if left <= 0:
                break
            r, _, _ = select.select([self.fd], [], [], min(left, quiet) if quiet else left)
            if not r:
                if quiet:
                    break
                continue
            try:
                got += os.read(self.fd, 65536)
            except OSError:
                break
            last = time.monotonic()
        self.out += got
        return last

    def read_for(self, seconds):
        """Read for that long; returns the bytes and the time of the last one."""
        got = bytearray()
        return got, self._read(got, None, time.monotonic() + seconds)

    def until_quiet(self, quiet=0.15, limit=30):
        """Read until nothing came for `quiet` s; the bytes and the last one's time."""
        got = bytearray()
        return got, self._read(got, quiet, time.monotonic() + limit)

    def wait_text(self, text, limit=60, since=None):
        """Read until text was written (since offset `since` of all output, else from now)."""
        start = time.monotonic()
        seen = bytearray(self.out[since:]) if since is not None else bytearray()
        if since is not None:
            del self.out[since:]
        while time.monotonic() - start < limit:
            r, _, _ = select.select([self.fd], [], [], 0.05)
            if r:
                try:
                    seen += os.read(self.fd, 65536)
                except OSError:
                    break
                if text.encode() in seen:
                    self.out += seen
                    return time.monotonic()
        self.out += seen
        raise SystemExit("tui_drive: timed out waiting for %r" % text)

    def send(self, s):
        t = time.monotonic()
        os.write(self.fd, s.encode() if isinstance(s, str) else s)
        return t

    def rss(self):
        with open("/proc/%d/status" % self.pid) as fp:
            for line in fp:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return None

    def end(self):
        try:
            os.kill(self.pid, signal.SIGTERM)
            os.waitpid(self.pid, 0)
        except OSError:
            pass


PGDN = "\x1b[6~"


def browse(mb, path):
    p = Pty([mb, path])
    p.wait_text("rows x 29 columns")
    p.until_quiet()
    import re
    nrows = int(re.search(rb"(\d+) rows x 29 columns", bytes(p.out)).group(1))
    times, sizes = [], []
    for _ in range(30):
        t = p.send(PGDN)
        got, last = p.until_quiet()
        if last:
            times.append(last - t)
            sizes.append(len(got))
    # far jumps: the middle, the end (reads from cold pages)
    jumps = []
    for target in (str(nrows // 2), str(nrows - 10)):
        p.send("g")
        p.wait_text("go to row:")
        p.until_quiet()
        p.send(target)
        p.until_quiet()
        t = p.send("\r")
        got, last = p.until_quiet()
        jumps.append(last - t if last else None)
    for _ in range(10):
        t = p.send("\x1b[5~")
        got, last = p.until_quiet()
        if last:
            times.append(last - t)
            sizes.append(len(got))
    # a cursor move changes two rows; an idle second should write nothing
    downs = []
    for _ in range(10):
        p.send("\x1b[B")
        got, _ = p.until_quiet()
        downs.append(len(got))
    idle, _ = p.read_for(1.0)
    rss = p.rss()
    p.end()
    times.sort()
    sizes.sort()
    downs.sort()
    print(json.dumps({"bench": "tui browse", "tool": "moonbench", "page_downs": len(times),
                      "page_seconds_median": times[len(times) // 2], "page_seconds_max": times[-1],
                      "bytes_per_page_median": sizes[len(sizes) // 2], "bytes_per_page_max": sizes[-1],
                      "full_screen_cells": COLS * ROWS,
                      "bytes_per_down_median": downs[len(downs) // 2], "idle_bytes_per_second": len(idle), "jump_seconds": jumps, "peak_rss_mb": rss}))


def latency(mb, path):
    p = Pty([mb, path])
    p.wait_text("rows x 29 columns")
    p.until_quiet()
    p.send("3")
    p.wait_text("gbdt")
    p.send("/")
    p.wait_text("find")
    p.send("gbdt\r")
    p.until_quiet()
    mark = len(p.out)
    p.send("r")
    p.wait_text("● run 1", 120)
    p.send("1")
    p.until_quiet(0.3)
    lat = []
    for _ in range(20):
        t = p.send("g")
        done = p.wait_text("go to row:", 10)
        lat.append(done - t)
        p.send("\x1b")
        p.read_for(0.25)
    running = b"(gbdt) done" not in p.out
    p.send("3x")
    p.read_for(0.5)
    p.end()
    lat.sort()
    print(json.dumps({"bench": "tui latency during gbdt fit", "tool": "moonbench", "trials": len(lat),
                      "seconds_median": lat[len(lat) // 2], "seconds_max": lat[-1], "fit_running": running}))


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "gen" and len(sys.argv) == 4:
        gen(sys.argv[2], int(sys.argv[3]))
    elif cmd == "first" and len(sys.argv) == 5:
        first(*sys.argv[2:5])
    elif cmd == "browse" and len(sys.argv) == 4:
        browse(*sys.argv[2:4])
    elif cmd == "latency" and len(sys.argv) == 4:
        latency(*sys.argv[2:4])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
