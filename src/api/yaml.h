/* YAML documents to value trees (libyaml), within the limits of api/decode.h. */
#ifndef TR_API_YAML_H
#define TR_API_YAML_H

#include "api/decode.h"

#include <stddef.h>

struct tr_arena;
struct tr_node;
struct tr_buf;

/* Parses every document of text (YAML 1.2 scalars: plain 12 is an integer, "12" a string; JSON
 * is YAML too). Anchors and aliases are expanded (within the alias budget), merge keys (<<)
 * merged. Returns TR_OK, or TR_EINVAL with a message "LINE:COL: what" or "LINE: what" in err;
 * documents before the bad one have been delivered to cb. Any thread. */
int tr_yaml_parse(const char *text, size_t len, tr_doc_cb *cb, void *ud, struct tr_buf *err);

/* Parses the first document into arena a (later ones are checked and dropped). Returns its root
 * (a NULL node for an empty text) or NULL with a message in err. */
struct tr_node *tr_yaml_parse_one(struct tr_arena *a, const char *text, size_t len,
                                  struct tr_buf *err);

#endif
