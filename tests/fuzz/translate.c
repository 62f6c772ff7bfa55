/* Translate on anything that loads as manifests: it must finish, and with the same input give
 * the same status and IR every time (golden files and the admin dump rely on it). */
#include "api/manifest.h"
#include "api/object.h"
#include "base/arena.h"
#include "base/buf.h"
#include "base/mem.h"
#include "base/node.h"
#include "control/control.h"
#include "control/publish.h"
#include "ir/ir.h"
#include "store/store.h"
#include "translate/translate.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct tr_obj *prev(void *ud, int kind, const char *ns, const char *name)
{
    return tr_store_get(ud, (enum tr_kind)kind, ns, name);
}

static void put(void *ud, struct tr_obj *o)
{
    tr_store_put(ud, o);
}

static void error(void *ud, const char *line, int kind, const char *ns, const char *name)
{
}

static const char *alloc_address(void *ud, const struct tr_obj *gw, bool (*taken)(void *ctx, const char *addr),
                                 void *ctx)
{
    return tr_addrpool_get(ud, gw, taken, ctx);
}

/* Translates v and renders status and IR as one JSON text (free it). */
static char *render(const struct tr_view *v, struct tr_addrpool *pool)
{
    struct tr_tx_input in = {.view = v, .controller = "torii.dev/gateway-controller", .alloc_address = alloc_address, .ud = pool};
    struct tr_tx *tx = tr_translate(&in);
    struct tr_arena *a = tr_arena_new(65536);
    struct tr_buf b;
    tr_buf_init(&b, 0);
    tr_node_emit_json(&b, tr_status_render(a, v, tx), 0);
    tr_node_emit_json(&b, tr_ir_render(a, tr_tx_ir(tx)), 0);
    tr_arena_free(a);
    tr_tx_free(tx);
    return tr_buf_steal(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct tr_manifest_ops ops = {prev, put, error};
    struct tr_store *s = tr_store_new();
    tr_install_gatewayclass(s, "torii");
    uint64_t seq = 1;
    tr_manifest_load((const char *)data, size, "fuzz.yaml", 1700000000, &seq, &ops, s);
    struct tr_view *v = tr_store_view(s);
    struct tr_addrpool *pool = tr_addrpool_new("127.1.0.0/16");
    char *one = render(v, pool), *two = render(v, pool);
    TR_BUG_ON(strcmp(one, two) != 0);
    free(one);
    free(two);
    tr_addrpool_free(pool);
    tr_view_free(v);
    tr_store_free(s);
    return 0;
}
