/* server/ui.h: the web UI embedded in the binary (docs/ui.md).
 *
 * The files under ui/ are turned into bytes at build time by cmake/embed_ui.cmake, with a
 * gzip copy and a SHA-256 ETag each, so the server neither reads files nor compresses at
 * run time and the UI works with no network. server/ui.c serves them:
 *   GET /                 ui/index.html
 *   GET /ui/<file>        ui/<file>
 *   GET /graph, /vmui     302 to / (where Prometheus' and VictoriaMetrics' UIs live)
 * Every reply carries the ETag (If-None-Match gets 304), Cache-Control: no-cache and a
 * Content-Security-Policy that allows nothing but this origin.
 */
#ifndef SRV_UI_H
#define SRV_UI_H
#include <stddef.h>

typedef struct srv_ui_asset {
    const char *name;          /* file name under ui/, e.g. "app.js" */
    const unsigned char *data; /* the file's bytes */
    size_t len;
    const unsigned char *gz;   /* the same, gzip-compressed */
    size_t gz_len;
    const char *etag;          /* quoted: "\"<16 hex digits of SHA-256>\"" */
} srv_ui_asset;

/* Generated (build/ui_assets.c): the assets, sorted by name. */
extern const srv_ui_asset srv_ui_assets[];
extern const size_t srv_ui_asset_count;

/* The asset named name[0..len), or NULL. */
const srv_ui_asset *srv_ui_find(const char *name, size_t len);

/* The Content-Type for a file name, by its extension ("application/octet-stream" when
 * unknown). */
const char *srv_ui_content_type(const char *name);

/* True when an Accept-Encoding value v[0..len) accepts gzip (a "gzip" or "*" token whose
 * q is not 0). */
int srv_ui_accepts_gzip(const char *v, size_t len);

struct srv_app;
/* Register the routes above. Returns 0 or AX_ENOMEM. */
int srv_ui_register(struct srv_app *app);
#endif
