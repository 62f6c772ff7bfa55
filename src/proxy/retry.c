/* HTTPRoute retry (GEP-1731) and the per-try timeout (timeouts.backendRequest): a failed or
 * retryable try is made again, after the backoff, while attempts and the request timeout last. */
#include "base/clock.h"
#include "base/log.h"
#include "ir/ir.h"
#include "proxy/filters.h"
#include "proxy/internal.h"
#include "proxy/budget.h"
#include "proxy/session.h"
#include "proxy/upstream.h"
#include "worker/lb.h"

static void try_timeout(struct tr_loop *loop, struct tr_timer *t);

bool tr_retry_code(const struct tr_exchange *x, int status)
{
    return x->rule && tr_ir_retry_code(tr_ir_rule_retry(x->rule->spec), status);
}

void tr_retry_begin(struct tr_exchange *x, uint64_t backend_ms)
{
    if (!backend_ms)
        return;
    x->rtimer.cb = try_timeout;
    x->rtimer.data = x;
    tr_timer_start(x->w->loop, &x->rtimer, backend_ms);
}

void tr_retry_fire(struct tr_loop *loop, struct tr_timer *t)
{
    struct tr_exchange *x = t->data;
    const struct tr_ir_backend *b = x->rule ? tr_lb_backend(x->w, x->rule) : NULL;
    const struct tr_ir_endpoint *ep = b && !b->invalid ? tr_lb_endpoint(x->w, b) : NULL;
    if (!ep) {
        x->close_after = true;
        tr_exchange_respond(x, 503, NULL, "no backend for the retry\n");
        return;
    }
    x->backend = b;
    tr_session_chosen(x, b, ep);
    if (tr_budget_of(b)) /* (no clock read on requests without one) */
        tr_budget_try(tr_budget_of(b), tr_clock_ms());
    struct upc *u = tr_upstream_connect(x, b, ep);
    if (!u) {
        /* The connection failed at once (connect() itself): a failed try like any other. */
        if (tr_retry_later(x))
            return;
        x->close_after = true;
        tr_exchange_respond(x, 503, NULL, "no response from the backend, retries exhausted\n");
        return;
    }
    struct tr_h1_header fields[TR_H1_MAX_HEADERS];
    struct tr_req_out head;
    tr_req_out_unpack(x->rhead.data, &head, fields);
    u->ops->head(u, &head);
    uint64_t request_ms, backend_ms;
    tr_filters_timeouts_ms(x->rule, &request_ms, &backend_ms);
    tr_retry_begin(x, backend_ms);
    tr_upstream_flush(u);
}

bool tr_retry_later(struct tr_exchange *x)
{
    if (x->retries_left <= 0 || x->closed)
        return false;
    struct tr_ir_retry_budget *bu = tr_budget_of(x->backend);
    if (bu && !tr_budget_retry(bu, tr_clock_ms())) {
        /* The Service's retry budget is spent: "additional retries to the backend MUST return a
         * 503 response to the client" (XBackendTrafficPolicy retryConstraint). */
        tr_log_debug("retry budget of Service %s/%s (XBackendTrafficPolicy %s) spent: 503", x->backend->policy->ns,
                     x->backend->policy->svc, x->backend->policy->name);
        x->retries_left = 0;
        x->up = NULL;
        tr_exchange_respond(x, 503, NULL, "retry budget exhausted\n");
        return true;
    }
    x->retries_left--;
    x->up = NULL;
    x->rtimer.cb = tr_retry_fire;
    x->rtimer.data = x;
    tr_timer_start(x->w->loop, &x->rtimer, x->backoff_ms);
    return true;
}

/* The try outlived timeouts.backendRequest. Before the response began, it is abandoned and the
 * request retried if the rule allows (HTTPRouteRetry: backendRequest timeouts are retried when
 * a retry is configured), else the client gets a 504; a response already under way is cut
 * (its end would be missing), as by the exchange's own deadline. */
static void try_timeout(struct tr_loop *loop, struct tr_timer *t)
{
    struct tr_exchange *x = t->data;
    struct upc *u = x->up;
    if (!u || x->closed)
        return;
    if (u->head_done) {
        tr_exchange_close(x, false);
        return;
    }
    tr_log_debug("upstream %s: no response within timeouts.backendRequest", u->key);
    u->x = NULL;
    tr_upstream_close(u);
    x->up = NULL;
    if (tr_retry_later(x))
        return;
    x->close_after = true;
    tr_exchange_respond(x, 504, NULL, "upstream timed out\n");
}
