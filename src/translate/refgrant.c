/* ReferenceGrant: may an object of from_group/from_kind in from_ns refer to to_kind to_name in
 * to_ns? Only grants in the target namespace count (ReferenceGrant docs). */
#include "translate/internal.h"

#include <string.h>

static bool str_eq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

bool tx_refgrant_allows(struct tx *t, const char *from_group, const char *from_kind, const char *from_ns,
                        const char *to_group, const char *to_kind, const char *to_ns, const char *to_name)
{
    const struct tr_view *v = t->v;
    for (size_t i = 0; i < v->n[TR_KIND_REFERENCEGRANT]; i++) {
        const struct tr_obj *g = v->objs[TR_KIND_REFERENCEGRANT][i];
        int c = strcmp(g->ns, to_ns);
        if (c < 0)
            continue;
        if (c > 0)
            break; /* the view is sorted by namespace */
        bool from_ok = false, to_ok = false;
        const struct tr_node *from = tr_node_get(g->spec, "from");
        for (size_t j = 0; j < tr_node_len(from) && !from_ok; j++) {
            const struct tr_node *f = tr_node_at(from, j);
            from_ok = str_eq(tr_node_gets(f, "group"), from_group) && str_eq(tr_node_gets(f, "kind"), from_kind) &&
                      str_eq(tr_node_gets(f, "namespace"), from_ns);
        }
        const struct tr_node *to = tr_node_get(g->spec, "to");
        for (size_t j = 0; j < tr_node_len(to) && from_ok && !to_ok; j++) {
            const struct tr_node *x = tr_node_at(to, j);
            const char *name = tr_node_gets(x, "name");
            to_ok = str_eq(tr_node_gets(x, "group"), to_group) && str_eq(tr_node_gets(x, "kind"), to_kind) &&
                    (!name || !*name || str_eq(name, to_name));
        }
        if (from_ok && to_ok)
            return true;
    }
    return false;
}
