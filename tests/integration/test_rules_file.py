"""The rules file (-rules=FILE; docs/rules.md).

A valid file: auspex starts and GET /api/v1/rules lists each rule's configuration
(signals with exprs and thresholds, durations as strings, capacity, window, mode,
actions with webhook names). The webhook secret (read from the environment variable named
by secret_env) appears neither in /api/v1/rules nor in the log. Invalid files: auspex
exits 2 with a message naming the file, the line, the rule and the field.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import AUSPEX, Auspex, check, finish, free_port, http  # noqa: E402

SECRET = "it-secret-0123456789-abcdef"

VALID = """webhooks:
  - name: scaler
    url: http://127.0.0.1:8080/scale
    format: json
    secret_env: AUSPEX_IT_SECRET
rules:
  - name: web-cpu
    expr: 'avg(100 * (1 - rate(node_cpu_seconds_total{mode="idle"}[5m])))'
    history: 14d
    step: 5m
    horizon: 4h
    model: auto
    every: 30m
    scale_up_at: 80
    scale_down_at: 20
    safety_margin: 0.15
    lead_time: 30m
    cooldown: 30m
    smoothing: 3h
    capacity: {current: 'count(up{job="app"})', min: 2, max: 20, target_per_unit: 70}
    scale_down_window: "02:00-04:00"
    mode: approve
    actions: [{webhook: scaler}, {exec: ["/usr/local/bin/scale.sh", "{{desired}}"]}]
  - name: queue
    signals:
      - {name: depth, expr: sum(queue_depth), scale_up_at: 1000}
    capacity: {current: 3, max: 10, target_per_unit: 500}
"""


def part1_valid(tmp):
    path = os.path.join(tmp, "rules.yml")
    with open(path, "w") as f:
        f.write(VALID)
    os.environ["AUSPEX_IT_SECRET"] = SECRET
    a = Auspex(args=["-rules=" + path])
    try:
        a.start()
        st, _, body = http("GET", a.url + "/api/v1/rules")
        check(st == 200, "GET /api/v1/rules: 200 (%d)" % st)
        doc = json.loads(body)
        data = doc.get("data", {})
        rules = data.get("rules", [])
        check([r["name"] for r in rules] == ["web-cpu", "queue"], "both rules listed in order")
        w = rules[0] if rules else {}
        check(w.get("signals", [{}])[0].get("expr", "").startswith("avg(100 * (1 - rate("), "expr shown")
        check(w.get("signals", [{}])[0].get("scale_up_at") == 80 and
              w.get("signals", [{}])[0].get("scale_down_at") == 20, "thresholds shown")
        check((w.get("history"), w.get("step"), w.get("horizon"), w.get("every"), w.get("lead_time"),
               w.get("cooldown")) == ("2w", "5m", "4h", "30m", "30m", "30m"),
              "durations as strings (%r)" % ([w.get(k) for k in ("history", "step", "horizon")],))
        check(w.get("capacity") == {"current": 'count(up{job="app"})', "min": 2, "max": 20,
                                    "target_per_unit": 70}, "capacity shown")
        check(w.get("scale_down_window") == "02:00-04:00" and w.get("mode") == "approve", "window and mode")
        check(w.get("actions") == [{"webhook": "scaler"}, {"exec": ["/usr/local/bin/scale.sh", "{{desired}}"], "timeout": "1m"}],
              "actions with webhook names")
        q = rules[1] if len(rules) > 1 else {}
        check(q.get("capacity", {}).get("current") == 3 and q.get("scale_down_window") is None and
              q.get("mode") == "auto", "second rule: numeric capacity, defaults")
        check(data.get("webhooks", [{}])[0].get("secret_env") == "AUSPEX_IT_SECRET", "webhook lists the variable name")
        check(SECRET.encode() not in body, "secret not in /api/v1/rules")
    finally:
        a.stop()
        with open(a.log_path, "rb") as f:
            log = f.read()
        check(SECRET.encode() not in log, "secret not in the log")
        a.cleanup()


def part2_invalid(tmp):
    os.environ["AUSPEX_IT_SECRET"] = SECRET
    base = VALID.split("rules:\n")[0]
    cases = [
        (base + "rules:\n  - name: web-cpu\n    expr: up\n    scale_up_at: 1\n    history: 1d\n    horizon: 5d\n"
         "    capacity: {current: 1, max: 2, target_per_unit: 1}\n",
         'line 11: rule "web-cpu": horizon (5d) is longer than history (1d)'),
        (base + "rules:\n  - name: r\n    expr: 'rate(x[5m]'\n    scale_up_at: 1\n"
         "    capacity: {current: 1, max: 2, target_per_unit: 1}\n", 'line 8: rule "r": expr: invalid PromQL'),
        (base + "rules:\n  - name: r\n    expr: up\n    scale_up_at: 1\n    scale_down_window: '3-4'\n"
         "    capacity: {current: 1, max: 2, target_per_unit: 1}\n", 'line 10: rule "r": scale_down_window'),
        (base + "rules:\n  - name: r\n    exprr: up\n", 'line 8: rule "r": unknown key "exprr"'),
        ("rules: [\n", "line 2: YAML syntax error"),
    ]
    for text, want in cases:
        path = os.path.join(tmp, "bad.yml")
        with open(path, "w") as f:
            f.write(text)
        p = subprocess.run([AUSPEX, "-storageDataPath=" + os.path.join(tmp, "d"),
                            "-httpListenAddr=127.0.0.1:%d" % free_port(), "-node.collect=0", "-rules=" + path],
                           capture_output=True, timeout=30)
        err = p.stderr.decode()
        check(p.returncode == 2 and ("bad.yml: " + want) in err,
              "exit 2 with %r (%d %r)" % (want, p.returncode, err[-300:]))
        check(SECRET not in err + p.stdout.decode(), "secret not in the message")
    p = subprocess.run([AUSPEX, "-storageDataPath=" + os.path.join(tmp, "d"), "-node.collect=0",
                        "-rules=" + os.path.join(tmp, "missing.yml")], capture_output=True, timeout=30)
    check(p.returncode == 2 and "missing.yml" in p.stderr.decode(), "missing rules file: exit 2")


def main():
    tmp = tempfile.mkdtemp(prefix="auspex-rules-")
    try:
        part1_valid(tmp)
        part2_invalid(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
