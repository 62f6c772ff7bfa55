/* Types shared by the route kinds (Gateway API apis/v1 shared_types.go, object_reference_types.go,
 * httproute_types.go): parent and backend references, header and mirror filters, session
 * persistence. Restated from the v1 schemas of the experimental-channel route CRDs. */
#include "api/schema_route.h"

/* --- leaves --- */

/* HTTPHeaderName */
const struct tr_schema tr_sch_header_name = {
    .type = TR_S_STR, .flags = TR_S_MIN_LEN | TR_S_MAX_LEN, .min_len = 1, .max_len = 256,
    .pattern = TR_PAT_HEADER_NAME};

/* []Hostname (HTTPRouteSpec, GRPCRouteSpec) */
const struct tr_schema tr_sch_route_hostnames = {
    .type = TR_S_ARR, .items = &tr_sch_hostname, .flags = TR_S_MAX_ITEMS, .max_items = 16,
    .list_type = TR_LIST_ATOMIC};

/* GatewayDefaultScope */
const struct tr_schema tr_sch_use_default_gateways = {.type = TR_S_STR, .enums = TR_ENUM("All", "None")};

/* --- ParentReference --- */

/* p1 and p2 name the same parent: same group, kind and name, and the same namespace (unset and
 * '' alike). */
static bool same_parent(const struct tr_node *p1, const struct tr_node *p2)
{
    if (!tr_cel_same(p1, p2, "group") || !tr_cel_same(p1, p2, "kind") || !tr_cel_same(p1, p2, "name"))
        return false;
    if (tr_cel_str_unset(p1, "namespace") && tr_cel_str_unset(p2, "namespace"))
        return true;
    return tr_cel_has(p1, "namespace") && tr_cel_has(p2, "namespace") && tr_cel_same(p1, p2, "namespace");
}

/* self.all(p1, self.all(p2, <same parent> ? (<no sectionName>(p1) == <no sectionName>(p2) &&
 * <no port>(p1) == <no port>(p2)) : true)) */
static bool cel_parent_refs_qualified(const struct tr_node *self, const struct tr_node *old)
{
    for (size_t i = 0; i < tr_node_len(self); i++) {
        const struct tr_node *p1 = tr_node_at(self, i);
        for (size_t j = 0; j < tr_node_len(self); j++) {
            const struct tr_node *p2 = tr_node_at(self, j);
            if (!same_parent(p1, p2))
                continue;
            if (tr_cel_str_unset(p1, "sectionName") != tr_cel_str_unset(p2, "sectionName") ||
                tr_cel_int_unset(p1, "port") != tr_cel_int_unset(p2, "port"))
                return false;
        }
    }
    return true;
}

/* self.all(p1, self.exists_one(p2, <same parent> && <same sectionName> && <same port>)), where
 * "same" is both unset (or ''/0) or both set and equal. */
static bool cel_parent_refs_unique(const struct tr_node *self, const struct tr_node *old)
{
    for (size_t i = 0; i < tr_node_len(self); i++) {
        const struct tr_node *p1 = tr_node_at(self, i);
        size_t matches = 0;
        for (size_t j = 0; j < tr_node_len(self); j++) {
            const struct tr_node *p2 = tr_node_at(self, j);
            bool section = (tr_cel_str_unset(p1, "sectionName") && tr_cel_str_unset(p2, "sectionName")) ||
                           (tr_cel_has(p1, "sectionName") && tr_cel_has(p2, "sectionName") &&
                            tr_cel_same(p1, p2, "sectionName"));
            bool port = (tr_cel_int_unset(p1, "port") && tr_cel_int_unset(p2, "port")) ||
                        (tr_cel_has(p1, "port") && tr_cel_has(p2, "port") && tr_cel_same(p1, p2, "port"));
            matches += same_parent(p1, p2) && section && port;
        }
        if (matches != 1)
            return false;
    }
    return true;
}

/* ParentReference */
static const struct tr_schema parent_ref = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(
        TR_OPT("group", TR_SCHEMA(.type = TR_S_STR, .flags = TR_S_MAX_LEN, .max_len = 253,
                                  .pattern = TR_PAT_GROUP, .def = "\"gateway.networking.k8s.io\"")),
        TR_OPT("kind", TR_SCHEMA(.type = TR_S_STR, .flags = TR_S_MIN_LEN | TR_S_MAX_LEN, .min_len = 1,
                                 .max_len = 63, .pattern = TR_PAT_KIND, .def = "\"Gateway\"")),
        TR_REQ("name", &tr_sch_object_name), TR_OPT("namespace", &tr_sch_namespace),
        TR_OPT("port", &tr_sch_port), TR_OPT("sectionName", &tr_sch_section_name)),
};

/* []ParentReference (CommonRouteSpec.ParentRefs) */
const struct tr_schema tr_sch_route_parent_refs = {
    .type = TR_S_ARR,
    .items = &parent_ref,
    .flags = TR_S_MAX_ITEMS,
    .max_items = 32,
    .list_type = TR_LIST_ATOMIC,
    .cel = TR_CELS(
        {cel_parent_refs_qualified,
         .rule = "self.all(p1, self.all(p2, p1.group == p2.group && p1.kind == p2.kind && p1.name == p2.name && "
                 "(((!has(p1.__namespace__) || p1.__namespace__ == '') && (!has(p2.__namespace__) || "
                 "p2.__namespace__ == '')) || (has(p1.__namespace__) && has(p2.__namespace__) && p1.__namespace__ "
                 "== p2.__namespace__)) ? ((!has(p1.sectionName) || p1.sectionName == '') == (!has(p2.sectionName) "
                 "|| p2.sectionName == '') && (!has(p1.port) || p1.port == 0) == (!has(p2.port) || p2.port == 0)): "
                 "true))",
         .message = "sectionName or port must be specified when parentRefs includes 2 or more references to the "
                    "same parent"},
        {cel_parent_refs_unique,
         .rule = "self.all(p1, self.exists_one(p2, p1.group == p2.group && p1.kind == p2.kind && p1.name == "
                 "p2.name && (((!has(p1.__namespace__) || p1.__namespace__ == '') && (!has(p2.__namespace__) || "
                 "p2.__namespace__ == '')) || (has(p1.__namespace__) && has(p2.__namespace__) && p1.__namespace__ "
                 "== p2.__namespace__ )) && (((!has(p1.sectionName) || p1.sectionName == '') && "
                 "(!has(p2.sectionName) || p2.sectionName == '')) || ( has(p1.sectionName) && has(p2.sectionName) "
                 "&& p1.sectionName == p2.sectionName)) && (((!has(p1.port) || p1.port == 0) && (!has(p2.port) || "
                 "p2.port == 0)) || (has(p1.port) && has(p2.port) && p1.port == p2.port))))",
         .message = "sectionName or port must be unique when parentRefs includes 2 or more references to the "
                    "same parent"}),
};

/* --- BackendObjectReference, BackendRef --- */

/* (size(self.group) == 0 && self.kind == 'Service') ? has(self.port) : true */
static bool cel_backend_port(const struct tr_node *self, const struct tr_node *old)
{
    const char *group = tr_node_gets(self, "group");
    if (group && group[0] == '\0' && tr_cel_str_is(self, "kind", "Service"))
        return tr_cel_has(self, "port");
    return true;
}

const struct tr_cel tr_cels_backend_port[] = {
    {cel_backend_port,
     .rule = "(size(self.group) == 0 && self.kind == 'Service') ? has(self.port) : true",
     .message = "Must have port for Service reference"},
    {NULL, NULL, NULL, NULL, NULL},
};

const struct tr_schema tr_sch_backend_ref_group = {
    .type = TR_S_STR, .flags = TR_S_MAX_LEN, .max_len = 253, .pattern = TR_PAT_GROUP, .def = "\"\""};
const struct tr_schema tr_sch_backend_ref_kind = {
    .type = TR_S_STR, .flags = TR_S_MIN_LEN | TR_S_MAX_LEN, .min_len = 1, .max_len = 63,
    .pattern = TR_PAT_KIND, .def = "\"Service\""};
const struct tr_schema tr_sch_backend_ref_weight = {
    .type = TR_S_INT, .format = "int32", .flags = TR_S_MINIMUM | TR_S_MAXIMUM, .minimum = 0,
    .maximum = 1000000, .def = "1"};

/* BackendObjectReference */
const struct tr_schema tr_sch_backend_object_ref = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_OPT("group", &tr_sch_backend_ref_group), TR_OPT("kind", &tr_sch_backend_ref_kind),
                        TR_REQ("name", &tr_sch_object_name), TR_OPT("namespace", &tr_sch_namespace),
                        TR_OPT("port", &tr_sch_port)),
    .cel = tr_cels_backend_port,
};

/* BackendRef */
const struct tr_schema tr_sch_backend_ref = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_OPT("group", &tr_sch_backend_ref_group), TR_OPT("kind", &tr_sch_backend_ref_kind),
                        TR_REQ("name", &tr_sch_object_name), TR_OPT("namespace", &tr_sch_namespace),
                        TR_OPT("port", &tr_sch_port), TR_OPT("weight", &tr_sch_backend_ref_weight)),
    .cel = tr_cels_backend_port,
};

/* --- HTTPHeaderFilter --- */

/* HTTPHeader */
static const struct tr_schema header = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_REQ("name", &tr_sch_header_name),
                        TR_REQ("value", TR_SCHEMA(.type = TR_S_STR, .flags = TR_S_MIN_LEN | TR_S_MAX_LEN,
                                                  .min_len = 1, .max_len = 4096,
                                                  .pattern = TR_PAT_HEADER_VALUE))),
};

/* []HTTPHeader, a map list keyed by name */
static const struct tr_schema header_list = {
    .type = TR_S_ARR, .items = &header, .flags = TR_S_MAX_ITEMS, .max_items = 16,
    .list_type = TR_LIST_MAP, .list_keys = TR_KEYS("name")};

/* HTTPHeaderFilter */
const struct tr_schema tr_sch_header_filter = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_OPT("add", &header_list),
                        TR_OPT("remove", TR_SCHEMA(.type = TR_S_ARR, .items = &tr_sch_string,
                                                   .flags = TR_S_MAX_ITEMS, .max_items = 16,
                                                   .list_type = TR_LIST_SET)),
                        TR_OPT("set", &header_list)),
};

/* --- HTTPRequestMirrorFilter --- */

/* self.numerator <= self.denominator */
static bool cel_fraction(const struct tr_node *self, const struct tr_node *old)
{
    return tr_node_geti(self, "numerator", 0) <= tr_node_geti(self, "denominator", 100);
}

/* !(has(self.percent) && has(self.fraction)) */
static bool cel_mirror_percent_or_fraction(const struct tr_node *self, const struct tr_node *old)
{
    return !(tr_cel_has(self, "percent") && tr_cel_has(self, "fraction"));
}

/* Fraction */
static const struct tr_schema fraction = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_OPT("denominator", TR_SCHEMA(.type = TR_S_INT, .format = "int32",
                                                        .flags = TR_S_MINIMUM, .minimum = 1, .def = "100")),
                        TR_REQ("numerator", TR_SCHEMA(.type = TR_S_INT, .format = "int32",
                                                      .flags = TR_S_MINIMUM, .minimum = 0))),
    .cel = TR_CELS({cel_fraction, .rule = "self.numerator <= self.denominator",
                    .message = "numerator must be less than or equal to denominator"}),
};

/* HTTPRequestMirrorFilter */
const struct tr_schema tr_sch_request_mirror = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_REQ("backendRef", &tr_sch_backend_object_ref), TR_OPT("fraction", &fraction),
                        TR_OPT("percent", TR_SCHEMA(.type = TR_S_INT, .format = "int32",
                                                    .flags = TR_S_MINIMUM | TR_S_MAXIMUM, .minimum = 0,
                                                    .maximum = 100))),
    .cel = TR_CELS({cel_mirror_percent_or_fraction, .rule = "!(has(self.percent) && has(self.fraction))",
                    .message = "Only one of percent or fraction may be specified in HTTPRequestMirrorFilter"}),
};

/* --- LocalObjectReference --- */

/* LocalObjectReference (ExtensionRef filters) */
const struct tr_schema tr_sch_local_object_ref = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_REQ("group", &tr_sch_group), TR_REQ("kind", &tr_sch_kind),
                        TR_REQ("name", &tr_sch_object_name)),
};

/* --- SessionPersistence --- */

/* !has(self.cookieConfig) || !has(self.cookieConfig.lifetimeType) ||
 * self.cookieConfig.lifetimeType != 'Permanent' || has(self.absoluteTimeout) */
static bool cel_session_permanent_timeout(const struct tr_node *self, const struct tr_node *old)
{
    const struct tr_node *cookie = tr_node_get(self, "cookieConfig");
    if (!cookie || !tr_cel_has(cookie, "lifetimeType"))
        return true;
    return !tr_cel_str_is(cookie, "lifetimeType", "Permanent") || tr_cel_has(self, "absoluteTimeout");
}

/* !has(self.cookieConfig) || self.type == 'Cookie' */
static bool cel_session_cookie_type(const struct tr_node *self, const struct tr_node *old)
{
    return !tr_cel_has(self, "cookieConfig") || tr_cel_str_is(self, "type", "Cookie");
}

/* SessionPersistence */
const struct tr_schema tr_sch_session_persistence = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(
        TR_OPT("absoluteTimeout", TR_SCHEMA(.type = TR_S_STR, .pattern = TR_PAT_DURATION)),
        /* CookieConfig */
        TR_OPT("cookieConfig",
               TR_SCHEMA(.type = TR_S_OBJ,
                         .fields = TR_FIELDS(TR_OPT("lifetimeType",
                                                    TR_SCHEMA(.type = TR_S_STR, .def = "\"Session\"",
                                                              .enums = TR_ENUM("Permanent", "Session")))))),
        TR_OPT("sessionName", TR_SCHEMA(.type = TR_S_STR, .flags = TR_S_MAX_LEN, .max_len = 128)),
        TR_OPT("type", TR_SCHEMA(.type = TR_S_STR, .def = "\"Cookie\"", .enums = TR_ENUM("Cookie", "Header")))),
    .cel = TR_CELS(
        {cel_session_permanent_timeout,
         .rule = "!has(self.cookieConfig) || !has(self.cookieConfig.lifetimeType) || "
                 "self.cookieConfig.lifetimeType != 'Permanent' || has(self.absoluteTimeout)",
         .message = "AbsoluteTimeout must be specified when cookie lifetimeType is Permanent"},
        {cel_session_cookie_type, .rule = "!has(self.cookieConfig) || self.type == 'Cookie'",
         .message = "cookieConfig can only be set with type Cookie"}),
};
