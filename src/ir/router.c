#include "ir/router.h"
#include "base/map.h"
#include "base/mem.h"
#include "ir/ir.h"
#include "ir/match.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* One (rule, match) pair, with what precedence compares: 16 bytes, one per rule, match and
 * hostname of every route on the listener. The match itself is the listener's rule's. */
struct entry {
    uint32_t rule; /* index in the listener's rules: their order is route precedence */
    uint32_t match;
    uint64_t spec; /* spec_key of the match */
};

struct vhost {
    const char *host;      /* NULL: any host */
    uint32_t host_len : 31;
    uint32_t wildcard : 1;
    uint32_t hash;         /* of the lower-cased host */
    uint32_t first, n;     /* its entries: e[first .. first + n), in precedence order */
};

struct tr_router {
    int refs;        /* atomic: each snapshot using it */
    struct vhost *v; /* in the order first seen */
    size_t nv;
    struct entry *e; /* every vhost's entries, one block */
    /* Host patterns ("a.example.com", "*.example.com"), compared without case: an open
     * addressing table of index in v + 1 (0: empty), at most half full, and the any-host
     * vhost's index + 1 (0: none). A request finds its vhost in a few lookups, however many
     * hostnames the listener serves; the table holds no strings of its own (4 to 8 bytes a
     * host where a map slot and a key copy took about 80). */
    uint32_t *slots;
    size_t nslots;
    size_t any;
    uint32_t *wild; /* the wildcard vhosts, longest first: for a Host too long to look up */
    size_t nwild;
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

/* The vhost of key (lower-cased, kl bytes, hash h): its index + 1, or 0. */
static size_t host_find(const struct tr_router *rt, const char *key, size_t kl, uint32_t h)
{
    if (!rt->nslots)
        return 0;
    size_t mask = rt->nslots - 1;
    for (size_t i = h & mask; rt->slots[i]; i = (i + 1) & mask) {
        const struct vhost *v = &rt->v[rt->slots[i] - 1];
        if (v->hash == h && v->host_len == kl && strncasecmp(v->host, key, kl) == 0)
            return rt->slots[i];
    }
    return 0;
}

static void host_put(struct tr_router *rt, uint32_t h, uint32_t val)
{
    size_t mask = rt->nslots - 1, i = h & mask;
    while (rt->slots[i])
        i = (i + 1) & mask;
    rt->slots[i] = val;
}

/* The longest host that is looked up (a DNS name is at most 253 bytes); a longer one is
 * compared the slow way. */
#define HOST_KEY_MAX 300

/* The index of host's vhost (NULL: the any-host vhost), made on first use. */
static uint32_t vhost_for(struct tr_router *rt, const char *host, size_t *cap)
{
    char key[HOST_KEY_MAX];
    size_t kl = host ? strlen(host) : 0;
    bool keyed = host && lower(host, kl, key, sizeof(key));
    uint32_t h = keyed ? (uint32_t)tr_hash(key, kl) : 0;
    size_t found = keyed ? host_find(rt, key, kl, h) : !host ? rt->any : 0;
    if (found)
        return (uint32_t)(found - 1);
    if (host && !keyed) { /* longer than any DNS name: compared the slow way */
        for (size_t i = 0; i < rt->nv; i++)
            if (rt->v[i].host && strcasecmp(rt->v[i].host, host) == 0)
                return (uint32_t)i;
    }
    if (rt->nv == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        rt->v = tr_xrealloc(rt->v, *cap * sizeof(*rt->v));
    }
    struct vhost *v = &rt->v[rt->nv++];
    *v = (struct vhost){.host = host, .host_len = (uint32_t)kl, .wildcard = host && host[0] == '*', .hash = h};
    if (keyed) {
        if (rt->nv * 2 > rt->nslots) { /* kept at most half full: grown, every host again */
            free(rt->slots);
            rt->nslots = rt->nslots ? rt->nslots * 2 : 16;
            rt->slots = tr_xcalloc(rt->nslots, sizeof(*rt->slots));
            for (size_t i = 0; i < rt->nv; i++)
                if (rt->v[i].host && rt->v[i].host_len < HOST_KEY_MAX)
                    host_put(rt, rt->v[i].hash, (uint32_t)(i + 1));
        } else {
            host_put(rt, h, (uint32_t)rt->nv);
        }
    } else if (!host) {
        rt->any = rt->nv;
    }
    return (uint32_t)(rt->nv - 1);
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
    if (a->rule != b->rule)
        return a->rule < b->rule ? -1 : 1;
    return a->match < b->match ? -1 : a->match > b->match;
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

static int cmp_wild(const void *pa, const void *pb, void *ud)
{
    const struct vhost *v = ud;
    size_t a = v[*(const uint32_t *)pa].host_len, b = v[*(const uint32_t *)pb].host_len;
    return a > b ? -1 : a < b;
}

struct tr_router *tr_router_new(const struct tr_ir_listener *l)
{
    if (!l->nrules)
        return NULL;
    struct tr_router *rt = tr_xcalloc(1, sizeof(*rt));
    rt->refs = 1;
    /* Each (rule, match, host) entry with its vhost, in rule order; then placed by vhost into
     * one block (a counting sort) and each vhost's entries sorted by precedence. */
    size_t cap = 0, n = 0, ecap = 0;
    struct placed {
        uint32_t vh;
        struct entry e;
    } *tmp = NULL;
    for (size_t i = 0; i < l->nrules; i++) {
        const struct tr_ir_rule *r = &l->rules[i];
        bool any = !r->hostnames || !r->hostnames[0];
        for (size_t j = 0; j < r->spec->nmatches; j++) {
            struct entry e = {.rule = (uint32_t)i, .match = (uint32_t)j, .spec = spec_key(&r->spec->matches[j])};
            for (const char *const *h = any ? NULL : r->hostnames; any || *h; h++) {
                if (n == ecap) {
                    ecap = ecap ? ecap * 2 : 64;
                    tmp = tr_xrealloc(tmp, ecap * sizeof(*tmp));
                }
                uint32_t vh = vhost_for(rt, any ? NULL : *h, &cap);
                rt->v[vh].n++;
                tmp[n++] = (struct placed){vh, e};
                if (any)
                    break;
            }
        }
    }
    rt->e = tr_xcalloc(n + 1, sizeof(*rt->e));
    uint32_t next = 0;
    for (size_t i = 0; i < rt->nv; i++) {
        rt->v[i].first = next;
        next += rt->v[i].n;
        rt->v[i].n = 0;
    }
    for (size_t k = 0; k < n; k++) {
        struct vhost *v = &rt->v[tmp[k].vh];
        rt->e[v->first + v->n++] = tmp[k].e;
    }
    free(tmp);
    if (rt->nv < cap) /* grown by doubling: up to half of it spare for the router's life */
        rt->v = tr_xrealloc(rt->v, rt->nv * sizeof(*rt->v));
    for (size_t i = 0; i < rt->nv; i++) {
        if (rt->v[i].n > 1)
            qsort(&rt->e[rt->v[i].first], rt->v[i].n, sizeof(struct entry), cmp_entry);
        rt->nwild += rt->v[i].wildcard;
    }
    rt->wild = tr_xcalloc(rt->nwild + 1, sizeof(*rt->wild));
    for (size_t i = 0, k = 0; i < rt->nv; i++)
        if (rt->v[i].wildcard)
            rt->wild[k++] = (uint32_t)i;
    qsort_r(rt->wild, rt->nwild, sizeof(*rt->wild), cmp_wild, rt->v);
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
        const struct tr_ir_rule_spec *x = a->rules[i].spec, *y = b->rules[i].spec;
        if (a->rules[i].hostnames != b->rules[i].hostnames)
            return false;
        if (x != y && (x->route->kind != y->route->kind || strcmp(x->route->ns, y->route->ns) != 0 ||
                       strcmp(x->route->name, y->route->name) != 0 || x->index != y->index ||
                       x->matches != y->matches || x->nmatches != y->nmatches))
            return false;
    }
    return true;
}

void tr_router_free(struct tr_router *rt)
{
    if (!rt || __atomic_sub_fetch(&rt->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    free(rt->e);
    free(rt->wild);
    free(rt->v);
    free(rt->slots);
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
    if (kv->regex)
        return re_full_match((pcre2_code *)tr_ir_kv_re(kv), v, vlen);
    return vlen == kv->value_len && memcmp(v, kv->v, vlen) == 0;
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
    const char *method = tr_ir_match_method(e);
    if (method && (strlen(method) != req->method_len || memcmp(method, req->method, req->method_len) != 0))
        return false;
    for (size_t i = 0; i < e->nheaders; i++) {
        size_t vlen = 0;
        const char *v = req->header ? req->header(req->ud, tr_ir_match_headers(e)[i].name, tr_ir_match_headers(e)[i].name_len, &vlen) : NULL;
        if (!kv_ok(&tr_ir_match_headers(e)[i], v, vlen))
            return false;
    }
    for (size_t i = 0; i < e->nquery; i++) {
        size_t vlen = 0;
        const char *v = query_value(req, tr_ir_match_query(e)[i].name, tr_ir_match_query(e)[i].name_len, &vlen);
        if (!kv_ok(&tr_ir_match_query(e)[i], v, vlen))
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
    char key[HOST_KEY_MAX];
    if (req->host_len && lower(req->host, req->host_len, key + 1, sizeof(key) - 1)) {
        size_t i = host_find(rt, key + 1, req->host_len, (uint32_t)tr_hash(key + 1, req->host_len));
        /* "*.example.com" covers a.example.com and a.b.example.com: try the suffixes from
         * each dot, longest first, each with at least one character before it. */
        for (size_t d = 1; !i && d < req->host_len; d++) {
            if (key[1 + d] != '.')
                continue;
            key[d] = '*';
            i = host_find(rt, key + d, req->host_len + 1 - d, (uint32_t)tr_hash(key + d, req->host_len + 1 - d));
        }
        if (!i)
            i = rt->any;
        v = i ? &rt->v[i - 1] : NULL;
    } else {
        /* No Host, or one too long to index (so no exact host can be it): the longest
         * wildcard that covers it, else the any-host vhost. */
        for (size_t i = 0; i < rt->nwild && req->host_len && !v; i++)
            if (tr_host_score(rt->v[rt->wild[i]].host, req->host, req->host_len))
                v = &rt->v[rt->wild[i]];
        if (!v && rt->any)
            v = &rt->v[rt->any - 1];
    }
    if (!v)
        return false;
    for (const struct entry *e = &rt->e[v->first], *end = e + v->n; e < end; e++) {
        if (entry_match(&l->rules[e->rule].spec->matches[e->match], req)) {
            hit->rule = &l->rules[e->rule];
            hit->match = e->match;
            return true;
        }
    }
    return false;
}
