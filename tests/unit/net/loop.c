/* The event loop's timers, end-of-turn callbacks and cross-thread wake-ups (src/net/loop.c,
 * docs/internals/loop.md), through loop.h and on the real clock: no time seam is needed. Turns
 * are driven by tr_loop_wake from the loop's own thread (a turn then costs microseconds), with
 * a 1 ms pause now and then so that the clock moves: the property test's 10,000 operations take
 * a few hundred milliseconds. No test sleeps longer than 20 ms.
 *
 * What loop.c promises of timers, and the tests check: a timer fires once per start, in the
 * first turn whose cached time (tr_loop_now) has reached its deadline (the time at the start +
 * ms), never before, and disarmed; timers fire in deadline order, equal deadlines in no
 * particular order (a binary heap is not stable); a stopped timer never fires. */
#include "test.h"

#include "net/loop.h"

#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

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

TEST(loop_timers_fire_once_in_deadline_order)
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

TEST(loop_timer_stopped_by_another_callback_never_fires)
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

TEST(loop_timer_restarted_from_callbacks)
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

TEST(loop_defers_run_at_end_of_turn_in_order)
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

TEST(loop_wake_from_another_thread)
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
