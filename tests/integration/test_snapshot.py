"""Snapshots (docs/snapshots.md): /snapshot/create|list|delete|delete_all and Prometheus'
/api/v1/admin/tsdb/snapshot.

Writer threads remote-write continuously; each batch answered 204 records its samples as
acknowledged. In the middle, the acknowledged set is frozen and /snapshot/create called;
then the load goes on for a while and stops. A second auspex started on the snapshot
folder must export every sample acknowledged before the create call, value for value (and
nothing newer than the create's reply). The first server keeps answering and keeps
everything. Then list/delete/delete_all, bad names (400/404) and the Prometheus route.
"""
import json
import os
import re
import struct
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Auspex, check, finish, http, rw_body, wait_until  # noqa: E402

WRITERS = 3
SERIES_PER_BATCH = 30
SAMPLES_PER_SERIES = 4
NAME_RE = re.compile(r"^[0-9]{14}-[0-9A-F]{16}$")
# a rule that never acts (every: 24h): only there so the decision log is open
RULES = ("rules:\n  - name: snap-rule\n    expr: 'max(no_such_metric)'\n    scale_up_at: 50\n"
         "    every: 24h\n    capacity: {current: 2, max: 10, target_per_unit: 40}\n")


class Writer(threading.Thread):
    def __init__(self, url, wid, t0):
        super().__init__(daemon=True)
        self.url, self.wid, self.t = url, wid, t0
        self.lock = threading.Lock()
        self.acked = {}   # series index -> {ts: value}
        self.n_acked = 0
        self.stop = False
        self.errors = []

    def frozen(self):
        with self.lock:
            return {k: dict(v) for k, v in self.acked.items()}

    def run(self):
        while not self.stop:
            series = []
            for s in range(SERIES_PER_BATCH):
                labels = [("__name__", "snapload"), ("writer", str(self.wid)), ("s", str(s))]
                samples = [(self.t + i * 1000, self.wid * 1e6 + s * 1e3 + ((self.t // 1000 + i) % 991) + 0.5)
                           for i in range(SAMPLES_PER_SERIES)]
                series.append((labels, samples))
            st, _, body = http("POST", self.url + "/api/v1/write", rw_body(series),
                               {"Content-Encoding": "snappy"}, timeout=30)
            if st == 204:
                with self.lock:
                    for s, (_, samples) in enumerate(series):
                        self.acked.setdefault(s, {}).update(dict(samples))
                    self.n_acked += 1
            else:
                self.errors.append((st, body[:200]))
            self.t += SAMPLES_PER_SERIES * 1000


def exported(a):
    got = {}
    for line in a.export('{__name__="snapload"}'):
        key = (int(line["metric"]["writer"]), int(line["metric"]["s"]))
        got[key] = dict(zip(line["timestamps"], line["values"]))
    return got


def compare(got, acked, what):
    total = missing = wrong = 0
    for wid, per in enumerate(acked):
        for s, samples in per.items():
            have = got.get((wid, s), {})
            for t, v in samples.items():
                total += 1
                if t not in have:
                    missing += 1
                elif struct.pack("<d", float(have[t])) != struct.pack("<d", v):
                    wrong += 1
    check(total > 0 and missing == 0 and wrong == 0,
          "%s: %d acknowledged samples all present (%d missing, %d wrong)" % (what, total, missing, wrong))


def jget(url, method="GET"):
    st, _, body = http(method, url)
    try:
        return st, json.loads(body)
    except ValueError:
        return st, None


def snapshot_under_load(a, rules_path):
    # recent timestamps (a day back, whole seconds), well inside any retention period
    t0 = (int(time.time()) - 86400) * 1000
    writers = [Writer(a.url, w, t0 + w * 3 * 3600 * 1000) for w in range(WRITERS)]
    for w in writers:
        w.start()
    wait_until(lambda: all(w.n_acked >= 20 for w in writers), timeout=60, what="writes acknowledged")
    before = [w.frozen() for w in writers]   # acknowledged before the create call
    st, doc = jget(a.url + "/snapshot/create", "POST")
    after_t = [w.t for w in writers]         # each writer's batch in flight starts here
    check(st == 200 and doc and doc.get("status") == "ok" and NAME_RE.match(doc.get("snapshot", "")),
          "POST /snapshot/create under load: 200 ok with a VM-style name (%d %r)" % (st, doc))
    name = (doc or {}).get("snapshot", "")
    n0 = [w.n_acked for w in writers]
    wait_until(lambda: all(w.n_acked >= n + 10 for w, n in zip(writers, n0)), timeout=60,
               what="writes go on after the snapshot")
    for w in writers:
        w.stop = True
    for w in writers:
        w.join(30)
        check(not w.errors, "writer %d: every write acknowledged (%r)" % (w.wid, w.errors[:2]))
    allacked = [w.frozen() for w in writers]

    snapdir = os.path.join(a.data, "snapshots", name)
    check(os.path.isfile(os.path.join(snapdir, "data.mdb")), "snapshot folder holds data.mdb")
    check(os.path.isfile(os.path.join(snapdir, "decisions", "data.mdb")),
          "snapshot folder holds the decision log (decisions/data.mdb)")
    check(not any(n.endswith(".tmp") for n in os.listdir(os.path.join(a.data, "snapshots"))),
          "no .tmp folder left after create")

    # a second server on the snapshot folder serves the data as of the create call
    b = Auspex(data=snapdir, args=["-rules=" + rules_path], keep_data=True)
    try:
        b.start()
        got = exported(b)
        compare(got, before, "second auspex on the snapshot")
        # batches sent after the create's reply (from each writer's next batch on) are not in it
        late = sum(1 for (wid, _), per in got.items() for t in per
                   if t >= after_t[wid] + SAMPLES_PER_SERIES * 1000)
        check(late == 0, "snapshot holds nothing sent after the create call returned (%d)" % late)
        st, doc = jget(b.url + "/api/v1/series?match[]=snapload&start=1600000000")
        n = len((doc or {}).get("data") or [])
        check(st == 200 and n == WRITERS * SERIES_PER_BATCH,
              "/api/v1/series on the snapshot: %d series (%d %d)" % (WRITERS * SERIES_PER_BATCH, st, n))
        st, _ = jget(b.url + "/api/v1/decisions")
        check(st == 200, "decision log of the snapshot opens (%d)" % st)
        st, doc = jget(b.url + "/snapshot/list")
        check(st == 200 and doc == {"status": "ok", "snapshots": []},
              "the snapshot has no snapshots of its own (%r)" % doc)
    finally:
        b.stop()

    # the first server still answers and still has everything
    check(http("GET", a.url + "/-/ready")[0] == 200, "first server still ready")
    compare(exported(a), allacked, "first server after the snapshot")
    return name


def routes(a, first):
    st, doc = jget(a.url + "/api/v1/admin/tsdb/snapshot", "POST")
    pname = ((doc or {}).get("data") or {}).get("name", "")
    check(st == 200 and doc.get("status") == "success" and NAME_RE.match(pname),
          "POST /api/v1/admin/tsdb/snapshot: success with a name (%d %r)" % (st, doc))
    st, _ = jget(a.url + "/api/v1/admin/tsdb/snapshot", "GET")
    check(st == 405, "GET on Prometheus' snapshot route: 405 (%d)" % st)
    st, doc = jget(a.url + "/snapshot/create", "GET")
    gname = (doc or {}).get("snapshot", "")
    check(st == 200 and NAME_RE.match(gname), "GET /snapshot/create works too (%d %r)" % (st, doc))

    names = sorted([first, pname, gname])
    st, doc = jget(a.url + "/snapshot/list")
    check(st == 200 and doc == {"status": "ok", "snapshots": names},
          "list: the three snapshots, sorted (%r)" % doc)

    # a crash leftover (.tmp) is never listed
    snaps = os.path.join(a.data, "snapshots")
    leftover = os.path.join(snaps, "20200101000000-0000000000000000.tmp")
    os.makedirs(os.path.join(leftover, "sub"))
    st, doc = jget(a.url + "/snapshot/list")
    check(doc == {"status": "ok", "snapshots": names}, "list ignores .tmp folders (%r)" % doc)

    st, doc = jget(a.url + "/snapshot/delete?snapshot=" + pname, "POST")
    check(st == 200 and doc == {"status": "ok"}, "delete: 200 ok (%d %r)" % (st, doc))
    check(not os.path.exists(os.path.join(snaps, pname)), "deleted snapshot folder is gone")
    st, doc = jget(a.url + "/snapshot/list")
    check(doc == {"status": "ok", "snapshots": sorted([first, gname])}, "list after delete (%r)" % doc)

    for q, want in [("snapshot=" + pname, 404), ("snapshot=doesnotexist", 404),
                    ("snapshot=20200101000000-0000000000000000.tmp", 404),
                    ("snapshot=..", 400), ("snapshot=../" + first, 400), ("snapshot=a/b", 400),
                    ("snapshot=%2Fetc", 400), ("", 400), ("snapshot=", 400)]:
        st, doc = jget(a.url + "/snapshot/delete?" + q, "GET")
        check(st == want and doc and doc.get("status") == "error" and isinstance(doc.get("msg"), str)
              and doc["msg"], "delete?%s: %d with {status:error,msg} (%d %r)" % (q, want, st, doc))
    check(os.path.isdir(os.path.join(snaps, first)), "bad deletes removed nothing")

    st, doc = jget(a.url + "/snapshot/delete_all", "POST")
    check(st == 200 and doc == {"status": "ok"}, "delete_all: 200 ok (%d %r)" % (st, doc))
    st, doc = jget(a.url + "/snapshot/list")
    check(doc == {"status": "ok", "snapshots": []}, "list after delete_all is empty (%r)" % doc)
    check(os.listdir(snaps) == [], "delete_all removed the .tmp leftover too (%r)" % os.listdir(snaps))
    st, doc = jget(a.url + "/snapshot/delete_all", "GET")
    check(st == 200 and doc == {"status": "ok"}, "delete_all with nothing to delete: 200 ok")
    st, _, _ = http("HEAD", a.url + "/snapshot/create")
    check(st == 405 and os.listdir(snaps) == [], "HEAD /snapshot/create: 405, nothing created (%d)" % st)
    check(http("GET", a.url + "/-/ready")[0] == 200, "server answers after the bad requests")


def main():
    tmp = tempfile.mkdtemp(prefix="auspex-snap-it-")
    rules_path = os.path.join(tmp, "rules.yml")
    with open(rules_path, "w") as f:
        f.write(RULES)
    # a small head: flushes into LMDB happen during the load, and around the snapshot
    a = Auspex(args=["-storage.headMaxSamples=5000", "-rules=" + rules_path])
    try:
        a.start()
        first = snapshot_under_load(a, rules_path)
        routes(a, first)
        # the engine ignores snapshots/ in its folder: a restart with one present is fine
        st, doc = jget(a.url + "/snapshot/create", "POST")
        check(st == 200, "one more snapshot before the restart")
        a.stop()
        a.start()
        st, doc2 = jget(a.url + "/snapshot/list")
        check(doc2 == {"status": "ok", "snapshots": [doc["snapshot"]]},
              "after a restart the snapshot is still listed (%r)" % doc2)
        check(len(exported(a)) == WRITERS * SERIES_PER_BATCH, "restarted server has every series")
    finally:
        a.cleanup()
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
