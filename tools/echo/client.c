/* `torii-echo client`: the client of Istio's echo (pkg/test/echo/cmd/client), which the Gateway
 * API mesh suite execs inside a pod (conformance/utils/echo/pod.go: `client URL --method=M
 * -H 'Name: value'`) and whose stdout it parses with regexps (utils/echo/parse.go).
 *
 * Output per request i, as Istio's forwarder writes it (server/forwarder/http.go and grpc.go,
 * fields.go): "[i] Url=", "[i] Header=" per header sent, "[i] Latency=", "[i] ActiveRequests=",
 * "[i] StatusCode=", "[i] ResponseHeader=Name:value" (canonical names, sorted), then
 * "[i body] line" per non-empty body line, and an empty line after each request (Istio prints
 * each output with Println). A failed request prints "[i error] reason".
 *
 * Unlike Istio's client, requests go one after the other over one kept-alive connection (Istio
 * opens one per HTTP/1.1 request and runs them in parallel), and a failed request does not hide
 * the others' output. The address to connect to is numeric, from --connect-to or the URL: the
 * test runner resolves names itself, and a client inside a bare network namespace has no DNS. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "echo.h"

#define DEFAULT_TIMEOUT_MS 5000 /* Istio's common.DefaultRequestTimeout */
#define MAX_HEAD (1u << 20)
#define MAX_BODY (64u << 20)
#define USER_AGENT "torii-echo"

/* ---------- sockets with a deadline ---------- */

uint64_t client_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int wait_fd(int fd, short events, uint64_t deadline_ms)
{
    for (;;) {
        uint64_t now = now_ms();
        if (now >= deadline_ms)
            return -ETIMEDOUT;
        uint64_t left = deadline_ms - now;
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
        if (r > 0)
            return 0;
        if (r == 0)
            return -ETIMEDOUT;
        if (errno != EINTR)
            return -errno;
    }
}

/* strerror as Go words it: lower case. */
static void go_strerror(int err, char *out, size_t n)
{
    snprintf(out, n, "%s", err == ETIMEDOUT ? "i/o timeout" : strerror(err));
    if (out[0] >= 'A' && out[0] <= 'Z')
        out[0] = (char)(out[0] + 32);
}

int client_connect(const struct client_opts *o, uint64_t deadline_ms, char *err, size_t errlen)
{
    char reason[128];
    int fd = socket(o->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        go_strerror(errno, reason, sizeof reason);
        snprintf(err, errlen, "dial tcp %s: socket: %s", o->addr_text, reason);
        return -1;
    }
    int rc = 0;
    if (connect(fd, (const struct sockaddr *)&o->addr, o->addrlen) && errno != EINPROGRESS)
        rc = -errno;
    if (!rc && (rc = wait_fd(fd, POLLOUT, deadline_ms)) == 0) {
        int soerr = 0;
        socklen_t len = sizeof soerr;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
        rc = -soerr;
    }
    if (rc) {
        go_strerror(-rc, reason, sizeof reason);
        snprintf(err, errlen, "dial tcp %s: %s%s", o->addr_text,
                 rc == -ETIMEDOUT ? "" : "connect: ", reason);
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

int client_send(int fd, const void *p, size_t n, uint64_t deadline_ms)
{
    const char *at = p;
    while (n) {
        ssize_t w = send(fd, at, n, MSG_NOSIGNAL);
        if (w > 0) {
            at += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return -errno;
        int rc = wait_fd(fd, POLLOUT, deadline_ms);
        if (rc)
            return rc;
    }
    return 0;
}

ssize_t client_recv(int fd, void *p, size_t cap, uint64_t deadline_ms)
{
    for (;;) {
        ssize_t r = recv(fd, p, cap, 0);
        if (r >= 0)
            return r;
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return -errno;
        int rc = wait_fd(fd, POLLIN, deadline_ms);
        if (rc)
            return rc;
    }
}

/* ---------- output ---------- */

void client_field(struct buf *out, long i, const char *key, const char *fmt, ...)
{
    buf_printf(out, "[%ld] %s=", i, key);
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof small) {
        buf_add(out, small, (size_t)n);
    } else if (n >= 0) {
        char *big = xcalloc(1, (size_t)n + 1);
        va_start(ap, fmt);
        vsnprintf(big, (size_t)n + 1, fmt, ap);
        va_end(ap);
        buf_add(out, big, (size_t)n);
        free(big);
    }
    buf_addc(out, '\n');
}

void client_body(struct buf *out, long i, const char *p, size_t n)
{
    /* strings.Split(body, "\n"), empty lines left out */
    const char *end = p + n;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (len) {
            buf_printf(out, "[%ld body] ", i);
            buf_add(out, p, len);
            buf_addc(out, '\n');
        }
        p += len + (nl != NULL);
    }
}

void client_error(struct buf *out, long i, const char *fmt, ...)
{
    buf_printf(out, "[%ld error] ", i);
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    buf_adds(out, msg);
    buf_addc(out, '\n');
}

/* Go's time.Duration.String(), e.g. 1.234567ms, 850.2µs, 1m2.5s. */
static void go_duration(uint64_t ns, char *out, size_t n)
{
    uint64_t whole, frac = 0;
    int digits = 0;
    const char *unit;
    char prefix[48] = "";
    if (ns < 1000) {
        snprintf(out, n, "%llu%s", (unsigned long long)ns, ns ? "ns" : "s");
        return;
    }
    if (ns < 1000000) {
        whole = ns / 1000, frac = ns % 1000, digits = 3, unit = "\xc2\xb5s";
    } else if (ns < 1000000000) {
        whole = ns / 1000000, frac = ns % 1000000, digits = 6, unit = "ms";
    } else {
        uint64_t h = ns / 3600000000000ull, m = ns / 60000000000ull % 60;
        if (h)
            snprintf(prefix, sizeof prefix, "%lluh%llum", (unsigned long long)h,
                     (unsigned long long)m);
        else if (m)
            snprintf(prefix, sizeof prefix, "%llum", (unsigned long long)m);
        ns %= 60000000000ull;
        whole = ns / 1000000000, frac = ns % 1000000000, digits = 9, unit = "s";
    }
    char f[16] = "";
    if (frac) {
        snprintf(f, sizeof f, ".%0*llu", digits, (unsigned long long)frac);
        size_t k = strlen(f);
        while (k > 1 && f[k - 1] == '0') /* f starts with the point */
            f[--k] = '\0';
    }
    snprintf(out, n, "%s%llu%s%s", prefix, (unsigned long long)whole, f, unit);
}

void client_timing(struct buf *out, long i, uint64_t start_ns)
{
    char d[64];
    go_duration(client_now_ns() - start_ns, d, sizeof d);
    client_field(out, i, "Latency", "%s", d);
    client_field(out, i, "ActiveRequests", "1"); /* requests run one at a time */
}

/* ---------- HTTP/1.1 ---------- */

struct h1conn {
    int fd;
    struct buf in;
    long served;  /* answers read on this connection */
    int opened;   /* connections opened in this run */
};

struct h1resp {
    int status;
    bool http10;
    struct hdrs hdrs;
    struct buf body;
    bool keep_alive;
};

static void h1_close(struct h1conn *k)
{
    if (k->fd >= 0)
        close(k->fd);
    k->fd = -1;
    k->in.len = 0;
}

/* More input; bytes read, or 0 at EOF, or -errno. */
static ssize_t fill(struct h1conn *k, uint64_t deadline_ms)
{
    buf_reserve(&k->in, 16384);
    ssize_t n = client_recv(k->fd, k->in.p + k->in.len, 16384, deadline_ms);
    if (n > 0) {
        k->in.len += (size_t)n;
        k->in.p[k->in.len] = 0;
    }
    return n;
}

/* The end of the head in k->in (after its empty line), or 0 when incomplete. */
static size_t head_end(const struct buf *in)
{
    for (size_t i = 0; i < in->len; i++) {
        if (in->p[i] != '\n')
            continue;
        if (i + 1 < in->len && in->p[i + 1] == '\n')
            return i + 2;
        if (i + 2 < in->len && in->p[i + 1] == '\r' && in->p[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

/* Parses a response head; false if malformed. */
static bool parse_head(const char *p, size_t n, struct h1resp *r)
{
    const char *end = p + n;
    const char *nl = memchr(p, '\n', n);
    size_t len = (size_t)(nl - p);
    if (len && p[len - 1] == '\r')
        len--;
    if (len < 12 || memcmp(p, "HTTP/1.", 7) || p[8] != ' ' ||
        strspn(p + 9, "0123456789") < 3 || (len > 12 && p[12] != ' '))
        return false;
    r->http10 = p[7] == '0';
    r->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    for (p = nl + 1; p < end;) {
        nl = memchr(p, '\n', (size_t)(end - p));
        len = (size_t)(nl - p);
        if (len && p[len - 1] == '\r')
            len--;
        if (!len)
            break;
        const char *colon = memchr(p, ':', len);
        if (!colon || colon == p)
            return false;
        const char *v = colon + 1, *vend = p + len;
        while (v < vend && (*v == ' ' || *v == '\t'))
            v++;
        while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'))
            vend--;
        hdrs_add(&r->hdrs, p, (size_t)(colon - p), v, (size_t)(vend - v));
        p = nl + 1;
    }
    return true;
}

/* Reads the chunked body that starts in k->in. 0, or -errno / -EPROTO. */
static int read_chunked(struct h1conn *k, struct buf *body, uint64_t deadline_ms)
{
    for (;;) {
        char *nl;
        while (!(nl = memchr(k->in.p, '\n', k->in.len))) {
            if (k->in.len > 4096)
                return -EPROTO;
            ssize_t n = fill(k, deadline_ms);
            if (n <= 0)
                return n ? (int)n : -ECONNRESET;
        }
        char *endp;
        unsigned long long size = strtoull(k->in.p, &endp, 16);
        if (endp == k->in.p)
            return -EPROTO;
        buf_consume(&k->in, (size_t)(nl - k->in.p) + 1);
        if (!size)
            break;
        if (size > MAX_BODY || body->len + size > MAX_BODY)
            return -EFBIG;
        while (k->in.len < size + 2) {
            ssize_t n = fill(k, deadline_ms);
            if (n <= 0)
                return n ? (int)n : -ECONNRESET;
        }
        buf_add(body, k->in.p, (size_t)size);
        buf_consume(&k->in, (size_t)size);
        buf_consume(&k->in, k->in.p[0] == '\r' ? 2 : 1);
    }
    for (;;) { /* trailers, up to the empty line */
        char *nl;
        while (!(nl = memchr(k->in.p, '\n', k->in.len))) {
            if (k->in.len > MAX_HEAD)
                return -EPROTO;
            ssize_t n = fill(k, deadline_ms);
            if (n <= 0)
                return n ? (int)n : -ECONNRESET;
        }
        size_t len = (size_t)(nl - k->in.p);
        bool empty = !len || (len == 1 && k->in.p[0] == '\r');
        buf_consume(&k->in, len + 1);
        if (empty)
            return 0;
    }
}

/* Reads one response (1xx interim answers skipped). 0, or -errno; *got is set once any byte of
 * it arrived, so a request the server never saw can be told from one it dropped. */
static int read_response(struct h1conn *k, bool head_request, struct h1resp *r, bool *got,
                         uint64_t deadline_ms)
{
    *got = k->in.len > 0;
    size_t hlen;
    for (;;) {
        while (!(hlen = head_end(&k->in))) {
            if (k->in.len > MAX_HEAD)
                return -EPROTO;
            ssize_t n = fill(k, deadline_ms);
            if (n <= 0)
                return n ? (int)n : -ECONNRESET;
            *got = true;
        }
        hdrs_free(&r->hdrs);
        if (!parse_head(k->in.p, hlen, r))
            return -EPROTO;
        buf_consume(&k->in, hlen);
        if (r->status >= 200 || r->status == 101)
            break;
    }
    const char *conn = hdrs_get(&r->hdrs, "Connection");
    r->keep_alive = r->http10 ? conn && token_list_has(conn, "keep-alive")
                              : !(conn && token_list_has(conn, "close"));
    const char *te = hdrs_get(&r->hdrs, "Transfer-Encoding");
    const char *cl = hdrs_get(&r->hdrs, "Content-Length");
    if (head_request || r->status < 200 || r->status == 204 || r->status == 304)
        return 0;
    if (te && token_list_has(te, "chunked")) {
        hdrs_del(&r->hdrs, "Transfer-Encoding"); /* Go's Response.Header leaves it out too */
        return read_chunked(k, &r->body, deadline_ms);
    }
    if (cl) {
        char *endp;
        unsigned long long want = strtoull(cl, &endp, 10);
        if (endp == cl || *endp || want > MAX_BODY)
            return -EPROTO;
        while (k->in.len < want) {
            ssize_t n = fill(k, deadline_ms);
            if (n <= 0)
                return n ? (int)n : -ECONNRESET;
        }
        buf_add(&r->body, k->in.p, (size_t)want);
        buf_consume(&k->in, (size_t)want);
        return 0;
    }
    r->keep_alive = false; /* the body runs to the end of the connection */
    for (;;) {
        buf_add(&r->body, k->in.p, k->in.len);
        k->in.len = 0;
        if (r->body.len > MAX_BODY)
            return -EFBIG;
        ssize_t n = fill(k, deadline_ms);
        if (n == 0)
            return 0;
        if (n < 0)
            return (int)n;
    }
}

static void build_request(const struct client_opts *o, struct buf *req)
{
    const char *m = o->method;
    buf_printf(req, "%s %s HTTP/1.1\r\nHost: %s\r\n", m, o->target, o->authority);
    /* Go's order: Host, User-Agent, Content-Length, then the rest sorted */
    if (!hdrs_get(&o->hdrs, "User-Agent"))
        buf_adds(req, "User-Agent: " USER_AGENT "\r\n");
    bool body_method = !strcmp(m, "POST") || !strcmp(m, "PUT") || !strcmp(m, "PATCH");
    if (body_method && !hdrs_get(&o->hdrs, "Content-Length"))
        buf_adds(req, "Content-Length: 0\r\n");
    struct hdrs sorted;
    hdrs_sorted_canonical(&o->hdrs, &sorted);
    for (size_t i = 0; i < sorted.n; i++)
        buf_printf(req, "%s: %s\r\n", sorted.v[i].name, sorted.v[i].value);
    hdrs_free(&sorted);
    buf_adds(req, "\r\n");
}

/* net/http's error prefix: `Get "http://x/": ...` */
static void url_error(struct buf *out, long i, const struct client_opts *o, const char *reason)
{
    char op[32];
    snprintf(op, sizeof op, "%s", o->method);
    for (char *p = op + 1; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p + 32);
    client_error(out, i, "%s \"%s\": %s", op, o->url, reason);
}

static void io_reason(int rc, char *out, size_t n)
{
    if (rc == -ETIMEDOUT)
        snprintf(out, n, "context deadline exceeded "
                         "(Client.Timeout exceeded while awaiting headers)");
    else if (rc == -ECONNRESET)
        snprintf(out, n, "EOF");
    else if (rc == -EPROTO)
        snprintf(out, n, "malformed HTTP response");
    else if (rc == -EFBIG)
        snprintf(out, n, "response body over %u bytes", MAX_BODY);
    else
        go_strerror(-rc, out, n);
}

/* One request; false if it got no answer. */
static bool http_one(const struct client_opts *o, struct h1conn *k, long i, struct buf *out)
{
    uint64_t start = client_now_ns(), deadline = now_ms() + o->timeout_ms;
    client_field(out, i, "Url", "%s", o->url);
    for (size_t h = 0; h < o->hdrs.n; h++) {
        char key[256];
        size_t len = strlen(o->hdrs.v[h].name);
        len = len < sizeof key - 1 ? len : sizeof key - 1;
        canonical_key(key, o->hdrs.v[h].name, len);
        client_field(out, i, "Header", "%s:%s", key, o->hdrs.v[h].value);
    }
    struct buf req = {0};
    build_request(o, &req);
    struct h1resp r = {0};
    char reason[512];
    bool ok = false;
    for (int attempt = 0;; attempt++) {
        bool reused = k->fd >= 0;
        if (!reused) {
            k->fd = client_connect(o, deadline, reason, sizeof reason);
            if (k->fd < 0) {
                url_error(out, i, o, reason);
                break;
            }
            k->opened++;
            k->served = 0;
        }
        bool got = false;
        int rc = client_send(k->fd, req.p, req.len, deadline);
        if (!rc)
            rc = read_response(k, !strcmp(o->method, "HEAD"), &r, &got, deadline);
        if (!rc) {
            ok = true;
            break;
        }
        h1_close(k);
        /* A kept-alive connection the server closed before reading this request: the request
         * was never seen, so sending it again loses and doubles nothing (Go does the same). */
        if (reused && !got && attempt == 0 &&
            (rc == -ECONNRESET || rc == -EPIPE)) {
            fprintf(stderr, "torii-echo client: [%ld] the server had closed the kept-alive "
                            "connection; request sent again on a new one, nothing lost\n", i);
            hdrs_free(&r.hdrs);
            buf_free(&r.body);
            continue;
        }
        io_reason(rc, reason, sizeof reason);
        url_error(out, i, o, reason);
        break;
    }
    buf_free(&req);
    if (ok) {
        k->served++;
        client_timing(out, i, start);
        client_field(out, i, "StatusCode", "%d", r.status);
        struct hdrs sorted;
        hdrs_sorted_canonical(&r.hdrs, &sorted);
        for (size_t h = 0; h < sorted.n; h++)
            client_field(out, i, "ResponseHeader", "%s:%s", sorted.v[h].name, sorted.v[h].value);
        hdrs_free(&sorted);
        client_body(out, i, r.body.p, r.body.len);
        if (!r.keep_alive) {
            h1_close(k);
            if (i + 1 < o->count)
                fprintf(stderr, "torii-echo client: [%ld] the server closes the connection after "
                                "its answer; the next request goes on a new one\n", i);
        }
    }
    hdrs_free(&r.hdrs);
    buf_free(&r.body);
    return ok;
}

static long http_run(const struct client_opts *o, int *opened)
{
    struct h1conn k = {.fd = -1};
    long failed = 0;
    for (long i = 0; i < o->count; i++) {
        struct buf out = {0};
        failed += !http_one(o, &k, i, &out);
        buf_addc(&out, '\n');
        fwrite(out.p, 1, out.len, stdout);
        fflush(stdout);
        buf_free(&out);
    }
    h1_close(&k);
    buf_free(&k.in);
    *opened = k.opened;
    return failed;
}

/* ---------- arguments ---------- */

static void client_usage(FILE *f)
{
    fputs("usage: torii-echo client URL [--method M] [-H 'Name: value']... [--count N]\n"
          "                         [--timeout SECS] [--connect-to ADDR:PORT] [--msg TEXT]\n"
          "URL is http://host[:port]/path or grpc://host[:port]. Without --connect-to the host\n"
          "must be a numeric address; names are never resolved. -H 'Host: x' replaces the\n"
          "Host header (:authority). --timeout takes seconds or a Go duration (500ms, 2s).\n", f);
}

/* "1.2.3.4:80" or "[::1]:80"; the port may be left out when def_port > 0. */
static bool parse_addr(const char *s, size_t n, int def_port, struct client_opts *o)
{
    const char *end = s + n, *hs = s, *he, *port = NULL;
    if (n && s[0] == '[') {
        const char *br = memchr(s, ']', n);
        if (!br)
            return false;
        hs = s + 1;
        he = br;
        if (br + 1 < end) {
            if (br[1] != ':')
                return false;
            port = br + 2;
        }
    } else {
        const char *colon = memchr(s, ':', n);
        if (colon && memchr(colon + 1, ':', (size_t)(end - colon - 1)))
            return false; /* IPv6 needs brackets */
        he = colon ? colon : end;
        port = colon ? colon + 1 : NULL;
    }
    char host[INET6_ADDRSTRLEN];
    if ((size_t)(he - hs) >= sizeof host)
        return false;
    memcpy(host, hs, (size_t)(he - hs));
    host[he - hs] = 0;
    long p = def_port;
    if (port) {
        size_t plen = (size_t)(end - port);
        if (!plen || plen > 5)
            return false;
        p = 0;
        for (const char *d = port; d < end; d++) {
            if (*d < '0' || *d > '9')
                return false;
            p = p * 10 + (*d - '0');
        }
    }
    if (p <= 0 || p > 65535)
        return false;
    memset(&o->addr, 0, sizeof o->addr);
    struct sockaddr_in *in4 = (struct sockaddr_in *)&o->addr;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&o->addr;
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)p);
        o->addrlen = sizeof *in4;
        snprintf(o->addr_text, sizeof o->addr_text, "%s:%ld", host, p);
    } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)p);
        o->addrlen = sizeof *in6;
        snprintf(o->addr_text, sizeof o->addr_text, "[%s]:%ld", host, p);
    } else {
        return false;
    }
    return true;
}

/* http://host[:port]/path or grpc://host[:port]. Fills authority, target and, without
 * --connect-to, the address. */
static bool parse_url(struct client_opts *o, bool have_addr, char *err, size_t errlen)
{
    const char *u = o->url, *a;
    if (!strncasecmp(u, "http://", 7)) {
        a = u + 7;
    } else if (!strncasecmp(u, "grpc://", 7)) {
        a = u + 7;
        o->grpc = true;
    } else {
        snprintf(err, errlen, "unsupported URL %s (want http:// or grpc://)", u);
        return false;
    }
    size_t alen = strcspn(a, "/?#");
    if (!alen) {
        snprintf(err, errlen, "no host in URL %s", u);
        return false;
    }
    const char *rest = a + alen;
    size_t tlen = strcspn(rest, "#");
    struct buf t = {0};
    if (*rest != '/')
        buf_addc(&t, '/');
    buf_add(&t, rest, tlen);
    o->target = xstrdup(t.p);
    buf_free(&t);

    /* host[:port] as written; http's default port is left out, as curl and the suite do */
    size_t keep = alen;
    if (!o->grpc && alen > 3 && !memcmp(a + alen - 3, ":80", 3) &&
        (a[0] != '[' || a[alen - 4] == ']'))
        keep = alen - 3;
    if (!o->authority)
        o->authority = xstrndup(a, keep);
    if (!have_addr && !parse_addr(a, alen, o->grpc ? 443 : 80, o)) {
        snprintf(err, errlen, "host in %s is not a numeric address: pass --connect-to ADDR:PORT "
                              "(names are not resolved)", u);
        return false;
    }
    return true;
}

static bool parse_timeout(const char *s, uint64_t *ms)
{
    char *end;
    double v = strtod(s, &end);
    double scale;
    if (end == s || v <= 0)
        return false;
    if (!*end || !strcmp(end, "s"))
        scale = 1000;
    else if (!strcmp(end, "ms"))
        scale = 1;
    else if (!strcmp(end, "m"))
        scale = 60000;
    else
        return false;
    double t = v * scale;
    *ms = t < 1 ? 1 : t > 86400000.0 ? 86400000u : (uint64_t)t;
    return true;
}

/* -H 'Name: value' (Istio requires exactly one colon; a value with colons is allowed here). */
static bool add_header(struct client_opts *o, const char *arg)
{
    const char *colon = strchr(arg, ':');
    if (!colon)
        return false;
    const char *n = arg, *nend = colon, *v = colon + 1, *vend = colon + strlen(colon);
    while (n < nend && (*n == ' ' || *n == '\t'))
        n++;
    while (nend > n && (nend[-1] == ' ' || nend[-1] == '\t'))
        nend--;
    while (v < vend && (*v == ' ' || *v == '\t'))
        v++;
    while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'))
        vend--;
    if (n == nend)
        return false;
    if ((size_t)(nend - n) == 4 && !strncasecmp(n, "Host", 4)) {
        if (!o->authority) /* Header.Get: the first one */
            o->authority = xstrndup(v, (size_t)(vend - v));
        return true;
    }
    hdrs_add(&o->hdrs, n, (size_t)(nend - n), v, (size_t)(vend - v));
    return true;
}

int client_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"method", 1, 0, 'm'}, {"header", 1, 0, 'H'}, {"count", 1, 0, 'c'},
        {"timeout", 1, 0, 't'}, {"connect-to", 1, 0, 'C'}, {"msg", 1, 0, 'M'},
        {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    struct client_opts o = {.count = 1, .timeout_ms = DEFAULT_TIMEOUT_MS, .msg = "HelloWorld",
                            .method = "GET"};
    const char *connect_to = NULL;
    int ch, rc = 2;
    char err[512];
    while ((ch = getopt_long(argc, argv, "H:h", opts, NULL)) != -1) {
        char *end;
        switch (ch) {
        case 'm': o.method = *optarg ? optarg : "GET"; break;
        case 'H':
            if (!add_header(&o, optarg)) {
                fprintf(stderr, "torii-echo client: invalid header format: \"%s\" "
                                "(want name:value)\n", optarg);
                goto out;
            }
            break;
        case 'c':
            o.count = strtol(optarg, &end, 10);
            if (end == optarg || *end || o.count < 1 || o.count > 1000000) {
                fprintf(stderr, "torii-echo client: bad --count %s\n", optarg);
                goto out;
            }
            break;
        case 't':
            if (!parse_timeout(optarg, &o.timeout_ms)) {
                fprintf(stderr, "torii-echo client: bad --timeout %s\n", optarg);
                goto out;
            }
            break;
        case 'C': connect_to = optarg; break;
        case 'M': o.msg = optarg; break;
        case 'h': client_usage(stdout); rc = 0; goto out;
        default: client_usage(stderr); goto out;
        }
    }
    if (optind != argc - 1) {
        client_usage(stderr);
        goto out;
    }
    o.url = argv[optind];
    if (connect_to && !parse_addr(connect_to, strlen(connect_to), 0, &o)) {
        fprintf(stderr, "torii-echo client: --connect-to wants IPV4:PORT or [IPV6]:PORT, not %s\n",
                connect_to);
        goto out;
    }
    if (!parse_url(&o, connect_to != NULL, err, sizeof err)) {
        fprintf(stderr, "torii-echo client: %s\n", err);
        goto out;
    }
    int opened = 0;
    long failed = o.grpc ? client_grpc_run(&o, &opened) : http_run(&o, &opened);
    fprintf(stderr, "torii-echo client: %ld/%ld requests answered over %d connection%s\n",
            o.count - failed, o.count, opened, opened == 1 ? "" : "s");
    rc = failed ? 1 : 0;
out:
    free(o.authority);
    free(o.target);
    hdrs_free(&o.hdrs);
    return rc;
}
