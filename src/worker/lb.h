/* Load balancing, shared by the HTTP and L4 paths. Worker threads. */
#ifndef TR_WORKER_LB_H
#define TR_WORKER_LB_H

struct worker;
struct tr_ir_rule;
struct tr_ir_backend;
struct tr_ir_endpoint;

/* A backendRef of r chosen by weight (weight 0 never), or NULL when the weights are all 0. */
const struct tr_ir_backend *tr_lb_backend(struct worker *w, const struct tr_ir_rule *r);
/* A ready endpoint of b, round-robin over b's ready endpoints (a turn per backend and worker),
 * or NULL when none is ready. */
const struct tr_ir_endpoint *tr_lb_endpoint(struct worker *w, const struct tr_ir_backend *b);
/* Forgets every backend's turn: w took a new snapshot, whose backends are new objects. */
void tr_lb_reset(struct worker *w);

#endif
