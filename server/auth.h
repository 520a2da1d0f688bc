/* server/auth.h: access control of the HTTP API (-httpAuth.*; docs/security.md).
 *
 * Owns: the secrets' digests, the Authorization header parser (Basic and Bearer), the
 *   constant-time comparison, the table that gives every route an access class
 *   (SRV_ACCESS_PUBLIC / _READ / _WRITE, see server/http.h) and the gate that
 *   server/http.c runs before a route's handler (srv_http_set_gate).
 * Credentials and what they may do:
 *   basic auth (-httpAuth.username + -httpAuth.password) and the full token
 *     (-httpAuth.token, `Authorization: Bearer <t>`): every route;
 *   the read token (-httpAuth.readToken): read routes only; the write token
 *     (-httpAuth.writeToken): write routes only.
 *   no or malformed credentials -> 401 (with WWW-Authenticate Basic and Bearer); valid
 *   credentials of the wrong class -> 403. Public routes ignore the header.
 * Secrets: kept only as HMAC-SHA256 digests under a random per-process key; a presented
 *   secret is digested the same way and the 32-byte digests compared in constant time, so
 *   neither content nor length leaks through timing. Secrets are never printed.
 * Threads: srv_auth is immutable after srv_auth_new; the gate runs on the loop thread.
 */
#ifndef SRV_AUTH_H
#define SRV_AUTH_H

#include "core/core.h"
#include "server/http.h"

#include <stdbool.h>
#include <stddef.h>

#define SRV_AUTH_MAX_HEADER 4096   /* longer Authorization values are refused (401) */
#define SRV_AUTH_MAX_SECRET 4096   /* longest secret from a flag, file or environment */

/* The configuration, as main resolved it (secrets already loaded, see srv_auth_secret_load).
 * NULL or "" means not set. Borrowed by srv_auth_new, which keeps only digests. */
typedef struct srv_auth_cfg {
    const char *username, *password; /* basic auth: both or neither */
    const char *token;               /* full access */
    const char *read_token;          /* read routes only */
    const char *write_token;         /* write routes only */
} srv_auth_cfg;

typedef struct srv_auth srv_auth;

/* Digest the configured secrets. OUT: *out (NULL when nothing is configured: no auth).
 * Returns 0, AX_EINVAL (username without password or the reverse; e says which) or
 * AX_ENOMEM. */
int srv_auth_new(const srv_auth_cfg *cfg, srv_auth **out, ax_err *e);
void srv_auth_free(srv_auth *a);

/* Resolve a secret flag value: "file:<path>" (the file's bytes, read once, trailing CR/LF
 * trimmed), "env:<NAME>" (that environment variable) or the value itself. OUT: *out
 * (malloc'd, NUL-terminated; the caller wipes and frees it). Returns 0, AX_EIO (file
 * unreadable: e names the file, never its content), AX_ENOTFOUND (variable not set),
 * AX_ETOOBIG (over SRV_AUTH_MAX_SECRET bytes), AX_EINVAL (empty secret), AX_ENOMEM. */
int srv_auth_secret_load(const char *value, char **out, ax_err *e);

/* ---- the Authorization header ---- */

enum { SRV_CRED_BASIC = 1, SRV_CRED_BEARER };

typedef struct srv_cred {
    int kind;              /* SRV_CRED_* */
    const char *user;      /* Basic: the user name (in buf); Bearer: NULL */
    size_t user_len;
    const char *secret;    /* Basic: the password (in buf); Bearer: the token (in v) */
    size_t secret_len;
} srv_cred;

/* Parse an Authorization value v[0..len) (not NUL-terminated): `Basic <base64(user:pass)>`
 * or `Bearer <token>`, scheme case-insensitive, blanks around the credentials ignored.
 * Base64 (standard alphabet, padding optional) is decoded into buf[0..cap) with every
 * index checked. OUT: *out, pointing into v and buf. Returns 0, AX_EINVAL (unknown scheme,
 * empty credentials, bad base64, no ':' in Basic, control bytes in the token) or
 * AX_ETOOBIG (len over SRV_AUTH_MAX_HEADER or decoded bytes over cap). */
int srv_auth_header_parse(const char *v, size_t len, char *buf, size_t cap, srv_cred *out);

/* True when a[0..n) == b[0..n); the time depends on n only (no early exit). */
bool srv_auth_ct_equal(const void *a, const void *b, size_t n);

/* What credentials may do, as a bit mask: SRV_ROLE_READ | SRV_ROLE_WRITE = full access. */
enum { SRV_ROLE_READ = 1, SRV_ROLE_WRITE = 2, SRV_ROLE_FULL = 3 };

/* Decide on a request to a route of class `access` (SRV_ACCESS_*) carrying Authorization
 * value hdr[0..len) (hdr NULL: no header). Returns 0 (allowed), 401 (missing, malformed or
 * wrong credentials) or 403 (valid credentials that may not do this), with a static reason
 * in *msg. */
int srv_auth_check(const srv_auth *a, const char *hdr, size_t len, int access, const char **msg);

/* The srv_gate_fn for srv_http_set_gate; ctx is the srv_auth. */
int srv_auth_gate(const srv_req *r, int access, void *ctx, const char **msg);

/* ---- route classes ---- */

/* Give every registered route of h its access class from the table in server/auth.c;
 * /metrics is public when public_metrics, /-/healthy, /-/ready and /health when
 * public_health (else both are read routes). Routes the table lacks keep SRV_ACCESS_UNSET
 * (full credentials only): returns AX_ENOTFOUND naming the first in e, after classifying
 * all the others; else 0. */
int srv_auth_classify(srv_http *h, bool public_metrics, bool public_health, ax_err *e);

#endif
