/* What a worker holds, for the protocol modules that run on it (proxy/, l4/): its connections
 * (so that draining reaches them), its listening sockets, and per-worker resources (buffer
 * blocks, request heads, random numbers). Worker threads. */
#ifndef TR_WORKER_CONN_H
#define TR_WORKER_CONN_H

#include "base/buf.h"
#include "base/map.h"
#include "net/loop.h"
#include "worker/worker.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct tr_snapshot;
struct tr_h1_req;

/* The first buffer of each direction: most heads fit. */
#define TR_WORKER_BLOCK 4096

/* Per-direction buffering cap: past it, torii stops reading the other side (backpressure). */
#define TR_WORKER_BUF_HIGH (64 * 1024)

struct conn_link;

/* What a kind of connection does for the worker that holds it. */
struct conn_ops {
    enum tr_conn_kind kind; /* what it counts as (tr_workers_open) */
    void (*close)(struct conn_link *l); /* closes and frees the connection */
    /* The worker's drain phase (worker->drain) moved on: end what can end. NULL: nothing to do
     * (the connection runs until it ends or the workers stop). May close the connection. */
    void (*drain)(struct conn_link *l);
};

/* Every live connection of a worker, so that draining reaches them and stopping closes them all. */
struct conn_link {
    struct conn_link *prev, *next;
    const struct conn_ops *ops;
};

/* Objects of one size freed for reuse by a worker (tr_worker_obj_get/put). */
#define TR_WORKER_OBJS 64
struct tr_obj_cache {
    void *items[TR_WORKER_OBJS];
    unsigned n;
};

struct worker {
    unsigned id;
    struct conn_link conns; /* list head */
    uint64_t open[TR_CONN__COUNT]; /* conns (and UDP flows) by kind; written here, read by any thread */
    /* The drain phase: read where a response is finished (an HTTP/1.1 connection then ends with
     * it) and where connections take new work. Only the worker's thread writes it, when it is
     * woken and sees drain_to (any thread's) ahead. */
    enum tr_drain_phase drain;
    int drain_to;   /* atomic: the phase asked for */
    int drain_done; /* atomic: the phase reached, once acted on (listeners closed, ...) */
    struct tr_loop *loop;
    struct tr_snapshot *snap; /* current; requests pin their own reference */
    struct tr_map listeners;  /* "addr|port" -> struct wlisten* */
    /* proxy/pool.c: tr_pool_key -> struct upc* (a list through upc->next_idle): idle HTTP/1.1
     * connections, and HTTP/2 carriers that take new streams */
    struct tr_map idle;
    const struct tr_worker_ops *ops;
    /* proxy/: parsed request heads not in use: a connection holds one only while a head is arriving
     * and being dispatched, so an idle connection costs no head-sized struct. */
    struct tr_h1_req *req_cache[16];
    unsigned nreq_cache;
    /* Free TR_WORKER_BLOCK-byte buffer blocks: connections take one per buffer per request and
     * give it back between requests, so the allocator sees none of that. */
    char *blocks[256];
    unsigned nblocks;
    /* proxy/: a buffer for one call at a time to build text in (the fields torii adds to a
     * request), kept between calls. */
    struct tr_buf scratch;
    /* proxy/: freed HTTP/1.1 client connections (struct h1c), HTTP/2 streams and their
     * exchanges, for the next ones: an HTTP/2 connection makes both at the request rate; so
     * does an HTTP/2 backend, whose exchanges each get an upstream (struct upc) and a stream
     * (struct h2u). */
    struct tr_obj_cache h1c_cache, h2s_cache, x_cache, upc_cache, h2u_cache;
    struct tr_map rr;         /* lb.c: struct tr_ir_backend* -> its round-robin turn, + 1 */
    /* The network namespace the next upstream socket is made in (a mesh client's), or -1: set
     * before every dial for an exchange (proxy/: tr_upstream_dial_from). */
    int dial_ns;
    uint64_t dial_ns_id; /* its tr_mesh_client.id, for the pool's keys (0 with dial_ns -1) */
    uint64_t rng;             /* xorshift state for weighted choice */
    /* worker.c: the mesh listeners that could not be opened are tried again (a workload's
     * namespace may appear after its Pod does), every mesh_retry_ms, doubling. */
    struct tr_timer mesh_retry;
    unsigned mesh_retry_ms;
};

/* Counts a connection (or UDP flow) of kind k opened (d = 1) or closed (d = -1). Worker thread.
 * A connection that changes kind (HTTP/1 to HTTP/2) is counted as the new kind before it stops
 * counting as the old, and tr_workers_open reads the kinds in enum order with acquire loads:
 * the control thread never sees it counted nowhere. */
static inline void tr_worker_count(struct worker *w, enum tr_conn_kind k, int d)
{
    __atomic_store_n(&w->open[k], __atomic_load_n(&w->open[k], __ATOMIC_RELAXED) + (uint64_t)(int64_t)d,
                     __ATOMIC_RELEASE);
}

static inline void tr_conn_link(struct worker *w, struct conn_link *l, const struct conn_ops *ops)
{
    l->ops = ops;
    l->next = w->conns.next;
    l->prev = &w->conns;
    w->conns.next->prev = l;
    w->conns.next = l;
    tr_worker_count(w, ops->kind, 1);
}

static inline void tr_conn_unlink(struct worker *w, struct conn_link *l)
{
    l->prev->next = l->next;
    l->next->prev = l->prev;
    tr_worker_count(w, l->ops->kind, -1);
}

/* Closes a client connection torii decided to end, as RFC 9112 9.6 asks: a FIN after what the
 * kernel still has to send, then what the client sends meanwhile is read and dropped until it
 * closes too (or 1 s passes), and only then the descriptor. close() at once would answer bytes
 * already on their way (a WINDOW_UPDATE, a PING's ACK, a WebSocket message) with a reset, and a
 * reset can throw away the end of a response the client has not read yet. Takes fd over (out
 * of the loop, its TLS state freed); it is counted as kind (HTTP, H2 or L4) until closed, so
 * that a drain waits for it. Call it before unlinking the connection it was, so that the
 * count of open connections never falls to zero in between. Worker thread. */
void tr_conn_linger(struct worker *w, int fd, enum tr_conn_kind kind);

/* A meshed workload as a worker knows it: its network namespace, where its listener is and its
 * upstream connections are made (docs/mesh.md). Held by its listener and by every connection
 * that came from it (refs: this worker's thread only); the namespace's descriptor closes with
 * the last. */
struct tr_mesh_client {
    int refs;
    int nsfd;
    uint64_t id; /* unique in the process: upstream connections made in its namespace are its own */
    char ns[64];  /* its Kubernetes namespace: whose consumer routes apply */
    char name[254];
};
struct tr_mesh_client *tr_mesh_client_ref(struct tr_mesh_client *c); /* NULL: NULL */
void tr_mesh_client_put(struct tr_mesh_client *c);                  /* NULL allowed */

struct wlisten {
    struct tr_io io;
    struct worker *w;
    char addr[INET6_ADDRSTRLEN];
    uint16_t port;
    bool wanted;
    enum tr_wl_kind kind;
    bool tls; /* HTTPS: connections start with a TLS handshake */
    struct tr_map flows; /* UDP: client "addr|port" -> its flow (l4/udp.c) */
    struct tr_timer resume; /* armed while accepting is paused (out of descriptors) */
    struct tr_mesh_client *client; /* TR_WL_MESH: the workload whose connections it takes */
};

uint64_t tr_worker_rand(struct worker *w);
/* A zeroed object of size bytes, from oc when it has one (every object put in oc must have that
 * size), and back when done with it. */
void *tr_worker_obj_get(struct tr_obj_cache *oc, size_t size);
void tr_worker_obj_put(struct tr_obj_cache *oc, void *p);
/* Gives b (empty, with no storage) a TR_WORKER_BLOCK-byte block from the worker's cache. */
void tr_worker_buf_attach(struct worker *w, struct tr_buf *b);
/* Empties b: a block goes back to the cache, anything bigger to the allocator. */
void tr_worker_buf_release(struct worker *w, struct tr_buf *b);

#endif
