/* The translate memo (docs/architecture.md, "Translation is incremental"): route results kept
 * per route version and world stamp, object checks kept per object version, and the world (the
 * endpoint cache) kept while nothing but routes and EndpointSlices changes. */
#include "translate/internal.h"
#include "base/map.h"
#include "base/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Route results of one kind in namespace/name order, as the view has the routes: a run asks
 * for them in that order, so it finds each by walking the list (no map, no key strings), and
 * makes the next list as it goes. */
struct unit_list {
    struct tx_unit **v;
    size_t n;
    size_t at; /* this run: how far v has been walked */
    struct tx_unit **next;
    size_t nnext;
};

/* A page of units: about ten lean routes' translations. */
#define UNIT_PAGE (16 * 1024)

struct tr_tx_memo {
    struct unit_list units[TR_KIND__COUNT];
    /* Where units are made: each takes exactly what it uses (a unit of its own arena rounded its
     * first chunk up by a guess, or spilled into half-empty chunks). A page goes when its units
     * all have (a full translation, as after a change to a Gateway, moves them all). */
    struct tr_slab *slab;
    struct tx_ports *ports; /* the Service port records of the current world's stamp */
    struct tr_map checks; /* "what:version" -> struct tx_check* */
    struct tr_map budgets; /* tx_budget's key -> struct budget_slot* */
    struct tx_world *w;
    uint64_t epoch;
};

uint64_t tx_world_stamp(const struct tr_view *v)
{
    uint64_t s = 0;
    for (int k = 0; k < TR_KIND__COUNT; k++) {
        bool route = k == TR_KIND_HTTPROUTE || k == TR_KIND_GRPCROUTE || k == TR_KIND_TLSROUTE ||
                     k == TR_KIND_TCPROUTE || k == TR_KIND_UDPROUTE;
        /* Pods (the mesh's workloads) come and go often and no route's result reads them. */
        if (!route && k != TR_KIND_ENDPOINTSLICE && k != TR_KIND_POD && v->kind_version[k] > s)
            s = v->kind_version[k];
    }
    return s;
}

struct tx_world *tx_world_new(const struct tr_view *v)
{
    static uint64_t gens;
    struct tx_world *w = tr_xcalloc(1, sizeof(*w));
    w->refs = 1;
    w->stamp = tx_world_stamp(v);
    w->slices_version = v->kind_version[TR_KIND_ENDPOINTSLICE];
    w->gen = __atomic_add_fetch(&gens, 1, __ATOMIC_RELAXED);
    w->a = tr_arena_new(16 * 1024);
    return w;
}

static struct tx_world *world_ref(struct tx_world *w)
{
    __atomic_add_fetch(&w->refs, 1, __ATOMIC_RELAXED);
    return w;
}

void tx_world_release(struct tx_world *w)
{
    if (!w || __atomic_sub_fetch(&w->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    tr_arena_free(w->a);
    free(w);
}

void tx_unit_release(struct tx_unit *u)
{
    if (!u || !u->a || __atomic_sub_fetch(&u->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    tr_packed_release((const struct tr_packed *)((uintptr_t)u->status & ~(uintptr_t)1)); /* own: packed */
    tr_obj_release((struct tr_obj *)(uintptr_t)u->obj);
    tx_ports_release(u->ports);
    tr_arena_free(u->a); /* u is in it */
}

/* A retry budget the memo keeps; epoch first (sweep). */
struct budget_slot {
    uint64_t epoch;
    struct tr_ir_retry_budget *b;
};

void tx_budget_release(struct tr_ir_retry_budget *b)
{
    if (b && __atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) == 0)
        free(b);
}

static void drop_budget(void *val)
{
    struct budget_slot *s = val;
    tx_budget_release(s->b);
    free(s);
}

struct tr_tx_memo *tr_tx_memo_new(void)
{
    struct tr_tx_memo *m = tr_xcalloc(1, sizeof(struct tr_tx_memo));
    m->slab = tr_slab_new(UNIT_PAGE);
    return m;
}

void tx_memo_settle(struct tr_tx_memo *m, struct tx *t)
{
    struct tx_world *w = t->w;
    size_t resolved = w->eps ? w->eps->len : 0;
    if (resolved <= 64 || w->used * 4 >= resolved)
        return;
    /* Most of the endpoints resolved in this world went unused by the run (the routes that
     * wanted them are gone): the next run starts a new world, where the routes left resolve
     * theirs again, and the rest is given back. */
    if (m->w == w) {
        tx_world_release(m->w);
        m->w = NULL;
    }
    if (!w->used) { /* nothing of it in this run's IR: it can go now */
        tx_world_release(t->w);
        t->w = NULL;
    }
}

struct tx_ports *tx_memo_ports(struct tr_tx_memo *m)
{
    return m->ports;
}

size_t tr_tx_memo_resolved(const struct tr_tx_memo *m)
{
    return m->w && m->w->eps ? m->w->eps->len : 0;
}

struct tr_slab *tx_memo_slab(const struct tr_tx_memo *m)
{
    return m->slab;
}

void tr_tx_memo_free(struct tr_tx_memo *m)
{
    if (!m)
        return;
    for (int k = 0; k < TR_KIND__COUNT; k++) {
        for (size_t i = 0; i < m->units[k].n; i++)
            tx_unit_release(m->units[k].v[i]);
        free(m->units[k].v);
    }
    size_t it = 0;
    struct tr_map_slot *s;
    while ((s = tr_map_next(&m->checks, &it)))
        free(s->val);
    tr_map_dispose(&m->checks);
    it = 0;
    while ((s = tr_map_next(&m->budgets, &it)))
        drop_budget(s->val);
    tr_map_dispose(&m->budgets);
    tx_world_release(m->w);
    tr_slab_free(m->slab); /* units runs still hold keep their pages */
    tx_ports_release(m->ports);
    free(m);
}

/* Sweeps: the checks start with the epoch they were last used in; the older ones go. */
struct stale {
    uint64_t min;
    void (*drop)(void *);
};

static bool stale(void *ud, void *val)
{
    const struct stale *st = ud;
    if (*(const uint64_t *)val >= st->min)
        return false;
    st->drop(val);
    return true;
}

static void sweep(struct tr_map *map, uint64_t min, void (*drop)(void *))
{
    struct stale st = {min, drop};
    tr_map_sweep(map, stale, &st);
}

struct tx_check *tx_memo_check(struct tx *t, const char *what, const struct tr_obj *o)
{
    struct tr_tx_memo *m = t->in->memo;
    if (!m)
        return NULL;
    char key[64];
    int kl = snprintf(key, sizeof(key), "%s:%llu", what, (unsigned long long)o->version);
    if (kl <= 0 || (size_t)kl >= sizeof(key))
        return NULL;
    struct tx_check *c = tr_map_get(&m->checks, key, (size_t)kl);
    if (!c) {
        c = tr_xcalloc(1, sizeof(*c));
        tr_map_put(&m->checks, key, (size_t)kl, c);
    }
    c->epoch = m->epoch;
    return c;
}

struct tr_ir_retry_budget *tx_budget(struct tx *t, const char *key, size_t kl)
{
    struct tr_tx_memo *m = t->in->memo;
    struct budget_slot *s = m ? tr_map_get(&m->budgets, key, kl) : NULL;
    struct tr_ir_retry_budget *b = s ? s->b : NULL;
    if (!b) {
        b = tr_xcalloc(1, sizeof(*b));
        b->refs = 0;
        if (m) {
            s = tr_xcalloc(1, sizeof(*s));
            s->b = b;
            b->refs = 1;
            tr_map_put(&m->budgets, key, kl, s);
        }
    }
    if (s)
        s->epoch = m->epoch;
    __atomic_add_fetch(&b->refs, 1, __ATOMIC_ACQ_REL);
    if (t->nbudgets == t->budgets_cap) {
        t->budgets_cap = t->budgets_cap ? t->budgets_cap * 2 : 4;
        t->budgets = tr_xrealloc(t->budgets, t->budgets_cap * sizeof(*t->budgets));
    }
    t->budgets[t->nbudgets++] = b;
    return b;
}

struct tx_world *tx_memo_begin(struct tr_tx_memo *m, const struct tr_view *v)
{
    /* Checks of objects the previous run did not look at are forgotten; so are budgets. */
    sweep(&m->checks, m->epoch, free);
    sweep(&m->budgets, m->epoch, drop_budget);
    m->epoch++;
    if (!m->w || m->w->stamp != tx_world_stamp(v) ||
        m->w->slices_version != v->kind_version[TR_KIND_ENDPOINTSLICE]) {
        tx_world_release(m->w);
        m->w = tx_world_new(v);
    }
    m->w->serial++;
    m->w->used = 0;
    if (!m->ports || tx_ports_stamp(m->ports) != m->w->stamp) {
        tx_ports_release(m->ports);
        m->ports = tx_ports_new(m->w->stamp);
    }
    for (int k = 0; k < TR_KIND__COUNT; k++) {
        struct unit_list *l = &m->units[k];
        l->at = 0;
        l->nnext = 0;
        l->next = v->n[k] ? tr_xmalloc(v->n[k] * sizeof(*l->next)) : NULL;
    }
    return world_ref(m->w);
}

void tx_memo_end(struct tr_tx_memo *m)
{
    /* Routes that are gone (or were not seen by this run) lose their results. */
    for (int k = 0; k < TR_KIND__COUNT; k++) {
        struct unit_list *l = &m->units[k];
        for (size_t i = l->at; i < l->n; i++)
            tx_unit_release(l->v[i]);
        free(l->v);
        l->v = l->next;
        l->n = l->nnext;
        l->next = NULL;
        l->nnext = l->at = 0;
    }
}

void tx_unit_hold(struct tx *t, struct tx_unit *u)
{
    if (!t->units) { /* one per route of the view at most (rank_routes counted them): sized once */
        t->units_cap = t->nranked;
        t->units = TR_ANEWN(t->run_a, struct tx_unit *, t->units_cap);
    }
    TR_BUG_ON(t->nunits >= t->units_cap);
    __atomic_add_fetch(&u->refs, 1, __ATOMIC_RELAXED);
    t->units[t->nunits++] = u;
}

void tx_units_release(struct tx *t)
{
    for (size_t i = 0; i < t->nunits; i++)
        tx_unit_release(t->units[i]);
    t->nunits = 0;
}


/* The unit of route r from the memo, translated again when the route or the world changed; the
 * run holds a reference to it. Routes of a kind come in the view's order. */
struct tx_unit *tx_memo_route(struct tx *t, enum tr_kind kind, const struct tr_obj *r)
{
    struct tr_tx_memo *m = t->in->memo;
    struct unit_list *l = &m->units[kind];
    /* Results of routes that sort before r are of routes that are gone. */
    while (l->at < l->n && tr_obj_name_cmp(r->ns, r->name, l->v[l->at]->obj) > 0)
        tx_unit_release(l->v[l->at++]);
    struct tx_unit *u = l->at < l->n && tr_obj_name_cmp(r->ns, r->name, l->v[l->at]->obj) == 0 ? l->v[l->at++] : NULL;
    if (!u || u->obj != r || tx_ports_stamp(u->ports) != t->w->stamp) {
        tx_unit_release(u);
        u = tx_route_translate(t, kind, r, true); /* its reference is the memo's */
    }
    TR_BUG_ON(l->nnext >= t->v->n[kind]);
    l->next[l->nnext++] = u;
    tx_unit_hold(t, u);
    return u;
}
