#include "base/metrics.h"
#include "base/buf.h"
#include "base/map.h"
#include "base/mem.h"

#include <inttypes.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tr_metrics tr_metrics;

static const double bounds[TR_METRICS_BUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                  0.05,   0.1,   0.25,   0.5,   1,    5};

/* The slots, for lookup and for rendering in the order they were made. */
static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tr_map slots_by_key;
static struct tr_metrics_slot *slots, **slots_tail = &slots;

void tr_metrics_slots_lock(void)
{
    pthread_mutex_lock(&slots_lock);
}

void tr_metrics_slots_unlock(void)
{
    pthread_mutex_unlock(&slots_lock);
}

struct tr_metrics_slot *tr_metrics_slot(const char *listener, const char *route, const char *backend)
{
    pthread_mutex_lock(&slots_lock);
    struct tr_metrics_slot *sl = tr_metrics_slot_locked(listener, route, backend);
    pthread_mutex_unlock(&slots_lock);
    return sl;
}

struct tr_metrics_slot *tr_metrics_slot_locked(const char *listener, const char *route, const char *backend)
{
    listener = listener ? listener : "";
    route = route ? route : "";
    backend = backend ? backend : "";
    char kbuf[1024];
    size_t ll = strlen(listener), rl = strlen(route), bl = strlen(backend), kl = ll + rl + bl + 2;
    char *key = kl <= sizeof(kbuf) ? kbuf : tr_xmalloc(kl);
    memcpy(key, listener, ll);
    key[ll] = '\0';
    memcpy(key + ll + 1, route, rl);
    key[ll + 1 + rl] = '\0';
    memcpy(key + ll + rl + 2, backend, bl);
    struct tr_metrics_slot *sl = tr_map_get(&slots_by_key, key, kl);
    if (!sl) {
        sl = tr_xcalloc(1, sizeof(*sl));
        sl->listener = tr_xstrdup(listener);
        sl->route = tr_xstrdup(route);
        sl->backend = tr_xstrdup(backend);
        tr_map_put(&slots_by_key, key, kl, sl);
        *slots_tail = sl;
        slots_tail = &sl->next;
    }
    if (key != kbuf)
        free(key);
    return sl;
}

static int bucket_of(uint64_t duration_us)
{
    int b = 0;
    while (b < TR_METRICS_BUCKETS && (double)duration_us / 1e6 > bounds[b])
        b++;
    return b;
}

void tr_metrics_request(struct tr_metrics_slot *slot, int status, uint64_t duration_us)
{
    int cls = status >= 100 && status < 600 ? status / 100 : 0;
    int b = bucket_of(duration_us);
    tr_metrics_add(&tr_metrics.requests[cls], 1);
    tr_metrics_add(&tr_metrics.latency_us_sum, (int64_t)duration_us);
    tr_metrics_add(&tr_metrics.latency_bucket[b], 1);
    if (slot) {
        tr_metrics_add(&slot->requests[cls], 1);
        tr_metrics_add(&slot->latency_us_sum, (int64_t)duration_us);
        tr_metrics_add(&slot->latency_bucket[b], 1);
    }
}

/* A label value in the exposition format: backslash, quote and newline escaped. */
static void label(struct tr_buf *b, const char *name, const char *v)
{
    tr_buf_printf(b, "%s=\"", name);
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            tr_buf_putc(b, '\\');
        if (*v == '\n')
            tr_buf_puts(b, "\\n");
        else
            tr_buf_putc(b, *v);
    }
    tr_buf_putc(b, '"');
}

static void slot_labels(struct tr_buf *b, const struct tr_metrics_slot *sl)
{
    label(b, "listener", sl->listener);
    tr_buf_putc(b, ',');
    label(b, "route", sl->route);
    tr_buf_putc(b, ',');
    label(b, "backend", sl->backend);
}

static uint64_t load(const uint64_t *c)
{
    return __atomic_load_n(c, __ATOMIC_RELAXED);
}

/* The labelled series: by listener, route and backend. */
static void render_slots(struct tr_buf *b)
{
    static const char *const classes[] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};
    pthread_mutex_lock(&slots_lock);
    tr_buf_puts(b, "# HELP torii_route_requests_total HTTP requests answered, by listener, route, backend and status "
                   "class.\n# TYPE torii_route_requests_total counter\n");
    for (const struct tr_metrics_slot *sl = slots; sl; sl = sl->next)
        for (int i = 0; i < 6; i++) {
            uint64_t n = load(&sl->requests[i]);
            if (!n)
                continue;
            tr_buf_puts(b, "torii_route_requests_total{");
            slot_labels(b, sl);
            tr_buf_printf(b, ",code=\"%s\"} %" PRIu64 "\n", classes[i], n);
        }
    tr_buf_puts(b, "# HELP torii_route_request_duration_seconds Time from request head to the end of the response, by "
                   "listener, route and backend.\n# TYPE torii_route_request_duration_seconds histogram\n");
    for (const struct tr_metrics_slot *sl = slots; sl; sl = sl->next) {
        uint64_t cum = 0;
        for (int i = 0; i <= TR_METRICS_BUCKETS; i++)
            cum += load(&sl->latency_bucket[i]);
        if (!cum)
            continue;
        cum = 0;
        for (int i = 0; i <= TR_METRICS_BUCKETS; i++) {
            cum += load(&sl->latency_bucket[i]);
            tr_buf_puts(b, "torii_route_request_duration_seconds_bucket{");
            slot_labels(b, sl);
            if (i < TR_METRICS_BUCKETS)
                tr_buf_printf(b, ",le=\"%g\"} %" PRIu64 "\n", bounds[i], cum);
            else
                tr_buf_printf(b, ",le=\"+Inf\"} %" PRIu64 "\n", cum);
        }
        tr_buf_puts(b, "torii_route_request_duration_seconds_sum{");
        slot_labels(b, sl);
        tr_buf_printf(b, "} %.6f\n", (double)load(&sl->latency_us_sum) / 1e6);
        tr_buf_puts(b, "torii_route_request_duration_seconds_count{");
        slot_labels(b, sl);
        tr_buf_printf(b, "} %" PRIu64 "\n", cum);
    }
    pthread_mutex_unlock(&slots_lock);
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
    render_slots(b);
    static const struct {
        const char *name, *type, *help;
        size_t off;
    } plain[] = {
        {"torii_downstream_connections_total", "counter", "Client connections accepted.", offsetof(struct tr_metrics, conns_accepted)},
        {"torii_downstream_http2_connections_total", "counter", "Client connections that spoke HTTP/2.", offsetof(struct tr_metrics, h2_conns)},
        {"torii_downstream_connections_active", "gauge", "Client connections open.", offsetof(struct tr_metrics, conns_active)},
        {"torii_upstream_connects_total", "counter", "Upstream connections opened.", offsetof(struct tr_metrics, upstream_connects)},
        {"torii_upstream_connections_active", "gauge", "Upstream connections open (busy or idle).", offsetof(struct tr_metrics, upstream_active)},
        {"torii_upstream_reused_total", "counter", "Requests sent on an upstream connection already open (kept alive, or HTTP/2 carrying other streams).", offsetof(struct tr_metrics, upstream_reused)},
        {"torii_upstream_failures_total", "counter", "Upstream requests (a connection, or an HTTP/2 stream) that failed before a complete response.", offsetof(struct tr_metrics, upstream_failures)},
        {"torii_config_generation", "gauge", "Configuration generation being served.", offsetof(struct tr_metrics, config_generation)},
    };
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
        tr_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", plain[i].name, plain[i].help, plain[i].name,
                      plain[i].type, plain[i].name, load((const uint64_t *)((const char *)&tr_metrics + plain[i].off)));
}
