/* The upstream connection (upc): connect, backend TLS, the pool, reading and writing, and
 * failure. What flows over it is the exchange's (exchange.c) and the codec's (h1_client.c,
 * h2_client.c). */
#include "api/kind.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/metrics.h"
#include "ir/ir.h"
#include "net/listen.h"
#include "net/netns.h"
#include "net/sock.h"
#include "net/tls.h"
#include "proxy/h2.h"
#include "proxy/internal.h"
#include "proxy/upstream.h"
#include "snapshot/snapshot.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

/* One line a second about backends whose TLS handshake fails. */
static struct tr_log_limit backend_tls_warnings;

bool tr_upstream_wants_h2(const struct tr_exchange *x, const struct tr_ir_backend *b)
{
    const char *app = tr_ir_ref_app_protocol(b->ref);
    if (app && (strcmp(app, "kubernetes.io/h2c") == 0 || strcmp(app, "h2c") == 0 || strcmp(app, "grpc") == 0))
        return true;
    if (x->rule && x->rule->spec->route->kind == TR_KIND_GRPCROUTE)
        return true;
    if (tr_extauth_grpc_backend(x, b))
        return true; /* an ext_authz service: gRPC */
    /* In the mesh, HTTP/2 goes on as HTTP/2 to a backend whose protocol its Service does not
     * say (a gRPC client's calls, h2c prior knowledge): the client chose it for that server. */
    return x->conn->mesh && x->h2 && !app;
}

static void u_free(struct tr_loop *loop, void *data)
{
    struct upc *u = data;
    tr_h2u_release(u);
    free(u->trailers);
    tr_worker_buf_release(u->w, &u->in);
    tr_worker_buf_release(u->w, &u->out);
    tr_worker_obj_put(&u->w->upc_cache, u);
}

/* The handshake is over (or never will be): u no longer reads its TLS settings. */
static void tls_unpin(struct upc *u)
{
    u->tls = NULL;
    tr_snapshot_release(u->tls_snap);
    u->tls_snap = NULL;
}

void tr_upstream_close(struct upc *u)
{
    if (u->closed)
        return;
    u->closed = true;
    tr_timer_stop(u->w->loop, &u->timer);
    if (u->h2) {
        tr_h2u_detach(u); /* a stream: its carrier stays */
    } else {
        tr_pool_remove(u->w, u);
        if (u->h2c)
            tr_h2u_conn_free(u);
        tr_loop_del(u->w->loop, &u->io);
        if (u->ssl) {
            SSL_set_quiet_shutdown(u->ssl, 1);
            SSL_free(u->ssl);
            u->ssl = NULL;
        }
        tls_unpin(u);
        close(u->io.fd);
        u->io.fd = -1;
        tr_conn_unlink(u->w, &u->link);
        tr_metrics_add(&tr_metrics.upstream_active, -1);
    }
    if (u->feeder) {
        for (size_t i = 0; i < TR_MIRRORS_FED; i++)
            if (u->feeder->mirrors[i] == u)
                u->feeder->mirrors[i] = NULL;
        u->feeder = NULL;
    }
    if (u->x)
        u->x->up = NULL;
    u->x = NULL;
    tr_loop_defer(u->w->loop, u_free, u);
}

static void u_close_link(struct conn_link *l)
{
    tr_upstream_close((struct upc *)((char *)l - offsetof(struct upc, link)));
}

void tr_upstream_fail(struct upc *u, const char *why)
{
    if (u->closed)
        return;
    if (u->h2c) {
        /* A carrier: each of its streams fails (or moves) on its own. */
        tr_log_debug("upstream %s: %s", u->key, why);
        tr_h2u_conn_fail(u, why);
        return;
    }
    struct tr_exchange *x = u->x;
    tr_log_debug("upstream %s: %s", u->key, why);
    tr_metrics_add(&tr_metrics.upstream_failures, 1);
    bool auth = u->auth;
    tr_upstream_close(u);
    if (!x)
        return;
    if (auth) {
        /* The ExternalAuth service failed: denied (the filter fails closed). */
        x->up = NULL;
        x->close_after = !x->req_done;
        tr_exchange_respond(x, 503, NULL, "authorization service unavailable\n");
        return;
    }
    x->up = NULL;
    if (u->head_done) {
        tr_exchange_close(x, false);
        return;
    }
    if (tr_retry_later(x))
        return;
    x->close_after = !x->req_done;
    if (x->retryable)
        tr_exchange_respond(x, 503, NULL, "no response from the backend, retries exhausted\n");
    else
        tr_exchange_respond(x, 502, NULL, "upstream connection failed\n");
    if (!x->closed && x->state == C_HEAD)
        x->down->read(x); /* a pipelined request may be waiting */
}

/* Connected (and through TLS): the connect timer ends. A mirror's answer is waited for no
 * longer than a response is; other exchanges time their responses themselves. */
static void u_connected_timer(struct upc *u)
{
    if (u->mirror)
        tr_timer_start(u->w->loop, &u->timer, tr_proxy_response_timeout_ms);
    else
        tr_timer_stop(u->w->loop, &u->timer);
}

bool tr_upstream_room(struct upc *u)
{
    if (u->h2c) {
        tr_h2u_conn_room(u);
        return !u->closed;
    }
    tr_upstream_flush(u);
    if (u->closed)
        return false;
    struct tr_exchange *x = u->x;
    if (x && tr_buf_pending(&u->out, u->out_off) == 0 && (x->state == C_BODY || x->state == C_TUNNEL)) {
        x->down->process(x);
        if (!x->closed && x->up == u)
            x->down->read(x);
        if (u->closed)
            return false;
    }
    return true;
}

static void u_on_io(struct tr_loop *loop, struct tr_io *io, uint32_t events)
{
    struct upc *u = io->data;
    if (u->connecting && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        int err = 0;
        socklen_t el = sizeof(err);
        getsockopt(io->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err) {
            tr_upstream_fail(u, strerror(err));
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
            tr_upstream_fail(u, "TLS handshake failed");
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
        if (!tr_upstream_room(u))
            return;
    }
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        u->hup = true;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        if (u->idle && !u->h2c) {
            /* An idle keep-alive connection that speaks or closes is done. */
            tr_upstream_close(u);
            return;
        }
        tr_upstream_read(u);
    }
}

void tr_upstream_flush(struct upc *u)
{
    if (u->closed)
        return;
    if (u->h2) {
        tr_h2u_flush(u);
        return;
    }
    if (u->h2c) {
        tr_h2u_conn_room(u);
        return;
    }
    if (u->connecting || u->handshaking || !u->writable)
        return;
    if (tr_sock_write_buf(u->io.fd, u->ssl, &u->out, &u->out_off, &u->writable, NULL) < 0) {
        tr_upstream_fail(u, "write failed");
        return;
    }
    u->sent_any = true;
}

void tr_upstream_read(struct upc *u)
{
    if (u->h2) {
        if (!u->closed)
            tr_h2u_input(u);
        return;
    }
    if (u->h2c) {
        if (!u->closed)
            tr_h2u_conn_read(u);
        return;
    }
    while (!u->closed && !u->eof) {
        struct tr_exchange *x = u->x;
        if (x && tr_buf_pending(&x->out, x->out_off) >= TR_WORKER_BUF_HIGH)
            return; /* the client is slow: the response waits in the kernel */
        tr_buf_compact(&u->in, &u->in_off);
        enum tr_sock_rd r =
            tr_proxy_read_into(u->w, u->io.fd, u->ssl, &u->in, u->in_off, TR_WORKER_BUF_HIGH + 65536, u->hup);
        if (r == TR_SOCK_RD_EOF)
            u->eof = true;
        tr_h1u_process(u);
        if (r != TR_SOCK_RD_FULL)
            return;
    }
}

static void u_timeout(struct tr_loop *loop, struct tr_timer *t)
{
    struct upc *u = t->data;
    tr_upstream_fail(u, u->connecting || u->handshaking ? "connect timed out" : "no response in time");
}

/* An upstream connection ends with its exchange; idle ones are the pool's (tr_pool_retire). */
static const struct conn_ops u_ops = {TR_CONN_UPSTREAM, u_close_link, NULL};

/* A new upc for key, with no socket yet. */
static struct upc *u_new(struct worker *w, const char *key)
{
    struct upc *u = tr_worker_obj_get(&w->upc_cache, sizeof(*u));
    u->w = w;
    u->ops = &tr_h1u_ops;
    snprintf(u->key, sizeof(u->key), "%s", key);
    u->io.fd = -1;
    u->timer.cb = u_timeout;
    u->timer.data = u;
    return u;
}

struct upc *tr_upstream_dial(struct worker *w, const struct tr_ir_endpoint *ep, const char *key,
                             const struct tr_ir_backend_tls *tls, struct tr_snapshot *snap, bool h2)
{
    struct sockaddr_storage ss;
    unsigned sl;
    if (tr_sockaddr(ep->addr, ep->port, &ss, &sl) != 0)
        return NULL; /* endpoints are IP literals (ExternalName names are resolved by control/) */
    /* A mesh client's connection leaves from its own namespace and address (w->dial_ns, set by
     * tr_upstream_tls), marked so that its redirect lets it pass. */
    int fd = w->dial_ns >= 0 ? tr_netns_socket(w->dial_ns, ss.ss_family, TR_NETNS_MARK)
                             : socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    int rc = connect(fd, (struct sockaddr *)&ss, sl);
    if (rc < 0 && errno != EINPROGRESS) {
        close(fd);
        return NULL;
    }
    struct upc *u = u_new(w, key);
    u->connecting = rc < 0;
    u->writable = rc == 0;
    u->io = (struct tr_io){.fd = fd, .cb = u_on_io, .data = u};
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
    tr_conn_link(w, &u->link, &u_ops);
    tr_loop_add(w->loop, &u->io, EPOLLIN | EPOLLOUT | EPOLLRDHUP);
    tr_metrics_add(&tr_metrics.upstream_connects, 1);
    tr_metrics_add(&tr_metrics.upstream_active, 1);
    if (u->connecting || u->handshaking)
        tr_timer_start(w->loop, &u->timer, CONNECT_TIMEOUT_MS);
    return u;
}

/* A stream upc for key on a carrier (tr_h2u_attach), or NULL. */
static struct upc *open_stream(struct worker *w, const struct tr_ir_endpoint *ep, const char *key,
                               const struct tr_ir_backend_tls *tls, struct tr_snapshot *snap)
{
    struct upc *u = u_new(w, key);
    u->ops = &tr_h2u_ops;
    u->writable = true; /* what waits is its carrier's affair */
    bool reused = false;
    if (!tr_h2u_attach(u, ep, tls, snap, &reused)) {
        tr_h2u_release(u);
        free(u);
        return NULL;
    }
    if (reused)
        tr_metrics_add(&tr_metrics.upstream_reused, 1);
    return u;
}

struct upc *tr_upstream_open(struct worker *w, const struct tr_ir_endpoint *ep, const char *key,
                             const struct tr_ir_backend_tls *tls, struct tr_snapshot *snap, bool h2)
{
    return h2 ? open_stream(w, ep, key, tls, snap) : tr_upstream_dial(w, ep, key, tls, snap, false);
}

void tr_upstream_dial_from(struct worker *w, const struct tr_conn_facts *conn)
{
    const struct tr_mesh_client *mc = conn->mesh;
    w->dial_ns = mc ? mc->nsfd : -1;
    w->dial_ns_id = mc ? mc->id : 0;
}

const struct tr_ir_backend_tls *tr_upstream_tls(struct tr_exchange *x, const struct tr_ir_backend *b, char *key,
                                                size_t cap, const struct tr_ir_endpoint *ep)
{
    const struct tr_ir_backend_tls *tls = b->tls && b->tls->ctx ? b->tls : NULL;
    tr_upstream_dial_from(x->w, x->conn);
    tr_pool_key(key, cap, ep, tls ? tls->id : 0, tr_upstream_wants_h2(x, b), x->w->dial_ns_id);
    return tls;
}

struct upc *tr_upstream_connect(struct tr_exchange *x, const struct tr_ir_backend *b, const struct tr_ir_endpoint *ep)
{
    char key[sizeof(((struct upc *)0)->key)];
    const struct tr_ir_backend_tls *tls = tr_upstream_tls(x, b, key, sizeof(key), ep);
    if (b->tls && !tls)
        return NULL; /* the policy's context could not be made: never fall back to plaintext */
    /* A pooled connection the backend closed meanwhile showed up as readable and was closed
     * (u_on_io), so what the pool holds was quiet at the last turn. */
    struct upc *u;
    if (tr_upstream_wants_h2(x, b)) {
        u = open_stream(x->w, ep, key, tls, x->snap); /* a stream, on a carrier shared or new */
    } else {
        u = tr_pool_take(x->w, key);
        if (u)
            tr_metrics_add(&tr_metrics.upstream_reused, 1);
        else
            u = tr_upstream_dial(x->w, ep, key, tls, x->snap, false);
    }
    if (!u)
        return NULL;
    u->x = x;
    u->head_done = u->resp_done = u->eof = false;
    u->in.len = 0;
    u->in_off = 0;
    u->out.len = 0;
    u->out_off = 0;
    x->up = u;
    return u;
}
