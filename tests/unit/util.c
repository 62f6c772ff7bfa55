#include "util.h"
#include "test.h"

#include "api/manifest.h"
#include "api/object.h"
#include "api/schema.h"
#include "api/yaml.h"
#include "base/arena.h"
#include "base/buf.h"
#include "base/err.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

struct tr_node *tr_test_yaml(struct tr_arena *a, const char *text)
{
    struct tr_buf err;
    tr_buf_init(&err, 0);
    struct tr_node *n = tr_yaml_parse_one(a, text, strlen(text), &err);
    if (!n)
        tr_test_fail(__FILE__, __LINE__, "parse of \"%s\" failed: %s", text, err.data ? err.data : "?");
    tr_buf_dispose(&err);
    return n;
}

struct tr_obj *tr_test_obj(const char *yaml)
{
    struct tr_arena *a = tr_arena_new(4096);
    struct tr_buf err;
    tr_buf_init(&err, 0);
    struct tr_node *root = tr_yaml_parse_one(a, yaml, strlen(yaml), &err);
    if (!root)
        tr_test_fail(__FILE__, __LINE__, "bad test YAML: %s", err.data);
    tr_buf_dispose(&err);
    struct tr_verrs errs;
    tr_verrs_init(&errs);
    struct tr_obj *o = NULL;
    int rc = tr_obj_decode(a, root, "test.yaml", 1, NULL, 1000, 1, &o, &errs, NULL);
    if (rc != TR_OK) {
        char msg[512];
        snprintf(msg, sizeof(msg), "%s: %s", errs.n ? errs.v[0].path : "?", errs.n ? errs.v[0].msg : "?");
        tr_verrs_dispose(&errs);
        tr_test_fail(__FILE__, __LINE__, "test object rejected (%d): %s", rc, msg);
    }
    tr_verrs_dispose(&errs);
    return o;
}

struct tr_obj *tr_test_configmap(const char *ns, const char *name, const char *value)
{
    char text[512];
    snprintf(text, sizeof(text), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n%s%s%sdata:\n  v: \"%s\"\n",
             name, *ns ? "  namespace: " : "", ns, *ns ? "\n" : "", value);
    return tr_test_obj(text);
}

static const struct tr_obj *store_prev(void *ud, int kind, const char *ns, const char *name)
{
    return tr_store_get(ud, (enum tr_kind)kind, ns, name);
}

static void store_put(void *ud, struct tr_obj *o)
{
    tr_store_put(ud, o);
}

static void store_bad(void *ud, const char *line, int kind, const char *ns, const char *name)
{
    tr_test_fail(__FILE__, __LINE__, "manifest rejected: %s", line);
}

void tr_test_apply(struct tr_store *store, const char *yaml, int64_t created)
{
    static const struct tr_manifest_ops ops = {store_prev, store_put, store_bad};
    uint64_t seq = 1;
    tr_manifest_load(yaml, strlen(yaml), "test", created, &seq, &ops, store);
}

const char *tr_test_addr(void *ud, const struct tr_obj *gw, bool (*taken)(void *ctx, const char *addr), void *ctx)
{
    return "127.1.0.1";
}
