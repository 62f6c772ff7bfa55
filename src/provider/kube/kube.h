/* The Kubernetes provider: torii's objects from an API server. A provider thread lists and
 * watches every kind torii reads (reflectors), and hands what changed to the control thread,
 * which validates it into the store exactly as it does a manifest file: the store is the informer
 * cache. Status goes back the other way: the control thread hands over what it published, and the
 * provider thread writes what differs from what the API server holds, while it leads. */
#ifndef TR_PROVIDER_KUBE_H
#define TR_PROVIDER_KUBE_H

#include <stdbool.h>
#include <stdint.h>

struct tr_buf;
struct tr_kube_config;
struct tr_published;
struct tr_store;
struct tr_kubeprov;

struct tr_kubeprov_opts {
    const struct tr_kube_config *cfg; /* outlives the provider */
    const char *controller;           /* "torii.dev/gateway-controller" */
    double qps;                       /* API request rate (0: 50) and burst (0: 100) */
    unsigned burst;
    /* Leader election: a Lease lease_ns/lease_name held by identity. Without it (false), this
     * replica writes as if it led: for a single torii outside a cluster. */
    bool leader_elect;
    const char *lease_ns, *lease_name, *identity;
    unsigned lease_ms, renew_ms, retry_ms; /* 15000, 10000, 2000 */
    /* Gateways are reached through their generated Services (tr_tx_input.service_mode): the
     * leader gives each listener port a target port and lists the ready torii pods of pod_ns
     * (label app.kubernetes.io/name=torii) in each Service's EndpointSlice. */
    bool service_mode;
    const char *pod_ns;
    /* torii runs as the mesh (docs/mesh.md): the controller name of its route statuses, or NULL.
     * Pods are watched only then (the mesh's workloads among them): those of node only (the
     * node torii runs on, spec.nodeName), or every one when node is NULL. */
    const char *mesh_controller;
    const char *node;
};

/* Starts the provider thread. Returns NULL with a message in err. */
struct tr_kubeprov *tr_kubeprov_start(const struct tr_kubeprov_opts *o, struct tr_buf *err);
/* Stops the thread (releasing the Lease if held) and frees everything. */
void tr_kubeprov_stop(struct tr_kubeprov *p);

/* Readable (an eventfd) when changes wait for tr_kubeprov_apply. */
int tr_kubeprov_fd(const struct tr_kubeprov *p);
/* Control thread: applies the waiting changes to store (validated as manifests are; a rejected
 * object keeps its last valid version and is listed among the rejects). Returns true when the
 * store changed. */
bool tr_kubeprov_apply(struct tr_kubeprov *p, struct tr_store *store);
/* Has every kind been listed once (torii may translate: nothing it would miss is missing)? */
bool tr_kubeprov_synced(const struct tr_kubeprov *p);

/* Control thread: what was just published (taken by reference); its statuses are written back
 * where they differ from the API server's. */
void tr_kubeprov_publish(struct tr_kubeprov *p, struct tr_published *pub);
/* Gives up leadership now (shutdown): the Lease is released so another replica takes over at
 * once. Status is no longer written. Any thread. */
void tr_kubeprov_resign(struct tr_kubeprov *p);

/* Counters, for tests and metrics. */
struct tr_kubeprov_stats {
    uint64_t lists, watches, relists, events, status_writes, status_conflicts;
    bool leader;
};
void tr_kubeprov_stats(const struct tr_kubeprov *p, struct tr_kubeprov_stats *out);

#endif
