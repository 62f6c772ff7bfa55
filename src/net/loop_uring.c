/* The io_uring engine of the loop (docs/internals/loop.md): the same edge-triggered contract as
 * epoll, with one io_uring_enter per turn for every submission and wait.
 *
 * Each tr_io gets a registration (struct reg) armed with a multishot poll: edge-triggered by
 * default in io_uring, and, as EPOLL_CTL_ADD does, it reports the state at arming. A plain
 * socket that its owner reads through tr_sock_read (sock.c) moves to receive mode at its first
 * read: a receive into the loop's provided buffer ring, re-armed with each turn's batch, takes
 * its bytes as they come, copies them into the descriptor's stash and wakes the callback with
 * EPOLLIN, and tr_sock_read serves the stash: the read syscalls of a request go away. The poll
 * then watches EPOLLOUT only (sends stay direct send() calls: see docs/performance.md for why).
 *
 * user_data: kind (4 bits) | sequence (28 bits) | registration index (32 bits). A sequence is
 * bumped whenever its operation is re-armed or cancelled, so a completion of an operation that
 * is no longer current is recognised and dropped (its provided buffer goes back all the same). */
#include "base/clock.h"
#include "base/mem.h"
#include "net/internal.h"
#include "net/sock.h"

#include <errno.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define RING_ENTRIES 1024
#define BUF_GROUP 7
#define BUF_COUNT 256 /* a power of two (the ring's mask) */
#define BUF_SIZE 8192
/* No receive is armed while a descriptor's stash holds this much unread: its owner stopped
 * reading (backpressure), and the bytes must wait in the kernel for TCP's flow control to act,
 * as they do with epoll. One receive takes one buffer, so a stash never holds more than this
 * and BUF_SIZE. */
#define STASH_HIGH 65536

enum kind { K_POLL = 1, K_RECV = 2, K_IGNORE = 3 };

/* The receive side of one descriptor, by fd: what the receives took and its owner
 * has not read yet, and how the stream ended. It outlives a registration when bytes or the EOF
 * are left (a connection handed from HTTP/1 to HTTP/2, a socket handed to the linger): the next
 * registration of the same socket (same device and inode) takes it over. */
struct stash {
    uint32_t reg; /* the live registration's index + 1, 0 when none */
    char *data;
    size_t off, len, cap;
    int err; /* the receive failed with this errno */
    bool eof;
    bool detached; /* kept after tr_loop_del: dev and ino say which socket it belongs to */
    dev_t dev;
    ino_t ino;
};

struct reg {
    struct tr_io *io; /* NULL: a free slot */
    int fd;
    uint32_t gen;     /* bumped by every new registration in this slot */
    uint32_t events;  /* as registered */
    uint32_t pending; /* events gathered this turn for the callback */
    uint32_t poll_seq, recv_seq;
    uint32_t poll_mask; /* what the armed poll watches */
    bool poll_armed, recv_armed, recv_mode;
    bool ready, dirty; /* on the ready list / on the list to arm at the end of the turn */
    uint32_t next_free;
};

struct slot_ref {
    uint32_t idx, gen;
};

struct tr_uring {
    struct io_uring ring;
    bool enabled;
    struct io_uring_buf_ring *br;
    char *bufs;
    struct reg *regs;
    uint32_t nregs, capregs, free_head; /* free_head: index + 1, 0 when none */
    struct stash *fds;
    size_t nfds;
    struct slot_ref *ready, *dirty;
    size_t nready, capready, ndirty, capdirty;
};

/* liburing 2.3 (Debian 12) declares io_uring_enable_rings but does not export it. */
static int enable_rings(struct io_uring *ring)
{
    long rc = syscall(__NR_io_uring_register, ring->ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
    return rc < 0 ? -errno : 0;
}

static uint64_t udata(enum kind k, uint32_t seq, uint32_t idx)
{
    return (uint64_t)k << 60 | (uint64_t)(seq & 0x0fffffffu) << 32 | idx;
}

/* A ring the way the engine uses it: one issuer (the worker's thread), completions' task work
 * run when the loop asks for events rather than by interrupting it, and disabled until the
 * loop thread first runs it (the loop is made on the main thread). Older kernels get a plain
 * ring. */
static int ring_init(struct io_uring *ring, unsigned entries)
{
    struct io_uring_params p = {.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
                                         IORING_SETUP_R_DISABLED | IORING_SETUP_SUBMIT_ALL,
                                .cq_entries = entries * 4};
    p.flags |= IORING_SETUP_CQSIZE;
    int rc = io_uring_queue_init_params(entries, ring, &p);
    if (rc == -EINVAL) {
        p = (struct io_uring_params){.flags = IORING_SETUP_R_DISABLED | IORING_SETUP_CQSIZE,
                                     .cq_entries = entries * 4};
        rc = io_uring_queue_init_params(entries, ring, &p);
    }
    return rc;
}

int tr_uring_probe(const char **why)
{
    static char msg[256];
    struct io_uring ring;
    int rc = ring_init(&ring, 8);
    if (rc < 0) {
        snprintf(msg, sizeof(msg), "the kernel refuses io_uring: io_uring_setup: %s", strerror(-rc));
        *why = msg;
        return -1;
    }
    struct io_uring_probe *pr = io_uring_get_probe_ring(&ring);
    bool ops = pr && io_uring_opcode_supported(pr, IORING_OP_POLL_ADD) &&
               io_uring_opcode_supported(pr, IORING_OP_RECV) && io_uring_opcode_supported(pr, IORING_OP_ASYNC_CANCEL);
    io_uring_free_probe(pr);
    /* Synchronous cancel came in Linux 6.0, after everything else the engine uses. */
    struct io_uring_sync_cancel_reg cr = {.addr = udata(K_IGNORE, 0, 0), .timeout = {-1, -1}};
    int crc = enable_rings(&ring);
    if (crc == 0)
        crc = io_uring_register_sync_cancel(&ring, &cr);
    io_uring_queue_exit(&ring);
    if (!ops || (crc != -ENOENT && crc != 0)) {
        snprintf(msg, sizeof(msg), "the kernel's io_uring lacks what torii uses (Linux 6.0 or later: buffer "
                 "rings, synchronous cancel)");
        *why = msg;
        return -1;
    }
    return 0;
}

struct tr_uring *tr_uring_new(struct tr_loop *loop)
{
    struct tr_uring *ur = tr_xcalloc(1, sizeof(*ur));
    int rc = ring_init(&ur->ring, RING_ENTRIES);
    if (rc < 0) {
        free(ur);
        errno = -rc;
        return NULL;
    }
    size_t rsize = BUF_COUNT * sizeof(struct io_uring_buf);
    void *mem = mmap(NULL, rsize, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (mem == MAP_FAILED) {
        io_uring_queue_exit(&ur->ring);
        free(ur);
        return NULL;
    }
    ur->br = mem;
    struct io_uring_buf_reg reg = {.ring_addr = (uintptr_t)mem, .ring_entries = BUF_COUNT, .bgid = BUF_GROUP};
    rc = io_uring_register_buf_ring(&ur->ring, &reg, 0);
    if (rc < 0) {
        munmap(mem, rsize);
        io_uring_queue_exit(&ur->ring);
        free(ur);
        errno = -rc;
        return NULL;
    }
    ur->bufs = tr_xmalloc((size_t)BUF_COUNT * BUF_SIZE);
    io_uring_buf_ring_init(ur->br);
    for (unsigned i = 0; i < BUF_COUNT; i++)
        io_uring_buf_ring_add(ur->br, ur->bufs + (size_t)i * BUF_SIZE, BUF_SIZE, (unsigned short)i,
                              io_uring_buf_ring_mask(BUF_COUNT), (int)i);
    io_uring_buf_ring_advance(ur->br, BUF_COUNT);
    return ur;
}

void tr_uring_free(struct tr_uring *ur)
{
    if (!ur)
        return;
    io_uring_queue_exit(&ur->ring);
    munmap(ur->br, BUF_COUNT * sizeof(struct io_uring_buf));
    free(ur->bufs);
    for (size_t i = 0; i < ur->nfds; i++)
        free(ur->fds[i].data);
    free(ur->fds);
    free(ur->regs);
    free(ur->ready);
    free(ur->dirty);
    free(ur);
}

static void push_ref(struct slot_ref **list, size_t *n, size_t *cap, uint32_t idx, uint32_t gen)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        *list = tr_xrealloc(*list, *cap * sizeof(**list));
    }
    (*list)[(*n)++] = (struct slot_ref){idx, gen};
}

static void mark_dirty(struct tr_uring *ur, struct reg *r)
{
    if (r->dirty)
        return;
    r->dirty = true;
    push_ref(&ur->dirty, &ur->ndirty, &ur->capdirty, (uint32_t)(r - ur->regs), r->gen);
}

/* Adds events for r's callback in this turn. ERR and HUP are always reported, the rest only
 * when registered (epoll's rule). */
static void raise_events(struct tr_uring *ur, struct reg *r, uint32_t ev)
{
    ev &= r->events | EPOLLERR | EPOLLHUP;
    if (!ev)
        return;
    r->pending |= ev;
    if (!r->ready) {
        r->ready = true;
        push_ref(&ur->ready, &ur->nready, &ur->capready, (uint32_t)(r - ur->regs), r->gen);
    }
}

static struct stash *stash_of(struct tr_uring *ur, int fd)
{
    if ((size_t)fd >= ur->nfds) {
        size_t n = ur->nfds ? ur->nfds : 256;
        while (n <= (size_t)fd)
            n *= 2;
        ur->fds = tr_xrealloc(ur->fds, n * sizeof(*ur->fds));
        memset(ur->fds + ur->nfds, 0, (n - ur->nfds) * sizeof(*ur->fds));
        ur->nfds = n;
    }
    return &ur->fds[fd];
}

static void stash_reset(struct stash *st)
{
    free(st->data);
    *st = (struct stash){0};
}

static bool stash_holds(const struct stash *st)
{
    return st->len > st->off || st->eof || st->err;
}

static void stash_append(struct stash *st, const char *p, size_t n)
{
    if (st->off == st->len)
        st->off = st->len = 0;
    if (st->len + n > st->cap) {
        if (st->off) {
            memmove(st->data, st->data + st->off, st->len - st->off);
            st->len -= st->off;
            st->off = 0;
        }
        size_t cap = st->cap ? st->cap : 4096;
        while (cap < st->len + n)
            cap *= 2;
        if (cap != st->cap) {
            st->data = tr_xrealloc(st->data, cap);
            st->cap = cap;
        }
    }
    memcpy(st->data + st->len, p, n);
    st->len += n;
}

static struct io_uring_sqe *get_sqe(struct tr_uring *ur)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ur->ring);
    if (!sqe) {
        io_uring_submit(&ur->ring); /* the queue is full: send what it holds */
        sqe = io_uring_get_sqe(&ur->ring);
    }
    TR_BUG_ON(!sqe);
    return sqe;
}

static void prep_cancel(struct tr_uring *ur, uint64_t target)
{
    struct io_uring_sqe *sqe = get_sqe(ur);
    io_uring_prep_cancel64(sqe, target, 0);
    io_uring_sqe_set_data64(sqe, udata(K_IGNORE, 0, 0));
}

/* What r's poll must watch: everything registered, or only EPOLLOUT once its bytes come from
 * receives. */
static uint32_t poll_mask_of(const struct reg *r)
{
    uint32_t m = r->events & (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLPRI);
    return r->recv_mode ? m & EPOLLOUT : m;
}

/* Brings r's operations in the kernel to what its state asks for (end of the turn). */
static void arm(struct tr_uring *ur, struct reg *r)
{
    uint32_t idx = (uint32_t)(r - ur->regs);
    uint32_t want = poll_mask_of(r);
    if (r->poll_armed && r->poll_mask != want) {
        prep_cancel(ur, udata(K_POLL, r->poll_seq, idx));
        r->poll_seq++; /* what the old poll still reports is dropped */
        r->poll_armed = false;
    }
    if (!r->poll_armed && want) {
        struct io_uring_sqe *sqe = get_sqe(ur);
        io_uring_prep_poll_multishot(sqe, r->fd, want);
        io_uring_sqe_set_data64(sqe, udata(K_POLL, ++r->poll_seq, idx));
        r->poll_armed = true;
        r->poll_mask = want;
    }
    if (!r->recv_mode)
        return;
    struct stash *st = stash_of(ur, r->fd);
    size_t unread = st->len - st->off;
    if (!r->recv_armed && !st->eof && !st->err && unread < STASH_HIGH) {
        /* One receive, one buffer, re-armed with the turn's batch. Not multishot: within one
         * io_uring_enter a multishot receive goes on taking buffers while bytes come (32 at a
         * time, again and again), so a reader that stopped could have megabytes stashed before
         * a cancel lands; the unit test loop_uring_flow_control_both_ways caught it. */
        struct io_uring_sqe *sqe = get_sqe(ur);
        io_uring_prep_recv(sqe, r->fd, NULL, BUF_SIZE, 0);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = BUF_GROUP;
        io_uring_sqe_set_data64(sqe, udata(K_RECV, ++r->recv_seq, idx));
        r->recv_armed = true;
    }
}

static struct reg *reg_at(struct tr_uring *ur, uint32_t idx)
{
    return idx < ur->nregs && ur->regs[idx].io ? &ur->regs[idx] : NULL;
}

static void recycle(struct tr_uring *ur, unsigned bid)
{
    io_uring_buf_ring_add(ur->br, ur->bufs + (size_t)bid * BUF_SIZE, BUF_SIZE, (unsigned short)bid,
                          io_uring_buf_ring_mask(BUF_COUNT), 0);
    io_uring_buf_ring_advance(ur->br, 1);
}

static void on_recv(struct tr_uring *ur, struct reg *r, int res, unsigned flags)
{
    struct stash *st = stash_of(ur, r->fd);
    bool more = flags & IORING_CQE_F_MORE;
    if (res > 0) {
        TR_BUG_ON(!(flags & IORING_CQE_F_BUFFER));
        unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;
        stash_append(st, ur->bufs + (size_t)bid * BUF_SIZE, (size_t)res);
        recycle(ur, bid);
        raise_events(ur, r, EPOLLIN);
    } else if (res == 0) {
        st->eof = true;
        raise_events(ur, r, EPOLLIN | EPOLLRDHUP);
    } else if (res != -ENOBUFS && res != -ECANCELED) {
        /* ENOBUFS: the buffer ring ran dry for a moment; the receive is armed again below. */
        st->err = -res;
        raise_events(ur, r, EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR);
    }
    if (!more) {
        r->recv_armed = false;
        mark_dirty(ur, r);
    }
}

/* Takes one completion into the registrations' state; callbacks run later (dispatch). */
static void apply(struct tr_uring *ur, const struct io_uring_cqe *cqe)
{
    uint64_t ud = cqe->user_data;
    enum kind k = (enum kind)(ud >> 60);
    uint32_t seq = (uint32_t)(ud >> 32) & 0x0fffffffu, idx = (uint32_t)ud;
    struct reg *r = reg_at(ur, idx);
    if (k == K_RECV) {
        if (!r || !r->recv_armed || (r->recv_seq & 0x0fffffffu) != seq) {
            /* Not current (cannot happen with the synchronous cancel in tr_uring_del): the
             * buffer goes back, the bytes have no owner any more. */
            if (cqe->flags & IORING_CQE_F_BUFFER)
                recycle(ur, cqe->flags >> IORING_CQE_BUFFER_SHIFT);
            return;
        }
        on_recv(ur, r, cqe->res, cqe->flags);
        return;
    }
    if (k != K_POLL || !r || !r->poll_armed || (r->poll_seq & 0x0fffffffu) != seq)
        return;
    if (!(cqe->flags & IORING_CQE_F_MORE)) {
        r->poll_armed = false;
        mark_dirty(ur, r);
    }
    if (cqe->res < 0) {
        if (cqe->res != -ECANCELED)
            raise_events(ur, r, EPOLLERR | EPOLLHUP);
        return;
    }
    uint32_t ev = (uint32_t)cqe->res;
    if (r->recv_mode)
        ev &= EPOLLOUT; /* the receive reports bytes, EOF and errors */
    raise_events(ur, r, ev);
}

static void reap(struct tr_uring *ur)
{
    struct io_uring_cqe *cqe;
    unsigned head, n = 0;
    io_uring_for_each_cqe(&ur->ring, head, cqe)
    {
        apply(ur, cqe);
        n++;
    }
    io_uring_cq_advance(&ur->ring, n);
}

int tr_uring_add(struct tr_loop *loop, struct tr_io *io, uint32_t events)
{
    struct tr_uring *ur = loop->ur;
    struct stash *st = stash_of(ur, io->fd);
    if (st->reg) {
        errno = EEXIST;
        return -1;
    }
    bool inherited = false;
    if (st->detached) {
        struct stat sb;
        inherited = fstat(io->fd, &sb) == 0 && sb.st_dev == st->dev && sb.st_ino == st->ino;
        if (!inherited)
            stash_reset(st); /* the descriptor was closed and its number given to another socket */
        st->detached = false;
    }
    uint32_t idx;
    if (ur->free_head) {
        idx = ur->free_head - 1;
        ur->free_head = ur->regs[idx].next_free;
    } else {
        if (ur->nregs == ur->capregs) {
            ur->capregs = ur->capregs ? ur->capregs * 2 : 256;
            ur->regs = tr_xrealloc(ur->regs, ur->capregs * sizeof(*ur->regs));
        }
        idx = ur->nregs++;
        ur->regs[idx] = (struct reg){0};
    }
    struct reg *r = &ur->regs[idx];
    /* The sequences go on from the slot's last registration: its late completions stay stale. */
    *r = (struct reg){.io = io, .fd = io->fd, .gen = r->gen + 1, .events = events, .poll_seq = r->poll_seq,
                      .recv_seq = r->recv_seq};
    io->events = events;
    io->reg = idx + 1;
    st->reg = idx + 1;
    mark_dirty(ur, r);
    if (inherited) /* as EPOLL_CTL_ADD reports what is there already */
        raise_events(ur, r, EPOLLIN | (st->eof || st->err ? EPOLLRDHUP : 0));
    return 0;
}

int tr_uring_mod(struct tr_loop *loop, struct tr_io *io, uint32_t events)
{
    struct reg *r = io->reg ? reg_at(loop->ur, io->reg - 1) : NULL;
    if (!r || r->io != io) {
        errno = ENOENT;
        return -1;
    }
    io->events = r->events = events;
    mark_dirty(loop->ur, r);
    return 0;
}

int tr_uring_del(struct tr_loop *loop, struct tr_io *io)
{
    struct tr_uring *ur = loop->ur;
    struct reg *r = io->reg ? reg_at(ur, io->reg - 1) : NULL;
    if (!r || r->io != io) {
        errno = ENOENT;
        return -1;
    }
    uint32_t idx = io->reg - 1;
    if (r->recv_armed) {
        /* Synchronous: once this returns the receive takes no more bytes, and the ones it took
         * are in the completion queue, reaped into the stash here. The caller may close the
         * descriptor or hand the socket on (HTTP/1 to HTTP/2) right after. */
        struct io_uring_sync_cancel_reg cr = {.addr = udata(K_RECV, r->recv_seq, idx), .timeout = {-1, -1}};
        int rc = io_uring_register_sync_cancel(&ur->ring, &cr);
        (void)rc; /* -ENOENT: it had ended, and its last completion waits in the queue */
        reap(ur);
        r = &ur->regs[idx]; /* reap may not add registrations, but stay safe */
    }
    if (r->poll_armed)
        prep_cancel(ur, udata(K_POLL, r->poll_seq, idx)); /* submitted with the turn's batch */
    struct stash *st = stash_of(ur, r->fd);
    st->reg = 0;
    struct stat sb;
    if (stash_holds(st) && fstat(r->fd, &sb) == 0) {
        st->detached = true;
        st->dev = sb.st_dev;
        st->ino = sb.st_ino;
    } else {
        stash_reset(st);
    }
    uint32_t gen = r->gen, pseq = r->poll_seq, rseq = r->recv_seq;
    *r = (struct reg){.gen = gen, .poll_seq = pseq + 1, .recv_seq = rseq + 1, .next_free = ur->free_head};
    ur->free_head = idx + 1;
    io->reg = 0;
    return 0;
}

bool tr_uring_sock_read(struct tr_loop *loop, int fd, void *p, size_t n, ssize_t *out)
{
    struct tr_uring *ur = loop->ur;
    if (!ur || fd < 0 || (size_t)fd >= ur->nfds)
        return false;
    struct stash *st = &ur->fds[fd];
    struct reg *r = st->reg ? &ur->regs[st->reg - 1] : NULL;
    if (st->len > st->off) {
        size_t k = st->len - st->off < n ? st->len - st->off : n;
        memcpy(p, st->data + st->off, k);
        st->off += k;
        if (st->off == st->len)
            st->off = st->len = 0;
        if (r && r->recv_mode && !r->recv_armed && st->len - st->off < STASH_HIGH)
            mark_dirty(ur, r); /* held back by the bound: receive again */
        *out = (ssize_t)k;
        return true;
    }
    if (st->err) {
        errno = st->err;
        *out = TR_SOCK_ERROR;
        return true;
    }
    if (st->eof) {
        *out = 0;
        return true;
    }
    if (!r || st->detached)
        return false;
    if (!r->recv_mode) {
        /* The first read: this one goes to the socket, and from the end of the turn a receive
         * takes the bytes that come next (none can be lost or reordered: the socket
         * keeps them until the receive is armed). */
        r->recv_mode = true;
        mark_dirty(ur, r);
        return false;
    }
    *out = TR_SOCK_AGAIN;
    return true;
}

int tr_uring_wait(struct tr_loop *loop, int timeout_ms)
{
    struct tr_uring *ur = loop->ur;
    if (!ur->enabled) {
        int rc = enable_rings(&ur->ring);
        if (rc < 0) {
            errno = -rc;
            return -1;
        }
        ur->enabled = true;
    }
    for (size_t i = 0; i < ur->ndirty; i++) {
        struct reg *r = reg_at(ur, ur->dirty[i].idx);
        if (!r || r->gen != ur->dirty[i].gen)
            continue;
        r->dirty = false;
        arm(ur, r);
    }
    ur->ndirty = 0;
    struct io_uring_cqe *cqe;
    int rc;
    if (timeout_ms < 0) {
        rc = io_uring_submit_and_wait(&ur->ring, 1);
    } else {
        struct __kernel_timespec ts = {.tv_sec = timeout_ms / 1000, .tv_nsec = (long long)(timeout_ms % 1000) * 1000000};
        rc = io_uring_submit_and_wait_timeout(&ur->ring, &cqe, 1, &ts, NULL);
    }
    if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN) {
        errno = -rc;
        return -1;
    }
    loop->now = tr_clock_ms();
    reap(ur);
    /* Callbacks may add to the list (tr_uring_del reaps): index, not pointer. */
    for (size_t i = 0; i < ur->nready; i++) {
        struct slot_ref ref = ur->ready[i];
        struct reg *r = reg_at(ur, ref.idx);
        if (!r || r->gen != ref.gen)
            continue;
        uint32_t ev = r->pending;
        r->pending = 0;
        r->ready = false;
        struct tr_io *io = r->io;
        if (ev && io->cb)
            io->cb(loop, io, ev);
    }
    ur->nready = 0;
    return 0;
}
