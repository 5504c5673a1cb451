/* Integration tests for consumer/ and producer/ against Kafka (the real
 * broker at $BITMON_TEST_KAFKA, else an in-process mock cluster): jobs in,
 * results and DLQ out, offsets committed only over finished work,
 * back-pressure, and a cooperative rebalance. */
#include <pthread.h>
#include <stdatomic.h>

#include "consumer/consumer.h"
#include "producer/producer.h"
#include "producer/result.h"
#include "tests/assert.h"
#include "tests/integration/itest_kafka_env.h"

static kt_env_t env;

/* ---- a test dispatcher that finishes jobs in random order ---- */

typedef struct held {
        job_t *job;
        int32_t part;
        int64_t off;
} held_t;

typedef struct tdisp {
        pthread_mutex_t lock;
        held_t v[4096];
        size_t n;
        consumer_t *c;
        producer_t *p;
        const char *results;
        atomic_int hold_all; /* finish nothing while set */
        atomic_int budget;   /* with hold_all: finish this many anyway */
        atomic_int stop;
        atomic_int dispatched, acked, dropped;
        int hold_ids;         /* keep jobs whose job_id contains "hold" */
        int64_t first_off[8]; /* first offset dispatched per partition */
        int revoked[8];       /* partitions revoked */
        pthread_t thread;
} tdisp_t;

static int td_on_job(job_t *job, int32_t part, int64_t off, void *ctx) {
        tdisp_t *td = ctx;
        pthread_mutex_lock(&td->lock);
        if (td->n == sizeof(td->v) / sizeof(td->v[0])) {
                pthread_mutex_unlock(&td->lock);
                job_destroy(job);
                return -1;
        }
        td->v[td->n++] = (held_t){job, part, off};
        if (part >= 0 && part < 8 && td->first_off[part] < 0)
                td->first_off[part] = off;
        pthread_mutex_unlock(&td->lock);
        atomic_fetch_add(&td->dispatched, 1);
        return 0;
}

static void td_on_revoke(const int32_t *parts, size_t n, void *ctx) {
        tdisp_t *td = ctx;
        pthread_mutex_lock(&td->lock);
        for (size_t k = 0; k < n; k++)
                if (parts[k] >= 0 && parts[k] < 8)
                        td->revoked[parts[k]] = 1;
        for (size_t i = 0; i < td->n;) {
                int hit = 0;
                for (size_t k = 0; k < n; k++)
                        hit |= td->v[i].part == parts[k];
                if (hit) {
                        job_destroy(td->v[i].job);
                        td->v[i] = td->v[--td->n];
                        atomic_fetch_add(&td->dropped, 1);
                } else {
                        i++;
                }
        }
        pthread_mutex_unlock(&td->lock);
}

static void td_ack(void *ctx, int32_t part, int64_t off,
                   rd_kafka_resp_err_t err) {
        tdisp_t *td = ctx;
        consumer_ack(td->c, part, off, err);
        if (!err)
                atomic_fetch_add(&td->acked, 1);
}

static int td_hold(const tdisp_t *td, const job_t *job) {
        return td->hold_ids && strstr(job->job_id, "hold") != NULL;
}

static void td_finish(tdisp_t *td, held_t h) {
        char err[256], key[128];
        result_build_t b   = {.number          = h.off,
                              .status          = 1,
                              .status_text     = "success",
                              .pull_request_id = 0,
                              .queued_s        = 1,
                              .duration_s      = 2};
        result_t r         = {.job_id     = h.job->job_id,
                              .workspace  = h.job->workspace,
                              .app_slug   = h.job->app_slug,
                              .build_slug = h.job->build_slug,
                              .attrs_json = h.job->attrs_json,
                              .event      = RESULT_EVENT_FINISHED,
                              .build      = &b,
                              .worker     = "itest"};
        char *json         = result_to_json(&r, err, sizeof(err));
        producer_ack_t ack = {td_ack, td, h.part, h.off};
        result_key(&r, key, sizeof(key));
        if (!json || producer_send(td->p, td->results, key, strlen(key), json,
                                   strlen(json), NULL, 0, &ack, 1, err,
                                   sizeof(err)) != 0)
                fprintf(stderr, "finish failed: %s\n", err);
        free(json);
        job_destroy(h.job);
}

static void *td_main(void *arg) {
        tdisp_t *td = arg;
        while (!atomic_load(&td->stop)) {
                held_t h = {0};
                pthread_mutex_lock(&td->lock);
                int can =
                    !atomic_load(&td->hold_all) || atomic_load(&td->budget) > 0;
                size_t cand = td->n ? rand_u64() % td->n : 0;
                for (size_t k = 0; can && k < td->n; k++) {
                        size_t i = (cand + k) % td->n;
                        if (!td_hold(td, td->v[i].job)) {
                                h        = td->v[i];
                                td->v[i] = td->v[--td->n];
                                if (atomic_load(&td->hold_all))
                                        atomic_fetch_sub(&td->budget, 1);
                                break;
                        }
                }
                pthread_mutex_unlock(&td->lock);
                if (h.job)
                        td_finish(td, h);
                else
                        kt_sleep_ms(5);
        }
        return NULL;
}

static void td_init(tdisp_t *td, producer_t *p, const char *results) {
        memset(td, 0, sizeof(*td));
        pthread_mutex_init(&td->lock, NULL);
        for (int i = 0; i < 8; i++)
                td->first_off[i] = -1;
        td->p       = p;
        td->results = results;
}

static void td_start(tdisp_t *td, consumer_t *c) {
        td->c = c;
        pthread_create(&td->thread, NULL, td_main, td);
}

/* Stops the finisher thread. The lock outlives it: consumer_close still
 * calls td_on_revoke for what is left (td_release frees it after that). */
static void td_stop(tdisp_t *td) {
        atomic_store(&td->stop, 1);
        pthread_join(td->thread, NULL);
}

static void td_release(tdisp_t *td) {
        for (size_t i = 0; i < td->n; i++)
                job_destroy(td->v[i].job);
        td->n = 0;
        pthread_mutex_destroy(&td->lock);
}

/* ---- helpers ---- */

typedef struct world {
        char jobs[128], results[128], dlq[128], group[128];
        producer_t *p;
        consumer_t *c;
        tdisp_t td;
} world_t;

static const char *const test_kafka_kv[] = {
    "auto.commit.interval.ms",
    "200",
    "message.max.bytes",
    "2000000",
    "fetch.max.bytes",
    "4000000",
    "max.partition.fetch.bytes",
    "2100000",
    "session.timeout.ms",
    "6000",
    "heartbeat.interval.ms",
    "500",
    "topic.metadata.refresh.interval.ms",
    "1000",
    "log_level",
    "4",
};

static const char *const producer_kv[] = {
    "message.max.bytes",
    "2000000",
    "log_level",
    "4",
};

static void world_topics(world_t *w, int np) {
        kt_unique("jobs", w->jobs, sizeof(w->jobs));
        kt_unique("results", w->results, sizeof(w->results));
        kt_unique("dlq", w->dlq, sizeof(w->dlq));
        kt_unique("group", w->group, sizeof(w->group));
        T_EQ_INT(kt_topic_create(&env, w->jobs, np), 0);
        T_EQ_INT(kt_topic_create(&env, w->results, 2), 0);
        T_EQ_INT(kt_topic_create(&env, w->dlq, 1), 0);
        char err[256];
        producer_opts_t po = {.bootstrap = env.bootstrap,
                              .kafka     = {producer_kv, 2}};
        w->p               = producer_new(&po, err, sizeof(err));
        T_ASSERTF(w->p, "producer_new: %s", err);
        td_init(&w->td, w->p, w->results);
}

static consumer_t *world_consumer(world_t *w, tdisp_t *td, size_t max_watches,
                                  size_t resume) {
        char err[256];
        consumer_opts_t co    = {.bootstrap = env.bootstrap,
                                 .kafka = {test_kafka_kv, sizeof(test_kafka_kv) /
                                                              sizeof(char *) / 2},
                                 .group = w->group,
                                 .topic_jobs     = w->jobs,
                                 .topic_dlq      = w->dlq,
                                 .max_watches    = max_watches,
                                 .resume_watches = resume,
                                 .poll_ms        = 50};
        consumer_dispatch_t d = {td_on_job, td_on_revoke, td, NULL};
        consumer_t *c         = consumer_new(&co, &d, w->p, err, sizeof(err));
        T_ASSERTF(c, "consumer_new: %s", err);
        td_start(td, c);
        T_EQ_INT(consumer_start(c, err, sizeof(err)), 0);
        return c;
}

static void produce(world_t *w, const char *key, const void *val, size_t len,
                    int32_t part) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            producer_rk(w->p), RD_KAFKA_V_TOPIC(w->jobs),
            RD_KAFKA_V_PARTITION(part < 0 ? RD_KAFKA_PARTITION_UA : part),
            RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
            RD_KAFKA_V_VALUE((void *)(uintptr_t)val, len),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        T_ASSERTF(err == 0, "produce: %s", rd_kafka_err2str(err));
}

static void produce_job(world_t *w, const char *id, int i, int32_t part) {
        char app[17], build[17], key[64], json[512];
        snprintf(app, sizeof(app), "%016x", 0xa00 + i % 7);
        snprintf(build, sizeof(build), "%016x", 0xb0000 + i);
        snprintf(key, sizeof(key), "%s/%s", app, build);
        snprintf(json, sizeof(json),
                 "{\"v\":1,\"job_id\":\"%s\",\"workspace\":\"ws%d\","
                 "\"app_slug\":\"%s\",\"build_slug\":\"%s\","
                 "\"attrs\":{\"i\":%d}}",
                 id, i % 3, app, build, i);
        produce(w, key, json, strlen(json), part);
}

/* Waits until cond() holds or the scaled timeout passes. */
#define WAIT_FOR(cond, secs)                                                   \
        do {                                                                   \
                int64_t wf_end_ = time_mono_ms() + (secs)*1000LL * kt_scale(); \
                while (!(cond) && time_mono_ms() < wf_end_)                    \
                        kt_sleep_ms(20);                                       \
        } while (0)

static int committed_at(world_t *w, int np, const int64_t *want) {
        int64_t got[64];
        if (kt_committed(&env, w->group, w->jobs, np, got) < 0)
                return 0;
        for (int p = 0; p < np; p++)
                if (got[p] != want[p])
                        return 0;
        return 1;
}

static void world_close(world_t *w, consumer_t *c, tdisp_t *td) {
        char err[256];
        consumer_stop(c);
        td_stop(td);
        T_EQ_INT(producer_flush(w->p, 10000 * kt_scale()), 0);
        T_ASSERTF(consumer_close(c, 10000, err, sizeof(err)) == 0, "close: %s",
                  err);
        consumer_destroy(c);
        td_release(td);
}

/* ---- tests ---- */

static const struct {
        const char *what;
        const char *payload; /* NULL: the 1 MiB one */
        const char *reason;
} bad_jobs[] = {
    {"not-json", "this is not json", "not JSON: syntax error at byte 0"},
    {"wrong-type",
     "{\"v\":1,\"job_id\":5,\"workspace\":\"w\",\"app_slug\":"
     "\"669403bffbe35909\",\"build_slug\":\"669403bffbe35909\"}",
     "job_id: expected string"},
    {"missing",
     "{\"v\":1,\"job_id\":\"x\",\"workspace\":\"w\",\"app_slug\":"
     "\"669403bffbe35909\"}",
     "missing field build_slug"},
    {"bad-slug",
     "{\"v\":1,\"job_id\":\"x\",\"workspace\":\"w\",\"app_slug\":\"nope\","
     "\"build_slug\":\"669403bffbe35909\"}",
     "app_slug: not a 16-hex or UUID slug"},
    {"huge", NULL, "payload is 1048576 bytes, limit 65536"},
    {"utf8", "{\"v\":1,\"job_id\":\"\xc3\x28\"}", "invalid UTF-8 at byte 17"},
    {"v2",
     "{\"v\":2,\"job_id\":\"x\",\"workspace\":\"w\",\"app_slug\":"
     "\"669403bffbe35909\",\"build_slug\":\"669403bffbe35909\"}",
     "unsupported v 2"},
    {"empty", "", "empty payload"},
};
#define N_BAD (sizeof(bad_jobs) / sizeof(bad_jobs[0]))

static void check_dlq(world_t *w) {
        kt_msg_t *jobs = NULL, *dlq = NULL;
        long nj = kt_read_topic(&env, w->jobs, &jobs);
        long nd = kt_read_topic(&env, w->dlq, &dlq);
        T_ASSERT(nj > 0);
        T_EQ_INT(nd, N_BAD);
        int seen[N_BAD] = {0};
        for (long i = 0; i < nd; i++) {
                size_t b = 0;
                while (
                    b < N_BAD &&
                    !(dlq[i].key && strcmp(dlq[i].key, bad_jobs[b].what) == 0))
                        b++;
                T_ASSERTF(b < N_BAD, "unexpected DLQ key %s", dlq[i].key);
                seen[b]++;
                T_ASSERTF(dlq[i].hdr_error &&
                              strcmp(dlq[i].hdr_error, bad_jobs[b].reason) == 0,
                          "%s: bitmon-error \"%s\"", bad_jobs[b].what,
                          dlq[i].hdr_error ? dlq[i].hdr_error : "(none)");
                T_ASSERT(dlq[i].hdr_topic && dlq[i].hdr_part && dlq[i].hdr_off);
                T_EQ_STR(dlq[i].hdr_topic, w->jobs);
                long sp      = strtol(dlq[i].hdr_part, NULL, 10);
                long long so = strtoll(dlq[i].hdr_off, NULL, 10);
                long j       = 0;
                while (j < nj && !(jobs[j].part == sp && jobs[j].off == so))
                        j++;
                T_ASSERTF(j < nj, "%s: source %ld/%lld not found",
                          bad_jobs[b].what, sp, so);
                /* the original payload and key, unchanged */
                T_EQ_INT(dlq[i].vlen, jobs[j].vlen);
                T_ASSERT(dlq[i].vlen == 0 ||
                         memcmp(dlq[i].val, jobs[j].val, dlq[i].vlen) == 0);
                T_EQ_STR(dlq[i].key, jobs[j].key);
        }
        for (size_t b = 0; b < N_BAD; b++)
                T_ASSERTF(seen[b] == 1, "%s seen %d times in the DLQ",
                          bad_jobs[b].what, seen[b]);
        kt_msgs_free(jobs, (size_t)nj);
        kt_msgs_free(dlq, (size_t)nd);
}

static void check_results(world_t *w, int n_valid) {
        kt_msg_t *res = NULL;
        long nr       = kt_read_topic(&env, w->results, &res);
        T_EQ_INT(nr, n_valid);
        int *seen = calloc((size_t)n_valid, sizeof(int));
        for (long i = 0; i < nr; i++) {
                const char *id = strstr(res[i].val, "\"job_id\":\"ok-");
                T_ASSERT(id);
                int k = (int)strtol(id + strlen("\"job_id\":\"ok-"), NULL, 10);
                T_ASSERT(k >= 0 && k < n_valid);
                seen[k]++;
                T_ASSERT(strstr(res[i].val, "\"event\":\"finished\""));
                char want[80];
                snprintf(want, sizeof(want), "%016x/%016x", 0xa00 + k % 7,
                         0xb0000 + k);
                T_EQ_STR(res[i].key, want);
                char attrs[32];
                snprintf(attrs, sizeof(attrs), "\"attrs\":{\"i\":%d}", k);
                T_ASSERT(strstr(res[i].val, attrs));
        }
        for (int k = 0; k < n_valid; k++)
                T_ASSERTF(seen[k] == 1, "job ok-%d has %d results", k, seen[k]);
        free(seen);
        kt_msgs_free(res, (size_t)nr);
}

static void test_kafka_pipeline(void) {
        enum { NP = 3, N_VALID = 60 };
        world_t w;
        world_topics(&w, NP);
        char *huge = malloc(1048576);
        memset(huge, ' ', 1048576);
        huge[0]       = '{';
        huge[1048575] = '}';
        for (int i = 0, b = 0; i < N_VALID; i++) {
                char id[32];
                snprintf(id, sizeof(id), "ok-%d", i);
                produce_job(&w, id, i, -1);
                if (i % 7 == 3 && (size_t)b < N_BAD) {
                        const char *p = bad_jobs[b].payload;
                        produce(&w, bad_jobs[b].what, p ? p : huge,
                                p ? strlen(p) : 1048576, -1);
                        b++;
                }
        }
        free(huge);
        T_EQ_INT(producer_flush(w.p, 30000 * kt_scale()), 0);

        consumer_t *c = world_consumer(&w, &w.td, 1000, 0);
        consumer_stats_t st;
        WAIT_FOR((consumer_stats_get(c, &st),
                  atomic_load(&w.td.acked) == N_VALID && st.dlq == N_BAD &&
                      st.inflight == 0),
                 60);
        T_EQ_INT(atomic_load(&w.td.acked), N_VALID);
        T_EQ_INT(st.jobs, N_VALID);
        T_EQ_INT(st.dlq, N_BAD);
        T_EQ_INT(st.inflight, 0);

        int64_t high[NP];
        T_EQ_INT(kt_high_watermarks(&env, w.jobs, NP, high), 0);
        T_EQ_INT(high[0] + high[1] + high[2], N_VALID + N_BAD);
        WAIT_FOR(committed_at(&w, NP, high), 30);
        T_ASSERT(committed_at(&w, NP, high));
        world_close(&w, c, &w.td);

        check_results(&w, N_VALID);
        check_dlq(&w);
        producer_destroy(w.p);
}

static void test_kafka_backpressure(void) {
        enum { N = 30 };
        world_t w;
        world_topics(&w, 1);
        for (int i = 0; i < N; i++) {
                char id[32];
                snprintf(id, sizeof(id), "ok-%d", i);
                produce_job(&w, id, i, 0);
        }
        T_EQ_INT(producer_flush(w.p, 30000 * kt_scale()), 0);
        atomic_store(&w.td.hold_all, 1);
        consumer_t *c = world_consumer(&w, &w.td, 5, 2);
        consumer_stats_t st;
        WAIT_FOR((consumer_stats_get(c, &st), st.paused), 30);
        T_EQ_INT(st.paused, 1);
        T_EQ_INT(st.pauses, 1);
        kt_sleep_ms(1500); /* paused: nothing more comes in */
        consumer_stats_get(c, &st);
        T_EQ_INT(st.inflight, 5);
        T_EQ_INT(atomic_load(&w.td.dispatched), 5);

        atomic_store(&w.td.budget, 2); /* 3 in flight: above the low mark */
        WAIT_FOR(atomic_load(&w.td.acked) == 2, 30);
        kt_sleep_ms(500);
        consumer_stats_get(c, &st);
        T_EQ_INT(st.resumes, 0);
        T_EQ_INT(st.inflight, 3);

        atomic_store(&w.td.budget, 1); /* 2 in flight: resume, refill */
        WAIT_FOR((consumer_stats_get(c, &st), st.pauses == 2), 30);
        T_EQ_INT(st.resumes, 1);
        T_EQ_INT(st.pauses, 2);
        T_EQ_INT(st.inflight, 5);
        T_EQ_INT(atomic_load(&w.td.dispatched), 8);

        atomic_store(&w.td.hold_all, 0);
        WAIT_FOR(atomic_load(&w.td.acked) == N, 60);
        T_EQ_INT(atomic_load(&w.td.acked), N);
        int64_t want[1] = {N};
        WAIT_FOR(committed_at(&w, 1, want), 30);
        T_ASSERT(committed_at(&w, 1, want));
        world_close(&w, c, &w.td);
        check_results(&w, N);
        producer_destroy(w.p);
}

/* Each partition has one job ("hold") that consumer A never finishes at
 * offset 3. When B joins, the partitions A gives up must resume at 3 on B:
 * A committed over its finished jobs but not past the held one, and the
 * commit's metadata lists the jobs done above it (4..9), which B skips
 * instead of doing them again. */
static void test_kafka_revoke(void) {
        enum { NP = 4, PER = 10, HOLD_AT = 3 };
        world_t w;
        tdisp_t tdb;
        world_topics(&w, NP);
        for (int p = 0; p < NP; p++)
                for (int i = 0; i < PER; i++) {
                        char id[32];
                        snprintf(id, sizeof(id), "%s-%d",
                                 i == HOLD_AT ? "hold" : "ok", p * PER + i);
                        produce_job(&w, id, p * PER + i, p);
                }
        T_EQ_INT(producer_flush(w.p, 30000 * kt_scale()), 0);
        w.td.hold_ids = 1;
        consumer_t *a = world_consumer(&w, &w.td, 1000, 0);
        WAIT_FOR(atomic_load(&w.td.acked) == NP * (PER - 1), 60);
        T_EQ_INT(atomic_load(&w.td.acked), NP * (PER - 1));
        int64_t at_hold[NP] = {HOLD_AT, HOLD_AT, HOLD_AT, HOLD_AT};
        WAIT_FOR(committed_at(&w, NP, at_hold), 30);
        T_ASSERT(committed_at(&w, NP, at_hold));

        td_init(&tdb, w.p, w.results);
        consumer_t *b = world_consumer(&w, &tdb, 1000, 0);
        consumer_stats_t sa, sb;
        WAIT_FOR((consumer_stats_get(a, &sa), consumer_stats_get(b, &sb),
                  sa.revokes > 0 &&
                      sb.skipped_committed == sa.revokes * (PER - HOLD_AT - 1)),
                 60);
        consumer_stats_get(a, &sa);
        T_ASSERTF(sa.revokes >= 1 && sa.revokes < NP, "revokes %d",
                  (int)sa.revokes);
        T_EQ_INT(atomic_load(&w.td.dropped), sa.revokes);
        int64_t want[NP];
        for (int p = 0; p < NP; p++) {
                if (w.td.revoked[p]) { /* B resumed exactly at the held job */
                        T_EQ_INT(tdb.first_off[p], HOLD_AT);
                        want[p] = PER;
                } else {
                        T_EQ_INT(tdb.first_off[p], -1);
                        want[p] = HOLD_AT;
                }
        }
        /* only the held job is done again; 4..9 are skipped */
        T_EQ_INT(atomic_load(&tdb.dispatched), sa.revokes);
        consumer_stats_get(b, &sb);
        T_EQ_INT(sb.skipped_committed, sa.revokes * (PER - HOLD_AT - 1));
        WAIT_FOR(committed_at(&w, NP, want), 30);
        T_ASSERT(committed_at(&w, NP, want));
        /* A leaves with its held jobs in flight: nothing stored past them.
         * B may get those partitions back and resume them at the held job. */
        world_close(&w, a, &w.td);
        WAIT_FOR(atomic_load(&tdb.acked) == NP, 60);
        T_EQ_INT(atomic_load(&tdb.acked), NP);
        for (int p = 0; p < NP; p++)
                T_EQ_INT(tdb.first_off[p], HOLD_AT);
        consumer_stats_get(b, &sb);
        T_EQ_INT(sb.skipped_committed, NP * (PER - HOLD_AT - 1));
        world_close(&w, b, &tdb);
        for (int p = 0; p < NP; p++)
                want[p] = PER;
        T_ASSERT(committed_at(&w, NP, want));
        producer_destroy(w.p);
}

/* A bad job too large for the DLQ producer still leaves a record there: key
 * and headers, no payload, the reason saying why; its offset is released. */
static void test_kafka_dlq_too_large(void) {
        world_t w;
        char err[256];
        world_topics(&w, 1);
        size_t n  = 300000;
        char *big = malloc(n);
        memset(big, 'x', n);
        produce(&w, "big", big, n, 0);
        free(big);
        produce_job(&w, "ok-0", 0, 0);
        T_EQ_INT(producer_flush(w.p, 30000 * kt_scale()), 0);

        static const char *const small_kv[] = {"message.max.bytes", "100000"};
        producer_opts_t po                  = {.bootstrap = env.bootstrap,
                                               .kafka     = {small_kv, 1}};
        producer_t *results                 = w.p;
        w.p = producer_new(&po, err, sizeof(err)); /* the consumer's DLQ */
        T_ASSERTF(w.p, "%s", err);
        consumer_t *c   = world_consumer(&w, &w.td, 100, 0);
        int64_t want[1] = {2};
        WAIT_FOR(committed_at(&w, 1, want), 60);
        T_ASSERT(committed_at(&w, 1, want));
        world_close(&w, c, &w.td);
        producer_destroy(w.p);
        w.p = results;

        kt_msg_t *m = NULL;
        T_EQ_INT(kt_read_topic(&env, w.dlq, &m), 1);
        T_EQ_STR(m[0].key, "big");
        T_EQ_INT(m[0].vlen, 0);
        T_ASSERTF(m[0].hdr_error &&
                      strncmp(m[0].hdr_error,
                              "payload is 300000 bytes, limit 65536; payload "
                              "dropped: ",
                              strlen("payload is 300000 bytes, limit 65536; "
                                     "payload dropped: ")) == 0,
                  "%s", m[0].hdr_error ? m[0].hdr_error : "(none)");
        T_EQ_STR(m[0].hdr_off, "0");
        kt_msgs_free(m, 1);
        check_results(&w, 1);
        producer_destroy(w.p);
}

/* The operator's path: `bitmon enqueue -` (which refuses bad lines before
 * Kafka) → consumer → results → `bitmon tail --json`. */
static void test_kafka_enqueue_to_tail(void) {
        enum { N = 5 };
        world_t w;
        char lines[4096] = "", flags[1024], *out = NULL;
        size_t used = 0;
        world_topics(&w, 2);
        for (int i = 0; i < N; i++)
                used += (size_t)snprintf(
                    lines + used, sizeof(lines) - used,
                    "{\"v\":1,\"job_id\":\"ok-%d\",\"workspace\":\"w\","
                    "\"app_slug\":\"%016x\",\"build_slug\":\"%016x\","
                    "\"attrs\":{\"i\":%d}}\n%s",
                    i, 0xa00 + i % 7, 0xb0000 + i, i,
                    i == 2 ? "{\"v\":1}\n" : "");
        snprintf(flags, sizeof(flags),
                 "-b %s --jobs-topic %s --results-topic %s --dlq-topic %s",
                 env.bootstrap, w.jobs, w.results, w.dlq);
        int rc = kt_run(lines, &out, "enqueue %s -", flags);
        T_ASSERTF(rc == 1 && strstr(out, "enqueued 5 of 6 jobs"), "rc %d: %s",
                  rc, out);
        T_ASSERTF(strstr(out, "line 4: invalid job: missing field job_id"),
                  "%s", out);
        free(out);

        consumer_t *c = world_consumer(&w, &w.td, 100, 0);
        WAIT_FOR(atomic_load(&w.td.acked) == N, 60);
        T_EQ_INT(atomic_load(&w.td.acked), N);
        rc = kt_run(NULL, &out,
                    "tail %s --from-beginning --json --max %d "
                    "--timeout %d",
                    flags, N, 30 * kt_scale());
        T_ASSERTF(rc == 0, "rc %d: %s", rc, out);
        for (int i = 0; i < N; i++) {
                char want[64];
                snprintf(want, sizeof(want), "\"job_id\":\"ok-%d\"", i);
                T_ASSERTF(strstr(out, want), "%s missing in %s", want, out);
        }
        free(out);
        int64_t high[2];
        T_EQ_INT(kt_high_watermarks(&env, w.jobs, 2, high), 0);
        T_EQ_INT(high[0] + high[1], N);
        WAIT_FOR(committed_at(&w, 2, high), 30);
        T_ASSERT(committed_at(&w, 2, high));
        world_close(&w, c, &w.td);
        check_results(&w, N);
        producer_destroy(w.p);
}

int main(void) {
        if (kt_env_init(&env) < 0) {
                printf("FAIL kafka_env: no broker\n");
                return 1;
        }
        T_RUN(test_kafka_pipeline);
        T_RUN(test_kafka_backpressure);
        T_RUN(test_kafka_revoke);
        T_RUN(test_kafka_dlq_too_large);
        T_RUN(test_kafka_enqueue_to_tail);
        kt_env_release(&env);
        return t_done();
}
