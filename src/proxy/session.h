/* Session persistence (GEP-1619): a request that carries its session's token goes to the
 * endpoint the token names; one without a token, or whose token no longer holds (expired,
 * another rule's, an endpoint gone or not ready), is load-balanced and its response starts a
 * session with a new token, in a cookie or in a header as the rule says.
 *
 * The token names the rule (its route and index), the backend (Service and port) and the
 * endpoint (address and port) by hashes, and the session's start: any replica of torii reads
 * another's, and nothing in it says where the endpoint is. A client that forges one chooses an
 * endpoint the rule has anyway. Worker threads. */
#ifndef TR_PROXY_SESSION_H
#define TR_PROXY_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tr_buf;
struct tr_exchange;
struct tr_h1_req;
struct tr_ir_backend;
struct tr_ir_endpoint;
struct tr_ir_rule;
struct tr_ir_session;

#define TR_SESSION_TOKEN_LEN 41

/* A token's parts. */
struct tr_session_token {
    uint32_t rule, backend;
    uint64_t endpoint;
    uint32_t created; /* Unix seconds */
};

/* The token's text (TR_SESSION_TOKEN_LEN characters and a NUL) into out. */
void tr_session_token_format(const struct tr_session_token *t, char *out);
/* Reads a token's text; false when s (len bytes) is none. */
bool tr_session_token_parse(const char *s, size_t len, struct tr_session_token *t);

/* The value of cookie name in the Cookie fields of the request (any number of them, as HTTP/2
 * sends), or NULL. */
const char *tr_session_cookie(const struct tr_h1_req *req, const char *name, size_t name_len, size_t *len);

/* At dispatch, for rule r (match index `match`) of x's request: sets up x's session when r has
 * one, and when the request's token names a ready endpoint of a valid backend of r (whatever its
 * weight, GEP-1619 "Traffic Splitting"), returns it and its backend in *b; NULL otherwise (load
 * balance, then tr_session_chosen). */
const struct tr_ir_endpoint *tr_session_lookup(struct tr_exchange *x, const struct tr_ir_rule *r, uint32_t match,
                                               const struct tr_h1_req *req, const struct tr_ir_backend **b);
/* The request goes to endpoint ep of backend b, chosen by load balancing (at dispatch, or by a
 * retry): unless it is the session's own, the response starts a new session there. */
void tr_session_chosen(struct tr_exchange *x, const struct tr_ir_backend *b, const struct tr_ir_endpoint *ep);
/* The response's field that starts the session (Set-Cookie, or the session header), appended
 * to out as a "Name: value\r\n" line; nothing when the request kept its session. */
void tr_session_response(const struct tr_exchange *x, struct tr_buf *out);

#endif
