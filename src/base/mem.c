#include "base/mem.h"
#include "base/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Noreturn void oom(size_t len)
{
    fprintf(stderr, "torii: out of memory allocating %zu bytes\n", len);
    abort();
}

void *tr_xmalloc(size_t len)
{
    void *p = malloc(len ? len : 1);
    if (!p)
        oom(len);
    return p;
}

void *tr_xcalloc(size_t n, size_t len)
{
    void *p = calloc(n ? n : 1, len ? len : 1);
    if (!p)
        oom(n * len);
    return p;
}

void *tr_xrealloc(void *p, size_t len)
{
    p = realloc(p, len ? len : 1);
    if (!p)
        oom(len);
    return p;
}

char *tr_xstrdup(const char *s)
{
    return tr_xstrndup(s, strlen(s));
}

char *tr_xstrndup(const char *s, size_t len)
{
    char *p = tr_xmalloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

_Noreturn void tr_bug(const char *file, int line, const char *what)
{
    fprintf(stderr, "torii: BUG at %s:%d: %s\n", file, line, what);
    abort();
}

#define ERR_STR(name, val, msg)                                                                    \
    case val:                                                                                      \
        return msg;
const char *tr_strerror(int err)
{
    switch (err) {
    case TR_OK:
        return "ok";
        TR_ERRORS(ERR_STR)
    }
    return "unknown error";
}
#undef ERR_STR

#define ERR_NAME(name, val, msg)                                                                   \
    case val:                                                                                      \
        return #name;
const char *tr_errname(int err)
{
    switch (err) {
    case TR_OK:
        return "OK";
        TR_ERRORS(ERR_NAME)
    }
    return "UNKNOWN";
}
#undef ERR_NAME
