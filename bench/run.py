#!/usr/bin/env python3
"""bench/run.py: remote-write ingestion benchmark, auspex against VictoriaMetrics.

One command, one workload, both systems in the same run (the machine is shared and noisy, so
only ratios within one run mean much):
  1. build build-bench/bench/loadgen if needed;
  2. for each system: start it on 127.0.0.1:<free port> with a fresh data dir, wait for
     GET /metrics, run loadgen against POST /api/v1/write, flush (POST /internal/force_flush,
     or for a server without that route: SIGTERM and measure after it exits), wait until the
     data dir stops changing, then measure bytes on disk, peak RSS (VmHWM), server CPU
     (utime+stime), and verify the stored sample count by exporting one host's series
     (GET /api/v1/export, JSON lines) and counting its timestamps;
  3. print a table and the auspex/VictoriaMetrics ratios, and append it to bench/out/results.txt.

Servers are killed and temp dirs removed on exit (also on Ctrl-C), unless --keep.
See bench/README.md for what each column means.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "bench", "out")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg):
    print("run: " + msg, file=sys.stderr, flush=True)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, timeout=30, data=None):
    """Returns (status, body bytes); status 0 on a connection error."""
    req = urllib.request.Request(url, method=method, data=data)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (urllib.error.URLError, ConnectionError, socket.timeout, OSError):
        return 0, b""


def disk_bytes(path):
    """(allocated, apparent, cache) bytes of the files under path, as du --block-size=1 and
    du -sb would count them, except a top-level cache/ folder (VictoriaMetrics' rebuildable
    caches, written at shutdown), whose allocated size is returned separately."""
    alloc = appar = cache = 0
    for dirpath, _dirs, files in os.walk(path):
        in_cache = os.path.relpath(dirpath, path).split(os.sep)[0] == "cache"
        for f in files:
            try:
                st = os.lstat(os.path.join(dirpath, f))
            except FileNotFoundError:
                continue   # a merge removed it meanwhile
            if in_cache:
                cache += st.st_blocks * 512
            else:
                alloc += st.st_blocks * 512
                appar += st.st_size
    return alloc, appar, cache


def proc_cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        s = f.read()
    fields = s[s.rindex(")") + 2:].split()   # fields from 3 (state) on
    return (int(fields[11]) + int(fields[12])) / CLK_TCK   # utime, stime (fields 14, 15)


def proc_hwm_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


class Server:
    """One server process with its own data dir and log file."""

    def __init__(self, name, argv_fn, workdir):
        self.name = name
        self.port = free_port()
        self.data = os.path.join(workdir, name + "-data")
        os.makedirs(self.data)
        self.logpath = os.path.join(workdir, name + ".log")
        self.argv = argv_fn(self.port, self.data)
        self.base = "http://127.0.0.1:%d" % self.port
        self.proc = None
        self.rusage = None

    def start(self, timeout=60):
        logf = open(self.logpath, "ab")
        self.proc = subprocess.Popen(self.argv, stdout=logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=os.path.dirname(self.data))
        logf.close()
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited with %s at start; log tail:\n%s"
                                   % (self.name, self.proc.returncode, self.log_tail()))
            st, _ = http("GET", self.base + "/metrics", timeout=2)
            if st == 200:
                return
            time.sleep(0.2)
        raise RuntimeError("%s not ready after %ds; log tail:\n%s" % (self.name, timeout, self.log_tail()))

    def stop(self, timeout=120):
        """SIGTERM, then SIGKILL after timeout. Keeps the child's rusage (CPU, max RSS)."""
        p = self.proc
        if p is None or p.returncode is not None:
            return
        p.send_signal(signal.SIGTERM)
        deadline = time.time() + timeout
        while True:
            try:
                pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            except ChildProcessError:   # already reaped (e.g. by Popen.poll after a crash)
                p.poll()
                return
            if pid:
                p.returncode = os.waitstatus_to_exitcode(status)
                self.rusage = ru
                return
            if time.time() > deadline:
                log("%s did not exit %ds after SIGTERM: SIGKILL" % (self.name, timeout))
                p.kill()
                timeout, deadline = 1e9, time.time() + 1e9
            time.sleep(0.1)

    def log_tail(self, n=20):
        try:
            with open(self.logpath, "rb") as f:
                return b"".join(f.readlines()[-n:]).decode("utf-8", "replace")
        except OSError:
            return ""


def settle(path, timeout, quiet_s=3.0):
    """Wait until the data dir's allocated size has not changed for quiet_s seconds."""
    deadline = time.time() + timeout
    last, since = disk_bytes(path), time.time()
    while time.time() < deadline:
        time.sleep(0.5)
        cur = disk_bytes(path)
        if cur != last:
            last, since = cur, time.time()
        elif time.time() - since >= quiet_s:
            return True
    return False


def verify(srv, res, host="host-00:9100"):
    """Export one host's series and count its samples. Returns (found, expected, series)."""
    match = '{instance="%s"}' % host
    q = urllib.parse.urlencode({"match[]": match,
                                "start": "%.3f" % (res["start_ms"] / 1000.0 - 60),
                                "end": "%.3f" % (res["end_ms"] / 1000.0 + 60)})
    st, body = http("GET", srv.base + "/api/v1/export?" + q, timeout=600)
    expected = res["series_per_host"] * res["scrapes"]
    if st != 200:
        log("%s: export returned HTTP %d: %s" % (srv.name, st, body[:300].decode("utf-8", "replace")))
        return -1, expected, 0
    n = series = 0
    for line in body.splitlines():
        if not line.strip():
            continue
        obj = json.loads(line)
        n += len(obj.get("timestamps", []))
        series += 1
    return n, expected, series


def run_loadgen(loadgen, url, args):
    argv = [loadgen, "-url=" + url, "-hosts=%d" % args.hosts, "-duration=" + args.duration,
            "-concurrency=%d" % args.concurrency, "-samples-per-series=%d" % args.samples_per_series]
    if args.hosts_per_request:
        argv.append("-hosts-per-request=%d" % args.hosts_per_request)
    argv += args.loadgen_arg
    log(" ".join(argv))
    p = subprocess.run(argv, stdout=subprocess.PIPE, text=True)   # stderr: progress, passed through
    sys.stderr.write(p.stdout)
    res = None
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            res = {}
            for kv in line.split()[1:]:
                k, v = kv.split("=", 1)
                res[k] = float(v) if "." in v else int(v)
    if res is None:
        raise RuntimeError("loadgen printed no RESULT line (exit %d)" % p.returncode)
    res["exit"] = p.returncode
    return res


def bench_one(name, argv_fn, flush_route, loadgen, args, workdir):
    srv = Server(name, argv_fn, workdir)
    row = {"system": name, "ok": False, "notes": []}
    try:
        log("%s: starting %s" % (name, " ".join(srv.argv)))
        srv.start()
        res = run_loadgen(loadgen, srv.base + "/api/v1/write", args)
        row.update(samples=res["samples"], wall=res["seconds"], rate=res["rate"],
                   lg_cpu=res["cpu_seconds"], retries=res["retries"])
        if res["exit"] != 0:
            row["notes"].append("loadgen exit %d" % res["exit"])
        if srv.proc.poll() is not None:
            raise RuntimeError("%s died during the load; log tail:\n%s" % (name, srv.log_tail()))
        cpu_ingest = proc_cpu_seconds(srv.proc.pid)

        st, _ = http("POST", srv.base + flush_route, timeout=600, data=b"")
        has_flush = st // 100 == 2
        verified = False
        if has_flush:
            # searchable now; let background merges finish, then read the counters and verify
            if not settle(srv.data, args.settle_timeout):
                row["notes"].append("data dir still changing after %ds" % args.settle_timeout)
            row["cpu"] = proc_cpu_seconds(srv.proc.pid)
            found, expected, nseries = verify(srv, res)
            verified = True
        else:
            log("%s: %s answered %d; flushing by SIGTERM" % (name, flush_route, st))
            row["notes"].append("%s -> HTTP %d, flushed by restart" % (flush_route, st))
        # bytes on disk are measured after a clean stop: VictoriaMetrics 1.79 keeps recent
        # parts in memory even after force_flush and writes them only on shutdown.
        hwm = proc_hwm_mib(srv.proc.pid)
        t = time.time()
        srv.stop()
        row["stop_s"] = time.time() - t
        ru = srv.rusage
        if ru is None:
            raise RuntimeError("%s was gone before the stop (exit %s); log tail:\n%s"
                               % (name, srv.proc.returncode, srv.log_tail()))
        row["rss"] = max(hwm, ru.ru_maxrss / 1024.0)
        if not has_flush:
            row["cpu"] = ru.ru_utime + ru.ru_stime
        row["disk"], row["disk_apparent"], row["cache"] = disk_bytes(srv.data)
        row["cpu_ingest"] = cpu_ingest
        if not verified:   # restart and check what survived the stop
            srv.start(timeout=300)
            found, expected, nseries = verify(srv, res)
        row.update(verified=found, expected=expected, exp_series=nseries)
        if found != expected:
            row["notes"].append("host-00 has %d samples in %d series, expected %d in %d"
                                % (found, nseries, expected, res["series_per_host"]))
        row["bps"] = row["disk"] / res["samples"] if res["samples"] else 0
        row["ok"] = res["exit"] == 0 and found == expected
    except (RuntimeError, OSError) as e:
        log("%s: %s" % (name, e))
        row["notes"].append(str(e).splitlines()[0])
    finally:
        srv.stop()
    return row


COLS = [("system", "system", "%s"), ("samples", "samples", "%d"), ("wall", "wall s", "%.1f"),
        ("rate", "samples/s", "%.0f"), ("bps", "bytes/sample", "%.3f"),
        ("rss", "peak RSS MiB", "%.1f"), ("cpu", "server CPU s", "%.1f"),
        ("lg_cpu", "loadgen CPU s", "%.1f")]


def table(rows):
    out = []
    head = [c[1] for c in COLS]
    cells = []
    for r in rows:
        cells.append([(c[2] % r[c[0]]) if c[0] in r else "-" for c in COLS])
    by = {r["system"]: r for r in rows}
    if "VictoriaMetrics" in by and "auspex" in by:
        a, v = by["auspex"], by["VictoriaMetrics"]
        ratio = ["auspex/VM"]
        for key, _, _ in COLS[1:]:
            ratio.append("%.2f" % (a[key] / v[key]) if a.get(key) and v.get(key) else "-")
        cells.append(ratio)
    w = [max(len(x) for x in col) for col in zip(head, *cells)]
    fmt = lambda row: "  ".join(x.rjust(w[i]) if i else x.ljust(w[i]) for i, x in enumerate(row))
    out.append(fmt(head))
    out.extend(fmt(c) for c in cells)
    for r in rows:
        extra = []
        if "disk" in r:
            extra.append("disk %.1f MiB (apparent %.1f MiB, cache/ %.1f MiB not counted)"
                         % (r["disk"] / 2**20, r["disk_apparent"] / 2**20, r["cache"] / 2**20))
        if "stop_s" in r:
            extra.append("stop took %.1f s" % r["stop_s"])
        if "cpu_ingest" in r:
            extra.append("server CPU during load %.1f s" % r["cpu_ingest"])
        if r.get("cpu") and r.get("samples"):
            extra.append("server CPU %.2f us/sample, loadgen %.0f ns/sample"
                         % (r["cpu"] * 1e6 / r["samples"], r["lg_cpu"] * 1e9 / r["samples"]))
        if "verified" in r:
            extra.append("verify host-00: %d/%d samples" % (r["verified"], r["expected"]))
        if r.get("retries"):
            extra.append("retries %d" % r["retries"])
        extra += r["notes"]
        out.append("  %s: %s%s" % (r["system"], "; ".join(extra), "" if r["ok"] else "  [FAILED]"))
    return "\n".join(out)


def build(build_dir):
    if not os.path.exists(os.path.join(build_dir, "CMakeCache.txt")):
        subprocess.run(["cmake", "-S", ROOT, "-B", build_dir], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", build_dir, "-j2", "--target", "loadgen"], check=True,
                   stdout=subprocess.DEVNULL)
    return os.path.join(build_dir, "bench", "loadgen")


def on_sigterm(_sig, _frame):
    raise KeyboardInterrupt   # unwinds through the finally blocks that stop servers


def main():
    ap = argparse.ArgumentParser(description="remote-write benchmark: auspex vs VictoriaMetrics")
    ap.add_argument("--hosts", type=int, default=30)
    ap.add_argument("--duration", default="24h", help="simulated time span (loadgen -duration)")
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--samples-per-series", type=int, default=1)
    ap.add_argument("--hosts-per-request", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="smoke run: 3 hosts x 2h")
    ap.add_argument("--only", choices=["vm", "auspex"])
    ap.add_argument("--auspex-bin", default=os.path.join(ROOT, "build", "auspex"))
    ap.add_argument("--vm-bin", default=shutil.which("victoria-metrics") or "/usr/bin/victoria-metrics")
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build-bench"))
    ap.add_argument("--settle-timeout", type=int, default=60)
    ap.add_argument("--keep", action="store_true", help="keep data dirs and logs in bench/out")
    ap.add_argument("--loadgen-arg", action="append", default=[], help="extra loadgen flag (repeatable)")
    ap.add_argument("--auspex-arg", action="append", default=[], help="extra auspex flag (repeatable)")
    args = ap.parse_args()
    if args.quick:
        args.hosts, args.duration = 3, "2h"
    args.auspex_bin = os.path.abspath(args.auspex_bin)   # servers run with cwd = the work dir
    args.vm_bin = os.path.abspath(args.vm_bin)

    signal.signal(signal.SIGTERM, on_sigterm)
    loadgen = build(args.build_dir)
    os.makedirs(OUT, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="run-", dir=OUT)
    systems = []
    if args.only in (None, "vm"):
        systems.append(("VictoriaMetrics", lambda port, data: [
            args.vm_bin, "-httpListenAddr=127.0.0.1:%d" % port, "-storageDataPath=" + data,
            "-retentionPeriod=100y", "-loggerLevel=WARN"], "/internal/force_flush"))
    if args.only in (None, "auspex"):
        if os.access(args.auspex_bin, os.X_OK):
            systems.append(("auspex", lambda port, data: [
                args.auspex_bin, "-httpListenAddr=127.0.0.1:%d" % port, "-storageDataPath=" + data]
                + args.auspex_arg,
                "/internal/force_flush"))
        else:
            log("no executable %s: skipping auspex" % args.auspex_bin)
    rows = []
    rc = 1
    try:
        for name, argv_fn, route in systems:
            rows.append(bench_one(name, argv_fn, route, loadgen, args, workdir))
        stamp = time.strftime("%Y-%m-%d %H:%M:%S %Z")
        text = ("%s  hosts=%d duration=%s concurrency=%d samples-per-series=%d nproc=%d\n%s\n"
                % (stamp, args.hosts, args.duration, args.concurrency, args.samples_per_series,
                   os.cpu_count(), table(rows)))
        print(text)
        with open(os.path.join(OUT, "results.txt"), "a") as f:
            f.write(text + "\n")
        rc = 0 if rows and all(r["ok"] for r in rows) else 1
    except KeyboardInterrupt:
        log("interrupted")
    finally:
        if args.keep:
            log("kept %s" % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
