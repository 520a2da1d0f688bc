"""POST /api/v1/import (VictoriaMetrics JSON lines), the counterpart of /api/v1/export:
an export imported into a fresh instance exports byte for byte the same; bad lines are
refused whole with their line number."""
import json
import struct

from harness import Auspex, check, finish, http, rw_body


def main():
    a, b = Auspex(), Auspex()
    try:
        a.start()
        b.start()
        series = [([("__name__", "rt"), ("k", "v%d" % s)],
                   [(1_700_000_000_000 + i * 15000 + s, v) for i, v in enumerate(
                       [0.1, -0.0, 1e300, 5e-324, float("inf"), float("-inf"), float("nan"), 123456789.125, s])])
                  for s in range(20)]
        st, _, _ = a.write(rw_body(series))
        check(st == 204, "source write -> 204")
        st, _, exp_a = http("GET", a.url + "/api/v1/export?match[]=rt")
        check(st == 200 and len(exp_a.splitlines()) == 20, "source exports 20 series")
        st, _, resp = http("POST", b.url + "/api/v1/import", exp_a)
        check(st == 204, "export imports into a fresh instance (got %d %r)" % (st, resp[:200]))
        st, _, exp_b = http("GET", b.url + "/api/v1/export?match[]=rt")
        check(exp_a == exp_b, "round trip export -> import -> export is byte-identical")

        st, _, _ = http("POST", b.url + "/api/v1/import?extra_label=src=x",
                        b'{"metric":{"__name__":"extra_m"},"values":[1],"timestamps":[1000]}\n')
        got = b.export("extra_m")
        check(st == 204 and got and got[0]["metric"].get("src") == "x", "extra_label on import")

        for body, line, what in [
            (b'{"metric":{"__name__":"ok1"},"values":[1],"timestamps":[1]}\n{"metric":{"__name__":"bad"},"values":[1,2],"timestamps":[1]}\n', 2, "length mismatch"),
            (b'{"metric":{"__name__":"ok2"},"values":[1],"timestamps":[1]}\n{"metric":', 2, "truncated line"),
            (b'{"metric":{"__name__":"m"},"values":["abc"],"timestamps":[1]}\n', 1, "bad value"),
            (b'{"values":[1],"timestamps":[1]}\n', 1, "no metric"),
        ]:
            st, _, resp = http("POST", b.url + "/api/v1/import", body)
            msg = json.loads(resp).get("error", "") if st == 400 else ""
            check(st == 400 and ("line %d" % line) in msg, "%s -> 400 naming line %d (%d %r)" % (what, line, st, msg))
        check(b.export('{__name__=~"ok.*"}') == [], "nothing from refused bodies was stored")
    finally:
        a.cleanup()
        b.cleanup()
    finish()


if __name__ == "__main__":
    main()
