/* The admin server: status of every object (Kubernetes JSON shape), health, readiness and the
 * config dump, on a loopback address; and optionally a probe listener (on the pod's address, for
 * the kubelet and Prometheus) with health, readiness and metrics only. One thread serves both,
 * from what the control thread last published. */
#ifndef TR_ADMIN_H
#define TR_ADMIN_H

#include "base/map.h"

struct tr_snapshot;

#include <stdbool.h>

struct tr_obj;
struct tr_node;
struct tr_buf;
struct tr_ltt;

/* One object as published. Its JSON is rendered on request: kept for every object after every
 * publish, it cost more memory than the objects themselves. */
struct tr_pubitem {
    const struct tr_obj *obj;     /* alive while the published snapshot is */
    /* Its status as translate keeps it (an id: tr_tx_status_tree gives the tree), or NULL; alive
     * as long as the object. Equal ids are equal statuses. */
    const void *status;
    struct tr_ltt *ltt;           /* when each condition last changed; the publisher's */
};

/* What the control thread hands over after each translation. Immutable once published. */
struct tr_published {
    struct tr_pubitem *items; /* every object (kind, then namespace/name order) */
    size_t nitems;
    /* Appends the JSON of an item (the object with its status and transition times); drops an
     * item's references. Any thread. */
    void (*render)(const struct tr_pubitem *it, struct tr_buf *out);
    /* The same for the status alone ("null" when it has none). Any thread. */
    void (*render_status)(const struct tr_pubitem *it, struct tr_buf *out);
    void (*item_free)(struct tr_pubitem *it);
    /* The index + 1 in items of the object of key "Kind/ns/name" ("Kind/name" when
     * cluster-scoped), or 0. Any thread. */
    size_t (*find)(const struct tr_published *p, const char *key, size_t klen);
    char *rejected;         /* JSON array of the rejected manifests */
    struct tr_snapshot *snap; /* what items point into; its /config is rendered on request */
    bool ready;         /* the config dir has been loaded once */
    unsigned long long generation; /* config generation: bumped per published translation */
    int refs;                      /* private: atomic */
};

struct tr_admin;

/* Starts serving on addr ("127.0.0.1:9901") and, unless probe_addr is NULL, the probe listener
 * on probe_addr ("0.0.0.0:9902", "[::]:9902"). Returns NULL and sets *err (free it) on failure. */
struct tr_admin *tr_admin_start(const char *addr, const char *probe_addr, char **err);
/* The process is draining: /readyz answers 503 from now on, on both listeners. Any thread. */
void tr_admin_drain(struct tr_admin *ad);
/* Replaces what is served; takes ownership of p. Any thread. */
void tr_admin_publish(struct tr_admin *ad, struct tr_published *p);
/* Stops the thread and frees everything. */
void tr_admin_stop(struct tr_admin *ad);
/* References: the admin server holds one, the Kubernetes provider another while it writes status
 * from it. Any thread. */
struct tr_published *tr_published_ref(struct tr_published *p);
void tr_published_release(struct tr_published *p);

#endif
