/* The HTTP/1.1 client connection (struct h1c): private to its codec, h1_server.c (accept, TLS,
 * reading heads and bodies, keep-alive, close, drain), h1_tls.c (the TLS context, SNI) and
 * h1_down.c (the response as text). The exchange it holds is the protocol-neutral part. */
#ifndef TR_PROXY_H1_CONN_H
#define TR_PROXY_H1_CONN_H

#include "proxy/upstream.h"

#include <stddef.h>

struct h1c {
    struct tr_exchange x; /* the request in flight, then the next one on this connection */
    struct tr_conn_facts facts;
    struct conn_link link;
    struct tr_io io;
    struct ssl_st *ssl; /* TLS, or NULL */
    bool writable;
    bool hup;         /* the peer's FIN (or an error) was signalled: read to the end */
    bool must_read;   /* the last read stopped before the socket was drained */
    bool out_chunked; /* the response in flight goes out chunked (its length unknown) */
};

static inline struct h1c *h1c_of(struct tr_exchange *x)
{
    return (struct h1c *)((char *)x - offsetof(struct h1c, x));
}

/* h1_server.c */
/* Between requests: the parsed head goes back to the worker, and buffers with nothing pending are
 * freed, so an idle keep-alive connection holds only its struct. */
void tr_h1c_idle_buffers(struct h1c *c);
/* Draining, listeners closed: a keep-alive connection waiting for its next request closes (a
 * client about to reuse it goes elsewhere: the race every idle close has). One that has not yet
 * sent its first request keeps its chance, as in nginx: its client connected a moment ago and
 * is about to send, and the answer will say Connection: close. The grace period over, what is
 * left (a request in flight, a WebSocket) is cut. */
void tr_h1c_drain(struct conn_link *l);
/* The codec's entries for the exchange (struct tr_down_ops; h1_down.c has the rest). */
void tr_h1c_flush(struct tr_exchange *x);
void tr_h1c_read(struct tr_exchange *x);
void tr_h1c_process(struct tr_exchange *x);
void tr_h1c_close(struct tr_exchange *x, bool linger);

#endif
