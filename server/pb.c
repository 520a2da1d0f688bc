/* server/pb.c: the out-of-line halves of the protobuf reading helpers (slow varint and tag
 * paths, skipping, error messages) and snappy block decode/encode with caps, for the
 * remote-write and remote-read codecs. The fast paths are inline in server/pb.h. */
#include "server/pb.h"

#include <snappy-c.h>
#include <stdio.h>
#include <string.h>

/* ---- protobuf ---- */

int srv__pb_varint_slow(const uint8_t **pp, const uint8_t *end, uint64_t *out) {
    const uint8_t *p = *pp;
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (p >= end) return SRV_PB_TRUNC;
        uint8_t c = *p++;
        if (shift == 63 && c > 1) return SRV_PB_LONG;
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *pp = p;
            *out = v;
            return SRV_PB_OK;
        }
    }
    return SRV_PB_LONG;
}

int srv__pb_fail_at(srv_pb_dec *d, const uint8_t *at, const char *what, const char *msg) {
    return ax_err_set(d->e, AX_EINVAL, "protobuf: %s %s at byte %zu", msg, what,
                      (size_t)(at - d->base));
}

int srv__pb_fail_varint(srv_pb_dec *d, int vrc, const uint8_t *at, const char *what) {
    return srv__pb_fail_at(d, at, what,
                           vrc == SRV_PB_LONG ? "varint longer than 10 bytes in" : "truncated");
}

int srv__pb_wrong_type(srv_pb_dec *d, const uint8_t *at, const char *what, uint32_t field,
                       int wt, int want) {
    return ax_err_set(d->e, AX_EINVAL,
                      "protobuf: field %u of %s at byte %zu has wire type %d, want %d", field,
                      what, (size_t)(at - d->base), wt, want);
}

int srv__pb_tag_slow(srv_pb_dec *d, const uint8_t **pp, const uint8_t *end, const char *what,
                     uint32_t *field, int *wt) {
    uint64_t t;
    const uint8_t *at = *pp;
    int vrc = srv_pb_varint(pp, end, &t);
    if (vrc) return srv__pb_fail_varint(d, vrc, at, what);
    int w = (int)(t & 7);
    if (t >> 3 == 0 || t >> 3 > 0x1fffffff)
        return ax_err_set(d->e, AX_EINVAL, "protobuf: invalid field number %llu in %s at byte %zu",
                          (unsigned long long)(t >> 3), what, (size_t)(at - d->base));
    if (w == SRV_PB_SGROUP || w == SRV_PB_EGROUP)
        return ax_err_set(d->e, AX_EINVAL,
                          "protobuf: group (wire type %d) in %s at byte %zu: not supported", w,
                          what, (size_t)(at - d->base));
    if (!(SRV_PB_WT_OK_MASK >> w & 1))
        return ax_err_set(d->e, AX_EINVAL, "protobuf: invalid wire type %d in %s at byte %zu", w,
                          what, (size_t)(at - d->base));
    *wt = w;
    *field = (uint32_t)(t >> 3);
    return 0;
}

int srv__pb_skip(srv_pb_dec *d, const uint8_t **pp, const uint8_t *end, const uint8_t *at,
                 const char *what, int wt) {
    uint64_t v;
    size_t n = 0;
    int vrc, rc;
    switch (wt) {
    case SRV_PB_VARINT:
        vrc = srv_pb_varint(pp, end, &v);
        return vrc ? srv__pb_fail_varint(d, vrc, at, what) : 0;
    case SRV_PB_I64:
        if (end - *pp < 8) return srv__pb_fail_at(d, at, what, "truncated");
        *pp += 8;
        return 0;
    case SRV_PB_I32:
        if (end - *pp < 4) return srv__pb_fail_at(d, at, what, "truncated");
        *pp += 4;
        return 0;
    case SRV_PB_LEN:
        if ((rc = srv_pb_len(d, pp, end, at, what, &n))) return rc;
        *pp += n;
        return 0;
    }
    AX_ASSERT(0 && "srv_pb_tag admits only wire types 0, 1, 2, 5");
    return AX_EINVAL;
}

/* ---- sizes and arena ---- */

void srv__fmt_size(char *out, size_t cap, size_t v) {
    const size_t mb = 1024 * 1024;
    if (v < mb) snprintf(out, cap, "%zu bytes", v);
    else if (v % mb == 0) snprintf(out, cap, "%zu MB", v / mb);
    else snprintf(out, cap, "%.1f MB", (double)v / (double)mb);
}

int srv__arena_array(ax_arena *a, size_t n, size_t size, const char *what, void **out,
                     ax_err *e) {
    *out = NULL;
    if (!n) return 0;
    if (n > SIZE_MAX / size) return ax_err_set(e, AX_ETOOBIG, "%s: size overflow", what);
    size_t len = n * size;
    void *p = ax_arena_alloc(a, len);
    if (!p) {
        size_t room = a->max > a->used ? a->max - a->used : 0;
        if (len + (128 << 10) >= room) {
            char need[32], budget[32];
            srv__fmt_size(need, sizeof need, len);
            srv__fmt_size(budget, sizeof budget, a->max);
            return ax_err_set(e, AX_ETOOBIG, "%s needs %s more than the request budget of %s",
                              what, need, budget);
        }
        return ax_err_set(e, AX_ENOMEM, "%s: out of memory", what);
    }
    *out = p;
    return 0;
}

/* ---- snappy ---- */

/* Snappy refused the body: say what it looks like when that is recognisable. */
static int not_snappy(const uint8_t *body, size_t len, const char *proto, const char *why,
                      ax_err *e) {
    if (len >= 10 && !memcmp(body, "\xff\x06\x00\x00sNaPpY", 10))
        return ax_err_set(e, AX_EINVAL,
                          "snappy: body is in framed format; %s uses the block format", proto);
    if (len >= 2 && body[0] == 0x1f && body[1] == 0x8b)
        return ax_err_set(e, AX_EINVAL, "snappy: body is gzip, not snappy");
    if (len >= 4 && !memcmp(body, "\x28\xb5\x2f\xfd", 4))
        return ax_err_set(e, AX_EINVAL, "snappy: body is zstd, not snappy");
    return ax_err_set(e, AX_EINVAL, "snappy: %s", why);
}

int srv__snappy_decode(const uint8_t *body, size_t len, size_t max_decoded, const char *proto,
                       ax_arena *a, const uint8_t **out, size_t *out_len, ax_err *e) {
    size_t dlen = 0;
    if (len == 0) return ax_err_set(e, AX_EINVAL, "snappy: empty body");
    if (snappy_uncompressed_length((const char *)body, len, &dlen) != SNAPPY_OK)
        return not_snappy(body, len, proto, "body is not snappy block format (bad length header)",
                          e);
    if (dlen > max_decoded) {
        char have[32], cap[32];
        srv__fmt_size(have, sizeof have, dlen);
        srv__fmt_size(cap, sizeof cap, max_decoded);
        return ax_err_set(e, AX_ETOOBIG, "snappy: decoded length %s exceeds %s", have, cap);
    }
    void *buf = NULL;
    int rc = srv__arena_array(a, dlen ? dlen : 1, 1, "snappy: decoded body", &buf, e);
    if (rc) return rc;
    size_t got = dlen;
    if (snappy_uncompress((const char *)body, len, buf, &got) != SNAPPY_OK || got != dlen)
        return not_snappy(body, len, proto,
                          "corrupt data (not snappy block format, or truncated)", e);
    *out = buf;
    *out_len = dlen;
    return 0;
}

int srv__snappy_encode(ax_buf *dst, const uint8_t *src, size_t len) {
    if (len > UINT32_MAX - 1) { /* snappy's length header is 32 bits */
        dst->len = 0;
        return AX_ETOOBIG;
    }
    size_t olen = snappy_max_compressed_length(len);
    int rc = ax_buf_reserve(dst, olen);
    if (rc) return rc;
    if (snappy_compress((const char *)src, len, (char *)dst->data + dst->len, &olen) != SNAPPY_OK)
        return AX_ENOMEM; /* only when the output room is short, which reserve rules out */
    dst->len += olen;
    return 0;
}
