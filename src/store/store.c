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
    struct tr_map rejects; /* file -> struct file_rejects* */
    uint64_t version;
    uint64_t kind_version[TR_KIND__COUNT];
    /* Each kind's objects in namespace/name order, kept on every put and delete: a view is a
     * copy, not a sort, and an object is found by binary search (a map by name beside it took
     * a slot and a copy of the name per object). */
    struct tr_obj **sorted[TR_KIND__COUNT];
    size_t n[TR_KIND__COUNT], cap[TR_KIND__COUNT];
};

/* The position of ns/name in the sorted array of kind: where it is, or where it would go. */
static size_t sorted_pos(const struct tr_store *s, enum tr_kind k, const char *ns, const char *name, bool *found)
{
    size_t lo = 0, hi = s->n[k];
    *found = false;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = tr_obj_name_cmp(ns, name, s->sorted[k][mid]);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
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
        for (size_t i = 0; i < s->n[k]; i++)
            tr_obj_release(s->sorted[k][i]);
        free(s->sorted[k]);
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
    o->version = ++s->version;
    s->kind_version[o->kind] = s->version;
    enum tr_kind k = o->kind;
    bool found;
    size_t at = sorted_pos(s, k, o->ns, o->name, &found);
    if (found) {
        tr_obj_release(s->sorted[k][at]);
    } else {
        if (s->n[k] == s->cap[k]) {
            s->cap[k] = s->cap[k] ? s->cap[k] * 2 : 16;
            s->sorted[k] = tr_xrealloc(s->sorted[k], s->cap[k] * sizeof(*s->sorted[k]));
        }
        memmove(&s->sorted[k][at + 1], &s->sorted[k][at], (s->n[k] - at) * sizeof(*s->sorted[k]));
        s->n[k]++;
    }
    s->sorted[k][at] = o;
}

int tr_store_del(struct tr_store *s, enum tr_kind kind, const char *ns, const char *name)
{
    bool found;
    size_t at = sorted_pos(s, kind, ns, name, &found);
    if (!found)
        return 0;
    struct tr_obj *o = s->sorted[kind][at];
    s->n[kind]--;
    memmove(&s->sorted[kind][at], &s->sorted[kind][at + 1], (s->n[kind] - at) * sizeof(*s->sorted[kind]));
    /* After many deletes the array shrinks with them (a quarter full: to half). */
    if (s->cap[kind] > 16 && s->n[kind] * 4 < s->cap[kind]) {
        s->cap[kind] /= 2;
        s->sorted[kind] = tr_xrealloc(s->sorted[kind], s->cap[kind] * sizeof(*s->sorted[kind]));
    }
    tr_obj_release(o);
    s->kind_version[kind] = ++s->version;
    return 1;
}

const struct tr_obj *tr_store_get(const struct tr_store *s, enum tr_kind kind, const char *ns, const char *name)
{
    bool found;
    size_t at = sorted_pos(s, kind, ns, name, &found);
    return found ? s->sorted[kind][at] : NULL;
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

struct tr_view *tr_store_view(const struct tr_store *s)
{
    struct tr_view *v = tr_xcalloc(1, sizeof(*v));
    v->version = s->version;
    memcpy(v->kind_version, s->kind_version, sizeof(v->kind_version));
    for (int k = 0; k < TR_KIND__COUNT; k++) {
        v->n[k] = s->n[k];
        v->objs[k] = tr_xcalloc(v->n[k], sizeof(struct tr_obj *));
        for (size_t i = 0; i < v->n[k]; i++)
            v->objs[k][i] = tr_obj_acquire(s->sorted[k][i]);
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
        const struct tr_obj *m = v->objs[o->kind][mid];
        if (m == o)
            return (long)mid;
        int c = tr_obj_name_cmp(o->ns, o->name, m);
        if (!c)
            return (long)mid;
        if (c > 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}
