/* HTTP/2 server side on nghttp2: h2c (prior knowledge or Upgrade), h2 over TLS, and the gRPC
 * service. nghttp2 works on memory buffers here (mem_recv/mem_send), so the connection layer
 * stays the same for every protocol. Each request stream collects its head and body, is
 * answered at END_STREAM, and a delayed answer waits on a per-stream timer. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <nghttp2/nghttp2.h>

#include "echo.h"

#define MAX_STREAM_BODY (4u << 20)
#define MAX_HEADER_BYTES (1u << 20)

struct h2;
struct h2s {
    struct h2 *h;
    int32_t id;
    struct hreq rq;
    struct hresp rs;
    struct hdrs trailers;
    struct buf body; /* gRPC messages or an urlencoded form */
    struct buf cookie;
    size_t sent, header_bytes;
    bool form_drop; /* the form body outgrew its limit: it is not used */
    struct timer delay;
    struct h2s *prev, *next;
};

struct h2 {
    struct conn *c;
    nghttp2_session *s;
    bool grpc;
    bool flushing; /* conn_flush calls on_drain, which flushes: not again from inside */
    struct h2s *streams;
};

static void h2_flush(struct h2 *h);

static void submit(struct h2s *st);

static void on_delay(struct timer *t)
{
    struct h2s *st = (struct h2s *)((char *)t - offsetof(struct h2s, delay));
    struct h2 *h = st->h;
    submit(st);
    h2_flush(h);
}

static struct h2s *stream_new(struct h2 *h, int32_t id)
{
    struct h2s *st = xcalloc(1, sizeof *st);
    st->h = h;
    st->id = id;
    timer_init(&st->delay, on_delay);
    st->next = h->streams;
    if (h->streams)
        h->streams->prev = st;
    h->streams = st;
    return st;
}

static void stream_free(struct h2s *st)
{
    timer_stop(&st->delay);
    if (st->prev)
        st->prev->next = st->next;
    else
        st->h->streams = st->next;
    if (st->next)
        st->next->prev = st->prev;
    hreq_free(&st->rq);
    hresp_free(&st->rs);
    hdrs_free(&st->trailers);
    buf_free(&st->body);
    buf_free(&st->cookie);
    free(st);
}

static ssize_t read_body(nghttp2_session *s, int32_t id, uint8_t *out, size_t len,
                         uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    struct h2s *st = src->ptr;
    size_t left = st->rs.body.len - st->sent;
    size_t n = left < len ? left : len;
    memcpy(out, st->rs.body.p + st->sent, n);
    st->sent += n;
    if (st->sent == st->rs.body.len) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        if (st->trailers.n) {
            nghttp2_nv *nv = xcalloc(st->trailers.n, sizeof *nv);
            for (size_t i = 0; i < st->trailers.n; i++)
                nv[i] = (nghttp2_nv){(uint8_t *)st->trailers.v[i].name, (uint8_t *)st->trailers.v[i].value,
                                     strlen(st->trailers.v[i].name), strlen(st->trailers.v[i].value),
                                     NGHTTP2_NV_FLAG_NONE};
            if (nghttp2_submit_trailer(s, id, nv, st->trailers.n) == 0)
                *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
            free(nv);
        }
    }
    return (ssize_t)n;
}

/* Headers HTTP/2 forbids in a response; Go's server drops them too. */
static bool connection_specific(const char *name)
{
    static const char *const bad[] = {"connection", "keep-alive", "proxy-connection",
                                      "transfer-encoding", "upgrade", "content-length", NULL};
    for (int i = 0; bad[i]; i++)
        if (!strcasecmp(name, bad[i]))
            return true;
    return false;
}

static void submit(struct h2s *st)
{
    struct h2 *h = st->h;
    struct hresp *rs = &st->rs;
    if (rs->action != ACT_SEND) {
        nghttp2_submit_rst_stream(h->s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
        return;
    }
    size_t cap = rs->hdrs.n + 4, n = 0;
    nghttp2_nv *nv = xcalloc(cap, sizeof *nv);
    char **owned = xcalloc(cap, sizeof *owned);
    char status[8], length[24], date[40];
    snprintf(status, sizeof status, "%d", rs->status);
    nv[n++] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)status, 7, strlen(status), 0};
    for (size_t i = 0; i < rs->hdrs.n; i++) {
        const struct hdr *x = &rs->hdrs.v[i];
        if (!*x->name || strpbrk(x->name, " \t\r\n:") || connection_specific(x->name))
            continue;
        char *lower = xstrdup(x->name);
        for (char *p = lower; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p + 32);
        owned[n] = lower;
        nv[n++] = (nghttp2_nv){(uint8_t *)lower, (uint8_t *)x->value, strlen(lower), strlen(x->value), 0};
    }
    bool bodyless = rs->status == 204 || rs->status == 304 || !strcmp(st->rq.method ? st->rq.method : "", "HEAD");
    if (!h->grpc) {
        /* Go's h2 server adds these; gRPC servers do not. */
        if (rs->status != 204 && rs->status != 304) {
            snprintf(length, sizeof length, "%zu", rs->body.len);
            nv[n++] = (nghttp2_nv){(uint8_t *)"content-length", (uint8_t *)length, 14, strlen(length), 0};
        }
        http_date(date);
        nv[n++] = (nghttp2_nv){(uint8_t *)"date", (uint8_t *)date, 4, strlen(date), 0};
    }
    nghttp2_data_provider prd = {.source.ptr = st, .read_callback = read_body};
    bool with_data = !bodyless && (rs->body.len || st->trailers.n);
    nghttp2_submit_response(h->s, st->id, nv, n, with_data ? &prd : NULL);
    for (size_t i = 0; i < n; i++)
        free(owned[i]);
    free(owned);
    free(nv);
}

/* The request is complete: build the answer. */
static void dispatch(struct h2s *st)
{
    struct h2 *h = st->h;
    struct hreq *rq = &st->rq;
    rq->proto = "HTTP/2.0";
    rq->h2 = true;
    rq->remote = h->c->remote;
    rq->tls = h->c->tls;
    rq->port = h->c->l->port;
    if (!rq->method)
        rq->method = xstrdup("GET");
    if (!rq->target)
        rq->target = xstrdup("/");
    if (!rq->host) { /* no :authority: the Host header stands in (Go and grpc-go alike) */
        const char *host = hdrs_get(&rq->hdrs, "host");
        rq->host = xstrdup(host ? host : "");
    }
    hdrs_del(&rq->hdrs, "host");
    if (h->grpc) {
        grpc_handle(rq, &st->body, &st->rs, &st->trailers);
    } else {
        if (st->cookie.len) /* Go joins the cookie fields of an h2 request into one header */
            hdrs_add(&rq->hdrs, "cookie", 6, st->cookie.p, st->cookie.len);
        if (st->body.len || st->form_drop) { /* an upgraded request brings its own form */
            buf_free(&rq->form);
            rq->form = st->body;
            rq->form_ok = !st->form_drop;
            memset(&st->body, 0, sizeof st->body);
        }
        handle_http(rq, &st->rs);
    }
    if (st->rs.delay_ms && st->rs.action == ACT_SEND) {
        timer_start(&st->delay, st->rs.delay_ms);
        return;
    }
    submit(st);
}

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    struct h2s *st = stream_new(ud, f->hd.stream_id);
    nghttp2_session_set_stream_user_data(s, f->hd.stream_id, st);
    return 0;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
                     const uint8_t *value, size_t vlen, uint8_t flags, void *ud)
{
    struct h2 *h = ud;
    struct h2s *st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
    if (!st || f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0; /* trailers are not echoed */
    st->header_bytes += nlen + vlen + 32;
    if (st->header_bytes > MAX_HEADER_BYTES)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets the stream */
    const char *n = (const char *)name, *v = (const char *)value;
    struct hreq *rq = &st->rq;
    char **slot = NULL;
    if (nlen == 7 && !memcmp(n, ":method", 7))
        slot = &rq->method;
    else if (nlen == 5 && !memcmp(n, ":path", 5))
        slot = &rq->target;
    else if (nlen == 10 && !memcmp(n, ":authority", 10))
        slot = &rq->host;
    if (slot) {
        free(*slot);
        *slot = xstrndup(v, vlen);
    } else if (n[0] == ':') {
        /* :scheme and :protocol are not headers */
    } else if (!h->grpc && nlen == 6 && !memcmp(n, "cookie", 6)) {
        if (st->cookie.len)
            buf_adds(&st->cookie, "; ");
        buf_add(&st->cookie, v, vlen);
    } else {
        hdrs_add(&rq->hdrs, n, nlen, v, vlen);
    }
    return 0;
}

static bool form_request(const struct hreq *rq)
{
    const char *ct = hdrs_get(&rq->hdrs, "content-type");
    return rq->method && (!strcmp(rq->method, "POST") || !strcmp(rq->method, "PUT") ||
                          !strcmp(rq->method, "PATCH")) &&
           ct && !strncasecmp(ct, "application/x-www-form-urlencoded", 33) &&
           (ct[33] == 0 || ct[33] == ';' || ct[33] == ' ');
}

static int on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *ud)
{
    struct h2 *h = ud;
    struct h2s *st = nghttp2_session_get_stream_user_data(s, id);
    if (!st)
        return 0;
    if (h->grpc) {
        if (st->body.len + len > MAX_STREAM_BODY) {
            nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, id, NGHTTP2_REFUSED_STREAM);
            return 0;
        }
        buf_add(&st->body, data, len);
    } else if (form_request(&st->rq) && !st->form_drop) {
        if (st->body.len + len > (1u << 20)) {
            buf_free(&st->body);
            st->form_drop = true;
        } else {
            buf_add(&st->body, data, len);
        }
    }
    return 0;
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    if ((f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) &&
        (f->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
        struct h2s *st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
        if (st)
            dispatch(st);
    }
    return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t id, uint32_t code, void *ud)
{
    struct h2s *st = nghttp2_session_get_stream_user_data(s, id);
    if (st) {
        nghttp2_session_set_stream_user_data(s, id, NULL);
        stream_free(st);
    }
    return 0;
}

static void h2_flush(struct h2 *h)
{
    struct conn *c = h->c;
    if (c->dead || h->flushing)
        return;
    h->flushing = true;
    /* Stop producing while much output waits; on_drain resumes. */
    while (c->out.len < (1u << 20)) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(h->s, &data);
        if (n < 0) {
            conn_abort(c, false);
            return;
        }
        if (!n)
            break;
        buf_add(&c->out, data, (size_t)n);
    }
    conn_flush(c);
    if (c->dead)
        return; /* h is gone with it */
    h->flushing = false;
    if (!nghttp2_session_want_read(h->s) && !nghttp2_session_want_write(h->s))
        conn_close(c);
}

static void h2_on_data(struct conn *c)
{
    struct h2 *h = c->proto;
    ssize_t n = nghttp2_session_mem_recv(h->s, (const uint8_t *)c->in.p, c->in.len);
    if (n < 0) {
        h2_flush(h); /* a GOAWAY may be queued */
        conn_close(c);
        return;
    }
    buf_consume(&c->in, (size_t)n);
    h2_flush(h);
}

static void h2_on_eof(struct conn *c)
{
    struct h2 *h = c->proto;
    h2_flush(h);
    conn_close(c);
}

static void h2_on_drain(struct conn *c)
{
    struct h2 *h = c->proto;
    if (!h->flushing && nghttp2_session_want_write(h->s))
        h2_flush(h);
}

static void h2_free(struct conn *c)
{
    struct h2 *h = c->proto;
    nghttp2_session_del(h->s);
    while (h->streams)
        stream_free(h->streams);
    free(h);
    conn_set_proto(c, NULL, NULL);
}

static const struct proto_ops h2_ops = {h2_on_data, h2_on_eof, h2_on_drain, h2_free};

/* base64url (RFC 4648 section 5), padding optional: the HTTP2-Settings header. */
static size_t b64url_decode(const char *s, unsigned char *out, size_t cap, bool *ok)
{
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0;
    *ok = true;
    for (; *s && *s != '='; s++) {
        int v;
        char ch = *s;
        if (ch >= 'A' && ch <= 'Z') v = ch - 'A';
        else if (ch >= 'a' && ch <= 'z') v = ch - 'a' + 26;
        else if (ch >= '0' && ch <= '9') v = ch - '0' + 52;
        else if (ch == '-' || ch == '+') v = 62;
        else if (ch == '_' || ch == '/') v = 63;
        else {
            *ok = false;
            return 0;
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n < cap)
                out[n++] = (unsigned char)(acc >> bits);
        }
    }
    return n;
}

void h2_start(struct conn *c, bool grpc, struct hreq *upgraded, const char *settings_b64)
{
    struct h2 *h = xcalloc(1, sizeof *h);
    h->c = c;
    h->grpc = grpc;
    nghttp2_session_callbacks *cb;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    int rc = nghttp2_session_server_new(&h->s, cb, h);
    nghttp2_session_callbacks_del(cb);
    if (rc) {
        free(h);
        conn_abort(c, false);
        return;
    }
    conn_set_proto(c, &h2_ops, h);
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 250},
                                   {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, MAX_HEADER_BYTES}};
    nghttp2_submit_settings(h->s, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]);

    if (upgraded) {
        unsigned char settings[512];
        bool ok;
        size_t n = b64url_decode(settings_b64, settings, sizeof settings, &ok);
        struct h2s *st = stream_new(h, 1);
        bool head = upgraded->method && !strcmp(upgraded->method, "HEAD");
        if (!ok || nghttp2_session_upgrade2(h->s, settings, n, head, st)) {
            stream_free(st);
            conn_abort(c, false);
            return;
        }
        /* The HTTP/1.1 request becomes stream 1, already complete. */
        st->rq = *upgraded;
        memset(upgraded, 0, sizeof *upgraded);
        dispatch(st);
    }
    h2_flush(h);
    if (!c->dead && c->in.len)
        h2_on_data(c);
}
