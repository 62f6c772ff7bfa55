/* torii run --config DIR [--admin ADDR] [--probe-addr ADDR] [--gatewayclass NAME]
 *           [--address-pool CIDR] [--workers N] [--access-log PATH] [--drain-delay D]
 *           [--drain-grace D] [--log-level LEVEL] */
#include "base/duration.h"
#include "base/log.h"
#include "cli/cli.h"
#include "control/control.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tr_cmd_run(int argc, char **argv)
{
    /* The delay outlasts the few seconds a Service's endpoints take to drop a terminating pod
     * (kube-proxy, ingress controllers and cloud load balancers all watch them); delay and grace
     * together fit in Kubernetes' default terminationGracePeriodSeconds of 30. */
    struct tr_control_opts o = {.drain_delay_ms = 5000, .drain_grace_ms = 20000};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--config") == 0 && v)
            o.config_dir = argv[++i];
        else if (strcmp(a, "--admin") == 0 && v)
            o.admin_addr = argv[++i];
        else if (strcmp(a, "--probe-addr") == 0 && v)
            o.probe_addr = argv[++i];
        else if (strcmp(a, "--gatewayclass") == 0 && v)
            o.gatewayclass = argv[++i];
        else if (strcmp(a, "--address-pool") == 0 && v)
            o.address_pool = argv[++i];
        else if (strcmp(a, "--access-log") == 0 && v)
            o.access_log = argv[++i];
        else if ((strcmp(a, "--drain-delay") == 0 || strcmp(a, "--drain-grace") == 0) && v) {
            uint64_t *ms = strcmp(a, "--drain-delay") == 0 ? &o.drain_delay_ms : &o.drain_grace_ms;
            if (!tr_duration_ms(argv[++i], ms)) {
                fprintf(stderr, "torii run: %s %s: want a duration such as 5s, 500ms, 1m30s or 0s\n", a, argv[i]);
                return 2;
            }
        } else if (strcmp(a, "--workers") == 0 && v) {
            char *end;
            long n = strtol(argv[++i], &end, 10);
            if (*end || n < 0 || n > 1024) {
                fprintf(stderr, "torii run: --workers: a number from 0 (one per core) to 1024\n");
                return 2;
            }
            o.workers = (unsigned)n;
        }
        else if (strcmp(a, "--log-level") == 0 && v) {
            if (tr_log_set_level(argv[++i]) != 0) {
                fprintf(stderr, "torii: --log-level: debug, info, warn, error or off\n");
                return 2;
            }
        } else {
            fprintf(stderr, "torii run: unknown or incomplete option %s\n"
                            "usage: torii run --config DIR [--admin 127.0.0.1:9901] [--probe-addr ADDR:PORT]\n"
                            "                 [--gatewayclass NAME] [--address-pool 127.1.0.0/16] [--workers N]\n"
                            "                 [--access-log PATH|-] [--drain-delay 5s] [--drain-grace 20s]\n"
                            "                 [--log-level info]\n",
                    a);
            return 2;
        }
    }
    if (!o.config_dir) {
        fprintf(stderr, "torii run: --config DIR is required\n");
        return 2;
    }
    return tr_control_run(&o);
}
