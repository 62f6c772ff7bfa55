/* The event loop: level-triggered epoll, a binary heap of timers (the delay= parameter and lingering
 * closes need them), and SIGTERM/SIGINT taken through a signalfd so that shutdown is just another
 * event and the process exits 0 as a pod should. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "echo.h"

static int epfd = -1;
static bool quitting;
static int exit_code;

static struct timer **heap;
static size_t nheap, capheap;

struct deferred {
    void (*fn)(void *);
    void *p;
};
static struct deferred *dq;
static size_t ndq, capdq;

static struct watch sigw;

uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void on_signal(struct watch *w, uint32_t events)
{
    struct signalfd_siginfo si;
    while (read(w->fd, &si, sizeof si) == (ssize_t)sizeof si)
        loop_quit(0);
}

int loop_init(void)
{
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        return -1;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    int sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0)
        return -1;
    return watch_add(&sigw, sfd, EPOLLIN, on_signal);
}

int watch_add(struct watch *w, int fd, uint32_t events, watch_cb cb)
{
    w->fd = fd;
    w->events = events;
    w->cb = cb;
    struct epoll_event ev = {.events = events, .data.ptr = w};
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

void watch_mod(struct watch *w, uint32_t events)
{
    if (w->events == events || w->fd < 0)
        return;
    w->events = events;
    struct epoll_event ev = {.events = events, .data.ptr = w};
    epoll_ctl(epfd, EPOLL_CTL_MOD, w->fd, &ev);
}

void watch_del(struct watch *w)
{
    if (w->fd >= 0)
        epoll_ctl(epfd, EPOLL_CTL_DEL, w->fd, NULL);
}

/* ---- timers: min-heap on due time ---- */

static void heap_set(size_t i, struct timer *t)
{
    heap[i] = t;
    t->slot = i;
}

static void sift_up(size_t i)
{
    struct timer *t = heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (heap[parent]->due <= t->due)
            break;
        heap_set(i, heap[parent]);
        i = parent;
    }
    heap_set(i, t);
}

static void sift_down(size_t i)
{
    struct timer *t = heap[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= nheap)
            break;
        if (child + 1 < nheap && heap[child + 1]->due < heap[child]->due)
            child++;
        if (heap[child]->due >= t->due)
            break;
        heap_set(i, heap[child]);
        i = child;
    }
    heap_set(i, t);
}

void timer_init(struct timer *t, timer_cb cb)
{
    t->slot = SIZE_MAX;
    t->cb = cb;
    t->due = 0;
}

void timer_stop(struct timer *t)
{
    if (t->slot == SIZE_MAX)
        return;
    size_t i = t->slot;
    t->slot = SIZE_MAX;
    struct timer *last = heap[--nheap];
    if (last == t)
        return;
    heap_set(i, last);
    sift_down(i);
    sift_up(last->slot);
}

void timer_start(struct timer *t, uint64_t delay_ms)
{
    timer_stop(t);
    if (nheap == capheap) {
        capheap = capheap ? capheap * 2 : 64;
        heap = xrealloc(heap, capheap * sizeof *heap);
    }
    t->due = now_ms() + delay_ms;
    heap[nheap] = t;
    t->slot = nheap++;
    sift_up(t->slot);
}

static void run_timers(void)
{
    uint64_t now = now_ms();
    while (nheap && heap[0]->due <= now) {
        struct timer *t = heap[0];
        timer_stop(t);
        t->cb(t);
    }
}

static int next_timeout(void)
{
    if (!nheap)
        return -1;
    uint64_t now = now_ms();
    if (heap[0]->due <= now)
        return 0;
    uint64_t d = heap[0]->due - now;
    return d > 60000 ? 60000 : (int)d;
}

void loop_defer_free(void (*fn)(void *), void *p)
{
    if (ndq == capdq) {
        capdq = capdq ? capdq * 2 : 64;
        dq = xrealloc(dq, capdq * sizeof *dq);
    }
    dq[ndq].fn = fn;
    dq[ndq].p = p;
    ndq++;
}

static void run_deferred(void)
{
    /* A free function may defer more work; take the queue as it grows. */
    for (size_t i = 0; i < ndq; i++)
        dq[i].fn(dq[i].p);
    ndq = 0;
}

void loop_quit(int code)
{
    quitting = true;
    exit_code = code;
}

int loop_run(void)
{
    struct epoll_event evs[128];
    while (!quitting) {
        int n = epoll_wait(epfd, evs, 128, next_timeout());
        if (n < 0 && errno != EINTR) {
            perror("epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            struct watch *w = evs[i].data.ptr;
            w->cb(w, evs[i].events);
        }
        run_deferred();
        run_timers();
        run_deferred();
    }
    return exit_code;
}
