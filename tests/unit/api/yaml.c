#include "test.h"
#include "util.h"

#include "api/yaml.h"
#include "base/arena.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/node.h"

#include <math.h>
#include <stdlib.h>


/* Returns the error message of len bytes of text that must not parse (a static copy). */
static const char *parse_error_len(const char *text, size_t len)
{
    static char msg[512];
    struct tr_arena *a = tr_arena_new(1024);
    struct tr_buf err;
    tr_buf_init(&err, 0);
    struct tr_node *n = tr_yaml_parse_one(a, text, len, &err);
    snprintf(msg, sizeof(msg), "%s", err.data ? err.data : "");
    tr_buf_dispose(&err);
    tr_arena_free(a);
    if (n)
        tr_test_fail(__FILE__, __LINE__, "\"%s\" parsed, but should not", text);
    return msg;
}

static const char *parse_error(const char *text)
{
    return parse_error_len(text, strlen(text));
}

static struct tr_node *value(struct tr_arena *a, const char *scalar)
{
    char text[128];
    snprintf(text, sizeof(text), "v: %s\n", scalar);
    return tr_node_get(tr_test_yaml(a, text), "v");
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
    ASSERT_EQ(tr_node_get(tr_test_yaml(a, "v:\nw: 1\n"), "v")->type, TR_N_NULL);
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
    struct tr_node *n = tr_test_yaml(a, "{\"a\": [1, \"2\", true, null, {\"b\": 1.5}]}");
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
    struct tr_node *r = tr_test_yaml(a, ok);
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
    struct tr_node *n = tr_test_yaml(a, "# header\n"
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
    struct tr_node *n = tr_test_yaml(a, "base: &b {port: 80}\nuse: *b\n");
    ASSERT(tr_node_equal(tr_node_get(n, "base"), tr_node_get(n, "use")));
    ASSERT_EQ(tr_node_geti(tr_node_get(n, "use"), "port", 0), 80);
    tr_arena_free(a);
}

TEST(yaml_parse_one_takes_first_and_empty_is_null)
{
    struct tr_arena *a = tr_arena_new(4096);
    ASSERT_STREQ(tr_node_gets(tr_test_yaml(a, "k: first\n---\nk: second\n"), "k"), "first");
    ASSERT_EQ(tr_test_yaml(a, "")->type, TR_N_NULL);
    ASSERT_EQ(tr_test_yaml(a, "# nothing\n")->type, TR_N_NULL);
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
    ASSERT_STREQ(tr_node_gets(tr_test_yaml(a, "t: \"é€𝄞\"\n"), "t"), "é€𝄞");
    tr_arena_free(a);
}

TEST(yaml_rejects_nul_in_strings)
{
    /* NUL is no character a manifest may hold: C strings downstream would end at it, and a
     * hostname "a\0.evil" would be checked whole and used cut short. */
    ASSERT_STRSTR(parse_error("k: \"\\0\"\n"), "NUL");
    ASSERT_STRSTR(parse_error("k: \"a\\x00b\"\n"), "NUL");
    ASSERT_STRSTR(parse_error("\"a\\0b\": 1\n"), "NUL");
    ASSERT_STREQ(parse_error_len("a: 1\nb: x\0y\n", 11), "2:5: NUL byte");
}

TEST(yaml_regressions_from_libfyaml)
{
    /* libfyaml 0.7.12 gave this block scalar a length past the text it filled in (the tail was
     * uninitialised memory), and freed a token twice on the second (a segfault that took the
     * whole gateway down, issue 8). Both are plain syntax errors. */
    parse_error("---\n|\n:\n \n  co");
    static const char dbl_free[] = "a:\nc: [tr* .i.o1~]\n? 1 {e:\t\0 f}\n";
    ASSERT_STREQ(parse_error_len(dbl_free, sizeof(dbl_free) - 1), "3:9: NUL byte");
    /* Without the NUL it reaches the parser: a complex key is no string key. */
    ASSERT_STRSTR(parse_error("a:\nc: [tr* .i.o1~]\n? 1 {e:\t f}\n"), "3:");
}

TEST(yaml_alias_bomb_refused_at_once)
{
    /* Nine levels of nine aliases: 387 million values from 342 bytes. libfyaml expanded it
     * (12 GiB of RSS in 14 s); the alias budget refuses it when the copies pass what the
     * document spells out. */
    char text[1024];
    size_t n = (size_t)snprintf(text, sizeof(text), "a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n");
    for (char c = 'b'; c <= 'i'; c++) {
        n += (size_t)snprintf(text + n, sizeof(text) - n, "%c: &%c [", c, c);
        for (int k = 0; k < 9; k++)
            n += (size_t)snprintf(text + n, sizeof(text) - n, "*%c%s", c - 1, k < 8 ? "," : "]\n");
    }
    ASSERT_STRSTR(parse_error(text), "aliases would expand the document");
    /* The usual use passes: one block of labels shared by a few objects. */
    struct tr_arena *a = tr_arena_new(4096);
    struct tr_node *r = tr_test_yaml(a, "l: &l {app: web, tier: front}\nx: [*l, *l, *l]\n");
    ASSERT_EQ(tr_node_len(tr_node_get(r, "x")), 3);
    ASSERT_STREQ(tr_node_gets(tr_node_at(tr_node_get(r, "x"), 2), "tier"), "front");
    /* A copy is a tree of its own: writing to one leaves the anchor's node alone. */
    tr_node_set(a, tr_node_at(tr_node_get(r, "x"), 0), "app", tr_node_str(a, "api"));
    ASSERT_STREQ(tr_node_gets(tr_node_get(r, "l"), "app"), "web");
    tr_arena_free(a);
}

TEST(yaml_alias_errors)
{
    ASSERT_STRSTR(parse_error("a: *nope\n"), "unknown alias *nope");
    ASSERT_STRSTR(parse_error("a: &x [1, *x]\n"), "unknown alias *x"); /* no recursive nodes */
    /* A deep anchor copied deep: the depth limit holds for the copy too. */
    char text[512];
    size_t n = (size_t)snprintf(text, sizeof(text), "a: &d ");
    for (int i = 0; i < 40; i++)
        text[n++] = '[';
    for (int i = 0; i < 40; i++)
        text[n++] = ']';
    n += (size_t)snprintf(text + n, sizeof(text) - n, "\nb: ");
    for (int i = 0; i < 30; i++)
        text[n++] = '[';
    n += (size_t)snprintf(text + n, sizeof(text) - n, "*d");
    for (int i = 0; i < 30; i++)
        text[n++] = ']';
    text[n++] = '\n';
    text[n] = '\0';
    ASSERT_STRSTR(parse_error(text), "deeper than 64 levels");
}

TEST(yaml_merge_keys)
{
    struct tr_arena *a = tr_arena_new(4096);
    struct tr_node *r = tr_test_yaml(a, "base: &b {port: 80, protocol: TCP}\n"
                                 "svc:\n  <<: *b\n  port: 8080\n"
                                 "two:\n  <<: [{a: first}, {a: second, b: 2}]\n"
                                 "quoted:\n  \"<<\": literal\n");
    struct tr_node *svc = tr_node_get(r, "svc");
    ASSERT_EQ(tr_node_len(svc), 2);
    ASSERT_EQ(tr_node_geti(svc, "port", 0), 8080); /* an explicit key wins over a merged one */
    ASSERT_STREQ(tr_node_gets(svc, "protocol"), "TCP");
    struct tr_node *two = tr_node_get(r, "two");
    ASSERT_STREQ(tr_node_gets(two, "a"), "first"); /* the first mapping listed wins */
    ASSERT_EQ(tr_node_geti(two, "b", 0), 2);
    ASSERT_STREQ(tr_node_gets(tr_node_get(r, "quoted"), "<<"), "literal");
    tr_arena_free(a);
    ASSERT_STRSTR(parse_error("a:\n  <<: 1\n"), "merge key");
    ASSERT_STRSTR(parse_error("a:\n  <<: {x: 1}\n  y: 1\n  y: 2\n"), "duplicate key \"y\"");
}

TEST(yaml_tags)
{
    struct tr_arena *a = tr_arena_new(4096);
    struct tr_node *r = tr_test_yaml(a, "i: !!int \"12\"\nf: !!float 1\ns: !!str 12\nb: !!bool true\nq: ! 12\n"
                                 "m: !!map {a: 1}\nl: !!seq [1]\n");
    ASSERT_EQ(tr_node_get(r, "i")->type, TR_N_INT);
    ASSERT_EQ(tr_node_get(r, "f")->type, TR_N_FLOAT);
    ASSERT_EQ(tr_node_get(r, "s")->type, TR_N_STR);
    ASSERT_EQ(tr_node_get(r, "b")->type, TR_N_BOOL);
    ASSERT_EQ(tr_node_get(r, "q")->type, TR_N_STR);
    ASSERT_EQ(tr_node_get(r, "m")->type, TR_N_MAP);
    ASSERT_EQ(tr_node_get(r, "l")->type, TR_N_SEQ);
    tr_arena_free(a);
    ASSERT_STREQ(parse_error("a: !!binary aGk=\n"), "1:4: unsupported tag !!binary");
    ASSERT_STRSTR(parse_error("a: !local x\n"), "unsupported tag !local");
    ASSERT_STRSTR(parse_error("a: !!set {x}\n"), "unsupported tag !!set");
    ASSERT_STRSTR(parse_error("a: !!int twelve\n"), "does not fit its tag !!int");
}

TEST(yaml_large_maps_and_node_limit)
{
    /* 100,000 keys: the duplicate check sorts instead of comparing every pair. */
    struct tr_buf t;
    tr_buf_init(&t, 0);
    for (int i = 0; i < 100000; i++)
        tr_buf_printf(&t, "k%d: %d\n", i, i);
    struct tr_arena *a = tr_arena_new(4096);
    struct tr_node *r = tr_test_yaml(a, t.data);
    ASSERT_EQ(tr_node_len(r), 100000);
    ASSERT_EQ(tr_node_geti(r, "k99999", 0), 99999);
    tr_arena_free(a);
    tr_buf_printf(&t, "k5: again\n");
    ASSERT_STRSTR(parse_error(t.data), "100001: duplicate key \"k5\"");
    /* One value over the limit per document. */
    tr_buf_reset(&t);
    tr_buf_puts(&t, "[");
    for (unsigned i = 0; i < TR_DECODE_MAX_NODES; i++)
        tr_buf_puts(&t, "1,");
    tr_buf_puts(&t, "1]");
    ASSERT_STRSTR(parse_error(t.data), "more than");
    tr_buf_dispose(&t);
}

TEST(yaml_input_limit)
{
    char small[8] = "a: 1\n";
    struct tr_arena *a = tr_arena_new(1024);
    struct tr_buf err;
    tr_buf_init(&err, 0);
    /* Only the length is looked at before refusing: no need for a 64 MiB text here. */
    ASSERT_EQ(tr_yaml_parse(small, (size_t)TR_DECODE_MAX_INPUT + 1, NULL, NULL, &err), TR_EINVAL);
    ASSERT_STRSTR(err.data, "over the limit");
    tr_buf_dispose(&err);
    tr_arena_free(a);
}
