/* The kubectl-like table of objects and their conditions, shared by check and status. */
#ifndef TR_CLI_PRINT_H
#define TR_CLI_PRINT_H

#include <stdio.h>

struct tr_node;

/* Prints every item of list ({"items": [...], "rejected": [...]}) with its conditions. Returns
 * how many are rejected or have an Accepted=False condition anywhere. */
int tr_print_table(FILE *f, const struct tr_node *list);

#endif
