/* server/gzip.c: inflate compressed request bodies with zlib, output capped.
 *
 * zlib (zlib1g) is the reference inflater; writing our own would add a parser of
 * untrusted input for no gain. The output grows in steps up to max_out, so a small body
 * that claims gigabytes costs at most max_out bytes and the time to produce them.
 */
#include "server/gzip.h"

#include <string.h>
#include <strings.h>
#include <zlib.h>

int srv_content_encoding(const char *v, size_t len) {
    if (!v) return SRV_ENC_IDENTITY;
    while (len && (*v == ' ' || *v == '\t')) v++, len--;
    while (len && (v[len - 1] == ' ' || v[len - 1] == '\t')) len--;
    if (len == 0 || (len == 8 && !strncasecmp(v, "identity", 8))) return SRV_ENC_IDENTITY;
    if ((len == 4 && !strncasecmp(v, "gzip", 4)) || (len == 6 && !strncasecmp(v, "x-gzip", 6)))
        return SRV_ENC_GZIP;
    if (len == 7 && !strncasecmp(v, "deflate", 7)) return SRV_ENC_DEFLATE;
    return -1;
}

#define STEP (256u << 10)

int srv_inflate(const uint8_t *in, size_t len, int enc, size_t max_out, ax_buf *out, ax_err *e) {
    const char *what = enc == SRV_ENC_GZIP ? "gzip" : "deflate";
    if (len == 0) return ax_err_set(e, AX_EINVAL, "%s: empty body", what);
    z_stream z;
    memset(&z, 0, sizeof z);
    /* 16 + 15: gzip wrapper only; 15: zlib wrapper (HTTP "deflate") */
    if (inflateInit2(&z, enc == SRV_ENC_GZIP ? 16 + MAX_WBITS : MAX_WBITS) != Z_OK)
        return ax_err_set(e, AX_ENOMEM, "%s: cannot start the inflater", what);
    const uint8_t *p = in, *end = in + len;
    int rc = 0;
    for (;;) {
        /* once max_out bytes are out, inflate into a 1-byte probe: the stream may still
         * end cleanly there, but any further output byte is over the cap */
        size_t room = max_out - out->len;
        size_t step = room < STEP ? room : STEP;
        uint8_t probe;
        uint8_t *dst = &probe;
        if (step) {
            if ((rc = ax_buf_reserve(out, step))) {
                rc = rc == AX_ETOOBIG ? ax_err_set(e, AX_ETOOBIG, "%s: decompressed body exceeds %zu bytes",
                                                   what, max_out)
                                      : ax_err_set(e, AX_ENOMEM, "%s: out of memory", what);
                break;
            }
            dst = out->data + out->len;
        }
        uInt avail = step ? (uInt)step : 1;
        z.next_in = (Bytef *)p;
        z.avail_in = (uInt)((size_t)(end - p) > UINT32_MAX ? UINT32_MAX : (size_t)(end - p));
        z.next_out = dst;
        z.avail_out = avail;
        int zr = inflate(&z, Z_NO_FLUSH);
        size_t got = avail - z.avail_out;
        p = z.next_in;
        if (!step && got) {
            rc = ax_err_set(e, AX_ETOOBIG, "%s: decompressed body exceeds %zu bytes", what, max_out);
            break;
        }
        out->len += step ? got : 0;
        if (zr == Z_STREAM_END) {
            if (p == end) break;
            if (enc != SRV_ENC_GZIP) {
                rc = ax_err_set(e, AX_EINVAL, "%s: %zu bytes of trailing data", what, (size_t)(end - p));
                break;
            }
            /* concatenated members: another gzip header must follow */
            if (end - p < 2 || p[0] != 0x1f || p[1] != 0x8b) {
                rc = ax_err_set(e, AX_EINVAL, "gzip: %zu bytes of trailing data after the last member",
                                (size_t)(end - p));
                break;
            }
            inflateReset(&z);
            continue;
        }
        if (zr == Z_OK) continue;
        if (zr == Z_BUF_ERROR) {
            if (z.avail_out == 0) continue; /* output full: grow and go on */
            rc = ax_err_set(e, AX_EINVAL, "%s: truncated body (the stream ends early)", what);
            break;
        }
        if (zr == Z_MEM_ERROR) {
            rc = ax_err_set(e, AX_ENOMEM, "%s: out of memory", what);
            break;
        }
        rc = ax_err_set(e, AX_EINVAL, "%s: invalid compressed data: %s", what,
                        z.msg ? z.msg : "corrupt stream");
        break;
    }
    inflateEnd(&z);
    return rc;
}
