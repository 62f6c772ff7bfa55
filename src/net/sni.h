/* The server name of a TLS ClientHello, read without terminating TLS (for passthrough). Pure. */
#ifndef TR_NET_SNI_H
#define TR_NET_SNI_H

#include <stddef.h>

/* Reads the TLS record(s) at buf[0..len) holding a ClientHello. Returns 1 and sets
 * name and name_len (a slice of buf, or NULL/0 when the hello has no server_name) when the hello is
 * complete; 0 when more bytes are needed; -1 when the bytes are not a TLS ClientHello. Only
 * the first record is read (a hello split across records is refused: -1), up to 16 KiB. */
int tr_sni_parse(const unsigned char *buf, size_t len, const char **name, size_t *name_len);
/* Reads the body of a server_name extension (RFC 6066 section 3) at ext[0..len). Returns 1 and
 * sets name and name_len (a slice of ext, or NULL/0 when it holds no host_name), or -1 when the
 * body is malformed. */
int tr_sni_parse_ext(const unsigned char *ext, size_t len, const char **name, size_t *name_len);

#endif
