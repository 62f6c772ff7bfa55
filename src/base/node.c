#include "base/node.h"
#include "base/arena.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/map.h"
#include "base/mem.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

struct tr_node *tr_node_new(struct tr_arena *a, enum tr_ntype type)
{
    struct tr_node *n = TR_ANEW(a, struct tr_node);
    n->type = (uint32_t)type;
    return n;
}

struct tr_node *tr_node_strn(struct tr_arena *a, const char *s, size_t len)
{
    struct tr_node *n = tr_node_new(a, TR_N_STR);
    n->u.s = tr_arena_strndup(a, s, len);
    n->n = (uint32_t)len;
    return n;
}

struct tr_node *tr_node_str(struct tr_arena *a, const char *s)
{
    return tr_node_strn(a, s, strlen(s));
}

struct tr_node *tr_node_int(struct tr_arena *a, int64_t i)
{
    struct tr_node *n = tr_node_new(a, TR_N_INT);
    n->u.i = i;
    return n;
}

struct tr_node *tr_node_bool(struct tr_arena *a, bool b)
{
    struct tr_node *n = tr_node_new(a, TR_N_BOOL);
    n->u.b = b;
    return n;
}

/* The capacity of a SEQ/MAP array grown by tr_node_set/push, from its length: 4, then doubling.
 * Not stored: a node is 16 bytes without it. An array made at its length (exact) has none to
 * spare. */
static uint32_t grown_cap(uint32_t n)
{
    uint32_t cap = 4;
    while (cap < n)
        cap *= 2;
    return cap;
}

static void grow(struct tr_arena *a, struct tr_node *n, size_t elem)
{
    if (!n->exact && n->n && n->n < grown_cap(n->n))
        return; /* room left (an empty array has none: it was never made) */
    uint32_t cap = grown_cap(n->n + 1);
    void *p = tr_arena_alloc(a, elem * cap);
    void *old = n->type == TR_N_MAP ? (void *)n->u.kv : (void *)n->u.items;
    if (n->n)
        memcpy(p, old, elem * n->n);
    if (n->type == TR_N_MAP)
        n->u.kv = p;
    else
        n->u.items = p;
    n->exact = 0;
}

void tr_node_set(struct tr_arena *a, struct tr_node *map, const char *key, struct tr_node *val)
{
    for (uint32_t i = 0; i < map->n; i++) {
        if (strcmp(map->u.kv[i].key, key) == 0) {
            map->u.kv[i].val = val;
            return;
        }
    }
    grow(a, map, sizeof(struct tr_kv));
    map->u.kv[map->n].key = tr_arena_strdup(a, key);
    map->u.kv[map->n].val = val;
    map->n++;
}

void tr_node_del(struct tr_node *map, const char *key)
{
    if (!map || map->type != TR_N_MAP)
        return;
    for (uint32_t i = 0; i < map->n; i++) {
        if (strcmp(map->u.kv[i].key, key) == 0) {
            memmove(&map->u.kv[i], &map->u.kv[i + 1], sizeof(struct tr_kv) * (map->n - i - 1));
            map->n--;
            return;
        }
    }
}

void tr_node_push(struct tr_arena *a, struct tr_node *seq, struct tr_node *val)
{
    grow(a, seq, sizeof(struct tr_node *));
    seq->u.items[seq->n++] = val;
}

/* Map keys of compacted trees, interned: a stored object's keys are mostly its schema's field
 * names ("apiVersion", "backendRefs", "port"...), the same few dozen in every route, and each
 * was a copy in every object (about 0.3 KiB of a typical route). Interned keys are never freed;
 * the table is bounded (KEYS_MAX of at most KEY_LEN_MAX bytes) so that arbitrary keys (labels,
 * annotations) cannot grow it without end: past the bound, keys are copied as before. */
#define KEYS_MAX 4096
#define KEY_LEN_MAX 64
static pthread_mutex_t keys_lock = PTHREAD_MUTEX_INITIALIZER;
/* Keys by id, in the order they were interned (a packed tree names a key by its id, which it
 * keeps for ever: the first 224 take one byte), and a table from text to id + 1 (open
 * addressing, at most half full). */
static const char *key_list[KEYS_MAX];
static uint16_t key_slots[KEYS_MAX * 2];
static size_t nkeys;
/* Their text, back to back in blocks of their own: a key interned while routes load, a small
 * block of the heap of its own, would pin a page among theirs once they are deleted. */
static struct tr_arena *keys_text;

/* The interned copy of key (len bytes), made if add and there is room; NULL otherwise. *id (if
 * not NULL) is its id. */
static const char *key_interned_at(const char *key, size_t len, bool add, size_t *id)
{
    if (len > KEY_LEN_MAX)
        return NULL;
    size_t mask = KEYS_MAX * 2 - 1, i = (size_t)tr_hash(key, len) & mask;
    const char *found = NULL;
    size_t at = 0;
    pthread_mutex_lock(&keys_lock);
    for (; key_slots[i]; i = (i + 1) & mask) {
        const char *k = key_list[key_slots[i] - 1];
        if (strncmp(k, key, len) == 0 && k[len] == '\0') {
            found = k;
            at = key_slots[i] - 1u;
            break;
        }
    }
    if (!found && add && nkeys < KEYS_MAX) {
        if (!keys_text)
            keys_text = tr_arena_new(16 * 1024);
        char *k = tr_arena_strndup(keys_text, key, len);
        at = nkeys++;
        __atomic_store_n(&key_list[at], k, __ATOMIC_RELEASE);
        key_slots[i] = (uint16_t)(at + 1);
        found = k;
    }
    pthread_mutex_unlock(&keys_lock);
    if (found && id)
        *id = at;
    return found;
}

static const char *key_interned(const char *key, size_t len, bool add)
{
    return key_interned_at(key, len, add, NULL);
}

void tr_node_intern_key(const char *key)
{
    key_interned(key, strlen(key), true);
}

static void compact_size(const struct tr_node *n, size_t *fixed, size_t *strs)
{
    *fixed += sizeof(struct tr_node);
    switch (n->type) {
    case TR_N_STR:
        *strs += n->n + 1;
        break;
    case TR_N_SEQ:
        *fixed += n->n * sizeof(struct tr_node *);
        for (uint32_t i = 0; i < n->n; i++)
            compact_size(n->u.items[i], fixed, strs);
        break;
    case TR_N_MAP:
        *fixed += n->n * sizeof(struct tr_kv);
        for (uint32_t i = 0; i < n->n; i++) {
            const char *k = n->u.kv[i].key;
            size_t kl = strlen(k);
            if (!key_interned(k, kl, true)) /* interned once, found again by compact_copy */
                *strs += kl + 1;
            compact_size(n->u.kv[i].val, fixed, strs);
        }
        break;
    default:
        break;
    }
}

struct cursor {
    char *fixed; /* nodes and arrays (pointer-aligned: every size above is a multiple) */
    char *strs;  /* strings, packed */
};

static const char *compact_str(struct cursor *c, const char *s, size_t len)
{
    char *p = c->strs;
    memcpy(p, s, len);
    p[len] = '\0';
    c->strs += len + 1;
    return p;
}

static struct tr_node *compact_copy(struct cursor *c, const struct tr_node *n)
{
    struct tr_node *out = (struct tr_node *)(void *)c->fixed;
    c->fixed += sizeof(*out);
    *out = *n;
    out->exact = 1;
    switch (n->type) {
    case TR_N_STR:
        out->u.s = compact_str(c, n->u.s, n->n);
        break;
    case TR_N_SEQ:
        out->u.items = n->n ? (struct tr_node **)(void *)c->fixed : NULL;
        c->fixed += n->n * sizeof(struct tr_node *);
        for (uint32_t i = 0; i < n->n; i++)
            out->u.items[i] = compact_copy(c, n->u.items[i]);
        break;
    case TR_N_MAP:
        out->u.kv = n->n ? (struct tr_kv *)(void *)c->fixed : NULL;
        c->fixed += n->n * sizeof(struct tr_kv);
        for (uint32_t i = 0; i < n->n; i++) {
            const char *k = n->u.kv[i].key;
            size_t kl = strlen(k);
            const char *in = key_interned(k, kl, false);
            out->u.kv[i].key = in ? in : compact_str(c, k, kl);
            out->u.kv[i].val = compact_copy(c, n->u.kv[i].val);
        }
        break;
    default:
        break;
    }
    return out;
}

struct tr_node *tr_node_compact(struct tr_arena *a, const struct tr_node *n)
{
    if (!n)
        return NULL;
    size_t fixed = 0, strs = 0;
    compact_size(n, &fixed, &strs);
    char *block = tr_arena_alloc(a, fixed + strs);
    struct cursor c = {block, block + fixed};
    return compact_copy(&c, n);
}

/* Packed trees. Each node is a tag byte, its type in the low 3 bits and a code in the high 5
 * (tag_code), then: INT a zigzag varint, FLOAT its 8 bytes, BOOL nothing (the code is its
 * value), STR as its code says (below), SEQ and MAP a count (the code less one, or when the code
 * is 0 a varint) and the items, or per entry the key and the value. A key is an interned key's
 * id, one byte below KEY_ID_WIDE (0xe0), or KEY_ID_WIDE | (id - 0xe0) >> 8 and a byte for the
 * rest; or KEY_INLINE (0xff), the length as a varint, the bytes and a NUL. A STR's code: its
 * length plus STR_SHORT when below STR_SHORT_MAX, and then the bytes and a NUL; STR_LONG, a
 * varint length, the bytes and a NUL; STR_DICT and its index in the packer's dictionary in one
 * byte; STR_BACK for one equal to an earlier STR of the tree written out (of two bytes or more)
 * and, as a varint, how far back that one's tag is. */
#define TAG_CODE_MAX 31u
#define STR_LONG 0u
#define STR_DICT 1u
#define STR_BACK 2u
#define STR_SHORT 3u
#define STR_SHORT_MAX (TAG_CODE_MAX - STR_SHORT + 1) /* lengths 0-28 fit the tag */

static unsigned char tag_of(enum tr_ntype type, unsigned code)
{
    return (unsigned char)(type | code << 3);
}

static unsigned tag_code(unsigned char tag)
{
    return tag >> 3;
}

#define KEY_ID_WIDE 0xe0u
#define KEY_INLINE 0xffu
_Static_assert(KEY_ID_WIDE + (0x0f << 8 | 0xff) + 1 >= KEYS_MAX, "every key id has a packed form");

static int put_varint(struct tr_buf *b, uint64_t v)
{
    unsigned char t[10];
    size_t n = 0;
    do {
        t[n++] = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    return tr_buf_append(b, t, n);
}

static int put_bytes(struct tr_buf *b, const char *s, size_t len)
{
    int rc = tr_buf_append(b, s, len);
    return rc ? rc : tr_buf_putc(b, '\0');
}

/* The index of s (len bytes) in dict, or -1. */
static int dict_find(const char *const *dict, const char *s, size_t len)
{
    for (int i = 0; dict && dict[i] && i < 256; i++)
        if (strlen(dict[i]) == len && memcmp(dict[i], s, len) == 0)
            return i;
    return -1;
}

/* A packer remembers where the strings it wrote start (their tags' offsets from the tree's
 * start), so that a string written again is a reference back: a string value repeats often in
 * a route (its name in a header value, a header name in each rule). */
#define PACK_SEEN_MAX 256
struct packer {
    struct tr_buf *b;
    size_t base; /* the tree's first byte in b */
    const char *const *dict;
    uint32_t seen[PACK_SEEN_MAX];
    size_t nseen;
};

struct unpacker {
    struct tr_arena *a;
    const unsigned char *start, *p, *end;
    const char *const *dict;
};

static uint64_t get_varint(struct unpacker *u);
static const char *get_bytes(struct unpacker *u, size_t len);

/* A STR written out (not STR_DICT or STR_BACK) at u->p: its bytes and length. */
static const char *get_str(struct unpacker *u, uint32_t *len)
{
    TR_BUG_ON(u->p >= u->end);
    unsigned char tag = *u->p++;
    unsigned code = tag_code(tag);
    TR_BUG_ON((tag & 7) != TR_N_STR || (code != STR_LONG && code < STR_SHORT));
    *len = code == STR_LONG ? (uint32_t)get_varint(u) : code - STR_SHORT;
    return get_bytes(u, *len);
}

/* The offset of an earlier string of the tree equal to s (len bytes), or -1. */
static long pack_seen(const struct packer *pk, const char *s, size_t len)
{
    for (size_t i = 0; i < pk->nseen; i++) {
        const unsigned char *t = (const unsigned char *)pk->b->data + pk->base + pk->seen[i];
        struct unpacker u = {.p = t, .end = (const unsigned char *)pk->b->data + pk->b->len};
        uint32_t n;
        const char *x = get_str(&u, &n);
        if (n == len && memcmp(x, s, len) == 0)
            return (long)pk->seen[i];
    }
    return -1;
}

/* Writes the tag of a SEQ or MAP of n items, the count in it or, when it does not fit, after it
 * as a varint. */
static int put_count_tag(struct tr_buf *b, enum tr_ntype type, uint32_t n)
{
    if (n < TAG_CODE_MAX)
        return tr_buf_putc(b, (char)tag_of(type, n + 1));
    int rc = tr_buf_putc(b, (char)tag_of(type, 0));
    return rc ? rc : put_varint(b, n);
}

static int pack_node(struct packer *pk, const struct tr_node *n)
{
    struct tr_buf *b = pk->b;
    size_t at = b->len - pk->base;
    int rc;
    switch (n->type) {
    case TR_N_INT:
        rc = tr_buf_putc(b, (char)tag_of(TR_N_INT, 0));
        return rc ? rc : put_varint(b, ((uint64_t)n->u.i << 1) ^ (uint64_t)(n->u.i >> 63));
    case TR_N_FLOAT:
        rc = tr_buf_putc(b, (char)tag_of(TR_N_FLOAT, 0));
        return rc ? rc : tr_buf_append(b, &n->u.f, sizeof(n->u.f));
    case TR_N_BOOL:
        return tr_buf_putc(b, (char)tag_of(TR_N_BOOL, n->u.b));
    case TR_N_STR: {
        int d = dict_find(pk->dict, n->u.s, n->n);
        if (d >= 0) {
            rc = tr_buf_putc(b, (char)tag_of(TR_N_STR, STR_DICT));
            return rc ? rc : tr_buf_putc(b, (char)d);
        }
        long prev = n->n >= 2 ? pack_seen(pk, n->u.s, n->n) : -1;
        if (prev >= 0) {
            rc = tr_buf_putc(b, (char)tag_of(TR_N_STR, STR_BACK));
            return rc ? rc : put_varint(b, at - (size_t)prev);
        }
        if (n->n >= 2 && pk->nseen < PACK_SEEN_MAX && at <= UINT32_MAX)
            pk->seen[pk->nseen++] = (uint32_t)at;
        if (n->n < STR_SHORT_MAX) {
            rc = tr_buf_putc(b, (char)tag_of(TR_N_STR, STR_SHORT + n->n));
        } else {
            rc = tr_buf_putc(b, (char)tag_of(TR_N_STR, STR_LONG));
            rc = rc ? rc : put_varint(b, n->n);
        }
        return rc ? rc : put_bytes(b, n->u.s, n->n);
    }
    case TR_N_SEQ:
        rc = put_count_tag(b, TR_N_SEQ, n->n);
        for (uint32_t i = 0; i < n->n && !rc; i++)
            rc = pack_node(pk, n->u.items[i]);
        return rc;
    case TR_N_MAP:
        rc = put_count_tag(b, TR_N_MAP, n->n);
        for (uint32_t i = 0; i < n->n && !rc; i++) {
            const char *k = n->u.kv[i].key;
            size_t kl = strlen(k), id;
            if (!key_interned_at(k, kl, true, &id)) {
                rc = tr_buf_putc(b, (char)KEY_INLINE);
                rc = rc ? rc : put_varint(b, kl);
                rc = rc ? rc : put_bytes(b, k, kl);
            } else if (id < KEY_ID_WIDE) {
                rc = tr_buf_putc(b, (char)id);
            } else {
                rc = tr_buf_putc(b, (char)(KEY_ID_WIDE | (id - KEY_ID_WIDE) >> 8));
                rc = rc ? rc : tr_buf_putc(b, (char)((id - KEY_ID_WIDE) & 0xff));
            }
            rc = rc ? rc : pack_node(pk, n->u.kv[i].val);
        }
        return rc;
    default:
        return tr_buf_putc(b, (char)tag_of(n->type, 0));
    }
}

int tr_node_pack(struct tr_buf *b, const struct tr_node *n, const char *const *dict)
{
    struct packer pk = {.b = b, .base = b->len, .dict = dict};
    return pack_node(&pk, n);
}

/* The input is torii's own packing, so it is trusted; reading past its end is a bug. */
static uint64_t get_varint(struct unpacker *u)
{
    uint64_t v = 0;
    for (unsigned shift = 0;; shift += 7) {
        TR_BUG_ON(u->p >= u->end || shift > 63);
        unsigned char c = *u->p++;
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80))
            return v;
    }
}

static const char *get_bytes(struct unpacker *u, size_t len)
{
    TR_BUG_ON((size_t)(u->end - u->p) < len + 1 || u->p[len] != '\0');
    const char *s = (const char *)u->p;
    u->p += len + 1;
    return s;
}

/* The count of a SEQ or MAP whose tag was tag. */
static uint32_t get_count(struct unpacker *u, unsigned char tag)
{
    unsigned code = tag_code(tag);
    return code ? code - 1 : (uint32_t)get_varint(u);
}

static struct tr_node *unpack_node(struct unpacker *u)
{
    TR_BUG_ON(u->p >= u->end);
    unsigned char tag = *u->p++;
    unsigned code = tag_code(tag);
    struct tr_node *n = TR_ANEW(u->a, struct tr_node);
    n->type = tag & 7;
    n->exact = 1;
    switch (n->type) {
    case TR_N_BOOL:
        n->u.b = code != 0;
        break;
    case TR_N_INT: {
        uint64_t z = get_varint(u);
        n->u.i = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
        break;
    }
    case TR_N_FLOAT:
        TR_BUG_ON((size_t)(u->end - u->p) < sizeof(n->u.f));
        memcpy(&n->u.f, u->p, sizeof(n->u.f));
        u->p += sizeof(n->u.f);
        break;
    case TR_N_STR:
        if (code == STR_DICT) {
            TR_BUG_ON(u->p >= u->end || !u->dict);
            n->u.s = u->dict[*u->p++];
            n->n = (uint32_t)strlen(n->u.s);
        } else if (code == STR_BACK) {
            const unsigned char *here = u->p - 1;
            uint64_t back = get_varint(u);
            TR_BUG_ON(back == 0 || back > (uint64_t)(here - u->start));
            struct unpacker at = *u;
            at.p = here - back;
            n->u.s = get_str(&at, &n->n); /* a string written out */
        } else {
            u->p--;
            n->u.s = get_str(u, &n->n);
        }
        break;
    case TR_N_SEQ:
        n->n = get_count(u, tag);
        n->u.items = n->n ? TR_ANEWN(u->a, struct tr_node *, n->n) : NULL;
        for (uint32_t i = 0; i < n->n; i++)
            n->u.items[i] = unpack_node(u);
        break;
    case TR_N_MAP:
        n->n = get_count(u, tag);
        n->u.kv = n->n ? TR_ANEWN(u->a, struct tr_kv, n->n) : NULL;
        for (uint32_t i = 0; i < n->n; i++) {
            TR_BUG_ON(u->p >= u->end);
            unsigned k = *u->p++;
            if (k == KEY_INLINE) {
                size_t kl = (size_t)get_varint(u);
                n->u.kv[i].key = get_bytes(u, kl);
                n->u.kv[i].val = unpack_node(u);
                continue;
            }
            if (k >= KEY_ID_WIDE) {
                TR_BUG_ON(k > (KEY_ID_WIDE | 0x0f) || u->p >= u->end);
                k = KEY_ID_WIDE + ((k & 0x0f) << 8 | *u->p++);
            }
            TR_BUG_ON(k >= KEYS_MAX);
            n->u.kv[i].key = __atomic_load_n(&key_list[k], __ATOMIC_ACQUIRE);
            TR_BUG_ON(!n->u.kv[i].key);
            n->u.kv[i].val = unpack_node(u);
        }
        break;
    default:
        break;
    }
    return n;
}

struct tr_node *tr_node_unpack(struct tr_arena *a, const void *p, size_t len, const char *const *dict)
{
    struct unpacker u = {a, p, p, (const unsigned char *)p + len, dict};
    struct tr_node *n = unpack_node(&u);
    TR_BUG_ON(u.p != u.end);
    return n;
}

/* Shared packed trees: a block each (this header, then the bytes), in a chained table by the
 * bytes' hash, under a mutex (holders let go from any thread). */
struct tr_packed {
    struct tr_packed *next;
    uint64_t hash;
    const char *const *dict;
    size_t refs;
    uint32_t len;
    unsigned char bytes[];
};

static pthread_mutex_t packed_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tr_packed **packed_tab;
static size_t packed_cap, packed_n;

static void packed_rehash(size_t cap)
{
    struct tr_packed **tab = tr_xcalloc(cap, sizeof(*tab));
    for (size_t b = 0; b < packed_cap; b++) {
        for (struct tr_packed *e = packed_tab[b], *next; e; e = next) {
            next = e->next;
            e->next = tab[e->hash & (cap - 1)];
            tab[e->hash & (cap - 1)] = e;
        }
    }
    free(packed_tab);
    packed_tab = tab;
    packed_cap = cap;
}

const struct tr_packed *tr_node_share_packed(const struct tr_node *n, const char *const *dict)
{
    if (!n)
        return NULL;
    struct tr_buf b;
    tr_buf_init(&b, UINT32_MAX);
    int rc = tr_node_pack(&b, n, dict);
    TR_BUG_ON(rc != TR_OK); /* only an allocation failure, which tr_xmalloc does not return */
    uint64_t h = tr_hash(b.data, b.len);
    pthread_mutex_lock(&packed_lock);
    struct tr_packed *e = NULL;
    if (packed_cap)
        for (e = packed_tab[h & (packed_cap - 1)]; e; e = e->next)
            if (e->hash == h && e->dict == dict && e->len == b.len && memcmp(e->bytes, b.data, b.len) == 0)
                break;
    if (e) {
        e->refs++;
    } else {
        e = tr_xmalloc(sizeof(*e) + b.len);
        memcpy(e->bytes, b.data, b.len);
        e->len = (uint32_t)b.len;
        e->hash = h;
        e->dict = dict;
        e->refs = 1;
        if (packed_n >= packed_cap)
            packed_rehash(packed_cap ? packed_cap * 2 : 64);
        e->next = packed_tab[h & (packed_cap - 1)];
        packed_tab[h & (packed_cap - 1)] = e;
        packed_n++;
    }
    pthread_mutex_unlock(&packed_lock);
    tr_buf_dispose(&b);
    return e;
}

void tr_packed_release(const struct tr_packed *p)
{
    if (!p)
        return;
    struct tr_packed *e = (struct tr_packed *)(uintptr_t)p;
    pthread_mutex_lock(&packed_lock);
    if (--e->refs == 0) {
        struct tr_packed **at = &packed_tab[e->hash & (packed_cap - 1)];
        while (*at != e)
            at = &(*at)->next;
        *at = e->next;
        free(e);
        packed_n--;
        if (packed_cap > 64 && packed_n < packed_cap / 8)
            packed_rehash(packed_cap / 2);
    }
    pthread_mutex_unlock(&packed_lock);
}

struct tr_node *tr_packed_tree(struct tr_arena *a, const struct tr_packed *p)
{
    return p ? tr_node_unpack(a, p->bytes, p->len, p->dict) : NULL;
}

size_t tr_packed_len(const struct tr_packed *p)
{
    return p ? p->len : 0;
}

struct tr_node *tr_node_clone(struct tr_arena *a, const struct tr_node *n)
{
    if (!n)
        return NULL;
    struct tr_node *c = tr_node_new(a, (enum tr_ntype)n->type);
    c->line = n->line;
    switch (n->type) {
    case TR_N_STR:
        c->u.s = tr_arena_strndup(a, n->u.s, n->n);
        c->n = n->n;
        break;
    case TR_N_SEQ:
        for (uint32_t i = 0; i < n->n; i++)
            tr_node_push(a, c, tr_node_clone(a, n->u.items[i]));
        break;
    case TR_N_MAP:
        for (uint32_t i = 0; i < n->n; i++)
            tr_node_set(a, c, n->u.kv[i].key, tr_node_clone(a, n->u.kv[i].val));
        break;
    default:
        c->u = n->u;
    }
    return c;
}

/* Keys are unique in a map. The common case (a version read again) has them in the same
 * order: walked side by side. Past the first difference, a few keys are looked up, many
 * through an index, so that a map of 100k keys written in another order is not 10^10 steps. */
static bool map_equal(const struct tr_node *x, const struct tr_node *y)
{
    if (x->n != y->n)
        return false;
    uint32_t i = 0;
    for (; i < x->n && strcmp(x->u.kv[i].key, y->u.kv[i].key) == 0; i++)
        if (!tr_node_equal(x->u.kv[i].val, y->u.kv[i].val))
            return false;
    if (x->n - i <= 16) {
        for (; i < x->n; i++)
            if (!tr_node_equal(x->u.kv[i].val, tr_node_get(y, x->u.kv[i].key)))
                return false;
        return true;
    }
    struct tr_map idx = {0};
    for (uint32_t j = i; j < y->n; j++)
        tr_map_put(&idx, y->u.kv[j].key, strlen(y->u.kv[j].key), y->u.kv[j].val);
    bool same = true;
    for (; i < x->n && same; i++)
        same = tr_node_equal(x->u.kv[i].val, tr_map_get(&idx, x->u.kv[i].key, strlen(x->u.kv[i].key)));
    tr_map_dispose(&idx);
    return same;
}

bool tr_node_equal(const struct tr_node *x, const struct tr_node *y)
{
    if (!x || !y)
        return x == y;
    if (x->type != y->type)
        return false;
    switch (x->type) {
    case TR_N_NULL:
        return true;
    case TR_N_BOOL:
        return x->u.b == y->u.b;
    case TR_N_INT:
        return x->u.i == y->u.i;
    case TR_N_FLOAT:
        return x->u.f == y->u.f;
    case TR_N_STR:
        return x->n == y->n && memcmp(x->u.s, y->u.s, x->n) == 0;
    case TR_N_SEQ:
        if (x->n != y->n)
            return false;
        for (uint32_t i = 0; i < x->n; i++)
            if (!tr_node_equal(x->u.items[i], y->u.items[i]))
                return false;
        return true;
    case TR_N_MAP:
        return map_equal(x, y);
    }
    return false;
}

uint64_t tr_node_hash(const struct tr_node *n)
{
    if (!n)
        return 0;
    uint64_t h = (n->type + 1) * 0x9E3779B97F4A7C15ULL;
    switch (n->type) {
    case TR_N_NULL:
        break;
    case TR_N_BOOL:
        h ^= n->u.b;
        break;
    case TR_N_INT:
        h ^= tr_hash(&n->u.i, sizeof(n->u.i));
        break;
    case TR_N_FLOAT: {
        double f = n->u.f == 0 ? 0 : n->u.f; /* -0.0 == 0.0 */
        h ^= tr_hash(&f, sizeof(f));
        break;
    }
    case TR_N_STR:
        h ^= tr_hash(n->u.s, n->n);
        break;
    case TR_N_SEQ:
        for (uint32_t i = 0; i < n->n; i++)
            h = (h ^ tr_node_hash(n->u.items[i])) * 1099511628211ULL;
        break;
    case TR_N_MAP:
        /* A sum: the order of keys does not count, as in tr_node_equal. */
        for (uint32_t i = 0; i < n->n; i++)
            h += tr_hash(n->u.kv[i].key, strlen(n->u.kv[i].key)) * 31 ^ tr_node_hash(n->u.kv[i].val);
        break;
    }
    return h;
}

struct tr_node *tr_node_get(const struct tr_node *map, const char *key)
{
    if (!map || map->type != TR_N_MAP)
        return NULL;
    for (uint32_t i = 0; i < map->n; i++)
        if (strcmp(map->u.kv[i].key, key) == 0)
            return map->u.kv[i].val;
    return NULL;
}

struct tr_node *tr_node_path(const struct tr_node *n, const char *dotted)
{
    char key[128];
    const char *p = dotted;
    struct tr_node *cur = (struct tr_node *)n;
    while (cur && *p) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        if (len >= sizeof(key))
            return NULL;
        memcpy(key, p, len);
        key[len] = '\0';
        cur = tr_node_get(cur, key);
        p += len + (dot ? 1 : 0);
    }
    return cur;
}

const char *tr_node_gets(const struct tr_node *map, const char *key)
{
    struct tr_node *v = tr_node_get(map, key);
    return v && v->type == TR_N_STR ? v->u.s : NULL;
}

int64_t tr_node_geti(const struct tr_node *map, const char *key, int64_t def)
{
    struct tr_node *v = tr_node_get(map, key);
    return v && v->type == TR_N_INT ? v->u.i : def;
}

bool tr_node_getb(const struct tr_node *map, const char *key, bool def)
{
    struct tr_node *v = tr_node_get(map, key);
    return v && v->type == TR_N_BOOL ? v->u.b : def;
}

size_t tr_node_len(const struct tr_node *n)
{
    return n && (n->type == TR_N_SEQ || n->type == TR_N_MAP) ? n->n : 0;
}

struct tr_node *tr_node_at(const struct tr_node *seq, size_t i)
{
    if (!seq || seq->type != TR_N_SEQ || i >= seq->n)
        return NULL;
    return seq->u.items[i];
}

const char *tr_node_typename(const struct tr_node *n)
{
    static const char *const names[] = {"null", "boolean", "integer", "number", "string", "array", "object"};
    return n ? names[n->type] : "null";
}

size_t tr_node_scalar_text(const struct tr_node *n, char *out, size_t cap)
{
    int w;
    if (!n || n->type == TR_N_NULL)
        w = snprintf(out, cap, "null");
    else if (n->type == TR_N_BOOL)
        w = snprintf(out, cap, "%s", n->u.b ? "true" : "false");
    else if (n->type == TR_N_INT)
        w = snprintf(out, cap, "%" PRId64, n->u.i);
    else if (n->type == TR_N_FLOAT)
        w = snprintf(out, cap, "%g", n->u.f);
    else if (n->type == TR_N_STR)
        w = snprintf(out, cap, "%s", n->u.s);
    else
        w = snprintf(out, cap, "%s", n->type == TR_N_MAP ? "{...}" : "[...]");
    if (w < 0)
        return 0;
    return (size_t)w < cap ? (size_t)w : cap - 1;
}

/* --- writers --- */

static int scalar_json(struct tr_buf *b, const struct tr_node *n)
{
    switch (n->type) {
    case TR_N_NULL:
        return tr_buf_puts(b, "null");
    case TR_N_BOOL:
        return tr_buf_puts(b, n->u.b ? "true" : "false");
    case TR_N_INT:
        return tr_buf_printf(b, "%" PRId64, n->u.i);
    case TR_N_FLOAT: {
        if (!isfinite(n->u.f))
            return tr_buf_puts(b, "null");
        char t[40];
        snprintf(t, sizeof(t), "%.17g", n->u.f);
        /* 2500.0 prints as "2500", which reads back as an integer: keep it a float. */
        return tr_buf_printf(b, strpbrk(t, ".eE") ? "%s" : "%s.0", t);
    }
    case TR_N_STR:
        return tr_json_quote(b, n->u.s, n->n);
    }
    return TR_EINVAL;
}

static int indent_to(struct tr_buf *b, int indent, int depth)
{
    if (!indent)
        return TR_OK;
    int rc = tr_buf_putc(b, '\n');
    for (int i = 0; i < indent * depth && !rc; i++)
        rc = tr_buf_putc(b, ' ');
    return rc;
}

static int emit_json(struct tr_buf *b, const struct tr_node *n, int indent, int depth)
{
    if (!n)
        return tr_buf_puts(b, "null");
    int rc = TR_OK;
    if (n->type == TR_N_SEQ || n->type == TR_N_MAP) {
        bool map = n->type == TR_N_MAP;
        rc = tr_buf_putc(b, map ? '{' : '[');
        for (uint32_t i = 0; i < n->n && !rc; i++) {
            if (i)
                rc = tr_buf_putc(b, ',');
            if (!rc)
                rc = indent_to(b, indent, depth + 1);
            if (map && !rc) {
                rc = tr_json_quote(b, n->u.kv[i].key, strlen(n->u.kv[i].key));
                if (!rc)
                    rc = tr_buf_puts(b, indent ? ": " : ":");
            }
            if (!rc)
                rc = emit_json(b, map ? n->u.kv[i].val : n->u.items[i], indent, depth + 1);
        }
        if (n->n && !rc)
            rc = indent_to(b, indent, depth);
        return rc ? rc : tr_buf_putc(b, map ? '}' : ']');
    }
    return scalar_json(b, n);
}

int tr_node_emit_json(struct tr_buf *b, const struct tr_node *n, int indent)
{
    return emit_json(b, n, indent, 0);
}

/* A plain YAML scalar is safe when it cannot be read back as another type or as syntax. */
static bool yaml_plain_ok(const char *s, size_t len)
{
    if (len == 0)
        return false;
    static const char *const reserved[] = {"null", "Null", "NULL", "~", "true", "True", "TRUE",
                                           "false", "False", "FALSE", "yes", "no", "on", "off",
                                           "Yes", "No", "On", "Off", "YES", "NO", "ON", "OFF",
                                           "<<" /* a plain << key is a merge key */};
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
        if (strcmp(s, reserved[i]) == 0)
            return false;
    if (strchr("-?:,[]{}#&*!|>'\"%@` ", s[0]) || s[len - 1] == ' ' || s[len - 1] == ':')
        return false;
    /* The core schema also reads 0x1F and 0o17 as integers and .inf, +.inf and .nan as floats. */
    if (s[0] == '.' || s[0] == '+' || (s[0] == '0' && len > 1 && (s[1] == 'x' || s[1] == 'o')))
        return false;
    bool numeric = true;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || c >= 0x80)
            return false;
        if ((c == ':' && (i + 1 == len || s[i + 1] == ' ')) || (c == '#' && s[i - 1] == ' '))
            return false;
        if (!strchr("0123456789.+-eE_xXoO", c))
            numeric = false;
    }
    return !numeric;
}

static int yaml_scalar(struct tr_buf *b, const struct tr_node *n)
{
    if (n->type == TR_N_STR && yaml_plain_ok(n->u.s, n->n))
        return tr_buf_append(b, n->u.s, n->n);
    return scalar_json(b, n);
}

static int pad(struct tr_buf *b, int depth)
{
    int rc = TR_OK;
    for (int i = 0; i < depth * 2 && !rc; i++)
        rc = tr_buf_putc(b, ' ');
    return rc;
}

static bool is_coll(const struct tr_node *n)
{
    return n && (n->type == TR_N_MAP || n->type == TR_N_SEQ) && n->n > 0;
}

/* Emits n as a block at depth. The caller has written the key (or "- ") and, for collections, a
 * newline; first_inline says the first line's indentation is already written (a "- " item). */
static int emit_yaml(struct tr_buf *b, const struct tr_node *n, int depth, bool first_inline)
{
    int rc = TR_OK;
    for (uint32_t i = 0; i < n->n && !rc; i++) {
        if (!(first_inline && i == 0))
            rc = pad(b, depth);
        if (n->type == TR_N_MAP) {
            const char *k = n->u.kv[i].key;
            const struct tr_node *v = n->u.kv[i].val;
            /* An implicit key may be at most 1024 characters long (YAML 1.2 7.4.2, 8.2.2): a
             * longer one is written as an explicit entry, "? key" then ":" on a line of its own. */
            size_t at = b->len;
            if (!rc)
                rc = yaml_plain_ok(k, strlen(k)) ? tr_buf_puts(b, k) : tr_json_quote(b, k, strlen(k));
            if (!rc && b->len - at > 1000) {
                rc = tr_buf_append(b, "  ", 2); /* room for "? " before the key */
                if (!rc) {
                    memmove(b->data + at + 2, b->data + at, b->len - 2 - at);
                    memcpy(b->data + at, "? ", 2);
                    rc = tr_buf_putc(b, '\n');
                }
                if (!rc)
                    rc = pad(b, depth);
            }
            if (!rc && is_coll(v)) {
                rc = tr_buf_puts(b, ":\n");
                /* Sequences under a key sit at the key's indentation (kubectl style). */
                if (!rc)
                    rc = emit_yaml(b, v, v->type == TR_N_SEQ ? depth : depth + 1, false);
            } else if (!rc) {
                rc = tr_buf_puts(b, ": ");
                if (!rc)
                    rc = !v ? tr_buf_puts(b, "null")
                            : v->type == TR_N_MAP ? tr_buf_puts(b, "{}")
                            : v->type == TR_N_SEQ ? tr_buf_puts(b, "[]")
                                                  : yaml_scalar(b, v);
                if (!rc)
                    rc = tr_buf_putc(b, '\n');
            }
        } else {
            const struct tr_node *v = n->u.items[i];
            if (!rc)
                rc = tr_buf_puts(b, "- ");
            if (!rc && is_coll(v)) {
                rc = emit_yaml(b, v, depth + 1, true);
            } else if (!rc) {
                rc = !v ? tr_buf_puts(b, "null")
                        : v->type == TR_N_MAP ? tr_buf_puts(b, "{}")
                        : v->type == TR_N_SEQ ? tr_buf_puts(b, "[]")
                                              : yaml_scalar(b, v);
                if (!rc)
                    rc = tr_buf_putc(b, '\n');
            }
        }
    }
    return rc;
}

int tr_node_emit_yaml(struct tr_buf *b, const struct tr_node *n)
{
    if (!n)
        return tr_buf_puts(b, "null\n");
    if (!is_coll(n)) {
        int rc = n->type == TR_N_MAP   ? tr_buf_puts(b, "{}")
                 : n->type == TR_N_SEQ ? tr_buf_puts(b, "[]")
                                       : yaml_scalar(b, n);
        return rc ? rc : tr_buf_putc(b, '\n');
    }
    return emit_yaml(b, n, 0, false);
}
