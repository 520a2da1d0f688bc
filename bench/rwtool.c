/* bench/rwtool.c: build, inspect and benchmark Prometheus remote-write bodies.
 *
 * Integration tests (Python, no snappy) use `rwtool encode` to make request bodies,
 * including deliberately broken ones, and `rwtool decode` to read them back; `rwtool
 * bench` measures srv_rw_decode on a typical request. Usage text: USAGE below.
 * The text format is Prometheus exposition-like, one sample per line, and decode prints
 * exactly what encode reads, so encode | decode round-trips.
 */
/* link: ax_server */
#include "server/remote_write.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char USAGE[] =
    "usage: rwtool encode [-raw] [-truncate=N] [-no-merge] < series.txt > body.bin\n"
    "       rwtool decode [-raw] [-max=BYTES] < body.bin > series.txt\n"
    "       rwtool bench [-series=N] [-labels=N] [-samples=N] [-seconds=S]\n"
    "\n"
    "encode  reads lines   metric_name{label=\"value\",...} value [timestamp_ms]\n"
    "        and writes a remote-write 1.0 body (snappy block format of a protobuf\n"
    "        WriteRequest) to stdout.\n"
    "        - metric_name is optional ({__name__=\"m\",...} or {} work too); labels are\n"
    "          sent in the order written, with metric_name first as __name__; nothing\n"
    "          is sorted or validated, so bad label sets can be sent on purpose.\n"
    "        - label names are [^=,{}\" \\t]+ or a quoted string; values are quoted, with\n"
    "          the escapes \\\" \\\\ \\n.\n"
    "        - value: a float (1, -2.5e3, 0x1p-3), NaN (Prometheus' NaN, bits\n"
    "          0x7ff8000000000001), +Inf, -Inf, stale (stale marker, bits\n"
    "          0x7ff0000000000002), or bits:0xHHHHHHHHHHHHHHHH (any float64 bits).\n"
    "        - timestamp_ms: int64 milliseconds, may be negative; omitted = now.\n"
    "        - lines with the same labels (same names, values and order) become one\n"
    "          TimeSeries whose samples keep input order; series keep the order of their\n"
    "          first line. Empty lines and lines starting with # are skipped.\n"
    "        -raw         write the protobuf without snappy\n"
    "        -truncate=N  cut the protobuf to its first N bytes (then snappy it,\n"
    "                     unless -raw)\n"
    "        -no-merge    one TimeSeries per line, even for repeated label sets\n"
    "decode  reads a body and prints one line per sample in the format above: the metric\n"
    "        name leads when __name__ is the first label and a valid metric name;\n"
    "        NaN values other than NaN/stale print as bits:0x...; a series without\n"
    "        samples prints as a comment '# no samples: {...}'.\n"
    "        -raw         the input is a protobuf without snappy\n"
    "        -max=BYTES   cap on the decompressed size (default 1073741824)\n"
    "        Errors go to stderr as 'rwtool: decode: EINVAL: <message>', exit status 1.\n"
    "bench   encodes a typical request (default 2000 series x 8 labels x 1 sample) and\n"
    "        times srv_rw_decode on it (snappy + protobuf, and protobuf alone), per\n"
    "        core (rates use the process' CPU time, so a busy machine does not skew them).\n";

#define STALE_BITS 0x7ff0000000000002ull
#define NAN_BITS 0x7ff8000000000001ull /* Prometheus value.NormalNaN */

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "rwtool: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

static void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) die("out of memory (%zu bytes)", n);
    return q;
}

static int read_all(FILE *f, ax_buf *b) {
    for (;;) {
        int rc = ax_buf_reserve(b, 1 << 16);
        if (rc) return rc;
        size_t got = fread(b->data + b->len, 1, b->cap - b->len, f);
        b->len += got;
        if (got == 0) return ferror(f) ? AX_EIO : 0;
    }
}

static void write_all(const void *p, size_t len) {
    if (len && fwrite(p, 1, len, stdout) != len) die("write failed");
    if (fflush(stdout)) die("write failed");
}

/* Parse an option "-name=value" as an unsigned integer. */
static bool opt_num(const char *arg, const char *name, unsigned long long *out) {
    size_t n = strlen(name);
    if (strncmp(arg, name, n) || arg[n] != '=') return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(arg + n + 1, &end, 0);
    if (errno || end == arg + n + 1 || *end || arg[n + 1] == '-') die("bad option %s", arg);
    *out = v;
    return true;
}

/* ---- encode: text parsing ---- */

typedef struct series {
    ax_label *labels;
    size_t n_labels;
    eng_sample *samples;
    size_t n_samples, cap;
    uint64_t hash;
} series;

typedef struct enc {
    ax_arena strings; /* unescaped label strings */
    series *ss;
    size_t n, cap;
    size_t *table; /* open addressing: index + 1, 0 = empty */
    size_t tcap;
    bool no_merge;
} enc;

typedef struct line_ctx {
    const char *p, *end;
    long long lineno;
} line_ctx;

static void skip_ws(line_ctx *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\r')) c->p++;
}

static void line_fail(line_ctx *c, const char *what) { die("line %lld: %s", c->lineno, what); }

/* Quoted string at c->p ('"' already checked); unescapes into the arena when needed. */
static void parse_quoted(enc *en, line_ctx *c, const char **out, uint32_t *len_out) {
    const char *s = ++c->p;
    bool esc = false;
    while (c->p < c->end && *c->p != '"') {
        if (*c->p == '\\') {
            esc = true;
            if (++c->p >= c->end) break;
        }
        c->p++;
    }
    if (c->p >= c->end) line_fail(c, "unterminated quoted string");
    size_t raw = (size_t)(c->p - s);
    c->p++; /* closing quote */
    if (raw > UINT32_MAX) line_fail(c, "string too long");
    if (!esc) {
        *out = s;
        *len_out = (uint32_t)raw;
        return;
    }
    char *d = ax_arena_alloc(&en->strings, raw);
    if (!d) die("out of memory");
    size_t n = 0;
    for (const char *q = s; q < s + raw; q++) {
        if (*q != '\\') { d[n++] = *q; continue; }
        q++;
        if (*q == 'n') d[n++] = '\n';
        else if (*q == '\\' || *q == '"') d[n++] = *q;
        else line_fail(c, "unknown escape (want \\\" \\\\ \\n)");
    }
    *out = d;
    *len_out = (uint32_t)n;
}

static bool is_name_char(char ch) {
    return ch != '=' && ch != ',' && ch != '{' && ch != '}' && ch != '"' && ch != ' ' &&
           ch != '\t' && ch != '\r';
}

static double parse_value(line_ctx *c, const char *tok, size_t len) {
    char buf[64];
    uint64_t bits;
    double v;
    if (len == 0) line_fail(c, "missing value");
    if (len >= sizeof buf) line_fail(c, "value too long");
    memcpy(buf, tok, len);
    buf[len] = 0;
    if (!strcmp(buf, "stale")) bits = STALE_BITS;
    else if (!strcasecmp(buf, "nan")) bits = NAN_BITS;
    else if (!strncmp(buf, "bits:", 5)) {
        char *e;
        errno = 0;
        bits = strtoull(buf + 5, &e, 16);
        if (errno || e == buf + 5 || *e || buf[5] == '-') line_fail(c, "bad bits:0x... value");
    } else {
        char *e;
        v = strtod(buf, &e);
        if (e == buf || *e) line_fail(c, "bad value");
        return v;
    }
    memcpy(&v, &bits, sizeof v);
    return v;
}

static int64_t parse_ts(line_ctx *c, const char *tok, size_t len) {
    char buf[32];
    if (len >= sizeof buf) line_fail(c, "timestamp too long");
    memcpy(buf, tok, len);
    buf[len] = 0;
    char *e;
    errno = 0;
    long long v = strtoll(buf, &e, 10);
    if (errno || e == buf || *e) line_fail(c, "bad timestamp (want int64 milliseconds)");
    return (int64_t)v;
}

static uint64_t labels_hash(const ax_label *ls, size_t n) {
    uint64_t h = n;
    for (size_t i = 0; i < n; i++) {
        h = ax_hash(ls[i].name, ls[i].name_len, h ^ 0x9e3779b97f4a7c15ull);
        h = ax_hash(ls[i].value, ls[i].value_len, h);
    }
    return h;
}

static bool labels_same(const ax_label *a, size_t na, const ax_label *b, size_t nb) {
    if (na != nb) return false;
    for (size_t i = 0; i < na; i++) {
        if (a[i].name_len != b[i].name_len || a[i].value_len != b[i].value_len) return false;
        if (memcmp(a[i].name, b[i].name, a[i].name_len)) return false;
        if (memcmp(a[i].value, b[i].value, a[i].value_len)) return false;
    }
    return true;
}

static void table_grow(enc *en) {
    size_t ncap = en->tcap ? en->tcap * 2 : 1024;
    size_t *t = calloc(ncap, sizeof *t);
    if (!t) die("out of memory");
    for (size_t i = 0; i < en->n; i++) {
        size_t j = en->ss[i].hash & (ncap - 1);
        while (t[j]) j = (j + 1) & (ncap - 1);
        t[j] = i + 1;
    }
    free(en->table);
    en->table = t;
    en->tcap = ncap;
}

/* The series with these labels (copied on creation), created if new. */
static series *series_get(enc *en, const ax_label *ls, size_t nl) {
    uint64_t h = labels_hash(ls, nl);
    size_t j = 0;
    if (!en->no_merge) {
        if (en->tcap == 0) table_grow(en);
        for (j = h & (en->tcap - 1); en->table[j]; j = (j + 1) & (en->tcap - 1)) {
            series *s = &en->ss[en->table[j] - 1];
            if (s->hash == h && labels_same(s->labels, s->n_labels, ls, nl)) return s;
        }
    }
    if (en->n == en->cap) {
        en->cap = en->cap ? en->cap * 2 : 256;
        en->ss = xrealloc(en->ss, en->cap * sizeof *en->ss);
    }
    series *s = &en->ss[en->n];
    memset(s, 0, sizeof *s);
    s->hash = h;
    s->n_labels = nl;
    if (nl) {
        s->labels = ax_arena_dup(&en->strings, ls, nl * sizeof *ls);
        if (!s->labels) die("out of memory");
    }
    en->n++;
    if (!en->no_merge) {
        en->table[j] = en->n;
        if (en->n * 2 > en->tcap) table_grow(en);
    }
    return s;
}

static void parse_line(enc *en, line_ctx *c) {
    ax_label ls[AX_MAX_LABELS * 4];
    size_t nl = 0;
    skip_ws(c);
    if (c->p == c->end || *c->p == '#') return;
    const char *name = c->p;
    while (c->p < c->end && is_name_char(*c->p)) c->p++;
    if (c->p > name) {
        ls[nl++] = (ax_label){"__name__", name, 8, (uint32_t)(c->p - name)};
    }
    if (c->p < c->end && *c->p == '{') {
        c->p++;
        for (;;) {
            skip_ws(c);
            if (c->p < c->end && *c->p == '}') { c->p++; break; }
            if (nl == sizeof ls / sizeof ls[0]) line_fail(c, "too many labels");
            ax_label *l = &ls[nl++];
            if (c->p < c->end && *c->p == '"') {
                parse_quoted(en, c, &l->name, &l->name_len);
            } else {
                const char *s = c->p;
                while (c->p < c->end && is_name_char(*c->p)) c->p++;
                if (c->p == s) line_fail(c, "expected a label name or '}'");
                l->name = s;
                l->name_len = (uint32_t)(c->p - s);
            }
            skip_ws(c);
            if (c->p >= c->end || *c->p != '=') line_fail(c, "expected '=' after label name");
            c->p++;
            skip_ws(c);
            if (c->p >= c->end || *c->p != '"') line_fail(c, "expected '\"' to start label value");
            parse_quoted(en, c, &l->value, &l->value_len);
            skip_ws(c);
            if (c->p < c->end && *c->p == ',') c->p++;
            else if (c->p >= c->end || *c->p != '}') line_fail(c, "expected ',' or '}'");
        }
    } else if (c->p == name) {
        line_fail(c, "expected a metric name or '{'");
    }
    skip_ws(c);
    const char *vt = c->p;
    while (c->p < c->end && *c->p != ' ' && *c->p != '\t' && *c->p != '\r') c->p++;
    double v = parse_value(c, vt, (size_t)(c->p - vt));
    skip_ws(c);
    int64_t ts;
    if (c->p < c->end) {
        const char *tt = c->p;
        while (c->p < c->end && *c->p != ' ' && *c->p != '\t' && *c->p != '\r') c->p++;
        ts = parse_ts(c, tt, (size_t)(c->p - tt));
        skip_ws(c);
        if (c->p < c->end) line_fail(c, "unexpected text after the timestamp");
    } else {
        ts = ax_now_ms();
    }
    series *s = series_get(en, ls, nl);
    if (s->n_samples == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1;
        s->samples = xrealloc(s->samples, s->cap * sizeof *s->samples);
    }
    s->samples[s->n_samples++] = (eng_sample){ts, v};
}

static int cmd_encode(int argc, char **argv) {
    bool raw = false;
    unsigned long long truncate = ~0ull;
    enc en;
    memset(&en, 0, sizeof en);
    ax_arena_init(&en.strings, SIZE_MAX / 4);
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "-raw")) raw = true;
        else if (!strcmp(argv[i], "-no-merge")) en.no_merge = true;
        else if (!opt_num(argv[i], "-truncate", &truncate)) die("unknown option %s", argv[i]);
    }
    ax_buf in;
    ax_buf_init(&in, (size_t)4 << 30);
    if (read_all(stdin, &in)) die("cannot read stdin");
    line_ctx c = {(const char *)in.data, (const char *)in.data + in.len, 0};
    while (c.p < c.end) {
        const char *nl = memchr(c.p, '\n', (size_t)(c.end - c.p));
        const char *next = nl ? nl + 1 : c.end;
        line_ctx lc = {c.p, nl ? nl : c.end, ++c.lineno};
        parse_line(&en, &lc);
        c.p = next;
    }
    eng_ts *ts = xrealloc(NULL, en.n * sizeof *ts);
    for (size_t i = 0; i < en.n; i++)
        ts[i] = (eng_ts){en.ss[i].labels, en.ss[i].n_labels, en.ss[i].samples, en.ss[i].n_samples};
    ax_buf pb, body;
    ax_buf_init(&pb, (size_t)UINT32_MAX);
    ax_buf_init(&body, (size_t)UINT32_MAX);
    int rc = srv_rw_encode_raw(&pb, ts, en.n);
    if (rc) die("encode: %s", ax_strerror(rc));
    if (truncate < pb.len) pb.len = (size_t)truncate;
    if (raw) {
        write_all(pb.data, pb.len);
    } else {
        if ((rc = srv_rw_snappy(&body, pb.data, pb.len))) die("snappy: %s", ax_strerror(rc));
        write_all(body.data, body.len);
    }
    for (size_t i = 0; i < en.n; i++) free(en.ss[i].samples);
    free(en.ss);
    free(en.table);
    free(ts);
    ax_arena_clear(&en.strings);
    ax_buf_free(&in);
    ax_buf_free(&pb);
    ax_buf_free(&body);
    return 0;
}

/* ---- decode: printing ---- */

static void put_quoted(ax_buf *o, const char *s, size_t len) {
    ax_buf_put_u8(o, '"');
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"' || s[i] == '\\') {
            ax_buf_put_u8(o, '\\');
            ax_buf_put_u8(o, (uint8_t)s[i]);
        } else if (s[i] == '\n') {
            ax_buf_append(o, "\\n", 2);
        } else {
            ax_buf_put_u8(o, (uint8_t)s[i]);
        }
    }
    ax_buf_put_u8(o, '"');
}

static bool plain_name(const char *s, size_t len) {
    if (len == 0) return false;
    for (size_t i = 0; i < len; i++)
        if (!is_name_char(s[i]) || s[i] == '\n' || s[i] == '#') return false;
    return true;
}

static void put_labels(ax_buf *o, const eng_ts *t) {
    size_t first = 0;
    if (t->n_labels && t->labels[0].name_len == 8 && !memcmp(t->labels[0].name, "__name__", 8) &&
        ax_metric_name_valid(t->labels[0].value, t->labels[0].value_len)) {
        ax_buf_append(o, t->labels[0].value, t->labels[0].value_len);
        first = 1;
        if (t->n_labels == 1) return;
    }
    ax_buf_put_u8(o, '{');
    for (size_t i = first; i < t->n_labels; i++) {
        const ax_label *l = &t->labels[i];
        if (i > first) ax_buf_put_u8(o, ',');
        if (plain_name(l->name, l->name_len)) ax_buf_append(o, l->name, l->name_len);
        else put_quoted(o, l->name, l->name_len);
        ax_buf_put_u8(o, '=');
        put_quoted(o, l->value, l->value_len);
    }
    ax_buf_put_u8(o, '}');
}

static void put_value(ax_buf *o, double v) {
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    char tmp[40];
    if (bits == STALE_BITS) ax_buf_append_str(o, "stale");
    else if (bits == NAN_BITS) ax_buf_append_str(o, "NaN");
    else if (v != v) ax_buf_printf(o, "bits:0x%016llx", (unsigned long long)bits);
    else ax_buf_append(o, tmp, ax_fmt_double(tmp, v));
}

static int cmd_decode(int argc, char **argv) {
    bool raw = false;
    unsigned long long max = 1ull << 30;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "-raw")) raw = true;
        else if (!opt_num(argv[i], "-max", &max)) die("unknown option %s", argv[i]);
    }
    ax_buf in, out;
    ax_buf_init(&in, (size_t)4 << 30);
    ax_buf_init(&out, SIZE_MAX / 2);
    if (read_all(stdin, &in)) die("cannot read stdin");
    ax_arena a;
    ax_arena_init(&a, SIZE_MAX / 4);
    eng_ts *ts = NULL;
    size_t n = 0, ns = 0;
    ax_err e = {0};
    int rc = raw ? srv_rw_decode_raw(in.data ? in.data : (const uint8_t *)"", in.len, &a, &ts, &n,
                                     &ns, &e)
                 : srv_rw_decode(in.data, in.len, (size_t)max, &a, &ts, &n, &ns, &e);
    if (rc) {
        fprintf(stderr, "rwtool: decode: %s: %s\n", ax_strerror(rc), e.msg);
        n = 0; /* fall through to the cleanup */
    }
    for (size_t i = 0; i < n; i++) {
        const eng_ts *t = &ts[i];
        if (!t->n_samples) {
            ax_buf_append_str(&out, "# no samples: ");
            put_labels(&out, t);
            ax_buf_put_u8(&out, '\n');
        }
        for (size_t j = 0; j < t->n_samples; j++) {
            put_labels(&out, t);
            ax_buf_put_u8(&out, ' ');
            put_value(&out, t->samples[j].v);
            ax_buf_printf(&out, " %lld\n", (long long)t->samples[j].ts);
        }
        if (out.len > (1 << 20)) {
            write_all(out.data, out.len);
            ax_buf_reset(&out);
        }
    }
    write_all(out.data, out.len);
    ax_arena_clear(&a);
    ax_buf_free(&in);
    ax_buf_free(&out);
    return rc ? 1 : 0;
}

/* ---- bench ---- */

static uint64_t cpu_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static int cmd_bench(int argc, char **argv) {
    unsigned long long nser = 2000, nlab = 8, nsmp = 1, secs = 2;
    for (int i = 0; i < argc; i++) {
        if (!opt_num(argv[i], "-series", &nser) && !opt_num(argv[i], "-labels", &nlab) &&
            !opt_num(argv[i], "-samples", &nsmp) && !opt_num(argv[i], "-seconds", &secs))
            die("unknown option %s", argv[i]);
    }
    if (nlab < 1 || nlab > AX_MAX_LABELS || nser < 1 || nsmp < 1) die("bad sizes");
    /* label sets shaped like node_exporter behind Kubernetes service discovery */
    static const char *names[] = {"__name__", "job", "instance", "cpu", "mode", "cluster",
                                  "namespace", "pod", "container", "region", "env", "team"};
    char *strbuf = xrealloc(NULL, nser * nlab * 48);
    ax_label *ls = xrealloc(NULL, nser * nlab * sizeof *ls);
    eng_sample *ss = xrealloc(NULL, nser * nsmp * sizeof *ss);
    eng_ts *ts = xrealloc(NULL, nser * sizeof *ts);
    char *sp = strbuf;
    for (size_t i = 0; i < nser; i++) {
        for (size_t j = 0; j < nlab; j++) {
            int len;
            switch (j) {
            case 0: len = snprintf(sp, 48, "node_cpu_seconds_total_%zu", i % 50); break;
            case 1: len = snprintf(sp, 48, "node-exporter"); break;
            case 2: len = snprintf(sp, 48, "10.0.%zu.%zu:9100", (i / 256) % 256, i % 256); break;
            case 3: len = snprintf(sp, 48, "%zu", i % 64); break;
            case 4: len = snprintf(sp, 48, "%s", i % 3 ? "idle" : "user"); break;
            case 5: len = snprintf(sp, 48, "prod-eu-west-1"); break;
            case 6: len = snprintf(sp, 48, "monitoring"); break;
            case 7: len = snprintf(sp, 48, "node-exporter-%05zx", i * 2654435761u % 0xfffff); break;
            default: len = snprintf(sp, 48, "value-%zu-%zu", j, i % 97); break;
            }
            const char *nm = j < sizeof names / sizeof names[0] ? names[j] : "extra_label";
            ls[i * nlab + j] = (ax_label){nm, sp, (uint32_t)strlen(nm), (uint32_t)len};
            sp += len;
        }
        for (size_t k = 0; k < nsmp; k++)
            ss[i * nsmp + k] = (eng_sample){1700000000000 + (int64_t)k * 15000, (double)(i * 7 + k) * 0.25};
        ts[i] = (eng_ts){&ls[i * nlab], nlab, &ss[i * nsmp], nsmp};
    }
    ax_buf body, pb;
    ax_buf_init(&body, (size_t)UINT32_MAX);
    ax_buf_init(&pb, (size_t)UINT32_MAX);
    if (srv_rw_encode(&body, ts, nser) || srv_rw_encode_raw(&pb, ts, nser)) die("encode failed");
    printf("request: %llu series x %llu labels x %llu samples; protobuf %zu bytes, snappy %zu bytes\n",
           nser, nlab, nsmp, pb.len, body.len);
    for (int mode = 0; mode < 2; mode++) {
        ax_arena a;
        ax_arena_init(&a, (size_t)4 << 30);
        uint64_t t0 = ax_mono_ns(), t1 = t0, c0 = cpu_ns(), iters = 0, total = 0;
        while (t1 - t0 < secs * 1000000000ull) {
            for (int r = 0; r < 10; r++) {
                eng_ts *out;
                size_t n, ns;
                ax_err e;
                int rc = mode == 0 ? srv_rw_decode(body.data, body.len, pb.len, &a, &out, &n, &ns, &e)
                                   : srv_rw_decode_raw(pb.data, pb.len, &a, &out, &n, &ns, &e);
                if (rc) die("decode failed: %s", e.msg);
                total += ns;
                ax_arena_clear(&a);
                iters++;
            }
            t1 = ax_mono_ns();
        }
        /* per core: CPU time of this process (the machine may be shared) */
        double s = (double)(cpu_ns() - c0) / 1e9, wall = (double)(t1 - t0) / 1e9;
        printf("%-16s %8.0f requests/s  %6.2f M samples/s  %7.1f MB/s of protobuf  "
               "(%.1f us/request CPU; wall %.2f s for %.2f s CPU)\n",
               mode == 0 ? "snappy+protobuf:" : "protobuf only:", (double)iters / s,
               (double)total / s / 1e6, (double)pb.len * (double)iters / s / 1e6,
               s / (double)iters * 1e6, wall, s);
    }
    free(strbuf);
    free(ls);
    free(ss);
    free(ts);
    ax_buf_free(&body);
    ax_buf_free(&pb);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "-help") || !strcmp(argv[1], "--help")) {
        fputs(USAGE, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "encode")) return cmd_encode(argc - 2, argv + 2);
    if (!strcmp(argv[1], "decode")) return cmd_decode(argc - 2, argv + 2);
    if (!strcmp(argv[1], "bench")) return cmd_bench(argc - 2, argv + 2);
    fputs(USAGE, stderr);
    return 2;
}
