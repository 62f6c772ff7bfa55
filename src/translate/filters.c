/* What the data plane does for a route rule, compiled once per route version: header modifiers,
 * redirects, rewrites, CORS, retry and timeouts become the IR's typed forms (ir/ir.h), so that a
 * request reads fields instead of walking the rule's value tree by string key. The values are
 * taken as the schema left them (validated, defaults applied); what the schema cannot rule out
 * in a tree built without it (a missing field, a "*" beside other entries) reads as the data
 * plane read it before. */
#include "translate/internal.h"
#include "base/duration.h"
#include "ir/match.h"

#include <ctype.h>
#include <string.h>

static const struct tr_node *find(const struct tr_node *filters, const char *type)
{
    for (size_t i = 0; i < tr_node_len(filters); i++) {
        const struct tr_node *f = tr_node_at(filters, i);
        const char *t = tr_node_gets(f, "type");
        if (t && strcmp(t, type) == 0)
            return f;
    }
    return NULL;
}

/* The field for name and value; *cased: the name has upper-case letters, and the name as
 * written follows the lower-cased copy (kept: entry i of its modifier, below 32). */
static struct tr_ir_header header(struct tr_arena *a, const char *name, const char *value, bool kept,
                                  bool *cased)
{
    size_t n = strlen(name);
    *cased = false;
    for (size_t i = 0; i < n; i++) {
        if (name[i] >= 'A' && name[i] <= 'Z') {
            char *low = tr_arena_alloc(a, (kept ? 2 : 1) * (n + 1));
            for (size_t j = 0; j <= n; j++)
                low[j] = name[j] >= 'A' && name[j] <= 'Z' ? (char)(name[j] - 'A' + 'a') : name[j];
            if (kept)
                memcpy(low + n + 1, name, n + 1);
            *cased = kept;
            return (struct tr_ir_header){low, value};
        }
    }
    return (struct tr_ir_header){name, value}; /* most names: their own */
}

/* Appends the entries of list (HTTPHeader objects, or for remove plain names) that have a name
 * to hm's fields from v[at]; a set or add entry without a value is kept for the drop check and
 * never written. Returns how many. */
static uint8_t headers(struct tr_arena *a, const struct tr_node *list, bool objects, struct tr_ir_header_mod *hm,
                       struct tr_ir_header *v, size_t at)
{
    size_t k = 0;
    for (size_t i = 0; i < tr_node_len(list); i++) {
        const struct tr_node *x = tr_node_at(list, i);
        const char *name = objects ? tr_node_gets(x, "name") : x->type == TR_N_STR ? x->u.s : NULL;
        if (!name)
            continue;
        bool cased;
        v[at + k] = header(a, name, objects ? tr_node_gets(x, "value") : NULL, at + k < 32, &cased);
        if (cased)
            hm->cased |= 1u << (at + k);
        k++;
    }
    return (uint8_t)k;
}

static const struct tr_ir_header_mod *header_mod(struct tr_arena *a, const struct tr_node *f, const char *field)
{
    const struct tr_node *m = tr_node_get(f, field);
    if (!m)
        return NULL;
    const struct tr_node *set = tr_node_get(m, "set"), *add = tr_node_get(m, "add"), *rm = tr_node_get(m, "remove");
    size_t n = tr_node_len(set) + tr_node_len(add) + tr_node_len(rm);
    struct tr_ir_header_mod *hm = TR_ANEW(a, struct tr_ir_header_mod);
    struct tr_ir_header *v = n ? TR_ANEWN(a, struct tr_ir_header, n) : NULL;
    hm->v = v;
    hm->nset = headers(a, set, true, hm, v, 0);
    hm->nadd = headers(a, add, true, hm, v, hm->nset);
    hm->nremove = headers(a, rm, false, hm, v, (size_t)hm->nset + hm->nadd);
    return hm;
}

/* HTTPPathModifier: ReplaceFullPath, or else a prefix replacement. */
static void path_mod(const struct tr_node *pm, struct tr_ir_path_mod *out)
{
    if (!pm)
        return;
    const char *type = tr_node_gets(pm, "type");
    bool full = type && strcmp(type, "ReplaceFullPath") == 0;
    out->kind = full ? TR_IR_PATH_FULL : TR_IR_PATH_PREFIX;
    out->value = str_or(tr_node_gets(pm, full ? "replaceFullPath" : "replacePrefixMatch"), "");
    out->len = strlen(out->value);
}

static const struct tr_ir_redirect *redirect(struct tr_arena *a, const struct tr_node *f)
{
    const struct tr_node *r = tr_node_get(f, "requestRedirect");
    struct tr_ir_redirect *rd = TR_ANEW(a, struct tr_ir_redirect);
    rd->scheme = tr_node_gets(r, "scheme");
    rd->hostname = tr_node_gets(r, "hostname");
    /* No port: the scheme's well-known port when the scheme is set, else the listener's
     * (HTTPRequestRedirectFilter docs). */
    int64_t port = tr_node_geti(r, "port", -1);
    if (port < 0 && rd->scheme)
        port = strcmp(rd->scheme, "https") == 0 ? 443 : 80;
    rd->port = (int32_t)port;
    path_mod(tr_node_get(r, "path"), &rd->path);
    rd->status = (int)tr_node_geti(r, "statusCode", 302);
    return rd;
}

static const struct tr_ir_rewrite *rewrite(struct tr_arena *a, const struct tr_node *f)
{
    const struct tr_node *r = tr_node_get(f, "urlRewrite");
    struct tr_ir_rewrite *rw = TR_ANEW(a, struct tr_ir_rewrite);
    rw->hostname = tr_node_gets(r, "hostname");
    path_mod(tr_node_get(r, "path"), &rw->path);
    return rw;
}

static bool is_star(const struct tr_node *n)
{
    return n && n->type == TR_N_STR && n->n == 1 && n->u.s[0] == '*';
}

/* The schema forbids "*" beside other entries (CEL on each list); "*" anywhere still means all,
 * so a tree that skipped validation cannot widen or narrow the policy by order. */
static struct tr_ir_strs strs(struct tr_arena *a, const struct tr_node *list)
{
    struct tr_ir_strs s = {.n = tr_node_len(list)};
    s.v = TR_ANEWN(a, const char *, s.n + 1);
    for (size_t i = 0; i < s.n; i++) {
        const struct tr_node *x = tr_node_at(list, i);
        s.v[i] = x->type == TR_N_STR ? x->u.s : "";
        s.any |= is_star(x);
    }
    return s;
}

/* An allowOrigins entry: "*" alone matches all hosts; a leading "*" is "a greedy match to the
 * left, including any number of DNS labels" (allowOrigins docs), kept as the suffix after it. */
static struct tr_ir_origin origin(const struct tr_node *x)
{
    struct tr_ir_origin e = {.text = x->type == TR_N_STR ? x->u.s : ""};
    e.valid = x->type == TR_N_STR && tr_origin_parse(x->u.s, x->n, &e.o);
    if (!e.valid)
        return e;
    if (e.o.host_len == 1 && e.o.host[0] == '*') {
        e.host_kind = TR_IR_HOST_ANY;
    } else if (e.o.host[0] == '*') {
        e.host_kind = TR_IR_HOST_SUFFIX;
        e.o.host++;
        e.o.host_len--;
    }
    return e;
}

static const struct tr_ir_cors *cors(struct tr_arena *a, const struct tr_node *f)
{
    const struct tr_node *c = tr_node_get(f, "cors");
    if (!c)
        return NULL;
    struct tr_ir_cors *ic = TR_ANEW(a, struct tr_ir_cors);
    const struct tr_node *origins = tr_node_get(c, "allowOrigins");
    struct tr_ir_origin *v = TR_ANEWN(a, struct tr_ir_origin, tr_node_len(origins) + 1);
    for (size_t i = 0; i < tr_node_len(origins); i++) {
        const struct tr_node *x = tr_node_at(origins, i);
        if (is_star(x))
            ic->any_origin = true;
        else
            v[ic->norigins++] = origin(x);
    }
    ic->origins = v;
    ic->methods = strs(a, tr_node_get(c, "allowMethods"));
    ic->headers = strs(a, tr_node_get(c, "allowHeaders"));
    ic->expose = strs(a, tr_node_get(c, "exposeHeaders"));
    ic->credentials = tr_node_getb(c, "allowCredentials", false);
    /* maxAge defaults to 5 in the CRD; the default is restated for trees built without it. */
    ic->max_age = tr_node_geti(c, "maxAge", 5);
    return ic;
}

/* Header names, lower-cased, NULL-terminated; NULL for an empty or absent list. */
static const char **lower_names(struct tr_arena *a, const struct tr_node *list)
{
    size_t n = tr_node_len(list);
    if (!n)
        return NULL;
    const char **v = TR_ANEWN(a, const char *, n + 1);
    for (size_t i = 0; i < n; i++) {
        const struct tr_node *x = tr_node_at(list, i);
        char *s = tr_arena_strdup(a, x->type == TR_N_STR ? x->u.s : "");
        for (char *c = s; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        v[i] = s;
    }
    return v;
}

static const struct tr_ir_extauth *extauth(struct tr_arena *a, const struct tr_node *f)
{
    const struct tr_node *ea = tr_node_get(f, "externalAuth");
    struct tr_ir_extauth *e = TR_ANEW(a, struct tr_ir_extauth);
    bool grpc = strcmp(str_or(tr_node_gets(ea, "protocol"), "HTTP"), "GRPC") == 0;
    e->protocol = grpc ? TR_EXTAUTH_GRPC : TR_EXTAUTH_HTTP;
    const struct tr_node *cfg = tr_node_get(ea, grpc ? "grpc" : "http");
    e->path_prefix = tr_arena_strdup(a, grpc ? "" : str_or(tr_node_gets(cfg, "path"), ""));
    e->allowed = lower_names(a, tr_node_get(cfg, "allowedHeaders"));
    e->allowed_resp = grpc ? NULL : lower_names(a, tr_node_get(cfg, "allowedResponseHeaders"));
    int64_t max = tr_node_geti(tr_node_get(ea, "forwardBody"), "maxSize", 0);
    e->max_body = max > 0 ? (uint64_t)max : 0;
    return e;
}

const struct tr_ir_filters *tx_filters_compile(struct tr_arena *a, const struct tr_node *filters)
{
    struct tr_ir_filters fs = {0};
    struct tr_ir_filters_more more = {0};
    const struct tr_node *f;
    if ((f = find(filters, "RequestHeaderModifier")))
        fs.request_headers = header_mod(a, f, "requestHeaderModifier");
    if ((f = find(filters, "ResponseHeaderModifier")))
        fs.response_headers = header_mod(a, f, "responseHeaderModifier");
    if ((f = find(filters, "RequestRedirect")))
        more.redirect = redirect(a, f);
    if ((f = find(filters, "URLRewrite")))
        more.rewrite = rewrite(a, f);
    if ((f = find(filters, "CORS")))
        more.cors = cors(a, f);
    if ((f = find(filters, "ExternalAuth")))
        more.extauth = extauth(a, f);
    if (more.redirect || more.rewrite || more.cors || more.extauth) {
        struct tr_ir_filters_more *kept = TR_ANEW(a, struct tr_ir_filters_more);
        *kept = more;
        fs.more = kept;
    }
    if (!fs.request_headers && !fs.response_headers && !fs.more)
        return NULL;
    struct tr_ir_filters *kept = TR_ANEW(a, struct tr_ir_filters);
    *kept = fs;
    return kept;
}

static uint64_t duration_ms(const char *s)
{
    uint64_t ms;
    return tr_duration_ms(s, &ms) ? ms : 0;
}

static const struct tr_ir_retry *retry(struct tr_arena *a, const struct tr_node *r)
{
    if (!r)
        return NULL;
    struct tr_ir_retry *ir = TR_ANEW(a, struct tr_ir_retry);
    ir->attempts = (int)tr_node_geti(r, "attempts", 1);
    ir->backoff_ms = duration_ms(tr_node_gets(r, "backoff"));
    const struct tr_node *codes = tr_node_get(r, "codes");
    for (size_t i = 0; i < tr_node_len(codes); i++) {
        const struct tr_node *c = tr_node_at(codes, i);
        /* The schema allows 400-599; the bitset holds every HTTP status. */
        if (c->type == TR_N_INT && c->u.i >= 100 && c->u.i < 100 + 64 * 8) {
            unsigned bit = (unsigned)(c->u.i - 100);
            ir->codes[bit / 64] |= UINT64_C(1) << (bit % 64);
        }
    }
    return ir;
}

void tx_rule_compile(struct tr_arena *a, enum tr_kind kind, const struct tr_node *rule, struct tr_ir_rule_spec *out)
{
    if (kind != TR_KIND_HTTPROUTE && kind != TR_KIND_GRPCROUTE)
        return;
    size_t nm = 0;
    out->matches = tr_ir_matches_compile(a, kind, rule, &nm);
    out->nmatches = (uint8_t)nm;
    out->filters = tx_filters_compile(a, tr_node_get(rule, "filters"));
    const struct tr_node *t = tr_node_get(rule, "timeouts");
    struct tr_ir_rule_more more = {retry(a, tr_node_get(rule, "retry")),
                                   {duration_ms(tr_node_gets(t, "request")), duration_ms(tr_node_gets(t, "backendRequest"))},
                                   tx_session_compile(a, tr_node_get(rule, "sessionPersistence"),
                                                      tr_node_get(rule, "matches"), kind)};
    if (more.retry || more.timeouts.request_ms || more.timeouts.backend_ms || more.session) {
        struct tr_ir_rule_more *kept = TR_ANEW(a, struct tr_ir_rule_more);
        *kept = more;
        out->more = kept;
    }
}
