/* cmd/kafka_opts.c — Kafka options shared by the Kafka subcommands. */
#include "cmd/kafka_opts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char kafka_opts_usage[] =
    "  -b, --bootstrap HOST:PORT  Kafka bootstrap servers\n"
    "                             (default $BITMON_KAFKA_BOOTSTRAP_SERVERS)\n"
    "  --jobs-topic NAME          default bitmon.jobs\n"
    "  --results-topic NAME       default bitmon.results\n"
    "  --dlq-topic NAME           default bitmon.jobs.dlq\n"
    "  -X [kafka.]KEY=VALUE       librdkafka property (repeatable)\n";

void kafka_opts_init(kafka_opts_t *o) {
        memset(o, 0, sizeof(*o));
        o->bootstrap = getenv("BITMON_KAFKA_BOOTSTRAP_SERVERS");
        if (o->bootstrap && !*o->bootstrap)
                o->bootstrap = NULL;
        o->topic_jobs = "bitmon.jobs";
        o->topic_results = "bitmon.results";
        o->topic_dlq = "bitmon.jobs.dlq";
}

int cmd_opt_value(int argc, char **argv, int *i, const char *name,
                  const char **val) {
        const char *a = argv[*i];
        size_t n = strlen(name);
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
        char *end = NULL;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (errno || end == s || *end || v < min || v > max) {
                fprintf(stderr, "bitmon: %s: expected an integer %lld..%lld, "
                                "got '%s'\n",
                        opt, min, max, s);
                return -1;
        }
        *out = v;
        return 0;
}

static int add_kv(kafka_opts_t *o, const char *arg) {
        const char *eq = strchr(arg, '=');
        if (strncmp(arg, "kafka.", 6) == 0)
                arg += 6;
        if (!eq || eq == arg || o->n_kv == KAFKA_OPTS_MAX_KV ||
            (size_t)(eq - arg) >= sizeof(o->kv_store[0])) {
                fprintf(stderr, "bitmon: -X expects KEY=VALUE (at most %d)\n",
                        KAFKA_OPTS_MAX_KV);
                return -1;
        }
        char *k = o->kv_store[o->n_kv];
        memcpy(k, arg, (size_t)(eq - arg));
        k[eq - arg] = '\0';
        o->kv[2 * o->n_kv] = k;
        o->kv[2 * o->n_kv + 1] = eq + 1;
        o->n_kv++;
        return 0;
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
        if ((r = cmd_opt_value(argc, argv, i, "-X", &v)))
                return r > 0 ? (add_kv(o, v) < 0 ? -1 : 1) : r;
        return 0;
}

kconf_pairs_t kafka_opts_pairs(const kafka_opts_t *o) {
        return (kconf_pairs_t){o->kv, o->n_kv};
}
