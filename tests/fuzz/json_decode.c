/* tr_json_parse on anything. Every value must survive a round trip through each writer and its
 * reader: JSON (what the admin API serves, what torii status reads back) and YAML (golden files,
 * torii check). (JSON text itself is not always YAML: an implicit key may be at most 1024
 * characters long.) */
#include "api/json.h"
#include "api/yaml.h"
#include "base/arena.h"
#include "base/buf.h"
#include "base/mem.h"
#include "base/node.h"

#include <stdint.h>
#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void on_value(void *ud, struct tr_arena *a, struct tr_node *root, unsigned line)
{
    (void)ud;
    (void)line;
    struct tr_buf b, err;
    tr_buf_init(&b, 0);
    tr_buf_init(&err, 0);
    TR_BUG_ON(tr_node_emit_json(&b, root, 0) != 0);
    struct tr_node *j = tr_json_parse_one(a, b.data, b.len, &err);
    if (!j || !tr_node_equal(root, j)) {
        fprintf(stderr, "JSON round trip failed (%s):\n%s\n", err.data ? err.data : "changed", b.data);
        TR_BUG_ON(1);
    }
    tr_buf_reset(&b);
    TR_BUG_ON(tr_node_emit_yaml(&b, root) != 0);
    struct tr_node *y = tr_yaml_parse_one(a, b.data, b.len, &err);
    if (!y || !tr_node_equal(root, y)) {
        fprintf(stderr, "YAML round trip failed (%s):\n%s\n", err.data ? err.data : "changed", b.data);
        TR_BUG_ON(1);
    }
    tr_buf_dispose(&b);
    tr_buf_dispose(&err);
    tr_arena_free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tr_buf err;
    tr_buf_init(&err, 4096);
    tr_json_parse((const char *)data, size, on_value, NULL, &err);
    tr_buf_dispose(&err);
    return 0;
}
