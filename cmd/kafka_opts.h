/* cmd/kafka_opts.h — the Kafka options shared by `enqueue`, `tail` and
 * `topics`: bootstrap, topic names and `-X key=value` librdkafka passthrough.
 *
 * A small struct on purpose: until the configuration table exists the values
 * come from flags and BITMON_KAFKA_BOOTSTRAP_SERVERS; later cmd/ fills the
 * same struct from the table (kafka.*, topics.*).
 */
#ifndef BITMON_CMD_KAFKA_OPTS_H
#define BITMON_CMD_KAFKA_OPTS_H

#include <stddef.h>

#include "producer/kconf.h"

#define KAFKA_OPTS_MAX_KV 32

typedef struct kafka_opts {
        const char *bootstrap;     /* -b; env BITMON_KAFKA_BOOTSTRAP_SERVERS */
        const char *topic_jobs;    /* --jobs-topic, default bitmon.jobs */
        const char *topic_results; /* --results-topic, default bitmon.results */
        const char *topic_dlq;     /* --dlq-topic, default bitmon.jobs.dlq */
        const char *kv[2 * KAFKA_OPTS_MAX_KV]; /* -X pairs, point into argv */
        size_t n_kv;
        char kv_store[KAFKA_OPTS_MAX_KV][256];
} kafka_opts_t;

/* Defaults, then the environment. */
void kafka_opts_init(kafka_opts_t *o);

/* If argv[*i] is a shared option, consumes it (and its value) and returns 1;
 * 0 when it is not one of ours; -1 after printing an error. */
int kafka_opts_parse(kafka_opts_t *o, int argc, char **argv, int *i);

/* The -X pairs for kconf. */
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
