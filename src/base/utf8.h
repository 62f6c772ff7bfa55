/* UTF-8 well-formedness, for code that takes bytes from outside and must give out text. */
#ifndef TR_BASE_UTF8_H
#define TR_BASE_UTF8_H

#include <stddef.h>

/* The length (2 to 4) of the well-formed multi-byte UTF-8 sequence at s, which has left bytes,
 * or 0 when there is none (RFC 3629 table 3-7: no overlong forms, no surrogates, nothing past
 * U+10FFFF). ASCII is the caller's: a byte below 0x80 gives 0 too. */
static inline size_t tr_utf8_seq(const unsigned char *s, size_t left)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xBF; /* the range of the second byte */
    size_t n;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        lo = c == 0xE0 ? 0xA0 : 0x80;
        hi = c == 0xED ? 0x9F : 0xBF;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF;
    } else {
        return 0;
    }
    if (left < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t k = 2; k < n; k++)
        if ((s[k] & 0xC0) != 0x80)
            return 0;
    return n;
}

#endif
