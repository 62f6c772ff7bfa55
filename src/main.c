/* torii: one program that reads Gateway API objects, judges them as the spec does, reports that
 * judgement in status, and carries the traffic. */
#include "cli/cli.h"
#include "net/loop.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
} cmds[] = {
    {"run", tr_cmd_run, "run --config DIR: serve the manifests of DIR, watching it for changes"},
    {"check", tr_cmd_check, "check DIR: validate and translate offline; exit 1 if anything is rejected"},
    {"status", tr_cmd_status, "status [KIND [NS/NAME]] [-o yaml|json]: status from a running torii"},
    {"validate", tr_cmd_validate, "validate FILE...: check manifests against the schema only"},
    {"schema-dump", tr_cmd_schema_dump, "schema-dump: print torii's schema tables as JSON"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: torii COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
        fprintf(f, "  %s\n", cmds[i].help);
    fprintf(f, "  version: print the version\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
        printf("torii %s (controller %s, Gateway API v1.6.1)\n", TR_VERSION, TR_CONTROLLER_NAME);
        /* What --io-engine can have here: built in, and accepted by this kernel. */
        const char *why = NULL;
        if (tr_loop_use(TR_LOOP_URING, &why) == 0)
            printf("io engines: epoll, io_uring\n");
        else
            printf("io engines: epoll (io_uring: %s)\n", why);
        tr_loop_use(TR_LOOP_EPOLL, &why);
        return 0;
    }
    if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
        if (strcmp(argv[1], cmds[i].name) == 0)
            return cmds[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "torii: unknown command \"%s\"\n", argv[1]);
    usage(stderr);
    return 2;
}
