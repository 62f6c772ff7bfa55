/* tr_h1_parse_response and tr_h1_resp_framing on anything, as h1_request does: the first byte
 * picks the limits, the request method and a split point. Heads are parsed one after the other
 * (1xx heads come before the final one) while the input lasts. */
#include "base/err.h"
#include "base/mem.h"
#include "http/h1_parse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct tr_h1_resp a, b;

#define INSIDE(p, n, buf, len) TR_BUG_ON((n) && ((p) < (buf) || (p) + (n) > (buf) + (len)))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const enum tr_h1_method methods[] = {TR_H1_GET, TR_H1_HEAD, TR_H1_CONNECT, TR_H1_POST};
    struct tr_h1_limits lim = tr_h1_default_limits;
    if (data[0] & 0x80)
        lim = (struct tr_h1_limits){.max_line = 40, .max_head = 120, .max_headers = 4};
    enum tr_h1_method method = methods[data[0] & 3];
    const char *buf = (const char *)data + 1;
    size_t len = size - 1, split = len * ((data[0] >> 2) & 0x1f) / 31;

    for (size_t off = 0; off < len;) {
        tr_h1_resp_init(&a);
        int n = tr_h1_parse_response(buf + off, len - off, &a, &lim);
        TR_BUG_ON(n > (int)(len - off) || n == 0);
        TR_BUG_ON(n < 0 && n != TR_EAGAIN && a.error_status != 502);
        size_t cut = split > off ? split - off : 0;
        char *first = tr_xmalloc(cut + 1);
        memcpy(first, buf + off, cut);
        tr_h1_resp_init(&b);
        int m = tr_h1_parse_response(first, cut, &b, &lim);
        free(first);
        if (m == TR_EAGAIN)
            m = tr_h1_parse_response(buf + off, len - off, &b, &lim);
        TR_BUG_ON(m != n || (n > 0 && (b.status != a.status || b.nheaders != a.nheaders)));
        TR_BUG_ON(n < 0 && n != TR_EAGAIN && strcmp(a.error_reason, b.error_reason) != 0);
        if (n < 0)
            break;
        INSIDE(a.reason, a.reason_len, buf + off, (size_t)n);
        for (size_t i = 0; i < a.nheaders; i++) {
            INSIDE(a.headers[i].name, a.headers[i].name_len, buf + off, (size_t)n);
            INSIDE(a.headers[i].value, a.headers[i].value_len, buf + off, (size_t)n);
        }
        TR_BUG_ON(a.status < 100 || a.status > 599);
        if (tr_h1_resp_framing(&a, method) == TR_OK)
            TR_BUG_ON((a.body == TR_H1_BODY_CLOSE || a.body == TR_H1_BODY_TUNNEL) && a.keep_alive);
        off += (size_t)n;
        if (a.status >= 200 || a.status == 101)
            break;
    }
    return 0;
}
