/* ReferenceGrant and BackendTLSPolicy (gateway.networking.k8s.io/v1) and XBackendTrafficPolicy
 * (gateway.networking.x-k8s.io/v1alpha1), restated from the experimental-channel CRDs of Gateway
 * API v1.6.1. */
#include "api/kind.h"
#include "api/schema_common.h"
#include "base/duration.h"

#include <string.h>

/* --- CEL helpers --- */



/* CEL `a.f == b.f` on required fields (both present once the structure is valid). */
static bool same(const struct tr_node *a, const struct tr_node *b, const char *f)
{
    return tr_node_equal(tr_node_get(a, f), tr_node_get(b, f));
}

/* --- ReferenceGrant --- */

/* ReferenceGrantFrom */
static const struct tr_schema reference_grant_from = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_REQ("group", &tr_sch_group), TR_REQ("kind", &tr_sch_kind),
                        TR_REQ("namespace", &tr_sch_namespace)),
};

/* ReferenceGrantTo */
static const struct tr_schema reference_grant_to = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_REQ("group", &tr_sch_group), TR_REQ("kind", &tr_sch_kind),
                        TR_OPT("name", &tr_sch_object_name)),
};

/* ReferenceGrantSpec */
static const struct tr_schema reference_grant_spec = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_REQ("from", TR_SCHEMA(.type = TR_S_ARR, .items = &reference_grant_from,
                                                 .flags = TR_S_MIN_ITEMS | TR_S_MAX_ITEMS, .min_items = 1,
                                                 .max_items = 16, .list_type = TR_LIST_ATOMIC)),
                        TR_REQ("to", TR_SCHEMA(.type = TR_S_ARR, .items = &reference_grant_to,
                                               .flags = TR_S_MIN_ITEMS | TR_S_MAX_ITEMS, .min_items = 1,
                                               .max_items = 16, .list_type = TR_LIST_ATOMIC))),
};

/* ReferenceGrant (the CRD has no status) */
const struct tr_schema tr_schema_ReferenceGrant = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_REQ("apiVersion", &tr_sch_string), TR_REQ("kind", &tr_sch_string),
                        TR_REQ("metadata", &tr_sch_object_meta), TR_REQ("spec", &reference_grant_spec)),
};

/* --- BackendTLSPolicy --- */

/* LocalPolicyTargetReferenceWithSectionName */
static const struct tr_schema target_ref_with_section = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_REQ("group", &tr_sch_group), TR_REQ("kind", &tr_sch_kind),
                        TR_REQ("name", &tr_sch_object_name), TR_OPT("sectionName", &tr_sch_section_name)),
};

static bool same_target(const struct tr_node *p1, const struct tr_node *p2)
{
    return same(p1, p2, "group") && same(p1, p2, "kind") && same(p1, p2, "name");
}

static bool cel_targets_section_all_or_none(const struct tr_node *self, const struct tr_node *old)
{
    /* self.all(p1, self.all(p2, <same target> ? (<p1 no section>) == (<p2 no section>) : true)) */
    for (size_t i = 0; i < tr_node_len(self); i++) {
        const struct tr_node *p1 = tr_node_at(self, i);
        for (size_t j = 0; j < tr_node_len(self); j++) {
            const struct tr_node *p2 = tr_node_at(self, j);
            if (same_target(p1, p2) && tr_cel_str_unset(p1, "sectionName") != tr_cel_str_unset(p2, "sectionName"))
                return false;
        }
    }
    return true;
}

static bool cel_targets_section_unique(const struct tr_node *self, const struct tr_node *old)
{
    /* self.all(p1, self.exists_one(p2, <same target> && ((<p1 no section> && <p2 no section>) ||
     * (has(p1.sectionName) && has(p2.sectionName) && p1.sectionName == p2.sectionName)))) */
    for (size_t i = 0; i < tr_node_len(self); i++) {
        const struct tr_node *p1 = tr_node_at(self, i);
        size_t n = 0;
        for (size_t j = 0; j < tr_node_len(self); j++) {
            const struct tr_node *p2 = tr_node_at(self, j);
            if (!same_target(p1, p2))
                continue;
            bool both_none = tr_cel_str_unset(p1, "sectionName") && tr_cel_str_unset(p2, "sectionName");
            bool both_same = tr_cel_has(p1, "sectionName") && tr_cel_has(p2, "sectionName") &&
                             same(p1, p2, "sectionName");
            n += both_none || both_same;
        }
        if (n != 1)
            return false;
    }
    return true;
}

/* map[string]AnnotationValue with at most 16 entries (BackendTLSPolicySpec.Options) */
static const struct tr_schema policy_options = {
    .type = TR_S_MAP,
    .items = TR_SCHEMA(.type = TR_S_STR, .flags = TR_S_MIN_LEN | TR_S_MAX_LEN, .min_len = 0, .max_len = 4096),
    .flags = TR_S_MAX_PROPS,
    .max_props = 16,
};

/* LocalObjectReference */
static const struct tr_schema local_object_reference = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_REQ("group", &tr_sch_group), TR_REQ("kind", &tr_sch_kind),
                        TR_REQ("name", &tr_sch_object_name)),
};

/* SubjectAltName */
static bool cel_san_hostname_set(const struct tr_node *self, const struct tr_node *old)
{
    /* !(self.type == "Hostname" && (!has(self.hostname) || self.hostname == "")) */
    return !(tr_cel_node_is(tr_node_get(self, "type"), "Hostname") && tr_cel_str_unset(self, "hostname"));
}

static bool cel_san_hostname_unset(const struct tr_node *self, const struct tr_node *old)
{
    /* !(self.type != "Hostname" && has(self.hostname) && self.hostname != "") */
    return !(!tr_cel_node_is(tr_node_get(self, "type"), "Hostname") && !tr_cel_str_unset(self, "hostname"));
}

static bool cel_san_uri_set(const struct tr_node *self, const struct tr_node *old)
{
    /* !(self.type == "URI" && (!has(self.uri) || self.uri == "")) */
    return !(tr_cel_node_is(tr_node_get(self, "type"), "URI") && tr_cel_str_unset(self, "uri"));
}

static bool cel_san_uri_unset(const struct tr_node *self, const struct tr_node *old)
{
    /* !(self.type != "URI" && has(self.uri) && self.uri != "") */
    return !(!tr_cel_node_is(tr_node_get(self, "type"), "URI") && !tr_cel_str_unset(self, "uri"));
}

static const struct tr_schema subject_alt_name = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_OPT("hostname", &tr_sch_hostname),
                        TR_REQ("type", TR_SCHEMA(.type = TR_S_STR, .enums = TR_ENUM("Hostname", "URI"))),
                        /* AbsoluteURI */
                        TR_OPT("uri", TR_SCHEMA(.type = TR_S_STR, .flags = TR_S_MIN_LEN | TR_S_MAX_LEN, .min_len = 1,
                                                .max_len = 253,
                                                .pattern = "^(([^:/?#]+):)(//([^/?#]*))([^?#]*)(\\?([^#]*))?(#(.*))?"))),
    .cel = TR_CELS({cel_san_hostname_set, "!(self.type == \"Hostname\" && (!has(self.hostname) || self.hostname == \"\"))",
                    "SubjectAltName element must contain Hostname, if Type is set to Hostname", NULL, NULL},
                   {cel_san_hostname_unset, "!(self.type != \"Hostname\" && has(self.hostname) && self.hostname != \"\")",
                    "SubjectAltName element must not contain Hostname, if Type is not set to Hostname", NULL, NULL},
                   {cel_san_uri_set, "!(self.type == \"URI\" && (!has(self.uri) || self.uri == \"\"))",
                    "SubjectAltName element must contain URI, if Type is set to URI", NULL, NULL},
                   {cel_san_uri_unset, "!(self.type != \"URI\" && has(self.uri) && self.uri != \"\")",
                    "SubjectAltName element must not contain URI, if Type is not set to URI", NULL, NULL}),
};

/* BackendTLSPolicyValidation */
static bool has_ca_refs(const struct tr_node *self)
{
    /* has(self.caCertificateRefs) && size(self.caCertificateRefs) > 0 */
    return tr_node_len(tr_node_get(self, "caCertificateRefs")) > 0;
}

static bool has_well_known(const struct tr_node *self)
{
    /* has(self.wellKnownCACertificates) && self.wellKnownCACertificates != "" */
    return !tr_cel_str_unset(self, "wellKnownCACertificates");
}

static bool cel_validation_not_both(const struct tr_node *self, const struct tr_node *old)
{
    return !(has_ca_refs(self) && has_well_known(self));
}

static bool cel_validation_either(const struct tr_node *self, const struct tr_node *old)
{
    return has_ca_refs(self) || has_well_known(self);
}

static const struct tr_schema backend_tls_policy_validation = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(
        TR_OPT("caCertificateRefs", TR_SCHEMA(.type = TR_S_ARR, .items = &local_object_reference,
                                              .flags = TR_S_MAX_ITEMS, .max_items = 8, .list_type = TR_LIST_ATOMIC)),
        TR_REQ("hostname", &tr_sch_precise_hostname),
        TR_OPT("subjectAltNames", TR_SCHEMA(.type = TR_S_ARR, .items = &subject_alt_name, .flags = TR_S_MAX_ITEMS,
                                            .max_items = 5, .list_type = TR_LIST_ATOMIC)),
        /* WellKnownCACertificatesType */
        TR_OPT("wellKnownCACertificates",
               TR_SCHEMA(.type = TR_S_STR, .flags = TR_S_MIN_LEN | TR_S_MAX_LEN, .min_len = 1, .max_len = 253,
                         .pattern = "^(System|([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]))$"))),
    .cel = TR_CELS({cel_validation_not_both,
                    "!(has(self.caCertificateRefs) && size(self.caCertificateRefs) > 0 && has(self.wellKnownCACertificates) && self.wellKnownCACertificates != \"\")",
                    "must not contain both CACertificateRefs and WellKnownCACertificates", NULL, NULL},
                   {cel_validation_either,
                    "(has(self.caCertificateRefs) && size(self.caCertificateRefs) > 0 || has(self.wellKnownCACertificates) && self.wellKnownCACertificates != \"\")",
                    "must specify either CACertificateRefs or WellKnownCACertificates", NULL, NULL}),
};

/* BackendTLSPolicySpec */
static const struct tr_schema backend_tls_policy_spec = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(
        TR_OPT("options", &policy_options),
        TR_REQ("targetRefs",
               TR_SCHEMA(.type = TR_S_ARR, .items = &target_ref_with_section, .flags = TR_S_MIN_ITEMS | TR_S_MAX_ITEMS,
                         .min_items = 1, .max_items = 16, .list_type = TR_LIST_ATOMIC,
                         .cel = TR_CELS({cel_targets_section_all_or_none,
                                         "self.all(p1, self.all(p2, p1.group == p2.group && p1.kind == p2.kind && p1.name == p2.name ? ((!has(p1.sectionName) || p1.sectionName == '') == (!has(p2.sectionName) || p2.sectionName == '')) : true))",
                                         "sectionName must be specified when targetRefs includes 2 or more references to the same target",
                                         NULL, NULL},
                                        {cel_targets_section_unique,
                                         "self.all(p1, self.exists_one(p2, p1.group == p2.group && p1.kind == p2.kind && p1.name == p2.name && (((!has(p1.sectionName) || p1.sectionName == '') && (!has(p2.sectionName) || p2.sectionName == '')) || (has(p1.sectionName) && has(p2.sectionName) && p1.sectionName == p2.sectionName))))",
                                         "sectionName must be unique when targetRefs includes 2 or more references to the same target",
                                         NULL, NULL}))),
        TR_REQ("validation", &backend_tls_policy_validation)),
};

/* BackendTLSPolicy */
const struct tr_schema tr_schema_BackendTLSPolicy = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_REQ("apiVersion", &tr_sch_string), TR_REQ("kind", &tr_sch_string),
                        TR_REQ("metadata", &tr_sch_object_meta), TR_REQ("spec", &backend_tls_policy_spec),
                        TR_OPT("status", &tr_sch_any)),
};

/* --- XBackendTrafficPolicy --- */

#define PAT_DURATION "^([0-9]{1,5}(h|m|s|ms)){1,4}$"

static bool cel_budget_interval(const struct tr_node *self, const struct tr_node *old)
{
    /* !(duration(self) < duration('1s') || duration(self) > duration('1h')) */
    uint64_t ms = 0;
    if (self->type != TR_N_STR || !tr_duration_ms(self->u.s, &ms))
        return true; /* the pattern reports it */
    return !(ms < 1000 || ms > 3600000);
}

static bool cel_min_rate_interval(const struct tr_node *self, const struct tr_node *old)
{
    /* !(duration(self) == duration('0s') || duration(self) > duration('1h')) */
    uint64_t ms = 0;
    if (self->type != TR_N_STR || !tr_duration_ms(self->u.s, &ms))
        return true; /* the pattern reports it */
    return !(ms == 0 || ms > 3600000);
}

/* BudgetDetails */
static const struct tr_schema budget_details = {
    .type = TR_S_OBJ,
    .def = "{\"interval\":\"10s\",\"percent\":20}",
    .fields = TR_FIELDS(
        TR_OPT("interval", TR_SCHEMA(.type = TR_S_STR, .pattern = PAT_DURATION, .def = "\"10s\"",
                                     .cel = TR_CELS({cel_budget_interval,
                                                     "!(duration(self) < duration('1s') || duration(self) > duration('1h'))",
                                                     "interval cannot be greater than one hour or less than one second",
                                                     NULL, NULL}))),
        TR_OPT("percent", TR_SCHEMA(.type = TR_S_INT, .flags = TR_S_MINIMUM | TR_S_MAXIMUM, .minimum = 0,
                                    .maximum = 100, .def = "20"))),
};

/* RequestRate */
static const struct tr_schema request_rate = {
    .type = TR_S_OBJ,
    .def = "{\"count\":10,\"interval\":\"1s\"}",
    .fields = TR_FIELDS(
        TR_OPT("count", TR_SCHEMA(.type = TR_S_INT, .flags = TR_S_MINIMUM | TR_S_MAXIMUM, .minimum = 1,
                                  .maximum = 1000000)),
        TR_OPT("interval", TR_SCHEMA(.type = TR_S_STR, .pattern = PAT_DURATION,
                                     .cel = TR_CELS({cel_min_rate_interval,
                                                     "!(duration(self) == duration('0s') || duration(self) > duration('1h'))",
                                                     "interval cannot be greater than one hour", NULL, NULL})))),
};

/* RetryConstraint */
static const struct tr_schema retry_constraint = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_OPT("budget", &budget_details), TR_OPT("minRetryRate", &request_rate)),
};

/* SessionPersistence */
static bool cel_session_permanent_timeout(const struct tr_node *self, const struct tr_node *old)
{
    /* !has(self.cookieConfig) || !has(self.cookieConfig.lifetimeType) ||
     * self.cookieConfig.lifetimeType != 'Permanent' || has(self.absoluteTimeout) */
    const struct tr_node *cc = tr_node_get(self, "cookieConfig");
    const struct tr_node *lt = tr_node_get(cc, "lifetimeType");
    return !cc || !lt || !tr_cel_node_is(lt, "Permanent") || tr_cel_has(self, "absoluteTimeout");
}

static bool cel_session_cookie_config(const struct tr_node *self, const struct tr_node *old)
{
    /* !has(self.cookieConfig) || self.type == 'Cookie' */
    return !tr_cel_has(self, "cookieConfig") || tr_cel_node_is(tr_node_get(self, "type"), "Cookie");
}

static const struct tr_schema session_persistence = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(
        TR_OPT("absoluteTimeout", TR_SCHEMA(.type = TR_S_STR, .pattern = PAT_DURATION)),
        /* CookieConfig */
        TR_OPT("cookieConfig",
               TR_SCHEMA(.type = TR_S_OBJ,
                         .fields = TR_FIELDS(TR_OPT("lifetimeType",
                                                    TR_SCHEMA(.type = TR_S_STR, .enums = TR_ENUM("Permanent", "Session"),
                                                              .def = "\"Session\""))))),
        TR_OPT("sessionName", TR_SCHEMA(.type = TR_S_STR, .flags = TR_S_MAX_LEN, .max_len = 128)),
        TR_OPT("type", TR_SCHEMA(.type = TR_S_STR, .enums = TR_ENUM("Cookie", "Header"), .def = "\"Cookie\""))),
    .cel = TR_CELS({cel_session_permanent_timeout,
                    "!has(self.cookieConfig) || !has(self.cookieConfig.lifetimeType) || self.cookieConfig.lifetimeType != 'Permanent' || has(self.absoluteTimeout)",
                    "AbsoluteTimeout must be specified when cookie lifetimeType is Permanent", NULL, NULL},
                   {cel_session_cookie_config, "!has(self.cookieConfig) || self.type == 'Cookie'",
                    "cookieConfig can only be set with type Cookie", NULL, NULL}),
};

/* LocalPolicyTargetReference */
static const struct tr_schema local_policy_target_reference = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_REQ("group", &tr_sch_group), TR_REQ("kind", &tr_sch_kind),
                        TR_REQ("name", &tr_sch_object_name)),
};

/* BackendTrafficPolicySpec */
static const struct tr_schema backend_traffic_policy_spec = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_OPT("retryConstraint", &retry_constraint),
                        TR_OPT("sessionPersistence", &session_persistence),
                        TR_REQ("targetRefs", TR_SCHEMA(.type = TR_S_ARR, .items = &local_policy_target_reference,
                                                       .flags = TR_S_MIN_ITEMS | TR_S_MAX_ITEMS, .min_items = 1,
                                                       .max_items = 16, .list_type = TR_LIST_MAP,
                                                       .list_keys = TR_KEYS("group", "kind", "name")))),
};

/* XBackendTrafficPolicy */
const struct tr_schema tr_schema_XBackendTrafficPolicy = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_REQ("apiVersion", &tr_sch_string), TR_REQ("kind", &tr_sch_string),
                        TR_REQ("metadata", &tr_sch_object_meta), TR_REQ("spec", &backend_traffic_policy_spec),
                        TR_OPT("status", &tr_sch_any)),
};
