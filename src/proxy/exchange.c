/* One request from head to response: routing (listener by host and SNI, router, CORS
 * preflight, redirects, the filters), the backend and endpoint, the upstream request head, and
 * answers torii makes itself (404, 421, 5xx, gRPC statuses). */
#include "api/kind.h"
#include "base/mem.h"
#include "http/fields.h"
#include "ir/ir.h"
#include "ir/router.h"
#include "proxy/cors.h"
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

bool tr_exchange_reusable(const struct h1c *c)
{
    return c->keep_alive && c->w->drain == TR_DRAIN_OFF;
}

/* Answers the request in flight from torii itself, through the client's codec. A request whose
 * body was not read closes the connection afterwards: what follows on it cannot be framed. extra
 * is "Name: value\r\n" lines or NULL; length: say the length (HTTP/1.1 needs it to frame the
 * answer; a gRPC Trailers-Only answer over HTTP/2 has none). */
static void respond(struct h1c *c, int code, const char *extra, const char *body, bool length)
{
    tr_mirror_release(c, !c->req_done);
    tr_timer_stop(c->w->loop, &c->rtimer); /* no try is in flight or pending any more */
    size_t blen = body ? strlen(body) : 0;
    if (c->body != TR_H1_BODY_NONE && !c->req_done)
        c->close_after = true;
    struct tr_buf fields;
    tr_buf_init(&fields, 0);
    if (blen)
        tr_buf_puts(&fields, "Content-Type: text/plain; charset=utf-8\r\n");
    if (extra)
        tr_buf_puts(&fields, extra);
    struct tr_resp_out out = {.status = code, .extra = fields.data, .extra_len = fields.len};
    out.has_length = length && code != 204; /* RFC 9110 8.6: never with a 204 */
    out.length = blen;
    out.end = !blen || c->method == TR_H1_HEAD;
    c->down->head(c, &out);
    tr_buf_dispose(&fields);
    if (blen && c->method != TR_H1_HEAD)
        c->down->data(c, body, blen);
    tr_reqlog_end(c, code);
    /* The exchange is over as far as the client is concerned. */
    c->req_done = true;
    c->state = C_WAIT;
    tr_snapshot_release(c->snap);
    c->snap = NULL;
    /* Not resumed: the caller goes on processing what it has read. */
    c->down->done(c, false);
}

void tr_exchange_respond(struct h1c *c, int code, const char *extra, const char *body)
{
    respond(c, code, extra, body, true);
}

void tr_exchange_respond_grpc(struct h1c *c, int grpc_status, const char *msg)
{
    char extra[512];
    snprintf(extra, sizeof(extra), "Content-Type: application/grpc\r\nGrpc-Status: %d\r\nGrpc-Message: %s\r\n",
             grpc_status, msg);
    respond(c, 200, extra, NULL, false);
}

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
static void c_fail_rule(struct h1c *c, const struct tr_ir_rule *rule, const char *why)
{
    if (rule->route_kind == TR_KIND_GRPCROUTE && grpc_call(c->req)) {
        tr_exchange_respond_grpc(c, GRPC_UNAVAILABLE, why);
        return;
    }
    char body[128];
    snprintf(body, sizeof(body), "%s\n", why);
    tr_exchange_respond(c, 500, NULL, body);
}

bool tr_exchange_dispatch(struct h1c *c, size_t head_len)
{
    struct tr_h1_req *req = c->req;
    c->in_off += head_len; /* a local answer also consumes the head (the slices stay valid) */
    c->upgrade_asked = req->upgrade != NULL;
    char host[256];
    size_t hl = request_host(req, host, sizeof(host));
    /* The port's listeners, looked up once per snapshot on a connection. */
    uint64_t gen = c->snap ? tr_snapshot_generation(c->snap) : 0;
    if (!c->port_gen || gen != c->port_gen) { /* generations are unique; addresses get reused */
        c->port_gen = gen;
        c->port = c->snap ? tr_snapshot_port(c->snap, c->laddr, c->lport, false) : NULL;
    }
    const struct tr_ir_port *port = c->port;
    if (!port) {
        tr_exchange_respond(c, 404, NULL, "no listener\n");
        return false;
    }
    /* Listener isolation: the listener whose hostname matches the Host most specifically owns
     * the request; routes of the other listeners on the port never see it. */
    size_t best = 0;
    unsigned best_score = 0;
    if (c->secure) {
        /* TLS: the listener was chosen by SNI during the handshake. A Host it does not serve
         * was sent on a connection meant for another name: 421 (RFC 9110 15.5.20). */
        if (c->tls_listener < 0 || (size_t)c->tls_listener >= port->nlisteners) {
            tr_exchange_respond(c, 421, NULL, "misdirected request\n");
            return false;
        }
        best = (size_t)c->tls_listener;
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
            c->listener = port->listeners[best];
            tr_exchange_respond(c, 421, NULL, "misdirected request\n");
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
        c->listener = port->listeners[best];
    if (!best_score || !tr_router_match(tr_snapshot_router(c->snap, port, best), port->listeners[best], &rr, &hit)) {
        tr_exchange_respond(c, 404, NULL, "no route\n");
        return false;
    }
    c->rule = hit.rule;
    c->listener = port->listeners[best];
    if (hit.rule->unresolved_filter) {
        /* A filter that cannot be resolved is not skipped: every request of the rule fails
         * (tr_ir_rule.unresolved_filter), before any other filter runs. */
        c_fail_rule(c, hit.rule, "unresolved filter");
        return false;
    }

    /* CORS (HTTPCORSFilter): preflights are answered here; for the rest, what the response
     * needs of the request is kept, as the head's bytes may be gone by then. */
    free(c->cors_origin);
    c->cors_origin = NULL;
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
            tr_exchange_respond(c, code > 0 ? code : 500, f.data, NULL);
            tr_buf_dispose(&f);
            return false;
        }
        c->cors_origin = (char *)cr.origin;
        c->cors_origin_len = cr.origin_len;
        c->cors_cred = cr.credentialed;
    }

    /* Filters that answer without a backend (redirects) come first. */
    struct tr_filter_out fo;
    tr_filters_request(hit.rule, hit.match, req, host, c->lport, c->secure, &fo);
    if (fo.redirect_status) {
        char extra[2200];
        snprintf(extra, sizeof(extra), "Location: %s\r\n", fo.location);
        tr_exchange_respond(c, fo.redirect_status, extra, NULL);
        return false;
    }
    const struct tr_ir_backend *b = tr_lb_backend(c->w, hit.rule);
    if (!b || b->invalid) {
        /* "all traffic which matches this rule MUST receive a 500" for invalid backends, and
         * for the share of the weight that points at one (HTTPBackendRef docs); UNAVAILABLE
         * for a gRPC call (GRPCRouteRule.backendRefs docs). */
        c_fail_rule(c, hit.rule, "no valid backend");
        return false;
    }
    c->backend = b;
    tr_filters_backend(&b->filters, &fo);
    if ((c->upgrade_asked || c->method == TR_H1_CONNECT) && tr_upstream_wants_h2(hit.rule, b)) {
        /* A tunnel to an HTTP/2 backend would need CONNECT on its side (RFC 8441 there too):
         * not carried. */
        tr_exchange_respond(c, 501, NULL, "tunnels to an HTTP/2 backend are not supported\n");
        return false;
    }
    const struct tr_ir_endpoint *ep = tr_lb_endpoint(c->w, b);
    if (!ep) {
        tr_exchange_respond(c, 503, NULL, "no healthy endpoint\n");
        return false;
    }
    struct upc *u = tr_upstream_connect(c, b, ep);
    if (!u) {
        tr_exchange_respond(c, 502, NULL, "cannot connect to the backend\n");
        return false;
    }

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
    struct tr_buf *extra = &c->w->scratch;
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
    tr_buf_puts(extra, c->peer);
    tr_buf_puts(extra, "\r\n");
    tr_buf_puts(extra, c->secure ? "X-Forwarded-Proto: https\r\n" : "X-Forwarded-Proto: http\r\n");
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
    u->ops->head(u, &out);
    if (hit.rule->nmirrors)
        tr_mirror_send(c, hit.rule, &out);
    c->retries_left = 0;
    c->retryable = false;
    const struct tr_ir_retry *retry = hit.rule->retry;
    if (retry && c->req_done) {
        /* Only a request without a body can be sent again as it was. */
        c->retryable = true;
        c->retries_left = retry->attempts;
        c->backoff_ms = retry->backoff_ms;
        c->rhead.len = 0;
        tr_req_out_pack(&c->rhead, &out);
    }
    if (extra->cap > 16384)
        tr_buf_dispose(extra); /* an outsized one is not kept */

    if (c->body == TR_H1_BODY_CHUNKED)
        tr_h1_chunked_init(&c->ch, NULL);
    c->state = c->req_done ? C_WAIT : C_BODY;
    /* timeouts.request bounds the exchange, tries and pauses included; backendRequest bounds
     * each try (tr_retry_begin). With only backendRequest set, the tries are bounded one by one and
     * the exchange needs no deadline of its own. */
    uint64_t request_ms, backend_ms;
    tr_filters_timeouts_ms(hit.rule, &request_ms, &backend_ms);
    c->idle_deadline = !request_ms && !backend_ms;
    if (request_ms || !backend_ms)
        tr_timer_start(c->w->loop, &c->timer, request_ms ? request_ms : tr_proxy_response_timeout_ms);
    else
        tr_timer_stop(c->w->loop, &c->timer);
    tr_retry_begin(c, backend_ms);
    return true;
}

void tr_exchange_done(struct upc *u)
{
    struct h1c *c = u->c;
    if (c)
        tr_reqlog_end(c, u->resp.status);
    /* An HTTP/2 stream is never pooled: it ends here, its carrier stays (h2_client.c). */
    bool reuse = u->keep_alive && c && c->req_done && tr_buf_pending(&u->in, u->in_off) == 0 && !u->eof &&
                 u->ops == &tr_h1u_ops && tr_pool_current(u->w, u);
    if (c) {
        c->up = NULL;
        tr_timer_stop(c->w->loop, &c->rtimer);
        tr_snapshot_release(c->snap);
        c->snap = NULL;
    }
    u->c = NULL;
    if (reuse) {
        u->head_done = u->resp_done = false;
        tr_worker_buf_release(u->w, &u->in); /* nothing pending either way: an idle upstream holds none */
        tr_worker_buf_release(u->w, &u->out);
        u->in_off = u->out_off = 0;
        tr_timer_stop(u->w->loop, &u->timer);
        tr_pool_put(u->w, u);
    } else {
        tr_upstream_close(u);
    }
    if (!c)
        return;
    if (!c->req_done) {
        tr_mirror_release(c, true);
        /* The backend answered before the whole request body came: the rest of the body
         * cannot be told from a next request (HTTP/1.1: the connection ends after the
         * response; HTTP/2: the stream's further DATA are dropped). */
        c->req_done = true;
        c->close_after = true;
    }
    c->state = C_WAIT;
    c->down->done(c, true);
}

/* The packed form: this struct, then method, target, host, upgrade, extra, then each field as
 * its two lengths, name and value. */
struct packed {
    uint32_t method_len, target_len, host_len, upgrade_len, extra_len, nfields;
    uint64_t length;
    uint8_t body, has_host, has_upgrade;
};

static void put_u32s(struct tr_buf *b, uint32_t x, uint32_t y)
{
    uint32_t v[2] = {x, y};
    tr_buf_append(b, (const char *)v, sizeof(v));
}

void tr_req_out_pack(struct tr_buf *b, const struct tr_req_out *r)
{
    struct packed k = {(uint32_t)r->method_len, (uint32_t)r->target_len, (uint32_t)r->host_len,
                       (uint32_t)r->upgrade_len, (uint32_t)r->extra_len, (uint32_t)r->nfields, r->length,
                       (uint8_t)r->body, r->host != NULL, r->upgrade != NULL};
    tr_buf_append(b, (const char *)&k, sizeof(k));
    tr_buf_append(b, r->method, r->method_len);
    tr_buf_append(b, r->target, r->target_len);
    tr_buf_append(b, r->host, r->host_len);
    tr_buf_append(b, r->upgrade, r->upgrade_len);
    tr_buf_append(b, r->extra, r->extra_len);
    for (size_t i = 0; i < r->nfields; i++) {
        put_u32s(b, (uint32_t)r->fields[i].name_len, (uint32_t)r->fields[i].value_len);
        tr_buf_append(b, r->fields[i].name, r->fields[i].name_len);
        tr_buf_append(b, r->fields[i].value, r->fields[i].value_len);
    }
}

void tr_req_out_unpack(const char *p, struct tr_req_out *r, struct tr_h1_header *fields)
{
    struct packed k;
    memcpy(&k, p, sizeof(k));
    p += sizeof(k);
    *r = (struct tr_req_out){.body = (enum tr_h1_body)k.body, .length = k.length, .fields = fields};
    r->method = p;
    r->method_len = k.method_len;
    p += k.method_len;
    r->target = p;
    r->target_len = k.target_len;
    p += k.target_len;
    r->host = k.has_host ? p : NULL;
    r->host_len = k.host_len;
    p += k.host_len;
    r->upgrade = k.has_upgrade ? p : NULL;
    r->upgrade_len = k.upgrade_len;
    p += k.upgrade_len;
    r->extra = p;
    r->extra_len = k.extra_len;
    p += k.extra_len;
    r->nfields = k.nfields;
    for (uint32_t i = 0; i < k.nfields; i++) {
        uint32_t v[2];
        memcpy(v, p, sizeof(v));
        p += sizeof(v);
        fields[i] = (struct tr_h1_header){p, v[0], p + v[0], v[1]};
        p += v[0] + v[1];
    }
}
