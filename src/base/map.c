#include "base/map.h"
#include "base/mem.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* FNV-1a, 64-bit: small, good enough for keys we make ourselves (kind/ns/name). */
uint64_t tr_hash(const void *p, size_t len)
{
    const unsigned char *s = p;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

void tr_map_dispose(struct tr_map *m)
{
    if (!m->borrow_keys)
        for (size_t i = 0; i < m->cap; i++)
            free(m->slots[i].key);
    free(m->slots);
    m->slots = NULL;
    m->cap = m->len = 0;
}

static struct tr_map_slot *find(const struct tr_map *m, const char *key, size_t klen, uint32_t h)
{
    if (!m->cap)
        return NULL;
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        struct tr_map_slot *s = &m->slots[i];
        if (!s->key)
            return s;
        if (s->hash == h && s->klen == klen && memcmp(s->key, key, klen) == 0)
            return s;
    }
}

static void resize(struct tr_map *m, size_t cap)
{
    struct tr_map_slot *old = m->slots;
    size_t oldcap = m->cap;
    m->slots = tr_xcalloc(cap, sizeof(*m->slots));
    m->cap = cap;
    for (size_t i = 0; i < oldcap; i++) {
        if (!old[i].key)
            continue;
        struct tr_map_slot *s = find(m, old[i].key, old[i].klen, old[i].hash);
        *s = old[i];
    }
    free(old);
}

void *tr_map_get(const struct tr_map *m, const char *key, size_t klen)
{
    struct tr_map_slot *s = find(m, key, klen, (uint32_t)tr_hash(key, klen));
    return s && s->key ? s->val : NULL;
}

void *tr_map_put(struct tr_map *m, const char *key, size_t klen, void *val)
{
    if (m->dense ? (m->len + 1) * 8 > m->cap * 7 : (m->len + 1) * 4 > m->cap * 3)
        resize(m, m->cap ? m->cap * 2 : 16);
    uint32_t h = (uint32_t)tr_hash(key, klen);
    struct tr_map_slot *s = find(m, key, klen, h);
    if (s->key) {
        void *old = s->val;
        s->val = val;
        if (m->borrow_keys)
            s->key = (char *)(uintptr_t)key; /* the old value's key may go with it */
        return old;
    }
    s->key = m->borrow_keys ? (char *)(uintptr_t)key : tr_xstrndup(key, klen);
    s->klen = (uint32_t)klen;
    s->hash = h;
    s->val = val;
    m->len++;
    return NULL;
}

void *tr_map_del(struct tr_map *m, const char *key, size_t klen)
{
    struct tr_map_slot *s = find(m, key, klen, (uint32_t)tr_hash(key, klen));
    if (!s || !s->key)
        return NULL;
    void *val = s->val;
    if (!m->borrow_keys)
        free(s->key);
    s->key = NULL;
    m->len--;
    /* Backward-shift deletion keeps probe chains intact without tombstones. */
    size_t mask = m->cap - 1;
    size_t hole = (size_t)(s - m->slots);
    for (size_t i = (hole + 1) & mask; m->slots[i].key; i = (i + 1) & mask) {
        size_t want = m->slots[i].hash & mask;
        bool move = hole <= i ? (want <= hole || want > i) : (want <= hole && want > i);
        if (move) {
            m->slots[hole] = m->slots[i];
            m->slots[i].key = NULL;
            hole = i;
        }
    }
    /* Mostly empty after many deletes (10,000 routes gone): below a quarter full, the table
     * halves until it is not (it grows at three quarters, or seven eighths, so a delete and an
     * insert never resize it back and forth). */
    if (m->cap > 16 && m->len * 4 < m->cap) {
        size_t cap = m->cap;
        while (cap > 16 && m->len * 4 < cap)
            cap /= 2;
        resize(m, cap);
    }
    return val;
}

struct tr_map_slot *tr_map_next(const struct tr_map *m, size_t *it)
{
    while (*it < m->cap) {
        struct tr_map_slot *s = &m->slots[(*it)++];
        if (s->key)
            return s;
    }
    return NULL;
}

size_t tr_map_sweep(struct tr_map *m, bool (*gone)(void *ud, void *val), void *ud)
{
    /* Deleting shifts slots back, so the keys to delete are collected first, as copies: gone
     * disposes of the value, and a borrowed key goes with it. */
    size_t it = 0, n = 0, cap = 0;
    struct tr_map_slot *s;
    struct tr_map_slot *doomed = NULL;
    while ((s = tr_map_next(m, &it))) {
        struct tr_map_slot copy = *s;
        if (m->borrow_keys)
            copy.key = tr_xstrndup(s->key, s->klen);
        if (!gone(ud, s->val)) {
            if (m->borrow_keys)
                free(copy.key);
            continue;
        }
        if (m->borrow_keys)
            s->key = copy.key; /* the value's went with it: until deleted, the slot has this one */
        else
            copy.key = tr_xstrndup(s->key, s->klen);
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            doomed = tr_xrealloc(doomed, cap * sizeof(*doomed));
        }
        doomed[n++] = copy;
    }
    for (size_t i = 0; i < n; i++) {
        tr_map_del(m, doomed[i].key, doomed[i].klen);
        free(doomed[i].key);
    }
    free(doomed);
    return n;
}
