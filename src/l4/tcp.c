/* TCP proxying for TCP listeners (TCPRoute) and TLS passthrough listeners (TLSRoute): the
 * client's bytes go to one backend endpoint and back, unchanged. For passthrough, the
 * ClientHello is read first (never answered) to route by its server name; it is then forwarded
 * with everything else. Each direction holds at most TR_WORKER_BUF_HIGH bytes; a side that closes
 * its write half is mirrored on the other (half-close), and the pair ends when both are done. */
#include "l4/tcp.h"
#include "l4/l4.h"
#include "l4/udp.h"
#include "base/metrics.h"
#include "base/log.h"
#include "base/mem.h"
#include "ir/ir.h"
#include "snapshot/snapshot.h"
#include "net/sni.h"
#include "net/listen.h"
#include "net/netns.h"
#include "net/sock.h"
#include "worker/lb.h"
#include "net/tls.h"
#include "ir/router.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <openssl/err.h>

#define HELLO_TIMEOUT_MS 10000   /* a passthrough client must send its ClientHello by then */
#define CONNECT_TIMEOUT_MS 5000
#define IDLE_TIMEOUT_MS 3600000  /* an hour without a byte either way ends the pair */
#define HELLO_MAX 16389          /* one TLS record: 5-byte header + 16 KiB */

struct half {
    struct tr_io io;
    SSL *ssl;          /* the client half of a TLS-terminating listener */
    struct tr_buf buf; /* bytes read from this side, waiting to be written to the other */
    size_t off;
    bool eof;          /* this side will send no more */
    bool shut;         /* the other side's write half was shut after eof */
    bool writable;
};

struct l4c {
    struct conn_link link;
    struct worker *w;
    char laddr[INET6_ADDRSTRLEN];
    uint16_t lport;
    struct tr_snapshot *snap;
    struct half cl, up; /* client, upstream */
    bool peeking;       /* TLS listeners: waiting for the ClientHello (read with MSG_PEEK) */
    bool handshaking;   /* terminating TLS with the client */
    bool connecting, connected, closed;
    const struct tr_ir_rule *rule; /* chosen from the ClientHello, connected after the handshake */
    struct tr_timer timer;
    /* A mesh workload's connection to a TCP port of a Service (held): the upstream connection
     * leaves from its namespace. */
    struct tr_mesh_client *mesh;
};

static void l4_pump(struct l4c *p);

static void l4_free(struct tr_loop *loop, void *data)
{
    struct l4c *p = data;
    tr_buf_dispose(&p->cl.buf);
    tr_buf_dispose(&p->up.buf);
    tr_mesh_client_put(p->mesh);
    free(p);
}

/* Ends p: at once, or (linger) with the client's side closed as tr_conn_linger does, when torii
 * cuts a stream whose client is still there. */
static void l4_finish(struct l4c *p, bool linger)
{
    if (p->closed)
        return;
    p->closed = true;
    tr_timer_stop(p->w->loop, &p->timer);
    tr_loop_del(p->w->loop, &p->cl.io);
    tr_tls_free(p->cl.ssl);
    if (linger)
        tr_conn_linger(p->w, p->cl.io.fd, TR_CONN_L4);
    else
        close(p->cl.io.fd);
    tr_metrics_add(&tr_metrics.conns_active, -1);
    if (p->up.io.fd >= 0) {
        tr_loop_del(p->w->loop, &p->up.io);
        close(p->up.io.fd);
        tr_metrics_add(&tr_metrics.upstream_active, -1);
    }
    tr_snapshot_release(p->snap);
    p->snap = NULL;
    tr_conn_unlink(p->w, &p->link);
    tr_loop_defer(p->w->loop, l4_free, p);
}

static void l4_close(struct l4c *p)
{
    l4_finish(p, false);
}

static void l4_close_link(struct conn_link *l)
{
    l4_close((struct l4c *)((char *)l - offsetof(struct l4c, link)));
}

/* A TCP or TLS stream has no message boundary to stop at: draining leaves it alone, and it is
 * cut only when the grace period ends. */
static void l4_drain_link(struct conn_link *l)
{
    struct l4c *p = (struct l4c *)((char *)l - offsetof(struct l4c, link));
    if (p->w->drain == TR_DRAIN_CUT)
        l4_finish(p, true);
}

static const struct conn_ops l4_ops = {TR_CONN_L4, l4_close_link, l4_drain_link};

static void on_timeout(struct tr_loop *loop, struct tr_timer *t)
{
    l4_close(t->data);
}

static void on_up(struct tr_loop *loop, struct tr_io *io, uint32_t events);

/* The rule that serves this connection: a TCP listener's first rule (routes in precedence
 * order), or for passthrough the rule of the most specific TLS listener and route hostname that
 * match the server name. */
static const struct tr_ir_rule *choose(struct l4c *p, const char *sni, size_t sni_len, size_t *listener)
{
    const struct tr_ir_port *port = tr_snapshot_port(p->snap, p->laddr, p->lport, false);
    if (!port)
        return NULL;
    const struct tr_ir_rule *best = NULL;
    unsigned best_score = 0;
    for (size_t i = 0; i < port->nlisteners; i++) {
        const struct tr_ir_listener *l = port->listeners[i];
        if (l->proto == TR_PROTO_TCP && !p->peeking && l->nrules)
            return &l->rules[0];
        if (l->proto != TR_PROTO_TLS || !sni)
            continue;
        unsigned ls = tr_host_score(l->hostname, sni, sni_len);
        if (!ls)
            continue;
        for (size_t r = 0; r < l->nrules; r++) {
            const struct tr_ir_rule *rule = &l->rules[r];
            for (const char **h = rule->hostnames; h && *h; h++) {
                /* The listener's specificity first, then the route hostname's. */
                unsigned sc = ls * 1024 + tr_host_score(*h, sni, sni_len);
                if (tr_host_score(*h, sni, sni_len) && sc > best_score) {
                    best_score = sc;
                    best = rule;
                    *listener = i;
                }
            }
            if ((!rule->hostnames || !rule->hostnames[0]) && ls * 1024 > best_score) {
                best_score = ls * 1024;
                best = rule;
                *listener = i;
            }
        }
    }
    return best;
}

static bool l4_connect(struct l4c *p, const struct tr_ir_rule *r)
{
    const struct tr_ir_backend *b = r ? tr_lb_backend(p->w, r) : NULL;
    const struct tr_ir_endpoint *ep = b && !b->invalid ? tr_lb_endpoint(p->w, b) : NULL;
    if (!ep)
        return false;
    struct sockaddr_storage ss;
    unsigned sl;
    if (tr_sockaddr(ep->addr, ep->port, &ss, &sl) != 0)
        return false;
    int fd = p->mesh ? tr_netns_socket(p->mesh->nsfd, ss.ss_family, TR_NETNS_MARK)
                     : socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&ss, sl) < 0 && errno != EINPROGRESS) {
        close(fd);
        return false;
    }
    p->up.io = (struct tr_io){.fd = fd, .cb = on_up, .data = p};
    p->connecting = true;
    tr_loop_add(p->w->loop, &p->up.io, EPOLLIN | EPOLLOUT | EPOLLRDHUP);
    tr_metrics_add(&tr_metrics.upstream_connects, 1);
    tr_metrics_add(&tr_metrics.upstream_active, 1);
    tr_timer_start(p->w->loop, &p->timer, CONNECT_TIMEOUT_MS);
    return true;
}

/* Reads what side h has (up to the cap); returns false on a hard error. */
static bool fill(struct half *h)
{
    while (!h->eof && h->buf.len - h->off < TR_WORKER_BUF_HIGH) {
        if (h->off && h->off == h->buf.len) {
            h->buf.len = 0;
            h->off = 0;
        }
        char tmp[16384];
        ssize_t r = tr_sock_read(h->io.fd, h->ssl, tmp, sizeof(tmp));
        if (r > 0) {
            tr_buf_append(&h->buf, tmp, (size_t)r);
            continue;
        }
        if (r == 0) {
            h->eof = true;
            break;
        }
        if (r == TR_SOCK_AGAIN)
            break;
        return false;
    }
    return true;
}

/* Writes from's pending bytes to to's socket; returns false on a hard error. */
static bool drain(struct half *from, struct half *to)
{
    if (to->writable && from->off < from->buf.len &&
        tr_sock_write_buf(to->io.fd, to->ssl, &from->buf, &from->off, &to->writable, NULL) < 0)
        return false;
    if (from->off == from->buf.len) {
        from->buf.len = 0;
        from->off = 0;
        if (from->eof && !from->shut) {
            if (to->ssl)
                SSL_shutdown(to->ssl); /* close_notify, then the TCP half-close */
            shutdown(to->io.fd, SHUT_WR); /* half-close: pass the EOF on */
            from->shut = true;
        }
    }
    return true;
}

/* Reads the ClientHello without taking it off the socket (MSG_PEEK): passthrough forwards it
 * as it is, termination hands it to OpenSSL. Returns false when the connection must close. */
static bool peek_hello(struct l4c *p)
{
    unsigned char hello[HELLO_MAX];
    ssize_t n = recv(p->cl.io.fd, hello, sizeof(hello), MSG_PEEK);
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    if (n == 0)
        return false;
    const char *name;
    size_t nlen;
    int r = tr_sni_parse(hello, (size_t)n, &name, &nlen);
    if (r == 0 && (size_t)n < sizeof(hello))
        return true; /* more of the hello is on its way */
    if (r <= 0)
        return false; /* not TLS */
    char sni[256];
    if (!name || nlen >= sizeof(sni))
        return false; /* routing needs a server name */
    for (size_t i = 0; i < nlen; i++)
        sni[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
    sni[nlen] = '\0';
    size_t li = 0;
    const struct tr_ir_rule *rule = choose(p, sni, nlen, &li);
    if (!rule)
        return false;
    p->peeking = false;
    const struct tr_ir_port *port = tr_snapshot_port(p->snap, p->laddr, p->lport, false);
    if (!port->listeners[li]->tls_passthrough) {
        SSL_CTX *ctx = tr_snapshot_tls(p->snap, port, li);
        p->cl.ssl = ctx ? SSL_new(ctx) : NULL;
        if (!p->cl.ssl)
            return false;
        SSL_set_fd(p->cl.ssl, p->cl.io.fd);
        SSL_set_accept_state(p->cl.ssl);
        p->handshaking = true;
        p->rule = rule;
        return true;
    }
    return l4_connect(p, rule);
}

static void l4_pump(struct l4c *p)
{
    if (p->closed)
        return;
    if (p->peeking) {
        if (!peek_hello(p))
            l4_close(p);
        if (p->closed || p->peeking || !p->handshaking)
            return;
    }
    if (p->handshaking) {
        ERR_clear_error();
        int r = SSL_do_handshake(p->cl.ssl);
        if (r != 1) {
            int e = SSL_get_error(p->cl.ssl, r);
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
                l4_close(p);
            return;
        }
        p->handshaking = false;
        if (!l4_connect(p, p->rule))
            l4_close(p);
        return;
    }
    if (!fill(&p->cl)) {
        l4_close(p);
        return;
    }
    if (!p->connected)
        return;
    bool again;
    do {
        again = false;
        size_t before_c = p->cl.buf.len - p->cl.off, before_u = p->up.buf.len - p->up.off;
        if (!fill(&p->cl) || !fill(&p->up) || !drain(&p->cl, &p->up) || !drain(&p->up, &p->cl)) {
            l4_close(p);
            return;
        }
        /* A buffer that was full and drained may have left bytes in the kernel: read again. */
        again = (before_c >= TR_WORKER_BUF_HIGH && p->cl.buf.len - p->cl.off < before_c) ||
                (before_u >= TR_WORKER_BUF_HIGH && p->up.buf.len - p->up.off < before_u);
    } while (again && !p->closed);
    if (p->cl.shut && p->up.shut) {
        l4_close(p);
        return;
    }
    tr_timer_start(p->w->loop, &p->timer, IDLE_TIMEOUT_MS);
}

static void on_client(struct tr_loop *loop, struct tr_io *io, uint32_t events)
{
    struct l4c *p = io->data;
    if (events & EPOLLOUT)
        p->cl.writable = true;
    if (events & EPOLLERR) {
        l4_close(p);
        return;
    }
    l4_pump(p);
}

static void on_up(struct tr_loop *loop, struct tr_io *io, uint32_t events)
{
    struct l4c *p = io->data;
    if (p->connecting && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        int err = 0;
        socklen_t el = sizeof(err);
        getsockopt(io->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err) {
            tr_log_debug("tcp upstream: %s", strerror(err));
            tr_metrics_add(&tr_metrics.upstream_failures, 1);
            l4_close(p);
            return;
        }
        p->connecting = false;
        p->connected = true;
    }
    if (events & EPOLLOUT)
        p->up.writable = true;
    if ((events & EPOLLERR) && !p->connecting) {
        l4_close(p);
        return;
    }
    l4_pump(p);
}

static struct l4c *l4_new(struct worker *w, int fd, const char *laddr, uint16_t lport)
{
    struct l4c *p = tr_xcalloc(1, sizeof(*p));
    p->w = w;
    snprintf(p->laddr, sizeof(p->laddr), "%s", laddr);
    p->lport = lport;
    p->snap = w->snap ? tr_snapshot_ref(w->snap) : NULL;
    tr_buf_init(&p->cl.buf, 0);
    tr_buf_init(&p->up.buf, 0);
    p->cl.writable = true;
    p->up.io.fd = -1;
    p->cl.io = (struct tr_io){.fd = fd, .cb = on_client, .data = p};
    p->timer.cb = on_timeout;
    p->timer.data = p;
    tr_conn_link(w, &p->link, &l4_ops);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    tr_loop_add(w->loop, &p->cl.io, EPOLLIN | EPOLLOUT | EPOLLRDHUP);
    tr_metrics_add(&tr_metrics.conns_accepted, 1);
    tr_metrics_add(&tr_metrics.conns_active, 1);
    return p;
}

void tr_l4_accept(struct worker *w, struct wlisten *l, int fd, const struct sockaddr_storage *peer)
{
    struct l4c *p = l4_new(w, fd, l->addr, l->port);
    p->peeking = l->kind == TR_WL_TLS_PASSTHROUGH;
    if (p->peeking) {
        tr_timer_start(w->loop, &p->timer, HELLO_TIMEOUT_MS);
        return;
    }
    size_t li;
    if (!p->snap || !l4_connect(p, choose(p, NULL, 0, &li)))
        l4_close(p);
}

/* A mesh workload's connection to a port of a Service that is not HTTP: its bytes go to one of
 * the Service's endpoints as they are, from the workload's own namespace and address. port is
 * the worker's snapshot's, which the connection holds. */
static void l4_mesh_accept(struct worker *w, struct wlisten *l, int fd, const struct sockaddr_storage *peer,
                           const struct tr_ir_port *port)
{
    struct l4c *p = l4_new(w, fd, port->addr, port->port);
    p->mesh = tr_mesh_client_ref(l->client);
    if (!l4_connect(p, &port->mesh->pass))
        l4_close(p);
}

void tr_l4_worker_ops(struct tr_worker_ops *ops)
{
    ops->mesh_accept[0] = l4_mesh_accept;
    ops->accept[TR_WL_TCP] = tr_l4_accept;
    ops->accept[TR_WL_TLS_PASSTHROUGH] = tr_l4_accept;
    ops->udp_readable = tr_udp_on_readable;
    ops->udp_drain = tr_udp_drain;
    ops->udp_close = tr_udp_close_flows;
}
