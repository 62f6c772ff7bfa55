/* bench/addr.h: "IPv4:PORT" as the bench programs take it on their command lines. */
#ifndef BENCH_ADDR_H
#define BENCH_ADDR_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Parses s ("127.0.0.1:8080") into out. Returns false when it is not an IPv4 address and port. */
static inline bool bench_addr(const char *s, struct sockaddr_in *out)
{
    char ip[64];
    const char *colon = strrchr(s, ':');
    if (!colon || (size_t)(colon - s) >= sizeof ip)
        return false;
    memcpy(ip, s, (size_t)(colon - s));
    ip[colon - s] = 0;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535)
        return false;
    memset(out, 0, sizeof(*out));
    out->sin_family = AF_INET;
    out->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, ip, &out->sin_addr) == 1;
}

#endif
