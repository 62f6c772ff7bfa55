/* The ExternalAuth filter (GEP-1494): before a request goes to its backend, an authorization
 * request goes to the filter's service.
 *
 * HTTP protocol: the same method, the path under http.path, Host, Authorization and the
 * allowedHeaders, and with forwardBody the first maxSize bytes of the body. A 200 lets the
 * request through with the approval's allowed fields set on it; any other answer goes to the
 * client as the service gave it (status, fields, body).
 *
 * GRPC protocol: Envoy's ext_authz Check call (proxy/authz_pb.c) with the request's attributes
 * (all its fields, or grpc.allowedHeaders). status OK lets it through with ok_response's fields
 * set, appended or removed; another status denies it with denied_response's status (403 when it
 * gives none), fields and body.
 *
 * Either way a service that cannot be reached or fails denies it (503), one that takes too long
 * too (504): the filter fails closed.
 *
 * The exchange waits in C_AUTH meanwhile, its request body unread in x->in (which may then grow
 * to the body it has to forward: tr_exchange_in_cap); once approved, the request goes on as
 * if just dispatched (tr_exchange_send) and the body follows from x->in as usual, so framing,
 * mirrors and retries are what they would be without the filter. */
#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "http/chunked.h"
#include "http/fields.h"
#include "http/h1_parse.h"
#include "ir/ir.h"
#include "proxy/authz_pb.h"
#include "proxy/filters.h"
#include "proxy/internal.h"
#include "proxy/upstream.h"
#include "worker/lb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The most of a Check answer torii reads (a CheckResponse is a few fields). */
#define GRPC_ANSWER_MAX (256 * 1024)

struct tr_extauth {
    const struct tr_ir_extauth *cfg;
    const struct tr_ir_endpoint *ep; /* where the request goes once approved */
    struct tr_buf head;              /* the authorization request's head, packed */
    struct tr_buf body;              /* what of the request body goes with it (forwardBody) */
    struct tr_buf fields;            /* "Name: value\r\n" lines the approval sets on the request */
    struct tr_buf added;             /* ... and those it adds beside the client's (GRPC append) */
    struct tr_buf removed;           /* "name:\r\n" lines of fields it removes (GRPC) */
    struct tr_buf answer;            /* GRPC: the Check answer's body, and grpc_status */
    int grpc_status;                 /* from the trailers; -1 until they come */
    struct tr_h1_chunked ch;         /* a chunked body decoded out of x->in, not consumed */
    size_t scan;                     /* bytes of x->in past in_off decoded so far */
    bool want_body;                  /* the body is being gathered: not asked yet */
    bool approved;                   /* a 200 came: the rest of the answer is read and dropped */
};

void tr_extauth_free(struct tr_exchange *x)
{
    struct tr_extauth *a = x->auth;
    if (!a)
        return;
    tr_buf_dispose(&a->head);
    tr_buf_dispose(&a->body);
    tr_buf_dispose(&a->fields);
    tr_buf_dispose(&a->added);
    tr_buf_dispose(&a->removed);
    tr_buf_dispose(&a->answer);
    free(a);
    x->auth = NULL;
}

size_t tr_exchange_in_cap(const struct tr_exchange *x)
{
    if (x->auth && x->auth->want_body && x->auth->cfg->max_body + 16384 > TR_WORKER_BUF_HIGH)
        return (size_t)x->auth->cfg->max_body + 16384;
    return TR_WORKER_BUF_HIGH;
}

static bool listed(const char *const *names, const char *name, size_t len)
{
    for (; names && *names; names++)
        if (strlen(*names) == len && strncasecmp(*names, name, len) == 0)
            return true;
    return false;
}

/* Is the client's field h sent to the authorization service? HTTP: Authorization and the
 * allowed ones; GRPC: the allowed ones, all when none is listed. */
static bool sent(const struct tr_ir_extauth *e, const struct tr_h1_header *h)
{
    if (tr_h1_token_eq(h->name, h->name_len, "host", 4) || tr_h1_token_eq(h->name, h->name_len, "content-length", 14) ||
        tr_h1_token_eq(h->name, h->name_len, "transfer-encoding", 17))
        return false; /* generated (HTTP), or :authority and the body's size (GRPC) */
    if (e->protocol == TR_EXTAUTH_GRPC)
        return !e->allowed || listed(e->allowed, h->name, h->name_len);
    if (tr_h1_token_eq(h->name, h->name_len, "authorization", 13))
        return true;
    return listed(e->allowed, h->name, h->name_len);
}

bool tr_extauth_grpc_backend(const struct tr_exchange *x, const struct tr_ir_backend *b)
{
    return x->auth && x->auth->cfg->protocol == TR_EXTAUTH_GRPC && x->rule && b == tr_ir_rule_auth(x->rule);
}

/* A field the service may set on the request, or send to the client: a token name, a value
 * without controls, and not one of HTTP's own (framing, hop-by-hop, the authority). */
static bool settable(const char *name, size_t nl, const char *value, size_t vl)
{
    static const char *const owned[] = {"host",       "content-length", "transfer-encoding", "connection",
                                        "keep-alive", "upgrade",        "te",                "trailer",
                                        "proxy-connection", NULL};
    if (!nl || listed(owned, name, nl))
        return false;
    for (size_t i = 0; i < nl; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c <= 0x20 || c >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", c))
            return false;
    }
    for (size_t i = 0; i < vl; i++) {
        unsigned char c = (unsigned char)value[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return false;
    }
    return true;
}

static void put_line(struct tr_buf *b, const char *name, size_t nl, const char *value, size_t vl)
{
    tr_buf_append(b, name, nl);
    tr_buf_puts(b, ": ");
    tr_buf_append(b, value, vl);
    tr_buf_puts(b, "\r\n");
}

/* Is the approval's field h set on the request? allowedResponseHeaders, or all but Host and
 * Authority; never the fields that describe the approval's own message (its framing, its
 * body's type and encoding, its date and server) nor hop-by-hop ones. */
static bool carried(const struct tr_ir_extauth *e, const struct tr_h1_header *h, const struct tr_h1_resp *r)
{
    static const char *const own[] = {"host",          "authority",     "content-length", "transfer-encoding",
                                      "content-type",  "content-encoding", "date",        "server",
                                      "connection",    "keep-alive",    "upgrade",        "te",
                                      "trailer",       "proxy-connection", NULL};
    if (listed(own, h->name, h->name_len) || tr_http_hop_by_hop(h, r->headers, r->nheaders))
        return false;
    return !e->allowed_resp || listed(e->allowed_resp, h->name, h->name_len);
}

/* Sends the authorization request: its head, and the body gathered. False when it cannot go
 * (no endpoint, no connection): the client has its 503. */
static bool ask(struct tr_exchange *x)
{
    struct tr_extauth *a = x->auth;
    const struct tr_ir_backend *ab = tr_ir_rule_auth(x->rule);
    const struct tr_ir_endpoint *ep = tr_lb_endpoint(x->w, ab);
    struct upc *u = ep ? tr_upstream_connect(x, ab, ep) : NULL;
    if (!u) {
        tr_log_debug("ExternalAuth: %s", ep ? "cannot connect to the authorization service" : "no endpoint is ready");
        x->close_after = !x->req_done;
        tr_exchange_respond(x, 503, NULL, "authorization service unavailable\n");
        return false;
    }
    u->auth = true;
    struct tr_h1_header fields[TR_H1_MAX_HEADERS];
    struct tr_req_out head;
    tr_req_out_unpack(a->head.data, &head, fields);
    if (a->cfg->protocol == TR_EXTAUTH_GRPC) {
        /* Check(CheckRequest): the request's attributes as the head kept them. */
        const char *q = memchr(head.target, '?', head.target_len);
        struct tr_authz_req ar = {
            .src_addr = x->conn->peer, .dst_addr = x->conn->laddr, .dst_port = x->conn->lport,
            .method = head.method, .method_len = head.method_len, .path = head.target, .path_len = head.target_len,
            .query = q ? q + 1 : NULL, .query_len = q ? (size_t)(head.target + head.target_len - q - 1) : 0,
            .host = head.host ? head.host : "", .host_len = head.host_len, .scheme = x->conn->secure ? "https" : "http",
            .protocol = x->h2 ? "HTTP/2" : x->minor == 0 ? "HTTP/1.0" : "HTTP/1.1", .headers = head.fields,
            .nheaders = head.nfields, .body = a->cfg->max_body ? (a->body.data ? a->body.data : "") : NULL,
            .body_len = a->body.len, .size = x->body == TR_H1_BODY_LENGTH ? (int64_t)x->left : x->req_done ? 0 : -1};
        struct tr_buf msg;
        tr_buf_init(&msg, 0);
        tr_authz_encode(&msg, &ar);
        char authority[300];
        snprintf(authority, sizeof(authority), "%s.%s", ab->ref->name, ab->ref->ns);
        static const char call[] = "/envoy.service.auth.v3.Authorization/Check";
        /* A field, not an extra line: the HTTP/2 codec sees it and adds "te: trailers". */
        static const struct tr_h1_header ct = {"content-type", 12, "application/grpc", 16};
        struct tr_req_out g = {.method = "POST", .method_len = 4, .target = call, .target_len = sizeof(call) - 1,
                               .host = authority, .host_len = strlen(authority), .fields = &ct, .nfields = 1,
                               .body = TR_H1_BODY_LENGTH, .length = msg.len};
        u->ops->head(u, &g);
        u->ops->data(u, msg.data, msg.len);
        tr_buf_dispose(&msg);
        a->grpc_status = -1;
    } else {
        head.body = TR_H1_BODY_LENGTH;
        head.length = a->body.len; /* "the actual number of bytes sent", 0 without forwardBody */
        u->ops->head(u, &head);
        if (a->body.len)
            u->ops->data(u, a->body.data, a->body.len);
    }
    u->ops->end(u);
    tr_upstream_flush(u);
    return true;
}

/* Gathers the body to forward out of x->in, without consuming it: true once it is whole. On a
 * body over forwardBody.maxSize the client has its 413 ("Bodies over that size must be
 * rejected with a 4xx"), and false. */
static bool gather(struct tr_exchange *x, bool *refused)
{
    struct tr_extauth *a = x->auth;
    uint64_t max = a->cfg->max_body;
    const char *p = x->in.data + x->in_off + a->scan;
    size_t n = tr_buf_pending(&x->in, x->in_off) - a->scan;
    bool whole = false;
    if (x->body == TR_H1_BODY_LENGTH) {
        size_t take = n < x->left - a->body.len ? n : (size_t)(x->left - a->body.len);
        tr_buf_append(&a->body, p, take);
        a->scan += take;
        whole = a->body.len == x->left;
    } else if (x->body == TR_H1_BODY_CHUNKED) {
        while (n && !whole) {
            const char *data;
            size_t dlen;
            ssize_t used = tr_h1_chunked_decode(&a->ch, p, n, &data, &dlen);
            if (used < 0) {
                *refused = true;
                x->close_after = true;
                tr_exchange_respond(x, 400, NULL, "malformed chunked body\n");
                return false;
            }
            if (a->body.len + dlen > max) {
                a->body.len = max + 1; /* refused below: the decoder has moved past it */
                break;
            }
            tr_buf_append(&a->body, data, dlen);
            a->scan += (size_t)used;
            p += used;
            n -= (size_t)used;
            whole = tr_h1_chunked_done(&a->ch);
            if (used == 0)
                break;
        }
        if (!whole && a->body.len <= max && tr_buf_pending(&x->in, x->in_off) >= tr_exchange_in_cap(x))
            a->body.len = max + 1; /* the framing alone fills what torii holds: too big all the same */
    } else { /* an HTTP/2 body without a length: until the stream's end */
        tr_buf_append(&a->body, p, n);
        a->scan += n;
        whole = x->in_end;
    }
    if (a->body.len > max) {
        *refused = true;
        x->close_after = true;
        tr_exchange_respond(x, 413, NULL, "request body larger than the authorization service takes\n");
        return false;
    }
    return whole;
}

bool tr_extauth_begin(struct tr_exchange *x, const struct tr_ir_extauth *e, const struct tr_h1_req *req,
                      const struct tr_ir_endpoint *ep, const struct tr_req_out *out)
{
    const struct tr_ir_backend *ab = tr_ir_rule_auth(x->rule);
    if (!ab || ab->invalid) {
        /* A reference that does not resolve fails the request closed (its route says why). */
        tr_exchange_respond(x, 500, NULL, "the authorization service cannot be resolved\n");
        return false;
    }
    if (e->max_body && req->body == TR_H1_BODY_LENGTH && req->content_length > e->max_body) {
        x->close_after = true;
        tr_exchange_respond(x, 413, NULL, "request body larger than the authorization service takes\n");
        return false;
    }
    tr_extauth_free(x);
    struct tr_extauth *a = x->auth = tr_xcalloc(1, sizeof(*a));
    a->cfg = e;
    a->ep = ep;
    /* The backend's head, for when the request is approved. */
    x->rhead.len = 0;
    tr_req_out_pack(&x->rhead, out);
    /* The authorization request's: the client's method and target (under http.path), Host,
     * Authorization and the allowed fields; its framing is set when it goes (ask). */
    struct tr_h1_header kept[TR_H1_MAX_HEADERS];
    struct tr_req_out h = {.method = req->method, .method_len = req->method_len, .fields = kept};
    const char *target = req->form == TR_H1_ABSOLUTE ? (req->path_len ? req->path : "/") : req->target;
    size_t target_len = req->form == TR_H1_ABSOLUTE ? (req->path_len ? req->path_len : 1) : req->target_len;
    char *joined = NULL;
    if (*e->path_prefix) {
        size_t pl = strlen(e->path_prefix);
        while (pl && e->path_prefix[pl - 1] == '/')
            pl--; /* "/auth/" + "/x" is "/auth/x" */
        joined = tr_xmalloc(pl + target_len + 1);
        memcpy(joined, e->path_prefix, pl);
        memcpy(joined + pl, target, target_len);
        h.target = joined;
        h.target_len = pl + target_len;
    } else {
        h.target = target;
        h.target_len = target_len;
    }
    h.host = req->authority ? req->authority : "";
    h.host_len = req->authority ? req->authority_len : 0;
    for (size_t i = 0; i < req->nheaders; i++)
        if (!tr_http_hop_by_hop(&req->headers[i], req->headers, req->nheaders) && sent(e, &req->headers[i]))
            kept[h.nfields++] = req->headers[i];
    tr_req_out_pack(&a->head, &h);
    free(joined);
    a->want_body = e->max_body && !x->req_done;
    if (a->want_body && x->body == TR_H1_BODY_CHUNKED)
        tr_h1_chunked_init(&a->ch, NULL);
    x->state = C_AUTH;
    /* The question has a deadline of its own: the rule's timeouts.request, else the response
     * timeout (the request's starts again once it is approved). */
    uint64_t request_ms, backend_ms;
    tr_filters_timeouts_ms(x->rule, &request_ms, &backend_ms);
    tr_timer_start(x->w->loop, &x->timer, request_ms ? request_ms : tr_proxy_response_timeout_ms);
    if (!a->want_body)
        return ask(x);
    tr_extauth_input(x); /* what of the body came with the head */
    return !x->closed && x->state == C_AUTH;
}

void tr_extauth_input(struct tr_exchange *x)
{
    struct tr_extauth *a = x->auth;
    if (!a || !a->want_body || x->up)
        return;
    bool refused = false;
    if (!gather(x, &refused))
        return;
    a->want_body = false;
    ask(x);
}

/* A grpc-status value: its code, or 2 (UNKNOWN) when it is not a number. */
static int grpc_code(const char *v, size_t n)
{
    int code = 0;
    if (!n || n > 3)
        return 2;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return 2;
        code = code * 10 + (v[i] - '0');
    }
    return code;
}

bool tr_extauth_head(struct upc *u)
{
    struct tr_exchange *x = u->x;
    struct tr_extauth *a = x->auth;
    const struct tr_h1_resp *r = &u->resp;
    if (r->status < 200)
        return !x->closed; /* interim answers are the service's own business */
    if (a->cfg->protocol == TR_EXTAUTH_GRPC) {
        /* The call's answer is read whole (tr_extauth_data), then judged (tr_extauth_done). */
        if (r->status != 200) {
            tr_upstream_fail(u, "the authorization service answered the Check call with an HTTP error");
            return false;
        }
        for (size_t i = 0; i < r->nheaders; i++) /* a Trailers-Only answer */
            if (tr_h1_token_eq(r->headers[i].name, r->headers[i].name_len, "grpc-status", 11))
                a->grpc_status = grpc_code(r->headers[i].value, r->headers[i].value_len);
        a->approved = true;
        u->head_done = true;
        u->body = r->body;
        u->left = r->content_length;
        u->keep_alive = r->keep_alive;
        u->resp_done = u->body == TR_H1_BODY_NONE || (u->body == TR_H1_BODY_LENGTH && u->left == 0);
        return true;
    }
    if (r->status != 200) {
        /* Denied: the client gets the service's answer as it is, through the rule's response
         * filters as any answer; no session starts with it. */
        tr_log_debug("ExternalAuth: denied with %d", r->status);
        u->auth = false;
        x->backend = NULL;
        x->sess_issue = false;
        x->state = C_WAIT;
        tr_extauth_free(x);
        return tr_response_head(u);
    }
    a->approved = true;
    u->head_done = true;
    u->body = r->body;
    u->left = r->content_length;
    u->keep_alive = r->keep_alive;
    a->fields.len = 0;
    for (size_t i = 0; i < r->nheaders; i++) {
        const struct tr_h1_header *h = &r->headers[i];
        if (carried(a->cfg, h, r))
            put_line(&a->fields, h->name, h->name_len, h->value, h->value_len);
    }
    u->resp_done = u->body == TR_H1_BODY_NONE || (u->body == TR_H1_BODY_LENGTH && u->left == 0);
    return true;
}

void tr_extauth_data(struct upc *u, const char *p, size_t n)
{
    struct tr_extauth *a = u->x ? u->x->auth : NULL;
    if (!a || a->cfg->protocol != TR_EXTAUTH_GRPC)
        return; /* an HTTP approval's body is dropped */
    if (a->answer.len + n > GRPC_ANSWER_MAX) {
        a->answer.len = GRPC_ANSWER_MAX + 1; /* judged broken at the end */
        return;
    }
    tr_buf_append(&a->answer, p, n);
}

void tr_extauth_trailers(struct upc *u, const char *trailers, size_t len)
{
    struct tr_extauth *a = u->x ? u->x->auth : NULL;
    if (!a || a->cfg->protocol != TR_EXTAUTH_GRPC || !trailers)
        return;
    struct tr_h1_header f;
    for (const char *p = trailers; tr_http_next_line_field(&p, trailers + len, &f);)
        if (tr_h1_token_eq(f.name, f.name_len, "grpc-status", 11))
            a->grpc_status = grpc_code(f.value, f.value_len);
}

/* GRPC: the Check answer, judged. True when approved (its fields noted); otherwise the client
 * has its answer (the denial, or 503 for a broken call). */
static bool judge(struct tr_exchange *x)
{
    struct tr_extauth *a = x->auth;
    const unsigned char *m = (const unsigned char *)a->answer.data;
    size_t n = a->answer.len;
    uint32_t len = n >= 5 ? (uint32_t)m[1] << 24 | (uint32_t)m[2] << 16 | (uint32_t)m[3] << 8 | m[4] : 0;
    struct tr_authz_resp r;
    if (a->grpc_status != 0 || n < 5 || m[0] != 0 || len != n - 5 ||
        tr_authz_decode((const char *)m + 5, len, &r) != 0) {
        tr_log_debug("ExternalAuth: the Check call failed (grpc-status %d, %zu bytes)", a->grpc_status, n);
        x->close_after = !x->req_done;
        tr_exchange_respond(x, 503, NULL, "authorization service unavailable\n");
        return false;
    }
    if (r.code != 0) {
        struct tr_buf extra;
        tr_buf_init(&extra, 0);
        for (size_t i = 0; i < r.nfields; i++)
            if (settable(r.fields[i].name, r.fields[i].name_len, r.fields[i].value, r.fields[i].value_len))
                put_line(&extra, r.fields[i].name, r.fields[i].name_len, r.fields[i].value, r.fields[i].value_len);
        char *body = tr_xmalloc(r.body_len + 1);
        memcpy(body, r.body ? r.body : "", r.body_len);
        body[r.body_len] = 0;
        tr_log_debug("ExternalAuth: denied (Check status %d)", (int)r.code);
        x->close_after = !x->req_done;
        x->sess_issue = false;
        tr_buf_putc(&extra, 0);
        tr_exchange_respond(x, r.http_status ? r.http_status : 403, extra.data, body);
        tr_buf_dispose(&extra);
        free(body);
        return false;
    }
    for (size_t i = 0; i < r.nfields; i++) {
        const struct tr_authz_field *f = &r.fields[i];
        if (settable(f->name, f->name_len, f->value, f->value_len))
            put_line(f->append ? &a->added : &a->fields, f->name, f->name_len, f->value, f->value_len);
    }
    for (size_t i = 0; i < r.nremove; i++)
        if (settable(r.remove[i].name, r.remove[i].name_len, "", 0))
            put_line(&a->removed, r.remove[i].name, r.remove[i].name_len, "", 0);
    return true;
}

/* Does the approval set a field named name (so the client's goes)? */
static bool replaced(const struct tr_buf *fields, const char *name, size_t len)
{
    struct tr_h1_header f;
    for (const char *p = fields->data; p && tr_http_next_line_field(&p, fields->data + fields->len, &f);)
        if (f.name_len == len && strncasecmp(f.name, name, len) == 0)
            return true;
    return false;
}

void tr_extauth_done(struct upc *u)
{
    struct tr_exchange *x = u->x;
    struct tr_extauth *a = x->auth;
    tr_upstream_release(u); /* back to the pool when it can be */
    x->up = NULL;
    if (a->cfg->protocol == TR_EXTAUTH_GRPC && !judge(x))
        return;
    /* Approved: the request goes on as dispatch left it, with the approval's fields set. Its
     * head is taken out of x->rhead, which tr_exchange_send may fill again (retries). */
    struct tr_buf saved = x->rhead;
    tr_buf_init(&x->rhead, 0);
    struct tr_h1_header fields[TR_H1_MAX_HEADERS], kept[TR_H1_MAX_HEADERS];
    struct tr_req_out out;
    tr_req_out_unpack(saved.data, &out, fields);
    size_t n = 0;
    for (size_t i = 0; i < out.nfields; i++)
        if (!replaced(&a->fields, fields[i].name, fields[i].name_len) &&
            !replaced(&a->removed, fields[i].name, fields[i].name_len))
            kept[n++] = fields[i];
    out.fields = kept;
    out.nfields = n;
    struct tr_buf extra;
    tr_buf_init(&extra, 0);
    tr_buf_append(&extra, out.extra, out.extra_len);
    if (a->fields.len)
        tr_buf_append(&extra, a->fields.data, a->fields.len);
    if (a->added.len)
        tr_buf_append(&extra, a->added.data, a->added.len);
    out.extra = extra.data;
    out.extra_len = extra.len;
    const struct tr_ir_endpoint *ep = a->ep;
    x->state = C_BODY;
    bool sent_on = tr_exchange_send(x, ep, &out);
    tr_buf_dispose(&extra);
    tr_buf_dispose(&saved);
    tr_extauth_free(x);
    if (sent_on)
        tr_exchange_body(x);
}
