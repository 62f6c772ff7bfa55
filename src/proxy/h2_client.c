/* HTTP/2 to backends (h2c, or h2 over BackendTLSPolicy TLS) with nghttp2: one stream at a time
 * per upstream connection, so a connection is an exchange slot exactly like an HTTP/1.1 one and
 * the pool, retries, mirrors and timeouts of the HTTP/1 path apply unchanged (see h2.h).
 *
 * Request: the exchange (exchange.c) writes an HTTP/1.1 head and body into u->out; the head becomes HEADERS,
 * the body (decoded from its Content-Length or chunked framing) DATA, END_STREAM where it ends.
 * Response: HEADERS, DATA and trailing HEADERS become HTTP/1.1 text in u->in, which
 * u_process() parses as from any backend: a body with a content-length stays that length,
 * otherwise it is chunked with the trailers (gRPC's grpc-status) in the last chunk. */
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "http/h1_parse.h"
#include "net/sock.h"
#include "net/tls.h"
#include "proxy/h2.h"
#include "proxy/internal.h"

#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct h2u {
    struct upc *u;
    nghttp2_session *s;
    struct tr_buf raw; /* frames to write; raw_off of them written */
    size_t raw_off;
    int32_t sid;        /* the stream of the exchange in progress, or 0 */
    bool head_sent;     /* the request head went out as HEADERS */
    enum tr_h1_body body;
    uint64_t left;
    struct tr_h1_chunked ch;
    struct tr_buf bodybuf; /* decoded request body for DATA; body_off of it sent */
    size_t body_off;
    bool body_end, deferred;
    bool unusable; /* GOAWAY, a reset or an error: no further exchange on this connection */
    /* The response in progress. */
    bool final_seen, resp_chunked, resp_done;
    int status;
    bool has_cl;
    struct tr_buf hdr;      /* fields of the HEADERS being received, "name: value\r\n" */
    struct tr_buf trailers; /* trailing fields */
};

static size_t pend(const struct tr_buf *b, size_t off)
{
    return tr_buf_pending(b, off);
}

/* --- the response, as HTTP/1.1 text --- */

static void emit_end(struct h2u *h)
{
    if (h->resp_done)
        return;
    h->resp_done = true;
    if (h->resp_chunked) {
        tr_buf_puts(&h->u->in, "0\r\n");
        tr_buf_append(&h->u->in, h->trailers.data, h->trailers.len);
        tr_buf_puts(&h->u->in, "\r\n");
    }
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
                     const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
    struct h2u *h = ud;
    if (frame->hd.stream_id != h->sid || frame->hd.type != NGHTTP2_HEADERS)
        return 0;
    if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
        h->status = 0;
        for (size_t i = 0; i < valuelen && i < 3; i++)
            h->status = h->status * 10 + (value[i] - '0');
        return 0;
    }
    if (namelen && name[0] == ':')
        return 0;
    struct tr_buf *b = h->final_seen ? &h->trailers : &h->hdr;
    if (b->len + namelen + valuelen > 256 * 1024)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    if (!h->final_seen && namelen == 14 && memcmp(name, "content-length", 14) == 0)
        h->has_cl = true;
    tr_buf_append(b, (const char *)name, namelen);
    tr_buf_puts(b, ": ");
    tr_buf_append(b, (const char *)value, valuelen);
    tr_buf_puts(b, "\r\n");
    return 0;
}

static int on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *ud)
{
    struct h2u *h = ud;
    if (frame->hd.stream_id == h->sid && !h->final_seen) {
        h->hdr.len = 0;
        h->status = 0;
        h->has_cl = false;
    }
    return 0;
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *ud)
{
    struct h2u *h = ud;
    if (frame->hd.type == NGHTTP2_GOAWAY) {
        h->unusable = true;
        return 0;
    }
    if (frame->hd.stream_id != h->sid || !h->sid)
        return 0;
    bool end = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
    struct tr_buf *in = &h->u->in;
    if (frame->hd.type == NGHTTP2_HEADERS && !h->final_seen) {
        if (h->status < 100 || h->status > 999) {
            h->unusable = true;
            return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
        tr_buf_printf(in, "HTTP/1.1 %d -\r\n", h->status);
        tr_buf_append(in, h->hdr.data, h->hdr.len);
        if (h->status < 200) { /* interim: another head follows */
            tr_buf_puts(in, "\r\n");
            return 0;
        }
        h->final_seen = true;
        if (end) {
            if (!h->has_cl && h->status != 204 && h->status != 304)
                tr_buf_puts(in, "content-length: 0\r\n");
            tr_buf_puts(in, "\r\n");
            h->resp_done = true;
            return 0;
        }
        if (!h->has_cl) {
            tr_buf_puts(in, "transfer-encoding: chunked\r\n");
            h->resp_chunked = true;
        }
        tr_buf_puts(in, "\r\n");
        return 0;
    }
    if (end && (frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA))
        emit_end(h);
    return 0;
}

static int on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
                         void *ud)
{
    struct h2u *h = ud;
    if (id != h->sid || !h->final_seen || h->resp_done || !len)
        return 0;
    if (h->resp_chunked)
        tr_buf_printf(&h->u->in, "%zx\r\n", len);
    tr_buf_append(&h->u->in, (const char *)data, len);
    if (h->resp_chunked)
        tr_buf_puts(&h->u->in, "\r\n");
    return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t id, uint32_t error_code, void *ud)
{
    struct h2u *h = ud;
    if (id != h->sid)
        return 0;
    h->sid = 0;
    if (error_code != NGHTTP2_NO_ERROR || !h->resp_done) {
        /* Reset, or closed before the response ended: what u->in holds is cut short, and
         * u_process reports it when it sees the end of input. */
        tr_log_debug("upstream %s: HTTP/2 stream closed: %s", h->u->key, nghttp2_http2_strerror(error_code));
        h->unusable = true;
        h->u->eof = true;
    }
    return 0;
}

/* --- the request --- */

static ssize_t read_body(nghttp2_session *session, int32_t id, uint8_t *buf, size_t length, uint32_t *flags,
                         nghttp2_data_source *source, void *ud)
{
    struct h2u *h = ud;
    size_t n = pend(&h->bodybuf, h->body_off);
    if (n > length)
        n = length;
    if (n)
        memcpy(buf, h->bodybuf.data + h->body_off, n);
    h->body_off += n;
    if (h->body_off == h->bodybuf.len) {
        h->bodybuf.len = 0;
        h->body_off = 0;
        if (h->body_end)
            *flags |= NGHTTP2_DATA_FLAG_EOF;
        else if (n == 0) {
            h->deferred = true;
            return NGHTTP2_ERR_DEFERRED;
        }
    }
    return (ssize_t)n;
}

static bool skip_field(const char *name, size_t n)
{
    static const char *const names[] = {"host", "connection", "keep-alive", "proxy-connection", "transfer-encoding",
                                        "upgrade", "te"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (n == strlen(names[i]) && strncasecmp(name, names[i], n) == 0)
            return true;
    return false;
}

/* The head at the start of u->out becomes the stream's HEADERS. Returns -1 when it cannot. */
static int submit_head(struct h2u *h)
{
    struct upc *u = h->u;
    struct tr_h1_req req;
    tr_h1_req_init(&req);
    int n = tr_h1_parse_request(u->out.data + u->out_off, pend(&u->out, u->out_off), &req, NULL);
    if (n == TR_EAGAIN)
        return 0; /* not all there yet */
    if (n < 0 || tr_h1_req_framing(&req) != 0)
        return -1;
    size_t cap = req.nheaders + 5, k = 0;
    nghttp2_nv *nv = tr_xmalloc(cap * sizeof(*nv));
    struct tr_buf names; /* lower-cased field names, then pointed into */
    tr_buf_init(&names, 0);
    bool grpc = false;
    size_t *offs = tr_xmalloc((req.nheaders + 1) * sizeof(*offs));
    for (size_t i = 0; i < req.nheaders; i++) {
        offs[i] = names.len;
        for (size_t j = 0; j < req.headers[i].name_len; j++) {
            char ch = req.headers[i].name[j];
            tr_buf_putc(&names, (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch));
        }
        if (req.headers[i].name_len == 12 && strncasecmp(req.headers[i].name, "content-type", 12) == 0 &&
            req.headers[i].value_len >= 16 && strncasecmp(req.headers[i].value, "application/grpc", 16) == 0)
            grpc = true;
    }
#define NV(n, nl, v, vl) (nghttp2_nv){(uint8_t *)(n), (uint8_t *)(v), (nl), (vl), NGHTTP2_NV_FLAG_NONE}
    nv[k++] = NV(":method", 7, req.method, req.method_len);
    nv[k++] = NV(":scheme", 7, u->ssl ? "https" : "http", u->ssl ? 5 : 4);
    /* The head is torii's own: origin-form with the one Host routing chose (exchange.c), which
     * the parser took as the authority. An empty Host means none (RFC 9113 8.3.1). */
    if (req.authority_len)
        nv[k++] = NV(":authority", 10, req.authority, req.authority_len);
    nv[k++] = NV(":path", 5, req.target, req.target_len);
    for (size_t i = 0; i < req.nheaders; i++) {
        const struct tr_h1_header *f = &req.headers[i];
        if (!skip_field(f->name, f->name_len))
            nv[k++] = NV(names.data + offs[i], f->name_len, f->value, f->value_len);
    }
    if (grpc) /* gRPC servers require it (the client's own TE was hop-by-hop) */
        nv[k++] = NV("te", 2, "trailers", 8);
#undef NV
    h->body = req.body;
    h->left = req.content_length;
    if (h->body == TR_H1_BODY_CHUNKED)
        tr_h1_chunked_init(&h->ch, NULL);
    h->body_end = h->body == TR_H1_BODY_NONE || (h->body == TR_H1_BODY_LENGTH && h->left == 0);
    nghttp2_data_provider prov = {.read_callback = read_body};
    int32_t sid = nghttp2_submit_request(h->s, NULL, nv, k, h->body_end ? NULL : &prov, NULL);
    free(offs);
    free(nv);
    tr_buf_dispose(&names);
    if (sid < 0)
        return -1;
    h->sid = sid;
    h->head_sent = true;
    u->out_off += (size_t)n;
    return 0;
}

/* Request body bytes from u->out into the DATA buffer, as far as its bound. */
static int move_body(struct h2u *h)
{
    struct upc *u = h->u;
    bool moved = false;
    while (!h->body_end && pend(&u->out, u->out_off) && pend(&h->bodybuf, h->body_off) < TR_WORKER_BUF_HIGH) {
        const char *p = u->out.data + u->out_off;
        size_t n = pend(&u->out, u->out_off);
        if (h->body == TR_H1_BODY_LENGTH) {
            size_t take = n < h->left ? n : (size_t)h->left;
            tr_buf_append(&h->bodybuf, p, take);
            u->out_off += take;
            h->left -= take;
            h->body_end = h->left == 0;
        } else {
            const char *d;
            size_t dl;
            ssize_t used = tr_h1_chunked_decode(&h->ch, p, n, &d, &dl);
            if (used < 0)
                return -1;
            tr_buf_append(&h->bodybuf, d, dl);
            u->out_off += (size_t)used;
            h->body_end = tr_h1_chunked_done(&h->ch);
            if (used == 0)
                break;
        }
        moved = true;
    }
    if (u->out_off == u->out.len) {
        u->out.len = 0;
        u->out_off = 0;
    }
    if ((moved || h->body_end) && h->deferred && h->sid) {
        h->deferred = false;
        nghttp2_session_resume_data(h->s, h->sid);
    }
    return 0;
}

/* Frames out of the session and onto the socket. */
static int send_frames(struct h2u *h)
{
    struct upc *u = h->u;
    for (;;) {
        while (pend(&h->raw, h->raw_off) < TR_WORKER_BUF_HIGH) {
            const uint8_t *d;
            ssize_t n = nghttp2_session_mem_send(h->s, &d);
            if (n < 0)
                return -1;
            if (n == 0)
                break;
            tr_buf_append(&h->raw, (const char *)d, (size_t)n);
        }
        if (h->raw_off == h->raw.len)
            break;
        bool room = true;
        if (tr_sock_write_buf(u->io.fd, u->ssl, &h->raw, &h->raw_off, &room, NULL) < 0)
            return -1;
        if (!room) {
            u->writable = false;
            return 0;
        }
    }
    return 0;
}

/* --- what the HTTP/1 path calls --- */

bool tr_h2u_init(struct upc *u)
{
    struct h2u *h = tr_xcalloc(1, sizeof(*h));
    h->u = u;
    tr_buf_init(&h->raw, 0);
    tr_buf_init(&h->bodybuf, 0);
    tr_buf_init(&h->hdr, 0);
    tr_buf_init(&h->trailers, 0);
    nghttp2_session_callbacks *cbs;
    if (nghttp2_session_callbacks_new(&cbs) != 0) {
        free(h);
        return false;
    }
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    int rc = nghttp2_session_client_new(&h->s, cbs, h);
    nghttp2_session_callbacks_del(cbs);
    if (rc != 0) {
        free(h);
        return false;
    }
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0}};
    nghttp2_submit_settings(h->s, NGHTTP2_FLAG_NONE, iv, 1);
    u->h2 = h;
    return true;
}

void tr_h2u_free(struct upc *u)
{
    struct h2u *h = u->h2;
    if (!h)
        return;
    nghttp2_session_del(h->s);
    tr_buf_dispose(&h->raw);
    tr_buf_dispose(&h->bodybuf);
    tr_buf_dispose(&h->hdr);
    tr_buf_dispose(&h->trailers);
    free(h);
    u->h2 = NULL;
}

int tr_h2u_flush(struct upc *u)
{
    struct h2u *h = u->h2;
    if (!h->head_sent && pend(&u->out, u->out_off) && submit_head(h) < 0)
        return -1;
    if (h->head_sent && move_body(h) < 0)
        return -1;
    return send_frames(h);
}

enum tr_sock_rd tr_h2u_read(struct upc *u)
{
    struct h2u *h = u->h2;
    char buf[16384];
    while (pend(&u->in, u->in_off) < TR_WORKER_BUF_HIGH) {
        ssize_t r = tr_sock_read(u->io.fd, u->ssl, buf, sizeof(buf));
        if (r > 0) {
            ssize_t used = nghttp2_session_mem_recv(h->s, (const uint8_t *)buf, (size_t)r);
            if (used < 0) {
                tr_log_debug("upstream %s: HTTP/2: %s", u->key, nghttp2_strerror((int)used));
                h->unusable = true;
                return TR_SOCK_RD_EOF;
            }
            if (send_frames(h) < 0) /* acknowledgements, window updates */
                return TR_SOCK_RD_EOF;
            continue;
        }
        if (r == TR_SOCK_AGAIN)
            return TR_SOCK_RD_AGAIN;
        h->unusable = true;
        return TR_SOCK_RD_EOF;
    }
    return TR_SOCK_RD_FULL;
}

bool tr_h2u_reusable(const struct upc *u)
{
    const struct h2u *h = u->h2;
    return !h->unusable && h->sid == 0 && h->resp_done && nghttp2_session_want_read(h->s);
}

void tr_h2u_reset(struct upc *u)
{
    struct h2u *h = u->h2;
    h->head_sent = h->body_end = h->deferred = false;
    h->final_seen = h->resp_chunked = h->resp_done = h->has_cl = false;
    h->status = 0;
    h->hdr.len = 0;
    h->trailers.len = 0;
    h->bodybuf.len = 0;
    h->body_off = 0;
}
