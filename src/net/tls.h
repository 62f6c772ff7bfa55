/* TLS with OpenSSL 3: server contexts built from Secrets, for listeners that terminate TLS. */
#ifndef TR_NET_TLS_H
#define TR_NET_TLS_H

#include <openssl/ssl.h>

struct tr_obj;

/* A server context holding every key pair of certs (Secrets of type kubernetes.io/tls: tls.crt
 * may hold a chain), TLS 1.2 and 1.3, ALPN http/1.1. Returns NULL when none loads. Control
 * thread; the context is then shared read-only by workers (OpenSSL contexts are refcounted and
 * thread-safe once configured). */
SSL_CTX *tr_tls_server_ctx(const struct tr_obj *const *certs);

/* The context every TLS connection starts with: it only carries the SNI callback that swaps in
 * the listener's context. cb(ssl, arg) returns SSL_TLSEXT_ERR_*. */
SSL_CTX *tr_tls_base_ctx(int (*cb)(SSL *ssl, int *alert, void *arg));

/* Formats and clears the OpenSSL error queue into out (nginx: drain the queue into the log). */
void tr_tls_errors(char *out, size_t cap);

#endif
