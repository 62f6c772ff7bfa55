/* TLS on HTTPS listeners, server side: the starting context every client's handshake begins
 * with, and its ClientHello callback, which picks the listener by SNI and switches the
 * connection to that listener's context (made by snapshot/tlsctx.c). The handshake itself is the
 * connection's (h1_server.c). */
#include "ir/ir.h"
#include "ir/router.h"
#include "net/sni.h"
#include "net/tls.h"
#include "proxy/h1_conn.h"
#include "proxy/internal.h"
#include "snapshot/snapshot.h"

#include <openssl/ssl.h>

static SSL_CTX *tls_base;

/* SNI: the HTTPS listener of the port whose hostname matches the name most specifically; a
 * client without SNI, or with a name no listener serves, gets the listener without a hostname
 * if there is one, else the handshake fails (unrecognized_name). Chosen as the ClientHello
 * arrives, before OpenSSL looks for a session to resume (see tr_tls_base_ctx). */
static int on_client_hello(SSL *ssl, int *alert, void *arg)
{
    struct h1c *c = SSL_get_app_data(ssl);
    const struct tr_ir_port *port =
        c->x.snap ? tr_snapshot_port(c->x.snap, c->facts.laddr, c->facts.lport, false) : NULL;
    *alert = SSL_AD_UNRECOGNIZED_NAME;
    if (!port)
        return SSL_CLIENT_HELLO_ERROR;
    const unsigned char *ext;
    size_t elen;
    const char *name = NULL;
    size_t nlen = 0;
    if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &ext, &elen) &&
        tr_sni_parse_ext(ext, elen, &name, &nlen) < 0) {
        *alert = SSL_AD_DECODE_ERROR;
        return SSL_CLIENT_HELLO_ERROR;
    }
    int best = -1;
    unsigned best_score = 0;
    for (size_t i = 0; i < port->nlisteners; i++) {
        const struct tr_ir_listener *l = port->listeners[i];
        if (l->proto != TR_PROTO_HTTPS || !tr_snapshot_tls(c->x.snap, port, i))
            continue;
        unsigned sc = name ? tr_host_score(l->hostname, name, nlen) : (l->hostname ? 0 : 1);
        if (sc > best_score) {
            best_score = sc;
            best = (int)i;
        }
    }
    if (best < 0)
        return SSL_CLIENT_HELLO_ERROR;
    c->facts.tls_listener = best;
    tr_tls_switch(ssl, tr_snapshot_tls(c->x.snap, port, (size_t)best));
    return SSL_CLIENT_HELLO_SUCCESS;
}

int tr_h1_tls_init(void)
{
    if (!tls_base)
        tls_base = tr_tls_base_ctx(on_client_hello);
    return tls_base ? 0 : -1;
}

void tr_h1_tls_free(void)
{
    SSL_CTX_free(tls_base);
    tls_base = NULL;
}

SSL *tr_h1_tls_new(void)
{
    return SSL_new(tls_base);
}
