"""Compressed import bodies (Content-Encoding: gzip / deflate) on both import routes, as
vmctl and VictoriaMetrics clients send them: accepted and stored exactly like the plain
body; a gzip bomb stops at -maxInsertRequestSize with 413; corrupt or truncated gzip gets
400; an unknown encoding 415; nothing from a refused body is stored. Also VictoriaMetrics'
/health probe."""
import gzip
import json
import zlib

from harness import Auspex, check, finish, http


def main():
    a = Auspex(args=["-maxInsertRequestSize=1MB"])
    try:
        a.start()
        st, _, body = http("GET", a.url + "/health")
        check(st == 200 and body == b"OK", "GET /health -> 200 OK (%d %r)" % (st, body))

        text = "".join('gz_text{i="%d"} %d.5 %d\n' % (i, i, 1_700_000_000_000 + i) for i in range(500)).encode()
        jsonl = "".join('{"metric":{"__name__":"gz_json","i":"%d"},"values":[%d,%d],"timestamps":[1000,2000]}\n'
                        % (i, i, -i) for i in range(300)).encode()
        st, _, resp = http("POST", a.url + "/api/v1/import/prometheus", gzip.compress(text),
                           {"Content-Encoding": "gzip"})
        check(st == 204, "gzip text import -> 204 (%d %r)" % (st, resp[:200]))
        got = a.export("gz_text")
        check(len(got) == 500 and all(len(s["values"]) == 1 for s in got), "500 series from the gzip text body")
        vals = {s["metric"]["i"]: (s["values"][0], s["timestamps"][0]) for s in got}
        check(vals.get("7") == (7.5, 1_700_000_000_007), "values and timestamps kept")

        st, _, resp = http("POST", a.url + "/api/v1/import", gzip.compress(jsonl[:len(jsonl) // 2])
                           + gzip.compress(jsonl[len(jsonl) // 2:]), {"Content-Encoding": "gzip"})
        check(st == 204, "JSON lines in two concatenated gzip members -> 204 (%d %r)" % (st, resp[:200]))
        got = a.export("gz_json")
        check(len(got) == 300 and sum(len(s["values"]) for s in got) == 600, "300 series, 600 samples")

        st, _, resp = http("POST", a.url + "/api/v1/import/prometheus", zlib.compress(b"gz_deflate 1 1000\n"),
                           {"Content-Encoding": "deflate"})
        check(st == 204 and len(a.export("gz_deflate")) == 1, "deflate (zlib) body -> 204 and stored")

        # a bomb: 64 MB of repeated lines compress to ~100 KB, far under the 1 MB body cap
        bomb = gzip.compress(b'gz_bomb{x="y"} 1\n' * ((64 << 20) // 17))
        check(len(bomb) < (1 << 20), "bomb body is under the 1 MB cap (%d bytes)" % len(bomb))
        st, _, resp = http("POST", a.url + "/api/v1/import/prometheus", bomb, {"Content-Encoding": "gzip"})
        err = json.loads(resp).get("error", "") if resp.startswith(b"{") else ""
        check(st == 413 and "exceeds" in err, "gzip bomb -> 413 at the size limit (%d %r)" % (st, err))

        good = gzip.compress(b'gz_bad 1 1000\n' * 1000)
        for body, what in [(good[:len(good) // 2], "truncated gzip"), (b"\x1f\x8bnot really gzip", "corrupt gzip"),
                           (b'gz_bad 1 1000\n', "plain text declared gzip")]:
            st, _, resp = http("POST", a.url + "/api/v1/import/prometheus", body, {"Content-Encoding": "gzip"})
            check(st == 400 and b"gzip" in resp, "%s -> 400 naming gzip (%d %r)" % (what, st, resp[:120]))
        st, _, resp = http("POST", a.url + "/api/v1/import", b"x", {"Content-Encoding": "br"})
        check(st == 415, "unknown Content-Encoding -> 415 (%d)" % st)
        check(a.export('{__name__=~"gz_bomb|gz_bad"}') == [], "nothing from refused bodies was stored")
        # `curl -d @file` (the VictoriaMetrics docs' example) labels the body as a form; an
        # import body is data all the same, and extra_label still comes from the URL
        st, _, resp = http("POST", a.url + "/api/v1/import/prometheus?extra_label=via=curl",
                           b'form_ct{a="b"} 1 1000\nform_ct{a="c"} 2 1000\n',
                           {"Content-Type": "application/x-www-form-urlencoded"})
        got = a.export("form_ct")
        check(st == 204 and len(got) == 2 and all(g["metric"].get("via") == "curl" for g in got),
              "a body sent as a form is imported as data (%d %r)" % (st, resp[:120]))
        # runs of lines of one series (a backfill written series by series) are stored whole,
        # also when the series comes back later in the body or repeats a sample
        body = (b'run_m{k="a"} 1 1000\nrun_m{k="a"} 2 2000\nrun_m{k="b"} 9 1000\n'
                b'run_m{k="a"} 3 3000\nrun_m{k="a"} 3 3000\nrun_m{k="a"} 0.5 500\n')
        st, _, _ = http("POST", a.url + "/api/v1/import/prometheus", body)
        got = {g["metric"]["k"]: list(zip(g["timestamps"], g["values"])) for g in a.export("run_m")}
        check(st == 204 and got == {"a": [(500, 0.5), (1000, 1), (2000, 2), (3000, 3)], "b": [(1000, 9)]},
              "runs of one series: every sample kept, in time order (%r)" % got)
        st, _, _ = http("GET", a.url + "/-/healthy")
        check(st == 200, "still serving")
    finally:
        a.cleanup()
    finish()


if __name__ == "__main__":
    main()
