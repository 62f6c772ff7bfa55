/* Load balancing: a backendRef by weight, then one of its ready endpoints round-robin. */
#include "worker/lb.h"
#include "ir/ir.h"
#include "base/map.h"
#include "worker/conn.h"

/* Picks a backendRef by weight (0 never), then an endpoint round-robin. */
const struct tr_ir_backend *tr_lb_backend(struct worker *w, const struct tr_ir_rule *r)
{
    uint64_t total = 0;
    for (size_t i = 0; i < r->nbackends; i++)
        total += r->backends[i].ref->weight;
    if (!total)
        return NULL;
    uint64_t x = tr_worker_rand(w) % total;
    for (size_t i = 0; i < r->nbackends; i++) {
        if (x < r->backends[i].ref->weight)
            return &r->backends[i];
        x -= r->backends[i].ref->weight;
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
    /* One turn per backend: with one counter for all, picks for other backends in between (a
     * mirror of each request, the other side of a split) would skip endpoints in a pattern (a
     * 100% mirror sent every request to the first of two endpoints). The counter is kept in
     * the value itself, plus one, so that 0 means none yet; a backend's first turn is a random
     * one, so that workers (and snapshots) do not all start with the same endpoint. */
    uintptr_t turn = (uintptr_t)tr_map_get(&w->rr, (const char *)&b, sizeof(b));
    uintptr_t n = turn ? turn - 1 : (uintptr_t)(tr_worker_rand(w) % ready);
    tr_map_put(&w->rr, (const char *)&b, sizeof(b), (void *)(n + 2));
    size_t k = (size_t)(n % ready);
    for (size_t i = 0; i < b->neps; i++)
        if (b->eps[i].ready && k-- == 0)
            return &b->eps[i];
    return NULL;
}

void tr_lb_reset(struct worker *w)
{
    tr_map_dispose(&w->rr);
}
