"""GET /federate beside a real Prometheus 2.42: the same series remote-written to both (names
in several families, awkward label values, values of every magnitude and kind, staleness
markers, samples older than the lookback window), then /federate with several match[]
answers the same text: the same `# TYPE` families in the same order and, within each, the
same sample lines (Prometheus does not order series inside a family). Then a real Prometheus
federates from auspex (metrics_path /federate, honor_labels) and holds the series.
"""
import os
import shutil
import tempfile
import time
import urllib.parse

from harness import (STALE_NAN, Auspex, api_query, check, finish, http, remote_write, start_prometheus,
                     stop_procs, wait_until)

VALUES = [0.0, -0.0, 1.0, -1.0, 2.5, 123456.0, 1234567.0, 1e6, 0.0001, 0.00001, 1.5e-7, 1e21, 1e22,
          -3.25e8, 12345.678, float("nan"), float("inf"), float("-inf"), 2 ** 53 + 0.0, 1 / 3]


def dataset(now_ms):
    series = []
    for i, v in enumerate(VALUES):
        labels = [("__name__", "fed_value"), ("i", "%02d" % i), ("job", "fed")]
        series.append((labels, [(now_ms - 60_000, 42.0), (now_ms - 20_000 - i, v)]))
    odd = ['plain', 'quote"inside', 'back\\slash', 'new\nline', 'utf8 \u00e9\u4e2d', 'brace}{', 'comma,eq=']
    for k, val in enumerate(odd):
        series.append(([("__name__", "fed_labels"), ("k", str(k)), ("v", val)], [(now_ms - 30_000, float(k))]))
    for n in ["a_first", "zz_last", "m_middle:colon", "B_upper"]:
        for inst in ["h1:9100", "h2:9100"]:
            series.append(([("__name__", n), ("instance", inst), ("job", "fed")],
                           [(now_ms - 90_000, 1.0), (now_ms - 10_000, 7.0)]))
    # stale now: the newest sample is a staleness marker (left out), older one present
    series.append(([("__name__", "fed_stale"), ("job", "fed")], [(now_ms - 50_000, 5.0), (now_ms - 40_000, STALE_NAN)]))
    # only older than the 5m lookback: left out
    series.append(([("__name__", "fed_old"), ("job", "fed")], [(now_ms - 400_000, 9.0)]))
    # no other label than the name
    series.append(([("__name__", "fed_bare")], [(now_ms - 5_000, 3.0)]))
    return series


def families(text):
    """Text exposition -> [(TYPE line, sorted sample lines)] in order."""
    out = []
    for line in text.splitlines():
        if line.startswith("# TYPE"):
            out.append((line, []))
        elif line.strip():
            if not out:
                out.append(("(no TYPE)", []))
            out[-1][1].append(line)
    return [(t, sorted(s)) for t, s in out]


def main():
    tmp = tempfile.mkdtemp(prefix="auspex-fed-")
    procs = []
    a = Auspex()
    try:
        a.start()
        cfg = os.path.join(tmp, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1h\n")
        prom = start_prometheus(procs, tmp, cfg, ["--web.enable-remote-write-receiver"])
        now_ms = int(time.time() * 1000)
        data = dataset(now_ms)
        for url in (a.url, prom):
            bad = remote_write(url, data)
            check(not bad, "remote write to %s (%s)" % (url, bad[:1]))

        cases = [['{job="fed"}'], ['fed_value', 'fed_labels'], ['{__name__=~"fed_.*|.*_last"}', 'a_first'],
                 ['{__name__=~".+"}'], ['fed_bare'], ['nonexistent'], ['fed_stale', 'fed_old']]
        for match in cases:
            q = urllib.parse.urlencode([("match[]", m) for m in match])
            sa, ha, ba = http("GET", a.url + "/federate?" + q)
            sp, hp, bp = http("GET", prom + "/federate?" + q)
            fa, fp = families(ba.decode()), families(bp.decode())
            ok = sa == sp == 200 and fa == fp
            check(ok, "/federate %s: %d families, %d lines, as Prometheus (%d %d)" % (
                match, len(fp), sum(len(s) for _, s in fp), sa, sp))
            if not ok:
                print("    auspex:\n      " + "\n      ".join(ba.decode().splitlines()[:40]))
                print("    Prometheus:\n      " + "\n      ".join(bp.decode().splitlines()[:40]))
        ctype = dict((k.lower(), v) for k, v in ha.items()).get("content-type", "")
        check(ctype.startswith("text/plain; version=0.0.4"), "content type %r" % ctype)
        st, _, _ = http("GET", a.url + "/federate")
        check(st == 200, "/federate without match[]: 200 and empty, as Prometheus (%d)" % st)
        st, _, body = http("GET", a.url + "/federate?match[]=" + urllib.parse.quote("{job="))
        check(st == 400 and b'"errorType":"bad_data"' in body, "a bad match[]: 400 bad_data (%d)" % st)

        # a real Prometheus federating from auspex
        cfg2 = os.path.join(tmp, "federating.yml")
        host = a.url.split("//")[1]
        with open(cfg2, "w") as f:
            f.write("""global:
  scrape_interval: 1s
scrape_configs:
  - job_name: federate
    honor_labels: true
    metrics_path: /federate
    params:
      'match[]': ['{job="fed"}', 'fed_labels']
    static_configs:
      - targets: ['%s']
""" % host)
        tmp2 = os.path.join(tmp, "p2")
        os.makedirs(tmp2)
        p2 = start_prometheus(procs, tmp2, cfg2)

        def scraped():
            _, _, r = api_query(p2, "/api/v1/query", [("query", 'count({__name__=~"fed_.*|a_first|zz_last|m_middle:colon|B_upper"})')])
            res = r["data"]["result"] if r else []
            return int(res[0]["value"][1]) if res else 0
        want = len(VALUES) + 7 + 8  # fed_value, fed_labels, the 4 names x 2 (fed_bare has no job)
        wait_until(lambda: scraped() >= want, timeout=30, interval=0.5, what="the federating Prometheus has the series")
        _, _, r = api_query(p2, "/api/v1/query", [("query", 'up{job="federate"}')])
        check(r["data"]["result"][0]["value"][1] == "1", "the federating Prometheus scrapes auspex: up == 1")
        _, _, r = api_query(p2, "/api/v1/query", [("query", 'fed_labels{k="1"}')])
        check(r["data"]["result"] and r["data"]["result"][0]["metric"].get("v") == 'quote"inside',
              "an escaped label value arrives intact (%s)" % (r["data"]["result"][:1],))
        check(scraped() == want, "federated series: %d (fed_stale and fed_old left out)" % scraped())
    finally:
        stop_procs(procs)
        a.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
