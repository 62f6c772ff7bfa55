/* bench/http1.h: the HTTP/1.1 response parser of the control-plane benchmark clients
 * (bench/propagation.c, bench/load.c).
 *
 * h1_response() looks at the bytes received so far on a connection and says whether they
 * start with one complete response: its status, body length and whether the server will close
 * the connection after it. Bodies are delimited by Content-Length or chunked encoding; a
 * response delimited by the end of the connection is refused (these clients do not need it and
 * a proxy that sends one without saying so is worth noticing). The whole response must fit in
 * the caller's buffer (bench replies are small).
 */
#ifndef BENCH_HTTP1_H
#define BENCH_HTTP1_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct h1_resp {
    int status;
    size_t body_len; /* decoded body bytes */
    bool close;      /* "Connection: close", or HTTP/1.0 without keep-alive */
};

/* Does the header line [p, end) name `name`? Returns the start of its value or NULL. */
static inline const char *h1_header_value(const char *p, const char *end, const char *name) {
    size_t n = strlen(name);
    if ((size_t)(end - p) <= n || p[n] != ':' || strncasecmp(p, name, n) != 0)
        return NULL;
    p += n + 1;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

static inline bool h1_has_token(const char *v, const char *end, const char *token) {
    size_t n = strlen(token);
    for (; v + n <= end; v++)
        if (strncasecmp(v, token, n) == 0)
            return true;
    return false;
}

/* > 0: the length of the complete response at buf (head + body); 0: incomplete; -1: malformed
 * or delimited by the connection's end. */
static inline long h1_response(const char *buf, size_t len, struct h1_resp *r) {
    const char *hend = memmem(buf, len, "\r\n\r\n", 4);
    if (!hend)
        return len > 16384 ? -1 : 0;
    size_t head = (size_t)(hend - buf) + 4;
    if (head < 14 || memcmp(buf, "HTTP/1.", 7) != 0 || buf[8] != ' ')
        return -1;
    int minor = buf[7] - '0';
    r->status = 0;
    for (int i = 9; i < 12; i++) {
        if (buf[i] < '0' || buf[i] > '9')
            return -1;
        r->status = r->status * 10 + (buf[i] - '0');
    }
    long long clen = -1;
    bool chunked = false, ka = false, close = false;
    const char *p = memchr(buf, '\n', head) + 1, *end = buf + head - 2;
    while (p < end) {
        const char *nl = memchr(p, '\r', (size_t)(end - p));
        if (!nl)
            nl = end;
        const char *v;
        if ((v = h1_header_value(p, nl, "content-length")))
            clen = strtoll(v, NULL, 10);
        else if ((v = h1_header_value(p, nl, "transfer-encoding")))
            chunked = h1_has_token(v, nl, "chunked");
        else if ((v = h1_header_value(p, nl, "connection"))) {
            close = h1_has_token(v, nl, "close");
            ka = h1_has_token(v, nl, "keep-alive");
        }
        p = nl + 2;
    }
    r->close = close || (minor == 0 && !ka);
    if (r->status < 200 || r->status == 204 || r->status == 304) {
        r->body_len = 0;
        return (long)head;
    }
    if (chunked) {
        size_t off = head, body = 0;
        for (;;) {
            const char *eol = memmem(buf + off, len - off, "\r\n", 2);
            if (!eol)
                return 0;
            char *e;
            unsigned long long sz = strtoull(buf + off, &e, 16);
            if (e == buf + off)
                return -1;
            off = (size_t)(eol - buf) + 2;
            if (sz == 0) {
                /* trailers, then the blank line */
                for (;;) {
                    const char *t = memmem(buf + off, len - off, "\r\n", 2);
                    if (!t)
                        return 0;
                    bool blank = t == buf + off;
                    off = (size_t)(t - buf) + 2;
                    if (blank) {
                        r->body_len = body;
                        return (long)off;
                    }
                }
            }
            if (len - off < sz + 2)
                return 0;
            off += sz + 2;
            body += sz;
        }
    }
    if (clen < 0)
        return -1;
    if (len - head < (unsigned long long)clen)
        return 0;
    r->body_len = (size_t)clen;
    return (long)(head + (size_t)clen);
}

#endif
