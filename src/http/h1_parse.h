/* The HTTP/1.1 message head parser (RFC 9110, RFC 9112): request and response heads, and the
 * framing rules that decide where a body ends. Pure functions over a byte buffer: no I/O, no
 * allocation, no state outside the structs the caller passes (picohttpparser's model). Every
 * slice (method, target, header names and values) points into the caller's buffer, so the
 * buffer must outlive the parsed struct.
 *
 * What this parser accepts, and why (docs for the choices a proxy has to make):
 * - Line endings: CRLF, or a bare LF (RFC 9112 2.2 lets a recipient accept it; nginx, HAProxy
 *   and picohttpparser do). A bare CR anywhere in a head is a 400: that is the ambiguity request
 *   smuggling feeds on. Accepting LF is safe here because torii never forwards a raw head; it
 *   writes a new one with CRLF. Chunked framing lines are stricter (see chunked.h).
 * - Request-target: bytes 0x21-0x7E except '#' (a fragment is never sent; accepting '#' let
 *   path rules be bypassed in HAProxy, CVE-2023-45539), and bytes 0x80-0xFF taken as opaque
 *   octets, as nginx does for raw UTF-8 paths (routing compares bytes; percent-decoding and
 *   normalisation are the router's job). CTLs, SP and DEL end or break the target.
 * - Versions: HTTP/1.0 and HTTP/1.1. HTTP/1.2-1.9 are read as 1.1 (RFC 9110 2.5: a higher minor
 *   version is processed as the highest one implemented); any other major version is 505. The
 *   HTTP/2 prior-knowledge preface returns TR_H1_PRI.
 * - Fields: a name is a token, and ':' follows it at once (whitespace before ':' is a 400, RFC
 *   9112 5.1); obs-fold is a 400 (RFC 9112 5.2 lets a server reject it); values may hold HTAB,
 *   SP, VCHAR and obs-text, OWS is trimmed off both ends, and any other control byte (NUL, CR,
 *   DEL, ...) is a 400.
 */
#ifndef TR_HTTP_H1_PARSE_H
#define TR_HTTP_H1_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Returned by tr_h1_parse_request() for the HTTP/2 connection preface ("PRI * HTTP/2.0\r\n\r\n",
 * RFC 9113 3.4): the caller may hand the connection, preface included, to HTTP/2 (h2c prior
 * knowledge). Nothing is consumed. Distinct from every TR_E* code. */
#define TR_H1_PRI (-64)

/* Capacity of the header arrays: the max_headers limit cannot go above it. */
#define TR_H1_MAX_HEADERS 100

struct tr_h1_limits {
    size_t max_line;         /* request line (414) or status line, without its CRLF */
    size_t max_head;         /* whole head: start line, fields and the empty line (431) */
    size_t max_headers;      /* field lines (431); at most TR_H1_MAX_HEADERS */
    size_t max_chunk_ext;    /* chunk extensions on one chunk-size line (chunked.h) */
    size_t max_trailer;      /* trailer section of a chunked body (chunked.h) */
};

/* 8 KiB line, 64 KiB head, 100 fields, 4 KiB of chunk extensions, 16 KiB of trailers: the
 * initializer, for a struct that starts at the defaults, and the constant. */
#define TR_H1_DEFAULT_LIMITS                                                                       \
    {.max_line = 8192, .max_head = 65536, .max_headers = TR_H1_MAX_HEADERS, .max_chunk_ext = 4096,    \
     .max_trailer = 16384}
extern const struct tr_h1_limits tr_h1_default_limits;

struct tr_h1_header {
    const char *name; /* a token, as received (compare case-insensitively) */
    size_t name_len;
    const char *value; /* OWS trimmed; may be empty */
    size_t value_len;
};

enum tr_h1_method {
    TR_H1_OTHER, /* a valid token we have no name for: forwarded as is */
    TR_H1_GET,
    TR_H1_HEAD,
    TR_H1_POST,
    TR_H1_PUT,
    TR_H1_DELETE,
    TR_H1_CONNECT,
    TR_H1_OPTIONS,
    TR_H1_TRACE,
    TR_H1_PATCH,
};

/* RFC 9112 3.2. */
enum tr_h1_form {
    TR_H1_ORIGIN,    /* "/path?query" */
    TR_H1_ABSOLUTE,  /* "http://authority/path?query" (http and https only) */
    TR_H1_AUTHORITY, /* "host:port", CONNECT only */
    TR_H1_ASTERISK,  /* "*", OPTIONS only */
};

/* How the body of a message is delimited (RFC 9112 6.3). */
enum tr_h1_body {
    TR_H1_BODY_NONE,    /* no body at all */
    TR_H1_BODY_LENGTH,  /* content_length bytes (maybe 0) */
    TR_H1_BODY_CHUNKED, /* chunked coding: see chunked.h */
    TR_H1_BODY_CLOSE,   /* responses only: everything until the server closes */
    TR_H1_BODY_TUNNEL,  /* responses only: 2xx to CONNECT, bytes both ways from here on */
};

/* Tokens seen in Connection fields. */
#define TR_H1_CONN_CLOSE 0x1
#define TR_H1_CONN_KEEP_ALIVE 0x2
#define TR_H1_CONN_UPGRADE 0x4

/* private: where an incomplete head was left, so that a call with more bytes resumes. */
struct tr_h1_scan {
    size_t start;     /* first byte after leading empty lines (once started) */
    size_t next;      /* where the search for the end of the head resumes */
    size_t line_end;  /* offset of the start line's LF + 1, 0 until seen */
    size_t mscan;     /* end of the request method bytes checked so far */
    bool started;     /* start is known */
    bool method_done; /* the method and its SP were seen */
};

struct tr_h1_req {
    /* Set by tr_h1_parse_request(). */
    const char *method;
    size_t method_len;
    enum tr_h1_method method_id;
    const char *target; /* the request-target as received */
    size_t target_len;
    enum tr_h1_form form;
    /* The target from its path on: all of an origin-form target; what follows the authority of
     * an absolute-form one (maybe empty or "?query": read it as "/" before it); "*" for
     * asterisk-form; empty for CONNECT. */
    const char *path;
    size_t path_len;
    int minor_version; /* 0 or 1 */
    size_t nheaders;
    struct tr_h1_header headers[TR_H1_MAX_HEADERS];

    /* Set by tr_h1_req_framing(). */
    enum tr_h1_body body;
    uint64_t content_length;
    const char *authority; /* absolute-form or CONNECT authority, else the Host value; NULL if none */
    size_t authority_len;
    const char *upgrade; /* the Upgrade value when Connection names "upgrade" (HTTP/1.1 only) */
    size_t upgrade_len;
    unsigned conn;        /* TR_H1_CONN_* tokens of the Connection fields */
    bool keep_alive;      /* the connection may carry another request after this one */
    bool expect_continue; /* "Expect: 100-continue" on an HTTP/1.1 request */

    /* On error: the status to answer (400, 414, 431, 501, 505) and a short static reason. After
     * any error the connection must be closed: its framing is no longer known. */
    int error_status;
    const char *error_reason;

    struct tr_h1_scan scan_; /* private */
};

struct tr_h1_resp {
    /* Set by tr_h1_parse_response(). */
    int minor_version;
    int status; /* 100-599; 1xx heads come before the final one: parse again after them */
    const char *reason;
    size_t reason_len;
    size_t nheaders;
    struct tr_h1_header headers[TR_H1_MAX_HEADERS];

    /* Set by tr_h1_resp_framing(). */
    enum tr_h1_body body;
    uint64_t content_length;
    const char *upgrade; /* Upgrade value of a 101 */
    size_t upgrade_len;
    unsigned conn;
    bool keep_alive; /* the upstream connection may be reused after this response */

    /* On error: always 502 (what a proxy answers for a broken upstream), and a reason. */
    int error_status;
    const char *error_reason;

    struct tr_h1_scan scan_; /* private */
};

/* Prepares req (or resp) for a new head. Call it before the first tr_h1_parse_* of each
 * message, and again whenever the bytes before len change other than by appending. */
void tr_h1_req_init(struct tr_h1_req *req);
void tr_h1_resp_init(struct tr_h1_resp *resp);

/* Parses the request head at the start of buf[0..len), with lim (NULL: the defaults).
 * Returns the bytes of the head (request line through the empty line, after any leading empty
 * lines, RFC 9112 2.2), TR_EAGAIN when the head is not complete yet (call again with more
 * bytes: only the new bytes are searched), TR_H1_PRI, or TR_EPROTO / TR_ELIMIT with
 * req->error_status and error_reason set. Pure: any thread. */
int tr_h1_parse_request(const char *buf, size_t len, struct tr_h1_req *req,
                        const struct tr_h1_limits *lim);

/* Checks a request head that arrived as separate fields (HTTP/2 HEADERS, RFC 9113 8.3) with
 * the rules tr_h1_parse_request applies to a text head, so that every wire protocol meets one
 * strictness: the caller sets method, target (the :path), minor_version and headers[0..nheaders)
 * (the regular fields, a Host made from :authority among them); this checks the method is a
 * token, the target's bytes and form, every field name a token and every value of field-vchar,
 * SP and HTAB (OWS trimmed off both ends), and the limits of lim (NULL: the defaults) as if the
 * head were text: the request line (414), the number of fields and the head's size (431). Sets
 * method_id, form and path. Returns 0, or TR_EPROTO / TR_ELIMIT with error_status and
 * error_reason set. Call tr_h1_req_framing next, as after a parse. Pure: any thread. */
int tr_h1_req_check(struct tr_h1_req *req, const struct tr_h1_limits *lim);

/* The same for a response head that arrived as separate fields (HTTP/2 HEADERS from a backend):
 * the caller sets status and headers[0..nheaders); this checks the status is 100-599 and the
 * fields and limits as tr_h1_req_check does, and sets minor_version 1. Returns 0, or TR_EPROTO /
 * TR_ELIMIT with error_status 502. Call tr_h1_resp_framing next. Pure: any thread. */
int tr_h1_resp_check(struct tr_h1_resp *resp, const struct tr_h1_limits *lim);

/* Applies RFC 9112 6 and RFC 9110 7.2, 7.6.1, 7.8, 10.1.1 to a parsed request: body framing,
 * Host/authority, Connection, Upgrade, Expect. Returns TR_OK, or TR_EPROTO with error_status
 * set (400, or 501 for a transfer coding other than "chunked" alone). */
int tr_h1_req_framing(struct tr_h1_req *req);

/* Parses a response head, like tr_h1_parse_request(); error_status is then 502. A 1xx head is
 * returned like any other: the caller consumes it and parses the next head (101 excepted). */
int tr_h1_parse_response(const char *buf, size_t len, struct tr_h1_resp *resp,
                         const struct tr_h1_limits *lim);

/* Applies RFC 9112 6.3 to a parsed response to a request with method_id: no body for HEAD, 1xx,
 * 204 and 304; a tunnel for 2xx to CONNECT; then chunked, Content-Length, or until close.
 * Returns TR_OK or TR_EPROTO with error_status 502. */
int tr_h1_resp_framing(struct tr_h1_resp *resp, enum tr_h1_method method_id);

/* Iterates a comma-separated list value (RFC 9110 5.6.1): sets *elem and *elem_len to the next
 * non-empty element with OWS trimmed, advances *pos, and returns false at the end. */
bool tr_h1_list_next(const char **pos, const char *end, const char **elem, size_t *elem_len);

/* Case-insensitive (ASCII) comparison of a slice with a lowercase literal. */
bool tr_h1_token_eq(const char *s, size_t len, const char *lower, size_t lower_len);

/* Returns the first header named name (a lowercase literal), or NULL. */
const struct tr_h1_header *tr_h1_header_find(const struct tr_h1_header *headers, size_t n,
                                             const char *name, size_t name_len);

#endif
