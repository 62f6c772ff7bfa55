#include "test.h"
#include "util.h"

#include "api/object.h"
#include "base/node.h"
#include "store/store.h"

#include <stdlib.h>

static const char *data_of(const struct tr_obj *o)
{
    return o ? tr_node_gets(tr_node_get(o->root, "data"), "v") : NULL;
}

TEST(store_put_get_replace_del)
{
    struct tr_store *s = tr_store_new();
    ASSERT_EQ(tr_store_version(s), 0);
    ASSERT_NULL(tr_store_get(s, TR_KIND_CONFIGMAP, "default", "a"));
    struct tr_obj *a1 = tr_test_configmap("", "a", "one");
    tr_store_put(s, a1);
    ASSERT_EQ(a1->version, 1);
    ASSERT_EQ(tr_store_version(s), 1);
    ASSERT(tr_store_get(s, TR_KIND_CONFIGMAP, "default", "a") == a1);
    /* Same key, another kind: a different object. */
    ASSERT_NULL(tr_store_get(s, TR_KIND_SECRET, "default", "a"));
    ASSERT_NULL(tr_store_get(s, TR_KIND_CONFIGMAP, "other", "a"));
    /* The key is namespace and name: "ab"/"c" is not "a"/"bc". */
    tr_store_put(s, tr_test_configmap("ab", "c", "x"));
    ASSERT_NULL(tr_store_get(s, TR_KIND_CONFIGMAP, "a", "bc"));

    struct tr_obj *a2 = tr_test_configmap("", "a", "two");
    tr_store_put(s, a2); /* replaces (and releases) a1 */
    ASSERT_EQ(a2->version, 3);
    ASSERT_STREQ(data_of(tr_store_get(s, TR_KIND_CONFIGMAP, "default", "a")), "two");

    ASSERT_EQ(tr_store_del(s, TR_KIND_CONFIGMAP, "default", "a"), 1);
    ASSERT_EQ(tr_store_version(s), 4);
    ASSERT_EQ(tr_store_del(s, TR_KIND_CONFIGMAP, "default", "a"), 0);
    ASSERT_EQ(tr_store_version(s), 4); /* nothing deleted, nothing changed */
    ASSERT_NULL(tr_store_get(s, TR_KIND_CONFIGMAP, "default", "a"));
    tr_store_free(s);
}

TEST(store_view_sorted_and_pinned)
{
    struct tr_store *s = tr_store_new();
    static const char *const keys[][2] = {{"zeta", "a"}, {"alpha", "z"}, {"alpha", "b"}, {"mid", "m"}, {"alpha", "a"}};
    for (size_t i = 0; i < 5; i++)
        tr_store_put(s, tr_test_configmap(keys[i][0], keys[i][1], keys[i][1]));
    tr_store_put(s, tr_test_obj("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: apps\n"));
    struct tr_view *v = tr_store_view(s);
    ASSERT_EQ(v->version, 6);
    ASSERT_EQ(v->n[TR_KIND_CONFIGMAP], 5);
    ASSERT_EQ(v->n[TR_KIND_NAMESPACE], 1);
    ASSERT_EQ(v->n[TR_KIND_SECRET], 0);
    static const char *const want[][2] = {{"alpha", "a"}, {"alpha", "b"}, {"alpha", "z"}, {"mid", "m"}, {"zeta", "a"}};
    for (size_t i = 0; i < 5; i++) {
        ASSERT_STREQ(v->objs[TR_KIND_CONFIGMAP][i]->ns, want[i][0]);
        ASSERT_STREQ(v->objs[TR_KIND_CONFIGMAP][i]->name, want[i][1]);
        ASSERT_EQ(tr_view_index(v, v->objs[TR_KIND_CONFIGMAP][i]), (long)i);
    }
    /* find: binary search, "" namespace for cluster-scoped kinds. */
    ASSERT(tr_view_find(v, TR_KIND_CONFIGMAP, "mid", "m") == v->objs[TR_KIND_CONFIGMAP][3]);
    ASSERT_NULL(tr_view_find(v, TR_KIND_CONFIGMAP, "mid", "n"));
    ASSERT_NULL(tr_view_find(v, TR_KIND_CONFIGMAP, NULL, "m"));
    ASSERT_NOT_NULL(tr_view_find(v, TR_KIND_NAMESPACE, "", "apps"));
    ASSERT_NULL(tr_view_find(v, TR_KIND_SECRET, "", "apps"));

    /* The view holds its own references: deleting from the store leaves it intact. */
    struct tr_obj *held = v->objs[TR_KIND_CONFIGMAP][0];
    tr_store_del(s, TR_KIND_CONFIGMAP, "alpha", "a");
    ASSERT_EQ(held->refs, 1);
    ASSERT_STREQ(data_of(held), "a");
    ASSERT_EQ(v->n[TR_KIND_CONFIGMAP], 5);
    struct tr_obj *other = tr_test_configmap("alpha", "zz", "x");
    ASSERT_EQ(tr_view_index(v, other), -1);
    tr_obj_release(other);
    tr_view_free(v);
    tr_store_free(s);
}

static void collect_reject(void *ud, const struct tr_reject *r)
{
    char *out = ud;
    size_t len = strlen(out);
    snprintf(out + len, 512 - len, "[%s %s %zu]", r->file, r->name ? r->name : "-", r->nmsgs);
}

static struct tr_reject *rejects(const char *file, const char *name, size_t nmsgs)
{
    struct tr_reject *r = calloc(1, sizeof(*r));
    r->kind = TR_KIND_CONFIGMAP;
    r->file = strdup(file);
    r->name = name ? strdup(name) : NULL;
    r->ns = strdup("default");
    r->msgs = calloc(nmsgs, sizeof(char *));
    r->nmsgs = nmsgs;
    for (size_t i = 0; i < nmsgs; i++)
        r->msgs[i] = strdup("msg");
    return r;
}

TEST(store_rejects_per_file)
{
    struct tr_store *s = tr_store_new();
    char out[512] = "";
    tr_store_set_rejects(s, "b.yaml", rejects("b.yaml", "x", 2), 1);
    tr_store_set_rejects(s, "a.yaml", rejects("a.yaml", NULL, 1), 1);
    tr_store_each_reject(s, collect_reject, out);
    ASSERT_STREQ(out, "[a.yaml - 1][b.yaml x 2]"); /* file order */
    /* A file's rejects are replaced when it is read again, and cleared by an empty set. */
    tr_store_set_rejects(s, "b.yaml", rejects("b.yaml", "y", 1), 1);
    tr_store_set_rejects(s, "a.yaml", NULL, 0);
    out[0] = '\0';
    tr_store_each_reject(s, collect_reject, out);
    ASSERT_STREQ(out, "[b.yaml y 1]");
    tr_store_free(s); /* frees what is left (ASan/LSan check) */
}
