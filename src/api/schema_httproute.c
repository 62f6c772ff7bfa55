/* HTTPRoute (gateway.networking.k8s.io/v1), restated from the experimental-channel CRD
 * (apis/v1/httproute_types.go). */
#include "api/kind.h"
#include "api/schema_route.h"
#include "base/duration.h"

#include <inttypes.h>
#include <stdio.h>

/* --- HTTPCORSFilter --- */

/* !('*' in self && self.size() > 1), for a list of strings. */
static bool cel_star_alone(const struct tr_node *self, const struct tr_node *old)
{
    bool star = false;
    for (size_t i = 0; i < tr_node_len(self); i++) {
        const struct tr_node *v = tr_node_at(self, i);
        star |= v && v->type == TR_N_STR && v->n == 1 && v->u.s[0] == '*';
    }
    return !(star && tr_node_len(self) > 1);
}

/* []HTTPHeaderName, a set of at most 64 (allowHeaders) */
static const struct tr_schema cors_allow_headers = {
    .type = TR_S_ARR, .items = &tr_sch_header_name, .flags = TR_S_MAX_ITEMS, .max_items = 64,
    .list_type = TR_LIST_SET,
    .cel = TR_CELS({cel_star_alone, .rule = "!('*' in self && self.size() > 1)",
                    .message = "AllowHeaders cannot contain '*' alongside other methods"}),
};

/* []HTTPMethodWithWildcard */
static const struct tr_schema cors_allow_methods = {
    .type = TR_S_ARR,
    .items = TR_SCHEMA(.type = TR_S_STR, .enums = TR_ENUM("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT",
                                                          "OPTIONS", "TRACE", "PATCH", "*")),
    .flags = TR_S_MAX_ITEMS, .max_items = 9, .list_type = TR_LIST_SET,
    .cel = TR_CELS({cel_star_alone, .rule = "!('*' in self && self.size() > 1)",
                    .message = "AllowMethods cannot contain '*' alongside other methods"}),
};

/* []CORSOrigin */
static const struct tr_schema cors_allow_origins = {
    .type = TR_S_ARR,
    .items = TR_SCHEMA(.type = TR_S_STR, .flags = TR_S_MIN_LEN | TR_S_MAX_LEN, .min_len = 1, .max_len = 253,
                       .pattern = "(^\\*$)|(^(http(s)?):\\/\\/(((\\*\\.)?([a-zA-Z0-9\\-]+\\.)*[a-zA-Z0-9-]+|\\*)"
                                  "(:([0-9]{1,5}))?)$)"),
    .flags = TR_S_MAX_ITEMS, .max_items = 64, .list_type = TR_LIST_SET,
    .cel = TR_CELS({cel_star_alone, .rule = "!('*' in self && self.size() > 1)",
                    .message = "AllowOrigins cannot contain '*' alongside other origins"}),
};

/* HTTPCORSFilter */
static const struct tr_schema cors_filter = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_OPT("allowCredentials", &tr_sch_bool), TR_OPT("allowHeaders", &cors_allow_headers),
                        TR_OPT("allowMethods", &cors_allow_methods), TR_OPT("allowOrigins", &cors_allow_origins),
                        TR_OPT("exposeHeaders", TR_SCHEMA(.type = TR_S_ARR, .items = &tr_sch_header_name,
                                                          .flags = TR_S_MAX_ITEMS, .max_items = 64,
                                                          .list_type = TR_LIST_SET)),
                        TR_OPT("maxAge", TR_SCHEMA(.type = TR_S_INT, .format = "int32", .flags = TR_S_MINIMUM,
                                                   .minimum = 1, .def = "5"))),
};

/* --- HTTPExternalAuthFilter --- */

/* self.protocol == 'GRPC' ? has(self.grpc) : true */
static bool cel_ext_auth_grpc_set(const struct tr_node *self, const struct tr_node *old)
{
    return !tr_cel_str_is(self, "protocol", "GRPC") || tr_cel_has(self, "grpc");
}

/* has(self.grpc) ? self.protocol == 'GRPC' : true */
static bool cel_ext_auth_grpc_protocol(const struct tr_node *self, const struct tr_node *old)
{
    return !tr_cel_has(self, "grpc") || tr_cel_str_is(self, "protocol", "GRPC");
}

/* self.protocol == 'HTTP' ? has(self.http) : true */
static bool cel_ext_auth_http_set(const struct tr_node *self, const struct tr_node *old)
{
    return !tr_cel_str_is(self, "protocol", "HTTP") || tr_cel_has(self, "http");
}

/* has(self.http) ? self.protocol == 'HTTP' : true */
static bool cel_ext_auth_http_protocol(const struct tr_node *self, const struct tr_node *old)
{
    return !tr_cel_has(self, "http") || tr_cel_str_is(self, "protocol", "HTTP");
}

/* []string, a set of at most 64 header names (allowedHeaders, allowedResponseHeaders) */
static const struct tr_schema ext_auth_headers = {
    .type = TR_S_ARR, .items = &tr_sch_string, .flags = TR_S_MAX_ITEMS, .max_items = 64,
    .list_type = TR_LIST_SET};

/* HTTPExternalAuthFilter */
static const struct tr_schema ext_auth_filter = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(
        TR_REQ("backendRef", &tr_sch_backend_object_ref),
        /* ForwardBodyConfig */
        TR_OPT("forwardBody", TR_SCHEMA(.type = TR_S_OBJ, .fields = TR_FIELDS(TR_OPT("maxSize", &tr_sch_int)))),
        /* GRPCAuthConfig */
        TR_OPT("grpc", TR_SCHEMA(.type = TR_S_OBJ, .fields = TR_FIELDS(TR_OPT("allowedHeaders", &ext_auth_headers)))),
        /* HTTPAuthConfig */
        TR_OPT("http", TR_SCHEMA(.type = TR_S_OBJ,
                                 .fields = TR_FIELDS(TR_OPT("allowedHeaders", &ext_auth_headers),
                                                     TR_OPT("allowedResponseHeaders", &ext_auth_headers),
                                                     TR_OPT("path", TR_SCHEMA(.type = TR_S_STR,
                                                                              .flags = TR_S_MAX_LEN,
                                                                              .max_len = 1024,
                                                                              .pattern = TR_PAT_URI_PATH))))),
        TR_REQ("protocol", TR_SCHEMA(.type = TR_S_STR, .enums = TR_ENUM("HTTP", "GRPC")))),
    .cel = TR_CELS({cel_ext_auth_grpc_set, .rule = "self.protocol == 'GRPC' ? has(self.grpc) : true",
                    .message = "grpc must be specified when protocol is set to 'GRPC'"},
                   {cel_ext_auth_grpc_protocol, .rule = "has(self.grpc) ? self.protocol == 'GRPC' : true",
                    .message = "protocol must be 'GRPC' when grpc is set"},
                   {cel_ext_auth_http_set, .rule = "self.protocol == 'HTTP' ? has(self.http) : true",
                    .message = "http must be specified when protocol is set to 'HTTP'"},
                   {cel_ext_auth_http_protocol, .rule = "has(self.http) ? self.protocol == 'HTTP' : true",
                    .message = "protocol must be 'HTTP' when http is set"}),
};

/* --- HTTPPathModifier, HTTPRequestRedirectFilter, HTTPURLRewriteFilter --- */

/* self.type == 'ReplaceFullPath' ? has(self.replaceFullPath) : true */
static bool cel_modifier_full_set(const struct tr_node *self, const struct tr_node *old)
{
    return !tr_cel_str_is(self, "type", "ReplaceFullPath") || tr_cel_has(self, "replaceFullPath");
}

/* has(self.replaceFullPath) ? self.type == 'ReplaceFullPath' : true */
static bool cel_modifier_full_type(const struct tr_node *self, const struct tr_node *old)
{
    return !tr_cel_has(self, "replaceFullPath") || tr_cel_str_is(self, "type", "ReplaceFullPath");
}

/* self.type == 'ReplacePrefixMatch' ? has(self.replacePrefixMatch) : true */
static bool cel_modifier_prefix_set(const struct tr_node *self, const struct tr_node *old)
{
    return !tr_cel_str_is(self, "type", "ReplacePrefixMatch") || tr_cel_has(self, "replacePrefixMatch");
}

/* has(self.replacePrefixMatch) ? self.type == 'ReplacePrefixMatch' : true */
static bool cel_modifier_prefix_type(const struct tr_node *self, const struct tr_node *old)
{
    return !tr_cel_has(self, "replacePrefixMatch") || tr_cel_str_is(self, "type", "ReplacePrefixMatch");
}

/* HTTPPathModifier */
static const struct tr_schema path_modifier = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(
        TR_OPT("replaceFullPath", TR_SCHEMA(.type = TR_S_STR, .flags = TR_S_MAX_LEN, .max_len = 1024)),
        TR_OPT("replacePrefixMatch", TR_SCHEMA(.type = TR_S_STR, .flags = TR_S_MAX_LEN, .max_len = 1024)),
        TR_REQ("type", TR_SCHEMA(.type = TR_S_STR, .enums = TR_ENUM("ReplaceFullPath", "ReplacePrefixMatch")))),
    .cel = TR_CELS(
        {cel_modifier_full_set, .rule = "self.type == 'ReplaceFullPath' ? has(self.replaceFullPath) : true",
         .message = "replaceFullPath must be specified when type is set to 'ReplaceFullPath'"},
        {cel_modifier_full_type, .rule = "has(self.replaceFullPath) ? self.type == 'ReplaceFullPath' : true",
         .message = "type must be 'ReplaceFullPath' when replaceFullPath is set"},
        {cel_modifier_prefix_set, .rule = "self.type == 'ReplacePrefixMatch' ? has(self.replacePrefixMatch) : true",
         .message = "replacePrefixMatch must be specified when type is set to 'ReplacePrefixMatch'"},
        {cel_modifier_prefix_type, .rule = "has(self.replacePrefixMatch) ? self.type == 'ReplacePrefixMatch' : true",
         .message = "type must be 'ReplacePrefixMatch' when replacePrefixMatch is set"}),
};

/* statusCode is an integer enum, which the engine's enums (strings) cannot hold: restated as a
 * check with the API server's message. */
static const char *check_redirect_status(const struct tr_node *self)
{
    static const int64_t codes[] = {301, 302, 303, 307, 308};
    if (self->type != TR_N_INT)
        return NULL;
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        if (self->u.i == codes[i])
            return NULL;
    static _Thread_local char msg[128];
    snprintf(msg, sizeof(msg),
             "Unsupported value: %" PRId64 ": supported values: \"301\", \"302\", \"303\", \"307\", \"308\"",
             self->u.i);
    return msg;
}

/* HTTPRequestRedirectFilter */
static const struct tr_schema request_redirect = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(
        TR_OPT("hostname", &tr_sch_precise_hostname), TR_OPT("path", &path_modifier),
        TR_OPT("port", &tr_sch_port),
        TR_OPT("scheme", TR_SCHEMA(.type = TR_S_STR, .enums = TR_ENUM("http", "https"))),
        TR_OPT("statusCode", TR_SCHEMA(.type = TR_S_INT, .def = "302", .check = check_redirect_status,
                                       .check_desc = "enum: [301, 302, 303, 307, 308]"))),
};

/* HTTPURLRewriteFilter */
static const struct tr_schema url_rewrite = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_OPT("hostname", &tr_sch_precise_hostname), TR_OPT("path", &path_modifier)),
};

/* --- HTTPRouteFilter --- */

TR_CEL_FILTER_MEMBER(cors, "cors", "CORS")
TR_CEL_FILTER_MEMBER(req_header, "requestHeaderModifier", "RequestHeaderModifier")
TR_CEL_FILTER_MEMBER(resp_header, "responseHeaderModifier", "ResponseHeaderModifier")
TR_CEL_FILTER_MEMBER(mirror, "requestMirror", "RequestMirror")
TR_CEL_FILTER_MEMBER(redirect, "requestRedirect", "RequestRedirect")
TR_CEL_FILTER_MEMBER(rewrite, "urlRewrite", "URLRewrite")
TR_CEL_FILTER_MEMBER(extension, "extensionRef", "ExtensionRef")
TR_CEL_FILTER_MEMBER(ext_auth, "externalAuth", "ExternalAuth")

/* HTTPRouteFilter */
static const struct tr_schema filter = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(
        TR_OPT("cors", &cors_filter), TR_OPT("extensionRef", &tr_sch_local_object_ref),
        TR_OPT("externalAuth", &ext_auth_filter), TR_OPT("requestHeaderModifier", &tr_sch_header_filter),
        TR_OPT("requestMirror", &tr_sch_request_mirror), TR_OPT("requestRedirect", &request_redirect),
        TR_OPT("responseHeaderModifier", &tr_sch_header_filter),
        TR_REQ("type", TR_SCHEMA(.type = TR_S_STR,
                                 .enums = TR_ENUM("RequestHeaderModifier", "ResponseHeaderModifier", "RequestMirror",
                                                  "RequestRedirect", "URLRewrite", "ExtensionRef", "CORS",
                                                  "ExternalAuth"))),
        TR_OPT("urlRewrite", &url_rewrite)),
    .cel = TR_CELS(
        {cel_cors_nil, .rule = "!(has(self.cors) && self.type != 'CORS')",
         .message = "filter.cors must be nil if the filter.type is not CORS"},
        {cel_cors_set, .rule = "!(!has(self.cors) && self.type == 'CORS')",
         .message = "filter.cors must be specified for CORS filter.type"},
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
        {cel_redirect_nil, .rule = "!(has(self.requestRedirect) && self.type != 'RequestRedirect')",
         .message = "filter.requestRedirect must be nil if the filter.type is not RequestRedirect"},
        {cel_redirect_set, .rule = "!(!has(self.requestRedirect) && self.type == 'RequestRedirect')",
         .message = "filter.requestRedirect must be specified for RequestRedirect filter.type"},
        {cel_rewrite_nil, .rule = "!(has(self.urlRewrite) && self.type != 'URLRewrite')",
         .message = "filter.urlRewrite must be nil if the filter.type is not URLRewrite"},
        {cel_rewrite_set, .rule = "!(!has(self.urlRewrite) && self.type == 'URLRewrite')",
         .message = "filter.urlRewrite must be specified for URLRewrite filter.type"},
        {cel_extension_nil, .rule = "!(has(self.extensionRef) && self.type != 'ExtensionRef')",
         .message = "filter.extensionRef must be nil if the filter.type is not ExtensionRef"},
        {cel_extension_set, .rule = "!(!has(self.extensionRef) && self.type == 'ExtensionRef')",
         .message = "filter.extensionRef must be specified for ExtensionRef filter.type"},
        {cel_ext_auth_nil, .rule = "!(has(self.externalAuth) && self.type != 'ExternalAuth')",
         .message = "filter.externalAuth must be nil if the filter.type is not ExternalAuth"},
        {cel_ext_auth_set, .rule = "!(!has(self.externalAuth) && self.type == 'ExternalAuth')",
         .message = "filter.externalAuth must be specified for ExternalAuth filter.type"}),
};

/* !(self.exists(f, f.type == 'RequestRedirect') && self.exists(f, f.type == 'URLRewrite')) */
static bool cel_redirect_or_rewrite(const struct tr_node *self, const struct tr_node *old)
{
    return !(tr_cel_count_type(self, "RequestRedirect") > 0 && tr_cel_count_type(self, "URLRewrite") > 0);
}

TR_CEL_FILTER_ONCE(cors, "CORS")
TR_CEL_FILTER_ONCE(req_header, "RequestHeaderModifier")
TR_CEL_FILTER_ONCE(resp_header, "ResponseHeaderModifier")
TR_CEL_FILTER_ONCE(redirect, "RequestRedirect")
TR_CEL_FILTER_ONCE(rewrite, "URLRewrite")

/* []HTTPRouteFilter (HTTPRouteRule.Filters, HTTPBackendRef.Filters) */
static const struct tr_schema filters = {
    .type = TR_S_ARR,
    .items = &filter,
    .flags = TR_S_MAX_ITEMS,
    .max_items = 16,
    .list_type = TR_LIST_ATOMIC,
    .cel = TR_CELS(
        {cel_redirect_or_rewrite,
         .rule = "!(self.exists(f, f.type == 'RequestRedirect') && self.exists(f, f.type == 'URLRewrite'))",
         .message = "May specify either httpRouteFilterRequestRedirect or httpRouteFilterRequestRewrite, but not "
                    "both"},
        {cel_once_cors, .rule = "self.filter(f, f.type == 'CORS').size() <= 1",
         .message = "CORS filter cannot be repeated"},
        {cel_once_req_header, .rule = "self.filter(f, f.type == 'RequestHeaderModifier').size() <= 1",
         .message = "RequestHeaderModifier filter cannot be repeated"},
        {cel_once_resp_header, .rule = "self.filter(f, f.type == 'ResponseHeaderModifier').size() <= 1",
         .message = "ResponseHeaderModifier filter cannot be repeated"},
        {cel_once_redirect, .rule = "self.filter(f, f.type == 'RequestRedirect').size() <= 1",
         .message = "RequestRedirect filter cannot be repeated"},
        {cel_once_rewrite, .rule = "self.filter(f, f.type == 'URLRewrite').size() <= 1",
         .message = "URLRewrite filter cannot be repeated"}),
};

/* --- HTTPBackendRef --- */

/* HTTPBackendRef */
static const struct tr_schema backend_ref = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_OPT("filters", &filters), TR_OPT("group", &tr_sch_backend_ref_group),
                        TR_OPT("kind", &tr_sch_backend_ref_kind), TR_REQ("name", &tr_sch_object_name),
                        TR_OPT("namespace", &tr_sch_namespace), TR_OPT("port", &tr_sch_port),
                        TR_OPT("weight", &tr_sch_backend_ref_weight)),
    .cel = tr_cels_backend_port,
};

/* --- HTTPRouteMatch --- */

/* HTTPHeaderMatch */
static const struct tr_schema header_match = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_REQ("name", &tr_sch_header_name),
                        TR_OPT("type", TR_SCHEMA(.type = TR_S_STR, .def = "\"Exact\"",
                                                 .enums = TR_ENUM("Exact", "RegularExpression"))),
                        TR_REQ("value", TR_SCHEMA(.type = TR_S_STR, .flags = TR_S_MIN_LEN | TR_S_MAX_LEN,
                                                  .min_len = 1, .max_len = 4096,
                                                  .pattern = TR_PAT_HEADER_VALUE))),
};

/* HTTPQueryParamMatch */
static const struct tr_schema query_param_match = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_REQ("name", &tr_sch_header_name),
                        TR_OPT("type", TR_SCHEMA(.type = TR_S_STR, .def = "\"Exact\"",
                                                 .enums = TR_ENUM("Exact", "RegularExpression"))),
                        TR_REQ("value", TR_SCHEMA(.type = TR_S_STR, .flags = TR_S_MIN_LEN | TR_S_MAX_LEN,
                                                  .min_len = 1, .max_len = 1024))),
};

/* self.type in ['Exact','PathPrefix'] */
static bool path_exact_or_prefix(const struct tr_node *self)
{
    return tr_cel_str_is(self, "type", "Exact") || tr_cel_str_is(self, "type", "PathPrefix");
}

/* self.value.contains(s) */
static bool value_contains(const struct tr_node *self, const char *s)
{
    const struct tr_node *v = tr_node_get(self, "value");
    return v && v->type == TR_N_STR && memmem(v->u.s, v->n, s, strlen(s)) != NULL;
}

/* self.value.endsWith(s) */
static bool value_ends_with(const struct tr_node *self, const char *s)
{
    const struct tr_node *v = tr_node_get(self, "value");
    size_t n = strlen(s);
    return v && v->type == TR_N_STR && v->n >= n && memcmp(v->u.s + v->n - n, s, n) == 0;
}

/* (self.type in ['Exact','PathPrefix']) ? self.value.startsWith('/') : true */
static bool cel_path_absolute(const struct tr_node *self, const struct tr_node *old)
{
    const struct tr_node *v = tr_node_get(self, "value");
    return !path_exact_or_prefix(self) || (v && v->type == TR_N_STR && v->n > 0 && v->u.s[0] == '/');
}

/* (self.type in ['Exact','PathPrefix']) ? !self.value.contains(<s>) : true */
#define PATH_NOT_CONTAINS(id, s)                                                                   \
    static bool cel_path_no_##id(const struct tr_node *self, const struct tr_node *old)           \
    {                                                                                              \
        return !path_exact_or_prefix(self) || !value_contains(self, s);                            \
    }
PATH_NOT_CONTAINS(double_slash, "//")
PATH_NOT_CONTAINS(dot_segment, "/./")
PATH_NOT_CONTAINS(dot_dot_segment, "/../")
PATH_NOT_CONTAINS(encoded_slash_lower, "%2f")
PATH_NOT_CONTAINS(encoded_slash_upper, "%2F")
PATH_NOT_CONTAINS(fragment, "#")
#undef PATH_NOT_CONTAINS

/* (self.type in ['Exact','PathPrefix']) ? !self.value.endsWith('/..') : true */
static bool cel_path_no_trailing_dot_dot(const struct tr_node *self, const struct tr_node *old)
{
    return !path_exact_or_prefix(self) || !value_ends_with(self, "/..");
}

/* (self.type in ['Exact','PathPrefix']) ? !self.value.endsWith('/.') : true */
static bool cel_path_no_trailing_dot(const struct tr_node *self, const struct tr_node *old)
{
    return !path_exact_or_prefix(self) || !value_ends_with(self, "/.");
}

/* self.type in ['Exact','PathPrefix'] || self.type == 'RegularExpression' */
static bool cel_path_type(const struct tr_node *self, const struct tr_node *old)
{
    return path_exact_or_prefix(self) || tr_cel_str_is(self, "type", "RegularExpression");
}

/* (self.type in ['Exact','PathPrefix']) ?
 * self.value.matches(r"""^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$""") : true */
static bool cel_path_chars(const struct tr_node *self, const struct tr_node *old)
{
    static const char pattern[] = TR_PAT_URI_PATH;
    const struct tr_node *v = tr_node_get(self, "value");
    if (!path_exact_or_prefix(self))
        return true;
    return v && v->type == TR_N_STR && tr_schema_pattern_match(pattern, v->u.s, v->n);
}

/* HTTPPathMatch */
static const struct tr_schema path_match = {
    .type = TR_S_OBJ,
    .def = "{\"type\":\"PathPrefix\",\"value\":\"/\"}",
    .fields = TR_FIELDS(TR_OPT("type", TR_SCHEMA(.type = TR_S_STR, .def = "\"PathPrefix\"",
                                                 .enums = TR_ENUM("Exact", "PathPrefix", "RegularExpression"))),
                        TR_OPT("value", TR_SCHEMA(.type = TR_S_STR, .def = "\"/\"", .flags = TR_S_MAX_LEN,
                                                  .max_len = 1024))),
    .cel = TR_CELS(
        {cel_path_absolute, .rule = "(self.type in ['Exact','PathPrefix']) ? self.value.startsWith('/') : true",
         .message = "value must be an absolute path and start with '/' when type one of ['Exact', 'PathPrefix']"},
        {cel_path_no_double_slash, .rule = "(self.type in ['Exact','PathPrefix']) ? !self.value.contains('//') : true",
         .message = "must not contain '//' when type one of ['Exact', 'PathPrefix']"},
        {cel_path_no_dot_segment, .rule = "(self.type in ['Exact','PathPrefix']) ? !self.value.contains('/./') : true",
         .message = "must not contain '/./' when type one of ['Exact', 'PathPrefix']"},
        {cel_path_no_dot_dot_segment,
         .rule = "(self.type in ['Exact','PathPrefix']) ? !self.value.contains('/../') : true",
         .message = "must not contain '/../' when type one of ['Exact', 'PathPrefix']"},
        {cel_path_no_encoded_slash_lower,
         .rule = "(self.type in ['Exact','PathPrefix']) ? !self.value.contains('%2f') : true",
         .message = "must not contain '%2f' when type one of ['Exact', 'PathPrefix']"},
        {cel_path_no_encoded_slash_upper,
         .rule = "(self.type in ['Exact','PathPrefix']) ? !self.value.contains('%2F') : true",
         .message = "must not contain '%2F' when type one of ['Exact', 'PathPrefix']"},
        {cel_path_no_fragment, .rule = "(self.type in ['Exact','PathPrefix']) ? !self.value.contains('#') : true",
         .message = "must not contain '#' when type one of ['Exact', 'PathPrefix']"},
        {cel_path_no_trailing_dot_dot,
         .rule = "(self.type in ['Exact','PathPrefix']) ? !self.value.endsWith('/..') : true",
         .message = "must not end with '/..' when type one of ['Exact', 'PathPrefix']"},
        {cel_path_no_trailing_dot, .rule = "(self.type in ['Exact','PathPrefix']) ? !self.value.endsWith('/.') : true",
         .message = "must not end with '/.' when type one of ['Exact', 'PathPrefix']"},
        {cel_path_type, .rule = "self.type in ['Exact','PathPrefix'] || self.type == 'RegularExpression'",
         .message = "type must be one of ['Exact', 'PathPrefix', 'RegularExpression']"},
        {cel_path_chars,
         .rule = "(self.type in ['Exact','PathPrefix']) ? "
                 "self.value.matches(r\"\"\"^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$\"\"\") : true",
         .message = "must only contain valid characters (matching "
                    "^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$) for types ['Exact', 'PathPrefix']"}),
};

/* HTTPRouteMatch */
static const struct tr_schema match = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(
        TR_OPT("headers", TR_SCHEMA(.type = TR_S_ARR, .items = &header_match, .flags = TR_S_MAX_ITEMS,
                                    .max_items = 16, .list_type = TR_LIST_MAP, .list_keys = TR_KEYS("name"))),
        TR_OPT("method", TR_SCHEMA(.type = TR_S_STR, .enums = TR_ENUM("GET", "HEAD", "POST", "PUT", "DELETE",
                                                                      "CONNECT", "OPTIONS", "TRACE", "PATCH"))),
        TR_OPT("path", &path_match),
        TR_OPT("queryParams", TR_SCHEMA(.type = TR_S_ARR, .items = &query_param_match, .flags = TR_S_MAX_ITEMS,
                                        .max_items = 16, .list_type = TR_LIST_MAP, .list_keys = TR_KEYS("name")))),
};

/* --- HTTPRouteRetry, HTTPRouteTimeouts --- */

/* HTTPRouteRetry */
static const struct tr_schema retry = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(
        TR_OPT("attempts", TR_SCHEMA(.type = TR_S_INT, .flags = TR_S_MINIMUM, .minimum = 1)),
        TR_OPT("backoff", TR_SCHEMA(.type = TR_S_STR, .pattern = TR_PAT_DURATION)),
        TR_OPT("codes", TR_SCHEMA(.type = TR_S_ARR,
                                  .items = TR_SCHEMA(.type = TR_S_INT, .flags = TR_S_MINIMUM | TR_S_MAXIMUM,
                                                     .minimum = 400, .maximum = 599),
                                  .list_type = TR_LIST_SET))),
};

/* !(has(self.request) && has(self.backendRequest) && duration(self.request) != duration('0s') &&
 * duration(self.backendRequest) > duration(self.request)) */
static bool cel_timeouts(const struct tr_node *self, const struct tr_node *old)
{
    const char *request = tr_node_gets(self, "request");
    const char *backend = tr_node_gets(self, "backendRequest");
    if (!request || !backend)
        return true;
    uint64_t r = 0, be = 0;
    if (!tr_duration_ms(request, &r) || !tr_duration_ms(backend, &be))
        return true; /* the pattern reports it */
    return !(r != 0 && be > r);
}

/* HTTPRouteTimeouts */
static const struct tr_schema timeouts = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_OPT("backendRequest", TR_SCHEMA(.type = TR_S_STR, .pattern = TR_PAT_DURATION)),
                        TR_OPT("request", TR_SCHEMA(.type = TR_S_STR, .pattern = TR_PAT_DURATION))),
    .cel = TR_CELS({cel_timeouts,
                    .rule = "!(has(self.request) && has(self.backendRequest) && duration(self.request) != "
                            "duration('0s') && duration(self.backendRequest) > duration(self.request))",
                    .message = "backendRequest timeout cannot be longer than request timeout"}),
};

/* --- HTTPRouteRule --- */

/* (has(self.backendRefs) && size(self.backendRefs) > 0) ? (!has(self.filters) ||
 * self.filters.all(f, !has(f.requestRedirect))): true */
static bool cel_rule_redirect_without_backends(const struct tr_node *self, const struct tr_node *old)
{
    if (tr_node_len(tr_node_get(self, "backendRefs")) == 0)
        return true;
    const struct tr_node *fs = tr_node_get(self, "filters");
    for (size_t i = 0; i < tr_node_len(fs); i++)
        if (tr_cel_has(tr_node_at(fs, i), "requestRedirect"))
            return false;
    return true;
}

/* has(f.<member>) && has(f.<member>.path) && f.<member>.path.type == 'ReplacePrefixMatch' &&
 * has(f.<member>.path.replacePrefixMatch) */
static bool replaces_prefix(const struct tr_node *f, const char *member)
{
    const struct tr_node *path = tr_node_get(tr_node_get(f, member), "path");
    return path && tr_cel_str_is(path, "type", "ReplacePrefixMatch") && tr_cel_has(path, "replacePrefixMatch");
}

/* has(list) && list.exists_one(f, replaces_prefix(f, member)) */
static bool one_filter_replaces_prefix(const struct tr_node *list, const char *member)
{
    size_t n = 0;
    for (size_t i = 0; i < tr_node_len(list); i++)
        n += replaces_prefix(tr_node_at(list, i), member);
    return n == 1;
}

/* has(self.backendRefs) && self.backendRefs.exists_one(b, (has(b.filters) &&
 * b.filters.exists_one(f, replaces_prefix(f, member)))) */
static bool one_backend_replaces_prefix(const struct tr_node *rule, const char *member)
{
    const struct tr_node *refs = tr_node_get(rule, "backendRefs");
    size_t n = 0;
    for (size_t i = 0; i < tr_node_len(refs); i++)
        n += one_filter_replaces_prefix(tr_node_get(tr_node_at(refs, i), "filters"), member);
    return n == 1;
}

/* (size(self.matches) != 1 || !has(self.matches[0].path) || self.matches[0].path.type !=
 * 'PathPrefix') ? false : true */
static bool one_prefix_match(const struct tr_node *rule)
{
    const struct tr_node *matches = tr_node_get(rule, "matches");
    if (tr_node_len(matches) != 1)
        return false;
    const struct tr_node *path = tr_node_get(tr_node_at(matches, 0), "path");
    return path && tr_cel_str_is(path, "type", "PathPrefix");
}

/* (has(self.filters) && self.filters.exists_one(f, <requestRedirect replaces the prefix>)) ?
 * <one PathPrefix match> : true */
static bool cel_rule_redirect_prefix(const struct tr_node *self, const struct tr_node *old)
{
    return !one_filter_replaces_prefix(tr_node_get(self, "filters"), "requestRedirect") || one_prefix_match(self);
}

/* (has(self.filters) && self.filters.exists_one(f, <urlRewrite replaces the prefix>)) ?
 * <one PathPrefix match> : true */
static bool cel_rule_rewrite_prefix(const struct tr_node *self, const struct tr_node *old)
{
    return !one_filter_replaces_prefix(tr_node_get(self, "filters"), "urlRewrite") || one_prefix_match(self);
}

/* (has(self.backendRefs) && self.backendRefs.exists_one(b, (has(b.filters) &&
 * b.filters.exists_one(f, <requestRedirect replaces the prefix>)))) ? <one PathPrefix match> : true */
static bool cel_rule_backend_redirect_prefix(const struct tr_node *self, const struct tr_node *old)
{
    return !one_backend_replaces_prefix(self, "requestRedirect") || one_prefix_match(self);
}

/* (has(self.backendRefs) && self.backendRefs.exists_one(b, (has(b.filters) &&
 * b.filters.exists_one(f, <urlRewrite replaces the prefix>)))) ? <one PathPrefix match> : true */
static bool cel_rule_backend_rewrite_prefix(const struct tr_node *self, const struct tr_node *old)
{
    return !one_backend_replaces_prefix(self, "urlRewrite") || one_prefix_match(self);
}

/* HTTPRouteRule */
static const struct tr_schema rule = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(
        TR_OPT("backendRefs", TR_SCHEMA(.type = TR_S_ARR, .items = &backend_ref, .flags = TR_S_MAX_ITEMS,
                                        .max_items = 16, .list_type = TR_LIST_ATOMIC)),
        TR_OPT("filters", &filters),
        TR_OPT("matches", TR_SCHEMA(.type = TR_S_ARR, .items = &match, .flags = TR_S_MAX_ITEMS, .max_items = 64,
                                    .list_type = TR_LIST_ATOMIC,
                                    .def = "[{\"path\":{\"type\":\"PathPrefix\",\"value\":\"/\"}}]")),
        TR_OPT("name", &tr_sch_section_name), TR_OPT("retry", &retry),
        TR_OPT("sessionPersistence", &tr_sch_session_persistence), TR_OPT("timeouts", &timeouts)),
    .cel = TR_CELS(
        {cel_rule_redirect_without_backends,
         .rule = "(has(self.backendRefs) && size(self.backendRefs) > 0) ? (!has(self.filters) || "
                 "self.filters.all(f, !has(f.requestRedirect))): true",
         .message = "RequestRedirect filter must not be used together with backendRefs"},
        {cel_rule_redirect_prefix,
         .rule = "(has(self.filters) && self.filters.exists_one(f, has(f.requestRedirect) && "
                 "has(f.requestRedirect.path) && f.requestRedirect.path.type == 'ReplacePrefixMatch' && "
                 "has(f.requestRedirect.path.replacePrefixMatch))) ? ((size(self.matches) != 1 || "
                 "!has(self.matches[0].path) || self.matches[0].path.type != 'PathPrefix') ? false : true) : true",
         .message = "When using RequestRedirect filter with path.replacePrefixMatch, exactly one PathPrefix match "
                    "must be specified"},
        {cel_rule_rewrite_prefix,
         .rule = "(has(self.filters) && self.filters.exists_one(f, has(f.urlRewrite) && has(f.urlRewrite.path) && "
                 "f.urlRewrite.path.type == 'ReplacePrefixMatch' && has(f.urlRewrite.path.replacePrefixMatch))) ? "
                 "((size(self.matches) != 1 || !has(self.matches[0].path) || self.matches[0].path.type != "
                 "'PathPrefix') ? false : true) : true",
         .message = "When using URLRewrite filter with path.replacePrefixMatch, exactly one PathPrefix match must be "
                    "specified"},
        {cel_rule_backend_redirect_prefix,
         .rule = "(has(self.backendRefs) && self.backendRefs.exists_one(b, (has(b.filters) && "
                 "b.filters.exists_one(f, has(f.requestRedirect) && has(f.requestRedirect.path) && "
                 "f.requestRedirect.path.type == 'ReplacePrefixMatch' && "
                 "has(f.requestRedirect.path.replacePrefixMatch))) )) ? ((size(self.matches) != 1 || "
                 "!has(self.matches[0].path) || self.matches[0].path.type != 'PathPrefix') ? false : true) : true",
         .message = "Within backendRefs, when using RequestRedirect filter with path.replacePrefixMatch, exactly one "
                    "PathPrefix match must be specified"},
        {cel_rule_backend_rewrite_prefix,
         .rule = "(has(self.backendRefs) && self.backendRefs.exists_one(b, (has(b.filters) && "
                 "b.filters.exists_one(f, has(f.urlRewrite) && has(f.urlRewrite.path) && f.urlRewrite.path.type == "
                 "'ReplacePrefixMatch' && has(f.urlRewrite.path.replacePrefixMatch))) )) ? ((size(self.matches) != "
                 "1 || !has(self.matches[0].path) || self.matches[0].path.type != 'PathPrefix') ? false : true) : "
                 "true",
         .message = "Within backendRefs, When using URLRewrite filter with path.replacePrefixMatch, exactly one "
                    "PathPrefix match must be specified"}),
};

/* (self.size() > 0 ? self[0].matches.size() : 0) + ... + (self.size() > 15 ?
 * self[15].matches.size() : 0) <= 128: the matches of the first 16 rules. */
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

/* []HTTPRouteRule */
static const struct tr_schema rules = {
    .type = TR_S_ARR,
    .items = &rule,
    .flags = TR_S_MIN_ITEMS | TR_S_MAX_ITEMS,
    .min_items = 1,
    .max_items = 16,
    .list_type = TR_LIST_ATOMIC,
    .def = "[{\"matches\":[{\"path\":{\"type\":\"PathPrefix\",\"value\":\"/\"}}]}]",
    .cel = TR_CELS(
        {cel_rules_total_matches,
         .rule = "(self.size() > 0 ? self[0].matches.size() : 0) + (self.size() > 1 ? self[1].matches.size() : 0) "
                 "+ (self.size() > 2 ? self[2].matches.size() : 0) + (self.size() > 3 ? self[3].matches.size() : "
                 "0) + (self.size() > 4 ? self[4].matches.size() : 0) + (self.size() > 5 ? self[5].matches.size() "
                 ": 0) + (self.size() > 6 ? self[6].matches.size() : 0) + (self.size() > 7 ? "
                 "self[7].matches.size() : 0) + (self.size() > 8 ? self[8].matches.size() : 0) + (self.size() > 9 "
                 "? self[9].matches.size() : 0) + (self.size() > 10 ? self[10].matches.size() : 0) + (self.size() "
                 "> 11 ? self[11].matches.size() : 0) + (self.size() > 12 ? self[12].matches.size() : 0) + "
                 "(self.size() > 13 ? self[13].matches.size() : 0) + (self.size() > 14 ? self[14].matches.size() : "
                 "0) + (self.size() > 15 ? self[15].matches.size() : 0) <= 128",
         .message = "While 16 rules and 64 matches per rule are allowed, the total number of matches across all "
                    "rules in a route must be less than 128"},
        {cel_rules_unique_names,
         .rule = "self.all(l1, !has(l1.name) || self.exists_one(l2, has(l2.name) && l1.name == l2.name))",
         .message = "Rule name must be unique within the route"}),
};

/* --- HTTPRoute --- */

/* HTTPRouteSpec */
static const struct tr_schema spec = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_OPT("hostnames", &tr_sch_route_hostnames), TR_OPT("parentRefs", &tr_sch_route_parent_refs),
                        TR_OPT("rules", &rules), TR_OPT("useDefaultGateways", &tr_sch_use_default_gateways)),
};

/* HTTPRoute */
const struct tr_schema tr_schema_HTTPRoute = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_REQ("apiVersion", &tr_sch_string), TR_REQ("kind", &tr_sch_string),
                        TR_REQ("metadata", &tr_sch_object_meta), TR_REQ("spec", &spec),
                        TR_OPT("status", &tr_sch_any)),
};
