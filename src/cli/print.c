#include "cli/print.h"
#include "base/node.h"

#include <string.h>

static int print_conds(FILE *f, const struct tr_node *conds)
{
    int bad = 0;
    for (size_t i = 0; i < tr_node_len(conds); i++) {
        const struct tr_node *c = tr_node_at(conds, i);
        const char *type = tr_node_gets(c, "type"), *st = tr_node_gets(c, "status");
        const char *reason = tr_node_gets(c, "reason");
        if (!type || !st)
            continue;
        fprintf(f, " %s=%s", type, st);
        if (reason && strcmp(reason, type) != 0)
            fprintf(f, "(%s)", reason);
        if (strcmp(type, "Accepted") == 0 && strcmp(st, "False") == 0)
            bad++;
    }
    return bad;
}

static void print_msgs(FILE *f, const struct tr_node *conds, const char *indent)
{
    for (size_t i = 0; i < tr_node_len(conds); i++) {
        const struct tr_node *c = tr_node_at(conds, i);
        const char *st = tr_node_gets(c, "status"), *type = tr_node_gets(c, "type");
        const char *msg = tr_node_gets(c, "message");
        bool good = st && type && ((strcmp(st, "True") == 0) != (strcmp(type, "Conflicted") == 0));
        if (!good && msg && *msg)
            fprintf(f, "%s%s: %s\n", indent, type, msg);
    }
}

static const char *ref_name(const struct tr_node *ref, char *buf, size_t cap)
{
    const char *ns = tr_node_gets(ref, "namespace"), *name = tr_node_gets(ref, "name");
    snprintf(buf, cap, "%s %s%s%s", tr_node_gets(ref, "kind") ? tr_node_gets(ref, "kind") : "", ns ? ns : "",
             ns ? "/" : "", name ? name : "?");
    return buf;
}

int tr_print_table(FILE *f, const struct tr_node *list)
{
    int bad = 0;
    const struct tr_node *items = tr_node_get(list, "items");
    for (size_t i = 0; i < tr_node_len(items); i++) {
        const struct tr_node *o = tr_node_at(items, i);
        const struct tr_node *st = tr_node_get(o, "status");
        const struct tr_node *meta = tr_node_get(o, "metadata");
        const char *kind = tr_node_gets(o, "kind"), *ns = tr_node_gets(meta, "namespace");
        const char *name = tr_node_gets(meta, "name");
        if (!st)
            continue; /* core objects and objects that are not ours */
        char id[600];
        snprintf(id, sizeof(id), "%s%s%s", ns ? ns : "", ns ? "/" : "", name ? name : "");
        fprintf(f, "%-18s %-48s", kind ? kind : "?", id);
        bad += print_conds(f, tr_node_get(st, "conditions"));
        const struct tr_node *addrs = tr_node_get(st, "addresses");
        for (size_t j = 0; j < tr_node_len(addrs); j++)
            fprintf(f, " address=%s", tr_node_gets(tr_node_at(addrs, j), "value"));
        fprintf(f, "\n");
        print_msgs(f, tr_node_get(st, "conditions"), "    ");
        const struct tr_node *ls = tr_node_get(st, "listeners");
        for (size_t j = 0; j < tr_node_len(ls); j++) {
            const struct tr_node *l = tr_node_at(ls, j);
            fprintf(f, "  listener %-38s routes=%-3lld", tr_node_gets(l, "name"),
                    (long long)tr_node_geti(l, "attachedRoutes", 0));
            bad += print_conds(f, tr_node_get(l, "conditions"));
            fprintf(f, "\n");
            print_msgs(f, tr_node_get(l, "conditions"), "      ");
        }
        static const char *const lists[][2] = {{"parents", "parentRef"}, {"ancestors", "ancestorRef"}};
        for (size_t k = 0; k < 2; k++) {
            const struct tr_node *ps = tr_node_get(st, lists[k][0]);
            for (size_t j = 0; j < tr_node_len(ps); j++) {
                const struct tr_node *p = tr_node_at(ps, j);
                char buf[600];
                fprintf(f, "  %s %-40s", k ? "ancestor" : "parent", ref_name(tr_node_get(p, lists[k][1]), buf, sizeof(buf)));
                bad += print_conds(f, tr_node_get(p, "conditions"));
                fprintf(f, "\n");
                print_msgs(f, tr_node_get(p, "conditions"), "      ");
            }
        }
    }
    const struct tr_node *rej = tr_node_get(list, "rejected");
    for (size_t i = 0; i < tr_node_len(rej); i++) {
        const struct tr_node *r = tr_node_at(rej, i);
        const struct tr_node *errs = tr_node_get(r, "errors");
        for (size_t j = 0; j < tr_node_len(errs); j++)
            fprintf(f, "REJECTED %s\n", tr_node_at(errs, j)->u.s);
        bad++;
    }
    return bad;
}
