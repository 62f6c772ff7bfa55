/* tr_yaml_parse on anything. Every document must survive a JSON and a YAML round trip, each
 * writer read back by its own reader: what torii writes (status, IR, golden files) must read back
 * as the same tree. (JSON text is not always YAML: an implicit key is at most 1024 characters.)
 * It must also survive packing (how the store keeps routes) and sharing (how units keep
 * statuses) key order and all: the JSON of the copy is the original's, byte for byte. */
#include "api/json.h"
#include "api/yaml.h"
#include "base/arena.h"
#include "base/buf.h"
#include "base/mem.h"
#include "base/node.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

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

static void same_json(const struct tr_node *x, const struct tr_node *y, const char *what)
{
    struct tr_buf bx, by;
    tr_buf_init(&bx, 0);
    tr_buf_init(&by, 0);
    tr_node_emit_json(&bx, x, 0);
    tr_node_emit_json(&by, y, 0);
    if (bx.len != by.len || memcmp(bx.data, by.data, bx.len) != 0) {
        fprintf(stderr, "%s changed the tree:\n%s\n%s\n", what, bx.data, by.data);
        TR_BUG_ON(1);
    }
    tr_buf_dispose(&bx);
    tr_buf_dispose(&by);
}

static void pack_and_share(struct tr_arena *a, const struct tr_node *n)
{
    static const char *const dict[] = {"", "a", "true", "HTTPRoute", NULL};
    struct tr_buf p;
    tr_buf_init(&p, 0);
    TR_BUG_ON(tr_node_pack(&p, n, dict) != 0);
    same_json(n, tr_node_unpack(a, p.data, p.len, dict), "packing");
    tr_buf_dispose(&p);
    const struct tr_packed *s = tr_node_share_packed(n, dict), *again = tr_node_share_packed(n, dict);
    TR_BUG_ON(s != again);
    same_json(n, tr_packed_tree(a, s), "sharing");
    tr_packed_release(again);
    tr_packed_release(s);
}

static void on_doc(void *ud, struct tr_arena *a, struct tr_node *root, unsigned line)
{
    if (all_finite(root)) {
        round_trip(a, root, 0);
        round_trip(a, root, 1);
        pack_and_share(a, root);
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
