/* Arenas: bump allocation in chunks, freed all at once. Nothing allocated from an arena is freed
 * one object at a time; resources go through tr_arena_on_reset() (nginx pool cleanups). */
#ifndef TR_BASE_ARENA_H
#define TR_BASE_ARENA_H

#include <stddef.h>

struct tr_arena;
typedef void tr_arena_cleanup_cb(void *data);

/* Returns a new arena whose chunks are at least chunk_len bytes. Any thread; the arena itself is
 * not thread-safe. */
struct tr_arena *tr_arena_new(size_t chunk_len);
/* Slabs: pages that arenas made in them (tr_arena_new_in) carve their blocks from, back to
 * back, so that many small long-lived arenas (a route's translation each) take what they use
 * and no more: an arena of its own would round its first chunk up, or guess. Pages are mapped
 * (mmap), not taken from the heap, and unmapped when every arena that took memory from it is
 * freed (until then, what freed arenas had in it stays taken): the heap's small blocks do not
 * fill a page's place when it goes, so it leaves no hole to pin. Blocks are made on one thread, while the slab lives; such arenas may be
 * freed on any thread, before or after their slab. */
struct tr_slab;
struct tr_slab *tr_slab_new(size_t page_len);
void tr_slab_free(struct tr_slab *s);
/* Bytes of slab pages mapped now, every slab together (memory malloc's statistics miss). */
size_t tr_slab_mapped(void);
/* An arena whose blocks (and the arena itself) are carved from s's pages. It cannot be reset. */
struct tr_arena *tr_arena_new_in(struct tr_slab *s);
/* Runs the cleanups (last registered first) and frees everything. NULL is allowed. */
void tr_arena_free(struct tr_arena *a);
/* Runs the cleanups and makes every byte reusable; keeps the first chunk. */
void tr_arena_reset(struct tr_arena *a);
/* Returns len bytes aligned to 8 bytes (enough for every type torii keeps in an arena: pointers
 * and 64-bit integers); never NULL. Strings (strndup, printf) are byte-aligned. */
void *tr_arena_alloc(struct tr_arena *a, size_t len);
/* Same, zeroed. */
void *tr_arena_zalloc(struct tr_arena *a, size_t len);
/* Copies s (len bytes) and NUL-terminates the copy. */
char *tr_arena_strndup(struct tr_arena *a, const char *s, size_t len);
char *tr_arena_strdup(struct tr_arena *a, const char *s);
/* printf into the arena. */
char *tr_arena_printf(struct tr_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Registers cb(data) to run when the arena is reset or freed. */
void tr_arena_on_reset(struct tr_arena *a, tr_arena_cleanup_cb *cb, void *data);
/* Bytes handed out since creation or the last reset (for allocation budgets). */
size_t tr_arena_used(const struct tr_arena *a);

#define TR_ANEW(a, type) ((type *)tr_arena_zalloc((a), sizeof(type)))
#define TR_ANEWN(a, type, n) ((type *)tr_arena_zalloc((a), sizeof(type) * (n)))

#endif
