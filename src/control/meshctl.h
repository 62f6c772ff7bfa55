/* The mesh's redirects in its workloads' network namespaces (docs/mesh.md). Control thread. */
#ifndef TR_CONTROL_MESHCTL_H
#define TR_CONTROL_MESHCTL_H

#include <stdbool.h>

struct tr_ir;
struct tr_meshctl;

/* cidr: the service range whose addresses the workloads' connections are taken from
 * ("10.96.0.0/12"). */
struct tr_meshctl *tr_meshctl_new(const char *cidr);
/* Installs the redirect in the namespace of every mesh client of ir that lacks it, and removes it
 * from those no longer there. True when some could not be installed (logged): the caller calls
 * again later (its namespace may appear after its Pod does). */
bool tr_meshctl_reconcile(struct tr_meshctl *m, const struct tr_ir *ir);
/* Removes every redirect it installed, and frees m (NULL allowed). */
void tr_meshctl_free(struct tr_meshctl *m);

#endif
