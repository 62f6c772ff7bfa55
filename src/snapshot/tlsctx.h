/* The TLS contexts of a snapshot, made from the Secrets and CA bundles translate resolved:
 * server contexts for listeners that terminate TLS, client contexts for BackendTLSPolicy.
 * Control thread; a context is then shared read-only by workers (OpenSSL contexts are
 * refcounted and thread-safe once configured). */
#ifndef TR_SNAPSHOT_TLSCTX_H
#define TR_SNAPSHOT_TLSCTX_H

#include <openssl/ssl.h>
#include <stdbool.h>

struct tr_obj;
struct tr_ir_backend_tls;

/* A server context holding every key pair of certs (Secrets of type kubernetes.io/tls: tls.crt
 * may hold a chain); NULL when none loads (each failure is logged, naming the Secret).
 * Frontend client-certificate validation (Gateway spec.tls.frontend): with client_cas (CA
 * bundles, key ca.crt, NULL-terminated) the context asks for a client certificate and verifies
 * it; AllowValidOnly (client_optional false) fails the handshake without a valid one,
 * AllowInsecureFallback lets it through. */
SSL_CTX *tr_tlsctx_server(const struct tr_obj *const *certs, const struct tr_obj *const *client_cas,
                          bool client_optional);

/* A client context for connections to a backend under tls (a BackendTLSPolicy as translate
 * resolved it): trusts the CA bundles of tls->cas (key ca.crt) and the system store when
 * tls->system_cas, and presents tls->client_cert (a kubernetes.io/tls Secret, the Gateway's
 * tls.backend.clientCertificateRef) when not NULL. NULL on failure. */
SSL_CTX *tr_tlsctx_client(const struct tr_ir_backend_tls *tls);

#endif
