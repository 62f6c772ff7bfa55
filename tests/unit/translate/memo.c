/* Translation with a memo (a route's result reused while it and everything but the routes are
 * unchanged) must give exactly what a translation from scratch gives: after every change below,
 * status and IR are compared byte for byte, and the number of routes translated again shows
 * that the memo did its job. */
#include "api/manifest.h"
#include "api/object.h"
#include "base/arena.h"
#include "base/buf.h"
#include "base/node.h"
#include "control/publish.h"
#include "ir/ir.h"
#include "snapshot/snapshot.h"
#include "ir/router.h"
#include "store/store.h"
#include "test.h"
#include "util.h"
#include "translate/translate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GW_API "apiVersion: gateway.networking.k8s.io/v1\n"

static const char world[] =
    GW_API "kind: GatewayClass\nmetadata: {name: c}\nspec: {controllerName: torii.dev/gateway-controller}\n---\n"
    GW_API "kind: Gateway\nmetadata: {name: gw, namespace: ns}\nspec:\n  gatewayClassName: c\n  listeners:\n"
    "  - {name: http, protocol: HTTP, port: 80, allowedRoutes: {namespaces: {from: All}}}\n"
    "  - {name: web, protocol: HTTP, port: 8080, hostname: '*.example.com'}\n"
    "  - {name: tcp, protocol: TCP, port: 9000}\n"
    "  - {name: tls, protocol: HTTPS, port: 443, tls: {certificateRefs: [{name: cert}]}}\n---\n"
    "apiVersion: v1\nkind: Secret\nmetadata: {name: cert, namespace: ns}\ntype: kubernetes.io/tls\n"
    "data: {tls.crt: bm90IGEgY2VydA==, tls.key: bm90IGEga2V5}\n---\n"
    GW_API "kind: Gateway\nmetadata: {name: other, namespace: ns}\nspec:\n  gatewayClassName: c\n  listeners:\n"
    "  - {name: http, protocol: HTTP, port: 81}\n---\n"
    "apiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: ns}\nspec: {ports: [{port: 80, name: web}]}\n---\n"
    "apiVersion: v1\nkind: Service\nmetadata: {name: b, namespace: far}\nspec: {ports: [{port: 80}]}\n---\n"
    "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: a-1\n  namespace: ns\n"
    "  labels: {kubernetes.io/service-name: a}\naddressType: IPv4\nports: [{name: web, port: 8080}]\n"
    "endpoints: [{addresses: [10.0.0.1, 10.0.0.2]}]\n---\n"
    GW_API "kind: ReferenceGrant\nmetadata: {name: g, namespace: far}\nspec:\n"
    "  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: ns}]\n  to: [{group: '', kind: Service}]\n";

static const char *route(char *buf, size_t cap, const char *name, const char *host, const char *backend_ns,
                         const char *header)
{
    snprintf(buf, cap,
             GW_API "kind: HTTPRoute\nmetadata: {name: %s, namespace: ns}\nspec:\n"
                    "  parentRefs: [{name: gw, sectionName: http}, {name: gw, sectionName: web}, {name: other}]\n"
                    "  hostnames: ['%s']\n  rules:\n"
                    "  - matches: [{path: {type: PathPrefix, value: /%s}, headers: [{name: x-h, value: '%s'}]}]\n"
                    "    backendRefs: [{name: a, port: 80}, {name: b, namespace: %s, port: 80}]\n"
                    "  - matches: [{path: {type: RegularExpression, value: '/re/[a-z]+'}}]\n"
                    "    filters: [{type: RequestMirror, requestMirror: {backendRef: {name: a, port: 80}, percent: 10}}]\n"
                    "    backendRefs: [{name: a, port: 80}]\n"
                    "  - backendRefs: [{name: missing, port: 80}]\n",
             name, host, name, header, backend_ns);
    return buf;
}

static const char tcp_route[] = "apiVersion: gateway.networking.k8s.io/v1alpha2\nkind: TCPRoute\n"
                                "metadata: {name: t, namespace: ns}\nspec:\n  parentRefs: [{name: gw, sectionName: tcp}]\n"
                                "  rules: [{backendRefs: [{name: a, port: 80}]}]\n";

static char *render(const struct tr_view *v, const struct tr_tx *tx)
{
    struct tr_arena *a = tr_arena_new(64 * 1024);
    struct tr_buf b;
    tr_buf_init(&b, 0);
    tr_node_emit_json(&b, tr_status_render(a, v, tx), 0);
    tr_buf_putc(&b, '\n');
    tr_node_emit_json(&b, tr_ir_render(a, tr_tx_ir(tx)), 0);
    tr_arena_free(a);
    return tr_buf_steal(&b);
}

typedef size_t resolve_fn(void *ud, const char *name, const char **out, size_t cap);

/* Translates s with the memo and from scratch (with resolve as tr_tx_input.resolve); both must
 * agree. Returns how many routes the memo run translated; *text (when given) gets the render.
 * The memo run's result is kept in *keep (freed by the next call), as the daemon keeps the
 * previous snapshot while the next is made. */
/* Translations as torii's mesh (tr_tx_input.mesh) while set. */
static bool as_mesh;

static size_t check_with(struct tr_store *s, struct tr_tx_memo *memo, struct tr_tx **keep, struct tr_view **keepv,
                         resolve_fn *resolve, char **text)
{
    struct tr_view *v = tr_store_view(s);
    struct tr_tx_input in = {.view = v, .controller = "torii.dev/gateway-controller", .alloc_address = tr_test_addr,
                             .resolve = resolve, .mesh = as_mesh ? TR_MESH_CONTROLLER : NULL};
    struct tr_tx *fresh = tr_translate(&in);
    in.memo = memo;
    struct tr_tx *memoed = tr_translate(&in);
    char *a = render(v, fresh), *b = render(v, memoed);
    ASSERT_STREQ(b, a);
    free(a);
    if (text)
        *text = b;
    else
        free(b);
    size_t n = tr_tx_routes_translated(memoed);
    tr_tx_free(fresh);
    tr_tx_free(*keep);
    tr_view_free(*keepv);
    *keep = memoed;
    *keepv = v;
    return n;
}

static size_t check(struct tr_store *s, struct tr_tx_memo *memo, struct tr_tx **keep, struct tr_view **keepv)
{
    return check_with(s, memo, keep, keepv, NULL, NULL);
}

TEST(translate_memo_matches_a_full_translation)
{
    struct tr_store *s = tr_store_new();
    struct tr_tx_memo *memo = tr_tx_memo_new();
    struct tr_tx *keep = NULL;
    struct tr_view *keepv = NULL;
    char buf[4096];
    tr_test_apply(s, world, 1000);
    for (int i = 0; i < 5; i++) {
        char name[16];
        snprintf(name, sizeof(name), "r%d", i);
        tr_test_apply(s, route(buf, sizeof(buf), name, i % 2 ? "a.example.com" : "*.example.com", "far", "1"), 2000 + i);
    }
    tr_test_apply(s, tcp_route, 3000);
    ASSERT_EQ(check(s, memo, &keep, &keepv), 6);  /* the first run translates every route */
    ASSERT_EQ(check(s, memo, &keep, &keepv), 0);  /* nothing changed: nothing translated */

    tr_test_apply(s, route(buf, sizeof(buf), "r2", "b.example.com", "far", "2"), 2002); /* one route edited */
    ASSERT_EQ(check(s, memo, &keep, &keepv), 1);
    tr_test_apply(s, route(buf, sizeof(buf), "r9", "c.example.com", "ns", "1"), 2009); /* one added */
    ASSERT_EQ(check(s, memo, &keep, &keepv), 1);
    ASSERT_EQ(tr_store_del(s, TR_KIND_HTTPROUTE, "ns", "r1"), 1); /* one deleted */
    ASSERT_EQ(check(s, memo, &keep, &keepv), 0);

    /* Endpoints change: no route is translated again, the IR gets the new endpoints (the IR
     * render lists them: compared with the full translation). */
    tr_test_apply(s, "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: a-1\n  namespace: ns\n"
             "  labels: {kubernetes.io/service-name: a}\naddressType: IPv4\nports: [{name: web, port: 8081}]\n"
             "endpoints: [{addresses: [10.0.0.3]}]\n",
          1000);
    ASSERT_EQ(check(s, memo, &keep, &keepv), 0);
    ASSERT_EQ(tr_store_del(s, TR_KIND_ENDPOINTSLICE, "ns", "a-1"), 1);
    ASSERT_EQ(check(s, memo, &keep, &keepv), 0);
    /* Anything else changes: every route is translated again (services, grants, listeners). */
    tr_test_apply(s, "apiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: ns}\nspec: {ports: [{port: 80, name: web}, {port: 81}]}\n",
          1000);
    ASSERT_EQ(check(s, memo, &keep, &keepv), 6);
    ASSERT_EQ(tr_store_del(s, TR_KIND_SECRET, "ns", "cert"), 1); /* the listener's certificate */
    ASSERT_EQ(check(s, memo, &keep, &keepv), 6);
    ASSERT_EQ(tr_store_del(s, TR_KIND_REFERENCEGRANT, "far", "g"), 1);
    ASSERT_EQ(check(s, memo, &keep, &keepv), 6);
    tr_test_apply(s, GW_API "kind: Gateway\nmetadata: {name: gw, namespace: ns}\nspec:\n  gatewayClassName: c\n  listeners:\n"
                    "  - {name: web, protocol: HTTP, port: 8080, hostname: 'b.example.com'}\n"
                    "  - {name: tcp, protocol: TCP, port: 9000}\n",
          1000);
    ASSERT_EQ(check(s, memo, &keep, &keepv), 6);
    ASSERT_EQ(tr_store_del(s, TR_KIND_GATEWAY, "ns", "other"), 1);
    ASSERT_EQ(check(s, memo, &keep, &keepv), 6);
    ASSERT_EQ(tr_store_del(s, TR_KIND_HTTPROUTE, "ns", "r0"), 1);
    tr_test_apply(s, route(buf, sizeof(buf), "r3", "b.example.com", "ns", "3"), 2003);
    ASSERT_EQ(check(s, memo, &keep, &keepv), 1);

    tr_tx_free(keep);
    tr_view_free(keepv);
    tr_tx_memo_free(memo);
    tr_store_free(s);
}

/* Routes with Service parents, as the mesh: the memo's results (status, route sets) are the full
 * translation's, routes with both kinds of parents included, through edits, endpoint changes
 * and Service changes. */
TEST(translate_memo_matches_a_full_translation_in_the_mesh)
{
    struct tr_store *s = tr_store_new();
    struct tr_tx_memo *memo = tr_tx_memo_new();
    struct tr_tx *keep = NULL;
    struct tr_view *keepv = NULL;
    as_mesh = true;
    tr_test_apply(s, world, 1000);
    const char *svc = "apiVersion: v1\nkind: Service\nmetadata: {name: m, namespace: ns}\n"
                      "spec: {clusterIP: 10.96.0.1, ports: [{port: 80, name: http}, {port: 9000, name: tcp}]}\n";
    tr_test_apply(s, svc, 1000);
    const char *both = GW_API "kind: HTTPRoute\nmetadata: {name: both, namespace: far}\nspec:\n"
                              "  parentRefs: [{group: '', kind: Service, name: m, namespace: ns}, {name: gw, namespace: ns}]\n"
                              "  rules: [{backendRefs: [{name: m, namespace: ns, port: 80}]}]\n";
    tr_test_apply(s, both, 2000);
    tr_test_apply(s, GW_API "kind: HTTPRoute\nmetadata: {name: prod, namespace: ns}\nspec:\n"
                            "  parentRefs: [{group: '', kind: Service, name: m, port: 80}]\n"
                            "  rules: [{matches: [{path: {type: Exact, value: /x}}], backendRefs: [{name: a, port: 80}]}]\n",
                  2001);
    ASSERT_EQ(check(s, memo, &keep, &keepv), 2);
    ASSERT_EQ(check(s, memo, &keep, &keepv), 0);
    tr_test_apply(s, GW_API "kind: HTTPRoute\nmetadata: {name: prod, namespace: ns}\nspec:\n"
                            "  parentRefs: [{group: '', kind: Service, name: m, sectionName: tcp}]\n"
                            "  rules: [{matches: [{path: {type: Exact, value: /y}}], backendRefs: [{name: a, port: 80}]}]\n",
                  2001);
    ASSERT_EQ(check(s, memo, &keep, &keepv), 1);
    tr_test_apply(s, "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: m-1\n  namespace: ns\n"
                     "  labels: {kubernetes.io/service-name: m}\naddressType: IPv4\nports: [{name: http, port: 8080}]\n"
                     "endpoints: [{addresses: [10.244.0.9]}]\n",
                  1000);
    ASSERT_EQ(check(s, memo, &keep, &keepv), 0);
    tr_test_apply(s, "apiVersion: v1\nkind: Service\nmetadata: {name: m, namespace: ns}\n"
                     "spec: {clusterIP: 10.96.0.2, ports: [{port: 80, name: http}]}\n",
                  1000);
    ASSERT_EQ(check(s, memo, &keep, &keepv), 2);
    ASSERT_EQ(tr_store_del(s, TR_KIND_SERVICE, "ns", "m"), 1);
    ASSERT_EQ(check(s, memo, &keep, &keepv), 2);
    as_mesh = false;
    tr_tx_free(keep);
    tr_view_free(keepv);
    tr_tx_memo_free(memo);
    tr_store_free(s);
}

static const struct tr_router *router_at(const struct tr_snapshot *s, uint16_t port)
{
    const struct tr_ir_port *p = tr_snapshot_port(s, "127.1.0.1", port, false);
    ASSERT_NOT_NULL(p);
    ASSERT_EQ(p->nlisteners, 1);
    return tr_snapshot_router(s, p, 0);
}

/* The route that wins GET / for host on port, through the snapshot's router: its name, and the
 * rule is one of that snapshot's listener's. */
static const char *winner(const struct tr_snapshot *s, uint16_t port, const char *host, const char *path)
{
    const struct tr_ir_port *p = tr_snapshot_port(s, "127.1.0.1", port, false);
    const struct tr_ir_listener *l = p->listeners[0];
    struct tr_route_req req = {.host = host, .host_len = strlen(host), .method = "GET", .method_len = 3,
                               .path = path, .path_len = strlen(path)};
    struct tr_route_hit hit;
    if (!tr_router_match(router_at(s, port), l, &req, &hit))
        return "404";
    ASSERT(hit.rule >= l->rules && hit.rule < l->rules + l->nrules);
    return hit.rule->spec->route->name;
}

/* A compile keeps the routers of listeners whose rules did not change (the same route results
 * in the same order) and builds the others again. */
TEST(snapshot_keeps_routers_of_unchanged_listeners)
{
    struct tr_store *s = tr_store_new();
    struct tr_tx_memo *memo = tr_tx_memo_new();
    char buf[4096];
    tr_test_apply(s, world, 1000);
    tr_test_apply(s, route(buf, sizeof(buf), "r0", "a.example.com", "far", "1"), 2000); /* on ports 80, 8080, 81 */
    static const char only_other[] = GW_API "kind: HTTPRoute\nmetadata: {name: o, namespace: ns}\nspec:\n"
                                            "  parentRefs: [{name: other}]\n  rules:\n"
                                            "  - matches: [{path: {type: PathPrefix, value: /%s}}]\n"
                                            "    backendRefs: [{name: a, port: 80}]\n";
    snprintf(buf, sizeof(buf), only_other, "one");
    tr_test_apply(s, buf, 2001);
    struct tr_snapshot *snaps[3];
    for (int i = 0; i < 3; i++) {
        if (i == 2) { /* the route on port 81 alone changes */
            snprintf(buf, sizeof(buf), only_other, "two");
            tr_test_apply(s, buf, 2001);
        }
        struct tr_view *v = tr_store_view(s);
        struct tr_tx_input in = {.view = v, .memo = memo, .controller = "torii.dev/gateway-controller",
                                 .alloc_address = tr_test_addr};
        snaps[i] = tr_snapshot_new(v, tr_translate(&in), (uint64_t)i + 1, NULL, NULL);
        tr_snapshot_publish(tr_snapshot_ref(snaps[i]));
    }
    ASSERT(router_at(snaps[1], 80) == router_at(snaps[0], 80)); /* nothing changed */
    ASSERT(router_at(snaps[1], 81) == router_at(snaps[0], 81));
    ASSERT(router_at(snaps[2], 80) == router_at(snaps[1], 80)); /* port 81's route changed */
    ASSERT(router_at(snaps[2], 8080) == router_at(snaps[1], 8080));
    ASSERT(router_at(snaps[2], 81) != router_at(snaps[1], 81));
    for (int i = 1; i < 3; i++) {
        ASSERT_STREQ(winner(snaps[i], 80, "a.example.com", "/r0"), "r0");
        ASSERT_STREQ(winner(snaps[i], 81, "x.example.org", i == 2 ? "/two" : "/one"), "o");
        ASSERT_STREQ(winner(snaps[i], 81, "x.example.org", i == 2 ? "/one" : "/two"), "404");
    }
    tr_snapshot_release(snaps[0]); /* a shared router outlives the snapshot that made it */
    ASSERT_STREQ(winner(snaps[2], 8080, "a.example.com", "/r0"), "r0");
    tr_snapshot_release(snaps[1]);
    tr_snapshot_release(snaps[2]);
    tr_snapshot_clear();
    tr_tx_memo_free(memo);
    tr_store_free(s);
}

/* The listener on port of the snapshot's Gateway. */
static const struct tr_ir_listener *listener_at(const struct tr_snapshot *s, uint16_t port)
{
    const struct tr_ir_port *p = tr_snapshot_port(s, "127.1.0.1", port, false);
    ASSERT_NOT_NULL(p);
    return p->listeners[0];
}

/* Listeners of a Gateway served the same rules share one array (the first such listener's) and
 * one router; a listener with other rules or other hostnames keeps its own. Every listener, and
 * a memo run and one from scratch alike, routes as before. */
TEST(listeners_with_the_same_rules_share_them)
{
    static const char gw[] =
        GW_API "kind: GatewayClass\nmetadata: {name: c}\nspec: {controllerName: torii.dev/gateway-controller}\n---\n"
        GW_API "kind: Gateway\nmetadata: {name: gw, namespace: ns}\nspec:\n  gatewayClassName: c\n  listeners:\n"
        "  - {name: h1, protocol: HTTP, port: 80}\n"
        "  - {name: h2, protocol: HTTP, port: 81}\n"
        "  - {name: web, protocol: HTTP, port: 82, hostname: b.example.com}\n"
        "  - {name: h3, protocol: HTTP, port: 83}\n"
        "  - {name: h4, protocol: HTTP, port: 84}\n---\n"
        "apiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: ns}\nspec: {ports: [{port: 80}]}\n---\n"
        GW_API "kind: HTTPRoute\nmetadata: {name: all, namespace: ns}\nspec:\n  parentRefs: [{name: gw}]\n"
        "  hostnames: [a.example.com, b.example.com]\n"
        "  rules: [{matches: [{path: {type: PathPrefix, value: /all}}], backendRefs: [{name: a, port: 80}]}]\n---\n"
        GW_API "kind: HTTPRoute\nmetadata: {name: two, namespace: ns}\nspec:\n  parentRefs: [{name: gw, sectionName: h2}]\n"
        "  rules: [{matches: [{path: {type: PathPrefix, value: /two}}], backendRefs: [{name: a, port: 80}]}]\n";
    struct tr_store *s = tr_store_new();
    struct tr_tx_memo *memo = tr_tx_memo_new();
    struct tr_tx *keep = NULL;
    struct tr_view *keepv = NULL;
    tr_test_apply(s, gw, 1000);
    check(s, memo, &keep, &keepv);
    struct tr_view *v = tr_store_view(s);
    struct tr_tx_input in = {.view = v, .memo = memo, .controller = "torii.dev/gateway-controller",
                             .alloc_address = tr_test_addr};
    struct tr_snapshot *snap = tr_snapshot_new(v, tr_translate(&in), 1, NULL, NULL);
    const struct tr_ir_listener *h1 = listener_at(snap, 80), *h2 = listener_at(snap, 81), *web = listener_at(snap, 82),
                                *h3 = listener_at(snap, 83), *h4 = listener_at(snap, 84);
    ASSERT(h1->rules_owner == h1 && h2->rules_owner == h2 && web->rules_owner == web);
    ASSERT(h3->rules_owner == h1 && h3->rules == h1->rules); /* the first of the same, not a later one */
    ASSERT(h4->rules_owner == h1 && h4->rules == h1->rules);
    ASSERT(h2->rules != h1->rules && web->rules != h1->rules);
    ASSERT(router_at(snap, 83) == router_at(snap, 80) && router_at(snap, 84) == router_at(snap, 80));
    ASSERT(router_at(snap, 81) != router_at(snap, 80) && router_at(snap, 82) != router_at(snap, 80));
    ASSERT_STREQ(winner(snap, 80, "a.example.com", "/all"), "all");
    ASSERT_STREQ(winner(snap, 84, "a.example.com", "/all"), "all");
    ASSERT_STREQ(winner(snap, 84, "a.example.com", "/two"), "404");
    ASSERT_STREQ(winner(snap, 81, "c.example.com", "/two"), "two");
    ASSERT_STREQ(winner(snap, 82, "a.example.com", "/all"), "404"); /* the listener's hostname only */
    ASSERT_STREQ(winner(snap, 82, "b.example.com", "/all"), "all");
    tr_snapshot_release(snap);
    tr_snapshot_clear();
    tr_tx_free(keep);
    tr_view_free(keepv);
    tr_tx_memo_free(memo);
    tr_store_free(s);
}

/* What the resolver answers for the ExternalName test below, and how often it was asked. */
static const char *dns_answer[4];
static size_t dns_n;
static int dns_asked;

static size_t fake_resolve(void *ud, const char *name, const char **out, size_t cap)
{
    dns_asked++;
    ASSERT_STREQ(name, "db.example.net");
    size_t n = dns_n < cap ? dns_n : cap;
    for (size_t i = 0; i < n; i++)
        out[i] = dns_answer[i];
    return n;
}

static const char ext_world[] =
    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: p, namespace: ns}\ndata: {externalNameServices: Allow}\n---\n"
    GW_API "kind: GatewayClass\nmetadata: {name: open}\nspec:\n  controllerName: torii.dev/gateway-controller\n"
    "  parametersRef: {group: '', kind: ConfigMap, name: p, namespace: ns}\n---\n"
    GW_API "kind: GatewayClass\nmetadata: {name: closed}\nspec: {controllerName: torii.dev/gateway-controller}\n---\n"
    GW_API "kind: Gateway\nmetadata: {name: gw, namespace: ns}\nspec:\n  gatewayClassName: open\n  listeners:\n"
    "  - {name: http, protocol: HTTP, port: 80}\n---\n"
    GW_API "kind: Gateway\nmetadata: {name: shut, namespace: ns}\nspec:\n  gatewayClassName: closed\n  listeners:\n"
    "  - {name: http, protocol: HTTP, port: 80}\n---\n"
    "apiVersion: v1\nkind: Service\nmetadata: {name: ext, namespace: ns}\n"
    "spec: {type: ExternalName, externalName: db.example.net}\n---\n"
    GW_API "kind: HTTPRoute\nmetadata: {name: r, namespace: ns}\nspec:\n"
    "  parentRefs: [{name: gw}, {name: shut}]\n  rules: [{backendRefs: [{name: ext, port: 5432}]}]\n";

/* An ExternalName backend's addresses come from tr_tx_input.resolve when a route result is
 * applied: a new answer translates no route, and the IR (the same as a full translation's) has
 * the new addresses. The name is asked for only where the class allows it (Gateway gw, not
 * shut). */
TEST(translate_memo_external_name_answers)
{
    struct tr_store *s = tr_store_new();
    struct tr_tx_memo *memo = tr_tx_memo_new();
    struct tr_tx *keep = NULL;
    struct tr_view *keepv = NULL;
    char *text = NULL;
    tr_test_apply(s, ext_world, 1000);
    dns_n = 0;
    dns_asked = 0;
    ASSERT_EQ(check_with(s, memo, &keep, &keepv, fake_resolve, &text), 1);
    ASSERT_EQ(dns_asked, 2); /* once per translation: gw's listener */
    ASSERT_STRSTR(text, "\"externalName\":\"db.example.net\",\"endpoints\":[]");
    free(text);

    dns_answer[0] = "10.1.0.1";
    dns_n = 1;
    ASSERT_EQ(check_with(s, memo, &keep, &keepv, fake_resolve, &text), 0);
    ASSERT_STRSTR(text, "\"10.1.0.1:5432\"");
    free(text);
    dns_answer[0] = "10.1.0.2";
    dns_answer[1] = "fd00::2";
    dns_n = 2;
    ASSERT_EQ(check_with(s, memo, &keep, &keepv, fake_resolve, &text), 0);
    ASSERT_STRSTR(text, "\"10.1.0.2:5432\",\"fd00::2:5432\"");
    ASSERT(!strstr(text, "10.1.0.1"));
    free(text);

    /* The class stops allowing them: every route is translated (the world changed), and the
     * name is not asked for any more. */
    tr_test_apply(s, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: p, namespace: ns}\n"
                     "data: {externalNameServices: Deny}\n",
                  1000);
    dns_asked = 0;
    ASSERT_EQ(check_with(s, memo, &keep, &keepv, fake_resolve, &text), 1);
    ASSERT_EQ(dns_asked, 0);
    ASSERT(!strstr(text, "10.1.0.2"));
    free(text);

    tr_tx_free(keep);
    tr_view_free(keepv);
    tr_tx_memo_free(memo);
    tr_store_free(s);
}

/* Endpoints resolved for routes that are gone are given back: once most of a world's endpoints
 * go unused (90 of 100 routes deleted), the memo lets the world go and starts a new one; the
 * routes left keep their results (nothing translated again) and get their endpoints again, as a
 * full translation has them (compared byte for byte); with every route deleted, the run that
 * used none lets go of it too. */
TEST(translate_memo_world_started_again_when_idle)
{
    struct tr_store *s = tr_store_new();
    struct tr_tx_memo *memo = tr_tx_memo_new();
    struct tr_tx *keep = NULL;
    struct tr_view *keepv = NULL;
    char buf[2048];
    tr_test_apply(s, world, 1000);
    for (int i = 0; i < 100; i++) {
        snprintf(buf, sizeof(buf),
                 "apiVersion: v1\nkind: Service\nmetadata: {name: s%d, namespace: ns}\nspec: {ports: [{port: 80}]}\n---\n"
                 "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: s%d-1\n  namespace: ns\n"
                 "  labels: {kubernetes.io/service-name: s%d}\naddressType: IPv4\nports: [{port: 8080}]\n"
                 "endpoints: [{addresses: [10.1.%d.1]}]\n---\n" GW_API
                 "kind: HTTPRoute\nmetadata: {name: r%d, namespace: ns}\nspec:\n  parentRefs: [{name: gw, sectionName: http}]\n"
                 "  rules: [{matches: [{path: {type: PathPrefix, value: /r%d}}], backendRefs: [{name: s%d, port: 80}]}]\n",
                 i, i, i, i, i, i, i);
        tr_test_apply(s, buf, 2000 + i);
    }
    ASSERT_EQ(check(s, memo, &keep, &keepv), 100);
    ASSERT(tr_tx_memo_resolved(memo) >= 100);
    for (int i = 10; i < 100; i++) {
        snprintf(buf, sizeof(buf), "r%d", i);
        ASSERT_EQ(tr_store_del(s, TR_KIND_HTTPROUTE, "ns", buf), 1);
    }
    ASSERT_EQ(check(s, memo, &keep, &keepv), 0); /* 10 of 100 endpoints used: the world goes */
    ASSERT_EQ(tr_tx_memo_resolved(memo), 0);
    ASSERT_EQ(check(s, memo, &keep, &keepv), 0); /* a new world: the 10 resolved again */
    ASSERT(tr_tx_memo_resolved(memo) >= 10 && tr_tx_memo_resolved(memo) < 20);
    ASSERT_EQ(check(s, memo, &keep, &keepv), 0);
    for (int i = 10; i < 100; i++) { /* back again */
        snprintf(buf, sizeof(buf),
                 GW_API "kind: HTTPRoute\nmetadata: {name: r%d, namespace: ns}\nspec:\n  parentRefs: [{name: gw, sectionName: http}]\n"
                 "  rules: [{matches: [{path: {type: PathPrefix, value: /r%d}}], backendRefs: [{name: s%d, port: 80}]}]\n",
                 i, i, i);
        tr_test_apply(s, buf, 3000 + i);
    }
    ASSERT_EQ(check(s, memo, &keep, &keepv), 90);
    ASSERT(tr_tx_memo_resolved(memo) >= 100);
    for (int i = 0; i < 100; i++) {
        snprintf(buf, sizeof(buf), "r%d", i);
        ASSERT_EQ(tr_store_del(s, TR_KIND_HTTPROUTE, "ns", buf), 1);
    }
    ASSERT_EQ(check(s, memo, &keep, &keepv), 0); /* none used: memo and run let it go */
    ASSERT_EQ(tr_tx_memo_resolved(memo), 0);
    tr_tx_free(keep);
    tr_view_free(keepv);
    tr_tx_memo_free(memo);
    tr_store_free(s);
}
