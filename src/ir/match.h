/* A route rule's matches, compiled: what the router compares per request and what precedence
 * orders by. Compiled once per route version with the route's translation (translate/route.c),
 * so a router is built from them without reading the rule's value tree again. */
#ifndef TR_IR_MATCH_H
#define TR_IR_MATCH_H

#include "api/kind.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tr_arena;
struct tr_node;
struct pcre2_real_code_8;

enum tr_path_kind { TR_PATH_EXACT, TR_PATH_REGEX, TR_PATH_PREFIX };

/* A header or query parameter match: a value to equal, or a regular expression (compiled; one
 * that does not compile is compared as a value). */
struct tr_ir_kv_re {
    struct pcre2_real_code_8 *re;
    const char *value;
};

struct tr_ir_kv {
    const char *name;
    const void *v;                 /* the value, or with regex its struct tr_ir_kv_re */
    uint16_t name_len, value_len;  /* the schema allows 256 and 4096 bytes */
    bool regex;
};

static inline const char *tr_ir_kv_value(const struct tr_ir_kv *kv)
{
    return kv->regex ? ((const struct tr_ir_kv_re *)kv->v)->value : (const char *)kv->v;
}

static inline struct pcre2_real_code_8 *tr_ir_kv_re(const struct tr_ir_kv *kv)
{
    return kv->regex ? ((const struct tr_ir_kv_re *)kv->v)->re : NULL;
}

struct tr_ir_match {
    const char *path;
    struct pcre2_real_code_8 *path_re;
    /* Header matches (nheaders), then query parameter matches (nquery), in one array (NULL when
     * there are none): tr_ir_match_headers, tr_ir_match_query. */
    struct tr_ir_kv *kv;
    uint16_t path_len; /* the schema allows 1024 bytes (a gRPC service and method: 2050) */
    /* How much of the request path a ReplacePrefixMatch replaces (HTTPPathModifier): the
     * length of the match's path value less trailing '/', 0 for "/" and when it has none. */
    uint16_t prefix_len;
    uint8_t nheaders, nquery; /* the schema allows 16 of each */
    uint8_t path_kind;        /* enum tr_path_kind */
    uint8_t method;           /* index in tr_ir_methods (tr_ir_match_method); 0: any */
};

/* The methods a match may name (HTTPMethod), at their index; [0] is none. */
extern const char *const tr_ir_methods[11];

static inline const char *tr_ir_match_method(const struct tr_ir_match *m)
{
    return tr_ir_methods[m->method];
}

static inline const struct tr_ir_kv *tr_ir_match_headers(const struct tr_ir_match *m)
{
    return m->kv;
}

static inline const struct tr_ir_kv *tr_ir_match_query(const struct tr_ir_match *m)
{
    return m->nquery ? m->kv + m->nheaders : NULL;
}

/* Compiles rule (an HTTPRoute or GRPCRoute rule) into a's memory: one match per entry of
 * rule.matches, or one that matches everything when it has none. Regular expressions are
 * compiled here and freed with a; one that does not compile matches nothing (translation drops
 * such a rule first: tr_ir_regex_ok). */
struct tr_ir_match *tr_ir_matches_compile(struct tr_arena *a, enum tr_kind kind, const struct tr_node *rule,
                                          size_t *n);

/* Whether pattern compiles as the data plane compiles a match's regular expression (PCRE2, UTF,
 * a whole-value match); if not, why (PCRE2's message and the offset) in why. */
bool tr_ir_regex_ok(const char *pattern, char *why, size_t cap);

#endif
