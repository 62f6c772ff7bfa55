/* An immutable string shared by reference count (any thread): one copy of an object's JSON
 * serves every publish that did not change it. */
#ifndef TR_BASE_BLOB_H
#define TR_BASE_BLOB_H

#include "base/mem.h"

#include <stdlib.h>
#include <string.h>

struct tr_blob {
    int refs; /* atomic */
    size_t len;
    char data[]; /* NUL-terminated */
};

static inline struct tr_blob *tr_blob_new(const char *s, size_t len)
{
    struct tr_blob *b = tr_xmalloc(sizeof(*b) + len + 1);
    b->refs = 1;
    b->len = len;
    memcpy(b->data, s, len);
    b->data[len] = '\0';
    return b;
}

static inline struct tr_blob *tr_blob_ref(struct tr_blob *b)
{
    __atomic_add_fetch(&b->refs, 1, __ATOMIC_RELAXED);
    return b;
}

static inline void tr_blob_release(struct tr_blob *b)
{
    if (b && __atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) == 0)
        free(b);
}

#endif
