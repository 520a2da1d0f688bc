/* server/ui.c: serve the embedded web UI (server/ui.h, docs/ui.md).
 *
 * The assets are static bytes, so a reply is one srv_reply from the loop thread: no file
 * I/O, no compression, no work item. The gzip copy goes to clients that accept it; the
 * ETag lets a browser revalidate with a 304 instead of downloading again.
 */
#include "server/ui.h"
#include "server/app.h"

#include <string.h>
#include <strings.h>

/* Only this origin: the UI's own script and style, fetches to the API, drawn SVG. */
static const char csp[] = "default-src 'none'; script-src 'self'; style-src 'self'; "
                          "img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
                          "form-action 'self'; frame-ancestors 'none'";

const srv_ui_asset *srv_ui_find(const char *name, size_t len) {
    for (size_t i = 0; i < srv_ui_asset_count; i++)
        if (strlen(srv_ui_assets[i].name) == len && !memcmp(srv_ui_assets[i].name, name, len))
            return &srv_ui_assets[i];
    return NULL;
}

const char *srv_ui_content_type(const char *name) {
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},   {".svg", "image/svg+xml"},
        {".json", "application/json"},         {".png", "image/png"},
        {".ico", "image/x-icon"},
    };
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (!strcasecmp(dot, types[i].ext)) return types[i].type;
    return "application/octet-stream";
}

static int is_blank(char c) { return c == ' ' || c == '\t'; }

int srv_ui_accepts_gzip(const char *v, size_t len) {
    size_t i = 0;
    while (i < len) {
        /* one element: token [; q=value] up to the next comma */
        while (i < len && (is_blank(v[i]) || v[i] == ',')) i++;
        size_t tok = i;
        while (i < len && v[i] != ',' && v[i] != ';' && !is_blank(v[i])) i++;
        size_t tok_len = i - tok;
        int q_zero = 0;
        while (i < len && v[i] != ',') {
            /* parameters: only q matters; q=0, q=0.0, q=0.000 refuse */
            while (i < len && (is_blank(v[i]) || v[i] == ';')) i++;
            if (i + 1 < len && (v[i] == 'q' || v[i] == 'Q') && v[i + 1] == '=') {
                i += 2;
                q_zero = i < len && v[i] == '0';
                if (q_zero && i + 1 < len && v[i + 1] == '.')
                    for (size_t k = i + 2; k < len && v[k] >= '0' && v[k] <= '9'; k++)
                        if (v[k] != '0') q_zero = 0;
            }
            while (i < len && v[i] != ',' && v[i] != ';') i++;
        }
        if (((tok_len == 4 && !strncasecmp(v + tok, "gzip", 4)) ||
             (tok_len == 6 && !strncasecmp(v + tok, "x-gzip", 6)) ||
             (tok_len == 1 && v[tok] == '*')) &&
            !q_zero)
            return 1;
    }
    return 0;
}

static void reply_asset(srv_req *r, const srv_ui_asset *a) {
    size_t inm_len = 0, ae_len = 0;
    const char *inm = srv_req_header(r, "If-None-Match", &inm_len);
    const char *ae = srv_req_header(r, "Accept-Encoding", &ae_len);
    int rc = srv_reply_header(r, "ETag", a->etag);
    if (!rc) rc = srv_reply_header(r, "Cache-Control", "no-cache");
    if (!rc) rc = srv_reply_header(r, "Vary", "Accept-Encoding");
    if (!rc) rc = srv_reply_header(r, "X-Content-Type-Options", "nosniff");
    if (!rc) rc = srv_reply_header(r, "Content-Security-Policy", csp);
    if (!rc) rc = srv_reply_header(r, "Referrer-Policy", "no-referrer");
    if (rc) {
        srv_reply_error(r, 500, "internal", "ui: %s", ax_strerror(rc));
        return;
    }
    if (inm && inm_len == strlen(a->etag) && !memcmp(inm, a->etag, inm_len)) {
        srv_reply(r, 304, NULL, NULL, 0);
        return;
    }
    const char *type = srv_ui_content_type(a->name);
    if (ae && srv_ui_accepts_gzip(ae, ae_len) && !srv_reply_header(r, "Content-Encoding", "gzip"))
        srv_reply(r, 200, type, a->gz, a->gz_len);
    else
        srv_reply(r, 200, type, a->data, a->len);
}

static void h_index(srv_req *r, void *ctx) {
    const srv_ui_asset *a = srv_ui_find("index.html", 10);
    if (!a) srv_reply_error(r, 404, "not_found", "this build has no web UI");
    else reply_asset(r, a);
}

static void h_asset(srv_req *r, void *ctx) {
    size_t len = 0;
    const char *path = srv_req_path(r, &len);
    static const char pre[] = "/ui/";
    const char *name = path + sizeof pre - 1;
    size_t name_len = len - (sizeof pre - 1);
    const srv_ui_asset *a = name_len ? srv_ui_find(name, name_len) : srv_ui_find("index.html", 10);
    if (!a)
        srv_reply_error(r, 404, "not_found", "no UI file %.*s", (int)(name_len > 128 ? 128 : name_len),
                        name);
    else reply_asset(r, a);
}

static void h_to_root(srv_req *r, void *ctx) {
    if (srv_reply_header(r, "Location", "/")) srv_reply_error(r, 500, "internal", "redirect");
    else srv_reply(r, 302, "text/plain; charset=utf-8", "see /\n", 6);
}

int srv_ui_register(srv_app *app) {
    srv_http *h = app->http;
    int rc = srv_http_route(h, SRV_GET, "/", false, h_index, app);
    if (!rc) rc = srv_http_route(h, SRV_GET, "/ui/", true, h_asset, app);
    if (!rc) rc = srv_http_route(h, SRV_GET, "/graph", false, h_to_root, app);
    if (!rc) rc = srv_http_route(h, SRV_GET, "/vmui", false, h_to_root, app);
    if (!rc) rc = srv_http_route(h, SRV_GET, "/vmui/", false, h_to_root, app);
    return rc;
}
