#include "control/control.h"
#include "base/clock.h"
#include "admin/admin.h"
#include "base/metrics.h"
#include "proxy/accesslog.h"
#include "api/manifest.h"
#include "api/object.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "control/meshctl.h"
#include "control/publish.h"
#include "control/resolver.h"
#include "l4/l4.h"
#include "ir/ir.h"
#include "snapshot/snapshot.h"
#include "net/listen.h"
#include "provider/file.h"
#include "provider/kube/config.h"
#include "provider/kube/kube.h"
#include "proxy/proxy.h"
#include "worker/worker.h"
#include "store/store.h"
#include "translate/translate.h"

#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#define CONTROLLER "torii.dev/gateway-controller"

/* Changes come in bursts (an editor's save, kubectl apply -f dir): wait until the directory has
 * been quiet this long, but never longer than the cap, before translating. */
#define SETTLE_MS 2
#define SETTLE_CAP_MS 50
/* A file still open for writing is waited for this long at most, then read as it is. */
#define WRITER_CAP_MS 1000
/* Freed memory is returned to the system this long after a reconcile (the workers have let go
 * of the old snapshot by then); changes in a stream trim once per this period. */
#define TRIM_AFTER_MS 1000
/* Draining, listeners closed: how often the workers' open connections are counted, to exit as
 * soon as none is left. */
#define DRAIN_CHECK_MS 20
/* A mesh redirect that could not be installed is tried again after this, doubling up to the
 * most. */
#define MESH_RETRY_FIRST_MS 250
#define MESH_RETRY_MAX_MS 30000

static const struct tr_obj *no_prev(void *ud, int kind, const char *ns, const char *name)
{
    return tr_store_get(ud, (enum tr_kind)kind, ns, name);
}

static void put_obj(void *ud, struct tr_obj *o)
{
    tr_store_put(ud, o);
}

static void bug_on_error(void *ud, const char *line, int kind, const char *ns, const char *name)
{
    tr_log_error("built-in object rejected: %s", line);
}

/* Puts a cluster-scoped object with a controllerName (GatewayClass, XMesh) into the store, as if
 * a manifest held it; flag is the option that asked for it. */
static void install(struct tr_store *s, const char *api_version, const char *kind, const char *name,
                    const char *controller, const char *flag)
{
    char text[1024];
    int n = snprintf(text, sizeof(text),
                     "apiVersion: %s\nkind: %s\nmetadata:\n  name: \"%s\"\n"
                     "spec:\n  controllerName: %s\n  description: installed by torii %s\n",
                     api_version, kind, name, controller, flag);
    static const struct tr_manifest_ops ops = {no_prev, put_obj, bug_on_error};
    uint64_t seq = 0;
    tr_manifest_load(text, (size_t)n, "<built-in>", (int64_t)time(NULL), &seq, &ops, s);
}

void tr_install_gatewayclass(struct tr_store *s, const char *name)
{
    install(s, "gateway.networking.k8s.io/v1", "GatewayClass", name, CONTROLLER, "--gatewayclass");
}

void tr_install_mesh(struct tr_store *s, const char *name)
{
    install(s, "gateway.networking.x-k8s.io/v1alpha1", "XMesh", name, TR_MESH_CONTROLLER, "--mesh");
}

struct ctl {
    struct tr_store *store;
    struct tr_addrpool *pool;
    struct tr_listeners *listeners;
    struct tr_admin *admin;
    struct tr_workers *workers;
    struct tr_pubstate *ps;
    struct tr_tx_memo *memo;
    struct tr_kubeprov *kube; /* or NULL: file mode */
    struct tr_resolver *dns;  /* ExternalName Services' names */
    struct tr_meshctl *mesh;  /* the mesh's redirects (--mesh), or NULL */
    /* Cluster addresses for Services that name none, from the mesh's range (an IPv4 one only) */
    struct tr_addrpool *cluster_ips;
    bool kube_synced;         /* translated once after every kind was listed */
    bool kube_service_mode;   /* Gateways reached through their Services */
    uint64_t generation;
    uint64_t trim_due; /* when to give freed memory back (0: not due) */
    uint64_t mesh_due; /* when to try again the mesh redirects that failed (0: none failed) */
    unsigned mesh_retry_ms;
    enum tr_drain_phase drain;
    uint64_t drain_due; /* STARTED: when the listeners close; CLOSED: when the grace period ends */
};

/* Installs the mesh's redirects for ir; when some failed, sets when to try again. */
static void mesh_reconcile(struct ctl *c, const struct tr_ir *ir)
{
    if (!tr_meshctl_reconcile(c->mesh, ir)) {
        c->mesh_due = 0;
        c->mesh_retry_ms = 0;
        return;
    }
    c->mesh_retry_ms = !c->mesh_retry_ms                         ? MESH_RETRY_FIRST_MS
                       : c->mesh_retry_ms >= MESH_RETRY_MAX_MS / 2 ? MESH_RETRY_MAX_MS
                                                                  : c->mesh_retry_ms * 2;
    c->mesh_due = tr_clock_ms() + c->mesh_retry_ms;
}

static const char *alloc_address(void *ud, const struct tr_obj *gw, bool (*taken)(void *ctx, const char *addr),
                                 void *ctx)
{
    return tr_addrpool_get(((struct ctl *)ud)->pool, gw, taken, ctx);
}

static const char *cluster_ip(void *ud, const struct tr_obj *svc, bool (*taken)(void *ctx, const char *addr),
                              void *ctx)
{
    struct tr_addrpool *pool = ((struct ctl *)ud)->cluster_ips;
    return pool ? tr_addrpool_get(pool, svc, taken, ctx) : NULL;
}

static const char *bind_error(void *ud, const char *addr, uint16_t port, int udp)
{
    return tr_listeners_error(((struct ctl *)ud)->listeners, addr, port, udp);
}

static size_t resolve(void *ud, const char *name, const char **out, size_t cap)
{
    return tr_resolver_get(((struct ctl *)ud)->dns, name, out, cap);
}

static bool bindable(void *ud, const char *addr, uint16_t port, bool udp)
{
    return !tr_listeners_error(((struct ctl *)ud)->listeners, addr, port, udp);
}

/* Now plus ms, saturating (a duration flag may be huge). */
static uint64_t after_ms(uint64_t ms)
{
    uint64_t now = tr_clock_ms();
    return ms > UINT64_MAX - now ? UINT64_MAX : now + ms;
}

/* "2 http, 1 h2, ...": what the workers hold open, for the drain's log lines. Returns the total. */
static uint64_t open_text(struct ctl *c, char *out, size_t cap)
{
    uint64_t n[TR_CONN__COUNT];
    uint64_t total = tr_workers_open(c->workers, n);
    snprintf(out, cap, "%llu http, %llu h2, %llu tcp/tls, %llu udp, %llu upstream", (unsigned long long)n[TR_CONN_HTTP],
             (unsigned long long)n[TR_CONN_H2], (unsigned long long)n[TR_CONN_L4], (unsigned long long)n[TR_CONN_UDP],
             (unsigned long long)n[TR_CONN_UPSTREAM]);
    return total;
}

/* Where providers hand over what this replica holds in the cluster, at the start of a drain.
 * The file provider holds nothing. The Kubernetes provider releases its leader Lease here, at
 * once and before traffic stops, so that another replica takes over status writes without
 * waiting for the lease to expire. */
static void providers_drain_started(struct ctl *c)
{
    if (c->kube)
        tr_kubeprov_resign(c->kube);
}

/* A SIGTERM (or SIGINT) came: readiness turns false, and the listeners stay open for delay_ms
 * (a Service's endpoints take that long to drop this pod: connections still arrive meanwhile),
 * while keep-alive connections are told to end. */
static void drain_start(struct ctl *c, unsigned signo, uint64_t delay_ms)
{
    tr_admin_drain(c->admin);
    providers_drain_started(c);
    c->drain = TR_DRAIN_STARTED;
    c->drain_due = after_ms(delay_ms);
    tr_workers_drain(c->workers, TR_DRAIN_STARTED);
    char open[160];
    open_text(c, open, sizeof(open));
    tr_log_info("signal %u: draining: not ready, listeners close in %llu ms (open: %s)", signo,
                (unsigned long long)delay_ms, open);
}

/* The delay is over: the listeners close, and what is in flight has grace_ms to finish. */
static void drain_close(struct ctl *c, uint64_t grace_ms)
{
    c->drain = TR_DRAIN_CLOSED;
    c->drain_due = after_ms(grace_ms);
    tr_workers_drain(c->workers, TR_DRAIN_CLOSED);
    char open[160];
    open_text(c, open, sizeof(open));
    tr_log_info("draining: listeners closed, %llu ms for what is open to finish (open: %s)", (unsigned long long)grace_ms,
                open);
}

/* Binds the sockets ir needs (net/listen.c): true when a bind result changed. */
static bool reconcile_listeners(struct ctl *c, const struct tr_ir *ir)
{
    struct tr_listen_addr *want = tr_xcalloc(ir->nports + 1, sizeof(*want));
    for (size_t i = 0; i < ir->nports; i++)
        want[i] = (struct tr_listen_addr){ir->ports[i].addr, ir->ports[i].port, ir->ports[i].udp};
    bool changed = tr_listeners_reconcile(c->listeners, want, ir->nports);
    free(want);
    return changed;
}

/* Translate, bind, and translate again if binding changed what Programmed must say. Also how a
 * DNS answer that changed reaches the workers: the memo gives back every route's result, and only
 * the endpoints are applied again. */
static void reconcile(struct ctl *c)
{
    uint64_t t0 = tr_clock_ms();
    struct tr_view *v = tr_store_view(c->store);
    struct tr_tx_input in = {.view = v, .memo = c->memo, .controller = CONTROLLER, .alloc_address = alloc_address,
                             .bind_error = bind_error, .ud = c, .provisions = c->kube != NULL,
                             .service_mode = c->kube && c->kube_service_mode, .resolve = resolve,
                             .mesh = c->mesh ? TR_MESH_CONTROLLER : NULL, .cluster_ip = cluster_ip};
    tr_resolver_begin(c->dns);
    struct tr_tx *tx = tr_translate(&in);
    size_t translated = tr_tx_routes_translated(tx);
    if (reconcile_listeners(c, tr_tx_ir(tx))) {
        tr_tx_free(tx);
        tx = tr_translate(&in);
        translated += tr_tx_routes_translated(tx);
    }
    /* Names the IR no longer holds are forgotten (and no longer asked for). */
    tr_resolver_sweep(c->dns);
    c->generation++;
    /* Every reconcile frees the snapshot before it (its run arena, IR and routers: about as
     * much as the routes' own store), and malloc keeps what it freed in holes, deletes or not:
     * give it back once the workers have let go of the old one. malloc_trim costs about 5 ms at
     * 10,000 routes, off the switch path, at most once per TRIM_AFTER_MS. */
    if (!c->trim_due)
        c->trim_due = tr_clock_ms() + TRIM_AFTER_MS;
    /* The snapshot owns v and tx from here; the workers pick it up when woken. */
    struct tr_snapshot *snap = tr_snapshot_new(v, tx, c->generation, bindable, c);
    tr_snapshot_publish(snap);
    tr_workers_notify(c->workers);
    /* The workers listen in each new workload's namespace as they take the snapshot; its
     * redirect follows (a connection in between is refused, not misrouted). */
    if (c->mesh)
        mesh_reconcile(c, tr_snapshot_ir(snap));
    uint64_t t1 = tr_clock_ms();
    /* Traffic first, status second: the workers are already switching while status is
     * rendered. snap stays alive: only this thread replaces the current snapshot. */
    struct tr_published *pub = tr_publish_build(snap, c->store, c->ps, true);
    if (c->kube)
        tr_kubeprov_publish(c->kube, tr_published_ref(pub));
    tr_admin_publish(c->admin, pub);
    __atomic_store_n(&tr_metrics.config_generation, c->generation, __ATOMIC_RELAXED);
    uint64_t t2 = tr_clock_ms();
    tr_log_debug("config generation %llu: %zu gateways, %zu httproutes, %zu routes translated, %u sockets, %zu dns "
                 "names, %llu ms (serving after %llu ms)",
                 (unsigned long long)c->generation, v->n[TR_KIND_GATEWAY], v->n[TR_KIND_HTTPROUTE], translated,
                 tr_listeners_count(c->listeners), tr_resolver_names(c->dns), (unsigned long long)(t2 - t0),
                 (unsigned long long)(t1 - t0));
}

/* Changes from the API server: applied as they come, for a settle window, and translated once
 * every kind has been listed (before that, a half-listed cluster would give wrong status and
 * routes). */
static void kube_changes(struct ctl *c)
{
    bool changed = tr_kubeprov_apply(c->kube, c->store);
    uint64_t start = tr_clock_ms();
    for (;;) {
        int left = SETTLE_CAP_MS - (int)(tr_clock_ms() - start);
        struct pollfd p1 = {tr_kubeprov_fd(c->kube), POLLIN, 0};
        if (left <= 0 || poll(&p1, 1, left < SETTLE_MS ? left : SETTLE_MS) <= 0)
            break;
        changed |= tr_kubeprov_apply(c->kube, c->store);
    }
    /* The reflector pushes a kind's objects before it marks the kind listed, but it signals the
     * eventfd only later: read the mark first and drain once more, so that a translation never
     * runs on the objects of every kind but the last one listed. */
    bool synced = tr_kubeprov_synced(c->kube);
    changed |= tr_kubeprov_apply(c->kube, c->store);
    if (!synced)
        return;
    if (!c->kube_synced) {
        size_t n = 0;
        struct tr_view *v = tr_store_view(c->store);
        for (int k = 0; k < TR_KIND__COUNT; k++)
            n += v->n[k];
        tr_view_free(v);
        tr_log_info("kubernetes: every kind listed (%zu objects): translating", n);
    }
    if (changed || !c->kube_synced) {
        c->kube_synced = true;
        reconcile(c);
    }
}

int tr_control_run(const struct tr_control_opts *o)
{
    struct ctl c = {0};
    c.pool = tr_addrpool_new(o->address_pool ? o->address_pool : "127.1.0.0/16");
    if (!c.pool) {
        fprintf(stderr, "torii: --address-pool %s: want an IPv4 CIDR between /8 and /30\n", o->address_pool);
        return 2;
    }
    /* Blocked before any thread starts, so that every thread inherits the mask and the signals
     * reach only the signalfd below (a thread started earlier would take SIGTERM's default
     * action and kill the process uncleanly). */
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &mask, NULL);
    char *err = NULL;
    c.admin = tr_admin_start(o->admin_addr ? o->admin_addr : "127.0.0.1:9901", o->probe_addr, &err);
    if (!c.admin) {
        fprintf(stderr, "torii: %s\n", err);
        free(err);
        tr_addrpool_free(c.pool);
        return 1;
    }
    if (o->access_log && tr_accesslog_open(o->access_log) != 0) {
        fprintf(stderr, "torii: --access-log %s: %s\n", o->access_log, strerror(errno));
        tr_admin_stop(c.admin);
        tr_addrpool_free(c.pool);
        return 1;
    }
    tr_proxy_set_response_timeout(o->response_timeout_ms ? o->response_timeout_ms : 60000);
    tr_proxy_set_request_limits(o->max_request_head, o->max_request_fields);
    struct tr_worker_ops ops = {0};
    tr_proxy_worker_ops(&ops);
    tr_l4_worker_ops(&ops);
    c.workers = tr_workers_start(o->workers, &ops, &err);
    if (!c.workers) {
        fprintf(stderr, "torii: %s\n", err);
        free(err);
        tr_admin_stop(c.admin);
        tr_addrpool_free(c.pool);
        return 1;
    }
    c.dns = tr_resolver_new(o->resolver, o->resolver_stale_ms, &err);
    if (!c.dns) {
        fprintf(stderr, "torii: --resolver %s\n", err);
        free(err);
        tr_workers_stop(c.workers);
        tr_admin_stop(c.admin);
        tr_addrpool_free(c.pool);
        return 2;
    }
    if (o->mesh) {
        const char *cidr = o->mesh_cidr ? o->mesh_cidr : TR_MESH_DEFAULT_CIDR;
        c.mesh = tr_meshctl_new(cidr);
        c.cluster_ips = tr_addrpool_new(cidr);
        if (!c.cluster_ips)
            tr_log_warn("mesh: --mesh-cidr %s is not an IPv4 range of /8 to /30: Services without "
                        "spec.clusterIP get no cluster address (and are not in the mesh)", cidr);
    }
    c.store = tr_store_new();
    c.listeners = tr_listeners_new();
    c.ps = tr_pubstate_new();
    c.memo = tr_tx_memo_new();
    struct tr_fileprov *fp = NULL;
    if (o->kube) {
        struct tr_buf kerr;
        tr_buf_init(&kerr, 0);
        c.kube = tr_kubeprov_start(o->kube, &kerr);
        c.kube_service_mode = o->kube->service_mode;
        if (!c.kube)
            fprintf(stderr, "torii: kubernetes: %s\n", kerr.data ? kerr.data : "cannot start");
        tr_buf_dispose(&kerr);
    } else {
        fp = tr_fileprov_new(o->config_dir, c.store, true);
        if (!fp)
            fprintf(stderr, "torii: --config %s: %s\n", o->config_dir, strerror(errno));
    }
    if (!fp && !c.kube) {
        tr_resolver_free(c.dns);
        tr_admin_stop(c.admin);
        tr_workers_stop(c.workers);
        tr_store_free(c.store);
        tr_listeners_free(c.listeners);
        tr_pubstate_free(c.ps);
        tr_tx_memo_free(c.memo);
        tr_addrpool_free(c.pool);
        return 1;
    }
    if (o->gatewayclass)
        tr_install_gatewayclass(c.store, o->gatewayclass);
    if (o->mesh)
        tr_install_mesh(c.store, o->mesh);

    int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    signal(SIGPIPE, SIG_IGN);
    /* Snapshots are freed here, wherever their last reference goes (see tr_snapshot_reaper). */
    int reap_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    TR_BUG_ON(reap_fd < 0);
    tr_snapshot_reaper(reap_fd);

    if (fp) {
        int problems = tr_fileprov_scan(fp);
        tr_log_info("loaded %s (%d problem%s)", o->config_dir, problems, problems == 1 ? "" : "s");
        reconcile(&c);
    } else {
        tr_log_info("kubernetes: %s: listing (identity %s)", o->kube->cfg->source, o->kube->identity);
    }
    int rc = 0;
    for (;;) {
        uint64_t now = tr_clock_ms();
        if (c.drain == TR_DRAIN_STARTED && now >= c.drain_due)
            drain_close(&c, o->drain_grace_ms);
        if (c.drain == TR_DRAIN_CLOSED) {
            /* Reached first: the counts read after it include what the listeners had queued. */
            bool closed = tr_workers_reached(c.workers, TR_DRAIN_CLOSED);
            char open[160];
            if (open_text(&c, open, sizeof(open)) == 0 && closed) {
                tr_log_info("drained: nothing left open");
                break;
            }
            if (now >= c.drain_due) {
                tr_log_info("draining: grace period over, closing what is left (open: %s)", open);
                tr_workers_cut(c.workers);
                break;
            }
        }
        if (c.trim_due && now >= c.trim_due) {
            tr_mem_trim();
            c.trim_due = 0;
        }
        if (c.mesh_due && now >= c.mesh_due) {
            struct tr_snapshot *s = tr_snapshot_acquire();
            if (s)
                mesh_reconcile(&c, tr_snapshot_ir(s));
            else
                c.mesh_due = 0;
            tr_snapshot_release(s);
        }
        /* DNS answers that changed: the endpoints are applied again (in kube mode once the
         * first translation has been made; until then no name is known). */
        tr_resolver_run(c.dns);
        if (tr_resolver_changed(c.dns) && (!c.kube || c.kube_synced))
            reconcile(&c);
        uint64_t due = c.trim_due ? c.trim_due : UINT64_MAX;
        uint64_t dns_due = tr_resolver_due(c.dns);
        if (dns_due < due)
            due = dns_due;
        if (c.mesh_due && c.mesh_due < due)
            due = c.mesh_due;
        if (c.drain != TR_DRAIN_OFF && c.drain_due < due)
            due = c.drain_due;
        if (c.drain == TR_DRAIN_CLOSED && now + DRAIN_CHECK_MS < due)
            due = now + DRAIN_CHECK_MS;
        int timeout = due == UINT64_MAX ? -1 : due <= now ? 0 : due - now > 60000 ? 60000 : (int)(due - now);
        struct pollfd pfds[3 + TR_RESOLVER_MAX_FDS] = {{sfd, POLLIN, 0},
                                                        {fp ? tr_fileprov_fd(fp) : tr_kubeprov_fd(c.kube), POLLIN, 0},
                                                        {reap_fd, POLLIN, 0}};
        size_t ndns = tr_resolver_pollfds(c.dns, pfds + 3, TR_RESOLVER_MAX_FDS);
        int ready = poll(pfds, 3 + ndns, timeout);
        if (ready < 0) {
            if (errno == EINTR)
                continue;
            rc = 1;
            break;
        }
        if (ready == 0)
            continue;
        tr_resolver_handle(c.dns, pfds + 3, ndns);
        if (pfds[2].revents & POLLIN) {
            uint64_t wakes;
            (void)!read(reap_fd, &wakes, sizeof(wakes));
            if (tr_snapshot_reap() && !c.trim_due)
                c.trim_due = tr_clock_ms() + TRIM_AFTER_MS;
        }
        if (pfds[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                if (si.ssi_signo == SIGHUP) {
                    if (fp)
                        tr_fileprov_scan(fp);
                    if (!c.kube || c.kube_synced)
                        reconcile(&c);
                    continue;
                }
                if (c.drain != TR_DRAIN_OFF) {
                    char open[160];
                    open_text(&c, open, sizeof(open));
                    tr_log_info("signal %u while draining: stopping now (open: %s)", si.ssi_signo, open);
                    break;
                }
                /* SIGTERM is how Kubernetes (and systemd) stop a process: drain. SIGINT is a
                 * terminal's Ctrl-C, with no endpoints to withdraw: no delay. */
                drain_start(&c, si.ssi_signo, si.ssi_signo == SIGINT ? 0 : o->drain_delay_ms);
                continue;
            }
        }
        if (!(pfds[1].revents & POLLIN))
            continue;
        if (c.kube) {
            kube_changes(&c);
            continue;
        }
        tr_fileprov_handle(fp);
        uint64_t start = tr_clock_ms();
        bool changed = false;
        for (;;) {
            uint64_t waited = tr_clock_ms() - start;
            bool busy = tr_fileprov_busy(fp);
            int cap = busy ? WRITER_CAP_MS : SETTLE_CAP_MS;
            int left = (int)(cap - (int)waited);
            struct pollfd p1 = {tr_fileprov_fd(fp), POLLIN, 0};
            if (left > 0 && poll(&p1, 1, busy ? (left < 10 ? left : 10) : (left < SETTLE_MS ? left : SETTLE_MS)) > 0) {
                tr_fileprov_handle(fp);
                continue;
            }
            if (busy && left > 0)
                continue;
            /* Quiet (or out of patience): read what is ready. A file written again while it
             * was being read stays marked, and the wait goes on. */
            changed |= tr_fileprov_flush(fp, left <= 0 && (int)(tr_clock_ms() - start) >= WRITER_CAP_MS);
            if (!tr_fileprov_pending(fp) || tr_clock_ms() - start > 2 * WRITER_CAP_MS)
                break;
        }
        if (tr_fileprov_pending(fp))
            changed |= tr_fileprov_flush(fp, true);
        if (changed)
            reconcile(&c);
    }
    close(sfd);
    tr_meshctl_free(c.mesh); /* the workloads' connections are theirs again */
    tr_workers_stop(c.workers);
    tr_accesslog_close();
    tr_admin_stop(c.admin);
    if (fp)
        tr_fileprov_free(fp);
    tr_kubeprov_stop(c.kube);
    tr_resolver_free(c.dns);
    tr_snapshot_reaper(-1); /* every other thread has stopped: what they let go is freed */
    close(reap_fd);
    tr_snapshot_clear();
    tr_listeners_free(c.listeners);
    tr_store_free(c.store);
    tr_pubstate_free(c.ps);
    tr_tx_memo_free(c.memo);
    tr_addrpool_free(c.pool);
    tr_addrpool_free(c.cluster_ips);
    return rc;
}
