/* Shared by the proxy modules only: the HTTP path's entry points, its upstream pool and its
 * per-worker request heads. */
#ifndef TR_PROXY_INTERNAL_H
#define TR_PROXY_INTERNAL_H

#include "http/chunked.h"
#include "http/h1_parse.h"
#include "net/sock.h"
#include "worker/conn.h"

#include <sys/socket.h>

struct tr_ir_endpoint;
struct upc;

/* h1_server.c */
void tr_h1_accept(struct worker *w, struct wlisten *l, int fd, const struct sockaddr_storage *peer);

/* h1_tls.c */
/* Creates the shared TLS starting context (once, before workers run). Returns 0 or -1. */
int tr_h1_tls_init(void);
void tr_h1_tls_free(void);
/* A new server-side SSL on the starting context, or NULL; any worker thread. */
SSL *tr_h1_tls_new(void);

/* pool.c */
/* The pool key of connections to ep: everything that shapes a connection, so that one is only
 * ever reused for requests that would have made it alike: the endpoint, HTTP/2 (h2c or h2 by
 * ALPN) or HTTP/1.1, plaintext or TLS, for TLS the settings' tr_ir_backend_tls.id (0 for
 * plaintext), and the network namespace it was made in (a mesh client's tr_mesh_client.id: it
 * leaves from that workload's address; 0 for torii's own). Returns false (out "") when it does
 * not fit in cap: such a connection is not pooled. */
bool tr_pool_key(char *out, size_t cap, const struct tr_ir_endpoint *ep, uint64_t tls_id, bool h2, uint64_t ns_id);
/* An idle connection with this key, or NULL. */
struct upc *tr_pool_take(struct worker *w, const char *key);
/* HTTP/2 carriers that take new streams share the map under their own keys (tr_pool_key's h2):
 * the first with this key (the rest follow through next_idle), left in place. */
struct upc *tr_pool_peek(struct worker *w, const char *key);
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

/* Timeouts of the HTTP path. */
#define HEAD_TIMEOUT_MS 30000     /* a request head must arrive within this */
#define IDLE_TIMEOUT_MS 75000     /* a keep-alive connection may sit idle this long */
/* When the route sets no timeout: how long a request body, then the response (its head once the
 * request is sent, then its body), may go without progress (--response-timeout, 60 s).
 * Set before the workers start, read-only after. */
extern uint64_t tr_proxy_response_timeout_ms;
/* A request head's limits, for every codec (tr_proxy_set_request_limits); read-only after the
 * workers start. */
extern struct tr_h1_limits tr_proxy_req_limits;
#define CONNECT_TIMEOUT_MS 5000

struct tr_exchange;
struct tr_conn_facts;
struct tr_down_ops;
struct tr_ir_rule;
struct tr_ir_backend;
struct tr_ir_backend_tls;
struct tr_loop;
struct tr_timer;

/* The read loop of both sides (net/sock.c), with buffer blocks from the worker's cache. */
static inline void tr_proxy_attach_block(void *w, struct tr_buf *b)
{
    tr_worker_buf_attach(w, b);
}
static inline enum tr_sock_rd tr_proxy_read_into(struct worker *w, int fd, struct ssl_st *ssl, struct tr_buf *b,
                                                 size_t off, size_t max, bool hup)
{
    return tr_sock_read_buf(fd, ssl, b, off, max, hup, tr_proxy_attach_block, w);
}

/* exchange.c: the exchange's life, whatever its codecs (struct tr_exchange, upstream.h) */
/* Sets up x (zeroed) for the client codec down, on the connection conn (which outlives x). */
void tr_exchange_init(struct tr_exchange *x, struct worker *w, const struct tr_down_ops *down,
                      const struct tr_conn_facts *conn);
/* Frees what x holds (x itself is its codec's). */
void tr_exchange_dispose(struct tr_exchange *x);
/* The codec parsed a request head into x->req (n: the head's bytes at the front of x->in, 0 for
 * HTTP/2; negative: the head is bad and x->req->error_status says what to answer): answers an
 * error, or routes the request and starts its body. Returns true when the request was answered
 * and done with, so that what follows in x->in (a pipelined request) may be processed. */
bool tr_exchange_start(struct tr_exchange *x, int n);
/* Request bytes in x->in after the head: the body goes to the backend's codec (unframed, as far
 * as backpressure allows), a tunnel's bytes to the backend as they are. Nothing in C_HEAD. */
void tr_exchange_input(struct tr_exchange *x);
/* Room again on the client side (x->out drained): resumes the response held back. */
void tr_exchange_room(struct tr_exchange *x);
/* Ends x at once, with its upstream, mirrors and timers, then its codec's part (down->close;
 * linger: the client is still there, see tr_conn_linger). */
void tr_exchange_close(struct tr_exchange *x, bool linger);

/* exchange.c */
/* May the connection carry another request after the response being written? Not when the
 * client said no, nor while the worker drains: then the response says Connection: close and
 * the client takes its next request elsewhere, with no request lost to a close it could not
 * see coming. */
bool tr_exchange_reusable(const struct tr_exchange *x);
/* Answers the request in flight from torii itself: code, extra "Name: value\r\n" fields (or
 * NULL), a text body (or NULL). */
void tr_exchange_respond(struct tr_exchange *x, int code, const char *extra, const char *body);
/* Answers a gRPC call with a status and a message (printable ASCII without '%': grpc-message is
 * percent-encoded) as a Trailers-Only response (PROTOCOL-HTTP2.md in grpc/grpc): :status 200,
 * content-type, grpc-status and grpc-message in one HEADERS frame that ends the stream. HTTP/1.1,
 * which gRPC does not use, gets the same fields with Content-Length: 0. */
void tr_exchange_respond_grpc(struct tr_exchange *x, int grpc_status, const char *msg);
/* Routes the parsed head and starts the exchange. Returns false when it answered locally. */
bool tr_exchange_dispatch(struct tr_exchange *x, size_t head_len);
/* One exchange is over on both sides: the upstream goes back to the pool (or closes), the
 * client goes on to its next request. */
void tr_exchange_done(struct upc *u);

/* reqlog.c */
/* A request head was parsed: start its clock (and keep what the access log needs). */
void tr_reqlog_begin(struct tr_exchange *x);
/* The request in flight is over (status 0: it ended without a response). */
void tr_reqlog_end(struct tr_exchange *x, int status);

/* upstream.c */
/* Does the backend speak HTTP/2? The Service port says so with appProtocol kubernetes.io/h2c
 * (GEP-1911); gRPC (GRPCRoute) is HTTP/2 by definition. */
/* The next upstream socket (tr_upstream_dial) is made where the client connection conn's are:
 * in a mesh workload's namespace (worker.dial_ns), or torii's own. Called before every dial for
 * an exchange: by tr_upstream_tls, and when an HTTP/2 stream moves to another carrier. */
struct tr_conn_facts;
void tr_upstream_dial_from(struct worker *w, const struct tr_conn_facts *conn);
bool tr_upstream_wants_h2(const struct tr_exchange *x, const struct tr_ir_backend *b);
/* Closes the upstream connection (its exchange, if any, is the caller's to finish). */
void tr_upstream_close(struct upc *u);
/* The upstream failed. Before any response byte reached the client, the client gets a 502, or
 * a 503 when the rule's retries were all spent on such failures; after, its connection is
 * closed (a truncated response must not look complete). */
void tr_upstream_fail(struct upc *u, const char *why);
/* Writes what u has pending (through its codec when HTTP/2). */
void tr_upstream_flush(struct upc *u);
/* Reads what the backend sent and processes it (tr_h1u_process). */
void tr_upstream_read(struct upc *u);
/* An upstream for one exchange to ep, under tls (of snapshot snap) when not NULL: a new
 * HTTP/1.1 connection (non-blocking connect), or for h2 a stream on a carrier (shared, or new);
 * NULL on failure. */
struct upc *tr_upstream_open(struct worker *w, const struct tr_ir_endpoint *ep, const char *key,
                               const struct tr_ir_backend_tls *tls, struct tr_snapshot *snap, bool h2);
/* A new connection to ep (non-blocking connect, TLS under tls when not NULL, ALPN h2 for h2),
 * counted and linked to w; NULL on failure. */
struct upc *tr_upstream_dial(struct worker *w, const struct tr_ir_endpoint *ep, const char *key,
                             const struct tr_ir_backend_tls *tls, struct tr_snapshot *snap, bool h2);
/* Room again upstream (the socket, or an HTTP/2 stream's window): sends what waits, and resumes
 * the request body the client side held back. Returns false when u closed meanwhile. */
bool tr_upstream_room(struct upc *u);
/* The TLS settings to connect to b with (NULL for plaintext), and the pool key of connections
 * to ep so made (tr_pool_key). Settings whose context could not be made are returned as NULL
 * too: callers then refuse, never falling back to plaintext. */
const struct tr_ir_backend_tls *tr_upstream_tls(struct tr_exchange *x, const struct tr_ir_backend *b, char *key, size_t cap,
                                                const struct tr_ir_endpoint *ep);
/* A connection for c's request to endpoint ep of b: an idle one from the pool, or a new one. */
struct upc *tr_upstream_connect(struct tr_exchange *x, const struct tr_ir_backend *b, const struct tr_ir_endpoint *ep);

/* The request as the exchange sends it upstream, whatever the backend speaks: method, an
 * origin-form target, the authority, the client's fields to pass on, the fields torii adds, and
 * the body's framing. The backend's codec (x->up->ops) turns it into HTTP/1.1 text or HEADERS. */
struct tr_req_out {
    const char *method;
    size_t method_len;
    const char *target;
    size_t target_len;
    const char *host; /* HTTP/1.1's Host, HTTP/2's :authority (NULL: none) */
    size_t host_len;
    const struct tr_h1_header *fields; /* the client's, hop-by-hop and filtered ones left out */
    size_t nfields;
    const char *extra; /* fields torii adds, "Name: value\r\n" lines */
    size_t extra_len;
    /* TR_H1_BODY_NONE, TR_H1_BODY_LENGTH (length bytes), or TR_H1_BODY_CHUNKED: a body of
     * unknown length, which the data and end calls deliver. */
    enum tr_h1_body body;
    uint64_t length;
    const char *upgrade; /* HTTP/1.1's Upgrade (a WebSocket), or NULL */
    size_t upgrade_len;
};
/* Packs r into b (appended) in one block that needs nothing else, to send again (retries,
 * mirrors, an HTTP/2 stream moved to another connection); unpacks it (fields: room for
 * TR_H1_MAX_HEADERS; the slices point into b's data). */
void tr_req_out_pack(struct tr_buf *b, const struct tr_req_out *r);
struct tr_ir_extauth;
struct tr_h1_req;
/* exchange.c/dispatch.c: sends the dispatched request to endpoint ep of x->backend (head, the
 * rule's mirrors and retries, the deadlines); false when it could not go (the client has its
 * answer). tr_exchange_body moves the request body on. */
bool tr_exchange_send(struct tr_exchange *x, const struct tr_ir_endpoint *ep, const struct tr_req_out *out);
void tr_exchange_body(struct tr_exchange *x);
/* How much of the request body x->in may hold before the client is held back. */
size_t tr_exchange_in_cap(const struct tr_exchange *x);
/* An upstream whose exchange is over: back to the pool when it can be, else closed. */
void tr_upstream_release(struct upc *u);
/* extauth.c: the ExternalAuth filter (see there). begin: at dispatch, for req going to ep with
 * head out (false: answered already); input: more request body came while in C_AUTH; head:
 * the service's answer head (tr_response_head's); done: the approval is whole; free: drops
 * the exchange's ExternalAuth state. */
bool tr_extauth_begin(struct tr_exchange *x, const struct tr_ir_extauth *e, const struct tr_h1_req *req,
                      const struct tr_ir_endpoint *ep, const struct tr_req_out *out);
void tr_extauth_input(struct tr_exchange *x);
bool tr_extauth_head(struct upc *u);
void tr_extauth_done(struct upc *u);
void tr_extauth_free(struct tr_exchange *x);
/* GRPC: the Check answer's body bytes and its trailers; is b the filter's gRPC service (always
 * HTTP/2)? */
void tr_extauth_data(struct upc *u, const char *p, size_t n);
void tr_extauth_trailers(struct upc *u, const char *trailers, size_t len);
bool tr_extauth_grpc_backend(const struct tr_exchange *x, const struct tr_ir_backend *b);
void tr_req_out_unpack(const char *p, struct tr_req_out *r, struct tr_h1_header *fields);

/* The backend side of an exchange, as the request leaves it: h1_client.c writes HTTP/1.1 text
 * to u->out, h2_client.c makes the stream's HEADERS and DATA. */
struct tr_up_ops {
    void (*head)(struct upc *u, const struct tr_req_out *r);
    void (*data)(struct upc *u, const char *p, size_t n);
    void (*end)(struct upc *u); /* the body is whole */
};
extern const struct tr_up_ops tr_h1u_ops, tr_h2u_ops;

/* h1_client.c: the HTTP/1.1 client codec */
/* Processes what the backend sent: the response head, 1xx, body, trailers, its end, handed to
 * response.c as they are read. */
void tr_h1u_process(struct upc *u);

/* response.c: the response half of the exchange.
 * An upstream codec (h1_client.c, h2_client.c) reads its wire and hands the exchange what it
 * read, with no wire format left: a head in u->resp (status, fields, framing applied), body
 * bytes without framing, and the end with its trailer fields. The exchange applies the
 * response filters and CORS, retries on a status the rule names, relays 1xx, and passes the
 * rest to the client's codec through x->down. */
/* u->resp holds a head, 1xx or final. Returns false when the codec must stop: u was closed (a
 * retry, a failure) or the client went away. */
bool tr_response_head(struct upc *u);
/* May more body bytes go to the client now (its output below the high mark)? */
bool tr_response_room(const struct upc *u);
/* Body bytes for the client. */
void tr_response_data(struct upc *u, const char *p, size_t n);
/* The response is complete: its trailer fields as "Name: value\r\n" lines (len 0: none). */
void tr_response_end(struct upc *u, const char *trailers, size_t len);
/* After a batch of events (moved: body bytes were taken): restarts the stall timer, sends what
 * the client is owed, and ends the exchange once the response is complete. */
void tr_response_settle(struct upc *u, bool moved);

/* The client side of an exchange, as the response leaves it: h1_down.c writes HTTP/1.1
 * text, h2_stream.c frames for the stream. */
struct tr_resp_out {
    int status;
    const char *reason; /* the backend's reason phrase (HTTP/1.1), or NULL */
    size_t reason_len;
    const struct tr_h1_header *fields; /* the backend's, hop-by-hop and filtered ones left out */
    size_t nfields;
    const char *extra; /* fields torii adds, "Name: value\r\n" lines */
    size_t extra_len;
    bool has_length; /* the body's length is known: length */
    uint64_t length;
    bool close;      /* the body ends when the backend closes (HTTP/1.1 framing by close) */
    bool end;        /* no body follows (a 1xx, or a response without content) */
    bool tunnel;     /* bytes both ways follow: a 101 (upgrade names the protocol) or a 2xx to CONNECT */
    const char *upgrade;
    size_t upgrade_len;
};
struct tr_down_ops {
    void (*head)(struct tr_exchange *x, const struct tr_resp_out *r);
    void (*data)(struct tr_exchange *x, const char *p, size_t n);
    void (*end)(struct tr_exchange *x, const char *trailers, size_t len);
    /* The exchange is over (its response is all in x->out): HTTP/1.1 sends it and goes on to
     * the next request (resume: read what is pipelined; the caller does otherwise), or closes;
     * an HTTP/2 stream ends once its output drains. */
    void (*done)(struct tr_exchange *x, bool resume);
    /* Sends what x->out holds; closes on a hard error, or once the response that ends the
     * connection is out. */
    void (*flush)(struct tr_exchange *x);
    /* The exchange can take request bytes again: let more come (HTTP/1.1: read the socket;
     * HTTP/2: give the stream's window back) and process them. */
    void (*read)(struct tr_exchange *x);
    /* Processes what x->in holds: between requests, HTTP/1.1 parses the next (pipelined) head;
     * the rest is tr_exchange_input's. */
    void (*process)(struct tr_exchange *x);
    /* tr_exchange_close ran: the codec's own part (HTTP/1.1: the socket goes, at once or
     * lingering; HTTP/2: the stream is reset if still open). */
    void (*close)(struct tr_exchange *x, bool linger);
};
extern const struct tr_down_ops tr_h1_down_ops, tr_h2_down_ops;

/* retry.c */
/* Does the rule retry on this status (HTTPRouteRetry.codes)? */
bool tr_retry_code(const struct tr_exchange *x, int status);
/* A try begins: it has backend_ms (timeouts.backendRequest; 0: no limit of its own) to answer
 * (try_timeout). */
void tr_retry_begin(struct tr_exchange *x, uint64_t backend_ms);
/* Sends the request again, to a backend chosen anew. */
void tr_retry_fire(struct tr_loop *loop, struct tr_timer *t);
/* Retries if the rule allows another try: the failed upstream is already closed. */
bool tr_retry_later(struct tr_exchange *x);

/* mirror.c */
/* Sends a copy of a bodyless request head to each mirror whose share this request falls in. The
 * copy's answer is read and dropped; it never touches the client's response. A mirror connection
 * carries one exchange and closes when its answer has come (HTTP/1.1: it asks the backend to
 * close; HTTP/2: its stream ended) or when the response timeout passes, whichever is first: a
 * keep-alive or silent mirror backend must not keep one descriptor per mirrored request. An
 * upgrade is not mirrored: its answer is dropped, so no tunnel could follow. */
void tr_mirror_send(struct tr_exchange *x, const struct tr_ir_rule *r, const struct tr_req_out *head);
/* Request body bytes, as sent upstream, go to the mirrors too. */
void tr_mirror_feed(struct tr_exchange *x, const char *p, size_t n);
/* The request is over for the mirrors: with the whole body (they finish on their own), or cut
 * short (abort: a mirror must not see a truncated body as a whole one). */
void tr_mirror_release(struct tr_exchange *x, bool abort);

#endif
