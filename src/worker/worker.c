#include "worker/worker.h"
#include "base/log.h"
#include "base/mem.h"
#include "ir/ir.h"
#include "net/listen.h"
#include "net/netns.h"
#include "net/sock.h"
#include "snapshot/snapshot.h"
#include "worker/conn.h"
#include "worker/lb.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct wthread {
    struct worker w;
    pthread_t thread;
};

struct tr_workers {
    unsigned n;
    struct tr_worker_ops ops;
    struct wthread *t;
};

uint64_t tr_worker_rand(struct worker *w)
{
    /* xorshift64*: weighted backend choice needs speed, not cryptography. */
    uint64_t x = w->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    w->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* How long a listener rests after accept failed for want of descriptors, buffers or memory.
 * Retrying at once would fail the same way, once per connection that arrives, and take the
 * loop from the connections it already has; nginx and HAProxy rest too (500 and 100 ms). The
 * queued connections wait in the kernel meanwhile. */
#define ACCEPT_PAUSE_MS 100

/* One line a second about failing accepts, for every listener of every worker. */
static struct tr_log_limit accept_warnings;

static void on_accept(struct tr_loop *loop, struct tr_io *io, uint32_t events);

struct tr_mesh_client *tr_mesh_client_ref(struct tr_mesh_client *c)
{
    if (c)
        c->refs++;
    return c;
}

void tr_mesh_client_put(struct tr_mesh_client *c)
{
    if (!c || --c->refs > 0)
        return;
    close(c->nsfd);
    free(c);
}

/* A connection on a mesh client's listener: where it was going (the redirect kept the address
 * it dialled) decides what serves it. An address the mesh does not serve is closed: nothing
 * listens at a Service address torii does not know. */
static void mesh_accept(struct worker *w, struct wlisten *l, int fd, const struct sockaddr_storage *peer)
{
    struct sockaddr_storage dst;
    socklen_t dl = sizeof(dst);
    char addr[INET6_ADDRSTRLEN];
    uint16_t port = 0;
    if (tr_sock_original_dst(fd, &dst, &dl) == 0) {
        if (dst.ss_family == AF_INET) {
            const struct sockaddr_in *s4 = (const struct sockaddr_in *)&dst;
            inet_ntop(AF_INET, &s4->sin_addr, addr, sizeof(addr));
            port = ntohs(s4->sin_port);
        } else {
            const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&dst;
            inet_ntop(AF_INET6, &s6->sin6_addr, addr, sizeof(addr));
            port = ntohs(s6->sin6_port);
        }
    }
    const struct tr_ir_port *p = port && w->snap ? tr_snapshot_mesh_port(w->snap, addr, port) : NULL;
    void (*fn)(struct worker *, struct wlisten *, int, const struct sockaddr_storage *, const struct tr_ir_port *) =
        p ? w->ops->mesh_accept[p->mesh->http ? 1 : 0] : NULL;
    if (!fn) {
        tr_log_debug("worker %u: mesh client %s/%s: no Service at %s:%u", w->id, l->client->ns, l->client->name,
                     port ? addr : "(unknown)", port);
        close(fd);
        return;
    }
    fn(w, l, fd, peer, p);
}

static void on_resume(struct tr_loop *loop, struct tr_timer *t)
{
    struct wlisten *l = t->data;
    l->io.cb = on_accept;
    tr_loop_add(loop, &l->io, EPOLLIN);
    on_accept(loop, &l->io, EPOLLIN); /* the queue may be full already: no edge would come */
}

static void pause_accepting(struct wlisten *l, int err)
{
    uint64_t more = 0;
    if (tr_log_limit_pass(&accept_warnings, 1000, &more)) {
        if (more)
            tr_log_warn("accept on %s:%u: %s; not accepting for %d ms (%llu more failed accepts since the last "
                        "warning)", l->addr, l->port, strerror(err), ACCEPT_PAUSE_MS, (unsigned long long)more);
        else
            tr_log_warn("accept on %s:%u: %s; not accepting for %d ms", l->addr, l->port, strerror(err),
                        ACCEPT_PAUSE_MS);
    }
    tr_loop_del(l->w->loop, &l->io);
    l->resume.cb = on_resume;
    l->resume.data = l;
    tr_timer_start(l->w->loop, &l->resume, ACCEPT_PAUSE_MS);
}

static void on_accept(struct tr_loop *loop, struct tr_io *io, uint32_t events)
{
    struct wlisten *l = io->data;
    if (l->kind == TR_WL_UDP) {
        l->w->ops->udp_readable(l->w, l);
        return;
    }
    for (;;) {
        struct sockaddr_storage peer;
        socklen_t plen = sizeof(peer);
        int fd = accept4(io->fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            int err = errno;
            switch (tr_listen_accept_error(err)) {
            case TR_ACCEPT_NEXT:
                continue;
            case TR_ACCEPT_PAUSE:
                pause_accepting(l, err);
                return;
            case TR_ACCEPT_EMPTY:
                return;
            }
        }
        if (l->kind == TR_WL_MESH)
            mesh_accept(l->w, l, fd, &peer);
        else
            l->w->ops->accept[l->kind](l->w, l, fd, &peer);
    }
}

static void free_listener(struct tr_loop *loop, void *data)
{
    struct wlisten *l = data;
    tr_mesh_client_put(l->client);
    free(l);
}

/* Stops watching a listening socket taken out of w->listeners and closes it; the listener is
 * freed at the end of the loop turn (an event for it may still be queued). */
static void drop_listener(struct worker *w, struct wlisten *l)
{
    tr_timer_stop(w->loop, &l->resume);
    tr_loop_del(w->loop, &l->io);
    close(l->io.fd);
    tr_loop_defer(w->loop, free_listener, l);
}

/* One line a second about mesh clients whose namespace cannot be entered, for every worker. */
static struct tr_log_limit mesh_warnings;

#define MESH_RETRY_FIRST_MS 250
#define MESH_RETRY_MAX_MS 30000

static void reconcile_listeners(struct worker *w);

static void on_mesh_retry(struct tr_loop *loop, struct tr_timer *t)
{
    (void)loop;
    reconcile_listeners(t->data);
}

/* The listeners of the mesh's workloads: one in each one's network namespace, on its loopback at
 * TR_MESH_REDIRECT_PORT, where its redirect sends its connections to Service addresses (the
 * control thread installs the redirect). Each worker has its own (SO_REUSEPORT). */
static void reconcile_mesh(struct worker *w, const struct tr_ir *ir)
{
    static uint64_t ids;
    bool failed = false;
    for (size_t i = 0; i < ir->nclients; i++) {
        const struct tr_ir_mesh_client *mc = &ir->clients[i];
        if (mc->refused)
            continue; /* control/meshctl.c says why */
        char k[600];
        int kl = snprintf(k, sizeof(k), "mesh|%s|%s/%s", mc->netns, mc->ns, mc->name);
        if (kl < 0 || (size_t)kl >= sizeof(k))
            continue;
        struct wlisten *l = tr_map_get(&w->listeners, k, (size_t)kl);
        if (l) {
            l->wanted = true;
            continue;
        }
        if (w->drain >= TR_DRAIN_CLOSED)
            continue;
        int nsfd = tr_netns_open(mc->netns);
        if (nsfd >= 0 && tr_netns_is_own(nsfd)) {
            close(nsfd); /* never the host's (control/meshctl.c says so) */
            continue;
        }
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(TR_MESH_REDIRECT_PORT),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int fd = nsfd >= 0 ? tr_netns_listen(nsfd, (const struct sockaddr *)&sa, sizeof(sa), 511) : -1;
        if (fd < 0) {
            int err = errno;
            uint64_t more = 0;
            failed = true;
            if (tr_log_limit_pass(&mesh_warnings, 1000, &more))
                tr_log_warn("mesh: Pod %s/%s: cannot listen in network namespace %s: %s", mc->ns, mc->name,
                            mc->netns, strerror(err));
            if (nsfd >= 0)
                close(nsfd);
            continue;
        }
        struct tr_mesh_client *c = tr_xcalloc(1, sizeof(*c));
        c->refs = 1;
        c->nsfd = nsfd;
        c->id = __atomic_add_fetch(&ids, 1, __ATOMIC_RELAXED);
        snprintf(c->ns, sizeof(c->ns), "%s", mc->ns);
        snprintf(c->name, sizeof(c->name), "%s", mc->name);
        l = tr_xcalloc(1, sizeof(*l));
        l->w = w;
        snprintf(l->addr, sizeof(l->addr), "127.0.0.1");
        l->port = TR_MESH_REDIRECT_PORT;
        l->wanted = true;
        l->kind = TR_WL_MESH;
        l->client = c;
        l->io = (struct tr_io){.fd = fd, .cb = on_accept, .data = l};
        tr_loop_add(w->loop, &l->io, EPOLLIN);
        tr_map_put(&w->listeners, k, (size_t)kl, l);
        tr_log_debug("worker %u: mesh: listening for Pod %s/%s", w->id, mc->ns, mc->name);
    }
    if (!failed) {
        w->mesh_retry_ms = 0;
    } else if (!tr_timer_armed(&w->mesh_retry)) {
        w->mesh_retry_ms = !w->mesh_retry_ms ? MESH_RETRY_FIRST_MS
                           : w->mesh_retry_ms >= MESH_RETRY_MAX_MS / 2 ? MESH_RETRY_MAX_MS
                                                                      : w->mesh_retry_ms * 2;
        w->mesh_retry = (struct tr_timer){.cb = on_mesh_retry, .data = w};
        tr_timer_start(w->loop, &w->mesh_retry, w->mesh_retry_ms);
    }
}

/* Opens the sockets the snapshot needs and this worker lacks; closes the ones it no longer
 * needs. Sockets whose address and port did not change are kept: connections queued on them
 * are not lost. */
static void reconcile_listeners(struct worker *w)
{
    const struct tr_ir *ir = w->snap ? tr_snapshot_ir(w->snap) : NULL;
    size_t it = 0;
    struct tr_map_slot *sl;
    while ((sl = tr_map_next(&w->listeners, &it)))
        ((struct wlisten *)sl->val)->wanted = false;
    for (size_t i = 0; ir && i < ir->nports; i++) {
        const struct tr_ir_port *p = &ir->ports[i];
        if (!tr_snapshot_port_bindable(w->snap, p))
            continue; /* an address torii cannot have is skipped */
        char k[128];
        int kl = snprintf(k, sizeof(k), "%s|%u|%s", p->addr, p->port, p->udp ? "udp" : "tcp");
        bool tls = false, http = false, tcp = false, passthrough = false;
        for (size_t j = 0; j < p->nlisteners; j++) {
            enum tr_proto pr = p->listeners[j]->proto;
            tls |= pr == TR_PROTO_HTTPS;
            http |= pr == TR_PROTO_HTTP || pr == TR_PROTO_HTTPS;
            tcp |= pr == TR_PROTO_TCP;
            passthrough |= pr == TR_PROTO_TLS; /* passthrough or terminated, chosen by SNI */
        }
        if (!http && !tcp && !passthrough && !p->udp)
            continue;
        enum tr_wl_kind kind = p->udp ? TR_WL_UDP : http ? TR_WL_HTTP : tcp ? TR_WL_TCP : TR_WL_TLS_PASSTHROUGH;
        struct wlisten *l = tr_map_get(&w->listeners, k, (size_t)kl);
        if (l) {
            l->wanted = true;
            l->tls = tls; /* what a port serves changes only with its listeners */
            l->kind = kind;
            continue;
        }
        if (w->drain >= TR_DRAIN_CLOSED)
            continue; /* draining: the listeners closed for good */
        char *why = NULL;
        int fd = tr_listen_open(p->addr, p->port, p->udp, &why);
        if (fd < 0) {
            tr_log_warn("worker %u: %s", w->id, why);
            free(why);
            continue;
        }
        l = tr_xcalloc(1, sizeof(*l));
        l->w = w;
        snprintf(l->addr, sizeof(l->addr), "%s", p->addr);
        l->port = p->port;
        l->wanted = true;
        l->tls = tls;
        l->kind = kind;
        l->io = (struct tr_io){.fd = fd, .cb = on_accept, .data = l};
        tr_loop_add(w->loop, &l->io, EPOLLIN);
        tr_map_put(&w->listeners, k, (size_t)kl, l);
        tr_log_debug("worker %u: listening on %s:%u", w->id, p->addr, p->port);
    }
    if (ir)
        reconcile_mesh(w, ir);
    char **gone = tr_xcalloc(w->listeners.len + 1, sizeof(char *));
    size_t ngone = 0;
    it = 0;
    while ((sl = tr_map_next(&w->listeners, &it)))
        if (!((struct wlisten *)sl->val)->wanted)
            gone[ngone++] = tr_xstrdup(sl->key);
    for (size_t i = 0; i < ngone; i++) {
        struct wlisten *l = tr_map_del(&w->listeners, gone[i], strlen(gone[i]));
        if (w->ops->udp_close)
            w->ops->udp_close(w, l);
        drop_listener(w, l);
        free(gone[i]);
    }
    free(gone);
}

/* Stops taking connections. Those that completed their handshake are accepted first: closing
 * a listening socket resets what waits in its queue, and these clients were let in. A UDP
 * socket stays, as replies to the sessions still open leave through it; it takes no new
 * session from now on (l4/udp.c). */
static void close_listeners(struct worker *w)
{
    size_t it = 0, ngone = 0;
    struct tr_map_slot *sl;
    char **gone = tr_xcalloc(w->listeners.len + 1, sizeof(char *));
    while ((sl = tr_map_next(&w->listeners, &it))) {
        struct wlisten *l = sl->val;
        if (l->kind == TR_WL_UDP) {
            if (w->ops->udp_drain)
                w->ops->udp_drain(w, l);
            continue;
        }
        if (!tr_timer_armed(&l->resume)) /* paused (out of descriptors): the queue waits its turn */
            on_accept(w->loop, &l->io, EPOLLIN);
        gone[ngone++] = tr_xstrdup(sl->key);
    }
    for (size_t i = 0; i < ngone; i++) {
        drop_listener(w, tr_map_del(&w->listeners, gone[i], strlen(gone[i])));
        free(gone[i]);
    }
    free(gone);
}

/* --- closing a connection the way RFC 9112 9.6 asks --- */

/* How long a connection torii ended waits for its client's own close, as Envoy's
 * delayed_close_timeout (1 s by default) does: time for bytes already on their way and the
 * client's FIN, not for a client that goes on sending. */
#define LINGER_MS 1000

struct lingerc {
    struct conn_link link;
    struct worker *w;
    struct tr_io io;
    struct tr_timer timer;
};

static void linger_free(struct tr_loop *loop, void *data)
{
    free(data);
}

static void linger_close(struct lingerc *g)
{
    tr_timer_stop(g->w->loop, &g->timer);
    tr_loop_del(g->w->loop, &g->io);
    close(g->io.fd);
    tr_conn_unlink(g->w, &g->link);
    tr_loop_defer(g->w->loop, linger_free, g);
}

static void linger_close_link(struct conn_link *l)
{
    linger_close((struct lingerc *)((char *)l - offsetof(struct lingerc, link)));
}

/* Drops what the client still sends; its EOF (or an error) ends the wait. */
static void on_linger_io(struct tr_loop *loop, struct tr_io *io, uint32_t events)
{
    struct lingerc *g = io->data;
    char buf[16384];
    ssize_t n;
    while ((n = tr_sock_read(io->fd, NULL, buf, sizeof(buf))) > 0)
        ;
    if (n != TR_SOCK_AGAIN)
        linger_close(g);
}

static void on_linger_timeout(struct tr_loop *loop, struct tr_timer *t)
{
    linger_close(t->data);
}

/* Counted as the kind they were, so that a drain waits for them; nothing left to drain. */
static const struct conn_ops linger_ops[TR_CONN__COUNT] = {
    [TR_CONN_HTTP] = {TR_CONN_HTTP, linger_close_link, NULL},
    [TR_CONN_H2] = {TR_CONN_H2, linger_close_link, NULL},
    [TR_CONN_L4] = {TR_CONN_L4, linger_close_link, NULL},
};

void tr_conn_linger(struct worker *w, int fd, enum tr_conn_kind kind)
{
    if (shutdown(fd, SHUT_WR) != 0 || !linger_ops[kind].close) {
        close(fd); /* the client is gone already */
        return;
    }
    struct lingerc *g = tr_xcalloc(1, sizeof(*g));
    g->w = w;
    g->io = (struct tr_io){.fd = fd, .cb = on_linger_io, .data = g};
    g->timer = (struct tr_timer){.cb = on_linger_timeout, .data = g};
    tr_conn_link(w, &g->link, &linger_ops[kind]);
    tr_loop_add(w->loop, &g->io, EPOLLIN | EPOLLRDHUP);
    tr_timer_start(w->loop, &g->timer, LINGER_MS);
    on_linger_io(w->loop, &g->io, EPOLLIN); /* what arrived before the registration */
}

static void retire(struct worker *w)
{
    if (w->ops->retire)
        w->ops->retire(w);
}

/* Moves w on to the drain phase the control thread asked for, and tells every connection. A
 * connection's drain may close it and others it holds (its upstream): those with something to
 * do are gathered first, and deferred frees keep them readable while the walk goes on. */
static void drain(struct worker *w)
{
    enum tr_drain_phase to = (enum tr_drain_phase)__atomic_load_n(&w->drain_to, __ATOMIC_ACQUIRE);
    if (to <= w->drain)
        return;
    enum tr_drain_phase from = w->drain;
    w->drain = to;
    if (from < TR_DRAIN_CLOSED && to >= TR_DRAIN_CLOSED) { /* a phase may be skipped, not its work */
        close_listeners(w);
        retire(w); /* nothing is pooled once draining closed the listeners */
    }
    size_t n = 0, cap = 64;
    struct conn_link **all = tr_xmalloc(cap * sizeof(*all));
    for (struct conn_link *l = w->conns.next; l != &w->conns; l = l->next) {
        if (!l->ops->drain)
            continue;
        if (n == cap) {
            cap *= 2;
            all = tr_xrealloc(all, cap * sizeof(*all));
        }
        all[n++] = l;
    }
    for (size_t i = 0; i < n; i++)
        all[i]->ops->drain(all[i]);
    free(all);
    __atomic_store_n(&w->drain_done, (int)to, __ATOMIC_RELEASE);
}

static void on_wake(struct tr_loop *loop, void *data)
{
    struct worker *w = data;
    drain(w);
    struct tr_snapshot *s = tr_snapshot_acquire();
    tr_log_debug("worker %u: woken (generation %llu)", w->id, s ? (unsigned long long)tr_snapshot_generation(s) : 0ULL);
    if (s == w->snap) {
        tr_snapshot_release(s);
        return;
    }
    tr_snapshot_release(w->snap);
    w->snap = s;
    tr_lb_reset(w);
    reconcile_listeners(w);
    retire(w);
}

/* Under AddressSanitizer objects are never reused: a use after free must stay one it sees. */
#if defined(__SANITIZE_ADDRESS__)
#define OBJ_CACHE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define OBJ_CACHE 0
#endif
#endif
#ifndef OBJ_CACHE
#define OBJ_CACHE 1
#endif

void *tr_worker_obj_get(struct tr_obj_cache *oc, size_t size)
{
    if (!OBJ_CACHE || !oc->n)
        return tr_xcalloc(1, size);
    void *p = oc->items[--oc->n];
    memset(p, 0, size);
    return p;
}

void tr_worker_obj_put(struct tr_obj_cache *oc, void *p)
{
    if (OBJ_CACHE && oc->n < TR_WORKER_OBJS)
        oc->items[oc->n++] = p;
    else
        free(p);
}

void tr_worker_buf_attach(struct worker *w, struct tr_buf *b)
{
    if (b->cap)
        return;
    b->data = w->nblocks ? w->blocks[--w->nblocks] : tr_xmalloc(TR_WORKER_BLOCK);
    b->cap = TR_WORKER_BLOCK;
    b->len = 0;
    b->data[0] = '\0';
}

void tr_worker_buf_release(struct worker *w, struct tr_buf *b)
{
    if (b->cap == TR_WORKER_BLOCK && w->nblocks < sizeof(w->blocks) / sizeof(w->blocks[0])) {
        w->blocks[w->nblocks++] = b->data;
        b->data = NULL;
        b->len = b->cap = 0;
        return;
    }
    tr_buf_dispose(b);
}

static void *run(void *arg)
{
    struct worker *w = arg;
    on_wake(w->loop, w); /* a snapshot may already be out */
    tr_loop_run(w->loop);
    return NULL;
}

struct tr_workers *tr_workers_start(unsigned n, const struct tr_worker_ops *ops, char **err)
{
    if (ops->start && ops->start() != 0) {
        *err = tr_xstrdup("cannot create the TLS context");
        return NULL;
    }
    if (n == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        n = cores > 0 ? (unsigned)cores : 1;
    }
    struct tr_workers *ws = tr_xcalloc(1, sizeof(*ws));
    ws->ops = *ops;
    ws->t = tr_xcalloc(n, sizeof(*ws->t));
    for (unsigned i = 0; i < n; i++) {
        struct worker *w = &ws->t[i].w;
        w->id = i;
        w->dial_ns = -1;
        w->ops = &ws->ops;
        w->conns.prev = w->conns.next = &w->conns;
        w->rng = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)time(NULL) << 16) ^ i;
        w->loop = tr_loop_new();
        if (!w->loop) {
            *err = tr_xstrdup("cannot create an event loop");
            ws->n = i;
            tr_workers_stop(ws);
            return NULL;
        }
        tr_loop_on_wake(w->loop, on_wake, w);
    }
    ws->n = n;
    tr_log_info("%u workers, event loops on %s", n, tr_loop_engine_name(tr_loop_engine_used()));
    for (unsigned i = 0; i < n; i++)
        pthread_create(&ws->t[i].thread, NULL, run, &ws->t[i].w);
    return ws;
}

void tr_workers_notify(struct tr_workers *ws)
{
    for (unsigned i = 0; ws && i < ws->n; i++)
        tr_loop_wake(ws->t[i].w.loop);
}

void tr_workers_drain(struct tr_workers *ws, enum tr_drain_phase phase)
{
    for (unsigned i = 0; ws && i < ws->n; i++) {
        struct worker *w = &ws->t[i].w;
        if (__atomic_load_n(&w->drain_to, __ATOMIC_RELAXED) < (int)phase)
            __atomic_store_n(&w->drain_to, (int)phase, __ATOMIC_RELEASE);
        tr_loop_wake(w->loop);
    }
}

bool tr_workers_reached(const struct tr_workers *ws, enum tr_drain_phase phase)
{
    for (unsigned i = 0; ws && i < ws->n; i++)
        if (__atomic_load_n(&ws->t[i].w.drain_done, __ATOMIC_ACQUIRE) < (int)phase)
            return false;
    return true;
}

uint64_t tr_workers_open(const struct tr_workers *ws, uint64_t open[])
{
    uint64_t total = 0;
    for (int k = 0; k < TR_CONN__COUNT; k++)
        open[k] = 0;
    for (unsigned i = 0; ws && i < ws->n; i++)
        for (int k = 0; k < TR_CONN__COUNT; k++) {
            uint64_t v = __atomic_load_n(&ws->t[i].w.open[k], __ATOMIC_ACQUIRE);
            open[k] += v;
            total += v;
        }
    return total;
}

void tr_workers_cut(struct tr_workers *ws)
{
    tr_workers_drain(ws, TR_DRAIN_CUT);
    struct timespec nap = {0, 10 * 1000 * 1000};
    for (int waited = 0; waited < LINGER_MS + 200; waited += 10) {
        uint64_t open[TR_CONN__COUNT];
        tr_workers_open(ws, open);
        if (tr_workers_reached(ws, TR_DRAIN_CUT) && !open[TR_CONN_HTTP] && !open[TR_CONN_H2] && !open[TR_CONN_L4])
            return;
        nanosleep(&nap, NULL);
    }
}

void tr_workers_stop(struct tr_workers *ws)
{
    if (!ws)
        return;
    for (unsigned i = 0; i < ws->n; i++)
        tr_loop_stop(ws->t[i].w.loop);
    for (unsigned i = 0; i < ws->n; i++) {
        struct worker *w = &ws->t[i].w;
        if (ws->t[i].thread)
            pthread_join(ws->t[i].thread, NULL);
        while (w->conns.next != &w->conns)
            w->conns.next->ops->close(w->conns.next);
        tr_loop_drain(w->loop); /* the deferred frees of what just closed */
        size_t it = 0;
        struct tr_map_slot *sl;
        while ((sl = tr_map_next(&w->listeners, &it))) {
            struct wlisten *l = sl->val;
            if (w->ops->udp_close)
            w->ops->udp_close(w, l);
            tr_timer_stop(w->loop, &l->resume);
            close(l->io.fd);
            free(l);
        }
        tr_loop_drain(w->loop);
        tr_map_dispose(&w->listeners);
        tr_map_dispose(&w->idle);
        tr_lb_reset(w);
        while (w->nreq_cache)
            free(w->req_cache[--w->nreq_cache]);
        while (w->nblocks)
            free(w->blocks[--w->nblocks]);
        tr_buf_dispose(&w->scratch);
        while (w->h1c_cache.n)
            free(w->h1c_cache.items[--w->h1c_cache.n]);
        while (w->h2s_cache.n)
            free(w->h2s_cache.items[--w->h2s_cache.n]);
        while (w->x_cache.n)
            free(w->x_cache.items[--w->x_cache.n]);
        while (w->upc_cache.n)
            free(w->upc_cache.items[--w->upc_cache.n]);
        while (w->h2u_cache.n)
            free(w->h2u_cache.items[--w->h2u_cache.n]);
        tr_snapshot_release(w->snap);
        tr_loop_free(w->loop);
    }
    free(ws->t);
    if (ws->ops.stop)
        ws->ops.stop();
    free(ws);
}
