/* server/parse_msg.h: the bits of error messages that the body parsers (text and
 * JSON-lines import) share: a printable excerpt of the input and a description of the
 * byte found where something else was expected. Server module only. */
#ifndef SRV_PARSE_MSG_H
#define SRV_PARSE_MSG_H

#include <stddef.h>

/* A printable excerpt of s[0..len) into out[0..cap): at most 40 bytes, bytes outside
 * printable ASCII (and '"', '\\') shown as '?', "..." when cut. Returns out. */
const char *srv__excerpt(char *out, size_t cap, const char *s, size_t len);
/* "'x'", "byte 0xNN", or "end of line" (s == end) for what is at s. Returns out or a
 * string constant. */
const char *srv__found(char *out, size_t cap, const char *s, const char *end);

#endif
