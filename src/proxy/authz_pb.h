/* Envoy's ext_authz gRPC API (envoy.service.auth.v3.Authorization/Check), the GRPC protocol of
 * the ExternalAuth filter: the CheckRequest torii sends and the CheckResponse it reads, in
 * protobuf's wire format, for the parts torii uses. Pure functions; the decoder takes anything
 * (tests/fuzz/authz_response.c). */
#ifndef TR_PROXY_AUTHZ_PB_H
#define TR_PROXY_AUTHZ_PB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tr_buf;
struct tr_h1_header;

/* What a CheckRequest says (AttributeContext): the peers, and the request (HttpRequest). */
struct tr_authz_req {
    const char *src_addr, *dst_addr; /* source: the client; destination: the listener */
    uint16_t src_port, dst_port;
    const char *method, *path, *host, *scheme, *protocol;
    size_t method_len, path_len, host_len;
    const char *query; /* after the "?" of path, or NULL */
    size_t query_len;
    const struct tr_h1_header *headers; /* sent with their names lower-cased; repeated names joined by "," */
    size_t nheaders;
    const char *body; /* forwarded body, or NULL */
    size_t body_len;
    int64_t size; /* the request body's size, -1 when not known */
};

/* Appends r as one gRPC message: the 5-byte prefix (uncompressed), then the CheckRequest. */
void tr_authz_encode(struct tr_buf *out, const struct tr_authz_req *r);

#define TR_AUTHZ_MAX_HEADERS 64

struct tr_authz_field {
    const char *name, *value;
    size_t name_len, value_len;
    bool append; /* add beside the request's own, rather than replace them */
};

/* What a CheckResponse says; slices point into the message read. */
struct tr_authz_resp {
    int32_t code;    /* status.code: 0 is OK */
    int http_status; /* denied_response.status.code, or 0 */
    /* ok_response.headers (set on the request) or denied_response.headers (for the client) */
    struct tr_authz_field fields[TR_AUTHZ_MAX_HEADERS];
    size_t nfields;
    /* ok_response.headers_to_remove */
    struct tr_authz_field remove[TR_AUTHZ_MAX_HEADERS];
    size_t nremove;
    const char *body; /* denied_response.body */
    size_t body_len;
};

/* Reads a CheckResponse (the message, no gRPC prefix): 0, or -1 when it is not one (bad wire
 * format, or more fields than TR_AUTHZ_MAX_HEADERS). */
int tr_authz_decode(const char *p, size_t n, struct tr_authz_resp *out);

#endif
