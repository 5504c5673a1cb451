/* consumer/consumer_int.h — the consumer's state, shared by consumer.c
 * (poll, dispatch, offsets, rebalance), commits.c (what the committed
 * offsets say, the at-least-once commits) and txn.c (exactly-once: offsets
 * committed in the producer's transactions). Not an API. */
#ifndef BITMON_CONSUMER_CONSUMER_INT_H
#define BITMON_CONSUMER_CONSUMER_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "consumer/consumer.h"
#include "consumer/offsets.h"
#include "consumer/txnmeta.h"

/* What the last commit (or the group, at assignment) says about a
 * partition: where an exactly-once abort rewinds to, and which offsets
 * above it are done already (skipped when consumed again). */
typedef struct commit_part {
        int64_t pos; /* committed position; -1 = none (first offset seen) */
        char *meta;  /* its metadata (txnmeta.h), NULL = none */
        txnmeta_range_t *skip;
        size_t n_skip, skip_idx;
} commit_part_t;

typedef struct completion {
        int32_t part;
        int64_t off;
} completion_t;

struct consumer {
        rd_kafka_t *rk;
        rd_kafka_queue_t *rkq; /* the consumer queue, to wake poll */
        producer_t *producer;  /* borrowed, for the DLQ */
        consumer_dispatch_t dispatch;
        char *topic_jobs, *topic_dlq;
        size_t max_watches, resume_watches;
        job_limits_t limits;
        int poll_ms;

        offsets_t *offsets; /* consumer thread only (or close) */
        bool paused;

        pthread_t thread;
        bool thread_started, closed;
        bool close_unfinished; /* leaving the group ran out of time */
        atomic_int stop;

        pthread_mutex_t lock; /* guards queue and stats */
        completion_t *queue;
        size_t qlen, qcap;
        consumer_stats_t stats;

        /* committed state per partition id (commits.c); consumer thread
         * only, or close */
        commit_part_t *cparts;
        size_t n_cparts;
        /* at-least-once commits (commits.c) */
        int64_t commit_interval_ms; /* kafka.auto.commit.interval.ms */
        int64_t commit_last;        /* when the last one was sent */
        int64_t commit_warned;      /* last "cannot commit" line */
        bool commit_dirty;          /* something finished since */

        /* exactly-once (consumer/txn.c); consumer thread only, or close */
        bool eos;
        int txn_ms;
        uint64_t txn_max;
        int64_t txn_started; /* when the open transaction began */
        bool txn_dirty;      /* positions advanced since the last commit */
        bool txn_committing; /* the gate is closed, the commit under way */
        bool txn_fatal;      /* fenced: nothing more to do */
        bool closing;        /* consumer_close: no commit on revoke */
        int64_t txn_warned;  /* last "commit retried" line */
        rd_kafka_topic_partition_list_t *txn_list; /* offsets of the commit
                                                    * under way */
};

/* consumer.c */
void consumer_offsets_apply(consumer_t *c);
void consumer_stats_add(consumer_t *c, uint64_t *field, uint64_t n);

/* commits.c (consumer thread, or close) */
/* Reads the committed positions and metadata of newly assigned
 * partitions. */
void commits_assigned(consumer_t *c,
                      const rd_kafka_topic_partition_list_t *parts);
/* Forgets a revoked partition. */
void commits_forget(consumer_t *c, int32_t part);
/* A message of the jobs topic was tracked: 1 when a commit says it is done
 * (the caller marks it done without dispatching). */
int commits_consumed(consumer_t *c, int32_t part, int64_t off);
/* The committable positions of the tracked partitions, each with its done
 * runs as metadata (caller destroys). */
rd_kafka_topic_partition_list_t *commits_list(consumer_t *c);
/* The list (from commits_list) committed: remember it. */
void commits_committed(consumer_t *c, const rd_kafka_topic_partition_list_t *l);
/* The last committed position of the partition (-1 = none), its skip runs
 * armed again: where a rewind seeks. */
int64_t commits_rewind(consumer_t *c, int32_t part);
void commits_release(consumer_t *c);
/* At-least-once: commits when something finished and
 * kafka.auto.commit.interval.ms passed (async); commits now (sync). */
void commits_tick(consumer_t *c);
rd_kafka_resp_err_t commits_now(consumer_t *c);
/* An async commit's outcome (offset_commit callback): logs a failure. */
void commits_result(consumer_t *c, rd_kafka_resp_err_t err);

/* txn.c (consumer thread, or close) */
/* In the poll loop: commits when the transaction is due (txn_ms, size). */
void txn_tick(consumer_t *c);
/* Commits now, retrying until timeout_ms; aborts and rewinds when the
 * transaction cannot commit. 0, or -1 with errstr. */
int txn_commit_now(consumer_t *c, int timeout_ms, bool rewind, char *errstr,
                   size_t errstr_size);
/* Aborts the open transaction and rewinds every assigned partition to its
 * last committed position (partitions lost in a rebalance). */
void txn_abort_rewind(consumer_t *c, const char *why);
void txn_release(consumer_t *c);

#endif
