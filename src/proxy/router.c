#include "proxy/router.h"
#include "api/object.h"
#include "base/map.h"
#include "base/mem.h"
#include "base/node.h"
#include "ir/ir.h"
#include "ir/match.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* One (rule, match) pair, with what precedence compares. */
struct entry {
    uint32_t rule; /* index in the listener's rules */
    uint32_t match;
    const struct tr_ir_match *m;
    uint64_t spec;  /* spec_key(m) */
    uint64_t order; /* the rule's place in the listener (route precedence), then the match's */
};

struct vhost {
    const char *host; /* NULL: any host */
    size_t host_len;
    bool wildcard;
    struct entry *e;
    size_t n, cap;
};

struct tr_router {
    int refs; /* atomic: each snapshot using it */
    struct vhost *v; /* exact hosts, then wildcards longest first, then the any-host vhost */
    size_t nv;
    /* Lower-cased host patterns ("a.example.com", "*.example.com") -> index in v + 1, and the
     * any-host vhost's index + 1 (0: none): a request finds its vhost in a few lookups,
     * however many hostnames the listener serves. */
    struct tr_map hosts;
    size_t any;
};

/* Lower-cases s[0..n) into out (cap bytes); false when it does not fit. */
static bool lower(const char *s, size_t n, char *out, size_t cap)
{
    if (n >= cap)
        return false;
    for (size_t i = 0; i < n; i++)
        out[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
    out[n] = '\0';
    return true;
}

unsigned tr_host_score(const char *pattern, const char *host, size_t host_len)
{
    if (!pattern || !*pattern)
        return 1;
    size_t pl = strlen(pattern);
    if (pattern[0] != '*')
        return pl == host_len && strncasecmp(pattern, host, host_len) == 0 ? 1000000 : 0;
    /* "*.example.com" covers a.example.com and a.b.example.com, not example.com. */
    const char *suffix = pattern + 1;
    size_t sl = pl - 1;
    if (host_len > sl && strncasecmp(host + host_len - sl, suffix, sl) == 0)
        return 2 + (unsigned)sl;
    return 0;
}

static bool re_full_match(pcre2_code *re, const char *s, size_t len)
{
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    int rc = pcre2_match(re, (PCRE2_SPTR)s, len, 0, PCRE2_ANCHORED | PCRE2_ENDANCHORED, md, NULL);
    pcre2_match_data_free(md);
    return rc >= 0;
}

static struct vhost *vhost_for(struct tr_router *rt, const char *host, size_t *cap)
{
    char key[300];
    size_t kl = host ? strlen(host) : 0;
    bool keyed = host && lower(host, kl, key, sizeof(key));
    size_t found = keyed ? (size_t)(uintptr_t)tr_map_get(&rt->hosts, key, kl)
                         : !host ? rt->any : 0;
    if (found)
        return &rt->v[found - 1];
    if (host && !keyed) { /* longer than any DNS name: compared the slow way */
        for (size_t i = 0; i < rt->nv; i++)
            if (rt->v[i].host && strcasecmp(rt->v[i].host, host) == 0)
                return &rt->v[i];
    }
    if (rt->nv == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        rt->v = tr_xrealloc(rt->v, *cap * sizeof(*rt->v));
    }
    struct vhost *v = &rt->v[rt->nv++];
    if (keyed)
        tr_map_put(&rt->hosts, key, kl, (void *)(uintptr_t)rt->nv);
    else if (!host)
        rt->any = rt->nv;
    memset(v, 0, sizeof(*v));
    v->host = host;
    v->host_len = host ? strlen(host) : 0;
    v->wildcard = host && host[0] == '*';
    return v;
}

static void add_entry(struct vhost *v, const struct entry *e)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 8;
        v->e = tr_xrealloc(v->e, v->cap * sizeof(*v->e));
    }
    v->e[v->n++] = *e;
}

/* Precedence across all rules of a host (HTTPRouteRule docs): Exact path; then the longest
 * prefix; then a method match; then the most header matches; then the most query matches; then
 * the oldest route, then namespace/name; then rule order, then match order. Regular
 * expressions are implementation-specific: torii puts them after Exact and before prefixes,
 * longer patterns first. A listener's rules come in route precedence (translate/ir.c), so
 * the route part is the rule's place in the listener. */
static int cmp_entry(const void *pa, const void *pb)
{
    const struct entry *a = pa, *b = pb;
    if (a->spec != b->spec)
        return a->spec < b->spec ? -1 : 1;
    return a->order < b->order ? -1 : a->order > b->order;
}

static uint64_t cap_u64(size_t v, uint64_t max)
{
    return v < max ? v : max;
}

/* The precedence of a match as one number, smaller first: path kind, then (not for Exact) the
 * longer path, then a method, then more headers, then more query parameters. */
static uint64_t spec_key(const struct tr_ir_match *m)
{
    uint64_t k = (uint64_t)m->path_kind << 60;
    if (m->path_kind != TR_PATH_EXACT) {
        /* "/foo/" and "/foo" are the same prefix: the trailing slash does not count. */
        size_t len = m->path_len - (m->path_kind == TR_PATH_PREFIX && m->path_len > 1 && m->path[m->path_len - 1] == '/');
        k |= (0xFFFFF - cap_u64(len, 0xFFFFF)) << 38;
    }
    k |= (uint64_t)!m->method << 37;
    k |= (0xFFFF - cap_u64(m->nheaders, 0xFFFF)) << 20;
    k |= 0xFFFFF - cap_u64(m->nquery, 0xFFFFF);
    return k;
}

static int cmp_vhost(const void *pa, const void *pb)
{
    const struct vhost *a = pa, *b = pb;
    /* exact hosts first, then wildcards (longest first), then the any-host vhost */
    int ra = !a->host ? 2 : a->wildcard ? 1 : 0, rb = !b->host ? 2 : b->wildcard ? 1 : 0;
    if (ra != rb)
        return ra - rb;
    if (ra == 1 && a->host_len != b->host_len)
        return a->host_len > b->host_len ? -1 : 1;
    return ra == 2 ? 0 : strcmp(a->host, b->host);
}

struct tr_router *tr_router_new(const struct tr_ir_listener *l)
{
    if (!l->nrules)
        return NULL;
    struct tr_router *rt = tr_xcalloc(1, sizeof(*rt));
    rt->refs = 1;
    size_t cap = 0;
    for (size_t i = 0; i < l->nrules; i++) {
        const struct tr_ir_rule *r = &l->rules[i];
        for (size_t j = 0; j < r->nmatches; j++) {
            struct entry e = {.rule = (uint32_t)i, .match = (uint32_t)j, .m = &r->matches[j], .spec = spec_key(&r->matches[j]),
                              .order = (uint64_t)i << 24 | j};
            if (!r->hostnames || !r->hostnames[0]) {
                add_entry(vhost_for(rt, NULL, &cap), &e);
            } else {
                for (const char **h = r->hostnames; *h; h++)
                    add_entry(vhost_for(rt, *h, &cap), &e);
            }
        }
    }
    for (size_t i = 0; i < rt->nv; i++)
        qsort(rt->v[i].e, rt->v[i].n, sizeof(struct entry), cmp_entry);
    qsort(rt->v, rt->nv, sizeof(*rt->v), cmp_vhost);
    /* The order changed: index the sorted vhosts. */
    tr_map_dispose(&rt->hosts);
    rt->any = 0;
    for (size_t i = 0; i < rt->nv; i++) {
        char key[300];
        if (!rt->v[i].host)
            rt->any = i + 1;
        else if (lower(rt->v[i].host, rt->v[i].host_len, key, sizeof(key)))
            tr_map_put(&rt->hosts, key, rt->v[i].host_len, (void *)(uintptr_t)(i + 1));
    }
    return rt;
}

struct tr_router *tr_router_ref(struct tr_router *rt)
{
    if (rt)
        __atomic_add_fetch(&rt->refs, 1, __ATOMIC_RELAXED);
    return rt;
}

bool tr_router_serves(const struct tr_ir_listener *a, const struct tr_ir_listener *b)
{
    if (a->nrules != b->nrules)
        return false;
    for (size_t i = 0; i < a->nrules; i++) {
        const struct tr_ir_rule *x = &a->rules[i], *y = &b->rules[i];
        if (x->route != y->route || x->index != y->index || x->matches != y->matches || x->nmatches != y->nmatches ||
            x->hostnames != y->hostnames)
            return false;
    }
    return true;
}

void tr_router_free(struct tr_router *rt)
{
    if (!rt || __atomic_sub_fetch(&rt->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    for (size_t i = 0; i < rt->nv; i++)
        free(rt->v[i].e);
    free(rt->v);
    tr_map_dispose(&rt->hosts);
    free(rt);
}

/* PathPrefix matches on element boundaries: "/foo" matches /foo, /foo/ and /foo/bar but not
 * /foobar; a trailing "/" in the prefix is ignored (HTTPPathMatch docs). */
static bool prefix_match(const char *prefix, size_t plen, const char *path, size_t len)
{
    if (plen > 1 && prefix[plen - 1] == '/')
        plen--;
    if (plen == 1 && prefix[0] == '/')
        return true;
    if (len < plen || memcmp(prefix, path, plen) != 0)
        return false;
    return len == plen || path[plen] == '/';
}

/* The first value of query parameter name, raw (not percent-decoded: values are compared as
 * sent, which is what the spec's Exact means for encoded characters). */
static const char *query_value(const struct tr_route_req *req, const char *name, size_t nlen, size_t *vlen)
{
    const char *p = req->query, *end = req->query ? req->query + req->query_len : NULL;
    while (p && p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *seg_end = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(seg_end - p));
        const char *kend = eq ? eq : seg_end;
        if ((size_t)(kend - p) == nlen && memcmp(p, name, nlen) == 0) {
            const char *v = eq ? eq + 1 : seg_end;
            *vlen = (size_t)(seg_end - v);
            return v;
        }
        p = amp ? amp + 1 : end;
    }
    return NULL;
}

static bool kv_ok(const struct tr_ir_kv *kv, const char *v, size_t vlen)
{
    if (!v)
        return false;
    if (kv->re)
        return re_full_match((pcre2_code *)kv->re, v, vlen);
    return vlen == kv->value_len && memcmp(v, kv->value, vlen) == 0;
}

static bool entry_match(const struct tr_ir_match *e, const struct tr_route_req *req)
{
    switch (e->path_kind) {
    case TR_PATH_EXACT:
        if (req->path_len != e->path_len || memcmp(req->path, e->path, e->path_len) != 0)
            return false;
        break;
    case TR_PATH_PREFIX:
        if (!prefix_match(e->path, e->path_len, req->path, req->path_len))
            return false;
        break;
    case TR_PATH_REGEX:
        if (!re_full_match((pcre2_code *)e->path_re, req->path, req->path_len))
            return false;
        break;
    }
    if (e->method && (strlen(e->method) != req->method_len || memcmp(e->method, req->method, req->method_len) != 0))
        return false;
    for (size_t i = 0; i < e->nheaders; i++) {
        size_t vlen = 0;
        const char *v = req->header ? req->header(req->ud, e->headers[i].name, e->headers[i].name_len, &vlen) : NULL;
        if (!kv_ok(&e->headers[i], v, vlen))
            return false;
    }
    for (size_t i = 0; i < e->nquery; i++) {
        size_t vlen = 0;
        const char *v = query_value(req, e->query[i].name, e->query[i].name_len, &vlen);
        if (!kv_ok(&e->query[i], v, vlen))
            return false;
    }
    return true;
}

bool tr_router_match(const struct tr_router *rt, const struct tr_ir_listener *l, const struct tr_route_req *req,
                     struct tr_route_hit *hit)
{
    if (!rt)
        return false;
    /* The most specific virtual host that covers the request's host decides; its rules alone
     * are considered (exact host, then the longest wildcard, then routes without hostnames). */
    const struct vhost *v = NULL;
    char key[300];
    if (req->host_len && lower(req->host, req->host_len, key + 1, sizeof(key) - 1)) {
        size_t i = (size_t)(uintptr_t)tr_map_get(&rt->hosts, key + 1, req->host_len);
        /* "*.example.com" covers a.example.com and a.b.example.com: try the suffixes from
         * each dot, longest first, each with at least one character before it. */
        for (size_t d = 1; !i && d < req->host_len; d++) {
            if (key[1 + d] != '.')
                continue;
            key[d] = '*';
            i = (size_t)(uintptr_t)tr_map_get(&rt->hosts, key + d, req->host_len + 1 - d);
        }
        if (!i)
            i = rt->any;
        v = i ? &rt->v[i - 1] : NULL;
    } else {
        for (size_t i = 0; i < rt->nv && !v; i++) /* no Host, or one too long to index */
            if (tr_host_score(rt->v[i].host, req->host, req->host_len))
                v = &rt->v[i];
    }
    if (!v)
        return false;
    for (size_t i = 0; i < v->n; i++) {
        if (entry_match(v->e[i].m, req)) {
            hit->rule = &l->rules[v->e[i].rule];
            hit->match = v->e[i].match;
            return true;
        }
    }
    return false;
}
