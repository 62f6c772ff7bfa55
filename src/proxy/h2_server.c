/* HTTP/2 from clients (RFC 9113) with nghttp2: the connection (struct h2conn). Its streams
 * (struct h2s, each with its exchange) are h2_stream.c's.
 *
 * nghttp2 does the framing, HPACK, the stream state machine and the RFC 9113 8.2/8.3 checks of
 * request fields (a malformed request resets its stream); this file moves bytes between the
 * socket and the session: accept, read and send, the idle timeout, draining (GOAWAY and PING)
 * and close.
 *
 * Flow control: responses are read from the backend only while the stream's output stays under
 * TR_WORKER_BUF_HIGH, and the connection stops reading new frames while its socket output is
 * backed up. Re-entrancy: callbacks run inside nghttp2_session_mem_recv/mem_send, so anything
 * that wants to send while one runs only marks the connection (h->want_send). */
#include "base/metrics.h"
#include "base/log.h"
#include "base/mem.h"
#include "net/sock.h"
#include "net/tls.h"
#include "proxy/h2.h"
#include "proxy/h2_server_int.h"
#include "proxy/internal.h"

#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define MAX_STREAMS 128
#define CONN_WINDOW (1 << 20)
/* Draining: the final GOAWAY waits this long at most for the ACK of the PING sent with the
 * first. A client that does not answer in time gets it anyway. */
#define GOAWAY_PING_WAIT_MS 1000

/* The opaque data of the draining PING, to tell its ACK from that of a client's own PING. */
static const uint8_t drain_ping[8] = {'t', 'o', 'r', 'i', 'i', 'd', 'r', 'n'};

static void h2_send(struct h2conn *h);
static void h2_close(struct h2conn *h);
static void goaway_final(struct h2conn *h);

static void deferred_send(struct tr_loop *loop, void *data)
{
    struct h2conn *h = data;
    h->send_deferred = false;
    if (!h->closed)
        h2_send(h);
}

/* Something is ready to send. Inside nghttp2 it is marked for the send that follows; otherwise
 * it goes at the end of the loop turn, so that what the turn produces (a response's HEADERS
 * and its DATA, the answers of several streams) leaves in one write. */
void tr_h2conn_kick(struct h2conn *h)
{
    if (h->busy) {
        h->want_send = true;
        return;
    }
    if (!h->send_deferred && !h->closed) {
        h->send_deferred = true;
        tr_loop_defer(h->w->loop, deferred_send, h);
    }
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *ud)
{
    struct h2conn *h = ud;
    if (frame->hd.type == NGHTTP2_PING && (frame->hd.flags & NGHTTP2_FLAG_ACK) && h->goaway_notice &&
        memcmp(frame->ping.opaque_data, drain_ping, sizeof(drain_ping)) == 0) {
        goaway_final(h);
        return 0;
    }
    return tr_h2s_on_frame_recv(session, frame, ud);
}

/* The PING goes out once the first GOAWAY is on its way: nghttp2 sends PINGs ahead of other
 * frames, and an ACK for a PING the client got before the GOAWAY would prove nothing. */
static int on_frame_send(nghttp2_session *session, const nghttp2_frame *frame, void *ud)
{
    struct h2conn *h = ud;
    if (frame->hd.type == NGHTTP2_GOAWAY && h->goaway_notice && !h->goaway_final &&
        frame->goaway.last_stream_id == INT32_MAX)
        nghttp2_submit_ping(session, NGHTTP2_FLAG_NONE, drain_ping);
    return 0;
}

/* --- the connection --- */

static void h2_free(struct tr_loop *loop, void *data)
{
    struct h2conn *h = data;
    tr_buf_dispose(&h->out);
    tr_mesh_client_put(h->facts.mesh);
    free(h);
}

/* Ends h: with linger, as tr_conn_linger does (torii ends a connection its client still holds:
 * the client's last frames, a WINDOW_UPDATE for the DATA it just read, may be on their way);
 * without, at once (the client is gone or broke the protocol, or torii stops). */
static void h2_finish(struct h2conn *h, bool linger)
{
    if (h->closed)
        return;
    h->closed = true;
    while (h->streams) {
        struct h2s *s = h->streams;
        s->closed = true;
        if (!s->x->closed)
            tr_exchange_close(s->x, false);
        tr_h2s_free(s);
    }
    nghttp2_session_del(h->s);
    h->s = NULL;
    tr_timer_stop(h->w->loop, &h->timer);
    tr_timer_stop(h->w->loop, &h->ping_timer);
    tr_loop_del(h->w->loop, &h->io);
    tr_tls_free(h->ssl);
    h->ssl = NULL;
    if (linger)
        tr_conn_linger(h->w, h->io.fd, TR_CONN_H2);
    else
        close(h->io.fd);
    tr_conn_unlink(h->w, &h->link);
    tr_metrics_add(&tr_metrics.conns_active, -1);
    tr_loop_defer(h->w->loop, h2_free, h);
}

static void h2_close(struct h2conn *h)
{
    h2_finish(h, false);
}

static void h2_end(struct h2conn *h)
{
    h2_finish(h, true);
}

static void h2_close_link(struct conn_link *l)
{
    h2_close((struct h2conn *)((char *)l - offsetof(struct h2conn, link)));
}

/* The second GOAWAY: the last stream taken, the real one. Streams the client opened after it
 * were never processed, and the client may retry them on another connection (RFC 9113 6.8);
 * once the streams taken are done, nghttp2 wants neither to read nor to write and h2_send
 * closes the connection. */
static void goaway_final(struct h2conn *h)
{
    if (h->goaway_final || h->closed)
        return;
    h->goaway_final = true;
    tr_timer_stop(h->w->loop, &h->ping_timer);
    nghttp2_submit_goaway(h->s, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(h->s), NGHTTP2_NO_ERROR,
                          NULL, 0);
    tr_h2conn_kick(h);
}

static void on_ping_late(struct tr_loop *loop, struct tr_timer *t)
{
    goaway_final(t->data);
}

/* The worker drains: RFC 9113 6.8's graceful shutdown. A first GOAWAY with the highest stream
 * id tells the client to open no more streams here, while those already on their way are still
 * taken; a PING follows, and its ACK (one round trip: whatever the client sent before it saw the
 * GOAWAY has arrived by then) brings the final GOAWAY. A GOAWAY that named the last stream at
 * once would refuse requests already in flight from the client, and not every client retries
 * them. */
static void h2_drain(struct h2conn *h)
{
    if (h->closed || h->goaway_notice)
        return;
    h->goaway_notice = true;
    nghttp2_submit_shutdown_notice(h->s); /* the PING follows it (on_frame_send) */
    tr_timer_start(h->w->loop, &h->ping_timer, GOAWAY_PING_WAIT_MS);
    tr_h2conn_kick(h);
}

static void h2_drain_link(struct conn_link *l)
{
    struct h2conn *h = (struct h2conn *)((char *)l - offsetof(struct h2conn, link));
    if (h->w->drain == TR_DRAIN_CUT)
        h2_end(h); /* the grace period is over: the streams still open are cut */
    else
        h2_drain(h);
}

static const struct conn_ops h2_ops = {TR_CONN_H2, h2_close_link, h2_drain_link};

static void h2_read(struct h2conn *h);

/* Streams whose output drained may take more of their backend's response. */
static void resume_streams(struct h2conn *h)
{
    for (struct h2s *s = h->streams, *next; s && !h->closed; s = next) {
        next = s->next;
        if (s->drained && !s->x->closed && s->x->up && tr_buf_pending(&s->x->out, s->x->out_off) < TR_WORKER_BUF_HIGH) {
            s->drained = false;
            tr_exchange_room(s->x);
        }
    }
}

static void h2_send(struct h2conn *h)
{
    if (h->closed)
        return;
    bool again;
    do {
        /* Frames out of the session, as far as the output bound allows, then to the socket. */
        h->busy = true;
        h->want_send = false;
        bool full = false;
        while (!(full = tr_buf_pending(&h->out, h->out_off) >= TR_WORKER_BUF_HIGH)) {
            const uint8_t *d;
            ssize_t n = nghttp2_session_mem_send(h->s, &d);
            if (n < 0) {
                tr_log_debug("HTTP/2 with %s: %s", h->facts.peer, nghttp2_strerror((int)n));
                h->busy = false;
                h2_close(h);
                return;
            }
            if (n == 0)
                break;
            tr_buf_append(&h->out, (const char *)d, (size_t)n);
        }
        if (h->writable && tr_sock_write_buf(h->io.fd, h->ssl, &h->out, &h->out_off, &h->writable, NULL) < 0) {
            h->busy = false;
            h2_close(h);
            return;
        }
        if (h->out_off == h->out.len) {
            h->out.len = 0;
            h->out_off = 0;
        }
        resume_streams(h); /* still busy: what they send is marked, and sent next round */
        h->busy = false;
        if (h->closed)
            return;
        again = h->want_send || (full && h->out.len == 0);
    } while (again);
    if (h->read_blocked && tr_buf_pending(&h->out, h->out_off) < TR_WORKER_BUF_HIGH) {
        h->read_blocked = false;
        h2_read(h);
        return;
    }
    if (!nghttp2_session_want_read(h->s) && !nghttp2_session_want_write(h->s) && h->out.len == 0)
        h2_end(h); /* GOAWAY exchanged and everything sent */
}

static bool feed(struct h2conn *h, const char *data, size_t n)
{
    h->busy = true;
    ssize_t r = nghttp2_session_mem_recv(h->s, (const uint8_t *)data, n);
    h->busy = false;
    if (r < 0) {
        tr_log_debug("HTTP/2 from %s: %s", h->facts.peer, nghttp2_strerror((int)r));
        h2_send(h); /* the GOAWAY nghttp2 queued, if any */
        h2_close(h);
        return false;
    }
    return true;
}

static void h2_read(struct h2conn *h)
{
    char buf[16384];
    while (!h->closed) {
        if (tr_buf_pending(&h->out, h->out_off) >= TR_WORKER_BUF_HIGH) {
            /* The client does not read what it asked for: stop taking new frames. */
            h->read_blocked = true;
            return;
        }
        ssize_t r = tr_sock_read(h->io.fd, h->ssl, buf, sizeof(buf));
        if (r > 0) {
            if (!feed(h, buf, (size_t)r))
                return;
            h2_send(h);
            /* A plain socket that gave less than asked is drained: new bytes make a new edge,
             * so the read that would only say EAGAIN is saved (one per request at one stream
             * per connection). TLS may hold a record back; a FIN must be read to the end. */
            if ((size_t)r < sizeof(buf) && !h->ssl && !h->hup)
                return;
            continue;
        }
        if (r == TR_SOCK_AGAIN)
            return;
        h2_close(h); /* EOF or error: the streams cannot be answered any more */
        return;
    }
}

static void h2_on_io(struct tr_loop *loop, struct tr_io *io, uint32_t events)
{
    struct h2conn *h = io->data;
    if (events & EPOLLOUT) {
        h->writable = true;
        h2_send(h);
        if (h->closed)
            return;
    }
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        h->hup = true;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        h2_read(h);
}

static void h2_timeout(struct tr_loop *loop, struct tr_timer *t)
{
    struct h2conn *h = t->data;
    if (h->nstreams) {
        tr_timer_start(loop, t, IDLE_TIMEOUT_MS);
        return;
    }
    nghttp2_submit_goaway(h->s, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(h->s), NGHTTP2_NO_ERROR,
                          NULL, 0);
    h2_send(h);
    h2_end(h);
}

void tr_h2_accept(struct worker *w, int fd, SSL *ssl, const struct tr_conn_facts *facts, const char *pre,
                  size_t npre)
{
    struct h2conn *h = tr_xcalloc(1, sizeof(*h));
    h->w = w;
    h->ssl = ssl;
    h->writable = true;
    h->facts = *facts;
    tr_mesh_client_ref(h->facts.mesh); /* the HTTP/1 connection it came from lets go of its own */
    tr_buf_init(&h->out, 0);

    nghttp2_session_callbacks *cbs;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, tr_h2s_on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback2(cbs, tr_h2s_on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, tr_h2s_on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, tr_h2s_on_stream_close);
    nghttp2_option *opt;
    nghttp2_option_new(&opt);
    nghttp2_option_set_no_auto_window_update(opt, 1);
    nghttp2_session_server_new2(&h->s, cbs, h, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cbs);
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, MAX_STREAMS},
                                   {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
                                   {NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1}};
    nghttp2_submit_settings(h->s, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0]));
    nghttp2_session_set_local_window_size(h->s, NGHTTP2_FLAG_NONE, 0, CONN_WINDOW);

    h->io = (struct tr_io){.fd = fd, .cb = h2_on_io, .data = h};
    h->timer.cb = h2_timeout;
    h->timer.data = h;
    h->ping_timer.cb = on_ping_late;
    h->ping_timer.data = h;
    tr_conn_link(w, &h->link, &h2_ops);
    tr_loop_add(w->loop, &h->io, EPOLLIN | EPOLLOUT | EPOLLRDHUP);
    tr_timer_start(w->loop, &h->timer, IDLE_TIMEOUT_MS);
    tr_metrics_add(&tr_metrics.h2_conns, 1);
    if (w->drain != TR_DRAIN_OFF)
        h2_drain(h); /* accepted while draining: the same GOAWAY as every connection got */
    if (npre && !feed(h, pre, npre))
        return;
    h2_send(h);
    if (!h->closed)
        h2_read(h); /* what TLS or the kernel holds already: no new edge will announce it */
}
