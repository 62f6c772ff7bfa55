/* Pieces shared by the route kinds' schema tables (schema_httproute.c, schema_grpcroute.c,
 * schema_l4route.c), defined in schema_route_common.c, and small helpers for their CEL rules.
 * Internal to src/api/. */
#ifndef TR_API_SCHEMA_ROUTE_H
#define TR_API_SCHEMA_ROUTE_H

#include "api/schema_common.h"

#include <string.h>

/* Patterns that recur verbatim in the route CRDs. */
#define TR_PAT_HEADER_NAME "^[A-Za-z0-9!#$%&'*+\\-.^_\\x60|~]+$"
#define TR_PAT_HEADER_VALUE "^[!-~]+([\\t ]?[!-~]+)*$"
#define TR_PAT_DURATION "^([0-9]{1,5}(h|m|s|ms)){1,4}$"
#define TR_PAT_URI_PATH "^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$"

/* Leaf and composite types of apis/v1 used by more than one route kind. */
extern const struct tr_schema tr_sch_header_name;         /* HTTPHeaderName */
extern const struct tr_schema tr_sch_route_hostnames;     /* []Hostname, max 16 (HTTP, GRPC) */
extern const struct tr_schema tr_sch_route_parent_refs;   /* []ParentReference, with CEL */
extern const struct tr_schema tr_sch_use_default_gateways; /* GatewayDefaultScope */
extern const struct tr_schema tr_sch_backend_object_ref;  /* BackendObjectReference */
extern const struct tr_schema tr_sch_backend_ref;         /* BackendRef (TCP, TLS, UDP) */
extern const struct tr_schema tr_sch_backend_ref_group;   /* Group, default "" */
extern const struct tr_schema tr_sch_backend_ref_kind;    /* Kind, default "Service" */
extern const struct tr_schema tr_sch_backend_ref_weight;  /* weight, default 1 */
extern const struct tr_schema tr_sch_header_filter;       /* HTTPHeaderFilter */
extern const struct tr_schema tr_sch_request_mirror;      /* HTTPRequestMirrorFilter */
extern const struct tr_schema tr_sch_local_object_ref;    /* LocalObjectReference */
extern const struct tr_schema tr_sch_session_persistence; /* SessionPersistence */

/* The CEL rule of BackendObjectReference, shared by every backend reference type. */
extern const struct tr_cel tr_cels_backend_port[];

/* --- CEL helpers. CEL runs on structurally valid subtrees, so a present field has its schema
 * type; absent fields read as NULL. --- */

/* self.key == s (false when key is absent). */
static inline bool tr_cel_str_is(const struct tr_node *n, const char *key, const char *s)
{
    const char *v = tr_node_gets(n, key);
    return v && strcmp(v, s) == 0;
}

/* a.key == b.key, for two present or two absent values. */
static inline bool tr_cel_same(const struct tr_node *a, const struct tr_node *b, const char *key)
{
    return tr_node_equal(tr_node_get(a, key), tr_node_get(b, key));
}

/* (!has(n.key) || n.key == 0) for an integer field. */
static inline bool tr_cel_int_unset(const struct tr_node *n, const char *key)
{
    const struct tr_node *v = tr_node_get(n, key);
    return !v || (v->type == TR_N_INT && v->u.i == 0);
}

/* self.filter(f, f.type == type).size(), for a list of filters. */
static inline size_t tr_cel_count_type(const struct tr_node *list, const char *type)
{
    size_t c = 0;
    for (size_t i = 0; i < tr_node_len(list); i++)
        c += tr_cel_str_is(tr_node_at(list, i), "type", type);
    return c;
}

/* self.all(l1, !has(l1.name) || self.exists_one(l2, has(l2.name) && l1.name == l2.name)): rule
 * names are unique within a route. */
static inline bool tr_cel_rule_names_unique(const struct tr_node *rules)
{
    for (size_t i = 0; i < tr_node_len(rules); i++) {
        const struct tr_node *n1 = tr_node_get(tr_node_at(rules, i), "name");
        if (!n1)
            continue;
        size_t same = 0;
        for (size_t j = 0; j < tr_node_len(rules); j++) {
            const struct tr_node *n2 = tr_node_get(tr_node_at(rules, j), "name");
            same += n2 && tr_node_equal(n1, n2);
        }
        if (same != 1)
            return false;
    }
    return true;
}

/* The pair of rules each filter has per filter type: the member named field is set exactly
 * when type is that filter's type. Defines cel_<id>_nil and cel_<id>_set. */
#define TR_CEL_FILTER_MEMBER(id, field, type)                                                      \
    /* !(has(self.<field>) && self.type != '<type>') */                                            \
    static bool cel_##id##_nil(const struct tr_node *self, const struct tr_node *old)              \
    {                                                                                              \
        return !(tr_cel_has(self, field) && !tr_cel_str_is(self, "type", type));                   \
    }                                                                                              \
    /* !(!has(self.<field>) && self.type == '<type>') */                                           \
    static bool cel_##id##_set(const struct tr_node *self, const struct tr_node *old)              \
    {                                                                                              \
        return !(!tr_cel_has(self, field) && tr_cel_str_is(self, "type", type));                   \
    }

/* The rule of a filter list: a filter type appears at most once. Defines cel_once_<id>. */
#define TR_CEL_FILTER_ONCE(id, type)                                                               \
    /* self.filter(f, f.type == '<type>').size() <= 1 */                                           \
    static bool cel_once_##id(const struct tr_node *self, const struct tr_node *old)               \
    {                                                                                              \
        return tr_cel_count_type(self, type) <= 1;                                                 \
    }

#endif
