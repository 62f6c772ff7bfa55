/* Certificate material checks: a reference that resolves to unusable PEM is an invalid
 * reference, reported in status (InvalidCertificateRef, InvalidCACertificateRef). */
#include "translate/internal.h"
#include "api/objdata.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <string.h>

static const char *secret_problem(const struct tr_obj *secret)
{
    const char *type = tr_node_gets(secret->root, "type");
    if (type && strcmp(type, "kubernetes.io/tls") != 0)
        return "Secret is not of type kubernetes.io/tls";
    struct tr_arena *a = tr_arena_new(8192);
    const char *why = NULL;
    size_t clen = 0, klen = 0;
    const unsigned char *crt = tr_obj_data(a, secret, "tls.crt", &clen);
    const unsigned char *key = tr_obj_data(a, secret, "tls.key", &klen);
    if (!crt || !key) {
        why = "Secret lacks tls.crt or tls.key";
        goto out;
    }
    ERR_clear_error();
    BIO *cb = BIO_new_mem_buf(crt, (int)clen);
    X509 *x = PEM_read_bio_X509(cb, NULL, NULL, NULL);
    BIO_free(cb);
    BIO *kb = BIO_new_mem_buf(key, (int)klen);
    EVP_PKEY *pk = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL);
    BIO_free(kb);
    if (!x)
        why = "tls.crt does not hold a PEM certificate";
    else if (!pk)
        why = "tls.key does not hold a PEM private key";
    else if (X509_check_private_key(x, pk) != 1)
        why = "tls.key does not match the certificate in tls.crt";
    X509_free(x);
    EVP_PKEY_free(pk);
    ERR_clear_error();
out:
    tr_arena_free(a);
    return why;
}

static const char *ca_bundle_problem(const struct tr_obj *obj, const char *key)
{
    struct tr_arena *a = tr_arena_new(8192);
    size_t len = 0;
    const unsigned char *pem = tr_obj_data(a, obj, key, &len);
    const char *why = NULL;
    if (!pem) {
        why = "no CA bundle under the expected key";
    } else {
        ERR_clear_error();
        BIO *b = BIO_new_mem_buf(pem, (int)len);
        X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
        if (!x)
            why = "the CA bundle holds no PEM certificate";
        X509_free(x);
        BIO_free(b);
        ERR_clear_error();
    }
    tr_arena_free(a);
    return why;
}

/* Parsing PEM is the dearest part of translating a Gateway with TLS listeners: with a memo it
 * is done once per Secret or ConfigMap version. */
const char *tx_tls_secret_problem(struct tx *t, const struct tr_obj *secret)
{
    struct tx_check *c = tx_memo_check(t, "tls", secret);
    if (c && c->done)
        return c->why;
    const char *why = secret_problem(secret);
    if (c) {
        c->why = why;
        c->done = true;
    }
    return why;
}

const char *tx_ca_bundle_problem(struct tx *t, const struct tr_obj *obj)
{
    struct tx_check *c = tx_memo_check(t, "ca", obj);
    if (c && c->done)
        return c->why;
    const char *why = ca_bundle_problem(obj, "ca.crt");
    if (c) {
        c->why = why;
        c->done = true;
    }
    return why;
}
