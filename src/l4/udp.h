/* UDP proxying (UDPRoute): each client address is a flow with its own connected socket to one
 * backend endpoint; replies go back from the listener's own socket, so the client sees them
 * come from the address and port it sent to. Worker threads. */
#ifndef TR_L4_UDP_H
#define TR_L4_UDP_H

#include "worker/conn.h"

/* The listener socket is readable: forwards every queued datagram. */
void tr_udp_on_readable(struct worker *w, struct wlisten *l);
/* Draining closed the listeners: l takes no new flow, and each flow ends after a short quiet. */
void tr_udp_drain(struct worker *w, struct wlisten *l);
/* Closes every flow of l (the listener is going away). */
void tr_udp_close_flows(struct worker *w, struct wlisten *l);

#endif
