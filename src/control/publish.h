/* Status as the API shows it: every object with its status, for the admin server, the CLI and
 * golden files. */
#ifndef TR_CONTROL_PUBLISH_H
#define TR_CONTROL_PUBLISH_H

#include <stdbool.h>
#include <stdint.h>

struct tr_arena;
struct tr_node;
struct tr_view;
struct tr_tx;
struct tr_store;
struct tr_map;
struct tr_published;
struct tr_snapshot;

/* What publishing remembers between publishes: each object's JSON, re-rendered only when its
 * version or status changed, and when each condition last changed status. */
struct tr_pubstate;
struct tr_pubstate *tr_pubstate_new(void);
void tr_pubstate_free(struct tr_pubstate *ps);

/* Renders every object of v (in kind, then namespace/name order) with the status tx computed,
 * into arena a, as {"items": [...]}, without lastTransitionTime (golden files, torii check). */
struct tr_node *tr_status_render(struct tr_arena *a, const struct tr_view *v, const struct tr_tx *tx);

/* Builds what the admin server serves for snap (which it references). store gives the rejected
 * manifests. Conditions get lastTransitionTime, kept while their status does not change. */
struct tr_published *tr_publish_build(struct tr_snapshot *snap, const struct tr_store *store, struct tr_pubstate *ps,
                                      bool ready);

#endif
