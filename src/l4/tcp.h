/* TCP and TLS-passthrough proxying (TCPRoute, TLSRoute). Worker threads. */
#ifndef TR_L4_TCP_H
#define TR_L4_TCP_H

#include "worker/conn.h"

/* Takes a connection accepted on a TCP or TLS-passthrough listener socket. */
void tr_l4_accept(struct worker *w, struct wlisten *l, int fd, const struct sockaddr_storage *peer);

#endif
