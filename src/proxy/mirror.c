/* RequestMirror: copies of a request (the head and body sent upstream, each in the codec of its
 * mirror's backend) to the mirror backends,
 * whose answers are read and dropped. A copy never holds back the request it copies. */
#include "base/log.h"
#include "ir/ir.h"
#include "proxy/internal.h"
#include "proxy/upstream.h"
#include "worker/lb.h"

void tr_mirror_send(struct tr_exchange *x, const struct tr_ir_rule *r, const struct tr_req_out *head)
{
    if (x->upgrade_asked)
        return;
    size_t fed = 0;
    for (size_t i = 0; i < r->nmirrors; i++) {
        if (!x->req_done && fed == TR_MIRRORS_FED)
            break;
        const struct tr_ir_mirror *m = &tr_ir_rule_mirrors(r)[i];
        if (m->backend.invalid || !m->denominator)
            continue;
        if (tr_worker_rand(x->w) % m->denominator >= m->numerator)
            continue;
        const struct tr_ir_endpoint *ep = tr_lb_endpoint(x->w, &m->backend);
        if (!ep)
            continue;
        char key[sizeof(((struct upc *)0)->key)];
        const struct tr_ir_backend_tls *tls = tr_upstream_tls(x, &m->backend, key, sizeof(key), ep);
        if (m->backend.tls && !tls)
            continue;
        struct upc *u = tr_upstream_open(x->w, ep, key, tls, x->snap, tr_upstream_wants_h2(x, &m->backend));
        if (!u)
            continue;
        u->mirror = true; /* HTTP/1.1: the head asks the backend to close after answering */
        u->ops->head(u, head);
        if (!x->req_done) {
            /* The body follows as the client sends it (tr_mirror_feed). */
            u->feeder = x;
            x->mirrors[fed++] = u;
        }
        tr_timer_start(x->w->loop, &u->timer, tr_proxy_response_timeout_ms);
        tr_upstream_flush(u);
    }
}

void tr_mirror_feed(struct tr_exchange *x, const char *p, size_t n)
{
    for (size_t i = 0; i < TR_MIRRORS_FED; i++) {
        struct upc *m = x->mirrors[i];
        if (!m)
            continue;
        if (tr_buf_pending(&m->out, m->out_off) + n > TR_MIRROR_MAX_BACKLOG) {
            tr_log_debug("mirror %s falls behind the request body: dropped", m->key);
            tr_upstream_close(m); /* clears x->mirrors[i] */
            continue;
        }
        m->ops->data(m, p, n);
        tr_upstream_flush(m);
    }
}

void tr_mirror_release(struct tr_exchange *x, bool abort)
{
    for (size_t i = 0; i < TR_MIRRORS_FED; i++) {
        struct upc *m = x->mirrors[i];
        if (!m)
            continue;
        x->mirrors[i] = NULL;
        m->feeder = NULL;
        if (abort) {
            tr_upstream_close(m);
        } else {
            m->ops->end(m);
            tr_upstream_flush(m);
        }
    }
}
