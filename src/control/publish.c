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
#include "store/store.h"
#include "translate/translate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct ltt_entry {
    bool status;
    int64_t when;
    uint64_t epoch;
};

/* An object's JSON as last published, reused while its version and status are unchanged. */
struct json_entry {
    uint64_t version;
    char *status; /* the status JSON it was made with ("" for none) */
    char *full;
    uint64_t epoch;
};

struct tr_pubstate {
    struct tr_map m;    /* "Kind/ns/name|path|type" -> struct ltt_entry* */
    struct tr_map json; /* "Kind/ns/name" -> struct json_entry* */
    uint64_t epoch;
    int64_t fmt_when; /* the instant fmt holds, formatted */
    char fmt[32];
};

struct tr_pubstate *tr_pubstate_new(void)
{
    return tr_xcalloc(1, sizeof(struct tr_pubstate));
}

static void json_entry_free(struct json_entry *e)
{
    if (!e)
        return;
    free(e->status);
    free(e->full);
    free(e);
}

void tr_pubstate_free(struct tr_pubstate *ps)
{
    if (!ps)
        return;
    size_t it = 0;
    struct tr_map_slot *s;
    while ((s = tr_map_next(&ps->m, &it)))
        free(s->val);
    tr_map_dispose(&ps->m);
    it = 0;
    while ((s = tr_map_next(&ps->json, &it)))
        json_entry_free(s->val);
    tr_map_dispose(&ps->json);
    free(ps);
}

/* Walks a status tree and stamps every condition with the time its status last changed. */
static void stamp(struct tr_arena *a, struct tr_node *n, struct tr_buf *path, struct tr_pubstate *ltt, int64_t now)
{
    if (!n)
        return;
    if (n->type == TR_N_MAP) {
        for (uint32_t i = 0; i < n->n; i++) {
            size_t mark = path->len;
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
                    struct ltt_entry *e = tr_map_get(&ltt->m, path->data, path->len);
                    if (!e) {
                        e = tr_xcalloc(1, sizeof(*e));
                        e->status = s;
                        e->when = now;
                        tr_map_put(&ltt->m, path->data, path->len, e);
                    } else if (e->status != s) {
                        e->status = s;
                        e->when = now;
                    }
                    e->epoch = ltt->epoch;
                    /* Most conditions share a few instants: format each once. */
                    if (e->when != ltt->fmt_when || !ltt->fmt[0]) {
                        tr_format_time(ltt->fmt, e->when);
                        ltt->fmt_when = e->when;
                    }
                    tr_node_set(a, c, "lastTransitionTime", tr_node_str(a, ltt->fmt));
                    path->len = m2;
                    path->data[m2] = '\0';
                }
            } else {
                stamp(a, v, path, ltt, now);
            }
            path->len = mark;
            path->data[mark] = '\0';
        }
    } else if (n->type == TR_N_SEQ) {
        for (uint32_t i = 0; i < n->n; i++) {
            size_t mark = path->len;
            tr_buf_printf(path, "[%u]", i);
            stamp(a, n->u.items[i], path, ltt, now);
            path->len = mark;
            path->data[mark] = '\0';
        }
    }
}

/* Forgets conditions that were not seen in the latest epoch (objects deleted, parents gone). */
static void ltt_sweep(struct tr_pubstate *ltt)
{
    size_t it = 0, n = 0;
    struct tr_map_slot *s;
    char **old = tr_xcalloc(ltt->m.len + 1, sizeof(char *));
    while ((s = tr_map_next(&ltt->m, &it)))
        if (((struct ltt_entry *)s->val)->epoch != ltt->epoch)
            old[n++] = tr_xstrdup(s->key);
    for (size_t i = 0; i < n; i++) {
        free(tr_map_del(&ltt->m, old[i], strlen(old[i])));
        free(old[i]);
    }
    free(old);
}

struct tr_node *tr_status_render(struct tr_arena *a, const struct tr_view *v, const struct tr_tx *tx,
                                 struct tr_pubstate *ltt, int64_t now)
{
    struct tr_node *items = tr_node_new(a, TR_N_SEQ);
    struct tr_buf path;
    tr_buf_init(&path, 0);
    if (ltt)
        ltt->epoch++;
    for (int k = 0; k < TR_KIND__COUNT; k++) {
        for (size_t i = 0; i < v->n[k]; i++) {
            const struct tr_obj *o = v->objs[k][i];
            const struct tr_node *st = tx ? tr_tx_status(tx, o) : NULL;
            struct tr_node *obj = tr_obj_render(a, o, st);
            if (ltt && st) {
                tr_buf_reset(&path);
                tr_buf_puts(&path, tr_kind_name(o->kind));
                tr_buf_putc(&path, '/');
                tr_buf_puts(&path, o->ns);
                tr_buf_putc(&path, '/');
                tr_buf_puts(&path, o->name);
                stamp(a, tr_node_get(obj, "status"), &path, ltt, now);
            }
            tr_node_push(a, items, obj);
        }
    }
    if (ltt)
        ltt_sweep(ltt);
    tr_buf_dispose(&path);
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
static void json_sweep(struct tr_pubstate *ps)
{
    size_t it = 0, n = 0;
    struct tr_map_slot *s;
    char **old = tr_xcalloc(ps->json.len + 1, sizeof(char *));
    while ((s = tr_map_next(&ps->json, &it)))
        if (((struct json_entry *)s->val)->epoch != ps->epoch)
            old[n++] = tr_xstrdup(s->key);
    for (size_t i = 0; i < n; i++) {
        json_entry_free(tr_map_del(&ps->json, old[i], strlen(old[i])));
        free(old[i]);
    }
    free(old);
}

struct tr_published *tr_publish_build(const struct tr_view *v, const struct tr_tx *tx, const struct tr_store *store,
                                      struct tr_pubstate *ps, uint64_t generation, bool ready)
{
    int64_t now = (int64_t)time(NULL);
    struct tr_published *p = tr_xcalloc(1, sizeof(*p));
    p->ready = ready;
    p->generation = generation;
    struct tr_buf all, path, one;
    tr_buf_init(&all, 0);
    tr_buf_init(&path, 0);
    tr_buf_puts(&all, "{\"items\":[");
    ps->epoch++;
    bool first = true;
    /* Each object is emitted once, and only when its version or its status changed since the
     * last publish: a change to one route re-renders a handful of objects, not all of them. */
    struct tr_arena *a = tr_arena_new(64 * 1024);
    for (int k = 0; k < TR_KIND__COUNT; k++) {
        for (size_t i = 0; i < v->n[k]; i++) {
            const struct tr_obj *o = v->objs[k][i];
            char key[600];
            int kl = obj_key(key, sizeof(key), o);
            if (kl < 0)
                continue;
            const struct tr_node *st = tx ? tr_tx_status(tx, o) : NULL;
            struct tr_node *stamped = NULL;
            tr_buf_init(&one, 0);
            if (st) {
                stamped = tr_node_clone(a, st);
                tr_buf_reset(&path);
                tr_buf_append(&path, key, (size_t)kl);
                stamp(a, stamped, &path, ps, now);
                tr_node_emit_json(&one, stamped, 0);
            }
            const char *stj = one.data ? one.data : "";
            struct json_entry *e = tr_map_get(&ps->json, key, (size_t)kl);
            if (!e || e->version != o->version || strcmp(e->status, stj) != 0) {
                if (!e) {
                    e = tr_xcalloc(1, sizeof(*e));
                    tr_map_put(&ps->json, key, (size_t)kl, e);
                }
                free(e->status);
                free(e->full);
                e->status = tr_xstrdup(stj);
                e->version = o->version;
                struct tr_buf full;
                tr_buf_init(&full, 0);
                tr_node_emit_json(&full, tr_obj_render(a, o, stamped), 0);
                e->full = tr_buf_steal(&full);
                tr_arena_reset(a);
            }
            e->epoch = ps->epoch;
            tr_buf_dispose(&one);
            if (!first)
                tr_buf_putc(&all, ',');
            first = false;
            tr_buf_puts(&all, e->full);
            tr_map_put(&p->objs, key, (size_t)kl, tr_xstrdup(e->full));
        }
    }
    ltt_sweep(ps);
    json_sweep(ps);
    tr_buf_dispose(&path);

    struct tr_node *rejects = tr_node_new(a, TR_N_SEQ);
    void *ctx[2] = {a, rejects};
    tr_store_each_reject(store, add_reject, ctx);
    tr_buf_puts(&all, "],\"rejected\":");
    tr_node_emit_json(&all, rejects, 0);
    tr_buf_putc(&all, '}');
    p->all = tr_buf_steal(&all);

    tr_arena_free(a);
    return p;
}
