#include "store/store.h"
#include "api/object.h"
#include "base/buf.h"
#include "base/map.h"
#include "base/mem.h"

#include <stdlib.h>
#include <string.h>

struct file_rejects {
    struct tr_reject *v;
    size_t n;
};

struct tr_store {
    struct tr_map objs[TR_KIND__COUNT]; /* "ns/name" -> struct tr_obj* */
    struct tr_map rejects;              /* file -> struct file_rejects* */
    uint64_t version;
    uint64_t kind_version[TR_KIND__COUNT];
};

static size_t key_of(char *out, size_t cap, const char *ns, const char *name)
{
    size_t a = strlen(ns), b = strlen(name);
    if (a + b + 2 > cap)
        return 0;
    memcpy(out, ns, a);
    out[a] = '/';
    memcpy(out + a + 1, name, b + 1);
    return a + 1 + b;
}

struct tr_store *tr_store_new(void)
{
    return tr_xcalloc(1, sizeof(struct tr_store));
}

void tr_reject_dispose(struct tr_reject *r)
{
    free(r->ns);
    free(r->name);
    free(r->file);
    for (size_t i = 0; i < r->nmsgs; i++)
        free(r->msgs[i]);
    free(r->msgs);
}

static void free_file_rejects(struct file_rejects *fr)
{
    if (!fr)
        return;
    for (size_t i = 0; i < fr->n; i++)
        tr_reject_dispose(&fr->v[i]);
    free(fr->v);
    free(fr);
}

void tr_store_free(struct tr_store *s)
{
    if (!s)
        return;
    for (int k = 0; k < TR_KIND__COUNT; k++) {
        size_t it = 0;
        struct tr_map_slot *slot;
        while ((slot = tr_map_next(&s->objs[k], &it)))
            tr_obj_release(slot->val);
        tr_map_dispose(&s->objs[k]);
    }
    size_t it = 0;
    struct tr_map_slot *slot;
    while ((slot = tr_map_next(&s->rejects, &it)))
        free_file_rejects(slot->val);
    tr_map_dispose(&s->rejects);
    free(s);
}

void tr_store_put(struct tr_store *s, struct tr_obj *o)
{
    char key[600];
    size_t klen = key_of(key, sizeof(key), o->ns, o->name);
    TR_BUG_ON(!klen);
    o->version = ++s->version;
    s->kind_version[o->kind] = s->version;
    tr_obj_release(tr_map_put(&s->objs[o->kind], key, klen, o));
}

int tr_store_del(struct tr_store *s, enum tr_kind kind, const char *ns, const char *name)
{
    char key[600];
    size_t klen = key_of(key, sizeof(key), ns, name);
    struct tr_obj *o = klen ? tr_map_del(&s->objs[kind], key, klen) : NULL;
    if (!o)
        return 0;
    tr_obj_release(o);
    s->kind_version[kind] = ++s->version;
    return 1;
}

const struct tr_obj *tr_store_get(const struct tr_store *s, enum tr_kind kind, const char *ns, const char *name)
{
    char key[600];
    size_t klen = key_of(key, sizeof(key), ns, name);
    return klen ? tr_map_get(&s->objs[kind], key, klen) : NULL;
}

uint64_t tr_store_version(const struct tr_store *s)
{
    return s->version;
}

void tr_store_set_rejects(struct tr_store *s, const char *file, struct tr_reject *rejects, size_t n)
{
    struct file_rejects *fr = NULL;
    if (n) {
        fr = tr_xcalloc(1, sizeof(*fr));
        fr->v = rejects;
        fr->n = n;
        free_file_rejects(tr_map_put(&s->rejects, file, strlen(file), fr));
    } else {
        free(rejects);
        free_file_rejects(tr_map_del(&s->rejects, file, strlen(file)));
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void tr_store_each_reject(const struct tr_store *s, void (*fn)(void *ud, const struct tr_reject *r), void *ud)
{
    size_t n = s->rejects.len, it = 0, i = 0;
    const char **files = tr_xcalloc(n, sizeof(*files));
    struct tr_map_slot *slot;
    while ((slot = tr_map_next(&s->rejects, &it)))
        files[i++] = slot->key;
    qsort(files, n, sizeof(*files), cmp_str);
    for (i = 0; i < n; i++) {
        struct file_rejects *fr = tr_map_get(&s->rejects, files[i], strlen(files[i]));
        for (size_t j = 0; j < fr->n; j++)
            fn(ud, &fr->v[j]);
    }
    free(files);
}

static int cmp_obj(const void *a, const void *b)
{
    const struct tr_obj *x = *(const struct tr_obj *const *)a, *y = *(const struct tr_obj *const *)b;
    int c = strcmp(x->ns, y->ns);
    return c ? c : strcmp(x->name, y->name);
}

struct tr_view *tr_store_view(const struct tr_store *s)
{
    struct tr_view *v = tr_xcalloc(1, sizeof(*v));
    v->version = s->version;
    memcpy(v->kind_version, s->kind_version, sizeof(v->kind_version));
    for (int k = 0; k < TR_KIND__COUNT; k++) {
        v->n[k] = s->objs[k].len;
        v->objs[k] = tr_xcalloc(v->n[k], sizeof(struct tr_obj *));
        size_t it = 0, i = 0;
        struct tr_map_slot *slot;
        while ((slot = tr_map_next(&s->objs[k], &it)))
            v->objs[k][i++] = tr_obj_acquire(slot->val);
        qsort(v->objs[k], v->n[k], sizeof(struct tr_obj *), cmp_obj);
    }
    return v;
}

void tr_view_free(struct tr_view *v)
{
    if (!v)
        return;
    for (int k = 0; k < TR_KIND__COUNT; k++) {
        for (size_t i = 0; i < v->n[k]; i++)
            tr_obj_release(v->objs[k][i]);
        free(v->objs[k]);
    }
    free(v);
}

struct tr_obj *tr_view_find(const struct tr_view *v, enum tr_kind kind, const char *ns, const char *name)
{
    if (!ns || !name)
        return NULL;
    size_t lo = 0, hi = v->n[kind];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const struct tr_obj *o = v->objs[kind][mid];
        int c = strcmp(o->ns, ns);
        if (!c)
            c = strcmp(o->name, name);
        if (!c)
            return v->objs[kind][mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

long tr_view_index(const struct tr_view *v, const struct tr_obj *o)
{
    size_t lo = 0, hi = v->n[o->kind];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = cmp_obj(&v->objs[o->kind][mid], &o);
        if (!c)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}
