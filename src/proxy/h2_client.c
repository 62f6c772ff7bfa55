/* HTTP/2 to backends (h2c, or h2 over BackendTLSPolicy TLS) with nghttp2: one stream's codec
 * (struct h2u), on a carrier that h2_carrier.c runs.
 *
 * Each exchange gets a stream upc of its own, without a socket, whose codec is tr_h2u_ops.
 * Request: the exchange's head (struct tr_req_out, packed and kept to send it again) becomes
 * HEADERS, its body bytes DATA through a data provider, END_STREAM where it ends. Response:
 * HEADERS, DATA and trailing HEADERS are kept as they came (heads as parsed fields, the body in
 * u->in unframed, the trailers) and handed to response.c in order (deliver), each head held to
 * the text parser's rules; no HTTP/1.1 text is made or parsed.
 *
 * Flow control: a stream's response window (64 KiB) is given back only as the exchange moves the
 * bytes on to its client, so a slow client holds back its own stream and nothing else.
 *
 * Callbacks inside nghttp2 only record and mark the stream (touch); the carrier hands it to its
 * exchange (tr_h2u_input) once nghttp2 has returned. */
#include "base/log.h"
#include "base/mem.h"
#include "http/h1_parse.h"
#include "proxy/h2.h"
#include "proxy/h2_client_int.h"
#include "http/fields.h"
#include "proxy/internal.h"

#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A request whose body taken so far is larger can no longer be sent again (its head is kept
 * whole). */
#define REPLAY_MAX (64 * 1024)

/* A response head kept for the exchange, followed by its fields. */
struct head_rec {
    int status;
    bool end_stream; /* its HEADERS frame ended the stream */
    uint32_t nfields;
    uint32_t len; /* the record's bytes, this struct included */
};
struct field_rec {
    uint32_t name_len, value_len;
};

static void drop_sent(struct h2u *h)
{
    h->replayable = false;
    tr_buf_dispose(&h->sent);
}

/* Keeps body bytes taken from u->out, for a re-send, while they stay few. */
static void keep_sent(struct h2u *h, const char *p, size_t n)
{
    if (!h->replayable)
        return;
    if (h->sent.len + n > REPLAY_MAX) {
        drop_sent(h);
        return;
    }
    if (!h->sent.cap)
        tr_buf_reserve(&h->sent, n < 1024 ? 1024 : n); /* a small body in one */
    tr_buf_append(&h->sent, p, n);
}

/* --- the response: heads, body and trailers kept for the exchange --- */

static struct head_rec *cur_head(struct h2u *h)
{
    return (struct head_rec *)(void *)(h->heads.data + h->cur);
}

int tr_h2u_on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
                     const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
    struct h2u *h = stream_of(session, frame->hd.stream_id);
    if (!h || frame->hd.type != NGHTTP2_HEADERS)
        return 0;
    if (h->final_seen) {
        if (namelen && name[0] == ':')
            return 0;
        struct tr_buf *b = &h->trailers;
        if (b->len + namelen + valuelen > 256 * 1024)
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        tr_buf_append(b, (const char *)name, namelen);
        tr_buf_puts(b, ": ");
        tr_buf_append(b, (const char *)value, valuelen);
        tr_buf_puts(b, "\r\n");
        return 0;
    }
    if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
        int status = 0;
        for (size_t i = 0; i < valuelen && i < 3; i++)
            status = status * 10 + (value[i] - '0');
        cur_head(h)->status = status;
        return 0;
    }
    if (namelen && name[0] == ':')
        return 0;
    if (h->heads.len - h->cur + namelen + valuelen > 256 * 1024)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    struct field_rec f = {(uint32_t)namelen, (uint32_t)valuelen};
    tr_buf_append(&h->heads, (const char *)&f, sizeof(f));
    tr_buf_append(&h->heads, (const char *)name, namelen);
    tr_buf_append(&h->heads, (const char *)value, valuelen);
    struct head_rec *r = cur_head(h);
    r->nfields++;
    r->len = (uint32_t)(h->heads.len - h->cur);
    return 0;
}

int tr_h2u_on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *ud)
{
    struct h2u *h = stream_of(session, frame->hd.stream_id);
    if (!h)
        return 0;
    /* The backend answers: the request was processed, it will not go again. */
    h->got_any = true;
    drop_sent(h);
    tr_worker_buf_attach(h->u->w, &h->u->in); /* a block from the worker's cache, once */
    if (!h->final_seen) {
        /* Records stay aligned for their ints. */
        while (h->heads.len % sizeof(int))
            tr_buf_putc(&h->heads, 0);
        h->cur = h->heads.len;
        struct head_rec r = {.len = sizeof(r)};
        tr_buf_append(&h->heads, (const char *)&r, sizeof(r));
    }
    return 0;
}

int tr_h2u_on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *ud)
{
    struct h2uc *hc = ud;
    struct h2u *h = stream_of(session, frame->hd.stream_id);
    if (!h)
        return 0;
    bool end = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
    if (frame->hd.type == NGHTTP2_HEADERS && !h->final_seen) {
        struct head_rec *r = cur_head(h);
        if (r->status < 100 || r->status > 999)
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets this stream only */
        r->end_stream = end;
        h->heads_ready = h->heads.len;
        h->final_seen = r->status >= 200;
        h->resp_done = end;
        tr_h2uc_touch(hc, h);
        return 0;
    }
    if (end && (frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA)) {
        h->resp_done = true;
        tr_h2uc_touch(hc, h);
    }
    return 0;
}

int tr_h2u_on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
                         void *ud)
{
    struct h2uc *hc = ud;
    struct h2u *h = stream_of(session, id);
    if (!h || !h->final_seen || h->resp_done) {
        /* Nobody takes these bytes: the window comes back at once. */
        nghttp2_session_consume(session, id, len);
        return 0;
    }
    if (!len)
        return 0;
    tr_buf_append(&h->u->in, (const char *)data, len);
    h->unacked += len;
    tr_h2uc_touch(hc, h);
    return 0;
}

int tr_h2u_on_stream_close(nghttp2_session *session, int32_t id, uint32_t error_code, void *ud)
{
    struct h2uc *hc = ud;
    struct h2u *h = stream_of(session, id);
    if (!h)
        return 0;
    h->closed = true;
    if (error_code == NGHTTP2_REFUSED_STREAM && !h->got_any) {
        h->refused = true; /* not processed: it may go again (RFC 9113 8.7) */
    } else if (error_code != NGHTTP2_NO_ERROR || !h->resp_done) {
        /* Reset, or closed before the response ended: what u->in holds is cut short, and
         * deliver() reports it once the exchange took the rest. */
        tr_log_debug("upstream %s: HTTP/2 stream %d closed: %s", hc->k->key, id, nghttp2_http2_strerror(error_code));
        h->u->eof = true;
    }
    tr_h2uc_touch(hc, h);
    return 0;
}

/* --- the request --- */

static ssize_t read_body(nghttp2_session *session, int32_t id, uint8_t *buf, size_t length, uint32_t *flags,
                         nghttp2_data_source *source, void *ud)
{
    struct h2uc *hc = ud;
    struct h2u *h = stream_of(session, id);
    if (!h)
        return NGHTTP2_ERR_DEFERRED; /* detached: its reset is on its way */
    struct upc *u = h->u;
    size_t n = tr_buf_pending(&u->out, u->out_off);
    if (n > length)
        n = length;
    if (n) {
        memcpy(buf, u->out.data + u->out_off, n);
        keep_sent(h, u->out.data + u->out_off, n);
    }
    u->out_off += n;
    if (u->out_off == u->out.len) {
        u->out.len = 0;
        u->out_off = 0;
        if (h->body_end)
            *flags |= NGHTTP2_DATA_FLAG_EOF;
        else if (n == 0) {
            h->deferred = true;
            return NGHTTP2_ERR_DEFERRED;
        }
    }
    if (n && !h->body_end && !h->room_due) {
        /* Room for more of the body: the exchange is asked once nghttp2 returns. */
        h->room_due = true;
        h->room_next = hc->room;
        hc->room = h;
    }
    return (ssize_t)n;
}

/* Fields HTTP/2 does not carry (RFC 9113 8.2.2), Host among them (:authority carries it). */
static bool skip_field(const char *name, size_t n)
{
    static const char *const names[] = {"host", "connection", "keep-alive", "proxy-connection", "transfer-encoding",
                                        "upgrade", "te"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (n == strlen(names[i]) && strncasecmp(name, names[i], n) == 0)
            return true;
    return false;
}

/* Appends name (lower-cased into *lower) and value to nv, unless HTTP/2 does not carry it. */
static void put_nv(nghttp2_nv *nv, size_t *nnv, char **lower, const char *name, size_t n, const char *value,
                   size_t vlen)
{
    if (skip_field(name, n))
        return;
    char *l = *lower;
    for (size_t i = 0; i < n; i++)
        l[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
    nv[(*nnv)++] = (nghttp2_nv){(uint8_t *)l, (uint8_t *)value, n, vlen, NGHTTP2_NV_FLAG_NONE};
    *lower = l + n;
}

/* The request's head becomes the stream's HEADERS. Returns -1 when it cannot, 0 otherwise
 * (h->submitted says whether it went). */
static int submit_head(struct h2u *h)
{
    struct upc *k = h->k;
    struct h2uc *hc = k->h2c;
    struct tr_h1_header fields[TR_H1_MAX_HEADERS];
    struct tr_req_out r;
    tr_req_out_unpack(h->head.data, &r, fields);
    size_t cap = r.nfields + 6, names = 14;
    for (size_t i = 0; i < r.extra_len; i++)
        cap += r.extra[i] == '\n';
    for (size_t i = 0; i < r.nfields; i++)
        names += r.fields[i].name_len;
    names += r.extra_len;
    /* nghttp2 copies names and values as the frame is submitted. */
    nghttp2_nv nv_stack[48], *nv = cap <= 48 ? nv_stack : tr_xmalloc(cap * sizeof(*nv));
    char lower_stack[2048];
    char *lower = names + 1 <= sizeof(lower_stack) ? lower_stack : tr_xmalloc(names + 1), *next = lower;
    size_t nnv = 0;
    bool grpc = false;
#define NV(n, nl, v, vl) (nghttp2_nv){(uint8_t *)(n), (uint8_t *)(v), (nl), (vl), NGHTTP2_NV_FLAG_NONE}
    nv[nnv++] = NV(":method", 7, r.method, r.method_len);
    nv[nnv++] = NV(":scheme", 7, k->ssl ? "https" : "http", k->ssl ? 5 : 4);
    /* An empty Host means none (RFC 9113 8.3.1). */
    if (r.host && r.host_len)
        nv[nnv++] = NV(":authority", 10, r.host, r.host_len);
    nv[nnv++] = NV(":path", 5, r.target, r.target_len);
    for (size_t i = 0; i < r.nfields; i++) {
        const struct tr_h1_header *f = &r.fields[i];
        put_nv(nv, &nnv, &next, f->name, f->name_len, f->value, f->value_len);
        if (f->name_len == 12 && strncasecmp(f->name, "content-type", 12) == 0 && f->value_len >= 16 &&
            strncasecmp(f->value, "application/grpc", 16) == 0)
            grpc = true;
    }
    /* The fields torii adds ("Name: value\r\n" lines it wrote itself). */
    struct tr_h1_header f;
    for (const char *p = r.extra; tr_http_next_line_field(&p, r.extra + r.extra_len, &f);)
        put_nv(nv, &nnv, &next, f.name, f.name_len, f.value, f.value_len);
    char len_digits[20];
    if (r.body == TR_H1_BODY_LENGTH) {
        const char *d = tr_fmt_u64(len_digits, r.length);
        nv[nnv++] = NV("content-length", 14, d, (size_t)(len_digits + sizeof(len_digits) - d));
    }
    if (grpc) /* gRPC servers require it (the client's own TE was hop-by-hop) */
        nv[nnv++] = NV("te", 2, "trailers", 8);
#undef NV
    nghttp2_data_provider prov = {.read_callback = read_body};
    bool bodiless = h->body_end && tr_buf_pending(&h->u->out, h->u->out_off) == 0;
    int32_t sid = nghttp2_submit_request(hc->s, NULL, nv, nnv, bodiless ? NULL : &prov, h);
    if (nv != nv_stack)
        free(nv);
    if (lower != lower_stack)
        free(lower);
    if (sid == NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE) {
        /* Stream ids ran out: this carrier is done, the stream goes on another. */
        hc->goaway = true;
        hc->rebalance = true;
        tr_pool_remove(k->w, k);
        tr_h2uc_kick(k);
        return 0;
    }
    if (sid < 0)
        return -1;
    h->sid = sid;
    h->submitted = true;
    hc->npending--;
    hc->nopen++;
    return 0;
}

/* --- the exchange's request ops for a stream --- */

static void up_head(struct upc *u, const struct tr_req_out *r)
{
    struct h2u *h = u->h2;
    h->head.len = 0;
    tr_req_out_pack(&h->head, r);
    h->body_end = r->body == TR_H1_BODY_NONE || (r->body == TR_H1_BODY_LENGTH && r->length == 0);
}

static void up_data(struct upc *u, const char *p, size_t n)
{
    if (!n)
        return;
    tr_worker_buf_attach(u->w, &u->out);
    tr_buf_append(&u->out, p, n);
}

static void up_end(struct upc *u)
{
    u->h2->body_end = true;
}

const struct tr_up_ops tr_h2u_ops = {up_head, up_data, up_end};

/* Submits h if its carrier can take it now, and moves its body on. Returns false when h failed
 * (and closed). */
bool tr_h2u_start(struct h2u *h)
{
    struct upc *u = h->u, *k = h->k;
    if (!h->submitted) {
        if (!tr_h2uc_can_submit(k) || !h->head.len)
            return true; /* pending: the carrier submits it when it can (submit_pending) */
        if (submit_head(h) < 0) {
            tr_upstream_fail(u, "HTTP/2 request failed");
            return false;
        }
        if (!h->submitted)
            return true;
    }
    if (h->deferred && !h->closed && (tr_buf_pending(&u->out, u->out_off) || h->body_end)) {
        h->deferred = false;
        nghttp2_session_resume_data(k->h2c->s, h->sid);
    }
    tr_h2uc_kick(k);
    return true;
}

/* --- what upstream.c calls --- */

void tr_h2u_detach(struct upc *u)
{
    struct h2u *h = u->h2;
    struct upc *k = h->k;
    if (!k)
        return;
    struct h2uc *hc = k->h2c;
    if (!hc->failing && hc->s && h->submitted) {
        if (!h->closed) {
            nghttp2_session_set_stream_user_data(hc->s, h->sid, NULL);
            nghttp2_submit_rst_stream(hc->s, NGHTTP2_FLAG_NONE, h->sid, NGHTTP2_CANCEL);
        }
        if (h->unacked)
            nghttp2_session_consume(hc->s, h->sid, h->unacked);
        h->unacked = 0;
    }
    tr_h2uc_unlink(h);
    if (!hc->failing)
        tr_h2uc_kick(k);
}

void tr_h2u_release(struct upc *u)
{
    struct h2u *h = u->h2;
    if (h) {
        tr_buf_dispose(&h->sent);
        tr_buf_dispose(&h->head);
        tr_buf_dispose(&h->heads);
        tr_buf_dispose(&h->trailers);
        tr_worker_obj_put(&u->w->h2u_cache, h);
        u->h2 = NULL;
    }
    struct h2uc *hc = u->h2c;
    if (hc) {
        if (hc->s)
            nghttp2_session_del(hc->s);
        tr_buf_dispose(&hc->raw);
        free(hc);
        u->h2c = NULL;
    }
}

void tr_h2u_flush(struct upc *u)
{
    struct h2u *h = u->h2;
    if (!u->closed && h->k)
        tr_h2u_start(h);
}

/* The head at h->heads_off into u->resp (slices into h->heads), checked and framed as an
 * HTTP/1.1 head would be. Returns false when it is malformed. */
static bool take_head(struct h2u *h, const struct head_rec *r)
{
    struct upc *u = h->u;
    struct tr_h1_resp *resp = &u->resp;
    tr_h1_resp_init(resp);
    resp->status = r->status;
    if (r->nfields > TR_H1_MAX_HEADERS)
        return false;
    const char *p = (const char *)r + sizeof(*r);
    for (uint32_t i = 0; i < r->nfields; i++) {
        struct field_rec f;
        memcpy(&f, p, sizeof(f));
        p += sizeof(f);
        resp->headers[i] = (struct tr_h1_header){p, f.name_len, p + f.name_len, f.value_len};
        p += f.name_len + f.value_len;
    }
    resp->nheaders = r->nfields;
    if (tr_h1_resp_check(resp, NULL) != 0 || tr_h1_resp_framing(resp, u->x->method) != 0)
        return false;
    resp->keep_alive = false; /* a stream is never reused */
    if (r->status < 200)
        return true;
    if (resp->body == TR_H1_BODY_LENGTH && resp->content_length && r->end_stream)
        return false; /* a length its frames never deliver */
    if (resp->body == TR_H1_BODY_CLOSE) {
        /* No Content-Length: the stream's end ends the body. A HEADERS frame that ended the
         * stream says there is none: a length of 0, which an HTTP/1.1 client needs to tell the
         * end without a close. */
        resp->body = r->end_stream ? TR_H1_BODY_LENGTH : TR_H1_BODY_CHUNKED;
        resp->content_length = 0;
    }
    return true;
}

/* Hands the exchange what the stream received: heads in order, the body as far as the client
 * takes it, then the end with the trailers (response.c). A mirror's answer is dropped. */
static void deliver(struct upc *u)
{
    struct h2u *h = u->h2;
    if (u->mirror) {
        u->in.len = 0;
        u->in_off = 0;
        if (u->eof || h->resp_done)
            tr_upstream_close(u);
        return;
    }
    if (!u->x) {
        tr_upstream_close(u);
        return;
    }
    size_t entry = u->in_off;
    while (!u->head_done) {
        if (h->heads_off == h->heads_ready) {
            if (u->eof)
                tr_upstream_fail(u, "closed before a response");
            return;
        }
        while (h->heads_off % sizeof(int))
            h->heads_off++;
        const struct head_rec *r = (const struct head_rec *)(const void *)(h->heads.data + h->heads_off);
        if (!take_head(h, r)) {
            tr_upstream_fail(u, "malformed response head");
            return;
        }
        h->heads_off += r->len;
        /* The exchange copies what it keeps of a head: it may go once taken. */
        if (!tr_response_head(u))
            return;
    }
    while (!u->resp_done && tr_buf_pending(&u->in, u->in_off) && tr_response_room(u)) {
        size_t n = tr_buf_pending(&u->in, u->in_off);
        if (u->body == TR_H1_BODY_LENGTH && n > u->left)
            n = (size_t)u->left; /* nghttp2 holds DATA to the length: never more */
        tr_response_data(u, u->in.data + u->in_off, n);
        u->in_off += n;
        u->left -= u->body == TR_H1_BODY_LENGTH ? n : 0;
        if (n == 0)
            break;
    }
    if (!u->resp_done && h->resp_done && tr_buf_pending(&u->in, u->in_off) == 0)
        tr_response_end(u, h->trailers.data, h->trailers.len);
    if (!u->resp_done && u->eof && tr_buf_pending(&u->in, u->in_off) == 0) {
        u->x->down->flush(u->x);
        tr_upstream_fail(u, "truncated response body");
        return;
    }
    if (!u->closed && u->x)
        tr_response_settle(u, u->in_off != entry);
}

void tr_h2u_input(struct upc *u)
{
    struct h2u *h = u->h2;
    deliver(u);
    if (u->closed)
        return;
    size_t held = tr_buf_pending(&u->in, u->in_off);
    if (!held) {
        u->in.len = 0;
        u->in_off = 0;
    } else if (u->in_off >= 4096) {
        tr_buf_compact(&u->in, &u->in_off);
    }
    /* What is still in u->in holds at most that many body bytes: the rest went on. */
    struct upc *k = h->k;
    if (h->unacked > held && k && k->h2c->s) {
        nghttp2_session_consume(k->h2c->s, h->sid, h->unacked - held);
        h->unacked = held;
        tr_h2uc_kick(k);
    }
}

