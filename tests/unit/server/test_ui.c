/* tests/unit/server/test_ui.c: the embedded web UI (server/ui.c, cmake/embed_ui.cmake):
 * every asset is there with its gzip copy (inflated here by zlib, independently of the
 * build's libarchive) and a well-formed ETag; Accept-Encoding is read as RFC 9110 says. */
#include "server/gzip.h"
#include "server/ui.h"
#include "test.h"

#include <string.h>

TEST(test_ui_assets_embedded) {
    static const char *want[] = {"index.html", "app.js", "chart.js", "style.css"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const srv_ui_asset *a = srv_ui_find(want[i], strlen(want[i]));
        if (!a) FAILF("asset %s missing", want[i]);
        CHECK(a->len > 100);
        CHECK(a->gz_len > 18 && a->gz_len < a->len);
        ax_buf out;
        ax_buf_init(&out, 1u << 22);
        ax_err e = {0};
        CHECK_EQ_INT(0, srv_inflate(a->gz, a->gz_len, SRV_ENC_GZIP, 1u << 22, &out, &e));
        CHECK_EQ_U64(a->len, out.len);
        CHECK(!memcmp(out.data, a->data, a->len));
        ax_buf_free(&out);
        /* "\"" + 16 hex + "\"" */
        CHECK_EQ_INT(18, (int)strlen(a->etag));
        CHECK(a->etag[0] == '"' && a->etag[17] == '"');
        for (int k = 1; k < 17; k++) CHECK(strchr("0123456789abcdef", a->etag[k]) != NULL);
    }
    /* sorted and distinct, so an ETag names one file's content */
    for (size_t i = 1; i < srv_ui_asset_count; i++) {
        CHECK(strcmp(srv_ui_assets[i - 1].name, srv_ui_assets[i].name) < 0);
        CHECK(strcmp(srv_ui_assets[i - 1].etag, srv_ui_assets[i].etag) != 0);
    }
    const srv_ui_asset *idx = srv_ui_find("index.html", 10);
    CHECK(memmem(idx->data, idx->len, "ui/app.js", 9) != NULL);
}

TEST(test_ui_find_exact_names_only) {
    CHECK(srv_ui_find("app.js", 6) != NULL);
    CHECK(srv_ui_find("app.j", 5) == NULL);
    CHECK(srv_ui_find("app.jsx", 7) == NULL);
    CHECK(srv_ui_find("../app.js", 9) == NULL);
    CHECK(srv_ui_find("", 0) == NULL);
    CHECK(srv_ui_find("app.js\0", 7) == NULL);
}

TEST(test_ui_content_types) {
    CHECK_EQ_STR("text/html; charset=utf-8", srv_ui_content_type("index.html"));
    CHECK_EQ_STR("text/javascript; charset=utf-8", srv_ui_content_type("app.js"));
    CHECK_EQ_STR("text/css; charset=utf-8", srv_ui_content_type("style.css"));
    CHECK_EQ_STR("image/svg+xml", srv_ui_content_type("favicon.svg"));
    CHECK_EQ_STR("text/html; charset=utf-8", srv_ui_content_type("X.HTML"));
    CHECK_EQ_STR("application/octet-stream", srv_ui_content_type("README"));
    CHECK_EQ_STR("application/octet-stream", srv_ui_content_type("a.js.bak"));
}

TEST(test_ui_accept_encoding) {
    static const struct {
        const char *v;
        int gzip;
    } cases[] = {
        {"gzip", 1},
        {"GZip", 1},
        {"gzip, deflate, br", 1},
        {"br;q=1.0, gzip;q=0.8, *;q=0.1", 1},
        {"x-gzip", 1},
        {"*", 1},
        {"deflate, *;q=0.5", 1},
        {"", 0},
        {"identity", 0},
        {"br", 0},
        {"deflate, br", 0},
        {"gzip;q=0", 0},
        {"gzip; q=0.000", 0},
        {"gzip;q=0.001", 1},
        {"gzip ; q=0.5", 1},
        {"gzipx", 0},
        {"xgzip", 0},
        {"*;q=0", 0},
        {",,, ,gzip", 1},
        {"gzip;", 1},
        {"gzip;q=", 1},
        {"br;foo=gzip", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int got = srv_ui_accepts_gzip(cases[i].v, strlen(cases[i].v));
        if (got != cases[i].gzip) FAILF("Accept-Encoding \"%s\": want %d, got %d", cases[i].v, cases[i].gzip, got);
    }
    /* a length cut before the token ends */
    CHECK_EQ_INT(0, srv_ui_accepts_gzip("gzip", 3));
    CHECK_EQ_INT(0, srv_ui_accepts_gzip(NULL, 0));
}
