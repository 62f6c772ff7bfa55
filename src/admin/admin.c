#include "admin/admin.h"
#include "admin/metrics.h"
#include "base/arena.h"
#include "base/buf.h"
#include "base/node.h"
#include "ir/ir.h"
#include "ir/snapshot.h"
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
#define READ_TIMEOUT_MS 2000

struct tr_admin {
    int fd;
    int stop_pipe[2];
    pthread_t thread;
    pthread_mutex_t lock;
    struct tr_published *cur; /* guarded by lock */
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
    free(p->all);
    free(p->rejected);
    tr_snapshot_release(p->snap);
    for (size_t i = 0; i < p->nitems; i++)
        p->item_free(&p->items[i]);
    free(p->items);
    tr_map_dispose(&p->objs);
    free(p);
}

/* /status: every object and the rejected manifests, joined once per publish on first request. */
static const char *published_all(struct tr_published *p)
{
    if (p->all)
        return p->all;
    struct tr_buf b;
    tr_buf_init(&b, 0);
    tr_buf_puts(&b, "{\"items\":[");
    for (size_t i = 0; i < p->nitems; i++) {
        if (i)
            tr_buf_putc(&b, ',');
        p->render(&p->items[i], &b);
    }
    tr_buf_puts(&b, "],\"rejected\":");
    tr_buf_puts(&b, p->rejected ? p->rejected : "[]");
    tr_buf_putc(&b, '}');
    p->all = tr_buf_steal(&b);
    return p->all;
}

static int parse_addr(const char *addr, struct sockaddr_in *sin)
{
    const char *colon = strrchr(addr, ':');
    if (!colon)
        return -1;
    char host[64];
    size_t hl = (size_t)(colon - addr);
    if (hl >= sizeof(host))
        return -1;
    memcpy(host, addr, hl);
    host[hl] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535)
        return -1;
    memset(sin, 0, sizeof(*sin));
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, host, &sin->sin_addr) == 1 ? 0 : -1;
}

static void send_all(int fd, const char *p, size_t len)
{
    while (len) {
        ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (errno == EAGAIN) {
                struct pollfd pfd = {fd, POLLOUT, 0};
                if (poll(&pfd, 1, READ_TIMEOUT_MS) > 0)
                    continue;
            }
            return;
        }
        p += w;
        len -= (size_t)w;
    }
}

static void respond(int fd, int code, const char *reason, const char *type, const char *body, size_t len, bool head)
{
    char hdr[256];
    int n = snprintf(hdr, sizeof(hdr),
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", code,
                     reason, type, len);
    send_all(fd, hdr, (size_t)n);
    if (!head)
        send_all(fd, body, len);
}

static void respond_text(int fd, int code, const char *reason, const char *text, bool head)
{
    respond(fd, code, reason, "text/plain; charset=utf-8", text, strlen(text), head);
}

/* Serves one request; the connection closes after it (admin traffic is light). */
static void serve(struct tr_admin *ad, int fd)
{
    char req[MAX_REQUEST + 1];
    size_t len = 0;
    for (;;) {
        struct pollfd pfd = {fd, POLLIN, 0};
        if (poll(&pfd, 1, READ_TIMEOUT_MS) <= 0)
            return;
        ssize_t r = recv(fd, req + len, MAX_REQUEST - len, 0);
        if (r <= 0)
            return;
        len += (size_t)r;
        req[len] = '\0';
        if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n"))
            break;
        if (len == MAX_REQUEST) {
            respond_text(fd, 431, "Request Header Fields Too Large", "request too large\n", false);
            return;
        }
    }
    char method[8], target[1024];
    if (sscanf(req, "%7s %1023s", method, target) != 2) {
        respond_text(fd, 400, "Bad Request", "bad request\n", false);
        return;
    }
    bool head = strcmp(method, "HEAD") == 0;
    if (strcmp(method, "GET") != 0 && !head) {
        respond_text(fd, 405, "Method Not Allowed", "only GET\n", false);
        return;
    }
    char *q = strchr(target, '?');
    if (q)
        *q = '\0';
    pthread_mutex_lock(&ad->lock);
    struct tr_published *p = ad->cur;
    if (strcmp(target, "/healthz") == 0) {
        respond_text(fd, 200, "OK", "ok\n", head);
    } else if (strcmp(target, "/readyz") == 0) {
        if (p && p->ready)
            respond_text(fd, 200, "OK", "ready\n", head);
        else
            respond_text(fd, 503, "Service Unavailable", "not ready\n", head);
    } else if (!p) {
        respond_text(fd, 503, "Service Unavailable", "no configuration loaded yet\n", head);
    } else if (strcmp(target, "/status") == 0 || strcmp(target, "/status/") == 0) {
        const char *all = published_all(p);
        respond(fd, 200, "OK", "application/json", all, strlen(all), head);
    } else if (strncmp(target, "/status/", 8) == 0) {
        const char *k = target + 8;
        size_t i = (size_t)(uintptr_t)tr_map_get(&p->objs, k, strlen(k));
        if (i) {
            struct tr_buf b;
            tr_buf_init(&b, 0);
            p->render(&p->items[i - 1], &b);
            respond(fd, 200, "OK", "application/json", b.data, b.len, head);
            tr_buf_dispose(&b);
        } else {
            respond_text(fd, 404, "Not Found", "no such object\n", head);
        }
    } else if (strcmp(target, "/metrics") == 0) {
        struct tr_buf b;
        tr_buf_init(&b, 0);
        tr_metrics_render(&b);
        respond(fd, 200, "OK", "text/plain; version=0.0.4", b.data, b.len, head);
        tr_buf_dispose(&b);
    } else if (strcmp(target, "/config") == 0) {
        struct tr_arena *a = tr_arena_new(64 * 1024);
        struct tr_buf b;
        tr_buf_init(&b, 0);
        if (p->snap)
            tr_node_emit_json(&b, tr_ir_render(a, tr_snapshot_ir(p->snap)), 0);
        else
            tr_buf_puts(&b, "{}");
        respond(fd, 200, "OK", "application/json", b.data, b.len, head);
        tr_buf_dispose(&b);
        tr_arena_free(a);
    } else {
        respond_text(fd, 404, "Not Found", "not found: try /status, /status/KIND/NS/NAME, /config, /metrics, /healthz, /readyz\n",
                     head);
    }
    pthread_mutex_unlock(&ad->lock);
}

#define ACCEPT_PAUSE_MS 100
static struct tr_log_limit accept_warnings;

static void *loop(void *arg)
{
    struct tr_admin *ad = arg;
    for (;;) {
        struct pollfd pfds[2] = {{ad->fd, POLLIN, 0}, {ad->stop_pipe[0], POLLIN, 0}};
        if (poll(pfds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (pfds[1].revents)
            break;
        if (!(pfds[0].revents & POLLIN))
            continue;
        int c = accept4(ad->fd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0) {
            int err = errno;
            if (tr_listen_accept_error(err) == TR_ACCEPT_PAUSE) {
                /* poll(2) would wake again at once for the connection still queued: rest, still
                 * listening for stop (see proxy/worker.c, ACCEPT_PAUSE_MS). */
                uint64_t more = 0;
                if (tr_log_limit_pass(&accept_warnings, 1000, &more)) {
                    if (more)
                        tr_log_warn("admin: accept: %s; not accepting for %d ms (%llu more failed accepts since "
                                    "the last warning)", strerror(err), ACCEPT_PAUSE_MS, (unsigned long long)more);
                    else
                        tr_log_warn("admin: accept: %s; not accepting for %d ms", strerror(err), ACCEPT_PAUSE_MS);
                }
                struct pollfd stop = {ad->stop_pipe[0], POLLIN, 0};
                if (poll(&stop, 1, ACCEPT_PAUSE_MS) > 0)
                    break;
            }
            continue;
        }
        serve(ad, c);
        close(c);
    }
    return NULL;
}

struct tr_admin *tr_admin_start(const char *addr, char **err)
{
    struct sockaddr_in sin;
    char buf[256];
    if (parse_addr(addr, &sin) != 0) {
        snprintf(buf, sizeof(buf), "admin address %s: want IPv4:PORT", addr);
        *err = tr_xstrdup(buf);
        return NULL;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 || listen(fd, 128) != 0) {
        snprintf(buf, sizeof(buf), "admin address %s: %s", addr, strerror(errno));
        *err = tr_xstrdup(buf);
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    struct tr_admin *ad = tr_xcalloc(1, sizeof(*ad));
    ad->fd = fd;
    if (pipe2(ad->stop_pipe, O_CLOEXEC) != 0)
        TR_BUG_ON(1);
    pthread_mutex_init(&ad->lock, NULL);
    pthread_create(&ad->thread, NULL, loop, ad);
    return ad;
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
    close(ad->stop_pipe[0]);
    close(ad->stop_pipe[1]);
    pthread_mutex_destroy(&ad->lock);
    tr_published_release(ad->cur);
    free(ad);
}
