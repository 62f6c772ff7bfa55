/* Translate: a pure function from a store view to the IR and the status of every object. All
 * of the spec's judgement lives here; problems in user objects become conditions, and
 * translation always finishes. */
#ifndef TR_TRANSLATE_H
#define TR_TRANSLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tr_arena;
struct tr_view;
struct tr_obj;
struct tr_node;
struct tr_ir;
struct tr_tx;

/* What translation keeps between runs: each route's result, reused while the route and
 * everything but the routes are unchanged (a change to one route translates one route). Control
 * thread only; the results themselves are shared with the runs that use them. */
struct tr_tx_memo;
struct tr_tx_memo *tr_tx_memo_new(void);
void tr_tx_memo_free(struct tr_tx_memo *m);
/* How many Service ports' endpoints the memo's current world holds resolved. */
size_t tr_tx_memo_resolved(const struct tr_tx_memo *m);

struct tr_tx_input {
    const struct tr_view *view;
    struct tr_tx_memo *memo; /* or NULL: every route is translated */
    const char *controller; /* GatewayClass spec.controllerName torii answers to */
    /* The mesh (docs/mesh.md): the controller name its route statuses carry, or NULL when torii
     * is not the mesh (routes' Service parents are then left alone: another mesh's). */
    const char *mesh;
    /* With a mesh: a cluster address for Service svc, which names none (no spec.clusterIP; a
     * headless one says None), as an API server would allocate it: never one that taken(ctx,
     * address) says another Service names, the same for a Service across calls. NULL (or a NULL
     * answer): such a Service is not in the mesh. The string need only live until the next call. */
    const char *(*cluster_ip)(void *ud, const struct tr_obj *svc, bool (*taken)(void *ctx, const char *addr),
                              void *ctx);
    /* The address allocated for a Gateway that asks for one (no spec.addresses, or an entry
     * without a value): a loopback address in the file provider. Never one that taken(ctx,
     * address) says a Gateway names in its spec.addresses, so that an address torii picked never
     * collides with one a user asked for; otherwise the same for a Gateway across calls. The
     * string need only live until the next call (translate copies it). */
    const char *(*alloc_address)(void *ud, const struct tr_obj *gw, bool (*taken)(void *ctx, const char *addr),
                                 void *ctx);
    /* Why the socket addr:port (udp or not) could not be bound, or NULL when it is bound (or
     * was never tried). Gives Programmed its truth. */
    const char *(*bind_error)(void *ud, const char *addr, uint16_t port, int udp);
    void *ud;
    /* The provider generates a Service for each Gateway (Kubernetes), with the Gateway's
     * spec.infrastructure labels and annotations: GatewayInfrastructurePropagation is claimed. */
    bool provisions;
    /* In a cluster: each Gateway is reached through its generated Service
     * (tr_gateway_service_name), so its listeners are bound on the wildcard address at the target
     * ports the Service names, and its addresses are the Service's (load-balancer ingress, else
     * cluster IP). Without it, Gateways get addresses of this host (alloc_address). */
    bool service_mode;
    /* The IP addresses DNS name resolves to now, for a backend that is an ExternalName Service
     * its Gateway's class allows (tr_class_params.external_name_services): up to cap of them
     * into out, and their number; 0 while it has none (the backend then has no endpoints, as
     * with an empty EndpointSlice). The strings need only live until the call returns
     * (translate copies them). A run asks for every name it serves, and only for those, so that
     * the resolver can tell which names are in use. Called again by every run, including one
     * that reuses every route's result: an answer that changed needs no route translated. NULL:
     * no name resolves (torii check). */
    size_t (*resolve)(void *ud, const char *name, const char **out, size_t cap);
};

/* Translates. Returns the result (never NULL); the input view must outlive it. With a memo,
 * runs must see views of one store, and the result may be freed on any thread. */
struct tr_tx *tr_translate(const struct tr_tx_input *in);
void tr_tx_free(struct tr_tx *t);

/* The status computed for o (a status object: conditions, parents, listeners, ...), or NULL
 * when torii writes no status for it (not ours, or a kind without status), as an id: equal ids
 * are equal statuses (the same tree, or the same shared packed copy), and tr_tx_status_tree
 * gives the tree. A route whose result the memo keeps has its status packed (the many routes,
 * read once per change: tr_node_share_packed), which the id's low bit marks. */
const void *tr_tx_status(const struct tr_tx *t, const struct tr_obj *o);
/* The same for the object at index i of kind in the input view. */
const void *tr_tx_status_at(const struct tr_tx *t, int kind, size_t i);
/* The tree of status id (NULL: NULL): unpacked into a when it is packed (then a must not be
 * NULL, and the tree lives as long as a and the status). */
const struct tr_node *tr_tx_status_tree(const void *id, struct tr_arena *a);
/* Is status id kept packed (no tree to compare without unpacking)? */
bool tr_tx_status_packed(const void *id);
const struct tr_ir *tr_tx_ir(const struct tr_tx *t);
/* How many routes this run translated (the others' results came from the memo). */
size_t tr_tx_routes_translated(const struct tr_tx *t);

/* The controller name of the mesh's route statuses (tr_tx_input.mesh). */
#define TR_MESH_CONTROLLER "torii.dev/mesh-controller"
/* The annotation that puts a Pod in the mesh: the path of its network namespace
 * (/run/netns/NAME, /proc/PID/ns/net), which torii enters (docs/mesh.md). */
#define TR_ANN_MESH_NETNS "mesh.torii.dev/netns"

/* The features torii supports (GatewayClass status.supportedFeatures), sorted. */
extern const char *const tr_supported_features[];
/* The name of the Service generated for Gateway gw of class cls: "<gw>-<class>", cut to 63
 * characters with a hash of the whole when longer (a user's Service named after the Gateway is
 * never taken). */
void tr_gateway_service_name(char out[64], const char *gw, const char *cls);
/* A GatewayClass's parameters (spec.parametersRef to a core ConfigMap). For the Services torii
 * generates in a cluster, keys serviceType (LoadBalancer, ClusterIP, NodePort),
 * externalTrafficPolicy (Cluster, Local), loadBalancerClass; and in both modes,
 * externalNameServices (Allow, Deny). */
struct tr_class_params {
    const char *service_type;            /* "LoadBalancer" when unset */
    const char *external_traffic_policy; /* NULL: the Service's default */
    const char *load_balancer_class;     /* NULL: none */
    /* externalNameServices: Allow. Routes on the class's Gateways may then send traffic to
     * ExternalName Services, whatever their DNS name points at (CVE-2021-25740): the owner of the
     * class says so, never a route's author. Off by default. */
    bool external_name_services;
    const char *service_key; /* the first key given that shapes Services, or NULL */
};
/* The parameters key that allows ExternalName Services as backends. */
#define TR_PARAM_EXTERNAL_NAME "externalNameServices"
struct tr_obj;
struct tr_view;
/* Reads the parameters of GatewayClass gc from v into p (defaults where unset; strings live as
 * long as v). Returns NULL, or why they cannot be honoured (a static or arena string in a). */
const char *tr_gatewayclass_params(struct tr_arena *a, const struct tr_view *v, const struct tr_obj *gc,
                                   struct tr_class_params *p);
/* The one IP address Gateway gw asks for in spec.addresses (entries without a value ask for
 * any), or NULL; *many when it asks for more than one. */
const char *tr_gateway_requested_ip(const struct tr_obj *gw, bool *many);
/* The annotation the Kubernetes provider puts on a ConfigMap or Secret whose other data keys it
 * dropped on arrival (a comma-separated list): unknown parameters are still reported. */
#define TR_ANN_DROPPED_KEYS "torii.dev/dropped-data-keys"

/* The labels that mark a generated Service. */
#define TR_LABEL_GATEWAY_NAME "gateway.networking.k8s.io/gateway-name"
#define TR_LABEL_MANAGED_BY "app.kubernetes.io/managed-by"

/* Claimed as well when the provider generates Services (tr_tx_input.provisions). */
extern const char *const tr_provisioning_features[];
/* Claimed as well when torii is the mesh (tr_tx_input.mesh). */
extern const char *const tr_mesh_features[];

#endif
