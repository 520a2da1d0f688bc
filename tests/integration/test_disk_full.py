"""A full disk refuses writes cleanly and ingestion comes back by itself (issue 9, item 2).

The data folder lives on a small filesystem of its own: a tmpfs of 8 MB (or, where tmpfs
cannot be mounted, a loop-mounted 16 MB ext4 image; AUSPEX_DISKFULL_FS=ext4 tries only that;
if neither works the test fails and says why: CI runs as root like this sandbox). A filler
file of 2 MB is made there first to hold room back. Then:
  1. remote-write unique samples (random values, which compress badly) until writes fail;
     a small head makes flushes into LMDB run all the time, so both the WAL and LMDB meet
     the full disk;
  2. while full: writes are refused with 503 (never 500, never a crash), the log says
     "disk full" in one clear line (not one per request), /api/v1/query, /api/v1/export
     and /metrics answer 200, and every sample acknowledged before is exported exactly;
  3. the filler file is deleted: writes get 204 again within a bounded wait, with no
     restart;
  4. after a restart everything acknowledged is still there.
The filesystem is unmounted in a finally block; nothing is left running.
"""
import os
import random
import re
import shutil
import struct
import subprocess
import tempfile
import time

from harness import FAILURES, Auspex, api_query, check, finish, http, rw_body

FS_TMPFS_SIZE = "8m"
EXT4_IMAGE_SIZE = 16 << 20
FILLER_BYTES = 2 << 20
SERIES = 50
SAMPLES = 40                # per series per batch: 2000 samples, ~20 KB of WAL per batch
MAX_FILL_S = 60.0           # writing until the first refusal must not take longer
FULL_PROBES = 20            # writes sent while full, to see how they are refused
RESUME_TIMEOUT_S = 30.0
FULL_LINE = re.compile(rb"disk (is )?full", re.IGNORECASE)
AGAIN_LINE = re.compile(rb"disk space available again")


def run(cmd):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def mount_small_fs(mnt, work):
    """Mount a small filesystem on mnt. Returns (kind, image path or None); raises with
    every reason when no way works."""
    why = []
    if os.environ.get("AUSPEX_DISKFULL_FS") != "ext4":   # ext4: try the fallback only
        p = run(["mount", "-t", "tmpfs", "-o", "size=" + FS_TMPFS_SIZE, "tmpfs", mnt])
        if p.returncode == 0:
            return "tmpfs " + FS_TMPFS_SIZE, None
        why.append("mount -t tmpfs: %s" % p.stdout.decode(errors="replace").strip())
    img = os.path.join(work, "fs.img")
    try:
        with open(img, "wb") as f:
            f.truncate(EXT4_IMAGE_SIZE)
        p = run(["mkfs.ext4", "-q", "-F", img])
        if p.returncode == 0:
            p = run(["mount", "-o", "loop", img, mnt])
            if p.returncode == 0:
                return "ext4 loop image 16 MB", img
        why.append("loop ext4: %s" % p.stdout.decode(errors="replace").strip())
    except OSError as e:
        why.append("loop ext4: %s" % e)
    raise RuntimeError("cannot mount a small filesystem for the disk-full test (run as root "
                       "with mount permission): " + "; ".join(why))


def unmount(mnt):
    if run(["umount", mnt]).returncode != 0:
        run(["umount", "-l", mnt])


class Load:
    """Unique samples of dfull{s=0..SERIES-1}, one batch at a time; acked[s] = {ts: v}."""

    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.t = 1_700_000_000_000
        self.acked = {}

    def batch(self):
        series = []
        for s in range(SERIES):
            samples = [(self.t + i * 1000, self.rng.uniform(-1e6, 1e6)) for i in range(SAMPLES)]
            series.append(([("__name__", "dfull"), ("s", str(s))], samples))
        self.t += SAMPLES * 1000
        return series

    def send(self, a):
        series = self.batch()
        try:
            st, _, body = a.write(rw_body(series))
        except Exception as e:  # the server died or hung up: the checks below catch it
            return None, repr(e).encode()
        if st == 204:
            for labels, samples in series:
                self.acked.setdefault(labels[1][1], {}).update(samples)
        return st, body

    def n_acked(self):
        return sum(len(v) for v in self.acked.values())


def verify(a, acked):
    got = {}
    for line in a.export('{__name__="dfull"}'):
        got.setdefault(line["metric"]["s"], {}).update(zip(line["timestamps"], line["values"]))
    total = missing = wrong = 0
    for s, samples in acked.items():
        have = got.get(s, {})
        for t, v in samples.items():
            total += 1
            if t not in have:
                missing += 1
            elif struct.pack("<d", float(have[t])) != struct.pack("<d", v):
                wrong += 1
    return total, missing, wrong


def log_lines(path, since):
    with open(path, "rb") as f:
        f.seek(since)
        return f.read().splitlines()


def full_lines(path, since):
    return [l for l in log_lines(path, since) if FULL_LINE.search(l)]


def run_test():
    seed = int(os.environ.get("AUSPEX_DISKFULL_SEED", "9"))
    work = tempfile.mkdtemp(prefix="auspex-diskfull-")
    mnt = os.path.join(work, "mnt")
    os.mkdir(mnt)
    mounted = False
    a = None
    fig = {"acked_before": 0, "refused": {}, "resume_s": None, "fs": None}
    try:
        try:
            fig["fs"], _ = mount_small_fs(mnt, work)
            mounted = True
        except RuntimeError as e:
            check(False, str(e))
            return
        filler = os.path.join(mnt, "filler")
        with open(filler, "wb") as f:
            f.write(os.urandom(FILLER_BYTES))   # tmpfs has no holes to cheat with
            f.flush()
            os.fsync(f.fileno())
        data = os.path.join(mnt, "data")
        a = Auspex(data=data, args=["-storage.headMaxSamples=5000", "-storage.flushInterval=1s"])
        log_from = os.path.getsize(a.log_path) if os.path.exists(a.log_path) else 0
        a.start()
        load = Load(seed)

        # 1. fill
        t0 = time.time()
        first_bad = None
        while time.time() - t0 < MAX_FILL_S:
            st, body = load.send(a)
            if st != 204:
                first_bad = (st, body[:200])
                break
        fig["acked_before"] = load.n_acked()
        check(first_bad is not None, "writes fail once the disk is full (after %d samples "
              "acknowledged, %.1f s; first refusal %r)" % (fig["acked_before"], time.time() - t0,
                                                          first_bad))
        if first_bad is None:
            return

        # 2. while full
        codes = {first_bad[0]: 1}
        for _ in range(FULL_PROBES):
            st, _ = load.send(a)
            codes[st] = codes.get(st, 0) + 1
            time.sleep(0.05)
        codes.pop(204, None)  # a write that happened to fit is acknowledged and checked
        fig["refused"] = codes
        check(set(codes) == {503}, "while full, writes are refused with 503 only: %r" % codes)
        check(a.proc.poll() is None, "the server is still running while the disk is full")
        st, _, _ = http("GET", a.url + "/-/ready")
        check(st == 200, "/-/ready answers 200 while full (%s)" % st)
        lines = full_lines(a.log_path, log_from)
        # one line from each part that met the full disk (WAL, LMDB commit) per episode, not
        # one per refused request or retried flush; an episode ends with "available again"
        again = [l for l in log_lines(a.log_path, log_from) if AGAIN_LINE.search(l)]
        check(1 <= len(lines) <= 2 * (1 + len(again)),
              "the log says the disk is full, once per part and episode (%d lines, %d "
              "'available again'): %r" % (len(lines), len(again), lines[:4]))
        st, _, js = api_query(a.url, "/api/v1/query",
                              {"query": 'count_over_time(dfull{s="0"}[100y])',
                               "time": str(load.t / 1000)})
        n0 = len(load.acked.get("0", {}))
        got = float(js["data"]["result"][0]["value"][1]) if st == 200 and js and \
            js["data"]["result"] else None
        check(st == 200 and got is not None and got >= n0,
              "/api/v1/query answers while full: %s, %r samples of dfull{s=\"0\"} (%d acked)"
              % (st, got, n0))
        total, missing, wrong = verify(a, load.acked)
        check(missing == 0 and wrong == 0, "/api/v1/export while full: %d acknowledged samples "
              "exact (%d missing, %d wrong)" % (total, missing, wrong))
        st, _, body = http("GET", a.url + "/metrics")
        check(st == 200 and b"auspex_" in body, "/metrics answers while full (%s)" % st)

        # 3. free the room held back: writes come back by themselves
        os.unlink(filler)
        t_free = time.time()
        resumed = None
        while time.time() - t_free < RESUME_TIMEOUT_S:
            st, _ = load.send(a)
            if st == 204:
                resumed = time.time() - t_free
                break
            time.sleep(0.2)
        fig["resume_s"] = resumed
        check(resumed is not None, "writes get 204 again within %.0f s of freeing space, no "
              "restart (%s)" % (RESUME_TIMEOUT_S, "%.2f s" % resumed if resumed is not None
                                else "never"))
        # and keep working: a head that filled up while flushes failed may still answer 503
        # ("head is full") until the next flush drains it, so each write gets a bounded wait
        later = []
        for _ in range(5):
            deadline = time.time() + RESUME_TIMEOUT_S
            while True:
                st, body = load.send(a)
                if st != 503 or time.time() > deadline:
                    break
                time.sleep(0.2)
            later.append(st)
        check(later == [204] * 5, "writes after resuming: %r (%s)" % (later, body[:200]))
        total, missing, wrong = verify(a, load.acked)
        check(missing == 0 and wrong == 0, "after resuming: %d acknowledged samples exact "
              "(%d missing, %d wrong)" % (total, missing, wrong))

        # 4. restart
        rc = a.stop()
        check(rc == 0, "clean shutdown after the disk-full episode (exit %s)" % rc)
        a.start()
        total, missing, wrong = verify(a, load.acked)
        check(missing == 0 and wrong == 0, "after a restart: %d acknowledged samples exact "
              "(%d missing, %d wrong)" % (total, missing, wrong))
        bad = [l for l in log_lines(a.log_path, log_from) if re.search(rb"corrupt|BUG", l, re.I)]
        check(not bad, "log clean of corrupt/BUG: %r" % bad[:3])
    finally:
        if a is not None:
            a.stop()
        if mounted:
            unmount(mnt)
        still = run(["findmnt", "-n", mnt]).returncode == 0
        check(not still, "%s unmounted" % mnt)
        shutil.rmtree(work, ignore_errors=True)
        print("figures: filesystem %s, samples acknowledged before full %d, refused while full "
              "(status: count) %r, time to resume after freeing space %s"
              % (fig["fs"], fig["acked_before"], fig["refused"],
                 "%.2f s" % fig["resume_s"] if fig["resume_s"] is not None else "-"))
        if FAILURES and a is not None:
            print("server log: %s" % a.log_path)


def main():
    run_test()
    finish()


if __name__ == "__main__":
    main()
