/* The chunked decoder on anything: fed whole, and fed in random pieces (the first byte seeds
 * them; each piece in a buffer of its own size, so that a read past it is caught), it must
 * consume the same bytes, decode the same data and give the same verdict; in place too. The
 * trailer copy (keep) is on, into a buffer of exactly its cap. */
#include "base/err.h"
#include "base/mem.h"
#include "http/chunked.h"
#include "http/h1_parse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Decodes src; returns the bytes consumed or the error, and the data in out. */
static ssize_t run(const char *src, size_t len, unsigned seed, char *out, size_t *out_len, bool *done)
{
    struct tr_h1_limits lim = tr_h1_default_limits;
    lim.max_chunk_ext = 16, lim.max_trailer = 64;
    struct tr_h1_chunked c;
    tr_h1_chunked_init(&c, &lim);
    /* The kept trailer, exactly max_trailer bytes of heap: a write past it is caught. */
    char *keep = tr_xmalloc(lim.max_trailer);
    c.keep = keep;
    c.keep_cap = lim.max_trailer;
    size_t off = 0;
    *out_len = 0;
    while (off < len && !tr_h1_chunked_done(&c)) {
        seed = seed * 1103515245 + 12345;
        size_t piece = seed ? 1 + (seed >> 16) % (len - off) : len - off;
        char *p = tr_xmalloc(piece);
        memcpy(p, src + off, piece);
        const char *d;
        size_t n;
        ssize_t rc = tr_h1_chunked_decode(&c, p, piece, &d, &n);
        TR_BUG_ON(rc > (ssize_t)piece || (rc >= 0 && n && d + n != p + rc));
        if (rc >= 0 && n) {
            memcpy(out + *out_len, d, n);
            *out_len += n;
        }
        free(p);
        if (rc < 0) {
            free(keep);
            return rc;
        }
        off += (size_t)rc;
    }
    TR_BUG_ON(c.total != *out_len);
    /* What was kept is field lines: it never holds the final empty line's CR LF alone. */
    TR_BUG_ON(c.keep_len > c.keep_cap || (c.keep_len && keep[0] == '\r'));
    free(keep);
    *done = tr_h1_chunked_done(&c);
    return (ssize_t)off;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *src = (const char *)data + 1;
    size_t len = size - 1, n1, n2;
    char *out1 = tr_xmalloc(len + 1), *out2 = tr_xmalloc(len + 1);
    bool done1 = false, done2 = false;
    ssize_t r1 = run(src, len, 0, out1, &n1, &done1);
    ssize_t r2 = run(src, len, data[0] + 1u, out2, &n2, &done2);
    TR_BUG_ON(r1 != r2 || (r1 >= 0 && (n1 != n2 || done1 != done2 || memcmp(out1, out2, n1) != 0)));

    char *copy = tr_xmalloc(len + 1);
    memcpy(copy, src, len);
    struct tr_h1_limits lim = tr_h1_default_limits;
    lim.max_chunk_ext = 16, lim.max_trailer = 64;
    struct tr_h1_chunked c;
    tr_h1_chunked_init(&c, &lim);
    size_t n3;
    ssize_t r3 = tr_h1_chunked_decode_inplace(&c, copy, len, &n3);
    TR_BUG_ON(r3 != r1 || (r3 >= 0 && (n3 != n1 || memcmp(copy, out1, n1) != 0)));
    TR_BUG_ON(r3 >= 0 && memcmp(copy + r3, src + r3, len - (size_t)r3) != 0);
    free(copy);
    free(out1);
    free(out2);
    return 0;
}
