/* workers/monitor.h — the real watch seams (watch_seams_t): token store,
 * Redis (validity, budget, build cache, done markers), the Bitrise client
 * and the results producer, wired for `bitmon run`.
 *
 * One monitor_t per process holds what every worker shares (client, budget,
 * producer, consumer, options); monitor_seams_init, run by workers on each
 * worker thread, gives that thread its own Redis connection and, for
 * tokens.store=redis, its own token store on it.
 *
 * Job handles: the consumer's jobs become monitor_job_t handles (the
 * `void *job` of watch_job_t). A terminal result (and the one `status`
 * report of a follow=false job, sent with "final": true) carries a producer
 * acknowledgement; when Kafka acknowledges it, the producer's poll thread
 * writes the job's done marker and then calls consumer_ack, so the offset
 * is stored only after the result is stored. The done marker uses the
 * monitor's own small Redis connection, guarded by a mutex (the ack may run
 * on the caller's thread inside producer_destroy); a marker that cannot be
 * written (Redis down) is logged and costs at most a duplicate result on a
 * redelivery. job_done: SKIPPED (done marker found) → consumer_job_done;
 * DROPPED / PUBLISH_FAILED → the offset stays unstored (redelivered).
 *
 * Redis down: the budget falls back to its local limiter (cache/budget.h);
 * validity, build cache and done markers read as "unknown"/miss and are
 * not written; the health component "redis" is DEGRADED while any
 * connection of this process is down. Nothing crashes or waits long.
 *
 * Threads: monitor_new/destroy on main (destroy after the workers and the
 * producer are gone); seams on their worker thread; the job helpers on any
 * thread (a handle belongs to one thread at a time).
 */
#ifndef BITMON_WORKERS_MONITOR_H
#define BITMON_WORKERS_MONITOR_H

#include <stddef.h>
#include <stdint.h>

#include "bitrise/client.h"
#include "bitrise/logparse.h"
#include "cache/budget.h"
#include "cache/redis.h"
#include "cache/tokenstore.h"
#include "cache/validity.h"
#include "common/health.h"
#include "common/metrics.h"
#include "consumer/consumer.h"
#include "common/job.h"
#include "producer/producer.h"
#include "workers/loop.h"
#include "workers/logcopy.h"
#include "workers/watch.h"

typedef struct monitor monitor_t;

/* Everything borrowed must outlive the monitor (strings: until
 * monitor_destroy). */
typedef struct monitor_opts {
        const bitrise_client_t *client; /* borrowed, shared */
        logparse_opts_t logparse;       /* caps per raw log */
        cache_redis_opts_t redis;       /* template for each connection; name
                                         * and on_state are set here */
        const char *tokens_spec;     /* tokens.store: "dir:PATH" or "redis" */
        tokenstore_opts_t tokens;    /* redis store key files; rc ignored */
        const unsigned char *fp_key; /* fingerprint key (copied) */
        size_t fp_key_len;
        cache_budget_t *budget; /* borrowed, shared */
        cache_validity_opts_t validity;
        int done_ttl_s;       /* cache.done_ttl_s */
        int build_ttl_ms;     /* cache.build_ttl_ms: cap on how long a build is
                               * shared from the cache (the watch asks for its
                               * poll interval); 0 = no cap */
        int webhook_trust_s;  /* webhook.trust_s: an app that delivered a
                               * webhook counts as delivering for this long */
        producer_t *producer; /* borrowed */
        const char *topic_results; /* topics.results */
        logcopy_opts_t logcopy;    /* `log: full` copies to topics.logs
                                    * (producer NULL = none) */
        consumer_t *consumer;      /* borrowed: consumer_ack, job_done */
        const char *worker_id;     /* worker.id, e.g. the pod name */
        int exactly_once;   /* producer.exactly_once: done markers are written
                             * when the result's transaction commits
                             * (monitor_txn_end), not on its delivery */
        health_t *health;   /* borrowed, may be NULL */
        metrics_t *metrics; /* borrowed, may be NULL */
} monitor_opts_t;

/* Creates the shared part (the dir token store, the ack-path Redis
 * connection, the metrics series). NULL with the reason in errstr. */
monitor_t *monitor_new(const monitor_opts_t *opts, char *errstr,
                       size_t errstr_size);
/* Frees; NULL is a no-op. After workers_destroy and producer_destroy. */
void monitor_destroy(monitor_t *m);

/* After consumer_close, before consumer_destroy: acks that still arrive
 * (messages purged by producer_destroy) no longer reach the consumer. */
void monitor_detach_consumer(monitor_t *m);

/* Exactly-once: the transaction holding the results acknowledged since
 * the last call committed (write their done markers) or was aborted
 * (forget them: their jobs are redone). A consumer_dispatch_t.on_txn_end;
 * consumer thread. */
void monitor_txn_end(monitor_t *m, int committed);

/* Results the worker threads gave up at their end because the producer's
 * queue stayed full (workers/pubq.h): ending results whose jobs are
 * redelivered. Read after workers_stop; any thread. */
long monitor_results_abandoned(monitor_t *m);

/* workers_opts_t.seams_init / seams_release with ud = the monitor. The
 * thread's results wait in a workers/pubq line when the producer's queue is
 * full, so publishing never blocks the loop. */
int monitor_seams_init(loop_t *loop, void *ud, watch_seams_t *seams,
                       char *errstr, size_t errstr_size);
void monitor_seams_release(loop_t *loop, void *ud, watch_seams_t *seams);

/* ---- job handles ----------------------------------------------------------
 */

typedef struct monitor_job monitor_job_t;

/* Wraps a job from (partition, offset); takes ownership of job (also on
 * failure: NULL = out of memory, job freed). */
monitor_job_t *monitor_job_new(job_t *job, int32_t partition, int64_t offset);
/* The producer's transaction epoch when the job was consumed
 * (producer_txn_epoch): its results are refused once an abort raised it. */
void monitor_job_set_epoch(monitor_job_t *mj, int64_t epoch);
/* Frees the handle and its job. NULL is a no-op. (job_done does this for
 * every handle a worker accepted.) */
void monitor_job_free(monitor_job_t *mj);
/* Describes the handle to workers_submit (strings borrowed from it). */
void monitor_job_describe(monitor_job_t *mj, watch_job_t *out);

/* A workers_drop predicate: true when the job's partition is in the set. */
typedef struct monitor_partitions {
        const int32_t *p;
        size_t n;
} monitor_partitions_t;
int monitor_job_in_partitions(void *job, void *arg);

#endif
