/* Load balancing: a backendRef by weight, then one of its ready endpoints round-robin. */
#include "worker/lb.h"
#include "ir/ir.h"
#include "worker/conn.h"

/* Picks a backendRef by weight (0 never), then an endpoint round-robin. */
const struct tr_ir_backend *tr_lb_backend(struct worker *w, const struct tr_ir_rule *r)
{
    uint64_t total = 0;
    for (size_t i = 0; i < r->nbackends; i++)
        total += r->backends[i].weight;
    if (!total)
        return NULL;
    uint64_t x = tr_worker_rand(w) % total;
    for (size_t i = 0; i < r->nbackends; i++) {
        if (x < r->backends[i].weight)
            return &r->backends[i];
        x -= r->backends[i].weight;
    }
    return NULL;
}

const struct tr_ir_endpoint *tr_lb_endpoint(struct worker *w, const struct tr_ir_backend *b)
{
    size_t ready = 0;
    for (size_t i = 0; i < b->neps; i++)
        ready += b->eps[i].ready;
    if (!ready)
        return NULL;
    size_t k = (size_t)(w->rr++ % ready);
    for (size_t i = 0; i < b->neps; i++)
        if (b->eps[i].ready && k-- == 0)
            return &b->eps[i];
    return NULL;
}

