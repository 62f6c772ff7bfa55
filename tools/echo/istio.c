/* Istio's echo application (pkg/test/echo in istio/istio), which the Gateway API mesh
 * conformance suite runs as gcr.io/k8s-staging-gateway-api/echo-advanced (FROM
 * gcr.io/istio-release/app:1.21.2, docker/Dockerfile.echo-advanced in gateway-api). Formats and
 * names follow Istio 1.21.2:
 *
 *   HTTP (server/endpoint/http.go, addResponsePayload): a text body of key=value lines, written
 *   by fields.go as "%s=%s\n", in the order ServiceVersion, ServicePort, Host, URL, Cluster,
 *   IstioVersion, Namespace, Method, Proto, IP, Alpn, one RequestHeader=Name:value per value of
 *   Go's r.Header (canonical names sorted, so no Host), then Hostname. The ?delay=, ?headers=
 *   and ?codes= parameters work as there.
 *   gRPC (server/endpoint/grpc.go, EchoGrpcHandler.Echo): proto.EchoTestService/Echo answers
 *   with the same kind of lines, the metadata first, in EchoResponse.message.
 *   TCP (server/endpoint/tcp.go): at the first read, the fields, then every byte echoed back.
 *
 * Istio takes the host name from os.Hostname(); here it is POD_NAME (which defaults to the host
 * name), since every echo of the suite may run on one host in its own network namespace. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "echo.h"

#define ISTIO_SERVICE "proto.EchoTestService"
#define HEALTH_SERVICE "grpc.health.v1.Health"
#define TCP_REQUEST_MS 15000 /* tcp.go: requestTimeout, then the connection is reset */

/* ---------- fields (fields.go) ---------- */

static void field(struct buf *b, const char *key, const char *value)
{
    buf_printf(b, "%s=%s\n", key, value ? value : "");
}

static void field_nonempty(struct buf *b, const char *key, const char *value)
{
    if (value && *value)
        field(b, key, value);
}

static void field_int(struct buf *b, const char *key, int value)
{
    buf_printf(b, "%s=%d\n", key, value);
}

/* The host part of "ip:port" or "[ip]:port", as net.SplitHostPort gives it. */
static void peer_ip(const char *remote, char *out, size_t n)
{
    if (remote[0] == '[') {
        size_t len = strcspn(remote + 1, "]");
        snprintf(out, n, "%.*s", (int)len, remote + 1);
        return;
    }
    const char *colon = strrchr(remote, ':');
    snprintf(out, n, "%.*s", colon ? (int)(colon - remote) : (int)strlen(remote), remote);
}

/* ---------- HTTP ---------- */

static bool form_value(const struct hreq *rq, const char *query, const char *key, struct buf *out)
{
    /* Go's FormValue: the urlencoded body first, then the query. */
    if (rq->form_ok && rq->form.len && query_get(rq->form.p, rq->form.len, key, out))
        return true;
    return query && query_get(query, strlen(query), key, out);
}

/* strconv.Atoi, with its error text. */
static bool go_atoi(const char *s, size_t n, long long *v, char *err, size_t errlen)
{
    size_t i = 0;
    bool neg = false;
    if (n && (s[0] == '+' || s[0] == '-'))
        neg = s[i++] == '-';
    unsigned long long acc = 0;
    bool range = false;
    if (i == n)
        goto syntax;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            goto syntax;
        acc = acc * 10 + (unsigned long long)(s[i] - '0');
        if (acc > (1ull << 63))
            range = true;
    }
    if (range || (!neg && acc > (1ull << 63) - 1)) {
        snprintf(err, errlen, "strconv.Atoi: parsing \"%.*s\": value out of range", (int)n, s);
        return false;
    }
    *v = neg ? -(long long)(acc - 1) - 1 : (long long)acc;
    return true;
syntax:
    snprintf(err, errlen, "strconv.Atoi: parsing \"%.*s\": invalid syntax", (int)n, s);
    return false;
}

/* math/rand stand-in: xorshift64*, seeded once per process. */
static uint64_t rand_below(uint64_t n)
{
    static uint64_t state;
    if (!state)
        state = (now_ms() << 20) ^ (uint64_t)getpid() ^ 0x9E3779B97F4A7C15ull;
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return (state * 2685821657736338717ull) % n;
}

struct code_slices {
    long long code, slices;
};

/* ?codes=code[:count][,code[:count]]*: validateCodes and setResponseFromCodes in http.go. Returns
 * the status (0: keep 200) or -1 when Go's handler would panic (every count 0: rand.Intn(0)). */
static int pick_code(const char *spec, char *err, size_t errlen)
{
    size_t cap = 1;
    for (const char *p = spec; *p; p++)
        cap += *p == ',';
    struct code_slices *codes = xcalloc(cap, sizeof *codes);
    size_t n = 0;
    const char *p = spec;
    for (;;) {
        size_t len = strcspn(p, ",");
        const char *colon = memchr(p, ':', len);
        if (colon && memchr(colon + 1, ':', (size_t)(p + len - colon - 1))) {
            snprintf(err, errlen, "invalid \"%.*s\" (want code or code:count)", (int)len, p);
            free(codes);
            return 0;
        }
        size_t clen = colon ? (size_t)(colon - p) : len;
        struct code_slices *c = &codes[n++];
        c->slices = 1;
        if (!go_atoi(p, clen, &c->code, err, errlen)) {
            free(codes);
            return 0;
        }
        if (c->code < 200 || c->code >= 600) {
            snprintf(err, errlen, "invalid HTTP response code %lld", c->code);
            free(codes);
            return 0;
        }
        if (colon) {
            if (!go_atoi(colon + 1, len - clen - 1, &c->slices, err, errlen)) {
                free(codes);
                return 0;
            }
            if (c->slices < 0) {
                snprintf(err, errlen, "invalid count %lld", c->slices);
                free(codes);
                return 0;
            }
        }
        if (!p[len])
            break;
        p += len + 1;
    }
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t next = total + (uint64_t)codes[i].slices;
        total = next < total ? UINT64_MAX : next; /* saturate: Go's int would wrap and panic */
    }
    if (!total) {
        free(codes);
        return -1;
    }
    /* Istio's walk, kept as written: the slice falls in the last flavour whose start is at or
     * below it. */
    uint64_t slice = rand_below(total), position = 0;
    int code = (int)codes[n - 1].code;
    for (size_t i = 0; i < n; i++) {
        if (position > slice) {
            code = (int)codes[i - 1].code;
            break;
        }
        position += (uint64_t)codes[i].slices;
    }
    free(codes);
    return code;
}

/* ?headers=name:value[,name:value]*: each sets one response header, name as given, up to the
 * first malformed entry. *touched: one was set (Go's ResponseWriter.Header() was called). */
static bool set_headers(const char *spec, struct hresp *rs, bool *touched, char *err,
                        size_t errlen)
{
    for (const char *p = spec;;) {
        size_t len = strcspn(p, ",");
        const char *colon = memchr(p, ':', len);
        if (!colon || memchr(colon + 1, ':', (size_t)(p + len - colon - 1))) {
            snprintf(err, errlen, "invalid \"%.*s\" (want name:value)", (int)len, p);
            return false;
        }
        size_t nlen = (size_t)(colon - p);
        *touched = true;
        struct hdr *same = NULL; /* Go assigns the map entry, exact name: one value */
        for (size_t i = 0; i < rs->hdrs.n && !same; i++)
            if (strlen(rs->hdrs.v[i].name) == nlen && !memcmp(rs->hdrs.v[i].name, p, nlen))
                same = &rs->hdrs.v[i];
        if (same) {
            free(same->value);
            same->value = xstrndup(colon + 1, len - nlen - 1);
        } else {
            hdrs_add(&rs->hdrs, p, nlen, colon + 1, len - nlen - 1);
        }
        if (!p[len])
            return true;
        p += len + 1;
    }
}

static void http_payload(const struct hreq *rq, struct buf *b)
{
    char ip[64];
    peer_ip(rq->remote ? rq->remote : "", ip, sizeof ip);
    field(b, "ServiceVersion", cfg.version);
    field_int(b, "ServicePort", rq->port);
    field(b, "Host", rq->host);
    field(b, "URL", rq->target); /* r.RequestURI: the raw target */
    field_nonempty(b, "Cluster", cfg.cluster);
    field_nonempty(b, "IstioVersion", cfg.istio_version);
    field_nonempty(b, "Namespace", cfg.namespace_);
    field(b, "Method", rq->method);
    field(b, "Proto", rq->proto);
    field(b, "IP", ip);
    if (rq->tls)
        field_nonempty(b, "Alpn", rq->tls->alpn);
    struct hdrs sorted;
    hdrs_sorted_canonical(&rq->hdrs, &sorted);
    for (size_t i = 0; i < sorted.n; i++)
        buf_printf(b, "RequestHeader=%s:%s\n", sorted.v[i].name, sorted.v[i].value);
    hdrs_free(&sorted);
    field(b, "Hostname", cfg.pod);
}

void istio_handle_http(const struct hreq *rq, struct hresp *rs)
{
    log_line("%s %s %s from %s on port %d", rq->proto, rq->method, rq->target, rq->remote,
             rq->port);
    const char *q = strchr(rq->target, '?');
    char *query = q ? xstrndup(q + 1, strcspn(q + 1, "#")) : NULL;
    struct buf v = {0};
    char err[256];
    rs->status = 200;

    /* Errors go into the body, one line each, ahead of the fields (writeError). */
    if (form_value(rq, query, "delay", &v) && v.len &&
        !parse_duration(v.p, &rs->delay_ms, err, sizeof err))
        buf_printf(&rs->body, "error delaying response error: %s\n", err);
    bool header_called = false;
    if (form_value(rq, query, "headers", &v) && v.len &&
        !set_headers(v.p, rs, &header_called, err, sizeof err))
        buf_printf(&rs->body, "response headers error: %s\n", err);
    if (form_value(rq, query, "codes", &v) && v.len) {
        err[0] = 0;
        int code = pick_code(v.p, err, sizeof err);
        if (code < 0)
            rs->action = ACT_CLOSE;
        else if (code)
            rs->status = code;
        if (*err)
            buf_printf(&rs->body, "codes error: %s\n", err);
    }
    buf_free(&v);
    free(query);
    http_payload(rq, &rs->body);

    /* Istio sets Content-Type after WriteHeader. Go still sends it unless the header map was
     * touched before (by ?headers=), when WriteHeader froze a copy without it and the body is
     * sniffed instead. */
    const char *ctype = header_called ? "text/plain; charset=utf-8" : "application/text";
    if (!hdrs_get(&rs->hdrs, "Content-Type"))
        hdrs_add(&rs->hdrs, "Content-Type", 12, ctype, strlen(ctype));
}

/* ---------- gRPC ---------- */

static void grpc_echo(const struct hreq *rq, const unsigned char *req, size_t len, struct buf *b)
{
    const unsigned char *msg;
    size_t mlen;
    pb_get_string(req, len, 1, &msg, &mlen); /* EchoRequest.message; validity checked already */

    /* grpc-go's incoming metadata: :authority (or Host), then the headers a handler sees. Istio
     * walks a Go map, so its order varies; ours is :authority first, then arrival order. */
    if (rq->host) {
        field(b, "Host", rq->host);
        buf_printf(b, "RequestHeader=:authority:%s\n", rq->host);
    }
    for (size_t i = 0; i < rq->hdrs.n; i++) {
        const char *name = rq->hdrs.v[i].name;
        size_t nlen = strlen(name);
        if (grpc_is_transport_header(name) || (nlen >= 4 && !strcmp(name + nlen - 4, "-bin")))
            continue; /* binary headers are skipped by Istio */
        buf_printf(b, "RequestHeader=%s:%s\n", name, rq->hdrs.v[i].value);
    }
    char ip[64];
    peer_ip(rq->remote ? rq->remote : "", ip, sizeof ip);
    field(b, "StatusCode", "200");
    field(b, "ServiceVersion", cfg.version);
    field_int(b, "ServicePort", rq->port);
    field_nonempty(b, "Cluster", cfg.cluster);
    field_nonempty(b, "Namespace", cfg.namespace_);
    field(b, "IP", ip);
    field_nonempty(b, "IstioVersion", cfg.istio_version);
    field(b, "Proto", "GRPC");
    buf_printf(b, "Echo=%.*s\n", (int)mlen, (const char *)msg);
    field(b, "Hostname", cfg.pod);
}

void istio_handle_grpc(const struct hreq *rq, const char *service, size_t slen, const char *method,
                       const struct buf *body, struct hresp *rs, struct hdrs *trailers)
{
    char msg[512];
    bool echo = slen == strlen(ISTIO_SERVICE) && !strncmp(service, ISTIO_SERVICE, slen);
    bool health = slen == strlen(HEALTH_SERVICE) && !strncmp(service, HEALTH_SERVICE, slen);
    if (echo && !strcmp(method, "ForwardEcho")) {
        grpc_set_status(&rs->hdrs, GRPC_UNIMPLEMENTED, "method ForwardEcho not implemented");
        return;
    }
    if ((echo && strcmp(method, "Echo")) || (health && strcmp(method, "Check"))) {
        snprintf(msg, sizeof msg, "unknown method %s for service %.*s", method, (int)slen, service);
        grpc_set_status(&rs->hdrs, GRPC_UNIMPLEMENTED, msg);
        return;
    }
    if (!echo && !health) {
        snprintf(msg, sizeof msg, "unknown service %.*s", (int)slen, service);
        grpc_set_status(&rs->hdrs, GRPC_UNIMPLEMENTED, msg);
        return;
    }
    const unsigned char *req;
    size_t len;
    int code = grpc_unary_message(rq, body, &req, &len, msg, sizeof msg);
    if (code != GRPC_OK) {
        grpc_set_status(&rs->hdrs, code, msg);
        return;
    }
    struct buf text = {0}, resp = {0};
    if (echo) {
        log_line("GRPC request %s from %s on port %d", rq->target, rq->remote, rq->port);
        grpc_echo(rq, req, len, &text);
        pb_bytes(&resp, 1, text.p ? text.p : "", text.len);
    } else {
        static const unsigned char serving[] = {0x08, 0x01}; /* HealthCheckResponse{SERVING} */
        buf_add(&resp, serving, sizeof serving);
    }
    grpc_frame(&rs->body, resp.p, resp.len);
    grpc_set_status(trailers, GRPC_OK, NULL);
    buf_free(&text);
    buf_free(&resp);
}

/* ---------- TCP ---------- */

struct istio_tcp {
    struct conn *c;
    bool answered;
    struct timer deadline;
};

static void tcp_fields(struct conn *c)
{
    struct istio_tcp *t = c->proto;
    struct buf b = {0};
    char ip[64];
    peer_ip(c->remote, ip, sizeof ip);
    field(&b, "StatusCode", "200");
    field_nonempty(&b, "Cluster", cfg.cluster);
    field_nonempty(&b, "IstioVersion", cfg.istio_version);
    field_nonempty(&b, "Namespace", cfg.namespace_);
    field(&b, "ServiceVersion", cfg.version);
    field_int(&b, "ServicePort", c->l->port);
    field(&b, "IP", ip);
    field(&b, "Proto", "TCP");
    field(&b, "Hostname", cfg.pod);
    t->answered = true;
    conn_write(c, b.p, b.len);
    buf_free(&b);
}

/* Istio answers at its first read, data or not, so the fields never come before the client has
 * spoken (a server-first client would take them for the greeting). */
static void istio_tcp_on_data(struct conn *c)
{
    struct istio_tcp *t = c->proto;
    if (!t->answered)
        tcp_fields(c);
    if (c->dead)
        return;
    conn_write(c, c->in.p, c->in.len);
    c->in.len = 0;
}

static void istio_tcp_on_eof(struct conn *c)
{
    struct istio_tcp *t = c->proto;
    if (!t->answered)
        tcp_fields(c);
    conn_close(c);
}

static void istio_tcp_free(struct conn *c)
{
    struct istio_tcp *t = c->proto;
    timer_stop(&t->deadline);
    free(t);
    conn_set_proto(c, NULL, NULL);
}

static void on_tcp_deadline(struct timer *tm)
{
    struct istio_tcp *t = (struct istio_tcp *)((char *)tm - offsetof(struct istio_tcp, deadline));
    log_line("TCP forcing connection %s closed after request timeout", t->c->remote);
    conn_abort(t->c, true);
}

static const struct proto_ops istio_tcp_ops = {istio_tcp_on_data, istio_tcp_on_eof, NULL,
                                               istio_tcp_free};

void istio_tcp_start(struct conn *c)
{
    struct istio_tcp *t = xcalloc(1, sizeof *t);
    t->c = c;
    timer_init(&t->deadline, on_tcp_deadline);
    timer_start(&t->deadline, TCP_REQUEST_MS);
    conn_set_proto(c, &istio_tcp_ops, t);
    log_line("TCP connection from %s on port %d", c->remote, c->l->port);
    if (c->in.len)
        istio_tcp_on_data(c);
}
