/* HTTP/2 to backends (h2c, or h2 over BackendTLSPolicy TLS) with nghttp2: many streams per
 * connection.
 *
 * A carrier is a upc with a socket (connect, TLS and the event loop are upstream.c's) and an
 * nghttp2 session (struct h2uc). Each exchange gets a stream upc of its own, without a socket
 * (struct h2u), attached to a carrier of its pool key that has room, or to a new one: the
 * exchange writes HTTP/1.1 text into the stream's out and reads HTTP/1.1 text from its in, as
 * with an HTTP/1.1 backend, so h1_client.c, retries, mirrors and timeouts are the HTTP/1 path's.
 *
 * Request: the head at the front of the stream's out becomes HEADERS, the body (decoded from its
 * Content-Length or chunked framing) DATA, END_STREAM where it ends. Response: HEADERS, DATA and
 * trailing HEADERS become HTTP/1.1 text in the stream's in, which tr_h1u_process parses as from
 * any backend: a body with a content-length stays that length, otherwise it is chunked with the
 * trailers (gRPC's grpc-status) in the last chunk.
 *
 * How many: a carrier takes at most min(the backend's SETTINGS_MAX_CONCURRENT_STREAMS, 100)
 * streams, and sends none before the backend's SETTINGS came, so that those beyond its limit go
 * to another carrier instead of waiting on this one.
 *
 * Flow control: a stream's response window (64 KiB) is given back only as the exchange moves the
 * bytes on to its client, so a slow client holds back its own stream and nothing else; the
 * connection window fits every stream's.
 *
 * GOAWAY, REFUSED_STREAM: streams the backend never processed (RFC 9113 6.8, 8.7) go again on
 * another carrier, as they were (the text they took is kept, up to REPLAY_MAX), not counted as a
 * retry. A carrier that fails fails its streams through tr_upstream_fail (retries as configured),
 * but for those it never sent.
 *
 * Sends are batched: what the streams produce during a loop turn leaves in one write at its end
 * (kick), or at the end of the read that produced it. Callbacks inside nghttp2 only mark streams
 * (touched, room); the exchanges are called once nghttp2 has returned (pump). */
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/metrics.h"
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

/* Streams a carrier takes at most, whatever the backend allows. */
#define MAX_STREAMS 100
/* HTTP/2's default stream window: what a stream may hold of a response its client has not
 * taken yet. The connection's fits every stream's, so slow streams never stall the others. */
#define STREAM_WINDOW 65535
#define CONN_WINDOW (MAX_STREAMS * STREAM_WINDOW)
/* A carrier left without streams closes after this long. */
#define IDLE_MS 60000
/* A request whose text taken so far (head and body) is larger can no longer be sent again. */
#define REPLAY_MAX (64 * 1024)
/* A stream moves to another carrier at most this often (GOAWAY, REFUSED_STREAM, SETTINGS). */
#define MAX_MOVES 4

struct h2uc {
    struct upc *k;
    nghttp2_session *s; /* NULL once the carrier closed */
    struct tr_buf raw;  /* frames to write; raw_off of them written */
    size_t raw_off;
    struct h2u *first, *last; /* the streams attached, oldest first */
    unsigned nattached;
    unsigned npending; /* attached, not yet submitted to the session */
    unsigned nopen;    /* submitted and not closed by the session (reset ones included) */
    uint32_t peer_max; /* the backend's SETTINGS_MAX_CONCURRENT_STREAMS */
    bool settings_seen, goaway, failing;
    bool rebalance;    /* SETTINGS or GOAWAY came: streams beyond the room go elsewhere */
    bool busy, want_send, send_deferred;
    bool read_blocked; /* reading stopped while raw was full */
    struct h2u *touched; /* streams with news from the session (through touched_next) */
    struct h2u *room;    /* streams whose request body moved (through room_next) */
};

struct h2u {
    struct upc *u;
    struct upc *k; /* the carrier, or NULL once detached */
    struct h2u *prev, *next;
    struct h2u *touched_next, *room_next;
    bool touched, room_due;
    /* Where to send it again (valid while the exchange pins its snapshot). */
    const struct tr_ir_endpoint *ep;
    const struct tr_ir_backend_tls *tls;
    unsigned moves;
    int32_t sid; /* once submitted; kept after the stream closed, for window accounting */
    bool submitted;
    bool closed;  /* the session closed the stream */
    bool refused; /* ... unprocessed: REFUSED_STREAM, or beyond a GOAWAY's last stream */
    /* The request: its head (tr_req_out_pack), kept to send it again; its body in u->out, as
     * the exchange gives it (unframed), and the part already framed into DATA kept in sent
     * while it stays small enough to send again. */
    struct tr_buf head;
    struct tr_buf sent;
    bool replayable;
    bool body_end; /* the exchange gave the whole body */
    bool deferred; /* the data provider waits for more body */
    /* The response in progress: its heads (1xx ones, then the final one) as they came, kept
     * until the exchange takes them; the body in u->in, unframed; trailing fields; the end. */
    bool got_any, final_seen, resp_done;
    struct tr_buf heads;  /* struct head_rec, then its fields (struct field_rec, name, value)... */
    size_t heads_off;     /* taken by the exchange */
    size_t heads_ready;   /* the end of the last whole head */
    size_t cur;           /* the record of the head being received */
    struct tr_buf trailers; /* trailing fields, "name: value\r\n" */
    uint64_t unacked;       /* DATA bytes given to the exchange, window not yet given back */
};

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

static void pump(struct upc *k);

static struct h2u *stream_of(nghttp2_session *s, int32_t id)
{
    return id > 0 ? nghttp2_session_get_stream_user_data(s, id) : NULL;
}

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

static bool can_submit(const struct upc *k)
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
static void kick(struct upc *k)
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

static void touch(struct h2uc *hc, struct h2u *h)
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
static void unlink_stream(struct h2u *h)
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

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
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

static int on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *ud)
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
        touch(hc, h);
        return 0;
    }
    if (end && (frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA)) {
        h->resp_done = true;
        touch(hc, h);
    }
    return 0;
}

static int on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
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
    touch(hc, h);
    return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t id, uint32_t error_code, void *ud)
{
    struct h2uc *hc = ud;
    if (hc->nopen)
        hc->nopen--;
    hc->want_send = true; /* a slot for a pending stream */
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
    touch(hc, h);
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
    for (const char *p = r.extra, *end = r.extra + r.extra_len; p < end;) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *le = eol ? eol : end;
        if (le > p && le[-1] == '\r')
            le--;
        const char *colon = memchr(p, ':', (size_t)(le - p));
        if (colon) {
            const char *v = colon + 1;
            while (v < le && (*v == ' ' || *v == '\t'))
                v++;
            put_nv(nv, &nnv, &next, p, (size_t)(colon - p), v, (size_t)(le - v));
        }
        p = eol ? eol + 1 : end;
    }
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
        kick(k);
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
static bool start(struct h2u *h)
{
    struct upc *u = h->u, *k = h->k;
    if (!h->submitted) {
        if (!can_submit(k) || !h->head.len)
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
    kick(k);
    return true;
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
    if (u->closed || u->mirror || !u->c || !u->c->snap || !h->ep || h->moves >= MAX_MOVES || h->got_any ||
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
    if (!tr_h2u_attach(u, h->ep, h->tls, u->c->snap, &reused))
        return false;
    if (reused)
        tr_metrics_add(&tr_metrics.upstream_reused, 1);
    tr_log_debug("upstream %s: stream sent again on another connection", u->key);
    start(h); /* a failure there ends u: the move itself was made */
    return true;
}

/* Detaches h from its carrier k (alive) and moves it; a stream that cannot move fails with why
 * when fail is set, else stays. */
static void move_or_fail(struct h2u *h, bool fail, const char *why)
{
    struct upc *k = h->k;
    struct h2uc *hc = k->h2c;
    struct upc *u = h->u;
    if (u->mirror || !u->c || h->moves >= MAX_MOVES || h->got_any || (h->submitted && !h->replayable)) {
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
    unlink_stream(h);
    kick(k);
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
    for (struct h2u *h = hc->first; h && hc->npending && can_submit(k);) {
        struct h2u *next = h->next;
        if (!h->submitted && !start(h)) {
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
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
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
    unlink_stream(h);
    if (!hc->failing)
        kick(k);
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
        start(h);
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
    if (tr_h1_resp_check(resp, NULL) != 0 || tr_h1_resp_framing(resp, u->c->method) != 0)
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
    if (!u->c) {
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
        tr_h1c_flush(u->c);
        tr_upstream_fail(u, "truncated response body");
        return;
    }
    if (!u->closed && u->c)
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
        kick(k);
    }
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
        unlink_stream(h);
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
        unlink_stream(h);
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
