#include "ir/snapshot.h"
#include "base/map.h"
#include "base/mem.h"
#include "ir/ir.h"
#include "net/tls.h"
#include "proxy/router.h"
#include "store/store.h"
#include "translate/translate.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

struct tr_snapshot {
    int refs; /* atomic */
    uint64_t generation;
    struct tr_view *view;
    struct tr_tx *tx;
    struct tr_map ports;       /* "addr|port|udp" -> index + 1 in ir->ports */
    struct tr_router ***rt;    /* per port, per listener */
    bool *bindable;            /* per port */
    SSL_CTX ***tls;            /* per port, per listener: HTTPS listeners' server contexts */
};

static int port_key(char *out, size_t cap, const char *addr, uint16_t port, bool udp)
{
    int n = snprintf(out, cap, "%s|%u|%d", addr, port, udp);
    return n > 0 && (size_t)n < cap ? n : -1;
}

/* The current snapshot. Readers take a reference under the lock: loading the pointer and
 * bumping its count must be one step, or the last reference could drop in between. Workers
 * take it once per wake-up, not per request, so the lock is cold. */
static pthread_mutex_t cur_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tr_snapshot *cur;

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
    s->rt = tr_xcalloc(ir->nports + 1, sizeof(*s->rt));
    s->bindable = tr_xcalloc(ir->nports + 1, sizeof(bool));
    s->tls = tr_xcalloc(ir->nports + 1, sizeof(*s->tls));
    for (size_t i = 0; i < ir->nports; i++) {
        const struct tr_ir_port *p = &ir->ports[i];
        s->bindable[i] = !bindable || bindable(ud, p->addr, p->port, p->udp);
        char k[128];
        int kl = port_key(k, sizeof(k), p->addr, p->port, p->udp);
        if (kl > 0)
            tr_map_put(&s->ports, k, (size_t)kl, (void *)(uintptr_t)(i + 1));
        s->rt[i] = tr_xcalloc(p->nlisteners + 1, sizeof(struct tr_router *));
        s->tls[i] = tr_xcalloc(p->nlisteners + 1, sizeof(SSL_CTX *));
        for (size_t j = 0; j < p->nlisteners; j++) {
            enum tr_proto pr = p->listeners[j]->proto;
            if (pr == TR_PROTO_HTTP || pr == TR_PROTO_HTTPS)
                s->rt[i][j] = tr_router_new(p->listeners[j]);
            if (pr == TR_PROTO_HTTPS)
                s->tls[i][j] = tr_tls_server_ctx(p->listeners[j]->certs);
        }
    }
    return s;
}

const struct tr_ir_port *tr_snapshot_port(const struct tr_snapshot *s, const char *addr, uint16_t port, bool udp)
{
    char k[128];
    int kl = port_key(k, sizeof(k), addr, port, udp);
    uintptr_t i = kl > 0 ? (uintptr_t)tr_map_get(&s->ports, k, (size_t)kl) : 0;
    return i ? &tr_tx_ir(s->tx)->ports[i - 1] : NULL;
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

void tr_snapshot_release(struct tr_snapshot *s)
{
    if (!s || __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    const struct tr_ir *ir = tr_tx_ir(s->tx);
    for (size_t i = 0; i < ir->nports; i++) {
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

uint64_t tr_snapshot_generation(const struct tr_snapshot *s)
{
    return s->generation;
}
