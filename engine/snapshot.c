/* engine/snapshot.c: a consistent copy of the store while writes go on (docs/snapshots.md).
 *
 * An acknowledged sample is in the head and the WAL, not necessarily in LMDB, and the WAL is
 * not copied. So:
 *   1. eng_flush: every batch whose eng_write returned before this call is in the head and
 *      on the dirty list; the flush that eng_flush waits for starts after the call (it
 *      waits for a flush generation newer than any running one), takes that list and
 *      commits it to LMDB.
 *   2. stor_env_copy: one LMDB read txn begun after that commit, written out compacted.
 * Invariant: the copy holds every sample acknowledged before eng_snapshot was called. It may
 * also hold later ones (flushes keep running during the copy), and its meta "wal_flushed"
 * may name segments the copy has no WAL for: harmless, eng_open on the copy finds an empty
 * wal/ and starts a new segment after it.
 */
#include "engine/engine_int.h"

int eng_snapshot(eng *e, const char *dir, ax_err *err) {
    if (!e || !dir || !*dir) return ax_err_set(err, AX_EINVAL, "snapshot: no folder");
    int rc = eng_flush(e);
    if (rc) return ax_err_set(err, rc, "snapshot: flushing the head failed: %s", ax_strerror(rc));
    return stor_env_copy(e->stor, dir, err);
}
