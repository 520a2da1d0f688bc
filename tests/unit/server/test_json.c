/* Unit tests for server/json.c: strings escaped byte for byte as Go's encoding/json
 * (Prometheus' API responses) escapes them. */
#include "server/app.h"
#include "test.h"

static const char *esc(const char *s, size_t len) {
    static char out[256];
    ax_buf b;
    ax_buf_init(&b, 1024);
    if (srv_json_str(&b, s, len)) {
        ax_buf_free(&b);
        return NULL;
    }
    memcpy(out, b.data, b.len);
    out[b.len] = 0;
    ax_buf_free(&b);
    return out;
}
#define ESC(lit) esc(lit, sizeof lit - 1)

TEST(test_json_str_escapes_as_go) {
    CHECK_EQ_STR("\"plain\"", ESC("plain"));
    CHECK_EQ_STR("\"q\\\"b\\\\\"", ESC("q\"b\\"));
    CHECK_EQ_STR("\"\\n\\r\\t\\u0001\\u001f\"", ESC("\n\r\t\x01\x1f"));
    CHECK_EQ_STR("\"\\u003ctag\\u003e \\u0026\"", ESC("<tag> &"));
    CHECK_EQ_STR("\"a\\u2028b\\u2029c\"", ESC("a\xe2\x80\xa8" "b\xe2\x80\xa9" "c"));
    CHECK_EQ_STR("\"\xc3\xa9\xe2\x82\xac\"", ESC("\xc3\xa9\xe2\x82\xac")); /* é€ kept */
    CHECK_EQ_STR("\"x\xef\xbf\xbdy\"", ESC("x\xffy"));                    /* invalid: U+FFFD */
    CHECK_EQ_STR("\"\"", ESC(""));
}
