/* cmd/cmd.h — the subcommands of the bitmon binary. Each takes argv with the
 * command name at argv[0] and returns the process exit code. */
#ifndef BITMON_CMD_CMD_H
#define BITMON_CMD_CMD_H

#include <stddef.h>

#include "cache/redis.h"
#include "common/config.h"

int cmd_version(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_enqueue(int argc, char **argv);
int cmd_tail(int argc, char **argv);
int cmd_topics(int argc, char **argv);
int cmd_log(int argc, char **argv); /* cmd/log.c: a `log: full` copy */
int cmd_run(int argc, char **argv); /* cmd/run.c: the daemon */

/* Loads the configuration of a command: defaults, then `file` (NULL:
 * $BITMON_CONFIG, if set), the environment, then each "key=value" of xargs
 * (the -X arguments), then the cross-key checks. On any error prints all of
 * them to stderr and returns NULL. Caller frees with config_destroy. Call
 * from main's thread before other threads start. */
config_t *cmd_config_load(const char *file, char *const *xargs, size_t n_xargs);

/* The redis.* keys of cfg as cache_redis_new takes them (strings borrowed
 * from cfg); `name` labels the connection's log lines (NULL: "redis"). */
cache_redis_opts_t cmd_redis_opts(const config_t *cfg, const char *name);

/* Workspace tokens (cmd/connect.c, cmd/tokens.c; docs/connect.md). */
int cmd_connect(int argc, char **argv);
int cmd_disconnect(int argc, char **argv);
int cmd_tokens(int argc, char **argv);

/* Bitrise outgoing webhooks to the intake (cmd/webhooks.c; docs/webhooks.md).
 */
int cmd_webhooks(int argc, char **argv);

#endif
