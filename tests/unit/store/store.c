#include "test.h"
#include "util.h"

#include "api/object.h"
#include "base/node.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static int cmp_ns_name(const void *a, const void *b)
{
    const struct tr_obj *x = *(const struct tr_obj *const *)a, *y = *(const struct tr_obj *const *)b;
    int c = strcmp(x->ns, y->ns);
    return c ? c : strcmp(x->name, y->name);
}

/* The store keeps each kind sorted across puts, replacements and deletes: every view equals a
 * sort of the store's contents. Also the per-kind versions a memo keys on. */
TEST(store_order_kept_across_changes)
{
    struct tr_store *s = tr_store_new();
    unsigned seed = 7;
    uint64_t cm_version = 0;
    for (int step = 0; step < 400; step++) {
        seed = seed * 1103515245 + 12345;
        char ns[8], name[8];
        snprintf(ns, sizeof(ns), "n%u", (seed >> 8) % 4);
        snprintf(name, sizeof(name), "o%u", (seed >> 12) % 23);
        if ((seed >> 20) % 3 == 0) {
            if (tr_store_del(s, TR_KIND_CONFIGMAP, ns, name))
                cm_version = tr_store_version(s);
        } else {
            tr_store_put(s, tr_test_configmap(ns, name, "x"));
            cm_version = tr_store_version(s);
        }
        if (step % 50 == 0)
            tr_store_put(s, tr_test_obj("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: apps\n"));
        struct tr_view *v = tr_store_view(s);
        size_t n = v->n[TR_KIND_CONFIGMAP];
        struct tr_obj **copy = calloc(n + 1, sizeof(*copy));
        for (size_t i = 0; i < n; i++) {
            copy[i] = v->objs[TR_KIND_CONFIGMAP][i];
            ASSERT(tr_store_get(s, TR_KIND_CONFIGMAP, copy[i]->ns, copy[i]->name) == copy[i]);
        }
        qsort(copy, n, sizeof(*copy), cmp_ns_name);
        for (size_t i = 0; i < n; i++) {
            ASSERT(copy[i] == v->objs[TR_KIND_CONFIGMAP][i]);
            ASSERT_EQ(tr_view_index(v, copy[i]), (long)i);
        }
        ASSERT_EQ(v->kind_version[TR_KIND_CONFIGMAP], cm_version);
        ASSERT(v->kind_version[TR_KIND_NAMESPACE] <= v->version);
        free(copy);
        tr_view_free(v);
    }
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

/* Objects are found by binary search in the sorted arrays: after many puts and deletes (the
 * array shrinking as it empties) every object left is found, none deleted is, and a view lists
 * them in order. */
TEST(store_many_puts_and_deletes)
{
    struct tr_store *s = tr_store_new();
    char name[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof(name), "cm-%04d", (i * 7919) % 1000); /* out of order */
        tr_store_put(s, tr_test_configmap("", name, "v"));
    }
    for (int i = 0; i < 1000; i++) {
        if (i % 100 == 3)
            continue;
        snprintf(name, sizeof(name), "cm-%04d", i);
        ASSERT_EQ(tr_store_del(s, TR_KIND_CONFIGMAP, "default", name), 1);
    }
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof(name), "cm-%04d", i);
        const struct tr_obj *o = tr_store_get(s, TR_KIND_CONFIGMAP, "default", name);
        if (i % 100 == 3) {
            ASSERT_NOT_NULL(o);
            ASSERT_STREQ(o->name, name);
        } else {
            ASSERT_NULL(o);
        }
    }
    struct tr_view *v = tr_store_view(s);
    ASSERT_EQ(v->n[TR_KIND_CONFIGMAP], 10);
    for (size_t i = 1; i < v->n[TR_KIND_CONFIGMAP]; i++)
        ASSERT(strcmp(v->objs[TR_KIND_CONFIGMAP][i - 1]->name, v->objs[TR_KIND_CONFIGMAP][i]->name) < 0);
    tr_view_free(v);
    tr_store_free(s);
}
