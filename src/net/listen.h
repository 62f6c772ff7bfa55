/* Listening sockets, reconciled against the set the configuration needs: a socket whose address, port and transport are
 * unchanged is kept as is, so connections queued on it survive config changes. Control thread. */
#ifndef TR_NET_LISTEN_H
#define TR_NET_LISTEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tr_listeners;
struct sockaddr_storage;

/* Fills *ss and *len with the IPv4 or IPv6 literal addr and port. Returns 0, or -1 when addr is
 * not an IP literal. */
int tr_sockaddr(const char *addr, uint16_t port, struct sockaddr_storage *ss, unsigned *len);

struct tr_listeners *tr_listeners_new(void);
/* Closes every socket. */
void tr_listeners_free(struct tr_listeners *ls);
/* A socket the configuration needs. */
struct tr_listen_addr {
    const char *addr; /* an IP literal */
    uint16_t port;
    bool udp;
};
/* Binds what want (n of them) needs and is not bound, closes what it no longer needs. Returns
 * true when the set of bind errors changed (status must then be recomputed). */
bool tr_listeners_reconcile(struct tr_listeners *ls, const struct tr_listen_addr *want, size_t n);
/* Why addr:port could not be bound in the last reconcile, or NULL. */
const char *tr_listeners_error(const struct tr_listeners *ls, const char *addr, uint16_t port, bool udp);
/* The bound socket for addr:port, or -1. */
int tr_listeners_fd(const struct tr_listeners *ls, const char *addr, uint16_t port, bool udp);
/* Opens a worker's own socket on addr:port (SO_REUSEPORT, non-blocking; TCP listening).
 * Returns the fd, or -1 and *why (free it). Any thread. */
int tr_listen_open(const char *addr, uint16_t port, bool udp, char **why);
/* What an accept(2) failure with errno err means for the accept loop. */
enum tr_accept_err {
    TR_ACCEPT_EMPTY, /* EAGAIN: nothing is queued */
    TR_ACCEPT_NEXT,  /* that one connection failed (aborted, refused by a firewall, a network
                      * error Linux reports through accept): take the next */
    TR_ACCEPT_PAUSE, /* the process or the system is short of descriptors, buffers or memory
                      * (EMFILE, ENFILE, ENOBUFS, ENOMEM), or something unexpected: every attempt
                      * fails alike until something is freed, so stop accepting for a moment */
};
enum tr_accept_err tr_listen_accept_error(int err);

/* Number of addresses and ports held. */
unsigned tr_listeners_count(const struct tr_listeners *ls);

#endif
