/* The event loop's timers, end-of-turn callbacks and cross-thread wake-ups (src/net/loop.c,
 * docs/internals/loop.md), through loop.h and on the real clock: no time seam is needed. Turns
 * are driven by tr_loop_wake from the loop's own thread (a turn then costs microseconds), with
 * a 1 ms pause now and then so that the clock moves: the property test's 10,000 operations take
 * a few hundred milliseconds. No test sleeps longer than 20 ms.
 *
 * What loop.c promises of timers, and the tests check: a timer fires once per start, in the
 * first turn whose cached time (tr_loop_now) has reached its deadline (the time at the start +
 * ms), never before, and disarmed; timers fire in deadline order, equal deadlines in no
 * particular order (a binary heap is not stable); a stopped timer never fires.
 *
 * Every test runs once per engine: loop_* on epoll, loop_uring_* on io_uring (where the build
 * has it; a kernel that refuses io_uring skips those with a note). The socket tests at the end
 * check the edge-triggered contract the callers rely on, the same on both. */
#include "test.h"

#include "net/loop.h"
#include "net/sock.h"

#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

/* Makes the loops of the test use engine e. False (the test is skipped) only for io_uring on a
 * kernel that refuses it, or in a build without it. */
static bool use_engine(enum tr_loop_engine e)
{
    const char *why = NULL;
    if (tr_loop_use(e, &why) == 0)
        return true;
    ASSERT(e == TR_LOOP_URING);
    fprintf(stderr, "  (skipped: io_uring: %s)\n", why);
    return false;
}

/* splitmix64: a fixed seed, so a failing sequence of operations is the same on every run (the
 * clock still decides which turn each lands in). */
static uint64_t rnd_state;

static uint64_t rnd(void)
{
    uint64_t z = (rnd_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static uint64_t rnd_below(uint64_t n)
{
    return rnd() % n;
}

/* A watchdog: a test that waits on something that never comes fails instead of hanging. */
static bool watchdog_fired;

static void on_watchdog(struct tr_loop *loop, struct tr_timer *t)
{
    (void)t;
    watchdog_fired = true;
    tr_loop_stop(loop);
}

/* --- the property test: random starts, stops and restarts against a model --- */

enum { NTIMERS = 256, TOTAL_OPS = 10000, MAX_MS = 6, PAUSE_ONE_IN = 24 };

/* The model: what must be true of every timer, kept beside the loop's heap. */
static struct {
    struct tr_loop *loop;
    struct tr_timer t[NTIMERS];
    struct tr_timer resume; /* not in the model: ends the driver's pauses */
    bool armed[NTIMERS];
    uint64_t deadline[NTIMERS]; /* tr_loop_now() at the start + ms */
    uint64_t ops, fires, last_fired;
    /* One check per turn, run as the turn's last deferred callback. */
    bool turn_checked;
    uint64_t turn_now;
    /* What the run went through, so that the test knows it exercised each case. */
    uint64_t ties, stopped_due, restarted_in_cb, self_restarts;
} m;

static void model_start(size_t i, uint64_t ms)
{
    tr_timer_start(m.loop, &m.t[i], ms);
    m.armed[i] = true;
    m.deadline[i] = tr_loop_now(m.loop) + ms;
    ASSERT(tr_timer_armed(&m.t[i]));
}

static void model_stop(size_t i)
{
    tr_timer_stop(m.loop, &m.t[i]);
    m.armed[i] = false;
    ASSERT(!tr_timer_armed(&m.t[i]));
}

/* After every event and timer of the turn: a timer whose deadline has come has fired (or was
 * stopped), and the heap agrees with the model on who is armed. */
static void on_turn_end(struct tr_loop *loop, void *data)
{
    (void)data;
    ASSERT_EQ(tr_loop_now(loop), m.turn_now);
    for (size_t i = 0; i < NTIMERS; i++) {
        ASSERT_EQ(tr_timer_armed(&m.t[i]), m.armed[i]);
        if (m.armed[i])
            ASSERT(m.deadline[i] > m.turn_now);
    }
    m.turn_checked = false;
}

/* Every callback of a turn sees the same cached time; the first one schedules the turn's check. */
static void enter_turn(void)
{
    if (!m.turn_checked) {
        m.turn_checked = true;
        m.turn_now = tr_loop_now(m.loop);
        tr_loop_defer(m.loop, on_turn_end, NULL);
    }
    ASSERT_EQ(tr_loop_now(m.loop), m.turn_now);
}

static void finish_if_done(void)
{
    if (m.ops < TOTAL_OPS)
        return;
    for (size_t i = 0; i < NTIMERS; i++)
        if (m.armed[i])
            return;
    tr_loop_stop(m.loop);
}

static void on_timer(struct tr_loop *loop, struct tr_timer *t)
{
    enter_turn();
    size_t i = (size_t)(t - m.t);
    ASSERT(i < NTIMERS);
    /* Armed in the model: neither stopped, nor fired already since its last start. */
    ASSERT(m.armed[i]);
    ASSERT(!tr_timer_armed(t)); /* one-shot: disarmed before its callback */
    uint64_t now = tr_loop_now(loop);
    ASSERT(m.deadline[i] <= now); /* never early */
    /* Deadline order: no armed timer has an earlier deadline. Equal deadlines fire in no
     * promised order (a binary heap is not stable), so ties are not ordered here. */
    for (size_t j = 0; j < NTIMERS; j++)
        if (m.armed[j])
            ASSERT(m.deadline[j] >= m.deadline[i]);
    ASSERT(m.deadline[i] >= m.last_fired);
    m.ties += m.fires && m.deadline[i] == m.last_fired;
    m.last_fired = m.deadline[i];
    m.armed[i] = false;
    m.fires++;

    /* From inside a callback: restart this timer, stop or move others (some due in this very
     * turn). Restarts here use at least 1 ms: with 0 the deadline is the turn's now, and the
     * timer would fire again before the turn ends. */
    if (m.ops < TOTAL_OPS) {
        uint64_t r = rnd_below(8);
        size_t j = (size_t)rnd_below(NTIMERS);
        if (r == 0) {
            model_start(i, 1 + rnd_below(MAX_MS));
            m.self_restarts++;
        } else if (r <= 2 && m.armed[j]) {
            m.stopped_due += m.deadline[j] <= now;
            model_stop(j);
        } else if (r == 3) {
            m.restarted_in_cb += m.armed[j] && m.deadline[j] <= now;
            model_start(j, 1 + rnd_below(MAX_MS));
        }
        m.ops++;
    }
    finish_if_done();
}

/* The driver: a few operations per turn, then a wake-up for the next turn, or now and then a
 * pause of a millisecond, so that the clock moves and timers live long enough to fire. */
static void on_drive(struct tr_loop *loop, void *data)
{
    (void)data;
    enter_turn();
    for (uint64_t k = 1 + rnd_below(6); k && m.ops < TOTAL_OPS; k--, m.ops++) {
        size_t i = (size_t)rnd_below(NTIMERS);
        uint64_t r = rnd_below(10);
        if (r < 6)
            model_start(i, rnd_below(MAX_MS + 1)); /* a restart when armed: the timer moves */
        else if (r < 9)
            model_stop(i); /* stopping an idle timer is a no-op */
        else
            ASSERT_EQ(tr_timer_armed(&m.t[i]), m.armed[i]);
    }
    if (m.ops >= TOTAL_OPS)
        finish_if_done(); /* else the last timers end the run */
    else if (rnd_below(PAUSE_ONE_IN) == 0)
        tr_timer_start(loop, &m.resume, 1);
    else
        tr_loop_wake(loop);
}

static void on_resume(struct tr_loop *loop, struct tr_timer *t)
{
    (void)t;
    on_drive(loop, NULL);
}

static void loop_timers_fire_once_in_deadline_order(void)
{
    memset(&m, 0, sizeof(m));
    rnd_state = 20260101;
    m.loop = tr_loop_new();
    ASSERT_NOT_NULL(m.loop);
    for (size_t i = 0; i < NTIMERS; i++)
        m.t[i] = (struct tr_timer){.cb = on_timer};
    m.resume.cb = on_resume;
    struct tr_timer dog = {.cb = on_watchdog};
    watchdog_fired = false;
    tr_loop_on_wake(m.loop, on_drive, NULL);
    tr_loop_wake(m.loop);
    tr_timer_start(m.loop, &dog, 5000);
    /* The watchdog is not in the model: its deadline is far beyond any other. */
    ASSERT_EQ(tr_loop_run(m.loop), 0);
    ASSERT(!watchdog_fired);
    tr_timer_stop(m.loop, &dog);
    ASSERT_EQ(m.ops, TOTAL_OPS);
    for (size_t i = 0; i < NTIMERS; i++)
        ASSERT(!m.armed[i] && !tr_timer_armed(&m.t[i]));
    /* The run went through the cases it is meant to: thousands of firings, ties, timers stopped
     * and moved by another's callback while due in the same turn, self-restarts. */
    ASSERT(m.fires > 1000);
    ASSERT(m.ties > 100);
    ASSERT(m.stopped_due > 5);
    ASSERT(m.restarted_in_cb > 2);
    ASSERT(m.self_restarts > 50);
    tr_loop_drain(m.loop);
    tr_loop_free(m.loop);
}

/* --- targeted cases --- */

static struct tr_timer pair[2];
static int pair_fired[2];

static void on_pair(struct tr_loop *loop, struct tr_timer *t)
{
    size_t i = (size_t)(t - pair);
    pair_fired[i]++;
    tr_timer_stop(loop, &pair[1 - i]); /* the other one is due in this turn too */
}

static void on_stop_loop(struct tr_loop *loop, struct tr_timer *t)
{
    (void)t;
    tr_loop_stop(loop);
}

static void loop_timer_stopped_by_another_callback_never_fires(void)
{
    struct tr_loop *loop = tr_loop_new();
    ASSERT_NOT_NULL(loop);
    struct tr_timer end = {.cb = on_stop_loop}, dog = {.cb = on_watchdog};
    watchdog_fired = false;
    for (int i = 0; i < 2; i++) {
        pair[i] = (struct tr_timer){.cb = on_pair};
        pair_fired[i] = 0;
    }
    /* Started in one go: the same cached now, the same deadline, due in the same turn. */
    tr_timer_start(loop, &pair[0], 2);
    tr_timer_start(loop, &pair[1], 2);
    tr_timer_start(loop, &end, 10);
    tr_timer_start(loop, &dog, 2000);
    ASSERT_EQ(tr_loop_run(loop), 0);
    ASSERT(!watchdog_fired);
    ASSERT_EQ(pair_fired[0] + pair_fired[1], 1);
    ASSERT(!tr_timer_armed(&pair[0]) && !tr_timer_armed(&pair[1]));
    tr_timer_stop(loop, &dog);
    tr_loop_free(loop);
}

static struct {
    struct tr_timer self, moved;
    uint64_t at[4];
    int n, moved_fired;
    bool moved_by_self;
    uint64_t moved_at;
} rs;

static void stop_when_both_done(struct tr_loop *loop)
{
    if (rs.n == 4 && rs.moved_fired)
        tr_loop_stop(loop);
}

static void on_moved(struct tr_loop *loop, struct tr_timer *t)
{
    (void)t;
    rs.moved_fired++;
    rs.moved_at = tr_loop_now(loop);
    stop_when_both_done(loop);
}

static void on_self(struct tr_loop *loop, struct tr_timer *t)
{
    rs.at[rs.n++] = tr_loop_now(loop);
    /* moved shares self's first deadline: unless it ran first (ties have no order), it is due
     * in this very turn, and moving it must take it out of the turn. */
    if (rs.n == 1 && tr_timer_armed(&rs.moved)) {
        tr_timer_start(loop, &rs.moved, 8);
        rs.moved_by_self = true;
    }
    if (rs.n < 4)
        tr_timer_start(loop, t, 1);
    stop_when_both_done(loop);
}

static void loop_timer_restarted_from_callbacks(void)
{
    struct tr_loop *loop = tr_loop_new();
    ASSERT_NOT_NULL(loop);
    memset(&rs, 0, sizeof(rs));
    rs.self.cb = on_self;
    rs.moved.cb = on_moved;
    struct tr_timer dog = {.cb = on_watchdog};
    watchdog_fired = false;
    uint64_t t0 = tr_loop_now(loop);
    tr_timer_start(loop, &rs.self, 1);
    tr_timer_start(loop, &rs.moved, 1);
    tr_timer_start(loop, &dog, 2000);
    ASSERT_EQ(tr_loop_run(loop), 0);
    ASSERT(!watchdog_fired);
    /* self restarted itself three times: four firings, each in a later turn, 1 ms or more
     * after the one before. */
    ASSERT_EQ(rs.n, 4);
    ASSERT(rs.at[0] >= t0 + 1);
    for (int i = 1; i < 4; i++)
        ASSERT(rs.at[i] >= rs.at[i - 1] + 1);
    ASSERT(!tr_timer_armed(&rs.self));
    /* moved fired once: at its new deadline when self moved it, else at the shared one. */
    ASSERT_EQ(rs.moved_fired, 1);
    if (rs.moved_by_self)
        ASSERT(rs.moved_at >= rs.at[0] + 8);
    else
        ASSERT(rs.moved_at <= rs.at[0]);
    tr_timer_stop(loop, &dog);
    tr_loop_free(loop);
}

/* --- end-of-turn callbacks --- */

static struct {
    char seq[512];
    size_t n;
    bool grown;
    struct tr_timer due;
} df;

static void note(char c)
{
    if (df.n + 1 < sizeof(df.seq))
        df.seq[df.n++] = c;
}

static void on_defer(struct tr_loop *loop, void *data)
{
    char c = (char)(uintptr_t)data;
    note(c);
    if (c == '1' && !df.grown) {
        df.grown = true;
        /* Deferred from a deferred callback: runs in the same drain, after those queued
         * before it; 200 of them grow the queue while it is being run. */
        for (int i = 0; i < 200; i++)
            tr_loop_defer(loop, on_defer, (void *)(uintptr_t)'x');
        tr_loop_defer(loop, on_defer, (void *)(uintptr_t)'4');
    }
    if (c == '4')
        tr_loop_stop(loop);
}

static void on_due(struct tr_loop *loop, struct tr_timer *t)
{
    (void)t;
    note('T');
    tr_loop_defer(loop, on_defer, (void *)(uintptr_t)'3');
}

static void on_wake_defers(struct tr_loop *loop, void *data)
{
    (void)data;
    note('W');
    tr_loop_defer(loop, on_defer, (void *)(uintptr_t)'1');
    tr_loop_defer(loop, on_defer, (void *)(uintptr_t)'2');
    tr_timer_start(loop, &df.due, 0); /* due in this turn, after the events */
}

static void loop_defers_run_at_end_of_turn_in_order(void)
{
    struct tr_loop *loop = tr_loop_new();
    ASSERT_NOT_NULL(loop);
    memset(&df, 0, sizeof(df));
    df.due.cb = on_due;
    struct tr_timer dog = {.cb = on_watchdog};
    watchdog_fired = false;
    tr_timer_start(loop, &dog, 2000);
    /* Queued before the loop runs: at the end of its first turn, before those of the turn. */
    tr_loop_defer(loop, on_defer, (void *)(uintptr_t)'0');
    tr_loop_on_wake(loop, on_wake_defers, NULL);
    tr_loop_wake(loop);
    ASSERT_EQ(tr_loop_run(loop), 0);
    ASSERT(!watchdog_fired);
    char want[512];
    size_t k = 0;
    for (const char *p = "WT0123"; *p; p++)
        want[k++] = *p;
    for (int i = 0; i < 200; i++)
        want[k++] = 'x';
    want[k++] = '4';
    want[k] = '\0';
    df.seq[df.n] = '\0';
    ASSERT_STREQ(df.seq, want);
    /* Each ran once: nothing is left for a drain. */
    tr_loop_drain(loop);
    ASSERT_EQ(df.n, k);
    /* tr_loop_drain runs what is queued now, with no turn. */
    tr_loop_defer(loop, on_defer, (void *)(uintptr_t)'z');
    tr_loop_drain(loop);
    ASSERT_EQ(df.n, k + 1);
    ASSERT_EQ(df.seq[k], 'z');
    tr_timer_stop(loop, &dog);
    tr_loop_free(loop);
}

/* --- wake-ups from another thread --- */

static struct {
    struct tr_loop *loop;
    pthread_t loop_thread;
    int wakes;
    bool on_loop_thread;
    int nwakers;
} wk;

static void on_wake_stop(struct tr_loop *loop, void *data)
{
    (void)data;
    wk.wakes++;
    wk.on_loop_thread = pthread_equal(pthread_self(), wk.loop_thread);
    tr_loop_stop(loop);
}

static void *waker(void *arg)
{
    (void)arg;
    usleep(20 * 1000); /* so that the loop is asleep in epoll_wait, with no timer due */
    for (int i = 0; i < wk.nwakers; i++)
        tr_loop_wake(wk.loop);
    return NULL;
}

static void *stopper(void *arg)
{
    (void)arg;
    usleep(20 * 1000);
    tr_loop_stop(wk.loop);
    return NULL;
}

static void loop_wake_from_another_thread(void)
{
    memset(&wk, 0, sizeof(wk));
    wk.loop = tr_loop_new();
    ASSERT_NOT_NULL(wk.loop);
    wk.loop_thread = pthread_self();
    struct tr_timer dog = {.cb = on_watchdog};
    watchdog_fired = false;
    tr_loop_on_wake(wk.loop, on_wake_stop, NULL);
    tr_timer_start(wk.loop, &dog, 2000);

    /* One wake: the loop, asleep with only a far timer, runs the wake callback on its own
     * thread. */
    wk.nwakers = 1;
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, waker, NULL), 0);
    ASSERT_EQ(tr_loop_run(wk.loop), 0);
    pthread_join(th, NULL);
    ASSERT(!watchdog_fired);
    ASSERT_EQ(wk.wakes, 1);
    ASSERT(wk.on_loop_thread);

    /* Many wakes before the loop runs: at least one callback, never more than wakes. */
    wk.wakes = 0;
    wk.nwakers = 50;
    ASSERT_EQ(pthread_create(&th, NULL, waker, NULL), 0);
    pthread_join(th, NULL);
    ASSERT_EQ(tr_loop_run(wk.loop), 0);
    ASSERT(!watchdog_fired);
    ASSERT(wk.wakes >= 1 && wk.wakes <= 50);

    /* tr_loop_stop from another thread ends a loop asleep with nothing due. */
    wk.wakes = 0;
    tr_loop_on_wake(wk.loop, NULL, NULL);
    ASSERT_EQ(pthread_create(&th, NULL, stopper, NULL), 0);
    ASSERT_EQ(tr_loop_run(wk.loop), 0);
    pthread_join(th, NULL);
    ASSERT(!watchdog_fired);
    ASSERT(tr_timer_armed(&dog));
    tr_timer_stop(wk.loop, &dog);
    tr_loop_free(wk.loop);
}

/* --- sockets: the edge-triggered contract (docs/internals/loop.md) --- */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

/* A connected TCP pair on loopback: *a non-blocking (the loop's side), *b blocking. */
static void tcp_pair(int *a, int *b)
{
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT(l >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    ASSERT_EQ(bind(l, (struct sockaddr *)&sa, sl), 0);
    ASSERT_EQ(listen(l, 4), 0);
    ASSERT_EQ(getsockname(l, (struct sockaddr *)&sa, &sl), 0);
    *b = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_EQ(connect(*b, (struct sockaddr *)&sa, sl), 0);
    *a = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    ASSERT(*a >= 0);
    close(l);
}

static struct {
    struct tr_io io, io2;
    int peer;
    int step, events, eof, err;
    uint32_t last;
    char got[256];
    size_t ngot;
    size_t limit; /* read at most this much per callback (0: until again) */
    bool handed;
} sk;

static void on_step(struct tr_loop *loop, struct tr_timer *t);
static struct tr_timer step_timer = {.cb = on_step};

/* Reads until "again" (or sk.limit bytes), as every caller does. */
static void on_sock(struct tr_loop *loop, struct tr_io *io, uint32_t events)
{
    /* Edges for bytes are counted; EPOLLOUT alone (the socket is writable) may come at any
     * wake-up of the socket, with either engine. */
    if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
        return;
    sk.events++;
    sk.last = events;
    size_t taken = 0;
    for (;;) {
        char buf[7];
        size_t want = sizeof(buf);
        if (sk.limit && sk.limit - taken < want)
            want = sk.limit - taken;
        if (want == 0)
            break;
        ssize_t r = tr_sock_read(io->fd, NULL, buf, want);
        if (r > 0) {
            ASSERT(sk.ngot + (size_t)r < sizeof(sk.got));
            memcpy(sk.got + sk.ngot, buf, (size_t)r);
            sk.ngot += (size_t)r;
            taken += (size_t)r;
            continue;
        }
        if (r == 0)
            sk.eof++;
        else if (r == TR_SOCK_ERROR)
            sk.err = errno;
        break;
    }
    tr_timer_start(loop, &step_timer, 2); /* the next step, once this edge has settled */
}

static void send_all(int fd, const char *s)
{
    ASSERT_EQ(send(fd, s, strlen(s), 0), (ssize_t)strlen(s));
}

/* The script: each step runs once the events of the one before have come (or 2 ms passed). */
static void on_step(struct tr_loop *loop, struct tr_timer *t)
{
    (void)t;
    switch (sk.step++) {
    case 0: /* the first event reported what was there at registration */
        ASSERT_EQ(sk.events, 1);
        ASSERT_EQ(sk.ngot, 5);
        send_all(sk.peer, "fghijklmnop"); /* more than one read's worth: read until again */
        break;
    case 1:
        ASSERT_EQ(sk.events, 2);
        ASSERT(sk.last & EPOLLIN);
        ASSERT_EQ(sk.ngot, 16);
        /* Only 3 bytes a callback now: the rest waits, and no edge repeats it. */
        sk.limit = 3;
        send_all(sk.peer, "qrstuvwxyz");
        break;
    case 2:
        ASSERT_EQ(sk.events, 3);
        ASSERT_EQ(sk.ngot, 19);
        tr_timer_start(loop, &step_timer, 20);
        return; /* 20 ms with no new bytes: no event */
    case 3:
        ASSERT_EQ(sk.events, 3);
        /* Handed to another tr_io on the same socket (HTTP/1 to HTTP/2, the linger): the unread
         * bytes are reported at once, as EPOLL_CTL_ADD does. */
        tr_loop_del(loop, &sk.io);
        sk.io2 = (struct tr_io){.fd = sk.io.fd, .cb = on_sock};
        ASSERT_EQ(tr_loop_add(loop, &sk.io2, EPOLLIN | EPOLLOUT | EPOLLRDHUP), 0);
        sk.limit = 0;
        sk.handed = true;
        break;
    case 4:
        ASSERT_EQ(sk.events, 4);
        ASSERT_EQ(sk.ngot, 26);
        ASSERT(memcmp(sk.got, "abcdefghijklmnopqrstuvwxyz", 26) == 0);
        send_all(sk.peer, "!!");
        shutdown(sk.peer, SHUT_WR); /* bytes, then the EOF */
        break;
    case 5:
        ASSERT(sk.events >= 5);
        ASSERT(sk.last & EPOLLRDHUP);
        ASSERT_EQ(sk.ngot, 28);
        ASSERT_EQ(sk.eof, 1);
        ASSERT_EQ(sk.got[26], '!');
        tr_loop_stop(loop);
        return;
    }
}

static void edge_reads(void)
{
    memset(&sk, 0, sizeof(sk));
    struct tr_loop *loop = tr_loop_new();
    ASSERT_NOT_NULL(loop);
    int a;
    tcp_pair(&a, &sk.peer);
    send_all(sk.peer, "abcde"); /* before the registration */
    sk.io = (struct tr_io){.fd = a, .cb = on_sock};
    ASSERT_EQ(tr_loop_add(loop, &sk.io, EPOLLIN | EPOLLOUT | EPOLLRDHUP), 0);
    struct tr_timer dog = {.cb = on_watchdog};
    watchdog_fired = false;
    tr_timer_start(loop, &dog, 3000);
    ASSERT_EQ(tr_loop_run(loop), 0);
    ASSERT(!watchdog_fired);
    ASSERT_EQ(sk.step, 6);
    tr_timer_stop(loop, &dog);
    tr_timer_stop(loop, &step_timer);
    tr_loop_del(loop, &sk.io2);
    close(a);
    close(sk.peer);
    tr_loop_free(loop);
}

/* A reset peer: the read says TR_SOCK_ERROR with ECONNRESET, after the bytes sent before it. */
static void on_reset_step(struct tr_loop *loop, struct tr_timer *t)
{
    (void)t;
    if (sk.err || sk.eof)
        tr_loop_stop(loop);
    else
        tr_timer_start(loop, &step_timer, 2);
}

static void reset_peer(void)
{
    memset(&sk, 0, sizeof(sk));
    step_timer.cb = on_reset_step;
    struct tr_loop *loop = tr_loop_new();
    ASSERT_NOT_NULL(loop);
    int a;
    tcp_pair(&a, &sk.peer);
    sk.io = (struct tr_io){.fd = a, .cb = on_sock};
    ASSERT_EQ(tr_loop_add(loop, &sk.io, EPOLLIN | EPOLLOUT | EPOLLRDHUP), 0);
    send_all(sk.peer, "xyz");
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(sk.peer, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    usleep(5000);
    close(sk.peer); /* RST */
    struct tr_timer dog = {.cb = on_watchdog};
    watchdog_fired = false;
    tr_timer_start(loop, &dog, 3000);
    ASSERT_EQ(tr_loop_run(loop), 0);
    ASSERT(!watchdog_fired);
    ASSERT_EQ(sk.ngot, 3);
    ASSERT_EQ(sk.err, ECONNRESET);
    ASSERT(sk.last & (EPOLLERR | EPOLLHUP | EPOLLRDHUP));
    step_timer.cb = on_step;
    tr_timer_stop(loop, &dog);
    tr_timer_stop(loop, &step_timer);
    tr_loop_del(loop, &sk.io);
    close(a);
    tr_loop_free(loop);
}

/* Flow control both ways. Writes: a full socket says blocked, and EPOLLOUT comes once the peer
 * drains it. Reads: a callback that stops reading leaves the bytes in the kernel (bounded
 * buffering in torii), so the sender's socket fills as it does with epoll. */
static struct {
    struct tr_io io;
    int peer;
    int outs;
    bool blocked, drained;
    size_t wrote;
} fc;

static void on_fc(struct tr_loop *loop, struct tr_io *io, uint32_t events)
{
    if ((events & EPOLLOUT) && fc.drained) {
        fc.outs++;
        tr_loop_stop(loop);
    }
}

static void on_fc_drain(struct tr_loop *loop, struct tr_timer *t)
{
    (void)t;
    char buf[65536];
    size_t total = 0;
    ssize_t r;
    while (total < fc.wrote && (r = recv(fc.peer, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
        total += (size_t)r;
    fc.drained = true;
}

static void on_fc_fill(struct tr_loop *loop, struct tr_timer *t)
{
    static char chunk[65536];
    bool blocked = false;
    while (!blocked && fc.wrote < (64u << 20)) {
        ssize_t w = tr_sock_write(fc.io.fd, NULL, chunk, sizeof(chunk), &blocked);
        ASSERT(w >= 0);
        fc.wrote += (size_t)w;
    }
    fc.blocked = blocked;
    t->cb = on_fc_drain;
    tr_timer_start(loop, t, 5);
}

static size_t bytes_until_full(int fd)
{
    static char chunk[4096];
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    size_t sent = 0;
    for (int idle = 0; idle < 20;) {
        ssize_t w = send(fd, chunk, sizeof(chunk), MSG_DONTWAIT);
        if (w > 0) {
            sent += (size_t)w;
            idle = 0;
        } else {
            idle++;
            usleep(2000); /* let the loop take what it will */
        }
    }
    fcntl(fd, F_SETFL, fl);
    return sent;
}

static void *sender(void *arg)
{
    size_t *out = arg;
    *out = bytes_until_full(fc.peer);
    return NULL;
}

static void on_stop_timer(struct tr_loop *loop, struct tr_timer *t)
{
    (void)t;
    tr_loop_stop(loop);
}

static void on_ignore(struct tr_loop *loop, struct tr_io *io, uint32_t events)
{
    /* Reads once and stops: the owner's buffer is full (TR_SOCK_RD_FULL). */
    char buf[16];
    (void)tr_sock_read(io->fd, NULL, buf, sizeof(buf));
}

static void flow_control(void)
{
    memset(&fc, 0, sizeof(fc));
    struct tr_loop *loop = tr_loop_new();
    ASSERT_NOT_NULL(loop);
    int a;
    tcp_pair(&a, &fc.peer);
    fc.io = (struct tr_io){.fd = a, .cb = on_fc};
    ASSERT_EQ(tr_loop_add(loop, &fc.io, EPOLLIN | EPOLLOUT | EPOLLRDHUP), 0);
    struct tr_timer fill = {.cb = on_fc_fill}, dog = {.cb = on_watchdog};
    watchdog_fired = false;
    tr_timer_start(loop, &fill, 1);
    tr_timer_start(loop, &dog, 3000);
    ASSERT_EQ(tr_loop_run(loop), 0);
    ASSERT(!watchdog_fired);
    ASSERT(fc.blocked);
    ASSERT_EQ(fc.outs, 1);
    tr_timer_stop(loop, &dog);
    tr_loop_del(loop, &fc.io);

    /* Reads: the callback takes 16 bytes once and stops. What the sender gets into the pair
     * before its socket is full stays near the kernel's two socket buffers. */
    fc.io = (struct tr_io){.fd = a, .cb = on_ignore};
    ASSERT_EQ(tr_loop_add(loop, &fc.io, EPOLLIN | EPOLLOUT | EPOLLRDHUP), 0);
    size_t sent = 0;
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, sender, &sent), 0);
    struct tr_timer end = {.cb = on_stop_timer};
    tr_timer_start(loop, &end, 300);
    ASSERT_EQ(tr_loop_run(loop), 0);
    pthread_join(th, NULL);
    int rcv = 0, snd = 0;
    socklen_t ol = sizeof(rcv);
    getsockopt(a, SOL_SOCKET, SO_RCVBUF, &rcv, &ol);
    ol = sizeof(snd);
    getsockopt(fc.peer, SOL_SOCKET, SO_SNDBUF, &snd, &ol);
    /* The kernel's own buffers (with their overhead allowance) plus at most 64 KiB and a few
     * 8 KiB receive buffers of the io_uring engine's stash. */
    ASSERT(sent > 0);
    ASSERT(sent < (size_t)rcv + (size_t)snd + 65536 + 8 * 8192);
    tr_loop_del(loop, &fc.io);
    close(a);
    close(fc.peer);
    tr_loop_free(loop);
}

/* A tr_io deleted by an earlier callback of the same turn gets no callback, even though its
 * event was gathered. */
static struct {
    struct tr_io io[2];
    int calls[2];
} dl;

static void on_del_other(struct tr_loop *loop, struct tr_io *io, uint32_t events)
{
    int i = io == &dl.io[0] ? 0 : 1;
    dl.calls[i]++;
    tr_loop_del(loop, &dl.io[1 - i]);
    tr_loop_stop(loop);
}

static void del_in_turn(void)
{
    memset(&dl, 0, sizeof(dl));
    struct tr_loop *loop = tr_loop_new();
    ASSERT_NOT_NULL(loop);
    int a[2], b[2];
    for (int i = 0; i < 2; i++) {
        tcp_pair(&a[i], &b[i]);
        send_all(b[i], "x"); /* both ready in the first turn */
        dl.io[i] = (struct tr_io){.fd = a[i], .cb = on_del_other};
        ASSERT_EQ(tr_loop_add(loop, &dl.io[i], EPOLLIN), 0);
    }
    struct tr_timer dog = {.cb = on_watchdog};
    watchdog_fired = false;
    tr_timer_start(loop, &dog, 3000);
    ASSERT_EQ(tr_loop_run(loop), 0);
    ASSERT(!watchdog_fired);
    ASSERT_EQ(dl.calls[0] + dl.calls[1], 1);
    tr_timer_stop(loop, &dog);
    for (int i = 0; i < 2; i++) {
        if (dl.calls[i])
            tr_loop_del(loop, &dl.io[i]);
        close(a[i]);
        close(b[i]);
    }
    tr_loop_free(loop);
}

/* --- each case on each engine --- */

#define BOTH(name, fn)                                                                             \
    TEST(loop_##name)                                                                              \
    {                                                                                              \
        ASSERT(use_engine(TR_LOOP_EPOLL));                                                         \
        fn();                                                                                      \
    }                                                                                              \
    TEST(loop_uring_##name)                                                                        \
    {                                                                                              \
        if (use_engine(TR_LOOP_URING))                                                             \
            fn();                                                                                  \
        use_engine(TR_LOOP_EPOLL);                                                                 \
    }

BOTH(timers_fire_once_in_deadline_order, loop_timers_fire_once_in_deadline_order)
BOTH(timer_stopped_by_another_callback_never_fires, loop_timer_stopped_by_another_callback_never_fires)
BOTH(timer_restarted_from_callbacks, loop_timer_restarted_from_callbacks)
BOTH(defers_run_at_end_of_turn_in_order, loop_defers_run_at_end_of_turn_in_order)
BOTH(wake_from_another_thread, loop_wake_from_another_thread)
BOTH(edge_reads_until_again_and_hand_over, edge_reads)
BOTH(reset_peer_is_an_error_after_the_bytes, reset_peer)
BOTH(flow_control_both_ways, flow_control)
BOTH(del_skips_the_turns_pending_event, del_in_turn)
