/* The control thread: providers feed the store, translate judges it, listeners are bound, and
 * status is published. Also the pieces `torii check` uses offline. */
#ifndef TR_CONTROL_H
#define TR_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tr_store;
struct tr_obj;
struct tr_kubeprov_opts;

struct tr_control_opts {
    const char *config_dir;
    const char *admin_addr;   /* "127.0.0.1:9901" */
    const char *probe_addr;   /* /healthz, /readyz and /metrics only, on "0.0.0.0:9902"; NULL: none */
    const char *gatewayclass; /* install a GatewayClass of this name, or NULL */
    const char *address_pool; /* loopback pool for Gateways without addresses: "127.1.0.0/16" */
    unsigned workers;         /* data-plane threads; 0: one per core */
    const char *access_log;   /* JSON access log path, "-" for stdout, NULL for none */
    uint64_t drain_delay_ms;  /* SIGTERM: listeners stay open this long (readiness false) */
    uint64_t drain_grace_ms;  /* then what is in flight has this long before it is cut */
    uint64_t response_timeout_ms; /* how long a request body, then the response, may go without
                                   * progress when the route sets no timeout; 0: 60 s */
    size_t max_request_head;   /* a request head's bytes (431 beyond); 0: 64 KiB */
    size_t max_request_fields; /* a request head's fields (431 beyond); 0: 100 */
    /* DNS servers for ExternalName Services: "ADDR[:PORT][,...]", NULL: the system's. */
    const char *resolver;
    uint64_t resolver_stale_ms; /* how long a name's last answer outlives its TTL while queries fail */
    /* Objects from a Kubernetes API server instead of config_dir (NULL: file mode). */
    const struct tr_kubeprov_opts *kube;
    /* torii is the mesh (docs/mesh.md), and installs an XMesh of this name for it (NULL: not the
     * mesh): routes' Service parents are its, and the connections meshed workloads make to
     * mesh_cidr (NULL: TR_MESH_DEFAULT_CIDR) go through it. */
    const char *mesh;
    const char *mesh_cidr;
};

/* Kubernetes' default service range. */
#define TR_MESH_DEFAULT_CIDR "10.96.0.0/12"

/* Runs until it has drained after SIGTERM or SIGINT (a second one stops it at once).
 * Returns the exit status. */
int tr_control_run(const struct tr_control_opts *o);

/* Loopback addresses for Gateways, one each, sticky per Gateway namespace/name. */
struct tr_addrpool;
/* cidr: "127.1.0.0/16". Returns NULL when it is not an IPv4 CIDR. */
struct tr_addrpool *tr_addrpool_new(const char *cidr);
void tr_addrpool_free(struct tr_addrpool *p);
/* The address of gw, allocating the next free one on first use, or when taken(ctx, its
 * address) says it is now taken (taken may be NULL: nothing is). Never returns an address taken
 * says is taken. NULL when the pool is exhausted. The string lives until gw gets another one or
 * the pool is freed. */
const char *tr_addrpool_get(struct tr_addrpool *p, const struct tr_obj *gw, bool (*taken)(void *ctx, const char *addr),
                            void *ctx);

/* Puts the XMesh `name` (controller torii.dev/mesh-controller) into the store. */
void tr_install_mesh(struct tr_store *s, const char *name);

/* Puts the GatewayClass `name` (controller torii.dev/gateway-controller) into the store, as if a
 * manifest held it. */
void tr_install_gatewayclass(struct tr_store *s, const char *name);

#endif
