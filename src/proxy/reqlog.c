/* Per-request accounting: the clock and the access-log fields a request starts with, and its
 * counters and access-log line when it ends. */
#include "api/kind.h"
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

void tr_reqlog_begin(struct h1c *c)
{
    c->in_flight = true;
    c->t0_us = tr_clock_us();
    c->out_mark = c->written + tr_buf_pending(&c->out, c->out_off);
    c->listener = NULL;
    c->backend = NULL;
    c->rule = NULL;
    if (tr_accesslog_enabled()) {
        const struct tr_h1_req *r = c->req;
        size_t n = r->method_len + (r->authority ? r->authority_len : 0) + r->target_len + 3;
        free(c->log_line);
        c->log_line = tr_xmalloc(n);
        char *p = c->log_line;
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

void tr_reqlog_end(struct h1c *c, int status)
{
    if (!c->in_flight)
        return;
    c->in_flight = false;
    uint64_t dur = tr_clock_us() - c->t0_us;
    struct tr_metrics_slot *slot = c->backend ? c->backend->stats
                                   : c->rule  ? c->rule->stats
                                   : c->listener ? c->listener->stats : NULL;
    tr_metrics_request(slot, status, dur);
    if (!tr_accesslog_enabled())
        return;
    char listener[600] = "", route[600] = "", backend[600] = "";
    if (c->listener)
        snprintf(listener, sizeof(listener), "%s/%s/%s", c->listener->gw_ns, c->listener->gw_name,
                 c->listener->name ? c->listener->name : "");
    if (c->rule)
        snprintf(route, sizeof(route), "%s/%s", c->rule->route_ns, c->rule->route_name);
    if (c->backend)
        snprintf(backend, sizeof(backend), "%s/%s:%u", c->backend->ns, c->backend->name, c->backend->port);
    const char *m = NULL, *h = NULL, *t = NULL;
    if (c->log_line) { /* "method\0host\0target" */
        m = c->log_line;
        h = m + strlen(m) + 1;
        t = h + strlen(h) + 1;
    }
    struct tr_accesslog_entry e = {
        .client = c->peer, .method = m, .host = h && *h ? h : NULL,
        .target = t, .status = status, .duration_us = dur,
        .bytes_out = c->written + tr_buf_pending(&c->out, c->out_off) - c->out_mark,
        .listener = c->listener ? listener : NULL, .route = c->rule ? route : NULL,
        .rule = c->rule ? (int)c->rule->index : -1, .backend = c->backend ? backend : NULL,
        .upstream = c->up ? c->up->key : NULL};
    tr_accesslog_write(&e);
}
