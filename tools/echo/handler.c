/* What the HTTP echo answers, independent of HTTP/1.1 or h2: the routes of the upstream echo
 * server (Go's ServeMux with /health, /status/, /ws, /retry/ and the catch-all echo, behind a
 * "//" -> "/" rewrite), the echo JSON, X-Echo-Set-Header, delay= and the retry counter. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "echo.h"

#define MAX_DELAY_MS (3600u * 1000u)

/* ---------- small HTTP helpers ---------- */

const char *status_text(int code)
{
    switch (code) {
    case 100: return "Continue"; case 101: return "Switching Protocols";
    case 102: return "Processing"; case 103: return "Early Hints";
    case 200: return "OK"; case 201: return "Created"; case 202: return "Accepted";
    case 203: return "Non-Authoritative Information"; case 204: return "No Content";
    case 205: return "Reset Content"; case 206: return "Partial Content";
    case 207: return "Multi-Status"; case 208: return "Already Reported"; case 226: return "IM Used";
    case 300: return "Multiple Choices"; case 301: return "Moved Permanently"; case 302: return "Found";
    case 303: return "See Other"; case 304: return "Not Modified"; case 305: return "Use Proxy";
    case 307: return "Temporary Redirect"; case 308: return "Permanent Redirect";
    case 400: return "Bad Request"; case 401: return "Unauthorized"; case 402: return "Payment Required";
    case 403: return "Forbidden"; case 404: return "Not Found"; case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable"; case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout"; case 409: return "Conflict"; case 410: return "Gone";
    case 411: return "Length Required"; case 412: return "Precondition Failed";
    case 413: return "Request Entity Too Large"; case 414: return "Request URI Too Long";
    case 415: return "Unsupported Media Type"; case 416: return "Requested Range Not Satisfiable";
    case 417: return "Expectation Failed"; case 418: return "I'm a teapot";
    case 421: return "Misdirected Request"; case 422: return "Unprocessable Entity";
    case 423: return "Locked"; case 424: return "Failed Dependency"; case 425: return "Too Early";
    case 426: return "Upgrade Required"; case 428: return "Precondition Required";
    case 429: return "Too Many Requests"; case 431: return "Request Header Fields Too Large";
    case 451: return "Unavailable For Legal Reasons";
    case 500: return "Internal Server Error"; case 501: return "Not Implemented";
    case 502: return "Bad Gateway"; case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout"; case 505: return "HTTP Version Not Supported";
    case 506: return "Variant Also Negotiates"; case 507: return "Insufficient Storage";
    case 508: return "Loop Detected"; case 510: return "Not Extended";
    case 511: return "Network Authentication Required";
    default: return "";
    }
}

void http_date(char out[40])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 40, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static bool header_byte(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

void canonical_key(char *dst, const char *src, size_t n)
{
    bool valid = true;
    for (size_t i = 0; i < n; i++)
        valid = valid && header_byte((unsigned char)src[i]);
    bool upper = true;
    for (size_t i = 0; i < n; i++) {
        char ch = src[i];
        if (valid && upper && ch >= 'a' && ch <= 'z')
            ch = (char)(ch - 32);
        else if (valid && !upper && ch >= 'A' && ch <= 'Z')
            ch = (char)(ch + 32);
        dst[i] = ch;
        upper = ch == '-';
    }
    dst[n] = 0;
}

void hdrs_sorted_canonical(const struct hdrs *in, struct hdrs *out)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < in->n; i++) {
        size_t len = strlen(in->v[i].name);
        char *key = xcalloc(1, len + 1);
        canonical_key(key, in->v[i].name, len);
        hdrs_add(out, key, len, in->v[i].value, strlen(in->v[i].value));
        free(key);
    }
    for (size_t i = 1; i < out->n; i++) /* insertion sort: stable, and header lists are short */
        for (size_t k = i; k > 0 && strcmp(out->v[k - 1].name, out->v[k].name) > 0; k--) {
            struct hdr t = out->v[k];
            out->v[k] = out->v[k - 1];
            out->v[k - 1] = t;
        }
}

bool token_list_has(const char *list, const char *token)
{
    size_t tl = strlen(token);
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        size_t n = strcspn(p, ",");
        size_t m = n;
        while (m && (p[m - 1] == ' ' || p[m - 1] == '\t'))
            m--;
        if (m == tl && !strncasecmp(p, token, tl))
            return true;
        p += n;
    }
    return false;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch |= 0x20;
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* Go's QueryUnescape: '+' is a space, %XX a byte; a bad escape spoils the pair. */
static bool unescape(const char *s, size_t n, struct buf *out)
{
    out->len = 0;
    buf_reserve(out, n);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            if (i + 2 >= n)
                return false;
            int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0)
                return false;
            buf_addc(out, (char)(hi * 16 + lo));
            i += 2;
        } else {
            buf_addc(out, s[i] == '+' ? ' ' : s[i]);
        }
    }
    buf_add(out, "", 0);
    return true;
}

/* First value of key in an urlencoded string, parsed as Go's url.ParseQuery: pairs split on
 * '&', pairs with ';' or bad escapes skipped. */
bool query_get(const char *qs, size_t qlen, const char *key, struct buf *out)
{
    struct buf k = {0};
    bool found = false;
    for (size_t i = 0; i < qlen && !found;) {
        size_t n = 0;
        while (i + n < qlen && qs[i + n] != '&')
            n++;
        const char *pair = qs + i;
        i += n + 1;
        if (!n || memchr(pair, ';', n))
            continue;
        const char *eq = memchr(pair, '=', n);
        size_t kl = eq ? (size_t)(eq - pair) : n;
        if (!unescape(pair, kl, &k) || strcmp(k.p, key))
            continue;
        found = eq ? unescape(eq + 1, n - kl - 1, out) : unescape("", 0, out);
    }
    buf_free(&k);
    return found;
}

/* ---------- Go's time.ParseDuration, to milliseconds ---------- */

bool parse_duration(const char *s, uint64_t *ms, char *err, size_t errlen)
{
    const char *orig = s;
    bool neg = false;
    double total_ns = 0;
    if (*s == '-' || *s == '+')
        neg = *s++ == '-';
    if (!strcmp(s, "0")) {
        *ms = 0;
        return true;
    }
    if (!*s)
        goto invalid;
    while (*s) {
        double v = 0, scale = 1;
        bool digits = false;
        while (*s >= '0' && *s <= '9')
            v = v * 10 + (*s++ - '0'), digits = true;
        if (*s == '.') {
            s++;
            while (*s >= '0' && *s <= '9')
                scale /= 10, v += (*s++ - '0') * scale, digits = true;
        }
        if (!digits)
            goto invalid;
        size_t ul = 0;
        while (s[ul] && s[ul] != '.' && (s[ul] < '0' || s[ul] > '9'))
            ul++;
        if (!ul) {
            snprintf(err, errlen, "time: missing unit in duration \"%s\"", orig);
            return false;
        }
        double unit;
        if (ul == 2 && !strncmp(s, "ns", 2)) unit = 1;
        else if (ul == 2 && !strncmp(s, "us", 2)) unit = 1e3;
        else if (ul == 3 && (!strncmp(s, "\xc2\xb5s", 3) || !strncmp(s, "\xce\xbcs", 3))) unit = 1e3;
        else if (ul == 2 && !strncmp(s, "ms", 2)) unit = 1e6;
        else if (ul == 1 && *s == 's') unit = 1e9;
        else if (ul == 1 && *s == 'm') unit = 60e9;
        else if (ul == 1 && *s == 'h') unit = 3600e9;
        else {
            snprintf(err, errlen, "time: unknown unit \"%.*s\" in duration \"%s\"", (int)ul, s, orig);
            return false;
        }
        total_ns += v * unit;
        if (total_ns > 9.2e18)
            goto invalid;
        s += ul;
    }
    if (neg) {
        *ms = 0; /* a negative sleep returns at once */
        return true;
    }
    double m = total_ns / 1e6;
    *ms = m > MAX_DELAY_MS ? MAX_DELAY_MS : (uint64_t)(m + 0.999999); /* never round a wait to 0 */
    return true;
invalid:
    snprintf(err, errlen, "time: invalid duration \"%s\"", orig);
    return false;
}

/* ---------- responses ---------- */

static void set_text(struct hresp *rs, int status, const char *ctype, const char *body)
{
    rs->status = status;
    if (ctype)
        hdrs_add(&rs->hdrs, "Content-Type", 12, ctype, strlen(ctype));
    if (body)
        buf_adds(&rs->body, body);
}

static void redirect(const struct hreq *rq, struct hresp *rs, const char *path, const char *query)
{
    struct buf loc = {0};
    buf_adds(&loc, path);
    if (query) {
        buf_addc(&loc, '?');
        buf_adds(&loc, query);
    }
    rs->status = 301;
    hdrs_add(&rs->hdrs, "Location", 8, loc.p, loc.len);
    if (!strcmp(rq->method, "GET") || !strcmp(rq->method, "HEAD"))
        hdrs_add(&rs->hdrs, "Content-Type", 12, "text/html; charset=utf-8", 24);
    if (!strcmp(rq->method, "GET")) {
        buf_adds(&rs->body, "<a href=\"");
        for (const char *p = loc.p; *p; p++) {
            switch (*p) {
            case '<': buf_adds(&rs->body, "&lt;"); break;
            case '>': buf_adds(&rs->body, "&gt;"); break;
            case '&': buf_adds(&rs->body, "&amp;"); break;
            case '"': buf_adds(&rs->body, "&#34;"); break;
            case '\'': buf_adds(&rs->body, "&#39;"); break;
            default: buf_addc(&rs->body, *p);
            }
        }
        buf_adds(&rs->body, "\">Moved Permanently</a>.\n\n");
    }
    buf_free(&loc);
}

/* net/http's cleanPath: path.Clean, keeping a trailing slash. */
static char *clean_path(const char *p)
{
    size_t n = strlen(p);
    char *out = xcalloc(1, n + 3);
    size_t o = 0;
    out[o++] = '/';
    const char *s = p;
    while (*s) {
        while (*s == '/')
            s++;
        size_t seg = strcspn(s, "/");
        if (!seg)
            break;
        if (seg == 1 && s[0] == '.') {
            /* drop */
        } else if (seg == 2 && s[0] == '.' && s[1] == '.') {
            while (o > 1 && out[o - 1] != '/')
                o--;
            if (o > 1)
                o--;
        } else {
            if (o > 1)
                out[o++] = '/';
            memcpy(out + o, s, seg);
            o += seg;
        }
        s += seg;
    }
    if (n && p[n - 1] == '/' && o > 1)
        out[o++] = '/';
    out[o] = 0;
    return out;
}

static void echo_json(const struct hreq *rq, struct buf *out)
{
    struct json j;
    json_init(&j, out, 1);
    json_obj_begin(&j);
    json_kv(&j, "path", rq->target);
    json_kv(&j, "host", rq->host);
    json_kv(&j, "method", rq->method);
    json_kv(&j, "proto", rq->proto);

    /* Go's http.Header: canonical keys, marshalled in sorted order, values in arrival order. */
    struct hdrs sorted;
    hdrs_sorted_canonical(&rq->hdrs, &sorted);
    json_key(&j, "headers");
    json_obj_begin(&j);
    for (size_t i = 0; i < sorted.n;) {
        const char *key = sorted.v[i].name;
        json_key(&j, key);
        json_arr_begin(&j);
        for (; i < sorted.n && !strcmp(sorted.v[i].name, key); i++)
            json_cstr(&j, sorted.v[i].value);
        json_arr_end(&j);
    }
    json_obj_end(&j);
    hdrs_free(&sorted);

    json_kv(&j, "httpPort", cfg.http_port);
    json_kv(&j, "namespace", cfg.namespace_);
    json_kv(&j, "ingress", cfg.ingress);
    json_kv(&j, "service", cfg.service);
    json_kv(&j, "pod", cfg.pod);
    if (rq->tls) {
        const struct tls_info *t = rq->tls;
        json_key(&j, "tls");
        json_obj_begin(&j);
        json_kv(&j, "version", tls_version_name(t->version, false));
        if (t->npeer) {
            json_key(&j, "peerCertificates");
            json_arr_begin(&j);
            for (size_t i = 0; i < t->npeer; i++)
                json_cstr(&j, t->peer_pem[i]);
            json_arr_end(&j);
        }
        json_kv(&j, "serverName", t->server_name);
        if (*t->alpn)
            json_kv(&j, "negotiatedProtocol", t->alpn);
        json_kv(&j, "cipherSuite", t->cipher);
        json_obj_end(&j);
    }
    json_obj_end(&j);
}

static struct hdr *find_exact(struct hdrs *h, const char *name)
{
    for (size_t i = 0; i < h->n; i++)
        if (!strcmp(h->v[i].name, name))
            return &h->v[i];
    return NULL;
}

static void set_exact(struct hdrs *h, const char *name, const char *value)
{
    struct hdr *x = find_exact(h, name);
    if (x) {
        free(x->value);
        x->value = xstrdup(value);
    } else {
        hdrs_add(h, name, strlen(name), value, strlen(value));
    }
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = 0;
    return s;
}

/* X-Echo-Set-Header: NAME:VALUE,NAME:VALUE. Names keep their case (Go writes them straight into
 * the header map); a repeated name appends ",VALUE". */
static void echo_set_headers(const struct hreq *rq, struct hresp *rs)
{
    for (size_t i = 0; i < rq->hdrs.n; i++) {
        if (strcasecmp(rq->hdrs.v[i].name, "X-Echo-Set-Header"))
            continue;
        char *list = xstrdup(rq->hdrs.v[i].value), *save = NULL;
        for (char *part = list;; part = NULL) {
            char *kv = strtok_r(part, ",", &save);
            if (!kv)
                break;
            kv = trim(kv);
            char *colon = strchr(kv, ':');
            char *value = colon ? trim(colon + 1) : (char *)"";
            if (colon)
                *colon = 0;
            if (!*kv)
                continue;
            struct hdr *x = find_exact(&rs->hdrs, kv);
            if (x) {
                size_t a = strlen(x->value), b = strlen(value);
                x->value = xrealloc(x->value, a + b + 2);
                x->value[a] = ',';
                memcpy(x->value + a + 1, value, b + 1);
            } else {
                hdrs_add(&rs->hdrs, kv, strlen(kv), value, strlen(value));
            }
        }
        free(list);
    }
}

static bool form_value(const struct hreq *rq, const char *query, const char *key, struct buf *out)
{
    if (rq->form_ok && rq->form.len && query_get(rq->form.p, rq->form.len, key, out))
        return true;
    return query && query_get(query, strlen(query), key, out);
}

static void echo(const struct hreq *rq, struct hresp *rs, const char *query)
{
    log_line("Echoing back request made to %s to client (%s)", rq->target, rq->remote);
    struct buf d = {0};
    if (form_value(rq, query, "delay", &d) && d.len) {
        char err[256];
        if (!parse_duration(d.p, &rs->delay_ms, err, sizeof err)) {
            struct json j;
            rs->status = 500;
            hdrs_add(&rs->hdrs, "Content-Type", 12, "application/json", 16);
            hdrs_add(&rs->hdrs, "X-Content-Type-Options", 22, "nosniff", 7);
            json_init(&j, &rs->body, 0);
            json_obj_begin(&j);
            json_kv(&j, "message", err);
            json_obj_end(&j);
            buf_free(&d);
            return;
        }
    }
    buf_free(&d);
    rs->status = 200;
    echo_json(rq, &rs->body);
    echo_set_headers(rq, rs);
    set_exact(&rs->hdrs, "Content-Type", "application/json");
    set_exact(&rs->hdrs, "X-Content-Type-Options", "nosniff");
}

/* ---------- /retry/: fail the first succeedAfter requests of each uuid ---------- */

struct retry_entry {
    char *uuid;
    unsigned long count;
};
static struct retry_entry *retry_tab;
static size_t retry_cap, retry_used;

static unsigned long *retry_counter(const char *uuid)
{
    if (retry_used * 2 >= retry_cap) {
        /* Grow, or start over once very large: uuids are one-shot, old ones are not reused. */
        size_t ncap = retry_cap ? retry_cap * 2 : 1024;
        struct retry_entry *old = retry_tab;
        size_t ocap = retry_cap;
        bool reset = ncap > (1u << 20);
        if (reset)
            ncap = retry_cap;
        retry_tab = xcalloc(ncap, sizeof *retry_tab);
        retry_cap = ncap;
        retry_used = 0;
        for (size_t i = 0; i < ocap; i++) {
            if (!old[i].uuid)
                continue;
            if (reset) {
                free(old[i].uuid);
                continue;
            }
            *retry_counter(old[i].uuid) = old[i].count;
            free(old[i].uuid);
        }
        free(old);
    }
    uint64_t hsh = 1469598103934665603ull;
    for (const char *p = uuid; *p; p++)
        hsh = (hsh ^ (unsigned char)*p) * 1099511628211ull;
    for (size_t i = hsh & (retry_cap - 1);; i = (i + 1) & (retry_cap - 1)) {
        if (!retry_tab[i].uuid) {
            retry_tab[i].uuid = xstrdup(uuid);
            retry_used++;
            return &retry_tab[i].count;
        }
        if (!strcmp(retry_tab[i].uuid, uuid))
            return &retry_tab[i].count;
    }
}

static bool parse_uint(const char *s, unsigned long max, unsigned long *out)
{
    if (!*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 9)
        return false;
    *out = strtoul(s, NULL, 10);
    return *out <= max;
}

static void retry(const struct hreq *rq, struct hresp *rs, const char *query)
{
    struct buf uuid = {0}, after = {0}, code = {0};
    unsigned long succeed_after = 0, status = 0;
    const char *q = query ? query : "";
    size_t ql = strlen(q);
    bool ok = query_get(q, ql, "uuid", &uuid) && uuid.len &&
              query_get(q, ql, "succeedAfter", &after) && parse_uint(after.p, 1000000, &succeed_after);
    bool has_code = ok && query_get(q, ql, "responseCode", &code) && code.len;
    if (has_code && (!parse_uint(code.p, 999, &status) || status < 100))
        ok = false;
    if (!ok) {
        set_text(rs, 400, "text/plain; charset=utf-8",
                 "retry requires query parameters uuid and succeedAfter (and a valid responseCode)\n");
    } else {
        unsigned long *count = retry_counter(uuid.p);
        if (*count < succeed_after) {
            (*count)++;
            log_line("Failing request %lu of %lu made to %s to client (%s)", *count, succeed_after,
                     rq->target, rq->remote);
            if (has_code)
                rs->status = (int)status;
            else
                rs->action = ACT_RESET;
        } else {
            (*count)++;
            echo(rq, rs, query);
        }
    }
    buf_free(&uuid);
    buf_free(&after);
    buf_free(&code);
}

/* ---------- the mux ---------- */

static void websocket(const struct hreq *rq, struct hresp *rs)
{
    if (rq->h2) {
        rs->action = ACT_RESET; /* Go cannot hijack an HTTP/2 stream: the handler panics */
        return;
    }
    /* x/net/websocket's handshake checks, answered with a bare status line. */
    const char *up = hdrs_get(&rq->hdrs, "Upgrade");
    const char *conn = hdrs_get(&rq->hdrs, "Connection");
    const char *key = hdrs_get(&rq->hdrs, "Sec-WebSocket-Key");
    const char *ver = hdrs_get(&rq->hdrs, "Sec-WebSocket-Version");
    if (strcmp(rq->method, "GET")) {
        rs->status = 405;
    } else if (!up || strcasecmp(up, "websocket") || !conn || !strcasestr(conn, "upgrade") ||
               !key || !*key) {
        rs->status = 400;
    } else if (!ver || strcmp(ver, "13")) {
        rs->status = 400;
        hdrs_add(&rs->hdrs, "Sec-WebSocket-Version", 21, "13", 2);
    } else {
        rs->action = ACT_WEBSOCKET;
    }
}

static void status_route(const struct hreq *rq, struct hresp *rs)
{
    /* Upstream matches ^/status/(\d\d\d)$ against the raw request URI. */
    const char *t = rq->target;
    if (strlen(t) == 11 && !strncmp(t, "/status/", 8) && strspn(t + 8, "0123456789") == 3) {
        int code = (t[8] - '0') * 100 + (t[9] - '0') * 10 + (t[10] - '0'); /* three digits, checked above */
        if (code < 100) {
            rs->action = ACT_CLOSE; /* WriteHeader panics on such codes; the server drops the conn */
            return;
        }
        rs->status = code < 200 ? 200 : code; /* an informational status is followed by 200 */
        return;
    }
    rs->status = 400;
}

void handle_http(const struct hreq *rq, struct hresp *rs)
{
    rs->status = 200;
    rs->action = ACT_SEND;
    if (cfg.mode == MODE_ISTIO) {
        istio_handle_http(rq, rs); /* Istio's echo has no routes: every request is echoed */
        return;
    }
    if (!strcmp(rq->target, "*")) {
        rs->status = strcmp(rq->method, "OPTIONS") ? 400 : 200;
        return;
    }
    /* Split the request target into path and query; absolute-form carries scheme://authority. */
    const char *t = rq->target;
    if (!strncasecmp(t, "http://", 7) || !strncasecmp(t, "https://", 8)) {
        t = strstr(t, "://") + 3;
        t += strcspn(t, "/?");
    }
    size_t plen = strcspn(t, "?#");
    char *path = plen ? xstrndup(t, plen) : xstrdup("/");
    char *query = t[plen] == '?' ? xstrndup(t + plen + 1, strcspn(t + plen + 1, "#")) : NULL;

    /* preserveSlashes: "//" becomes "/" (non-overlapping, as strings.ReplaceAll) before routing */
    size_t o = 0;
    for (size_t i = 0; path[i]; i++) {
        if (path[i] == '/' && path[i + 1] == '/')
            i++;
        path[o++] = path[i];
    }
    path[o] = 0;

    char *clean = clean_path(path);
    if (strcmp(rq->method, "CONNECT") && strcmp(clean, path)) {
        redirect(rq, rs, clean, query);
    } else if (!strcmp(path, "/health")) {
        set_text(rs, 200, "text/plain; charset=utf-8", "OK");
    } else if (!strcmp(path, "/ws")) {
        websocket(rq, rs);
    } else if (!strncmp(path, "/status/", 8)) {
        status_route(rq, rs);
    } else if (!strcmp(path, "/status") || !strcmp(path, "/retry")) {
        struct buf p = {0};
        buf_printf(&p, "%s/", path);
        redirect(rq, rs, p.p, query);
        buf_free(&p);
    } else if (!strncmp(path, "/retry/", 7)) {
        retry(rq, rs, query);
    } else {
        echo(rq, rs, query);
    }
    free(clean);
    free(path);
    free(query);
}
