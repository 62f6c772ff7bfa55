#include "test.h"

#include "api/object.h"
#include "api/schema.h"
#include "api/yaml.h"
#include "base/arena.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/node.h"

#include <stdlib.h>

#define NOW 1700000000

struct dec {
    int rc;
    struct tr_obj *o;
    struct tr_verrs errs;
    char *ident;
};

/* Decodes text as one object replacing prev. */
static void decode(struct dec *d, const char *text, const struct tr_obj *prev)
{
    struct tr_arena *a = tr_arena_new(4096);
    struct tr_buf err;
    tr_buf_init(&err, 0);
    struct tr_node *root = tr_yaml_parse_one(a, text, strlen(text), &err);
    if (!root)
        tr_test_fail(__FILE__, __LINE__, "bad test YAML: %s", err.data);
    tr_buf_dispose(&err);
    tr_verrs_init(&d->errs);
    d->rc = tr_obj_decode(a, root, "test.yaml", 3, prev, NOW, 7, &d->o, &d->errs, &d->ident);
}

static void dec_done(struct dec *d)
{
    tr_obj_release(d->o);
    tr_verrs_dispose(&d->errs);
    free(d->ident);
}

static const char *first_err(const struct dec *d)
{
    static char buf[512];
    if (!d->errs.n)
        return NULL;
    snprintf(buf, sizeof(buf), "%s: %s", d->errs.v[0].path, d->errs.v[0].msg);
    return buf;
}

#define GC(spec_extra)                                                                             \
    "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata:\n  name: torii\n"     \
    "spec:\n  controllerName: torii.dev/gateway-controller\n" spec_extra

#define ROUTE(meta_extra, spec)                                                                    \
    "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: web\n" meta_extra \
    "spec:\n" spec

TEST(object_decode_basics_and_namespace_default)
{
    struct dec d;
    decode(&d, ROUTE("", "  hostnames: [a.example.com]\n"), NULL);
    ASSERT_EQ(d.rc, TR_OK);
    ASSERT_EQ(d.o->kind, TR_KIND_HTTPROUTE);
    ASSERT_STREQ(d.o->ns, "default"); /* namespaced kinds default to "default" */
    /* A route is kept packed; its tree is unpacked on demand, its strings read in place. */
    ASSERT_NULL(d.o->root);
    ASSERT_NULL(d.o->spec);
    struct tr_arena *ta = tr_arena_new(4096);
    const struct tr_node *tree = tr_obj_tree(d.o, ta);
    ASSERT_STREQ(tr_node_gets(tr_node_get(tree, "metadata"), "namespace"), "default");
    ASSERT_STREQ(d.o->name, "web");
    ASSERT_STREQ(d.o->file, "test.yaml");
    ASSERT_EQ(d.o->line, 3);
    ASSERT_EQ(d.o->generation, 1);
    ASSERT_EQ(d.o->created, NOW);
    ASSERT_EQ(d.o->seq, 7);
    ASSERT_NULL(d.o->uid); /* none given: made from seq when asked */
    char uid[TR_UID_LEN + 1], again[TR_UID_LEN + 1];
    ASSERT_EQ(strlen(tr_obj_uid(d.o, uid)), 36);
    ASSERT_EQ(uid[14], '4'); /* a version 4 UUID's form */
    ASSERT(strchr("89ab", uid[19]) != NULL);
    ASSERT_STREQ(tr_obj_uid(d.o, again), uid); /* the same each time */
    struct tr_obj other = *d.o; /* another object: another uid */
    other.seq++;
    ASSERT(strcmp(tr_obj_uid(&other, again), uid) != 0);
    ASSERT_STREQ(d.ident, "HTTPRoute default/web");
    /* Defaults were applied: a rule without matches gets the PathPrefix / match. */
    const struct tr_node *spec = tr_obj_spec(d.o, ta);
    ASSERT(tr_node_equal(spec, tr_node_get(tree, "spec")));
    ASSERT_STREQ(tr_node_gets(tr_node_path(tr_node_at(tr_node_get(tr_node_at(tr_node_get(spec, "rules"), 0), "matches"), 0),
                                           "path"), "type"), "PathPrefix");
    const char *host = tr_node_at(tr_node_get(spec, "hostnames"), 0)->u.s;
    ASSERT(host > (const char *)d.o && host < (const char *)tr_obj_packed(d.o) + d.o->packed_len);
    tr_arena_free(ta);
    dec_done(&d);
}

TEST(object_cluster_scoped_drops_namespace)
{
    struct dec d;
    decode(&d, "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata:\n  name: torii\n"
               "  namespace: ignored\nspec:\n  controllerName: torii.dev/gateway-controller\n",
           NULL);
    ASSERT_EQ(d.rc, TR_OK);
    ASSERT_STREQ(d.o->ns, "");
    ASSERT_NOT_NULL(d.o->root); /* not a route: kept as a tree */
    ASSERT(d.o->spec == tr_node_get(d.o->root, "spec"));
    ASSERT_NULL(tr_node_get(tr_node_get(d.o->root, "metadata"), "namespace"));
    struct tr_buf b;
    tr_buf_init(&b, 0);
    tr_obj_ident(&b, d.o);
    ASSERT_STREQ(b.data, "GatewayClass torii");
    tr_buf_dispose(&b);
    dec_done(&d);
}

TEST(object_status_dropped_and_kept_metadata)
{
    struct dec d;
    decode(&d, ROUTE("  namespace: apps\n  uid: 1234\n  creationTimestamp: \"2020-01-02T03:04:05Z\"\n",
                     "  hostnames: [a.example.com]\n") "status:\n  parents: []\n",
           NULL);
    ASSERT_EQ(d.rc, TR_EINVAL); /* uid: 1234 is an integer, metadata.uid a string */
    dec_done(&d);
    decode(&d, ROUTE("  namespace: apps\n  uid: \"1234\"\n  creationTimestamp: \"2020-01-02T03:04:05Z\"\n",
                     "  hostnames: [a.example.com]\n") "status:\n  parents: []\n",
           NULL);
    ASSERT_EQ(d.rc, TR_OK);
    struct tr_arena *ta = tr_arena_new(4096);
    ASSERT_NULL(tr_node_get(tr_obj_tree(d.o, ta), "status"));
    tr_arena_free(ta);
    ASSERT_STREQ(d.o->ns, "apps");
    ASSERT_STREQ(d.o->uid, "1234");
    char given[TR_UID_LEN + 1];
    ASSERT_STREQ(tr_obj_uid(d.o, given), "1234");
    ASSERT_EQ(d.o->created, 1577934245);
    dec_done(&d);
}

TEST(object_generation_bumps_on_spec_change_only)
{
    struct dec v1, v2, v3, v4;
    decode(&v1, ROUTE("", "  hostnames: [a.example.com]\n"), NULL);
    ASSERT_EQ(v1.rc, TR_OK);
    /* Same spec, new labels: generation, uid and creation are kept. */
    decode(&v2, ROUTE("  labels: {app: web}\n", "  hostnames: [a.example.com]\n"), v1.o);
    ASSERT_EQ(v2.rc, TR_OK);
    ASSERT_EQ(v2.o->generation, 1);
    ASSERT_STREQ(v2.o->uid, v1.o->uid);
    ASSERT_EQ(v2.o->created, v1.o->created);
    ASSERT_EQ(v2.o->seq, v1.o->seq);
    /* A spec change bumps it by one. */
    decode(&v3, ROUTE("  labels: {app: web}\n", "  hostnames: [b.example.com]\n"), v2.o);
    ASSERT_EQ(v3.rc, TR_OK);
    ASSERT_EQ(v3.o->generation, 2);
    ASSERT_STREQ(v3.o->uid, v1.o->uid);
    /* Equal after defaulting is no change: an explicit default is the same spec. */
    decode(&v4, ROUTE("  labels: {app: web}\n", "  hostnames: [b.example.com]\n"
                                                "  rules:\n  - matches: [{path: {type: PathPrefix, value: /}}]\n"),
           v3.o);
    ASSERT_EQ(v4.rc, TR_OK);
    ASSERT_EQ(v4.o->generation, 2);
    struct dec v5;
    decode(&v5, ROUTE("  labels: {app: web}\n", "  hostnames: [b.example.com]\n  rules:\n  - {}\n"), v4.o);
    ASSERT_EQ(v5.rc, TR_OK);
    ASSERT_EQ(v5.o->generation, v4.o->generation);
    dec_done(&v1);
    dec_done(&v2);
    dec_done(&v3);
    dec_done(&v4);
    dec_done(&v5);
}

TEST(object_transition_rule_uses_prev)
{
    struct dec v1, v2;
    decode(&v1, GC(""), NULL);
    ASSERT_EQ(v1.rc, TR_OK);
    decode(&v2, "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata:\n  name: torii\n"
                "spec:\n  controllerName: other.dev/controller\n",
           v1.o);
    ASSERT_EQ(v2.rc, TR_EINVAL);
    ASSERT_NULL(v2.o);
    ASSERT_STREQ(first_err(&v2), "spec.controllerName: Value is immutable");
    dec_done(&v1);
    dec_done(&v2);
}

TEST(object_name_validation)
{
    static const char *const bad[] = {"Web", "web_1", "-web", "web-", "a..b", ".a", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[512];
        snprintf(text, sizeof(text),
                 "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: \"%s\"\n  namespace: default\n", bad[i]);
        struct dec d;
        decode(&d, text, NULL);
        if (d.rc != TR_EINVAL)
            tr_test_fail(__FILE__, __LINE__, "name \"%s\" accepted", bad[i]);
        ASSERT_STREQ(d.errs.v[0].path, "metadata.name");
        dec_done(&d);
    }
    struct dec d;
    decode(&d, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a.b-c.9\n", NULL);
    ASSERT_EQ(d.rc, TR_OK); /* a DNS subdomain */
    dec_done(&d);
    /* Namespace names are DNS labels: no dots. */
    decode(&d, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a.b\n", NULL);
    ASSERT_EQ(d.rc, TR_EINVAL);
    dec_done(&d);
    decode(&d, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\n  namespace: Bad_NS\n", NULL);
    ASSERT_EQ(d.rc, TR_EINVAL);
    ASSERT_STREQ(d.errs.v[0].path, "metadata.namespace");
    dec_done(&d);
    char longname[300];
    memset(longname, 'a', 254);
    longname[254] = '\0';
    char text[512];
    snprintf(text, sizeof(text), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n", longname);
    decode(&d, text, NULL);
    ASSERT_EQ(d.rc, TR_EINVAL);
    ASSERT_STRSTR(d.errs.v[0].msg, "253");
    dec_done(&d);
    decode(&d, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  labels: {a: b}\n", NULL);
    ASSERT_EQ(d.rc, TR_EINVAL);
    ASSERT_STREQ(first_err(&d), "metadata.name: Required value: name is required");
    dec_done(&d);
}

TEST(object_unknown_kind_and_bad_version)
{
    struct dec d;
    decode(&d, "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\n", NULL);
    ASSERT_EQ(d.rc, -1); /* not read by torii: ignored, no error */
    ASSERT_EQ(d.errs.n, 0);
    dec_done(&d);
    decode(&d, "apiVersion: gateway.networking.k8s.io/v9\nkind: HTTPRoute\nmetadata:\n  name: x\n", NULL);
    ASSERT_EQ(d.rc, TR_EINVAL);
    ASSERT_STRSTR(first_err(&d), "apiVersion: Unsupported value");
    dec_done(&d);
    decode(&d, "kind: HTTPRoute\nmetadata:\n  name: x\n", NULL);
    ASSERT_EQ(d.rc, TR_EINVAL);
    ASSERT_STREQ(first_err(&d), "apiVersion: Required value");
    dec_done(&d);
    decode(&d, "- a\n- b\n", NULL);
    ASSERT_EQ(d.rc, TR_EINVAL);
    ASSERT_STRSTR(first_err(&d), "must be a mapping");
    dec_done(&d);
}

TEST(object_refcount_and_render)
{
    struct dec d;
    decode(&d, ROUTE("", "  hostnames: [a.example.com]\n"), NULL);
    ASSERT_EQ(d.rc, TR_OK);
    struct tr_obj *o = tr_obj_acquire(d.o);
    ASSERT_EQ(o->refs, 2);
    tr_obj_release(o);
    ASSERT_EQ(d.o->refs, 1);
    d.o->version = 42;
    struct tr_arena *a = tr_arena_new(4096);
    struct tr_node *st = tr_node_new(a, TR_N_MAP);
    tr_node_set(a, st, "parents", tr_node_new(a, TR_N_SEQ));
    struct tr_node *r = tr_obj_render(a, d.o, st);
    struct tr_node *meta = tr_node_get(r, "metadata");
    ASSERT_EQ(tr_node_geti(meta, "generation", 0), 1);
    ASSERT_STREQ(tr_node_gets(meta, "resourceVersion"), "42");
    ASSERT_STREQ(tr_node_gets(meta, "creationTimestamp"), "2023-11-14T22:13:20Z");
    ASSERT_NOT_NULL(tr_node_get(r, "status"));
    ASSERT_NULL(tr_node_get(tr_obj_tree(d.o, a), "status")); /* the object itself is not touched */
    ASSERT(tr_obj_same_content(d.o, d.o));
    tr_arena_free(a);
    char t[32];
    tr_format_time(t, 0);
    ASSERT_STREQ(t, "1970-01-01T00:00:00Z");
    dec_done(&d);
}
