/* server/outbox.c: the delivery thread (server/outbox.h). */
#include "server/outbox.h"

#include "server/actions.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define OUTBOX_BATCH 64
#define OUTBOX_MAX_BACKOFF_MS (5 * 60 * 1000)
#define OUTBOX_IDLE_MS (60 * 1000) /* look again at least this often (approval expiry) */

struct srv_outbox {
    srv_dlog *log;
    const srv_rules *rules;
    int64_t backoff_ms;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool wake, stop;
    srv_outbox_stats st;
};

static double now_s(void) { return (double)ax_now_ms() / 1000.0; }

static const srv_webhook *webhook_named(const srv_rules *rs, const char *name) {
    for (size_t i = 0; rs && i < rs->n_webhooks; i++)
        if (!strcmp(rs->webhooks[i].name, name)) return &rs->webhooks[i];
    return NULL;
}

static const char *str_of(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double num_of(const cJSON *o, const char *key, double dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

static int64_t backoff(const srv_outbox *o, double tries) {
    double ms = (double)o->backoff_ms * pow(2.0, tries - 1);
    return ms > OUTBOX_MAX_BACKOFF_MS ? OUTBOX_MAX_BACKOFF_MS : (int64_t)ms;
}

/* The attempts return 0, or the log's error when the outcome could not be recorded. */
static int webhook_attempt(srv_outbox *o, const srv_dlv_due *due, cJSON *dlv, const uint8_t *body,
                           size_t len) {
    const char *target = str_of(dlv, "target"), *key = str_of(dlv, "idempotency_key");
    const srv_webhook *w = target ? webhook_named(o->rules, target) : NULL;
    double tries = num_of(dlv, "tries", 0) + 1, max_tries = num_of(dlv, "max_tries", 1);
    srv_dlv_outcome out = {.at = now_s()};
    ax_err e = {0};
    if (!w) {
        out.state = SRV_DLV_FAILED;
        out.error = "the webhook is no longer in the rules file";
        atomic_fetch_add(&o->st.failed, 1);
        return srv_dlog_attempt_end(o->log, due->id, due->action, &out, &e);
    }
    char h_key[128], h_dlv[128], h_att[64], h_sig[96];
    const char *hdrs[4];
    size_t nh = 0;
    snprintf(h_key, sizeof h_key, "Idempotency-Key: %s", key ? key : "");
    snprintf(h_dlv, sizeof h_dlv, "X-Auspex-Delivery: %s", key ? key : "");
    snprintf(h_att, sizeof h_att, "X-Auspex-Attempt: %.0f", tries);
    hdrs[nh++] = h_key;
    hdrs[nh++] = h_dlv;
    hdrs[nh++] = h_att;
    if (w->secret) {
        uint8_t mac[32];
        char hex[65];
        ax_hmac_sha256(w->secret, strlen(w->secret), body, len, mac);
        ax_hex(mac, sizeof mac, hex);
        snprintf(h_sig, sizeof h_sig, "X-Auspex-Signature: sha256=%s", hex);
        hdrs[nh++] = h_sig;
    }
    srv_post_result r;
    uint64_t t0 = ax_mono_ns();
    srv_webhook_post(w->url, (const char *)body, len, hdrs, nh, w->timeout_ms, &r);
    out.duration_s = (double)(ax_mono_ns() - t0) / 1e9;
    out.at = now_s();
    out.status = r.status;
    out.error = r.error;
    out.output = r.body;
    atomic_fetch_add(&o->st.attempts, 1);
    if (r.status >= 200 && r.status < 300) {
        out.state = SRV_DLV_DELIVERED;
        atomic_fetch_add(&o->st.delivered, 1);
    } else if (srv_post_retryable(&r) && tries < max_tries) {
        out.state = SRV_DLV_PENDING;
        out.next_try_at = out.at + (double)backoff(o, tries) / 1000.0;
        atomic_fetch_add(&o->st.retries, 1);
    } else {
        out.state = SRV_DLV_FAILED;
        atomic_fetch_add(&o->st.failed, 1);
    }
    int rc = srv_dlog_attempt_end(o->log, due->id, due->action, &out, &e);
    if (rc) fprintf(stderr, "auspex: outbox: decision %llu: %s\n", (unsigned long long)due->id, e.msg);
    return rc;
}

static int exec_attempt(srv_outbox *o, const srv_dlv_due *due, cJSON *dlv) {
    const cJSON *av = cJSON_GetObjectItemCaseSensitive(dlv, "argv"), *x;
    size_t n = (size_t)cJSON_GetArraySize(av), i = 0;
    char **argv = calloc(n + 1, sizeof *argv);
    srv_dlv_outcome out = {.exec = true, .at = now_s()};
    ax_err e = {0};
    if (!argv) return AX_ENOMEM;
    cJSON_ArrayForEach(x, av) argv[i++] = cJSON_IsString(x) ? x->valuestring : (char *)"";
    argv[i] = NULL;
    int64_t timeout_ms = (int64_t)(num_of(dlv, "timeout_seconds", 60) * 1000);
    srv_exec_result *r = calloc(1, sizeof *r);
    char err[1100] = "";
    uint64_t t0 = ax_mono_ns();
    int rc = r && n ? srv_exec_run(argv, timeout_ms, r, &e) : AX_EINVAL;
    out.duration_s = (double)(ax_mono_ns() - t0) / 1e9;
    out.at = now_s();
    atomic_fetch_add(&o->st.attempts, 1);
    if (rc) {
        snprintf(err, sizeof err, "%s", r && n ? e.msg : "no program to run");
        out.status = -1;
        out.state = SRV_DLV_FAILED;
    } else {
        out.status = r->exit_code;
        out.output = r->output;
        if (r->timed_out) snprintf(err, sizeof err, "killed after the %.0f ms timeout", (double)timeout_ms);
        else if (r->term_signal) snprintf(err, sizeof err, "killed by signal %d", r->term_signal);
        else if (r->exit_code) snprintf(err, sizeof err, "exit status %d", r->exit_code);
        out.state = err[0] ? SRV_DLV_FAILED : SRV_DLV_DELIVERED;
    }
    out.error = err;
    atomic_fetch_add(out.state == SRV_DLV_DELIVERED ? &o->st.delivered : &o->st.failed, 1);
    int erc = srv_dlog_attempt_end(o->log, due->id, due->action, &out, &e);
    if (erc) fprintf(stderr, "auspex: outbox: decision %llu: %s\n", (unsigned long long)due->id, e.msg);
    free(r);
    free(argv);
    return erc;
}

static void *outbox_main(void *arg) {
    srv_outbox *o = arg;
    srv_dlv_due due[OUTBOX_BATCH];
    for (;;) {
        pthread_mutex_lock(&o->mu);
        bool stop = o->stop;
        o->wake = false;
        pthread_mutex_unlock(&o->mu);
        if (stop) break;
        size_t n = 0;
        double next_at = INFINITY;
        if (srv_dlog_due(o->log, now_s(), due, OUTBOX_BATCH, &n, &next_at))
            fprintf(stderr, "auspex: outbox: cannot read the decision log\n");
        for (size_t i = 0; i < n; i++) {
            pthread_mutex_lock(&o->mu);
            stop = o->stop;
            pthread_mutex_unlock(&o->mu);
            if (stop) break;
            cJSON *rec = NULL, *dlv = NULL;
            uint8_t *body = NULL;
            size_t len = 0;
            int brc = srv_dlog_attempt_begin(o->log, due[i].id, due[i].action, now_s(), &rec, &dlv, &body, &len);
            if (brc == AX_EINVAL) continue; /* no longer pending (approved/rejected meanwhile) */
            if (brc) {
                /* unreadable (a lost body): fail it rather than find it due again forever */
                srv_dlv_outcome out = {.state = SRV_DLV_FAILED, .at = now_s(), .error = ax_strerror(brc)};
                ax_err e = {0};
                if (srv_dlog_attempt_end(o->log, due[i].id, due[i].action, &out, &e)) {
                    fprintf(stderr, "auspex: outbox: decision %llu: %s\n", (unsigned long long)due[i].id, e.msg);
                    n = 0; /* the log is failing: wait before looking again */
                    break;
                }
                atomic_fetch_add(&o->st.failed, 1);
                continue;
            }
            const char *kind = str_of(dlv, "kind");
            int arc = kind && !strcmp(kind, "exec") ? exec_attempt(o, &due[i], dlv)
                                                    : webhook_attempt(o, &due[i], dlv, body, len);
            free(body);
            cJSON_Delete(rec);
            if (arc) { /* the outcome is not recorded: never retry in a tight loop */
                n = 0;
                next_at = now_s() + OUTBOX_IDLE_MS / 1000.0;
                break;
            }
        }
        if (n == OUTBOX_BATCH) continue; /* more may be due */
        pthread_mutex_lock(&o->mu);
        if (!o->stop && !o->wake) {
            double wait_s = next_at - now_s();
            if (n) wait_s = 0; /* just worked: look again for what became due meanwhile */
            if (!(wait_s < OUTBOX_IDLE_MS / 1000.0)) wait_s = OUTBOX_IDLE_MS / 1000.0;
            if (wait_s > 0) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                double end = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 + wait_s;
                ts.tv_sec = (time_t)end;
                ts.tv_nsec = (long)((end - (double)ts.tv_sec) * 1e9);
                pthread_cond_timedwait(&o->cv, &o->mu, &ts);
            }
        }
        pthread_mutex_unlock(&o->mu);
    }
    return NULL;
}

int srv_outbox_start(srv_dlog *log, const srv_rules *rules, int64_t backoff_ms, srv_outbox **out,
                     ax_err *e) {
    srv_outbox *o = calloc(1, sizeof *o);
    if (!o) return AX_ENOMEM;
    o->log = log;
    o->rules = rules;
    o->backoff_ms = backoff_ms > 0 ? backoff_ms : 1000;
    pthread_mutex_init(&o->mu, NULL);
    pthread_cond_init(&o->cv, NULL);
    if (pthread_create(&o->th, NULL, outbox_main, o)) {
        pthread_mutex_destroy(&o->mu);
        pthread_cond_destroy(&o->cv);
        free(o);
        return ax_err_set(e, AX_EIO, "cannot start the outbox thread");
    }
    *out = o;
    return 0;
}

void srv_outbox_wake(srv_outbox *o) {
    if (!o) return;
    pthread_mutex_lock(&o->mu);
    o->wake = true;
    pthread_cond_signal(&o->cv);
    pthread_mutex_unlock(&o->mu);
}

void srv_outbox_stop(srv_outbox *o) {
    if (!o) return;
    pthread_mutex_lock(&o->mu);
    o->stop = true;
    pthread_cond_signal(&o->cv);
    pthread_mutex_unlock(&o->mu);
    pthread_join(o->th, NULL);
    pthread_mutex_destroy(&o->mu);
    pthread_cond_destroy(&o->cv);
    free(o);
}

const srv_outbox_stats *srv_outbox_stats_of(const srv_outbox *o) { return &o->st; }
