/* TLS with OpenSSL 3: the contexts' settings (versions, suites, ALPN, session resumption per
 * listener context, the backend certificate check) and TLS I/O. What goes into a context (which
 * Secrets, which CA bundles) is the snapshot's business (snapshot/tlsctx.c). */
#ifndef TR_NET_TLS_H
#define TR_NET_TLS_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <sys/types.h>

struct tr_obj;

/* A server context numbered for session resumption (its number is its session ID context, so
 * that a session resumes only under the context that made it), TLS 1.2 and 1.3, ALPN for
 * connections tr_tls_mark_http marked; no key pair yet. NULL on failure. */
SSL_CTX *tr_tls_new_server_ctx(void);
/* Adds a key pair to ctx: crt (PEM, a leaf possibly followed by its chain) and key (PEM). On
 * failure returns false with OpenSSL's reasons in why. */
bool tr_tls_use_pair(SSL_CTX *ctx, const void *crt, size_t clen, const void *key, size_t klen, char *why,
                     size_t cap);
/* Adds the certificates of a PEM CA bundle to store, and their subjects to names (a
 * CertificateRequest's list) unless names is NULL. Returns how many were added. */
int tr_tls_add_cas(X509_STORE *store, STACK_OF(X509_NAME) *names, const void *pem, size_t len);
/* Server ctx asks for a client certificate and verifies it against its store: optional
 * (AllowInsecureFallback) lets a connection through whatever the outcome, otherwise
 * (AllowValidOnly) the handshake fails without a valid one. */
void tr_tls_verify_clients(SSL_CTX *ctx, bool optional);

/* Moves ssl, a connection of the base context, to ctx (a server context): its certificates,
 * verify mode and session ID context. Call from the base context's ClientHello callback, before
 * OpenSSL looks for a session to resume. */
void tr_tls_switch(SSL *ssl, SSL_CTX *ctx);

/* The context every HTTPS connection starts with. cb is its ClientHello callback
 * (SSL_CTX_set_client_hello_cb: returns SSL_CLIENT_HELLO_SUCCESS, or SSL_CLIENT_HELLO_ERROR with
 * *alert set): it reads the server name (SSL_client_hello_get0_ext) and calls tr_tls_switch with
 * the listener's context. Choosing there, rather than in the server name callback, puts the
 * choice before session resumption, which then stays within one listener. Tickets of another
 * listener context are refused (a full handshake follows). */
SSL_CTX *tr_tls_base_ctx(int (*cb)(SSL *ssl, int *alert, void *arg));
/* The connection carries HTTP: ALPN offers h2 and http/1.1 (server preference, in that order).
 * Others get no ALPN answer. Call after SSL_new on a context made after tr_tls_base_ctx. */
void tr_tls_mark_http(SSL *ssl);

/* What a backend's certificate must show (a BackendTLSPolicy's validation, as translate resolved
 * it): sni is the server name sent (or NULL); the certificate must carry one of names (DNS) or
 * uris (URI), one being enough. Both NULL-terminated; either may be empty. */
struct tr_tls_peer {
    const char *sni;
    const char **names;
    const char **uris;
};

/* A client context for connections to backends: TLS 1.2 and 1.3, no renegotiation, the peer
 * checked by tr_tls_client_prepare's description; trusts the system store when system_cas
 * (add bundles with tr_tls_add_cas, a client certificate with tr_tls_use_pair). NULL on
 * failure. */
SSL_CTX *tr_tls_new_client_ctx(bool system_cas);

/* Configures ssl (from tls's client context) for tls: the SNI, and the description the
 * certificate check of the handshake reads, which must outlive the handshake (the context
 * refuses renegotiation, so there is no later one). The handshake then fails unless the
 * backend's certificate chains to a trusted CA and carries one of the names of tls
 * (tr_tls_cert_matches). Loop thread of the connection. */
void tr_tls_client_prepare(SSL *ssl, const struct tr_tls_peer *tls);
/* Whether cert carries one of the names tls asks for (BackendTLSPolicyValidation: "at least one
 * Subject Alternate Name matching one of the specified SubjectAltNames"): a DNS subjectAltName
 * equal to one of tls->names but for ASCII case, or a wildcard "*.rest" of the certificate
 * covering one (whole first label only); or a URI subjectAltName equal byte for byte to one of
 * tls->uris. The subject's common name is never read (RFC 9525 6.3). Any thread. */
bool tr_tls_cert_matches(X509 *cert, const struct tr_tls_peer *tls);
/* After a failed handshake of ssl: why the backend's certificate was refused (a static string),
 * or NULL when the handshake failed for another reason. */
const char *tr_tls_verify_problem(const SSL *ssl);

/* Frees ssl (NULL is fine) as its connection closes, without sending a close_notify: the
 * caller closes the socket, possibly mid-write, and a peer that is gone gets nothing from one.
 * The session stays resumable when the handshake had finished: OpenSSL drops from its cache
 * the session of a connection freed before a shutdown, which TLS no longer asks for since 1.1
 * (RFC 4346 7.2.1), and clients without session tickets would then never resume. A fatal
 * alert, sent or received, still removes it (OpenSSL does that itself). Loop thread of the
 * connection. */
void tr_tls_free(SSL *ssl);

/* read(2)/send(2), through TLS when ssl is set: bytes, 0 at EOF, or -1 with errno (EAGAIN when
 * the record layer wants the socket again). */
ssize_t tr_tls_io_read(int fd, SSL *ssl, void *buf, size_t n);
ssize_t tr_tls_io_write(int fd, SSL *ssl, const void *buf, size_t n);

/* Formats and clears the OpenSSL error queue into out (nginx: drain the queue into the log). */
void tr_tls_errors(char *out, size_t cap);

#endif
