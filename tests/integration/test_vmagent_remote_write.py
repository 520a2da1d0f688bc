"""The other real sender: Debian's vmagent scrapes a real prometheus-node-exporter every
second and remote-writes to auspex. Every request must be accepted, and auspex must hold
every series vmagent scrapes (the exporter's series plus the 5 that vmagent adds per
target: up, scrape_duration_seconds, scrape_samples_scraped,
scrape_samples_post_metric_relabeling, scrape_series_added), with the latest sample of each
no older than a few scrapes."""
import os
import re
import shutil
import subprocess
import tempfile
import time

from harness import Auspex, check, finish, free_port, http, stop_procs, wait_until


def vm_metric(url, name_re):
    st, _, body = http("GET", url + "/metrics")
    out = {}
    for line in body.decode().splitlines():
        if re.match(name_re, line):
            k, _, v = line.rpartition(" ")
            out[k] = float(v)
    return out


def main():
    tmp = tempfile.mkdtemp(prefix="auspex-vmagent-")
    procs = []
    a = Auspex()
    try:
        a.start()
        ne_port, va_port = free_port(), free_port()
        procs.append(subprocess.Popen(
            ["prometheus-node-exporter", "--web.listen-address=127.0.0.1:%d" % ne_port],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_until(lambda: http("GET", "http://127.0.0.1:%d/metrics" % ne_port, timeout=2)[0] == 200,
                   what="node_exporter up")
        cfg = os.path.join(tmp, "scrape.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: node\n"
                    "    static_configs:\n      - targets: ['127.0.0.1:%d']\n" % ne_port)
        va_url = "http://127.0.0.1:%d" % va_port
        procs.append(subprocess.Popen(
            ["vmagent", "-promscrape.config=" + cfg, "-remoteWrite.url=" + a.url + "/api/v1/write",
             "-remoteWrite.tmpDataPath=" + os.path.join(tmp, "vmagent"), "-remoteWrite.flushInterval=200ms",
             "-httpListenAddr=127.0.0.1:%d" % va_port, "-loggerLevel=ERROR"],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "vmagent.log"), "wb")))
        wait_until(lambda: http("GET", va_url + "/health", timeout=2)[0] == 200, timeout=60,
                   what="vmagent up")

        def scraped():
            m = vm_metric(a.url, r"^auspex_samples_ingested_total ")
            return m.get("auspex_samples_ingested_total", 0) > 0 and \
                len(a.export('up{job="node"}')) == 1 and len(a.export('up{job="node"}')[0]["values"]) >= 5

        wait_until(scraped, timeout=90, interval=0.5, what="5 scrapes of up{job=\"node\"} in auspex")
        time.sleep(1.5)  # let the in-flight scrape's batch arrive too
        st, _, body = http("GET", "http://127.0.0.1:%d/metrics" % ne_port)
        lines = [l for l in body.decode().splitlines() if l and not l.startswith("#")]
        got = a.export('{job="node"}')
        names = {l["metric"]["__name__"] for l in got}
        exporter_names = {re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", l).group(0) for l in lines}
        missing = sorted(exporter_names - names)
        check(not missing, "every metric name the exporter serves is in auspex (%d missing%s)"
              % (len(missing), (", e.g. " + missing[0]) if missing else ""))
        for extra in ("up", "scrape_duration_seconds", "scrape_samples_scraped",
                      "scrape_samples_post_metric_relabeling", "scrape_series_added"):
            check(extra in names, "vmagent's %s is stored" % extra)
        check(abs(len(got) - (len(lines) + 5)) <= max(5, len(lines) // 50),
              "series count %d ~ exporter's %d + 5" % (len(got), len(lines)))
        insts = {l["metric"].get("instance") for l in got}
        check(insts == {"127.0.0.1:%d" % ne_port}, "instance label set by vmagent: %r" % insts)
        newest = max(max(l["timestamps"]) for l in got)
        check(time.time() * 1000 - newest < 10000, "latest samples are fresh (%.1f s old)"
              % ((time.time() * 1000 - newest) / 1000))
        reqs = vm_metric(va_url, r"^vmagent_remotewrite_requests_total")
        ok = sum(v for k, v in reqs.items() if 'status_code="2' in k)
        bad = sum(v for k, v in reqs.items() if 'status_code="2' not in k)
        check(ok > 0 and bad == 0, "vmagent: %d requests accepted, %d refused" % (ok, bad))
        m = vm_metric(a.url, r"^auspex_requests_rejected_total")
        check(sum(m.values()) == 0, "auspex refused nothing: %r" % m)
    finally:
        stop_procs(procs)
        a.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
