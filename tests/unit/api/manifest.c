#include "test.h"

#include "api/manifest.h"
#include "api/object.h"

#include <errno.h>
#include <stdlib.h>

struct rec {
    struct tr_obj *objs[8];
    int nobjs;
    char errs[8][2048];
    int errkinds[8];
    size_t errlens[8];
    bool errnamed[8];
    int nerrs;
    const struct tr_obj *prev; /* answered for every lookup */
    int lookups;
};

static const struct tr_obj *rec_prev(void *ud, int kind, const char *ns, const char *name)
{
    struct rec *r = ud;
    r->lookups++;
    return r->prev && (int)r->prev->kind == kind && strcmp(r->prev->ns, ns) == 0 && strcmp(r->prev->name, name) == 0
               ? r->prev
               : NULL;
}

static void rec_obj(void *ud, struct tr_obj *o)
{
    struct rec *r = ud;
    if (r->nobjs < 8)
        r->objs[r->nobjs++] = o;
    else
        tr_obj_release(o);
}

static void rec_err(void *ud, const char *line, int kind, const char *ns, const char *name)
{
    struct rec *r = ud;
    if (r->nerrs < 8) {
        snprintf(r->errs[r->nerrs], sizeof(r->errs[0]), "%s", line);
        r->errkinds[r->nerrs] = kind;
        r->errlens[r->nerrs] = strlen(line);
        r->errnamed[r->nerrs] = name != NULL;
    }
    r->nerrs++;
}

static const struct tr_manifest_ops ops = {rec_prev, rec_obj, rec_err};

static void rec_done(struct rec *r)
{
    for (int i = 0; i < r->nobjs; i++)
        tr_obj_release(r->objs[i]);
}

static int load(struct rec *r, const char *text, uint64_t *seq)
{
    return tr_manifest_load(text, strlen(text), "dir/m.yaml", 1000, seq, &ops, r);
}

TEST(manifest_loads_documents_in_order)
{
    struct rec r = {0};
    uint64_t seq = 10;
    int rc = load(&r,
                  "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: apps\n---\n"
                  "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ignored\n---\n"
                  "apiVersion: v1\nkind: Service\nmetadata:\n  name: svc\n  namespace: apps\n"
                  "spec:\n  ports: [{port: 80}]\n",
                  &seq);
    ASSERT_EQ(rc, 0);
    ASSERT_EQ(r.nerrs, 0);
    ASSERT_EQ(r.nobjs, 2); /* kinds torii does not read are skipped silently */
    ASSERT_EQ(r.objs[0]->kind, TR_KIND_NAMESPACE);
    ASSERT_EQ(r.objs[0]->seq, 10);
    ASSERT_EQ(r.objs[1]->kind, TR_KIND_SERVICE);
    ASSERT_EQ(r.objs[1]->seq, 11);
    ASSERT_EQ(r.objs[1]->line, 11);
    ASSERT_STREQ(r.objs[1]->file, "dir/m.yaml");
    ASSERT_EQ(seq, 12);
    rec_done(&r);
}

TEST(manifest_error_lines_name_file_line_object_field)
{
    struct rec r = {0};
    uint64_t seq = 1;
    int rc = load(&r,
                  "apiVersion: v1\nkind: Service\nmetadata:\n  name: svc\nspec:\n  ports:\n  - port: 0\n---\n"
                  "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\n",
                  &seq);
    ASSERT_EQ(rc, 1);
    ASSERT_EQ(r.nerrs, 1);
    ASSERT_STREQ(r.errs[0],
                 "dir/m.yaml:7: Service default/svc: spec.ports[0].port: Invalid value: 0: should be greater than or equal to 1");
    ASSERT_EQ(r.errkinds[0], TR_KIND_SERVICE);
    ASSERT_EQ(r.nobjs, 1); /* the valid document still loads */
    ASSERT_EQ(r.objs[0]->seq, 1);
    rec_done(&r);
}

TEST(manifest_error_lines_quote_a_bounded_part)
{
    /* A 100 kB name is quoted by the object's identity and by the message about it: each is
     * cut (on a UTF-8 boundary), and the name is no object's (longer than any valid one). */
    size_t n = 100000;
    char *text = malloc(n + 200);
    int at = snprintf(text, n + 200, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ");
    for (size_t i = 0; i < n; i += 2)
        memcpy(text + at + i, "\xc3\xa9", 2); /* é: a cut must not split it */
    snprintf(text + at + n, 200, "\n");
    struct rec r = {0};
    uint64_t seq = 1;
    ASSERT_EQ(load(&r, text, &seq), 1);
    free(text);
    ASSERT_EQ(r.nerrs, 1);
    ASSERT(r.errlens[0] < 2000);
    ASSERT_STRSTR(r.errs[0], "dir/m.yaml:4: ConfigMap default/\xc3\xa9");
    ASSERT_STRSTR(r.errs[0], "...: metadata.name: Invalid value");
    ASSERT(!r.errnamed[0]);
    rec_done(&r);
}

TEST(manifest_syntax_error_is_minus_one)
{
    struct rec r = {0};
    uint64_t seq = 1;
    int rc = load(&r, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\nkind: [\n", &seq);
    ASSERT_EQ(rc, -1);
    ASSERT_EQ(r.nerrs, 1);
    ASSERT_EQ(r.errkinds[0], -1);
    ASSERT_STRSTR(r.errs[0], "dir/m.yaml:7:1: "); /* where the text ends, inside the flow */
    ASSERT_STRSTR(r.errs[0], "flow");
    rec_done(&r);
}

TEST(manifest_json_files_and_lists)
{
    /* A .json file is read as JSON (a YAML flow mapping would not pass), and the items of a
     * List are objects of their own, with their lines. */
    struct rec r = {0};
    uint64_t seq = 1;
    const char *list = "{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [\n"
                       "  {\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": \"a\"}},\n"
                       "  {\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": {\"name\": \"s\"},\n"
                       "   \"spec\": {\"ports\": [{\"port\": 0}]}}\n]}\n";
    ASSERT_EQ(tr_manifest_load(list, strlen(list), "dir/l.json", 1000, &seq, &ops, &r), 1);
    ASSERT_EQ(r.nobjs, 1);
    ASSERT_STREQ(r.objs[0]->name, "a");
    ASSERT_EQ(r.nerrs, 1);
    ASSERT_STRSTR(r.errs[0], "dir/l.json:4: Service default/s: spec.ports[0].port");
    rec_done(&r);
    struct rec r2 = {0};
    const char *yamlish = "{apiVersion: v1, kind: ConfigMap, metadata: {name: b}}";
    ASSERT_EQ(tr_manifest_load(yamlish, strlen(yamlish), "dir/y.json", 1000, &seq, &ops, &r2), -1);
    ASSERT_STRSTR(r2.errs[0], "dir/y.json:1:2: expected a string key");
    ASSERT_EQ(tr_manifest_load(yamlish, strlen(yamlish), "dir/y.yaml", 1000, &seq, &ops, &r2), 0);
    ASSERT_EQ(r2.nobjs, 1);
    rec_done(&r2);
}

TEST(manifest_prev_gives_generation)
{
    struct rec r = {0};
    uint64_t seq = 1;
    const char *v1 = "apiVersion: v1\nkind: Service\nmetadata:\n  name: svc\nspec:\n  ports: [{port: 80}]\n";
    const char *v2 = "apiVersion: v1\nkind: Service\nmetadata:\n  name: svc\nspec:\n  ports: [{port: 81}]\n";
    ASSERT_EQ(load(&r, v1, &seq), 0);
    ASSERT_EQ(r.objs[0]->generation, 1);
    r.prev = r.objs[0];
    ASSERT_EQ(load(&r, v2, &seq), 0);
    ASSERT_EQ(r.nobjs, 2);
    ASSERT_EQ(r.objs[1]->generation, 2); /* looked up as default/svc */
    char u0[TR_UID_LEN + 1], u1[TR_UID_LEN + 1];
    ASSERT_STREQ(tr_obj_uid(r.objs[1], u1), tr_obj_uid(r.objs[0], u0)); /* one object: one uid */
    ASSERT_EQ(r.lookups, 2);
    rec_done(&r);
}

TEST(manifest_read_file_limits)
{
    const char *dir = tr_test_tmpdir();
    tr_test_write(dir, "f.yaml", "0123456789");
    char path[512];
    snprintf(path, sizeof(path), "%s/f.yaml", dir);
    size_t len = 0;
    char *text = tr_read_file(path, 100, &len);
    ASSERT_STREQ(text, "0123456789");
    ASSERT_EQ(len, 10);
    free(text);
    errno = 0;
    ASSERT_NULL(tr_read_file(path, 9, &len));
    ASSERT_EQ(errno, EFBIG);
    snprintf(path, sizeof(path), "%s/missing.yaml", dir);
    ASSERT_NULL(tr_read_file(path, 100, &len));
    ASSERT_EQ(errno, ENOENT);
}
