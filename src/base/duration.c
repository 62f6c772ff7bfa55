#include "base/duration.h"

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    return a > TR_DURATION_MAX_MS - b ? TR_DURATION_MAX_MS : a + b;
}

static uint64_t sat_mul(uint64_t a, uint64_t b)
{
    return b && a > TR_DURATION_MAX_MS / b ? TR_DURATION_MAX_MS : a * b;
}

bool tr_duration_ms(const char *s, uint64_t *ms)
{
    uint64_t total = 0;
    if (!s || !*s)
        return false;
    while (*s) {
        uint64_t n = 0, unit;
        if (*s < '0' || *s > '9')
            return false;
        while (*s >= '0' && *s <= '9')
            n = sat_add(sat_mul(n, 10), (uint64_t)(*s++ - '0'));
        if (s[0] == 'm' && s[1] == 's') {
            unit = 1;
            s += 2;
        } else if (*s == 'h') {
            unit = 3600000;
            s++;
        } else if (*s == 'm') {
            unit = 60000;
            s++;
        } else if (*s == 's') {
            unit = 1000;
            s++;
        } else {
            return false;
        }
        total = sat_add(total, sat_mul(n, unit));
    }
    *ms = total;
    return true;
}
