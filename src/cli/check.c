/* torii check DIR [--gatewayclass NAME] [--mesh] [-o table|yaml|json] [--ir]: load, validate
 * and translate offline; print every object's conditions; exit 1 if anything is rejected or not
 * accepted. --mesh: as torii's mesh would (routes' Service parents are its). Addresses come from the loopback pool in a stable order; nothing is bound. */
#include "api/object.h"
#include "base/arena.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/node.h"
#include "cli/cli.h"
#include "cli/print.h"
#include "control/control.h"
#include "control/publish.h"
#include "ir/ir.h"
#include "provider/file.h"
#include "store/store.h"
#include "translate/translate.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* The address pools: Gateways', and the mesh's cluster addresses (NULL without --mesh). */
struct tr_check_ud {
    struct tr_addrpool *gateways, *cluster_ips;
};

static const char *alloc_address(void *ud, const struct tr_obj *gw, bool (*taken)(void *ctx, const char *addr),
                                 void *ctx)
{
    return tr_addrpool_get(((struct tr_check_ud *)ud)->gateways, gw, taken, ctx);
}

static const char *cluster_ip(void *ud, const struct tr_obj *svc, bool (*taken)(void *ctx, const char *addr),
                              void *ctx)
{
    struct tr_addrpool *p = ((struct tr_check_ud *)ud)->cluster_ips;
    return p ? tr_addrpool_get(p, svc, taken, ctx) : NULL;
}


static void add_reject(void *ud, const struct tr_reject *r)
{
    void **ctx = ud;
    struct tr_arena *a = ctx[0];
    struct tr_node *list = ctx[1];
    struct tr_node *m = tr_node_new(a, TR_N_MAP);
    struct tr_node *errs = tr_node_new(a, TR_N_SEQ);
    for (size_t i = 0; i < r->nmsgs; i++)
        tr_node_push(a, errs, tr_node_str(a, r->msgs[i]));
    tr_node_set(a, m, "errors", errs);
    tr_node_push(a, list, m);
}

int tr_cmd_check(int argc, char **argv)
{
    const char *dir = NULL, *gc = NULL, *out = "table";
    bool ir = false, mesh = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--gatewayclass") == 0 && i + 1 < argc)
            gc = argv[++i];
        else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
            out = argv[++i];
        else if (strcmp(argv[i], "--ir") == 0)
            ir = true;
        else if (strcmp(argv[i], "--mesh") == 0)
            mesh = true;
        else if (argv[i][0] != '-' && !dir)
            dir = argv[i];
        else {
            fprintf(stderr, "usage: torii check DIR [--gatewayclass NAME] [--mesh] [-o table|yaml|json] [--ir]\n");
            return 2;
        }
    }
    if (!dir) {
        fprintf(stderr, "usage: torii check DIR [--gatewayclass NAME] [--mesh] [-o table|yaml|json] [--ir]\n");
        return 2;
    }
    tr_log_set_level("error"); /* problems are printed below, once */
    struct tr_store *store = tr_store_new();
    struct tr_fileprov *fp = tr_fileprov_new(dir, store, false);
    if (!fp) {
        fprintf(stderr, "torii check: %s: %s\n", dir, strerror(errno));
        tr_store_free(store);
        return 2;
    }
    if (gc)
        tr_install_gatewayclass(store, gc);
    tr_fileprov_scan(fp);
    struct tr_addrpool *pool = tr_addrpool_new("127.1.0.0/16");
    struct tr_view *v = tr_store_view(store);
    /* Gateways get addresses in namespace/name order, so output is the same on every run. */
    for (size_t i = 0; i < v->n[TR_KIND_GATEWAY]; i++)
        tr_addrpool_get(pool, v->objs[TR_KIND_GATEWAY][i], NULL, NULL);
    /* Services without one get cluster addresses in namespace/name order (translate asks in
     * view order). */
    struct tr_addrpool *cluster_ips = mesh ? tr_addrpool_new(TR_MESH_DEFAULT_CIDR) : NULL;
    struct tr_check_ud ud = {pool, cluster_ips};
    struct tr_tx_input in = {.view = v, .controller = TR_CONTROLLER_NAME, .mesh = mesh ? TR_MESH_CONTROLLER : NULL,
                             .alloc_address = alloc_address, .cluster_ip = cluster_ip, .ud = &ud};
    struct tr_tx *tx = tr_translate(&in);
    struct tr_arena *a = tr_arena_new(64 * 1024);
    struct tr_node *root = ir ? tr_ir_render(a, tr_tx_ir(tx)) : tr_status_render(a, v, tx);
    struct tr_node *rej = tr_node_new(a, TR_N_SEQ);
    void *ctx[2] = {a, rej};
    tr_store_each_reject(store, add_reject, ctx);
    if (!ir)
        tr_node_set(a, root, "rejected", rej);
    int bad = 0;
    struct tr_buf b;
    tr_buf_init(&b, 0);
    if (strcmp(out, "yaml") == 0) {
        tr_node_emit_yaml(&b, root);
    } else if (strcmp(out, "json") == 0) {
        tr_node_emit_json(&b, root, 2);
        tr_buf_putc(&b, '\n');
    }
    fwrite(b.data ? b.data : "", 1, b.len, stdout);
    tr_buf_dispose(&b);
    if (!ir) {
        FILE *f = strcmp(out, "table") == 0 ? stdout : fopen("/dev/null", "w");
        bad = tr_print_table(f, root);
        if (f != stdout)
            fclose(f);
    }
    tr_arena_free(a);
    tr_tx_free(tx);
    tr_view_free(v);
    tr_addrpool_free(pool);
    tr_addrpool_free(cluster_ips);
    tr_fileprov_free(fp);
    tr_store_free(store);
    return bad ? 1 : 0;
}
