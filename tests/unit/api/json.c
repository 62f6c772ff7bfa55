#include "test.h"

#include "api/json.h"
#include "api/yaml.h"
#include "base/arena.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/node.h"

#include <math.h>
#include <stdlib.h>

static struct tr_node *jparse(struct tr_arena *a, const char *text)
{
    struct tr_buf err;
    tr_buf_init(&err, 0);
    struct tr_node *n = tr_json_parse_one(a, text, strlen(text), &err);
    if (!n)
        tr_test_fail(__FILE__, __LINE__, "parse of '%s' failed: %s", text, err.data ? err.data : "?");
    tr_buf_dispose(&err);
    return n;
}

/* The error message of len bytes of text that must not parse (a static copy). */
static const char *jerror_len(const char *text, size_t len)
{
    static char msg[512];
    struct tr_arena *a = tr_arena_new(1024);
    struct tr_buf err;
    tr_buf_init(&err, 0);
    struct tr_node *n = tr_json_parse_one(a, text, len, &err);
    snprintf(msg, sizeof(msg), "%s", err.data ? err.data : "");
    tr_buf_dispose(&err);
    tr_arena_free(a);
    if (n)
        tr_test_fail(__FILE__, __LINE__, "'%s' parsed, but should not", text);
    return msg;
}

static const char *jerror(const char *text)
{
    return jerror_len(text, strlen(text));
}

TEST(json_values)
{
    struct tr_arena *a = tr_arena_new(4096);
    struct tr_node *n = jparse(a, " {\"a\": [1, -2, \"s\", true, false, null, 1.5, -0.25e1, {}, []],\n \"b\": {\"c\": 9223372036854775807}}\n");
    struct tr_node *l = tr_node_get(n, "a");
    ASSERT_EQ(tr_node_len(l), 10);
    ASSERT_EQ(tr_node_at(l, 0)->u.i, 1);
    ASSERT_EQ(tr_node_at(l, 1)->u.i, -2);
    ASSERT_STREQ(tr_node_at(l, 2)->u.s, "s");
    ASSERT_EQ(tr_node_at(l, 3)->type, TR_N_BOOL);
    ASSERT_EQ(tr_node_at(l, 4)->u.b, false);
    ASSERT_EQ(tr_node_at(l, 5)->type, TR_N_NULL);
    ASSERT_DBL_EQ(tr_node_at(l, 6)->u.f, 1.5);
    ASSERT_DBL_EQ(tr_node_at(l, 7)->u.f, -2.5);
    ASSERT_EQ(tr_node_at(l, 8)->type, TR_N_MAP);
    ASSERT_EQ(tr_node_at(l, 9)->type, TR_N_SEQ);
    ASSERT_EQ(tr_node_geti(tr_node_get(n, "b"), "c", 0), INT64_MAX);
    ASSERT_EQ(tr_node_get(n, "b")->line, 2);
    /* Past int64: a number, as Kubernetes' decoder makes it; 1.0 stays a number. */
    ASSERT_EQ(jparse(a, "99999999999999999999")->type, TR_N_FLOAT);
    ASSERT_EQ(jparse(a, "1.0")->type, TR_N_FLOAT);
    ASSERT_EQ(jparse(a, "null")->type, TR_N_NULL);
    tr_arena_free(a);
}

TEST(json_strings_and_escapes)
{
    struct tr_arena *a = tr_arena_new(4096);
    ASSERT_STREQ(jparse(a, "\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"")->u.s, "a\"b\\c/d\b\f\n\r\t");
    ASSERT_STREQ(jparse(a, "\"\\u00e9\\u20AC\\ud834\\udd1e\"")->u.s, "é€𝄞");
    ASSERT_STREQ(jparse(a, "\"é€𝄞\"")->u.s, "é€𝄞");
    ASSERT_STREQ(tr_node_gets(jparse(a, "{\"k\\u0041\": \"v\"}"), "kA"), "v");
    tr_arena_free(a);
    ASSERT_STRSTR(jerror("\"a\\u0000b\""), "NUL");
    ASSERT_STREQ(jerror_len("\"a\0b\"", 5), "1:3: NUL byte");
    ASSERT_STRSTR(jerror("\"\\ud834\""), "lone high surrogate");
    ASSERT_STRSTR(jerror("\"\\ud834\\u0041\""), "lone high surrogate");
    ASSERT_STRSTR(jerror("\"\\udd1e\""), "lone low surrogate");
    ASSERT_STRSTR(jerror("\"\\x41\""), "unknown escape");
    ASSERT_STRSTR(jerror("\"\\u12\""), "four hex digits");
    ASSERT_STRSTR(jerror("\"a\tb\""), "control character");
    ASSERT_STRSTR(jerror("\"abc"), "unterminated string");
    ASSERT_STREQ(jerror("{\"a\": \"x\xaay\"}"), "1:9: invalid UTF-8");
}

TEST(json_strict_syntax)
{
    static const char *const bad[] = {"", "   ", "[1,]", "{\"a\":1,}", "{a: 1}", "{'a': 1}", "[1 2]", "01", "1.",
                                      ".5", "1e", "+1", "-", "NaN", "Infinity", "tru", "nul", "[", "{\"a\"}",
                                      "{\"a\":}", "// c\n1", "1e400", "-1e400", "[1]]", "{\"a\":1}}", "\"a\" :"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct tr_arena *a = tr_arena_new(1024);
        struct tr_buf err;
        tr_buf_init(&err, 0);
        if (tr_json_parse_one(a, bad[i], strlen(bad[i]), &err))
            tr_test_fail(__FILE__, __LINE__, "'%s' parsed, but should not", bad[i]);
        ASSERT(err.len > 0);
        tr_buf_dispose(&err);
        tr_arena_free(a);
    }
    ASSERT_STREQ(jerror("{\n  \"a\": 1,\n  \"b\": [1,]\n}"), "3:11: a trailing comma");
    ASSERT_STREQ(jerror("{\"a\": 1, \"a\": 2}"), "1: duplicate key \"a\"");
}

TEST(json_limits)
{
    struct tr_buf t;
    tr_buf_init(&t, 0);
    for (int i = 0; i < 100000; i++)
        tr_buf_putc(&t, '[');
    ASSERT_STRSTR(jerror(t.data), "deeper than 64 levels");
    tr_buf_reset(&t);
    for (int i = 0; i < TR_DECODE_MAX_DEPTH; i++)
        tr_buf_putc(&t, '[');
    for (int i = 0; i < TR_DECODE_MAX_DEPTH; i++)
        tr_buf_putc(&t, ']');
    struct tr_arena *a = tr_arena_new(4096);
    ASSERT_EQ(jparse(a, t.data)->type, TR_N_SEQ);
    tr_arena_free(a);
    tr_buf_reset(&t);
    tr_buf_putc(&t, '{');
    for (int i = 0; i < 50000; i++)
        tr_buf_printf(&t, "%s\"k%d\": %d", i ? "," : "", i % 49999, i);
    tr_buf_putc(&t, '}');
    ASSERT_STRSTR(jerror(t.data), "duplicate key \"k0\"");
    tr_buf_dispose(&t);
}

struct seen {
    int n;
    unsigned lines[4];
};

static void count_doc(void *ud, struct tr_arena *a, struct tr_node *root, unsigned line)
{
    struct seen *s = ud;
    if (s->n < 4)
        s->lines[s->n] = line;
    s->n++;
    tr_arena_free(a);
}

TEST(json_streams)
{
    /* Several values in one text, as a watch stream or `kubectl get -w -o json` writes them;
     * a byte order mark is allowed; null values are no objects. */
    const char *text = "\xEF\xBB\xBF{\"kind\": \"A\"}\n{\"kind\": \"B\"}{\"kind\":\n\"C\"}\nnull\n";
    struct seen s = {0};
    struct tr_buf err;
    tr_buf_init(&err, 0);
    ASSERT_EQ(tr_json_parse(text, strlen(text), count_doc, &s, &err), TR_OK);
    ASSERT_EQ(s.n, 3);
    ASSERT_EQ(s.lines[0], 1);
    ASSERT_EQ(s.lines[1], 2);
    ASSERT_EQ(s.lines[2], 2);
    struct seen s2 = {0};
    ASSERT_EQ(tr_json_parse("{} {} [", 7, count_doc, &s2, &err), TR_EINVAL);
    ASSERT_EQ(s2.n, 2); /* the values before the bad one are delivered */
    tr_buf_dispose(&err);
    ASSERT_STRSTR(jerror("{} {}"), "more than one JSON value");
}

/* What torii writes as JSON reads back as the same tree, with either decoder. */
TEST(json_round_trip)
{
    struct tr_arena *a = tr_arena_new(4096);
    struct tr_node *n = jparse(a, "{\"s\":\"q\\\"\\u0001é\",\"i\":-7,\"f\":0.1,\"l\":[true,null,{}],\"e\":\"\"}");
    struct tr_buf b, err;
    tr_buf_init(&b, 0);
    tr_buf_init(&err, 0);
    ASSERT_EQ(tr_node_emit_json(&b, n, 2), TR_OK);
    ASSERT(tr_node_equal(n, tr_json_parse_one(a, b.data, b.len, &err)));
    ASSERT(tr_node_equal(n, tr_yaml_parse_one(a, b.data, b.len, &err)));
    tr_buf_dispose(&b);
    tr_buf_dispose(&err);
    tr_arena_free(a);
}

struct list_got {
    int items;
    char names[8][32];
    struct tr_arena *head_a;
    struct tr_node *head;
};

static void list_item(void *ud, struct tr_arena *a, struct tr_node *root, unsigned line)
{
    struct list_got *g = ud;
    if (g->items < 8)
        snprintf(g->names[g->items], sizeof(g->names[0]), "%s", tr_node_gets(tr_node_get(root, "metadata"), "name") ?: "?");
    g->items++;
    tr_arena_free(a);
}

static void list_head(void *ud, struct tr_arena *a, struct tr_node *root, unsigned line)
{
    struct list_got *g = ud;
    g->head_a = a;
    g->head = root;
}

TEST(json_list_items_one_by_one)
{
    const char *t = "{\"kind\":\"SecretList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"42\",\"continue\":\"x\"},"
                    "\"items\":[{\"metadata\":{\"name\":\"a\"}},{\"metadata\":{\"name\":\"b\"}}]}";
    struct list_got g = {0};
    struct tr_buf err;
    tr_buf_init(&err, 0);
    ASSERT_EQ(tr_json_parse_list(t, strlen(t), "items", list_item, list_head, &g, &err), TR_OK);
    ASSERT_EQ(g.items, 2);
    ASSERT_STREQ(g.names[0], "a");
    ASSERT_STREQ(g.names[1], "b");
    ASSERT(g.head);
    ASSERT_STREQ(tr_node_gets(tr_node_get(g.head, "metadata"), "resourceVersion"), "42");
    ASSERT_STREQ(tr_node_gets(g.head, "kind"), "SecretList");
    ASSERT(!tr_node_get(g.head, "items"));
    tr_arena_free(g.head_a);

    /* Empty items, null items (a list with none), and an empty object. */
    const char *empties[] = {"{\"items\":[]}", "{\"items\":null}", "{}", " {\"metadata\":{}} \n"};
    for (size_t i = 0; i < sizeof(empties) / sizeof(*empties); i++) {
        struct list_got e = {0};
        ASSERT_EQ(tr_json_parse_list(empties[i], strlen(empties[i]), "items", list_item, list_head, &e, &err), TR_OK);
        ASSERT_EQ(e.items, 0);
        ASSERT(e.head);
        tr_arena_free(e.head_a);
    }
    tr_buf_dispose(&err);
}

TEST(json_list_refuses_what_the_strict_reader_refuses)
{
    const char *bad[] = {
        "[1,2]",                              /* not an object */
        "{\"items\":[{},]}",                  /* trailing comma in items */
        "{\"items\":[{}],}",                  /* trailing comma in the object */
        "{\"items\":[{}],\"items\":[{}]}",    /* a second items */
        "{\"kind\":\"a\",\"kind\":\"b\"}",    /* a duplicate member */
        "{\"items\":[{\"a\":1,\"a\":2}]}",    /* a duplicate key inside an item */
        "{\"items\":[{}]} {}",                /* two values */
        "{\"items\":[{}]",                    /* cut short */
        "{\"items\":[{\"a\":\"\\u0000\"}]}", /* NUL */
        "{\"items\":[\"\xff\"]}",             /* invalid UTF-8 */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        struct list_got g = {0};
        struct tr_buf err;
        tr_buf_init(&err, 0);
        int rc = tr_json_parse_list(bad[i], strlen(bad[i]), "items", list_item, list_head, &g, &err);
        if (rc == TR_OK)
            tr_test_fail(__FILE__, __LINE__, "'%s' parsed as a list", bad[i]);
        ASSERT(err.len > 0);
        ASSERT(!g.head); /* the head is given only for a valid text */
        tr_buf_dispose(&err);
    }
}

TEST(json_list_items_meet_the_document_limits_not_the_text)
{
    /* 70 MiB of items of 1 MiB each: over the one-document input limit, fine as a list. */
    size_t n = 70, item = 1 << 20;
    struct tr_buf b;
    tr_buf_init(&b, 0);
    tr_buf_puts(&b, "{\"items\":[");
    for (size_t i = 0; i < n; i++) {
        tr_buf_puts(&b, i ? ",{\"d\":\"" : "{\"d\":\"");
        for (size_t k = 0; k < item; k += 64)
            tr_buf_puts(&b, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
        tr_buf_puts(&b, "\"}");
    }
    tr_buf_puts(&b, "]}");
    ASSERT(b.len > TR_DECODE_MAX_INPUT);
    struct list_got g = {0};
    struct tr_buf err;
    tr_buf_init(&err, 0);
    ASSERT_EQ(tr_json_parse_list(b.data, b.len, "items", list_item, list_head, &g, &err), TR_OK);
    ASSERT_EQ(g.items, (int)n);
    tr_arena_free(g.head_a);
    tr_buf_dispose(&err);
    tr_buf_dispose(&b);
}
