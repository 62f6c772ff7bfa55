/* HTTPRoute retry (GEP-1731) and the per-try timeout (timeouts.backendRequest): a failed or
 * retryable try is made again, after the backoff, while attempts and the request timeout last. */
#include "base/log.h"
#include "ir/ir.h"
#include "proxy/filters.h"
#include "proxy/internal.h"
#include "proxy/upstream.h"
#include "worker/lb.h"

static void try_timeout(struct tr_loop *loop, struct tr_timer *t);

bool tr_retry_code(const struct h1c *c, int status)
{
    return c->rule && tr_ir_retry_code(c->rule->retry, status);
}

void tr_retry_begin(struct h1c *c, uint64_t backend_ms)
{
    if (!backend_ms)
        return;
    c->rtimer.cb = try_timeout;
    c->rtimer.data = c;
    tr_timer_start(c->w->loop, &c->rtimer, backend_ms);
}

void tr_retry_fire(struct tr_loop *loop, struct tr_timer *t)
{
    struct h1c *c = t->data;
    const struct tr_ir_backend *b = c->rule ? tr_lb_backend(c->w, c->rule) : NULL;
    const struct tr_ir_endpoint *ep = b && !b->invalid ? tr_lb_endpoint(c->w, b) : NULL;
    if (!ep) {
        c->close_after = true;
        tr_exchange_respond(c, 503, NULL, "no backend for the retry\n");
        return;
    }
    c->backend = b;
    struct upc *u = tr_upstream_connect(c, b, ep);
    if (!u) {
        /* The connection failed at once (connect() itself): a failed try like any other. */
        if (tr_retry_later(c))
            return;
        c->close_after = true;
        tr_exchange_respond(c, 503, NULL, "no response from the backend, retries exhausted\n");
        return;
    }
    struct tr_h1_header fields[TR_H1_MAX_HEADERS];
    struct tr_req_out head;
    tr_req_out_unpack(c->rhead.data, &head, fields);
    u->ops->head(u, &head);
    uint64_t request_ms, backend_ms;
    tr_filters_timeouts_ms(c->rule, &request_ms, &backend_ms);
    tr_retry_begin(c, backend_ms);
    tr_upstream_flush(u);
}

bool tr_retry_later(struct h1c *c)
{
    if (c->retries_left <= 0 || c->closed)
        return false;
    c->retries_left--;
    c->up = NULL;
    c->rtimer.cb = tr_retry_fire;
    c->rtimer.data = c;
    tr_timer_start(c->w->loop, &c->rtimer, c->backoff_ms);
    return true;
}

/* The try outlived timeouts.backendRequest. Before the response began, it is abandoned and the
 * request retried if the rule allows (HTTPRouteRetry: backendRequest timeouts are retried when
 * a retry is configured), else the client gets a 504; a response already under way is cut
 * (its end would be missing), as by the exchange's own deadline. */
static void try_timeout(struct tr_loop *loop, struct tr_timer *t)
{
    struct h1c *c = t->data;
    struct upc *u = c->up;
    if (!u || c->closed)
        return;
    if (u->head_done) {
        tr_h1c_close(c);
        return;
    }
    tr_log_debug("upstream %s: no response within timeouts.backendRequest", u->key);
    u->c = NULL;
    tr_upstream_close(u);
    c->up = NULL;
    if (tr_retry_later(c))
        return;
    c->close_after = true;
    tr_exchange_respond(c, 504, NULL, "upstream timed out\n");
}
