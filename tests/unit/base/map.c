#include "test.h"

#include "base/map.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VAL(i) ((void *)(uintptr_t)((i) + 1))

TEST(map_put_get_replace)
{
    struct tr_map m = {0};
    ASSERT_NULL(tr_map_get(&m, "a", 1)); /* an empty map answers without slots */
    ASSERT_NULL(tr_map_put(&m, "a", 1, VAL(1)));
    ASSERT_NULL(tr_map_put(&m, "ab", 2, VAL(2)));
    ASSERT(tr_map_get(&m, "a", 1) == VAL(1));
    ASSERT(tr_map_get(&m, "ab", 2) == VAL(2));
    ASSERT_NULL(tr_map_get(&m, "abc", 2 + 1));
    ASSERT(tr_map_put(&m, "a", 1, VAL(9)) == VAL(1)); /* returns the old value */
    ASSERT(tr_map_get(&m, "a", 1) == VAL(9));
    ASSERT_EQ(m.len, 2);
    tr_map_dispose(&m);
    ASSERT_EQ(m.len, 0);
}

TEST(map_key_is_copied_and_length_counts)
{
    struct tr_map m = {0};
    char key[8] = "k1";
    tr_map_put(&m, key, 2, VAL(1));
    key[1] = '2'; /* the map kept its own copy */
    ASSERT(tr_map_get(&m, "k1", 2) == VAL(1));
    ASSERT_NULL(tr_map_get(&m, "k2", 2));
    /* klen, not NUL, ends a key: "k1" with length 1 is "k". */
    ASSERT_NULL(tr_map_get(&m, "k1", 1));
    tr_map_dispose(&m);
}

TEST(map_many_keys_grow_and_delete)
{
    struct tr_map m = {0};
    char k[32];
    enum { N = 2000 };
    for (int i = 0; i < N; i++) {
        int kl = snprintf(k, sizeof(k), "ns/obj-%d", i);
        ASSERT_NULL(tr_map_put(&m, k, (size_t)kl, VAL(i)));
    }
    ASSERT_EQ(m.len, N);
    /* Delete every third key: backward-shift deletion must keep the others reachable. */
    for (int i = 0; i < N; i += 3) {
        int kl = snprintf(k, sizeof(k), "ns/obj-%d", i);
        ASSERT(tr_map_del(&m, k, (size_t)kl) == VAL(i));
    }
    for (int i = 0; i < N; i++) {
        int kl = snprintf(k, sizeof(k), "ns/obj-%d", i);
        void *v = tr_map_get(&m, k, (size_t)kl);
        if (i % 3 == 0)
            ASSERT_NULL(v);
        else
            ASSERT(v == VAL(i));
    }
    ASSERT_NULL(tr_map_del(&m, "missing", 7));
    tr_map_dispose(&m);
}

/* A dense table grows at seven eighths full: 3,500 keys fit 4,096 slots (a plain one takes
 * 8,192), every key stays reachable through deletes, and it still shrinks when mostly empty. */
TEST(map_dense_grows_later)
{
    struct tr_map m = {.dense = true}, plain = {0};
    char k[32];
    enum { N = 3500 };
    for (int i = 0; i < N; i++) {
        int kl = snprintf(k, sizeof(k), "dir/file-%d.yaml", i);
        ASSERT_NULL(tr_map_put(&m, k, (size_t)kl, VAL(i)));
        ASSERT_NULL(tr_map_put(&plain, k, (size_t)kl, VAL(i)));
    }
    ASSERT_EQ(m.cap, 4096);
    ASSERT_EQ(plain.cap, 8192);
    for (int i = 0; i < N; i += 2) {
        int kl = snprintf(k, sizeof(k), "dir/file-%d.yaml", i);
        ASSERT(tr_map_del(&m, k, (size_t)kl) == VAL(i));
    }
    for (int i = 0; i < N; i++) {
        int kl = snprintf(k, sizeof(k), "dir/file-%d.yaml", i);
        ASSERT(tr_map_get(&m, k, (size_t)kl) == (i % 2 ? VAL(i) : NULL));
    }
    for (int i = 1; i < N; i += 2) {
        int kl = snprintf(k, sizeof(k), "dir/file-%d.yaml", i);
        ASSERT(tr_map_del(&m, k, (size_t)kl) == VAL(i));
    }
    ASSERT_EQ(m.len, 0);
    ASSERT_EQ(m.cap, 16);
    tr_map_dispose(&m);
    tr_map_dispose(&plain);
}

TEST(map_iterate_visits_each_once)
{
    struct tr_map m = {0};
    char k[16];
    int seen[100] = {0};
    for (int i = 0; i < 100; i++) {
        int kl = snprintf(k, sizeof(k), "%d", i);
        tr_map_put(&m, k, (size_t)kl, VAL(i));
    }
    size_t it = 0, count = 0;
    struct tr_map_slot *s;
    while ((s = tr_map_next(&m, &it))) {
        int i = (int)((uintptr_t)s->val - 1);
        ASSERT(i >= 0 && i < 100);
        seen[i]++;
        count++;
    }
    ASSERT_EQ(count, 100);
    for (int i = 0; i < 100; i++)
        ASSERT_EQ(seen[i], 1);
    tr_map_dispose(&m);
}

TEST(map_delete_then_reinsert_churn)
{
    /* A small map that keeps deleting and inserting: probe chains wrap around the table end. */
    struct tr_map m = {0};
    char k[16];
    for (int round = 0; round < 500; round++) {
        int kl = snprintf(k, sizeof(k), "r%d", round);
        tr_map_put(&m, k, (size_t)kl, VAL(round));
        if (round >= 8) {
            kl = snprintf(k, sizeof(k), "r%d", round - 8);
            ASSERT(tr_map_del(&m, k, (size_t)kl) == VAL(round - 8));
        }
        ASSERT(m.len <= 9);
    }
    for (int round = 492; round < 500; round++) {
        int kl = snprintf(k, sizeof(k), "r%d", round);
        ASSERT(tr_map_get(&m, k, (size_t)kl) == VAL(round));
    }
    tr_map_dispose(&m);
}

TEST(hash_is_fnv1a)
{
    ASSERT_EQ(tr_hash("", 0), (long long)1469598103934665603ULL);
    ASSERT(tr_hash("a", 1) != tr_hash("b", 1));
    ASSERT_EQ(tr_hash("ab", 2), tr_hash("abc", 2));
}

static bool odd_gone(void *ud, void *val)
{
    int *dropped = ud;
    if (((uintptr_t)val & 1) == 0)
        return false;
    (*dropped)++;
    return true;
}

/* A sweep removes exactly the entries it is told are gone, even when deleting shifts the
 * others back through the slots; the rest stay reachable. */
TEST(map_sweep_removes_what_is_gone)
{
    struct tr_map m = {0};
    char k[16];
    for (int i = 1; i <= 300; i++) {
        int kl = snprintf(k, sizeof(k), "k%d", i);
        tr_map_put(&m, k, (size_t)kl, VAL(i));
    }
    int dropped = 0;
    ASSERT_EQ(tr_map_sweep(&m, odd_gone, &dropped), 150);
    ASSERT_EQ(dropped, 150);
    ASSERT_EQ(m.len, 150);
    for (int i = 1; i <= 300; i++) {
        int kl = snprintf(k, sizeof(k), "k%d", i);
        ASSERT(tr_map_get(&m, k, (size_t)kl) == (i % 2 ? VAL(i) : NULL)); /* VAL(even) is odd: gone */
    }
    ASSERT_EQ(tr_map_sweep(&m, odd_gone, &dropped), 0);
    tr_map_dispose(&m);
}

/* A table mostly emptied by deletes shrinks, and keeps what is left reachable. */
TEST(map_shrinks_after_deletes)
{
    struct tr_map m = {0};
    char k[32];
    for (int i = 0; i < 10000; i++) {
        snprintf(k, sizeof(k), "route-%05d", i);
        tr_map_put(&m, k, strlen(k), (void *)(uintptr_t)(i + 1));
    }
    size_t full = m.cap;
    for (int i = 0; i < 10000; i++) {
        if (i % 1000 == 7)
            continue;
        snprintf(k, sizeof(k), "route-%05d", i);
        ASSERT_EQ((uintptr_t)tr_map_del(&m, k, strlen(k)), (uintptr_t)(i + 1));
    }
    ASSERT_EQ(m.len, 10);
    ASSERT(m.cap <= 128 && m.cap < full);
    for (int i = 7; i < 10000; i += 1000) {
        snprintf(k, sizeof(k), "route-%05d", i);
        ASSERT_EQ((uintptr_t)tr_map_get(&m, k, strlen(k)), (uintptr_t)(i + 1));
    }
    tr_map_dispose(&m);
}

/* Values that own their keys: nothing copied, nothing freed by the map. A sweep whose callback
 * frees the value (and so its key) still finds and deletes every gone entry, and a replaced
 * value's key is not used after it goes (ASan). */
struct owned {
    int i;
    char key[16];
};

static bool owned_odd_gone(void *ud, void *val)
{
    struct owned *o = val;
    if (o->i % 2 == 0)
        return false;
    (*(int *)ud)++;
    free(o);
    return true;
}

TEST(map_borrowed_keys_live_in_values)
{
    struct tr_map m = {.borrow_keys = true};
    for (int i = 1; i <= 300; i++) {
        struct owned *o = malloc(sizeof(*o));
        o->i = i;
        snprintf(o->key, sizeof(o->key), "k%d", i);
        ASSERT_NULL(tr_map_put(&m, o->key, strlen(o->key), o));
    }
    /* A new value under the same key takes the new value's key; the old one can go. */
    struct owned *o2 = malloc(sizeof(*o2));
    o2->i = 2;
    snprintf(o2->key, sizeof(o2->key), "k2");
    free(tr_map_put(&m, o2->key, 2, o2));
    int dropped = 0;
    ASSERT_EQ(tr_map_sweep(&m, owned_odd_gone, &dropped), 150);
    ASSERT_EQ(dropped, 150);
    char k[16];
    for (int i = 1; i <= 300; i++) {
        int kl = snprintf(k, sizeof(k), "k%d", i);
        struct owned *o = tr_map_get(&m, k, (size_t)kl);
        if (i % 2) {
            ASSERT_NULL(o);
        } else {
            ASSERT_NOT_NULL(o);
            ASSERT_EQ(o->i, i);
        }
    }
    size_t it = 0;
    struct tr_map_slot *s;
    while ((s = tr_map_next(&m, &it))) {
        ASSERT(s->key == ((struct owned *)s->val)->key); /* the value's own, not a copy */
        free(s->val);
    }
    tr_map_dispose(&m);
}
