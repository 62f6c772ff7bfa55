/* The chunked transfer coding (RFC 9112 7.1), decoded as a stream: the input may be split
 * anywhere, the decoder keeps its place in a small struct, and it never consumes a byte past the
 * end of the body, so what follows (the next pipelined request, the next response) stays where
 * it is for the caller. Pure: no I/O, no allocation.
 *
 * Choices, for a proxy that must agree with every hop about where a body ends:
 * - Every framing line ends with CRLF exactly: a bare LF or bare CR is an error (lenient LF
 *   handling in chunk lines is how front and back ends come to disagree).
 * - chunk-size is at most 16 hex digits (leading zeros count): anything longer is TR_ELIMIT.
 * - Whitespace after chunk-size is allowed only before ';' (BWS, RFC 9112 7.1.1). Extensions
 *   are skipped, at most max_chunk_ext bytes per chunk line; they may hold HTAB, SP, VCHAR and
 *   obs-text, never another control byte (no LF hiding inside an extension).
 * - Trailers are checked (each is name ':' value CRLF, with the field rules of h1_parse.h), at
 *   most max_trailer bytes. They stay in the chunked bytes torii passes through; a caller that
 *   must re-frame them (HTTP/2 trailing HEADERS, for gRPC) sets `keep` and gets them copied. */
#ifndef TR_HTTP_CHUNKED_H
#define TR_HTTP_CHUNKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct tr_h1_limits;

/* Value type: callers embed it (one per body being read). */
struct tr_h1_chunked {
    uint64_t remaining; /* private: data bytes left in this chunk, or the size being read */
    size_t count;       /* private: size digits or extension bytes on this line */
    size_t trailer;     /* private: trailer section bytes so far */
    size_t max_ext, max_trailer; /* private */
    uint64_t total;     /* data bytes decoded so far (for Content-Length-style limits) */
    int state;          /* private */
    int error;          /* private: the error returned, repeated on later calls */
    /* Optional, set by the caller after init: the trailer section's field lines (each ending
     * CRLF; not the final CRLF) are copied to keep[0..keep_len), as far as keep_cap goes
     * (keep_cap >= max_trailer keeps them all). */
    char *keep;
    size_t keep_cap, keep_len;
};

/* Starts a body, with the max_chunk_ext and max_trailer of lim (NULL: the defaults). */
void tr_h1_chunked_init(struct tr_h1_chunked *c, const struct tr_h1_limits *lim);

/* Decodes src[0..len). Returns the bytes consumed (0..len), or TR_EPROTO (malformed) or
 * TR_ELIMIT (over a limit above). If the consumed bytes end with chunk data, *data and *data_len
 * give that data (a slice of src: the tail of the consumed bytes), else *data_len is 0. A call
 * stops after one run of data and at the end of the body; otherwise it consumes all of src,
 * keeping any partial line in c. Call again with the unconsumed bytes (and more) until
 * tr_h1_chunked_done(). Any thread. */
ssize_t tr_h1_chunked_decode(struct tr_h1_chunked *c, const char *src, size_t len, const char **data,
                             size_t *data_len);

/* Decodes buf[0..len) in place: the data of every chunk found is moved to buf[0..*out_len).
 * Returns the bytes consumed, or an error as above; buf[consumed..len) is left untouched (it
 * never overlaps the output, which is never longer than the input consumed). */
ssize_t tr_h1_chunked_decode_inplace(struct tr_h1_chunked *c, char *buf, size_t len, size_t *out_len);

/* True once the last chunk and the trailer section have been consumed. */
bool tr_h1_chunked_done(const struct tr_h1_chunked *c);

#endif
