/* The HTTP/1.1 proxy path: a client connection (h1c) reads a request head, routes it, picks a
 * backend and an endpoint, and streams the request to an upstream connection (upc) and the
 * response back, with keep-alive and pipelining on both sides. Bodies are never buffered whole:
 * each direction holds at most TR_WORKER_BUF_HIGH bytes before the other side stops being read.
 *
 * Framing is re-derived on every hop from the parsed heads (h1_parse.h): a request torii cannot
 * frame exactly is refused, so the two sides never disagree about where a message ends. */
#include "api/kind.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "ir/ir.h"
#include "snapshot/snapshot.h"
#include "base/metrics.h"
#include "proxy/accesslog.h"
#include "proxy/cors.h"
#include "proxy/filters.h"
#include "proxy/h2.h"
#include "proxy/internal.h"
#include "proxy/proxy.h"
#include "net/listen.h"
#include "worker/lb.h"
#include "ir/router.h"
#include "proxy/upstream.h"
#include "net/tls.h"
#include "net/sni.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define HEAD_TIMEOUT_MS 30000     /* a request head must arrive within this */
#define IDLE_TIMEOUT_MS 75000     /* a keep-alive connection may sit idle this long */
#define RESPONSE_TIMEOUT_MS 60000 /* upstream response, when the route sets no timeout */
#define CONNECT_TIMEOUT_MS 5000

static void c_process(struct h1c *c);
static void c_upgrade_h2(struct h1c *c);
static void c_idle_buffers(struct h1c *c);

static void put_content_length(struct tr_buf *o, uint64_t n)
{
    tr_buf_puts(o, "Content-Length: ");
    tr_buf_put_u64(o, n);
    tr_buf_puts(o, "\r\n");
}
static void mirrors_release(struct h1c *c, bool abort);
static void c_flush(struct h1c *c);
static void c_close(struct h1c *c);
static void c_read(struct h1c *c);
static void u_close(struct upc *u);
static void u_flush(struct upc *u);
static void u_process(struct upc *u);
static void u_read(struct upc *u);

/* --- buffers --- */

static size_t pending(const struct tr_buf *b, size_t off)
{
    return b->len - off;
}

/* Drops consumed bytes once they are most of the buffer, so it does not grow without bound. */
static void compact(struct tr_buf *b, size_t *off)
{
    if (*off == 0)
        return;
    if (*off == b->len) {
        b->len = 0;
        *off = 0;
        return;
    }
    if (*off >= 4096 && *off * 2 >= b->len) {
        memmove(b->data, b->data + *off, b->len - *off);
        b->len -= *off;
        *off = 0;
    }
}

enum rd { RD_AGAIN, RD_FULL, RD_EOF };

/* Reads from fd into b until EAGAIN, EOF, or b holds max unconsumed bytes (RD_FULL: the caller
 * must come back, as an edge-triggered socket will not signal the bytes still queued).
 *
 * A plain socket that returns fewer bytes than asked for is empty at that moment, and more
 * data makes a new edge: RD_AGAIN without the read that would only say EAGAIN (one syscall per
 * request saved on each side). Not so when the peer's FIN came (hup: read on to the EOF, which
 * makes no edge of its own), nor under TLS (a record at a time: more may be queued). */
static enum rd read_into(struct worker *w, int fd, SSL *ssl, struct tr_buf *b, size_t off, size_t max, bool hup)
{
    char first[4096];
    while (pending(b, off) < max) {
        /* Buffers start at a page (most heads fit) and double while a body streams through. A
         * connection without one reads into the stack first: a read that finds nothing (the
         * usual one after a response) allocates nothing. */
        bool fresh = b->cap == 0;
        if (!fresh && b->cap < b->len + 2048) {
            size_t cap = b->cap * 2;
            while (cap < b->len + 2048)
                cap *= 2;
            b->data = tr_xrealloc(b->data, cap);
            b->cap = cap;
        }
        size_t want = fresh ? sizeof(first) : b->cap - b->len - 1;
        ssize_t r = tr_tls_io_read(fd, ssl, fresh ? first : b->data + b->len, want);
        if (r > 0) {
            if (fresh) {
                tr_worker_buf_attach(w, b);
                if ((size_t)r + 2048 > b->cap) {
                    b->data = tr_xrealloc(b->data, 2 * b->cap);
                    b->cap *= 2;
                }
                memcpy(b->data, first, (size_t)r);
            }
            b->len += (size_t)r;
            b->data[b->len] = '\0';
            if ((size_t)r < want && !ssl && !hup)
                return RD_AGAIN;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return RD_AGAIN;
        return RD_EOF;
    }
    return RD_FULL;
}

/* Writes what is pending; returns -1 on a hard error. *writable goes false on EAGAIN. */
static int write_from(int fd, SSL *ssl, struct tr_buf *b, size_t *off, bool *writable, uint64_t *count)
{
    while (*off < b->len) {
        ssize_t w = tr_tls_io_write(fd, ssl, b->data + *off, b->len - *off);
        if (w > 0) {
            *off += (size_t)w;
            if (count)
                *count += (uint64_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            *writable = false;
            return 0;
        }
        return -1;
    }
    b->len = 0;
    *off = 0;
    return 0;
}

/* Between requests: the parsed head goes back to the worker, and buffers with nothing pending
 * are freed, so an idle keep-alive connection holds only its struct. */
static void c_idle_buffers(struct h1c *c)
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

/* --- local responses --- */

static const char *status_text(int code)
{
    switch (code) {
    case 100: return "Continue";
    case 103: return "Early Hints";
    case 200: return "OK";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 421: return "Misdirected Request";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    }
    return "Unknown";
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* A request head was parsed: start its clock (and keep what the access log needs). */
static void req_begin(struct h1c *c)
{
    c->in_flight = true;
    c->t0_us = now_us();
    c->out_mark = c->written + pending(&c->out, c->out_off);
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

/* The request in flight is over (status 0: it ended without a response). */
static void req_end(struct h1c *c, int status)
{
    if (!c->in_flight)
        return;
    c->in_flight = false;
    uint64_t dur = now_us() - c->t0_us;
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
        .bytes_out = c->written + pending(&c->out, c->out_off) - c->out_mark,
        .listener = c->listener ? listener : NULL, .route = c->rule ? route : NULL,
        .rule = c->rule ? (int)c->rule->index : -1, .backend = c->backend ? backend : NULL,
        .upstream = c->up ? c->up->key : NULL};
    tr_accesslog_write(&e);
}

/* May the connection carry another request after the response being written? Not when the
 * client said no, nor while the worker drains: then the response says Connection: close and
 * the client takes its next request elsewhere, with no request lost to a close it could not
 * see coming. */
static bool c_reusable(const struct h1c *c)
{
    return c->keep_alive && c->w->drain == TR_DRAIN_OFF;
}

/* The head of a local answer, up to (not including) its final CRLF; Content-Length only when
 * length is set. */
static void local_head(struct tr_buf *o, int code, size_t blen, const char *extra, bool length)
{
    tr_buf_printf(o, "HTTP/1.1 %d %s\r\n", code, status_text(code));
    if (length && code != 204) /* RFC 9110 8.6: never with a 204 */
        put_content_length(o, blen);
    if (blen)
        tr_buf_puts(o, "Content-Type: text/plain; charset=utf-8\r\n");
    if (extra)
        tr_buf_puts(o, extra);
}

/* Answers the request in flight from torii itself. A request whose body was not read closes
 * the connection afterwards: what follows on it cannot be framed. extra is "Name: value\r\n"
 * lines or NULL; length: say Content-Length (HTTP/1.1 needs it to frame the answer). */
static void respond(struct h1c *c, int code, const char *extra, const char *body, bool length)
{
    mirrors_release(c, !c->req_done);
    tr_timer_stop(c->w->loop, &c->rtimer); /* no try is in flight or pending any more */
    size_t blen = body ? strlen(body) : 0;
    if (c->h2) {
        /* One stream answers; the connection and its other streams go on. An answer without a
         * body is one HEADERS frame that ends the stream (a gRPC client reads the status of a
         * Trailers-Only response from nothing else). */
        struct tr_buf head;
        tr_buf_init(&head, 0);
        local_head(&head, code, blen, extra, length);
        tr_buf_puts(&head, "\r\n");
        tr_h2_stream_head(c, head.data, head.len, !blen || c->method == TR_H1_HEAD);
        tr_buf_dispose(&head);
        if (blen && c->method != TR_H1_HEAD)
            tr_buf_append(&c->out, body, blen);
        req_end(c, code);
        tr_timer_stop(c->w->loop, &c->timer);
        c->req_done = true;
        c->state = C_WAIT;
        c->resp_end = true;
        tr_snapshot_release(c->snap);
        c->snap = NULL;
        tr_h2_stream_output(c);
        return;
    }
    if (c->body != TR_H1_BODY_NONE && !c->req_done)
        c->close_after = true;
    if (!c_reusable(c))
        c->close_after = true;
    local_head(&c->out, code, blen, extra, true);
    tr_buf_puts(&c->out, c->close_after ? "Connection: close\r\n\r\n" : "\r\n");
    if (blen && c->method != TR_H1_HEAD)
        tr_buf_append(&c->out, body, blen);
    req_end(c, code);
    /* The exchange is over as far as the client is concerned. */
    c->req_done = true;
    c->state = C_WAIT;
    tr_snapshot_release(c->snap);
    c->snap = NULL;
    c_flush(c);
    if (!c->closed && !c->close_after) {
        /* Ready for the next request; the caller goes on processing the buffer. */
        c->state = C_HEAD;
        c_idle_buffers(c);
        tr_timer_start(c->w->loop, &c->timer, IDLE_TIMEOUT_MS);
    }
}

static void c_respond(struct h1c *c, int code, const char *extra, const char *body)
{
    respond(c, code, extra, body, true);
}

/* gRPC status codes (grpc/grpc doc/statuscodes.md) torii answers with. */
#define GRPC_UNAVAILABLE 14

/* Answers a gRPC call with a status and a message (printable ASCII without '%': grpc-message is
 * percent-encoded) as a Trailers-Only response (PROTOCOL-HTTP2.md in grpc/grpc): :status 200,
 * content-type, grpc-status and grpc-message in one HEADERS frame that ends the stream. HTTP/1.1,
 * which gRPC does not use, gets the same fields with Content-Length: 0. */
static void c_respond_grpc(struct h1c *c, int grpc_status, const char *msg)
{
    char extra[512];
    snprintf(extra, sizeof(extra), "Content-Type: application/grpc\r\nGrpc-Status: %d\r\nGrpc-Message: %s\r\n",
             grpc_status, msg);
    respond(c, 200, extra, NULL, !c->h2);
}

/* --- the client side --- */

static void retry_fire(struct tr_loop *loop, struct tr_timer *t);

static void c_timeout(struct tr_loop *loop, struct tr_timer *t)
{
    struct h1c *c = t->data;
    if (c->state == C_TLS) {
        c_close(c);
        return;
    }
    if (c->state == C_HEAD) {
        /* An idle keep-alive connection just goes; a half-sent head gets a 408. */
        if (pending(&c->in, c->in_off) > 0) {
            c->close_after = true;
            c_respond(c, 408, NULL, "request head timed out\n");
        } else {
            c_close(c);
        }
        return;
    }
    /* timeouts.request with no answer yet, a try in flight or a retry pending: "the Gateway
     * MUST immediately return a timeout error" (HTTPRouteRetry.backoff docs). */
    bool retry_pending = !c->up && tr_timer_armed(&c->rtimer) && c->rtimer.cb == retry_fire;
    if ((c->up && !c->up->head_done) || retry_pending) {
        if (c->up)
            u_close(c->up);
        c->up = NULL;
        c->close_after = true;
        c_respond(c, 504, NULL, "upstream timed out\n");
        return;
    }
    c_close(c);
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
        c_read(c);
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
    c_close(c);
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
        c_flush(c);
        if (c->closed)
            return;
        /* Room again on the client side: resume the response the upstream side held back. */
        if (pending(&c->out, c->out_off) == 0 && c->up && c->up->head_done && !c->up->resp_done)
            u_read(c->up);
        if (c->closed)
            return;
    }
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        c->hup = true;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        c_read(c);
}

static void c_free(struct tr_loop *loop, void *data)
{
    struct h1c *c = data;
    tr_buf_dispose(&c->in);
    tr_buf_dispose(&c->out);
    free(c->log_line);
    free(c->req);
    free(c->trailers);
    free(c->cors_origin);
    tr_buf_dispose(&c->rhead);
    free(c);
}

/* Ends c: at once, or (linger) as tr_conn_linger does, for a client still there when torii cuts
 * its connection. */
static void c_finish(struct h1c *c, bool linger)
{
    if (c->closed)
        return;
    c->closed = true;
    req_end(c, 0);
    mirrors_release(c, true);
    if (c->up) {
        c->up->c = NULL;
        u_close(c->up);
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

static void c_close(struct h1c *c)
{
    c_finish(c, false);
}

static void c_close_link(struct conn_link *l)
{
    c_close((struct h1c *)((char *)l - offsetof(struct h1c, link)));
}

/* Draining, listeners closed: a keep-alive connection waiting for its next request closes (a
 * client about to reuse it goes elsewhere: the race every idle close has). One that has not yet
 * sent its first request keeps its chance, as in nginx: its client connected a moment ago and
 * is about to send, and the answer will say Connection: close. The grace period over, what is
 * left (a request in flight, a WebSocket) is cut. */
static void c_drain(struct conn_link *l)
{
    struct h1c *c = (struct h1c *)((char *)l - offsetof(struct h1c, link));
    if (c->w->drain == TR_DRAIN_CUT) {
        c_finish(c, true);
        return;
    }
    bool idle = c->state == C_HEAD && c->written > 0 && !c->in_flight && !c->up &&
                pending(&c->in, c->in_off) == 0 && pending(&c->out, c->out_off) == 0;
    if (c->w->drain == TR_DRAIN_CLOSED && idle)
        c_close(c);
}

static const struct conn_ops c_ops = {TR_CONN_HTTP, c_close_link, c_drain};


static void c_flush(struct h1c *c)
{
    if (c->closed)
        return;
    if (c->h2) {
        tr_h2_stream_output(c);
        return;
    }
    if (c->writable && write_from(c->io.fd, c->ssl, &c->out, &c->out_off, &c->writable, &c->written) < 0) {
        c_close(c);
        return;
    }
    if (pending(&c->out, c->out_off) == 0 && c->close_after && c->req_done && (!c->up || c->up->resp_done))
        c_close(c);
}

static void c_read(struct h1c *c)
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
        if (c->up && pending(&c->up->out, c->up->out_off) >= TR_WORKER_BUF_HIGH) {
            c->must_read = true;
            return;
        }
        compact(&c->in, &c->in_off);
        size_t before = pending(&c->in, c->in_off);
        enum rd r = read_into(c->w, c->io.fd, c->ssl, &c->in, c->in_off, TR_WORKER_BUF_HIGH + 65536, c->hup);
        c->must_read = r == RD_FULL;
        if (r == RD_EOF)
            c->eof = true;
        c_process(c);
        if (r != RD_FULL || c->closed)
            break;
        if (pending(&c->in, c->in_off) >= before && pending(&c->in, c->in_off) >= TR_WORKER_BUF_HIGH + 65536)
            return; /* full and nothing consumed: an exchange must finish first */
    }
    if (!c->closed && c->eof) {
        c_process(c);
        if (!c->closed && c->state == C_HEAD && pending(&c->in, c->in_off) == 0 && !c->up)
            c_close(c);
        else if (!c->closed && c->state == C_TUNNEL && c->up)
            shutdown(c->up->io.fd, SHUT_WR);
    }
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

struct hdr_ctx {
    const struct tr_h1_req *req;
    char joined[4096];
};

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

/* Hop-by-hop fields (RFC 9110 7.6.1) and the framing fields torii writes itself. */
static bool hop_by_hop(const struct tr_h1_header *h, const struct tr_h1_header *all, size_t n)
{
    static const char *const names[] = {"connection", "keep-alive", "proxy-connection", "te", "trailer",
                                        "transfer-encoding", "upgrade", "content-length"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (tr_h1_token_eq(h->name, h->name_len, names[i], strlen(names[i])))
            return true;
    /* Fields the Connection header names are hop-by-hop too. */
    for (size_t i = 0; i < n; i++) {
        if (!tr_h1_token_eq(all[i].name, all[i].name_len, "connection", 10))
            continue;
        const char *p = all[i].value, *end = all[i].value + all[i].value_len, *e;
        size_t el;
        while (tr_h1_list_next(&p, end, &e, &el))
            if (el == h->name_len && strncasecmp(e, h->name, el) == 0)
                return true;
    }
    return false;
}

/* An Expect field of an HTTP/1.0 request, less its 100-continue: a server MUST ignore that
 * expectation in HTTP/1.0 and MUST NOT send such a client a 1xx (RFC 9110 10.1.1, 15.2), but
 * the upstream request is HTTP/1.1 and the backend would answer 100. Other expectations go on;
 * a field left empty is dropped. The body is sent as it comes either way. */
static void put_expect_http10(struct tr_buf *o, const struct tr_h1_header *h)
{
    const char *p = h->value, *end = h->value + h->value_len, *el;
    size_t el_len;
    bool first = true;
    while (tr_h1_list_next(&p, end, &el, &el_len)) {
        if (tr_h1_token_eq(el, el_len, "100-continue", 12))
            continue;
        if (first)
            tr_buf_puts(o, "Expect: ");
        else
            tr_buf_puts(o, ", ");
        tr_buf_append(o, el, el_len);
        first = false;
    }
    if (!first)
        tr_buf_puts(o, "\r\n");
}

static struct upc *u_connect(struct h1c *c, const struct tr_ir_backend *b, const struct tr_ir_endpoint *ep);
static void try_begin(struct h1c *c, uint64_t backend_ms);
static void send_mirrors(struct h1c *c, const struct tr_ir_rule *r, const char *head, size_t len);
static void mirror_feed(struct h1c *c, const char *p, size_t n);
static const struct tr_ir_backend_tls *backend_tls(struct h1c *c, const struct tr_ir_backend *b, char *key,
                                                   size_t cap, const struct tr_ir_endpoint *ep);

/* Does the backend speak HTTP/2? The Service port says so with appProtocol kubernetes.io/h2c
 * (GEP-1911); gRPC (GRPCRoute) is HTTP/2 by definition. */
static bool wants_h2(const struct tr_ir_rule *rule, const struct tr_ir_backend *b)
{
    if (b->app_protocol && strcmp(b->app_protocol, "kubernetes.io/h2c") == 0)
        return true;
    return rule && rule->route_kind == TR_KIND_GRPCROUTE;
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
        c_respond_grpc(c, GRPC_UNAVAILABLE, why);
        return;
    }
    char body[128];
    snprintf(body, sizeof(body), "%s\n", why);
    c_respond(c, 500, NULL, body);
}

/* Routes the parsed head and starts the exchange. Returns false when it answered locally. */
static bool c_dispatch(struct h1c *c, size_t head_len)
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
        c_respond(c, 404, NULL, "no listener\n");
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
            c_respond(c, 421, NULL, "misdirected request\n");
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
            c_respond(c, 421, NULL, "misdirected request\n");
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
        c_respond(c, 404, NULL, "no route\n");
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
            c_respond(c, code > 0 ? code : 500, f.data, NULL);
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
        c_respond(c, fo.redirect_status, extra, NULL);
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
    const struct tr_ir_endpoint *ep = tr_lb_endpoint(c->w, b);
    if (!ep) {
        c_respond(c, 503, NULL, "no healthy endpoint\n");
        return false;
    }
    struct upc *u = u_connect(c, b, ep);
    if (!u) {
        c_respond(c, 502, NULL, "cannot connect to the backend\n");
        return false;
    }

    /* The upstream head: origin-form target, the client's fields less hop-by-hop ones, the
     * forwarding fields, and framing torii derived itself. */
    struct tr_buf *o = &u->out;
    tr_worker_buf_attach(c->w, o);
    tr_buf_reserve(o, 1024 + req->nheaders * 64);
    size_t head_start = o->len;
    const char *target = req->form == TR_H1_ABSOLUTE ? (req->path_len ? req->path : "/") : req->target;
    size_t tlen = req->form == TR_H1_ABSOLUTE ? (req->path_len ? req->path_len : 1) : req->target_len;
    if (fo.path) {
        target = fo.path;
        tlen = strlen(fo.path);
    }
    tr_buf_append(o, req->method, req->method_len);
    tr_buf_putc(o, ' ');
    tr_buf_append(o, target, tlen);
    tr_buf_puts(o, " HTTP/1.1\r\n");
    /* Host is generated, never copied: the authority routing used (an absolute-form or CONNECT
     * target's, which replaces the received Host, RFC 9112 3.2.2), or the URLRewrite hostname.
     * An HTTP/1.1 request always carries one, empty when the target has no authority (RFC 9112
     * 3.2: an HTTP/1.0 client may send none). A RequestHeaderModifier that sets or removes Host
     * has the last word. */
    if (fo.host || !tr_filters_drop_request_header(&fo, "host", 4)) {
        const char *hv = fo.host ? fo.host : req->authority ? req->authority : "";
        size_t hvl = fo.host ? strlen(fo.host) : req->authority ? req->authority_len : 0;
        tr_buf_put_field(o, "Host", hv, hvl);
    }
    const char *xff = NULL;
    size_t xff_len = 0;
    for (size_t i = 0; i < req->nheaders; i++) {
        const struct tr_h1_header *h = &req->headers[i];
        if (hop_by_hop(h, req->headers, req->nheaders))
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
            put_expect_http10(o, h);
            continue;
        }
        tr_buf_append(o, h->name, h->name_len);
        tr_buf_puts(o, ": ");
        tr_buf_append(o, h->value, h->value_len);
        tr_buf_puts(o, "\r\n");
    }
    tr_filters_add_request_headers(&fo, o);
    tr_buf_puts(o, "X-Forwarded-For: ");
    if (xff) {
        tr_buf_append(o, xff, xff_len);
        tr_buf_puts(o, ", ");
    }
    tr_buf_puts(o, c->peer);
    tr_buf_puts(o, "\r\n");
    tr_buf_puts(o, c->secure ? "X-Forwarded-Proto: https\r\n" : "X-Forwarded-Proto: http\r\n");
    if (req->authority)
        tr_buf_put_field(o, "X-Forwarded-Host", req->authority, req->authority_len);
    if (req->upgrade) {
        tr_buf_puts(o, "Connection: upgrade\r\nUpgrade: ");
        tr_buf_append(o, req->upgrade, req->upgrade_len);
        tr_buf_puts(o, "\r\n");
    }
    if (req->body == TR_H1_BODY_LENGTH && (req->content_length || req->method_id == TR_H1_POST || req->method_id == TR_H1_PUT))
        put_content_length(o, req->content_length);
    else if (req->body == TR_H1_BODY_CHUNKED)
        tr_buf_puts(o, "Transfer-Encoding: chunked\r\n");
    tr_buf_puts(o, "\r\n");
    if (hit.rule->nmirrors)
        send_mirrors(c, hit.rule, o->data + head_start, o->len - head_start);
    c->retries_left = 0;
    c->retryable = false;
    const struct tr_ir_retry *retry = hit.rule->retry;
    if (retry && c->req_done) {
        /* Only a request without a body can be sent again as it was. */
        c->retryable = true;
        c->retries_left = retry->attempts;
        c->backoff_ms = retry->backoff_ms;
        c->rhead.len = 0;
        tr_buf_append(&c->rhead, o->data + head_start, o->len - head_start);
    }

    if (c->body == TR_H1_BODY_CHUNKED)
        tr_h1_chunked_init(&c->ch, NULL);
    c->state = c->req_done ? C_WAIT : C_BODY;
    /* timeouts.request bounds the exchange, tries and pauses included; backendRequest bounds
     * each try (try_begin). With only backendRequest set, the tries are bounded one by one and
     * the exchange needs no deadline of its own. */
    uint64_t request_ms, backend_ms;
    tr_filters_timeouts_ms(hit.rule, &request_ms, &backend_ms);
    if (request_ms || !backend_ms)
        tr_timer_start(c->w->loop, &c->timer, request_ms ? request_ms : RESPONSE_TIMEOUT_MS);
    else
        tr_timer_stop(c->w->loop, &c->timer);
    try_begin(c, backend_ms);
    return true;
}

/* Moves request body bytes from the client buffer to the upstream buffer, as far as the
 * framing allows and backpressure permits. */
static void c_body(struct h1c *c)
{
    struct upc *u = c->up;
    if (!u)
        return; /* the exchange ended early (see exchange_done) */
    size_t moved;
again:
    moved = c->in_off;
    while (!c->req_done && pending(&c->in, c->in_off) && pending(&u->out, u->out_off) < TR_WORKER_BUF_HIGH) {
        const char *p = c->in.data + c->in_off;
        size_t n = pending(&c->in, c->in_off);
        if (c->body == TR_H1_BODY_LENGTH) {
            size_t take = n < c->left ? n : (size_t)c->left;
            tr_buf_append(&u->out, p, take);
            mirror_feed(c, p, take);
            c->in_off += take;
            c->left -= take;
            c->req_done = c->left == 0;
        } else if (c->body == TR_H1_BODY_CHUNKED) {
            const char *data;
            size_t dlen;
            ssize_t used = tr_h1_chunked_decode(&c->ch, p, n, &data, &dlen);
            if (used < 0) {
                c->close_after = true;
                u_close(u);
                c->up = NULL;
                mirrors_release(c, true);
                c_respond(c, 400, NULL, "malformed chunked body\n");
                return;
            }
            /* The chunked bytes pass through as received: they were just checked, so both
             * hops agree where the body ends. */
            tr_buf_append(&u->out, p, (size_t)used);
            mirror_feed(c, p, (size_t)used);
            c->in_off += (size_t)used;
            c->req_done = tr_h1_chunked_done(&c->ch);
            if (used == 0)
                break;
        } else {
            break;
        }
    }
    if (c->req_done && c->state == C_BODY)
        c->state = C_WAIT;
    if (c->req_done)
        mirrors_release(c, false);
    u_flush(u);
    /* The upstream took it all at once: move more now. No EPOLLOUT edge will come to resume the
     * body (the socket never filled), and c_read stops reading while its buffer is full.
     * Found by tests/http1/run (a chunked 2 MB upload stalled). */
    if (c->up == u && u->io.fd >= 0 && u->writable && !u->connecting && !u->handshaking &&
        pending(&u->out, u->out_off) == 0 && !c->req_done && pending(&c->in, c->in_off) && c->in_off != moved)
        goto again;
}

static void c_process(struct h1c *c)
{
    while (!c->closed) {
        if (c->state == C_TUNNEL) {
            if (c->up && pending(&c->in, c->in_off)) {
                tr_buf_append(&c->up->out, c->in.data + c->in_off, pending(&c->in, c->in_off));
                c->in_off = c->in.len;
                u_flush(c->up);
            }
            if (c->eof && c->up)
                shutdown(c->up->io.fd, SHUT_WR);
            return;
        }
        if (c->state == C_BODY) {
            c_body(c);
            return;
        }
        if (c->state != C_HEAD || pending(&c->in, c->in_off) == 0)
            return;
        if (!c->req)
            c->req = tr_worker_req(c->w);
        int n = tr_h1_parse_request(c->in.data + c->in_off, pending(&c->in, c->in_off), c->req, NULL);
        if (n == TR_EAGAIN) {
            if (c->eof)
                c_close(c);
            return;
        }
        c->method = c->req->method_id;
        c->minor = c->req->minor_version;
        if (n == TR_H1_PRI) {
            c_upgrade_h2(c);
            return;
        }
        if (n < 0 || tr_h1_req_framing(c->req) != 0) {
            req_begin(c);
            c->keep_alive = false;
            c_respond(c, c->req->error_status ? c->req->error_status : 400, NULL, "bad request\n");
            tr_worker_req_put(c->w, c->req);
            c->req = NULL;
            return;
        }
        req_begin(c);
        c->keep_alive = c->req->keep_alive;
        c->body = c->req->body;
        c->left = c->req->content_length;
        c->req_done = c->body == TR_H1_BODY_NONE || (c->body == TR_H1_BODY_LENGTH && c->left == 0);
        c->snap = c->w->snap ? tr_snapshot_ref(c->w->snap) : NULL;
        /* Expect: 100-continue goes to the backend, which answers 100 itself when it wants the
         * body (forwarded by u_process; not for HTTP/1.0, see put_expect_http10); the body is
         * sent as it comes. */
        bool forwarded = c_dispatch(c, (size_t)n);
        tr_worker_req_put(c->w, c->req); /* the head's fields were used up by the dispatch */
        c->req = NULL;
        if (!forwarded)
            continue; /* answered locally; a pipelined request may follow */
        c_body(c);
        return;
    }
}

/* --- the upstream side --- */

static void u_free(struct tr_loop *loop, void *data)
{
    struct upc *u = data;
    tr_buf_dispose(&u->in);
    tr_buf_dispose(&u->out);
    free(u);
}

/* The handshake is over (or never will be): u no longer reads its TLS settings. */
static void tls_unpin(struct upc *u)
{
    u->tls = NULL;
    tr_snapshot_release(u->tls_snap);
    u->tls_snap = NULL;
}

static void u_close(struct upc *u)
{
    if (u->io.cb == NULL && u->io.fd < 0)
        return;
    tr_pool_remove(u->w, u);
    tr_timer_stop(u->w->loop, &u->timer);
    tr_loop_del(u->w->loop, &u->io);
    if (u->ssl) {
        SSL_set_quiet_shutdown(u->ssl, 1);
        SSL_free(u->ssl);
        u->ssl = NULL;
    }
    tls_unpin(u);
    close(u->io.fd);
    u->io.fd = -1;
    tr_h2u_free(u);
    if (u->feeder) {
        for (size_t i = 0; i < TR_MIRRORS_FED; i++)
            if (u->feeder->mirrors[i] == u)
                u->feeder->mirrors[i] = NULL;
        u->feeder = NULL;
    }
    tr_conn_unlink(u->w, &u->link);
    tr_metrics_add(&tr_metrics.upstream_active, -1);
    if (u->c)
        u->c->up = NULL;
    u->c = NULL;
    tr_loop_defer(u->w->loop, u_free, u);
}

static void u_close_link(struct conn_link *l)
{
    u_close((struct upc *)((char *)l - offsetof(struct upc, link)));
}

/* An upstream connection ends with its exchange; idle ones are the pool's (tr_pool_retire). */
static const struct conn_ops u_ops = {TR_CONN_UPSTREAM, u_close_link, NULL};

/* Does the rule retry on this status (HTTPRouteRetry.codes)? */
static bool retry_code(const struct h1c *c, int status)
{
    return c->rule && tr_ir_retry_code(c->rule->retry, status);
}

static void try_timeout(struct tr_loop *loop, struct tr_timer *t);
static bool retry_later(struct h1c *c);

/* A try begins: it has backend_ms (timeouts.backendRequest; 0: no limit of its own) to answer
 * (try_timeout). */
static void try_begin(struct h1c *c, uint64_t backend_ms)
{
    if (!backend_ms)
        return;
    c->rtimer.cb = try_timeout;
    c->rtimer.data = c;
    tr_timer_start(c->w->loop, &c->rtimer, backend_ms);
}

/* Sends the request again, to a backend chosen anew. */
static void retry_fire(struct tr_loop *loop, struct tr_timer *t)
{
    struct h1c *c = t->data;
    const struct tr_ir_backend *b = c->rule ? tr_lb_backend(c->w, c->rule) : NULL;
    const struct tr_ir_endpoint *ep = b && !b->invalid ? tr_lb_endpoint(c->w, b) : NULL;
    if (!ep) {
        c->close_after = true;
        c_respond(c, 503, NULL, "no backend for the retry\n");
        return;
    }
    c->backend = b;
    struct upc *u = u_connect(c, b, ep);
    if (!u) {
        /* The connection failed at once (connect() itself): a failed try like any other. */
        if (retry_later(c))
            return;
        c->close_after = true;
        c_respond(c, 503, NULL, "no response from the backend, retries exhausted\n");
        return;
    }
    tr_buf_append(&u->out, c->rhead.data, c->rhead.len);
    uint64_t request_ms, backend_ms;
    tr_filters_timeouts_ms(c->rule, &request_ms, &backend_ms);
    try_begin(c, backend_ms);
    u_flush(u);
}

/* Retries if the rule allows another try: the failed upstream is already closed. */
static bool retry_later(struct h1c *c)
{
    if (c->retries_left <= 0 || c->closed)
        return false;
    c->retries_left--;
    c->up = NULL;
    c->rtimer.cb = retry_fire;
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
        c_close(c);
        return;
    }
    tr_log_debug("upstream %s: no response within timeouts.backendRequest", u->key);
    u->c = NULL;
    u_close(u);
    c->up = NULL;
    if (retry_later(c))
        return;
    c->close_after = true;
    c_respond(c, 504, NULL, "upstream timed out\n");
}

/* The upstream failed. Before any response byte reached the client, the client gets a 502, or
 * a 503 when the rule's retries were all spent on such failures; after, its connection is
 * closed (a truncated response must not look complete). */
static void u_fail(struct upc *u, const char *why)
{
    struct h1c *c = u->c;
    tr_log_debug("upstream %s: %s", u->key, why);
    tr_metrics_add(&tr_metrics.upstream_failures, 1);
    u_close(u);
    if (!c)
        return;
    c->up = NULL;
    if (u->head_done) {
        c_close(c);
        return;
    }
    if (retry_later(c))
        return;
    c->close_after = !c->req_done;
    if (c->retryable)
        c_respond(c, 503, NULL, "no response from the backend, retries exhausted\n");
    else
        c_respond(c, 502, NULL, "upstream connection failed\n");
    if (!c->closed && c->state == C_HEAD && !c->h2)
        c_read(c); /* a pipelined request may be waiting */
}

/* One exchange is over on both sides: the upstream goes back to the pool (or closes), the
 * client goes on to its next request. */
static void exchange_done(struct upc *u)
{
    struct h1c *c = u->c;
    if (c)
        req_end(c, u->resp.status);
    bool reuse = u->keep_alive && c && c->req_done && pending(&u->in, u->in_off) == 0 && !u->eof &&
                 (!u->h2 || tr_h2u_reusable(u)) && tr_pool_current(u->w, u);
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
        if (u->h2)
            tr_h2u_reset(u);
        tr_timer_stop(u->w->loop, &u->timer);
        tr_pool_put(u->w, u);
    } else {
        u_close(u);
    }
    if (!c)
        return;
    if (c->h2) {
        /* The stream ends once its body drains; a request body still coming is dropped. */
        c->req_done = true;
        c->state = C_WAIT;
        c->resp_end = true;
        tr_timer_stop(c->w->loop, &c->timer);
        tr_h2_stream_output(c);
        return;
    }
    if (!c->req_done) {
        mirrors_release(c, true);
        /* The backend answered before the whole request body came: the rest of the body
         * cannot be told from a next request, so the connection ends after the response. */
        c->req_done = true;
        c->close_after = true;
        c->state = C_WAIT;
    }
    /* A response whose head went out before the drain began ends idle; past the listeners'
     * close, idle connections go at once (c_drain). */
    if (!c->keep_alive || c->w->drain >= TR_DRAIN_CLOSED)
        c->close_after = true;
    c_flush(c);
    if (c->closed || c->close_after)
        return;
    c->state = C_HEAD;
    c_idle_buffers(c);
    tr_timer_start(c->w->loop, &c->timer, IDLE_TIMEOUT_MS);
    /* Pipelined bytes already read, or bytes left in the kernel when reading stopped early.
     * Anything that arrived since the last read makes a new edge: no read to find nothing. */
    if (pending(&c->in, c->in_off) || c->must_read || c->eof)
        c_read(c);
}

static struct tr_log_limit backend_tls_warnings;

/* Connected (and through TLS): the connect timer ends. A mirror's answer is waited for no
 * longer than a response is; other exchanges time their responses themselves. */
static void u_connected_timer(struct upc *u)
{
    if (u->mirror)
        tr_timer_start(u->w->loop, &u->timer, RESPONSE_TIMEOUT_MS);
    else
        tr_timer_stop(u->w->loop, &u->timer);
}

static void u_on_io(struct tr_loop *loop, struct tr_io *io, uint32_t events)
{
    struct upc *u = io->data;
    if (u->connecting && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        int err = 0;
        socklen_t el = sizeof(err);
        getsockopt(io->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err) {
            u_fail(u, strerror(err));
            return;
        }
        u->connecting = false;
        if (!u->handshaking)
            u_connected_timer(u);
    }
    if (u->handshaking && !u->connecting) {
        ERR_clear_error();
        int r = SSL_do_handshake(u->ssl);
        if (r != 1) {
            int e = SSL_get_error(u->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                return;
            char why[512];
            tr_tls_errors(why, sizeof(why));
            const char *cert = tr_tls_verify_problem(u->ssl);
            /* Once a second at most: a backend that fails every handshake must not flood the log
             * at the request rate; the line says how many were held back. */
            uint64_t more = 0;
            if (tr_log_limit_pass(&backend_tls_warnings, 1000, &more))
                tr_log_warn("TLS to backend %s (BackendTLSPolicy %s/%s) failed: %s%s%s (%llu more TLS failures to "
                            "backends since the last warning)", u->key, u->tls->policy_ns, u->tls->policy_name, why,
                            cert ? ": " : "", cert ? cert : "", (unsigned long long)more);
            u_fail(u, "TLS handshake failed");
            return;
        }
        tls_unpin(u);
        u->handshaking = false;
        u_connected_timer(u);
        u->writable = true;
        events |= EPOLLOUT; /* send what waited for the handshake */
    }
    if (events & EPOLLOUT) {
        u->writable = true;
        u_flush(u);
        if (u->io.fd < 0)
            return;
        /* Room again upstream: resume the request body the client side held back. */
        struct h1c *c = u->c;
        if (c && pending(&u->out, u->out_off) == 0 && (c->state == C_BODY || c->state == C_TUNNEL)) {
            c_process(c);
            if (!c->closed && c->up == u)
                c_read(c);
            if (u->io.fd < 0)
                return;
        }
    }
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        u->hup = true;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        if (u->idle) {
            /* An idle keep-alive connection that speaks or closes is done. */
            u_close(u);
            return;
        }
        u_read(u);
    }
}

static void u_flush(struct upc *u)
{
    if (u->io.fd < 0 || u->connecting || u->handshaking || !u->writable)
        return;
    if (u->h2) {
        if (tr_h2u_flush(u) < 0)
            u_fail(u, "HTTP/2 request failed");
        else
            u->sent_any = true;
        return;
    }
    if (write_from(u->io.fd, u->ssl, &u->out, &u->out_off, &u->writable, NULL) < 0) {
        u_fail(u, "write failed");
        return;
    }
    u->sent_any = true;
}

static void u_read(struct upc *u)
{
    while (u->io.fd >= 0 && !u->eof) {
        struct h1c *c = u->c;
        if (c && pending(&c->out, c->out_off) >= TR_WORKER_BUF_HIGH)
            return; /* the client is slow: the response waits in the kernel */
        compact(&u->in, &u->in_off);
        enum rd r = u->h2 ? (enum rd)tr_h2u_read(u)
                          : read_into(u->w, u->io.fd, u->ssl, &u->in, u->in_off, TR_WORKER_BUF_HIGH + 65536, u->hup);
        if (r == RD_EOF)
            u->eof = true;
        u_process(u);
        if (r != RD_FULL)
            return;
    }
}

static void write_response_head(struct upc *u, struct h1c *c)
{
    const struct tr_h1_resp *r = &u->resp;
    struct tr_buf h2head, *o = &c->out;
    if (c->h2) {
        tr_buf_init(&h2head, 0);
        o = &h2head;
    }
    if (!c->h2)
        tr_worker_buf_attach(c->w, o);
    tr_buf_reserve(o, 512 + r->nheaders * 64);
    tr_buf_puts(o, "HTTP/1.1 ");
    tr_buf_put_u64(o, (uint64_t)r->status);
    tr_buf_putc(o, ' ');
    tr_buf_append(o, r->reason, r->reason_len);
    tr_buf_puts(o, "\r\n");
    struct tr_filter_out fo;
    tr_filters_response(c->rule, c->backend ? &c->backend->filters : NULL, &fo); /* c->backend answered */
    const struct tr_ir_cors *cors = tr_cors_filter(c->rule);
    for (size_t i = 0; i < r->nheaders; i++) {
        const struct tr_h1_header *h = &r->headers[i];
        if (hop_by_hop(h, r->headers, r->nheaders))
            continue;
        if (tr_filters_drop_response_header(&fo, h->name, h->name_len))
            continue;
        if (tr_cors_drop_response_header(cors, h->name, h->name_len))
            continue;
        tr_buf_append(o, h->name, h->name_len);
        tr_buf_puts(o, ": ");
        tr_buf_append(o, h->value, h->value_len);
        tr_buf_puts(o, "\r\n");
    }
    tr_filters_add_response_headers(&fo, o);
    if (cors) {
        struct tr_cors_req cr = {.origin = c->cors_origin, .origin_len = c->cors_origin_len,
                                 .credentialed = c->cors_cred};
        tr_cors_response(cors, &cr, r->headers, r->nheaders, o);
    }
    if (c->h2) {
        /* HTTP/2 frames the body itself; a length the backend gave is kept as information. */
        if (u->body == TR_H1_BODY_LENGTH)
            put_content_length(o, r->content_length);
        tr_buf_puts(o, "\r\n");
        tr_h2_stream_head(c, o->data, o->len, false);
        tr_buf_dispose(&h2head);
        return;
    }
    if (r->status == 101) {
        tr_buf_puts(o, "Connection: upgrade\r\nUpgrade: ");
        tr_buf_append(o, r->upgrade, r->upgrade_len);
        tr_buf_puts(o, "\r\n\r\n");
        return;
    }
    if (u->body == TR_H1_BODY_LENGTH)
        put_content_length(o, r->content_length);
    else if (u->body == TR_H1_BODY_CHUNKED && c->minor >= 1)
        tr_buf_puts(o, "Transfer-Encoding: chunked\r\n");
    /* A body delimited by close (or chunked to an HTTP/1.0 client) ends the connection. */
    if (u->body == TR_H1_BODY_CLOSE || (u->body == TR_H1_BODY_CHUNKED && c->minor == 0))
        c->close_after = true;
    if (!c_reusable(c))
        c->close_after = true;
    if (c->close_after)
        tr_buf_puts(o, "Connection: close\r\n");
    else if (c->minor == 0)
        tr_buf_puts(o, "Connection: keep-alive\r\n");
    tr_buf_puts(o, "\r\n");
}

static void u_process(struct upc *u)
{
    struct h1c *c = u->c;
    if (u->mirror) {
        u->in.len = 0; /* the mirror's answer is dropped */
        u->in_off = 0;
        if (u->eof || (u->h2 && tr_h2u_reusable(u)))
            u_close(u);
        return;
    }
    if (!c) {
        u_close(u);
        return;
    }
    while (!u->head_done) {
        if (pending(&u->in, u->in_off) == 0) {
            if (u->eof)
                u_fail(u, "closed before a response");
            return;
        }
        tr_h1_resp_init(&u->resp);
        int n = tr_h1_parse_response(u->in.data + u->in_off, pending(&u->in, u->in_off), &u->resp, NULL);
        if (n == TR_EAGAIN) {
            if (u->eof)
                u_fail(u, "truncated response head");
            return;
        }
        if (n < 0 || tr_h1_resp_framing(&u->resp, c->method) != 0) {
            u_fail(u, "malformed response head");
            return;
        }
        if (u->resp.status == 101 && !c->upgrade_asked) {
            /* RFC 9110 15.2.2: a server switches only to a protocol the request's Upgrade
             * named. torii sends Upgrade only for an HTTP/1.1 client that asked, so any other
             * 101 is a broken response: tunnelling it would hand an HTTP/1.0 client a 1xx
             * (15.2) and any client a connection it cannot read. */
            u_fail(u, "101 to a request without Upgrade");
            return;
        }
        if (u->resp.status < 200 && u->resp.status != 101) {
            /* 1xx interim responses: forward 100 Continue and 103, never to an HTTP/1.0 client
             * (RFC 9110 15.2: a server MUST NOT send it one); others are dropped. */
            bool relay = (u->resp.status == 100 || u->resp.status == 103) && (c->h2 || c->minor >= 1);
            if (relay) {
                /* With its fields: a 103 is there for its Link fields (RFC 8297). */
                struct tr_buf ih;
                tr_buf_init(&ih, 0);
                tr_buf_printf(&ih, "HTTP/1.1 %d %s\r\n", u->resp.status, status_text(u->resp.status));
                for (size_t i = 0; i < u->resp.nheaders; i++) {
                    const struct tr_h1_header *h = &u->resp.headers[i];
                    if (hop_by_hop(h, u->resp.headers, u->resp.nheaders))
                        continue;
                    tr_buf_append(&ih, h->name, h->name_len);
                    tr_buf_puts(&ih, ": ");
                    tr_buf_append(&ih, h->value, h->value_len);
                    tr_buf_puts(&ih, "\r\n");
                }
                tr_buf_puts(&ih, "\r\n");
                if (c->h2) {
                    tr_h2_stream_head(c, ih.data, ih.len, false);
                } else {
                    tr_buf_append(&c->out, ih.data, ih.len);
                    c_flush(c);
                }
                tr_buf_dispose(&ih);
                if (c->closed)
                    return;
            }
            u->in_off += (size_t)n;
            continue;
        }
        if (retry_code(c, u->resp.status) && c->retries_left > 0) {
            /* The answer is dropped with its connection; the request goes out again. */
            tr_log_debug("retrying after status %d from %s", u->resp.status, u->key);
            u->c = NULL;
            u_close(u);
            retry_later(c);
            return;
        }
        u->head_done = true;
        u->body = u->resp.body;
        u->left = u->resp.content_length;
        u->keep_alive = u->resp.keep_alive;
        if (u->body == TR_H1_BODY_CHUNKED) {
            tr_h1_chunked_init(&u->ch, NULL);
            if (c->h2) {
                /* Trailers (gRPC's status) go on as HTTP/2 trailing HEADERS. */
                free(c->trailers);
                c->trailers = tr_xmalloc(u->ch.max_trailer);
                c->trailers_len = 0;
                u->ch.keep = c->trailers;
                u->ch.keep_cap = u->ch.max_trailer;
            }
        }
        write_response_head(u, c);
        u->in_off += (size_t)n;
        if (u->resp.status == 101 || u->body == TR_H1_BODY_TUNNEL) {
            /* After a 101, or a 2xx to CONNECT: bytes both ways from here on. */
            c->state = C_TUNNEL;
            u->body = TR_H1_BODY_TUNNEL;
            tr_timer_stop(c->w->loop, &c->timer);
            tr_timer_stop(c->w->loop, &c->rtimer); /* a tunnel has no end for backendRequest to time */
            c_process(c);
        }
        u->resp_done = u->body == TR_H1_BODY_NONE || (u->body == TR_H1_BODY_LENGTH && u->left == 0);
    }
    /* The body, as far as the client buffer allows. */
    while (!u->resp_done && pending(&u->in, u->in_off) && pending(&c->out, c->out_off) < TR_WORKER_BUF_HIGH) {
        const char *p = u->in.data + u->in_off;
        size_t n = pending(&u->in, u->in_off);
        if (u->body == TR_H1_BODY_LENGTH) {
            size_t take = n < u->left ? n : (size_t)u->left;
            if (c->method != TR_H1_HEAD)
                tr_buf_append(&c->out, p, take);
            u->in_off += take;
            u->left -= take;
            u->resp_done = u->left == 0;
        } else if (u->body == TR_H1_BODY_CHUNKED) {
            const char *data;
            size_t dlen;
            ssize_t used = tr_h1_chunked_decode(&u->ch, p, n, &data, &dlen);
            if (used < 0) {
                u_fail(u, "malformed chunked response");
                return;
            }
            if (c->minor >= 1 && !c->h2)
                tr_buf_append(&c->out, p, (size_t)used);
            else if (dlen && c->method != TR_H1_HEAD)
                tr_buf_append(&c->out, data, dlen);
            u->in_off += (size_t)used;
            u->resp_done = tr_h1_chunked_done(&u->ch);
            if (c->h2)
                c->trailers_len = u->ch.keep_len;
            if (used == 0)
                break;
        } else { /* until close, or a tunnel */
            tr_buf_append(&c->out, p, n);
            u->in_off += n;
        }
    }
    if (u->eof && pending(&u->in, u->in_off) == 0 && !u->resp_done) {
        if (u->body == TR_H1_BODY_CLOSE || u->body == TR_H1_BODY_TUNNEL) {
            u->resp_done = true;
            u->keep_alive = false;
        } else {
            c_flush(c);
            u_fail(u, "truncated response body");
            return;
        }
    }
    if (u->resp_done && u->body != TR_H1_BODY_TUNNEL)
        req_end(c, u->resp.status); /* counted before its last byte can reach the client */
    c_flush(c);
    if (c->closed)
        return;
    if (u->resp_done && u->body != TR_H1_BODY_TUNNEL)
        exchange_done(u);
    else if (u->resp_done && u->body == TR_H1_BODY_TUNNEL) {
        c->close_after = true;
        c->req_done = true;
        c_flush(c);
    }
}

static void u_timeout(struct tr_loop *loop, struct tr_timer *t)
{
    struct upc *u = t->data;
    u_fail(u, u->connecting || u->handshaking ? "connect timed out" : "no response in time");
}

/* Opens a new upstream connection to ep (non-blocking connect), under tls (of snapshot snap)
 * when not NULL; NULL on failure. */
static struct upc *u_open(struct worker *w, const struct tr_ir_endpoint *ep, const char *key,
                          const struct tr_ir_backend_tls *tls, struct tr_snapshot *snap, bool h2)
{
    struct upc *u = NULL;
    {
        struct sockaddr_storage ss;
        unsigned sl;
        if (tr_sockaddr(ep->addr, ep->port, &ss, &sl) != 0)
            return NULL; /* a hostname endpoint (ExternalName) needs the resolver: not yet */
        int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return NULL;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        int rc = connect(fd, (struct sockaddr *)&ss, sl);
        if (rc < 0 && errno != EINPROGRESS) {
            close(fd);
            return NULL;
        }
        u = tr_xcalloc(1, sizeof(*u));
        u->w = w;
        snprintf(u->key, sizeof(u->key), "%s", key);
        u->connecting = rc < 0;
        u->writable = rc == 0;
        u->io = (struct tr_io){.fd = fd, .cb = u_on_io, .data = u};
        u->timer.cb = u_timeout;
        u->timer.data = u;
        if (tls) {
            u->ssl = SSL_new(tls->ctx);
            if (!u->ssl) {
                close(fd);
                free(u);
                return NULL;
            }
            SSL_set_fd(u->ssl, fd);
            SSL_set_connect_state(u->ssl);
            tr_tls_client_prepare(u->ssl, &tls->peer);
            if (h2)
                SSL_set_alpn_protos(u->ssl, (const unsigned char *)"\x02h2", 3);
            u->tls_id = tls->id;
            u->tls = tls;
            u->tls_snap = tr_snapshot_ref(snap);
            u->handshaking = true;
        }
        if (h2 && !tr_h2u_init(u)) {
            SSL_free(u->ssl);
            tls_unpin(u);
            close(fd);
            free(u);
            return NULL;
        }
        tr_conn_link(w, &u->link, &u_ops);
        tr_loop_add(w->loop, &u->io, EPOLLIN | EPOLLOUT | EPOLLRDHUP);
        tr_metrics_add(&tr_metrics.upstream_connects, 1);
        tr_metrics_add(&tr_metrics.upstream_active, 1);
        if (u->connecting || u->handshaking)
            tr_timer_start(w->loop, &u->timer, CONNECT_TIMEOUT_MS);
    }
    return u;
}

/* Sends a copy of a bodyless request head to each mirror whose share this request falls in. The
 * copy's answer is read and dropped; it never touches the client's response. A mirror connection
 * carries one exchange and closes when its answer has come (HTTP/1.1: it asks the backend to
 * close; HTTP/2: its stream ended) or when the response timeout passes, whichever is first: a
 * keep-alive or silent mirror backend must not keep one descriptor per mirrored request. An
 * upgrade is not mirrored: its answer is dropped, so no tunnel could follow. */
static void send_mirrors(struct h1c *c, const struct tr_ir_rule *r, const char *head, size_t len)
{
    if (c->upgrade_asked)
        return;
    size_t fed = 0;
    for (size_t i = 0; i < r->nmirrors; i++) {
        if (!c->req_done && fed == TR_MIRRORS_FED)
            break;
        const struct tr_ir_mirror *m = &r->mirrors[i];
        if (m->backend.invalid || !m->denominator)
            continue;
        if (tr_worker_rand(c->w) % m->denominator >= m->numerator)
            continue;
        const struct tr_ir_endpoint *ep = tr_lb_endpoint(c->w, &m->backend);
        if (!ep)
            continue;
        char key[sizeof(((struct upc *)0)->key)];
        const struct tr_ir_backend_tls *tls = backend_tls(c, &m->backend, key, sizeof(key), ep);
        if (m->backend.tls && !tls)
            continue;
        struct upc *u = u_open(c->w, ep, key, tls, c->snap, wants_h2(r, &m->backend));
        if (!u)
            continue;
        u->mirror = true;
        if (u->h2) {
            tr_buf_append(&u->out, head, len);
        } else {
            tr_buf_append(&u->out, head, len - 2); /* the head ends with an empty line */
            tr_buf_puts(&u->out, "Connection: close\r\n\r\n");
        }
        if (!c->req_done) {
            /* The body follows as the client sends it (mirror_feed). */
            u->feeder = c;
            c->mirrors[fed++] = u;
        }
        tr_timer_start(c->w->loop, &u->timer, RESPONSE_TIMEOUT_MS);
        u_flush(u);
    }
}

/* Request body bytes, exactly as sent upstream, go to the mirrors too. */
static void mirror_feed(struct h1c *c, const char *p, size_t n)
{
    for (size_t i = 0; i < TR_MIRRORS_FED; i++) {
        struct upc *m = c->mirrors[i];
        if (!m)
            continue;
        if (pending(&m->out, m->out_off) + n > TR_MIRROR_MAX_BACKLOG) {
            tr_log_debug("mirror %s falls behind the request body: dropped", m->key);
            u_close(m); /* clears c->mirrors[i] */
            continue;
        }
        tr_buf_append(&m->out, p, n);
        u_flush(m);
    }
}

/* The request is over for the mirrors: with the whole body (they finish on their own), or cut
 * short (abort: a mirror must not see a truncated body as a whole one). */
static void mirrors_release(struct h1c *c, bool abort)
{
    for (size_t i = 0; i < TR_MIRRORS_FED; i++) {
        struct upc *m = c->mirrors[i];
        if (!m)
            continue;
        c->mirrors[i] = NULL;
        m->feeder = NULL;
        if (abort)
            u_close(m);
    }
}

/* The TLS settings to connect to b with (NULL for plaintext), and the pool key of connections
 * to ep so made (tr_pool_key). Settings whose context could not be made are returned as NULL
 * too: callers then refuse, never falling back to plaintext. */
static const struct tr_ir_backend_tls *backend_tls(struct h1c *c, const struct tr_ir_backend *b, char *key,
                                                   size_t cap, const struct tr_ir_endpoint *ep)
{
    const struct tr_ir_backend_tls *tls = b->tls && b->tls->ctx ? b->tls : NULL;
    tr_pool_key(key, cap, ep, tls ? tls->id : 0, wants_h2(c->rule, b));
    return tls;
}

static struct upc *u_connect(struct h1c *c, const struct tr_ir_backend *b, const struct tr_ir_endpoint *ep)
{
    char key[sizeof(((struct upc *)0)->key)];
    const struct tr_ir_backend_tls *tls = backend_tls(c, b, key, sizeof(key), ep);
    if (b->tls && !tls)
        return NULL; /* the policy's context could not be made: never fall back to plaintext */
    /* A pooled connection the backend closed meanwhile showed up as readable and was closed
     * (u_on_io), so what the pool holds was quiet at the last turn. */
    struct upc *u = tr_pool_take(c->w, key);
    if (u)
        tr_metrics_add(&tr_metrics.upstream_reused, 1);
    else
        u = u_open(c->w, ep, key, tls, c->snap, wants_h2(c->rule, b));
    if (!u)
        return NULL;
    u->c = c;
    u->head_done = u->resp_done = u->eof = false;
    u->in.len = 0;
    u->in_off = 0;
    u->out.len = 0;
    u->out_off = 0;
    c->up = u;
    return u;
}

static SSL_CTX *tls_base;

/* SNI: the HTTPS listener of the port whose hostname matches the name most specifically; a
 * client without SNI, or with a name no listener serves, gets the listener without a hostname
 * if there is one, else the handshake fails (unrecognized_name). Chosen as the ClientHello
 * arrives, before OpenSSL looks for a session to resume (see tr_tls_base_ctx). */
static int on_client_hello(SSL *ssl, int *alert, void *arg)
{
    struct h1c *c = SSL_get_app_data(ssl);
    const struct tr_ir_port *port = c->snap ? tr_snapshot_port(c->snap, c->laddr, c->lport, false) : NULL;
    *alert = SSL_AD_UNRECOGNIZED_NAME;
    if (!port)
        return SSL_CLIENT_HELLO_ERROR;
    const unsigned char *ext;
    size_t elen;
    const char *name = NULL;
    size_t nlen = 0;
    if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &ext, &elen) &&
        tr_sni_parse_ext(ext, elen, &name, &nlen) < 0) {
        *alert = SSL_AD_DECODE_ERROR;
        return SSL_CLIENT_HELLO_ERROR;
    }
    int best = -1;
    unsigned best_score = 0;
    for (size_t i = 0; i < port->nlisteners; i++) {
        const struct tr_ir_listener *l = port->listeners[i];
        if (l->proto != TR_PROTO_HTTPS || !tr_snapshot_tls(c->snap, port, i))
            continue;
        unsigned sc = name ? tr_host_score(l->hostname, name, nlen) : (l->hostname ? 0 : 1);
        if (sc > best_score) {
            best_score = sc;
            best = (int)i;
        }
    }
    if (best < 0)
        return SSL_CLIENT_HELLO_ERROR;
    c->tls_listener = best;
    tr_tls_switch(ssl, tr_snapshot_tls(c->snap, port, (size_t)best));
    return SSL_CLIENT_HELLO_SUCCESS;
}

int tr_h1_tls_init(void)
{
    if (!tls_base)
        tls_base = tr_tls_base_ctx(on_client_hello);
    return tls_base ? 0 : -1;
}

void tr_h1_tls_free(void)
{
    SSL_CTX_free(tls_base);
    tls_base = NULL;
}

void tr_h1_accept(struct worker *w, struct wlisten *l, int fd, const struct sockaddr_storage *peer)
{
    struct h1c *c = tr_xcalloc(1, sizeof(*c));
    c->w = w;
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
    c_idle_buffers(c);
    c->writable = true;
    c->tls_listener = -1;
    c->state = C_HEAD;
    if (l->tls) {
        c->ssl = SSL_new(tls_base);
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

/* --- HTTP/2 --- */

/* The connection speaks HTTP/2 (the prior-knowledge preface, or ALPN h2): h2_server.c takes its
 * socket, its TLS and what was read of it. */
static void c_upgrade_h2(struct h1c *c)
{
    if (!c->ssl && (c->in_off != 0 || c->written != 0 || pending(&c->out, c->out_off) != 0)) {
        /* The preface only counts as the first bytes of a connection (RFC 9113 3.4). */
        req_begin(c);
        c->keep_alive = false;
        c_respond(c, 400, NULL, "HTTP/2 preface after HTTP/1 requests\n");
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
                 pending(&c->in, c->in_off));
    tr_conn_unlink(c->w, &c->link); /* after: never counted nowhere (tr_worker_count) */
    tr_loop_defer(c->w->loop, c_free, c);
}

struct h1c *tr_h1_stream_new(struct worker *w, struct h2s *s, const char *laddr, uint16_t lport, const char *peer,
                             bool secure, int tls_listener)
{
    struct h1c *c = tr_xcalloc(1, sizeof(*c));
    c->w = w;
    c->h2 = s;
    c->io.fd = -1;
    snprintf(c->laddr, sizeof(c->laddr), "%s", laddr);
    c->lport = lport;
    snprintf(c->peer, sizeof(c->peer), "%s", peer);
    c->secure = secure;
    c->tls_listener = tls_listener;
    tr_buf_init(&c->in, 0);
    tr_buf_init(&c->out, 0);
    c_idle_buffers(c);
    c->writable = true;
    c->state = C_HEAD;
    c->timer.cb = c_timeout;
    c->timer.data = c;
    return c;
}

void tr_h1_stream_input(struct h1c *c)
{
    if (!c->closed)
        c_process(c);
}

void tr_h1_stream_abort(struct h1c *c)
{
    c_close(c);
}

void tr_h1_stream_free(struct h1c *c)
{
    tr_loop_defer(c->w->loop, c_free, c);
}

void tr_h1_stream_drained(struct h1c *c)
{
    if (!c->closed && c->up && c->up->head_done && !c->up->resp_done)
        u_read(c->up);
}

void tr_h1_stream_respond(struct h1c *c, int code, const char *body)
{
    c_respond(c, code, NULL, body);
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

void tr_proxy_worker_ops(struct tr_worker_ops *ops)
{
    ops->start = tr_h1_tls_init;
    ops->stop = tr_h1_tls_free;
    ops->accept[TR_WL_HTTP] = tr_h1_accept;
    ops->retire = tr_pool_retire;
}
