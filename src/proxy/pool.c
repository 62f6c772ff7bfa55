/* Idle upstream connections, per worker and per endpoint (keep-alive reuse). */
#include "proxy/internal.h"
#include "proxy/upstream.h"

#include <string.h>

struct upc *tr_pool_take(struct worker *w, const char *key)
{
    size_t kl = strlen(key);
    struct upc *u = tr_map_get(&w->idle, key, kl);
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
