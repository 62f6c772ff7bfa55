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
 * ("parents[0].conditions|Accepted"). Immutable once made, one block with its keys; shared by
 * the publish state and the published items (any thread drops its reference). */
struct ltt {
    const char *key; /* interned (path_interned), or in the block */
    int64_t when;
    bool status;
    bool interned; /* while the block is made: key is not an offset */
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
    free(l);
}

static struct tr_ltt *ltt_ref(struct tr_ltt *l)
{
    if (l)
        __atomic_add_fetch(&l->refs, 1, __ATOMIC_RELAXED);
    return l;
}

/* An object as last published: its version and status, and its transition times. The state
 * keeps them in the published order (kind, then namespace/name, as the view), so the next
 * publish finds an object's entry by walking both lists together: no map, no key strings. */
struct pub_entry {
    const struct tr_obj *obj; /* that version: alive while ps->held is (its names are the key) */
    const void *st; /* the status the times were taken from (tr_tx_status): the same */
    struct tr_ltt *ltt;
};

struct tr_pubstate {
    struct pub_entry *v;
    size_t n;
    struct tr_snapshot *held; /* the snapshot of the last publish: its objects and statuses */
};

struct tr_pubstate *tr_pubstate_new(void)
{
    return tr_xcalloc(1, sizeof(struct tr_pubstate));
}

void tr_pubstate_free(struct tr_pubstate *ps)
{
    if (!ps)
        return;
    for (size_t i = 0; i < ps->n; i++)
        ltt_release(ps->v[i].ltt);
    free(ps->v);
    tr_snapshot_release(ps->held);
    free(ps);
}

/* The published order: kind, namespace, name. */
static int obj_cmp(int kind, const char *ns, const char *name, const struct tr_obj *o)
{
    if (kind != (int)o->kind)
        return kind < (int)o->kind ? -1 : 1;
    return tr_obj_name_cmp(ns, name, o);
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

/* Condition paths, interned: there are few of them ("parents[0].conditions|Accepted",
 * "listeners[2].conditions|Programmed", ...), the same in most objects' times. At most
 * PATHS_MAX of at most PATH_LEN_MAX bytes, never freed (control thread only); past that a path
 * is kept in its object's block. */
#define PATHS_MAX 4096
#define PATH_LEN_MAX 96
static struct tr_map paths;

static const char *path_interned(const char *path)
{
    size_t n = strlen(path);
    const char *p = tr_map_get(&paths, path, n);
    if (p || n > PATH_LEN_MAX || paths.len >= PATHS_MAX)
        return p;
    p = tr_xstrndup(path, n);
    tr_map_put(&paths, path, n, (void *)(uintptr_t)p);
    return p;
}

struct timing {
    const struct tr_ltt *old;
    struct ltt *v; /* keys in keys, at offsets (the pointers are set when the block is made) */
    size_t n, cap;
    struct tr_buf keys;
    int64_t now;
};

/* A condition's transition time: kept from the previous publish while its status is the same,
 * else now. */
static void time_condition(void *ud, struct tr_node *cond, const char *path, bool status)
{
    struct timing *tm = ud;
    const struct ltt *was = ltt_find(tm->old, path);
    int64_t when = was && was->status == status ? was->when : tm->now;
    if (tm->n == tm->cap) {
        tm->cap = tm->cap ? tm->cap * 2 : 4;
        tm->v = tr_xrealloc(tm->v, tm->cap * sizeof(*tm->v));
    }
    const char *shared = path_interned(path);
    if (shared) { /* kept as is: told apart from an offset by the flag below */
        tm->v[tm->n++] = (struct ltt){shared, when, status, true};
        return;
    }
    tm->v[tm->n++] = (struct ltt){(const char *)(uintptr_t)tm->keys.len, when, status, false};
    tr_buf_append(&tm->keys, path, strlen(path) + 1);
}

/* The transition times st's conditions get (old's where their status did not change). Times
 * made by one publish whose paths are all interned are shared when equal (same): routes
 * accepted together, or changed together by a Gateway's change, have the same times. */
static struct tr_ltt *times_of(const struct tr_node *st, const struct tr_ltt *old, int64_t now, struct tr_map *same)
{
    struct timing tm = {.old = old, .now = now};
    tr_buf_init(&tm.keys, 0);
    struct tr_buf path;
    tr_buf_init(&path, 0);
    each_condition((struct tr_node *)st, &path, time_condition, &tm); /* read only: fn writes nothing */
    tr_buf_dispose(&path);
    struct tr_ltt *out = NULL;
    struct tr_buf key; /* the times as bytes, when every path is interned */
    tr_buf_init(&key, 0);
    if (tm.n && !tm.keys.len && same) {
        for (size_t i = 0; i < tm.n; i++) {
            tr_buf_append(&key, (const char *)&tm.v[i].key, sizeof(tm.v[i].key));
            tr_buf_append(&key, (const char *)&tm.v[i].when, sizeof(tm.v[i].when));
            tr_buf_putc(&key, tm.v[i].status ? '1' : '0');
        }
        out = ltt_ref(tr_map_get(same, key.data, key.len));
    }
    if (tm.n && !out) {
        size_t fixed = sizeof(*out) + tm.n * sizeof(struct ltt);
        out = tr_xmalloc(fixed + tm.keys.len);
        out->refs = 1;
        out->n = tm.n;
        char *keys = (char *)out + fixed;
        if (tm.keys.len) /* none when every path is interned (then keys.data is NULL) */
            memcpy(keys, tm.keys.data, tm.keys.len);
        for (size_t i = 0; i < tm.n; i++) {
            out->e[i] = tm.v[i];
            if (!tm.v[i].interned)
                out->e[i].key = keys + (uintptr_t)tm.v[i].key;
        }
        if (key.len)
            tr_map_put(same, key.data, key.len, out); /* the map holds no reference: this publish's */
    }
    tr_buf_dispose(&key);
    free(tm.v);
    tr_buf_dispose(&tm.keys);
    return out;
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
    /* A packed status unpacks into a fresh tree of a; a tree is the snapshot's: copied. */
    const struct tr_node *st = tr_tx_status_tree(it->status, a);
    struct tr_node *stamped = tr_tx_status_packed(it->status) ? (struct tr_node *)(uintptr_t)st : tr_node_clone(a, st);
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
            tr_node_push(a, items, tr_obj_render(a, o, tx ? tr_tx_status_tree(tr_tx_status_at(tx, k, i), a) : NULL));
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

/* The item of key "Kind/ns/name" ("Kind/name" when cluster-scoped): its index + 1, or 0. The
 * items are in the published order, so this is a binary search. */
static size_t find_item(const struct tr_published *p, const char *key, size_t klen)
{
    char k[600];
    if (klen >= sizeof(k))
        return 0;
    memcpy(k, key, klen);
    k[klen] = '\0';
    char *slash = strchr(k, '/');
    if (!slash)
        return 0;
    *slash = '\0';
    int kind = tr_kind_by_name(k);
    if (kind < 0)
        return 0;
    const char *ns = "", *name = slash + 1;
    char *second = strchr(slash + 1, '/');
    if (second) {
        *second = '\0';
        ns = slash + 1;
        name = second + 1;
    }
    size_t lo = 0, hi = p->nitems;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = obj_cmp(kind, ns, name, p->items[mid].obj);
        if (c == 0)
            return mid + 1;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return 0;
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
    p->find = find_item;
    /* Transition times are taken again only when an object's version or status changed since
     * the last publish. The previous statuses are compared by identity first (a route's status
     * is shared by the translations that reuse its result), then by value. JSON is rendered
     * when asked for (admin.c). */
    struct pub_entry *next = tr_xmalloc((total ? total : 1) * sizeof(*next));
    size_t j = 0;
    struct tr_arena *unpacked = NULL; /* packed statuses whose times are taken, one at a time */
    struct tr_map same = {0}; /* times made by this publish (times_of), not held */
    for (int k = 0; k < TR_KIND__COUNT; k++) {
        for (size_t i = 0; i < v->n[k]; i++) {
            const struct tr_obj *o = v->objs[k][i];
            /* Entries of objects that are gone come first in the order: they go. */
            while (j < ps->n && obj_cmp(k, o->ns, o->name, ps->v[j].obj) > 0)
                ltt_release(ps->v[j++].ltt);
            const struct pub_entry *was = NULL;
            if (j < ps->n && obj_cmp(k, o->ns, o->name, ps->v[j].obj) == 0)
                was = &ps->v[j++];
            const void *st = tr_tx_status_at(tx, k, i);
            struct tr_ltt *l;
            /* Packed statuses are shared by their bytes: different ids are different statuses. */
            bool trees = !tr_tx_status_packed(st) && (!was || !tr_tx_status_packed(was->st));
            if (was && was->obj->version == o->version &&
                (st == was->st || (trees && tr_node_equal(st, was->st)))) {
                l = was->ltt; /* the entry's reference moves to the new one */
            } else {
                if (tr_tx_status_packed(st)) {
                    if (!unpacked)
                        unpacked = tr_arena_new(4096);
                    tr_arena_reset(unpacked);
                }
                l = times_of(tr_tx_status_tree(st, unpacked), was ? was->ltt : NULL, now, &same);
                if (was)
                    ltt_release(was->ltt);
            }
            next[p->nitems] = (struct pub_entry){o, st, l};
            p->items[p->nitems++] = (struct tr_pubitem){o, st, ltt_ref(l)};
        }
    }
    tr_arena_free(unpacked);
    tr_map_dispose(&same);
    while (j < ps->n)
        ltt_release(ps->v[j++].ltt);
    free(ps->v);
    ps->v = next;
    ps->n = p->nitems;
    /* The objects and statuses just compared against stay alive until the next publish. */
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
