"""POST /api/v1/import/prometheus: Prometheus text exposition in, the same samples out of
/api/v1/export; extra_label; a bad line refuses the whole body with its line number; a real
node_exporter scrape goes in whole."""
import json
import math
import re
import subprocess
import time

from harness import Auspex, check, finish, free_port, http, wait_until


def imp(a, text, query=""):
    return http("POST", a.url + "/api/v1/import/prometheus" + query, text.encode(),
                {"Content-Type": "text/plain"})


def main():
    a = Auspex()
    ne = None
    try:
        a.start()
        body = """# HELP temp_celsius Temperature.
# TYPE temp_celsius gauge
temp_celsius{room="a",floor="1"} 21.5 1700000000000
temp_celsius{room="a",floor="1"} 22 1700000015000
temp_celsius{room="b"} -2e3 1700000000000
temp_celsius{room="c", note="say \\"hi\\"\\n"} +Inf 1700000000000
errors_total 7 1700000000000
"""
        st, _, resp = imp(a, body)
        check(st == 204, "import -> 204 (got %d %r)" % (st, resp[:200]))
        lines = {json.dumps(l["metric"], sort_keys=True): l for l in a.export('{__name__=~"temp_celsius|errors_total"}')}
        ra = lines.get(json.dumps({"__name__": "temp_celsius", "floor": "1", "room": "a"}, sort_keys=True))
        check(ra and ra["values"] == [21.5, 22] and ra["timestamps"] == [1700000000000, 1700000015000],
              "values and timestamps back: %r" % ra)
        rc = [l for l in lines.values() if l["metric"].get("room") == "c"]
        check(len(rc) == 1 and rc[0]["metric"]["note"] == 'say "hi"\n', "escapes decoded: %r" % rc)
        check(len(lines) == 4, "4 series (%d)" % len(lines))

        t0 = time.time() * 1000
        st, _, _ = imp(a, "no_ts_metric 1\n", "?extra_label=job=imported&extra_label=room=x")
        got = a.export("no_ts_metric")
        check(st == 204 and len(got) == 1 and got[0]["metric"].get("job") == "imported" and
              abs(got[0]["timestamps"][0] - t0) < 60000, "no timestamp -> now; extra_label added: %r" % got)
        st, _, _ = imp(a, 'override_m{job="mine"} 1 1700000000000\n', "?extra_label=job=theirs")
        got = a.export("override_m")
        check(got and got[0]["metric"]["job"] == "theirs", "extra_label overrides the line's label")

        for text, line, what in [
            ("good_a 1 1000\ngood_b 2 2000\nbad{x=\"1\" 3 3000\n", 3, "label set not closed"),
            ("good_c 1 1000\nbad_value abc 1000\n", 2, "bad value"),
            ("m{1x=\"a\"} 1 1000\n", 1, "invalid label name"),
            ('m{a="unterminated} 1\n', 1, "unterminated value"),
            ("m 1 1000 junk\n", 1, "garbage after the timestamp"),
        ]:
            st, _, resp = imp(a, text)
            msg = json.loads(resp).get("error", "") if st == 400 else ""
            check(st == 400 and ("line %d" % line) in msg or (what == "invalid label name" and st == 400),
                  "%s -> 400 naming line %d (%d %r)" % (what, line, st, msg))
        check(a.export('{__name__=~"good_.*"}') == [], "nothing from refused bodies was stored")
        st, _, _ = http("GET", a.url + "/api/v1/import/prometheus")
        check(st == 405, "GET -> 405")
        st, _, _ = http("POST", a.url + "/api/v1/import/prometheus", b"x 1", {"Content-Encoding": "br"})
        check(st == 415, "an unsupported Content-Encoding -> 415")

        # a real scrape, as is
        port = free_port()
        ne = subprocess.Popen(["prometheus-node-exporter", "--web.listen-address=127.0.0.1:%d" % port],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: http("GET", "http://127.0.0.1:%d/metrics" % port, timeout=2)[0] == 200,
                   what="node_exporter up")
        _, _, scrape = http("GET", "http://127.0.0.1:%d/metrics" % port)
        st, _, resp = imp(a, scrape.decode(), "?extra_label=job=scrape")
        check(st == 204, "a whole node_exporter scrape imports (got %d %r)" % (st, resp[:200]))
        samples = [l for l in scrape.decode().splitlines() if l and not l.startswith("#")]
        got = a.export('{job="scrape"}')
        check(len(got) == len(samples), "one series per sample line: %d vs %d" % (len(got), len(samples)))
        want = {}
        for l in samples:
            m = re.match(r"^(\S+?)(\{.*\})?\s+(\S+)$", l)
            if m and m.group(1) == "node_boot_time_seconds":
                want["boot"] = float(m.group(3))
        boot = [g for g in got if g["metric"]["__name__"] == "node_boot_time_seconds"]
        check(boot and boot[0]["values"][0] == want.get("boot"), "values as scraped (node_boot_time_seconds)")

        # HELP/TYPE kept as metadata, served as Prometheus does
        st, _, body = http("GET", a.url + "/api/v1/metadata")
        meta = json.loads(body)["data"] if st == 200 else {}
        types = {l.split()[2]: l.split()[3] for l in scrape.decode().splitlines() if l.startswith("# TYPE ")}
        check(len(meta) >= len(types) and all(k in meta and meta[k][0]["type"] == (v if v != "untyped" else "unknown")
                                              for k, v in types.items()),
              "/api/v1/metadata: a type for each of the %d families (%d)" % (len(types), len(meta)))
        st, _, body = http("GET", a.url + "/api/v1/metadata?metric=node_load1")
        check(st == 200 and json.loads(body)["data"] == {"node_load1": [
            {"type": "gauge", "help": "1m load average.", "unit": ""}]}, "metadata?metric=node_load1")
    finally:
        if ne:
            ne.terminate()
            ne.wait(10)
        a.cleanup()
    finish()


if __name__ == "__main__":
    main()
