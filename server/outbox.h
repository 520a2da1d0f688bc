/* server/outbox.h: the thread that carries out deliveries recorded in the decision log
 * (server/decisions.h): webhook POSTs (signed, with an idempotency key) and commands.
 *
 * One thread, woken when a decision is recorded or approved and when the next retry is due.
 * A webhook attempt POSTs the stored body with
 *   Content-Type: application/json, Idempotency-Key and X-Auspex-Delivery: <key>,
 *   X-Auspex-Attempt: <n>, and X-Auspex-Signature: sha256=<hex HMAC-SHA256(secret, body)>
 *   when the webhook has secret_env;
 * 2xx: delivered; a transport error, timeout, 408, 429 or 5xx: retried after
 * backoff_ms * 2^(tries-1) (at most 5 minutes) until max_tries; another 4xx: failed at once.
 * A command runs once (no retry) with its rendered argv and timeout; exit 0: delivered.
 * Deliveries work through the log alone, so after a restart the thread resumes them.
 * Threads: srv_outbox_wake from any thread; start/stop from the loop thread.
 */
#ifndef SRV_OUTBOX_H
#define SRV_OUTBOX_H

#include "server/decisions.h"
#include "server/rules.h"

#include <stdatomic.h>

typedef struct srv_outbox srv_outbox;

typedef struct srv_outbox_stats {
    atomic_uint_fast64_t attempts, delivered, failed, retries;
} srv_outbox_stats;

/* rules is borrowed (immutable, outlives the outbox); backoff_ms 0: 1000. */
int srv_outbox_start(srv_dlog *log, const srv_rules *rules, int64_t backoff_ms, srv_outbox **out,
                     ax_err *e);
void srv_outbox_wake(srv_outbox *o);
/* Finish the attempt in progress (bounded by its timeout), then stop. Accepts NULL. */
void srv_outbox_stop(srv_outbox *o);
const srv_outbox_stats *srv_outbox_stats_of(const srv_outbox *o);

#endif
