/* The HTTP/1.1 response from a backend: its head parsed and written to the client (with the
 * response filters and CORS), its body relayed as it is framed, trailers, 1xx, upgrades. */
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "http/fields.h"
#include "ir/ir.h"
#include "proxy/cors.h"
#include "proxy/filters.h"
#include "proxy/h2.h"
#include "proxy/internal.h"
#include "proxy/upstream.h"

#include <stdio.h>
#include <stdlib.h>

static void write_response_head(struct upc *u, struct h1c *c)
{
    const struct tr_h1_resp *r = &u->resp;
    struct tr_filter_out fo;
    tr_filters_response(c->rule, c->backend ? &c->backend->filters : NULL, &fo); /* c->backend answered */
    const struct tr_ir_cors *cors = tr_cors_filter(c->rule);
    struct tr_cors_req cr = {.origin = c->cors_origin, .origin_len = c->cors_origin_len, .credentialed = c->cors_cred};
    if (c->h2) {
        /* The stream sends the fields as they are (no text made and parsed again), with what
         * torii adds as lines. HTTP/2 frames the body itself; a length the backend gave is kept
         * as information. A response without content ends the stream on its HEADERS frame. */
        struct tr_h1_header kept[TR_H1_MAX_HEADERS];
        size_t nkept = 0;
        for (size_t i = 0; i < r->nheaders; i++) {
            const struct tr_h1_header *h = &r->headers[i];
            if (!tr_http_hop_by_hop(h, r->headers, r->nheaders) &&
                !tr_filters_drop_response_header(&fo, h->name, h->name_len) &&
                !tr_cors_drop_response_header(cors, h->name, h->name_len))
                kept[nkept++] = *h;
        }
        struct tr_buf extra;
        tr_buf_init(&extra, 0);
        tr_filters_add_response_headers(&fo, &extra);
        if (cors)
            tr_cors_response(cors, &cr, r->headers, r->nheaders, &extra);
        if (u->body == TR_H1_BODY_LENGTH)
            tr_http_put_content_length(&extra, r->content_length);
        bool tunnel = r->status == 101 || u->body == TR_H1_BODY_TUNNEL; /* the stream carries it on */
        tr_h2_stream_response(c, r->status, kept, nkept, extra.data, extra.len,
                              !tunnel && (u->body == TR_H1_BODY_NONE ||
                                          (u->body == TR_H1_BODY_LENGTH && r->content_length == 0)));
        tr_buf_dispose(&extra);
        return;
    }
    struct tr_buf *o = &c->out;
    tr_worker_buf_attach(c->w, o);
    tr_buf_reserve(o, 512 + r->nheaders * 64);
    tr_buf_puts(o, "HTTP/1.1 ");
    tr_buf_put_u64(o, (uint64_t)r->status);
    tr_buf_putc(o, ' ');
    tr_buf_append(o, r->reason, r->reason_len);
    tr_buf_puts(o, "\r\n");
    for (size_t i = 0; i < r->nheaders; i++) {
        const struct tr_h1_header *h = &r->headers[i];
        if (tr_http_hop_by_hop(h, r->headers, r->nheaders))
            continue;
        if (tr_filters_drop_response_header(&fo, h->name, h->name_len))
            continue;
        if (tr_cors_drop_response_header(cors, h->name, h->name_len))
            continue;
        tr_buf_append(o, h->name, h->name_len);
        tr_buf_puts(o, ": ");
        tr_buf_append(o, h->value, h->value_len);
        tr_buf_puts(o, "\r\n");
    }
    tr_filters_add_response_headers(&fo, o);
    if (cors)
        tr_cors_response(cors, &cr, r->headers, r->nheaders, o);
    if (r->status == 101) {
        tr_buf_puts(o, "Connection: upgrade\r\nUpgrade: ");
        tr_buf_append(o, r->upgrade, r->upgrade_len);
        tr_buf_puts(o, "\r\n\r\n");
        return;
    }
    if (u->body == TR_H1_BODY_LENGTH)
        tr_http_put_content_length(o, r->content_length);
    else if (u->body == TR_H1_BODY_CHUNKED && c->minor >= 1)
        tr_buf_puts(o, "Transfer-Encoding: chunked\r\n");
    /* A body delimited by close (or chunked to an HTTP/1.0 client) ends the connection. */
    if (u->body == TR_H1_BODY_CLOSE || (u->body == TR_H1_BODY_CHUNKED && c->minor == 0))
        c->close_after = true;
    if (!tr_exchange_reusable(c))
        c->close_after = true;
    if (c->close_after)
        tr_buf_puts(o, "Connection: close\r\n");
    else if (c->minor == 0)
        tr_buf_puts(o, "Connection: keep-alive\r\n");
    tr_buf_puts(o, "\r\n");
}

void tr_h1u_process(struct upc *u)
{
    struct h1c *c = u->c;
    if (u->mirror) {
        u->in.len = 0; /* the mirror's answer is dropped */
        u->in_off = 0;
        if (u->eof || (u->h2 && tr_h2u_done(u)))
            tr_upstream_close(u);
        return;
    }
    if (!c) {
        tr_upstream_close(u);
        return;
    }
    size_t entry = u->in_off;
    while (!u->head_done) {
        if (tr_buf_pending(&u->in, u->in_off) == 0) {
            if (u->eof)
                tr_upstream_fail(u, "closed before a response");
            return;
        }
        tr_h1_resp_init(&u->resp);
        int n = tr_h1_parse_response(u->in.data + u->in_off, tr_buf_pending(&u->in, u->in_off), &u->resp, NULL);
        if (n == TR_EAGAIN) {
            if (u->eof)
                tr_upstream_fail(u, "truncated response head");
            return;
        }
        if (n < 0 || tr_h1_resp_framing(&u->resp, c->method) != 0) {
            tr_upstream_fail(u, "malformed response head");
            return;
        }
        if (u->resp.status == 101 && !c->upgrade_asked) {
            /* RFC 9110 15.2.2: a server switches only to a protocol the request's Upgrade
             * named. torii sends Upgrade only for an HTTP/1.1 client that asked, so any other
             * 101 is a broken response: tunnelling it would hand an HTTP/1.0 client a 1xx
             * (15.2) and any client a connection it cannot read. */
            tr_upstream_fail(u, "101 to a request without Upgrade");
            return;
        }
        if (u->resp.status < 200 && u->resp.status != 101) {
            /* 1xx interim responses: forward 100 Continue and 103, never to an HTTP/1.0 client
             * (RFC 9110 15.2: a server MUST NOT send it one); others are dropped. */
            bool relay = (u->resp.status == 100 || u->resp.status == 103) && (c->h2 || c->minor >= 1);
            if (relay) {
                /* With its fields: a 103 is there for its Link fields (RFC 8297). */
                struct tr_h1_header kept[TR_H1_MAX_HEADERS];
                size_t nkept = 0;
                for (size_t i = 0; i < u->resp.nheaders; i++)
                    if (!tr_http_hop_by_hop(&u->resp.headers[i], u->resp.headers, u->resp.nheaders))
                        kept[nkept++] = u->resp.headers[i];
                if (c->h2) {
                    tr_h2_stream_response(c, u->resp.status, kept, nkept, NULL, 0, false);
                } else {
                    struct tr_buf *o = &c->out;
                    tr_buf_printf(o, "HTTP/1.1 %d %s\r\n", u->resp.status, tr_http_status_text(u->resp.status));
                    for (size_t i = 0; i < nkept; i++) {
                        tr_buf_append(o, kept[i].name, kept[i].name_len);
                        tr_buf_puts(o, ": ");
                        tr_buf_append(o, kept[i].value, kept[i].value_len);
                        tr_buf_puts(o, "\r\n");
                    }
                    tr_buf_puts(o, "\r\n");
                    tr_h1c_flush(c);
                }
                if (c->closed)
                    return;
            }
            u->in_off += (size_t)n;
            continue;
        }
        if (tr_retry_code(c, u->resp.status) && c->retries_left > 0) {
            /* The answer is dropped with its connection; the request goes out again. */
            tr_log_debug("retrying after status %d from %s", u->resp.status, u->key);
            u->c = NULL;
            tr_upstream_close(u);
            tr_retry_later(c);
            return;
        }
        u->head_done = true;
        u->body = u->resp.body;
        u->left = u->resp.content_length;
        u->keep_alive = u->resp.keep_alive;
        if (u->body == TR_H1_BODY_CHUNKED) {
            tr_h1_chunked_init(&u->ch, NULL);
            if (c->h2) {
                /* Trailers (gRPC's status) go on as HTTP/2 trailing HEADERS. */
                free(c->trailers);
                c->trailers = tr_xmalloc(u->ch.max_trailer);
                c->trailers_len = 0;
                u->ch.keep = c->trailers;
                u->ch.keep_cap = u->ch.max_trailer;
            }
        }
        write_response_head(u, c);
        u->in_off += (size_t)n;
        if (u->resp.status == 101 || u->body == TR_H1_BODY_TUNNEL) {
            /* After a 101, or a 2xx to CONNECT: bytes both ways from here on. */
            c->state = C_TUNNEL;
            u->body = TR_H1_BODY_TUNNEL;
            tr_timer_stop(c->w->loop, &c->timer);
            tr_timer_stop(c->w->loop, &c->rtimer); /* a tunnel has no end for backendRequest to time */
            tr_h1c_process(c);
        }
        u->resp_done = u->body == TR_H1_BODY_NONE || (u->body == TR_H1_BODY_LENGTH && u->left == 0);
    }
    /* The body, as far as the client buffer allows. */
    while (!u->resp_done && tr_buf_pending(&u->in, u->in_off) &&
           tr_buf_pending(&c->out, c->out_off) < TR_WORKER_BUF_HIGH) {
        const char *p = u->in.data + u->in_off;
        size_t n = tr_buf_pending(&u->in, u->in_off);
        if (u->body == TR_H1_BODY_LENGTH) {
            size_t take = n < u->left ? n : (size_t)u->left;
            if (c->method != TR_H1_HEAD)
                tr_buf_append(&c->out, p, take);
            u->in_off += take;
            u->left -= take;
            u->resp_done = u->left == 0;
        } else if (u->body == TR_H1_BODY_CHUNKED) {
            const char *data;
            size_t dlen;
            ssize_t used = tr_h1_chunked_decode(&u->ch, p, n, &data, &dlen);
            if (used < 0) {
                tr_upstream_fail(u, "malformed chunked response");
                return;
            }
            if (c->minor >= 1 && !c->h2)
                tr_buf_append(&c->out, p, (size_t)used);
            else if (dlen && c->method != TR_H1_HEAD)
                tr_buf_append(&c->out, data, dlen);
            u->in_off += (size_t)used;
            u->resp_done = tr_h1_chunked_done(&u->ch);
            if (c->h2)
                c->trailers_len = u->ch.keep_len;
            if (used == 0)
                break;
        } else { /* until close, or a tunnel */
            tr_buf_append(&c->out, p, n);
            u->in_off += n;
        }
    }
    if (u->eof && tr_buf_pending(&u->in, u->in_off) == 0 && !u->resp_done) {
        if (u->body == TR_H1_BODY_CLOSE || u->body == TR_H1_BODY_TUNNEL) {
            u->resp_done = true;
            u->keep_alive = false;
        } else {
            tr_h1c_flush(c);
            tr_upstream_fail(u, "truncated response body");
            return;
        }
    }
    /* No route timeout: torii's own deadline times the response's progress too, not its
     * length (a long download or stream goes on while bytes keep coming). */
    if (c->idle_deadline && u->in_off != entry && !u->resp_done && c->state != C_TUNNEL)
        tr_timer_start(c->w->loop, &c->timer, tr_proxy_response_timeout_ms);
    if (u->resp_done && u->body != TR_H1_BODY_TUNNEL)
        tr_reqlog_end(c, u->resp.status); /* counted before its last byte can reach the client */
    tr_h1c_flush(c);
    if (c->closed)
        return;
    if (u->resp_done && u->body != TR_H1_BODY_TUNNEL)
        tr_exchange_done(u);
    else if (u->resp_done && u->body == TR_H1_BODY_TUNNEL) {
        c->close_after = true;
        c->req_done = true;
        if (c->h2)
            c->resp_end = true; /* the backend closed: the stream ends once its bytes are out */
        tr_h1c_flush(c);
    }
}
