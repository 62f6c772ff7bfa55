/* Session persistence: the token's text, the Cookie fields read leniently, and the
 * sessionPersistence of a rule as translate compiles it (cookie paths, timeouts, problems). */
#include "api/yaml.h"
#include "base/arena.h"
#include "base/node.h"
#include "http/h1_parse.h"
#include "ir/ir.h"
#include "proxy/session.h"
#include "translate/internal.h"
#include "test.h"
#include "util.h"

#include <string.h>

TEST(session_token_round_trips)
{
    struct tr_session_token t = {0xdeadbeef, 0x01020304, 0xfedcba9876543210ULL, 1800000000u}, back;
    char text[TR_SESSION_TOKEN_LEN + 1];
    tr_session_token_format(&t, text);
    ASSERT_EQ(strlen(text), (size_t)TR_SESSION_TOKEN_LEN);
    ASSERT_STREQ(text, "1deadbeef01020304fedcba98765432106b49d200");
    ASSERT(tr_session_token_parse(text, strlen(text), &back));
    ASSERT_EQ(back.rule, t.rule);
    ASSERT_EQ(back.backend, t.backend);
    ASSERT(back.endpoint == t.endpoint);
    ASSERT_EQ(back.created, t.created);
}

TEST(session_token_refuses_what_torii_did_not_make)
{
    struct tr_session_token t;
    const char *ok = "1deadbeef01020304fedcba987654321006b49d20";
    ASSERT(tr_session_token_parse(ok, strlen(ok), &t));
    ASSERT(!tr_session_token_parse(ok, strlen(ok) - 1, &t));                    /* short */
    ASSERT(!tr_session_token_parse("2deadbeef01020304fedcba987654321006b49d20", 41, &t)); /* version */
    ASSERT(!tr_session_token_parse("1DEADBEEF01020304fedcba987654321006b49d20", 41, &t)); /* upper case */
    ASSERT(!tr_session_token_parse("1deadbeef0102030 fedcba987654321006b49d20", 41, &t)); /* not hex */
    ASSERT(!tr_session_token_parse("", 0, &t));
}

static const char *cookie(const char *head, const char *name, char *out, size_t cap)
{
    static char raw[1024];
    snprintf(raw, sizeof(raw), "GET / HTTP/1.1\r\nHost: a\r\n%s\r\n", head);
    struct tr_h1_req req;
    tr_h1_req_init(&req);
    ASSERT(tr_h1_parse_request(raw, strlen(raw), &req, NULL) > 0);
    size_t len = 0;
    const char *v = tr_session_cookie(&req, name, strlen(name), &len);
    if (!v)
        return NULL;
    snprintf(out, cap, "%.*s", (int)len, v);
    return out;
}

TEST(session_cookie_found_among_others_and_fields)
{
    char v[128];
    ASSERT_STREQ(cookie("Cookie: a=1; sid=xyz; b=2\r\n", "sid", v, sizeof(v)), "xyz");
    ASSERT_STREQ(cookie("Cookie: a=1\r\nCookie: sid=two\r\n", "sid", v, sizeof(v)), "two"); /* HTTP/2 splits */
    ASSERT_STREQ(cookie("Cookie: sid=\"quoted\"\r\n", "sid", v, sizeof(v)), "quoted");
    ASSERT_STREQ(cookie("Cookie: sid=\r\n", "sid", v, sizeof(v)), "");
    ASSERT_STREQ(cookie("Cookie: ;;sid=a;\r\n", "sid", v, sizeof(v)), "a");
    ASSERT_NULL(cookie("Cookie: xsid=1; sidx=2; SID=3\r\n", "sid", v, sizeof(v))); /* names are exact */
    ASSERT_NULL(cookie("Cookie: sid\r\n", "sid", v, sizeof(v)));
    ASSERT_NULL(cookie("X-Cookie: sid=1\r\n", "sid", v, sizeof(v)));
}

static const struct tr_ir_session *compiled(struct tr_arena *a, const char *rule_yaml)
{
    struct tr_ir_rule_spec *spec = TR_ANEW(a, struct tr_ir_rule_spec);
    tx_rule_compile(a, TR_KIND_HTTPROUTE, tr_test_yaml(a, rule_yaml), spec);
    return spec->more ? spec->more->session : NULL;
}

TEST(session_cookie_paths_follow_the_matches)
{
    struct tr_arena *a = tr_arena_new(4096);
    const struct tr_ir_session *s = compiled(
        a, "{matches: [{path: {type: PathPrefix, value: /app/}}, {path: {type: Exact, value: /x/y}},"
           " {path: {type: RegularExpression, value: '/p1/p2/.*/p3'}}, {path: {type: RegularExpression, value: '^/lit'}},"
           " {path: {type: PathPrefix, value: '/a;b/c'}}, {path: {type: PathPrefix, value: /}}, {headers: [{name: a, value: b}]}],"
           " sessionPersistence: {}}");
    ASSERT_NOT_NULL(s);
    ASSERT_EQ(s->type, TR_SESSION_COOKIE);
    ASSERT_NULL(s->name);
    ASSERT_STREQ(s->paths[0], "/app");
    ASSERT_STREQ(s->paths[1], "/x/y");
    ASSERT_STREQ(s->paths[2], "/p1/p2");
    ASSERT_STREQ(s->paths[3], "/lit");
    ASSERT_STREQ(s->paths[4], "/");
    ASSERT_STREQ(s->paths[5], "/");
    ASSERT_STREQ(s->paths[6], "/");
    ASSERT_EQ(s->absolute_ms, 0);
    ASSERT(!s->permanent);
    tr_arena_free(a);
}

TEST(session_header_and_permanent)
{
    struct tr_arena *a = tr_arena_new(4096);
    const struct tr_ir_session *h = compiled(a, "{sessionPersistence: {type: Header, sessionName: X-S, absoluteTimeout: 1m}}");
    ASSERT_EQ(h->type, TR_SESSION_HEADER);
    ASSERT_STREQ(h->name, "X-S");
    ASSERT_NULL(h->paths);
    ASSERT_EQ(h->absolute_ms, 60000);
    const struct tr_ir_session *p = compiled(
        a, "{sessionPersistence: {sessionName: SID, absoluteTimeout: 1h30m, cookieConfig: {lifetimeType: Permanent}}}");
    ASSERT(p->permanent);
    ASSERT_EQ(p->absolute_ms, 5400000);
    ASSERT_NULL(compiled(a, "{backendRefs: []}"));
    tr_arena_free(a);
}

TEST(session_problems_name_the_field)
{
    struct tr_arena *a = tr_arena_new(4096);
    ASSERT_NULL(tx_session_problem(a, tr_test_yaml(a, "{sessionName: JSESSIONID}")));
    ASSERT_STRSTR(tx_session_problem(a, tr_test_yaml(a, "{sessionName: 'a b'}")), "sessionName: \"a b\" is not a valid cookie");
    ASSERT_STRSTR(tx_session_problem(a, tr_test_yaml(a, "{sessionName: 'a;b', type: Header}")), "not a valid header");
    ASSERT_STRSTR(tx_session_problem(a, tr_test_yaml(a, "{sessionName: Host, type: Header}")), "a header HTTP or torii");
    ASSERT_NULL(tx_session_problem(a, tr_test_yaml(a, "{sessionName: Host}"))); /* a cookie may be called so */
    ASSERT_STRSTR(tx_session_problem(a, tr_test_yaml(a, "{absoluteTimeout: 500ms, cookieConfig: {lifetimeType: Permanent}}")),
                  "absoluteTimeout: 500ms");
    ASSERT_NULL(tx_session_problem(a, tr_test_yaml(a, "{absoluteTimeout: 500ms}")));
    tr_arena_free(a);
}
