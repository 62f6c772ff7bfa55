/* Route matching and precedence, through translate: manifests in, the listener's router out. */
#include "api/manifest.h"
#include "api/object.h"
#include "ir/ir.h"
#include "ir/router.h"
#include "store/store.h"
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
    snprintf(out, sizeof(out), "%s#%u", hit.rule->route_name, hit.rule->index);
    return out;
}

#define ROUTE_AT(name, created, body)                                                               \
    "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: " name       \
    ", namespace: ns, creationTimestamp: '" created "'}\nspec:\n  parentRefs: [{name: gw}]\n" body
#define ROUTE(name, body) ROUTE_AT(name, "2026-01-01T00:00:00Z", body)

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

TEST(router_host_score)
{
    ASSERT(tr_host_score("a.b", "a.b", 3) > tr_host_score("*.b", "a.b", 3));
    ASSERT(tr_host_score("*.x.b", "a.x.b", 5) > tr_host_score("*.b", "a.x.b", 5));
    ASSERT(tr_host_score("*.b", "a.x.b", 5) > tr_host_score(NULL, "a.x.b", 5));
    ASSERT_EQ(tr_host_score("*.b", "b", 1), 0);
    ASSERT_EQ(tr_host_score("a.b", "c.b", 3), 0);
}
