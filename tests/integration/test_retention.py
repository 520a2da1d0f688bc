"""-retentionPeriod enforced (docs/retention.md): samples older than the retention are
dropped at import and counted; after a restart with a shorter retention the background pass
deletes old chunks and whole series; /metrics counters move. POST
/api/v1/admin/tsdb/delete_series: matching series gone from /series, /export and queries,
others intact, still gone after a restart and after kill -9 (the WAL does not bring them
back); 400 without match[] or with a partial start/end; the server keeps answering."""
import json
import random
import time
import urllib.parse

from harness import Auspex, check, finish, http, wait_until

DAY = 86400000
# one stored chunk holds at most this many samples (engine default): the most that can
# remain older than the cutoff per series, in the one chunk straddling it
CHUNK_MAX = 16384


def imp(a, lines):
    body = ("\n".join(lines) + "\n").encode()
    return http("POST", a.url + "/api/v1/import/prometheus", body, {"Content-Type": "text/plain"})


def series(a, match):
    q = urllib.parse.urlencode([("match[]", match)])
    st, _, body = http("GET", a.url + "/api/v1/series?" + q)
    return st, (json.loads(body).get("data") if st == 200 else body)


def query(a, expr):
    q = urllib.parse.urlencode([("query", expr)])
    st, _, body = http("GET", a.url + "/api/v1/query?" + q)
    return st, json.loads(body)


def query_range(a, expr, start, end, step):
    q = urllib.parse.urlencode([("query", expr), ("start", start), ("end", end), ("step", step)])
    st, _, body = http("GET", a.url + "/api/v1/query_range?" + q)
    return st, json.loads(body)


def delete(a, params, method="POST"):
    q = urllib.parse.urlencode(params)
    return http(method, a.url + "/api/v1/admin/tsdb/delete_series" + ("?" + q if q else ""))


def gauge_lines(name, labels, t_from, t_to, step, rng):
    out, t = [], t_from
    while t <= t_to:
        out.append('%s{%s} %.3f %d' % (name, labels, rng.random() * 1000, t))
        t += step
    return out


def test_ingest_drop():
    """-retentionPeriod=1d: older samples are dropped at import (204 all the same), counted."""
    with Auspex(args=["-retentionPeriod=1d", "-retention.checkInterval=1s"]) as a:
        now = int(time.time() * 1000)
        # 10-minute steps from 3 days ago, shifted so that no sample is within 5 minutes
        # of the cutoff (now - 1d) while the request is in flight
        t0 = now - 3 * DAY + 5 * 60000
        ts = list(range(t0, now, 600000))
        lines = ['drop_m{k="a"} %d %d' % (i, t) for i, t in enumerate(ts)]
        lines.append('drop_all{k="b"} 1 %d' % (now - 2 * DAY))  # a series with only old data
        st, _, body = imp(a, lines)
        check(st == 204, "import with old samples -> 204 (%d %r)" % (st, body[:200]))
        cutoff = now - DAY
        old = sum(1 for t in ts if t < cutoff) + 1
        m = a.metrics()
        check(m.get("auspex_samples_too_old_total") == old,
              "auspex_samples_too_old_total = %d (%r)" % (old, m.get("auspex_samples_too_old_total")))
        got = a.export('drop_m')
        kept = [t for t in ts if t >= cutoff]
        check(len(got) == 1 and got[0]["timestamps"] == kept,
              "export holds exactly the %d samples newer than now-1d (%r)" %
              (len(kept), got and len(got[0]["timestamps"])))
        st, d = series(a, "drop_all")
        check(st == 200 and d == [], "a series with only too-old samples is not created (%r)" % (d,))
        st, _, body = imp(a, ['bad{1x="a"} 1 %d' % (now - 2 * DAY)])
        check(st == 400, "invalid labels are refused even when every sample is too old (%d)" % st)
        for k in ("auspex_retention_chunks_deleted_total", "auspex_retention_series_deleted_total",
                  "auspex_retention_passes_total", "auspex_retention_last_pass_timestamp_seconds",
                  "auspex_series_deleted_total"):
            check(k in m, "/metrics has %s" % k)


def test_restart_shorter_retention():
    """Written under 30d; restarted with 1d: the pass deletes old chunks and old series."""
    rng = random.Random(7)
    a = Auspex(args=["-retentionPeriod=30d"], keep_data=True)
    try:
        a.start()
        now = int(time.time() * 1000)
        step = 15000
        for h in ("a", "b"):
            lines = gauge_lines("ret_m", 'host="%s"' % h, now - 3 * DAY, now, step, rng)
            for i in range(0, len(lines), 20000):
                st, _, body = imp(a, lines[i:i + 20000])
                check(st == 204, "import ret_m{host=%s} part %d -> 204 (%d %r)" % (h, i, st, body[:100]))
        old_lines = gauge_lines("ret_old", 'host="a"', now - 3 * DAY, now - 2 * DAY, step, rng)
        st, _, _ = imp(a, old_lines)
        check(st == 204, "import ret_old (2-3 days old) -> 204")
        st, _, _ = http("POST", a.url + "/internal/force_flush")
        check(st == 200, "force_flush -> 200")
        before = {l["metric"]["host"]: l["timestamps"] for l in a.export("ret_m")}
        check(len(before) == 2 and len(before["a"]) > 3 * 5760, "3 days stored under 30d retention")
        a.stop()

        a.args = ["-retentionPeriod=1d", "-retention.checkInterval=1s"]
        a.start()
        m = wait_until(lambda: (lambda m: m if m.get("auspex_retention_passes_total", 0) >= 1 and
                                m.get("auspex_retention_series_deleted_total", 0) >= 1 else None)(a.metrics()),
                       timeout=60, what="a retention pass that deleted something")
        chunks = m.get("auspex_retention_chunks_deleted_total", 0)
        check(chunks > 0, "auspex_retention_chunks_deleted_total moved (%d)" % chunks)
        check(m.get("auspex_retention_series_deleted_total") == 1,
              "auspex_retention_series_deleted_total = 1 (%r)" % m.get("auspex_retention_series_deleted_total"))
        check(m.get("auspex_retention_last_pass_timestamp_seconds", 0) * 1000 > now - 60000,
              "auspex_retention_last_pass_timestamp_seconds is recent")
        st, d = series(a, "ret_old")
        check(st == 200 and d == [], "ret_old (all older than 1d) gone from /api/v1/series (%r)" % (d,))
        check(a.export("ret_old") == [], "ret_old gone from /api/v1/export")
        st, q = query(a, "count_over_time(ret_old[3d])")
        check(st == 200 and q["data"]["result"] == [], "ret_old gone from queries (%r)" % (q,))
        got = {l["metric"]["host"]: l["timestamps"] for l in a.export("ret_m")}
        t_check = int(time.time() * 1000)
        for h in ("a", "b"):
            ts = got.get(h, [])
            bound = t_check - DAY  # no pass has had a cutoff later than this
            newer = [t for t in before[h] if t >= bound]
            check([t for t in ts if t >= bound] == newer,
                  "ret_m{host=%s}: all %d samples newer than now-1d kept" % (h, len(newer)))
            older = [t for t in ts if t < bound]
            old_before = [t for t in before[h] if t < bound]
            # the documented slack: only the one chunk straddling the cutoff, so what is left
            # is the newest of the old samples, fewer than a chunk's worth
            tail = old_before[len(old_before) - len(older):]
            check(len(older) < CHUNK_MAX and older == tail,
                  "ret_m{host=%s}: %d samples older than now-1d remain (< %d, contiguous, of %d)" %
                  (h, len(older), CHUNK_MAX, len(old_before)))
        check(sum(len(v) for v in got.values()) < sum(len(v) for v in before.values()),
              "fewer samples stored than before the pass")
    finally:
        a.keep_data = False
        a.cleanup()


def test_delete_series():
    a = Auspex(keep_data=True)
    try:
        a.start()
        now = int(time.time() * 1000)
        lines = []
        for i in (1, 2, 3):
            lines += ['del_a{i="%d"} %d %d' % (i, k, now - 3600000 + k * 60000) for k in range(30)]
        lines += ['keep_b %d %d' % (k, now - 3600000 + k * 60000) for k in range(30)]
        lines += ['cover_c %d %d' % (k, now - 3600000 + k * 60000) for k in range(5)]
        check(imp(a, lines)[0] == 204, "import del_a, keep_b, cover_c")
        check(http("POST", a.url + "/internal/force_flush")[0] == 200, "flushed")
        # more, only in the head and the WAL
        more = ['del_a{i="%d"} %d %d' % (i, k, now - 1800000 + k * 60000 + 30000) for i in (1, 2, 3) for k in range(10)]
        more += ['keep_b 100 %d' % (now - 1000)]
        check(imp(a, more)[0] == 204, "import more (head only)")
        st, q = query(a, "count(last_over_time(del_a[2h]))")
        check(st == 200 and q["data"]["result"] and q["data"]["result"][0]["value"][1] == "3",
              "count(del_a) = 3 before")
        # a range in the past, which the result cache keeps
        rs, re_ = "%.3f" % ((now - 3600000) / 1000), "%.3f" % ((now - 900000) / 1000)
        for _ in range(2):
            st, q = query_range(a, "del_a", rs, re_, "60")
        check(st == 200 and len(q["data"]["result"]) == 3, "query_range del_a: 3 series (cached)")

        st, _, body = delete(a, [])
        e = json.loads(body) if st == 400 else {}
        check(st == 400 and e.get("status") == "error" and e.get("errorType") == "bad_data",
              "no match[] -> 400 bad_data (%d %r)" % (st, body[:200]))
        st, _, body = delete(a, [("match[]", "del_a"), ("start", str((now - 1800000) / 1000))])
        e = json.loads(body) if st == 400 else {}
        check(st == 400 and "time range is not supported" in e.get("error", ""),
              "partial start -> 400 (%d %r)" % (st, body[:200]))
        st, _, body = delete(a, [("match[]", "del_a"), ("end", str((now - 1800000) / 1000))])
        check(st == 400, "partial end -> 400 (%d)" % st)
        st, _, body = delete(a, [("match[]", "{bad")])
        check(st == 400, "bad selector -> 400 (%d)" % st)
        check(len(a.export("del_a")) == 3, "refused deletes deleted nothing")

        st, _, body = delete(a, [("match[]", 'del_a{i=~"1|2"}'), ("match[]", 'del_a{i="3"}')])
        check(st == 204, "delete_series with two match[] -> 204 (%d %r)" % (st, body[:200]))
        st, d = series(a, "del_a")
        check(st == 200 and d == [], "del_a gone from /api/v1/series (%r)" % (d,))
        check(a.export("del_a") == [], "del_a gone from /api/v1/export")
        st, q = query(a, "count(last_over_time(del_a[2h]))")
        check(st == 200 and q["data"]["result"] == [], "count(del_a) empty after (%r)" % (q,))
        st, q = query_range(a, "del_a", rs, re_, "60")
        check(st == 200 and q["data"]["result"] == [], "the cached query_range is empty after (%r)" %
              (q["data"]["result"][:1],))
        kb = a.export("keep_b")
        check(len(kb) == 1 and len(kb[0]["timestamps"]) == 31, "keep_b intact (31 samples)")
        m = a.metrics()
        check(m.get("auspex_series_deleted_total") == 3, "auspex_series_deleted_total = 3 (%r)" %
              m.get("auspex_series_deleted_total"))
        # start/end covering every sample: accepted (GET, as VictoriaMetrics)
        st, _, body = delete(a, [("match[]", "cover_c"), ("start", "0"), ("end", str(now / 1000 + 3600))], "GET")
        check(st == 204, "GET with start/end covering all -> 204 (%d %r)" % (st, body[:200]))
        check(a.export("cover_c") == [], "cover_c gone")
        st, _, _ = delete(a, [("match[]", "no_such_metric")])
        check(st == 204, "nothing matching -> 204")

        # written again: a new series under the same labels
        check(imp(a, ['del_a{i="1"} 42 %d' % (now - 500)])[0] == 204, "del_a{i=1} written again")
        got = a.export('del_a')
        check(len(got) == 1 and got[0]["values"] == [42], "only the new sample (%r)" % (got,))

        a.stop()
        a.start()
        got = a.export('del_a')
        check(len(got) == 1 and got[0]["values"] == [42] and got[0]["metric"] == {"__name__": "del_a", "i": "1"},
              "after a restart: only the rewritten del_a{i=1} (%r)" % (got,))
        check(a.export("cover_c") == [], "after a restart: cover_c still gone")
        kb = a.export("keep_b")
        check(len(kb) == 1 and len(kb[0]["timestamps"]) == 31, "after a restart: keep_b intact")

        # head-only series deleted, then kill -9: the WAL must not bring it back
        check(imp(a, ['del_k{x="1"} %d %d' % (k, now - 60000 + k) for k in range(20)])[0] == 204,
              "import del_k (head only)")
        check(delete(a, [("match[]", "del_k")])[0] == 204, "delete del_k -> 204")
        check(imp(a, ['keep_k 1 %d' % (now - 100)])[0] == 204, "import keep_k after")
        a.kill9()
        a.start()
        check(a.export("del_k") == [], "after kill -9: del_k still gone")
        check(len(a.export("keep_k")) == 1, "after kill -9: keep_k there")
        st, _, _ = http("GET", a.url + "/-/healthy")
        check(st == 200, "server still answers")
    finally:
        a.keep_data = False
        a.cleanup()


def main():
    for t in (test_ingest_drop, test_restart_shorter_retention, test_delete_series):
        print(t.__name__)
        t()
    finish()


if __name__ == "__main__":
    main()
