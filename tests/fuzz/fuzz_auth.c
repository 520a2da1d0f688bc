/* Fuzz target: the Authorization header parser and check (server/auth.c). Input bytes are
 * the header value; the parse must stay inside the value and the decode buffer, agree with
 * itself on a copy that has a different byte past the end, and the check must answer only
 * 0, 401 or 403 for every access class. */
#include "server/auth.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static srv_auth *A;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!A) {
        srv_auth_cfg cfg = {.username = "user", .password = "pass", .token = "FULL",
                            .read_token = "READ", .write_token = "WRITE"};
        ax_err e = {0};
        if (srv_auth_new(&cfg, &A, &e)) abort();
    }
    char *v = malloc(size + 1);
    if (!v) return 0;
    memcpy(v, data, size);
    v[size] = '=';  /* a byte past the end that a bounds slip would read as padding */
    char small[16];
    char big[SRV_AUTH_MAX_HEADER];
    srv_cred c1, c2;
    int r1 = srv_auth_header_parse(v, size, big, sizeof big, &c1);
    v[size] = 'A';
    int r2 = srv_auth_header_parse(v, size, big, sizeof big, &c2);
    if (r1 != r2) abort();
    if (!r1 && (c1.kind != c2.kind || c1.secret_len != c2.secret_len)) abort();
    if (!r1 && c1.kind == SRV_CRED_BASIC && c1.user_len + 1 + c1.secret_len > sizeof big) abort();
    (void)srv_auth_header_parse(v, size, small, sizeof small, &c1);
    for (int access = SRV_ACCESS_UNSET; access <= SRV_ACCESS_ANY; access++) {
        const char *msg = NULL;
        int st = srv_auth_check(A, v, size, access, &msg);
        if (st != 0 && st != 401 && st != 403) abort();
    }
    free(v);
    return 0;
}
