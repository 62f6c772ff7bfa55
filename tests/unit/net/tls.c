/* The backend certificate check of a BackendTLSPolicy (tr_tls_cert_matches): one listed name of
 * either type is enough, DNS names as RFC 6125 reads them, URIs byte for byte. */
#include "net/tls.h"
#include "test.h"

#include <openssl/x509v3.h>
#include <string.h>

/* A certificate (unsigned: only its names are read) whose subjectAltName holds the DNS names
 * dns and the URIs uris (NULL-terminated lists); a DNS name may hold a NUL, given with its
 * length by nul_dns. */
static X509 *cert_with(const char *const *dns, const char *const *uris, const char *nul_dns, size_t nul_len)
{
    X509 *x = X509_new();
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC, (const unsigned char *)"cn.example",
                               -1, -1, 0);
    GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
    for (const char *const *d = dns; d && *d; d++) {
        GENERAL_NAME *gn = GENERAL_NAME_new();
        ASN1_IA5STRING *s = ASN1_IA5STRING_new();
        ASN1_STRING_set(s, *d, (int)strlen(*d));
        GENERAL_NAME_set0_value(gn, GEN_DNS, s);
        sk_GENERAL_NAME_push(gens, gn);
    }
    if (nul_dns) {
        GENERAL_NAME *gn = GENERAL_NAME_new();
        ASN1_IA5STRING *s = ASN1_IA5STRING_new();
        ASN1_STRING_set(s, nul_dns, (int)nul_len);
        GENERAL_NAME_set0_value(gn, GEN_DNS, s);
        sk_GENERAL_NAME_push(gens, gn);
    }
    for (const char *const *u = uris; u && *u; u++) {
        GENERAL_NAME *gn = GENERAL_NAME_new();
        ASN1_IA5STRING *s = ASN1_IA5STRING_new();
        ASN1_STRING_set(s, *u, (int)strlen(*u));
        GENERAL_NAME_set0_value(gn, GEN_URI, s);
        sk_GENERAL_NAME_push(gens, gn);
    }
    if (sk_GENERAL_NAME_num(gens))
        X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT);
    GENERAL_NAMES_free(gens);
    return x;
}

static bool matches(X509 *x, const char **names, const char **uris)
{
    struct tr_tls_peer tls = {.names = names, .uris = uris};
    return tr_tls_cert_matches(x, &tls);
}

TEST(tls_cert_one_san_of_either_type_is_enough)
{
    const char *dns[] = {"abc.example.com", "other.example.com", NULL};
    const char *uris[] = {"spiffe://abc.example.com/test-identity", NULL};
    X509 *x = cert_with(dns, uris, NULL, 0);
    const char *none[] = {NULL};
    /* A Hostname the certificate lacks beside a URI it has, and the other way round. */
    ASSERT(matches(x, (const char *[]){"dce.example.com", NULL}, uris));
    ASSERT(matches(x, (const char *[]){"other.example.com", NULL},
                   (const char *[]){"spiffe://def.example.com/test-identity", NULL}));
    ASSERT(matches(x, none, uris));
    ASSERT(matches(x, (const char *[]){"abc.example.com", NULL}, none));
    ASSERT(!matches(x, (const char *[]){"dce.example.com", NULL},
                    (const char *[]){"spiffe://def.example.com/test-identity", NULL}));
    ASSERT(!matches(x, none, none));
    X509_free(x);
}

TEST(tls_cert_dns_names_as_rfc6125)
{
    X509 *x = cert_with((const char *[]){"Exact.Example.com", "*.wild.example.com", "*.com", NULL}, NULL, NULL, 0);
    ASSERT(matches(x, (const char *[]){"exact.example.com", NULL}, NULL));
    /* The certificate's wildcard covers one whole first label, no more, no less. */
    ASSERT(matches(x, (const char *[]){"a.wild.example.com", NULL}, NULL));
    ASSERT(!matches(x, (const char *[]){"a.b.wild.example.com", NULL}, NULL));
    ASSERT(!matches(x, (const char *[]){"wild.example.com", NULL}, NULL));
    /* A policy may list the wildcard itself: it matches that name, not whatever it covers. */
    ASSERT(matches(x, (const char *[]){"*.wild.example.com", NULL}, NULL));
    ASSERT(!matches(x, (const char *[]){"*.example.com", NULL}, NULL));
    /* A wildcard right above a top-level label covers nothing. */
    ASSERT(!matches(x, (const char *[]){"example.com", NULL}, NULL));
    /* The common name is not a subjectAltName. */
    ASSERT(!matches(x, (const char *[]){"cn.example", NULL}, NULL));
    X509_free(x);
}

TEST(tls_cert_uris_byte_for_byte_and_no_embedded_nul)
{
    static const char nul[] = "abc.example.com\0.evil.example";
    X509 *x = cert_with(NULL, (const char *[]){"spiffe://abc.example.com/Test", NULL}, nul, sizeof(nul) - 1);
    ASSERT(matches(x, NULL, (const char *[]){"spiffe://abc.example.com/Test", NULL}));
    ASSERT(!matches(x, NULL, (const char *[]){"spiffe://abc.example.com/test", NULL}));
    ASSERT(!matches(x, NULL, (const char *[]){"spiffe://abc.example.com/Test/", NULL}));
    /* A URI is no DNS name, and a DNS name with a NUL in it matches nothing. */
    ASSERT(!matches(x, (const char *[]){"spiffe://abc.example.com/Test", NULL}, NULL));
    ASSERT(!matches(x, (const char *[]){"abc.example.com", NULL}, NULL));
    X509_free(x);
    /* No subjectAltName at all: nothing matches, whatever the subject. */
    x = cert_with(NULL, NULL, NULL, 0);
    ASSERT(!matches(x, (const char *[]){"cn.example", NULL}, NULL));
    X509_free(x);
}
