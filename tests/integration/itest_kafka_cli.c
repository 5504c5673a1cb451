/* Integration tests for `bitmon topics`, `bitmon enqueue` and `bitmon tail`
 * (the binary at $BITMON_BIN) against Kafka: the real broker at
 * $BITMON_TEST_KAFKA, else an in-process mock cluster the child process
 * connects to over loopback. */
#include "common/job.h"
#include "producer/producer.h"
#include "producer/result.h"
#include "tests/assert.h"
#include "tests/integration/itest_kafka_env.h"

static kt_env_t env;

#define APP   "669403bffbe35909"
#define BUILD "0f3c8e2a-1b2c-4d5e-8f90-a1b2c3d4e5f6"

typedef struct topics {
        char jobs[128], results[128], dlq[128], flags[1536];
} topics_t;

static void topics_names(topics_t *t) {
        kt_unique("jobs", t->jobs, sizeof(t->jobs));
        kt_unique("results", t->results, sizeof(t->results));
        kt_unique("dlq", t->dlq, sizeof(t->dlq));
        snprintf(t->flags, sizeof(t->flags),
                 "-b %s --jobs-topic %s --results-topic %s --dlq-topic %s",
                 env.bootstrap, t->jobs, t->results, t->dlq);
}

static void topics_create(topics_t *t) {
        topics_names(t);
        T_EQ_INT(kt_topic_create(&env, t->jobs, 2), 0);
        T_EQ_INT(kt_topic_create(&env, t->results, 2), 0);
        T_EQ_INT(kt_topic_create(&env, t->dlq, 1), 0);
}

static void test_cli_topics(void) {
        topics_t t;
        char *out = NULL;
        topics_names(&t);
        int rc = kt_run(NULL, &out, "topics %s --check --timeout 5", t.flags);
        T_ASSERTF(rc == 1 && strstr(out, ": missing"), "rc %d: %s", rc, out);
        free(out);
        if (kt_is_mock(&env)) {
                /* librdkafka 2.0's mock cluster has no CreateTopics nor
                 * DescribeConfigs: creation must fail cleanly, and --check
                 * still compares partitions (topics made with the mock's
                 * own call). The real broker path is covered below when
                 * $BITMON_TEST_KAFKA is set. */
                rc = kt_run(NULL, &out, "topics %s --replication 1 --timeout 1",
                            t.flags);
                T_ASSERTF(rc == 1 && strstr(out, "jobs: error: cannot create"),
                          "rc %d: %s", rc, out);
                free(out);
                T_EQ_INT(kt_topic_create(&env, t.jobs, 3), 0);
                T_EQ_INT(kt_topic_create(&env, t.results, 3), 0);
                T_EQ_INT(kt_topic_create(&env, t.dlq, 1), 0);
        } else {
                rc = kt_run(NULL, &out,
                            "topics %s --partitions 3 --replication 1 "
                            "--retention-ms 3600000",
                            t.flags);
                T_ASSERTF(rc == 0, "rc %d: %s", rc, out);
                T_ASSERTF(strstr(out, "jobs: created (partitions 3, "
                                      "retention.ms 3600000)"),
                          "%s", out);
                free(out);
                rc = kt_run(NULL, &out,
                            "topics %s --check --partitions 3 "
                            "--replication 1 --retention-ms 3600000",
                            t.flags);
                T_ASSERTF(rc == 0 && strstr(out, "jobs: ok (partitions 3"),
                          "rc %d: %s", rc, out);
                free(out);
                rc = kt_run(NULL, &out,
                            "topics %s --check --partitions 3 "
                            "--replication 1 --retention-ms 60000",
                            t.flags);
                T_ASSERTF(rc == 1 && strstr(out, "retention.ms 3600000, want "
                                                 "60000"),
                          "rc %d: %s", rc, out);
                free(out);
        }
        rd_kafka_t *rk = kt_client(&env, RD_KAFKA_PRODUCER, NULL);
        T_EQ_INT(kt_partition_count(rk, t.jobs), 3);
        T_EQ_INT(kt_partition_count(rk, t.dlq), kt_is_mock(&env) ? 1 : 3);
        rd_kafka_destroy(rk);
        rc = kt_run(NULL, &out,
                    "topics %s --check --partitions 5 --replication 1 "
                    "--retention-ms 3600000 --timeout 2",
                    t.flags);
        T_ASSERTF(rc == 1 && strstr(out, "jobs: differs: partitions 3, want 5"),
                  "rc %d: %s", rc, out);
        free(out);
        rc = kt_run(NULL, &out, "topics %s --partitions x", t.flags);
        T_ASSERTF(rc == 2 && strstr(out, "--partitions"), "rc %d: %s", rc, out);
        free(out);
}

static void test_cli_enqueue_flags(void) {
        topics_t t;
        char *out = NULL;
        topics_create(&t);
        int rc = kt_run(NULL, &out,
                        "enqueue %s --workspace acme --app " APP
                        " --build " BUILD " --job-id j-flags --no-follow "
                        "--log full --deadline 600 --attr pr=42 --attr t=x",
                        t.flags);
        T_ASSERTF(rc == 0, "rc %d: %s", rc, out);
        T_ASSERTF(strstr(out, "queued job_id=j-flags key=" APP "/" BUILD), "%s",
                  out);
        T_ASSERTF(strstr(out, "enqueued 1 of 1 jobs"), "%s", out);
        free(out);

        kt_msg_t *m = NULL;
        T_EQ_INT(kt_read_topic(&env, t.jobs, &m), 1);
        T_EQ_STR(m[0].key, APP "/" BUILD);
        job_t *job = NULL;
        char err[256];
        T_EQ_INT(job_parse(m[0].val, m[0].vlen, m[0].key, m[0].klen, NULL, &job,
                           err, sizeof(err)),
                 0);
        T_EQ_STR(job->job_id, "j-flags");
        T_EQ_STR(job->workspace, "acme");
        T_ASSERT(!job->follow);
        T_EQ_INT(job->log, JOB_LOG_FULL);
        T_EQ_INT(job->deadline_s, 600);
        T_EQ_STR(job->attrs_json, "{\"pr\":\"42\",\"t\":\"x\"}");
        job_destroy(job);
        kt_msgs_free(m, 1);

        /* a generated job id; an invalid slug is refused before Kafka */
        rc = kt_run(NULL, &out,
                    "enqueue %s --workspace acme --app " APP " --build " BUILD,
                    t.flags);
        T_ASSERTF(rc == 0 && strstr(out, "queued job_id=bitmon-"), "%s", out);
        free(out);
        rc = kt_run(NULL, &out,
                    "enqueue %s --workspace acme --app nope --build " BUILD,
                    t.flags);
        T_ASSERTF(rc == 1 && strstr(out, "app_slug: not a 16-hex or UUID slug"),
                  "rc %d: %s", rc, out);
        free(out);
        rc = kt_run(NULL, &out, "enqueue %s --workspace acme", t.flags);
        T_ASSERTF(rc == 2 && strstr(out, "required"), "rc %d: %s", rc, out);
        free(out);
        rc = kt_run(NULL, &out,
                    "enqueue %s -X no.such.key=1 --workspace a "
                    "--app " APP " --build " BUILD,
                    t.flags);
        T_ASSERTF(rc == 2 && strstr(out, "no.such.key"), "rc %d: %s", rc, out);
        free(out);
        /* a bad librdkafka property is named, as the operator wrote it */
        rc = kt_run(NULL, &out,
                    "enqueue %s -X kafka.linger.ms=soon --workspace a "
                    "--app " APP " --build " BUILD,
                    t.flags);
        T_ASSERTF(rc == 1 && strstr(out, "kafka.linger.ms: "), "rc %d: %s", rc,
                  out);
        free(out);
        T_EQ_INT(kt_read_topic(&env, t.jobs, &m), 2);
        kt_msgs_free(m, 2);
}

static void test_cli_enqueue_stdin(void) {
        topics_t t;
        char *out = NULL;
        topics_create(&t);
        const char *lines =
            "{\"v\":1,\"job_id\":\"s1\",\"workspace\":\"w\",\"app_slug\":\"" APP
            "\",\"build_slug\":\"" BUILD "\"}\n"
            "not json\n"
            "\n"
            "{\"v\":1,\"job_id\":\"s2\",\"workspace\":\"w\",\"app_slug\":\"" APP
            "\",\"build_slug\":\"" APP "\",\"attrs\":{\"k\":[1,2]}}\n"
            "{\"v\":3,\"job_id\":\"s3\"}\n"
            "{\"v\":1,\"job_id\":\"s4\",\"workspace\":\"w\",\"app_slug\":"
            "\"" BUILD "\",\"build_slug\":\"" BUILD "\",\"follow\":false}\n";
        int rc = kt_run(lines, &out, "enqueue %s -", t.flags);
        T_ASSERTF(rc == 1, "rc %d: %s", rc, out); /* some were invalid */
        T_ASSERTF(strstr(out, "line 2: invalid job: not JSON"), "%s", out);
        T_ASSERTF(strstr(out, "line 5: invalid job: unsupported v 3"), "%s",
                  out);
        T_ASSERTF(strstr(out, "enqueued 3 of 5 jobs"), "%s", out);
        T_ASSERTF(strstr(out, "(2 invalid, 0 not delivered)"), "%s", out);
        free(out);
        kt_msg_t *m = NULL;
        T_EQ_INT(kt_read_topic(&env, t.jobs, &m), 3);
        int keys_ok = 0;
        for (int i = 0; i < 3; i++)
                keys_ok += (strstr(m[i].val, "\"s1\"") &&
                            strcmp(m[i].key, APP "/" BUILD) == 0) ||
                           (strstr(m[i].val, "\"s2\"") &&
                            strcmp(m[i].key, APP "/" APP) == 0) ||
                           (strstr(m[i].val, "\"s4\"") &&
                            strcmp(m[i].key, BUILD "/" BUILD) == 0);
        T_EQ_INT(keys_ok, 3);
        kt_msgs_free(m, 3);

        /* an overlong line is refused without reading it into memory */
        size_t n        = 70000;
        char *long_line = malloc(n + 2);
        memset(long_line, ' ', n);
        memcpy(long_line + n, "\n", 2);
        rc = kt_run(long_line, &out, "enqueue %s -", t.flags);
        free(long_line);
        T_ASSERTF(rc == 1 && strstr(out, "line 1: invalid job: payload is "
                                         "more than 65536 bytes"),
                  "rc %d: %s", rc, out);
        free(out);
}

static void put_result(producer_t *p, const char *topic, const result_t *r) {
        char err[256], key[128];
        char *json = result_to_json(r, err, sizeof(err));
        T_ASSERTF(json, "%s", err);
        result_key(r, key, sizeof(key));
        T_EQ_INT(producer_send(p, topic, key, strlen(key), json, strlen(json),
                               NULL, 0, NULL, 1, err, sizeof(err)),
                 0);
        free(json);
}

static void test_cli_tail(void) {
        topics_t t;
        char *out = NULL, err[256];
        topics_create(&t);
        producer_opts_t po = {.bootstrap = env.bootstrap};
        producer_t *p      = producer_new(&po, err, sizeof(err));
        T_ASSERT(p);
        result_build_t b   = {.number          = 77,
                              .status          = 2,
                              .status_text     = "error",
                              .workflow        = "primary",
                              .pull_request_id = -1,
                              .queued_s        = -1,
                              .duration_s      = -1};
        const char *ll[]   = {"boom"};
        result_step_t step = {.title        = "Xcode Test",
                              .exit_code    = 65,
                              .duration_s   = 3,
                              .last_lines   = ll,
                              .n_last_lines = 1};
        result_log_t log   = {
              .archived = true, .failed_steps = &step, .n_failed_steps = 1};
        result_error_t e = result_error_make(RESULT_ERR_TOKEN_INVALID);
        result_t r       = {.job_id         = "t1",
                            .workspace      = "w",
                            .app_slug       = APP,
                            .build_slug     = BUILD,
                            .event          = RESULT_EVENT_FINISHED,
                            .build          = &b,
                            .log            = &log,
                            .worker         = "w0",
                            .observed_at_ms = 1775237304000LL};
        put_result(p, t.results, &r);
        r.event = RESULT_EVENT_ERROR;
        r.error = &e;
        r.build = NULL;
        put_result(p, t.results, &r);
        r.event = RESULT_EVENT_STATUS;
        r.build = &b;
        put_result(p, t.results, &r);
        T_EQ_INT(producer_flush(p, 10000 * kt_scale()), 0);
        producer_destroy(p);

        int rc =
            kt_run(NULL, &out, "tail %s --from-beginning --max 3 --timeout %d",
                   t.flags, 30 * kt_scale());
        T_ASSERTF(rc == 0, "rc %d: %s", rc, out);
        T_ASSERTF(strstr(out, "2026-04-03T17:28:24Z"), "%s", out);
        T_ASSERTF(strstr(out, APP "/" BUILD), "%s", out);
        T_ASSERTF(strstr(out, "finished error #77 primary  failed: Xcode Test "
                              "(exit 65)"),
                  "%s", out);
        T_ASSERTF(strstr(out, "error    token_invalid: Bitrise rejected"), "%s",
                  out);
        T_ASSERTF(strstr(out, "status   error #77 primary"), "%s", out);
        free(out);

        rc = kt_run(NULL, &out,
                    "tail %s --from-beginning --json --max 3 "
                    "--timeout %d",
                    t.flags, 30 * kt_scale());
        T_ASSERTF(rc == 0, "rc %d: %s", rc, out);
        int lines = 0;
        for (char *s = out; (s = strstr(s, "{\"v\":1,\"job_id\":\"t1\"")); s++)
                lines++;
        T_EQ_INT(lines, 3);
        free(out);

        /* --max not reached before --timeout: exit 1 */
        rc = kt_run(NULL, &out, "tail %s --from-beginning --max 4 --timeout 3",
                    t.flags);
        T_ASSERTF(rc == 1, "rc %d: %s", rc, out);
        free(out);
        rc =
            kt_run(NULL, &out, "tail -b %s --results-topic %s-none --timeout 5",
                   env.bootstrap, t.results);
        T_ASSERTF(rc == 1 && strstr(out, "cannot read topic"), "rc %d: %s", rc,
                  out);
        free(out);
}

int main(void) {
        if (kt_env_init(&env) < 0) {
                printf("FAIL kafka_env: no broker\n");
                return 1;
        }
        T_RUN(test_cli_topics);
        T_RUN(test_cli_enqueue_flags);
        T_RUN(test_cli_enqueue_stdin);
        T_RUN(test_cli_tail);
        kt_env_release(&env);
        return t_done();
}
