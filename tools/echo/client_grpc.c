/* The gRPC side of `torii-echo client`: unary calls to /proto.EchoTestService/Echo over one h2c
 * connection (prior knowledge), one stream per call, as Istio's forwarder makes them with
 * grpc-go (server/forwarder/grpc.go). Each call carries the -H headers (Host excepted: it is the
 * :authority) and x-request-id: i; EchoRequest.message is --msg ("HelloWorld", Istio's default).
 *
 * Output per call: Latency, ActiveRequests, "[i] StatusCode=200", the lines of
 * EchoResponse.message as body lines, then "[i] ResponseHeader=name:value" per response header.
 * Istio prints no StatusCode line of its own for gRPC (the echo's text carries one); ours makes
 * every request's block start the same way. A failed call prints grpc-go's error text:
 * "[i error] rpc error: code = Unimplemented desc = ...". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>

#include "echo.h"

#define METHOD_PATH "/proto.EchoTestService/Echo"
#define MAX_MESSAGE (16u << 20)

struct gcall {
    int32_t id;
    int http_status;
    struct hdrs hdrs;     /* response headers, pseudo-headers left out */
    struct hdrs trailers;
    struct buf data;      /* the length-prefixed response messages */
    struct buf req;       /* the framed request */
    size_t sent;
    bool headers_seen, closed;
    uint32_t reset_code;  /* RST_STREAM from the server, or 0 */
};

struct gconn {
    int fd;
    nghttp2_session *s;
    struct gcall *call;   /* the call in flight, or NULL */
    bool broken;          /* EOF, error or GOAWAY: no new stream on it */
    int opened;
};

/* ---------- nghttp2 callbacks ---------- */

static struct gcall *call_of(struct gconn *g, int32_t id)
{
    return g->call && g->call->id == id ? g->call : NULL;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
                     const uint8_t *value, size_t vlen, uint8_t flags, void *ud)
{
    struct gcall *c = call_of(ud, f->hd.stream_id);
    if (!c || f->hd.type != NGHTTP2_HEADERS)
        return 0;
    if (nlen == 7 && !memcmp(name, ":status", 7)) {
        c->http_status = 0;
        for (size_t i = 0; i < vlen && i < 3; i++)
            c->http_status = c->http_status * 10 + (value[i] - '0');
        return 0;
    }
    if (name[0] == ':')
        return 0;
    struct hdrs *into = f->headers.cat == NGHTTP2_HCAT_HEADERS ? &c->trailers : &c->hdrs;
    hdrs_add(into, (const char *)name, nlen, (const char *)value, vlen);
    return 0;
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    struct gconn *g = ud;
    if (f->hd.type == NGHTTP2_GOAWAY)
        g->broken = true; /* streams up to last_stream_id still finish */
    struct gcall *c = call_of(g, f->hd.stream_id);
    if (c && f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_RESPONSE)
        c->headers_seen = true;
    return 0;
}

static int on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *ud)
{
    struct gcall *c = call_of(ud, id);
    if (c && c->data.len + len <= MAX_MESSAGE + 5)
        buf_add(&c->data, data, len);
    return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t id, uint32_t code, void *ud)
{
    struct gcall *c = call_of(ud, id);
    if (c) {
        c->closed = true;
        c->reset_code = code;
    }
    return 0;
}

static ssize_t read_request(nghttp2_session *s, int32_t id, uint8_t *out, size_t len,
                            uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    struct gcall *c = src->ptr;
    size_t left = c->req.len - c->sent;
    size_t n = left < len ? left : len;
    memcpy(out, c->req.p + c->sent, n);
    c->sent += n;
    if (c->sent == c->req.len)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

/* ---------- connection ---------- */

static void gconn_close(struct gconn *g)
{
    if (g->s)
        nghttp2_session_del(g->s);
    g->s = NULL;
    if (g->fd >= 0)
        close(g->fd);
    g->fd = -1;
    g->broken = false;
}

static int gconn_open(struct gconn *g, const struct client_opts *o, uint64_t deadline_ms,
                      char *err, size_t errlen)
{
    gconn_close(g);
    g->fd = client_connect(o, deadline_ms, err, errlen);
    if (g->fd < 0)
        return -1;
    g->opened++;
    nghttp2_session_callbacks *cb;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    int rc = nghttp2_session_client_new(&g->s, cb, g);
    nghttp2_session_callbacks_del(cb);
    if (rc) {
        snprintf(err, errlen, "nghttp2: %s", nghttp2_strerror(rc));
        gconn_close(g);
        return -1;
    }
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0}};
    nghttp2_submit_settings(g->s, NGHTTP2_FLAG_NONE, iv, 1);
    return 0;
}

/* Sends what nghttp2 has queued. 0 or -errno. */
static int flush_out(struct gconn *g, uint64_t deadline_ms)
{
    for (;;) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(g->s, &data);
        if (n < 0)
            return -EPROTO;
        if (!n)
            return 0;
        int rc = client_send(g->fd, data, (size_t)n, deadline_ms);
        if (rc)
            return rc;
    }
}

/* Drives the connection until the call's stream closes. 0 or -errno (-ECONNRESET at EOF). */
static int pump(struct gconn *g, uint64_t deadline_ms)
{
    uint8_t in[16384];
    while (!g->call->closed) {
        int rc = flush_out(g, deadline_ms);
        if (rc)
            return rc;
        if (g->call->closed)
            break;
        ssize_t n = client_recv(g->fd, in, sizeof in, deadline_ms);
        if (n <= 0)
            return n ? (int)n : -ECONNRESET;
        if (nghttp2_session_mem_recv(g->s, in, (size_t)n) < 0)
            return -EPROTO;
    }
    return flush_out(g, deadline_ms);
}

/* ---------- one call ---------- */

static int hex_digit(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch = (char)(ch | 0x20);
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* grpc-message is percent-encoded (the gRPC HTTP/2 protocol spec). */
static void percent_decode(const char *s, struct buf *out)
{
    for (; *s; s++) {
        int hi = *s == '%' && s[1] ? hex_digit(s[1]) : -1;
        int lo = hi >= 0 && s[2] ? hex_digit(s[2]) : -1;
        if (lo >= 0) {
            buf_addc(out, (char)(hi * 16 + lo));
            s += 2;
        } else {
            buf_addc(out, *s);
        }
    }
    buf_add(out, "", 0);
}

/* grpc-go's mapping of an HTTP status without grpc-status (codes from HTTP, in grpc-go's
 * internal/transport/http_util.go). */
static int code_from_http(int status)
{
    switch (status) {
    case 400: return GRPC_INTERNAL;
    case 401: return 16; /* Unauthenticated */
    case 403: return 7;  /* PermissionDenied */
    case 404: return GRPC_UNIMPLEMENTED;
    case 429: case 502: case 503: case 504: return GRPC_UNAVAILABLE;
    default: return GRPC_UNKNOWN;
    }
}

static void build_request(const struct client_opts *o, struct gcall *c)
{
    struct buf msg = {0};
    pb_bytes(&msg, 1, o->msg, strlen(o->msg));
    grpc_frame(&c->req, msg.p, msg.len);
    buf_free(&msg);
}

/* Submits the call's stream. 0, or -1 when nghttp2 refuses it. */
static int submit(struct gconn *g, const struct client_opts *o, long i, struct gcall *c)
{
    char id[24], timeout[32];
    snprintf(id, sizeof id, "%ld", i);
    snprintf(timeout, sizeof timeout, "%llum", (unsigned long long)o->timeout_ms);
    size_t cap = 9 + o->hdrs.n, n = 0;
    nghttp2_nv *nv = xcalloc(cap, sizeof *nv);
    char **lower = xcalloc(cap, sizeof *lower);
#define NV(k, v) \
    (nghttp2_nv){(uint8_t *)(k), (uint8_t *)(v), strlen(k), strlen(v), NGHTTP2_NV_FLAG_NONE}
    nv[n++] = NV(":method", "POST");
    nv[n++] = NV(":scheme", "http");
    nv[n++] = NV(":path", METHOD_PATH);
    nv[n++] = NV(":authority", o->authority);
    nv[n++] = NV("content-type", "application/grpc");
    nv[n++] = NV("user-agent", "torii-echo");
    nv[n++] = NV("te", "trailers");
    nv[n++] = NV("grpc-timeout", timeout);
    for (size_t h = 0; h < o->hdrs.n; h++) { /* metadata keys are lower case */
        lower[n] = xstrdup(o->hdrs.v[h].name);
        for (char *p = lower[n]; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p + 32);
        nv[n] = NV(lower[n], o->hdrs.v[h].value);
        n++;
    }
    nv[n++] = NV("x-request-id", id);
#undef NV
    nghttp2_data_provider prd = {.source.ptr = c, .read_callback = read_request};
    c->id = nghttp2_submit_request(g->s, NULL, nv, n, &prd, NULL);
    for (size_t k = 0; k < n; k++)
        free(lower[k]);
    free(lower);
    free(nv);
    return c->id < 0 ? -1 : 0;
}

/* The call's outcome once its stream closed: the status, and the message text when OK. */
static int outcome(struct gcall *c, struct buf *text, struct buf *desc)
{
    const char *st = hdrs_get(&c->trailers, "grpc-status");
    const char *msg = hdrs_get(&c->trailers, "grpc-message");
    if (!st) { /* a trailers-only answer carries them in its headers */
        st = hdrs_get(&c->hdrs, "grpc-status");
        msg = hdrs_get(&c->hdrs, "grpc-message");
    }
    if (!st && c->reset_code) {
        buf_printf(desc, "stream terminated by RST_STREAM with error code: %s",
                   nghttp2_http2_strerror(c->reset_code));
        return c->reset_code == NGHTTP2_REFUSED_STREAM ? GRPC_UNAVAILABLE : GRPC_INTERNAL;
    }
    if (!st && c->http_status != 200) {
        buf_printf(desc, "unexpected HTTP status code received from server: %d (%s)",
                   c->http_status, status_text(c->http_status));
        return code_from_http(c->http_status);
    }
    if (!st) {
        buf_adds(desc, "server closed the stream without sending trailers");
        return GRPC_INTERNAL;
    }
    int code = (int)strtol(st, NULL, 10);
    if (code != GRPC_OK) {
        percent_decode(msg ? msg : "", desc);
        return code;
    }
    const unsigned char *p = (const unsigned char *)c->data.p;
    size_t n = c->data.len;
    uint32_t mlen = 0;
    if (n >= 5)
        mlen = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4];
    const unsigned char *s;
    size_t slen;
    if (n < 5 || p[0] || n - 5 != mlen || !pb_get_string(p + 5, mlen, 1, &s, &slen)) {
        buf_adds(desc, "grpc: failed to unmarshal the received message");
        return GRPC_INTERNAL;
    }
    buf_add(text, s, slen);
    return GRPC_OK;
}

static void call_free(struct gcall *c)
{
    hdrs_free(&c->hdrs);
    hdrs_free(&c->trailers);
    buf_free(&c->data);
    buf_free(&c->req);
    memset(c, 0, sizeof *c);
}

/* One call; false if it failed. */
static bool grpc_one(struct gconn *g, const struct client_opts *o, long i, struct buf *out)
{
    uint64_t start = client_now_ns(), deadline = now_ms() + o->timeout_ms;
    struct gcall c = {0};
    char err[512];
    int rc = 0;
    for (int attempt = 0;; attempt++) {
        call_free(&c);
        build_request(o, &c);
        bool reused = g->s && !g->broken;
        if (!reused && gconn_open(g, o, deadline, err, sizeof err)) {
            client_error(out, i, "rpc error: code = Unavailable desc = connection error: desc = "
                                 "\"transport: Error while dialing: %s\"", err);
            call_free(&c);
            return false;
        }
        if (submit(g, o, i, &c)) {
            g->broken = true;
            if (attempt == 0)
                continue;
            client_error(out, i, "rpc error: code = Unavailable desc = no stream available");
            call_free(&c);
            return false;
        }
        g->call = &c;
        rc = pump(g, deadline);
        g->call = NULL;
        if (!rc)
            break;
        bool dropped = rc == -ECONNRESET || rc == -EPIPE;
        gconn_close(g);
        /* The connection went away under a reused stream the server never answered: as for
         * HTTP/1.1, the call goes again on a new connection (grpc-go retries such streams
         * transparently). */
        if (reused && dropped && !c.headers_seen && attempt == 0) {
            fprintf(stderr, "torii-echo client: [%ld] the server had closed the connection; call "
                            "sent again on a new one, nothing lost\n", i);
            continue;
        }
        break;
    }
    if (rc == -ETIMEDOUT) {
        client_error(out, i, "rpc error: code = DeadlineExceeded desc = context deadline exceeded");
        call_free(&c);
        return false;
    }
    if (rc) {
        client_error(out, i, "rpc error: code = Unavailable desc = error reading from server: %s",
                     rc == -ECONNRESET ? "EOF" : rc == -EPROTO ? "protocol error" : strerror(-rc));
        call_free(&c);
        return false;
    }
    struct buf text = {0}, desc = {0};
    int code = outcome(&c, &text, &desc);
    bool ok = code == GRPC_OK;
    if (ok) {
        client_timing(out, i, start);
        client_field(out, i, "StatusCode", "200");
        client_body(out, i, text.p, text.len);
        for (size_t h = 0; h < c.hdrs.n; h++)
            client_field(out, i, "ResponseHeader", "%s:%s", c.hdrs.v[h].name, c.hdrs.v[h].value);
    } else {
        client_error(out, i, "rpc error: code = %s desc = %s", grpc_code_name(code),
                     desc.p ? desc.p : "");
    }
    buf_free(&text);
    buf_free(&desc);
    call_free(&c);
    return ok;
}

long client_grpc_run(const struct client_opts *o, int *opened)
{
    struct gconn g = {.fd = -1};
    long failed = 0;
    for (long i = 0; i < o->count; i++) {
        struct buf out = {0};
        failed += !grpc_one(&g, o, i, &out);
        buf_addc(&out, '\n');
        fwrite(out.p, 1, out.len, stdout);
        fflush(stdout);
        buf_free(&out);
    }
    gconn_close(&g);
    *opened = g.opened;
    return failed;
}
