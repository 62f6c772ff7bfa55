/* tr_h1_parse_request and tr_h1_req_framing on anything. The first byte picks the limits and a
 * split point: the head fed in two pieces (the first in a buffer of its own size, so that a read
 * past it is caught) must give what it gives in one. Slices must lie inside the head. */
#include "base/err.h"
#include "base/mem.h"
#include "http/h1_parse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct tr_h1_req a, b;

#define INSIDE(p, n, buf, len) TR_BUG_ON((n) && ((p) < (buf) || (p) + (n) > (buf) + (len)))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct tr_h1_limits lim = tr_h1_default_limits;
    if (data[0] & 0x80)
        lim = (struct tr_h1_limits){.max_line = 40, .max_head = 120, .max_headers = 4};
    const char *buf = (const char *)data + 1;
    size_t len = size - 1, split = len * (data[0] & 0x7f) / 127;

    tr_h1_req_init(&a);
    int n = tr_h1_parse_request(buf, len, &a, &lim);
    TR_BUG_ON(n > (int)len || n == 0);
    TR_BUG_ON(n < 0 && n != TR_EAGAIN && n != TR_H1_PRI && (!a.error_status || !a.error_reason));
    if (n > 0) {
        INSIDE(a.method, a.method_len, buf, (size_t)n);
        INSIDE(a.target, a.target_len, buf, (size_t)n);
        INSIDE(a.path, a.path_len, buf, (size_t)n);
        TR_BUG_ON(a.nheaders > lim.max_headers);
        for (size_t i = 0; i < a.nheaders; i++) {
            INSIDE(a.headers[i].name, a.headers[i].name_len, buf, (size_t)n);
            INSIDE(a.headers[i].value, a.headers[i].value_len, buf, (size_t)n);
        }
        if (tr_h1_req_framing(&a) == TR_OK) {
            INSIDE(a.authority, a.authority_len, buf, (size_t)n);
            INSIDE(a.upgrade, a.upgrade_len, buf, (size_t)n);
            TR_BUG_ON(a.body == TR_H1_BODY_CLOSE || a.body == TR_H1_BODY_TUNNEL);
        } else {
            TR_BUG_ON(a.error_status != 400 && a.error_status != 501);
        }
    }

    char *first = tr_xmalloc(split + 1);
    memcpy(first, buf, split);
    tr_h1_req_init(&b);
    int m = tr_h1_parse_request(first, split, &b, &lim);
    free(first);
    TR_BUG_ON(m != TR_EAGAIN && (m != n || (m < 0 && b.error_status != a.error_status)));
    if (m == TR_EAGAIN && split < len) {
        m = tr_h1_parse_request(buf, len, &b, &lim);
        TR_BUG_ON(m != n || (n < 0 && n != TR_EAGAIN && b.error_status != a.error_status));
        TR_BUG_ON(n > 0 && (b.nheaders != a.nheaders || b.target != a.target || b.path != a.path));
    }
    return 0;
}
