#include "test.h"

#include "base/buf.h"
#include "provider/kube/config.h"
#include "provider/kube/creds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char kc_a[] = "apiVersion: v1\nkind: Config\ncurrent-context: one\n"
                           "clusters:\n"
                           "- name: c1\n  cluster:\n    server: https://10.0.0.1:6443/\n"
                           "    certificate-authority: certs/ca.crt\n    tls-server-name: api.example\n"
                           "contexts:\n"
                           "- name: one\n  context: {cluster: c1, user: u1, namespace: team}\n"
                           "- name: two\n  context: {cluster: c2, user: u2}\n"
                           "users:\n"
                           "- name: u1\n  user:\n    tokenFile: tok\n"
                           "    client-certificate-data: Q0VSVA==\n    client-key-data: S0VZ\n";
/* A second file of the KUBECONFIG list: its own entries, and one that the first file wins. */
static const char kc_b[] = "apiVersion: v1\nkind: Config\ncurrent-context: two\n"
                           "clusters:\n"
                           "- name: c1\n  cluster: {server: https://loser.example}\n"
                           "- name: c2\n  cluster: {server: 'https://[fd00::1]:443', certificate-authority-data: UEVN}\n"
                           "users:\n"
                           "- name: u2\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n"
                           "      command: aws\n      args: [eks, get-token]\n"
                           "      env: [{name: AWS_PROFILE, value: prod}]\n      provideClusterInfo: true\n";

TEST(kubeconfig_reads_the_current_context)
{
    const char *dir = tr_test_tmpdir();
    tr_test_write(dir, "config", kc_a);
    char path[512];
    snprintf(path, sizeof(path), "%s/config", dir);
    struct tr_kube_config c;
    struct tr_buf err;
    tr_buf_init(&err, 0);
    ASSERT_EQ(tr_kube_config_load(&c, path, NULL, &err), 0);
    ASSERT_STREQ(c.server, "https://10.0.0.1:6443");
    ASSERT_STREQ(c.tls_server_name, "api.example");
    ASSERT_STREQ(c.ns, "team");
    /* Relative paths are relative to the file. */
    char want[600];
    snprintf(want, sizeof(want), "%s/certs/ca.crt", dir);
    ASSERT_STREQ(c.ca_file, want);
    snprintf(want, sizeof(want), "%s/tok", dir);
    ASSERT_STREQ(c.token_file, want);
    ASSERT_EQ(c.cert_pem_len, 4);
    ASSERT(memcmp(c.cert_pem, "CERT", 4) == 0);
    ASSERT(memcmp(c.key_pem, "KEY", 3) == 0);
    ASSERT(!c.exec);
    tr_kube_config_dispose(&c);
    tr_buf_dispose(&err);
}

TEST(kubeconfig_list_merges_first_file_winning)
{
    const char *dir = tr_test_tmpdir();
    tr_test_write(dir, "a", kc_a);
    tr_test_write(dir, "b", kc_b);
    char list[1200];
    /* A missing file in the list is skipped, as kubectl does. */
    snprintf(list, sizeof(list), "%s/a:%s/missing:%s/b", dir, dir, dir);
    char *old = getenv("KUBECONFIG") ? strdup(getenv("KUBECONFIG")) : NULL;
    setenv("KUBECONFIG", list, 1);
    struct tr_kube_config c;
    struct tr_buf err;
    tr_buf_init(&err, 0);
    /* current-context from the first file that sets one: "one", cluster c1 from file a. */
    ASSERT_EQ(tr_kube_config_load(&c, NULL, NULL, &err), 0);
    ASSERT_STREQ(c.server, "https://10.0.0.1:6443");
    tr_kube_config_dispose(&c);
    /* --context two: cluster and user from file b. */
    ASSERT_EQ(tr_kube_config_load(&c, NULL, "two", &err), 0);
    ASSERT_STREQ(c.server, "https://[fd00::1]:443");
    ASSERT(memcmp(c.ca_pem, "PEM", 3) == 0);
    ASSERT_STREQ(c.ns, "default");
    ASSERT(c.exec);
    ASSERT_STREQ(c.exec->command, "aws");
    ASSERT_EQ(c.exec->nargs, 2);
    ASSERT_STREQ(c.exec->args[1], "get-token");
    ASSERT_STREQ(c.exec->env[0], "AWS_PROFILE=prod");
    ASSERT(c.exec->provide_cluster_info);
    tr_kube_config_dispose(&c);
    ASSERT(tr_kube_config_load(&c, NULL, "three", &err) != 0);
    ASSERT(strstr(err.data, "context \"three\" not found"));
    if (old) {
        setenv("KUBECONFIG", old, 1);
        free(old);
    } else {
        unsetenv("KUBECONFIG");
    }
    tr_buf_dispose(&err);
}

TEST(kubeconfig_refuses_what_torii_will_not_do)
{
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"clusters: [{name: c, cluster: {server: 'https://x', insecure-skip-tls-verify: true}}]\n"
         "contexts: [{name: k, context: {cluster: c}}]\ncurrent-context: k\n",
         "insecure-skip-tls-verify"},
        {"clusters: [{name: c, cluster: {server: 'https://x'}}]\n"
         "users: [{name: u, user: {auth-provider: {name: gcp}}}]\n"
         "contexts: [{name: k, context: {cluster: c, user: u}}]\ncurrent-context: k\n",
         "auth-provider"},
        {"clusters: [{name: c, cluster: {server: 'ftp://x'}}]\n"
         "contexts: [{name: k, context: {cluster: c}}]\ncurrent-context: k\n",
         "server"},
        {"clusters: [{name: c, cluster: {server: 'https://x', certificate-authority-data: '!!'}}]\n"
         "contexts: [{name: k, context: {cluster: c}}]\ncurrent-context: k\n",
         "not base64"},
        {"clusters: [{name: c, cluster: {server: 'https://x'}}]\n"
         "users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1alpha1, command: x}}}]\n"
         "contexts: [{name: k, context: {cluster: c, user: u}}]\ncurrent-context: k\n",
         "exec.apiVersion"},
        {"clusters: [{name: c, cluster: {server: 'https://x'}}]\n"
         "users: [{name: u, user: {client-certificate-data: Q0VSVA==}}]\n"
         "contexts: [{name: k, context: {cluster: c, user: u}}]\ncurrent-context: k\n",
         "needs its key"},
        {"clusters: [{name: c, cluster: {server: 'https://x'}}]\ncontexts: [{name: k, context: {cluster: c}}]\n",
         "no current-context"},
        {"clusters: {c: 1}\n", "must be a list"},
    };
    const char *dir = tr_test_tmpdir();
    char path[512];
    snprintf(path, sizeof(path), "%s/config", dir);
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        tr_test_write(dir, "config", cases[i].text);
        struct tr_kube_config c;
        struct tr_buf err;
        tr_buf_init(&err, 0);
        if (tr_kube_config_load(&c, path, NULL, &err) == 0)
            tr_test_fail(__FILE__, __LINE__, "case %zu loaded", i);
        if (!strstr(err.data, cases[i].want))
            tr_test_fail(__FILE__, __LINE__, "case %zu: '%s' does not say '%s'", i, err.data, cases[i].want);
        ASSERT(strstr(err.data, path)); /* the file is named */
        tr_buf_dispose(&err);
    }
}

TEST(in_cluster_config_from_the_service_account)
{
    const char *dir = tr_test_tmpdir();
    tr_test_write(dir, "token", "abc\n");
    tr_test_write(dir, "ca.crt", "PEM");
    tr_test_write(dir, "namespace", "torii-system\n");
    char *oh = getenv("KUBERNETES_SERVICE_HOST") ? strdup(getenv("KUBERNETES_SERVICE_HOST")) : NULL;
    char *op = getenv("KUBERNETES_SERVICE_PORT") ? strdup(getenv("KUBERNETES_SERVICE_PORT")) : NULL;
    setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    struct tr_kube_config c;
    struct tr_buf err;
    tr_buf_init(&err, 0);
    ASSERT_EQ(tr_kube_config_in_cluster(&c, dir, &err), 0);
    ASSERT_STREQ(c.server, "https://[fd00::1]:443");
    ASSERT_STREQ(c.ns, "torii-system");
    /* The token is read, and read again as it rotates. */
    struct tr_kube_creds cr = {0};
    ASSERT_EQ(tr_kube_creds_refresh(&cr, &c, false, &err), 0);
    ASSERT_STREQ(cr.token, "abc");
    uint64_t changed = cr.changed;
    tr_test_write(dir, "token", "def");
    ASSERT_EQ(tr_kube_creds_refresh(&cr, &c, false, &err), 0);
    ASSERT_STREQ(cr.token, "abc"); /* not due yet: once a minute */
    ASSERT_EQ(tr_kube_creds_refresh(&cr, &c, true, &err), 0);
    ASSERT_STREQ(cr.token, "def"); /* forced: after a 401 */
    ASSERT(cr.changed != changed);
    tr_test_write(dir, "token", "bad token\n");
    ASSERT(tr_kube_creds_refresh(&cr, &c, true, &err) != 0);
    ASSERT_STREQ(cr.token, "def"); /* the last good one is kept */
    tr_kube_creds_dispose(&cr);
    tr_kube_config_dispose(&c);
    unsetenv("KUBERNETES_SERVICE_HOST");
    tr_buf_reset(&err);
    ASSERT(tr_kube_config_in_cluster(&c, dir, &err) != 0);
    if (oh)
        setenv("KUBERNETES_SERVICE_HOST", oh, 1);
    if (op)
        setenv("KUBERNETES_SERVICE_PORT", op, 1);
    else
        unsetenv("KUBERNETES_SERVICE_PORT");
    free(oh);
    free(op);
    tr_buf_dispose(&err);
}

TEST(exec_credential_parsed_strictly)
{
    struct tr_kube_creds cr = {0};
    struct tr_buf err;
    tr_buf_init(&err, 0);
    const char *v1 = "client.authentication.k8s.io/v1";
    const char *ok = "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
                     "\"status\":{\"token\":\"t0k\",\"expirationTimestamp\":\"2030-01-02T03:04:05Z\"}}";
    ASSERT_EQ(tr_kube_creds_parse_exec(&cr, v1, ok, strlen(ok), &err), 0);
    ASSERT_STREQ(cr.token, "t0k");
    ASSERT_EQ(cr.expires, 1893553445);
    const char *bad[] = {
        "{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"x\"}}",
        "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"Secret\",\"status\":{\"token\":\"x\"}}",
        "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{}}",
        "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
        "\"status\":{\"clientCertificateData\":\"C\"}}",
        "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
        "\"status\":{\"token\":\"x\",\"expirationTimestamp\":\"soon\"}}",
        "not json",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        if (tr_kube_creds_parse_exec(&cr, v1, bad[i], strlen(bad[i]), &err) == 0)
            tr_test_fail(__FILE__, __LINE__, "case %zu accepted", i);
        ASSERT_STREQ(cr.token, "t0k"); /* unchanged */
    }
    tr_kube_creds_dispose(&cr);
    tr_buf_dispose(&err);
}

TEST(exec_plugin_runs_with_its_environment)
{
    const char *dir = tr_test_tmpdir();
    char script[600];
    snprintf(script, sizeof(script), "%s/plugin.sh", dir);
    /* The plugin echoes its argument, its env entry and whether it got the cluster info. */
    tr_test_write(dir, "plugin.sh",
                  "#!/bin/sh\n"
                  "case \"$KUBERNETES_EXEC_INFO\" in *'\"server\":\"https://k\"'*) info=yes;; *) info=no;; esac\n"
                  "printf '{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\",\"kind\":\"ExecCredential\","
                  "\"status\":{\"token\":\"%s-%s-%s\"}}' \"$1\" \"$EXTRA\" \"$info\"\n");
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "chmod +x %s", script);
    ASSERT_EQ(system(cmd), 0);
    struct tr_kube_exec ex = {0};
    char *args[] = {"arg1"};
    char *env[] = {"EXTRA=e"};
    ex.command = script;
    ex.args = args;
    ex.nargs = 1;
    ex.env = env;
    ex.nenv = 1;
    ex.api_version = "client.authentication.k8s.io/v1beta1";
    ex.provide_cluster_info = true;
    struct tr_kube_config c = {0};
    c.server = "https://k";
    c.exec = &ex;
    struct tr_kube_creds cr = {0};
    struct tr_buf err;
    tr_buf_init(&err, 0);
    ASSERT_EQ(tr_kube_creds_refresh(&cr, &c, false, &err), 0);
    ASSERT_STREQ(cr.token, "arg1-e-yes");
    /* A plugin that fails keeps the last credential and says why. (Forced runs come at most
     * once a second: a burst of 401s does not run the plugin for each.) */
    tr_test_write(dir, "plugin.sh", "#!/bin/sh\necho nope >&2\nexit 3\n");
    ASSERT_EQ(tr_kube_creds_refresh(&cr, &c, true, &err), 0);
    usleep(1100 * 1000);
    ASSERT(tr_kube_creds_refresh(&cr, &c, true, &err) != 0);
    ASSERT(strstr(err.data, "exited with status 3"));
    ASSERT_STREQ(cr.token, "arg1-e-yes");
    tr_kube_creds_dispose(&cr);
    tr_buf_dispose(&err);
}
