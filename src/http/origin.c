#include "http/origin.h"
#include "http/h1_parse.h"

#include <string.h>

static long default_port(const char *scheme, size_t len)
{
    if (tr_h1_token_eq(scheme, len, "http", 4))
        return 80;
    if (tr_h1_token_eq(scheme, len, "https", 5))
        return 443;
    return -1;
}

/* Reads ":port" at s[0..len): 1-65535, digits only. Returns -1 when it is not one. */
static long parse_port(const char *s, size_t len)
{
    if (len < 2 || len > 6 || s[0] != ':')
        return -1;
    long port = 0;
    for (size_t i = 1; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        port = port * 10 + (s[i] - '0');
    }
    return port >= 1 && port <= 65535 ? port : -1;
}

bool tr_origin_parse(const char *s, size_t len, struct tr_origin *o)
{
    const char *end = s + len;
    const char *sep = len >= 3 ? memmem(s, len, "://", 3) : NULL;
    if (!sep || sep == s)
        return false;
    o->scheme = s;
    o->scheme_len = (size_t)(sep - s);
    o->host = sep + 3;
    const char *p = o->host;
    if (p < end && *p == '[') {
        const char *close = memchr(p, ']', (size_t)(end - p));
        if (!close)
            return false;
        p = close + 1;
    } else {
        while (p < end && *p != ':' && *p != '/' && *p != '?' && *p != '#' && *p != '@')
            p++;
    }
    o->host_len = (size_t)(p - o->host);
    if (o->host_len == 0)
        return false;
    o->port = p == end ? default_port(o->scheme, o->scheme_len) : parse_port(p, (size_t)(end - p));
    return o->port > 0;
}
