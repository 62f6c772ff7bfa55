/* tr_yaml_parse on anything. Every document must survive a JSON and a YAML round trip, each
 * writer read back by its own reader: what torii writes (status, IR, golden files) must read back
 * as the same tree. (JSON text is not always YAML: an implicit key is at most 1024 characters.) */
#include "api/json.h"
#include "api/yaml.h"
#include "base/arena.h"
#include "base/buf.h"
#include "base/mem.h"
#include "base/node.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* NaN is not equal to itself and JSON has no infinities: such trees cannot round-trip. */
static int all_finite(const struct tr_node *n)
{
    if (n->type == TR_N_FLOAT)
        return isfinite(n->u.f);
    for (uint32_t i = 0; (n->type == TR_N_SEQ || n->type == TR_N_MAP) && i < n->n; i++)
        if (!all_finite(n->type == TR_N_SEQ ? n->u.items[i] : n->u.kv[i].val))
            return 0;
    return 1;
}

static void round_trip(struct tr_arena *a, const struct tr_node *n, int yaml)
{
    struct tr_buf b, err;
    tr_buf_init(&b, 0);
    tr_buf_init(&err, 0);
    TR_BUG_ON((yaml ? tr_node_emit_yaml(&b, n) : tr_node_emit_json(&b, n, 0)) != 0);
    struct tr_node *back = (yaml ? tr_yaml_parse_one : tr_json_parse_one)(a, b.data, b.len, &err);
    if (!back || !tr_node_equal(n, back)) {
        fprintf(stderr, "%s round trip failed (%s):\n%s\n", yaml ? "YAML" : "JSON", err.data ? err.data : "changed", b.data);
        TR_BUG_ON(1);
    }
    tr_buf_dispose(&b);
    tr_buf_dispose(&err);
}

static void on_doc(void *ud, struct tr_arena *a, struct tr_node *root, unsigned line)
{
    if (all_finite(root)) {
        round_trip(a, root, 0);
        round_trip(a, root, 1);
    }
    tr_arena_free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tr_buf err;
    tr_buf_init(&err, 4096);
    tr_yaml_parse((const char *)data, size, on_doc, NULL, &err);
    tr_buf_dispose(&err);
    return 0;
}
