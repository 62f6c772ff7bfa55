/* Shared by the HTTP/1 codec files (h1_parse.c, chunked.c): the byte classes of RFC 9110. */
#ifndef TR_HTTP_INTERNAL_H
#define TR_HTTP_INTERNAL_H

#include <stdint.h>

#define TR_H1_C_TOKEN 0x01  /* tchar (RFC 9110 5.6.2) */
#define TR_H1_C_VALUE 0x02  /* field-vchar, SP, HTAB (RFC 9110 5.5); also reason-phrase bytes */
#define TR_H1_C_TARGET 0x04 /* request-target bytes we accept: see h1_parse.h */
#define TR_H1_C_HOST 0x08   /* reg-name bytes (RFC 3986 3.2.2), '%' included */
#define TR_H1_C_HEX 0x10    /* HEXDIG, either case */

extern const uint8_t tr_h1_chars[256];

static inline int tr_h1_is(unsigned char c, int cls)
{
    return tr_h1_chars[c] & cls;
}

#endif
