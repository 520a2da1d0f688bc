"""Bad input on POST /api/v1/write: each gets the right 4xx in the Prometheus error shape,
nothing of a refused batch is stored (never half-applied), and the server keeps serving.
An unsorted label set is accepted and stored sorted."""
import json
import os
import socket

from harness import Auspex, check, finish, http, pb_write_request, rw_body, snappy_literal

LIMIT = 64 * 1024


def is_prom_error(body, etype="bad_data"):
    try:
        d = json.loads(body)
    except ValueError:
        return False
    return d.get("status") == "error" and d.get("errorType") == etype and bool(d.get("error"))


def series_names(a):
    return sorted(l["metric"].get("__name__", "") for l in a.export('{__name__=~".+"}'))


def main():
    a = Auspex(args=["-maxInsertRequestSize=%d" % LIMIT])
    try:
        a.start()
        st, _, _ = a.write(rw_body([([("__name__", "good"), ("job", "x")], [(1000, 1.5), (2000, 2.5)])]))
        check(st == 204, "valid write -> 204 (got %d)" % st)

        # unsorted labels are sorted, and the sorted form is the same series
        st, _, _ = a.write(rw_body([([("zone", "b"), ("__name__", "unsorted"), ("app", "a")], [(1000, 1.0)])]))
        check(st == 204, "unsorted label set accepted (got %d)" % st)
        st, _, _ = a.write(rw_body([([("__name__", "unsorted"), ("app", "a"), ("zone", "b")], [(2000, 2.0)])]))
        lines = a.export("unsorted")
        check(len(lines) == 1 and list(lines[0]["metric"].keys()) == ["__name__", "app", "zone"]
              and lines[0]["timestamps"] == [1000, 2000],
              "stored sorted, one series for both orders: %r" % lines)

        cases = [
            ("not snappy", b"\x05" + b"this is plain text, not a snappy block" * 4, 400),
            ("snappy of garbage", snappy_literal(b"\xff\xfe\x07garbage that is not protobuf" * 3), 400),
            ("truncated protobuf", snappy_literal(pb_write_request(
                [([("__name__", "trunc"), ("job", "x")], [(1000, 1.0)])])[:-3]), 400),
            ("duplicate label names", rw_body([([("__name__", "dup"), ("a", "1"), ("a", "2")], [(1000, 1.0)])]), 400),
            ("empty label name", rw_body([([("__name__", "emptyname"), ("", "v")], [(1000, 1.0)])]), 400),
            ("invalid label name", rw_body([([("__name__", "badname"), ("a-b", "v")], [(1000, 1.0)])]), 400),
            ("label name starting with a digit", rw_body([([("__name__", "badname2"), ("1a", "v")], [(1000, 1.0)])]), 400),
            ("invalid metric name", rw_body([([("__name__", "bad-metric")], [(1000, 1.0)])]), 400),
            ("label value not UTF-8", snappy_literal(pb_write_request(
                [([("__name__", "utf8"), ("v", "abc")], [(1000, 1.0)])]).replace(b"abc", b"a\xffc")), 400),
            ("one good and one bad series", rw_body([([("__name__", "half_good")], [(1000, 1.0)]),
                                                     ([("__name__", "half_bad"), ("x-y", "1")], [(1000, 1.0)])]), 400),
            ("body over -maxInsertRequestSize", os.urandom(LIMIT + 1000), 413),
            # declares 1,000,000 decoded bytes in a 6-byte body: refused before allocating
            ("snappy that decodes past the limit", bytes([0xC0, 0x84, 0x3D]) + b"\x08abc", 413),
        ]
        for name, body, want in cases:
            st, _, resp = a.write(body)
            check(st == want and is_prom_error(resp), "%s -> %d bad_data (got %d %r)" % (name, want, st, resp[:120]))
            st2, _, _ = http("GET", a.url + "/-/healthy")
            check(st2 == 200, "still healthy after: " + name)

        names = series_names(a)
        check(names == ["good", "unsorted"], "nothing from refused batches was stored: %r" % names)

        st, hdr, resp = http("GET", a.url + "/api/v1/write")
        check(st == 405 and "POST" in hdr.get("Allow", ""), "GET /api/v1/write -> 405 with Allow (got %d)" % st)
        st, _, _ = http("PUT", a.url + "/api/v1/write", b"x")
        check(st == 405, "PUT /api/v1/write -> 405 (got %d)" % st)
        st, _, resp = a.write(rw_body([([("__name__", "gz")], [(1, 1.0)])]),
                              headers={"Content-Encoding": "gzip"})
        check(st == 415 and is_prom_error(resp), "Content-Encoding gzip -> 415 (got %d)" % st)
        st, _, resp = http("POST", a.url + "/api/v1/write?get_vm_proto_version=1", b"")
        check(st == 400 and is_prom_error(resp),
              "vmagent's protocol probe -> 400, so it falls back to remote-write (got %d)" % st)
        st, _, _ = a.write(snappy_literal(b""))
        check(st == 204, "empty WriteRequest -> 204 (got %d)" % st)

        # a client that promises a body and vanishes
        s = socket.create_connection(("127.0.0.1", a.port))
        s.sendall(b"POST /api/v1/write HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\npartial")
        s.close()
        # garbage instead of HTTP
        s = socket.create_connection(("127.0.0.1", a.port))
        s.sendall(b"\x16\x03\x01\x00\xa5 not http at all\r\n\r\n")
        data = s.recv(4096)
        s.close()
        check(data.startswith(b"HTTP/1.1 400"), "non-HTTP bytes -> 400 (got %r)" % data[:40])

        st, _, _ = a.write(rw_body([([("__name__", "good"), ("job", "x")], [(3000, 3.5)])]))
        check(st == 204, "still accepts writes after all that (got %d)" % st)
        lines = a.export("good")
        check(len(lines) == 1 and lines[0]["values"] == [1.5, 2.5, 3.5], "good series intact: %r" % lines)
        m = a.metrics()
        check(m.get('auspex_requests_rejected_total{reason="invalid_labels"}') == 7,
              "rejections counted by reason (invalid_labels=%r)" % m.get('auspex_requests_rejected_total{reason="invalid_labels"}'))
        check(a.stop() == 0, "clean exit on SIGTERM")
    finally:
        a.cleanup()
    finish()


if __name__ == "__main__":
    main()
