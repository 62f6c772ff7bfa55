#include "base/arena.h"
#include "base/mem.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define SLAB_POISON 1 /* a freed arena's blocks are poisoned until their page is unmapped */
#else
#define SLAB_POISON 0
#endif

struct chunk {
    struct chunk *next;
    size_t cap;
    size_t used;
    unsigned char data[]; /* 8-byte aligned: it follows three words */
};

struct cleanup {
    struct cleanup *next;
    tr_arena_cleanup_cb *cb;
    void *data;
};

/* A slab's page: arenas made in the slab carve their blocks from it back to back. It holds a
 * reference for each arena that took memory from it, and the slab's while it is the slab's
 * current page; the last one frees it (on any thread). A page for blocks (not one block's own)
 * starts at a multiple of SLAB_ALIGN, so an arena finds the page it is in from its address. */
struct page {
    int refs; /* atomic */
    uint32_t cap, used;
    uint32_t spare;
    unsigned char data[]; /* 8-byte aligned: it follows 16 bytes */
};

/* An arena's reference to a page other than the one it is in, carved from that page. */
struct pageref {
    struct pageref *next;
    struct page *page;
};

struct tr_slab {
    size_t page_len;
    struct page *cur; /* NULL before the first block */
};

struct tr_arena {
    union {
        struct chunk *head;    /* current chunk first */
        struct pageref *pages; /* in a slab: the other pages it took memory from, latest first */
    };
    struct cleanup *cleanups;
    size_t used;
    /* Made in a slab (tr_arena_new_in): its slab with bit 0 set (a slab arena is in every
     * route's translation: 32 bytes, not 48 with a field each). Else the size of its chunks. */
    uintptr_t slab_or_len;
#if SLAB_POISON
    struct blk {
        void *p;
        size_t n;
    } *blks; /* the blocks it carved, malloc'd */
    size_t nblks, capblks;
#endif
};

/* What a block is aligned to: every type torii allocates from an arena (pointers, 64-bit
 * integers) wants 8 bytes at most; max_align_t's 16 would round each of the many small blocks
 * a route's translation keeps up by 8 bytes on average. Strings take byte alignment. */
#define ARENA_ALIGN 8
#define ALIGN_UP(n) (((n) + (ARENA_ALIGN - 1)) & ~(size_t)(ARENA_ALIGN - 1))
/* Where a slab's pages for blocks start, and their largest size. */
#define SLAB_ALIGN ((size_t)64 * 1024)

static struct tr_slab *slab_of(const struct tr_arena *a)
{
    return a->slab_or_len & 1 ? (struct tr_slab *)(a->slab_or_len & ~(uintptr_t)1) : NULL;
}

/* The page a slab arena is in (and holds a reference to without a pageref). */
static struct page *page_of(const struct tr_arena *a)
{
    return (struct page *)((uintptr_t)a & ~(uintptr_t)(SLAB_ALIGN - 1));
}
_Static_assert(offsetof(struct chunk, data) % ARENA_ALIGN == 0, "chunk data must be aligned");
_Static_assert(offsetof(struct page, data) % ARENA_ALIGN == 0, "page data must be aligned");

static struct chunk *chunk_new(size_t cap)
{
    struct chunk *c = tr_xmalloc(sizeof(*c) + cap);
    c->next = NULL;
    c->cap = cap;
    c->used = 0;
    return c;
}

struct tr_arena *tr_arena_new(size_t chunk_len)
{
    struct tr_arena *a = tr_xcalloc(1, sizeof(*a));
    a->slab_or_len = ALIGN_UP(chunk_len < 256 ? 256 : chunk_len);
    return a;
}

static void run_cleanups(struct tr_arena *a)
{
    while (a->cleanups) {
        struct cleanup *c = a->cleanups;
        a->cleanups = c->next;
        c->cb(c->data);
    }
}

static size_t slab_mapped; /* atomic */

size_t tr_slab_mapped(void)
{
    return __atomic_load_n(&slab_mapped, __ATOMIC_RELAXED);
}

static void page_unref(struct page *p)
{
    if (__atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        __atomic_sub_fetch(&slab_mapped, sizeof(*p) + p->cap, __ATOMIC_RELAXED);
#if SLAB_POISON
        ASAN_UNPOISON_MEMORY_REGION(p, sizeof(*p) + p->cap); /* the address may be mapped again */
#endif
        munmap(p, sizeof(*p) + p->cap);
    }
}

struct tr_slab *tr_slab_new(size_t page_len)
{
    struct tr_slab *s = tr_xcalloc(1, sizeof(*s));
    page_len = page_len < 1024 ? 1024 : page_len > SLAB_ALIGN ? SLAB_ALIGN : page_len;
    /* Pages are mapped whole: a page with its header takes page_len rounded up to 4 KiB. */
    s->page_len = ((page_len + 4095) & ~(size_t)4095) - sizeof(struct page);
    return s;
}

void tr_slab_free(struct tr_slab *s)
{
    if (!s)
        return;
    if (s->cur)
        page_unref(s->cur);
    free(s);
}

/* A page for cap bytes; aligned: at a multiple of SLAB_ALIGN (what is mapped around it to get
 * there is unmapped at once). */
static struct page *page_new(size_t cap, int refs, bool aligned)
{
    size_t len = (sizeof(struct page) + cap + 4095) & ~(size_t)4095;
    size_t extra = aligned ? SLAB_ALIGN - 4096 : 0;
    unsigned char *m = mmap(NULL, len + extra, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    TR_BUG_ON(m == MAP_FAILED);
    struct page *p = (struct page *)(void *)m;
    if (aligned) {
        size_t head = (SLAB_ALIGN - ((uintptr_t)m & (SLAB_ALIGN - 1))) & (SLAB_ALIGN - 1);
        if (head)
            munmap(m, head);
        if (extra - head)
            munmap(m + head + len, extra - head);
        p = (struct page *)(void *)(m + head);
    }
    __atomic_add_fetch(&slab_mapped, len, __ATOMIC_RELAXED);
    cap = len - sizeof(*p);
    p->refs = refs;
    p->cap = (uint32_t)cap;
    p->used = 0;
    return p;
}

/* A new current page for s (the slab's reference moves to it from the one before). */
static struct page *slab_next_page(struct tr_slab *s)
{
    struct page *p = page_new(s->page_len, 1, true);
    if (s->cur)
        page_unref(s->cur);
    s->cur = p;
    return p;
}

/* len bytes at align in the slab for a (a pageref first when a has none on that page). A
 * block too large for a quarter of a page gets a page of its own, so the current one's space
 * is not wasted. */
static void *slab_take(struct tr_arena *a, size_t len, size_t align)
{
    struct tr_slab *s = slab_of(a);
    struct page *p = s->cur;
    bool have = p == page_of(a) || (a->pages && a->pages->page == p);
    size_t ref = have ? 0 : sizeof(struct pageref);
    size_t at = p ? ALIGN_UP(p->used) : 0;
    size_t need = ref ? at + ref + len : ((p ? (p->used + align - 1) & ~(align - 1) : 0) + len);
    if (!p || need > p->cap) {
        if (len > s->page_len / 4)
            p = page_new(sizeof(struct pageref) + ALIGN_UP(len), 0, false);
        else
            p = slab_next_page(s);
        have = false;
    }
    if (!have) {
        struct pageref *r = (struct pageref *)(void *)(p->data + ALIGN_UP(p->used));
        r->page = p;
        r->next = a->pages;
        a->pages = r;
        __atomic_add_fetch(&p->refs, 1, __ATOMIC_RELAXED);
        p->used = (uint32_t)(ALIGN_UP(p->used) + sizeof(*r));
    }
    size_t off = (p->used + align - 1) & ~(align - 1);
    a->used += off - p->used + len;
    p->used = (uint32_t)(off + len);
#if SLAB_POISON
    if (a->nblks == a->capblks) {
        a->capblks = a->capblks ? a->capblks * 2 : 16;
        a->blks = tr_xrealloc(a->blks, a->capblks * sizeof(*a->blks));
    }
    a->blks[a->nblks++] = (struct blk){p->data + off, len};
#endif
    return p->data + off;
}

struct tr_arena *tr_arena_new_in(struct tr_slab *s)
{
    struct page *p = s->cur;
    size_t at = p ? ALIGN_UP(p->used) : 0;
    if (!p || at + sizeof(struct tr_arena) > p->cap) {
        p = slab_next_page(s);
        at = 0;
    }
    /* The arena's reference to the page it is in. */
    __atomic_add_fetch(&p->refs, 1, __ATOMIC_RELAXED);
    p->used = (uint32_t)(at + sizeof(struct tr_arena));
    struct tr_arena *a = (struct tr_arena *)(void *)(p->data + at);
    memset(a, 0, sizeof(*a));
    a->slab_or_len = (uintptr_t)s | 1;
#if SLAB_POISON
    a->capblks = 16;
    a->blks = tr_xmalloc(a->capblks * sizeof(*a->blks));
    a->blks[a->nblks++] = (struct blk){a, sizeof(*a)};
#endif
    TR_BUG_ON(page_of(a) != p);
    return a;
}

void tr_arena_free(struct tr_arena *a)
{
    if (!a)
        return;
    run_cleanups(a);
    if (slab_of(a)) {
        /* a is in its first page: nothing of it is read after that reference goes. */
        struct page *first = page_of(a);
        struct pageref *r = a->pages;
#if SLAB_POISON
        struct blk *blks = a->blks;
        size_t nblks = a->nblks;
        for (size_t i = 0; i < nblks; i++)
            ASAN_POISON_MEMORY_REGION(blks[i].p, blks[i].n); /* a itself among them */
        free(blks);
#endif
        while (r) {
            struct pageref *next = r->next;
            page_unref(r->page);
            r = next;
        }
        page_unref(first);
        return;
    }
    struct chunk *c = a->head;
    while (c) {
        struct chunk *next = c->next;
        free(c);
        c = next;
    }
    free(a);
}

void tr_arena_reset(struct tr_arena *a)
{
    TR_BUG_ON(slab_of(a)); /* a slab's blocks are given back with the arena only */
    run_cleanups(a);
    struct chunk *keep = NULL, *c = a->head;
    while (c) {
        struct chunk *next = c->next;
        if (!keep && c->cap == a->slab_or_len) {
            keep = c; /* one base-size chunk is kept for reuse; large ones go */
            keep->next = NULL;
        } else {
            free(c);
        }
        c = next;
    }
    if (keep)
        keep->used = 0;
    a->head = keep;
    a->used = 0;
}

/* len bytes at an offset that is a multiple of align (1 or ARENA_ALIGN) in a chunk. */
static void *arena_take(struct tr_arena *a, size_t len, size_t align)
{
    if (!len)
        len = 1;
    if (slab_of(a))
        return slab_take(a, len, align);
    struct chunk *c = a->head;
    size_t at = c ? (c->used + align - 1) & ~(align - 1) : 0;
    if (!c || at > c->cap || c->cap - at < len) {
        if (len > a->slab_or_len / 4) {
            /* A large block gets its own chunk behind the current one, so the current chunk's
             * free space is not wasted. */
            struct chunk *big = chunk_new(ALIGN_UP(len));
            big->used = len;
            if (c) {
                big->next = c->next;
                c->next = big;
            } else {
                a->head = big;
            }
            a->used += len;
            return big->data;
        }
        c = chunk_new(a->slab_or_len);
        c->next = a->head;
        a->head = c;
        at = 0;
    }
    void *p = c->data + at;
    a->used += at - c->used + len;
    c->used = at + len;
    return p;
}

void *tr_arena_alloc(struct tr_arena *a, size_t len)
{
    return arena_take(a, len, ARENA_ALIGN);
}

void *tr_arena_zalloc(struct tr_arena *a, size_t len)
{
    void *p = tr_arena_alloc(a, len);
    memset(p, 0, len);
    return p;
}

char *tr_arena_strndup(struct tr_arena *a, const char *s, size_t len)
{
    char *p = arena_take(a, len + 1, 1);
    if (len)
        memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *tr_arena_strdup(struct tr_arena *a, const char *s)
{
    return tr_arena_strndup(a, s, strlen(s));
}

char *tr_arena_printf(struct tr_arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return tr_arena_strdup(a, "");
    char *p = arena_take(a, (size_t)n + 1, 1);
    if ((size_t)n < sizeof(small)) {
        memcpy(p, small, (size_t)n + 1);
    } else {
        va_start(ap, fmt);
        vsnprintf(p, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    return p;
}

void tr_arena_on_reset(struct tr_arena *a, tr_arena_cleanup_cb *cb, void *data)
{
    struct cleanup *c = tr_arena_alloc(a, sizeof(*c));
    c->cb = cb;
    c->data = data;
    c->next = a->cleanups;
    a->cleanups = c;
}

size_t tr_arena_used(const struct tr_arena *a)
{
    return a->used;
}
