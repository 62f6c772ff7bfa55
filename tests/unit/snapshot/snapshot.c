/* Backend TLS in the snapshot compile: a client context and id per resolved BackendTLSPolicy
 * (tr_ir_backend_tls), kept across compiles while what the data plane does with it is the same,
 * and new as soon as anything it does changes. The pool keys upstream connections by that id
 * (proxy/pool.c): an id that outlived a change would hand requests connections made under the
 * old settings. */
#include "base/arena.h"
#include "ir/ir.h"
#include "snapshot/snapshot.h"
#include "store/store.h"
#include "test.h"
#include "translate/translate.h"
#include "util.h"

#include <stdio.h>

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
