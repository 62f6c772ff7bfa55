/* The published items: every object in the published order, found by key; transition times kept
 * while an object's status does not change, taken again when it does, forgotten when it goes. */
#include "admin/admin.h"
#include "api/object.h"
#include "base/buf.h"
#include "control/publish.h"
#include "snapshot/snapshot.h"
#include "store/store.h"
#include "test.h"
#include "translate/translate.h"
#include "util.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define GW_API "apiVersion: gateway.networking.k8s.io/v1\n"

static const char base[] = GW_API "kind: GatewayClass\nmetadata: {name: torii}\n"
                                  "spec: {controllerName: torii.dev/gateway-controller}\n---\n" GW_API
                                  "kind: Gateway\nmetadata: {name: gw, namespace: ns}\n"
                                  "spec: {gatewayClassName: torii, listeners: [{name: http, protocol: HTTP, port: 8080}]}\n";

static void route(struct tr_store *s, const char *name, const char *svc)
{
    char buf[1024];
    snprintf(buf, sizeof(buf),
             GW_API "kind: HTTPRoute\nmetadata: {name: %s, namespace: ns}\n"
                    "spec: {parentRefs: [{name: gw}], rules: [{backendRefs: [{name: %s, port: 80}]}]}\n",
             name, svc);
    tr_test_apply(s, buf, 1000);
}

static struct tr_published *publish(struct tr_store *s, struct tr_pubstate *ps, uint64_t gen)
{
    struct tr_view *v = tr_store_view(s);
    struct tr_tx_input in = {.view = v, .controller = "torii.dev/gateway-controller", .alloc_address = tr_test_addr};
    struct tr_snapshot *snap = tr_snapshot_new(v, tr_translate(&in), gen, NULL, NULL);
    struct tr_published *p = tr_publish_build(snap, s, ps, true);
    tr_snapshot_release(snap);
    return p;
}

/* The JSON of the item of key, or "" when there is none. */
static const char *json_of(struct tr_published *p, const char *key)
{
    static char out[8192];
    size_t i = p->find(p, key, strlen(key));
    if (!i)
        return "";
    struct tr_buf b;
    tr_buf_init(&b, 0);
    p->render(&p->items[i - 1], &b);
    snprintf(out, sizeof(out), "%s", b.data);
    tr_buf_dispose(&b);
    return out;
}

/* The lastTransitionTime of the route's ResolvedRefs condition. */
static const char *resolved_time(struct tr_published *p, const char *key)
{
    static char t[64];
    const char *j = json_of(p, key);
    const char *c = strstr(j, "\"type\":\"ResolvedRefs\"");
    const char *l = c ? strstr(c, "\"lastTransitionTime\":\"") : NULL;
    if (!l)
        l = strstr(j, "\"lastTransitionTime\":\""); /* before type in the map */
    ASSERT_NOT_NULL(l);
    snprintf(t, sizeof(t), "%.20s", l + 22);
    return t;
}

TEST(publish_items_found_and_times_kept_until_status_changes)
{
    struct tr_store *s = tr_store_new();
    tr_test_apply(s, base, 1000);
    route(s, "b", "missing");
    route(s, "a", "missing");
    struct tr_pubstate *ps = tr_pubstate_new();
    struct tr_published *p1 = publish(s, ps, 1);
    /* Kind, then namespace/name order; every object found by its key, nothing else. */
    ASSERT_EQ(p1->nitems, 4);
    ASSERT_EQ(p1->find(p1, "GatewayClass/torii", 18), 1);
    ASSERT_EQ(p1->find(p1, "Gateway/ns/gw", 13), 2);
    size_t ia = p1->find(p1, "HTTPRoute/ns/a", 14), ib = p1->find(p1, "HTTPRoute/ns/b", 14);
    ASSERT(ia && ib && ia < ib);
    ASSERT_EQ(p1->find(p1, "HTTPRoute/ns/c", 14), 0);
    ASSERT_EQ(p1->find(p1, "HTTPRoute/a", 11), 0);     /* a namespaced kind has a namespace */
    ASSERT_EQ(p1->find(p1, "GatewayClass/x/torii", 20), 0);
    ASSERT_EQ(p1->find(p1, "NoSuchKind/ns/a", 15), 0);
    ASSERT_EQ(p1->find(p1, "HTTPRoute", 9), 0);
    ASSERT_STRSTR(json_of(p1, "HTTPRoute/ns/a"), "BackendNotFound");
    char t_a[64], t_b[64];
    snprintf(t_a, sizeof(t_a), "%s", resolved_time(p1, "HTTPRoute/ns/a"));
    snprintf(t_b, sizeof(t_b), "%s", resolved_time(p1, "HTTPRoute/ns/b"));
    /* Taken in the same publish, the same times: one copy for both routes. */
    ASSERT_STREQ(t_a, t_b);
    ASSERT(p1->items[ia - 1].ltt == p1->items[ib - 1].ltt);

    /* A second later: b's backend appears (its ResolvedRefs turns True: a new time), a is
     * unchanged (its time stays), c is new, and then a goes. */
    sleep(1);
    tr_test_apply(s, "apiVersion: v1\nkind: Service\nmetadata: {name: svc, namespace: ns}\nspec: {ports: [{port: 80}]}\n",
                  1000);
    route(s, "b", "svc");
    route(s, "c", "svc");
    struct tr_published *p2 = publish(s, ps, 2);
    ASSERT_STREQ(resolved_time(p2, "HTTPRoute/ns/a"), t_a);
    ASSERT(strcmp(resolved_time(p2, "HTTPRoute/ns/b"), t_b) != 0);
    /* b's times are its own now; a keeps the copy it had. */
    size_t ia2 = p2->find(p2, "HTTPRoute/ns/a", 14), ib2 = p2->find(p2, "HTTPRoute/ns/b", 14);
    ASSERT(p2->items[ia2 - 1].ltt != p2->items[ib2 - 1].ltt);
    ASSERT(p2->items[ia2 - 1].ltt == p1->items[ia - 1].ltt);
    ASSERT_STRSTR(json_of(p2, "HTTPRoute/ns/c"), "\"ResolvedRefs\"");
    ASSERT(p2->find(p2, "Service/ns/svc", 14));
    tr_store_del(s, TR_KIND_HTTPROUTE, "ns", "a");
    struct tr_published *p3 = publish(s, ps, 3);
    ASSERT_EQ(p3->find(p3, "HTTPRoute/ns/a", 14), 0);
    ASSERT_STREQ(json_of(p3, "HTTPRoute/ns/a"), "");
    ASSERT(strcmp(resolved_time(p3, "HTTPRoute/ns/b"), t_b) != 0);
    /* a comes back: its times are new (what it had went with it). */
    sleep(1);
    route(s, "a", "missing");
    struct tr_published *p4 = publish(s, ps, 4);
    ASSERT(strcmp(resolved_time(p4, "HTTPRoute/ns/a"), t_a) != 0);
    tr_published_release(p1);
    tr_published_release(p2);
    tr_published_release(p3);
    tr_published_release(p4);
    tr_pubstate_free(ps);
    tr_store_free(s);
}
