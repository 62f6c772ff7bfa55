/* Route attachment, for every route kind: parentRefs to Gateways and ListenerSets, sectionName
 * and port, allowedRoutes (kinds, namespaces), hostname intersection, and each parent's
 * Accepted and ResolvedRefs conditions. */
#include "translate/internal.h"
#include "base/map.h"
#include "ir/match.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Values most routes' statuses hold, packed as a byte each (tr_node_pack's dictionary; at
 * most 256, never changed once statuses are packed with it): torii's controller name (the one
 * it runs under unless told otherwise), parent kinds, condition types, statuses, reasons and
 * the usual messages. */
static const char *const status_dict[] = {
    "torii.dev/gateway-controller", TR_GW_GROUP, "Gateway", "ListenerSet", "Accepted", "ResolvedRefs",
    "PartiallyInvalid", "True", "False",
    "Route is accepted", "All references resolved", "BackendNotFound", "RefNotPermitted", "InvalidKind",
    "NotAllowedByListeners", "NoMatchingListenerHostname", "NoMatchingParent", "UnsupportedValue",
    TR_MESH_CONTROLLER, "Service", "", NULL,
};

static bool has_hostnames(enum tr_kind k)
{
    return k == TR_KIND_HTTPROUTE || k == TR_KIND_GRPCROUTE || k == TR_KIND_TLSROUTE;
}

/* The route's hostnames narrowed to a listener's: NULL-terminated (in a), NULL when none
 * intersect. A route without hostnames takes the listener's (or matches any host). */
static const char **effective_hosts(struct tr_arena *a, const struct tr_obj *route, const struct tr_node *spec,
                                   const struct lst *l)
{
    const struct tr_node *hs = tr_node_get(spec, "hostnames");
    size_t n = tr_node_len(hs);
    const char **out = TR_ANEWN(a, const char *, n + 2);
    size_t k = 0;
    if (!has_hostnames(route->kind) || n == 0) {
        if (l->hostname)
            out[k++] = l->hostname;
        return out;
    }
    for (size_t i = 0; i < n; i++) {
        const struct tr_node *h = tr_node_at(hs, i);
        if (h->type != TR_N_STR)
            continue;
        const char *x = tx_host_intersect(l->hostname, h->u.s);
        if (x)
            out[k++] = x;
    }
    return k ? out : NULL;
}

/* hosts as the unit keeps it: the array an earlier attachment has when it holds the same
 * names (a route's hostnames on the listeners of a Gateway are most often the same), else a
 * copy in the unit. */
static const char **kept_hosts(struct tx *t, const struct tx_unit *u, const char **hosts)
{
    for (size_t k = 0; k < u->natt; k++) {
        const char **h = u->att[k].hosts;
        size_t i = 0;
        while (h[i] && h[i] == hosts[i])
            i++;
        if (!h[i] && !hosts[i])
            return h;
    }
    size_t n = 0;
    while (hosts[n])
        n++;
    const char **copy = TR_ANEWN(t->a, const char *, n + 1);
    memcpy(copy, hosts, n * sizeof(*copy));
    return copy;
}

static bool kind_allowed(const struct lst *l, enum tr_kind k)
{
    for (int i = 0; i < l->nkinds; i++)
        if (strcmp(l->kinds[i], tr_kind_name(k)) == 0)
            return true;
    return false;
}

/* A rule's RequestMirror filters (most rules have none). */
struct rule_mirrors {
    struct tr_ir_mirror *v;
    struct tx_backend_src **src; /* parallel to v */
    size_t n;
};

/* A rule as the route's translation keeps it. Why a dropped rule is not served is in the
 * route's status only (route_rules' why). */
struct rule_out {
    struct tr_ir_rule_spec spec; /* what every listener serving the rule shares */
    struct tr_ir_backend_ref *be; /* backendRefs, resolved; their sources follow (rule_src) */
    uint32_t nbe;
    bool dropped; /* not served (rule_unsupported) */
};

/* A route's rules as the mesh serves them, when they differ from its Gateways' (tx_unit). */
struct tx_mesh_rules {
    struct rule_out *rules;
    struct rule_mirrors **mirrors;
};

/* Where backend k of a rule gets its endpoints: tx_backends puts the sources right after the
 * refs, in one block. */
static struct tx_backend_src **rule_src(const struct rule_out *ro, size_t k)
{
    return (struct tx_backend_src **)(void *)(ro->be + ro->nbe) + k;
}

/* RequestMirror filters of rule ri: each backendRef resolved like a backendRefs entry, and its
 * share: percent, or fraction, or all. One that does not resolve makes the route's ResolvedRefs
 * False, its message naming the filter, and is not configured: the mirror stays in the IR marked
 * invalid and no copy goes to it (HTTPRequestMirrorFilter.backendRef docs). The ExternalAuth
 * filter's backendRef follows them, resolved alike, with a share of 0/0 (tr_ir_rule_auth): one
 * that does not resolve fails the rule's requests closed (500), never lets them through. */
/* The next entry of rm: the backendRef of filter fi (its field `field`, node f) resolved as a
 * backendRefs entry is, with a share of 0/0. */
static struct tr_ir_mirror *slot_of(struct tx *t, const struct tr_obj *r, size_t ri, size_t fi, const char *field,
                                    const struct tr_node *f, struct rule_mirrors *rm, struct tx_refs *res)
{
    struct tr_node *one = tr_node_new(t->run_a, TR_N_SEQ); /* scratch */
    tr_node_push(t->run_a, one, tr_node_get(f, "backendRef"));
    struct ir_backends be;
    char where[128];
    snprintf(where, sizeof(where), "rules[%zu].filters[%zu].%s.backendRef", ri, fi, field);
    tx_backends(t, r, one, where, &be, res);
    rm->src[rm->n] = be.src[0];
    struct tr_ir_mirror *mi = &rm->v[rm->n++];
    *mi = (struct tr_ir_mirror){.backend = {.ref = &be.v[0], .invalid = be.v[0].invalid}};
    return mi;
}

static struct rule_mirrors *rule_mirrors(struct tx *t, const struct tr_obj *r, size_t ri,
                                         const struct tr_node *rule, struct tx_refs *res)
{
    const struct tr_node *fs = tr_node_get(rule, "filters");
    size_t n = 0;
    const struct tr_node *auth = NULL;
    size_t auth_at = 0;
    for (size_t i = 0; i < tr_node_len(fs); i++) {
        const char *type = tr_node_gets(tr_node_at(fs, i), "type");
        n += type && strcmp(type, "RequestMirror") == 0;
        if (type && strcmp(type, "ExternalAuth") == 0 && !auth) {
            auth = tr_node_get(tr_node_at(fs, i), "externalAuth");
            auth_at = i;
        }
    }
    n += auth != NULL;
    if (!n)
        return NULL;
    struct rule_mirrors *rm_out = TR_ANEW(t->a, struct rule_mirrors);
    rm_out->v = TR_ANEWN(t->a, struct tr_ir_mirror, n);
    rm_out->src = TR_ANEWN(t->a, struct tx_backend_src *, n);
    for (size_t i = 0; i < tr_node_len(fs); i++) {
        const struct tr_node *f = tr_node_at(fs, i);
        const char *type = tr_node_gets(f, "type");
        if (!type || strcmp(type, "RequestMirror") != 0)
            continue;
        const struct tr_node *rm = tr_node_get(f, "requestMirror");
        struct tr_ir_mirror *mi = slot_of(t, r, ri, i, "requestMirror", rm, rm_out, res);
        mi->numerator = 100;
        mi->denominator = 100;
        const struct tr_node *frac = tr_node_get(rm, "fraction");
        int64_t pct = tr_node_geti(rm, "percent", -1);
        if (frac) {
            mi->numerator = (uint32_t)tr_node_geti(frac, "numerator", 0);
            mi->denominator = (uint32_t)tr_node_geti(frac, "denominator", 100);
        } else if (pct >= 0) {
            mi->numerator = (uint32_t)pct;
        }
    }
    if (auth)
        slot_of(t, r, ri, auth_at, "externalAuth", auth, rm_out, res); /* its share stays 0/0 */
    return rm_out;
}

/* Why the first ExtensionRef of filters cannot be resolved, or NULL when there is none; the
 * filters are rule ri's, or (backend_ref >= 0) that backendRef's. torii provides no extension
 * kinds, so none resolves: "a reference to an unknown or unsupported Group and/or Kind"
 * (InvalidKind, RouteConditionReason docs). */
static const char *extension_problem(struct tx *t, const struct tr_node *fs, size_t ri, long backend_ref,
                                     bool dropped)
{
    for (size_t j = 0; j < tr_node_len(fs); j++) {
        const struct tr_node *f = tr_node_at(fs, j);
        const char *type = tr_node_gets(f, "type");
        if (!type || strcmp(type, "ExtensionRef") != 0)
            continue;
        const struct tr_node *x = tr_node_get(f, "extensionRef");
        const char *group = str_or(tr_node_gets(x, "group"), "");
        char where[64];
        if (backend_ref >= 0)
            snprintf(where, sizeof(where), "rules[%zu].backendRefs[%ld]", ri, backend_ref);
        else
            snprintf(where, sizeof(where), "rules[%zu]", ri);
        /* A dropped rule (rule_unsupported) serves no request: no error to announce. */
        const char *effect = dropped              ? ""
                             : backend_ref >= 0 ? ": requests sent to this backend get 500"
                                                : ": requests of the rule get 500";
        return tr_arena_printf(t->msgs, "%s.filters[%zu]: ExtensionRef %s%s%s %s cannot be resolved (torii provides "
                                     "no filter extensions)%s",
                               where, j, str_or(tr_node_gets(x, "kind"), ""), group[0] ? "." : "", group,
                               str_or(tr_node_gets(x, "name"), ""), effect);
    }
    return NULL;
}

/* ExtensionRef filters of rule ri and of its backendRefs. Such a filter "MUST NOT be skipped.
 * Instead, requests that would have been processed by that filter MUST receive a HTTP error
 * response" (HTTPRouteFilter and GRPCRouteFilter type docs): one of the rule fails every request
 * the rule matches; one of a backendRef, which runs only for requests sent to that backend
 * (HTTPBackendRef.filters), makes the backend invalid, so its share of the weight gets 500 as an
 * unresolved backend's does. */
static void rule_extensions(struct tx *t, size_t ri, const struct tr_node *rule, struct rule_out *ro,
                            struct tx_refs *res)
{
    const char *m = extension_problem(t, tr_node_get(rule, "filters"), ri, -1, ro->dropped);
    if (m) {
        ro->spec.unresolved_filter = true;
        tx_refs_note(res, TR_R_INVALID_KIND, m, false);
    }
    const struct tr_node *refs = tr_node_get(rule, "backendRefs"); /* ro->be[k] is refs[k] */
    for (size_t k = 0; k < ro->nbe; k++) {
        m = extension_problem(t, tr_node_get(tr_node_at(refs, k), "filters"), ri, (long)k, ro->dropped);
        if (!m)
            continue;
        ro->be[k].invalid = true;
        *rule_src(ro, k) = NULL;
        tx_refs_note(res, TR_R_INVALID_KIND, m, false);
    }
}

/* Filter types torii carries out. A rule's: the HTTPRouteFilter types but ExternalAuth (GRPCRoute
 * allows a subset, and the schema keeps each kind to its own). A backendRef's (HTTPBackendRef and
 * GRPCBackendRef filters, "Support: Implementation-specific"): the two header modifiers, which act
 * on the one exchange with that backend, and ExtensionRef (rule_extensions). */
static bool filter_supported(const char *type, bool backend_level)
{
    static const char *const rule[] = {"RequestHeaderModifier", "ResponseHeaderModifier", "RequestMirror",
                                       "RequestRedirect", "URLRewrite", "ExtensionRef", "CORS", "ExternalAuth",
                                       NULL};
    static const char *const backend[] = {"RequestHeaderModifier", "ResponseHeaderModifier", "ExtensionRef", NULL};
    for (const char *const *k = backend_level ? backend : rule; *k; k++)
        if (strcmp(*k, type) == 0)
            return true;
    return false;
}

/* The backendRef a filter of this type holds (RequestMirror, ExternalAuth), or NULL; *field is
 * the filter's field that holds it. */
static struct tr_node *filter_backend_ref(const struct tr_node *f, const char *type, const char **field)
{
    if (strcmp(type, "RequestMirror") == 0)
        *field = "requestMirror";
    else if (strcmp(type, "ExternalAuth") == 0)
        *field = "externalAuth";
    else
        return NULL;
    return tr_node_get(tr_node_get(f, *field), "backendRef");
}

/* Unsupported filters of filters fs (where: "rules[i]" or "rules[i].backendRefs[k]"): sets
 * *dropped to why the first is not supported, unless it is set already. Their backendRefs are
 * resolved all the same, for ResolvedRefs only (noted in res): "All references resolved" must
 * not hide a bad reference because its filter is unused. */
static void unsupported_in(struct tx *t, const struct tr_obj *r, const struct tr_node *fs, const char *where,
                           bool backend_level, const char **dropped, struct tx_refs *res)
{
    for (size_t j = 0; j < tr_node_len(fs); j++) {
        const struct tr_node *f = tr_node_at(fs, j);
        const char *type = tr_node_gets(f, "type");
        if (!type || filter_supported(type, backend_level))
            continue;
        if (!*dropped) {
            if (backend_level)
                *dropped = tr_arena_printf(t->msgs, "%s.filters[%zu]: torii does not support %s as a backendRef filter",
                                           where, j, type);
            else
                *dropped = tr_arena_printf(t->msgs, "%s.filters[%zu]: torii does not support filter type %s", where,
                                           j, type);
        }
        const char *field = NULL;
        struct tr_node *ref = filter_backend_ref(f, type, &field);
        if (!ref)
            continue;
        struct tr_node *one = tr_node_new(t->run_a, TR_N_SEQ); /* scratch */
        tr_node_push(t->run_a, one, ref);
        char at[128];
        snprintf(at, sizeof(at), "%s.filters[%zu].%s.backendRef", where, j, field);
        struct ir_backends be;
        tx_backends(t, r, one, at, &be, res);
    }
}

/* value (at where: "rules[i].matches[j]..."), when it is a regular expression that does not
 * compile: *dropped says so, unless it is set already. */
static void regex_check(struct tx *t, const struct tr_node *m, const char *field, const char *where,
                        const char **dropped)
{
    const char *value = tr_node_gets(m, field);
    char why[200];
    if (*dropped || !value || tr_ir_regex_ok(value, why, sizeof(why)))
        return;
    *dropped = tr_arena_printf(t->msgs, "%s.%s: not a valid regular expression (%s)", where, field, why);
}

/* Regular expressions of rule ri's matches (HTTPRoute path, headers and query parameters;
 * GRPCRoute method and headers) that do not compile. Their syntax is left to the implementation
 * (PCRE2 here); one that does not compile would match nothing, silently, so the rule is dropped
 * and the route says which value and why, as for an unsupported filter. */
static void bad_regex(struct tx *t, enum tr_kind kind, const struct tr_node *rule, size_t ri, const char **dropped)
{
    const struct tr_node *ms = tr_node_get(rule, "matches");
    char where[96];
    for (size_t j = 0; j < tr_node_len(ms) && !*dropped; j++) {
        const struct tr_node *m = tr_node_at(ms, j);
        const struct tr_node *p = tr_node_get(m, kind == TR_KIND_GRPCROUTE ? "method" : "path");
        if (p && tr_node_gets(p, "type") && strcmp(tr_node_gets(p, "type"), "RegularExpression") == 0) {
            snprintf(where, sizeof(where), "rules[%zu].matches[%zu].%s", ri, j,
                     kind == TR_KIND_GRPCROUTE ? "method" : "path");
            if (kind == TR_KIND_GRPCROUTE) {
                regex_check(t, p, "service", where, dropped);
                regex_check(t, p, "method", where, dropped);
            } else {
                regex_check(t, p, "value", where, dropped);
            }
        }
        static const char *const lists[] = {"headers", "queryParams"};
        for (size_t l = 0; l < 2; l++) {
            const struct tr_node *kvs = tr_node_get(m, lists[l]);
            for (size_t k = 0; k < tr_node_len(kvs); k++) {
                const struct tr_node *kv = tr_node_at(kvs, k);
                const char *type = tr_node_gets(kv, "type");
                if (!type || strcmp(type, "RegularExpression") != 0)
                    continue;
                snprintf(where, sizeof(where), "rules[%zu].matches[%zu].%s[%zu]", ri, j, lists[l], k);
                regex_check(t, kv, "value", where, dropped);
            }
        }
    }
}

/* ExternalAuth filters of rule ri that torii does not carry out: a second one (the first is
 * carried out; two would each have to approve), a forwardBody larger than torii holds. */
static void bad_extauth(struct tx *t, const struct tr_node *rule, size_t ri, const char **dropped)
{
    const struct tr_node *fs = tr_node_get(rule, "filters");
    size_t seen = 0;
    for (size_t j = 0; j < tr_node_len(fs) && !*dropped; j++) {
        const struct tr_node *f = tr_node_at(fs, j);
        if (strcmp(str_or(tr_node_gets(f, "type"), ""), "ExternalAuth") != 0)
            continue;
        if (seen++)
            *dropped = tr_arena_printf(t->msgs, "rules[%zu].filters[%zu]: torii carries out one ExternalAuth filter "
                                                "per rule",
                                       ri, j);
        else if (tr_node_geti(tr_node_get(tr_node_get(f, "externalAuth"), "forwardBody"), "maxSize", 0) >
                 (int64_t)TR_EXTAUTH_MAX_BODY)
            *dropped = tr_arena_printf(t->msgs, "rules[%zu].filters[%zu].externalAuth.forwardBody.maxSize: more than "
                                                "the %u bytes torii holds of a request body",
                                       ri, j, TR_EXTAUTH_MAX_BODY);
    }
}

/* Filters of rule ri, and of its backendRefs, that torii does not carry out: ExternalAuth
 * (GEP-1494; "If there is any problem communicating with the external service, this filter MUST
 * fail closed"), and at backendRef level anything but the header modifiers and ExtensionRef.
 * Skipping one would serve the rule as something else (an ExternalAuth skipped forwards
 * unauthenticated requests), so the rule is dropped instead: ro->dropped says why, and the rule
 * is not attached. The route reports it as the spec's RouteConditionPartiallyInvalid "Drop
 * Rule(s)" approach says, or with Accepted False, UnsupportedValue (the filter type docs: "Unknown
 * values here must result in ... Accepted ... False, with a Reason of UnsupportedValue") when no
 * rule is left (route_translate). Returns the ResolvedRefs outcome of the references those
 * filters hold (unsupported_in). */
static void rule_unsupported(struct tx *t, const struct tr_obj *r, size_t ri, const struct tr_node *rule,
                             struct rule_out *ro, const char **why, struct tx_refs *res)
{
    char where[64];
    snprintf(where, sizeof(where), "rules[%zu]", ri);
    bad_regex(t, r->kind, rule, ri, why);
    bad_extauth(t, rule, ri, why);
    const struct tr_node *sp = tr_node_get(rule, "sessionPersistence");
    const char *sp_why = sp && !*why ? tx_session_problem(t->msgs, sp) : NULL;
    if (sp_why)
        *why = tr_arena_printf(t->msgs, "%s.sessionPersistence.%s", where, sp_why);
    unsupported_in(t, r, tr_node_get(rule, "filters"), where, false, why, res);
    const struct tr_node *refs = tr_node_get(rule, "backendRefs");
    for (size_t k = 0; k < tr_node_len(refs); k++) {
        snprintf(where, sizeof(where), "rules[%zu].backendRefs[%zu]", ri, k);
        unsupported_in(t, r, tr_node_get(tr_node_at(refs, k), "filters"), where, true, why, res);
    }
    ro->dropped = *why != NULL;
}

/* Resolves every rule's backends once per route (u's rules and mirrors), noting the route's
 * ResolvedRefs in res and why each dropped rule is (why[i], in sa; NULL: served). */
static void route_rules(struct tx *t, struct tr_arena *sa, const struct tr_obj *r, struct tx_unit *u,
                        const struct tr_node *spec, const char ***why, struct tx_refs *res)
{
    const struct tr_node *rules = tr_node_get(spec, "rules");
    size_t n = tr_node_len(rules); /* the schema allows 16 */
    struct rule_out *ro = n ? TR_ANEWN(t->a, struct rule_out, n) : NULL;
    *why = TR_ANEWN(sa, const char *, n + 1);
    for (size_t i = 0; i < n; i++) {
        const struct tr_node *rule = tr_node_at(rules, i);
        struct tr_ir_rule_spec *rs = &ro[i].spec;
        rs->route = &r->id; /* u holds r (or, without a memo, the run's view does) */
        rs->index = (uint16_t)i;
        tx_rule_compile(t->a, r->kind, rule, rs);
        struct ir_backends be;
        tx_backends(t, r, tr_node_get(rule, "backendRefs"), "backendRefs", &be, res);
        ro[i].be = be.v;
        ro[i].nbe = (uint32_t)be.n;
        TR_BUG_ON(be.n && be.src != rule_src(&ro[i], 0));
        struct rule_mirrors *rm = rule_mirrors(t, r, i, rule, res);
        if (rm && !u->mirrors)
            u->mirrors = TR_ANEWN(t->a, struct rule_mirrors *, n);
        if (rm)
            u->mirrors[i] = rm;
        rule_unsupported(t, r, i, rule, &ro[i], &(*why)[i], res);
        rule_extensions(t, i, rule, &ro[i], res);
    }
    u->rules = ro;
    u->nrules = (uint16_t)n;
}

/* Why rules are dropped (rule_unsupported), as one condition message naming each, or NULL when
 * every rule is served; *all: no rule is left to serve. The RouteConditionPartiallyInvalid docs:
 * the message "MUST start with the prefix "Dropped Rule" and include information about which
 * Rules have been dropped". */
static const char *dropped_rules(struct tr_arena *sa, const char *const *why, size_t n, bool *all)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += why[i] != NULL;
    *all = n && k == n;
    if (!k)
        return NULL;
    const char *m = *all ? "No rule can be served:" : k == 1 ? "Dropped Rule:" : "Dropped Rules:";
    for (size_t i = 0, seen = 0; i < n; i++)
        if (why[i])
            m = tr_arena_printf(sa, "%s%s %s", m, seen++ ? ";" : "", why[i]);
    return m;
}

/* Attachments grow in scratch space (sa) and are copied to the unit at their length once the
 * route's parents are done (add_att_done). */
static void add_att(struct tr_arena *sa, struct tx_unit *u, size_t *cap, int owner, bool set, bool mesh, int li,
                    const char **hosts)
{
    if (u->natt == *cap) {
        *cap = *cap ? *cap * 2 : 4;
        struct att *grown = TR_ANEWN(sa, struct att, *cap);
        if (u->natt)
            memcpy(grown, u->att, u->natt * sizeof(*grown));
        u->att = grown;
    }
    u->att[u->natt++] = (struct att){.hosts = hosts, .owner = owner, .li = (uint16_t)li, .set = set, .mesh = mesh};
}

static void add_att_done(struct tx *t, struct tx_unit *u)
{
    struct att *kept = u->natt ? TR_ANEWN(t->a, struct att, u->natt) : NULL;
    if (u->natt)
        memcpy(kept, u->att, u->natt * sizeof(*kept));
    u->att = kept;
}

/* Is parentRef p a Service of torii's mesh (core group, kind Service, with a mesh)? Without a
 * mesh, Service parents are another mesh's: no status is written for them. */
static bool mesh_parent(const struct tx *t, const struct tr_node *p)
{
    const char *group = tr_node_gets(p, "group"); /* the default is the Gateway API's group */
    const char *kind = tr_node_gets(p, "kind");
    return t->in->mesh && group && (!group[0] || strcmp(group, "core") == 0) && kind && strcmp(kind, "Service") == 0;
}

/* Hostnames of a mesh attachment: none, so none selects (the address dialled chose the
 * Service: MeshClusterIPMatching). */
static const char *no_hosts[] = {NULL};

/* Attaches route r to Service parent p (its ports the parentRef selects) and returns the
 * parent's status entry: Accepted (NoMatchingParent for a Service that is not there, has no
 * cluster address, or no such port; UnsupportedValue for a route kind the mesh does not serve
 * or with no rule left), ResolvedRefs as the mesh resolved the backends (mrefs), and
 * PartiallyInvalid. */
static struct tr_node *mesh_parent_status(struct tx *t, struct tr_arena *sa, enum tr_kind kind, const struct tr_obj *r,
                                          struct tx_unit *u, const struct tr_node *p, size_t *capatt,
                                          const struct tx_refs *mrefs, const char *dropped_msg, bool all_dropped)
{
    const char *pns = str_or(tr_node_gets(p, "namespace"), r->ns);
    const char *pname = str_or(tr_node_gets(p, "name"), "");
    const char *section = tr_node_gets(p, "sectionName");
    int64_t port = tr_node_geti(p, "port", 0);
    const struct tr_obj *so = tr_view_find(t->v, TR_KIND_SERVICE, pns, pname);
    size_t np = so ? tr_node_len(tr_node_get(so->spec, "ports")) : 0;
    uint16_t *idx = TR_ANEWN(sa, uint16_t, np + 1);
    size_t n = 0;
    const char *why = tx_mesh_parent(t, kind, so, pns, pname, port, section, idx, &n);
    struct conds cs = {0};
    if (why) {
        bool kind_ok = kind == TR_KIND_HTTPROUTE || kind == TR_KIND_GRPCROUTE;
        cset(&cs, "Accepted", false, kind_ok ? TR_R_NO_MATCHING_PARENT : TR_R_UNSUPPORTED_VALUE, why);
    } else if (all_dropped) {
        cset(&cs, "Accepted", false, TR_R_UNSUPPORTED_VALUE, dropped_msg);
    } else {
        cset(&cs, "Accepted", true, TR_R_ACCEPTED, "Route is accepted");
        int owner = (int)tr_view_index(t->v, so);
        for (size_t k = 0; k < n; k++) {
            size_t j = 0;
            while (j < u->natt && !(u->att[j].mesh && u->att[j].owner == owner && u->att[j].li == idx[k]))
                j++;
            if (j == u->natt)
                add_att(sa, u, capatt, owner, port || section, true, idx[k], no_hosts);
            else
                u->att[j].set |= port || section; /* another parentRef named the port */
        }
    }
    /* ExternalName Services are no backend of the mesh's: [1], where they are not allowed. */
    if (mrefs->why[1] == TR_R__COUNT)
        cset(&cs, "ResolvedRefs", true, TR_R_RESOLVED_REFS, "All references resolved");
    else
        cset(&cs, "ResolvedRefs", false, mrefs->why[1], mrefs->msg[1]);
    if (!why && dropped_msg && !all_dropped)
        cset(&cs, "PartiallyInvalid", true, TR_R_UNSUPPORTED_VALUE, dropped_msg);
    struct tr_node *entry = tr_node_new(sa, TR_N_MAP);
    struct tr_node *pr = tr_node_clone(sa, p);
    tr_node_set(sa, pr, "group", tr_node_str(sa, ""));
    tr_node_set(sa, pr, "kind", tr_node_str(sa, "Service"));
    tr_node_set(sa, entry, "parentRef", pr);
    tr_node_set(sa, entry, "controllerName", tr_node_str(sa, t->in->mesh));
    tr_node_set(sa, entry, "conditions", conds_render(sa, &cs, r->generation));
    return entry;
}

/* Translates route r into a new unit: its arena is the memo's own for the route, or the run's. */
struct tx_unit *tx_route_translate(struct tx *t, enum tr_kind kind, const struct tr_obj *r, bool own)
{
    struct tr_arena *run = t->a;
    struct tr_arena *ua = NULL;
    if (own)
        ua = tr_arena_new_in(tx_memo_slab(t->in->memo)); /* the unit and what it holds */
    struct tx_unit *u = TR_ANEW(own ? ua : t->a, struct tx_unit);
    t->translated++;
    /* The status is built here: the run's arena, or for a route the memo keeps, scratch space
     * reset once the unit has its shared copy (built in the run's arena, it stayed there as
     * garbage until the next run: about 2 KiB per route on a full translation). */
    struct tr_arena *sa = run;
    if (own) {
        u->refs = 1;
        u->a = ua;
        u->obj = tr_obj_acquire((struct tr_obj *)(uintptr_t)r);
        u->ports = tx_ports_ref(t->ports);
        t->a = u->a;
        if (!t->scratch)
            t->scratch = tr_arena_new(16 * 1024);
        sa = t->scratch;
    }
    t->msgs = sa;
    const struct tr_view *v = t->v;
    /* A route is stored packed: its tree is unpacked here, and gone with the route's
     * translation when the memo keeps the unit (whose strings point into the stored object,
     * as the IR's do). */
    struct tr_arena *tree_a = own ? tr_arena_new(4096) : run;
    const struct tr_node *spec = tr_obj_spec(r, tree_a);
    const struct tr_node *prefs = tr_node_get(spec, "parentRefs");
    struct tr_node *parents = NULL;
    const char *dropped_msg = NULL;
    struct tx_refs refs = TX_REFS_INIT;
    bool resolved = false, all_dropped = false;
    size_t capatt = 0;
    /* The mesh resolves the rules without ReferenceGrants (tx.mesh_refs): once more when the
     * route has Gateway parents too. */
    bool gw_parents = false, mresolved = false;
    struct tx_refs mrefs = TX_REFS_INIT;
    for (size_t pi = 0; pi < tr_node_len(prefs); pi++)
        gw_parents |= !mesh_parent(t, tr_node_at(prefs, pi));

    for (size_t pi = 0; pi < tr_node_len(prefs); pi++) {
        const struct tr_node *p = tr_node_at(prefs, pi);
        const char *pgroup = str_or(tr_node_gets(p, "group"), TR_GW_GROUP);
        const char *pkind = str_or(tr_node_gets(p, "kind"), "Gateway");
        const char *pns = str_or(tr_node_gets(p, "namespace"), r->ns);
        const char *pname = str_or(tr_node_gets(p, "name"), "");
        const char *section = tr_node_gets(p, "sectionName");
        int64_t port = tr_node_geti(p, "port", 0);
        if (mesh_parent(t, p)) {
            if (!mresolved) {
                const char **why;
                t->mesh_refs = true;
                if (!gw_parents) {
                    route_rules(t, sa, r, u, spec, &why, &mrefs);
                    resolved = true;
                } else {
                    struct tx_unit mu = {0};
                    route_rules(t, sa, r, &mu, spec, &why, &mrefs);
                    u->nrules = mu.nrules; /* the same rules, resolved otherwise */
                    u->mesh_rules = TR_ANEW(t->a, struct tx_mesh_rules);
                    *u->mesh_rules = (struct tx_mesh_rules){mu.rules, mu.mirrors};
                }
                t->mesh_refs = false;
                dropped_msg = dropped_rules(sa, why, u->nrules, &all_dropped);
                mresolved = true;
            }
            struct tr_node *entry = mesh_parent_status(t, sa, kind, r, u, p, &capatt, &mrefs, dropped_msg, all_dropped);
            if (!parents)
                parents = tr_node_new(sa, TR_N_SEQ);
            tr_node_push(sa, parents, entry);
            continue;
        }
        if (strcmp(pgroup, TR_GW_GROUP) != 0)
            continue;
        struct lst *ls = NULL;
        size_t nl = 0;
        const char *owner_ns = NULL;
        int owner = -1;
        bool set = false, ext_allowed = false;
        if (strcmp(pkind, "Gateway") == 0) {
            const struct tr_obj *go = tr_view_find(v, TR_KIND_GATEWAY, pns, pname);
            struct gw *g = go ? tx_gw_of(t, go) : NULL;
            if (!g || !g->ours)
                continue;
            ls = g->l;
            nl = g->nl;
            owner_ns = go->ns;
            owner = (int)(g - t->gws);
            ext_allowed = g->ext_allowed;
        } else if (strcmp(pkind, "ListenerSet") == 0) {
            const struct tr_obj *so = tr_view_find(v, TR_KIND_LISTENERSET, pns, pname);
            long si = so ? tr_view_index(v, so) : -1;
            struct lset *s = si >= 0 ? &t->lsets[si] : NULL;
            if (!s || !s->ours)
                continue;
            ls = s->l;
            nl = s->nl;
            owner_ns = so->ns;
            owner = (int)si;
            set = true;
            ext_allowed = s->gw->ext_allowed;
        } else {
            continue; /* a Service parent without a mesh (mesh_parent): another mesh's */
        }
        if (!resolved) {
            const char **why;
            route_rules(t, sa, r, u, spec, &why, &refs);
            dropped_msg = dropped_rules(sa, why, u->nrules, &all_dropped);
            resolved = true;
        }
        struct conds cs = {0};
        size_t matched = 0, attached = 0;
        bool host_miss = false;
        for (size_t li = 0; li < nl; li++) {
            struct lst *l = &ls[li];
            if (section && strcmp(section, str_or(l->name, "")) != 0)
                continue;
            if (port && port != l->port)
                continue;
            matched++;
            /* Attachment does not depend on the listener's own status: attachedRoutes is
             * counted even on a listener that is not Accepted (ListenerStatus docs); only
             * an accepted listener serves the route. */
            if (!l->proto_ok || !kind_allowed(l, kind))
                continue;
            const struct tr_node *ns_rule = tr_node_path(l->spec, "allowedRoutes.namespaces");
            if (!tx_namespace_allowed(t, ns_rule, "Same", owner_ns, r->ns))
                continue;
            const char **hosts = effective_hosts(sa, r, spec, l);
            if (!hosts) {
                host_miss = true;
                continue;
            }
            attached++;
            /* A route with no rule left is not Accepted (below), so it is neither served nor
             * counted in attachedRoutes: "Routes with any other value for the Accepted
             * condition MUST NOT be included in this count" (ListenerStatus docs). */
            if (all_dropped)
                continue;
            bool dup = false;
            for (size_t k = 0; k < u->natt && !dup; k++)
                dup = !u->att[k].mesh && u->att[k].owner == owner && u->att[k].set == set && u->att[k].li == (int)li;
            if (!dup)
                add_att(sa, u, &capatt, owner, set, false, (int)li, kept_hosts(t, u, hosts));
        }
        if (attached && all_dropped) {
            cset(&cs, "Accepted", false, TR_R_UNSUPPORTED_VALUE, dropped_msg);
        } else if (attached) {
            cset(&cs, "Accepted", true, TR_R_ACCEPTED, "Route is accepted");
        } else if (!matched) {
            cset(&cs, "Accepted", false, TR_R_NO_MATCHING_PARENT,
                 section || port ? "No listener matches the parentRef's sectionName and port"
                                 : "The parent has no listeners");
        } else if (host_miss) {
            cset(&cs, "Accepted", false, TR_R_NO_MATCHING_LISTENER_HOSTNAME,
                 "No listener hostname intersects the route's hostnames");
        } else {
            cset(&cs, "Accepted", false, TR_R_NOT_ALLOWED_BY_LISTENERS,
                 "No listener allows this route (kind, namespace, or listener not valid)");
        }
        /* The parent's class decides whether ExternalName Services are valid backends (attach
         * marks them invalid on its listeners where they are not). */
        int slot = ext_allowed ? 0 : 1;
        if (refs.why[slot] == TR_R__COUNT)
            cset(&cs, "ResolvedRefs", true, TR_R_RESOLVED_REFS, "All references resolved");
        else
            cset(&cs, "ResolvedRefs", false, refs.why[slot], refs.msg[slot]);
        /* Only on an accepted route with some rules dropped: the condition "MUST NOT be set if
         * a Route is fully valid, fully invalid, or not accepted" (PartiallyInvalid docs). */
        if (attached && dropped_msg && !all_dropped)
            cset(&cs, "PartiallyInvalid", true, TR_R_UNSUPPORTED_VALUE, dropped_msg);

        /* Kept as a compact copy when the memo keeps the route (below). */
        if (!parents)
            parents = tr_node_new(sa, TR_N_SEQ);
        struct tr_node *entry = tr_node_new(sa, TR_N_MAP);
        struct tr_node *pr = tr_node_clone(sa, p);
        tr_node_set(sa, pr, "group", tr_node_str(sa, pgroup));
        tr_node_set(sa, pr, "kind", tr_node_str(sa, pkind));
        tr_node_set(sa, entry, "parentRef", pr);
        tr_node_set(sa, entry, "controllerName", tr_node_str(sa, t->in->controller));
        tr_node_set(sa, entry, "conditions", conds_render(sa, &cs, r->generation));
        tr_node_push(sa, parents, entry);
    }
    add_att_done(t, u);
    if (parents) {
        struct tr_node *st = tr_node_new(sa, TR_N_MAP);
        tr_node_set(sa, st, "parents", parents);
        if (own) {
            const struct tr_packed *pk = tr_node_share_packed(st, status_dict);
            TR_BUG_ON((uintptr_t)pk & 1);
            u->status = (const void *)((uintptr_t)pk | 1); /* tr_tx_status_packed */
        } else {
            u->status = st;
        }
    }
    if (own) {
        tr_arena_reset(sa);
        tr_arena_free(tree_a);
    }
    t->a = run;
    t->msgs = run;
    return u;
}

#define APPLIED_STACK 16

/* One application of a route's rules to a Gateway: the backend and mirror arrays every listener
 * of that Gateway shares (route_apply). */
struct applied {
    const struct gw *gw;
    struct tr_ir_backend **be;
    /* For a route of at most APPLIED_STACK rules it is this (needed while the route is applied
     * only): nothing in the run's arena. */
    struct tr_ir_backend *be_stack[APPLIED_STACK];
};

_Static_assert(sizeof(struct tr_ir_backend) % _Alignof(struct tr_ir_mirror) == 0,
               "a rule's mirrors follow its backends");

/* The run gets its own copy of the backend and mirror arrays (one block each rule: the
 * backends, then the mirrors), with the endpoints of its world (a unit outlives runs and
 * EndpointSlice changes), one per Gateway the route attaches to: the policies write the
 * Gateway's backend TLS into them. */
static void attach(struct tx *t, struct lst *l, const struct att *at, const struct tx_unit *u, struct applied *ap)
{
    /* The mesh's own resolution of the rules, when it differs (tx_unit.mesh_rules). */
    const struct tx_mesh_rules *mr = at->mesh ? u->mesh_rules : NULL;
    struct rule_out *rules = mr ? mr->rules : u->rules;
    struct rule_mirrors **mirrors = mr ? mr->mirrors : u->mirrors;
    size_t nrules = u->nrules;
    if (ap->gw != l->gw) {
        ap->gw = l->gw;
        if (nrules <= APPLIED_STACK) {
            memset(ap->be_stack, 0, sizeof(ap->be_stack));
            ap->be = ap->be_stack;
        } else {
            ap->be = TR_ANEWN(t->a, struct tr_ir_backend *, nrules);
        }
    }
    for (size_t i = 0; i < nrules; i++) {
        struct rule_out *ro = &rules[i];
        if (ro->dropped) /* rule_unsupported: not served at all */
            continue;
        const struct rule_mirrors *rm = mirrors ? mirrors[i] : NULL;
        size_t nmi = rm ? rm->n : 0;
        if (!ap->be[i] && (ro->nbe || nmi)) {
            struct tr_ir_backend *be =
                tr_arena_zalloc(t->a, ro->nbe * sizeof(struct tr_ir_backend) + nmi * sizeof(struct tr_ir_mirror));
            for (size_t k = 0; k < ro->nbe; k++) {
                be[k] = (struct tr_ir_backend){.ref = &ro->be[k], .invalid = ro->be[k].invalid};
                tx_backend_endpoints(t, *rule_src(ro, k), &be[k], l->gw->ext_allowed);
            }
            if (nmi) {
                struct tr_ir_mirror *mi = (struct tr_ir_mirror *)(void *)(be + ro->nbe);
                memcpy(mi, rm->v, nmi * sizeof(*mi));
                for (size_t k = 0; k < nmi; k++)
                    tx_backend_endpoints(t, rm->src[k], &mi[k].backend, l->gw->ext_allowed);
            }
            ap->be[i] = be;
        }
        struct tr_ir_rule ir = {0};
        ir.spec = &ro->spec;
        ir.hostnames = at->hosts;
        ir.backends = ap->be[i];
        ir.nbackends = (uint32_t)ro->nbe;
        ir.nmirrors = (uint32_t)nmi;
        tx_ir_add_rule(t, l, &ir);
    }
}

static void route_apply(struct tx *t, enum tr_kind kind, size_t ri, const struct tx_unit *u)
{
    t->status[kind][ri] = u->status;
    struct applied ap;
    ap.gw = NULL;
    for (size_t i = 0; i < u->natt; i++) {
        const struct att *a = &u->att[i];
        if (a->mesh) {
            struct lst *l = tx_mesh_set(t, a->owner, a->li, t->v->objs[kind][ri]->ns);
            t->msvcs[a->owner].ports[a->li].named |= a->set;
            l->attached++;
            attach(t, l, a, u, &ap);
            continue;
        }
        struct lst *l = a->set ? &t->lsets[a->owner].l[a->li] : &t->gws[a->owner].l[a->li];
        l->attached++;
        if (l->accepted)
            attach(t, l, a, u, &ap);
    }
}

void tx_routes(struct tx *t, enum tr_kind kind)
{
    struct tx_unit **u = t->unit_of[kind] = tr_xcalloc(t->v->n[kind] + 1, sizeof(*u));
    for (size_t ri = 0; ri < t->v->n[kind]; ri++) {
        const struct tr_obj *r = t->v->objs[kind][ri];
        u[ri] = t->in->memo ? tx_memo_route(t, kind, r) : tx_route_translate(t, kind, r, false);
    }
}

void tx_routes_apply(struct tx *t)
{
    for (size_t n = 0; n < t->nranked; n++) {
        const struct tx_ranked *rk = &t->ranked[n];
        route_apply(t, (enum tr_kind)rk->kind, rk->i, t->unit_of[rk->kind][rk->i]);
    }
}
