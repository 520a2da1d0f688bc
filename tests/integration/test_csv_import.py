"""POST /api/v1/import/csv beside a real VictoriaMetrics 1.79: the same CSV bodies (several
time formats, Go layouts among them, which VictoriaMetrics reads with Go's own time.Parse,
label columns, quoted fields, empty fields, extra_label, a gzip body) imported into both,
then both exports (JSON lines, and CSV through /api/v1/export/csv in several formats,
Go layouts included) must hold the same series with the same timestamps and values.
Differences by design: a bad line refuses the whole auspex request (400 naming the line;
nothing stored) where VictoriaMetrics skips the line and answers 204; an empty value field
gives no sample for that metric while the line's other metrics are stored (VictoriaMetrics
skips the whole line). Finally a real server
trace from ../shared/data (NAB, `YYYY-MM-DD HH:MM:SS` times) goes in as CSV and
/api/v1/forecast answers on it.
"""
import gzip
import json
import os
import shutil
import tempfile
import urllib.parse

from harness import Auspex, VictoriaMetrics, check, finish, http

NAB = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data", "nab",
                   "ec2_cpu_utilization_5f5533.csv")

CASES = [
    ("1:time:unix_s,2:metric:csv_a,3:metric:csv_b,4:label:host",
     "1700000000,1,10,h1\n1700000015,2,20,h1\n1700000030,3,30,h2\n1700000045,4,40,h2\n"),
    ("2:metric:csv_ms,1:time:unix_ms", "1700000000123,0.5\n1700000000999,-7.25\n"),
    ("1:time:unix_ns,2:metric:csv_ns", "1700000000123456789,42\n"),
    ("1:time:rfc3339,2:metric:csv_rfc", "2023-11-14T22:13:20Z,1\n2023-11-14T23:13:21.5+01:00,2\n"),
    ("1:time:custom:2006-01-02 15:04:05,2:metric:csv_space", "2023-11-14 22:13:20,5\n2023-11-14 22:18:20,6\n"),
    ("1:time:custom:Jan _2 2006 3:04:05.000 PM -0700,2:metric:csv_go1",
     "Nov 14 2023 10:13:20.250 PM +0100,1\nNov  4 2023 1:13:20.250 AM -0000,2\n"),
    ("1:time:custom:02/01/06 15:04,2:metric:csv_go2", "14/11/23 22:13,1\n01/02/24 00:00,2\n"),
    ("1:time:custom:2006-002T15:04:05Z07:00,2:metric:csv_go3", "2024-060T00:00:00Z,1\n2023-318T22:13:20+05:30,2\n"),
    ("1:time:custom:Mon Jan 2 15:04:05 2006,2:metric:csv_go4", "Tue Nov 14 22:13:20 2023,1\n"),
    ("1:time:custom:20060102150405.000,2:metric:csv_go5", "20231114221320.125,1\n"),
    ("1:time:unix_s,2:label:q,3:metric:csv_quoted",
     '1700000000,"a, ""quoted"" value",1\n1700000015,plain,2\r\n\n1700000030,"",3\n'),
]


def export(url, match):
    st, _, body = http("GET", url + "/api/v1/export?" + urllib.parse.urlencode({"match[]": match}))
    out = {}
    for line in body.decode().splitlines():
        if line.strip():
            d = json.loads(line)
            key = tuple(sorted(d["metric"].items()))
            pts = sorted(zip(d["timestamps"], d["values"]))
            out.setdefault(key, []).extend(pts)
    return st, {k: sorted(v) for k, v in out.items()}


def post_csv(url, fmt, body, extra=(), headers=None):
    q = [("format", fmt)] + [("extra_label", x) for x in extra]
    return http("POST", url + "/api/v1/import/csv?" + urllib.parse.urlencode(q), body, headers or {})


def main():
    tmp = tempfile.mkdtemp(prefix="auspex-csv-")
    a = Auspex()
    vm = VictoriaMetrics(tmp)
    try:
        a.start()
        vm.start()
        for fmt, body in CASES:
            sa, _, ba = post_csv(a.url, fmt, body.encode())
            sv, _, bv = post_csv(vm.url, fmt, body.encode())
            check(sa == 204 and sv == 204, "import %s: auspex %d %s, VM %d" % (fmt[:60], sa, ba[:120], sv))
        # extra labels and a gzip body
        body = "1700000000,1,x\n1700000060,2,x\n"
        for url in (a.url, vm.url):
            st, _, b = post_csv(url, "1:time:unix_s,2:metric:csv_extra,3:label:job", gzip.compress(body.encode()),
                                ["job=override", "env=test"], {"Content-Encoding": "gzip"})
            check(st == 204, "gzip + extra_label to %s: %d %s" % (url, st, b[:100]))
        http("GET", vm.url + "/internal/force_flush")
        match = '{__name__=~"csv_.*"}'
        _, ea = export(a.url, match)
        _, ev = export(vm.url, match)
        check(len(ea) == len(ev) == 17, "both hold 17 series (auspex %d, VM %d)" % (len(ea), len(ev)))
        for k in sorted(set(ea) | set(ev)):
            check(ea.get(k) == ev.get(k), "%s: auspex %s, VM %s" % (dict(k), ea.get(k), ev.get(k)))

        # the CSV export of both, for the same selection and formats: the same lines
        for fmt in ["__name__,host,q,job,__value__,__timestamp__:unix_ms",
                    "__timestamp__:rfc3339,__value__,__name__,q",
                    "__timestamp__:unix_s,__timestamp__:unix_ns,__value__,env",
                    "__timestamp__:custom:Mon Jan _2 2006 03:04:05.000 PM -07:00 002,__value__,__name__",
                    "__timestamp__:custom:2006-01-02T15:04:05.999Z07:00,__name__,__value__"]:
            outs = []
            for url in (a.url, vm.url):
                st, hd, b = http("GET", url + "/api/v1/export/csv?" + urllib.parse.urlencode(
                    {"format": fmt, "match[]": match}))
                outs.append((st, sorted(b.decode().splitlines())))
            check(outs[0] == outs[1] and len(outs[0][1]) == 28,
                  "export/csv format=%s: %d lines as VictoriaMetrics (%s)" % (
                      fmt[:50], len(outs[0][1]), [x for x in outs[0][1] if x not in outs[1][1]][:2]))
        st, hd, b = http("GET", a.url + "/api/v1/export/csv?" + urllib.parse.urlencode({"match[]": match}))
        check(st == 400 and b"missing format" in b, "export/csv without format: 400 (%d)" % st)

        # a bad line: auspex refuses the whole body and stores nothing; VM skips the line
        bad = "1700000000,1\n1700000015,oops\n1700000030,3\n"
        sa, _, ba = post_csv(a.url, "1:time:unix_s,2:metric:csv_bad", bad.encode())
        sv, _, _ = post_csv(vm.url, "1:time:unix_s,2:metric:csv_bad", bad.encode())
        d = json.loads(ba)
        check(sa == 400 and d["errorType"] == "bad_data" and d["error"].startswith("line 2: field 2: bad number"),
              "a bad line: auspex 400 naming it (%d %s); VM %d (skips the line)" % (sa, ba[:120], sv))
        _, eb = export(a.url, "csv_bad")
        check(eb == {}, "nothing of the refused body stored (%s)" % eb)
        for fmt, why in [("", "missing format"), ("1:metric", "want <column>:<type>:<context>"),
                         ("1:time:unix_s", "no metric column"), ("1:metric:m,1:label:l", "a column named twice")]:
            st, _, b = post_csv(a.url, fmt, b"1\n")
            check(st == 400 and why in json.loads(b)["error"], "format %r: 400 %s (%d %s)" % (fmt, why, st, b[:120]))

        # an empty value field: no sample for that metric, the line's others are stored
        st, _, _ = post_csv(a.url, "1:time:unix_s,2:metric:csv_gap_a,3:metric:csv_gap_b",
                            b"1700000000,1,\n1700000015,,2\n1700000030,3,4\n")
        _, eg = export(a.url, '{__name__=~"csv_gap_.*"}')
        check(st == 204 and eg == {(("__name__", "csv_gap_a"),): [(1700000000000, 1), (1700000030000, 3)],
                                   (("__name__", "csv_gap_b"),): [(1700000015000, 2), (1700000030000, 4)]},
              "empty fields give no sample, the rest is stored (%d %s)" % (st, eg))

        # a real trace in, a forecast out
        with open(NAB, "rb") as f:
            raw = f.read()
        lines = raw.split(b"\n", 1)[1]  # without the header line
        st, _, b = post_csv(a.url, "1:time:custom:2006-01-02 15:04:05,2:metric:nab_cpu", lines, ["instance=ec2"])
        n_rows = sum(1 for l in lines.splitlines() if l.strip())
        check(st == 204, "the NAB trace as CSV: %d %s" % (st, b[:100]))
        last = lines.strip().splitlines()[-1].split(b",")[0].decode()
        _, ex = export(a.url, "nab_cpu")
        pts = next(iter(ex.values()), [])
        check(len(pts) == n_rows, "all %d rows stored as one series (%d, %d series)" % (n_rows, len(pts), len(ex)))
        q = urllib.parse.urlencode({"query": "nab_cpu", "horizon": "1h", "time": "%.3f" % (pts[-1][0] / 1000)})
        st, _, b = http("GET", a.url + "/api/v1/forecast?" + q)
        d = json.loads(b) if st == 200 else {}
        res = d.get("data", {}).get("result", [])
        check(st == 200 and len(res) == 1 and len(res[0]["values"]) >= 12,
              "a forecast on the imported trace (last row %s): %d, %s" % (last, st, str(res[:1])[:200]))
    finally:
        vm.stop()
        a.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
