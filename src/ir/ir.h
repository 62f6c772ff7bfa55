/* The intermediate representation: what translate hands the data plane. Everything lives in
 * the translate result's arena and is immutable once built. */
#ifndef TR_IR_H
#define TR_IR_H

#include "api/kind.h"
#include "http/origin.h"
#include "net/tls.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tr_node;
struct tr_obj;
struct tr_buf;
struct tr_metrics_slot;
struct tr_ir_match;
struct ssl_ctx_st;

enum tr_proto { TR_PROTO_HTTP, TR_PROTO_HTTPS, TR_PROTO_TLS, TR_PROTO_TCP, TR_PROTO_UDP };
const char *tr_proto_name(enum tr_proto p);

struct tr_ir_endpoint {
    const char *addr;
    uint16_t port;
    bool ready;
};

/* How the Gateway speaks TLS to a backend: a BackendTLSPolicy as translate resolved it, with the
 * Gateway's client certificate. The data plane reads only this, never the policy object: what
 * status reports as rejected (a CA reference of another kind) is not here to be trusted. */
struct tr_ir_backend_tls {
    const struct tr_obj *policy; /* where it comes from (the snapshot compile, the IR dump) */
    const char *policy_ns, *policy_name; /* the same, for the data plane's logs */
    /* validation.hostname sent as the server name; the certificate must carry one of the names
     * (tr_tls_cert_matches): the subjectAltNames of type Hostname in names and those of type URI
     * in uris, or, when the policy gives no subjectAltNames, the hostname alone in names. */
    struct tr_tls_peer peer;
    bool system_cas;          /* wellKnownCACertificates: System */
    const struct tr_obj **cas; /* CA bundles (ca.crt) translate accepted, NULL-terminated */
    const struct tr_obj *client_cert; /* Gateway spec.tls.backend client certificate, or NULL */
    /* Set by the snapshot compile (snapshot/snapshot.c), before the snapshot is published: */
    struct ssl_ctx_st *ctx; /* the client context, or NULL when it could not be made */
    /* Names everything above, so that connections made under equal ids are interchangeable:
     * equal for equal inputs (object versions) across compiles, never reused for other ones;
     * 0 with ctx NULL. */
    uint64_t id;
};

/* One field of a header modifier (HTTPHeaderFilter). lname is the name lower-cased, so that the
 * check run on every received field is a compare against lower-cased bytes; the name as
 * configured is lname itself or, when it has upper-case letters, the copy right after lname's
 * NUL (tr_ir_mod_name). */
struct tr_ir_header {
    const char *lname;
    const char *value; /* NULL in remove */
};

/* RequestHeaderModifier or ResponseHeaderModifier: set, add and remove in the spec's order, in
 * one array (set's entries, then add's, then remove's). */
struct tr_ir_header_mod {
    const struct tr_ir_header *v;
    uint8_t nset, nadd, nremove; /* the schema allows 16 of each */
    /* Bit i: entry i's name has upper-case letters, kept after its lower-cased copy (the 32
     * set and add entries there can be, and the first remove entries; a later remove entry's
     * name is matched and shown lower-cased). */
    uint32_t cased;
};

/* The name of entry i of m as configured. */
static inline const char *tr_ir_mod_name(const struct tr_ir_header_mod *m, size_t i)
{
    const char *l = m->v[i].lname;
    return i < 32 && (m->cased >> i & 1) ? l + strlen(l) + 1 : l;
}

static inline const struct tr_ir_header *tr_ir_mod_set(const struct tr_ir_header_mod *m)
{
    return m->v;
}
static inline const struct tr_ir_header *tr_ir_mod_remove(const struct tr_ir_header_mod *m)
{
    return m->v + m->nset + m->nadd;
}

/* HTTPPathModifier. A prefix replacement replaces what the matched PathPrefix covers
 * (tr_ir_match.prefix_len). */
enum tr_ir_path_mod_kind { TR_IR_PATH_KEEP, TR_IR_PATH_FULL, TR_IR_PATH_PREFIX };
struct tr_ir_path_mod {
    enum tr_ir_path_mod_kind kind;
    const char *value; /* replaceFullPath or replacePrefixMatch ("" when absent) */
    size_t len;
};

/* RequestRedirect (HTTPRequestRedirectFilter). */
struct tr_ir_redirect {
    const char *scheme;   /* or NULL: the request's */
    const char *hostname; /* or NULL: the request's */
    /* The port, or -1: the listener's. With a scheme and no port, the scheme's well-known port
     * (HTTPRequestRedirectFilter port docs), already filled in. */
    int32_t port;
    struct tr_ir_path_mod path;
    int status; /* statusCode: 302 when not given */
};

/* URLRewrite (HTTPURLRewriteFilter). */
struct tr_ir_rewrite {
    const char *hostname; /* or NULL: the Host is kept */
    struct tr_ir_path_mod path;
};

/* An allowOrigins entry of a CORS filter, parsed: scheme, host and port (the scheme's default
 * filled in), and the host's wildcard form. An entry that is not an origin (valid false) matches
 * nothing. The entry "*" is not kept here (tr_ir_cors.any_origin). */
enum tr_ir_host_kind {
    TR_IR_HOST_EXACT,  /* o.host */
    TR_IR_HOST_ANY,    /* "*": every host */
    TR_IR_HOST_SUFFIX, /* "*.example.com": o.host is ".example.com", which must end a longer host */
};
struct tr_ir_origin {
    const char *text; /* as written */
    bool valid;
    enum tr_ir_host_kind host_kind;
    struct tr_origin o;
};

/* A list of names or methods of a CORS filter; any: it holds "*". */
struct tr_ir_strs {
    const char **v;
    size_t n;
    bool any;
};

/* The CORS filter (HTTPCORSFilter), answered by proxy/cors.c. */
struct tr_ir_cors {
    bool any_origin; /* allowOrigins holds "*" */
    const struct tr_ir_origin *origins; /* the other entries */
    size_t norigins;
    struct tr_ir_strs methods, headers, expose; /* allowMethods, allowHeaders, exposeHeaders */
    bool credentials;                           /* allowCredentials */
    int64_t max_age;                            /* maxAge, 5 when not given */
};

/* The filters of a rule or of a backendRef that the data plane applies (a backendRef's hold the
 * header modifiers only), each NULL when absent: the header modifiers, and the rarer ones out
 * of line (tr_ir_filters_redirect, _rewrite, _cors). Mirrors are the rule's tr_ir_mirror; an
 * ExtensionRef is tr_ir_rule_spec.unresolved_filter (or an invalid backend). */
/* The ExternalAuth filter (GEP-1494) as proxy/extauth.c carries it out. Its backend is the last
 * of the rule's mirrors block (tr_ir_rule_auth), resolved per Gateway as mirrors are. */
enum tr_ir_extauth_protocol { TR_EXTAUTH_HTTP, TR_EXTAUTH_GRPC };
/* The most of a request body torii holds to forward it with the question (forwardBody.maxSize
 * above it drops the rule). */
#define TR_EXTAUTH_MAX_BODY (8u * 1024 * 1024)
struct tr_ir_extauth {
    const char *path_prefix; /* http.path, or "" */
    /* Request fields sent besides the ones always sent (allowedHeaders), lower-cased and
     * NULL-terminated; NULL when the list is empty (HTTP: only those; GRPC: all). */
    const char **allowed;
    /* Fields of an HTTP approval copied into the request (allowedResponseHeaders), lower-cased;
     * NULL: all but Host and Authority (and hop-by-hop ones). */
    const char **allowed_resp;
    uint64_t max_body; /* forwardBody.maxSize; 0: the body is not sent */
    uint8_t protocol;  /* enum tr_ir_extauth_protocol */
};

struct tr_ir_filters_more {
    const struct tr_ir_redirect *redirect;
    const struct tr_ir_rewrite *rewrite;
    const struct tr_ir_cors *cors;
    const struct tr_ir_extauth *extauth;
};

struct tr_ir_filters {
    const struct tr_ir_header_mod *request_headers;  /* RequestHeaderModifier */
    const struct tr_ir_header_mod *response_headers; /* ResponseHeaderModifier */
    const struct tr_ir_filters_more *more;           /* NULL: none of the rest */
};

static inline const struct tr_ir_redirect *tr_ir_filters_redirect(const struct tr_ir_filters *f)
{
    return f && f->more ? f->more->redirect : NULL;
}
static inline const struct tr_ir_rewrite *tr_ir_filters_rewrite(const struct tr_ir_filters *f)
{
    return f && f->more ? f->more->rewrite : NULL;
}
static inline const struct tr_ir_cors *tr_ir_filters_cors(const struct tr_ir_filters *f)
{
    return f && f->more ? f->more->cors : NULL;
}
static inline const struct tr_ir_extauth *tr_ir_filters_extauth(const struct tr_ir_filters *f)
{
    return f && f->more ? f->more->extauth : NULL;
}

/* HTTPRouteRetry: present on a rule that has retry, else NULL. */
struct tr_ir_retry {
    int attempts;        /* 1 when not given */
    uint64_t backoff_ms; /* 0: none */
    uint64_t codes[8];   /* codes: bit (status - 100) for a status of 100-611 */
};

/* HTTPRouteTimeouts in milliseconds, 0 when not set. */
struct tr_ir_timeouts {
    uint64_t request_ms; /* timeouts.request: the whole exchange, retries included */
    uint64_t backend_ms; /* timeouts.backendRequest: each try */
};

/* What few backendRefs have: a kind other than Service, an appProtocol, filters, an
 * ExternalName. */
struct tr_ir_backend_more {
    const char *kind;                    /* "Service" unless the ref names another */
    const char *app_protocol;            /* Service port appProtocol, or NULL */
    const struct tr_ir_filters *filters; /* backendRef filters (HTTP/GRPC): header modifiers; or NULL */
    const char *hostname;                /* an ExternalName Service's DNS name, or NULL */
};

/* One backendRef of a rule, resolved against the Services: what the route says, made once per
 * version of the route (its translation keeps it) and shared by every Gateway that serves it. */
struct tr_ir_backend_ref {
    const char *ns, *name;
    const struct tr_ir_backend_more *more; /* NULL: a Service, and none of the rest */
    uint32_t weight;
    uint16_t port;
    bool invalid; /* not resolved, or a filter of it not (an ExtensionRef) */
};

static inline const char *tr_ir_ref_kind(const struct tr_ir_backend_ref *r)
{
    return r->more ? r->more->kind : "Service";
}
static inline const char *tr_ir_ref_app_protocol(const struct tr_ir_backend_ref *r)
{
    return r->more ? r->more->app_protocol : NULL;
}
static inline const struct tr_ir_filters *tr_ir_ref_filters(const struct tr_ir_backend_ref *r)
{
    return r->more ? r->more->filters : NULL;
}
static inline const char *tr_ir_ref_hostname(const struct tr_ir_backend_ref *r)
{
    return r->more ? r->more->hostname : NULL;
}

/* A backendRef as a Gateway serves it in this run: its endpoints (an ExternalName's: the
 * addresses its name resolves to) and the backend TLS in force there. A backend that could not
 * be resolved, or one of whose filters could not be, stays in the list with invalid set: its
 * share of the weight is answered with 500 (HTTP) or refused (L4). */
struct tr_ir_backend {
    const struct tr_ir_backend_ref *ref;
    struct tr_ir_endpoint *eps;
    uint32_t neps;
    bool invalid; /* ref->invalid, or an ExternalName Service where the Gateway's class allows none */
    struct tr_ir_backend_tls *tls; /* BackendTLSPolicy in force, or NULL */
    /* XBackendTrafficPolicy in force on the Service, or NULL: its sessionPersistence (applied
     * to the whole rule, tr_ir_rule_session) and retry budget. */
    const struct tr_ir_backend_policy *policy;
};

/* A RequestMirror filter of a rule: where copies go, and which share of requests. */
struct tr_ir_mirror {
    struct tr_ir_backend backend;
    uint32_t numerator, denominator; /* mirror numerator/denominator of requests (100/100: all) */
};

/* Session persistence (GEP-1619): a rule's sessionPersistence, or the one an
 * XBackendTrafficPolicy gives its Service's backends. proxy/session.c carries it out. */
enum tr_ir_session_type { TR_SESSION_COOKIE, TR_SESSION_HEADER };
struct tr_ir_session {
    const char *name; /* sessionName, or NULL: a name of the rule's own (proxy/session.c) */
    /* The cookie's Path for each match of the rule (the rule's own sessionPersistence), or NULL:
     * no Path attribute (a policy's: its Service may be reached by many paths, GEP-1619). */
    const char **paths;
    uint64_t absolute_ms; /* absoluteTimeout; 0: none */
    uint8_t type;         /* enum tr_ir_session_type */
    bool permanent;       /* cookieConfig.lifetimeType Permanent: Max-Age and Expires from absolute_ms */
};

/* A rule's retry, timeouts and session persistence, when it has any (most rules have none). */
struct tr_ir_rule_more {
    const struct tr_ir_retry *retry; /* HTTPRoute retry, or NULL */
    struct tr_ir_timeouts timeouts;  /* HTTPRoute timeouts, 0 where unset */
    const struct tr_ir_session *session; /* sessionPersistence, or NULL */
};

/* What a route rule says, as the data plane reads it: made once per version of the route (the
 * route's result keeps it) and shared by every listener that serves the rule. */
struct tr_ir_rule_spec {
    /* The route it is of (HTTPRoute, GRPCRoute, TLSRoute, TCPRoute, UDPRoute): its kind decides
     * how a GRPCRoute's calls are answered, its names go to logs and metrics. The route object's
     * own (tr_obj.id), held with the rule. */
    const struct tr_objid *route;
    /* (The rule's name is the route object's to tell: nothing that serves a request reads it.) */
    const struct tr_ir_match *matches;   /* HTTP/GRPC: spec's matches compiled (ir/match.h) */
    const struct tr_ir_filters *filters; /* HTTP/GRPC, NULL when the rule has none of them */
    const struct tr_ir_rule_more *more;  /* NULL: no retry, no timeouts */
    uint16_t index;   /* rule index in the route (the schema allows 16) */
    uint8_t nmatches; /* at least 1 for HTTP/GRPC (the schema allows 64); 0 for the other kinds */
    /* A filter of the rule could not be resolved (an ExtensionRef: torii provides no extension
     * kinds). It must not be skipped, so every request the rule matches is answered with 500
     * (HTTPRouteFilter and GRPCRouteFilter type docs). */
    bool unresolved_filter;
};

static inline const struct tr_ir_retry *tr_ir_rule_retry(const struct tr_ir_rule_spec *s)
{
    return s->more ? s->more->retry : NULL;
}

/* The rule's timeouts, or NULL when it sets none. */
static inline const struct tr_ir_timeouts *tr_ir_rule_timeouts(const struct tr_ir_rule_spec *s)
{
    return s->more && (s->more->timeouts.request_ms || s->more->timeouts.backend_ms) ? &s->more->timeouts : NULL;
}

/* A retry budget (XBackendTrafficPolicy retryConstraint, GEP-3388) of one Service under one
 * policy: its settings, and the tries and retries sent to the Service in sliding windows,
 * counted by every worker (proxy/budget.c). Translate's memo keeps it across configuration
 * changes while the policy, the Service and the settings stay (an endpoint churning during an
 * outage must not hand out a fresh budget); each run that uses it holds a reference. */
struct tr_ir_retry_budget {
    int refs; /* atomic */
    uint32_t percent;         /* budget.percent: retries may be this share of the tries */
    uint32_t min_count;       /* minRetryRate.count retries are allowed per ... */
    uint64_t interval_ms;     /* budget.interval */
    uint64_t min_interval_ms; /* ... minRetryRate.interval, whatever the share */
    /* atomic, two windows each (the current one and the one before, by window index parity):
     * the window's index << 40 | its count */
    uint64_t tries[2], retries[2], min_retries[2];
};

/* What an XBackendTrafficPolicy (GEP-1619, GEP-3388) puts on the backends of one Service it
 * targets. */
struct tr_ir_backend_policy {
    const char *ns, *name;               /* the policy, for logs */
    const char *svc;                     /* the Service's name (in the policy's namespace) */
    const struct tr_ir_session *session; /* sessionPersistence, or NULL */
    struct tr_ir_retry_budget *budget;   /* retryConstraint, or NULL */
};

/* One route rule as a listener serves it: what is particular to the listener (hostnames) or
 * to its Gateway (backends with their endpoints), and the rule's spec. */
struct tr_ir_rule {
    const struct tr_ir_rule_spec *spec;
    const char **hostnames;     /* effective hostnames (route ∩ listener); NULL-terminated */
    /* Shared by the rule's copies on the listeners of one Gateway (what they hold depends on
     * the Gateway only: its class for ExternalName, its client certificate for backend TLS):
     * the backends, then the RequestMirror filters' mirrors (tr_ir_rule_mirrors), in one
     * block. */
    struct tr_ir_backend *backends;
    uint32_t nbackends, nmirrors; /* (no padding: listeners' rule arrays are compared whole) */
};

/* The session persistence r follows: its own sessionPersistence, else the first of its
 * backends' policies that gives one, for every backend of the rule alike (GEP-1619 leaves a
 * split where only some backends have it to the implementation; its first choice). */
static inline const struct tr_ir_session *tr_ir_rule_session(const struct tr_ir_rule *r)
{
    if (r->spec->more && r->spec->more->session)
        return r->spec->more->session;
    for (uint32_t i = 0; i < r->nbackends; i++)
        if (r->backends[i].policy && r->backends[i].policy->session)
            return r->backends[i].policy->session;
    return NULL;
}

static inline struct tr_ir_mirror *tr_ir_rule_mirrors(const struct tr_ir_rule *r)
{
    return r->nmirrors ? (struct tr_ir_mirror *)(void *)(r->backends + r->nbackends) : NULL;
}

/* The ExternalAuth filter's backend: the last entry of the mirrors block (its share 0/0, so
 * no copy is ever sent there), or NULL when the rule has no ExternalAuth filter. */
static inline const struct tr_ir_backend *tr_ir_rule_auth(const struct tr_ir_rule *r)
{
    return tr_ir_filters_extauth(r->spec->filters) && r->nmirrors ? &tr_ir_rule_mirrors(r)[r->nmirrors - 1].backend
                                                                  : NULL;
}

/* HTTP: the cells of the metrics slots of a listener's rules' answers, by rule index in pages of
 * TR_IR_CELL_PAGE rules; per rule, [0] for answers without a backend (redirects, CORS) and
 * [1 + k] for backend k's. Each level is made by the first request that needs it (most rules of
 * a large configuration are idle) and each cell set by the first request that counts in it
 * (tr_metrics_slot_cache); NULL until then (atomic); freed with the IR. */
#define TR_IR_CELL_PAGE 64
struct tr_ir_cells {
    struct tr_metrics_slot **rule[TR_IR_CELL_PAGE];
};

/* A listener with what is attached to it; rules are in precedence order for HTTP/GRPC. */
struct tr_ir_listener {
    const char *gw_ns, *gw_name; /* the Gateway */
    const char *set_ns, *set_name; /* the ListenerSet it came from, or NULL */
    const char *name;
    const char *hostname; /* or NULL */
    uint16_t port;
    enum tr_proto proto;
    bool tls_passthrough;
    const struct tr_obj **certs; /* Secrets for TLS termination, NULL-terminated */
    const struct tr_obj *backend_cert; /* Gateway tls.backend: translate puts it in backends' tls */
    const struct tr_obj **client_cas;  /* frontend validation CA bundles, NULL-terminated, or NULL */
    bool client_optional;              /* AllowInsecureFallback: an invalid client still gets in */
    /* Listeners of one Gateway that are served the same rules (an HTTP and an HTTPS listener
     * most often) share one array, and so one router; rules_owner is the listener that frees
     * it. */
    struct tr_ir_rule *rules;
    size_t nrules;
    const struct tr_ir_listener *rules_owner;
    /* A mesh route set (tr_ir_port.mesh): gw_ns/gw_name are the Service's, name its port's (or
     * the number), and mesh_client the namespace whose clients it serves (a consumer route set),
     * or NULL (the producer's: every other client). */
    bool mesh;
    const char *mesh_client;
    struct tr_ir_cells **cells; /* ceil(nrules / TR_IR_CELL_PAGE) pages, on first use */
    struct tr_metrics_slot *stats; /* answers without a route (404, 421); on first use */
};

/* A Service port as the mesh serves it (docs/mesh.md): what a meshed workload reaches at the
 * Service's cluster address and that port. */
struct tr_ir_mesh {
    const char *svc_ns, *svc_name;
    const char *port_name; /* the Service port's name, or NULL */
    /* Requests are routed one by one (HTTP/1.1, h2c): the port's protocol is HTTP or gRPC by its
     * appProtocol or name, or a route attaches to it by port or sectionName. Otherwise the port is
     * proxied as TCP to the Service's endpoints, routes or not. */
    bool http;
    /* The Service port itself: its endpoints, where traffic goes when no route applies (no
     * route set for the client's namespace and none of the producer). */
    struct tr_ir_backend service;
    /* The rule that sends everything to service (route: the Service), for a TCP port and as the
     * producer's set of an HTTP port without producer routes. */
    struct tr_ir_rule pass;
};

/* A meshed workload (a Pod with the mesh's network namespace annotation): torii takes the
 * connections it makes to Service addresses, in its own network namespace. */
struct tr_ir_mesh_client {
    const char *ns, *name;
    const char *netns; /* the path of its network namespace */
    const char *ip;    /* status.podIP, or NULL */
    /* Why the mesh does not take it (its annotation names no namespace it may enter), or NULL:
     * said in the log, never silently ignored. */
    const char *refused;
};

/* One socket: an address and port with the listeners that share it. A mesh port (mesh set) is a
 * Service's cluster address and port, never bound: its listeners are route sets, the producer's
 * (mesh_client NULL: routes in the Service's namespace) and one per consumer namespace. */
struct tr_ir_port {
    const char *addr;
    uint16_t port;
    bool udp;
    struct tr_ir_listener **listeners;
    size_t nlisteners;
    const struct tr_ir_mesh *mesh; /* NULL: a Gateway's socket */
};

struct tr_ir {
    /* The Gateways' sockets (nports), then the mesh's Service ports (nmesh), each part sorted by
     * address and port. */
    struct tr_ir_port *ports;
    size_t nports;
    size_t nmesh;
    /* The mesh's workloads, by namespace and name. */
    const struct tr_ir_mesh_client *clients;
    size_t nclients;
};

/* The mesh's Service ports. */
static inline struct tr_ir_port *tr_ir_mesh_ports(const struct tr_ir *ir)
{
    return ir->ports + ir->nports;
}

struct tr_arena;
/* Renders the IR as a value tree (for golden files and the admin config dump). */
struct tr_node *tr_ir_render(struct tr_arena *a, const struct tr_ir *ir);

/* Does the rule's retry name this status (HTTPRouteRetry.codes)? */
static inline bool tr_ir_retry_code(const struct tr_ir_retry *r, int status)
{
    unsigned bit = (unsigned)status - 100;
    return r && status >= 100 && bit < 64 * 8 && (r->codes[bit / 64] >> (bit % 64) & 1);
}

#endif
