/* The snapshot compile (src/snapshot/snapshot.c, docs/internals/snapshot.md).
 *
 * Backend TLS: a client context and id per resolved BackendTLSPolicy (tr_ir_backend_tls), kept
 * across compiles while what the data plane does with it is the same, and new as soon as
 * anything it does changes. The pool keys upstream connections by that id (proxy/pool.c): an id
 * that outlived a change would hand requests connections made under the old settings.
 *
 * Then what the compile makes per listener (routers, server contexts, the port index), server
 * contexts kept while their Secret is unchanged, and the references that let a request finish
 * under the snapshot it started with. Router reuse across compiles is tested with the memo
 * (tests/unit/translate/memo.c). */
#include "api/object.h"
#include "base/arena.h"
#include "ir/ir.h"
#include "ir/router.h"
#include "snapshot/snapshot.h"
#include "store/store.h"
#include "test.h"
#include "translate/translate.h"
#include "util.h"

#include <openssl/ssl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define GW_API "apiVersion: gateway.networking.k8s.io/v1\n"

static const char world[] =
    GW_API "kind: GatewayClass\nmetadata: {name: c}\nspec: {controllerName: torii.dev/gateway-controller}\n---\n"
    GW_API "kind: Gateway\nmetadata: {name: gw, namespace: ns}\nspec:\n  gatewayClassName: c\n  listeners:\n"
    "  - {name: http, protocol: HTTP, port: 80}\n---\n"
    "apiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: ns}\nspec: {ports: [{port: 443, name: tls}]}\n---\n"
    "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: a-1\n  namespace: ns\n"
    "  labels: {kubernetes.io/service-name: a}\naddressType: IPv4\nports: [{name: tls, port: 8443}]\n"
    "endpoints: [{addresses: [10.0.0.1]}]\n---\n" GW_API
    "kind: HTTPRoute\nmetadata: {name: r, namespace: ns}\nspec:\n  parentRefs: [{name: gw}]\n"
    "  rules: [{backendRefs: [{name: a, port: 443}]}]\n";

/* A self-signed CA certificate (tests/golden/base.yaml's). */
#define CA_PEM                                                                                     \
    "    -----BEGIN CERTIFICATE-----\n"                                                            \
    "    MIIBqzCCAVCgAwIBAgIUALeS3NIQtsz1iQy8Ux6wHNCJVzUwCgYIKoZIzj0EAwIw\n"                       \
    "    FjEUMBIGA1UEAwwLZXhhbXBsZS5jb20wIBcNMjYxMTI2MDYxNjMzWhgPMjEyNjEx\n"                       \
    "    MDIwNjE2MzNaMBYxFDASBgNVBAMMC2V4YW1wbGUuY29tMFkwEwYHKoZIzj0CAQYI\n"                       \
    "    KoZIzj0DAQcDQgAEmSmEtaw+O7P2C7SOpGzdjN97G2bi95LLwwiAGGmNgIrGG47m\n"                       \
    "    r2BEex/EjzQuds7G2Q1kgRUXWuMjV4qF4fOWbqN6MHgwHQYDVR0OBBYEFJQ/lCwT\n"                       \
    "    WGnBM9aT8SRG9epo4D5IMB8GA1UdIwQYMBaAFJQ/lCwTWGnBM9aT8SRG9epo4D5I\n"                       \
    "    MA8GA1UdEwEB/wQFMAMBAf8wJQYDVR0RBB4wHIILZXhhbXBsZS5jb22CDSouZXhh\n"                       \
    "    bXBsZS5jb20wCgYIKoZIzj0EAwIDSQAwRgIhAPbSc/slVXvy0AdUkR6dzKOndb2Y\n"                       \
    "    d/i23/PIprfvZq4nAiEAuPuglNkFQIyS28woK10bhn7IAmvzY4uyrfFnOJuQCL8=\n"                       \
    "    -----END CERTIFICATE-----\n"

static void apply_ca(struct tr_store *s, const char *name, const char *note)
{
    char buf[2048];
    snprintf(buf, sizeof(buf),
             "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s, namespace: ns, labels: {note: '%s'}}\n"
             "data:\n  ca.crt: |\n" CA_PEM,
             name, note);
    tr_test_apply(s, buf, 1000);
}

static void apply_policy(struct tr_store *s, const char *refs, const char *hostname)
{
    char buf[2048];
    snprintf(buf, sizeof(buf),
             GW_API "kind: BackendTLSPolicy\nmetadata: {name: p, namespace: ns}\nspec:\n"
                    "  targetRefs: [{group: '', kind: Service, name: a}]\n"
                    "  validation: {caCertificateRefs: %s, hostname: %s}\n",
             refs, hostname);
    tr_test_apply(s, buf, 1000);
}

static struct tr_snapshot *compile(struct tr_store *s, uint64_t gen)
{
    struct tr_view *v = tr_store_view(s);
    struct tr_tx_input in = {.view = v, .controller = "torii.dev/gateway-controller", .alloc_address = tr_test_addr};
    struct tr_snapshot *snap = tr_snapshot_new(v, tr_translate(&in), gen, NULL, NULL);
    tr_snapshot_publish(tr_snapshot_ref(snap)); /* as the daemon does: the next compile sees it */
    return snap;
}

static const struct tr_ir_backend_tls *backend_tls(const struct tr_snapshot *s)
{
    const struct tr_ir *ir = tr_snapshot_ir(s);
    ASSERT_EQ(ir->nports, 1);
    ASSERT_EQ(ir->ports[0].listeners[0]->nrules, 1);
    const struct tr_ir_backend *b = &ir->ports[0].listeners[0]->rules[0].backends[0];
    ASSERT(b->tls != NULL);
    ASSERT(!b->invalid);
    ASSERT(b->tls->ctx != NULL);
    ASSERT(b->tls->id != 0);
    ASSERT(tr_snapshot_backend_tls_current(s, b->tls->id));
    return b->tls;
}

TEST(snapshot_backend_tls_id_follows_resolved_settings)
{
    struct tr_store *s = tr_store_new();
    tr_test_apply(s, world, 1000);
    apply_ca(s, "ca", "1");
    apply_ca(s, "other-ca", "1");
    apply_policy(s, "[{group: '', kind: ConfigMap, name: ca}]", "a.example.com");
    struct tr_snapshot *snaps[7];
    uint64_t id[7];
    size_t n = 0;
#define STEP()                                                                                     \
    do {                                                                                           \
        snaps[n] = compile(s, n + 1);                                                              \
        id[n] = backend_tls(snaps[n])->id;                                                         \
        n++;                                                                                       \
    } while (0)
    STEP(); /* 0 */
    ASSERT_STREQ(backend_tls(snaps[0])->peer.sni, "a.example.com");
    ASSERT(backend_tls(snaps[0])->cas[0] != NULL && backend_tls(snaps[0])->cas[1] == NULL);

    /* A CA bundle the policy does not name changes: same settings, same id and context. */
    apply_ca(s, "other-ca", "2");
    STEP(); /* 1 */
    ASSERT_EQ(id[1], id[0]);
    ASSERT(backend_tls(snaps[1])->ctx == backend_tls(snaps[0])->ctx);

    /* References translate rejects (another group, another kind) name other-ca: nothing the
     * data plane does changes, so neither does the id. */
    apply_policy(s,
                 "[{group: '', kind: ConfigMap, name: ca}, {group: example.com, kind: ConfigMap, name: other-ca},"
                 " {group: '', kind: Bundle, name: other-ca}]",
                 "a.example.com");
    STEP(); /* 2 */
    ASSERT_EQ(id[2], id[0]);

    /* The CA bundle the policy trusts changes: a new id, and the old one is not current. */
    apply_ca(s, "ca", "2");
    STEP(); /* 3 */
    ASSERT(id[3] != id[2]);
    ASSERT(!tr_snapshot_backend_tls_current(snaps[3], id[2]));

    /* The hostname (SNI, the name checked) changes: a new id. */
    apply_policy(s, "[{group: '', kind: ConfigMap, name: ca}]", "b.example.com");
    STEP(); /* 4 */
    ASSERT(id[4] != id[3]);
    ASSERT_STREQ(backend_tls(snaps[4])->peer.sni, "b.example.com");

    /* Back to settings seen before: a new id all the same (ids are never reused; a context
     * unused by a compile is dropped from the cache). */
    apply_policy(s, "[{group: '', kind: ConfigMap, name: ca}]", "a.example.com");
    STEP(); /* 5 */
    for (size_t i = 0; i < 5; i++)
        ASSERT(id[5] != id[i]);

    /* A second CA bundle trusted: a new id. */
    apply_policy(s, "[{group: '', kind: ConfigMap, name: ca}, {group: '', kind: ConfigMap, name: other-ca}]",
                 "a.example.com");
    STEP(); /* 6 */
    ASSERT(id[6] != id[5]);
    ASSERT(backend_tls(snaps[6])->cas[1] != NULL);
#undef STEP
    for (size_t i = 0; i < n; i++)
        tr_snapshot_release(snaps[i]);
    tr_snapshot_clear();
    tr_store_free(s);
}

/* Two Services under two policies with the same settings: one description, one id, one
 * context. The policy gone: the backend has no TLS, and the id is no longer current. */
TEST(snapshot_backend_tls_equal_settings_share_an_id)
{
    struct tr_store *s = tr_store_new();
    tr_test_apply(s, world, 1000);
    tr_test_apply(s,
                  "apiVersion: v1\nkind: Service\nmetadata: {name: b, namespace: ns}\nspec: {ports: [{port: 443, name: tls}]}\n"
                  "---\n" GW_API "kind: HTTPRoute\nmetadata: {name: r, namespace: ns}\nspec:\n  parentRefs: [{name: gw}]\n"
                  "  rules: [{backendRefs: [{name: a, port: 443}, {name: b, port: 443}]}]\n",
                  1000);
    apply_ca(s, "ca", "1");
    apply_policy(s, "[{group: '', kind: ConfigMap, name: ca}]", "a.example.com");
    tr_test_apply(s,
                  GW_API "kind: BackendTLSPolicy\nmetadata: {name: pb, namespace: ns}\nspec:\n"
                         "  targetRefs: [{group: '', kind: Service, name: b}]\n"
                         "  validation: {caCertificateRefs: [{group: '', kind: ConfigMap, name: ca}], hostname: a.example.com}\n",
                  1000);
    struct tr_snapshot *s1 = compile(s, 1);
    const struct tr_ir_rule *rule = &tr_snapshot_ir(s1)->ports[0].listeners[0]->rules[0];
    ASSERT_EQ(rule->nbackends, 2);
    const struct tr_ir_backend_tls *ta = rule->backends[0].tls, *tb = rule->backends[1].tls;
    ASSERT(ta && tb && ta->policy != tb->policy); /* two policies... */
    ASSERT(ta->id != 0 && ta->id == tb->id);      /* ...one description */
    ASSERT(ta->ctx == tb->ctx);
    ASSERT(tr_snapshot_backend_tls_current(s1, ta->id));
    ASSERT(!tr_snapshot_backend_tls_current(s1, 0));
    ASSERT(!tr_snapshot_backend_tls_current(s1, ta->id + 1));
    uint64_t id = ta->id;

    tr_store_del(s, TR_KIND_BACKENDTLSPOLICY, "ns", "p");
    tr_store_del(s, TR_KIND_BACKENDTLSPOLICY, "ns", "pb");
    struct tr_snapshot *s2 = compile(s, 2);
    const struct tr_ir_rule *rule2 = &tr_snapshot_ir(s2)->ports[0].listeners[0]->rules[0];
    ASSERT_NULL(rule2->backends[0].tls);
    ASSERT_NULL(rule2->backends[1].tls);
    ASSERT(!tr_snapshot_backend_tls_current(s2, id));
    ASSERT(tr_snapshot_backend_tls_current(s1, id)); /* the old snapshot is unchanged */
    tr_snapshot_release(s1);
    tr_snapshot_release(s2);
    tr_snapshot_clear();
    tr_store_free(s);
}

/* --- listeners: routers, server contexts, ports --- */

/* The private key of tests/golden/base.yaml's pair (the certificate is CA_PEM). */
#define KEY_PEM                                                                                    \
    "    -----BEGIN PRIVATE KEY-----\n"                                                            \
    "    MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgrGDVeUpaVmy8vG8P\n"                       \
    "    xSpXKoFuFrmwQIzLP6+VaxUd63ShRANCAASZKYS1rD47s/YLtI6kbN2M33sbZuL3\n"                       \
    "    ksvDCIAYaY2AisYbjuavYER7H8SPNC52zsbZDWSBFRda4yNXioXh85Zu\n"                               \
    "    -----END PRIVATE KEY-----\n"

/* One Gateway with a listener of every kind, and a route on each but "empty". */
static const char listeners_world[] =
    GW_API "kind: GatewayClass\nmetadata: {name: c}\nspec: {controllerName: torii.dev/gateway-controller}\n---\n"
    GW_API "kind: Gateway\nmetadata: {name: gw, namespace: ns}\nspec:\n  gatewayClassName: c\n  listeners:\n"
    "  - {name: http, protocol: HTTP, port: 80}\n"
    "  - {name: http2, protocol: HTTP, port: 8080}\n"
    "  - {name: empty, protocol: HTTP, port: 8081}\n"
    "  - {name: https, protocol: HTTPS, port: 443, tls: {certificateRefs: [{name: cert}]}}\n"
    "  - {name: tcp, protocol: TCP, port: 9000}\n"
    "  - {name: pass, protocol: TLS, port: 8443, hostname: db.example.com, tls: {mode: Passthrough}}\n"
    "  - {name: term, protocol: TLS, port: 9443, hostname: db.example.com,"
    " tls: {mode: Terminate, certificateRefs: [{name: cert}]}}\n"
    "  - {name: udp, protocol: UDP, port: 5353}\n---\n"
    "apiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: ns}\nspec: {ports: [{port: 80}, {port: 9000, name: l4}]}\n---\n"
    GW_API "kind: HTTPRoute\nmetadata: {name: r1, namespace: ns}\nspec:\n"
    "  parentRefs: [{name: gw, sectionName: http}, {name: gw, sectionName: https}]\n"
    "  rules: [{backendRefs: [{name: a, port: 80}]}]\n---\n"
    GW_API "kind: HTTPRoute\nmetadata: {name: r2, namespace: ns}\nspec:\n  parentRefs: [{name: gw, sectionName: http2}]\n"
    "  rules: [{backendRefs: [{name: a, port: 80}]}]\n---\n"
    GW_API "kind: TCPRoute\nmetadata: {name: t, namespace: ns}\nspec:\n  parentRefs: [{name: gw, sectionName: tcp}]\n"
    "  rules: [{backendRefs: [{name: a, port: 9000}]}]\n---\n"
    GW_API "kind: TLSRoute\nmetadata: {name: p, namespace: ns}\nspec:\n  parentRefs: [{name: gw, sectionName: pass}]\n"
    "  hostnames: [db.example.com]\n  rules: [{backendRefs: [{name: a, port: 9000}]}]\n---\n"
    GW_API "kind: TLSRoute\nmetadata: {name: q, namespace: ns}\nspec:\n  parentRefs: [{name: gw, sectionName: term}]\n"
    "  hostnames: [db.example.com]\n  rules: [{backendRefs: [{name: a, port: 9000}]}]\n---\n"
    GW_API "kind: UDPRoute\nmetadata: {name: u, namespace: ns}\nspec:\n  parentRefs: [{name: gw, sectionName: udp}]\n"
    "  rules: [{backendRefs: [{name: a, port: 9000}]}]\n";

static void apply_cert(struct tr_store *s, const char *note)
{
    char buf[2048];
    snprintf(buf, sizeof(buf),
             "apiVersion: v1\nkind: Secret\nmetadata: {name: cert, namespace: ns, labels: {note: '%s'}}\n"
             "type: kubernetes.io/tls\nstringData:\n  tls.crt: |\n" CA_PEM "  tls.key: |\n" KEY_PEM,
             note);
    tr_test_apply(s, buf, 1000);
}

static bool not_8081(void *ud, const char *addr, uint16_t port, bool udp)
{
    (void)ud, (void)addr, (void)udp;
    return port != 8081;
}

static struct tr_snapshot *compile_with(struct tr_store *s, struct tr_tx_memo *memo, uint64_t gen)
{
    struct tr_view *v = tr_store_view(s);
    struct tr_tx_input in = {.view = v, .memo = memo, .controller = "torii.dev/gateway-controller",
                             .alloc_address = tr_test_addr};
    struct tr_snapshot *snap = tr_snapshot_new(v, tr_translate(&in), gen, not_8081, NULL);
    tr_snapshot_publish(tr_snapshot_ref(snap));
    return snap;
}

/* The listener named name (on its own port) of s, and its port. */
static const struct tr_ir_port *port_of(const struct tr_snapshot *s, const char *name, size_t *li)
{
    const struct tr_ir *ir = tr_snapshot_ir(s);
    for (size_t i = 0; i < ir->nports; i++) {
        for (size_t j = 0; j < ir->ports[i].nlisteners; j++) {
            if (strcmp(ir->ports[i].listeners[j]->name, name) == 0) {
                *li = j;
                return &ir->ports[i];
            }
        }
    }
    tr_test_fail(__FILE__, __LINE__, "no listener %s", name);
}

static const struct tr_router *router_of(const struct tr_snapshot *s, const char *name)
{
    size_t j;
    const struct tr_ir_port *p = port_of(s, name, &j);
    return tr_snapshot_router(s, p, j);
}

static SSL_CTX *tls_of(const struct tr_snapshot *s, const char *name)
{
    size_t j;
    const struct tr_ir_port *p = port_of(s, name, &j);
    return tr_snapshot_tls(s, p, j);
}

/* A router for every HTTP and HTTPS listener with rules (the one without has none: nothing to
 * route), a server context for every listener that terminates TLS, nothing of either for the
 * others; ports found by address, port and transport. */
TEST(snapshot_compiles_what_each_listener_serves)
{
    struct tr_store *s = tr_store_new();
    tr_test_apply(s, listeners_world, 1000);
    apply_cert(s, "1");
    struct tr_snapshot *snap = compile_with(s, NULL, 7);
    ASSERT_EQ(tr_snapshot_generation(snap), 7);
    const struct tr_ir *ir = tr_snapshot_ir(snap);
    ASSERT_EQ(ir->nports, 8);
    size_t routers = 0, contexts = 0;
    for (size_t i = 0; i < ir->nports; i++) {
        const struct tr_ir_port *p = &ir->ports[i];
        ASSERT(tr_snapshot_port(snap, p->addr, p->port, p->udp) == p);
        ASSERT_NULL(tr_snapshot_port(snap, p->addr, p->port, !p->udp));
        ASSERT_EQ(tr_snapshot_port_bindable(snap, p), p->port != 8081);
        ASSERT_EQ(p->nlisteners, 1);
        const struct tr_ir_listener *l = p->listeners[0];
        bool http = l->proto == TR_PROTO_HTTP || l->proto == TR_PROTO_HTTPS;
        bool terminates = l->proto == TR_PROTO_HTTPS || (l->proto == TR_PROTO_TLS && !l->tls_passthrough);
        const struct tr_router *rt = tr_snapshot_router(snap, p, 0);
        if (http && l->nrules) {
            ASSERT_NOT_NULL(rt);
            /* It routes for that listener: its route answers. */
            struct tr_route_req req = {.host = "x", .host_len = 1, .method = "GET", .method_len = 3, .path = "/",
                                       .path_len = 1};
            struct tr_route_hit hit;
            ASSERT(tr_router_match(rt, l, &req, &hit));
            ASSERT(hit.rule >= l->rules && hit.rule < l->rules + l->nrules);
            routers++;
        } else {
            ASSERT_NULL(rt);
        }
        ASSERT_EQ(tr_snapshot_tls(snap, p, 0) != NULL, terminates);
        contexts += terminates;
    }
    ASSERT_EQ(routers, 3); /* http, http2, https */
    ASSERT_EQ(contexts, 2); /* https, term */
    ASSERT_NULL(router_of(snap, "empty"));
    ASSERT_NULL(tr_snapshot_port(snap, "127.1.0.1", 1, false));
    ASSERT_NULL(tr_snapshot_port(snap, "127.9.9.9", 80, false));
    /* One context for the same inputs, whichever listener asks. */
    ASSERT(tls_of(snap, "https") == tls_of(snap, "term"));
    tr_snapshot_release(snap);
    tr_snapshot_clear();
    tr_store_free(s);
}

/* Server contexts follow their inputs (the Secret, by version): the same context while it does
 * not change, whatever else does; a new one when it does, then kept again. */
TEST(snapshot_server_contexts_follow_their_secret)
{
    struct tr_store *s = tr_store_new();
    struct tr_tx_memo *memo = tr_tx_memo_new();
    tr_test_apply(s, listeners_world, 1000);
    apply_cert(s, "1");
    struct tr_snapshot *snaps[5];
    snaps[0] = compile_with(s, memo, 1);
    snaps[1] = compile_with(s, memo, 2); /* nothing changed */
    tr_test_apply(s,
                  GW_API "kind: HTTPRoute\nmetadata: {name: r1, namespace: ns}\nspec:\n"
                         "  parentRefs: [{name: gw, sectionName: http}, {name: gw, sectionName: https}]\n"
                         "  rules: [{matches: [{path: {value: /moved}}], backendRefs: [{name: a, port: 80}]}]\n",
                  1000);
    snaps[2] = compile_with(s, memo, 3); /* a route of the HTTPS listener changed */
    apply_cert(s, "2");
    snaps[3] = compile_with(s, memo, 4); /* the Secret changed */
    snaps[4] = compile_with(s, memo, 5);
    for (int i = 0; i < 5; i++) {
        ASSERT_EQ(tr_snapshot_generation(snaps[i]), i + 1);
        ASSERT_NOT_NULL(tls_of(snaps[i], "https"));
        ASSERT(tls_of(snaps[i], "term") == tls_of(snaps[i], "https"));
    }
    ASSERT(tls_of(snaps[1], "https") == tls_of(snaps[0], "https"));
    ASSERT(tls_of(snaps[2], "https") == tls_of(snaps[1], "https"));
    ASSERT(router_of(snaps[2], "https") != router_of(snaps[1], "https")); /* the route did change */
    ASSERT(router_of(snaps[2], "http2") == router_of(snaps[1], "http2"));
    ASSERT(tls_of(snaps[3], "https") != tls_of(snaps[2], "https"));
    ASSERT(tls_of(snaps[4], "https") == tls_of(snaps[3], "https"));
    /* The old context lives on with the snapshots that hold it. */
    ASSERT_EQ(SSL_CTX_get_verify_mode(tls_of(snaps[0], "https")), SSL_CTX_get_verify_mode(tls_of(snaps[4], "https")));
    for (int i = 0; i < 5; i++)
        tr_snapshot_release(snaps[i]);
    tr_snapshot_clear();
    tr_tx_memo_free(memo);
    tr_store_free(s);
}

/* --- publishing and references --- */

/* A reference taken before a publish keeps its snapshot whole after it (what a request in
 * flight relies on), while new acquires get the new one. Run under ASan, a snapshot freed too
 * early is a use-after-free here. */
TEST(snapshot_acquired_outlives_publish)
{
    tr_snapshot_clear();
    ASSERT_NULL(tr_snapshot_acquire());
    struct tr_store *s = tr_store_new();
    tr_test_apply(s, listeners_world, 1000);
    apply_cert(s, "1");
    struct tr_snapshot *s1 = compile_with(s, NULL, 1);
    struct tr_snapshot *pinned = tr_snapshot_acquire();
    ASSERT(pinned == s1);
    tr_snapshot_release(s1); /* the publisher's and the pin's references remain */
    struct tr_snapshot *s2 = compile_with(s, NULL, 2);
    tr_snapshot_release(s2); /* the publisher's reference remains */
    struct tr_snapshot *now = tr_snapshot_acquire();
    ASSERT(now == s2);
    ASSERT(now != pinned);
    tr_snapshot_release(now);
    /* Everything of the pinned snapshot is still there: IR, routers, contexts. */
    ASSERT_EQ(tr_snapshot_generation(pinned), 1);
    size_t li;
    const struct tr_ir_listener *l = port_of(pinned, "http", &li)->listeners[li];
    ASSERT_STREQ(l->gw_name, "gw");
    ASSERT_NOT_NULL(router_of(pinned, "http"));
    struct tr_route_req req = {.host = "x", .host_len = 1, .method = "GET", .method_len = 3, .path = "/", .path_len = 1};
    struct tr_route_hit hit;
    ASSERT(tr_router_match(router_of(pinned, "http"), l, &req, &hit));
    ASSERT_STREQ(hit.rule->spec->route->name, "r1");
    ASSERT_NOT_NULL(tls_of(pinned, "https"));
    ASSERT(SSL_CTX_get_cert_store(tls_of(pinned, "https")) != NULL);
    tr_snapshot_release(pinned);
    tr_snapshot_clear();
    ASSERT_NULL(tr_snapshot_acquire());
    tr_store_free(s);
}

/* Workers acquire while the control thread publishes: every acquire gets a whole snapshot,
 * never an older one than the last it saw. Under ASan, a reference counted wrong or taken
 * outside the lock shows up as a use-after-free. */
static int race_done; /* atomic */

static void *reader(void *arg)
{
    uint64_t *seen = arg; /* [0] the last generation, [1] steps back, [2] names read */
    while (!__atomic_load_n(&race_done, __ATOMIC_ACQUIRE)) {
        struct tr_snapshot *snap = tr_snapshot_acquire();
        if (!snap)
            continue;
        uint64_t g = tr_snapshot_generation(snap);
        if (g < *seen)
            seen[1]++; /* went back in time */
        *seen = g;
        const struct tr_ir *ir = tr_snapshot_ir(snap);
        for (size_t i = 0; i < ir->nports; i++)
            seen[2] += strlen(ir->ports[i].listeners[0]->name) > 0;
        tr_snapshot_release(snap);
    }
    return NULL;
}

TEST(snapshot_acquire_races_publish)
{
    tr_snapshot_clear();
    struct tr_store *s = tr_store_new();
    tr_test_apply(s, world, 1000);
    struct tr_tx_memo *memo = tr_tx_memo_new();
    uint64_t seen[2][3] = {{0}};
    pthread_t th[2];
    __atomic_store_n(&race_done, 0, __ATOMIC_RELEASE);
    for (int i = 0; i < 2; i++)
        ASSERT_EQ(pthread_create(&th[i], NULL, reader, seen[i]), 0);
    for (uint64_t g = 1; g <= 100; g++)
        tr_snapshot_release(compile_with(s, memo, g));
    __atomic_store_n(&race_done, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 2; i++)
        ASSERT_EQ(seen[i][1], 0);
    struct tr_snapshot *last = tr_snapshot_acquire();
    ASSERT_EQ(tr_snapshot_generation(last), 100);
    tr_snapshot_release(last);
    tr_snapshot_clear();
    tr_tx_memo_free(memo);
    tr_store_free(s);
}

/* The mesh (docs/mesh.md): a Gateway on 10.96.0.10:80 and a Service with that cluster address. */
static const char mesh_world[] =
    GW_API "kind: GatewayClass\nmetadata: {name: c}\nspec: {controllerName: torii.dev/gateway-controller}\n---\n"
    GW_API "kind: Gateway\nmetadata: {name: gw, namespace: ns}\nspec:\n  gatewayClassName: c\n"
    "  addresses: [{type: IPAddress, value: 10.96.0.10}]\n  listeners:\n  - {name: http, protocol: HTTP, port: 80}\n---\n"
    "apiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: ns}\n"
    "spec: {clusterIP: 10.96.0.10, ports: [{port: 80, name: http}, {port: 9090, name: tcp}]}\n---\n"
    "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: a-1\n  namespace: ns\n"
    "  labels: {kubernetes.io/service-name: a}\naddressType: IPv4\nports: [{name: http, port: 8080}, {name: tcp, port: 9090}]\n"
    "endpoints: [{addresses: [10.244.0.2]}]\n---\n"
    GW_API "kind: HTTPRoute\nmetadata: {name: prod, namespace: ns}\nspec:\n"
    "  parentRefs: [{group: '', kind: Service, name: a, port: 80}, {name: gw}]\n"
    "  rules: [{matches: [{path: {type: PathPrefix, value: /p}}], backendRefs: [{name: a, port: 80}]}]\n---\n"
    GW_API "kind: HTTPRoute\nmetadata: {name: cons, namespace: client}\nspec:\n"
    "  parentRefs: [{group: '', kind: Service, name: a, namespace: ns, port: 80}]\n"
    "  rules: [{matches: [{path: {type: PathPrefix, value: /c}}], backendRefs: [{name: a, namespace: ns, port: 80}]}]\n";

static struct tr_snapshot *compile_mesh(struct tr_store *s, struct tr_tx_memo *memo, uint64_t gen)
{
    struct tr_view *v = tr_store_view(s);
    struct tr_tx_input in = {.view = v, .memo = memo, .controller = "torii.dev/gateway-controller",
                             .mesh = TR_MESH_CONTROLLER, .alloc_address = tr_test_addr};
    struct tr_snapshot *snap = tr_snapshot_new(v, tr_translate(&in), gen, NULL, NULL);
    tr_snapshot_publish(tr_snapshot_ref(snap));
    return snap;
}

static bool routes(const struct tr_snapshot *snap, const struct tr_ir_port *p, size_t i, const char *path)
{
    struct tr_route_req req = {.host = "x", .host_len = 1, .method = "GET", .method_len = 3, .path = path,
                               .path_len = strlen(path)};
    struct tr_route_hit hit;
    const struct tr_router *rt = tr_snapshot_router(snap, p, i);
    return rt && tr_router_match(rt, p->listeners[i], &req, &hit);
}

/* The mesh's Service ports follow the Gateways' sockets, found by cluster address and port apart
 * from a Gateway socket on the same address and port, never bound; each route set gets its
 * router (the producer's, a consumer namespace's), and a port without routes has none; a route
 * changed under the memo recompiles its set's router and keeps the other's. */
TEST(snapshot_compiles_mesh_ports)
{
    struct tr_store *s = tr_store_new();
    tr_test_apply(s, mesh_world, 1000);
    struct tr_tx_memo *memo = tr_tx_memo_new();
    struct tr_snapshot *snap = compile_mesh(s, memo, 1);
    const struct tr_ir *ir = tr_snapshot_ir(snap);
    ASSERT_EQ(ir->nports, 1);
    ASSERT_EQ(ir->nmesh, 2);
    const struct tr_ir_port *gwp = tr_snapshot_port(snap, "10.96.0.10", 80, false);
    const struct tr_ir_port *mp = tr_snapshot_mesh_port(snap, "10.96.0.10", 80);
    ASSERT(gwp == &ir->ports[0]);
    ASSERT(mp == &tr_ir_mesh_ports(ir)[0]);
    ASSERT_NOT_NULL(mp->mesh);
    ASSERT(mp->mesh->http);
    ASSERT(!tr_snapshot_port_bindable(snap, mp));
    ASSERT_EQ(mp->mesh->service.neps, 1);
    ASSERT_STREQ(mp->mesh->service.eps[0].addr, "10.244.0.2");
    ASSERT_EQ(mp->mesh->service.eps[0].port, 8080);
    ASSERT_EQ(mp->nlisteners, 2);
    ASSERT_NULL(mp->listeners[0]->mesh_client);
    ASSERT_STREQ(mp->listeners[1]->mesh_client, "client");
    ASSERT(routes(snap, mp, 0, "/p") && !routes(snap, mp, 0, "/c"));
    ASSERT(routes(snap, mp, 1, "/c") && !routes(snap, mp, 1, "/p"));
    const struct tr_ir_port *tcp = tr_snapshot_mesh_port(snap, "10.96.0.10", 9090);
    ASSERT_NOT_NULL(tcp);
    ASSERT(!tcp->mesh->http);
    ASSERT_EQ(tcp->nlisteners, 0);
    ASSERT_NULL(tr_snapshot_mesh_port(snap, "10.96.0.10", 81));
    ASSERT_NULL(tr_snapshot_port(snap, "10.96.0.10", 9090, false));
    const struct tr_router *consumer = tr_snapshot_router(snap, mp, 1);

    /* The producer route changes: its set's router is new, the consumer's is the same. */
    tr_test_apply(s,
                  GW_API "kind: HTTPRoute\nmetadata: {name: prod, namespace: ns}\nspec:\n"
                         "  parentRefs: [{group: '', kind: Service, name: a, port: 80}, {name: gw}]\n"
                         "  rules: [{matches: [{path: {type: PathPrefix, value: /q}}], backendRefs: [{name: a, port: 80}]}]\n",
                  1000);
    struct tr_snapshot *next = compile_mesh(s, memo, 2);
    mp = tr_snapshot_mesh_port(next, "10.96.0.10", 80);
    ASSERT(routes(next, mp, 0, "/q") && !routes(next, mp, 0, "/p"));
    ASSERT(tr_snapshot_router(next, mp, 1) == consumer);
    tr_snapshot_release(snap);
    tr_snapshot_release(next);
    tr_snapshot_clear();
    tr_tx_memo_free(memo);
    tr_store_free(s);
}
