/* The response half of an exchange, between the backend's codec and the client's: what an
 * upstream codec read (a head, body bytes, an end with trailers) becomes the client's response
 * through x->down, with the response filters and CORS applied, 1xx relayed, a status the rule
 * retries on turned into another try, and upgrades and CONNECT turned into tunnels. Nothing here
 * knows a wire format: HTTP/1.1 text and HTTP/2 frames are the codecs' (docs/internals/exchange.md). */
#include "base/log.h"
#include "http/fields.h"
#include "ir/ir.h"
#include "proxy/cors.h"
#include "proxy/filters.h"
#include "proxy/internal.h"
#include "proxy/session.h"
#include "proxy/upstream.h"

#include <stdlib.h>

/* The backend's fields less the hop-by-hop ones, into kept (room for TR_H1_MAX_HEADERS). */
static size_t end_to_end(const struct tr_h1_resp *r, struct tr_h1_header *kept, const struct tr_filter_out *fo,
                         const struct tr_ir_cors *cors)
{
    size_t n = 0;
    for (size_t i = 0; i < r->nheaders; i++) {
        const struct tr_h1_header *h = &r->headers[i];
        if (tr_http_hop_by_hop(h, r->headers, r->nheaders))
            continue;
        if (fo && tr_filters_drop_response_header(fo, h->name, h->name_len))
            continue;
        if (cors && tr_cors_drop_response_header(cors, h->name, h->name_len))
            continue;
        kept[n++] = *h;
    }
    return n;
}

/* A 1xx: 100 Continue and 103 Early Hints go on with their fields (a 103 is there for its Link
 * fields, RFC 8297); others are dropped. The client's codec drops them too for a client that
 * cannot take them (HTTP/1.0, RFC 9110 15.2). */
static void interim(struct upc *u, struct tr_exchange *x)
{
    const struct tr_h1_resp *r = &u->resp;
    if (r->status != 100 && r->status != 103)
        return;
    struct tr_h1_header kept[TR_H1_MAX_HEADERS];
    struct tr_resp_out out = {.status = r->status, .fields = kept, .end = true};
    out.nfields = end_to_end(r, kept, NULL, NULL);
    x->down->head(x, &out);
}

/* The final head, through the response filters and CORS. */
static void final_head(struct upc *u, struct tr_exchange *x)
{
    const struct tr_h1_resp *r = &u->resp;
    struct tr_filter_out fo;
    tr_filters_response(x->rule, x->backend ? tr_ir_ref_filters(x->backend->ref) : NULL, &fo); /* x->backend answered */
    const struct tr_ir_cors *cors = tr_cors_filter(x->rule);
    struct tr_h1_header kept[TR_H1_MAX_HEADERS];
    struct tr_resp_out out = {.status = r->status, .reason = r->reason, .reason_len = r->reason_len, .fields = kept};
    out.nfields = end_to_end(r, kept, &fo, cors);
    struct tr_buf extra;
    tr_buf_init(&extra, 0);
    tr_filters_add_response_headers(&fo, &extra);
    tr_session_response(x, &extra);
    if (cors) {
        struct tr_cors_req cr = {
            .origin = x->cors_origin, .origin_len = x->cors_origin_len, .credentialed = x->cors_cred};
        tr_cors_response(cors, &cr, r->headers, r->nheaders, &extra);
    }
    out.extra = extra.data;
    out.extra_len = extra.len;
    out.tunnel = r->status == 101 || u->body == TR_H1_BODY_TUNNEL;
    out.upgrade = r->upgrade;
    out.upgrade_len = r->upgrade_len;
    out.has_length = u->body == TR_H1_BODY_LENGTH;
    out.length = r->content_length;
    out.close = u->body == TR_H1_BODY_CLOSE;
    out.end = !out.tunnel && (u->body == TR_H1_BODY_NONE || (out.has_length && out.length == 0));
    x->down->head(x, &out);
    tr_buf_dispose(&extra);
}

bool tr_response_head(struct upc *u)
{
    if (u->auth)
        return tr_extauth_head(u);
    struct tr_exchange *x = u->x;
    const struct tr_h1_resp *r = &u->resp;
    if (r->status == 101 && !x->upgrade_asked) {
        /* RFC 9110 15.2.2: a server switches only to a protocol the request's Upgrade named.
         * torii sends Upgrade only for a client that asked, so any other 101 is a broken
         * response: tunnelling it would hand an HTTP/1.0 client a 1xx (15.2) and any client a
         * connection it cannot read. */
        tr_upstream_fail(u, "101 to a request without Upgrade");
        return false;
    }
    if (r->status < 200 && r->status != 101) {
        interim(u, x);
        return !x->closed;
    }
    if (tr_retry_code(x, r->status) && x->retries_left > 0) {
        /* The answer is dropped with its connection; the request goes out again. */
        tr_log_debug("retrying after status %d from %s", r->status, u->key);
        u->x = NULL;
        tr_upstream_close(u);
        tr_retry_later(x);
        return false;
    }
    u->head_done = true;
    u->body = r->body;
    u->left = r->content_length;
    u->keep_alive = r->keep_alive;
    final_head(u, x);
    if (x->closed)
        return false;
    if (r->status == 101 || u->body == TR_H1_BODY_TUNNEL) {
        /* After a 101, or a 2xx to CONNECT: bytes both ways from here on. */
        x->state = C_TUNNEL;
        u->body = TR_H1_BODY_TUNNEL;
        tr_timer_stop(x->w->loop, &x->timer);
        tr_timer_stop(x->w->loop, &x->rtimer); /* a tunnel has no end for backendRequest to time */
        x->down->process(x);
        if (x->closed || u->closed)
            return false;
    }
    u->resp_done = u->body == TR_H1_BODY_NONE || (u->body == TR_H1_BODY_LENGTH && u->left == 0);
    return true;
}

bool tr_response_room(const struct upc *u)
{
    if (u->auth)
        return true; /* an approval's body is dropped */
    const struct tr_exchange *x = u->x;
    return tr_buf_pending(&x->out, x->out_off) < TR_WORKER_BUF_HIGH;
}

void tr_response_data(struct upc *u, const char *p, size_t n)
{
    if (u->auth) {
        tr_extauth_data(u, p, n);
        return;
    }
    struct tr_exchange *x = u->x;
    if (n && x->method != TR_H1_HEAD)
        x->down->data(x, p, n);
}

void tr_response_end(struct upc *u, const char *trailers, size_t len)
{
    struct tr_exchange *x = u->x;
    u->resp_done = true;
    if (u->auth) {
        tr_extauth_trailers(u, trailers, len);
        return;
    }
    x->down->end(x, trailers, len);
}

void tr_response_settle(struct upc *u, bool moved)
{
    if (u->auth) {
        if (u->resp_done)
            tr_extauth_done(u);
        return;
    }
    struct tr_exchange *x = u->x;
    /* No route timeout: torii's own deadline times the response's progress too, not its
     * length (a long download or stream goes on while bytes keep coming). */
    if (x->idle_deadline && moved && !u->resp_done && x->state != C_TUNNEL)
        tr_timer_start(x->w->loop, &x->timer, tr_proxy_response_timeout_ms);
    bool tunnel = u->body == TR_H1_BODY_TUNNEL;
    if (u->resp_done && !tunnel)
        tr_reqlog_end(x, u->resp.status); /* counted before its last byte can reach the client */
    x->down->flush(x);
    if (x->closed)
        return;
    if (u->resp_done && !tunnel) {
        tr_exchange_done(u);
    } else if (u->resp_done) {
        /* The backend closed the tunnel: the client's side ends once its bytes are out. */
        x->close_after = true;
        x->req_done = true;
        x->resp_end = true;
        x->down->flush(x);
    }
}
