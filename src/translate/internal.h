/* Shared by the translate modules only. */
#ifndef TR_TRANSLATE_INTERNAL_H
#define TR_TRANSLATE_INTERNAL_H

#include "api/kind.h"
#include "api/object.h"
#include "base/arena.h"
#include "base/mem.h"
#include "base/node.h"
#include "ir/ir.h"
#include "store/store.h"
#include "translate/translate.h"

#include <stdbool.h>
#include <stddef.h>

/* The spec's condition reasons (gateway.networking.k8s.io apis/v1 *_types.go). */
#define TR_REASONS(X)                                                                              \
    X(ACCEPTED, "Accepted")                                                                        \
    X(PROGRAMMED, "Programmed")                                                                    \
    X(RESOLVED_REFS, "ResolvedRefs")                                                               \
    X(INVALID, "Invalid")                                                                          \
    X(PENDING, "Pending")                                                                          \
    X(INVALID_PARAMETERS, "InvalidParameters")                                                     \
    X(UNSUPPORTED_VERSION, "UnsupportedVersion")                                                   \
    X(SUPPORTED_VERSION, "SupportedVersion")                                                       \
    X(LISTENERS_NOT_VALID, "ListenersNotValid")                                                    \
    X(UNSUPPORTED_ADDRESS, "UnsupportedAddress")                                                   \
    X(ADDRESS_NOT_ASSIGNED, "AddressNotAssigned")                                                  \
    X(ADDRESS_NOT_USABLE, "AddressNotUsable")                                                      \
    X(NO_RESOURCES, "NoResources")                                                                 \
    X(UNSUPPORTED_PROTOCOL, "UnsupportedProtocol")                                                 \
    X(INVALID_ROUTE_KINDS, "InvalidRouteKinds")                                                    \
    X(INVALID_CERTIFICATE_REF, "InvalidCertificateRef")                                            \
    X(REF_NOT_PERMITTED, "RefNotPermitted")                                                        \
    X(HOSTNAME_CONFLICT, "HostnameConflict")                                                       \
    X(PROTOCOL_CONFLICT, "ProtocolConflict")                                                       \
    X(NO_CONFLICTS, "NoConflicts")                                                                 \
    X(NOT_ALLOWED_BY_LISTENERS, "NotAllowedByListeners")                                           \
    X(NO_MATCHING_LISTENER_HOSTNAME, "NoMatchingListenerHostname")                                 \
    X(NO_MATCHING_PARENT, "NoMatchingParent")                                                      \
    X(UNSUPPORTED_VALUE, "UnsupportedValue")                                                       \
    X(BACKEND_NOT_FOUND, "BackendNotFound")                                                        \
    X(INVALID_KIND, "InvalidKind")                                                                 \
    X(INCOMPATIBLE_FILTERS, "IncompatibleFilters")                                                 \
    X(NOT_ALLOWED, "NotAllowed")                                                                   \
    X(PARENT_NOT_ACCEPTED, "ParentNotAccepted")                                                    \
    X(PARENT_NOT_PROGRAMMED, "ParentNotProgrammed")                                                \
    X(OVERLAPPING_HOSTNAMES, "OverlappingHostnames")                                               \
    X(LISTENER_CONFLICT, "ListenerConflict")                                                       \
    X(CONFLICTED, "Conflicted")                                                                    \
    X(NO_VALID_CA_CERTIFICATE, "NoValidCACertificate")                                             \
    X(INVALID_CA_CERTIFICATE_REF, "InvalidCACertificateRef")                                       \
    X(INVALID_CA_CERTIFICATE_KIND, "InvalidCACertificateKind")                                                  \
    X(TARGET_NOT_FOUND, "TargetNotFound")                                                          \
    X(INVALID_CLIENT_CERT_REF, "InvalidClientCertificateRef")                                      \
    X(CONFIGURATION_CHANGED, "ConfigurationChanged")

#define TR_REASON_ENUM(id, s) TR_R_##id,
enum tr_reason { TR_REASONS(TR_REASON_ENUM) TR_R__COUNT };
#undef TR_REASON_ENUM
const char *tr_reason_str(enum tr_reason r);

struct cond {
    const char *type;
    bool status;
    enum tr_reason reason;
    const char *msg;
};

#define MAX_CONDS 8
struct conds {
    struct cond c[MAX_CONDS];
    int n;
};

/* Sets (or replaces) the condition of that type. msg is copied into the arena by the caller if
 * it is not static. */
void cset(struct conds *cs, const char *type, bool status, enum tr_reason reason, const char *msg);
const struct cond *cget(const struct conds *cs, const char *type);
struct tr_node *conds_render(struct tr_arena *a, const struct conds *cs, int64_t generation);

struct gw;
struct tr_map;
struct lset;

/* Another Gateway's claim on a socket (address, port, transport) a listener needs. */
struct tx_held {
    const struct gw *by; /* NULL: not held by another */
    const char *addr;    /* the address it holds: the same one, or the unspecified address */
};

/* A listener, of a Gateway or of a ListenerSet. */
struct lst {
    struct gw *gw;
    struct lset *set; /* NULL for the Gateway's own listeners */
    const struct tr_node *spec;
    const char *name;
    const char *hostname; /* NULL when unset */
    int port;
    enum tr_proto proto;
    bool proto_ok;
    const char *kinds[4]; /* supported route kinds, NULL-terminated */
    int nkinds;
    struct conds conds;
    bool accepted;   /* may take routes */
    bool conflicted;
    bool refs_ok;
    int attached;
    const struct tr_obj **certs; /* resolved TLS Secrets, NULL-terminated */
    const struct tr_obj **client_cas; /* frontend validation CA bundles, NULL-terminated, or NULL */
    bool client_optional;             /* frontend validation mode AllowInsecureFallback */
    bool passthrough;
    /* Per address of its Gateway (parallel to gw->addrs), set by tx_socket_holders: the
     * Gateway that holds this listener's socket there instead, or NULL (this Gateway does). */
    struct tx_held *held;
    struct tr_ir_listener *ir;
    size_t rules_cap; /* capacity of ir->rules */
    bool in_ir;       /* served: its rules are cut to length and may be shared (ir.c) */
};

struct gw {
    const struct tr_obj *obj;
    bool ours;
    struct lst *l; /* own listeners, spec order */
    size_t nl;
    struct lset **sets; /* accepted ListenerSets, precedence order */
    size_t nsets;
    /* The IP addresses it is assigned, in spec.addresses order (an allocated one last), and per
     * address whether it turned out unusable: every socket meant for it failed to bind. Only
     * usable ones are bound to the Gateway (status.addresses). */
    const char **addrs;
    bool *addr_unusable;
    size_t naddrs;
    bool alloc_failed; /* an address was asked to be assigned (empty value, or none given) and none was */
    const struct tr_obj *backend_cert; /* spec.tls.backend client certificate Secret, or NULL */
    struct conds conds;
    bool accepted;
    /* Service mode (tr_tx_input.service_mode): its generated Service, once it exists. */
    const struct tr_obj *svc;
    bool ext_allowed; /* its class allows ExternalName Services as backends */
};

/* The port l's sockets are bound on: its own, or in Service mode the target port its Gateway's
 * Service gives it (0 while there is none). */
struct tx;
int tx_bind_port(const struct tx *t, const struct lst *l);

struct lset {
    const struct tr_obj *obj;
    struct gw *gw; /* the parent, when ours */
    bool ours, accepted;
    struct lst *l;
    size_t nl;
    struct conds conds;
};

/* Endpoints while the world and the EndpointSlices are unchanged: EndpointSlices by Service
 * and the endpoints resolved per Service port. Routes' results do not depend on them (only the
 * IR does): endpoints are put into a run's backends when a route result is applied, and the
 * run holds a reference, as its backends point into the arena. */
struct tx_world {
    int refs; /* atomic */
    uint64_t stamp;  /* tx_world_stamp */
    uint64_t slices_version; /* the view's EndpointSlice kind version */
    uint64_t gen;    /* unique per world: what route results' endpoint caches are checked against */
    struct tr_arena *a;
    struct tr_map *slices; /* EndpointSlices by "ns/service", built on first use */
    struct tr_map *eps;    /* "ns/service:port" -> endpoints already resolved */
    /* The memo's runs in this world, and how many of eps the latest one used: when most go
     * unused (the routes that wanted them are gone), the memo starts a new world, so that
     * what they took is given back (tx_memo_settle). */
    uint64_t serial;
    size_t used;
};

struct tx_unit;

/* mesh.c: a Service port as the mesh serves it, with its route sets (translate's listeners: the
 * routes attach to them as to a Gateway's listeners). */
struct mport {
    const struct tr_node *sp; /* the Service port */
    const char *name;         /* its name, or NULL */
    uint16_t port;
    bool http;  /* HTTP or gRPC by appProtocol or name */
    bool named; /* a route's parentRef names it (port or sectionName): routed as HTTP */
    struct lst producer;    /* routes of the Service's namespace */
    struct lst **consumers; /* routes of other namespaces, one set per namespace (lst.name) */
    size_t nconsumers;
};

/* A Service as the mesh serves it: in the mesh when it has a cluster address. */
struct msvc {
    const char *addr; /* spec.clusterIP; NULL: not in the mesh (headless, ExternalName, none) */
    const struct tr_obj *shadowed_by; /* an earlier Service (namespace/name order) names its address too */
    struct gw gw;     /* the parent attach() reads: no class (ExternalName not allowed), no certificate */
    struct mport *ports;
    size_t nports;
};

struct tx {
    const struct tr_tx_input *in;
    const struct tr_view *v;
    /* Where allocations go: the run's arena, or while a route is translated, that route's. */
    struct tr_arena *a;
    struct tr_arena *run_a; /* the run's own arena */
    /* Where a route kept by the memo builds its status before the unit takes a compact copy;
     * reset after each route (made on first use, freed with the run). */
    struct tr_arena *scratch;
    /* Where a route's status messages are printed: the scratch space while a route the memo
     * keeps is translated (its status is copied out), else the run's arena. */
    struct tr_arena *msgs;
    struct tx_world *w;
    struct tx_ports *ports; /* held: the memo's for this stamp, or the run's own */
    struct tx_unit **units; /* route results this run holds a reference to */
    size_t nunits, units_cap;
    size_t translated; /* routes translated by this run (not taken from the memo) */
    /* Routes of every kind in route precedence order (rank_routes), and each route's
     * translation, parallel to v->objs (tx_routes), applied in that order (tx_routes_apply). */
    struct tx_ranked *ranked;
    size_t nranked;
    struct tx_unit **unit_of[TR_KIND__COUNT];
    const void **status[TR_KIND__COUNT]; /* parallel to v->objs: ids (tr_tx_status) */
    bool *class_ours;                         /* per GatewayClass */
    bool *class_accepted;
    bool *class_ext; /* per GatewayClass: tr_class_params.external_name_services */
    struct gw *gws;     /* per Gateway */
    struct tr_map *named; /* addresses (canonical) named in spec.addresses by Gateways of ours */
    struct lset *lsets; /* per ListenerSet */
    struct msvc *msvcs; /* per Service, with a mesh (tr_tx_input.mesh) */
    /* While a route's rules are resolved for the mesh: cross-namespace backends need no
     * ReferenceGrant (a Service parent is no Gateway's listener to cross into). */
    bool mesh_refs;
    struct tr_ir *ir;
    /* Retry budgets the IR's policies point to: a reference each, dropped with the run. */
    struct tr_ir_retry_budget **budgets;
    size_t nbudgets, budgets_cap;
};

/* A route by kind and index in the view. */
struct tx_ranked {
    uint32_t kind; /* enum tr_kind */
    uint32_t i;
};

/* gateway.c */
void tx_gatewayclasses(struct tx *t);
void tx_gateways(struct tx *t);
void tx_gateway_status(struct tx *t);
struct gw *tx_gw_of(struct tx *t, const struct tr_obj *gw);

/* sockets.c: Gateways on the same address. */
/* The canonical text of an IP address (inet_ntop's) into out, and its family; another string is
 * copied as is, family 0. Returns out. */
const char *tx_addr_canon(const char *addr, char *out, size_t cap, int *family);
/* Collects the addresses Gateways of ours name in spec.addresses (t->named); g->ours is set. */
void tx_named_addresses(struct tx *t);
/* Is addr named in some Gateway's spec.addresses? (The address allocator's taken, ctx is t.) */
bool tx_address_named(void *ctx, const char *addr);
/* Decides which Gateway holds each socket the served listeners need, and marks each listener's
 * lost ones (lst.held). Run once listeners and ListenerSets are judged. */
void tx_socket_holders(struct tx *t);
/* Why l cannot be served on address a of its Gateway because another Gateway holds the socket
 * (an arena string), or NULL. */
const char *tx_socket_held(struct tx *t, const struct lst *l, size_t a);

/* Does a {from: All|Same|Selector|None, selector} rule admit namespace ns, seen from owner_ns?
 * def_from applies when the rule has no from. */
bool tx_namespace_allowed(struct tx *t, const struct tr_node *rule, const char *def_from, const char *owner_ns,
                          const char *ns);

/* route.c: attachment, parent status; backend.c: backendRefs */
struct rule_out;
struct rule_mirrors;
/* A listener a route attached to, by position: Gateway (or ListenerSet) index in the view and
 * listener index, which stay right while the world does. */
struct att {
    const char **hosts;
    int32_t owner;
    uint16_t li; /* the schema allows 64 listeners */
    /* A ListenerSet's listener; for a mesh attachment: the parentRef named the port. */
    bool set;
    /* A Service port of the mesh: owner is the Service's index in the view, li the port's (the
     * route set is the producer's or the route namespace's, mesh.c). */
    bool mesh;
};

/* One route's translation: its status and what it adds to listeners. Made once per version of
 * the route and of the world, then applied to every run that sees both unchanged. */
struct tx_unit {
    /* The route version it was made from, held (its strings are the unit's): the memo finds a
     * route's unit by its names, and keeps it while the store has this very object (a new
     * version is a new object) and the world the stamp of ports. NULL without a memo. */
    const struct tr_obj *obj;
    struct tr_arena *a;   /* its own arena, the unit itself first in it; NULL: the run's (no memo) */
    /* The route's status as an id (tr_tx_status): with its own arena, a shared packed copy
     * (tr_node_share_packed: routes with the same parents, outcome and generation keep one),
     * else a tree in the run's arena. */
    const void *status;
    struct tx_ports *ports;   /* held with its own arena: where its backends' sources are, for
                               * the world it was made in (tx_ports_stamp) */
    struct att *att;
    struct rule_out *rules;
    struct rule_mirrors **mirrors; /* per rule its RequestMirrors; NULL when no rule has any */
    /* The rules as the mesh serves them, when they differ (a route with Gateway parents too,
     * whose cross-namespace backends need a ReferenceGrant there and not in the mesh); NULL:
     * the mesh serves rules and mirrors above. */
    struct tx_mesh_rules *mesh_rules;
    int refs; /* atomic: the memo's and each run's that applies it */
    uint16_t natt;   /* parentRefs (32) x listeners (64) at most */
    uint16_t nrules; /* the schema allows 16 */
};

/* Translates route r into a new unit: its arena is the memo's own for the route (own), or the
 * run's. */
struct tx_unit *tx_route_translate(struct tx *t, enum tr_kind kind, const struct tr_obj *r, bool own);
/* The units of the routes of kind (t->unit_of[kind]): the memo's, or translated now. */
void tx_routes(struct tx *t, enum tr_kind kind);
/* Applies every route's unit in route precedence order: status, attachment, and the rules they
 * add to listeners, which so come in precedence order. */
void tx_routes_apply(struct tx *t);
/* memo.c */
struct tx_unit *tx_memo_route(struct tx *t, enum tr_kind kind, const struct tr_obj *r);
void tx_unit_hold(struct tx *t, struct tx_unit *u);
void tx_unit_release(struct tx_unit *u);
/* The world stamp of a view: changes whenever anything but a route, an EndpointSlice or a Pod
 * changes (route results depend on those objects only). */
uint64_t tx_world_stamp(const struct tr_view *v);
struct tx_world *tx_world_new(const struct tr_view *v);
void tx_world_release(struct tx_world *w);
/* Drops a run's references to route results. */
void tx_units_release(struct tx *t);
/* A run with a memo: begin returns the world of view v, kept while it stays the same (a
 * reference); end forgets the results of routes the run did not see. */
struct tx_world *tx_memo_begin(struct tr_tx_memo *m, const struct tr_view *v);
void tx_memo_end(struct tr_tx_memo *m);
/* After routes are applied: when most of the world's resolved endpoints went unused, the memo
 * lets it go (and the run too, when it used none). */
void tx_memo_settle(struct tr_tx_memo *m, struct tx *t);
/* The memo's Service port records for the stamp of its current world (a new set when it
 * changed), not held. */
struct tx_ports *tx_memo_ports(struct tr_tx_memo *m);
/* Where the memo's units are made (tr_arena_new_in). */
struct tr_slab *tx_memo_slab(const struct tr_tx_memo *m);
/* A check of an object that depends on nothing else (its PEM parses, ...), remembered by the
 * memo per object version. */
struct tx_check {
    uint64_t epoch; /* the memo's latest run that asked */
    bool done;
    const char *why; /* the answer: a static string, or NULL */
};
/* The memo's cell for check what of o (fill it when !done), or NULL without a memo. */
struct tx_check *tx_memo_check(struct tx *t, const char *what, const struct tr_obj *o);
/* The retry budget named key (a policy, its Service and its settings), the memo's own from an
 * earlier run when it has one: counts kept across changes. New ones come zeroed (no settings).
 * The run holds a reference (tr_tx_free drops it). */
struct tr_ir_retry_budget *tx_budget(struct tx *t, const char *key, size_t kl);
void tx_budget_release(struct tr_ir_retry_budget *b);
/* Where a backend's endpoints come from: a Service port, resolved when a route result is applied
 * to a run (a route result outlives EndpointSlice changes). One record per Service port, shared
 * by every backendRef to it (tx_ports); cached is the last world's answer, valid while gen is that
 * world's (control thread only). */
struct tx_backend_src {
    const struct tr_obj *svc;
    const struct tr_node *sp; /* the Service port */
    const void *cached;
    uint64_t gen;
};
/* The Service ports backends resolved to while the world stamp is one (the Services it names
 * are the same objects): the memo's, held by each unit made in that stamp, or a run's own. */
struct tx_ports;
struct tx_ports *tx_ports_new(uint64_t stamp);
struct tx_ports *tx_ports_ref(struct tx_ports *p);
void tx_ports_release(struct tx_ports *p); /* any thread */
uint64_t tx_ports_stamp(const struct tx_ports *p);
struct ir_backends {
    struct tr_ir_backend_ref *v;
    struct tx_backend_src **src; /* parallel to v: NULL for an invalid or ExternalName backend */
    size_t n;
};
/* Puts the endpoints of src into b (a run's backend, b->ref and b->invalid set), served on a
 * Gateway whose class allows ExternalName Services or not (ext_allowed): where it does not, an
 * ExternalName backend (src NULL, b->ref->hostname its name) is invalid. */
void tx_backend_endpoints(struct tx *t, struct tx_backend_src *src, struct tr_ir_backend *b, bool ext_allowed);
/* A route's ResolvedRefs outcome, kept twice because one backendRef may be valid on one parent
 * and invalid on another: [0] for parents whose GatewayClass allows ExternalName Services, [1]
 * for the others. Each is the first problem met (TR_R__COUNT: none) and its message. */
struct tx_refs {
    enum tr_reason why[2];
    const char *msg[2];
};
#define TX_REFS_INIT {{TR_R__COUNT, TR_R__COUNT}, {NULL, NULL}}
/* Notes a problem in both outcomes, or (ext_only) where ExternalName Services are not allowed;
 * an outcome keeps its first. */
static inline void tx_refs_note(struct tx_refs *r, enum tr_reason why, const char *msg, bool ext_only)
{
    for (int i = ext_only ? 1 : 0; i < 2; i++) {
        if (r->why[i] == TR_R__COUNT) {
            r->why[i] = why;
            r->msg[i] = msg;
        }
    }
}
/* Resolves rule->backendRefs of route into out, noting in res why one does not resolve (the
 * message starts with where: the field the refs came from). */
void tx_backends(struct tx *t, const struct tr_obj *route, const struct tr_node *refs, const char *where,
                 struct ir_backends *out, struct tx_refs *res);

/* filters.c: what the data plane reads of a rule, compiled into a (strings stay the tree's). */
/* A list of HTTPRouteFilters or GRPCRouteFilters (a rule's or a backendRef's): the first filter
 * of each type the data plane applies (the schema allows one of each, RequestMirror aside), or
 * NULL when it has none of them. */
const struct tr_ir_filters *tx_filters_compile(struct tr_arena *a, const struct tr_node *filters);
/* A route rule of kind: name, and for HTTPRoute and GRPCRoute its matches, filters, retry and
 * timeouts, into out's fields (the rest of out is left alone). */
void tx_rule_compile(struct tr_arena *a, enum tr_kind kind, const struct tr_node *rule, struct tr_ir_rule_spec *out);

/* session.c: what is wrong with a sessionPersistence (sp) that its schema lets through (a
 * sessionName that is no token), as "field: why" in a, or NULL. */
const char *tx_session_problem(struct tr_arena *a, const struct tr_node *sp);
/* sp compiled for the data plane (NULL for NULL): a rule's of a route of kind (its matches give
 * the cookie's Path), or an XBackendTrafficPolicy's (kind TR_KIND_XBACKENDTRAFFICPOLICY). */
const struct tr_ir_session *tx_session_compile(struct tr_arena *a, const struct tr_node *sp,
                                               const struct tr_node *matches, enum tr_kind kind);

/* refgrant.c */
bool tx_refgrant_allows(struct tx *t, const char *from_group, const char *from_kind, const char *from_ns,
                        const char *to_group, const char *to_kind, const char *to_ns, const char *to_name);

/* mesh.c */
/* The status of XMesh objects whose controllerName is torii's mesh's. */
void tx_meshes(struct tx *t);
/* The Services' cluster addresses and ports (t->msvcs), before routes are translated. */
void tx_mesh_services(struct tx *t);
/* Why route r (of kind) cannot attach to Service svc's ports selected by port and section (0 and
 * NULL: all), or NULL; into ports, the indexes of the ports it attaches to (*n of them). */
const char *tx_mesh_parent(struct tx *t, enum tr_kind kind, const struct tr_obj *svc, const char *ns,
                           const char *name, int64_t port, const char *section, uint16_t *ports, size_t *n);
/* The route set of port li of Service index owner for clients of route namespace ns (made on
 * first use). */
struct lst *tx_mesh_set(struct tx *t, int32_t owner, uint16_t li, const char *ns);
/* Appends the mesh's Service ports to the IR (after the Gateways'). */
void tx_mesh_ir(struct tx *t, struct tr_ir *ir);
/* The record of Service svc's port sp (backend.c). */
struct tx_backend_src *tx_port_src(struct tx *t, const struct tr_obj *svc, const struct tr_node *sp);

/* policy.c */
void tx_policies(struct tx *t);

/* ir.c */
void tx_ir_build(struct tx *t);
void tx_ir_add_rule(struct tx *t, struct lst *l, const struct tr_ir_rule *rule);

/* hostnames */
/* Listener.hostname vs a route hostname: returns the narrower of the two when they intersect,
 * else NULL. NULL listener hostname matches everything. */
const char *tx_host_intersect(const char *listener, const char *route);

/* tls.c: is the Secret a usable kubernetes.io/tls pair? NULL when it is, else why not. */
const char *tx_tls_secret_problem(struct tx *t, const struct tr_obj *secret);
/* Is data["ca.crt"] of a ConfigMap (or Secret) a PEM CA bundle? NULL when usable, else why not. */
const char *tx_ca_bundle_problem(struct tx *t, const struct tr_obj *obj);

static inline const char *str_or(const char *s, const char *def)
{
    return s ? s : def;
}

#endif
