/* The read and write loops of every stream connection, plain or TLS: EINTR retried, EAGAIN
 * turned into "wait for the next edge", EOF and errors told apart where a caller needs it (a
 * TCP proxy passes a half-close on; HTTP ends either way). Loop thread of the connection. */
#ifndef TR_NET_SOCK_H
#define TR_NET_SOCK_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct tr_buf;

#define TR_SOCK_AGAIN (-1) /* nothing to read now: the next edge will say when */
#define TR_SOCK_ERROR (-2) /* the connection failed (errno says why) */

/* Reads at most n bytes into p from fd, through ssl when set: the count (> 0), 0 at EOF,
 * TR_SOCK_AGAIN or TR_SOCK_ERROR. */
ssize_t tr_sock_read(int fd, SSL *ssl, void *p, size_t n);

/* Writes p[0..n) to fd, through ssl when set, until all is written or the socket is full: the
 * count written (less than n only when full, and then *blocked is set), or -1 on a hard error. */
ssize_t tr_sock_write(int fd, SSL *ssl, const void *p, size_t n, bool *blocked);

/* Writes b's bytes from *off on; once all are written b is emptied (len and *off back to 0).
 * *writable goes false when the socket fills; *count (when not NULL) grows by what was written.
 * Returns 0, or -1 on a hard error. */
int tr_sock_write_buf(int fd, SSL *ssl, struct tr_buf *b, size_t *off, bool *writable, uint64_t *count);

enum tr_sock_rd {
    TR_SOCK_RD_AGAIN, /* nothing more now */
    TR_SOCK_RD_FULL,  /* b holds max unconsumed bytes: come back once some are consumed (an
                       * edge-triggered socket will not signal the bytes still queued) */
    TR_SOCK_RD_EOF,   /* EOF or an error */
};

/* Reads from fd into b (bytes from off on are unconsumed) until nothing more is there, EOF, or
 * b holds max unconsumed bytes. A b without storage reads into the stack first and is given
 * storage by attach(ud, b) only when bytes came, so that the read that finds nothing (the usual
 * one after a response) allocates nothing; b then doubles while a body streams through.
 *
 * A plain socket that returns fewer bytes than asked for is empty at that moment, and more
 * data makes a new edge: TR_SOCK_RD_AGAIN without the read that would only say EAGAIN (one
 * syscall per request saved on each side). Not so when the peer's FIN came (hup: read on to
 * the EOF, which makes no edge of its own), nor under TLS (a record at a time: more may be
 * queued). */
enum tr_sock_rd tr_sock_read_buf(int fd, SSL *ssl, struct tr_buf *b, size_t off, size_t max, bool hup,
                                 void (*attach)(void *ud, struct tr_buf *b), void *ud);

#endif
