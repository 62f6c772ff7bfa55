/* A decoded, validated object: one version of one Kubernetes object. Immutable once made and
 * shared by refcount between store versions and translate runs. */
#ifndef TR_API_OBJECT_H
#define TR_API_OBJECT_H

#include "api/kind.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tr_arena;
struct tr_node;
struct tr_verrs;
struct tr_buf;

struct tr_obj {
    union {
        struct tr_objid id; /* the four fields below, for what points at an object's names */
        struct {
            enum tr_kind kind;
            int refs;         /* private (beside kind: no padding in the record of every object) */
            const char *ns;   /* "" for cluster-scoped kinds */
            const char *name;
        };
    };
    /* The whole object, defaults applied; a Gateway API kind's status dropped. NULL for a route
     * kind's object, which is kept packed (the many objects, read once per version): read any
     * object's tree with tr_obj_tree. */
    struct tr_node *root;
    struct tr_node *spec; /* root's spec, or NULL */
    const char *file;     /* where it came from (for messages), or "" */
    uint32_t line;        /* first line of its document */
    uint32_t packed_len;  /* private: the packed tree's (tr_obj_packed) when root is NULL */
    int64_t generation;   /* as the API server assigns it */
    /* metadata.uid as a manifest or the API server gave it, or NULL: read it with tr_obj_uid */
    const char *uid;
    int64_t created;   /* creationTimestamp, seconds since the epoch */
    uint64_t seq;      /* order of first creation in this process: ties on created */
    uint64_t version;  /* resourceVersion: bumped on every change */
    /* private: owns everything above; a packed object is a block of its own, with an arena only
     * for a uid the API server changed (tr_obj_take_server_meta). */
    struct tr_arena *arena;
};
_Static_assert(offsetof(struct tr_obj, kind) == offsetof(struct tr_objid, kind) &&
                   offsetof(struct tr_obj, refs) == offsetof(struct tr_objid, refs) &&
                   offsetof(struct tr_obj, ns) == offsetof(struct tr_objid, ns) &&
                   offsetof(struct tr_obj, name) == offsetof(struct tr_objid, name),
               "tr_obj.id names the object's own fields");

/* The object whose names id is (a pointer to its tr_obj.id, as a rule spec's route). */
static inline const struct tr_obj *tr_obj_of_id(const struct tr_objid *id)
{
    return (const struct tr_obj *)(const void *)((const char *)id - offsetof(struct tr_obj, id));
}

/* Private: a packed object's tree (tr_node_pack), right after its record. */
static inline const unsigned char *tr_obj_packed(const struct tr_obj *o)
{
    return (const unsigned char *)(o + 1);
}

/* Decodes root (in arena a, whose ownership passes to this function) as an object of a kind
 * torii reads. prev is the version it replaces (same kind/namespace/name) or NULL: it gives
 * transition rules their oldSelf and keeps uid, creation and generation (bumped when the spec
 * changed). now is the creation time to use for a new object without creationTimestamp.
 * Returns TR_OK and *out (refs 1), or: -1 (kind not read by torii; *out NULL, no error), or
 * TR_EINVAL with the problems added to errs. On failure a is freed. errs' paths are relative to
 * the object ("spec.listeners[0].port"); *kind_out, *ns_out, *name_out (static or arena-free
 * copies, may be NULL) say what the object claimed to be, for messages. */
int tr_obj_decode(struct tr_arena *a, struct tr_node *root, const char *file, uint32_t line,
                  const struct tr_obj *prev, int64_t now, uint64_t seq, struct tr_obj **out,
                  struct tr_verrs *errs, char **ident_out);

/* Takes uid, generation and creationTimestamp from the object's own metadata, where the API
 * server set them (the Kubernetes provider: the server, not torii, counts generations). Call
 * right after tr_obj_decode, before the object is shared. */
void tr_obj_take_server_meta(struct tr_obj *o);

/* The object's uid: the one given, or one made from its sequence number (in buf). */
#define TR_UID_LEN 36
const char *tr_obj_uid(const struct tr_obj *o, char buf[TR_UID_LEN + 1]);

/* The object's tree: root, or for a packed object a tree unpacked into a whose strings point
 * into the object (valid while it is). */
const struct tr_node *tr_obj_tree(const struct tr_obj *o, struct tr_arena *a);
/* Its spec, the same way. */
const struct tr_node *tr_obj_spec(const struct tr_obj *o, struct tr_arena *a);
/* Same content (map order aside)? For an identical re-read of a file. */
bool tr_obj_same_content(const struct tr_obj *x, const struct tr_obj *y);

struct tr_obj *tr_obj_acquire(struct tr_obj *o);
/* Drops a reference; frees on the last. Any thread. NULL allowed. */
void tr_obj_release(struct tr_obj *o);

/* The order of a kind's objects (the store's, a view's): namespace, then name. Below, at or
 * above 0 as ns/name sorts before o, is o, or sorts after it. */
int tr_obj_name_cmp(const char *ns, const char *name, const struct tr_obj *o);

/* Writes "KIND NS/NAME" (or "KIND NAME" for cluster-scoped) into b. */
void tr_obj_ident(struct tr_buf *b, const struct tr_obj *o);

/* Builds the object as the API would show it, with status attached (may be NULL), into arena a:
 * metadata gets generation, uid, creationTimestamp and resourceVersion. */
struct tr_node *tr_obj_render(struct tr_arena *a, const struct tr_obj *o, const struct tr_node *status);

/* Parses an RFC 3339 time ("2026-11-26T05:40:00Z", fractions and offsets allowed) to seconds
 * since the epoch; -1 when it is not one. */
int64_t tr_parse_time(const char *s);

/* Formats seconds since the epoch as RFC 3339 UTC ("2026-11-26T05:40:00Z"). */
void tr_format_time(char out[32], int64_t t);

#endif
