/* HTTP/2 on the proxy path (nghttp2), internal to src/proxy/: the two HTTP/2 codecs of the
 * exchange (docs/internals/exchange.md).
 *
 * Downstream (h2_server.c, the connection; h2_stream.c, its streams): a client connection that
 * speaks h2 (ALPN on HTTPS listeners, prior knowledge on plain ones) becomes an h2conn; each of
 * its streams has its own exchange (struct tr_exchange, exchange.c), which routes, filters,
 * retries and talks to the backend as for HTTP/1.1. The stream's head reaches it parsed (a
 * struct tr_h1_req made from HPACK's fields and held to the text parser's rules by
 * tr_h1_req_check), its DATA as body bytes, END_STREAM as the body's end (x->in_end); the
 * response leaves through tr_h2_down_ops as HEADERS, DATA and trailing HEADERS.
 *
 * Upstream (h2_client.c, the streams; h2_carrier.c, the connections they share): a backend that
 * speaks h2c (appProtocol kubernetes.io/h2c, and the backends of GRPCRoutes) gets, per
 * exchange, a stream upc: the exchange's request (struct tr_req_out, then body bytes and an
 * end, through tr_h2u_ops) becomes one HTTP/2 stream on a carrier, a connection that many
 * streams share up to what the backend allows at once; the response's heads, body and trailers
 * go back to response.c as for HTTP/1.1 (docs/internals/http2.md). */
#ifndef TR_PROXY_H2_H
#define TR_PROXY_H2_H

#include "net/sock.h"

#include "proxy/upstream.h"

#include <stdbool.h>
#include <stddef.h>

/* --- h2_server.c, h2_stream.c --- */

/* h2_server.c */

/* Takes over an accepted connection that speaks h2: fd, its TLS (or NULL) and bytes already
 * read (the client preface, for prior knowledge). */
void tr_h2_accept(struct worker *w, int fd, struct ssl_st *ssl, const struct tr_conn_facts *facts, const char *pre,
                  size_t npre);

/* --- h2_carrier.c, h2_client.c --- */

struct tr_ir_endpoint;
struct tr_ir_backend_tls;
struct tr_snapshot;

/* h2_carrier.c */

/* Puts u (a new upc without a socket, its key set) on a carrier for u->key: one that has room,
 * or a new one to ep (under tls, of snapshot snap). *reused: an existing carrier took it.
 * ep and tls must stay valid while u's exchange pins snap (a stream the backend refused is sent
 * again on another carrier). Returns false when no carrier can be had (connect() failed). */
bool tr_h2u_attach(struct upc *u, const struct tr_ir_endpoint *ep, const struct tr_ir_backend_tls *tls,
                   struct tr_snapshot *snap, bool *reused);

/* h2_client.c */
/* u (a stream) closes: its stream is reset if still open, its carrier stays. */
void tr_h2u_detach(struct upc *u);
/* Frees a stream's state (u's deferred free). */
void tr_h2u_release(struct upc *u);
/* Sends what the exchange gave through tr_h2u_ops: the head as the stream's HEADERS once its
 * carrier can take the stream, the body bytes in u->out as DATA as far as the stream's window
 * allows; failures go through tr_upstream_fail. */
void tr_h2u_flush(struct upc *u);
/* Hands the exchange what the stream received (heads, the body in u->in, the end with the
 * trailers: response.c), and gives the stream's window back for what the exchange moved on. */
void tr_h2u_input(struct upc *u);

/* h2_carrier.c: the carrier's side, for upstream.c; k is a carrier (k->h2c). */
/* Connected, and through TLS: frames may go. */
void tr_h2u_conn_room(struct upc *k);
/* Reads the socket and hands each stream what came for it. */
void tr_h2u_conn_read(struct upc *k);
/* The connection failed: its streams fail too (tr_upstream_fail: retries as configured), but
 * those it never sent go on another carrier. Then k closes. */
void tr_h2u_conn_fail(struct upc *k, const char *why);
/* k closes (tr_upstream_close): streams still on it close too, and the session goes. */
void tr_h2u_conn_free(struct upc *k);
/* w's snapshot no longer applies k's TLS settings, or w drains: k takes no new stream, and
 * closes now if it carries none (else when its last one ends). */
void tr_h2u_conn_retire(struct upc *k);

#endif
