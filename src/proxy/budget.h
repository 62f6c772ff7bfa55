/* Retry budgets (XBackendTrafficPolicy retryConstraint, GEP-3388): the tries sent to a Service
 * and the retries among them, in a sliding window shared by every worker; a retry is allowed
 * while retries stay within the budget's share of the tries, or within the minimum rate.
 * The window is two fixed ones, the previous one weighted by how much of it is still inside the
 * interval: an estimate that is exact at the edges and off by at most the previous window's
 * uneven spread in between. Worker threads; lock-free. */
#ifndef TR_PROXY_BUDGET_H
#define TR_PROXY_BUDGET_H

#include <stdbool.h>
#include <stdint.h>

struct tr_ir_backend;
struct tr_ir_retry_budget;

/* The retry budget of b's Service (its XBackendTrafficPolicy's), or NULL. */
struct tr_ir_retry_budget *tr_budget_of(const struct tr_ir_backend *b);

/* A try (a first one or a retry) goes to the budget's Service at now_ms (monotonic). */
void tr_budget_try(struct tr_ir_retry_budget *b, uint64_t now_ms);
/* May the Service be tried again at now_ms? Counts the retry when it may. */
bool tr_budget_retry(struct tr_ir_retry_budget *b, uint64_t now_ms);

#endif
