#include "base/metrics.h"
#include "base/buf.h"
#include "base/map.h"
#include "base/mem.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tr_metrics tr_metrics;

static const double bounds[TR_METRICS_BUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                  0.05,   0.1,   0.25,   0.5,   1,    5};

/* The slots, in the order they were made (for rendering), and an open-addressing table of them
 * keyed by their labels (the slot's own copy is the key: nothing else is stored). */
static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tr_metrics_slot *slots, **slots_tail = &slots;
static struct tr_metrics_slot **table;
static size_t table_cap, nslots;

/* The labels as one key: "listener\0route\0backend" (kl bytes, the last NUL not counted). */
static bool same_labels(const struct tr_metrics_slot *sl, const char *key, size_t kl, uint64_t h)
{
    return sl->hash == h && sl->labels_len == kl && memcmp(sl->labels, key, kl) == 0;
}

static void table_grow(void)
{
    size_t cap = table_cap ? table_cap * 2 : 64;
    struct tr_metrics_slot **t = tr_xcalloc(cap, sizeof(*t));
    for (size_t i = 0; i < table_cap; i++)
        if (table[i]) {
            size_t j = table[i]->hash & (cap - 1);
            while (t[j])
                j = (j + 1) & (cap - 1);
            t[j] = table[i];
        }
    free(table);
    table = t;
    table_cap = cap;
}

struct tr_metrics_slot *tr_metrics_slot(const char *listener, const char *route, const char *backend)
{
    listener = listener ? listener : "";
    route = route ? route : "";
    backend = backend ? backend : "";
    size_t ll = strlen(listener), rl = strlen(route), bl = strlen(backend), kl = ll + rl + bl + 2;
    char kbuf[1024];
    char *key = kl + 1 <= sizeof(kbuf) ? kbuf : tr_xmalloc(kl + 1);
    memcpy(key, listener, ll + 1);
    memcpy(key + ll + 1, route, rl + 1);
    memcpy(key + ll + rl + 2, backend, bl + 1);
    uint64_t h = tr_hash(key, kl);
    pthread_mutex_lock(&slots_lock);
    if ((nslots + 1) * 4 > table_cap * 3)
        table_grow();
    size_t i = h & (table_cap - 1);
    while (table[i] && !same_labels(table[i], key, kl, h))
        i = (i + 1) & (table_cap - 1);
    struct tr_metrics_slot *sl = table[i];
    if (!sl) {
        sl = tr_xcalloc(1, sizeof(*sl) + kl + 1);
        memcpy(sl->labels, key, kl + 1);
        sl->listener = sl->labels;
        sl->route = sl->labels + ll + 1;
        sl->backend = sl->labels + ll + rl + 2;
        sl->hash = h;
        sl->labels_len = kl;
        table[i] = sl;
        nslots++;
        *slots_tail = sl;
        slots_tail = &sl->next;
    }
    pthread_mutex_unlock(&slots_lock);
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
