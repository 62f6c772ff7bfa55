/* A byte-at-a-time state machine for the framing lines, and one pointer jump per run of chunk
 * data: the framing is a few bytes per chunk, the data is the bulk and is never looked at. */
#include "http/chunked.h"

#include "base/err.h"
#include "http/h1_parse.h"
#include "http/internal.h"

#include <string.h>

enum state {
    SIZE_FIRST, /* the first hex digit of chunk-size */
    SIZE,       /* more hex digits */
    SIZE_BWS,   /* whitespace after the size: only ';' may follow */
    EXT,        /* chunk extensions, skipped up to CR */
    SIZE_LF,
    DATA,
    DATA_CR, /* the CRLF after chunk data */
    DATA_LF,
    TRAILER_LINE, /* start of a trailer field line, or of the final CRLF */
    TRAILER_NAME,
    TRAILER_VALUE,
    TRAILER_LF,
    LAST_LF, /* the LF of the empty line that ends the body */
    DONE,
};

void tr_h1_chunked_init(struct tr_h1_chunked *c, const struct tr_h1_limits *lim)
{
    if (!lim)
        lim = &tr_h1_default_limits;
    memset(c, 0, sizeof(*c));
    c->max_ext = lim->max_chunk_ext;
    c->max_trailer = lim->max_trailer;
    c->state = SIZE_FIRST;
}

bool tr_h1_chunked_done(const struct tr_h1_chunked *c)
{
    return c->state == DONE;
}

static int hexval(unsigned char ch)
{
    return ch <= '9' ? ch - '0' : (ch | 0x20) - 'a' + 10;
}

ssize_t tr_h1_chunked_decode(struct tr_h1_chunked *c, const char *src, size_t len, const char **data,
                             size_t *data_len)
{
    const char *p = src, *end = src + len;
    *data = NULL;
    *data_len = 0;
    if (c->error)
        return c->error;
    if (c->state == DONE)
        return 0;
    int rc = TR_EPROTO;
    for (; p < end; p++) {
        unsigned char ch = (unsigned char)*p;
        switch (c->state) {
        case DATA: {
            size_t n = (size_t)(end - p);
            if (n > c->remaining)
                n = (size_t)c->remaining;
            *data = p;
            *data_len = n;
            c->remaining -= n;
            c->total += n;
            if (!c->remaining)
                c->state = DATA_CR;
            return p + n - src;
        }
        case SIZE_FIRST:
        case SIZE:
            if (tr_h1_is(ch, TR_H1_C_HEX)) {
                if (++c->count > 16) {
                    rc = TR_ELIMIT;
                    goto fail;
                }
                c->remaining = c->remaining << 4 | (uint64_t)hexval(ch);
                c->state = SIZE;
                break;
            }
            if (c->state == SIZE_FIRST)
                goto fail;
            c->count = 1; /* extension bytes: everything after the digits up to CR */
            if (ch == '\r')
                c->state = SIZE_LF;
            else if (ch == ';')
                c->state = EXT;
            else if (ch == ' ' || ch == '\t')
                c->state = SIZE_BWS;
            else
                goto fail;
            if (c->state != SIZE_LF && c->count > c->max_ext) {
                rc = TR_ELIMIT;
                goto fail;
            }
            break;
        case SIZE_BWS:
        case EXT:
            if (ch == '\r' && c->state == EXT) {
                c->state = SIZE_LF;
                break;
            }
            if (ch == ';')
                c->state = EXT;
            else if (c->state == SIZE_BWS ? ch != ' ' && ch != '\t' : !tr_h1_is(ch, TR_H1_C_VALUE))
                goto fail;
            if (++c->count > c->max_ext) {
                rc = TR_ELIMIT;
                goto fail;
            }
            break;
        case SIZE_LF:
            if (ch != '\n')
                goto fail;
            c->count = 0;
            c->state = c->remaining ? DATA : TRAILER_LINE;
            break;
        case DATA_CR:
            if (ch != '\r')
                goto fail;
            c->state = DATA_LF;
            break;
        case DATA_LF:
            if (ch != '\n')
                goto fail;
            c->state = SIZE_FIRST;
            break;
        default:
            /* The trailer section: every byte counts against max_trailer. */
            if (++c->trailer > c->max_trailer) {
                rc = TR_ELIMIT;
                goto fail;
            }
            if (c->keep && c->keep_len < c->keep_cap && c->state != LAST_LF &&
                !(c->state == TRAILER_LINE && ch == '\r'))
                c->keep[c->keep_len++] = (char)ch;
            switch (c->state) {
            case TRAILER_LINE:
                if (ch == '\r')
                    c->state = LAST_LF;
                else if (tr_h1_is(ch, TR_H1_C_TOKEN))
                    c->state = TRAILER_NAME;
                else
                    goto fail; /* obs-fold, whitespace, a bare LF, ... */
                break;
            case TRAILER_NAME:
                if (ch == ':')
                    c->state = TRAILER_VALUE;
                else if (!tr_h1_is(ch, TR_H1_C_TOKEN))
                    goto fail;
                break;
            case TRAILER_VALUE:
                if (ch == '\r')
                    c->state = TRAILER_LF;
                else if (!tr_h1_is(ch, TR_H1_C_VALUE))
                    goto fail;
                break;
            case TRAILER_LF:
                if (ch != '\n')
                    goto fail;
                c->state = TRAILER_LINE;
                break;
            case LAST_LF:
                if (ch != '\n')
                    goto fail;
                c->state = DONE;
                return p + 1 - src; /* not one byte further: the next message starts here */
            }
        }
    }
    return p - src;
fail:
    c->error = rc;
    return rc;
}

ssize_t tr_h1_chunked_decode_inplace(struct tr_h1_chunked *c, char *buf, size_t len, size_t *out_len)
{
    size_t in = 0, out = 0;
    *out_len = 0;
    while (in < len && c->state != DONE) {
        const char *d;
        size_t n;
        ssize_t rc = tr_h1_chunked_decode(c, buf + in, len - in, &d, &n);
        if (rc < 0)
            return rc;
        if (n) {
            memmove(buf + out, d, n);
            out += n;
        }
        in += (size_t)rc;
        if (rc == 0)
            break;
    }
    *out_len = out;
    return (ssize_t)in;
}
