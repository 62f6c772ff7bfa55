#include "base/buf.h"
#include "base/err.h"
#include "base/mem.h"
#include "base/utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tr_buf_init(struct tr_buf *b, size_t max)
{
    b->data = NULL;
    b->len = b->cap = 0;
    b->max = max;
}

void tr_buf_dispose(struct tr_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

static int reserve(struct tr_buf *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    if (b->max && need - 1 > b->max)
        return TR_ELIMIT;
    if (need <= b->cap)
        return TR_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    b->data = tr_xrealloc(b->data, cap);
    b->cap = cap;
    return TR_OK;
}

int tr_buf_append(struct tr_buf *b, const void *p, size_t len)
{
    int rc = reserve(b, len);
    if (rc)
        return rc;
    if (len)
        memcpy(b->data + b->len, p, len);
    b->len += len;
    b->data[b->len] = '\0';
    return TR_OK;
}

int tr_buf_puts(struct tr_buf *b, const char *s)
{
    return tr_buf_append(b, s, strlen(s));
}

int tr_buf_putc(struct tr_buf *b, char c)
{
    return tr_buf_append(b, &c, 1);
}

int tr_buf_reserve(struct tr_buf *b, size_t extra)
{
    return reserve(b, extra);
}

const char *tr_fmt_u64(char out[20], uint64_t v)
{
    char *p = out + 20;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return p;
}

int tr_buf_put_u64(struct tr_buf *b, uint64_t v)
{
    char d[20];
    const char *p = tr_fmt_u64(d, v);
    return tr_buf_append(b, p, (size_t)(d + sizeof(d) - p));
}

int tr_buf_put_chunk_size(struct tr_buf *b, uint64_t v)
{
    char d[18];
    char *p = d + sizeof(d);
    *--p = '\n';
    *--p = '\r';
    do {
        *--p = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    return tr_buf_append(b, p, (size_t)(d + sizeof(d) - p));
}

int tr_buf_put_chunk(struct tr_buf *b, const char *p, size_t n)
{
    int rc = tr_buf_put_chunk_size(b, n);
    if (!rc)
        rc = tr_buf_append(b, p, n);
    if (!rc)
        rc = tr_buf_append(b, "\r\n", 2);
    return rc;
}

int tr_buf_put_field(struct tr_buf *b, const char *name, const char *value, size_t vlen)
{
    int rc = tr_buf_puts(b, name);
    if (!rc)
        rc = tr_buf_append(b, ": ", 2);
    if (!rc)
        rc = tr_buf_append(b, value, vlen);
    if (!rc)
        rc = tr_buf_append(b, "\r\n", 2);
    return rc;
}

int tr_buf_vprintf(struct tr_buf *b, const char *fmt, va_list ap)
{
    va_list cp;
    va_copy(cp, ap);
    int n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0)
        return TR_EINVAL;
    int rc = reserve(b, (size_t)n);
    if (rc)
        return rc;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return TR_OK;
}

int tr_buf_printf(struct tr_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = tr_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

void tr_buf_reset(struct tr_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

char *tr_buf_steal(struct tr_buf *b)
{
    char *p = b->data ? b->data : tr_xstrdup("");
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

void tr_buf_compact(struct tr_buf *b, size_t *off)
{
    if (*off == 0)
        return;
    if (*off == b->len) {
        b->len = 0;
        *off = 0;
        return;
    }
    if (*off >= 4096 && *off * 2 >= b->len) {
        memmove(b->data, b->data + *off, b->len - *off);
        b->len -= *off;
        *off = 0;
    }
}

/* JSON text is UTF-8 (RFC 8259 section 8.1): a byte that is not part of a well-formed sequence
 * (a file name can be any bytes, and it is quoted in /status) becomes U+FFFD, so that one
 * such name does not make /status unreadable for every client. */
int tr_json_quote(struct tr_buf *b, const char *s, size_t len)
{
    int rc = tr_buf_putc(b, '"');
    size_t run = 0; /* start of the pending run of bytes that need no escape */
    for (size_t i = 0; i < len && !rc; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x7f)
            continue;
        /* A well-formed sequence goes as it is, but for the characters a YAML reader refuses
         * raw or reads as line breaks (C1 controls, NEL, U+2028, U+2029, U+FFFE, U+FFFF):
         * torii's JSON is read as YAML too. */
        size_t seq = c >= 0x80 ? tr_utf8_seq((const unsigned char *)s + i, len - i) : 1;
        unsigned cp = 0;
        if (seq == 2)
            cp = (c & 0x1Fu) << 6 | ((unsigned char)s[i + 1] & 0x3Fu);
        else if (seq == 3)
            cp = (c & 0x0Fu) << 12 | ((unsigned char)s[i + 1] & 0x3Fu) << 6 | ((unsigned char)s[i + 2] & 0x3Fu);
        if (seq > 1 && !(cp >= 0x80 && cp <= 0x9F) && cp != 0x2028 && cp != 0x2029 && cp != 0xFFFE && cp != 0xFFFF) {
            i += seq - 1;
            continue;
        }
        rc = tr_buf_append(b, s + run, i - run);
        run = i + (seq ? seq : 1);
        if (rc)
            break;
        if (seq > 1) {
            rc = tr_buf_printf(b, "\\u%04x", cp);
            i += seq - 1;
        } else if (c >= 0x80) {
            rc = tr_buf_puts(b, "\\ufffd");
        } else if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            rc = tr_buf_append(b, esc, 2);
        } else if (c == '\n') {
            rc = tr_buf_puts(b, "\\n");
        } else if (c == '\t') {
            rc = tr_buf_puts(b, "\\t");
        } else if (c == '\r') {
            rc = tr_buf_puts(b, "\\r");
        } else {
            rc = tr_buf_printf(b, "\\u%04x", c);
        }
    }
    if (!rc)
        rc = tr_buf_append(b, s + run, len - run);
    return rc ? rc : tr_buf_putc(b, '"');
}
