#include "proxy/filters.h"
#include "base/buf.h"
#include "base/node.h"
#include "http/h1_parse.h"
#include "ir/ir.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *str_or_empty(const char *s)
{
    return s ? s : "";
}

static const char *str_or_default(const char *s, const char *def)
{
    return s ? s : def;
}

static const struct tr_node *find_in(const struct tr_node *fs, const char *type)
{
    for (size_t i = 0; i < tr_node_len(fs); i++) {
        const struct tr_node *f = tr_node_at(fs, i);
        const char *t = tr_node_gets(f, "type");
        if (t && strcmp(t, type) == 0)
            return f;
    }
    return NULL;
}

static const struct tr_node *find_filter(const struct tr_ir_rule *rule, const char *type)
{
    return find_in(rule ? tr_node_get(rule->spec, "filters") : NULL, type);
}

void tr_filters_backend(const struct tr_node *filters, struct tr_filter_out *out)
{
    const struct tr_node *hm = find_in(filters, "RequestHeaderModifier");
    out->bmod = hm ? tr_node_get(hm, "requestHeaderModifier") : NULL;
}

/* The path prefix the request matched (for ReplacePrefixMatch), without a trailing '/'. */
static size_t matched_prefix(const struct tr_ir_rule *rule, uint32_t match, const char **prefix)
{
    const struct tr_node *m = tr_node_at(tr_node_get(rule->spec, "matches"), match);
    const char *v = tr_node_gets(tr_node_get(m, "path"), "value");
    *prefix = v ? v : "/";
    size_t n = strlen(*prefix);
    while (n > 1 && (*prefix)[n - 1] == '/')
        n--;
    if (n == 1 && (*prefix)[0] == '/')
        n = 0;
    return n;
}

/* Applies an HTTPPathModifier to path (without query); writes the new path into out. */
static void modify_path(const struct tr_ir_rule *rule, uint32_t match, const struct tr_node *pm, const char *path,
                        size_t plen, char *out, size_t cap)
{
    const char *type = tr_node_gets(pm, "type");
    if (type && strcmp(type, "ReplaceFullPath") == 0) {
        snprintf(out, cap, "%s", str_or_empty(tr_node_gets(pm, "replaceFullPath")));
        return;
    }
    /* ReplacePrefixMatch: "/foo" -> "/xyz" makes /foo/bar /xyz/bar; "/foo" -> "/" makes
     * /foo/bar /bar, not //bar (HTTPPathModifier docs). */
    const char *prefix;
    size_t n = matched_prefix(rule, match, &prefix);
    const char *rest = path + (n <= plen ? n : plen);
    size_t rlen = plen - (n <= plen ? n : plen);
    const char *rep = str_or_empty(tr_node_gets(pm, "replacePrefixMatch"));
    size_t replen = strlen(rep);
    while (replen > 0 && rep[replen - 1] == '/' && (rlen > 0 || replen > 1))
        replen--;
    if (replen == 0 && rlen == 0)
        snprintf(out, cap, "/");
    else if (rlen > 0 && rest[0] != '/')
        snprintf(out, cap, "%.*s/%.*s", (int)replen, rep, (int)rlen, rest);
    else
        snprintf(out, cap, "%.*s%.*s", (int)replen, rep, (int)rlen, rest);
    if (out[0] != '/' && strlen(out) + 1 < cap) {
        memmove(out + 1, out, strlen(out) + 1);
        out[0] = '/';
    }
}

void tr_filters_request(const struct tr_ir_rule *rule, uint32_t match, const struct tr_h1_req *req,
                        const char *host, uint16_t listener_port, bool tls, struct tr_filter_out *out)
{
    memset(out, 0, sizeof(*out));
    const char *path = req->path_len ? req->path : "/";
    size_t plen = req->path_len ? req->path_len : 1;
    const char *q = memchr(path, '?', plen);
    size_t only = q ? (size_t)(q - path) : plen;
    size_t qlen = q ? plen - only : 0;

    const struct tr_node *rd = find_filter(rule, "RequestRedirect");
    if (rd) {
        const struct tr_node *r = tr_node_get(rd, "requestRedirect");
        const char *scheme = tr_node_gets(r, "scheme");
        const char *h = str_or_default(tr_node_gets(r, "hostname"), host);
        int64_t port = tr_node_geti(r, "port", -1);
        /* No port: the scheme's well-known port when the scheme is set, else the listener's
         * (HTTPRequestRedirectFilter docs); a well-known port is left out of Location. */
        const char *sch = scheme ? scheme : tls ? "https" : "http";
        if (port < 0)
            port = scheme ? (strcmp(scheme, "https") == 0 ? 443 : 80) : listener_port;
        bool default_port = (strcmp(sch, "http") == 0 && port == 80) || (strcmp(sch, "https") == 0 && port == 443);
        char np[4096];
        const struct tr_node *pm = tr_node_get(r, "path");
        if (pm)
            modify_path(rule, match, pm, path, only, np, sizeof(np));
        else
            snprintf(np, sizeof(np), "%.*s", (int)only, path);
        char portbuf[24] = "";
        if (!default_port)
            snprintf(portbuf, sizeof(portbuf), ":%lld", (long long)port);
        struct tr_buf loc;
        tr_buf_init(&loc, sizeof(out->location) - 1);
        if (tr_buf_printf(&loc, "%s://%s%s%s%.*s", sch, h, portbuf, np, (int)qlen, q ? q : "") == 0)
            memcpy(out->location, loc.data, loc.len + 1);
        else
            snprintf(out->location, sizeof(out->location), "%s://%s%s/", sch, h, portbuf);
        tr_buf_dispose(&loc);
        out->redirect_status = (int)tr_node_geti(r, "statusCode", 302);
        return;
    }
    const struct tr_node *rw = find_filter(rule, "URLRewrite");
    if (rw) {
        const struct tr_node *r = tr_node_get(rw, "urlRewrite");
        out->host = tr_node_gets(r, "hostname");
        const struct tr_node *pm = tr_node_get(r, "path");
        if (pm) {
            modify_path(rule, match, pm, path, only, out->path_buf, sizeof(out->path_buf));
            size_t used = strlen(out->path_buf);
            if (qlen && used + qlen < sizeof(out->path_buf)) {
                memcpy(out->path_buf + used, q, qlen);
                out->path_buf[used + qlen] = '\0';
            }
            out->path = out->path_buf;
        }
    }
    const struct tr_node *hm = find_filter(rule, "RequestHeaderModifier");
    out->mod = hm ? tr_node_get(hm, "requestHeaderModifier") : NULL;
}

void tr_filters_response(const struct tr_ir_rule *rule, const struct tr_node *backend_filters,
                         struct tr_filter_out *out)
{
    memset(out, 0, sizeof(*out));
    const struct tr_node *hm = find_filter(rule, "ResponseHeaderModifier");
    out->mod = hm ? tr_node_get(hm, "responseHeaderModifier") : NULL;
    hm = find_in(backend_filters, "ResponseHeaderModifier");
    out->bmod = hm ? tr_node_get(hm, "responseHeaderModifier") : NULL;
}

static bool named(const struct tr_node *list, bool objects, const char *name, size_t len)
{
    for (size_t i = 0; i < tr_node_len(list); i++) {
        const struct tr_node *x = tr_node_at(list, i);
        const char *n = objects ? tr_node_gets(x, "name") : (x->type == TR_N_STR ? x->u.s : NULL);
        if (n && strlen(n) == len && strncasecmp(n, name, len) == 0)
            return true;
    }
    return false;
}

static bool drop_by(const struct tr_node *mod, const char *name, size_t len)
{
    return mod && (named(tr_node_get(mod, "remove"), false, name, len) || named(tr_node_get(mod, "set"), true, name, len));
}

static bool drop(const struct tr_filter_out *f, const char *name, size_t len)
{
    return drop_by(f->mod, name, len) || drop_by(f->bmod, name, len);
}

bool tr_filters_drop_request_header(const struct tr_filter_out *f, const char *name, size_t len)
{
    return drop(f, name, len);
}

bool tr_filters_drop_response_header(const struct tr_filter_out *f, const char *name, size_t len)
{
    return drop(f, name, len);
}

/* Writes mod's set and add fields, leaving out names a later modifier (over) sets or removes. */
static void add_by(const struct tr_node *mod, const struct tr_node *over, struct tr_buf *b)
{
    if (!mod)
        return;
    static const char *const lists[] = {"set", "add"};
    for (size_t k = 0; k < 2; k++) {
        const struct tr_node *l = tr_node_get(mod, lists[k]);
        for (size_t i = 0; i < tr_node_len(l); i++) {
            const struct tr_node *h = tr_node_at(l, i);
            const char *n = tr_node_gets(h, "name"), *v = tr_node_gets(h, "value");
            if (n && v && !drop_by(over, n, strlen(n)))
                tr_buf_printf(b, "%s: %s\r\n", n, v);
        }
    }
}

static void add(const struct tr_filter_out *f, struct tr_buf *b)
{
    add_by(f->mod, f->bmod, b);
    add_by(f->bmod, NULL, b);
}

void tr_filters_add_request_headers(const struct tr_filter_out *f, struct tr_buf *b)
{
    add(f, b);
}

void tr_filters_add_response_headers(const struct tr_filter_out *f, struct tr_buf *b)
{
    add(f, b);
}

void tr_filters_timeouts_ms(const struct tr_ir_rule *rule, uint64_t *request_ms, uint64_t *backend_ms)
{
    const struct tr_node *t = rule ? tr_node_get(rule->spec, "timeouts") : NULL;
    if (!tr_duration_ms(tr_node_gets(t, "request"), request_ms))
        *request_ms = 0;
    if (!tr_duration_ms(tr_node_gets(t, "backendRequest"), backend_ms))
        *backend_ms = 0;
}
