"""Rules in action: the scheduler decides, the outbox delivers (docs/rules.md, docs/webhooks.md).

The signal `load` is written at 90 for the last 10 minutes: with a 1-minute step and a
10-minute horizon that is too little history for a forecast (cold start), so each rule
falls back to the reactive threshold (50) and decides scale_up_immediately from capacity 2
to ceil(2 * 90 / 40) = 5.

1. Retries: a local receiver answers 500, 500, then 200 -> exactly three requests, one
   accepted; the same Idempotency-Key on every try, X-Auspex-Attempt 1, 2, 3, and
   X-Auspex-Signature is the HMAC-SHA256 of the body under the secret. The decision says
   delivered after 3 tries; nothing more is sent (cooldown). /metrics has
   auspex_desired_capacity{rule} 5 and the forecast gauges; the forecast went into the store.
2. Approve mode: nothing is sent until POST /api/v1/decisions/<id>/approve; approving twice
   is a 409. Reject keeps it unsent. dry_run: recorded with the rendered command, never run.
   exec: the program runs without a shell with templated arguments; exit status and output
   are recorded.
3. kill -9 between tries: the receiver fails the first try, auspex is killed, restarted, and
   the same delivery (same key, attempt 2) completes; no second decision is made.
4. Receiver down for good: failed after max_tries, visible in /api/v1/decisions and /metrics.
"""
import hashlib
import hmac
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Auspex, check, finish, free_port, http, wait_until  # noqa: E402

SECRET = "rx-secret-\u00e9-0123456789"


class Receiver:
    """A webhook receiver on loopback answering a scripted list of statuses (then 200)."""

    def __init__(self, statuses=()):
        self.statuses = list(statuses)
        self.got = []
        self.lock = threading.Lock()
        rx = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                with rx.lock:
                    st = rx.statuses.pop(0) if rx.statuses else 200
                    rx.got.append({"path": self.path, "headers": dict(self.headers), "body": body,
                                   "status": st, "at": time.time()})
                self.send_response(st)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *a):
                pass

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def url(self, path="/hook"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def count(self):
        with self.lock:
            return len(self.got)

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def write_load(a, value=90.0, minutes=10):
    now = int(time.time())
    lines = "".join("load %g %d\n" % (value, (now - 60 * k) * 1000) for k in range(minutes, -1, -1))
    st, _, body = http("POST", a.url + "/api/v1/import/prometheus", lines.encode())
    check(st == 204, "import load: %d %s" % (st, body[:200]))


RULE = """  - name: %(name)s
    expr: 'max(load)'
    scale_up_at: 50
    history: 1h
    step: 1m
    horizon: 10m
    every: %(every)s
    cooldown: 1h
    capacity: {current: 2, max: 10, target_per_unit: 40}
    mode: %(mode)s
    actions: %(actions)s
"""


NOCAP = """  - name: nocap
    expr: 'max(load)'
    scale_up_at: 50
    every: 1s
    capacity: {current: 'sum(no_such_metric)', max: 10, target_per_unit: 40}
  - name: nodata
    expr: 'max(no_such_metric)'
    scale_up_at: 50
    scale_down_at: 10
    every: 1s
    capacity: {current: 8, max: 10, target_per_unit: 40}
"""


def rules_file(tmp, webhooks, rules, extra=""):
    p = os.path.join(tmp, "rules.yml")
    with open(p, "w") as f:
        f.write("webhooks:\n" + "".join(
            "  - {name: %s, url: '%s', format: %s, secret_env: AUSPEX_RX_SECRET, max_tries: %d, timeout: 2s}\n"
            % w for w in webhooks))
        f.write("rules:\n" + "".join(RULE % r for r in rules) + extra)
    return p


def decisions(a, **params):
    st, _, body = http("GET", a.url + "/api/v1/decisions?" + urllib.parse.urlencode(params))
    check(st == 200, "GET /api/v1/decisions: %d %s" % (st, body[:200]))
    return json.loads(body)["data"]["decisions"] if st == 200 else []


def start(tmp, rules_path, data=None, extra=()):
    os.environ["AUSPEX_RX_SECRET"] = SECRET
    return Auspex(data=data, args=["-rules=" + rules_path, "-rules.retryBackoff=300ms"] + list(extra)).start()


def test_retries_signature_feedback(tmp):
    rx = Receiver([500, 500])
    p = rules_file(tmp, [("rx", rx.url(), "json", 5)],
                   [{"name": "hot", "every": "2s", "mode": "auto", "actions": "[{webhook: rx}]"}])
    a = Auspex(args=["-rules=" + p, "-rules.retryBackoff=300ms"])
    os.environ["AUSPEX_RX_SECRET"] = SECRET
    # write the signal before the first check: start, import, and the first check (1 s) sees it
    a.start()
    try:
        write_load(a)
        wait_until(lambda: rx.count() >= 3, timeout=30, what="three delivery attempts")
        time.sleep(3)  # more checks run (every 2s): the cooldown keeps them from acting
        check(rx.count() == 3, "exactly three requests, got %d" % rx.count())
        keys = {g["headers"].get("Idempotency-Key") for g in rx.got}
        check(len(keys) == 1 and None not in keys, "one idempotency key on every try: %s" % keys)
        check([g["headers"].get("X-Auspex-Attempt") for g in rx.got] == ["1", "2", "3"], "attempt numbers")
        check(rx.got[2]["at"] - rx.got[0]["at"] >= 0.8, "backoff 300ms then 600ms")
        for g in rx.got:
            want = "sha256=" + hmac.new(SECRET.encode(), g["body"], hashlib.sha256).hexdigest()
            check(g["headers"].get("X-Auspex-Signature") == want, "signature verifies")
            check(g["body"] == rx.got[0]["body"], "the same body on every try")
        body = json.loads(rx.got[0]["body"])
        check(body["rule"] == "hot" and body["decision"] == "scale_up_immediately", "payload: %s" % body)
        check(body["current_capacity"] == 2 and body["desired_capacity"] == 5, "capacity 2 -> 5: %s" % body)
        check(body["idempotency_key"] == rx.got[0]["headers"]["Idempotency-Key"], "key in the body")
        check(body["cold_start"] is True, "cold start stated")
        ds = decisions(a, actionable="true")
        check(len(ds) == 1, "one actionable decision, got %d" % len(ds))
        d = ds[0]
        check(d["state"] == "acted" and d["id"] == body["id"], "the decision: %s" % d.get("state"))
        dl = d["deliveries"][0]
        check(dl["state"] == "delivered" and dl["tries"] == 3 and dl["last_status"] == 200,
              "delivery delivered after 3 tries: %s" % dl)
        check([x["status"] for x in dl["attempts"]] == [500, 500, 200], "attempt log")
        check("reactive" in d["reason"] or d["cold_start"], "reason says cold start: %s" % d["reason"])
        all_d = decisions(a, rule="hot")
        check(len(all_d) >= 2 and all(x["decision"] == "no_action" for x in all_d[:-1]),
              "later checks: no_action in the cooldown")
        st, _, one = http("GET", a.url + "/api/v1/decisions/" + d["id"])
        check(st == 200 and json.loads(one)["data"]["id"] == d["id"], "GET one decision")
        st, _, _ = http("GET", a.url + "/api/v1/decisions/999999")
        check(st == 404, "unknown decision: 404")
        st, _, rb = http("GET", a.url + "/api/v1/rules")
        rr = json.loads(rb)["data"]["rules"][0]
        check(rr["health"] == "ok" and rr["lastError"] == "" and rr["lastEvaluation"], "rule health: %s" % rr)
        check(rr["lastDecision"] == "no_action" and rr["desiredCapacity"] == 5, "rule status: %s" % rr)
        m = a.metrics()
        check(m.get('auspex_desired_capacity{rule="hot"}') == 5, "desired capacity gauge: %s"
              % m.get('auspex_desired_capacity{rule="hot"}'))
        check('auspex_forecast{rule="hot",signal="hot"}' in m, "forecast gauge")
        check(m.get('auspex_deliveries_total{result="delivered"}') == 1, "delivered counter")
        # the forecast series: points at the future times they predict
        now = time.time()
        st, _, qb = http("GET", a.url + "/api/v1/query_range?" + urllib.parse.urlencode(
            {"query": 'auspex_forecast_upper{rule="hot"}', "start": now, "end": now + 600, "step": 60}))
        res = json.loads(qb)["data"]["result"] if st == 200 else []
        check(len(res) == 1 and res[0]["metric"].get("signal") == "hot" and len(res[0]["values"]) >= 5,
              "auspex_forecast_upper series in the store: %s" % qb[:300])
    finally:
        a.cleanup()
        rx.close()


def test_approve_dry_run_exec(tmp):
    rx = Receiver()
    out = os.path.join(tmp, "exec-out.txt")
    script = os.path.join(tmp, "scale.py")
    with open(script, "w") as f:
        f.write("import sys\nopen(%r, 'a').write(' '.join(sys.argv[1:]) + '\\n')\nprint('scaled to', sys.argv[1])\n" % out)
    dry_marker = os.path.join(tmp, "dry-ran")
    p = rules_file(tmp, [("rx", rx.url("/gated"), "alertmanager", 3)], [
        {"name": "gated", "every": "2s", "mode": "approve", "actions": "[{webhook: rx}]"},
        {"name": "dry", "every": "1h", "mode": "dry_run",
         "actions": "[{exec: ['/usr/bin/touch', '%s']}]" % dry_marker},
        {"name": "cmd", "every": "1h", "mode": "auto",
         "actions": "[{exec: ['%s', '%s', '{{desired}}', '{{rule}} $(id);', '{{decision}}'], timeout: 20s}]"
                    % (sys.executable, script)},
    ])
    a = start(tmp, p)
    try:
        write_load(a)
        wait_until(lambda: decisions(a, rule="gated", actionable="true"), timeout=30, what="a gated decision")
        time.sleep(1.5)
        check(rx.count() == 0, "approve mode: nothing sent before approval")
        waiting = decisions(a, rule="gated", actionable="true")
        newest = waiting[0]
        check(newest["state"] == "waiting_approval", "state waiting_approval: %s" % newest["state"])
        check(newest["deliveries"][0]["state"] == "waiting", "delivery waiting")
        older = [d for d in waiting[1:] if d["state"] == "superseded"]
        check(len(older) == len(waiting) - 1, "older waiting decisions are superseded")
        if older:
            st, _, b = http("POST", a.url + "/api/v1/decisions/%s/approve" % older[0]["id"])
            check(st == 409 and b"superseded" in b, "approving a superseded decision: 409 (%d %s)" % (st, b[:120]))
        # reject the newest waiting one: it is never sent, and (no action taken) the rule
        # keeps deciding; a newer waiting decision is then approved and sent
        st, _, b = http("POST", a.url + "/api/v1/decisions/%s/reject" % newest["id"])
        check(st == 200 and json.loads(b)["data"]["deliveries"][0]["state"] == "rejected", "reject: %d" % st)
        wait_until(lambda: int(decisions(a, rule="gated", actionable="true")[0]["id"]) > int(newest["id"]),
                   timeout=15, what="a newer waiting decision")
        check(rx.count() == 0, "the rejected decision was not sent")
        w2 = decisions(a, rule="gated", actionable="true")[0]
        st, _, b = http("POST", a.url + "/api/v1/decisions/%s/approve" % w2["id"])
        check(st == 200 and json.loads(b)["data"]["state"] == "approved", "approve: %d %s" % (st, b[:200]))
        wait_until(lambda: rx.count() >= 1, timeout=15, what="the approved delivery")
        am = json.loads(rx.got[0]["body"])
        check(am["version"] == "4" and am["status"] == "firing" and am["alerts"][0]["labels"]["rule"] == "gated",
              "alertmanager payload: %s" % str(am)[:300])
        st, _, b = http("POST", a.url + "/api/v1/decisions/%s/approve" % w2["id"])
        check(st == 409, "approving twice: 409, got %d" % st)
        st, _, b = http("POST", a.url + "/api/v1/decisions/%s/approve" % newest["id"])
        check(st == 409 and b"rejected" in b, "approving a rejected decision: 409 (%d %s)" % (st, b[:120]))
        st, _, _ = http("GET", a.url + "/api/v1/decisions/%s/approve" % w2["id"])
        check(st == 405, "GET on approve: 405, got %d" % st)
        time.sleep(2.5)  # approval started the cooldown: no new waiting decision, nothing more sent
        check(rx.count() == 1, "one delivery in all, got %d" % rx.count())
        check(decisions(a, rule="gated", actionable="true")[0]["id"] == w2["id"], "cooldown after approval")
        # dry run: recorded with the command, never run
        dry = decisions(a, rule="dry", actionable="true")
        check(len(dry) == 1 and dry[0]["state"] == "dry_run" and dry[0]["deliveries"][0]["state"] == "dry_run",
              "dry_run recorded: %s" % (dry[0]["state"] if dry else None))
        check(not os.path.exists(dry_marker), "dry_run never runs the command")
        # exec: run without a shell, templated arguments, status and output recorded
        wait_until(lambda: decisions(a, rule="cmd", actionable="true") and
                   decisions(a, rule="cmd", actionable="true")[0]["deliveries"][0]["state"] == "delivered",
                   timeout=30, what="the command ran")
        with open(out) as f:
            check(f.read() == "5 cmd $(id); scale_up_immediately\n", "argv arrives verbatim, templates filled")
        dl = decisions(a, rule="cmd", actionable="true")[0]["deliveries"][0]
        check(dl["exit_code"] == 0 and "scaled to 5" in dl["output"], "exit code and output: %s" % dl)
    finally:
        a.cleanup()
        rx.close()


def test_kill9_between_tries(tmp):
    rx = Receiver([500])
    p = rules_file(tmp, [("rx", rx.url(), "json", 5)],
                   [{"name": "hot", "every": "2s", "mode": "auto", "actions": "[{webhook: rx}]"}])
    data = tempfile.mkdtemp(prefix="auspex-it-k9-")
    os.environ["AUSPEX_RX_SECRET"] = SECRET
    a = Auspex(data=data, args=["-rules=" + p, "-rules.retryBackoff=4s"], keep_data=True).start()
    try:
        write_load(a)
        wait_until(lambda: rx.count() >= 1, timeout=30, what="the first try")
        # kill once the first try's outcome is committed (tries 1, retry pending); a kill
        # before that repeats the try as attempt 1 after the restart (at least once)
        wait_until(lambda: (decisions(a, actionable="true") or [{"deliveries": [{}]}])[0]["deliveries"][0]
                   .get("tries") == 1, timeout=10, what="the first try recorded")
        a.kill9()
        time.sleep(0.5)
        check(rx.count() == 1, "one try before the kill")
        a.start()
        wait_until(lambda: rx.count() >= 2, timeout=30, what="the try after the restart")
        time.sleep(2)
        check(rx.count() == 2, "exactly two requests in all, got %d" % rx.count())
        k = [g["headers"].get("Idempotency-Key") for g in rx.got]
        check(k[0] == k[1], "same idempotency key after the restart")
        check(rx.got[1]["headers"].get("X-Auspex-Attempt") == "2", "attempt 2 after the restart")
        ds = decisions(a, actionable="true")
        check(len(ds) == 1, "no second decision after the restart (cooldown kept), got %d" % len(ds))
        check(ds and ds[0]["deliveries"][0]["state"] == "delivered", "delivered after the restart")
    finally:
        a.cleanup()
        shutil.rmtree(data, ignore_errors=True)
        rx.close()


def test_receiver_down(tmp):
    dead = "http://127.0.0.1:%d/hook" % free_port()
    p = rules_file(tmp, [("down", dead, "slack", 3)],
                   [{"name": "hot", "every": "1h", "mode": "auto", "actions": "[{webhook: down}]"}], NOCAP)
    a = start(tmp, p)
    try:
        write_load(a)

        def failed():
            ds = decisions(a, actionable="true")
            return ds and ds[0]["deliveries"][0]["state"] == "failed"
        wait_until(failed, timeout=30, what="the delivery marked failed")
        dl = decisions(a, actionable="true")[0]["deliveries"][0]
        check(dl["tries"] == 3 and dl["last_status"] is None and dl["last_error"], "3 tries, error kept: %s" % dl)
        check(len(dl["attempts"]) == 3, "three attempts logged")
        check(a.metrics().get('auspex_deliveries_total{result="failed"}') == 1, "failed counter")
        # a rule whose capacity query has no value: the check fails, nothing is recorded
        st, _, rb = http("GET", a.url + "/api/v1/rules")
        nc = [r for r in json.loads(rb)["data"]["rules"] if r["name"] == "nocap"][0]
        check(nc["health"] == "err" and "capacity query" in nc["lastError"], "failing rule: %s" % nc)
        check(decisions(a, rule="nocap") == [], "a failed check records no decision")
        # a signal with no data is not load 0: no scale-down, the check fails
        nd = [r for r in json.loads(rb)["data"]["rules"] if r["name"] == "nodata"][0]
        check(nd["health"] == "err" and "no value" in nd["lastError"], "signal without data: %s" % nd)
        check(decisions(a, rule="nodata") == [], "no decision on a signal without data")
        check(a.metrics().get('auspex_rule_check_failures_total{rule="nocap"}', 0) >= 1, "failures counted")
    finally:
        a.cleanup()


def main():
    tmp = tempfile.mkdtemp(prefix="auspex-it-rules-")
    try:
        for t in (test_retries_signature_feedback, test_approve_dry_run_exec, test_kill9_between_tries,
                  test_receiver_down):
            sub = os.path.join(tmp, t.__name__)
            os.makedirs(sub)
            t(sub)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
