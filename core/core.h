/* core/core.h: the few primitives every layer shares.
 *
 * Owns: status codes and error messages (ax_err), capped growable buffers (ax_buf),
 *   bump arenas with a byte budget (ax_arena), label sets and their canonical encoding,
 *   a fast 64-bit hash, varints, and time/duration parsing.
 * Rules: every growable thing has a ceiling set at creation; growing past it returns
 *   AX_ETOOBIG and leaves the object empty (never half-grown). Functions that can fail
 *   return 0 or a negative AX_E* code and write OUT params only on success.
 * Threads: nothing here is shared; each object belongs to one thread at a time.
 */
#ifndef AX_CORE_H
#define AX_CORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

/* ---- status codes ---- */
enum {
    AX_OK = 0,
    AX_EINVAL = -1,    /* bad input */
    AX_ETOOBIG = -2,   /* a size cap was exceeded */
    AX_ELIMIT = -3,    /* a cost limit (series, samples, query budget) was exceeded */
    AX_ENOMEM = -4,
    AX_EIO = -5,       /* disk or OS trouble */
    AX_ECORRUPT = -6,  /* bytes on disk do not decode */
    AX_EFULL = -7,     /* storage full */
    AX_ENOTFOUND = -8,
    AX_EAGAIN = -9,    /* overloaded or shutting down: try again later */
    AX_ETIMEOUT = -10, /* a deadline passed (query timeout) */
};

/* Short constant name of a status ("EINVAL"...), never NULL. */
const char *ax_strerror(int rc);

/* A status plus a short message saying what is wrong and where. */
typedef struct ax_err {
    int code;
    char msg[1024];
} ax_err;

/* Set e (may be NULL) to code and a printf-style message; returns code. */
int ax_err_set(ax_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define AX_ASSERT(cond) \
    do { if (!(cond)) ax__bug(__FILE__, __LINE__, #cond); } while (0)
void ax__bug(const char *file, int line, const char *what) __attribute__((noreturn));

/* ---- capped growable buffer ---- */
typedef struct ax_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t max;  /* ceiling; growing past it fails with AX_ETOOBIG */
} ax_buf;

void ax_buf_init(ax_buf *b, size_t max);
/* Make room for `extra` more bytes. AX_ETOOBIG (buffer emptied) or AX_ENOMEM. */
int ax_buf_reserve(ax_buf *b, size_t extra);
int ax_buf_append(ax_buf *b, const void *p, size_t len);
int ax_buf_append_str(ax_buf *b, const char *s);
int ax_buf_printf(ax_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int ax_buf_put_uvarint(ax_buf *b, uint64_t v);
int ax_buf_put_u8(ax_buf *b, uint8_t v);
int ax_buf_put_u32le(ax_buf *b, uint32_t v);
int ax_buf_put_u64le(ax_buf *b, uint64_t v);
void ax_buf_reset(ax_buf *b); /* len = 0, keeps the allocation */
void ax_buf_free(ax_buf *b);  /* accepts NULL */

/* ---- varints and fixed-width little/big endian, decoding against an end pointer ---- */
/* Decode an unsigned LEB128 varint at *p (< end). Advances *p only on success.
 * Returns 0 or AX_EINVAL (truncated or longer than 10 bytes). */
int ax_uvarint_get(const uint8_t **p, const uint8_t *end, uint64_t *out);
static inline uint64_t ax_zigzag_enc(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }
static inline int64_t ax_zigzag_dec(uint64_t v) { return (int64_t)(v >> 1) ^ -(int64_t)(v & 1); }
/* Write v with 1..10 bytes into p (caller ensures 10 bytes of room). Returns bytes written. */
size_t ax_uvarint_put(uint8_t *p, uint64_t v);
static inline void ax_put_u64be(uint8_t *p, uint64_t v) {
    for (int i = 7; i >= 0; i--) { p[i] = (uint8_t)v; v >>= 8; }
}
static inline uint64_t ax_get_u64be(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = (v << 8) | p[i];
    return v;
}
static inline void ax_put_u32le(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static inline uint32_t ax_get_u32le(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline void ax_put_u64le(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) { p[i] = (uint8_t)v; v >>= 8; }
}
static inline uint64_t ax_get_u64le(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* ---- arena: bump allocator with a byte budget, freed in one call ---- */
typedef struct ax_arena_blk ax_arena_blk;
typedef struct ax_arena {
    ax_arena_blk *head;
    size_t used;   /* bytes handed out (plus block overhead) */
    size_t max;    /* budget; an allocation past it returns NULL */
} ax_arena;

void ax_arena_init(ax_arena *a, size_t max);
/* 16-byte aligned memory, or NULL when the budget is exhausted or malloc fails. */
void *ax_arena_alloc(ax_arena *a, size_t len);
void *ax_arena_dup(ax_arena *a, const void *p, size_t len);
/* A NUL-terminated copy of p[0..len) (len + 1 bytes; p need not be terminated). */
char *ax_arena_strndup(ax_arena *a, const char *p, size_t len);
void ax_arena_clear(ax_arena *a); /* frees everything; the arena is reusable */

/* ---- hash ---- */
uint64_t ax_hash(const void *p, size_t len, uint64_t seed);

/* ---- labels ---- */
/* A label as two spans; the bytes are borrowed (request arena, LMDB map, or interned). */
typedef struct ax_label {
    const char *name;
    const char *value;
    uint32_t name_len;
    uint32_t value_len;
} ax_label;

#define AX_MAX_LABELS 64          /* labels per series */
#define AX_MAX_LABEL_NAME 256      /* bytes */
#define AX_MAX_LABEL_VALUE 16384   /* bytes */

/* Metric name syntax [a-zA-Z_:][a-zA-Z0-9_:]* and label name syntax [a-zA-Z_][a-zA-Z0-9_]*. */
bool ax_metric_name_valid(const char *s, size_t len);
bool ax_label_name_valid(const char *s, size_t len);
bool ax_utf8_valid(const char *s, size_t len);

/* Normalise a label set in place, as Prometheus does on ingest: drop labels with empty
 * values, sort by name, then validate (names non-empty and valid, __name__ a valid metric
 * name, values valid UTF-8, names unique, at most AX_MAX_LABELS, sizes capped, not empty).
 * OUT: *n_out = labels kept. Returns 0 or AX_EINVAL with the reason in e. */
int ax_labels_normalize(ax_label *ls, size_t n, size_t *n_out, ax_err *e);
/* Sort ls[0..n) by name (bytewise), in place, without validating anything. */
void ax_labels_sort(ax_label *ls, size_t n);

/* Canonical bytes of a normalised label set: for each label uvarint(name_len) name
 * uvarint(value_len) value. Same labels <=> same bytes. Appends to dst. */
int ax_labels_encode(ax_buf *dst, const ax_label *ls, size_t n);
/* Decode canonical bytes into spans pointing into `p` (borrowed). Returns 0 or
 * AX_ECORRUPT. OUT: *n_out labels written to ls[0..cap). */
int ax_labels_decode(const uint8_t *p, size_t len, ax_label *ls, size_t cap, size_t *n_out);
/* Value of label `name` in canonical bytes, or NULL. OUT: *len_out. */
const char *ax_labels_get(const uint8_t *p, size_t len, const char *name, size_t name_len,
                          size_t *len_out);

/* ---- time ---- */
/* Current wall time in ms since the epoch; monotonic clock in ns. */
int64_t ax_now_ms(void);
uint64_t ax_mono_ns(void);
/* Parse a duration: "15s", "5m", "1h30m", "2d", "1w", "1y", "100ms", or a plain number of
 * seconds ("30", "1.5"). OUT: *ms_out. Returns 0 or AX_EINVAL. */
int ax_duration_parse(const char *s, size_t len, int64_t *ms_out);
/* Parse a time as Prometheus' API accepts it: RFC 3339 ("2026-01-02T03:04:05Z",
 * fractional seconds and offsets allowed) or Unix seconds with optional fraction.
 * OUT: *ms_out. Returns 0 or AX_EINVAL. */
int ax_time_parse(const char *s, size_t len, int64_t *ms_out);
/* Days since 1970-01-01 of a proleptic Gregorian date (month 1-12, day 1-31). */
int64_t ax_days_from_civil(int64_t y, unsigned m, unsigned d);
/* Year, month (1-12) and day (1-31) of day number z (days since 1970-01-01). */
void ax_civil_from_days(int64_t z, int64_t *y_out, unsigned *m_out, unsigned *d_out);
/* Parse a size: "32MB", "1GiB", "512KB", "1000". OUT: *out bytes. */
int ax_size_parse(const char *s, size_t len, uint64_t *out);

/* Format a float64 as Prometheus does in JSON/text: "NaN", "+Inf", "-Inf", or the shortest
 * decimal that round-trips. Writes at most 32 bytes plus NUL into out. Returns length. */
size_t ax_fmt_double(char *out, double v);

/* Format a float64 as Go's strconv.FormatFloat(v, fmt, -1, 64) does, fmt 'f' or 'e':
 * the shortest decimal that round-trips, in fixed notation ('f': 1e21 ->
 * "1000000000000000000000", 1e-7 -> "0.0000001") or exponent notation ('e': "1e+21",
 * "1.5e-07", at least two exponent digits). "NaN", "+Inf", "-Inf"; -0 is "-0". Writes at
 * most AX_FMT_GO_MAX - 1 bytes plus NUL into out. Returns the length. Prometheus' query
 * API prints sample values with 'e' when |v| < 1e-6 or >= 1e21 and 'f' otherwise, and
 * scalars with 'f'. */
#define AX_FMT_GO_MAX 400
size_t ax_fmt_go(char *out, double v, char fmt);

/* Format ms (milliseconds since the epoch) as an RFC 3339 UTC time: "2026-11-27T10:00:00Z",
 * with ".123" only when ms % 1000 != 0. Proleptic Gregorian calendar; years outside
 * 0000..9999 print with a sign or more digits (ax_time_parse reads 0000..9999 back).
 * Writes at most AX_FMT_RFC3339_MAX bytes including the NUL. Returns the length. */
#define AX_FMT_RFC3339_MAX 32
size_t ax_fmt_rfc3339(char *out, int64_t ms);

/* Parse a duration as Prometheus' HTTP API does (the step and timeout parameters): a
 * float number of seconds, of any sign ("15", "0.5", "-1", "1e3"), or a PromQL duration
 * ("15s", "1h30m", "100ms"). Fractions of a millisecond are truncated toward zero.
 * OUT: *ms_out. Returns 0 or AX_EINVAL (syntax, NaN, or beyond +-2^63 ns as Go's
 * time.Duration). */
int ax_api_duration_parse(const char *s, size_t len, int64_t *ms_out);

/* Parse a plain decimal s[0..len) ([+-]digits[.digits][(e|E)[+-]digits]) exactly as
 * strtod would, when that can be done with one exact floating-point operation (at most
 * 19 significant digits forming a mantissa below 2^53, and a power of ten within 1e±22:
 * Clinger's fast path). Returns true with *out set, or false (anything else: the caller
 * falls back to strtod). */
bool ax_decimal_fast(const char *s, size_t len, double *out);

/* ---- regex (RE2 syntax on POSIX ERE) ---- */
/* Prometheus (and PromQL's =~, relabel_configs) write regexes in Go's RE2 syntax; we run
 * them on glibc's POSIX ERE engine after translating the syntax (core/regex.c):
 *   \d \D \s \S \w \W (also inside [...]), [[:alpha:]] classes, escapes \n \t \r \f \v
 *   \a \xHH \x{HHHH} \Q...\E, punctuation escapes (also inside [...]), (?:...) groups,
 *   leading flags (?i) (?s) (?is), {n,m} up to 1000, "." not matching '\n' unless (?s),
 *   \A \z \b \B.
 * Rejected with AX_EINVAL: lazy and possessive quantifiers (*? +? ?? {n}? **), lookaround,
 *   backreferences, named groups (?P<n>...), flags anywhere but at the start, \p{..},
 *   non-ASCII characters inside [...], unbalanced parentheses, a quantifier with nothing
 *   to repeat, patterns over AX_REGEX_MAX_LEN bytes.
 * Deviations from RE2 (documented in docs/scraping.md): matching is byte-wise ("." and
 *   [^x] match one byte of a multi-byte UTF-8 character, so only whole-string patterns
 *   like ".*" or "[^/]+" behave the same on non-ASCII text); capture groups come from
 *   glibc's POSIX matcher, which can disagree with RE2's leftmost-first choice when a
 *   repeated group can match the empty string (e.g. (.?)+ on "x": glibc "x", a
 *   leftmost-first engine ""). The usual relabel shapes ((.*):(\d+), (.+);(.*),
 *   ([^:]+)(?::\d+)?;(\d+), prefix_(.+)) agree. Whether a string matches is never affected.
 * Threads: a compiled ax_regex is immutable; any number of threads may match at once. */
typedef struct ax_regex ax_regex;

/* A matched span of the subject: bytes [off, off+len); off = -1 for an unset group. */
typedef struct ax_span {
    long off;
    long len;
} ax_span;

#define AX_REGEX_MAX_LEN (1u << 20) /* pattern bytes */

/* Compile an RE2-syntax pattern pat[0..len) (need not be NUL-terminated) fully anchored,
 * as Prometheus does: ^(?:pat)$. OUT: *out (free with ax_regex_free). Returns 0,
 * AX_EINVAL (message in e names the pattern, truncated to 64 bytes, and the fault),
 * AX_ENOMEM. */
int ax_regex_compile(const char *pat, size_t len, ax_regex **out, ax_err *e);

/* Does the whole of s[0..len) match? s need not be NUL-terminated; a NUL byte inside
 * never matches. groups (may be NULL): the first n_groups spans are filled on a match,
 * [0] = whole match, [i] = RE2 capture group i (groups past ax_regex_groups() and unset
 * ones get off = -1, len = 0). Returns true on a match (groups untouched otherwise). */
bool ax_regex_match(const ax_regex *re, const char *s, size_t len, ax_span *groups,
                    size_t n_groups);

/* Number of capture groups as RE2 counts them ((?:...) not counted). */
size_t ax_regex_groups(const ax_regex *re);

void ax_regex_free(ax_regex *re);
/* Did the pattern use a lazy quantifier (*? +? ?? {n,m}?)? It matches the same strings as
 * its greedy form, which is how it is run, but RE2's capture groups could differ: callers
 * that use groups (relabeling) refuse such patterns. */
bool ax_regex_lazy(const ax_regex *re); /* accepts NULL */

/* ---- hashing: SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104) ---- */
/* Incremental SHA-256: init, update any number of times (any split gives the same digest),
 * final (writes 32 bytes and wipes the context; init again to reuse it). */
typedef struct ax_sha256_ctx {
    uint32_t h[8];        /* chaining state */
    uint64_t total_len;   /* message bytes so far */
    uint8_t buf[64];      /* partial block */
    size_t buf_len;       /* bytes in buf, < 64 between calls */
} ax_sha256_ctx;

void ax_sha256_init(ax_sha256_ctx *ctx);
void ax_sha256_update(ax_sha256_ctx *ctx, const void *p, size_t len); /* p may be NULL if len 0 */
void ax_sha256_final(ax_sha256_ctx *ctx, uint8_t out[32]);
/* One-shot SHA-256 of p[0..len). */
void ax_sha256(const void *p, size_t len, uint8_t out[32]);
/* HMAC-SHA256 of msg[0..mlen) under key[0..klen) (keys longer than 64 bytes are hashed
 * first, as RFC 2104 says). Either pointer may be NULL when its length is 0. */
void ax_hmac_sha256(const void *key, size_t klen, const void *msg, size_t mlen, uint8_t out[32]);
/* Lower-case hex of p[0..n): writes 2n characters plus a NUL into out (2n + 1 bytes). */
void ax_hex(const uint8_t *p, size_t n, char *out);

#endif
