/* The admin server: status of every object (Kubernetes JSON shape), health, readiness and the
 * config dump, on a loopback address. It runs on its own thread and serves what the control
 * thread last published. */
#ifndef TR_ADMIN_H
#define TR_ADMIN_H

#include "base/map.h"

struct tr_snapshot;

#include <stdbool.h>

/* What the control thread hands over after each translation. Immutable once published. */
struct tr_published {
    struct tr_blob **items; /* each object's JSON (kind, then namespace/name order); referenced */
    size_t nitems;
    char *rejected;         /* JSON array of the rejected manifests */
    char *all;              /* {"items": [...], "rejected": [...]}: made on the first /status */
    struct tr_map objs;     /* "Kind/ns/name" (cluster-scoped: "Kind/name") -> one of items */
    struct tr_snapshot *snap; /* its /config is rendered on request (large, rarely read) */
    bool ready;         /* the config dir has been loaded once */
    unsigned long long generation; /* config generation: bumped per published translation */
};

struct tr_admin;
struct tr_blob;

/* Starts serving on addr ("127.0.0.1:9901"). Returns NULL and sets *err (free it) on failure. */
struct tr_admin *tr_admin_start(const char *addr, char **err);
/* Replaces what is served; takes ownership of p. Any thread. */
void tr_admin_publish(struct tr_admin *ad, struct tr_published *p);
/* Stops the thread and frees everything. */
void tr_admin_stop(struct tr_admin *ad);
void tr_published_free(struct tr_published *p);

#endif
