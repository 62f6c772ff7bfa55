/* GatewayClasses, Gateways, ListenerSets and their listeners: acceptance, conflicts, TLS
 * references, addresses, and the status of each. Routes attach afterwards (route.c). */
#include "translate/internal.h"
#include "base/map.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const tr_supported_features[] = {
    "BackendTLSPolicy",
    "BackendTLSPolicySANValidation",
    "GRPCRoute",
    "GRPCRouteNamedRouteRule",
    "Gateway",
    "GatewayAddressEmpty",
    "GatewayBackendClientCertificate",
    "GatewayFrontendClientCertificateValidation",
    "GatewayFrontendClientCertificateValidationInsecureFallback",
    "GatewayHTTPListenerIsolation",
    "GatewayHTTPSListenerDetectMisdirectedRequests",
    "GatewayPort8080",
    "GatewayStaticAddresses",
    "HTTPRoute",
    "HTTPRoute303RedirectStatusCode",
    "HTTPRoute307RedirectStatusCode",
    "HTTPRoute308RedirectStatusCode",
    "HTTPRouteBackendProtocolH2C",
    "HTTPRouteBackendProtocolWebSocket",
    "HTTPRouteBackendRequestHeaderModification",
    "HTTPRouteBackendTimeout",
    "HTTPRouteCORS",
    "HTTPRouteDestinationPortMatching",
    "HTTPRouteHostRewrite",
    "HTTPRouteMethodMatching",
    "HTTPRouteNamedRouteRule",
    "HTTPRouteParentRefPort",
    "HTTPRoutePathRedirect",
    "HTTPRoutePathRewrite",
    "HTTPRoutePortRedirect",
    "HTTPRouteQueryParamMatching",
    "HTTPRouteRequestMirror",
    "HTTPRouteRequestMultipleMirrors",
    "HTTPRouteRequestPercentageMirror",
    "HTTPRouteRequestTimeout",
    "HTTPRouteResponseHeaderModification",
    "HTTPRouteRetry",
    "HTTPRouteRetryBackendTimeout",
    "HTTPRouteRetryConnectionError",
    "HTTPRouteSchemeRedirect",
    "ListenerSet",
    "ReferenceGrant",
    "TCPRoute",
    "TLSRoute",
    "TLSRouteModeMixed",
    "TLSRouteModeTerminate",
    "UDPRoute",
    NULL,
};

const char *const tr_provisioning_features[] = {"GatewayInfrastructurePropagation", NULL};

/* Claimed as well when torii is the mesh (tr_tx_input.mesh), each backed by its conformance
 * case; MeshHTTPRouteRewritePath, which no v1.6.1 case plays and whose effect a mesh step cannot
 * see (the path the server received), by tests/mesh/run. */
const char *const tr_mesh_features[] = {
    "Mesh",
    "MeshClusterIPMatching",
    "MeshConsumerRoute",
    "MeshHTTPRouteBackendRequestHeaderModification",
    "MeshHTTPRouteNamedRouteRule",
    "MeshHTTPRouteQueryParamMatching",
    "MeshHTTPRouteRedirectPath",
    "MeshHTTPRouteRedirectPort",
    "MeshHTTPRouteRewritePath",
    "MeshHTTPRouteSchemeRedirect",
    NULL,
};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void tr_gateway_service_name(char out[64], const char *gw, const char *cls)
{
    char full[600];
    snprintf(full, sizeof(full), "%s-%s", gw, cls);
    size_t n = strlen(full);
    if (n <= 63) {
        memcpy(out, full, n + 1);
        return;
    }
    uint64_t h = tr_hash(full, n);
    n = 54;
    while (n > 0 && full[n - 1] == '-') /* no "--" before the hash */
        n--;
    snprintf(out, 64, "%.*s-%08x", (int)n, full, (unsigned)(h & 0xffffffffu));
}

int tx_bind_port(const struct tx *t, const struct lst *l)
{
    if (!t->in->service_mode)
        return l->port;
    const char *ip = l->proto == TR_PROTO_UDP ? "UDP" : "TCP";
    const struct tr_node *ports = tr_node_path(l->gw->svc ? l->gw->svc->root : NULL, "spec.ports");
    for (size_t i = 0; i < tr_node_len(ports); i++) {
        const struct tr_node *p = tr_node_at(ports, i);
        const char *proto = str_or(tr_node_gets(p, "protocol"), "TCP");
        int64_t tp = tr_node_geti(p, "targetPort", 0);
        if (tr_node_geti(p, "port", 0) == l->port && strcmp(proto, ip) == 0 && tp > 0 && tp < 65536)
            return (int)tp;
    }
    return 0;
}

/* Service mode: the Gateway's generated Service, if it exists and is torii's. */
static const struct tr_obj *gateway_service(struct tx *t, const struct gw *g)
{
    char name[64];
    tr_gateway_service_name(name, g->obj->name, str_or(tr_node_gets(g->obj->spec, "gatewayClassName"), ""));
    const struct tr_obj *svc = tr_view_find(t->v, TR_KIND_SERVICE, g->obj->ns, name);
    const char *mgr = tr_node_gets(tr_node_path(svc ? svc->root : NULL, "metadata.labels"), TR_LABEL_MANAGED_BY);
    return mgr && strcmp(mgr, "torii") == 0 ? svc : NULL;
}

/* Service mode: the addresses clients reach the Gateway at, from its Service: the load
 * balancer's (an IP, or a hostname), else the cluster IPs. NULL when there is none yet. */
static struct tr_node *service_addresses(struct tx *t, const struct gw *g)
{
    if (!g->svc)
        return NULL;
    struct tr_node *out = tr_node_new(t->a, TR_N_SEQ);
    const struct tr_node *ing = tr_node_path(g->svc->root, "status.loadBalancer.ingress");
    for (size_t i = 0; i < tr_node_len(ing) && tr_node_len(out) < 16; i++) {
        const char *ip = tr_node_gets(tr_node_at(ing, i), "ip"), *host = tr_node_gets(tr_node_at(ing, i), "hostname");
        struct tr_node *m = tr_node_new(t->a, TR_N_MAP);
        tr_node_set(t->a, m, "type", tr_node_str(t->a, ip ? "IPAddress" : "Hostname"));
        tr_node_set(t->a, m, "value", tr_node_str(t->a, ip ? ip : host ? host : ""));
        if (ip || host)
            tr_node_push(t->a, out, m);
    }
    const struct tr_node *spec = tr_node_get(g->svc->root, "spec");
    const char *type = str_or(tr_node_gets(spec, "type"), "ClusterIP");
    if (!tr_node_len(out) && strcmp(type, "LoadBalancer") != 0) {
        const struct tr_node *ips = tr_node_get(spec, "clusterIPs");
        for (size_t i = 0; i < tr_node_len(ips); i++) {
            const char *ip = tr_node_at(ips, i)->type == TR_N_STR ? tr_node_at(ips, i)->u.s : NULL;
            if (!ip || strcmp(ip, "None") == 0)
                continue;
            struct tr_node *m = tr_node_new(t->a, TR_N_MAP);
            tr_node_set(t->a, m, "type", tr_node_str(t->a, "IPAddress"));
            tr_node_set(t->a, m, "value", tr_node_str(t->a, ip));
            tr_node_push(t->a, out, m);
        }
    }
    return tr_node_len(out) ? out : NULL;
}


/* Service mode: the address a Gateway asks for (spec.addresses, an IPAddress with a value), or
 * NULL. *many: it asks for more than one. */
const char *tr_gateway_requested_ip(const struct tr_obj *gw, bool *many)
{
    const struct tr_node *addrs = tr_node_get(gw->spec, "addresses");
    const char *ip = NULL;
    *many = false;
    for (size_t i = 0; i < tr_node_len(addrs); i++) {
        const char *v = tr_node_gets(tr_node_at(addrs, i), "value");
        if (!v || !v[0])
            continue; /* "assign one": the load balancer does */
        if (ip)
            *many = true;
        else
            ip = v;
    }
    return ip;
}

/* Service mode: why a Gateway's spec.addresses cannot be honoured, or NULL. One IP address is
 * passed to its LoadBalancer Service (spec.loadBalancerIP, provision.c); the Gateway is then
 * Programmed once the load balancer has given exactly that address. */
static const char *static_address_problem(struct tx *t, const struct gw *g, const struct tr_node *svc_addrs)
{
    bool many;
    const char *ip = tr_gateway_requested_ip(g->obj, &many);
    if (!ip)
        return NULL;
    if (many)
        return "In a cluster a Gateway's address is its Service's, and a Service can be asked for one address: "
               "keep one in spec.addresses";
    const struct tr_obj *gc = tr_view_find(t->v, TR_KIND_GATEWAYCLASS, "",
                                           str_or(tr_node_gets(g->obj->spec, "gatewayClassName"), ""));
    struct tr_class_params cp = {"LoadBalancer", NULL, NULL, false, NULL};
    if (gc)
        tr_gatewayclass_params(t->a, t->v, gc, &cp);
    if (strcmp(cp.service_type, "LoadBalancer") != 0)
        return tr_arena_printf(t->a, "%s: only a LoadBalancer Service can be asked for an address; this class makes "
                                     "%s Services",
                               ip, cp.service_type);
    for (size_t i = 0; i < tr_node_len(svc_addrs); i++)
        if (strcmp(str_or(tr_node_gets(tr_node_at(svc_addrs, i), "value"), ""), ip) != 0)
            return tr_arena_printf(t->a, "%s was asked of the load balancer, which gave %s instead", ip,
                                   tr_node_gets(tr_node_at(svc_addrs, i), "value"));
    return NULL;
}

/* --- GatewayClass --- */

static bool one_of(const char *v, const char *const *allowed)
{
    for (; *allowed; allowed++)
        if (strcmp(v, *allowed) == 0)
            return true;
    return false;
}

const char *tr_gatewayclass_params(struct tr_arena *a, const struct tr_view *v, const struct tr_obj *gc,
                                   struct tr_class_params *p)
{
    *p = (struct tr_class_params){"LoadBalancer", NULL, NULL, false, NULL};
    const struct tr_node *ref = tr_node_get(gc->spec, "parametersRef");
    if (!ref)
        return NULL;
    const char *group = str_or(tr_node_gets(ref, "group"), ""), *kind = str_or(tr_node_gets(ref, "kind"), "");
    const char *name = str_or(tr_node_gets(ref, "name"), ""), *ns = tr_node_gets(ref, "namespace");
    if (group[0] || strcmp(kind, "ConfigMap") != 0)
        return tr_arena_printf(a, "parametersRef: torii reads its parameters from a core ConfigMap, not %s%s%s", group,
                               group[0] ? "/" : "", kind);
    if (!ns)
        return "parametersRef: a ConfigMap needs its namespace";
    const struct tr_obj *cm = tr_view_find(v, TR_KIND_CONFIGMAP, ns, name);
    if (!cm)
        return tr_arena_printf(a, "parametersRef: ConfigMap %s/%s not found (or it holds none of torii's keys)", ns,
                               name);
    const char *dropped = tr_node_gets(tr_node_path(cm->root, "metadata.annotations"), TR_ANN_DROPPED_KEYS);
    if (dropped && dropped[0])
        return tr_arena_printf(a, "parametersRef: ConfigMap %s/%s: unknown keys: %s", ns, name, dropped);
    const struct tr_node *data = tr_node_get(cm->root, "data");
    static const char *const types[] = {"LoadBalancer", "ClusterIP", "NodePort", NULL};
    static const char *const policies[] = {"Cluster", "Local", NULL};
    static const char *const allow_deny[] = {"Allow", "Deny", NULL};
    for (uint32_t i = 0; data && data->type == TR_N_MAP && i < data->n; i++) {
        const char *k = data->u.kv[i].key;
        const char *val = data->u.kv[i].val->type == TR_N_STR ? data->u.kv[i].val->u.s : "";
        bool shapes = strcmp(k, "serviceType") == 0 || strcmp(k, "externalTrafficPolicy") == 0 ||
                      strcmp(k, "loadBalancerClass") == 0;
        if (shapes && !p->service_key)
            p->service_key = k;
        if (strcmp(k, "serviceType") == 0 && one_of(val, types))
            p->service_type = val;
        else if (strcmp(k, "externalTrafficPolicy") == 0 && one_of(val, policies))
            p->external_traffic_policy = val;
        else if (strcmp(k, "loadBalancerClass") == 0 && val[0])
            p->load_balancer_class = val;
        else if (strcmp(k, TR_PARAM_EXTERNAL_NAME) == 0 && one_of(val, allow_deny))
            p->external_name_services = strcmp(val, "Allow") == 0;
        else if (shapes || strcmp(k, TR_PARAM_EXTERNAL_NAME) == 0)
            return tr_arena_printf(a, "parametersRef: ConfigMap %s/%s: %s: unsupported value \"%s\"", ns, name, k, val);
        else
            return tr_arena_printf(a, "parametersRef: ConfigMap %s/%s: unknown key %s", ns, name, k);
    }
    if (p->load_balancer_class && strcmp(p->service_type, "LoadBalancer") != 0)
        return "parametersRef: loadBalancerClass is for serviceType LoadBalancer only";
    if (p->external_traffic_policy && strcmp(p->external_traffic_policy, "Local") == 0 &&
        strcmp(p->service_type, "ClusterIP") == 0)
        return "parametersRef: externalTrafficPolicy Local is for LoadBalancer and NodePort Services only";
    return NULL;
}

void tx_gatewayclasses(struct tx *t)
{
    const struct tr_view *v = t->v;
    size_t n = v->n[TR_KIND_GATEWAYCLASS];
    t->class_ours = TR_ANEWN(t->a, bool, n + 1);
    t->class_accepted = TR_ANEWN(t->a, bool, n + 1);
    t->class_ext = TR_ANEWN(t->a, bool, n + 1);
    for (size_t i = 0; i < n; i++) {
        const struct tr_obj *gc = v->objs[TR_KIND_GATEWAYCLASS][i];
        const char *ctl = tr_node_gets(gc->spec, "controllerName");
        if (!ctl || strcmp(ctl, t->in->controller) != 0)
            continue;
        t->class_ours[i] = true;
        struct conds cs = {0};
        struct tr_node *params = tr_node_get(gc->spec, "parametersRef");
        struct tr_class_params cp;
        const char *why = tr_gatewayclass_params(t->a, t->v, gc, &cp);
        /* The Service-shaping keys shape the Services torii generates in a cluster: from a
         * directory there are none to shape, and a key silently ignored would mislead. */
        if (!why && params && !t->in->provisions && cp.service_key)
            why = tr_arena_printf(t->a, "parametersRef: %s shapes the Services torii generates in a cluster, and "
                                        "from a directory it generates none; of the parameters only %s is read "
                                        "here",
                                  cp.service_key, TR_PARAM_EXTERNAL_NAME);
        if (why) {
            cset(&cs, "Accepted", false, TR_R_INVALID_PARAMETERS, why);
        } else {
            cset(&cs, "Accepted", true, TR_R_ACCEPTED, "Handled by torii");
            t->class_accepted[i] = true;
            t->class_ext[i] = cp.external_name_services;
        }
        cset(&cs, "SupportedVersion", true, TR_R_SUPPORTED_VERSION, "Gateway API v1.6.1");
        struct tr_node *st = tr_node_new(t->a, TR_N_MAP);
        tr_node_set(t->a, st, "conditions", conds_render(t->a, &cs, gc->generation));
        struct tr_node *feats = tr_node_new(t->a, TR_N_SEQ);
        const char *names[128];
        size_t nnames = 0;
        const char *const *lists[] = {tr_supported_features, t->in->provisions ? tr_provisioning_features : NULL,
                                      t->in->mesh ? tr_mesh_features : NULL};
        for (size_t l = 0; l < TR_ARRAY_LEN(lists); l++)
            for (const char *const *f = lists[l]; f && *f; f++) {
                TR_BUG_ON(nnames == TR_ARRAY_LEN(names));
                names[nnames++] = *f;
            }
        qsort(names, nnames, sizeof(*names), cmp_str); /* sorted, as the spec asks */
        for (size_t k = 0; k < nnames; k++) {
            const char *name = names[k];
            /* Through a Service, spec.addresses cannot be honoured yet (gateway_addresses). */
            if (t->in->service_mode &&
                (strcmp(name, "GatewayStaticAddresses") == 0 || strcmp(name, "GatewayAddressEmpty") == 0))
                continue;
            struct tr_node *m = tr_node_new(t->a, TR_N_MAP);
            tr_node_set(t->a, m, "name", tr_node_str(t->a, name));
            tr_node_push(t->a, feats, m);
        }
        tr_node_set(t->a, st, "supportedFeatures", feats);
        t->status[TR_KIND_GATEWAYCLASS][i] = st;
    }
}

/* --- label selectors (metav1.LabelSelector) --- */

static const char *label_of(const struct tr_node *labels, const char *key, const char *ns)
{
    const char *v = tr_node_gets(labels, key);
    if (!v && strcmp(key, "kubernetes.io/metadata.name") == 0)
        v = ns; /* set on every Namespace by the API server */
    return v;
}

static bool in_values(const struct tr_node *values, const char *v)
{
    for (size_t i = 0; v && i < tr_node_len(values); i++) {
        const struct tr_node *x = tr_node_at(values, i);
        if (x->type == TR_N_STR && strcmp(x->u.s, v) == 0)
            return true;
    }
    return false;
}

static bool selector_matches(const struct tr_node *sel, const struct tr_node *labels, const char *ns)
{
    const struct tr_node *ml = tr_node_get(sel, "matchLabels");
    for (size_t i = 0; i < tr_node_len(ml); i++) {
        const char *v = label_of(labels, ml->u.kv[i].key, ns);
        if (!v || ml->u.kv[i].val->type != TR_N_STR || strcmp(v, ml->u.kv[i].val->u.s) != 0)
            return false;
    }
    const struct tr_node *me = tr_node_get(sel, "matchExpressions");
    for (size_t i = 0; i < tr_node_len(me); i++) {
        const struct tr_node *e = tr_node_at(me, i);
        const char *key = tr_node_gets(e, "key"), *op = tr_node_gets(e, "operator");
        if (!key || !op)
            return false;
        const char *v = label_of(labels, key, ns);
        const struct tr_node *vals = tr_node_get(e, "values");
        bool ok = strcmp(op, "In") == 0            ? in_values(vals, v)
                  : strcmp(op, "NotIn") == 0        ? !in_values(vals, v)
                  : strcmp(op, "Exists") == 0       ? v != NULL
                  : strcmp(op, "DoesNotExist") == 0 ? v == NULL
                                                    : false;
        if (!ok)
            return false;
    }
    return true;
}

bool tx_namespace_allowed(struct tx *t, const struct tr_node *rule, const char *def_from, const char *owner_ns,
                          const char *ns)
{
    const char *from = str_or(tr_node_gets(rule, "from"), def_from);
    if (strcmp(from, "All") == 0)
        return true;
    if (strcmp(from, "Same") == 0)
        return strcmp(owner_ns, ns) == 0;
    if (strcmp(from, "Selector") == 0) {
        const struct tr_obj *nso = tr_view_find(t->v, TR_KIND_NAMESPACE, "", ns);
        const struct tr_node *labels = nso ? tr_node_path(nso->root, "metadata.labels") : NULL;
        return selector_matches(tr_node_get(rule, "selector"), labels, ns);
    }
    return false; /* None */
}

/* --- listeners --- */

static const struct {
    const char *name;
    enum tr_proto proto;
    const char *kinds[3];
} protocols[] = {
    {"HTTP", TR_PROTO_HTTP, {"HTTPRoute", "GRPCRoute", NULL}},
    {"HTTPS", TR_PROTO_HTTPS, {"HTTPRoute", "GRPCRoute", NULL}},
    {"TLS", TR_PROTO_TLS, {"TLSRoute", NULL}},
    {"TCP", TR_PROTO_TCP, {"TCPRoute", NULL}},
    {"UDP", TR_PROTO_UDP, {"UDPRoute", NULL}},
};

static char *msgf(struct tx *t, const char *fmt, const char *arg)
{
    return tr_arena_printf(t->a, fmt, arg);
}

/* certificateRefs of a Terminate listener: each a Secret (core group), in the owner's namespace
 * or permitted by a ReferenceGrant, holding a usable key pair. */
static void listener_certs(struct tx *t, struct lst *l, const struct tr_obj *owner)
{
    const struct tr_node *refs = tr_node_path(l->spec, "tls.certificateRefs");
    size_t n = tr_node_len(refs);
    l->certs = TR_ANEWN(t->a, const struct tr_obj *, n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const struct tr_node *r = tr_node_at(refs, i);
        const char *group = str_or(tr_node_gets(r, "group"), "");
        const char *kind = str_or(tr_node_gets(r, "kind"), "Secret");
        const char *name = tr_node_gets(r, "name");
        const char *ns = str_or(tr_node_gets(r, "namespace"), owner->ns);
        if (group[0] || strcmp(kind, "Secret") != 0) {
            cset(&l->conds, "ResolvedRefs", false, TR_R_INVALID_CERTIFICATE_REF,
                 tr_arena_printf(t->a, "certificateRefs[%zu]: only core Secrets are supported, not %s%s%s", i,
                                 kind, group[0] ? "." : "", group));
            l->refs_ok = false;
            continue;
        }
        if (strcmp(ns, owner->ns) != 0 &&
            !tx_refgrant_allows(t, TR_GW_GROUP, tr_kind_name(owner->kind), owner->ns, "", "Secret", ns, name)) {
            cset(&l->conds, "ResolvedRefs", false, TR_R_REF_NOT_PERMITTED,
                 tr_arena_printf(t->a, "certificateRefs[%zu]: Secret %s/%s is not permitted by any ReferenceGrant", i,
                                 ns, name));
            l->refs_ok = false;
            continue;
        }
        const struct tr_obj *sec = tr_view_find(t->v, TR_KIND_SECRET, ns, name);
        const char *why = sec ? tx_tls_secret_problem(t, sec) : "Secret not found";
        if (why) {
            cset(&l->conds, "ResolvedRefs", false, TR_R_INVALID_CERTIFICATE_REF,
                 tr_arena_printf(t->a, "certificateRefs[%zu]: %s/%s: %s", i, ns, name, why));
            l->refs_ok = false;
            continue;
        }
        l->certs[k++] = sec;
    }
}

/* Frontend client-certificate validation: caCertificateRefs must be ConfigMaps (or Secrets)
 * with a CA bundle. */
static void listener_frontend(struct tx *t, struct lst *l, const struct tr_obj *owner, const struct tr_node *validation)
{
    const struct tr_node *refs = tr_node_get(validation, "caCertificateRefs");
    const char *mode = tr_node_gets(validation, "mode");
    l->client_optional = mode && strcmp(mode, "AllowInsecureFallback") == 0;
    l->client_cas = tr_arena_alloc(t->a, (tr_node_len(refs) + 1) * sizeof(*l->client_cas));
    size_t ncas = 0;
    l->client_cas[0] = NULL;
    for (size_t i = 0; i < tr_node_len(refs); i++) {
        const struct tr_node *r = tr_node_at(refs, i);
        const char *group = str_or(tr_node_gets(r, "group"), "");
        const char *kind = str_or(tr_node_gets(r, "kind"), "");
        const char *name = tr_node_gets(r, "name");
        const char *ns = str_or(tr_node_gets(r, "namespace"), owner->ns);
        int k = strcmp(kind, "ConfigMap") == 0 ? TR_KIND_CONFIGMAP : strcmp(kind, "Secret") == 0 ? TR_KIND_SECRET : -1;
        if (group[0] || k < 0) {
            cset(&l->conds, "ResolvedRefs", false, TR_R_INVALID_CA_CERTIFICATE_KIND,
                 tr_arena_printf(t->a, "caCertificateRefs[%zu]: unsupported kind %s", i, kind));
            l->refs_ok = false;
            continue;
        }
        if (strcmp(ns, owner->ns) != 0 &&
            !tx_refgrant_allows(t, TR_GW_GROUP, tr_kind_name(owner->kind), owner->ns, "", kind, ns, name)) {
            cset(&l->conds, "ResolvedRefs", false, TR_R_REF_NOT_PERMITTED,
                 tr_arena_printf(t->a, "caCertificateRefs[%zu]: %s %s/%s is not permitted by any ReferenceGrant", i,
                                 kind, ns, name));
            l->refs_ok = false;
            continue;
        }
        const struct tr_obj *o = tr_view_find(t->v, (enum tr_kind)k, ns, name);
        const char *why = o ? tx_ca_bundle_problem(t, o) : "not found";
        if (why) {
            cset(&l->conds, "ResolvedRefs", false, TR_R_INVALID_CA_CERTIFICATE_REF,
                 tr_arena_printf(t->a, "caCertificateRefs[%zu]: %s %s/%s: %s", i, kind, ns, name, why));
            l->refs_ok = false;
            continue;
        }
        l->client_cas[ncas++] = o;
        l->client_cas[ncas] = NULL;
    }
}

/* The per-port frontend validation that applies to listener l, if any (spec.tls.frontend). */
static const struct tr_node *frontend_validation(const struct gw *g, const struct lst *l)
{
    const struct tr_node *fe = tr_node_path(g->obj->spec, "tls.frontend");
    if (!fe)
        return NULL;
    const struct tr_node *per = tr_node_get(fe, "perPort");
    for (size_t i = 0; i < tr_node_len(per); i++) {
        const struct tr_node *p = tr_node_at(per, i);
        if (tr_node_geti(p, "port", -1) == l->port)
            return tr_node_path(p, "tls.validation");
    }
    return tr_node_path(fe, "default.validation");
}

static void listener_init(struct tx *t, struct lst *l, struct gw *g, struct lset *set, const struct tr_node *spec)
{
    const struct tr_obj *owner = set ? set->obj : g->obj;
    l->gw = g;
    l->set = set;
    l->spec = spec;
    l->name = tr_node_gets(spec, "name");
    l->hostname = tr_node_gets(spec, "hostname");
    l->port = (int)tr_node_geti(spec, "port", 0);
    l->refs_ok = true;
    const char *proto = str_or(tr_node_gets(spec, "protocol"), "");
    const char *const *kinds = NULL;
    for (size_t i = 0; i < TR_ARRAY_LEN(protocols); i++) {
        if (strcmp(protocols[i].name, proto) == 0) {
            l->proto = protocols[i].proto;
            l->proto_ok = true;
            kinds = protocols[i].kinds;
        }
    }
    cset(&l->conds, "Accepted", true, TR_R_ACCEPTED, "Listener is valid");
    cset(&l->conds, "Programmed", true, TR_R_PROGRAMMED, "Listener is serving");
    cset(&l->conds, "ResolvedRefs", true, TR_R_RESOLVED_REFS, "All references resolved");
    cset(&l->conds, "Conflicted", false, TR_R_NO_CONFLICTS, "No conflicts");
    if (!l->proto_ok) {
        cset(&l->conds, "Accepted", false, TR_R_UNSUPPORTED_PROTOCOL,
             msgf(t, "protocol %s is not supported (HTTP, HTTPS, TLS, TCP, UDP are)", proto));
        cset(&l->conds, "Programmed", false, TR_R_INVALID, "Listener is not valid");
        return;
    }
    l->accepted = true;

    /* allowedRoutes.kinds: keep those this protocol serves; any other is InvalidRouteKinds. */
    const struct tr_node *want = tr_node_path(spec, "allowedRoutes.kinds");
    if (tr_node_len(want)) {
        for (size_t i = 0; i < tr_node_len(want); i++) {
            const struct tr_node *k = tr_node_at(want, i);
            const char *group = str_or(tr_node_gets(k, "group"), TR_GW_GROUP);
            const char *kind = str_or(tr_node_gets(k, "kind"), "");
            bool ok = false;
            for (const char *const *s = kinds; *s && !ok; s++)
                ok = strcmp(group, TR_GW_GROUP) == 0 && strcmp(kind, *s) == 0;
            bool dup = false;
            for (int j = 0; j < l->nkinds; j++)
                dup |= strcmp(l->kinds[j], kind) == 0;
            if (ok && !dup && l->nkinds < 3)
                l->kinds[l->nkinds++] = tr_arena_strdup(t->a, kind);
            else if (!ok) {
                cset(&l->conds, "ResolvedRefs", false, TR_R_INVALID_ROUTE_KINDS,
                     tr_arena_printf(t->a, "route kind %s/%s is not supported on a %s listener", group, kind, proto));
                l->refs_ok = false;
            }
        }
    } else {
        for (const char *const *s = kinds; *s; s++)
            l->kinds[l->nkinds++] = *s;
    }

    const char *mode = str_or(tr_node_path(spec, "tls.mode") ? tr_node_gets(tr_node_get(spec, "tls"), "mode") : NULL,
                              "Terminate");
    if (l->proto == TR_PROTO_HTTPS || l->proto == TR_PROTO_TLS) {
        l->passthrough = strcmp(mode, "Passthrough") == 0;
        if (l->proto == TR_PROTO_HTTPS && l->passthrough) {
            cset(&l->conds, "Accepted", false, TR_R_UNSUPPORTED_VALUE, "HTTPS listeners terminate TLS");
            l->accepted = false;
        } else if (!l->passthrough) {
            listener_certs(t, l, owner);
            const struct tr_node *val = set ? NULL : frontend_validation(g, l);
            bool certs_ok = l->refs_ok;
            if (val)
                listener_frontend(t, l, owner, val);
            if (certs_ok && !l->refs_ok) {
                /* Client-certificate validation that cannot be done must not degrade into
                 * accepting every client: the listener is not accepted (GEP-91). */
                cset(&l->conds, "Accepted", false, TR_R_NO_VALID_CA_CERTIFICATE,
                     "No usable CA certificate for client certificate validation");
                l->accepted = false;
            }
        }
    }
    if (!l->refs_ok)
        cset(&l->conds, "Programmed", false, TR_R_INVALID, "Listener has unresolved references");
    if (!l->accepted)
        cset(&l->conds, "Programmed", false, TR_R_INVALID, "Listener is not valid");
}

/* Listeners share a port only when the protocol can tell them apart: HTTP by Host, HTTPS and
 * TLS by SNI; UDP has its own port space. */
static int transport_class(const struct lst *l)
{
    switch (l->proto) {
    case TR_PROTO_HTTP:
        return 0;
    case TR_PROTO_HTTPS:
    case TR_PROTO_TLS:
        return 1;
    case TR_PROTO_TCP:
        return 2;
    case TR_PROTO_UDP:
        return 3;
    }
    return 4;
}

static void conflict(struct lst *l, enum tr_reason r, const char *msg)
{
    l->conflicted = true;
    l->accepted = false;
    cset(&l->conds, "Conflicted", true, r, msg);
    cset(&l->conds, "Accepted", false, r, msg);
    cset(&l->conds, "Programmed", false, r, msg);
}

/* Listeners in precedence order: the Gateway's own, then each ListenerSet's (sets ordered by
 * creation, then namespace/name). A listener that collides with one before it loses; two of
 * the same owner both lose (neither has precedence). */
static void resolve_conflicts(struct gw *g)
{
    size_t total = g->nl;
    for (size_t s = 0; s < g->nsets; s++)
        total += g->sets[s]->nl;
    struct lst **all = calloc(total ? total : 1, sizeof(*all));
    size_t n = 0;
    for (size_t i = 0; i < g->nl; i++)
        all[n++] = &g->l[i];
    for (size_t s = 0; s < g->nsets; s++)
        for (size_t i = 0; i < g->sets[s]->nl; i++)
            all[n++] = &g->sets[s]->l[i];
    for (size_t i = 0; i < n; i++) {
        struct lst *li = all[i];
        if (!li->proto_ok || li->conflicted)
            continue;
        for (size_t j = 0; j < i; j++) {
            struct lst *lj = all[j];
            if (!lj->proto_ok || lj->port != li->port || lj->conflicted)
                continue;
            int ci = transport_class(li), cj = transport_class(lj);
            if ((ci == 3) != (cj == 3))
                continue; /* UDP and TCP ports are different ports */
            enum tr_reason r;
            if (ci != cj)
                r = TR_R_PROTOCOL_CONFLICT;
            else if (strcmp(str_or(li->hostname, ""), str_or(lj->hostname, "")) == 0)
                r = TR_R_HOSTNAME_CONFLICT;
            else if (ci == 2 || ci == 3)
                r = TR_R_HOSTNAME_CONFLICT; /* TCP/UDP cannot tell hostnames apart */
            else
                continue;
            const char *msg = r == TR_R_PROTOCOL_CONFLICT ? "Another listener on this port uses an incompatible protocol"
                                                          : "Another listener on this port has the same hostname";
            conflict(li, r, msg);
            if (lj->set == li->set)
                conflict(lj, r, msg);
            break;
        }
    }
    free(all);
}

struct gw *tx_gw_of(struct tx *t, const struct tr_obj *gw)
{
    long i = tr_view_index(t->v, gw);
    return i < 0 ? NULL : &t->gws[i];
}

static int cmp_lset(const void *a, const void *b)
{
    const struct lset *x = *(struct lset *const *)a, *y = *(struct lset *const *)b;
    if (x->obj->created != y->obj->created)
        return x->obj->created < y->obj->created ? -1 : 1;
    int c = strcmp(x->obj->ns, y->obj->ns);
    return c ? c : strcmp(x->obj->name, y->obj->name);
}

/* Is addr one of g's addresses already, however it is written ("::1" and "0::1" are one)? */
static bool has_address(const struct gw *g, const char *addr)
{
    char x[256], y[256];
    int fx, fy;
    tx_addr_canon(addr, x, sizeof(x), &fx);
    for (size_t j = 0; j < g->naddrs; j++)
        if (strcmp(tx_addr_canon(g->addrs[j], y, sizeof(y), &fy), x) == 0)
            return true;
    return false;
}

/* spec.addresses: each IPAddress value is a static address the Gateway is bound to, besides the
 * others; an entry without a value asks for one to be assigned (GatewayAddressEmpty), as does a
 * Gateway without entries. Other types are not supported (Accepted=False UnsupportedAddress,
 * gateway_types.go). */
static void gateway_addresses(struct tx *t, struct gw *g)
{
    const struct tr_node *addrs = tr_node_get(g->obj->spec, "addresses");
    size_t n = tr_node_len(addrs);
    for (size_t i = 0; i < n && t->in->service_mode; i++) {
        const char *type = str_or(tr_node_gets(tr_node_at(addrs, i), "type"), "IPAddress");
        if (strcmp(type, "IPAddress") != 0) {
            cset(&g->conds, "Accepted", false, TR_R_UNSUPPORTED_ADDRESS,
                 msgf(t, "address type %s is not supported (IPAddress is)", type));
            g->accepted = false;
        }
    }
    if (t->in->service_mode) {
        /* Reached through its Service: every replica listens on all addresses, at the ports the
         * Service sends the Gateway's traffic to. */
        g->svc = gateway_service(t, g);
        g->addrs = TR_ANEWN(t->a, const char *, 1);
        g->addrs[g->naddrs++] = "0.0.0.0";
        g->addr_unusable = TR_ANEWN(t->a, bool, 1);
        return;
    }
    g->addrs = TR_ANEWN(t->a, const char *, n + 2);
    bool want_alloc = n == 0;
    for (size_t i = 0; i < n; i++) {
        const struct tr_node *a = tr_node_at(addrs, i);
        const char *type = str_or(tr_node_gets(a, "type"), "IPAddress");
        const char *value = tr_node_gets(a, "value");
        if (strcmp(type, "IPAddress") != 0) {
            cset(&g->conds, "Accepted", false, TR_R_UNSUPPORTED_ADDRESS,
                 msgf(t, "address type %s is not supported (IPAddress is)", type));
            g->accepted = false;
            g->naddrs = 0;
            return;
        }
        if (!value || !value[0]) {
            want_alloc = true;
            continue;
        }
        if (!has_address(g, value))
            g->addrs[g->naddrs++] = value;
    }
    if (want_alloc) {
        /* The allocator never hands out an address a Gateway names (tx_address_named), so an
         * assigned address is never one this or another Gateway asked for. */
        const char *a = t->in->alloc_address ? t->in->alloc_address(t->in->ud, g->obj, tx_address_named, t) : NULL;
        if (a && !has_address(g, a))
            g->addrs[g->naddrs++] = tr_arena_strdup(t->a, a);
        g->alloc_failed = !a;
    }
    g->addr_unusable = TR_ANEWN(t->a, bool, g->naddrs + 1);
}

/* spec.tls.backend.clientCertificateRef: the certificate the Gateway presents to backends that
 * ask for one. Its state is the Gateway's own ResolvedRefs condition. */
static void gateway_backend_cert(struct tx *t, struct gw *g)
{
    const struct tr_node *ref = tr_node_path(g->obj->spec, "tls.backend.clientCertificateRef");
    if (!ref)
        return;
    const char *group = str_or(tr_node_gets(ref, "group"), "");
    const char *kind = str_or(tr_node_gets(ref, "kind"), "Secret");
    const char *name = str_or(tr_node_gets(ref, "name"), "");
    const char *ns = str_or(tr_node_gets(ref, "namespace"), g->obj->ns);
    const struct tr_obj *sec = NULL;
    const char *why = NULL;
    enum tr_reason r = TR_R_INVALID_CLIENT_CERT_REF;
    if (group[0] || strcmp(kind, "Secret") != 0) {
        why = "only core Secrets are supported";
    } else if (strcmp(ns, g->obj->ns) != 0 &&
               !tx_refgrant_allows(t, TR_GW_GROUP, "Gateway", g->obj->ns, "", "Secret", ns, name)) {
        why = "not permitted by any ReferenceGrant";
        r = TR_R_REF_NOT_PERMITTED;
    } else if (!(sec = tr_view_find(t->v, TR_KIND_SECRET, ns, name))) {
        why = "Secret not found";
    } else {
        why = tx_tls_secret_problem(t, sec);
    }
    if (why) {
        cset(&g->conds, "ResolvedRefs", false, r,
             tr_arena_printf(t->a, "tls.backend.clientCertificateRef %s/%s: %s", ns, name, why));
        g->backend_cert = NULL;
    } else {
        cset(&g->conds, "ResolvedRefs", true, TR_R_RESOLVED_REFS, "All references resolved");
        g->backend_cert = sec;
    }
}

/* spec.tls.frontend in AllowInsecureFallback mode, by default or on some port: the Gateway says
 * so with InsecureFrontendValidationMode (gateway_types.go), a condition that is only present
 * while the mode is in force. */
static void gateway_insecure_fallback(struct tx *t, struct gw *g)
{
    const struct tr_node *fe = tr_node_path(g->obj->spec, "tls.frontend");
    if (!fe)
        return;
    const char *where = NULL;
    const char *mode = tr_node_gets(tr_node_path(fe, "default.validation"), "mode");
    if (mode && strcmp(mode, "AllowInsecureFallback") == 0)
        where = "spec.tls.frontend.default";
    const struct tr_node *per = tr_node_get(fe, "perPort");
    for (size_t i = 0; i < tr_node_len(per) && !where; i++) {
        const struct tr_node *p = tr_node_at(per, i);
        mode = tr_node_gets(tr_node_path(p, "tls.validation"), "mode");
        if (mode && strcmp(mode, "AllowInsecureFallback") == 0)
            where = tr_arena_printf(t->a, "spec.tls.frontend.perPort (port %lld)",
                                    (long long)tr_node_geti(p, "port", 0));
    }
    if (where)
        cset(&g->conds, "InsecureFrontendValidationMode", true, TR_R_CONFIGURATION_CHANGED,
             tr_arena_printf(t->a, "%s accepts clients without a valid certificate (AllowInsecureFallback)", where));
}

void tx_gateways(struct tx *t)
{
    const struct tr_view *v = t->v;
    size_t ngw = v->n[TR_KIND_GATEWAY], nls = v->n[TR_KIND_LISTENERSET];
    t->gws = TR_ANEWN(t->a, struct gw, ngw + 1);
    t->lsets = TR_ANEWN(t->a, struct lset, nls + 1);
    for (size_t i = 0; i < ngw; i++) {
        struct gw *g = &t->gws[i];
        g->obj = v->objs[TR_KIND_GATEWAY][i];
        const struct tr_obj *gc = tr_view_find(v, TR_KIND_GATEWAYCLASS, "", str_or(tr_node_gets(g->obj->spec, "gatewayClassName"), ""));
        long ci = gc ? tr_view_index(v, gc) : -1;
        g->ours = ci >= 0 && t->class_ours[ci] && t->class_accepted[ci];
        g->ext_allowed = g->ours && t->class_ext[ci];
    }
    tx_named_addresses(t); /* before any address is assigned */
    for (size_t i = 0; i < ngw; i++) {
        struct gw *g = &t->gws[i];
        if (!g->ours)
            continue;
        g->accepted = true;
        cset(&g->conds, "Accepted", true, TR_R_ACCEPTED, "Gateway is accepted");
        cset(&g->conds, "Programmed", true, TR_R_PROGRAMMED, "Gateway is programmed");
        const struct tr_node *ls = tr_node_get(g->obj->spec, "listeners");
        g->nl = tr_node_len(ls);
        g->l = TR_ANEWN(t->a, struct lst, g->nl + 1);
        for (size_t j = 0; j < g->nl; j++)
            listener_init(t, &g->l[j], g, NULL, tr_node_at(ls, j));
        if (tr_node_path(g->obj->spec, "infrastructure.parametersRef")) {
            cset(&g->conds, "Accepted", false, TR_R_INVALID_PARAMETERS,
                 "torii takes no Gateway parameters; remove spec.infrastructure.parametersRef");
            g->accepted = false;
        }
        gateway_addresses(t, g);
        gateway_backend_cert(t, g);
        gateway_insecure_fallback(t, g);
    }

    /* ListenerSets: a parent Gateway of ours that allows them from this namespace. */
    for (size_t i = 0; i < nls; i++) {
        struct lset *s = &t->lsets[i];
        s->obj = v->objs[TR_KIND_LISTENERSET][i];
        const struct tr_node *pr = tr_node_get(s->obj->spec, "parentRef");
        const char *kind = str_or(tr_node_gets(pr, "kind"), "Gateway");
        const char *group = str_or(tr_node_gets(pr, "group"), TR_GW_GROUP);
        const char *ns = str_or(tr_node_gets(pr, "namespace"), s->obj->ns);
        const struct tr_obj *po = strcmp(kind, "Gateway") == 0 && strcmp(group, TR_GW_GROUP) == 0
                                      ? tr_view_find(v, TR_KIND_GATEWAY, ns, str_or(tr_node_gets(pr, "name"), ""))
                                      : NULL;
        struct gw *g = po ? tx_gw_of(t, po) : NULL;
        if (!g || !g->ours)
            continue;
        s->ours = true;
        s->gw = g;
        const struct tr_node *ls = tr_node_get(s->obj->spec, "listeners");
        s->nl = tr_node_len(ls);
        s->l = TR_ANEWN(t->a, struct lst, s->nl + 1);
        for (size_t j = 0; j < s->nl; j++)
            listener_init(t, &s->l[j], g, s, tr_node_at(ls, j));
        const struct tr_node *allowed = tr_node_path(g->obj->spec, "allowedListeners.namespaces");
        if (!tx_namespace_allowed(t, allowed, "None", g->obj->ns, s->obj->ns)) {
            cset(&s->conds, "Accepted", false, TR_R_NOT_ALLOWED, "The parent Gateway does not allow ListenerSets from this namespace");
            cset(&s->conds, "Programmed", false, TR_R_NOT_ALLOWED, "The parent Gateway does not allow ListenerSets from this namespace");
            for (size_t j = 0; j < s->nl; j++) {
                s->l[j].accepted = false;
                cset(&s->l[j].conds, "Accepted", false, TR_R_NOT_ALLOWED, "ListenerSet not allowed");
                cset(&s->l[j].conds, "Programmed", false, TR_R_NOT_ALLOWED, "ListenerSet not allowed");
            }
            continue;
        }
        if (!g->accepted) {
            cset(&s->conds, "Accepted", false, TR_R_PARENT_NOT_ACCEPTED, "The parent Gateway is not accepted");
            cset(&s->conds, "Programmed", false, TR_R_PARENT_NOT_PROGRAMMED, "The parent Gateway is not programmed");
            for (size_t j = 0; j < s->nl; j++)
                cset(&s->l[j].conds, "Programmed", false, TR_R_INVALID, "The parent Gateway is not accepted");
            continue;
        }
        s->accepted = true;
    }
    for (size_t i = 0; i < ngw; i++) {
        struct gw *g = &t->gws[i];
        if (!g->ours)
            continue;
        size_t k = 0;
        for (size_t j = 0; j < nls; j++)
            k += t->lsets[j].gw == g && t->lsets[j].accepted;
        g->sets = TR_ANEWN(t->a, struct lset *, k + 1);
        for (size_t j = 0; j < nls; j++)
            if (t->lsets[j].gw == g && t->lsets[j].accepted)
                g->sets[g->nsets++] = &t->lsets[j];
        qsort(g->sets, g->nsets, sizeof(*g->sets), cmp_lset);
        resolve_conflicts(g);
    }
    /* A ListenerSet with no usable listener is not accepted after all. */
    for (size_t i = 0; i < nls; i++) {
        struct lset *s = &t->lsets[i];
        if (!s->accepted)
            continue;
        size_t ok = 0;
        for (size_t j = 0; j < s->nl; j++)
            ok += s->l[j].accepted && s->l[j].refs_ok;
        if (ok == 0) {
            s->accepted = false;
            cset(&s->conds, "Accepted", false, TR_R_LISTENERS_NOT_VALID, "No listener of this ListenerSet is valid");
            cset(&s->conds, "Programmed", false, TR_R_LISTENERS_NOT_VALID, "No listener of this ListenerSet is valid");
        } else {
            cset(&s->conds, "Accepted", true, ok == s->nl ? TR_R_ACCEPTED : TR_R_LISTENERS_NOT_VALID,
                 ok == s->nl ? "ListenerSet is accepted" : "Some listeners are not valid");
            cset(&s->conds, "Programmed", true, TR_R_PROGRAMMED, "ListenerSet is programmed");
        }
    }
    tx_socket_holders(t);
}

/* --- status --- */

static struct tr_node *supported_kinds(struct tx *t, const struct lst *l)
{
    struct tr_node *seq = tr_node_new(t->a, TR_N_SEQ);
    if (!l->proto_ok)
        return seq;
    for (int i = 0; i < l->nkinds; i++) {
        struct tr_node *m = tr_node_new(t->a, TR_N_MAP);
        tr_node_set(t->a, m, "group", tr_node_str(t->a, TR_GW_GROUP));
        tr_node_set(t->a, m, "kind", tr_node_str(t->a, l->kinds[i]));
        tr_node_push(t->a, seq, m);
    }
    return seq;
}

static struct tr_node *listener_statuses(struct tx *t, struct lst *ls, size_t n, int64_t gen)
{
    struct tr_node *seq = tr_node_new(t->a, TR_N_SEQ);
    for (size_t i = 0; i < n; i++) {
        struct lst *l = &ls[i];
        struct tr_node *m = tr_node_new(t->a, TR_N_MAP);
        tr_node_set(t->a, m, "name", tr_node_str(t->a, str_or(l->name, "")));
        tr_node_set(t->a, m, "supportedKinds", supported_kinds(t, l));
        tr_node_set(t->a, m, "attachedRoutes", tr_node_int(t->a, l->attached));
        tr_node_set(t->a, m, "conditions", conds_render(t->a, &l->conds, gen));
        tr_node_push(t->a, seq, m);
    }
    return seq;
}

/* Calls fn on every listener of g that is meant to be served, own and ListenerSets'. */
static void each_served_listener(struct gw *g, void (*fn)(struct tx *, struct gw *, struct lst *, void *),
                                 struct tx *t, void *arg)
{
    for (size_t i = 0; i < g->nl; i++)
        if (g->l[i].accepted && g->l[i].refs_ok)
            fn(t, g, &g->l[i], arg);
    for (size_t s = 0; s < g->nsets; s++)
        for (size_t i = 0; i < g->sets[s]->nl; i++)
            if (g->sets[s]->l[i].accepted && g->sets[s]->l[i].refs_ok)
                fn(t, g, &g->sets[s]->l[i], arg);
}

/* Why l is not bound on address a of its Gateway: another Gateway holds that socket, or the
 * binder could not bind it; NULL when it is bound. */
static const char *bind_error(struct tx *t, const struct lst *l, size_t a)
{
    const char *held = tx_socket_held(t, l, a);
    if (held)
        return held;
    int port = tx_bind_port(t, l);
    if (!port)
        return tr_arena_printf(t->a, "its Gateway's Service has no target port for port %d yet", l->port);
    return t->in->bind_error
               ? t->in->bind_error(t->in->ud, l->gw->addrs[a], (uint16_t)port, l->proto == TR_PROTO_UDP)
               : NULL;
}

/* Per address: how many of its sockets were meant (tried) and how many are bound. */
struct bind_count {
    size_t *tried, *bound;
    size_t listeners;
};

static void count_binds(struct tx *t, struct gw *g, struct lst *l, void *arg)
{
    struct bind_count *bc = arg;
    bc->listeners++;
    for (size_t a = 0; a < g->naddrs; a++) {
        bc->tried[a]++;
        bc->bound[a] += bind_error(t, l, a) == NULL;
    }
}

/* A listener is Programmed when it is bound on every usable address; an address that nothing
 * could be bound on is the Gateway's problem (AddressNotUsable), not each listener's, unless
 * it leaves the listener nowhere to be served. */
static void listener_programmed(struct tx *t, struct gw *g, struct lst *l, void *arg)
{
    if (!g->accepted) {
        cset(&l->conds, "Programmed", false, TR_R_INVALID, "The Gateway is not accepted");
        return;
    }
    const char *why = g->naddrs ? NULL : "no address assigned", *first = NULL;
    bool usable = false;
    for (size_t a = 0; a < g->naddrs && !why; a++) {
        const char *w = bind_error(t, l, a);
        usable |= !g->addr_unusable[a];
        if (w && !first)
            first = w;
        if (w && !g->addr_unusable[a])
            why = w;
    }
    if (!why && !usable)
        why = first;
    if (why)
        cset(&l->conds, "Programmed", false, TR_R_PENDING, tr_arena_printf(t->a, "cannot listen: %s", why));
}

/* Programmed tells whether the sockets are really bound: ask the binder. Marks the addresses
 * that no socket could be bound on, and returns how many listeners were meant to be served. */
static size_t programmed_from_binds(struct tx *t, struct gw *g)
{
    struct bind_count bc = {TR_ANEWN(t->a, size_t, g->naddrs + 1), TR_ANEWN(t->a, size_t, g->naddrs + 1), 0};
    if (g->accepted)
        each_served_listener(g, count_binds, t, &bc);
    for (size_t a = 0; a < g->naddrs; a++)
        g->addr_unusable[a] = bc.tried[a] > 0 && bc.bound[a] == 0;
    each_served_listener(g, listener_programmed, t, NULL);
    return bc.listeners;
}

/* "Cannot use A (why); ..." for the unusable addresses of g, with what to do about them. */
static const char *unusable_message(struct tx *t, struct gw *g)
{
    const char *msg = "";
    for (size_t a = 0; a < g->naddrs; a++) {
        if (!g->addr_unusable[a])
            continue;
        const char *why = NULL;
        for (size_t i = 0; i < g->nl && !why; i++)
            if (g->l[i].accepted && g->l[i].refs_ok)
                why = bind_error(t, &g->l[i], a);
        for (size_t s = 0; s < g->nsets && !why; s++)
            for (size_t i = 0; i < g->sets[s]->nl && !why; i++)
                if (g->sets[s]->l[i].accepted && g->sets[s]->l[i].refs_ok)
                    why = bind_error(t, &g->sets[s]->l[i], a);
        msg = tr_arena_printf(t->a, "%s%sCannot listen on %s%s%s%s", msg, msg[0] ? "; " : "", g->addrs[a],
                              why ? " (" : "", why ? why : "", why ? ")" : "");
    }
    return tr_arena_printf(t->a, "%s: remove it from spec.addresses, or make it an address of this host that is free "
                                 "on the listeners' ports", msg);
}

/* Listener.hostname overlaps on one TLS port (foo.example.com and *.example.com): a client's
 * connection for one may carry a request for the other, so certificates overlap. The spec asks
 * controllers to say so on every listener involved (OverlappingTLSConfig, gateway_types.go). */
static void overlapping_tls(struct tx *t, struct gw *g)
{
    for (size_t i = 0; i < g->nl; i++) {
        struct lst *a = &g->l[i];
        if (!a->accepted || a->proto != TR_PROTO_HTTPS)
            continue;
        for (size_t j = 0; j < g->nl; j++) {
            struct lst *b = &g->l[j];
            if (i == j || !b->accepted || b->proto != TR_PROTO_HTTPS || b->port != a->port)
                continue;
            const char *ha = str_or(a->hostname, "*"), *hb = str_or(b->hostname, "*");
            bool overlap = strcmp(ha, "*") == 0 || strcmp(hb, "*") == 0 || tx_host_intersect(ha, hb) != NULL;
            if (overlap && strcmp(ha, hb) != 0) {
                cset(&a->conds, "OverlappingTLSConfig", true, TR_R_OVERLAPPING_HOSTNAMES,
                     tr_arena_printf(t->a, "Hostname overlaps with listener %s on port %d", str_or(b->name, ""), b->port));
                break;
            }
        }
    }
}

void tx_gateway_status(struct tx *t)
{
    const struct tr_view *v = t->v;
    for (size_t i = 0; i < v->n[TR_KIND_GATEWAY]; i++) {
        struct gw *g = &t->gws[i];
        if (!g->ours)
            continue;
        size_t valid = 0;
        for (size_t j = 0; j < g->nl; j++)
            valid += g->l[j].accepted;
        if (g->accepted && valid < g->nl) {
            bool none = valid == 0 && g->nl > 0;
            cset(&g->conds, "Accepted", !none, TR_R_LISTENERS_NOT_VALID,
                 none ? "No listener is valid" : "Some listeners are not valid");
            if (none)
                g->accepted = false;
        }
        size_t served = programmed_from_binds(t, g);
        bool unusable = false;
        for (size_t a = 0; a < g->naddrs; a++)
            unusable |= g->addr_unusable[a];
        overlapping_tls(t, g);
        struct tr_node *svc_addrs = t->in->service_mode ? service_addresses(t, g) : NULL;
        const char *why_static = NULL;
        if (!g->accepted) {
            cset(&g->conds, "Programmed", false, TR_R_INVALID, "Gateway is not accepted");
        } else if (t->in->service_mode && (why_static = static_address_problem(t, g, svc_addrs))) {
            cset(&g->conds, "Programmed", false, TR_R_ADDRESS_NOT_USABLE, why_static);
        } else if (t->in->service_mode && !svc_addrs) {
            char name[64];
            tr_gateway_service_name(name, g->obj->name, str_or(tr_node_gets(g->obj->spec, "gatewayClassName"), ""));
            cset(&g->conds, "Programmed", false, TR_R_ADDRESS_NOT_ASSIGNED,
                 tr_arena_printf(t->a, "Waiting for Service %s/%s %s", g->obj->ns, name,
                                 g->svc ? "to get an address" : "to be created"));
        } else if (!g->naddrs || g->alloc_failed) {
            cset(&g->conds, "Programmed", false, TR_R_ADDRESS_NOT_ASSIGNED, "No address could be assigned");
        } else if (unusable) {
            cset(&g->conds, "Programmed", false, TR_R_ADDRESS_NOT_USABLE, unusable_message(t, g));
        } else if (served == 0 && g->nl > 0) {
            cset(&g->conds, "Programmed", false, TR_R_INVALID, "No listener is programmed");
        }
        struct tr_node *st = tr_node_new(t->a, TR_N_MAP);
        /* status.addresses: the addresses bound to the Gateway, so not an unusable one. */
        struct tr_node *addrs = svc_addrs ? svc_addrs : tr_node_new(t->a, TR_N_SEQ);
        for (size_t a = 0; a < g->naddrs && !t->in->service_mode; a++) {
            if (g->addr_unusable[a])
                continue;
            struct tr_node *m = tr_node_new(t->a, TR_N_MAP);
            tr_node_set(t->a, m, "type", tr_node_str(t->a, "IPAddress"));
            tr_node_set(t->a, m, "value", tr_node_str(t->a, g->addrs[a]));
            tr_node_push(t->a, addrs, m);
        }
        if (tr_node_len(addrs))
            tr_node_set(t->a, st, "addresses", addrs);
        tr_node_set(t->a, st, "conditions", conds_render(t->a, &g->conds, g->obj->generation));
        tr_node_set(t->a, st, "listeners", listener_statuses(t, g->l, g->nl, g->obj->generation));
        int64_t attached_sets = 0;
        for (size_t s = 0; s < g->nsets; s++)
            attached_sets += g->sets[s]->accepted;
        if (attached_sets)
            tr_node_set(t->a, st, "attachedListenerSets", tr_node_int(t->a, attached_sets));
        t->status[TR_KIND_GATEWAY][i] = st;
    }
    for (size_t i = 0; i < v->n[TR_KIND_LISTENERSET]; i++) {
        struct lset *s = &t->lsets[i];
        if (!s->ours)
            continue;
        struct tr_node *st = tr_node_new(t->a, TR_N_MAP);
        tr_node_set(t->a, st, "conditions", conds_render(t->a, &s->conds, s->obj->generation));
        tr_node_set(t->a, st, "listeners", listener_statuses(t, s->l, s->nl, s->obj->generation));
        t->status[TR_KIND_LISTENERSET][i] = st;
    }
}
