/* Core kinds torii reads (Namespace, Service, EndpointSlice, Secret, ConfigMap, Pod): the fields
 * it uses are checked as the API server would; the rest of each object is kept unchecked. */
#include "api/kind.h"
#include "api/schema_common.h"

#define CORE_OBJECT(kindname, spec_field, spec_schema)                                             \
    const struct tr_schema tr_schema_##kindname = {                                                \
        .type = TR_S_OBJ,                                                                          \
        .flags = TR_S_PRESERVE,                                                                    \
        .fields = TR_FIELDS(TR_REQ("apiVersion", &tr_sch_string), TR_REQ("kind", &tr_sch_string),  \
                            TR_REQ("metadata", &tr_sch_object_meta),                               \
                            TR_OPT(spec_field, spec_schema), TR_OPT("status", &tr_sch_any)),       \
    }

static const struct tr_schema port_number = {
    .type = TR_S_INT, .flags = TR_S_MINIMUM | TR_S_MAXIMUM, .minimum = 1, .maximum = 65535};
static const struct tr_schema protocol = {.type = TR_S_STR, .def = "TCP", .enums = TR_ENUM("TCP", "UDP", "SCTP")};

/* ServicePort.targetPort: a port number, or the name of a container port (IANA_SVC_NAME: at
 * most 15 characters, lower-case letters, digits and single inner hyphens, one letter at
 * least), as the API server's validatePortNumOrName has it. The pattern is PCRE (lookaheads),
 * not a CRD's RE2: no CRD holds it. */
static const struct tr_schema port_or_name = {
    .type = TR_S_ANY, .format = "int-or-string", .flags = TR_S_MINIMUM | TR_S_MAXIMUM | TR_S_MAX_LEN,
    .minimum = 1, .maximum = 65535, .max_len = 15, .pattern = "^(?=.*[a-z])(?!.*--)[a-z0-9]([-a-z0-9]*[a-z0-9])?$"};

/* Secret.data and ConfigMap.binaryData are []byte: base64 in the manifest. */
static const struct tr_schema bytes_map = {.type = TR_S_MAP, .items = TR_SCHEMA(.type = TR_S_STR, .format = "byte")};

CORE_OBJECT(Namespace, "spec", &tr_sch_any);

static const struct tr_schema service_port = {
    .type = TR_S_OBJ,
    .flags = TR_S_PRESERVE,
    .fields = TR_FIELDS(TR_OPT("name", &tr_sch_string), TR_REQ("port", &port_number),
                        TR_OPT("protocol", &protocol), TR_OPT("appProtocol", &tr_sch_string),
                        TR_OPT("targetPort", &port_or_name), TR_OPT("nodePort", &tr_sch_int)),
};

CORE_OBJECT(Service, "spec",
            TR_SCHEMA(.type = TR_S_OBJ, .flags = TR_S_PRESERVE,
                      .fields = TR_FIELDS(TR_OPT("type", TR_SCHEMA(.type = TR_S_STR, .enums = TR_ENUM("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"))),
                                          TR_OPT("ports", TR_SCHEMA(.type = TR_S_ARR, .items = &service_port,
                                                                    .list_type = TR_LIST_MAP, .list_keys = TR_KEYS("port", "protocol"))),
                                          TR_OPT("selector", &tr_sch_string_map),
                                          TR_OPT("clusterIP", &tr_sch_string),
                                          TR_OPT("clusterIPs", TR_SCHEMA(.type = TR_S_ARR, .items = &tr_sch_string)),
                                          TR_OPT("externalName", &tr_sch_string))));

static const struct tr_schema slice_endpoint = {
    .type = TR_S_OBJ,
    .flags = TR_S_PRESERVE,
    .fields = TR_FIELDS(TR_REQ("addresses", TR_SCHEMA(.type = TR_S_ARR, .items = &tr_sch_string,
                                                      .flags = TR_S_MIN_ITEMS | TR_S_MAX_ITEMS,
                                                      .min_items = 1, .max_items = 100)),
                        TR_OPT("conditions", TR_SCHEMA(.type = TR_S_OBJ, .flags = TR_S_PRESERVE,
                                                       .fields = TR_FIELDS(TR_OPT("ready", &tr_sch_bool),
                                                                           TR_OPT("serving", &tr_sch_bool),
                                                                           TR_OPT("terminating", &tr_sch_bool)))),
                        TR_OPT("nodeName", &tr_sch_string), TR_OPT("targetRef", &tr_sch_any)),
};

static const struct tr_schema slice_port = {
    .type = TR_S_OBJ,
    .flags = TR_S_PRESERVE,
    .fields = TR_FIELDS(TR_OPT("name", &tr_sch_string), TR_OPT("port", &port_number),
                        TR_OPT("protocol", &protocol), TR_OPT("appProtocol", &tr_sch_string)),
};

const struct tr_schema tr_schema_EndpointSlice = {
    .type = TR_S_OBJ,
    .flags = TR_S_PRESERVE,
    .fields = TR_FIELDS(TR_REQ("apiVersion", &tr_sch_string), TR_REQ("kind", &tr_sch_string),
                        TR_REQ("metadata", &tr_sch_object_meta),
                        TR_REQ("addressType", TR_SCHEMA(.type = TR_S_STR, .enums = TR_ENUM("IPv4", "IPv6", "FQDN"))),
                        TR_OPT("endpoints", TR_SCHEMA(.type = TR_S_ARR, .items = &slice_endpoint,
                                                      .flags = TR_S_MAX_ITEMS, .max_items = 1000)),
                        TR_OPT("ports", TR_SCHEMA(.type = TR_S_ARR, .items = &slice_port,
                                                  .flags = TR_S_MAX_ITEMS, .max_items = 100))),
};

const struct tr_schema tr_schema_Secret = {
    .type = TR_S_OBJ,
    .flags = TR_S_PRESERVE,
    .fields = TR_FIELDS(TR_REQ("apiVersion", &tr_sch_string), TR_REQ("kind", &tr_sch_string),
                        TR_REQ("metadata", &tr_sch_object_meta), TR_OPT("type", &tr_sch_string),
                        TR_OPT("data", &bytes_map), TR_OPT("stringData", &tr_sch_string_map),
                        TR_OPT("immutable", &tr_sch_bool)),
};

const struct tr_schema tr_schema_ConfigMap = {
    .type = TR_S_OBJ,
    .flags = TR_S_PRESERVE,
    .fields = TR_FIELDS(TR_REQ("apiVersion", &tr_sch_string), TR_REQ("kind", &tr_sch_string),
                        TR_REQ("metadata", &tr_sch_object_meta),
                        TR_OPT("data", &tr_sch_string_map), TR_OPT("binaryData", &bytes_map),
                        TR_OPT("immutable", &tr_sch_bool)),
};

/* A Pod: what the mesh reads of a workload (its namespace, labels, annotations, and
 * status.podIP); only Pods annotated with the network namespace the mesh enters matter
 * (docs/mesh.md). */
static const struct tr_schema pod_status = {
    .type = TR_S_OBJ,
    .flags = TR_S_PRESERVE,
    .fields = TR_FIELDS(TR_OPT("podIP", &tr_sch_string),
                        TR_OPT("podIPs", TR_SCHEMA(.type = TR_S_ARR, .items = TR_SCHEMA(.type = TR_S_OBJ, .flags = TR_S_PRESERVE,
                                                                                         .fields = TR_FIELDS(TR_REQ("ip", &tr_sch_string)))))),
};

const struct tr_schema tr_schema_Pod = {
    .type = TR_S_OBJ,
    .flags = TR_S_PRESERVE,
    .fields = TR_FIELDS(TR_REQ("apiVersion", &tr_sch_string), TR_REQ("kind", &tr_sch_string),
                        TR_REQ("metadata", &tr_sch_object_meta), TR_OPT("spec", &tr_sch_any),
                        TR_OPT("status", &pod_status)),
};
