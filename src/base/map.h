/* A string-keyed hash map (open addressing, linear probing). Keys are copied, or with
 * borrow_keys set the caller's (a key that lives in its value, such as a record's own name:
 * valid until the entry is deleted or replaced); values are the caller's. Not thread-safe. */
#ifndef TR_BASE_MAP_H
#define TR_BASE_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tr_map_slot {
    char *key; /* private */
    void *val;
    uint32_t klen;
    uint32_t hash; /* private: the low 32 bits of tr_hash */
};

/* Value type: embed it. Zero-initialised is an empty map that copies its keys. */
struct tr_map {
    struct tr_map_slot *slots; /* private */
    size_t cap, len;
    bool borrow_keys; /* set before the first put: keys are not copied, nor freed */
    /* Grow at seven eighths full rather than three quarters: for a large table looked up seldom
     * (one lookup per file event), where memory counts more than the length of probes. */
    bool dense;
};

uint64_t tr_hash(const void *p, size_t len);

/* Mixes x into a well-spread 64-bit value, a bijection (splitmix64's finalizer): for hashing a
 * few integers, or numbering things so that no two numbers give one value. */
static inline uint64_t tr_mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

void tr_map_dispose(struct tr_map *m);
/* Returns the value or NULL. */
void *tr_map_get(const struct tr_map *m, const char *key, size_t klen);
/* Sets key to val; returns the old value or NULL. Keys are shorter than 4 GiB. With borrow_keys
 * the entry keeps this key, also when it replaces a value. */
void *tr_map_put(struct tr_map *m, const char *key, size_t klen, void *val);
/* Removes key; returns its value or NULL. The table shrinks when it is below 1/4 full: slots
 * move then, as they do when it grows. */
void *tr_map_del(struct tr_map *m, const char *key, size_t klen);
/* Iterates: *it starts at 0; returns the next occupied slot or NULL. Do not modify while
 * iterating. */
struct tr_map_slot *tr_map_next(const struct tr_map *m, size_t *it);
/* Removes every entry whose value gone(ud, val) says is gone (gone disposes of it then).
 * Returns how many were removed. */
size_t tr_map_sweep(struct tr_map *m, bool (*gone)(void *ud, void *val), void *ud);

#endif
