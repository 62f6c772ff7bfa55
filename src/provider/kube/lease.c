/* Leader election with a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it.
 *
 * Every retry period a candidate reads the Lease. A Lease held by another is taken over only
 * when its record has not changed for a whole lease duration, as timed on this replica's own
 * clock from when it saw the record change: clock skew between nodes cannot hand leadership
 * over early, and a leader that stops renewing (crashed, paused) loses it after one lease
 * duration. Taking over is a write with the read resourceVersion, so of two candidates only one
 * wins. The leader renews every retry period; if no renewal succeeded within the renew deadline
 * it stops writing at once, before anyone else can have taken over (renew deadline < lease
 * duration). On shutdown the leader empties the Lease so that another replica takes over within
 * a retry period instead of a lease duration. A Lease fences nothing by itself: every status
 * write also carries the resourceVersion it was computed from. */
#include "api/json.h"
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

struct kube_lease {
    struct tr_kubeprov *p;
    struct tr_kc_req *req;
    int64_t due_ms;
    char *rv;                /* of the Lease as last read or written */
    char *record;            /* its spec as JSON: a change restarts the expiry clock */
    int64_t record_seen_ms;  /* when record last changed, on this clock */
    char *acquire_time;      /* ours, while leading */
    int64_t transitions;
    int64_t renewed_ms;      /* the last successful renewal */
    bool resigned;           /* shut down: never lead again */
    bool released;           /* the release write went out */
};

struct kube_lease *klease_new(struct tr_kubeprov *p)
{
    struct kube_lease *l = tr_xcalloc(1, sizeof(*l));
    l->p = p;
    return l;
}

void klease_free(struct kube_lease *l)
{
    if (!l)
        return;
    free(l->rv);
    free(l->record);
    free(l->acquire_time);
    free(l);
}

/* MicroTime: RFC 3339 with exactly six fractional digits. */
static void micro_now(char out[40])
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    time_t t = tv.tv_sec;
    gmtime_r(&t, &tm);
    size_t n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 40 - n, ".%06ldZ", (long)tv.tv_usec);
}

static void lease_path(struct tr_buf *b, const struct tr_kubeprov *p, bool named)
{
    tr_buf_printf(b, "/apis/coordination.k8s.io/v1/namespaces/%s/leases", p->o.lease_ns);
    if (named)
        tr_buf_printf(b, "/%s", p->o.lease_name);
}

static bool leading(const struct tr_kubeprov *p)
{
    return __atomic_load_n(&p->leader, __ATOMIC_ACQUIRE);
}

static void set_leader(struct tr_kubeprov *p, bool on, const char *why)
{
    if (leading(p) == on)
        return;
    __atomic_store_n(&p->leader, on, __ATOMIC_RELEASE);
    if (on) {
        tr_log_info("kubernetes: leading (Lease %s/%s, identity %s): writing status", p->o.lease_ns, p->o.lease_name,
                    p->o.identity);
        char note[400];
        snprintf(note, sizeof(note), "%s became leader", p->o.identity);
        struct kevent ev = {.api_version = "coordination.k8s.io/v1",
                            .kind = "Lease",
                            .ns = p->o.lease_ns,
                            .name = p->o.lease_name,
                            .reason = "LeaderElection",
                            .action = "Lead",
                            .note = note};
        kevent_emit(p, &ev);
        kstatus_lead(p);
    } else {
        tr_log_warn("kubernetes: no longer leading (%s): status is left to the leader", why);
    }
}

/* The Lease as JSON, held by holder (NULL: released). */
static char *lease_body(struct kube_lease *l, const char *holder, unsigned duration_s)
{
    struct tr_kubeprov *p = l->p;
    struct tr_arena *a = tr_arena_new(1024);
    struct tr_node *root = tr_node_new(a, TR_N_MAP);
    tr_node_set(a, root, "apiVersion", tr_node_str(a, "coordination.k8s.io/v1"));
    tr_node_set(a, root, "kind", tr_node_str(a, "Lease"));
    struct tr_node *meta = tr_node_new(a, TR_N_MAP);
    tr_node_set(a, meta, "name", tr_node_str(a, p->o.lease_name));
    tr_node_set(a, meta, "namespace", tr_node_str(a, p->o.lease_ns));
    if (l->rv)
        tr_node_set(a, meta, "resourceVersion", tr_node_str(a, l->rv));
    tr_node_set(a, root, "metadata", meta);
    struct tr_node *spec = tr_node_new(a, TR_N_MAP);
    char now[40];
    micro_now(now);
    tr_node_set(a, spec, "holderIdentity", tr_node_str(a, holder ? holder : ""));
    tr_node_set(a, spec, "leaseDurationSeconds", tr_node_int(a, duration_s));
    if (l->acquire_time)
        tr_node_set(a, spec, "acquireTime", tr_node_str(a, l->acquire_time));
    tr_node_set(a, spec, "renewTime", tr_node_str(a, now));
    tr_node_set(a, spec, "leaseTransitions", tr_node_int(a, l->transitions));
    tr_node_set(a, root, "spec", spec);
    struct tr_buf b;
    tr_buf_init(&b, 0);
    tr_node_emit_json(&b, root, 0);
    tr_arena_free(a);
    return tr_buf_steal(&b);
}

/* Takes in a Lease the server showed; returns its holder (in a, or NULL). */
static const char *take_record(struct kube_lease *l, struct tr_arena *a, const char *body, size_t len,
                               int64_t *duration_s)
{
    struct tr_buf err;
    tr_buf_init(&err, 0);
    struct tr_node *obj = tr_json_parse_one(a, body, len, &err);
    tr_buf_dispose(&err);
    const char *rv = tr_node_gets(tr_node_get(obj, "metadata"), "resourceVersion");
    free(l->rv);
    l->rv = rv ? tr_xstrdup(rv) : NULL;
    struct tr_node *spec = tr_node_get(obj, "spec");
    struct tr_buf rec;
    tr_buf_init(&rec, 0);
    tr_node_emit_json(&rec, spec, 0);
    if (!l->record || strcmp(l->record, rec.data ? rec.data : "") != 0) {
        free(l->record);
        l->record = tr_buf_steal(&rec);
        l->record_seen_ms = kube_now_ms();
    }
    tr_buf_dispose(&rec);
    l->transitions = tr_node_geti(spec, "leaseTransitions", 0);
    *duration_s = tr_node_geti(spec, "leaseDurationSeconds", 0);
    const char *holder = tr_node_gets(spec, "holderIdentity");
    return holder && holder[0] ? holder : NULL;
}

static void on_taken(void *ud, const struct tr_kc_result *res);
static void send_release(struct kube_lease *l);
static void on_released(void *ud, const struct tr_kc_result *res);

/* Writes the Lease as ours: create (POST) when it does not exist, else update from rv. */
static void take(struct kube_lease *l, bool create, bool new_holder)
{
    struct tr_kubeprov *p = l->p;
    if (new_holder || !l->acquire_time) {
        char now[40];
        micro_now(now);
        free(l->acquire_time);
        l->acquire_time = tr_xstrdup(now);
        if (new_holder && !create)
            l->transitions++;
    }
    if (create) {
        free(l->rv);
        l->rv = NULL;
        l->transitions = 0;
    }
    char *body = lease_body(l, p->o.identity, (p->o.lease_ms + 999) / 1000);
    struct tr_buf path;
    tr_buf_init(&path, 0);
    lease_path(&path, p, !create);
    tr_buf_puts(&path, "?fieldManager=torii");
    struct tr_kc_call call = {.method = create ? TR_KC_POST : TR_KC_PUT,
                              .path = path.data,
                              .content_type = "application/json",
                              .body = body,
                              .len = strlen(body),
                              .timeout_s = (int)(p->o.renew_ms / 1000) + 1,
                              .on_done = on_taken,
                              .ud = l};
    l->req = tr_kc_start(p->kc, &call);
    tr_buf_dispose(&path);
    free(body);
}

static void on_taken(void *ud, const struct tr_kc_result *res)
{
    struct kube_lease *l = ud;
    struct tr_kubeprov *p = l->p;
    l->req = NULL;
    int64_t now = kube_now_ms();
    if ((res->status == 200 || res->status == 201) && l->resigned) {
        /* Taken or renewed while shutting down: give it back from this version. */
        struct tr_arena *a = tr_arena_new(1024);
        int64_t d;
        take_record(l, a, res->body, res->len, &d);
        tr_arena_free(a);
        if (!l->released)
            send_release(l);
        return;
    }
    if (res->status == 200 || res->status == 201) {
        struct tr_arena *a = tr_arena_new(1024);
        int64_t d;
        take_record(l, a, res->body, res->len, &d);
        tr_arena_free(a);
        l->renewed_ms = now;
        set_leader(p, true, NULL);
    } else if (leading(p) && now - l->renewed_ms > (int64_t)p->o.renew_ms) {
        set_leader(p, false, "the Lease could not be renewed within the renew deadline");
    }
    l->due_ms = now + p->o.retry_ms;
}

static void on_read(void *ud, const struct tr_kc_result *res)
{
    struct kube_lease *l = ud;
    struct tr_kubeprov *p = l->p;
    l->req = NULL;
    int64_t now = kube_now_ms();
    l->due_ms = now + p->o.retry_ms;
    if (l->resigned) {
        if (res->status == 200 && !l->released) {
            struct tr_arena *a = tr_arena_new(1024);
            int64_t d;
            const char *holder = take_record(l, a, res->body, res->len, &d);
            bool mine = holder && strcmp(holder, p->o.identity) == 0;
            tr_arena_free(a);
            if (mine)
                send_release(l);
        }
        return;
    }
    if (res->status == 404) {
        take(l, true, true);
        return;
    }
    if (res->status != 200) {
        tr_log_warn("kubernetes: Lease %s/%s: %ld %s", p->o.lease_ns, p->o.lease_name, res->status,
                    res->error ? res->error : "");
        if (leading(p) && now - l->renewed_ms > (int64_t)p->o.renew_ms)
            set_leader(p, false, "the Lease could not be read");
        return;
    }
    struct tr_arena *a = tr_arena_new(1024);
    int64_t duration_s = 0;
    const char *holder = take_record(l, a, res->body, res->len, &duration_s);
    bool mine = holder && strcmp(holder, p->o.identity) == 0;
    bool expired = now - l->record_seen_ms > duration_s * 1000;
    if (holder && !mine && !expired) {
        if (leading(p))
            set_leader(p, false, "another replica holds the Lease");
        tr_arena_free(a);
        return;
    }
    tr_arena_free(a);
    take(l, false, !mine);
}

int klease_tick(struct tr_kubeprov *p, int64_t now)
{
    struct kube_lease *l = p->lease;
    if (!p->o.leader_elect || l->resigned)
        return -1;
    /* Past the renew deadline without a renewal: stop writing before anyone may take over. */
    if (leading(p) && now - l->renewed_ms > (int64_t)p->o.renew_ms)
        set_leader(p, false, "the Lease was not renewed within the renew deadline");
    if (l->req)
        return -1;
    if (now < l->due_ms)
        return (int)(l->due_ms - now);
    if (leading(p)) {
        take(l, false, false); /* renew from the copy we wrote */
        return -1;
    }
    struct tr_buf path;
    tr_buf_init(&path, 0);
    lease_path(&path, p, true);
    struct tr_kc_call call = {.method = TR_KC_GET, .path = path.data, .timeout_s = 10, .on_done = on_read, .ud = l};
    l->req = tr_kc_start(p->kc, &call);
    tr_buf_dispose(&path);
    return -1;
}

static void on_released(void *ud, const struct tr_kc_result *res)
{
    struct kube_lease *l = ud;
    l->req = NULL;
    if (res->status == 200)
        tr_log_info("kubernetes: Lease %s/%s released", l->p->o.lease_ns, l->p->o.lease_name);
    else
        tr_log_warn("kubernetes: Lease %s/%s: release failed: %ld %s", l->p->o.lease_ns, l->p->o.lease_name,
                    res->status, res->error ? res->error : "");
}

static void send_release(struct kube_lease *l)
{
    struct tr_kubeprov *p = l->p;
    l->released = true;
    /* An empty holder and a one-second duration: the next candidate takes over at once. */
    char *body = lease_body(l, NULL, 1);
    struct tr_buf path;
    tr_buf_init(&path, 0);
    lease_path(&path, p, true);
    tr_buf_puts(&path, "?fieldManager=torii");
    struct tr_kc_call call = {.method = TR_KC_PUT,
                              .path = path.data,
                              .content_type = "application/json",
                              .body = body,
                              .len = strlen(body),
                              .timeout_s = 2,
                              .on_done = on_released,
                              .ud = l};
    l->req = tr_kc_start(p->kc, &call);
    tr_buf_dispose(&path);
    free(body);
    tr_log_info("kubernetes: resigning: releasing Lease %s/%s", p->o.lease_ns, p->o.lease_name);
}

void klease_release(struct tr_kubeprov *p)
{
    struct kube_lease *l = p->lease;
    if (l->resigned)
        return;
    l->resigned = true;
    bool was = leading(p);
    __atomic_store_n(&p->leader, false, __ATOMIC_RELEASE);
    if (!p->o.leader_elect)
        return;
    if (was)
        tr_log_info("kubernetes: resigning leadership");
    /* A read or renewal in flight ends first (its answer has the resourceVersion to release
     * from); on_taken and on_read release then if the Lease is ours. */
    if (l->req)
        return;
    if (was)
        send_release(l);
}

bool klease_pending(const struct tr_kubeprov *p)
{
    return p->lease->req != NULL;
}
