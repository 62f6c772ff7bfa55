/* The HTTP/1.1 client's codec for the response (tr_h1_down_ops, docs/internals/exchange.md):
 * the head as HTTP/1.1 text with the framing torii chooses, the body framed to match, the
 * trailers after the last chunk, and at the end the next request of the connection or its
 * close. The connection itself (struct h1c) is h1_server.c's. */
#include "base/buf.h"
#include "http/fields.h"
#include "proxy/h1_conn.h"
#include "proxy/internal.h"

static void put_fields(struct tr_buf *o, const struct tr_h1_header *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        tr_buf_append(o, f[i].name, f[i].name_len);
        tr_buf_puts(o, ": ");
        tr_buf_append(o, f[i].value, f[i].value_len);
        tr_buf_puts(o, "\r\n");
    }
}

/* The head, with the framing torii chooses: the backend's length when known; else chunked for
 * an HTTP/1.1 client, or the end of the connection for an HTTP/1.0 one (which cannot read
 * chunked) and for a body the backend itself ends by closing. */
static void h1_head(struct tr_exchange *x, const struct tr_resp_out *r)
{
    struct h1c *c = h1c_of(x);
    struct tr_buf *o = &x->out;
    if (r->status < 200 && r->status != 101) {
        /* A 1xx never goes to an HTTP/1.0 client (RFC 9110 15.2). */
        if (x->minor == 0)
            return;
        tr_buf_printf(o, "HTTP/1.1 %d %s\r\n", r->status, tr_http_status_text(r->status));
        put_fields(o, r->fields, r->nfields);
        tr_buf_puts(o, "\r\n");
        tr_h1c_flush(x);
        return;
    }
    tr_worker_buf_attach(x->w, o);
    tr_buf_reserve(o, 512 + r->nfields * 64 + r->extra_len);
    tr_buf_puts(o, "HTTP/1.1 ");
    tr_buf_put_u64(o, (uint64_t)r->status);
    tr_buf_putc(o, ' ');
    if (r->reason)
        tr_buf_append(o, r->reason, r->reason_len);
    else
        tr_buf_puts(o, tr_http_status_text(r->status));
    tr_buf_puts(o, "\r\n");
    put_fields(o, r->fields, r->nfields);
    tr_buf_append(o, r->extra, r->extra_len);
    c->out_chunked = false;
    if (r->status == 101) {
        tr_buf_puts(o, "Connection: upgrade\r\nUpgrade: ");
        tr_buf_append(o, r->upgrade, r->upgrade_len);
        tr_buf_puts(o, "\r\n\r\n");
        return;
    }
    if (!r->tunnel) {
        if (r->has_length)
            tr_http_put_content_length(o, r->length);
        else if (r->end && x->method != TR_H1_HEAD && r->status != 204 && r->status != 304)
            tr_http_put_content_length(o, 0); /* nothing follows: say so, or the client reads to the close */
        else if (r->close || (!r->end && x->minor == 0))
            x->close_after = true;
        else if (!r->end) {
            tr_buf_puts(o, "Transfer-Encoding: chunked\r\n");
            c->out_chunked = true;
        }
    }
    if (!tr_exchange_reusable(x))
        x->close_after = true;
    if (x->close_after)
        tr_buf_puts(o, "Connection: close\r\n");
    else if (x->minor == 0)
        tr_buf_puts(o, "Connection: keep-alive\r\n");
    tr_buf_puts(o, "\r\n");
}

static void h1_data(struct tr_exchange *x, const char *p, size_t n)
{
    struct h1c *c = h1c_of(x);
    if (!c->out_chunked) {
        tr_buf_append(&x->out, p, n);
        return;
    }
    tr_buf_put_chunk(&x->out, p, n);
}

/* The last chunk, with the trailer section (already checked by the backend's codec). */
static void h1_end(struct tr_exchange *x, const char *trailers, size_t len)
{
    struct h1c *c = h1c_of(x);
    if (!c->out_chunked)
        return;
    c->out_chunked = false;
    tr_buf_puts(&x->out, "0\r\n");
    tr_buf_append(&x->out, trailers, len);
    tr_buf_puts(&x->out, "\r\n");
}

static void h1_done(struct tr_exchange *x, bool resume)
{
    struct h1c *c = h1c_of(x);
    /* A response whose head went out before the drain began ends idle; past the listeners'
     * close, idle connections go at once (tr_h1c_drain). */
    if (!x->keep_alive || x->w->drain >= TR_DRAIN_CLOSED)
        x->close_after = true;
    tr_h1c_flush(x);
    if (x->closed || x->close_after)
        return;
    x->state = C_HEAD;
    tr_h1c_idle_buffers(c);
    tr_timer_start(x->w->loop, &x->timer, IDLE_TIMEOUT_MS);
    /* Pipelined bytes already read, or bytes left in the kernel when reading stopped early.
     * Anything that arrived since the last read makes a new edge: no read to find nothing. */
    if (resume && (tr_buf_pending(&x->in, x->in_off) || c->must_read || x->eof))
        tr_h1c_read(x);
}

const struct tr_down_ops tr_h1_down_ops = {h1_head,      h1_data,     h1_end,         h1_done,
                                           tr_h1c_flush, tr_h1c_read, tr_h1c_process, tr_h1c_close};
