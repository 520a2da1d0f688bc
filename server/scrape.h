/* server/scrape.h: the built-in scraper (-promscrape.config), run on the event loop.
 *
 * Owns: one scrape loop per target of the config (server/scrape_config.h computes the
 *   targets): a timer, an HTTP GET through libcurl's multi interface driven by the libuv
 *   loop (sockets watched with uv_poll, curl's timeout on a uv_timer), and for each
 *   finished scrape a work item on the threadpool that parses the body (text exposition,
 *   server/text_import.h), merges the target labels, applies metric_relabel_configs and
 *   sample_limit, adds the report series and the staleness markers, and writes it all
 *   with one eng_write.
 * Behaviour follows Prometheus 2.42 (scrape/scrape.go), see docs/scraping.md:
 *   - report series per scrape with the target's labels: up, scrape_duration_seconds,
 *     scrape_samples_scraped, scrape_samples_post_metric_relabeling, scrape_series_added;
 *   - a failed scrape (connection error, timeout, non-2xx status, body over
 *     -promscrape.maxScrapeSize, a parse error, sample_limit exceeded) writes up=0 and
 *     stores none of the scraped samples;
 *   - staleness: a series written by the previous scrape (without an explicit timestamp)
 *     and missing from this one, or every such series when this scrape failed, gets the
 *     stale-NaN marker at this scrape's time;
 *   - honor_labels: a scraped label that clashes with a target label wins (true) or is
 *     kept as exported_<name> (false); honor_timestamps: keep the exposed timestamps.
 *   - global.external_labels are added to every series that lacks them (as vmagent does).
 * Threads: srv_scrape_start/stop and everything on the loop run on the loop thread; the
 *   work items run on the threadpool, one at most per target at a time (a target whose
 *   previous scrape is still being written skips its tick).
 */
#ifndef SRV_SCRAPE_H
#define SRV_SCRAPE_H

#include "server/app.h"
#include "server/scrape_config.h"

typedef struct srv_scrape srv_scrape;

typedef struct srv_scrape_opts {
    size_t max_scrape_bytes; /* body cap per scrape (decompressed); 0: 16 MB */
} srv_scrape_opts;

/* Start scraping every target of cfg (taken over: freed by srv_scrape_stop). Loop thread.
 * OUT: *out. Returns 0, AX_EINVAL (message in e: no targets, or a target's URL curl
 * refuses), AX_ENOMEM. */
int srv_scrape_start(srv_app *app, srv_scrape_config *cfg, const srv_scrape_opts *o,
                     srv_scrape **out, ax_err *e);

/* Stop timers and transfers, close the handles; frees s once the loop has closed them and
 * any work item in flight has finished. Loop thread; accepts NULL. */
void srv_scrape_stop(srv_scrape *s);

/* Append the scraper's self-metrics (Prometheus text format) to b: targets by health,
 * scrapes and failures. Any thread; accepts NULL s (writes nothing). */
int srv_scrape_metrics_write(srv_scrape *s, ax_buf *b);

/* Append the "data" object of Prometheus' GET /api/v1/targets to b: activeTargets with
 * labels, scrapePool, scrapeUrl, lastError, lastScrape (RFC 3339), lastScrapeDuration,
 * health (up/down/unknown), scrapeInterval, scrapeTimeout; droppedTargets empty. s may be
 * NULL (no scraper: no targets). Loop thread (it reads the target list). */
int srv_scrape_targets_json(srv_scrape *s, ax_buf *b);

/* The stale-NaN bit pattern Prometheus writes as a staleness marker. */
#define SRV_STALE_NAN_BITS 0x7ff0000000000002ull

#endif
