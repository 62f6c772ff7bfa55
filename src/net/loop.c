#include "net/loop.h"
#include "base/clock.h"
#include "base/mem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS 256

struct defer {
    tr_defer_cb *cb;
    void *data;
};

struct tr_loop {
    int epfd;
    struct tr_io wake_io; /* eventfd: cross-thread wake-ups and stop */
    tr_defer_cb *on_wake;
    void *on_wake_data;
    uint64_t now;
    int stop; /* atomic */
    struct tr_timer **heap; /* min-heap on when_ms */
    size_t nheap, capheap;
    struct defer *defers;
    size_t ndefers, capdefers;
};

static void on_wake_fd(struct tr_loop *loop, struct tr_io *io, uint32_t events)
{
    uint64_t v;
    while (read(io->fd, &v, sizeof(v)) == (ssize_t)sizeof(v))
        ;
    if (loop->on_wake)
        loop->on_wake(loop, loop->on_wake_data);
}

struct tr_loop *tr_loop_new(void)
{
    struct tr_loop *loop = tr_xcalloc(1, sizeof(*loop));
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (loop->epfd < 0 || efd < 0) {
        int e = errno;
        if (loop->epfd >= 0)
            close(loop->epfd);
        if (efd >= 0)
            close(efd);
        free(loop);
        errno = e;
        return NULL;
    }
    loop->wake_io = (struct tr_io){.fd = efd, .cb = on_wake_fd};
    tr_loop_add(loop, &loop->wake_io, EPOLLIN);
    loop->now = tr_clock_ms();
    return loop;
}

void tr_loop_free(struct tr_loop *loop)
{
    if (!loop)
        return;
    close(loop->wake_io.fd);
    close(loop->epfd);
    free(loop->heap);
    free(loop->defers);
    free(loop);
}

int tr_loop_add(struct tr_loop *loop, struct tr_io *io, uint32_t events)
{
    struct epoll_event ev = {.events = events | EPOLLET, .data.ptr = io};
    io->events = events;
    return epoll_ctl(loop->epfd, EPOLL_CTL_ADD, io->fd, &ev);
}

int tr_loop_mod(struct tr_loop *loop, struct tr_io *io, uint32_t events)
{
    struct epoll_event ev = {.events = events | EPOLLET, .data.ptr = io};
    io->events = events;
    return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, io->fd, &ev);
}

int tr_loop_del(struct tr_loop *loop, struct tr_io *io)
{
    /* An event for io may already sit in this turn's batch: clearing cb makes the loop skip it. */
    io->cb = NULL;
    return epoll_ctl(loop->epfd, EPOLL_CTL_DEL, io->fd, NULL);
}

/* --- timers: a binary min-heap; slot is the 1-based index so 0 means "not armed" --- */

static void heap_set(struct tr_loop *loop, size_t i, struct tr_timer *t)
{
    loop->heap[i] = t;
    t->slot = i + 1;
}

static void sift_up(struct tr_loop *loop, size_t i)
{
    struct tr_timer *t = loop->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (loop->heap[parent]->when_ms <= t->when_ms)
            break;
        heap_set(loop, i, loop->heap[parent]);
        i = parent;
    }
    heap_set(loop, i, t);
}

static void sift_down(struct tr_loop *loop, size_t i)
{
    struct tr_timer *t = loop->heap[i];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        uint64_t best = t->when_ms;
        if (l < loop->nheap && loop->heap[l]->when_ms < best) {
            m = l;
            best = loop->heap[l]->when_ms;
        }
        if (r < loop->nheap && loop->heap[r]->when_ms < best)
            m = r;
        if (m == i)
            break;
        heap_set(loop, i, loop->heap[m]);
        i = m;
    }
    heap_set(loop, i, t);
}

void tr_timer_stop(struct tr_loop *loop, struct tr_timer *t)
{
    if (!t->slot)
        return;
    size_t i = t->slot - 1;
    t->slot = 0;
    struct tr_timer *last = loop->heap[--loop->nheap];
    if (i == loop->nheap)
        return;
    heap_set(loop, i, last);
    sift_down(loop, i);
    sift_up(loop, last->slot - 1);
}

void tr_timer_start(struct tr_loop *loop, struct tr_timer *t, uint64_t ms)
{
    tr_timer_stop(loop, t);
    t->when_ms = loop->now + ms;
    if (loop->nheap == loop->capheap) {
        loop->capheap = loop->capheap ? loop->capheap * 2 : 64;
        loop->heap = tr_xrealloc(loop->heap, loop->capheap * sizeof(*loop->heap));
    }
    heap_set(loop, loop->nheap++, t);
    sift_up(loop, loop->nheap - 1);
}

void tr_loop_defer(struct tr_loop *loop, tr_defer_cb *cb, void *data)
{
    if (loop->ndefers == loop->capdefers) {
        loop->capdefers = loop->capdefers ? loop->capdefers * 2 : 64;
        loop->defers = tr_xrealloc(loop->defers, loop->capdefers * sizeof(*loop->defers));
    }
    loop->defers[loop->ndefers++] = (struct defer){cb, data};
}

uint64_t tr_loop_now(const struct tr_loop *loop)
{
    return loop->now;
}

void tr_loop_on_wake(struct tr_loop *loop, tr_defer_cb *cb, void *data)
{
    loop->on_wake = cb;
    loop->on_wake_data = data;
}

void tr_loop_wake(struct tr_loop *loop)
{
    uint64_t one = 1;
    ssize_t w = write(loop->wake_io.fd, &one, sizeof(one));
    (void)w; /* EAGAIN means a wake-up is already pending */
}

void tr_loop_stop(struct tr_loop *loop)
{
    __atomic_store_n(&loop->stop, 1, __ATOMIC_RELEASE);
    tr_loop_wake(loop);
}

static void run_defers(struct tr_loop *loop)
{
    /* A deferred callback may defer more: run until none is left. */
    for (size_t i = 0; i < loop->ndefers; i++) {
        struct defer d = loop->defers[i];
        d.cb(loop, d.data);
    }
    loop->ndefers = 0;
}

void tr_loop_drain(struct tr_loop *loop)
{
    run_defers(loop);
}

int tr_loop_run(struct tr_loop *loop)
{
    struct epoll_event evs[MAX_EVENTS];
    while (!__atomic_load_n(&loop->stop, __ATOMIC_ACQUIRE)) {
        int timeout = -1;
        if (loop->nheap) {
            uint64_t when = loop->heap[0]->when_ms;
            timeout = when <= loop->now ? 0 : (int)(when - loop->now > 60000 ? 60000 : when - loop->now);
        }
        int n = epoll_wait(loop->epfd, evs, MAX_EVENTS, timeout);
        if (n < 0 && errno != EINTR)
            return -1;
        loop->now = tr_clock_ms();
        for (int i = 0; i < n; i++) {
            struct tr_io *io = evs[i].data.ptr;
            if (io->cb)
                io->cb(loop, io, evs[i].events);
        }
        while (loop->nheap && loop->heap[0]->when_ms <= loop->now) {
            struct tr_timer *t = loop->heap[0];
            tr_timer_stop(loop, t);
            t->cb(loop, t);
        }
        run_defers(loop);
    }
    __atomic_store_n(&loop->stop, 0, __ATOMIC_RELEASE);
    return 0;
}
