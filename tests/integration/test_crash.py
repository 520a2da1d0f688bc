"""kill -9 at random moments, again and again, loses nothing that was acknowledged
(issue 9, item 1).

Load: four writer threads send remote-write batches of recent samples ("crash_raw", unique
(series, timestamp) pairs, 10 ms apart, about half a day old), and one more writes old
samples ("crash_old", 2-3 days old) one whole 5-minute interval per series per batch, so
that with -downsampling.period=1d:5m the downsampling pass (run after every retention pass,
every second) keeps rolling freshly flushed chunks up. A small head
(-storage.headMaxSamples) and -storage.flushInterval=1s keep flushes going all the time.
A sample counts as acknowledged only when its request got 204; the test keeps them all.

Rounds: start (or restart) the server on the same data folder, write for a random
0.05-1.5 s, then SIGKILL it at one of three kinds of moment:
  plain  - wherever the load happens to be;
  flush  - a few ms after a /internal/force_flush request was sent (mid-flush);
  pass   - a few ms after auspex_retention_passes_total moved (the downsampling pass runs
           right after each retention pass; there is no "in progress" gauge to watch).
After each kill the server must become ready with no "corrupt"/"BUG" in its log, and every
acknowledged sample so far must be readable:
  crash_raw: /api/v1/export, exact timestamps and value bits;
  crash_old: downsampled (export shows one sample per interval), so per 5-minute interval
    count_over_time(crash_old[5m]) must be 20 and last_over_time the batch's last value.
    Each batch is one interval of one series and is committed whole or not at all, so an
    interval is either absent or complete: exact, even for batches that were durable but
    never acknowledged.
Samples that were durable but not acknowledged (the kill came between fdatasync and the
reply) may be present; nothing acknowledged may be missing.

Seeded RNG: AUSPEX_CRASH_SEED=<n> replays a run (the seed is printed). Bounded: at most
CRASH_BUDGET_S seconds of rounds, at least MIN_KILLS kills.
"""
import os
import random
import re
import struct
import threading
import time

from harness import FAILURES, Auspex, api_query, check, finish, http, rw_body

WRITERS = 4
SERIES = 20                 # crash_raw series per writer
SAMPLES = 5                 # samples per series per batch
RAW_STEP_MS = 10
OLD_SERIES = 10             # crash_old series per generation
OLD_PER_INTERVAL = 20       # samples per 5-minute interval, 15 s apart, inside (a, a+5m)
INTERVAL_MS = 300_000
OLD_INTERVALS = 400         # intervals per generation (about 33 h, from 3 days back)
TARGET_KILLS = 24
MIN_KILLS = 20
CRASH_BUDGET_S = 85.0
BAD_LOG = re.compile(rb"corrupt|BUG", re.IGNORECASE)


def bits(v):
    return struct.pack("<d", float(v))


class RawWriter(threading.Thread):
    """Writes crash_raw{w=wid,s=0..SERIES-1}; acked[(w, s)] = {ts: value}."""

    def __init__(self, url, wid, t, acked, lock):
        super().__init__(daemon=True)
        self.url, self.wid, self.t, self.acked, self.lock = url, wid, t, acked, lock
        self.stop = False
        self.unexpected = []
        self.refused = 0

    def run(self):
        while not self.stop:
            series = []
            for s in range(SERIES):
                labels = [("__name__", "crash_raw"), ("w", str(self.wid)), ("s", str(s))]
                samples = [(self.t + i * RAW_STEP_MS,
                            float((self.t // RAW_STEP_MS + i) % 1000003) + s / 64.0 + 0.5)
                           for i in range(SAMPLES)]
                series.append((labels, samples))
            self.t += SAMPLES * RAW_STEP_MS  # never reused, acknowledged or not
            try:
                st, _, body = http("POST", self.url + "/api/v1/write", rw_body(series),
                                   {"Content-Encoding": "snappy"}, timeout=10)
            except Exception:
                st = None  # the connection died with the server: not acknowledged
            if st == 204:
                with self.lock:
                    for labels, samples in series:
                        self.acked.setdefault((str(self.wid), labels[2][1]), {}).update(samples)
            elif st == 503:
                self.refused += 1
            elif st is not None:
                self.unexpected.append((st, body[:200]))
            time.sleep(0.004)  # bounded load: each verification re-reads everything


class OldWriter(threading.Thread):
    """Writes crash_old{g=gen,s=0..OLD_SERIES-1}, one 5-minute interval per series per
    batch, intervals in time order; acked[(g, s, interval_end_ms)] = last value."""

    def __init__(self, url, state, acked, lock):
        super().__init__(daemon=True)
        self.url, self.state, self.acked, self.lock = url, state, acked, lock
        self.stop = False
        self.unexpected = []

    def run(self):
        while not self.stop:
            g, k = self.state["gen"], self.state["k"]
            a = self.state["base"] + k * INTERVAL_MS       # interval (a, a + 5m]
            series, last = [], {}
            for s in range(OLD_SERIES):
                labels = [("__name__", "crash_old"), ("g", str(g)), ("s", str(s))]
                samples = [(a + 5000 + j * 15000, float(g * 1e6 + s * 1e4 + k) + j / 32.0)
                           for j in range(OLD_PER_INTERVAL)]
                series.append((labels, samples))
                last[(str(g), str(s), a + INTERVAL_MS)] = samples[-1][1]
            self.state["k"] = k + 1
            if self.state["k"] == OLD_INTERVALS:
                self.state["gen"], self.state["k"] = g + 1, 0
            try:
                st, _, body = http("POST", self.url + "/api/v1/write", rw_body(series),
                                   {"Content-Encoding": "snappy"}, timeout=10)
            except Exception:
                st = None
            if st == 204:
                with self.lock:
                    self.acked.update(last)
            elif st is not None and st != 503:
                self.unexpected.append((st, body[:200]))
            time.sleep(0.02)


def verify_raw(a, acked):
    got = {}
    for line in a.export('{__name__="crash_raw"}'):
        key = (line["metric"]["w"], line["metric"]["s"])
        got.setdefault(key, {}).update(zip(line["timestamps"], line["values"]))
    total = missing = wrong = 0
    first_bad = None
    for key, samples in acked.items():
        have = got.get(key, {})
        for t, v in samples.items():
            total += 1
            if t not in have:
                missing += 1
                first_bad = first_bad or ("missing", key, t, v)
            elif bits(have[t]) != bits(v):
                wrong += 1
                first_bad = first_bad or ("wrong", key, t, v, have[t])
    return total, missing, wrong, first_bad


def verify_old(a, acked):
    """Per acknowledged interval: count 20 and the batch's last value."""
    if not acked:
        return 0, 0, 0, None
    ends = [k[2] for k in acked]
    params = {"start": "%.3f" % (min(ends) / 1000), "end": "%.3f" % (max(ends) / 1000),
              "step": "300"}
    got = {}
    for fn in ("count_over_time", "last_over_time"):
        st, _, js = api_query(a.url, "/api/v1/query_range",
                              dict(params, query="%s(crash_old[5m])" % fn), method="POST")
        if st != 200 or not js or js.get("status") != "success":
            return len(acked), len(acked), 0, ("query_range %s: %s %r" % (fn, st, js))
        for r in js["data"]["result"]:
            m = r["metric"]
            for t, v in r["values"]:
                got.setdefault((m["g"], m["s"], int(round(float(t) * 1000))), {})[fn] = float(v)
    missing = wrong = 0
    first_bad = None
    for key, last in acked.items():
        have = got.get(key)
        if not have:
            missing += 1
            first_bad = first_bad or ("missing interval", key)
        elif have.get("count_over_time") != OLD_PER_INTERVAL or \
                bits(have.get("last_over_time", float("nan"))) != bits(last):
            wrong += 1
            first_bad = first_bad or ("wrong interval", key, have, last)
    return len(acked), missing, wrong, first_bad


def log_tail(path, since):
    with open(path, "rb") as f:
        f.seek(since)
        return f.read()


def metric(a, name):
    try:
        return a.metrics().get(name, 0.0)
    except Exception:
        return None


def main():
    seed = int(os.environ.get("AUSPEX_CRASH_SEED", str(random.SystemRandom().randrange(1 << 31))))
    print("seed %d (replay: AUSPEX_CRASH_SEED=%d)" % (seed, seed))
    rng = random.Random(seed)
    now = int(time.time() * 1000)
    a = Auspex(args=["-storage.headMaxSamples=20000", "-storage.flushInterval=1s",
                     "-retentionPeriod=30d", "-retention.checkInterval=1s",
                     "-downsampling.period=1d:5m"], keep_data=True)
    lock = threading.Lock()
    raw_acked, old_acked = {}, {}
    raw_t = [now - 12 * 3600_000 + w * 3600_000 for w in range(WRITERS)]  # an hour apart
    old_state = {"gen": 0, "k": 0, "base": (now - 3 * 86400_000) // INTERVAL_MS * INTERVAL_MS}
    kills = restarts = refused = 0
    kinds = {"plain": 0, "flush": 0, "pass": 0}
    last_counts = (0, 0)
    ds_points = 0
    t_start = time.time()
    try:
        a.start()
        rnd = 0
        while kills < TARGET_KILLS and (time.time() - t_start < CRASH_BUDGET_S or kills < MIN_KILLS):
            if time.time() - t_start > 2 * CRASH_BUDGET_S:
                break  # far too slow: report below rather than run on
            raws = [RawWriter(a.url, w, raw_t[w], raw_acked, lock) for w in range(WRITERS)]
            old = OldWriter(a.url, old_state, old_acked, lock)
            for w in raws + [old]:
                w.start()
            kind = rng.choice(["plain", "flush", "pass"])
            delay = rng.uniform(0.05, 1.5)
            extra = rng.uniform(0.0, 0.03)
            time.sleep(delay)  # the moment of the crash is the point of the test
            if kind == "flush":
                threading.Thread(target=lambda u=a.url: _quiet_post(u + "/internal/force_flush"),
                                 daemon=True).start()
                time.sleep(extra)
            elif kind == "pass":
                ds_points += metric(a, "auspex_downsampling_points_total") or 0
                p0 = metric(a, "auspex_retention_passes_total")
                deadline = time.time() + 1.5
                while time.time() < deadline and metric(a, "auspex_retention_passes_total") == p0:
                    time.sleep(0.01)
                time.sleep(extra)
            a.kill9()
            kills += 1
            kinds[kind] += 1
            for w in raws + [old]:
                w.stop = True
            for w in raws + [old]:
                w.join(15)
            for w in raws:
                raw_t[w.wid] = w.t
                refused += w.refused
            unexpected = [u for w in raws + [old] for u in w.unexpected]
            check(not unexpected, "round %d (%s after %.2fs): no error replies but 204/503: %r"
                  % (rnd, kind, delay, unexpected[:3]))

            log_from = os.path.getsize(a.log_path)
            try:
                a.start()
            except Exception as e:
                check(False, "round %d: server restarts after kill -9: %s" % (rnd, e))
                break
            restarts += 1
            bad = [l for l in log_tail(a.log_path, log_from).splitlines() if BAD_LOG.search(l)]
            check(not bad, "round %d: startup log clean of corrupt/BUG: %r" % (rnd, bad[:3]))
            with lock:
                raw = {k: dict(v) for k, v in raw_acked.items()}
                old_snap = dict(old_acked)
            rt, rm, rw, rb = verify_raw(a, raw)
            ot, om, ow, ob = verify_old(a, old_snap)
            ok = check(rm == 0 and rw == 0 and om == 0 and ow == 0,
                       "round %d (%s): %d raw samples exact (%d missing, %d wrong), %d old "
                       "intervals complete (%d missing, %d wrong)%s"
                       % (rnd, kind, rt, rm, rw, ot, om, ow,
                          "" if rb is None and ob is None else ": first %r %r" % (rb, ob)))
            last_counts = (rt, ot)
            rnd += 1
            if not ok:
                break  # the data folder is kept below for a look
        # a clean stop and start at the end: everything still there, downsampling happened
        a.stop()
        a.start()
        restarts += 1
        rt, rm, rw, _ = verify_raw(a, raw_acked)
        ot, om, ow, _ = verify_old(a, old_acked)
        check(rm == rw == om == ow == 0, "after a clean restart: %d raw samples, %d old "
              "intervals all there" % (rt, ot))
        check(ds_points > 0, "the downsampling pass rolled up old data during the run "
              "(%d points seen in 'pass' rounds)" % ds_points)
        check(kills >= MIN_KILLS, "%d kills (want at least %d)" % (kills, MIN_KILLS))
        check(rt > 0 and ot > 0, "both kinds of data were acknowledged (%d raw, %d intervals)"
              % (rt, ot))
        a.stop()
    finally:
        elapsed = time.time() - t_start
        print("figures: seed %d, kills survived %d (plain %d, flush %d, pass %d), restarts %d, "
              "raw samples acknowledged and verified %d, old intervals verified %d (%d samples), "
              "requests refused 503 %d, total %.1f s"
              % (seed, kills, kinds["plain"], kinds["flush"], kinds["pass"], restarts,
                 last_counts[0], last_counts[1], last_counts[1] * OLD_PER_INTERVAL, refused,
                 elapsed))
        a.stop()
        if FAILURES:
            print("data folder kept for a look: %s, log %s" % (a.data, a.log_path))
        else:
            a.keep_data = False
            a.cleanup()
    finish()


def _quiet_post(url):
    try:
        http("POST", url, b"", timeout=10)
    except Exception:
        pass


if __name__ == "__main__":
    main()
