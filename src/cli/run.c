/* torii run: the daemon. Objects come from a directory of manifests (--config DIR), or from a
 * Kubernetes API server: --kubeconfig FILE [--context NAME], or the pod's service account when
 * KUBERNETES_SERVICE_HOST is set and neither --config nor --kubeconfig is given. */
#include "base/buf.h"
#include "base/duration.h"
#include "base/log.h"
#include "cli/cli.h"
#include "control/control.h"
#include "control/resolver.h"
#include "net/loop.h"
#include "provider/kube/config.h"
#include "provider/kube/kube.h"
#include "translate/translate.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Is s an IPv4 or IPv6 prefix ("10.96.0.0/12", "fd00:10:96::/112")? */
static bool cidr_ok(const char *s)
{
    const char *slash = strchr(s, '/');
    char addr[INET6_ADDRSTRLEN];
    if (!slash || (size_t)(slash - s) >= sizeof(addr))
        return false;
    memcpy(addr, s, (size_t)(slash - s));
    addr[slash - s] = '\0';
    unsigned char buf[16];
    int max = inet_pton(AF_INET, addr, buf) == 1 ? 32 : inet_pton(AF_INET6, addr, buf) == 1 ? 128 : -1;
    char *end;
    long n = strtol(slash + 1, &end, 10);
    return max > 0 && slash[1] && !*end && n >= 0 && n <= max;
}

static const char usage[] =
    "usage: torii run --config DIR | --kubeconfig FILE [--context NAME] | (in a pod: nothing)\n"
    "                 [--admin 127.0.0.1:9901] [--probe-addr ADDR:PORT] [--gatewayclass NAME]\n"
    "                 [--address-pool 127.1.0.0/16] [--workers N] [--access-log PATH|-]\n"
    "                 [--drain-delay 5s] [--drain-grace 20s] [--response-timeout 60s]\n"
    "                 [--log-level info] [--resolver ADDR[:PORT][,...]] [--resolver-stale 5m]\n"
    "                 [--io-engine epoll|io_uring]\n"
    "                 [--max-request-header-bytes 65536] [--max-request-headers 100]\n"
    "  Mesh:          [--mesh NAME] [--mesh-cidr 10.96.0.0/12]   (docs/mesh.md)\n"
    "  Kubernetes:    [--leader-elect true|false] [--lease-namespace NS] [--lease-name torii]\n"
    "                 [--leader-lease 15s] [--leader-renew 10s] [--leader-retry 2s]\n"
    "                 [--kube-qps 50] [--kube-burst 100]\n";

static bool duration_flag(const char *name, const char *v, unsigned *out)
{
    uint64_t ms;
    if (!tr_duration_ms(v, &ms) || ms == 0 || ms > 3600000) {
        fprintf(stderr, "torii run: %s: a duration such as 15s or 500ms, up to 1h\n", name);
        return false;
    }
    *out = (unsigned)ms;
    return true;
}

/* The Lease holder's name: the pod's (or the host's) and a random part, so that a restarted
 * replica is a new candidate, as controller-runtime names them. */
static void make_identity(char *out, size_t cap)
{
    const char *pod = getenv("POD_NAME");
    char host[256] = "torii";
    if (!pod || !pod[0]) {
        if (gethostname(host, sizeof(host)) != 0)
            snprintf(host, sizeof(host), "torii");
        host[sizeof(host) - 1] = '\0';
        pod = host;
    }
    unsigned r = 0;
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(&r, sizeof(r), 1, f) != 1)
        r = (unsigned)time(NULL) ^ (unsigned)getpid();
    if (f)
        fclose(f);
    snprintf(out, cap, "%.200s_%08x", pod, r);
}

int tr_cmd_run(int argc, char **argv)
{
    /* The delay outlasts the few seconds a Service's endpoints take to drop a terminating pod
     * (kube-proxy, ingress controllers and cloud load balancers all watch them); delay and grace
     * together fit in Kubernetes' default terminationGracePeriodSeconds of 30. */
    struct tr_control_opts o = {.drain_delay_ms = 5000, .drain_grace_ms = 20000,
                                .resolver_stale_ms = TR_RESOLVER_STALE_MS};
    const char *kubeconfig = NULL, *context = NULL;
    struct tr_kubeprov_opts ko = {.controller = "torii.dev/gateway-controller", .leader_elect = true};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--config") == 0 && v)
            o.config_dir = argv[++i];
        else if (strcmp(a, "--kubeconfig") == 0 && v)
            kubeconfig = argv[++i];
        else if (strcmp(a, "--context") == 0 && v)
            context = argv[++i];
        else if (strcmp(a, "--admin") == 0 && v)
            o.admin_addr = argv[++i];
        else if (strcmp(a, "--probe-addr") == 0 && v)
            o.probe_addr = argv[++i];
        else if (strcmp(a, "--gatewayclass") == 0 && v)
            o.gatewayclass = argv[++i];
        else if (strcmp(a, "--address-pool") == 0 && v)
            o.address_pool = argv[++i];
        else if (strcmp(a, "--mesh") == 0 && v)
            o.mesh = argv[++i];
        else if (strcmp(a, "--mesh-cidr") == 0 && v)
            o.mesh_cidr = argv[++i];
        else if (strcmp(a, "--access-log") == 0 && v)
            o.access_log = argv[++i];
        else if (strcmp(a, "--resolver") == 0 && v)
            o.resolver = argv[++i]; /* checked by c-ares when the control loop starts */
        else if (strcmp(a, "--resolver-stale") == 0 && v) {
            if (!tr_duration_ms(argv[++i], &o.resolver_stale_ms)) {
                fprintf(stderr, "torii run: --resolver-stale %s: want a duration such as 5m, 30s or 0s\n", argv[i]);
                return 2;
            }
        }
        else if ((strcmp(a, "--drain-delay") == 0 || strcmp(a, "--drain-grace") == 0) && v) {
            uint64_t *ms = strcmp(a, "--drain-delay") == 0 ? &o.drain_delay_ms : &o.drain_grace_ms;
            if (!tr_duration_ms(argv[++i], ms)) {
                fprintf(stderr, "torii run: %s %s: want a duration such as 5s, 500ms, 1m30s or 0s\n", a, argv[i]);
                return 2;
            }
        } else if (strcmp(a, "--response-timeout") == 0 && v) {
            if (!tr_duration_ms(argv[++i], &o.response_timeout_ms) || !o.response_timeout_ms) {
                fprintf(stderr, "torii run: %s %s: want a duration above 0 such as 60s or 2m\n", a, argv[i]);
                return 2;
            }
        } else if ((strcmp(a, "--max-request-header-bytes") == 0 || strcmp(a, "--max-request-headers") == 0) && v) {
            bool bytes = strcmp(a, "--max-request-header-bytes") == 0;
            char *end = NULL;
            unsigned long n = strtoul(argv[++i], &end, 10);
            unsigned long lo = bytes ? 1024 : 1, hi = bytes ? 65536 : 100;
            if (!end || *end || argv[i][0] == '-' || n < lo || n > hi) {
                fprintf(stderr, "torii run: %s %s: want a number from %lu to %lu\n", a, argv[i], lo, hi);
                return 2;
            }
            if (bytes)
                o.max_request_head = n;
            else
                o.max_request_fields = n;
        } else if (strcmp(a, "--lease-namespace") == 0 && v)
            ko.lease_ns = argv[++i];
        else if (strcmp(a, "--lease-name") == 0 && v)
            ko.lease_name = argv[++i];
        else if (strcmp(a, "--leader-elect") == 0 && v) {
            const char *b = argv[++i];
            if (strcmp(b, "true") != 0 && strcmp(b, "false") != 0) {
                fprintf(stderr, "torii run: --leader-elect: true or false\n");
                return 2;
            }
            ko.leader_elect = strcmp(b, "true") == 0;
        } else if (strcmp(a, "--leader-lease") == 0 && v) {
            if (!duration_flag(a, argv[++i], &ko.lease_ms))
                return 2;
        } else if (strcmp(a, "--leader-renew") == 0 && v) {
            if (!duration_flag(a, argv[++i], &ko.renew_ms))
                return 2;
        } else if (strcmp(a, "--leader-retry") == 0 && v) {
            if (!duration_flag(a, argv[++i], &ko.retry_ms))
                return 2;
        } else if ((strcmp(a, "--kube-qps") == 0 || strcmp(a, "--kube-burst") == 0) && v) {
            char *end;
            double n = strtod(argv[++i], &end);
            if (*end || n < 1 || n > 10000) {
                fprintf(stderr, "torii run: %s: a number from 1 to 10000\n", a);
                return 2;
            }
            if (a[7] == 'q')
                ko.qps = n;
            else
                ko.burst = (unsigned)n;
        } else if (strcmp(a, "--workers") == 0 && v) {
            char *end;
            long n = strtol(argv[++i], &end, 10);
            if (*end || n < 0 || n > 1024) {
                fprintf(stderr, "torii run: --workers: a number from 0 (one per core) to 1024\n");
                return 2;
            }
            o.workers = (unsigned)n;
        } else if (strcmp(a, "--io-engine") == 0 && v) {
            /* Asked for and not to be had is an error, never a quiet epoll: a benchmark or a
             * test run must measure the engine it names. */
            enum tr_loop_engine e;
            const char *why = NULL;
            if (tr_loop_engine_parse(argv[++i], &e) != 0) {
                fprintf(stderr, "torii run: --io-engine: epoll or io_uring\n");
                return 2;
            }
            if (tr_loop_use(e, &why) != 0) {
                fprintf(stderr, "torii run: --io-engine %s: %s\n", argv[i], why);
                return 2;
            }
        } else if (strcmp(a, "--log-level") == 0 && v) {
            if (tr_log_set_level(argv[++i]) != 0) {
                fprintf(stderr, "torii: --log-level: debug, info, warn, error or off\n");
                return 2;
            }
        } else {
            fprintf(stderr, "torii run: unknown or incomplete option %s\n%s", a, usage);
            return 2;
        }
    }
    if (o.config_dir && kubeconfig) {
        fprintf(stderr, "torii run: --config and --kubeconfig exclude each other\n");
        return 2;
    }
    bool in_cluster = !o.config_dir && !kubeconfig && getenv("KUBERNETES_SERVICE_HOST");
    if (!o.config_dir && !kubeconfig && !in_cluster) {
        fprintf(stderr, "torii run: give --config DIR, or --kubeconfig FILE (in a pod, nothing)\n%s", usage);
        return 2;
    }
    if (o.mesh_cidr && !cidr_ok(o.mesh_cidr)) {
        fprintf(stderr, "torii run: --mesh-cidr %s: want an IPv4 or IPv6 prefix such as 10.96.0.0/12\n", o.mesh_cidr);
        return 2;
    }
    if (o.mesh_cidr && !o.mesh) {
        fprintf(stderr, "torii run: --mesh-cidr needs --mesh\n");
        return 2;
    }
    if (o.config_dir)
        return tr_control_run(&o);
    uint64_t lease = ko.lease_ms ? ko.lease_ms : 15000, renew = ko.renew_ms ? ko.renew_ms : 10000,
             retry = ko.retry_ms ? ko.retry_ms : 2000;
    /* As client-go requires: a leader must give up before anyone may take over, and try to renew
     * more than once before it gives up. */
    if (!(lease > renew && renew * 10 > retry * 12)) {
        fprintf(stderr, "torii run: want --leader-lease > --leader-renew > 1.2 x --leader-retry\n");
        return 2;
    }
    struct tr_kube_config cfg;
    struct tr_buf err;
    tr_buf_init(&err, 0);
    int rc = in_cluster ? tr_kube_config_in_cluster(&cfg, NULL, &err) : tr_kube_config_load(&cfg, kubeconfig, context, &err);
    if (rc != 0) {
        fprintf(stderr, "torii: %s\n", err.data);
        tr_buf_dispose(&err);
        return 1;
    }
    tr_buf_dispose(&err);
    if (strncmp(cfg.server, "http://", 7) == 0)
        tr_log_warn("kubernetes: %s: the API server is reached without TLS (%s)", cfg.source, cfg.server);
    char identity[256];
    make_identity(identity, sizeof(identity));
    ko.cfg = &cfg;
    ko.identity = identity;
    if (!ko.lease_ns)
        ko.lease_ns = getenv("POD_NAMESPACE") && getenv("POD_NAMESPACE")[0] ? getenv("POD_NAMESPACE") : cfg.ns;
    /* With --address-pool, Gateways get addresses of this host, as in file mode (tests, a torii
     * outside the cluster); otherwise clients reach them through their generated Services. */
    ko.service_mode = !o.address_pool;
    ko.pod_ns = getenv("POD_NAMESPACE") && getenv("POD_NAMESPACE")[0] ? getenv("POD_NAMESPACE") : cfg.ns;
    /* As the mesh on a node (a DaemonSet gives NODE_NAME by the downward API): that node's Pods
     * only; without it, every Pod the API server has (one machine, the tests). */
    ko.mesh_controller = o.mesh ? TR_MESH_CONTROLLER : NULL;
    ko.node = o.mesh && getenv("NODE_NAME") && getenv("NODE_NAME")[0] ? getenv("NODE_NAME") : NULL;
    o.kube = &ko;
    rc = tr_control_run(&o);
    tr_kube_config_dispose(&cfg);
    return rc;
}
