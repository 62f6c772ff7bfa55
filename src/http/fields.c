/* HTTP field and status helpers shared by the HTTP/1 and HTTP/2 paths: reason phrases,
 * hop-by-hop fields, Content-Length and the HTTP/1.0 Expect rule. Pure. */
#include "http/fields.h"
#include "base/buf.h"
#include "http/h1_parse.h"

#include <string.h>
#include <strings.h>

void tr_http_put_content_length(struct tr_buf *o, uint64_t n)
{
    tr_buf_puts(o, "Content-Length: ");
    tr_buf_put_u64(o, n);
    tr_buf_puts(o, "\r\n");
}

const char *tr_http_status_text(int code)
{
    switch (code) {
    case 100: return "Continue";
    case 103: return "Early Hints";
    case 200: return "OK";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 421: return "Misdirected Request";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    }
    return "Unknown";
}

bool tr_http_hop_by_hop(const struct tr_h1_header *h, const struct tr_h1_header *all, size_t n)
{
    static const char *const names[] = {"connection", "keep-alive", "proxy-connection", "te", "trailer",
                                        "transfer-encoding", "upgrade", "content-length"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (tr_h1_token_eq(h->name, h->name_len, names[i], strlen(names[i])))
            return true;
    /* Fields the Connection header names are hop-by-hop too. */
    for (size_t i = 0; i < n; i++) {
        if (!tr_h1_token_eq(all[i].name, all[i].name_len, "connection", 10))
            continue;
        const char *p = all[i].value, *end = all[i].value + all[i].value_len, *e;
        size_t el;
        while (tr_h1_list_next(&p, end, &e, &el))
            if (el == h->name_len && strncasecmp(e, h->name, el) == 0)
                return true;
    }
    return false;
}

void tr_http_put_expect_http10(struct tr_buf *o, const struct tr_h1_header *h)
{
    const char *p = h->value, *end = h->value + h->value_len, *el;
    size_t el_len;
    bool first = true;
    while (tr_h1_list_next(&p, end, &el, &el_len)) {
        if (tr_h1_token_eq(el, el_len, "100-continue", 12))
            continue;
        if (first)
            tr_buf_puts(o, "Expect: ");
        else
            tr_buf_puts(o, ", ");
        tr_buf_append(o, el, el_len);
        first = false;
    }
    if (!first)
        tr_buf_puts(o, "\r\n");
}

bool tr_http_next_line_field(const char **p, const char *end, struct tr_h1_header *f)
{
    while (*p && *p < end) {
        const char *line = *p;
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        const char *le = eol ? eol : end;
        *p = eol ? eol + 1 : end;
        if (le > line && le[-1] == '\r')
            le--;
        const char *colon = memchr(line, ':', (size_t)(le - line));
        if (!colon)
            continue;
        const char *v = colon + 1;
        while (v < le && (*v == ' ' || *v == '\t'))
            v++;
        while (le > v && (le[-1] == ' ' || le[-1] == '\t'))
            le--;
        *f = (struct tr_h1_header){line, (size_t)(colon - line), v, (size_t)(le - v)};
        return true;
    }
    return false;
}
