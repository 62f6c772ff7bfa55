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

/* The list reader (tr_json_parse_list) must agree with the whole reader: a text the whole reader
 * takes as one object, the list reader takes too, and its items and head make the same tree. */
struct rebuilt {
    struct tr_arena *a;
    struct tr_node *items;
    struct tr_node *head;
};

static void on_item(void *ud, struct tr_arena *a, struct tr_node *root, unsigned line)
{
    struct rebuilt *r = ud;
    tr_node_push(r->a, r->items, tr_node_clone(r->a, root));
    tr_arena_free(a);
}

static void on_head(void *ud, struct tr_arena *a, struct tr_node *root, unsigned line)
{
    struct rebuilt *r = ud;
    r->head = tr_node_clone(r->a, root);
    tr_arena_free(a);
}

static void check_list(const char *text, size_t len)
{
    struct tr_arena *a = tr_arena_new(4096);
    struct tr_buf err;
    tr_buf_init(&err, 0);
    struct tr_node *whole = tr_json_parse_one(a, text, len, &err);
    if (whole && whole->type == TR_N_MAP) {
        struct rebuilt r = {a, tr_node_new(a, TR_N_SEQ), NULL};
        tr_buf_reset(&err);
        int rc = tr_json_parse_list(text, len, "items", on_item, on_head, &r, &err);
        if (rc != 0 || !r.head) {
            fprintf(stderr, "the list reader refused what the whole reader took: %s\n", err.data ? err.data : "");
            TR_BUG_ON(1);
        }
        struct tr_node *items = tr_node_get(whole, "items");
        if (items && items->type == TR_N_SEQ)
            tr_node_set(a, r.head, "items", r.items);
        else
            TR_BUG_ON(r.items->n != 0);
        TR_BUG_ON(!tr_node_equal(whole, r.head));
    }
    tr_buf_dispose(&err);
    tr_arena_free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tr_buf err;
    tr_buf_init(&err, 4096);
    tr_json_parse((const char *)data, size, on_value, NULL, &err);
    tr_buf_dispose(&err);
    check_list((const char *)data, size);
    return 0;
}
