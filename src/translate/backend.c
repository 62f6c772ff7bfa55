/* backendRefs: Services resolved to their ports and endpoints (EndpointSlices, or for an
 * ExternalName Service the addresses its DNS name resolves to), with the reasons the spec gives
 * when they do not resolve. */
#include "translate/internal.h"
#include "base/map.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* EndpointSlices by "ns/service" (label kubernetes.io/service-name), built once per world:
 * the indexes into the view's EndpointSlices stay right while no EndpointSlice changes. */
static struct tr_map *slice_index(struct tx *t)
{
    static const char key[] = "kubernetes.io/service-name";
    struct tr_map *m = t->w->slices;
    if (m)
        return m;
    struct tr_arena *wa = t->w->a;
    m = TR_ANEW(wa, struct tr_map);
    m->borrow_keys = true; /* keys in the world's arena: no small block of its own each */
    tr_arena_on_reset(wa, (tr_arena_cleanup_cb *)tr_map_dispose, m);
    for (size_t i = 0; i < t->v->n[TR_KIND_ENDPOINTSLICE]; i++) {
        struct tr_obj *s = t->v->objs[TR_KIND_ENDPOINTSLICE][i];
        const char *svc = tr_node_gets(tr_node_path(s->root, "metadata.labels"), key);
        if (!svc)
            continue;
        char k[600];
        int kl = snprintf(k, sizeof(k), "%s/%s", s->ns, svc);
        if (kl <= 0 || (size_t)kl >= sizeof(k))
            continue;
        struct tr_node *list = tr_map_get(m, k, (size_t)kl);
        if (!list) {
            list = tr_node_new(wa, TR_N_SEQ);
            tr_map_put(m, tr_arena_strndup(wa, k, (size_t)kl), (size_t)kl, list);
        }
        struct tr_node *ref = tr_node_new(wa, TR_N_INT);
        ref->u.i = (int64_t)i;
        tr_node_push(wa, list, ref);
    }
    t->w->slices = m;
    return m;
}

struct eps {
    struct tr_ir_endpoint *v;
    size_t n;
    uint64_t serial; /* the world's run that last used it (tx_world.used) */
};

/* Endpoints of service svc for its port sp: slice ports are matched by the service port's name.
 * Resolved once per (Service, port) and world; backends share the (immutable) array. */
static void endpoints_resolve(struct tx *t, const struct tr_obj *svc, const struct tr_node *sp, struct eps *out);

static const struct eps *endpoints(struct tx *t, const struct tr_obj *svc, const struct tr_node *sp, uint16_t port)
{
    struct tx_world *w = t->w;
    if (!w->eps) {
        w->eps = TR_ANEW(w->a, struct tr_map);
        w->eps->borrow_keys = true; /* keys in the world's arena */
        tr_arena_on_reset(w->a, (tr_arena_cleanup_cb *)tr_map_dispose, w->eps);
    }
    char k[600];
    int kl = snprintf(k, sizeof(k), "%s/%s:%u", svc->ns, svc->name, port);
    bool keyed = kl > 0 && (size_t)kl < sizeof(k);
    struct eps *e = keyed ? tr_map_get(w->eps, k, (size_t)kl) : NULL;
    if (e)
        return e;
    e = TR_ANEW(w->a, struct eps);
    endpoints_resolve(t, svc, sp, e);
    if (keyed)
        tr_map_put(w->eps, tr_arena_strndup(w->a, k, (size_t)kl), (size_t)kl, e);
    return e;
}

/* The most addresses of one DNS name a backend takes. */
#define MAX_RESOLVED 64

/* An ExternalName backend: the addresses of its name as the resolver has them now, copied into
 * the run (its answer changes without the world changing, so nothing is cached here). */
static void external_endpoints(struct tx *t, const char *name, struct tr_ir_backend *b)
{
    b->eps = NULL;
    b->neps = 0;
    if (!t->in->resolve)
        return;
    const char *addrs[MAX_RESOLVED];
    size_t n = t->in->resolve(t->in->ud, name, addrs, MAX_RESOLVED);
    if (n > MAX_RESOLVED)
        n = MAX_RESOLVED;
    if (!n)
        return;
    b->eps = TR_ANEWN(t->a, struct tr_ir_endpoint, n);
    for (size_t i = 0; i < n; i++)
        b->eps[i] = (struct tr_ir_endpoint){tr_arena_strdup(t->a, addrs[i]), b->ref->port, true};
    b->neps = (uint32_t)n;
}

struct tx_ports {
    int refs; /* atomic */
    uint64_t stamp;
    struct tr_arena *a;
    struct tr_map map; /* (Service, port node) pointers -> struct tx_backend_src, keys in a */
};

struct tx_ports *tx_ports_new(uint64_t stamp)
{
    struct tx_ports *p = tr_xcalloc(1, sizeof(*p));
    p->refs = 1;
    p->stamp = stamp;
    p->a = tr_arena_new(16 * 1024);
    p->map.borrow_keys = true;
    return p;
}

struct tx_ports *tx_ports_ref(struct tx_ports *p)
{
    __atomic_add_fetch(&p->refs, 1, __ATOMIC_RELAXED);
    return p;
}

void tx_ports_release(struct tx_ports *p)
{
    if (!p || __atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    tr_map_dispose(&p->map);
    tr_arena_free(p->a);
    free(p);
}

uint64_t tx_ports_stamp(const struct tx_ports *p)
{
    return p->stamp;
}

/* The record of Service svc's port sp, made on first use. */
struct tx_backend_src *tx_port_src(struct tx *t, const struct tr_obj *svc, const struct tr_node *sp)
{
    struct tx_ports *p = t->ports;
    const void *key[2] = {svc, sp};
    struct tx_backend_src *s = tr_map_get(&p->map, (const char *)key, sizeof(key));
    if (s)
        return s;
    s = TR_ANEW(p->a, struct tx_backend_src);
    s->svc = svc;
    s->sp = sp;
    void *kept = tr_arena_alloc(p->a, sizeof(key));
    memcpy(kept, key, sizeof(key));
    tr_map_put(&p->map, kept, sizeof(key), s);
    return s;
}

void tx_backend_endpoints(struct tx *t, struct tx_backend_src *src, struct tr_ir_backend *b, bool ext_allowed)
{
    if (!src) {
        const char *ext = b->ref->invalid ? NULL : tr_ir_ref_hostname(b->ref);
        if (!ext)
            return; /* invalid: no endpoints */
        if (ext_allowed) {
            external_endpoints(t, ext, b);
        } else {
            b->invalid = true;
            b->eps = NULL;
            b->neps = 0;
        }
        return;
    }
    if (src->gen != t->w->gen) {
        src->cached = endpoints(t, src->svc, src->sp, b->ref->port);
        src->gen = t->w->gen;
    }
    struct eps *e = (struct eps *)(uintptr_t)src->cached; /* the world's, this thread's */
    if (e->serial != t->w->serial) {
        e->serial = t->w->serial;
        t->w->used++;
    }
    b->eps = e->v;
    b->neps = (uint32_t)e->n;
}

static void endpoints_resolve(struct tx *t, const struct tr_obj *svc, const struct tr_node *sp, struct eps *out)
{
    struct tr_map *idx = slice_index(t);
    char k[600];
    int kl = snprintf(k, sizeof(k), "%s/%s", svc->ns, svc->name);
    const struct tr_node *list = kl > 0 && (size_t)kl < sizeof(k) ? tr_map_get(idx, k, (size_t)kl) : NULL;
    const char *pname = str_or(tr_node_gets(sp, "name"), "");
    size_t cap = 0;
    for (size_t i = 0; i < tr_node_len(list); i++) {
        const struct tr_obj *s = t->v->objs[TR_KIND_ENDPOINTSLICE][tr_node_at(list, i)->u.i];
        const struct tr_node *eps = tr_node_get(s->root, "endpoints");
        for (size_t j = 0; j < tr_node_len(eps); j++)
            cap += tr_node_len(tr_node_get(tr_node_at(eps, j), "addresses"));
    }
    struct tr_ir_endpoint *v = TR_ANEWN(t->w->a, struct tr_ir_endpoint, cap + 1);
    size_t n = 0;
    for (size_t i = 0; i < tr_node_len(list); i++) {
        const struct tr_obj *s = t->v->objs[TR_KIND_ENDPOINTSLICE][tr_node_at(list, i)->u.i];
        const struct tr_node *ports = tr_node_get(s->root, "ports");
        int64_t port = -1;
        for (size_t j = 0; j < tr_node_len(ports); j++) {
            const struct tr_node *p = tr_node_at(ports, j);
            if (strcmp(str_or(tr_node_gets(p, "name"), ""), pname) == 0)
                port = tr_node_geti(p, "port", -1);
        }
        if (port < 0) {
            /* No named match: a Service without a selector may list its port number directly. */
            if (tr_node_len(ports) == 0)
                port = tr_node_geti(sp, "targetPort", tr_node_geti(sp, "port", -1));
            if (port < 0)
                continue;
        }
        const struct tr_node *eps = tr_node_get(s->root, "endpoints");
        for (size_t j = 0; j < tr_node_len(eps); j++) {
            const struct tr_node *ep = tr_node_at(eps, j);
            const struct tr_node *cond = tr_node_get(ep, "conditions");
            bool ready = tr_node_getb(cond, "ready", true) && !tr_node_getb(cond, "terminating", false);
            const struct tr_node *addrs = tr_node_get(ep, "addresses");
            for (size_t k2 = 0; k2 < tr_node_len(addrs); k2++) {
                const struct tr_node *ad = tr_node_at(addrs, k2);
                if (ad->type != TR_N_STR)
                    continue;
                v[n++] = (struct tr_ir_endpoint){ad->u.s, (uint16_t)port, ready};
            }
        }
    }
    out->v = v;
    out->n = n;
}

/* Is s a DNS name an ExternalName Service may hold: labels of letters, digits and hyphens (not
 * at either end), 63 characters at most each, 253 in all, an optional final dot (RFC 1123 2.1,
 * as the API server checks spec.externalName)? */
static bool dns_name(const char *s)
{
    size_t len = strlen(s), label = 0;
    if (len && s[len - 1] == '.')
        len--;
    if (!len || len > 253)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '.') {
            if (!label || s[i - 1] == '-')
                return false;
            label = 0;
            continue;
        }
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!(alnum || (c == '-' && label)) || ++label > 63)
            return false;
    }
    return label && s[len - 1] != '-';
}

_Static_assert(sizeof(struct tr_ir_backend_ref) % _Alignof(struct tx_backend_src *) == 0,
              "tx_backends puts the sources right after the refs");

/* m in t's arena, or NULL when it holds what a plain Service ref has (most refs). */
static const struct tr_ir_backend_more *kept_more(struct tx *t, const struct tr_ir_backend_more *m)
{
    if (strcmp(m->kind, "Service") == 0 && !m->app_protocol && !m->filters && !m->hostname)
        return NULL;
    struct tr_ir_backend_more *k = TR_ANEW(t->a, struct tr_ir_backend_more);
    *k = *m;
    return k;
}

void tx_backends(struct tx *t, const struct tr_obj *route, const struct tr_node *refs, const char *where,
                 struct ir_backends *out, struct tx_refs *res)
{
    size_t n = tr_node_len(refs);
    /* Both arrays in one block (sizeof a ref is a multiple of a pointer's). */
    char *blk = n ? tr_arena_zalloc(t->a, n * (sizeof(*out->v) + sizeof(*out->src))) : NULL;
    out->v = (struct tr_ir_backend_ref *)(void *)blk;
    out->src = n ? (struct tx_backend_src **)(void *)(blk + n * sizeof(*out->v)) : NULL;
    out->n = 0;
    for (size_t i = 0; i < n; i++) {
        const struct tr_node *r = tr_node_at(refs, i);
        struct tr_ir_backend_ref *b = &out->v[out->n++];
        const char *group = str_or(tr_node_gets(r, "group"), "");
        struct tr_ir_backend_more more = {.kind = str_or(tr_node_gets(r, "kind"), "Service")};
        b->name = str_or(tr_node_gets(r, "name"), "");
        b->ns = str_or(tr_node_gets(r, "namespace"), route->ns);
        b->port = (uint16_t)tr_node_geti(r, "port", 0);
        b->weight = (uint32_t)tr_node_geti(r, "weight", 1);
        more.filters = tx_filters_compile(t->a, tr_node_get(r, "filters"));
        enum tr_reason why = TR_R__COUNT;
        const char *m = NULL;
        const struct tr_obj *svc = NULL;
        const struct tr_node *sp = NULL;
        const char *ext = NULL;
        if (group[0] || strcmp(more.kind, "Service") != 0) {
            why = TR_R_INVALID_KIND;
            m = tr_arena_printf(t->msgs, "%s: kind %s%s%s is not supported (core Service is)", where, more.kind,
                                group[0] ? "." : "", group);
        } else if (strcmp(b->ns, route->ns) != 0 && !t->mesh_refs &&
                   !tx_refgrant_allows(t, TR_GW_GROUP, tr_kind_name(route->kind), route->ns, "", "Service", b->ns,
                                       b->name)) {
            why = TR_R_REF_NOT_PERMITTED;
            m = tr_arena_printf(t->msgs, "%s: Service %s/%s is not permitted by any ReferenceGrant", where, b->ns,
                                b->name);
        } else if (!(svc = tr_view_find(t->v, TR_KIND_SERVICE, b->ns, b->name))) {
            why = TR_R_BACKEND_NOT_FOUND;
            m = tr_arena_printf(t->msgs, "%s: Service %s/%s not found", where, b->ns, b->name);
        } else {
            const struct tr_node *ports = tr_node_path(svc->spec, "ports");
            for (size_t j = 0; j < tr_node_len(ports) && !sp; j++)
                if (tr_node_geti(tr_node_at(ports, j), "port", -1) == b->port)
                    sp = tr_node_at(ports, j);
            const char *type = tr_node_gets(svc->spec, "type");
            /* An ExternalName Service is a DNS name (a CNAME in the cluster's DNS): its ports,
             * if it lists any, forward nothing, and the backendRef's port is the one
             * connected to at the addresses the name resolves to. */
            if (type && strcmp(type, "ExternalName") == 0) {
                ext = str_or(tr_node_gets(svc->spec, "externalName"), "");
                if (!dns_name(ext)) {
                    why = TR_R_BACKEND_NOT_FOUND;
                    m = tr_arena_printf(t->msgs, "%s: Service %s/%s is of type ExternalName without a DNS name in "
                                              "spec.externalName",
                                        where, b->ns, b->name);
                }
            } else if (!sp) {
                why = TR_R_BACKEND_NOT_FOUND;
                m = tr_arena_printf(t->msgs, "%s: Service %s/%s has no port %u", where, b->ns, b->name, b->port);
            }
        }
        if (why != TR_R__COUNT) {
            b->invalid = true;
            tx_refs_note(res, why, m, false);
            b->more = kept_more(t, &more);
            continue;
        }
        more.app_protocol = tr_node_gets(sp, "appProtocol");
        if (ext) {
            /* Valid or not by the class of the Gateway that serves it (tx_backend_endpoints).
             * Where it is not allowed it is "a reference to an unknown or unsupported Group
             * and/or Kind" (InvalidKind, RouteConditionReason docs): BackendRef.kind's own
             * docs set ExternalName Services apart as a kind of their own ("Support:
             * Implementation-specific (Services with type ExternalName)"), and the Service does
             * exist (BackendNotFound would say it does not). */
            more.hostname = ext;
            out->src[out->n - 1] = NULL; /* its name is the ref's hostname */
            if (res->why[1] == TR_R__COUNT)
                tx_refs_note(res, TR_R_INVALID_KIND,
                             tr_arena_printf(t->msgs, "%s: Service %s/%s is of type ExternalName, which this Gateway's "
                                                   "GatewayClass does not allow (to allow them, set %s: Allow in "
                                                   "the ConfigMap its parametersRef names)",
                                             where, b->ns, b->name, TR_PARAM_EXTERNAL_NAME),
                             true);
        } else {
            out->src[out->n - 1] = tx_port_src(t, svc, sp);
        }
        b->more = kept_more(t, &more);
    }
}
