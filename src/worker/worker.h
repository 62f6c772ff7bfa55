/* Workers: one thread and one event loop per core, each with its own listening sockets
 * (SO_REUSEPORT), connections and upstream pool. They share nothing on the hot path but the
 * snapshot, which they pick up when the control thread wakes them. */
#ifndef TR_WORKER_WORKER_H
#define TR_WORKER_WORKER_H

#include <stdbool.h>
#include <stdint.h>

struct tr_workers;
struct worker;
struct wlisten;
struct sockaddr_storage;
struct tr_ir_port;

/* What a worker counts among its open connections. */
enum tr_conn_kind {
    TR_CONN_HTTP,     /* client connections speaking HTTP/1 (upgraded ones included) */
    TR_CONN_H2,       /* client connections speaking HTTP/2 */
    TR_CONN_L4,       /* TCP and TLS (passthrough or terminated) client connections */
    TR_CONN_UDP,      /* UDP sessions (one per client address and port) */
    TR_CONN_UPSTREAM, /* HTTP connections to backends, busy or idle */
    TR_CONN__COUNT
};

/* How far a worker is in draining (docs/architecture.md, "Draining"). Phases only move forward. */
enum tr_drain_phase {
    TR_DRAIN_OFF,     /* serving */
    TR_DRAIN_STARTED, /* the listeners still accept, but every HTTP/1.1 response ends its
                       * connection (Connection: close) and HTTP/2 connections get GOAWAY */
    TR_DRAIN_CLOSED,  /* the listeners are closed and so are idle connections; requests in flight,
                       * tunnels, TCP streams and UDP sessions run on until they end */
    TR_DRAIN_CUT,     /* the grace period is over: every client connection ends now, closed as
                       * tr_conn_linger does */
};

/* What a listening socket serves, from the listeners on its port. */
enum tr_wl_kind {
    TR_WL_HTTP,            /* HTTP or HTTPS (tls set): the HTTP/1 proxy */
    TR_WL_TCP,             /* TCPRoute */
    TR_WL_TLS_PASSTHROUGH, /* TLSRoute, routed by the ClientHello's server name */
    TR_WL_UDP,             /* UDPRoute */
    TR_WL_MESH,            /* a meshed workload's redirected connections, in its namespace */
    TR_WL__COUNT
};

/* What the protocol modules do for the workers (proxy/ and l4/ fill it, control/ hands it to
 * tr_workers_start): the workers only accept, and hand what they accept to these. Every member
 * may be NULL but the accept of a kind a snapshot uses. */
struct tr_worker_ops {
    int (*start)(void); /* once, before the workers run: 0, or -1 to fail the start */
    void (*stop)(void); /* once, after they stopped */
    /* A connection accepted on a stream listener of that kind (fd non-blocking; taken over). */
    void (*accept[TR_WL__COUNT])(struct worker *w, struct wlisten *l, int fd, const struct sockaddr_storage *peer);
    /* A connection a meshed workload made to a Service address (docs/mesh.md), accepted on its
     * namespace's listener (l->client): port is the current snapshot's mesh port at the address
     * it dialled. [1] routes it per request (HTTP and gRPC), [0] proxies it as TCP. */
    void (*mesh_accept[2])(struct worker *w, struct wlisten *l, int fd, const struct sockaddr_storage *peer,
                           const struct tr_ir_port *port);
    void (*udp_readable)(struct worker *w, struct wlisten *l); /* datagrams are queued on l */
    void (*udp_drain)(struct worker *w, struct wlisten *l);    /* l takes no new flow */
    void (*udp_close)(struct worker *w, struct wlisten *l);    /* l is going away: end its flows */
    /* w took a new snapshot, or closed its listeners to drain: what it holds idle under settings
     * no longer applied (upstream connections) goes. */
    void (*retire)(struct worker *w);
};

/* Starts n workers (0: one per core) running ops (copied). Returns NULL and *err (free it) on
 * failure. */
struct tr_workers *tr_workers_start(unsigned n, const struct tr_worker_ops *ops, char **err);
/* Tells every worker that a new snapshot is published. Any thread. */
void tr_workers_notify(struct tr_workers *ws);
/* Moves every worker on to phase (a phase not ahead of theirs changes nothing). Returns at once;
 * the workers act when they wake. Any thread. */
void tr_workers_drain(struct tr_workers *ws, enum tr_drain_phase phase);
/* Has every worker acted on phase (for TR_DRAIN_CLOSED: its listeners are closed, and what they
 * had queued is accepted and counted)? Any thread. */
bool tr_workers_reached(const struct tr_workers *ws, enum tr_drain_phase phase);
/* The workers' open connections, added up by kind into open[TR_CONN__COUNT]; returns the total.
 * Any thread (a moment's count, exact once the workers are idle). */
uint64_t tr_workers_open(const struct tr_workers *ws, uint64_t open[]);
/* The grace period is over: ends every client connection the clean way (its write side first,
 * then what the client still sends is read until it closes: closing at once would answer those
 * bytes with a reset) and waits until they are all gone, 1.2 s at most. Control thread. */
void tr_workers_cut(struct tr_workers *ws);
/* Stops and joins the workers; open connections are closed. */
void tr_workers_stop(struct tr_workers *ws);

#endif
