/* The access log: one JSON line per request, to a file or stdout; off unless asked for. */
#ifndef TR_PROXY_ACCESSLOG_H
#define TR_PROXY_ACCESSLOG_H

#include <stdbool.h>
#include <stdint.h>

/* Opens path ("-" for stdout) for appending. Returns 0 or -1 with errno. Call before workers
 * start. */
int tr_accesslog_open(const char *path);
void tr_accesslog_close(void);
bool tr_accesslog_enabled(void);

struct tr_accesslog_entry {
    const char *client;
    const char *method;
    const char *host;
    const char *target;
    int status; /* 0: no response was sent */
    uint64_t duration_us;
    uint64_t bytes_out; /* response bytes sent to the client (head and body) */
    const char *listener; /* "ns/gateway/listener" or NULL */
    const char *route;    /* "ns/name" or NULL */
    int rule;             /* -1 when none */
    const char *backend;  /* "ns/name:port" or NULL */
    const char *upstream; /* "addr:port" or NULL */
};

/* Writes one line (a single write(2), so lines from several workers never interleave). */
void tr_accesslog_write(const struct tr_accesslog_entry *e);

#endif
