"""kill -9 at arbitrary moments loses nothing that was acknowledged.

Four writer threads send remote-write batches as fast as the server takes them, each
remembering the samples of every batch that got 204. The server is killed with SIGKILL
while writes are in flight (a small head makes flushes into LMDB happen during the run,
so some kills land mid-flush), restarted on the same data folder, and every acknowledged
sample of every round so far must be exported with its exact value."""
import struct
import threading
import time

from harness import Auspex, check, finish, http, rw_body

WRITERS = 4
SERIES_PER_BATCH = 40
SAMPLES_PER_SERIES = 5
KILL_AFTER = [0.6, 1.1, 1.7, 0.9]   # seconds of writing before each kill


class Writer(threading.Thread):
    def __init__(self, url, wid, acked, t0):
        super().__init__(daemon=True)
        self.url, self.wid, self.acked, self.t = url, wid, acked, t0
        self.stop = False
        self.errors = 0

    def run(self):
        while not self.stop:
            series = []
            for s in range(SERIES_PER_BATCH):
                labels = [("__name__", "k9"), ("writer", str(self.wid)), ("s", str(s))]
                samples = [(self.t + i * 1000, float(self.wid * 1e6 + s * 1e3 + (self.t // 1000 + i) % 997) + 0.25)
                           for i in range(SAMPLES_PER_SERIES)]
                series.append((labels, samples))
            try:
                st, _, _ = http("POST", self.url + "/api/v1/write", rw_body(series),
                                {"Content-Encoding": "snappy"}, timeout=10)
            except Exception:
                st = None  # connection dropped by the kill: not acknowledged
            if st == 204:
                for labels, samples in series:
                    key = (str(self.wid), labels[2][1])
                    self.acked.setdefault(key, {}).update(dict(samples))
            elif st is not None and st != 503:
                self.errors += 1
            self.t += SAMPLES_PER_SERIES * 1000


def verify(a, acked, round_no):
    got = {}
    for line in a.export('{__name__="k9"}'):
        key = (line["metric"]["writer"], line["metric"]["s"])
        got[key] = dict(zip(line["timestamps"], line["values"]))
    missing = wrong = total = 0
    for key, samples in acked.items():
        have = got.get(key, {})
        for t, v in samples.items():
            total += 1
            if t not in have:
                missing += 1
            elif struct.pack("<d", float(have[t])) != struct.pack("<d", v):
                wrong += 1
    check(total > 0 and missing == 0 and wrong == 0,
          "round %d: %d acknowledged samples all back after kill -9 (%d missing, %d wrong)"
          % (round_no, total, missing, wrong))


def main():
    a = Auspex(args=["-storage.headMaxSamples=20000"], keep_data=True)
    acked = [{} for _ in range(WRITERS)]
    t0 = [1_700_000_000_000 + w * 10**9 for w in range(WRITERS)]
    try:
        for rnd, delay in enumerate(KILL_AFTER):
            a.start()
            writers = [Writer(a.url, w, acked[w], t0[w]) for w in range(WRITERS)]
            for w in writers:
                w.start()
            time.sleep(delay)   # the moment of the crash is the point of the test
            a.kill9()
            for w in writers:
                w.stop = True
            for w in writers:
                w.join(15)
                t0[w.wid] = w.t
                check(w.errors == 0, "round %d writer %d: no unexpected error replies" % (rnd, w.wid))
            a.start()
            merged = {}
            for w in range(WRITERS):
                merged.update(acked[w])
            verify(a, merged, rnd)
            a.stop()
        a.start()
        m = a.metrics()
        check(m.get("auspex_series", 0) == WRITERS * SERIES_PER_BATCH,
              "series count after restarts: %r" % m.get("auspex_series"))
        a.stop()
    finally:
        a.keep_data = False
        a.cleanup()
    finish()


if __name__ == "__main__":
    main()
