/* bench-latprobe: an open-loop HTTP/1.1 latency probe (bench/run.sh latency).
 *
 * Sends GET --path with Host --host to --connect at a fixed rate (--rate requests a second,
 * evenly spaced, or with --poisson exponentially distributed gaps of the same mean) for
 * --duration seconds, over --conns keep-alive connections, one request at a time on each.
 * Each request has a scheduled send time, fixed in advance and independent of the answers; its
 * latency is measured with CLOCK_MONOTONIC from that scheduled time to the moment its whole
 * answer has been read. So a slow answer delays nothing else and no stall goes unseen
 * (coordinated omission): when every connection is busy, a request waits for one in a FIFO
 * and that wait is part of its latency, as is any lateness of the probe itself in sending.
 *
 * Requests scheduled in the first --warmup seconds are sent but not counted. After the last
 * scheduled send, the probe goes on --timeout seconds more. A request in flight for longer
 * than that counts as an error ("timeouts"). Requests still waiting for a connection at the
 * end were never sent ("unsent"), and those sent less than --timeout before it were cut off
 * ("cut_off"): the server fell behind the rate. Neither is an error, and neither is in the
 * percentiles: with any of them, the percentiles are those of the requests answered. A
 * connection that breaks (reset, the server closing it with a request in flight, a malformed
 * answer) counts an error for its request and is opened again. Answers with "Connection:
 * close" are fine but cost a new connection.
 *
 * Prints "key value" lines on stdout: the target and achieved rates, counts, the latency
 * percentiles p50, p90, p99, p99.9, max and the mean in microseconds, how late the probe
 * itself sent ("send_lag_*": scheduled time to write(), for the requests that found a free
 * connection; large values mean the probe's CPU could not keep up and the latencies are the
 * probe's as much as the server's), and the probe's own CPU time (client_cpu_s).
 *
 *   bench-latprobe --connect 127.0.0.1:18100 --rate 20000 [--duration 10] [--warmup 1]
 *                  [--conns 64] [--poisson] [--host bench.example] [--path /] [--timeout 5]
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "addr.h"
#include "http1.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define BUF 65536
#define MAX_EVENTS 256

/* How far the answer on a connection has been read. */
enum rstate {
    R_HEAD,       /* up to the blank line */
    R_BODY,       /* `left` bytes of a Content-Length body */
    R_CHUNK_SIZE, /* a chunk-size line */
    R_CHUNK_DATA, /* `left` bytes of chunk data */
    R_CHUNK_CRLF, /* the line end after chunk data */
    R_TRAILER,    /* trailer lines, up to the empty one */
};

struct conn {
    int fd;
    unsigned gen;    /* bumped each time the connection is opened again */
    bool busy;       /* a request is in flight */
    int64_t sched;   /* its scheduled send time, ns */
    int64_t sent_at; /* when it was written */
    bool counted;    /* it is in the measured window */
    enum rstate rs;
    int status;
    bool close_after;
    uint64_t left;
    size_t len;      /* R_HEAD: bytes of the head so far in buf */
    size_t line_len; /* chunked: bytes of the current line so far */
    char line[256];
    char buf[BUF];
};

static struct sockaddr_in g_addr;
static char g_req[1024];
static size_t g_req_len;
static struct conn *g_conns;
static int g_nconns;
static int g_ep;
static struct conn **g_idle; /* stack of idle connections */
static int g_nidle;

/* Requests waiting for a free connection: scheduled time and whether counted (FIFO ring). */
struct waiting {
    int64_t sched;
    bool counted;
};
static struct waiting *g_queue;
static size_t g_qcap, g_qhead, g_qlen;

/* Results of the measured window. */
static int64_t *g_lat, *g_lag;
static size_t g_nlat, g_caplat, g_nlag, g_caplag;
static uint64_t g_scheduled, g_sent, g_answered, g_non200, g_errors, g_dropped, g_queued, g_reconnects, g_closes;
static int64_t g_first_sched = -1, g_last_sched, g_last_answer;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what) {
    perror(what);
    exit(1);
}

static void push(int64_t **a, size_t *n, size_t *cap, int64_t v) {
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 65536;
        *a = realloc(*a, *cap * sizeof **a);
        if (!*a)
            die("realloc");
    }
    (*a)[(*n)++] = v;
}

static void conn_open(struct conn *c) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket");
    if (connect(fd, (struct sockaddr *)&g_addr, sizeof g_addr) < 0)
        die("connect");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    c->fd = fd;
    c->gen++;
    c->busy = false;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
    if (epoll_ctl(g_ep, EPOLL_CTL_ADD, fd, &ev) < 0)
        die("epoll_ctl");
}

/* Writes the request on idle connection c for a request scheduled at sched; waited: it had to
 * wait for a free connection (its lateness is then not the probe's). */
static void conn_send(struct conn *c, int64_t sched, bool counted, bool waited) {
    c->busy = true;
    c->sched = sched;
    c->counted = counted;
    c->rs = R_HEAD;
    c->len = 0;
    c->status = 0;
    c->close_after = false;
    ssize_t n = write(c->fd, g_req, g_req_len);
    c->sent_at = now_ns();
    if (counted) {
        g_sent++;
        if (!waited)
            push(&g_lag, &g_nlag, &g_caplag, c->sent_at - sched);
    }
    /* One small request on a connection with nothing else in flight: the socket buffer takes
     * it whole, or the connection is broken (the read side will say so). */
    if (n != (ssize_t)g_req_len && counted)
        g_errors++, c->counted = false;
}

/* A request is due: on an idle connection, or it waits for one. */
static void dispatch(int64_t sched, bool counted) {
    if (counted) {
        if (g_first_sched < 0)
            g_first_sched = sched;
        g_last_sched = sched;
        g_scheduled++;
    }
    if (g_qlen == 0 && g_nidle > 0) {
        conn_send(g_idle[--g_nidle], sched, counted, false);
        return;
    }
    if (g_qlen == g_qcap) {
        if (counted)
            g_dropped++;
        return;
    }
    if (counted)
        g_queued++;
    g_queue[(g_qhead + g_qlen++) % g_qcap] = (struct waiting){sched, counted};
}

/* Connection c is free again: the oldest waiting request goes on it, else it is idle. */
static void conn_free(struct conn *c) {
    c->busy = false;
    if (g_qlen > 0) {
        struct waiting w = g_queue[g_qhead];
        g_qhead = (g_qhead + 1) % g_qcap;
        g_qlen--;
        conn_send(c, w.sched, w.counted, true);
    } else
        g_idle[g_nidle++] = c;
}

/* Closes c and opens it again; error: it broke (its request, if any, counts as an error). */
static void conn_reopen(struct conn *c, bool error) {
    if (c->busy && c->counted && error)
        g_errors++;
    if (!c->busy) /* it is on the idle stack */
        for (int i = 0; i < g_nidle; i++)
            if (g_idle[i] == c) {
                g_idle[i] = g_idle[--g_nidle];
                break;
            }
    epoll_ctl(g_ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    g_reconnects += error;
    conn_open(c);
    conn_free(c);
}

/* The answer on c is complete. */
static void answered(struct conn *c, int64_t t) {
    if (c->counted) {
        g_answered++;
        if (c->status != 200)
            g_non200++;
        push(&g_lat, &g_nlat, &g_caplat, t - c->sched);
        g_last_answer = t;
    }
    if (c->close_after) {
        g_closes++;
        c->busy = false;
        conn_reopen(c, false);
    } else
        conn_free(c);
}

/* Parses the head in c->buf[0, len) (ending with the blank line). False if malformed. */
static bool parse_head(struct conn *c, size_t len) {
    const char *p = c->buf, *end = c->buf + len;
    if (len < 12 || strncmp(p, "HTTP/1.", 7) != 0)
        return false;
    bool http10 = p[7] == '0';
    c->status = atoi(p + 9);
    bool have_cl = false, chunked = false, keep_alive = false;
    uint64_t cl = 0;
    p = memchr(p, '\n', (size_t)(end - p)) + 1;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *le = eol > p && eol[-1] == '\r' ? eol - 1 : eol;
        const char *v;
        if ((v = h1_header_value(p, le, "Content-Length"))) {
            have_cl = true;
            cl = strtoull(v, NULL, 10);
        } else if ((v = h1_header_value(p, le, "Transfer-Encoding"))) {
            chunked = memmem(v, (size_t)(le - v), "chunked", 7) != NULL;
        } else if ((v = h1_header_value(p, le, "Connection"))) {
            if (memmem(v, (size_t)(le - v), "close", 5) || strncasecmp(v, "close", 5) == 0)
                c->close_after = true;
            if (strncasecmp(v, "keep-alive", 10) == 0)
                keep_alive = true;
        }
        p = eol + 1;
    }
    if (http10 && !keep_alive)
        c->close_after = true;
    if (c->status == 204 || c->status == 304 || (c->status >= 100 && c->status < 200)) {
        c->left = 0;
        c->rs = R_BODY;
    } else if (chunked) {
        c->rs = R_CHUNK_SIZE;
        c->line_len = 0;
    } else if (have_cl) {
        c->left = cl;
        c->rs = R_BODY;
    } else
        return false; /* delimited by the end of the connection: not for keep-alive */
    return true;
}

/* Consumes bytes [p, end) of the answer on c. Returns how many were used, or -1 if malformed.
 * Sets *done when the answer is complete. */
static ssize_t consume(struct conn *c, const char *p, const char *end, bool *done) {
    const char *start = p;
    *done = false;
    while (p < end && !*done) {
        switch (c->rs) {
        case R_HEAD: {
            size_t room = BUF - c->len;
            size_t n = (size_t)(end - p) < room ? (size_t)(end - p) : room;
            if (n == 0)
                return -1; /* head larger than the buffer */
            /* Look for the blank line, including across the previous read. */
            size_t from = c->len >= 3 ? c->len - 3 : 0;
            memcpy(c->buf + c->len, p, n);
            c->len += n;
            char *blank = memmem(c->buf + from, c->len - from, "\r\n\r\n", 4);
            if (!blank) {
                p += n;
                break;
            }
            size_t head_len = (size_t)(blank + 4 - c->buf);
            size_t extra = c->len - head_len; /* bytes after the head in this read */
            p += n - extra;
            if (!parse_head(c, head_len))
                return -1;
            if (c->rs == R_BODY && c->left == 0)
                *done = true;
            break;
        }
        case R_BODY:
        case R_CHUNK_DATA: {
            uint64_t n = (uint64_t)(end - p) < c->left ? (uint64_t)(end - p) : c->left;
            p += n;
            c->left -= n;
            if (c->left == 0) {
                if (c->rs == R_BODY)
                    *done = true;
                else {
                    c->rs = R_CHUNK_CRLF;
                    c->line_len = 0;
                }
            }
            break;
        }
        case R_CHUNK_SIZE:
        case R_CHUNK_CRLF:
        case R_TRAILER: {
            char ch = *p++;
            if (ch != '\n') {
                if (c->line_len + 1 >= sizeof c->line)
                    return -1;
                c->line[c->line_len++] = ch;
                break;
            }
            if (c->line_len > 0 && c->line[c->line_len - 1] == '\r')
                c->line_len--;
            c->line[c->line_len] = 0;
            size_t ll = c->line_len;
            c->line_len = 0;
            if (c->rs == R_CHUNK_CRLF) {
                if (ll != 0)
                    return -1;
                c->rs = R_CHUNK_SIZE;
            } else if (c->rs == R_CHUNK_SIZE) {
                char *e;
                c->left = strtoull(c->line, &e, 16);
                if (e == c->line)
                    return -1;
                c->rs = c->left ? R_CHUNK_DATA : R_TRAILER;
            } else if (ll == 0)
                *done = true;
            break;
        }
        }
    }
    return p - start;
}

static void on_readable(struct conn *c) {
    char in[BUF];
    for (;;) {
        ssize_t n = read(c->fd, in, sizeof in);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            if (errno == EINTR)
                continue;
            conn_reopen(c, true);
            return;
        }
        if (n == 0) {
            /* The server closed: an error if an answer was due, else a quiet reconnect. */
            conn_reopen(c, c->busy);
            return;
        }
        int64_t t = now_ns();
        const char *p = in, *end = in + n;
        while (p < end) {
            if (!c->busy) {
                g_errors++; /* bytes nobody asked for */
                conn_reopen(c, true);
                return;
            }
            bool done;
            ssize_t used = consume(c, p, end, &done);
            if (used < 0) {
                conn_reopen(c, true);
                return;
            }
            p += used;
            if (done) {
                unsigned gen = c->gen;
                answered(c, t);
                if (c->gen != gen)
                    return; /* opened again after "Connection: close" */
            }
        }
        if ((size_t)n < sizeof in)
            return;
    }
}

static int cmp64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The q-quantile (0..1) of sorted v[0, n), nearest rank, in µs. */
static double quantile_us(const int64_t *v, size_t n, double q) {
    if (n == 0)
        return 0;
    size_t k = (size_t)ceil(q * (double)n);
    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    return (double)v[k - 1] / 1000.0;
}

static void usage(void) {
    fprintf(stderr,
            "usage: bench-latprobe --connect ADDR:PORT --rate REQ_PER_S [--duration S] [--warmup S]\n"
            "                      [--conns N] [--poisson] [--host H] [--path P] [--timeout S]\n");
    exit(2);
}

int main(int argc, char **argv) {
    const char *connect_to = NULL, *host = "bench.example", *path = "/";
    double rate = 0, duration = 10, warmup = 1, timeout = 5;
    int conns = 64;
    bool poisson = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool more = i + 1 < argc;
        if (!strcmp(a, "--connect") && more)
            connect_to = argv[++i];
        else if (!strcmp(a, "--rate") && more)
            rate = atof(argv[++i]);
        else if (!strcmp(a, "--duration") && more)
            duration = atof(argv[++i]);
        else if (!strcmp(a, "--warmup") && more)
            warmup = atof(argv[++i]);
        else if (!strcmp(a, "--timeout") && more)
            timeout = atof(argv[++i]);
        else if (!strcmp(a, "--conns") && more)
            conns = atoi(argv[++i]);
        else if (!strcmp(a, "--host") && more)
            host = argv[++i];
        else if (!strcmp(a, "--path") && more)
            path = argv[++i];
        else if (!strcmp(a, "--poisson"))
            poisson = true;
        else
            usage();
    }
    if (!connect_to || rate <= 0 || duration <= 0 || warmup < 0 || conns < 1 || timeout < 0)
        usage();
    if (!bench_addr(connect_to, &g_addr))
        usage();
    int rl = snprintf(g_req, sizeof g_req, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: bench-latprobe\r\n\r\n",
                      path, host);
    if (rl < 0 || (size_t)rl >= sizeof g_req)
        usage();
    g_req_len = (size_t)rl;
    signal(SIGPIPE, SIG_IGN);
    /* Timer expiries as close to the schedule as the kernel can: no 50 µs slack. */
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);

    g_ep = epoll_create1(EPOLL_CLOEXEC);
    if (g_ep < 0)
        die("epoll_create1");
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (tfd < 0)
        die("timerfd_create");
    struct epoll_event tev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(g_ep, EPOLL_CTL_ADD, tfd, &tev);

    g_nconns = conns;
    g_conns = calloc((size_t)conns, sizeof *g_conns);
    g_idle = calloc((size_t)conns, sizeof *g_idle);
    g_qcap = (size_t)(rate * (duration + warmup)) + 16;
    g_queue = calloc(g_qcap, sizeof *g_queue);
    if (!g_conns || !g_idle || !g_queue)
        die("calloc");
    for (int i = 0; i < conns; i++) {
        conn_open(&g_conns[i]);
        g_idle[g_nidle++] = &g_conns[i];
    }

    uint64_t total = (uint64_t)llround(rate * (duration + warmup));
    double gap = 1e9 / rate;
    int64_t start = now_ns() + 10000000; /* 10 ms from now */
    int64_t measure_from = start + (int64_t)(warmup * 1e9);
    uint64_t seed = (uint64_t)start ^ 0x9e3779b97f4a7c15ull;
    double t_next = 0; /* ns after start of the next request */
    uint64_t issued = 0;
    int64_t armed = -1, deadline = -1;
    struct epoll_event evs[MAX_EVENTS];

    for (;;) {
        int64_t now = now_ns();
        while (issued < total && start + (int64_t)t_next <= now) {
            int64_t sched = start + (int64_t)t_next;
            dispatch(sched, sched >= measure_from);
            issued++;
            if (poisson) {
                seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17; /* xorshift64 */
                double u = ((double)(seed >> 11) + 0.5) / 9007199254740992.0;
                t_next += -log(u) * gap;
            } else
                t_next = (double)issued * gap;
        }
        int wait_ms = -1;
        if (issued < total) {
            int64_t next = start + (int64_t)t_next;
            if (next != armed) {
                struct itimerspec its = {.it_value = {.tv_sec = next / 1000000000, .tv_nsec = next % 1000000000}};
                timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
                armed = next;
            }
        } else {
            if (g_nidle == g_nconns && g_qlen == 0)
                break;
            if (deadline < 0)
                deadline = now + (int64_t)(timeout * 1e9);
            if (now >= deadline)
                break;
            wait_ms = (int)((deadline - now) / 1000000) + 1;
        }
        int n = epoll_wait(g_ep, evs, MAX_EVENTS, wait_ms);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (!c) {
                uint64_t x;
                while (read(tfd, &x, sizeof x) > 0) {
                }
                continue;
            }
            if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
                on_readable(c);
        }
    }

    /* Whatever is still in flight at the end never got an answer; what is still waiting for a
     * connection was never sent. */
    uint64_t timeouts = 0, unsent = 0, cut_off = 0;
    int64_t t_end = now_ns();
    for (int i = 0; i < g_nconns; i++)
        if (g_conns[i].busy && g_conns[i].counted) {
            if (t_end - g_conns[i].sent_at >= (int64_t)(timeout * 1e9))
                timeouts++;
            else
                cut_off++;
        }
    for (size_t i = 0; i < g_qlen; i++)
        if (g_queue[(g_qhead + i) % g_qcap].counted)
            unsent++;

    qsort(g_lat, g_nlat, sizeof *g_lat, cmp64);
    qsort(g_lag, g_nlag, sizeof *g_lag, cmp64);
    double sum = 0;
    for (size_t i = 0; i < g_nlat; i++)
        sum += (double)g_lat[i];
    /* The measured window: from the first counted request's schedule to one gap after the
     * last's. */
    double window = g_first_sched >= 0 ? (double)(g_last_sched - g_first_sched) / 1e9 + 1 / rate : 0;
    printf("target_rate %.1f\n", rate);
    printf("schedule %s\n", poisson ? "poisson" : "fixed");
    printf("conns %d\n", conns);
    printf("window_s %.3f\n", window);
    printf("scheduled %llu\n", (unsigned long long)g_scheduled);
    /* Answers a second, from the first counted schedule to the last counted answer: the
     * target rate when the server keeps up, its throughput when it falls behind. */
    double answering = g_answered ? (double)(g_last_answer - g_first_sched) / 1e9 : 0;
    printf("answered_rate %.1f\n", answering > window ? (double)g_answered / answering
                                   : window > 0 ? (double)g_answered / window : 0);
    printf("sent %llu\n", (unsigned long long)g_sent);
    printf("answered %llu\n", (unsigned long long)g_answered);
    printf("non200 %llu\n", (unsigned long long)g_non200);
    printf("errors %llu\n", (unsigned long long)(g_errors + g_dropped + timeouts));
    printf("timeouts %llu\n", (unsigned long long)timeouts);
    printf("unsent %llu\n", (unsigned long long)unsent);
    printf("cut_off %llu\n", (unsigned long long)cut_off);
    printf("dropped %llu\n", (unsigned long long)g_dropped);
    printf("reconnects %llu\n", (unsigned long long)g_reconnects);
    printf("server_closes %llu\n", (unsigned long long)g_closes);
    printf("waited_for_conn %llu\n", (unsigned long long)g_queued);
    printf("p50_us %.1f\n", quantile_us(g_lat, g_nlat, 0.50));
    printf("p90_us %.1f\n", quantile_us(g_lat, g_nlat, 0.90));
    printf("p99_us %.1f\n", quantile_us(g_lat, g_nlat, 0.99));
    printf("p999_us %.1f\n", quantile_us(g_lat, g_nlat, 0.999));
    printf("max_us %.1f\n", g_nlat ? (double)g_lat[g_nlat - 1] / 1000.0 : 0);
    printf("mean_us %.1f\n", g_nlat ? sum / (double)g_nlat / 1000.0 : 0);
    /* (-1: no request found a free connection.) */
    printf("send_lag_n %zu\n", g_nlag);
    printf("send_lag_p50_us %.1f\n", g_nlag ? quantile_us(g_lag, g_nlag, 0.50) : -1);
    printf("send_lag_p99_us %.1f\n", g_nlag ? quantile_us(g_lag, g_nlag, 0.99) : -1);
    printf("send_lag_max_us %.1f\n", g_nlag ? (double)g_lag[g_nlag - 1] / 1000.0 : -1);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("client_cpu_s %.3f\n", (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                                      (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
    return 0;
}
