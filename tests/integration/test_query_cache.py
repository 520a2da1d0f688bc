"""The PromQL result cache: a repeated or sliding range query (partly) answered from kept
results gives exactly what a fresh evaluation gives, also after new samples arrive and after
an old sample is written into an already-answered span (which must drop the kept steps);
instant queries too; /internal/resetRollupResultCache and -search.disableCache work; the
/metrics counters say what happened."""
import threading
import time

from harness import Auspex, api_query, check, finish, http, remote_write

STEP = 15000
QUERIES = [
    "sum by (job) (rate(c[5m]))",
    "g",
    "max_over_time(g[10m])",
    "avg(g) + on() group_left sum(rate(c[1m]))",
    "topk(2, g)",
    "max_over_time(rate(c[2m])[10m:1m])",
]


def cache_counts(url):
    st, _, body = http("GET", url + "/metrics")
    out = {}
    for line in body.decode().splitlines():
        if line.startswith("auspex_query_cache_requests_total{"):
            kind = line.split('"')[1]
            out[kind] = float(line.split()[-1])
    return out


def write(url, t0, t1, skip=None, value_of=None):
    """Samples every 15 s in [t0, t1) for 3 gauges and 3 counters."""
    series = []
    for i in range(3):
        ts = [t for t in range(t0, t1, STEP) if not (skip and skip[0] <= t < skip[1])]
        g = value_of or (lambda t, i=i: 10 * i + (t // STEP) % 7)
        series.append(([("__name__", "g"), ("i", str(i)), ("job", "j%d" % (i % 2))],
                       [(t, float(g(t))) for t in ts]))
        series.append(([("__name__", "c"), ("i", str(i)), ("job", "j%d" % (i % 2))],
                       [(t, float((t - t0) // STEP * (i + 1))) for t in ts]))
    return remote_write(url, series)


def answers_match(a, q, start, end, step, what):
    """The answer through the cache equals a fresh evaluation (cache reset in between)."""
    p = [("query", q), ("start", "%.3f" % (start / 1000)), ("end", "%.3f" % (end / 1000)),
         ("step", str(step // 1000))]
    st1, _, d1 = api_query(a.url, "/api/v1/query_range", p)
    http("POST", a.url + "/internal/resetRollupResultCache")
    st2, _, d2 = api_query(a.url, "/api/v1/query_range", p)
    ok = st1 == 200 and st2 == 200 and d1 == d2
    check(ok, "%s: %s" % (what, q) + ("" if ok else " (%s vs %s)" % (str(d1)[:300], str(d2)[:300])))
    return d1


def main():
    a = Auspex()
    try:
        a.start()
        now = int(time.time() * 1000) // STEP * STEP
        t0 = now - 2 * 3600 * 1000
        gap = (now - 70 * 60000, now - 60 * 60000)  # no samples here at first
        check(not write(a.url, t0, now, skip=gap), "data written (2 h, a 10-minute gap)")

        for q in QUERIES:
            p = [("query", q), ("start", "%.3f" % (t0 / 1000)), ("end", "%.3f" % (now / 1000)),
                 ("step", "60")]
            api_query(a.url, "/api/v1/query_range", p)  # fills the cache
            answers_match(a, q, t0, now, 60000, "repeat")
            # the dashboard moves on: start and end one and five steps later
            answers_match(a, q, t0 + 60000, now + 60000, 60000, "slide 1 step")
            answers_match(a, q, t0 + 300000, now + 300000, 60000, "slide 5 steps")
        c = cache_counts(a.url)
        check(c.get("hit", 0) + c.get("partial", 0) > 0 and c.get("miss", 0) > 0,
              "metrics count hits, partial hits and misses (%r)" % c)

        # new samples at the head: a sliding query must include them
        check(not write(a.url, now, now + 4 * 60000), "4 more minutes written")
        for q in QUERIES[:3]:
            api_query(a.url, "/api/v1/query_range", [("query", q), ("start", "%.3f" % (t0 / 1000)),
                                                      ("end", "%.3f" % (now / 1000)), ("step", "60")])
            answers_match(a, q, t0, now + 4 * 60000, 60000, "after new samples")

        # an old sample inside the answered span: the kept steps from it on must go
        q = "max_over_time(g[1m])"
        p = [("query", q), ("start", "%.3f" % (t0 / 1000)), ("end", "%.3f" % (now / 1000)), ("step", "60")]
        _, _, before = api_query(a.url, "/api/v1/query_range", p)
        api_query(a.url, "/api/v1/query_range", p)  # now surely cached
        check(not write(a.url, gap[0], gap[0] + STEP, value_of=lambda t: 1000.0), "backfilled one sample")
        _, _, after = api_query(a.url, "/api/v1/query_range", p)
        seen = any(v[1] == "1000" for s in after["data"]["result"] for v in s["values"])
        check(seen and after != before, "a backfilled sample shows in the next answer")
        answers_match(a, q, t0, now, 60000, "after backfill")

        # instant queries at an old time come from the cache and stay right
        ti = "%.3f" % ((now - 30 * 60000) / 1000)
        for q in QUERIES:
            r1 = api_query(a.url, "/api/v1/query", [("query", q), ("time", ti)])
            r2 = api_query(a.url, "/api/v1/query", [("query", q), ("time", ti)])
            check(r1[0] == 200 and r1[2] == r2[2], "instant repeat: " + q)
    finally:
        a.stop()

    # the concurrency gate: with one slot, parallel queries queue and all answer the same;
    # with no patience for waiting, some get 503 and say why
    c = Auspex(args=["-search.maxConcurrentRequests=1", "-search.disableCache"])
    try:
        c.start()
        now = int(time.time() * 1000) // STEP * STEP
        write(c.url, now - 2 * 3600 * 1000, now)
        p = [("query", "max_over_time(rate(c[1m])[2h:5s])"), ("time", "%.3f" % (now / 1000))]
        want = api_query(c.url, "/api/v1/query", p)[2]
        got = []
        ts = [threading.Thread(target=lambda: got.append(api_query(c.url, "/api/v1/query", p)))
              for _ in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        check(len(got) == 8 and all(g[0] == 200 and g[2] == want for g in got),
              "one slot: 8 parallel queries all answer, identically (%s)" % [g[0] for g in got])
    finally:
        c.stop()
    c = Auspex(args=["-search.maxConcurrentRequests=1", "-search.maxQueueDuration=0s",
                     "-search.disableCache"])
    try:
        c.start()
        now = int(time.time() * 1000) // STEP * STEP
        write(c.url, now - 2 * 3600 * 1000, now)
        p = [("query", "max_over_time(rate(c[5m])[2h:250ms])"), ("time", "%.3f" % (now / 1000))]
        got = []
        ts = [threading.Thread(target=lambda: got.append(api_query(c.url, "/api/v1/query", p)))
              for _ in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        busy = [g for g in got if g[0] == 503]
        check(busy and all("maxConcurrentRequests" in g[2]["error"] for g in busy) and
              any(g[0] == 200 for g in got),
              "no queue patience: some answer, the rest get 503 naming the flag (%s)" % [g[0] for g in got])
    finally:
        c.stop()

    b = Auspex(args=["-search.disableCache"])
    try:
        b.start()
        now = int(time.time() * 1000) // STEP * STEP
        write(b.url, now - 3600 * 1000, now)
        for _ in range(2):
            api_query(b.url, "/api/v1/query_range", [("query", "g"), ("start", "%.3f" % ((now - 3600000) / 1000)),
                                                      ("end", "%.3f" % (now / 1000)), ("step", "60")])
        st, _, body = http("GET", b.url + "/metrics")
        check(b"auspex_query_cache_requests_total" not in body, "-search.disableCache: no cache")
    finally:
        b.stop()
    finish()


if __name__ == "__main__":
    main()
