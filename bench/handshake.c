/* bench-handshake: full TLS 1.3 handshakes, as many a second as a server takes (bench/run.sh tls).
 *
 * Keeps --conns connections to --connect busy for --duration seconds, each one in a loop:
 * TCP connect, a full TLS 1.3 handshake (SNI --sni, key share on --groups only, ALPN
 * http/1.1; never a resumed session: the client keeps no session and offers no ticket), then
 * "GET --path HTTP/1.1" with Host --host and "Connection: close", read until the whole answer
 * is in; then close_notify and close, and the next connection. A handshake counts when the
 * client's side of it is done; the request makes sure the server has finished its side too
 * (and costs the server one small proxied request besides).
 *
 * The client verifies the server's CertificateVerify signature (TLS 1.3 always does) but not
 * the certificate chain. Its own work per handshake (key share, ECDH, one signature check) is
 * more than the server's (key share, ECDH, one signature): on a machine where client and
 * server have one core each, the client may be what limits the rate; the server's CPU time
 * per handshake still holds.
 *
 * Prints "key value" lines on stdout: handshakes, seconds, handshakes_per_s, answers 200 and
 * not, errors, resumed (should be 0), the client's own CPU time (client_cpu_s), and what was
 * negotiated on the first connection (protocol, cipher, group, the server's key and signature).
 *
 * --in-memory CERT KEY measures the library instead, no sockets, no proxy: for --duration
 * seconds, full handshakes between an OpenSSL client (as above) and an OpenSSL server with its
 * defaults (the PEM certificate and key given; two session tickets), through a BIO pair in
 * this one thread; the CPU time of each side's calls is summed apart. Prints handshakes and
 * server_us / client_us per handshake: what a handshake costs any OpenSSL-based server here.
 *
 *   bench-handshake --connect 127.0.0.1:18122 [--sni bench.example] [--host bench.example]
 *                   [--path /] [--conns 16] [--duration 10] [--groups P-256]
 *   bench-handshake --in-memory CERT KEY [--duration 10] [--groups P-256]
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF 16384
#define MAX_EVENTS 256

enum state { S_CONNECT, S_HANDSHAKE, S_WRITE, S_READ };

struct conn {
    int fd;
    SSL *ssl;
    enum state st;
    uint32_t events; /* registered with epoll */
    size_t len;
    char buf[BUF];
};

static struct sockaddr_in g_addr;
static SSL_CTX *g_ctx;
static const char *g_sni;
static char g_req[1024];
static int g_req_len;
static int g_ep;
static uint64_t g_handshakes, g_ok, g_non200, g_errors, g_resumed;
static char g_info[512];
static int g_errors_shown;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what) {
    perror(what);
    exit(1);
}

static void watch(struct conn *c, uint32_t events) {
    if (c->events == events)
        return;
    struct epoll_event ev = {.events = events, .data.ptr = c};
    epoll_ctl(g_ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->events = events;
}

static void conn_start(struct conn *c) {
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        die("socket");
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->ssl = NULL;
    c->len = 0;
    c->st = S_CONNECT;
    c->events = EPOLLOUT;
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(g_ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
        die("epoll_ctl");
    if (connect(c->fd, (struct sockaddr *)&g_addr, sizeof g_addr) < 0 && errno != EINPROGRESS) {
        perror("connect");
        exit(1);
    }
}

static void conn_end(struct conn *c, bool error, const char *why) {
    if (error) {
        g_errors++;
        if (g_errors_shown < 5) {
            g_errors_shown++;
            unsigned long e = ERR_get_error();
            char buf[256] = "";
            if (e)
                ERR_error_string_n(e, buf, sizeof buf);
            fprintf(stderr, "bench-handshake: %s%s%s%s%s\n", why, e ? ": " : "", buf, errno ? ": " : "",
                    errno ? strerror(errno) : "");
        }
    }
    ERR_clear_error();
    if (c->ssl) {
        if (!error)
            SSL_shutdown(c->ssl); /* close_notify; not waiting for the server's */
        SSL_free(c->ssl);
    }
    epoll_ctl(g_ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    conn_start(c);
}

/* Waits for what OpenSSL asked for after a call returned r; false if it failed. */
static bool ssl_wait(struct conn *c, int r) {
    switch (SSL_get_error(c->ssl, r)) {
    case SSL_ERROR_WANT_READ:
        watch(c, EPOLLIN);
        return true;
    case SSL_ERROR_WANT_WRITE:
        watch(c, EPOLLOUT);
        return true;
    default:
        return false;
    }
}

static void note_first(SSL *ssl) {
    if (g_info[0])
        return;
    int group = SSL_get_negotiated_group(ssl);
    int sig = 0, hash = 0;
    SSL_get_peer_signature_type_nid(ssl, &sig);
    SSL_get_peer_signature_nid(ssl, &hash);
    X509 *peer = SSL_get1_peer_certificate(ssl);
    char key[64] = "?";
    if (peer) {
        EVP_PKEY *pk = X509_get0_pubkey(peer);
        char gname[32] = "";
        size_t gl = 0;
        if (pk && EVP_PKEY_get_group_name(pk, gname, sizeof gname, &gl) == 1)
            snprintf(key, sizeof key, "%s-%s", EVP_PKEY_get0_type_name(pk), gname);
        else if (pk)
            snprintf(key, sizeof key, "%s-%d", EVP_PKEY_get0_type_name(pk), EVP_PKEY_get_bits(pk));
        X509_free(peer);
    }
    snprintf(g_info, sizeof g_info, "protocol %s\ncipher %s\ngroup %s\nserver_key %s\nsignature %s+%s\n",
             SSL_get_version(ssl), SSL_get_cipher_name(ssl), group ? OBJ_nid2sn(group & 0xffff) : "?", key,
             sig == EVP_PKEY_EC ? "ECDSA" : sig ? OBJ_nid2sn(sig) : "?", hash ? OBJ_nid2sn(hash) : "?");
}

/* The client's context: TLS 1.3 only, no session kept, no ticket asked for, no chain check. */
static int client_ctx(const char *groups) {
    g_ctx = SSL_CTX_new(TLS_client_method());
    if (!g_ctx)
        die("SSL_CTX_new");
    SSL_CTX_set_min_proto_version(g_ctx, TLS1_3_VERSION);
    SSL_CTX_set_max_proto_version(g_ctx, TLS1_3_VERSION);
    SSL_CTX_set_session_cache_mode(g_ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(g_ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_verify(g_ctx, SSL_VERIFY_NONE, NULL);
    if (SSL_CTX_set1_groups_list(g_ctx, groups) != 1) {
        fprintf(stderr, "bench-handshake: unknown groups %s\n", groups);
        return 1;
    }
    static const unsigned char alpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    SSL_CTX_set_alpn_protos(g_ctx, alpn, sizeof alpn);
    return 0;
}

/* Drives c as far as it goes without blocking. */
static void step(struct conn *c) {
    for (;;) {
        switch (c->st) {
        case S_CONNECT: {
            int err = 0;
            socklen_t el = sizeof err;
            getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
            if (err) {
                errno = err;
                conn_end(c, true, "connect");
                return;
            }
            c->ssl = SSL_new(g_ctx);
            if (!c->ssl) {
                fprintf(stderr, "bench-handshake: SSL_new failed\n");
                exit(1);
            }
            SSL_set_fd(c->ssl, c->fd);
            if (g_sni[0])
                SSL_set_tlsext_host_name(c->ssl, g_sni);
            SSL_set_connect_state(c->ssl);
            c->st = S_HANDSHAKE;
            break;
        }
        case S_HANDSHAKE: {
            errno = 0;
            int r = SSL_do_handshake(c->ssl);
            if (r != 1) {
                if (!ssl_wait(c, r))
                    conn_end(c, true, "handshake");
                return;
            }
            g_handshakes++;
            if (SSL_session_reused(c->ssl))
                g_resumed++;
            note_first(c->ssl);
            c->st = S_WRITE;
            break;
        }
        case S_WRITE: {
            errno = 0;
            int r = SSL_write(c->ssl, g_req, g_req_len);
            if (r <= 0) {
                if (!ssl_wait(c, r))
                    conn_end(c, true, "write");
                return;
            }
            c->st = S_READ;
            break;
        }
        case S_READ: {
            errno = 0;
            int r = SSL_read(c->ssl, c->buf + c->len, (int)(BUF - 1 - c->len));
            if (r <= 0) {
                int e = SSL_get_error(c->ssl, r);
                if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
                    ssl_wait(c, r);
                    return;
                }
                conn_end(c, true, c->len ? "the server closed before the whole answer" : "read");
                return;
            }
            c->len += (size_t)r;
            c->buf[c->len] = 0;
            char *blank = strstr(c->buf, "\r\n\r\n");
            if (!blank) {
                if (c->len >= BUF - 1) {
                    conn_end(c, true, "answer head too large");
                    return;
                }
                break;
            }
            /* Complete when the Content-Length body is in (bench answers have one). */
            size_t head = (size_t)(blank + 4 - c->buf);
            const char *cl = strcasestr(c->buf, "\r\ncontent-length:");
            if (!cl || cl > blank) {
                conn_end(c, true, "answer without Content-Length");
                return;
            }
            size_t want = head + strtoul(cl + 17, NULL, 10);
            if (want >= BUF) {
                conn_end(c, true, "answer too large (bench answers are small)");
                return;
            }
            if (c->len < want)
                break;
            if (strncmp(c->buf, "HTTP/1.1 200", 12) == 0)
                g_ok++;
            else
                g_non200++;
            conn_end(c, false, NULL);
            return;
        }
        }
    }
}

static void usage(void) {
    fprintf(stderr, "usage: bench-handshake --connect ADDR:PORT [--sni NAME] [--host H] [--path P] [--conns N]\n"
                    "                       [--duration S] [--groups LIST]\n"
                    "       bench-handshake --in-memory CERT KEY [--duration S] [--groups LIST]\n");
    exit(2);
}

static int64_t cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* --in-memory: handshakes between g_ctx and a default server through a BIO pair. */
static int in_memory(const char *cert, const char *key, double duration) {
    SSL_CTX *sctx = SSL_CTX_new(TLS_server_method());
    if (!sctx || SSL_CTX_use_certificate_chain_file(sctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(sctx, key, SSL_FILETYPE_PEM) != 1) {
        ERR_print_errors_fp(stderr);
        return 1;
    }
    int64_t end = now_ns() + (int64_t)(duration * 1e9), client = 0, server = 0;
    uint64_t n = 0;
    while (now_ns() < end) {
        SSL *cs = SSL_new(g_ctx), *ss = SSL_new(sctx);
        BIO *cb, *sb;
        if (!cs || !ss || BIO_new_bio_pair(&cb, 0, &sb, 0) != 1) {
            ERR_print_errors_fp(stderr);
            return 1;
        }
        SSL_set_bio(cs, cb, cb);
        SSL_set_bio(ss, sb, sb);
        SSL_set_tlsext_host_name(cs, g_sni);
        SSL_set_connect_state(cs);
        SSL_set_accept_state(ss);
        int64_t t0 = cpu_ns();
        bool cdone = false, sdone = false;
        for (int rounds = 0; !(cdone && sdone); rounds++) {
            int64_t t1;
            if (!cdone)
                cdone = SSL_do_handshake(cs) == 1;
            t1 = cpu_ns();
            client += t1 - t0;
            if (!sdone)
                sdone = SSL_do_handshake(ss) == 1;
            t0 = cpu_ns();
            server += t0 - t1;
            if (rounds > 20) {
                fprintf(stderr, "bench-handshake: in-memory handshake does not finish\n");
                ERR_print_errors_fp(stderr);
                return 1;
            }
        }
        if (n == 0) {
            note_first(cs);
            if (SSL_session_reused(cs))
                g_resumed++;
        }
        n++;
        SSL_free(cs); /* frees the BIOs too */
        SSL_free(ss);
    }
    printf("handshakes %llu\n", (unsigned long long)n);
    printf("server_us %.1f\n", (double)server / 1e3 / (double)n);
    printf("client_us %.1f\n", (double)client / 1e3 / (double)n);
    fputs(g_info, stdout);
    SSL_CTX_free(sctx);
    return 0;
}

int main(int argc, char **argv) {
    const char *connect_to = NULL, *host = "bench.example", *path = "/", *groups = "P-256";
    const char *mem_cert = NULL, *mem_key = NULL;
    g_sni = "bench.example";
    int conns = 16;
    double duration = 10;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool more = i + 1 < argc;
        if (!strcmp(a, "--connect") && more)
            connect_to = argv[++i];
        else if (!strcmp(a, "--sni") && more)
            g_sni = argv[++i];
        else if (!strcmp(a, "--host") && more)
            host = argv[++i];
        else if (!strcmp(a, "--path") && more)
            path = argv[++i];
        else if (!strcmp(a, "--conns") && more)
            conns = atoi(argv[++i]);
        else if (!strcmp(a, "--duration") && more)
            duration = atof(argv[++i]);
        else if (!strcmp(a, "--groups") && more)
            groups = argv[++i];
        else if (!strcmp(a, "--in-memory") && i + 2 < argc) {
            mem_cert = argv[++i];
            mem_key = argv[++i];
        } else
            usage();
    }
    if ((!connect_to && !mem_cert) || conns < 1 || duration <= 0)
        usage();
    if (mem_cert) {
        if (client_ctx(groups))
            return 2;
        return in_memory(mem_cert, mem_key, duration);
    }
    if (!bench_addr(connect_to, &g_addr))
        usage();
    g_req_len = snprintf(g_req, sizeof g_req,
                         "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: bench-handshake\r\nConnection: close\r\n\r\n",
                         path, host);
    if (g_req_len < 0 || g_req_len >= (int)sizeof g_req)
        usage();
    signal(SIGPIPE, SIG_IGN);

    if (client_ctx(groups))
        return 2;

    g_ep = epoll_create1(EPOLL_CLOEXEC);
    if (g_ep < 0)
        die("epoll_create1");
    struct conn *cs = calloc((size_t)conns, sizeof *cs);
    if (!cs)
        die("calloc");
    int64_t t0 = now_ns();
    int64_t end = t0 + (int64_t)(duration * 1e9);
    for (int i = 0; i < conns; i++)
        conn_start(&cs[i]);
    struct epoll_event evs[MAX_EVENTS];
    int64_t now;
    while ((now = now_ns()) < end) {
        int ms = (int)((end - now) / 1000000) + 1;
        int n = epoll_wait(g_ep, evs, MAX_EVENTS, ms);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++)
            step(evs[i].data.ptr);
    }
    double secs = (double)(now - t0) / 1e9;
    printf("handshakes %llu\n", (unsigned long long)g_handshakes);
    printf("seconds %.3f\n", secs);
    printf("handshakes_per_s %.1f\n", (double)g_handshakes / secs);
    printf("answered_200 %llu\n", (unsigned long long)g_ok);
    printf("non200 %llu\n", (unsigned long long)g_non200);
    printf("errors %llu\n", (unsigned long long)g_errors);
    printf("resumed %llu\n", (unsigned long long)g_resumed);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("client_cpu_s %.3f\n", (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                                      (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
    printf("conns %d\n", conns);
    printf("groups %s\n", groups);
    fputs(g_info, stdout);
    return 0;
}
