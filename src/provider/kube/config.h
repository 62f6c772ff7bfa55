/* Where the API server is and how to prove who torii is: a kubeconfig (the file kubectl reads) or
 * the pod's service account (in-cluster). Only what torii sends is kept: the server, the CA, the
 * client certificate, a token or token file, an exec credential plugin. */
#ifndef TR_PROVIDER_KUBE_CONFIG_H
#define TR_PROVIDER_KUBE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

struct tr_buf;

/* An exec credential plugin (client.authentication.k8s.io/v1 or v1beta1): the program a cloud
 * provider's kubeconfig runs for a token (aws eks get-token, gke-gcloud-auth-plugin, kubelogin). */
struct tr_kube_exec {
    char *command;
    char **args;  /* nargs entries */
    size_t nargs;
    char **env;   /* "NAME=value", nenv entries, added to torii's environment */
    size_t nenv;
    char *api_version;
    bool provide_cluster_info; /* pass the cluster in KUBERNETES_EXEC_INFO */
};

struct tr_kube_config {
    char *server;          /* "https://10.96.0.1:443", no trailing slash */
    char *ca_file;         /* the CA bundle to verify the server with, or NULL */
    char *ca_pem;          /* ... or its PEM text (certificate-authority-data) */
    size_t ca_pem_len;
    char *tls_server_name; /* the name to verify instead of the server's host, or NULL */
    char *cert_file, *key_file; /* a client certificate, as files */
    char *cert_pem, *key_pem;   /* ... or as PEM text */
    size_t cert_pem_len, key_pem_len;
    char *token;      /* a bearer token given in the file, or NULL */
    char *token_file; /* a file holding the token, read again as it rotates, or NULL */
    struct tr_kube_exec *exec;
    char *ns;     /* the context's namespace, or the pod's in cluster; "default" when none */
    char *source; /* "kubeconfig F (context C)" or "in-cluster": for messages */
};

/* The paths of the service account's files in a pod. */
#define TR_KUBE_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

/* Reads the kubeconfig at path (NULL: $KUBECONFIG, a colon-separated list merged as kubectl
 * merges it, first file winning, or ~/.kube/config) and the context named context (NULL: the
 * current-context). Relative paths in a file are relative to that file's directory. Returns 0, or
 * -1 with a message naming the file and the field in err. Refused: insecure-skip-tls-verify
 * (torii always verifies the server), auth-provider (removed from Kubernetes in 1.26),
 * username/password. */
int tr_kube_config_load(struct tr_kube_config *c, const char *path, const char *context, struct tr_buf *err);

/* The in-cluster configuration: KUBERNETES_SERVICE_HOST/_PORT and the service account's files
 * under sa_dir (NULL: TR_KUBE_SA_DIR). Returns 0 or -1 with a message in err. */
int tr_kube_config_in_cluster(struct tr_kube_config *c, const char *sa_dir, struct tr_buf *err);

void tr_kube_config_dispose(struct tr_kube_config *c);

#endif
