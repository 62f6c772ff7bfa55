/* torii-echo: the echo backend used by torii's tests, demos and benchmarks.
 *
 * It behaves like the Gateway API conformance echo server (echo-basic): HTTP/1.1, h2c and HTTPS
 * echo, a gRPC echo service, a TCP line echo and a UDP echo, chosen by environment variables as in
 * the conformance manifests. Everything runs on one thread around one epoll loop. With Istio's
 * flags it is the mesh conformance echo instead (echo-advanced, Istio's pkg/test/echo: istio.c),
 * and `torii-echo client URL` is that suite's client (client.c, client_grpc.c). */
#ifndef TORII_ECHO_H
#define TORII_ECHO_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <openssl/ssl.h>

/* ---- buf.c: growable byte buffer ---- */
struct buf {
    char *p;
    size_t len, cap;
};
void buf_reserve(struct buf *b, size_t extra);
void buf_add(struct buf *b, const void *data, size_t n);
void buf_adds(struct buf *b, const char *s);
void buf_addc(struct buf *b, char ch);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_consume(struct buf *b, size_t n); /* drop n bytes from the front */
void buf_free(struct buf *b);
char *xstrndup(const char *s, size_t n); /* aborts on allocation failure, like every x* helper */
char *xstrdup(const char *s);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);

/* ---- json.c: JSON writer producing Go's encoding/json output byte for byte ---- */
struct json {
    struct buf *b;
    int indent;     /* 0: compact (json.Marshal); 1: MarshalIndent(v, "", " ") */
    int depth;
    bool first[16]; /* per nesting level: nothing written yet at this level */
    bool after_key; /* a value that follows a key is not a new element: no separator */
};
void json_init(struct json *j, struct buf *b, int indent);
void json_obj_begin(struct json *j);
void json_obj_end(struct json *j);
void json_arr_begin(struct json *j);
void json_arr_end(struct json *j);
void json_key(struct json *j, const char *key);
void json_str(struct json *j, const char *s, size_t n);
void json_cstr(struct json *j, const char *s);
void json_bool(struct json *j, bool v);
void json_kv(struct json *j, const char *key, const char *val); /* "key": "val" */

/* ---- loop.c: epoll loop, timers, signals ---- */
struct watch;
typedef void (*watch_cb)(struct watch *w, uint32_t events);
struct watch {
    int fd;
    uint32_t events;
    watch_cb cb;
};
int loop_init(void);
int watch_add(struct watch *w, int fd, uint32_t events, watch_cb cb);
void watch_mod(struct watch *w, uint32_t events);
void watch_del(struct watch *w);

struct timer;
typedef void (*timer_cb)(struct timer *t);
struct timer {
    uint64_t due;  /* monotonic ms */
    size_t slot;   /* position in the heap, SIZE_MAX when not armed */
    timer_cb cb;
};
void timer_init(struct timer *t, timer_cb cb);
void timer_start(struct timer *t, uint64_t delay_ms);
void timer_stop(struct timer *t);
uint64_t now_ms(void);
/* Frees p with fn once the current batch of events is done, so that an object closed by one
 * callback is still valid memory for events already fetched for it. */
void loop_defer_free(void (*fn)(void *), void *p);
int loop_run(void);
void loop_quit(int code);

/* ---- config (main.c) ---- */
enum mode { MODE_HTTP, MODE_GRPC, MODE_TCP, MODE_UDP, MODE_DNS, MODE_ISTIO };

/* An Istio-style port flag (--port, --grpc, --tcp, --tls): repeatable, comma lists allowed. As
 * with cobra's IntSlice, the first use replaces the default and later uses append. */
struct portlist {
    int *v;
    size_t n;
    bool given;
};
struct config {
    enum mode mode;
    const char *bind;
    const char *http_port, *h2c_port, *https_port; /* strings: httpPort is echoed as given */
    const char *tcp_port, *tls_port, *udp_port, *dns_port;
    const char *namespace_, *ingress, *service, *pod;
    const char *tls_cert, *tls_key, *client_ca;
    /* MODE_ISTIO */
    struct portlist istio_http, istio_grpc, istio_tcp, istio_tls;
    const char *version, *cluster, *istio_version;
};
extern struct config cfg;
void log_line(const char *fmt, ...) __attribute__((format(printf, 1, 2))); /* stdout, flushed */

/* ---- tls.c ---- */
struct tls_info {
    int version;          /* TLS1_2_VERSION, TLS1_3_VERSION, ... */
    char cipher[96];      /* IANA name, as Go's tls.CipherSuiteName */
    char server_name[256];
    char alpn[32];
    char group[32];       /* key exchange group, as Go's CurveID.String() */
    char **peer_pem;      /* PEM of every certificate the peer presented, leaf first */
    size_t npeer;
};
SSL_CTX *tls_ctx_new(const char *cert, const char *key, const char *client_ca,
                     const char *alpn_wire, size_t alpn_len, char *err, size_t errlen);
void tls_info_fill(SSL *ssl, struct tls_info *ti);
void tls_info_free(struct tls_info *ti);
const char *tls_version_name(int version, bool go_style_space); /* "TLSv1.3" or "TLS 1.3" */

/* ---- conn.c: a TCP (optionally TLS) connection driven by the loop ---- */
/* L_HTTP_ANY: HTTP/1.1 plus h2c, by prior knowledge or Upgrade (Go's h2c.NewHandler, which
 * Istio's echo uses). L_ISTIO_TCP: Istio's TCP echo, with TLS when ctx is set. */
enum lkind { L_HTTP, L_H2C, L_HTTPS, L_GRPC, L_GRPCS, L_TCP, L_TCPTLS, L_HTTP_ANY, L_ISTIO_TCP };
struct listener {
    struct watch w;
    struct listener *next; /* every listener, so that nothing live looks leaked at exit */
    enum lkind kind;
    SSL_CTX *ctx; /* NULL for plaintext */
    int port;     /* the bound port (Istio's ServicePort) */
};
struct conn;
struct proto_ops {
    void (*on_data)(struct conn *c); /* c->in holds new bytes */
    void (*on_eof)(struct conn *c);  /* the peer will send nothing more */
    void (*on_drain)(struct conn *c);/* the output buffer emptied (optional) */
    void (*on_free)(struct conn *c); /* release c->proto */
};
struct conn {
    struct watch w;
    struct listener *l;
    SSL *ssl;
    bool handshaking, dead, closing, lingering, peer_eof, eof_seen;
    bool read_paused; /* by the protocol, e.g. while a delayed response waits */
    bool bp_paused;   /* backpressure: too much output queued */
    struct buf in, out;
    const struct proto_ops *ops;
    void *proto;
    struct tls_info *tls; /* set after the handshake on TLS listeners */
    char remote[64];      /* "ip:port", as Go's RemoteAddr */
    struct timer linger;
    struct timer kick; /* processes buffered input from the loop, never from inside a protocol */
    struct conn *prev, *next; /* every open connection, for the same reason */
};
int listener_open(struct listener *l, const char *bind, const char *port, enum lkind kind,
                  SSL_CTX *ctx, int *bound_port);
int udp_open(const char *bind, const char *port, int *bound_port);
void conn_write(struct conn *c, const void *data, size_t n);
void conn_flush(struct conn *c);
void conn_close(struct conn *c);           /* after the output is flushed */
void conn_abort(struct conn *c, bool rst); /* now; rst: send a TCP reset */
void conn_pause_read(struct conn *c);
void conn_resume_read(struct conn *c);
void conn_set_proto(struct conn *c, const struct proto_ops *ops, void *proto);

/* ---- requests and responses shared by HTTP/1.1, h2 and the handler ---- */
struct hdr {
    char *name, *value;
};
struct hdrs {
    struct hdr *v;
    size_t n, cap;
};
void hdrs_add(struct hdrs *h, const char *name, size_t nlen, const char *value, size_t vlen);
const char *hdrs_get(const struct hdrs *h, const char *name); /* case-insensitive, first */
size_t hdrs_count(const struct hdrs *h, const char *name);
void hdrs_del(struct hdrs *h, const char *name);
void hdrs_free(struct hdrs *h);

struct hreq {
    char *method, *target, *host;
    const char *proto;    /* "HTTP/1.1", "HTTP/1.0", "HTTP/2.0" */
    struct hdrs hdrs;
    struct buf form;      /* an urlencoded body, kept for form values */
    bool form_ok;         /* form holds the whole body */
    const char *remote;
    const struct tls_info *tls;
    bool h2;
    int port;             /* the local port it came in on */
};
void hreq_free(struct hreq *rq);

enum action { ACT_SEND, ACT_RESET, ACT_CLOSE, ACT_WEBSOCKET };
struct hresp {
    int status;
    struct hdrs hdrs;
    struct buf body;
    enum action action;
    uint64_t delay_ms;    /* hold the response this long before sending it */
};
void hresp_free(struct hresp *rs);

/* handler.c */
void handle_http(const struct hreq *rq, struct hresp *rs);
const char *status_text(int code);
void canonical_key(char *dst, const char *src, size_t n); /* Go's CanonicalMIMEHeaderKey */
bool query_get(const char *qs, size_t qlen, const char *key, struct buf *out);
/* Go's time.ParseDuration, rounded up to whole ms; false with a Go-worded message in err. */
bool parse_duration(const char *s, uint64_t *ms, char *err, size_t errlen);
/* Go's http.Header as marshalled or printed: a copy of in with canonical names, sorted by name
 * (byte order), values of one name in arrival order. The caller frees out with hdrs_free. */
void hdrs_sorted_canonical(const struct hdrs *in, struct hdrs *out);
bool token_list_has(const char *list, const char *token); /* comma list, case-insensitive */
void http_date(char out[40]);

/* http1.c, h2.c, ws.c, grpc.c, tcp_echo.c, udp_echo.c, dns.c */
enum h2c_policy {
    H2C_NO,       /* plain HTTP/1.1 */
    H2C_REQUIRED, /* the echo-basic h2c port: HTTP/1 requests must ask to upgrade */
    H2C_ALLOWED,  /* HTTP/1.1, or h2c by prior knowledge or Upgrade */
};
void http1_start(struct conn *c, enum h2c_policy h2c);
/* upgraded: an HTTP/1.1 request that asked for h2c; it becomes stream 1 and is taken over (zeroed). */
void h2_start(struct conn *c, bool grpc, struct hreq *upgraded, const char *settings_b64);
void ws_start(struct conn *c);
void ws_accept_key(const char *key, char out[32]);
void grpc_handle(const struct hreq *rq, const struct buf *body, struct hresp *rs,
                 struct hdrs *trailers);
void tcp_echo_start(struct conn *c);
void udp_echo_start(int fd);
void dns_start(int fd);

/* ---- grpc.c: protobuf and gRPC framing, shared with istio.c and the client ---- */
enum grpc_code { GRPC_OK = 0, GRPC_CANCELLED = 1, GRPC_UNKNOWN = 2, GRPC_INVALID_ARGUMENT = 3,
                 GRPC_DEADLINE_EXCEEDED = 4, GRPC_UNIMPLEMENTED = 12, GRPC_INTERNAL = 13,
                 GRPC_UNAVAILABLE = 14 };
void pb_bytes(struct buf *b, unsigned field, const void *p, size_t n); /* length-delimited */
/* The last string field `field` of a well-formed message (proto3: the last one wins); false if
 * the bytes are not a message. An absent field is the empty string. */
bool pb_get_string(const unsigned char *p, size_t n, unsigned field, const unsigned char **s,
                   size_t *slen);
void grpc_frame(struct buf *out, const void *msg, size_t n); /* the 5-byte prefix, then msg */
/* The single message of a unary request body; GRPC_OK, or a code with err filled. */
int grpc_unary_message(const struct hreq *rq, const struct buf *body, const unsigned char **msg,
                       size_t *len, char *err, size_t errlen);
void grpc_set_status(struct hdrs *h, int code, const char *msg); /* grpc-status, grpc-message */
const char *grpc_code_name(int code);                            /* grpc-go's codes.Code.String() */
bool grpc_is_transport_header(const char *name); /* not metadata a grpc-go handler sees */

/* ---- istio.c: Istio's echo (echo-advanced), the mesh conformance backend ---- */
void istio_handle_http(const struct hreq *rq, struct hresp *rs);
/* A call to /service/method, once grpc_handle has checked content type and method. */
void istio_handle_grpc(const struct hreq *rq, const char *service, size_t slen, const char *method,
                       const struct buf *body, struct hresp *rs, struct hdrs *trailers);
void istio_tcp_start(struct conn *c);

/* ---- client.c, client_grpc.c: `torii-echo client`, Istio's echo client ---- */
int client_main(int argc, char **argv); /* argv[0] is "client"; returns the exit status */

struct client_opts {
    const char *url;        /* as given; printed in Url= lines */
    bool grpc;              /* grpc:// rather than http:// */
    char *authority;        /* the Host header or :authority */
    char *target;           /* path and query, "/" at least */
    const char *method;     /* HTTP only; GET by default */
    struct hdrs hdrs;       /* the -H entries but Host, in order */
    long count;
    uint64_t timeout_ms;    /* per request, connecting included */
    const char *msg;        /* EchoRequest.message */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char addr_text[80];     /* "ip:port" or "[ip]:port", for error lines */
};
/* Blocking I/O bounded by a deadline (now_ms() clock). Each returns a negative errno on failure
 * (-ETIMEDOUT past the deadline); client_connect fills err with a Go-worded reason. */
int client_connect(const struct client_opts *o, uint64_t deadline_ms, char *err, size_t errlen);
int client_send(int fd, const void *p, size_t n, uint64_t deadline_ms);
ssize_t client_recv(int fd, void *p, size_t cap, uint64_t deadline_ms); /* 0 at EOF */
uint64_t client_now_ns(void);
/* Output lines in Istio's forms (pkg/test/echo/fields.go): "[i] Key=value", "[i body] line"
 * per non-empty body line, "[i error] text", and the Latency/ActiveRequests pair. */
void client_field(struct buf *out, long i, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void client_body(struct buf *out, long i, const char *p, size_t n);
void client_error(struct buf *out, long i, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void client_timing(struct buf *out, long i, uint64_t start_ns);
/* The gRPC calls of one run (client_grpc.c); returns how many failed, and how many
 * connections it opened in *opened. */
long client_grpc_run(const struct client_opts *o, int *opened);

#endif
