/* TLSRoute, TCPRoute and UDPRoute (gateway.networking.k8s.io/v1), restated from the
 * experimental-channel CRDs (apis/v1 tlsroute_types.go, tcproute_types.go, udproute_types.go). */
#include "api/kind.h"
#include "api/schema_route.h"

#include <arpa/inet.h>

/* --- TLSRouteRule, TCPRouteRule, UDPRouteRule (the same shape) --- */

/* TLSRouteRule, TCPRouteRule, UDPRouteRule */
static const struct tr_schema l4_rule = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_REQ("backendRefs", TR_SCHEMA(.type = TR_S_ARR, .items = &tr_sch_backend_ref,
                                                        .flags = TR_S_MIN_ITEMS | TR_S_MAX_ITEMS, .min_items = 1,
                                                        .max_items = 16, .list_type = TR_LIST_ATOMIC)),
                        TR_OPT("name", &tr_sch_section_name)),
};

/* []TLSRouteRule, []TCPRouteRule, []UDPRouteRule: exactly one */
static const struct tr_schema l4_rules = {
    .type = TR_S_ARR, .items = &l4_rule, .flags = TR_S_MIN_ITEMS | TR_S_MAX_ITEMS, .min_items = 1,
    .max_items = 1, .list_type = TR_LIST_ATOMIC};

/* --- TLSRoute --- */

/* Kubernetes' CEL isIP(s): s parses as an IPv4 address (dotted decimal, no leading zeros) or an
 * IPv6 address without a zone and not IPv4-mapped (Go's netip.ParseAddr). */
static bool cel_is_ip(const char *s, size_t len)
{
    char buf[64];
    if (len == 0 || len >= sizeof(buf) || memchr(s, '\0', len))
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (!strchr(buf, ':')) {
        const char *p = buf;
        for (int field = 0; field < 4; field++) {
            if (field > 0 && *p++ != '.')
                return false;
            if (*p < '0' || *p > '9')
                return false;
            if (p[0] == '0' && p[1] >= '0' && p[1] <= '9')
                return false; /* leading zero */
            int v = 0, digits = 0;
            while (*p >= '0' && *p <= '9' && digits < 4) {
                v = v * 10 + (*p++ - '0');
                digits++;
            }
            if (digits > 3 || v > 255)
                return false;
        }
        return *p == '\0';
    }
    unsigned char a[16];
    if (inet_pton(AF_INET6, buf, a) != 1)
        return false;
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return memcmp(a, mapped, sizeof(mapped)) != 0;
}

/* What the hostname rules match the name (or what follows "*.") against. */
static const char rfc1123[] = "^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)$";

/* self.all(h, !isIP(h)) */
static bool cel_hostnames_no_ip(const struct tr_node *self, const struct tr_node *old)
{
    for (size_t i = 0; i < tr_node_len(self); i++) {
        const struct tr_node *h = tr_node_at(self, i);
        if (h && h->type == TR_N_STR && cel_is_ip(h->u.s, h->n))
            return false;
    }
    return true;
}

/* self.all(h, !h.contains('*') ? h.matches('<rfc1123>') : true) */
static bool cel_hostnames_rfc1123(const struct tr_node *self, const struct tr_node *old)
{
    for (size_t i = 0; i < tr_node_len(self); i++) {
        const struct tr_node *h = tr_node_at(self, i);
        if (!h || h->type != TR_N_STR || memchr(h->u.s, '*', h->n))
            continue;
        if (!tr_schema_pattern_match(rfc1123, h->u.s, h->n))
            return false;
    }
    return true;
}

/* self.all(h, h.contains('*') ? (h.startsWith('*.') && h.substring(2).matches('<rfc1123>')) :
 * true) */
static bool cel_hostnames_wildcard(const struct tr_node *self, const struct tr_node *old)
{
    for (size_t i = 0; i < tr_node_len(self); i++) {
        const struct tr_node *h = tr_node_at(self, i);
        if (!h || h->type != TR_N_STR || !memchr(h->u.s, '*', h->n))
            continue;
        if (h->n < 2 || h->u.s[0] != '*' || h->u.s[1] != '.')
            return false;
        if (!tr_schema_pattern_match(rfc1123, h->u.s + 2, h->n - 2))
            return false;
    }
    return true;
}

/* []Hostname (TLSRouteSpec.Hostnames) */
static const struct tr_schema tls_hostnames = {
    .type = TR_S_ARR,
    .items = &tr_sch_hostname,
    .flags = TR_S_MIN_ITEMS | TR_S_MAX_ITEMS,
    .min_items = 1,
    .max_items = 1024,
    .list_type = TR_LIST_ATOMIC,
    .cel = TR_CELS(
        {cel_hostnames_no_ip, .rule = "self.all(h, !isIP(h))", .message = "Hostnames cannot contain an IP"},
        {cel_hostnames_rfc1123,
         .rule = "self.all(h, !h.contains('*') ? "
                 "h.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)$') : true)",
         .message = "Hostnames must be valid based on RFC-1123"},
        {cel_hostnames_wildcard,
         .rule = "self.all(h, h.contains('*') ? (h.startsWith('*.') && "
                 "h.substring(2).matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)$')) "
                 ": true)",
         .message = "Wildcards on hostnames must be the first label, and the rest of hostname must be valid based "
                    "on RFC-1123"}),
};

/* TLSRouteSpec */
static const struct tr_schema tls_spec = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_REQ("hostnames", &tls_hostnames), TR_OPT("parentRefs", &tr_sch_route_parent_refs),
                        TR_REQ("rules", &l4_rules), TR_OPT("useDefaultGateways", &tr_sch_use_default_gateways)),
};

/* TLSRoute */
const struct tr_schema tr_schema_TLSRoute = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_REQ("apiVersion", &tr_sch_string), TR_REQ("kind", &tr_sch_string),
                        TR_REQ("metadata", &tr_sch_object_meta), TR_REQ("spec", &tls_spec),
                        TR_OPT("status", &tr_sch_any)),
};

/* --- TCPRoute, UDPRoute --- */

/* TCPRouteSpec, UDPRouteSpec (the same shape) */
static const struct tr_schema l4_spec = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_OPT("parentRefs", &tr_sch_route_parent_refs), TR_REQ("rules", &l4_rules),
                        TR_OPT("useDefaultGateways", &tr_sch_use_default_gateways)),
};

/* TCPRoute */
const struct tr_schema tr_schema_TCPRoute = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_REQ("apiVersion", &tr_sch_string), TR_REQ("kind", &tr_sch_string),
                        TR_REQ("metadata", &tr_sch_object_meta), TR_REQ("spec", &l4_spec),
                        TR_OPT("status", &tr_sch_any)),
};

/* UDPRoute */
const struct tr_schema tr_schema_UDPRoute = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_REQ("apiVersion", &tr_sch_string), TR_REQ("kind", &tr_sch_string),
                        TR_REQ("metadata", &tr_sch_object_meta), TR_REQ("spec", &l4_spec),
                        TR_OPT("status", &tr_sch_any)),
};
