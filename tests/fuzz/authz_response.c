/* The ext_authz CheckResponse reader (proxy/authz_pb.c) on anything: it must not read past the
 * input (a copy of exactly its size), and whatever it returns must point inside it. */
#include "base/err.h"
#include "base/mem.h"
#include "proxy/authz_pb.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void inside(const char *p, size_t n, const char *base, size_t size)
{
    TR_BUG_ON(n && (p < base || p + n > base + size));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = tr_xmalloc(size ? size : 1);
    memcpy(copy, data, size);
    struct tr_authz_resp r;
    if (tr_authz_decode(copy, size, &r) == 0) {
        TR_BUG_ON(r.nfields > TR_AUTHZ_MAX_HEADERS || r.nremove > TR_AUTHZ_MAX_HEADERS);
        for (size_t i = 0; i < r.nfields; i++) {
            inside(r.fields[i].name, r.fields[i].name_len, copy, size);
            inside(r.fields[i].value, r.fields[i].value_len, copy, size);
        }
        for (size_t i = 0; i < r.nremove; i++)
            inside(r.remove[i].name, r.remove[i].name_len, copy, size);
        inside(r.body, r.body_len, copy, size);
        TR_BUG_ON(r.http_status && (r.http_status < 100 || r.http_status > 599));
    }
    free(copy);
    return 0;
}
