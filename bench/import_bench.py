#!/usr/bin/env python3
"""bench/import_bench.py: import throughput, auspex against VictoriaMetrics, same files, same run.

Data (deterministic, seeded): S series x K samples (default 50,000 x 100 = 5 M samples) of
node_exporter-like metrics (counters with 2 decimals, integer gauges, gauges with 6-9
significant digits), 15 s apart, starting at midnight UTC two days ago, each series with its
own ms phase. The same samples are written in two files:
  - prom:  Prometheus text exposition with explicit ms timestamps, one sample per line,
           each series' samples consecutive and in time order;
  - jsonl: VictoriaMetrics JSON lines (the /api/v1/export format), a series' samples in
           lines of at most --line-samples values/timestamps.
Each file is cut at series boundaries into request bodies of about --body-mb MB; a body
holds whole series, so no series is split over concurrent requests (every series arrives in
order). The bodies (and with --gzip their gzip -1 versions) are built in memory before any
timing.

Per run: start the peer with a fresh data dir on a free port, wait for GET /metrics, POST
all bodies from --clients threads (http.client, keep-alive, each thread takes the next
body) to /api/v1/import/prometheus or /api/v1/import, time from the first request to the
last reply (acked), then poll
GET /api/v1/export?match[]={__name__!="",import_bench_poll!="N"} (N: the poll's number, see
export_count) until it returns every sample (visible: the start of the first complete
export; with --flush, a first incomplete export is followed by POST /internal/force_flush),
then wait until the data dir is quiet (2 s) and read the server's CPU (utime+stime from /proc/PID/stat, minus the CPU
spent while the verification exports ran) and peak RSS (VmHWM). Each peer runs alone on the
machine, one after the other; --rounds rounds (default 3), medians reported.
"""
import argparse
import gzip
import http.client
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from run import Server, proc_cpu_seconds, proc_hwm_mib, settle  # noqa: E402  (bench/run.py)

OUT = os.path.join(ROOT, "bench", "out")


def log(msg):
    print("import_bench: " + msg, file=sys.stderr, flush=True)


# ---- data ----

NAMES = [  # (name, kind, extra label name, values)
    ("node_cpu_seconds_total", "cpu", "mode", ["idle", "user", "system", "iowait", "irq", "softirq", "steal", "nice"]),
    ("node_network_receive_bytes_total", "bytes", "device", ["eth0", "eth1", "lo"]),
    ("node_network_transmit_bytes_total", "bytes", "device", ["eth0", "eth1", "lo"]),
    ("node_disk_read_bytes_total", "bytes", "device", ["vda", "vdb"]),
    ("node_disk_written_bytes_total", "bytes", "device", ["vda", "vdb"]),
    ("node_disk_io_time_seconds_total", "cpu", "device", ["vda", "vdb"]),
    ("node_memory_MemAvailable_bytes", "mem", None, None),
    ("node_memory_Cached_bytes", "mem", None, None),
    ("node_filesystem_avail_bytes", "mem", "mountpoint", ["/", "/boot/efi", "/var/lib/data", "/run"]),
    ("node_load1", "load", None, None),
    ("node_load5", "load", None, None),
    ("node_sockstat_TCP_inuse", "small", None, None),
    ("node_procs_running", "small", None, None),
    ("node_scrape_collector_duration_seconds", "dur", "collector",
     ["cpu", "diskstats", "filesystem", "loadavg", "meminfo", "netdev", "netstat", "stat", "time", "vmstat"]),
    ("process_resident_memory_bytes", "mem", None, None),
    ("go_gc_duration_seconds", "dur", "quantile", ["0", "0.25", "0.5", "0.75", "1"]),
]


def series_templates():
    """The label sets of one host (one entry per series)."""
    out = []
    for name, kind, lname, lvals in NAMES:
        for v in (lvals or [None]):
            labels = [("__name__", name)]
            if lname:
                labels.append((lname, v))
            out.append((labels, kind))
    return out


def gen_series(nseries, nsamples, seed, start_ms, step_ms=15000):
    """Yields (labels [(name, value)] with __name__ first, [ts_ms], [value]) for every series."""
    tmpl = series_templates()
    per_host = len(tmpl)
    for s in range(nseries):
        host, j = divmod(s, per_host)
        labels, kind = tmpl[j]
        labels = labels + [("instance", "host-%04d:9100" % host), ("job", "node")]
        rng = random.Random(seed * 1000003 + s)
        t0 = start_ms + rng.randrange(step_ms)
        ts = [t0 + k * step_ms for k in range(nsamples)]
        if kind == "cpu":
            v, vals = rng.randint(10**5, 10**7) / 100, []
            for _ in range(nsamples):
                v = round(v + rng.randint(0, 1500) / 100, 2)
                vals.append(v)
        elif kind == "bytes":
            v, vals = float(rng.randint(10**6, 10**12)), []
            for _ in range(nsamples):
                v += rng.randint(0, 10**6) * 512
                vals.append(v)
        elif kind == "mem":
            base = rng.randint(10**5, 10**7) * 4096
            vals = [float(base + rng.randint(-1000, 1000) * 4096) for _ in range(nsamples)]
        elif kind == "load":
            vals = [round(rng.uniform(0, 4), 2) for _ in range(nsamples)]
        elif kind == "small":
            vals = [float(rng.randint(0, 300)) for _ in range(nsamples)]
        else:   # durations: 9 significant digits, the hard part to compress
            vals = [float("%.9g" % rng.uniform(1e-5, 0.05)) for _ in range(nsamples)]
        yield labels, ts, vals


def _esc_text(v):
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _esc_json(v):
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def build_bodies(args, start_ms):
    """Returns {"prom": [bytes], "jsonl": [bytes]}, plus the total samples."""
    target = int(args.body_mb * 1e6)
    out = {"prom": [], "jsonl": [], "promtime": []}
    cur = {"prom": [], "jsonl": [], "promtime": []}
    size = {"prom": 0, "jsonl": 0, "promtime": 0}
    per_series = []   # promtime: the same lines, ordered by time as scrapes are
    total = 0

    def cut(fmt):
        if cur[fmt]:
            out[fmt].append("".join(cur[fmt]).encode())
            cur[fmt].clear()
            size[fmt] = 0

    for labels, ts, vals in gen_series(args.series, args.samples, args.seed, start_ms):
        total += len(ts)
        name = labels[0][1]
        rest = labels[1:]
        prefix = name + "{" + ",".join('%s="%s"' % (k, _esc_text(v)) for k, v in rest) + "} "
        tl = ["%s%r %d\n" % (prefix, v, t) for t, v in zip(ts, vals)]
        text = "".join(tl)
        if "promtime" in args.formats:
            per_series.append(tl)
        metric = '{"metric":{"__name__":"%s",%s},' % (
            name, ",".join('"%s":"%s"' % (k, _esc_json(v)) for k, v in rest))
        lines = []
        for i in range(0, len(ts), args.line_samples):
            lines.append('%s"values":[%s],"timestamps":[%s]}\n' % (
                metric, ",".join(repr(v) for v in vals[i:i + args.line_samples]),
                ",".join(str(t) for t in ts[i:i + args.line_samples])))
        js = "".join(lines)
        for fmt, piece in (("prom", text), ("jsonl", js)):
            cur[fmt].append(piece)
            size[fmt] += len(piece)
            if size[fmt] >= target:
                cut(fmt)
    cut("prom")
    cut("jsonl")
    if per_series:
        for i in range(max(len(x) for x in per_series)):
            for x in per_series:
                if i < len(x):
                    cur["promtime"].append(x[i])
                    size["promtime"] += len(x[i])
                    if size["promtime"] >= target:
                        cut("promtime")
        cut("promtime")
    return out, total


# ---- measuring ----

ROUTES = {"prom": "/api/v1/import/prometheus", "promtime": "/api/v1/import/prometheus",
          "jsonl": "/api/v1/import"}


def post_all(port, route, bodies, clients, headers):
    """POSTs every body from `clients` keep-alive threads. Returns (t_first, t_last, errors, retries)."""
    nxt = [0]
    lock = threading.Lock()
    errors, retries = [], [0]
    t_first = [None]
    t_last = [0.0]

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        while True:
            with lock:
                i = nxt[0]
                nxt[0] += 1
                if i >= len(bodies):
                    break
                if t_first[0] is None:
                    t_first[0] = time.time()
            body, delay = bodies[i], 0.05
            for attempt in range(100):
                try:
                    conn.request("POST", route, body, headers)
                    r = conn.getresponse()
                    data = r.read()
                    st = r.status
                except (OSError, http.client.HTTPException) as e:
                    st, data = 0, str(e).encode()
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
                if 200 <= st < 300:
                    break
                if st != 0 and st < 500:
                    with lock:
                        errors.append("body %d: HTTP %d %s" % (i, st, data[:200].decode("utf-8", "replace")))
                    break
                with lock:
                    retries[0] += 1
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
            else:
                with lock:
                    errors.append("body %d: gave up after 100 attempts (%d %r)" % (i, st, data[:100]))
            with lock:
                t_last[0] = max(t_last[0], time.time())
        conn.close()

    th = [threading.Thread(target=worker) for _ in range(clients)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    return t_first[0], t_last[0], errors, retries[0]


def export_count(port, poll=0):
    """Samples in GET /api/v1/export?match[]={__name__!="",poll!="N"}, counted without a JSON
    parse. The selector differs on every poll (it matches the same series): VictoriaMetrics
    caches the series a selector matched, and a poll made while the import was still going
    in would otherwise be answered from that cache for several seconds (measured: all data
    visible 1-2 s after the last reply without polling, 5-10 s with polling every 0.1 s)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        sel = '{__name__!="",import_bench_poll!="%d"}' % poll
        conn.request("GET", "/api/v1/export?" + urllib.parse.urlencode({"match[]": sel}))
        r = conn.getresponse()
        body = r.read()
        if r.status != 200:
            raise RuntimeError("export: HTTP %d %r" % (r.status, body[:200]))
    finally:
        conn.close()
    n = 0
    key = b'"timestamps":['
    for line in body.split(b"\n"):
        i = line.find(key)
        if i < 0:
            continue
        i += len(key)
        j = line.index(b"]", i)
        if j > i:
            n += line.count(b",", i, j) + 1
    return n


def force_flush(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        conn.request("POST", "/internal/force_flush", b"")
        r = conn.getresponse()
        r.read()
        return r.status
    finally:
        conn.close()


def run_one(peer, argv_fn, fmt, enc, bodies, total, args, workdir, tag):
    srv = Server("%s-%s" % (peer, tag), argv_fn, workdir)
    row = {"peer": peer, "fmt": fmt, "enc": enc, "ok": False, "notes": []}
    try:
        srv.start()
        pid = srv.proc.pid
        headers = {"Content-Type": "text/plain" if fmt.startswith("prom") else "application/json"}
        if enc == "gzip":
            headers["Content-Encoding"] = "gzip"
        cpu0 = proc_cpu_seconds(pid)
        t0, t1, errors, retries = post_all(srv.port, ROUTES[fmt], bodies, args.clients, headers)
        cpu_ack = proc_cpu_seconds(pid)
        row.update(acked_s=t1 - t0, retries=retries)
        if errors:
            row["notes"].append("%d refused bodies, first: %s" % (len(errors), errors[0]))
        # visibility: poll full exports; the CPU the exports cost is subtracted. With --flush,
        # an incomplete first poll is followed by POST /internal/force_flush.
        export_cpu, polls, n, deadline = 0.0, 0, -1, time.time() + args.visible_timeout
        t_vis = None
        while time.time() < deadline:
            c, t = proc_cpu_seconds(pid), time.time()
            n = export_count(srv.port, polls)
            export_cpu += proc_cpu_seconds(pid) - c
            polls += 1
            if n >= total:
                t_vis = t
                break
            if args.flush and polls == 1:
                st = force_flush(srv.port)
                row["flushed"] = st
                if st // 100 != 2:
                    row["notes"].append("/internal/force_flush -> HTTP %d" % st)
                continue
            time.sleep(0.1)
        row.update(visible=n, polls=polls)
        if t_vis is None:
            row["notes"].append("only %d of %d samples visible after %ds" % (n, total, args.visible_timeout))
        else:
            row["visible_s"] = t_vis - t0
        if not settle(srv.data, args.settle_timeout, quiet_s=2.0):
            row["notes"].append("data dir still changing after %ds" % args.settle_timeout)
        cpu_end = proc_cpu_seconds(pid)
        row["cpu_ack"] = cpu_ack - cpu0
        row["cpu"] = cpu_end - cpu0 - export_cpu
        row["export_cpu"] = export_cpu
        row["rss"] = proc_hwm_mib(pid)
        row["ok"] = not errors and n == total
        if n > total:
            row["notes"].append("%d samples visible, more than the %d sent" % (n, total))
    except (RuntimeError, OSError) as e:
        row["notes"].append(str(e).splitlines()[0])
        log("%s %s: %s" % (peer, fmt, e))
    finally:
        srv.stop()
        shutil.rmtree(srv.data, ignore_errors=True)
    return row


def median(rows, key):
    xs = [r[key] for r in rows if key in r]
    return statistics.median(xs) if xs else None


def fmt_num(x, f):
    return "-" if x is None else f % x


def report(results, total, args, order):
    """results: {(fmt, enc, peer): [rows]}. Returns the text table."""
    head = ["format", "peer", "acked s", "acked samples/s", "visible s", "visible samples/s",
            "CPU s/M samples", "CPU at ack s/M", "peak RSS MiB", "runs ok"]
    cells = []
    for fmt, enc in order:
        meds = {}
        for peer in ("VictoriaMetrics", "auspex"):
            rows = results.get((fmt, enc, peer))
            if not rows:
                continue
            m = {k: median(rows, k) for k in ("acked_s", "visible_s", "cpu", "cpu_ack", "rss")}
            m["acked_rate"] = total / m["acked_s"] if m["acked_s"] else None
            m["visible_rate"] = total / m["visible_s"] if m["visible_s"] else None
            m["cpu_m"] = m["cpu"] / (total / 1e6) if m["cpu"] is not None else None
            m["cpu_ack_m"] = m["cpu_ack"] / (total / 1e6) if m["cpu_ack"] is not None else None
            meds[peer] = m
            label = fmt + ("+gzip" if enc == "gzip" else "")
            cells.append([label, peer, fmt_num(m["acked_s"], "%.2f"), fmt_num(m["acked_rate"], "%.0f"),
                          fmt_num(m["visible_s"], "%.2f"), fmt_num(m["visible_rate"], "%.0f"),
                          fmt_num(m["cpu_m"], "%.2f"), fmt_num(m["cpu_ack_m"], "%.2f"),
                          fmt_num(m["rss"], "%.1f"), "%d/%d" % (sum(r["ok"] for r in rows), len(rows))])
        if len(meds) == 2:
            a, v = meds["auspex"], meds["VictoriaMetrics"]
            ratio = lambda k, f="%.2f": (f % (a[k] / v[k])) if a.get(k) and v.get(k) else "-"
            cells.append(["", "auspex/VM", ratio("acked_s"), ratio("acked_rate"), ratio("visible_s"),
                          ratio("visible_rate"), ratio("cpu_m"), ratio("cpu_ack_m"), ratio("rss"), ""])
    w = [max(len(x) for x in col) for col in zip(head, *cells)]
    line = lambda row: "  ".join(x.rjust(w[i]) if i > 1 else x.ljust(w[i]) for i, x in enumerate(row))
    out = [line(head)] + [line(c) for c in cells]
    for key, rows in sorted(results.items()):
        for r in rows:
            if r["notes"] or r.get("retries"):
                out.append("  %s %s%s: %s%s" % (key[2], key[0], "+gzip" if key[1] == "gzip" else "",
                                                "; ".join(r["notes"]),
                                                (" retries %d" % r["retries"]) if r.get("retries") else ""))
    return "\n".join(out)


def on_sigterm(_sig, _frame):
    raise KeyboardInterrupt


def main():
    ap = argparse.ArgumentParser(description="import benchmark: auspex vs VictoriaMetrics")
    ap.add_argument("--series", type=int, default=50000)
    ap.add_argument("--samples", type=int, default=100, help="samples per series")
    ap.add_argument("--line-samples", type=int, default=1000, help="max samples per JSON line")
    ap.add_argument("--body-mb", type=float, default=4.0, help="request body size target (MB, uncompressed)")
    ap.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="smoke run: 2,000 series x 50 samples, 1 round")
    ap.add_argument("--only", choices=["vm", "auspex"])
    ap.add_argument("--formats", default="prom,jsonl", help="comma list of prom (text, series by series), promtime (text, time by time "
                    "as scrapes are), jsonl")
    ap.add_argument("--gzip", action="store_true", help="also send gzip -1 compressed bodies")
    ap.add_argument("--auspex-bin", default=os.path.join(ROOT, "build", "auspex"))
    ap.add_argument("--vm-bin", default=shutil.which("victoria-metrics") or "/usr/bin/victoria-metrics")
    ap.add_argument("--auspex-arg", action="append", default=[], help="extra auspex flag (repeatable)")
    ap.add_argument("--flush", action="store_true",
                    help="if not all is visible at the last reply, POST /internal/force_flush")
    ap.add_argument("--visible-timeout", type=int, default=120)
    ap.add_argument("--settle-timeout", type=int, default=30)
    args = ap.parse_args()
    if args.quick:
        args.series, args.samples, args.rounds = 2000, 50, 1
    args.auspex_bin = os.path.abspath(args.auspex_bin)
    args.vm_bin = os.path.abspath(args.vm_bin)
    signal.signal(signal.SIGTERM, on_sigterm)

    peers = []
    if args.only in (None, "vm"):
        peers.append(("VictoriaMetrics", lambda port, data: [
            args.vm_bin, "-httpListenAddr=127.0.0.1:%d" % port, "-storageDataPath=" + data,
            "-retentionPeriod=100y", "-loggerLevel=WARN"]))
    if args.only in (None, "auspex"):
        if not os.access(args.auspex_bin, os.X_OK):
            log("no executable %s" % args.auspex_bin)
            return 1
        help_text = subprocess.run([args.auspex_bin, "-help"], stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT).stdout.decode("utf-8", "replace")
        extra = ["-node.collect=0"] if "-node.collect" in help_text else []
        peers.append(("auspex", lambda port, data: [
            args.auspex_bin, "-httpListenAddr=127.0.0.1:%d" % port, "-storageDataPath=" + data]
            + extra + args.auspex_arg))

    start_ms = (int(time.time()) // 86400 - 2) * 86400 * 1000
    t = time.time()
    bodies, total = build_bodies(args, start_ms)
    order = []
    for fmt in args.formats.split(","):
        order.append((fmt, "identity"))
    if args.gzip:
        for fmt in args.formats.split(","):
            bodies[fmt + "+gzip"] = [gzip.compress(b, 1) for b in bodies[fmt]]
            order.append((fmt, "gzip"))
    for fmt in args.formats.split(","):
        sz = sum(len(b) for b in bodies[fmt])
        log("%s: %d bodies, %.1f MB, %.1f bytes/sample%s" % (
            fmt, len(bodies[fmt]), sz / 1e6, sz / total,
            (", gzip %.1f MB" % (sum(len(b) for b in bodies[fmt + "+gzip"]) / 1e6)) if args.gzip else ""))
    log("%d series x %d samples = %d samples; bodies built in %.1f s" % (args.series, args.samples, total, time.time() - t))

    os.makedirs(OUT, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="import-", dir=OUT)
    results = {}
    rc = 1
    try:
        for rnd in range(args.rounds):
            for fmt, enc in order:
                key_bodies = bodies[fmt + ("+gzip" if enc == "gzip" else "")]
                seq = peers if rnd % 2 == 0 else peers[::-1]   # alternate who goes first
                for peer, argv_fn in seq:
                    row = run_one(peer, argv_fn, fmt, enc, key_bodies, total, args, workdir,
                                  "%s-%s-%d" % (fmt, enc, rnd))
                    results.setdefault((fmt, enc, peer), []).append(row)
                    log("round %d %s%s %s: acked %.2f s (%.0f samples/s), visible %s s, CPU %.1f s, RSS %.0f MiB%s"
                        % (rnd + 1, fmt, "+gzip" if enc == "gzip" else "", peer, row.get("acked_s", 0),
                           total / row["acked_s"] if row.get("acked_s") else 0,
                           "%.2f" % row["visible_s"] if "visible_s" in row else "-",
                           row.get("cpu", 0), row.get("rss", 0), "" if row["ok"] else "  FAILED " + "; ".join(row["notes"])))
        stamp = time.strftime("%Y-%m-%d %H:%M:%S %Z")
        text = ("%s  import_bench: %d series x %d samples = %d samples, %d clients, bodies ~%.0f MB, "
                "%d rounds (medians)%s, nproc=%d\n%s\n"
                % (stamp, args.series, args.samples, total, args.clients, args.body_mb, args.rounds,
                   ", --flush" if args.flush else "",
                   os.cpu_count(), report(results, total, args, order)))
        print(text)
        with open(os.path.join(OUT, "import_results.txt"), "a") as f:
            f.write(text + "\n")
        rc = 0 if all(r["ok"] for rows in results.values() for r in rows) else 1
    except KeyboardInterrupt:
        log("interrupted")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
