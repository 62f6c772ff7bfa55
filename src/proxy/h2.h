/* HTTP/2 on the proxy path (nghttp2), internal to src/proxy/.
 *
 * Downstream (h2_server.c): a client connection that speaks h2 (ALPN on HTTPS listeners, prior
 * knowledge on plain ones) becomes an h2conn; each of its streams drives one h1c, the exchange
 * object of the HTTP/1 path (h1_server.c), which then routes, filters, retries and talks to the
 * backend exactly as for HTTP/1. The stream's request reaches the h1c as an HTTP/1.1 message (head, then the
 * body framed by Content-Length or chunked), so one strict parser sees every request whatever
 * its wire protocol; the response leaves the h1c as a head (tr_h2_stream_head), decoded body
 * bytes in c->out and an end, which the stream sends as HEADERS, DATA and trailing HEADERS.
 *
 * Upstream (h2_client.c): a backend that speaks h2c (appProtocol kubernetes.io/h2c, and the
 * backends of GRPCRoutes) gets an upc whose bytes are HTTP/1.1 on the exchange side and
 * HTTP/2 on the wire, one stream per exchange, so the pool, retries and timeouts are shared. */
#ifndef TR_PROXY_H2_H
#define TR_PROXY_H2_H

#include "net/sock.h"

#include "proxy/upstream.h"

#include <stdbool.h>
#include <stddef.h>

/* --- h1_server.c, for the HTTP/2 side --- */

/* A new exchange for one stream of an HTTP/2 connection: no socket of its own. */
struct h1c *tr_h1_stream_new(struct worker *w, struct h2s *s, const char *laddr, uint16_t lport, const char *peer,
                             bool secure, int tls_listener);
/* The stream's request head, parsed into req (from tr_worker_req; taken over) and checked (ok:
 * tr_h1_req_check passed; otherwise req->error_status says what to answer): route it and start
 * the exchange. Its slices must stay valid until this returns. */
void tr_h1_stream_request(struct h1c *c, struct tr_h1_req *req, bool ok);
/* Body bytes were appended to c->in: process them. */
void tr_h1_stream_input(struct h1c *c);
/* The stream went away (reset, or its connection closed): end the exchange. */
void tr_h1_stream_abort(struct h1c *c);
/* Frees c (deferred to the end of the loop turn). */
void tr_h1_stream_free(struct h1c *c);
/* c->out drained below the high mark: resume the upstream response held back. */
void tr_h1_stream_drained(struct h1c *c);
/* Answers the stream's request from torii itself (a request HTTP/1 cannot express). */
void tr_h1_stream_respond(struct h1c *c, int code, const char *body);

/* --- h2_server.c --- */

/* Takes over an accepted connection that speaks h2: fd, its TLS (or NULL) and bytes already
 * read (the client preface, for prior knowledge). */
void tr_h2_accept(struct worker *w, int fd, struct ssl_st *ssl, const char *laddr, uint16_t lport, const char *peer,
                  int tls_listener, const char *pre, size_t npre);
/* The response head of c's stream, as HTTP/1.1 text ("HTTP/1.1 200 OK\r\nName: v\r\n...\r\n");
 * a 1xx head is sent as an interim response. end_stream: no body follows (a local answer
 * without one, a backend's response without content), so the HEADERS frame ends the stream and
 * carries every field (gRPC's Trailers-Only); otherwise the body and the end come from c->out
 * and c->resp_end (tr_h2_stream_output). */
void tr_h2_stream_head(struct h1c *c, const char *head, size_t len, bool end_stream);
/* The same from a parsed head: status, the fields to send (hop-by-hop ones are dropped, names
 * lower-cased), and extra "Name: value\r\n" lines torii adds (or NULL). */
void tr_h2_stream_response(struct h1c *c, int status, const struct tr_h1_header *fields, size_t n,
                           const char *extra, size_t extra_len, bool end_stream);
/* More of the response is in c->out, or c->resp_end was set: send it. */
void tr_h2_stream_output(struct h1c *c);
/* The exchange failed after the response began (or before, without an answer): reset the
 * stream so the client never takes a truncated response for a whole one. */
void tr_h2_stream_reset(struct h1c *c);
/* c->in drained: the client may send more of the body (HTTP/2 flow control). */
void tr_h2_stream_room(struct h1c *c);

/* --- h2_client.c --- */

/* Makes u speak h2c to its backend (call right after it is opened). Returns false on failure. */
bool tr_h2u_init(struct upc *u);
void tr_h2u_free(struct upc *u);
/* Sends what the exchange put in u->out (HTTP/1.1 text) as HTTP/2. Returns -1 on a hard error. */
int tr_h2u_flush(struct upc *u);
/* Reads the socket and turns what arrives into HTTP/1.1 text in u->in, as the read loop of
 * net/sock.h would (TR_SOCK_RD_FULL once u->in holds TR_WORKER_BUF_HIGH bytes). */
enum tr_sock_rd tr_h2u_read(struct upc *u);
/* The exchange on u is over: can the connection take another? */
bool tr_h2u_reusable(const struct upc *u);
/* Ready for the next exchange. */
void tr_h2u_reset(struct upc *u);

#endif
