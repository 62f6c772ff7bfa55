/* Route matching and precedence, through translate: manifests in, the listener's router out. */
#include "api/manifest.h"
#include "api/object.h"
#include "ir/ir.h"
#include "ir/router.h"
#include "store/store.h"
#include "base/buf.h"
#include "test.h"
#include "util.h"
#include "translate/translate.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char base[] = "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: {name: c}\n"
                           "spec: {controllerName: torii.dev/gateway-controller}\n---\n"
                           "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: gw, namespace: ns}\n"
                           "spec:\n  gatewayClassName: c\n  listeners:\n  - {name: http, protocol: HTTP, port: 80,"
                           " allowedRoutes: {namespaces: {from: All}}}\n---\n"
                           "apiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: ns}\nspec: {ports: [{port: 80}]}\n---\n"
                           "apiVersion: v1\nkind: Service\nmetadata: {name: b, namespace: ns}\nspec: {ports: [{port: 80}]}\n";

struct world {
    struct tr_store *store;
    struct tr_view *view;
    struct tr_tx *tx;
    struct tr_router *rt;
};

/* Loads base + routes (routes get creation times in document order, 1 s apart). */
static void load(struct world *w, const char *routes)
{
    w->store = tr_store_new();
    tr_test_apply(w->store, base, 1000);
    tr_test_apply(w->store, routes, 2000);
    w->view = tr_store_view(w->store);
    struct tr_tx_input in = {.view = w->view, .controller = "torii.dev/gateway-controller", .alloc_address = tr_test_addr};
    w->tx = tr_translate(&in);
    const struct tr_ir *ir = tr_tx_ir(w->tx);
    ASSERT_EQ(ir->nports, 1);
    ASSERT_EQ(ir->ports[0].nlisteners, 1);
    w->rt = tr_router_new(ir->ports[0].listeners[0]);
}

static void unload(struct world *w)
{
    tr_router_free(w->rt);
    tr_tx_free(w->tx);
    tr_view_free(w->view);
    tr_store_free(w->store);
}

struct hdrs {
    const char *const *kv; /* name, value, ..., NULL */
};

static const char *hdr(void *ud, const char *name, size_t len, size_t *vlen)
{
    const struct hdrs *h = ud;
    for (const char *const *p = h->kv; p && *p; p += 2) {
        if (strlen(*p) == len && strncasecmp(*p, name, len) == 0) {
            *vlen = strlen(p[1]);
            return p[1];
        }
    }
    return NULL;
}

static uint32_t last_match; /* the winning match's index in its rule, after route() */

/* Returns "route#rule" of the winner for method host target (headers optional), or "404". */
static const char *route(struct world *w, const char *method, const char *host, const char *target,
                         const char *const *headers)
{
    static char out[128];
    struct hdrs h = {headers};
    const char *q = strchr(target, '?');
    struct tr_route_req req = {
        .host = host, .host_len = strlen(host), .method = method, .method_len = strlen(method),
        .path = target, .path_len = q ? (size_t)(q - target) : strlen(target),
        .query = q ? q + 1 : NULL, .query_len = q ? strlen(q + 1) : 0, .header = hdr, .ud = &h};
    struct tr_route_hit hit;
    if (!tr_router_match(w->rt, tr_tx_ir(w->tx)->ports[0].listeners[0], &req, &hit))
        return "404";
    snprintf(out, sizeof(out), "%s#%u", hit.rule->spec->route->name, hit.rule->spec->index);
    last_match = hit.match;
    return out;
}

#define ROUTE_AT(name, created, body)                                                               \
    "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: " name       \
    ", namespace: ns, creationTimestamp: '" created "'}\nspec:\n  parentRefs: [{name: gw}]\n" body
#define ROUTE(name, body) ROUTE_AT(name, "2026-01-01T00:00:00Z", body)
#define ROUTE_NS(ns, name, body)                                                                   \
    "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: " name       \
    ", namespace: " ns ", creationTimestamp: '2026-01-01T00:00:00Z'}\nspec:\n  parentRefs: [{name: gw, namespace: ns}]\n" body

/* The spec facts these tests check, quoted from the HTTPRoute CRD (gateway.networking.k8s.io/v1,
 * shared/gateway-api/crds/standard):
 *
 * HTTPRouteRule.matches: "Across all rules specified on applicable Routes, precedence must be
 * given to the match having: "Exact" path match. "Prefix" path match with largest number of
 * characters. Method match. Largest number of header matches. Largest number of query param
 * matches. Note: The precedence of RegularExpression path matches are implementation-specific.
 * If ties still exist across multiple Routes, matching precedence MUST be determined in order of
 * the following criteria, continuing on ties: The oldest Route based on creation timestamp. The
 * Route appearing first in alphabetical order by "{namespace}/{name}". If ties still exist within
 * an HTTPRoute, matching precedence MUST be granted to the FIRST matching rule (in list order)
 * with a match meeting the above criteria."
 *
 * HTTPRouteSpec.hostnames: "precedence must be given to rules from the HTTPRoute with the
 * largest number of: Characters in a matching non-wildcard hostname. Characters in a matching
 * hostname." and "Implementations MUST ignore any port value specified in the HTTP Host header
 * while performing a match" (the router is handed the host without its port: proxy/h1_proxy.c
 * request_host strips it, out of this file's reach).
 *
 * PathPrefix (HTTPPathModifier.replacePrefixMatch docs, "Note that this matches the behavior of
 * the PathPrefix match type"): "This matches full path elements. A path element refers to
 * the list of labels in the path split by the `/` separator. When specified, a trailing `/` is
 * ignored. For example, the paths `/abc`, `/abc/`, and `/abc/def` would all match the prefix
 * `/abc`, but the path `/abcd` would not."
 *
 * HTTPHeaderMatch.name: "Name matching MUST be case-insensitive." "If multiple entries specify
 * equivalent header names, only the first entry with an equivalent name MUST be considered for
 * a match." HTTPQueryParamMatch.name: "This must be an exact string match." and, for a repeated
 * parameter, "it is *recommended* that implementations should match against the first value". */

TEST(router_prefix_on_segment_boundaries)
{
    struct world w;
    load(&w, ROUTE("r", "  rules:\n  - matches: [{path: {type: PathPrefix, value: /foo/}}]\n"
                        "    backendRefs: [{name: a, port: 80}]\n"));
    ASSERT_STREQ(route(&w, "GET", "x", "/foo", NULL), "r#0");
    ASSERT_STREQ(route(&w, "GET", "x", "/foo/", NULL), "r#0");
    ASSERT_STREQ(route(&w, "GET", "x", "/foo/bar", NULL), "r#0");
    ASSERT_STREQ(route(&w, "GET", "x", "/foobar", NULL), "404");
    ASSERT_STREQ(route(&w, "GET", "x", "/", NULL), "404");
    unload(&w);
}

TEST(router_exact_beats_longer_prefix)
{
    struct world w;
    load(&w, ROUTE("r", "  rules:\n  - matches: [{path: {type: PathPrefix, value: /a/b/c}}]\n"
                        "  - matches: [{path: {type: Exact, value: /a}}]\n"
                        "  - matches: [{path: {type: PathPrefix, value: /a}}]\n"));
    ASSERT_STREQ(route(&w, "GET", "x", "/a", NULL), "r#1");
    ASSERT_STREQ(route(&w, "GET", "x", "/a/b/c/d", NULL), "r#0");
    ASSERT_STREQ(route(&w, "GET", "x", "/a/b", NULL), "r#2");
    unload(&w);
}

TEST(router_method_then_headers_then_query)
{
    struct world w;
    load(&w, ROUTE("r", "  rules:\n"
                        "  - matches: [{path: {value: /}, queryParams: [{name: q, value: '1'}, {name: r, value: '2'}]}]\n"
                        "  - matches: [{path: {value: /}, headers: [{name: x-a, value: '1'}]}]\n"
                        "  - matches: [{path: {value: /}, method: POST}]\n"
                        "  - matches: [{path: {value: /}, headers: [{name: x-a, value: '1'}, {name: x-b, value: '2'}]}]\n"));
    static const char *const ab[] = {"X-A", "1", "x-b", "2", NULL};
    static const char *const a[] = {"x-a", "1", NULL};
    ASSERT_STREQ(route(&w, "POST", "x", "/?q=1&r=2", ab), "r#2"); /* method wins */
    ASSERT_STREQ(route(&w, "GET", "x", "/?q=1&r=2", ab), "r#3");  /* then more headers */
    ASSERT_STREQ(route(&w, "GET", "x", "/?q=1&r=2", a), "r#1");
    ASSERT_STREQ(route(&w, "GET", "x", "/?r=2&q=1", NULL), "r#0");
    ASSERT_STREQ(route(&w, "GET", "x", "/?q=1", NULL), "404");
    unload(&w);
}

/* Query parameter names are exact: q and Q are two conditions, both to be met (only header
 * names are equivalent without case). */
TEST(router_query_names_exact_in_one_match)
{
    struct world w;
    load(&w, ROUTE("r", "  rules:\n"
                        "  - matches: [{path: {value: /}, queryParams: [{name: q, value: '1'}, {name: Q, value: '2'}]}]\n"));
    ASSERT_STREQ(route(&w, "GET", "x", "/?q=1", NULL), "404");
    ASSERT_STREQ(route(&w, "GET", "x", "/?Q=2", NULL), "404");
    ASSERT_STREQ(route(&w, "GET", "x", "/?q=1&Q=2", NULL), "r#0");
    unload(&w);
}

TEST(router_older_route_wins_ties)
{
    struct world w;
    /* "zold" is older, though it sorts after "anew" by name; equal ages fall back to names. */
    load(&w, ROUTE_AT("zold", "2020-01-01T00:00:00Z", "  rules:\n  - matches: [{path: {value: /x}}]\n")
                 ROUTE_AT("anew", "2021-01-01T00:00:00Z", "  rules:\n  - matches: [{path: {value: /x}}]\n")
                     ROUTE_AT("bsame", "2021-01-01T00:00:00Z", "  rules:\n  - matches: [{path: {value: /y}}]\n")
                         ROUTE_AT("asame", "2021-01-01T00:00:00Z", "  rules:\n  - matches: [{path: {value: /y}}]\n"));
    ASSERT_STREQ(route(&w, "GET", "h", "/x/1", NULL), "zold#0");
    ASSERT_STREQ(route(&w, "GET", "h", "/y", NULL), "asame#0");
    unload(&w);
}

TEST(router_hostnames_exact_wildcard_any)
{
    struct world w;
    load(&w, ROUTE("exact", "  hostnames: [a.example.com]\n  rules:\n  - matches: [{path: {value: /}}]\n")
                 ROUTE("wild", "  hostnames: ['*.example.com']\n  rules:\n  - matches: [{path: {value: /}}]\n")
                     ROUTE("any", "  rules:\n  - matches: [{path: {value: /only}}]\n"));
    ASSERT_STREQ(route(&w, "GET", "a.example.com", "/", NULL), "exact#0");
    ASSERT_STREQ(route(&w, "GET", "b.example.com", "/", NULL), "wild#0");
    ASSERT_STREQ(route(&w, "GET", "c.b.example.com", "/", NULL), "wild#0");
    ASSERT_STREQ(route(&w, "GET", "example.com", "/only", NULL), "any#0");
    /* The most specific host decides alone: no fall-through to routes without hostnames. */
    ASSERT_STREQ(route(&w, "GET", "a.example.com", "/only", NULL), "exact#0");
    ASSERT_STREQ(route(&w, "GET", "example.com", "/", NULL), "404");
    unload(&w);
}

TEST(router_nested_wildcards_longest_first)
{
    struct world w;
    load(&w, ROUTE("wide", "  hostnames: ['*.example.com']\n  rules:\n  - matches: [{path: {value: /}}]\n")
                 ROUTE("narrow", "  hostnames: ['*.b.example.com']\n  rules:\n  - matches: [{path: {value: /}}]\n")
                     ROUTE("exact", "  hostnames: [a.b.example.com]\n  rules:\n  - matches: [{path: {value: /}}]\n")
                         ROUTE("any", "  rules:\n  - matches: [{path: {value: /}}]\n"));
    ASSERT_STREQ(route(&w, "GET", "a.b.example.com", "/", NULL), "exact#0");
    ASSERT_STREQ(route(&w, "GET", "A.B.Example.COM", "/", NULL), "exact#0");
    ASSERT_STREQ(route(&w, "GET", "x.b.example.com", "/", NULL), "narrow#0");
    ASSERT_STREQ(route(&w, "GET", "y.x.b.example.com", "/", NULL), "narrow#0");
    ASSERT_STREQ(route(&w, "GET", "b.example.com", "/", NULL), "wide#0");
    ASSERT_STREQ(route(&w, "GET", "x.y.example.com", "/", NULL), "wide#0");
    ASSERT_STREQ(route(&w, "GET", "example.com", "/", NULL), "any#0");
    ASSERT_STREQ(route(&w, "GET", ".example.com", "/", NULL), "any#0");
    ASSERT_STREQ(route(&w, "GET", "other.test", "/", NULL), "any#0");
    /* No Host: only routes without hostnames. A Host too long to look up (no DNS name is):
     * the longest wildcard that covers it, else those routes. */
    ASSERT_STREQ(route(&w, "GET", "", "/", NULL), "any#0");
    char longhost[400];
    memset(longhost, 'x', 320);
    snprintf(longhost + 320, sizeof(longhost) - 320, ".b.example.com");
    ASSERT_STREQ(route(&w, "GET", longhost, "/", NULL), "narrow#0");
    snprintf(longhost + 320, sizeof(longhost) - 320, ".example.org");
    ASSERT_STREQ(route(&w, "GET", longhost, "/", NULL), "any#0");
    unload(&w);
}

TEST(router_regular_expressions)
{
    struct world w;
    load(&w, ROUTE("r", "  rules:\n  - matches: [{path: {type: RegularExpression, value: '/v[0-9]+/.*'}}]\n"
                        "  - matches: [{path: {value: /}, headers: [{name: h, type: RegularExpression, value: 'a+'}]}]\n"));
    static const char *const aaa[] = {"h", "aaa", NULL};
    static const char *const aab[] = {"h", "aab", NULL};
    ASSERT_STREQ(route(&w, "GET", "x", "/v2/x", NULL), "r#0");
    ASSERT_STREQ(route(&w, "GET", "x", "/v/x", NULL), "404");
    ASSERT_STREQ(route(&w, "GET", "x", "/q", aaa), "r#1");
    ASSERT_STREQ(route(&w, "GET", "x", "/q", aab), "404"); /* whole-value match */
    unload(&w);
}

/* GRPCMethodMatch RegularExpression: the service and the method are each a group of their own
 * in the /service/method expression, so an alternation in one stays in it. */
TEST(router_grpc_method_expressions)
{
    struct world w;
    load(&w, "---\napiVersion: gateway.networking.k8s.io/v1\nkind: GRPCRoute\nmetadata: {name: g, namespace: ns}\n"
              "spec:\n  parentRefs: [{name: gw}]\n  rules:\n"
              "  - matches: [{method: {type: RegularExpression, service: 'a\\.B|c\\.D', method: 'Get|Put'}}]\n");
    ASSERT_STREQ(route(&w, "POST", "x", "/a.B/Get", NULL), "g#0");
    ASSERT_STREQ(route(&w, "POST", "x", "/c.D/Put", NULL), "g#0");
    ASSERT_STREQ(route(&w, "POST", "x", "/a.B/Other", NULL), "404"); /* "/a.B" alone does not match */
    ASSERT_STREQ(route(&w, "POST", "x", "/x.Y/Get", NULL), "404");
    ASSERT_STREQ(route(&w, "POST", "x", "/c.D/GetMore", NULL), "404");
    unload(&w);
}

TEST(router_host_score)
{
    ASSERT(tr_host_score("a.b", "a.b", 3) > tr_host_score("*.b", "a.b", 3));
    ASSERT(tr_host_score("*.x.b", "a.x.b", 5) > tr_host_score("*.b", "a.x.b", 5));
    ASSERT(tr_host_score("*.b", "a.x.b", 5) > tr_host_score(NULL, "a.x.b", 5));
    ASSERT_EQ(tr_host_score("*.b", "b", 1), 0);
    ASSERT_EQ(tr_host_score("a.b", "c.b", 3), 0);
}

TEST(router_prefix_whole_segments_and_case)
{
    struct world w;
    load(&w, ROUTE("r", "  rules:\n  - matches: [{path: {type: PathPrefix, value: /abc}}]\n"
                        "  - matches: [{path: {type: PathPrefix, value: /x/y}}]\n"));
    ASSERT_STREQ(route(&w, "GET", "h", "/abc", NULL), "r#0");
    ASSERT_STREQ(route(&w, "GET", "h", "/abc/", NULL), "r#0");
    ASSERT_STREQ(route(&w, "GET", "h", "/abc/def", NULL), "r#0");
    ASSERT_STREQ(route(&w, "GET", "h", "/abc?q=1", NULL), "r#0"); /* the query is not the path */
    ASSERT_STREQ(route(&w, "GET", "h", "/abcd", NULL), "404");
    ASSERT_STREQ(route(&w, "GET", "h", "/ab", NULL), "404");
    ASSERT_STREQ(route(&w, "GET", "h", "/ABC", NULL), "404"); /* case-sensitive */
    ASSERT_STREQ(route(&w, "GET", "h", "/x/y/z", NULL), "r#1");
    ASSERT_STREQ(route(&w, "GET", "h", "/x/y", NULL), "r#1");
    ASSERT_STREQ(route(&w, "GET", "h", "/x/yz", NULL), "404");
    ASSERT_STREQ(route(&w, "GET", "h", "/x", NULL), "404");
    ASSERT_STREQ(route(&w, "GET", "h", "/x/", NULL), "404");
    unload(&w);
    /* "/" is every path's prefix. */
    load(&w, ROUTE("r", "  rules:\n  - matches: [{path: {type: PathPrefix, value: /}}]\n"));
    ASSERT_STREQ(route(&w, "GET", "h", "/", NULL), "r#0");
    ASSERT_STREQ(route(&w, "GET", "h", "/anything/at/all", NULL), "r#0");
    unload(&w);
}

TEST(router_exact_is_the_whole_path)
{
    struct world w;
    load(&w, ROUTE("r", "  rules:\n  - matches: [{path: {type: Exact, value: /abc}}]\n"
                        "  - matches: [{path: {type: Exact, value: /dir/}}]\n"));
    ASSERT_STREQ(route(&w, "GET", "h", "/abc", NULL), "r#0");
    ASSERT_STREQ(route(&w, "GET", "h", "/abc?x=1", NULL), "r#0");
    ASSERT_STREQ(route(&w, "GET", "h", "/abc/", NULL), "404"); /* a trailing slash counts */
    ASSERT_STREQ(route(&w, "GET", "h", "/abc/d", NULL), "404");
    ASSERT_STREQ(route(&w, "GET", "h", "/ab", NULL), "404");
    ASSERT_STREQ(route(&w, "GET", "h", "/Abc", NULL), "404");
    ASSERT_STREQ(route(&w, "GET", "h", "/dir/", NULL), "r#1");
    ASSERT_STREQ(route(&w, "GET", "h", "/dir", NULL), "404");
    unload(&w);
}

/* "/p/" and "/p" are the same prefix (the trailing slash is ignored), so neither is longer:
 * rule order decides, whichever comes first. */
TEST(router_trailing_slash_does_not_lengthen_a_prefix)
{
    struct world w;
    load(&w, ROUTE("r", "  rules:\n  - matches: [{path: {value: /p/}}]\n  - matches: [{path: {value: /p}}]\n"));
    ASSERT_STREQ(route(&w, "GET", "h", "/p/x", NULL), "r#0");
    ASSERT_STREQ(route(&w, "GET", "h", "/p", NULL), "r#0");
    unload(&w);
    load(&w, ROUTE("r", "  rules:\n  - matches: [{path: {value: /p}}]\n  - matches: [{path: {value: /p/}}]\n"));
    ASSERT_STREQ(route(&w, "GET", "h", "/p/x", NULL), "r#0");
    unload(&w);
}

/* Match precedence runs across every route of the host before route age does: a newer route
 * with a more specific match wins over an older one. */
TEST(router_precedence_across_routes_before_age)
{
    struct world w;
    load(&w, ROUTE_AT("old", "2020-01-01T00:00:00Z",
                      "  rules:\n  - matches: [{path: {type: PathPrefix, value: /a}}]\n"
                      "  - matches: [{path: {type: PathPrefix, value: /m}, headers: [{name: h, value: '1'}]}]\n"
                      "  - matches: [{path: {type: PathPrefix, value: /q}}]\n")
                 ROUTE_AT("new", "2021-01-01T00:00:00Z",
                          "  rules:\n  - matches: [{path: {type: Exact, value: /a}}]\n"
                          "  - matches: [{path: {type: PathPrefix, value: /a/b}}]\n"
                          "  - matches: [{path: {type: PathPrefix, value: /m}, method: GET}]\n"
                          "  - matches: [{path: {type: PathPrefix, value: /q}, queryParams: [{name: k, value: v}]}]\n"));
    static const char *const h1[] = {"h", "1", NULL};
    ASSERT_STREQ(route(&w, "GET", "h", "/a", NULL), "new#0");     /* Exact */
    ASSERT_STREQ(route(&w, "GET", "h", "/a/b/c", NULL), "new#1"); /* the longer prefix */
    ASSERT_STREQ(route(&w, "GET", "h", "/a/c", NULL), "old#0");
    ASSERT_STREQ(route(&w, "GET", "h", "/m", h1), "new#2");  /* a method over a header */
    ASSERT_STREQ(route(&w, "POST", "h", "/m", h1), "old#1");
    ASSERT_STREQ(route(&w, "GET", "h", "/q?k=v", NULL), "new#3"); /* a query match over none */
    ASSERT_STREQ(route(&w, "GET", "h", "/q?k=w", NULL), "old#2");
    unload(&w);
}

/* Equal matches, equal ages: "{namespace}/{name}" order, the namespace first. */
TEST(router_namespace_then_name_order)
{
    struct world w;
    load(&w, ROUTE_NS("ns-b", "aa", "  rules:\n  - matches: [{path: {value: /x}}]\n")
                 ROUTE_NS("ns-a", "zz", "  rules:\n  - matches: [{path: {value: /x}}]\n")
                     ROUTE_NS("ns-a", "yy", "  rules:\n  - matches: [{path: {value: /y}}]\n")
                         ROUTE_NS("ns-a", "xx", "  rules:\n  - matches: [{path: {value: /y}}]\n"));
    ASSERT_STREQ(route(&w, "GET", "h", "/x", NULL), "zz#0");
    ASSERT_STREQ(route(&w, "GET", "h", "/y", NULL), "xx#0");
    unload(&w);
}

/* Equal matches within a route: the first rule in list order, and within a rule its first
 * matching match. */
TEST(router_first_rule_then_first_match)
{
    struct world w;
    load(&w, ROUTE("r", "  rules:\n"
                        "  - matches: [{path: {value: /z}}, {path: {value: /s}}, {path: {value: /s}, method: GET}]\n"
                        "  - matches: [{path: {value: /s}}, {path: {value: /t}}]\n"
                        "  - matches: [{path: {value: /t}}]\n"));
    ASSERT_STREQ(route(&w, "GET", "h", "/s", NULL), "r#0");
    ASSERT_EQ(last_match, 2); /* the method match is more specific than the earlier /s */
    ASSERT_STREQ(route(&w, "POST", "h", "/s", NULL), "r#0");
    ASSERT_EQ(last_match, 1);
    ASSERT_STREQ(route(&w, "GET", "h", "/t", NULL), "r#1");
    ASSERT_EQ(last_match, 1);
    unload(&w);
}

TEST(router_method_is_case_sensitive)
{
    struct world w;
    load(&w, ROUTE("r", "  rules:\n  - matches: [{path: {value: /}, method: PATCH}]\n"));
    ASSERT_STREQ(route(&w, "PATCH", "h", "/", NULL), "r#0");
    ASSERT_STREQ(route(&w, "patch", "h", "/", NULL), "404"); /* RFC 9110 9.1: methods are case-sensitive */
    ASSERT_STREQ(route(&w, "PATCHX", "h", "/", NULL), "404");
    ASSERT_STREQ(route(&w, "PAT", "h", "/", NULL), "404");
    unload(&w);
}

/* Header values compare exactly (case included); names are the request's business to look up
 * case-insensitively (the callback), but equivalent names in one match are one header: the
 * first counts, the others are ignored, for matching and for precedence alike. */
TEST(router_header_matching)
{
    struct world w;
    load(&w, ROUTE("r", "  rules:\n"
                        "  - matches: [{path: {value: /}, headers: [{name: X-V, value: one}, {name: x-v, value: two}]}]\n"
                        "  - matches: [{path: {value: /}, headers: [{name: a, value: '1'}, {name: b, value: '2'}]}]\n"
                        "  - matches: [{path: {value: /}, headers: [{name: a, value: '1'}]}]\n"));
    static const char *const one[] = {"x-v", "one", NULL};
    static const char *const two[] = {"X-V", "two", NULL};
    static const char *const upper[] = {"x-v", "ONE", NULL};
    static const char *const spaced[] = {"x-v", "one ", NULL};
    static const char *const both[] = {"x-v", "one", "a", "1", "b", "2", NULL};
    static const char *const ab_split[] = {"a", "1", NULL};
    ASSERT_STREQ(route(&w, "GET", "h", "/", one), "r#0");
    ASSERT_STREQ(route(&w, "GET", "h", "/", two), "404");
    ASSERT_STREQ(route(&w, "GET", "h", "/", upper), "404");
    ASSERT_STREQ(route(&w, "GET", "h", "/", spaced), "404");
    ASSERT_STREQ(route(&w, "GET", "h", "/", ab_split), "r#2");
    /* Rule 0 counts one header (its duplicate is ignored), rule 1 two: rule 1 wins. */
    ASSERT_STREQ(route(&w, "GET", "h", "/", both), "r#1");
    unload(&w);
}

/* Query parameters: the name compares exactly (case included), the value exactly, raw; a
 * repeated parameter matches by its first value; a regular expression must match the whole
 * value. */
TEST(router_query_param_matching)
{
    struct world w;
    load(&w, ROUTE("r", "  rules:\n"
                        "  - matches: [{path: {value: /}, queryParams: [{name: q, value: '1'}]}]\n"
                        "  - matches: [{path: {value: /n}, queryParams: [{name: n, type: RegularExpression, value: '[0-9]+'}]}]\n"
                        "  - matches: [{path: {value: /e}, queryParams: [{name: e, value: 'a%20b'}]}]\n"));
    ASSERT_STREQ(route(&w, "GET", "h", "/?q=1", NULL), "r#0");
    ASSERT_STREQ(route(&w, "GET", "h", "/?a=2&q=1&z", NULL), "r#0");
    ASSERT_STREQ(route(&w, "GET", "h", "/?&q=1&", NULL), "r#0");
    ASSERT_STREQ(route(&w, "GET", "h", "/?Q=1", NULL), "404");
    ASSERT_STREQ(route(&w, "GET", "h", "/?qq=1", NULL), "404");
    ASSERT_STREQ(route(&w, "GET", "h", "/?xq=1", NULL), "404");
    ASSERT_STREQ(route(&w, "GET", "h", "/?q=10", NULL), "404");
    ASSERT_STREQ(route(&w, "GET", "h", "/?q", NULL), "404");
    ASSERT_STREQ(route(&w, "GET", "h", "/?q=", NULL), "404");
    ASSERT_STREQ(route(&w, "GET", "h", "/?x=q=1", NULL), "404");
    ASSERT_STREQ(route(&w, "GET", "h", "/?q=1&q=2", NULL), "r#0");
    ASSERT_STREQ(route(&w, "GET", "h", "/?q=2&q=1", NULL), "404");
    ASSERT_STREQ(route(&w, "GET", "h", "/", NULL), "404");
    ASSERT_STREQ(route(&w, "GET", "h", "/n?n=123", NULL), "r#1");
    ASSERT_STREQ(route(&w, "GET", "h", "/n?n=12a", NULL), "404");
    ASSERT_STREQ(route(&w, "GET", "h", "/n?n=", NULL), "404");
    ASSERT_STREQ(route(&w, "GET", "h", "/e?e=a%20b", NULL), "r#2");
    ASSERT_STREQ(route(&w, "GET", "h", "/e?e=a b", NULL), "404");
    unload(&w);
}

/* torii's place for RegularExpression paths (implementation-specific): after Exact, before
 * every prefix, longer patterns first. A pattern matches the whole path, and one that does not
 * compile matches nothing. */
TEST(router_regex_paths)
{
    struct world w;
    load(&w, ROUTE("r", "  rules:\n"
                        "  - matches: [{path: {type: PathPrefix, value: /api/v1/long/prefix}}]\n"
                        "  - matches: [{path: {type: RegularExpression, value: '/api/.*'}}]\n"
                        "  - matches: [{path: {type: RegularExpression, value: '/api/v[0-9]+/.*'}}]\n"
                        "  - matches: [{path: {type: Exact, value: /api/v1/x}}]\n"
                        "  - matches: [{path: {type: RegularExpression, value: '/bad/(['}}]\n"
                        "  - matches: [{path: {type: PathPrefix, value: /}}]\n"));
    ASSERT_STREQ(route(&w, "GET", "h", "/api/v1/x", NULL), "r#3");
    ASSERT_STREQ(route(&w, "GET", "h", "/api/v1/y", NULL), "r#2");
    ASSERT_STREQ(route(&w, "GET", "h", "/api/v1/long/prefix/z", NULL), "r#2");
    ASSERT_STREQ(route(&w, "GET", "h", "/api/other", NULL), "r#1");
    ASSERT_STREQ(route(&w, "GET", "h", "/xapi/v1/y", NULL), "r#5"); /* anchored at the start */
    ASSERT_STREQ(route(&w, "GET", "h", "/bad/([", NULL), "r#5");
    unload(&w);
    load(&w, ROUTE("r", "  rules:\n  - matches: [{path: {type: RegularExpression, value: '/abc'}}]\n"));
    ASSERT_STREQ(route(&w, "GET", "h", "/abc", NULL), "r#0");
    ASSERT_STREQ(route(&w, "GET", "h", "/abc/def", NULL), "404"); /* and at the end */
    ASSERT_STREQ(route(&w, "GET", "h", "/abc\n", NULL), "404");
    unload(&w);
}

/* A route with several hostnames serves each; the host decides before any path does. */
TEST(router_host_before_path)
{
    struct world w;
    load(&w, ROUTE("multi", "  hostnames: [a.example.com, '*.b.example.com']\n"
                            "  rules:\n  - matches: [{path: {type: PathPrefix, value: /}}]\n")
                 ROUTE("exact", "  hostnames: [x.b.example.com]\n  rules:\n  - matches: [{path: {type: Exact, value: /e}}]\n")
                     ROUTE("any", "  rules:\n  - matches: [{path: {type: Exact, value: /e}}]\n"));
    ASSERT_STREQ(route(&w, "GET", "a.example.com", "/e", NULL), "multi#0");
    ASSERT_STREQ(route(&w, "GET", "y.b.example.com", "/e", NULL), "multi#0");
    ASSERT_STREQ(route(&w, "GET", "x.b.example.com", "/e", NULL), "exact#0");
    /* The exact host's rules alone: its /e does not cover /f, and the wildcard is not asked. */
    ASSERT_STREQ(route(&w, "GET", "x.b.example.com", "/f", NULL), "404");
    ASSERT_STREQ(route(&w, "GET", "b.example.com", "/e", NULL), "any#0");
    ASSERT_STREQ(route(&w, "GET", "a.example.com.evil", "/e", NULL), "any#0");
    ASSERT_STREQ(route(&w, "GET", "xa.example.com", "/e", NULL), "any#0");
    unload(&w);
}

/* Many equal matches among others: the sort that orders them by precedence must not shuffle
 * equals (qsort is not stable by contract: the entries carry their rule and match order as the
 * last key). 16 rules of 4 matches, k = 4 * rule + match: Exact when k % 3 == 0, else
 * PathPrefix; /same when k is odd, else /other; rule 0 matches other paths. */
TEST(router_equal_matches_keep_rule_order)
{
    char yaml[8192];
    size_t n = (size_t)snprintf(yaml, sizeof(yaml), "%s", ROUTE("r", "  rules:\n"));
    for (int k = 0; k < 64; k++) {
        const char *type = k % 3 ? "PathPrefix" : "Exact", *path = k < 4 ? "/rule0" : k % 2 ? "/same" : "/other";
        n += (size_t)snprintf(yaml + n, sizeof(yaml) - n, "%s{path: {type: %s, value: %s}}%s", k % 4 ? ", " : "  - matches: [",
                              type, path, k % 4 == 3 ? "]\n" : "");
    }
    ASSERT(n < sizeof(yaml));
    struct world w;
    load(&w, yaml);
    ASSERT_STREQ(route(&w, "GET", "h", "/same", NULL), "r#2"); /* k = 9: the first Exact /same */
    ASSERT_EQ(last_match, 1);
    ASSERT_STREQ(route(&w, "GET", "h", "/same/x", NULL), "r#1"); /* k = 5 */
    ASSERT_EQ(last_match, 1);
    ASSERT_STREQ(route(&w, "GET", "h", "/other", NULL), "r#1"); /* k = 6 */
    ASSERT_EQ(last_match, 2);
    ASSERT_STREQ(route(&w, "GET", "h", "/other/x", NULL), "r#1"); /* k = 4 */
    ASSERT_EQ(last_match, 0);
    unload(&w);
}

/* Many hostnames on one listener: each found by its own name (in any case), wildcards by the
 * longest suffix, the rest by no host at all; the host table grows past its first size many
 * times over and holds every one. */
TEST(router_many_hostnames)
{
    enum { N = 300 };
    struct tr_buf y;
    tr_buf_init(&y, 0);
    for (int i = 0; i < N; i++)
        tr_buf_printf(&y,
                      "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: h%03d, "
                      "namespace: ns, creationTimestamp: '2026-01-01T00:00:00Z'}\nspec:\n  parentRefs: [{name: gw}]\n"
                      "  hostnames: ['h%03d.example.com', '*.w%03d.example.com']\n"
                      "  rules:\n  - matches: [{path: {value: /}}]\n",
                      i, i, i);
    tr_buf_puts(&y, ROUTE("fallback", "  rules:\n  - matches: [{path: {value: /}}]\n"));
    struct world w;
    load(&w, y.data);
    tr_buf_dispose(&y);
    for (int i = 0; i < N; i++) {
        char host[64], upper[64], sub[64], want[32];
        snprintf(host, sizeof(host), "h%03d.example.com", i);
        snprintf(upper, sizeof(upper), "H%03d.EXAMPLE.com", i);
        snprintf(sub, sizeof(sub), "a.b.w%03d.example.com", i);
        snprintf(want, sizeof(want), "h%03d#0", i);
        ASSERT_STREQ(route(&w, "GET", host, "/", NULL), want);
        ASSERT_STREQ(route(&w, "GET", upper, "/", NULL), want);
        ASSERT_STREQ(route(&w, "GET", sub, "/", NULL), want);
    }
    ASSERT_STREQ(route(&w, "GET", "h300.example.com", "/", NULL), "fallback#0");
    ASSERT_STREQ(route(&w, "GET", "w001.example.com", "/", NULL), "fallback#0"); /* not *.w001's */
    unload(&w);
}
