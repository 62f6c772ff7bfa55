/* The gRPC echo service (FORMAT.md section 10), with its protobuf messages encoded by hand: the
 * messages are few and flat, and a generated stack would be the only reason to pull in protobuf.
 * The wire helpers (pb_*, grpc_*) also serve Istio's echo service (istio.c) and the client.
 *
 * Status and metadata follow grpc-go, which the upstream server uses: unknown services and
 * methods and EchoThree answer UNIMPLEMENTED in a trailers-only response; the echoed headers are
 * the metadata grpc-go hands to a handler, :authority included, transport headers (te,
 * grpc-timeout, grpc-encoding, ...) left out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "echo.h"

#define SERVICE "gateway_api_conformance.echo_basic.grpcecho.GrpcEcho"

/* ---------- protobuf wire format ---------- */

static void pb_varint(struct buf *b, uint64_t v)
{
    do {
        unsigned char byte = v & 0x7F;
        v >>= 7;
        if (v)
            byte |= 0x80;
        buf_addc(b, (char)byte);
    } while (v);
}

void pb_bytes(struct buf *b, unsigned field, const void *p, size_t n)
{
    pb_varint(b, (uint64_t)field << 3 | 2);
    pb_varint(b, n);
    buf_add(b, p, n);
}

/* proto3 leaves empty singular strings out; repeated elements are always written. */
static void pb_str(struct buf *b, unsigned field, const char *s, bool always)
{
    if (!s)
        s = "";
    if (*s || always)
        pb_bytes(b, field, s, strlen(s));
}

static bool pb_read_varint(const unsigned char **p, const unsigned char *end, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*p >= end)
            return false;
        unsigned char byte = *(*p)++;
        *v |= (uint64_t)(byte & 0x7F) << shift;
        if (!(byte & 0x80))
            return true;
    }
    return false;
}

/* Walks a message: true if it is well-formed. Fields numbered `want` with wire type 2 are
 * reported through *s and *slen, the last one winning (proto3 merge rules for a string). */
static bool pb_scan(const unsigned char *p, size_t n, unsigned want, const unsigned char **s,
                    size_t *slen)
{
    const unsigned char *end = p + n;
    while (p < end) {
        uint64_t tag, v;
        if (!pb_read_varint(&p, end, &tag) || (tag >> 3) == 0)
            return false;
        switch (tag & 7) {
        case 0:
            if (!pb_read_varint(&p, end, &v))
                return false;
            break;
        case 1:
            if (end - p < 8)
                return false;
            p += 8;
            break;
        case 2:
            if (!pb_read_varint(&p, end, &v) || v > (uint64_t)(end - p))
                return false;
            if (want && (tag >> 3) == want) {
                *s = p;
                *slen = (size_t)v;
            }
            p += v;
            break;
        case 5:
            if (end - p < 4)
                return false;
            p += 4;
            break;
        default:
            return false; /* groups are not proto3 */
        }
    }
    return true;
}

/* echo-basic's EchoRequest has no fields: every field is unknown and skipped, but the bytes must
 * be a well-formed message, or grpc-go fails the call. */
static bool pb_valid(const unsigned char *p, size_t n)
{
    return pb_scan(p, n, 0, NULL, NULL);
}

bool pb_get_string(const unsigned char *p, size_t n, unsigned field, const unsigned char **s,
                   size_t *slen)
{
    *s = (const unsigned char *)"";
    *slen = 0;
    return pb_scan(p, n, field, s, slen);
}

void grpc_frame(struct buf *out, const void *msg, size_t n)
{
    /* Length-prefixed message: compression flag 0, 4-byte big-endian length. */
    unsigned char prefix[5] = {0, (unsigned char)(n >> 24), (unsigned char)(n >> 16),
                               (unsigned char)(n >> 8), (unsigned char)n};
    buf_add(out, prefix, 5);
    buf_add(out, n ? msg : "", n);
}

const char *grpc_code_name(int code)
{
    static const char *const names[] = {"OK", "Canceled", "Unknown", "InvalidArgument",
                                        "DeadlineExceeded", "NotFound", "AlreadyExists",
                                        "PermissionDenied", "ResourceExhausted",
                                        "FailedPrecondition", "Aborted", "OutOfRange",
                                        "Unimplemented", "Internal", "Unavailable", "DataLoss",
                                        "Unauthenticated"};
    if (code >= 0 && code < (int)(sizeof names / sizeof names[0]))
        return names[code];
    return "Unknown";
}

/* ---------- metadata ---------- */

bool grpc_is_transport_header(const char *name)
{
    static const char *const skip[] = {"te", "grpc-timeout", "grpc-encoding", "grpc-message",
                                       "grpc-status", "grpc-message-type", "grpc-status-details-bin",
                                       "host", "connection", NULL};
    if (name[0] == ':')
        return true;
    for (int i = 0; skip[i]; i++)
        if (!strcasecmp(name, skip[i]))
            return true;
    return false;
}

static void add_header(struct buf *a, const char *key, const char *value)
{
    struct buf h = {0};
    pb_str(&h, 1, key, false);
    pb_str(&h, 2, value, false);
    pb_bytes(a, 2, h.p ? h.p : "", h.len);
    buf_free(&h);
}

static void encode_response(const struct hreq *rq, const char *method, struct buf *msg)
{
    struct buf a = {0}, ctx = {0}, full = {0};
    buf_printf(&full, "/%s/%s", SERVICE, method);
    pb_str(&a, 1, full.p, false);
    if (rq->host)
        add_header(&a, ":authority", rq->host);
    for (size_t i = 0; i < rq->hdrs.n; i++)
        if (!grpc_is_transport_header(rq->hdrs.v[i].name))
            add_header(&a, rq->hdrs.v[i].name, rq->hdrs.v[i].value);
    pb_str(&a, 3, rq->host, false);
    pb_str(&ctx, 1, cfg.namespace_, false);
    pb_str(&ctx, 2, cfg.ingress, false);
    pb_str(&ctx, 3, cfg.service, false);
    pb_str(&ctx, 4, cfg.pod, false);
    pb_bytes(&a, 4, ctx.p ? ctx.p : "", ctx.len); /* a set message is written even when empty */
    if (rq->tls) {
        const struct tls_info *t = rq->tls;
        struct buf tb = {0};
        pb_str(&tb, 1, tls_version_name(t->version, false), false);
        pb_str(&tb, 2, t->alpn, false);
        pb_str(&tb, 3, t->server_name, false);
        pb_str(&tb, 4, t->cipher, false);
        for (size_t i = 0; i < t->npeer; i++)
            pb_str(&tb, 5, t->peer_pem[i], true);
        pb_bytes(&a, 5, tb.p ? tb.p : "", tb.len);
        buf_free(&tb);
    }
    struct buf resp = {0};
    pb_bytes(&resp, 1, a.p ? a.p : "", a.len);
    grpc_frame(msg, resp.p, resp.len);
    buf_free(&resp);
    buf_free(&a);
    buf_free(&ctx);
    buf_free(&full);
}

/* grpc-message is percent-encoded outside printable ASCII (and '%' itself). */
void grpc_set_status(struct hdrs *h, int code, const char *msg)
{
    char num[16];
    snprintf(num, sizeof num, "%d", code);
    hdrs_add(h, "grpc-status", 11, num, strlen(num));
    if (!msg || !*msg)
        return;
    struct buf m = {0};
    for (const unsigned char *p = (const unsigned char *)msg; *p; p++) {
        if (*p < 0x20 || *p > 0x7E || *p == '%')
            buf_printf(&m, "%%%02X", *p);
        else
            buf_addc(&m, (char)*p);
    }
    hdrs_add(h, "grpc-message", 12, m.p, m.len);
    buf_free(&m);
}

int grpc_unary_message(const struct hreq *rq, const struct buf *body, const unsigned char **one,
                       size_t *one_len, char *msg, size_t mlen)
{
    const unsigned char *p = (const unsigned char *)body->p, *end = p + body->len;
    int count = 0;
    while (p < end) {
        if (end - p < 5) {
            snprintf(msg, mlen, "grpc: received a truncated message frame");
            return GRPC_INTERNAL;
        }
        uint32_t n = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4];
        if (p[0] & 1) {
            const char *enc = hdrs_get(&rq->hdrs, "grpc-encoding");
            if (!enc || !strcmp(enc, "identity")) {
                snprintf(msg, mlen, "grpc: compressed flag set with identity or empty encoding");
                return GRPC_INTERNAL;
            }
            snprintf(msg, mlen, "grpc: Decompressor is not installed for grpc-encoding \"%s\"", enc);
            return GRPC_UNIMPLEMENTED;
        }
        if ((size_t)(end - p - 5) < n) {
            snprintf(msg, mlen, "grpc: received a truncated message");
            return GRPC_INTERNAL;
        }
        if (!pb_valid(p + 5, n)) {
            snprintf(msg, mlen, "grpc: error unmarshalling request: proto: cannot parse invalid wire-format data");
            return GRPC_INTERNAL;
        }
        *one = p + 5;
        *one_len = n;
        p += 5 + n;
        count++;
    }
    if (count == 0) {
        snprintf(msg, mlen, "grpc: received no request message");
        return GRPC_INTERNAL;
    }
    if (count > 1) {
        snprintf(msg, mlen, "grpc: client streaming protocol violation: get <nil>, want <EOF>");
        return GRPC_INTERNAL;
    }
    return GRPC_OK;
}

void grpc_handle(const struct hreq *rq, const struct buf *body, struct hresp *rs, struct hdrs *trailers)
{
    rs->status = 200;
    rs->action = ACT_SEND;
    const char *ct = hdrs_get(&rq->hdrs, "content-type");
    hdrs_add(&rs->hdrs, "content-type", 12, "application/grpc", 16);
    char msg[512];

    if (!ct || strncmp(ct, "application/grpc", 16) || (ct[16] && ct[16] != '+' && ct[16] != ';')) {
        rs->status = 415;
        snprintf(msg, sizeof msg, "invalid gRPC request content-type \"%s\"", ct ? ct : "");
        grpc_set_status(&rs->hdrs, GRPC_INVALID_ARGUMENT, msg);
        return;
    }
    if (strcmp(rq->method, "POST")) {
        rs->status = 405;
        snprintf(msg, sizeof msg, "invalid gRPC request method \"%s\"", rq->method);
        grpc_set_status(&rs->hdrs, GRPC_INTERNAL, msg);
        return;
    }
    /* :path is /package.Service/Method */
    const char *path = rq->target;
    const char *slash = path[0] == '/' ? strchr(path + 1, '/') : NULL;
    if (!slash) {
        snprintf(msg, sizeof msg, "malformed method name: \"%s\"", path);
        grpc_set_status(&rs->hdrs, GRPC_UNIMPLEMENTED, msg);
        return;
    }
    size_t slen = (size_t)(slash - path - 1);
    const char *method = slash + 1;
    if (cfg.mode == MODE_ISTIO) {
        istio_handle_grpc(rq, path + 1, slen, method, body, rs, trailers);
        return;
    }
    if (slen != strlen(SERVICE) || strncmp(path + 1, SERVICE, slen)) {
        snprintf(msg, sizeof msg, "unknown service %.*s", (int)slen, path + 1);
        grpc_set_status(&rs->hdrs, GRPC_UNIMPLEMENTED, msg);
        return;
    }
    if (!strcmp(method, "EchoThree")) {
        grpc_set_status(&rs->hdrs, GRPC_UNIMPLEMENTED, "method EchoThree not implemented");
        return;
    }
    if (strcmp(method, "Echo") && strcmp(method, "EchoTwo")) {
        snprintf(msg, sizeof msg, "unknown method %s for service %s", method, SERVICE);
        grpc_set_status(&rs->hdrs, GRPC_UNIMPLEMENTED, msg);
        return;
    }
    const unsigned char *one;
    size_t one_len;
    int code = grpc_unary_message(rq, body, &one, &one_len, msg, sizeof msg);
    if (code != GRPC_OK) {
        grpc_set_status(&rs->hdrs, code, msg);
        return;
    }
    log_line("Received over %s: ", rq->tls ? "TLS" : "plaintext");
    encode_response(rq, method, &rs->body);
    grpc_set_status(trailers, GRPC_OK, NULL);
}
