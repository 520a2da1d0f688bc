"""Forwarding to an upstream (docs/forwarding.md) with the real VictoriaMetrics as the upstream.

1. auspex runs with -remoteWrite.url pointing at VictoriaMetrics' /api/v1/write. Remote
   writes, text imports and the built-in scraper all go into auspex and on upstream.
2. The upstream is stopped: writes to auspex still succeed (queued on disk), the queue
   grows on /metrics.
3. auspex is restarted while the upstream is still down, more is written, then auspex is
   killed with -9 (no clean shutdown) and started again, and the upstream comes back.
4. When the queue is empty, VictoriaMetrics' export holds every sample written to auspex,
   each exactly once (same timestamps, same values), per series.
5. -rules.datasource: a second auspex with an empty store reads a rule's signal from
   VictoriaMetrics and decides on it.
"""
import json
import math
import os
import shutil
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Auspex, VictoriaMetrics, check, finish, http, rw_body, wait_until  # noqa: E402


def metric(a, name, suffix=""):
    """The value of the one series of `name` whose labels end with suffix, or -1."""
    for k, v in a.metrics().items():
        if k.startswith(name + "{") and k.endswith(suffix + "}"):
            return int(v)
    return -1


def queue_bytes(a):
    return metric(a, "auspex_forward_queue_bytes")


def forwarded(a, result):
    return metric(a, "auspex_forward_samples_total", 'result="%s"' % result)


class Written:
    """What was acknowledged to writers: series name -> {ts_ms: value}."""

    def __init__(self):
        self.s = {}

    def add(self, name, ts, v):
        self.s.setdefault(name, {})[ts] = v


def write_rw(a, w, phase, n_series=5, n_samples=20, t0=None):
    t0 = t0 or (int(time.time()) - 3600) * 1000
    series = []
    for i in range(n_series):
        name = "fwd_rw_%s_%d" % (phase, i)
        samples = [(t0 + k * 15000, float(i * 1000 + k) + 0.25) for k in range(n_samples)]
        series.append(([("__name__", name), ("job", "fwd"), ("phase", phase)], samples))
    st, _, body = http("POST", a.url + "/api/v1/write", rw_body(series),
                       {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf"})
    check(st == 204, "remote write %s: %d %s" % (phase, st, body[:200]))
    if st == 204:
        for labels, samples in series:
            for t, v in samples:
                w.add(labels[0][1], t, v)


def write_text(a, w, phase, t0):
    lines = []
    for k in range(30):
        t = t0 + k * 10000
        lines.append('fwd_text_%s{job="fwd"} %d %d' % (phase, k * 3, t))
    st, _, body = http("POST", a.url + "/api/v1/import/prometheus", ("\n".join(lines) + "\n").encode())
    check(st == 204, "text import %s: %d %s" % (phase, st, body[:200]))
    if st == 204:
        for k in range(30):
            w.add("fwd_text_%s" % phase, t0 + k * 10000, float(k * 3))


def vm_export(vm, match):
    http("GET", vm.url + "/internal/force_flush")
    st, _, body = http("GET", vm.url + "/api/v1/export?" + urllib.parse.urlencode({"match[]": match}))
    check(st == 200, "VictoriaMetrics export: %d" % st)
    out = {}
    for line in body.decode().splitlines():
        if not line.strip():
            continue
        j = json.loads(line)
        name = j["metric"]["__name__"]
        out.setdefault(name, []).extend(zip(j["timestamps"], j["values"]))
    return out


def start_auspex(data, vm_url, extra=()):
    return Auspex(data=data, keep_data=True, args=[
        "-remoteWrite.url=" + vm_url + "/api/v1/write", "-remoteWrite.retryMinInterval=200ms",
        "-node.collect=0"] + list(extra)).start()


def main():
    tmp = tempfile.mkdtemp(prefix="auspex-forward-")
    vm = VictoriaMetrics(tmp)
    data = os.path.join(tmp, "auspex")
    a = b = None
    w = Written()
    try:
        vm.start()
        a = start_auspex(data, vm.url)
        t0 = (int(time.time()) - 2 * 3600) * 1000
        write_rw(a, w, "up1", t0=t0)
        write_text(a, w, "up1", t0)
        wait_until(lambda: queue_bytes(a) == 0 and forwarded(a, "sent") >= 130, timeout=30,
                   what="the first writes forwarded")

        # 2. the upstream goes away: writes still succeed, the queue grows
        vm.stop()
        write_rw(a, w, "down1", t0=t0 + 1000)
        write_text(a, w, "down1", t0 + 1000)
        wait_until(lambda: queue_bytes(a) > 0, timeout=10, what="a queue while the upstream is down")
        q1 = queue_bytes(a)
        check(q1 > 0, "queued while the upstream is down: %d bytes" % q1)

        # 3. restart auspex with the upstream still down, write more, kill -9, start again
        a.stop()
        a = start_auspex(data, vm.url)
        check(queue_bytes(a) >= q1, "the queue survived the restart (%d >= %d bytes)" % (queue_bytes(a), q1))
        write_rw(a, w, "down2", t0=t0 + 2000)
        a.kill9()
        a = start_auspex(data, vm.url)
        write_rw(a, w, "down3", t0=t0 + 3000)
        vm.start()
        wait_until(lambda: queue_bytes(a) == 0, timeout=60, what="the queue drained after the upstream came back")

        # 4. every sample exactly once
        got = vm_export(vm, '{job="fwd"}')
        total = sum(len(v) for v in w.s.values())
        missing = dup = wrong = 0
        for name, want in w.s.items():
            pts = got.get(name, [])
            ts = [t for t, _ in pts]
            dup += len(ts) - len(set(ts))
            have = dict(pts)
            for t, v in want.items():
                if t not in have:
                    missing += 1
                elif not math.isclose(have[t], v):
                    wrong += 1
        extra = set(got) - set(w.s)
        check(missing == 0 and dup == 0 and wrong == 0 and not extra,
              "VictoriaMetrics holds all %d samples of %d series exactly once (missing %d, duplicated %d, "
              "wrong %d, extra series %s)" % (total, len(w.s), missing, dup, wrong, sorted(extra)[:3]))
        check(forwarded(a, "refused") == 0, "nothing refused by the upstream")

        # 5. rules reading their signal from the upstream: a recent signal, written to auspex
        # and so forwarded to VictoriaMetrics
        now = int(time.time())
        lines = "".join("fwd_signal %d %d\n" % (300 + k, (now - 60 * k) * 1000) for k in range(90, -1, -1))
        st, _, _ = http("POST", a.url + "/api/v1/import/prometheus", lines.encode())
        check(st == 204, "import the signal: %d" % st)
        wait_until(lambda: queue_bytes(a) == 0, timeout=30, what="the signal forwarded")
        http("GET", vm.url + "/internal/force_flush")
        rules = os.path.join(tmp, "rules.yml")
        with open(rules, "w") as f:
            f.write("""rules:
  - name: upstream
    expr: 'max(fwd_signal)'
    scale_up_at: 500
    history: 3h
    step: 1m
    horizon: 10m
    every: 1h
    capacity: {current: 2, max: 10, target_per_unit: 400}
    mode: dry_run
""")
        b = Auspex(args=["-rules=" + rules, "-rules.datasource=" + vm.url, "-node.collect=0"]).start()

        def decided():
            st, _, body = http("GET", b.url + "/api/v1/decisions?rule=upstream")
            d = json.loads(body)["data"]["decisions"] if st == 200 else []
            return d[0] if d else None
        try:
            d = wait_until(decided, timeout=30, what="a decision from upstream data")
        except TimeoutError:
            st, _, body = http("GET", b.url + "/api/v1/rules")
            check(False, "a decision from upstream data; the rule says %s" % body[-400:])
            raise
        pts = d["inputs"]["signals"][0]["points"]
        check(pts > 0 and d["inputs"]["signals"][0]["current"] is not None,
              "the rule read %d points of its signal from VictoriaMetrics (current %s)"
              % (pts, d["inputs"]["signals"][0]["current"]))
        # VictoriaMetrics aligns points to the step and leaves out the last 30 s
        # (-search.latencyOffset): the newest value or the one a minute before it
        check(d["inputs"]["signals"][0]["current"] in (300, 301),
              "the current value read upstream is one of the newest written: %s" % d["inputs"]["signals"][0]["current"])
        st, _, body = http("GET", b.url + "/api/v1/series?match[]=fwd_signal")
        check(json.loads(body)["data"] == [], "the second auspex has none of that data itself")
    finally:
        for x in (a, b):
            if x:
                x.cleanup()
        vm.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
