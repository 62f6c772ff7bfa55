#ifndef TR_BASE_DURATION_H
#define TR_BASE_DURATION_H

#include <stdbool.h>
#include <stdint.h>

/* Gateway API Duration (GEP-2257): one or more <digits><unit>, unit h, m, s or ms, as Go's
 * time.ParseDuration restricted to those units. The schema pattern bounds a valid value to
 * four 5-digit parts, but CEL rules and fuzzers see raw strings too: values saturate at
 * TR_DURATION_MAX_MS instead of overflowing. False when s is NULL, empty or not that form. */
#define TR_DURATION_MAX_MS UINT64_C(0x7fffffffffffffff)

bool tr_duration_ms(const char *s, uint64_t *ms);

#endif
