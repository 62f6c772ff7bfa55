#include "control/publish.h"
#include "admin/admin.h"
#include "api/kind.h"
#include "api/object.h"
#include "base/arena.h"
#include "base/blob.h"
#include "base/buf.h"
#include "base/map.h"
#include "base/mem.h"
#include "base/node.h"
#include "ir/ir.h"
#include "ir/snapshot.h"
#include "store/store.h"
#include "translate/translate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* When a condition of an object last changed status: keyed by its path in the status
 * ("parents[0].conditions|Accepted"). */
struct ltt {
    char *key;
    bool status;
    int64_t when;
};

/* An object as last published: its JSON, reused while the object's version and status are
 * unchanged, and the transition times of its conditions. */
struct json_entry {
    uint64_t version;
    const struct tr_node *st; /* the status it was made with: alive while ps->held is */
    struct tr_blob *full;
    struct ltt *ltt;
    size_t nltt;
    uint64_t epoch;
};

struct tr_pubstate {
    struct tr_map json; /* "Kind/ns/name" -> struct json_entry* */
    struct tr_snapshot *held; /* the snapshot of the last publish: its statuses are compared */
    uint64_t epoch;
    int64_t fmt_when; /* the instant fmt holds, formatted */
    char fmt[32];
};

struct tr_pubstate *tr_pubstate_new(void)
{
    return tr_xcalloc(1, sizeof(struct tr_pubstate));
}

static void ltt_free(struct ltt *l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(l[i].key);
    free(l);
}

static void json_entry_free(struct json_entry *e)
{
    if (!e)
        return;
    tr_blob_release(e->full);
    ltt_free(e->ltt, e->nltt);
    free(e);
}

void tr_pubstate_free(struct tr_pubstate *ps)
{
    if (!ps)
        return;
    size_t it = 0;
    struct tr_map_slot *s;
    while ((s = tr_map_next(&ps->json, &it)))
        json_entry_free(s->val);
    tr_map_dispose(&ps->json);
    tr_snapshot_release(ps->held);
    free(ps);
}

struct stamping {
    struct tr_pubstate *ps;
    const struct ltt *old;
    size_t nold;
    struct ltt *out;
    size_t n, cap;
    int64_t now;
};

/* Walks a status tree and stamps every condition with the time its status last changed: kept
 * from the object's previous publish while the status is the same, else now. */
static void stamp(struct tr_arena *a, struct tr_node *n, struct tr_buf *path, struct stamping *sp)
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
                    bool s = strcmp(st, "True") == 0;
                    int64_t when = sp->now;
                    for (size_t k = 0; k < sp->nold; k++) {
                        if (strcmp(sp->old[k].key, path->data) == 0) {
                            if (sp->old[k].status == s)
                                when = sp->old[k].when;
                            break;
                        }
                    }
                    if (sp->n == sp->cap) {
                        sp->cap = sp->cap ? sp->cap * 2 : 4;
                        sp->out = tr_xrealloc(sp->out, sp->cap * sizeof(*sp->out));
                    }
                    sp->out[sp->n++] = (struct ltt){tr_xstrdup(path->data), s, when};
                    /* Most conditions share a few instants: format each once. */
                    struct tr_pubstate *ps = sp->ps;
                    if (when != ps->fmt_when || !ps->fmt[0]) {
                        tr_format_time(ps->fmt, when);
                        ps->fmt_when = when;
                    }
                    tr_node_set(a, c, "lastTransitionTime", tr_node_str(a, ps->fmt));
                    path->len = m2;
                    path->data[m2] = '\0';
                }
            } else {
                stamp(a, v, path, sp);
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
            stamp(a, n->u.items[i], path, sp);
            path->len = mark;
            path->data[mark] = '\0';
        }
    }
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

/* Drops cached JSON of objects that are gone. */
static bool gone(void *ud, void *val)
{
    struct json_entry *e = val;
    if (e->epoch == *(const uint64_t *)ud)
        return false;
    json_entry_free(e);
    return true;
}

/* Renders o with its status stamped, into e. */
static void render(struct tr_arena *a, struct tr_pubstate *ps, struct json_entry *e, const struct tr_obj *o,
                   const struct tr_node *st, int64_t now)
{
    struct tr_node *stamped = NULL;
    struct stamping sp = {.ps = ps, .old = e->ltt, .nold = e->nltt, .now = now};
    if (st) {
        stamped = tr_node_clone(a, st);
        struct tr_buf path;
        tr_buf_init(&path, 0);
        stamp(a, stamped, &path, &sp);
        tr_buf_dispose(&path);
    }
    ltt_free(e->ltt, e->nltt);
    e->ltt = sp.out;
    e->nltt = sp.n;
    struct tr_buf full;
    tr_buf_init(&full, 0);
    tr_node_emit_json(&full, tr_obj_render(a, o, stamped), 0);
    tr_blob_release(e->full);
    e->full = tr_blob_new(full.data ? full.data : "", full.len);
    tr_buf_dispose(&full);
    tr_arena_reset(a);
}

struct tr_published *tr_publish_build(struct tr_snapshot *snap, const struct tr_store *store, struct tr_pubstate *ps,
                                      bool ready)
{
    const struct tr_view *v = tr_snapshot_view(snap);
    const struct tr_tx *tx = tr_snapshot_tx(snap);
    int64_t now = (int64_t)time(NULL);
    struct tr_published *p = tr_xcalloc(1, sizeof(*p));
    p->ready = ready;
    p->generation = tr_snapshot_generation(snap);
    p->snap = tr_snapshot_ref(snap);
    size_t total = 0;
    for (int k = 0; k < TR_KIND__COUNT; k++)
        total += v->n[k];
    p->items = tr_xcalloc(total + 1, sizeof(*p->items));
    ps->epoch++;
    /* An object is rendered again only when its version or its status changed since the last
     * publish: a change to one route renders that route and its Gateway, not every object.
     * The previous statuses are compared by identity first (a route's status is shared by
     * the translations that reuse its result), then by value. */
    struct tr_arena *a = tr_arena_new(64 * 1024);
    for (int k = 0; k < TR_KIND__COUNT; k++) {
        for (size_t i = 0; i < v->n[k]; i++) {
            const struct tr_obj *o = v->objs[k][i];
            char key[600];
            int kl = obj_key(key, sizeof(key), o);
            if (kl < 0)
                continue;
            const struct tr_node *st = tr_tx_status_at(tx, k, i);
            struct json_entry *e = tr_map_get(&ps->json, key, (size_t)kl);
            if (!e) {
                e = tr_xcalloc(1, sizeof(*e));
                tr_map_put(&ps->json, key, (size_t)kl, e);
            }
            if (!e->full || e->version != o->version || (st != e->st && !tr_node_equal(st, e->st)))
                render(a, ps, e, o, st, now);
            e->version = o->version;
            e->st = st;
            e->epoch = ps->epoch;
            p->items[p->nitems++] = tr_blob_ref(e->full);
            tr_map_put(&p->objs, key, (size_t)kl, e->full);
        }
    }
    tr_map_sweep(&ps->json, gone, &ps->epoch);
    /* The statuses just compared against stay alive until the next publish. */
    tr_snapshot_release(ps->held);
    ps->held = tr_snapshot_ref(snap);

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
