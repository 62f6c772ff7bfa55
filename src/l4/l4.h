/* TCP, TLS (passthrough or terminated) and UDP proxying as the workers run it. */
#ifndef TR_L4_L4_H
#define TR_L4_L4_H

struct tr_worker_ops;

/* Fills in the L4 paths' part of ops: accepting on TCP and TLS listeners, and UDP listeners. */
void tr_l4_worker_ops(struct tr_worker_ops *ops);

#endif
