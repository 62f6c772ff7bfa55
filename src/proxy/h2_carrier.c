/* HTTP/2 to backends: the carriers, connections that many streams share (struct h2uc).
 *
 * A carrier is a upc with a socket (connect, TLS and the event loop are upstream.c's) and an
 * nghttp2 session. Each exchange gets a stream upc of its own, without a socket (struct h2u,
 * h2_client.c), attached here to a carrier of its pool key that has room, or to a new one.
 * This file runs the session: SETTINGS and GOAWAY, submitting the streams it holds, writing
 * frames, and handing each stream's events to h2_client.c.
 *
 * How many: a carrier takes at most min(the backend's SETTINGS_MAX_CONCURRENT_STREAMS, 100)
 * streams, and sends none before the backend's SETTINGS came, so that those beyond its limit go
 * to another carrier instead of waiting on this one.
 *
 * Flow control: the connection window fits every stream's (a stream's own is given back by
 * h2_client.c as its exchange moves the bytes on), so slow streams never stall the others.
 *
 * GOAWAY, REFUSED_STREAM: streams the backend never processed (RFC 9113 6.8, 8.7) go again on
 * another carrier, as they were (h2_client.c keeps the request, up to its REPLAY_MAX), not
 * counted as a retry. A carrier that fails fails its streams through tr_upstream_fail (retries as
 * configured), but for those it never sent.
 *
 * Sends are batched: what the streams produce during a loop turn leaves in one write at its end
 * (tr_h2uc_kick), or at the end of the read that produced it. Callbacks inside nghttp2 only mark streams
 * (touched, room); the exchanges are called once nghttp2 has returned (pump). */
#include "base/log.h"
#include "base/mem.h"
#include "base/metrics.h"
#include "net/sock.h"
#include "proxy/h2.h"
#include "proxy/h2_client_int.h"
#include "proxy/internal.h"

#include <nghttp2/nghttp2.h>
#include <stdlib.h>

/* Streams a carrier takes at most, whatever the backend allows. */
#define MAX_STREAMS 100
/* HTTP/2's default stream window: what a stream may hold of a response its client has not
 * taken yet. The connection's fits every stream's, so slow streams never stall the others. */
#define STREAM_WINDOW 65535
#define CONN_WINDOW (MAX_STREAMS * STREAM_WINDOW)
/* A carrier left without streams closes after this long. */
#define IDLE_MS 60000
/* A stream moves to another carrier at most this often (GOAWAY, REFUSED_STREAM, SETTINGS). */
#define MAX_MOVES 4

static void pump(struct upc *k);

static bool ready(const struct upc *k)
{
    return !k->closed && !k->connecting && !k->handshaking;
}

/* How many streams the carrier runs at once. */
static unsigned limit(const struct h2uc *hc)
{
    return hc->peer_max < MAX_STREAMS ? hc->peer_max : MAX_STREAMS;
}

/* May k take another stream? */
static bool has_room(const struct upc *k)
{
    const struct h2uc *hc = k->h2c;
    return !k->closed && !hc->goaway && !hc->failing && hc->nattached < limit(hc) && tr_pool_current(k->w, k);
}

bool tr_h2uc_can_submit(const struct upc *k)
{
    const struct h2uc *hc = k->h2c;
    return ready(k) && hc->settings_seen && !hc->goaway && !hc->failing && hc->nopen < limit(hc);
}

static void deferred_pump(struct tr_loop *loop, void *data)
{
    struct upc *k = data;
    k->h2c->send_deferred = false;
    if (!k->closed)
        pump(k);
}

/* Something is ready to send: while the carrier is being pumped, in the same pump; otherwise at
 * the end of the loop turn, with whatever else the turn produces. */
void tr_h2uc_kick(struct upc *k)
{
    struct h2uc *hc = k->h2c;
    if (k->closed)
        return;
    if (hc->busy) {
        hc->want_send = true;
        return;
    }
    if (!hc->send_deferred) {
        hc->send_deferred = true;
        tr_loop_defer(k->w->loop, deferred_pump, k);
    }
}

void tr_h2uc_touch(struct h2uc *hc, struct h2u *h)
{
    if (h->touched)
        return;
    h->touched = true;
    h->touched_next = hc->touched;
    hc->touched = h;
}

/* Takes h off the carrier's marked lists. */
static void unmark(struct h2uc *hc, struct h2u *h)
{
    if (h->touched) {
        for (struct h2u **p = &hc->touched; *p; p = &(*p)->touched_next)
            if (*p == h) {
                *p = h->touched_next;
                break;
            }
        h->touched_next = NULL;
        h->touched = false;
    }
    if (h->room_due) {
        for (struct h2u **p = &hc->room; *p; p = &(*p)->room_next)
            if (*p == h) {
                *p = h->room_next;
                break;
            }
        h->room_next = NULL;
        h->room_due = false;
    }
}

/* h leaves its carrier's lists and counts (the session is the caller's). */
void tr_h2uc_unlink(struct h2u *h)
{
    struct h2uc *hc = h->k->h2c;
    if (h->prev)
        h->prev->next = h->next;
    else
        hc->first = h->next;
    if (h->next)
        h->next->prev = h->prev;
    else
        hc->last = h->prev;
    h->prev = h->next = NULL;
    hc->nattached--;
    if (!h->submitted)
        hc->npending--;
    unmark(hc, h);
    h->k = NULL;
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *ud)
{
    struct h2uc *hc = ud;
    if (frame->hd.type == NGHTTP2_SETTINGS && !(frame->hd.flags & NGHTTP2_FLAG_ACK)) {
        hc->settings_seen = true;
        hc->peer_max = nghttp2_session_get_remote_settings(session, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
        hc->rebalance = true;
        return 0;
    }
    if (frame->hd.type == NGHTTP2_GOAWAY) {
        /* No new stream here; those beyond last_stream_id are closed by nghttp2 with
         * REFUSED_STREAM (on_stream_close), the others run to their end. */
        tr_log_debug("upstream %s: GOAWAY (last stream %d, %s)", hc->k->key, frame->goaway.last_stream_id,
                     nghttp2_http2_strerror(frame->goaway.error_code));
        hc->goaway = true;
        hc->rebalance = true;
        tr_pool_remove(hc->k->w, hc->k);
        return 0;
    }
    return tr_h2u_on_frame_recv(session, frame, ud);
}

static int on_stream_close(nghttp2_session *session, int32_t id, uint32_t error_code, void *ud)
{
    struct h2uc *hc = ud;
    if (hc->nopen)
        hc->nopen--;
    hc->want_send = true; /* a slot for a pending stream */
    return tr_h2u_on_stream_close(session, id, error_code, ud);
}

/* --- carriers --- */

/* Frames out of the session and onto the socket. */
static int send_frames(struct h2uc *hc)
{
    struct upc *k = hc->k;
    for (;;) {
        while (tr_buf_pending(&hc->raw, hc->raw_off) < TR_WORKER_BUF_HIGH) {
            const uint8_t *d;
            ssize_t n = nghttp2_session_mem_send(hc->s, &d);
            if (n < 0)
                return -1;
            if (n == 0)
                break;
            tr_buf_append(&hc->raw, (const char *)d, (size_t)n);
        }
        if (hc->raw_off == hc->raw.len) {
            hc->raw.len = hc->raw_off = 0;
            break;
        }
        bool room = true;
        if (tr_sock_write_buf(k->io.fd, k->ssl, &hc->raw, &hc->raw_off, &room, NULL) < 0)
            return -1;
        if (!room) {
            k->writable = false;
            return 0;
        }
        k->sent_any = true;
    }
    return 0;
}

/* Closes k, telling the backend (GOAWAY) when the connection can still carry it. */
static void close_politely(struct upc *k)
{
    struct h2uc *hc = k->h2c;
    if (ready(k) && k->writable && hc->s) {
        nghttp2_session_terminate_session(hc->s, NGHTTP2_NO_ERROR);
        hc->busy = true; /* nothing is pumped from here on */
        send_frames(hc);
    }
    tr_upstream_close(k);
}

static void attach_to(struct h2u *h, struct upc *k)
{
    struct h2uc *hc = k->h2c;
    h->k = k;
    h->prev = hc->last;
    h->next = NULL;
    if (hc->last)
        hc->last->next = h;
    else
        hc->first = h;
    hc->last = h;
    hc->nattached++;
    hc->npending++;
    if (ready(k))
        tr_timer_stop(k->w->loop, &k->timer); /* the idle timer; a connect timer runs on */
}

/* Puts h (detached) on another carrier: a stream the backend never processed, or one that never
 * went. Returns false when it cannot (then h is still detached). */
static bool move(struct h2u *h)
{
    struct upc *u = h->u;
    if (u->closed || u->mirror || !u->x || !u->x->snap || !h->ep || h->moves >= MAX_MOVES || h->got_any ||
        (h->submitted && !h->replayable))
        return false;
    h->moves++;
    if (h->submitted) {
        /* The body as it was taken, then what the exchange gave since (the head is kept). */
        struct tr_buf out;
        tr_buf_init(&out, 0);
        tr_buf_append(&out, h->sent.data, h->sent.len);
        tr_buf_append(&out, u->out.data + u->out_off, tr_buf_pending(&u->out, u->out_off));
        tr_worker_buf_release(u->w, &u->out);
        u->out = out;
        u->out_off = 0;
        h->sent.len = 0;
    }
    h->sid = 0;
    h->submitted = h->closed = h->refused = false;
    h->deferred = false;
    h->final_seen = h->resp_done = false;
    h->heads.len = h->heads_off = h->heads_ready = h->cur = 0;
    h->trailers.len = 0;
    h->unacked = 0;
    u->eof = false;
    bool reused = false;
    tr_upstream_dial_from(u->w, u->x->conn); /* a new carrier leaves from where the client is */
    if (!tr_h2u_attach(u, h->ep, h->tls, u->x->snap, &reused))
        return false;
    if (reused)
        tr_metrics_add(&tr_metrics.upstream_reused, 1);
    tr_log_debug("upstream %s: stream sent again on another connection", u->key);
    tr_h2u_start(h); /* a failure there ends u: the move itself was made */
    return true;
}

/* Detaches h from its carrier k (alive) and moves it; a stream that cannot move fails with why
 * when fail is set, else stays. */
static void move_or_fail(struct h2u *h, bool fail, const char *why)
{
    struct upc *k = h->k;
    struct h2uc *hc = k->h2c;
    struct upc *u = h->u;
    if (u->mirror || !u->x || h->moves >= MAX_MOVES || h->got_any || (h->submitted && !h->replayable)) {
        if (fail)
            tr_upstream_fail(u, why);
        return;
    }
    if (h->submitted && !h->closed && hc->s) {
        nghttp2_session_set_stream_user_data(hc->s, h->sid, NULL);
        nghttp2_submit_rst_stream(hc->s, NGHTTP2_FLAG_NONE, h->sid, NGHTTP2_CANCEL);
    }
    if (h->unacked && hc->s)
        nghttp2_session_consume(hc->s, h->sid, h->unacked);
    tr_h2uc_unlink(h);
    tr_h2uc_kick(k);
    if (!move(h))
        tr_upstream_fail(u, why);
}

/* Streams beyond what the carrier may run (its SETTINGS, or a GOAWAY: none) that it has not sent
 * yet go to another carrier. */
static void rebalance(struct upc *k)
{
    struct h2uc *hc = k->h2c;
    hc->rebalance = false;
    bool gone = hc->goaway || hc->failing;
    unsigned lim = gone ? 0 : limit(hc);
    struct h2u *h = hc->last;
    while (h && hc->nattached > lim && !k->closed) {
        struct h2u *prev = h->prev;
        if (!h->submitted)
            move_or_fail(h, gone, "the backend is going away");
        h = prev;
    }
}

static void submit_pending(struct upc *k)
{
    struct h2uc *hc = k->h2c;
    for (struct h2u *h = hc->first; h && hc->npending && tr_h2uc_can_submit(k);) {
        struct h2u *next = h->next;
        if (!h->submitted && !tr_h2u_start(h)) {
            h = hc->first; /* a failure may have ended other streams: from the top again */
            continue;
        }
        h = next;
    }
}

/* What the session marked: streams with news, then streams with room. */
static void process_marked(struct upc *k)
{
    struct h2uc *hc = k->h2c;
    struct h2u *h;
    while (!k->closed && (h = hc->touched)) {
        hc->touched = h->touched_next;
        h->touched_next = NULL;
        h->touched = false;
        if (h->refused) {
            h->refused = false;
            move_or_fail(h, true, "the backend refused the stream");
            continue;
        }
        tr_h2u_input(h->u);
    }
    while (!k->closed && (h = hc->room)) {
        hc->room = h->room_next;
        h->room_next = NULL;
        h->room_due = false;
        tr_upstream_room(h->u);
    }
}

/* A carrier without streams: closes if it takes no new ones, else waits IDLE_MS for one. */
static void settle(struct upc *k)
{
    struct h2uc *hc = k->h2c;
    if (k->closed || hc->nattached)
        return;
    if (hc->goaway || hc->failing || !tr_pool_current(k->w, k) ||
        (ready(k) && !nghttp2_session_want_read(hc->s) && !nghttp2_session_want_write(hc->s))) {
        close_politely(k);
        return;
    }
    if (ready(k) && !tr_timer_armed(&k->timer))
        tr_timer_start(k->w->loop, &k->timer, IDLE_MS);
}

/* Submits, sends, and hands the marked streams to their exchanges, until nothing more comes of
 * it. */
static void pump(struct upc *k)
{
    struct h2uc *hc = k->h2c;
    if (hc->busy) {
        hc->want_send = true;
        return;
    }
    hc->busy = true;
    do {
        hc->want_send = false;
        if (hc->rebalance)
            rebalance(k);
        if (k->closed)
            return;
        submit_pending(k);
        if (k->closed)
            return;
        if (ready(k) && k->writable && send_frames(hc) < 0) {
            hc->busy = false;
            tr_upstream_fail(k, "write failed");
            return;
        }
        process_marked(k);
        if (k->closed)
            return;
    } while (hc->want_send);
    hc->busy = false;
    settle(k);
}

static void conn_timeout(struct tr_loop *loop, struct tr_timer *t)
{
    struct upc *k = t->data;
    if (k->connecting || k->handshaking)
        tr_upstream_fail(k, "connect timed out");
    else if (!k->h2c->nattached)
        close_politely(k); /* idle too long */
}

/* Makes k, a new connection, a carrier, that expects the backend to allow peer_max streams
 * until its SETTINGS say. */
static bool conn_init(struct upc *k, uint32_t peer_max)
{
    struct h2uc *hc = tr_xcalloc(1, sizeof(*hc));
    hc->k = k;
    hc->peer_max = peer_max;
    /* Read once connected: the backend's SETTINGS may already wait inside OpenSSL, which read
     * them with the end of the handshake, where no new edge will announce them. */
    hc->read_blocked = true;
    tr_buf_init(&hc->raw, 0);
    nghttp2_session_callbacks *cbs;
    if (nghttp2_session_callbacks_new(&cbs) != 0) {
        free(hc);
        return false;
    }
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, tr_h2u_on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, tr_h2u_on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, tr_h2u_on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    nghttp2_option *opt;
    nghttp2_option_new(&opt);
    nghttp2_option_set_no_auto_window_update(opt, 1);
    int rc = nghttp2_session_client_new2(&hc->s, cbs, hc, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cbs);
    if (rc != 0) {
        free(hc);
        return false;
    }
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
                                   {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW}};
    nghttp2_submit_settings(hc->s, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0]));
    nghttp2_session_set_local_window_size(hc->s, NGHTTP2_FLAG_NONE, 0, CONN_WINDOW);
    k->h2c = hc;
    k->timer.cb = conn_timeout;
    return true;
}

/* How many streams a new carrier for key may expect to run before the backend's SETTINGS
 * come: what a carrier of the same key was told, so that a burst larger than that is spread at
 * once rather than moved once the SETTINGS came. */
static uint32_t expected_max(struct worker *w, const char *key)
{
    for (struct upc *k = tr_pool_peek(w, key); k; k = k->next_idle)
        if (k->h2c && k->h2c->settings_seen)
            return k->h2c->peer_max;
    return MAX_STREAMS;
}

/* A carrier for key with room, or NULL. */
static struct upc *find_carrier(struct worker *w, const char *key)
{
    for (struct upc *k = tr_pool_peek(w, key); k; k = k->next_idle)
        if (k->h2c && has_room(k))
            return k;
    return NULL;
}

/* --- what upstream.c calls --- */

bool tr_h2u_attach(struct upc *u, const struct tr_ir_endpoint *ep, const struct tr_ir_backend_tls *tls,
                   struct tr_snapshot *snap, bool *reused)
{
    struct h2u *h = u->h2;
    if (!h) {
        h = tr_worker_obj_get(&u->w->h2u_cache, sizeof(*h)); /* zeroed: empty buffers */
        h->u = u;
        h->replayable = true;
        u->h2 = h;
    }
    h->ep = ep;
    h->tls = tls;
    struct upc *k = find_carrier(u->w, u->key);
    *reused = k != NULL;
    if (!k) {
        k = tr_upstream_dial(u->w, ep, u->key, tls, snap, true);
        if (!k)
            return false;
        if (!conn_init(k, expected_max(u->w, u->key))) {
            tr_upstream_close(k);
            return false;
        }
        if (k->key[0])
            tr_pool_put(k->w, k); /* takes streams (a carrier without a key is never shared) */
    }
    attach_to(h, k);
    return true;
}

void tr_h2u_conn_room(struct upc *k)
{
    struct h2uc *hc = k->h2c;
    if (k->closed)
        return;
    pump(k);
    if (!k->closed && hc->read_blocked)
        tr_h2u_conn_read(k);
}

void tr_h2u_conn_read(struct upc *k)
{
    struct h2uc *hc = k->h2c;
    if (!ready(k))
        return;
    char buf[16384];
    while (!k->closed) {
        if (tr_buf_pending(&hc->raw, hc->raw_off) >= TR_WORKER_BUF_HIGH) {
            /* The backend does not read what we send: read on once it does. */
            hc->read_blocked = true;
            return;
        }
        hc->read_blocked = false;
        ssize_t r = tr_sock_read(k->io.fd, k->ssl, buf, sizeof(buf));
        if (r > 0) {
            ssize_t used = nghttp2_session_mem_recv(hc->s, (const uint8_t *)buf, (size_t)r);
            if (used < 0) {
                tr_upstream_fail(k, nghttp2_strerror((int)used));
                return;
            }
            pump(k);
            if ((size_t)r < sizeof(buf) && !k->ssl && !k->hup)
                return; /* drained (see h2_read in h2_server.c) */
            continue;
        }
        if (r == TR_SOCK_AGAIN)
            return;
        /* The backend closed. Without streams it is an idle connection going away. */
        if (hc->nattached)
            tr_upstream_fail(k, "connection closed");
        else
            tr_upstream_close(k);
        return;
    }
}

void tr_h2u_conn_fail(struct upc *k, const char *why)
{
    struct h2uc *hc = k->h2c;
    hc->failing = true;
    tr_pool_remove(k->w, k);
    /* Streams it never sent go elsewhere, once the backend was there to talk to (a backend that
     * cannot be reached fails them: another carrier would fail the same). */
    bool established = hc->settings_seen;
    struct h2u *h;
    while (!k->closed && (h = hc->first)) {
        struct upc *u = h->u;
        bool sent = h->submitted, refused = h->refused, ended = h->closed && !refused;
        tr_h2uc_unlink(h);
        if (ended) {
            /* Its stream was over before the connection failed: what came is all in u->in,
             * whole or marked cut short (u->eof), for its exchange to finish without k. */
            tr_h2u_input(u);
            continue;
        }
        if ((refused || (established && !sent)) && move(h))
            continue;
        tr_upstream_fail(u, why);
    }
    tr_upstream_close(k);
}

void tr_h2u_conn_free(struct upc *k)
{
    struct h2uc *hc = k->h2c;
    hc->failing = true;
    struct h2u *h;
    while ((h = hc->first)) {
        struct upc *u = h->u;
        tr_h2uc_unlink(h);
        tr_upstream_close(u);
    }
    if (hc->s) {
        nghttp2_session_del(hc->s);
        hc->s = NULL;
    }
}

void tr_h2u_conn_retire(struct upc *k)
{
    tr_pool_remove(k->w, k);
    if (!k->h2c->nattached)
        close_politely(k);
}
