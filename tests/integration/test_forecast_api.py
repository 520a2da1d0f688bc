"""forecast() through PromQL, GET /api/v1/forecast and the `auspex forecast` CLI: the same
series on the same grid gives the same numbers all three ways; the band holds the forecast;
a daily pattern is forecast closer than a flat line would; bad arguments get 400 with a
message."""
import math
import os
import subprocess
import tempfile
import time

from harness import Auspex, api_query, check, finish, remote_write

STEP = 300_000  # 5 minutes
DAY = 86_400_000


def value(host, t):
    """A daily cycle plus deterministic noise (host a), or a trend (host b)."""
    noise = math.sin(t / 7_777_777.0) * 0.7 + math.sin(t / 1_234_567.0) * 0.3
    if host == "a":
        return 50 + 20 * math.sin(2 * math.pi * (t % DAY) / DAY) + noise
    return 10 + t / DAY * 2 + noise


def main():
    a = Auspex()
    tmp = tempfile.mkdtemp(prefix="auspex-fc-")
    try:
        a.start()
        end = (int(time.time() * 1000) // STEP) * STEP - 3600_000
        grid = list(range(end - 7 * DAY, end + 1, STEP))  # 2017 points, as [7d] closed
        series = [([("__name__", "load"), ("host", h)], [(t, value(h, t)) for t in grid]) for h in "ab"]
        check(not remote_write(a.url, series, batch=1), "7 days at 5 minutes written")
        t = "%.3f" % (end / 1000)

        # PromQL, instant, at the end of the history
        got = {}
        for fn in ("forecast", "forecast_lower", "forecast_upper"):
            st, _, d = api_query(a.url, "/api/v1/query", [("query", "%s(load[7d], 3600)" % fn), ("time", t)])
            check(st == 200 and len(d["data"]["result"]) == 2, "%s(load[7d], 3600): 2 series (%d)" % (fn, st))
            for s in d["data"]["result"]:
                check("__name__" not in s["metric"], "%s drops the metric name" % fn)
                got[(fn, s["metric"]["host"])] = s["value"][1]
        # the forecast API on the same grid
        st, _, d = api_query(a.url, "/api/v1/forecast", [("query", "load"), ("horizon", "1h"), ("step", "5m"),
                                                         ("history", "7d"), ("time", t)])
        check(st == 200 and d["data"]["resultType"] == "forecast" and len(d["data"]["result"]) == 2,
              "/api/v1/forecast: 2 series (%d)" % st)
        for s in d["data"]["result"]:
            h = s["metric"]["host"]
            vals = s["values"]
            check(len(vals) == 12 and abs(vals[0][0] - (end + STEP) / 1000) < 1e-6 and
                  abs(vals[-1][0] - (end + 3600_000) / 1000) < 1e-6,
                  "host %s: 12 steps after the history's end" % h)
            check(all(float(v[2]) <= float(v[1]) <= float(v[3]) for v in vals),
                  "host %s: lower <= yhat <= upper at every step" % h)
            check(s["model"] in ("seasonal", "holt_winters", "seasonal_naive", "drift", "linear", "naive"),
                  "host %s: the model used is named (%s, periods %s, sMAPE %s)" % (h, s["model"], s["periods"], s["smape"]))
            same = (got[("forecast", h)], got[("forecast_lower", h)], got[("forecast_upper", h)]) == \
                (vals[11][1], vals[11][2], vals[11][3])
            check(same, "host %s: forecast()/_lower/_upper at +1h equal /api/v1/forecast's last step "
                  "(%s %s %s vs %s)" % (h, got[("forecast", h)], got[("forecast_lower", h)],
                                        got[("forecast_upper", h)], vals[11][1:]))
            if h == "a":
                truth = value("a", end + 3600_000)
                flat = abs(value("a", end) - truth)
                check(abs(float(vals[11][1]) - truth) < max(flat, 2.0),
                      "host a: the daily pattern is forecast (|err| %.2f, flat line %.2f)" %
                      (abs(float(vals[11][1]) - truth), flat))
            # the CLI on the same values
            csv = os.path.join(tmp, "%s.csv" % h)
            with open(csv, "w") as f:
                f.write("timestamp,value\n" + "".join("%d,%r\n" % (g // 1000, value(h, g)) for g in grid))
            bin_ = a.bin if hasattr(a, "bin") else os.environ.get("AUSPEX_BIN", "build/auspex")
            p = subprocess.run([bin_, "forecast", "-input=" + csv, "-horizon=12", "-quiet"],
                               capture_output=True, text=True, timeout=60)
            rows = p.stdout.strip().splitlines()
            check(p.returncode == 0 and rows[0] == "timestamp,yhat,yhat_lower,yhat_upper" and len(rows) == 13 and
                  rows[12].split(",")[0] == str((end + 3600_000) // 1000),
                  "host %s: the CLI prints 12 rows (rc %d %s)" % (h, p.returncode, p.stderr.strip()[:200]))
            if len(rows) == 13:
                last = rows[12].split(",")
                check([float(x) for x in last[1:]] == [float(x) for x in vals[11][1:]],
                      "host %s: the CLI's step 12 equals the API's (%s vs %s)" % (h, last[1:], vals[11][1:]))

        # a model by name, and the range form
        st, _, d = api_query(a.url, "/api/v1/forecast", [("query", "load{host='b'}"), ("horizon", "2h"),
                                                         ("model", "linear"), ("time", t), ("history", "2d")])
        check(st == 200 and d["data"]["result"][0]["model"] == "linear", "model=linear is used (%d)" % st)
        st, _, d = api_query(a.url, "/api/v1/query_range", [("query", 'forecast(load[1d], 3600, "drift")'),
                                                            ("start", "%.3f" % ((end - 3600_000) / 1000)),
                                                            ("end", t), ("step", "300")])
        check(st == 200 and d["data"]["resultType"] == "matrix" and
              all(len(s["values"]) == 13 for s in d["data"]["result"]),
              "forecast() in a range query: a point per step (%d)" % st)

        # bad arguments
        for q, why in [("forecast(load[1d], -60)", "negative horizon"), ("forecast(load, 60)", "not a range"),
                       ('forecast(load[1d], 60, "prophetic")', "unknown model"),
                       ("forecast(load[1d], 60, \"auto\", 1.5)", "coverage outside (0, 1)"),
                       ("forecast(load[1d])", "missing horizon")]:
            st, _, d = api_query(a.url, "/api/v1/query", [("query", q), ("time", t)])
            check(st == 400 and d["errorType"] == "bad_data" and d["error"], "%s -> 400 (%d %s)" % (why, st, d and d.get("error")))
        for params, why in [([("query", "load")], "no horizon"),
                            ([("query", "load"), ("horizon", "-1h")], "negative horizon"),
                            ([("query", "load"), ("horizon", "1h"), ("model", "nope")], "unknown model"),
                            ([("query", "load[5m]"), ("horizon", "1h")], "a range vector query"),
                            ([("horizon", "1h")], "no query"),
                            ([("query", "load"), ("horizon", "1h"), ("coverage", "2")], "coverage 2"),
                            ([("query", "load"), ("horizon", "1h"), ("step", "1s"), ("history", "30d")], "too many points")]:
            st, _, d = api_query(a.url, "/api/v1/forecast", params)
            check(st == 400 and d["errorType"] == "bad_data", "/api/v1/forecast %s -> 400 (%d %s)" % (why, st, d and d.get("error")))
    finally:
        a.stop()
    finish()


if __name__ == "__main__":
    main()
