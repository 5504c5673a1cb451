/* cmd/topics.c — `bitmon topics`: create the jobs, results, DLQ and logs
 * topics with the admin API, or (--check) only verify them and report
 * differences in partitions, replication, retention.ms and (logs topic:
 * zstd) compression.type. Existing topics are never
 * changed: adding partitions to a keyed topic moves keys, so that stays the
 * operator's decision. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/kafka_opts.h"
#include "common/buf.h"
#include "common/log.h"

typedef struct topic_spec {
        const char *name;
        int partitions;
        int replication;
        long long retention_ms;
        const char *compression; /* compression.type, NULL = the broker's */
} topic_spec_t;

typedef struct topics_opts {
        kafka_opts_t kafka;
        long long partitions, replication, retention_ms; /* 0 = config */
        long long logs_retention_ms;                     /* 0 = config */
        int check;
        long long timeout_s;
} topics_opts_t;

static int admin_timeout_ms = 30000;

static void usage(FILE *f) {
        fprintf(f,
                "usage: bitmon topics [--check] [options]\n\n"
                "  --check              only verify; exit 1 on any difference\n"
                "  --partitions N       default: topics.partitions\n"
                "  --replication N      default: topics.replication\n"
                "  --retention-ms MS    default: topics.retention_ms\n"
                "  --logs-retention-ms MS  the logs topic's; default:\n"
                "                       topics.logs_retention_ms\n"
                "  --timeout S          per admin request (default 30)\n"
                "%s",
                kafka_opts_usage);
}

static int parse_num(int argc, char **argv, int *i, const char *name,
                     long long min, long long max, long long *out) {
        const char *v = NULL;
        int r         = cmd_opt_value(argc, argv, i, name, &v);
        if (r <= 0)
                return r;
        return cmd_opt_int(name, v, min, max, out) < 0 ? -1 : 1;
}

static int parse_args(topics_opts_t *o, int argc, char **argv) {
        kafka_opts_init(&o->kafka);
        o->timeout_s = 30;
        for (int i = 1; i < argc; i++) {
                int r;
                if (strcmp(argv[i], "-h") == 0 ||
                    strcmp(argv[i], "--help") == 0) {
                        usage(stdout);
                        return 1;
                }
                if (strcmp(argv[i], "--check") == 0) {
                        o->check = 1;
                        continue;
                }
                if ((r = kafka_opts_parse(&o->kafka, argc, argv, &i)) ||
                    (r = parse_num(argc, argv, &i, "--partitions", 1, 10000,
                                   &o->partitions)) ||
                    (r = parse_num(argc, argv, &i, "--replication", 1, 100,
                                   &o->replication)) ||
                    (r = parse_num(argc, argv, &i, "--retention-ms", 1,
                                   1LL << 62, &o->retention_ms)) ||
                    (r = parse_num(argc, argv, &i, "--logs-retention-ms", 1,
                                   1LL << 62, &o->logs_retention_ms)) ||
                    (r = parse_num(argc, argv, &i, "--timeout", 1, 3600,
                                   &o->timeout_s))) {
                        if (r < 0)
                                return -1;
                        continue;
                }
                fprintf(stderr, "bitmon topics: unknown option '%s'\n",
                        argv[i]);
                return -1;
        }
        if (kafka_opts_load(&o->kafka) < 0)
                return -1;
        if (!o->partitions)
                o->partitions = config_int(o->kafka.cfg, "topics.partitions");
        if (!o->replication)
                o->replication = config_int(o->kafka.cfg, "topics.replication");
        if (!o->retention_ms)
                o->retention_ms =
                    config_int(o->kafka.cfg, "topics.retention_ms");
        if (!o->logs_retention_ms)
                o->logs_retention_ms =
                    config_int(o->kafka.cfg, "topics.logs_retention_ms");
        return 0;
}

/* Partition count and replication of partition 0; 0 with *parts = 0 when
 * the topic does not exist, -1 on error. Asks for all topics' metadata:
 * naming one topic would let a broker with auto.create.topics.enable
 * create it. */
static int topic_describe(rd_kafka_t *rk, const char *name, int *parts,
                          int *repl, char *errstr, size_t size) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, NULL, &md, 10000);
        *parts = *repl = 0;
        if (err) {
                snprintf(errstr, size, "cannot describe %s: %s", name,
                         rd_kafka_err2str(err));
                return -1;
        }
        for (int i = 0; i < md->topic_cnt; i++) {
                const rd_kafka_metadata_topic_t *t = &md->topics[i];
                if (strcmp(t->topic, name) != 0 || t->err)
                        continue;
                *parts = t->partition_cnt;
                *repl  = *parts ? t->partitions[0].replica_cnt : 0;
        }
        rd_kafka_metadata_destroy(md);
        return 0;
}

/* retention.ms of a topic into *out and its compression.type into
 * comp; -1 with errstr when not available. */
static int topic_retention(rd_kafka_t *rk, const char *name, long long *out,
                           char *comp, size_t comp_size, char *errstr,
                           size_t size) {
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_ConfigResource_t *res =
            rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, name);
        rd_kafka_AdminOptions_t *ao =
            rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
        rd_kafka_event_t *ev = NULL;
        int rc               = -1;
        snprintf(errstr, size, "retention.ms unknown");
        rd_kafka_AdminOptions_set_request_timeout(ao, admin_timeout_ms, NULL,
                                                  0);
        rd_kafka_DescribeConfigs(rk, &res, 1, ao, q);
        ev = rd_kafka_queue_poll(q, admin_timeout_ms + 5000);
        if (!ev || rd_kafka_event_error(ev)) {
                snprintf(errstr, size, "cannot describe configs: %s",
                         ev ? rd_kafka_event_error_string(ev) : "timed out");
                goto out;
        }
        size_t nres, ncfg;
        const rd_kafka_ConfigResource_t **rs =
            rd_kafka_DescribeConfigs_result_resources(
                rd_kafka_event_DescribeConfigs_result(ev), &nres);
        if (nres != 1 || rd_kafka_ConfigResource_error(rs[0]))
                goto out;
        const rd_kafka_ConfigEntry_t **cfg =
            rd_kafka_ConfigResource_configs(rs[0], &ncfg);
        for (size_t i = 0; i < ncfg; i++) {
                const char *v = rd_kafka_ConfigEntry_value(cfg[i]);
                const char *k = rd_kafka_ConfigEntry_name(cfg[i]);
                if (strcmp(k, "retention.ms") == 0 && v) {
                        *out = strtoll(v, NULL, 10);
                        rc   = 0;
                } else if (strcmp(k, "compression.type") == 0 && v) {
                        snprintf(comp, comp_size, "%s", v);
                }
        }
out:
        if (ev)
                rd_kafka_event_destroy(ev);
        rd_kafka_ConfigResource_destroy(res);
        rd_kafka_AdminOptions_destroy(ao);
        rd_kafka_queue_destroy(q);
        return rc;
}

static int topic_create(rd_kafka_t *rk, const topic_spec_t *t, char *errstr,
                        size_t size) {
        char ret[32];
        int rc                  = -1;
        rd_kafka_queue_t *q     = rd_kafka_queue_new(rk);
        rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(
            t->name, t->partitions, t->replication, errstr, size);
        rd_kafka_AdminOptions_t *ao =
            rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
        rd_kafka_event_t *ev = NULL;
        if (!nt)
                goto out;
        snprintf(ret, sizeof(ret), "%lld", t->retention_ms);
        rd_kafka_NewTopic_set_config(nt, "retention.ms", ret);
        if (t->compression)
                rd_kafka_NewTopic_set_config(nt, "compression.type",
                                             t->compression);
        rd_kafka_AdminOptions_set_request_timeout(ao, admin_timeout_ms, NULL,
                                                  0);
        rd_kafka_AdminOptions_set_operation_timeout(ao, admin_timeout_ms, NULL,
                                                    0);
        rd_kafka_CreateTopics(rk, &nt, 1, ao, q);
        ev = rd_kafka_queue_poll(q, admin_timeout_ms + 5000);
        if (!ev || rd_kafka_event_error(ev)) {
                snprintf(errstr, size, "cannot create %s: %s", t->name,
                         ev ? rd_kafka_event_error_string(ev) : "timed out");
                goto out;
        }
        size_t n;
        const rd_kafka_topic_result_t **r = rd_kafka_CreateTopics_result_topics(
            rd_kafka_event_CreateTopics_result(ev), &n);
        if (n != 1 || rd_kafka_topic_result_error(r[0])) {
                snprintf(errstr, size, "cannot create %s: %s", t->name,
                         n == 1 ? rd_kafka_topic_result_error_string(r[0])
                                : "no result");
                goto out;
        }
        rc = 0;
out:
        if (ev)
                rd_kafka_event_destroy(ev);
        if (nt)
                rd_kafka_NewTopic_destroy(nt);
        rd_kafka_AdminOptions_destroy(ao);
        rd_kafka_queue_destroy(q);
        return rc;
}

/* Verifies (and unless check, creates) one topic; prints one line. Returns
 * 0 when the topic is as specified, 1 on a difference, -1 on error. */
static int topic_ensure(rd_kafka_t *rk, const topic_spec_t *t, int check) {
        char err[512];
        int parts, repl, rc = 0;
        long long ret = 0;
        char comp[32] = "";
        buf_t diff;
        if (topic_describe(rk, t->name, &parts, &repl, err, sizeof(err)) < 0) {
                printf("%s: error: %s\n", t->name, err);
                return -1;
        }
        if (parts == 0) {
                if (check) {
                        printf("%s: missing\n", t->name);
                        return 1;
                }
                if (topic_create(rk, t, err, sizeof(err)) < 0) {
                        printf("%s: error: %s\n", t->name, err);
                        return -1;
                }
                printf("%s: created (partitions %d, retention.ms %lld%s%s)\n",
                       t->name, t->partitions, t->retention_ms,
                       t->compression ? ", compression.type " : "",
                       t->compression ? t->compression : "");
                return 0;
        }
        buf_init(&diff, 4096);
        if (parts != t->partitions)
                buf_printf(&diff, "; partitions %d, want %d", parts,
                           t->partitions);
        if (repl != t->replication)
                buf_printf(&diff, "; replication %d, want %d", repl,
                           t->replication);
        if (topic_retention(rk, t->name, &ret, comp, sizeof(comp), err,
                            sizeof(err)) < 0)
                buf_printf(&diff, "; %s", err);
        else if (ret != t->retention_ms)
                buf_printf(&diff, "; retention.ms %lld, want %lld", ret,
                           t->retention_ms);
        if (t->compression && strcmp(comp, t->compression) != 0)
                buf_printf(&diff, "; compression.type %s, want %s",
                           comp[0] ? comp : "unknown", t->compression);
        if (diff.len) {
                printf("%s: differs: %s\n", t->name, buf_cstr(&diff) + 2);
                rc = 1;
        } else {
                printf("%s: ok (partitions %d, replication %d, retention.ms "
                       "%lld%s%s)\n",
                       t->name, parts, repl, ret,
                       t->compression ? ", compression.type " : "",
                       t->compression ? t->compression : "");
        }
        buf_release(&diff);
        return rc;
}

int cmd_topics(int argc, char **argv) {
        topics_opts_t o = {0};
        char err[512];
        int rc = parse_args(&o, argc, argv), bad = 0;
        if (rc != 0) {
                kafka_opts_release(&o.kafka);
                return rc > 0 ? 0 : 2;
        }
        log_setup(LOG_LVL_WARN, LOG_FMT_AUTO, 2);
        admin_timeout_ms    = (int)o.timeout_s * 1000;
        kconf_pairs_t pairs = kafka_opts_pairs(&o.kafka);
        rd_kafka_conf_t *conf =
            kconf_new(o.kafka.bootstrap, NULL, &pairs, err, sizeof(err));
        rd_kafka_t *rk =
            conf ? rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err))
                 : NULL;
        if (!rk) {
                if (conf)
                        rd_kafka_conf_destroy(conf);
                fprintf(stderr, "bitmon topics: %s\n", err);
                kafka_opts_release(&o.kafka);
                return 1;
        }
        const topic_spec_t specs[4] = {
            {o.kafka.topic_jobs, (int)o.partitions, (int)o.replication,
             o.retention_ms, NULL},
            {o.kafka.topic_results, (int)o.partitions, (int)o.replication,
             o.retention_ms, NULL},
            {o.kafka.topic_dlq, (int)o.partitions, (int)o.replication,
             o.retention_ms, NULL},
            {o.kafka.topic_logs, (int)o.partitions, (int)o.replication,
             o.logs_retention_ms, "zstd"},
        };
        for (int i = 0; i < 4; i++)
                bad |= topic_ensure(rk, &specs[i], o.check) != 0;
        rd_kafka_destroy(rk);
        kafka_opts_release(&o.kafka);
        return bad ? 1 : 0;
}
