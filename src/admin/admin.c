#include "admin/admin.h"
#include "base/clock.h"
#include "base/metrics.h"
#include "base/arena.h"
#include "base/buf.h"
#include "base/node.h"
#include "ir/ir.h"
#include "snapshot/snapshot.h"
#include "base/log.h"
#include "base/mem.h"
#include "net/listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_REQUEST 8192
#define READ_TIMEOUT_MS 2000  /* a request must be in this long after its connection came */
#define WRITE_TIMEOUT_MS 2000 /* an answer the client does not read is dropped after this */
#define MAX_CLIENTS 32        /* connections whose request is still arriving */
#define STREAM_PIECE 65536    /* /status goes out in pieces of about this many bytes */

struct client;

struct tr_admin {
    int fd;
    int probe_fd; /* --probe-addr, or -1 */
    int stop_pipe[2];
    pthread_t thread;
    pthread_mutex_t lock;
    struct tr_published *cur; /* guarded by lock */
    bool draining;            /* atomic: /readyz says 503 for good */
    struct client *clients[MAX_CLIENTS]; /* the admin thread's */
    size_t nclients;
};

struct tr_published *tr_published_ref(struct tr_published *p)
{
    __atomic_add_fetch(&p->refs, 1, __ATOMIC_RELAXED);
    return p;
}

void tr_published_release(struct tr_published *p)
{
    if (!p || __atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    free(p->rejected);
    tr_snapshot_release(p->snap);
    for (size_t i = 0; i < p->nitems; i++)
        p->item_free(&p->items[i]);
    free(p->items);
    free(p);
}

/* "IPV4:PORT" or "[IPV6]:PORT" into *ss. Returns 0, or -1 when addr is not that form. */
static int parse_addr(const char *addr, struct sockaddr_storage *ss, unsigned *len)
{
    const char *colon = strrchr(addr, ':');
    if (!colon)
        return -1;
    const char *h = addr, *he = colon;
    if (*h == '[') {
        if (he - h < 2 || he[-1] != ']')
            return -1;
        h++;
        he--;
    }
    char host[64];
    size_t hl = (size_t)(he - h);
    if (hl >= sizeof(host))
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    if (*addr != '[' && strchr(host, ':'))
        return -1; /* an IPv6 address takes brackets: "[::]:9902" */
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end || port < 0 || port > 65535)
        return -1;
    return tr_sockaddr(host, (uint16_t)port, ss, len);
}

/* Sends all of p, or gives up at deadline (a client that does not read). Returns false when it
 * gave up or the connection failed. */
static bool send_all(int fd, const char *p, size_t len, uint64_t deadline)
{
    while (len) {
        ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            uint64_t now = tr_clock_ms();
            if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && now < deadline) {
                struct pollfd pfd = {fd, POLLOUT, 0};
                if (poll(&pfd, 1, (int)(deadline - now)) > 0)
                    continue;
            }
            return false;
        }
        p += w;
        len -= (size_t)w;
    }
    return true;
}

/* A connection whose request is still arriving. */
struct client {
    int fd;
    bool probe;        /* came in on the probe listener */
    uint64_t deadline; /* the request must be in by then */
    size_t len;
    char req[MAX_REQUEST + 1];
};

static void respond(const struct client *cl, int code, const char *reason, const char *type, const char *body,
                    size_t len, bool head)
{
    char hdr[256];
    int n = snprintf(hdr, sizeof(hdr),
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", code,
                     reason, type, len);
    uint64_t deadline = tr_clock_ms() + WRITE_TIMEOUT_MS;
    send_all(cl->fd, hdr, (size_t)n, deadline);
    if (!head)
        send_all(cl->fd, body, len, deadline);
}

/* /status: every object and the rejected manifests, sent as they are rendered, in pieces of
 * about STREAM_PIECE bytes, the body ended by the connection's close. At 10,000 routes the JSON
 * is tens of MiB: made whole (and kept between publishes, as it once was) it cost more memory
 * than the routes themselves. A client gets WRITE_TIMEOUT_MS per piece to take it. */
static void respond_status(const struct client *cl, const struct tr_published *p, bool head)
{
    static const char hdr[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n";
    if (!send_all(cl->fd, hdr, sizeof(hdr) - 1, tr_clock_ms() + WRITE_TIMEOUT_MS) || head)
        return;
    struct tr_buf b;
    tr_buf_init(&b, 0);
    tr_buf_reserve(&b, STREAM_PIECE + 4096);
    tr_buf_puts(&b, "{\"items\":[");
    bool ok = true;
    for (size_t i = 0; ok && i < p->nitems; i++) {
        if (i)
            tr_buf_putc(&b, ',');
        p->render(&p->items[i], &b);
        if (b.len >= STREAM_PIECE) {
            ok = send_all(cl->fd, b.data, b.len, tr_clock_ms() + WRITE_TIMEOUT_MS);
            tr_buf_reset(&b);
        }
    }
    if (ok) {
        tr_buf_puts(&b, "],\"rejected\":");
        tr_buf_puts(&b, p->rejected ? p->rejected : "[]");
        tr_buf_putc(&b, '}');
        send_all(cl->fd, b.data, b.len, tr_clock_ms() + WRITE_TIMEOUT_MS);
    }
    tr_buf_dispose(&b);
}

static void respond_text(const struct client *cl, int code, const char *reason, const char *text, bool head)
{
    respond(cl, code, reason, "text/plain; charset=utf-8", text, strlen(text), head);
}

/* Answers the request cl holds; the connection closes after it (admin traffic is light). The
 * probe listener, reachable from outside the host, serves health, readiness and metrics only:
 * /status and /config stay on the loopback admin address. */
static void serve(struct tr_admin *ad, struct client *cl)
{
    char method[8], target[1024];
    if (sscanf(cl->req, "%7s %1023s", method, target) != 2) {
        respond_text(cl, 400, "Bad Request", "bad request\n", false);
        return;
    }
    bool head = strcmp(method, "HEAD") == 0;
    if (strcmp(method, "GET") != 0 && !head) {
        respond_text(cl, 405, "Method Not Allowed", "only GET\n", false);
        return;
    }
    char *q = strchr(target, '?');
    if (q)
        *q = '\0';
    /* A reference, not the lock, keeps what is served alive: a publish need not wait for a
     * client reading /status. */
    pthread_mutex_lock(&ad->lock);
    struct tr_published *p = ad->cur ? tr_published_ref(ad->cur) : NULL;
    pthread_mutex_unlock(&ad->lock);
    if (strcmp(target, "/healthz") == 0) {
        respond_text(cl, 200, "OK", "ok\n", head);
    } else if (strcmp(target, "/readyz") == 0) {
        if (__atomic_load_n(&ad->draining, __ATOMIC_ACQUIRE))
            respond_text(cl, 503, "Service Unavailable", "draining\n", head);
        else if (p && p->ready)
            respond_text(cl, 200, "OK", "ready\n", head);
        else
            respond_text(cl, 503, "Service Unavailable", "not ready\n", head);
    } else if (strcmp(target, "/metrics") == 0) {
        struct tr_buf b;
        tr_buf_init(&b, 0);
        tr_metrics_render(&b);
        respond(cl, 200, "OK", "text/plain; version=0.0.4", b.data, b.len, head);
        tr_buf_dispose(&b);
    } else if (cl->probe) {
        respond_text(cl, 404, "Not Found", "not found: try /metrics, /healthz, /readyz\n", head);
    } else if (!p) {
        respond_text(cl, 503, "Service Unavailable", "no configuration loaded yet\n", head);
    } else if (strcmp(target, "/status") == 0 || strcmp(target, "/status/") == 0) {
        respond_status(cl, p, head);
    } else if (strncmp(target, "/status/", 8) == 0) {
        const char *k = target + 8;
        size_t i = p->find(p, k, strlen(k));
        if (i) {
            struct tr_buf b;
            tr_buf_init(&b, 0);
            p->render(&p->items[i - 1], &b);
            respond(cl, 200, "OK", "application/json", b.data, b.len, head);
            tr_buf_dispose(&b);
        } else {
            respond_text(cl, 404, "Not Found", "no such object\n", head);
        }
    } else if (strcmp(target, "/config") == 0) {
        struct tr_arena *a = tr_arena_new(64 * 1024);
        struct tr_buf b;
        tr_buf_init(&b, 0);
        if (p->snap)
            tr_node_emit_json(&b, tr_ir_render(a, tr_snapshot_ir(p->snap)), 0);
        else
            tr_buf_puts(&b, "{}");
        respond(cl, 200, "OK", "application/json", b.data, b.len, head);
        tr_buf_dispose(&b);
        tr_arena_free(a);
    } else {
        respond_text(cl, 404, "Not Found", "not found: try /status, /status/KIND/NS/NAME, /config, /metrics, /healthz, /readyz\n",
                     head);
    }
    tr_published_release(p);
}

static void client_close(struct tr_admin *ad, size_t i)
{
    close(ad->clients[i]->fd);
    free(ad->clients[i]);
    ad->clients[i] = ad->clients[--ad->nclients];
}

/* Reads what cl has sent. Returns true when cl is done with (answered, or gone). */
static bool client_read(struct tr_admin *ad, struct client *cl)
{
    for (;;) {
        ssize_t r = recv(cl->fd, cl->req + cl->len, MAX_REQUEST - cl->len, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return false;
        if (r <= 0)
            return true;
        cl->len += (size_t)r;
        cl->req[cl->len] = '\0';
        if (strstr(cl->req, "\r\n\r\n") || strstr(cl->req, "\n\n")) {
            serve(ad, cl);
            return true;
        }
        if (cl->len == MAX_REQUEST) {
            respond_text(cl, 431, "Request Header Fields Too Large", "request too large\n", false);
            return true;
        }
    }
}

#define ACCEPT_PAUSE_MS 100
static struct tr_log_limit accept_warnings;

/* Takes a connection from listener fd. Returns false when accepting must pause. */
static bool accept_one(struct tr_admin *ad, int fd, bool probe)
{
    int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (c < 0) {
        int err = errno;
        if (tr_listen_accept_error(err) != TR_ACCEPT_PAUSE)
            return true;
        uint64_t more = 0;
        if (tr_log_limit_pass(&accept_warnings, 1000, &more)) {
            if (more)
                tr_log_warn("admin: accept: %s; not accepting for %d ms (%llu more failed accepts since "
                            "the last warning)", strerror(err), ACCEPT_PAUSE_MS, (unsigned long long)more);
            else
                tr_log_warn("admin: accept: %s; not accepting for %d ms", strerror(err), ACCEPT_PAUSE_MS);
        }
        return false;
    }
    if (ad->nclients == MAX_CLIENTS) {
        /* Full: the oldest request still arriving gives way. A few slow or idle connections
         * must not keep the kubelet's probe waiting. */
        size_t oldest = 0;
        for (size_t i = 1; i < ad->nclients; i++)
            if (ad->clients[i]->deadline < ad->clients[oldest]->deadline)
                oldest = i;
        client_close(ad, oldest);
    }
    struct client *cl = tr_xmalloc(sizeof(*cl));
    cl->fd = c;
    cl->probe = probe;
    cl->deadline = tr_clock_ms() + READ_TIMEOUT_MS;
    cl->len = 0;
    cl->req[0] = '\0';
    ad->clients[ad->nclients++] = cl;
    return true;
}

/* One thread serves both listeners; the requests of several connections arrive side by side,
 * and each is answered as soon as it is complete. */
static void *loop(void *arg)
{
    struct tr_admin *ad = arg;
    uint64_t paused_until = 0;
    for (;;) {
        struct pollfd pfds[3 + MAX_CLIENTS];
        size_t n = 0;
        uint64_t now = tr_clock_ms();
        pfds[n++] = (struct pollfd){ad->stop_pipe[0], POLLIN, 0};
        bool accepting = now >= paused_until;
        pfds[n++] = (struct pollfd){accepting ? ad->fd : -1, POLLIN, 0};
        pfds[n++] = (struct pollfd){accepting ? ad->probe_fd : -1, POLLIN, 0};
        uint64_t next = accepting ? UINT64_MAX : paused_until;
        for (size_t i = 0; i < ad->nclients; i++) {
            pfds[n++] = (struct pollfd){ad->clients[i]->fd, POLLIN, 0};
            if (ad->clients[i]->deadline < next)
                next = ad->clients[i]->deadline;
        }
        int timeout = next == UINT64_MAX ? -1 : next <= now ? 0 : (int)(next - now);
        if (poll(pfds, n, timeout) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (pfds[0].revents)
            break;
        /* Clients first, from the last (closing one moves the last into its place), then the
         * listeners: a new connection never takes the slot of one that is ready. */
        now = tr_clock_ms();
        for (size_t i = ad->nclients; i-- > 0;) {
            struct client *cl = ad->clients[i];
            if (pfds[3 + i].revents ? client_read(ad, cl) : now >= cl->deadline)
                client_close(ad, i);
        }
        for (int k = 1; k <= 2; k++)
            if ((pfds[k].revents & POLLIN) && !accept_one(ad, pfds[k].fd, k == 2))
                paused_until = tr_clock_ms() + ACCEPT_PAUSE_MS;
    }
    while (ad->nclients)
        client_close(ad, ad->nclients - 1);
    return NULL;
}

/* A listening socket on addr, or -1 with *err set (free it); what names the flag in errors. */
static int listen_on(const char *what, const char *addr, char **err)
{
    struct sockaddr_storage ss;
    unsigned len;
    char buf[256];
    if (parse_addr(addr, &ss, &len) != 0) {
        snprintf(buf, sizeof(buf), "%s address %s: want IPV4:PORT or [IPV6]:PORT", what, addr);
        *err = tr_xstrdup(buf);
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 || bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 128) != 0) {
        snprintf(buf, sizeof(buf), "%s address %s: %s", what, addr, strerror(errno));
        *err = tr_xstrdup(buf);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

struct tr_admin *tr_admin_start(const char *addr, const char *probe_addr, char **err)
{
    int fd = listen_on("admin", addr, err);
    if (fd < 0)
        return NULL;
    int probe_fd = -1;
    if (probe_addr && (probe_fd = listen_on("probe", probe_addr, err)) < 0) {
        close(fd);
        return NULL;
    }
    struct tr_admin *ad = tr_xcalloc(1, sizeof(*ad));
    ad->fd = fd;
    ad->probe_fd = probe_fd;
    if (pipe2(ad->stop_pipe, O_CLOEXEC) != 0)
        TR_BUG_ON(1);
    pthread_mutex_init(&ad->lock, NULL);
    pthread_create(&ad->thread, NULL, loop, ad);
    return ad;
}

void tr_admin_drain(struct tr_admin *ad)
{
    __atomic_store_n(&ad->draining, true, __ATOMIC_RELEASE);
}

void tr_admin_publish(struct tr_admin *ad, struct tr_published *p)
{
    pthread_mutex_lock(&ad->lock);
    struct tr_published *old = ad->cur;
    ad->cur = p;
    pthread_mutex_unlock(&ad->lock);
    tr_published_release(old);
}

void tr_admin_stop(struct tr_admin *ad)
{
    if (!ad)
        return;
    ssize_t w = write(ad->stop_pipe[1], "x", 1);
    (void)w;
    pthread_join(ad->thread, NULL);
    close(ad->fd);
    if (ad->probe_fd >= 0)
        close(ad->probe_fd);
    close(ad->stop_pipe[0]);
    close(ad->stop_pipe[1]);
    pthread_mutex_destroy(&ad->lock);
    tr_published_release(ad->cur);
    free(ad);
}
