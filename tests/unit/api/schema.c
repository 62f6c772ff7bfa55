#include "test.h"

#include "api/schema.h"
#include "api/yaml.h"
#include "base/arena.h"
#include "base/buf.h"
#include "base/mem.h"
#include "base/node.h"

#include <stdlib.h>
#include <time.h>

/* Small hand-made tables: the engine is tested here, the real kinds by tests/validation. */

static int rule_runs;

static bool rule_no_forbidden(const struct tr_node *self, const struct tr_node *old)
{
    rule_runs++;
    return !tr_node_get(self, "forbidden");
}

static bool rule_immutable(const struct tr_node *self, const struct tr_node *old)
{
    return !old || tr_node_equal(self, old);
}

static const char *check_even(const struct tr_node *self)
{
    return self->u.i % 2 ? "must be even" : NULL;
}

static const struct tr_schema s_str = {.type = TR_S_STR};
static const struct tr_schema s_port = {.type = TR_S_INT, .format = "int32", .flags = TR_S_MINIMUM | TR_S_MAXIMUM,
                                        .minimum = 1, .maximum = 65535, .def = "80"};
static const struct tr_schema s_mode = {.type = TR_S_STR, .enums = (const char *const[]){"Terminate", "Passthrough", NULL}};
static const struct tr_schema s_host = {.type = TR_S_STR, .flags = TR_S_MIN_LEN | TR_S_MAX_LEN, .min_len = 1,
                                        .max_len = 5, .pattern = "^[a-zé]+$"};
static const struct tr_schema s_even = {.type = TR_S_INT, .check = check_even, .check_desc = "even"};
static const struct tr_schema s_when = {.type = TR_S_STR, .format = "date-time"};
static const struct tr_schema s_bytes = {.type = TR_S_STR, .format = "byte"};
static const struct tr_schema s_target = {.type = TR_S_ANY, .format = "int-or-string",
                                          .flags = TR_S_MINIMUM | TR_S_MAXIMUM, .minimum = 1, .maximum = 9};
static const struct tr_schema s_ctrl = {
    .type = TR_S_STR,
    .cel = (const struct tr_cel[]){{rule_immutable, "self == oldSelf", "Value is immutable", NULL, NULL}, {NULL}}};
static const struct tr_schema s_item = {
    .type = TR_S_OBJ,
    .fields = (const struct tr_sfield[]){{"name", &s_str, true}, {"port", &s_port, false}, {"ctrl", &s_ctrl, false}, {NULL}}};
static const struct tr_schema s_list = {.type = TR_S_ARR, .items = &s_item, .flags = TR_S_MIN_ITEMS | TR_S_MAX_ITEMS,
                                        .min_items = 1, .max_items = 3, .list_type = TR_LIST_MAP,
                                        .list_keys = (const char *const[]){"name", NULL}};
static const struct tr_schema s_set = {.type = TR_S_ARR, .items = &s_str, .list_type = TR_LIST_SET};
static const struct tr_schema s_labels = {.type = TR_S_MAP, .items = &s_str, .flags = TR_S_MAX_PROPS, .max_props = 2};
static const struct tr_schema s_free = {.type = TR_S_OBJ, .flags = TR_S_PRESERVE,
                                        .fields = (const struct tr_sfield[]){{"known", &s_str, false}, {NULL}}};
static const struct tr_schema s_tls = {.type = TR_S_OBJ, .def = "{\"mode\": \"Terminate\"}",
                                       .fields = (const struct tr_sfield[]){{"mode", &s_mode, false}, {NULL}}};
static const struct tr_schema s_spec = {
    .type = TR_S_OBJ,
    .fields = (const struct tr_sfield[]){{"host", &s_host, false},  {"listeners", &s_list, false},
                                         {"tags", &s_set, false},   {"labels", &s_labels, false},
                                         {"extra", &s_free, false}, {"tls", &s_tls, false},
                                         {"even", &s_even, false},  {"when", &s_when, false},
                                         {"port", &s_port, false},  {"forbidden", &s_str, false},
                                         {"blob", &s_bytes, false}, {"target", &s_target, false},
                                         {NULL}},
    .cel = (const struct tr_cel[]){{rule_no_forbidden, "!has(self.forbidden)", "forbidden is forbidden", ".forbidden",
                                    "FieldValueForbidden"},
                                   {NULL}}};
static const struct tr_schema s_root = {
    .type = TR_S_OBJ, .fields = (const struct tr_sfield[]){{"spec", &s_spec, true}, {NULL}}};

struct result {
    struct tr_arena *a;
    struct tr_node *n;
    struct tr_verrs errs;
    size_t count;
};

static struct tr_node *yaml(struct tr_arena *a, const char *text)
{
    struct tr_buf err;
    tr_buf_init(&err, 0);
    struct tr_node *n = tr_yaml_parse_one(a, text, strlen(text), &err);
    if (!n)
        tr_test_fail(__FILE__, __LINE__, "bad test YAML: %s", err.data);
    tr_buf_dispose(&err);
    return n;
}

static void check(struct result *r, const char *text, const char *old_text)
{
    r->a = tr_arena_new(4096);
    r->n = yaml(r->a, text);
    tr_verrs_init(&r->errs);
    rule_runs = 0;
    r->count = tr_schema_validate(r->a, &s_root, r->n, old_text ? yaml(r->a, old_text) : NULL, "", &r->errs);
}

static void done(struct result *r)
{
    tr_verrs_dispose(&r->errs);
    tr_arena_free(r->a);
}

/* The message of the error at path, or NULL. */
static const char *err_at(const struct result *r, const char *path)
{
    for (size_t i = 0; i < r->errs.n; i++)
        if (strcmp(r->errs.v[i].path, path) == 0)
            return r->errs.v[i].msg;
    return NULL;
}

static void dump_errs(const struct result *r)
{
    for (size_t i = 0; i < r->errs.n; i++)
        printf("    %s: %s\n", r->errs.v[i].path, r->errs.v[i].msg);
}

#define ASSERT_VALID(r)                                                                            \
    do {                                                                                           \
        if ((r)->count) {                                                                          \
            dump_errs(r);                                                                          \
            tr_test_fail(__FILE__, __LINE__, "%zu unexpected errors", (r)->count);                 \
        }                                                                                          \
    } while (0)

TEST(schema_valid_object_and_defaults)
{
    struct result r;
    check(&r, "spec:\n  host: abc\n  listeners:\n  - name: a\n  - name: b\n    port: 8080\n", NULL);
    ASSERT_VALID(&r);
    ASSERT_EQ(r.errs.n, 0);
    struct tr_node *spec = tr_node_get(r.n, "spec");
    /* Absent fields with a default get it; given ones are kept. */
    ASSERT_EQ(tr_node_geti(tr_node_at(tr_node_get(spec, "listeners"), 0), "port", 0), 80);
    ASSERT_EQ(tr_node_geti(tr_node_at(tr_node_get(spec, "listeners"), 1), "port", 0), 8080);
    ASSERT_EQ(tr_node_geti(spec, "port", 0), 80);
    /* An object default is applied, then validated like the rest. */
    ASSERT_STREQ(tr_node_gets(tr_node_get(spec, "tls"), "mode"), "Terminate");
    ASSERT_EQ(rule_runs, 1);
    done(&r);
}

TEST(schema_required)
{
    struct result r;
    check(&r, "other: 1\n", NULL);
    ASSERT_STREQ(err_at(&r, "spec"), "Required value");
    ASSERT_STRSTR(err_at(&r, "other"), "unknown field");
    done(&r);
    check(&r, "spec:\n  listeners:\n  - port: 80\n", NULL);
    ASSERT_STREQ(err_at(&r, "spec.listeners[0].name"), "Required value");
    done(&r);
    /* An explicit null is pruned, so a required field set to null is missing. */
    check(&r, "spec: null\n", NULL);
    ASSERT_STREQ(err_at(&r, "spec"), "Required value");
    done(&r);
}

TEST(schema_types)
{
    struct result r;
    check(&r, "spec:\n  host: 12\n  port: \"80\"\n  tags: {a: b}\n", NULL);
    ASSERT_STREQ(err_at(&r, "spec.host"), "Invalid value: 12: must be of type string");
    ASSERT_STREQ(err_at(&r, "spec.port"), "Invalid value: \"80\": must be of type integer");
    ASSERT_STRSTR(err_at(&r, "spec.tags"), "must be of type array");
    done(&r);
}

TEST(schema_enum)
{
    struct result r;
    check(&r, "spec:\n  tls: {mode: Bogus}\n", NULL);
    ASSERT_STREQ(err_at(&r, "spec.tls.mode"), "Unsupported value: \"Bogus\": supported values: \"Terminate\", \"Passthrough\"");
    done(&r);
    check(&r, "spec:\n  tls: {mode: Passthrough}\n", NULL);
    ASSERT_VALID(&r);
    done(&r);
}

TEST(schema_pattern_and_lengths)
{
    struct result r;
    check(&r, "spec:\n  host: ABC\n", NULL);
    ASSERT_STRSTR(err_at(&r, "spec.host"), "should match '^[a-zé]+$'");
    done(&r);
    /* maxLength counts characters, not bytes: five two-byte characters fit in 5. */
    check(&r, "spec:\n  host: ééééé\n", NULL);
    ASSERT_VALID(&r);
    done(&r);
    check(&r, "spec:\n  host: abcdef\n", NULL);
    ASSERT_STREQ(err_at(&r, "spec.host"), "Too long: may not be more than 5 bytes");
    done(&r);
    check(&r, "spec:\n  host: \"\"\n", NULL);
    ASSERT_STRSTR(err_at(&r, "spec.host"), "should be at least 1 chars long");
    done(&r);
    /* RE2's $ is the end of text: a trailing newline does not match. */
    check(&r, "spec:\n  host: \"abc\\n\"\n", NULL);
    ASSERT_STRSTR(err_at(&r, "spec.host"), "should match");
    done(&r);
    ASSERT(tr_schema_pattern_match("^a+$", "aaa", 3));
    ASSERT(!tr_schema_pattern_match("^a+$", "aab", 3));
    ASSERT_EQ(tr_utf8_len("é-ü", strlen("é-ü")), 3);
}

TEST(schema_numbers)
{
    struct result r;
    check(&r, "spec:\n  port: 0\n  listeners:\n  - name: a\n    port: 70000\n  even: 3\n", NULL);
    ASSERT_STREQ(err_at(&r, "spec.port"), "Invalid value: 0: should be greater than or equal to 1");
    ASSERT_STREQ(err_at(&r, "spec.listeners[0].port"), "Invalid value: 70000: should be less than or equal to 65535");
    ASSERT_STREQ(err_at(&r, "spec.even"), "must be even");
    done(&r);
    check(&r, "spec:\n  port: 4294967297\n", NULL);
    ASSERT(err_at(&r, "spec.port"));
    ASSERT_EQ(r.count, 2); /* over the maximum and over int32 */
    done(&r);
}

TEST(schema_items_and_list_map_duplicates)
{
    struct result r;
    check(&r, "spec:\n  listeners: []\n", NULL);
    ASSERT_STRSTR(err_at(&r, "spec.listeners"), "should have at least 1 items");
    done(&r);
    check(&r, "spec:\n  listeners: [{name: a}, {name: b}, {name: c}, {name: d}]\n", NULL);
    ASSERT_STRSTR(err_at(&r, "spec.listeners"), "must have at most 3 items");
    done(&r);
    check(&r, "spec:\n  listeners: [{name: a}, {name: b, port: 1}, {name: a, port: 2}]\n", NULL);
    ASSERT_STREQ(err_at(&r, "spec.listeners[2]"), "Duplicate value: list-map key");
    ASSERT_EQ(r.count, 1);
    done(&r);
    check(&r, "spec:\n  tags: [x, y, x, 1]\n", NULL);
    ASSERT_STREQ(err_at(&r, "spec.tags[2]"), "Duplicate value: set item");
    ASSERT_STRSTR(err_at(&r, "spec.tags[3]"), "must be of type string");
    done(&r);
}

TEST(schema_duplicates_in_linear_time)
{
    /* 50k list-map items and as many set items, the last of each repeating the first: found,
     * without comparing every pair (10^9 comparisons: tens of seconds, once). */
    size_t n = 50000, cap = n * 40 + 64, len = 0;
    char *text = malloc(cap);
    len += (size_t)snprintf(text + len, cap - len, "spec:\n  listeners: [");
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(text + len, cap - len, "{name: l%zu}, ", i);
    len += (size_t)snprintf(text + len, cap - len, "{name: l0}]\n  tags: [");
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(text + len, cap - len, "t%zu, ", i);
    snprintf(text + len, cap - len, "t0]\n");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct result r;
    check(&r, text, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    free(text);
    char at[64];
    snprintf(at, sizeof(at), "spec.listeners[%zu]", n);
    ASSERT_STREQ(err_at(&r, at), "Duplicate value: list-map key");
    snprintf(at, sizeof(at), "spec.tags[%zu]", n);
    ASSERT_STREQ(err_at(&r, at), "Duplicate value: set item");
    ASSERT((t1.tv_sec - t0.tv_sec) < 5);
    done(&r);
}

TEST(schema_maps_unknown_fields_and_preserve)
{
    struct result r;
    check(&r, "spec:\n  labels: {a: x, b: 1}\n  extra: {known: k, anything: [1, 2]}\n  nope: 1\n", NULL);
    ASSERT_STRSTR(err_at(&r, "spec.labels.b"), "must be of type string");
    ASSERT_NULL(err_at(&r, "spec.extra.anything")); /* preserved */
    ASSERT_STREQ(err_at(&r, "spec.nope"), "unknown field \"nope\"");
    done(&r);
    check(&r, "spec:\n  labels: {a: x, b: y, c: z}\n", NULL);
    ASSERT_STRSTR(err_at(&r, "spec.labels"), "must have at most 2 items");
    done(&r);
}

TEST(schema_date_time)
{
    struct result r;
    check(&r, "spec:\n  when: \"2024-01-02T03:04:05Z\"\n", NULL);
    ASSERT_VALID(&r);
    done(&r);
    check(&r, "spec:\n  when: \"2024-01-02T03:04:05.123+02:00\"\n", NULL);
    ASSERT_VALID(&r);
    done(&r);
    check(&r, "spec:\n  when: \"yesterday\"\n", NULL);
    ASSERT_STRSTR(err_at(&r, "spec.when"), "date-time");
    done(&r);
}

TEST(schema_byte_is_base64)
{
    /* As Go's encoding/json decodes a []byte: padded, CR and LF skipped. */
    static const char *const good[] = {"\"\"", "aGVsbG8=", "aGk=", "aGVs", "\"aGVs\\nbG8=\"", "\"+/+/\""};
    static const char *const bad[] = {"aGVsbG8", "\"!!\"", "aGVsbG8=x", "a===", "\"aGVsbG8==\"", "\"aG Vs\""};
    char text[128];
    struct result r;
    for (size_t i = 0; i < TR_ARRAY_LEN(good); i++) {
        snprintf(text, sizeof(text), "spec:\n  blob: %s\n", good[i]);
        check(&r, text, NULL);
        ASSERT_VALID(&r);
        done(&r);
    }
    for (size_t i = 0; i < TR_ARRAY_LEN(bad); i++) {
        snprintf(text, sizeof(text), "spec:\n  blob: %s\n", bad[i]);
        check(&r, text, NULL);
        ASSERT_STRSTR(err_at(&r, "spec.blob"), "illegal base64 data at input byte");
        done(&r);
    }
}

TEST(schema_int_or_string)
{
    struct result r;
    check(&r, "spec:\n  target: 8\n", NULL);
    ASSERT_VALID(&r);
    done(&r);
    check(&r, "spec:\n  target: http\n", NULL);
    ASSERT_VALID(&r);
    done(&r);
    check(&r, "spec:\n  target: 10\n", NULL); /* the bounds hold for a number */
    ASSERT_STRSTR(err_at(&r, "spec.target"), "less than or equal to 9");
    done(&r);
    static const char *const wrong[] = {"1.5", "[8]", "{a: 8}", "true"};
    char text[64];
    for (size_t i = 0; i < TR_ARRAY_LEN(wrong); i++) {
        snprintf(text, sizeof(text), "spec:\n  target: %s\n", wrong[i]);
        check(&r, text, NULL);
        ASSERT_STRSTR(err_at(&r, "spec.target"), "must be an integer or a string");
        done(&r);
    }
}

TEST(schema_cel_runs_without_blocking_errors)
{
    struct result r;
    /* A pattern error does not block CEL: both are reported. */
    check(&r, "spec:\n  host: ABC\n  forbidden: x\n", NULL);
    ASSERT_EQ(rule_runs, 1);
    ASSERT(err_at(&r, "spec.host"));
    /* The rule's fieldPath is appended to the node's path. */
    ASSERT_STREQ(err_at(&r, "spec.forbidden"), "forbidden is forbidden");
    ASSERT_EQ(r.count, 2);
    done(&r);
}

TEST(schema_cel_gated_by_blocking_errors)
{
    /* Required, enum, too long, too many and wrong type stop every rule from running, and the
     * object gets one extra message saying so (as the API server does). */
    static const char *const blocking[] = {
        "spec:\n  forbidden: x\n  listeners: [{port: 80}]\n",
        "spec:\n  forbidden: x\n  tls: {mode: Bogus}\n",
        "spec:\n  forbidden: x\n  host: abcdefgh\n",
        "spec:\n  forbidden: x\n  listeners: [{name: a}, {name: b}, {name: c}, {name: d}]\n",
        "spec:\n  forbidden: x\n  port: http\n",
    };
    for (size_t i = 0; i < sizeof(blocking) / sizeof(blocking[0]); i++) {
        struct result r;
        check(&r, blocking[i], NULL);
        if (rule_runs != 0)
            tr_test_fail(__FILE__, __LINE__, "case %zu: CEL ran despite a blocking error", i);
        ASSERT_NULL(err_at(&r, "spec.forbidden"));
        ASSERT_STRSTR(err_at(&r, "<root>"), "some validation rules were not checked");
        done(&r);
    }
}

TEST(schema_transition_rules_see_old_by_list_map_key)
{
    struct result r;
    const char *old = "spec:\n  listeners: [{name: a, ctrl: one}, {name: b, ctrl: two}]\n";
    /* Reordered but unchanged: each item is compared with the old item of the same key. */
    check(&r, "spec:\n  listeners: [{name: b, ctrl: two}, {name: a, ctrl: one}]\n", old);
    ASSERT_VALID(&r);
    done(&r);
    check(&r, "spec:\n  listeners: [{name: b, ctrl: changed}, {name: c, ctrl: new}]\n", old);
    ASSERT_STREQ(err_at(&r, "spec.listeners[0].ctrl"), "Value is immutable");
    ASSERT_NULL(err_at(&r, "spec.listeners[1].ctrl")); /* no old item: the rule holds */
    ASSERT_EQ(r.count, 1);
    done(&r);
    /* Without an old object there is nothing to compare. */
    check(&r, "spec:\n  listeners: [{name: b, ctrl: changed}]\n", NULL);
    ASSERT_VALID(&r);
    done(&r);
}

TEST(schema_error_lines)
{
    struct result r;
    check(&r, "spec:\n  host: ok\n  tls:\n    mode: Bogus\n", NULL);
    ASSERT_EQ(r.errs.n, 2);
    ASSERT_EQ(r.errs.v[0].line, 4);
    done(&r);
}

TEST(schema_dump_shape)
{
    struct tr_buf b;
    tr_buf_init(&b, 0);
    tr_schema_dump(&b, &s_item);
    ASSERT_STRSTR(b.data, "\"required\":[\"name\"]");
    ASSERT_STRSTR(b.data, "\"port\":{\"type\":\"integer\",\"format\":\"int32\",\"minimum\":1,\"maximum\":65535,\"default\":80}");
    ASSERT_STRSTR(b.data, "\"x-kubernetes-validations\":[{\"rule\":\"self == oldSelf\",\"message\":\"Value is immutable\"}]");
    tr_buf_reset(&b);
    tr_schema_dump(&b, &s_list);
    ASSERT_STRSTR(b.data, "\"x-kubernetes-list-type\":\"map\",\"x-kubernetes-list-map-keys\":[\"name\"]");
    tr_buf_dispose(&b);
}
