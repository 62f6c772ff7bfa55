/* The credentials torii presents to the API server, kept fresh: a token file is read again every
 * minute and after a 401 (bound service-account tokens rotate: the kubelet rewrites the file at
 * 80 % of the token's life), an exec plugin is run again before its credential expires. */
#ifndef TR_PROVIDER_KUBE_CREDS_H
#define TR_PROVIDER_KUBE_CREDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tr_buf;
struct tr_kube_config;

struct tr_kube_creds {
    char *token;              /* the bearer token to send, or NULL */
    char *cert_pem, *key_pem; /* a client certificate from an exec plugin, or NULL */
    size_t cert_pem_len, key_pem_len;
    uint64_t changed;         /* bumped whenever token or certificate change */
    int64_t expires;          /* exec: when the credential expires (epoch seconds, 0: never) */
    int64_t read_at_ms;       /* private: monotonic time of the last token file read or exec run */
};

/* Re-reads every minute, at most. */
#define TR_KUBE_TOKEN_REREAD_MS 60000

/* Brings cr up to date for c: reads the token file when it was never read, when a minute has
 * passed, or with force (after a 401); runs the exec plugin when there is no credential yet, when
 * it expires within a minute, or with force. A static token is taken as it is. Returns 0, or -1
 * with a message in err (the previous credential is kept). Blocks while a plugin runs (at most
 * 60 s). */
int tr_kube_creds_refresh(struct tr_kube_creds *cr, const struct tr_kube_config *c, bool force, struct tr_buf *err);
void tr_kube_creds_dispose(struct tr_kube_creds *cr);

/* Parses an ExecCredential (the JSON a plugin writes) of api_version into cr. Returns 0 or -1
 * with a message. Exposed for tests. */
int tr_kube_creds_parse_exec(struct tr_kube_creds *cr, const char *api_version, const char *json, size_t len,
                             struct tr_buf *err);

#endif
