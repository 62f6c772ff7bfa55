/* Idle upstream connections, per worker, by what shaped them (keep-alive reuse). */
#include "proxy/h2.h"
#include "proxy/internal.h"
#include "proxy/upstream.h"
#include "base/mem.h"
#include "ir/ir.h"
#include "snapshot/snapshot.h"

#include <stdlib.h>
#include <string.h>

/* Appends s (length n) at out + *at when it fits in cap with the final NUL. */
static bool put(char *out, size_t cap, size_t *at, const char *s, size_t n)
{
    if (*at + n >= cap)
        return false;
    memcpy(out + *at, s, n);
    *at += n;
    return true;
}

/* Appends the decimal v at out + *at when it fits (see put). */
static bool put_u64(char *out, size_t cap, size_t *at, uint64_t v)
{
    char d[20];
    const char *s = tr_fmt_u64(d, v);
    return put(out, cap, at, s, (size_t)(d + sizeof(d) - s));
}

bool tr_pool_key(char *out, size_t cap, const struct tr_ir_endpoint *ep, uint64_t tls_id, bool h2, uint64_t ns_id)
{
    /* Per request: no printf, and a number formatted only when it is part of the key. */
    size_t at = 0;
    bool ok = put(out, cap, &at, ep->addr, strlen(ep->addr)) && put(out, cap, &at, ":", 1) &&
              put_u64(out, cap, &at, ep->port) &&
              (!tls_id || (put(out, cap, &at, "|t", 2) && put_u64(out, cap, &at, tls_id))) &&
              (!ns_id || (put(out, cap, &at, "|n", 2) && put_u64(out, cap, &at, ns_id))) &&
              (!h2 || put(out, cap, &at, "|h2", 3));
    out[ok ? at : 0] = '\0';
    return ok;
}

bool tr_pool_current(const struct worker *w, const struct upc *u)
{
    if (!u->key[0])
        return false; /* made without a key (tr_pool_key failed): never shared */
    if (w->drain >= TR_DRAIN_CLOSED)
        return false; /* draining, listeners closed: no request will come to reuse it */
    return !u->tls_id || (w->snap && tr_snapshot_backend_tls_current(w->snap, u->tls_id));
}

void tr_pool_retire(struct worker *w)
{
    /* A key holds one tls id: its whole list goes or stays. Closing edits the map, so the
     * connections to close are gathered first. */
    size_t n = 0, cap = 0, it = 0;
    struct upc **gone = NULL;
    struct tr_map_slot *sl;
    while ((sl = tr_map_next(&w->idle, &it))) {
        struct upc *head = sl->val;
        if (tr_pool_current(w, head))
            continue;
        /* HTTP/2 carriers (a key holds carriers only, or idle connections only) may still
         * carry streams: tr_h2u_conn_retire closes them once empty. */
        for (struct upc *u = head; u; u = u->next_idle) {
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                gone = tr_xrealloc(gone, cap * sizeof(*gone));
            }
            gone[n++] = u;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (gone[i]->h2c)
            tr_h2u_conn_retire(gone[i]);
        else
            gone[i]->link.ops->close(&gone[i]->link);
    }
    free(gone);
}

struct upc *tr_pool_peek(struct worker *w, const char *key)
{
    size_t kl = strlen(key);
    return kl ? tr_map_get(&w->idle, key, kl) : NULL;
}

struct upc *tr_pool_take(struct worker *w, const char *key)
{
    size_t kl = strlen(key);
    struct upc *u = kl ? tr_map_get(&w->idle, key, kl) : NULL;
    if (!u)
        return NULL;
    if (u->next_idle)
        tr_map_put(&w->idle, key, kl, u->next_idle);
    else
        tr_map_del(&w->idle, key, kl);
    u->next_idle = NULL;
    u->idle = false;
    return u;
}

void tr_pool_put(struct worker *w, struct upc *u)
{
    size_t kl = strlen(u->key);
    u->next_idle = tr_map_get(&w->idle, u->key, kl);
    u->idle = true;
    tr_map_put(&w->idle, u->key, kl, u);
}

void tr_pool_remove(struct worker *w, struct upc *u)
{
    if (!u->idle)
        return;
    size_t kl = strlen(u->key);
    struct upc *head = tr_map_get(&w->idle, u->key, kl);
    if (head == u) {
        if (u->next_idle)
            tr_map_put(&w->idle, u->key, kl, u->next_idle);
        else
            tr_map_del(&w->idle, u->key, kl);
    } else {
        for (struct upc *p = head; p; p = p->next_idle) {
            if (p->next_idle == u) {
                p->next_idle = u->next_idle;
                break;
            }
        }
    }
    u->next_idle = NULL;
    u->idle = false;
}
