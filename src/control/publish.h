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

/* What publishing remembers between translations: when each condition last changed status, and
 * the JSON of each object, re-emitted only when its version or status changed. */
struct tr_pubstate;
struct tr_pubstate *tr_pubstate_new(void);
void tr_pubstate_free(struct tr_pubstate *ps);

/* Renders every object of v (in kind, then namespace/name order) with the status tx computed,
 * into arena a, as {"items": [...]}. With ps, conditions get lastTransitionTime (kept while a
 * condition's status does not change); without, they get none (golden files). */
struct tr_node *tr_status_render(struct tr_arena *a, const struct tr_view *v, const struct tr_tx *tx,
                                 struct tr_pubstate *ps, int64_t now);

/* Builds what the admin server serves. store gives the rejected manifests. */
struct tr_published *tr_publish_build(const struct tr_view *v, const struct tr_tx *tx, const struct tr_store *store,
                                      struct tr_pubstate *ps, uint64_t generation, bool ready);

#endif
