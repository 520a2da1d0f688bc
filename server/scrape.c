/* server/scrape.c: scrape loops for -promscrape.config on the libuv loop (see scrape.h).
 *
 * Per target:
 *   IDLE -(tick)-> FETCHING (easy handle in the multi; the body grows in g->body, capped)
 *   FETCHING -(curl done)-> WRITING (work item: parse, relabel, staleness, eng_write)
 *   WRITING -(after)-> IDLE.   A tick that finds the target not IDLE is skipped.
 * Invariant 1: at most one transfer or work item per target, so the work item owns the
 *   target's state (body, previous series set) while it runs.
 * Invariant 2: everything of one scrape (samples, stale markers, report series) goes in
 *   one eng_write: it is stored whole or not at all.
 * curl is driven by the loop: CURLMOPT_SOCKETFUNCTION starts/stops a uv_poll per socket,
 * CURLMOPT_TIMERFUNCTION arms one uv_timer; both call curl_multi_socket_action and then
 * collect finished transfers. The loop thread never parses or writes.
 */
#include "server/scrape.h"
#include "server/metadata.h"
#include "server/relabel.h"
#include "server/text_import.h"

#include <curl/curl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_MAX_SCRAPE (16u << 20)
#define MAX_LBL (AX_MAX_LABELS + 8)

typedef struct tgt {
    struct srv_scrape *s;
    const srv_scrape_target *t;
    uv_timer_t timer;
    uv_work_t work;
    CURL *easy;
    struct curl_slist *headers;
    char *auth_header;
    ax_buf body;
    bool busy, too_big;
    int64_t ts;       /* wall time of the scrape's start, ms: every sample's time */
    uint64_t t0_ns;
    double duration;  /* seconds, set when the transfer ends */
    CURLcode cres;
    long status;
    char curl_err[CURL_ERROR_SIZE];
    /* canonical label bytes of the series the last written scrape held (each as u32 len
     * + bytes), for staleness; touched only by the work item */
    ax_buf prev;
    size_t n_prev;
    /* last outcome, for logs and /metrics */
    atomic_int health;   /* -1 unknown, 0 down, 1 up */
    char last_err[320];  /* the work item's own copy, for logging changes */
    /* the last outcome for /api/v1/targets, under s->status_mu */
    char status_err[320];
    int64_t status_ts;
    double status_duration;
} tgt;

struct srv_scrape {
    srv_app *app;
    srv_scrape_config *cfg;
    srv_scrape_target *targets;
    size_t n;
    tgt *tg;
    CURLM *multi;
    uv_timer_t curl_timer;
    size_t max_scrape_bytes;
    int closing;        /* handles still to be closed before s is freed */
    int in_work;        /* work items in flight */
    bool stopping;
    struct sock_ctx *socks;
    pthread_mutex_t status_mu;
    atomic_uint_fast64_t scrapes, failures, samples;
};

typedef struct sock_ctx {
    uv_poll_t poll;
    curl_socket_t fd;
    struct srv_scrape *s;
    struct sock_ctx *prev, *next; /* s->socks: every poll still open */
} sock_ctx;

static void maybe_free(srv_scrape *s);
static void check_done(srv_scrape *s);

/* ---- curl on the loop ---- */

static void poll_cb(uv_poll_t *h, int status, int events) {
    sock_ctx *c = h->data;
    int flags = 0;
    if (status < 0) flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
    int running = 0;
    srv_scrape *s = c->s;
    curl_multi_socket_action(s->multi, c->fd, flags, &running);
    check_done(s);
}

static void sock_closed(uv_handle_t *h) { free(h->data); }

static void sock_close(sock_ctx *c) {
    srv_scrape *s = c->s;
    if (c->prev) c->prev->next = c->next;
    else s->socks = c->next;
    if (c->next) c->next->prev = c->prev;
    uv_poll_stop(&c->poll);
    uv_close((uv_handle_t *)&c->poll, sock_closed);
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
    srv_scrape *s = userp;
    sock_ctx *c = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (c) {
            sock_close(c);
            curl_multi_assign(s->multi, fd, NULL);
        }
        return 0;
    }
    if (!c) {
        c = calloc(1, sizeof *c);
        if (!c) return -1;
        c->fd = fd;
        c->s = s;
        if (uv_poll_init_socket(s->app->loop, &c->poll, fd)) {
            free(c);
            return -1;
        }
        c->poll.data = c;
        c->next = s->socks;
        if (s->socks) s->socks->prev = c;
        s->socks = c;
        curl_multi_assign(s->multi, fd, c);
    }
    int ev = ((what & CURL_POLL_IN) ? UV_READABLE : 0) | ((what & CURL_POLL_OUT) ? UV_WRITABLE : 0);
    uv_poll_start(&c->poll, ev, poll_cb);
    return 0;
}

static void curl_timeout_cb(uv_timer_t *h) {
    srv_scrape *s = h->data;
    int running = 0;
    curl_multi_socket_action(s->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(s);
}

static int timer_cb(CURLM *m, long timeout_ms, void *userp) {
    srv_scrape *s = userp;
    if (timeout_ms < 0) uv_timer_stop(&s->curl_timer);
    else uv_timer_start(&s->curl_timer, curl_timeout_cb, (uint64_t)timeout_ms, 0);
    return 0;
}

static size_t body_cb(char *p, size_t size, size_t nmemb, void *userp) {
    tgt *g = userp;
    size_t len = size * nmemb;
    if (ax_buf_append(&g->body, p, len)) {
        g->too_big = true;
        return 0; /* aborts the transfer (CURLE_WRITE_ERROR) */
    }
    return len;
}

/* ---- the work item: parse, label, relabel, staleness, write ---- */

typedef struct batch {
    eng_ts *ts;
    size_t n, cap;
    ax_arena *a;
} batch;

static int batch_add(batch *b, ax_label *ls, size_t nl, int64_t ts, double v) {
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        eng_ts *n = ax_arena_alloc(b->a, cap * sizeof *n);
        if (!n) return AX_ETOOBIG;
        if (b->n) memcpy(n, b->ts, b->n * sizeof *n);
        b->ts = n;
        b->cap = cap;
    }
    eng_sample *sm = ax_arena_alloc(b->a, sizeof *sm);
    ax_label *l = ax_arena_dup(b->a, ls, nl * sizeof *ls);
    if (!sm || (nl && !l)) return AX_ETOOBIG;
    sm->ts = ts;
    sm->v = v;
    b->ts[b->n++] = (eng_ts){l, nl, sm, 1};
    return 0;
}

static bool has_label(const ax_label *ls, size_t n, const char *name, size_t len) {
    for (size_t i = 0; i < n; i++)
        if (ls[i].name_len == len && !memcmp(ls[i].name, name, len)) return true;
    return false;
}

/* Merge the target labels into a scraped label set as Prometheus' mutateSampleLabels:
 * on a clash the scraped label wins (honor_labels) or is renamed exported_<name> (again
 * while that name is taken). OUT: *n grows. Returns 0 or AX_ELIMIT / AX_ETOOBIG. */
static int merge_target(ax_label *ls, size_t *n, const srv_scrape_target *t, bool honor,
                        ax_arena *a) {
    size_t n0 = *n;
    for (size_t i = 0; i < t->n_labels; i++) {
        const ax_label *tl = &t->labels[i];
        size_t j = 0;
        while (j < n0 && !(ls[j].name_len == tl->name_len && !memcmp(ls[j].name, tl->name, tl->name_len)))
            j++;
        if (j < n0) {
            if (honor) continue;
            /* rename the scraped one */
            const char *nm = ls[j].name;
            size_t nl = ls[j].name_len;
            do {
                char *x = ax_arena_alloc(a, nl + 10);
                if (!x) return AX_ETOOBIG;
                memcpy(x, "exported_", 9);
                memcpy(x + 9, nm, nl);
                nm = x;
                nl += 9;
            } while (has_label(ls, *n, nm, nl) || has_label(t->labels, t->n_labels, nm, nl));
            ls[j].name = nm;
            ls[j].name_len = (uint32_t)nl;
        }
        if (*n >= MAX_LBL) return AX_ELIMIT;
        ls[(*n)++] = *tl;
    }
    return 0;
}

static int add_external(ax_label *ls, size_t *n, const srv_scrape_config *c) {
    for (size_t i = 0; i < c->n_external; i++) {
        const ax_label *x = &c->external_labels[i];
        if (has_label(ls, *n, x->name, x->name_len)) continue;
        if (*n >= MAX_LBL) return AX_ELIMIT;
        ls[(*n)++] = *x;
    }
    return 0;
}

/* A set of canonical label byte strings (u32 len + bytes each, in buf) with a hash index. */
typedef struct lset {
    const uint8_t **key;   /* open addressing, NULL = empty */
    uint32_t *klen;
    size_t mask;
} lset;

static int lset_build(lset *s, const ax_buf *buf, size_t n, ax_arena *a) {
    size_t cap = 16;
    while (cap < n * 2) cap <<= 1;
    s->key = ax_arena_alloc(a, cap * sizeof *s->key);
    s->klen = ax_arena_alloc(a, cap * sizeof *s->klen);
    if (!s->key || !s->klen) return AX_ETOOBIG;
    memset(s->key, 0, cap * sizeof *s->key);
    s->mask = cap - 1;
    const uint8_t *p = buf->data, *end = buf->data + buf->len;
    while (p < end) {
        uint32_t len = ax_get_u32le(p);
        p += 4;
        size_t h = (size_t)ax_hash(p, len, 7) & s->mask;
        while (s->key[h]) h = (h + 1) & s->mask;
        s->key[h] = p;
        s->klen[h] = len;
        p += len;
    }
    return 0;
}

static bool lset_has(const lset *s, const uint8_t *p, uint32_t len) {
    size_t h = (size_t)ax_hash(p, len, 7) & s->mask;
    while (s->key[h]) {
        if (s->klen[h] == len && !memcmp(s->key[h], p, len)) return true;
        h = (h + 1) & s->mask;
    }
    return false;
}

typedef struct outcome {
    bool ok;
    size_t scraped, post_relabel, added;
    char err[320];
} outcome;

static double stale_nan(void) {
    uint64_t bits = SRV_STALE_NAN_BITS;
    double v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

/* Build the scrape's series into b: samples (when ok), the canonical bytes of the
 * staleness-tracked ones into cur. Fills o. Returns 0, or an arena error (fatal for the
 * scrape). A fault of the scrape itself (parse error, sample limit) sets o->ok = false
 * and returns 0 with nothing added. */
static int build_samples(tgt *g, batch *b, ax_buf *cur, size_t *n_cur, outcome *o) {
    const srv_scrape_job *job = g->t->job;
    const srv_scrape_config *cfg = g->s->cfg;
    ax_err pe = {0};
    eng_ts *ps = NULL;
    size_t np = 0, nsamples = 0;
    int rc = srv_text_parse((const char *)g->body.data, g->body.len, INT64_MIN, NULL, 0, b->a, &ps,
                            &np, &nsamples, &pe);
    if (rc) {
        o->ok = false;
        snprintf(o->err, sizeof o->err, "parsing the response: %.280s", pe.msg[0] ? pe.msg : ax_strerror(rc));
        return 0;
    }
    o->scraped = np;
    ax_buf enc;
    ax_buf_init(&enc, 1u << 20);
    for (size_t i = 0; i < np; i++) {
        ax_label ls[MAX_LBL];
        size_t nl = ps[i].n_labels;
        if (nl > AX_MAX_LABELS) continue;
        memcpy(ls, ps[i].labels, nl * sizeof *ls);
        if (merge_target(ls, &nl, g->t, job->honor_labels, b->a)) continue;
        if (job->n_metric_relabel) {
            rc = srv_relabel_apply(job->metric_relabel, job->n_metric_relabel, ls, &nl, MAX_LBL, b->a);
            if (rc < 0) continue;
            if (rc == 0) continue; /* dropped */
        }
        if (add_external(ls, &nl, cfg)) continue;
        size_t kept = 0;
        if (ax_labels_normalize(ls, nl, &kept, NULL)) continue; /* invalid after relabeling */
        int64_t sts = ps[i].samples[0].ts;
        bool explicit_ts = sts != INT64_MIN;
        if (!explicit_ts || !job->honor_timestamps) sts = g->ts;
        if ((rc = batch_add(b, ls, kept, sts, ps[i].samples[0].v))) goto out;
        o->post_relabel++;
        if (explicit_ts && job->honor_timestamps) continue; /* not tracked for staleness */
        ax_buf_reset(&enc);
        if ((rc = ax_labels_encode(&enc, ls, kept))) goto out;
        uint8_t hdr[4];
        ax_put_u32le(hdr, (uint32_t)enc.len);
        if ((rc = ax_buf_append(cur, hdr, 4)) || (rc = ax_buf_append(cur, enc.data, enc.len))) goto out;
        (*n_cur)++;
    }
    if (job->sample_limit && o->post_relabel > job->sample_limit) {
        o->ok = false;
        snprintf(o->err, sizeof o->err, "sample_limit exceeded: %zu samples, limit %zu",
                 o->post_relabel, job->sample_limit);
        b->n = 0;
        ax_buf_reset(cur);
        *n_cur = 0;
    }
out:
    ax_buf_free(&enc);
    return rc;
}

static int add_report(tgt *g, batch *b, const char *name, double v) {
    ax_label ls[MAX_LBL];
    size_t nl = 0;
    ls[nl++] = (ax_label){"__name__", name, 8, (uint32_t)strlen(name)};
    int rc = merge_target(ls, &nl, g->t, false, b->a);
    if (!rc) rc = add_external(ls, &nl, g->s->cfg);
    size_t kept = 0;
    if (!rc) rc = ax_labels_normalize(ls, nl, &kept, NULL);
    if (!rc) rc = batch_add(b, ls, kept, g->ts, v);
    return rc;
}

static void scrape_work(uv_work_t *w) {
    tgt *g = w->data;
    srv_scrape *s = g->s;
    outcome o = {.ok = true};
    if (g->too_big)
        snprintf(o.err, sizeof o.err, "response body exceeds -promscrape.maxScrapeSize=%zu bytes",
                 s->max_scrape_bytes);
    else if (g->cres != CURLE_OK)
        snprintf(o.err, sizeof o.err, "%s", g->curl_err[0] ? g->curl_err : curl_easy_strerror(g->cres));
    else if (g->status < 200 || g->status > 299)
        snprintf(o.err, sizeof o.err, "server returned HTTP status %ld", g->status);
    o.ok = o.err[0] == 0;

    ax_arena a;
    ax_arena_init(&a, s->max_scrape_bytes * 8 + (64u << 20));
    batch b = {.a = &a};
    ax_buf cur;
    ax_buf_init(&cur, (size_t)1 << 34);
    size_t n_cur = 0;
    int rc = 0;
    if (o.ok) rc = build_samples(g, &b, &cur, &n_cur, &o);
    if (rc) {
        o.ok = false;
        snprintf(o.err, sizeof o.err, "response too large to process: %s", ax_strerror(rc));
        b.n = 0;
        ax_buf_reset(&cur);
        n_cur = 0;
        rc = 0;
    }
    /* staleness: every series of the last written scrape that this one lacks */
    lset now;
    if (!rc) rc = lset_build(&now, &cur, n_cur, &a);
    const uint8_t *p = g->prev.data, *end = g->prev.data + g->prev.len;
    while (!rc && p < end) {
        uint32_t len = ax_get_u32le(p);
        p += 4;
        if (lset_has(&now, p, len)) {
            p += len;
            continue;
        }
        ax_label ls[MAX_LBL];
        size_t nl = 0;
        if (!ax_labels_decode(p, len, ls, MAX_LBL, &nl)) rc = batch_add(&b, ls, nl, g->ts, stale_nan());
        p += len;
    }
    /* scrape_series_added: tracked series that the last scrape did not have */
    if (!rc && o.ok) {
        lset before;
        rc = lset_build(&before, &g->prev, g->n_prev, &a);
        const uint8_t *q = cur.data, *qe = cur.data + cur.len;
        while (!rc && q < qe) {
            uint32_t len = ax_get_u32le(q);
            q += 4;
            if (!lset_has(&before, q, len)) o.added++;
            q += len;
        }
    }
    if (!rc) rc = add_report(g, &b, "up", o.ok ? 1 : 0);
    if (!rc) rc = add_report(g, &b, "scrape_duration_seconds", g->duration);
    if (!rc) rc = add_report(g, &b, "scrape_samples_scraped", (double)o.scraped);
    if (!rc) rc = add_report(g, &b, "scrape_samples_post_metric_relabeling", (double)o.post_relabel);
    if (!rc) rc = add_report(g, &b, "scrape_series_added", (double)o.added);
    ax_err we = {0};
    if (!rc) rc = srv_store(s->app, b.ts, b.n, &we);
    if (!rc) {
        /* written: this scrape's series are the ones to watch for staleness next time */
        ax_buf t = g->prev;
        g->prev = cur;
        cur = t;
        g->n_prev = n_cur;
        atomic_fetch_add(&s->samples, o.post_relabel);
        if (o.ok) srv_meta_observe(s->app->meta, (const char *)g->body.data, g->body.len);
    } else {
        if (o.ok) snprintf(o.err, sizeof o.err, "storing the samples: %.280s", we.msg[0] ? we.msg : ax_strerror(rc));
        o.ok = false;
    }
    atomic_fetch_add(&s->scrapes, 1);
    if (!o.ok) atomic_fetch_add(&s->failures, 1);
    int was = atomic_exchange(&g->health, o.ok ? 1 : 0);
    if (!o.ok && strcmp(o.err, g->last_err) != 0)
        fprintf(stderr, "auspex: scrape %s (job %s) failed: %s\n", g->t->url, g->t->job->job_name, o.err);
    else if (o.ok && was == 0)
        fprintf(stderr, "auspex: scrape %s (job %s) is up again\n", g->t->url, g->t->job->job_name);
    snprintf(g->last_err, sizeof g->last_err, "%s", o.ok ? "" : o.err);
    pthread_mutex_lock(&s->status_mu);
    memcpy(g->status_err, g->last_err, sizeof g->status_err);
    g->status_ts = g->ts;
    g->status_duration = g->duration;
    pthread_mutex_unlock(&s->status_mu);
    ax_buf_free(&cur);
    ax_arena_clear(&a);
}

static void scrape_after(uv_work_t *w, int status) {
    tgt *g = w->data;
    srv_scrape *s = g->s;
    s->in_work--;
    g->busy = false;
    ax_buf_free(&g->body);
    if (s->stopping) maybe_free(s);
}

/* ---- finished transfers ---- */

static void check_done(srv_scrape *s) {
    CURLMsg *m;
    int left = 0;
    while ((m = curl_multi_info_read(s->multi, &left))) {
        if (m->msg != CURLMSG_DONE) continue;
        tgt *g = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&g);
        g->cres = m->data.result;
        g->status = 0;
        curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &g->status);
        curl_multi_remove_handle(s->multi, m->easy_handle);
        g->duration = (double)(ax_mono_ns() - g->t0_ns) / 1e9;
        if (s->stopping) {
            g->busy = false;
            ax_buf_free(&g->body);
            continue;
        }
        g->work.data = g;
        if (uv_queue_work(s->app->loop, &g->work, scrape_work, scrape_after)) {
            g->busy = false;
            ax_buf_free(&g->body);
            continue;
        }
        s->in_work++;
    }
}

/* ---- ticks ---- */

static void tick_cb(uv_timer_t *h) {
    tgt *g = h->data;
    srv_scrape *s = g->s;
    if (g->busy || s->stopping) return;
    g->busy = true;
    g->too_big = false;
    g->curl_err[0] = 0;
    ax_buf_init(&g->body, s->max_scrape_bytes);
    g->ts = ax_now_ms();
    g->t0_ns = ax_mono_ns();
    if (curl_multi_add_handle(s->multi, g->easy) != CURLM_OK) {
        g->busy = false;
        return;
    }
}

static int easy_setup(srv_scrape *s, tgt *g, ax_err *e) {
    const srv_scrape_target *t = g->t;
    const srv_scrape_job *job = t->job;
    g->easy = curl_easy_init();
    if (!g->easy) return ax_err_set(e, AX_ENOMEM, "curl_easy_init failed");
    CURL *c = g->easy;
    char tmo[64];
    snprintf(tmo, sizeof tmo, "X-Prometheus-Scrape-Timeout-Seconds: %g", (double)t->timeout_ms / 1000.0);
    g->headers = curl_slist_append(NULL,
                                   "Accept: application/openmetrics-text;version=0.0.1;q=0.2,"
                                   "text/plain;version=0.0.4;q=1,*/*;q=0.1");
    g->headers = curl_slist_append(g->headers, tmo);
    if (job->bearer_token) {
        const char *type = job->auth_type ? job->auth_type : "Bearer";
        size_t n = strlen(job->bearer_token) + strlen(type) + 32;
        g->auth_header = malloc(n);
        if (!g->auth_header) return AX_ENOMEM;
        snprintf(g->auth_header, n, "Authorization: %s %s", type, job->bearer_token);
        g->headers = curl_slist_append(g->headers, g->auth_header);
    }
    if (!g->headers) return ax_err_set(e, AX_ENOMEM, "out of memory");
    if (curl_easy_setopt(c, CURLOPT_URL, t->url) != CURLE_OK)
        return ax_err_set(e, AX_EINVAL, "job %s: curl refuses the URL %s", job->job_name, t->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, g->headers);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "auspex/" AUSPEX_VERSION);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "gzip");
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)t->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)t->timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, g);
    curl_easy_setopt(c, CURLOPT_PRIVATE, g);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, g->curl_err);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    if (job->basic_user) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERNAME, job->basic_user);
        curl_easy_setopt(c, CURLOPT_PASSWORD, job->basic_pass ? job->basic_pass : "");
    }
    if (job->insecure_skip_verify) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    return 0;
}

/* ---- start / stop ---- */

int srv_scrape_start(srv_app *app, srv_scrape_config *cfg, const srv_scrape_opts *o,
                     srv_scrape **out, ax_err *e) {
    srv_scrape *s = calloc(1, sizeof *s);
    if (!s) return AX_ENOMEM;
    s->app = app;
    s->cfg = cfg;
    pthread_mutex_init(&s->status_mu, NULL);
    s->max_scrape_bytes = o && o->max_scrape_bytes ? o->max_scrape_bytes : DEFAULT_MAX_SCRAPE;
    int rc = srv_scrape_targets(cfg, &s->targets, &s->n, e);
    if (!rc && s->n == 0) rc = ax_err_set(e, AX_EINVAL, "the scrape config has no targets");
    if (!rc && !(s->tg = calloc(s->n, sizeof *s->tg))) rc = AX_ENOMEM;
    if (!rc && !(s->multi = curl_multi_init())) rc = ax_err_set(e, AX_ENOMEM, "curl_multi_init failed");
    for (size_t i = 0; !rc && i < s->n; i++) {
        tgt *g = &s->tg[i];
        g->s = s;
        g->t = &s->targets[i];
        atomic_init(&g->health, -1);
        ax_buf_init(&g->prev, (size_t)1 << 34);
        rc = easy_setup(s, g, e);
    }
    if (rc) {
        for (size_t i = 0; s->tg && i < s->n; i++) {
            if (s->tg[i].easy) curl_easy_cleanup(s->tg[i].easy);
            curl_slist_free_all(s->tg[i].headers);
            free(s->tg[i].auth_header);
        }
        if (s->multi) curl_multi_cleanup(s->multi);
        free(s->tg);
        srv_scrape_targets_free(s->targets, s->n);
        pthread_mutex_destroy(&s->status_mu);
        free(s);
        return rc;
    }
    curl_multi_setopt(s->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(s->multi, CURLMOPT_SOCKETDATA, s);
    curl_multi_setopt(s->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(s->multi, CURLMOPT_TIMERDATA, s);
    uv_timer_init(app->loop, &s->curl_timer);
    s->curl_timer.data = s;
    /* spread the targets over their interval by a hash of their labels, as Prometheus
     * does, so that many targets do not all fire at once; the phase stays the same across
     * restarts, which keeps the sample grid regular */
    int64_t now = ax_now_ms();
    for (size_t i = 0; i < s->n; i++) {
        tgt *g = &s->tg[i];
        uint64_t h = ax_hash(g->t->url, strlen(g->t->url), 11);
        for (size_t k = 0; k < g->t->n_labels; k++) {
            h = ax_hash(g->t->labels[k].name, g->t->labels[k].name_len, h);
            h = ax_hash(g->t->labels[k].value, g->t->labels[k].value_len, h);
        }
        int64_t iv = g->t->interval_ms > 0 ? g->t->interval_ms : 60000;
        int64_t offset = (int64_t)(h % (uint64_t)iv);
        int64_t first = ((offset - now % iv) % iv + iv) % iv;
        uv_timer_init(app->loop, &g->timer);
        g->timer.data = g;
        uv_timer_start(&g->timer, tick_cb, (uint64_t)first, (uint64_t)iv);
    }
    fprintf(stderr, "auspex: scraping %zu target%s from %zu job%s\n", s->n, s->n == 1 ? "" : "s",
            cfg->n_jobs, cfg->n_jobs == 1 ? "" : "s");
    *out = s;
    return 0;
}

static void handle_closed(uv_handle_t *h) {
    srv_scrape *s = h->data;
    s->closing--;
    maybe_free(s);
}

/* Free s once no handle is open and no work item runs (loop thread). */
static void maybe_free(srv_scrape *s) {
    if (s->closing > 0 || s->in_work > 0) return;
    for (size_t i = 0; i < s->n; i++) {
        tgt *g = &s->tg[i];
        if (g->easy) curl_easy_cleanup(g->easy);
        curl_slist_free_all(g->headers);
        free(g->auth_header);
        ax_buf_free(&g->body);
        ax_buf_free(&g->prev);
    }
    if (s->multi) curl_multi_cleanup(s->multi);
    free(s->tg);
    srv_scrape_targets_free(s->targets, s->n);
    srv_scrape_config_free(s->cfg);
    pthread_mutex_destroy(&s->status_mu);
    free(s);
}

void srv_scrape_stop(srv_scrape *s) {
    if (!s || s->stopping) return;
    s->stopping = true;
    /* transfers in flight are dropped: removing the handles closes their sockets (curl
     * calls socket_cb with CURL_POLL_REMOVE, which closes the polls) */
    for (size_t i = 0; i < s->n; i++) {
        tgt *g = &s->tg[i];
        if (g->busy && g->easy) curl_multi_remove_handle(s->multi, g->easy);
        uv_timer_stop(&g->timer);
        g->timer.data = s;
        s->closing++;
        uv_close((uv_handle_t *)&g->timer, handle_closed);
    }
    for (size_t i = 0; i < s->n; i++) {
        tgt *g = &s->tg[i];
        if (g->easy) {
            curl_easy_cleanup(g->easy); /* closes a kept-alive connection's socket too */
            g->easy = NULL;
        }
    }
    curl_multi_cleanup(s->multi);
    s->multi = NULL;
    /* whatever polls curl did not remove (its sockets are closed by now) */
    while (s->socks) sock_close(s->socks);
    uv_timer_stop(&s->curl_timer);
    s->curl_timer.data = s;
    s->closing++;
    uv_close((uv_handle_t *)&s->curl_timer, handle_closed);
}

int srv_scrape_metrics_write(srv_scrape *s, ax_buf *b) {
    if (!s) return 0;
    size_t up = 0, down = 0, unknown = 0;
    for (size_t i = 0; i < s->n; i++) {
        int h = atomic_load(&s->tg[i].health);
        if (h > 0) up++;
        else if (h == 0) down++;
        else unknown++;
    }
    int rc = ax_buf_printf(b, "# HELP auspex_scrape_targets Scrape targets by the health of their last scrape.\n"
                              "# TYPE auspex_scrape_targets gauge\n"
                              "auspex_scrape_targets{status=\"up\"} %zu\n"
                              "auspex_scrape_targets{status=\"down\"} %zu\n"
                              "auspex_scrape_targets{status=\"unknown\"} %zu\n",
                           up, down, unknown);
    if (!rc)
        rc = ax_buf_printf(b, "# HELP auspex_scrapes_total Scrapes done.\n# TYPE auspex_scrapes_total counter\n"
                              "auspex_scrapes_total %llu\n"
                              "# HELP auspex_scrapes_failed_total Scrapes that failed (up=0).\n"
                              "# TYPE auspex_scrapes_failed_total counter\n"
                              "auspex_scrapes_failed_total %llu\n"
                              "# HELP auspex_scraped_samples_total Samples stored from scrapes.\n"
                              "# TYPE auspex_scraped_samples_total counter\n"
                              "auspex_scraped_samples_total %llu\n",
                           (unsigned long long)atomic_load(&s->scrapes),
                           (unsigned long long)atomic_load(&s->failures),
                           (unsigned long long)atomic_load(&s->samples));
    return rc;
}

int srv_scrape_targets_json(srv_scrape *s, ax_buf *b) {
    int rc = ax_buf_append_str(b, "{\"activeTargets\":[");
    for (size_t i = 0; s && i < s->n && !rc; i++) {
        tgt *g = &s->tg[i];
        const srv_scrape_target *t = g->t;
        pthread_mutex_lock(&s->status_mu);
        char err[320];
        memcpy(err, g->status_err, sizeof err);
        int64_t ts = g->status_ts;
        double dur = g->status_duration;
        pthread_mutex_unlock(&s->status_mu);
        int h = atomic_load(&g->health);
        if (i) rc = ax_buf_append(b, ",", 1);
        /* the labels as canonical JSON: sorted by name already (scrape_config.h) */
        if (!rc) rc = ax_buf_append_str(b, "{\"discoveredLabels\":{},\"labels\":{");
        for (size_t k = 0; k < t->n_labels && !rc; k++) {
            if (k) rc = ax_buf_append(b, ",", 1);
            if (!rc) rc = srv_json_str(b, t->labels[k].name, t->labels[k].name_len);
            if (!rc) rc = ax_buf_append(b, ":", 1);
            if (!rc) rc = srv_json_str(b, t->labels[k].value, t->labels[k].value_len);
        }
        char when[96] = "0001-01-01T00:00:00Z", iv[64], to[64];
        if (ts > 0) {
            time_t sec = (time_t)(ts / 1000);
            struct tm tmv;
            gmtime_r(&sec, &tmv);
            snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tmv.tm_year + 1900,
                     tmv.tm_mon + 1, tmv.tm_mday, tmv.tm_hour, tmv.tm_min, tmv.tm_sec, (int)(ts % 1000));
        }
        srv_duration_fmt(iv, t->interval_ms);
        srv_duration_fmt(to, t->timeout_ms);
        if (!rc) rc = ax_buf_append_str(b, "},\"scrapePool\":");
        if (!rc) rc = srv_json_str(b, t->job->job_name, strlen(t->job->job_name));
        if (!rc) rc = ax_buf_append_str(b, ",\"scrapeUrl\":");
        if (!rc) rc = srv_json_str(b, t->url, strlen(t->url));
        if (!rc) rc = ax_buf_append_str(b, ",\"globalUrl\":");
        if (!rc) rc = srv_json_str(b, t->url, strlen(t->url));
        if (!rc) rc = ax_buf_append_str(b, ",\"lastError\":");
        if (!rc) rc = srv_json_str(b, err, strlen(err));
        if (!rc)
            rc = ax_buf_printf(b, ",\"lastScrape\":\"%s\",\"lastScrapeDuration\":%.6f,\"health\":\"%s\","
                                  "\"scrapeInterval\":\"%s\",\"scrapeTimeout\":\"%s\"}",
                               when, dur, h > 0 ? "up" : h == 0 ? "down" : "unknown", iv, to);
    }
    if (!rc) rc = ax_buf_append_str(b, "],\"droppedTargets\":[]}");
    return rc;
}
