/* Retry budgets: retries within their share of the tries over the interval, the minimum rate,
 * the sliding estimate across windows. */
#include "ir/ir.h"
#include "proxy/budget.h"
#include "test.h"

static struct tr_ir_retry_budget budget(uint32_t percent, uint64_t interval_ms, uint32_t min_count,
                                        uint64_t min_interval_ms)
{
    return (struct tr_ir_retry_budget){.percent = percent, .interval_ms = interval_ms, .min_count = min_count,
                                       .min_interval_ms = min_interval_ms};
}

static int allowed(struct tr_ir_retry_budget *b, int n, uint64_t now)
{
    int ok = 0;
    for (int i = 0; i < n; i++)
        ok += tr_budget_retry(b, now);
    return ok;
}

TEST(budget_retries_within_their_share_of_the_tries)
{
    struct tr_ir_retry_budget b = budget(20, 10000, 0, 1000);
    uint64_t t = 1000000; /* not window 0 */
    for (int i = 0; i < 100; i++)
        tr_budget_try(&b, t + (uint64_t)i);
    /* With each retry a try too: (retries + 1) * 100 <= 20 * (100 + 1). */
    ASSERT_EQ(allowed(&b, 50, t + 200), 20);
    for (int i = 0; i < 10; i++)
        tr_budget_try(&b, t + 300);
    ASSERT_EQ(allowed(&b, 50, t + 400), 2);
}

TEST(budget_minimum_rate_when_traffic_is_low)
{
    struct tr_ir_retry_budget b = budget(0, 10000, 3, 1000);
    uint64_t t = 5000000;
    ASSERT_EQ(allowed(&b, 10, t), 3);
    ASSERT_EQ(allowed(&b, 10, t + 999), 0);
    /* Two intervals on, the retries counted are out of the window. */
    ASSERT_EQ(allowed(&b, 10, t + 2000), 3);
}

TEST(budget_window_slides_over_the_previous_one)
{
    struct tr_ir_retry_budget b = budget(50, 1000, 0, 1000);
    uint64_t t = 7000000; /* the start of a window */
    for (int i = 0; i < 100; i++)
        tr_budget_try(&b, t + 10);
    /* Half way through the next window, half of the previous one's tries still count: 50, and
     * (retries + 1) * 100 <= 50 * 51 lets 25 through. */
    ASSERT_EQ(allowed(&b, 100, t + 1500), 25);
    /* Two windows on, nothing is left: no try, no retry. */
    ASSERT_EQ(allowed(&b, 10, t + 3000), 0);
}

TEST(budget_percent_100_allows_every_retry_of_tried_requests)
{
    struct tr_ir_retry_budget b = budget(100, 10000, 0, 1000);
    uint64_t t = 9000000;
    for (int i = 0; i < 5; i++) {
        tr_budget_try(&b, t);
        ASSERT(tr_budget_retry(&b, t));
        tr_budget_try(&b, t); /* the retry's own try */
    }
}
