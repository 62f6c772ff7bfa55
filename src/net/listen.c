#include "net/listen.h"
#include "base/log.h"
#include "base/map.h"
#include "base/mem.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct sock {
    int fd;          /* -1 when binding failed */
    char *error;     /* why, when fd is -1 */
    bool wanted;     /* mark for the sweep */
};

struct tr_listeners {
    struct tr_map socks; /* "addr|port|udp" -> struct sock* */
};

static size_t key(char *out, size_t cap, const char *addr, uint16_t port, bool udp)
{
    int n = snprintf(out, cap, "%s|%u|%d", addr, port, udp);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

struct tr_listeners *tr_listeners_new(void)
{
    return tr_xcalloc(1, sizeof(struct tr_listeners));
}

static void sock_free(struct sock *s)
{
    if (!s)
        return;
    if (s->fd >= 0)
        close(s->fd);
    free(s->error);
    free(s);
}

void tr_listeners_free(struct tr_listeners *ls)
{
    if (!ls)
        return;
    size_t it = 0;
    struct tr_map_slot *sl;
    while ((sl = tr_map_next(&ls->socks, &it)))
        sock_free(sl->val);
    tr_map_dispose(&ls->socks);
    free(ls);
}

/* Binds a socket to addr:port (SO_REUSEPORT, so that the control thread's probe and each
 * worker's own socket share the port; SO_REUSEADDR so that a restart rebinds while old
 * connections linger). The control thread's TCP probe never listens, so it takes no
 * connections; a UDP probe would be handed datagrams, so it is closed straight after the bind.
 * The probe tells the truth Programmed reports: whether the address and port can be had. */
int tr_sockaddr(const char *addr, uint16_t port, struct sockaddr_storage *ss, unsigned *len)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, addr, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons(port);
        *len = sizeof(*in4);
        return 0;
    }
    if (inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        *len = sizeof(*in6);
        return 0;
    }
    return -1;
}

static int open_sock(const char *addr, uint16_t port, bool udp, char **why)
{
    struct sockaddr_storage ss;
    unsigned slen;
    if (tr_sockaddr(addr, port, &ss, &slen) != 0) {
        *why = tr_xstrdup("not an IP address");
        return -1;
    }
    int family = ss.ss_family;
    int fd = socket(family, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto fail;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, slen) != 0)
        goto fail;
    return fd;
fail:;
    int e = errno;
    if (fd >= 0)
        close(fd);
    char buf[256];
    snprintf(buf, sizeof(buf), "%s %s:%u: %s", udp ? "udp" : "tcp", addr, port, strerror(e));
    *why = tr_xstrdup(buf);
    return -1;
}

int tr_listen_open(const char *addr, uint16_t port, bool udp, char **why)
{
    int fd = open_sock(addr, port, udp, why);
    if (fd >= 0 && !udp && listen(fd, 4096) != 0) {
        char buf[256];
        snprintf(buf, sizeof(buf), "tcp %s:%u: listen: %s", addr, port, strerror(errno));
        *why = tr_xstrdup(buf);
        close(fd);
        return -1;
    }
    return fd;
}

bool tr_listeners_reconcile(struct tr_listeners *ls, const struct tr_listen_addr *want, size_t n)
{
    bool changed = false;
    size_t it = 0;
    struct tr_map_slot *sl;
    while ((sl = tr_map_next(&ls->socks, &it)))
        ((struct sock *)sl->val)->wanted = false;
    for (size_t i = 0; i < n; i++) {
        const struct tr_listen_addr *p = &want[i];
        char k[128];
        size_t kl = key(k, sizeof(k), p->addr, p->port, p->udp);
        if (!kl)
            continue;
        struct sock *s = tr_map_get(&ls->socks, k, kl);
        if (s && !s->error) {
            s->wanted = true;
            continue;
        }
        char *why = NULL;
        int fd = open_sock(p->addr, p->port, p->udp, &why);
        if (fd >= 0 && p->udp) {
            close(fd); /* bound and released: see open_sock */
            fd = -2;
        }
        if (!s) {
            s = tr_xcalloc(1, sizeof(*s));
            s->fd = -1;
            tr_map_put(&ls->socks, k, kl, s);
            changed = true;
        }
        s->wanted = true;
        if (fd >= 0 || fd == -2) {
            changed |= s->error != NULL;
            free(s->error);
            s->error = NULL;
            s->fd = fd >= 0 ? fd : -1;
            tr_log_info("listening on %s %s:%u", p->udp ? "udp" : "tcp", p->addr, p->port);
        } else {
            if (!s->error || strcmp(s->error, why) != 0) {
                tr_log_warn("cannot listen: %s", why);
                changed = true;
            }
            free(s->error);
            s->error = why;
        }
    }
    /* Sweep sockets no listener needs any more. */
    char **gone = tr_xcalloc(ls->socks.len + 1, sizeof(char *));
    size_t ngone = 0;
    it = 0;
    while ((sl = tr_map_next(&ls->socks, &it)))
        if (!((struct sock *)sl->val)->wanted)
            gone[ngone++] = tr_xstrdup(sl->key);
    for (size_t i = 0; i < ngone; i++) {
        struct sock *s = tr_map_del(&ls->socks, gone[i], strlen(gone[i]));
        if (s && s->fd >= 0)
            tr_log_info("closing listener %s", gone[i]);
        changed |= s && s->error;
        sock_free(s);
        free(gone[i]);
    }
    free(gone);
    return changed;
}

const char *tr_listeners_error(const struct tr_listeners *ls, const char *addr, uint16_t port, bool udp)
{
    char k[128];
    size_t kl = key(k, sizeof(k), addr, port, udp);
    struct sock *s = kl ? tr_map_get(&ls->socks, k, kl) : NULL;
    return s ? s->error : NULL;
}

int tr_listeners_fd(const struct tr_listeners *ls, const char *addr, uint16_t port, bool udp)
{
    char k[128];
    size_t kl = key(k, sizeof(k), addr, port, udp);
    struct sock *s = kl ? tr_map_get(&ls->socks, k, kl) : NULL;
    return s ? s->fd : -1;
}

unsigned tr_listeners_count(const struct tr_listeners *ls)
{
    unsigned n = 0;
    size_t it = 0;
    struct tr_map_slot *sl;
    while ((sl = tr_map_next(&ls->socks, &it)))
        n += !((struct sock *)sl->val)->error;
    return n;
}

enum tr_accept_err tr_listen_accept_error(int err)
{
    switch (err) {
    case EAGAIN:
#if EWOULDBLOCK != EAGAIN
    case EWOULDBLOCK:
#endif
        return TR_ACCEPT_EMPTY;
    case EINTR:
    case ECONNABORTED:
    case EPERM:
    case EPROTO:
    /* accept(2), Linux: errors already pending on the new socket come back from accept; treat
     * them like EAGAIN, by retrying. */
    case ENETDOWN:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case ENETUNREACH:
        return TR_ACCEPT_NEXT;
    default:
        return TR_ACCEPT_PAUSE;
    }
}
