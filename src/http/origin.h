/* Origins as the Origin request field and CORS allowOrigins entries write them (RFC 6454 6.2,
 * "serialized origin"): <scheme>://<host>[:<port>], nothing after. Pure: no allocation; the
 * result points into the caller's string. Translate parses each allowOrigins entry once, the
 * proxy each request's Origin. */
#ifndef TR_HTTP_ORIGIN_H
#define TR_HTTP_ORIGIN_H

#include <stdbool.h>
#include <stddef.h>

struct tr_origin {
    const char *scheme, *host;
    size_t scheme_len, host_len; /* an IPv6 host keeps its brackets ("[::1]") */
    long port; /* as given, else the scheme's default (80 for http, 443 for https) */
};

/* Splits s[0..len) into scheme, host and port. Returns false for anything that is not an origin
 * with a port: the opaque origin "null", a value with a path, userinfo or an empty host, a port
 * outside 1-65535, or no port with a scheme that has no default. */
bool tr_origin_parse(const char *s, size_t len, struct tr_origin *o);

#endif
