/* Request routing for HTTP and gRPC listeners: the listener's attached rules compiled into
 * virtual hosts and precedence-ordered match lists (Gateway API HTTPRoute/GRPCRoute rules).
 * Built by the control thread with the snapshot; read by any worker (immutable). */
#ifndef TR_IR_ROUTER_H
#define TR_IR_ROUTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tr_ir_listener;
struct tr_ir_rule;
struct tr_router;

/* What routing needs of a request. host is lower-case and without its port. */
struct tr_route_req {
    const char *host;
    size_t host_len;
    const char *method;
    size_t method_len;
    const char *path; /* without the query */
    size_t path_len;
    const char *query; /* after '?', or NULL */
    size_t query_len;
    /* Returns the request's value of header name (values of a repeated header joined with ","),
     * or NULL. The pointer must stay valid during the match. */
    const char *(*header)(void *ud, const char *name, size_t name_len, size_t *len);
    void *ud;
};

/* The winning rule and which of its matches matched. */
struct tr_route_hit {
    const struct tr_ir_rule *rule;
    uint32_t match; /* index in the rule's matches (0 when the rule has none) */
};

/* Compiles the rules of l. Returns NULL only for a listener without rules. The router refers
 * to l's rules by index and to their compiled matches and hostnames (which the route results of
 * translate own), so it serves any listener for which tr_router_serves says so. */
struct tr_router *tr_router_new(const struct tr_ir_listener *l);
/* Another reference (a later snapshot sharing the router); tr_router_free drops one. */
struct tr_router *tr_router_ref(struct tr_router *rt);
void tr_router_free(struct tr_router *rt);
/* Does a router compiled for a serve b too: the same rules in the same order, with the same
 * compiled matches and hostnames (the same route results)? */
bool tr_router_serves(const struct tr_ir_listener *a, const struct tr_ir_listener *b);

/* Finds the rule of l (the listener the router serves) for req. Returns false when nothing
 * matches (404, or gRPC Unimplemented). */
bool tr_router_match(const struct tr_router *rt, const struct tr_ir_listener *l, const struct tr_route_req *req,
                     struct tr_route_hit *hit);

/* Does a listener hostname (NULL: any) match host? Returns a score: 0 no match, else larger is
 * more specific (exact > longer wildcard > none). Used to pick among listeners sharing a port. */
unsigned tr_host_score(const char *pattern, const char *host, size_t host_len);

#endif
