/* ext_authz messages in protobuf's wire format: proxy/authz_pb.h says which. Field numbers are
 * the v3 API's (envoy/service/auth/v3/{external_auth,attribute_context}.proto,
 * envoy/config/core/v3/{address,base}.proto, envoy/type/v3/http_status.proto,
 * google/rpc/status.proto). */
#include "proxy/authz_pb.h"
#include "base/buf.h"
#include "http/h1_parse.h"

#include <ctype.h>
#include <string.h>

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

/* --- writing --- */

static void put_varint(struct tr_buf *b, uint64_t v)
{
    char tmp[10];
    size_t n = 0;
    do {
        tmp[n++] = (char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    tr_buf_append(b, tmp, n);
}

static void put_tag(struct tr_buf *b, unsigned field, unsigned wt)
{
    put_varint(b, (uint64_t)field << 3 | wt);
}

static void put_bytes(struct tr_buf *b, unsigned field, const char *p, size_t n)
{
    put_tag(b, field, WT_LEN);
    put_varint(b, n);
    tr_buf_append(b, p, n);
}

static void put_str(struct tr_buf *b, unsigned field, const char *s)
{
    if (s && *s)
        put_bytes(b, field, s, strlen(s));
}

/* Field `field` holding the message built in sub (emptied). */
static void put_msg(struct tr_buf *b, unsigned field, struct tr_buf *sub)
{
    put_bytes(b, field, sub->data ? sub->data : "", sub->len);
    sub->len = 0;
}

/* Peer{address: Address{socket_address: SocketAddress{address, port_value}}} */
static void put_peer(struct tr_buf *b, unsigned field, const char *addr, uint16_t port, struct tr_buf *s)
{
    struct tr_buf sock, address;
    tr_buf_init(&sock, 0);
    tr_buf_init(&address, 0);
    put_str(&sock, 2, addr);
    put_tag(&sock, 3, WT_VARINT);
    put_varint(&sock, port);
    put_msg(&address, 1, &sock);
    put_msg(s, 1, &address);
    put_msg(b, field, s);
    tr_buf_dispose(&sock);
    tr_buf_dispose(&address);
}

static bool utf8_ok(const char *p, size_t n)
{
    const unsigned char *s = (const unsigned char *)p, *e = s + n;
    while (s < e) {
        unsigned c = *s++;
        int more = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2 : (c & 0xf8) == 0xf0 ? 3 : -1;
        if (more < 0 || (c & 0xfe) == 0xc0 || e - s < more)
            return false;
        uint32_t v = c & (0x3f >> more);
        for (int i = 0; i < more; i++) {
            if ((s[i] & 0xc0) != 0x80)
                return false;
            v = v << 6 | (s[i] & 0x3f);
        }
        if ((more == 2 && (v < 0x800 || (v >= 0xd800 && v <= 0xdfff))) || (more == 3 && (v < 0x10000 || v > 0x10ffff)))
            return false;
        s += more;
    }
    return true;
}

/* One map<string,string> entry: {key: 1, value: 2}. */
static void put_entry(struct tr_buf *b, unsigned field, const char *k, size_t kl, const char *v, size_t vl,
                      struct tr_buf *s)
{
    put_bytes(s, 1, k, kl);
    put_bytes(s, 2, v, vl);
    put_msg(b, field, s);
}

void tr_authz_encode(struct tr_buf *out, const struct tr_authz_req *r)
{
    struct tr_buf http, s, joined, name;
    tr_buf_init(&http, 0);
    tr_buf_init(&s, 0);
    tr_buf_init(&joined, 0);
    tr_buf_init(&name, 0);
    /* HttpRequest */
    put_bytes(&http, 2, r->method, r->method_len);
    put_entry(&http, 3, ":authority", 10, r->host, r->host_len, &s);
    put_entry(&http, 3, ":method", 7, r->method, r->method_len, &s);
    put_entry(&http, 3, ":path", 5, r->path, r->path_len, &s);
    for (size_t i = 0; i < r->nheaders; i++) {
        const struct tr_h1_header *h = &r->headers[i];
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = r->headers[j].name_len == h->name_len && strncasecmp(r->headers[j].name, h->name, h->name_len) == 0;
        if (seen)
            continue; /* joined with its first */
        name.len = 0;
        for (size_t k = 0; k < h->name_len; k++)
            tr_buf_putc(&name, (char)tolower((unsigned char)h->name[k]));
        joined.len = 0;
        tr_buf_append(&joined, h->value, h->value_len);
        for (size_t j = i + 1; j < r->nheaders; j++)
            if (r->headers[j].name_len == h->name_len && strncasecmp(r->headers[j].name, h->name, h->name_len) == 0) {
                tr_buf_putc(&joined, ',');
                tr_buf_append(&joined, r->headers[j].value, r->headers[j].value_len);
            }
        put_entry(&http, 3, name.data, name.len, joined.data ? joined.data : "", joined.len, &s);
    }
    put_bytes(&http, 4, r->path, r->path_len);
    put_bytes(&http, 5, r->host, r->host_len);
    put_str(&http, 6, r->scheme);
    if (r->query)
        put_bytes(&http, 7, r->query, r->query_len);
    put_tag(&http, 9, WT_VARINT);
    put_varint(&http, (uint64_t)r->size); /* int64: -1 as ten bytes, as protobuf writes it */
    put_str(&http, 10, r->protocol);
    if (r->body && utf8_ok(r->body, r->body_len))
        put_bytes(&http, 11, r->body, r->body_len);
    else if (r->body)
        put_bytes(&http, 12, r->body, r->body_len);
    /* AttributeContext{source: 1, destination: 2, request: 4 = Request{http: 2}} */
    struct tr_buf ctx, req, msg;
    tr_buf_init(&ctx, 0);
    tr_buf_init(&req, 0);
    tr_buf_init(&msg, 0);
    put_peer(&ctx, 1, r->src_addr, r->src_port, &s);
    put_peer(&ctx, 2, r->dst_addr, r->dst_port, &s);
    put_msg(&req, 2, &http);
    put_msg(&ctx, 4, &req);
    put_msg(&msg, 1, &ctx); /* CheckRequest{attributes: 1} */
    char prefix[5] = {0, (char)(msg.len >> 24), (char)(msg.len >> 16), (char)(msg.len >> 8), (char)msg.len};
    tr_buf_append(out, prefix, 5);
    tr_buf_append(out, msg.data ? msg.data : "", msg.len);
    tr_buf_dispose(&http);
    tr_buf_dispose(&s);
    tr_buf_dispose(&joined);
    tr_buf_dispose(&name);
    tr_buf_dispose(&ctx);
    tr_buf_dispose(&req);
    tr_buf_dispose(&msg);
}

/* --- reading --- */

struct rd {
    const unsigned char *p, *end;
};

static bool get_varint(struct rd *r, uint64_t *v)
{
    uint64_t x = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (r->p == r->end)
            return false;
        unsigned char c = *r->p++;
        x |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *v = x;
            return true;
        }
    }
    return false;
}

/* The next field: its number and wire type, and for a length-delimited one its bytes (in
 * *sub), for a varint its value; fixed-width ones are skipped. False at the end or on bad
 * input (*bad set). */
static bool next(struct rd *r, unsigned *field, unsigned *wt, struct rd *sub, uint64_t *v, bool *bad)
{
    if (r->p == r->end)
        return false;
    uint64_t tag;
    if (!get_varint(r, &tag) || (tag >> 3) == 0 || (tag >> 3) > 0x1fffffff) {
        *bad = true;
        return false;
    }
    *field = (unsigned)(tag >> 3);
    *wt = (unsigned)(tag & 7);
    uint64_t n = 0;
    switch (*wt) {
    case WT_VARINT:
        if (!get_varint(r, v))
            break;
        return true;
    case WT_I64:
    case WT_I32:
        n = *wt == WT_I64 ? 8 : 4;
        if ((uint64_t)(r->end - r->p) < n)
            break;
        r->p += n;
        return true;
    case WT_LEN:
        if (!get_varint(r, &n) || n > (uint64_t)(r->end - r->p))
            break;
        sub->p = r->p;
        sub->end = r->p + n;
        r->p += n;
        return true;
    }
    *bad = true; /* groups (3, 4), 6, 7, or cut short */
    return false;
}

/* HeaderValueOption{header: 1 = HeaderValue{key: 1, value: 2, raw_value: 3}, append: 2 =
 * BoolValue{value: 1}, append_action: 3} into f. */
static bool header_option(struct rd m, struct tr_authz_field *f)
{
    *f = (struct tr_authz_field){0};
    unsigned field, wt;
    struct rd sub;
    uint64_t v = 0;
    bool bad = false;
    while (next(&m, &field, &wt, &sub, &v, &bad)) {
        if (field == 1 && wt == WT_LEN) {
            unsigned hf, hwt;
            struct rd hs;
            uint64_t hv = 0;
            while (next(&sub, &hf, &hwt, &hs, &hv, &bad)) {
                if (hwt != WT_LEN)
                    continue;
                if (hf == 1) {
                    f->name = (const char *)hs.p;
                    f->name_len = (size_t)(hs.end - hs.p);
                } else if (hf == 2 || (hf == 3 && !f->value_len)) {
                    f->value = (const char *)hs.p;
                    f->value_len = (size_t)(hs.end - hs.p);
                }
            }
        } else if (field == 2 && wt == WT_LEN) {
            unsigned bf, bwt;
            struct rd bs;
            uint64_t bv = 0;
            while (next(&sub, &bf, &bwt, &bs, &bv, &bad))
                if (bf == 1 && bwt == WT_VARINT)
                    f->append = bv != 0;
        } else if (field == 3 && wt == WT_VARINT) {
            f->append = v == 0; /* APPEND_IF_EXISTS_OR_ADD is 0; the others replace or skip */
        }
    }
    return !bad && f->name;
}

/* OkHttpResponse (3) or DeniedHttpResponse (2). */
static bool http_response(struct rd m, bool ok, struct tr_authz_resp *out)
{
    unsigned field, wt;
    struct rd sub;
    uint64_t v = 0;
    bool bad = false;
    while (next(&m, &field, &wt, &sub, &v, &bad)) {
        if (wt != WT_LEN)
            continue;
        if (field == 2) { /* headers */
            if (out->nfields == TR_AUTHZ_MAX_HEADERS || !header_option(sub, &out->fields[out->nfields]))
                return false;
            out->nfields++;
        } else if (ok && field == 5) { /* headers_to_remove */
            if (out->nremove == TR_AUTHZ_MAX_HEADERS)
                return false;
            out->remove[out->nremove++] = (struct tr_authz_field){.name = (const char *)sub.p,
                                                                   .name_len = (size_t)(sub.end - sub.p)};
        } else if (!ok && field == 1) { /* status: HttpStatus{code: 1} */
            unsigned sf, swt;
            struct rd ss;
            uint64_t sv = 0;
            while (next(&sub, &sf, &swt, &ss, &sv, &bad))
                if (sf == 1 && swt == WT_VARINT)
                    out->http_status = sv >= 100 && sv <= 599 ? (int)sv : 0;
        } else if (!ok && field == 3) { /* body */
            out->body = (const char *)sub.p;
            out->body_len = (size_t)(sub.end - sub.p);
        }
    }
    return !bad;
}

int tr_authz_decode(const char *p, size_t n, struct tr_authz_resp *out)
{
    *out = (struct tr_authz_resp){0};
    struct rd m = {(const unsigned char *)p, (const unsigned char *)p + n};
    unsigned field, wt;
    struct rd sub;
    uint64_t v = 0;
    bool bad = false;
    while (next(&m, &field, &wt, &sub, &v, &bad)) {
        if (field == 1 && wt == WT_LEN) { /* status: google.rpc.Status{code: 1} */
            unsigned sf, swt;
            struct rd ss;
            uint64_t sv = 0;
            while (next(&sub, &sf, &swt, &ss, &sv, &bad))
                if (sf == 1 && swt == WT_VARINT)
                    out->code = (int32_t)sv;
        } else if ((field == 2 || field == 3) && wt == WT_LEN) {
            if (!http_response(sub, field == 3, out))
                return -1;
        }
    }
    return bad ? -1 : 0;
}
