"""Overload (issue 9, item 3): slow clients, too many connections, idle connections, a
query flood beside ingestion, and more writers than the machine absorbs.

1. Slowloris: 40 connections trickle a request head one byte at a time; normal requests
   are answered meanwhile, and the trickling ones are closed once -http.headerReadTimeout
   passes.
2. -http.maxConns: past the limit a new connection gets 503 and is closed; once others
   close, new ones are served again.
3. -http.idleConnTimeout: an idle keep-alive connection is closed by the server.
4. A query flood (more concurrent expensive queries than -search.maxConcurrentRequests)
   does not starve ingestion: every write is answered 204 meanwhile.
5. Write overload: many writers with large batches against a small head: every refusal is
   a 503 with Retry-After (never a 500, never a hang), the server's peak RSS stays bounded,
   and everything acknowledged is stored.
Figures (served/refused, latencies, peak RSS) are printed.
"""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Auspex, check, finish, http, rw_body, wait_until  # noqa: E402


def rss_peak_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return -1


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def closed_by_server(s, within):
    """True if the server closes s (EOF or reset) within `within` seconds."""
    s.settimeout(within)
    try:
        while True:
            b = s.recv(4096)
            if not b:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def test_slowloris(a):
    socks = []
    for _ in range(40):
        s = connect(a.port)
        s.sendall(b"GET /api/v1/labels HTTP/1.1\r\nHost: x\r\n")
        socks.append(s)
    stop = threading.Event()

    def trickle():
        while not stop.is_set():
            for s in socks:
                try:
                    s.send(b"X")
                except OSError:
                    pass
            time.sleep(0.3)
    t = threading.Thread(target=trickle, daemon=True)
    t.start()
    lat = []
    for _ in range(20):
        t0 = time.time()
        st, _, _ = http("GET", a.url + "/-/ready", timeout=10)
        lat.append(time.time() - t0)
        check(st == 200, "a normal request during the slowloris: %d" % st)
    print("  slowloris: 20 normal requests answered, slowest %.3f s" % max(lat))
    check(max(lat) < 5, "normal requests are not held up by 40 trickling connections (slowest %.2f s)" % max(lat))
    closed = sum(closed_by_server(s, 6) for s in socks)
    stop.set()
    check(closed == len(socks), "the trickling connections were closed by the header timeout (%d of %d)"
          % (closed, len(socks)))
    for s in socks:
        s.close()


def test_max_conns(a, limit):
    socks = [connect(a.port) for _ in range(limit)]
    time.sleep(0.3)
    extra = connect(a.port)
    extra.settimeout(5)
    try:
        head = extra.recv(200)
    except (ConnectionResetError, socket.timeout):
        head = b""
    check(head.startswith(b"HTTP/1.1 503"), "connection %d over -http.maxConns=%d gets 503: %r"
          % (limit + 1, limit, head[:40]))
    extra.close()
    for s in socks[: limit // 2]:
        s.close()
    time.sleep(0.3)
    st = wait_until(lambda: http("GET", a.url + "/-/ready", timeout=5)[0] == 200, timeout=10,
                    what="served again once connections closed")
    check(st, "served again once connections closed")
    for s in socks[limit // 2:]:
        s.close()


def test_idle(a, idle_s):
    s = connect(a.port)
    s.sendall(b"GET /-/ready HTTP/1.1\r\nHost: x\r\n\r\n")
    s.settimeout(5)
    got = s.recv(4096)
    check(got.startswith(b"HTTP/1.1 200"), "keep-alive request answered")
    t0 = time.time()
    closed = closed_by_server(s, idle_s + 5)
    check(closed, "an idle keep-alive connection is closed after -http.idleConnTimeout=%ds (%.1f s)"
          % (idle_s, time.time() - t0))
    s.close()


def write_batch(a, name, t0, n_series, n_samples, value=1.0):
    series = [([("__name__", name), ("i", str(i))],
               [(t0 + k * 1000, value + k) for k in range(n_samples)]) for i in range(n_series)]
    st, h, _ = http("POST", a.url + "/api/v1/write", rw_body(series),
                    {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf"}, timeout=60)
    return st, h


def test_query_flood(a):
    # data for expensive queries
    now = int(time.time()) * 1000
    for b in range(20):
        st, _ = write_batch(a, "flood_data", now - 6 * 3600 * 1000 + b * 1000 * 600, 200, 600)
        check(st == 204, "flood data batch %d: %d" % (b, st))
    stop = threading.Event()
    answered = {"ok": 0, "busy": 0, "other": 0}
    lock = threading.Lock()

    def flood():
        q = "quantile_over_time(0.5, flood_data[6h])"
        while not stop.is_set():
            st, _, _ = http("GET", a.url + "/api/v1/query?query=" + q.replace(" ", "%20").replace("[", "%5B")
                            .replace("]", "%5D"), timeout=120)
            with lock:
                answered["ok" if st == 200 else "busy" if st in (503, 429) else "other"] += 1
    threads = [threading.Thread(target=flood, daemon=True) for _ in range(24)]
    for t in threads:
        t.start()
    time.sleep(1)
    writes, lat = [], []
    for k in range(30):
        t0 = time.time()
        st, _ = write_batch(a, "flood_writes", now + k * 10000, 10, 5)
        lat.append(time.time() - t0)
        writes.append(st)
    stop.set()
    for t in threads:
        t.join(timeout=130)
    lat.sort()
    print("  query flood: queries %s; 30 writes meanwhile, median %.3f s, slowest %.3f s"
          % (answered, lat[len(lat) // 2], lat[-1]))
    check(all(s == 204 for s in writes), "every write during the query flood got 204: %s" % writes)
    check(answered["other"] == 0, "queries got 200 or 503, nothing else: %s" % answered)


def test_write_overload(a):
    """24 writers resend prebuilt 20,000-sample bodies as fast as they are answered (Python
    cannot encode fresh ones fast enough to overload the server)."""
    import json
    base = int(time.time()) * 1000 - 10 * 86400 * 1000
    per_writer, n_series, n_samples = 3, 20, 1000
    bodies = {}
    for w in range(24):
        for k in range(per_writer):
            t0 = base + w * 3 * 3600 * 1000 + k * n_samples * 1000
            series = [([("__name__", "ov_%d" % w), ("i", str(i))],
                       [(t0 + j * 1000, float(j)) for j in range(n_samples)]) for i in range(n_series)]
            bodies[(w, k)] = rw_body(series)
    stop = threading.Event()
    counts = {}
    bad_503 = []
    acked = set()
    lock = threading.Lock()
    hdr = {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf"}

    def writer(w):
        k = 0
        while not stop.is_set():
            st, h, _ = http("POST", a.url + "/api/v1/write", bodies[(w, k % per_writer)], hdr, timeout=60)
            with lock:
                counts[st] = counts.get(st, 0) + 1
                if st == 503 and "Retry-After" not in h:
                    bad_503.append(h)
                if st == 204:
                    acked.add((w, k % per_writer))
            k += 1
    threads = [threading.Thread(target=writer, args=(w,), daemon=True) for w in range(24)]
    for t in threads:
        t.start()
    time.sleep(15)
    stop.set()
    for t in threads:
        t.join(timeout=120)
    peak = rss_peak_mib(a.proc.pid)
    print("  write overload: answers %s, peak RSS %.0f MiB" % (counts, peak))
    check(set(counts) <= {204, 503}, "writers got only 204 or 503: %s" % counts)
    check(not bad_503, "every 503 carries Retry-After (%d without)" % len(bad_503))
    check(peak < 1024, "peak RSS under overload stays under 1 GiB: %.0f MiB" % peak)
    # everything acknowledged is stored: distinct samples per writer
    http("POST", a.url + "/internal/force_flush")
    for w in range(0, 24, 4):
        want = sum(1 for (x, _) in acked if x == w) * n_series * n_samples
        st, _, body = http("GET", a.url + "/api/v1/query?query=sum(count_over_time(ov_%d%%5B30d%%5D))" % w)
        r = json.loads(body)["data"]["result"] if st == 200 else []
        got = int(float(r[0]["value"][1])) if r else 0
        check(got == want, "writer %d: all %d acknowledged samples stored (%d)" % (w, want, got))


def main():
    limit, idle = 64, 2
    a = Auspex(args=["-http.maxConns=%d" % limit, "-http.idleConnTimeout=%ds" % idle,
                     "-http.headerReadTimeout=2s", "-search.maxConcurrentRequests=4",
                     "-search.maxQueueDuration=2s", "-storage.headMaxSamples=300000"]).start()
    try:
        test_slowloris(a)
        test_max_conns(a, limit)
        test_idle(a, idle)
        test_query_flood(a)
        test_write_overload(a)
        check(http("GET", a.url + "/-/ready")[0] == 200, "the server still answers after all of it")
    finally:
        a.cleanup()
    finish()


if __name__ == "__main__":
    main()
