/* cmd/kafka_opts.c — Kafka options shared by the Kafka subcommands. */
#include "cmd/kafka_opts.h"

#include "cmd/cmd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char kafka_opts_usage[] =
    "  -b, --bootstrap HOST:PORT  Kafka bootstrap servers\n"
    "                             (default: kafka.bootstrap.servers)\n"
    "  --jobs-topic NAME          default: topics.jobs\n"
    "  --results-topic NAME       default: topics.results\n"
    "  --dlq-topic NAME           default: topics.dlq\n"
    "  --logs-topic NAME          default: topics.logs\n"
    "  --config FILE              configuration file (default $BITMON_CONFIG)\n"
    "  -X KEY=VALUE               set a configuration key, e.g.\n"
    "                             -X kafka.security.protocol=ssl "
    "(repeatable)\n";

void kafka_opts_init(kafka_opts_t *o) {
        memset(o, 0, sizeof(*o));
}

int cmd_opt_value(int argc, char **argv, int *i, const char *name,
                  const char **val) {
        const char *a = argv[*i];
        size_t n      = strlen(name);
        if (strncmp(a, name, n) != 0)
                return 0;
        if (a[n] == '=') {
                *val = a + n + 1;
                return 1;
        }
        if (a[n] != '\0')
                return 0;
        if (*i + 1 >= argc) {
                fprintf(stderr, "bitmon: %s needs a value\n", name);
                return -1;
        }
        *val = argv[++*i];
        return 1;
}

int cmd_opt_int(const char *opt, const char *s, long long min, long long max,
                long long *out) {
        char *end   = NULL;
        errno       = 0;
        long long v = strtoll(s, &end, 10);
        if (errno || end == s || *end || v < min || v > max) {
                fprintf(stderr,
                        "bitmon: %s: expected an integer %lld..%lld, "
                        "got '%s'\n",
                        opt, min, max, s);
                return -1;
        }
        *out = v;
        return 0;
}

static int add_x(kafka_opts_t *o, char *arg) {
        if (o->n_xargs == KAFKA_OPTS_MAX_X) {
                fprintf(stderr, "bitmon: at most %d -X options\n",
                        KAFKA_OPTS_MAX_X);
                return -1;
        }
        o->xargs[o->n_xargs++] = arg;
        return 1;
}

int kafka_opts_parse(kafka_opts_t *o, int argc, char **argv, int *i) {
        const char *v = NULL;
        int r;
        if ((r = cmd_opt_value(argc, argv, i, "-b", &v)) ||
            (r = cmd_opt_value(argc, argv, i, "--bootstrap", &v))) {
                if (r > 0)
                        o->bootstrap = v;
                return r;
        }
        if ((r = cmd_opt_value(argc, argv, i, "--jobs-topic", &v)))
                return r > 0 ? (o->topic_jobs = v, 1) : r;
        if ((r = cmd_opt_value(argc, argv, i, "--results-topic", &v)))
                return r > 0 ? (o->topic_results = v, 1) : r;
        if ((r = cmd_opt_value(argc, argv, i, "--dlq-topic", &v)))
                return r > 0 ? (o->topic_dlq = v, 1) : r;
        if ((r = cmd_opt_value(argc, argv, i, "--logs-topic", &v)))
                return r > 0 ? (o->topic_logs = v, 1) : r;
        if ((r = cmd_opt_value(argc, argv, i, "--config", &v)))
                return r > 0 ? (o->config_file = v, 1) : r;
        if ((r = cmd_opt_value(argc, argv, i, "-X", &v)))
                return r > 0 ? add_x(o, argv[*i] + (v - argv[*i])) : r;
        return 0;
}

static int collect_kafka(const char *key, const char *value, void *opaque) {
        kafka_opts_t *o = opaque;
        key += strlen("kafka.");
        if (strcmp(key, "bootstrap.servers") == 0)
                return 0; /* passed on its own, so that -b wins */
        if (o->n_kv == KAFKA_OPTS_MAX_KV) {
                fprintf(stderr, "bitmon: more than %d kafka.* keys\n",
                        KAFKA_OPTS_MAX_KV);
                return -1;
        }
        o->kv[2 * o->n_kv]     = key;
        o->kv[2 * o->n_kv + 1] = value;
        o->n_kv++;
        return 0;
}

int kafka_opts_load(kafka_opts_t *o) {
        o->cfg = cmd_config_load(o->config_file, o->xargs, o->n_xargs);
        if (!o->cfg)
                return -1;
        if (!o->bootstrap)
                o->bootstrap = config_str(o->cfg, "kafka.bootstrap.servers");
        if (!o->topic_jobs)
                o->topic_jobs = config_str(o->cfg, "topics.jobs");
        if (!o->topic_results)
                o->topic_results = config_str(o->cfg, "topics.results");
        if (!o->topic_dlq)
                o->topic_dlq = config_str(o->cfg, "topics.dlq");
        if (!o->topic_logs)
                o->topic_logs = config_str(o->cfg, "topics.logs");
        if (config_foreach_prefix(o->cfg, "kafka.", collect_kafka, o) != 0)
                return -1;
        if (!o->bootstrap || !*o->bootstrap) {
                fprintf(stderr, "bitmon: no Kafka bootstrap servers: use -b or "
                                "kafka.bootstrap.servers\n");
                return -1;
        }
        return 0;
}

void kafka_opts_release(kafka_opts_t *o) {
        config_destroy(o->cfg);
        o->cfg = NULL;
}

kconf_pairs_t kafka_opts_pairs(const kafka_opts_t *o) {
        return (kconf_pairs_t){o->kv, o->n_kv};
}
