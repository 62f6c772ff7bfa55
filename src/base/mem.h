/* Allocation: out-of-memory aborts (a restarted process is cleaner than NULL paths no test runs). */
#ifndef TR_BASE_MEM_H
#define TR_BASE_MEM_H

#include <stddef.h>

void *tr_xmalloc(size_t len);
void *tr_xcalloc(size_t n, size_t len);
void *tr_xrealloc(void *p, size_t len);
char *tr_xstrdup(const char *s);
char *tr_xstrndup(const char *s, size_t len);
/* Gives the heap's free pages back to the system (malloc_trim), this thread's cache of freed
 * blocks included: after a reconcile that freed much, on the thread that freed it. */
void tr_mem_trim(void);

/* TR_BUG_ON guards invariants; it stays on in release builds (HAProxy BUG_ON). */
#define TR_BUG_ON(cond)                                                                            \
    do {                                                                                           \
        if (__builtin_expect(!!(cond), 0))                                                         \
            tr_bug(__FILE__, __LINE__, #cond);                                                     \
    } while (0)
_Noreturn void tr_bug(const char *file, int line, const char *what);

#define TR_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
