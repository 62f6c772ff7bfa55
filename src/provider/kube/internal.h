/* Shared inside src/provider/kube/: the provider's state on its thread. */
#ifndef TR_PROVIDER_KUBE_INTERNAL_H
#define TR_PROVIDER_KUBE_INTERNAL_H

#include "api/kind.h"
#include "base/buf.h"
#include "base/map.h"
#include "provider/kube/kube.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct tr_arena;
struct tr_node;
struct tr_kc;
struct tr_kc_req;

/* What the provider knows of one object, as the API server last showed it. */
struct kube_known {
    char *rv;          /* its resourceVersion */
    uint64_t hash;     /* of what torii reads: all but status and volatile metadata */
    uint64_t epoch;    /* the last list that held it */
    char *observed;    /* its status as JSON (kinds torii writes status for), or NULL */
    /* Status writing (status.c): what torii wants it to say, as JSON, or NULL when torii has
     * nothing to say; dirty: desired and observed may differ. */
    char *desired;
    bool dirty;
    bool inflight;
    int64_t written_ms; /* when torii last wrote its status (monotonic ms) */
    /* Pods (the pods reflector): what an EndpointSlice needs of a torii replica. */
    char *pod_ip, *pod_node, *pod_uid;
    bool pod_ready, pod_terminating;
};

enum refl_state { REFL_DISCOVER, REFL_LIST, REFL_WATCH, REFL_WAIT };

/* One kind's list and watch. */
struct reflector {
    struct tr_kubeprov *p;
    enum tr_kind kind;
    const struct tr_kind_info *info;
    char plural[64];
    char version[32];  /* the served version found by discovery */
    enum refl_state state;
    enum refl_state next; /* REFL_WAIT: what to do when due */
    int vi;               /* discovery: the version being tried */
    char *rv;             /* where the watch resumes */
    char *cont;           /* the list's continue token */
    uint64_t epoch;       /* bumped per list from scratch */
    bool listed;          /* listed once, or known not to be served */
    /* Not watched: Pods while torii is not the mesh (the mesh's workloads only matter to it,
     * and a cluster's Pods are many). Counts as listed. */
    bool off;
    bool absent;          /* not served (its CRD is not installed) */
    bool relist;          /* the watch asked for a new list (410) */
    bool bad_line;        /* the watch stream held something that is not an event */
    struct tr_kc_req *req;
    struct tr_map known;  /* "ns/name" -> struct kube_known* */
    struct tr_buf line;   /* a watch event not yet complete */
    /* The pods reflector: torii's own replicas, kept here and never handed to the control
     * thread; only in ns_scope and matching selector. */
    bool internal;
    const char *ns_scope, *selector;
    int64_t due_ms;
    int backoff_ms;
    int64_t healthy_since_ms;
};

enum delta_op { DELTA_PUT, DELTA_DEL };

/* A change for the control thread. */
struct delta {
    enum delta_op op;
    enum tr_kind kind;
    char *ns, *name;
    struct tr_arena *a; /* PUT: the object, stripped */
    struct tr_node *root;
    struct delta *next;
};

struct tr_kubeprov {
    struct tr_kubeprov_opts o;
    /* The controller names of torii's status entries: the gateway's, then the mesh's when it
     * runs as the mesh; NULL-terminated. */
    const char *ctrls[3];
    struct tr_kc *kc;
    pthread_t thread;
    int efd;      /* tells the control thread that deltas wait */
    pthread_mutex_t lock; /* deltas, pub_next, resign */
    struct delta *deltas, **deltas_tail;
    bool signal_due;         /* provider thread: deltas were queued this turn */
    struct tr_published *pub_next; /* the latest publish not yet taken by the provider thread */
    bool resign_asked;
    bool stopping;
    bool synced; /* atomic */
    struct reflector refl[TR_KIND__COUNT];
    struct reflector pods; /* Service mode: the torii replicas, for EndpointSlices */
    uint64_t seq;
    struct tr_kubeprov_stats stats; /* atomic fields */
    /* Status writing and leadership (status.c, lease.c). */
    bool leader; /* atomic: this replica may write */
    struct kube_status *st;
    struct kube_lease *lease;
    struct kube_prov *prov;
    struct kube_events *events;
    struct kreject *rejects; /* under lock: rejected objects to tell about */
};

/* A rejected object, from the control thread, for an Event and, when torii has no valid
 * version of it, for its status. */
struct kreject {
    enum tr_kind kind;
    char *ns, *name, *note;
    bool had_valid;
    int64_t generation;
    char *parents;  /* a route's spec.parentRefs as JSON, or NULL */
    char *cls;      /* a Gateway's gatewayClassName, or NULL */
    struct kreject *next;
};

/* Monotonic milliseconds: every timer of the provider thread, the client's and the
 * credentials' included. */
int64_t kube_now_ms(void);
struct tr_kc_result;
/* The message of an answer for logs: the transfer's error, or the Status body's message. */
void kube_status_message(const struct tr_kc_result *res, char *out, size_t cap);
/* Queues a change for the control thread. */
void kube_delta_put(struct tr_kubeprov *p, enum tr_kind kind, const char *ns, const char *name, struct tr_arena *a,
                    struct tr_node *root);
void kube_delta_del(struct tr_kubeprov *p, enum tr_kind kind, const char *ns, const char *name);
/* The path of a kind's collection ("/apis/G/V/plural"), or of one object with name (and
 * "/status" when status is set) into b. */
void kube_path(struct tr_buf *b, const struct reflector *r, const char *ns, const char *name, bool status);

/* Reflectors (reflect.c). */
void refl_init(struct reflector *r, struct tr_kubeprov *p, enum tr_kind kind);
/* The pods of namespace ns matching the label selector, kept in the reflector only. */
void refl_init_pods(struct reflector *r, struct tr_kubeprov *p, const char *ns, const char *selector);
void refl_dispose(struct reflector *r);
/* Acts if due; returns ms until it next needs a call, or -1 when it waits for a request. */
int refl_tick(struct reflector *r, int64_t now);

/* Status writing (status.c): desired statuses from the control thread, observed ones from the
 * reflectors, writes while leading. */
struct kube_status *kstatus_new(struct tr_kubeprov *p);
void kstatus_free(struct kube_status *s);
/* The reflector saw k's status (new object, or changed status). */
void kstatus_observed(struct tr_kubeprov *p, struct reflector *r, const char *key, struct kube_known *k);
/* An object torii rejected and holds no valid version of: its status says so (routes of
 * torii's Gateways, Gateways of torii's classes), until a version is accepted or it is gone. */
void kstatus_rejected(struct tr_kubeprov *p, const struct kreject *rj);
/* A new publish: desired statuses to compare. Takes pub's reference. */
void kstatus_publish(struct tr_kubeprov *p, struct tr_published *pub);
/* Leadership began: compare every object once. */
void kstatus_lead(struct tr_kubeprov *p);
/* Writes what is due; returns ms until it next needs a call, or -1. */
int kstatus_tick(struct tr_kubeprov *p, int64_t now);

/* Generated objects: a Service per Gateway (provision.c). */
struct kube_prov *kprov_new(struct tr_kubeprov *p);
void kprov_free(struct kube_prov *v);
/* Brings the generated objects in line with pub (while leading). */
void kprov_publish(struct tr_kubeprov *p, const struct tr_published *pub);
/* The replicas changed (a pod became ready, went away): EndpointSlices are due. */
void kprov_pods_changed(struct tr_kubeprov *p);
/* Acts on kprov_pods_changed; returns ms until it needs a call, or -1. */
int kprov_tick(struct tr_kubeprov *p, int64_t now);
/* The publish the status writer holds (NULL before the first). */
const struct tr_published *kstatus_current(const struct tr_kubeprov *p);

/* Events (events.c). */
struct kevent {
    const char *api_version, *kind, *ns, *name, *uid; /* what it is about (ns "" when cluster-scoped) */
    const char *reason, *action, *note;
    bool warning;
};
struct kube_events *kevents_new(struct tr_kubeprov *p);
void kevents_free(struct kube_events *e);
/* Records ev if leading, within the limits (else drops it). */
void kevent_emit(struct tr_kubeprov *p, const struct kevent *ev);
/* An Event about an object of a kind torii watches. */
void kevent_about(struct tr_kubeprov *p, enum tr_kind kind, const char *ns, const char *name, bool warning,
                  const char *reason, const char *note);

/* Leader election (lease.c). */
struct kube_lease *klease_new(struct tr_kubeprov *p);
void klease_free(struct kube_lease *l);
int klease_tick(struct tr_kubeprov *p, int64_t now);
/* Stops leading for good and releases the Lease (once), if held. */
void klease_release(struct tr_kubeprov *p);
/* Is a Lease request in flight (shutdown waits for the release)? */
bool klease_pending(const struct tr_kubeprov *p);

#endif
