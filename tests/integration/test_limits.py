"""Cardinality limits (docs/limits.md): -storage.maxHourlySeries / -storage.maxDailySeries
and the label limits drop the series over them from remote-write and text-import requests
(204 all the same, the rest stored), count their samples in
auspex_rows_rejected_total{reason}, and let series already admitted keep ingesting; invalid
input still fails the whole request (400, nothing stored); flag values past the hard caps
stop start-up. The hour / day rolling over is covered by tests/unit/engine/test_limits.c
(simulated clock)."""
import json
import subprocess
import time
import urllib.parse

from harness import AUSPEX, Auspex, check, finish, http, rw_body


def imp(a, lines):
    body = ("\n".join(lines) + "\n").encode()
    return http("POST", a.url + "/api/v1/import/prometheus", body, {"Content-Type": "text/plain"})


def series_ids(a, match, label="id"):
    q = urllib.parse.urlencode([("match[]", match), ("start", "0")])
    st, _, body = http("GET", a.url + "/api/v1/series?" + q)
    if st != 200:
        return None
    return sorted(m.get(label, "") for m in json.loads(body)["data"])


def samples_of(a, match):
    return sum(len(line["values"]) for line in a.export(match))


def rejected(a, reason):
    return a.metrics().get('auspex_rows_rejected_total{reason="%s"}' % reason, -1)


def away_from_hour_end():
    """The hourly set starts empty at each UTC hour: keep the test inside one hour."""
    left = 3600 - time.time() % 3600
    if left < 90:
        time.sleep(left + 1)


def test_hourly_limit():
    """-storage.maxHourlySeries=10: 15 new series by remote write -> the first 10 stored,
    5 dropped (10 samples), 204; admitted ones keep ingesting by text import, 3 more new
    ones are dropped; counters and gauges say so."""
    away_from_hour_end()
    with Auspex(args=["-storage.maxHourlySeries=10"]) as a:
        now = int(time.time() * 1000)
        body = rw_body([([("__name__", "lim_rw"), ("id", "%02d" % i)],
                         [(now - 2000, float(i)), (now - 1000, float(i) + 0.5)])
                        for i in range(15)])
        st, _, resp = a.write(body)
        check(st == 204, "remote write over the hourly limit: 204 (got %d %s)" % (st, resp[:200]))
        ids = series_ids(a, "lim_rw")
        check(ids == ["%02d" % i for i in range(10)],
              "the first 10 series stored, the other 5 absent (got %s)" % ids)
        check(rejected(a, "hourly_limit") == 10,
              "auspex_rows_rejected_total{reason=\"hourly_limit\"} = 10 (got %s)"
              % rejected(a, "hourly_limit"))
        m = a.metrics()
        check(m.get("auspex_hourly_series_limit_current_series") == 10,
              "auspex_hourly_series_limit_current_series = 10 (got %s)"
              % m.get("auspex_hourly_series_limit_current_series"))
        check(m.get("auspex_hourly_series_limit_max_series") == 10,
              "auspex_hourly_series_limit_max_series = 10")
        check(m.get("auspex_daily_series_limit_max_series") == 0,
              "auspex_daily_series_limit_max_series = 0 (no limit)")
        check(m.get("auspex_samples_ingested_total") == 20,
              "20 samples ingested (got %s)" % m.get("auspex_samples_ingested_total"))

        # text import: 5 admitted series get 3 samples more each, 3 new series are dropped
        lines = []
        for i in range(5):
            for k in range(3):
                lines.append('lim_rw{id="%02d"} %d %d' % (i, 100 + k, now + k * 1000))
        for i in range(3):
            lines.append('lim_txt{id="%d"} 1 %d' % (i, now))
        st, _, resp = imp(a, lines)
        check(st == 204, "text import over the hourly limit: 204 (got %d %s)" % (st, resp[:200]))
        check(samples_of(a, 'lim_rw{id="00"}') == 5, "an admitted series kept ingesting (5 samples)")
        check(samples_of(a, 'lim_rw{id="09"}') == 2, "an admitted series not written again: 2")
        check(series_ids(a, "lim_txt") == [], "the new text-import series are absent")
        check(rejected(a, "hourly_limit") == 13,
              "hourly_limit counter = 13 (got %s)" % rejected(a, "hourly_limit"))
        # a dropped series stays dropped within the hour
        st, _, _ = a.write(rw_body([([("__name__", "lim_rw"), ("id", "14")], [(now, 1.0)])]))
        check(st == 204 and series_ids(a, 'lim_rw{id="14"}') == [],
              "a dropped series written again in the same hour: still dropped")
        check(rejected(a, "hourly_limit") == 14, "hourly_limit counter = 14")
        log = open(a.log_path, "rb").read().decode(errors="replace")
        n_lines = log.count("-storage.maxHourlySeries=10")
        check(n_lines == 1, "one log line naming the limit, not one per drop (got %d)" % n_lines)


def test_daily_limit():
    """-storage.maxDailySeries=4: 6 new series -> 4 stored, 2 dropped."""
    with Auspex(args=["-storage.maxDailySeries=4"]) as a:
        now = int(time.time() * 1000)
        st, _, _ = imp(a, ['lim_day{id="%d"} %d %d' % (i, i, now) for i in range(6)])
        check(st == 204, "text import over the daily limit: 204")
        ids = series_ids(a, "lim_day")
        check(ids == ["0", "1", "2", "3"], "the first 4 stored (got %s)" % ids)
        check(rejected(a, "daily_limit") == 2, "daily_limit counter = 2 (got %s)"
              % rejected(a, "daily_limit"))
        m = a.metrics()
        check(m.get("auspex_daily_series_limit_current_series") == 4,
              "auspex_daily_series_limit_current_series = 4")


def test_label_limits():
    """-maxLabelsPerTimeseries=3 -maxLabelNameLen=10 -maxLabelValueLen=8: series over them
    are dropped whole (as VictoriaMetrics ignores them), counted by reason; the rest stored."""
    with Auspex(args=["-maxLabelsPerTimeseries=3", "-maxLabelNameLen=10",
                      "-maxLabelValueLen=8"]) as a:
        now = int(time.time() * 1000)
        two = [(now - 1000, 1.0), (now, 2.0)]
        body = rw_body([
            ([("__name__", "lab"), ("id", "ok"), ("b", "x")], two),
            ([("__name__", "lab"), ("id", "many"), ("b", "x"), ("c", "y")], two),
            ([("__name__", "lab"), ("id", "empty"), ("b", "x"), ("c", "")], two),  # 3 once "" goes
            ([("__name__", "lab"), ("id", "name"), ("abcdefghijk", "x")], two[:1]),
            ([("__name__", "lab"), ("id", "value"), ("b", "123456789")], two),
        ])
        st, _, resp = a.write(body)
        check(st == 204, "remote write with series over label limits: 204 (got %d %s)"
              % (st, resp[:200]))
        ids = series_ids(a, "lab")
        check(ids == ["empty", "ok"], "only the series within the limits stored (got %s)" % ids)
        check(rejected(a, "too_many_labels") == 2, "too_many_labels = 2 (got %s)"
              % rejected(a, "too_many_labels"))
        check(rejected(a, "too_long_label_name") == 1, "too_long_label_name = 1")
        check(rejected(a, "too_long_label_value") == 2, "too_long_label_value = 2")
        st, _, _ = imp(a, ['lab{id="txt"} 1 %d' % now, 'lab{id="txtlong12"} 1 %d' % now,
                           'lab{id="t",b="1",c="2"} 1 %d' % now])
        check(st == 204, "text import with series over label limits: 204")
        ids = series_ids(a, "lab")
        check(ids == ["empty", "ok", "txt"], "text import: only txt added (got %s)" % ids)
        check(rejected(a, "too_long_label_value") == 3 and rejected(a, "too_many_labels") == 3,
              "text import drops counted")
        check(a.metrics().get("auspex_hourly_series_limit_max_series") == 0,
              "no hourly limit by default")

        # invalid input still fails the whole request: 400, nothing of it stored or counted
        before = a.metrics()
        bad = rw_body([([("__name__", "lab"), ("id", "new1")], two),
                       ([("__name__", "lab"), ("id", "many2"), ("b", "x"), ("c", "y")], two),
                       ([("__name__", "lab"), ("0bad", "x")], two)])
        st, _, _ = a.write(bad)
        check(st == 400, "a request with an invalid label name: 400 (got %d)" % st)
        after = a.metrics()
        check(series_ids(a, "lab") == ["empty", "ok", "txt"], "nothing of the 400 request stored")
        check(after.get('auspex_rows_rejected_total{reason="too_many_labels"}') ==
              before.get('auspex_rows_rejected_total{reason="too_many_labels"}'),
              "and no limit drop counted for it")
        check(http("GET", a.url + "/-/healthy")[0] == 200, "the server still answers")


def test_flag_caps():
    """Values past the hard caps of core.h stop start-up with exit code 2."""
    for flag in ["-maxLabelsPerTimeseries=65", "-maxLabelNameLen=257", "-maxLabelValueLen=16385",
                 "-storage.maxHourlySeries=x"]:
        p = subprocess.run([AUSPEX, "-storageDataPath=/nonexistent/auspex-limits", flag],
                           capture_output=True, timeout=30)
        check(p.returncode == 2, "%s: exit 2 (got %d: %s)" % (flag, p.returncode,
                                                            p.stderr.decode()[:160].strip()))


if __name__ == "__main__":
    test_hourly_limit()
    test_daily_limit()
    test_label_limits()
    test_flag_caps()
    finish()
