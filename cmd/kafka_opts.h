/* cmd/kafka_opts.h — the Kafka options shared by `enqueue`, `tail` and
 * `topics`: the configuration (file, BITMON_* environment, -X key=value, as
 * for every command) plus command-line shortcuts for the bootstrap servers
 * and topic names, which win over the configuration.
 *
 * Usage: kafka_opts_init, kafka_opts_parse on each argument, kafka_opts_load
 * once after parsing, then read the fields; kafka_opts_release at the end.
 */
#ifndef BITMON_CMD_KAFKA_OPTS_H
#define BITMON_CMD_KAFKA_OPTS_H

#include <stddef.h>

#include "common/config.h"
#include "producer/kconf.h"

#define KAFKA_OPTS_MAX_X  64 /* -X arguments */
#define KAFKA_OPTS_MAX_KV 64 /* kafka.* passthrough pairs */

typedef struct kafka_opts {
        /* Resolved by kafka_opts_load: the flag if given, else the
         * configuration (kafka.bootstrap.servers, topics.*). Borrowed from
         * argv or the config. */
        const char *bootstrap;
        const char *topic_jobs, *topic_results, *topic_dlq, *topic_logs;
        const char *config_file;       /* --config FILE, else $BITMON_CONFIG */
        char *xargs[KAFKA_OPTS_MAX_X]; /* -X key=value, borrowed from argv */
        size_t n_xargs;
        config_t *cfg; /* owned, after kafka_opts_load */
        /* kafka.* keys except bootstrap.servers, prefix removed */
        const char *kv[2 * KAFKA_OPTS_MAX_KV];
        size_t n_kv;
} kafka_opts_t;

void kafka_opts_init(kafka_opts_t *o);

/* If argv[*i] is a shared option, consumes it (and its value) and returns 1;
 * 0 when it is not one of ours; -1 after printing an error. */
int kafka_opts_parse(kafka_opts_t *o, int argc, char **argv, int *i);

/* Loads the configuration and resolves the fields. 0, or -1 after printing
 * every configuration error. */
int kafka_opts_load(kafka_opts_t *o);

/* Frees the configuration. */
void kafka_opts_release(kafka_opts_t *o);

/* The kafka.* pairs for kconf. */
kconf_pairs_t kafka_opts_pairs(const kafka_opts_t *o);

/* The option lines for a command's usage text. */
extern const char kafka_opts_usage[];

/* Matches "--name value" or "--name=value" at argv[*i]: returns 1 and sets
 * *val (advancing *i past the value), 0 if argv[*i] is not --name, -1 when
 * the value is missing (error printed). */
int cmd_opt_value(int argc, char **argv, int *i, const char *name,
                  const char **val);

/* Parses a decimal integer in [min, max]; 0 or -1 (error printed, naming
 * the option). */
int cmd_opt_int(const char *opt, const char *s, long long min, long long max,
                long long *out);

#endif
