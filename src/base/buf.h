/* Growable byte buffers with a cap (curl's toobig): going over the cap is TR_ELIMIT. */
#ifndef TR_BASE_BUF_H
#define TR_BASE_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* Value type: callers embed it. The data is always NUL-terminated when len > 0 or after any
 * append. */
struct tr_buf {
    char *data;
    size_t len;
    size_t cap; /* private */
    size_t max; /* 0 = no cap */
};

void tr_buf_init(struct tr_buf *b, size_t max);
void tr_buf_dispose(struct tr_buf *b);
/* Returns TR_OK or TR_ELIMIT (nothing appended then). */
int tr_buf_append(struct tr_buf *b, const void *p, size_t len);
int tr_buf_puts(struct tr_buf *b, const char *s);
int tr_buf_putc(struct tr_buf *b, char c);
/* Makes room for extra more bytes at once (one allocation instead of doubling from 64). */
int tr_buf_reserve(struct tr_buf *b, size_t extra);
/* Writes v in decimal at the end of out[0..20) and returns where it starts (no NUL): what
 * "%llu" would print, without the printf machinery. */
const char *tr_fmt_u64(char out[20], uint64_t v);
/* Appends v in decimal. */
int tr_buf_put_u64(struct tr_buf *b, uint64_t v);
/* v in lower-case hex, then CRLF: an HTTP/1.1 chunk-size line. */
int tr_buf_put_chunk_size(struct tr_buf *b, uint64_t v);
/* p[0..n) as one HTTP/1.1 chunk: its size line, the data, CRLF (n > 0: a 0 would be the last). */
int tr_buf_put_chunk(struct tr_buf *b, const char *p, size_t n);
/* Appends "name: value\r\n" (value of vlen bytes). */
int tr_buf_put_field(struct tr_buf *b, const char *name, const char *value, size_t vlen);
int tr_buf_printf(struct tr_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int tr_buf_vprintf(struct tr_buf *b, const char *fmt, va_list ap);
void tr_buf_reset(struct tr_buf *b);

/* A buffer read from the front: bytes from off on are still to be consumed. */
static inline size_t tr_buf_pending(const struct tr_buf *b, size_t off)
{
    return b->len - off;
}
/* Drops consumed bytes once they are all of the buffer, or most of it past 4 KiB, so that a
 * buffer read from the front does not grow without bound. */
void tr_buf_compact(struct tr_buf *b, size_t *off);
/* Hands the heap string to the caller (free() it) and leaves b empty. */
char *tr_buf_steal(struct tr_buf *b);
/* Appends s[0..len) as a JSON string literal. Returns TR_OK or TR_ELIMIT. */
int tr_json_quote(struct tr_buf *b, const char *s, size_t len);

#endif
