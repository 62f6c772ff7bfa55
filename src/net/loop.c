#include "net/loop.h"
#include "base/clock.h"
#include "base/mem.h"
#include "net/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS 256

__thread struct tr_loop *tr_loop_current;

/* The process's choice, made once at startup (tr_loop_use) before the workers' loops exist. */
static enum tr_loop_engine engine_used = TR_LOOP_EPOLL;

int tr_loop_use(enum tr_loop_engine engine, const char **why)
{
    if (engine == TR_LOOP_URING) {
#ifdef TR_HAVE_IO_URING
        if (tr_uring_probe(why) != 0)
            return -1;
#else
        *why = "this torii was built without io_uring (meson -Dio_uring=enabled, with liburing-dev)";
        return -1;
#endif
    }
    engine_used = engine;
    return 0;
}

enum tr_loop_engine tr_loop_engine_used(void)
{
    return engine_used;
}

const char *tr_loop_engine_name(enum tr_loop_engine engine)
{
    return engine == TR_LOOP_URING ? "io_uring" : "epoll";
}

int tr_loop_engine_parse(const char *name, enum tr_loop_engine *out)
{
    if (strcmp(name, "epoll") == 0)
        *out = TR_LOOP_EPOLL;
    else if (strcmp(name, "io_uring") == 0)
        *out = TR_LOOP_URING;
    else
        return -1;
    return 0;
}

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
    loop->engine = engine_used;
    loop->epfd = -1;
#ifdef TR_HAVE_IO_URING
    if (loop->engine == TR_LOOP_URING)
        loop->ur = tr_uring_new(loop);
    else
#endif
        loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if ((loop->epfd < 0 && !loop->ur) || efd < 0) {
        int e = errno;
        if (loop->epfd >= 0)
            close(loop->epfd);
#ifdef TR_HAVE_IO_URING
        tr_uring_free(loop->ur);
#endif
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
    if (loop->epfd >= 0)
        close(loop->epfd);
#ifdef TR_HAVE_IO_URING
    tr_uring_free(loop->ur);
#endif
    free(loop->heap);
    free(loop->defers);
    free(loop);
}

int tr_loop_add(struct tr_loop *loop, struct tr_io *io, uint32_t events)
{
#ifdef TR_HAVE_IO_URING
    if (loop->ur)
        return tr_uring_add(loop, io, events);
#endif
    struct epoll_event ev = {.events = events | EPOLLET, .data.ptr = io};
    io->events = events;
    return epoll_ctl(loop->epfd, EPOLL_CTL_ADD, io->fd, &ev);
}

int tr_loop_mod(struct tr_loop *loop, struct tr_io *io, uint32_t events)
{
#ifdef TR_HAVE_IO_URING
    if (loop->ur)
        return tr_uring_mod(loop, io, events);
#endif
    struct epoll_event ev = {.events = events | EPOLLET, .data.ptr = io};
    io->events = events;
    return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, io->fd, &ev);
}

int tr_loop_del(struct tr_loop *loop, struct tr_io *io)
{
    /* An event for io may already sit in this turn's batch: clearing cb makes the loop skip it. */
    io->cb = NULL;
#ifdef TR_HAVE_IO_URING
    if (loop->ur)
        return tr_uring_del(loop, io);
#endif
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
    uint64_t when = loop->now + ms;
    if (t->slot) {
        /* Re-armed where it is (a connection's deadline moved on as bytes came): one sift,
         * not a removal and an insertion. */
        uint64_t was = t->when_ms;
        t->when_ms = when;
        if (when > was)
            sift_down(loop, t->slot - 1);
        else if (when < was)
            sift_up(loop, t->slot - 1);
        return;
    }
    t->when_ms = when;
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
    loop->defers[loop->ndefers++] = (struct tr_loop_defer){cb, data};
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
        struct tr_loop_defer d = loop->defers[i];
        d.cb(loop, d.data);
    }
    loop->ndefers = 0;
}

void tr_loop_drain(struct tr_loop *loop)
{
    run_defers(loop);
}

/* One turn's wait and events with epoll. 0, or -1 with errno. */
static int epoll_turn(struct tr_loop *loop, int timeout)
{
    struct epoll_event evs[MAX_EVENTS];
    int n = epoll_wait(loop->epfd, evs, MAX_EVENTS, timeout);
    if (n < 0 && errno != EINTR)
        return -1;
    loop->now = tr_clock_ms();
    for (int i = 0; i < n; i++) {
        struct tr_io *io = evs[i].data.ptr;
        if (io->cb)
            io->cb(loop, io, evs[i].events);
    }
    return 0;
}

int tr_loop_run(struct tr_loop *loop)
{
    struct tr_loop *outer = tr_loop_current;
    tr_loop_current = loop;
    while (!__atomic_load_n(&loop->stop, __ATOMIC_ACQUIRE)) {
        int timeout = -1;
        if (loop->nheap) {
            uint64_t when = loop->heap[0]->when_ms;
            timeout = when <= loop->now ? 0 : (int)(when - loop->now > 60000 ? 60000 : when - loop->now);
        }
#ifdef TR_HAVE_IO_URING
        int rc = loop->ur ? tr_uring_wait(loop, timeout) : epoll_turn(loop, timeout);
#else
        int rc = epoll_turn(loop, timeout);
#endif
        if (rc != 0) {
            tr_loop_current = outer;
            return -1;
        }
        while (loop->nheap && loop->heap[0]->when_ms <= loop->now) {
            struct tr_timer *t = loop->heap[0];
            tr_timer_stop(loop, t);
            t->cb(loop, t);
        }
        run_defers(loop);
    }
    __atomic_store_n(&loop->stop, 0, __ATOMIC_RELEASE);
    tr_loop_current = outer;
    return 0;
}
