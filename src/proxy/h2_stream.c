/* HTTP/2 from clients: one stream (struct h2s) of an h2conn (h2_server.c), and the codec of its
 * exchange (struct tr_exchange, one per stream). The request head comes from HPACK's fields
 * (stream_request), its body from DATA; the response leaves through tr_h2_down_ops as HEADERS,
 * DATA and trailing HEADERS (stream_head, read_body).
 *
 * Flow control: request bodies are acknowledged (WINDOW_UPDATE) only once the exchange moved
 * them on to the backend, so a client cannot queue more than a window per stream in torii. */
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "proxy/h2.h"
#include "proxy/h2_server_int.h"
#include "http/fields.h"
#include "proxy/internal.h"

#include <nghttp2/nghttp2.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_HEADER_BYTES (256 * 1024) /* the h1 parser's limits give the precise 431 below this */

static void stream_output(struct tr_exchange *x);

/* The stream's exchange is freed at the end of the loop turn its stream closed in. */
static void stream_free(struct tr_loop *loop, void *data)
{
    struct tr_exchange *x = data;
    struct worker *w = x->w;
    tr_exchange_dispose(x);
    tr_worker_obj_put(&w->x_cache, x);
}

/* The request head, parsed into req (from tr_worker_req; taken over) and checked (ok:
 * tr_h1_req_check passed; otherwise req->error_status says what to answer), starts the
 * exchange. Its slices must stay valid until this returns. */
static void stream_start(struct tr_exchange *x, struct tr_h1_req *req, bool ok)
{
    if (x->closed) {
        tr_worker_req_put(x->w, req);
        return;
    }
    x->req = req;
    tr_exchange_start(x, ok ? 0 : -1);
}

void tr_h2s_free(struct h2s *s)
{
    struct h2conn *h = s->h;
    if (s->prev)
        s->prev->next = s->next;
    else
        h->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    h->nstreams--;
    tr_buf_dispose(&s->fields);
    tr_buf_dispose(&s->cookie);
    struct pseudo *ps[] = {&s->method, &s->path, &s->authority, &s->protocol};
    for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++)
        if (ps[i]->buf)
            nghttp2_rcbuf_decref(ps[i]->buf);
    free(s->trailers);
    s->x->h2 = NULL;
    tr_loop_defer(h->w->loop, stream_free, s->x);
    tr_worker_obj_put(&h->w->h2s_cache, s);
    if (h->nstreams == 0 && !h->closed)
        tr_timer_start(h->w->loop, &h->timer, IDLE_TIMEOUT_MS);
}

/* Gives the window back for body bytes the exchange moved on. */
static void ack(struct h2s *s)
{
    struct tr_exchange *x = s->x;
    if (!s->unacked || s->closed)
        return;
    if (!x->closed && !x->req_done && tr_buf_pending(&x->in, x->in_off) >= tr_exchange_in_cap(x))
        return;
    /* A tunnel's bytes go on to the backend at once: the window waits for the backend instead. */
    if (!x->closed && s->tunnel &&
        (tr_buf_pending(&x->in, x->in_off) >= TR_WORKER_BUF_HIGH ||
         (x->up && tr_buf_pending(&x->up->out, x->up->out_off) >= TR_WORKER_BUF_HIGH)))
        return;
    nghttp2_session_consume(s->h->s, s->id, s->unacked);
    s->unacked = 0;
    tr_h2conn_kick(s->h);
}

/* One regular field of a request head, as on_header keeps it in s->fields: the lengths, then
 * the name and the value bytes. */
struct kept_field {
    uint32_t name_len, value_len;
};

/* Does the request carry a field named name (lower case)? */
static bool has_field(const struct h2s *s, const char *name)
{
    size_t nl = strlen(name);
    for (size_t off = 0; off < s->fields.len;) {
        struct kept_field k;
        memcpy(&k, s->fields.data + off, sizeof(k));
        if (k.name_len == nl && memcmp(s->fields.data + off + sizeof(k), name, nl) == 0)
            return true;
        off += sizeof(k) + k.name_len + k.value_len;
    }
    return false;
}

/* The request head, parsed already (HPACK gave the fields), to the exchange: the fields become
 * a struct tr_h1_req with slices into the stream's own storage, checked as a text head would be
 * (tr_h1_req_check), with no text made or parsed on the way. The body's DATA go to the
 * exchange's input as they are, unframed; without a Content-Length, the stream's end ends it
 * (stream_body_end sets x->in_end). */
static void stream_request(struct h2s *s, bool end_stream)
{
    struct tr_exchange *x = s->x;
    s->head_done = true;
    bool connect = s->method.n == 7 && memcmp(s->method.p, "CONNECT", 7) == 0;
    struct tr_h1_req *req = tr_worker_req(x->w);
    req->method = s->method.p ? s->method.p : "GET";
    req->method_len = s->method.p ? s->method.n : 3;
    req->target = s->path.p ? s->path.p : "/";
    req->target_len = s->path.p ? s->path.n : 1;
    if (connect && s->protocol.p) {
        /* Extended CONNECT (RFC 8441 4): the request the backend gets is HTTP/1.1's upgrade, a
         * GET of :path asking for :protocol. */
        req->method = "GET";
        req->method_len = 3;
        s->tunnel = true;
    } else if (connect) {
        /* CONNECT (RFC 9113 8.5): to the backend as HTTP/1.1's, :authority as its target. */
        req->target = s->authority.p ? s->authority.p : "";
        req->target_len = s->authority.n;
        s->tunnel = true;
    }
    req->minor_version = 1;
    size_t n = 0, total = 0;
    struct tr_h1_header *hs = req->headers;
#define ADD(nm, nl, v, vl)                                                                         \
    do {                                                                                           \
        if (n < TR_H1_MAX_HEADERS)                                                                 \
            hs[n++] = (struct tr_h1_header){(nm), (nl), (v), (vl)};                                \
        total++;                                                                                   \
    } while (0)
    if (s->authority.p)
        ADD("host", 4, s->authority.p, s->authority.n);
    for (size_t off = 0; off < s->fields.len;) {
        struct kept_field k;
        memcpy(&k, s->fields.data + off, sizeof(k));
        const char *name = s->fields.data + off + sizeof(k);
        ADD(name, k.name_len, name + k.name_len, k.value_len);
        off += sizeof(k) + k.name_len + k.value_len;
    }
    if (s->cookie.len)
        ADD("cookie", 6, s->cookie.data, s->cookie.len);
    if (connect && s->protocol.p) {
        ADD("connection", 10, "upgrade", 7);
        ADD("upgrade", 7, s->protocol.p, s->protocol.n);
        /* An HTTP/1.1 WebSocket handshake needs a key (RFC 6455 4.1); RFC 8441 5 leaves it out
         * of HTTP/2. The backend's Sec-WebSocket-Accept answers it and goes no further. */
        if (s->protocol.n == 9 && strncasecmp(s->protocol.p, "websocket", 9) == 0 &&
            !has_field(s, "sec-websocket-key")) {
            unsigned char nonce[16];
            if (RAND_bytes(nonce, sizeof(nonce)) != 1)
                for (size_t i = 0; i < sizeof(nonce); i++)
                    nonce[i] = (unsigned char)tr_worker_rand(x->w);
            EVP_EncodeBlock((unsigned char *)s->ws_key, nonce, sizeof(nonce));
            ADD("sec-websocket-key", 17, s->ws_key, strlen(s->ws_key));
        }
    }
    if (end_stream) {
        s->body_done = true;
        if (s->tunnel)
            x->eof = true; /* a tunnel the client closed at once */
    } else if (s->tunnel) {
        /* No body: what follows the backend's answer is the tunnel's. */
    } else if (!s->has_cl) {
        x->stream_body = true; /* its DATA, unframed, until END_STREAM */
    }
#undef ADD
    req->nheaders = n;
    int rc;
    if (total > n) {
        req->error_status = 431;
        req->error_reason = "too many header fields";
        rc = TR_ELIMIT;
    } else {
        rc = tr_h1_req_check(req, &tr_proxy_req_limits);
    }
    struct h2conn *h = s->h;
    stream_start(x, req, rc == 0);
    h->port_gen = x->port_gen; /* x and h live on until the end of the loop turn */
    h->port = x->port;
}

static void stream_body_end(struct h2s *s)
{
    if (s->body_done)
        return;
    s->body_done = true;
    if (s->tunnel && !s->x->closed) {
        /* The client's END_STREAM is its half-close: the backend's write side closes. */
        s->x->eof = true;
        tr_exchange_input(s->x);
        return;
    }
    if (!s->x->closed && !s->x->req_done) {
        s->x->in_end = true;
        tr_exchange_input(s->x);
    }
}

/* --- nghttp2 callbacks --- */

int tr_h2s_on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *ud)
{
    struct h2conn *h = ud;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    struct h2s *s = tr_worker_obj_get(&h->w->h2s_cache, sizeof(*s));
    s->h = h;
    s->id = frame->hd.stream_id;
    tr_buf_init(&s->fields, 0);
    tr_buf_init(&s->cookie, 0);
    s->x = tr_worker_obj_get(&h->w->x_cache, sizeof(*s->x));
    tr_exchange_init(s->x, h->w, &tr_h2_down_ops, &h->facts);
    s->x->h2 = s;
    s->x->port_gen = h->port_gen;
    s->x->port = h->port;
    s->next = h->streams;
    if (h->streams)
        h->streams->prev = s;
    h->streams = s;
    h->nstreams++;
    tr_timer_stop(h->w->loop, &h->timer);
    nghttp2_session_set_stream_user_data(session, s->id, s);
    return 0;
}

static bool name_is(const uint8_t *name, size_t len, const char *lit)
{
    return len == strlen(lit) && memcmp(name, lit, len) == 0;
}

int tr_h2s_on_header(nghttp2_session *session, const nghttp2_frame *frame, nghttp2_rcbuf *name_buf,
                     nghttp2_rcbuf *value_buf, uint8_t flags, void *ud)
{
    struct h2conn *h = ud;
    nghttp2_vec nv = nghttp2_rcbuf_get_buf(name_buf), vv = nghttp2_rcbuf_get_buf(value_buf);
    const uint8_t *name = nv.base, *value = vv.base;
    size_t namelen = nv.len, valuelen = vv.len;
    struct h2s *s = stream_of(h, frame->hd.stream_id);
    if (!s || frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0; /* request trailers: dropped, as for HTTP/1 (chunked.h) */
    if (s->fields.len + s->cookie.len + namelen + valuelen > MAX_HEADER_BYTES)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets the stream */
    /* nghttp2 put the pseudo-fields first and checked them (RFC 9113 8.3.1). */
    if (namelen && name[0] == ':') {
        struct pseudo *slot = name_is(name, namelen, ":method")      ? &s->method
                              : name_is(name, namelen, ":path")      ? &s->path
                              : name_is(name, namelen, ":authority") ? &s->authority
                              : name_is(name, namelen, ":protocol")  ? &s->protocol
                                                                     : NULL;
        if (slot && !slot->buf) {
            nghttp2_rcbuf_incref(value_buf);
            *slot = (struct pseudo){value_buf, (const char *)value, valuelen};
        }
        return 0;
    }
    if (name_is(name, namelen, "host") && s->authority.p)
        return 0; /* :authority wins (RFC 9113 8.3.1) */
    if (name_is(name, namelen, "cookie")) {
        if (s->cookie.len)
            tr_buf_puts(&s->cookie, "; ");
        tr_buf_append(&s->cookie, (const char *)value, valuelen);
        return 0;
    }
    if (name_is(name, namelen, "content-length"))
        s->has_cl = true;
    struct kept_field k = {(uint32_t)namelen, (uint32_t)valuelen};
    tr_buf_reserve(&s->fields, sizeof(k) + namelen + valuelen);
    tr_buf_append(&s->fields, &k, sizeof(k));
    tr_buf_append(&s->fields, name, namelen);
    tr_buf_append(&s->fields, value, valuelen);
    return 0;
}

int tr_h2s_on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *ud)
{
    struct h2conn *h = ud;
    struct h2s *s = stream_of(h, frame->hd.stream_id);
    if (!s || s->x->closed)
        return 0;
    bool end = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST && !s->head_done)
        stream_request(s, end);
    else if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) && end)
        stream_body_end(s);
    return 0;
}

int tr_h2s_on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
                         void *ud)
{
    struct h2conn *h = ud;
    struct h2s *s = stream_of(h, id);
    if (!s || !s->head_done || s->x->closed || (s->x->req_done && !s->tunnel)) {
        /* Nobody takes these bytes (the answer came already): the window comes back at once. */
        if (s)
            nghttp2_session_consume(session, id, len);
        else
            nghttp2_session_consume_connection(session, len);
        return 0;
    }
    struct tr_exchange *x = s->x;
    tr_buf_compact(&x->in, &x->in_off);
    tr_buf_append(&x->in, (const char *)data, len);
    s->unacked += len;
    tr_exchange_input(x);
    if (!s->closed)
        ack(s);
    return 0;
}

int tr_h2s_on_stream_close(nghttp2_session *session, int32_t id, uint32_t error_code, void *ud)
{
    struct h2conn *h = ud;
    struct h2s *s = stream_of(h, id);
    if (!s)
        return 0;
    nghttp2_session_set_stream_user_data(session, id, NULL);
    if (s->unacked)
        nghttp2_session_consume_connection(session, s->unacked);
    s->closed = true;
    if (!s->x->closed)
        tr_exchange_close(s->x, false);
    tr_h2s_free(s);
    return 0;
}

/* The response body: x->out, then the end (with trailers if the backend sent any). */
static ssize_t read_body(nghttp2_session *session, int32_t id, uint8_t *buf, size_t length, uint32_t *flags,
                         nghttp2_data_source *source, void *ud)
{
    struct h2s *s = source->ptr;
    struct tr_exchange *x = s->x;
    size_t n = tr_buf_pending(&x->out, x->out_off);
    if (n > length)
        n = length;
    if (n)
        memcpy(buf, x->out.data + x->out_off, n);
    x->out_off += n;
    x->written += n;
    s->drained = n > 0;
    if (x->out_off == x->out.len) {
        x->out.len = 0;
        x->out_off = 0;
    }
    if (x->out.len == 0 && x->resp_end) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        if (s->trailers_len) {
            nghttp2_nv nv[64];
            size_t nnv = 0;
            struct tr_h1_header f;
            const char *p = s->trailers;
            while (nnv < sizeof(nv) / sizeof(nv[0]) &&
                   tr_http_next_line_field(&p, s->trailers + s->trailers_len, &f)) {
                char *name = s->trailers + (f.name - s->trailers); /* the stream's own copy: lower-cased in place */
                for (size_t i = 0; i < f.name_len; i++)
                    name[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
                nv[nnv++] = (nghttp2_nv){(uint8_t *)name, (uint8_t *)f.value, f.name_len, f.value_len,
                                         NGHTTP2_NV_FLAG_NONE};
            }
            if (nnv && nghttp2_submit_trailer(session, id, nv, nnv) == 0)
                *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
        }
        return (ssize_t)n;
    }
    if (n == 0)
        return NGHTTP2_ERR_DEFERRED;
    return (ssize_t)n;
}

/* --- what the HTTP/1 path calls --- */

static bool hop_field(const char *name, size_t n)
{
    static const char *const names[] = {"connection", "keep-alive", "proxy-connection", "transfer-encoding",
                                        "upgrade", "te"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (n == strlen(names[i]) && strncasecmp(name, names[i], n) == 0)
            return true;
    return false;
}

/* Is the field [name, colon) : [v, eol) a zero content-length that a HEADERS frame ending the
 * stream makes redundant? That frame says there is no content (RFC 9113 8.1), and the zero is
 * torii's own when the backend spoke HTTP/2: h2_client.c frames a HEADERS frame that ended the
 * backend's stream as a length of 0 (an HTTP/1.1 client needs it), and local answers without a
 * body say 0 too. Relayed, it would reach a gRPC client as metadata of a Trailers-Only response
 * the server never sent. A HEAD response's length describes the GET's
 * content (RFC 9110 8.6) and stays. */
static bool zero_length(const struct tr_exchange *x, const char *name, const char *colon, const char *v, const char *eol)
{
    return x->method != TR_H1_HEAD && colon - name == 14 && memcmp(name, "content-length", 14) == 0 &&
           eol - v == 1 && *v == '0';
}

/* Appends the field name[0..n) lower-cased (RFC 9113 8.2.1) to nv, its value as is, unless it is
 * one HTTP/2 does not carry (or, in the stream's response, one it must not). */
static void put_nv(const struct tr_exchange *x, nghttp2_nv *nv, size_t *nnv, char **lower, const char *name, size_t n,
                   const char *value, size_t vlen, bool opens_tunnel, bool end_stream)
{
    if (hop_field(name, n))
        return;
    char *l = *lower;
    for (size_t i = 0; i < n; i++)
        l[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
    if (opens_tunnel && n == 20 && memcmp(l, "sec-websocket-accept", 20) == 0)
        return;
    if (end_stream && zero_length(x, l, l + n, value, value + vlen))
        return;
    nv[(*nnv)++] = (nghttp2_nv){(uint8_t *)l, (uint8_t *)value, n, vlen, NGHTTP2_NV_FLAG_NONE};
    *lower = l + n;
}

/* The response head of x's stream: status, the fields to send (hop-by-hop ones are dropped,
 * names lower-cased), "Name: value\r\n" lines torii adds (or NULL), and the content length
 * when known (-1: not). A 1xx is sent as an interim response. end_stream: no body follows (a
 * local answer without one, a backend's response without content), so the HEADERS frame ends
 * the stream and carries every field (gRPC's Trailers-Only); otherwise the body and the end come
 * from x->out and x->resp_end (stream_output). */
static void stream_head(struct tr_exchange *x, int status, const struct tr_h1_header *fields, size_t n, const char *extra,
                        size_t extra_len, int64_t length, bool end_stream)
{
    struct h2s *s = x->h2;
    if (!s || s->closed || status < 100 || status > 999)
        return;
    /* An extended CONNECT's tunnel opens with a 200 (RFC 8441 5), the HTTP/1.1 backend's 101. */
    bool opens_tunnel = s->tunnel && (status == 101 || (status >= 200 && status < 300));
    if (s->tunnel && status == 101)
        status = 200;
    if (status >= 200 && s->resp_submitted)
        return;
    size_t cap = 2 + n, names = 0;
    for (size_t i = 0; i < n; i++)
        names += fields[i].name_len;
    for (size_t i = 0; i < extra_len; i++)
        cap += extra[i] == '\n';
    /* nghttp2 copies names and values as the frame is submitted: the lower-cased names need only
     * live through the call. */
    nghttp2_nv nv_stack[48], *nv = cap <= 48 ? nv_stack : tr_xmalloc(cap * sizeof(*nv));
    char lower_stack[2048];
    size_t lower_need = names + extra_len + 14 + 1;
    char *lower = lower_need <= sizeof(lower_stack) ? lower_stack : tr_xmalloc(lower_need);
    char *next = lower;
    char st[4] = {(char)('0' + status / 100 % 10), (char)('0' + status / 10 % 10), (char)('0' + status % 10), 0};
    size_t nnv = 0;
    nv[nnv++] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)st, 7, 3, NGHTTP2_NV_FLAG_NONE};
    for (size_t i = 0; i < n; i++)
        put_nv(x, nv, &nnv, &next, fields[i].name, fields[i].name_len, fields[i].value, fields[i].value_len,
               opens_tunnel, end_stream);
    /* A length the backend gave is kept as information: HTTP/2 frames the body itself. */
    char len_digits[20];
    if (length >= 0 && status >= 200) {
        const char *d = tr_fmt_u64(len_digits, (uint64_t)length);
        put_nv(x, nv, &nnv, &next, "content-length", 14, d, (size_t)(len_digits + sizeof(len_digits) - d),
               opens_tunnel, end_stream);
    }
    /* The fields torii adds ("Name: value\r\n" lines it wrote itself). */
    struct tr_h1_header f;
    for (const char *p = extra; tr_http_next_line_field(&p, extra + extra_len, &f);)
        put_nv(x, nv, &nnv, &next, f.name, f.name_len, f.value, f.value_len, opens_tunnel, end_stream);
    int rc;
    if (status < 200) {
        rc = nghttp2_submit_headers(s->h->s, NGHTTP2_FLAG_NONE, s->id, NULL, nv, nnv, NULL);
    } else if (end_stream) {
        /* No data provider: nghttp2 sets END_STREAM on the HEADERS frame. With one, the end
         * would come as an empty DATA frame, and a gRPC client takes a HEADERS frame without
         * END_STREAM for the response's start, not for a Trailers-Only response: it reports the
         * stream as removed (UNKNOWN) instead of the grpc-status the frame carries. */
        rc = nghttp2_submit_response(s->h->s, s->id, nv, nnv, NULL);
        s->resp_submitted = rc == 0;
        s->resp_bodiless = rc == 0;
    } else {
        nghttp2_data_provider prov = {.source.ptr = s, .read_callback = read_body};
        rc = nghttp2_submit_response(s->h->s, s->id, nv, nnv, &prov);
        s->resp_submitted = rc == 0;
    }
    if (rc != 0)
        tr_log_debug("HTTP/2 stream %d: cannot submit the response: %s", s->id, nghttp2_strerror(rc));
    if (nv != nv_stack)
        free(nv);
    if (lower != lower_stack)
        free(lower);
    tr_h2conn_kick(s->h);
}

/* --- the exchange's response ops for a stream --- */

static void down_head(struct tr_exchange *x, const struct tr_resp_out *r)
{
    stream_head(x, r->status, r->fields, r->nfields, r->extra, r->extra_len,
                r->has_length ? (int64_t)r->length : -1, r->status >= 200 && r->end);
}

static void down_data(struct tr_exchange *x, const char *p, size_t n)
{
    tr_buf_append(&x->out, p, n);
}

/* Trailers go out as the stream's trailing HEADERS once its body has (read_body). */
static void down_end(struct tr_exchange *x, const char *trailers, size_t len)
{
    struct h2s *s = x->h2;
    if (!s || !len)
        return;
    free(s->trailers);
    s->trailers = tr_xmalloc(len);
    memcpy(s->trailers, trailers, len);
    s->trailers_len = len;
}

/* The stream ends once its output drains; a request body still coming is dropped. */
static void down_done(struct tr_exchange *x, bool resume)
{
    (void)resume;
    tr_timer_stop(x->w->loop, &x->timer);
    x->resp_end = true;
    stream_output(x);
}


/* More of the response is in x->out, or x->resp_end was set: send it. */
static void stream_output(struct tr_exchange *x)
{
    struct h2s *s = x->h2;
    if (!s || s->closed || !s->resp_submitted || s->resp_bodiless)
        return;
    nghttp2_session_resume_data(s->h->s, s->id);
    tr_h2conn_kick(s->h);
}

static void down_flush(struct tr_exchange *x)
{
    if (!x->closed)
        stream_output(x);
}

static void down_read(struct tr_exchange *x)
{
    if (x->h2 && !x->closed)
        ack(x->h2);
}

/* The exchange failed after the response began (or before, without an answer): the stream is
 * reset so the client never takes a truncated response for a whole one. It is freed when it
 * closes (tr_h2s_free). */
static void down_close(struct tr_exchange *x, bool linger)
{
    (void)linger;
    struct h2s *s = x->h2;
    if (!s || s->closed)
        return;
    nghttp2_submit_rst_stream(s->h->s, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
    tr_h2conn_kick(s->h);
}

const struct tr_down_ops tr_h2_down_ops = {down_head, down_data,  down_end,          down_done,
                                           down_flush, down_read, tr_exchange_input, down_close};
