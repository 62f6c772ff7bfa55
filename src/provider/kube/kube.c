/* The provider thread and its hand-over to the control thread. */
#include "provider/kube/kube.h"
#include "admin/admin.h"
#include "base/clock.h"
#include "api/json.h"
#include "api/object.h"
#include "api/schema.h"
#include "base/arena.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/node.h"
#include "provider/kube/client.h"
#include "provider/kube/config.h"
#include "provider/kube/internal.h"
#include "store/store.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

int64_t kube_now_ms(void)
{
    return (int64_t)tr_clock_ms();
}

void kube_status_message(const struct tr_kc_result *res, char *out, size_t cap)
{
    snprintf(out, cap, "%s", res->error ? res->error : "");
    if (res->error || !res->len)
        return;
    struct tr_arena *a = tr_arena_new(1024);
    struct tr_buf err;
    tr_buf_init(&err, 0);
    struct tr_node *st = tr_json_parse_one(a, res->body, res->len, &err);
    const char *msg = tr_node_gets(st, "message");
    snprintf(out, cap, "%s", msg ? msg : "");
    tr_buf_dispose(&err);
    tr_arena_free(a);
}

void kube_path(struct tr_buf *b, const struct reflector *r, const char *ns, const char *name, bool status)
{
    if (r->info->group[0])
        tr_buf_printf(b, "/apis/%s/%s", r->info->group, r->version);
    else
        tr_buf_printf(b, "/api/%s", r->version);
    if (ns && ns[0] && r->info->namespaced)
        tr_buf_printf(b, "/namespaces/%s", ns);
    tr_buf_printf(b, "/%s", r->plural);
    if (name)
        tr_buf_printf(b, "/%s%s", name, status ? "/status" : "");
}

static void push(struct tr_kubeprov *p, struct delta *d)
{
    pthread_mutex_lock(&p->lock);
    *p->deltas_tail = d;
    p->deltas_tail = &d->next;
    pthread_mutex_unlock(&p->lock);
    p->signal_due = true;
}

void kube_delta_put(struct tr_kubeprov *p, enum tr_kind kind, const char *ns, const char *name, struct tr_arena *a,
                    struct tr_node *root)
{
    struct delta *d = tr_xcalloc(1, sizeof(*d));
    d->op = DELTA_PUT;
    d->kind = kind;
    d->ns = tr_xstrdup(ns);
    d->name = tr_xstrdup(name);
    d->a = a;
    d->root = root;
    push(p, d);
}

void kube_delta_del(struct tr_kubeprov *p, enum tr_kind kind, const char *ns, const char *name)
{
    struct delta *d = tr_xcalloc(1, sizeof(*d));
    d->op = DELTA_DEL;
    d->kind = kind;
    d->ns = tr_xstrdup(ns);
    d->name = tr_xstrdup(name);
    push(p, d);
}

static void kreject_free(struct kreject *rj)
{
    free(rj->ns);
    free(rj->name);
    free(rj->note);
    free(rj->parents);
    free(rj->cls);
    free(rj);
}

static void delta_free(struct delta *d)
{
    if (d->a)
        tr_arena_free(d->a);
    free(d->ns);
    free(d->name);
    free(d);
}

static void *run(void *arg)
{
    struct tr_kubeprov *p = arg;
    for (int k = 0; k < TR_KIND__COUNT; k++)
        refl_tick(&p->refl[k], kube_now_ms());
    if (p->o.service_mode)
        refl_tick(&p->pods, kube_now_ms());
    for (;;) {
        pthread_mutex_lock(&p->lock);
        bool stopping = p->stopping, resign = p->resign_asked;
        struct tr_published *pub = p->pub_next;
        p->pub_next = NULL;
        /* Rejects wait for a first publish: their status needs to know which Gateways and
         * classes are torii's. */
        struct kreject *rejects = NULL;
        if (pub || kstatus_current(p)) {
            rejects = p->rejects;
            p->rejects = NULL;
        }
        p->resign_asked = false;
        pthread_mutex_unlock(&p->lock);
        if (pub) {
            kprov_publish(p, pub);
            kstatus_publish(p, pub);
            pub = NULL;
        }
        while (rejects) {
            struct kreject *rj = rejects;
            rejects = rj->next;
            kevent_about(p, rj->kind, rj->ns, rj->name, true, "Rejected", rj->note);
            if (!rj->had_valid)
                kstatus_rejected(p, rj);
            kreject_free(rj);
        }
        if (resign)
            klease_release(p);
        if (stopping) {
            /* The Lease's release goes out before the thread ends (at most 2 s). */
            int64_t until = kube_now_ms() + 2500;
            while (klease_pending(p) && kube_now_ms() < until)
                tr_kc_poll(p->kc, 100);
            break;
        }
        int64_t now = kube_now_ms();
        int wait = 1000;
        for (int k = 0; k < TR_KIND__COUNT; k++) {
            int w = refl_tick(&p->refl[k], now);
            if (w >= 0 && w < wait)
                wait = w;
        }
        if (p->o.service_mode) {
            int wp = refl_tick(&p->pods, now);
            if (wp >= 0 && wp < wait)
                wait = wp;
        }
        int w = klease_tick(p, now);
        if (w >= 0 && w < wait)
            wait = w;
        w = kprov_tick(p, now);
        if (w >= 0 && w < wait)
            wait = w;
        w = kstatus_tick(p, now);
        if (w >= 0 && w < wait)
            wait = w;
        if (p->signal_due) {
            p->signal_due = false;
            uint64_t one = 1;
            if (write(p->efd, &one, sizeof(one)) < 0) {
                /* The counter cannot overflow in practice; the control thread will read it. */
            }
        }
        tr_kc_poll(p->kc, wait);
    }
    return NULL;
}

/* What tr_kubeprov_start makes before anything can fail: the options' copies, the eventfd, the
 * lock, the provider itself. */
static void dispose_shell(struct tr_kubeprov *p)
{
    close(p->efd);
    pthread_mutex_destroy(&p->lock);
    free((char *)p->o.controller);
    free((char *)p->o.mesh_controller);
    free((char *)p->o.node);
    free((char *)p->o.lease_ns);
    free((char *)p->o.lease_name);
    free((char *)p->o.identity);
    free((char *)p->o.pod_ns);
    free(p);
}

struct tr_kubeprov *tr_kubeprov_start(const struct tr_kubeprov_opts *o, struct tr_buf *err)
{
    struct tr_kubeprov *p = tr_xcalloc(1, sizeof(*p));
    p->o = *o;
    p->o.controller = tr_xstrdup(o->controller);
    p->o.mesh_controller = o->mesh_controller ? tr_xstrdup(o->mesh_controller) : NULL;
    p->o.node = o->node ? tr_xstrdup(o->node) : NULL;
    p->ctrls[0] = p->o.controller;
    p->ctrls[1] = p->o.mesh_controller;
    p->o.lease_ns = tr_xstrdup(o->lease_ns ? o->lease_ns : (o->cfg->ns ? o->cfg->ns : "default"));
    p->o.lease_name = tr_xstrdup(o->lease_name ? o->lease_name : "torii");
    p->o.identity = tr_xstrdup(o->identity ? o->identity : "torii");
    p->o.pod_ns = NULL; /* set below, once the client exists */
    if (!p->o.lease_ms)
        p->o.lease_ms = 15000;
    if (!p->o.renew_ms)
        p->o.renew_ms = 10000;
    if (!p->o.retry_ms)
        p->o.retry_ms = 2000;
    p->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    pthread_mutex_init(&p->lock, NULL);
    p->deltas_tail = &p->deltas;
    /* The identity in the User-Agent tells replicas apart in the API server's audit log. */
    char ua[300];
    snprintf(ua, sizeof(ua), "torii/%s", p->o.identity);
    struct tr_kc_opts ko = {.qps = o->qps, .burst = o->burst, .user_agent = ua};
    p->kc = tr_kc_new(o->cfg, &ko, err);
    if (!p->kc) {
        dispose_shell(p);
        return NULL;
    }
    for (int k = 0; k < TR_KIND__COUNT; k++)
        refl_init(&p->refl[k], p, (enum tr_kind)k);
    p->o.pod_ns = tr_xstrdup(o->pod_ns ? o->pod_ns : p->o.lease_ns);
    refl_init_pods(&p->pods, p, p->o.pod_ns, "app.kubernetes.io/name=torii");
    p->st = kstatus_new(p);
    p->lease = klease_new(p);
    p->prov = kprov_new(p);
    p->events = kevents_new(p);
    if (!o->leader_elect)
        __atomic_store_n(&p->leader, true, __ATOMIC_RELEASE);
    srand((unsigned)(kube_now_ms() ^ (int64_t)getpid()));
    if (pthread_create(&p->thread, NULL, run, p) != 0) {
        tr_buf_puts(err, "cannot start the Kubernetes provider thread");
        tr_kubeprov_stop(p);
        return NULL;
    }
    return p;
}

void tr_kubeprov_stop(struct tr_kubeprov *p)
{
    if (!p)
        return;
    if (p->thread) {
        pthread_mutex_lock(&p->lock);
        p->stopping = true;
        p->resign_asked = true;
        pthread_mutex_unlock(&p->lock);
        tr_kc_wakeup(p->kc);
        pthread_join(p->thread, NULL);
    }
    for (int k = 0; k < TR_KIND__COUNT; k++)
        refl_dispose(&p->refl[k]);
    refl_dispose(&p->pods);
    kstatus_free(p->st);
    klease_free(p->lease);
    kprov_free(p->prov);
    kevents_free(p->events);
    while (p->rejects) {
        struct kreject *rj = p->rejects;
        p->rejects = rj->next;
        kreject_free(rj);
    }
    tr_kc_free(p->kc);
    while (p->deltas) {
        struct delta *d = p->deltas;
        p->deltas = d->next;
        delta_free(d);
    }
    if (p->pub_next)
        tr_published_release(p->pub_next);
    dispose_shell(p);
}

int tr_kubeprov_fd(const struct tr_kubeprov *p)
{
    return p->efd;
}

bool tr_kubeprov_synced(const struct tr_kubeprov *p)
{
    return __atomic_load_n(&p->synced, __ATOMIC_ACQUIRE);
}

/* Where an object from the API server is said to come from, in messages and rejects. */
static char *origin(enum tr_kind kind, const char *ns, const char *name)
{
    struct tr_buf b;
    tr_buf_init(&b, 0);
    if (ns[0])
        tr_buf_printf(&b, "kubernetes: %s %s/%s", tr_kind_name(kind), ns, name);
    else
        tr_buf_printf(&b, "kubernetes: %s %s", tr_kind_name(kind), name);
    return tr_buf_steal(&b);
}

/* Rejected: the object keeps its last valid version, and the reasons are listed (the admin API's
 * "rejected", the object's status where torii writes one). */
static void reject(struct tr_kubeprov *p, struct tr_store *store, const char *where, enum tr_kind kind, const char *ns,
                   const char *name, const struct tr_verrs *errs, bool had_valid, struct kreject *rj)
{
    /* An Event for kubectl describe: the first problem, and how many more. */
    rj->had_valid = had_valid;
    rj->kind = kind;
    rj->ns = tr_xstrdup(ns);
    rj->name = tr_xstrdup(name);
    struct tr_buf note;
    tr_buf_init(&note, 0);
    if (errs->n)
        tr_buf_printf(&note, "%s: %s: %s", had_valid ? "torii keeps the last valid version" : "torii ignores it",
                      errs->v[0].path, errs->v[0].msg);
    if (errs->n > 1)
        tr_buf_printf(&note, " (and %zu more problems)", errs->n - 1);
    rj->note = tr_buf_steal(&note);
    pthread_mutex_lock(&p->lock);
    rj->next = p->rejects;
    p->rejects = rj;
    pthread_mutex_unlock(&p->lock);

    struct tr_reject *r = tr_xcalloc(1, sizeof(*r));
    r->kind = (int)kind;
    r->ns = tr_xstrdup(ns);
    r->name = tr_xstrdup(name);
    r->file = tr_xstrdup(where);
    size_t n = errs->n < 100 ? errs->n : 100;
    r->msgs = tr_xcalloc(n ? n : 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        struct tr_buf b;
        tr_buf_init(&b, 0);
        tr_buf_printf(&b, "%s: %s: %s", where, errs->v[i].path, errs->v[i].msg);
        tr_log_warn("%s", b.data);
        r->msgs[r->nmsgs++] = tr_buf_steal(&b);
    }
    tr_store_set_rejects(store, where, r, 1);
}

bool tr_kubeprov_apply(struct tr_kubeprov *p, struct tr_store *store)
{
    uint64_t count;
    if (read(p->efd, &count, sizeof(count)) < 0) {
        /* Nothing signalled: deltas may still wait (taken below). */
    }
    pthread_mutex_lock(&p->lock);
    struct delta *list = p->deltas;
    p->deltas = NULL;
    p->deltas_tail = &p->deltas;
    pthread_mutex_unlock(&p->lock);
    bool changed = false;
    int64_t now = (int64_t)time(NULL);
    while (list) {
        struct delta *d = list;
        list = d->next;
        char *where = origin(d->kind, d->ns, d->name);
        if (d->op == DELTA_DEL) {
            changed |= tr_store_del(store, d->kind, d->ns, d->name) != 0;
            tr_store_set_rejects(store, where, NULL, 0);
        } else {
            const struct tr_obj *prev = tr_store_get(store, d->kind, d->ns, d->name);
            struct tr_verrs errs;
            tr_verrs_init(&errs);
            struct tr_obj *o = NULL;
            struct tr_arena *a = d->a;
            d->a = NULL;
            /* What a status for a rejected object needs, taken before decoding (which frees the
             * tree when it fails). */
            struct kreject *rj = tr_xcalloc(1, sizeof(*rj));
            const struct tr_node *meta = tr_node_get(d->root, "metadata");
            rj->generation = tr_node_geti(meta, "generation", 0);
            const struct tr_node *prefs = tr_node_path(d->root, "spec.parentRefs");
            if (prefs) {
                struct tr_buf b;
                tr_buf_init(&b, 1 << 16);
                if (tr_node_emit_json(&b, prefs, 0) == 0)
                    rj->parents = tr_buf_steal(&b);
                tr_buf_dispose(&b);
            }
            const char *cls = tr_node_gets(tr_node_get(d->root, "spec"), "gatewayClassName");
            rj->cls = cls ? tr_xstrdup(cls) : NULL;
            int rc = tr_obj_decode(a, d->root, where, 0, prev, now, ++p->seq, &o, &errs, NULL);
            if (rc == 0) {
                tr_obj_take_server_meta(o);
                tr_store_put(store, o);
                tr_store_set_rejects(store, where, NULL, 0);
                changed = true;
            } else if (rc != -1) {
                reject(p, store, where, d->kind, d->ns, d->name, &errs, prev != NULL, rj);
                rj = NULL;
                changed = true; /* the rejects changed: status says so */
            }
            if (rj)
                kreject_free(rj);
            tr_verrs_dispose(&errs);
        }
        free(where);
        delta_free(d);
    }
    return changed;
}

void tr_kubeprov_publish(struct tr_kubeprov *p, struct tr_published *pub)
{
    pthread_mutex_lock(&p->lock);
    struct tr_published *old = p->pub_next;
    p->pub_next = pub;
    pthread_mutex_unlock(&p->lock);
    if (old)
        tr_published_release(old);
    tr_kc_wakeup(p->kc);
}

void tr_kubeprov_resign(struct tr_kubeprov *p)
{
    pthread_mutex_lock(&p->lock);
    p->resign_asked = true;
    pthread_mutex_unlock(&p->lock);
    tr_kc_wakeup(p->kc);
}

void tr_kubeprov_stats(const struct tr_kubeprov *p, struct tr_kubeprov_stats *out)
{
    out->lists = __atomic_load_n(&p->stats.lists, __ATOMIC_RELAXED);
    out->watches = __atomic_load_n(&p->stats.watches, __ATOMIC_RELAXED);
    out->relists = __atomic_load_n(&p->stats.relists, __ATOMIC_RELAXED);
    out->events = __atomic_load_n(&p->stats.events, __ATOMIC_RELAXED);
    out->status_writes = __atomic_load_n(&p->stats.status_writes, __ATOMIC_RELAXED);
    out->status_conflicts = __atomic_load_n(&p->stats.status_conflicts, __ATOMIC_RELAXED);
    out->leader = __atomic_load_n(&p->leader, __ATOMIC_RELAXED);
}
