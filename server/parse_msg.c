/* server/parse_msg.c: shared pieces of parser error messages (see parse_msg.h). */
#include "server/parse_msg.h"

#include <stdio.h>
#include <string.h>

const char *srv__excerpt(char *out, size_t cap, const char *s, size_t len) {
    size_t n = 0, max = cap > 4 ? cap - 4 : 0, i;
    if (max > 40) max = 40;
    for (i = 0; i < len && n < max; i++) {
        unsigned char c = (unsigned char)s[i];
        out[n++] = (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') ? (char)c : '?';
    }
    if (i < len && n + 3 < cap) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    if (cap) out[n] = 0;
    return out;
}

const char *srv__found(char *out, size_t cap, const char *s, const char *end) {
    if (s >= end) return "end of line";
    unsigned char c = (unsigned char)*s;
    if (c >= 0x20 && c < 0x7f) snprintf(out, cap, "'%c'", c);
    else snprintf(out, cap, "byte 0x%02x", c);
    return out;
}
