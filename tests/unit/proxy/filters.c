/* HTTPRoute filters on the HTTP/1 path: redirects, rewrites, header modifiers, durations. The
 * rules are written as YAML and compiled as translate compiles them (translate/filters.c). */
#include "api/yaml.h"
#include "base/arena.h"
#include "base/buf.h"
#include "base/duration.h"
#include "base/node.h"
#include "http/h1_parse.h"
#include "ir/ir.h"
#include "proxy/filters.h"
#include "translate/internal.h"
#include "test.h"
#include "util.h"

#include <string.h>

struct fx {
    struct tr_arena *a;
    struct tr_ir_rule rule;
    struct tr_ir_rule_spec spec; /* rule.spec */
    struct tr_h1_req req;
    char raw[512];
};


/* rule_yaml is one HTTPRouteRule; target is the request target. */
static void setup(struct fx *f, const char *rule_yaml, const char *target)
{
    f->a = tr_arena_new(4096);
    memset(&f->rule, 0, sizeof(f->rule));
    memset(&f->spec, 0, sizeof(f->spec));
    tx_rule_compile(f->a, TR_KIND_HTTPROUTE, tr_test_yaml(f->a, rule_yaml), &f->spec);
    f->rule.spec = &f->spec;
    snprintf(f->raw, sizeof(f->raw), "GET %s HTTP/1.1\r\nHost: example.com:8080\r\n\r\n", target);
    tr_h1_req_init(&f->req);
    ASSERT(tr_h1_parse_request(f->raw, strlen(f->raw), &f->req, NULL) > 0);
}

static const char *redirect(const char *rule, const char *target, int *status)
{
    static char loc[2048];
    struct fx f;
    setup(&f, rule, target);
    struct tr_filter_out o;
    tr_filters_request(&f.rule, 0, &f.req, "example.com", 8080, false, &o);
    *status = o.redirect_status;
    snprintf(loc, sizeof(loc), "%s", o.location);
    tr_arena_free(f.a);
    return loc;
}

static const char *rewrite(const char *rule, const char *target)
{
    static char out[2048];
    struct fx f;
    setup(&f, rule, target);
    struct tr_filter_out o;
    tr_filters_request(&f.rule, 0, &f.req, "example.com", 8080, false, &o);
    snprintf(out, sizeof(out), "%s|%s", o.host ? o.host : "-", o.path ? o.path : "-");
    tr_arena_free(f.a);
    return out;
}

TEST(filters_redirect_defaults_keep_listener_port)
{
    int st;
    ASSERT_STREQ(redirect("filters: [{type: RequestRedirect, requestRedirect: {hostname: x.org}}]", "/a?q=1", &st),
                 "http://x.org:8080/a?q=1");
    ASSERT_EQ(st, 302);
}

TEST(filters_redirect_scheme_takes_its_well_known_port)
{
    int st;
    ASSERT_STREQ(redirect("filters: [{type: RequestRedirect, requestRedirect: {scheme: https, statusCode: 301}}]", "/", &st),
                 "https://example.com/");
    ASSERT_EQ(st, 301);
    ASSERT_STREQ(redirect("filters: [{type: RequestRedirect, requestRedirect: {scheme: https, port: 8443}}]", "/p", &st),
                 "https://example.com:8443/p");
    ASSERT_STREQ(redirect("filters: [{type: RequestRedirect, requestRedirect: {port: 80}}]", "/p", &st),
                 "http://example.com/p");
}

TEST(filters_redirect_paths)
{
    int st;
    const char *full = "filters: [{type: RequestRedirect, requestRedirect: {path: {type: ReplaceFullPath, replaceFullPath: /new}}}]";
    ASSERT_STREQ(redirect(full, "/old/x?a=b", &st), "http://example.com:8080/new?a=b");
    const char *pre = "matches: [{path: {type: PathPrefix, value: /old}}]\n"
                      "filters: [{type: RequestRedirect, requestRedirect: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /new}}}]";
    ASSERT_STREQ(redirect(pre, "/old/x", &st), "http://example.com:8080/new/x");
    ASSERT_STREQ(redirect(pre, "/old", &st), "http://example.com:8080/new");
}

TEST(filters_rewrite_prefix_to_root_has_no_double_slash)
{
    const char *r = "matches: [{path: {type: PathPrefix, value: /prefix/one}}]\n"
                    "filters: [{type: URLRewrite, urlRewrite: {hostname: h.example, path: {type: ReplacePrefixMatch, replacePrefixMatch: /}}}]";
    ASSERT_STREQ(rewrite(r, "/prefix/one/two?x=y"), "h.example|/two?x=y");
    ASSERT_STREQ(rewrite(r, "/prefix/one"), "h.example|/");
    const char *r2 = "matches: [{path: {type: PathPrefix, value: /prefix/one/}}]\n"
                     "filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /xyz/}}}]";
    ASSERT_STREQ(rewrite(r2, "/prefix/one/two"), "-|/xyz/two");
    ASSERT_STREQ(rewrite(r2, "/prefix/one"), "-|/xyz");
}

TEST(filters_header_modifiers_rule_then_backend)
{
    struct fx f;
    setup(&f, "filters: [{type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: X-A, value: rule}], "
              "add: [{name: X-B, value: b}], remove: [x-gone]}}]",
          "/");
    struct tr_filter_out o;
    tr_filters_request(&f.rule, 0, &f.req, "example.com", 8080, false, &o);
    static const char backend[] = "[{type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: x-a, value: backend}]}}]";
    const struct tr_ir_filters *bf = tx_filters_compile(f.a, tr_test_yaml(f.a, backend));
    tr_filters_backend(bf, &o);
    ASSERT(tr_filters_drop_request_header(&o, "X-GONE", 6));
    ASSERT(tr_filters_drop_request_header(&o, "x-a", 3));
    ASSERT(!tr_filters_drop_request_header(&o, "x-b", 3));
    struct tr_buf b;
    tr_buf_init(&b, 0);
    tr_filters_add_request_headers(&o, &b);
    ASSERT_STREQ(b.data, "X-B: b\r\nx-a: backend\r\n"); /* the backend's set wins */
    tr_buf_dispose(&b);
    /* Names written with capitals: matched without case, written as configured, whichever
     * entries have them; a name that is a prefix of another is not that one. */
    static const char mixed[] = "[{type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: x-lower, value: a}, "
                                "{name: X-Upper, value: b}], add: [{name: X-Add-Ed, value: c}], remove: [X-Gone-Too]}}]";
    const struct tr_ir_filters *mf = tx_filters_compile(f.a, tr_test_yaml(f.a, mixed));
    struct tr_filter_out mo = {.mod = mf->request_headers};
    ASSERT(tr_filters_drop_request_header(&mo, "x-gone-too", 10));
    ASSERT(tr_filters_drop_request_header(&mo, "X-UPPER", 7));
    ASSERT(!tr_filters_drop_request_header(&mo, "x-uppe", 6));
    ASSERT(!tr_filters_drop_request_header(&mo, "x-upperr", 8));
    tr_buf_init(&b, 0);
    tr_filters_add_request_headers(&mo, &b);
    ASSERT_STREQ(b.data, "x-lower: a\r\nX-Upper: b\r\nX-Add-Ed: c\r\n");
    tr_buf_dispose(&b);
    ASSERT_STREQ(tr_ir_mod_name(mf->request_headers, 3), "X-Gone-Too");
    ASSERT_STREQ(mf->request_headers->v[3].lname, "x-gone-too");
    tr_arena_free(f.a);
}

TEST(filters_response_modifiers_rule_then_backend)
{
    struct fx f;
    setup(&f, "filters: [{type: ResponseHeaderModifier, responseHeaderModifier: {set: [{name: X-A, value: rule}], "
              "add: [{name: X-B, value: b}], remove: [x-gone]}}]",
          "/");
    static const char backend[] = "[{type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: x-req, value: r}]}},"
                                  " {type: ResponseHeaderModifier, responseHeaderModifier: {set: [{name: x-a, value: "
                                  "backend}], remove: [x-server]}}]";
    const struct tr_ir_filters *bf = tx_filters_compile(f.a, tr_test_yaml(f.a, backend));
    struct tr_filter_out o;
    tr_filters_response(&f.rule, bf, &o);
    ASSERT(tr_filters_drop_response_header(&o, "X-GONE", 6));
    ASSERT(tr_filters_drop_response_header(&o, "x-server", 8)); /* the backend's remove */
    ASSERT(tr_filters_drop_response_header(&o, "x-a", 3));
    ASSERT(!tr_filters_drop_response_header(&o, "x-req", 5)); /* a request modifier is not the response's */
    struct tr_buf b;
    tr_buf_init(&b, 0);
    tr_filters_add_response_headers(&o, &b);
    ASSERT_STREQ(b.data, "X-B: b\r\nx-a: backend\r\n"); /* the backend's set wins */
    /* Without backend filters (a local answer, or a backendRef with none): the rule's alone. */
    tr_filters_response(&f.rule, NULL, &o);
    ASSERT(!tr_filters_drop_response_header(&o, "x-server", 8));
    b.len = 0;
    tr_filters_add_response_headers(&o, &b);
    ASSERT_STREQ(b.data, "X-A: rule\r\nX-B: b\r\n");
    tr_buf_dispose(&b);
    tr_arena_free(f.a);
}

TEST(filters_durations)
{
    uint64_t ms;
    ASSERT(tr_duration_ms("1h2m3s4ms", &ms));
    ASSERT_EQ(ms, 3723004);
    ASSERT(tr_duration_ms("500ms", &ms));
    ASSERT_EQ(ms, 500);
    ASSERT(!tr_duration_ms("1.5s", &ms));
    ASSERT(!tr_duration_ms("", &ms));
    ASSERT(!tr_duration_ms("10", &ms));
    ASSERT(!tr_duration_ms(NULL, &ms));
    /* Past what the schema allows the value saturates; it never wraps. */
    ASSERT(tr_duration_ms("1111111111111111111111s", &ms));
    ASSERT_EQ(ms, TR_DURATION_MAX_MS);
    ASSERT(tr_duration_ms("9223372036854775807ms1ms", &ms));
    ASSERT_EQ(ms, TR_DURATION_MAX_MS);
    ASSERT(tr_duration_ms("99999h99999m99999s99999ms", &ms));
    ASSERT_EQ(ms, UINT64_C(99999) * 3600000 + UINT64_C(99999) * 60000 + UINT64_C(99999) * 1000 + 99999);
}

TEST(filters_timeouts_and_retry)
{
    struct fx f;
    setup(&f, "timeouts: {request: 2s, backendRequest: 250ms}\n"
              "retry: {attempts: 3, backoff: 1s, codes: [503, 502]}", "/");
    uint64_t req_ms, be_ms;
    tr_filters_timeouts_ms(&f.rule, &req_ms, &be_ms);
    ASSERT_EQ(req_ms, 2000);
    ASSERT_EQ(be_ms, 250);
    ASSERT_NOT_NULL(tr_ir_rule_retry(&f.spec));
    ASSERT_EQ(tr_ir_rule_retry(&f.spec)->attempts, 3);
    ASSERT_EQ(tr_ir_rule_retry(&f.spec)->backoff_ms, 1000);
    ASSERT(tr_ir_retry_code(tr_ir_rule_retry(&f.spec), 502));
    ASSERT(tr_ir_retry_code(tr_ir_rule_retry(&f.spec), 503));
    ASSERT(!tr_ir_retry_code(tr_ir_rule_retry(&f.spec), 500));
    ASSERT(!tr_ir_retry_code(tr_ir_rule_retry(&f.spec), 99));
    ASSERT(!tr_ir_retry_code(tr_ir_rule_retry(&f.spec), 100000));
    ASSERT(!tr_ir_retry_code(NULL, 503));
    tr_arena_free(f.a);
    /* A retry with nothing set tries once more, at once, on no status; an unset or unreadable
     * timeout is none. */
    setup(&f, "retry: {}\ntimeouts: {request: soon}", "/");
    tr_filters_timeouts_ms(&f.rule, &req_ms, &be_ms);
    ASSERT_EQ(req_ms, 0);
    ASSERT_EQ(be_ms, 0);
    ASSERT_EQ(tr_ir_rule_retry(&f.spec)->attempts, 1);
    ASSERT_EQ(tr_ir_rule_retry(&f.spec)->backoff_ms, 0);
    ASSERT(!tr_ir_retry_code(tr_ir_rule_retry(&f.spec), 500));
    tr_arena_free(f.a);
    setup(&f, "matches: [{path: {value: /}}]", "/");
    ASSERT_NULL(tr_ir_rule_retry(&f.spec));
    ASSERT_NULL(f.spec.more); /* neither: nothing kept */
    ASSERT_NULL(tr_ir_rule_timeouts(&f.spec));
    tr_filters_timeouts_ms(NULL, &req_ms, &be_ms);
    ASSERT_EQ(req_ms + be_ms, 0);
    tr_arena_free(f.a);
}
