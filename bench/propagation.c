/* bench-propagation: route propagation through torii's file provider (bench/run.sh
 * propagation), or through a Kubernetes API server (bench/run.sh kube-propagation).
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
 * With --api URL (https://IP:PORT/apis/.../namespaces/NS/httproutes) the step that installs a
 * route is a POST of STAGED_PATH (the route as JSON: bench/cp.py kube-routes) to that URL
 * instead of a rename, on one keep-alive TLS connection (the server's certificate checked
 * against --ca), with the bearer token of --token-file; anything but 201 ends the run. The
 * latency is then counted from the POST's complete response, as a client such as kubectl
 * would see its create done.
 *
 * Output, one line per route on stdout:
 *   index name latency_us polls n404 nerror last_status before_us
 * where before_us is when the last poll that did not get 200 was sent (0 if none): the route
 * was programmed between before_us and latency_us after the rename. With --api three columns
 * follow: post_rtt_us sent_unix_us answered_unix_us, the POST's round trip and the wall-clock
 * times (CLOCK_REALTIME, µs) it was sent and answered, to line up with the API server's audit
 * log. A summary goes to stderr.
 *
 *   bench-propagation --addr 127.0.0.1:18110 --dir CONFIG --index INDEX [--interval-ms 5]
 *                     [--timeout-ms 30000] [--max-misses 3] [--path /]
 *   bench-propagation --addr 127.0.0.1:18110 --api URL --ca FILE --token-file FILE --index INDEX ...
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
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
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

/* --- the API server (--api): the POSTs, on one keep-alive TLS connection ------------------- */

static struct sockaddr_in g_api_addr;
static char g_api_host[80]; /* "IP:PORT": the Host header */
static char g_api_ip[64];   /* the address the server's certificate must name */
static const char *g_api_path;
static char g_token[4096];
static SSL_CTX *g_ctx;
static SSL *g_ssl;
static int g_api_fd = -1;
static char g_abuf[65536];
static long g_api_reconnects;

static int64_t unix_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* "https://IP:PORT/PATH" into g_api_*; false when it is not one. */
static int parse_api_url(const char *url) {
    if (strncmp(url, "https://", 8) != 0)
        return 0;
    const char *h = url + 8, *slash = strchr(h, '/');
    if (!slash || (size_t)(slash - h) >= sizeof g_api_host)
        return 0;
    memcpy(g_api_host, h, (size_t)(slash - h));
    g_api_host[slash - h] = 0;
    g_api_path = slash;
    const char *colon = strrchr(g_api_host, ':');
    if (!colon || (size_t)(colon - g_api_host) >= sizeof g_api_ip || !bench_addr(g_api_host, &g_api_addr))
        return 0;
    memcpy(g_api_ip, g_api_host, (size_t)(colon - g_api_host));
    g_api_ip[colon - g_api_host] = 0;
    return 1;
}

static void api_disconnect(void) {
    if (g_ssl)
        SSL_free(g_ssl);
    g_ssl = NULL;
    if (g_api_fd >= 0)
        close(g_api_fd);
    g_api_fd = -1;
}

static int api_connect(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* A server that stops answering ends the run instead of hanging it. */
    struct timeval tv = {30, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&g_api_addr, sizeof g_api_addr) != 0) {
        fprintf(stderr, "bench-propagation: connect %s: %s\n", g_api_host, strerror(errno));
        close(fd);
        return -1;
    }
    SSL *ssl = SSL_new(g_ctx);
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), g_api_ip);
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) != 1) {
        fprintf(stderr, "bench-propagation: TLS with %s failed:\n", g_api_host);
        ERR_print_errors_fp(stderr);
        SSL_free(ssl);
        close(fd);
        return -1;
    }
    g_ssl = ssl;
    g_api_fd = fd;
    return 0;
}

/* POSTs the JSON in `file` to the API URL and reads the whole answer. Returns its status, or -1
 * when the file cannot be read or the connection fails (said on stderr). No retry on a fresh
 * connection: a POST whose answer was lost may have created the route, and the server keeps
 * its connections open, so a failure here is worth ending the run for. */
static int api_post(const char *file) {
    FILE *f = fopen(file, "r");
    if (!f) {
        perror(file);
        return -1;
    }
    static char body[65536];
    size_t blen = fread(body, 1, sizeof body, f);
    int toolong = !feof(f);
    fclose(f);
    if (toolong) {
        fprintf(stderr, "bench-propagation: %s: over %zu bytes\n", file, sizeof body);
        return -1;
    }
    if (!g_ssl) {
        if (api_connect() != 0)
            return -1;
        g_api_reconnects++;
    }
    static char req[65536 + 8192];
    int n = snprintf(req, sizeof req,
                     "POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\n"
                     "Accept: application/json\r\nUser-Agent: bench-propagation\r\nContent-Length: %zu\r\n\r\n",
                     g_api_path, g_api_host, g_token, blen);
    if (n <= 0 || (size_t)n + blen > sizeof req)
        return -1;
    memcpy(req + n, body, blen);
    if (SSL_write(g_ssl, req, n + (int)blen) != n + (int)blen) {
        fprintf(stderr, "bench-propagation: POST %s: write failed\n", g_api_path);
        api_disconnect();
        return -1;
    }
    size_t len = 0;
    for (;;) {
        struct h1_resp r;
        long k = h1_response(g_abuf, len, &r);
        if (k < 0) {
            fprintf(stderr, "bench-propagation: POST %s: malformed answer\n", g_api_path);
            api_disconnect();
            return -1;
        }
        if (k > 0) {
            if (r.status != 201)
                fprintf(stderr, "bench-propagation: POST %s (%s): %d %.*s\n", g_api_path, file, r.status,
                        (int)(k < 600 ? k : 600), g_abuf);
            if (r.close || (size_t)k != len)
                api_disconnect();
            return r.status;
        }
        int got = SSL_read(g_ssl, g_abuf + len, (int)(sizeof g_abuf - len));
        if (got <= 0) {
            fprintf(stderr, "bench-propagation: POST %s: the connection ended before the answer\n", g_api_path);
            api_disconnect();
            return -1;
        }
        len += (size_t)got;
    }
}

static int api_init(const char *url, const char *ca, const char *token_file) {
    if (!parse_api_url(url)) {
        fprintf(stderr, "bench-propagation: --api: want https://IPv4:PORT/PATH\n");
        return -1;
    }
    FILE *f = fopen(token_file, "r");
    if (!f || !fgets(g_token, sizeof g_token, f)) {
        perror(token_file);
        return -1;
    }
    fclose(f);
    g_token[strcspn(g_token, "\r\n")] = 0;
    g_ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(g_ctx, SSL_VERIFY_PEER, NULL);
    if (SSL_CTX_load_verify_locations(g_ctx, ca, NULL) != 1) {
        fprintf(stderr, "bench-propagation: --ca %s:\n", ca);
        ERR_print_errors_fp(stderr);
        return -1;
    }
    return api_connect();
}

static void usage(void) {
    fprintf(stderr, "usage: bench-propagation --addr HOST:PORT (--dir DIR | --api URL --ca FILE --token-file FILE)\n"
                    "                         --index FILE [--interval-ms 5] [--timeout-ms 30000] [--max-misses 3]\n"
                    "                         [--path /]\n");
    exit(2);
}

int main(int argc, char **argv) {
    const char *addr = NULL, *dir = NULL, *index = NULL, *path = "/", *api = NULL, *ca = NULL, *token = NULL;
    int interval_ms = 5, timeout_ms = 30000, max_misses = 3;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--addr") && i + 1 < argc)
            addr = argv[++i];
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--api") && i + 1 < argc)
            api = argv[++i];
        else if (!strcmp(argv[i], "--ca") && i + 1 < argc)
            ca = argv[++i];
        else if (!strcmp(argv[i], "--token-file") && i + 1 < argc)
            token = argv[++i];
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
    if (!addr || !index || interval_ms < 1 || timeout_ms < 1 || !dir == !api || (api && (!ca || !token)))
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
    if (api && api_init(api, ca, token) != 0)
        return 1;

    char line[4096];
    long idx = 0, failed = 0, errors = 0, misses = 0;
    while (fgets(line, sizeof line, in)) {
        char staged[2048], name[512], hostname[512], final[4096];
        if (sscanf(line, "%2047s %511s %511s", staged, name, hostname) != 3)
            continue;
        int64_t t0, sent_unix = 0, answered_unix = 0, rtt = 0;
        if (api) {
            sent_unix = unix_us();
            int64_t sent = now_us();
            int st = api_post(staged);
            t0 = now_us();
            answered_unix = unix_us();
            rtt = t0 - sent;
            if (st != 201)
                return 1;
        } else {
            snprintf(final, sizeof final, "%s/%s", dir, name);
            t0 = now_us();
            if (rename(staged, final) != 0) {
                fprintf(stderr, "bench-propagation: rename %s -> %s: %s\n", staged, final, strerror(errno));
                return 1;
            }
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
        printf("%ld %s %lld %ld %ld %ld %d %lld", idx, name, (long long)lat, polls, n404, nerr, status,
               (long long)before);
        if (api)
            printf(" %lld %lld %lld", (long long)rtt, (long long)sent_unix, (long long)answered_unix);
        printf("\n");
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
    api_disconnect();
    /* The first connection is not a reconnect. */
    fprintf(stderr, "bench-propagation: %ld routes, %ld never answered 200, %ld error answers (%ld socket errors), %ld reconnects",
            idx, failed, errors, g_sock_errors, g_reconnects);
    if (api)
        fprintf(stderr, ", %ld new connections to the API server", g_api_reconnects);
    fprintf(stderr, "\n");
    return 0;
}
