/* Listeners and connections. A connection owns a socket, an optional TLS session and two
 * buffers; the protocol on top (HTTP/1.1, h2, WebSocket, TCP echo) only sees bytes in `in` and
 * calls conn_write. Closing is graceful by default: flush, shut the write side, then read and
 * drop what the peer still sends for a moment, so that a reply followed by close is not turned
 * into a reset by unread input. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include "echo.h"

#define READ_CHUNK 16384
#define OUT_HIGH (4u << 20) /* stop reading while this much output waits */
#define LINGER_MS 1000
#define IN_MAX (2u << 20) /* unconsumed input a protocol may leave before we give up */

static void conn_io(struct watch *w, uint32_t events);

/* Only epoll knows these objects otherwise; the lists keep them reachable for leak checkers. */
static struct listener *listeners;
static struct conn *conns;

static void format_addr(const struct sockaddr *sa, char *out, size_t n)
{
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const void *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        port = ntohs(in->sin_port);
        snprintf(out, n, "%s:%d", host, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const void *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        port = ntohs(in6->sin6_port);
        snprintf(out, n, "[%s]:%d", host, port);
    } else {
        snprintf(out, n, "unknown");
    }
}

static int resolve(const char *addr, const char *port, int socktype, struct addrinfo **res)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = socktype,
                             .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV};
    int rc = getaddrinfo(addr && *addr ? addr : NULL, port, &hints, res);
    if (rc) {
        fprintf(stderr, "torii-echo: bad address %s port %s: %s\n", addr, port, gai_strerror(rc));
        return -1;
    }
    return 0;
}

static int bound_port_of(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len))
        return -1;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

static int open_socket(const char *addr, const char *port, int socktype, int *bound_port)
{
    struct addrinfo *res;
    if (resolve(addr, port, socktype, &res))
        return -1;
    int fd = socket(res->ai_family, socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) ||
        (socktype == SOCK_STREAM && listen(fd, 1024))) {
        fprintf(stderr, "torii-echo: cannot listen on %s port %s: %s\n", addr, port,
                strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    *bound_port = bound_port_of(fd);
    return fd;
}

int udp_open(const char *addr, const char *port, int *bound_port)
{
    return open_socket(addr, port, SOCK_DGRAM, bound_port);
}

static void start_proto(struct conn *c)
{
    switch (c->l->kind) {
    case L_HTTP: http1_start(c, H2C_NO); break;
    case L_H2C: http1_start(c, H2C_REQUIRED); break;
    case L_HTTP_ANY: http1_start(c, H2C_ALLOWED); break;
    case L_HTTPS:
        if (!strcmp(c->tls->alpn, "h2"))
            h2_start(c, false, NULL, NULL);
        else
            http1_start(c, H2C_NO);
        break;
    case L_GRPC:
    case L_GRPCS: h2_start(c, true, NULL, NULL); break;
    case L_TCP:
    case L_TCPTLS: tcp_echo_start(c); break;
    case L_ISTIO_TCP: istio_tcp_start(c); break;
    }
}

static void on_linger(struct timer *t)
{
    struct conn *c = (struct conn *)((char *)t - offsetof(struct conn, linger));
    conn_abort(c, false);
}

static void on_kick(struct timer *t)
{
    struct conn *c = (struct conn *)((char *)t - offsetof(struct conn, kick));
    if (!c->dead)
        conn_io(&c->w, EPOLLIN);
}

static void on_accept(struct watch *w, uint32_t events)
{
    struct listener *l = (struct listener *)w;
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        int fd = accept4(w->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                perror("torii-echo: accept");
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct conn *c = xcalloc(1, sizeof *c);
        c->l = l;
        format_addr((struct sockaddr *)&ss, c->remote, sizeof c->remote);
        timer_init(&c->linger, on_linger);
        timer_init(&c->kick, on_kick);
        if (watch_add(&c->w, fd, EPOLLIN, conn_io)) {
            close(fd);
            free(c);
            continue;
        }
        c->next = conns;
        if (conns)
            conns->prev = c;
        conns = c;
        if (l->ctx) {
            c->ssl = SSL_new(l->ctx);
            SSL_set_fd(c->ssl, fd);
            SSL_set_accept_state(c->ssl);
            c->handshaking = true;
        } else {
            start_proto(c);
        }
    }
}

int listener_open(struct listener *l, const char *addr, const char *port, enum lkind kind,
                  SSL_CTX *ctx, int *bound_port)
{
    int fd = open_socket(addr, port, SOCK_STREAM, bound_port);
    if (fd < 0)
        return -1;
    l->kind = kind;
    l->ctx = ctx;
    l->port = *bound_port;
    l->next = listeners;
    listeners = l;
    return watch_add(&l->w, fd, EPOLLIN, on_accept);
}

static void update_events(struct conn *c)
{
    if (c->dead)
        return;
    uint32_t ev = 0;
    if (c->lingering || (!c->peer_eof && !c->read_paused && !c->bp_paused))
        ev |= EPOLLIN;
    if (c->out.len)
        ev |= EPOLLOUT;
    watch_mod(&c->w, ev);
}

static void conn_free(void *p)
{
    struct conn *c = p;
    if (c->prev)
        c->prev->next = c->next;
    else
        conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    buf_free(&c->in);
    buf_free(&c->out);
    tls_info_free(c->tls);
    free(c->tls);
    free(c);
}

void conn_abort(struct conn *c, bool rst)
{
    if (c->dead)
        return;
    c->dead = true;
    timer_stop(&c->linger);
    timer_stop(&c->kick);
    if (c->ops && c->ops->on_free)
        c->ops->on_free(c);
    c->ops = NULL;
    watch_del(&c->w);
    if (rst) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(c->w.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    if (c->ssl)
        SSL_free(c->ssl);
    c->ssl = NULL;
    close(c->w.fd);
    c->w.fd = -1;
    loop_defer_free(conn_free, c);
}

/* All output is out: say goodbye and drain the peer for a moment. */
static void start_linger(struct conn *c)
{
    if (c->ssl && !c->handshaking)
        SSL_shutdown(c->ssl); /* close_notify; we do not wait for the peer's */
    if (c->peer_eof) {
        conn_abort(c, false);
        return;
    }
    shutdown(c->w.fd, SHUT_WR);
    c->lingering = true;
    timer_start(&c->linger, LINGER_MS);
    update_events(c);
}

void conn_flush(struct conn *c)
{
    while (!c->dead && c->out.len) {
        ssize_t n;
        if (c->ssl) {
            ERR_clear_error();
            int r = SSL_write(c->ssl, c->out.p, (int)(c->out.len > (1u << 30) ? (1u << 30)
                                                                               : c->out.len));
            if (r <= 0) {
                int e = SSL_get_error(c->ssl, r);
                if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
                    break;
                conn_abort(c, false);
                return;
            }
            n = r;
        } else {
            n = send(c->w.fd, c->out.p, c->out.len, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                    break;
                conn_abort(c, false);
                return;
            }
        }
        buf_consume(&c->out, (size_t)n);
    }
    if (c->dead)
        return;
    if (c->bp_paused && c->out.len < OUT_HIGH / 2) {
        c->bp_paused = false;
        if (c->in.len)
            timer_start(&c->kick, 0);
    }
    if (!c->out.len) {
        if (c->closing && !c->lingering) {
            start_linger(c);
            return;
        }
        if (c->ops && c->ops->on_drain)
            c->ops->on_drain(c);
    }
    update_events(c);
}

void conn_write(struct conn *c, const void *data, size_t n)
{
    if (c->dead || c->closing)
        return;
    buf_add(&c->out, data, n);
    conn_flush(c);
}

void conn_close(struct conn *c)
{
    if (c->dead || c->closing)
        return;
    c->closing = true;
    conn_flush(c);
}

void conn_pause_read(struct conn *c)
{
    c->read_paused = true;
    update_events(c);
}

void conn_resume_read(struct conn *c)
{
    if (c->dead || !c->read_paused)
        return;
    c->read_paused = false;
    update_events(c);
    /* Bytes may already wait in `in` (pipelined requests) or inside OpenSSL, where epoll cannot
     * see them. */
    if (c->in.len || (c->ssl && SSL_pending(c->ssl)))
        timer_start(&c->kick, 0);
}

void conn_set_proto(struct conn *c, const struct proto_ops *ops, void *proto)
{
    c->ops = ops;
    c->proto = proto;
}

static bool handshake(struct conn *c)
{
    ERR_clear_error();
    int r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        c->handshaking = false;
        c->tls = xcalloc(1, sizeof *c->tls);
        tls_info_fill(c->ssl, c->tls);
        start_proto(c);
        return !c->dead;
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        watch_mod(&c->w, e == SSL_ERROR_WANT_WRITE ? EPOLLIN | EPOLLOUT : EPOLLIN);
        return false;
    }
    conn_abort(c, false);
    return false;
}

/* Reads what is available; returns false when the connection died. */
static bool read_some(struct conn *c)
{
    for (int rounds = 0; rounds < 64; rounds++) {
        buf_reserve(&c->in, READ_CHUNK);
        ssize_t n;
        if (c->ssl) {
            ERR_clear_error();
            int r = SSL_read(c->ssl, c->in.p + c->in.len, READ_CHUNK);
            if (r <= 0) {
                int e = SSL_get_error(c->ssl, r);
                if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                    return true;
                if (e == SSL_ERROR_ZERO_RETURN) {
                    c->peer_eof = true;
                    return true;
                }
                conn_abort(c, false);
                return false;
            }
            n = r;
        } else {
            n = recv(c->w.fd, c->in.p + c->in.len, READ_CHUNK, 0);
            if (n == 0) {
                c->peer_eof = true;
                return true;
            }
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                    return true;
                conn_abort(c, false);
                return false;
            }
        }
        c->in.len += (size_t)n;
        c->in.p[c->in.len] = 0;
        if (c->lingering)
            c->in.len = 0; /* draining: nothing more is processed */
        else if (c->in.len >= IN_MAX)
            return true; /* let the protocol consume first */
    }
    return true;
}

static void conn_io(struct watch *w, uint32_t events)
{
    struct conn *c = (struct conn *)w;
    if (c->dead)
        return;
    if (events & (EPOLLERR | EPOLLHUP)) {
        /* A reset, or both directions closed: nobody is left to answer. */
        conn_abort(c, false);
        return;
    }
    if (c->handshaking) {
        if (!handshake(c))
            return;
        events |= EPOLLIN; /* the first request may already sit inside OpenSSL */
    }
    if ((events & EPOLLOUT) && c->out.len) {
        conn_flush(c);
        if (c->dead)
            return;
    }
    if (c->lingering) {
        if ((events & EPOLLIN) && read_some(c) && c->peer_eof)
            conn_abort(c, false);
        return;
    }
    if (!(events & EPOLLIN))
        return;
    bool blocked = c->read_paused || c->bp_paused;
    if (!blocked && !c->peer_eof && !read_some(c))
        return;
    if (!blocked && c->in.len && c->ops && c->ops->on_data) {
        c->ops->on_data(c);
        if (c->dead)
            return;
    }
    if (c->peer_eof && !c->eof_seen) {
        c->eof_seen = true;
        if (c->ops && c->ops->on_eof)
            c->ops->on_eof(c);
        else
            conn_close(c);
        if (c->dead)
            return;
    }
    if (c->in.len >= IN_MAX + READ_CHUNK) {
        conn_abort(c, false); /* the protocol cannot make progress: a flood, not a client */
        return;
    }
    if (c->out.len > OUT_HIGH)
        c->bp_paused = true;
    update_events(c);
}
