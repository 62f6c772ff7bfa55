/* Gateway and ListenerSet (gateway.networking.k8s.io/v1), restated from the experimental-channel
 * CRDs of Gateway API v1.6.1. The listener types are shared by both kinds. */
#include "api/kind.h"
#include "api/schema_common.h"

#include <arpa/inet.h>
#include <string.h>

/* --- CEL helpers --- */



/* size(x) > 0 for a list or map field; a missing field makes CEL fail with "no such key",
 * which fails the rule. */
static bool nonempty(const struct tr_node *m, const char *f)
{
    return tr_node_len(tr_node_get(m, f)) > 0;
}

static bool str_in(const struct tr_node *n, const char *const *set)
{
    for (; *set; set++)
        if (tr_cel_node_is(n, *set))
            return true;
    return false;
}

/* --- shared pieces --- */

/* Group with default "" (SecretObjectReference.Group) */
static const struct tr_schema group_default_core = {
    .type = TR_S_STR, .flags = TR_S_MAX_LEN, .max_len = 253, .pattern = TR_PAT_GROUP, .def = "\"\""};
/* Group with default "gateway.networking.k8s.io" (RouteGroupKind.Group, ParentGatewayReference.Group) */
static const struct tr_schema group_default_gw = {
    .type = TR_S_STR, .flags = TR_S_MAX_LEN, .max_len = 253, .pattern = TR_PAT_GROUP,
    .def = "\"gateway.networking.k8s.io\""};

/* map[string]AnnotationValue with at most 16 entries (ListenerTLSConfig.Options) */
static const struct tr_schema tls_options = {
    .type = TR_S_MAP,
    .items = TR_SCHEMA(.type = TR_S_STR, .flags = TR_S_MIN_LEN | TR_S_MAX_LEN, .min_len = 0, .max_len = 4096),
    .flags = TR_S_MAX_PROPS,
    .max_props = 16,
};

/* SecretObjectReference */
static const struct tr_schema secret_object_reference = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_OPT("group", &group_default_core),
                        TR_OPT("kind", TR_SCHEMA(.type = TR_S_STR, .flags = TR_S_MIN_LEN | TR_S_MAX_LEN,
                                                 .min_len = 1, .max_len = 63, .pattern = TR_PAT_KIND,
                                                 .def = "\"Secret\"")),
                        TR_REQ("name", &tr_sch_object_name), TR_OPT("namespace", &tr_sch_namespace)),
};

/* ObjectReference (group, kind and name required) */
static const struct tr_schema object_reference = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_REQ("group", &tr_sch_group), TR_REQ("kind", &tr_sch_kind),
                        TR_REQ("name", &tr_sch_object_name), TR_OPT("namespace", &tr_sch_namespace)),
};

/* metav1.LabelSelector */
static const struct tr_schema label_selector = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(
        TR_OPT("matchExpressions",
               TR_SCHEMA(.type = TR_S_ARR, .list_type = TR_LIST_ATOMIC,
                         .items = TR_SCHEMA(.type = TR_S_OBJ,
                                            .fields = TR_FIELDS(TR_REQ("key", &tr_sch_string),
                                                                TR_REQ("operator", &tr_sch_string),
                                                                TR_OPT("values", TR_SCHEMA(.type = TR_S_ARR, .items = &tr_sch_string,
                                                                                           .list_type = TR_LIST_ATOMIC)))))),
        TR_OPT("matchLabels", &tr_sch_string_map)),
};

/* --- Listener (shared by Gateway and ListenerSet) --- */

/* RouteGroupKind */
static const struct tr_schema route_group_kind = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_OPT("group", &group_default_gw), TR_REQ("kind", &tr_sch_kind)),
};

/* RouteNamespaces */
static const struct tr_schema route_namespaces = {
    .type = TR_S_OBJ,
    .def = "{\"from\":\"Same\"}",
    .fields = TR_FIELDS(TR_OPT("from", TR_SCHEMA(.type = TR_S_STR, .enums = TR_ENUM("All", "Selector", "Same"),
                                                 .def = "\"Same\"")),
                        TR_OPT("selector", &label_selector)),
};

/* AllowedRoutes */
static const struct tr_schema allowed_routes = {
    .type = TR_S_OBJ,
    .def = "{\"namespaces\":{\"from\":\"Same\"}}",
    .fields = TR_FIELDS(TR_OPT("kinds", TR_SCHEMA(.type = TR_S_ARR, .items = &route_group_kind,
                                                  .flags = TR_S_MAX_ITEMS, .max_items = 8,
                                                  .list_type = TR_LIST_ATOMIC)),
                        TR_OPT("namespaces", &route_namespaces)),
};

/* ListenerTLSConfig */
static bool cel_listener_tls_terminate(const struct tr_node *self, const struct tr_node *old)
{
    /* self.mode == 'Terminate' ? size(self.certificateRefs) > 0 || size(self.options) > 0 : true */
    if (!tr_cel_node_is(tr_node_get(self, "mode"), "Terminate"))
        return true;
    return nonempty(self, "certificateRefs") || nonempty(self, "options");
}

static const struct tr_schema listener_tls_config = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_OPT("certificateRefs", TR_SCHEMA(.type = TR_S_ARR, .items = &secret_object_reference,
                                                            .flags = TR_S_MAX_ITEMS, .max_items = 64,
                                                            .list_type = TR_LIST_ATOMIC)),
                        TR_OPT("mode", TR_SCHEMA(.type = TR_S_STR, .enums = TR_ENUM("Terminate", "Passthrough"),
                                                 .def = "\"Terminate\"")),
                        TR_OPT("options", &tls_options)),
    .cel = TR_CELS({cel_listener_tls_terminate,
                    "self.mode == 'Terminate' ? size(self.certificateRefs) > 0 || size(self.options) > 0 : true",
                    "certificateRefs or options must be specified when mode is Terminate", NULL, NULL}),
};

/* ProtocolType */
static const struct tr_schema protocol_type = {
    .type = TR_S_STR,
    .flags = TR_S_MIN_LEN | TR_S_MAX_LEN,
    .min_len = 1,
    .max_len = 255,
    .pattern = "^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$|[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\\/[A-Za-z0-9]+$",
};

/* Listener (and ListenerEntry, its ListenerSet twin: same fields) */
static const struct tr_schema listener = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_OPT("allowedRoutes", &allowed_routes), TR_OPT("hostname", &tr_sch_hostname),
                        TR_REQ("name", &tr_sch_section_name), TR_REQ("port", &tr_sch_port),
                        TR_REQ("protocol", &protocol_type), TR_OPT("tls", &listener_tls_config)),
};

/* The rules on a list of listeners. The first four are the same for Gateway and ListenerSet. */
static bool cel_listeners_no_tls(const struct tr_node *self, const struct tr_node *old)
{
    /* self.all(l, l.protocol in ['HTTP', 'TCP', 'UDP'] ? !has(l.tls) : true) */
    static const char *const plain[] = {"HTTP", "TCP", "UDP", NULL};
    for (size_t i = 0; i < tr_node_len(self); i++) {
        const struct tr_node *l = tr_node_at(self, i);
        if (str_in(tr_node_get(l, "protocol"), plain) && tr_cel_has(l, "tls"))
            return false;
    }
    return true;
}

static bool cel_listeners_https_terminate(const struct tr_node *self, const struct tr_node *old)
{
    /* self.all(l, (l.protocol == 'HTTPS' && has(l.tls)) ? (l.tls.mode == '' || l.tls.mode == 'Terminate') : true) */
    for (size_t i = 0; i < tr_node_len(self); i++) {
        const struct tr_node *l = tr_node_at(self, i);
        const struct tr_node *tls = tr_node_get(l, "tls");
        if (!tr_cel_node_is(tr_node_get(l, "protocol"), "HTTPS") || !tls)
            continue;
        const struct tr_node *mode = tr_node_get(tls, "mode"); /* missing: no such key, the rule fails */
        if (!tr_cel_node_is(mode, "") && !tr_cel_node_is(mode, "Terminate"))
            return false;
    }
    return true;
}

static bool cel_listeners_tls_mode(const struct tr_node *self, const struct tr_node *old)
{
    /* self.all(l, (l.protocol == 'TLS' ? has(l.tls) && has(l.tls.mode) && l.tls.mode != '' : true)) */
    for (size_t i = 0; i < tr_node_len(self); i++) {
        const struct tr_node *l = tr_node_at(self, i);
        if (!tr_cel_node_is(tr_node_get(l, "protocol"), "TLS"))
            continue;
        const struct tr_node *mode = tr_node_path(l, "tls.mode");
        if (!mode || tr_cel_node_is(mode, ""))
            return false;
    }
    return true;
}

static bool cel_listeners_l4_hostname(const struct tr_node *self, const struct tr_node *old)
{
    /* self.all(l, l.protocol in ['TCP', 'UDP']  ? (!has(l.hostname) || l.hostname == '') : true) */
    static const char *const l4[] = {"TCP", "UDP", NULL};
    for (size_t i = 0; i < tr_node_len(self); i++) {
        const struct tr_node *l = tr_node_at(self, i);
        if (str_in(tr_node_get(l, "protocol"), l4) && !tr_cel_str_unset(l, "hostname"))
            return false;
    }
    return true;
}

/* self.all(x1, self.exists_one(x2, x1.f == x2.f)) for one field f */
static bool all_unique_by(const struct tr_node *self, const char *f)
{
    for (size_t i = 0; i < tr_node_len(self); i++) {
        const struct tr_node *v = tr_node_get(tr_node_at(self, i), f);
        size_t same = 0;
        for (size_t j = 0; j < tr_node_len(self); j++)
            same += tr_node_equal(v, tr_node_get(tr_node_at(self, j), f));
        if (same != 1)
            return false;
    }
    return true;
}

static bool cel_listeners_unique_name(const struct tr_node *self, const struct tr_node *old)
{
    /* self.all(l1, self.exists_one(l2, l1.name == l2.name)) */
    return all_unique_by(self, "name");
}

/* l1.port == l2.port && l1.protocol == l2.protocol && (has(l1.hostname) && has(l2.hostname) ?
 * l1.hostname == l2.hostname : !has(l1.hostname) && !has(l2.hostname)) */
static bool same_port_protocol_hostname(const struct tr_node *l1, const struct tr_node *l2)
{
    if (!tr_node_equal(tr_node_get(l1, "port"), tr_node_get(l2, "port")) ||
        !tr_node_equal(tr_node_get(l1, "protocol"), tr_node_get(l2, "protocol")))
        return false;
    const struct tr_node *h1 = tr_node_get(l1, "hostname"), *h2 = tr_node_get(l2, "hostname");
    if (h1 && h2)
        return tr_node_equal(h1, h2);
    return !h1 && !h2;
}

static bool cel_gateway_listeners_unique_combination(const struct tr_node *self, const struct tr_node *old)
{
    /* self.all(l1, self.exists_one(l2, <same port, protocol and hostname>)) */
    for (size_t i = 0; i < tr_node_len(self); i++) {
        size_t same = 0;
        for (size_t j = 0; j < tr_node_len(self); j++)
            same += same_port_protocol_hostname(tr_node_at(self, i), tr_node_at(self, j));
        if (same != 1)
            return false;
    }
    return true;
}

static bool cel_listenerset_listeners_unique_combination(const struct tr_node *self, const struct tr_node *old)
{
    /* self.all(l1, !has(l1.port) || self.exists_one(l2, has(l2.port) && <same port, protocol and hostname>)) */
    for (size_t i = 0; i < tr_node_len(self); i++) {
        const struct tr_node *l1 = tr_node_at(self, i);
        if (!tr_cel_has(l1, "port"))
            continue;
        size_t same = 0;
        for (size_t j = 0; j < tr_node_len(self); j++) {
            const struct tr_node *l2 = tr_node_at(self, j);
            same += tr_cel_has(l2, "port") && same_port_protocol_hostname(l1, l2);
        }
        if (same != 1)
            return false;
    }
    return true;
}

#define RULE_NO_TLS                                                                                \
    {cel_listeners_no_tls, "self.all(l, l.protocol in ['HTTP', 'TCP', 'UDP'] ? !has(l.tls) : true)",  \
     "tls must not be specified for protocols ['HTTP', 'TCP', 'UDP']", NULL, NULL}
#define RULE_HTTPS_TERMINATE                                                                       \
    {cel_listeners_https_terminate,                                                                \
     "self.all(l, (l.protocol == 'HTTPS' && has(l.tls)) ? (l.tls.mode == '' || l.tls.mode == 'Terminate') : true)", \
     "tls mode must be Terminate for protocol HTTPS", NULL, NULL}
#define RULE_TLS_MODE                                                                              \
    {cel_listeners_tls_mode,                                                                       \
     "self.all(l, (l.protocol == 'TLS' ? has(l.tls) && has(l.tls.mode) && l.tls.mode != '' : true))", \
     "tls mode must be set for protocol TLS", NULL, NULL}
#define RULE_L4_HOSTNAME                                                                           \
    {cel_listeners_l4_hostname,                                                                    \
     "self.all(l, l.protocol in ['TCP', 'UDP']  ? (!has(l.hostname) || l.hostname == '') : true)",  \
     "hostname must not be specified for protocols ['TCP', 'UDP']", NULL, NULL}
#define RULE_UNIQUE_NAME                                                                           \
    {cel_listeners_unique_name, "self.all(l1, self.exists_one(l2, l1.name == l2.name))",             \
     "Listener name must be unique within the Gateway", NULL, NULL}

/* []Listener of a Gateway */
static const struct tr_schema gateway_listeners = {
    .type = TR_S_ARR,
    .items = &listener,
    .flags = TR_S_MIN_ITEMS | TR_S_MAX_ITEMS,
    .min_items = 1,
    .max_items = 64,
    .list_type = TR_LIST_MAP,
    .list_keys = TR_KEYS("name"),
    .cel = TR_CELS(RULE_NO_TLS, RULE_HTTPS_TERMINATE, RULE_TLS_MODE, RULE_L4_HOSTNAME, RULE_UNIQUE_NAME,
                   {cel_gateway_listeners_unique_combination,
                    "self.all(l1, self.exists_one(l2, l1.port == l2.port && l1.protocol == l2.protocol && "
                    "(has(l1.hostname) && has(l2.hostname) ? l1.hostname == l2.hostname : !has(l1.hostname) "
                    "&& !has(l2.hostname))))",
                    "Combination of port, protocol and hostname must be unique for each listener", NULL, NULL}),
};

/* []ListenerEntry of a ListenerSet */
static const struct tr_schema listenerset_listeners = {
    .type = TR_S_ARR,
    .items = &listener,
    .flags = TR_S_MIN_ITEMS | TR_S_MAX_ITEMS,
    .min_items = 1,
    .max_items = 64,
    .list_type = TR_LIST_MAP,
    .list_keys = TR_KEYS("name"),
    .cel = TR_CELS(RULE_NO_TLS, RULE_HTTPS_TERMINATE, RULE_TLS_MODE, RULE_L4_HOSTNAME, RULE_UNIQUE_NAME,
                   {cel_listenerset_listeners_unique_combination,
                    "self.all(l1, !has(l1.port) || self.exists_one(l2, has(l2.port) && l1.port == l2.port && "
                    "l1.protocol == l2.protocol && (has(l1.hostname) && has(l2.hostname) ? l1.hostname == "
                    "l2.hostname : !has(l1.hostname) && !has(l2.hostname))))",
                    "Combination of port, protocol and hostname must be unique for each listener", NULL, NULL}),
};

/* --- Gateway --- */

static const char pat_hostname[] = TR_PAT_HOSTNAME;

/* GatewaySpecAddress */
static bool cel_address_hostname(const struct tr_node *self, const struct tr_node *old)
{
    /* self.type == 'Hostname' ? (!has(self.value) || self.value.matches(r"""<hostname>""")): true */
    if (!tr_cel_node_is(tr_node_get(self, "type"), "Hostname"))
        return true;
    const struct tr_node *v = tr_node_get(self, "value");
    return !v || tr_schema_pattern_match(pat_hostname, v->u.s, v->n);
}

/* An IP address as Kubernetes' "ipv4" or "ipv6" format takes it (govalidator: Go's
 * net.ParseIP, which like inet_pton rejects IPv4 octets with leading zeros, and zones). */
static bool is_ip(const char *s, size_t len)
{
    char buf[64];
    unsigned char a[16];
    if (len == 0 || len >= sizeof(buf) || memchr(s, '\0', len))
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    return inet_pton(strchr(buf, ':') ? AF_INET6 : AF_INET, buf, a) == 1;
}

/* oneOf: [{type: enum [IPAddress], value: anyOf [format ipv4, format ipv6]}, {type: not enum
 * [IPAddress]}]. The branches exclude each other on type (defaulted, so always set): the only
 * failure is an IPAddress whose value is not an address. */
static const char *check_address(const struct tr_node *self)
{
    const struct tr_node *v = tr_node_get(self, "value");
    if (tr_cel_node_is(tr_node_get(self, "type"), "IPAddress") && v && !is_ip(v->u.s, v->n))
        return "Invalid value: \"object\": must validate one and only one schema (oneOf). Found none valid "
               "(the value of an IPAddress must be an IPv4 or IPv6 address)";
    return NULL;
}

static const struct tr_schema gateway_spec_address = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_OPT("type", TR_SCHEMA(.type = TR_S_STR, .flags = TR_S_MIN_LEN | TR_S_MAX_LEN,
                                                 .min_len = 1, .max_len = 253,
                                                 .pattern = "^Hostname|IPAddress|NamedAddress|[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\\/[A-Za-z0-9\\/\\-._~%!$&'()*+,;=:]+$",
                                                 .def = "\"IPAddress\"")),
                        TR_OPT("value", TR_SCHEMA(.type = TR_S_STR, .flags = TR_S_MAX_LEN, .max_len = 253))),
    .cel = TR_CELS({cel_address_hostname,
                    "self.type == 'Hostname' ? (!has(self.value) || self.value.matches(r\"\"\"^(\\*\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$\"\"\")): true",
                    "Hostname value must be empty or contain only valid characters (matching ^(\\*\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$)",
                    NULL, NULL}),
    .check = check_address,
    .check_desc = "oneOf: an IPAddress value is an ipv4 or ipv6 address (anyOf format)",
};

/* self.all(a1, a1.type == T && has(a1.value) ? self.exists_one(a2, a2.type == a1.type &&
 * has(a2.value) && a2.value == a1.value) : true ) */
static bool addresses_unique(const struct tr_node *self, const char *type)
{
    for (size_t i = 0; i < tr_node_len(self); i++) {
        const struct tr_node *a1 = tr_node_at(self, i);
        if (!tr_cel_node_is(tr_node_get(a1, "type"), type) || !tr_cel_has(a1, "value"))
            continue;
        size_t same = 0;
        for (size_t j = 0; j < tr_node_len(self); j++) {
            const struct tr_node *a2 = tr_node_at(self, j);
            same += tr_node_equal(tr_node_get(a2, "type"), tr_node_get(a1, "type")) && tr_cel_has(a2, "value") &&
                    tr_node_equal(tr_node_get(a2, "value"), tr_node_get(a1, "value"));
        }
        if (same != 1)
            return false;
    }
    return true;
}

static bool cel_addresses_unique_ip(const struct tr_node *self, const struct tr_node *old)
{
    return addresses_unique(self, "IPAddress");
}

static bool cel_addresses_unique_hostname(const struct tr_node *self, const struct tr_node *old)
{
    return addresses_unique(self, "Hostname");
}

static const struct tr_schema gateway_addresses = {
    .type = TR_S_ARR,
    .items = &gateway_spec_address,
    .flags = TR_S_MAX_ITEMS,
    .max_items = 16,
    .list_type = TR_LIST_ATOMIC,
    .cel = TR_CELS({cel_addresses_unique_ip,
                    "self.all(a1, a1.type == 'IPAddress' && has(a1.value) ? self.exists_one(a2, a2.type == a1.type && has(a2.value) && a2.value == a1.value) : true )",
                    "IPAddress values must be unique", NULL, NULL},
                   {cel_addresses_unique_hostname,
                    "self.all(a1, a1.type == 'Hostname'  && has(a1.value) ? self.exists_one(a2, a2.type == a1.type && has(a2.value) && a2.value == a1.value) : true )",
                    "Hostname values must be unique", NULL, NULL}),
};

/* AllowedListeners */
static const struct tr_schema allowed_listeners = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_OPT(
        "namespaces",
        TR_SCHEMA(.type = TR_S_OBJ, .def = "{\"from\":\"None\"}",
                  .fields = TR_FIELDS(TR_OPT("from", TR_SCHEMA(.type = TR_S_STR,
                                                               .enums = TR_ENUM("All", "Selector", "Same", "None"),
                                                               .def = "\"None\"")),
                                      TR_OPT("selector", &label_selector))))),
};

/* GatewayInfrastructure: the key rules of labels and annotations. */
static const char pat_label_key[] =
    "^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]$";

static bool cel_keys_match(const struct tr_node *self, const struct tr_node *old)
{
    /* self.all(key, key.matches(r"""<label key>""")) */
    for (uint32_t i = 0; i < self->n; i++)
        if (!tr_schema_pattern_match(pat_label_key, self->u.kv[i].key, strlen(self->u.kv[i].key)))
            return false;
    return true;
}

static bool cel_keys_prefix(const struct tr_node *self, const struct tr_node *old)
{
    /* self.all(key, key.split("/")[0].size() < 253): size() counts code points */
    for (uint32_t i = 0; i < self->n; i++) {
        const char *k = self->u.kv[i].key;
        const char *slash = strchr(k, '/');
        if (tr_utf8_len(k, slash ? (size_t)(slash - k) : strlen(k)) >= 253)
            return false;
    }
    return true;
}

#define RULE_KEYS_MATCH(what)                                                                      \
    {cel_keys_match,                                                                               \
     "self.all(key, key.matches(r\"\"\"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]$\"\"\"))", \
     what " keys must be in the form of an optional DNS subdomain prefix followed by a required name segment of up to 63 characters.", \
     NULL, NULL}
#define RULE_KEYS_PREFIX(what)                                                                     \
    {cel_keys_prefix, "self.all(key, key.split(\"/\")[0].size() < 253)",                            \
     "If specified, the " what " key's prefix must be a DNS subdomain not longer than 253 characters in total.", \
     NULL, NULL}

/* LocalParametersReference */
static const struct tr_schema local_parameters_reference = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_REQ("group", &tr_sch_group), TR_REQ("kind", &tr_sch_kind),
                        TR_REQ("name", &tr_sch_object_name)),
};

/* GatewayInfrastructure */
static const struct tr_schema gateway_infrastructure = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(
        TR_OPT("annotations",
               TR_SCHEMA(.type = TR_S_MAP, .flags = TR_S_MAX_PROPS, .max_props = 16,
                         .items = TR_SCHEMA(.type = TR_S_STR, .flags = TR_S_MIN_LEN | TR_S_MAX_LEN, .min_len = 0,
                                            .max_len = 4096),
                         .cel = TR_CELS(RULE_KEYS_MATCH("Annotation"), RULE_KEYS_PREFIX("annotation")))),
        TR_OPT("labels",
               TR_SCHEMA(.type = TR_S_MAP, .flags = TR_S_MAX_PROPS, .max_props = 8,
                         .items = TR_SCHEMA(.type = TR_S_STR, .flags = TR_S_MIN_LEN | TR_S_MAX_LEN, .min_len = 0,
                                            .max_len = 63, .pattern = "^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"),
                         .cel = TR_CELS(RULE_KEYS_MATCH("Label"), RULE_KEYS_PREFIX("label")))),
        TR_OPT("parametersRef", &local_parameters_reference)),
};

/* FrontendTLSValidation */
static const struct tr_schema frontend_tls_validation = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_REQ("caCertificateRefs", TR_SCHEMA(.type = TR_S_ARR, .items = &object_reference,
                                                              .flags = TR_S_MIN_ITEMS | TR_S_MAX_ITEMS,
                                                              .min_items = 1, .max_items = 16,
                                                              .list_type = TR_LIST_ATOMIC)),
                        TR_OPT("mode", TR_SCHEMA(.type = TR_S_STR,
                                                 .enums = TR_ENUM("AllowValidOnly", "AllowInsecureFallback"),
                                                 .def = "\"AllowValidOnly\""))),
};

/* TLSConfig */
static const struct tr_schema tls_config = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_OPT("validation", &frontend_tls_validation)),
};

/* TLSPortConfig */
static const struct tr_schema tls_port_config = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_REQ("port", &tr_sch_port), TR_REQ("tls", &tls_config)),
};

static bool cel_per_port_unique(const struct tr_node *self, const struct tr_node *old)
{
    /* self.all(t1, self.exists_one(t2, t1.port == t2.port)) */
    return all_unique_by(self, "port");
}

/* FrontendTLSConfig */
static const struct tr_schema frontend_tls_config = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_REQ("default", &tls_config),
                        TR_OPT("perPort", TR_SCHEMA(.type = TR_S_ARR, .items = &tls_port_config,
                                                    .flags = TR_S_MAX_ITEMS, .max_items = 64,
                                                    .list_type = TR_LIST_MAP, .list_keys = TR_KEYS("port"),
                                                    .cel = TR_CELS({cel_per_port_unique,
                                                                    "self.all(t1, self.exists_one(t2, t1.port == t2.port))",
                                                                    "Port for TLS configuration must be unique within the Gateway",
                                                                    NULL, NULL})))),
};

/* GatewayBackendTLS */
static const struct tr_schema gateway_backend_tls = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_OPT("clientCertificateRef", &secret_object_reference)),
};

/* GatewayTLSConfig */
static const struct tr_schema gateway_tls_config = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_OPT("backend", &gateway_backend_tls), TR_OPT("frontend", &frontend_tls_config)),
};

/* GatewaySpec */
static const struct tr_schema gateway_spec = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_OPT("addresses", &gateway_addresses), TR_OPT("allowedListeners", &allowed_listeners),
                        TR_OPT("defaultScope", TR_SCHEMA(.type = TR_S_STR, .enums = TR_ENUM("All", "None"))),
                        TR_REQ("gatewayClassName", &tr_sch_object_name),
                        TR_OPT("infrastructure", &gateway_infrastructure),
                        TR_REQ("listeners", &gateway_listeners), TR_OPT("tls", &gateway_tls_config)),
};

/* Gateway */
const struct tr_schema tr_schema_Gateway = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_REQ("apiVersion", &tr_sch_string), TR_REQ("kind", &tr_sch_string),
                        TR_REQ("metadata", &tr_sch_object_meta), TR_REQ("spec", &gateway_spec),
                        TR_OPT("status", &tr_sch_any)),
};

/* --- ListenerSet --- */

/* ParentGatewayReference */
static const struct tr_schema parent_gateway_reference = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_OPT("group", &group_default_gw),
                        TR_OPT("kind", TR_SCHEMA(.type = TR_S_STR, .flags = TR_S_MIN_LEN | TR_S_MAX_LEN,
                                                 .min_len = 1, .max_len = 63, .pattern = TR_PAT_KIND,
                                                 .def = "\"Gateway\"")),
                        TR_REQ("name", &tr_sch_object_name), TR_OPT("namespace", &tr_sch_namespace)),
};

/* ListenerSetSpec */
static const struct tr_schema listenerset_spec = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_REQ("listeners", &listenerset_listeners), TR_REQ("parentRef", &parent_gateway_reference)),
};

/* ListenerSet */
const struct tr_schema tr_schema_ListenerSet = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_REQ("apiVersion", &tr_sch_string), TR_REQ("kind", &tr_sch_string),
                        TR_REQ("metadata", &tr_sch_object_meta), TR_REQ("spec", &listenerset_spec),
                        TR_OPT("status", &tr_sch_any)),
};
