/* The object store: the current version of every object, keyed by kind/namespace/name, plus
 * the manifests that were rejected. Control thread only. A view is an immutable, sorted copy
 * that translate reads. */
#ifndef TR_STORE_H
#define TR_STORE_H

#include "api/kind.h"

#include <stddef.h>
#include <stdint.h>

struct tr_obj;
struct tr_store;

/* A rejected manifest document: the version that did not replace the current one. */
struct tr_reject {
    int kind;          /* -1 when unknown */
    char *ns, *name;   /* may be NULL */
    char *file;
    char **msgs;       /* one line each: FILE:LINE: KIND NS/NAME: PATH: MESSAGE */
    size_t nmsgs;
};

/* An immutable copy of the store, sorted by namespace then name within each kind. */
struct tr_view {
    struct tr_obj **objs[TR_KIND__COUNT];
    size_t n[TR_KIND__COUNT];
    uint64_t version;
    /* The store version of the latest put or delete of each kind (0: never). */
    uint64_t kind_version[TR_KIND__COUNT];
};

struct tr_store *tr_store_new(void);
void tr_store_free(struct tr_store *s);

/* Puts o (the store takes the caller's reference), replacing the same key. Sets o->version. */
void tr_store_put(struct tr_store *s, struct tr_obj *o);
/* Deletes kind/ns/name if present; returns whether it was. */
int tr_store_del(struct tr_store *s, enum tr_kind kind, const char *ns, const char *name);
/* The current object or NULL (borrowed). */
const struct tr_obj *tr_store_get(const struct tr_store *s, enum tr_kind kind, const char *ns, const char *name);
/* Bumped by every put and delete. */
uint64_t tr_store_version(const struct tr_store *s);

/* Rejects are kept per source file (a file's rejects are replaced when it is read again). The
 * store takes ownership of rejects[]. */
void tr_store_set_rejects(struct tr_store *s, const char *file, struct tr_reject *rejects, size_t n);
/* Calls fn for every current reject, in file order. */
void tr_store_each_reject(const struct tr_store *s, void (*fn)(void *ud, const struct tr_reject *r), void *ud);

/* A sorted snapshot; every object gets a reference. Free with tr_view_free. */
struct tr_view *tr_store_view(const struct tr_store *s);
void tr_view_free(struct tr_view *v);
/* Binary search in a view; ns is "" for cluster-scoped kinds. Returns NULL when absent. */
struct tr_obj *tr_view_find(const struct tr_view *v, enum tr_kind kind, const char *ns, const char *name);
/* The index of o in v->objs[o->kind], or -1. */
long tr_view_index(const struct tr_view *v, const struct tr_obj *o);

void tr_reject_dispose(struct tr_reject *r);

#endif
