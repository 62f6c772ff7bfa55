#include "snapshot/snapshot.h"
#include "api/object.h"
#include "base/buf.h"
#include "base/map.h"
#include "base/mem.h"
#include "ir/ir.h"
#include "ir/router.h"
#include "snapshot/tlsctx.h"
#include "store/store.h"
#include "translate/translate.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct tr_snapshot {
    int refs; /* atomic */
    struct tr_snapshot *next_dead; /* in the reaper's queue */
    uint64_t generation;
    struct tr_view *view;
    struct tr_tx *tx;
    struct tr_map ports;       /* "addr|port|udp" -> index + 1 in ir->ports */
    struct tr_router ***rt;    /* per port, per listener */
    bool *bindable;            /* per port */
    SSL_CTX ***tls;            /* per port, per listener: HTTPS listeners' server contexts */
    struct tr_map backend_tls; /* tr_ir_backend_tls.id (8 bytes) -> its SSL_CTX* (a reference) */
};

/* TLS contexts outlive the snapshot that made them while their inputs are unchanged: loading
 * keys and certificates is the dearest part of a compile with TLS listeners, and a context
 * kept across changes keeps its session cache. Keys name the inputs by object version (unique
 * per object and change). Control thread (the lock is for tests and tools). */
struct ctx_entry {
    SSL_CTX *ctx; /* the cache's reference */
    uint64_t used; /* the compile that last used it */
    uint64_t id;   /* this entry's, from ctx_ids: a key that comes back later gets a new one */
};
static pthread_mutex_t ctx_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tr_map ctx_cache;
static uint64_t ctx_compile;
static uint64_t ctx_ids;

static void key_objs(struct tr_buf *k, const struct tr_obj *const *objs)
{
    for (const struct tr_obj *const *o = objs; o && *o; o++) {
        tr_buf_put_u64(k, (*o)->version);
        tr_buf_putc(k, ',');
    }
    tr_buf_putc(k, '|');
}

/* The cached context for key k, with a reference for the caller, or NULL; *id gets its entry's
 * id when id is not NULL. */
static SSL_CTX *ctx_get(const struct tr_buf *k, uint64_t *id)
{
    struct ctx_entry *e = tr_map_get(&ctx_cache, k->data, k->len);
    if (!e)
        return NULL;
    e->used = ctx_compile;
    SSL_CTX_up_ref(e->ctx);
    if (id)
        *id = e->id;
    return e->ctx;
}

static SSL_CTX *ctx_put(const struct tr_buf *k, SSL_CTX *ctx, uint64_t *id)
{
    if (!ctx)
        return NULL;
    struct ctx_entry *e = tr_xcalloc(1, sizeof(*e));
    SSL_CTX_up_ref(ctx);
    e->ctx = ctx;
    e->used = ctx_compile;
    e->id = ++ctx_ids;
    if (id)
        *id = e->id;
    tr_map_put(&ctx_cache, k->data, k->len, e);
    return ctx;
}

static bool ctx_unused(void *ud, void *val)
{
    struct ctx_entry *e = val;
    if (e->used == ctx_compile)
        return false;
    SSL_CTX_free(e->ctx);
    free(e);
    return true;
}

static void ctx_sweep(void)
{
    tr_map_sweep(&ctx_cache, ctx_unused, NULL);
}

static SSL_CTX *server_ctx(const struct tr_ir_listener *l)
{
    struct tr_buf k;
    tr_buf_init(&k, 0);
    tr_buf_puts(&k, "s|");
    key_objs(&k, l->certs);
    key_objs(&k, l->client_cas);
    tr_buf_putc(&k, l->client_optional ? 'o' : 'r');
    SSL_CTX *ctx = ctx_get(&k, NULL);
    if (!ctx)
        ctx = ctx_put(&k, tr_tlsctx_server(l->certs, l->client_cas, l->client_optional), NULL);
    tr_buf_dispose(&k);
    return ctx;
}

static void key_strs(struct tr_buf *k, const char *const *v)
{
    for (; v && *v; v++) {
        tr_buf_put_u64(k, strlen(*v)); /* length-prefixed: no name can pass for two */
        tr_buf_putc(k, ':');
        tr_buf_puts(k, *v);
    }
    tr_buf_putc(k, '|');
}

/* A backend's client context, and the id of everything that shapes its connections: the key
 * holds all of tls (the CA bundles and client certificate by version), so a connection made
 * under one id is right for any backend with that id, and any change gives a new id. */
static SSL_CTX *client_ctx(const struct tr_ir_backend_tls *tls, uint64_t *id)
{
    struct tr_buf k;
    tr_buf_init(&k, 0);
    tr_buf_puts(&k, "c|");
    const char *sni[] = {tls->peer.sni, NULL};
    key_strs(&k, sni);
    key_strs(&k, tls->peer.names);
    key_strs(&k, tls->peer.uris);
    tr_buf_putc(&k, tls->system_cas ? 's' : '-');
    key_objs(&k, tls->cas);
    const struct tr_obj *cert[] = {tls->client_cert, NULL};
    key_objs(&k, cert);
    SSL_CTX *ctx = ctx_get(&k, id);
    if (!ctx)
        ctx = ctx_put(&k, tr_tlsctx_client(tls), id);
    tr_buf_dispose(&k);
    return ctx;
}

/* Backends under one policy share their description: it is compiled once. */
static void add_backend_tls(struct tr_snapshot *s, struct tr_ir_backend *b)
{
    struct tr_ir_backend_tls *tls = b->tls;
    if (!tls || tls->id)
        return;
    uint64_t id = 0;
    SSL_CTX *ctx = client_ctx(tls, &id);
    if (!ctx)
        return;
    if (tr_map_get(&s->backend_tls, (const char *)&id, sizeof(id))) {
        SSL_CTX_free(ctx); /* another description with the same inputs holds the reference */
    } else {
        tr_map_put(&s->backend_tls, (const char *)&id, sizeof(id), ctx);
    }
    tls->ctx = ctx;
    tls->id = id;
}

/* kind: 0 a Gateway's TCP socket, 1 its UDP one, 2 a mesh Service port. */
static int port_key(char *out, size_t cap, const char *addr, uint16_t port, int kind)
{
    int n = snprintf(out, cap, "%s|%u|%d", addr, port, kind);
    return n > 0 && (size_t)n < cap ? n : -1;
}

/* The current snapshot. Readers take a reference under the lock: loading the pointer and
 * bumping its count must be one step, or the last reference could drop in between. Workers
 * take it once per wake-up, not per request, so the lock is cold. */
static pthread_mutex_t cur_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tr_snapshot *cur;

/* Routers of the current snapshot by listener ("gw ns/name|set ns/name|listener"), for the
 * next compile: a listener whose rules did not change keeps its router (a change to one route
 * recompiles the routers of the listeners it is attached to, not every router). */
struct prev_router {
    const struct tr_ir_listener *l;
    struct tr_router *rt;
};

static int listener_key(char *out, size_t cap, const struct tr_ir_listener *l)
{
    if (l->mesh) {
        int n = snprintf(out, cap, "mesh|%s/%s|%s|%s", l->gw_ns, l->gw_name, l->name ? l->name : "",
                         l->mesh_client ? l->mesh_client : "");
        return n > 0 && (size_t)n < cap ? n : -1;
    }
    int n = snprintf(out, cap, "%s/%s|%s/%s|%s", l->gw_ns, l->gw_name, l->set_ns ? l->set_ns : "",
                     l->set_name ? l->set_name : "", l->name ? l->name : "");
    return n > 0 && (size_t)n < cap ? n : -1;
}

static void index_routers(const struct tr_snapshot *prev, struct tr_map *m, struct prev_router **store)
{
    const struct tr_ir *ir = tr_tx_ir(prev->tx);
    size_t n = 0;
    for (size_t i = 0; i < ir->nports + ir->nmesh; i++)
        n += ir->ports[i].nlisteners;
    *store = tr_xcalloc(n + 1, sizeof(**store));
    n = 0;
    for (size_t i = 0; i < ir->nports + ir->nmesh; i++) {
        for (size_t j = 0; j < ir->ports[i].nlisteners; j++) {
            char k[1200];
            int kl = listener_key(k, sizeof(k), ir->ports[i].listeners[j]);
            if (!prev->rt[i][j] || kl < 0)
                continue;
            (*store)[n] = (struct prev_router){ir->ports[i].listeners[j], prev->rt[i][j]};
            tr_map_put(m, k, (size_t)kl, &(*store)[n++]);
        }
    }
}

static struct tr_router *router_for(const struct tr_map *prev, const struct tr_ir_listener *l)
{
    char k[1200];
    int kl = listener_key(k, sizeof(k), l);
    const struct prev_router *p = kl > 0 ? tr_map_get(prev, k, (size_t)kl) : NULL;
    if (p && tr_router_serves(p->l, l))
        return tr_router_ref(p->rt);
    return tr_router_new(l);
}

struct tr_snapshot *tr_snapshot_new(struct tr_view *v, struct tr_tx *tx, uint64_t generation,
                                    tr_snapshot_bindable_fn *bindable, void *ud)
{
    struct tr_snapshot *s = tr_xcalloc(1, sizeof(*s));
    s->refs = 1;
    s->view = v;
    s->tx = tx;
    s->generation = generation;
    /* Compile what requests look up: ports by address, and a router per HTTP listener. */
    const struct tr_ir *ir = tr_tx_ir(tx);
    pthread_mutex_lock(&ctx_lock);
    ctx_compile++;
    struct tr_map prev_rt = {0};
    struct prev_router *prev_store = NULL;
    struct tr_snapshot *prev = tr_snapshot_acquire();
    if (prev)
        index_routers(prev, &prev_rt, &prev_store);
    /* A listener of a Gateway with several addresses is on several ports, and listeners of a
     * Gateway may share their rules (tr_ir_listener.rules_owner): one router serves them all
     * (the listener that owns the rules -> router). */
    struct tr_map made = {0};
    size_t nall = ir->nports + ir->nmesh; /* the mesh's Service ports follow, never bound */
    s->rt = tr_xcalloc(nall + 1, sizeof(*s->rt));
    s->bindable = tr_xcalloc(nall + 1, sizeof(bool));
    s->tls = tr_xcalloc(nall + 1, sizeof(*s->tls));
    for (size_t i = 0; i < nall; i++) {
        const struct tr_ir_port *p = &ir->ports[i];
        s->bindable[i] = !p->mesh && (!bindable || bindable(ud, p->addr, p->port, p->udp));
        char k[128];
        int kl = port_key(k, sizeof(k), p->addr, p->port, p->mesh ? 2 : p->udp);
        if (kl > 0)
            tr_map_put(&s->ports, k, (size_t)kl, (void *)(uintptr_t)(i + 1));
        s->rt[i] = tr_xcalloc(p->nlisteners + 1, sizeof(struct tr_router *));
        s->tls[i] = tr_xcalloc(p->nlisteners + 1, sizeof(SSL_CTX *));
        for (size_t j = 0; j < p->nlisteners; j++) {
            enum tr_proto pr = p->listeners[j]->proto;
            if (pr == TR_PROTO_HTTP || pr == TR_PROTO_HTTPS) {
                const struct tr_ir_listener *key = p->listeners[j]->nrules ? p->listeners[j]->rules_owner : p->listeners[j];
                struct tr_router *rt = tr_map_get(&made, (const char *)&key, sizeof(key));
                if (rt) {
                    s->rt[i][j] = tr_router_ref(rt);
                } else {
                    s->rt[i][j] = router_for(&prev_rt, p->listeners[j]);
                    tr_map_put(&made, (const char *)&key, sizeof(key), s->rt[i][j]);
                }
            }
            if (pr == TR_PROTO_HTTPS || (pr == TR_PROTO_TLS && !p->listeners[j]->tls_passthrough))
                s->tls[i][j] = server_ctx(p->listeners[j]);
            const struct tr_ir_listener *l = p->listeners[j];
            for (size_t r = 0; r < l->nrules; r++) {
                for (size_t b = 0; b < l->rules[r].nbackends; b++)
                    add_backend_tls(s, &l->rules[r].backends[b]);
                for (size_t m = 0; m < l->rules[r].nmirrors; m++)
                    add_backend_tls(s, &tr_ir_rule_mirrors(&l->rules[r])[m].backend);
            }
        }
    }
    ctx_sweep();
    pthread_mutex_unlock(&ctx_lock);
    tr_map_dispose(&made);
    tr_map_dispose(&prev_rt);
    free(prev_store);
    tr_snapshot_release(prev);
    return s;
}

const struct tr_ir_port *tr_snapshot_mesh_port(const struct tr_snapshot *s, const char *addr, uint16_t port)
{
    char k[128];
    int kl = port_key(k, sizeof(k), addr, port, 2);
    uintptr_t i = kl > 0 ? (uintptr_t)tr_map_get(&s->ports, k, (size_t)kl) : 0;
    return i ? &tr_tx_ir(s->tx)->ports[i - 1] : NULL;
}

const struct tr_ir_port *tr_snapshot_port(const struct tr_snapshot *s, const char *addr, uint16_t port, bool udp)
{
    char k[128];
    int kl = port_key(k, sizeof(k), addr, port, udp);
    uintptr_t i = kl > 0 ? (uintptr_t)tr_map_get(&s->ports, k, (size_t)kl) : 0;
    return i ? &tr_tx_ir(s->tx)->ports[i - 1] : NULL;
}

bool tr_snapshot_backend_tls_current(const struct tr_snapshot *s, uint64_t id)
{
    return tr_map_get(&s->backend_tls, (const char *)&id, sizeof(id)) != NULL;
}

struct ssl_ctx_st *tr_snapshot_tls(const struct tr_snapshot *s, const struct tr_ir_port *p, size_t i)
{
    return s->tls[p - tr_tx_ir(s->tx)->ports][i];
}

bool tr_snapshot_port_bindable(const struct tr_snapshot *s, const struct tr_ir_port *p)
{
    return s->bindable[p - tr_tx_ir(s->tx)->ports];
}

const struct tr_router *tr_snapshot_router(const struct tr_snapshot *s, const struct tr_ir_port *p, size_t i)
{
    size_t pi = (size_t)(p - tr_tx_ir(s->tx)->ports);
    return s->rt[pi][i];
}

void tr_snapshot_publish(struct tr_snapshot *s)
{
    pthread_mutex_lock(&cur_lock);
    struct tr_snapshot *old = cur;
    cur = s;
    pthread_mutex_unlock(&cur_lock);
    tr_snapshot_release(old);
}

void tr_snapshot_clear(void)
{
    tr_snapshot_publish(NULL);
    pthread_mutex_lock(&ctx_lock);
    ctx_compile++; /* no context is in use by the next compile: all go */
    ctx_sweep();
    tr_map_dispose(&ctx_cache);
    pthread_mutex_unlock(&ctx_lock);
}

struct tr_snapshot *tr_snapshot_acquire(void)
{
    pthread_mutex_lock(&cur_lock);
    struct tr_snapshot *s = cur ? tr_snapshot_ref(cur) : NULL;
    pthread_mutex_unlock(&cur_lock);
    return s;
}

struct tr_snapshot *tr_snapshot_ref(struct tr_snapshot *s)
{
    __atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
    return s;
}

/* The reaper (tr_snapshot_reaper): snapshots whose last reference went on another thread wait
 * in dead for it. */
static pthread_mutex_t reap_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tr_snapshot *dead;
static int reap_fd = -1;
static pthread_t reaper;

static void snapshot_free(struct tr_snapshot *s);

void tr_snapshot_reaper(int fd)
{
    pthread_mutex_lock(&reap_lock);
    reap_fd = fd;
    reaper = pthread_self();
    pthread_mutex_unlock(&reap_lock);
    if (fd < 0)
        tr_snapshot_reap();
}

size_t tr_snapshot_reap(void)
{
    pthread_mutex_lock(&reap_lock);
    struct tr_snapshot *s = dead;
    dead = NULL;
    pthread_mutex_unlock(&reap_lock);
    size_t n = 0;
    while (s) {
        struct tr_snapshot *next = s->next_dead;
        snapshot_free(s);
        s = next;
        n++;
    }
    return n;
}

void tr_snapshot_release(struct tr_snapshot *s)
{
    if (!s || __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    pthread_mutex_lock(&reap_lock);
    if (reap_fd >= 0 && !pthread_equal(pthread_self(), reaper)) {
        bool first = !dead;
        s->next_dead = dead;
        dead = s;
        int fd = reap_fd;
        pthread_mutex_unlock(&reap_lock);
        if (first) {
            uint64_t one = 1;
            /* Full (2^64 - 2 wakes unread) or interrupted: the reaper is awake anyway. */
            (void)!write(fd, &one, sizeof(one));
        }
        return;
    }
    pthread_mutex_unlock(&reap_lock);
    snapshot_free(s);
}

static void snapshot_free(struct tr_snapshot *s)
{
    const struct tr_ir *ir = tr_tx_ir(s->tx);
    for (size_t i = 0; i < ir->nports + ir->nmesh; i++) {
        for (size_t j = 0; j < ir->ports[i].nlisteners; j++) {
            tr_router_free(s->rt[i][j]);
            SSL_CTX_free(s->tls[i][j]);
        }
        free(s->rt[i]);
        free(s->tls[i]);
    }
    free(s->rt);
    free(s->bindable);
    free(s->tls);
    size_t it = 0;
    struct tr_map_slot *sl;
    while ((sl = tr_map_next(&s->backend_tls, &it)))
        SSL_CTX_free(sl->val);
    tr_map_dispose(&s->backend_tls);
    tr_map_dispose(&s->ports);
    tr_tx_free(s->tx);
    tr_view_free(s->view);
    free(s);
}

const struct tr_ir *tr_snapshot_ir(const struct tr_snapshot *s)
{
    return tr_tx_ir(s->tx);
}

const struct tr_view *tr_snapshot_view(const struct tr_snapshot *s)
{
    return s->view;
}

const struct tr_tx *tr_snapshot_tx(const struct tr_snapshot *s)
{
    return s->tx;
}

uint64_t tr_snapshot_generation(const struct tr_snapshot *s)
{
    return s->generation;
}
