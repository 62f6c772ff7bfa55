#include "control/publish.h"
#include "admin/admin.h"
#include "api/kind.h"
#include "api/object.h"
#include "base/arena.h"
#include "base/buf.h"
#include "base/map.h"
#include "base/mem.h"
#include "base/node.h"
#include "ir/ir.h"
#include "snapshot/snapshot.h"
#include "store/store.h"
#include "translate/translate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* When each condition of an object last changed status, keyed by its path in the status
 * ("parents[0].conditions|Accepted"). Immutable once made; shared by the publish state and the
 * published items (any thread drops its reference). */
struct ltt {
    char *key;
    bool status;
    int64_t when;
};

struct tr_ltt {
    int refs; /* atomic */
    size_t n;
    struct ltt e[];
};

static void ltt_release(struct tr_ltt *l)
{
    if (!l || __atomic_sub_fetch(&l->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    for (size_t i = 0; i < l->n; i++)
        free(l->e[i].key);
    free(l);
}

static struct tr_ltt *ltt_ref(struct tr_ltt *l)
{
    if (l)
        __atomic_add_fetch(&l->refs, 1, __ATOMIC_RELAXED);
    return l;
}

/* An object as last published: its version and status, and its transition times. */
struct pub_entry {
    uint64_t epoch;
    uint64_t version;
    const struct tr_node *st; /* the status the times were taken from: alive while ps->held is */
    struct tr_ltt *ltt;
    bool made;
};

struct tr_pubstate {
    struct tr_map objs; /* "Kind/ns/name" -> struct pub_entry* */
    struct tr_snapshot *held; /* the snapshot of the last publish: its statuses are compared */
    uint64_t epoch;
};

struct tr_pubstate *tr_pubstate_new(void)
{
    return tr_xcalloc(1, sizeof(struct tr_pubstate));
}

static void entry_free(struct pub_entry *e)
{
    if (!e)
        return;
    ltt_release(e->ltt);
    free(e);
}

void tr_pubstate_free(struct tr_pubstate *ps)
{
    if (!ps)
        return;
    size_t it = 0;
    struct tr_map_slot *s;
    while ((s = tr_map_next(&ps->objs, &it)))
        entry_free(s->val);
    tr_map_dispose(&ps->objs);
    tr_snapshot_release(ps->held);
    free(ps);
}

/* Calls fn(ud, condition, path) for every condition of a status tree ("conditions" lists at any
 * depth); path is "parents[0].conditions|Accepted". */
typedef void cond_fn(void *ud, struct tr_node *cond, const char *path, bool status);

static void each_condition(struct tr_node *n, struct tr_buf *path, cond_fn *fn, void *ud)
{
    if (!n)
        return;
    if (n->type == TR_N_MAP) {
        for (uint32_t i = 0; i < n->n; i++) {
            size_t mark = path->len;
            if (mark)
                tr_buf_putc(path, '.');
            tr_buf_puts(path, n->u.kv[i].key);
            struct tr_node *v = n->u.kv[i].val;
            if (strcmp(n->u.kv[i].key, "conditions") == 0 && v->type == TR_N_SEQ) {
                for (uint32_t j = 0; j < v->n; j++) {
                    struct tr_node *c = v->u.items[j];
                    const char *type = tr_node_gets(c, "type");
                    const char *st = tr_node_gets(c, "status");
                    if (!type || !st)
                        continue;
                    size_t m2 = path->len;
                    tr_buf_putc(path, '|');
                    tr_buf_puts(path, type);
                    fn(ud, c, path->data, strcmp(st, "True") == 0);
                    path->len = m2;
                    path->data[m2] = '\0';
                }
            } else {
                each_condition(v, path, fn, ud);
            }
            path->len = mark;
            if (path->data)
                path->data[mark] = '\0';
        }
    } else if (n->type == TR_N_SEQ) {
        for (uint32_t i = 0; i < n->n; i++) {
            size_t mark = path->len;
            tr_buf_putc(path, '[');
            tr_buf_put_u64(path, i);
            tr_buf_putc(path, ']');
            each_condition(n->u.items[i], path, fn, ud);
            path->len = mark;
            path->data[mark] = '\0';
        }
    }
}

static const struct ltt *ltt_find(const struct tr_ltt *l, const char *path)
{
    for (size_t k = 0; l && k < l->n; k++)
        if (strcmp(l->e[k].key, path) == 0)
            return &l->e[k];
    return NULL;
}

struct timing {
    const struct tr_ltt *old;
    struct tr_ltt *out;
    size_t cap;
    int64_t now;
};

/* A condition's transition time: kept from the previous publish while its status is the same,
 * else now. */
static void time_condition(void *ud, struct tr_node *cond, const char *path, bool status)
{
    struct timing *tm = ud;
    const struct ltt *was = ltt_find(tm->old, path);
    int64_t when = was && was->status == status ? was->when : tm->now;
    if (!tm->out || tm->out->n == tm->cap) {
        tm->cap = tm->cap ? tm->cap * 2 : 4;
        size_t n = tm->out ? tm->out->n : 0;
        tm->out = tr_xrealloc(tm->out, sizeof(*tm->out) + tm->cap * sizeof(struct ltt));
        tm->out->n = n;
        tm->out->refs = 1;
    }
    tm->out->e[tm->out->n++] = (struct ltt){tr_xstrdup(path), status, when};
}

static struct tr_ltt *times_of(const struct tr_node *st, const struct tr_ltt *old, int64_t now)
{
    struct timing tm = {.old = old, .now = now};
    struct tr_buf path;
    tr_buf_init(&path, 0);
    each_condition((struct tr_node *)st, &path, time_condition, &tm); /* read only: fn writes nothing */
    tr_buf_dispose(&path);
    return tm.out;
}

struct stamping {
    struct tr_arena *a;
    const struct tr_ltt *ltt;
};

static void stamp_condition(void *ud, struct tr_node *cond, const char *path, bool status)
{
    struct stamping *sp = ud;
    const struct ltt *l = ltt_find(sp->ltt, path);
    if (!l)
        return;
    char when[32];
    tr_format_time(when, l->when);
    tr_node_set(sp->a, cond, "lastTransitionTime", tr_node_str(sp->a, when));
}

/* An item's JSON: the object, its status with every condition's lastTransitionTime. */
/* A copy of an item's status in a, every condition with its lastTransitionTime. */
static struct tr_node *stamped_status(struct tr_arena *a, const struct tr_pubitem *it)
{
    struct tr_node *stamped = tr_node_clone(a, it->status);
    struct stamping sp = {a, it->ltt};
    struct tr_buf path;
    tr_buf_init(&path, 0);
    each_condition(stamped, &path, stamp_condition, &sp);
    tr_buf_dispose(&path);
    return stamped;
}

static void render_item(const struct tr_pubitem *it, struct tr_buf *out)
{
    struct tr_arena *a = tr_arena_new(16 * 1024);
    tr_node_emit_json(out, tr_obj_render(a, it->obj, stamped_status(a, it)), 0);
    tr_arena_free(a);
}

/* Only the status, stamped: what the Kubernetes provider writes back. */
static void render_status(const struct tr_pubitem *it, struct tr_buf *out)
{
    if (!it->status) {
        tr_buf_puts(out, "null");
        return;
    }
    struct tr_arena *a = tr_arena_new(4096);
    tr_node_emit_json(out, stamped_status(a, it), 0);
    tr_arena_free(a);
}

static void item_free(struct tr_pubitem *it)
{
    ltt_release(it->ltt);
}

struct tr_node *tr_status_render(struct tr_arena *a, const struct tr_view *v, const struct tr_tx *tx)
{
    struct tr_node *items = tr_node_new(a, TR_N_SEQ);
    for (int k = 0; k < TR_KIND__COUNT; k++) {
        for (size_t i = 0; i < v->n[k]; i++) {
            const struct tr_obj *o = v->objs[k][i];
            tr_node_push(a, items, tr_obj_render(a, o, tx ? tr_tx_status_at(tx, k, i) : NULL));
        }
    }
    struct tr_node *root = tr_node_new(a, TR_N_MAP);
    tr_node_set(a, root, "items", items);
    return root;
}

static void add_reject(void *ud, const struct tr_reject *r)
{
    void **ctx = ud;
    struct tr_arena *a = ctx[0];
    struct tr_node *list = ctx[1];
    struct tr_node *m = tr_node_new(a, TR_N_MAP);
    tr_node_set(a, m, "file", tr_node_str(a, r->file));
    if (r->kind >= 0)
        tr_node_set(a, m, "kind", tr_node_str(a, tr_kind_name((enum tr_kind)r->kind)));
    if (r->ns && r->ns[0])
        tr_node_set(a, m, "namespace", tr_node_str(a, r->ns));
    if (r->name)
        tr_node_set(a, m, "name", tr_node_str(a, r->name));
    struct tr_node *errs = tr_node_new(a, TR_N_SEQ);
    for (size_t i = 0; i < r->nmsgs; i++)
        tr_node_push(a, errs, tr_node_str(a, r->msgs[i]));
    tr_node_set(a, m, "errors", errs);
    tr_node_push(a, list, m);
}

/* The object's key in the admin API: "Kind/ns/name", or "Kind/name" when cluster-scoped. */
static int obj_key(char *out, size_t cap, const struct tr_obj *o)
{
    const char *parts[3] = {tr_kind_name(o->kind), o->ns, o->name};
    size_t n = 0;
    for (int i = 0; i < 3; i++) {
        if (i == 1 && !o->ns[0])
            continue;
        size_t l = strlen(parts[i]);
        if (n + l + 2 > cap)
            return -1;
        if (n)
            out[n++] = '/';
        memcpy(out + n, parts[i], l);
        n += l;
    }
    out[n] = '\0';
    return (int)n;
}

/* Forgets objects that are gone. */
static bool gone(void *ud, void *val)
{
    struct pub_entry *e = val;
    if (e->epoch == *(const uint64_t *)ud)
        return false;
    entry_free(e);
    return true;
}

struct tr_published *tr_publish_build(struct tr_snapshot *snap, const struct tr_store *store, struct tr_pubstate *ps,
                                      bool ready)
{
    const struct tr_view *v = tr_snapshot_view(snap);
    const struct tr_tx *tx = tr_snapshot_tx(snap);
    int64_t now = (int64_t)time(NULL);
    struct tr_published *p = tr_xcalloc(1, sizeof(*p));
    p->refs = 1;
    p->ready = ready;
    p->generation = tr_snapshot_generation(snap);
    p->snap = tr_snapshot_ref(snap);
    size_t total = 0;
    for (int k = 0; k < TR_KIND__COUNT; k++)
        total += v->n[k];
    p->items = tr_xcalloc(total + 1, sizeof(*p->items));
    p->render = render_item;
    p->render_status = render_status;
    p->item_free = item_free;
    ps->epoch++;
    /* Transition times are taken again only when an object's version or status changed since
     * the last publish. The previous statuses are compared by identity first (a route's status
     * is shared by the translations that reuse its result), then by value. JSON is rendered
     * when asked for (admin.c). */
    for (int k = 0; k < TR_KIND__COUNT; k++) {
        for (size_t i = 0; i < v->n[k]; i++) {
            const struct tr_obj *o = v->objs[k][i];
            char key[600];
            int kl = obj_key(key, sizeof(key), o);
            if (kl < 0)
                continue;
            const struct tr_node *st = tr_tx_status_at(tx, k, i);
            struct pub_entry *e = tr_map_get(&ps->objs, key, (size_t)kl);
            if (!e) {
                e = tr_xcalloc(1, sizeof(*e));
                tr_map_put(&ps->objs, key, (size_t)kl, e);
            }
            if (!e->made || e->version != o->version || (st != e->st && !tr_node_equal(st, e->st))) {
                struct tr_ltt *l = times_of(st, e->ltt, now);
                ltt_release(e->ltt);
                e->ltt = l;
                e->made = true;
            }
            e->version = o->version;
            e->st = st;
            e->epoch = ps->epoch;
            p->items[p->nitems++] = (struct tr_pubitem){o, st, ltt_ref(e->ltt)};
            tr_map_put(&p->objs, key, (size_t)kl, (void *)(uintptr_t)p->nitems);
        }
    }
    tr_map_sweep(&ps->objs, gone, &ps->epoch);
    /* The statuses just compared against stay alive until the next publish. */
    tr_snapshot_release(ps->held);
    ps->held = tr_snapshot_ref(snap);

    struct tr_arena *a = tr_arena_new(16 * 1024);
    struct tr_node *rejects = tr_node_new(a, TR_N_SEQ);
    void *ctx[2] = {a, rejects};
    tr_store_each_reject(store, add_reject, ctx);
    struct tr_buf rj;
    tr_buf_init(&rj, 0);
    tr_node_emit_json(&rj, rejects, 0);
    p->rejected = tr_buf_steal(&rj);
    tr_arena_free(a);
    return p;
}
