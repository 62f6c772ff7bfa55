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
    struct tr_metrics_slot *slot = x->backend ? x->backend->stats
                                   : x->rule  ? x->rule->stats
                                   : x->listener ? x->listener->stats : NULL;
    tr_metrics_request(slot, status, dur);
    if (!tr_accesslog_enabled())
        return;
    char listener[600] = "", route[600] = "", backend[600] = "";
    if (x->listener)
        snprintf(listener, sizeof(listener), "%s/%s/%s", x->listener->gw_ns, x->listener->gw_name,
                 x->listener->name ? x->listener->name : "");
    if (x->rule)
        snprintf(route, sizeof(route), "%s/%s", x->rule->route_ns, x->rule->route_name);
    if (x->backend)
        snprintf(backend, sizeof(backend), "%s/%s:%u", x->backend->ns, x->backend->name, x->backend->port);
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
        .rule = x->rule ? (int)x->rule->index : -1, .backend = x->backend ? backend : NULL,
        .upstream = x->up ? x->up->key : NULL};
    tr_accesslog_write(&e);
}
