#!/usr/bin/env python3
"""bench/downsample_bench.py: disk bytes for a year of one node_exporter host at 15 s,
auspex with downsampling (-downsampling.period=30d:5m,180d:1h) against VictoriaMetrics
without it (its open-source build has none), same data, same run.

The data is bench/loadgen's node_exporter host (~500 series with real names and value
precision), scraped every 15 s for --days days ending now, sent as remote write in
time order, in slices of --slice-days (both systems get the same slices). auspex runs its
retention/downsampling pass every few seconds, so each slice is rolled up while the next one
arrives, as in a year of steady operation: the LMDB file reuses the pages raw data frees.
After the last slice both are flushed, auspex's passes are let finish, both are stopped,
and the data folders are measured (allocated bytes). For auspex the compacted size is
also shown (a snapshot: what the data takes without LMDB's free pages).

    python3 bench/downsample_bench.py [--days 365] [--slice-days 30] [--only auspex|vm]
"""
import argparse
import os
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as R  # noqa: E402  (bench/run.py: Server, build, disk_bytes, settle, http)


def metric(srv, name):
    st, body = R.http("GET", srv.base + "/metrics", timeout=30)
    if st != 200:
        return None
    for line in body.decode().splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


def wait_passes(srv, quiet_s=10, timeout=1800):
    """Until auspex's downsampling counters stop moving for quiet_s seconds."""
    deadline = time.time() + timeout
    last, since = None, time.time()
    while time.time() < deadline:
        cur = (metric(srv, "auspex_downsampling_raw_samples_total"),
               metric(srv, "auspex_retention_chunks_deleted_total"))
        if cur != last:
            last, since = cur, time.time()
        elif time.time() - since >= quiet_s:
            return cur
        time.sleep(1)
    return last


def feed(srv, loadgen, start_s, days, slice_days, concurrency):
    """Send [start, start + days) in slices; returns samples sent."""
    total = 0
    t = start_s
    end = start_s + days * 86400
    while t < end:
        span = min(slice_days * 86400, end - t)

        class A:
            pass
        a = A()
        a.hosts, a.duration, a.concurrency, a.samples_per_series = 1, "%ds" % span, concurrency, 240
        a.hosts_per_request = 0
        a.loadgen_arg = ["-start=%d" % t]
        res = R.run_loadgen(loadgen, srv.base + "/api/v1/write", a)
        if res["exit"] != 0:
            raise RuntimeError("loadgen exit %d" % res["exit"])
        total += res["samples"]
        t += span
        if srv.name == "auspex":
            R.http("POST", srv.base + "/internal/force_flush", timeout=600, data=b"")
            wait_passes(srv, quiet_s=6)
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--slice-days", type=int, default=30)
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--only", choices=["vm", "auspex"])
    ap.add_argument("--downsampling", default="30d:5m,180d:1h")
    ap.add_argument("--auspex-bin", default=os.path.join(R.ROOT, "build", "auspex"))
    ap.add_argument("--vm-bin", default=shutil.which("victoria-metrics") or "/usr/bin/victoria-metrics")
    ap.add_argument("--build-dir", default=os.path.join(R.ROOT, "build-bench"))
    args = ap.parse_args()
    args.auspex_bin = os.path.abspath(args.auspex_bin)
    loadgen = R.build(args.build_dir)
    os.makedirs(R.OUT, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="ds-", dir=R.OUT)
    start_s = (int(time.time()) - args.days * 86400) // 86400 * 86400
    systems = []
    if args.only in (None, "vm"):
        systems.append(("VictoriaMetrics", lambda port, data: [
            args.vm_bin, "-httpListenAddr=127.0.0.1:%d" % port, "-storageDataPath=" + data,
            "-retentionPeriod=100y", "-loggerLevel=WARN"]))
    if args.only in (None, "auspex"):
        systems.append(("auspex", lambda port, data: [
            args.auspex_bin, "-httpListenAddr=127.0.0.1:%d" % port, "-storageDataPath=" + data,
            "-retentionPeriod=5y", "-downsampling.period=" + args.downsampling,
            "-retention.checkInterval=2s", "-node.collect=0"]))
    rows = []
    try:
        for name, argv_fn in systems:
            srv = R.Server(name, argv_fn, workdir)
            srv.start()
            t0 = time.time()
            n = feed(srv, loadgen, start_s, args.days, args.slice_days, args.concurrency)
            R.http("POST", srv.base + "/internal/force_flush", timeout=600, data=b"")
            row = {"system": name, "samples": n, "wall": time.time() - t0}
            if name == "auspex":
                c = wait_passes(srv, quiet_s=15)
                row["rolled"] = c[0] if c else None
                st, body = R.http("POST", srv.base + "/snapshot/create", timeout=1800, data=b"")
                snap = None
                if st == 200:
                    import json
                    snap = json.loads(body)["snapshot"]
            R.settle(srv.data, 120)
            srv.stop()
            disk, apparent, _ = R.disk_bytes(srv.data)
            if name == "auspex" and snap:
                sdir = os.path.join(srv.data, "snapshots", snap)
                row["compact"] = R.disk_bytes(sdir)[0]
                disk -= row["compact"]
                shutil.rmtree(os.path.join(srv.data, "snapshots"), ignore_errors=True)
            row["disk"] = disk
            rows.append(row)
            R.log("%s: %d samples, %.1f MiB on disk" % (name, n, disk / 2**20))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    vm = next((r for r in rows if r["system"] == "VictoriaMetrics"), None)
    print("%d days of one node_exporter host at 15 s (%s), downsampling %s\n"
          % (args.days, time.strftime("%Y-%m-%d"), args.downsampling))
    print("%-16s %14s %12s %14s %10s" % ("system", "samples", "disk MiB", "bytes/sample", "vs VM"))
    for r in rows:
        ratio = r["disk"] / vm["disk"] if vm else float("nan")
        print("%-16s %14d %12.1f %14.3f %10.3f" % (r["system"], r["samples"], r["disk"] / 2**20,
                                                   r["disk"] / r["samples"], ratio))
        if "compact" in r:
            print("%-16s %14s %12.1f %14.3f %10.3f" % ("  compacted", "", r["compact"] / 2**20,
                                                       r["compact"] / r["samples"],
                                                       r["compact"] / vm["disk"] if vm else float("nan")))
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, R.on_sigterm)
    sys.exit(main())
