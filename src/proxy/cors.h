/* The HTTPRoute CORS filter (HTTPCORSFilter, Gateway API GEP-1767, experimental channel): the
 * gateway answers preflights itself and adds the Access-Control-* fields to the responses of
 * cross-origin requests. Pure functions of the filter as translate compiled it (tr_ir_cors,
 * ir/ir.h) and the request's fields: no I/O, no state; any thread.
 *
 * How the proxy uses it, for a request routed to a rule whose tr_cors_filter() is not NULL:
 * - tr_cors_is_preflight(): answer at once with tr_cors_preflight()'s status and fields, and do
 *   not forward the request (GEP-1767: "the gateway will generate the response of the
 *   preflight requests and send back it to the client directly").
 * - otherwise forward it; on the response, leave out every field tr_cors_drop_response_header()
 *   names and append tr_cors_response()'s fields. */
#ifndef TR_PROXY_CORS_H
#define TR_PROXY_CORS_H

#include <stdbool.h>
#include <stddef.h>

struct tr_buf;
struct tr_ir_cors;
struct tr_ir_rule;
struct tr_h1_header;

/* The request fields CORS reads. Each value is a slice of the request, OWS trimmed (NULL or
 * length 0 when the field is absent). */
struct tr_cors_req {
    const char *method; /* the request method, case-sensitive ("OPTIONS") */
    size_t method_len;
    const char *origin; /* Origin */
    size_t origin_len;
    const char *acrm; /* Access-Control-Request-Method */
    size_t acrm_len;
    const char *acrh; /* Access-Control-Request-Headers (a comma-separated list) */
    size_t acrh_len;
    /* The request carries credentials: a Cookie field (see tr_cors_credential_field()) or a TLS
     * client certificate. Ignored for preflights, which never carry any (GEP-1767). */
    bool credentialed;
};

/* The CORS filter of rule (NULL allowed), or NULL. The result is the rule's. */
const struct tr_ir_cors *tr_cors_filter(const struct tr_ir_rule *rule);

/* Is req a CORS preflight: OPTIONS with both Origin and Access-Control-Request-Method? An
 * OPTIONS request without them is an ordinary request, forwarded to the backend. */
bool tr_cors_is_preflight(const struct tr_cors_req *req);

/* Does a request field of this name (case-insensitive) make the request credentialed? Only
 * Cookie: browsers send it cross-origin only in credentials mode "include", and scripts cannot
 * set it. Authorization is not one: a script may set it on an uncredentialed request (a bearer
 * token is an ordinary header that a preflight lists in Access-Control-Request-Headers). */
bool tr_cors_credential_field(const char *name, size_t len);

/* Does the filter cors allow this Origin value? An allowOrigins entry "*" allows every origin;
 * otherwise scheme, host and port must match, the port defaulting to 80 for http and 443 for
 * https, and a host "*.example.com" allowing any name under example.com (not example.com
 * itself), a host "*" any host. Scheme and host compare case-insensitively. */
bool tr_cors_origin_allowed(const struct tr_ir_cors *cors, const char *origin, size_t len);

/* Answers the preflight req under the filter cors: appends its fields to b as "Name: value\r\n"
 * lines and returns the status, 204. When the origin is allowed, the fields are
 * Access-Control-Allow-Origin, -Allow-Credentials, -Allow-Methods, -Allow-Headers,
 * -Expose-Headers and -Max-Age as configured; when it is not, the preflight is still answered
 * with 204, without them, and the browser then fails the request (HTTPCORSFilter allowOrigins
 * docs). "Vary: Origin" comes first whenever the answer depends on the origin. Returns
 * TR_ELIMIT, with b left as it was, when b's cap is reached. */
int tr_cors_preflight(const struct tr_ir_cors *cors, const struct tr_cors_req *req, struct tr_buf *b);

/* Appends to b the CORS fields for the response to the forwarded request req (any method, with
 * or without Origin) under the filter cors. fields[0..nfields) are the response's own fields:
 * with exposeHeaders "*" and allowCredentials true, Access-Control-Expose-Headers lists their
 * names, since the wildcard cannot be sent then. Returns TR_OK, or TR_ELIMIT with b left as it
 * was. */
int tr_cors_response(const struct tr_ir_cors *cors, const struct tr_cors_req *req,
                     const struct tr_h1_header *fields, size_t nfields, struct tr_buf *b);

/* Should the backend's response field of this name be left out? True under a CORS filter for
 * the six fields the filter owns (Access-Control-Allow-Origin, -Allow-Credentials,
 * -Allow-Methods, -Allow-Headers, -Expose-Headers, -Max-Age), whether or not it sends them:
 * the route's policy decides, and two Access-Control-Allow-Origin fields fail the request in
 * the browser. False when cors is NULL. */
bool tr_cors_drop_response_header(const struct tr_ir_cors *cors, const char *name, size_t len);

#endif
