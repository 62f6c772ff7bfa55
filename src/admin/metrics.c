#include "admin/metrics.h"
#include "base/buf.h"

#include <inttypes.h>
#include <stddef.h>

struct tr_metrics tr_metrics;

static const double bounds[TR_METRICS_BUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                  0.05,   0.1,   0.25,   0.5,   1,    5};

void tr_metrics_request(int status, uint64_t duration_us)
{
    int cls = status >= 100 && status < 600 ? status / 100 : 0;
    tr_metrics_add(&tr_metrics.requests[cls], 1);
    tr_metrics_add(&tr_metrics.latency_us_sum, (int64_t)duration_us);
    int b = 0;
    while (b < TR_METRICS_BUCKETS && (double)duration_us / 1e6 > bounds[b])
        b++;
    tr_metrics_add(&tr_metrics.latency_bucket[b], 1);
}

static uint64_t load(const uint64_t *c)
{
    return __atomic_load_n(c, __ATOMIC_RELAXED);
}

void tr_metrics_render(struct tr_buf *b)
{
    static const char *const classes[] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};
    tr_buf_puts(b, "# HELP torii_http_requests_total HTTP requests answered, by status class.\n"
                   "# TYPE torii_http_requests_total counter\n");
    for (int i = 0; i < 6; i++)
        tr_buf_printf(b, "torii_http_requests_total{code=\"%s\"} %" PRIu64 "\n", classes[i], load(&tr_metrics.requests[i]));
    tr_buf_puts(b, "# HELP torii_http_request_duration_seconds Time from request head to the end of the response.\n"
                   "# TYPE torii_http_request_duration_seconds histogram\n");
    uint64_t cum = 0;
    for (int i = 0; i < TR_METRICS_BUCKETS; i++) {
        cum += load(&tr_metrics.latency_bucket[i]);
        tr_buf_printf(b, "torii_http_request_duration_seconds_bucket{le=\"%g\"} %" PRIu64 "\n", bounds[i], cum);
    }
    cum += load(&tr_metrics.latency_bucket[TR_METRICS_BUCKETS]);
    tr_buf_printf(b, "torii_http_request_duration_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n", cum);
    tr_buf_printf(b, "torii_http_request_duration_seconds_sum %.6f\n", (double)load(&tr_metrics.latency_us_sum) / 1e6);
    tr_buf_printf(b, "torii_http_request_duration_seconds_count %" PRIu64 "\n", cum);
    static const struct {
        const char *name, *type, *help;
        size_t off;
    } plain[] = {
        {"torii_downstream_connections_total", "counter", "Client connections accepted.", offsetof(struct tr_metrics, conns_accepted)},
        {"torii_downstream_http2_connections_total", "counter", "Client connections that spoke HTTP/2.", offsetof(struct tr_metrics, h2_conns)},
        {"torii_downstream_connections_active", "gauge", "Client connections open.", offsetof(struct tr_metrics, conns_active)},
        {"torii_upstream_connects_total", "counter", "Upstream connections opened.", offsetof(struct tr_metrics, upstream_connects)},
        {"torii_upstream_connections_active", "gauge", "Upstream connections open (busy or idle).", offsetof(struct tr_metrics, upstream_active)},
        {"torii_upstream_reused_total", "counter", "Requests sent on a kept-alive upstream connection.", offsetof(struct tr_metrics, upstream_reused)},
        {"torii_upstream_failures_total", "counter", "Upstream connections that failed before a complete response.", offsetof(struct tr_metrics, upstream_failures)},
        {"torii_config_generation", "gauge", "Configuration generation being served.", offsetof(struct tr_metrics, config_generation)},
    };
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
        tr_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", plain[i].name, plain[i].help, plain[i].name,
                      plain[i].type, plain[i].name, load((const uint64_t *)((const char *)&tr_metrics + plain[i].off)));
}
