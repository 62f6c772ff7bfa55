/* The HTTP/1.1 client connection (h1c): accept, the TLS handshake (its context and the
 * listener choice by SNI are h1_tls.c's), reading request heads and bodies, pipelining and
 * keep-alive, timeouts, close and drain; and the HTTP/2 bridge (an h1c per stream,
 * proxy/h2_stream.c). The response goes out through h1_down.c.
 *
 * Framing is re-derived on every hop from the parsed heads (h1_parse.h): a request torii cannot
 * frame exactly is refused, so the two sides never disagree about where a message ends. Bodies
 * are never buffered whole: each direction holds at most TR_WORKER_BUF_HIGH bytes before the
 * other side stops being read. */
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/metrics.h"
#include "net/sock.h"
#include "net/tls.h"
#include "proxy/h2.h"
#include "proxy/internal.h"
#include "proxy/proxy.h"
#include "proxy/upstream.h"
#include "snapshot/snapshot.h"

#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

static void c_upgrade_h2(struct h1c *c);

void tr_h1c_idle_buffers(struct h1c *c)
{
    tr_worker_req_put(c->w, c->req);
    c->req = NULL;
    if (c->in_off == c->in.len && c->in.data) {
        tr_worker_buf_release(c->w, &c->in);
        c->in_off = 0;
    }
    if (c->out_off == c->out.len && c->out.data) {
        tr_worker_buf_release(c->w, &c->out);
        c->out_off = 0;
    }
}

static void c_timeout(struct tr_loop *loop, struct tr_timer *t)
{
    struct h1c *c = t->data;
    if (c->state == C_TLS) {
        tr_h1c_close(c);
        return;
    }
    if (c->state == C_HEAD) {
        /* An idle keep-alive connection just goes; a half-sent head gets a 408. */
        if (tr_buf_pending(&c->in, c->in_off) > 0) {
            c->close_after = true;
            tr_exchange_respond(c, 408, NULL, "request head timed out\n");
        } else {
            tr_h1c_close(c);
        }
        return;
    }
    /* No route timeout, and the request body stopped coming: 408, as for a head (nginx's
     * client_body_timeout). A response already under way is cut below. */
    if (c->state == C_BODY && !c->req_done && c->idle_deadline && !(c->up && c->up->head_done)) {
        if (c->up)
            tr_upstream_close(c->up);
        c->up = NULL;
        c->close_after = true;
        tr_exchange_respond(c, 408, NULL, "request body timed out\n");
        return;
    }
    /* timeouts.request with no answer yet, a try in flight or a retry pending: "the Gateway
     * MUST immediately return a timeout error" (HTTPRouteRetry.backoff docs). */
    bool retry_pending = !c->up && tr_timer_armed(&c->rtimer) && c->rtimer.cb == tr_retry_fire;
    if ((c->up && !c->up->head_done) || retry_pending) {
        if (c->up)
            tr_upstream_close(c->up);
        c->up = NULL;
        c->close_after = true;
        tr_exchange_respond(c, 504, NULL, "upstream timed out\n");
        return;
    }
    tr_h1c_close(c);
}

static void c_handshake(struct h1c *c)
{
    ERR_clear_error();
    int r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        c->state = C_HEAD;
        tr_snapshot_release(c->snap); /* the handshake's pin; each request takes its own */
        c->snap = NULL;
        const unsigned char *proto = NULL;
        unsigned plen = 0;
        SSL_get0_alpn_selected(c->ssl, &proto, &plen);
        if (plen == 2 && memcmp(proto, "h2", 2) == 0) {
            c_upgrade_h2(c);
            return;
        }
        tr_h1c_read(c);
        return;
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return;
    if (tr_log_min <= TR_LOG_DEBUG) {
        char why[512];
        tr_tls_errors(why, sizeof(why));
        tr_log_debug("TLS handshake with %s failed: %s", c->peer, why);
    }
    tr_h1c_close(c);
}

static void c_on_io(struct tr_loop *loop, struct tr_io *io, uint32_t events)
{
    struct h1c *c = io->data;
    if (c->state == C_TLS) {
        c_handshake(c);
        return;
    }
    if (events & EPOLLOUT) {
        c->writable = true;
        tr_h1c_flush(c);
        if (c->closed)
            return;
        /* Room again on the client side: resume the response the upstream side held back. */
        if (tr_buf_pending(&c->out, c->out_off) == 0 && c->up && c->up->head_done && !c->up->resp_done)
            tr_upstream_read(c->up);
        if (c->closed)
            return;
    }
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        c->hup = true;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        tr_h1c_read(c);
}

static void c_free(struct tr_loop *loop, void *data)
{
    struct h1c *c = data;
    tr_worker_buf_release(c->w, &c->in);
    tr_worker_buf_release(c->w, &c->out);
    free(c->log_line);
    free(c->req);
    free(c->trailers);
    free(c->cors_origin);
    tr_buf_dispose(&c->rhead);
    tr_worker_obj_put(&c->w->h1c_cache, c);
}

/* Ends c: at once, or (linger) as tr_conn_linger does, for a client still there when torii cuts
 * its connection. */
static void c_finish(struct h1c *c, bool linger)
{
    if (c->closed)
        return;
    c->closed = true;
    tr_reqlog_end(c, 0);
    tr_mirror_release(c, true);
    if (c->up) {
        c->up->c = NULL;
        tr_upstream_close(c->up);
        c->up = NULL;
    }
    tr_timer_stop(c->w->loop, &c->timer);
    tr_timer_stop(c->w->loop, &c->rtimer);
    tr_snapshot_release(c->snap);
    c->snap = NULL;
    if (c->h2) {
        /* The stream is reset if still open; h2_server.c frees c when the stream closes. */
        tr_h2_stream_reset(c);
        return;
    }
    tr_metrics_add(&tr_metrics.conns_active, -1);
    tr_loop_del(c->w->loop, &c->io);
    tr_tls_free(c->ssl);
    c->ssl = NULL;
    if (linger)
        tr_conn_linger(c->w, c->io.fd, TR_CONN_HTTP);
    else
        close(c->io.fd);
    tr_conn_unlink(c->w, &c->link);
    tr_loop_defer(c->w->loop, c_free, c);
}

void tr_h1c_close(struct h1c *c)
{
    c_finish(c, false);
}

static void c_close_link(struct conn_link *l)
{
    tr_h1c_close((struct h1c *)((char *)l - offsetof(struct h1c, link)));
}

void tr_h1c_drain(struct conn_link *l)
{
    struct h1c *c = (struct h1c *)((char *)l - offsetof(struct h1c, link));
    if (c->w->drain == TR_DRAIN_CUT) {
        c_finish(c, true);
        return;
    }
    bool idle = c->state == C_HEAD && c->written > 0 && !c->in_flight && !c->up &&
                tr_buf_pending(&c->in, c->in_off) == 0 && tr_buf_pending(&c->out, c->out_off) == 0;
    if (c->w->drain == TR_DRAIN_CLOSED && idle)
        tr_h1c_close(c);
}

void tr_h1c_flush(struct h1c *c)
{
    if (c->closed)
        return;
    if (c->h2) {
        tr_h2_stream_output(c);
        return;
    }
    if (c->writable && tr_sock_write_buf(c->io.fd, c->ssl, &c->out, &c->out_off, &c->writable, &c->written) < 0) {
        tr_h1c_close(c);
        return;
    }
    if (tr_buf_pending(&c->out, c->out_off) == 0 && c->close_after && c->req_done && (!c->up || c->up->resp_done))
        tr_h1c_close(c);
}

void tr_h1c_read(struct h1c *c)
{
    if (c->h2) {
        /* The stream's bytes arrive from its connection; what can be done is let more come. */
        if (!c->closed)
            tr_h2_stream_room(c);
        return;
    }
    while (!c->closed && !c->eof) {
        /* Backpressure: while the upstream has a full buffer to send, the client's bytes stay
         * in the kernel; the upstream's writable event resumes reading. */
        if (c->up && tr_buf_pending(&c->up->out, c->up->out_off) >= TR_WORKER_BUF_HIGH) {
            c->must_read = true;
            return;
        }
        tr_buf_compact(&c->in, &c->in_off);
        size_t before = tr_buf_pending(&c->in, c->in_off);
        enum tr_sock_rd r =
            tr_proxy_read_into(c->w, c->io.fd, c->ssl, &c->in, c->in_off, TR_WORKER_BUF_HIGH + 65536, c->hup);
        c->must_read = r == TR_SOCK_RD_FULL;
        if (r == TR_SOCK_RD_EOF)
            c->eof = true;
        tr_h1c_process(c);
        if (r != TR_SOCK_RD_FULL || c->closed)
            break;
        size_t now = tr_buf_pending(&c->in, c->in_off);
        if (now >= before && now >= TR_WORKER_BUF_HIGH + 65536)
            return; /* full and nothing consumed: an exchange must finish first */
    }
    if (!c->closed && c->eof) {
        tr_h1c_process(c);
        if (!c->closed && c->state == C_HEAD && tr_buf_pending(&c->in, c->in_off) == 0 && !c->up)
            tr_h1c_close(c);
        else if (!c->closed && c->state == C_TUNNEL && c->up)
            shutdown(c->up->io.fd, SHUT_WR);
    }
}

/* The request body is whole: the backend's codec ends it, the mirrors finish theirs. */
static void body_done(struct h1c *c, struct upc *u)
{
    c->req_done = true;
    u->ops->end(u);
    tr_mirror_release(c, false);
}

/* Moves request body bytes from the client buffer to the backend's codec, unframed, as far as
 * the framing allows and backpressure permits: Content-Length, chunked (its trailer section is
 * dropped, RFC 9112 7.1.2 allows it), or, on an HTTP/2 stream without a length, until the
 * stream's end (c->in_end). */
static void c_body(struct h1c *c)
{
    struct upc *u = c->up;
    if (!u)
        return; /* the exchange ended early (see tr_exchange_done) */
    size_t moved, entry = c->in_off;
again:
    moved = c->in_off;
    while (!c->req_done && tr_buf_pending(&c->in, c->in_off) &&
           tr_buf_pending(&u->out, u->out_off) < TR_WORKER_BUF_HIGH) {
        const char *p = c->in.data + c->in_off;
        size_t n = tr_buf_pending(&c->in, c->in_off);
        if (c->body == TR_H1_BODY_LENGTH) {
            size_t take = n < c->left ? n : (size_t)c->left;
            u->ops->data(u, p, take);
            tr_mirror_feed(c, p, take);
            c->in_off += take;
            c->left -= take;
            if (c->left == 0)
                body_done(c, u);
        } else if (c->body == TR_H1_BODY_CHUNKED) {
            const char *data;
            size_t dlen;
            ssize_t used = tr_h1_chunked_decode(&c->ch, p, n, &data, &dlen);
            if (used < 0) {
                c->close_after = true;
                tr_upstream_close(u);
                c->up = NULL;
                tr_mirror_release(c, true);
                tr_exchange_respond(c, 400, NULL, "malformed chunked body\n");
                return;
            }
            u->ops->data(u, data, dlen);
            tr_mirror_feed(c, data, dlen);
            c->in_off += (size_t)used;
            if (tr_h1_chunked_done(&c->ch))
                body_done(c, u);
            if (used == 0)
                break;
        } else if (c->body == TR_H1_BODY_CLOSE) {
            u->ops->data(u, p, n);
            tr_mirror_feed(c, p, n);
            c->in_off += n;
        } else {
            break;
        }
    }
    if (!c->req_done && c->body == TR_H1_BODY_CLOSE && c->in_end && tr_buf_pending(&c->in, c->in_off) == 0)
        body_done(c, u);
    if (c->idle_deadline && c->in_off != entry)
        tr_timer_start(c->w->loop, &c->timer, tr_proxy_response_timeout_ms);
    if (c->req_done && c->state == C_BODY)
        c->state = C_WAIT;
    tr_upstream_flush(u);
    /* The upstream took it all at once: move more now. No EPOLLOUT edge will come to resume the
     * body (the socket never filled), and tr_h1c_read stops reading while its buffer is full.
     * Found by tests/http1/run (a chunked 2 MB upload stalled). */
    if (c->up == u && !u->closed && u->writable && !u->connecting && !u->handshaking &&
        tr_buf_pending(&u->out, u->out_off) == 0 && !c->req_done && tr_buf_pending(&c->in, c->in_off) &&
        c->in_off != moved)
        goto again;
}

/* The head in c->req is parsed (n: its bytes at the front of c->in, or a negative error of the
 * parse): answers an error, or routes the request and starts its body. Returns true when the
 * request was answered and done with, so that what follows in c->in (a pipelined request) may
 * be processed. */
static bool c_start(struct h1c *c, int n)
{
    c->method = c->req->method_id;
    c->minor = c->req->minor_version;
    if (n < 0 || tr_h1_req_framing(c->req) != 0) {
        tr_reqlog_begin(c);
        c->keep_alive = false;
        tr_exchange_respond(c, c->req->error_status ? c->req->error_status : 400, NULL, "bad request\n");
        tr_worker_req_put(c->w, c->req);
        c->req = NULL;
        return false;
    }
    tr_reqlog_begin(c);
    if (c->stream_body && c->req->body == TR_H1_BODY_NONE)
        c->req->body = TR_H1_BODY_CLOSE; /* an HTTP/2 body without a length: the stream ends it */
    c->keep_alive = c->req->keep_alive;
    c->body = c->req->body;
    c->left = c->req->content_length;
    c->req_done = c->body == TR_H1_BODY_NONE || (c->body == TR_H1_BODY_LENGTH && c->left == 0);
    c->snap = c->w->snap ? tr_snapshot_ref(c->w->snap) : NULL;
    /* Expect: 100-continue goes to the backend, which answers 100 itself when it wants the
     * body (forwarded by tr_h1u_process; not for HTTP/1.0, see tr_http_put_expect_http10); the
     * body is sent as it comes. */
    bool forwarded = tr_exchange_dispatch(c, (size_t)n);
    tr_worker_req_put(c->w, c->req); /* the head's fields were used up by the dispatch */
    c->req = NULL;
    if (!forwarded)
        return true; /* answered locally; a pipelined request may follow */
    c_body(c);
    return false;
}

void tr_h1c_process(struct h1c *c)
{
    while (!c->closed) {
        if (c->state == C_TUNNEL) {
            if (c->up && tr_buf_pending(&c->in, c->in_off)) {
                tr_buf_append(&c->up->out, c->in.data + c->in_off, tr_buf_pending(&c->in, c->in_off));
                c->in_off = c->in.len;
                tr_upstream_flush(c->up);
            }
            if (c->eof && c->up)
                shutdown(c->up->io.fd, SHUT_WR);
            return;
        }
        if (c->state == C_BODY) {
            c_body(c);
            return;
        }
        if (c->state != C_HEAD || tr_buf_pending(&c->in, c->in_off) == 0)
            return;
        if (!c->req)
            c->req = tr_worker_req(c->w);
        int n = tr_h1_parse_request(c->in.data + c->in_off, tr_buf_pending(&c->in, c->in_off), c->req,
                                    &tr_proxy_req_limits);
        if (n == TR_EAGAIN) {
            if (c->eof)
                tr_h1c_close(c);
            return;
        }
        if (n == TR_H1_PRI) {
            c->method = c->req->method_id;
            c->minor = c->req->minor_version;
            c_upgrade_h2(c);
            return;
        }
        if (!c_start(c, n))
            return;
    }
}

static const struct conn_ops c_ops = {TR_CONN_HTTP, c_close_link, tr_h1c_drain};

void tr_h1_accept(struct worker *w, struct wlisten *l, int fd, const struct sockaddr_storage *peer)
{
    struct h1c *c = tr_worker_obj_get(&w->h1c_cache, sizeof(*c));
    c->w = w;
    c->down = &tr_h1_down_ops;
    snprintf(c->laddr, sizeof(c->laddr), "%s", l->addr);
    c->lport = l->port;
    if (peer->ss_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)peer)->sin_addr, c->peer, sizeof(c->peer));
    else
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)peer)->sin6_addr, c->peer, sizeof(c->peer));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    tr_buf_init(&c->in, 0);
    tr_buf_init(&c->out, 0);
    tr_h1c_idle_buffers(c);
    c->writable = true;
    c->tls_listener = -1;
    c->state = C_HEAD;
    if (l->tls) {
        c->ssl = tr_h1_tls_new();
        if (!c->ssl) {
            close(fd);
            free(c);
            return;
        }
        SSL_set_fd(c->ssl, fd);
        SSL_set_accept_state(c->ssl);
        SSL_set_app_data(c->ssl, c);
        tr_tls_mark_http(c->ssl);
        c->secure = true;
        c->state = C_TLS;
        /* The SNI callback reads the snapshot: pin one for the handshake. */
        c->snap = w->snap ? tr_snapshot_ref(w->snap) : NULL;
    }
    c->io = (struct tr_io){.fd = fd, .cb = c_on_io, .data = c};
    c->timer.cb = c_timeout;
    c->timer.data = c;
    tr_conn_link(w, &c->link, &c_ops);
    tr_loop_add(w->loop, &c->io, EPOLLIN | EPOLLOUT | EPOLLRDHUP);
    tr_metrics_add(&tr_metrics.conns_accepted, 1);
    tr_metrics_add(&tr_metrics.conns_active, 1);
    tr_timer_start(w->loop, &c->timer, HEAD_TIMEOUT_MS);
}

/* The connection speaks HTTP/2 (the prior-knowledge preface, or ALPN h2): h2_server.c takes its
 * socket, its TLS and what was read of it. */
static void c_upgrade_h2(struct h1c *c)
{
    if (!c->ssl && (c->in_off != 0 || c->written != 0 || tr_buf_pending(&c->out, c->out_off) != 0)) {
        /* The preface only counts as the first bytes of a connection (RFC 9113 3.4). */
        tr_reqlog_begin(c);
        c->keep_alive = false;
        tr_exchange_respond(c, 400, NULL, "HTTP/2 preface after HTTP/1 requests\n");
        return;
    }
    int fd = c->io.fd;
    SSL *ssl = c->ssl;
    tr_timer_stop(c->w->loop, &c->timer);
    tr_timer_stop(c->w->loop, &c->rtimer);
    tr_loop_del(c->w->loop, &c->io);
    c->closed = true;
    c->ssl = NULL;
    tr_h2_accept(c->w, fd, ssl, c->laddr, c->lport, c->peer, c->tls_listener, c->in.data + c->in_off,
                 tr_buf_pending(&c->in, c->in_off));
    tr_conn_unlink(c->w, &c->link); /* after: never counted nowhere (tr_worker_count) */
    tr_loop_defer(c->w->loop, c_free, c);
}

struct h1c *tr_h1_stream_new(struct worker *w, struct h2s *s, const char *laddr, uint16_t lport, const char *peer,
                             bool secure, int tls_listener)
{
    struct h1c *c = tr_worker_obj_get(&w->h1c_cache, sizeof(*c));
    c->w = w;
    c->h2 = s;
    c->down = &tr_h2_down_ops;
    c->io.fd = -1;
    /* Copied per stream: no printf machinery at the request rate. */
    size_t ll = strnlen(laddr, sizeof(c->laddr) - 1), pl = strnlen(peer, sizeof(c->peer) - 1);
    memcpy(c->laddr, laddr, ll);
    c->laddr[ll] = '\0';
    c->lport = lport;
    memcpy(c->peer, peer, pl);
    c->peer[pl] = '\0';
    c->secure = secure;
    c->tls_listener = tls_listener;
    tr_buf_init(&c->in, 0);
    tr_buf_init(&c->out, 0);
    tr_h1c_idle_buffers(c);
    c->writable = true;
    c->state = C_HEAD;
    c->timer.cb = c_timeout;
    c->timer.data = c;
    return c;
}

void tr_h1_stream_request(struct h1c *c, struct tr_h1_req *req, bool ok)
{
    if (c->closed) {
        tr_worker_req_put(c->w, req);
        return;
    }
    c->req = req;
    c_start(c, ok ? 0 : -1);
}

void tr_h1_stream_input(struct h1c *c)
{
    if (!c->closed)
        tr_h1c_process(c);
}

void tr_h1_stream_abort(struct h1c *c)
{
    tr_h1c_close(c);
}

void tr_h1_stream_free(struct h1c *c)
{
    tr_loop_defer(c->w->loop, c_free, c);
}

void tr_h1_stream_drained(struct h1c *c)
{
    if (!c->closed && c->up && c->up->head_done && !c->up->resp_done)
        tr_upstream_read(c->up);
}

struct tr_h1_req *tr_worker_req(struct worker *w)
{
    struct tr_h1_req *r = w->nreq_cache ? w->req_cache[--w->nreq_cache] : tr_xmalloc(sizeof(*r));
    tr_h1_req_init(r);
    return r;
}

void tr_worker_req_put(struct worker *w, struct tr_h1_req *req)
{
    if (!req)
        return;
    if (w->nreq_cache < sizeof(w->req_cache) / sizeof(w->req_cache[0]))
        w->req_cache[w->nreq_cache++] = req;
    else
        free(req);
}

uint64_t tr_proxy_response_timeout_ms = 60000;

void tr_proxy_set_response_timeout(uint64_t ms)
{
    tr_proxy_response_timeout_ms = ms;
}

struct tr_h1_limits tr_proxy_req_limits = TR_H1_DEFAULT_LIMITS;

void tr_proxy_set_request_limits(size_t max_head, size_t max_fields)
{
    tr_proxy_req_limits = tr_h1_default_limits;
    if (max_head)
        tr_proxy_req_limits.max_head = max_head;
    if (max_fields)
        tr_proxy_req_limits.max_headers = max_fields < TR_H1_MAX_HEADERS ? max_fields : TR_H1_MAX_HEADERS;
    if (tr_proxy_req_limits.max_line > tr_proxy_req_limits.max_head)
        tr_proxy_req_limits.max_line = tr_proxy_req_limits.max_head;
}

void tr_proxy_worker_ops(struct tr_worker_ops *ops)
{
    ops->start = tr_h1_tls_init;
    ops->stop = tr_h1_tls_free;
    ops->accept[TR_WL_HTTP] = tr_h1_accept;
    ops->retire = tr_pool_retire;
}
