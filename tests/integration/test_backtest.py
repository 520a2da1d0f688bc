"""The backtest of a scaling rule, through GET /api/v1/rules/<name>/backtest and the
`auspex backtest` CLI (docs/backtest.md).

A real periodic trace (NAB rds_cpu_utilization_cc0c53: 14 days of RDS CPU %, every 5
minutes, the most periodic trace bench/backtest_bench.c replays) is written as the signal,
moved so that it ends an hour ago, with a constant capacity series of 4 units. The rule
replays the last 7 days with 7 days of history. Checked: both policies are reported with
sane figures, the action log is ordered and well formed, unknown rule 404, bad times 400,
the CLI refuses the data folder while the server holds it (exit 1, "in use"), and after
the server stops the CLI prints the same JSON as the route."""
import csv
import json
import os
import subprocess
import tempfile
import time

from harness import AUSPEX, Auspex, api_query, check, finish, remote_write

STEP = 300_000
DAY = 86_400_000
HERE = os.path.dirname(os.path.abspath(__file__))
NAB = os.path.join(HERE, "..", "..", "..", "shared", "data", "nab", "rds_cpu_utilization_cc0c53.csv")
if not os.path.exists(NAB):
    NAB = "/work/shared/data/nab/rds_cpu_utilization_cc0c53.csv"

RULES = """rules:
  - name: rds
    expr: 'rds_cpu'
    scale_up_at: 12
    scale_down_at: 6
    history: 7d
    step: 5m
    horizon: 4h
    every: 30m
    lead_time: 30m
    cooldown: 30m
    safety_margin: 0.05
    capacity: {current: 'capacity_units', min: 1, max: 20, target_per_unit: 9}
"""


def load_trace():
    with open(NAB) as f:
        return [float(r["value"]) for r in csv.DictReader(f)]


def cli(args, timeout=300):
    p = subprocess.run([AUSPEX, "backtest"] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def check_policy(d, name, steps):
    p = d.get(name)
    check(isinstance(p, dict), "%s present" % name)
    if not isinstance(p, dict):
        return
    check(isinstance(p["actions"], int) and p["actions"] >= 0, "%s: actions %r >= 0" % (name, p["actions"]))
    check(p["minutes_under"] >= 0 and p["minutes_under"] <= steps * 5,
          "%s: minutes_under %r in [0, %d]" % (name, p["minutes_under"], steps * 5))
    check(1 <= p["mean_capacity"] <= 20, "%s: mean_capacity %r in [1, 20]" % (name, p["mean_capacity"]))
    log = p["log"]
    check(len(log) == min(p["actions"], 10000) and p["log_truncated"] is False,
          "%s: log has every action (%d of %d)" % (name, len(log), p["actions"]))
    ats = [a["at"] for a in log]
    check(ats == sorted(ats), "%s: log in time order" % name)
    for a in log:
        check(a["kind"] in ("scale_up_now", "scale_up_prepared", "scale_down"), "%s: kind %s" % (name, a["kind"]))
        check(1 <= a["to"] <= 20 and a["to"] != a["from"], "%s: %r -> %r within bounds" % (name, a["from"], a["to"]))
        check((a["kind"] == "scale_down") == (a["to"] < a["from"]), "%s: direction matches kind" % name)
        check(a["in_place_at"] >= a["at"], "%s: in place at or after the decision" % name)
        if name == "reactive":
            check(a["kind"] != "scale_up_prepared", "reactive never prepares")


def main():
    tmp = tempfile.mkdtemp(prefix="auspex-bt-")
    rules = os.path.join(tmp, "rules.yml")
    with open(rules, "w") as f:
        f.write(RULES)
    a = Auspex(args=["-rules=" + rules], keep_data=True)
    try:
        a.start()
        y = load_trace()
        end = (int(time.time() * 1000) // STEP) * STEP - 3600_000
        t0 = end - (len(y) - 1) * STEP
        ts = [t0 + i * STEP for i in range(len(y))]
        series = [([("__name__", "rds_cpu")], list(zip(ts, y))),
                  ([("__name__", "capacity_units")], [(t, 4.0) for t in ts])]
        check(not remote_write(a.url, series, batch=1), "%d points of the trace written" % len(y))
        frm, to = end - 7 * DAY, end
        params = [("from", "%d" % (frm // 1000)), ("to", "%d" % (to // 1000))]

        st, _, d = api_query(a.url, "/api/v1/rules/rds/backtest", params, timeout=300)
        check(st == 200 and d and d.get("status") == "success", "backtest route: 200 (%d %s)" % (st, d))
        data = d["data"] if d and "data" in d else {}
        steps = data.get("steps", 0)
        check(data.get("rule") == "rds" and steps == 7 * 288 + 1,
              "rule rds, %d steps (7 days, both ends)" % steps)
        check(data.get("step") == "5m" and data.get("every") == "30m", "step 5m, every 30m")
        check(data.get("start_capacity") == 4, "start capacity 4 (%r)" % data.get("start_capacity"))
        check_policy(data, "predictive", steps)
        check_policy(data, "reactive", steps)
        print("  route: predictive %s, reactive %s" % (
            {k: data["predictive"][k] for k in ("actions", "minutes_under", "mean_capacity")},
            {k: data["reactive"][k] for k in ("actions", "minutes_under", "mean_capacity")}))
        # POST with a form body: the same answer
        st, _, d2 = api_query(a.url, "/api/v1/rules/rds/backtest", params, method="POST", timeout=300)
        check(st == 200 and d2 and d2["data"] == data, "POST gives the same report")

        st, _, d = api_query(a.url, "/api/v1/rules/nope/backtest", params)
        check(st == 404 and d and d["errorType"] == "not_found" and "nope" in d["error"],
              "unknown rule: 404 not_found (%d %s)" % (st, d))
        st, _, d = api_query(a.url, "/api/v1/rules/rds/backtest", [("from", "yesterday")])
        check(st == 400 and d and d["errorType"] == "bad_data", "bad from: 400 bad_data (%d %s)" % (st, d))
        st, _, d = api_query(a.url, "/api/v1/rules/rds/backtest", [("from", "%d" % (to // 1000)),
                                                                   ("to", "%d" % (frm // 1000))])
        check(st == 400 and d and d["errorType"] == "bad_data", "from after to: 400 (%d)" % st)
        st, _, d = api_query(a.url, "/api/v1/rules/rds/backtest", [("from", "now-100d")])
        check(st == 400 and d and "90d" in d.get("error", ""), "a span over 90d: 400 (%d)" % st)
        st, _, d = api_query(a.url, "/api/v1/rules/rds/other", [])
        check(st == 404, "other paths under /api/v1/rules/: 404 (%d)" % st)
        st, _, d = api_query(a.url, "/api/v1/rules", [])
        check(st == 200 and d["data"]["rules"][0]["name"] == "rds", "GET /api/v1/rules still answers")

        # the CLI on the folder the server holds
        cargs = ["-rules=" + rules, "-rule=rds", "-from=%d" % (frm // 1000), "-to=%d" % (to // 1000),
                 "-storageDataPath=" + a.data, "-format=json"]
        rc, out, err = cli(cargs)
        check(rc == 1 and "in use by another auspex process" in err and "/backtest" in err,
              "CLI while the server runs: exit 1, in use (%d: %s)" % (rc, err.strip()))
        rc, out, err = cli(cargs[:1] + ["-rule=nope"] + cargs[2:])
        check(rc == 2 and "nope" in err and "rds" in err, "CLI unknown rule: exit 2 with the known names (%d: %s)"
              % (rc, err.strip()))
        rc, out, err = cli(cargs + ["-format=xml"])
        check(rc == 2, "CLI bad -format: exit 2")
        rc, out, err = cli(["-help"])
        check(rc == 0 and "usage: auspex backtest" in out, "CLI -help: exit 0, usage")

        check(a.stop() == 0, "server stopped cleanly")
        rc, out, err = cli(cargs)
        check(rc == 0, "CLI after the server stopped: exit 0 (%d: %s)" % (rc, err.strip()))
        try:
            got = json.loads(out)
        except ValueError:
            got = None
        check(got == data, "CLI -format=json prints the route's report")
        rc, out, err = cli(cargs[:-1])
        check(rc == 0 and "rule rds:" in out and "predictive" in out and "reactive" in out
              and "minutes under" in out, "CLI text report")
        lines = [l for l in out.splitlines()
                 if (l.startswith("predictive ") or l.startswith("reactive ")) and len(l.split()) == 4]
        check(len(lines) == 2 and lines[0].split()[1] == str(data["predictive"]["actions"])
              and lines[1].split()[1] == str(data["reactive"]["actions"]), "text figures match the JSON")
        rc, out, err = cli(cargs[:3] + ["-to=now-1h", "-storageDataPath=" + a.data])
        check(rc == 0, "relative -to=now-1h accepted (%d: %s)" % (rc, err.strip()))
    finally:
        a.stop()
        a.keep_data = False
        a.cleanup()
        for f in os.listdir(tmp):
            os.unlink(os.path.join(tmp, f))
        os.rmdir(tmp)
    finish()


if __name__ == "__main__":
    main()
