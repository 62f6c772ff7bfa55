/* Gateways on the same address. Each Gateway has an address of its own from the pool unless
 * spec.addresses names one, and two Gateways may name the same. torii does not merge Gateways
 * (the spec allows it only when all listeners of all of them are compatible, Listeners docs,
 * "Compatible Listeners"), so one Gateway holds each socket (address, port, transport): the
 * oldest by creationTimestamp, then namespace/name, the order the spec settles other conflicts
 * by. The others' listeners are not bound there, and their status names the holder: a
 * connection to that address and port always reaches the holder's listeners, never another
 * Gateway's put on the same socket (an HTTP listener behind an HTTPS one's TLS), nor a socket
 * the kernel picks at random among several bound with SO_REUSEPORT. */
#include "translate/internal.h"
#include "base/map.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *tx_addr_canon(const char *addr, char *out, size_t cap, int *family)
{
    unsigned char bin[sizeof(struct in6_addr)];
    *family = 0;
    if (inet_pton(AF_INET, addr, bin) == 1 && inet_ntop(AF_INET, bin, out, (socklen_t)cap))
        *family = AF_INET;
    else if (inet_pton(AF_INET6, addr, bin) == 1 && inet_ntop(AF_INET6, bin, out, (socklen_t)cap))
        *family = AF_INET6;
    else
        snprintf(out, cap, "%s", addr);
    return out;
}

static void dispose_map(void *m)
{
    tr_map_dispose(m);
}

void tx_named_addresses(struct tx *t)
{
    t->named = TR_ANEW(t->run_a, struct tr_map);
    tr_arena_on_reset(t->run_a, dispose_map, t->named);
    for (size_t i = 0; i < t->v->n[TR_KIND_GATEWAY]; i++) {
        const struct gw *g = &t->gws[i];
        if (!g->ours)
            continue;
        const struct tr_node *addrs = tr_node_get(g->obj->spec, "addresses");
        for (size_t j = 0; j < tr_node_len(addrs); j++) {
            const struct tr_node *a = tr_node_at(addrs, j);
            const char *type = str_or(tr_node_gets(a, "type"), "IPAddress");
            const char *value = tr_node_gets(a, "value");
            if (strcmp(type, "IPAddress") != 0 || !value || !value[0])
                continue;
            char buf[256];
            int family;
            tx_addr_canon(value, buf, sizeof(buf), &family);
            tr_map_put(t->named, buf, strlen(buf), (void *)g);
        }
    }
}

bool tx_address_named(void *ctx, const char *addr)
{
    const struct tx *t = ctx;
    char buf[256];
    int family;
    tx_addr_canon(addr, buf, sizeof(buf), &family);
    return tr_map_get(t->named, buf, strlen(buf)) != NULL;
}

/* One listener's need for one address of its Gateway. */
struct claim {
    const char *addr; /* canonical */
    int family;
    bool any; /* the unspecified address: every address of its family on that port */
    bool udp;
    uint16_t port;
    size_t rank; /* the Gateway's place in precedence */
    struct lst *l;
    size_t a; /* index in the Gateway's addrs */
};

static int cmp_claim(const void *x, const void *y)
{
    const struct claim *p = x, *q = y;
    if (p->port != q->port)
        return p->port < q->port ? -1 : 1;
    if (p->udp != q->udp)
        return p->udp ? 1 : -1;
    if (p->family != q->family)
        return p->family < q->family ? -1 : 1;
    if (p->rank != q->rank)
        return p->rank < q->rank ? -1 : 1;
    return strcmp(p->addr, q->addr);
}

static int cmp_gw(const void *x, const void *y)
{
    const struct gw *p = *(struct gw *const *)x, *q = *(struct gw *const *)y;
    if (p->obj->created != q->obj->created)
        return p->obj->created < q->obj->created ? -1 : 1;
    return p < q ? -1 : p > q; /* t->gws is in namespace/name order, as the view */
}

static bool served(const struct lst *l)
{
    return l->accepted && l->refs_ok;
}

static void add_claims(const struct tx *t, struct gw *g, size_t rank, const char **canon, const int *family,
                       struct lst *l, struct claim *out, size_t *n)
{
    int port = tx_bind_port(t, l);
    if (!served(l) || !port)
        return;
    for (size_t a = 0; a < g->naddrs; a++) {
        bool any = (family[a] == AF_INET && strcmp(canon[a], "0.0.0.0") == 0) ||
                   (family[a] == AF_INET6 && strcmp(canon[a], "::") == 0);
        out[(*n)++] = (struct claim){canon[a], family[a], any, l->proto == TR_PROTO_UDP, (uint16_t)port, rank, l, a};
    }
}

static void lose(struct tx *t, struct claim *c, const struct gw *by, const char *addr)
{
    struct lst *l = c->l;
    if (!l->held)
        l->held = TR_ANEWN(t->a, struct tx_held, l->gw->naddrs);
    l->held[c->a] = (struct tx_held){by, addr};
}

void tx_socket_holders(struct tx *t)
{
    size_t ngw = t->v->n[TR_KIND_GATEWAY], nclaims = 0;
    struct gw **order = tr_xcalloc(ngw + 1, sizeof(*order));
    size_t nord = 0;
    for (size_t i = 0; i < ngw; i++) {
        struct gw *g = &t->gws[i];
        if (!g->ours || !g->accepted || !g->naddrs)
            continue;
        order[nord++] = g;
        size_t nl = g->nl;
        for (size_t s = 0; s < g->nsets; s++)
            nl += g->sets[s]->nl;
        nclaims += nl * g->naddrs;
    }
    qsort(order, nord, sizeof(*order), cmp_gw);
    struct claim *c = tr_xcalloc(nclaims + 1, sizeof(*c));
    size_t n = 0;
    for (size_t r = 0; r < nord; r++) {
        struct gw *g = order[r];
        const char **canon = TR_ANEWN(t->a, const char *, g->naddrs);
        int *family = TR_ANEWN(t->a, int, g->naddrs);
        for (size_t a = 0; a < g->naddrs; a++) {
            char buf[256];
            canon[a] = tr_arena_strdup(t->a, tx_addr_canon(g->addrs[a], buf, sizeof(buf), &family[a]));
        }
        for (size_t i = 0; i < g->nl; i++)
            add_claims(t, g, r, canon, family, &g->l[i], c, &n);
        for (size_t s = 0; s < g->nsets; s++)
            for (size_t i = 0; i < g->sets[s]->nl; i++)
                add_claims(t, g, r, canon, family, &g->sets[s]->l[i], c, &n);
    }
    qsort(c, n, sizeof(*c), cmp_claim);
    /* Claims on one port, transport and family, oldest Gateway first: a claim is granted unless
     * an older Gateway was granted the same address, or the unspecified address (which takes
     * every connection to that port no more specific socket takes), or, for a claim on the
     * unspecified address, any address at all. A Gateway never loses to itself (its own
     * listeners' conflicts are settled per Gateway, resolve_conflicts). */
    struct tr_map exact = {0};
    for (size_t i = 0, end; i < n; i = end) {
        for (end = i + 1; end < n && c[end].port == c[i].port && c[end].udp == c[i].udp &&
                          c[end].family == c[i].family;
             end++)
            ;
        const struct claim *first = NULL, *any = NULL; /* granted: the oldest, the unspecified */
        for (size_t k = i; k < end; k++) {
            struct claim *ck = &c[k];
            const struct gw *g = ck->l->gw;
            if (any && any->l->gw != g) {
                lose(t, ck, any->l->gw, any->addr);
                continue;
            }
            if (ck->any && first && first->l->gw != g) {
                lose(t, ck, first->l->gw, first->addr);
                continue;
            }
            char key[300];
            int kl = snprintf(key, sizeof(key), "%u|%d|%s", ck->port, ck->udp, ck->addr);
            const struct claim *h = kl > 0 && (size_t)kl < sizeof(key) ? tr_map_get(&exact, key, (size_t)kl) : NULL;
            if (h && h->l->gw != g) {
                lose(t, ck, h->l->gw, h->addr);
                continue;
            }
            if (!first)
                first = ck;
            if (ck->any && !any)
                any = ck;
            if (!h && kl > 0 && (size_t)kl < sizeof(key))
                tr_map_put(&exact, key, (size_t)kl, ck);
        }
    }
    tr_map_dispose(&exact);
    free(c);
    free(order);
}

const char *tx_socket_held(struct tx *t, const struct lst *l, size_t a)
{
    if (!l->held || !l->held[a].by)
        return NULL;
    const struct gw *g = l->gw, *by = l->held[a].by;
    const char *proto = l->proto == TR_PROTO_UDP ? "udp" : "tcp";
    char buf[256];
    int family;
    /* One of the two is the unspecified address when they differ. */
    const char *what = strcmp(tx_addr_canon(g->addrs[a], buf, sizeof(buf), &family), l->held[a].addr) == 0
                           ? "is held"
                           : tr_arena_printf(t->a, "overlaps %s %s:%d, held", proto, l->held[a].addr, tx_bind_port(t, l));
    return tr_arena_printf(t->a, "%s %s:%d %s by Gateway %s/%s, which %s", proto, g->addrs[a], tx_bind_port(t, l), what,
                           by->obj->ns, by->obj->name,
                           by->obj->created < g->obj->created
                               ? "was created first"
                               : "has the same creationTimestamp and comes first by namespace/name");
}
