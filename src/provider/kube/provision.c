/* A Service for each accepted Gateway of torii's, kept by the leader: in the Gateway's namespace,
 * named <gateway>-<class> (cut to 63 characters with a hash when longer: a user's own Service
 * named after the Gateway is never touched), labelled gateway.networking.k8s.io/gateway-name, with
 * the Gateway's spec.infrastructure labels and annotations (those torii propagated are listed in
 * an annotation, so that one removed from the Gateway is removed from the Service), owned by the
 * Gateway (deleted with it), one port per listener port.
 *
 * What the Service should be is computed from each publish; it is written only when the Service
 * the API server holds differs (a merge patch from its resourceVersion), created when missing and
 * deleted when its Gateway is gone or no longer torii's. */
#include "admin/admin.h"
#include "snapshot/snapshot.h"
#include "api/object.h"
#include "base/arena.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/node.h"
#include "provider/kube/client.h"
#include "provider/kube/internal.h"
#include "translate/translate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LABEL_GATEWAY TR_LABEL_GATEWAY_NAME
#define LABEL_MANAGED TR_LABEL_MANAGED_BY
#define LABEL_SERVICE_NAME "kubernetes.io/service-name"
#define LABEL_SLICE_MANAGER "endpointslice.kubernetes.io/managed-by"
/* Service mode: the container ports given to listener ports, one per (Gateway, port, protocol),
 * never below 1024 (torii runs without capabilities) and clear of its probe and admin ports. */
#define TARGET_PORT_MIN 20000
#define TARGET_PORT_MAX 29999
#define ANN_PROPAGATED "torii.dev/propagated"
/* A write that has not shown up in the published Service after this long is made again. */
#define SETTLE_MS 30000

struct svc_write {
    char *key;           /* "ns/name" */
    uint64_t hash;       /* of the Service written */
    int64_t at_ms;
    bool inflight;
};

struct kube_prov {
    struct tr_kubeprov *p;
    struct tr_map writes; /* "Kind/ns/name" -> struct svc_write* */
    bool pods_dirty;      /* the replicas changed: EndpointSlices are due */
    /* Service mode, during one publish: target ports taken ("proto/port" -> the Service's
     * "ns/name", owned by the run's arena). */
    struct tr_map taken;
};

void kprov_pods_changed(struct tr_kubeprov *p)
{
    p->prov->pods_dirty = true;
}

int kprov_tick(struct tr_kubeprov *p, int64_t now)
{
    struct kube_prov *v = p->prov;
    const struct tr_published *cur = kstatus_current(p);
    if (v->pods_dirty && cur && __atomic_load_n(&p->leader, __ATOMIC_ACQUIRE)) {
        v->pods_dirty = false;
        kprov_publish(p, cur);
    }
    return -1;
}

struct kube_prov *kprov_new(struct tr_kubeprov *p)
{
    struct kube_prov *v = tr_xcalloc(1, sizeof(*v));
    v->p = p;
    return v;
}

void kprov_free(struct kube_prov *v)
{
    if (!v)
        return;
    size_t it = 0;
    struct tr_map_slot *s;
    while ((s = tr_map_next(&v->writes, &it))) {
        struct svc_write *w = s->val;
        free(w->key);
        free(w);
    }
    tr_map_dispose(&v->writes);
    tr_map_dispose(&v->taken);
    free(v);
}

/* ownerReferences naming o (of apiVersion api) as the controller: the garbage collector
 * deletes what torii made with it. */
static struct tr_node *owned_by(struct tr_arena *a, const char *api, const struct tr_obj *o)
{
    struct tr_node *owners = tr_node_new(a, TR_N_SEQ), *own = tr_node_new(a, TR_N_MAP);
    tr_node_set(a, own, "apiVersion", tr_node_str(a, api));
    tr_node_set(a, own, "kind", tr_node_str(a, tr_kind_name(o->kind)));
    tr_node_set(a, own, "name", tr_node_str(a, o->name));
    char uid[TR_UID_LEN + 1];
    tr_node_set(a, own, "uid", tr_node_str(a, tr_obj_uid(o, uid)));
    tr_node_set(a, own, "controller", tr_node_bool(a, true));
    tr_node_push(a, owners, own);
    return owners;
}

static bool accepted(const struct tr_node *status)
{
    const struct tr_node *conds = tr_node_get(status, "conditions");
    for (size_t i = 0; i < tr_node_len(conds); i++) {
        const struct tr_node *c = tr_node_at(conds, i);
        const char *t = tr_node_gets(c, "type"), *s = tr_node_gets(c, "status");
        if (t && s && strcmp(t, "Accepted") == 0)
            return strcmp(s, "True") == 0;
    }
    return false;
}

/* Service mode: the target port of port/ip on Service svckey: the one it has if it is still its
 * own, else the first free one. 0 when the range is used up. */
static int64_t target_port(struct kube_prov *v, struct tr_arena *a, const struct tr_node *held, const char *svckey,
                           int64_t port, const char *ip)
{
    char key[32];
    const struct tr_node *hp = tr_node_path(held, "spec.ports");
    for (size_t i = 0; i < tr_node_len(hp); i++) {
        const struct tr_node *e = tr_node_at(hp, i);
        int64_t tp = tr_node_geti(e, "targetPort", 0);
        const char *proto = tr_node_gets(e, "protocol");
        if (tr_node_geti(e, "port", 0) != port || !proto || strcmp(proto, ip) != 0 || tp < TARGET_PORT_MIN ||
            tp > TARGET_PORT_MAX)
            continue;
        snprintf(key, sizeof(key), "%s/%lld", ip, (long long)tp);
        const char *owner = tr_map_get(&v->taken, key, strlen(key));
        if (owner && strcmp(owner, svckey) == 0)
            return tp;
    }
    for (int64_t tp = TARGET_PORT_MIN; tp <= TARGET_PORT_MAX; tp++) {
        snprintf(key, sizeof(key), "%s/%lld", ip, (long long)tp);
        if (!tr_map_get(&v->taken, key, strlen(key))) {
            tr_map_put(&v->taken, key, strlen(key), tr_arena_strdup(a, svckey));
            return tp;
        }
    }
    return 0;
}

/* The target ports held Services have, each kept by the first Service (in publish order) that
 * has it. */
static void note_taken(struct kube_prov *v, struct tr_arena *a, const struct tr_published *pub)
{
    tr_map_dispose(&v->taken);
    memset(&v->taken, 0, sizeof(v->taken));
    for (size_t i = 0; i < pub->nitems; i++) {
        const struct tr_obj *o = pub->items[i].obj;
        const char *mgr = tr_node_gets(tr_node_path(o->root, "metadata.labels"), LABEL_MANAGED);
        if (o->kind != TR_KIND_SERVICE || !mgr || strcmp(mgr, "torii") != 0)
            continue;
        char *svckey = tr_arena_printf(a, "%s/%s", o->ns, o->name);
        const struct tr_node *hp = tr_node_path(o->root, "spec.ports");
        for (size_t j = 0; j < tr_node_len(hp); j++) {
            int64_t tp = tr_node_geti(tr_node_at(hp, j), "targetPort", 0);
            const char *proto = tr_node_gets(tr_node_at(hp, j), "protocol");
            if (tp < TARGET_PORT_MIN || tp > TARGET_PORT_MAX || !proto)
                continue;
            char key[32];
            snprintf(key, sizeof(key), "%s/%lld", proto, (long long)tp);
            if (!tr_map_get(&v->taken, key, strlen(key)))
                tr_map_put(&v->taken, key, strlen(key), svckey);
        }
    }
}

/* The listener lists served by Gateway gw: its own, and those of the ListenerSets attached to it
 * (accepted). Returns how many, at most cap. */
static size_t listener_lists(const struct tr_published *pub, const struct tr_obj *gw, const struct tr_node **out,
                             size_t cap)
{
    size_t n = 0;
    out[n++] = tr_node_get(gw->spec, "listeners");
    for (size_t i = 0; i < pub->nitems && n < cap; i++) {
        const struct tr_pubitem *it = &pub->items[i];
        const struct tr_obj *o = it->obj;
        if (o->kind != TR_KIND_LISTENERSET || !it->status || !accepted(tr_tx_status_tree(it->status, NULL)))
            continue;
        const struct tr_node *pr = tr_node_get(o->spec, "parentRef");
        const char *pname = tr_node_gets(pr, "name"), *pns = tr_node_gets(pr, "namespace");
        if (pname && strcmp(pname, gw->name) == 0 && strcmp(pns ? pns : o->ns, gw->ns) == 0)
            out[n++] = tr_node_get(o->spec, "listeners");
    }
    return n;
}

/* The Service a Gateway should have, in a. */
static struct tr_node *desired_service(struct kube_prov *v, struct tr_arena *a, const struct tr_published *pub,
                                       const struct tr_obj *gw, const char *name, const struct tr_node *held,
                                       const struct tr_class_params *cp)
{
    struct tr_node *svc = tr_node_new(a, TR_N_MAP);
    struct tr_node *meta = tr_node_new(a, TR_N_MAP);
    tr_node_set(a, meta, "name", tr_node_str(a, name));
    tr_node_set(a, meta, "namespace", tr_node_str(a, gw->ns));
    struct tr_node *labels = tr_node_new(a, TR_N_MAP), *ann = tr_node_new(a, TR_N_MAP);
    const struct tr_node *infra = tr_node_get(gw->spec, "infrastructure");
    struct tr_buf prop;
    tr_buf_init(&prop, 0);
    const struct tr_node *il = tr_node_get(infra, "labels"), *ia = tr_node_get(infra, "annotations");
    for (uint32_t i = 0; il && il->type == TR_N_MAP && i < il->n; i++) {
        tr_node_set(a, labels, il->u.kv[i].key, tr_node_clone(a, il->u.kv[i].val));
        tr_buf_printf(&prop, "%sl:%s", prop.len ? "," : "", il->u.kv[i].key);
    }
    for (uint32_t i = 0; ia && ia->type == TR_N_MAP && i < ia->n; i++) {
        tr_node_set(a, ann, ia->u.kv[i].key, tr_node_clone(a, ia->u.kv[i].val));
        tr_buf_printf(&prop, "%sa:%s", prop.len ? "," : "", ia->u.kv[i].key);
    }
    /* torii's own labels win over infrastructure labels of the same key. */
    if (strlen(gw->name) <= 63)
        tr_node_set(a, labels, LABEL_GATEWAY, tr_node_str(a, gw->name));
    else
        tr_node_set(a, ann, LABEL_GATEWAY, tr_node_str(a, gw->name));
    tr_node_set(a, labels, LABEL_MANAGED, tr_node_str(a, "torii"));
    tr_node_set(a, ann, ANN_PROPAGATED, tr_node_str(a, prop.data ? prop.data : ""));
    tr_buf_dispose(&prop);
    tr_node_set(a, meta, "labels", labels);
    tr_node_set(a, meta, "annotations", ann);
    tr_node_set(a, meta, "ownerReferences", owned_by(a, "gateway.networking.k8s.io/v1", gw));
    tr_node_set(a, svc, "metadata", meta);
    struct tr_node *spec = tr_node_new(a, TR_N_MAP);
    tr_node_set(a, spec, "type", tr_node_str(a, cp->service_type));
    if (cp->external_traffic_policy)
        tr_node_set(a, spec, "externalTrafficPolicy", tr_node_str(a, cp->external_traffic_policy));
    if (cp->load_balancer_class)
        tr_node_set(a, spec, "loadBalancerClass", tr_node_str(a, cp->load_balancer_class));
    /* A Gateway that asks for one address gets it asked of the load balancer (translate says
     * whether it was given). */
    bool many;
    const char *asked = tr_gateway_requested_ip(gw, &many);
    if (asked && !many && strcmp(cp->service_type, "LoadBalancer") == 0)
        tr_node_set(a, spec, "loadBalancerIP", tr_node_str(a, asked));
    struct tr_node *ports = tr_node_new(a, TR_N_SEQ);
    const struct tr_node *lists[64];
    size_t nlists = listener_lists(pub, gw, lists, 64);
    char *svckey = tr_arena_printf(a, "%s/%s", gw->ns, name);
    for (size_t li = 0; li < nlists; li++) {
    const struct tr_node *ls = lists[li];
    for (size_t i = 0; i < tr_node_len(ls); i++) {
        const struct tr_node *l = tr_node_at(ls, i);
        int64_t port = tr_node_geti(l, "port", 0);
        const char *proto = tr_node_gets(l, "protocol");
        const char *ip = proto && strcmp(proto, "UDP") == 0 ? "UDP" : "TCP";
        if (port <= 0)
            continue;
        bool dup = false;
        for (size_t j = 0; j < tr_node_len(ports) && !dup; j++)
            dup = tr_node_geti(tr_node_at(ports, j), "port", 0) == port &&
                  strcmp(tr_node_gets(tr_node_at(ports, j), "protocol"), ip) == 0;
        if (dup)
            continue;
        struct tr_node *pn = tr_node_new(a, TR_N_MAP);
        char pname[32];
        snprintf(pname, sizeof(pname), "%s-%lld", ip[0] == 'U' ? "udp" : "tcp", (long long)port);
        tr_node_set(a, pn, "name", tr_node_str(a, pname));
        tr_node_set(a, pn, "port", tr_node_int(a, port));
        tr_node_set(a, pn, "protocol", tr_node_str(a, ip));
        int64_t tp = v->p->o.service_mode ? target_port(v, a, held, svckey, port, ip) : port;
        if (!tp) {
            tr_log_warn("kubernetes: Service %s: no target port left for port %lld", svckey, (long long)port);
            continue;
        }
        tr_node_set(a, pn, "targetPort", tr_node_int(a, tp));
        tr_node_push(a, ports, pn);
    }
    }
    tr_node_set(a, spec, "ports", ports);
    tr_node_set(a, svc, "spec", spec);
    return svc;
}

/* Does the held Service say what d says? Only what torii sets is compared: the server and
 * others fill in more (clusterIP, nodePorts, their own labels). */
static bool holds(const struct tr_node *o, const struct tr_node *d)
{
    const struct tr_node *om = tr_node_get(o, "metadata"), *dm = tr_node_get(d, "metadata");
    static const char *const maps[] = {"labels", "annotations"};
    for (int m = 0; m < 2; m++) {
        const struct tr_node *dv = tr_node_get(dm, maps[m]), *ov = tr_node_get(om, maps[m]);
        for (uint32_t i = 0; i < dv->n; i++)
            if (!tr_node_equal(tr_node_get(ov, dv->u.kv[i].key), dv->u.kv[i].val))
                return false;
    }
    /* Keys torii propagated before and no longer wants must be gone. */
    const char *was = tr_node_gets(tr_node_get(om, "annotations"), ANN_PROPAGATED);
    const char *now = tr_node_gets(tr_node_get(dm, "annotations"), ANN_PROPAGATED);
    if (was && now && strcmp(was, now) != 0)
        return false;
    if (!tr_node_equal(tr_node_get(om, "ownerReferences"), tr_node_get(dm, "ownerReferences")))
        return false;
    const struct tr_node *os = tr_node_get(o, "spec"), *ds = tr_node_get(d, "spec");
    static const char *const set_by_class[] = {"type", "externalTrafficPolicy", "loadBalancerClass", "loadBalancerIP"};
    for (int i = 0; i < 4; i++)
        if (tr_node_get(ds, set_by_class[i]) && !tr_node_equal(tr_node_get(os, set_by_class[i]), tr_node_get(ds, set_by_class[i])))
            return false;
    const struct tr_node *op = tr_node_get(os, "ports"), *dp = tr_node_get(ds, "ports");
    if (tr_node_len(op) != tr_node_len(dp))
        return false;
    for (size_t i = 0; i < tr_node_len(dp); i++) {
        const struct tr_node *x = tr_node_at(dp, i), *y = tr_node_at(op, i);
        static const char *const keys[] = {"name", "port", "protocol", "targetPort"};
        for (int k = 0; k < 4; k++)
            if (!tr_node_equal(tr_node_get(x, keys[k]), tr_node_get(y, keys[k])))
                return false;
    }
    return true;
}

/* The merge patch from held o to d: torii's maps merged, stale propagated keys nulled. */
static struct tr_node *patch_of(struct tr_arena *a, const struct tr_node *o, const struct tr_node *d)
{
    struct tr_node *patch = tr_node_clone(a, d);
    struct tr_node *pm = tr_node_get(patch, "metadata");
    tr_node_del(pm, "name");
    tr_node_del(pm, "namespace");
    const struct tr_node *om = tr_node_get(o, "metadata");
    tr_node_set(a, pm, "resourceVersion", tr_node_str(a, tr_node_gets(om, "resourceVersion")));
    const char *was = tr_node_gets(tr_node_get(om, "annotations"), ANN_PROPAGATED);
    if (was && *was) {
        char *list = tr_xstrdup(was), *save = NULL;
        for (char *k = strtok_r(list, ",", &save); k; k = strtok_r(NULL, ",", &save)) {
            if (strlen(k) < 3)
                continue;
            struct tr_node *m = tr_node_get(pm, k[0] == 'l' ? "labels" : "annotations");
            if (!tr_node_get(m, k + 2))
                tr_node_set(a, m, k + 2, tr_node_new(a, TR_N_NULL));
        }
        free(list);
    }
    return patch;
}

struct prov_req {
    struct kube_prov *v;
    char *key;
    enum tr_kc_method method;
};

static void on_written(void *ud, const struct tr_kc_result *res)
{
    struct prov_req *r = ud;
    struct svc_write *w = tr_map_get(&r->v->writes, r->key, strlen(r->key));
    if (w) {
        w->inflight = false;
        /* Already there (a create) or already gone (a delete: the garbage collector follows
         * the owner reference too) is what was wanted. */
        bool done = (r->method == TR_KC_POST && res->status == 409) || (r->method == TR_KC_DELETE && res->status == 404);
        if ((res->status < 200 || res->status >= 300) && !done) {
            w->hash = 0; /* try again on the next publish */
            static const char *const verbs[] = {"read", "create", "replace", "update", "delete"};
            bool slice = strncmp(r->key, "slice:", 6) == 0;
            tr_log_warn("kubernetes: %s %s: %s: %ld %s", slice ? "EndpointSlice" : "Service", slice ? r->key + 6 : r->key,
                        verbs[r->method], res->status, res->error ? res->error : "");
        }
    }
    free(r->key);
    free(r);
}

static void send(struct kube_prov *v, enum tr_kc_method m, const char *path, const char *ctype,
                 const struct tr_node *body, const char *key, uint64_t hash)
{
    struct svc_write *w = tr_map_get(&v->writes, key, strlen(key));
    if (!w) {
        w = tr_xcalloc(1, sizeof(*w));
        w->key = tr_xstrdup(key);
        tr_map_put(&v->writes, key, strlen(key), w);
    }
    w->hash = hash;
    w->at_ms = kube_now_ms();
    w->inflight = true;
    struct tr_buf b;
    tr_buf_init(&b, 0);
    if (body)
        tr_node_emit_json(&b, body, 0);
    struct prov_req *r = tr_xcalloc(1, sizeof(*r));
    r->v = v;
    r->key = tr_xstrdup(key);
    r->method = m;
    struct tr_kc_call call = {.method = m,
                              .path = path,
                              .content_type = ctype,
                              .body = b.data,
                              .len = b.len,
                              .timeout_s = 30,
                              .on_done = on_written,
                              .ud = r};
    tr_kc_start(v->p->kc, &call);
    tr_buf_dispose(&b);
}

/* Skips a write already made for the same wish and not yet visible (the published view lags
 * the API server by a watch event and a translation). */
static bool recently(struct kube_prov *v, const char *key, uint64_t hash)
{
    struct svc_write *w = tr_map_get(&v->writes, key, strlen(key));
    return w && (w->inflight || (w->hash == hash && kube_now_ms() - w->at_ms < SETTLE_MS));
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* Service mode: the EndpointSlice of a generated Service, listing the torii replicas (a ready
 * one as ready; one shutting down as terminating, serving while it is still ready, so that
 * kube-proxy drains it) at the Service's target ports. */
static void keep_slice(struct kube_prov *v, struct tr_arena *a, const struct tr_published *pub,
                       const struct tr_obj *svc, const struct tr_node *d)
{
    struct tr_kubeprov *p = v->p;
    struct tr_node *sl = tr_node_new(a, TR_N_MAP);
    tr_node_set(a, sl, "apiVersion", tr_node_str(a, "discovery.k8s.io/v1"));
    tr_node_set(a, sl, "kind", tr_node_str(a, "EndpointSlice"));
    struct tr_node *meta = tr_node_new(a, TR_N_MAP), *labels = tr_node_new(a, TR_N_MAP);
    tr_node_set(a, meta, "name", tr_node_str(a, svc->name));
    tr_node_set(a, meta, "namespace", tr_node_str(a, svc->ns));
    tr_node_set(a, labels, LABEL_SERVICE_NAME, tr_node_str(a, svc->name));
    tr_node_set(a, labels, LABEL_SLICE_MANAGER, tr_node_str(a, p->o.controller));
    tr_node_set(a, labels, LABEL_MANAGED, tr_node_str(a, "torii"));
    tr_node_set(a, meta, "labels", labels);
    tr_node_set(a, meta, "ownerReferences", owned_by(a, "v1", svc));
    tr_node_set(a, sl, "metadata", meta);
    tr_node_set(a, sl, "addressType", tr_node_str(a, "IPv4"));
    /* The replicas, by name: the same list gives the same slice. */
    const struct tr_map *pods = &p->pods.known;
    const char **names = TR_ANEWN(a, const char *, pods->len + 1);
    size_t n = 0, it = 0;
    struct tr_map_slot *slot;
    while ((slot = tr_map_next(pods, &it)))
        names[n++] = tr_arena_strndup(a, slot->key, slot->klen);
    qsort(names, n, sizeof(*names), cmp_str);
    struct tr_node *eps = tr_node_new(a, TR_N_SEQ);
    for (size_t i = 0; i < n; i++) {
        const struct kube_known *k = tr_map_get(pods, names[i], strlen(names[i]));
        if (!k || !k->pod_ip || !strchr(k->pod_ip, '.'))
            continue;
        const char *pod = strchr(names[i], '/') + 1;
        struct tr_node *ep = tr_node_new(a, TR_N_MAP), *addrs = tr_node_new(a, TR_N_SEQ), *c = tr_node_new(a, TR_N_MAP);
        tr_node_push(a, addrs, tr_node_str(a, k->pod_ip));
        tr_node_set(a, ep, "addresses", addrs);
        tr_node_set(a, c, "ready", tr_node_bool(a, k->pod_ready && !k->pod_terminating));
        tr_node_set(a, c, "serving", tr_node_bool(a, k->pod_ready));
        tr_node_set(a, c, "terminating", tr_node_bool(a, k->pod_terminating));
        tr_node_set(a, ep, "conditions", c);
        if (k->pod_node)
            tr_node_set(a, ep, "nodeName", tr_node_str(a, k->pod_node));
        struct tr_node *ref = tr_node_new(a, TR_N_MAP);
        tr_node_set(a, ref, "kind", tr_node_str(a, "Pod"));
        tr_node_set(a, ref, "namespace", tr_node_str(a, p->o.pod_ns));
        tr_node_set(a, ref, "name", tr_node_str(a, pod));
        if (k->pod_uid)
            tr_node_set(a, ref, "uid", tr_node_str(a, k->pod_uid));
        tr_node_set(a, ep, "targetRef", ref);
        tr_node_push(a, eps, ep);
    }
    tr_node_set(a, sl, "endpoints", eps);
    struct tr_node *ports = tr_node_new(a, TR_N_SEQ);
    const struct tr_node *sp = tr_node_path(d, "spec.ports");
    for (size_t i = 0; i < tr_node_len(sp); i++) {
        const struct tr_node *e = tr_node_at(sp, i);
        struct tr_node *pe = tr_node_new(a, TR_N_MAP);
        tr_node_set(a, pe, "name", tr_node_clone(a, tr_node_get(e, "name")));
        tr_node_set(a, pe, "port", tr_node_clone(a, tr_node_get(e, "targetPort")));
        tr_node_set(a, pe, "protocol", tr_node_clone(a, tr_node_get(e, "protocol")));
        tr_node_push(a, ports, pe);
    }
    tr_node_set(a, sl, "ports", ports);

    char okey[600];
    snprintf(okey, sizeof(okey), "EndpointSlice/%s/%s", svc->ns, svc->name);
    uintptr_t at = (uintptr_t)pub->find(pub, okey, strlen(okey));
    const struct tr_node *held = at ? pub->items[at - 1].obj->root : NULL;
    char wkey[600];
    snprintf(wkey, sizeof(wkey), "slice:%s/%s", svc->ns, svc->name);
    uint64_t h = tr_node_hash(sl);
    struct tr_buf path;
    tr_buf_init(&path, 0);
    if (held) {
        const char *mgr = tr_node_gets(tr_node_path(held, "metadata.labels"), LABEL_SLICE_MANAGER);
        bool same = mgr && strcmp(mgr, p->o.controller) == 0 &&
                    tr_node_equal(tr_node_get(held, "endpoints"), eps) && tr_node_equal(tr_node_get(held, "ports"), ports);
        if (!mgr || strcmp(mgr, p->o.controller) != 0)
            tr_log_warn("kubernetes: EndpointSlice %s/%s is not torii's: left alone", svc->ns, svc->name);
        else if (!same && !recently(v, wkey, h)) {
            struct tr_node *patch = tr_node_new(a, TR_N_MAP), *pm = tr_node_new(a, TR_N_MAP);
            tr_node_set(a, pm, "resourceVersion", tr_node_str(a, tr_node_gets(tr_node_get(held, "metadata"), "resourceVersion")));
            tr_node_set(a, patch, "metadata", pm);
            tr_node_set(a, patch, "endpoints", eps);
            tr_node_set(a, patch, "ports", ports);
            tr_buf_printf(&path, "/apis/discovery.k8s.io/v1/namespaces/%s/endpointslices/%s?fieldManager=torii", svc->ns,
                          svc->name);
            send(v, TR_KC_PATCH, path.data, "application/merge-patch+json", patch, wkey, h);
        }
    } else if (!recently(v, wkey, h)) {
        tr_buf_printf(&path, "/apis/discovery.k8s.io/v1/namespaces/%s/endpointslices?fieldManager=torii", svc->ns);
        send(v, TR_KC_POST, path.data, "application/json", sl, wkey, h);
    }
    tr_buf_dispose(&path);
}

void kprov_publish(struct tr_kubeprov *p, const struct tr_published *pub)
{
    struct kube_prov *v = p->prov;
    if (!__atomic_load_n(&p->leader, __ATOMIC_ACQUIRE))
        return;
    struct tr_arena *a = tr_arena_new(8192);
    if (p->o.service_mode)
        note_taken(v, a, pub);
    struct tr_map wanted = {0}; /* "ns/name" of every Service torii wants */
    struct tr_buf key, path;
    tr_buf_init(&key, 0);
    tr_buf_init(&path, 0);
    for (size_t i = 0; i < pub->nitems; i++) {
        const struct tr_pubitem *it = &pub->items[i];
        const struct tr_obj *gw = it->obj;
        if (gw->kind != TR_KIND_GATEWAY || !it->status || !accepted(tr_tx_status_tree(it->status, NULL)))
            continue;
        const char *cls = tr_node_gets(gw->spec, "gatewayClassName");
        char name[64];
        tr_gateway_service_name(name, gw->name, cls ? cls : "torii");
        tr_buf_reset(&key);
        tr_buf_printf(&key, "%s/%s", gw->ns, name);
        tr_map_put(&wanted, key.data, key.len, (void *)1);
        char okey[600];
        snprintf(okey, sizeof(okey), "Service/%s/%s", gw->ns, name);
        uintptr_t at = (uintptr_t)pub->find(pub, okey, strlen(okey));
        const struct tr_obj *held_obj = at ? pub->items[at - 1].obj : NULL;
        const struct tr_node *held = held_obj ? held_obj->root : NULL;
        /* The class's parameters shape the Service; a class whose parameters cannot be
         * honoured is not accepted, and neither are its Gateways. */
        char ckey[300];
        snprintf(ckey, sizeof(ckey), "GatewayClass/%s", cls ? cls : "");
        uintptr_t cat = (uintptr_t)pub->find(pub, ckey, strlen(ckey));
        struct tr_class_params cp = {"LoadBalancer", NULL, NULL};
        if (cat && tr_gatewayclass_params(a, tr_snapshot_view(pub->snap), pub->items[cat - 1].obj, &cp))
            continue;
        struct tr_node *d = desired_service(v, a, pub, gw, name, held, &cp);
        uint64_t h = tr_node_hash(d);
        if (p->o.service_mode && held_obj)
            keep_slice(v, a, pub, held_obj, d);
        if (held) {
            const char *mgr = tr_node_gets(tr_node_path(held, "metadata.labels"), LABEL_MANAGED);
            if (!mgr || strcmp(mgr, "torii") != 0) {
                tr_log_warn("kubernetes: Service %s/%s exists and is not torii's: Gateway %s/%s gets none", gw->ns, name,
                            gw->ns, gw->name);
                continue;
            }
            if (holds(held, d) || recently(v, key.data, h))
                continue;
            tr_buf_reset(&path);
            tr_buf_printf(&path, "/api/v1/namespaces/%s/services/%s?fieldManager=torii", gw->ns, name);
            send(v, TR_KC_PATCH, path.data, "application/merge-patch+json", patch_of(a, held, d), key.data, h);
        } else {
            if (recently(v, key.data, h))
                continue;
            tr_node_set(a, d, "apiVersion", tr_node_str(a, "v1"));
            tr_node_set(a, d, "kind", tr_node_str(a, "Service"));
            tr_buf_reset(&path);
            tr_buf_printf(&path, "/api/v1/namespaces/%s/services?fieldManager=torii", gw->ns);
            send(v, TR_KC_POST, path.data, "application/json", d, key.data, h);
        }
    }
    /* Services of torii's whose Gateway is gone or no longer torii's. */
    for (size_t i = 0; i < pub->nitems; i++) {
        const struct tr_obj *o = pub->items[i].obj;
        if (o->kind != TR_KIND_SERVICE)
            continue;
        const struct tr_node *labels = tr_node_path(o->root, "metadata.labels");
        const char *mgr = tr_node_gets(labels, LABEL_MANAGED);
        if (!mgr || strcmp(mgr, "torii") != 0 || !tr_node_gets(labels, LABEL_GATEWAY))
            continue;
        tr_buf_reset(&key);
        tr_buf_printf(&key, "%s/%s", o->ns, o->name);
        if (tr_map_get(&wanted, key.data, key.len) || recently(v, key.data, 1))
            continue;
        tr_buf_reset(&path);
        tr_buf_printf(&path, "/api/v1/namespaces/%s/services/%s", o->ns, o->name);
        tr_log_info("kubernetes: Service %s/%s: its Gateway is gone; deleting it", o->ns, o->name);
        send(v, TR_KC_DELETE, path.data, NULL, NULL, key.data, 1);
        /* Its EndpointSlice too (the garbage collector would, through the owner reference; a
         * cluster without one, or a slow one, would keep sending traffic to it). */
        char skey[600];
        snprintf(skey, sizeof(skey), "EndpointSlice/%s/%s", o->ns, o->name);
        if (pub->find(pub, skey, strlen(skey))) {
            snprintf(skey, sizeof(skey), "slice:%s/%s", o->ns, o->name);
            tr_buf_reset(&path);
            tr_buf_printf(&path, "/apis/discovery.k8s.io/v1/namespaces/%s/endpointslices/%s", o->ns, o->name);
            if (!recently(v, skey, 1))
                send(v, TR_KC_DELETE, path.data, NULL, NULL, skey, 1);
        }
    }
    tr_map_dispose(&wanted);
    tr_map_dispose(&v->taken);
    memset(&v->taken, 0, sizeof(v->taken));
    tr_buf_dispose(&key);
    tr_buf_dispose(&path);
    tr_arena_free(a);
}
