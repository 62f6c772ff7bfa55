/* The snapshot: what the data plane serves, immutable and refcounted, swapped whole. It owns
 * the store view and the translate result the IR points into. See docs/internals/snapshot.md. */
#ifndef TR_SNAPSHOT_SNAPSHOT_H
#define TR_SNAPSHOT_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tr_view;
struct tr_obj;
struct tr_tx;
struct tr_ir;
struct tr_snapshot;

/* Says whether the control thread could bind addr:port: workers open only those sockets. */
typedef bool tr_snapshot_bindable_fn(void *ud, const char *addr, uint16_t port, bool udp);

/* Makes a snapshot that owns v and tx (freed with its last reference). refs 1. bindable may be
 * NULL (every port is). Control thread. */
struct tr_snapshot *tr_snapshot_new(struct tr_view *v, struct tr_tx *tx, uint64_t generation,
                                    tr_snapshot_bindable_fn *bindable, void *ud);
/* Makes s the current snapshot; the caller's reference passes to the publisher. Control thread. */
void tr_snapshot_publish(struct tr_snapshot *s);
/* +1 ref on the current snapshot (NULL before the first publish). Any thread. */
struct tr_snapshot *tr_snapshot_acquire(void);
/* +1 ref on s. Any thread. */
struct tr_snapshot *tr_snapshot_ref(struct tr_snapshot *s);
/* -1 ref; frees on the last (on the reaper's thread when there is one). Any thread; NULL
 * allowed. */
void tr_snapshot_release(struct tr_snapshot *s);
/* Makes this thread the reaper: a snapshot whose last reference goes on another thread is
 * queued and fd (an eventfd) written, and this thread frees it in tr_snapshot_reap. A worker
 * then never stalls on freeing a large snapshot, and what is freed is freed where the heap is
 * trimmed (tr_mem_trim). fd -1 stops it (what is queued is freed). */
void tr_snapshot_reaper(int fd);
/* Frees the queued snapshots; returns how many. The reaper's thread. */
size_t tr_snapshot_reap(void);
/* Drops the current snapshot and the TLS contexts kept for the next compile (at shutdown).
 * Control thread. */
void tr_snapshot_clear(void);

const struct tr_ir *tr_snapshot_ir(const struct tr_snapshot *s);

struct tr_router;
struct tr_ir_port;
/* The IR port served on addr:port (TCP or UDP), or NULL. Any thread (the snapshot is
 * immutable). */
const struct tr_ir_port *tr_snapshot_port(const struct tr_snapshot *s, const char *addr, uint16_t port, bool udp);
/* The mesh's Service port at cluster address addr and port (tr_ir_port.mesh), or NULL. Any
 * thread. The router of its route set i is tr_snapshot_router's. */
const struct tr_ir_port *tr_snapshot_mesh_port(const struct tr_snapshot *s, const char *addr, uint16_t port);
/* The compiled router of listener i of port p (HTTP and HTTPS listeners), or NULL when it has no
 * rules. */
/* The TLS server context of listener i of port p (HTTPS listeners), or NULL. */
struct ssl_ctx_st;
struct ssl_ctx_st *tr_snapshot_tls(const struct tr_snapshot *s, const struct tr_ir_port *p, size_t i);
/* Do backends of s connect with the TLS settings of id (tr_ir_backend_tls.id, which the compile
 * sets with the client context)? A connection made under an id s does not know must not carry
 * another request. Any thread. */
bool tr_snapshot_backend_tls_current(const struct tr_snapshot *s, uint64_t id);
/* Could the control thread bind port p (see tr_snapshot_new)? */
bool tr_snapshot_port_bindable(const struct tr_snapshot *s, const struct tr_ir_port *p);
const struct tr_router *tr_snapshot_router(const struct tr_snapshot *s, const struct tr_ir_port *p, size_t i);
const struct tr_view *tr_snapshot_view(const struct tr_snapshot *s);
const struct tr_tx *tr_snapshot_tx(const struct tr_snapshot *s);
uint64_t tr_snapshot_generation(const struct tr_snapshot *s);

#endif
