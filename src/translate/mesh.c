/* The mesh (GAMMA, docs/mesh.md): Services as parents of routes. A Service with a cluster
 * address is in the mesh; each of its ports is served at that address, to every meshed client,
 * by route sets: the producer's (routes in the Service's namespace) and one per consumer
 * namespace (routes there, which replace the producer's for that namespace's clients). A port
 * no route set applies to passes through to the Service's endpoints. */
#include "translate/internal.h"
#include "base/map.h"
#include "ir/ir.h"

#include <stdlib.h>
#include <string.h>

/* Is s the name of a protocol the mesh routes per request? */
static bool http_protocol(const char *s)
{
    static const char *const names[] = {"http", "http2", "h2c", "grpc", "grpc-web", "kubernetes.io/h2c", NULL};
    for (const char *const *n = names; *n; n++)
        if (strcmp(s, *n) == 0)
            return true;
    return false;
}

/* A port is HTTP by its appProtocol, or, without one, by its name's prefix before a '-' (the
 * convention Istio and Linkerd read: "http", "http-alt", "grpc-api"). */
static bool port_is_http(const struct tr_node *sp)
{
    const char *ap = tr_node_gets(sp, "appProtocol");
    if (ap)
        return http_protocol(ap);
    const char *name = tr_node_gets(sp, "name");
    if (!name)
        return false;
    char head[32];
    size_t n = strcspn(name, "-");
    if (n >= sizeof(head))
        return false;
    memcpy(head, name, n);
    head[n] = '\0';
    return http_protocol(head);
}

/* Is addr the spec.clusterIP of some Service of the view (ctx: the map of them)? */
static bool ip_named(void *ctx, const char *addr)
{
    return tr_map_get(ctx, addr, strlen(addr)) != NULL;
}

/* The cluster address of svc, or NULL when it is not in the mesh: a headless Service (None),
 * an ExternalName one, or one without an address that none could be allocated for (named: the
 * addresses Services name). */
static const char *cluster_addr(struct tx *t, const struct tr_obj *svc, struct tr_map *named)
{
    const char *type = tr_node_gets(svc->spec, "type");
    if (type && strcmp(type, "ExternalName") == 0)
        return NULL;
    const char *ip = tr_node_gets(svc->spec, "clusterIP");
    if (ip && strcmp(ip, "None") == 0)
        return NULL;
    if (ip && ip[0])
        return ip;
    const char *got = t->in->cluster_ip ? t->in->cluster_ip(t->in->ud, svc, ip_named, named) : NULL;
    return got ? tr_arena_strdup(t->a, got) : NULL;
}

void tx_meshes(struct tx *t)
{
    const struct tr_view *v = t->v;
    for (size_t i = 0; i < v->n[TR_KIND_XMESH]; i++) {
        const struct tr_obj *m = v->objs[TR_KIND_XMESH][i];
        const char *ctrl = tr_node_gets(m->spec, "controllerName");
        if (!ctrl || strcmp(ctrl, TR_MESH_CONTROLLER) != 0)
            continue; /* another mesh's */
        struct conds cs = {0};
        bool ok = false;
        if (!t->in->mesh) {
            cset(&cs, "Accepted", false, TR_R_PENDING, "torii does not run as the mesh (torii run --mesh NAME)");
            cset(&cs, "Programmed", false, TR_R_PENDING, "torii does not run as the mesh (torii run --mesh NAME)");
        } else if (tr_node_get(m->spec, "parametersRef")) {
            cset(&cs, "Accepted", false, TR_R_INVALID_PARAMETERS, "spec.parametersRef: torii's mesh takes no parameters");
            cset(&cs, "Programmed", false, TR_R_INVALID_PARAMETERS, "Not accepted");
        } else {
            cset(&cs, "Accepted", true, TR_R_ACCEPTED, "Handled by torii");
            cset(&cs, "Programmed", true, TR_R_PROGRAMMED, "The mesh serves the routes of Services");
            ok = true;
        }
        struct tr_node *st = tr_node_new(t->a, TR_N_MAP);
        tr_node_set(t->a, st, "conditions", conds_render(t->a, &cs, m->generation));
        if (ok) {
            struct tr_node *feats = tr_node_new(t->a, TR_N_SEQ);
            for (const char *const *f = tr_mesh_features; *f; f++) {
                struct tr_node *e = tr_node_new(t->a, TR_N_MAP);
                tr_node_set(t->a, e, "name", tr_node_str(t->a, *f));
                tr_node_push(t->a, feats, e);
            }
            tr_node_set(t->a, st, "supportedFeatures", feats);
        }
        t->status[TR_KIND_XMESH][i] = st;
    }
}

void tx_mesh_services(struct tx *t)
{
    if (!t->in->mesh)
        return;
    size_t n = t->v->n[TR_KIND_SERVICE];
    t->msvcs = TR_ANEWN(t->a, struct msvc, n + 1);
    /* Addresses Services name, each to the first Service (namespace/name order) that names it. */
    struct tr_map named = {0};
    for (size_t i = 0; i < n; i++) {
        const struct tr_obj *svc = t->v->objs[TR_KIND_SERVICE][i];
        const char *ip = tr_node_gets(svc->spec, "clusterIP");
        if (ip && ip[0] && strcmp(ip, "None") != 0 && !tr_map_get(&named, ip, strlen(ip)))
            tr_map_put(&named, ip, strlen(ip), (void *)(uintptr_t)svc);
    }
    for (size_t i = 0; i < n; i++) {
        const struct tr_obj *svc = t->v->objs[TR_KIND_SERVICE][i];
        struct msvc *m = &t->msvcs[i];
        m->addr = cluster_addr(t, svc, &named);
        const struct tr_obj *first = m->addr ? tr_map_get(&named, m->addr, strlen(m->addr)) : NULL;
        if (first && first != svc) {
            /* One address, one Service: the mesh could not tell which a connection dialled. */
            m->shadowed_by = first;
            m->addr = NULL;
        }
        if (!m->addr)
            continue;
        m->gw.obj = svc;
        m->gw.ours = m->gw.accepted = true;
        const struct tr_node *ports = tr_node_get(svc->spec, "ports");
        m->ports = TR_ANEWN(t->a, struct mport, tr_node_len(ports) + 1);
        for (size_t k = 0; k < tr_node_len(ports); k++) {
            const struct tr_node *sp = tr_node_at(ports, k);
            const char *proto = tr_node_gets(sp, "protocol");
            if (proto && strcmp(proto, "TCP") != 0)
                continue; /* the mesh intercepts TCP */
            struct mport *mp = &m->ports[m->nports++];
            mp->sp = sp;
            mp->name = tr_node_gets(sp, "name");
            mp->port = (uint16_t)tr_node_geti(sp, "port", 0);
            mp->http = port_is_http(sp);
            mp->producer.gw = &m->gw;
            mp->producer.accepted = mp->producer.refs_ok = mp->producer.proto_ok = true;
        }
    }
    tr_map_dispose(&named);
}

const char *tx_mesh_parent(struct tx *t, enum tr_kind kind, const struct tr_obj *svc, const char *ns,
                           const char *name, int64_t port, const char *section, uint16_t *ports, size_t *n)
{
    *n = 0;
    if (kind != TR_KIND_HTTPROUTE && kind != TR_KIND_GRPCROUTE)
        return tr_arena_printf(t->msgs, "torii's mesh serves HTTPRoutes and GRPCRoutes, not %s", tr_kind_name(kind));
    if (!svc)
        return tr_arena_printf(t->msgs, "Service %s/%s not found", ns, name);
    const struct msvc *m = &t->msvcs[tr_view_index(t->v, svc)];
    if (m->shadowed_by)
        return tr_arena_printf(t->msgs, "Service %s/%s names cluster IP %s, which Service %s/%s names too (the first "
                                        "by namespace and name keeps it): the mesh serves that one there",
                               ns, name, tr_node_gets(svc->spec, "clusterIP"), m->shadowed_by->ns,
                               m->shadowed_by->name);
    if (!m->addr)
        return tr_arena_printf(t->msgs, "Service %s/%s has no cluster IP (headless or ExternalName): the mesh has "
                                        "no address of it to serve",
                               ns, name);
    for (size_t k = 0; k < m->nports; k++) {
        const struct mport *mp = &m->ports[k];
        if (port && mp->port != port)
            continue;
        if (section && (!mp->name || strcmp(section, mp->name) != 0))
            continue;
        ports[(*n)++] = (uint16_t)k;
    }
    if (*n)
        return NULL;
    if (port || section)
        return tr_arena_printf(t->msgs, "Service %s/%s has no TCP port matching the parentRef's port and sectionName",
                               ns, name);
    return tr_arena_printf(t->msgs, "Service %s/%s has no TCP port", ns, name);
}

struct lst *tx_mesh_set(struct tx *t, int32_t owner, uint16_t li, const char *ns)
{
    struct msvc *m = &t->msvcs[owner];
    struct mport *mp = &m->ports[li];
    if (strcmp(ns, m->gw.obj->ns) == 0)
        return &mp->producer;
    size_t at = 0;
    while (at < mp->nconsumers) {
        int c = strcmp(mp->consumers[at]->name, ns);
        if (c == 0)
            return mp->consumers[at];
        if (c > 0)
            break;
        at++;
    }
    struct lst **grown = TR_ANEWN(t->a, struct lst *, mp->nconsumers + 1);
    if (mp->nconsumers) {
        memcpy(grown, mp->consumers, at * sizeof(*grown));
        memcpy(grown + at + 1, mp->consumers + at, (mp->nconsumers - at) * sizeof(*grown));
    }
    struct lst *l = TR_ANEW(t->a, struct lst);
    *l = mp->producer;
    l->ir = NULL;
    l->rules_cap = 0;
    l->attached = 0;
    l->name = ns; /* the route's namespace: lives as long as the view */
    grown[at] = l;
    mp->consumers = grown;
    mp->nconsumers++;
    return l;
}

/* The IR listener of route set l of port mp (producer when client is NULL). */
static struct tr_ir_listener *set_listener(struct tx *t, const struct tr_obj *svc, const struct mport *mp,
                                           struct lst *l, const char *client)
{
    if (!l->ir)
        l->ir = TR_ANEW(t->a, struct tr_ir_listener);
    struct tr_ir_listener *il = l->ir;
    il->gw_ns = svc->ns;
    il->gw_name = svc->name;
    il->name = mp->name ? mp->name : tr_arena_printf(t->a, "%u", mp->port);
    il->port = mp->port;
    il->proto = TR_PROTO_HTTP;
    il->mesh = true;
    il->mesh_client = client;
    il->rules_owner = il->nrules ? il->rules_owner : il;
    if (il->nrules && il->nrules < l->rules_cap) {
        il->rules = tr_xrealloc(il->rules, il->nrules * sizeof(*il->rules));
        l->rules_cap = il->nrules;
    }
    l->in_ir = true;
    return il;
}

/* The rule spec of a Service's passthrough: every request (PathPrefix /), no filter. */
static struct tr_ir_rule_spec *pass_spec(struct tx *t, const struct tr_obj *svc)
{
    struct tr_node *path = tr_node_new(t->a, TR_N_MAP);
    tr_node_set(t->a, path, "type", tr_node_str(t->a, "PathPrefix"));
    tr_node_set(t->a, path, "value", tr_node_str(t->a, "/"));
    struct tr_node *match = tr_node_new(t->a, TR_N_MAP);
    tr_node_set(t->a, match, "path", path);
    struct tr_node *matches = tr_node_new(t->a, TR_N_SEQ);
    tr_node_push(t->a, matches, match);
    struct tr_node *rule = tr_node_new(t->a, TR_N_MAP);
    tr_node_set(t->a, rule, "matches", matches);
    struct tr_ir_rule_spec *spec = TR_ANEW(t->a, struct tr_ir_rule_spec);
    tx_rule_compile(t->a, TR_KIND_HTTPROUTE, rule, spec);
    spec->route = &svc->id;
    return spec;
}

static const char *no_hosts[] = {NULL};

/* Is path a network namespace the mesh may enter: one named under /run/netns (or its older
 * spelling /var/run/netns), where `ip netns` and CNI plugins keep them, and nothing else (no
 * /proc/PID/ns/net: a Pod's annotation must not name another process's namespace)? */
static bool netns_path_ok(const char *path)
{
    static const char *const dirs[] = {"/run/netns/", "/var/run/netns/"};
    for (size_t i = 0; i < TR_ARRAY_LEN(dirs); i++) {
        size_t n = strlen(dirs[i]);
        if (strncmp(path, dirs[i], n) == 0) {
            const char *name = path + n;
            return name[0] && name[0] != '.' && !strchr(name, '/');
        }
    }
    return false;
}

/* The meshed workloads: Pods with the network namespace annotation. */
static void mesh_clients(struct tx *t, struct tr_ir *ir)
{
    size_t n = t->v->n[TR_KIND_POD];
    struct tr_ir_mesh_client *c = TR_ANEWN(t->a, struct tr_ir_mesh_client, n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const struct tr_obj *pod = t->v->objs[TR_KIND_POD][i];
        const char *netns = tr_node_gets(tr_node_path(pod->root, "metadata.annotations"), TR_ANN_MESH_NETNS);
        if (!netns)
            continue;
        const struct tr_node *ip = tr_node_path(pod->root, "status.podIP");
        c[k++] = (struct tr_ir_mesh_client){pod->ns, pod->name, netns, ip && ip->type == TR_N_STR ? ip->u.s : NULL,
                                            netns_path_ok(netns) ? NULL
                                                                 : "annotation " TR_ANN_MESH_NETNS " must name a network "
                                                                   "namespace under /run/netns/ (or /var/run/netns/)"};
    }
    ir->clients = c;
    ir->nclients = k;
}

static int cmp_mesh_port(const void *a, const void *b)
{
    const struct tr_ir_port *x = a, *y = b;
    int c = strcmp(x->addr, y->addr);
    return c ? c : (int)x->port - (int)y->port;
}

void tx_mesh_ir(struct tx *t, struct tr_ir *ir)
{
    if (!t->msvcs)
        return;
    mesh_clients(t, ir);
    size_t total = 0;
    for (size_t i = 0; i < t->v->n[TR_KIND_SERVICE]; i++)
        total += t->msvcs[i].addr ? t->msvcs[i].nports : 0;
    if (!total)
        return;
    struct tr_ir_port *all = TR_ANEWN(t->a, struct tr_ir_port, ir->nports + total);
    if (ir->nports)
        memcpy(all, ir->ports, ir->nports * sizeof(*all));
    struct tr_ir_port *mesh = all + ir->nports;
    size_t n = 0;
    for (size_t i = 0; i < t->v->n[TR_KIND_SERVICE]; i++) {
        struct msvc *m = &t->msvcs[i];
        const struct tr_obj *svc = m->gw.obj;
        struct tr_ir_rule_spec *pass = NULL; /* one per Service */
        for (size_t k = 0; m->addr && k < m->nports; k++) {
            struct mport *mp = &m->ports[k];
            struct tr_ir_mesh *me = TR_ANEW(t->a, struct tr_ir_mesh);
            me->svc_ns = svc->ns;
            me->svc_name = svc->name;
            me->port_name = mp->name;
            me->http = mp->http || mp->named;
            struct tr_ir_backend_ref *ref = TR_ANEW(t->a, struct tr_ir_backend_ref);
            ref->ns = svc->ns;
            ref->name = svc->name;
            ref->port = mp->port;
            ref->weight = 1;
            me->service.ref = ref;
            tx_backend_endpoints(t, tx_port_src(t, svc, mp->sp), &me->service, false);
            if (!pass)
                pass = pass_spec(t, svc);
            me->pass = (struct tr_ir_rule){.spec = pass, .hostnames = no_hosts, .backends = &me->service,
                                           .nbackends = 1};
            struct tr_ir_port *p = &mesh[n++];
            p->addr = m->addr;
            p->port = mp->port;
            p->mesh = me;
            if (!me->http)
                continue; /* proxied as TCP: no route set applies */
            /* Without producer routes, the producer's set passes every request through. */
            if (!mp->producer.attached) {
                tx_ir_add_rule(t, &mp->producer, &me->pass);
                mp->producer.attached = 1;
            }
            size_t nsets = (mp->producer.attached ? 1 : 0);
            for (size_t c = 0; c < mp->nconsumers; c++)
                nsets += mp->consumers[c]->attached ? 1 : 0;
            p->listeners = TR_ANEWN(t->a, struct tr_ir_listener *, nsets + 1);
            if (mp->producer.attached)
                p->listeners[p->nlisteners++] = set_listener(t, svc, mp, &mp->producer, NULL);
            for (size_t c = 0; c < mp->nconsumers; c++)
                if (mp->consumers[c]->attached)
                    p->listeners[p->nlisteners++] =
                        set_listener(t, svc, mp, mp->consumers[c], mp->consumers[c]->name);
        }
    }
    qsort(mesh, n, sizeof(*mesh), cmp_mesh_port);
    ir->ports = all;
    ir->nmesh = n;
}
