#include "provider/kube/config.h"
#include "api/manifest.h"
#include "api/objdata.h"
#include "api/yaml.h"
#include "base/arena.h"
#include "base/buf.h"
#include "base/mem.h"
#include "base/node.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A kubeconfig is small; a larger file is a mistake. */
#define MAX_KUBECONFIG (4u << 20)
#define MAX_FILES 16

/* A named entry of a kubeconfig list (clusters, contexts, users), with the file it came from. */
struct entry {
    const char *name;
    const struct tr_node *body;
    const char *file;
};

struct merged {
    struct tr_arena *a;
    const char *current; /* current-context of the first file that sets one */
    struct entry *lists[3];
    size_t n[3], cap[3];
};

enum { CLUSTERS, CONTEXTS, USERS };
static const char *const list_key[3] = {"clusters", "contexts", "users"};
static const char *const body_key[3] = {"cluster", "context", "user"};

static const struct entry *find(const struct merged *m, int list, const char *name)
{
    for (size_t i = 0; i < m->n[list]; i++)
        if (strcmp(m->lists[list][i].name, name) == 0)
            return &m->lists[list][i];
    return NULL;
}

static int read_one(struct merged *m, const char *file, struct tr_buf *err)
{
    size_t len;
    char *text = tr_read_file(file, MAX_KUBECONFIG, &len);
    if (!text) {
        tr_buf_printf(err, "kubeconfig %s: %s", file, strerror(errno));
        return -1;
    }
    struct tr_buf perr;
    tr_buf_init(&perr, 0);
    struct tr_node *root = tr_yaml_parse_one(m->a, text, len, &perr);
    free(text);
    if (!root) {
        tr_buf_printf(err, "kubeconfig %s: %s", file, perr.data ? perr.data : "not YAML");
        tr_buf_dispose(&perr);
        return -1;
    }
    tr_buf_dispose(&perr);
    if (root->type == TR_N_NULL)
        return 0; /* an empty file: kubectl skips it too */
    if (root->type != TR_N_MAP) {
        tr_buf_printf(err, "kubeconfig %s: not a mapping", file);
        return -1;
    }
    const char *fname = tr_arena_strdup(m->a, file);
    const char *cur = tr_node_gets(root, "current-context");
    if (!m->current && cur && cur[0])
        m->current = cur;
    for (int l = 0; l < 3; l++) {
        const struct tr_node *seq = tr_node_get(root, list_key[l]);
        if (!seq || seq->type == TR_N_NULL)
            continue;
        if (seq->type != TR_N_SEQ) {
            tr_buf_printf(err, "kubeconfig %s: %s: must be a list", file, list_key[l]);
            return -1;
        }
        for (uint32_t i = 0; i < seq->n; i++) {
            const struct tr_node *it = seq->u.items[i];
            const char *name = tr_node_gets(it, "name");
            const struct tr_node *body = tr_node_get(it, body_key[l]);
            if (!name || !body || body->type != TR_N_MAP) {
                tr_buf_printf(err, "kubeconfig %s: %s[%u]: want a name and a %s mapping", file, list_key[l], i,
                              body_key[l]);
                return -1;
            }
            if (find(m, l, name))
                continue; /* the first file that names it wins */
            if (m->n[l] == m->cap[l]) {
                m->cap[l] = m->cap[l] ? 2 * m->cap[l] : 4;
                m->lists[l] = tr_xrealloc(m->lists[l], m->cap[l] * sizeof(struct entry));
            }
            m->lists[l][m->n[l]++] = (struct entry){name, body, fname};
        }
    }
    return 0;
}

/* path made absolute against the directory of file, unless it is absolute already. */
static char *resolve(const char *file, const char *path)
{
    if (path[0] == '/')
        return tr_xstrdup(path);
    const char *slash = strrchr(file, '/');
    struct tr_buf b;
    tr_buf_init(&b, 0);
    if (slash)
        tr_buf_append(&b, file, (size_t)(slash - file + 1));
    tr_buf_puts(&b, path);
    return tr_buf_steal(&b);
}

/* A -data field: base64 PEM. */
static int data_field(const struct tr_node *body, const char *key, const char *where, char **out, size_t *out_len,
                      struct tr_buf *err)
{
    const char *v = tr_node_gets(body, key);
    if (!v)
        return 0;
    struct tr_arena *a = tr_arena_new(1024);
    size_t len = 0;
    const unsigned char *d = tr_base64_decode(a, v, strlen(v), &len);
    if (!d || len == 0) {
        tr_buf_printf(err, "%s: %s: not base64", where, key);
        tr_arena_free(a);
        return -1;
    }
    *out = tr_xstrndup((const char *)d, len);
    *out_len = len;
    tr_arena_free(a);
    return 0;
}

static int load_exec(struct tr_kube_config *c, const struct tr_node *ex, const char *where, struct tr_buf *err)
{
    const char *cmd = tr_node_gets(ex, "command");
    const char *apiv = tr_node_gets(ex, "apiVersion");
    if (!cmd || !cmd[0]) {
        tr_buf_printf(err, "%s: exec.command: Required value", where);
        return -1;
    }
    if (!apiv || (strcmp(apiv, "client.authentication.k8s.io/v1") != 0 &&
                  strcmp(apiv, "client.authentication.k8s.io/v1beta1") != 0)) {
        tr_buf_printf(err, "%s: exec.apiVersion: Unsupported value: \"%s\": supported values: "
                           "\"client.authentication.k8s.io/v1\", \"client.authentication.k8s.io/v1beta1\"",
                      where, apiv ? apiv : "");
        return -1;
    }
    struct tr_kube_exec *e = tr_xcalloc(1, sizeof(*e));
    c->exec = e;
    e->command = tr_xstrdup(cmd);
    e->api_version = tr_xstrdup(apiv);
    e->provide_cluster_info = tr_node_getb(ex, "provideClusterInfo", false);
    const struct tr_node *args = tr_node_get(ex, "args");
    e->args = tr_xcalloc(tr_node_len(args) + 1, sizeof(char *));
    for (size_t i = 0; i < tr_node_len(args); i++) {
        const struct tr_node *s = tr_node_at(args, i);
        if (!s || s->type != TR_N_STR) {
            tr_buf_printf(err, "%s: exec.args[%zu]: must be a string", where, i);
            return -1;
        }
        e->args[e->nargs++] = tr_xstrdup(s->u.s);
    }
    const struct tr_node *env = tr_node_get(ex, "env");
    e->env = tr_xcalloc(tr_node_len(env) + 1, sizeof(char *));
    for (size_t i = 0; i < tr_node_len(env); i++) {
        const struct tr_node *kv = tr_node_at(env, i);
        const char *name = tr_node_gets(kv, "name"), *value = tr_node_gets(kv, "value");
        if (!name || !name[0] || strchr(name, '=') || !value) {
            tr_buf_printf(err, "%s: exec.env[%zu]: want a name and a value", where, i);
            return -1;
        }
        struct tr_buf b;
        tr_buf_init(&b, 0);
        tr_buf_printf(&b, "%s=%s", name, value);
        e->env[e->nenv++] = tr_buf_steal(&b);
    }
    return 0;
}

static int load_cluster(struct tr_kube_config *c, const struct entry *cl, struct tr_buf *err)
{
    struct tr_buf w;
    tr_buf_init(&w, 0);
    tr_buf_printf(&w, "kubeconfig %s: cluster %s", cl->file, cl->name);
    int rc = -1;
    const char *server = tr_node_gets(cl->body, "server");
    if (!server || (strncmp(server, "https://", 8) != 0 && strncmp(server, "http://", 7) != 0)) {
        tr_buf_printf(err, "%s: server: want an https:// URL", w.data);
        goto out;
    }
    c->server = tr_xstrdup(server);
    for (size_t n = strlen(c->server); n > 0 && c->server[n - 1] == '/'; n--)
        c->server[n - 1] = '\0';
    if (tr_node_getb(cl->body, "insecure-skip-tls-verify", false)) {
        tr_buf_printf(err, "%s: insecure-skip-tls-verify: torii always verifies the API server; give its CA "
                           "(certificate-authority or certificate-authority-data)",
                      w.data);
        goto out;
    }
    if (tr_node_get(cl->body, "proxy-url")) {
        tr_buf_printf(err, "%s: proxy-url: not supported", w.data);
        goto out;
    }
    const char *ca = tr_node_gets(cl->body, "certificate-authority");
    if (data_field(cl->body, "certificate-authority-data", w.data, &c->ca_pem, &c->ca_pem_len, err) != 0)
        goto out;
    if (!c->ca_pem && ca)
        c->ca_file = resolve(cl->file, ca);
    const char *sn = tr_node_gets(cl->body, "tls-server-name");
    if (sn && sn[0])
        c->tls_server_name = tr_xstrdup(sn);
    rc = 0;
out:
    tr_buf_dispose(&w);
    return rc;
}

static int load_user(struct tr_kube_config *c, const struct entry *u, struct tr_buf *err)
{
    struct tr_buf w;
    tr_buf_init(&w, 0);
    tr_buf_printf(&w, "kubeconfig %s: user %s", u->file, u->name);
    int rc = -1;
    if (tr_node_get(u->body, "auth-provider")) {
        tr_buf_printf(err, "%s: auth-provider: removed from Kubernetes in 1.26; use an exec credential plugin",
                      w.data);
        goto out;
    }
    if (tr_node_get(u->body, "username") || tr_node_get(u->body, "password")) {
        tr_buf_printf(err, "%s: username/password: basic authentication is not supported", w.data);
        goto out;
    }
    if (data_field(u->body, "client-certificate-data", w.data, &c->cert_pem, &c->cert_pem_len, err) != 0 ||
        data_field(u->body, "client-key-data", w.data, &c->key_pem, &c->key_pem_len, err) != 0)
        goto out;
    const char *cf = tr_node_gets(u->body, "client-certificate"), *kf = tr_node_gets(u->body, "client-key");
    if (!c->cert_pem && cf)
        c->cert_file = resolve(u->file, cf);
    if (!c->key_pem && kf)
        c->key_file = resolve(u->file, kf);
    if (!(c->cert_pem || c->cert_file) != !(c->key_pem || c->key_file)) {
        tr_buf_printf(err, "%s: a client certificate needs its key, and a key its certificate", w.data);
        goto out;
    }
    const char *tok = tr_node_gets(u->body, "token");
    const char *tf = tr_node_gets(u->body, "tokenFile");
    if (tok && tok[0])
        c->token = tr_xstrdup(tok);
    else if (tf && tf[0])
        c->token_file = resolve(u->file, tf);
    const struct tr_node *ex = tr_node_get(u->body, "exec");
    if (ex && ex->type == TR_N_MAP && load_exec(c, ex, w.data, err) != 0)
        goto out;
    rc = 0;
out:
    tr_buf_dispose(&w);
    return rc;
}

int tr_kube_config_load(struct tr_kube_config *c, const char *path, const char *context, struct tr_buf *err)
{
    memset(c, 0, sizeof(*c));
    struct merged m = {.a = tr_arena_new(4096)};
    char *files[MAX_FILES];
    size_t nfiles = 0;
    char *list = NULL;
    if (path) {
        files[nfiles++] = tr_xstrdup(path);
    } else if (getenv("KUBECONFIG") && getenv("KUBECONFIG")[0]) {
        list = tr_xstrdup(getenv("KUBECONFIG"));
        char *save = NULL;
        for (char *p = strtok_r(list, ":", &save); p && nfiles < MAX_FILES; p = strtok_r(NULL, ":", &save))
            files[nfiles++] = tr_xstrdup(p);
    } else if (getenv("HOME")) {
        struct tr_buf b;
        tr_buf_init(&b, 0);
        tr_buf_printf(&b, "%s/.kube/config", getenv("HOME"));
        files[nfiles++] = tr_buf_steal(&b);
    }
    free(list);
    int rc = -1;
    if (nfiles == 0) {
        tr_buf_puts(err, "no kubeconfig: give --kubeconfig FILE or set KUBECONFIG");
        goto out;
    }
    for (size_t i = 0; i < nfiles; i++) {
        /* kubectl skips files of the list that do not exist, but not a file named alone. */
        if (nfiles > 1 && access(files[i], F_OK) != 0)
            continue;
        if (read_one(&m, files[i], err) != 0)
            goto out;
    }
    const char *ctxname = context ? context : m.current;
    if (!ctxname) {
        tr_buf_printf(err, "kubeconfig %s: no current-context: give --context NAME", files[0]);
        goto out;
    }
    const struct entry *ctx = find(&m, CONTEXTS, ctxname);
    if (!ctx) {
        tr_buf_printf(err, "kubeconfig %s: context \"%s\" not found", files[0], ctxname);
        goto out;
    }
    const char *cname = tr_node_gets(ctx->body, "cluster"), *uname = tr_node_gets(ctx->body, "user");
    const struct entry *cl = cname ? find(&m, CLUSTERS, cname) : NULL;
    if (!cl) {
        tr_buf_printf(err, "kubeconfig %s: context %s: cluster \"%s\" not found", ctx->file, ctxname, cname ? cname : "");
        goto out;
    }
    if (load_cluster(c, cl, err) != 0)
        goto out;
    if (uname && uname[0]) {
        const struct entry *u = find(&m, USERS, uname);
        if (!u) {
            tr_buf_printf(err, "kubeconfig %s: context %s: user \"%s\" not found", ctx->file, ctxname, uname);
            goto out;
        }
        if (load_user(c, u, err) != 0)
            goto out;
    }
    const char *ns = tr_node_gets(ctx->body, "namespace");
    c->ns = tr_xstrdup(ns && ns[0] ? ns : "default");
    struct tr_buf src;
    tr_buf_init(&src, 0);
    tr_buf_printf(&src, "kubeconfig %s (context %s)", ctx->file, ctxname);
    c->source = tr_buf_steal(&src);
    rc = 0;
out:
    for (size_t i = 0; i < nfiles; i++)
        free(files[i]);
    for (int l = 0; l < 3; l++)
        free(m.lists[l]);
    tr_arena_free(m.a);
    if (rc != 0)
        tr_kube_config_dispose(c);
    return rc;
}

int tr_kube_config_in_cluster(struct tr_kube_config *c, const char *sa_dir, struct tr_buf *err)
{
    memset(c, 0, sizeof(*c));
    const char *host = getenv("KUBERNETES_SERVICE_HOST"), *port = getenv("KUBERNETES_SERVICE_PORT");
    if (!host || !host[0] || !port || !port[0]) {
        tr_buf_puts(err, "in-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set");
        return -1;
    }
    if (!sa_dir)
        sa_dir = TR_KUBE_SA_DIR;
    struct tr_buf b;
    tr_buf_init(&b, 0);
    /* An IPv6 address goes in brackets. */
    tr_buf_printf(&b, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host, port);
    c->server = tr_buf_steal(&b);
    tr_buf_printf(&b, "%s/token", sa_dir);
    c->token_file = tr_buf_steal(&b);
    tr_buf_printf(&b, "%s/ca.crt", sa_dir);
    c->ca_file = tr_buf_steal(&b);
    tr_buf_printf(&b, "%s/namespace", sa_dir);
    char *nsfile = tr_buf_steal(&b);
    size_t len = 0;
    char *ns = tr_read_file(nsfile, 256, &len);
    if (!ns) {
        tr_buf_printf(err, "in-cluster: %s: %s", nsfile, strerror(errno));
        free(nsfile);
        tr_kube_config_dispose(c);
        return -1;
    }
    free(nsfile);
    while (len > 0 && (ns[len - 1] == '\n' || ns[len - 1] == ' '))
        ns[--len] = '\0';
    c->ns = ns;
    if (access(c->token_file, R_OK) != 0 || access(c->ca_file, R_OK) != 0) {
        tr_buf_printf(err, "in-cluster: %s and %s must be readable: %s", c->token_file, c->ca_file, strerror(errno));
        tr_kube_config_dispose(c);
        return -1;
    }
    c->source = tr_xstrdup("in-cluster");
    return 0;
}

void tr_kube_config_dispose(struct tr_kube_config *c)
{
    free(c->server);
    free(c->ca_file);
    free(c->ca_pem);
    free(c->tls_server_name);
    free(c->cert_file);
    free(c->key_file);
    free(c->cert_pem);
    free(c->key_pem);
    free(c->token);
    free(c->token_file);
    if (c->exec) {
        free(c->exec->command);
        for (size_t i = 0; i < c->exec->nargs; i++)
            free(c->exec->args[i]);
        free(c->exec->args);
        for (size_t i = 0; i < c->exec->nenv; i++)
            free(c->exec->env[i]);
        free(c->exec->env);
        free(c->exec->api_version);
        free(c->exec);
    }
    free(c->ns);
    free(c->source);
    memset(c, 0, sizeof(*c));
}
