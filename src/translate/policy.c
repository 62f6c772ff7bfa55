/* The policies that target Services: BackendTLSPolicy (targets a Service, optionally a port by
 * sectionName; CA references) and XBackendTrafficPolicy (session persistence, retry budget).
 * For both: conflicts (the oldest policy per target wins, GEP-713), and status per ancestor
 * Gateway: every Gateway whose routes send traffic to a targeted Service (as a backend, or for
 * BackendTLSPolicy as a mirror too). */
#include "translate/internal.h"

#include "base/duration.h"

#include <stdio.h>
#include <string.h>

struct target {
    const char *ns, *name, *section; /* section "" when unset */
};

static bool policy_targets(const struct tr_obj *p, const char *ns, const char *name, const char *section)
{
    if (strcmp(p->ns, ns) != 0)
        return false;
    const struct tr_node *refs = tr_node_get(p->spec, "targetRefs");
    for (size_t i = 0; i < tr_node_len(refs); i++) {
        const struct tr_node *r = tr_node_at(refs, i);
        if (strcmp(str_or(tr_node_gets(r, "group"), ""), "") != 0 || strcmp(str_or(tr_node_gets(r, "kind"), ""), "Service") != 0)
            continue;
        if (strcmp(str_or(tr_node_gets(r, "name"), ""), name) != 0)
            continue;
        if (strcmp(str_or(tr_node_gets(r, "sectionName"), ""), section) == 0)
            return true;
    }
    return false;
}

/* Older wins; ties go to namespace/name order (Gateway API policy conflict rules, GEP-713). */
static bool precedes(const struct tr_obj *a, const struct tr_obj *b)
{
    if (a->created != b->created)
        return a->created < b->created;
    int c = strcmp(a->ns, b->ns);
    return c ? c < 0 : strcmp(a->name, b->name) < 0;
}

/* Is policy p beaten by another that targets one of the same (service, section) pairs? */
static bool conflicted(struct tx *t, const struct tr_obj *p)
{
    const struct tr_view *v = t->v;
    const struct tr_node *refs = tr_node_get(p->spec, "targetRefs");
    for (size_t i = 0; i < tr_node_len(refs); i++) {
        const struct tr_node *r = tr_node_at(refs, i);
        const char *name = str_or(tr_node_gets(r, "name"), "");
        const char *section = str_or(tr_node_gets(r, "sectionName"), "");
        for (size_t j = 0; j < v->n[TR_KIND_BACKENDTLSPOLICY]; j++) {
            const struct tr_obj *q = v->objs[TR_KIND_BACKENDTLSPOLICY][j];
            if (q != p && policy_targets(q, p->ns, name, section) && precedes(q, p))
                return true;
        }
    }
    return false;
}

/* A policy as the data plane applies it: the settings every backend under it shares, and the
 * descriptions made from them so far, one per client certificate (each Gateway may present its
 * own, spec.tls.backend). */
struct resolved {
    struct tr_ir_backend_tls base; /* client_cert NULL */
    struct tr_ir_backend_tls **made;
    size_t nmade, cap;
};

/* The CA references: each is judged here and only those judged usable go into r->base.cas,
 * the one list the data plane trusts. */
static void validate_refs(struct tx *t, const struct tr_obj *p, struct conds *cs, struct resolved *r, bool *usable)
{
    const struct tr_node *val = tr_node_get(p->spec, "validation");
    const struct tr_node *refs = tr_node_get(val, "caCertificateRefs");
    size_t good = 0, n = tr_node_len(refs);
    r->base.cas = TR_ANEWN(t->a, const struct tr_obj *, n + 1);
    for (size_t i = 0; i < n; i++) {
        const struct tr_node *ref = tr_node_at(refs, i);
        const char *group = str_or(tr_node_gets(ref, "group"), "");
        const char *kind = str_or(tr_node_gets(ref, "kind"), "");
        const char *name = str_or(tr_node_gets(ref, "name"), "");
        if (group[0] || (strcmp(kind, "ConfigMap") != 0 && strcmp(kind, "Secret") != 0)) {
            cset(cs, "ResolvedRefs", false, TR_R_INVALID_KIND,
                 tr_arena_printf(t->a, "caCertificateRefs[%zu]: kind %s is not supported (ConfigMap, Secret are)", i, kind));
            continue;
        }
        enum tr_kind k = strcmp(kind, "ConfigMap") == 0 ? TR_KIND_CONFIGMAP : TR_KIND_SECRET;
        const struct tr_obj *o = tr_view_find(t->v, k, p->ns, name);
        const char *why = o ? tx_ca_bundle_problem(t, o) : "not found";
        if (why) {
            cset(cs, "ResolvedRefs", false, TR_R_INVALID_CA_CERTIFICATE_REF,
                 tr_arena_printf(t->a, "caCertificateRefs[%zu]: %s %s/%s: %s", i, kind, p->ns, name, why));
            continue;
        }
        r->base.cas[good++] = o;
    }
    const char *wk = tr_node_gets(val, "wellKnownCACertificates");
    r->base.system_cas = wk && strcmp(wk, "System") == 0;
    /* Accepted=False only when no CA is usable; some bad refs are ResolvedRefs=False alone. */
    *usable = good > 0 || r->base.system_cas;
    if (!*usable)
        cset(cs, "Accepted", false, TR_R_NO_VALID_CA_CERTIFICATE, "The policy has no usable CA certificate");
}

/* The names sent and checked (BackendTLSPolicyValidation): the hostname "MUST be used as the SNI"
 * and must match the certificate "unless SubjectAltNames is specified"; then the certificate must
 * carry at least one of the subjectAltNames (Hostname or URI). */
static void resolve_names(struct tx *t, const struct tr_obj *p, struct resolved *r)
{
    const struct tr_node *val = tr_node_get(p->spec, "validation");
    const struct tr_node *sans = tr_node_get(val, "subjectAltNames");
    size_t n = tr_node_len(sans), nn = 0, nu = 0;
    const char **names = TR_ANEWN(t->a, const char *, n + 2);
    const char **uris = TR_ANEWN(t->a, const char *, n + 1);
    for (size_t i = 0; i < n; i++) {
        const struct tr_node *san = tr_node_at(sans, i);
        const char *type = str_or(tr_node_gets(san, "type"), "");
        const char *host = tr_node_gets(san, "hostname"), *uri = tr_node_gets(san, "uri");
        if (strcmp(type, "Hostname") == 0 && host)
            names[nn++] = host;
        else if (strcmp(type, "URI") == 0 && uri)
            uris[nu++] = uri;
    }
    r->base.policy = p;
    r->base.policy_ns = p->ns;
    r->base.policy_name = p->name;
    r->base.peer.sni = tr_node_gets(val, "hostname");
    if (!n && r->base.peer.sni)
        names[nn++] = r->base.peer.sni;
    r->base.peer.names = names;
    r->base.peer.uris = uris;
}

/* The description for backends of Gateways presenting client_cert: one per certificate, so that
 * backends that connect alike share it. */
static struct tr_ir_backend_tls *resolved_for(struct tx *t, struct resolved *r, const struct tr_obj *client_cert)
{
    for (size_t i = 0; i < r->nmade; i++)
        if (r->made[i]->client_cert == client_cert)
            return r->made[i];
    if (r->nmade == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 2;
        struct tr_ir_backend_tls **grown = TR_ANEWN(t->a, struct tr_ir_backend_tls *, cap);
        if (r->nmade)
            memcpy(grown, r->made, r->nmade * sizeof(*grown));
        r->made = grown;
        r->cap = cap;
    }
    struct tr_ir_backend_tls *d = TR_ANEW(t->a, struct tr_ir_backend_tls);
    *d = r->base;
    d->client_cert = client_cert;
    r->made[r->nmade++] = d;
    return d;
}

/* Puts policy p on backend be of listener l when p is in force there. */
static void apply(struct tx *t, const struct tr_obj *p, struct resolved *r, bool usable,
                  const struct tr_ir_listener *l, struct tr_ir_backend *be, const char *section)
{
    if (be->tls && !policy_targets(p, be->ref->ns, be->ref->name, section))
        return; /* a policy naming the port wins over one naming the whole Service */
    be->tls = resolved_for(t, r, l->backend_cert);
    /* "Connections using an invalid CACertificateRef MUST fail" (5xx): never fall back to
     * plaintext. */
    be->invalid = !usable;
}

/* The name of be's Service port ("" when unnamed or unknown): a policy's sectionName. */
static const char *port_name(struct tx *t, const struct tr_ir_backend *be)
{
    const struct tr_obj *svc = tr_view_find(t->v, TR_KIND_SERVICE, be->ref->ns, be->ref->name);
    const struct tr_node *ports = svc ? tr_node_path(svc->spec, "ports") : NULL;
    for (size_t q = 0; q < tr_node_len(ports); q++)
        if (tr_node_geti(tr_node_at(ports, q), "port", -1) == be->ref->port)
            return str_or(tr_node_gets(tr_node_at(ports, q), "name"), "");
    return "";
}

/* Whether policy p covers backend be of listener l: then it is marked with p (when p is in
 * force) and l's Gateway is one of p's ancestors. */
static bool visit(struct tx *t, const struct tr_obj *p, struct resolved *res, bool usable, bool beaten,
                  const struct tr_ir_listener *l, struct tr_ir_backend *be)
{
    if ((be->invalid && !be->tls) || strcmp(tr_ir_ref_kind(be->ref), "Service") != 0)
        return false;
    const char *section = port_name(t, be);
    if (!policy_targets(p, be->ref->ns, be->ref->name, section) && !policy_targets(p, be->ref->ns, be->ref->name, ""))
        return false;
    if (!beaten)
        apply(t, p, res, usable, l, be, section);
    return true;
}

/* Each Gateway (once) whose IR sends traffic to a Service this policy targets, as a rule's
 * backend or as a RequestMirror's: a mirrored copy goes to the Service as any request does, so
 * it is connected to alike (the policy's TLS, or no copy at all when the policy is unusable)
 * and its Gateway is an ancestor too. Marks those backends with the policy when it is in
 * force. */
static void ancestors(struct tx *t, const struct tr_obj *p, struct resolved *res, bool usable, bool beaten,
                      const struct tr_obj **gws, size_t *ngws, size_t cap)
{
    for (size_t i = 0; i < t->ir->nports; i++) {
        const struct tr_ir_port *port = &t->ir->ports[i];
        for (size_t j = 0; j < port->nlisteners; j++) {
            const struct tr_ir_listener *l = port->listeners[j];
            bool hit = false;
            for (size_t k = 0; k < l->nrules; k++) {
                const struct tr_ir_rule *r = &l->rules[k];
                for (size_t b = 0; b < r->nbackends; b++)
                    hit |= visit(t, p, res, usable, beaten, l, &r->backends[b]);
                for (size_t m = 0; m < r->nmirrors; m++)
                    hit |= visit(t, p, res, usable, beaten, l, &tr_ir_rule_mirrors(r)[m].backend);
            }
            if (!hit)
                continue;
            const struct tr_obj *g = tr_view_find(t->v, TR_KIND_GATEWAY, l->gw_ns, l->gw_name);
            bool dup = false;
            for (size_t x = 0; x < *ngws; x++)
                dup |= gws[x] == g;
            if (!dup && g && *ngws < cap)
                gws[(*ngws)++] = g;
        }
    }
}

/* One entry of a policy's status.ancestors: Gateway g, with conditions cs. */
static struct tr_node *ancestor_entry(struct tx *t, const struct tr_obj *p, const struct tr_obj *g,
                                      const struct conds *cs)
{
    struct tr_node *e = tr_node_new(t->a, TR_N_MAP);
    struct tr_node *ref = tr_node_new(t->a, TR_N_MAP);
    tr_node_set(t->a, ref, "group", tr_node_str(t->a, TR_GW_GROUP));
    tr_node_set(t->a, ref, "kind", tr_node_str(t->a, "Gateway"));
    tr_node_set(t->a, ref, "namespace", tr_node_str(t->a, g->ns));
    tr_node_set(t->a, ref, "name", tr_node_str(t->a, g->name));
    tr_node_set(t->a, e, "ancestorRef", ref);
    tr_node_set(t->a, e, "controllerName", tr_node_str(t->a, t->in->controller));
    tr_node_set(t->a, e, "conditions", conds_render(t->a, cs, p->generation));
    return e;
}

/* A policy's status: the same conditions for each of its n ancestor Gateways. */
static struct tr_node *ancestor_status(struct tx *t, const struct tr_obj *p, const struct conds *cs,
                                       const struct tr_obj **gws, size_t n)
{
    struct tr_node *list = tr_node_new(t->a, TR_N_SEQ);
    for (size_t j = 0; j < n; j++)
        tr_node_push(t->a, list, ancestor_entry(t, p, gws[j], cs));
    struct tr_node *st = tr_node_new(t->a, TR_N_MAP);
    tr_node_set(t->a, st, "ancestors", list);
    return st;
}

/* --- XBackendTrafficPolicy --- */

/* Does XBackendTrafficPolicy p target Service ns/name? */
static bool traffic_targets(const struct tr_obj *p, const char *ns, const char *name)
{
    if (strcmp(p->ns, ns) != 0)
        return false;
    const struct tr_node *refs = tr_node_get(p->spec, "targetRefs");
    for (size_t i = 0; i < tr_node_len(refs); i++) {
        const struct tr_node *r = tr_node_at(refs, i);
        if (strcmp(str_or(tr_node_gets(r, "group"), ""), "") == 0 &&
            strcmp(str_or(tr_node_gets(r, "kind"), ""), "Service") == 0 &&
            strcmp(str_or(tr_node_gets(r, "name"), ""), name) == 0)
            return true;
    }
    return false;
}

/* The policy in force on Service ns/name: the oldest usable one that targets it, or NULL. */
static const struct tr_obj *traffic_winner(struct tx *t, const char *ns, const char *name, const bool *usable)
{
    const struct tr_view *v = t->v;
    const struct tr_obj *best = NULL;
    for (size_t j = 0; j < v->n[TR_KIND_XBACKENDTRAFFICPOLICY]; j++) {
        const struct tr_obj *q = v->objs[TR_KIND_XBACKENDTRAFFICPOLICY][j];
        if (usable[j] && traffic_targets(q, ns, name) && (!best || precedes(q, best)))
            best = q;
    }
    return best;
}

/* Where policy p reaches: the Gateways whose rules send traffic to a Service it targets, each
 * once, with the first such Service where an older policy is in force instead (lost[k], NULL
 * when p is in force on all of them there); and what p puts on the backends of each Service where
 * it is in force (pols, made on first use from base). */
struct reach {
    const struct tr_obj **gws;
    const char **lost;
    size_t n, cap;
    const struct tr_ir_backend_policy *base; /* NULL: p is not usable */
    struct tr_ir_backend_policy **pols;
    size_t npols;
};

/* The retry budget of p's retryConstraint on Service svc, the memo's while p, svc and the
 * settings stay. */
static struct tr_ir_retry_budget *budget_for(struct tx *t, const struct tr_obj *p, const char *svc)
{
    const struct tr_node *rc = tr_node_get(p->spec, "retryConstraint");
    const struct tr_node *bd = tr_node_get(rc, "budget"), *mr = tr_node_get(rc, "minRetryRate");
    uint64_t interval = 10000, min_interval = 1000;
    if (tr_node_gets(bd, "interval"))
        tr_duration_ms(tr_node_gets(bd, "interval"), &interval);
    if (tr_node_gets(mr, "interval"))
        tr_duration_ms(tr_node_gets(mr, "interval"), &min_interval);
    uint32_t percent = (uint32_t)tr_node_geti(bd, "percent", 20), min_count = (uint32_t)tr_node_geti(mr, "count", 10);
    char key[600];
    int kl = snprintf(key, sizeof(key), "%s/%s|%s|%u/%llu|%u/%llu", p->ns, p->name, svc, percent,
                      (unsigned long long)interval, min_count, (unsigned long long)min_interval);
    if (kl <= 0 || (size_t)kl >= sizeof(key))
        return NULL; /* (names are at most 253 bytes) */
    struct tr_ir_retry_budget *b = tx_budget(t, key, (size_t)kl);
    b->percent = percent;
    b->min_count = min_count;
    b->interval_ms = interval ? interval : 1;
    b->min_interval_ms = min_interval ? min_interval : 1;
    return b;
}

static const struct tr_ir_backend_policy *policy_on(struct tx *t, const struct tr_obj *p, struct reach *re,
                                                    const char *svc)
{
    for (size_t i = 0; i < re->npols; i++)
        if (strcmp(re->pols[i]->svc, svc) == 0)
            return re->pols[i];
    struct tr_ir_backend_policy *pol = TR_ANEW(t->a, struct tr_ir_backend_policy);
    *pol = *re->base;
    pol->svc = tr_arena_strdup(t->a, svc);
    if (tr_node_get(p->spec, "retryConstraint"))
        pol->budget = budget_for(t, p, svc);
    if (re->npols % 8 == 0) {
        struct tr_ir_backend_policy **grown = TR_ANEWN(t->run_a, struct tr_ir_backend_policy *, re->npols + 8);
        if (re->npols)
            memcpy(grown, re->pols, re->npols * sizeof(*grown));
        re->pols = grown;
    }
    re->pols[re->npols++] = pol;
    return pol;
}

static void traffic_apply(struct tx *t, const struct tr_obj *p, const bool *usable, const struct tr_ir_port *ports,
                          size_t nports, bool mesh, struct reach *re)
{
    for (size_t i = 0; i < nports; i++) {
        for (size_t j = 0; j < ports[i].nlisteners; j++) {
            const struct tr_ir_listener *l = ports[i].listeners[j];
            bool hit = false;
            const char *lost = NULL;
            for (size_t k = 0; k < l->nrules; k++) {
                const struct tr_ir_rule *r = &l->rules[k];
                for (size_t b = 0; b < r->nbackends; b++) {
                    struct tr_ir_backend *be = &r->backends[b];
                    if (strcmp(tr_ir_ref_kind(be->ref), "Service") != 0 ||
                        !traffic_targets(p, be->ref->ns, be->ref->name))
                        continue;
                    hit = true;
                    if (!re->base)
                        continue;
                    if (traffic_winner(t, be->ref->ns, be->ref->name, usable) == p)
                        be->policy = policy_on(t, p, re, be->ref->name);
                    else if (!lost)
                        lost = be->ref->name;
                }
            }
            /* (A mesh route set's names are its Service's: the mesh has no Gateway.) */
            const struct tr_obj *g = hit && !mesh ? tr_view_find(t->v, TR_KIND_GATEWAY, l->gw_ns, l->gw_name) : NULL;
            if (!g)
                continue;
            size_t x = 0;
            while (x < re->n && re->gws[x] != g)
                x++;
            if (x == re->n && re->n < re->cap) {
                re->gws[re->n] = g;
                re->lost[re->n++] = NULL;
            }
            if (x < re->n && !re->lost[x])
                re->lost[x] = lost;
        }
    }
}

/* XBackendTrafficPolicy: its sessionPersistence and retry budget on the backends of the
 * Services it targets.
 * On each Service the oldest usable policy is in force (GEP-713); a policy reports, per
 * ancestor Gateway, Accepted, or Conflicted naming a Service where an older one is. */
static void traffic_policies(struct tx *t)
{
    const struct tr_view *v = t->v;
    size_t np = v->n[TR_KIND_XBACKENDTRAFFICPOLICY], ngw = v->n[TR_KIND_GATEWAY];
    bool *usable = TR_ANEWN(t->run_a, bool, np + 1);
    const char **why = TR_ANEWN(t->run_a, const char *, np + 1);
    for (size_t i = 0; i < np; i++) {
        const struct tr_obj *p = v->objs[TR_KIND_XBACKENDTRAFFICPOLICY][i];
        const struct tr_node *sp = tr_node_get(p->spec, "sessionPersistence");
        const char *w = sp ? tx_session_problem(t->run_a, sp) : NULL;
        if (w)
            w = tr_arena_printf(t->run_a, "spec.sessionPersistence.%s", w);
        why[i] = w;
        usable[i] = !w;
    }
    for (size_t i = 0; i < np; i++) {
        const struct tr_obj *p = v->objs[TR_KIND_XBACKENDTRAFFICPOLICY][i];
        struct tr_ir_backend_policy *base = NULL;
        if (usable[i]) {
            base = TR_ANEW(t->run_a, struct tr_ir_backend_policy);
            base->ns = p->ns;
            base->name = p->name;
            base->session = tx_session_compile(t->a, tr_node_get(p->spec, "sessionPersistence"), NULL,
                                               TR_KIND_XBACKENDTRAFFICPOLICY);
        }
        struct reach re = {TR_ANEWN(t->run_a, const struct tr_obj *, ngw + 1),
                           TR_ANEWN(t->run_a, const char *, ngw + 1), 0, ngw, base, NULL, 0};
        traffic_apply(t, p, usable, t->ir->ports, t->ir->nports, false, &re);
        traffic_apply(t, p, usable, tr_ir_mesh_ports(t->ir), t->ir->nmesh, true, &re);
        if (!re.n)
            continue;
        struct tr_node *list = tr_node_new(t->a, TR_N_SEQ);
        for (size_t k = 0; k < re.n; k++) {
            struct conds cs = {0};
            if (why[i])
                cset(&cs, "Accepted", false, TR_R_INVALID, why[i]);
            else if (re.lost[k])
                cset(&cs, "Accepted", false, TR_R_CONFLICTED,
                     tr_arena_printf(t->run_a, "An older policy is in force on Service %s/%s", p->ns, re.lost[k]));
            else
                cset(&cs, "Accepted", true, TR_R_ACCEPTED, "Policy is accepted");
            tr_node_push(t->a, list, ancestor_entry(t, p, re.gws[k], &cs));
        }
        struct tr_node *st = tr_node_new(t->a, TR_N_MAP);
        tr_node_set(t->a, st, "ancestors", list);
        t->status[TR_KIND_XBACKENDTRAFFICPOLICY][i] = st;
    }
}

void tx_policies(struct tx *t)
{
    const struct tr_view *v = t->v;
    size_t ngw = v->n[TR_KIND_GATEWAY];
    for (size_t i = 0; i < v->n[TR_KIND_BACKENDTLSPOLICY]; i++) {
        const struct tr_obj *p = v->objs[TR_KIND_BACKENDTLSPOLICY][i];
        struct conds cs = {0};
        cset(&cs, "Accepted", true, TR_R_ACCEPTED, "Policy is accepted");
        cset(&cs, "ResolvedRefs", true, TR_R_RESOLVED_REFS, "All references resolved");
        struct resolved res = {0};
        bool usable = true;
        validate_refs(t, p, &cs, &res, &usable);
        resolve_names(t, p, &res);
        bool beaten = conflicted(t, p);
        if (beaten)
            cset(&cs, "Accepted", false, TR_R_CONFLICTED, "An older policy targets the same backend");
        const struct tr_obj **gws = TR_ANEWN(t->a, const struct tr_obj *, ngw + 1);
        size_t n = 0;
        ancestors(t, p, &res, usable, beaten, gws, &n, ngw);
        if (n)
            t->status[TR_KIND_BACKENDTLSPOLICY][i] = ancestor_status(t, p, &cs, gws, n);
    }
    traffic_policies(t);
}
