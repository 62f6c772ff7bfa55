/* HTTPRoute filters applied on the HTTP/1 path: RequestHeaderModifier, ResponseHeaderModifier
 * (of the rule and of the backendRef), RequestRedirect, URLRewrite, and the rule's timeouts.
 * Pure functions of the rule as translate compiled it (ir/ir.h) and the request head. */
#ifndef TR_PROXY_FILTERS_H
#define TR_PROXY_FILTERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tr_buf;
struct tr_ir_rule;
struct tr_ir_filters;
struct tr_ir_header_mod;
struct tr_h1_req;

struct tr_filter_out {
    int redirect_status;  /* non-zero: answer with this redirect */
    char location[2048];  /* its Location */
    const char *host;     /* URLRewrite hostname, or NULL */
    const char *path;     /* URLRewrite target (path and query), or NULL */
    char path_buf[4096];
    const struct tr_ir_header_mod *mod;  /* the rule's header modifier (request or response), or NULL */
    const struct tr_ir_header_mod *bmod; /* the chosen backendRef's (same side), applied after the rule's, or NULL */
};

/* Request-side filters of rule (match index `match`) for req arriving on a listener port, over
 * TLS or not (the scheme a redirect keeps). host is the request's host without its port. */
void tr_filters_request(const struct tr_ir_rule *rule, uint32_t match, const struct tr_h1_req *req,
                        const char *host, uint16_t listener_port, bool tls, struct tr_filter_out *out);
/* Adds the request header modifier of a backendRef's filters (HTTPBackendRef.filters). */
void tr_filters_backend(const struct tr_ir_filters *filters, struct tr_filter_out *out);
/* Response-side filters of rule (may be NULL) and of the backendRef whose response it is
 * (backend_filters, or NULL): its ResponseHeaderModifier applies after the rule's, to responses
 * from that backend only (HTTPBackendRef.filters). */
void tr_filters_response(const struct tr_ir_rule *rule, const struct tr_ir_filters *backend_filters,
                         struct tr_filter_out *out);

/* Should a received field be left out (removed, or replaced by a "set")? */
bool tr_filters_drop_request_header(const struct tr_filter_out *f, const char *name, size_t len);
bool tr_filters_drop_response_header(const struct tr_filter_out *f, const char *name, size_t len);
/* Appends the "set" and "add" fields as "Name: value\r\n" lines. */
void tr_filters_add_request_headers(const struct tr_filter_out *f, struct tr_buf *b);
void tr_filters_add_response_headers(const struct tr_filter_out *f, struct tr_buf *b);

/* The rule's timeouts in milliseconds (NULL rule: none), 0 when not set: *request_ms
 * (timeouts.request) for the whole exchange, retries included, and *backend_ms
 * (timeouts.backendRequest) for each try. */
void tr_filters_timeouts_ms(const struct tr_ir_rule *rule, uint64_t *request_ms, uint64_t *backend_ms);

#endif
