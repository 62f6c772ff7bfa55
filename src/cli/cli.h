/* Subcommands of the torii binary. Each returns the process exit status. */
#ifndef TR_CLI_H
#define TR_CLI_H

int tr_cmd_run(int argc, char **argv);
int tr_cmd_check(int argc, char **argv);
int tr_cmd_status(int argc, char **argv);
int tr_cmd_validate(int argc, char **argv);
int tr_cmd_schema_dump(int argc, char **argv);

#define TR_VERSION "0.1.0"
#define TR_CONTROLLER_NAME "torii.dev/gateway-controller"

#endif
