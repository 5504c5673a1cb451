/* consumer/txn.c — exactly-once mode (producer.exactly_once): the offsets of
 * finished jobs commit in the producer's transactions, together with the
 * results that finished them (docs/results.md "Exactly once").
 *
 * The consumer thread cuts a transaction every txn_ms (or at txn_max
 * messages): it closes the producer's gate, waits until every message of
 * the transaction has its delivery report served (so every finished job's
 * completion is queued), applies the completions, adds the committable
 * positions (with the done runs above them, consumer/commits.c) for the
 * group's current generation, commits, lets the dispatcher write the done
 * markers, and begins the next transaction. An abort rewinds every assigned
 * partition to its last committed position: the jobs of the aborted
 * transaction are consumed and watched again (the producer's epoch refuses
 * the results of their old watches). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "consumer/consumer_int.h"

#define FAC            "consumer"
#define TXN_ATTEMPT_MS 1000 /* one commit attempt; retried after it */
#define TXN_WARN_MS    5000 /* "commit retried" at most this often */

void txn_release(consumer_t *c) {
        if (c->txn_list)
                rd_kafka_topic_partition_list_destroy(c->txn_list);
        c->txn_list = NULL;
}

/* ---- the commit ---- */

/* One attempt within timeout_ms: PRODUCER_TXN_*. */
static int commit_once(consumer_t *c, int timeout_ms, char *errstr,
                       size_t errstr_size) {
        if (!c->txn_committing) {
                producer_txn_close(c->producer);
                c->txn_committing = true;
        }
        if (producer_txn_drain(c->producer, timeout_ms) != PRODUCER_TXN_OK) {
                snprintf(errstr, errstr_size,
                         "results of the transaction not acknowledged yet");
                return PRODUCER_TXN_RETRY;
        }
        consumer_offsets_apply(c); /* every finished job of it is queued */
        if (!c->txn_list) {
                c->txn_list  = commits_list(c);
                c->txn_dirty = false;
        }
        rd_kafka_consumer_group_metadata_t *cgmd =
            rd_kafka_consumer_group_metadata(c->rk);
        int rc = producer_txn_commit(c->producer, c->txn_list, cgmd, timeout_ms,
                                     errstr, errstr_size);
        if (cgmd)
                rd_kafka_consumer_group_metadata_destroy(cgmd);
        return rc;
}

static void txn_next(consumer_t *c) {
        char err[256];
        if (c->txn_list)
                rd_kafka_topic_partition_list_destroy(c->txn_list);
        c->txn_list       = NULL;
        c->txn_committing = false;
        c->txn_started    = time_mono_ms();
        if (c->closing)
                return; /* the last one: nothing begins */
        if (producer_txn_begin(c->producer, err, sizeof(err)) !=
            PRODUCER_TXN_OK) {
                LOG_ERROR(FAC, "%s", err);
                c->txn_fatal = true;
        }
}

static void committed(consumer_t *c) {
        rd_kafka_topic_partition_list_t *l = c->txn_list;
        commits_committed(c, l);
        consumer_stats_add(c, &c->stats.txn_commits, 1);
        consumer_stats_add(c, &c->stats.stores, l ? (uint64_t)l->cnt : 0);
        if (c->dispatch.on_txn_end)
                c->dispatch.on_txn_end(1, c->dispatch.ctx);
        txn_next(c);
}

/* Throws away the completions queued so far: after a rewind they belong
 * to offsets that are consumed again. */
static void completions_discard(consumer_t *c) {
        pthread_mutex_lock(&c->lock);
        c->qlen = 0;
        pthread_mutex_unlock(&c->lock);
}

static void rewind_all(consumer_t *c) {
        rd_kafka_topic_partition_list_t *parts = NULL, *seek;
        int32_t ids[256];
        size_t n = 0;
        if (rd_kafka_assignment(c->rk, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR)
                return;
        seek = rd_kafka_topic_partition_list_new(parts->cnt);
        for (int i = 0; i < parts->cnt; i++) {
                const rd_kafka_topic_partition_t *tp = &parts->elems[i];
                int64_t pos;
                if (strcmp(tp->topic, c->topic_jobs) != 0)
                        continue;
                offsets_drop(c->offsets, tp->partition);
                ids[n++] = tp->partition;
                if (n == sizeof(ids) / sizeof(ids[0])) {
                        if (c->dispatch.on_revoke)
                                c->dispatch.on_revoke(ids, n, c->dispatch.ctx);
                        n = 0;
                }
                if ((pos = commits_rewind(c, tp->partition)) >= 0)
                        rd_kafka_topic_partition_list_add(seek, tp->topic,
                                                          tp->partition)
                            ->offset = pos;
        }
        if (n && c->dispatch.on_revoke)
                c->dispatch.on_revoke(ids, n, c->dispatch.ctx);
        completions_discard(c);
        if (seek->cnt > 0) {
                rd_kafka_error_t *error =
                    rd_kafka_seek_partitions(c->rk, seek, 5000);
                if (error) {
                        LOG_ERROR(FAC, "cannot rewind after the abort: %s",
                                  rd_kafka_error_string(error));
                        rd_kafka_error_destroy(error);
                }
        }
        LOG_WARN(FAC,
                 "transaction aborted: partitions rewound to their last "
                 "committed offsets, their jobs are watched again "
                 "partitions=%d",
                 seek->cnt);
        rd_kafka_topic_partition_list_destroy(seek);
        rd_kafka_topic_partition_list_destroy(parts);
}

/* Aborts (retrying while the broker does not answer, until stopped) and,
 * with `rewind`, redoes the partitions' jobs. */
static void abort_and(consumer_t *c, bool rewind, const char *why) {
        char err[256];
        int rc;
        LOG_WARN(FAC, "aborting the transaction: %s", why);
        producer_txn_close(c->producer);
        c->txn_committing = true;
        while ((rc = producer_txn_abort(c->producer, TXN_ATTEMPT_MS * 5, err,
                                        sizeof(err))) == PRODUCER_TXN_RETRY &&
               (c->closing || !atomic_load(&c->stop)))
                LOG_WARN(FAC, "abort retried: %s", err);
        if (rc == PRODUCER_TXN_FATAL) {
                c->txn_fatal = true;
                return;
        }
        consumer_stats_add(c, &c->stats.txn_aborts, 1);
        if (rewind)
                rewind_all(c);
        if (c->dispatch.on_txn_end)
                c->dispatch.on_txn_end(0, c->dispatch.ctx);
        txn_next(c);
}

void txn_abort_rewind(consumer_t *c, const char *why) {
        abort_and(c, true, why);
}

/* Acts on an attempt's outcome: 0 done (committed or aborted), 1 retry. */
static int finish(consumer_t *c, int rc, bool rewind, const char *err) {
        switch (rc) {
        case PRODUCER_TXN_OK:
                committed(c);
                return 0;
        case PRODUCER_TXN_RETRY:
                if (time_mono_ms() - c->txn_warned >= TXN_WARN_MS) {
                        c->txn_warned = time_mono_ms();
                        LOG_WARN(FAC,
                                 "transaction commit retried (results and "
                                 "offsets wait): %s",
                                 err);
                }
                return 1;
        case PRODUCER_TXN_ABORT:
        case PRODUCER_TXN_MOVED:
                abort_and(c, rewind, err);
                return 0;
        default:
                c->txn_fatal = true;
                return 0;
        }
}

void txn_tick(consumer_t *c) {
        char err[256] = "";
        if (c->txn_fatal)
                return;
        if (!c->txn_committing) {
                uint64_t n  = producer_txn_messages(c->producer);
                int64_t age = time_mono_ms() - c->txn_started;
                if (n < c->txn_max &&
                    (age < c->txn_ms || (n == 0 && !c->txn_dirty)))
                        return;
        }
        (void)finish(c, commit_once(c, TXN_ATTEMPT_MS, err, sizeof(err)), true,
                     err);
}

int txn_commit_now(consumer_t *c, int timeout_ms, bool rewind, char *errstr,
                   size_t errstr_size) {
        int64_t end = time_mono_ms() + timeout_ms;
        if (c->txn_fatal) {
                snprintf(errstr, errstr_size,
                         "the transactional producer failed (fenced?): "
                         "nothing committed");
                return -1;
        }
        for (;;) {
                int64_t left = end - time_mono_ms();
                int step = left < TXN_ATTEMPT_MS ? (int)left : TXN_ATTEMPT_MS;
                int rc =
                    commit_once(c, step > 0 ? step : 1, errstr, errstr_size);
                if (finish(c, rc, rewind, errstr) == 0) {
                        if (rc == PRODUCER_TXN_ABORT)
                                snprintf(errstr, errstr_size,
                                         "the transaction was aborted (its "
                                         "jobs are redelivered)");
                        /* The group moved on before the commit: as after a
                         * revocation, the partitions' new owners redo those
                         * jobs from the committed offsets; nothing of ours
                         * is left unsettled. */
                        if (rc == PRODUCER_TXN_MOVED)
                                LOG_INFO(FAC, "transaction aborted, the group "
                                              "moved on: its jobs are redone "
                                              "by the partitions' owners");
                        return rc == PRODUCER_TXN_OK || rc == PRODUCER_TXN_MOVED
                                   ? 0
                                   : -1;
                }
                if (time_mono_ms() >= end) {
                        snprintf(errstr, errstr_size,
                                 "cannot commit the transaction in time "
                                 "(its jobs are redelivered)");
                        return -1;
                }
        }
}
