/* The HTTP/1.1 client connection (struct h1c, h1_conn.h), the codec on the client side of its
 * exchange: accept, the TLS handshake (its context and the listener choice by SNI are
 * h1_tls.c's), reading request heads (h1_parse.h) and handing the rest of what comes to the
 * exchange, pipelining and keep-alive, close and drain. The response goes out through h1_down.c.
 * A connection whose first bytes are the HTTP/2 preface, or that chose h2 by ALPN, is handed to
 * h2_server.c. */
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/metrics.h"
#include "ir/ir.h"
#include "net/sock.h"
#include "net/tls.h"
#include "proxy/h1_conn.h"
#include "proxy/h2.h"
#include "proxy/internal.h"
#include "proxy/proxy.h"
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
    struct tr_exchange *x = &c->x;
    tr_worker_req_put(x->w, x->req);
    x->req = NULL;
    if (x->in_off == x->in.len && x->in.data) {
        tr_worker_buf_release(x->w, &x->in);
        x->in_off = 0;
    }
    if (x->out_off == x->out.len && x->out.data) {
        tr_worker_buf_release(x->w, &x->out);
        x->out_off = 0;
    }
}

static void c_handshake(struct h1c *c)
{
    struct tr_exchange *x = &c->x;
    ERR_clear_error();
    int r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        x->state = C_HEAD;
        tr_snapshot_release(x->snap); /* the handshake's pin; each request takes its own */
        x->snap = NULL;
        const unsigned char *proto = NULL;
        unsigned plen = 0;
        SSL_get0_alpn_selected(c->ssl, &proto, &plen);
        if (plen == 2 && memcmp(proto, "h2", 2) == 0) {
            c_upgrade_h2(c);
            return;
        }
        tr_h1c_read(x);
        return;
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return;
    if (tr_log_min <= TR_LOG_DEBUG) {
        char why[512];
        tr_tls_errors(why, sizeof(why));
        tr_log_debug("TLS handshake with %s failed: %s", c->facts.peer, why);
    }
    tr_exchange_close(x, false);
}

static void c_on_io(struct tr_loop *loop, struct tr_io *io, uint32_t events)
{
    struct h1c *c = io->data;
    struct tr_exchange *x = &c->x;
    if (x->state == C_TLS) {
        c_handshake(c);
        return;
    }
    if (events & EPOLLOUT) {
        c->writable = true;
        tr_h1c_flush(x);
        if (x->closed)
            return;
        if (tr_buf_pending(&x->out, x->out_off) == 0)
            tr_exchange_room(x);
        if (x->closed)
            return;
    }
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        c->hup = true;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        tr_h1c_read(x);
}

static void c_free(struct tr_loop *loop, void *data)
{
    struct h1c *c = data;
    struct worker *w = c->x.w;
    tr_exchange_dispose(&c->x);
    tr_mesh_client_put(c->facts.mesh);
    tr_worker_obj_put(&w->h1c_cache, c);
}

/* The exchange closed: the socket goes, at once or (linger) as tr_conn_linger does, for a
 * client still there when torii cuts its connection. */
void tr_h1c_close(struct tr_exchange *x, bool linger)
{
    struct h1c *c = h1c_of(x);
    tr_metrics_add(&tr_metrics.conns_active, -1);
    tr_loop_del(x->w->loop, &c->io);
    tr_tls_free(c->ssl);
    c->ssl = NULL;
    if (linger)
        tr_conn_linger(x->w, c->io.fd, TR_CONN_HTTP);
    else
        close(c->io.fd);
    tr_conn_unlink(x->w, &c->link);
    tr_loop_defer(x->w->loop, c_free, c);
}

static struct h1c *c_of_link(struct conn_link *l)
{
    return (struct h1c *)((char *)l - offsetof(struct h1c, link));
}

static void c_close_link(struct conn_link *l)
{
    tr_exchange_close(&c_of_link(l)->x, false);
}

void tr_h1c_drain(struct conn_link *l)
{
    struct tr_exchange *x = &c_of_link(l)->x;
    if (x->w->drain == TR_DRAIN_CUT) {
        tr_exchange_close(x, true);
        return;
    }
    bool idle = x->state == C_HEAD && x->written > 0 && !x->in_flight && !x->up &&
                tr_buf_pending(&x->in, x->in_off) == 0 && tr_buf_pending(&x->out, x->out_off) == 0;
    if (x->w->drain == TR_DRAIN_CLOSED && idle)
        tr_exchange_close(x, false);
}

void tr_h1c_flush(struct tr_exchange *x)
{
    struct h1c *c = h1c_of(x);
    if (x->closed)
        return;
    if (c->writable && tr_sock_write_buf(c->io.fd, c->ssl, &x->out, &x->out_off, &c->writable, &x->written) < 0) {
        tr_exchange_close(x, false);
        return;
    }
    if (tr_buf_pending(&x->out, x->out_off) == 0 && x->close_after && x->req_done && (!x->up || x->up->resp_done))
        tr_exchange_close(x, false);
}

void tr_h1c_read(struct tr_exchange *x)
{
    struct h1c *c = h1c_of(x);
    while (!x->closed && !x->eof) {
        /* Backpressure: while the upstream has a full buffer to send, the client's bytes stay
         * in the kernel; the upstream's writable event resumes reading. */
        if (x->up && tr_buf_pending(&x->up->out, x->up->out_off) >= TR_WORKER_BUF_HIGH) {
            c->must_read = true;
            return;
        }
        tr_buf_compact(&x->in, &x->in_off);
        size_t before = tr_buf_pending(&x->in, x->in_off);
        enum tr_sock_rd r =
            tr_proxy_read_into(x->w, c->io.fd, c->ssl, &x->in, x->in_off, tr_exchange_in_cap(x) + 65536, c->hup);
        c->must_read = r == TR_SOCK_RD_FULL;
        if (r == TR_SOCK_RD_EOF)
            x->eof = true;
        tr_h1c_process(x);
        if (r != TR_SOCK_RD_FULL || x->closed)
            break;
        size_t now = tr_buf_pending(&x->in, x->in_off);
        if (now >= before && now >= tr_exchange_in_cap(x) + 65536)
            return; /* full and nothing consumed: an exchange must finish first */
    }
    if (!x->closed && x->eof) {
        tr_h1c_process(x);
        if (!x->closed && x->state == C_HEAD && tr_buf_pending(&x->in, x->in_off) == 0 && !x->up)
            tr_exchange_close(x, false);
        else if (!x->closed && x->state == C_TUNNEL && x->up)
            shutdown(x->up->io.fd, SHUT_WR);
    }
}

void tr_h1c_process(struct tr_exchange *x)
{
    while (!x->closed) {
        if (x->state != C_HEAD) {
            tr_exchange_input(x);
            return;
        }
        if (tr_buf_pending(&x->in, x->in_off) == 0)
            return;
        if (!x->req)
            x->req = tr_worker_req(x->w);
        int n = tr_h1_parse_request(x->in.data + x->in_off, tr_buf_pending(&x->in, x->in_off), x->req,
                                    &tr_proxy_req_limits);
        if (n == TR_EAGAIN) {
            if (x->eof)
                tr_exchange_close(x, false);
            return;
        }
        if (n == TR_H1_PRI) {
            x->method = x->req->method_id;
            x->minor = x->req->minor_version;
            c_upgrade_h2(h1c_of(x));
            return;
        }
        if (!tr_exchange_start(x, n))
            return;
    }
}

static const struct conn_ops c_ops = {TR_CONN_HTTP, c_close_link, tr_h1c_drain};

/* A client connection on laddr:lport (a listener's, or for a mesh client the Service address it
 * dialled), TLS first when tls. */
static void h1_accept(struct worker *w, int fd, const struct sockaddr_storage *peer, bool tls, const char *laddr,
                      uint16_t lport, struct tr_mesh_client *mesh)
{
    struct h1c *c = tr_worker_obj_get(&w->h1c_cache, sizeof(*c));
    struct tr_exchange *x = &c->x;
    tr_exchange_init(x, w, &tr_h1_down_ops, &c->facts);
    snprintf(c->facts.laddr, sizeof(c->facts.laddr), "%s", laddr);
    c->facts.lport = lport;
    c->facts.mesh = tr_mesh_client_ref(mesh);
    if (peer->ss_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)peer)->sin_addr, c->facts.peer, sizeof(c->facts.peer));
    else
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)peer)->sin6_addr, c->facts.peer, sizeof(c->facts.peer));
    c->facts.tls_listener = -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->writable = true;
    if (tls) {
        c->ssl = tr_h1_tls_new();
        if (!c->ssl) {
            close(fd);
            tr_mesh_client_put(c->facts.mesh);
            free(c);
            return;
        }
        SSL_set_fd(c->ssl, fd);
        SSL_set_accept_state(c->ssl);
        SSL_set_app_data(c->ssl, c);
        tr_tls_mark_http(c->ssl);
        c->facts.secure = true;
        x->state = C_TLS;
        /* The SNI callback reads the snapshot: pin one for the handshake. */
        x->snap = w->snap ? tr_snapshot_ref(w->snap) : NULL;
    }
    c->io = (struct tr_io){.fd = fd, .cb = c_on_io, .data = c};
    tr_conn_link(w, &c->link, &c_ops);
    tr_loop_add(w->loop, &c->io, EPOLLIN | EPOLLOUT | EPOLLRDHUP);
    tr_metrics_add(&tr_metrics.conns_accepted, 1);
    tr_metrics_add(&tr_metrics.conns_active, 1);
    tr_timer_start(w->loop, &x->timer, HEAD_TIMEOUT_MS);
}

void tr_h1_accept(struct worker *w, struct wlisten *l, int fd, const struct sockaddr_storage *peer)
{
    h1_accept(w, fd, peer, l->tls, l->addr, l->port, NULL);
}

/* A mesh client's connection to an HTTP port of a Service: requests are routed one by one by the
 * route sets of that port (an HTTP/2 preface hands it to h2_server.c, as on any listener). */
static void h1_mesh_accept(struct worker *w, struct wlisten *l, int fd, const struct sockaddr_storage *peer,
                           const struct tr_ir_port *port)
{
    h1_accept(w, fd, peer, false, port->addr, port->port, l->client);
}

/* The connection speaks HTTP/2 (the prior-knowledge preface, or ALPN h2): h2_server.c takes its
 * socket, its TLS and what was read of it. */
static void c_upgrade_h2(struct h1c *c)
{
    struct tr_exchange *x = &c->x;
    if (!c->ssl && (x->in_off != 0 || x->written != 0 || tr_buf_pending(&x->out, x->out_off) != 0)) {
        /* The preface only counts as the first bytes of a connection (RFC 9113 3.4). */
        tr_reqlog_begin(x);
        x->keep_alive = false;
        tr_exchange_respond(x, 400, NULL, "HTTP/2 preface after HTTP/1 requests\n");
        return;
    }
    int fd = c->io.fd;
    SSL *ssl = c->ssl;
    tr_timer_stop(x->w->loop, &x->timer);
    tr_timer_stop(x->w->loop, &x->rtimer);
    tr_loop_del(x->w->loop, &c->io);
    x->closed = true;
    c->ssl = NULL;
    tr_h2_accept(x->w, fd, ssl, &c->facts, x->in.data + x->in_off, tr_buf_pending(&x->in, x->in_off));
    tr_conn_unlink(x->w, &c->link); /* after: never counted nowhere (tr_worker_count) */
    tr_loop_defer(x->w->loop, c_free, c);
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
    ops->mesh_accept[1] = h1_mesh_accept;
    ops->retire = tr_pool_retire;
}
