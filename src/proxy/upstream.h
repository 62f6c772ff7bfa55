/* The objects of the proxy path: the exchange (struct tr_exchange), and the backend side
 * (upc). Internal to src/proxy/. */
#ifndef TR_PROXY_UPSTREAM_H
#define TR_PROXY_UPSTREAM_H

#include "proxy/internal.h"

struct tr_ir_rule;
struct tr_ir_backend;

enum cstate {
    C_HEAD,   /* reading a request head (0: what a new plain connection starts in) */
    C_BODY,   /* forwarding the request body */
    C_WAIT,   /* request sent; waiting for the response to finish */
    C_TUNNEL, /* after a 101: bytes both ways */
    C_TLS,    /* TLS handshake */
    C_AUTH,   /* asking the ExternalAuth service (proxy/extauth.c); the body waits in x->in */
};

/* At most this many mirrors of one request get its body; the rest of a rule's mirrors, if any,
 * are skipped for requests with a body. */
#define TR_MIRRORS_FED 8
/* A mirror whose backend falls this far behind the request body is dropped: a copy must never
 * hold back the request it copies, nor hold its body in memory. */
#define TR_MIRROR_MAX_BACKLOG (1024 * 1024)

struct ssl_st;
struct h2s;
struct h2u;
struct h2uc;

/* What an exchange knows of the client connection it came on: the HTTP/1.1 connection's, or
 * the HTTP/2 connection's that its stream belongs to (shared by all of its streams). */
struct tr_conn_facts {
    char laddr[INET6_ADDRSTRLEN]; /* the listener's address and port */
    uint16_t lport;
    char peer[INET6_ADDRSTRLEN];
    bool secure;      /* the connection is TLS */
    int tls_listener; /* the listener SNI chose (index in the port), -1 for none */
    /* A mesh workload's connection (held): laddr and lport are the Service address it dialled;
     * its namespace's routes apply and upstream connections leave from its namespace. */
    struct tr_mesh_client *mesh;
};

/* The exchange: one request and its response at a time, whatever protocols carry them
 * (docs/internals/exchange.md). It routes, filters, chooses the backend and endpoint, retries,
 * mirrors, times and logs; the client's codec (down) and the backend's (up->ops) move its bytes.
 * An HTTP/1.1 connection (struct h1c, h1_conn.h) holds one for all its requests in turn; an
 * HTTP/2 connection has one per stream, which ends with its stream. */
struct tr_exchange {
    struct worker *w;
    const struct tr_down_ops *down;   /* the client's codec: HTTP/1.1 text, or the stream's frames */
    const struct tr_conn_facts *conn; /* the client connection's (outlives the exchange) */
    struct h2s *h2;                   /* HTTP/2: the stream (h2_stream.c's), else NULL */
    /* in: the request's bytes from the client codec, in_off of them consumed (HTTP/1.1: what
     * the socket gave, heads and framed bodies; HTTP/2: the stream's DATA). out: the response's
     * bytes for the client codec, out_off of them sent (HTTP/1.1: text; HTTP/2: the body). */
    struct tr_buf in;
    size_t in_off;
    struct tr_buf out;
    size_t out_off;
    bool eof;         /* no more request bytes will come (the client closed its side) */
    bool close_after; /* the client connection closes once this response is out */
    bool closed;      /* tr_exchange_close ran: the struct lives on until the end of the loop turn */
    bool resp_end;    /* the response is complete once out drains (HTTP/2) */
    bool stream_body; /* HTTP/2: a request body without a length follows, ended by in_end */
    bool in_end;      /* HTTP/2: the stream's request body ended (END_STREAM) */
    enum cstate state;
    struct tr_h1_req *req; /* the head being read and dispatched (worker cache), else NULL */
    enum tr_h1_method method;
    int minor;
    bool keep_alive, req_done;
    bool upgrade_asked; /* the request in flight went upstream with Upgrade: a 101 may answer it */
    enum tr_h1_body body;
    uint64_t left;
    struct tr_h1_chunked ch;
    struct tr_snapshot *snap; /* pinned for the request in flight */
    uint64_t port_gen;        /* the snapshot generation port was looked up in */
    const struct tr_ir_port *port;
    const struct tr_ir_rule *rule;
    /* For the access log and metrics of the request in flight. */
    bool in_flight;
    uint64_t t0_us;
    uint64_t written;  /* bytes sent to the client (on this HTTP/1.1 connection, or stream) */
    uint64_t out_mark; /* written + pending output when the request began */
    const struct tr_ir_listener *listener;
    const struct tr_ir_backend *backend;
    char *log_line;    /* "method\0host\0target" copied from the head when logging */
    char *cors_origin; /* the request's Origin, kept for the response under a CORS filter */
    size_t cors_origin_len;
    bool cors_cred;    /* the request carried credentials (CORS) */
    /* Session persistence (proxy/session.c), set at dispatch: the rule's (NULL: none), the
     * session's endpoint and its parts, and whether the response starts it (a new session, or
     * one that a retry moved to another endpoint). */
    struct tr_extauth *auth; /* ExternalAuth under way (proxy/extauth.c), or NULL */
    const struct tr_ir_session *sess;
    const struct tr_ir_endpoint *sess_ep;
    uint32_t sess_rule, sess_backend, sess_created;
    uint16_t sess_match;
    bool sess_issue;
    /* Retries (HTTPRouteRule.retry) of a request without a body: whether the rule's retry
     * covers the request, the upstream head to send again, how many more tries, and the pause
     * before each. rtimer is the try's deadline (timeouts.backendRequest) while a try is in
     * flight, and the pause between tries. */
    bool retryable;
    /* The route sets no timeout: timer is torii's own, restarted whenever the request body or
     * the response moves, so that it bounds a stall on either side, never a slow upload or a
     * long download that keeps moving. */
    bool idle_deadline;
    struct tr_buf rhead;
    int retries_left;
    uint64_t backoff_ms;
    struct tr_timer rtimer;
    struct upc *up;
    /* Mirrors still being fed the request body (RequestMirror on a request with a body). */
    struct upc *mirrors[TR_MIRRORS_FED];
    struct tr_timer timer;
};

/* What the exchange talks to: HTTP/1.1 text out (the request) and in (the response), whatever
 * the wire. Three kinds share the struct:
 * - an HTTP/1.1 connection: a socket of its own, pooled when idle (pool.c);
 * - an HTTP/2 stream (h2 set): no socket (io.fd -1, never linked or counted); h2_client.c
 *   carries its text as one stream on a carrier, and it ends with its exchange;
 * - an HTTP/2 carrier (h2c set): the socket, TLS and nghttp2 session that streams share; no
 *   exchange of its own (c is NULL, in and out unused); in the pool's map while it takes new
 *   streams (idle then means that, not unused). */
struct upc {
    struct conn_link link;
    struct tr_io io;
    struct worker *w;
    struct tr_exchange *x; /* NULL while idle */
    char key[INET6_ADDRSTRLEN + 64]; /* the pool's (tr_pool_key) */
    struct tr_buf out;
    size_t out_off;
    struct tr_buf in;
    size_t in_off;
    bool writable, connecting, idle, head_done, resp_done, keep_alive, eof, sent_any;
    bool closed; /* tr_upstream_close ran: the struct lives on until the end of the loop turn */
    bool req_chunked; /* HTTP/1.1: the request body goes out chunked */
    bool hup; /* the backend's FIN (or an error) was signalled: read to the end */
    bool mirror; /* a fire-and-forget copy: its answer is read and dropped */
    bool auth;   /* an ExternalAuth request: its answer is proxy/extauth.c's (tr_extauth_head) */
    struct tr_exchange *feeder; /* a mirror: the exchange whose request body it still gets, or NULL */
    const struct tr_up_ops *ops; /* how the request leaves (not for a carrier) */
    struct h2u *h2;  /* an HTTP/2 stream (h2_client.c), or NULL */
    struct h2uc *h2c; /* an HTTP/2 carrier (h2_carrier.c), or NULL */
    struct ssl_st *ssl;          /* TLS to the backend (BackendTLSPolicy), or NULL */
    bool handshaking;
    uint64_t tls_id;             /* tr_ir_backend_tls.id of the settings it was made with, or 0 */
    /* While handshaking: the settings to check the backend's certificate against, and the
     * snapshot they live in, pinned (a mirror's handshake may outlast its request). */
    const struct tr_ir_backend_tls *tls;
    struct tr_snapshot *tls_snap;
    struct tr_h1_resp resp;
    enum tr_h1_body body;
    uint64_t left;
    struct tr_h1_chunked ch;
    char *trailers; /* HTTP/1.1: a chunked response's trailer section is kept here (ch.keep) */
    struct upc *next_idle;
    struct tr_timer timer;
};

#endif
