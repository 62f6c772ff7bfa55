/* The HTTPRoute CORS filter: origin matching, preflight answers, response fields. The filters
 * are written as YAML and compiled as translate compiles them (translate/filters.c). */
#include "api/yaml.h"
#include "base/arena.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/node.h"
#include "http/h1_parse.h"
#include "ir/ir.h"
#include "proxy/cors.h"
#include "translate/internal.h"
#include "test.h"
#include "util.h"

#include <string.h>

/* The conformance manifest's first route (cors-multiple-origins-methods-headers). */
#define FULL                                                                                       \
    "{allowOrigins: ['https://www.foo.com', 'https://*.bar.com'], allowMethods: [GET, OPTIONS], "  \
    "allowHeaders: [x-header-1, x-header-2], exposeHeaders: [x-header-3, x-header-4], "            \
    "allowCredentials: true, maxAge: 3600}"
#define STARS "{allowOrigins: ['*'], allowMethods: ['*'], allowHeaders: ['*']"
#define STARS_CREDS STARS ", allowCredentials: true}"
#define STARS_NOCREDS STARS ", allowCredentials: false}"


/* A rule of kind HTTPRoute compiled from yaml into a. */
static struct tr_ir_rule rule_of(struct tr_arena *a, const char *yaml)
{
    struct tr_ir_rule_spec *spec = TR_ANEW(a, struct tr_ir_rule_spec);
    tx_rule_compile(a, TR_KIND_HTTPROUTE, tr_test_yaml(a, yaml), spec);
    return (struct tr_ir_rule){.spec = spec};
}

/* The filter of a rule whose filters are a RequestHeaderModifier and a CORS filter `cors`. */
static const struct tr_ir_cors *filter(struct tr_arena *a, const char *cors)
{
    char yaml[1024];
    snprintf(yaml, sizeof(yaml),
             "filters: [{type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: a, "
             "value: b}]}}, "
             "{type: CORS, cors: %s}]",
             cors);
    struct tr_ir_rule rule = rule_of(a, yaml);
    const struct tr_ir_cors *f = tr_cors_filter(&rule);
    ASSERT_NOT_NULL(f);
    return f;
}

static bool allowed(const char *cors, const char *origin)
{
    struct tr_arena *a = tr_arena_new(4096);
    bool ok = tr_cors_origin_allowed(filter(a, cors), origin, origin ? strlen(origin) : 0);
    tr_arena_free(a);
    return ok;
}

static struct tr_cors_req req(const char *method, const char *origin, const char *acrm,
                              const char *acrh)
{
    return (struct tr_cors_req){.method = method,
                                .method_len = strlen(method),
                                .origin = origin,
                                .origin_len = origin ? strlen(origin) : 0,
                                .acrm = acrm,
                                .acrm_len = acrm ? strlen(acrm) : 0,
                                .acrh = acrh,
                                .acrh_len = acrh ? strlen(acrh) : 0};
}

/* The fields answering a preflight from origin for method acrm, headers acrh (may be NULL). */
static const char *preflight(const char *cors, const char *origin, const char *acrm,
                             const char *acrh)
{
    static char out[2048];
    struct tr_arena *a = tr_arena_new(4096);
    struct tr_cors_req r = req("OPTIONS", origin, acrm, acrh);
    ASSERT(tr_cors_is_preflight(&r));
    struct tr_buf b;
    tr_buf_init(&b, 0);
    ASSERT_EQ(tr_cors_preflight(filter(a, cors), &r, &b), 204);
    snprintf(out, sizeof(out), "%s", b.len ? b.data : "");
    tr_buf_dispose(&b);
    tr_arena_free(a);
    return out;
}

/* The fields added to the response to a forwarded request; the backend answered with fields. */
static const char *response_with(const char *cors, const struct tr_cors_req *r,
                                 const struct tr_h1_header *fields, size_t nfields)
{
    static char out[2048];
    struct tr_arena *a = tr_arena_new(4096);
    ASSERT(!tr_cors_is_preflight(r));
    struct tr_buf b;
    tr_buf_init(&b, 0);
    ASSERT_EQ(tr_cors_response(filter(a, cors), r, fields, nfields, &b), TR_OK);
    snprintf(out, sizeof(out), "%s", b.len ? b.data : "");
    tr_buf_dispose(&b);
    tr_arena_free(a);
    return out;
}

static const char *response(const char *cors, const char *method, const char *origin,
                            bool credentialed)
{
    struct tr_cors_req r = req(method, origin, NULL, NULL);
    r.credentialed = credentialed;
    return response_with(cors, &r, NULL, 0);
}

TEST(cors_filter_found_in_rule_and_backend_filters)
{
    struct tr_arena *a = tr_arena_new(4096);
    ASSERT_NULL(tr_cors_filter(NULL));
    struct tr_ir_rule none = rule_of(a, "filters: [{type: URLRewrite, urlRewrite: {hostname: x}}]");
    ASSERT_NULL(tr_cors_filter(&none));
    struct tr_ir_rule empty = rule_of(a, "matches: [{path: {value: /}}]");
    ASSERT_NULL(tr_cors_filter(&empty));
    const struct tr_ir_cors *f = filter(a, "{allowOrigins: ['*'], maxAge: 7}");
    ASSERT_EQ(f->max_age, 7);
    /* HTTPBackendRef.filters may hold one too. */
    const struct tr_ir_filters *bf =
        tx_filters_compile(a, tr_test_yaml(a, "[{type: CORS, cors: {allowOrigins: ['http://a.com']}}]"));
    ASSERT_NOT_NULL(bf);
    ASSERT_NOT_NULL(tr_ir_filters_cors(bf));
    ASSERT_EQ(tr_ir_filters_cors(bf)->norigins, 1);
    /* A list with none of the filters the data plane applies compiles to nothing. */
    ASSERT_NULL(tx_filters_compile(a, tr_test_yaml(a, "[{type: RequestMirror}]")));
    tr_arena_free(a);
}

TEST(cors_preflight_is_options_with_origin_and_request_method)
{
    struct tr_cors_req r = req("OPTIONS", "https://a.com", "PUT", NULL);
    ASSERT(tr_cors_is_preflight(&r));
    r = req("OPTIONS", "https://a.com", "PUT", "x-a");
    ASSERT(tr_cors_is_preflight(&r));
    r = req("OPTIONS", "https://a.com", NULL, "x-a"); /* an actual OPTIONS request */
    ASSERT(!tr_cors_is_preflight(&r));
    r = req("OPTIONS", "https://a.com", "", NULL);
    ASSERT(!tr_cors_is_preflight(&r));
    r = req("OPTIONS", NULL, "PUT", NULL); /* not cross-origin */
    ASSERT(!tr_cors_is_preflight(&r));
    r = req("options", "https://a.com", "PUT", NULL); /* methods are case-sensitive */
    ASSERT(!tr_cors_is_preflight(&r));
    r = req("GET", "https://a.com", "PUT", NULL);
    ASSERT(!tr_cors_is_preflight(&r));
}

TEST(cors_origin_exact_scheme_host_port)
{
    const char *c = "{allowOrigins: ['https://www.foo.com', 'http://a.example:8080']}";
    ASSERT(allowed(c, "https://www.foo.com"));
    ASSERT(allowed(c, "HTTPS://WWW.Foo.com")); /* scheme and host are case-insensitive */
    ASSERT(!allowed(c, "http://www.foo.com")); /* another scheme is another origin */
    ASSERT(!allowed(c, "https://www.foo.com:8443"));
    ASSERT(!allowed(c, "https://foo.com"));
    ASSERT(!allowed(c, "https://www.foo.com.evil.com"));
    ASSERT(!allowed(c, "https://www.foo.co"));
    ASSERT(allowed(c, "http://a.example:8080"));
    ASSERT(!allowed(c, "http://a.example"));
    ASSERT(!allowed(c, "http://a.example:80"));
    /* An Origin is a serialized origin: no path, no userinfo, never "null" outside "*". */
    ASSERT(!allowed(c, "https://www.foo.com/"));
    ASSERT(!allowed(c, "https://x@www.foo.com"));
    ASSERT(!allowed(c, "null"));
    ASSERT(!allowed(c, ""));
    ASSERT(!allowed(c, NULL));
    ASSERT(!allowed(c, "https://www.foo.com:"));
    ASSERT(!allowed(c, "https://www.foo.com:99999"));
    /* An entry whose port is out of range matches nothing, not even itself. */
    ASSERT(!allowed("{allowOrigins: ['https://a.com:99999']}", "https://a.com:99999"));
    ASSERT(!allowed("{allowOrigins: ['https://a.com:0']}", "https://a.com:0"));
}

TEST(cors_origin_default_ports_are_filled_in)
{
    /* "if not included, port 80 is assumed for http scheme origins, and port 443 is assumed for
     * https origins" */
    ASSERT(allowed("{allowOrigins: ['https://a.com']}", "https://a.com:443"));
    ASSERT(allowed("{allowOrigins: ['https://a.com:443']}", "https://a.com"));
    ASSERT(allowed("{allowOrigins: ['http://a.com:80']}", "http://a.com"));
    ASSERT(!allowed("{allowOrigins: ['http://a.com:443']}", "https://a.com"));
    ASSERT(!allowed("{allowOrigins: ['https://a.com:80']}", "http://a.com"));
}

TEST(cors_origin_host_wildcards)
{
    const char *c = "{allowOrigins: ['https://www.foo.com', 'https://*.bar.com']}";
    ASSERT(allowed(c, "https://a.bar.com"));
    ASSERT(allowed(c, "https://a.b.c.bar.com")); /* greedy: any number of labels */
    ASSERT(allowed(c, "https://A.BAR.COM:443"));
    ASSERT(!allowed(c, "https://bar.com"));
    ASSERT(!allowed(c, "https://xbar.com"));
    ASSERT(!allowed(c, "https://.bar.com"));
    ASSERT(!allowed(c, "http://a.bar.com"));
    ASSERT(!allowed(c, "https://a.bar.com:8443"));
    ASSERT(!allowed(c, "https://a.bar.com.evil.org"));
    /* A host "*" by itself matches all hosts, the scheme and port still apply. */
    ASSERT(allowed("{allowOrigins: ['https://*']}", "https://anything.example"));
    ASSERT(allowed("{allowOrigins: ['https://*']}", "https://[::1]"));
    ASSERT(!allowed("{allowOrigins: ['https://*']}", "http://anything.example"));
    ASSERT(allowed("{allowOrigins: ['http://*:8080']}", "http://10.0.0.1:8080"));
    ASSERT(!allowed("{allowOrigins: ['http://*:8080']}", "http://10.0.0.1"));
}

TEST(cors_origin_star_allows_all)
{
    ASSERT(allowed("{allowOrigins: ['*']}", "https://anything.example:1234"));
    ASSERT(allowed("{allowOrigins: ['*']}", "null"));
    ASSERT(allowed("{allowOrigins: ['*']}", "chrome-extension://abc"));
    ASSERT(!allowed("{allowOrigins: ['*']}", ""));
    ASSERT(!allowed("{allowOrigins: ['*']}", "https://a.com\x80")); /* never echoed */
    ASSERT(!allowed("{allowOrigins: []}", "https://a.com"));
    ASSERT(!allowed("{maxAge: 5}", "https://a.com"));
}

TEST(cors_preflight_allowed_listed_config)
{
    ASSERT_STREQ(preflight(FULL, "https://www.foo.com", "GET", "x-header-1"),
                 "Vary: Origin\r\n"
                 "Access-Control-Allow-Origin: https://www.foo.com\r\n"
                 "Access-Control-Allow-Credentials: true\r\n"
                 "Access-Control-Allow-Methods: GET, OPTIONS\r\n"
                 "Access-Control-Allow-Headers: x-header-1, x-header-2\r\n"
                 "Access-Control-Expose-Headers: x-header-3, x-header-4\r\n"
                 "Access-Control-Max-Age: 3600\r\n");
    /* A wildcard origin entry is answered with the origin the client sent. */
    ASSERT_STRSTR(preflight(FULL, "https://api.bar.com", "GET", NULL),
                  "Access-Control-Allow-Origin: https://api.bar.com\r\n");
}

TEST(cors_preflight_denied_origin_is_answered_without_fields)
{
    ASSERT_STREQ(preflight(FULL, "https://www.foo.org", "GET", "x-header-1"), "Vary: Origin\r\n");
    ASSERT_STREQ(preflight(FULL, "null", "GET", NULL), "Vary: Origin\r\n");
    ASSERT_STREQ(preflight("{allowMethods: [PUT]}", "https://a.com", "PUT", NULL), "");
}

TEST(cors_preflight_method_outside_the_list_is_left_to_the_client)
{
    /* allowMethods docs: the gateway returns the configured list, and a request method not in it
     * "will present an error on the client side". */
    ASSERT_STREQ(preflight("{allowOrigins: ['https://a.com'], allowMethods: [GET, POST]}",
                           "https://a.com", "DELETE", NULL),
                 "Vary: Origin\r\n"
                 "Access-Control-Allow-Origin: https://a.com\r\n"
                 "Access-Control-Allow-Methods: GET, POST\r\n"
                 "Access-Control-Max-Age: 5\r\n");
}

TEST(cors_preflight_max_age_defaults_to_5)
{
    ASSERT_STREQ(preflight("{allowOrigins: ['*']}", "https://a.com", "GET", NULL),
                 "Access-Control-Allow-Origin: *\r\n"
                 "Access-Control-Max-Age: 5\r\n");
    ASSERT_STRSTR(preflight("{allowOrigins: ['*'], maxAge: 1728000}", "https://a.com", "GET", NULL),
                  "Access-Control-Max-Age: 1728000\r\n");
}

TEST(cors_preflight_wildcards_with_credentials_echo_the_request)
{
    ASSERT_STREQ(preflight(STARS_CREDS, "https://foo.example", "PUT", "Content-Type, x-custom"),
                 "Vary: Origin\r\n"
                 "Access-Control-Allow-Origin: https://foo.example\r\n"
                 "Access-Control-Allow-Credentials: true\r\n"
                 "Access-Control-Allow-Methods: PUT\r\n"
                 "Access-Control-Allow-Headers: Content-Type, x-custom\r\n"
                 "Access-Control-Max-Age: 5\r\n");
    /* No Access-Control-Request-Headers: the field is left out, never "*". */
    ASSERT_STREQ(preflight(STARS_CREDS, "https://foo.example", "PATCH", NULL),
                 "Vary: Origin\r\n"
                 "Access-Control-Allow-Origin: https://foo.example\r\n"
                 "Access-Control-Allow-Credentials: true\r\n"
                 "Access-Control-Allow-Methods: PATCH\r\n"
                 "Access-Control-Max-Age: 5\r\n");
}

TEST(cors_preflight_wildcards_without_credentials)
{
    /* The origin gets "*"; methods and headers are echoed (allowed either way, and understood by
     * browsers that predate the wildcard). */
    ASSERT_STREQ(preflight(STARS_NOCREDS, "https://foo.example", "PUT", "x-a,x-b"),
                 "Access-Control-Allow-Origin: *\r\n"
                 "Access-Control-Allow-Methods: PUT\r\n"
                 "Access-Control-Allow-Headers: x-a, x-b\r\n"
                 "Access-Control-Max-Age: 5\r\n");
    ASSERT_STREQ(preflight(STARS_NOCREDS, "https://foo.example", "PUT", NULL),
                 "Access-Control-Allow-Origin: *\r\n"
                 "Access-Control-Allow-Methods: PUT\r\n"
                 "Access-Control-Allow-Headers: *\r\n"
                 "Access-Control-Max-Age: 5\r\n");
    /* A listed origin with wildcard methods (the conformance manifest's cors-wildcard-methods). */
    ASSERT_STREQ(preflight("{allowOrigins: ['https://www.foo.com'], allowMethods: ['*']}",
                           "https://www.foo.com", "DELETE", NULL),
                 "Vary: Origin\r\n"
                 "Access-Control-Allow-Origin: https://www.foo.com\r\n"
                 "Access-Control-Allow-Methods: DELETE\r\n"
                 "Access-Control-Max-Age: 5\r\n");
}

TEST(cors_preflight_echo_keeps_only_field_names)
{
    /* Elements that are not tokens are dropped rather than reflected into the answer. */
    ASSERT_STRSTR(preflight(STARS_CREDS, "https://a.com", "PUT", " x-a , ,bad value,x-b"),
                  "Access-Control-Allow-Headers: x-a, x-b\r\n");
    const char *none = preflight(STARS_CREDS, "https://a.com", "PUT", "a b, ,");
    ASSERT(!strstr(none, "Allow-Headers"));
    ASSERT_STRSTR(preflight(STARS_NOCREDS, "https://a.com", "PUT", "a b"),
                  "Access-Control-Allow-Headers: *\r\n");
    ASSERT(!strstr(preflight(STARS_CREDS, "https://a.com", "P UT", NULL), "Allow-Methods"));
}

TEST(cors_preflight_expose_star)
{
    ASSERT_STRSTR(
        preflight("{allowOrigins: ['*'], exposeHeaders: ['*']}", "https://a.com", "GET", NULL),
        "Access-Control-Expose-Headers: *\r\n");
    /* With credentials "*" cannot be sent, and a preflight has no response fields to list. */
    ASSERT(!strstr(preflight("{allowOrigins: ['*'], exposeHeaders: ['*'], allowCredentials: true}",
                             "https://a.com", "GET", NULL),
                   "Expose"));
}

TEST(cors_response_allowed_origin)
{
    struct tr_cors_req r = req("PUT", "https://x.bar.com", NULL, NULL);
    ASSERT_STREQ(response_with(FULL, &r, NULL, 0),
                 "Vary: Origin\r\n"
                 "Access-Control-Allow-Origin: https://x.bar.com\r\n"
                 "Access-Control-Allow-Credentials: true\r\n"
                 "Access-Control-Allow-Methods: GET, OPTIONS\r\n"
                 "Access-Control-Allow-Headers: x-header-1, x-header-2\r\n"
                 "Access-Control-Expose-Headers: x-header-3, x-header-4\r\n");
    /* The same for a credentialed request when credentials are allowed. */
    r.credentialed = true;
    ASSERT_STRSTR(response_with(FULL, &r, NULL, 0), "Access-Control-Allow-Credentials: true\r\n");
    /* GEP-1767's simple example. */
    ASSERT_STREQ(
        response(
            "{allowOrigins: ['*'], allowMethods: [GET, HEAD, POST], allowHeaders: [Accept, Range]}",
            "GET", "https://foo.example", false),
        "Access-Control-Allow-Origin: *\r\n"
        "Access-Control-Allow-Methods: GET, HEAD, POST\r\n"
        "Access-Control-Allow-Headers: Accept, Range\r\n");
}

TEST(cors_response_denied_or_not_cross_origin)
{
    ASSERT_STREQ(response(FULL, "GET", "https://evil.com", false), "Vary: Origin\r\n");
    /* No Origin: nothing to allow, but the answer still depends on Origin. */
    ASSERT_STREQ(response(FULL, "GET", NULL, false), "Vary: Origin\r\n");
    ASSERT_STREQ(response("{allowOrigins: ['*']}", "GET", NULL, false), "");
}

TEST(cors_response_to_options_without_request_method)
{
    /* Not a preflight: forwarded, and its response gets the fields of an actual request. */
    struct tr_cors_req r = req("OPTIONS", "https://www.foo.com", NULL, NULL);
    ASSERT_STRSTR(response_with(FULL, &r, NULL, 0),
                  "Access-Control-Allow-Origin: https://www.foo.com\r\n");
    ASSERT(!strstr(response_with(FULL, &r, NULL, 0), "Max-Age"));
}

TEST(cors_response_credentialed_request)
{
    /* allowCredentials false or omitted: no CORS fields at all for a credentialed request. */
    ASSERT_STREQ(response(STARS_NOCREDS, "GET", "https://a.com", true), "");
    ASSERT_STREQ(response("{allowOrigins: ['https://a.com']}", "GET", "https://a.com", true),
                 "Vary: Origin\r\n");
    ASSERT_STREQ(response("{allowOrigins: ['https://a.com']}", "GET", "https://a.com", false),
                 "Vary: Origin\r\nAccess-Control-Allow-Origin: https://a.com\r\n");
    /* allowCredentials true: the origin is echoed, and wildcards with nothing to echo are left
     * out. */
    ASSERT_STREQ(response(STARS_CREDS, "GET", "https://a.com", true),
                 "Vary: Origin\r\n"
                 "Access-Control-Allow-Origin: https://a.com\r\n"
                 "Access-Control-Allow-Credentials: true\r\n");
    /* Uncredentialed, no credentials allowed: "*" everywhere. */
    ASSERT_STREQ(response(STARS_NOCREDS, "GET", "https://a.com", false),
                 "Access-Control-Allow-Origin: *\r\n"
                 "Access-Control-Allow-Methods: *\r\n"
                 "Access-Control-Allow-Headers: *\r\n");
}

TEST(cors_response_expose_star_lists_response_fields_with_credentials)
{
    static const struct tr_h1_header fields[] = {
        {"Content-Type", 12, "text/plain", 10}, {"Content-Encoding", 16, "gzip", 4},
        {"Set-Cookie", 10, "a=b", 3},           {"X-Trace", 7, "1", 1},
        {"content-encoding", 16, "br", 2},      {"Access-Control-Allow-Origin", 27, "*", 1},
    };
    struct tr_cors_req r = req("GET", "https://a.com", NULL, NULL);
    ASSERT_STREQ(
        response_with("{allowOrigins: ['*'], exposeHeaders: ['*'], allowCredentials: true}", &r,
                      fields, 6),
        "Vary: Origin\r\n"
        "Access-Control-Allow-Origin: https://a.com\r\n"
        "Access-Control-Allow-Credentials: true\r\n"
        "Access-Control-Expose-Headers: Content-Encoding, X-Trace\r\n");
    /* Nothing but safelisted fields: nothing to list. */
    ASSERT(
        !strstr(response_with("{allowOrigins: ['*'], exposeHeaders: ['*'], allowCredentials: true}",
                              &r, fields, 1),
                "Expose"));
    ASSERT_STREQ(response_with("{allowOrigins: ['*'], exposeHeaders: ['*']}", &r, fields, 6),
                 "Access-Control-Allow-Origin: *\r\n"
                 "Access-Control-Expose-Headers: *\r\n");
}

TEST(cors_drops_the_backends_cors_fields)
{
    struct tr_arena *a = tr_arena_new(4096);
    const struct tr_ir_cors *f = filter(a, "{allowOrigins: ['*']}");
    ASSERT(tr_cors_drop_response_header(f, "Access-Control-Allow-Origin", 27));
    ASSERT(tr_cors_drop_response_header(f, "access-control-allow-credentials", 32));
    ASSERT(tr_cors_drop_response_header(f, "ACCESS-CONTROL-ALLOW-METHODS", 28));
    ASSERT(tr_cors_drop_response_header(f, "Access-Control-Allow-Headers", 28));
    ASSERT(tr_cors_drop_response_header(f, "Access-Control-Expose-Headers", 29));
    ASSERT(tr_cors_drop_response_header(f, "Access-Control-Max-Age", 22));
    ASSERT(!tr_cors_drop_response_header(f, "Access-Control-Max-Ag", 21));
    ASSERT(!tr_cors_drop_response_header(f, "Vary", 4));
    ASSERT(!tr_cors_drop_response_header(f, "Content-Type", 12));
    ASSERT(!tr_cors_drop_response_header(NULL, "Access-Control-Allow-Origin", 27));
    tr_arena_free(a);
}

TEST(cors_credential_fields)
{
    ASSERT(tr_cors_credential_field("Cookie", 6));
    ASSERT(tr_cors_credential_field("COOKIE", 6));
    ASSERT(!tr_cors_credential_field("Cookie2x", 8));
    ASSERT(!tr_cors_credential_field("Authorization", 13));
}

TEST(cors_buffer_cap_leaves_buffer_unchanged)
{
    struct tr_arena *a = tr_arena_new(4096);
    const struct tr_ir_cors *f = filter(a, FULL);
    struct tr_buf b;
    tr_buf_init(&b, 64);
    tr_buf_puts(&b, "X: y\r\n");
    struct tr_cors_req r = req("OPTIONS", "https://www.foo.com", "GET", NULL);
    ASSERT_EQ(tr_cors_preflight(f, &r, &b), TR_ELIMIT);
    ASSERT_STREQ(b.data, "X: y\r\n");
    r = req("GET", "https://www.foo.com", NULL, NULL);
    ASSERT_EQ(tr_cors_response(f, &r, NULL, 0, &b), TR_ELIMIT);
    ASSERT_EQ(b.len, 6);
    ASSERT_STREQ(b.data, "X: y\r\n");
    tr_buf_dispose(&b);
    tr_arena_free(a);
}
