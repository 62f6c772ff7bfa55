/* Status written back to the API server, by the leader only, and only where it differs.
 *
 * Each object torii judges has a desired status (what the control thread last published) and an
 * observed one (what the API server last showed). What gets written is the desired status merged
 * into the observed one: entries of route parents and policy ancestors that belong to another
 * controller stay untouched and in place (the list is shared among implementations), and a
 * condition whose status did not change keeps the observed lastTransitionTime (so a restart or a
 * new leader does not rewrite every time). If the result equals the observed status, nothing is
 * written: at start-up that is about one write per object, and none while nothing changes.
 *
 * A write is a JSON merge patch of the status subresource carrying the resourceVersion it was
 * computed from, so a write over a newer version fails (409) instead of clobbering it; then the
 * object is read again and the merge done again. Writes are coalesced per object (only the latest
 * desired status matters), ordered GatewayClass, Gateway, ListenerSet, routes, policies, a few in
 * flight at once, within the client's rate limit. */
#include "admin/admin.h"
#include "api/json.h"
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
#include <time.h>

#define MAX_INFLIGHT 8
#define MAX_CONFLICTS 5
/* An object whose status changes with every change of others (a Gateway's attachedRoutes while
 * routes arrive) is written at most this often: its writes merge, and the rate limit's budget
 * goes to objects not written yet. */
#define MIN_REWRITE_MS 1000

/* A queued comparison. */
struct pending {
    enum tr_kind kind;
    char *key; /* "ns/name" */
    struct pending *next;
};

/* A status write in flight (its PATCH, or the GET that follows a conflict). */
struct write {
    struct kube_status *s;
    struct write *prev, *next; /* s->writes */
    enum tr_kind kind;
    char *key;
    int conflicts;
};

struct kube_status {
    struct tr_kubeprov *p;
    struct tr_published *cur; /* the publish desired statuses come from */
    struct pending *queue[TR_KIND__COUNT], **tail[TR_KIND__COUNT];
    /* Written less than MIN_REWRITE_MS ago: waiting for their turn, in the order they are due
     * (every wait is as long, so first in is first due). */
    struct pending *later, **later_tail;
    /* Writes in flight: the client frees its requests without an answer when it stops, so
     * what they carry is freed here (kstatus_free). */
    struct write *writes;
    int inflight;
    int64_t retry_at_ms; /* after errors: no writes before this */
    bool published;      /* a first publish arrived */
};

struct kube_status *kstatus_new(struct tr_kubeprov *p)
{
    struct kube_status *s = tr_xcalloc(1, sizeof(*s));
    s->p = p;
    for (int k = 0; k < TR_KIND__COUNT; k++)
        s->tail[k] = &s->queue[k];
    s->later_tail = &s->later;
    return s;
}

static void write_free(struct write *wr)
{
    if (wr->prev)
        wr->prev->next = wr->next;
    else
        wr->s->writes = wr->next;
    if (wr->next)
        wr->next->prev = wr->prev;
    free(wr->key);
    free(wr);
}

void kstatus_free(struct kube_status *s)
{
    if (!s)
        return;
    while (s->writes)
        write_free(s->writes);
    for (int k = 0; k < TR_KIND__COUNT; k++) {
        while (s->queue[k]) {
            struct pending *e = s->queue[k];
            s->queue[k] = e->next;
            free(e->key);
            free(e);
        }
    }
    while (s->later) {
        struct pending *e = s->later;
        s->later = e->next;
        free(e->key);
        free(e);
    }
    if (s->cur)
        tr_published_release(s->cur);
    free(s);
}

static void enqueue(struct kube_status *s, enum tr_kind kind, const char *key, struct kube_known *k)
{
    if (k->dirty)
        return;
    k->dirty = true;
    struct pending *e = tr_xcalloc(1, sizeof(*e));
    e->kind = kind;
    e->key = tr_xstrdup(key);
    *s->tail[kind] = e;
    s->tail[kind] = &e->next;
}

void kstatus_observed(struct tr_kubeprov *p, struct reflector *r, const char *key, struct kube_known *k)
{
    if (k->inflight)
        k->dirty = true; /* compared again when the write ends */
    else
        enqueue(p->st, r->kind, key, k);
}

static bool is_route(enum tr_kind k)
{
    return k == TR_KIND_HTTPROUTE || k == TR_KIND_GRPCROUTE || k == TR_KIND_TLSROUTE || k == TR_KIND_TCPROUTE ||
           k == TR_KIND_UDPROUTE;
}

/* The shared list of a kind's status: entries are each controller's own. */
static const char *shared_list(enum tr_kind k)
{
    if (is_route(k))
        return "parents";
    if (k == TR_KIND_BACKENDTLSPOLICY || k == TR_KIND_XBACKENDTRAFFICPOLICY)
        return "ancestors";
    return NULL;
}

void kstatus_publish(struct tr_kubeprov *p, struct tr_published *pub)
{
    struct kube_status *s = p->st;
    struct tr_published *old = s->cur;
    struct tr_buf key, js;
    tr_buf_init(&key, 0);
    tr_buf_init(&js, 0);
    for (size_t i = 0; i < pub->nitems; i++) {
        const struct tr_pubitem *it = &pub->items[i];
        const struct tr_obj *o = it->obj;
        if (o->kind >= TR_KIND_NAMESPACE)
            continue;
        /* The previous publish is alive until this loop ends: an item whose status and
         * transition times are the very same as then needs no new look. */
        if (old) {
            char okey[600];
            int n = snprintf(okey, sizeof(okey), o->ns[0] ? "%s/%s/%s" : "%s/%s%s", tr_kind_name(o->kind),
                             o->ns[0] ? o->ns : o->name, o->ns[0] ? o->name : "");
            uintptr_t at = n > 0 && (size_t)n < sizeof(okey) ? (uintptr_t)old->find(old, okey, (size_t)n) : 0;
            if (at && old->items[at - 1].status == it->status && old->items[at - 1].ltt == it->ltt)
                continue;
        }
        struct reflector *r = &p->refl[o->kind];
        tr_buf_reset(&key);
        tr_buf_printf(&key, "%s/%s", o->ns, o->name);
        struct kube_known *k = tr_map_get(&r->known, key.data, key.len);
        if (!k)
            continue; /* gone from the server meanwhile */
        tr_buf_reset(&js);
        pub->render_status(it, &js);
        bool none = strcmp(js.data, "null") == 0;
        if (none ? !k->desired : (k->desired && strcmp(k->desired, js.data) == 0))
            continue;
        free(k->desired);
        k->desired = none ? NULL : tr_xstrdup(js.data);
        if (k->inflight)
            k->dirty = true;
        else
            enqueue(s, o->kind, key.data, k);
    }
    tr_buf_dispose(&key);
    tr_buf_dispose(&js);
    s->cur = pub;
    if (old)
        tr_published_release(old);
    s->published = true;
}

/* Is kind/ns/name in pub with a status of torii's (a Gateway or GatewayClass of torii's)? */
static bool ours_in(const struct tr_published *pub, const char *kind, const char *ns, const char *name)
{
    if (!pub)
        return false;
    char key[600];
    int n = ns ? snprintf(key, sizeof(key), "%s/%s/%s", kind, ns, name) : snprintf(key, sizeof(key), "%s/%s", kind, name);
    uintptr_t at = n > 0 && (size_t)n < sizeof(key) ? (uintptr_t)pub->find(pub, key, (size_t)n) : 0;
    return at && pub->items[at - 1].status;
}

static struct tr_node *refused_condition(struct tr_arena *a, const char *type, const char *reason, const char *msg,
                                         int64_t generation)
{
    char now[32];
    tr_format_time(now, (int64_t)time(NULL));
    struct tr_node *c = tr_node_new(a, TR_N_MAP);
    tr_node_set(a, c, "type", tr_node_str(a, type));
    tr_node_set(a, c, "status", tr_node_str(a, "False"));
    tr_node_set(a, c, "reason", tr_node_str(a, reason));
    tr_node_set(a, c, "message", tr_node_strn(a, msg, strlen(msg) > 1000 ? 1000 : strlen(msg)));
    if (generation > 0)
        tr_node_set(a, c, "observedGeneration", tr_node_int(a, generation));
    tr_node_set(a, c, "lastTransitionTime", tr_node_str(a, now));
    return c;
}

void kstatus_rejected(struct tr_kubeprov *p, const struct kreject *rj)
{
    if (rj->kind >= TR_KIND_NAMESPACE)
        return;
    struct reflector *r = &p->refl[rj->kind];
    struct tr_buf key;
    tr_buf_init(&key, 0);
    tr_buf_printf(&key, "%s/%s", rj->ns, rj->name);
    struct kube_known *k = tr_map_get(&r->known, key.data, key.len);
    const struct tr_published *pub = p->st->cur;
    struct tr_arena *a = tr_arena_new(2048);
    struct tr_node *st = NULL;
    if (k && rj->parents && (shared_list(rj->kind) && is_route(rj->kind))) {
        struct tr_buf err;
        tr_buf_init(&err, 0);
        struct tr_node *refs = tr_json_parse_one(a, rj->parents, strlen(rj->parents), &err);
        tr_buf_dispose(&err);
        struct tr_node *parents = tr_node_new(a, TR_N_SEQ);
        for (size_t i = 0; i < tr_node_len(refs) && tr_node_len(parents) < 32; i++) {
            struct tr_node *ref = tr_node_at(refs, i);
            const char *kind = tr_node_gets(ref, "kind"), *name = tr_node_gets(ref, "name");
            const char *ns = tr_node_gets(ref, "namespace");
            if (!name || (kind && strcmp(kind, "Gateway") != 0) || !ours_in(pub, "Gateway", ns ? ns : rj->ns, name))
                continue;
            struct tr_node *e = tr_node_new(a, TR_N_MAP);
            tr_node_set(a, e, "parentRef", tr_node_clone(a, ref));
            tr_node_set(a, e, "controllerName", tr_node_str(a, p->o.controller));
            struct tr_node *conds = tr_node_new(a, TR_N_SEQ);
            tr_node_push(a, conds, refused_condition(a, "Accepted", "UnsupportedValue", rj->note, rj->generation));
            tr_node_set(a, e, "conditions", conds);
            tr_node_push(a, parents, e);
        }
        st = tr_node_new(a, TR_N_MAP);
        tr_node_set(a, st, "parents", parents);
    } else if (k && rj->kind == TR_KIND_GATEWAY && rj->cls && ours_in(pub, "GatewayClass", NULL, rj->cls)) {
        st = tr_node_new(a, TR_N_MAP);
        struct tr_node *conds = tr_node_new(a, TR_N_SEQ);
        tr_node_push(a, conds, refused_condition(a, "Accepted", "Invalid", rj->note, rj->generation));
        tr_node_push(a, conds, refused_condition(a, "Programmed", "Invalid", rj->note, rj->generation));
        tr_node_set(a, st, "conditions", conds);
    }
    if (st) {
        struct tr_buf js;
        tr_buf_init(&js, 0);
        tr_node_emit_json(&js, st, 0);
        free(k->desired);
        k->desired = tr_buf_steal(&js);
        if (k->inflight)
            k->dirty = true;
        else
            enqueue(p->st, rj->kind, key.data, k);
    }
    tr_arena_free(a);
    tr_buf_dispose(&key);
}

const struct tr_published *kstatus_current(const struct tr_kubeprov *p)
{
    return p->st->cur;
}

void kstatus_lead(struct tr_kubeprov *p)
{
    struct kube_status *s = p->st;
    if (s->cur)
        kprov_publish(p, s->cur);
    for (int kind = 0; kind < TR_KIND_NAMESPACE; kind++) {
        struct reflector *r = &p->refl[kind];
        size_t it = 0;
        struct tr_map_slot *sl;
        while ((sl = tr_map_next(&r->known, &it))) {
            struct kube_known *k = sl->val;
            if (k->inflight) {
                k->dirty = true;
                continue;
            }
            char *key = tr_xstrndup(sl->key, sl->klen);
            enqueue(s, (enum tr_kind)kind, key, k);
            free(key);
        }
    }
}

/* ---- merging ---- */

/* Is entry torii's: its controllerName one of ctrls (NULL-terminated: the gateway's, and the
 * mesh's when torii runs as the mesh)? */
static bool ours(const struct tr_node *entry, const char *const *ctrls)
{
    const char *c = tr_node_gets(entry, "controllerName");
    for (; c && *ctrls; ctrls++)
        if (strcmp(c, *ctrls) == 0)
            return true;
    return false;
}

/* The reference that identifies an entry of a shared list. */
static const struct tr_node *entry_ref(const struct tr_node *e)
{
    const struct tr_node *ref = tr_node_get(e, "parentRef");
    return ref ? ref : tr_node_get(e, "ancestorRef");
}

static const struct tr_node *find_entry(const struct tr_node *list, const struct tr_node *like, const char *const *ctrls)
{
    for (size_t i = 0; i < tr_node_len(list); i++) {
        const struct tr_node *e = tr_node_at(list, i);
        if (ours(e, ctrls) == ours(like, ctrls) && tr_node_equal(entry_ref(e), entry_ref(like)))
            return e;
    }
    return NULL;
}

/* The item of seq old that pairs with item x of new, for keeping transition times: conditions by
 * type, listeners by name, shared-list entries by reference and controller, else by position. */
static const struct tr_node *pair(const struct tr_node *old_seq, const struct tr_node *x, size_t i,
                                  const char *const *ctrls)
{
    if (!x || x->type != TR_N_MAP)
        return tr_node_at(old_seq, i);
    const char *by = tr_node_get(x, "type") && tr_node_get(x, "status") ? "type"
                     : tr_node_get(x, "name")                             ? "name"
                                                                          : NULL;
    if (by) {
        const char *v = tr_node_gets(x, by);
        for (size_t j = 0; v && j < tr_node_len(old_seq); j++)
            if (tr_node_gets(tr_node_at(old_seq, j), by) && strcmp(tr_node_gets(tr_node_at(old_seq, j), by), v) == 0)
                return tr_node_at(old_seq, j);
        return NULL;
    }
    if (entry_ref(x))
        return find_entry(old_seq, x, ctrls);
    return tr_node_at(old_seq, i);
}

/* In w (written into arena a), a condition whose type and status match its pair in o keeps o's
 * lastTransitionTime. */
static void keep_times(struct tr_arena *a, struct tr_node *w, const struct tr_node *o, const char *const *ctrls)
{
    if (!w || !o || w->type != o->type)
        return;
    if (w->type == TR_N_MAP) {
        const char *st = tr_node_gets(w, "status"), *ost = tr_node_gets(o, "status");
        const char *ty = tr_node_gets(w, "type"), *oty = tr_node_gets(o, "type");
        const char *olt = tr_node_gets(o, "lastTransitionTime");
        if (st && ost && ty && oty && olt && tr_node_get(w, "lastTransitionTime") && strcmp(st, ost) == 0 &&
            strcmp(ty, oty) == 0) {
            tr_node_set(a, w, "lastTransitionTime", tr_node_str(a, olt));
            return;
        }
        for (uint32_t i = 0; i < w->n; i++)
            keep_times(a, w->u.kv[i].val, tr_node_get(o, w->u.kv[i].key), ctrls);
    } else if (w->type == TR_N_SEQ) {
        for (uint32_t i = 0; i < w->n; i++)
            keep_times(a, w->u.items[i], pair(o, w->u.items[i], i, ctrls), ctrls);
    }
}

/* Conditions of w that are False where their pair in o was not: an Event each (an invalid
 * reference, a conflict, a listener that cannot be served). */
static void tell_falls(struct tr_kubeprov *p, enum tr_kind kind, const char *key, const struct tr_node *w,
                       const struct tr_node *o)
{
    if (!w)
        return;
    if (w->type == TR_N_MAP) {
        const char *st = tr_node_gets(w, "status"), *ty = tr_node_gets(w, "type");
        if (st && ty) {
            if (strcmp(st, "False") == 0 && !(o && tr_node_gets(o, "status") && strcmp(tr_node_gets(o, "status"), "False") == 0)) {
                const char *slash = strchr(key, '/');
                char *ns = tr_xstrndup(key, (size_t)(slash - key));
                const char *reason = tr_node_gets(w, "reason"), *msg = tr_node_gets(w, "message");
                char note[1024];
                snprintf(note, sizeof(note), "%s=False: %s", ty, msg ? msg : "");
                kevent_about(p, kind, ns, slash + 1, true, reason ? reason : ty, note);
                free(ns);
            }
            return;
        }
        for (uint32_t i = 0; i < w->n; i++) {
            /* Another controller's entries are not torii's to tell about. */
            if (strcmp(w->u.kv[i].key, "controllerName") == 0 && !ours(w, p->ctrls))
                return;
        }
        for (uint32_t i = 0; i < w->n; i++)
            tell_falls(p, kind, key, w->u.kv[i].val, tr_node_get(o, w->u.kv[i].key));
    } else if (w->type == TR_N_SEQ) {
        for (uint32_t i = 0; i < w->n; i++)
            tell_falls(p, kind, key, w->u.items[i], pair(o, w->u.items[i], i, p->ctrls));
    }
}

/* What to write: desired merged into observed (either may be NULL). */
static struct tr_node *merge(struct tr_arena *a, enum tr_kind kind, const struct tr_node *desired,
                             const struct tr_node *observed, const char *const *ctrls)
{
    const char *list = shared_list(kind);
    struct tr_node *w;
    if (!list) {
        if (!desired)
            return NULL; /* torii has nothing to say about it: not its object */
        w = tr_node_clone(a, desired);
    } else {
        /* The observed status with the shared list rebuilt: others' entries where they were,
         * ours replaced (in place when still wanted), new ones of ours at the end. */
        const struct tr_node *want = tr_node_get(desired, list);
        const struct tr_node *had = tr_node_get(observed, list);
        bool had_ours = false;
        for (size_t i = 0; i < tr_node_len(had) && !had_ours; i++)
            had_ours = ours(tr_node_at(had, i), ctrls);
        /* Not a word about an object torii has no part in (a route of another implementation's
         * Gateway): not even an empty list. */
        if (!had_ours && tr_node_len(want) == 0)
            return NULL;
        w = observed && observed->type == TR_N_MAP ? tr_node_clone(a, observed) : tr_node_new(a, TR_N_MAP);
        struct tr_node *out = tr_node_new(a, TR_N_SEQ);
        for (size_t i = 0; i < tr_node_len(had); i++) {
            const struct tr_node *e = tr_node_at(had, i);
            if (!ours(e, ctrls)) {
                tr_node_push(a, out, tr_node_clone(a, e));
                continue;
            }
            const struct tr_node *d = find_entry(want, e, ctrls);
            if (d)
                tr_node_push(a, out, tr_node_clone(a, d));
        }
        for (size_t i = 0; i < tr_node_len(want); i++) {
            const struct tr_node *d = tr_node_at(want, i);
            if (!find_entry(had, d, ctrls))
                tr_node_push(a, out, tr_node_clone(a, d));
        }
        tr_node_set(a, w, list, out);
        /* Anything else the desired status holds is torii's to say. */
        for (uint32_t i = 0; desired && desired->type == TR_N_MAP && i < desired->n; i++)
            if (strcmp(desired->u.kv[i].key, list) != 0)
                tr_node_set(a, w, desired->u.kv[i].key, tr_node_clone(a, desired->u.kv[i].val));
    }
    keep_times(a, w, observed, ctrls);
    return w;
}

/* An RFC 7386 merge patch that turns o into w: maps recursed, a key o has and w lacks set to
 * null, anything else replaced whole. */
static struct tr_node *diff(struct tr_arena *a, const struct tr_node *o, const struct tr_node *w)
{
    if (!o || o->type != TR_N_MAP || w->type != TR_N_MAP)
        return tr_node_clone(a, w);
    struct tr_node *patch = tr_node_new(a, TR_N_MAP);
    for (uint32_t i = 0; i < w->n; i++) {
        const struct tr_node *ov = tr_node_get(o, w->u.kv[i].key);
        if (ov && tr_node_equal(ov, w->u.kv[i].val))
            continue;
        tr_node_set(a, patch, w->u.kv[i].key, diff(a, ov, w->u.kv[i].val));
    }
    for (uint32_t i = 0; i < o->n; i++)
        if (!tr_node_get(w, o->u.kv[i].key))
            tr_node_set(a, patch, o->u.kv[i].key, tr_node_new(a, TR_N_NULL));
    return patch;
}

/* ---- writing ---- */

static void on_written(void *ud, const struct tr_kc_result *res);

static struct kube_known *known_of(struct tr_kubeprov *p, enum tr_kind kind, const char *key)
{
    return tr_map_get(&p->refl[kind].known, key, strlen(key));
}

/* Takes the object the server answered with as the observed version. */
static void adopt(struct kube_known *k, const char *body, size_t len)
{
    struct tr_arena *a = tr_arena_new(4096);
    struct tr_buf err;
    tr_buf_init(&err, 0);
    struct tr_node *obj = tr_json_parse_one(a, body, len, &err);
    const char *rv = tr_node_gets(tr_node_get(obj, "metadata"), "resourceVersion");
    if (rv) {
        free(k->rv);
        k->rv = tr_xstrdup(rv);
        struct tr_node *st = tr_node_get(obj, "status");
        free(k->observed);
        k->observed = NULL;
        if (st) {
            struct tr_buf b;
            tr_buf_init(&b, 0);
            tr_node_emit_json(&b, st, 0);
            k->observed = tr_buf_steal(&b);
        }
    }
    tr_buf_dispose(&err);
    tr_arena_free(a);
}

/* Compares one object; writes it when it differs. Returns true when a request went out. */
static bool compare(struct kube_status *s, enum tr_kind kind, const char *key, struct write *again)
{
    struct tr_kubeprov *p = s->p;
    struct kube_known *k = known_of(p, kind, key);
    if (!k) {
        if (again) {
            write_free(again);
        }
        return false;
    }
    k->dirty = false;
    struct tr_arena *a = tr_arena_new(4096);
    struct tr_buf err;
    tr_buf_init(&err, 0);
    struct tr_node *desired = k->desired ? tr_json_parse_one(a, k->desired, strlen(k->desired), &err) : NULL;
    struct tr_node *observed = k->observed ? tr_json_parse_one(a, k->observed, strlen(k->observed), &err) : NULL;
    struct tr_node *w = merge(a, kind, desired, observed, p->ctrls);
    bool sent = false;
    if (w && !tr_node_equal(w, observed)) {
        struct tr_node *body = tr_node_new(a, TR_N_MAP);
        struct tr_node *meta = tr_node_new(a, TR_N_MAP);
        tr_node_set(a, meta, "resourceVersion", tr_node_str(a, k->rv));
        tr_node_set(a, body, "metadata", meta);
        tr_node_set(a, body, "status", diff(a, observed, w));
        struct tr_buf b, path;
        tr_buf_init(&b, 0);
        tr_buf_init(&path, 0);
        tr_node_emit_json(&b, body, 0);
        const char *slash = strchr(key, '/');
        char *ns = tr_xstrndup(key, (size_t)(slash - key));
        kube_path(&path, &p->refl[kind], ns, slash + 1, true);
        free(ns);
        tr_buf_puts(&path, "?fieldManager=torii");
        struct write *wr = again;
        if (!wr) {
            wr = tr_xcalloc(1, sizeof(*wr));
            wr->s = s;
            wr->kind = kind;
            wr->key = tr_xstrdup(key);
            wr->next = s->writes;
            if (s->writes)
                s->writes->prev = wr;
            s->writes = wr;
        }
        struct tr_kc_call call = {.method = TR_KC_PATCH,
                                  .path = path.data,
                                  .content_type = "application/merge-patch+json",
                                  .body = b.data,
                                  .len = b.len,
                                  .timeout_s = 30,
                                  .on_done = on_written,
                                  .ud = wr};
        tr_kc_start(p->kc, &call);
        tell_falls(p, kind, key, w, observed);
        k->inflight = true;
        s->inflight++;
        sent = true;
        tr_buf_dispose(&b);
        tr_buf_dispose(&path);
    } else if (again) {
        write_free(again);
    }
    tr_buf_dispose(&err);
    tr_arena_free(a);
    return sent;
}

static void on_reread(void *ud, const struct tr_kc_result *res)
{
    struct write *wr = ud;
    struct kube_status *s = wr->s;
    struct kube_known *k = known_of(s->p, wr->kind, wr->key);
    s->inflight--;
    if (k)
        k->inflight = false;
    if (!k || res->status == 404) {
        write_free(wr);
        return;
    }
    if (res->status == 200)
        adopt(k, res->body, res->len);
    if (__atomic_load_n(&s->p->leader, __ATOMIC_ACQUIRE)) {
        compare(s, wr->kind, wr->key, wr); /* sends wr again, or frees it */
        return;
    }
    enqueue(s, wr->kind, wr->key, k); /* for when this replica leads again */
    write_free(wr);
}

static void on_written(void *ud, const struct tr_kc_result *res)
{
    struct write *wr = ud;
    struct kube_status *s = wr->s;
    struct tr_kubeprov *p = s->p;
    struct kube_known *k = known_of(p, wr->kind, wr->key);
    if (res->status == 200 || res->status == 201) {
        __atomic_add_fetch(&p->stats.status_writes, 1, __ATOMIC_RELAXED);
        if (k) {
            adopt(k, res->body, res->len);
            k->written_ms = kube_now_ms();
        }
    } else if (res->status == 409 && k && wr->conflicts < MAX_CONFLICTS) {
        /* Someone wrote first: read the latest and merge again. */
        __atomic_add_fetch(&p->stats.status_conflicts, 1, __ATOMIC_RELAXED);
        wr->conflicts++;
        struct tr_buf path;
        tr_buf_init(&path, 0);
        const char *slash = strchr(wr->key, '/');
        char *ns = tr_xstrndup(wr->key, (size_t)(slash - wr->key));
        kube_path(&path, &p->refl[wr->kind], ns, slash + 1, true);
        free(ns);
        struct tr_kc_call call = {.method = TR_KC_GET, .path = path.data, .on_done = on_reread, .ud = wr};
        tr_kc_start(p->kc, &call);
        tr_buf_dispose(&path);
        return; /* still in flight */
    } else if (res->status != 404 && k) {
        char msg[300];
        kube_status_message(res, msg, sizeof(msg));
        tr_log_warn("kubernetes: status of %s %s: %ld %s", tr_kind_name(wr->kind), wr->key, res->status, msg);
        /* 422 (the server refuses the status itself) is not tried again until it changes;
         * anything else is, after a pause. */
        if (res->status != 422) {
            s->retry_at_ms = kube_now_ms() + 2000;
            s->inflight--;
            k->inflight = false;
            enqueue(s, wr->kind, wr->key, k);
            write_free(wr);
            return;
        }
    }
    s->inflight--;
    if (k) {
        k->inflight = false;
        /* Changed while the write was out (a new publish, a newer observed status)? */
        if (k->dirty) {
            k->dirty = false;
            enqueue(s, wr->kind, wr->key, k);
        }
    }
    write_free(wr);
}

int kstatus_tick(struct tr_kubeprov *p, int64_t now)
{
    struct kube_status *s = p->st;
    if (!s->published || !__atomic_load_n(&p->leader, __ATOMIC_ACQUIRE))
        return -1;
    if (now < s->retry_at_ms)
        return (int)(s->retry_at_ms - now);
    /* Those whose wait is over go back to their kind's queue. */
    while (s->later) {
        struct pending *e = s->later;
        struct kube_known *k = known_of(p, e->kind, e->key);
        if (k && now - k->written_ms < MIN_REWRITE_MS)
            break;
        s->later = e->next;
        if (!s->later)
            s->later_tail = &s->later;
        e->next = NULL;
        *s->tail[e->kind] = e;
        s->tail[e->kind] = &e->next;
    }
    for (int kind = 0; kind < TR_KIND__COUNT && s->inflight < MAX_INFLIGHT; kind++) {
        while (s->queue[kind] && s->inflight < MAX_INFLIGHT) {
            struct pending *e = s->queue[kind];
            s->queue[kind] = e->next;
            if (!s->queue[kind])
                s->tail[kind] = &s->queue[kind];
            struct kube_known *k = known_of(p, e->kind, e->key);
            if (k && !k->inflight && k->written_ms && now - k->written_ms < MIN_REWRITE_MS) {
                /* Written a moment ago: later, with whatever else changes meanwhile. */
                e->next = NULL;
                *s->later_tail = e;
                s->later_tail = &e->next;
                continue;
            }
            if (k && !k->inflight)
                compare(s, e->kind, e->key, NULL);
            else if (k)
                k->dirty = true; /* looked at again when its write ends */
            free(e->key);
            free(e);
        }
    }
    if (s->later) {
        struct kube_known *k = known_of(p, s->later->kind, s->later->key);
        int64_t due = k ? k->written_ms + MIN_REWRITE_MS : now;
        return due > now ? (int)(due - now) : 0;
    }
    return -1;
}
