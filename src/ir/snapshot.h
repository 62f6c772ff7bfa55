/* The snapshot: what the data plane serves, immutable and refcounted, swapped whole. It owns
 * the store view and the translate result the IR points into. See docs/internals/snapshot.md. */
#ifndef TR_IR_SNAPSHOT_H
#define TR_IR_SNAPSHOT_H

#include <stdint.h>

struct tr_view;
struct tr_tx;
struct tr_ir;
struct tr_snapshot;

/* Makes a snapshot that owns v and tx (freed with its last reference). refs 1. Control thread. */
struct tr_snapshot *tr_snapshot_new(struct tr_view *v, struct tr_tx *tx, uint64_t generation);
/* Makes s the current snapshot; the caller's reference passes to the publisher. Control thread. */
void tr_snapshot_publish(struct tr_snapshot *s);
/* +1 ref on the current snapshot (NULL before the first publish). Any thread. */
struct tr_snapshot *tr_snapshot_acquire(void);
/* +1 ref on s. Any thread. */
struct tr_snapshot *tr_snapshot_ref(struct tr_snapshot *s);
/* -1 ref; frees on the last. Any thread; NULL allowed. */
void tr_snapshot_release(struct tr_snapshot *s);
/* Drops the current snapshot (at shutdown). Control thread. */
void tr_snapshot_clear(void);

const struct tr_ir *tr_snapshot_ir(const struct tr_snapshot *s);
const struct tr_view *tr_snapshot_view(const struct tr_snapshot *s);
uint64_t tr_snapshot_generation(const struct tr_snapshot *s);

#endif
