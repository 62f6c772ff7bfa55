/* tr_translate: the order of judgement. Classes first, then Gateways and ListenerSets (their
 * listeners and conflicts), then routes attach and count, then the Gateway status (which
 * reports attachedRoutes), then the IR and the policies that decorate it. */
#include "translate/internal.h"

#include <stdlib.h>

struct tr_tx {
    struct tx t;
};

struct tr_tx *tr_translate(const struct tr_tx_input *in)
{
    struct tr_tx *res = calloc(1, sizeof(*res));
    TR_BUG_ON(!res);
    struct tx *t = &res->t;
    t->in = in;
    t->v = in->view;
    t->a = t->run_a = tr_arena_new(64 * 1024);
    uint64_t stamp = tx_world_stamp(t->v);
    t->w = in->memo ? tx_memo_begin(in->memo, stamp) : tx_world_new(stamp);
    for (int k = 0; k < TR_KIND__COUNT; k++)
        t->status[k] = TR_ANEWN(t->a, struct tr_node *, t->v->n[k] + 1);
    tx_gatewayclasses(t);
    tx_gateways(t);
    static const enum tr_kind routes[] = {TR_KIND_HTTPROUTE, TR_KIND_GRPCROUTE, TR_KIND_TLSROUTE, TR_KIND_TCPROUTE,
                                          TR_KIND_UDPROUTE};
    for (size_t i = 0; i < TR_ARRAY_LEN(routes); i++)
        tx_routes(t, routes[i]);
    if (in->memo)
        tx_memo_end(in->memo);
    tx_gateway_status(t);
    tx_ir_build(t);
    tx_policies(t);
    return res;
}

void tr_tx_free(struct tr_tx *res)
{
    if (!res)
        return;
    tx_units_release(&res->t);
    tx_world_release(res->t.w);
    tr_arena_free(res->t.run_a);
    free(res);
}

const struct tr_node *tr_tx_status(const struct tr_tx *res, const struct tr_obj *o)
{
    long i = tr_view_index(res->t.v, o);
    return i < 0 ? NULL : res->t.status[o->kind][i];
}

const struct tr_ir *tr_tx_ir(const struct tr_tx *res)
{
    return res->t.ir;
}

size_t tr_tx_routes_translated(const struct tr_tx *res)
{
    return res->t.translated;
}
