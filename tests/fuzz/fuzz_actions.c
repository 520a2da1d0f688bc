/* Fuzz target: what the rules' actions parse or render from text: the backtest's time
 * parameter (RFC 3339, Unix seconds, now, now-7d: server/api_backtest.c) and exec argument
 * templates with arbitrary bytes around them (server/webhook_fmt.c); and every webhook
 * format with the input as rule name and reason, checked to stay within its buffer cap. */
#include "server/actions.h"
#include "server/backtest.h"
#include "server/rules.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int64_t t;
    (void)srv_backtest_time_parse((const char *)data, size, 1700000000000, &t);
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = 0;
    double fc[3] = {1.5, NAN, 1e300};
    srv_dec_view v = {.id = 7, .rule = s, .kind = (int)(size % 4), .urgency = 0.5, .mode = "auto",
                      .now = 1700000000, .act_at = NAN, .cross_at = 1700000300, .peak_at = NAN,
                      .peak = 3, .capacity = 2, .desired = 5, .signal = s, .threshold = 80,
                      .reason = s, .yhat = fc, .lower = fc, .upper = fc, .h = 3, .step_s = 300,
                      .idempotency_key = "k", .receiver = s, .external_url = s};
    ax_buf b;
    ax_buf_init(&b, 1u << 20);
    if (srv_exec_render(s, &v, &b) == 0 && b.data && strlen((const char *)b.data) != b.len) abort();
    for (int f = SRV_WH_JSON; f <= SRV_WH_ALERTMANAGER; f++) {
        ax_buf_reset(&b);
        int rc = srv_webhook_body(f, &v, &b);
        if (rc == 0 && b.len > b.max) abort();
    }
    ax_buf_free(&b);
    free(s);
    return 0;
}
