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

/* Parses a list as the Kubernetes API sends it (one JSON object whose member `split`, usually
 * "items", is an array) without building the whole: each element of that array is a document of
 * its own, given to item_cb as soon as it is read, so a page of large objects never exists as
 * one tree; the other members (kind, apiVersion, metadata) are given to head_cb (may be NULL)
 * as one map at the end, only when the whole text was valid. The per-document limits apply to
 * each item; the text as a whole has none (the caller bounds what it reads). Returns TR_OK, or
 * TR_EINVAL with "LINE:COL: what" in err; items before the bad point have been delivered. */
int tr_json_parse_list(const char *text, size_t len, const char *split, tr_doc_cb *item_cb, tr_doc_cb *head_cb,
                       void *ud, struct tr_buf *err);

#endif
