/* The ClientHello server-name reader: real hellos from OpenSSL, truncations, and lies. */
#include "net/sni.h"
#include "test.h"

#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <string.h>

/* Makes OpenSSL write a ClientHello for sni (NULL: none) into out; returns its length. */
static size_t make_hello(const char *sni, unsigned char *out, size_t cap)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL *ssl = SSL_new(ctx);
    BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());
    SSL_set_bio(ssl, rb, wb);
    if (sni)
        SSL_set_tlsext_host_name(ssl, sni);
    SSL_connect(ssl); /* writes the hello, then wants to read */
    size_t n = (size_t)BIO_read(wb, out, (int)cap);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    return n;
}

TEST(sni_reads_the_name_of_a_real_hello)
{
    unsigned char h[4096];
    size_t n = make_hello("abc.example.com", h, sizeof(h));
    ASSERT(n > 100);
    const char *name;
    size_t len;
    ASSERT_EQ(tr_sni_parse(h, n, &name, &len), 1);
    ASSERT_EQ(len, 15);
    ASSERT(memcmp(name, "abc.example.com", 15) == 0);
}

TEST(sni_none_when_the_hello_has_no_name)
{
    unsigned char h[4096];
    size_t n = make_hello(NULL, h, sizeof(h));
    const char *name;
    size_t len;
    ASSERT_EQ(tr_sni_parse(h, n, &name, &len), 1);
    ASSERT_NULL(name);
}

TEST(sni_waits_for_every_prefix_of_the_record)
{
    unsigned char h[4096];
    size_t n = make_hello("a.b", h, sizeof(h));
    const char *name;
    size_t len;
    for (size_t k = 0; k < n; k++)
        ASSERT_EQ(tr_sni_parse(h, k, &name, &len), 0);
}

TEST(sni_refuses_what_is_not_a_hello)
{
    const char *name;
    size_t len;
    ASSERT_EQ(tr_sni_parse((const unsigned char *)"GET / HTTP/1.1\r\n", 16, &name, &len), -1);
    unsigned char h[4096];
    size_t n = make_hello("a.b", h, sizeof(h));
    h[5] = 0x02; /* ServerHello, not ClientHello */
    ASSERT_EQ(tr_sni_parse(h, n, &name, &len), -1);
    n = make_hello("a.b", h, sizeof(h));
    h[6] = 0x7f; /* handshake length beyond the record */
    ASSERT_EQ(tr_sni_parse(h, n, &name, &len), -1);
}

/* The server_name extension body alone, as OpenSSL's ClientHello callback hands it over. */
TEST(sni_ext_reads_the_host_name)
{
    static const unsigned char ext[] = {0, 9, 1, 0, 1, 'x', 0, 0, 2, 'a', 'b'}; /* type 1 first, then host_name */
    const char *name;
    size_t len;
    ASSERT_EQ(tr_sni_parse_ext(ext, sizeof(ext), &name, &len), 1);
    ASSERT_EQ(len, 2);
    ASSERT(memcmp(name, "ab", 2) == 0);
}

TEST(sni_ext_refuses_lengths_that_lie)
{
    static const unsigned char list_too_long[] = {0, 9, 0, 0, 2, 'a', 'b'};
    static const unsigned char name_too_long[] = {0, 5, 0, 0, 3, 'a', 'b'};
    static const unsigned char empty_name[] = {0, 3, 0, 0, 0};
    const char *name;
    size_t len;
    ASSERT_EQ(tr_sni_parse_ext(list_too_long, sizeof(list_too_long), &name, &len), -1);
    ASSERT_EQ(tr_sni_parse_ext(name_too_long, sizeof(name_too_long), &name, &len), -1);
    ASSERT_EQ(tr_sni_parse_ext(empty_name, sizeof(empty_name), &name, &len), -1);
    ASSERT_EQ(tr_sni_parse_ext(empty_name, 1, &name, &len), -1);
}
