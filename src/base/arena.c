#include "base/arena.h"
#include "base/mem.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

struct tr_arena {
    struct chunk *head; /* current chunk first */
    struct cleanup *cleanups;
    size_t chunk_len;
    size_t used;
};

/* What a block is aligned to: every type torii allocates from an arena (pointers, 64-bit
 * integers) wants 8 bytes at most; max_align_t's 16 would round each of the many small blocks
 * a route's translation keeps up by 8 bytes on average. Strings take byte alignment. */
#define ARENA_ALIGN 8
#define ALIGN_UP(n) (((n) + (ARENA_ALIGN - 1)) & ~(size_t)(ARENA_ALIGN - 1))
_Static_assert(offsetof(struct chunk, data) % ARENA_ALIGN == 0, "chunk data must be aligned");

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
    a->chunk_len = chunk_len < 256 ? 256 : chunk_len;
    return a;
}

struct tr_arena *tr_arena_new_sized(size_t first_len, size_t chunk_len)
{
    struct tr_arena *a = tr_arena_new(chunk_len);
    if (first_len)
        a->head = chunk_new(ALIGN_UP(first_len));
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

void tr_arena_free(struct tr_arena *a)
{
    if (!a)
        return;
    run_cleanups(a);
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
    run_cleanups(a);
    struct chunk *keep = NULL, *c = a->head;
    while (c) {
        struct chunk *next = c->next;
        if (!keep && c->cap == a->chunk_len) {
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
    struct chunk *c = a->head;
    size_t at = c ? (c->used + align - 1) & ~(align - 1) : 0;
    if (!c || at > c->cap || c->cap - at < len) {
        if (len > a->chunk_len / 4) {
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
        c = chunk_new(a->chunk_len);
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
