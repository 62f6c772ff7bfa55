/* The resolver of ExternalName Services' names, against a DNS server of the test's own: a UDP
 * socket on 127.0.0.1 answered by hand in the same thread (RFC 1035 4.1). */
#include "test.h"

#include "control/resolver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct record {
    const char *name;
    uint32_t ttl;
    const char *v4[3]; /* NULL-terminated */
};

struct fake_dns {
    int fd;
    char servers[32];
    const struct record *records;
    size_t nrecords;
    int answered;
};

static void fake_start(struct fake_dns *d, const struct record *records, size_t n)
{
    d->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    ASSERT(d->fd >= 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ASSERT_EQ(bind(d->fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    socklen_t len = sizeof(sin);
    ASSERT_EQ(getsockname(d->fd, (struct sockaddr *)&sin, &len), 0);
    snprintf(d->servers, sizeof(d->servers), "127.0.0.1:%u", ntohs(sin.sin_port));
    d->records = records;
    d->nrecords = n;
    d->answered = 0;
}

/* Answers one query waiting on the socket: A records from the table, none for AAAA (NOERROR),
 * NXDOMAIN for a name not in it. */
static void fake_answer(struct fake_dns *d)
{
    unsigned char q[512], out[1024];
    struct sockaddr_storage peer;
    socklen_t plen = sizeof(peer);
    ssize_t n = recvfrom(d->fd, q, sizeof(q), 0, (struct sockaddr *)&peer, &plen);
    if (n < 17)
        return;
    char name[256];
    size_t i = 12, nl = 0;
    while (i < (size_t)n && q[i] && nl + q[i] + 1 < sizeof(name)) {
        if (nl)
            name[nl++] = '.';
        memcpy(name + nl, q + i + 1, q[i]);
        nl += q[i];
        i += 1 + q[i];
    }
    name[nl] = '\0';
    size_t qend = i + 5;
    ASSERT(qend <= (size_t)n);
    unsigned qtype = (unsigned)q[i + 1] << 8 | q[i + 2];
    const struct record *rec = NULL;
    for (size_t k = 0; k < d->nrecords; k++)
        if (strcmp(d->records[k].name, name) == 0)
            rec = &d->records[k];
    memcpy(out, q, qend);
    out[2] = 0x84 | (q[2] & 0x01); /* QR, AA, RD as asked */
    out[3] = 0x80 | (rec ? 0 : 3); /* RA; NOERROR or NXDOMAIN */
    size_t o = qend, an = 0;
    for (size_t k = 0; rec && qtype == 1 && k < 3 && rec->v4[k]; k++) {
        unsigned char rr[16] = {0xc0, 0x0c, 0, 1, 0, 1, (unsigned char)(rec->ttl >> 24), (unsigned char)(rec->ttl >> 16),
                                (unsigned char)(rec->ttl >> 8), (unsigned char)rec->ttl, 0, 4};
        ASSERT_EQ(inet_pton(AF_INET, rec->v4[k], rr + 12), 1);
        memcpy(out + o, rr, sizeof(rr));
        o += sizeof(rr);
        an++;
    }
    out[6] = 0;
    out[7] = (unsigned char)an;
    memset(out + 8, 0, 4); /* no authority or additional records (an EDNS OPT is not echoed) */
    sendto(d->fd, out, o, 0, (struct sockaddr *)&peer, plen);
    d->answered++;
}

/* Runs the resolver and the fake server until the server has answered want queries and the
 * resolver has read the answers, 2 s at most. */
static void pump(struct tr_resolver *r, struct fake_dns *d, int want)
{
    uint64_t end = mono_ms() + 2000, settle = 0;
    while (mono_ms() < end) {
        tr_resolver_run(r);
        struct pollfd fds[1 + TR_RESOLVER_MAX_FDS] = {{d->fd, POLLIN, 0}};
        size_t n = tr_resolver_pollfds(r, fds + 1, TR_RESOLVER_MAX_FDS);
        poll(fds, 1 + n, 10);
        if (fds[0].revents & POLLIN)
            fake_answer(d);
        tr_resolver_handle(r, fds + 1, n);
        if (d->answered >= want && !settle)
            settle = mono_ms() + 50;
        if (settle && mono_ms() >= settle)
            return;
    }
    tr_test_fail(__FILE__, __LINE__, "the fake DNS server answered %d queries of %d", d->answered, want);
}

static struct tr_resolver *resolver(const char *servers)
{
    char *err = NULL;
    struct tr_resolver *r = tr_resolver_new(servers, 0, &err);
    if (!r)
        tr_test_fail(__FILE__, __LINE__, "tr_resolver_new(%s): %s", servers ? servers : "NULL", err);
    return r;
}

TEST(resolver_rejects_bad_server_lists)
{
    static const char *const bad[] = {"", "not-an-ip", "1.2.3.4:x", "1.2.3.4:99999", "1.2.3.4:0", "1.2.3.4:",
                                      "1.2.3.4,", "[::1", "[::1]53", "[::1]:", "1.2.3.4:53 ", "localhost:53",
                                      "1.1.1.1,2.2.2.2,3.3.3.3,4.4.4.4,5.5.5.5,6.6.6.6,7.7.7.7,8.8.8.8,9.9.9.9"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *err = NULL;
        struct tr_resolver *r = tr_resolver_new(bad[i], 0, &err);
        if (r) {
            tr_resolver_free(r);
            tr_test_fail(__FILE__, __LINE__, "accepted \"%s\"", bad[i]);
        }
        ASSERT_STRSTR(err, "ADDR[:PORT]");
        free(err);
    }
    static const char *const good[] = {"127.0.0.1", "127.0.0.1:5353", "::1", "[::1]:53", "10.0.0.1,[fd00::1]:5353"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        tr_resolver_free(resolver(good[i]));
}

TEST(resolver_answers_sorted_with_clamped_ttls)
{
    static const struct record recs[] = {
        {"long.test", 86400, {"10.0.0.2", "10.0.0.1", "10.0.0.2"}},
        {"zero.test", 0, {"10.0.1.1"}},
    };
    struct fake_dns d;
    fake_start(&d, recs, 2);
    struct tr_resolver *r = resolver(d.servers);
    const char *out[8];
    tr_resolver_begin(r);
    ASSERT_EQ(tr_resolver_get(r, "long.test", out, 8), 0); /* not asked yet */
    ASSERT_EQ(tr_resolver_get(r, "zero.test", out, 8), 0);
    ASSERT_EQ(tr_resolver_get(r, "long.test", out, 8), 0); /* one entry per name */
    tr_resolver_sweep(r);
    ASSERT_EQ(tr_resolver_names(r), 2);
    ASSERT(tr_resolver_due(r) <= mono_ms()); /* new names are due at once */
    uint64_t t0 = mono_ms();
    pump(r, &d, 4); /* A and AAAA for each */
    ASSERT(tr_resolver_changed(r));
    ASSERT(!tr_resolver_changed(r)); /* reading it clears it */
    /* Sorted as text, without the duplicate. */
    ASSERT_EQ(tr_resolver_get(r, "long.test", out, 8), 2);
    ASSERT_STREQ(out[0], "10.0.0.1");
    ASSERT_STREQ(out[1], "10.0.0.2");
    ASSERT_EQ(tr_resolver_get(r, "long.test", out, 1), 1); /* cap */
    ASSERT_EQ(tr_resolver_get(r, "zero.test", out, 8), 1);
    ASSERT_STREQ(out[0], "10.0.1.1");
    /* A TTL of 0 is asked again after the 1 s floor, not at once (nor after the day of the other,
     * which waits the 300 s ceiling). */
    uint64_t due = tr_resolver_due(r);
    ASSERT(due >= t0 + TR_RESOLVER_TTL_MIN_MS - 10 && due <= mono_ms() + TR_RESOLVER_TTL_MIN_MS);
    /* The same answer again changes nothing. */
    while (mono_ms() < due)
        usleep(20000);
    int before = d.answered;
    pump(r, &d, before + 2);
    ASSERT(!tr_resolver_changed(r));
    due = tr_resolver_due(r);
    ASSERT(due > mono_ms() + TR_RESOLVER_TTL_MIN_MS / 2 && due <= mono_ms() + TR_RESOLVER_TTL_MIN_MS);
    tr_resolver_free(r);
    close(d.fd);
}

TEST(resolver_nxdomain_is_an_empty_answer)
{
    struct fake_dns d;
    fake_start(&d, NULL, 0);
    struct tr_resolver *r = resolver(d.servers);
    const char *out[4];
    tr_resolver_begin(r);
    tr_resolver_get(r, "missing.test", out, 4);
    tr_resolver_sweep(r);
    uint64_t t0 = mono_ms();
    pump(r, &d, 2);
    ASSERT_EQ(tr_resolver_get(r, "missing.test", out, 4), 0);
    uint64_t due = tr_resolver_due(r);
    ASSERT(due >= t0 + TR_RESOLVER_NEGATIVE_MS - 10 && due <= mono_ms() + TR_RESOLVER_NEGATIVE_MS);
    tr_resolver_free(r);
    close(d.fd);
}

TEST(resolver_literal_needs_no_query)
{
    struct tr_resolver *r = resolver("127.0.0.1:9"); /* nothing answers there: nothing is asked */
    const char *out[2];
    tr_resolver_begin(r);
    ASSERT_EQ(tr_resolver_get(r, "fd00:0::1", out, 2), 0);
    tr_resolver_sweep(r);
    tr_resolver_run(r);
    ASSERT(tr_resolver_changed(r));
    ASSERT_EQ(tr_resolver_get(r, "fd00:0::1", out, 2), 1);
    ASSERT_STREQ(out[0], "fd00::1");
    ASSERT(tr_resolver_due(r) >= mono_ms() + TR_RESOLVER_TTL_MAX_MS - 1000);
    tr_resolver_free(r);
}

TEST(resolver_forgets_names_not_asked_for)
{
    struct fake_dns d;
    fake_start(&d, NULL, 0); /* reads nothing: queries stay in flight */
    struct tr_resolver *r = resolver(d.servers);
    const char *out[2];
    tr_resolver_begin(r);
    tr_resolver_get(r, "a.test", out, 2);
    tr_resolver_get(r, "b.test", out, 2);
    tr_resolver_get(r, "c.test", out, 2);
    tr_resolver_sweep(r);
    ASSERT_EQ(tr_resolver_names(r), 3);
    tr_resolver_run(r); /* all three in flight */
    tr_resolver_begin(r);
    tr_resolver_get(r, "a.test", out, 2);
    tr_resolver_sweep(r);
    ASSERT_EQ(tr_resolver_names(r), 1);
    /* b and c were forgotten in flight; a is freed in flight (ASan checks both). */
    tr_resolver_free(r);
    close(d.fd);
}
