/* DNS names of ExternalName Services, resolved off the data plane: c-ares queries (A and AAAA)
 * driven by the control thread's poll loop, each answer kept for its TTL and asked again then.
 * Translate reads the answers through tr_tx_input.resolve; an answer that changes makes the
 * control loop apply endpoints again (no route is translated for it). Control thread only. */
#ifndef TR_CONTROL_RESOLVER_H
#define TR_CONTROL_RESOLVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pollfd;
struct tr_resolver;

/* An answer's TTL is taken within these bounds: a TTL of 0 would be asked again without end, a
 * long one would keep traffic on an address long after the record moved. */
#define TR_RESOLVER_TTL_MIN_MS 1000
#define TR_RESOLVER_TTL_MAX_MS 300000
/* A name that does not exist (NXDOMAIN), or has no A or AAAA record, is an answer with no
 * address; the response carries no TTL for it that c-ares gives, so it is asked again this much
 * later. */
#define TR_RESOLVER_NEGATIVE_MS 5000
/* After a failed query (timeout, SERVFAIL, refused, unreachable server) the name is asked again
 * after 1 s, doubling up to this. */
#define TR_RESOLVER_RETRY_MAX_MS 30000
/* How long the last good answer keeps serving once its TTL has run out while queries fail, by
 * default (torii run --resolver-stale). */
#define TR_RESOLVER_STALE_MS 300000
/* At most this many sockets of the resolver are given to poll (c-ares opens one UDP socket,
 * and one TCP socket for truncated answers, per server in use). */
#define TR_RESOLVER_MAX_FDS 16

/* servers: NULL for the system's (/etc/resolv.conf, as c-ares reads it), or
 * "ADDR[:PORT][,ADDR[:PORT]...]" (IPv6 as [ADDR]:PORT). stale_ms: how long the last good answer
 * of a name outlives its TTL while queries fail (0: not at all). Returns NULL with
 * *err (malloc'd) when c-ares cannot start or servers cannot be read. */
struct tr_resolver *tr_resolver_new(const char *servers, uint64_t stale_ms, char **err);
void tr_resolver_free(struct tr_resolver *r);

/* The addresses name resolves to now (IP address text, sorted), up to cap of them into out, and
 * their number (0: none yet, or none at all). The strings live until the next call to
 * tr_resolver_handle, tr_resolver_run or tr_resolver_sweep. A name not seen before is asked for
 * at the next tr_resolver_run. Marks name as in use for tr_resolver_sweep. */
size_t tr_resolver_get(struct tr_resolver *r, const char *name, const char **out, size_t cap);
/* Brackets the lookups of one translation: begin, then tr_resolver_get for every name in use,
 * then sweep forgets the names that were not asked for (a query in flight for one is let run out
 * and its answer dropped). */
void tr_resolver_begin(struct tr_resolver *r);
void tr_resolver_sweep(struct tr_resolver *r);

/* Starts the queries that are due and processes c-ares's timeouts. Call on every loop turn. */
void tr_resolver_run(struct tr_resolver *r);
/* The sockets to poll, up to cap into fds (events set); returns their number. */
size_t tr_resolver_pollfds(const struct tr_resolver *r, struct pollfd *fds, size_t cap);
/* Reads and writes what poll said is ready on those sockets (fds as tr_resolver_pollfds gave
 * them, with revents). */
void tr_resolver_handle(struct tr_resolver *r, const struct pollfd *fds, size_t n);
/* When (monotonic ms, as CLOCK_MONOTONIC) tr_resolver_run has something to do next; UINT64_MAX:
 * nothing is waiting. */
uint64_t tr_resolver_due(const struct tr_resolver *r);
/* Whether some name's addresses changed since the last call (which clears it): endpoints are to
 * be applied again. */
bool tr_resolver_changed(struct tr_resolver *r);
/* How many names are known (in use at the last sweep, or asked for since). */
size_t tr_resolver_names(const struct tr_resolver *r);

#endif
