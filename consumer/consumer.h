/* consumer/consumer.h — the jobs-topic consumer: one per process.
 *
 * Its thread polls the jobs topic (group consumer.group, cooperative-sticky
 * assignment), parses each job, sends bad ones to the DLQ unchanged with the
 * reason in headers, and hands good ones to the dispatcher. A job's offset is
 * stored only once its terminal result (or DLQ copy) is acknowledged by
 * Kafka, and per partition only over a contiguous run of finished jobs
 * (consumer/offsets.h); the consumer commits them every
 * kafka.auto.commit.interval.ms, with the jobs done above them as metadata
 * that the next owner of the partition skips (consumer/commits.c;
 * exactly-once: they commit in the producer's transactions instead,
 * consumer/txn.c, docs/results.md "Exactly once"). When
 * max_watches jobs are in flight the consumer pauses its partitions and keeps
 * polling; it resumes at resume_watches (hysteresis).
 *
 * Threads: consumer_new/start/stop/close/destroy from one controlling thread;
 * consumer_job_done and consumer_ack from any thread (completions go through
 * a mutex-protected queue that the consumer thread drains: the offset
 * tracker and the commits are only used on the consumer thread,
 * or in consumer_close after that thread has stopped). The dispatcher's
 * callbacks run on the consumer thread (or in consumer_close).
 *
 * Shutdown order (DESIGN "Shutdown"): consumer_stop (no more intake) →
 * workers finish short calls and hand long watches back → producer flush →
 * consumer_close (stores what finished, commits, leaves the group) →
 * consumer_destroy.
 */
#ifndef BITMON_CONSUMER_CONSUMER_H
#define BITMON_CONSUMER_CONSUMER_H

#include <stddef.h>
#include <stdint.h>

#include "common/job.h"
#include "producer/kconf.h"
#include "producer/producer.h"

typedef struct consumer consumer_t;

typedef struct consumer_opts {
        const char *bootstrap;  /* NULL = from kafka pairs */
        kconf_pairs_t kafka;    /* `kafka.*` passthrough */
        const char *group;      /* consumer.group */
        const char *topic_jobs; /* topics.jobs */
        const char *topic_dlq;  /* topics.dlq */
        size_t max_watches;     /* pause at this many in flight; 0 = 1000 */
        size_t resume_watches;  /* resume at or below; 0 = 3/4 of max */
        job_limits_t limits;    /* job.max_bytes, deadlines */
        int poll_ms;            /* consumer poll timeout; 0 = 100 */
        /* producer.exactly_once: no auto-commit; the offsets of finished
         * jobs commit inside the producer's transactions (which must be
         * transactional), cut every txn_ms (0 = 100) or at
         * txn_max_messages (0 = 10000) messages; an aborted transaction
         * rewinds every partition to its last committed position (the
         * jobs are watched again). */
        int exactly_once;
        int txn_ms;
        uint64_t txn_max_messages;
} consumer_opts_t;

typedef struct consumer_dispatch {
        /* A valid job from (partition, offset); also a hint (job->kind
         * JOB_KIND_HINT), which the dispatcher handles at once and ends with
         * consumer_job_done. Takes ownership of job
         * (job_destroy) whatever it returns. Return 0 when accepted: the
         * dispatcher then ends it with exactly one terminal result produced
         * with producer_ack_t{consumer_ack, consumer, partition, offset}, or
         * calls consumer_job_done (e.g. skipped by a done marker). Non-zero:
         * refused; the offset stays in flight and is not stored (the job is
         * redelivered after a restart or rebalance). */
        int (*on_job)(job_t *job, int32_t partition, int64_t offset, void *ctx);
        /* Partitions of the jobs topic were revoked or lost: drop their
         * watches without publishing anything. May be NULL. */
        void (*on_revoke)(const int32_t *partitions, size_t n, void *ctx);
        void *ctx;
        /* Exactly-once: the open transaction committed (1) or was aborted
         * (0), before the next one begins. Consumer thread (or close).
         * May be NULL. */
        void (*on_txn_end)(int committed, void *ctx);
} consumer_dispatch_t;

/* Counters for metrics and tests; read with consumer_stats_get. */
typedef struct consumer_stats {
        uint64_t jobs;   /* valid jobs dispatched */
        uint64_t dlq;    /* bad jobs sent to the DLQ */
        uint64_t pauses; /* times intake paused for back-pressure */
        uint64_t resumes;
        uint64_t revokes;                 /* partitions revoked or lost */
        uint64_t stores;                  /* offsets stored */
        uint64_t txn_commits, txn_aborts; /* exactly-once transactions */
        uint64_t skipped_committed;       /* consumed again, done by a commit */
        size_t inflight;                  /* offsets in flight now */
        int paused;                       /* 1 while paused */
        int64_t lag; /* jobs of the owned partitions not yet read, from
                        the last statistics (consumer/lag.h); 0 before */
} consumer_stats_t;

/* Creates the consumer and subscribes to the jobs topic; `producer` (for
 * the DLQ) is borrowed and must outlive the consumer. Returns NULL with the
 * reason in errstr. */
consumer_t *consumer_new(const consumer_opts_t *opts,
                         const consumer_dispatch_t *dispatch,
                         producer_t *producer, char *errstr,
                         size_t errstr_size);

/* Starts the consumer thread. 0 or -1 with errstr. */
int consumer_start(consumer_t *c, char *errstr, size_t errstr_size);

/* Stops intake: the thread finishes its current message and exits (joined
 * here). Completions keep queuing until consumer_close. */
void consumer_stop(consumer_t *c);

/* Applies the queued completions, stores and commits the committable
 * offsets, and leaves the group (revoking what is left without storing it),
 * all within timeout_ms: a hung broker would otherwise hold the commit
 * forever. Call after consumer_stop. Returns 0, or -1 with errstr when the
 * commit failed or did not finish in time, or leaving the group did not
 * (the broker then drops the member after session.timeout.ms); the jobs
 * whose offsets were not committed are redelivered. */
#define CONSUMER_CLOSE_DEFAULT_MS 10000 /* consumer_destroy without close */
#define CONSUMER_REVOKE_COMMIT_MS 10000 /* exactly-once commit on revoke */
int consumer_close(consumer_t *c, int timeout_ms, char *errstr,
                   size_t errstr_size);

/* Stops and closes if that was not done; frees. NULL is a no-op. After a
 * close that ran out of time, librdkafka may wait for a broker that does
 * not answer: the handle is then destroyed on a thread of its own and left
 * to the process exit after CONSUMER_DESTROY_WAIT_S. */
#define CONSUMER_DESTROY_WAIT_S 1
void consumer_destroy(consumer_t *c);

/* The terminal result of the job at (partition, offset) is acknowledged:
 * its offset is done. Any thread. A completion for a partition revoked
 * meanwhile is ignored; if the partition came back and the same offset is
 * in flight again, it counts for it (its result was published, so storing
 * past it loses nothing). */
void consumer_job_done(consumer_t *c, int32_t partition, int64_t offset);

/* A producer_ack_fn (ctx = the consumer): on success, consumer_job_done;
 * on failure the offset stays in flight and an error is logged. */
void consumer_ack(void *ctx, int32_t partition, int64_t offset,
                  rd_kafka_resp_err_t err);

/* A snapshot of the counters. Any thread. */
void consumer_stats_get(consumer_t *c, consumer_stats_t *out);

#endif
