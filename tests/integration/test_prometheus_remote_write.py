"""The real client: Debian's Prometheus scrapes a real prometheus-node-exporter every
second and remote-writes to auspex. After a few scrapes, auspex's /api/v1/export must hold
the same series with the same values (bit for bit) and timestamps that Prometheus itself
stores, read back through Prometheus' own query API."""
import json
import math
import os
import shutil
import struct
import subprocess
import tempfile
import time
import urllib.parse

from harness import Auspex, check, finish, http, start_node_exporter, start_prometheus, stop_procs, wait_until


def bits(x):
    return struct.pack("<d", x)


def prom_matrix(prom_url, expr, at):
    q = urllib.parse.urlencode({"query": expr, "time": "%.3f" % at})
    st, _, body = http("GET", prom_url + "/api/v1/query?" + q)
    if st != 200:
        raise RuntimeError("prometheus query: %d %s" % (st, body[:200]))
    d = json.loads(body)
    out = {}
    for r in d["data"]["result"]:
        key = tuple(sorted(r["metric"].items()))
        out[key] = [(int(round(float(t) * 1000)), float(v)) for t, v in r["values"]]
    return out


def main():
    tmp = tempfile.mkdtemp(prefix="auspex-prom-")
    procs = []
    a = Auspex()
    try:
        a.start()
        ne_port = start_node_exporter(procs)
        cfg = os.path.join(tmp, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("""global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: node
    static_configs:
      - targets: ['127.0.0.1:%d']
remote_write:
  - url: %s/api/v1/write
    queue_config:
      batch_send_deadline: 500ms
      max_samples_per_send: 2000
      min_backoff: 50ms
""" % (ne_port, a.url))
        prom_url = start_prometheus(procs, tmp, cfg)

        def scrapes():
            q = urllib.parse.urlencode({"query": 'count_over_time(up{job="node"}[10m])'})
            st, _, body = http("GET", prom_url + "/api/v1/query?" + q)
            r = json.loads(body)["data"]["result"] if st == 200 else []
            return r and float(r[0]["value"][1]) >= 6

        wait_until(scrapes, timeout=60, interval=0.25, what="6 scrapes in prometheus")
        at = time.time()
        want = prom_matrix(prom_url, '{job="node"}[10m]', at)
        n_samples = sum(len(v) for v in want.values())
        check(len(want) > 100, "prometheus holds %d node series (> 100)" % len(want))
        check(n_samples > 600, "prometheus holds %d samples (> 600)" % n_samples)

        def compare():
            got = {}
            for line in a.export('{job="node"}'):
                got[tuple(sorted(line["metric"].items()))] = list(zip(line["timestamps"], line["values"]))
            missing, wrong = [], []
            for key, samples in want.items():
                have = dict(got.get(key, []))
                for t, v in samples:
                    if t not in have:
                        missing.append((key, t))
                    elif not (bits(float(have[t])) == bits(v) or (math.isnan(v) and math.isnan(float(have[t])))):
                        wrong.append((key, t, v, have[t]))
            return got, missing, wrong

        # remote-write trails the local TSDB by a batch; wait until auspex caught up
        state = {}

        def caught_up():
            state["r"] = compare()
            return not state["r"][1]

        try:
            wait_until(caught_up, timeout=60, interval=0.5, what="auspex has every prometheus sample")
        except TimeoutError:
            pass
        got, missing, wrong = state["r"]
        check(not missing, "every sample prometheus stores is in auspex's export (%d missing%s)"
              % (len(missing), (", e.g. %r" % (missing[0],)) if missing else ""))
        check(not wrong, "values equal bit for bit (%d differ%s)"
              % (len(wrong), (", e.g. %r" % (wrong[0],)) if wrong else ""))
        extra = [k for k in got if k not in want]
        # series auspex has beyond the query result may only be ones prometheus marked stale
        bad_extra = [k for k in extra if any(not (isinstance(v, str) or math.isnan(float(v)))
                                             for _, v in got[k])]
        check(not bad_extra, "no series in auspex that prometheus does not have (%d)" % len(bad_extra))
        labels_sorted = all(list(dict(k).keys()) == sorted(dict(k).keys()) for k in got)
        check(labels_sorted, "labels come back sorted")
        m = a.metrics()
        check(m.get("auspex_samples_ingested_total", 0) >= n_samples,
              "auspex_samples_ingested_total %d >= %d" % (m.get("auspex_samples_ingested_total", 0), n_samples))
        check(m.get('auspex_requests_rejected_total{reason="invalid_labels"}', 1) == 0,
              "no remote-write request rejected")
    finally:
        stop_procs(procs)
        a.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
