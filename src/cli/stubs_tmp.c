#include "cli/cli.h"
#include <stdio.h>
int tr_cmd_run(int argc, char **argv) { fprintf(stderr, "not yet\n"); return 2; }
int tr_cmd_check(int argc, char **argv) { fprintf(stderr, "not yet\n"); return 2; }
int tr_cmd_status(int argc, char **argv) { fprintf(stderr, "not yet\n"); return 2; }
