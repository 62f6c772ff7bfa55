/* Shared pieces for the schema tables (src/api/schema_*.c): table-writing macros and the leaf
 * types that recur across kinds. Internal to src/api/. */
#ifndef TR_API_SCHEMA_COMMON_H
#define TR_API_SCHEMA_COMMON_H

#include "api/schema.h"
#include "base/node.h"

#include <string.h>

/* Compound literals at file scope have static storage, so tables nest without names. */
#define TR_FIELDS(...) ((const struct tr_sfield[]){__VA_ARGS__, {NULL, NULL, false}})
#define TR_ENUM(...) ((const char *const[]){__VA_ARGS__, NULL})
#define TR_KEYS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define TR_CELS(...) ((const struct tr_cel[]){__VA_ARGS__, {NULL, NULL, NULL, NULL, NULL}})
#define TR_SCHEMA(...) (&(const struct tr_schema){__VA_ARGS__})
#define TR_REQ(name, schema) {name, schema, true}
#define TR_OPT(name, schema) {name, schema, false}

/* Patterns that recur verbatim in the CRDs. */
#define TR_PAT_HOSTNAME "^(\\*\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
#define TR_PAT_PRECISE_HOSTNAME "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
#define TR_PAT_GROUP "^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
#define TR_PAT_KIND "^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$"
#define TR_PAT_NAMESPACE "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
#define TR_PAT_SECTION_NAME "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"

/* Leaf types (Gateway API apis/v1/shared_types.go and object_reference_types.go). */
extern const struct tr_schema tr_sch_hostname;         /* Hostname: 1..253, wildcard allowed */
extern const struct tr_schema tr_sch_precise_hostname; /* PreciseHostname */
extern const struct tr_schema tr_sch_object_name;      /* ObjectName: 1..253 */
extern const struct tr_schema tr_sch_namespace;        /* Namespace: 1..63, DNS label */
extern const struct tr_schema tr_sch_group;            /* Group: ..253, no default */
extern const struct tr_schema tr_sch_kind;             /* Kind: 1..63, no default */
extern const struct tr_schema tr_sch_section_name;     /* SectionName: 1..253 */
extern const struct tr_schema tr_sch_port;             /* PortNumber: int32 1..65535 */
extern const struct tr_schema tr_sch_string;           /* any string */
extern const struct tr_schema tr_sch_int;              /* any integer */
extern const struct tr_schema tr_sch_bool;             /* any boolean */
extern const struct tr_schema tr_sch_any;              /* anything (not checked) */
extern const struct tr_schema tr_sch_string_map;       /* map of strings (labels, data) */

/* metadata: name, namespace, labels, annotations, ...: other ObjectMeta fields are kept. */
extern const struct tr_schema tr_sch_object_meta;

/* CEL helpers: has(x.f) for a map, and string equality with a C string. */
static inline bool tr_cel_has(const struct tr_node *n, const char *field)
{
    return tr_node_get(n, field) != NULL;
}

/* A string node equal to s (CEL `x == 's'`; a missing node is never equal). */
static inline bool tr_cel_node_is(const struct tr_node *n, const char *s)
{
    size_t len = strlen(s);
    return n && n->type == TR_N_STR && n->n == len && memcmp(n->u.s, s, len) == 0;
}

/* (!has(n.key) || n.key == '') for a string field. */
static inline bool tr_cel_str_unset(const struct tr_node *n, const char *key)
{
    const struct tr_node *v = tr_node_get(n, key);
    return !v || (v->type == TR_N_STR && v->n == 0);
}

#endif
