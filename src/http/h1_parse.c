/* HTTP/1.1 heads: find the end of the head (cheap, resumable), then parse it once in full.
 *
 * The work is split in two so that a head arriving in many reads costs one memchr pass over the
 * new bytes per read, and the strict parse runs exactly once, over a head known to be complete:
 * its loops then need no bounds checks, because every line ends with an LF inside the head and
 * no byte class below contains LF. The early checks (leading empty lines, the method bytes, the
 * start line length, the head length) run in both the incomplete and the complete case, in the
 * same order, so a head fed in pieces gets the same answer as in one piece. */
#include "http/h1_parse.h"

#include "base/err.h"
#include "base/mem.h"
#include "http/internal.h"

#include <string.h>

const struct tr_h1_limits tr_h1_default_limits = TR_H1_DEFAULT_LIMITS;

/* Generated: see the TR_H1_C_* classes in internal.h. */
const uint8_t tr_h1_chars[256] = {
    0,  0,  0,  0,  0,  0,  0,  0,  0,  2,  0,  0,  0,  0,  0,  0,  /* 0x00 */
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  /* 0x10 */
    2,  15, 6,  3,  15, 15, 15, 15, 14, 14, 15, 15, 14, 15, 15, 6,  /* 0x20 */
    31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 6,  14, 6,  14, 6,  6,  /* 0x30 */
    6,  31, 31, 31, 31, 31, 31, 15, 15, 15, 15, 15, 15, 15, 15, 15, /* 0x40 */
    15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 6,  6,  6,  7,  15, /* 0x50 */
    7,  31, 31, 31, 31, 31, 31, 15, 15, 15, 15, 15, 15, 15, 15, 15, /* 0x60 */
    15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 6,  7,  6,  15, 0,  /* 0x70 */
    6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  /* 0x80 */
    6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  /* 0x90 */
    6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  /* 0xa0 */
    6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  /* 0xb0 */
    6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  /* 0xc0 */
    6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  /* 0xd0 */
    6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  /* 0xe0 */
    6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  /* 0xf0 */
};

#define IS(c, cls) (tr_h1_chars[(unsigned char)(c)] & (cls))

/* Where an error is recorded: the request and response structs share these fields. */
struct errp {
    int *status;
    const char **reason;
    bool resp; /* responses answer 502 whatever went wrong */
    int rc;    /* what fail() returned last */
};

/* Records the error; returns TR_ELIMIT for a limit (414, 431), else TR_EPROTO. */
static int fail(struct errp *e, int status, const char *reason)
{
    *e->status = e->resp ? 502 : status;
    *e->reason = reason;
    return e->rc = status == 414 || status == 431 ? TR_ELIMIT : TR_EPROTO;
}

/* The limits made consistent: the start line fits in the head, and offsets fit in an int. */
static struct tr_h1_limits sane(const struct tr_h1_limits *lim)
{
    struct tr_h1_limits l = lim ? *lim : tr_h1_default_limits;
    if (l.max_head > (1u << 30))
        l.max_head = 1u << 30;
    if (l.max_head < 16)
        l.max_head = 16;
    if (l.max_line > l.max_head - 2)
        l.max_line = l.max_head - 2;
    if (l.max_headers > TR_H1_MAX_HEADERS)
        l.max_headers = TR_H1_MAX_HEADERS;
    return l;
}

/* Finds the end of the head in buf[0..len). Returns its offset (one past the LF of the empty
 * line), TR_EAGAIN, or an error. Resumes from s. */
static int find_head(const char *buf, size_t len, struct tr_h1_scan *s, const struct tr_h1_limits *lim,
                     bool request, struct errp *e)
{
    if (!s->started) {
        /* RFC 9112 2.2: a server SHOULD ignore at least one empty line before the request line
         * (left behind by clients that end a POST body with CRLF). max_head bounds them too. */
        size_t i = s->start;
        for (; i < len && i < lim->max_head; i++) {
            if (buf[i] == '\n')
                continue;
            if (buf[i] != '\r')
                break;
            if (i + 1 == len) {
                s->start = i;
                return TR_EAGAIN;
            }
            if (buf[++i] != '\n')
                return fail(e, 400, "bare CR");
        }
        if (i >= lim->max_head)
            return fail(e, 431, "head too large");
        s->start = i;
        if (i == len)
            return TR_EAGAIN;
        s->started = true;
        s->next = s->mscan = i;
    }
    const size_t start = s->start;

    if (request && !s->method_done) {
        /* Fail early on what is not HTTP at all (TLS to a plaintext port, say): the method is a
         * token ended by a single SP (RFC 9112 3). */
        size_t i = s->mscan, room = lim->max_line + 2; /* past it, the answer is 414 */
        size_t stop = len - start < room ? len : start + room;
        while (i < stop && IS(buf[i], TR_H1_C_TOKEN))
            i++;
        s->mscan = i;
        if (i < stop) {
            if (i == start || buf[i] != ' ')
                return fail(e, 400, "bad method");
            s->method_done = true;
        }
    }

    if (!s->line_end) {
        size_t room = lim->max_line + 2; /* the line, CR, LF */
        size_t stop = len - start < room ? len : start + room;
        const char *lf = memchr(buf + s->next, '\n', stop - s->next);
        if (!lf) {
            if (stop - start == room)
                return fail(e, 414, request ? "request line too long" : "status line too long");
            s->next = stop;
            goto incomplete;
        }
        size_t q = (size_t)(lf - buf), line = q - start;
        if (line && buf[q - 1] == '\r')
            line--;
        if (line > lim->max_line)
            return fail(e, 414, request ? "request line too long" : "status line too long");
        s->line_end = q + 1;
        s->next = q; /* the start line's LF may begin the end of the head */
    }

    /* The head ends with an LF followed by an empty line: "\n\n" or "\n\r\n". */
    size_t stop = len - start < lim->max_head ? len : start + lim->max_head;
    while (s->next < stop) {
        const char *lf = memchr(buf + s->next, '\n', stop - s->next);
        if (!lf) {
            s->next = stop;
            break;
        }
        size_t q = (size_t)(lf - buf);
        if (q + 1 == stop || (buf[q + 1] == '\r' && q + 2 == stop)) {
            s->next = q; /* undecided until more bytes come */
            break;
        }
        if (buf[q + 1] == '\n')
            return (int)(q + 2);
        if (buf[q + 1] == '\r') {
            if (buf[q + 2] == '\n')
                return (int)(q + 3);
            return fail(e, 400, "bare CR"); /* a line starts with CR but not CRLF */
        }
        s->next = q + 1;
    }
incomplete:
    if (len - start >= lim->max_head)
        return fail(e, 431, "head too large");
    return TR_EAGAIN;
}

/* Skips field-value bytes from p: returns the first byte that is none (CR or LF at the end of a
 * good line). Eight bytes at a time while no byte is below 0x20 or 0x7f (SWAR, as in Hacker's
 * Delight "find a byte less than n": obs-text, >= 0x80, is never flagged); HTAB and the last bytes
 * before end go the slow way. This is the loop long cookies and tokens spend their time in. */
static const char *skip_value(const char *p, const char *end)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    while (end - p >= 8) {
        uint64_t x;
        memcpy(&x, p, 8);
        uint64_t del = x ^ (ones * 0x7f);
        if (((x - ones * 0x20) | (del - ones)) & ~x & highs)
            break;
        p += 8;
    }
    while (IS(*p, TR_H1_C_VALUE))
        p++;
    return p;
}

/* Parses the field lines at p up to and including the empty line. Returns the byte after it, or
 * NULL after fail(). The head is complete, so every loop stops at an LF at the latest. */
static const char *parse_fields(const char *p, const char *end, struct tr_h1_header *headers,
                                size_t *nheaders, size_t max, struct errp *e)
{
    size_t n = 0;
    for (;; n++) {
        if (*p == '\r') {
            if (p[1] != '\n')
                break;
            p += 2;
            goto done;
        }
        if (*p == '\n') {
            p++;
            goto done;
        }
        if (n == max) {
            fail(e, 431, "too many header fields");
            return NULL;
        }
        const char *name = p;
        while (IS(*p, TR_H1_C_TOKEN))
            p++;
        if (p == name || *p != ':') {
            /* RFC 9112 5.1: no whitespace between name and colon; 5.2: obs-fold rejected. */
            bool ws = *p == ' ' || *p == '\t';
            fail(e, 400, !ws ? "bad field name" : p == name ? "obsolete line folding" : "whitespace before colon");
            return NULL;
        }
        struct tr_h1_header *h = &headers[n];
        h->name = name;
        h->name_len = (size_t)(p - name);
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        const char *v = p;
        p = skip_value(p, end);
        const char *ve = p;
        if (*p == '\r' && p[1] == '\n')
            p += 2;
        else if (*p == '\n')
            p++;
        else if (*p == '\r')
            break;
        else {
            fail(e, 400, "control byte in field value");
            return NULL;
        }
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        h->value = v;
        h->value_len = (size_t)(ve - v);
    }
    fail(e, 400, "bare CR");
    return NULL;
done:
    *nheaders = n;
    return p;
}

/* Reads "HTTP/x.y" at *pp: returns the minor version to record (0 or 1), -400 when it is not
 * an HTTP-version, -505 when the major version is not 1. */
static int parse_version(const char **pp)
{
    const char *p = *pp;
    if (p[0] != 'H' || p[1] != 'T' || p[2] != 'T' || p[3] != 'P' || p[4] != '/' ||
        (unsigned)(p[5] - '0') > 9 || p[6] != '.' || (unsigned)(p[7] - '0') > 9)
        return -400;
    *pp = p + 8;
    if (p[5] != '1')
        return -505;
    return p[7] == '0' ? 0 : 1; /* RFC 9110 2.5: 1.2+ is handled as the highest we know, 1.1 */
}

/* The line ends here: CRLF or LF. */
static const char *line_end(const char *p)
{
    if (p[0] == '\r' && p[1] == '\n')
        return p + 2;
    return p[0] == '\n' ? p + 1 : NULL;
}

/* host [":" port] (RFC 9110 7.2, RFC 3986 3.2.2-3.2.3): reg-name with valid percent-escapes, or
 * an IP-literal; no userinfo. Empty is allowed only when allow_empty; need_port for CONNECT. */
static bool valid_authority(const char *s, size_t n, bool allow_empty, bool need_port)
{
    size_t i = 0;
    if (n && s[0] == '[') {
        for (i = 1; i < n && s[i] != ']'; i++)
            if (!IS(s[i], TR_H1_C_HOST) && s[i] != ':')
                return false;
        if (i == n || i == 1)
            return false;
        i++;
    } else {
        for (; i < n && IS(s[i], TR_H1_C_HOST); i++)
            if (s[i] == '%' && (i + 2 >= n || !IS(s[i + 1], TR_H1_C_HEX) || !IS(s[i + 2], TR_H1_C_HEX)))
                return false;
        if (i == 0 && !allow_empty)
            return false;
    }
    if (i == n)
        return !need_port && (i > 0 || allow_empty);
    if (s[i++] != ':')
        return false;
    size_t digits = n - i;
    unsigned port = 0;
    for (; i < n; i++) {
        if ((unsigned)(s[i] - '0') > 9 || port > 65535)
            return false;
        port = port * 10 + (unsigned)(s[i] - '0');
    }
    return port <= 65535 && (digits > 0 || !need_port);
}

static enum tr_h1_method method_id(const char *m, size_t n)
{
#define M(lit, id)                                                                                 \
    if (n == sizeof(lit) - 1 && memcmp(m, lit, n) == 0)                                            \
        return id;
    switch (n) {
    case 3: M("GET", TR_H1_GET) M("PUT", TR_H1_PUT) break;
    case 4: M("POST", TR_H1_POST) M("HEAD", TR_H1_HEAD) break;
    case 5: M("PATCH", TR_H1_PATCH) M("TRACE", TR_H1_TRACE) break;
    case 6: M("DELETE", TR_H1_DELETE) break;
    case 7: M("OPTIONS", TR_H1_OPTIONS) M("CONNECT", TR_H1_CONNECT) break;
    }
#undef M
    return TR_H1_OTHER;
}

static bool lower_eq(const char *s, const char *lower, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z' ? c + 32 : c) != (unsigned char)lower[i])
            return false;
    }
    return true;
}

bool tr_h1_token_eq(const char *s, size_t len, const char *lower, size_t lower_len)
{
    return len == lower_len && lower_eq(s, lower, len);
}

const struct tr_h1_header *tr_h1_header_find(const struct tr_h1_header *headers, size_t n,
                                             const char *name, size_t name_len)
{
    for (size_t i = 0; i < n; i++)
        if (tr_h1_token_eq(headers[i].name, headers[i].name_len, name, name_len))
            return &headers[i];
    return NULL;
}

bool tr_h1_list_next(const char **pos, const char *end, const char **elem, size_t *elem_len)
{
    const char *p = *pos;
    while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
        p++;
    if (p == end) {
        *pos = p;
        return false;
    }
    const char *s = p;
    while (p < end && *p != ',')
        p++;
    const char *e = p;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    *elem = s;
    *elem_len = (size_t)(e - s);
    *pos = p;
    return true;
}

void tr_h1_req_init(struct tr_h1_req *req)
{
    memset(&req->scan_, 0, sizeof(req->scan_));
    req->nheaders = 0;
    req->error_status = 0;
    req->error_reason = NULL;
}

void tr_h1_resp_init(struct tr_h1_resp *resp)
{
    memset(&resp->scan_, 0, sizeof(resp->scan_));
    resp->nheaders = 0;
    resp->error_status = 0;
    resp->error_reason = NULL;
}

static const char h2_preface[] = "PRI * HTTP/2.0\r\n\r\n";

/* Classifies the target (RFC 9112 3.2) and sets path and, for absolute-form, nothing else:
 * the authority is taken in tr_h1_req_framing(). Returns 0 or an error from fail(). */
static int parse_target(struct tr_h1_req *req, struct errp *e)
{
    const char *t = req->target;
    size_t n = req->target_len;
    req->path = t;
    req->path_len = n;
    if (req->method_id == TR_H1_CONNECT) {
        /* RFC 9112 3.2.3: CONNECT takes authority-form only, and a port is required. */
        req->form = TR_H1_AUTHORITY;
        req->path_len = 0;
        return valid_authority(t, n, false, true) ? 0 : fail(e, 400, "bad CONNECT target");
    }
    if (t[0] == '/') {
        req->form = TR_H1_ORIGIN;
        return 0;
    }
    if (n == 1 && t[0] == '*') {
        req->form = TR_H1_ASTERISK;
        return req->method_id == TR_H1_OPTIONS ? 0 : fail(e, 400, "asterisk-form without OPTIONS");
    }
    /* absolute-form: a gateway serves http and https URIs (RFC 9110 4.2); the authority must
     * not carry userinfo (RFC 9110 4.2.4), which valid_authority() rejects with the '@'. */
    size_t skip = n >= 7 && lower_eq(t, "http://", 7) ? 7 : n >= 8 && lower_eq(t, "https://", 8) ? 8 : 0;
    if (!skip)
        return fail(e, 400, "bad request-target");
    size_t a = skip;
    while (a < n && t[a] != '/' && t[a] != '?')
        a++;
    if (!valid_authority(t + skip, a - skip, false, false))
        return fail(e, 400, "bad authority in request-target");
    req->form = TR_H1_ABSOLUTE;
    req->path = t + a;
    req->path_len = n - a;
    return 0;
}

int tr_h1_parse_request(const char *buf, size_t len, struct tr_h1_req *req,
                        const struct tr_h1_limits *lim)
{
    const struct tr_h1_limits l = sane(lim);
    struct errp e = {&req->error_status, &req->error_reason, false, 0};
    int end = find_head(buf, len, &req->scan_, &l, true, &e);
    if (end < 0)
        return end;
    size_t start = req->scan_.start;
    if (start == 0 && (size_t)end == sizeof(h2_preface) - 1 && memcmp(buf, h2_preface, (size_t)end) == 0) {
        req->error_status = 505;
        req->error_reason = "HTTP/2 connection preface";
        return TR_H1_PRI;
    }

    /* The method was checked by find_head(): a token, then SP. */
    TR_BUG_ON(!req->scan_.method_done);
    const char *p = buf + start;
    req->method = p;
    req->method_len = req->scan_.mscan - start;
    req->method_id = method_id(p, req->method_len);
    p += req->method_len + 1;

    req->target = p;
    while (IS(*p, TR_H1_C_TARGET))
        p++;
    req->target_len = (size_t)(p - req->target);
    if (!req->target_len || *p != ' ')
        return fail(&e, 400, "bad request-target");
    p++;
    int v = parse_version(&p);
    if (v == -400 || !(p = line_end(p)))
        return fail(&e, 400, "bad HTTP version");
    if (v == -505)
        return fail(&e, 505, "HTTP version not supported");
    req->minor_version = v;
    int rc = parse_target(req, &e);
    if (rc < 0)
        return rc;

    p = parse_fields(p, buf + end, req->headers, &req->nheaders, l.max_headers, &e);
    if (!p)
        return e.rc;
    TR_BUG_ON(p != buf + end);
    return end;
}

static int check_fields(struct tr_h1_header *hs, size_t n, size_t head, const struct tr_h1_limits *l, struct errp *e);

int tr_h1_req_check(struct tr_h1_req *req, const struct tr_h1_limits *lim)
{
    const struct tr_h1_limits l = sane(lim);
    struct errp e = {&req->error_status, &req->error_reason, false, 0};
    if (!req->method_len)
        return fail(&e, 400, "bad method");
    for (size_t i = 0; i < req->method_len; i++)
        if (!IS(req->method[i], TR_H1_C_TOKEN))
            return fail(&e, 400, "bad method");
    req->method_id = method_id(req->method, req->method_len);
    /* What the request line would be: "METHOD SP target SP HTTP/1.1". */
    size_t line = req->method_len + 1 + req->target_len + 9;
    if (line > l.max_line)
        return fail(&e, 414, "request line too long");
    if (!req->target_len)
        return fail(&e, 400, "bad request-target");
    for (size_t i = 0; i < req->target_len; i++)
        if (!IS(req->target[i], TR_H1_C_TARGET))
            return fail(&e, 400, "bad request-target");
    int rc = parse_target(req, &e);
    if (rc < 0)
        return rc;
    return check_fields(req->headers, req->nheaders, line + 2, &l, &e);
}

/* The field rules of a text head, for fields that came separately (HTTP/2): names are tokens,
 * values field-vchar, SP and HTAB with OWS trimmed, and the limits as if the head (of which the
 * start line takes head bytes) were text. */
static int check_fields(struct tr_h1_header *hs, size_t n, size_t head, const struct tr_h1_limits *l, struct errp *e)
{
    if (n > l->max_headers)
        return fail(e, 431, "too many header fields");
    for (size_t i = 0; i < n; i++) {
        struct tr_h1_header *h = &hs[i];
        if (!h->name_len)
            return fail(e, 400, "bad field name");
        for (size_t k = 0; k < h->name_len; k++)
            if (!IS(h->name[k], TR_H1_C_TOKEN))
                return fail(e, 400, "bad field name");
        for (size_t k = 0; k < h->value_len; k++)
            if (!IS(h->value[k], TR_H1_C_VALUE))
                return fail(e, 400, "control byte in field value");
        while (h->value_len && (h->value[0] == ' ' || h->value[0] == '\t')) {
            h->value++;
            h->value_len--;
        }
        while (h->value_len && (h->value[h->value_len - 1] == ' ' || h->value[h->value_len - 1] == '\t'))
            h->value_len--;
        head += h->name_len + 2 + h->value_len + 2;
    }
    if (head + 2 > l->max_head)
        return fail(e, 431, "head too large");
    return 0;
}

int tr_h1_resp_check(struct tr_h1_resp *resp, const struct tr_h1_limits *lim)
{
    const struct tr_h1_limits l = sane(lim);
    struct errp e = {&resp->error_status, &resp->error_reason, true, 0};
    if (resp->status < 100 || resp->status > 599)
        return fail(&e, 502, "bad status");
    resp->minor_version = 1;
    /* "HTTP/1.1 NNN \r\n" */
    return check_fields(resp->headers, resp->nheaders, 15, &l, &e);
}

int tr_h1_parse_response(const char *buf, size_t len, struct tr_h1_resp *resp,
                         const struct tr_h1_limits *lim)
{
    const struct tr_h1_limits l = sane(lim);
    struct errp e = {&resp->error_status, &resp->error_reason, true, 0};
    int end = find_head(buf, len, &resp->scan_, &l, false, &e);
    if (end < 0)
        return end;

    /* status-line = HTTP-version SP status-code SP [ reason-phrase ] (RFC 9112 4). The SP
     * before an empty reason is often left out; accept that, as picohttpparser does. */
    const char *p = buf + resp->scan_.start;
    int v = parse_version(&p);
    if (v < 0)
        return fail(&e, 502, v == -505 ? "upstream HTTP version not supported" : "bad status line");
    resp->minor_version = v;
    if (p[0] != ' ' || (unsigned)(p[1] - '1') > 4 || (unsigned)(p[2] - '0') > 9 ||
        (unsigned)(p[3] - '0') > 9)
        return fail(&e, 502, "bad status line");
    resp->status = (p[1] - '0') * 100 + (p[2] - '0') * 10 + (p[3] - '0');
    p += 4;
    if (*p == ' ')
        p++;
    else if (*p != '\r' && *p != '\n')
        return fail(&e, 502, "bad status line");
    resp->reason = p;
    while (IS(*p, TR_H1_C_VALUE))
        p++;
    resp->reason_len = (size_t)(p - resp->reason);
    if (!(p = line_end(p)))
        return fail(&e, 502, "bad status line");

    p = parse_fields(p, buf + end, resp->headers, &resp->nheaders, l.max_headers, &e);
    if (!p)
        return e.rc;
    TR_BUG_ON(p != buf + end);
    return end;
}

/* What the framing fields of a head say, gathered in one pass. */
struct fields {
    size_t ncl;
    uint64_t cl;
    const char *cl_error;
    size_t te_fields;        /* Transfer-Encoding fields, even empty ones */
    size_t nte;              /* transfer codings, all fields together */
    bool te_last_chunked;    /* the final coding is "chunked" */
    bool te_chunked_not_last; /* "chunked" followed by another coding */
    unsigned conn;
    size_t nhost;
    const struct tr_h1_header *host, *upgrade, *expect;
};

/* Content-Length = 1*DIGIT; RFC 9112 6.3 (5): a list or repeated fields of one same value may
 * be taken as that value, differing values are an error. The value must fit an off_t. */
static void add_content_length(struct fields *f, const struct tr_h1_header *h)
{
    const char *p = h->value, *end = p + h->value_len;
    for (;;) {
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        const char *d = p;
        uint64_t v = 0;
        for (; p < end && (unsigned)(*p - '0') <= 9; p++) {
            if (v > (UINT64_C(0x7fffffffffffffff) - (uint64_t)(*p - '0')) / 10) {
                f->cl_error = "Content-Length too large";
                return;
            }
            v = v * 10 + (uint64_t)(*p - '0');
        }
        if (p == d) {
            f->cl_error = "bad Content-Length";
            return;
        }
        if (f->ncl++ && v != f->cl) {
            f->cl_error = "conflicting Content-Length values";
            return;
        }
        f->cl = v;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if (p == end)
            return;
        if (*p++ != ',') {
            f->cl_error = "bad Content-Length";
            return;
        }
    }
}

static void gather(struct fields *f, const struct tr_h1_header *h, size_t n)
{
    memset(f, 0, sizeof(*f));
    for (size_t i = 0; i < n; i++, h++) {
        const char *name = h->name, *pos = h->value, *end = h->value + h->value_len, *el;
        size_t el_len;
        switch (h->name_len) {
        case 4:
            if (lower_eq(name, "host", 4) && !f->nhost++)
                f->host = h;
            break;
        case 6:
            if (lower_eq(name, "expect", 6) && !f->expect)
                f->expect = h;
            break;
        case 7:
            if (lower_eq(name, "upgrade", 7) && !f->upgrade)
                f->upgrade = h;
            break;
        case 10:
            if (!lower_eq(name, "connection", 10))
                break;
            while (tr_h1_list_next(&pos, end, &el, &el_len)) {
                if (tr_h1_token_eq(el, el_len, "close", 5))
                    f->conn |= TR_H1_CONN_CLOSE;
                else if (tr_h1_token_eq(el, el_len, "keep-alive", 10))
                    f->conn |= TR_H1_CONN_KEEP_ALIVE;
                else if (tr_h1_token_eq(el, el_len, "upgrade", 7))
                    f->conn |= TR_H1_CONN_UPGRADE;
            }
            break;
        case 14:
            if (lower_eq(name, "content-length", 14) && !f->cl_error)
                add_content_length(f, h);
            break;
        case 17:
            if (!lower_eq(name, "transfer-encoding", 17))
                break;
            f->te_fields++; /* an empty field still counts as present (RFC 9112 6.1) */
            while (tr_h1_list_next(&pos, end, &el, &el_len)) {
                if (f->te_last_chunked)
                    f->te_chunked_not_last = true;
                f->te_last_chunked = tr_h1_token_eq(el, el_len, "chunked", 7);
                f->nte++;
            }
            break;
        }
    }
}

int tr_h1_req_framing(struct tr_h1_req *req)
{
    struct errp e = {&req->error_status, &req->error_reason, false, 0};
    struct fields f;
    gather(&f, req->headers, req->nheaders);
    req->conn = f.conn;
    req->body = TR_H1_BODY_NONE;
    req->content_length = 0;
    req->upgrade = NULL;
    req->upgrade_len = 0;
    req->expect_continue = false;
    req->keep_alive = false;

    /* RFC 9112 3.2: exactly one Host in HTTP/1.1, at most one in 1.0, and a valid one. */
    if (f.nhost > 1)
        return fail(&e, 400, "more than one Host");
    if (!f.host && req->minor_version >= 1)
        return fail(&e, 400, "missing Host");
    if (f.host && !valid_authority(f.host->value, f.host->value_len, true, false))
        return fail(&e, 400, "bad Host");
    /* RFC 9112 3.2.2: the authority of an absolute-form target wins over Host. */
    if (req->form == TR_H1_ABSOLUTE) {
        size_t skip = req->target[4] == ':' ? 7 : 8;
        req->authority = req->target + skip;
        req->authority_len = (size_t)(req->path - req->authority);
    } else if (req->form == TR_H1_AUTHORITY) {
        req->authority = req->target;
        req->authority_len = req->target_len;
    } else {
        req->authority = f.host ? f.host->value : NULL;
        req->authority_len = f.host ? f.host->value_len : 0;
    }

    /* RFC 9112 6.1 and 6.3. A proxy that picked one of two framings would forward a request the
     * next hop may read differently: that is request smuggling, so every doubt is a 400. */
    if (f.te_fields) {
        if (req->minor_version == 0)
            return fail(&e, 400, "Transfer-Encoding in HTTP/1.0");
        if (f.ncl || f.cl_error)
            return fail(&e, 400, "both Transfer-Encoding and Content-Length");
        if (!f.te_last_chunked)
            return fail(&e, 400, "chunked is not the final transfer coding");
        if (f.te_chunked_not_last)
            return fail(&e, 400, "chunked applied twice");
        if (f.nte > 1)
            return fail(&e, 501, "unsupported transfer coding");
        if (req->method_id == TR_H1_CONNECT)
            return fail(&e, 400, "CONNECT with a body");
        req->body = TR_H1_BODY_CHUNKED;
    } else if (f.cl_error) {
        return fail(&e, 400, f.cl_error);
    } else if (f.ncl) {
        /* RFC 9110 9.3.6: CONNECT has no content; what follows its head is the tunnel. */
        if (req->method_id == TR_H1_CONNECT && f.cl)
            return fail(&e, 400, "CONNECT with a body");
        req->body = TR_H1_BODY_LENGTH;
        req->content_length = f.cl;
    }

    if (req->minor_version >= 1) {
        req->keep_alive = !(f.conn & TR_H1_CONN_CLOSE);
        /* RFC 9110 7.8 and 10.1.1: HTTP/1.0 requests have neither Upgrade nor 100-continue. */
        if ((f.conn & TR_H1_CONN_UPGRADE) && f.upgrade) {
            req->upgrade = f.upgrade->value;
            req->upgrade_len = f.upgrade->value_len;
        }
        if (f.expect) {
            const char *pos = f.expect->value, *end = pos + f.expect->value_len, *el;
            size_t el_len;
            while (tr_h1_list_next(&pos, end, &el, &el_len))
                if (tr_h1_token_eq(el, el_len, "100-continue", 12))
                    req->expect_continue = true;
        }
    } else {
        req->keep_alive = (f.conn & (TR_H1_CONN_KEEP_ALIVE | TR_H1_CONN_CLOSE)) == TR_H1_CONN_KEEP_ALIVE;
    }
    return TR_OK;
}

int tr_h1_resp_framing(struct tr_h1_resp *resp, enum tr_h1_method method_id)
{
    struct errp e = {&resp->error_status, &resp->error_reason, true, 0};
    struct fields f;
    gather(&f, resp->headers, resp->nheaders);
    resp->conn = f.conn;
    resp->body = TR_H1_BODY_NONE;
    resp->content_length = 0;
    resp->upgrade = NULL;
    resp->upgrade_len = 0;
    if (resp->minor_version >= 1)
        resp->keep_alive = !(f.conn & TR_H1_CONN_CLOSE);
    else
        resp->keep_alive = (f.conn & (TR_H1_CONN_KEEP_ALIVE | TR_H1_CONN_CLOSE)) == TR_H1_CONN_KEEP_ALIVE;

    /* RFC 9112 6.3, in its order. (1) No body, whatever the fields say. */
    if (resp->status < 200 || resp->status == 204 || resp->status == 304 || method_id == TR_H1_HEAD) {
        if (resp->status == 101) {
            resp->keep_alive = false; /* the connection is the upgraded protocol's now */
            if (f.upgrade) {
                resp->upgrade = f.upgrade->value;
                resp->upgrade_len = f.upgrade->value_len;
            }
        }
        return TR_OK;
    }
    /* (2) A 2xx to CONNECT turns the connection into a tunnel. */
    if (method_id == TR_H1_CONNECT && resp->status < 300) {
        resp->body = TR_H1_BODY_TUNNEL;
        resp->keep_alive = false;
        return TR_OK;
    }
    /* (3) Transfer-Encoding. RFC 9112 6.1 calls TE with CL a likely smuggling attempt to handle
     * as an error, and TE in HTTP/1.0 faulty framing; only "chunked" alone is read, as nginx
     * does: a coding below chunked would need a decoder the client may not have. */
    if (f.te_fields) {
        if (resp->minor_version == 0)
            return fail(&e, 502, "upstream sent Transfer-Encoding in HTTP/1.0");
        if (f.ncl || f.cl_error)
            return fail(&e, 502, "upstream sent both Transfer-Encoding and Content-Length");
        if (f.nte != 1 || !f.te_last_chunked)
            return fail(&e, 502, "upstream sent an unsupported transfer coding");
        resp->body = TR_H1_BODY_CHUNKED;
        return TR_OK;
    }
    /* (5) Content-Length, (7) else until close. */
    if (f.cl_error)
        return fail(&e, 502, f.cl_error);
    if (f.ncl) {
        resp->body = TR_H1_BODY_LENGTH;
        resp->content_length = f.cl;
    } else {
        resp->body = TR_H1_BODY_CLOSE;
        resp->keep_alive = false;
    }
    return TR_OK;
}
