/* bench-propagation: route propagation through torii's file provider (bench/run.sh
 * propagation).
 *
 * Reads an index of routes staged outside the watched directory (bench/cp.py routes --index),
 * one line each: "STAGED_PATH FILE_NAME HOSTNAME". For each in turn it renames the staged file
 * into the watched directory (one atomic step, as a GitOps sync or `mv` does), then asks the
 * proxy for that hostname on one keep-alive connection, every --interval-ms, until it answers
 * 200, and records the time from the rename to the 200. 404 means "not there yet"; any other
 * answer is an error (counted, and polling goes on), as is a connection that breaks. A route
 * that does not answer 200 within --timeout-ms is recorded with latency -1; after --max-misses
 * such routes in a row (default 3: the proxy is gone or stuck) it gives up, exit status 1.
 *
 * Output, one line per route on stdout:
 *   index name latency_us polls n404 nerror last_status before_us
 * where before_us is when the last poll that did not get 200 was sent (0 if none): the route
 * was programmed between before_us and latency_us after the rename. A summary goes to stderr.
 *
 *   bench-propagation --addr 127.0.0.1:18110 --dir CONFIG --index INDEX [--interval-ms 5]
 *                     [--timeout-ms 30000] [--max-misses 3] [--path /]
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
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static struct sockaddr_in g_addr;
static int g_fd = -1;
static char g_buf[65536];
static size_t g_len;
static long g_reconnects, g_sock_errors;

static int64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void sleep_until(int64_t t) {
    int64_t d = t - now_us();
    if (d <= 0)
        return;
    struct timespec ts = {(time_t)(d / 1000000), (long)(d % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void disconnect(void) {
    if (g_fd >= 0)
        close(g_fd);
    g_fd = -1;
    g_len = 0;
}

static int connect_once(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&g_addr, sizeof g_addr) != 0) {
        close(fd);
        return -1;
    }
    g_fd = fd;
    g_len = 0;
    return 0;
}

/* One GET on the kept-alive connection (opened when needed). Returns the status, or -1 when the
 * connection failed (closed, reset, timed out, or a malformed reply). */
static int get(const char *host, const char *path, int timeout_ms) {
    if (g_fd < 0) {
        if (connect_once() != 0)
            return -1;
        g_reconnects++;
    }
    char req[512];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: bench-propagation\r\n\r\n", path,
                     host);
    if (n <= 0 || (size_t)n >= sizeof req || send(g_fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
        disconnect();
        return -1;
    }
    int64_t deadline = now_us() + (int64_t)timeout_ms * 1000;
    for (;;) {
        struct h1_resp r;
        long k = h1_response(g_buf, g_len, &r);
        if (k < 0) {
            disconnect();
            return -1;
        }
        if (k > 0) {
            memmove(g_buf, g_buf + k, g_len - (size_t)k);
            g_len -= (size_t)k;
            if (r.close)
                disconnect();
            return r.status;
        }
        int left = (int)((deadline - now_us()) / 1000);
        struct pollfd p = {g_fd, POLLIN, 0};
        if (left <= 0 || poll(&p, 1, left) <= 0) {
            disconnect();
            return -1;
        }
        ssize_t got = recv(g_fd, g_buf + g_len, sizeof g_buf - g_len, 0);
        if (got <= 0) {
            if (got < 0 && errno == EINTR)
                continue;
            disconnect();
            return -1;
        }
        g_len += (size_t)got;
    }
}

static void usage(void) {
    fprintf(stderr, "usage: bench-propagation --addr HOST:PORT --dir DIR --index FILE [--interval-ms 5]\n"
                    "                         [--timeout-ms 30000] [--max-misses 3] [--path /]\n");
    exit(2);
}

int main(int argc, char **argv) {
    const char *addr = NULL, *dir = NULL, *index = NULL, *path = "/";
    int interval_ms = 5, timeout_ms = 30000, max_misses = 3;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--addr") && i + 1 < argc)
            addr = argv[++i];
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--index") && i + 1 < argc)
            index = argv[++i];
        else if (!strcmp(argv[i], "--path") && i + 1 < argc)
            path = argv[++i];
        else if (!strcmp(argv[i], "--interval-ms") && i + 1 < argc)
            interval_ms = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--timeout-ms") && i + 1 < argc)
            timeout_ms = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--max-misses") && i + 1 < argc)
            max_misses = atoi(argv[++i]);
        else
            usage();
    }
    if (!addr || !dir || !index || interval_ms < 1 || timeout_ms < 1)
        usage();
    if (!bench_addr(addr, &g_addr))
        usage();
    signal(SIGPIPE, SIG_IGN);
    FILE *in = fopen(index, "r");
    if (!in) {
        perror(index);
        return 1;
    }
    if (connect_once() != 0) {
        perror("connect");
        return 1;
    }

    char line[4096];
    long idx = 0, failed = 0, errors = 0, misses = 0;
    while (fgets(line, sizeof line, in)) {
        char staged[2048], name[512], hostname[512], final[4096];
        if (sscanf(line, "%2047s %511s %511s", staged, name, hostname) != 3)
            continue;
        snprintf(final, sizeof final, "%s/%s", dir, name);
        int64_t t0 = now_us();
        if (rename(staged, final) != 0) {
            fprintf(stderr, "bench-propagation: rename %s -> %s: %s\n", staged, final, strerror(errno));
            return 1;
        }
        long polls = 0, n404 = 0, nerr = 0;
        int status = 0;
        int64_t lat = -1, before = 0;
        for (;;) {
            int64_t sent = now_us();
            if (sent - t0 > (int64_t)timeout_ms * 1000)
                break;
            status = get(hostname, path, 2000);
            polls++;
            if (status == 200) {
                lat = now_us() - t0;
                break;
            }
            before = sent - t0;
            if (status == 404)
                n404++;
            else {
                nerr++;
                if (status < 0)
                    g_sock_errors++;
            }
            sleep_until(sent + (int64_t)interval_ms * 1000);
        }
        if (lat < 0) {
            failed++;
            misses++;
        } else
            misses = 0;
        errors += nerr;
        printf("%ld %s %lld %ld %ld %ld %d %lld\n", idx, name, (long long)lat, polls, n404, nerr, status,
               (long long)before);
        fflush(stdout);
        idx++;
        if (max_misses > 0 && misses >= max_misses) {
            fprintf(stderr, "bench-propagation: %ld routes in a row never answered 200 (last status %d): giving up\n",
                    misses, status);
            return 1;
        }
    }
    fclose(in);
    disconnect();
    /* The first connection is not a reconnect. */
    fprintf(stderr, "bench-propagation: %ld routes, %ld never answered 200, %ld error answers (%ld socket errors), %ld reconnects\n",
            idx, failed, errors, g_sock_errors, g_reconnects);
    return 0;
}
