/* tr_manifest_load on anything, into a store: decode and schema validation (defaults, CEL rules)
 * of any document. The text is loaded twice so that the second pass has a previous version of
 * each object (transition rules, generation). */
#include "api/manifest.h"
#include "api/object.h"
#include "base/arena.h"
#include "base/buf.h"
#include "base/node.h"
#include "store/store.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct tr_obj *prev(void *ud, int kind, const char *ns, const char *name)
{
    return tr_store_get(ud, (enum tr_kind)kind, ns, name);
}

static void put(void *ud, struct tr_obj *o)
{
    struct tr_arena *a = tr_arena_new(4096);
    struct tr_buf b;
    tr_buf_init(&b, 0);
    tr_node_emit_json(&b, tr_obj_render(a, o, NULL), 0);
    tr_buf_dispose(&b);
    tr_arena_free(a);
    tr_store_put(ud, o);
}

static void error(void *ud, const char *line, int kind, const char *ns, const char *name)
{
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct tr_manifest_ops ops = {prev, put, error};
    struct tr_store *s = tr_store_new();
    uint64_t seq = 1;
    /* A text that starts like JSON is read as a .json file, the rest as YAML: both decoders
     * feed the same validation. */
    const char *name = size && (data[0] == '{' || data[0] == '[') ? "fuzz.json" : "fuzz.yaml";
    for (int pass = 0; pass < 2; pass++)
        tr_manifest_load((const char *)data, size, name, 1700000000, &seq, &ops, s);
    tr_store_free(s);
    return 0;
}
