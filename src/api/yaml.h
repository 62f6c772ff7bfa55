/* YAML and JSON documents to value trees (libfyaml). */
#ifndef TR_API_YAML_H
#define TR_API_YAML_H

#include <stddef.h>

struct tr_arena;
struct tr_node;
struct tr_buf;

/* Called once per non-empty document; root lives in arena a, which the callee now owns (free it
 * with tr_arena_free when done). line is the document's first line (1-based). */
typedef void tr_yaml_doc_cb(void *ud, struct tr_arena *a, struct tr_node *root, unsigned line);

/* Parses every document of text (YAML 1.2, JSON is accepted as YAML). Scalars are typed as the
 * core schema says (plain 12 is an integer, "12" a string). Returns TR_OK, or TR_EINVAL with a
 * message "LINE:COL: what" in err; documents before the bad one have been delivered. */
int tr_yaml_parse(const char *text, size_t len, tr_yaml_doc_cb *cb, void *ud, struct tr_buf *err);

/* Parses one document into arena a. Returns the root or NULL (message in err). */
struct tr_node *tr_yaml_parse_one(struct tr_arena *a, const char *text, size_t len,
                                  struct tr_buf *err);

#endif
