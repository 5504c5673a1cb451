/* tests/integration/itest_kafka_env.h — what the Kafka integration tests
 * share: a broker (the real one at $BITMON_TEST_KAFKA, else an in-process
 * librdkafka mock cluster), unique topics, reading a topic back whole,
 * committed offsets and watermarks. Header-only (static functions) so each
 * itest binary stays one file. */
#ifndef BITMON_ITEST_KAFKA_ENV_H
#define BITMON_ITEST_KAFKA_ENV_H

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/rand.h"
#include "common/timeutil.h"

typedef struct kt_env {
        char bootstrap[512];
        rd_kafka_t *mock_rk; /* owns the in-process mock cluster */
        rd_kafka_mock_cluster_t *mock;
        int stack_mock; /* the stack's mock (BITMON_TEST_KAFKA_KIND=mock) */
} kt_env_t;

/* Either mock: librdkafka's mock cluster has no CreateTopics nor
 * DescribeConfigs. */
static inline int kt_is_mock(const kt_env_t *env) {
        return env->mock || env->stack_mock;
}

typedef struct kt_msg {
        int32_t part;
        int64_t off;
        char *key, *val; /* NUL-terminated copies; NULL when absent */
        size_t klen, vlen;
        char *hdr_error, *hdr_topic, *hdr_part, *hdr_off;
} kt_msg_t;

static inline int kt_scale(void) {
        const char *s = getenv("BITMON_TEST_TIMEOUT_SCALE");
        long v        = s ? strtol(s, NULL, 10) : 1;
        return v > 0 && v < 100 ? (int)v : 1;
}

static inline void kt_sleep_ms(int ms) {
        struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
}

static inline int kt_env_init(kt_env_t *env) {
        memset(env, 0, sizeof(*env));
        const char *b = getenv("BITMON_TEST_KAFKA");
        if (b && *b) {
                const char *kind = getenv("BITMON_TEST_KAFKA_KIND");
                snprintf(env->bootstrap, sizeof(env->bootstrap), "%s", b);
                env->stack_mock = kind && strcmp(kind, "mock") == 0;
                return 0;
        }
        char err[256];
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "log_level", "3", err, sizeof(err));
        env->mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
        if (!env->mock_rk) {
                fprintf(stderr, "mock: %s\n", err);
                return -1;
        }
        env->mock = rd_kafka_mock_cluster_new(env->mock_rk, 1);
        if (!env->mock)
                return -1;
        snprintf(env->bootstrap, sizeof(env->bootstrap), "%s",
                 rd_kafka_mock_cluster_bootstraps(env->mock));
        fprintf(stderr, "# using in-process mock cluster at %s\n",
                env->bootstrap);
        return 0;
}

static inline void kt_env_release(kt_env_t *env) {
        if (env->mock)
                rd_kafka_mock_cluster_destroy(env->mock);
        if (env->mock_rk)
                rd_kafka_destroy(env->mock_rk);
        memset(env, 0, sizeof(*env));
}

/* "bitmon-it-<pid>-<random>-<what>" */
static inline void kt_unique(const char *what, char *buf, size_t size) {
        snprintf(buf, size, "bitmon-it-%d-%08x-%s", (int)getpid(),
                 (unsigned)(rand_u64() & 0xffffffffu), what);
}

static inline rd_kafka_t *kt_client(const kt_env_t *env, rd_kafka_type_t type,
                                    const char *group) {
        char err[256];
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "bootstrap.servers", env->bootstrap, err,
                          sizeof(err));
        rd_kafka_conf_set(conf, "log_level", "3", err, sizeof(err));
        if (group) {
                rd_kafka_conf_set(conf, "group.id", group, err, sizeof(err));
                rd_kafka_conf_set(conf, "enable.auto.commit", "false", err,
                                  sizeof(err));
        }
        rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof(err));
        if (!rk)
                fprintf(stderr, "kt_client: %s\n", err);
        return rk;
}

/* Creates a topic (admin API on a real broker, the mock's own call on the
 * mock). Returns 0 or -1. */
static inline int kt_topic_create(const kt_env_t *env, const char *name,
                                  int partitions) {
        if (env->mock)
                return rd_kafka_mock_topic_create(env->mock, name, partitions,
                                                  1)
                           ? -1
                           : 0;
        if (env->stack_mock) { /* the stack's own way (tests run from the
                                  repository root) */
                char cmd[512];
                snprintf(cmd, sizeof(cmd),
                         "scripts/kafka.sh topic %s %d >/dev/null", name,
                         partitions);
                return system(cmd) == 0 ? 0 : -1;
        }
        char err[256];
        int rc              = -1;
        rd_kafka_t *rk      = kt_client(env, RD_KAFKA_PRODUCER, NULL);
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_NewTopic_t *nt =
            rd_kafka_NewTopic_new(name, partitions, 1, err, sizeof(err));
        rd_kafka_NewTopic_set_config(nt, "max.message.bytes", "2097152");
        rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000 * kt_scale());
        if (ev && !rd_kafka_event_error(ev)) {
                size_t n;
                const rd_kafka_topic_result_t **res =
                    rd_kafka_CreateTopics_result_topics(
                        rd_kafka_event_CreateTopics_result(ev), &n);
                rc = n == 1 && !rd_kafka_topic_result_error(res[0]) ? 0 : -1;
                if (rc)
                        fprintf(stderr, "create %s: %s\n", name,
                                rd_kafka_topic_result_error_string(res[0]));
        }
        if (ev)
                rd_kafka_event_destroy(ev);
        rd_kafka_NewTopic_destroy(nt);
        rd_kafka_queue_destroy(q);
        rd_kafka_destroy(rk);
        return rc;
}

static inline int kt_partition_count(rd_kafka_t *rk, const char *topic) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
        int n                 = -1;
        for (int i = 0; i < 50 && n <= 0; i++) {
                if (rd_kafka_metadata(rk, 0, rkt, &md, 5000) == 0) {
                        if (md->topic_cnt == 1 && !md->topics[0].err)
                                n = md->topics[0].partition_cnt;
                        rd_kafka_metadata_destroy(md);
                }
                if (n <= 0)
                        kt_sleep_ms(100);
        }
        rd_kafka_topic_destroy(rkt);
        return n;
}

static inline char *kt_dup(const void *p, size_t n) {
        if (!p)
                return NULL;
        char *s = malloc(n + 1);
        memcpy(s, p, n);
        s[n] = 0;
        return s;
}

static inline char *kt_header(const rd_kafka_message_t *rkm, const char *name) {
        rd_kafka_headers_t *h = NULL;
        const void *v;
        size_t n;
        if (rd_kafka_message_headers(rkm, &h) ||
            rd_kafka_header_get_last(h, name, &v, &n))
                return NULL;
        return kt_dup(v, n);
}

static inline void kt_msgs_free(kt_msg_t *m, size_t n) {
        for (size_t i = 0; m && i < n; i++) {
                free(m[i].key);
                free(m[i].val);
                free(m[i].hdr_error);
                free(m[i].hdr_topic);
                free(m[i].hdr_part);
                free(m[i].hdr_off);
        }
        free(m);
}

/* Reads every message now in the topic (up to the high watermarks). Returns
 * the count, or -1; *out is caller-freed with kt_msgs_free. */
static inline long kt_read_topic(const kt_env_t *env, const char *topic,
                                 kt_msg_t **out) {
        char group[128];
        kt_unique("reader", group, sizeof(group));
        rd_kafka_t *rk = kt_client(env, RD_KAFKA_CONSUMER, group);
        int np         = kt_partition_count(rk, topic);
        kt_msg_t *m    = NULL;
        size_t n = 0, cap = 0;
        long rc = -1;
        if (np <= 0)
                goto out;
        int64_t *high = calloc((size_t)np, sizeof(*high));
        rd_kafka_topic_partition_list_t *l =
            rd_kafka_topic_partition_list_new(np);
        size_t want = 0;
        for (int p = 0; p < np; p++) {
                int64_t lo;
                rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &high[p],
                                                 10000);
                rd_kafka_topic_partition_list_add(l, topic, p)->offset =
                    RD_KAFKA_OFFSET_BEGINNING;
                want += (size_t)(high[p] - lo);
        }
        rd_kafka_assign(rk, l);
        rd_kafka_topic_partition_list_destroy(l);
        int64_t end = time_mono_ms() + 30000 * kt_scale();
        while (n < want && time_mono_ms() < end) {
                rd_kafka_message_t *rkm = rd_kafka_consumer_poll(rk, 200);
                if (!rkm)
                        continue;
                if (!rkm->err) {
                        if (n == cap) {
                                cap = cap ? cap * 2 : 64;
                                m   = realloc(m, cap * sizeof(*m));
                        }
                        m[n++] = (kt_msg_t){
                            .part      = rkm->partition,
                            .off       = rkm->offset,
                            .key       = kt_dup(rkm->key, rkm->key_len),
                            .klen      = rkm->key_len,
                            .val       = kt_dup(rkm->payload, rkm->len),
                            .vlen      = rkm->len,
                            .hdr_error = kt_header(rkm, "bitmon-error"),
                            .hdr_topic = kt_header(rkm, "bitmon-source-topic"),
                            .hdr_part =
                                kt_header(rkm, "bitmon-source-partition"),
                            .hdr_off = kt_header(rkm, "bitmon-source-offset"),
                        };
                }
                rd_kafka_message_destroy(rkm);
        }
        free(high);
        rc = n == want ? (long)n : -1;
        if (rc < 0)
                fprintf(stderr, "read %s: %zu of %zu messages\n", topic, n,
                        want);
out:
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        if (rc < 0) {
                kt_msgs_free(m, n);
                m = NULL;
        }
        *out = m;
        return rc;
}

/* Committed offsets of `group` for partitions 0..np-1 into off[] (-1001 =
 * none). Returns 0 or -1. */
static inline int kt_committed(const kt_env_t *env, const char *group,
                               const char *topic, int np, int64_t *off) {
        rd_kafka_t *rk = kt_client(env, RD_KAFKA_CONSUMER, group);
        rd_kafka_topic_partition_list_t *l =
            rd_kafka_topic_partition_list_new(np);
        for (int p = 0; p < np; p++)
                rd_kafka_topic_partition_list_add(l, topic, p);
        int rc = rd_kafka_committed(rk, l, 10000 * kt_scale()) ? -1 : 0;
        for (int p = 0; p < np && rc == 0; p++)
                off[p] = l->elems[p].offset;
        rd_kafka_topic_partition_list_destroy(l);
        rd_kafka_destroy(rk);
        return rc;
}

static inline int kt_high_watermarks(const kt_env_t *env, const char *topic,
                                     int np, int64_t *high) {
        rd_kafka_t *rk = kt_client(env, RD_KAFKA_PRODUCER, NULL);
        int rc         = 0;
        for (int p = 0; p < np; p++) {
                int64_t lo;
                if (rd_kafka_query_watermark_offsets(rk, topic, p, &lo,
                                                     &high[p], 10000))
                        rc = -1;
        }
        rd_kafka_destroy(rk);
        return rc;
}

/* Runs `$BITMON_BIN <args>` through the shell with stdin_text (may be NULL)
 * on its stdin; stdout+stderr into *out (caller frees). Returns the exit
 * status, or -1. args must be shell-safe (the tests' own names). */
static inline int kt_run(const char *stdin_text, char **out, const char *fmt,
                         ...) __attribute__((format(printf, 3, 4)));
static inline int kt_run(const char *stdin_text, char **out, const char *fmt,
                         ...) {
        char args[2048], cmd[4096], in[] = "/tmp/bitmon-itest-in.XXXXXX";
        const char *bin = getenv("BITMON_BIN");
        va_list ap;
        int fd = mkstemp(in);
        if (fd < 0)
                return -1;
        if (stdin_text && write(fd, stdin_text, strlen(stdin_text)) < 0) {
                close(fd);
                unlink(in);
                return -1;
        }
        close(fd);
        va_start(ap, fmt);
        vsnprintf(args, sizeof(args), fmt, ap);
        va_end(ap);
        snprintf(cmd, sizeof(cmd), "%s %s <%s 2>&1", bin ? bin : "build/bitmon",
                 args, in);
        FILE *p  = popen(cmd, "r");
        size_t n = 0, cap = 4096;
        char *buf = malloc(cap);
        if (!p) {
                unlink(in);
                free(buf);
                return -1;
        }
        size_t got;
        while ((got = fread(buf + n, 1, cap - n - 1, p)) > 0) {
                n += got;
                if (cap - n < 1024)
                        buf = realloc(buf, cap *= 2);
        }
        buf[n] = 0;
        int st = pclose(p);
        unlink(in);
        *out = buf;
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#endif
