/* server/pb.h: protobuf wire-format reading and snappy block helpers shared by the
 * remote-write (server/remote_write.c) and remote-read (server/remote_read.c) codecs.
 * Server module only.
 *
 * Protobuf rules the helpers enforce (proto3, as Prometheus' gogo-generated code reads
 * it): wire types 0 (varint), 1 (fixed64), 2 (length-delimited) and 5 (fixed32) only;
 * groups (3, 4), wire types 6/7, field number 0 and field numbers over 2^29-1 are errors,
 * as are varints longer than 10 bytes. Every read is checked against an end pointer and
 * advances only on success. Error messages name the message type and the byte offset
 * from `base` (the start of the decompressed protobuf): "protobuf: truncated Label at
 * byte 12".
 * Snappy: block format (not framed). The decoder checks the declared length against the
 * caller's cap before it allocates; the result lives in the caller's arena.
 * Threads: pure functions; callers run them on worker threads, never on the loop.
 */
#ifndef SRV_PB_H
#define SRV_PB_H

#include "core/core.h"

/* wire types */
enum { SRV_PB_VARINT = 0, SRV_PB_I64 = 1, SRV_PB_LEN = 2, SRV_PB_SGROUP = 3, SRV_PB_EGROUP = 4,
       SRV_PB_I32 = 5 };
/* srv_pb_varint results */
enum { SRV_PB_OK = 0, SRV_PB_TRUNC = 1, SRV_PB_LONG = 2 };

/* Parsing context: the start of the protobuf (for offsets in messages) and the error. */
typedef struct srv_pb_dec {
    const uint8_t *base;
    ax_err *e;
} srv_pb_dec;

/* The varint decoder behind srv_pb_varint's fast path. */
int srv__pb_varint_slow(const uint8_t **pp, const uint8_t *end, uint64_t *out);

/* Unsigned varint at *pp (< end). OUT: *out. Advances only on success. Returns SRV_PB_OK,
 * SRV_PB_TRUNC or SRV_PB_LONG (more than 10 bytes, or a 10th byte above 1). */
static inline __attribute__((always_inline)) int srv_pb_varint(const uint8_t **pp,
                                                               const uint8_t *end,
                                                               uint64_t *out) {
    const uint8_t *p = *pp;
    if (p < end && p[0] < 0x80) {
        *out = p[0];
        *pp = p + 1;
        return SRV_PB_OK;
    }
    if (end - p >= 2 && p[1] < 0x80) {
        *out = (uint64_t)(p[0] & 0x7f) | (uint64_t)p[1] << 7;
        *pp = p + 2;
        return SRV_PB_OK;
    }
    return srv__pb_varint_slow(pp, end, out);
}

/* Set d->e to "protobuf: <msg> <what> at byte N" (N = at - d->base). Returns AX_EINVAL. */
int srv__pb_fail_at(srv_pb_dec *d, const uint8_t *at, const char *what, const char *msg);
/* The message for a failed srv_pb_varint (vrc) in message type `what`. Returns AX_EINVAL. */
int srv__pb_fail_varint(srv_pb_dec *d, int vrc, const uint8_t *at, const char *what);
/* "field F of <what> at byte N has wire type W, want V". Returns AX_EINVAL. */
int srv__pb_wrong_type(srv_pb_dec *d, const uint8_t *at, const char *what, uint32_t field,
                       int wt, int want);
/* The tag reader behind srv_pb_tag's fast path. */
int srv__pb_tag_slow(srv_pb_dec *d, const uint8_t **pp, const uint8_t *end, const char *what,
                     uint32_t *field, int *wt);

/* Read one field tag at *pp inside message type `what` (for errors). OUT: *field, *wt.
 * Returns 0 or AX_EINVAL (see the rules above). */
#define SRV_PB_WT_OK_MASK \
    (1u << SRV_PB_VARINT | 1u << SRV_PB_I64 | 1u << SRV_PB_LEN | 1u << SRV_PB_I32)
static inline __attribute__((always_inline)) int srv_pb_tag(srv_pb_dec *d, const uint8_t **pp,
                                                            const uint8_t *end, const char *what,
                                                            uint32_t *field, int *wt) {
    const uint8_t *p = *pp;
    if (p < end && p[0] < 0x80 && p[0] >= 8 && (SRV_PB_WT_OK_MASK >> (p[0] & 7) & 1)) {
        *field = p[0] >> 3;
        *wt = p[0] & 7;
        *pp = p + 1;
        return 0;
    }
    return srv__pb_tag_slow(d, pp, end, what, field, wt);
}

/* Read the length of a length-delimited field and check it against end. `at` is the
 * field's tag, for the message. OUT: *len. Returns 0 or AX_EINVAL. */
static inline int srv_pb_len(srv_pb_dec *d, const uint8_t **pp, const uint8_t *end,
                             const uint8_t *at, const char *what, size_t *len) {
    uint64_t n;
    int vrc = srv_pb_varint(pp, end, &n);
    if (vrc) return srv__pb_fail_varint(d, vrc, at, what);
    if (n > (uint64_t)(end - *pp)) return srv__pb_fail_at(d, at, what, "truncated");
    *len = (size_t)n;
    return 0;
}

/* Skip the value of a field of wire type wt (its tag already read by srv_pb_tag; `at`
 * points to the tag). Returns 0 or AX_EINVAL (truncated). */
int srv__pb_skip(srv_pb_dec *d, const uint8_t **pp, const uint8_t *end, const uint8_t *at,
                 const char *what, int wt);

/* Bytes a varint of v takes (1..10). */
static inline size_t srv_pb_vsize(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* "12 bytes", "32 MB", "1.5 MB" into out[0..cap). */
void srv__fmt_size(char *out, size_t cap, size_t v);

/* n * size bytes from the arena, for `what` (named in the message). OUT: *out (NULL when
 * n is 0). Returns 0, AX_ETOOBIG (over the arena's budget) or AX_ENOMEM (malloc failed
 * below it). */
int srv__arena_array(ax_arena *a, size_t n, size_t size, const char *what, void **out,
                     ax_err *e);

/* Decompress a snappy block-format body into the arena. `proto` names the protocol in
 * messages ("remote write"). max_decoded caps the declared decompressed length, checked
 * before anything is allocated. OUT: *out, *out_len (the decompressed bytes; *out is never
 * NULL). Returns 0, AX_EINVAL (empty, not snappy, corrupt or truncated: the message says
 * when the body looks like framed snappy, gzip or zstd), AX_ETOOBIG (declared length over
 * max_decoded, or over the arena budget), AX_ENOMEM. */
int srv__snappy_decode(const uint8_t *body, size_t len, size_t max_decoded, const char *proto,
                       ax_arena *a, const uint8_t **out, size_t *out_len, ax_err *e);

/* Append snappy block format of src[0..len) to dst, compressing straight into dst's
 * memory. Returns 0, AX_ETOOBIG (len over 4 GiB - 1 or dst's ceiling; dst emptied),
 * AX_ENOMEM. */
int srv__snappy_encode(ax_buf *dst, const uint8_t *src, size_t len);

#endif
