#!/usr/bin/env python3
"""Bytes a browser downloads to show the UI: auspex's `/` against Prometheus' `/graph`
(and VictoriaMetrics' `/vmui/` when the installed build has it), measured in one run on
loopback: the page plus every script and stylesheet it references, as sent and gzipped
(level 9).

    python3 bench/ui_size.py [build/auspex]
"""
import gzip
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
from harness import free_port, http, wait_until  # noqa: E402

REF = re.compile(rb'(?:src|href)="([^"]+[.](?:js|css|svg|ico)(?:[?][^"]*)?)"')


def page_bytes(base, page):
    """(files, bytes, gzipped bytes) of page and what it references, or None (no page)."""
    st, _, body = http("GET", base + page)
    if st != 200:
        return None
    files, raw, gz = 1, len(body), len(gzip.compress(body, 9))
    for ref in sorted(set(REF.findall(body))):
        ref = ref.decode()
        if ref.startswith("http"):
            url = ref
        elif ref.startswith("/"):
            url = base + ref
        else:
            url = base + page.rsplit("/", 1)[0] + "/" + ref
        st, _, b = http("GET", url)
        if st == 200:
            files, raw, gz = files + 1, raw + len(b), gz + len(gzip.compress(b, 9))
    return files, raw, gz


def main():
    auspex = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "build", "auspex")
    tmp = tempfile.mkdtemp(prefix="ui-size-")
    ap, vp, pp = free_port(), free_port(), free_port()
    with open(os.path.join(tmp, "prom.yml"), "w") as f:
        f.write("global: {}\n")
    procs = [
        subprocess.Popen([auspex, "-httpListenAddr=127.0.0.1:%d" % ap, "-storageDataPath=" + tmp + "/a",
                          "-node.collect=0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen(["victoria-metrics", "-httpListenAddr=127.0.0.1:%d" % vp,
                          "-storageDataPath=" + tmp + "/vm"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen(["prometheus", "--config.file=" + tmp + "/prom.yml", "--storage.tsdb.path=" + tmp + "/p",
                          "--web.listen-address=127.0.0.1:%d" % pp], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL),
    ]
    try:
        for port in (ap, vp, pp):
            wait_until(lambda: http("GET", "http://127.0.0.1:%d/metrics" % port, timeout=2)[0] == 200,
                       what="port %d up" % port)
        rows = [("auspex /", page_bytes("http://127.0.0.1:%d" % ap, "/")),
                ("victoria-metrics /vmui/", page_bytes("http://127.0.0.1:%d" % vp, "/vmui/")),
                ("prometheus /graph", page_bytes("http://127.0.0.1:%d" % pp, "/graph"))]
        base = rows[0][1]
        print("%-26s %6s %10s %10s %8s" % ("UI", "files", "bytes", "gzipped", "x auspex"))
        for name, r in rows:
            if r is None:
                print("%-26s %s" % (name, "not served by this build"))
            else:
                print("%-26s %6d %10d %10d %8.1f" % (name, r[0], r[1], r[2], r[2] / base[2]))
    finally:
        for p in procs:
            p.terminate()
            p.wait()
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
