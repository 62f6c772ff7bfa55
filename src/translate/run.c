/* tr_translate: the order of judgement. Classes first, then Gateways and ListenerSets (their
 * listeners and conflicts), then routes attach and count, then the Gateway status (which
 * reports attachedRoutes), then the IR and the policies that decorate it. */
#include "translate/internal.h"

#include <stdlib.h>
#include <string.h>

struct tr_tx {
    struct tx t;
};

static const enum tr_kind route_kinds[] = {TR_KIND_HTTPROUTE, TR_KIND_GRPCROUTE, TR_KIND_TLSROUTE, TR_KIND_TCPROUTE,
                                            TR_KIND_UDPROUTE};

struct ranked {
    int64_t created;
    uint32_t pos; /* place in namespace/name (then kind) order */
    uint8_t kind;
    uint32_t i;
};

static int cmp_ranked(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    if (x->created != y->created)
        return x->created < y->created ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Route precedence across routes (HTTPRoute docs): the oldest first, then namespace/name (then
 * kind, for a total order). The view is in namespace/name order per kind already, so the kinds
 * are merged, and the sort compares numbers only. */
static void rank_routes(struct tx *t)
{
    const struct tr_view *v = t->v;
    size_t total = 0, head[TR_ARRAY_LEN(route_kinds)] = {0};
    for (size_t k = 0; k < TR_ARRAY_LEN(route_kinds); k++)
        total += v->n[route_kinds[k]];
    struct ranked *r = tr_xcalloc(total + 1, sizeof(*r));
    for (size_t n = 0; n < total; n++) {
        size_t best = TR_ARRAY_LEN(route_kinds);
        const struct tr_obj *bo = NULL;
        for (size_t k = 0; k < TR_ARRAY_LEN(route_kinds); k++) {
            enum tr_kind kind = route_kinds[k];
            if (head[k] == v->n[kind])
                continue;
            const struct tr_obj *o = v->objs[kind][head[k]];
            int c = 0;
            if (bo) {
                c = strcmp(o->ns, bo->ns);
                if (!c)
                    c = strcmp(o->name, bo->name);
            }
            if (!bo || c < 0) {
                best = k;
                bo = o;
            }
        }
        r[n] = (struct ranked){bo->created, (uint32_t)n, (uint8_t)route_kinds[best], (uint32_t)head[best]};
        head[best]++;
    }
    qsort(r, total, sizeof(*r), cmp_ranked);
    t->ranked = tr_xcalloc(total + 1, sizeof(*t->ranked));
    for (size_t n = 0; n < total; n++)
        t->ranked[n] = (struct tx_ranked){r[n].kind, r[n].i};
    t->nranked = total;
    free(r);
}

struct tr_tx *tr_translate(const struct tr_tx_input *in)
{
    struct tr_tx *res = calloc(1, sizeof(*res));
    TR_BUG_ON(!res);
    struct tx *t = &res->t;
    t->in = in;
    t->v = in->view;
    t->a = t->run_a = t->msgs = tr_arena_new(64 * 1024);
    t->w = in->memo ? tx_memo_begin(in->memo, t->v) : tx_world_new(t->v);
    t->ports = in->memo ? tx_ports_ref(tx_memo_ports(in->memo)) : tx_ports_new(t->w->stamp);
    for (int k = 0; k < TR_KIND__COUNT; k++)
        t->status[k] = TR_ANEWN(t->a, const void *, t->v->n[k] + 1);
    tx_gatewayclasses(t);
    tx_gateways(t);
    tx_meshes(t);
    tx_mesh_services(t);
    rank_routes(t);
    for (size_t i = 0; i < TR_ARRAY_LEN(route_kinds); i++)
        tx_routes(t, route_kinds[i]);
    if (in->memo)
        tx_memo_end(in->memo);
    tx_routes_apply(t);
    if (in->memo)
        tx_memo_settle(in->memo, t);
    /* Needed while routes are applied only: not kept with the run. */
    free(t->ranked);
    t->ranked = NULL;
    for (size_t i = 0; i < TR_ARRAY_LEN(route_kinds); i++) {
        free(t->unit_of[route_kinds[i]]);
        t->unit_of[route_kinds[i]] = NULL;
    }
    tx_gateway_status(t);
    tx_ir_build(t);
    tx_mesh_ir(t, t->ir);
    tx_policies(t); /* on the mesh's rules too */
    tr_arena_free(t->scratch); /* routes are translated: it held only what they compacted */
    t->scratch = NULL;
    return res;
}

void tr_tx_free(struct tr_tx *res)
{
    if (!res)
        return;
    tx_units_release(&res->t);
    for (size_t i = 0; i < res->t.nbudgets; i++)
        tx_budget_release(res->t.budgets[i]);
    free(res->t.budgets);
    tx_world_release(res->t.w);
    tx_ports_release(res->t.ports);
    tr_arena_free(res->t.scratch);
    tr_arena_free(res->t.run_a);
    free(res);
}

const void *tr_tx_status(const struct tr_tx *res, const struct tr_obj *o)
{
    long i = tr_view_index(res->t.v, o);
    return i < 0 ? NULL : res->t.status[o->kind][i];
}

const void *tr_tx_status_at(const struct tr_tx *res, int kind, size_t i)
{
    return i < res->t.v->n[kind] ? res->t.status[kind][i] : NULL;
}

bool tr_tx_status_packed(const void *id)
{
    return (uintptr_t)id & 1;
}

const struct tr_node *tr_tx_status_tree(const void *id, struct tr_arena *a)
{
    if (!tr_tx_status_packed(id))
        return id;
    TR_BUG_ON(!a);
    return tr_packed_tree(a, (const struct tr_packed *)((uintptr_t)id & ~(uintptr_t)1));
}

const struct tr_ir *tr_tx_ir(const struct tr_tx *res)
{
    return res->t.ir;
}

size_t tr_tx_routes_translated(const struct tr_tx *res)
{
    return res->t.translated;
}
