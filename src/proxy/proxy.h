/* The HTTP path (HTTP/1.1 and HTTP/2, plaintext and TLS) as the workers run it. */
#ifndef TR_PROXY_PROXY_H
#define TR_PROXY_PROXY_H

#include <stdint.h>

struct tr_worker_ops;

/* When the route sets no timeout: how long a request body, and then the response, may go
 * without progress (--response-timeout). Before the workers start. */
void tr_proxy_set_response_timeout(uint64_t ms);

/* Fills in the HTTP path's part of ops: accepting on HTTP and HTTPS listeners, the shared TLS
 * starting context, and retiring idle upstream connections. */
void tr_proxy_worker_ops(struct tr_worker_ops *ops);

#endif
