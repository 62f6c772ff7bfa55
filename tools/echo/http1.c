/* HTTP/1.1 server side: request parsing (keep-alive, pipelining, Content-Length and chunked
 * bodies), responses, and the two upgrades (WebSocket on /ws, h2c on the h2c port).
 *
 * The rules follow Go's net/http server, which the upstream echo runs on: the same limits
 * (1 MiB of header), the same rejections (400, 431, 501, 505 with a plain-text body and a
 * close), Host and Transfer-Encoding taken out of the echoed headers. Requests on one connection
 * are answered strictly in order: while a delayed response waits, input stays unparsed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "echo.h"

#define MAX_HEAD (1u << 20)
#define MAX_FORM (1u << 20)
#define MAX_CHUNK_LINE 4096

enum h1state { S_HEAD, S_BODY, S_CHUNK_SIZE, S_CHUNK_DATA, S_CHUNK_END, S_TRAILERS, S_WAIT, S_DONE };

struct h1 {
    struct conn *c;
    enum h2c_policy h2c;
    enum h1state st;
    struct hreq rq;
    struct hresp rs;
    uint64_t remaining;
    size_t trailer_bytes;
    unsigned served;
    bool keep_alive, keep_form, head, http10;
    struct timer delay;
};

static void h1_free(struct conn *c);
static void h1_on_data(struct conn *c);
static void h1_on_eof(struct conn *c);
static const struct proto_ops h1_ops = {h1_on_data, h1_on_eof, NULL, h1_free};

static const char PREFACE[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

static bool is_tchar(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static void reset_request(struct h1 *h)
{
    hreq_free(&h->rq);
    hresp_free(&h->rs);
    h->st = S_HEAD;
    h->remaining = 0;
    h->trailer_bytes = 0;
    h->keep_form = h->head = h->http10 = false;
}

/* Go answers malformed requests with a bare status line, a text body and a close. */
static void reject(struct h1 *h, const char *status, const char *detail)
{
    struct buf b = {0};
    buf_printf(&b, "HTTP/1.1 %s\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n%s%s%s",
               status, status, detail ? ": " : "", detail ? detail : "");
    struct conn *c = h->c;
    h->st = S_DONE;
    conn_write(c, b.p, b.len); /* may fail and free h: c stays valid until the batch ends */
    buf_free(&b);
    conn_close(c);
}

static void write_response(struct h1 *h)
{
    struct hresp *rs = &h->rs;
    struct buf b = {0};
    const char *text = status_text(rs->status);
    if (*text)
        buf_printf(&b, "%s %d %s\r\n", h->http10 ? "HTTP/1.0" : "HTTP/1.1", rs->status, text);
    else
        buf_printf(&b, "%s %d status code %d\r\n", h->http10 ? "HTTP/1.0" : "HTTP/1.1",
                   rs->status, rs->status);
    for (size_t i = 0; i < rs->hdrs.n; i++) {
        const struct hdr *x = &rs->hdrs.v[i];
        if (!*x->name || strpbrk(x->name, " \t\r\n:"))
            continue; /* Go skips header names it could not write */
        buf_printf(&b, "%s: ", x->name);
        for (const char *p = x->value; *p; p++) /* and turns line breaks into spaces */
            buf_addc(&b, *p == '\r' || *p == '\n' ? ' ' : *p);
        buf_adds(&b, "\r\n");
    }
    char date[40];
    http_date(date);
    buf_printf(&b, "Date: %s\r\n", date);
    bool bodyless = (rs->status >= 100 && rs->status < 200) || rs->status == 204 || rs->status == 304;
    if (!bodyless)
        buf_printf(&b, "Content-Length: %zu\r\n", rs->body.len);
    if (!h->keep_alive && !h->http10)
        buf_adds(&b, "Connection: close\r\n");
    else if (h->keep_alive && h->http10)
        buf_adds(&b, "Connection: keep-alive\r\n");
    buf_adds(&b, "\r\n");
    if (!bodyless && !h->head)
        buf_add(&b, rs->body.p, rs->body.len);
    conn_write(h->c, b.p, b.len);
    buf_free(&b);
}

/* The response (or reset) is out: go on with the next request or close. Returns false when the
 * connection is gone. */
static bool finish(struct h1 *h)
{
    struct conn *c = h->c;
    h->served++;
    if (h->rs.action == ACT_RESET || h->rs.action == ACT_CLOSE) {
        conn_abort(c, h->rs.action == ACT_RESET);
        return false;
    }
    write_response(h);
    if (c->dead)
        return false;
    bool keep = h->keep_alive;
    reset_request(h);
    if (!keep) {
        h->st = S_DONE;
        conn_close(c);
        return false;
    }
    return true;
}

static void on_delay(struct timer *t)
{
    struct h1 *h = (struct h1 *)((char *)t - offsetof(struct h1, delay));
    struct conn *c = h->c;
    if (!finish(h))
        return;
    if (c->peer_eof && !c->in.len) {
        conn_close(c);
        return;
    }
    conn_resume_read(c); /* pipelined requests may be waiting */
}

static void upgrade_websocket(struct h1 *h)
{
    struct conn *c = h->c;
    char accept[32];
    ws_accept_key(hdrs_get(&h->rq.hdrs, "Sec-WebSocket-Key"), accept);
    struct buf b = {0};
    buf_printf(&b, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Accept: %s\r\n\r\n", accept);
    conn_write(c, b.p, b.len);
    buf_free(&b);
    if (c->dead)
        return;
    log_line("established websocket connection %s", c->remote);
    h1_free(c);
    ws_start(c);
}

static void upgrade_h2c(struct h1 *h, const char *settings)
{
    struct conn *c = h->c;
    static const char resp[] = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n";
    conn_write(c, resp, sizeof resp - 1);
    if (c->dead)
        return;
    struct hreq rq = h->rq;
    memset(&h->rq, 0, sizeof h->rq);
    char *s = xstrdup(settings);
    h1_free(c);
    h2_start(c, false, &rq, s);
    free(s);
    hreq_free(&rq);
}

/* The whole request is in. Returns false when parsing must stop (waiting, closed, upgraded). */
static bool dispatch(struct h1 *h)
{
    struct hreq *rq = &h->rq;
    if (h->h2c != H2C_NO) {
        /* Go's h2c handler upgrades a request that asks for it; on echo-basic's h2c port an
         * HTTP/1 request must ask. */
        const char *up = hdrs_get(&rq->hdrs, "Upgrade");
        const char *conn = hdrs_get(&rq->hdrs, "Connection");
        const char *settings = hdrs_get(&rq->hdrs, "HTTP2-Settings");
        if (up && token_list_has(up, "h2c") && conn && token_list_has(conn, "HTTP2-Settings") &&
            settings && hdrs_count(&rq->hdrs, "HTTP2-Settings") == 1) {
            upgrade_h2c(h, settings);
            return false;
        }
    }
    if (h->h2c == H2C_REQUIRED) {
        h->rs.status = 400;
        hdrs_add(&h->rs.hdrs, "Content-Type", 12, "text/plain; charset=utf-8", 25);
        hdrs_add(&h->rs.hdrs, "X-Content-Type-Options", 22, "nosniff", 7);
        buf_adds(&h->rs.body, "Expected h2c request");
    } else {
        handle_http(rq, &h->rs);
    }
    if (h->rs.action == ACT_WEBSOCKET) {
        upgrade_websocket(h);
        return false;
    }
    if (h->rs.delay_ms) {
        h->st = S_WAIT;
        conn_pause_read(h->c);
        timer_start(&h->delay, h->rs.delay_ms);
        return false;
    }
    return finish(h);
}

static bool parse_version(struct h1 *h, const char *v, size_t n)
{
    if (n != 8 || memcmp(v, "HTTP/", 5) || v[6] != '.' || v[5] < '0' || v[5] > '9' ||
        v[7] < '0' || v[7] > '9') {
        reject(h, "400 Bad Request", "malformed HTTP version");
        return false;
    }
    if (v[5] != '1') {
        reject(h, "505 HTTP Version Not Supported", "unsupported protocol version");
        return false;
    }
    h->http10 = v[7] == '0';
    h->rq.proto = h->http10 ? "HTTP/1.0" : "HTTP/1.1";
    return true;
}

static bool parse_request_line(struct h1 *h, const char *line, size_t n)
{
    const char *sp1 = memchr(line, ' ', n);
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(line + n - sp1 - 1)) : NULL;
    if (!sp1 || !sp2 || sp1 == line || sp2 == sp1 + 1) {
        reject(h, "400 Bad Request", "malformed HTTP request");
        return false;
    }
    for (const char *p = line; p < sp1; p++)
        if (!is_tchar((unsigned char)*p)) {
            reject(h, "400 Bad Request", "invalid method");
            return false;
        }
    for (const char *p = sp1 + 1; p < sp2; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f) {
            reject(h, "400 Bad Request", "malformed HTTP request");
            return false;
        }
    h->rq.method = xstrndup(line, (size_t)(sp1 - line));
    h->rq.target = xstrndup(sp1 + 1, (size_t)(sp2 - sp1 - 1));
    return parse_version(h, sp2 + 1, (size_t)(line + n - sp2 - 1));
}

static bool parse_header_line(struct h1 *h, const char *line, size_t n)
{
    const char *colon = memchr(line, ':', n);
    if (!colon || colon == line) {
        reject(h, "400 Bad Request", "malformed MIME header line");
        return false;
    }
    for (const char *p = line; p < colon; p++)
        if (!is_tchar((unsigned char)*p)) {
            reject(h, "400 Bad Request", "invalid header name");
            return false;
        }
    const char *v = colon + 1, *end = line + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    for (const char *p = v; p < end; p++)
        if (((unsigned char)*p < ' ' && *p != '\t') || *p == 0x7f) {
            reject(h, "400 Bad Request", "invalid header value");
            return false;
        }
    hdrs_add(&h->rq.hdrs, line, (size_t)(colon - line), v, (size_t)(end - v));
    return true;
}

static bool is_form(const char *ct)
{
    if (!ct)
        return false;
    size_t n = strcspn(ct, ";");
    while (n && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    return n == 33 && !strncasecmp(ct, "application/x-www-form-urlencoded", 33);
}

/* Host, framing and connection semantics, once all header lines are in. */
static bool head_done(struct h1 *h)
{
    struct hreq *rq = &h->rq;
    size_t nhost = hdrs_count(&rq->hdrs, "Host");
    if (nhost > 1) {
        reject(h, "400 Bad Request", "too many Host headers");
        return false;
    }
    if (!nhost && !h->http10) {
        reject(h, "400 Bad Request", "missing required Host header");
        return false;
    }
    const char *host = hdrs_get(&rq->hdrs, "Host");
    if (!strncasecmp(rq->target, "http://", 7) || !strncasecmp(rq->target, "https://", 8)) {
        const char *a = strstr(rq->target, "://") + 3;
        rq->host = xstrndup(a, strcspn(a, "/?#"));
    } else {
        rq->host = xstrdup(host ? host : "");
    }
    hdrs_del(&rq->hdrs, "Host");

    bool chunked = false;
    size_t nte = hdrs_count(&rq->hdrs, "Transfer-Encoding");
    if (nte && !h->http10) {
        if (nte > 1 || strcasecmp(hdrs_get(&rq->hdrs, "Transfer-Encoding"), "chunked")) {
            reject(h, "501 Not Implemented", "unsupported transfer encoding");
            return false;
        }
        chunked = true;
        hdrs_del(&rq->hdrs, "Content-Length");
    }
    hdrs_del(&rq->hdrs, "Transfer-Encoding");

    uint64_t len = 0;
    const char *cl = hdrs_get(&rq->hdrs, "Content-Length");
    if (cl) {
        for (size_t i = 0; i < rq->hdrs.n; i++)
            if (!strcasecmp(rq->hdrs.v[i].name, "Content-Length") && strcmp(rq->hdrs.v[i].value, cl)) {
                reject(h, "400 Bad Request", "http: message cannot contain multiple Content-Length headers");
                return false;
            }
        if (!*cl || strspn(cl, "0123456789") != strlen(cl) || strlen(cl) > 18) {
            reject(h, "400 Bad Request", "bad Content-Length");
            return false;
        }
        len = strtoull(cl, NULL, 10);
    }

    const char *conn = hdrs_get(&rq->hdrs, "Connection");
    h->keep_alive = h->http10 ? conn && token_list_has(conn, "keep-alive")
                              : !(conn && token_list_has(conn, "close"));
    h->head = !strcmp(rq->method, "HEAD");
    h->keep_form = (!strcmp(rq->method, "POST") || !strcmp(rq->method, "PUT") ||
                    !strcmp(rq->method, "PATCH")) && is_form(hdrs_get(&rq->hdrs, "Content-Type"));
    rq->form_ok = true;

    const char *expect = hdrs_get(&rq->hdrs, "Expect");
    if (expect && !h->http10) {
        if (!token_list_has(expect, "100-continue")) {
            /* Go: 417 and close, without reading the body */
            h->keep_alive = false;
            h->rs.status = 417;
            finish(h);
            return false;
        }
        if (chunked || len) {
            struct conn *c = h->c;
            conn_write(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
            if (c->dead)
                return false;
        }
    }
    h->remaining = len;
    h->st = chunked ? S_CHUNK_SIZE : S_BODY;
    return true;
}

/* Parses the request head if it is complete. 1: done, 0: need more, -1: stopped. */
static int parse_head(struct h1 *h)
{
    struct conn *c = h->c;
    /* Stray line breaks between pipelined requests are allowed (RFC 9112 2.2). */
    size_t skip = 0;
    while (skip < c->in.len && (c->in.p[skip] == '\r' || c->in.p[skip] == '\n') && skip < 64)
        skip++;
    if (skip)
        buf_consume(&c->in, skip);
    if (!c->in.len)
        return 0;
    if (h->h2c != H2C_NO && !h->served) {
        size_t k = c->in.len < 24 ? c->in.len : 24;
        if (!memcmp(c->in.p, PREFACE, k)) {
            if (k < 24)
                return 0;
            h1_free(c);
            h2_start(c, false, NULL, NULL);
            return -1;
        }
    }
    /* Find the empty line that ends the head. */
    const char *p = c->in.p, *end = c->in.p + c->in.len, *hend = NULL;
    const char *nl;
    while ((nl = memchr(p, '\n', (size_t)(end - p)))) {
        size_t linelen = (size_t)(nl - p);
        if (linelen && p[linelen - 1] == '\r')
            linelen--;
        if (!linelen && p != c->in.p) {
            hend = nl + 1;
            break;
        }
        p = nl + 1;
    }
    if (!hend) {
        if (c->in.len > MAX_HEAD) {
            reject(h, "431 Request Header Fields Too Large", NULL);
            return -1;
        }
        return 0;
    }
    if ((size_t)(hend - c->in.p) > MAX_HEAD + 4096) {
        reject(h, "431 Request Header Fields Too Large", NULL);
        return -1;
    }
    bool first = true;
    for (p = c->in.p; p < hend;) {
        nl = memchr(p, '\n', (size_t)(hend - p));
        size_t n = (size_t)(nl - p);
        if (n && p[n - 1] == '\r')
            n--;
        if (memchr(p, 0, n) || (n && memchr(p, '\r', n))) {
            reject(h, "400 Bad Request", "malformed HTTP request");
            return -1;
        }
        if (first) {
            if (!parse_request_line(h, p, n))
                return -1;
            first = false;
        } else if (n) {
            if (*p == ' ' || *p == '\t') {
                reject(h, "400 Bad Request", "malformed MIME header line");
                return -1;
            }
            if (!parse_header_line(h, p, n))
                return -1;
        }
        p = nl + 1;
    }
    buf_consume(&c->in, (size_t)(hend - c->in.p));
    h->rq.remote = c->remote;
    h->rq.tls = c->tls;
    h->rq.port = c->l->port;
    return head_done(h) ? 1 : -1;
}

static void keep_body(struct h1 *h, const char *data, size_t n)
{
    if (!h->keep_form || !h->rq.form_ok)
        return;
    if (h->rq.form.len + n > MAX_FORM) {
        h->rq.form_ok = false; /* too large: Go ignores such a form too */
        return;
    }
    buf_add(&h->rq.form, data, n);
}

/* Reads one line of the chunked framing; NULL if incomplete. */
static const char *chunk_line(struct h1 *h, size_t *len, size_t *used, bool *toolong)
{
    struct conn *c = h->c;
    const char *nl = memchr(c->in.p, '\n', c->in.len);
    *toolong = false;
    if (!nl) {
        *toolong = c->in.len > MAX_CHUNK_LINE;
        return NULL;
    }
    *used = (size_t)(nl - c->in.p) + 1;
    *len = (size_t)(nl - c->in.p);
    if (*len && c->in.p[*len - 1] == '\r')
        (*len)--;
    return c->in.p;
}

/* One step of the state machine. 1: progress, 0: need more input, -1: stop. */
static int step(struct h1 *h)
{
    struct conn *c = h->c;
    size_t len, used;
    bool toolong;
    const char *line;
    switch (h->st) {
    case S_HEAD:
        return parse_head(h);
    case S_BODY:
    case S_CHUNK_DATA: {
        size_t n = c->in.len < h->remaining ? c->in.len : (size_t)h->remaining;
        keep_body(h, c->in.p, n);
        buf_consume(&c->in, n);
        h->remaining -= n;
        if (h->remaining)
            return n ? 1 : 0;
        if (h->st == S_CHUNK_DATA) {
            h->st = S_CHUNK_END;
            return 1;
        }
        return dispatch(h) ? 1 : -1;
    }
    case S_CHUNK_SIZE: {
        if (!(line = chunk_line(h, &len, &used, &toolong))) {
            if (toolong)
                reject(h, "400 Bad Request", "malformed chunked encoding");
            return toolong ? -1 : 0;
        }
        size_t hexlen = 0;
        uint64_t size = 0;
        while (hexlen < len && hexlen < 16 && strchr("0123456789abcdefABCDEF", line[hexlen]) && line[hexlen]) {
            char ch = line[hexlen++];
            size = size * 16 + (uint64_t)(ch <= '9' ? ch - '0' : (ch | 0x20) - 'a' + 10);
        }
        if (!hexlen || (hexlen < len && line[hexlen] != ';' && line[hexlen] != ' ' && line[hexlen] != '\t')) {
            reject(h, "400 Bad Request", "malformed chunked encoding");
            return -1;
        }
        buf_consume(&c->in, used);
        h->remaining = size;
        h->st = size ? S_CHUNK_DATA : S_TRAILERS;
        return 1;
    }
    case S_CHUNK_END:
        if (!(line = chunk_line(h, &len, &used, &toolong)))
            return c->in.len >= 2 ? (reject(h, "400 Bad Request", "malformed chunked encoding"), -1) : 0;
        if (len) {
            reject(h, "400 Bad Request", "malformed chunked encoding");
            return -1;
        }
        buf_consume(&c->in, used);
        h->st = S_CHUNK_SIZE;
        return 1;
    case S_TRAILERS:
        if (!(line = chunk_line(h, &len, &used, &toolong))) {
            if (toolong)
                reject(h, "400 Bad Request", "malformed chunked encoding");
            return toolong ? -1 : 0;
        }
        buf_consume(&c->in, used);
        h->trailer_bytes += used;
        if (h->trailer_bytes > MAX_HEAD) {
            reject(h, "400 Bad Request", "trailers too large");
            return -1;
        }
        if (len)
            return 1; /* trailers are not echoed: Go keeps them out of Header too */
        return dispatch(h) ? 1 : -1;
    case S_WAIT:
    case S_DONE:
        return 0;
    }
    return 0;
}

static void h1_on_data(struct conn *c)
{
    struct h1 *h = c->proto;
    while (!c->dead && c->in.len) {
        int r = step(h);
        if (r < 0)
            return; /* h may be gone (upgrade, close) */
        if (r == 0)
            break;
    }
    /* A body of zero length completes without any input. */
    while (!c->dead && h->st == S_BODY && !h->remaining)
        if (!dispatch(h))
            return;
    /* The peer is done sending and every complete request is answered. */
    if (!c->dead && c->peer_eof && h->st != S_WAIT)
        conn_close(c);
}

static void h1_on_eof(struct conn *c)
{
    struct h1 *h = c->proto;
    /* A delayed response still goes out; otherwise there is nothing left to answer. */
    if (h->st != S_WAIT)
        conn_close(c);
}

static void h1_free(struct conn *c)
{
    struct h1 *h = c->proto;
    if (!h)
        return;
    timer_stop(&h->delay);
    hreq_free(&h->rq);
    hresp_free(&h->rs);
    free(h);
    conn_set_proto(c, NULL, NULL);
}

void http1_start(struct conn *c, enum h2c_policy h2c)
{
    struct h1 *h = xcalloc(1, sizeof *h);
    h->c = c;
    h->h2c = h2c;
    h->st = S_HEAD;
    timer_init(&h->delay, on_delay);
    conn_set_proto(c, &h1_ops, h);
    if (c->in.len)
        h1_on_data(c);
}
