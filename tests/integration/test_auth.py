"""Access control (-httpAuth.*, docs/security.md): every route x every kind of credentials
gives exactly 401 / 403 / the route's own answer; secrets from file: and env: work and never
show in the log, -help or /api/v1/status/runtimeinfo; a non-loopback listen address needs
auth; the UI asks the browser for basic auth."""
import base64
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import AUSPEX, check, finish, free_port, http, wait_until  # noqa: E402

USER, PASSWORD = "admin", "pa55-w0rd-XyZ"
FULL, READ, WRITE = "full-T0KEN-abc123", "read-T0KEN-def456", "write-T0KEN-ghi789"
SECRETS = [PASSWORD, FULL, READ, WRITE]


def basic(u, p):
    return "Basic " + base64.b64encode(("%s:%s" % (u, p)).encode()).decode()


CREDS = [
    ("none", None),
    ("wrongpw", basic(USER, "wrong")),
    ("wrongtok", "Bearer not-a-token"),
    ("read", "Bearer " + READ),
    ("write", "Bearer " + WRITE),
    ("full", "Bearer " + FULL),
    ("basic", basic(USER, PASSWORD)),
    ("basicread", basic("anyone", READ)),  # a token as the basic-auth password (browsers)
]

# (method, path, class) for every route srv_api_register registers (server/auth.c's table)
R, W, P = "read", "write", "public"
ROUTES = [
    ("POST", "/api/v1/write", W),
    ("POST", "/api/v1/import/prometheus", W),
    ("POST", "/api/v1/import", W),
    ("POST", "/api/v1/import/csv?format=1:metric:m", W),
    ("GET", "/api/v1/export?match[]=up", R), ("POST", "/api/v1/export", R),
    ("GET", "/federate?match[]=up", R),
    ("GET", "/api/v1/export/csv?format=__value__&match[]=up", R), ("POST", "/api/v1/export/csv", R),
    ("GET", "/metrics", R),
    ("GET", "/-/healthy", P), ("GET", "/-/ready", P), ("GET", "/health", P),
    ("GET", "/api/v1/metadata", R), ("POST", "/api/v1/metadata", R),
    ("GET", "/api/v1/targets", R),
    ("GET", "/api/v1/series?match[]=up", R), ("POST", "/api/v1/series", R),
    ("GET", "/api/v1/labels", R), ("POST", "/api/v1/labels", R),
    ("GET", "/api/v1/label/__name__/values", R), ("POST", "/api/v1/label/job/values", R),
    ("GET", "/api/v1/status/tsdb", R),
    ("GET", "/api/v1/query?query=1", R), ("GET", "/api/v1/query", R), ("POST", "/api/v1/query", R),
    ("GET", "/api/v1/query_range?query=1&start=0&end=60&step=15", R), ("POST", "/api/v1/query_range", R),
    ("POST", "/api/v1/read", R),
    ("GET", "/api/v1/forecast", R), ("POST", "/api/v1/forecast", R),
    ("GET", "/api/v1/rules", R), ("GET", "/api/v1/alerts", R),
    ("GET", "/api/v1/query_exemplars?query=up", R), ("POST", "/api/v1/query_exemplars", R),
    ("GET", "/api/v1/rules/x/backtest", R), ("POST", "/api/v1/rules/x/backtest", R),
    ("GET", "/api/v1/decisions", R), ("GET", "/api/v1/decisions/1", R),
    ("POST", "/api/v1/decisions/1/approve", W), ("POST", "/api/v1/decisions/1/reject", W),
    ("GET", "/api/v1/admin/tsdb/delete_series", W), ("POST", "/api/v1/admin/tsdb/delete_series", W),
    ("PUT", "/api/v1/admin/tsdb/delete_series", W),
    ("GET", "/snapshot/create", W), ("POST", "/snapshot/create", W),
    ("GET", "/snapshot/list", R),
    ("GET", "/snapshot/delete", W), ("POST", "/snapshot/delete", W),
    ("GET", "/snapshot/delete_all", W), ("POST", "/snapshot/delete_all", W),
    ("POST", "/api/v1/admin/tsdb/snapshot", W), ("PUT", "/api/v1/admin/tsdb/snapshot", W),
    ("GET", "/internal/resetRollupResultCache", W), ("POST", "/internal/resetRollupResultCache", W),
    ("GET", "/internal/force_flush", W), ("POST", "/internal/force_flush", W),
    ("GET", "/api/v1/status/buildinfo", R), ("GET", "/api/v1/status/runtimeinfo", R),
    ("GET", "/", R), ("GET", "/ui/app.js", R), ("GET", "/graph", R), ("GET", "/vmui", R),
    ("GET", "/vmui/", R),
    ("GET", "/no/such/route", "any"),
]


def expected(cls, cred):
    """None: the route's own answer (anything but 401/403/5xx)."""
    if cls == P:
        return None
    if cred in ("none", "wrongpw", "wrongtok"):
        return 401
    if cred in ("full", "basic"):
        return None
    if cls == "any":
        return None
    if cls == R:
        return None if cred in ("read", "basicread") else 403
    return None if cred == "write" else 403


class Server:
    def __init__(self, args, env=None, listen=None):
        self.data = tempfile.mkdtemp(prefix="auspex-auth-")
        self.port = free_port()
        self.listen = listen or "127.0.0.1:%d" % self.port
        self.log_path = os.path.join(self.data, "log.txt")
        self.log = open(self.log_path, "wb")
        e = dict(os.environ)
        e.pop("AUSPEX_HTTP_AUTH_TOKEN", None)
        e.pop("AUSPEX_HTTP_AUTH_PASSWORD", None)
        e.update(env or {})
        self.proc = subprocess.Popen(
            [AUSPEX, "-storageDataPath=" + self.data + "/d", "-httpListenAddr=" + self.listen,
             "-node.collect=0", "-retentionPeriod=100y"] + list(args),
            stdout=self.log, stderr=self.log, env=e)
        self.url = "http://127.0.0.1:%d" % self.port

    def wait_ready(self):
        wait_until(lambda: self.proc.poll() is not None or
                   http("GET", self.url + "/-/ready", timeout=2)[0] == 200, what="auspex ready")
        return self.proc.poll() is None

    def wait_exit(self):
        try:
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return None

    def log_text(self):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.wait_exit()
        import shutil
        shutil.rmtree(self.data, ignore_errors=True)


def req(url, method, path, auth):
    h = {"Authorization": auth} if auth else {}
    body = b"" if method in ("POST", "PUT") else None
    return http(method, url + path, body, h)


def main():
    tmp = tempfile.mkdtemp(prefix="auspex-auth-secrets-")
    pw_file = os.path.join(tmp, "password")
    with open(pw_file, "w") as f:
        f.write(PASSWORD + "\n")
    args = ["-httpAuth.username=" + USER, "-httpAuth.password=file:" + pw_file,
            "-httpAuth.token=env:MY_FULL_TOKEN", "-httpAuth.readToken=" + READ,
            "-httpAuth.writeToken=env:MY_WRITE_TOKEN"]
    s = Server(args, env={"MY_FULL_TOKEN": FULL, "MY_WRITE_TOKEN": WRITE})
    try:
        check(s.wait_ready(), "auspex starts with basic auth (file:), tokens (env:, plain)")
        print("\nauth matrix (. = route's own answer, 401/403 = denied as expected, "
              "X = unexpected):")
        print("%-52s %s" % ("route", " ".join("%-8s" % c for c, _ in CREDS)))
        bad = []
        counts = {}
        for method, path, cls in ROUTES:
            cells = []
            for cname, auth in CREDS:
                st, hdrs, body = req(s.url, method, path, auth)
                want = expected(cls, cname)
                ok = (st == want) if want else (st not in (401, 403) and st < 500)
                if ok and st == 401:
                    www = [v for k, v in hdrs.items() if k.lower() == "www-authenticate"]
                    ok = b'"errorType":"unauthorized"' in body and any("Basic" in v for v in www)
                if ok and st == 403:
                    ok = b'"errorType":"forbidden"' in body
                counts[st] = counts.get(st, 0) + 1
                cells.append(("%d" % st if st in (401, 403) else ".%d" % st) if ok else "X%d" % st)
                if not ok:
                    bad.append("%s %s as %s: got %d, want %s" % (method, path, cname, st, want or "own answer"))
            print("%-52s %s" % ((method + " " + path)[:52], " ".join("%-8s" % c for c in cells)))
        for b in bad:
            print("  unexpected: " + b)
        check(not bad, "auth matrix: %d routes x %d credentials as expected (statuses %s)"
              % (len(ROUTES), len(CREDS), dict(sorted(counts.items()))))

        # a missing parameter is reported only after auth passed
        st, _, _ = req(s.url, "GET", "/api/v1/query", None)
        st2, _, _ = req(s.url, "GET", "/api/v1/query", "Bearer " + READ)
        check(st == 401 and st2 == 400, "/api/v1/query without query: 401 without creds, 400 with (%d, %d)" % (st, st2))

        # the UI: the browser's basic-auth prompt
        st, hdrs, _ = http("GET", s.url + "/")
        www = [v for k, v in hdrs.items() if k.lower() == "www-authenticate"]
        check(st == 401 and any(v.startswith('Basic realm="auspex"') for v in www),
              "GET / without credentials: 401 + WWW-Authenticate Basic (%d %s)" % (st, www))
        st, hdrs, body = http("GET", s.url + "/", headers={"Authorization": basic(USER, PASSWORD)})
        check(st == 200 and b"<html" in body.lower(), "GET / with basic auth: 200 and the page (%d)" % st)

        # secrets never printed
        st, _, info = http("GET", s.url + "/api/v1/status/runtimeinfo", headers={"Authorization": "Bearer " + FULL})
        log = s.log_text()
        leaks = [x for x in SECRETS if x in log or x.encode() in info]
        check(st == 200 and not leaks, "no secret in the log or runtimeinfo (leaked: %s)" % leaks)
        check("auth on" in log, "the log says auth is on (without secrets)")
        helptext = subprocess.run([AUSPEX, "-httpAuth.token=" + FULL, "-httpAuth.password=" + PASSWORD, "-help"],
                                  capture_output=True, text=True).stdout
        check(FULL not in helptext and PASSWORD not in helptext and "httpAuth.token" in helptext,
              "-help does not print secret values")
    finally:
        s.stop()

    # the plain environment variables, when the flags are absent
    s = Server([], env={"AUSPEX_HTTP_AUTH_TOKEN": FULL})
    try:
        check(s.wait_ready(), "starts with AUSPEX_HTTP_AUTH_TOKEN")
        a = http("GET", s.url + "/api/v1/labels")[0]
        b = http("GET", s.url + "/api/v1/labels", headers={"Authorization": "Bearer " + FULL})[0]
        check(a == 401 and b == 200, "AUSPEX_HTTP_AUTH_TOKEN: 401 without, 200 with (%d, %d)" % (a, b))
    finally:
        s.stop()
    s = Server(["-httpAuth.username=u"], env={"AUSPEX_HTTP_AUTH_PASSWORD": PASSWORD})
    try:
        check(s.wait_ready(), "starts with AUSPEX_HTTP_AUTH_PASSWORD")
        b = http("GET", s.url + "/api/v1/labels", headers={"Authorization": basic("u", PASSWORD)})[0]
        c = http("GET", s.url + "/api/v1/labels", headers={"Authorization": basic("u", "nope")})[0]
        check(b == 200 and c == 401, "AUSPEX_HTTP_AUTH_PASSWORD: basic auth 200, wrong 401 (%d, %d)" % (b, c))
    finally:
        s.stop()

    # -httpAuth.publicMetrics, -httpAuth.publicHealth=false
    s = Server(["-httpAuth.token=" + FULL, "-httpAuth.publicMetrics", "-httpAuth.publicHealth=false"])
    try:
        wait_until(lambda: s.proc.poll() is not None or
                   http("GET", s.url + "/-/ready", headers={"Authorization": "Bearer " + FULL}, timeout=2)[0] == 200,
                   what="auspex ready")
        m = http("GET", s.url + "/metrics")[0]
        h = http("GET", s.url + "/-/healthy")[0]
        check(m == 200 and h == 401, "publicMetrics: /metrics 200; publicHealth=false: /-/healthy 401 (%d, %d)" % (m, h))
    finally:
        s.stop()

    # an unreadable secret file: exit 2 naming the file
    missing = os.path.join(tmp, "no-such-file")
    s = Server(["-httpAuth.token=file:" + missing])
    try:
        rc = s.wait_exit()
        log = s.log_text()
        check(rc == 2 and missing in log, "unreadable file: exit 2 naming it (rc %s: %s)" % (rc, log.strip()[:200]))
    finally:
        s.stop()

    # binding: non-loopback needs auth (or -http.insecure)
    port = free_port()
    s = Server([], listen="0.0.0.0:%d" % port)
    try:
        rc = s.wait_exit()
        check(rc == 2 and "httpAuth" in s.log_text(), "0.0.0.0 without auth: exit 2 (rc %s)" % rc)
    finally:
        s.stop()
    port = free_port()
    s = Server(["-httpAuth.token=" + FULL], listen="0.0.0.0:%d" % port)
    s.port, s.url = port, "http://127.0.0.1:%d" % port
    try:
        check(s.wait_ready(), "0.0.0.0 with a token: starts")
        st = http("GET", s.url + "/api/v1/labels", headers={"Authorization": "Bearer " + FULL})[0]
        check(st == 200, "0.0.0.0 with a token: answers with the token (%d)" % st)
    finally:
        s.stop()
    import shutil
    shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
