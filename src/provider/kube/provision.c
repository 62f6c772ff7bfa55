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
#include "api/object.h"
#include "base/arena.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/node.h"
#include "provider/kube/client.h"
#include "provider/kube/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LABEL_GATEWAY "gateway.networking.k8s.io/gateway-name"
#define LABEL_MANAGED "app.kubernetes.io/managed-by"
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
    struct tr_map writes; /* "ns/name" -> struct svc_write* */
};

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
    free(v);
}

/* <gateway>-<class>, at most 63 characters: a longer one keeps its start and ends in a hash. */
static void service_name(char out[64], const char *gw, const char *cls)
{
    char full[600];
    snprintf(full, sizeof(full), "%s-%s", gw, cls);
    size_t n = strlen(full);
    if (n <= 63) {
        memcpy(out, full, n + 1);
        return;
    }
    uint64_t h = tr_hash(full, n);
    n = 54;
    while (n > 0 && full[n - 1] == '-') /* a DNS label does not hold "--" before the hash */
        n--;
    snprintf(out, 64, "%.*s-%08x", (int)n, full, (unsigned)(h & 0xffffffffu));
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

/* The Service a Gateway should have, in a. */
static struct tr_node *desired_service(struct tr_arena *a, const struct tr_obj *gw, const char *name)
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
    struct tr_node *owners = tr_node_new(a, TR_N_SEQ), *own = tr_node_new(a, TR_N_MAP);
    tr_node_set(a, own, "apiVersion", tr_node_str(a, "gateway.networking.k8s.io/v1"));
    tr_node_set(a, own, "kind", tr_node_str(a, "Gateway"));
    tr_node_set(a, own, "name", tr_node_str(a, gw->name));
    tr_node_set(a, own, "uid", tr_node_str(a, gw->uid));
    tr_node_set(a, own, "controller", tr_node_bool(a, true));
    tr_node_push(a, owners, own);
    tr_node_set(a, meta, "ownerReferences", owners);
    tr_node_set(a, svc, "metadata", meta);
    struct tr_node *spec = tr_node_new(a, TR_N_MAP);
    tr_node_set(a, spec, "type", tr_node_str(a, "LoadBalancer"));
    struct tr_node *ports = tr_node_new(a, TR_N_SEQ);
    const struct tr_node *ls = tr_node_get(gw->spec, "listeners");
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
        tr_node_set(a, pn, "targetPort", tr_node_int(a, port));
        tr_node_push(a, ports, pn);
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
    if (!tr_node_equal(tr_node_get(os, "type"), tr_node_get(ds, "type")))
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
    bool create;
};

static void on_written(void *ud, const struct tr_kc_result *res)
{
    struct prov_req *r = ud;
    struct svc_write *w = tr_map_get(&r->v->writes, r->key, strlen(r->key));
    if (w) {
        w->inflight = false;
        if (res->status < 200 || res->status >= 300) {
            w->hash = 0; /* try again on the next publish */
            if (!(r->create && res->status == 409))
                tr_log_warn("kubernetes: Service %s: %s: %ld %s", r->key, r->create ? "create" : "update",
                            res->status, res->error ? res->error : "");
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
    r->create = m == TR_KC_POST;
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

void kprov_publish(struct tr_kubeprov *p, const struct tr_published *pub)
{
    struct kube_prov *v = p->prov;
    if (!__atomic_load_n(&p->leader, __ATOMIC_ACQUIRE))
        return;
    struct tr_arena *a = tr_arena_new(8192);
    struct tr_map wanted = {0}; /* "ns/name" of every Service torii wants */
    struct tr_buf key, path;
    tr_buf_init(&key, 0);
    tr_buf_init(&path, 0);
    for (size_t i = 0; i < pub->nitems; i++) {
        const struct tr_pubitem *it = &pub->items[i];
        const struct tr_obj *gw = it->obj;
        if (gw->kind != TR_KIND_GATEWAY || !it->status || !accepted(it->status))
            continue;
        const char *cls = tr_node_gets(gw->spec, "gatewayClassName");
        char name[64];
        service_name(name, gw->name, cls ? cls : "torii");
        tr_buf_reset(&key);
        tr_buf_printf(&key, "%s/%s", gw->ns, name);
        tr_map_put(&wanted, key.data, key.len, (void *)1);
        struct tr_node *d = desired_service(a, gw, name);
        uint64_t h = tr_node_hash(d);
        char okey[600];
        snprintf(okey, sizeof(okey), "Service/%s/%s", gw->ns, name);
        uintptr_t at = (uintptr_t)tr_map_get(&pub->objs, okey, strlen(okey));
        const struct tr_node *held = at ? pub->items[at - 1].obj->root : NULL;
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
    }
    tr_map_dispose(&wanted);
    tr_buf_dispose(&key);
    tr_buf_dispose(&path);
    tr_arena_free(a);
}
