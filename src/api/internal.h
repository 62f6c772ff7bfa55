/* Shared inside src/api/: the document builder the YAML and JSON decoders feed. */
#ifndef TR_API_INTERNAL_H
#define TR_API_INTERNAL_H

#include "api/decode.h"
#include "base/node.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tr_arena;
struct tr_buf;

/* An open collection. Its entries wait on the builder's stack until it closes, then move into
 * one array of exactly their number (no doubling, no per-entry lookups). */
struct docb_frame {
    struct tr_node *n;
    size_t base;        /* its first entry on the stack */
    size_t nodes_at;    /* b->nodes when it opened: size = nodes now - this */
    uint32_t height;    /* deepest child's height */
    uint32_t key_line;  /* MAP: the line of the key waiting for its value */
    bool have_key;      /* MAP: a key is waiting for its value */
    bool merges;        /* MAP: holds a merge key (<<) */
};

/* Builds one document at a time, enforcing the limits of api/decode.h. Every function that
 * returns int returns TR_OK, or TR_EINVAL with "LINE: message" in err; after an error the
 * document is abandoned (docb_doc_drop). Single-threaded; one builder per decode call. */
struct docb {
    struct tr_arena *a; /* the current document's; NULL between documents */
    struct tr_buf *err;
    struct docb_frame frames[TR_DECODE_MAX_DEPTH];
    int depth;           /* open collections */
    struct tr_kv *stack; /* entries of open collections (SEQ: key NULL) */
    size_t nstack, cap;
    struct tr_node *root;
    size_t nodes;   /* built in this document, alias copies included */
    size_t literal; /* of those, spelt out in the text */
    size_t copied;  /* of those, copies made for aliases */
};

/* The marker key of a merge entry (<<) on the stack. */
extern const char docb_merge_key[];

void docb_init(struct docb *b, struct tr_buf *err);
void docb_dispose(struct docb *b);

/* Starts a document: a fresh arena. */
void docb_doc_begin(struct docb *b);
/* Ends a complete document: returns its arena (the caller owns it) and sets *root (a NULL node
 * when the document held nothing). */
struct tr_arena *docb_doc_take(struct docb *b, struct tr_node **root, uint32_t *line);
/* Drops a document left incomplete by an error. */
void docb_doc_drop(struct docb *b);

/* True when the next value goes to an open mapping that waits for a key. */
bool docb_want_key(const struct docb *b);
/* The key of the next entry of the open mapping: len bytes of s (copied), or the merge key. */
int docb_key(struct docb *b, const char *s, size_t len, uint32_t line, bool merge);
/* A new scalar node in the document (counted against the node limit), NULL on error; give it a
 * value, then docb_add it. */
struct tr_node *docb_scalar(struct docb *b, enum tr_ntype type, uint32_t line);
/* Adds a finished node as the next entry of the open collection, or as the root. */
int docb_add(struct docb *b, struct tr_node *n, uint32_t height);
/* Opens a collection (TR_N_SEQ or TR_N_MAP). */
int docb_open(struct docb *b, enum tr_ntype type, uint32_t line);
/* Closes the innermost collection and adds it to its parent. Sets *out (may be NULL) to the
 * closed node, *size to the values it holds itself included, *height to its nesting. */
int docb_close(struct docb *b, struct tr_node **out, size_t *size, uint32_t *height);
/* Adds a copy of src (an alias of an anchored node of size values and height levels), within
 * the alias budget. */
int docb_copy(struct docb *b, const struct tr_node *src, size_t size, uint32_t height, uint32_t line);

/* A tr_doc_cb that keeps a compact copy of the first document in f->a and counts them all. */
struct docb_first {
    struct tr_arena *a;
    struct tr_node *root;
    int docs;
};
void docb_keep_first(void *ud, struct tr_arena *a, struct tr_node *root, unsigned line);

/* Returns the offset of the first byte that is not well-formed UTF-8 (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF) or is NUL, or len when there is none. */
size_t tr_text_invalid_at(const unsigned char *s, size_t len);
/* The 1-based line and column (in characters) of byte off of text. */
void tr_text_position(const char *text, size_t off, unsigned *line, unsigned *col);
/* Checks a whole input before parsing: its size against the input limit, then UTF-8 and NUL.
 * Returns TR_OK, or TR_EINVAL with "LINE:COL: invalid UTF-8" (or "NUL byte") in err. */
int tr_text_check(const char *text, size_t len, struct tr_buf *err);

#endif
