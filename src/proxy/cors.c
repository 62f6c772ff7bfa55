#include "proxy/cors.h"
#include "base/buf.h"
#include "base/err.h"
#include "http/h1_parse.h"
#include "http/origin.h"
#include "ir/ir.h"

#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

const struct tr_ir_cors *tr_cors_filter(const struct tr_ir_rule *rule)
{
    return rule ? tr_ir_filters_cors(rule->spec->filters) : NULL;
}

static bool present(const char *s, size_t len)
{
    return s && len > 0;
}

bool tr_cors_is_preflight(const struct tr_cors_req *req)
{
    /* Fetch "CORS-preflight request"; methods are case-sensitive (RFC 9110 9.1). */
    return req->method_len == 7 && memcmp(req->method, "OPTIONS", 7) == 0 &&
           present(req->origin, req->origin_len) && present(req->acrm, req->acrm_len);
}

bool tr_cors_credential_field(const char *name, size_t len)
{
    return tr_h1_token_eq(name, len, "cookie", 6);
}

/* --- Origins --- */

/* allowOrigins host wildcards: "*" alone matches all hosts; a leading "*" is "a greedy match to
 * the left, including any number of DNS labels", so "*.example.com" matches a.example.com and
 * a.b.example.com. At least one character stands for the "*": the bare domain example.com is not
 * matched, as with Listener hostnames. */
static bool host_match(const struct tr_ir_origin *pat, const struct tr_origin *o)
{
    const struct tr_origin *p = &pat->o;
    switch (pat->host_kind) {
    case TR_IR_HOST_ANY:
        return true;
    case TR_IR_HOST_SUFFIX: /* p->host is ".example.com" */
        return o->host_len > p->host_len &&
               strncasecmp(o->host + o->host_len - p->host_len, p->host, p->host_len) == 0;
    case TR_IR_HOST_EXACT:
        break;
    }
    return o->host_len == p->host_len && strncasecmp(o->host, p->host, o->host_len) == 0;
}

/* "Note that, if not included, port 80 is assumed for http scheme origins, and port 443 is
 * assumed for https origins. This may affect origin matching." (allowOrigins docs): both sides
 * are compared with their defaults filled in, so https://a.com matches https://a.com:443. */
static bool origin_match(const struct tr_ir_origin *entry, const struct tr_origin *o)
{
    const struct tr_origin *p = &entry->o;
    return entry->valid && p->scheme_len == o->scheme_len &&
           strncasecmp(p->scheme, o->scheme, o->scheme_len) == 0 && p->port == o->port && host_match(entry, o);
}

/* A value echoed into a response field must be visible ASCII: the h1 parser already refuses
 * CR, LF and NUL, but obs-text and spaces have no place in an origin either. */
static bool visible(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
            return false;
    return true;
}

bool tr_cors_origin_allowed(const struct tr_ir_cors *cors, const char *origin, size_t len)
{
    if (!cors || !present(origin, len) || !visible(origin, len))
        return false;
    if (cors->any_origin)
        return true;
    struct tr_origin o;
    if (!tr_origin_parse(origin, len, &o))
        return false;
    for (size_t i = 0; i < cors->norigins; i++)
        if (origin_match(&cors->origins[i], &o))
            return true;
    return false;
}

/* --- Writing fields --- */

/* Appends to b; the first failure stops all later writes, and finish() then takes b back to
 * where it started, so a caller never sees half of a field. */
struct out {
    struct tr_buf *b;
    size_t start;
    int rc;
};

static struct out out_start(struct tr_buf *b)
{
    return (struct out){b, b->len, TR_OK};
}

__attribute__((format(printf, 2, 3))) static void put(struct out *o, const char *fmt, ...)
{
    if (o->rc != TR_OK)
        return;
    va_list ap;
    va_start(ap, fmt);
    o->rc = tr_buf_vprintf(o->b, fmt, ap);
    va_end(ap);
}

static int finish(struct out *o)
{
    if (o->rc != TR_OK) {
        o->b->len = o->start;
        if (o->b->data)
            o->b->data[o->start] = '\0';
    }
    return o->rc;
}

/* "Name: a, b, c\r\n" from a list of strings ("Multiple ... are separated by a comma"). */
static void put_list(struct out *o, const char *name, const struct tr_ir_strs *list)
{
    put(o, "%s: ", name);
    for (size_t i = 0; i < list->n; i++)
        put(o, "%s%s", i ? ", " : "", list->v[i]);
    put(o, "\r\n");
}

static bool is_tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* RFC 9110 5.6.2 token: what method and field names are. */
static bool is_token(const char *s, size_t len)
{
    if (!present(s, len))
        return false;
    for (size_t i = 0; i < len; i++)
        if (!is_tchar(s[i]))
            return false;
    return true;
}

/* Echoes the field names of Access-Control-Request-Headers, keeping only tokens, as
 * "Name: a, b\r\n". Returns false, writing nothing, when none is left. */
static bool put_echo_names(struct out *o, const char *name, const char *acrh, size_t acrh_len)
{
    const char *end = acrh + acrh_len, *pos = acrh, *e;
    size_t elen, n = 0;
    while (present(acrh, acrh_len) && tr_h1_list_next(&pos, end, &e, &elen))
        n += is_token(e, elen);
    if (n == 0)
        return false;
    put(o, "%s: ", name);
    pos = acrh;
    n = 0;
    while (tr_h1_list_next(&pos, end, &e, &elen))
        if (is_token(e, elen))
            put(o, "%s%.*s", n++ ? ", " : "", (int)elen, e);
    put(o, "\r\n");
    return true;
}

/* Vary: Origin when the answer depends on the Origin sent, that is unless every origin gets the
 * same "*" (fetch, "CORS protocol and HTTP caches"): without it a shared cache could hand one
 * origin's Access-Control-Allow-Origin to another, or a no-CORS response to a CORS request. */
static void put_vary(struct out *o, const struct tr_ir_cors *c)
{
    if ((c->any_origin || c->norigins > 0) && !(c->any_origin && !c->credentials))
        put(o, "Vary: Origin\r\n");
}

/* allowOrigins "*" without credentials answers "*" (the docs' own example); with credentials,
 * or for a listed origin, the origin itself: "the gateway must not return * ... it must return a
 * single origin matching the value of the Origin request header". */
static void put_origin(struct out *o, const struct tr_ir_cors *c, const struct tr_cors_req *r)
{
    if (c->any_origin && !c->credentials)
        put(o, "Access-Control-Allow-Origin: *\r\n");
    else
        put(o, "Access-Control-Allow-Origin: %.*s\r\n", (int)r->origin_len, r->origin);
    if (c->credentials)
        put(o, "Access-Control-Allow-Credentials: true\r\n");
}

/* allowMethods "*" echoes Access-Control-Request-Method: required with credentials, allowed
 * without, and older browsers do not take the wildcard (GEP-1767 "Wildcard Resolution and
 * Credentials"). With no method to echo (an actual request), "*" without credentials; with
 * them the field is left out ("If the Access-Control-Request-Method header is not present in
 * the request, the gateway must omit the Access-Control-Allow-Methods response header"). */
static void put_methods(struct out *o, const struct tr_ir_cors *c, const struct tr_cors_req *r)
{
    if (c->methods.n == 0)
        return;
    if (!c->methods.any)
        put_list(o, "Access-Control-Allow-Methods", &c->methods);
    else if (is_token(r->acrm, r->acrm_len))
        put(o, "Access-Control-Allow-Methods: %.*s\r\n", (int)r->acrm_len, r->acrm);
    else if (!c->credentials)
        put(o, "Access-Control-Allow-Methods: *\r\n");
}

/* allowHeaders: the same rule as allowMethods, echoing Access-Control-Request-Headers. */
static void put_headers(struct out *o, const struct tr_ir_cors *c, const struct tr_cors_req *r)
{
    if (c->headers.n == 0)
        return;
    if (!c->headers.any)
        put_list(o, "Access-Control-Allow-Headers", &c->headers);
    else if (!put_echo_names(o, "Access-Control-Allow-Headers", r->acrh, r->acrh_len) && !c->credentials)
        put(o, "Access-Control-Allow-Headers: *\r\n");
}

/* Response fields not worth listing for exposeHeaders "*": the CORS-safelisted response header
 * names are always exposed, Set-Cookie never is (fetch, "forbidden response-header name"), and
 * the backend's Access-Control-* fields are dropped. */
static bool unlisted(const char *name, size_t len)
{
    static const char *const names[] = {"cache-control", "content-language", "content-length",
                                        "content-type",  "expires",          "last-modified",
                                        "pragma",        "set-cookie"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (tr_h1_token_eq(name, len, names[i], strlen(names[i])))
            return true;
    return len >= 15 && strncasecmp(name, "access-control-", 15) == 0;
}

static bool seen_before(const struct tr_h1_header *fields, size_t i)
{
    for (size_t j = 0; j < i; j++)
        if (fields[j].name_len == fields[i].name_len &&
            strncasecmp(fields[j].name, fields[i].name, fields[i].name_len) == 0)
            return true;
    return false;
}

/* exposeHeaders "*" with credentials: "the gateway cannot use the * in the
 * Access-Control-Expose-Headers response header", so the response's own field names stand for
 * it, as GEP-1767's example shows. With no fields to list (a preflight) the field is left out. */
static void put_expose_names(struct out *o, const struct tr_h1_header *fields, size_t nfields)
{
    size_t n = 0;
    for (size_t i = 0; i < nfields; i++) {
        if (unlisted(fields[i].name, fields[i].name_len) || seen_before(fields, i))
            continue;
        put(o, "%s%.*s", n++ ? ", " : "Access-Control-Expose-Headers: ", (int)fields[i].name_len,
            fields[i].name);
    }
    if (n)
        put(o, "\r\n");
}

static void put_expose(struct out *o, const struct tr_ir_cors *c, const struct tr_h1_header *fields,
                       size_t nfields)
{
    if (c->expose.n == 0)
        return;
    if (!c->expose.any)
        put_list(o, "Access-Control-Expose-Headers", &c->expose);
    else if (!c->credentials)
        put(o, "Access-Control-Expose-Headers: *\r\n");
    else
        put_expose_names(o, fields, nfields);
}

/* --- The two answers --- */

int tr_cors_preflight(const struct tr_ir_cors *cors, const struct tr_cors_req *req, struct tr_buf *b)
{
    struct out o = out_start(b);
    put_vary(&o, cors);
    /* Only the origin decides: allowMethods and allowHeaders are sent as configured, and a
     * request method or field outside them "will present an error on the client side" (their
     * docs); the CORS-safelisted methods GET, HEAD and POST are allowed in any case. */
    if (tr_cors_origin_allowed(cors, req->origin, req->origin_len)) {
        put_origin(&o, cors, req);
        put_methods(&o, cors, req);
        put_headers(&o, cors, req);
        put_expose(&o, cors, NULL, 0);
        put(&o, "Access-Control-Max-Age: %lld\r\n", (long long)cors->max_age);
    }
    int rc = finish(&o);
    /* "The status code of a successful response to a preflight request is always an OK status
     * (i.e., 204 or 200)"; a denied one may be the same without the fields (allowOrigins docs).
     * 204 for both: it carries no body, so the answer needs no Content-Length. */
    return rc != TR_OK ? rc : 204;
}

int tr_cors_response(const struct tr_ir_cors *cors, const struct tr_cors_req *req,
                     const struct tr_h1_header *fields, size_t nfields, struct tr_buf *b)
{
    struct out o = out_start(b);
    put_vary(&o, cors);
    /* "If the Gateway is configured with allowCredentials: false or allowCredentials is omitted,
     * the Gateway MUST NOT set any CORS headers in the response to a credentialed request"
     * (GEP-1767); the browser would refuse the response anyway. */
    bool refused = req->credentialed && !cors->credentials;
    if (!refused && tr_cors_origin_allowed(cors, req->origin, req->origin_len)) {
        put_origin(&o, cors, req);
        put_methods(&o, cors, req);
        put_headers(&o, cors, req);
        put_expose(&o, cors, fields, nfields);
    }
    return finish(&o);
}

bool tr_cors_drop_response_header(const struct tr_ir_cors *cors, const char *name, size_t len)
{
    static const char *const owned[] = {
        "access-control-allow-origin",   "access-control-allow-credentials",
        "access-control-allow-methods",  "access-control-allow-headers",
        "access-control-expose-headers", "access-control-max-age"};
    if (!cors)
        return false;
    for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++)
        if (tr_h1_token_eq(name, len, owned[i], strlen(owned[i])))
            return true;
    return false;
}
