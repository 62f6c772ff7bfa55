#include "api/objdata.h"
#include "api/object.h"
#include "base/arena.h"
#include "base/node.h"

#include <openssl/evp.h>
#include <string.h>

const unsigned char *tr_base64_decode(struct tr_arena *a, const char *s, size_t len, size_t *out_len)
{
    unsigned char *out = tr_arena_alloc(a, len / 4 * 3 + 4);
    EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
    int n1 = 0, n2 = 0;
    EVP_DecodeInit(ctx);
    int rc = EVP_DecodeUpdate(ctx, out, &n1, (const unsigned char *)s, (int)len);
    if (rc >= 0)
        rc = EVP_DecodeFinal(ctx, out + n1, &n2);
    EVP_ENCODE_CTX_free(ctx);
    if (rc < 0)
        return NULL;
    *out_len = (size_t)(n1 + n2);
    out[*out_len] = 0;
    return out;
}

const unsigned char *tr_obj_data(struct tr_arena *a, const struct tr_obj *o, const char *key, size_t *len)
{
    const char *v = tr_node_gets(tr_node_get(o->root, "data"), key);
    if (v && o->kind == TR_KIND_SECRET)
        return tr_base64_decode(a, v, strlen(v), len);
    if (!v)
        v = tr_node_gets(tr_node_get(o->root, "stringData"), key);
    if (!v)
        return NULL;
    *len = strlen(v);
    return (const unsigned char *)v;
}
