#include "test.h"

#include "base/arena.h"

#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

TEST(arena_alloc_aligned_and_distinct)
{
    struct tr_arena *a = tr_arena_new(256);
    char *prev = NULL;
    for (size_t len = 1; len < 40; len++) {
        char *p = tr_arena_alloc(a, len);
        ASSERT_EQ((uintptr_t)p % 8, 0); /* every type torii keeps in an arena */
        memset(p, 0x5a, len); /* ASan catches an overlap or a short block */
        ASSERT(p != prev);
        prev = p;
    }
    ASSERT_NOT_NULL(tr_arena_alloc(a, 0)); /* never NULL, even for 0 bytes */
    tr_arena_free(a);
}

TEST(arena_strings_packed_structs_aligned)
{
    struct tr_arena *a = tr_arena_new(256);
    char *s1 = tr_arena_strdup(a, "ab");  /* 3 bytes */
    char *s2 = tr_arena_strdup(a, "cde"); /* right behind it */
    ASSERT(s2 == s1 + 3);
    char *p = tr_arena_printf(a, "%d", 42);
    ASSERT(p == s2 + 4);
    ASSERT_STREQ(p, "42");
    uint64_t *u = tr_arena_alloc(a, sizeof(*u)); /* the next word boundary */
    ASSERT_EQ((uintptr_t)u % 8, 0);
    ASSERT((char *)u >= p + 3 && (char *)u < p + 3 + 8);
    *u = 1;
    ASSERT_EQ(tr_arena_used(a), (size_t)((char *)u - s1) + 8); /* the padding counts as used */
    ASSERT_STREQ(s1, "ab");
    ASSERT_STREQ(s2, "cde");
    tr_arena_free(a);
}

TEST(arena_zalloc_is_zeroed_after_reset)
{
    struct tr_arena *a = tr_arena_new(1024);
    unsigned char *p = tr_arena_alloc(a, 100);
    memset(p, 0xff, 100);
    tr_arena_reset(a);
    unsigned char *q = tr_arena_zalloc(a, 100);
    for (int i = 0; i < 100; i++)
        ASSERT_EQ(q[i], 0);
    tr_arena_free(a);
}

TEST(arena_large_block_keeps_current_chunk)
{
    struct tr_arena *a = tr_arena_new(1024);
    char *small1 = tr_arena_alloc(a, 16);
    char *big = tr_arena_alloc(a, 100000); /* its own chunk */
    memset(big, 1, 100000);
    char *small2 = tr_arena_alloc(a, 16);
    /* The small blocks share the first chunk: the big one did not waste its free space. */
    ASSERT_EQ(small2 - small1, 16);
    tr_arena_free(a);
}

TEST(arena_used_counts_and_reset_clears)
{
    struct tr_arena *a = tr_arena_new(512);
    ASSERT_EQ(tr_arena_used(a), 0);
    tr_arena_alloc(a, 10);
    size_t u = tr_arena_used(a);
    ASSERT(u >= 10);
    tr_arena_alloc(a, 5000);
    ASSERT(tr_arena_used(a) >= u + 5000);
    tr_arena_reset(a);
    ASSERT_EQ(tr_arena_used(a), 0);
    tr_arena_free(a);
}

TEST(arena_strings)
{
    struct tr_arena *a = tr_arena_new(256);
    char *s = tr_arena_strndup(a, "hello world", 5);
    ASSERT_STREQ(s, "hello");
    ASSERT_STREQ(tr_arena_strdup(a, ""), "");
    ASSERT_STREQ(tr_arena_printf(a, "%s-%d", "x", 42), "x-42");
    /* Longer than printf's stack buffer: the second vsnprintf path. */
    char want[1001];
    memset(want, 'q', 1000);
    want[1000] = '\0';
    ASSERT_STREQ(tr_arena_printf(a, "%s", want), want);
    tr_arena_free(a);
}

struct cleanup_probe {
    int *log; /* log[0] collects digits */
    int id;
};

static void record(void *data)
{
    struct cleanup_probe *p = data;
    p->log[0] = p->log[0] * 10 + p->id;
}

TEST(arena_cleanups_run_last_first_on_reset_and_free)
{
    int log[1] = {0};
    struct cleanup_probe p1 = {log, 1}, p2 = {log, 2}, p3 = {log, 3};
    struct tr_arena *a = tr_arena_new(256);
    tr_arena_on_reset(a, record, &p1);
    tr_arena_on_reset(a, record, &p2);
    tr_arena_reset(a);
    ASSERT_EQ(log[0], 21);
    tr_arena_reset(a); /* already run: not again */
    ASSERT_EQ(log[0], 21);
    tr_arena_on_reset(a, record, &p3);
    tr_arena_free(a);
    ASSERT_EQ(log[0], 213);
    tr_arena_free(NULL);
}

TEST(arena_survives_many_resets)
{
    struct tr_arena *a = tr_arena_new(256);
    for (int round = 0; round < 50; round++) {
        for (int i = 0; i < 100; i++) {
            int *p = TR_ANEW(a, int);
            ASSERT_EQ(*p, 0);
            *p = i;
        }
        tr_arena_reset(a);
    }
    tr_arena_free(a);
}

/* Arenas in a slab take their blocks back to back from shared pages: nothing is rounded up to
 * a chunk, two arenas' blocks interleave, strings stay byte-packed, and the pages go once every
 * arena that used them is freed, in any order and after the slab itself (ASan: no leak, no use
 * after free). */
TEST(arena_slab_blocks_back_to_back)
{
    size_t mapped = tr_slab_mapped();
    struct tr_slab *s = tr_slab_new(4096);
    struct tr_arena *a = tr_arena_new_in(s);
    struct tr_arena *b = tr_arena_new_in(s);
    ASSERT((char *)b > (char *)a && (char *)b < (char *)a + 128); /* both arenas in one page */
    char *a1 = tr_arena_alloc(a, 24);
    char *a2 = tr_arena_alloc(a, 8);
    ASSERT(a2 == a1 + 24);
    char *s1 = tr_arena_strdup(a, "xyz");
    ASSERT(s1 == a2 + 8);
    uint64_t *w = tr_arena_alloc(a, sizeof(*w));
    ASSERT_EQ((uintptr_t)w % 8, 0);
    ASSERT((char *)w == s1 + 8); /* 4 bytes of string, 4 of padding */
    *w = 7;
    char *b1 = tr_arena_alloc(b, 16); /* b is in this page: no reference to it is carved */
    ASSERT(b1 == (char *)w + 8);
    ASSERT_EQ(tr_arena_used(a), 24 + 8 + 4 + 4 + 8);
    memset(b1, 1, 16);
    /* A block that does not fit in what is left of the page, too large for a quarter of one:
     * a page of its own, and the shared page's space is not given up. */
    char *big = tr_arena_alloc(a, 4000);
    memset(big, 2, 4000);
    char *after = tr_arena_alloc(a, 8);
    ASSERT(after > b1 && after < b1 + 64);
    /* Many blocks: new pages as they fill. */
    char *prev = NULL;
    for (int i = 0; i < 1000; i++) {
        char *p = tr_arena_zalloc(b, 40);
        ASSERT(p != prev);
        prev = p;
    }
    tr_arena_free(a);
    tr_slab_free(s); /* b still holds its pages */
    ASSERT_EQ(b1[15], 1);
    tr_arena_free(b);
    ASSERT_EQ(tr_slab_mapped(), mapped); /* every page unmapped */
}

static void count_cleanup(void *p)
{
    (*(int *)p)++;
}

TEST(arena_slab_cleanups_run_on_free)
{
    struct tr_slab *s = tr_slab_new(1024);
    struct tr_arena *a = tr_arena_new_in(s);
    int runs = 0;
    tr_arena_on_reset(a, count_cleanup, &runs);
    tr_arena_on_reset(a, count_cleanup, &runs);
    tr_arena_free(a);
    ASSERT_EQ(runs, 2);
    tr_slab_free(s);
    tr_slab_free(NULL);
}
