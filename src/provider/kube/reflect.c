/* One kind's reflector, as client-go's: discovery finds the version the server serves, a paged
 * LIST (a consistent read, never a stale cache) gives every object, then a WATCH from the list's
 * resourceVersion gives the changes, with bookmarks so that it can resume after an idle hour.
 * A watch that ends is resumed from the last resourceVersion seen; "410 Gone" (history
 * compacted, a continue token expired) ends in a new list, and objects that vanished meanwhile
 * become deletes. Errors back off (0.8 s doubling to 30 s, with jitter). */
#include "api/json.h"
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

#define BACKOFF_MIN_MS 800
#define BACKOFF_MAX_MS 30000
/* A reflector healthy this long starts its next backoff from the minimum again. */
#define HEALTHY_RESET_MS 120000
/* A kind the server does not serve is looked for again this often. */
#define ABSENT_RETRY_MS 30000
/* Pages of a list; kinds whose objects can be large come in smaller pages. */
#define PAGE 500
#define PAGE_LARGE 100
/* The longest watch event line: the API server refuses objects over 1.5 MB. */
#define MAX_EVENT (16u << 20)

/* Secret types torii never reads: Helm releases (often the largest objects of a cluster) and
 * credentials of other kinds. Left out on the server's side, they cost torii nothing. */
static const char secret_selector[] = "type!=helm.sh/release.v1,type!=kubernetes.io/service-account-token,"
                                      "type!=kubernetes.io/dockercfg,type!=kubernetes.io/dockerconfigjson,"
                                      "type!=bootstrap.kubernetes.io/token";

/* The data keys torii reads from Secrets and ConfigMaps (certificates, CA bundles, GatewayClass
 * parameters); the rest is dropped on arrival, named in an annotation (TR_ANN_DROPPED_KEYS). */
static const char *const kept_data[] = {"tls.crt", "tls.key", "ca.crt", "serviceType", "externalTrafficPolicy",
                                        "loadBalancerClass", TR_PARAM_EXTERNAL_NAME, NULL};

static void plural_of(const char *kind, char *out, size_t cap)
{
    size_t n = 0;
    for (; kind[n] && n + 4 < cap; n++)
        out[n] = (char)(kind[n] >= 'A' && kind[n] <= 'Z' ? kind[n] - 'A' + 'a' : kind[n]);
    out[n] = '\0';
    /* n + 4 < cap above leaves room for the longest ending. */
    if (n && out[n - 1] == 's')
        snprintf(out + n, cap - n, "es");
    else if (n > 1 && out[n - 1] == 'y' && !strchr("aeiou", out[n - 2]))
        snprintf(out + n - 1, cap - n + 1, "ies");
    else
        snprintf(out + n, cap - n, "s");
}

void refl_init(struct reflector *r, struct tr_kubeprov *p, enum tr_kind kind)
{
    memset(r, 0, sizeof(*r));
    r->p = p;
    r->kind = kind;
    r->info = tr_kind_info(kind);
    plural_of(r->info->name, r->plural, sizeof(r->plural));
    r->state = REFL_DISCOVER;
    r->backoff_ms = BACKOFF_MIN_MS;
    tr_buf_init(&r->line, MAX_EVENT);
    if (kind == TR_KIND_POD && !p->o.mesh_controller) {
        r->off = true; /* Pods matter to the mesh only */
        r->listed = true;
    }
}

static const struct tr_kind_info pod_info = {TR_KIND__COUNT, "Pod", "", "v1", true, NULL};

void refl_init_pods(struct reflector *r, struct tr_kubeprov *p, const char *ns, const char *selector)
{
    refl_init(r, p, TR_KIND_NAMESPACE); /* any kind: replaced below */
    r->kind = TR_KIND__COUNT;
    r->info = &pod_info;
    snprintf(r->plural, sizeof(r->plural), "pods");
    r->internal = true;
    r->ns_scope = ns;
    r->selector = selector;
}

static void known_free(struct kube_known *k)
{
    if (!k)
        return;
    free(k->pod_ip);
    free(k->pod_node);
    free(k->pod_uid);
    free(k->rv);
    free(k->observed);
    free(k->desired);
    free(k);
}

void refl_dispose(struct reflector *r)
{
    if (r->req)
        tr_kc_cancel(r->p->kc, r->req);
    size_t it = 0;
    struct tr_map_slot *s;
    while ((s = tr_map_next(&r->known, &it)))
        known_free(s->val);
    tr_map_dispose(&r->known);
    tr_buf_dispose(&r->line);
    free(r->rv);
    free(r->cont);
}

static void set_str(char **dst, const char *s)
{
    free(*dst);
    *dst = s ? tr_xstrdup(s) : NULL;
}

static void wait_then(struct reflector *r, enum refl_state next, int ms)
{
    r->state = REFL_WAIT;
    r->next = next;
    r->due_ms = kube_now_ms() + ms;
}

/* After a failure: wait, longer each time in a row. */
static void back_off(struct reflector *r, enum refl_state next)
{
    int64_t now = kube_now_ms();
    if (r->healthy_since_ms && now - r->healthy_since_ms > HEALTHY_RESET_MS)
        r->backoff_ms = BACKOFF_MIN_MS;
    r->healthy_since_ms = 0;
    /* Jitter: between the backoff and twice it, so that replicas do not retry in step. */
    int ms = r->backoff_ms + (int)((double)r->backoff_ms * ((double)rand() / RAND_MAX));
    r->backoff_ms = r->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : r->backoff_ms * 2;
    wait_then(r, next, ms);
}

static void mark_synced(struct reflector *r)
{
    if (r->listed)
        return;
    r->listed = true;
    if (r->internal)
        return; /* the control thread waits for the kinds it translates only */
    struct tr_kubeprov *p = r->p;
    for (int k = 0; k < TR_KIND__COUNT; k++)
        if (!p->refl[k].listed)
            return;
    __atomic_store_n(&p->synced, true, __ATOMIC_RELEASE);
    p->signal_due = true;
}

/* ---- objects ---- */

/* Drops what torii never reads, before the object is kept: server bookkeeping (managedFields
 * can be larger than the object), the client-side apply annotation (a copy of the whole object),
 * the data of Secrets and ConfigMaps torii has no use for, and of a Pod all but its names,
 * labels, annotations, node and addresses (the mesh's workloads: many objects, much spec). */
/* Returns false when nothing torii could use is left: a Secret or ConfigMap without any data key
 * torii reads. */
static bool strip(struct reflector *r, struct tr_arena *a, struct tr_node *root)
{
    struct tr_node *meta = tr_node_get(root, "metadata");
    tr_node_del(meta, "managedFields");
    tr_node_del(meta, "selfLink");
    bool datakind = r->kind == TR_KIND_SECRET || r->kind == TR_KIND_CONFIGMAP;
    struct tr_node *ann = tr_node_get(meta, "annotations");
    if (datakind)
        tr_node_del(meta, "annotations");
    else if (ann)
        tr_node_del(ann, "kubectl.kubernetes.io/last-applied-configuration");
    if (r->kind == TR_KIND_POD) {
        struct tr_node *spec = tr_node_new(a, TR_N_MAP);
        const struct tr_node *node = tr_node_path(root, "spec.nodeName");
        if (node)
            tr_node_set(a, spec, "nodeName", tr_node_clone(a, node));
        tr_node_set(a, root, "spec", spec);
        struct tr_node *st = tr_node_new(a, TR_N_MAP);
        static const char *const kept_status[] = {"podIP", "podIPs", "phase"};
        for (size_t i = 0; i < TR_ARRAY_LEN(kept_status); i++) {
            const struct tr_node *v = tr_node_path(tr_node_get(root, "status"), kept_status[i]);
            if (v)
                tr_node_set(a, st, kept_status[i], tr_node_clone(a, v));
        }
        tr_node_set(a, root, "status", st);
    }
    if (!datakind)
        return true;
    static const char *const maps[] = {"data", "binaryData", "stringData"};
    uint32_t kept = 0;
    struct tr_buf dropped;
    tr_buf_init(&dropped, 1024);
    for (size_t m = 0; m < 3; m++) {
        struct tr_node *d = tr_node_get(root, maps[m]);
        if (!d || d->type != TR_N_MAP)
            continue;
        uint32_t w = 0;
        for (uint32_t i = 0; i < d->n; i++) {
            bool keep = false;
            for (const char *const *k = kept_data; *k && !keep; k++)
                keep = strcmp(d->u.kv[i].key, *k) == 0;
            if (keep)
                d->u.kv[w++] = d->u.kv[i];
            else if (dropped.len < 900)
                tr_buf_printf(&dropped, "%s%s", dropped.len ? "," : "", d->u.kv[i].key);
        }
        d->n = w;
        kept += w;
    }
    if (kept && dropped.len) {
        /* Some of it is of use: say what else there was (a GatewayClass's parameters ConfigMap
         * with a key torii does not know must still be reported). */
        struct tr_node *note = tr_node_new(a, TR_N_MAP);
        tr_node_set(a, note, TR_ANN_DROPPED_KEYS, tr_node_strn(a, dropped.data, dropped.len));
        tr_node_set(a, meta, "annotations", note);
    }
    tr_buf_dispose(&dropped);
    return kept > 0;
}

static void key_of(struct tr_buf *b, const char *ns, const char *name)
{
    tr_buf_reset(b);
    tr_buf_printf(b, "%s/%s", ns ? ns : "", name);
}

static void on_deleted(struct reflector *r, const char *ns, const char *name);

/* A new version of an object (listed or watched): kept, and handed to the control thread
 * unless only its status or bookkeeping changed (torii's own status writes come back this way:
 * they must not cost a translation). Takes a. */
/* A torii replica: what its EndpointSlice entry needs. */
static void on_pod(struct reflector *r, struct tr_arena *a, struct tr_node *root)
{
    struct tr_node *meta = tr_node_get(root, "metadata");
    const char *name = tr_node_gets(meta, "name"), *ns = tr_node_gets(meta, "namespace");
    const char *ip = tr_node_gets(tr_node_get(root, "status"), "podIP");
    const char *node = tr_node_gets(tr_node_get(root, "spec"), "nodeName");
    const char *uid = tr_node_gets(meta, "uid");
    bool terminating = tr_node_get(meta, "deletionTimestamp") != NULL;
    bool ready = false;
    const struct tr_node *conds = tr_node_path(root, "status.conditions");
    for (size_t i = 0; i < tr_node_len(conds); i++) {
        const char *ty = tr_node_gets(tr_node_at(conds, i), "type"), *st = tr_node_gets(tr_node_at(conds, i), "status");
        if (ty && st && strcmp(ty, "Ready") == 0)
            ready = strcmp(st, "True") == 0;
    }
    if (!name || !ns) {
        tr_arena_free(a);
        return;
    }
    struct tr_buf key;
    tr_buf_init(&key, 0);
    key_of(&key, ns, name);
    struct kube_known *k = tr_map_get(&r->known, key.data, key.len);
    if (!k) {
        k = tr_xcalloc(1, sizeof(*k));
        tr_map_put(&r->known, key.data, key.len, k);
    }
    bool same = k->pod_ready == ready && k->pod_terminating == terminating &&
                (k->pod_ip ? ip && strcmp(k->pod_ip, ip) == 0 : !ip) &&
                (k->pod_node ? node && strcmp(k->pod_node, node) == 0 : !node) && k->pod_uid;
    set_str(&k->pod_ip, ip);
    set_str(&k->pod_node, node);
    set_str(&k->pod_uid, uid);
    set_str(&k->rv, tr_node_gets(meta, "resourceVersion"));
    k->pod_ready = ready;
    k->pod_terminating = terminating;
    k->epoch = r->epoch;
    tr_buf_dispose(&key);
    tr_arena_free(a);
    if (!same)
        kprov_pods_changed(r->p);
}

static void on_object(struct reflector *r, struct tr_arena *a, struct tr_node *root)
{
    if (r->internal) {
        on_pod(r, a, root);
        return;
    }
    struct tr_node *meta = tr_node_get(root, "metadata");
    const char *name = tr_node_gets(meta, "name");
    const char *ns = r->info->namespaced ? tr_node_gets(meta, "namespace") : "";
    const char *rv = tr_node_gets(meta, "resourceVersion");
    if (!name || !ns || !rv) {
        tr_log_warn("kubernetes: %s: an object without name, namespace or resourceVersion ignored", r->info->name);
        tr_arena_free(a);
        return;
    }
    /* Built-in kinds' list items come without kind and apiVersion. */
    if (!tr_node_get(root, "kind"))
        tr_node_set(a, root, "kind", tr_node_str(a, r->info->name));
    if (!tr_node_get(root, "apiVersion"))
        tr_node_set(a, root, "apiVersion",
                    r->info->group[0] ? tr_node_str(a, tr_arena_printf(a, "%s/%s", r->info->group, r->version))
                                      : tr_node_str(a, r->version));
    if (!strip(r, a, root)) {
        /* Not kept at all, not even its name: most Secrets of a cluster are of no use to
         * torii, and 10,000 of them must cost it nothing. One that held data torii reads and
         * no longer does is gone for torii. */
        on_deleted(r, ns, name);
        tr_arena_free(a);
        return;
    }
    char *observed = NULL;
    struct tr_node *st = tr_node_get(root, "status");
    if (r->kind < TR_KIND_NAMESPACE && st) {
        struct tr_buf sb;
        tr_buf_init(&sb, 0);
        tr_node_emit_json(&sb, st, 0);
        observed = tr_buf_steal(&sb);
    }
    /* The status of a kind torii writes status for is the provider's business (status.c); a
     * core kind's status is part of what torii reads (a Service's load balancer). */
    if (r->kind < TR_KIND_NAMESPACE)
        tr_node_del(root, "status");
    /* The hash leaves out what changes without a change torii could see. */
    rv = tr_arena_strdup(a, rv);
    tr_node_del(meta, "resourceVersion");
    uint64_t h = tr_node_hash(root);
    tr_node_set(a, meta, "resourceVersion", tr_node_str(a, rv));

    struct tr_buf key;
    tr_buf_init(&key, 0);
    key_of(&key, ns, name);
    struct kube_known *k = tr_map_get(&r->known, key.data, key.len);
    bool changed = !k || k->hash != h;
    if (!k) {
        k = tr_xcalloc(1, sizeof(*k));
        tr_map_put(&r->known, key.data, key.len, k);
    }
    k->hash = h;
    k->epoch = r->epoch;
    set_str(&k->rv, rv);
    bool status_changed = (observed == NULL) != (k->observed == NULL) ||
                          (observed && strcmp(observed, k->observed) != 0);
    free(k->observed);
    k->observed = observed;
    if (changed)
        kube_delta_put(r->p, r->kind, ns, name, a, root);
    else
        tr_arena_free(a);
    if (r->kind < TR_KIND_NAMESPACE && (status_changed || changed))
        kstatus_observed(r->p, r, key.data, k);
    tr_buf_dispose(&key);
}

static void on_deleted(struct reflector *r, const char *ns, const char *name)
{
    struct tr_buf key;
    tr_buf_init(&key, 0);
    key_of(&key, ns, name);
    struct kube_known *k = tr_map_del(&r->known, key.data, key.len);
    if (k) {
        known_free(k);
        if (r->internal)
            kprov_pods_changed(r->p);
        else
            kube_delta_del(r->p, r->kind, ns, name);
    }
    tr_buf_dispose(&key);
}

/* After a complete list: what it did not hold is gone. */
static bool vanished(void *ud, void *val)
{
    struct kube_known *k = val;
    return k->epoch != *(const uint64_t *)ud;
}

static void sweep(struct reflector *r, bool all)
{
    /* Collected first: deltas need the keys, and the map may not change while iterated. */
    size_t it = 0, n = 0, cap = 0;
    char **gone = NULL;
    struct tr_map_slot *s;
    while ((s = tr_map_next(&r->known, &it))) {
        struct kube_known *k = s->val;
        if (all || vanished(&r->epoch, k)) {
            if (n == cap) {
                cap = cap ? 2 * cap : 16;
                gone = tr_xrealloc(gone, cap * sizeof(char *));
            }
            gone[n++] = tr_xstrndup(s->key, s->klen);
        }
    }
    for (size_t i = 0; i < n; i++) {
        char *slash = strchr(gone[i], '/');
        *slash = '\0';
        on_deleted(r, gone[i], slash + 1);
        free(gone[i]);
    }
    free(gone);
}

/* ---- discovery ---- */

static void start(struct reflector *r);

static void version_at(const struct reflector *r, int i, char *out, size_t cap)
{
    const char *v = r->info->versions;
    for (; i > 0 && v; i--) {
        v = strchr(v, ' ');
        if (v)
            v++;
    }
    out[0] = '\0';
    if (!v)
        return;
    size_t n = strcspn(v, " ");
    snprintf(out, cap, "%.*s", (int)n, v);
}

static void on_discovered(void *ud, const struct tr_kc_result *res)
{
    struct reflector *r = ud;
    r->req = NULL;
    bool served = false;
    if (res->status == 200) {
        struct tr_arena *a = tr_arena_new(4096);
        struct tr_buf err;
        tr_buf_init(&err, 0);
        struct tr_node *list = tr_json_parse_one(a, res->body, res->len, &err);
        struct tr_node *rs = tr_node_get(list, "resources");
        for (size_t i = 0; i < tr_node_len(rs) && !served; i++) {
            const char *n = tr_node_gets(tr_node_at(rs, i), "name");
            served = n && strcmp(n, r->plural) == 0;
        }
        tr_buf_dispose(&err);
        tr_arena_free(a);
    } else if (res->status != 404) {
        char msg[256];
        kube_status_message(res, msg, sizeof(msg));
        tr_log_warn("kubernetes: %s: discovery: %ld %s", r->info->name, res->status, msg);
        back_off(r, REFL_DISCOVER);
        return;
    }
    if (served) {
        if (r->absent)
            tr_log_info("kubernetes: %s is served now (%s)", r->info->name, r->version);
        r->absent = false;
        r->epoch++;
        r->state = REFL_LIST;
        start(r);
        return;
    }
    r->vi++;
    version_at(r, r->vi, r->version, sizeof(r->version));
    if (r->version[0]) {
        start(r);
        return;
    }
    /* Not served at all: reported once, looked for again later, and counted as listed (empty)
     * so that torii does not wait for a CRD nobody installed. */
    if (!r->absent) {
        tr_log_warn("kubernetes: %s (%s %s) is not served by the API server: is its CRD installed? "
                    "looking again every %d s",
                    r->info->name, r->info->group[0] ? r->info->group : "core", r->info->versions, ABSENT_RETRY_MS / 1000);
        r->absent = true;
    }
    sweep(r, true);
    mark_synced(r);
    wait_then(r, REFL_DISCOVER, ABSENT_RETRY_MS);
}

/* ---- list ---- */

static void on_list_item(void *ud, struct tr_arena *a, struct tr_node *root, unsigned line)
{
    struct reflector *r = ud;
    if (!root || root->type != TR_N_MAP) {
        tr_arena_free(a);
        return;
    }
    on_object(r, a, root);
}

struct list_head {
    char *rv, *cont;
};

static void on_list_head(void *ud, struct tr_arena *a, struct tr_node *root, unsigned line)
{
    struct list_head *h = ud;
    struct tr_node *meta = tr_node_get(root, "metadata");
    const char *rv = tr_node_gets(meta, "resourceVersion"), *cont = tr_node_gets(meta, "continue");
    h->rv = rv ? tr_xstrdup(rv) : NULL;
    h->cont = cont && cont[0] ? tr_xstrdup(cont) : NULL;
    tr_arena_free(a);
}

struct list_ctx {
    struct reflector *r;
    struct list_head head;
};

static void list_item_cb(void *ud, struct tr_arena *a, struct tr_node *root, unsigned line)
{
    on_list_item(((struct list_ctx *)ud)->r, a, root, line);
}

static void list_head_cb(void *ud, struct tr_arena *a, struct tr_node *root, unsigned line)
{
    on_list_head(&((struct list_ctx *)ud)->head, a, root, line);
}

static void on_listed(void *ud, const struct tr_kc_result *res)
{
    struct reflector *r = ud;
    r->req = NULL;
    if (res->status == 410) {
        /* The continue token expired (etcd compacted the snapshot the pages came from): a new
         * list from the start, of the latest state. */
        tr_log_info("kubernetes: %s: list continue token expired; listing again", r->info->name);
        set_str(&r->cont, NULL);
        r->epoch++;
        __atomic_add_fetch(&r->p->stats.relists, 1, __ATOMIC_RELAXED);
        start(r);
        return;
    }
    if (res->status == 404) {
        r->vi = 0;
        version_at(r, 0, r->version, sizeof(r->version));
        wait_then(r, REFL_DISCOVER, 0);
        return;
    }
    if (res->status != 200) {
        char msg[256];
        kube_status_message(res, msg, sizeof(msg));
        tr_log_warn("kubernetes: %s: list: %ld %s%s", r->info->name, res->status, msg,
                    res->status == 403 ? " (torii's ClusterRole must allow list and watch on it)" : "");
        set_str(&r->cont, NULL);
        back_off(r, REFL_LIST);
        return;
    }
    struct list_ctx ctx = {r, {NULL, NULL}};
    struct tr_buf err;
    tr_buf_init(&err, 0);
    int rc = tr_json_parse_list(res->body, res->len, "items", list_item_cb, list_head_cb, &ctx, &err);
    if (rc != 0 || !ctx.head.rv) {
        tr_log_warn("kubernetes: %s: list: the answer is not a list: %s", r->info->name, rc ? err.data : "no resourceVersion");
        tr_buf_dispose(&err);
        free(ctx.head.rv);
        free(ctx.head.cont);
        set_str(&r->cont, NULL);
        back_off(r, REFL_LIST);
        return;
    }
    tr_buf_dispose(&err);
    free(r->cont);
    r->cont = ctx.head.cont;
    if (r->cont) {
        free(ctx.head.rv);
        start(r); /* the next page */
        return;
    }
    free(r->rv);
    r->rv = ctx.head.rv;
    sweep(r, false);
    mark_synced(r);
    __atomic_add_fetch(&r->p->stats.lists, 1, __ATOMIC_RELAXED);
    r->state = REFL_WATCH;
    start(r);
}

/* ---- watch ---- */

/* One event line. Returns false to end the stream. */
static bool on_event(struct reflector *r, const char *line, size_t len)
{
    struct tr_arena *a = tr_arena_new(4096);
    struct tr_buf err;
    tr_buf_init(&err, 0);
    struct tr_node *ev = tr_json_parse_one(a, line, len, &err);
    const char *type = tr_node_gets(ev, "type");
    struct tr_node *obj = tr_node_get(ev, "object");
    if (!type || !obj || obj->type != TR_N_MAP) {
        tr_log_warn("kubernetes: %s: watch: not an event: %s", r->info->name, ev ? "no type or object" : err.data);
        tr_buf_dispose(&err);
        tr_arena_free(a);
        r->bad_line = true;
        return false;
    }
    tr_buf_dispose(&err);
    __atomic_add_fetch(&r->p->stats.events, 1, __ATOMIC_RELAXED);
    const char *rv = tr_node_gets(tr_node_get(obj, "metadata"), "resourceVersion");
    if (strcmp(type, "ERROR") == 0) {
        int64_t code = tr_node_geti(obj, "code", 0);
        const char *msg = tr_node_gets(obj, "message");
        if (code == 410) {
            tr_log_info("kubernetes: %s: watch: %s; listing again", r->info->name, msg ? msg : "410 Gone");
            r->relist = true;
        } else {
            tr_log_warn("kubernetes: %s: watch: error %lld: %s", r->info->name, (long long)code, msg ? msg : "");
            r->bad_line = true;
        }
        tr_arena_free(a);
        return false;
    }
    if (strcmp(type, "BOOKMARK") == 0) {
        if (rv)
            set_str(&r->rv, rv);
        tr_arena_free(a);
        return true;
    }
    if (rv)
        set_str(&r->rv, rv);
    if (strcmp(type, "ADDED") == 0 || strcmp(type, "MODIFIED") == 0) {
        /* The event's arena goes with the object (the envelope is small). */
        on_object(r, a, obj);
        return true;
    }
    if (strcmp(type, "DELETED") == 0) {
        struct tr_node *meta = tr_node_get(obj, "metadata");
        const char *name = tr_node_gets(meta, "name");
        const char *ns = r->info->namespaced ? tr_node_gets(meta, "namespace") : "";
        if (name && ns)
            on_deleted(r, ns, name);
        tr_arena_free(a);
        return true;
    }
    tr_log_warn("kubernetes: %s: watch: unknown event type %s", r->info->name, type);
    tr_arena_free(a);
    return true;
}

static bool on_watch_data(void *ud, const char *p, size_t len)
{
    struct reflector *r = ud;
    /* Events are JSON values each followed by a newline; one may straddle reads, one read may
     * hold several. */
    while (len > 0) {
        const char *nl = memchr(p, '\n', len);
        size_t take = nl ? (size_t)(nl - p) : len;
        if (tr_buf_append(&r->line, p, take) != 0) {
            tr_log_warn("kubernetes: %s: watch: an event over %u bytes", r->info->name, MAX_EVENT);
            r->bad_line = true;
            return false;
        }
        if (!nl)
            break;
        p += take + 1;
        len -= take + 1;
        size_t n = r->line.len;
        bool blank = true;
        for (size_t i = 0; i < n && blank; i++)
            blank = r->line.data[i] == ' ' || r->line.data[i] == '\r' || r->line.data[i] == '\t';
        bool go_on = blank || on_event(r, r->line.data, n);
        tr_buf_reset(&r->line);
        if (!go_on)
            return false;
    }
    return true;
}

static void on_watch_done(void *ud, const struct tr_kc_result *res)
{
    struct reflector *r = ud;
    r->req = NULL;
    tr_buf_reset(&r->line);
    if (r->relist || res->status == 410) {
        r->relist = false;
        __atomic_add_fetch(&r->p->stats.relists, 1, __ATOMIC_RELAXED);
        r->epoch++;
        r->state = REFL_LIST;
        start(r);
        return;
    }
    if (res->status == 404) {
        /* The kind went away (its CRD was deleted): so did its objects. */
        tr_log_warn("kubernetes: %s: no longer served", r->info->name);
        sweep(r, true);
        r->vi = 0;
        version_at(r, 0, r->version, sizeof(r->version));
        wait_then(r, REFL_DISCOVER, 0);
        return;
    }
    if (res->status == 200 && !res->error && !r->bad_line) {
        /* The server ended the watch at timeoutSeconds: resume at once. */
        r->state = REFL_WATCH;
        start(r);
        return;
    }
    r->bad_line = false;
    char msg[256];
    kube_status_message(res, msg, sizeof(msg));
    tr_log_info("kubernetes: %s: watch ended: %ld %s; resuming from %s", r->info->name, res->status, msg,
                r->rv ? r->rv : "a new list");
    back_off(r, REFL_WATCH);
}

/* ---- driving ---- */

static void put_query_value(struct tr_buf *b, const char *v);

/* The label and field selectors of r's lists and watches (the same for both). */
static void put_selectors(struct tr_buf *path, const struct reflector *r)
{
    if (r->selector) {
        tr_buf_puts(path, "&labelSelector=");
        put_query_value(path, r->selector);
    }
    if (r->kind == TR_KIND_SECRET) {
        tr_buf_puts(path, "&fieldSelector=");
        put_query_value(path, secret_selector);
    }
    if (r->kind == TR_KIND_POD && r->p->o.node) {
        /* The mesh on a node takes the connections of that node's workloads only. */
        tr_buf_puts(path, "&fieldSelector=");
        put_query_value(path, "spec.nodeName=");
        put_query_value(path, r->p->o.node);
    }
}

/* A query value, percent-encoded (RFC 3986 unreserved characters as they are): a continue
 * token is base64 and may hold '+' and '='. */
static void put_query_value(struct tr_buf *b, const char *v)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *c = (const unsigned char *)v; *c; c++) {
        if ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' ||
            *c == '.' || *c == '_' || *c == '~') {
            tr_buf_putc(b, (char)*c);
        } else {
            tr_buf_putc(b, '%');
            tr_buf_putc(b, hex[*c >> 4]);
            tr_buf_putc(b, hex[*c & 15]);
        }
    }
}

static void start(struct reflector *r)
{
    struct tr_kubeprov *p = r->p;
    struct tr_buf path;
    tr_buf_init(&path, 0);
    struct tr_kc_call call = {.method = TR_KC_GET, .ud = r};
    switch (r->state) {
    case REFL_DISCOVER:
        if (!r->version[0])
            version_at(r, r->vi, r->version, sizeof(r->version));
        if (r->info->group[0])
            tr_buf_printf(&path, "/apis/%s/%s", r->info->group, r->version);
        else
            tr_buf_printf(&path, "/api/%s", r->version);
        call.on_done = on_discovered;
        break;
    case REFL_LIST:
        kube_path(&path, r, r->ns_scope, NULL, false);
        tr_buf_printf(&path, "?limit=%d", r->kind == TR_KIND_SECRET || r->kind == TR_KIND_CONFIGMAP ? PAGE_LARGE : PAGE);
        put_selectors(&path, r);
        if (r->cont) {
            tr_buf_puts(&path, "&continue=");
            put_query_value(&path, r->cont);
        }
        call.on_done = on_listed;
        break;
    case REFL_WATCH: {
        if (!r->rv) {
            r->state = REFL_LIST;
            tr_buf_dispose(&path);
            start(r);
            return;
        }
        /* The server ends a watch after timeoutSeconds; client-go picks 5 to 10 minutes, at
         * random so that watches do not all restart together. */
        int timeout = 300 + rand() % 300;
        kube_path(&path, r, r->ns_scope, NULL, false);
        tr_buf_printf(&path, "?watch=true&allowWatchBookmarks=true&timeoutSeconds=%d&resourceVersion=", timeout);
        put_query_value(&path, r->rv);
        put_selectors(&path, r);
        call.stream = true;
        call.timeout_s = timeout + 60;
        call.on_data = on_watch_data;
        call.on_done = on_watch_done;
        if (!r->healthy_since_ms)
            r->healthy_since_ms = kube_now_ms();
        __atomic_add_fetch(&p->stats.watches, 1, __ATOMIC_RELAXED);
        break;
    }
    case REFL_WAIT:
        tr_buf_dispose(&path);
        return;
    }
    call.path = path.data;
    r->req = tr_kc_start(p->kc, &call);
    tr_buf_dispose(&path);
}

int refl_tick(struct reflector *r, int64_t now)
{
    if (r->off)
        return -1;
    if (r->state != REFL_WAIT)
        return r->req ? -1 : (start(r), -1);
    if (now < r->due_ms)
        return (int)(r->due_ms - now);
    r->state = r->next;
    if (r->state == REFL_DISCOVER) {
        r->vi = 0;
        r->version[0] = '\0';
    }
    start(r);
    return -1;
}
