#include "net/sni.h"

#include <stdint.h>

/* RFC 8446 4.1.2 ClientHello inside an RFC 8446 5.1 TLSPlaintext record; server_name is RFC 6066
 * section 3. Every length is checked against what encloses it. */
int tr_sni_parse(const unsigned char *buf, size_t len, const char **name, size_t *name_len)
{
    *name = NULL;
    *name_len = 0;
    if (len < 5)
        return len > 0 && buf[0] != 0x16 ? -1 : 0;
    if (buf[0] != 0x16 || buf[1] != 0x03)
        return -1; /* not a handshake record */
    size_t rec = (size_t)buf[3] << 8 | buf[4];
    if (rec < 4 || rec > 16384)
        return -1;
    if (len < 5 + rec)
        return 0;
    const unsigned char *p = buf + 5, *end = p + rec;
    if (p[0] != 0x01)
        return -1; /* not a ClientHello */
    size_t hs = (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
    p += 4;
    if (hs > (size_t)(end - p))
        return -1; /* a hello longer than its record: split across records */
    end = p + hs;
    if (end - p < 2 + 32 + 1)
        return -1;
    p += 2 + 32; /* legacy_version, random */
    size_t sid = p[0];
    p += 1;
    if (sid > 32 || (size_t)(end - p) < sid + 2)
        return -1;
    p += sid;
    size_t cs = (size_t)p[0] << 8 | p[1];
    p += 2;
    if ((size_t)(end - p) < cs + 1)
        return -1;
    p += cs;
    size_t comp = p[0];
    p += 1;
    if ((size_t)(end - p) < comp)
        return -1;
    p += comp;
    if (p == end)
        return 1; /* no extensions at all */
    if (end - p < 2)
        return -1;
    size_t ext = (size_t)p[0] << 8 | p[1];
    p += 2;
    if ((size_t)(end - p) < ext)
        return -1;
    end = p + ext;
    while (end - p >= 4) {
        unsigned type = (unsigned)p[0] << 8 | p[1];
        size_t elen = (size_t)p[2] << 8 | p[3];
        p += 4;
        if ((size_t)(end - p) < elen)
            return -1;
        if (type == 0) /* server_name */
            return tr_sni_parse_ext(p, elen, name, name_len);
        p += elen;
    }
    return p == end ? 1 : -1;
}

int tr_sni_parse_ext(const unsigned char *ext, size_t len, const char **name, size_t *name_len)
{
    *name = NULL;
    *name_len = 0;
    const unsigned char *q = ext, *end = ext + len;
    if (end - q < 2)
        return -1;
    size_t list = (size_t)q[0] << 8 | q[1];
    q += 2;
    if ((size_t)(end - q) < list)
        return -1;
    end = q + list;
    while (end - q >= 3) {
        unsigned nt = q[0];
        size_t nl = (size_t)q[1] << 8 | q[2];
        q += 3;
        if ((size_t)(end - q) < nl)
            return -1;
        if (nt == 0) { /* host_name */
            if (nl == 0 || nl > 255)
                return -1;
            *name = (const char *)q;
            *name_len = nl;
            return 1;
        }
        q += nl;
    }
    return 1;
}
