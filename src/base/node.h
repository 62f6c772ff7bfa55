/* The value tree: what a YAML or JSON document decodes to, what the schema checks, what translate
 * reads and what status is written as. Nodes live in an arena; a tree is freed with its arena. */
#ifndef TR_BASE_NODE_H
#define TR_BASE_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tr_arena;
struct tr_buf;

enum tr_ntype { TR_N_NULL, TR_N_BOOL, TR_N_INT, TR_N_FLOAT, TR_N_STR, TR_N_SEQ, TR_N_MAP };

struct tr_kv {
    const char *key;
    struct tr_node *val;
};

/* Value type with a visible layout: readers switch on type and use the union directly. 16 bytes:
 * every stored object is a tree of them, so each byte here is paid per node of every route. */
struct tr_node {
    uint32_t type : 3;   /* enum tr_ntype */
    uint32_t exact : 1;  /* private: a SEQ/MAP array of exactly n entries (else of tr_node_cap) */
    uint32_t line : 28;  /* 1-based source line (below 2^28), 0 when built in code */
    uint32_t n;          /* STR: length in bytes; SEQ/MAP: entries */
    union {
        bool b;
        int64_t i;
        double f;
        const char *s;          /* NUL-terminated, may hold NULs before n */
        struct tr_node **items; /* SEQ */
        struct tr_kv *kv;       /* MAP, in insertion order */
    } u;
};

struct tr_node *tr_node_new(struct tr_arena *a, enum tr_ntype type);
struct tr_node *tr_node_strn(struct tr_arena *a, const char *s, size_t len);
struct tr_node *tr_node_str(struct tr_arena *a, const char *s);
struct tr_node *tr_node_int(struct tr_arena *a, int64_t i);
struct tr_node *tr_node_bool(struct tr_arena *a, bool b);
/* Sets key in a MAP (replacing an existing entry in place, else appending). key is copied. */
void tr_node_set(struct tr_arena *a, struct tr_node *map, const char *key, struct tr_node *val);
/* Removes key from a MAP if present. */
void tr_node_del(struct tr_node *map, const char *key);
/* Appends val to a SEQ. */
void tr_node_push(struct tr_arena *a, struct tr_node *seq, struct tr_node *val);
/* Deep copy into arena a. */
struct tr_node *tr_node_clone(struct tr_arena *a, const struct tr_node *n);
/* A deep copy of n in one block of a, exactly as large as the tree (arrays at their length,
 * strings packed): for trees kept long after they were built by growing. Lines are kept. */
struct tr_node *tr_node_compact(struct tr_arena *a, const struct tr_node *n);
/* Interns key as a map key of compacted and packed trees (a copy kept for ever, while the
 * bounded table has room): keys interned first take one byte in a packed tree. */
void tr_node_intern_key(const char *key);
/* Appends a packed copy of n to b: a byte or two per node where a tree has a 16-byte node and
 * a 16-byte map entry, map keys as the ids of interned keys, strings inline, or as one byte when
 * they are in dict (NULL-terminated, at most 256 strings that live for ever; may be NULL). For
 * trees kept long and read seldom (stored routes). Returns TR_OK or the buffer's error. */
int tr_node_pack(struct tr_buf *b, const struct tr_node *n, const char *const *dict);
/* The tree a packed copy (len bytes at p, packed with dict) holds: nodes and arrays in a,
 * strings and keys that were not interned pointing into p, which must outlive the tree (and
 * must be torii's own packing: it is not checked as input), or into dict. Lines are 0. */
struct tr_node *tr_node_unpack(struct tr_arena *a, const void *p, size_t len, const char *const *dict);
/* A packed copy of n (tr_node_pack with dict, which must live for ever), shared: trees that
 * pack to the same bytes (the same tree, map keys in the same order) keep one copy, held by a
 * count. For trees kept long, read seldom and often alike (routes' statuses): a few hundred
 * bytes where a compact tree takes two or three times as many. Release each with
 * tr_packed_release; any thread. NULL gives NULL. */
struct tr_packed;
const struct tr_packed *tr_node_share_packed(const struct tr_node *n, const char *const *dict);
void tr_packed_release(const struct tr_packed *p);
/* The tree p holds, unpacked into a (strings point into p, which must outlive the tree). */
struct tr_node *tr_packed_tree(struct tr_arena *a, const struct tr_packed *p);
/* Packed bytes and their length. */
size_t tr_packed_len(const struct tr_packed *p);
/* Deep equality (map order ignored). NULL equals NULL only. */
bool tr_node_equal(const struct tr_node *x, const struct tr_node *y);
/* A hash that agrees with tr_node_equal (equal trees hash equal), for finding duplicates
 * without comparing every pair. */
uint64_t tr_node_hash(const struct tr_node *n);

/* Readers: all accept NULL and wrong types and then return NULL / the default. */
struct tr_node *tr_node_get(const struct tr_node *map, const char *key);
/* Follows a dotted path of map keys ("spec.tls.mode"). */
struct tr_node *tr_node_path(const struct tr_node *n, const char *dotted);
const char *tr_node_gets(const struct tr_node *map, const char *key); /* STR value or NULL */
int64_t tr_node_geti(const struct tr_node *map, const char *key, int64_t def);
bool tr_node_getb(const struct tr_node *map, const char *key, bool def);
size_t tr_node_len(const struct tr_node *seq_or_map); /* 0 for other types */
struct tr_node *tr_node_at(const struct tr_node *seq, size_t i);
const char *tr_node_typename(const struct tr_node *n); /* "string", "integer", ... */

/* Sets *out to a node's scalar text for messages ("null" for NULL). Returns bytes written. */
size_t tr_node_scalar_text(const struct tr_node *n, char *out, size_t cap);

/* Writers. JSON: compact when indent is 0. YAML: block style, keys in insertion order. Both return
 * TR_OK or TR_ELIMIT from the buffer. */
int tr_node_emit_json(struct tr_buf *b, const struct tr_node *n, int indent);
int tr_node_emit_yaml(struct tr_buf *b, const struct tr_node *n);

#endif
