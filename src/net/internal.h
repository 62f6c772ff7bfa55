/* What the loop's engines (loop.c: epoll; loop_uring.c: io_uring) and sock.c share inside
 * net/. See docs/internals/loop.md. */
#ifndef TR_NET_INTERNAL_H
#define TR_NET_INTERNAL_H

#include "net/loop.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct tr_uring;

struct tr_loop_defer {
    tr_defer_cb *cb;
    void *data;
};

struct tr_loop {
    enum tr_loop_engine engine;
    int epfd;            /* epoll engine: the epoll descriptor, -1 otherwise */
    struct tr_uring *ur; /* io_uring engine: the ring and its registrations, NULL otherwise */
    struct tr_io wake_io; /* eventfd: cross-thread wake-ups and stop */
    tr_defer_cb *on_wake;
    void *on_wake_data;
    uint64_t now;
    int stop;               /* atomic */
    struct tr_timer **heap; /* min-heap on when_ms */
    size_t nheap, capheap;
    struct tr_loop_defer *defers;
    size_t ndefers, capdefers;
};

/* The loop whose tr_loop_run is on this thread's stack, NULL outside of one: how sock.c finds
 * the bytes the io_uring engine received for a descriptor without a loop argument. */
extern __thread struct tr_loop *tr_loop_current;

#ifdef TR_HAVE_IO_URING
/* loop_uring.c. tr_uring_probe returns 0, or -1 with *why when the kernel refuses a ring or
 * lacks what the engine uses (multishot poll and receive, buffer rings, synchronous cancel). */
int tr_uring_probe(const char **why);
struct tr_uring *tr_uring_new(struct tr_loop *loop);
void tr_uring_free(struct tr_uring *ur);
int tr_uring_add(struct tr_loop *loop, struct tr_io *io, uint32_t events);
int tr_uring_mod(struct tr_loop *loop, struct tr_io *io, uint32_t events);
int tr_uring_del(struct tr_loop *loop, struct tr_io *io);
/* One turn's wait and events: submits what the turn queued, waits up to timeout_ms (-1: no
 * limit) for completions, sets loop->now and runs the callbacks. 0, or -1 with errno. */
int tr_uring_wait(struct tr_loop *loop, int timeout_ms);
/* For tr_sock_read on a plain socket: true when the loop of this thread owns fd's receive side
 * (the bytes come from completions), with *r the count, 0 at EOF, TR_SOCK_AGAIN or
 * TR_SOCK_ERROR (errno set); false when the caller must read the socket itself. */
bool tr_uring_sock_read(struct tr_loop *loop, int fd, void *p, size_t n, ssize_t *r);
#endif

#endif
