/* The data of Secrets and ConfigMaps. */
#ifndef TR_API_OBJDATA_H
#define TR_API_OBJDATA_H

#include <stddef.h>

struct tr_arena;
struct tr_obj;

/* data[key] of a Secret (base64-decoded) or ConfigMap (as is; stringData is read too), in
 * arena a; NULL when absent or not valid base64. */
const unsigned char *tr_obj_data(struct tr_arena *a, const struct tr_obj *o, const char *key, size_t *len);

/* Decodes len bytes of base64 (RFC 4648; line breaks allowed) into arena a. Returns the bytes
 * (NUL-terminated, *out_len of them) or NULL when s is not base64. */
const unsigned char *tr_base64_decode(struct tr_arena *a, const char *s, size_t len, size_t *out_len);

#endif
