/* consumer/consumer.c — the consumer thread: poll the jobs topic, DLQ bad
 * jobs, dispatch good ones, store offsets as completions arrive, pause and
 * resume for back-pressure, and follow cooperative rebalances. */
#include "consumer/consumer.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "consumer/lag.h"
#include "consumer/consumer_int.h"
#include "consumer/offsets.h"

/* ---- completions (any thread) ---- */

void consumer_job_done(consumer_t *c, int32_t part, int64_t off) {
        bool wake;
        pthread_mutex_lock(&c->lock);
        if (c->qlen == c->qcap) {
                size_t cap      = c->qcap ? c->qcap * 2 : 256;
                completion_t *q = realloc(c->queue, cap * sizeof(*q));
                if (!q) {
                        pthread_mutex_unlock(&c->lock);
                        LOG_ERROR("consumer",
                                  "out of memory queuing a completion "
                                  "partition=%" PRId32 " offset=%" PRId64,
                                  part, off);
                        return;
                }
                c->queue = q;
                c->qcap  = cap;
        }
        c->queue[c->qlen++] = (completion_t){part, off};
        wake                = c->qlen == 1;
        pthread_mutex_unlock(&c->lock);
        if (wake && c->rkq)
                rd_kafka_queue_yield(c->rkq);
}

void consumer_ack(void *ctx, int32_t part, int64_t off,
                  rd_kafka_resp_err_t err) {
        const consumer_t *c = ctx;
        if (err && c->eos &&
            (err == RD_KAFKA_RESP_ERR__PURGE_QUEUE ||
             err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT)) {
                /* an aborted transaction's message: its job is redone */
                LOG_DEBUG("consumer",
                          "result purged with its aborted transaction "
                          "partition=%" PRId32 " offset=%" PRId64,
                          part, off);
                return;
        }
        if (err) {
                LOG_ERROR("consumer",
                          "result not acknowledged, offset stays in flight "
                          "partition=%" PRId32 " offset=%" PRId64 " err=%s",
                          part, off, rd_kafka_err2name(err));
                return;
        }
        consumer_job_done(ctx, part, off);
}

void consumer_stats_get(consumer_t *c, consumer_stats_t *out) {
        pthread_mutex_lock(&c->lock);
        *out = c->stats;
        pthread_mutex_unlock(&c->lock);
}

void consumer_stats_add(consumer_t *c, uint64_t *field, uint64_t n) {
        pthread_mutex_lock(&c->lock);
        *field += n;
        c->stats.inflight = offsets_inflight_total(c->offsets);
        c->stats.paused   = c->paused;
        pthread_mutex_unlock(&c->lock);
}

/* ---- offsets (consumer thread) ---- */

static void count_pos(int32_t part, int64_t pos, void *ctx) {
        (void)part;
        (void)pos;
        (*(uint64_t *)ctx)++;
}

/* Applies queued completions; the next commit carries them (positions
 * that advanced and done runs above them). */
void consumer_offsets_apply(consumer_t *c) {
        completion_t *q;
        size_t n;
        uint64_t advanced = 0;
        pthread_mutex_lock(&c->lock);
        q        = c->queue;
        n        = c->qlen;
        c->queue = NULL;
        c->qlen = c->qcap = 0;
        pthread_mutex_unlock(&c->lock);
        if (n == 0) { /* positions only advance on completions */
                free(q);
                return;
        }
        for (size_t i = 0; i < n; i++)
                (void)offsets_done(c->offsets, q[i].part, q[i].off);
        free(q);
        offsets_foreach_advanced(c->offsets, count_pos, &advanced);
        if (c->eos)
                c->txn_dirty = c->txn_dirty || advanced > 0;
        else
                c->commit_dirty = true;
        consumer_stats_add(c, &c->stats.stores, advanced);
}

/* ---- back-pressure (consumer thread) ---- */

static void flow_control(consumer_t *c) {
        size_t inflight = offsets_inflight_total(c->offsets);
        bool pause      = !c->paused && inflight >= c->max_watches;
        bool resume     = c->paused && inflight <= c->resume_watches;
        rd_kafka_topic_partition_list_t *parts = NULL;
        if (!pause && !resume)
                return;
        if (rd_kafka_assignment(c->rk, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR)
                return;
        if (pause)
                rd_kafka_pause_partitions(c->rk, parts);
        else
                rd_kafka_resume_partitions(c->rk, parts);
        c->paused = pause;
        LOG_INFO("consumer", "%s intake inflight=%zu max_watches=%zu",
                 pause ? "pausing" : "resuming", inflight, c->max_watches);
        consumer_stats_add(c, pause ? &c->stats.pauses : &c->stats.resumes, 1);
        rd_kafka_topic_partition_list_destroy(parts);
}

/* ---- messages (consumer thread) ---- */

static void dlq_write(consumer_t *c, const rd_kafka_message_t *rkm,
                      const char *reason) {
        char spart[16], soff[24], why[1024], err[256];
        const char *topic      = rd_kafka_topic_name(rkm->rkt);
        producer_ack_t ack     = {consumer_ack, c, rkm->partition, rkm->offset};
        producer_header_t h[4] = {
            {"bitmon-error", why, 0},
            {"bitmon-source-topic", topic, strlen(topic)},
            {"bitmon-source-partition", spart, 0},
            {"bitmon-source-offset", soff, 0},
        };
        snprintf(why, sizeof(why), "%s", reason);
        snprintf(spart, sizeof(spart), "%" PRId32, rkm->partition);
        snprintf(soff, sizeof(soff), "%" PRId64, rkm->offset);
        h[0].len = strlen(why), h[2].len = strlen(spart),
        h[3].len = strlen(soff);
        int rc   = producer_send(c->producer, c->topic_dlq, rkm->key,
                                 rkm->key_len, rkm->payload, rkm->len, h, 4, &ack,
                                 1, err, sizeof(err));
        if (rc == PRODUCER_ERR_PERMANENT) {
                /* Most likely too large for the DLQ: keep the record of it,
                 * without the payload. */
                snprintf(why, sizeof(why), "%s; payload dropped: %s", reason,
                         err);
                h[0].len = strlen(why);
                rc       = producer_send(c->producer, c->topic_dlq, rkm->key,
                                         rkm->key_len, NULL, 0, h, 4, &ack, 1, err,
                                         sizeof(err));
        }
        if (rc < 0) {
                LOG_ERROR("consumer",
                          "cannot write bad job to the DLQ, releasing it "
                          "partition=%" PRId32 " offset=%" PRId64 " err=%s",
                          rkm->partition, rkm->offset, err);
                consumer_job_done(c, rkm->partition, rkm->offset);
        } else {
                LOG_WARN("consumer",
                         "bad job sent to the DLQ partition=%" PRId32
                         " offset=%" PRId64 " reason=\"%s\"",
                         rkm->partition, rkm->offset, reason);
        }
        consumer_stats_add(c, &c->stats.dlq, 1);
}

static void handle_job(consumer_t *c, const rd_kafka_message_t *rkm) {
        char reason[256];
        job_t *job = NULL;
        int rc     = job_parse(rkm->payload, rkm->len, rkm->key, rkm->key_len,
                               &c->limits, &job, reason, sizeof(reason));
        if (rc == JOB_ERR_INVALID) {
                dlq_write(c, rkm, reason);
                return;
        }
        if (rc < 0) { /* out of memory: leave it in flight, never lose it */
                LOG_ERROR("consumer", "cannot parse job offset=%" PRId64 ": %s",
                          rkm->offset, reason);
                return;
        }
        if (job->key_mismatch)
                LOG_WARN("consumer",
                         "job key is not app/build, using the payload's "
                         "job_id=%s partition=%" PRId32 " offset=%" PRId64,
                         job->job_id, rkm->partition, rkm->offset);
        consumer_stats_add(c, &c->stats.jobs, 1);
        if (c->dispatch.on_job(job, rkm->partition, rkm->offset,
                               c->dispatch.ctx) != 0)
                LOG_WARN("consumer",
                         "dispatcher refused job, offset stays in flight "
                         "partition=%" PRId32 " offset=%" PRId64,
                         rkm->partition, rkm->offset);
}

static void handle_message(consumer_t *c, const rd_kafka_message_t *rkm) {
        if (rkm->err) {
                if (rkm->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                        LOG_WARN("consumer", "consume error: %s err=%s",
                                 rd_kafka_message_errstr(rkm),
                                 rd_kafka_err2name(rkm->err));
                return;
        }
        int rc = offsets_track(c->offsets, rkm->partition, rkm->offset);
        if (rc == -1) {
                LOG_WARN("consumer",
                         "skipping message at or below a tracked offset "
                         "partition=%" PRId32 " offset=%" PRId64,
                         rkm->partition, rkm->offset);
                return;
        }
        if (rc < 0) {
                /* Untracked, it could be committed over: fetch it again. */
                LOG_ERROR("consumer",
                          "out of memory tracking offset, refetching "
                          "partition=%" PRId32 " offset=%" PRId64,
                          rkm->partition, rkm->offset);
                rd_kafka_seek(rkm->rkt, rkm->partition, rkm->offset, 0);
                return;
        }
        if (commits_consumed(c, rkm->partition, rkm->offset)) {
                LOG_DEBUG("consumer",
                          "job done by a commit, skipped "
                          "partition=%" PRId32 " offset=%" PRId64,
                          rkm->partition, rkm->offset);
                consumer_stats_add(c, &c->stats.skipped_committed, 1);
                consumer_job_done(c, rkm->partition, rkm->offset);
                return;
        }
        handle_job(c, rkm);
}

static void *consumer_main(void *arg) {
        consumer_t *c      = arg;
        struct timespec ts = {0, 100 * 1000 * 1000};
        while (!atomic_load(&c->stop)) {
                if (c->txn_fatal) { /* fenced: the main thread stops us */
                        nanosleep(&ts, NULL);
                        continue;
                }
                /* while a commit is retried nothing is consumed: the gate
                 * is closed, a DLQ copy could not join a transaction */
                rd_kafka_message_t *rkm =
                    c->txn_committing
                        ? NULL
                        : rd_kafka_consumer_poll(c->rk, c->poll_ms);
                if (rkm) {
                        handle_message(c, rkm);
                        rd_kafka_message_destroy(rkm);
                }
                consumer_offsets_apply(c);
                flow_control(c);
                if (c->eos)
                        txn_tick(c);
                else
                        commits_tick(c);
        }
        return NULL;
}

/* ---- rebalance (consumer thread, or consumer_close) ---- */

static void partitions_revoked(consumer_t *c,
                               rd_kafka_topic_partition_list_t *parts,
                               bool lost) {
        int32_t ids[256];
        size_t n = 0;
        if (c->eos) {
                /* their finished work commits with the transaction before
                 * they go; lost ones cannot commit: abort and redo */
                char err[256];
                if (lost && !c->txn_fatal)
                        txn_abort_rewind(c, "partitions lost");
                else if (!c->closing && !c->txn_fatal &&
                         txn_commit_now(c, CONSUMER_REVOKE_COMMIT_MS, true, err,
                                        sizeof(err)) < 0)
                        LOG_WARN("consumer", "commit on revoke failed: %s",
                                 err);
        } else if (!lost) {
                /* Finished work of these partitions is committed before
                 * they go; in-flight work is not. */
                consumer_offsets_apply(c);
                rd_kafka_resp_err_t err = commits_now(c);
                if (err)
                        LOG_WARN("consumer", "commit on revoke failed: %s",
                                 rd_kafka_err2str(err));
        }
        for (int i = 0; i < parts->cnt; i++) {
                const rd_kafka_topic_partition_t *tp = &parts->elems[i];
                if (strcmp(tp->topic, c->topic_jobs) != 0)
                        continue;
                LOG_INFO("consumer",
                         "partition %s, dropping its watches partition=%" PRId32
                         " inflight=%zu",
                         lost ? "lost" : "revoked", tp->partition,
                         offsets_inflight(c->offsets, tp->partition));
                offsets_drop(c->offsets, tp->partition);
                commits_forget(c, tp->partition);
                ids[n++] = tp->partition;
                if (n == sizeof(ids) / sizeof(ids[0]) || i == parts->cnt - 1) {
                        if (c->dispatch.on_revoke)
                                c->dispatch.on_revoke(ids, n, c->dispatch.ctx);
                        n = 0;
                }
        }
        if (n && c->dispatch.on_revoke)
                c->dispatch.on_revoke(ids, n, c->dispatch.ctx);
        consumer_stats_add(c, &c->stats.revokes, (uint64_t)parts->cnt);
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
        consumer_t *c = opaque;
        bool coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
        rd_kafka_error_t *error  = NULL;
        rd_kafka_resp_err_t aerr = RD_KAFKA_RESP_ERR_NO_ERROR;

        if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
                LOG_INFO("consumer", "partitions assigned count=%d",
                         parts->cnt);
                commits_assigned(c, parts);
                if (coop)
                        error = rd_kafka_incremental_assign(rk, parts);
                else
                        aerr = rd_kafka_assign(rk, parts);
                if (c->paused) /* new partitions join the pause */
                        rd_kafka_pause_partitions(rk, parts);
        } else {
                partitions_revoked(
                    c, parts,
                    err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS ||
                        rd_kafka_assignment_lost(rk));
                if (coop)
                        error = rd_kafka_incremental_unassign(rk, parts);
                else
                        aerr = rd_kafka_assign(rk, NULL);
        }
        if (error) {
                LOG_ERROR("consumer", "rebalance failed: %s",
                          rd_kafka_error_string(error));
                rd_kafka_error_destroy(error);
        } else if (aerr) {
                LOG_ERROR("consumer", "rebalance failed: %s",
                          rd_kafka_err2str(aerr));
        }
}

/* librdkafka's statistics, on the consumer thread: keep the lag. */
static int stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque) {
        consumer_t *c = opaque;
        (void)rk;
        int64_t lag = consumer_lag_parse(json, len, c->topic_jobs);
        if (lag >= 0) {
                pthread_mutex_lock(&c->lock);
                c->stats.lag = lag;
                pthread_mutex_unlock(&c->lock);
        }
        return 0; /* librdkafka frees json */
}

static void commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *offsets, void *opaque) {
        (void)rk;
        (void)offsets;
        commits_result(opaque, err);
}

/* ---- lifecycle (controlling thread) ---- */

static const char *const consumer_defaults_kv[] = {
    "partition.assignment.strategy",
    "cooperative-sticky",
    "auto.offset.reset",
    "earliest",
    "auto.commit.interval.ms", /* our own commits' interval (commits.c) */
    "1000",
    "client.id",
    "bitmon",
    "statistics.interval.ms",
    CONSUMER_LAG_INTERVAL_MS,
};

static int consumer_setup(consumer_t *c, const consumer_opts_t *opts,
                          char *errstr, size_t errstr_size) {
        kconf_pairs_t defaults = {consumer_defaults_kv, 5};
        rd_kafka_conf_t *conf  = kconf_new(opts->bootstrap, &defaults,
                                           &opts->kafka, errstr, errstr_size);
        rd_kafka_topic_partition_list_t *sub = NULL;
        rd_kafka_resp_err_t err;
        char interval[32];
        size_t isize = sizeof(interval);
        /* Forced: offsets are ours to commit (with their metadata,
         * commits.c; exactly-once only inside transactions, reading only
         * committed jobs, hints and DLQ copies), the group is the
         * config's. */
        if (!conf ||
            kconf_set(conf, "group.id", opts->group, errstr, errstr_size) < 0 ||
            kconf_set(conf, "enable.auto.offset.store", "false", errstr,
                      errstr_size) < 0 ||
            kconf_set(conf, "enable.auto.commit", "false", errstr,
                      errstr_size) < 0 ||
            (opts->exactly_once &&
             kconf_set(conf, "isolation.level", "read_committed", errstr,
                       errstr_size) < 0)) {
                if (conf)
                        rd_kafka_conf_destroy(conf);
                return -1;
        }
        c->commit_interval_ms = 1000;
        if (rd_kafka_conf_get(conf, "auto.commit.interval.ms", interval,
                              &isize) == RD_KAFKA_CONF_OK)
                c->commit_interval_ms = strtoll(interval, NULL, 10);
        rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
        rd_kafka_conf_set_offset_commit_cb(conf, commit_cb);
        rd_kafka_conf_set_stats_cb(conf, stats_cb);
        rd_kafka_conf_set_opaque(conf, c);
        c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errstr_size);
        if (!c->rk) {
                rd_kafka_conf_destroy(conf);
                return -1;
        }
        rd_kafka_poll_set_consumer(c->rk);
        c->rkq = rd_kafka_queue_get_consumer(c->rk);
        sub    = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(sub, opts->topic_jobs,
                                          RD_KAFKA_PARTITION_UA);
        err = rd_kafka_subscribe(c->rk, sub);
        rd_kafka_topic_partition_list_destroy(sub);
        if (err) {
                snprintf(errstr, errstr_size, "cannot subscribe to %s: %s",
                         opts->topic_jobs, rd_kafka_err2str(err));
                return -1;
        }
        return 0;
}

consumer_t *consumer_new(const consumer_opts_t *opts,
                         const consumer_dispatch_t *dispatch,
                         producer_t *producer, char *errstr,
                         size_t errstr_size) {
        consumer_t *c;
        if (!opts->group || !opts->topic_jobs || !opts->topic_dlq ||
            !dispatch->on_job || !producer) {
                snprintf(errstr, errstr_size,
                         "consumer needs a group, jobs and dlq topics, a "
                         "dispatcher and a producer");
                return NULL;
        }
        c = calloc(1, sizeof(*c));
        if (!c) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        pthread_mutex_init(&c->lock, NULL);
        c->producer       = producer;
        c->dispatch       = *dispatch;
        c->limits         = opts->limits;
        c->poll_ms        = opts->poll_ms > 0 ? opts->poll_ms : 100;
        c->max_watches    = opts->max_watches ? opts->max_watches : 1000;
        c->resume_watches = opts->resume_watches ? opts->resume_watches
                                                 : c->max_watches * 3 / 4;
        if (c->resume_watches >= c->max_watches)
                c->resume_watches = c->max_watches - 1;
        c->eos     = opts->exactly_once && producer_transactional(producer);
        c->txn_ms  = opts->txn_ms > 0 ? opts->txn_ms : 100;
        c->txn_max = opts->txn_max_messages ? opts->txn_max_messages : 10000;
        c->txn_started = time_mono_ms();
        if (opts->exactly_once && !c->eos) {
                snprintf(errstr, errstr_size,
                         "exactly-once needs a transactional producer");
                c->closed = true;
                consumer_destroy(c);
                return NULL;
        }
        if (c->eos && c->poll_ms > c->txn_ms)
                c->poll_ms = c->txn_ms;
        c->topic_jobs = strdup(opts->topic_jobs);
        c->topic_dlq  = strdup(opts->topic_dlq);
        c->offsets    = offsets_new();
        if (!c->topic_jobs || !c->topic_dlq || !c->offsets) {
                snprintf(errstr, errstr_size, "out of memory");
                goto fail;
        }
        if (consumer_setup(c, opts, errstr, errstr_size) < 0)
                goto fail;
        return c;
fail:
        c->closed = true; /* nothing joined, nothing to commit */
        consumer_destroy(c);
        return NULL;
}

int consumer_start(consumer_t *c, char *errstr, size_t errstr_size) {
        if (pthread_create(&c->thread, NULL, consumer_main, c) != 0) {
                snprintf(errstr, errstr_size, "cannot start consumer thread");
                return -1;
        }
        c->thread_started = true;
        return 0;
}

void consumer_stop(consumer_t *c) {
        if (!c->thread_started)
                return;
        atomic_store(&c->stop, 1);
        if (c->rkq)
                rd_kafka_queue_yield(c->rkq);
        pthread_join(c->thread, NULL);
        c->thread_started = false;
}

static int64_t ms_left(int64_t deadline) {
        int64_t left = deadline - time_mono_ms();
        return left > 0 ? left : 0;
}

/* One wait on a queue before the deadline: 100 ms at most. */
static int poll_ms(int64_t deadline) {
        int64_t left = ms_left(deadline);
        return (int)(left < 100 ? left : 100);
}

/* Commits the positions and done runs, waiting until the deadline at most
 * (a sync commit waits for a hung broker forever). 0, or -1 with
 * errstr. */
static int commit_until(consumer_t *c, int64_t deadline, char *errstr,
                        size_t errstr_size) {
        rd_kafka_topic_partition_list_t *l = commits_list(c);
        rd_kafka_queue_t *q                = rd_kafka_queue_new(c->rk);
        rd_kafka_event_t *ev               = NULL;
        rd_kafka_resp_err_t err =
            !q       ? RD_KAFKA_RESP_ERR__FAIL
            : l->cnt ? rd_kafka_commit_queue(c->rk, l, q, NULL, NULL)
                     : RD_KAFKA_RESP_ERR__NO_OFFSET;
        rd_kafka_topic_partition_list_destroy(l);
        while (!err && !ev && ms_left(deadline) > 0) {
                ev = rd_kafka_queue_poll(q, poll_ms(deadline));
                if (ev &&
                    rd_kafka_event_type(ev) != RD_KAFKA_EVENT_OFFSET_COMMIT) {
                        rd_kafka_event_destroy(ev);
                        ev = NULL;
                }
        }
        if (!err)
                err = ev ? rd_kafka_event_error(ev)
                         : RD_KAFKA_RESP_ERR__TIMED_OUT;
        if (ev)
                rd_kafka_event_destroy(ev);
        if (q)
                rd_kafka_queue_destroy(q);
        if (!err || err == RD_KAFKA_RESP_ERR__NO_OFFSET)
                return 0;
        if (kconf_group_moved(err)) { /* as after a revocation */
                LOG_INFO("consumer",
                         "the group moved on before the last commit: the "
                         "partitions' next owners resume from the one before "
                         "(%s)",
                         rd_kafka_err2str(err));
                return 0;
        }
        snprintf(errstr, errstr_size, "cannot commit offsets: %s",
                 rd_kafka_err2str(err));
        return -1;
}

/* Leaves the group, serving the rebalance callback meanwhile, until the
 * deadline at most. 0, or -1 with errstr (then the handle must be
 * destroyed without another close). */
static int leave_until(consumer_t *c, int64_t deadline, char *errstr,
                       size_t errstr_size) {
        rd_kafka_queue_t *q = rd_kafka_queue_new(c->rk);
        rd_kafka_error_t *error =
            q ? rd_kafka_consumer_close_queue(c->rk, q) : NULL;
        int rc = 0;
        if (!q || error) {
                snprintf(errstr, errstr_size, "cannot leave the group: %s",
                         error ? rd_kafka_error_string(error)
                               : "out of memory");
                rc = -1;
        }
        while (rc == 0 && !rd_kafka_consumer_closed(c->rk)) {
                if (ms_left(deadline) == 0) {
                        snprintf(errstr, errstr_size,
                                 "leaving the group timed out (the broker "
                                 "drops this member after "
                                 "session.timeout.ms)");
                        rc = -1;
                        break;
                }
                rd_kafka_queue_poll_callback(q, poll_ms(deadline));
        }
        if (error)
                rd_kafka_error_destroy(error);
        if (q)
                rd_kafka_queue_destroy(q);
        return rc;
}

int consumer_close(consumer_t *c, int timeout_ms, char *errstr,
                   size_t errstr_size) {
        int64_t deadline = time_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
        char why[256];
        int rc = 0;
        if (c->closed)
                return 0;
        consumer_stop(c);
        c->closed  = true;
        c->closing = true;
        consumer_offsets_apply(c);
        if (c->eos ? txn_commit_now(c, (int)ms_left(deadline), false, errstr,
                                    errstr_size) < 0
                   : commit_until(c, deadline, errstr, errstr_size) < 0)
                rc = -1;
        if (leave_until(c, deadline, why, sizeof(why)) < 0) {
                c->close_unfinished = true;
                if (rc == 0)
                        snprintf(errstr, errstr_size, "%s", why);
                else
                        LOG_WARN("consumer", "%s", why);
                rc = -1;
        }
        return rc;
}

static void consumer_free(consumer_t *c) {
        if (c->rkq)
                rd_kafka_queue_destroy(c->rkq);
        if (c->rk)
                rd_kafka_destroy_flags(
                    c->rk, c->close_unfinished
                               ? RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE
                               : 0);
        offsets_destroy(c->offsets);
        commits_release(c);
        txn_release(c);
        free(c->queue);
        free(c->topic_jobs);
        free(c->topic_dlq);
        pthread_mutex_destroy(&c->lock);
        free(c);
}

static void *consumer_free_main(void *arg) {
        consumer_free(arg);
        return NULL;
}

void consumer_destroy(consumer_t *c) {
        char err[256];
        pthread_t t;
        if (!c)
                return;
        if (c->rk && !c->closed &&
            consumer_close(c, CONSUMER_CLOSE_DEFAULT_MS, err, sizeof(err)) < 0)
                LOG_WARN("consumer", "%s", err);
        consumer_stop(c);
        if (!c->close_unfinished) {
                consumer_free(c);
                return;
        }
        /* librdkafka's destroy waits for the requests still in flight to a
         * broker that does not answer (socket.timeout.ms, then retries):
         * give it a moment on a thread of its own, then leave it to end with
         * the process. */
        if (pthread_create(&t, NULL, consumer_free_main, c) != 0) {
                LOG_WARN("consumer", "leaving the Kafka consumer to the exit");
                return;
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += CONSUMER_DESTROY_WAIT_S;
        if (pthread_timedjoin_np(t, NULL, &until) != 0) {
                LOG_WARN("consumer",
                         "the Kafka consumer did not shut down within %d s "
                         "(a broker does not answer): leaving it to the exit",
                         CONSUMER_DESTROY_WAIT_S);
                pthread_detach(t);
        }
}
