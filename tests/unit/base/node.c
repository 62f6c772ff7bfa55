#include "test.h"
#include "util.h"

#include "api/yaml.h"
#include "base/arena.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/node.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* A tree with every type, and strings that look like other types. */
static struct tr_node *sample(struct tr_arena *a)
{
    struct tr_node *m = tr_node_new(a, TR_N_MAP);
    tr_node_set(a, m, "name", tr_node_str(a, "web"));
    tr_node_set(a, m, "port", tr_node_int(a, 8080));
    tr_node_set(a, m, "neg", tr_node_int(a, -9223372036854775807LL - 1));
    tr_node_set(a, m, "on", tr_node_bool(a, true));
    tr_node_set(a, m, "off", tr_node_bool(a, false));
    tr_node_set(a, m, "nothing", tr_node_new(a, TR_N_NULL));
    struct tr_node *f = tr_node_new(a, TR_N_FLOAT);
    f->u.f = 0.1;
    tr_node_set(a, m, "ratio", f);
    struct tr_node *tricky = tr_node_new(a, TR_N_SEQ);
    static const char *const strs[] = {"12", "true", "null", "", " lead", "trail ", "a: b", "#x", "- x", "x #y",
                                       "1.5", "0x1F", "yes", "~", "line\nbreak", "tab\there", "quote\"s",
                                       "back\\slash", "ünïcode", "{}", "[a]", "*ref", "&anchor", "!tag",
                                       "%dir", "@at", "`tick", "key:", "-", "?"};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        tr_node_push(a, tricky, tr_node_str(a, strs[i]));
    tr_node_set(a, m, "strings", tricky);
    tr_node_set(a, m, "empty_map", tr_node_new(a, TR_N_MAP));
    tr_node_set(a, m, "empty_seq", tr_node_new(a, TR_N_SEQ));
    struct tr_node *nested = tr_node_new(a, TR_N_SEQ);
    struct tr_node *item = tr_node_new(a, TR_N_MAP);
    tr_node_set(a, item, "k", tr_node_str(a, "v"));
    struct tr_node *inner = tr_node_new(a, TR_N_SEQ);
    tr_node_push(a, inner, tr_node_int(a, 1));
    tr_node_push(a, inner, tr_node_new(a, TR_N_SEQ));
    tr_node_set(a, item, "list", inner);
    tr_node_push(a, nested, item);
    struct tr_node *seqseq = tr_node_new(a, TR_N_SEQ);
    tr_node_push(a, seqseq, tr_node_str(a, "x"));
    tr_node_push(a, nested, seqseq);
    tr_node_set(a, m, "nested", nested);
    tr_node_set(a, m, "12", tr_node_str(a, "numeric key"));
    tr_node_set(a, m, "a key: with colon", tr_node_str(a, "v"));
    return m;
}

TEST(node_json_round_trip)
{
    struct tr_arena *a = tr_arena_new(4096);
    struct tr_node *m = sample(a);
    for (int indent = 0; indent <= 2; indent += 2) {
        struct tr_buf b;
        tr_buf_init(&b, 0);
        ASSERT_EQ(tr_node_emit_json(&b, m, indent), TR_OK);
        struct tr_node *back = tr_test_yaml(a, b.data);
        if (!tr_node_equal(m, back))
            tr_test_fail(__FILE__, __LINE__, "JSON (indent %d) did not round-trip:\n%s", indent, b.data);
        tr_buf_dispose(&b);
    }
    tr_arena_free(a);
}

/* A compact copy is the same tree (values, key order, lines, strings with NULs) in one block,
 * independent of the original's arena, and smaller than the grown original. */
TEST(node_compact_copy)
{
    struct tr_arena *a = tr_arena_new(4096);
    struct tr_node *m = sample(a);
    struct tr_node *deep = tr_test_yaml(a, "a: {b: [1, {c: d}, [], {}]}\ne: ''\nf: [x, y, z, w, v]\n");
    tr_node_set(a, m, "deep", deep);
    tr_node_set(a, m, "nul", tr_node_strn(a, "a\0b", 3));
    struct tr_buf want;
    tr_buf_init(&want, 0);
    tr_node_emit_json(&want, m, 0);
    size_t grown = tr_arena_used(a);
    struct tr_arena *b = tr_arena_new(256);
    struct tr_node *c = tr_node_compact(b, m);
    ASSERT(tr_node_equal(m, c));
    ASSERT(tr_arena_used(b) < grown);
    ASSERT_EQ(tr_node_get(c, "deep")->line, deep->line);
    ASSERT_EQ(tr_node_get(c, "nul")->n, 3);
    tr_arena_free(a); /* the copy stands alone */
    struct tr_buf got;
    tr_buf_init(&got, 0);
    tr_node_emit_json(&got, c, 0);
    ASSERT_STREQ(got.data, want.data);
    ASSERT_NULL(tr_node_compact(b, NULL));
    tr_buf_dispose(&got);
    tr_buf_dispose(&want);
    tr_arena_free(b);
}

/* A node keeps no capacity (16 bytes): arrays grown by set/push have an implied one, arrays
 * made at their length (parsed, compacted) none to spare. Appending to either, after deletes
 * too, must keep every entry (ASan checks the bounds). */
TEST(node_arrays_grow_without_a_stored_capacity)
{
    ASSERT_EQ(sizeof(struct tr_node), 16);
    struct tr_arena *a = tr_arena_new(256);
    struct tr_node *seq = tr_node_new(a, TR_N_SEQ);
    for (int i = 0; i < 100; i++)
        tr_node_push(a, seq, tr_node_int(a, i));
    struct tr_node *parsed = tr_test_yaml(a, "a: 1\nb: 2\nc: 3\nl: [1, 2, 3]\n");
    struct tr_node *packed = tr_node_compact(a, parsed);
    struct tr_node *maps[] = {parsed, packed};
    for (size_t m = 0; m < 2; m++) {
        struct tr_node *map = maps[m];
        tr_node_del(map, "b");
        for (int i = 0; i < 40; i++) {
            char k[16];
            snprintf(k, sizeof(k), "k%d", i);
            tr_node_set(a, map, k, tr_node_int(a, i));
            if (i % 7 == 0)
                tr_node_del(map, "a");
        }
        ASSERT_EQ(tr_node_len(map), 2 + 40); /* c, l and k0..k39 */
        ASSERT_EQ(tr_node_geti(map, "k39", -1), 39);
        ASSERT_EQ(tr_node_geti(map, "c", -1), 3);
        struct tr_node *l = tr_node_get(map, "l");
        for (int i = 0; i < 10; i++)
            tr_node_push(a, l, tr_node_int(a, i));
        ASSERT_EQ(tr_node_len(l), 13);
        ASSERT_EQ(tr_node_at(l, 2)->u.i, 3);
        ASSERT_EQ(tr_node_at(l, 12)->u.i, 9);
    }
    ASSERT_EQ(tr_node_len(seq), 100);
    for (int i = 0; i < 100; i++)
        ASSERT_EQ(tr_node_at(seq, (size_t)i)->u.i, i);
    tr_arena_free(a);
}

TEST(node_yaml_round_trip)
{
    struct tr_arena *a = tr_arena_new(4096);
    struct tr_node *m = sample(a);
    struct tr_buf b;
    tr_buf_init(&b, 0);
    ASSERT_EQ(tr_node_emit_yaml(&b, m), TR_OK);
    struct tr_node *back = tr_test_yaml(a, b.data);
    if (!tr_node_equal(m, back))
        tr_test_fail(__FILE__, __LINE__, "YAML did not round-trip:\n%s", b.data);
    tr_buf_dispose(&b);
    tr_arena_free(a);
}

TEST(node_yaml_emit_shape)
{
    struct tr_arena *a = tr_arena_new(4096);
    struct tr_node *n = tr_test_yaml(a, "{kind: Gateway, spec: {listeners: [{name: http, port: 80}]}, s: '12'}");
    struct tr_buf b;
    tr_buf_init(&b, 0);
    tr_node_emit_yaml(&b, n);
    /* Block style, sequences at the key's indentation (kubectl), "12" kept a string. */
    ASSERT_STREQ(b.data, "kind: Gateway\nspec:\n  listeners:\n  - name: http\n    port: 80\ns: \"12\"\n");
    tr_buf_reset(&b);
    tr_node_emit_json(&b, n, 0);
    ASSERT_STREQ(b.data, "{\"kind\":\"Gateway\",\"spec\":{\"listeners\":[{\"name\":\"http\",\"port\":80}]},\"s\":\"12\"}");
    tr_buf_reset(&b);
    tr_node_emit_yaml(&b, NULL);
    ASSERT_STREQ(b.data, "null\n");
    tr_buf_dispose(&b);
    tr_arena_free(a);
}

TEST(node_yaml_string_that_reads_as_float_is_quoted)
{
    /* ".inf" and ".nan" are floats in the YAML 1.2 core schema: as strings they need quotes. */
    struct tr_arena *a = tr_arena_new(4096);
    static const char *const strs[] = {".inf", "-.Inf", "+.INF", ".nan", ".NaN", "1e5", "-.5", "0o17"};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        struct tr_node *s = tr_node_str(a, strs[i]);
        struct tr_buf b;
        tr_buf_init(&b, 0);
        tr_node_emit_yaml(&b, s);
        struct tr_node *back = tr_test_yaml(a, b.data);
        if (!tr_node_equal(s, back))
            tr_test_fail(__FILE__, __LINE__, "string %s emitted as %s reads back as %s", strs[i], b.data,
                         tr_node_typename(back));
        tr_buf_dispose(&b);
    }
    tr_arena_free(a);
}

TEST(node_json_escapes_and_nonfinite)
{
    struct tr_arena *a = tr_arena_new(4096);
    struct tr_buf b;
    tr_buf_init(&b, 0);
    tr_json_quote(&b, "a\"b\\c\n\x01\x7f", 8);
    ASSERT_STREQ(b.data, "\"a\\\"b\\\\c\\n\\u0001\\u007f\"");
    tr_buf_reset(&b);
    /* What a YAML reader refuses raw or folds as a line break is escaped; the rest stays. */
    const char *odd = "\xc2\x85\xc2\x9e\xc2\xa0\xe2\x80\xa8\xe2\x80\xa9\xef\xbf\xbe\xef\xbf\xbf\xef\xbf\xbd\xe2\x82\xac";
    tr_json_quote(&b, odd, strlen(odd));
    ASSERT_STREQ(b.data, "\"\\u0085\\u009e\xc2\xa0\\u2028\\u2029\\ufffe\\uffff\xef\xbf\xbd\xe2\x82\xac\"");
    tr_buf_reset(&b);
    struct tr_node *f = tr_node_new(a, TR_N_FLOAT);
    f->u.f = INFINITY;
    tr_node_emit_json(&b, f, 0);
    ASSERT_STREQ(b.data, "null"); /* JSON has no infinity */
    tr_buf_dispose(&b);
    tr_arena_free(a);
}

TEST(node_json_is_utf8_whatever_the_bytes)
{
    /* Well-formed sequences pass; every byte of an ill-formed one becomes U+FFFD (RFC 3629:
     * overlong forms, surrogates, truncated sequences, stray continuation bytes). */
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"caf\xc3\xa9 \xf0\x9f\x98\x80", "\"caf\xc3\xa9 \xf0\x9f\x98\x80\""},
        {"\xff.yaml", "\"\\ufffd.yaml\""},
        {"\xc0\xaf", "\"\\ufffd\\ufffd\""},
        {"\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\""},
        {"a\xe2\x82", "\"a\\ufffd\\ufffd\""},
        {"\x80z", "\"\\ufffdz\""},
        {"\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\""},
    };
    struct tr_buf b;
    tr_buf_init(&b, 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tr_buf_reset(&b);
        tr_json_quote(&b, cases[i].in, strlen(cases[i].in));
        ASSERT_STREQ(b.data, cases[i].out);
    }
    tr_buf_dispose(&b);
}

TEST(node_emit_limit)
{
    struct tr_arena *a = tr_arena_new(4096);
    struct tr_buf b;
    tr_buf_init(&b, 16);
    ASSERT_EQ(tr_node_emit_json(&b, sample(a), 0), TR_ELIMIT);
    ASSERT(b.len <= 16);
    tr_buf_reset(&b);
    ASSERT_EQ(tr_node_emit_yaml(&b, sample(a)), TR_ELIMIT);
    tr_buf_dispose(&b);
    tr_arena_free(a);
}

TEST(node_equal_ignores_map_order_not_seq_order)
{
    struct tr_arena *a = tr_arena_new(4096);
    ASSERT(tr_node_equal(tr_test_yaml(a, "{a: 1, b: [x, y]}"), tr_test_yaml(a, "{b: [x, y], a: 1}")));
    ASSERT(!tr_node_equal(tr_test_yaml(a, "{a: 1, b: [x, y]}"), tr_test_yaml(a, "{a: 1, b: [y, x]}")));
    ASSERT(!tr_node_equal(tr_test_yaml(a, "{a: 1}"), tr_test_yaml(a, "{a: 1, b: 2}")));
    ASSERT(!tr_node_equal(tr_test_yaml(a, "{a: 1, c: 2}"), tr_test_yaml(a, "{a: 1, b: 2}")));
    ASSERT(!tr_node_equal(tr_test_yaml(a, "a: 1"), tr_test_yaml(a, "a: '1'"))); /* types differ */
    ASSERT(!tr_node_equal(tr_test_yaml(a, "a: 1"), tr_test_yaml(a, "a: 1.0")));
    ASSERT(!tr_node_equal(tr_test_yaml(a, "[true]"), tr_test_yaml(a, "[false]")));
    ASSERT(tr_node_equal(NULL, NULL));
    ASSERT(!tr_node_equal(NULL, tr_test_yaml(a, "x")));
    /* Strings compare by length, not just up to a NUL. */
    ASSERT(!tr_node_equal(tr_node_strn(a, "a\0b", 3), tr_node_strn(a, "a\0c", 3)));
    ASSERT(!tr_node_equal(tr_node_strn(a, "a\0b", 3), tr_node_str(a, "a")));
    tr_arena_free(a);
}

/* {k0: 0, k1: 1, ...} of n keys, in order or reversed, as YAML text (free it). */
static char *big_map_text(unsigned n, bool reversed)
{
    size_t cap = (size_t)n * 32 + 4, len = 1;
    char *t = malloc(cap);
    t[0] = '{';
    for (unsigned i = 0; i < n; i++) {
        unsigned k = reversed ? n - 1 - i : i;
        len += (size_t)snprintf(t + len, cap - len, "%sk%u: %u", i ? ", " : "", k, k);
    }
    snprintf(t + len, cap - len, "}");
    return t;
}

TEST(node_equal_and_hash_agree_on_big_maps)
{
    /* Past 16 keys out of order, equality goes through an index; the hash ignores the order
     * as equality does. */
    struct tr_arena *a = tr_arena_new(4096);
    char *fwd = big_map_text(2000, false), *rev = big_map_text(2000, true);
    struct tr_node *x = tr_test_yaml(a, fwd), *y = tr_test_yaml(a, rev), *z = tr_test_yaml(a, rev);
    ASSERT(tr_node_equal(x, y));
    ASSERT_EQ(tr_node_hash(x), tr_node_hash(y));
    z->u.kv[1000].val = tr_node_int(a, -1); /* one value differs */
    ASSERT(!tr_node_equal(x, z));
    ASSERT(tr_node_hash(x) != tr_node_hash(z));
    z->u.kv[1000].val = y->u.kv[1000].val;
    z->u.kv[1000].key = "other"; /* one key differs */
    ASSERT(!tr_node_equal(x, z));
    free(fwd);
    free(rev);
    ASSERT_EQ(tr_node_hash(tr_test_yaml(a, "{a: 1, b: [x]}")), tr_node_hash(tr_test_yaml(a, "{b: [x], a: 1}")));
    ASSERT(tr_node_hash(tr_test_yaml(a, "[x, y]")) != tr_node_hash(tr_test_yaml(a, "[y, x]")));
    ASSERT(tr_node_hash(tr_test_yaml(a, "1")) != tr_node_hash(tr_test_yaml(a, "'1'")));
    tr_arena_free(a);
}

TEST(node_clone_is_deep)
{
    struct tr_arena *a = tr_arena_new(4096);
    struct tr_arena *b = tr_arena_new(4096);
    struct tr_node *orig = sample(a);
    struct tr_node *copy = tr_node_clone(b, orig);
    ASSERT(tr_node_equal(orig, copy));
    /* Changing the copy leaves the original alone. */
    tr_node_set(b, tr_node_at(tr_node_get(copy, "nested"), 0), "k", tr_node_str(b, "changed"));
    ASSERT_STREQ(tr_node_gets(tr_node_at(tr_node_get(orig, "nested"), 0), "k"), "v");
    ASSERT(!tr_node_equal(orig, copy));
    /* The copy outlives the original's arena. */
    tr_arena_free(a);
    ASSERT_STREQ(tr_node_gets(copy, "name"), "web");
    ASSERT_EQ(tr_node_geti(copy, "port", 0), 8080);
    ASSERT_NULL(tr_node_clone(b, NULL));
    tr_arena_free(b);
}

TEST(node_set_del_push_and_readers)
{
    struct tr_arena *a = tr_arena_new(4096);
    struct tr_node *m = tr_node_new(a, TR_N_MAP);
    for (int i = 0; i < 20; i++) {
        char k[8];
        snprintf(k, sizeof(k), "k%d", i);
        tr_node_set(a, m, k, tr_node_int(a, i));
    }
    tr_node_set(a, m, "k3", tr_node_str(a, "three")); /* replaced in place */
    ASSERT_EQ(tr_node_len(m), 20);
    ASSERT_STREQ(m->u.kv[3].key, "k3");
    ASSERT_STREQ(tr_node_gets(m, "k3"), "three");
    tr_node_del(m, "k0");
    tr_node_del(m, "nope");
    ASSERT_EQ(tr_node_len(m), 19);
    ASSERT_STREQ(m->u.kv[0].key, "k1"); /* order kept */
    ASSERT_NULL(tr_node_get(m, "k0"));
    ASSERT_EQ(tr_node_geti(m, "k19", -1), 19);
    ASSERT_EQ(tr_node_geti(m, "k3", -1), -1); /* wrong type: the default */
    ASSERT_EQ(tr_node_getb(m, "k1", true), true);
    ASSERT_NULL(tr_node_gets(m, "k1"));
    ASSERT_NULL(tr_node_get(NULL, "x"));
    ASSERT_NULL(tr_node_at(m, 0)); /* not a sequence */
    ASSERT_EQ(tr_node_len(tr_node_int(a, 3)), 0);

    struct tr_node *doc = tr_test_yaml(a, "spec: {tls: {mode: Terminate}}\nlist: [a, b]\n");
    ASSERT_STREQ(tr_node_path(doc, "spec.tls.mode")->u.s, "Terminate");
    ASSERT_NULL(tr_node_path(doc, "spec.tls.missing"));
    ASSERT_NULL(tr_node_path(doc, "spec.tls.mode.deeper"));
    ASSERT_STREQ(tr_node_at(tr_node_get(doc, "list"), 1)->u.s, "b");
    ASSERT_NULL(tr_node_at(tr_node_get(doc, "list"), 2));
    ASSERT_STREQ(tr_node_typename(tr_node_get(doc, "list")), "array");
    ASSERT_STREQ(tr_node_typename(NULL), "null");
    tr_arena_free(a);
}

TEST(node_scalar_text_truncates)
{
    struct tr_arena *a = tr_arena_new(4096);
    char out[6];
    ASSERT_EQ(tr_node_scalar_text(tr_node_str(a, "abcdefgh"), out, sizeof(out)), 5);
    ASSERT_STREQ(out, "abcde");
    ASSERT_EQ(tr_node_scalar_text(NULL, out, sizeof(out)), 4);
    ASSERT_STREQ(out, "null");
    tr_node_scalar_text(tr_node_int(a, -42), out, sizeof(out));
    ASSERT_STREQ(out, "-42");
    tr_node_scalar_text(tr_node_new(a, TR_N_MAP), out, sizeof(out));
    ASSERT_STREQ(out, "{...}");
    tr_arena_free(a);
}

TEST(node_float_stays_float)
{
    /* A float with an integral value must not come back as an integer. */
    struct tr_arena *a = tr_arena_new(4096);
    struct tr_node *f = tr_node_new(a, TR_N_FLOAT);
    f->u.f = 2500;
    struct tr_buf b;
    tr_buf_init(&b, 0);
    tr_node_emit_json(&b, f, 0);
    ASSERT_STREQ(b.data, "2500.0");
    struct tr_node *back = tr_test_yaml(a, b.data);
    ASSERT_EQ(back->type, TR_N_FLOAT);
    tr_buf_reset(&b);
    f->u.f = 1e300;
    tr_node_emit_yaml(&b, f);
    ASSERT_STREQ(b.data, "1.0000000000000001e+300\n");
    ASSERT_EQ(tr_test_yaml(a, b.data)->type, TR_N_FLOAT);
    tr_buf_dispose(&b);
    tr_arena_free(a);
}

TEST(node_yaml_long_keys_are_explicit)
{
    /* YAML limits implicit keys to 1024 characters: a longer key is written "? key" / ": value"
     * and reads back the same (found by fuzz-json_decode). */
    struct tr_arena *a = tr_arena_new(4096);
    char key[1500];
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    struct tr_node *m = tr_node_new(a, TR_N_MAP), *inner = tr_node_new(a, TR_N_SEQ);
    tr_node_push(a, inner, tr_node_int(a, 1));
    tr_node_set(a, m, key, inner);
    tr_node_set(a, m, "short", tr_node_str(a, key));
    struct tr_buf b, err;
    tr_buf_init(&b, 0);
    tr_buf_init(&err, 0);
    ASSERT_EQ(tr_node_emit_yaml(&b, m), TR_OK);
    ASSERT(strncmp(b.data, "? kkk", 5) == 0);
    struct tr_node *back = tr_yaml_parse_one(a, b.data, b.len, &err);
    ASSERT(back && tr_node_equal(m, back));
    tr_buf_dispose(&b);
    tr_buf_dispose(&err);
    tr_arena_free(a);
}

/* Compacted trees share their map keys (interned), up to a bound: past it, keys are copied, and
 * a long key always is. Either way the copy reads as the original. */
TEST(node_compact_interns_keys_within_a_bound)
{
    struct tr_arena *a = tr_arena_new(4096);
    struct tr_node *x = tr_test_yaml(a, "spec: {parentRefs: [{name: gw}]}\n");
    struct tr_node *y = tr_test_yaml(a, "spec: {parentRefs: [{name: other}]}\n");
    struct tr_node *cx = tr_node_compact(a, x), *cy = tr_node_compact(a, y);
    ASSERT(cx->u.kv[0].key == cy->u.kv[0].key); /* "spec": one copy for both */
    struct tr_node *big = tr_node_new(a, TR_N_MAP);
    char k[96];
    for (int i = 0; i < 6000; i++) {
        snprintf(k, sizeof(k), "label-key-%05d", i);
        tr_node_set(a, big, k, tr_node_int(a, i));
    }
    memset(k, 'k', 80);
    k[80] = '\0';
    tr_node_set(a, big, k, tr_node_int(a, -1));
    struct tr_node *c = tr_node_compact(a, big);
    ASSERT(tr_node_equal(big, c));
    ASSERT_EQ(tr_node_geti(c, "label-key-05999", 0), 5999);
    ASSERT_EQ(tr_node_geti(c, k, 0), -1);
    tr_arena_free(a);
}

/* Shared packed trees: equal trees (keys in the same order) share one copy, whose tree emits the
 * same JSON byte for byte; a different order or value is another copy; many come and go (the
 * table grows and shrinks; ASan: nothing kept or freed twice). */
static char *json_of(const struct tr_node *n)
{
    struct tr_buf b;
    tr_buf_init(&b, 0);
    tr_node_emit_json(&b, n, 0);
    return tr_buf_steal(&b);
}

TEST(node_share_packed_keeps_one_copy)
{
    static const char *const dict[] = {"Accepted", "True", NULL};
    struct tr_arena *a = tr_arena_new(4096);
    const char *y1 = "parents: [{parentRef: {name: gw, namespace: ns}, conditions: [{type: Accepted, status: "
                     "\"True\", observedGeneration: 3, message: \"a message\"}]}]\n";
    struct tr_node *x = tr_test_yaml(a, y1), *y = tr_test_yaml(a, y1);
    struct tr_node *reordered =
        tr_test_yaml(a, "parents: [{parentRef: {namespace: ns, name: gw}, conditions: [{type: Accepted, status: "
                        "\"True\", observedGeneration: 3, message: \"a message\"}]}]\n");
    const struct tr_packed *px = tr_node_share_packed(x, dict), *py = tr_node_share_packed(y, dict);
    const struct tr_packed *pr = tr_node_share_packed(reordered, dict);
    ASSERT(px == py);
    ASSERT(pr != px);
    ASSERT(tr_packed_len(px) < 120); /* the dictionary's values a byte each, no 16-byte nodes */
    char *jx = json_of(x), *jp = json_of(tr_packed_tree(a, px)), *jr = json_of(tr_packed_tree(a, pr));
    ASSERT_STREQ(jp, jx);
    ASSERT(strcmp(jr, jx) != 0);
    free(jx);
    free(jp);
    free(jr);
    ASSERT_NULL(tr_node_share_packed(NULL, dict));
    ASSERT_NULL(tr_packed_tree(a, NULL));
    tr_packed_release(NULL);
    const struct tr_packed *many[2000];
    for (int i = 0; i < 2000; i++) {
        char yml[64];
        snprintf(yml, sizeof(yml), "{observedGeneration: %d}", i);
        many[i] = tr_node_share_packed(tr_test_yaml(a, yml), dict);
    }
    for (int i = 0; i < 2000; i++) {
        ASSERT_EQ(tr_node_geti(tr_packed_tree(a, many[i]), "observedGeneration", -1), i);
        tr_packed_release(many[i]);
    }
    tr_packed_release(py);
    ASSERT_EQ(tr_node_geti(tr_node_get(tr_node_at(tr_node_get(tr_packed_tree(a, px), "parents"), 0), "parentRef"),
                           "x", 7), 7); /* still held once: readable */
    tr_packed_release(px);
    tr_packed_release(pr);
    tr_arena_free(a);
}

/* A packed tree unpacks to the same tree, key order and all (its JSON is byte for byte the
 * original's): every type, extreme integers, strings with NULs, keys too long to intern. It is
 * several times smaller than the compact tree, and its strings are read in place. */
TEST(node_pack_round_trip)
{
    struct tr_arena *a = tr_arena_new(4096);
    struct tr_node *m = sample(a);
    tr_node_set(a, m, "max", tr_node_int(a, INT64_MAX));
    tr_node_set(a, m, "nul", tr_node_strn(a, "a\0b", 3));
    char longkey[100];
    memset(longkey, 'q', 99);
    longkey[99] = '\0';
    tr_node_set(a, m, longkey, tr_node_str(a, "long key, copied inline"));
    struct tr_buf p;
    tr_buf_init(&p, 0);
    ASSERT_EQ(tr_node_pack(&p, m, NULL), TR_OK);
    struct tr_arena *u = tr_arena_new(4096);
    struct tr_node *back = tr_node_unpack(u, p.data, p.len, NULL);
    ASSERT(tr_node_equal(m, back));
    struct tr_buf j1, j2;
    tr_buf_init(&j1, 0);
    tr_buf_init(&j2, 0);
    tr_node_emit_json(&j1, m, 0);
    tr_node_emit_json(&j2, back, 0);
    ASSERT_STREQ(j1.data, j2.data);
    const struct tr_node *nul = tr_node_get(back, "nul");
    ASSERT_EQ(nul->n, 3);
    ASSERT(memcmp(nul->u.s, "a\0b", 4) == 0);
    ASSERT(tr_node_gets(back, "name") >= p.data && tr_node_gets(back, "name") < p.data + p.len);
    ASSERT_EQ(tr_node_geti(back, "neg", 0), INT64_MIN);
    ASSERT_EQ(tr_node_geti(back, "max", 0), INT64_MAX);
    /* A tree that is a single scalar packs too. */
    struct tr_buf one;
    tr_buf_init(&one, 0);
    tr_node_pack(&one, tr_node_int(a, -3), NULL);
    ASSERT_EQ(tr_node_unpack(u, one.data, one.len, NULL)->u.i, -3);
    tr_buf_dispose(&one);
    /* Smaller than the compact tree: a route of the benchmarks' kind. */
    struct tr_node *route = tr_test_yaml(a, "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
                                            "metadata: {name: r, namespace: ns}\nspec:\n  parentRefs: [{name: gw}]\n"
                                            "  rules:\n  - matches: [{path: {type: PathPrefix, value: /a}}]\n"
                                            "    backendRefs: [{name: s, port: 80, weight: 1}]\n");
    struct tr_buf rp;
    tr_buf_init(&rp, 0);
    tr_node_pack(&rp, route, NULL);
    size_t before = tr_arena_used(u);
    tr_node_compact(u, route);
    ASSERT(rp.len * 2 < tr_arena_used(u) - before); /* 4x with interned keys; 2x even with keys inline */
    /* With a dictionary, the strings in it are a byte each, and unpack to the dictionary's. */
    static const char *const dict[] = {"gateway.networking.k8s.io/v1", "HTTPRoute", "PathPrefix", NULL};
    struct tr_buf dp;
    tr_buf_init(&dp, 0);
    tr_node_pack(&dp, route, dict);
    ASSERT_EQ(dp.len + 28 + 9 + 10, rp.len); /* each: its bytes and NUL for an index byte */
    struct tr_node *dback = tr_node_unpack(u, dp.data, dp.len, dict);
    ASSERT(tr_node_equal(dback, route));
    ASSERT(tr_node_gets(dback, "kind") == dict[1]);
    tr_buf_dispose(&dp);
    tr_buf_dispose(&rp);
    /* A string written before (two bytes or more) is a reference back to it, and unpacks to the
     * same bytes in place, NULs and all. */
    struct tr_node *rep = tr_node_new(a, TR_N_SEQ), *uniq = tr_node_new(a, TR_N_SEQ);
    const char *vals[] = {"route-00001", "x", "route-00001", "x", "route-00001"};
    for (int i = 0; i < 5; i++) {
        tr_node_push(a, rep, tr_node_str(a, vals[i]));
        tr_node_push(a, uniq, tr_node_str(a, tr_arena_printf(a, "route-0000%d", i + 2)));
    }
    tr_node_push(a, rep, tr_node_strn(a, "a\0b", 3));
    tr_node_push(a, rep, tr_node_strn(a, "a\0b", 3));

    struct tr_buf sp, up;
    tr_buf_init(&sp, 0);
    tr_buf_init(&up, 0);
    ASSERT_EQ(tr_node_pack(&sp, rep, NULL), TR_OK);
    ASSERT_EQ(tr_node_pack(&up, uniq, NULL), TR_OK);
    ASSERT(sp.len < up.len);
    struct tr_node *sback = tr_node_unpack(u, sp.data, sp.len, NULL);
    ASSERT(tr_node_equal(sback, rep));
    ASSERT(sback->u.items[0]->u.s == sback->u.items[4]->u.s);
    ASSERT(sback->u.items[1]->u.s != sback->u.items[3]->u.s); /* one byte: written again */
    ASSERT_EQ(sback->u.items[6]->n, 3);
    ASSERT(sback->u.items[5]->u.s == sback->u.items[6]->u.s);
    /* Lengths in the tag (below 29) and after it, around the edge, and long ones again. */
    const char *edge[] = {"", "0123456789012345678901234567", "01234567890123456789012345678",
                          "a string long enough for its length to follow its tag", "0123456789012345678901234567",
                          "a string long enough for its length to follow its tag"};
    struct tr_node *edges = tr_node_new(a, TR_N_SEQ);
    for (size_t i = 0; i < 6; i++)
        tr_node_push(a, edges, tr_node_str(a, edge[i]));
    struct tr_buf ep;
    tr_buf_init(&ep, 0);
    ASSERT_EQ(tr_node_pack(&ep, edges, NULL), TR_OK);
    struct tr_node *eback = tr_node_unpack(u, ep.data, ep.len, NULL);
    for (size_t i = 0; i < 6; i++)
        ASSERT_STREQ(eback->u.items[i]->u.s, edge[i]);
    ASSERT(eback->u.items[4]->u.s == eback->u.items[1]->u.s);
    ASSERT(eback->u.items[5]->u.s == eback->u.items[3]->u.s);
    tr_buf_dispose(&ep);
    tr_buf_dispose(&sp);
    tr_buf_dispose(&up);
    /* Keys are named by id: the first 224 interned take a byte, later ones two, and past the
     * table's bound a key is inline (which of them these are depends on the tests run before). */
    struct tr_node *many = tr_node_new(a, TR_N_MAP);
    for (int i = 0; i < 400; i++)
        tr_node_set(a, many, tr_arena_printf(a, "pack-key-%d", i), tr_node_bool(a, i % 2));
    struct tr_buf mp;
    tr_buf_init(&mp, 0);
    ASSERT_EQ(tr_node_pack(&mp, many, NULL), TR_OK);
    ASSERT(mp.len > 3 + 400 * 2); /* map tag, count; per key a byte or more and a bool's tag */
    struct tr_node *mback = tr_node_unpack(u, mp.data, mp.len, NULL);
    ASSERT(tr_node_equal(mback, many));
    ASSERT_STREQ(mback->u.kv[399].key, "pack-key-399");
    tr_buf_dispose(&mp);
    tr_buf_dispose(&j1);
    tr_buf_dispose(&j2);
    tr_buf_dispose(&p);
    tr_arena_free(u);
    tr_arena_free(a);
}
