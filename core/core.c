/* core/core.c: status names, ax_err, capped buffers, arenas, varints, hashing.
 *
 * Labels live in labels.c and time/size parsing in timefmt.c; this file holds the
 * memory primitives every other layer builds on. Buffers and arenas enforce their
 * ceilings here, so callers never have to remember to.
 */
#include "core.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *ax_strerror(int rc) {
    switch (rc) {
    case AX_OK: return "OK";
    case AX_EINVAL: return "EINVAL";
    case AX_ETOOBIG: return "ETOOBIG";
    case AX_ELIMIT: return "ELIMIT";
    case AX_ENOMEM: return "ENOMEM";
    case AX_EIO: return "EIO";
    case AX_ECORRUPT: return "ECORRUPT";
    case AX_EFULL: return "EFULL";
    case AX_ENOTFOUND: return "ENOTFOUND";
    case AX_EAGAIN: return "EAGAIN";
    case AX_ETIMEOUT: return "ETIMEOUT";
    default: return "EUNKNOWN";
    }
}

int ax_err_set(ax_err *e, int code, const char *fmt, ...) {
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
        e->code = code;
    }
    return code;
}

void ax__bug(const char *file, int line, const char *what) {
    fprintf(stderr, "BUG: %s:%d: assertion failed: %s\n", file, line, what);
    abort();
}

/* ---- ax_buf ---- */

void ax_buf_init(ax_buf *b, size_t max) {
    b->data = NULL;
    b->len = b->cap = 0;
    b->max = max;
}

int ax_buf_reserve(ax_buf *b, size_t extra) {
    if (extra <= b->cap - b->len) return 0;
    if (extra > b->max || b->len > b->max - extra) {
        b->len = 0;
        return AX_ETOOBIG;
    }
    size_t need = b->len + extra;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (cap > b->max) cap = b->max;
    uint8_t *p = realloc(b->data, cap);
    if (!p) return AX_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int ax_buf_append(ax_buf *b, const void *p, size_t len) {
    int rc = ax_buf_reserve(b, len);
    if (rc) return rc;
    if (len) memcpy(b->data + b->len, p, len);
    b->len += len;
    return 0;
}

int ax_buf_append_str(ax_buf *b, const char *s) { return ax_buf_append(b, s, strlen(s)); }

int ax_buf_printf(ax_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char tmp[512];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return AX_EINVAL;
    if ((size_t)n < sizeof tmp) return ax_buf_append(b, tmp, (size_t)n);
    int rc = ax_buf_reserve(b, (size_t)n + 1);
    if (rc) return rc;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

int ax_buf_put_uvarint(ax_buf *b, uint64_t v) {
    int rc = ax_buf_reserve(b, 10);
    if (rc) return rc;
    b->len += ax_uvarint_put(b->data + b->len, v);
    return 0;
}

int ax_buf_put_u8(ax_buf *b, uint8_t v) { return ax_buf_append(b, &v, 1); }

int ax_buf_put_u32le(ax_buf *b, uint32_t v) {
    uint8_t t[4];
    ax_put_u32le(t, v);
    return ax_buf_append(b, t, 4);
}

int ax_buf_put_u64le(ax_buf *b, uint64_t v) {
    uint8_t t[8];
    ax_put_u64le(t, v);
    return ax_buf_append(b, t, 8);
}

void ax_buf_reset(ax_buf *b) { b->len = 0; }

void ax_buf_free(ax_buf *b) {
    if (!b) return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* ---- varints ---- */

size_t ax_uvarint_put(uint8_t *p, uint64_t v) {
    size_t i = 0;
    while (v >= 0x80) {
        p[i++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[i++] = (uint8_t)v;
    return i;
}

int ax_uvarint_get(const uint8_t **pp, const uint8_t *end, uint64_t *out) {
    const uint8_t *p = *pp;
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (p >= end) return AX_EINVAL;
        uint8_t c = *p++;
        if (shift == 63 && c > 1) return AX_EINVAL;
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *pp = p;
            *out = v;
            return 0;
        }
    }
    return AX_EINVAL;
}

/* ---- arena ---- */

struct ax_arena_blk {
    ax_arena_blk *next;
    size_t cap, used;
    _Alignas(16) uint8_t data[];
};

#define ARENA_BLOCK (64 * 1024)

void ax_arena_init(ax_arena *a, size_t max) {
    a->head = NULL;
    a->used = 0;
    a->max = max;
}

void *ax_arena_alloc(ax_arena *a, size_t len) {
    len = (len + 15) & ~(size_t)15;
    if (len == 0) len = 16;
    ax_arena_blk *b = a->head;
    if (!b || b->cap - b->used < len) {
        size_t cap = len > ARENA_BLOCK / 2 ? len : ARENA_BLOCK;
        if (cap + sizeof *b > a->max || a->used > a->max - cap - sizeof *b) return NULL;
        ax_arena_blk *nb = malloc(sizeof *nb + cap);
        if (!nb) return NULL;
        nb->cap = cap;
        nb->used = 0;
        a->used += cap + sizeof *nb;
        if (b && cap != ARENA_BLOCK) {
            /* big one-off block: keep the current block on top for small allocations */
            nb->next = b->next;
            b->next = nb;
            nb->used = len;
            return nb->data;
        }
        nb->next = b;
        a->head = b = nb;
    }
    void *p = b->data + b->used;
    b->used += len;
    return p;
}

void *ax_arena_dup(ax_arena *a, const void *p, size_t len) {
    void *d = ax_arena_alloc(a, len);
    if (d && len) memcpy(d, p, len);
    return d;
}

char *ax_arena_strndup(ax_arena *a, const char *p, size_t len) {
    char *d = ax_arena_alloc(a, len + 1);
    if (!d) return NULL;
    if (len) memcpy(d, p, len);
    d[len] = 0;
    return d;
}

void ax_arena_clear(ax_arena *a) {
    ax_arena_blk *b = a->head;
    while (b) {
        ax_arena_blk *n = b->next;
        free(b);
        b = n;
    }
    a->head = NULL;
    a->used = 0;
}

/* ---- hash: 64-bit multiply-mix over 8-byte words (wyhash-style folding) ---- */

static inline uint64_t mix(uint64_t a, uint64_t b) {
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static inline uint64_t rd64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

uint64_t ax_hash(const void *data, size_t len, uint64_t seed) {
    const uint8_t *p = data;
    const uint64_t k0 = 0xa0761d6478bd642full, k1 = 0xe7037ed1a0b428dbull,
                   k2 = 0x8ebc6af09c88c6e3ull;
    uint64_t h = seed ^ mix(seed ^ k0, k1) ^ len;
    size_t i = len;
    while (i >= 16) {
        h = mix(rd64(p) ^ k1, rd64(p + 8) ^ h);
        p += 16;
        i -= 16;
    }
    uint64_t a = 0, b = 0;
    if (i >= 8) {
        a = rd64(p);
        p += 8;
        i -= 8;
    }
    for (size_t j = 0; j < i; j++) b |= (uint64_t)p[j] << (8 * j);
    h = mix(a ^ k2 ^ h, b ^ k1);
    return mix(h ^ k0, h ^ len);
}
