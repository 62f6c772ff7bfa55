/* DNS (DNS_SERVER): what the conformance suite's CoreDNS with the whoami plugin answers. Every
 * query gets a reply with its ID, QR and AA set, NOERROR, the question echoed, no answers, and two
 * additional records: an A (AAAA for IPv6) record for the queried name holding the source address
 * seen, and an SRV record _udp.<name> whose port is the source port. The `udp` step only needs a
 * well-formed reply with the right ID; the records make the stand-in faithful. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "echo.h"

static struct watch dns_w;

/* Length of the (uncompressed) name at q[off], 0 if malformed. Queries carry plain labels. */
static size_t name_len(const unsigned char *q, size_t n, size_t off)
{
    size_t start = off;
    while (off < n) {
        unsigned len = q[off];
        if (len == 0)
            return off + 1 - start;
        if (len > 63 || off + 1 + len >= n)
            return 0;
        off += 1 + len;
    }
    return 0;
}

static void put16(struct buf *b, unsigned v)
{
    unsigned char x[2] = {(unsigned char)(v >> 8), (unsigned char)v};
    buf_add(b, x, 2);
}

static void put32(struct buf *b, uint32_t v)
{
    put16(b, v >> 16);
    put16(b, v & 0xFFFF);
}

static void on_dns(struct watch *w, uint32_t events)
{
    for (int i = 0; i < 256; i++) {
        unsigned char q[512];
        struct sockaddr_storage from;
        socklen_t flen = sizeof from;
        ssize_t n = recvfrom(w->fd, q, sizeof q, 0, (struct sockaddr *)&from, &flen);
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                perror("torii-echo: recvfrom");
            return;
        }
        if (n < 12 || (q[2] & 0x80))
            continue; /* not a query: no answer, as a server would */
        unsigned qdcount = (unsigned)q[4] << 8 | q[5];
        size_t nl = qdcount == 1 ? name_len(q, (size_t)n, 12) : 0;
        bool ok = nl && 12 + nl + 4 <= (size_t)n;

        struct buf r = {0};
        buf_add(&r, q, 2);                                           /* ID */
        buf_addc(&r, (char)(0x80 | (q[2] & 0x78) | 0x04 | (q[2] & 0x01))); /* QR, opcode, AA, RD */
        buf_addc(&r, ok ? 0 : 1);                                    /* NOERROR / FORMERR */
        put16(&r, ok ? 1 : 0);
        put16(&r, 0);
        put16(&r, 0);
        put16(&r, ok ? 2 : 0);
        if (ok) {
            buf_add(&r, q + 12, nl + 4); /* the question */
            /* A/AAAA <name> 0 <source address>; the name points back at the question */
            bool v6 = from.ss_family == AF_INET6;
            put16(&r, 0xC00C);
            put16(&r, v6 ? 28 : 1);
            put16(&r, 1);
            put32(&r, 0);
            int port;
            if (v6) {
                struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&from;
                put16(&r, 16);
                buf_add(&r, &in6->sin6_addr, 16);
                port = ntohs(in6->sin6_port);
            } else {
                struct sockaddr_in *in = (struct sockaddr_in *)&from;
                put16(&r, 4);
                buf_add(&r, &in->sin_addr, 4);
                port = ntohs(in->sin_port);
            }
            /* SRV _udp.<name> 0: priority 0, weight 0, the source port, target "." */
            buf_addc(&r, 4);
            buf_add(&r, "_udp", 4);
            put16(&r, 0xC00C);
            put16(&r, 33);
            put16(&r, 1);
            put32(&r, 0);
            put16(&r, 7);
            put16(&r, 0);
            put16(&r, 0);
            put16(&r, (unsigned)port);
            buf_addc(&r, 0);
        }
        if (sendto(w->fd, r.p, r.len, 0, (struct sockaddr *)&from, flen) < 0)
            perror("torii-echo: sendto");
        buf_free(&r);
    }
}

void dns_start(int fd)
{
    watch_add(&dns_w, fd, EPOLLIN, on_dns);
}
