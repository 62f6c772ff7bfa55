/* Conditions and hostname intersection. */
#include "translate/internal.h"

#include <string.h>

#define REASON_STR(id, s) s,
static const char *const reason_strs[] = {TR_REASONS(REASON_STR)};
#undef REASON_STR

const char *tr_reason_str(enum tr_reason r)
{
    return reason_strs[r];
}

void cset(struct conds *cs, const char *type, bool status, enum tr_reason reason, const char *msg)
{
    for (int i = 0; i < cs->n; i++) {
        if (strcmp(cs->c[i].type, type) == 0) {
            cs->c[i] = (struct cond){type, status, reason, msg};
            return;
        }
    }
    if (cs->n < MAX_CONDS)
        cs->c[cs->n++] = (struct cond){type, status, reason, msg};
}

const struct cond *cget(const struct conds *cs, const char *type)
{
    for (int i = 0; i < cs->n; i++)
        if (strcmp(cs->c[i].type, type) == 0)
            return &cs->c[i];
    return NULL;
}

/* Messages are capped like Kubernetes' 32 KiB condition message limit (we stay far below). */
#define MAX_MSG 1024

struct tr_node *conds_render(struct tr_arena *a, const struct conds *cs, int64_t generation)
{
    struct tr_node *seq = tr_node_new(a, TR_N_SEQ);
    for (int i = 0; i < cs->n; i++) {
        const struct cond *c = &cs->c[i];
        struct tr_node *m = tr_node_new(a, TR_N_MAP);
        tr_node_set(a, m, "type", tr_node_str(a, c->type));
        tr_node_set(a, m, "status", tr_node_str(a, c->status ? "True" : "False"));
        tr_node_set(a, m, "reason", tr_node_str(a, tr_reason_str(c->reason)));
        const char *msg = c->msg ? c->msg : "";
        size_t len = strlen(msg);
        tr_node_set(a, m, "message", tr_node_strn(a, msg, len > MAX_MSG ? MAX_MSG : len));
        tr_node_set(a, m, "observedGeneration", tr_node_int(a, generation));
        tr_node_push(a, seq, m);
    }
    return seq;
}

/* Listener.hostname: "*.example.com" matches test.example.com and foo.test.example.com but not
 * example.com; two wildcards intersect as the longer one (gateway.networking.k8s.io Listener
 * and HTTPRoute hostnames docs). Returns the narrower hostname, or NULL when disjoint. */
static bool wildcard_covers(const char *wild, const char *host)
{
    /* wild is "*.suffix": host must end in ".suffix" with at least one label before it. */
    const char *suffix = wild + 1; /* ".suffix" */
    size_t sl = strlen(suffix), hl = strlen(host);
    return hl > sl && strcmp(host + hl - sl, suffix) == 0;
}

const char *tx_host_intersect(const char *listener, const char *route)
{
    if (!listener || !*listener)
        return route;
    if (!route || !*route)
        return listener;
    bool lw = listener[0] == '*', rw = route[0] == '*';
    if (!lw && !rw)
        return strcmp(listener, route) == 0 ? route : NULL;
    if (lw && !rw)
        return wildcard_covers(listener, route) ? route : NULL;
    if (!lw && rw)
        return wildcard_covers(route, listener) ? listener : NULL;
    if (strcmp(listener, route) == 0)
        return route;
    if (strlen(listener) < 3 || strlen(route) < 3)
        return NULL; /* "*" alone is not a valid hostname (the schema keeps it out) */
    if (wildcard_covers(listener, route + 2))
        return route;
    if (wildcard_covers(route, listener + 2))
        return listener;
    return NULL;
}
