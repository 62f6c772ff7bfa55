/* Events (events.k8s.io/v1) for what a user must see in `kubectl describe`: an object torii
 * rejects, a condition that turns False (an invalid reference, a conflict), a new leader. Status
 * is the real report; Events point at it. Written by the leader only, and sparingly: the same
 * reason about the same object at most once per five minutes, and at most a burst of 25 then one
 * every ten seconds overall (client-go's recorder limits), so a flapping object cannot flood the
 * API server. */
#include "api/object.h"
#include "base/arena.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/node.h"
#include "provider/kube/client.h"
#include "provider/kube/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#define SAME_EVENT_MS (5 * 60 * 1000)
#define BURST 25
#define REFILL_MS 10000
#define MAX_NOTE 1024
/* Remembered (object, reason) pairs; past this many, the oldest half is forgotten. */
#define MAX_SEEN 4096

struct kube_events {
    struct tr_kubeprov *p;
    struct tr_map seen; /* "kind/ns/name/reason" -> last time (ms) */
    double tokens;
    int64_t tokens_at_ms;
    uint64_t sent;
};

struct kube_events *kevents_new(struct tr_kubeprov *p)
{
    struct kube_events *e = tr_xcalloc(1, sizeof(*e));
    e->p = p;
    e->tokens = BURST;
    e->tokens_at_ms = kube_now_ms();
    return e;
}

void kevents_free(struct kube_events *e)
{
    if (!e)
        return;
    tr_map_dispose(&e->seen);
    free(e);
}

static void on_sent(void *ud, const struct tr_kc_result *res)
{
    if (res->status != 201 && res->status != 200)
        tr_log_debug("kubernetes: event not recorded: %ld %s", res->status, res->error ? res->error : "");
}

static bool old_entry(void *ud, void *val)
{
    return (int64_t)(intptr_t)val < *(const int64_t *)ud;
}

void kevent_emit(struct tr_kubeprov *p, const struct kevent *ev)
{
    struct kube_events *e = p->events;
    if (!e || !__atomic_load_n(&p->leader, __ATOMIC_ACQUIRE))
        return;
    int64_t now = kube_now_ms();
    char key[700];
    int kl = snprintf(key, sizeof(key), "%s/%s/%s/%s", ev->kind, ev->ns, ev->name, ev->reason);
    if (kl <= 0 || (size_t)kl >= sizeof(key))
        return;
    intptr_t last = (intptr_t)tr_map_get(&e->seen, key, (size_t)kl);
    if (last && now - (int64_t)last < SAME_EVENT_MS)
        return;
    e->tokens += (double)(now - e->tokens_at_ms) / REFILL_MS;
    if (e->tokens > BURST)
        e->tokens = BURST;
    e->tokens_at_ms = now;
    if (e->tokens < 1)
        return;
    e->tokens -= 1;
    if (e->seen.len >= MAX_SEEN) {
        int64_t cut = now - SAME_EVENT_MS;
        tr_map_sweep(&e->seen, old_entry, &cut);
    }
    tr_map_put(&e->seen, key, (size_t)kl, (void *)(intptr_t)(now ? now : 1));

    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    time_t t = tv.tv_sec;
    gmtime_r(&t, &tm);
    char when[40];
    size_t n = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + n, sizeof(when) - n, ".%06ldZ", (long)tv.tv_usec);

    struct tr_arena *a = tr_arena_new(2048);
    struct tr_node *root = tr_node_new(a, TR_N_MAP);
    tr_node_set(a, root, "apiVersion", tr_node_str(a, "events.k8s.io/v1"));
    tr_node_set(a, root, "kind", tr_node_str(a, "Event"));
    struct tr_node *meta = tr_node_new(a, TR_N_MAP);
    /* The name client-go gives: the object's and the time in hex nanoseconds (unique enough). */
    char name[320];
    snprintf(name, sizeof(name), "%.240s.%llx%04llx", ev->name, (unsigned long long)tv.tv_sec * 1000000ULL + (unsigned long long)tv.tv_usec,
             (unsigned long long)(++e->sent & 0xffff));
    tr_node_set(a, meta, "name", tr_node_str(a, name));
    const char *ns = ev->ns[0] ? ev->ns : "default";
    tr_node_set(a, meta, "namespace", tr_node_str(a, ns));
    tr_node_set(a, root, "metadata", meta);
    tr_node_set(a, root, "eventTime", tr_node_str(a, when));
    tr_node_set(a, root, "reportingController", tr_node_str(a, p->o.controller));
    tr_node_set(a, root, "reportingInstance", tr_node_str(a, p->o.identity));
    tr_node_set(a, root, "action", tr_node_str(a, ev->action));
    tr_node_set(a, root, "reason", tr_node_str(a, ev->reason));
    tr_node_set(a, root, "type", tr_node_str(a, ev->warning ? "Warning" : "Normal"));
    size_t nl = strlen(ev->note);
    tr_node_set(a, root, "note", tr_node_strn(a, ev->note, nl > MAX_NOTE ? MAX_NOTE : nl));
    struct tr_node *reg = tr_node_new(a, TR_N_MAP);
    tr_node_set(a, reg, "apiVersion", tr_node_str(a, ev->api_version));
    tr_node_set(a, reg, "kind", tr_node_str(a, ev->kind));
    if (ev->ns[0])
        tr_node_set(a, reg, "namespace", tr_node_str(a, ev->ns));
    tr_node_set(a, reg, "name", tr_node_str(a, ev->name));
    if (ev->uid && ev->uid[0])
        tr_node_set(a, reg, "uid", tr_node_str(a, ev->uid));
    tr_node_set(a, root, "regarding", reg);
    struct tr_buf b, path;
    tr_buf_init(&b, 0);
    tr_buf_init(&path, 0);
    tr_node_emit_json(&b, root, 0);
    tr_buf_printf(&path, "/apis/events.k8s.io/v1/namespaces/%s/events?fieldManager=torii", ns);
    struct tr_kc_call call = {.method = TR_KC_POST,
                              .path = path.data,
                              .content_type = "application/json",
                              .body = b.data,
                              .len = b.len,
                              .timeout_s = 10,
                              .on_done = on_sent};
    tr_kc_start(p->kc, &call);
    tr_buf_dispose(&b);
    tr_buf_dispose(&path);
    tr_arena_free(a);
}

void kevent_about(struct tr_kubeprov *p, enum tr_kind kind, const char *ns, const char *name, bool warning,
                  const char *reason, const char *note)
{
    const struct reflector *r = &p->refl[kind];
    char apiv[128];
    if (r->info->group[0])
        snprintf(apiv, sizeof(apiv), "%s/%s", r->info->group, r->version);
    else
        snprintf(apiv, sizeof(apiv), "%s", r->version);
    struct kevent ev = {.api_version = apiv,
                        .kind = r->info->name,
                        .ns = ns,
                        .name = name,
                        .reason = reason,
                        .action = "Reconcile",
                        .note = note,
                        .warning = warning};
    kevent_emit(p, &ev);
}
