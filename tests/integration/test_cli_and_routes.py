"""The binary's contract: flags, probes, /metrics, export parameters and errors, a clean
SIGTERM that keeps the data, and a restart that reads it back."""
import json
import subprocess
import struct

from harness import AUSPEX, Auspex, check, finish, http, parse_export_line, rw_body

STALE = struct.pack("<Q", 0x7FF0000000000002)


def run(args):
    p = subprocess.run([AUSPEX] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def main():
    rc, out, _ = run(["-version"])
    check(rc == 0 and out.startswith("auspex version "), "-version prints the version (%r)" % out)
    rc, out, _ = run(["-help"])
    check(rc == 0 and "-storageDataPath" in out and "-httpListenAddr" in out, "-help lists the flags")
    rc, _, err = run(["-noSuchFlag=1"])
    check(rc == 2 and "unknown flag" in err, "unknown flag -> exit 2 with a message (%d %r)" % (rc, err))
    rc, _, err = run(["-httpListenAddr=0.0.0.0:19999", "-storageDataPath=/nonexistent/never"])
    check(rc == 2 and "loopback" in err, "non-loopback address refused without -http.insecure (%d)" % rc)
    rc, _, err = run(["-retentionPeriod=banana"])
    check(rc == 2 and "retentionPeriod" in err, "bad -retentionPeriod -> exit 2")

    a = Auspex(keep_data=True)
    try:
        a.start()
        for path in ("/-/healthy", "/-/ready"):
            st, _, _ = http("GET", a.url + path)
            check(st == 200, "GET %s -> 200" % path)
        st, _, body = http("GET", a.url + "/no/such/route")
        check(st == 404, "unknown route -> 404")
        st, _, body = http("GET", a.url + "/api/v1/status/buildinfo")
        check(st == 200 and json.loads(body)["status"] == "success", "buildinfo answers")

        series = [([("__name__", "temp"), ("room", "a")], [(1000, 20.5), (2000, 21.0), (3000, STALE)]),
                  ([("__name__", "temp"), ("room", "b")], [(1000, -0.0), (2000, float("inf"))]),
                  ([("__name__", "other")], [(5000, 1e300)])]
        st, _, _ = a.write(rw_body(series))
        check(st == 204, "write -> 204")

        lines = a.export("temp")
        check(len(lines) == 2, "export by metric name finds 2 series")
        by_room = {l["metric"]["room"]: l for l in lines}
        check(by_room["a"]["timestamps"] == [1000, 2000, 3000] and by_room["a"]["values"][:2] == [20.5, 21.0],
              "values and timestamps exported")
        st, _, body = http("GET", a.url + '/api/v1/export?match[]=temp{room="a"}&start=1.5&end=2.5')
        ls = [parse_export_line(x) for x in body.decode().splitlines()]
        check(st == 200 and len(ls) == 1 and ls[0]["timestamps"] == [2000], "start/end (seconds) filter samples")
        st, _, body = http("GET", a.url + "/api/v1/export?match[]=temp&match[]=other")
        check(st == 200 and len(body.decode().splitlines()) == 3, "several match[] are a union")
        st, _, body = http("POST", a.url + "/api/v1/export", b"match%5B%5D=other",
                           {"Content-Type": "application/x-www-form-urlencoded"})
        check(st == 200 and b"1e+300" in body, "POST form export")
        for q, what in (("", "missing match[]"), ("match[]=temp{", "bad selector"),
                        ('match[]={room=""}', "selector matching everything"),
                        ("match[]=temp&start=yesterday", "bad start")):
            st, _, body = http("GET", a.url + "/api/v1/export?" + q)
            ok = st == 400 and json.loads(body).get("errorType") == "bad_data"
            check(ok, "export with %s -> 400 bad_data (got %d)" % (what, st))

        st, _, body = http("GET", a.url + "/metrics")
        text = body.decode()
        for name in ("auspex_samples_ingested_total 6", "auspex_series 3", "auspex_rows_rejected_total{reason=",
                     "auspex_wal_commits_total", "auspex_disk_bytes{part=\"lmdb\"}", "process_resident_memory_bytes",
                     "auspex_http_requests_total{path=\"/api/v1/write\"} 1"):
            check(name in text, "/metrics has %s" % name)
        st, _, _ = http("POST", a.url + "/internal/force_flush")
        check(st == 200, "force_flush -> 200")
        check(a.stop() == 0, "SIGTERM -> exit 0")

        a.start()
        lines = a.export('{__name__=~"temp|other"}')
        check(len(lines) == 3, "data back after restart")
        st, _, body = http("GET", a.url + '/api/v1/export?match[]=temp{room="b"}')
        check(b'"values":[-0,+Inf]' in body, "-0 and +Inf survive bit-exactly: %r" % body)
        st, _, body = http("GET", a.url + '/api/v1/export?match[]=temp{room="a"}')
        check(b'"values":[20.5,21,NaN]' in body, "stale marker exported as NaN: %r" % body)
    finally:
        a.keep_data = False
        a.cleanup()
    finish()


if __name__ == "__main__":
    main()
