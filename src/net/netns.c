#include "net/netns.h"
#include "base/buf.h"
#include "base/mem.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <netinet/in.h>
#include <nftables/libnftables.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int tr_netns_open(const char *path)
{
    return open(path, O_RDONLY | O_CLOEXEC);
}

int tr_netns_is_own(int nsfd)
{
    /* The calling thread's: outside tr_netns_run it is torii's own. /proc/self would name the
     * main thread's, which may be inside a workload's namespace at that moment (the control
     * thread installing its redirect): that workload would then pass for torii's own. */
    struct stat a, b;
    if (fstat(nsfd, &a) != 0 || stat("/proc/thread-self/ns/net", &b) != 0)
        return 1; /* cannot tell: treated as the process's own, so never entered */
    return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* The calling thread's own network namespace, opened on its first entry elsewhere and kept for
 * its life (a worker enters a workload's namespace for every upstream connection it makes
 * there). */
static __thread int self_ns = -1;

int tr_netns_run(int nsfd, int (*fn)(void *ud), void *ud)
{
    if (self_ns < 0)
        self_ns = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (self_ns < 0)
        return -1;
    if (setns(nsfd, CLONE_NEWNET) != 0)
        return -1;
    int r = fn(ud);
    int e = errno;
    TR_BUG_ON(setns(self_ns, CLONE_NEWNET) != 0);
    errno = e;
    return r;
}

struct listen_args {
    const struct sockaddr *sa;
    socklen_t len;
    int backlog;
};

static int listen_here(void *ud)
{
    const struct listen_args *a = ud;
    int fd = socket(a->sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 || bind(fd, a->sa, a->len) != 0 ||
        listen(fd, a->backlog) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int tr_netns_listen(int nsfd, const struct sockaddr *sa, socklen_t len, int backlog)
{
    struct listen_args a = {sa, len, backlog};
    return tr_netns_run(nsfd, listen_here, &a);
}

struct socket_args {
    int family;
    uint32_t mark;
};

static int socket_here(void *ud)
{
    const struct socket_args *a = ud;
    int fd = socket(a->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (a->mark && setsockopt(fd, SOL_SOCKET, SO_MARK, &a->mark, sizeof(a->mark)) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int tr_netns_socket(int nsfd, int family, uint32_t mark)
{
    struct socket_args a = {family, mark};
    return tr_netns_run(nsfd, socket_here, &a);
}

int tr_sock_original_dst(int fd, struct sockaddr_storage *out, socklen_t *len)
{
    struct sockaddr_storage local;
    socklen_t ll = sizeof(local);
    if (getsockname(fd, (struct sockaddr *)&local, &ll) != 0)
        return -1;
    *len = sizeof(*out);
    memset(out, 0, sizeof(*out));
    if (local.ss_family == AF_INET6)
        return getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, out, len);
    return getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, out, len);
}

/* cidr ("10.96.0.0/16", "fd00:96::/112") as nft writes it: "ip daddr 10.96.0.0/16". Only what
 * parses as an address and a prefix length reaches the rule text. */
static bool cidr_match(const char *cidr, char *out, size_t cap)
{
    const char *slash = strchr(cidr, '/');
    if (!slash || (size_t)(slash - cidr) >= INET6_ADDRSTRLEN)
        return false;
    char addr[INET6_ADDRSTRLEN];
    memcpy(addr, cidr, (size_t)(slash - cidr));
    addr[slash - cidr] = '\0';
    char *end;
    errno = 0;
    long bits = strtol(slash + 1, &end, 10);
    if (errno || end == slash + 1 || *end || bits < 0)
        return false;
    unsigned char bin[sizeof(struct in6_addr)];
    char canon[INET6_ADDRSTRLEN];
    int family = strchr(addr, ':') ? AF_INET6 : AF_INET;
    if (inet_pton(family, addr, bin) != 1 || bits > (family == AF_INET ? 32 : 128) ||
        !inet_ntop(family, bin, canon, sizeof(canon)))
        return false;
    int n = snprintf(out, cap, "%s daddr %s/%ld", family == AF_INET ? "ip" : "ip6", canon, bits);
    return n > 0 && (size_t)n < cap;
}

struct nft_args {
    const char *cmd;
    struct tr_buf *err;
};

/* Runs the nft commands in a context made in this thread's namespace (its netlink socket stays
 * in the namespace it was made in). */
static int nft_here(void *ud)
{
    const struct nft_args *a = ud;
    struct nft_ctx *nft = nft_ctx_new(NFT_CTX_DEFAULT);
    if (!nft) {
        tr_buf_puts(a->err, "nftables: cannot make a context");
        return -1;
    }
    nft_ctx_buffer_output(nft);
    nft_ctx_buffer_error(nft);
    int rc = nft_run_cmd_from_buffer(nft, a->cmd);
    if (rc != 0) {
        const char *e = nft_ctx_get_error_buffer(nft);
        size_t n = e ? strlen(e) : 0;
        while (n && (e[n - 1] == '\n' || e[n - 1] == ' '))
            n--;
        tr_buf_printf(a->err, "nftables: %.*s", (int)n, n ? e : "the command failed");
    }
    nft_ctx_free(nft);
    return rc ? -1 : 0;
}

static int nft_in(int nsfd, const char *cmd, struct tr_buf *err)
{
    struct nft_args a = {cmd, err};
    int rc = tr_netns_run(nsfd, nft_here, &a);
    if (rc != 0 && !err->len)
        tr_buf_printf(err, "cannot enter the network namespace: %s", strerror(errno));
    return rc;
}

/* What makes the table exist, so that deleting it cannot fail: the same transaction. */
#define TABLE_RESET "add table inet torii_mesh\ndelete table inet torii_mesh\n"

int tr_netns_redirect(int nsfd, const char *cidr, uint16_t port, uint32_t mark, struct tr_buf *err)
{
    char match[INET6_ADDRSTRLEN + 32];
    if (!cidr_match(cidr, match, sizeof(match)) || !port) {
        tr_buf_printf(err, "redirect: \"%s\" port %u: not an address prefix and a port", cidr, port);
        return -1;
    }
    char cmd[512];
    int n = snprintf(cmd, sizeof(cmd),
                     TABLE_RESET "table inet torii_mesh {\n"
                                 "  chain output {\n"
                                 "    type nat hook output priority -100; policy accept;\n"
                                 "    meta mark 0x%x return\n"
                                 "    %s meta l4proto tcp redirect to :%u\n"
                                 "  }\n"
                                 "}\n",
                     mark, match, port);
    TR_BUG_ON(n <= 0 || (size_t)n >= sizeof(cmd));
    return nft_in(nsfd, cmd, err);
}

int tr_netns_unredirect(int nsfd, struct tr_buf *err)
{
    return nft_in(nsfd, TABLE_RESET, err);
}
