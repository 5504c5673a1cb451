/* cmd/run.c — `bitmon run`: the worker pool daemon. Wires the modules
 * together (configuration → options in cmd/run_opts.c), waits for SIGTERM or
 * SIGINT on the main thread (blocked in every other thread), and shuts down
 * in the order of DESIGN "Shutdown" within shutdown.timeout_s. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd/cmd.h"
#include "cmd/run.h"
#include "common/health.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/timeutil.h"

#define FAC "run"

typedef struct run {
        run_opts_t o;
        metrics_t *metrics;
        health_t *health;
        httpd_t *httpd;
        webhook_intake_t *webhook;
        bitrise_client_t *client;
        cache_budget_t *budget;
        producer_t *producer;
        consumer_t *consumer;
        monitor_t *monitor;
        workers_t *workers;
        metrics_counter_t *jobs_in, *jobs_refused;
} run_t;

/* Exit status (docs/run.md): 0 clean shutdown after a signal, 1 could not
 * start or the producer failed fatally, 2 configuration errors, 3 shut
 * down after a signal but not cleanly (`stopped clean=no`: results left
 * unacknowledged or offsets uncommitted, or workers still running). */
enum {
        RUN_EXIT_OK      = 0,
        RUN_EXIT_FAILED  = 1,
        RUN_EXIT_CONFIG  = 2,
        RUN_EXIT_UNCLEAN = 3,
};

static void usage(FILE *f) {
        fprintf(
            f,
            "usage: bitmon run [options]\n\n"
            "Runs the worker pool: takes monitor jobs from the jobs topic,\n"
            "follows each build on Bitrise and publishes the results.\n"
            "SIGTERM or SIGINT shuts it down (exit 0 when clean, 3 when\n"
            "results or offsets were left behind; 1: could not start or\n"
            "the producer failed; 2: configuration errors).\n\n%s",
            kafka_opts_usage);
}

/* ---- the consumer's dispatcher (consumer thread) --------------------------
 */

static int run_on_job(job_t *job, int32_t partition, int64_t offset,
                      void *ctx) {
        run_t *r = ctx;
        watch_job_t wj;
        if (job->kind == JOB_KIND_HINT) { /* handled at once, never redone */
                workers_hint(r->workers, job->workspace, job->app_slug,
                             job->build_slug, job->hint == JOB_HINT_FINISHED);
                job_destroy(job);
                consumer_job_done(r->consumer, partition, offset);
                return 0;
        }
        metrics_counter_inc(r->jobs_in);
        monitor_job_t *mj = monitor_job_new(job, partition, offset);
        if (!mj)
                goto refused;
        monitor_job_set_epoch(mj, producer_txn_epoch(r->producer));
        monitor_job_describe(mj, &wj);
        if (workers_submit(r->workers, &wj) != 0) {
                monitor_job_free(mj);
                goto refused;
        }
        return 0;
refused:
        metrics_counter_inc(r->jobs_refused);
        return -1;
}

static void run_on_txn_end(int committed, void *ctx) {
        run_t *r = ctx;
        monitor_txn_end(r->monitor, committed);
}

static void run_on_revoke(const int32_t *partitions, size_t n, void *ctx) {
        run_t *r                 = ctx;
        monitor_partitions_t set = {partitions, n};
        long dropped =
            workers_drop(r->workers, monitor_job_in_partitions, &set, -1);
        LOG_INFO(FAC, "partitions revoked n=%zu watches_dropped=%ld", n,
                 dropped);
}

/* ---- metrics read at scrape time ------------------------------------------
 */

static double gauge_watches(void *opaque) {
        run_t *r = opaque;
        return r->workers ? (double)workers_jobs(r->workers) : 0;
}

static double gauge_redis_degraded(void *opaque) {
        run_t *r = opaque;
        return cache_redis_down_count() > 0 ||
               (r->budget && cache_budget_degraded(r->budget));
}

static double gauge_consumer_lag(void *opaque) {
        run_t *r = opaque;
        consumer_stats_t st;
        if (!r->consumer)
                return 0;
        consumer_stats_get(r->consumer, &st);
        return (double)st.lag;
}

static double gauge_dlq(void *opaque) {
        run_t *r = opaque;
        consumer_stats_t st;
        if (!r->consumer)
                return 0;
        consumer_stats_get(r->consumer, &st);
        return (double)st.dlq;
}

static double gauge_txn_commits(void *opaque) {
        run_t *r = opaque;
        consumer_stats_t st;
        if (!r->consumer)
                return 0;
        consumer_stats_get(r->consumer, &st);
        return (double)st.txn_commits;
}

static double gauge_txn_aborts(void *opaque) {
        run_t *r = opaque;
        consumer_stats_t st;
        if (!r->consumer)
                return 0;
        consumer_stats_get(r->consumer, &st);
        return (double)st.txn_aborts;
}

static double gauge_skipped_committed(void *opaque) {
        run_t *r = opaque;
        consumer_stats_t st;
        if (!r->consumer)
                return 0;
        consumer_stats_get(r->consumer, &st);
        return (double)st.skipped_committed;
}

static void run_metrics_register(run_t *r) {
        metrics_t *m = r->metrics;
        webhook_intake_metrics(m); /* zeros while the intake is off */
        r->jobs_in =
            metrics_counter(m, "bitmon_jobs_received_total",
                            "Valid jobs taken from the jobs topic.", NULL);
        r->jobs_refused = metrics_counter(
            m, "bitmon_jobs_refused_total",
            "Jobs the workers could not take (stopping, out of memory).", NULL);
        metrics_gauge_fn(m, "bitmon_watches", "Jobs being watched now.",
                         gauge_watches, r, NULL);
        metrics_gauge_fn(m, "bitmon_redis_degraded",
                         "1 while Redis is unreachable (local budget).",
                         gauge_redis_degraded, r, NULL);
        metrics_gauge_fn(m, "bitmon_jobs_dlq",
                         "Bad jobs sent to the DLQ since start.", gauge_dlq, r,
                         NULL);
        metrics_gauge_fn(m, "bitmon_consumer_lag",
                         "Jobs in this pod's partitions not yet read "
                         "(librdkafka statistics).",
                         gauge_consumer_lag, r, NULL);
        metrics_gauge_fn(m, "bitmon_txn_commits",
                         "Exactly-once transactions committed since start.",
                         gauge_txn_commits, r, NULL);
        metrics_gauge_fn(m, "bitmon_txn_aborts",
                         "Exactly-once transactions aborted since start "
                         "(their jobs were watched again).",
                         gauge_txn_aborts, r, NULL);
        metrics_gauge_fn(m, "bitmon_jobs_skipped_committed",
                         "Jobs consumed again that a commit's metadata lists "
                         "as done (skipped without a watch).",
                         gauge_skipped_committed, r, NULL);
        metrics_process_register(m, "1");
}

/* ---- start and stop --------------------------------------------------------
 */

/* The webhook intake, after the producer it hands hints to. A failure to
 * bind or to open the secrets store leaves the process running (jobs are
 * still followed, by polling) but not ready, so the Service sends no
 * deliveries here. */
static void run_webhook_start(run_t *r) {
        char err[512];
        if (!r->o.webhook_enabled)
                return;
        r->o.webhook.producer = r->producer;
        r->o.webhook.metrics  = r->metrics;
        if (webhook_intake_new(&r->o.webhook, &r->webhook, err, sizeof(err)) <
            0) {
                LOG_ERROR(FAC, "webhook intake not started: %s", err);
                health_set(r->health, "webhook", HEALTH_NOT_READY, err);
                return;
        }
        health_set(r->health, "webhook", HEALTH_OK, NULL);
}

static int run_start(run_t *r) {
        char err[512];
        run_opts_t *o = &r->o;
        if (!(r->metrics = metrics_new()) ||
            !(r->health = health_new(r->metrics))) {
                LOG_ERROR(FAC, "cannot start: out of memory");
                return -1;
        }
        run_metrics_register(r);
        health_set(r->health, "redis", HEALTH_OK, NULL);
        if (o->http_enabled) {
                o->http.metrics = r->metrics;
                o->http.health  = r->health;
                if (httpd_new(&o->http, &r->httpd, err, sizeof(err)) < 0)
                        goto fail;
                LOG_INFO(FAC, "http listening port=%d", httpd_port(r->httpd));
        }
        if (!(r->client = bitrise_client_new(&o->bitrise, err, sizeof(err))) ||
            !(r->budget = cache_budget_new(&o->budget, err, sizeof(err))) ||
            !(r->producer = producer_new(&o->producer, err, sizeof(err))))
                goto fail;
        run_webhook_start(r);
        consumer_dispatch_t d = {run_on_job, run_on_revoke, r, run_on_txn_end};
        if (!(r->consumer = consumer_new(&o->consumer, &d, r->producer, err,
                                         sizeof(err))))
                goto fail;
        o->monitor.client           = r->client;
        o->monitor.budget           = r->budget;
        o->monitor.producer         = r->producer;
        o->monitor.logcopy.producer = r->producer;
        o->monitor.consumer         = r->consumer;
        o->monitor.health           = r->health;
        o->monitor.metrics          = r->metrics;
        if (!(r->monitor = monitor_new(&o->monitor, err, sizeof(err))))
                goto fail;
        o->workers.ud = r->monitor;
        if (!(r->workers = workers_new(&o->workers, err, sizeof(err))) ||
            workers_start(r->workers, err, sizeof(err)) != 0 ||
            consumer_start(r->consumer, err, sizeof(err)) != 0)
                goto fail;
        health_set(r->health, "process", HEALTH_OK, NULL);
        LOG_INFO(FAC, "started");
        return 0;
fail:
        LOG_ERROR(FAC, "cannot start: %s", err);
        return -1;
}

static int remaining_ms(int64_t deadline) {
        int64_t left = deadline - time_mono_ms();
        return left > 0 ? (int)left : 0;
}

/* DESIGN "Shutdown": stop intake, let short calls finish and hand long
 * watches back, flush the producer, commit, close. Returns 0 when every
 * step finished in time, -1 when results or the commit were left behind
 * (their jobs are redelivered), -2 when the workers did not stop. */
static int run_shutdown(run_t *r) {
        int64_t deadline = time_mono_ms() + r->o.shutdown_ms;
        int rc           = 0;
        char err[256];
        health_set(r->health, "process", HEALTH_NOT_READY, "shutting down");
        /* first: no new hints while the rest stops (Bitrise does not
         * retry, but the safety poll catches what is refused now) */
        webhook_intake_destroy(r->webhook);
        r->webhook = NULL;
        if (r->consumer)
                consumer_stop(r->consumer);
        if (r->workers) {
                /* a fifth of the budget for calls in flight; half for all */
                int grace = r->o.shutdown_ms / 5;
                if (workers_stop(r->workers, grace,
                                 remaining_ms(deadline) / 2) != 0) {
                        LOG_ERROR(FAC, "workers did not stop in time");
                        return -2; /* threads still run: do not free */
                }
                long lost = monitor_results_abandoned(r->monitor);
                if (lost > 0) {
                        LOG_WARN(FAC,
                                 "results still waiting for the producer "
                                 "at shutdown n=%ld (their jobs are "
                                 "redelivered)",
                                 lost);
                        rc = -1;
                }
        }
        if (r->producer) {
                int left =
                    producer_flush(r->producer, remaining_ms(deadline) * 2 / 3);
                if (left > 0) {
                        LOG_WARN(FAC,
                                 "results not acknowledged at shutdown "
                                 "n=%d (their jobs are redelivered)",
                                 left);
                        producer_purge(r->producer);
                        rc = -1;
                }
        }
        /* the close leaves time for the destroy after it (run_free) */
        int close_ms = remaining_ms(deadline) - CONSUMER_DESTROY_WAIT_S * 1000;
        if (r->consumer &&
            consumer_close(r->consumer, close_ms, err, sizeof(err)) < 0) {
                LOG_WARN(FAC, "consumer not closed cleanly at shutdown: %s",
                         err);
                rc = -1;
        }
        monitor_detach_consumer(r->monitor);
        LOG_INFO(FAC, "stopped clean=%s ms_left=%d", rc ? "no" : "yes",
                 remaining_ms(deadline));
        return rc;
}

static void run_free(run_t *r) {
        webhook_intake_destroy(r->webhook);
        workers_destroy(r->workers);
        monitor_detach_consumer(r->monitor);
        consumer_destroy(r->consumer);
        producer_destroy(r->producer);
        monitor_destroy(r->monitor);
        cache_budget_destroy(r->budget);
        bitrise_client_destroy(r->client);
        httpd_destroy(r->httpd);
        health_destroy(r->health);
        metrics_destroy(r->metrics);
}

/* Waits on the main thread for SIGTERM/SIGINT (blocked everywhere), or a
 * fatal producer error. */
static int run_wait(run_t *r, const sigset_t *set) {
        struct timespec ts = {0, 500 * 1000000L};
        for (;;) {
                int sig = sigtimedwait(set, NULL, &ts);
                if (sig == SIGTERM || sig == SIGINT) {
                        LOG_INFO(FAC, "signal received sig=%s, shutting down",
                                 sig == SIGTERM ? "TERM" : "INT");
                        return 0;
                }
                if (sig < 0 && errno != EAGAIN && errno != EINTR)
                        return -1;
                if (producer_fatal(r->producer)) {
                        LOG_ERROR(FAC,
                                  "producer failed fatally, shutting down");
                        return -1;
                }
        }
}

static int parse_args(run_opts_t *o, int argc, char **argv) {
        kafka_opts_init(&o->kafka);
        for (int i = 1; i < argc; i++) {
                int rc;
                if (strcmp(argv[i], "-h") == 0 ||
                    strcmp(argv[i], "--help") == 0) {
                        usage(stdout);
                        return 1;
                }
                if ((rc = kafka_opts_parse(&o->kafka, argc, argv, &i)) < 0)
                        return -1;
                if (rc == 0) {
                        fprintf(stderr, "bitmon run: unknown option '%s'\n",
                                argv[i]);
                        usage(stderr);
                        return -1;
                }
        }
        return kafka_opts_load(&o->kafka) < 0 ? -1 : 0;
}

static void run_log_setup(const config_t *cfg) {
        log_level_t lvl  = LOG_LVL_INFO;
        log_format_t fmt = LOG_FMT_AUTO;
        log_level_parse(config_str(cfg, "log.level"), &lvl);
        log_format_parse(config_str(cfg, "log.format"), &fmt);
        log_setup(lvl, fmt, 2);
}

int cmd_run(int argc, char **argv) {
        run_t r;
        sigset_t set;
        memset(&r, 0, sizeof(r));
        int rc = parse_args(&r.o, argc, argv);
        if (rc != 0) {
                run_opts_release(&r.o);
                return rc > 0 ? RUN_EXIT_OK : RUN_EXIT_CONFIG;
        }
        run_log_setup(r.o.kafka.cfg);
        if (run_opts_fill(&r.o) < 0) {
                run_opts_release(&r.o);
                return RUN_EXIT_CONFIG;
        }
        run_opts_log(&r.o);
        /* Signals go to this thread only: block them before any thread. */
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        pthread_sigmask(SIG_BLOCK, &set, NULL);
        /* a signal: 0 or 3 as the shutdown went; anything else: 1 */
        int signalled = run_start(&r) == 0 && run_wait(&r, &set) == 0;
        int down      = run_shutdown(&r);
        rc            = !signalled  ? RUN_EXIT_FAILED
                        : down == 0 ? RUN_EXIT_OK
                                    : RUN_EXIT_UNCLEAN;
        if (down == -2) {
                /* the worker threads still use everything: leave without
                 * freeing (nothing was stored for their jobs) */
                LOG_ERROR(FAC, "exiting with workers still running");
                return rc;
        }
        run_free(&r);
        run_opts_release(&r.o);
        return rc;
}
