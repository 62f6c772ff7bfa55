/* Session persistence (GEP-1619): proxy/session.h says how. */
#include "proxy/session.h"
#include "api/kind.h"
#include "base/buf.h"
#include "base/map.h"
#include "http/h1_parse.h"
#include "ir/ir.h"
#include "proxy/upstream.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* A token older than this many seconds in the future is not one torii made (replicas' clocks
 * differ by less). */
#define FUTURE_SLACK_S 300

/* The hash of the key printf writes from fmt (tr_hash, FNV-1a: the same in every replica and
 * every run, as a token must be). Names are at most 253 bytes each. */
static uint64_t key_hash(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static uint64_t key_hash(const char *fmt, ...)
{
    char key[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(key, sizeof(key), fmt, ap);
    va_end(ap);
    return tr_hash(key, n < 0 ? 0 : (size_t)n < sizeof(key) ? (size_t)n : sizeof(key) - 1);
}

static uint32_t fold(uint64_t h)
{
    return (uint32_t)(h ^ (h >> 32));
}

/* The rule: its route (kind, namespace, name) and index. */
static uint32_t rule_key(const struct tr_ir_rule *r)
{
    const struct tr_objid *id = r->spec->route;
    return fold(key_hash("%s/%s/%s/%u", tr_kind_name(id->kind), id->ns, id->name, (unsigned)r->spec->index));
}

static uint32_t backend_key(const struct tr_ir_backend *b)
{
    return fold(key_hash("%s/%s:%u", b->ref->ns, b->ref->name, (unsigned)b->ref->port));
}

static uint64_t endpoint_key(const struct tr_ir_endpoint *ep)
{
    return key_hash("%s:%u", ep->addr, (unsigned)ep->port);
}

void tr_session_token_format(const struct tr_session_token *t, char *out)
{
    snprintf(out, TR_SESSION_TOKEN_LEN + 1, "1%08x%08x%016llx%08x", (unsigned)t->rule, (unsigned)t->backend,
             (unsigned long long)t->endpoint, (unsigned)t->created);
}

static bool hex(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0') : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10) : 16;
        if (d == 16)
            return false;
        v = v << 4 | d;
    }
    *out = v;
    return true;
}

bool tr_session_token_parse(const char *s, size_t len, struct tr_session_token *t)
{
    uint64_t rule, backend, endpoint, created;
    if (len != TR_SESSION_TOKEN_LEN || s[0] != '1' || !hex(s + 1, 8, &rule) || !hex(s + 9, 8, &backend) ||
        !hex(s + 17, 16, &endpoint) || !hex(s + 33, 8, &created))
        return false;
    *t = (struct tr_session_token){(uint32_t)rule, (uint32_t)backend, endpoint, (uint32_t)created};
    return true;
}

const char *tr_session_cookie(const struct tr_h1_req *req, const char *name, size_t name_len, size_t *len)
{
    for (size_t i = 0; i < req->nheaders; i++) {
        const struct tr_h1_header *h = &req->headers[i];
        if (!tr_h1_token_eq(h->name, h->name_len, "cookie", 6))
            continue;
        /* cookie-string: cookie-pair *( ";" SP cookie-pair ), read leniently (RFC 6265 5.4). */
        const char *p = h->value, *end = h->value + h->value_len;
        while (p < end) {
            while (p < end && (*p == ' ' || *p == '\t' || *p == ';'))
                p++;
            const char *pair = p;
            while (p < end && *p != ';')
                p++;
            const char *eq = memchr(pair, '=', (size_t)(p - pair));
            if (!eq || (size_t)(eq - pair) != name_len || memcmp(pair, name, name_len) != 0)
                continue;
            const char *v = eq + 1, *ve = p;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            if (ve - v >= 2 && *v == '"' && ve[-1] == '"') {
                v++;
                ve--;
            }
            *len = (size_t)(ve - v);
            return v;
        }
    }
    return NULL;
}

/* The session's name: its sessionName, or one of the rule's own (GEP-1619: "a unique cookie
 * name should be generated"), into buf. */
static const char *session_name(const struct tr_ir_session *s, uint32_t rule, char *buf, size_t cap)
{
    if (s->name)
        return s->name;
    snprintf(buf, cap, "torii-session-%08x", (unsigned)rule);
    return buf;
}

static uint32_t now_s(void)
{
    return (uint32_t)time(NULL);
}

const struct tr_ir_endpoint *tr_session_lookup(struct tr_exchange *x, const struct tr_ir_rule *r, uint32_t match,
                                               const struct tr_h1_req *req, const struct tr_ir_backend **b)
{
    x->sess = tr_ir_rule_session(r);
    x->sess_issue = false;
    x->sess_ep = NULL;
    if (!x->sess)
        return NULL;
    x->sess_rule = rule_key(r);
    x->sess_match = (uint16_t)match;
    char buf[32];
    const char *name = session_name(x->sess, x->sess_rule, buf, sizeof(buf));
    size_t len = 0;
    const char *v;
    if (x->sess->type == TR_SESSION_COOKIE) {
        v = tr_session_cookie(req, name, strlen(name), &len);
    } else {
        const struct tr_h1_header *h = NULL;
        size_t nl = strlen(name);
        for (size_t i = 0; i < req->nheaders && !h; i++)
            if (req->headers[i].name_len == nl && strncasecmp(req->headers[i].name, name, nl) == 0)
                h = &req->headers[i];
        v = h ? h->value : NULL;
        len = h ? h->value_len : 0;
    }
    struct tr_session_token t;
    if (!v || !tr_session_token_parse(v, len, &t) || t.rule != x->sess_rule)
        return NULL;
    uint32_t now = now_s();
    if (t.created > now + FUTURE_SLACK_S)
        return NULL;
    uint64_t age_ms = now > t.created ? (uint64_t)(now - t.created) * 1000 : 0;
    if (x->sess->absolute_ms && age_ms >= x->sess->absolute_ms)
        return NULL; /* expired: a new session */
    for (uint32_t i = 0; i < r->nbackends; i++) {
        const struct tr_ir_backend *be = &r->backends[i];
        if (be->invalid || backend_key(be) != t.backend)
            continue;
        for (uint32_t k = 0; k < be->neps; k++)
            if (be->eps[k].ready && endpoint_key(&be->eps[k]) == t.endpoint) {
                x->sess_ep = &be->eps[k];
                x->sess_created = t.created;
                *b = be;
                return x->sess_ep;
            }
    }
    return NULL; /* the endpoint is gone or not ready: a new session (GEP-1619 "Failure Behavior") */
}

void tr_session_chosen(struct tr_exchange *x, const struct tr_ir_backend *b, const struct tr_ir_endpoint *ep)
{
    if (!x->sess || ep == x->sess_ep)
        return;
    x->sess_ep = ep;
    x->sess_backend = backend_key(b);
    x->sess_created = now_s();
    x->sess_issue = true;
}

/* An IMF-fixdate (RFC 9110 5.6.7) for Unix time t. */
static void imf_date(time_t t, char *out, size_t cap)
{
    static const char days[][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, cap, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7], tm.tm_mday,
             months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

void tr_session_response(const struct tr_exchange *x, struct tr_buf *out)
{
    if (!x->sess || !x->sess_issue || !x->sess_ep)
        return;
    const struct tr_ir_session *s = x->sess;
    struct tr_session_token t = {x->sess_rule, x->sess_backend, endpoint_key(x->sess_ep), x->sess_created};
    char token[TR_SESSION_TOKEN_LEN + 1], buf[32];
    tr_session_token_format(&t, token);
    const char *name = session_name(s, x->sess_rule, buf, sizeof(buf));
    if (s->type == TR_SESSION_HEADER) {
        tr_buf_printf(out, "%s: %s\r\n", name, token);
        return;
    }
    tr_buf_printf(out, "Set-Cookie: %s=%s", name, token);
    if (s->paths)
        tr_buf_printf(out, "; Path=%s", s->paths[x->sess_match]);
    if (s->permanent) {
        uint64_t max_age = (s->absolute_ms + 999) / 1000;
        char date[40];
        imf_date((time_t)x->sess_created + (time_t)max_age, date, sizeof(date));
        tr_buf_printf(out, "; Max-Age=%llu; Expires=%s", (unsigned long long)max_age, date);
    }
    /* Secure only where the browser would keep it (a cookie set over plain HTTP cannot be);
     * Lax rather than Strict: a session that a link from another site dropped would move the
     * client to another endpoint. */
    tr_buf_printf(out, "; HttpOnly; SameSite=Lax%s\r\n", x->conn->secure ? "; Secure" : "");
}
