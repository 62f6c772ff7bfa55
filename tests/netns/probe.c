/* netns-probe: src/net/netns.c driven from a test (tests/netns/run), one operation per run.
 *
 *   netns-probe redirect NETNS CIDR PORT     the namespace's table: CIDR -> its loopback's PORT
 *   netns-probe unredirect NETNS
 *   netns-probe accept NETNS ADDR PORT       listen inside NETNS; print "listening", then for
 *                                            one connection "peer IP:PORT dst IP:PORT" (dst: the
 *                                            original destination), and answer "ok"
 *   netns-probe connect NETNS IP PORT        connect from inside NETNS with torii's mark; print
 *                                            what the server answers
 *   netns-probe own NETNS                    tr_netns_is_own for NETNS and the process's own
 *                                            namespace, asked by a second thread while the main
 *                                            one is inside NETNS: "NETNS=0 own=1" is right
 *
 * NETNS is a path (/run/netns/NAME). Exit status 0, or 1 with the reason on stderr. */
#include "base/buf.h"
#include "net/listen.h"
#include "net/netns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int fail(const char *what)
{
    fprintf(stderr, "netns-probe: %s: %s\n", what, strerror(errno));
    return 1;
}

static void addr_text(const struct sockaddr_storage *ss, char *out, size_t cap)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
        port = ntohs(in->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
        port = ntohs(in6->sin6_port);
    }
    snprintf(out, cap, "%s:%u", ip, port);
}

/* addr:port as a socket address; false (said on stderr) when addr is not an IP address. */
static bool sockaddr_of(const char *addr, const char *port, struct sockaddr_storage *ss, unsigned *len)
{
    if (tr_sockaddr(addr, (uint16_t)atoi(port), ss, len) == 0)
        return true;
    fprintf(stderr, "netns-probe: %s: not an IP address\n", addr);
    return false;
}

static int wait_fd(int fd, short events)
{
    struct pollfd p = {fd, events, 0};
    int n = poll(&p, 1, 10000);
    if (n <= 0) {
        errno = n == 0 ? ETIMEDOUT : errno;
        return -1;
    }
    return 0;
}

static int do_accept(int ns, const char *addr, const char *port)
{
    struct sockaddr_storage ss;
    unsigned len;
    if (!sockaddr_of(addr, port, &ss, &len))
        return 1;
    int l = tr_netns_listen(ns, (struct sockaddr *)&ss, len, 16);
    if (l < 0)
        return fail("listen");
    printf("listening\n");
    fflush(stdout);
    if (wait_fd(l, POLLIN) != 0)
        return fail("accept");
    struct sockaddr_storage peer;
    socklen_t pl = sizeof(peer);
    int c = accept(l, (struct sockaddr *)&peer, &pl);
    if (c < 0)
        return fail("accept");
    struct sockaddr_storage dst;
    socklen_t dl;
    if (tr_sock_original_dst(c, &dst, &dl) != 0)
        return fail("SO_ORIGINAL_DST");
    char p[64], d[64];
    addr_text(&peer, p, sizeof(p));
    addr_text(&dst, d, sizeof(d));
    printf("peer %s dst %s\n", p, d);
    fflush(stdout);
    if (write(c, "ok\n", 3) != 3)
        return fail("write");
    close(c);
    close(l);
    return 0;
}

static int do_connect(int ns, const char *addr, const char *port)
{
    struct sockaddr_storage ss;
    unsigned len;
    if (!sockaddr_of(addr, port, &ss, &len))
        return 1;
    int fd = tr_netns_socket(ns, ss.ss_family, TR_NETNS_MARK);
    if (fd < 0)
        return fail("socket");
    if (connect(fd, (struct sockaddr *)&ss, len) != 0 && errno != EINPROGRESS)
        return fail("connect");
    int err = 0;
    socklen_t el = sizeof(err);
    if (wait_fd(fd, POLLOUT) != 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0)
        return fail("connect");
    if (err) {
        errno = err;
        return fail("connect");
    }
    char buf[256];
    size_t n = 0;
    while (n < sizeof(buf) - 1) {
        if (wait_fd(fd, POLLIN) != 0)
            return fail("read");
        ssize_t r = read(fd, buf + n, sizeof(buf) - 1 - n);
        if (r < 0 && errno == EAGAIN)
            continue;
        if (r < 0)
            return fail("read");
        if (r == 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    fputs(buf, stdout);
    close(fd);
    return 0;
}

struct own_args {
    int ns, own;
    int go[2]; /* the main thread is inside NETNS when a byte arrives */
    pthread_t asker;
    int said_ns, said_own;
};

/* A thread made before the main one enters NETNS (a new thread starts in its creator's current
 * namespace): it asks once the main thread is in there. */
static void *ask_own(void *ud)
{
    struct own_args *a = ud;
    char b;
    if (read(a->go[0], &b, 1) != 1)
        return NULL;
    a->said_ns = tr_netns_is_own(a->ns);
    a->said_own = tr_netns_is_own(a->own);
    return NULL;
}

static int let_ask(void *ud)
{
    struct own_args *a = ud;
    if (write(a->go[1], "", 1) != 1)
        return -1;
    pthread_join(a->asker, NULL);
    return 0;
}

static int do_own(int ns)
{
    struct own_args a = {.ns = ns, .own = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC), .said_ns = -1,
                         .said_own = -1};
    if (a.own < 0)
        return fail("/proc/self/ns/net");
    if (pipe(a.go) != 0 || pthread_create(&a.asker, NULL, ask_own, &a) != 0)
        return fail("a thread to ask");
    if (tr_netns_run(ns, let_ask, &a) != 0)
        return fail("entering the namespace");
    printf("NETNS=%d own=%d\n", a.said_ns, a.said_own);
    close(a.go[0]);
    close(a.go[1]);
    close(a.own);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: netns-probe redirect|unredirect|accept|connect|own NETNS ...\n");
        return 2;
    }
    int ns = tr_netns_open(argv[2]);
    if (ns < 0)
        return fail(argv[2]);
    const char *op = argv[1];
    struct tr_buf err;
    tr_buf_init(&err, 0);
    int rc = 2;
    if (strcmp(op, "redirect") == 0 && argc == 5)
        rc = tr_netns_redirect(ns, argv[3], (uint16_t)atoi(argv[4]), TR_NETNS_MARK, &err) == 0 ? 0 : 1;
    else if (strcmp(op, "unredirect") == 0 && argc == 3)
        rc = tr_netns_unredirect(ns, &err) == 0 ? 0 : 1;
    else if (strcmp(op, "accept") == 0 && argc == 5)
        rc = do_accept(ns, argv[3], argv[4]);
    else if (strcmp(op, "connect") == 0 && argc == 5)
        rc = do_connect(ns, argv[3], argv[4]);
    else if (strcmp(op, "own") == 0 && argc == 3)
        rc = do_own(ns);
    else
        fprintf(stderr, "netns-probe: %s: unknown operation or wrong arguments\n", op);
    if (err.len)
        fprintf(stderr, "netns-probe: %.*s\n", (int)err.len, err.data);
    tr_buf_dispose(&err);
    close(ns);
    return rc;
}
