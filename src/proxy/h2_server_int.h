/* Private to the two halves of the HTTP/2 server: h2_server.c (the client connection, struct
 * h2conn) and h2_stream.c (one stream and its exchange, struct h2s). Each half reads the other's
 * struct; the functions below are the only calls between them: the connection's nghttp2 session
 * hands stream events to the stream half, and a stream asks its connection to send. */
#ifndef TR_PROXY_H2_SERVER_INT_H
#define TR_PROXY_H2_SERVER_INT_H

#include "base/buf.h"
#include "net/loop.h"
#include "proxy/upstream.h"
#include "worker/conn.h"

#include <netinet/in.h>
#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tr_exchange;

struct h2conn {
    struct conn_link link;
    struct tr_io io;
    SSL *ssl;
    struct worker *w;
    nghttp2_session *s;
    struct tr_buf out; /* frames to write; out_off of them written */
    size_t out_off;
    bool writable, closed, busy, want_send, read_blocked;
    bool send_deferred; /* a send is queued for the end of the loop turn */
    bool hup; /* the peer's FIN (or an error) was signalled: read to the end */
    bool goaway_notice, goaway_final; /* draining: the two GOAWAY frames of RFC 9113 6.8 */
    struct tr_conn_facts facts; /* what its streams' exchanges know of it */
    /* The port's listeners as the last stream's exchange looked them up (exchange.c), handed to
     * the next stream: one lookup per snapshot per connection, as on HTTP/1.1. */
    uint64_t port_gen;
    const struct tr_ir_port *port;
    struct h2s *streams; /* a list through next/prev */
    unsigned nstreams;
    struct tr_timer timer;
    struct tr_timer ping_timer; /* draining: armed until the PING's ACK or the final GOAWAY */
};

struct h2s {
    struct h2s *prev, *next;
    struct h2conn *h;
    struct tr_exchange *x; /* its exchange (freed at the end of the turn the stream closes in) */
    int32_t id;
    struct tr_buf fields; /* regular request fields (struct kept_field, name, value)... */
    struct tr_buf cookie; /* cookie crumbs, joined with "; " (RFC 9113 8.2.3) */
    /* The pseudo-fields, kept in nghttp2's own refcounted buffers (no copy); p NULL: absent.
     * protocol is :protocol (RFC 8441). */
    struct pseudo {
        nghttp2_rcbuf *buf;
        const char *p;
        size_t n;
    } method, path, authority, protocol;
    char ws_key[32]; /* the Sec-WebSocket-Key made for an HTTP/1.1 backend (RFC 8441 5) */
    bool has_cl, head_done, body_done, closed, resp_submitted;
    /* CONNECT, or an extended CONNECT: after the backend's 2xx (or 101), DATA are the tunnel's
     * bytes both ways, unframed. */
    bool tunnel;
    bool resp_bodiless; /* the response was its HEADERS frame alone (END_STREAM) */
    bool drained; /* output was taken since the backend was last read */
    size_t unacked; /* DATA bytes taken into x->in and not yet given back to flow control */
    char *trailers; /* the response's trailer fields ("Name: v\r\n"...), or NULL */
    size_t trailers_len;
};

/* --- h2_server.c, for the streams --- */

/* Something is ready to send on h: sent after the nghttp2 call running now, or at the end of the
 * loop turn. */
void tr_h2conn_kick(struct h2conn *h);

/* --- h2_stream.c, for the connection --- */

/* nghttp2's callbacks for the streams (ud is the connection). The connection's on_frame_recv
 * handles the draining PING's ACK, then calls this one for the stream's frames. */
int tr_h2s_on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *ud);
int tr_h2s_on_header(nghttp2_session *session, const nghttp2_frame *frame, nghttp2_rcbuf *name_buf,
                     nghttp2_rcbuf *value_buf, uint8_t flags, void *ud);
int tr_h2s_on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *ud);
int tr_h2s_on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
                         void *ud);
int tr_h2s_on_stream_close(nghttp2_session *session, int32_t id, uint32_t error_code, void *ud);
/* Unlinks s from its connection and frees it, with its exchange (the connection closes). */
void tr_h2s_free(struct h2s *s);

/* The stream id's h2s, or NULL (closed, or id 0: the connection). */
static inline struct h2s *stream_of(struct h2conn *h, int32_t id)
{
    return id > 0 ? nghttp2_session_get_stream_user_data(h->s, id) : NULL;
}

#endif
