"""Prometheus remote read (POST /api/v1/read), against the real client and on the wire.

1. auspex gets two days of history (3 days ago to 1 day ago, one sample a minute) through
   /api/v1/import/prometheus with ms timestamps, plus a series with a staleness marker
   through remote write. Debian's prometheus, with an empty TSDB and
   remote_read: [{url: auspex/api/v1/read, read_recent: true}], then answers query_range
   over that old range; every answer must equal auspex's own /api/v1/query_range for the
   same query, start, end and step (same series, same timestamps, same values).
2. The route on the wire, with requests and answers encoded and decoded here (protobuf and
   a small snappy codec, independent of the code under test): NEQ/RE/NRE matchers, two
   queries in one request answered in order with exactly the samples /api/v1/export has
   in [start, end] (both ends included), anchored regexes, 400 on garbage, 400 on a
   STREAMED_XOR_CHUNKS-only request, 422 over -search.maxUniqueTimeseries, 415 on another
   Content-Encoding, and the server still answers afterwards.
"""
import math
import os
import shutil
import struct
import tempfile
import time
import urllib.parse

from harness import (Auspex, _field, _varint, STALE_NAN, api_query, check, finish, http, remote_write,
                     snappy_literal, start_prometheus, stop_procs)

MIN = 60000
WIDE = 60          # rr_wide series, over the series limit below
SERIES_LIMIT = 50  # -search.maxUniqueTimeseries

# ---- protobuf and snappy, test side ----


EQ, NEQ, RE, NRE = 0, 1, 2, 3


def read_request(queries, types=None):
    """queries: [(start_ms, end_ms, [(type, name, value), ...])]; types: accepted response
    types (packed) or None."""
    out = bytearray()
    for start, end, matchers in queries:
        q = _field(1, 0, _varint(start)) + _field(2, 0, _varint(end))
        for t, n, v in matchers:
            q += _field(3, 2, (_field(1, 0, _varint(t)) if t else b"") +
                        _field(2, 2, n.encode()) + _field(3, 2, v.encode()))
        out += _field(1, 2, q)
    if types is not None:
        out += _field(2, 2, b"".join(_varint(t) for t in types))
    return bytes(out)


def _get_varint(b, i):
    n = shift = 0
    while True:
        c = b[i]
        i += 1
        n |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return n, i


def snappy_decode(b):
    n, i = _get_varint(b, 0)
    out = bytearray()
    while i < len(b):
        tag = b[i]
        i += 1
        kind = tag & 3
        if kind == 0:
            ln = tag >> 2
            if ln < 60:
                ln += 1
            else:
                nb = ln - 59
                ln = int.from_bytes(b[i:i + nb], "little") + 1
                i += nb
            out += b[i:i + ln]
            i += ln
            continue
        if kind == 1:
            ln = ((tag >> 2) & 7) + 4
            off = ((tag >> 5) << 8) | b[i]
            i += 1
        elif kind == 2:
            ln = (tag >> 2) + 1
            off = int.from_bytes(b[i:i + 2], "little")
            i += 2
        else:
            ln = (tag >> 2) + 1
            off = int.from_bytes(b[i:i + 4], "little")
            i += 4
        if off == 0 or off > len(out):
            raise ValueError("snappy: bad offset")
        for _ in range(ln):  # copies may overlap their own output
            out.append(out[-off])
    if len(out) != n:
        raise ValueError("snappy: length %d, header says %d" % (len(out), n))
    return bytes(out)


def _fields(b):
    i = 0
    while i < len(b):
        key, i = _get_varint(b, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _get_varint(b, i)
        elif wt == 1:
            v, i = b[i:i + 8], i + 8
        elif wt == 2:
            ln, i = _get_varint(b, i)
            v, i = b[i:i + ln], i + ln
        elif wt == 5:
            v, i = b[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d" % wt)
        yield num, wt, v


def read_response(pb):
    """[[(labels dict, [(ts, value bits as bytes)])] per query]"""
    results = []
    for num, _, qr in _fields(pb):
        assert num == 1
        series = []
        for n2, _, ts in _fields(qr):
            assert n2 == 1
            labels, samples = {}, []
            for n3, _, v in _fields(ts):
                if n3 == 1:
                    d = {k: x for k, _, x in _fields(v)}
                    labels[d.get(1, b"").decode()] = d.get(2, b"").decode()
                elif n3 == 2:
                    d = {k: x for k, _, x in _fields(v)}
                    t = d.get(2, 0)
                    if t >= 1 << 63:
                        t -= 1 << 64
                    samples.append((t, d.get(1, b"\0" * 8)))
            series.append((labels, samples))
        results.append(series)
    return results


def post_read(a, body, headers=None):
    h = {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
         "X-Prometheus-Remote-Read-Version": "0.1.0"}
    if headers is not None:
        h = headers
    return http("POST", a.url + "/api/v1/read", body, h)


def key(labels):
    return tuple(sorted(labels.items()))


# ---- data ----


def gauge_value(k, i):
    return float((k * 7 + i * 3) % 13) + i * 0.25


def import_history(a, t0, t1):
    """Text exposition with ms timestamps on a 1-minute grid in [t0, t1]."""
    lines = []
    gauges = [("a", "i1"), ("a", "i2"), ("b", "i3")]
    counter = 0.0
    for k, t in enumerate(range(t0, t1 + 1, MIN)):
        for i, (job, inst) in enumerate(gauges):
            lines.append('rr_gauge{job="%s",instance="%s"} %r %d' % (job, inst, gauge_value(k, i), t))
        counter = 0.0 if k == 1000 else counter + (k % 5) + 0.5  # one reset
        lines.append('rr_counter{job="a",instance="i1"} %r %d' % (counter, t))
    for n in range(WIDE):
        lines.append('rr_wide{n="%d"} %d %d' % (n, n, t0))
    body = ("\n".join(lines) + "\n").encode()
    st, _, resp = http("POST", a.url + "/api/v1/import/prometheus", body)
    return st, resp


def stale_series(t0):
    """rr_stale: 60 samples, a staleness marker, then 60 more after a 30-minute gap."""
    samples = [(t0 + k * MIN, float(k)) for k in range(60)]
    samples.append((t0 + 60 * MIN, STALE_NAN))
    samples += [(t0 + (90 + k) * MIN, float(100 + k)) for k in range(60)]
    return [([("__name__", "rr_stale"), ("job", "s")], samples)]


def matrix(resp):
    out = {}
    for r in resp["data"]["result"]:
        out[key(r["metric"])] = [(float(t), v) for t, v in r["values"]]
    return out


def same_values(x, y):
    if x == y:
        return True
    fx, fy = float(x), float(y)
    if math.isnan(fx) and math.isnan(fy):
        return True
    return fx == fy or abs(fx - fy) <= 1e-12 * max(abs(fx), abs(fy))


def compare_matrices(want, got):
    """'' when equal, else what differs first."""
    if set(want) != set(got):
        return "series differ: only prometheus %s, only auspex %s" % (
            sorted(set(want) - set(got))[:3], sorted(set(got) - set(want))[:3])
    for k in want:
        w, g = want[k], got[k]
        if [t for t, _ in w] != [t for t, _ in g]:
            return "%s: timestamps differ (%d vs %d points)" % (k, len(w), len(g))
        for (t, vw), (_, vg) in zip(w, g):
            if not same_values(vw, vg):
                return "%s @%s: prometheus %s, auspex %s" % (k, t, vw, vg)
    return ""


def main():
    tmp = tempfile.mkdtemp(prefix="auspex-rr-")
    procs = []
    a = Auspex(args=["-search.maxUniqueTimeseries=%d" % SERIES_LIMIT])
    try:
        a.start()
        now = int(time.time()) // 60 * 60 * 1000
        t0, t1 = now - 3 * 86400000, now - 86400000
        st, resp = import_history(a, t0, t1)
        check(st == 204, "history imported (%d %r)" % (st, resp[:200]))
        bad = remote_write(a.url, stale_series(t0 + 600 * MIN))
        check(not bad, "rr_stale remote-written (%r)" % bad)

        # ---- 1. the real client ----
        cfg = os.path.join(tmp, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("""global:
  scrape_interval: 15s
remote_read:
  - url: %s/api/v1/read
    read_recent: true
""" % a.url)
        prom = start_prometheus(procs, tmp, cfg)
        start, end, step = (t0 + 10 * MIN) / 1000.0, (t1 - 10 * MIN) / 1000.0, 300
        queries = [
            "rr_gauge",
            'rr_gauge{job!="a"}',
            '{__name__=~"rr_gauge|rr_counter", instance=~"i[12]"}',
            '{__name__="rr_gauge", instance!~"i1|i3"}',
            "rate(rr_counter[5m])",
            "sum by (job) (rr_gauge)",
            "rr_stale",
            'rr_gauge{job=~"a|"}',
        ]
        for q in queries:
            params = {"query": q, "start": "%.3f" % start, "end": "%.3f" % end, "step": str(step)}
            sp, _, rp = api_query(prom, "/api/v1/query_range", params)
            sa, _, ra = api_query(a.url, "/api/v1/query_range", params)
            if not check(sp == 200 and sa == 200 and rp and ra,
                         "%s: both answer 200 (prometheus %d, auspex %d)" % (q, sp, sa)):
                print("    prometheus: %r\n    auspex: %r" % (rp, ra))
                continue
            want, got = matrix(rp), matrix(ra)
            points = sum(len(v) for v in want.values())
            check(points > 0, "%s: prometheus (through remote read) returns %d series, %d points"
                  % (q, len(want), points))
            diff = compare_matrices(want, got)
            check(not diff, "%s: prometheus over remote read == auspex query_range%s"
                  % (q, " (" + diff + ")" if diff else ""))
        # the stale marker ends the series in Prometheus' evaluation too: a gap in the grid
        sp, _, rp = api_query(prom, "/api/v1/query_range",
                              {"query": "rr_stale", "start": "%.3f" % ((t0 + 600 * MIN) / 1000.0),
                               "end": "%.3f" % ((t0 + 749 * MIN) / 1000.0), "step": "60"})
        pts = [float(t) for r in rp["data"]["result"] for t, _ in r["values"]] if sp == 200 else []
        gap = [t for t in pts if (t0 + 61 * MIN + 600 * MIN) / 1000.0 <= t < (t0 + 690 * MIN) / 1000.0]
        check(len(pts) == 120 and not gap,
              "rr_stale in prometheus: 120 points, none between the marker and the next sample "
              "(%d points, %d in the gap)" % (len(pts), len(gap)))

        # ---- 2. the wire ----
        r0, r1 = t0 + 100 * MIN, t0 + 160 * MIN  # 61 samples per series, both ends included
        body = snappy_literal(read_request([
            (r0, r1, [(EQ, "__name__", "rr_gauge"), (NEQ, "job", "a")]),
            (r0, r1, [(RE, "__name__", "rr_g.*"), (NRE, "instance", "i1|i3")]),
            (r0, r1, [(RE, "__name__", "rr_g")]),  # anchored: matches nothing
        ]))
        st, hdr, resp = post_read(a, body)
        hdr = {k.lower(): v for k, v in hdr.items()}
        check(st == 200, "three queries in one request -> 200 (%d %r)" % (st, resp[:200] if st != 200 else len(resp)))
        check(hdr.get("content-type") == "application/x-protobuf" and
              hdr.get("content-encoding") == "snappy",
              "answer is snappy protobuf (%r, %r)" % (hdr.get("content-type"), hdr.get("content-encoding")))
        res = read_response(snappy_decode(resp)) if st == 200 else []
        check(len(res) == 3, "one QueryResult per query (%d)" % len(res))
        if len(res) == 3:
            for qi, (sel, want_key) in enumerate([
                    ('rr_gauge{job!="a"}', {"__name__": "rr_gauge", "job": "b", "instance": "i3"}),
                    ('{__name__=~"rr_g.*",instance!~"i1|i3"}',
                     {"__name__": "rr_gauge", "job": "a", "instance": "i2"})]):
                exp = a.export(sel, start="%.3f" % (r0 / 1000.0), end="%.3f" % (r1 / 1000.0))
                got = res[qi]
                ok = len(got) == 1 and got[0][0] == want_key and len(exp) == 1
                if ok:
                    ts = [t for t, _ in got[0][1]]
                    vals = [struct.unpack("<d", v)[0] for _, v in got[0][1]]
                    ok = ts == exp[0]["timestamps"] and vals == [float(v) for v in exp[0]["values"]]
                    ok = ok and ts[0] == r0 and ts[-1] == r1 and len(ts) == 61
                check(ok, "query %d (%s): one series, 61 samples in [start, end] equal to export"
                      % (qi, sel))
            check(res[2] == [], "RE matcher is anchored: __name__=~\"rr_g\" matches nothing")
        # the staleness marker comes back bit for bit
        ts0 = t0 + 600 * MIN
        st, _, resp = post_read(a, snappy_literal(read_request(
            [(ts0 + 59 * MIN, ts0 + 90 * MIN, [(EQ, "__name__", "rr_stale")])])))
        res = read_response(snappy_decode(resp)) if st == 200 else []
        smp = res[0][0][1] if res and res[0] else []
        check([(t - ts0) // MIN for t, _ in smp] == [59, 60, 90] and len(smp) == 3 and smp[1][1] == STALE_NAN,
              "stale marker returned as stored (%r)" % [(t - ts0) // MIN for t, _ in smp])
        # empty accepted types and [STREAMED, SAMPLES] both mean SAMPLES
        st, _, _ = post_read(a, snappy_literal(read_request(
            [(r0, r1, [(EQ, "__name__", "rr_counter")])], types=[1, 0])))
        check(st == 200, "accepted types [STREAMED_XOR_CHUNKS, SAMPLES] -> 200 (%d)" % st)

        # errors
        st, _, resp = post_read(a, b"this is not snappy at all")
        check(st == 400 and b'"errorType":"bad_data"' in resp, "garbage -> 400 bad_data (%d %r)" % (st, resp[:200]))
        st, _, resp = post_read(a, snappy_literal(b"\x0a\x05\x08\x01"))
        check(st == 400 and b"truncated" in resp, "truncated protobuf -> 400 (%d %r)" % (st, resp[:200]))
        st, _, resp = post_read(a, snappy_literal(read_request(
            [(r0, r1, [(EQ, "__name__", "rr_gauge")])], types=[1])))
        check(st == 400 and b"SAMPLES" in resp, "STREAMED_XOR_CHUNKS only -> 400 (%d %r)" % (st, resp[:200]))
        st, _, resp = post_read(a, snappy_literal(read_request(
            [(t0 - 1, t1, [(EQ, "__name__", "rr_wide")])])))
        check(st == 422 and b'"errorType":"execution"' in resp,
              "%d series over -search.maxUniqueTimeseries=%d -> 422 (%d %r)" % (WIDE, SERIES_LIMIT, st, resp[:200]))
        st, _, resp = post_read(a, snappy_literal(read_request([(r0, r1, [(EQ, "__name__", "rr_gauge")])])),
                                {"Content-Encoding": "gzip"})
        check(st == 415, "Content-Encoding gzip -> 415 (%d)" % st)
        st, _, resp = post_read(a, b"\x80\x80\x80\x7f")  # declares 254 MB
        check(st == 413, "declared decoded size over the cap -> 413 (%d %r)" % (st, resp[:120]))
        st, _, _ = http("GET", a.url + "/api/v1/read")
        check(st == 405, "GET /api/v1/read -> 405 (%d)" % st)

        # still answering
        st, _, _ = http("GET", a.url + "/-/ready")
        st2, _, resp = post_read(a, snappy_literal(read_request([(r0, r1, [(EQ, "__name__", "rr_counter")])])))
        res = read_response(snappy_decode(resp)) if st2 == 200 else []
        check(st == 200 and st2 == 200 and len(res) == 1 and len(res[0]) == 1 and len(res[0][0][1]) == 61,
              "the server still answers after the bad requests (%d, %d)" % (st, st2))
        check(a.proc.poll() is None, "auspex is still running")
    finally:
        stop_procs(procs)
        a.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
