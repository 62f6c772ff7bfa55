/* Data-plane counters for /metrics (Prometheus text format). Workers bump them with relaxed
 * atomic adds (no locks on the hot path); the admin thread reads them. */
#ifndef TR_BASE_METRICS_H
#define TR_BASE_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct tr_buf;

/* Latency histogram bounds, in seconds (upper bounds of the buckets; +Inf is implied). */
#define TR_METRICS_BUCKETS 12

struct tr_metrics {
    uint64_t requests[6]; /* by status class: 1xx..5xx, [0] for no response */
    uint64_t latency_bucket[TR_METRICS_BUCKETS + 1];
    uint64_t latency_us_sum;
    uint64_t conns_accepted, conns_active;
    uint64_t h2_conns; /* client connections that went on in HTTP/2 */
    uint64_t upstream_connects, upstream_active, upstream_reused, upstream_failures;
    uint64_t bytes_in, bytes_out;
    uint64_t config_generation;
};

extern struct tr_metrics tr_metrics;

/* The series of one (listener, route, backend): requests by status class and a latency
 * histogram. A slot is made by the first request that counts in it, not for every route a
 * snapshot compiles (at 10,000 routes most are idle, and slots were 4 KiB of each); it lives as
 * long as the process (a series must not go backwards while Prometheus scrapes it), shared by
 * every snapshot that names the same three. One block: the counters, then the three label
 * values. */
struct tr_metrics_slot {
    uint64_t requests[6];
    uint64_t latency_bucket[TR_METRICS_BUCKETS + 1];
    uint64_t latency_us_sum;
    struct tr_metrics_slot *next;         /* in the order they were made */
    const char *listener, *route, *backend; /* label values ("" when not known), in labels */
    uint64_t hash;
    size_t labels_len; /* "listener\0route\0backend", the last NUL not counted */
    char labels[];
};

/* The slot of these labels (NULL counts as ""), made on first use. Any thread: a request that
 * finds no slot in its IR yet looks it up here once (a lock), then keeps it in the IR
 * (tr_metrics_slot_cached). */
struct tr_metrics_slot *tr_metrics_slot(const char *listener, const char *route, const char *backend);
/* The slot cached at *cell (an IR field, shared by the workers), or NULL: the caller looks it
 * up (tr_metrics_slot) and stores it with tr_metrics_slot_cache. */
static inline struct tr_metrics_slot *tr_metrics_slot_cached(struct tr_metrics_slot *const *cell)
{
    return __atomic_load_n(cell, __ATOMIC_ACQUIRE);
}
static inline void tr_metrics_slot_cache(struct tr_metrics_slot **cell, struct tr_metrics_slot *sl)
{
    __atomic_store_n(cell, sl, __ATOMIC_RELEASE);
}

/* Counts one finished request: status (0 when none was sent) and its duration, in the totals
 * and in slot (NULL: totals only). Any thread. */
void tr_metrics_request(struct tr_metrics_slot *slot, int status, uint64_t duration_us);

static inline void tr_metrics_add(uint64_t *c, int64_t n)
{
    __atomic_add_fetch(c, (uint64_t)n, __ATOMIC_RELAXED);
}

/* Writes the Prometheus text exposition of every counter. */
void tr_metrics_render(struct tr_buf *b);

#endif
