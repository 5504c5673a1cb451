/* bench/bench_kafka.c — cost of the Kafka path: parsing a job, encoding a
 * finished result, tracking offsets with completions in random order, and
 * the consumer end to end (jobs already in the topic → dispatch → one result
 * each → offsets stored) on the broker at $BITMON_TEST_KAFKA, else an
 * in-process mock cluster. Prints one line per case.
 *
 *   make tools && build/bench/bench_kafka [JOBS]        (default 20000)
 *   scripts/stack.sh run -- build/bench/bench_kafka     (real Kafka)
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/rand.h"
#include "consumer/consumer.h"
#include "common/job.h"
#include "consumer/offsets.h"
#include "producer/producer.h"
#include "producer/result.h"
#include "tests/integration/itest_kafka_env.h"

static double now_ms(void) {
        return (double)time_mono_ms();
}

static const char job_json[] =
    "{\"v\":1,\"job_id\":\"3f2a9c1e-77b0-4d61-9a5e-0c1d2e3f4a5b\","
    "\"workspace\":\"acme-mobile\",\"app_slug\":\"669403bffbe35909\","
    "\"build_slug\":\"0f3c8e2a-1b2c-4d5e-8f90-a1b2c3d4e5f6\",\"follow\":true,"
    "\"log\":\"summary\",\"deadline_s\":3600,\"attrs\":{\"pr\":4211,"
    "\"repo\":\"acme/mobile\",\"trace\":\"00-4bf92f3577b34da6-00f067aa-01\"}}";

static void bench_job_parse(void) {
        enum { N = 200000 };
        char err[256];
        double t0 = now_ms();
        for (int i = 0; i < N; i++) {
                job_t *job = NULL;
                if (job_parse(job_json, sizeof(job_json) - 1, NULL, 0, NULL,
                              &job, err, sizeof(err)) != 0)
                        abort();
                job_destroy(job);
        }
        printf("%-44s %8.2f us/op\n", "job_parse (390-byte job)",
               (now_ms() - t0) * 1000.0 / N);
}

static void bench_result_json(void) {
        enum { N = 50000 };
        const char *lines[20];
        for (int i = 0; i < 20; i++)
                lines[i] = "    ❌ error: testFoo() failed at FooTests.swift:42";
        result_step_t steps[2] = {
            {"Xcode Test", "xcode-test", 65, 312, lines, 10},
            {"Deploy", "deploy-to-bitrise-io", 1, 4, lines, 10}};
        result_log_t log = {true, 1 << 20, 20000, false, "ab12cd34", steps,
                            2,    lines,   20,    NULL,  false,      NULL};
        result_build_t b = {77,
                            2,
                            "error",
                            "primary",
                            "main",
                            "abc123",
                            0,
                            1775237000000LL,
                            1775237010000LL,
                            1775237300000LL,
                            10,
                            290,
                            NULL,
                            "g2.mac.medium",
                            "osx-xcode-16.0.x"};
        result_t r       = {"j",
                            "acme",
                            "669403bffbe35909",
                            "669403bffbe35909",
                            "{\"pr\":4211}",
                            RESULT_EVENT_FINISHED,
                            &b,
                            &log,
                            NULL,
                            1775237304123LL,
                            "pod-1/w0",
                            false};
        char err[128];
        size_t bytes = 0;
        double t0    = now_ms();
        for (int i = 0; i < N; i++) {
                char *s = result_to_json(&r, err, sizeof(err));
                if (!s)
                        abort();
                bytes = strlen(s);
                free(s);
        }
        printf("%-44s %8.2f us/op (%zu bytes)\n",
               "result_to_json (finished, 2 steps, 40 lines)",
               (now_ms() - t0) * 1000.0 / N, bytes);
}

/* 1000 in flight; each step completes a random in-flight offset and tracks
 * the next one. */
static void bench_offsets(void) {
        enum { INFL = 1000, N = 2000000 };
        static int64_t live[INFL];
        offsets_t *o = offsets_new();
        int64_t next = 0;
        for (int i = 0; i < INFL; i++) {
                live[i] = next;
                offsets_track(o, 0, next++);
        }
        double t0 = now_ms();
        for (int i = 0; i < N; i++) {
                size_t k = rand_u64() % INFL;
                if (offsets_done(o, 0, live[k]) != 0)
                        abort();
                live[k] = next;
                offsets_track(o, 0, next++);
        }
        printf("%-44s %8.3f us/op\n", "offsets done+track (1000 in flight)",
               (now_ms() - t0) * 1000.0 / N);
        offsets_destroy(o);
}

/* ---- end to end ---- */

typedef struct e2e {
        producer_t *p;
        consumer_t *c;
        const char *results;
        atomic_int acked;
        _Atomic int64_t first_ms; /* first dispatch */
} e2e_t;

static void e2e_ack(void *ctx, int32_t part, int64_t off,
                    rd_kafka_resp_err_t err) {
        e2e_t *e = ctx;
        consumer_ack(e->c, part, off, err);
        if (!err)
                atomic_fetch_add(&e->acked, 1);
}

/* Finishes each job at once (on the consumer thread: the cheapest
 * dispatcher, so the figure is the Kafka path's own). */
static int e2e_on_job(job_t *job, int32_t part, int64_t off, void *ctx) {
        e2e_t *e = ctx;
        char err[256], key[80];
        int64_t zero = 0;
        atomic_compare_exchange_strong(&e->first_ms, &zero, time_mono_ms());
        result_t r         = {job->job_id,
                              job->workspace,
                              job->app_slug,
                              job->build_slug,
                              job->attrs_json,
                              RESULT_EVENT_FINISHED,
                              NULL,
                              NULL,
                              NULL,
                              0,
                              "bench",
                              false};
        char *json         = result_to_json(&r, err, sizeof(err));
        producer_ack_t ack = {e2e_ack, e, part, off};
        result_key(&r, key, sizeof(key));
        if (!json || producer_send(e->p, e->results, key, strlen(key), json,
                                   strlen(json), NULL, 0, &ack, 1, err,
                                   sizeof(err)) != 0)
                abort();
        free(json);
        job_destroy(job);
        return 0;
}

static void bench_e2e(int jobs) {
        kt_env_t env;
        char topic[128], results[128], dlq[128], group[128], err[256];
        e2e_t e = {0};
        if (kt_env_init(&env) < 0)
                return;
        kt_unique("jobs", topic, sizeof(topic));
        kt_unique("results", results, sizeof(results));
        kt_unique("dlq", dlq, sizeof(dlq));
        kt_unique("group", group, sizeof(group));
        if (kt_topic_create(&env, topic, 6) ||
            kt_topic_create(&env, results, 6) || kt_topic_create(&env, dlq, 1))
                return;
        producer_opts_t po = {.bootstrap = env.bootstrap};
        e.p                = producer_new(&po, err, sizeof(err));
        e.results          = results;
        for (int i = 0; i < jobs; i++) {
                char key[64];
                snprintf(key, sizeof(key), "669403bffbe35909/%016x", i);
                if (producer_send(e.p, topic, key, strlen(key), job_json,
                                  sizeof(job_json) - 1, NULL, 0, NULL, 1, err,
                                  sizeof(err)))
                        abort();
        }
        producer_flush(e.p, 60000);
        consumer_opts_t co    = {.bootstrap   = env.bootstrap,
                                 .group       = group,
                                 .topic_jobs  = topic,
                                 .topic_dlq   = dlq,
                                 .max_watches = 20000};
        consumer_dispatch_t d = {e2e_on_job, NULL, &e, NULL};
        e.c                   = consumer_new(&co, &d, e.p, err, sizeof(err));
        if (!e.c || consumer_start(e.c, err, sizeof(err)))
                abort();
        /* from the first dispatch (the group join is not counted) to the
         * last acknowledged result */
        while (atomic_load(&e.acked) < jobs)
                kt_sleep_ms(1);
        double dt = now_ms() - (double)atomic_load(&e.first_ms);
        printf("%-44s %8.0f jobs/s (%d jobs in %.0f ms, %s)\n",
               "consumer end to end (dispatch→result→ack)", jobs * 1000.0 / dt,
               jobs, dt, env.mock ? "mock" : "broker");
        consumer_stop(e.c);
        producer_flush(e.p, 10000);
        consumer_close(e.c, 10000, err, sizeof(err));
        consumer_destroy(e.c);
        producer_destroy(e.p);
        kt_env_release(&env);
}

int main(int argc, char **argv) {
        int jobs = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 20000;
        log_setup(LOG_LVL_ERROR, LOG_FMT_TEXT, 2);
        bench_job_parse();
        bench_result_json();
        bench_offsets();
        if (jobs > 1)
                bench_e2e(jobs);
        return 0;
}
