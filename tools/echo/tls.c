/* TLS contexts and the connection facts the echo reports. Certificates and keys come from
 * environment variables that name files (as in the conformance manifests, where a Secret is
 * mounted) or, for convenience, hold the PEM text itself. */
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "echo.h"

static BIO *open_pem(const char *v)
{
    if (!strncmp(v, "-----BEGIN", 10))
        return BIO_new_mem_buf(v, -1);
    return BIO_new_file(v, "r");
}

static void ssl_err(char *err, size_t errlen, const char *what, const char *v)
{
    char detail[256] = "";
    unsigned long e = ERR_get_error();
    if (e)
        ERR_error_string_n(e, detail, sizeof detail);
    bool inline_pem = !strncmp(v, "-----BEGIN", 10);
    snprintf(err, errlen, "%s %s: %s", what, inline_pem ? "(inline PEM)" : v, detail);
    ERR_clear_error();
}

static int load_chain(SSL_CTX *ctx, const char *v, char *err, size_t errlen)
{
    BIO *bio = open_pem(v);
    X509 *leaf = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    if (!leaf || SSL_CTX_use_certificate(ctx, leaf) != 1) {
        ssl_err(err, errlen, "cannot load certificate", v);
        X509_free(leaf);
        BIO_free(bio);
        return -1;
    }
    X509_free(leaf);
    X509 *extra;
    while ((extra = PEM_read_bio_X509(bio, NULL, NULL, NULL)))
        if (SSL_CTX_add0_chain_cert(ctx, extra) != 1)
            X509_free(extra);
    ERR_clear_error(); /* the loop ends on "no start line" */
    BIO_free(bio);
    return 0;
}

static int load_key(SSL_CTX *ctx, const char *v, char *err, size_t errlen)
{
    BIO *bio = open_pem(v);
    EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (!key || SSL_CTX_use_PrivateKey(ctx, key) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
        ssl_err(err, errlen, "cannot load private key", v);
        EVP_PKEY_free(key);
        return -1;
    }
    EVP_PKEY_free(key);
    return 0;
}

/* Ask for a client certificate and verify one if presented, but let clients without one in:
 * that is Go's tls.VerifyClientCertIfGiven, which the upstream echo uses. */
static int load_client_ca(SSL_CTX *ctx, const char *v, char *err, size_t errlen)
{
    BIO *bio = open_pem(v);
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    STACK_OF(X509_NAME) *names = sk_X509_NAME_new_null();
    X509 *x;
    int n = 0;
    while (bio && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
        X509_STORE_add_cert(store, x);
        sk_X509_NAME_push(names, X509_NAME_dup(X509_get_subject_name(x)));
        X509_free(x);
        n++;
    }
    BIO_free(bio);
    if (!n) {
        sk_X509_NAME_pop_free(names, X509_NAME_free);
        ssl_err(err, errlen, "no CA certificate in", v);
        return -1;
    }
    ERR_clear_error();
    SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    return 0;
}

/* ALPN: the server's preference wins, as in Go's crypto/tls. With no protocol in common the
 * handshake goes on without ALPN rather than failing. */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned inlen, void *arg)
{
    const unsigned char *server = arg;
    unsigned slen = server[0];
    const unsigned char *list = server + 1;
    unsigned char *sel;
    if (SSL_select_next_proto(&sel, outlen, list, slen, in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

SSL_CTX *tls_ctx_new(const char *cert, const char *key, const char *client_ca,
                     const char *alpn_wire, size_t alpn_len, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        snprintf(err, errlen, "SSL_CTX_new failed");
        return NULL;
    }
    /* Go servers accept TLS 1.2 and 1.3 only. */
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* A peer that drops TCP without close_notify has still finished sending: treat it as EOF. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (load_chain(ctx, cert, err, errlen) || load_key(ctx, key, err, errlen) ||
        (client_ca && *client_ca && load_client_ca(ctx, client_ca, err, errlen))) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (alpn_len) {
        /* Stored as one length byte followed by the wire list, for the callback. */
        unsigned char *wire = xcalloc(1, alpn_len + 1);
        wire[0] = (unsigned char)alpn_len;
        memcpy(wire + 1, alpn_wire, alpn_len);
        SSL_CTX_set_alpn_select_cb(ctx, alpn_select, wire); /* lives as long as the process */
    }
    return ctx;
}

const char *tls_version_name(int version, bool go_style_space)
{
    switch (version) {
    case TLS1_3_VERSION: return go_style_space ? "TLS 1.3" : "TLSv1.3";
    case TLS1_2_VERSION: return go_style_space ? "TLS 1.2" : "TLSv1.2";
    case TLS1_1_VERSION: return go_style_space ? "TLS 1.1" : "TLSv1.1";
    case TLS1_VERSION: return go_style_space ? "TLS 1.0" : "TLSv1.0";
    default: return "";
    }
}

/* Go's CurveID.String() for the groups OpenSSL negotiates. */
static const char *group_name(int nid)
{
    switch (nid) {
    case NID_X25519: return "X25519";
    case NID_X9_62_prime256v1: return "CurveP256";
    case NID_secp384r1: return "CurveP384";
    case NID_secp521r1: return "CurveP521";
    case NID_X448: return "CurveID(30)";
    default: return "";
    }
}

static char *cert_pem(X509 *x)
{
    BIO *mem = BIO_new(BIO_s_mem());
    char *out = NULL;
    if (mem && PEM_write_bio_X509(mem, x)) {
        char *data;
        long n = BIO_get_mem_data(mem, &data);
        out = xstrndup(data, (size_t)n);
    }
    BIO_free(mem);
    return out;
}

static void add_pem(struct tls_info *ti, X509 *x)
{
    char *pem = cert_pem(x);
    if (!pem)
        return;
    ti->peer_pem = xrealloc(ti->peer_pem, (ti->npeer + 1) * sizeof *ti->peer_pem);
    ti->peer_pem[ti->npeer++] = pem;
}

void tls_info_fill(SSL *ssl, struct tls_info *ti)
{
    memset(ti, 0, sizeof *ti);
    ti->version = SSL_version(ssl);
    const SSL_CIPHER *cipher = SSL_get_current_cipher(ssl);
    const char *cname = cipher ? SSL_CIPHER_standard_name(cipher) : NULL;
    snprintf(ti->cipher, sizeof ti->cipher, "%s", cname ? cname : "");
    const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    snprintf(ti->server_name, sizeof ti->server_name, "%s", sni ? sni : "");
    const unsigned char *alpn;
    unsigned alpn_len;
    SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
    if (alpn && alpn_len < sizeof ti->alpn) {
        memcpy(ti->alpn, alpn, alpn_len);
        ti->alpn[alpn_len] = 0;
    }
    snprintf(ti->group, sizeof ti->group, "%s", group_name(SSL_get_negotiated_group(ssl)));

    /* On a server the chain OpenSSL keeps excludes the leaf; Go lists leaf first, then the rest
     * as sent. */
    X509 *leaf = SSL_get0_peer_certificate(ssl);
    if (!leaf)
        return;
    add_pem(ti, leaf);
    STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl);
    for (int i = 0; chain && i < sk_X509_num(chain); i++) {
        X509 *x = sk_X509_value(chain, i);
        if (X509_cmp(x, leaf))
            add_pem(ti, x);
    }
}

void tls_info_free(struct tls_info *ti)
{
    if (!ti)
        return;
    for (size_t i = 0; i < ti->npeer; i++)
        free(ti->peer_pem[i]);
    free(ti->peer_pem);
    ti->peer_pem = NULL;
    ti->npeer = 0;
}
