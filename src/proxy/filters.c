#include "proxy/filters.h"
#include "base/buf.h"
#include "http/h1_parse.h"
#include "ir/ir.h"
#include "ir/match.h"

#include <stdio.h>
#include <string.h>

void tr_filters_backend(const struct tr_ir_filters *filters, struct tr_filter_out *out)
{
    out->bmod = filters ? filters->request_headers : NULL;
}

/* Applies an HTTPPathModifier to path (without query); writes the new path into out. */
static void modify_path(const struct tr_ir_rule *rule, uint32_t match, const struct tr_ir_path_mod *pm,
                        const char *path, size_t plen, char *out, size_t cap)
{
    if (pm->kind == TR_IR_PATH_FULL) {
        snprintf(out, cap, "%s", pm->value);
        return;
    }
    /* ReplacePrefixMatch: "/foo" -> "/xyz" makes /foo/bar /xyz/bar; "/foo" -> "/" makes
     * /foo/bar /bar, not //bar (HTTPPathModifier docs). */
    size_t n = match < rule->spec->nmatches ? rule->spec->matches[match].prefix_len : 0;
    const char *rest = path + (n <= plen ? n : plen);
    size_t rlen = plen - (n <= plen ? n : plen);
    const char *rep = pm->value;
    size_t replen = pm->len;
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

    const struct tr_ir_filters *fs = rule ? rule->spec->filters : NULL;
    const struct tr_ir_redirect *rd = tr_ir_filters_redirect(fs);
    if (rd) {
        const char *h = rd->hostname ? rd->hostname : host;
        /* No port: the listener's (translate filled in a scheme's well-known port); a
         * well-known port is left out of Location. */
        const char *sch = rd->scheme ? rd->scheme : tls ? "https" : "http";
        int64_t port = rd->port < 0 ? listener_port : rd->port;
        bool default_port = (strcmp(sch, "http") == 0 && port == 80) || (strcmp(sch, "https") == 0 && port == 443);
        char np[4096];
        if (rd->path.kind != TR_IR_PATH_KEEP)
            modify_path(rule, match, &rd->path, path, only, np, sizeof(np));
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
        out->redirect_status = rd->status;
        return;
    }
    const struct tr_ir_rewrite *rw = tr_ir_filters_rewrite(fs);
    if (rw) {
        out->host = rw->hostname;
        if (rw->path.kind != TR_IR_PATH_KEEP) {
            modify_path(rule, match, &rw->path, path, only, out->path_buf, sizeof(out->path_buf));
            size_t used = strlen(out->path_buf);
            if (qlen && used + qlen < sizeof(out->path_buf)) {
                memcpy(out->path_buf + used, q, qlen);
                out->path_buf[used + qlen] = '\0';
            }
            out->path = out->path_buf;
        }
    }
    out->mod = fs ? fs->request_headers : NULL;
}

void tr_filters_response(const struct tr_ir_rule *rule, const struct tr_ir_filters *backend_filters,
                         struct tr_filter_out *out)
{
    memset(out, 0, sizeof(*out));
    out->mod = rule && rule->spec->filters ? rule->spec->filters->response_headers : NULL;
    out->bmod = backend_filters ? backend_filters->response_headers : NULL;
}

/* Is a field of this name (any case) in v? The names there are lower-cased already. */
static bool named(const struct tr_ir_header *v, size_t n, const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (tr_h1_token_eq(name, len, v[i].lname, strnlen(v[i].lname, len + 1)))
            return true;
    return false;
}

static bool drop_by(const struct tr_ir_header_mod *mod, const char *name, size_t len)
{
    return mod && (named(tr_ir_mod_remove(mod), mod->nremove, name, len) || named(tr_ir_mod_set(mod), mod->nset, name, len));
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
static void add_by(const struct tr_ir_header_mod *mod, const struct tr_ir_header_mod *over, struct tr_buf *b)
{
    if (!mod)
        return;
    for (size_t i = 0; i < (size_t)mod->nset + mod->nadd; i++) {
        const struct tr_ir_header *h = &mod->v[i]; /* set's, then add's */
        if (h->value && !drop_by(over, h->lname, strlen(h->lname)))
            tr_buf_printf(b, "%s: %s\r\n", tr_ir_mod_name(mod, i), h->value);
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
    const struct tr_ir_timeouts *t = rule ? tr_ir_rule_timeouts(rule->spec) : NULL;
    *request_ms = t ? t->request_ms : 0;
    *backend_ms = t ? t->backend_ms : 0;
}
