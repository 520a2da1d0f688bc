"""The built-in scraper (-promscrape.config).

Part 1, beside the real peer: auspex and Prometheus scrape the same
prometheus-node-exporter with the same config file. Both must store the same series set
(names and labels, report series included). When the exporter goes away, both must
record up=0 and auspex must write staleness markers (the stale-NaN) for the series that
vanished, at the failed scrape's time, as Prometheus does.

Part 2, against a target served by this test: honor_labels=false renames clashing labels
to exported_*, metric_relabel_configs drop/rewrite, relabel_configs, params and
__param_*, bearer and basic auth, honor_timestamps, a series that disappears between
scrapes gets a staleness marker, sample_limit fails the scrape (up=0, nothing stored),
a non-200 answer is up=0. Part 3: bad configs stop start-up with a message naming the line.
"""
import base64
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import json
import math
import os
import shutil
import struct
import subprocess
import tempfile
import threading
import time
import urllib.parse

from harness import (AUSPEX, Auspex, check, finish, free_port, http, start_node_exporter, start_prometheus,
                     stop_procs, wait_until)

STALE = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]


def key(metric):
    return tuple(sorted(metric.items()))


def prom_series(prom_url, match):
    q = urllib.parse.urlencode({"match[]": match, "start": "%.3f" % (time.time() - 600)})
    st, _, body = http("GET", prom_url + "/api/v1/series?" + q)
    if st != 200:
        raise RuntimeError("prometheus series: %d %s" % (st, body[:200]))
    return {key(m) for m in json.loads(body)["data"]}


def prom_query(prom_url, expr):
    st, _, body = http("GET", prom_url + "/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    return json.loads(body)["data"]["result"] if st == 200 else None


def part1_vs_prometheus(tmp):
    procs = []
    a = None
    try:
        ne_port = start_node_exporter(procs)
        ne = procs[-1]
        cfg = os.path.join(tmp, "scrape.yml")
        with open(cfg, "w") as f:
            f.write("""global:
  scrape_interval: 1s
  scrape_timeout: 900ms
scrape_configs:
  - job_name: node
    static_configs:
      - targets: ['127.0.0.1:%d']
        labels: {env: test}
""" % ne_port)
        a = Auspex(args=["-promscrape.config=" + cfg, "-node.collect=0"])
        a.start()
        prom_url = start_prometheus(procs, tmp, cfg)

        def prom_scrapes():
            r = prom_query(prom_url, 'count_over_time(up{job="node"}[10m])')
            return r and float(r[0]["value"][1]) >= 4

        wait_until(prom_scrapes, timeout=60, interval=0.25, what="4 scrapes in prometheus")
        wait_until(lambda: len(a.export('up{job="node"}') or [{}]) and
                   sum(len(s["values"]) for s in a.export('up{job="node"}')) >= 4,
                   timeout=30, interval=0.25, what="4 scrapes in auspex")
        ours = {key(s["metric"]) for s in a.export('{job="node"}')}
        theirs = prom_series(prom_url, '{job="node"}')
        check(len(ours) > 200, "auspex stored %d series from node_exporter" % len(ours))
        only_ours = sorted(ours - theirs)[:5]
        only_theirs = sorted(theirs - ours)[:5]
        check(ours == theirs, "same series set as Prometheus (%d vs %d; only auspex: %s; only prometheus: %s)"
              % (len(ours), len(theirs), only_ours, only_theirs))
        up = a.export('up{job="node"}')
        check(len(up) == 1 and up[0]["metric"] == {"__name__": "up", "job": "node", "env": "test",
                                                   "instance": "127.0.0.1:%d" % ne_port}
              and all(v == 1 for v in up[0]["values"]), "up{job,instance,env} = 1 on every scrape")
        for name in ["scrape_duration_seconds", "scrape_samples_scraped",
                     "scrape_samples_post_metric_relabeling", "scrape_series_added"]:
            check(len(a.export(name)) == 1, "report series %s written" % name)
        scraped = a.export("scrape_samples_scraped")[0]["values"][-1]
        check(abs(scraped - (len(ours) - 5)) <= 5, "scrape_samples_scraped %g ~ series stored %d - 5 report series"
              % (scraped, len(ours)))
        added = a.export("scrape_series_added")[0]["values"]
        check(added[0] >= 200 and added[-1] == 0, "scrape_series_added: all on the first scrape (%g), 0 later (%g)"
              % (added[0], added[-1]))
        # samples are on a regular grid: about one per second
        load = a.export('node_load1{job="node"}')[0]
        gaps = [b - x for x, b in zip(load["timestamps"], load["timestamps"][1:])]
        check(gaps and all(700 <= g <= 1500 for g in gaps), "scrapes every ~1s (gaps %s)" % gaps[:8])

        # the target goes away
        t_kill = int(time.time() * 1000)
        ne.terminate()
        ne.wait(10)

        def down_in_both():
            up = a.export('up{job="node"}')
            r = prom_query(prom_url, 'up{job="node"}')
            return up and up[0]["values"][-1] == 0 and r and r[0]["value"][1] == "0"

        wait_until(down_in_both, timeout=30, interval=0.25, what="up=0 in auspex and prometheus")
        check(True, "up becomes 0 in both when the exporter stops")
        load = a.export('node_load1{job="node"}')[0]
        check(math.isnan(load["values"][-1]) and load["timestamps"][-1] >= t_kill,
              "node_load1 ends with a staleness marker (NaN at %d >= kill time %d)"
              % (load["timestamps"][-1], t_kill))
        n_stale = sum(1 for s in a.export('{job="node",__name__!~"up|scrape_.*"}')
                      if math.isnan(s["values"][-1]))
        check(n_stale == len(ours) - 5, "every scraped series got a staleness marker (%d of %d)"
              % (n_stale, len(ours) - 5))
        r = prom_query(prom_url, 'node_load1{job="node"}')
        check(r == [], "Prometheus also treats node_load1 as stale (empty instant query)")
        samples = a.export("scrape_samples_scraped")[0]["values"]
        check(samples[-1] == 0, "scrape_samples_scraped = 0 on the failed scrape")
    finally:
        stop_procs(procs)
        if a:
            a.cleanup()


class Target:
    """A scrape target served by this test: the body and status can change per scrape,
    and the requests are recorded."""

    def __init__(self):
        self.body = b""
        self.status = 200
        self.requests = []
        target = self

        class H(BaseHTTPRequestHandler):
            def do_GET(self):
                target.requests.append((self.path, dict(self.headers)))
                self.send_response(target.status)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(target.body)))
                self.end_headers()
                self.wfile.write(target.body)

            def log_message(self, *a):
                pass

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()


def part2_behaviour(tmp):
    t = Target()
    a = None
    try:
        t.body = (b'# HELP m_gauge A gauge.\n# TYPE m_gauge gauge\n'
                  b'm_gauge{job="inner",instance="i1",k="v"} 1.5\n'
                  b'm_drop{x="1"} 7\n'
                  b'm_rename{old="a"} 3\n'
                  b'm_ts 42 1600000000000\n'
                  b'm_going 1\n')
        secret = os.path.join(tmp, "pass.txt")
        with open(secret, "w") as f:
            f.write("s3cret\n")
        cfg = os.path.join(tmp, "scrape2.yml")
        with open(cfg, "w") as f:
            f.write("""global:
  scrape_interval: 500ms
  external_labels:
    site: lab
scrape_configs:
  - job_name: app
    scrape_timeout: 400ms
    metrics_path: /probe
    params:
      module: [http_2xx]
    bearer_token: tok-123
    static_configs:
      - targets: ['127.0.0.1:%d']
        labels: {team: a}
    relabel_configs:
      - source_labels: [team]
        target_label: owner
        replacement: team-$1
      - target_label: __param_target
        replacement: example.org
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: m_drop
        action: drop
      - source_labels: [old]
        target_label: new
      - regex: old
        action: labeldrop
  - job_name: honor
    scrape_interval: 500ms
    honor_labels: true
    honor_timestamps: false
    basic_auth: {username: u, password_file: pass.txt}
    static_configs:
      - targets: ['127.0.0.1:%d']
  - job_name: limited
    scrape_interval: 500ms
    sample_limit: 3
    static_configs:
      - targets: ['127.0.0.1:%d']
""" % (t.port, t.port, t.port))
        a = Auspex(args=["-promscrape.config=" + cfg, "-node.collect=0"])
        a.start()
        inst = "127.0.0.1:%d" % t.port

        def n_up(job):
            s = a.export('up{job="%s"}' % job)
            return len(s[0]["values"]) if s else 0

        wait_until(lambda: min(n_up("app"), n_up("honor"), n_up("limited")) >= 2, timeout=30,
                   interval=0.2, what="2 scrapes of every job")

        probe = [p for p, h in t.requests if p.startswith("/probe")]
        check(probe and all("module=http_2xx" in p and "target=example.org" in p for p in probe),
              "params and __param_target reach the URL (%s)" % probe[:1])
        auth = [h.get("Authorization") for p, h in t.requests if p.startswith("/probe")]
        check(auth and all(x == "Bearer tok-123" for x in auth), "bearer_token sent")
        basic = [h.get("Authorization") for p, h in t.requests if p == "/metrics"]
        want = "Basic " + base64.b64encode(b"u:s3cret").decode()
        check(want in basic, "basic_auth with password_file sent")
        check(all("X-Prometheus-Scrape-Timeout-Seconds" in h for _, h in t.requests),
              "X-Prometheus-Scrape-Timeout-Seconds header sent")

        g = {key(s["metric"]): s for s in a.export('m_gauge')}
        app_key = key({"__name__": "m_gauge", "job": "app", "instance": inst, "team": "a", "owner": "team-a",
                       "exported_job": "inner", "exported_instance": "i1", "k": "v", "site": "lab"})
        honor_key = key({"__name__": "m_gauge", "job": "inner", "instance": "i1", "k": "v", "site": "lab"})
        check(app_key in g, "honor_labels=false: clashing labels kept as exported_*; target and "
              "external labels added (%s)" % list(g))
        check(honor_key in g, "honor_labels=true: the scraped job/instance win")
        check(not a.export('m_drop{job="app"}') and a.export('m_drop{job="honor"}'),
              "metric_relabel drop applies to its job only")
        r = a.export('m_rename{job="app"}')
        check(r and r[0]["metric"].get("new") == "a" and "old" not in r[0]["metric"],
              "metric_relabel replace + labeldrop")
        ts_app = a.export('m_ts{job="app"}')[0]["timestamps"]
        ts_honor = a.export('m_ts{job="honor"}')[0]["timestamps"]
        check(set(ts_app) == {1600000000000}, "honor_timestamps (default true) keeps the exposed timestamp")
        check(min(ts_honor) > 1600000000000, "honor_timestamps: false uses the scrape time")
        check(not a.export('{job="limited",__name__=~"m_.*"}'), "sample_limit exceeded: no samples stored")
        up_lim = a.export('up{job="limited"}')[0]["values"]
        check(all(v == 0 for v in up_lim), "sample_limit exceeded: up = 0")

        st, _, body = http("GET", a.url + "/api/v1/targets")
        tg = json.loads(body)["data"]["activeTargets"] if st == 200 else []
        byjob = {x["scrapePool"]: x for x in tg}
        check(len(tg) == 3 and byjob["app"]["health"] == "up" and byjob["limited"]["health"] == "down"
              and "sample_limit" in byjob["limited"]["lastError"]
              and byjob["app"]["labels"] == {"job": "app", "instance": inst, "team": "a", "owner": "team-a"}
              and byjob["app"]["scrapeUrl"].startswith("http://%s/probe?" % inst)
              and byjob["honor"]["scrapeInterval"] == "500ms",
              "/api/v1/targets: health, lastError, labels, URL, interval (%s)" % json.dumps(byjob.get("limited"))[:300])
        # a series disappears: stale marker; then the target answers 500: up 0
        t.body = t.body.replace(b"m_going 1\n", b"")
        t_change = int(time.time() * 1000)

        def stale_going():
            s = a.export('m_going{job="app"}')
            return s and math.isnan(s[0]["values"][-1])

        wait_until(stale_going, timeout=20, interval=0.2, what="stale marker for m_going")
        s = a.export('m_going{job="app"}')[0]
        check(s["timestamps"][-1] >= t_change and all(v == 1 for v in s["values"][:-1]),
              "vanished series: earlier samples 1, then one staleness marker")
        n_going = len(s["values"])
        time.sleep(1.2)
        s = a.export('m_going{job="app"}')[0]
        check(len(s["values"]) == n_going, "only one staleness marker is written")
        t.status = 500
        wait_until(lambda: a.export('up{job="app"}')[0]["values"][-1] == 0, timeout=20, interval=0.2,
                   what="up=0 after HTTP 500")
        g = a.export('m_gauge{job="app"}')[0]
        check(math.isnan(g["values"][-1]), "HTTP 500: the target's series get staleness markers")
        t.status = 200
        wait_until(lambda: a.export('up{job="app"}')[0]["values"][-1] == 1, timeout=20, interval=0.2,
                   what="up=1 again")
        m = a.metrics()
        check(m.get("auspex_scrapes_total", 0) > 6 and m.get("auspex_scrapes_failed_total", 0) >= 1,
              "/metrics counts scrapes and failures")
        st, _, _ = http("GET", a.url + "/-/healthy")
        check(st == 200, "still healthy")
    finally:
        t.close()
        if a:
            a.cleanup()


def part3_bad_configs(tmp):
    cases = [
        ("scrape_configs:\n  - job_name: x\n    scrape_intervall: 1s\n", "line 3", "unknown key"),
        ("scrape_configs:\n  - job_name: x\n    scrape_interval: soon\n", "line 3", "bad duration"),
        ("scrape_configs:\n  - job_name: x\n    static_configs:\n      - targets: [a:1]\n"
         "    relabel_configs:\n      - action: explode\n", "line 6", "bad relabel action"),
        ("scrape_configs:\n  - job_name: [x\n", "line", "YAML syntax error"),
    ]
    for text, where, what in cases:
        path = os.path.join(tmp, "bad.yml")
        with open(path, "w") as f:
            f.write(text)
        p = subprocess.run([AUSPEX, "-storageDataPath=" + os.path.join(tmp, "d"), "-httpListenAddr=127.0.0.1:%d"
                            % free_port(), "-promscrape.config=" + path], capture_output=True, timeout=30)
        err = p.stderr.decode()
        check(p.returncode == 2 and where in err and "bad.yml" in err,
              "%s: exit 2 naming the file and %s (%d %r)" % (what, where, p.returncode, err[-200:]))
    p = subprocess.run([AUSPEX, "-storageDataPath=" + os.path.join(tmp, "d"),
                        "-promscrape.config=" + os.path.join(tmp, "missing.yml")], capture_output=True, timeout=30)
    check(p.returncode == 2 and "missing.yml" in p.stderr.decode(), "missing config file: exit 2")


def main():
    tmp = tempfile.mkdtemp(prefix="auspex-scrape-")
    try:
        print("part 1: beside Prometheus, same node_exporter")
        part1_vs_prometheus(tmp)
        print("part 2: scrape behaviour")
        part2_behaviour(tmp)
        print("part 3: bad configs")
        part3_bad_configs(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
