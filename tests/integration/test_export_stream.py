"""A large /api/v1/export is streamed (chunked), complete and in order; HTTP/1.0 clients
get it unframed; a client that hangs up mid-export does not hurt the server; peak memory
stays far below the export's size."""
import socket
import time

from harness import Auspex, check, finish, http, parse_export_line, rw_body

SERIES, SAMPLES = 300, 3000   # ~16 MB of JSON lines


def rss_hwm_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def main():
    a = Auspex()
    try:
        a.start()
        for s0 in range(0, SERIES, 50):
            batch = [([("__name__", "big"), ("s", "%03d" % s)],
                      [(1_600_000_000_000 + i * 15000, float(s * 1e6 + i) + 0.5) for i in range(SAMPLES)])
                     for s in range(s0, s0 + 50)]
            st, _, _ = a.write(rw_body(batch))
            check(st == 204, "write batch %d -> 204" % s0)
        http("POST", a.url + "/internal/force_flush")
        before = rss_hwm_kb(a.proc.pid)

        st, hdr, body = http("GET", a.url + "/api/v1/export?match[]=big", timeout=120)
        lines = [parse_export_line(l) for l in body.decode().splitlines()]
        check(st == 200 and hdr.get("Transfer-Encoding") == "chunked", "export is chunked (%d %r)"
              % (st, hdr.get("Transfer-Encoding")))
        check(len(lines) == SERIES, "all %d series exported (%d)" % (SERIES, len(lines)))
        ok = all(len(l["values"]) == SAMPLES and l["values"][7] == float(int(l["metric"]["s"]) * 1e6 + 7) + 0.5
                 for l in lines)
        check(ok, "every series complete with the right values")
        check([l["metric"]["s"] for l in lines] == sorted(l["metric"]["s"] for l in lines),
              "series in creation order")
        grew = rss_hwm_kb(a.proc.pid) - before
        check(grew < len(body) // 1024 // 2,
              "peak RSS grew by %d KiB for a %d KiB export (streamed, not built whole)" % (grew, len(body) // 1024))

        # HTTP/1.0: no chunked encoding; the body ends with the connection
        s = socket.create_connection(("127.0.0.1", a.port))
        s.sendall(b"GET /api/v1/export?match[]=big%7Bs%3D%22007%22%7D HTTP/1.0\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        head, _, rest = data.partition(b"\r\n\r\n")
        check(head.startswith(b"HTTP/1.1 200") and b"chunked" not in head and
              len(parse_export_line(rest.decode().strip())["values"]) == SAMPLES,
              "HTTP/1.0 export unframed and complete")

        # hang up after the first bytes of a big export
        for _ in range(3):
            s = socket.create_connection(("127.0.0.1", a.port))
            s.sendall(b"GET /api/v1/export?match[]=big HTTP/1.1\r\nHost: x\r\n\r\n")
            s.recv(1000)
            s.close()
        time.sleep(0.2)
        st, _, _ = http("GET", a.url + "/-/healthy")
        check(st == 200, "server healthy after clients hung up mid-export")
        st, _, body = http("GET", a.url + "/api/v1/export?match[]=big%7Bs%3D%22299%22%7D")
        check(st == 200 and len(body.splitlines()) == 1, "and still exports")
    finally:
        a.cleanup()
    finish()


if __name__ == "__main__":
    main()
