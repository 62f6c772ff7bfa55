/* Network namespaces, for the mesh (docs/mesh.md): a socket made inside a workload's network
 * namespace stays there for life, so torii listens for the connections that namespace's
 * outbound traffic is redirected to, and connects to backends from the workload's own address,
 * without running in the namespace itself. The redirect is an nftables table in the namespace.
 * Linux; setns needs CAP_SYS_ADMIN, nftables CAP_NET_ADMIN. */
#ifndef TR_NET_NETNS_H
#define TR_NET_NETNS_H

#include <stdint.h>
#include <sys/socket.h>

struct tr_buf;

/* Where a workload's redirected connections arrive: this port on its namespace's loopback. */
#define TR_MESH_REDIRECT_PORT 15001

/* The mark torii's own sockets in a workload's namespace carry (SO_MARK): its redirect lets
 * them through (the same value as Istio's and ztunnel's, 1337). */
#define TR_NETNS_MARK 0x539u

/* Opens the namespace at path (/run/netns/NAME, /proc/PID/ns/net): an fd, or -1 (errno). */
int tr_netns_open(const char *path);

/* Is nsfd the namespace the process itself runs in (the node's, on a node)? The mesh never
 * redirects or listens there: a workload's annotation naming it must not turn torii on its host.
 * Not from inside tr_netns_run (it compares with the calling thread's namespace). */
int tr_netns_is_own(int nsfd);

/* Runs fn(ud) with the calling thread in namespace nsfd, then puts the thread back in its own
 * namespace; returns fn's result, or -1 (errno set) when the thread could not enter. A thread
 * that cannot return aborts the process: it would go on serving the wrong namespace. */
int tr_netns_run(int nsfd, int (*fn)(void *ud), void *ud);

/* A non-blocking, close-on-exec TCP socket listening on sa inside nsfd (SO_REUSEADDR, and
 * SO_REUSEPORT: each worker has its own), or -1 (errno). */
int tr_netns_listen(int nsfd, const struct sockaddr *sa, socklen_t len, int backlog);

/* A non-blocking, close-on-exec TCP socket of family made inside nsfd and marked with mark
 * (SO_MARK; 0: none), not connected; or -1 (errno). */
int tr_netns_socket(int nsfd, int family, uint32_t mark);

/* Where the peer of fd, a connection a redirect brought, meant to connect
 * (SO_ORIGINAL_DST, IP6T_SO_ORIGINAL_DST for IPv6). Returns 0, or -1 (errno). */
int tr_sock_original_dst(int fd, struct sockaddr_storage *out, socklen_t *len);

/* Makes nsfd's table "inet torii_mesh" (replacing it, in one transaction): TCP that the
 * namespace's own processes send to cidr (an IPv4 or IPv6 prefix, "10.96.0.0/16") is
 * redirected to port on the namespace's loopback, except from sockets marked mark. Returns 0,
 * or -1 with why in err. */
int tr_netns_redirect(int nsfd, const char *cidr, uint16_t port, uint32_t mark, struct tr_buf *err);

/* Removes nsfd's table "inet torii_mesh" (nothing to do when it is not there). Returns 0, or -1
 * with why in err. */
int tr_netns_unredirect(int nsfd, struct tr_buf *err);

#endif
