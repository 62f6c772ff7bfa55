/* The event loop: one per worker thread (edge-triggered readiness, from epoll or io_uring), with
 * timers and end-of-turn callbacks. Everything here runs on the loop's own thread, except
 * tr_loop_wake and tr_loop_stop. See docs/internals/loop.md. */
#ifndef TR_NET_LOOP_H
#define TR_NET_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tr_loop;
struct tr_io;
struct tr_timer;

typedef void tr_io_cb(struct tr_loop *loop, struct tr_io *io, uint32_t events);
typedef void tr_timer_cb(struct tr_loop *loop, struct tr_timer *t);
typedef void tr_defer_cb(struct tr_loop *loop, void *data);

/* A file descriptor watched by the loop. Value type: embed it in the connection. */
struct tr_io {
    int fd;
    uint32_t events; /* EPOLLIN | EPOLLOUT | ... as registered */
    tr_io_cb *cb;
    void *data;
    uint32_t reg; /* private: the io_uring engine's registration slot + 1, 0 when none */
};

/* Where readiness comes from. Both give callers the same contract: edge-triggered events with
 * epoll's bits, a callback reads until "again" (docs/internals/loop.md). */
enum tr_loop_engine {
    TR_LOOP_EPOLL,
    TR_LOOP_URING, /* io_uring: multishot poll, and plain sockets read by multishot receives */
};

/* Chooses the engine of the loops made from now on; at startup, before any loop is made.
 * Returns 0, or -1 with *why (a static string) when the engine was not built in or the kernel
 * refuses it (seccomp, io_uring_disabled, too old): never a silent fallback. */
int tr_loop_use(enum tr_loop_engine engine, const char **why);
enum tr_loop_engine tr_loop_engine_used(void);
/* "epoll" or "io_uring". */
const char *tr_loop_engine_name(enum tr_loop_engine engine);
/* Parses "epoll" or "io_uring" into *out: 0, or -1. */
int tr_loop_engine_parse(const char *name, enum tr_loop_engine *out);

/* A one-shot timer. Value type: embed it. */
struct tr_timer {
    uint64_t when_ms; /* private */
    size_t slot;      /* private: heap index + 1, 0 when not armed */
    tr_timer_cb *cb;
    void *data;
};

/* Returns a new loop, or NULL with errno set. */
struct tr_loop *tr_loop_new(void);
void tr_loop_free(struct tr_loop *loop);

/* Registers io (edge-triggered, with events; io->cb and io->data set by the caller) / changes
 * its events / removes it. tr_loop_del clears io->cb: an event of this turn for io is then
 * skipped, so io's memory must stay valid until the turn ends (free it with tr_loop_defer).
 * Return 0 or -1 with errno. */
int tr_loop_add(struct tr_loop *loop, struct tr_io *io, uint32_t events);
int tr_loop_mod(struct tr_loop *loop, struct tr_io *io, uint32_t events);
int tr_loop_del(struct tr_loop *loop, struct tr_io *io);

/* Arms t to fire in ms milliseconds (re-arming moves it). */
void tr_timer_start(struct tr_loop *loop, struct tr_timer *t, uint64_t ms);
void tr_timer_stop(struct tr_loop *loop, struct tr_timer *t);
static inline bool tr_timer_armed(const struct tr_timer *t)
{
    return t->slot != 0;
}

/* Runs cb(data) at the end of the current loop turn (after every event of the turn): the place
 * to free objects that callbacks of this turn may still reference (libuv's uv_close). */
void tr_loop_defer(struct tr_loop *loop, tr_defer_cb *cb, void *data);

/* Runs the deferred callbacks now (at shutdown, when no turn will follow). Loop thread. */
void tr_loop_drain(struct tr_loop *loop);

/* Cached monotonic time of the current turn, in milliseconds. */
uint64_t tr_loop_now(const struct tr_loop *loop);

/* Runs until tr_loop_stop. Returns 0, or -1 when epoll or io_uring failed. */
int tr_loop_run(struct tr_loop *loop);
/* Asks the loop to return after the current turn. Any thread. */
void tr_loop_stop(struct tr_loop *loop);
/* Sets the wake callback: called on the loop thread after tr_loop_wake from any thread. */
void tr_loop_on_wake(struct tr_loop *loop, tr_defer_cb *cb, void *data);
/* Wakes the loop from another thread (coalesced: several wakes may give one callback). */
void tr_loop_wake(struct tr_loop *loop);

#endif
