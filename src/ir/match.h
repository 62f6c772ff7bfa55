/* A route rule's matches, compiled: what the router compares per request and what precedence
 * orders by. Compiled once per route version with the route's translation (translate/route.c),
 * so a router is built from them without reading the rule's value tree again. */
#ifndef TR_IR_MATCH_H
#define TR_IR_MATCH_H

#include "api/kind.h"

#include <stddef.h>

struct tr_arena;
struct tr_node;
struct pcre2_real_code_8;

enum tr_path_kind { TR_PATH_EXACT, TR_PATH_REGEX, TR_PATH_PREFIX };

/* A header or query parameter match. */
struct tr_ir_kv {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
    struct pcre2_real_code_8 *re; /* RegularExpression, else NULL (Exact) */
};

struct tr_ir_match {
    enum tr_path_kind path_kind;
    const char *path;
    size_t path_len;
    struct pcre2_real_code_8 *path_re;
    /* How much of the request path a ReplacePrefixMatch replaces (HTTPPathModifier): the
     * length of the match's path value less trailing '/', 0 for "/" and when it has none. */
    size_t prefix_len;
    const char *method; /* or NULL */
    struct tr_ir_kv *headers;
    size_t nheaders;
    struct tr_ir_kv *query;
    size_t nquery;
};

/* Compiles rule (an HTTPRoute or GRPCRoute rule) into a's memory: one match per entry of
 * rule.matches, or one that matches everything when it has none. Regular expressions are
 * compiled here and freed with a; one that does not compile matches nothing. */
struct tr_ir_match *tr_ir_matches_compile(struct tr_arena *a, enum tr_kind kind, const struct tr_node *rule,
                                          size_t *n);

#endif
