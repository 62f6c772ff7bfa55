/* Retry budgets: proxy/budget.h says how. */
#include "proxy/budget.h"
#include "ir/ir.h"

#define IDX_SHIFT 40
#define COUNT_MASK ((UINT64_C(1) << IDX_SHIFT) - 1)
#define IDX_MASK UINT64_C(0xffffff)

/* Counts one in window k of a pair of slots (tr_ir_retry_budget: index << 40 | count). */
static void win_add(uint64_t *slots, uint64_t k)
{
    uint64_t *s = &slots[k & 1];
    uint64_t tag = (k & IDX_MASK) << IDX_SHIFT;
    uint64_t v = __atomic_load_n(s, __ATOMIC_ACQUIRE);
    for (;;) {
        if ((v & ~COUNT_MASK) == tag) {
            __atomic_fetch_add(s, 1, __ATOMIC_ACQ_REL);
            return;
        }
        /* The slot holds a window two or more back: this one starts here. */
        if (__atomic_compare_exchange_n(s, &v, tag | 1, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            return;
    }
}

static uint64_t win_get(const uint64_t *slots, uint64_t k)
{
    uint64_t v = __atomic_load_n(&slots[k & 1], __ATOMIC_ACQUIRE);
    return (v >> IDX_SHIFT) == (k & IDX_MASK) ? v & COUNT_MASK : 0;
}

/* The count over the interval that ends at now_ms: window k's, plus window k - 1's share of
 * the interval still inside it. */
static uint64_t sliding(const uint64_t *slots, uint64_t now_ms, uint64_t interval_ms)
{
    uint64_t k = now_ms / interval_ms, in = now_ms % interval_ms;
    uint64_t prev = k ? win_get(slots, k - 1) : 0;
    return win_get(slots, k) + prev * (interval_ms - in) / interval_ms;
}

struct tr_ir_retry_budget *tr_budget_of(const struct tr_ir_backend *b)
{
    return b && b->policy ? b->policy->budget : NULL;
}

void tr_budget_try(struct tr_ir_retry_budget *b, uint64_t now_ms)
{
    win_add(b->tries, now_ms / b->interval_ms);
}

bool tr_budget_retry(struct tr_ir_retry_budget *b, uint64_t now_ms)
{
    uint64_t tries = sliding(b->tries, now_ms, b->interval_ms);
    uint64_t retries = sliding(b->retries, now_ms, b->interval_ms);
    uint64_t recent = sliding(b->min_retries, now_ms, b->min_interval_ms);
    /* The retry is a try too: with it, retries stay within percent of the tries. */
    bool ok = (retries + 1) * 100 <= (uint64_t)b->percent * (tries + 1) || recent < b->min_count;
    if (ok) {
        win_add(b->retries, now_ms / b->interval_ms);
        win_add(b->min_retries, now_ms / b->min_interval_ms);
    }
    return ok;
}
