/* Per-request accounting: the clock and the access-log fields a request starts with, and its
 * counters and access-log line when it ends. */
#include "api/kind.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/mem.h"
#include "base/metrics.h"
#include "ir/ir.h"
#include "proxy/accesslog.h"
#include "proxy/internal.h"
#include "proxy/upstream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* "a/b/c" (or "a/b:port" when port >= 0) into out: names are at most 253 bytes, out 600. */
static const char *join(char out[600], const char *a, const char *b, const char *c, long port)
{
    size_t n = 0;
    const char *parts[3] = {a ? a : "", b ? b : "", c};
    for (int i = 0; i < 3 && (i < 2 || c); i++) {
        size_t l = strnlen(parts[i], 190);
        if (i)
            out[n++] = '/';
        memcpy(out + n, parts[i], l);
        n += l;
    }
    if (port >= 0) {
        char d[20];
        const char *p = tr_fmt_u64(d, (uint64_t)port);
        out[n++] = ':';
        memcpy(out + n, p, (size_t)(d + sizeof(d) - p));
        n += (size_t)(d + sizeof(d) - p);
    }
    out[n] = '\0';
    return out;
}

/* *at, made by this thread (size bytes, zeroed) if no thread made it yet (atomic). */
static void *made_once(void **at, size_t size)
{
    void *have = __atomic_load_n(at, __ATOMIC_ACQUIRE);
    if (have)
        return have;
    void *mine = tr_xcalloc(1, size);
    if (__atomic_compare_exchange_n(at, &have, mine, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return mine;
    free(mine);
    return have; /* the winner's */
}

/* The metrics cells of rule i of listener l (tr_ir_listener.cells), made by the first request
 * it answers there. */
static struct tr_metrics_slot **rule_cells(const struct tr_ir_listener *l, size_t i)
{
    size_t npages = (l->nrules + TR_IR_CELL_PAGE - 1) / TR_IR_CELL_PAGE;
    struct tr_ir_cells **pages = made_once((void **)&l->cells, npages * sizeof(*pages));
    struct tr_ir_cells *page = made_once((void **)&pages[i / TR_IR_CELL_PAGE], sizeof(*page));
    return made_once((void **)&page->rule[i % TR_IR_CELL_PAGE],
                     (1 + (size_t)l->rules[i].nbackends) * sizeof(struct tr_metrics_slot *));
}

/* The series the request counts in: its backend's on its rule and listener, else its rule's (an
 * answer without a backend: a redirect, CORS), else its listener's (no route: 404, 421). Made by
 * the first request that counts in it, then cached in the IR, where every worker finds it (the
 * IR is per snapshot: a new one looks each slot up again, once). */
static struct tr_metrics_slot *slot_of(const struct tr_exchange *x)
{
    const struct tr_ir_listener *l = x->listener;
    if (!l)
        return NULL;
    const struct tr_ir_rule *rule = x->rule;
    const struct tr_ir_backend *be = NULL;
    struct tr_metrics_slot **cell = (struct tr_metrics_slot **)&l->stats;
    if (rule) {
        struct tr_metrics_slot **cells = rule_cells(l, (size_t)(rule - l->rules));
        /* x->backend is one of the rule's backends (a mirror's counts nowhere) */
        const struct tr_ir_backend *b = x->backend;
        if (b && b >= rule->backends && b < rule->backends + rule->nbackends)
            be = b;
        cell = be ? &cells[1 + (be - rule->backends)] : &cells[0];
    }
    struct tr_metrics_slot *sl = tr_metrics_slot_cached(cell);
    if (sl)
        return sl;
    char ln[600], rn[600], bn[600];
    join(ln, l->gw_ns, l->gw_name, l->name ? l->name : "", -1);
    const char *route = rule ? join(rn, rule->spec->route->ns, rule->spec->route->name, NULL, -1) : NULL;
    sl = tr_metrics_slot(ln, route, be ? join(bn, be->ref->ns, be->ref->name, NULL, be->ref->port) : NULL);
    tr_metrics_slot_cache(cell, sl);
    return sl;
}

void tr_reqlog_begin(struct tr_exchange *x)
{
    x->in_flight = true;
    x->t0_us = tr_clock_us();
    x->out_mark = x->written + tr_buf_pending(&x->out, x->out_off);
    x->listener = NULL;
    x->backend = NULL;
    x->rule = NULL;
    if (tr_accesslog_enabled()) {
        const struct tr_h1_req *r = x->req;
        size_t n = r->method_len + (r->authority ? r->authority_len : 0) + r->target_len + 3;
        free(x->log_line);
        x->log_line = tr_xmalloc(n);
        char *p = x->log_line;
        memcpy(p, r->method, r->method_len);
        p += r->method_len;
        *p++ = '\0';
        if (r->authority) {
            memcpy(p, r->authority, r->authority_len);
            p += r->authority_len;
        }
        *p++ = '\0';
        memcpy(p, r->target, r->target_len);
        p[r->target_len] = '\0';
    }
}

void tr_reqlog_end(struct tr_exchange *x, int status)
{
    if (!x->in_flight)
        return;
    x->in_flight = false;
    uint64_t dur = tr_clock_us() - x->t0_us;
    tr_metrics_request(slot_of(x), status, dur);
    if (!tr_accesslog_enabled())
        return;
    char listener[600] = "", route[600] = "", backend[600] = "";
    if (x->listener)
        snprintf(listener, sizeof(listener), "%s/%s/%s", x->listener->gw_ns, x->listener->gw_name,
                 x->listener->name ? x->listener->name : "");
    if (x->rule)
        snprintf(route, sizeof(route), "%s/%s", x->rule->spec->route->ns, x->rule->spec->route->name);
    if (x->backend)
        snprintf(backend, sizeof(backend), "%s/%s:%u", x->backend->ref->ns, x->backend->ref->name, x->backend->ref->port);
    const char *m = NULL, *h = NULL, *t = NULL;
    if (x->log_line) { /* "method\0host\0target" */
        m = x->log_line;
        h = m + strlen(m) + 1;
        t = h + strlen(h) + 1;
    }
    struct tr_accesslog_entry e = {
        .client = x->conn->peer, .method = m, .host = h && *h ? h : NULL,
        .target = t, .status = status, .duration_us = dur,
        .bytes_out = x->written + tr_buf_pending(&x->out, x->out_off) - x->out_mark,
        .listener = x->listener ? listener : NULL, .route = x->rule ? route : NULL,
        .rule = x->rule ? (int)x->rule->spec->index : -1, .backend = x->backend ? backend : NULL,
        .upstream = x->up ? x->up->key : NULL};
    tr_accesslog_write(&e);
}
