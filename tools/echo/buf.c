/* Small containers: growable buffers and header lists. Allocation failure aborts: the echo server
 * has nothing sensible to do without memory, and it keeps every caller simple. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "echo.h"

static void oom(void)
{
    fputs("torii-echo: out of memory\n", stderr);
    abort();
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        oom();
    return p;
}

void *xrealloc(void *p, size_t size)
{
    void *q = realloc(p, size ? size : 1);
    if (!q)
        oom();
    return q;
}

char *xstrndup(const char *s, size_t n)
{
    char *p = xrealloc(NULL, n + 1);
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

char *xstrdup(const char *s)
{
    return xstrndup(s, strlen(s));
}

void buf_reserve(struct buf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    b->p = xrealloc(b->p, cap);
    b->cap = cap;
}

void buf_add(struct buf *b, const void *data, size_t n)
{
    buf_reserve(b, n);
    if (n)
        memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = 0; /* always NUL-terminated, so text buffers can be used as C strings */
}

void buf_adds(struct buf *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

void buf_addc(struct buf *b, char ch)
{
    buf_add(b, &ch, 1);
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void buf_consume(struct buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
    } else {
        memmove(b->p, b->p + n, b->len - n);
        b->len -= n;
    }
    if (b->p)
        b->p[b->len] = 0;
}

void buf_free(struct buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

void hdrs_add(struct hdrs *h, const char *name, size_t nlen, const char *value, size_t vlen)
{
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 16;
        h->v = xrealloc(h->v, h->cap * sizeof *h->v);
    }
    h->v[h->n].name = xstrndup(name, nlen);
    h->v[h->n].value = xstrndup(value, vlen);
    h->n++;
}

const char *hdrs_get(const struct hdrs *h, const char *name)
{
    for (size_t i = 0; i < h->n; i++)
        if (!strcasecmp(h->v[i].name, name))
            return h->v[i].value;
    return NULL;
}

size_t hdrs_count(const struct hdrs *h, const char *name)
{
    size_t k = 0;
    for (size_t i = 0; i < h->n; i++)
        k += !strcasecmp(h->v[i].name, name);
    return k;
}

void hdrs_del(struct hdrs *h, const char *name)
{
    size_t k = 0;
    for (size_t i = 0; i < h->n; i++) {
        if (!strcasecmp(h->v[i].name, name)) {
            free(h->v[i].name);
            free(h->v[i].value);
        } else {
            h->v[k++] = h->v[i];
        }
    }
    h->n = k;
}

void hdrs_free(struct hdrs *h)
{
    for (size_t i = 0; i < h->n; i++) {
        free(h->v[i].name);
        free(h->v[i].value);
    }
    free(h->v);
    memset(h, 0, sizeof *h);
}

void hreq_free(struct hreq *rq)
{
    free(rq->method);
    free(rq->target);
    free(rq->host);
    hdrs_free(&rq->hdrs);
    buf_free(&rq->form);
    memset(rq, 0, sizeof *rq);
}

void hresp_free(struct hresp *rs)
{
    hdrs_free(&rs->hdrs);
    buf_free(&rs->body);
    memset(rs, 0, sizeof *rs);
}
