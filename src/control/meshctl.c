/* The mesh's redirects (docs/mesh.md): in the network namespace of every meshed workload of the
 * current IR, a table that sends its TCP to the service range to the workers' listeners there;
 * removed when the workload leaves the IR, and all of them when torii stops. Control thread. */
#include "control/meshctl.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/map.h"
#include "base/mem.h"
#include "ir/ir.h"
#include "net/netns.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct redirect {
    char *netns; /* the path */
    bool wanted;
};

struct tr_meshctl {
    char *cidr;
    struct tr_map done;    /* netns path -> struct redirect* (installed) */
    struct tr_map refused; /* "ns/name" of Pods whose annotation was refused, said once each */
};

struct tr_meshctl *tr_meshctl_new(const char *cidr)
{
    struct tr_meshctl *m = tr_xcalloc(1, sizeof(*m));
    m->cidr = tr_xstrdup(cidr);
    return m;
}

/* Removes r's table, when its namespace is still there. */
static void undo(struct redirect *r)
{
    int nsfd = tr_netns_open(r->netns);
    if (nsfd < 0)
        return; /* the namespace went with its workload, and the table with it */
    struct tr_buf err;
    tr_buf_init(&err, 0);
    if (tr_netns_unredirect(nsfd, &err) != 0)
        tr_log_warn("mesh: %s: cannot remove the redirect: %s", r->netns, err.data ? err.data : "");
    tr_buf_dispose(&err);
    close(nsfd);
}

bool tr_meshctl_reconcile(struct tr_meshctl *m, const struct tr_ir *ir)
{
    bool failed = false;
    size_t it = 0;
    struct tr_map_slot *sl;
    while ((sl = tr_map_next(&m->done, &it)))
        ((struct redirect *)sl->val)->wanted = false;
    for (size_t i = 0; i < ir->nclients; i++) {
        const struct tr_ir_mesh_client *c = &ir->clients[i];
        if (c->refused) {
            char key[600];
            int kl = snprintf(key, sizeof(key), "%s/%s", c->ns, c->name);
            if (kl > 0 && (size_t)kl < sizeof(key) && !tr_map_get(&m->refused, key, (size_t)kl)) {
                tr_map_put(&m->refused, key, (size_t)kl, (void *)1);
                tr_log_warn("mesh: Pod %s/%s: %s (it names %s): not in the mesh", c->ns, c->name, c->refused,
                            c->netns);
            }
            continue;
        }
        struct redirect *r = tr_map_get(&m->done, c->netns, strlen(c->netns));
        if (r) {
            r->wanted = true;
            continue;
        }
        int nsfd = tr_netns_open(c->netns);
        if (nsfd < 0) {
            tr_log_warn("mesh: Pod %s/%s: network namespace %s: %s", c->ns, c->name, c->netns, strerror(errno));
            failed = true; /* it may appear after its Pod */
            continue;
        }
        if (tr_netns_is_own(nsfd)) {
            tr_log_warn("mesh: Pod %s/%s: %s is torii's own network namespace: not redirected", c->ns, c->name,
                        c->netns);
            close(nsfd);
            continue;
        }
        struct tr_buf err;
        tr_buf_init(&err, 0);
        int rc = tr_netns_redirect(nsfd, m->cidr, TR_MESH_REDIRECT_PORT, TR_NETNS_MARK, &err);
        close(nsfd);
        if (rc != 0) {
            tr_log_warn("mesh: Pod %s/%s: cannot redirect %s in %s: %s", c->ns, c->name, m->cidr, c->netns,
                        err.data ? err.data : "");
            tr_buf_dispose(&err);
            failed = true;
            continue;
        }
        tr_buf_dispose(&err);
        r = tr_xcalloc(1, sizeof(*r));
        r->netns = tr_xstrdup(c->netns);
        r->wanted = true;
        tr_map_put(&m->done, r->netns, strlen(r->netns), r);
        tr_log_info("mesh: Pod %s/%s: its connections to %s go through torii", c->ns, c->name, m->cidr);
    }
    char **gone = tr_xcalloc(m->done.len + 1, sizeof(char *));
    size_t n = 0;
    it = 0;
    while ((sl = tr_map_next(&m->done, &it)))
        if (!((struct redirect *)sl->val)->wanted)
            gone[n++] = ((struct redirect *)sl->val)->netns;
    for (size_t i = 0; i < n; i++) {
        struct redirect *r = tr_map_del(&m->done, gone[i], strlen(gone[i]));
        undo(r);
        free(r->netns);
        free(r);
    }
    free(gone);
    return failed;
}

void tr_meshctl_free(struct tr_meshctl *m)
{
    if (!m)
        return;
    size_t it = 0;
    struct tr_map_slot *sl;
    while ((sl = tr_map_next(&m->done, &it))) {
        struct redirect *r = sl->val;
        undo(r);
        free(r->netns);
        free(r);
    }
    tr_map_dispose(&m->done);
    tr_map_dispose(&m->refused);
    free(m->cidr);
    free(m);
}
