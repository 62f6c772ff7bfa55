#include "provider/kube/creds.h"
#include "provider/kube/internal.h"
#include "api/json.h"
#include "api/manifest.h"
#include "api/object.h"
#include "base/arena.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/node.h"
#include "provider/kube/config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define MAX_TOKEN (64u << 10)
#define MAX_EXEC_OUTPUT (1u << 20)
#define EXEC_TIMEOUT_MS 60000
/* An exec credential is renewed this long before it expires. */
#define EXEC_RENEW_AHEAD_S 60

static void set_str(char **dst, size_t *dst_len, const char *s, size_t len, uint64_t *changed)
{
    if (*dst && s && strlen(*dst) == len && memcmp(*dst, s, len) == 0)
        return;
    if (!*dst && !s)
        return;
    free(*dst);
    *dst = s ? tr_xstrndup(s, len) : NULL;
    if (dst_len)
        *dst_len = s ? len : 0;
    (*changed)++;
}

static int read_token_file(struct tr_kube_creds *cr, const char *path, struct tr_buf *err)
{
    size_t len;
    char *t = tr_read_file(path, MAX_TOKEN, &len);
    if (!t) {
        tr_buf_printf(err, "token file %s: %s", path, strerror(errno));
        return -1;
    }
    while (len > 0 && (t[len - 1] == '\n' || t[len - 1] == '\r' || t[len - 1] == ' '))
        len--;
    for (size_t i = 0; i < len; i++) {
        /* It goes into a header line: anything but visible ASCII would break the request. */
        if ((unsigned char)t[i] <= ' ' || (unsigned char)t[i] >= 0x7f) {
            tr_buf_printf(err, "token file %s: holds a character a token cannot have", path);
            free(t);
            return -1;
        }
    }
    if (len == 0) {
        tr_buf_printf(err, "token file %s: empty", path);
        free(t);
        return -1;
    }
    set_str(&cr->token, NULL, t, len, &cr->changed);
    free(t);
    return 0;
}

int tr_kube_creds_parse_exec(struct tr_kube_creds *cr, const char *api_version, const char *json, size_t len,
                             struct tr_buf *err)
{
    struct tr_arena *a = tr_arena_new(1024);
    struct tr_buf perr;
    tr_buf_init(&perr, 0);
    int rc = -1;
    struct tr_node *root = tr_json_parse_one(a, json, len, &perr);
    if (!root || root->type != TR_N_MAP) {
        tr_buf_printf(err, "not an ExecCredential: %s", perr.data ? perr.data : "not a JSON object");
        goto out;
    }
    const char *kind = tr_node_gets(root, "kind"), *apiv = tr_node_gets(root, "apiVersion");
    if (!kind || strcmp(kind, "ExecCredential") != 0 || !apiv || strcmp(apiv, api_version) != 0) {
        tr_buf_printf(err, "not an ExecCredential of %s (kind %s, apiVersion %s)", api_version, kind ? kind : "none",
                      apiv ? apiv : "none");
        goto out;
    }
    const struct tr_node *st = tr_node_get(root, "status");
    const char *token = tr_node_gets(st, "token");
    const char *cert = tr_node_gets(st, "clientCertificateData"), *key = tr_node_gets(st, "clientKeyData");
    if (!token && !(cert && key)) {
        tr_buf_puts(err, "ExecCredential: status holds neither a token nor a client certificate and key");
        goto out;
    }
    if (!cert != !key) {
        tr_buf_puts(err, "ExecCredential: clientCertificateData and clientKeyData come together");
        goto out;
    }
    const char *exp = tr_node_gets(st, "expirationTimestamp");
    int64_t expires = 0;
    if (exp && (expires = tr_parse_time(exp)) < 0) {
        tr_buf_printf(err, "ExecCredential: expirationTimestamp: not a time: \"%s\"", exp);
        goto out;
    }
    set_str(&cr->token, NULL, token, token ? strlen(token) : 0, &cr->changed);
    set_str(&cr->cert_pem, &cr->cert_pem_len, cert, cert ? strlen(cert) : 0, &cr->changed);
    set_str(&cr->key_pem, &cr->key_pem_len, key, key ? strlen(key) : 0, &cr->changed);
    cr->expires = expires;
    rc = 0;
out:
    tr_buf_dispose(&perr);
    tr_arena_free(a);
    return rc;
}

/* KUBERNETES_EXEC_INFO: what the plugin may want to know (the cluster, when asked for). */
static char *exec_info(const struct tr_kube_config *c)
{
    struct tr_arena *a = tr_arena_new(1024);
    struct tr_node *root = tr_node_new(a, TR_N_MAP);
    tr_node_set(a, root, "apiVersion", tr_node_str(a, c->exec->api_version));
    tr_node_set(a, root, "kind", tr_node_str(a, "ExecCredential"));
    struct tr_node *spec = tr_node_new(a, TR_N_MAP);
    tr_node_set(a, spec, "interactive", tr_node_bool(a, false));
    if (c->exec->provide_cluster_info) {
        struct tr_node *cl = tr_node_new(a, TR_N_MAP);
        tr_node_set(a, cl, "server", tr_node_str(a, c->server));
        if (c->tls_server_name)
            tr_node_set(a, cl, "tls-server-name", tr_node_str(a, c->tls_server_name));
        if (c->ca_pem) {
            /* certificate-authority-data is base64 in ExecCredential as in kubeconfig. */
            size_t n = c->ca_pem_len;
            char *enc = tr_xmalloc(4 * ((n + 2) / 3) + 1);
            static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            size_t o = 0;
            const unsigned char *s = (const unsigned char *)c->ca_pem;
            for (size_t i = 0; i < n; i += 3) {
                uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0) | (i + 2 < n ? s[i + 2] : 0);
                enc[o++] = tbl[v >> 18 & 63];
                enc[o++] = tbl[v >> 12 & 63];
                enc[o++] = i + 1 < n ? tbl[v >> 6 & 63] : '=';
                enc[o++] = i + 2 < n ? tbl[v & 63] : '=';
            }
            enc[o] = '\0';
            tr_node_set(a, cl, "certificate-authority-data", tr_node_str(a, enc));
            free(enc);
        }
        tr_node_set(a, spec, "cluster", cl);
    }
    tr_node_set(a, root, "spec", spec);
    struct tr_buf b;
    tr_buf_init(&b, 0);
    tr_buf_puts(&b, "KUBERNETES_EXEC_INFO=");
    tr_node_emit_json(&b, root, 0);
    tr_arena_free(a);
    return tr_buf_steal(&b);
}

/* Runs the plugin and reads its standard output (its standard error goes to torii's). */
static int run_exec(struct tr_kube_creds *cr, const struct tr_kube_config *c, struct tr_buf *err)
{
    const struct tr_kube_exec *e = c->exec;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        tr_buf_printf(err, "exec %s: pipe: %s", e->command, strerror(errno));
        return -1;
    }
    size_t nenv = 0;
    while (environ[nenv])
        nenv++;
    char **env = tr_xcalloc(nenv + e->nenv + 2, sizeof(char *));
    size_t k = 0;
    for (size_t i = 0; i < nenv; i++)
        if (strncmp(environ[i], "KUBERNETES_EXEC_INFO=", 21) != 0)
            env[k++] = environ[i];
    for (size_t i = 0; i < e->nenv; i++)
        env[k++] = e->env[i];
    char *info = exec_info(c);
    env[k++] = info;
    char **argv = tr_xcalloc(e->nargs + 2, sizeof(char *));
    argv[0] = e->command;
    for (size_t i = 0; i < e->nargs; i++)
        argv[i + 1] = e->args[i];
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    pid_t pid;
    int src = posix_spawnp(&pid, e->command, &fa, NULL, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    free(argv);
    free(env);
    free(info);
    if (src != 0) {
        tr_buf_printf(err, "exec %s: %s", e->command, strerror(src));
        close(fds[0]);
        return -1;
    }
    struct tr_buf out;
    tr_buf_init(&out, MAX_EXEC_OUTPUT);
    int64_t deadline = kube_now_ms() + EXEC_TIMEOUT_MS;
    bool timed_out = false, too_big = false;
    for (;;) {
        int64_t left = deadline - kube_now_ms();
        if (left <= 0) {
            timed_out = true;
            break;
        }
        struct pollfd p = {fds[0], POLLIN, 0};
        int r = poll(&p, 1, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            timed_out = r == 0;
            break;
        }
        char chunk[4096];
        ssize_t n = read(fds[0], chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (tr_buf_append(&out, chunk, (size_t)n) != 0) {
            too_big = true;
            break;
        }
    }
    close(fds[0]);
    if (timed_out || too_big)
        kill(pid, SIGKILL); /* our own child, by its PID */
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    int rc = -1;
    if (timed_out)
        tr_buf_printf(err, "exec %s: no answer within %d s", e->command, EXEC_TIMEOUT_MS / 1000);
    else if (too_big)
        tr_buf_printf(err, "exec %s: more than %u bytes of output", e->command, MAX_EXEC_OUTPUT);
    else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        tr_buf_printf(err, "exec %s: exited with status %d", e->command,
                      WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    else {
        struct tr_buf perr;
        tr_buf_init(&perr, 0);
        rc = tr_kube_creds_parse_exec(cr, e->api_version, out.data ? out.data : "", out.len, &perr);
        if (rc != 0)
            tr_buf_printf(err, "exec %s: %s", e->command, perr.data);
        tr_buf_dispose(&perr);
    }
    tr_buf_dispose(&out);
    return rc;
}

int tr_kube_creds_refresh(struct tr_kube_creds *cr, const struct tr_kube_config *c, bool force, struct tr_buf *err)
{
    int64_t now = kube_now_ms();
    if (c->exec) {
        bool have = cr->token || cr->cert_pem;
        bool expiring = cr->expires && (int64_t)time(NULL) + EXEC_RENEW_AHEAD_S >= cr->expires;
        if (have && !expiring && !force)
            return 0;
        /* A plugin that keeps failing is not run in a loop. */
        if (cr->read_at_ms && now - cr->read_at_ms < 1000 && !expiring && have)
            return 0;
        cr->read_at_ms = now;
        return run_exec(cr, c, err);
    }
    if (c->token_file) {
        if (cr->token && !force && now - cr->read_at_ms < TR_KUBE_TOKEN_REREAD_MS)
            return 0;
        cr->read_at_ms = now;
        return read_token_file(cr, c->token_file, err);
    }
    if (c->token && !cr->token)
        set_str(&cr->token, NULL, c->token, strlen(c->token), &cr->changed);
    return 0;
}

void tr_kube_creds_dispose(struct tr_kube_creds *cr)
{
    free(cr->token);
    free(cr->cert_pem);
    free(cr->key_pem);
    memset(cr, 0, sizeof(*cr));
}
