#include "snapshot/tlsctx.h"
#include "api/objdata.h"
#include "api/object.h"
#include "base/arena.h"
#include "base/log.h"
#include "ir/ir.h"
#include "net/tls.h"

#include <openssl/err.h>

static bool load_pair(SSL_CTX *ctx, const struct tr_obj *secret)
{
    struct tr_arena *a = tr_arena_new(8192);
    size_t clen = 0, klen = 0;
    const unsigned char *crt = tr_obj_data(a, secret, "tls.crt", &clen);
    const unsigned char *key = tr_obj_data(a, secret, "tls.key", &klen);
    char why[512] = "tls.crt or tls.key missing";
    bool ok = crt && key && tr_tls_use_pair(ctx, crt, clen, key, klen, why, sizeof(why));
    tr_arena_free(a);
    if (!ok)
        tr_log_warn("Secret %s/%s: cannot load its key pair: %s", secret->ns, secret->name, why);
    return ok;
}

/* Adds the certificates of a CA bundle (key ca.crt of a ConfigMap or Secret) to store, and
 * their subjects to names when names is not NULL. Returns how many were added. */
static int add_ca_bundle(X509_STORE *store, STACK_OF(X509_NAME) *names, const struct tr_obj *o)
{
    struct tr_arena *a = tr_arena_new(8192);
    size_t len = 0;
    const unsigned char *pem = tr_obj_data(a, o, "ca.crt", &len);
    int n = pem ? tr_tls_add_cas(store, names, pem, len) : 0;
    tr_arena_free(a);
    return n;
}

SSL_CTX *tr_tlsctx_server(const struct tr_obj *const *certs, const struct tr_obj *const *client_cas,
                          bool client_optional)
{
    SSL_CTX *ctx = tr_tls_new_server_ctx();
    if (!ctx)
        return NULL;
    int loaded = 0;
    for (const struct tr_obj *const *c = certs; c && *c; c++)
        loaded += load_pair(ctx, *c);
    if (!loaded) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (client_cas && client_cas[0]) {
        STACK_OF(X509_NAME) *names = sk_X509_NAME_new_null();
        int cas = 0;
        for (const struct tr_obj *const *c = client_cas; *c; c++)
            cas += add_ca_bundle(SSL_CTX_get_cert_store(ctx), names, *c);
        SSL_CTX_set_client_CA_list(ctx, names);
        if (!cas && !client_optional) {
            /* Translate refuses such a listener; never let it degrade to accepting anyone. */
            SSL_CTX_free(ctx);
            return NULL;
        }
        tr_tls_verify_clients(ctx, client_optional);
    }
    return ctx;
}

SSL_CTX *tr_tlsctx_client(const struct tr_ir_backend_tls *tls)
{
    SSL_CTX *ctx = tr_tls_new_client_ctx(tls->system_cas);
    if (!ctx)
        return NULL;
    for (const struct tr_obj *const *o = tls->cas; o && *o; o++)
        add_ca_bundle(SSL_CTX_get_cert_store(ctx), NULL, *o);
    if (tls->client_cert && !load_pair(ctx, tls->client_cert)) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}
