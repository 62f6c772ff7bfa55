#include "test.h"

#include "api/yaml.h"
#include "base/arena.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/node.h"

#include <math.h>
#include <stdlib.h>

/* Parses one document; fails the test on a parse error. */
static struct tr_node *parse(struct tr_arena *a, const char *text)
{
    struct tr_buf err;
    tr_buf_init(&err, 0);
    struct tr_node *n = tr_yaml_parse_one(a, text, strlen(text), &err);
    if (!n)
        tr_test_fail(__FILE__, __LINE__, "parse of \"%s\" failed: %s", text, err.data ? err.data : "?");
    tr_buf_dispose(&err);
    return n;
}

/* Returns the error message of a text that must not parse (a static copy). */
static const char *parse_error(const char *text)
{
    static char msg[512];
    struct tr_arena *a = tr_arena_new(1024);
    struct tr_buf err;
    tr_buf_init(&err, 0);
    struct tr_node *n = tr_yaml_parse_one(a, text, strlen(text), &err);
    snprintf(msg, sizeof(msg), "%s", err.data ? err.data : "");
    tr_buf_dispose(&err);
    tr_arena_free(a);
    if (n)
        tr_test_fail(__FILE__, __LINE__, "\"%s\" parsed, but should not", text);
    return msg;
}

static struct tr_node *value(struct tr_arena *a, const char *scalar)
{
    char text[128];
    snprintf(text, sizeof(text), "v: %s\n", scalar);
    return tr_node_get(parse(a, text), "v");
}

TEST(yaml_scalars_core_schema_ints)
{
    struct tr_arena *a = tr_arena_new(4096);
    static const struct {
        const char *text;
        long long want;
    } ints[] = {{"12", 12}, {"-7", -7}, {"+3", 3}, {"0", 0}, {"012", 12}, {"0x1F", 31}, {"0o17", 15},
                {"9223372036854775807", 9223372036854775807LL}};
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        struct tr_node *n = value(a, ints[i].text);
        if (n->type != TR_N_INT)
            tr_test_fail(__FILE__, __LINE__, "%s: %s, want integer", ints[i].text, tr_node_typename(n));
        ASSERT_EQ(n->u.i, ints[i].want);
    }
    tr_arena_free(a);
}

TEST(yaml_scalars_core_schema_strings)
{
    /* Quoted scalars, YAML 1.1 booleans and things that only look numeric stay strings. */
    struct tr_arena *a = tr_arena_new(4096);
    static const char *const strs[] = {"\"12\"", "'12'", "yes", "no", "on", "off", "y", "1_000", "0x-1",
                                       "0x 1", "0x0x1", "0o8", "0xg", "12abc", "1.2.3.4", "!!str 12",
                                       "\"true\"", "\"null\"", "'~'", "10s", "..."};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        struct tr_node *n = value(a, strs[i]);
        if (n->type != TR_N_STR)
            tr_test_fail(__FILE__, __LINE__, "%s: %s, want string", strs[i], tr_node_typename(n));
    }
    ASSERT_STREQ(value(a, "\"12\"")->u.s, "12");
    ASSERT_STREQ(value(a, "!!str 12")->u.s, "12");
    tr_arena_free(a);
}

TEST(yaml_scalars_core_schema_bool_null_float)
{
    struct tr_arena *a = tr_arena_new(4096);
    static const char *const trues[] = {"true", "True", "TRUE"}, *const falses[] = {"false", "False", "FALSE"};
    for (size_t i = 0; i < 3; i++) {
        struct tr_node *t = value(a, trues[i]), *f = value(a, falses[i]);
        ASSERT_EQ(t->type, TR_N_BOOL);
        ASSERT_EQ(t->u.b, true);
        ASSERT_EQ(f->type, TR_N_BOOL);
        ASSERT_EQ(f->u.b, false);
    }
    static const char *const nulls[] = {"~", "null", "Null", "NULL", ""};
    for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
        ASSERT_EQ(value(a, nulls[i])->type, TR_N_NULL);
    ASSERT_EQ(tr_node_get(parse(a, "v:\nw: 1\n"), "v")->type, TR_N_NULL);
    static const struct {
        const char *text;
        double want;
    } floats[] = {{"1.5", 1.5}, {"-0.25", -0.25}, {".5", 0.5}, {"1e3", 1000}, {"2.5E-1", 0.25},
                  {".inf", INFINITY}, {"+.Inf", INFINITY}, {"-.INF", -INFINITY}};
    for (size_t i = 0; i < sizeof(floats) / sizeof(floats[0]); i++) {
        struct tr_node *n = value(a, floats[i].text);
        if (n->type != TR_N_FLOAT)
            tr_test_fail(__FILE__, __LINE__, "%s: %s, want number", floats[i].text, tr_node_typename(n));
        ASSERT_DBL_EQ(n->u.f, floats[i].want);
    }
    struct tr_node *nan = value(a, ".NaN");
    ASSERT_EQ(nan->type, TR_N_FLOAT);
    ASSERT(isnan(nan->u.f));
    /* Past int64: a number, as Kubernetes' JSON decoding would make it. */
    ASSERT_EQ(value(a, "99999999999999999999")->type, TR_N_FLOAT);
    tr_arena_free(a);
}

TEST(yaml_json_is_yaml)
{
    struct tr_arena *a = tr_arena_new(4096);
    struct tr_node *n = parse(a, "{\"a\": [1, \"2\", true, null, {\"b\": 1.5}]}");
    struct tr_node *l = tr_node_get(n, "a");
    ASSERT_EQ(tr_node_len(l), 5);
    ASSERT_EQ(tr_node_at(l, 0)->type, TR_N_INT);
    ASSERT_EQ(tr_node_at(l, 1)->type, TR_N_STR);
    ASSERT_EQ(tr_node_at(l, 2)->type, TR_N_BOOL);
    ASSERT_EQ(tr_node_at(l, 3)->type, TR_N_NULL);
    ASSERT_DBL_EQ(tr_node_at(l, 4)->u.kv[0].val->u.f, 1.5);
    tr_arena_free(a);
}

struct docs {
    int n;
    unsigned lines[8];
    char kinds[8][32];
};

static void collect(void *ud, struct tr_arena *a, struct tr_node *root, unsigned line)
{
    struct docs *d = ud;
    if (d->n < 8) {
        d->lines[d->n] = line;
        snprintf(d->kinds[d->n], sizeof(d->kinds[0]), "%s", tr_node_gets(root, "kind") ? tr_node_gets(root, "kind") : "");
    }
    d->n++;
    tr_arena_free(a); /* the callee owns the arena */
}

TEST(yaml_multi_document)
{
    const char *text = "kind: A\n---\n# only a comment\n---\nkind: B\nx: 1\n---\n---\nkind: C\n";
    struct docs d = {0};
    struct tr_buf err;
    tr_buf_init(&err, 0);
    ASSERT_EQ(tr_yaml_parse(text, strlen(text), collect, &d, &err), TR_OK);
    ASSERT_EQ(d.n, 3); /* empty and comment-only documents are skipped */
    ASSERT_STREQ(d.kinds[0], "A");
    ASSERT_STREQ(d.kinds[1], "B");
    ASSERT_STREQ(d.kinds[2], "C");
    ASSERT_EQ(d.lines[0], 1);
    ASSERT_EQ(d.lines[1], 5);
    ASSERT_EQ(d.lines[2], 9);
    tr_buf_dispose(&err);
}

TEST(yaml_error_stops_later_documents)
{
    const char *text = "kind: A\n---\nkind: B\n---\nkind: [C\n---\nkind: D\n";
    struct docs d = {0};
    struct tr_buf err;
    tr_buf_init(&err, 0);
    ASSERT_EQ(tr_yaml_parse(text, strlen(text), collect, &d, &err), TR_EINVAL);
    ASSERT_EQ(d.n, 2); /* documents before the bad one are delivered, none after */
    ASSERT_STREQ(d.kinds[1], "B");
    ASSERT(err.len > 0);
    tr_buf_dispose(&err);
}

TEST(yaml_duplicate_keys_rejected)
{
    const char *msg = parse_error("a: 1\nb: 2\na: 3\n");
    ASSERT_STRSTR(msg, "duplicate key");
    ASSERT_STRSTR(msg, "3:"); /* the line of the second one */
    ASSERT_STRSTR(parse_error("x:\n  - {k: 1, k: 2}\n"), "duplicate key");
}

TEST(yaml_depth_limit)
{
    char deep[1024], ok[64];
    int n = 200;
    for (int i = 0; i < n; i++)
        deep[i] = '[';
    for (int i = 0; i < n; i++)
        deep[n + i] = ']';
    deep[2 * n] = '\0';
    ASSERT_STRSTR(parse_error(deep), "64"); /* libfyaml or our converter, whichever stops first */
    for (int i = 0; i < 20; i++)
        ok[i] = '[';
    for (int i = 0; i < 20; i++)
        ok[20 + i] = ']';
    ok[40] = '\0';
    struct tr_arena *a = tr_arena_new(4096);
    struct tr_node *r = parse(a, ok);
    int depth = 0;
    while (r && r->type == TR_N_SEQ && r->n) {
        r = tr_node_at(r, 0);
        depth++;
    }
    ASSERT_EQ(depth, 19);
    tr_arena_free(a);
}

TEST(yaml_line_numbers)
{
    struct tr_arena *a = tr_arena_new(4096);
    struct tr_node *n = parse(a, "# header\n"
                                 "apiVersion: v1\n"
                                 "spec:\n"
                                 "  listeners:\n"
                                 "  - name: http\n"
                                 "    port: 80\n"
                                 "  empty: {}\n");
    ASSERT_EQ(tr_node_get(n, "apiVersion")->line, 2);
    struct tr_node *spec = tr_node_get(n, "spec");
    ASSERT_EQ(spec->line, 3); /* a block points at its key */
    struct tr_node *l0 = tr_node_at(tr_node_get(spec, "listeners"), 0);
    ASSERT_EQ(tr_node_get(l0, "name")->line, 5);
    ASSERT_EQ(tr_node_get(l0, "port")->line, 6);
    ASSERT_EQ(tr_node_get(spec, "empty")->line, 7);
    tr_arena_free(a);
}

TEST(yaml_syntax_error_messages)
{
    const char *msg = parse_error("a: 1\nb:\n  c: d\n e: f\n");
    ASSERT_STRSTR(msg, "4:"); /* LINE:COL: what */
    ASSERT(strlen(msg) > 4);
    ASSERT_STRSTR(parse_error("a: [1, 2\n"), "flow sequence");
    ASSERT_STRSTR(parse_error("? [a, b]\n: 1\n"), "mapping keys must be strings");
    ASSERT_STRSTR(parse_error("\"a\\0b\": 1\n"), "NUL");
}

TEST(yaml_aliases_resolve)
{
    struct tr_arena *a = tr_arena_new(4096);
    struct tr_node *n = parse(a, "base: &b {port: 80}\nuse: *b\n");
    ASSERT(tr_node_equal(tr_node_get(n, "base"), tr_node_get(n, "use")));
    ASSERT_EQ(tr_node_geti(tr_node_get(n, "use"), "port", 0), 80);
    tr_arena_free(a);
}

TEST(yaml_parse_one_takes_first_and_empty_is_null)
{
    struct tr_arena *a = tr_arena_new(4096);
    ASSERT_STREQ(tr_node_gets(parse(a, "k: first\n---\nk: second\n"), "k"), "first");
    ASSERT_EQ(parse(a, "")->type, TR_N_NULL);
    ASSERT_EQ(parse(a, "# nothing\n")->type, TR_N_NULL);
    struct tr_node *s = parse(a, "\"a\\0b\"");
    ASSERT_EQ(s->type, TR_N_STR);
    ASSERT_EQ(s->n, 3); /* NUL inside a string value is kept, with the length */
    tr_arena_free(a);
}

TEST(yaml_rejects_malformed_utf8)
{
    ASSERT_STREQ(parse_error("a: ok\nb: x\xaay\n"), "2:5: invalid UTF-8");
    ASSERT_STRSTR(parse_error("%2f\xaa" "data:\n"), "invalid UTF-8"); /* libfyaml 0.7 hung here */
    ASSERT_STRSTR(parse_error("t: |\n  \xc3\x28\n"), "invalid UTF-8");
    ASSERT_STRSTR(parse_error("t: \xc0\xaf\n"), "invalid UTF-8");         /* overlong "/" */
    ASSERT_STRSTR(parse_error("t: \xed\xa0\x80\n"), "invalid UTF-8");     /* a surrogate */
    ASSERT_STRSTR(parse_error("t: \xf4\x90\x80\x80\n"), "invalid UTF-8"); /* past U+10FFFF */
    ASSERT_STRSTR(parse_error("t: \xe2\x82"), "invalid UTF-8");           /* cut short */
    struct tr_arena *a = tr_arena_new(4096);
    ASSERT_STREQ(tr_node_gets(parse(a, "t: \"é€𝄞\"\n"), "t"), "é€𝄞");
    tr_arena_free(a);
}

TEST(yaml_rejects_libfyaml_overcounted_scalar)
{
    /* libfyaml 0.7.12 gives this block scalar a length past the text it fills in: the tail was
     * uninitialised memory, carried into the tree (found by fuzz-yaml_decode). */
    ASSERT_STRSTR(parse_error("---\n|\n:\n \n  co"), "malformed scalar");
    /* A NUL from a double-quoted escape is a real value. */
    struct tr_arena *a = tr_arena_new(4096);
    ASSERT_EQ(parse(a, "k: \"\\0\"\n")->u.kv[0].val->n, 1);
    tr_arena_free(a);
}
