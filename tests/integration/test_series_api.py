"""/api/v1/series, /api/v1/labels and /api/v1/label/<name>/values beside a real
Prometheus 2.42 holding the same data (written to both by remote-write): the same
answers for the same requests, match[] unions, start/end windows, limit; promtool's
`query series` and `query labels` print the same against both; bad requests get 400."""
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.parse

from harness import Auspex, check, finish, http, rw_body, start_prometheus, stop_procs


def get(url, path, params):
    st, _, body = http("GET", url + path + "?" + urllib.parse.urlencode(params))
    return st, (json.loads(body) if body.startswith(b"{") else body)


def main():
    tmp = tempfile.mkdtemp(prefix="auspex-series-")
    procs = []
    a = Auspex()
    try:
        a.start()
        cfg = os.path.join(tmp, "p.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1h\n")
        purl = start_prometheus(procs, tmp, cfg, ["--web.enable-remote-write-receiver"])

        now = int(time.time() * 1000) // 1000 * 1000
        old, recent = now - 3_600_000, now - 60_000
        series = []
        for job in ["api", "db", "web"]:
            for inst in range(4):
                for mode in ["idle", "user", "system"]:
                    series.append(([("__name__", "cpu_seconds_total"), ("job", job), ("instance", "h%d:9100" % inst),
                                    ("mode", mode)], [(old, 1.0), (old + 15000, 2.0)]))
                series.append(([("__name__", "mem_bytes"), ("job", job), ("instance", "h%d:9100" % inst)],
                               [(recent, 5e9)]))
        series.append(([("__name__", "odd_metric"), ("lbl", "quote\"and\\slash é")], [(recent, 1.0)]))
        body = rw_body(series)
        st_a, _, _ = a.write(body)
        st_p, _, resp = http("POST", purl + "/api/v1/write", body, {"Content-Encoding": "snappy",
                             "Content-Type": "application/x-protobuf", "X-Prometheus-Remote-Write-Version": "0.1.0"})
        check(st_a == 204 and st_p == 204, "same data written to both (%d, %d %r)" % (st_a, st_p, resp[:100]))

        def norm(d):
            if isinstance(d, dict) and isinstance(d.get("data"), list):
                data = d["data"]
                if data and isinstance(data[0], dict):
                    data = sorted(json.dumps(x, sort_keys=True) for x in data)
                return {"status": d["status"], "data": data}
            return d

        cases = [
            ("/api/v1/series", [("match[]", "cpu_seconds_total")]),
            ("/api/v1/series", [("match[]", '{job="db"}'), ("match[]", 'mem_bytes{instance=~"h[12]:.*"}')]),
            ("/api/v1/series", [("match[]", '{__name__=~"cpu.*",mode!="idle"}')]),
            ("/api/v1/series", [("match[]", '{job=~".+"}'), ("start", str((recent - 1000) / 1000)),
                                ("end", str((now) / 1000))]),
            ("/api/v1/series", [("match[]", "odd_metric")]),
            ("/api/v1/labels", []),
            ("/api/v1/labels", [("match[]", "mem_bytes")]),
            ("/api/v1/labels", [("match[]", "odd_metric"), ("match[]", "mem_bytes")]),
            ("/api/v1/label/__name__/values", []),
            ("/api/v1/label/job/values", []),
            ("/api/v1/label/mode/values", [("match[]", '{job="web"}')]),
            ("/api/v1/label/instance/values", [("match[]", "mem_bytes"), ("start", str((old - 1000) / 1000)),
                                               ("end", str(now / 1000))]),
            ("/api/v1/label/lbl/values", []),
            ("/api/v1/label/nope/values", []),
        ]
        for path, params in cases:
            sa, da = get(a.url, path, params)
            sp, dp = get(purl, path, params)
            check(sa == sp == 200 and norm(da) == norm(dp),
                  "%s %s: same as Prometheus (%s vs %s)" % (path, params, json.dumps(da)[:150], json.dumps(dp)[:150]))

        # names and values: a window counts the whole UTC days it touches (as VictoriaMetrics)
        day = 86_400_000
        far = (now // day - 3) * day
        sa, da = get(a.url, "/api/v1/label/job/values", [("start", str(far / 1000)), ("end", str((far + 1000) / 1000))])
        check(sa == 200 and da["data"] == [], "label values in a window days before the data: none (%r)" % da)

        # cardinality: the same top lists as Prometheus' head (ties in any order)
        sa, da = get(a.url, "/api/v1/status/tsdb", [])
        sp, dp = get(purl, "/api/v1/status/tsdb", [])
        for field in ["seriesCountByMetricName", "labelValueCountByLabelName", "seriesCountByLabelValuePair"]:
            ours = sorted((x["value"], x["name"]) for x in da["data"][field]) if sa == 200 else None
            theirs = sorted((x["value"], x["name"]) for x in dp["data"][field]) if sp == 200 else []
            # compare the counts list, and the names where the count is not tied at the cut
            cut = min(x[0] for x in theirs) if theirs else 0
            check(ours is not None and [v for v, _ in ours] == [v for v, _ in theirs] and
                  {x for x in ours if x[0] > cut} == {x for x in theirs if x[0] > cut},
                  "status/tsdb %s as Prometheus (%s vs %s)" % (field, ours and ours[-3:], theirs[-3:]))
        check(sa == 200 and da["data"]["headStats"]["numSeries"] == dp["data"]["headStats"]["numSeries"] == len(series),
              "status/tsdb numSeries = %d" % len(series))

        # limit: the first N of the sorted answer
        sa, da = get(a.url, "/api/v1/label/instance/values", [("limit", "2")])
        check(sa == 200 and da["data"] == ["h0:9100", "h1:9100"], "limit=2 cuts the sorted values (%r)" % da)
        sa, da = get(a.url, "/api/v1/series", [("match[]", "cpu_seconds_total"), ("limit", "5")])
        check(sa == 200 and len(da["data"]) == 5, "limit=5 on series")

        for path, params, what in [("/api/v1/series", [], "series without match[]"),
                                   ("/api/v1/series", [("match[]", "{}")], "empty selector"),
                                   ("/api/v1/series", [("match[]", 'x{a=~"("}')], "bad regex"),
                                   ("/api/v1/labels", [("start", "yesterday")], "bad start"),
                                   ("/api/v1/label/bad-name/values", [], "bad label name")]:
            sa, da = get(a.url, path, params)
            sp, _ = get(purl, path, params)
            check(sa == 400 and sp == 400 and da.get("errorType") == "bad_data",
                  "%s -> 400 bad_data like Prometheus (%d/%d %r)" % (what, sa, sp, da))

        # promtool prints the same against both
        for args in [["series", "--match=cpu_seconds_total"], ["labels", "job"]]:
            out_a = subprocess.run(["promtool", "query"] + args[:1] + [a.url] + args[1:], capture_output=True, timeout=60)
            out_p = subprocess.run(["promtool", "query"] + args[:1] + [purl] + args[1:], capture_output=True, timeout=60)
            la = sorted(out_a.stdout.decode().splitlines())
            lp = sorted(out_p.stdout.decode().splitlines())
            check(out_a.returncode == 0 and la == lp and la,
                  "promtool query %s: same output (%d lines, rc %d %r)" % (args[0], len(la), out_a.returncode,
                                                                          out_a.stderr[-200:]))
    finally:
        stop_procs(procs)
        a.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
