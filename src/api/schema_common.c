/* Leaf types shared by the schema tables, and ObjectMeta. */
#include "api/schema_common.h"

#include <string.h>

const struct tr_schema tr_sch_hostname = {
    .type = TR_S_STR, .flags = TR_S_MIN_LEN | TR_S_MAX_LEN, .min_len = 1, .max_len = 253,
    .pattern = TR_PAT_HOSTNAME};
const struct tr_schema tr_sch_precise_hostname = {
    .type = TR_S_STR, .flags = TR_S_MIN_LEN | TR_S_MAX_LEN, .min_len = 1, .max_len = 253,
    .pattern = TR_PAT_PRECISE_HOSTNAME};
const struct tr_schema tr_sch_object_name = {
    .type = TR_S_STR, .flags = TR_S_MIN_LEN | TR_S_MAX_LEN, .min_len = 1, .max_len = 253};
const struct tr_schema tr_sch_namespace = {
    .type = TR_S_STR, .flags = TR_S_MIN_LEN | TR_S_MAX_LEN, .min_len = 1, .max_len = 63,
    .pattern = TR_PAT_NAMESPACE};
const struct tr_schema tr_sch_group = {
    .type = TR_S_STR, .flags = TR_S_MAX_LEN, .max_len = 253, .pattern = TR_PAT_GROUP};
const struct tr_schema tr_sch_kind = {
    .type = TR_S_STR, .flags = TR_S_MIN_LEN | TR_S_MAX_LEN, .min_len = 1, .max_len = 63,
    .pattern = TR_PAT_KIND};
const struct tr_schema tr_sch_section_name = {
    .type = TR_S_STR, .flags = TR_S_MIN_LEN | TR_S_MAX_LEN, .min_len = 1, .max_len = 253,
    .pattern = TR_PAT_SECTION_NAME};
const struct tr_schema tr_sch_port = {
    .type = TR_S_INT, .format = "int32", .flags = TR_S_MINIMUM | TR_S_MAXIMUM, .minimum = 1,
    .maximum = 65535};
const struct tr_schema tr_sch_string = {.type = TR_S_STR};
const struct tr_schema tr_sch_int = {.type = TR_S_INT};
const struct tr_schema tr_sch_bool = {.type = TR_S_BOOL};
const struct tr_schema tr_sch_any = {.type = TR_S_ANY};
const struct tr_schema tr_sch_string_map = {.type = TR_S_MAP, .items = &tr_sch_string};

/* Name and namespace rules are the API server's (DNS subdomain / label); object.c checks the
 * name per kind. Other ObjectMeta fields (ownerReferences, managedFields, ...) are kept. */
const struct tr_schema tr_sch_object_meta = {
    .type = TR_S_OBJ,
    .flags = TR_S_PRESERVE,
    .fields = TR_FIELDS(TR_OPT("name", &tr_sch_string), TR_OPT("namespace", &tr_sch_string),
                        TR_OPT("generateName", &tr_sch_string),
                        TR_OPT("labels", &tr_sch_string_map),
                        TR_OPT("annotations", &tr_sch_string_map),
                        TR_OPT("generation", &tr_sch_int), TR_OPT("uid", &tr_sch_string),
                        TR_OPT("resourceVersion", &tr_sch_string),
                        TR_OPT("creationTimestamp",
                               TR_SCHEMA(.type = TR_S_STR, .format = "date-time"))),
};
