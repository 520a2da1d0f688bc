#!/usr/bin/env python3
"""bench/query_bench.py: PromQL query latency, auspex against VictoriaMetrics, same data, same run.

Typical Grafana node_exporter dashboard panels (CPU, memory, network, disk, filesystem, load,
a high-cardinality count, a single-host panel) as /api/v1/query_range over the whole loaded
span with a Grafana-like step, plus a few /api/v1/query instant "stat" panels at its end.

  1. build build-bench/bench/loadgen if needed (bench/run.py's build);
  2. load the same workload (bench/loadgen.c, same -seed and an explicit -start, so both have
     identical samples and timestamps) into VictoriaMetrics, then into auspex, each started
     alone on 127.0.0.1:<free port> with a fresh data dir; force_flush, wait until the data
     dir is quiet, verify host-00's sample count (bench/run.py's Server/run_loadgen/settle/
     verify);
  3. VictoriaMetrics is stopped (it writes its in-memory parts on shutdown), its data dir is
     copied, and it is restarted twice: as-is (the default rollup result cache) and on the copy
     with -search.disableCache ("VM-nocache"), so the cache's effect is visible; auspex stays
     up as it was after the load;
  4. per query: 1 warm-up round on every system (its answer is kept to compare series and
     values between systems), then --rounds rounds, the systems interleaved within each round
     (the order rotating every round) so that noise hits all of them; the latency is the wall
     time from sending the request to having read the whole body (http.client, one keep-alive
     connection per system, no compression);
  5. print a table of medians and the auspex/VM ratios, append it to bench/out/query_results.txt.

Servers are stopped and the work dir is removed on exit (also on Ctrl-C), unless --keep.
See bench/README.md ("bench/query_bench.py") for the queries and the method.
"""
import argparse
import http.client
import json
import math
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run  # noqa: E402  (bench/run.py: Server, run_loadgen, settle, verify, build, http)

ROOT = run.ROOT
OUT = run.OUT
DAY = 86400

# (name, expression); range queries over the whole span, then instant ones at its end.
RANGE_QUERIES = [
    ("cpu_by_mode", 'sum by (instance, mode) (rate(node_cpu_seconds_total[5m]))'),
    ("cpu_busy_pct", '100 * (1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m])))'),
    ("mem_used", 'node_memory_MemTotal_bytes - node_memory_MemAvailable_bytes'),
    ("mem_used_ratio", '1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes'),
    ("net_rx_top5", 'topk(5, sum by (instance) (rate(node_network_receive_bytes_total[5m])))'),
    ("net_tx_no_lo", 'sum by (instance) (rate(node_network_transmit_bytes_total{device!="lo"}[5m]))'),
    ("disk_read", 'rate(node_disk_read_bytes_total[5m])'),
    ("disk_io_util", 'rate(node_disk_io_time_seconds_total[5m])'),
    ("fs_used_ratio", '1 - node_filesystem_avail_bytes / node_filesystem_size_bytes'),
    ("load1", 'node_load1'),
    ("count_by_name", 'count by (__name__) ({job="node"})'),
    ("count_by_instance", 'count({__name__=~"node_.*"}) by (instance)'),
    ("host00_cpu", 'rate(node_cpu_seconds_total{instance="host-00:9100"}[5m])'),
]
INSTANT_QUERIES = [
    ("i_cpu_busy_pct", '100 * (1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m])))'),
    ("i_load1", 'node_load1'),
    ("i_uptime", 'node_time_seconds - node_boot_time_seconds'),
    ("i_count_by_name", 'count by (__name__) ({job="node"})'),
    ("i_net_rx_1d_top5", 'topk(5, sum by (instance) (increase(node_network_receive_bytes_total[1d])))'),
    ("i_mem_avail_min_1d", 'min_over_time(node_memory_MemAvailable_bytes[1d])'),
]


def log(msg):
    print("query_bench: " + msg, file=sys.stderr, flush=True)


def parse_duration(s):
    units = {"s": 1, "m": 60, "h": 3600, "d": DAY}
    if s and s[-1] in units:
        return float(s[:-1]) * units[s[-1]]
    return float(s)


def grafana_step(range_s, max_points=1000, min_interval=15):
    """Grafana's interval: range/maxDataPoints rounded by its roundInterval table, then at least
    the data source's min interval (the 15 s scrape interval). 24 h -> 60 s, 2 h -> 15 s."""
    raw_ms = range_s * 1000.0 / max_points
    table = [(15, 10), (35, 20), (75, 50), (150, 100), (350, 200), (750, 500), (1500, 1000),
             (3500, 2000), (7500, 5000), (12500, 10000), (17500, 15000), (25000, 20000),
             (45000, 30000), (90000, 60000), (210000, 120000), (450000, 300000),
             (750000, 600000), (1050000, 900000), (1500000, 1200000), (2700000, 1800000),
             (5400000, 3600000), (9000000, 7200000)]
    step_ms = 10800000
    for limit, val in table:
        if raw_ms < limit:
            step_ms = val
            break
    return max(min_interval, step_ms // 1000)


class Client:
    """One keep-alive HTTP/1.1 connection to one server."""

    def __init__(self, name, srv, timeout):
        self.name, self.srv, self.timeout = name, srv, timeout
        self.conn = None

    def get(self, path):
        """Returns (status, body, seconds from sending the request to the last body byte)."""
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=self.timeout)
                self.conn.connect()
            try:
                t0 = time.perf_counter()
                self.conn.request("GET", path, headers={"Accept": "application/json"})
                r = self.conn.getresponse()
                body = r.read()
                dt = time.perf_counter() - t0
                if r.getheader("connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return r.status, body, dt
            except (OSError, http.client.HTTPException):
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise AssertionError

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def parse_result(body):
    """{labels-tuple: {t: value}} from a vector or matrix answer; None if not a success."""
    try:
        obj = json.loads(body)
    except ValueError:
        return None
    if obj.get("status") != "success":
        return None
    data = obj["data"]
    out = {}
    if data["resultType"] == "matrix":
        for s in data["result"]:
            out[tuple(sorted(s["metric"].items()))] = {float(t): float(v) for t, v in s["values"]}
    elif data["resultType"] == "vector":
        for s in data["result"]:
            t, v = s["value"]
            out[tuple(sorted(s["metric"].items()))] = {float(t): float(v)}
    else:   # scalar
        t, v = data["result"]
        out[()] = {float(t): float(v)}
    return out


def drop_name(ans):
    return {tuple(kv for kv in k if kv[0] != "__name__"): v for k, v in ans.items()}


def compare(a, b, skip_before=None):
    """Compares two parsed answers (a: the system, b: the reference): series, label sets,
    points, relative value differences at the timestamps both have. Points before skip_before
    (the first lookback window of a range query) are counted but left out of the value
    statistics: there Prometheus' rate() divides by the whole window and VictoriaMetrics' by
    the part covered by data, a known difference of up to ~10x in the first 5 minutes."""
    c = {"series_a": len(a), "series_b": len(b), "name_note": ""}
    common = set(a) & set(b)
    if len(common) < min(len(a), len(b)):
        na, nb = drop_name(a), drop_name(b)
        if len(set(na) & set(nb)) > len(common) and len(na) == len(a) and len(nb) == len(b):
            ha = any("__name__" in dict(k) for k in a)
            hb = any("__name__" in dict(k) for k in b)
            c["name_note"] = " (equal labels only without __name__: %s keeps it)" % (
                "both" if ha and hb else ("this system" if ha else "the reference"))
            a, b = na, nb
            common = set(a) & set(b)
    diffs = []
    only_a = only_b = 0
    for k in common:
        va, vb = a[k], b[k]
        only_a += len(set(va) - set(vb))
        only_b += len(set(vb) - set(va))
        for t in set(va) & set(vb):
            if skip_before is not None and t < skip_before:
                continue
            x, y = va[t], vb[t]
            if x == y or (math.isnan(x) and math.isnan(y)):
                d = 0.0
            else:
                d = abs(x - y) / max(abs(x), abs(y))
            diffs.append(d)
    diffs.sort()
    n = len(diffs)
    c.update({
        "common": len(common), "points_a": sum(len(v) for v in a.values()),
        "points_b": sum(len(v) for v in b.values()), "only_a": only_a, "only_b": only_b,
        "cmp_points": n,
        "median_rel": diffs[n // 2] if n else 0.0,
        "p99_rel": diffs[min(n - 1, int(n * 0.99))] if n else 0.0,
        "max_rel": diffs[-1] if n else 0.0,
        "over1pct": sum(1 for d in diffs if d > 0.01) / n if n else 0.0,
    })
    return c


def check_line(name, ref_name, c):
    """One line describing how answer `name` compares with `ref_name`, and whether it is a
    mismatch: a different number of series, label sets that differ (beyond __name__), more than
    1% of points missing on either side, or a median relative value difference above 1%."""
    bad = (c["series_a"] != c["series_b"] or c["common"] != c["series_a"]
           or abs(c["points_a"] - c["points_b"]) > 0.01 * max(c["points_a"], c["points_b"])
           or c["median_rel"] > 0.01)
    s = "%s vs %s: series %d/%d, %d with equal labels%s" % (
        name, ref_name, c["series_a"], c["series_b"], c["common"], c["name_note"])
    s += ", points %d/%d" % (c["points_a"], c["points_b"])
    if c["only_a"] or c["only_b"]:
        s += " (timestamps only in %s: %d, only in %s: %d)" % (name, c["only_a"], ref_name, c["only_b"])
    if c["max_rel"] == 0:
        s += ", values identical"
    else:
        s += ", rel diff median %.2g p99 %.2g max %.2g, %.1f%% of points differ >1%%" % (
            c["median_rel"], c["p99_rel"], c["max_rel"], 100 * c["over1pct"])
    return bad, s


def load_system(name, argv_fn, loadgen, args, workdir, flush_route="/internal/force_flush"):
    """Starts a server, loads the workload, flushes, settles, verifies. Returns (srv, loadgen result)."""
    srv = run.Server(name, argv_fn, workdir)
    log("%s: starting %s" % (name, " ".join(srv.argv)))
    srv.start()
    res = run.run_loadgen(loadgen, srv.base + "/api/v1/write", args)
    if res["exit"] != 0:
        raise RuntimeError("%s: loadgen exit %d" % (name, res["exit"]))
    st, body = run.http("POST", srv.base + flush_route, timeout=600, data=b"")
    if st // 100 != 2:
        raise RuntimeError("%s: %s answered %d %r" % (name, flush_route, st, body[:200]))
    if not run.settle(srv.data, args.settle_timeout):
        log("%s: data dir still changing after %ds" % (name, args.settle_timeout))
    found, expected, nseries = run.verify(srv, res)
    log("%s: loaded %d samples in %.1f s; host-00 has %d/%d samples in %d series"
        % (name, res["samples"], res["seconds"], found, expected, nseries))
    if found != expected:
        raise RuntimeError("%s: host-00 has %d samples, expected %d" % (name, found, expected))
    return srv, res


def fmt_ms(x):
    if x is None:
        return "-"
    return "%.1f" % x if x < 100 else "%.0f" % x


def main():
    ap = argparse.ArgumentParser(description="PromQL query latency: auspex vs VictoriaMetrics")
    ap.add_argument("--hosts", type=int, default=30)
    ap.add_argument("--duration", default="24h", help="simulated time span (loadgen -duration)")
    ap.add_argument("--quick", action="store_true", help="smoke run: 3 hosts x 2h")
    ap.add_argument("--rounds", type=int, default=7, help="timed rounds per query and system")
    ap.add_argument("--warmup", type=int, default=1, help="untimed rounds first (the first is checked)")
    ap.add_argument("--step", type=int, default=0, help="range step in s (default: Grafana-like, range/1000 rounded)")
    ap.add_argument("--no-vm-nocache", dest="vm_nocache", action="store_false",
                    help="skip the VictoriaMetrics -search.disableCache variant")
    ap.add_argument("--only", choices=["range", "instant"], help="run only range or only instant queries")
    ap.add_argument("--query", action="append", default=[], help="run only this query name (repeatable)")
    ap.add_argument("--concurrency", type=int, default=4, help="loadgen -concurrency")
    ap.add_argument("--seed", type=int, default=1, help="loadgen -seed")
    ap.add_argument("--timeout", type=float, default=120, help="per-request timeout, s")
    ap.add_argument("--auspex-bin", default=os.path.join(ROOT, "build", "auspex"))
    ap.add_argument("--vm-bin", default=shutil.which("victoria-metrics") or "/usr/bin/victoria-metrics")
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build-bench"))
    ap.add_argument("--settle-timeout", type=int, default=60)
    ap.add_argument("--keep", action="store_true", help="keep data dirs and logs in bench/out")
    ap.add_argument("--auspex-arg", action="append", default=[], help="extra auspex flag (repeatable)")
    ap.add_argument("--vm-arg", action="append", default=[], help="extra victoria-metrics flag (repeatable)")
    args = ap.parse_args()
    if args.quick:
        args.hosts, args.duration = 3, "2h"
    args.auspex_bin = os.path.abspath(args.auspex_bin)
    args.vm_bin = os.path.abspath(args.vm_bin)
    if not os.access(args.auspex_bin, os.X_OK):
        ap.error("no executable %s (--auspex-bin)" % args.auspex_bin)

    span = parse_duration(args.duration)
    # day-aligned, the day before (now - span): what loadgen picks by default, but explicit so
    # that every system gets the same timestamps even across midnight
    start = int((time.time() - span) // DAY * DAY - DAY)
    end = start + int(span)
    step = args.step or grafana_step(span)
    # bench/run.py's run_loadgen reads these
    args.samples_per_series, args.hosts_per_request = 1, 0
    args.loadgen_arg = ["-start=%d" % start, "-seed=%d" % args.seed, "-quiet"]

    queries = [("range", n, q) for n, q in RANGE_QUERIES] + [("instant", n, q) for n, q in INSTANT_QUERIES]
    if args.only:
        queries = [x for x in queries if x[0] == args.only]
    if args.query:
        queries = [x for x in queries if x[1] in args.query]

    signal.signal(signal.SIGTERM, run.on_sigterm)
    loadgen = run.build(args.build_dir)
    os.makedirs(OUT, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="qbench-", dir=OUT)

    def vm_argv(extra):
        return lambda port, data: [args.vm_bin, "-httpListenAddr=127.0.0.1:%d" % port,
                                   "-storageDataPath=" + data, "-retentionPeriod=100y",
                                   "-loggerLevel=WARN"] + extra + args.vm_arg

    servers = []
    rc = 1
    try:
        # 1. VictoriaMetrics: load, stop (writes the in-memory parts), copy for the nocache variant
        vm, res = load_system("VictoriaMetrics", vm_argv([]), loadgen, args, workdir)
        servers.append(vm)
        vm.stop()
        systems = [("VM", vm)]
        if args.vm_nocache:
            vmnc = run.Server("VM-nocache", vm_argv(["-search.disableCache"]), workdir)
            os.rmdir(vmnc.data)
            shutil.copytree(vm.data, vmnc.data, ignore=shutil.ignore_patterns("cache"))
            systems.append(("VM-nocache", vmnc))
        # 2. auspex, loaded alone
        ax, ares = load_system("auspex", lambda port, data: [
            args.auspex_bin, "-httpListenAddr=127.0.0.1:%d" % port, "-storageDataPath=" + data]
            + args.auspex_arg, loadgen, args, workdir)
        servers.append(ax)
        if (ares["start_ms"], ares["end_ms"], ares["samples"]) != (res["start_ms"], res["end_ms"], res["samples"]):
            raise RuntimeError("the two loads differ: %r vs %r" % (ares, res))
        systems.insert(0, ("auspex", ax))
        # 3. VictoriaMetrics up again (both variants)
        for name, srv in systems[1:]:
            log("%s: starting %s" % (name, " ".join(srv.argv)))
            srv.start(timeout=300)
            if srv not in servers:
                servers.append(srv)
        time.sleep(2)

        clients = [Client(name, srv, args.timeout) for name, srv in systems]
        names = [c.name for c in clients]
        results = []   # per query: dict
        for kind, qname, expr in queries:
            if kind == "range":
                path = "/api/v1/query_range?" + urllib.parse.urlencode(
                    {"query": expr, "start": start, "end": end, "step": step})
            else:
                path = "/api/v1/query?" + urllib.parse.urlencode({"query": expr, "time": end})
            r = {"kind": kind, "name": qname, "expr": expr, "times": {n: [] for n in names},
                 "status": {}, "bytes": {}, "parsed": {}, "err": {}}
            nrounds = args.warmup + args.rounds
            for rnd in range(nrounds):
                k = rnd % len(clients)
                for c in clients[k:] + clients[:k]:
                    if c.name in r["err"]:
                        continue
                    try:
                        st, body, dt = c.get(path)
                    except (OSError, http.client.HTTPException) as e:
                        r["err"][c.name] = str(e)
                        continue
                    if st != 200:
                        r["err"][c.name] = "HTTP %d: %s" % (st, body[:200].decode("utf-8", "replace"))
                        continue
                    if rnd == 0:
                        r["bytes"][c.name] = len(body)
                        r["parsed"][c.name] = parse_result(body)
                    if rnd >= args.warmup:
                        r["times"][c.name].append(dt)
            r["median"] = {n: (statistics.median(r["times"][n]) * 1000 if r["times"][n] else None) for n in names}
            # checks against VM's answer (as-is)
            r["checks"] = []
            ref = r["parsed"].get("VM")
            for n in names:
                if n == "VM" or n in r["err"]:
                    continue
                if ref is None or r["parsed"].get(n) is None:
                    continue
                skip = start + 300 + step if kind == "range" and "[5m]" in expr else None
                bad, line = check_line(n, "VM", compare(r["parsed"][n], ref, skip))
                r["checks"].append((bad, line))
            r["series"] = {n: (len(r["parsed"][n]) if r["parsed"].get(n) is not None else None) for n in names}
            r.pop("parsed")
            log("%-20s %s" % (qname, "  ".join("%s %s ms" % (n, fmt_ms(r["median"][n])) for n in names)
                              + ("  ERR " + str(r["err"]) if r["err"] else "")))
            results.append(r)
        for c in clients:
            c.close()

        text = report(results, names, args, start, end, step, res)
        print(text)
        with open(os.path.join(OUT, "query_results.txt"), "a") as f:
            f.write(text + "\n")
        rc = 0 if all(not r["err"] and not any(b for b, _ in r["checks"]) for r in results) else 1
    except KeyboardInterrupt:
        log("interrupted")
    except RuntimeError as e:
        log(str(e))
    finally:
        for srv in servers:
            srv.stop()
        if args.keep:
            log("kept %s" % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return rc


def report(results, names, args, start, end, step, res):
    stamp = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    lines = ["%s  hosts=%d duration=%s (%d samples) start=%d end=%d step=%ds rounds=%d warmup=%d nproc=%d"
             % (stamp, args.hosts, args.duration, res["samples"], start, end, step, args.rounds,
                args.warmup, os.cpu_count()),
             "auspex: %s %s" % (args.auspex_bin, " ".join(args.auspex_arg))]
    others = [n for n in names if n != "auspex"]
    head = ["query", "series"] + ["%s ms" % n for n in names] + ["auspex/%s" % n for n in others] + ["KB auspex/VM"]
    rows = []
    logs = {n: [] for n in others}
    for r in results:
        ser = sorted(set(v for v in r["series"].values() if v is not None))
        row = [r["name"], "/".join(str(s) for s in ser) or "-"]
        for n in names:
            row.append("ERR" if n in r["err"] else fmt_ms(r["median"][n]))
        a = r["median"].get("auspex")
        for n in others:
            b = r["median"].get(n)
            if a and b:
                row.append("%.2f" % (a / b))
                logs[n].append(math.log(a / b))
            else:
                row.append("-")
        ka, kv = r["bytes"].get("auspex"), r["bytes"].get("VM")
        row.append("%.0f/%.0f" % (ka / 1024, kv / 1024) if ka and kv else "-")
        rows.append(row)
    geo = ["geomean", ""] + [""] * len(names)
    for n in others:
        geo.append("%.2f" % math.exp(sum(logs[n]) / len(logs[n])) if logs[n] else "-")
    geo.append("")
    rows.append(geo)
    w = [max(len(x) for x in col) for col in zip(head, *rows)]
    fmt = lambda row: "  ".join(x.ljust(w[i]) if i == 0 else x.rjust(w[i]) for i, x in enumerate(row))
    lines.append(fmt(head))
    lines.extend(fmt(r) for r in rows)
    lines.append("queries:")
    for r in results:
        lines.append("  %-18s %-7s %s" % (r["name"], r["kind"], r["expr"]))
    lines.append("checks (answers of the warm-up round, compared with VM's; value statistics of the"
                 " [5m] range queries leave out their first 5m+step):")
    for r in results:
        for n, e in r["err"].items():
            lines.append("  %s: %s ERROR %s" % (r["name"], n, e))
        for bad, line in r["checks"]:
            lines.append("  %s%s: %s" % ("MISMATCH " if bad else "", r["name"], line))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
