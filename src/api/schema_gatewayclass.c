/* GatewayClass (gateway.networking.k8s.io/v1), restated from the experimental-channel CRD of
 * Gateway API v1.6.1. */
#include "api/kind.h"
#include "api/schema_common.h"

/* GatewayController */
static bool cel_controller_immutable(const struct tr_node *self, const struct tr_node *old)
{
    /* self == oldSelf */
    return !old || tr_node_equal(self, old);
}

static const struct tr_schema gateway_controller = {
    .type = TR_S_STR,
    .flags = TR_S_MIN_LEN | TR_S_MAX_LEN,
    .min_len = 1,
    .max_len = 253,
    .pattern = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\\/[A-Za-z0-9\\/\\-._~%!$&'()*+,;=:]+$",
    .cel = TR_CELS({cel_controller_immutable, "self == oldSelf", "Value is immutable", NULL, NULL}),
};

/* ParametersReference */
static const struct tr_schema parameters_reference = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_REQ("group", &tr_sch_group), TR_REQ("kind", &tr_sch_kind),
                        TR_REQ("name", &tr_sch_object_name), TR_OPT("namespace", &tr_sch_namespace)),
};

/* GatewayClassSpec */
static const struct tr_schema gatewayclass_spec = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_REQ("controllerName", &gateway_controller),
                        TR_OPT("description", TR_SCHEMA(.type = TR_S_STR, .flags = TR_S_MAX_LEN, .max_len = 64)),
                        TR_OPT("parametersRef", &parameters_reference)),
};

/* GatewayClass */
const struct tr_schema tr_schema_GatewayClass = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_REQ("apiVersion", &tr_sch_string), TR_REQ("kind", &tr_sch_string),
                        TR_REQ("metadata", &tr_sch_object_meta), TR_REQ("spec", &gatewayclass_spec),
                        TR_OPT("status", &tr_sch_any)),
};

/* XMesh (gateway.networking.x-k8s.io/v1alpha1, GEP-3949), restated from the experimental-channel
 * CRD of Gateway API v1.6.1: the mesh as GatewayClass is the gateway, cluster-scoped, and its spec
 * is GatewayClassSpec field for field (controller name, description, parameters reference). */
const struct tr_schema tr_schema_XMesh = {
    .type = TR_S_OBJ,
    .fields = TR_FIELDS(TR_REQ("apiVersion", &tr_sch_string), TR_REQ("kind", &tr_sch_string),
                        TR_REQ("metadata", &tr_sch_object_meta), TR_REQ("spec", &gatewayclass_spec),
                        TR_OPT("status", &tr_sch_any)),
};
