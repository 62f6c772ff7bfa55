/* tx_host_intersect on two hostnames (the input split at the first newline), each valid as the
 * CRDs' Hostname pattern allows or empty (unset). The intersection must not depend on the order,
 * must be one of the two, and must be matched by both (checked on a concrete host made from it). */
#include "api/schema.h"
#include "base/mem.h"
#include "translate/internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char hostname_pattern[] = "^(\\*\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";

/* Does pattern (a hostname, maybe "*.suffix") match the concrete host? Label by label. */
static int matches(const char *pattern, const char *host)
{
    if (pattern[0] != '*')
        return strcmp(pattern, host) == 0;
    size_t pl = strlen(pattern + 1), hl = strlen(host); /* ".suffix" */
    return hl > pl && memcmp(host + hl - pl, pattern + 1, pl) == 0 && host[0] != '.';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *a = strndup((const char *)data, size), *nl = strchr(a, '\n');
    char *b = nl ? nl + 1 : a + strlen(a);
    if (nl)
        *nl = '\0';
    if ((*a && !tr_schema_pattern_match(hostname_pattern, a, strlen(a))) ||
        (*b && !tr_schema_pattern_match(hostname_pattern, b, strlen(b))) || strlen(a) > 253 || strlen(b) > 253) {
        free(a);
        return 0;
    }
    const char *ab = tx_host_intersect(a, b), *ba = tx_host_intersect(b, a);
    TR_BUG_ON(!ab != !ba || (ab && strcmp(ab, ba) != 0));
    TR_BUG_ON(ab && ab != a && ab != b);
    TR_BUG_ON(*a && strcmp(tx_host_intersect(a, a), a) != 0);
    if (ab && *ab) {
        char host[300] = "x"; /* "*.suffix" stands for "x.suffix" */
        strcat(host, ab[0] == '*' ? ab + 1 : "");
        const char *concrete = ab[0] == '*' ? host : ab;
        TR_BUG_ON((*a && !matches(a, concrete)) || (*b && !matches(b, concrete)));
    }
    free(a);
    return 0;
}
