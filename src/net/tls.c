#include "net/tls.h"
#include "api/objdata.h"
#include "api/object.h"
#include "base/arena.h"
#include "base/log.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <string.h>

void tr_tls_errors(char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    unsigned long e;
    while ((e = ERR_get_error()) != 0) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof(buf));
        int n = snprintf(out + used, cap - used, "%s%s", used ? "; " : "", buf);
        if (n < 0 || (size_t)n >= cap - used)
            break;
        used += (size_t)n;
    }
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                       unsigned int inlen, void *arg)
{
    /* Only HTTP/1.1 on this path for now; a client offering h2 alone gets no ALPN answer and
     * decides for itself. */
    static const unsigned char protos[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    if (SSL_select_next_proto((unsigned char **)out, outlen, protos, sizeof(protos), in, inlen) ==
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_OK;
    return SSL_TLSEXT_ERR_NOACK;
}

static SSL_CTX *new_ctx(void)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx)
        return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    return ctx;
}

static bool load_pair(SSL_CTX *ctx, const struct tr_obj *secret)
{
    struct tr_arena *a = tr_arena_new(8192);
    size_t clen = 0, klen = 0;
    const unsigned char *crt = tr_obj_data(a, secret, "tls.crt", &clen);
    const unsigned char *key = tr_obj_data(a, secret, "tls.key", &klen);
    bool ok = false;
    if (crt && key) {
        BIO *cb = BIO_new_mem_buf(crt, (int)clen);
        X509 *leaf = PEM_read_bio_X509(cb, NULL, NULL, NULL);
        ok = leaf && SSL_CTX_use_certificate(ctx, leaf) == 1;
        X509 *extra;
        while (ok && (extra = PEM_read_bio_X509(cb, NULL, NULL, NULL)))
            if (SSL_CTX_add0_chain_cert(ctx, extra) != 1)
                X509_free(extra);
        X509_free(leaf);
        BIO_free(cb);
        BIO *kb = BIO_new_mem_buf(key, (int)klen);
        EVP_PKEY *pk = ok ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
        ok = pk && SSL_CTX_use_PrivateKey(ctx, pk) == 1 && SSL_CTX_check_private_key(ctx) == 1;
        EVP_PKEY_free(pk);
        BIO_free(kb);
    }
    tr_arena_free(a);
    if (!ok) {
        char why[512];
        tr_tls_errors(why, sizeof(why));
        tr_log_warn("Secret %s/%s: cannot load its key pair: %s", secret->ns, secret->name, why);
    }
    ERR_clear_error();
    return ok;
}

SSL_CTX *tr_tls_server_ctx(const struct tr_obj *const *certs)
{
    SSL_CTX *ctx = new_ctx();
    if (!ctx)
        return NULL;
    int loaded = 0;
    for (const struct tr_obj *const *c = certs; c && *c; c++)
        loaded += load_pair(ctx, *c);
    if (!loaded) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

SSL_CTX *tr_tls_base_ctx(int (*cb)(SSL *ssl, int *alert, void *arg))
{
    SSL_CTX *ctx = new_ctx();
    if (ctx)
        SSL_CTX_set_tlsext_servername_callback(ctx, cb);
    return ctx;
}
