#include "net/tls.h"
#include "base/log.h"

#include <openssl/x509v3.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

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

/* Marks connections that carry HTTP (the HTTPS listeners): only they answer ALPN. A TLSRoute
 * terminated at the gateway carries bytes torii does not interpret, so it names no protocol. */
static int http_idx = -1;
/* A server context's identity (see tr_tls_server_ctx), 0 for none. */
static int id_idx = -1;
/* A connection to a backend: the description it was made under (tr_tls_client_prepare), whose
 * names the certificate check reads. */
static int backend_idx = -1;
static pthread_once_t idx_once = PTHREAD_ONCE_INIT;

static void make_indexes(void)
{
    http_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    id_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    backend_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

void tr_tls_mark_http(SSL *ssl)
{
    SSL_set_ex_data(ssl, http_idx, (void *)1);
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                       unsigned int inlen, void *arg)
{
    /* Server preference: h2, then HTTP/1.1. */
    static const unsigned char h2[] = {2, 'h', '2'};
    static const unsigned char h1[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    if (http_idx < 0 || !SSL_get_ex_data(ssl, http_idx))
        return SSL_TLSEXT_ERR_NOACK;
    if (SSL_select_next_proto((unsigned char **)out, outlen, h2, sizeof(h2), in, inlen) == OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_OK;
    if (SSL_select_next_proto((unsigned char **)out, outlen, h1, sizeof(h1), in, inlen) == OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_OK;
    return SSL_TLSEXT_ERR_NOACK;
}

/* TLS 1.2 suites a listener offers: ECDHE key exchange (forward secrecy) with an AEAD cipher,
 * for ECDSA and RSA key pairs alike: Mozilla's "intermediate" configuration (v5.7) without its
 * DHE suites, whose parameters the client cannot choose and which cost the server the most per
 * handshake. CBC suites are left out (Lucky13 and the padding-oracle family), and so is static
 * RSA key exchange (no forward secrecy; ROBOT). Each ECDSA suite comes before its RSA twin:
 * with both key pairs, a client that can use either gets the smaller, cheaper one. TLS 1.3
 * keeps OpenSSL's defaults, which are all AEAD. */
#define SERVER_CIPHERS_TLS12                                                                       \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                                   \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                                   \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
/* Key exchange groups, both versions (Mozilla "intermediate"): X25519 first, then the NIST
 * curves every TLS stack has. Finite-field groups would only be slower, X448 and P-521 rarer. */
#define SERVER_GROUPS "X25519:P-256:P-384"

/* Toward backends torii is the client: forward secrecy and AEAD still, but it offers DHE too,
 * since a backend that only has DHE suites gains nothing from being refused, and P-521 for
 * backends set up with it alone. */
#define CLIENT_CIPHERS_TLS12                                                                       \
    SERVER_CIPHERS_TLS12 ":DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305"
#define CLIENT_GROUPS "X25519:P-256:P-384:P-521"

/* Sets the protocol versions, suites and groups shared by server and client contexts. Returns
 * false when OpenSSL refuses a list (a build without one of the algorithms). */
static bool set_suites(SSL_CTX *ctx, const char *ciphers, const char *groups)
{
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    return SSL_CTX_set_cipher_list(ctx, ciphers) == 1 && SSL_CTX_set1_groups_list(ctx, groups) == 1;
}

static SSL_CTX *new_ctx(void)
{
    pthread_once(&idx_once, make_indexes);
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx)
        return NULL;
    if (!set_suites(ctx, SERVER_CIPHERS_TLS12, SERVER_GROUPS)) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    /* The server's order picks the suite (testssl.sh counts a client-chosen order against a
     * server), except that a client listing ChaCha20 first, one without AES instructions, gets
     * it (SSL_OP_PRIORITIZE_CHACHA). The SNI base context is made here too, and must be: a
     * connection keeps the options, versions and groups of the context it was created with, as
     * SSL_set_SSL_CTX switches certificates and little else. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_PRIORITIZE_CHACHA);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    return ctx;
}

bool tr_tls_use_pair(SSL_CTX *ctx, const void *crt, size_t clen, const void *key, size_t klen, char *why,
                     size_t cap)
{
    BIO *cb = BIO_new_mem_buf(crt, (int)clen);
    X509 *leaf = PEM_read_bio_X509(cb, NULL, NULL, NULL);
    bool ok = leaf && SSL_CTX_use_certificate(ctx, leaf) == 1;
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
    if (!ok)
        tr_tls_errors(why, cap);
    ERR_clear_error();
    return ok;
}

int tr_tls_add_cas(X509_STORE *store, STACK_OF(X509_NAME) *names, const void *pem, size_t len)
{
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    X509 *x;
    int n = 0;
    while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL))) {
        if (X509_STORE_add_cert(store, x) == 1)
            n++;
        X509_NAME *nm = names ? X509_NAME_dup(X509_get_subject_name(x)) : NULL;
        if (nm && !sk_X509_NAME_push(names, nm))
            X509_NAME_free(nm);
        X509_free(x);
    }
    BIO_free(b);
    ERR_clear_error();
    return n;
}

/* AllowInsecureFallback: the chain is still verified (and the result is available), but a
 * failure does not end the handshake. */
static int accept_any(int ok, X509_STORE_CTX *x)
{
    return 1;
}

/* Server contexts are numbered, never twice in a process (a freed context's address may come
 * back), and the number is also the context's session ID context. */
static atomic_uintptr_t last_id;

static uintptr_t ctx_id(const SSL_CTX *ctx)
{
    return (uintptr_t)SSL_CTX_get_ex_data(ctx, id_idx);
}

SSL_CTX *tr_tls_new_server_ctx(void)
{
    SSL_CTX *ctx = new_ctx();
    if (!ctx)
        return NULL;
    uintptr_t id = atomic_fetch_add(&last_id, 1) + 1;
    SSL_CTX_set_ex_data(ctx, id_idx, (void *)id);
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)&id, sizeof(id));
    return ctx;
}

void tr_tls_verify_clients(SSL_CTX *ctx, bool optional)
{
    if (optional)
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, accept_any);
    else
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
}

void tr_tls_switch(SSL *ssl, SSL_CTX *ctx)
{
    SSL_set_SSL_CTX(ssl, ctx);
    /* SSL_set_SSL_CTX takes the certificates; the verify mode and the session ID context stay
     * those of the context the connection was made with unless copied here. */
    SSL_set_verify(ssl, SSL_CTX_get_verify_mode(ctx), SSL_CTX_get_verify_callback(ctx));
    uintptr_t id = ctx_id(ctx);
    SSL_set_session_id_context(ssl, (const unsigned char *)&id, sizeof(id));
}

/* Tickets are sealed with the base context's key, whichever listener issued them, and OpenSSL
 * checks no session ID context when a TLS 1.3 ticket resumes: a ticket from a listener that asks
 * for no client certificate would then open one that does, certificate unasked. A ticket resumes
 * only on the listener context that issued it (the session carries that context's number, see
 * tr_tls_switch); any other gets a full handshake and a new ticket. TLS 1.2 session IDs are
 * checked by OpenSSL itself against the same number. */
static SSL_TICKET_RETURN on_ticket(SSL *ssl, SSL_SESSION *sess, const unsigned char *keyname, size_t keyname_len,
                                   SSL_TICKET_STATUS status, void *arg)
{
    if (status != SSL_TICKET_SUCCESS && status != SSL_TICKET_SUCCESS_RENEW)
        return SSL_TICKET_RETURN_IGNORE_RENEW;
    unsigned int len = 0;
    const unsigned char *from = SSL_SESSION_get0_id_context(sess, &len);
    uintptr_t id = ctx_id(SSL_get_SSL_CTX(ssl));
    if (id == 0 || len != sizeof(id) || memcmp(from, &id, sizeof(id)) != 0)
        return SSL_TICKET_RETURN_IGNORE_RENEW;
    return status == SSL_TICKET_SUCCESS ? SSL_TICKET_RETURN_USE : SSL_TICKET_RETURN_USE_RENEW;
}

/* The listener was chosen by the ClientHello callback; this only acknowledges the name, so that
 * OpenSSL records it in the session. */
static int on_servername(SSL *ssl, int *alert, void *arg)
{
    return SSL_TLSEXT_ERR_OK;
}

SSL_CTX *tr_tls_base_ctx(int (*cb)(SSL *ssl, int *alert, void *arg))
{
    SSL_CTX *ctx = new_ctx();
    if (!ctx)
        return NULL;
    SSL_CTX_set_client_hello_cb(ctx, cb, NULL);
    SSL_CTX_set_tlsext_servername_callback(ctx, on_servername);
    SSL_CTX_set_session_ticket_cb(ctx, NULL, on_ticket, NULL);
    return ctx;
}

/* Whether the certificate's DNS name san (len bytes, as encoded) is want: equal but for ASCII
 * case, or a wildcard "*.rest" covering want's first label (RFC 6125 6.4.3, as OpenSSL's host
 * check reads it: the whole label, at least two labels after it, never a wildcard in want
 * itself). A name with a NUL in it matches nothing. */
static bool dns_match(const char *want, const unsigned char *san, size_t len)
{
    size_t wl = strlen(want);
    if (!len || memchr(san, '\0', len))
        return false;
    if (len == wl && strncasecmp((const char *)san, want, wl) == 0)
        return true;
    if (len < 4 || san[0] != '*' || san[1] != '.' || !memchr(san + 2, '.', len - 2) || want[0] == '*')
        return false;
    const char *dot = strchr(want, '.');
    size_t rest = dot ? wl - (size_t)(dot + 1 - want) : 0;
    return dot && dot != want && rest == len - 2 && strncasecmp(dot + 1, (const char *)san + 2, rest) == 0;
}

bool tr_tls_cert_matches(X509 *cert, const struct tr_tls_peer *tls)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    bool ok = false;
    for (int g = 0; gens && g < sk_GENERAL_NAME_num(gens) && !ok; g++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(gens, g);
        if (gn->type == GEN_DNS) {
            const unsigned char *dns = ASN1_STRING_get0_data(gn->d.dNSName);
            size_t len = (size_t)ASN1_STRING_length(gn->d.dNSName);
            for (const char *const *want = tls->names; want && *want && !ok; want++)
                ok = dns_match(*want, dns, len);
        } else if (gn->type == GEN_URI) {
            const unsigned char *uri = ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier);
            size_t len = (size_t)ASN1_STRING_length(gn->d.uniformResourceIdentifier);
            for (const char *const *want = tls->uris; want && *want && !ok; want++)
                ok = strlen(*want) == len && memcmp(*want, uri, len) == 0;
        }
    }
    GENERAL_NAMES_free(gens);
    return ok;
}

/* The backend's certificate must carry one of the names of the connection's description. Runs
 * in the handshake, for the leaf once its chain has verified (ok at depth 0): a mismatch fails
 * the handshake with an alert, so no request byte is ever written on such a connection.
 * OpenSSL's own host check (SSL_set1_host) is not used: it knows DNS names only, and would
 * fail a certificate that carries only one of the policy's URIs. */
static int verify_backend(int ok, X509_STORE_CTX *x)
{
    if (!ok || X509_STORE_CTX_get_error_depth(x) != 0)
        return ok;
    SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
    const struct tr_tls_peer *tls = ssl ? SSL_get_ex_data(ssl, backend_idx) : NULL;
    X509 *cert = X509_STORE_CTX_get_current_cert(x);
    if (tls && cert && tr_tls_cert_matches(cert, tls))
        return 1;
    /* An error code nothing in OpenSSL sets, so that tr_tls_verify_problem can name this. */
    X509_STORE_CTX_set_error(x, X509_V_ERR_APPLICATION_VERIFICATION);
    return 0;
}

SSL_CTX *tr_tls_new_client_ctx(bool system_cas)
{
    pthread_once(&idx_once, make_indexes);
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx)
        return NULL;
    if (!set_suites(ctx, CLIENT_CIPHERS_TLS12, CLIENT_GROUPS)) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
    /* The description verify_backend reads lives only as long as the handshake (the connection
     * pins its snapshot until then): a TLS 1.2 renegotiation would verify again without it. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_backend);
    if (system_cas)
        SSL_CTX_set_default_verify_paths(ctx);
    return ctx;
}

void tr_tls_client_prepare(SSL *ssl, const struct tr_tls_peer *tls)
{
    if (tls->sni)
        SSL_set_tlsext_host_name(ssl, tls->sni);
    SSL_set_ex_data(ssl, backend_idx, (void *)tls);
}

const char *tr_tls_verify_problem(const SSL *ssl)
{
    long r = SSL_get_verify_result(ssl);
    if (r == X509_V_OK)
        return NULL;
    if (r == X509_V_ERR_APPLICATION_VERIFICATION)
        return "the certificate carries none of the names the policy asks for";
    return X509_verify_cert_error_string(r);
}

void tr_tls_free(SSL *ssl)
{
    if (!ssl)
        return;
    SSL_set_quiet_shutdown(ssl, 1);
    if (SSL_is_init_finished(ssl))
        SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_free(ssl);
}

/* Reads or writes through TLS when ssl is set: returns bytes, 0 at EOF, or -1 with errno
 * (EAGAIN when the record layer wants the socket again). */
ssize_t tr_tls_io_read(int fd, SSL *ssl, void *buf, size_t n)
{
    if (!ssl)
        return read(fd, buf, n);
    ERR_clear_error();
    int r = SSL_read(ssl, buf, (int)(n > INT32_MAX ? INT32_MAX : n));
    if (r > 0)
        return r;
    switch (SSL_get_error(ssl, r)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    default:
        errno = ECONNRESET;
        return -1;
    }
}

ssize_t tr_tls_io_write(int fd, SSL *ssl, const void *buf, size_t n)
{
    if (!ssl)
        return send(fd, buf, n, MSG_NOSIGNAL);
    ERR_clear_error();
    int r = SSL_write(ssl, buf, (int)(n > INT32_MAX ? INT32_MAX : n));
    if (r > 0)
        return r;
    switch (SSL_get_error(ssl, r)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        errno = EAGAIN;
        return -1;
    default:
        errno = EPIPE;
        return -1;
    }
}

