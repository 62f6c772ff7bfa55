/* bench-load: keep-alive HTTP/1.1 load that counts every failure (bench/run.sh flips, soak).
 *
 * Opens --conns connections to --addr and keeps them open, each sending GET --path with Host
 * --host (an int conversion in it, "%d" or "%05d", becomes the connection's number modulo
 * --hosts), one request at a time: right after the previous answer (--interval-ms 0, closed
 * loop), or every --interval-ms, the connections spread evenly over the interval. A connection that breaks is counted and opened
 * again. Runs --duration seconds, or until SIGTERM/SIGINT; then stops sending, waits up to 2 s
 * for the answers in flight, and prints a summary ("key value" lines) on stdout.
 *
 * Printed on stdout as it happens: "ready N SECONDS" once every connection has had its first
 * answer. --timeline FILE gets one line a second: "second sent answered 200 non200 errors
 * open". --switch-log FILE gets "MONOTONIC_SECONDS BODY_BYTES" each time a 200's body length
 * differs from the previous 200's (which backend answered, when backends differ in --size).
 *
 * Errors: connect failures; resets (ECONNRESET, EPIPE); the server closing a connection without
 * saying so (EOF, with or without a request in flight); answers not received within
 * --timeout-ms; malformed answers. Answers with "Connection: close" are counted apart, not as
 * errors.
 *
 *   bench-load --addr 127.0.0.1:18110 --conns 64 [--interval-ms 0] [--duration 10] [--host H]
 *              [--hosts K] [--path /] [--timeout-ms 5000] [--timeline FILE] [--switch-log FILE]
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "addr.h"
#include "http1.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define BUF 65536
#define MAX_EVENTS 256

enum cstate { C_CLOSED, C_CONNECTING, C_IDLE, C_WAITING };

struct conn {
    int id;
    int fd, tfd;
    enum cstate st;
    bool answered; /* has had an answer since the start (for "ready") */
    int64_t sent_us, next_us;
    char req[512];
    int req_len;
    size_t len;
    char *buf;
};

static struct sockaddr_in g_addr;
static int g_ep;
static int g_interval_ms, g_timeout_ms, g_nconns;
static bool g_stopping;
static FILE *g_switch;
static size_t g_last_size = (size_t)-1;

/* Counters. */
static long long c_sent, c_answers, c_status[600], c_connect_err, c_reset, c_eof_busy, c_eof_idle, c_timeout,
    c_malformed, c_conn_close, c_reconnects, c_open;
static long long sec_sent, sec_answers, sec_200, sec_non200, sec_errors;

/* Body lengths of 200 answers (a few distinct values expected). */
#define NSIZES 16
static size_t sizes[NSIZES];
static long long size_count[NSIZES];
static int nsizes;
static long long size_other;

/* Latency histogram: 1 us steps to 1 ms, 10 us to 100 ms, 1 ms to 100 s. */
#define H1 1000
#define H2 (H1 + 9900)
#define H3 (H2 + 99900)
static long long hist[H3 + 1];

static int64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int hbucket(int64_t us) {
    if (us < 0)
        us = 0;
    if (us < 1000)
        return (int)us;
    if (us < 100000)
        return H1 + (int)((us - 1000) / 10);
    if (us < 100000000)
        return H2 + (int)((us - 100000) / 1000);
    return H3;
}

static int64_t hvalue(int b) {
    if (b < H1)
        return b;
    if (b < H2)
        return 1000 + (int64_t)(b - H1) * 10;
    return 100000 + (int64_t)(b - H2) * 1000;
}

static int64_t percentile(double q) {
    long long total = 0;
    for (int i = 0; i <= H3; i++)
        total += hist[i];
    if (!total)
        return 0;
    long long want = (long long)(q * (double)total + 0.5), cum = 0;
    if (want < 1)
        want = 1;
    for (int i = 0; i <= H3; i++) {
        cum += hist[i];
        if (cum >= want)
            return hvalue(i);
    }
    return hvalue(H3);
}

static void arm(int tfd, int64_t at_us) {
    /* at_us on CLOCK_MONOTONIC, absolute; 0 disarms. A time already past fires at once. */
    struct itimerspec its = {0};
    if (at_us > 0) {
        its.it_value.tv_sec = at_us / 1000000;
        its.it_value.tv_nsec = (long)(at_us % 1000000) * 1000;
        if (!its.it_value.tv_sec && !its.it_value.tv_nsec)
            its.it_value.tv_nsec = 1;
    }
    timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void ep_set(int fd, uint32_t events, uint64_t data, bool add) {
    struct epoll_event ev = {.events = events, .data.u64 = data};
    if (epoll_ctl(g_ep, add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev) != 0) {
        perror("epoll_ctl");
        exit(1);
    }
}

/* epoll data: connection number * 2, +1 for its timer. */
static uint64_t key(const struct conn *c, bool timer) {
    return (uint64_t)c->id * 2 + (timer ? 1 : 0);
}

static void conn_open(struct conn *c) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        perror("socket");
        exit(1);
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->fd = fd;
    c->len = 0;
    if (connect(fd, (struct sockaddr *)&g_addr, sizeof g_addr) != 0 && errno != EINPROGRESS) {
        c_connect_err++;
        sec_errors++;
        close(fd);
        c->fd = -1;
        c->st = C_CLOSED;
        arm(c->tfd, now_us() + 100000); /* try again in 100 ms */
        return;
    }
    c->st = C_CONNECTING;
    ep_set(fd, EPOLLOUT, key(c, false), true);
}

/* Closes the connection and opens another (unless stopping). */
static void conn_replace(struct conn *c) {
    epoll_ctl(g_ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    c->st = C_CLOSED;
    arm(c->tfd, 0);
    if (!g_stopping) {
        c_reconnects++;
        conn_open(c);
    }
}

/* The connection is gone: count it and open another (unless stopping). */
static void conn_lost(struct conn *c, long long *counter) {
    (*counter)++;
    sec_errors++;
    if (c->st == C_IDLE || c->st == C_WAITING)
        c_open--;
    conn_replace(c);
}

static void send_req(struct conn *c) {
    int64_t t = now_us();
    ssize_t w = send(c->fd, c->req, (size_t)c->req_len, MSG_NOSIGNAL);
    if (w != c->req_len) {
        /* The request is tiny and the socket idle: a short write means the socket is broken. */
        conn_lost(c, &c_reset);
        return;
    }
    c_sent++;
    sec_sent++;
    c->sent_us = t;
    c->st = C_WAITING;
    if (g_interval_ms > 0)
        c->next_us += (int64_t)g_interval_ms * 1000;
    arm(c->tfd, t + (int64_t)g_timeout_ms * 1000); /* the answer's deadline */
}

static void answered(struct conn *c, const struct h1_resp *r) {
    int64_t t = now_us();
    c_answers++;
    sec_answers++;
    hist[hbucket(t - c->sent_us)]++;
    c_status[r->status >= 0 && r->status < 600 ? r->status : 0]++;
    if (r->status == 200) {
        sec_200++;
        int i;
        for (i = 0; i < nsizes && sizes[i] != r->body_len; i++) {
        }
        if (i < nsizes)
            size_count[i]++;
        else if (nsizes < NSIZES) {
            sizes[nsizes] = r->body_len;
            size_count[nsizes++] = 1;
        } else
            size_other++;
        if (g_switch && r->body_len != g_last_size)
            fprintf(g_switch, "%.6f %zu\n", (double)t / 1e6, r->body_len);
        g_last_size = r->body_len;
    } else
        sec_non200++;
    c->answered = true;
    c->st = C_IDLE;
    if (r->close) {
        c_conn_close++;
        c_open--;
        conn_replace(c);
        return;
    }
    if (g_stopping) {
        arm(c->tfd, 0);
        return;
    }
    if (g_interval_ms == 0)
        send_req(c);
    else {
        if (c->next_us < t)
            c->next_us = t; /* late: send now, and keep the interval from here */
        arm(c->tfd, c->next_us);
    }
}

static void on_socket(struct conn *c, uint32_t events) {
    if (c->st == C_CONNECTING) {
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err) {
            c_connect_err++;
            sec_errors++;
            epoll_ctl(g_ep, EPOLL_CTL_DEL, c->fd, NULL);
            close(c->fd);
            c->fd = -1;
            c->st = C_CLOSED;
            if (!g_stopping)
                arm(c->tfd, now_us() + 100000);
            return;
        }
        c->st = C_IDLE;
        c_open++;
        ep_set(c->fd, EPOLLIN | EPOLLRDHUP, key(c, false), false);
        if (g_stopping)
            return;
        if (g_interval_ms == 0)
            send_req(c);
        else {
            /* Spread the connections over the interval. */
            int64_t t = now_us(), iv = (int64_t)g_interval_ms * 1000;
            if (!c->answered)
                c->next_us = t + iv * c->id / g_nconns;
            else
                c->next_us = t;
            arm(c->tfd, c->next_us);
        }
        return;
    }
    (void)events;
    for (;;) {
        ssize_t r = recv(c->fd, c->buf + c->len, BUF - c->len, 0);
        if (r == 0) {
            conn_lost(c, c->st == C_WAITING ? &c_eof_busy : &c_eof_idle);
            return;
        }
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            conn_lost(c, &c_reset);
            return;
        }
        c->len += (size_t)r;
        for (;;) {
            if (c->st != C_WAITING) {
                if (c->len) { /* bytes nobody asked for */
                    conn_lost(c, &c_malformed);
                    return;
                }
                break;
            }
            struct h1_resp resp;
            long k = h1_response(c->buf, c->len, &resp);
            if (k < 0 || (k == 0 && c->len == BUF)) {
                conn_lost(c, &c_malformed);
                return;
            }
            if (k == 0)
                break;
            memmove(c->buf, c->buf + k, c->len - (size_t)k);
            c->len -= (size_t)k;
            int fd = c->fd;
            answered(c, &resp);
            if (c->fd != fd)
                return; /* closed (and maybe reopened) */
        }
    }
}

static void on_timer(struct conn *c) {
    uint64_t n;
    if (read(c->tfd, &n, sizeof n) != (ssize_t)sizeof n)
        return;
    switch (c->st) {
    case C_CLOSED:
        if (!g_stopping)
            conn_open(c);
        break;
    case C_IDLE:
        if (!g_stopping)
            send_req(c);
        break;
    case C_WAITING:
        conn_lost(c, &c_timeout);
        break;
    case C_CONNECTING:
        break;
    }
}

static void usage(void) {
    fprintf(stderr, "usage: bench-load --addr HOST:PORT --conns N [--interval-ms 0] [--duration SECONDS]\n"
                    "                  [--host H] [--hosts K] [--path /] [--timeout-ms 5000]\n"
                    "                  [--timeline FILE] [--switch-log FILE]\n");
    exit(2);
}

int main(int argc, char **argv) {
    const char *addr = NULL, *host = "localhost", *path = "/", *timeline = NULL, *switch_log = NULL;
    int nconns = 0, hosts = 1;
    double duration = 0;
    g_timeout_ms = 5000;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--addr") && i + 1 < argc)
            addr = argv[++i];
        else if (!strcmp(argv[i], "--conns") && i + 1 < argc)
            nconns = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--interval-ms") && i + 1 < argc)
            g_interval_ms = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--duration") && i + 1 < argc)
            duration = atof(argv[++i]);
        else if (!strcmp(argv[i], "--host") && i + 1 < argc)
            host = argv[++i];
        else if (!strcmp(argv[i], "--hosts") && i + 1 < argc)
            hosts = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--path") && i + 1 < argc)
            path = argv[++i];
        else if (!strcmp(argv[i], "--timeout-ms") && i + 1 < argc)
            g_timeout_ms = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--timeline") && i + 1 < argc)
            timeline = argv[++i];
        else if (!strcmp(argv[i], "--switch-log") && i + 1 < argc)
            switch_log = argv[++i];
        else
            usage();
    }
    if (!addr || nconns < 1 || hosts < 1 || g_interval_ms < 0 || g_timeout_ms < 1)
        usage();
    g_nconns = nconns;
    if (!bench_addr(addr, &g_addr))
        usage();
    FILE *tl = NULL;
    if (timeline && !(tl = fopen(timeline, "w"))) {
        perror(timeline);
        return 1;
    }
    if (switch_log && !(g_switch = fopen(switch_log, "w"))) {
        perror(switch_log);
        return 1;
    }

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    int tick = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    g_ep = epoll_create1(EPOLL_CLOEXEC);
    if (sfd < 0 || tick < 0 || g_ep < 0) {
        perror("setup");
        return 1;
    }
    /* Special keys above every connection's. */
    const uint64_t K_SIGNAL = (uint64_t)nconns * 2, K_TICK = K_SIGNAL + 1;
    ep_set(sfd, EPOLLIN, K_SIGNAL, true);
    ep_set(tick, EPOLLIN, K_TICK, true);
    struct itimerspec its = {{1, 0}, {1, 0}};
    timerfd_settime(tick, 0, &its, NULL);

    struct conn *conns = calloc((size_t)nconns, sizeof *conns);
    if (!conns) {
        perror("calloc");
        return 1;
    }
    int64_t start = now_us();
    for (int i = 0; i < nconns; i++) {
        struct conn *c = &conns[i];
        c->id = i;
        c->buf = malloc(BUF);
        c->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
        if (!c->buf || c->tfd < 0) {
            perror("timerfd_create");
            return 1;
        }
        ep_set(c->tfd, EPOLLIN, key(c, true), true);
        char h[256];
        if (strchr(host, '%'))
            snprintf(h, sizeof h, host, i % hosts);
        else
            snprintf(h, sizeof h, "%s", host);
        c->req_len = snprintf(c->req, sizeof c->req, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: bench-load\r\n\r\n",
                              path, h);
        if (c->req_len <= 0 || (size_t)c->req_len >= sizeof c->req)
            usage();
        conn_open(c);
    }

    bool ready = false;
    int64_t stop_at = 0, seconds = 0;
    struct epoll_event evs[MAX_EVENTS];
    for (;;) {
        int n = epoll_wait(g_ep, evs, MAX_EVENTS, g_stopping ? 50 : -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            uint64_t k = evs[i].data.u64;
            if (k == K_SIGNAL) {
                struct signalfd_siginfo si;
                while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
                }
                if (!g_stopping) {
                    g_stopping = true;
                    stop_at = now_us();
                }
            } else if (k == K_TICK) {
                uint64_t x;
                if (read(tick, &x, sizeof x) != (ssize_t)sizeof x)
                    continue;
                seconds++;
                if (tl) {
                    fprintf(tl, "%lld %lld %lld %lld %lld %lld %lld\n", (long long)seconds, sec_sent, sec_answers, sec_200,
                            sec_non200, sec_errors, c_open);
                    fflush(tl);
                }
                sec_sent = sec_answers = sec_200 = sec_non200 = sec_errors = 0;
                if (duration > 0 && !g_stopping && now_us() - start >= (int64_t)(duration * 1e6)) {
                    g_stopping = true;
                    stop_at = now_us();
                }
            } else {
                struct conn *c = &conns[k / 2];
                if (k & 1)
                    on_timer(c);
                else if (c->fd >= 0)
                    on_socket(c, evs[i].events);
            }
        }
        if (!ready) {
            int done = 0;
            for (int i = 0; i < nconns; i++)
                done += conns[i].answered;
            if (done == nconns) {
                ready = true;
                printf("ready %d %.1fs\n", nconns, (double)(now_us() - start) / 1e6);
                fflush(stdout);
            }
        }
        if (g_stopping) {
            int busy = 0;
            for (int i = 0; i < nconns; i++)
                busy += conns[i].st == C_WAITING || conns[i].st == C_CONNECTING;
            if (!busy || now_us() - stop_at > 2000000)
                break;
        }
    }
    long long in_flight = 0;
    for (int i = 0; i < nconns; i++)
        in_flight += conns[i].st == C_WAITING;
    double secs = (double)(now_us() - start) / 1e6;
    long long non200 = c_answers - c_status[200];
    long long errors = c_connect_err + c_reset + c_eof_busy + c_eof_idle + c_timeout + c_malformed + in_flight;
    printf("conns %d\nseconds %.1f\nsent %lld\nanswers %lld\nstatus_200 %lld\nnon200 %lld\n", nconns, secs, c_sent,
           c_answers, c_status[200], non200);
    for (int s = 0; s < 600; s++)
        if (s != 200 && c_status[s])
            printf("status %d %lld\n", s, c_status[s]);
    for (int i = 0; i < nsizes; i++)
        printf("size %zu %lld\n", sizes[i], size_count[i]);
    if (size_other)
        printf("size other %lld\n", size_other);
    printf("connect_errors %lld\nresets %lld\neof_in_flight %lld\neof_idle %lld\ntimeouts %lld\nmalformed %lld\n"
           "unanswered_at_end %lld\nconnection_close %lld\nreconnects %lld\nerrors %lld\nopen_at_end %lld\n",
           c_connect_err, c_reset, c_eof_busy, c_eof_idle, c_timeout, c_malformed, in_flight, c_conn_close,
           c_reconnects, errors, c_open);
    printf("latency_p50_us %lld\nlatency_p99_us %lld\nlatency_p999_us %lld\nlatency_max_us %lld\n",
           (long long)percentile(0.5), (long long)percentile(0.99), (long long)percentile(0.999),
           (long long)percentile(1.0));
    if (tl)
        fclose(tl);
    if (g_switch)
        fclose(g_switch);
    return 0;
}
