/* cmd/cmd.h — the subcommands of the bitmon binary. Each takes argv with the
 * command name at argv[0] and returns the process exit code. */
#ifndef BITMON_CMD_CMD_H
#define BITMON_CMD_CMD_H

int cmd_version(int argc, char **argv);
int cmd_enqueue(int argc, char **argv);
int cmd_tail(int argc, char **argv);
int cmd_topics(int argc, char **argv);

#endif
