/* HTTP field and status helpers shared by the HTTP/1 and HTTP/2 paths. Pure. */
#ifndef TR_HTTP_FIELDS_H
#define TR_HTTP_FIELDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tr_buf;
struct tr_h1_header;

/* Appends "Content-Length: n\r\n". */
void tr_http_put_content_length(struct tr_buf *o, uint64_t n);
/* The reason phrase of a status code torii sends ("Unknown" for others). */
const char *tr_http_status_text(int code);
/* Hop-by-hop fields (RFC 9110 7.6.1) and the framing fields torii writes itself. */
bool tr_http_hop_by_hop(const struct tr_h1_header *h, const struct tr_h1_header *all, size_t n);
/* An Expect field of an HTTP/1.0 request, less its 100-continue: a server MUST ignore that
 * expectation in HTTP/1.0 and MUST NOT send such a client a 1xx (RFC 9110 10.1.1, 15.2), but
 * the upstream request is HTTP/1.1 and the backend would answer 100. Other expectations go on;
 * a field left empty is dropped. The body is sent as it comes either way. */
void tr_http_put_expect_http10(struct tr_buf *o, const struct tr_h1_header *h);
/* The next field of "Name: value\r\n" lines torii wrote itself (the fields it adds, a kept
 * trailer section), from *p up to end: name and value (OWS around it trimmed) into *f. Lines
 * without a colon are skipped. Returns false at the end. */
bool tr_http_next_line_field(const char **p, const char *end, struct tr_h1_header *f);

#endif
