/* Routing one request: the listener by host and SNI, the router, CORS preflights, redirects and
 * the other filters, the backend and endpoint, and the request head that goes upstream; what
 * cannot go anywhere is answered here (404, 421, 5xx, gRPC statuses). */
#include "api/kind.h"
#include "base/mem.h"
#include "http/fields.h"
#include "ir/ir.h"
#include "ir/router.h"
#include "proxy/cors.h"
#include "base/clock.h"
#include "proxy/budget.h"
#include "proxy/session.h"
#include "proxy/filters.h"
#include "proxy/internal.h"
#include "proxy/upstream.h"
#include "snapshot/snapshot.h"
#include "worker/lb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* gRPC status codes (grpc/grpc doc/statuscodes.md) torii answers with. */
#define GRPC_UNAVAILABLE 14

struct hdr_ctx {
    const struct tr_h1_req *req;
    char joined[4096];
};

/* The Host of the request, lower-cased, without the port, into out. */
static size_t request_host(const struct tr_h1_req *req, char *out, size_t cap)
{
    const char *a = req->authority;
    size_t n = a ? req->authority_len : 0, k = 0;
    if (n && a[0] == '[') { /* IPv6 literal */
        const char *close = memchr(a, ']', n);
        n = close ? (size_t)(close - a + 1) : n;
    } else {
        const char *colon = a ? memchr(a, ':', n) : NULL;
        if (colon)
            n = (size_t)(colon - a);
    }
    for (; k < n && k + 1 < cap; k++)
        out[k] = (char)((a[k] >= 'A' && a[k] <= 'Z') ? a[k] + 32 : a[k]);
    out[k] = '\0';
    return k;
}

/* Router header lookup: repeated fields are joined with "," (RFC 9110 5.3). Host is the
 * request's authority, as routing and the backend see it: an absolute-form target's replaces
 * the received field (RFC 9112 3.2.2). */
static const char *req_header(void *ud, const char *name, size_t name_len, size_t *len)
{
    struct hdr_ctx *h = ud;
    if (tr_h1_token_eq(name, name_len, "host", 4)) {
        *len = h->req->authority ? h->req->authority_len : 0;
        return h->req->authority;
    }
    const char *first = NULL;
    size_t flen = 0, n = 0, used = 0;
    for (size_t i = 0; i < h->req->nheaders; i++) {
        const struct tr_h1_header *f = &h->req->headers[i];
        if (f->name_len != name_len || strncasecmp(f->name, name, name_len) != 0)
            continue;
        if (n++ == 0) {
            first = f->value;
            flen = f->value_len;
            continue;
        }
        if (n == 2) {
            if (flen >= sizeof(h->joined))
                break;
            memcpy(h->joined, first, flen);
            used = flen;
        }
        if (used + 1 + f->value_len >= sizeof(h->joined))
            break;
        h->joined[used++] = ',';
        memcpy(h->joined + used, f->value, f->value_len);
        used += f->value_len;
    }
    if (n >= 2) {
        *len = used;
        return h->joined;
    }
    *len = flen;
    return first;
}

/* Is req a gRPC call: content-type application/grpc, bare or with a "+format" or parameters
 * (PROTOCOL-HTTP2.md in grpc/grpc)? gRPC-Web (application/grpc-web) is not. */
static bool grpc_call(const struct tr_h1_req *req)
{
    static const char ct[] = "application/grpc";
    size_t n = sizeof(ct) - 1;
    for (size_t i = 0; i < req->nheaders; i++) {
        const struct tr_h1_header *h = &req->headers[i];
        if (!tr_h1_token_eq(h->name, h->name_len, "content-type", 12))
            continue;
        return h->value_len >= n && strncasecmp(h->value, ct, n) == 0 &&
               (h->value_len == n || h->value[n] == '+' || h->value[n] == ';');
    }
    return false;
}

/* The rule matched but cannot forward the request (why: no valid backend, an unresolved filter):
 * a 500, or, for a gRPC call of a GRPCRoute, the gRPC status UNAVAILABLE, which the
 * GRPCRouteRule.backendRefs docs require for an invalid backend; a plain 500 reads as UNKNOWN to
 * a gRPC client. An unresolved ExtensionRef gets UNAVAILABLE too (the GRPCRouteFilter docs ask
 * for "a HTTP error response" and name no status): a backendRef-level one already makes its
 * backend invalid, so the same mistake answers the same at either level, and UNAVAILABLE says the
 * call was not processed (INTERNAL would say it broke on the way). A request of a GRPCRoute that
 * is not a gRPC call keeps the 500. */
static void c_fail_rule(struct tr_exchange *x, const struct tr_ir_rule *rule, const char *why)
{
    if (rule->spec->route->kind == TR_KIND_GRPCROUTE && grpc_call(x->req)) {
        tr_exchange_respond_grpc(x, GRPC_UNAVAILABLE, why);
        return;
    }
    char body[128];
    snprintf(body, sizeof(body), "%s\n", why);
    tr_exchange_respond(x, 500, NULL, body);
}

/* The route set of mesh port p for clients of namespace ns: their consumer set, else the
 * producer's, into *i. Returns 1, or 0 when none applies (the port is then passed through as
 * TCP: no HTTP port is without a producer set, translate/mesh.c). */
static unsigned mesh_set(const struct tr_ir_port *p, const char *ns, size_t *i)
{
    unsigned found = 0;
    for (size_t k = 0; k < p->nlisteners; k++) {
        const char *client = p->listeners[k]->mesh_client;
        if (client && strcmp(client, ns) == 0) {
            *i = k;
            return 1;
        }
        if (!client) {
            *i = k;
            found = 1;
        }
    }
    return found;
}

bool tr_exchange_dispatch(struct tr_exchange *x, size_t head_len)
{
    struct tr_h1_req *req = x->req;
    x->in_off += head_len; /* a local answer also consumes the head (the slices stay valid) */
    x->upgrade_asked = req->upgrade != NULL;
    char host[256];
    size_t hl = request_host(req, host, sizeof(host));
    /* The port's listeners, looked up once per snapshot on a connection. */
    uint64_t gen = x->snap ? tr_snapshot_generation(x->snap) : 0;
    if (!x->port_gen || gen != x->port_gen) { /* generations are unique; addresses get reused */
        x->port_gen = gen;
        if (!x->snap)
            x->port = NULL;
        else if (x->conn->mesh)
            x->port = tr_snapshot_mesh_port(x->snap, x->conn->laddr, x->conn->lport);
        else
            x->port = tr_snapshot_port(x->snap, x->conn->laddr, x->conn->lport, false);
    }
    const struct tr_ir_port *port = x->port;
    if (!port) {
        tr_exchange_respond(x, x->conn->mesh ? 503 : 404, NULL,
                            x->conn->mesh ? "the Service is gone\n" : "no listener\n");
        return false;
    }
    /* Listener isolation: the listener whose hostname matches the Host most specifically owns
     * the request; routes of the other listeners on the port never see it. */
    size_t best = 0;
    unsigned best_score = 0;
    if (x->conn->mesh) {
        /* The mesh: the address dialled chose the Service, never the Host. The route set of the
         * client's namespace (consumer routes) replaces the producer's for its clients. */
        best_score = mesh_set(port, x->conn->mesh->ns, &best);
    } else if (x->conn->secure) {
        /* TLS: the listener was chosen by SNI during the handshake. A Host it does not serve
         * was sent on a connection meant for another name: 421 (RFC 9110 15.5.20). */
        if (x->conn->tls_listener < 0 || (size_t)x->conn->tls_listener >= port->nlisteners) {
            tr_exchange_respond(x, 421, NULL, "misdirected request\n");
            return false;
        }
        best = (size_t)x->conn->tls_listener;
        best_score = tr_host_score(port->listeners[best]->hostname, host, hl);
        /* The Host must belong to that listener: the one it would select itself, most
         * specific hostname first, as SNI did. A catch-all listener chosen by SNI does not
         * serve a Host that a listener with a hostname claims (connection reuse across
         * names, RFC 9113 9.1.1). */
        for (size_t i = 0; i < port->nlisteners && best_score; i++) {
            const struct tr_ir_listener *l = port->listeners[i];
            if (i != best && l->proto == TR_PROTO_HTTPS && tr_host_score(l->hostname, host, hl) > best_score)
                best_score = 0;
        }
        if (!best_score) {
            x->listener = port->listeners[best];
            tr_exchange_respond(x, 421, NULL, "misdirected request\n");
            return false;
        }
    } else {
        for (size_t i = 0; i < port->nlisteners; i++) {
            const struct tr_ir_listener *l = port->listeners[i];
            if (l->proto != TR_PROTO_HTTP)
                continue;
            unsigned sc = tr_host_score(l->hostname, host, hl);
            if (sc > best_score) {
                best_score = sc;
                best = i;
            }
        }
    }
    struct tr_route_hit hit;
    struct hdr_ctx hctx = {.req = req};
    const char *q = memchr(req->path, '?', req->path_len);
    struct tr_route_req rr = {
        .host = host, .host_len = hl, .method = req->method, .method_len = req->method_len,
        .path = req->path_len ? req->path : "/", .path_len = q ? (size_t)(q - req->path) : (req->path_len ? req->path_len : 1),
        .query = q ? q + 1 : NULL, .query_len = q ? (size_t)(req->path + req->path_len - q - 1) : 0,
        .header = req_header, .ud = &hctx};
    if (best_score)
        x->listener = port->listeners[best];
    if (!best_score || !tr_router_match(tr_snapshot_router(x->snap, port, best), port->listeners[best], &rr, &hit)) {
        tr_exchange_respond(x, 404, NULL, "no route\n");
        return false;
    }
    x->rule = hit.rule;
    x->listener = port->listeners[best];
    tr_extauth_free(x); /* a previous request's on this connection */
    if (hit.rule->spec->unresolved_filter) {
        /* A filter that cannot be resolved is not skipped: every request of the rule fails
         * (tr_ir_rule_spec.unresolved_filter), before any other filter runs. */
        c_fail_rule(x, hit.rule, "unresolved filter");
        return false;
    }

    /* CORS (HTTPCORSFilter): preflights are answered here; for the rest, what the response
     * needs of the request is kept, as the head's bytes may be gone by then. */
    free(x->cors_origin);
    x->cors_origin = NULL;
    const struct tr_ir_cors *cors = tr_cors_filter(hit.rule);
    if (cors) {
        struct tr_cors_req cr = {.method = req->method, .method_len = req->method_len};
        cr.origin = req_header(&hctx, "origin", 6, &cr.origin_len);
        cr.origin = cr.origin ? tr_xstrndup(cr.origin, cr.origin_len) : NULL; /* hctx is reused */
        cr.acrm = req_header(&hctx, "access-control-request-method", 29, &cr.acrm_len);
        char acrm[64];
        if (cr.acrm && cr.acrm_len < sizeof(acrm)) {
            memcpy(acrm, cr.acrm, cr.acrm_len);
            cr.acrm = acrm;
        } else {
            cr.acrm = NULL;
            cr.acrm_len = 0;
        }
        cr.acrh = req_header(&hctx, "access-control-request-headers", 30, &cr.acrh_len);
        for (size_t i = 0; i < req->nheaders; i++)
            if (tr_cors_credential_field(req->headers[i].name, req->headers[i].name_len))
                cr.credentialed = true;
        if (tr_cors_is_preflight(&cr)) {
            struct tr_buf f;
            tr_buf_init(&f, 0);
            int code = tr_cors_preflight(cors, &cr, &f);
            free((char *)cr.origin);
            tr_exchange_respond(x, code > 0 ? code : 500, f.data, NULL);
            tr_buf_dispose(&f);
            return false;
        }
        x->cors_origin = (char *)cr.origin;
        x->cors_origin_len = cr.origin_len;
        x->cors_cred = cr.credentialed;
    }

    /* Filters that answer without a backend (redirects) come first. */
    struct tr_filter_out fo;
    tr_filters_request(hit.rule, hit.match, req, host, x->conn->lport, x->conn->secure, &fo);
    if (fo.redirect_status) {
        char extra[2200];
        snprintf(extra, sizeof(extra), "Location: %s\r\n", fo.location);
        tr_exchange_respond(x, fo.redirect_status, extra, NULL);
        return false;
    }
    const struct tr_ir_backend *b = NULL;
    const struct tr_ir_endpoint *ep = tr_session_lookup(x, hit.rule, hit.match, req, &b);
    if (!ep)
        b = tr_lb_backend(x->w, hit.rule);
    if (!b || b->invalid) {
        /* "all traffic which matches this rule MUST receive a 500" for invalid backends, and
         * for the share of the weight that points at one (HTTPBackendRef docs); UNAVAILABLE
         * for a gRPC call (GRPCRouteRule.backendRefs docs). */
        c_fail_rule(x, hit.rule, "no valid backend");
        return false;
    }
    x->backend = b;
    tr_filters_backend(tr_ir_ref_filters(b->ref), &fo);
    if ((x->upgrade_asked || x->method == TR_H1_CONNECT) && tr_upstream_wants_h2(x, b)) {
        /* A tunnel to an HTTP/2 backend would need CONNECT on its side (RFC 8441 there too):
         * not carried. */
        tr_exchange_respond(x, 501, NULL, "tunnels to an HTTP/2 backend are not supported\n");
        return false;
    }
    if (!ep) {
        ep = tr_lb_endpoint(x->w, b);
        if (!ep) {
            tr_exchange_respond(x, 503, NULL, "no healthy endpoint\n");
            return false;
        }
        tr_session_chosen(x, b, ep);
    }
    if (tr_budget_of(b)) /* (no clock read on requests without one) */
        tr_budget_try(tr_budget_of(b), tr_clock_ms());

    /* The upstream head: origin-form target, the client's fields less hop-by-hop ones, the
     * forwarding fields, and framing torii derived itself. */
    struct tr_req_out out = {.method = req->method, .method_len = req->method_len};
    out.target = req->form == TR_H1_ABSOLUTE ? (req->path_len ? req->path : "/") : req->target;
    out.target_len = req->form == TR_H1_ABSOLUTE ? (req->path_len ? req->path_len : 1) : req->target_len;
    if (fo.path) {
        out.target = fo.path;
        out.target_len = strlen(fo.path);
    }
    /* Host is generated, never copied: the authority routing used (an absolute-form or CONNECT
     * target's, which replaces the received Host, RFC 9112 3.2.2), or the URLRewrite hostname.
     * An HTTP/1.1 request always carries one, empty when the target has no authority (RFC 9112
     * 3.2: an HTTP/1.0 client may send none). A RequestHeaderModifier that sets or removes Host
     * has the last word. */
    if (fo.host || !tr_filters_drop_request_header(&fo, "host", 4)) {
        out.host = fo.host ? fo.host : req->authority ? req->authority : "";
        out.host_len = fo.host ? strlen(fo.host) : req->authority ? req->authority_len : 0;
    }
    struct tr_h1_header kept[TR_H1_MAX_HEADERS];
    struct tr_buf *extra = &x->w->scratch;
    extra->len = 0;
    const char *xff = NULL;
    size_t xff_len = 0;
    for (size_t i = 0; i < req->nheaders; i++) {
        const struct tr_h1_header *h = &req->headers[i];
        if (tr_http_hop_by_hop(h, req->headers, req->nheaders))
            continue;
        if (tr_h1_token_eq(h->name, h->name_len, "x-forwarded-for", 15)) {
            xff = h->value;
            xff_len = h->value_len;
            continue;
        }
        if (tr_h1_token_eq(h->name, h->name_len, "x-forwarded-proto", 17) ||
            tr_h1_token_eq(h->name, h->name_len, "x-forwarded-host", 16))
            continue;
        if (tr_h1_token_eq(h->name, h->name_len, "host", 4))
            continue;
        if (tr_filters_drop_request_header(&fo, h->name, h->name_len))
            continue;
        if (req->minor_version == 0 && tr_h1_token_eq(h->name, h->name_len, "expect", 6)) {
            tr_http_put_expect_http10(extra, h);
            continue;
        }
        kept[out.nfields++] = *h;
    }
    out.fields = kept;
    tr_filters_add_request_headers(&fo, extra);
    tr_buf_puts(extra, "X-Forwarded-For: ");
    if (xff) {
        tr_buf_append(extra, xff, xff_len);
        tr_buf_puts(extra, ", ");
    }
    tr_buf_puts(extra, x->conn->peer);
    tr_buf_puts(extra, "\r\n");
    tr_buf_puts(extra, x->conn->secure ? "X-Forwarded-Proto: https\r\n" : "X-Forwarded-Proto: http\r\n");
    if (req->authority)
        tr_buf_put_field(extra, "X-Forwarded-Host", req->authority, req->authority_len);
    out.extra = extra->data;
    out.extra_len = extra->len;
    out.upgrade = req->upgrade;
    out.upgrade_len = req->upgrade_len;
    bool says_length = req->content_length || req->method_id == TR_H1_POST || req->method_id == TR_H1_PUT;
    if (req->body == TR_H1_BODY_LENGTH && says_length) {
        out.body = TR_H1_BODY_LENGTH;
        out.length = req->content_length;
    } else if (req->body == TR_H1_BODY_CHUNKED || req->body == TR_H1_BODY_CLOSE) {
        out.body = TR_H1_BODY_CHUNKED; /* a length the client did not give */
    }
    x->retries_left = 0;
    x->retryable = false;
    const struct tr_ir_extauth *ea = tr_ir_filters_extauth(hit.rule->spec->filters);
    if (ea)
        return tr_extauth_begin(x, ea, req, ep, &out);
    return tr_exchange_send(x, ep, &out);
}

bool tr_exchange_send(struct tr_exchange *x, const struct tr_ir_endpoint *ep, const struct tr_req_out *out)
{
    const struct tr_ir_rule *rule = x->rule;
    struct upc *u = tr_upstream_connect(x, x->backend, ep);
    if (!u) {
        tr_exchange_respond(x, 502, NULL, "cannot connect to the backend\n");
        return false;
    }
    u->ops->head(u, out);
    if (rule->nmirrors)
        tr_mirror_send(x, rule, out);
    x->retries_left = 0;
    x->retryable = false;
    const struct tr_ir_retry *retry = tr_ir_rule_retry(rule->spec);
    if (retry && x->req_done) {
        /* Only a request without a body can be sent again as it was. */
        x->retryable = true;
        x->retries_left = retry->attempts;
        x->backoff_ms = retry->backoff_ms;
        x->rhead.len = 0;
        tr_req_out_pack(&x->rhead, out);
    }
    struct tr_buf *extra = &x->w->scratch;
    if (extra->cap > 16384)
        tr_buf_dispose(extra); /* an outsized one is not kept */

    if (x->body == TR_H1_BODY_CHUNKED)
        tr_h1_chunked_init(&x->ch, NULL);
    x->state = x->req_done ? C_WAIT : C_BODY;
    /* timeouts.request bounds the exchange, tries and pauses included; backendRequest bounds
     * each try (tr_retry_begin). With only backendRequest set, the tries are bounded one by one and
     * the exchange needs no deadline of its own. */
    uint64_t request_ms, backend_ms;
    tr_filters_timeouts_ms(rule, &request_ms, &backend_ms);
    x->idle_deadline = !request_ms && !backend_ms;
    if (request_ms || !backend_ms)
        tr_timer_start(x->w->loop, &x->timer, request_ms ? request_ms : tr_proxy_response_timeout_ms);
    else
        tr_timer_stop(x->w->loop, &x->timer);
    tr_retry_begin(x, backend_ms);
    return true;
}
