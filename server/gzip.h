/* server/gzip.h: request-body decompression (Content-Encoding: gzip, deflate).
 *
 * Owns: inflating a compressed request body into a capped buffer before a parser sees it.
 * Rules: the output is capped (the caller passes -maxInsertRequestSize), so a gzip bomb
 *   stops at the cap with AX_ETOOBIG after at most `max_out` bytes were produced; input is
 *   untrusted and every fault is an AX_EINVAL with a message. Concatenated gzip members
 *   (what `cat a.gz b.gz` and some clients produce) are inflated one after another, as
 *   gzip(1) and Go's gzip.Reader do. Trailing bytes that are not a gzip member are an error.
 * Threads: a pure function; run it off the loop (it can take a while on a big body).
 */
#ifndef SRV_GZIP_H
#define SRV_GZIP_H

#include "core/core.h"

enum { SRV_ENC_IDENTITY, SRV_ENC_GZIP, SRV_ENC_DEFLATE };

/* Which of the encodings above a Content-Encoding header value names (case-insensitive,
 * surrounding spaces allowed; "x-gzip" is gzip; NULL or empty is identity). Returns the
 * SRV_ENC_* value, or -1 for anything else. */
int srv_content_encoding(const char *v, size_t len);

/* Inflate in[0..len) (`enc`: SRV_ENC_GZIP for gzip members, SRV_ENC_DEFLATE for a zlib
 * stream, as HTTP's "deflate" means) into out, which the caller has ax_buf_init'ed; at
 * most max_out bytes are produced. Returns 0, AX_EINVAL (not valid gzip/zlib data,
 * truncated, bad checksum, trailing garbage), AX_ETOOBIG (the output would exceed
 * max_out), AX_ENOMEM; the message in e (may be NULL) says which. On failure out holds
 * partial output that the caller must not use (it is still the caller's to free). */
int srv_inflate(const uint8_t *in, size_t len, int enc, size_t max_out, ax_buf *out, ax_err *e);

#endif
