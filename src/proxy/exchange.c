/* The exchange's life, whatever its codecs: a request head parsed by the client's codec starts
 * it (tr_exchange_start; the routing is dispatch.c's), its body goes to the backend's codec
 * unframed, the response comes back through response.c, and it ends with the response
 * (tr_exchange_done), an answer of torii's own (tr_exchange_respond), a timeout, or a close.
 * Framing is re-derived on every hop from the parsed heads (h1_parse.h): a request torii cannot
 * frame exactly is refused, so the two sides never disagree about where a message ends. Bodies
 * are never buffered whole: each direction holds at most TR_WORKER_BUF_HIGH bytes before the
 * other side stops being read. The request as it goes upstream (struct tr_req_out) is packed
 * here for retries, mirrors and HTTP/2 replays. */
#include "base/mem.h"
#include "base/metrics.h"
#include "proxy/internal.h"
#include "proxy/upstream.h"
#include "snapshot/snapshot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static void x_timeout(struct tr_loop *loop, struct tr_timer *t);

void tr_exchange_init(struct tr_exchange *x, struct worker *w, const struct tr_down_ops *down,
                      const struct tr_conn_facts *conn)
{
    x->w = w;
    x->down = down;
    x->conn = conn;
    tr_buf_init(&x->in, 0);
    tr_buf_init(&x->out, 0);
    x->state = C_HEAD;
    x->timer.cb = x_timeout;
    x->timer.data = x;
}

void tr_exchange_dispose(struct tr_exchange *x)
{
    tr_worker_buf_release(x->w, &x->in);
    tr_worker_buf_release(x->w, &x->out);
    free(x->log_line);
    free(x->req);
    free(x->cors_origin);
    tr_buf_dispose(&x->rhead);
    tr_extauth_free(x);
}

/* A deadline passed before the response began: the upstream goes, the client gets code and
 * its connection closes (what it still sends cannot be framed). */
static void timed_out(struct tr_exchange *x, int code, const char *body)
{
    if (x->up)
        tr_upstream_close(x->up);
    x->up = NULL;
    x->close_after = true;
    tr_exchange_respond(x, code, NULL, body);
}

static void x_timeout(struct tr_loop *loop, struct tr_timer *t)
{
    struct tr_exchange *x = t->data;
    if (x->state == C_TLS) {
        tr_exchange_close(x, false);
        return;
    }
    if (x->state == C_AUTH) {
        /* The authorization service did not answer in time: denied (fail closed). */
        timed_out(x, 504, "authorization service timed out\n");
        return;
    }
    if (x->state == C_HEAD) {
        /* An idle keep-alive connection just goes; a half-sent head gets a 408. */
        if (tr_buf_pending(&x->in, x->in_off) > 0) {
            x->close_after = true;
            tr_exchange_respond(x, 408, NULL, "request head timed out\n");
        } else {
            tr_exchange_close(x, false);
        }
        return;
    }
    /* No route timeout, and the request body stopped coming: 408, as for a head (nginx's
     * client_body_timeout). A response already under way is cut below. */
    if (x->state == C_BODY && !x->req_done && x->idle_deadline && !(x->up && x->up->head_done)) {
        timed_out(x, 408, "request body timed out\n");
        return;
    }
    /* timeouts.request with no answer yet, a try in flight or a retry pending: "the Gateway
     * MUST immediately return a timeout error" (HTTPRouteRetry.backoff docs). */
    bool retry_pending = !x->up && tr_timer_armed(&x->rtimer) && x->rtimer.cb == tr_retry_fire;
    if ((x->up && !x->up->head_done) || retry_pending) {
        timed_out(x, 504, "upstream timed out\n");
        return;
    }
    tr_exchange_close(x, false);
}

void tr_exchange_close(struct tr_exchange *x, bool linger)
{
    if (x->closed)
        return;
    x->closed = true;
    tr_reqlog_end(x, 0);
    tr_mirror_release(x, true);
    if (x->up) {
        x->up->x = NULL;
        tr_upstream_close(x->up);
        x->up = NULL;
    }
    tr_timer_stop(x->w->loop, &x->timer);
    tr_timer_stop(x->w->loop, &x->rtimer);
    tr_snapshot_release(x->snap);
    x->snap = NULL;
    x->down->close(x, linger);
}

void tr_exchange_room(struct tr_exchange *x)
{
    if (!x->closed && x->up && x->up->head_done && !x->up->resp_done)
        tr_upstream_read(x->up);
}

/* The request body is whole: the backend's codec ends it, the mirrors finish theirs. */
static void body_done(struct tr_exchange *x, struct upc *u)
{
    x->req_done = true;
    u->ops->end(u);
    tr_mirror_release(x, false);
}

/* Moves request body bytes from x->in to the backend's codec, unframed, as far as the framing
 * allows and backpressure permits: Content-Length, chunked (its trailer section is dropped, RFC
 * 9112 7.1.2 allows it), or, on an HTTP/2 stream without a length, until the stream's end
 * (x->in_end). */
static void body(struct tr_exchange *x)
{
    struct upc *u = x->up;
    if (!u || x->state == C_AUTH)
        return; /* the exchange ended early (see tr_exchange_done), or the body waits for auth */
    size_t moved, entry = x->in_off;
again:
    moved = x->in_off;
    while (!x->req_done && tr_buf_pending(&x->in, x->in_off) &&
           tr_buf_pending(&u->out, u->out_off) < TR_WORKER_BUF_HIGH) {
        const char *p = x->in.data + x->in_off;
        size_t n = tr_buf_pending(&x->in, x->in_off);
        if (x->body == TR_H1_BODY_LENGTH) {
            size_t take = n < x->left ? n : (size_t)x->left;
            u->ops->data(u, p, take);
            tr_mirror_feed(x, p, take);
            x->in_off += take;
            x->left -= take;
            if (x->left == 0)
                body_done(x, u);
        } else if (x->body == TR_H1_BODY_CHUNKED) {
            const char *data;
            size_t dlen;
            ssize_t used = tr_h1_chunked_decode(&x->ch, p, n, &data, &dlen);
            if (used < 0) {
                x->close_after = true;
                tr_upstream_close(u);
                x->up = NULL;
                tr_mirror_release(x, true);
                tr_exchange_respond(x, 400, NULL, "malformed chunked body\n");
                return;
            }
            u->ops->data(u, data, dlen);
            tr_mirror_feed(x, data, dlen);
            x->in_off += (size_t)used;
            if (tr_h1_chunked_done(&x->ch))
                body_done(x, u);
            if (used == 0)
                break;
        } else if (x->body == TR_H1_BODY_CLOSE) {
            u->ops->data(u, p, n);
            tr_mirror_feed(x, p, n);
            x->in_off += n;
        } else {
            break;
        }
    }
    if (!x->req_done && x->body == TR_H1_BODY_CLOSE && x->in_end && tr_buf_pending(&x->in, x->in_off) == 0)
        body_done(x, u);
    if (x->idle_deadline && x->in_off != entry)
        tr_timer_start(x->w->loop, &x->timer, tr_proxy_response_timeout_ms);
    if (x->req_done && x->state == C_BODY)
        x->state = C_WAIT;
    tr_upstream_flush(u);
    /* The upstream took it all at once: move more now. No EPOLLOUT edge will come to resume the
     * body (the socket never filled), and the client codec stops reading while x->in is full.
     * Found by tests/http1/run (a chunked 2 MB upload stalled). */
    if (x->up == u && !u->closed && u->writable && !u->connecting && !u->handshaking &&
        tr_buf_pending(&u->out, u->out_off) == 0 && !x->req_done && tr_buf_pending(&x->in, x->in_off) &&
        x->in_off != moved)
        goto again;
}

void tr_exchange_input(struct tr_exchange *x)
{
    if (x->closed)
        return;
    if (x->state == C_TUNNEL) {
        if (x->up && tr_buf_pending(&x->in, x->in_off)) {
            tr_buf_append(&x->up->out, x->in.data + x->in_off, tr_buf_pending(&x->in, x->in_off));
            x->in_off = x->in.len;
            tr_upstream_flush(x->up);
        }
        if (x->eof && x->up)
            shutdown(x->up->io.fd, SHUT_WR);
    } else if (x->state == C_BODY) {
        body(x);
    } else if (x->state == C_AUTH) {
        tr_extauth_input(x);
    }
}

void tr_exchange_body(struct tr_exchange *x)
{
    body(x);
}

bool tr_exchange_start(struct tr_exchange *x, int n)
{
    x->method = x->req->method_id;
    x->minor = x->req->minor_version;
    if (n < 0 || tr_h1_req_framing(x->req) != 0) {
        tr_reqlog_begin(x);
        x->keep_alive = false;
        tr_exchange_respond(x, x->req->error_status ? x->req->error_status : 400, NULL, "bad request\n");
        tr_worker_req_put(x->w, x->req);
        x->req = NULL;
        return false;
    }
    tr_reqlog_begin(x);
    if (x->stream_body && x->req->body == TR_H1_BODY_NONE)
        x->req->body = TR_H1_BODY_CLOSE; /* an HTTP/2 body without a length: the stream ends it */
    x->keep_alive = x->req->keep_alive;
    x->body = x->req->body;
    x->left = x->req->content_length;
    x->req_done = x->body == TR_H1_BODY_NONE || (x->body == TR_H1_BODY_LENGTH && x->left == 0);
    x->snap = x->w->snap ? tr_snapshot_ref(x->w->snap) : NULL;
    /* Expect: 100-continue goes to the backend, which answers 100 itself when it wants the
     * body (forwarded by tr_h1u_process; not for HTTP/1.0, see tr_http_put_expect_http10); the
     * body is sent as it comes. */
    bool forwarded = tr_exchange_dispatch(x, (size_t)n);
    tr_worker_req_put(x->w, x->req); /* the head's fields were used up by the dispatch */
    x->req = NULL;
    if (!forwarded)
        return true; /* answered locally; a pipelined request may follow */
    body(x);
    return false;
}

bool tr_exchange_reusable(const struct tr_exchange *x)
{
    return x->keep_alive && x->w->drain == TR_DRAIN_OFF;
}

/* Answers the request in flight from torii itself, through the client's codec. A request whose
 * body was not read closes the connection afterwards: what follows on it cannot be framed. extra
 * is "Name: value\r\n" lines or NULL; length: say the length (HTTP/1.1 needs it to frame the
 * answer; a gRPC Trailers-Only answer over HTTP/2 has none). */
static void respond(struct tr_exchange *x, int code, const char *extra, const char *body, bool length)
{
    tr_mirror_release(x, !x->req_done);
    tr_timer_stop(x->w->loop, &x->rtimer); /* no try is in flight or pending any more */
    size_t blen = body ? strlen(body) : 0;
    if (x->body != TR_H1_BODY_NONE && !x->req_done)
        x->close_after = true;
    struct tr_buf fields;
    tr_buf_init(&fields, 0);
    if (blen)
        tr_buf_puts(&fields, "Content-Type: text/plain; charset=utf-8\r\n");
    if (extra)
        tr_buf_puts(&fields, extra);
    struct tr_resp_out out = {.status = code, .extra = fields.data, .extra_len = fields.len};
    out.has_length = length && code != 204; /* RFC 9110 8.6: never with a 204 */
    out.length = blen;
    out.end = !blen || x->method == TR_H1_HEAD;
    x->down->head(x, &out);
    tr_buf_dispose(&fields);
    if (blen && x->method != TR_H1_HEAD)
        x->down->data(x, body, blen);
    tr_reqlog_end(x, code);
    /* The exchange is over as far as the client is concerned. */
    x->req_done = true;
    x->state = C_WAIT;
    tr_snapshot_release(x->snap);
    x->snap = NULL;
    /* Not resumed: the caller goes on processing what it has read. */
    x->down->done(x, false);
}

void tr_exchange_respond(struct tr_exchange *x, int code, const char *extra, const char *body)
{
    respond(x, code, extra, body, true);
}

void tr_exchange_respond_grpc(struct tr_exchange *x, int grpc_status, const char *msg)
{
    char extra[512];
    snprintf(extra, sizeof(extra), "Content-Type: application/grpc\r\nGrpc-Status: %d\r\nGrpc-Message: %s\r\n",
             grpc_status, msg);
    respond(x, 200, extra, NULL, false);
}

/* Back to the pool, or closed. The request went out whole (its exchange's req_done, or an
 * ExternalAuth request, sent at once). An HTTP/2 stream is never pooled: it ends here, its
 * carrier stays (h2_client.c). */
static void release(struct upc *u, bool sent)
{
    bool reuse = u->keep_alive && sent && tr_buf_pending(&u->in, u->in_off) == 0 && !u->eof &&
                 u->ops == &tr_h1u_ops && tr_pool_current(u->w, u);
    if (u->x && u->x->up == u)
        u->x->up = NULL;
    u->x = NULL;
    u->auth = false;
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
}

void tr_upstream_release(struct upc *u)
{
    release(u, true);
}

void tr_exchange_done(struct upc *u)
{
    struct tr_exchange *x = u->x;
    if (x)
        tr_reqlog_end(x, u->resp.status);
    bool sent = x && x->req_done;
    if (x) {
        x->up = NULL;
        tr_timer_stop(x->w->loop, &x->rtimer);
        tr_snapshot_release(x->snap);
        x->snap = NULL;
    }
    release(u, sent);
    if (!x)
        return;
    if (!x->req_done) {
        tr_mirror_release(x, true);
        /* The backend answered before the whole request body came: the rest of the body
         * cannot be told from a next request (HTTP/1.1: the connection ends after the
         * response; HTTP/2: the stream's further DATA are dropped). */
        x->req_done = true;
        x->close_after = true;
    }
    x->state = C_WAIT;
    x->down->done(x, true);
}

/* The packed form: this struct, then method, target, host, upgrade, extra, then each field as
 * its two lengths, name and value. */
struct packed {
    uint32_t method_len, target_len, host_len, upgrade_len, extra_len, nfields;
    uint64_t length;
    uint8_t body, has_host, has_upgrade;
};

static void put_u32s(struct tr_buf *b, uint32_t lo, uint32_t hi)
{
    uint32_t v[2] = {lo, hi};
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
