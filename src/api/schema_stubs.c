/* TEMPORARY: kinds whose schema tables are not written yet accept any object. Each entry goes
 * away as its table lands in src/api/schema_<kind>.c. */
#include "api/kind.h"
#include "api/schema_common.h"

#define STUB(kindname)                                                                             \
    const struct tr_schema tr_schema_##kindname = {.type = TR_S_OBJ, .flags = TR_S_PRESERVE,      \
        .fields = TR_FIELDS(TR_REQ("apiVersion", &tr_sch_string), TR_REQ("kind", &tr_sch_string),  \
                            TR_REQ("metadata", &tr_sch_object_meta))}

