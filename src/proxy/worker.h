/* Workers: one thread and one event loop per core, each with its own listening sockets
 * (SO_REUSEPORT), connections and upstream pool. They share nothing on the hot path but the
 * snapshot, which they pick up when the control thread wakes them. */
#ifndef TR_PROXY_WORKER_H
#define TR_PROXY_WORKER_H

struct tr_workers;

/* Starts n workers (0: one per core). Returns NULL and *err (free it) on failure. */
struct tr_workers *tr_workers_start(unsigned n, char **err);
/* Tells every worker that a new snapshot is published. Any thread. */
void tr_workers_notify(struct tr_workers *ws);
/* Stops and joins the workers; open connections are closed. */
void tr_workers_stop(struct tr_workers *ws);

#endif
