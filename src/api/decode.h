/* What every document decoder (YAML, JSON) shares: the callback that receives documents and the
 * limits that keep a hostile input from costing more than a small multiple of its size. */
#ifndef TR_API_DECODE_H
#define TR_API_DECODE_H

#include <stddef.h>

struct tr_arena;
struct tr_node;

/* Limits, checked while decoding: an input over one is refused with an error that names the
 * line and the limit, and nothing of it is built past that point.
 *
 * - input: bytes per call (a file, an API response). The file provider checks the size before
 *   reading, so a larger file is never read into memory.
 * - depth: nesting of collections. Gateway API objects nest about 10 levels deep.
 * - nodes: values per document, aliases expanded; a kubectl List of thousands of objects fits.
 * - aliases: a YAML alias copies the node it names. The copies of one document may add at most
 *   as many nodes as the document spells out, plus a little slack, so an alias "bomb" (nine
 *   levels of nine aliases: 387 million nodes from 357 bytes) is refused at once, while the
 *   usual uses of anchors (a shared block of labels, a merge key) pass. */
#define TR_DECODE_MAX_INPUT (64u << 20)
#define TR_DECODE_MAX_DEPTH 64
#define TR_DECODE_MAX_NODES (4u << 20)
#define TR_DECODE_ALIAS_SLACK 4096u

/* Called once per non-empty document; root lives in arena a, which the callee now owns (free it
 * with tr_arena_free when done). line is the document's first line (1-based). */
typedef void tr_doc_cb(void *ud, struct tr_arena *a, struct tr_node *root, unsigned line);

#endif
