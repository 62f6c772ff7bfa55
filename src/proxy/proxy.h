/* The HTTP path (HTTP/1.1 and HTTP/2, plaintext and TLS) as the workers run it. */
#ifndef TR_PROXY_PROXY_H
#define TR_PROXY_PROXY_H

#include <stddef.h>
#include <stdint.h>

struct tr_worker_ops;

/* When the route sets no timeout: how long a request body, and then the response, may go
 * without progress (--response-timeout). Before the workers start. */
void tr_proxy_set_response_timeout(uint64_t ms);

/* The request head's limits, HTTP/1.1 and HTTP/2 alike (--max-request-header-bytes,
 * --max-request-headers): the whole head as HTTP/1.1 text would be, and its number of fields;
 * beyond either, a 431. 0 keeps the default (64 KiB, 100 fields). Before the workers start. */
void tr_proxy_set_request_limits(size_t max_head, size_t max_fields);

/* Fills in the HTTP path's part of ops: accepting on HTTP and HTTPS listeners, the shared TLS
 * starting context, and retiring idle upstream connections. */
void tr_proxy_worker_ops(struct tr_worker_ops *ops);

#endif
