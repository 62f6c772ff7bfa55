/* The intermediate representation: what translate hands the data plane. Everything lives in
 * the translate result's arena and is immutable once built. */
#ifndef TR_IR_H
#define TR_IR_H

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
    const struct tr_obj *policy; /* where it comes from (logs, the IR dump) */
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

/* One backendRef of a rule, resolved. A backend that could not be resolved, or one of whose
 * filters could not be (an ExtensionRef), stays in the list with invalid set: its share of the
 * weight is answered with 500 (HTTP) or refused (L4). */
struct tr_ir_backend {
    const char *kind, *ns, *name; /* "Service" */
    uint16_t port;
    uint32_t weight;
    bool invalid;
    const char *app_protocol;        /* Service port appProtocol, or NULL */
    const struct tr_node *filters;   /* backendRef filters (HTTP/GRPC), or NULL */
    const char *hostname;            /* an ExternalName Service's DNS name (eps: its addresses), or NULL */
    struct tr_ir_endpoint *eps;
    size_t neps;
    struct tr_ir_backend_tls *tls;   /* BackendTLSPolicy in force, or NULL */
    struct tr_metrics_slot *stats;   /* set by the snapshot compile (HTTP), else NULL */
};

/* A RequestMirror filter of a rule: where copies go, and which share of requests. */
struct tr_ir_mirror {
    struct tr_ir_backend backend;
    uint32_t numerator, denominator; /* mirror numerator/denominator of requests (100/100: all) */
};

/* One route rule as a listener serves it. */
struct tr_ir_rule {
    const struct tr_obj *route; /* HTTPRoute, GRPCRoute, TLSRoute, TCPRoute, UDPRoute */
    uint32_t index;             /* rule index in the route */
    uint64_t order;             /* route precedence, then index: the listener's rules sort by it */
    const char *name;           /* rule name, or NULL */
    const struct tr_node *spec; /* the rule (matches, filters, timeouts, retry, ...) */
    const struct tr_ir_match *matches; /* HTTP/GRPC: spec's matches compiled (ir/match.h) */
    size_t nmatches;                   /* at least 1 for HTTP/GRPC; 0 for the other kinds */
    const char **hostnames;     /* effective hostnames (route ∩ listener); NULL-terminated */
    struct tr_ir_backend *backends;
    size_t nbackends;
    struct tr_ir_mirror *mirrors;
    size_t nmirrors;
    /* A filter of the rule could not be resolved (an ExtensionRef: torii provides no extension
     * kinds). It must not be skipped, so every request the rule matches is answered with 500
     * (HTTPRouteFilter and GRPCRouteFilter type docs). */
    bool unresolved_filter;
    struct tr_metrics_slot *stats; /* answers without a backend (redirects, CORS); snapshot */
    /* Where the snapshot compile remembers the slots of this rule on this listener, kept with
     * the route's translation (control thread only): [0] the rule's, [1 + i] backend i's. */
    struct tr_metrics_slot **stats_memo;
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
    struct tr_ir_rule *rules;
    size_t nrules;
    struct tr_metrics_slot *stats; /* answers without a route (404, 421); snapshot */
};

/* One socket: an address and port with the listeners that share it. */
struct tr_ir_port {
    const char *addr;
    uint16_t port;
    bool udp;
    struct tr_ir_listener **listeners;
    size_t nlisteners;
};

struct tr_ir {
    struct tr_ir_port *ports;
    size_t nports;
};

struct tr_arena;
/* Renders the IR as a value tree (for golden files and the admin config dump). */
struct tr_node *tr_ir_render(struct tr_arena *a, const struct tr_ir *ir);

#endif
