/* GRPCRoute (gateway.networking.k8s.io/v1), restated from the experimental-channel CRD
 * (apis/v1/grpcroute_types.go). */
#include "api/kind.h"
#include "api/schema_route.h"

/* --- GRPCRouteFilter --- */

TR_CEL_FILTER_MEMBER(req_header, "requestHeaderModifier", "RequestHeaderModifier")
TR_CEL_FILTER_MEMBER(resp_header, "responseHeaderModifier", "ResponseHeaderModifier")
TR_CEL_FILTER_MEMBER(mirror, "requestMirror", "RequestMirror")
TR_CEL_FILTER_MEMBER(extension, "extensionRef", "ExtensionRef")

/* GRPCRouteFilter */
static const struct tr_schema filter = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(
        TR_OPT("extensionRef", &tr_sch_local_object_ref), TR_OPT("requestHeaderModifier", &tr_sch_header_filter),
        TR_OPT("requestMirror", &tr_sch_request_mirror), TR_OPT("responseHeaderModifier", &tr_sch_header_filter),
        TR_REQ("type", TR_SCHEMA(.type = TR_S_STR, .enums = TR_ENUM("ResponseHeaderModifier", "RequestHeaderModifier",
                                                                    "RequestMirror", "ExtensionRef")))),
    .cel = TR_CELS(
        {cel_req_header_nil, .rule = "!(has(self.requestHeaderModifier) && self.type != 'RequestHeaderModifier')",
         .message = "filter.requestHeaderModifier must be nil if the filter.type is not RequestHeaderModifier"},
        {cel_req_header_set, .rule = "!(!has(self.requestHeaderModifier) && self.type == 'RequestHeaderModifier')",
         .message = "filter.requestHeaderModifier must be specified for RequestHeaderModifier filter.type"},
        {cel_resp_header_nil,
         .rule = "!(has(self.responseHeaderModifier) && self.type != 'ResponseHeaderModifier')",
         .message = "filter.responseHeaderModifier must be nil if the filter.type is not ResponseHeaderModifier"},
        {cel_resp_header_set,
         .rule = "!(!has(self.responseHeaderModifier) && self.type == 'ResponseHeaderModifier')",
         .message = "filter.responseHeaderModifier must be specified for ResponseHeaderModifier filter.type"},
        {cel_mirror_nil, .rule = "!(has(self.requestMirror) && self.type != 'RequestMirror')",
         .message = "filter.requestMirror must be nil if the filter.type is not RequestMirror"},
        {cel_mirror_set, .rule = "!(!has(self.requestMirror) && self.type == 'RequestMirror')",
         .message = "filter.requestMirror must be specified for RequestMirror filter.type"},
        {cel_extension_nil, .rule = "!(has(self.extensionRef) && self.type != 'ExtensionRef')",
         .message = "filter.extensionRef must be nil if the filter.type is not ExtensionRef"},
        {cel_extension_set, .rule = "!(!has(self.extensionRef) && self.type == 'ExtensionRef')",
         .message = "filter.extensionRef must be specified for ExtensionRef filter.type"}),
};

TR_CEL_FILTER_ONCE(req_header, "RequestHeaderModifier")
TR_CEL_FILTER_ONCE(resp_header, "ResponseHeaderModifier")

/* []GRPCRouteFilter (GRPCRouteRule.Filters, GRPCBackendRef.Filters) */
static const struct tr_schema filters = {
    .type = TR_S_ARR,
    .items = &filter,
    .flags = TR_S_MAX_ITEMS,
    .max_items = 16,
    .list_type = TR_LIST_ATOMIC,
    .cel = TR_CELS({cel_once_req_header, .rule = "self.filter(f, f.type == 'RequestHeaderModifier').size() <= 1",
                    .message = "RequestHeaderModifier filter cannot be repeated"},
                   {cel_once_resp_header, .rule = "self.filter(f, f.type == 'ResponseHeaderModifier').size() <= 1",
                    .message = "ResponseHeaderModifier filter cannot be repeated"}),
};

/* --- GRPCBackendRef --- */

/* GRPCBackendRef */
static const struct tr_schema backend_ref = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_OPT("filters", &filters), TR_OPT("group", &tr_sch_backend_ref_group),
                        TR_OPT("kind", &tr_sch_backend_ref_kind), TR_REQ("name", &tr_sch_object_name),
                        TR_OPT("namespace", &tr_sch_namespace), TR_OPT("port", &tr_sch_port),
                        TR_OPT("weight", &tr_sch_backend_ref_weight)),
    .cel = tr_cels_backend_port,
};

/* --- GRPCRouteMatch --- */

/* GRPCHeaderMatch */
static const struct tr_schema header_match = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_REQ("name", &tr_sch_header_name),
                        TR_OPT("type", TR_SCHEMA(.type = TR_S_STR, .def = "\"Exact\"",
                                                 .enums = TR_ENUM("Exact", "RegularExpression"))),
                        TR_REQ("value", TR_SCHEMA(.type = TR_S_STR, .flags = TR_S_MIN_LEN | TR_S_MAX_LEN,
                                                  .min_len = 1, .max_len = 4096))),
};

/* has(self.type) ? has(self.service) || has(self.method) : true */
static bool cel_method_service_or_method(const struct tr_node *self, const struct tr_node *old)
{
    return !tr_cel_has(self, "type") || tr_cel_has(self, "service") || tr_cel_has(self, "method");
}

/* (!has(self.type) || self.type == 'Exact') && has(self.<key>) ? self.<key>.matches(pattern) : true */
static bool exact_matches(const struct tr_node *self, const char *key, const char *pattern)
{
    if (tr_cel_has(self, "type") && !tr_cel_str_is(self, "type", "Exact"))
        return true;
    const struct tr_node *v = tr_node_get(self, key);
    if (!v)
        return true;
    return v->type == TR_N_STR && tr_schema_pattern_match(pattern, v->u.s, v->n);
}

/* (!has(self.type) || self.type == 'Exact') && has(self.service) ?
 * self.service.matches(r"""^(?i)\.?[a-z_][a-z_0-9]*(\.[a-z_][a-z_0-9]*)*$"""): true */
static bool cel_method_service_chars(const struct tr_node *self, const struct tr_node *old)
{
    static const char pattern[] = "^(?i)\\.?[a-z_][a-z_0-9]*(\\.[a-z_][a-z_0-9]*)*$";
    return exact_matches(self, "service", pattern);
}

/* (!has(self.type) || self.type == 'Exact') && has(self.method) ?
 * self.method.matches(r"""^[A-Za-z_][A-Za-z_0-9]*$"""): true */
static bool cel_method_method_chars(const struct tr_node *self, const struct tr_node *old)
{
    static const char pattern[] = "^[A-Za-z_][A-Za-z_0-9]*$";
    return exact_matches(self, "method", pattern);
}

/* GRPCMethodMatch */
static const struct tr_schema method_match = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_OPT("method", TR_SCHEMA(.type = TR_S_STR, .flags = TR_S_MAX_LEN, .max_len = 1024)),
                        TR_OPT("service", TR_SCHEMA(.type = TR_S_STR, .flags = TR_S_MAX_LEN, .max_len = 1024)),
                        TR_OPT("type", TR_SCHEMA(.type = TR_S_STR, .def = "\"Exact\"",
                                                 .enums = TR_ENUM("Exact", "RegularExpression")))),
    .cel = TR_CELS(
        {cel_method_service_or_method, .rule = "has(self.type) ? has(self.service) || has(self.method) : true",
         .message = "One or both of 'service' or 'method' must be specified"},
        {cel_method_service_chars,
         .rule = "(!has(self.type) || self.type == 'Exact') && has(self.service) ? "
                 "self.service.matches(r\"\"\"^(?i)\\.?[a-z_][a-z_0-9]*(\\.[a-z_][a-z_0-9]*)*$\"\"\"): true",
         .message = "service must only contain valid characters (matching "
                    "^(?i)\\.?[a-z_][a-z_0-9]*(\\.[a-z_][a-z_0-9]*)*$)"},
        {cel_method_method_chars,
         .rule = "(!has(self.type) || self.type == 'Exact') && has(self.method) ? "
                 "self.method.matches(r\"\"\"^[A-Za-z_][A-Za-z_0-9]*$\"\"\"): true",
         .message = "method must only contain valid characters (matching ^[A-Za-z_][A-Za-z_0-9]*$)"}),
};

/* GRPCRouteMatch */
static const struct tr_schema match = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(
        TR_OPT("headers", TR_SCHEMA(.type = TR_S_ARR, .items = &header_match, .flags = TR_S_MAX_ITEMS,
                                    .max_items = 16, .list_type = TR_LIST_MAP, .list_keys = TR_KEYS("name"))),
        TR_OPT("method", &method_match)),
};

/* --- GRPCRouteRule --- */

/* GRPCRouteRule */
static const struct tr_schema rule = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(
        TR_OPT("backendRefs", TR_SCHEMA(.type = TR_S_ARR, .items = &backend_ref, .flags = TR_S_MAX_ITEMS,
                                        .max_items = 16, .list_type = TR_LIST_ATOMIC)),
        TR_OPT("filters", &filters),
        TR_OPT("matches", TR_SCHEMA(.type = TR_S_ARR, .items = &match, .flags = TR_S_MAX_ITEMS, .max_items = 64,
                                    .list_type = TR_LIST_ATOMIC)),
        TR_OPT("name", &tr_sch_section_name), TR_OPT("sessionPersistence", &tr_sch_session_persistence)),
};

/* (self.size() > 0 ? (has(self[0].matches) ? self[0].matches.size() : 0) : 0) + ... +
 * (self.size() > 15 ? (has(self[15].matches) ? self[15].matches.size() : 0) : 0) <= 128 */
static bool cel_rules_total_matches(const struct tr_node *self, const struct tr_node *old)
{
    size_t total = 0;
    for (size_t i = 0; i < tr_node_len(self) && i < 16; i++)
        total += tr_node_len(tr_node_get(tr_node_at(self, i), "matches"));
    return total <= 128;
}

/* self.all(l1, !has(l1.name) || self.exists_one(l2, has(l2.name) && l1.name == l2.name)) */
static bool cel_rules_unique_names(const struct tr_node *self, const struct tr_node *old)
{
    return tr_cel_rule_names_unique(self);
}

/* []GRPCRouteRule */
static const struct tr_schema rules = {
    .type = TR_S_ARR,
    .items = &rule,
    .flags = TR_S_MAX_ITEMS,
    .max_items = 16,
    .list_type = TR_LIST_ATOMIC,
    .cel = TR_CELS(
        {cel_rules_total_matches,
         .rule = "(self.size() > 0 ? (has(self[0].matches) ? self[0].matches.size() : 0) : 0) + (self.size() > 1 ? "
                 "(has(self[1].matches) ? self[1].matches.size() : 0) : 0) + (self.size() > 2 ? "
                 "(has(self[2].matches) ? self[2].matches.size() : 0) : 0) + (self.size() > 3 ? "
                 "(has(self[3].matches) ? self[3].matches.size() : 0) : 0) + (self.size() > 4 ? "
                 "(has(self[4].matches) ? self[4].matches.size() : 0) : 0) + (self.size() > 5 ? "
                 "(has(self[5].matches) ? self[5].matches.size() : 0) : 0) + (self.size() > 6 ? "
                 "(has(self[6].matches) ? self[6].matches.size() : 0) : 0) + (self.size() > 7 ? "
                 "(has(self[7].matches) ? self[7].matches.size() : 0) : 0) + (self.size() > 8 ? "
                 "(has(self[8].matches) ? self[8].matches.size() : 0) : 0) + (self.size() > 9 ? "
                 "(has(self[9].matches) ? self[9].matches.size() : 0) : 0) + (self.size() > 10 ? "
                 "(has(self[10].matches) ? self[10].matches.size() : 0) : 0) + (self.size() > 11 ? "
                 "(has(self[11].matches) ? self[11].matches.size() : 0) : 0) + (self.size() > 12 ? "
                 "(has(self[12].matches) ? self[12].matches.size() : 0) : 0) + (self.size() > 13 ? "
                 "(has(self[13].matches) ? self[13].matches.size() : 0) : 0) + (self.size() > 14 ? "
                 "(has(self[14].matches) ? self[14].matches.size() : 0) : 0) + (self.size() > 15 ? "
                 "(has(self[15].matches) ? self[15].matches.size() : 0) : 0) <= 128",
         .message = "While 16 rules and 64 matches per rule are allowed, the total number of matches across all "
                    "rules in a route must be less than 128"},
        {cel_rules_unique_names,
         .rule = "self.all(l1, !has(l1.name) || self.exists_one(l2, has(l2.name) && l1.name == l2.name))",
         .message = "Rule name must be unique within the route"}),
};

/* --- GRPCRoute --- */

/* GRPCRouteSpec */
static const struct tr_schema spec = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_OPT("hostnames", &tr_sch_route_hostnames), TR_OPT("parentRefs", &tr_sch_route_parent_refs),
                        TR_OPT("rules", &rules), TR_OPT("useDefaultGateways", &tr_sch_use_default_gateways)),
};

/* GRPCRoute */
const struct tr_schema tr_schema_GRPCRoute = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_REQ("apiVersion", &tr_sch_string), TR_REQ("kind", &tr_sch_string),
                        TR_REQ("metadata", &tr_sch_object_meta), TR_REQ("spec", &spec),
                        TR_OPT("status", &tr_sch_any)),
};
