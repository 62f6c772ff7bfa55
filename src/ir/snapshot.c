#include "ir/snapshot.h"
#include "base/mem.h"
#include "store/store.h"
#include "translate/translate.h"

#include <pthread.h>
#include <stdlib.h>

struct tr_snapshot {
    int refs; /* atomic */
    uint64_t generation;
    struct tr_view *view;
    struct tr_tx *tx;
};

/* The current snapshot. Readers take a reference under the lock: loading the pointer and
 * bumping its count must be one step, or the last reference could drop in between. Workers
 * take it once per wake-up, not per request, so the lock is cold. */
static pthread_mutex_t cur_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tr_snapshot *cur;

struct tr_snapshot *tr_snapshot_new(struct tr_view *v, struct tr_tx *tx, uint64_t generation)
{
    struct tr_snapshot *s = tr_xcalloc(1, sizeof(*s));
    s->refs = 1;
    s->view = v;
    s->tx = tx;
    s->generation = generation;
    return s;
}

void tr_snapshot_publish(struct tr_snapshot *s)
{
    pthread_mutex_lock(&cur_lock);
    struct tr_snapshot *old = cur;
    cur = s;
    pthread_mutex_unlock(&cur_lock);
    tr_snapshot_release(old);
}

void tr_snapshot_clear(void)
{
    tr_snapshot_publish(NULL);
}

struct tr_snapshot *tr_snapshot_acquire(void)
{
    pthread_mutex_lock(&cur_lock);
    struct tr_snapshot *s = cur ? tr_snapshot_ref(cur) : NULL;
    pthread_mutex_unlock(&cur_lock);
    return s;
}

struct tr_snapshot *tr_snapshot_ref(struct tr_snapshot *s)
{
    __atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
    return s;
}

void tr_snapshot_release(struct tr_snapshot *s)
{
    if (!s || __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    tr_tx_free(s->tx);
    tr_view_free(s->view);
    free(s);
}

const struct tr_ir *tr_snapshot_ir(const struct tr_snapshot *s)
{
    return tr_tx_ir(s->tx);
}

const struct tr_view *tr_snapshot_view(const struct tr_snapshot *s)
{
    return s->view;
}

uint64_t tr_snapshot_generation(const struct tr_snapshot *s)
{
    return s->generation;
}
