/* Private to the two halves of the HTTP/2 client: h2_carrier.c (the connection many streams
 * share, struct h2uc) and h2_client.c (one stream's codec, struct h2u). Each half reads the
 * other's struct; the functions below are the only calls between them: the carrier's nghttp2
 * session hands stream events to the stream half, and a stream asks its carrier to send. */
#ifndef TR_PROXY_H2_CLIENT_INT_H
#define TR_PROXY_H2_CLIENT_INT_H

#include "base/buf.h"

#include <nghttp2/nghttp2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tr_ir_backend_tls;
struct tr_ir_endpoint;
struct upc;

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

/* --- h2_carrier.c, for the streams --- */

/* May k submit a stream now (connected, the backend's SETTINGS came, room under its limit)? */
bool tr_h2uc_can_submit(const struct upc *k);
/* Something is ready to send on k: sent in the pump running now, or at the end of the loop
 * turn. */
void tr_h2uc_kick(struct upc *k);
/* Marks h as having news for its exchange, handed over once nghttp2 returns. */
void tr_h2uc_touch(struct h2uc *hc, struct h2u *h);
/* h leaves its carrier's lists and counts (the session is the caller's). */
void tr_h2uc_unlink(struct h2u *h);

/* --- h2_client.c, for the carrier --- */

/* Submits h if its carrier can take it now, and moves its body on. Returns false when h failed
 * (and closed). */
bool tr_h2u_start(struct h2u *h);
/* nghttp2's callbacks for a stream's response (ud is the carrier). The carrier's on_frame_recv
 * and on_stream_close do the connection's part, then call these for the stream's. They only
 * record and mark the stream (tr_h2uc_touch). */
int tr_h2u_on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *ud);
int tr_h2u_on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
                     const uint8_t *value, size_t valuelen, uint8_t flags, void *ud);
int tr_h2u_on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *ud);
int tr_h2u_on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
                         void *ud);
int tr_h2u_on_stream_close(nghttp2_session *session, int32_t id, uint32_t error_code, void *ud);

/* The stream id's h2u, or NULL (detached, or id 0: the connection). */
static inline struct h2u *stream_of(nghttp2_session *s, int32_t id)
{
    return id > 0 ? nghttp2_session_get_stream_user_data(s, id) : NULL;
}

#endif
