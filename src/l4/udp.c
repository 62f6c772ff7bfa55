#include "l4/udp.h"
#include "base/metrics.h"
#include "base/log.h"
#include "base/mem.h"
#include "ir/ir.h"
#include "snapshot/snapshot.h"
#include "net/listen.h"
#include "worker/lb.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define FLOW_IDLE_MS 60000 /* a flow without a datagram either way for this long is forgotten */
/* While draining: UDP tells no end of a session, so one quiet this long is taken as over (a
 * DNS-like exchange is long done; a stream that goes on is cut when the grace period ends). */
#define DRAIN_FLOW_IDLE_MS 2000
#define DGRAM_MAX 65535

struct flow {
    struct tr_io io; /* the connected socket to the backend endpoint */
    struct worker *w;
    struct wlisten *l;
    struct sockaddr_storage client;
    socklen_t client_len;
    char key[INET6_ADDRSTRLEN + 8];
    struct tr_timer timer;
};

static int client_key(char *out, size_t cap, const struct sockaddr_storage *ss)
{
    char ip[INET6_ADDRSTRLEN] = "";
    uint16_t port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
        port = ntohs(in->sin_port);
    } else {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
        port = ntohs(in6->sin6_port);
    }
    int n = snprintf(out, cap, "%s|%u", ip, port);
    return n > 0 && (size_t)n < cap ? n : -1;
}

static void flow_free(struct tr_loop *loop, void *data)
{
    free(data);
}

static uint64_t idle_ms(const struct worker *w)
{
    return w->drain >= TR_DRAIN_CLOSED ? DRAIN_FLOW_IDLE_MS : FLOW_IDLE_MS;
}

static void flow_close(struct flow *f)
{
    tr_timer_stop(f->w->loop, &f->timer);
    tr_loop_del(f->w->loop, &f->io);
    close(f->io.fd);
    tr_map_del(&f->l->flows, f->key, strlen(f->key));
    tr_metrics_add(&tr_metrics.upstream_active, -1);
    tr_worker_count(f->w, TR_CONN_UDP, -1);
    tr_loop_defer(f->w->loop, flow_free, f);
}

static void flow_idle(struct tr_loop *loop, struct tr_timer *t)
{
    flow_close(t->data);
}

/* Replies from the backend go back to the client from the listener's socket. */
static void on_flow(struct tr_loop *loop, struct tr_io *io, uint32_t events)
{
    struct flow *f = io->data;
    char buf[DGRAM_MAX];
    for (;;) {
        ssize_t n = recv(io->fd, buf, sizeof(buf), 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                flow_close(f); /* ICMP unreachable and the like: the next datagram retries */
                return;
            }
            break;
        }
        sendto(f->l->io.fd, buf, (size_t)n, 0, (struct sockaddr *)&f->client, f->client_len);
        tr_timer_start(loop, &f->timer, idle_ms(f->w));
    }
}

/* A new flow: the UDP listener's first rule (routes in precedence order), a backend by weight, an
 * endpoint round-robin, and a socket connected to it. */
static struct flow *flow_new(struct worker *w, struct wlisten *l, const struct sockaddr_storage *client,
                             socklen_t clen, const char *key)
{
    const struct tr_ir_port *port = w->snap ? tr_snapshot_port(w->snap, l->addr, l->port, true) : NULL;
    const struct tr_ir_rule *rule = NULL;
    for (size_t i = 0; port && i < port->nlisteners && !rule; i++)
        if (port->listeners[i]->proto == TR_PROTO_UDP && port->listeners[i]->nrules)
            rule = &port->listeners[i]->rules[0];
    const struct tr_ir_backend *b = rule ? tr_lb_backend(w, rule) : NULL;
    const struct tr_ir_endpoint *ep = b && !b->invalid ? tr_lb_endpoint(w, b) : NULL;
    if (!ep)
        return NULL;
    struct sockaddr_storage ss;
    unsigned sl;
    if (tr_sockaddr(ep->addr, ep->port, &ss, &sl) != 0)
        return NULL;
    int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    if (connect(fd, (struct sockaddr *)&ss, sl) != 0) {
        close(fd);
        return NULL;
    }
    struct flow *f = tr_xcalloc(1, sizeof(*f));
    f->w = w;
    f->l = l;
    memcpy(&f->client, client, clen);
    f->client_len = clen;
    snprintf(f->key, sizeof(f->key), "%s", key);
    f->io = (struct tr_io){.fd = fd, .cb = on_flow, .data = f};
    f->timer.cb = flow_idle;
    f->timer.data = f;
    tr_loop_add(w->loop, &f->io, EPOLLIN);
    tr_map_put(&l->flows, key, strlen(key), f);
    tr_metrics_add(&tr_metrics.upstream_connects, 1);
    tr_metrics_add(&tr_metrics.upstream_active, 1);
    tr_worker_count(w, TR_CONN_UDP, 1);
    return f;
}

void tr_udp_on_readable(struct worker *w, struct wlisten *l)
{
    char buf[DGRAM_MAX];
    for (;;) {
        struct sockaddr_storage client;
        socklen_t clen = sizeof(client);
        ssize_t n = recvfrom(l->io.fd, buf, sizeof(buf), 0, (struct sockaddr *)&client, &clen);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return; /* EAGAIN: drained */
        }
        char key[INET6_ADDRSTRLEN + 8];
        if (client_key(key, sizeof(key), &client) < 0)
            continue;
        struct flow *f = tr_map_get(&l->flows, key, strlen(key));
        if (!f && w->drain >= TR_DRAIN_CLOSED)
            continue; /* draining: the sessions open go on, a new one is not taken */
        if (!f)
            f = flow_new(w, l, &client, clen, key);
        if (!f)
            continue; /* no route or no endpoint: the datagram is dropped, as UDP allows */
        send(f->io.fd, buf, (size_t)n, 0);
        tr_timer_start(w->loop, &f->timer, idle_ms(w));
    }
}

void tr_udp_drain(struct worker *w, struct wlisten *l)
{
    size_t it = 0;
    struct tr_map_slot *sl;
    while ((sl = tr_map_next(&l->flows, &it)))
        tr_timer_start(w->loop, &((struct flow *)sl->val)->timer, DRAIN_FLOW_IDLE_MS);
}

void tr_udp_close_flows(struct worker *w, struct wlisten *l)
{
    size_t it = 0, n = 0;
    struct tr_map_slot *sl;
    struct flow **all = tr_xcalloc(l->flows.len + 1, sizeof(*all));
    while ((sl = tr_map_next(&l->flows, &it)))
        all[n++] = sl->val;
    for (size_t i = 0; i < n; i++)
        flow_close(all[i]);
    free(all);
    tr_map_dispose(&l->flows);
}
