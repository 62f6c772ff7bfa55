/* The DNS names of ExternalName Services: one entry per name (deduplicated), at most one query in
 * flight for each, the last good answer kept for its TTL (within bounds), failures retried with
 * backoff while the last good answer serves for a bounded time, names no translation asks for
 * forgotten. c-ares does the protocol; its sockets are polled by the control loop beside the
 * provider's fd (ARES_OPT_SOCK_STATE_CB tells which), so no thread of its own is needed and no
 * query ever runs on a worker. */
#include "control/resolver.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/map.h"
#include "base/mem.h"

#include <ares.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The most addresses kept of one answer (an answer is at most a few dozen in practice). */
#define MAX_ADDRS 64
/* A name that keeps failing is logged once, then at most once per this. */
#define LOG_EVERY_MS 60000

struct rname {
    struct tr_resolver *r;
    char *name;
    char **addrs; /* the last good answer: sorted, no duplicates */
    size_t naddrs;
    uint64_t due;         /* when to ask next (0: at once) */
    uint64_t stale_until; /* after a failure past this, the last good answer is dropped */
    unsigned failures;    /* consecutive failed queries */
    uint64_t epoch;       /* the last translation that asked for it */
    bool in_flight;
    bool forgotten; /* out of the map while its query runs: the callback frees it */
    struct tr_log_limit log;
};

struct sock {
    int fd;
    bool rd, wr;
};

struct tr_resolver {
    ares_channel ch;
    struct tr_map names; /* name -> struct rname */
    uint64_t epoch;
    uint64_t stale_ms;
    bool changed;
    struct sock *socks;
    size_t nsocks, capsocks;
};

static void rname_free(struct rname *n)
{
    for (size_t i = 0; i < n->naddrs; i++)
        free(n->addrs[i]);
    free(n->addrs);
    free(n->name);
    free(n);
}

/* c-ares says which sockets it wants read or written, and when it closes one (neither). */
static void on_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
    struct tr_resolver *r = data;
    size_t i = 0;
    while (i < r->nsocks && r->socks[i].fd != fd)
        i++;
    if (!readable && !writable) {
        if (i < r->nsocks)
            r->socks[i] = r->socks[--r->nsocks];
        return;
    }
    if (i == r->nsocks) {
        if (r->nsocks == r->capsocks) {
            r->capsocks = r->capsocks ? r->capsocks * 2 : 4;
            r->socks = tr_xrealloc(r->socks, r->capsocks * sizeof(*r->socks));
        }
        r->nsocks++;
    }
    r->socks[i] = (struct sock){fd, readable != 0, writable != 0};
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Makes addrs (count n, malloc'd strings, in any order) the name's answer; notes a change. */
static void set_answer(struct rname *n, char **addrs, size_t count)
{
    qsort(addrs, count, sizeof(*addrs), cmp_str);
    size_t k = 0;
    for (size_t i = 0; i < count; i++) {
        if (k && strcmp(addrs[k - 1], addrs[i]) == 0)
            free(addrs[i]);
        else
            addrs[k++] = addrs[i];
    }
    bool same = k == n->naddrs;
    for (size_t i = 0; same && i < k; i++)
        same = strcmp(addrs[i], n->addrs[i]) == 0;
    if (same) {
        for (size_t i = 0; i < k; i++)
            free(addrs[i]);
        free(addrs);
        return;
    }
    for (size_t i = 0; i < n->naddrs; i++)
        free(n->addrs[i]);
    free(n->addrs);
    n->addrs = addrs;
    n->naddrs = k;
    n->r->changed = true;
}

static uint64_t clamp_ttl_ms(long long ttl_s)
{
    uint64_t ms = ttl_s <= 0 ? 0 : (uint64_t)ttl_s * 1000;
    return ms < TR_RESOLVER_TTL_MIN_MS ? TR_RESOLVER_TTL_MIN_MS : ms > TR_RESOLVER_TTL_MAX_MS ? TR_RESOLVER_TTL_MAX_MS : ms;
}

/* A query failed: keep the last good answer while it may still serve, ask again with backoff. */
static void failed(struct rname *n, int status, uint64_t now)
{
    n->failures++;
    unsigned shift = n->failures - 1 < 15 ? n->failures - 1 : 15;
    uint64_t wait = (uint64_t)1000 << shift;
    n->due = now + (wait < TR_RESOLVER_RETRY_MAX_MS ? wait : TR_RESOLVER_RETRY_MAX_MS);
    bool drop = n->naddrs && now >= n->stale_until;
    uint64_t held = 0;
    if (drop || tr_log_limit_pass(&n->log, LOG_EVERY_MS, &held)) {
        if (drop)
            tr_log_warn("dns: %s: %s (%u failures in a row): its last addresses are dropped, the backend has no "
                        "endpoints",
                        n->name, ares_strerror(status), n->failures);
        else if (n->naddrs)
            tr_log_warn("dns: %s: %s (%u failures in a row): the last answer (%zu address%s) keeps serving",
                        n->name, ares_strerror(status), n->failures, n->naddrs, n->naddrs == 1 ? "" : "es");
        else
            tr_log_warn("dns: %s: %s (%u failures in a row): no address yet, the backend has no endpoints",
                        n->name, ares_strerror(status), n->failures);
    }
    if (drop)
        set_answer(n, tr_xcalloc(1, sizeof(char *)), 0);
}

static void on_answer(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
    struct rname *n = arg;
    n->in_flight = false;
    if (n->forgotten || status == ARES_EDESTRUCTION) {
        ares_freeaddrinfo(res);
        if (n->forgotten)
            rname_free(n);
        return;
    }
    uint64_t now = tr_clock_ms();
    if (status != ARES_SUCCESS && status != ARES_ENOTFOUND && status != ARES_ENODATA) {
        ares_freeaddrinfo(res);
        failed(n, status, now);
        return;
    }
    /* An answer, possibly with no address (the name does not exist, or has no A or AAAA
     * record): that is what the name is now, as Envoy's resolver takes it too. */
    char **addrs = tr_xcalloc(MAX_ADDRS + 1, sizeof(char *));
    size_t count = 0;
    long long ttl = -1;
    for (const struct ares_addrinfo_node *a = res ? res->nodes : NULL; a && count < MAX_ADDRS; a = a->ai_next) {
        char text[INET6_ADDRSTRLEN];
        const void *bin = a->ai_family == AF_INET    ? (const void *)&((struct sockaddr_in *)a->ai_addr)->sin_addr
                          : a->ai_family == AF_INET6 ? (const void *)&((struct sockaddr_in6 *)a->ai_addr)->sin6_addr
                                                     : NULL;
        if (!bin || !inet_ntop(a->ai_family, bin, text, sizeof(text)))
            continue;
        addrs[count++] = tr_xstrdup(text);
        if (ttl < 0 || a->ai_ttl < ttl)
            ttl = a->ai_ttl;
    }
    /* A CNAME on the way (an ExternalName's usual shape) may expire before the address. */
    for (const struct ares_addrinfo_cname *c = res ? res->cnames : NULL; c; c = c->next)
        if (ttl < 0 || c->ttl < ttl)
            ttl = c->ttl;
    ares_freeaddrinfo(res);
    if (n->failures)
        tr_log_info("dns: %s: answered again (%zu address%s) after %u failures", n->name, count,
                    count == 1 ? "" : "es", n->failures);
    n->failures = 0;
    uint64_t keep = count ? clamp_ttl_ms(ttl) : TR_RESOLVER_NEGATIVE_MS;
    n->due = now + keep;
    n->stale_until = n->r->stale_ms > UINT64_MAX - n->due ? UINT64_MAX : n->due + n->r->stale_ms;
    set_answer(n, addrs, count);
    tr_log_debug("dns: %s: %zu address%s, next query in %llu ms", n->name, n->naddrs, n->naddrs == 1 ? "" : "es",
                 (unsigned long long)keep);
}

/* An IP address given as the name needs no query: it is the answer, for the longest TTL. */
static bool literal(struct rname *n, uint64_t now)
{
    unsigned char bin[sizeof(struct in6_addr)];
    char text[INET6_ADDRSTRLEN];
    int fam = inet_pton(AF_INET, n->name, bin) == 1 ? AF_INET : inet_pton(AF_INET6, n->name, bin) == 1 ? AF_INET6 : 0;
    if (!fam || !inet_ntop(fam, bin, text, sizeof(text)))
        return false;
    char **addrs = tr_xcalloc(1, sizeof(char *));
    addrs[0] = tr_xstrdup(text);
    n->due = now + TR_RESOLVER_TTL_MAX_MS;
    n->stale_until = UINT64_MAX;
    set_answer(n, addrs, 1);
    return true;
}

static void ask(struct tr_resolver *r, struct rname *n, uint64_t now)
{
    if (literal(n, now))
        return;
    /* Both families (the name may have either or both); no sorting by RFC 6724, which would
     * connect() a socket per address: the answer is sorted as text for comparison anyway. */
    struct ares_addrinfo_hints hints = {.ai_flags = ARES_AI_NOSORT, .ai_family = AF_UNSPEC};
    n->in_flight = true;
    /* May call on_answer before it returns (an error found at once). */
    ares_getaddrinfo(r->ch, n->name, NULL, &hints, on_answer, n);
}

/* The most servers --resolver takes (c-ares asks them in turn). */
#define MAX_SERVERS 8

/* Is one entry of a server list an IP address with an optional port: A.B.C.D, A.B.C.D:PORT,
 * an IPv6 address, or [IPv6]:PORT? c-ares's own parser lets a port over 65535 and an empty
 * list through. */
static bool server_entry(const char *s, size_t len)
{
    char host[INET6_ADDRSTRLEN + 1];
    unsigned char bin[sizeof(struct in6_addr)];
    const char *port = NULL;
    size_t hl = len;
    if (len && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (!close)
            return false;
        hl = (size_t)(close - s) - 1;
        s++;
        size_t rest = len - hl - 2;
        if (rest && (close[1] != ':' || rest < 2))
            return false;
        port = rest ? close + 2 : NULL;
        len = rest ? rest - 1 : 0;
    } else {
        const char *colon = memchr(s, ':', len);
        if (colon && !memchr(colon + 1, ':', len - (size_t)(colon - s) - 1)) { /* one colon: IPv4:PORT */
            hl = (size_t)(colon - s);
            port = colon + 1;
            len -= hl + 1;
        }
    }
    if (!hl || hl >= sizeof(host))
        return false;
    memcpy(host, s, hl);
    host[hl] = '\0';
    if (inet_pton(AF_INET, host, bin) != 1 && inet_pton(AF_INET6, host, bin) != 1)
        return false;
    if (!port)
        return true;
    unsigned long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (port[i] < '0' || port[i] > '9' || (v = v * 10 + (unsigned long)(port[i] - '0')) > 65535)
            return false;
    }
    return len && v > 0;
}

static bool server_list(const char *s)
{
    size_t n = 0;
    for (;;) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        if (!server_entry(s, len) || ++n > MAX_SERVERS)
            return false;
        if (!comma)
            return true;
        s = comma + 1;
    }
}

struct tr_resolver *tr_resolver_new(const char *servers, uint64_t stale_ms, char **err)
{
    if (servers && !server_list(servers)) {
        char buf[300];
        snprintf(buf, sizeof(buf), "%.200s: want ADDR[:PORT][,ADDR[:PORT]...], IP addresses (IPv6 with a port as "
                                   "[ADDR]:PORT), %d at most",
                 servers, MAX_SERVERS);
        *err = tr_xstrdup(buf);
        return NULL;
    }
    static bool lib_ready;
    if (!lib_ready) {
        int rc = ares_library_init(ARES_LIB_INIT_ALL);
        if (rc != ARES_SUCCESS) {
            *err = tr_xstrdup(ares_strerror(rc));
            return NULL;
        }
        lib_ready = true;
    }
    struct tr_resolver *r = tr_xcalloc(1, sizeof(*r));
    r->stale_ms = stale_ms;
    struct ares_options o = {0};
    o.sock_state_cb = on_sock_state;
    o.sock_state_cb_data = r;
    o.timeout = 1000; /* ms per try (ARES_OPT_TIMEOUTMS) */
    o.tries = 2;
    /* DNS only, as ExternalName means: not /etc/hosts, whose entries carry no TTL. */
    o.lookups = (char *)"b";
    int rc = ares_init_options(&r->ch, &o,
                               ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_LOOKUPS);
    if (rc != ARES_SUCCESS) {
        *err = tr_xstrdup(ares_strerror(rc));
        free(r);
        return NULL;
    }
    if (servers && (rc = ares_set_servers_ports_csv(r->ch, servers)) != ARES_SUCCESS) {
        char buf[300];
        snprintf(buf, sizeof(buf), "%.200s: %s", servers, ares_strerror(rc));
        *err = tr_xstrdup(buf);
        ares_destroy(r->ch);
        free(r->socks);
        free(r);
        return NULL;
    }
    return r;
}

void tr_resolver_free(struct tr_resolver *r)
{
    if (!r)
        return;
    size_t it = 0;
    struct tr_map_slot *s;
    while ((s = tr_map_next(&r->names, &it))) {
        struct rname *n = s->val;
        if (n->in_flight)
            n->forgotten = true; /* freed by its callback, from ares_destroy */
        else
            rname_free(n);
    }
    tr_map_dispose(&r->names);
    ares_destroy(r->ch);
    free(r->socks);
    free(r);
}

size_t tr_resolver_get(struct tr_resolver *r, const char *name, const char **out, size_t cap)
{
    size_t len = strlen(name);
    struct rname *n = tr_map_get(&r->names, name, len);
    if (!n) {
        n = tr_xcalloc(1, sizeof(*n));
        n->r = r;
        n->name = tr_xstrdup(name);
        n->stale_until = UINT64_MAX;
        tr_map_put(&r->names, name, len, n);
    }
    n->epoch = r->epoch;
    size_t k = n->naddrs < cap ? n->naddrs : cap;
    for (size_t i = 0; i < k; i++)
        out[i] = n->addrs[i];
    return k;
}

void tr_resolver_begin(struct tr_resolver *r)
{
    r->epoch++;
}

static bool unused(void *ud, void *val)
{
    struct rname *n = val;
    if (n->epoch == *(const uint64_t *)ud)
        return false;
    tr_log_debug("dns: %s: no longer in use, forgotten", n->name);
    if (n->in_flight)
        n->forgotten = true;
    else
        rname_free(n);
    return true;
}

void tr_resolver_sweep(struct tr_resolver *r)
{
    tr_map_sweep(&r->names, unused, &r->epoch);
}

void tr_resolver_run(struct tr_resolver *r)
{
    uint64_t now = tr_clock_ms();
    size_t it = 0;
    struct tr_map_slot *s;
    while ((s = tr_map_next(&r->names, &it))) {
        struct rname *n = s->val;
        if (!n->in_flight && n->due <= now)
            ask(r, n, now);
    }
    /* Neither socket given: c-ares only looks for queries whose time is up. */
    ares_process_fd(r->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
}

size_t tr_resolver_pollfds(const struct tr_resolver *r, struct pollfd *fds, size_t cap)
{
    /* Beyond cap (more servers than ever configured) a socket is not polled: its queries time
     * out and are retried, nothing is lost. */
    size_t k = r->nsocks < cap ? r->nsocks : cap;
    for (size_t i = 0; i < k; i++)
        fds[i] = (struct pollfd){r->socks[i].fd, (short)((r->socks[i].rd ? POLLIN : 0) | (r->socks[i].wr ? POLLOUT : 0)),
                                 0};
    return k;
}

void tr_resolver_handle(struct tr_resolver *r, const struct pollfd *fds, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!fds[i].revents)
            continue;
        /* An error or hang-up is read too: c-ares learns of it from the read. */
        bool rd = fds[i].revents & (POLLIN | POLLERR | POLLHUP);
        bool wr = fds[i].revents & POLLOUT;
        ares_process_fd(r->ch, rd ? fds[i].fd : ARES_SOCKET_BAD, wr ? fds[i].fd : ARES_SOCKET_BAD);
    }
}

uint64_t tr_resolver_due(const struct tr_resolver *r)
{
    uint64_t due = UINT64_MAX;
    size_t it = 0;
    struct tr_map_slot *s;
    while ((s = tr_map_next(&r->names, &it))) {
        const struct rname *n = s->val;
        if (!n->in_flight && n->due < due)
            due = n->due;
    }
    struct timeval tv;
    if (ares_timeout(r->ch, NULL, &tv)) {
        uint64_t at = tr_clock_ms() + (uint64_t)tv.tv_sec * 1000 + (uint64_t)(tv.tv_usec + 999) / 1000;
        if (at < due)
            due = at;
    }
    return due;
}

bool tr_resolver_changed(struct tr_resolver *r)
{
    bool c = r->changed;
    r->changed = false;
    return c;
}

size_t tr_resolver_names(const struct tr_resolver *r)
{
    return r->names.len;
}
