/* Route attachment, for every route kind: parentRefs to Gateways and ListenerSets, sectionName
 * and port, allowedRoutes (kinds, namespaces), hostname intersection, and each parent's
 * Accepted and ResolvedRefs conditions. */
#include "translate/internal.h"

#include <string.h>

static bool has_hostnames(enum tr_kind k)
{
    return k == TR_KIND_HTTPROUTE || k == TR_KIND_GRPCROUTE || k == TR_KIND_TLSROUTE;
}

/* The route's hostnames narrowed to a listener's: NULL-terminated, NULL when none intersect.
 * A route without hostnames takes the listener's (or matches any host). */
static const char **effective_hosts(struct tx *t, const struct tr_obj *route, const struct lst *l)
{
    const struct tr_node *hs = tr_node_get(route->spec, "hostnames");
    size_t n = tr_node_len(hs);
    const char **out = TR_ANEWN(t->a, const char *, n + 2);
    size_t k = 0;
    if (!has_hostnames(route->kind) || n == 0) {
        if (l->hostname)
            out[k++] = l->hostname;
        return out;
    }
    for (size_t i = 0; i < n; i++) {
        const struct tr_node *h = tr_node_at(hs, i);
        if (h->type != TR_N_STR)
            continue;
        const char *x = tx_host_intersect(l->hostname, h->u.s);
        if (x)
            out[k++] = x;
    }
    return k ? out : NULL;
}

static bool kind_allowed(const struct lst *l, enum tr_kind k)
{
    for (int i = 0; i < l->nkinds; i++)
        if (strcmp(l->kinds[i], tr_kind_name(k)) == 0)
            return true;
    return false;
}

struct rule_out {
    struct ir_backends be;
    struct tr_ir_mirror *mirrors;
    size_t nmirrors;
    const struct tr_node *spec;
};

/* RequestMirror filters: each backendRef resolved like a backendRefs entry (an unresolved one
 * makes the route's ResolvedRefs False), and its share: percent, or fraction, or all. */
static enum tr_reason rule_mirrors(struct tx *t, const struct tr_obj *r, const struct tr_node *rule, struct rule_out *ro,
                                   const char **msg)
{
    const struct tr_node *fs = tr_node_get(rule, "filters");
    size_t n = 0;
    for (size_t i = 0; i < tr_node_len(fs); i++) {
        const char *type = tr_node_gets(tr_node_at(fs, i), "type");
        n += type && strcmp(type, "RequestMirror") == 0;
    }
    if (!n)
        return TR_R__COUNT;
    ro->mirrors = TR_ANEWN(t->a, struct tr_ir_mirror, n);
    enum tr_reason first = TR_R__COUNT;
    for (size_t i = 0; i < tr_node_len(fs); i++) {
        const struct tr_node *f = tr_node_at(fs, i);
        const char *type = tr_node_gets(f, "type");
        if (!type || strcmp(type, "RequestMirror") != 0)
            continue;
        const struct tr_node *rm = tr_node_get(f, "requestMirror");
        struct tr_node *one = tr_node_new(t->a, TR_N_SEQ);
        tr_node_push(t->a, one, tr_node_get(rm, "backendRef"));
        struct ir_backends be;
        const char *m = NULL;
        enum tr_reason why = tx_backends(t, r, one, &be, &m);
        if (why != TR_R__COUNT && first == TR_R__COUNT) {
            first = why;
            *msg = m;
        }
        struct tr_ir_mirror *mi = &ro->mirrors[ro->nmirrors++];
        mi->backend = be.v[0];
        mi->numerator = 100;
        mi->denominator = 100;
        const struct tr_node *frac = tr_node_get(rm, "fraction");
        int64_t pct = tr_node_geti(rm, "percent", -1);
        if (frac) {
            mi->numerator = (uint32_t)tr_node_geti(frac, "numerator", 0);
            mi->denominator = (uint32_t)tr_node_geti(frac, "denominator", 100);
        } else if (pct >= 0) {
            mi->numerator = (uint32_t)pct;
        }
    }
    return first;
}

/* Resolves every rule's backends once per route. Returns the route's ResolvedRefs. */
static enum tr_reason route_rules(struct tx *t, const struct tr_obj *r, struct rule_out **rules_out, size_t *nrules,
                                  const char **msg)
{
    const struct tr_node *rules = tr_node_get(r->spec, "rules");
    size_t n = tr_node_len(rules);
    struct rule_out *ro = TR_ANEWN(t->a, struct rule_out, n + 1);
    enum tr_reason first = TR_R__COUNT;
    for (size_t i = 0; i < n; i++) {
        const struct tr_node *rule = tr_node_at(rules, i);
        ro[i].spec = rule;
        const char *m = NULL;
        enum tr_reason why = tx_backends(t, r, tr_node_get(rule, "backendRefs"), &ro[i].be, &m);
        if (why != TR_R__COUNT && first == TR_R__COUNT) {
            first = why;
            *msg = m;
        }
        why = rule_mirrors(t, r, rule, &ro[i], &m);
        if (why != TR_R__COUNT && first == TR_R__COUNT) {
            first = why;
            *msg = m;
        }
    }
    *rules_out = ro;
    *nrules = n;
    return first;
}

static void attach(struct tx *t, struct lst *l, const struct tr_obj *r, const char **hosts, struct rule_out *rules,
                   size_t nrules)
{
    for (size_t i = 0; i < nrules; i++) {
        struct tr_ir_rule ir = {
            .route = r,
            .index = (uint32_t)i,
            .name = tr_node_gets(rules[i].spec, "name"),
            .spec = rules[i].spec,
            .hostnames = hosts,
            .backends = rules[i].be.v,
            .nbackends = rules[i].be.n,
            .mirrors = rules[i].mirrors,
            .nmirrors = rules[i].nmirrors,
        };
        tx_ir_add_rule(t, l, &ir);
    }
}

void tx_routes(struct tx *t, enum tr_kind kind)
{
    const struct tr_view *v = t->v;
    for (size_t ri = 0; ri < v->n[kind]; ri++) {
        const struct tr_obj *r = v->objs[kind][ri];
        const struct tr_node *prefs = tr_node_get(r->spec, "parentRefs");
        struct tr_node *parents = NULL;
        struct rule_out *rules = NULL;
        size_t nrules = 0;
        const char *refs_msg = NULL;
        enum tr_reason refs = TR_R__COUNT;
        bool resolved = false;
        /* Listeners this route is attached to, for counting each once. */
        struct lst **seen = TR_ANEWN(t->a, struct lst *, 1);
        size_t nseen = 0, capseen = 0;

        for (size_t pi = 0; pi < tr_node_len(prefs); pi++) {
            const struct tr_node *p = tr_node_at(prefs, pi);
            const char *pgroup = str_or(tr_node_gets(p, "group"), TR_GW_GROUP);
            const char *pkind = str_or(tr_node_gets(p, "kind"), "Gateway");
            const char *pns = str_or(tr_node_gets(p, "namespace"), r->ns);
            const char *pname = str_or(tr_node_gets(p, "name"), "");
            const char *section = tr_node_gets(p, "sectionName");
            int64_t port = tr_node_geti(p, "port", 0);
            if (strcmp(pgroup, TR_GW_GROUP) != 0)
                continue;
            struct lst *ls = NULL;
            size_t nl = 0;
            const char *owner_ns = NULL;
            if (strcmp(pkind, "Gateway") == 0) {
                const struct tr_obj *go = tr_view_find(v, TR_KIND_GATEWAY, pns, pname);
                struct gw *g = go ? tx_gw_of(t, go) : NULL;
                if (!g || !g->ours)
                    continue;
                ls = g->l;
                nl = g->nl;
                owner_ns = go->ns;
            } else if (strcmp(pkind, "ListenerSet") == 0) {
                const struct tr_obj *so = tr_view_find(v, TR_KIND_LISTENERSET, pns, pname);
                long si = so ? tr_view_index(v, so) : -1;
                struct lset *s = si >= 0 ? &t->lsets[si] : NULL;
                if (!s || !s->ours)
                    continue;
                ls = s->l;
                nl = s->nl;
                owner_ns = so->ns;
            } else {
                continue; /* Service parents are the mesh's; torii is not a mesh yet */
            }
            if (!resolved) {
                refs = route_rules(t, r, &rules, &nrules, &refs_msg);
                resolved = true;
            }
            struct conds cs = {0};
            size_t matched = 0, attached = 0;
            bool host_miss = false;
            for (size_t li = 0; li < nl; li++) {
                struct lst *l = &ls[li];
                if (section && strcmp(section, str_or(l->name, "")) != 0)
                    continue;
                if (port && port != l->port)
                    continue;
                matched++;
                /* Attachment does not depend on the listener's own status: attachedRoutes is
                 * counted even on a listener that is not Accepted (ListenerStatus docs); only
                 * an accepted listener serves the route. */
                if (!l->proto_ok || !kind_allowed(l, kind))
                    continue;
                const struct tr_node *ns_rule = tr_node_path(l->spec, "allowedRoutes.namespaces");
                if (!tx_namespace_allowed(t, ns_rule, "Same", owner_ns, r->ns))
                    continue;
                const char **hosts = effective_hosts(t, r, l);
                if (!hosts) {
                    host_miss = true;
                    continue;
                }
                attached++;
                bool dup = false;
                for (size_t k = 0; k < nseen; k++)
                    dup |= seen[k] == l;
                if (dup)
                    continue;
                if (nseen == capseen) {
                    capseen = capseen ? capseen * 2 : 4;
                    struct lst **grown = TR_ANEWN(t->a, struct lst *, capseen);
                    memcpy(grown, seen, nseen * sizeof(*seen));
                    seen = grown;
                }
                seen[nseen++] = l;
                l->attached++;
                if (l->accepted)
                    attach(t, l, r, hosts, rules, nrules);
            }
            if (attached) {
                cset(&cs, "Accepted", true, TR_R_ACCEPTED, "Route is accepted");
            } else if (!matched) {
                cset(&cs, "Accepted", false, TR_R_NO_MATCHING_PARENT,
                     section || port ? "No listener matches the parentRef's sectionName and port"
                                     : "The parent has no listeners");
            } else if (host_miss) {
                cset(&cs, "Accepted", false, TR_R_NO_MATCHING_LISTENER_HOSTNAME,
                     "No listener hostname intersects the route's hostnames");
            } else {
                cset(&cs, "Accepted", false, TR_R_NOT_ALLOWED_BY_LISTENERS,
                     "No listener allows this route (kind, namespace, or listener not valid)");
            }
            if (refs == TR_R__COUNT)
                cset(&cs, "ResolvedRefs", true, TR_R_RESOLVED_REFS, "All references resolved");
            else
                cset(&cs, "ResolvedRefs", false, refs, refs_msg);

            if (!parents)
                parents = tr_node_new(t->a, TR_N_SEQ);
            struct tr_node *entry = tr_node_new(t->a, TR_N_MAP);
            struct tr_node *pr = tr_node_clone(t->a, p);
            tr_node_set(t->a, pr, "group", tr_node_str(t->a, pgroup));
            tr_node_set(t->a, pr, "kind", tr_node_str(t->a, pkind));
            tr_node_set(t->a, entry, "parentRef", pr);
            tr_node_set(t->a, entry, "controllerName", tr_node_str(t->a, t->in->controller));
            tr_node_set(t->a, entry, "conditions", conds_render(t->a, &cs, r->generation));
            tr_node_push(t->a, parents, entry);
        }
        if (parents) {
            struct tr_node *st = tr_node_new(t->a, TR_N_MAP);
            tr_node_set(t->a, st, "parents", parents);
            t->status[kind][ri] = st;
        }
    }
}
