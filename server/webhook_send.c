/* server/webhook_send.c: deliver one webhook body with an HTTP POST (see actions.h:
 * srv_webhook_post, srv_post_retryable).
 *
 * One blocking libcurl easy handle per call, so any number of threads may post at once
 * with nothing shared (curl_global_init must have been called once, by main, before
 * threads start). The request is fenced in: http and https only, no redirects followed,
 * TLS verification left on (curl's default), one deadline for the whole transfer and a
 * connect deadline of at most 10 s, no signals (CURLOPT_NOSIGNAL: threads), no
 * "Expect: 100-continue" round trip. Nothing is printed: the response body goes into
 * out->body (first 511 bytes; the rest is read and dropped so the connection ends cleanly)
 * and any error text into out->error.
 * Result mapping: a response of any status -> out->status = it, error "" on 2xx else
 * "HTTP <code>"; a transport failure (DNS, connect, TLS, timeout, reset) -> status 0 and
 * curl's message plus its error-buffer detail; timed_out on CURLE_OPERATION_TIMEDOUT.
 */
#include "server/actions.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#ifndef AUSPEX_VERSION
#define AUSPEX_VERSION "dev"
#endif

#define CONNECT_TIMEOUT_MS 10000
#define MAX_TIMEOUT_MS (24ll * 3600 * 1000)

typedef struct sink {
    char *dst;
    size_t len, cap; /* cap excludes the NUL */
} sink;

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud) {
    sink *s = ud;
    size_t n = size * nmemb;
    size_t take = s->cap - s->len < n ? s->cap - s->len : n;
    memcpy(s->dst + s->len, p, take);
    s->len += take;
    s->dst[s->len] = '\0';
    return n; /* keep reading the rest, dropped */
}

/* A header line must not smuggle in another one. */
static bool header_ok(const char *h) {
    return h && strchr(h, ':') && !strpbrk(h, "\r\n");
}

int srv_webhook_post(const char *url, const char *body, size_t len, const char *const *headers,
                     size_t n_headers, int64_t timeout_ms, srv_post_result *out) {
    memset(out, 0, sizeof *out);
    if (!url || !*url || (!body && len) || (!headers && n_headers) || timeout_ms <= 0) {
        snprintf(out->error, sizeof out->error, "invalid webhook request");
        return AX_EINVAL;
    }
    if (timeout_ms > MAX_TIMEOUT_MS) timeout_ms = MAX_TIMEOUT_MS;

    bool have_ct = false;
    for (size_t i = 0; i < n_headers; i++) {
        if (!header_ok(headers[i])) {
            snprintf(out->error, sizeof out->error, "invalid header line %zu", i);
            return AX_EINVAL;
        }
        if (!strncasecmp(headers[i], "Content-Type:", 13)) have_ct = true;
    }

    int rc = 0;
    struct curl_slist *hl = NULL, *t;
    CURL *c = curl_easy_init();
    if (!c) rc = AX_ENOMEM;
    for (size_t i = 0; i < n_headers && !rc; i++) {
        if (!(t = curl_slist_append(hl, headers[i]))) rc = AX_ENOMEM;
        else hl = t;
    }
    if (!rc && !have_ct) {
        if (!(t = curl_slist_append(hl, "Content-Type: application/json"))) rc = AX_ENOMEM;
        else hl = t;
    }
    if (!rc) {
        if (!(t = curl_slist_append(hl, "Expect:"))) rc = AX_ENOMEM;
        else hl = t;
    }
    if (rc) {
        snprintf(out->error, sizeof out->error, "out of memory");
        goto done;
    }

    char errbuf[CURL_ERROR_SIZE];
    errbuf[0] = '\0';
    sink s = {out->body, 0, sizeof out->body - 1};
    long conn_ms = timeout_ms < CONNECT_TIMEOUT_MS ? (long)timeout_ms : CONNECT_TIMEOUT_MS;
    curl_easy_setopt(c, CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85.0 */
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "auspex/" AUSPEX_VERSION);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, conn_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 1L);
    curl_easy_setopt(c, CURLOPT_VERBOSE, 0L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);

    CURLcode cc = curl_easy_perform(c);
    if (cc == CURLE_OK) {
        long code = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        out->status = code;
        if (code < 200 || code > 299) snprintf(out->error, sizeof out->error, "HTTP %ld", code);
    } else {
        out->status = 0; /* no (complete) response: the caller may try again */
        out->timed_out = cc == CURLE_OPERATION_TIMEDOUT;
        const char *what = curl_easy_strerror(cc);
        size_t el = strlen(errbuf);
        while (el && (errbuf[el - 1] == '\n' || errbuf[el - 1] == '\r')) errbuf[--el] = '\0';
        if (errbuf[0] && strcmp(errbuf, what))
            snprintf(out->error, sizeof out->error, "%.100s: %.150s", what, errbuf);
        else
            snprintf(out->error, sizeof out->error, "%.200s", what);
    }

done:
    curl_slist_free_all(hl);
    if (c) curl_easy_cleanup(c);
    return rc;
}

bool srv_post_retryable(const srv_post_result *r) {
    if (r->status == 0 || r->timed_out) return true;  /* transport error or timeout */
    if (r->status == 408 || r->status == 429) return true;
    return r->status >= 500;                          /* 2xx done; 3xx, other 4xx permanent */
}
