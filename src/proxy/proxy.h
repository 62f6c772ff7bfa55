/* The HTTP path (HTTP/1.1 and HTTP/2, plaintext and TLS) as the workers run it. */
#ifndef TR_PROXY_PROXY_H
#define TR_PROXY_PROXY_H

struct tr_worker_ops;

/* Fills in the HTTP path's part of ops: accepting on HTTP and HTTPS listeners, the shared TLS
 * starting context, and retiring idle upstream connections. */
void tr_proxy_worker_ops(struct tr_worker_ops *ops);

#endif
