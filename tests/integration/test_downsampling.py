"""Downsampling through the server (docs/downsampling.md): -downsampling.period.

Two auspex get the same 8 days of a counter with resets and a noisy gauge at 15 s (offset
7 s from the minute, so no sample sits on an interval boundary): A runs with
-downsampling.period=2d:5m,5d:1h, B keeps raw samples. Once A's pass has rolled the old
data up:
- PromQL range queries over the 5m and 1h ranges (ranges and steps multiples of the
  rollup step) answer on A what they answer on B, within float tolerance, via HTTP;
- A's /api/v1/export and /api/v1/series still see the downsampled range (one sample per
  interval: its last), so nothing silently disappears from exports;
- /metrics counts the rolled-up samples, and the data survives a restart.
"""
import json
import math
import os
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Auspex, check, finish, http, wait_until  # noqa: E402

MIN, HOUR, DAY = 60, 3600, 86400


def series_lines(now):
    t0 = (now - 8 * DAY) // MIN * MIN + 7
    ts, c, g = [], [], []
    counter = 0.0
    for k in range(8 * DAY // 15):
        if k % 9000 == 0:
            counter = 0.0  # a reset every 37.5 h
        counter += (k * 2654435761) % 10
        ts.append((t0 + 15 * k) * 1000)
        c.append(counter)
        g.append(50 + 30 * math.sin((t0 + 15 * k) / DAY * 2 * math.pi) + ((k * 40503) % 1000) / 100.0)
    lines = [json.dumps({"metric": {"__name__": "ds_counter", "job": "ds"}, "values": c, "timestamps": ts}),
             json.dumps({"metric": {"__name__": "ds_gauge", "job": "ds"}, "values": g, "timestamps": ts})]
    return ("\n".join(lines) + "\n").encode(), len(ts)


def metric(a, name):
    for k, v in a.metrics().items():
        if k == name:
            return v
    return None


def query_range(a, q, start, end, step):
    st, _, body = http("GET", a.url + "/api/v1/query_range?" + urllib.parse.urlencode(
        {"query": q, "start": start, "end": end, "step": step}))
    j = json.loads(body)
    if st != 200:
        check(False, "%s: %d %s" % (q, st, body[:200]))
    return j["data"]["result"] if st == 200 else []


def same(a, b, q, start, end, step):
    ra, rb = query_range(a, q, start, end, step), query_range(b, q, start, end, step)
    bad, n = [], 0
    if len(ra) != len(rb):
        bad.append("%d series vs %d" % (len(ra), len(rb)))
    for x, y in zip(ra, rb):
        if len(x["values"]) != len(y["values"]):
            bad.append("%d points vs %d" % (len(x["values"]), len(y["values"])))
            continue
        for (t1, v1), (t2, v2) in zip(x["values"], y["values"]):
            n += 1
            v1, v2 = float(v1), float(v2)
            if t1 != t2 or not math.isclose(v1, v2, rel_tol=1e-9, abs_tol=1e-9):
                bad.append("at %s: %r vs %r" % (t1, v1, v2))
    check(not bad and n > 0, "%s over [%d, %d] step %ds: downsampled = raw (%d points) %s"
          % (q, start, end, step, n, bad[:3]))


def main():
    now = int(time.time())
    body, n = series_lines(now)
    a = Auspex(args=["-downsampling.period=2d:5m,5d:1h", "-retention.checkInterval=1s"]).start()
    b = Auspex().start()
    try:
        for x in (a, b):
            st, _, resp = http("POST", x.url + "/api/v1/import", body)
            check(st == 204, "import %d samples: %d %s" % (2 * n, st, resp[:200]))
            http("POST", x.url + "/internal/force_flush")
        wait_until(lambda: (metric(a, "auspex_downsampling_raw_samples_total") or 0) > 2 * 5 * DAY // 15,
                   timeout=60, what="the old data rolled up")
        rolled = metric(a, "auspex_downsampling_raw_samples_total")
        time.sleep(2)
        check(metric(a, "auspex_downsampling_raw_samples_total") == rolled,
              "the pass is done: %d raw samples rolled up" % rolled)

        l1s, l1e = (now - 4 * DAY) // HOUR * HOUR, (now - 3 * DAY) // HOUR * HOUR   # 5m level
        l2s, l2e = (now - 7 * DAY) // HOUR * HOUR, (now - 6 * DAY) // HOUR * HOUR   # 1h level
        for q in ("rate(ds_counter[1h])", "increase(ds_counter[2h])", "resets(ds_counter[1d])",
                  "max_over_time(ds_gauge[1h])", "min_over_time(ds_gauge[1h])", "avg_over_time(ds_gauge[1h])",
                  "sum_over_time(ds_gauge[2h])", "count_over_time(ds_gauge[1h])", "stddev_over_time(ds_gauge[1h])",
                  "changes(ds_gauge[1h])", "delta(ds_gauge[1h])",
                  "sum(rate(ds_counter[1h])) + sum(max_over_time(ds_gauge[1h]))"):
            same(a, b, q, l1s, l1e, 5 * MIN if "[1h]" in q and "sum(" not in q else HOUR)
            same(a, b, q, l2s, l2e, HOUR)
        same(a, b, "ds_gauge", l1s, l1e, 5 * MIN)
        same(a, b, "ds_gauge", l2s, l2e, HOUR)

        # exports and series listings still cover the downsampled range
        st, _, ex = http("GET", a.url + "/api/v1/export?" + urllib.parse.urlencode(
            {"match[]": "ds_gauge", "start": l2s, "end": l2e}))
        pts = json.loads(ex.splitlines()[0])["timestamps"] if st == 200 and ex.strip() else []
        check(len(pts) == 24, "export over a day at the 1h level: one sample per hour (%d)" % len(pts))
        st, _, sr = http("GET", a.url + "/api/v1/series?" + urllib.parse.urlencode(
            {"match[]": "ds_gauge", "start": l2s, "end": l2e}))
        check(st == 200 and len(json.loads(sr)["data"]) == 1, "series API finds the series in the downsampled range")

        a.stop()
        a.start()
        same(a, b, "max_over_time(ds_gauge[1h])", l2s, l2e, HOUR)
    finally:
        a.cleanup()
        b.cleanup()
    finish()


if __name__ == "__main__":
    main()
