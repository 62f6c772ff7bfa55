/* bench-backend: the upstream of the data-plane benchmarks (bench/run.sh dataplane).
 *
 * A small HTTP/1.1 server that answers every request with "200 OK" and a fixed body of
 * --size bytes, made to cost as little as possible so that the proxy in front of it is what is
 * measured: one epoll loop per thread (--threads, each with its own SO_REUSEPORT listener),
 * keep-alive, pipelined requests answered in one write, no allocation per request.
 *
 * It reads request heads up to the blank line, skips a Content-Length body, and honours
 * "Connection: close" and HTTP/1.0 without keep-alive. Chunked request bodies are not
 * supported (the connection is closed): the benchmarks send GETs.
 *
 *   bench-backend --listen 127.0.0.1:18100 --size 4096 [--threads 1]
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "addr.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define IN_CAP 16384
#define MAX_EVENTS 256

struct conn {
    int fd;
    size_t in_len;       /* bytes in in[] */
    uint64_t skip;       /* request body bytes still to discard */
    size_t out_left;     /* bytes of responses not yet written ... */
    size_t out_off;      /* ... starting this far into the current response */
    unsigned pending;    /* whole responses still to write after the current one */
    bool close_after;    /* close once everything is written */
    bool want_out;       /* registered for EPOLLOUT */
    char in[IN_CAP];
};

static struct sockaddr_in g_addr;
static char *g_resp;     /* the whole response: head + body */
static size_t g_resp_len;
static char *g_batch;    /* BATCH copies of g_resp, for pipelined requests */
#define BATCH 16

static void die(const char *what) {
    perror(what);
    exit(1);
}

static int listener(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket");
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&g_addr, sizeof g_addr) < 0)
        die("bind");
    if (listen(fd, 4096) < 0)
        die("listen");
    return fd;
}

static void conn_close(int ep, struct conn *c) {
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c);
}

/* Case-insensitive: does the head [p, end) hold a header line "name: ...value..."? Returns the
 * start of the value, or NULL. */
static const char *header(const char *p, const char *end, const char *name) {
    size_t n = strlen(name);
    for (;;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            return NULL;
        p = nl + 1;
        if ((size_t)(end - p) > n && p[n] == ':' && strncasecmp(p, name, n) == 0) {
            p += n + 1;
            while (p < end && (*p == ' ' || *p == '\t'))
                p++;
            return p;
        }
    }
}

static bool value_has(const char *v, const char *end, const char *token) {
    const char *nl = memchr(v, '\r', (size_t)(end - v));
    size_t len = nl ? (size_t)(nl - v) : (size_t)(end - v), n = strlen(token);
    for (size_t i = 0; i + n <= len; i++)
        if (strncasecmp(v + i, token, n) == 0)
            return true;
    return false;
}

/* Writes what is owed. Returns false when the connection is to be closed. */
static bool flush(int ep, struct conn *c) {
    while (c->out_left || c->pending) {
        if (!c->out_left) {
            unsigned k = c->pending < BATCH ? c->pending : BATCH;
            c->pending -= k;
            c->out_left = k * g_resp_len;
            c->out_off = 0;
        }
        ssize_t w = send(c->fd, g_batch + c->out_off, c->out_left, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                if (!c->want_out) {
                    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP, .data.ptr = c};
                    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                    c->want_out = true;
                }
                return true;
            }
            if (errno == EINTR)
                continue;
            return false;
        }
        c->out_off += (size_t)w;
        c->out_left -= (size_t)w;
    }
    if (c->want_out) {
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        c->want_out = false;
    }
    return !c->close_after;
}

/* Parses the complete requests in c->in and queues one response for each. Returns false when
 * the connection is to be closed (a bad or oversized request). */
static bool parse(struct conn *c) {
    size_t off = 0;
    while (off < c->in_len && !c->close_after) {
        if (c->skip) {
            size_t k = c->in_len - off < c->skip ? c->in_len - off : (size_t)c->skip;
            off += k;
            c->skip -= k;
            continue;
        }
        char *p = c->in + off, *end = c->in + c->in_len;
        char *e = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
        if (!e)
            break;
        e += 4;
        bool http10 = (size_t)(e - p) > 16 && memmem(p, (size_t)(e - p), " HTTP/1.0\r\n", 11) != NULL;
        const char *v = header(p, e, "connection");
        if (v ? value_has(v, e, "close") : false)
            c->close_after = true;
        else if (http10 && !(v && value_has(v, e, "keep-alive")))
            c->close_after = true;
        if (header(p, e, "transfer-encoding"))
            return false;
        if ((v = header(p, e, "content-length")))
            c->skip = strtoull(v, NULL, 10);
        c->pending++;
        off = (size_t)(e - c->in);
    }
    if (off) {
        memmove(c->in, c->in + off, c->in_len - off);
        c->in_len -= off;
    }
    return c->in_len < IN_CAP; /* a head that does not fit: give up on the connection */
}

static void on_readable(int ep, struct conn *c) {
    for (;;) {
        size_t room = IN_CAP - c->in_len;
        ssize_t r = recv(c->fd, c->in + c->in_len, room, 0);
        if (r == 0) {
            conn_close(ep, c);
            return;
        }
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            conn_close(ep, c);
            return;
        }
        c->in_len += (size_t)r;
        if (!parse(c)) {
            conn_close(ep, c);
            return;
        }
        if ((size_t)r < room)
            break; /* a short read: the socket is drained */
    }
    if (!flush(ep, c))
        conn_close(ep, c);
}

static void *loop(void *arg) {
    (void)arg;
    int lfd = listener();
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        die("epoll_create1");
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    struct epoll_event evs[MAX_EVENTS];
    for (;;) {
        int n = epoll_wait(ep, evs, MAX_EVENTS, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (!c) {
                for (;;) {
                    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0)
                        break;
                    int one = 1;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct conn *nc = malloc(sizeof *nc);
                    if (!nc) {
                        close(fd);
                        continue;
                    }
                    memset(nc, 0, offsetof(struct conn, in));
                    nc->fd = fd;
                    struct epoll_event cev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = nc};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
                }
                continue;
            }
            if (evs[i].events & EPOLLIN)
                on_readable(ep, c);
            else if (evs[i].events & EPOLLOUT) {
                if (!flush(ep, c))
                    conn_close(ep, c);
            } else if (evs[i].events & (EPOLLERR | EPOLLHUP | EPOLLRDHUP))
                conn_close(ep, c);
        }
    }
    return NULL;
}

static void usage(void) {
    fprintf(stderr, "usage: bench-backend --listen ADDR:PORT [--size BYTES] [--threads N]\n"
                    "  answers every HTTP/1.1 request with 200 and a body of BYTES (default 0)\n");
    exit(2);
}

int main(int argc, char **argv) {
    const char *listen_at = NULL;
    size_t size = 0;
    int threads = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--listen") && i + 1 < argc)
            listen_at = argv[++i];
        else if (!strcmp(argv[i], "--size") && i + 1 < argc)
            size = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else
            usage();
    }
    if (!listen_at || threads < 1 || size > (1u << 24))
        usage();
    if (!bench_addr(listen_at, &g_addr))
        usage();
    signal(SIGPIPE, SIG_IGN);

    char head[128];
    int hl = snprintf(head, sizeof head,
                      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n\r\n", size);
    g_resp_len = (size_t)hl + size;
    g_resp = malloc(g_resp_len);
    g_batch = malloc(g_resp_len * BATCH);
    if (!g_resp || !g_batch)
        die("malloc");
    memcpy(g_resp, head, (size_t)hl);
    for (size_t i = 0; i < size; i++)
        g_resp[hl + i] = (char)('a' + i % 26);
    for (int i = 0; i < BATCH; i++)
        memcpy(g_batch + (size_t)i * g_resp_len, g_resp, g_resp_len);

    pthread_t t;
    for (int i = 1; i < threads; i++)
        if (pthread_create(&t, NULL, loop, NULL))
            die("pthread_create");
    loop(NULL);
    return 0;
}
