#include "net/sock.h"
#include "base/buf.h"
#include "base/mem.h"
#include "net/internal.h"
#include "net/tls.h"

#include <errno.h>
#include <string.h>

ssize_t tr_sock_read(int fd, SSL *ssl, void *p, size_t n)
{
#ifdef TR_HAVE_IO_URING
    /* Under the io_uring engine a plain socket's bytes come from completions (loop_uring.c). */
    ssize_t got;
    if (!ssl && tr_loop_current && tr_loop_current->ur && tr_uring_sock_read(tr_loop_current, fd, p, n, &got))
        return got;
#endif
    for (;;) {
        ssize_t r = tr_tls_io_read(fd, ssl, p, n);
        if (r >= 0)
            return r;
        if (errno == EINTR)
            continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? TR_SOCK_AGAIN : TR_SOCK_ERROR;
    }
}

ssize_t tr_sock_write(int fd, SSL *ssl, const void *p, size_t n, bool *blocked)
{
    size_t done = 0;
    while (done < n) {
        ssize_t w = tr_tls_io_write(fd, ssl, (const char *)p + done, n - done);
        if (w > 0) {
            done += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            *blocked = true;
            break;
        }
        return -1;
    }
    return (ssize_t)done;
}

int tr_sock_write_buf(int fd, SSL *ssl, struct tr_buf *b, size_t *off, bool *writable, uint64_t *count)
{
    bool blocked = false;
    ssize_t w = *off < b->len ? tr_sock_write(fd, ssl, b->data + *off, b->len - *off, &blocked) : 0;
    if (w < 0)
        return -1;
    *off += (size_t)w;
    if (count)
        *count += (uint64_t)w;
    if (blocked) {
        *writable = false;
        return 0;
    }
    b->len = 0;
    *off = 0;
    return 0;
}

enum tr_sock_rd tr_sock_read_buf(int fd, SSL *ssl, struct tr_buf *b, size_t off, size_t max, bool hup,
                                 void (*attach)(void *ud, struct tr_buf *b), void *ud)
{
    char first[4096];
    while (b->len - off < max) {
        bool fresh = b->cap == 0;
        if (!fresh && b->cap < b->len + 2048) {
            size_t cap = b->cap * 2;
            while (cap < b->len + 2048)
                cap *= 2;
            b->data = tr_xrealloc(b->data, cap);
            b->cap = cap;
        }
        size_t want = fresh ? sizeof(first) : b->cap - b->len - 1;
        ssize_t r = tr_sock_read(fd, ssl, fresh ? first : b->data + b->len, want);
        if (r > 0) {
            if (fresh) {
                attach(ud, b);
                if ((size_t)r + 2048 > b->cap) {
                    b->data = tr_xrealloc(b->data, 2 * b->cap);
                    b->cap *= 2;
                }
                memcpy(b->data, first, (size_t)r);
            }
            b->len += (size_t)r;
            b->data[b->len] = '\0';
            if ((size_t)r < want && !ssl && !hup)
                return TR_SOCK_RD_AGAIN;
            continue;
        }
        return r == TR_SOCK_AGAIN ? TR_SOCK_RD_AGAIN : TR_SOCK_RD_EOF;
    }
    return TR_SOCK_RD_FULL;
}
