/* sessionPersistence (GEP-1619) as the data plane carries it out (proxy/session.c): a route
 * rule's own, or the one an XBackendTrafficPolicy gives the Services it targets. */
#include "base/duration.h"
#include "translate/internal.h"

#include <string.h>

/* An RFC 9110 token: what a header field name and an RFC 6265 cookie name are. */
static bool is_token(const char *s)
{
    if (!*s)
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", *p))
            return false;
    return true;
}

/* Fields a Header session must not take: HTTP's own, and those torii itself writes. */
static bool reserved_header(const char *s)
{
    static const char *const names[] = {"host",          "cookie",          "set-cookie",       "content-length",
                                        "transfer-encoding", "connection",  "keep-alive",       "upgrade",
                                        "te",            "trailer",         "proxy-connection", "x-forwarded-for",
                                        "x-forwarded-proto", "x-forwarded-host", "forwarded",   "via"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcasecmp(s, names[i]) == 0)
            return true;
    return false;
}

const char *tx_session_problem(struct tr_arena *a, const struct tr_node *sp)
{
    const char *name = tr_node_gets(sp, "sessionName");
    bool header = strcmp(str_or(tr_node_gets(sp, "type"), "Cookie"), "Header") == 0;
    if (name && !is_token(name))
        return tr_arena_printf(a, "sessionName: \"%.64s\" is not a valid %s name (an RFC 9110 token)", name,
                               header ? "header" : "cookie");
    if (name && header && reserved_header(name))
        return tr_arena_printf(a, "sessionName: \"%s\" is a header HTTP or torii itself uses", name);
    const char *abs = tr_node_gets(sp, "absoluteTimeout");
    const char *lt = tr_node_gets(tr_node_get(sp, "cookieConfig"), "lifetimeType");
    uint64_t ms = 0;
    if (abs && lt && strcmp(lt, "Permanent") == 0 && tr_duration_ms(abs, &ms) && ms < 1000)
        return tr_arena_printf(a, "absoluteTimeout: %s is less than the one second a permanent cookie's Max-Age "
                                  "can say", abs);
    return NULL;
}

/* The cookie Path for a match's path (GEP-1619 "Path"): a prefix or exact path as it is, less
 * a trailing slash; a regular expression's longest literal prefix, to its last slash; "/" for
 * anything else. A path that holds what a cookie attribute cannot (";", controls) is cut at
 * the last slash before it. */
static const char *cookie_path(struct tr_arena *a, const struct tr_node *path)
{
    const char *type = str_or(tr_node_gets(path, "type"), "PathPrefix");
    const char *v = str_or(tr_node_gets(path, "value"), "/");
    bool regex = strcmp(type, "RegularExpression") == 0;
    if (regex && *v == '^')
        v++;
    if (*v != '/')
        return "/";
    size_t n = 0;
    bool cut = false;
    for (; v[n]; n++) {
        unsigned char c = (unsigned char)v[n];
        if (c < 0x21 || c == 0x7f || c == ';' || c == ',' || (regex && strchr(".[]{}()*+?|\\^$", c))) {
            cut = true;
            break;
        }
    }
    if (cut)
        while (n > 0 && v[n - 1] != '/')
            n--;
    while (n > 1 && v[n - 1] == '/')
        n--;
    return n <= 1 ? "/" : tr_arena_strndup(a, v, n);
}

const struct tr_ir_session *tx_session_compile(struct tr_arena *a, const struct tr_node *sp,
                                               const struct tr_node *matches, enum tr_kind kind)
{
    if (!sp)
        return NULL;
    struct tr_ir_session *s = TR_ANEW(a, struct tr_ir_session);
    const char *name = tr_node_gets(sp, "sessionName");
    s->name = name ? tr_arena_strdup(a, name) : NULL;
    s->type = strcmp(str_or(tr_node_gets(sp, "type"), "Cookie"), "Header") == 0 ? TR_SESSION_HEADER : TR_SESSION_COOKIE;
    const char *abs = tr_node_gets(sp, "absoluteTimeout");
    if (abs && !tr_duration_ms(abs, &s->absolute_ms))
        s->absolute_ms = 0;
    const char *lt = tr_node_gets(tr_node_get(sp, "cookieConfig"), "lifetimeType");
    s->permanent = s->type == TR_SESSION_COOKIE && lt && strcmp(lt, "Permanent") == 0 && s->absolute_ms;
    if (kind == TR_KIND_XBACKENDTRAFFICPOLICY || s->type != TR_SESSION_COOKIE)
        return s; /* no Path: a policy's Service may be reached by many routes */
    size_t n = tr_node_len(matches);
    const char **paths = TR_ANEWN(a, const char *, n ? n : 1);
    paths[0] = "/";
    for (size_t i = 0; i < n && kind == TR_KIND_HTTPROUTE; i++) {
        const struct tr_node *p = tr_node_get(tr_node_at(matches, i), "path");
        paths[i] = p ? cookie_path(a, p) : "/";
    }
    for (size_t i = 1; i < n && kind != TR_KIND_HTTPROUTE; i++)
        paths[i] = "/";
    s->paths = paths;
    return s;
}
