/* The kinds torii reads: Gateway API kinds and the core kinds they refer to. */
#ifndef TR_API_KIND_H
#define TR_API_KIND_H

#include <stdbool.h>

struct tr_schema;

#define TR_GW_GROUP "gateway.networking.k8s.io"
#define TR_GWX_GROUP "gateway.networking.x-k8s.io"

/* X(ID, Kind, group, served versions (space separated), namespaced) */
#define TR_KINDS(X)                                                                                \
    X(GATEWAYCLASS, GatewayClass, TR_GW_GROUP, "v1 v1beta1", false)                                \
    X(GATEWAY, Gateway, TR_GW_GROUP, "v1 v1beta1", true)                                           \
    X(LISTENERSET, ListenerSet, TR_GW_GROUP, "v1", true)                                           \
    X(HTTPROUTE, HTTPRoute, TR_GW_GROUP, "v1 v1beta1", true)                                       \
    X(GRPCROUTE, GRPCRoute, TR_GW_GROUP, "v1", true)                                               \
    X(TLSROUTE, TLSRoute, TR_GW_GROUP, "v1 v1alpha2 v1alpha3", true)                               \
    X(TCPROUTE, TCPRoute, TR_GW_GROUP, "v1 v1alpha2", true)                                        \
    X(UDPROUTE, UDPRoute, TR_GW_GROUP, "v1 v1alpha2", true)                                        \
    X(REFERENCEGRANT, ReferenceGrant, TR_GW_GROUP, "v1 v1beta1", true)                             \
    X(BACKENDTLSPOLICY, BackendTLSPolicy, TR_GW_GROUP, "v1 v1alpha3", true)                        \
    X(XBACKENDTRAFFICPOLICY, XBackendTrafficPolicy, TR_GWX_GROUP, "v1alpha1", true)                \
    X(XMESH, XMesh, TR_GWX_GROUP, "v1alpha1", false)                                               \
    X(NAMESPACE, Namespace, "", "v1", false)                                                       \
    X(SERVICE, Service, "", "v1", true)                                                            \
    X(ENDPOINTSLICE, EndpointSlice, "discovery.k8s.io", "v1", true)                                \
    X(SECRET, Secret, "", "v1", true)                                                              \
    X(CONFIGMAP, ConfigMap, "", "v1", true)                                                        \
    X(POD, Pod, "", "v1", true)

#define TR_KIND_ENUM(id, kind, group, versions, ns) TR_KIND_##id,
enum tr_kind { TR_KINDS(TR_KIND_ENUM) TR_KIND__COUNT };

/* What names an object: its kind, namespace ("" for a cluster-scoped kind) and name. Every
 * struct tr_obj begins with one (tr_obj.id), so a record that names an object (a route rule
 * naming its route, for logs and metrics) points at the object's own rather than copying it. */
struct tr_objid {
    enum tr_kind kind;
    int refs; /* the object's reference count: api/object.c's alone */
    const char *ns;
    const char *name;
};
#undef TR_KIND_ENUM

/* The schema of each kind's whole object (apiVersion, kind, metadata, spec, status), defined in
 * src/api/schema_*.c. */
#define TR_KIND_SCHEMA(id, kind, group, versions, ns) extern const struct tr_schema tr_schema_##kind;
TR_KINDS(TR_KIND_SCHEMA)
#undef TR_KIND_SCHEMA

struct tr_kind_info {
    enum tr_kind kind;
    const char *name;     /* "HTTPRoute" */
    const char *group;    /* "" for the core group */
    const char *versions; /* "v1 v1beta1" */
    bool namespaced;
    const struct tr_schema *schema;
};

/* Static information about a kind. */
const struct tr_kind_info *tr_kind_info(enum tr_kind k);
static inline const char *tr_kind_name(enum tr_kind k);

/* Looks up apiVersion ("group/version" or "v1") and kind. Returns the kind, or -1 when the kind
 * is not one torii reads (the object is then ignored), or -2 when the kind is known but the
 * version is not served (an error). */
int tr_kind_lookup(const char *api_version, const char *kind);
/* Looks a kind up by its name alone ("HTTPRoute"); -1 if unknown. Case-sensitive. */
int tr_kind_by_name(const char *name);

static inline const char *tr_kind_name(enum tr_kind k)
{
    return tr_kind_info(k)->name;
}

#endif
