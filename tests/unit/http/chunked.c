/* src/http/chunked.c through its header: the streaming decoder over every split of its input,
 * the line rules, the limits at their boundaries, and the end of the body left exact. */
#include "test.h"

#include "base/err.h"
#include "http/chunked.h"
#include "http/h1_parse.h"

#include <stdlib.h>
#include <string.h>

struct result {
    ssize_t rc;     /* total consumed, or the error */
    bool done;
    size_t out_len;
    char out[4096];
};

/* Decodes src[0..len) handed over in pieces of at most piece bytes (0: whole), the way a
 * caller would: data spans are appended to r->out, unconsumed bytes are given again with the
 * next piece. */
static void decode(const char *src, size_t len, size_t piece, const struct tr_h1_limits *lim,
                   struct result *r)
{
    struct tr_h1_chunked c;
    tr_h1_chunked_init(&c, lim);
    memset(r, 0, sizeof(*r));
    size_t off = 0, avail = piece ? (piece < len ? piece : len) : len;
    for (;;) {
        const char *d;
        size_t n;
        ssize_t rc = tr_h1_chunked_decode(&c, src + off, avail - off, &d, &n);
        if (rc < 0) {
            r->rc = rc;
            return;
        }
        ASSERT((size_t)rc <= avail - off);
        if (n) {
            ASSERT(d >= src + off && d + n == src + off + rc); /* the tail of the consumed bytes */
            ASSERT(r->out_len + n <= sizeof(r->out));
            memcpy(r->out + r->out_len, d, n);
            r->out_len += n;
        }
        off += (size_t)rc;
        if (tr_h1_chunked_done(&c))
            break;
        if (off == avail) {
            if (avail == len)
                break;
            avail = piece && avail + piece < len ? avail + piece : len;
        }
    }
    r->rc = (ssize_t)off;
    r->done = tr_h1_chunked_done(&c);
    ASSERT_EQ(c.total, r->out_len);
}

static void expect_body(const char *src, size_t len, const char *data, size_t consumed)
{
    struct result *whole = malloc(sizeof(*whole)), *r = malloc(sizeof(*r));
    decode(src, len, 0, NULL, whole);
    ASSERT_EQ(whole->rc, (ssize_t)consumed);
    ASSERT(whole->done);
    ASSERT_EQ(whole->out_len, strlen(data));
    ASSERT(memcmp(whole->out, data, whole->out_len) == 0);
    for (size_t piece = 1; piece <= len; piece++) {
        decode(src, len, piece, NULL, r);
        ASSERT_EQ(r->rc, whole->rc);
        ASSERT(r->done);
        ASSERT_EQ(r->out_len, whole->out_len);
        ASSERT(memcmp(r->out, whole->out, r->out_len) == 0);
    }
    free(whole);
    free(r);
}

static ssize_t decode_status(const char *src, const struct tr_h1_limits *lim)
{
    struct result *r = malloc(sizeof(*r));
    size_t len = strlen(src);
    decode(src, len, 0, lim, r);
    ssize_t rc = r->rc < 0 ? r->rc : r->done ? 0 : TR_EAGAIN;
    /* Byte by byte: the same verdict. */
    decode(src, len, 1, lim, r);
    ssize_t rc1 = r->rc < 0 ? r->rc : r->done ? 0 : TR_EAGAIN;
    free(r);
    ASSERT_EQ(rc1, rc);
    return rc;
}

TEST(chunked_basic)
{
    const char *s = "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    expect_body(s, strlen(s), "hello world", strlen(s));
}

TEST(chunked_stops_at_end_of_body)
{
    const char *s = "3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n";
    expect_body(s, strlen(s), "abc", strlen("3\r\nabc\r\n0\r\n\r\n"));
    /* Once done, nothing more is consumed. */
    struct tr_h1_chunked c;
    tr_h1_chunked_init(&c, NULL);
    const char *d;
    size_t n, off = 0;
    while (!tr_h1_chunked_done(&c)) {
        ssize_t rc = tr_h1_chunked_decode(&c, s + off, strlen(s) - off, &d, &n);
        ASSERT(rc > 0);
        off += (size_t)rc;
    }
    ASSERT_EQ(tr_h1_chunked_decode(&c, s + off, strlen(s) - off, &d, &n), 0);
    ASSERT_EQ(n, 0);
}

TEST(chunked_one_data_run_per_call)
{
    const char *s = "2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n";
    struct tr_h1_chunked c;
    tr_h1_chunked_init(&c, NULL);
    const char *d;
    size_t n;
    ASSERT_EQ(tr_h1_chunked_decode(&c, s, strlen(s), &d, &n), 5);
    ASSERT(d == s + 3 && n == 2);
    ASSERT_EQ(tr_h1_chunked_decode(&c, s + 5, strlen(s) - 5, &d, &n), 7);
    ASSERT(d == s + 10 && n == 2);
    ASSERT_EQ(tr_h1_chunked_decode(&c, s + 12, strlen(s) - 12, &d, &n), 7);
    ASSERT_EQ(n, 0);
    ASSERT(tr_h1_chunked_done(&c));
    ASSERT_EQ(c.total, 4);
    /* An empty input consumes nothing. */
    tr_h1_chunked_init(&c, NULL);
    ASSERT_EQ(tr_h1_chunked_decode(&c, s, 0, &d, &n), 0);
}

TEST(chunked_partial_data_streams)
{
    struct tr_h1_chunked c;
    tr_h1_chunked_init(&c, NULL);
    const char *d;
    size_t n;
    ASSERT_EQ(tr_h1_chunked_decode(&c, "ffffffffffffffff\r\nab", 20, &d, &n), 20);
    ASSERT_EQ(n, 2);
    ASSERT_EQ(tr_h1_chunked_decode(&c, "cdef", 4, &d, &n), 4);
    ASSERT_EQ(n, 4);
    ASSERT_EQ(c.total, 6);
    ASSERT(!tr_h1_chunked_done(&c));
}

TEST(chunked_size_digits)
{
    ASSERT_EQ(decode_status("A\r\n0123456789\r\n0\r\n\r\n", NULL), 0);
    ASSERT_EQ(decode_status("a\r\n0123456789\r\n0\r\n\r\n", NULL), 0);
    ASSERT_EQ(decode_status("000000000000000a\r\n0123456789\r\n0\r\n\r\n", NULL), 0);
    ASSERT_EQ(decode_status("0000000000000000a\r\n0123456789\r\n0\r\n\r\n", NULL), TR_ELIMIT);
    ASSERT_EQ(decode_status("10000000000000000\r\n", NULL), TR_ELIMIT);
    ASSERT_EQ(decode_status("\r\n", NULL), TR_EPROTO);
    ASSERT_EQ(decode_status("g\r\n", NULL), TR_EPROTO);
    ASSERT_EQ(decode_status("-1\r\n", NULL), TR_EPROTO);
    ASSERT_EQ(decode_status("+1\r\na\r\n0\r\n\r\n", NULL), TR_EPROTO);
    ASSERT_EQ(decode_status("0x1\r\na\r\n0\r\n\r\n", NULL), TR_EPROTO);
    ASSERT_EQ(decode_status(" 1\r\na\r\n0\r\n\r\n", NULL), TR_EPROTO);
    ASSERT_EQ(decode_status("1\r\na\r\n00\r\n\r\n", NULL), 0);
}

TEST(chunked_crlf_is_exact)
{
    ASSERT_EQ(decode_status("1\r\na\r\n0\r\n\r\n", NULL), 0);
    ASSERT_EQ(decode_status("1\na\r\n0\r\n\r\n", NULL), TR_EPROTO);
    ASSERT_EQ(decode_status("1\r\na\n0\r\n\r\n", NULL), TR_EPROTO);
    ASSERT_EQ(decode_status("1\r\na\r\n0\n\r\n", NULL), TR_EPROTO);
    ASSERT_EQ(decode_status("1\r\na\r\n0\r\n\n", NULL), TR_EPROTO);
    ASSERT_EQ(decode_status("1\ra\r\n0\r\n\r\n", NULL), TR_EPROTO);
    ASSERT_EQ(decode_status("1\r\naX\r\n0\r\n\r\n", NULL), TR_EPROTO);
    ASSERT_EQ(decode_status("1\r\na\r\r\n0\r\n\r\n", NULL), TR_EPROTO);
    ASSERT_EQ(decode_status("1\r\na\r\n0\r\n\r", NULL), TR_EAGAIN);
    /* A CR then any byte but LF: the byte must not be taken for the LF (each of these would
     * decode to a valid body if it were). */
    ASSERT_EQ(decode_status("1\raa\r\n0\r\n\r\n", NULL), TR_EPROTO);
    ASSERT_EQ(decode_status("1\r\na\r00\r\n\r\n", NULL), TR_EPROTO);
    ASSERT_EQ(decode_status("0\r\nX: a\rXY: b\r\n\r\n", NULL), TR_EPROTO);
    ASSERT_EQ(decode_status("0\r\n\rX", NULL), TR_EPROTO);
}

TEST(chunked_extensions)
{
    ASSERT_EQ(decode_status("1;a=b;c=\"d;e\"\r\nx\r\n0;last\r\n\r\n", NULL), 0);
    ASSERT_EQ(decode_status("1 \t ;a\r\nx\r\n0\r\n\r\n", NULL), 0);
    ASSERT_EQ(decode_status("1 \r\nx\r\n0\r\n\r\n", NULL), TR_EPROTO);
    ASSERT_EQ(decode_status("1 a\r\nx\r\n0\r\n\r\n", NULL), TR_EPROTO);
    ASSERT_EQ(decode_status("1;a\nb\r\nx\r\n0\r\n\r\n", NULL), TR_EPROTO);
    ASSERT_EQ(decode_status("1;a\rb\r\nx\r\n0\r\n\r\n", NULL), TR_EPROTO);
    ASSERT_EQ(decode_status("1;a\x7f\r\nx\r\n0\r\n\r\n", NULL), TR_EPROTO);
    ASSERT_EQ(decode_status("1;a\x00", NULL), TR_EAGAIN); /* strlen: the NUL is not fed */
    ASSERT_EQ(decode_status("1;\xc3\xa9\t\r\nx\r\n0\r\n\r\n", NULL), 0);

    /* The bound: ";" and what follows it, BWS included, per chunk line. */
    struct tr_h1_limits lim = tr_h1_default_limits;
    lim.max_chunk_ext = 4;
    ASSERT_EQ(decode_status("1;abc\r\nx\r\n0;abc\r\n\r\n", &lim), 0);
    ASSERT_EQ(decode_status("1;abcd\r\nx\r\n0\r\n\r\n", &lim), TR_ELIMIT);
    ASSERT_EQ(decode_status("1 ;ab\r\nx\r\n0\r\n\r\n", &lim), 0);
    ASSERT_EQ(decode_status("1  ;ab\r\nx\r\n0\r\n\r\n", &lim), TR_ELIMIT);
}

TEST(chunked_trailers_checked_and_dropped)
{
    const char *s = "1\r\nx\r\n0\r\nX-Sum: 1\r\nY:\r\n\r\nNEXT";
    expect_body(s, strlen(s), "x", strlen(s) - 4);
    ASSERT_EQ(decode_status("0\r\nX: a\x01\r\n\r\n", NULL), TR_EPROTO);
    ASSERT_EQ(decode_status("0\r\nX : a\r\n\r\n", NULL), TR_EPROTO);
    ASSERT_EQ(decode_status("0\r\nX: a\r\n b\r\n\r\n", NULL), TR_EPROTO);
    ASSERT_EQ(decode_status("0\r\n: a\r\n\r\n", NULL), TR_EPROTO);
    ASSERT_EQ(decode_status("0\r\nX\r\n\r\n", NULL), TR_EPROTO);
    ASSERT_EQ(decode_status("0\r\nX: a\n\r\n", NULL), TR_EPROTO);
    ASSERT_EQ(decode_status("0\r\nX: a\r\n\r", NULL), TR_EAGAIN);

    struct tr_h1_limits lim = tr_h1_default_limits;
    lim.max_trailer = 10; /* "X: 12345\r\n" + "\r\n" = 12 */
    ASSERT_EQ(decode_status("0\r\nX: 1234\r\n\r\n", &lim), TR_ELIMIT);
    lim.max_trailer = 12;
    ASSERT_EQ(decode_status("0\r\nX: 12345\r\n\r\n", &lim), 0);
    ASSERT_EQ(decode_status("0\r\nX: 123456\r\n\r\n", &lim), TR_ELIMIT);
}

TEST(chunked_trailers_kept_on_request)
{
    /* Byte by byte, so the copy survives any split of the input. */
    const char *s = "2\r\nab\r\n0\r\ngrpc-status: 0\r\ngrpc-message: ok\r\n\r\nNEXT";
    struct tr_h1_chunked c;
    char keep[64];
    tr_h1_chunked_init(&c, NULL);
    c.keep = keep;
    c.keep_cap = sizeof(keep);
    size_t off = 0, len = strlen(s) - 4;
    while (off < len && !tr_h1_chunked_done(&c)) {
        const char *d;
        size_t n;
        ssize_t r = tr_h1_chunked_decode(&c, s + off, 1, &d, &n);
        ASSERT(r >= 0);
        off += (size_t)r;
    }
    ASSERT(tr_h1_chunked_done(&c));
    ASSERT_EQ(off, len);
    ASSERT_EQ(c.keep_len, strlen("grpc-status: 0\r\ngrpc-message: ok\r\n"));
    ASSERT(memcmp(keep, "grpc-status: 0\r\ngrpc-message: ok\r\n", c.keep_len) == 0);

    /* No trailer: nothing kept; a small keep_cap truncates, never overflows. */
    tr_h1_chunked_init(&c, NULL);
    c.keep = keep;
    c.keep_cap = 4;
    const char *d;
    size_t n;
    const char *t = "0\r\nX-Long: value\r\n\r\n";
    ASSERT_EQ(tr_h1_chunked_decode(&c, t, strlen(t), &d, &n), (ssize_t)strlen(t));
    ASSERT_EQ(c.keep_len, 4);
    tr_h1_chunked_init(&c, NULL);
    c.keep = keep;
    c.keep_cap = sizeof(keep);
    ASSERT_EQ(tr_h1_chunked_decode(&c, "0\r\n\r\n", 5, &d, &n), 5);
    ASSERT_EQ(c.keep_len, 0);
}

TEST(chunked_error_is_sticky)
{
    struct tr_h1_chunked c;
    tr_h1_chunked_init(&c, NULL);
    const char *d;
    size_t n;
    ASSERT_EQ(tr_h1_chunked_decode(&c, "z", 1, &d, &n), TR_EPROTO);
    ASSERT_EQ(tr_h1_chunked_decode(&c, "0\r\n\r\n", 5, &d, &n), TR_EPROTO);
    ASSERT(!tr_h1_chunked_done(&c));
}

TEST(chunked_inplace)
{
    char buf[] = "3;x\r\nabc\r\n4\r\ndefg\r\n0\r\nT: 1\r\n\r\nrest";
    size_t len = strlen(buf), out;
    struct tr_h1_chunked c;
    tr_h1_chunked_init(&c, NULL);
    ssize_t rc = tr_h1_chunked_decode_inplace(&c, buf, len, &out);
    ASSERT_EQ(rc, (ssize_t)(len - 4));
    ASSERT(tr_h1_chunked_done(&c));
    ASSERT_EQ(out, 7);
    ASSERT(memcmp(buf, "abcdefg", 7) == 0);
    ASSERT(memcmp(buf + rc, "rest", 4) == 0);

    /* Piece by piece: the unconsumed tail of each piece is given again. */
    char src[] = "3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n";
    char acc[64];
    size_t acc_len = 0;
    tr_h1_chunked_init(&c, NULL);
    for (size_t off = 0; off < strlen(src) && !tr_h1_chunked_done(&c);) {
        char piece[4];
        size_t n = strlen(src) - off < sizeof(piece) ? strlen(src) - off : sizeof(piece);
        memcpy(piece, src + off, n);
        rc = tr_h1_chunked_decode_inplace(&c, piece, n, &out);
        ASSERT(rc >= 0);
        memcpy(acc + acc_len, piece, out);
        acc_len += out;
        off += (size_t)rc;
    }
    ASSERT(tr_h1_chunked_done(&c));
    ASSERT_EQ(acc_len, 7);
    ASSERT(memcmp(acc, "abcdefg", 7) == 0);
}

TEST(chunked_many_chunks_every_split)
{
    char src[2048], want[1024];
    size_t len = 0, wlen = 0;
    for (int i = 1; i < 40; i++) {
        len += (size_t)snprintf(src + len, sizeof(src) - len, "%x%s\r\n", i, i % 3 ? "" : ";e=1");
        for (int j = 0; j < i; j++)
            src[len++] = want[wlen++] = (char)('a' + (i + j) % 26);
        src[len++] = '\r';
        src[len++] = '\n';
    }
    len += (size_t)snprintf(src + len, sizeof(src) - len, "0\r\nT: v\r\n\r\n");
    want[wlen] = '\0';
    expect_body(src, len, want, len);
}
