/* The HTTP/1.1 client codec: the request written as text (head, body framed by Content-Length
 * or chunked), and the backend's response read from its connection, the head parsed and
 * framed (RFC 9112 6.3), 1xx heads, the body unframed (Content-Length, chunked with its trailer
 * section, or until close), each handed to response.c as it is read. */
#include "base/err.h"
#include "base/mem.h"
#include "http/fields.h"
#include "proxy/internal.h"
#include "proxy/upstream.h"

#include <stdlib.h>

/* --- the request, as HTTP/1.1 text --- */

static void h1u_head(struct upc *u, const struct tr_req_out *r)
{
    struct tr_buf *o = &u->out;
    tr_worker_buf_attach(u->w, o);
    tr_buf_reserve(o, 256 + r->target_len + r->nfields * 64 + r->extra_len);
    tr_buf_append(o, r->method, r->method_len);
    tr_buf_putc(o, ' ');
    tr_buf_append(o, r->target, r->target_len);
    tr_buf_puts(o, " HTTP/1.1\r\n");
    if (r->host)
        tr_buf_put_field(o, "Host", r->host, r->host_len);
    for (size_t i = 0; i < r->nfields; i++) {
        tr_buf_append(o, r->fields[i].name, r->fields[i].name_len);
        tr_buf_puts(o, ": ");
        tr_buf_append(o, r->fields[i].value, r->fields[i].value_len);
        tr_buf_puts(o, "\r\n");
    }
    tr_buf_append(o, r->extra, r->extra_len);
    if (r->upgrade) {
        tr_buf_puts(o, "Connection: upgrade\r\nUpgrade: ");
        tr_buf_append(o, r->upgrade, r->upgrade_len);
        tr_buf_puts(o, "\r\n");
    } else if (u->mirror) {
        /* A mirror's connection carries one exchange: the backend closes it after answering. */
        tr_buf_puts(o, "Connection: close\r\n");
    }
    u->req_chunked = r->body == TR_H1_BODY_CHUNKED;
    if (r->body == TR_H1_BODY_LENGTH)
        tr_http_put_content_length(o, r->length);
    else if (u->req_chunked)
        tr_buf_puts(o, "Transfer-Encoding: chunked\r\n");
    tr_buf_puts(o, "\r\n");
}

static void h1u_data(struct upc *u, const char *p, size_t n)
{
    if (!n)
        return;
    if (!u->req_chunked) {
        tr_buf_append(&u->out, p, n);
        return;
    }
    tr_buf_put_chunk(&u->out, p, n);
}

static void h1u_end(struct upc *u)
{
    if (u->req_chunked)
        tr_buf_puts(&u->out, "0\r\n\r\n");
    u->req_chunked = false;
}

const struct tr_up_ops tr_h1u_ops = {h1u_head, h1u_data, h1u_end};

/* Parses the heads at the front of u->in: 1xx ones, then the final one. Returns false when the
 * codec must stop (no whole head yet, or u or its client is done). */
static bool heads(struct upc *u)
{
    struct tr_exchange *x = u->x;
    while (!u->head_done) {
        if (tr_buf_pending(&u->in, u->in_off) == 0) {
            if (u->eof)
                tr_upstream_fail(u, "closed before a response");
            return false;
        }
        tr_h1_resp_init(&u->resp);
        int n = tr_h1_parse_response(u->in.data + u->in_off, tr_buf_pending(&u->in, u->in_off), &u->resp, NULL);
        if (n == TR_EAGAIN) {
            if (u->eof)
                tr_upstream_fail(u, "truncated response head");
            return false;
        }
        if (n < 0 || tr_h1_resp_framing(&u->resp, x->method) != 0) {
            tr_upstream_fail(u, "malformed response head");
            return false;
        }
        /* The head's bytes stay in place (u->resp points into them) until u->in is compacted,
         * which happens only on the next read. */
        u->in_off += (size_t)n;
        if (!tr_response_head(u))
            return false;
        if (u->head_done && u->body == TR_H1_BODY_CHUNKED) {
            tr_h1_chunked_init(&u->ch, NULL);
            /* The trailer section is kept, for the client's codec to send on (HTTP/1.1
             * trailers, or HTTP/2 trailing HEADERS: gRPC's status). */
            if (!u->trailers)
                u->trailers = tr_xmalloc(u->ch.max_trailer);
            u->ch.keep = u->trailers;
            u->ch.keep_cap = u->ch.max_trailer;
        }
    }
    return true;
}

/* The body, as far as the client's output allows. Returns false when the codec must stop. */
static bool body(struct upc *u)
{
    while (!u->resp_done && tr_buf_pending(&u->in, u->in_off) && tr_response_room(u)) {
        const char *p = u->in.data + u->in_off;
        size_t n = tr_buf_pending(&u->in, u->in_off);
        if (u->body == TR_H1_BODY_LENGTH) {
            size_t take = n < u->left ? n : (size_t)u->left;
            tr_response_data(u, p, take);
            u->in_off += take;
            u->left -= take;
            if (u->left == 0)
                tr_response_end(u, NULL, 0);
        } else if (u->body == TR_H1_BODY_CHUNKED) {
            const char *data;
            size_t dlen;
            ssize_t used = tr_h1_chunked_decode(&u->ch, p, n, &data, &dlen);
            if (used < 0) {
                tr_upstream_fail(u, "malformed chunked response");
                return false;
            }
            tr_response_data(u, data, dlen);
            u->in_off += (size_t)used;
            if (tr_h1_chunked_done(&u->ch))
                tr_response_end(u, u->ch.keep, u->ch.keep_len);
            if (used == 0)
                break;
        } else { /* until close, or a tunnel */
            tr_response_data(u, p, n);
            u->in_off += n;
        }
    }
    if (u->eof && tr_buf_pending(&u->in, u->in_off) == 0 && !u->resp_done) {
        if (u->body != TR_H1_BODY_CLOSE && u->body != TR_H1_BODY_TUNNEL) {
            u->x->down->flush(u->x);
            tr_upstream_fail(u, "truncated response body");
            return false;
        }
        u->keep_alive = false;
        tr_response_end(u, NULL, 0);
    }
    return true;
}

void tr_h1u_process(struct upc *u)
{
    if (u->mirror) {
        u->in.len = 0; /* the mirror's answer is dropped */
        u->in_off = 0;
        if (u->eof)
            tr_upstream_close(u);
        return;
    }
    if (!u->x) {
        tr_upstream_close(u);
        return;
    }
    size_t entry = u->in_off;
    if (!heads(u) || !body(u))
        return;
    tr_response_settle(u, u->in_off != entry);
}
