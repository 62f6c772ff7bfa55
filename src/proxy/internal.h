/* Shared by the proxy modules only: the HTTP path's entry points, its upstream pool and its
 * per-worker request heads. */
#ifndef TR_PROXY_INTERNAL_H
#define TR_PROXY_INTERNAL_H

#include "http/chunked.h"
#include "http/h1_parse.h"
#include "worker/conn.h"

#include <sys/socket.h>

struct tr_ir_endpoint;
struct upc;

/* h1_proxy.c */
void tr_h1_accept(struct worker *w, struct wlisten *l, int fd, const struct sockaddr_storage *peer);
/* Creates the shared TLS starting context (once, before workers run). Returns 0 or -1. */
int tr_h1_tls_init(void);
void tr_h1_tls_free(void);

/* pool.c */
/* The pool key of connections to ep: everything that shapes a connection, so that one is only
 * ever reused for requests that would have made it alike: the endpoint, HTTP/2 (h2c or h2 by
 * ALPN) or HTTP/1.1, plaintext or TLS, and for TLS the settings' tr_ir_backend_tls.id (0 for
 * plaintext). Returns false (out "") when it does not fit in cap: such a connection is not
 * pooled. */
bool tr_pool_key(char *out, size_t cap, const struct tr_ir_endpoint *ep, uint64_t tls_id, bool h2);
/* An idle connection with this key, or NULL. */
struct upc *tr_pool_take(struct worker *w, const char *key);
/* May u go back to the pool: was it made with settings w's snapshot still applies, and is w
 * still taking connections (not draining past its listeners' close)? */
bool tr_pool_current(const struct worker *w, const struct upc *u);
void tr_pool_put(struct worker *w, struct upc *u);
/* Closes the idle connections that w's snapshot no longer applies the TLS settings of (a
 * BackendTLSPolicy, one of its CA bundles or the client certificate changed): called when w
 * takes a new snapshot. Their keys would never match again; closing them at once frees the
 * backend's resources and keeps a connection to settings now refused from lingering. Also
 * called when draining closes the listeners: then every idle connection goes. */
void tr_pool_retire(struct worker *w);
/* Forgets u if it is idle in the pool (it closed). */
void tr_pool_remove(struct worker *w, struct upc *u);

/* A request head to parse into (initialised), from the worker's cache, and back when done
 * with it. */
struct tr_h1_req *tr_worker_req(struct worker *w);
void tr_worker_req_put(struct worker *w, struct tr_h1_req *req);
/* The worker's ops for the HTTP path (tr_workers_start). */
void tr_h1_worker_ops(struct tr_worker_ops *ops);

#endif
