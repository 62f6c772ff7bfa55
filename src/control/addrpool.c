/* Gateway addresses without a cluster: each Gateway gets its own loopback address, so several
 * Gateways can listen on one port (127.0.0.0/8 is all loopback on Linux). */
#include "api/object.h"
#include "base/map.h"
#include "base/mem.h"
#include "control/control.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tr_addrpool {
    uint32_t base, size, next;
    struct tr_map by_gw; /* "ns/name" -> char* */
};

struct tr_addrpool *tr_addrpool_new(const char *cidr)
{
    char ip[32];
    const char *slash = strchr(cidr, '/');
    if (!slash || (size_t)(slash - cidr) >= sizeof(ip))
        return NULL;
    memcpy(ip, cidr, (size_t)(slash - cidr));
    ip[slash - cidr] = '\0';
    struct in_addr in;
    char *end;
    long bits = strtol(slash + 1, &end, 10);
    if (*end || bits < 8 || bits > 30 || inet_pton(AF_INET, ip, &in) != 1)
        return NULL;
    struct tr_addrpool *p = tr_xcalloc(1, sizeof(*p));
    uint32_t mask = bits ? ~0u << (32 - bits) : 0;
    p->base = ntohl(in.s_addr) & mask;
    p->size = ~mask + 1u;
    p->next = 1; /* skip the network address */
    return p;
}

void tr_addrpool_free(struct tr_addrpool *p)
{
    if (!p)
        return;
    size_t it = 0;
    struct tr_map_slot *s;
    while ((s = tr_map_next(&p->by_gw, &it)))
        free(s->val);
    tr_map_dispose(&p->by_gw);
    free(p);
}

const char *tr_addrpool_get(struct tr_addrpool *p, const struct tr_obj *gw, bool (*taken)(void *ctx, const char *addr),
                           void *ctx)
{
    char key[600];
    int kl = snprintf(key, sizeof(key), "%s/%s", gw->ns, gw->name);
    if (kl <= 0 || (size_t)kl >= sizeof(key))
        return NULL;
    char *addr = tr_map_get(&p->by_gw, key, (size_t)kl);
    if (addr && !(taken && taken(ctx, addr)))
        return addr;
    /* First use, or a Gateway now names this Gateway's address in its spec.addresses: a
     * static address is the user's choice and a pool address only torii's, so this Gateway
     * moves (its status.addresses says where). The old address is not handed out again. */
    while (p->next < p->size - 1) {
        struct in_addr in = {htonl(p->base + p->next++)};
        char buf[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &in, buf, sizeof(buf));
        if (taken && taken(ctx, buf))
            continue;
        free(tr_map_put(&p->by_gw, key, (size_t)kl, tr_xstrdup(buf)));
        return tr_map_get(&p->by_gw, key, (size_t)kl);
    }
    return NULL; /* exhausted: the Gateway reports AddressNotAssigned */
}
