/* JSON texts (RFC 8259) to value trees, within the limits of api/decode.h: what the Kubernetes
 * API server sends, what kubectl writes with -o json, torii's own admin output. */
#ifndef TR_API_JSON_H
#define TR_API_JSON_H

#include "api/decode.h"

#include <stddef.h>

struct tr_arena;
struct tr_buf;
struct tr_node;

/* Parses a stream of JSON values separated by whitespace (one is the usual case; a watch stream
 * or `kubectl get -w -o json` writes several), delivering each that is not null. Strict: no
 * comments, no trailing commas, no NaN, a number must fit a double, strings must be valid UTF-8
 * without NUL (\u0000 included) or lone surrogates, keys unique. Integers that fit int64 are
 * integers, others numbers (as Kubernetes' decoder does). Returns TR_OK, or TR_EINVAL with
 * "LINE:COL: what" in err; values before the bad one have been delivered. Any thread. */
int tr_json_parse(const char *text, size_t len, tr_doc_cb *cb, void *ud, struct tr_buf *err);

/* Parses a text of exactly one JSON value into arena a. Returns its root or NULL (message in
 * err). */
struct tr_node *tr_json_parse_one(struct tr_arena *a, const char *text, size_t len, struct tr_buf *err);

#endif
