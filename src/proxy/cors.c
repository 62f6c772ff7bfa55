#include "proxy/cors.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/node.h"
#include "http/h1_parse.h"
#include "ir/ir.h"

#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

/* The filter's fields, read once per call. */
struct cfg {
    const struct tr_node *origins, *methods, *headers, *expose;
    bool creds;
    int64_t max_age;
};

static bool is_star(const struct tr_node *n)
{
    return n && n->type == TR_N_STR && n->n == 1 && n->u.s[0] == '*';
}

/* The schema forbids "*" beside other entries (CEL on each list); "*" anywhere still means all,
 * so a tree that skipped validation cannot widen or narrow the policy by order. */
static bool has_star(const struct tr_node *list)
{
    for (size_t i = 0; i < tr_node_len(list); i++)
        if (is_star(tr_node_at(list, i)))
            return true;
    return false;
}

static void read_cfg(const struct tr_node *cors, struct cfg *c)
{
    c->origins = tr_node_get(cors, "allowOrigins");
    c->methods = tr_node_get(cors, "allowMethods");
    c->headers = tr_node_get(cors, "allowHeaders");
    c->expose = tr_node_get(cors, "exposeHeaders");
    c->creds = tr_node_getb(cors, "allowCredentials", false);
    /* maxAge defaults to 5 in the CRD; the default is restated for trees built without it. */
    c->max_age = tr_node_geti(cors, "maxAge", 5);
}

const struct tr_node *tr_cors_find(const struct tr_node *filters)
{
    for (size_t i = 0; i < tr_node_len(filters); i++) {
        const struct tr_node *f = tr_node_at(filters, i);
        const char *t = tr_node_gets(f, "type");
        if (t && strcmp(t, "CORS") == 0)
            return tr_node_get(f, "cors");
    }
    return NULL;
}

const struct tr_node *tr_cors_filter(const struct tr_ir_rule *rule)
{
    return rule ? tr_cors_find(tr_node_get(rule->spec, "filters")) : NULL;
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

/* An origin or an allowOrigins entry: <scheme>://<host>[:<port>], nothing after. */
struct origin {
    const char *scheme, *host;
    size_t scheme_len, host_len;
    long port; /* the scheme's default when absent; -1 for a scheme without one */
};

static long default_port(const char *scheme, size_t len)
{
    if (tr_h1_token_eq(scheme, len, "http", 4))
        return 80;
    if (tr_h1_token_eq(scheme, len, "https", 5))
        return 443;
    return -1;
}

/* Reads ":port" at s[0..len): 1-65535, digits only. Returns -1 when it is not one. */
static long parse_port(const char *s, size_t len)
{
    if (len < 2 || len > 6 || s[0] != ':')
        return -1;
    long port = 0;
    for (size_t i = 1; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        port = port * 10 + (s[i] - '0');
    }
    return port >= 1 && port <= 65535 ? port : -1;
}

/* Splits s into scheme, host and port. An IPv6 host keeps its brackets ("[::1]"). Returns false
 * for anything else, such as the opaque origin "null" or a value with a path. */
static bool parse_origin(const char *s, size_t len, struct origin *o)
{
    const char *end = s + len;
    const char *sep = len >= 3 ? memmem(s, len, "://", 3) : NULL;
    if (!sep || sep == s)
        return false;
    o->scheme = s;
    o->scheme_len = (size_t)(sep - s);
    o->host = sep + 3;
    const char *p = o->host;
    if (p < end && *p == '[') {
        const char *close = memchr(p, ']', (size_t)(end - p));
        if (!close)
            return false;
        p = close + 1;
    } else {
        while (p < end && *p != ':' && *p != '/' && *p != '?' && *p != '#' && *p != '@')
            p++;
    }
    o->host_len = (size_t)(p - o->host);
    if (o->host_len == 0)
        return false;
    o->port = p == end ? default_port(o->scheme, o->scheme_len) : parse_port(p, (size_t)(end - p));
    return o->port > 0;
}

/* allowOrigins host wildcards: "*" alone matches all hosts; a leading "*" is "a greedy match to
 * the left, including any number of DNS labels", so "*.example.com" matches a.example.com and
 * a.b.example.com. At least one character stands for the "*": the bare domain example.com is not
 * matched, as with Listener hostnames. */
static bool host_match(const struct origin *pat, const struct origin *o)
{
    if (pat->host_len == 1 && pat->host[0] == '*')
        return true;
    if (pat->host[0] != '*')
        return o->host_len == pat->host_len && strncasecmp(o->host, pat->host, o->host_len) == 0;
    size_t slen = pat->host_len - 1; /* ".example.com" */
    return o->host_len > slen &&
           strncasecmp(o->host + o->host_len - slen, pat->host + 1, slen) == 0;
}

/* "Note that, if not included, port 80 is assumed for http scheme origins, and port 443 is
 * assumed for https origins. This may affect origin matching." (allowOrigins docs): both sides
 * are compared with their defaults filled in, so https://a.com matches https://a.com:443. */
static bool origin_match(const struct tr_node *entry, const struct origin *o)
{
    struct origin pat;
    if (entry->type != TR_N_STR || !parse_origin(entry->u.s, entry->n, &pat))
        return false;
    return pat.scheme_len == o->scheme_len &&
           strncasecmp(pat.scheme, o->scheme, o->scheme_len) == 0 && pat.port == o->port &&
           host_match(&pat, o);
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

bool tr_cors_origin_allowed(const struct tr_node *cors, const char *origin, size_t len)
{
    if (!present(origin, len) || !visible(origin, len))
        return false;
    const struct tr_node *list = tr_node_get(cors, "allowOrigins");
    if (has_star(list))
        return true;
    struct origin o;
    if (!parse_origin(origin, len, &o))
        return false;
    for (size_t i = 0; i < tr_node_len(list); i++)
        if (origin_match(tr_node_at(list, i), &o))
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
static void put_list(struct out *o, const char *name, const struct tr_node *list)
{
    put(o, "%s: ", name);
    for (size_t i = 0; i < tr_node_len(list); i++) {
        const char *s = tr_node_at(list, i)->type == TR_N_STR ? tr_node_at(list, i)->u.s : "";
        put(o, "%s%s", i ? ", " : "", s);
    }
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
static void put_vary(struct out *o, const struct cfg *c)
{
    if (tr_node_len(c->origins) > 0 && !(has_star(c->origins) && !c->creds))
        put(o, "Vary: Origin\r\n");
}

/* allowOrigins "*" without credentials answers "*" (the docs' own example); with credentials,
 * or for a listed origin, the origin itself: "the gateway must not return * ... it must return a
 * single origin matching the value of the Origin request header". */
static void put_origin(struct out *o, const struct cfg *c, const struct tr_cors_req *r)
{
    if (has_star(c->origins) && !c->creds)
        put(o, "Access-Control-Allow-Origin: *\r\n");
    else
        put(o, "Access-Control-Allow-Origin: %.*s\r\n", (int)r->origin_len, r->origin);
    if (c->creds)
        put(o, "Access-Control-Allow-Credentials: true\r\n");
}

/* allowMethods "*" echoes Access-Control-Request-Method: required with credentials, allowed
 * without, and older browsers do not take the wildcard (GEP-1767 "Wildcard Resolution and
 * Credentials"). With no method to echo (an actual request), "*" without credentials; with
 * them the field is left out ("If the Access-Control-Request-Method header is not present in
 * the request, the gateway must omit the Access-Control-Allow-Methods response header"). */
static void put_methods(struct out *o, const struct cfg *c, const struct tr_cors_req *r)
{
    if (tr_node_len(c->methods) == 0)
        return;
    if (!has_star(c->methods))
        put_list(o, "Access-Control-Allow-Methods", c->methods);
    else if (is_token(r->acrm, r->acrm_len))
        put(o, "Access-Control-Allow-Methods: %.*s\r\n", (int)r->acrm_len, r->acrm);
    else if (!c->creds)
        put(o, "Access-Control-Allow-Methods: *\r\n");
}

/* allowHeaders: the same rule as allowMethods, echoing Access-Control-Request-Headers. */
static void put_headers(struct out *o, const struct cfg *c, const struct tr_cors_req *r)
{
    if (tr_node_len(c->headers) == 0)
        return;
    if (!has_star(c->headers))
        put_list(o, "Access-Control-Allow-Headers", c->headers);
    else if (!put_echo_names(o, "Access-Control-Allow-Headers", r->acrh, r->acrh_len) && !c->creds)
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

static void put_expose(struct out *o, const struct cfg *c, const struct tr_h1_header *fields,
                       size_t nfields)
{
    if (tr_node_len(c->expose) == 0)
        return;
    if (!has_star(c->expose))
        put_list(o, "Access-Control-Expose-Headers", c->expose);
    else if (!c->creds)
        put(o, "Access-Control-Expose-Headers: *\r\n");
    else
        put_expose_names(o, fields, nfields);
}

/* --- The two answers --- */

int tr_cors_preflight(const struct tr_node *cors, const struct tr_cors_req *req, struct tr_buf *b)
{
    struct cfg c;
    read_cfg(cors, &c);
    struct out o = out_start(b);
    put_vary(&o, &c);
    /* Only the origin decides: allowMethods and allowHeaders are sent as configured, and a
     * request method or field outside them "will present an error on the client side" (their
     * docs); the CORS-safelisted methods GET, HEAD and POST are allowed in any case. */
    if (tr_cors_origin_allowed(cors, req->origin, req->origin_len)) {
        put_origin(&o, &c, req);
        put_methods(&o, &c, req);
        put_headers(&o, &c, req);
        put_expose(&o, &c, NULL, 0);
        put(&o, "Access-Control-Max-Age: %lld\r\n", (long long)c.max_age);
    }
    int rc = finish(&o);
    /* "The status code of a successful response to a preflight request is always an OK status
     * (i.e., 204 or 200)"; a denied one may be the same without the fields (allowOrigins docs).
     * 204 for both: it carries no body, so the answer needs no Content-Length. */
    return rc != TR_OK ? rc : 204;
}

int tr_cors_response(const struct tr_node *cors, const struct tr_cors_req *req,
                     const struct tr_h1_header *fields, size_t nfields, struct tr_buf *b)
{
    struct cfg c;
    read_cfg(cors, &c);
    struct out o = out_start(b);
    put_vary(&o, &c);
    /* "If the Gateway is configured with allowCredentials: false or allowCredentials is omitted,
     * the Gateway MUST NOT set any CORS headers in the response to a credentialed request"
     * (GEP-1767); the browser would refuse the response anyway. */
    bool refused = req->credentialed && !c.creds;
    if (!refused && tr_cors_origin_allowed(cors, req->origin, req->origin_len)) {
        put_origin(&o, &c, req);
        put_methods(&o, &c, req);
        put_headers(&o, &c, req);
        put_expose(&o, &c, fields, nfields);
    }
    return finish(&o);
}

bool tr_cors_drop_response_header(const struct tr_node *cors, const char *name, size_t len)
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
