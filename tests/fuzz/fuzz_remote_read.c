/* tests/fuzz/fuzz_remote_read.c: fuzz the remote-read codec (srv_rr_decode: snappy +
 * protobuf) and, for requests that decode, negotiation and execution against a small
 * engine (regexes, ranges, limits, the answer's encoding).
 *
 * Input: a flag byte, then the payload.
 *   flag bit 0 clear: the payload is a request body, decoded as is (exercises snappy);
 *   flag bit 0 set:   the payload is a ReadRequest protobuf; it is snappy-compressed first
 *                     so the protobuf parser gets arbitrary bytes.
 * Checked: every error has a negative code and a message; a decoded request re-encodes
 * (srv_rr_request_encode) and decodes again to the same queries; execution under tight
 * limits returns a status, and on success an answer with one QueryResult per query.
 * The engine lives in a temporary folder made on the first input and removed at exit. */
/* link: ax_server */
#include "server/pb.h"
#include "server/remote_read.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static eng *g_eng;
static char g_dir[64];

static void cleanup(void) {
    eng_close(g_eng);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd)) fprintf(stderr, "fuzz_remote_read: could not remove %s\n", g_dir);
}

static void put(const char *name, const char *job, const char *inst, int n, int stale_at) {
    ax_label ls[3] = {{"__name__", name, 8, (uint32_t)strlen(name)},
                      {"job", job, 3, (uint32_t)strlen(job)},
                      {"instance", inst, 8, (uint32_t)strlen(inst)}};
    eng_sample s[32];
    for (int i = 0; i < n && i < 32; i++) {
        s[i].ts = (int64_t)i * 1000;
        s[i].v = i * 1.5;
        if (i == stale_at) {
            uint64_t b = 0x7ff0000000000002ull;
            memcpy(&s[i].v, &b, sizeof b);
        }
    }
    eng_ts ts = {ls, 3, s, (size_t)n};
    ax_err err;
    if (eng_write(g_eng, &ts, 1, &err)) {
        fprintf(stderr, "fuzz_remote_read: seeding failed: %s\n", err.msg);
        abort();
    }
}

static eng *engine(void) {
    if (g_eng) return g_eng;
    snprintf(g_dir, sizeof g_dir, "/tmp/fuzz_remote_read.XXXXXX");
    if (!mkdtemp(g_dir)) abort();
    eng_opts o = {.path = g_dir, .nosync = true};
    ax_err err;
    if (eng_open(&o, &g_eng, &err)) abort();
    atexit(cleanup);
    put("up", "api", "a", 20, -1);
    put("up", "api", "b", 20, 10);
    put("up", "db", "c", 5, -1);
    put("m", "a", "1", 30, 29);
    return g_eng;
}

/* Count the top-level fields of a ReadResponse (each a QueryResult), or -1. */
static long count_results(const uint8_t *p, size_t len) {
    if (!len) return 0;
    const uint8_t *end = p + len;
    long n = 0;
    while (p < end) {
        uint64_t tag, l;
        if (ax_uvarint_get(&p, end, &tag) || tag != 0x0a) return -1;
        if (ax_uvarint_get(&p, end, &l) || l > (uint64_t)(end - p)) return -1;
        p += l;
        n++;
    }
    return n;
}

static void same_request(const srv_rr_request *x, const srv_rr_request *y) {
    if (x->n_q != y->n_q || x->n_types != y->n_types) abort();
    for (size_t i = 0; i < x->n_types; i++)
        if (x->types[i] != y->types[i]) abort();
    for (size_t i = 0; i < x->n_q; i++) {
        const srv_rr_query *a = &x->q[i], *b = &y->q[i];
        if (a->start_ms != b->start_ms || a->end_ms != b->end_ms || a->n_m != b->n_m) abort();
        for (size_t j = 0; j < a->n_m; j++) {
            const eng_matcher *m = &a->m[j], *k = &b->m[j];
            if (m->op != k->op || m->name_len != k->name_len || m->value_len != k->value_len) abort();
            if (m->name_len && memcmp(m->name, k->name, m->name_len)) abort();
            if (m->value_len && memcmp(m->value, k->value, m->value_len)) abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    uint8_t flag = data[0];
    data++;
    size--;
    ax_buf body;
    ax_buf_init(&body, 8u << 20);
    uint8_t *copy = NULL;
    if (flag & 1) {
        if (srv__snappy_encode(&body, data, size)) goto out;
    } else {
        copy = malloc(size ? size : 1); /* exact size, so ASan catches overreads */
        if (size) memcpy(copy, data, size);
    }
    const uint8_t *in = copy ? copy : body.data;
    size_t in_len = copy ? size : body.len;

    ax_arena a;
    ax_arena_init(&a, 64u << 20);
    srv_rr_request rq;
    ax_err e = {0};
    int rc = srv_rr_decode(in, in_len, 4u << 20, &a, &rq, &e);
    if (rc) {
        if (rc > 0 || e.code != rc || !e.msg[0]) abort(); /* every error says what */
        ax_arena_clear(&a);
        goto out;
    }
    /* round trip */
    ax_buf re;
    ax_buf_init(&re, 64u << 20);
    if (srv_rr_request_encode(&re, &rq) == 0) {
        ax_arena a2;
        ax_arena_init(&a2, 64u << 20);
        srv_rr_request rq2;
        if (srv_rr_decode_raw(re.data, re.len, &a2, &rq2, &e)) abort();
        same_request(&rq, &rq2);
        ax_arena_clear(&a2);
    }
    ax_buf_free(&re);
    /* negotiate, then run with tight limits */
    if (srv_rr_negotiate(&rq, &e) == 0) {
        srv_rr_limits lim = {.max_series = 3, .max_samples = 60};
        ax_buf ans;
        ax_buf_init(&ans, 64u << 10);
        rc = srv_rr_execute(engine(), &rq, &lim, &ans, &e);
        if (rc) {
            if (rc > 0 || !e.msg[0]) abort();
        } else if (count_results(ans.data, ans.len) != (long)rq.n_q) {
            abort();
        }
        ax_buf_free(&ans);
    }
    ax_arena_clear(&a);
out:
    free(copy);
    ax_buf_free(&body);
    return 0;
}
