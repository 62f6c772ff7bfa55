/* Building the IR from the judged listeners, and rendering it for golden files and dumps. */
#include "translate/internal.h"
#include "ir/ir.h"
#include "ir/match.h"

#include <stdlib.h>
#include <string.h>

const char *tr_proto_name(enum tr_proto p)
{
    static const char *const names[] = {"HTTP", "HTTPS", "TLS", "TCP", "UDP"};
    return names[p];
}

/* A listener's metrics cells, and its rules unless it shares another listener's. */
static void free_rules(void *p)
{
    struct tr_ir_listener *il = p;
    size_t npages = (il->nrules + TR_IR_CELL_PAGE - 1) / TR_IR_CELL_PAGE;
    for (size_t i = 0; il->cells && i < npages; i++) {
        for (size_t k = 0; il->cells[i] && k < TR_IR_CELL_PAGE; k++)
            free(il->cells[i]->rule[k]);
        free(il->cells[i]);
    }
    free(il->cells);
    if (il->rules_owner == il)
        free(il->rules);
}

/* Rules are appended per listener while routes attach, in route precedence order (tx_routes
 * applies routes in that order, a route's rules in theirs). The array doubles on the heap (an
 * arena would keep every outgrown copy until the run is freed) and is freed with the run. */
void tx_ir_add_rule(struct tx *t, struct lst *l, const struct tr_ir_rule *rule)
{
    if (!l->ir)
        l->ir = TR_ANEW(t->a, struct tr_ir_listener);
    struct tr_ir_listener *il = l->ir;
    if (il->nrules == l->rules_cap) {
        if (!l->rules_cap) {
            tr_arena_on_reset(t->run_a, free_rules, il);
            il->rules_owner = il;
        }
        l->rules_cap = l->rules_cap ? l->rules_cap * 2 : 4;
        il->rules = tr_xrealloc(il->rules, l->rules_cap * sizeof(*il->rules));
    }
    il->rules[il->nrules++] = *rule;
}

/* The port for addr:port (tcp or udp), added if new. */
static struct tr_ir_port *port_for(struct tx *t, struct tr_ir_port **ports, size_t *nports, size_t *cap,
                                   const char *addr, uint16_t port, bool udp)
{
    for (size_t i = 0; i < *nports; i++)
        if ((*ports)[i].port == port && (*ports)[i].udp == udp && strcmp((*ports)[i].addr, addr) == 0)
            return &(*ports)[i];
    if (*nports == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        struct tr_ir_port *grown = TR_ANEWN(t->a, struct tr_ir_port, *cap);
        if (*nports)
            memcpy(grown, *ports, *nports * sizeof(*grown));
        *ports = grown;
    }
    struct tr_ir_port *p = &(*ports)[(*nports)++];
    p->addr = addr;
    p->port = port;
    p->udp = udp;
    return p;
}

/* Listener i of g: its own, then its ListenerSets' in order; NULL past the last. */
static struct lst *gw_listener(struct gw *g, size_t i)
{
    if (i < g->nl)
        return &g->l[i];
    i -= g->nl;
    for (size_t s = 0; s < g->nsets; i -= g->sets[s]->nl, s++)
        if (i < g->sets[s]->nl)
            return &g->sets[s]->l[i];
    return NULL;
}

/* Listeners of a Gateway that are served the same rules (routes attached to both, with the
 * same hostnames: an HTTP and an HTTPS listener without hostnames most often) share the first
 * one's array, and the snapshot gives them one router. Their metrics cells stay their own. Only
 * an earlier listener's own array is shared, so no array that is shared is ever given up. */
static void share_rules(struct gw *g)
{
    struct lst *l;
    for (size_t i = 0; (l = gw_listener(g, i)); i++) {
        struct tr_ir_listener *il = l->ir;
        if (!l->in_ir || !il->nrules)
            continue;
        struct lst *c;
        for (size_t j = 0; j < i && (c = gw_listener(g, j)); j++) {
            const struct tr_ir_listener *o = c->ir;
            if (c->in_ir && o->rules_owner == o && o->nrules == il->nrules &&
                memcmp(o->rules, il->rules, il->nrules * sizeof(*il->rules)) == 0) {
                free(il->rules);
                il->rules = o->rules;
                il->rules_owner = o;
                break;
            }
        }
    }
}

/* A listener is served on every address of its Gateway ("The implementation MUST bind all
 * Listeners to every GatewayAddress that it assigns to the Gateway", GatewaySpec.Addresses):
 * one IR listener, shared by the ports of each address. */
static void add_listener(struct tx *t, struct gw *g, struct lst *l, struct tr_ir_port **ports, size_t *nports,
                         size_t *cap)
{
    if (!l->accepted || !l->refs_ok || !g->naddrs)
        return;
    if (!l->ir)
        l->ir = TR_ANEW(t->a, struct tr_ir_listener);
    struct tr_ir_listener *il = l->ir;
    il->gw_ns = g->obj->ns;
    il->gw_name = g->obj->name;
    if (l->set) {
        il->set_ns = l->set->obj->ns;
        il->set_name = l->set->obj->name;
    }
    il->name = l->name;
    il->hostname = l->hostname;
    il->port = (uint16_t)l->port;
    il->proto = l->proto;
    il->tls_passthrough = l->passthrough;
    il->certs = l->certs;
    il->backend_cert = g->backend_cert;
    il->client_cas = l->client_cas;
    il->client_optional = l->client_optional;
    /* The array doubled as routes attached: up to half of it is spare for as long as the
     * snapshot lives. Nothing points into it yet: it can move. */
    if (il->nrules && il->nrules < l->rules_cap) {
        il->rules = tr_xrealloc(il->rules, il->nrules * sizeof(*il->rules));
        l->rules_cap = il->nrules;
    }
    l->in_ir = true;
    bool udp = l->proto == TR_PROTO_UDP;
    int bind_port = tx_bind_port(t, l);
    for (size_t a = 0; a < g->naddrs && bind_port; a++) {
        if (l->held && l->held[a].by)
            continue; /* another Gateway's socket (sockets.c): never bound for this one */
        struct tr_ir_port *p = port_for(t, ports, nports, cap, g->addrs[a], (uint16_t)bind_port, udp);
        struct tr_ir_listener **grown = TR_ANEWN(t->a, struct tr_ir_listener *, p->nlisteners + 1);
        if (p->nlisteners)
            memcpy(grown, p->listeners, p->nlisteners * sizeof(*grown));
        grown[p->nlisteners++] = il;
        p->listeners = grown;
    }
}

static int cmp_port(const void *a, const void *b)
{
    const struct tr_ir_port *x = a, *y = b;
    int c = strcmp(x->addr, y->addr);
    if (!c)
        c = (int)x->port - (int)y->port;
    if (!c)
        c = (int)x->udp - (int)y->udp;
    return c;
}

void tx_ir_build(struct tx *t)
{
    struct tr_ir *ir = TR_ANEW(t->a, struct tr_ir);
    size_t cap = 0;
    for (size_t i = 0; i < t->v->n[TR_KIND_GATEWAY]; i++) {
        struct gw *g = &t->gws[i];
        if (!g->ours || !g->accepted)
            continue;
        for (size_t j = 0; j < g->nl; j++)
            add_listener(t, g, &g->l[j], &ir->ports, &ir->nports, &cap);
        for (size_t s = 0; s < g->nsets; s++)
            for (size_t j = 0; j < g->sets[s]->nl; j++)
                add_listener(t, g, &g->sets[s]->l[j], &ir->ports, &ir->nports, &cap);
    }
    for (size_t i = 0; i < t->v->n[TR_KIND_GATEWAY]; i++)
        share_rules(&t->gws[i]);
    if (ir->nports > 1)
        qsort(ir->ports, ir->nports, sizeof(*ir->ports), cmp_port);
    t->ir = ir;
}

/* --- rendering --- */

static struct tr_node *str(struct tr_arena *a, const char *s)
{
    return tr_node_str(a, s ? s : "");
}

static struct tr_node *objs_list(struct tr_arena *a, const struct tr_obj *const *objs)
{
    struct tr_node *l = tr_node_new(a, TR_N_SEQ);
    for (const struct tr_obj *const *o = objs; o && *o; o++)
        tr_node_push(a, l, tr_node_str(a, tr_arena_printf(a, "%s %s/%s", tr_kind_name((*o)->kind), (*o)->ns, (*o)->name)));
    return l;
}

static struct tr_node *strs_list(struct tr_arena *a, const char *const *v)
{
    struct tr_node *l = tr_node_new(a, TR_N_SEQ);
    for (; v && *v; v++)
        tr_node_push(a, l, str(a, *v));
    return l;
}

/* What the data plane does with a backend's TLS: the names, and the CA bundles by name (never
 * their content). */
static struct tr_node *render_tls(struct tr_arena *a, const struct tr_ir_backend_tls *tls)
{
    struct tr_node *m = tr_node_new(a, TR_N_MAP);
    tr_node_set(a, m, "policy", tr_node_str(a, tr_arena_printf(a, "%s/%s", tls->policy->ns, tls->policy->name)));
    if (tls->peer.sni)
        tr_node_set(a, m, "sni", str(a, tls->peer.sni));
    if (tls->peer.names && tls->peer.names[0])
        tr_node_set(a, m, "names", strs_list(a, tls->peer.names));
    if (tls->peer.uris && tls->peer.uris[0])
        tr_node_set(a, m, "uris", strs_list(a, tls->peer.uris));
    if (tls->system_cas)
        tr_node_set(a, m, "systemCAs", tr_node_bool(a, true));
    tr_node_set(a, m, "caBundles", objs_list(a, tls->cas));
    if (tls->client_cert) {
        const struct tr_obj *c = tls->client_cert;
        tr_node_set(a, m, "clientCertificate", tr_node_str(a, tr_arena_printf(a, "%s %s/%s", tr_kind_name(c->kind), c->ns, c->name)));
    }
    return m;
}

static struct tr_node *render_header_mod(struct tr_arena *a, const struct tr_ir_header_mod *hm)
{
    struct tr_node *m = tr_node_new(a, TR_N_MAP);
    static const char *const names[] = {"set", "add", "remove"};
    size_t ns[] = {hm->nset, hm->nadd, hm->nremove};
    size_t first[] = {0, hm->nset, (size_t)hm->nset + hm->nadd};
    for (size_t k = 0; k < 3; k++) {
        if (!ns[k])
            continue;
        struct tr_node *l = tr_node_new(a, TR_N_SEQ);
        for (size_t i = 0; i < ns[k]; i++) {
            const struct tr_ir_header *h = &hm->v[first[k] + i];
            const char *name = tr_ir_mod_name(hm, first[k] + i);
            tr_node_push(a, l, h->value ? tr_node_str(a, tr_arena_printf(a, "%s: %s", name, h->value)) : str(a, name));
        }
        tr_node_set(a, m, names[k], l);
    }
    return m;
}

static struct tr_node *render_path_mod(struct tr_arena *a, const struct tr_ir_path_mod *pm)
{
    return tr_node_str(a, tr_arena_printf(a, "%s %s", pm->kind == TR_IR_PATH_FULL ? "ReplaceFullPath" : "ReplacePrefixMatch",
                                          pm->value));
}

static struct tr_node *render_strs(struct tr_arena *a, const struct tr_ir_strs *s)
{
    struct tr_node *l = tr_node_new(a, TR_N_SEQ);
    for (size_t i = 0; i < s->n; i++)
        tr_node_push(a, l, str(a, s->v[i]));
    return l;
}

/* Origins as the data plane compares them: scheme, host (or its wildcard form) and port, the
 * scheme's default filled in. */
static struct tr_node *render_cors(struct tr_arena *a, const struct tr_ir_cors *c)
{
    struct tr_node *m = tr_node_new(a, TR_N_MAP);
    struct tr_node *os = tr_node_new(a, TR_N_SEQ);
    if (c->any_origin)
        tr_node_push(a, os, tr_node_str(a, "*"));
    for (size_t i = 0; i < c->norigins; i++) {
        const struct tr_ir_origin *o = &c->origins[i];
        if (!o->valid) {
            tr_node_push(a, os, tr_node_str(a, tr_arena_printf(a, "not an origin: %s", o->text)));
            continue;
        }
        const char *wild = o->host_kind == TR_IR_HOST_EXACT ? "" : "*";
        size_t hl = o->host_kind == TR_IR_HOST_ANY ? 0 : o->o.host_len;
        tr_node_push(a, os, tr_node_str(a, tr_arena_printf(a, "%.*s://%s%.*s:%ld", (int)o->o.scheme_len, o->o.scheme,
                                                           wild, (int)hl, o->o.host, o->o.port)));
    }
    tr_node_set(a, m, "allowOrigins", os);
    if (c->methods.n)
        tr_node_set(a, m, "allowMethods", render_strs(a, &c->methods));
    if (c->headers.n)
        tr_node_set(a, m, "allowHeaders", render_strs(a, &c->headers));
    if (c->expose.n)
        tr_node_set(a, m, "exposeHeaders", render_strs(a, &c->expose));
    tr_node_set(a, m, "allowCredentials", tr_node_bool(a, c->credentials));
    tr_node_set(a, m, "maxAge", tr_node_int(a, c->max_age));
    return m;
}

/* The filters as the data plane applies them, or NULL when there are none. */
static struct tr_node *render_filters(struct tr_arena *a, const struct tr_ir_filters *f)
{
    if (!f)
        return NULL;
    struct tr_node *m = tr_node_new(a, TR_N_MAP);
    if (f->request_headers)
        tr_node_set(a, m, "requestHeaders", render_header_mod(a, f->request_headers));
    if (f->response_headers)
        tr_node_set(a, m, "responseHeaders", render_header_mod(a, f->response_headers));
    const struct tr_ir_redirect *r = tr_ir_filters_redirect(f);
    const struct tr_ir_rewrite *rw = tr_ir_filters_rewrite(f);
    if (r) {
        struct tr_node *rm = tr_node_new(a, TR_N_MAP);
        if (r->scheme)
            tr_node_set(a, rm, "scheme", str(a, r->scheme));
        if (r->hostname)
            tr_node_set(a, rm, "hostname", str(a, r->hostname));
        if (r->port >= 0)
            tr_node_set(a, rm, "port", tr_node_int(a, r->port));
        if (r->path.kind != TR_IR_PATH_KEEP)
            tr_node_set(a, rm, "path", render_path_mod(a, &r->path));
        tr_node_set(a, rm, "statusCode", tr_node_int(a, r->status));
        tr_node_set(a, m, "redirect", rm);
    }
    if (rw) {
        struct tr_node *rm = tr_node_new(a, TR_N_MAP);
        if (rw->hostname)
            tr_node_set(a, rm, "hostname", str(a, rw->hostname));
        if (rw->path.kind != TR_IR_PATH_KEEP)
            tr_node_set(a, rm, "path", render_path_mod(a, &rw->path));
        tr_node_set(a, m, "rewrite", rm);
    }
    if (tr_ir_filters_cors(f))
        tr_node_set(a, m, "cors", render_cors(a, tr_ir_filters_cors(f)));
    const struct tr_ir_extauth *ea = tr_ir_filters_extauth(f);
    if (ea) {
        struct tr_node *e = tr_node_new(a, TR_N_MAP);
        tr_node_set(a, e, "protocol", tr_node_str(a, ea->protocol == TR_EXTAUTH_GRPC ? "GRPC" : "HTTP"));
        if (*ea->path_prefix)
            tr_node_set(a, e, "pathPrefix", str(a, ea->path_prefix));
        static const char *const lists[] = {"allowedHeaders", "allowedResponseHeaders"};
        const char **vals[] = {ea->allowed, ea->allowed_resp};
        for (size_t i = 0; i < 2; i++) {
            if (!vals[i])
                continue;
            struct tr_node *l = tr_node_new(a, TR_N_SEQ);
            for (const char **s = vals[i]; *s; s++)
                tr_node_push(a, l, str(a, *s));
            tr_node_set(a, e, lists[i], l);
        }
        if (ea->max_body)
            tr_node_set(a, e, "forwardBodyMaxSize", tr_node_int(a, (int64_t)ea->max_body));
        tr_node_set(a, m, "externalAuth", e);
    }
    return tr_node_len(m) ? m : NULL;
}

static struct tr_node *render_kvs(struct tr_arena *a, const struct tr_ir_kv *kv, size_t n)
{
    struct tr_node *l = tr_node_new(a, TR_N_SEQ);
    for (size_t i = 0; i < n; i++) {
        struct tr_node *e = tr_node_new(a, TR_N_MAP);
        tr_node_set(a, e, "name", str(a, kv[i].name));
        tr_node_set(a, e, kv[i].regex ? "regex" : "exact", str(a, tr_ir_kv_value(&kv[i])));
        tr_node_push(a, l, e);
    }
    return l;
}

/* The compiled matches (ir/match.h): a GRPCRoute method match shows as the path it becomes. */
static struct tr_node *render_matches(struct tr_arena *a, const struct tr_ir_match *ms, size_t n)
{
    static const char *const kinds[] = {[TR_PATH_EXACT] = "Exact", [TR_PATH_REGEX] = "RegularExpression",
                                        [TR_PATH_PREFIX] = "PathPrefix"};
    struct tr_node *l = tr_node_new(a, TR_N_SEQ);
    for (size_t i = 0; i < n; i++) {
        const struct tr_ir_match *m = &ms[i];
        struct tr_node *e = tr_node_new(a, TR_N_MAP);
        tr_node_set(a, e, "path", tr_node_str(a, tr_arena_printf(a, "%s %.*s", kinds[m->path_kind], (int)m->path_len,
                                                                m->path)));
        if (m->method)
            tr_node_set(a, e, "method", str(a, tr_ir_match_method(m)));
        if (m->nheaders)
            tr_node_set(a, e, "headers", render_kvs(a, tr_ir_match_headers(m), m->nheaders));
        if (m->nquery)
            tr_node_set(a, e, "queryParams", render_kvs(a, tr_ir_match_query(m), m->nquery));
        tr_node_push(a, l, e);
    }
    return l;
}

static struct tr_node *render_session(struct tr_arena *a, const struct tr_ir_session *s, size_t npaths)
{
    struct tr_node *m = tr_node_new(a, TR_N_MAP);
    tr_node_set(a, m, "type", tr_node_str(a, s->type == TR_SESSION_HEADER ? "Header" : "Cookie"));
    if (s->name)
        tr_node_set(a, m, "name", str(a, s->name));
    if (s->absolute_ms)
        tr_node_set(a, m, "absoluteMs", tr_node_int(a, (int64_t)s->absolute_ms));
    if (s->permanent)
        tr_node_set(a, m, "permanent", tr_node_bool(a, true));
    if (s->paths) {
        struct tr_node *ps = tr_node_new(a, TR_N_SEQ);
        for (size_t i = 0; i < npaths; i++)
            tr_node_push(a, ps, str(a, s->paths[i]));
        tr_node_set(a, m, "cookiePaths", ps);
    }
    return m;
}

static struct tr_node *render_backend(struct tr_arena *a, const struct tr_ir_backend *b)
{
    struct tr_node *m = tr_node_new(a, TR_N_MAP);
    tr_node_set(a, m, "ref", tr_node_str(a, tr_arena_printf(a, "%s %s/%s:%u", tr_ir_ref_kind(b->ref), b->ref->ns, b->ref->name, b->ref->port)));
    tr_node_set(a, m, "weight", tr_node_int(a, b->ref->weight));
    if (b->invalid)
        tr_node_set(a, m, "invalid", tr_node_bool(a, true));
    if (tr_ir_ref_app_protocol(b->ref))
        tr_node_set(a, m, "appProtocol", str(a, tr_ir_ref_app_protocol(b->ref)));
    if (tr_ir_ref_hostname(b->ref))
        tr_node_set(a, m, "externalName", str(a, tr_ir_ref_hostname(b->ref)));
    struct tr_node *fs = render_filters(a, tr_ir_ref_filters(b->ref));
    if (fs)
        tr_node_set(a, m, "filters", fs);
    if (b->tls)
        tr_node_set(a, m, "tls", render_tls(a, b->tls));
    if (b->policy) {
        struct tr_node *pm = tr_node_new(a, TR_N_MAP);
        tr_node_set(a, pm, "name", tr_node_str(a, tr_arena_printf(a, "%s/%s", b->policy->ns, b->policy->name)));
        if (b->policy->session)
            tr_node_set(a, pm, "sessionPersistence", render_session(a, b->policy->session, 0));
        const struct tr_ir_retry_budget *bu = b->policy->budget;
        if (bu)
            tr_node_set(a, pm, "retryBudget",
                        tr_node_str(a, tr_arena_printf(a, "%u%% of tries over %llu ms, or %u retries per %llu ms",
                                                       bu->percent, (unsigned long long)bu->interval_ms, bu->min_count,
                                                       (unsigned long long)bu->min_interval_ms)));
        tr_node_set(a, m, "trafficPolicy", pm);
    }
    if (!b->invalid) {
        struct tr_node *eps = tr_node_new(a, TR_N_SEQ);
        for (size_t i = 0; i < b->neps; i++)
            tr_node_push(a, eps, tr_node_str(a, tr_arena_printf(a, "%s:%u%s", b->eps[i].addr, b->eps[i].port,
                                                               b->eps[i].ready ? "" : " (not ready)")));
        tr_node_set(a, m, "endpoints", eps);
    }
    return m;
}

/* The route object a rule's name is read from, unpacked once for its consecutive rules. */
struct names {
    struct tr_arena *scratch;
    const struct tr_obj *route;
    const struct tr_node *rules;
};

/* The rule's name (a copy in a), or NULL: the IR does not keep it, the route object has it. */
static const char *rule_name(struct tr_arena *a, struct names *nc, const struct tr_ir_rule_spec *sp)
{
    const struct tr_obj *o = tr_obj_of_id(sp->route);
    if (o != nc->route) {
        tr_arena_reset(nc->scratch);
        nc->route = o;
        nc->rules = tr_node_get(tr_obj_spec(o, nc->scratch), "rules");
    }
    const char *name = tr_node_gets(tr_node_at(nc->rules, sp->index), "name");
    return name ? tr_arena_strdup(a, name) : NULL;
}

static struct tr_node *render_rule(struct tr_arena *a, struct names *nc, const struct tr_ir_rule *r)
{
    const struct tr_ir_rule_spec *sp = r->spec;
    const char *name = rule_name(a, nc, sp);
    struct tr_node *m = tr_node_new(a, TR_N_MAP);
    tr_node_set(a, m, "route", tr_node_str(a, tr_arena_printf(a, "%s %s/%s", tr_kind_name(sp->route->kind),
                                                              sp->route->ns, sp->route->name)));
    tr_node_set(a, m, "rule", tr_node_int(a, sp->index));
    if (name)
        tr_node_set(a, m, "name", str(a, name));
    struct tr_node *hosts = tr_node_new(a, TR_N_SEQ);
    for (const char **h = r->hostnames; h && *h; h++)
        tr_node_push(a, hosts, str(a, *h));
    tr_node_set(a, m, "hostnames", hosts);
    if (sp->nmatches)
        tr_node_set(a, m, "matches", render_matches(a, sp->matches, sp->nmatches));
    struct tr_node *fs = render_filters(a, sp->filters);
    if (fs)
        tr_node_set(a, m, "filters", fs);
    const struct tr_ir_retry *retry = tr_ir_rule_retry(sp);
    if (retry) {
        struct tr_node *rm = tr_node_new(a, TR_N_MAP);
        tr_node_set(a, rm, "attempts", tr_node_int(a, retry->attempts));
        if (retry->backoff_ms)
            tr_node_set(a, rm, "backoffMs", tr_node_int(a, (int64_t)retry->backoff_ms));
        struct tr_node *codes = tr_node_new(a, TR_N_SEQ);
        for (int code = 100; code < 100 + 64 * 8; code++)
            if (tr_ir_retry_code(retry, code))
                tr_node_push(a, codes, tr_node_int(a, code));
        if (tr_node_len(codes))
            tr_node_set(a, rm, "codes", codes);
        tr_node_set(a, m, "retry", rm);
    }
    const struct tr_ir_timeouts *to = tr_ir_rule_timeouts(sp);
    if (to) {
        struct tr_node *tm = tr_node_new(a, TR_N_MAP);
        if (to->request_ms)
            tr_node_set(a, tm, "requestMs", tr_node_int(a, (int64_t)to->request_ms));
        if (to->backend_ms)
            tr_node_set(a, tm, "backendRequestMs", tr_node_int(a, (int64_t)to->backend_ms));
        tr_node_set(a, m, "timeouts", tm);
    }
    if (sp->more && sp->more->session)
        tr_node_set(a, m, "sessionPersistence", render_session(a, sp->more->session, sp->nmatches));
    if (sp->unresolved_filter)
        tr_node_set(a, m, "unresolvedFilter", tr_node_bool(a, true));
    struct tr_node *bes = tr_node_new(a, TR_N_SEQ);
    for (size_t i = 0; i < r->nbackends; i++)
        tr_node_push(a, bes, render_backend(a, &r->backends[i]));
    tr_node_set(a, m, "backends", bes);
    const struct tr_ir_backend *auth = tr_ir_rule_auth(r);
    if (auth) {
        struct tr_node *am = render_backend(a, auth);
        tr_node_del(am, "weight");
        tr_node_set(a, m, "externalAuthBackend", am);
    }
    size_t nmirrors = r->nmirrors - (auth ? 1 : 0);
    if (nmirrors) {
        struct tr_node *ms = tr_node_new(a, TR_N_SEQ);
        const struct tr_ir_mirror *mirrors = tr_ir_rule_mirrors(r);
        for (size_t i = 0; i < nmirrors; i++) {
            struct tr_node *mm = render_backend(a, &mirrors[i].backend);
            tr_node_del(mm, "weight");
            tr_node_set(a, mm, "share", tr_node_str(a, tr_arena_printf(a, "%u/%u", mirrors[i].numerator,
                                                                        mirrors[i].denominator)));
            tr_node_push(a, ms, mm);
        }
        tr_node_set(a, m, "mirrors", ms);
    }
    return m;
}

/* The mesh's Service ports: the Service, how it is carried, where it passes through to, and
 * the route sets by client. */
static struct tr_node *render_mesh(struct tr_arena *a, struct names *nc, const struct tr_ir *ir)
{
    struct tr_node *l = tr_node_new(a, TR_N_SEQ);
    const struct tr_ir_port *mp = tr_ir_mesh_ports(ir);
    for (size_t i = 0; i < ir->nmesh; i++) {
        const struct tr_ir_port *p = &mp[i];
        const struct tr_ir_mesh *me = p->mesh;
        struct tr_node *m = tr_node_new(a, TR_N_MAP);
        tr_node_set(a, m, "address", tr_node_str(a, tr_arena_printf(a, "%s:%u", p->addr, p->port)));
        tr_node_set(a, m, "service", tr_node_str(a, tr_arena_printf(a, "%s/%s:%s", me->svc_ns, me->svc_name,
                                                                    me->port_name ? me->port_name : "")));
        tr_node_set(a, m, "protocol", tr_node_str(a, me->http ? "HTTP" : "TCP"));
        struct tr_node *svc = render_backend(a, &me->service);
        tr_node_del(svc, "weight");
        tr_node_set(a, m, "passthrough", svc);
        struct tr_node *sets = tr_node_new(a, TR_N_SEQ);
        for (size_t j = 0; j < p->nlisteners; j++) {
            const struct tr_ir_listener *il = p->listeners[j];
            struct tr_node *sm = tr_node_new(a, TR_N_MAP);
            tr_node_set(a, sm, "clients", tr_node_str(a, il->mesh_client ? tr_arena_printf(a, "namespace %s", il->mesh_client)
                                                                         : "producer"));
            struct tr_node *rules = tr_node_new(a, TR_N_SEQ);
            for (size_t k = 0; k < il->nrules; k++)
                tr_node_push(a, rules, render_rule(a, nc, &il->rules[k]));
            tr_node_set(a, sm, "rules", rules);
            tr_node_push(a, sets, sm);
        }
        tr_node_set(a, m, "routeSets", sets);
        tr_node_push(a, l, m);
    }
    return l;
}

struct tr_node *tr_ir_render(struct tr_arena *a, const struct tr_ir *ir)
{
    struct names nc = {.scratch = tr_arena_new(4096)};
    struct tr_node *ports = tr_node_new(a, TR_N_SEQ);
    for (size_t i = 0; i < ir->nports; i++) {
        const struct tr_ir_port *p = &ir->ports[i];
        struct tr_node *pm = tr_node_new(a, TR_N_MAP);
        tr_node_set(a, pm, "address", tr_node_str(a, tr_arena_printf(a, "%s:%u/%s", p->addr, p->port, p->udp ? "udp" : "tcp")));
        struct tr_node *ls = tr_node_new(a, TR_N_SEQ);
        for (size_t j = 0; j < p->nlisteners; j++) {
            const struct tr_ir_listener *l = p->listeners[j];
            struct tr_node *lm = tr_node_new(a, TR_N_MAP);
            tr_node_set(a, lm, "gateway", tr_node_str(a, tr_arena_printf(a, "%s/%s", l->gw_ns, l->gw_name)));
            if (l->set_name)
                tr_node_set(a, lm, "listenerSet", tr_node_str(a, tr_arena_printf(a, "%s/%s", l->set_ns, l->set_name)));
            tr_node_set(a, lm, "name", str(a, l->name));
            tr_node_set(a, lm, "protocol", tr_node_str(a, tr_proto_name(l->proto)));
            if (l->hostname)
                tr_node_set(a, lm, "hostname", str(a, l->hostname));
            if (l->proto == TR_PROTO_HTTPS || l->proto == TR_PROTO_TLS)
                tr_node_set(a, lm, "tls", tr_node_str(a, l->tls_passthrough ? "Passthrough" : "Terminate"));
            if (l->certs && l->certs[0]) {
                struct tr_node *cs = tr_node_new(a, TR_N_SEQ);
                for (const struct tr_obj **c = l->certs; *c; c++)
                    tr_node_push(a, cs, tr_node_str(a, tr_arena_printf(a, "%s/%s", (*c)->ns, (*c)->name)));
                tr_node_set(a, lm, "certificates", cs);
            }
            if (l->client_cas && l->client_cas[0]) {
                struct tr_node *cs = tr_node_new(a, TR_N_SEQ);
                for (const struct tr_obj **c = l->client_cas; *c; c++)
                    tr_node_push(a, cs, tr_node_str(a, tr_arena_printf(a, "%s %s/%s", tr_kind_name((*c)->kind),
                                                                     (*c)->ns, (*c)->name)));
                tr_node_set(a, lm, "clientValidation", cs);
                if (l->client_optional)
                    tr_node_set(a, lm, "clientValidationMode", tr_node_str(a, "AllowInsecureFallback"));
            }
            struct tr_node *rules = tr_node_new(a, TR_N_SEQ);
            for (size_t k = 0; k < l->nrules; k++)
                tr_node_push(a, rules, render_rule(a, &nc, &l->rules[k]));
            tr_node_set(a, lm, "rules", rules);
            tr_node_push(a, ls, lm);
        }
        tr_node_set(a, pm, "listeners", ls);
        tr_node_push(a, ports, pm);
    }
    struct tr_node *root = tr_node_new(a, TR_N_MAP);
    tr_node_set(a, root, "ports", ports);
    if (ir->nmesh)
        tr_node_set(a, root, "mesh", render_mesh(a, &nc, ir));
    if (ir->nclients) {
        struct tr_node *cl = tr_node_new(a, TR_N_SEQ);
        for (size_t i = 0; i < ir->nclients; i++) {
            const struct tr_ir_mesh_client *c = &ir->clients[i];
            tr_node_push(a, cl, tr_node_str(a, tr_arena_printf(a, "Pod %s/%s %s at %s%s%s", c->ns, c->name,
                                                                c->ip ? c->ip : "(no address)", c->netns,
                                                                c->refused ? ": refused, " : "",
                                                                c->refused ? c->refused : "")));
        }
        tr_node_set(a, root, "meshClients", cl);
    }
    tr_arena_free(nc.scratch);
    return root;
}
