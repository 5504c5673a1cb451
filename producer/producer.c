/* producer/producer.c — idempotent producer with a dedicated poll thread
 * that serves delivery reports (and with them, the acks that release job
 * offsets). */
#include "producer/producer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/timeutil.h"

struct producer {
        rd_kafka_t *rk;
        pthread_t thread;
        int thread_started;
        atomic_int stop;
        atomic_int fatal;
        int flush_timeout_ms;

        /* transactions (docs/results.md "Exactly once") */
        int txn;                 /* transactional */
        char *txn_id;            /* transactional.id, for log lines */
        pthread_rwlock_t gate;   /* senders read, open/close write */
        pthread_mutex_t gate_mu; /* with gate_cv: waiting for the gate */
        pthread_cond_t gate_cv;
        int gate_open;              /* under gate (write) */
        atomic_llong epoch;         /* +1 per abort */
        atomic_ullong sent;         /* messages of the open transaction */
        atomic_ullong served;       /* ... whose report was served */
        int offsets_sent;           /* this transaction's offsets are added */
        rd_kafka_topic_t *zstd_rkt; /* opts.zstd_topic, held for its conf */
};

/* Delivery report: runs on the poll thread. */
static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm,
                      void *opaque) {
        producer_ack_t *ack = rkm->_private;
        (void)rk;
        (void)opaque;
        if (rkm->err)
                LOG_WARN("producer", "message not delivered topic=%s err=%s",
                         rkm->rkt ? rd_kafka_topic_name(rkm->rkt) : "?",
                         rd_kafka_err2str(rkm->err));
        if (ack) {
                if (ack->part == PRODUCER_ACK_WHERE)
                        ack->fn(ack->ctx, rkm->partition, rkm->offset,
                                rkm->err);
                else
                        ack->fn(ack->ctx, ack->part, ack->off, rkm->err);
                free(ack);
        }
        producer_t *p = opaque;
        if (p && p->txn) /* after the ack: producer_txn_drain's barrier */
                atomic_fetch_add(&p->served, 1);
}

static int fenced_code(rd_kafka_resp_err_t err) {
        return err == RD_KAFKA_RESP_ERR__FENCED ||
               err == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
               err == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH;
}

/* The one clear line of a fenced producer (issue 11): another process
 * started with the same transactional.id (the same worker.id), or the
 * coordinator timed the transaction out and bumped the epoch (Kafka cannot
 * tell the two apart for us). */
static void log_fatal(producer_t *p, rd_kafka_resp_err_t code,
                      const char *why) {
        if (fenced_code(code))
                LOG_ERROR("producer",
                          "fenced: a newer producer took this transactional.id "
                          "over (another process started with the same "
                          "worker.id), or the broker aborted a transaction "
                          "that outlived producer.txn_timeout_ms (Kafka "
                          "unreachable that long): this process stops; its "
                          "open transaction is aborted and its jobs are redone "
                          "by the next owner (or this process, restarted) "
                          "transactional_id=%s err=%s reason=\"%s\"",
                          p->txn_id ? p->txn_id : "-", rd_kafka_err2name(code),
                          why);
        else if (code == RD_KAFKA_RESP_ERR_INVALID_TXN_STATE)
                LOG_ERROR("producer",
                          "transaction lost: the broker no longer knows this "
                          "producer's transaction (it outlived "
                          "producer.txn_timeout_ms: Kafka unreachable that "
                          "long): this process stops; the transaction is "
                          "aborted and its jobs are redone by the next owner "
                          "(or this process, restarted) "
                          "transactional_id=%s err=%s reason=\"%s\"",
                          p->txn_id ? p->txn_id : "-", rd_kafka_err2name(code),
                          why);
        else
                LOG_ERROR("producer", "fatal producer error: %s err=%s", why,
                          rd_kafka_err2name(code));
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason,
                     void *opaque) {
        producer_t *p = opaque;
        if (err == RD_KAFKA_RESP_ERR__FATAL) {
                char why[512];
                rd_kafka_resp_err_t orig =
                    rd_kafka_fatal_error(rk, why, sizeof(why));
                if (atomic_exchange(&p->fatal, 1) == 0)
                        log_fatal(p, orig, why);
                return;
        }
        LOG_WARN("producer", "kafka error: %s err=%s", reason,
                 rd_kafka_err2name((rd_kafka_resp_err_t)err));
}

static void *poll_main(void *arg) {
        producer_t *p = arg;
        while (!atomic_load(&p->stop))
                rd_kafka_poll(p->rk, 100);
        return NULL;
}

/* partitioner: murmur2 for keyed messages, as the Java client (and Kafka
 * Streams, kcat -X partitioner=murmur2_random...) does. librdkafka's own
 * default (consistent_random, crc32) would put a webhook hint on another
 * partition than the jobs of its build that a Java service produced
 * (docs/webhooks.md "Partitioning"). kafka.partitioner overrides it.
 * linger.ms 20: with 5, a broker slower than 5 requests x 5 ms kept the
 * idempotent producer at its 5 requests in flight, and librdkafka 2.0's
 * broker thread then polls with timeout 0 until an answer comes (31,000
 * polls/s, 30 per job at 1,500 results/s: docs/benchmarks.md "Issue 12"). */
static const char *const defaults_kv[] = {
    "linger.ms", "20",     "message.timeout.ms", "0",
    "client.id", "bitmon", "partitioner",        "murmur2_random",
};

static int txn_timeout(const producer_opts_t *opts) {
        return opts->txn_timeout_ms > 0 ? opts->txn_timeout_ms : 60000;
}

/* A transactional producer: transactional.id and its timeouts (a message
 * may not outlive its transaction: message.timeout.ms = the transaction's
 * timeout instead of "forever"). */
static int txn_conf(producer_t *p, const producer_opts_t *opts,
                    rd_kafka_conf_t *conf, char *errstr, size_t errstr_size) {
        char ms[24];
        if (!opts->transactional_id || !*opts->transactional_id)
                return 0;
        p->txn    = 1;
        p->txn_id = strdup(opts->transactional_id);
        if (!p->txn_id) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
        }
        snprintf(ms, sizeof(ms), "%d", txn_timeout(opts));
        if (kconf_set(conf, "transactional.id", opts->transactional_id, errstr,
                      errstr_size) < 0 ||
            kconf_set(conf, "transaction.timeout.ms", ms, errstr, errstr_size) <
                0)
                return -1;
        /* an operator's kafka.message.timeout.ms below it stays: a message
         * that times out makes its transaction abort (its jobs are redone)
         * instead of waiting for the whole transaction timeout */
        for (size_t i = 0; i < opts->kafka.n; i++)
                if (strcmp(opts->kafka.kv[2 * i], "message.timeout.ms") == 0) {
                        char *end = NULL;
                        long v    = strtol(opts->kafka.kv[2 * i + 1], &end, 10);
                        if (end && !*end && v > 0 && v <= txn_timeout(opts))
                                return 0;
                }
        return kconf_set(conf, "message.timeout.ms", ms, errstr, errstr_size);
}

/* Registers the transactional.id with the coordinator (fencing an older
 * producer with the same id and aborting its open transaction) and begins
 * the first transaction. */
static int txn_init(producer_t *p, const producer_opts_t *opts, char *errstr,
                    size_t errstr_size) {
        rd_kafka_error_t *error =
            rd_kafka_init_transactions(p->rk, txn_timeout(opts));
        if (error) {
                snprintf(errstr, errstr_size,
                         "cannot initialise transactions "
                         "transactional.id=%s: %s",
                         p->txn_id, rd_kafka_error_string(error));
                rd_kafka_error_destroy(error);
                return -1;
        }
        LOG_INFO("producer",
                 "transactional producer ready (an older one with this id is "
                 "fenced) transactional_id=%s",
                 p->txn_id);
        return producer_txn_begin(p, errstr, errstr_size) == 0 ? 0 : -1;
}

/* The logs topic's messages are compressed with zstd by this producer, not
 * re-compressed by the broker: a topic handle made with that configuration
 * and held for the producer's life is the one every send by name finds. */
static int zstd_topic(producer_t *p, const char *topic, char *errstr,
                      size_t errstr_size) {
        if (!topic || !*topic)
                return 0;
        rd_kafka_topic_conf_t *tc = rd_kafka_topic_conf_new();
        if (!tc ||
            rd_kafka_topic_conf_set(tc, "compression.codec", "zstd", errstr,
                                    errstr_size) != RD_KAFKA_CONF_OK) {
                if (tc)
                        rd_kafka_topic_conf_destroy(tc);
                return -1;
        }
        if (!(p->zstd_rkt = rd_kafka_topic_new(p->rk, topic, tc))) {
                snprintf(errstr, errstr_size, "cannot set up topic %s: %s",
                         topic, rd_kafka_err2str(rd_kafka_last_error()));
                return -1;
        }
        return 0;
}

producer_t *producer_new(const producer_opts_t *opts, char *errstr,
                         size_t errstr_size) {
        kconf_pairs_t defaults = {defaults_kv, 4};
        rd_kafka_conf_t *conf  = NULL;
        producer_t *p          = calloc(1, sizeof(*p));
        if (!p) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        p->flush_timeout_ms =
            opts->flush_timeout_ms > 0 ? opts->flush_timeout_ms : 10000;
        pthread_rwlock_init(&p->gate, NULL);
        pthread_mutex_init(&p->gate_mu, NULL);
        pthread_cond_init(&p->gate_cv, NULL);
        conf = kconf_new(opts->bootstrap, &defaults, &opts->kafka, errstr,
                         errstr_size);
        if (!conf ||
            kconf_set(conf, "enable.idempotence", "true", errstr, errstr_size) <
                0 ||
            kconf_set(conf, "acks", "all", errstr, errstr_size) < 0 ||
            txn_conf(p, opts, conf, errstr, errstr_size) < 0)
                goto fail;
        rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
        rd_kafka_conf_set_error_cb(conf, error_cb);
        rd_kafka_conf_set_opaque(conf, p);
        p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
        if (!p->rk)
                goto fail;
        conf = NULL; /* owned by rk */
        if (pthread_create(&p->thread, NULL, poll_main, p) != 0) {
                snprintf(errstr, errstr_size, "cannot start producer thread");
                goto fail;
        }
        p->thread_started = 1;
        if (zstd_topic(p, opts->zstd_topic, errstr, errstr_size) < 0)
                goto fail;
        if (p->txn && txn_init(p, opts, errstr, errstr_size) < 0)
                goto fail;
        return p;
fail:
        if (conf)
                rd_kafka_conf_destroy(conf);
        producer_destroy(p);
        return NULL;
}

int producer_outstanding(producer_t *p) {
        return rd_kafka_outq_len(p->rk);
}

int producer_fatal(producer_t *p) {
        return atomic_load(&p->fatal);
}

rd_kafka_t *producer_rk(producer_t *p) {
        return p->rk;
}

int producer_flush(producer_t *p, int timeout_ms) {
        /* The poll thread serves the delivery reports; we only wait, so
         * acks always run on that one thread. */
        int64_t end        = time_mono_ms() + timeout_ms;
        struct timespec ts = {0, 5 * 1000 * 1000};
        int n;
        while ((n = rd_kafka_outq_len(p->rk)) > 0 && time_mono_ms() < end) {
                if (!p->thread_started)
                        rd_kafka_poll(p->rk, 5);
                else
                        nanosleep(&ts, NULL);
        }
        return n;
}

void producer_purge(producer_t *p) {
        int left = rd_kafka_outq_len(p->rk);
        if (left <= 0)
                return;
        LOG_WARN("producer", "giving up on unacknowledged messages count=%d",
                 left);
        rd_kafka_purge(p->rk,
                       RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        producer_flush(p, 1000); /* serve the purge reports */
}

void producer_destroy(producer_t *p) {
        if (!p)
                return;
        if (p->rk && p->thread_started &&
            producer_flush(p, p->flush_timeout_ms) > 0)
                producer_purge(p);
        if (p->thread_started) {
                atomic_store(&p->stop, 1);
                pthread_join(p->thread, NULL);
        }
        if (p->zstd_rkt)
                rd_kafka_topic_destroy(p->zstd_rkt);
        if (p->rk) {
                rd_kafka_poll(p->rk, 0);
                rd_kafka_destroy(p->rk);
        }
        pthread_rwlock_destroy(&p->gate);
        pthread_mutex_destroy(&p->gate_mu);
        pthread_cond_destroy(&p->gate_cv);
        free(p->txn_id);
        free(p);
}

static int send_error(rd_kafka_resp_err_t err, const char *topic, char *errstr,
                      size_t errstr_size) {
        snprintf(errstr, errstr_size, "cannot produce to %s: %s", topic,
                 rd_kafka_err2str(err));
        return err == RD_KAFKA_RESP_ERR__QUEUE_FULL ? PRODUCER_ERR_TRANSIENT
                                                    : PRODUCER_ERR_PERMANENT;
}

static int produce(producer_t *p, const char *topic, const void *key,
                   size_t key_len, const void *value, size_t value_len,
                   const producer_header_t *hdrs, size_t n_hdrs,
                   const producer_ack_t *ack, int block, char *errstr,
                   size_t errstr_size) {
        rd_kafka_headers_t *h = NULL;
        producer_ack_t *a     = NULL;
        rd_kafka_resp_err_t err;

        if (ack) {
                a = malloc(sizeof(*a));
                if (!a)
                        return send_error(RD_KAFKA_RESP_ERR__QUEUE_FULL, topic,
                                          errstr, errstr_size);
                *a = *ack;
        }
        if (n_hdrs) {
                h = rd_kafka_headers_new(n_hdrs);
                for (size_t i = 0; i < n_hdrs; i++)
                        rd_kafka_header_add(h, hdrs[i].name, -1, hdrs[i].value,
                                            (ssize_t)hdrs[i].len);
        }
        err = rd_kafka_producev(
            p->rk, RD_KAFKA_V_TOPIC(topic),
            RD_KAFKA_V_KEY((void *)(uintptr_t)key, key_len),
            RD_KAFKA_V_VALUE((void *)(uintptr_t)value, value_len),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY |
                                (block ? RD_KAFKA_MSG_F_BLOCK : 0)),
            RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(a), RD_KAFKA_V_END);
        if (err) {
                if (h)
                        rd_kafka_headers_destroy(h); /* not taken on failure */
                free(a);
                return send_error(err, topic, errstr, errstr_size);
        }
        return 0;
}

int producer_send(producer_t *p, const char *topic, const void *key,
                  size_t key_len, const void *value, size_t value_len,
                  const producer_header_t *hdrs, size_t n_hdrs,
                  const producer_ack_t *ack, int block, char *errstr,
                  size_t errstr_size) {
        return producer_send_for(p, PRODUCER_EPOCH_ANY, topic, key, key_len,
                                 value, value_len, hdrs, n_hdrs, ack, block,
                                 errstr, errstr_size);
}

/* Messages without an epoch wait a little for a closed gate (a commit
 * takes milliseconds); the gate's read lock is taken on return 1. */
static int gate_enter(producer_t *p, int64_t epoch) {
        int64_t end = time_mono_ms() + PRODUCER_GATE_WAIT_MS;
        for (;;) {
                pthread_rwlock_rdlock(&p->gate);
                if (p->gate_open)
                        return 1;
                pthread_rwlock_unlock(&p->gate);
                if (epoch != PRODUCER_EPOCH_ANY || atomic_load(&p->fatal) ||
                    time_mono_ms() >= end)
                        return 0;
                struct timespec until;
                clock_gettime(CLOCK_REALTIME, &until);
                until.tv_nsec += 20 * 1000 * 1000;
                if (until.tv_nsec >= 1000000000L) {
                        until.tv_sec++;
                        until.tv_nsec -= 1000000000L;
                }
                pthread_mutex_lock(&p->gate_mu);
                pthread_cond_timedwait(&p->gate_cv, &p->gate_mu, &until);
                pthread_mutex_unlock(&p->gate_mu);
        }
}

int producer_send_for(producer_t *p, int64_t epoch, const char *topic,
                      const void *key, size_t key_len, const void *value,
                      size_t value_len, const producer_header_t *hdrs,
                      size_t n_hdrs, const producer_ack_t *ack, int block,
                      char *errstr, size_t errstr_size) {
        if (!p->txn)
                return produce(p, topic, key, key_len, value, value_len, hdrs,
                               n_hdrs, ack, block, errstr, errstr_size);
        if (!gate_enter(p, epoch)) {
                snprintf(errstr, errstr_size, "cannot produce to %s: %s", topic,
                         atomic_load(&p->fatal)
                             ? "the transactional producer failed fatally"
                             : "a transaction is being committed");
                return atomic_load(&p->fatal) ? PRODUCER_ERR_PERMANENT
                                              : PRODUCER_ERR_WAIT;
        }
        int rc;
        if (epoch != PRODUCER_EPOCH_ANY && epoch != atomic_load(&p->epoch)) {
                snprintf(errstr, errstr_size,
                         "not produced to %s: its job was consumed before "
                         "an aborted transaction (it is redone)",
                         topic);
                rc = PRODUCER_ERR_STALE;
        } else {
                rc = produce(p, topic, key, key_len, value, value_len, hdrs,
                             n_hdrs, ack, block, errstr, errstr_size);
                if (rc == 0)
                        atomic_fetch_add(&p->sent, 1);
        }
        pthread_rwlock_unlock(&p->gate);
        return rc;
}

/* ---- transactions (one controlling thread) ---- */

int producer_transactional(const producer_t *p) {
        return p->txn;
}

int64_t producer_txn_epoch(producer_t *p) {
        return p->txn ? atomic_load(&p->epoch) : PRODUCER_EPOCH_ANY;
}

uint64_t producer_txn_messages(producer_t *p) {
        return atomic_load(&p->sent);
}

static void gate_set(producer_t *p, int open) {
        pthread_rwlock_wrlock(&p->gate);
        p->gate_open = open;
        pthread_rwlock_unlock(&p->gate);
        if (open) {
                pthread_mutex_lock(&p->gate_mu);
                pthread_cond_broadcast(&p->gate_cv);
                pthread_mutex_unlock(&p->gate_mu);
        }
}

void producer_txn_close(producer_t *p) {
        if (p->txn)
                gate_set(p, 0);
}

int producer_txn_drain(producer_t *p, int timeout_ms) {
        int64_t end        = time_mono_ms() + timeout_ms;
        struct timespec ts = {0, 1000 * 1000};
        while (atomic_load(&p->served) < atomic_load(&p->sent)) {
                if (time_mono_ms() >= end)
                        return PRODUCER_TXN_RETRY;
                nanosleep(&ts, NULL);
        }
        return PRODUCER_TXN_OK;
}

/* Classifies a transaction call's error (and destroys it). */
static int txn_error(producer_t *p, rd_kafka_error_t *error, const char *what,
                     char *errstr, size_t errstr_size) {
        int rc;
        if (!error)
                return PRODUCER_TXN_OK;
        snprintf(errstr, errstr_size, "cannot %s: %s", what,
                 rd_kafka_error_string(error));
        if (rd_kafka_error_is_fatal(error)) {
                if (atomic_exchange(&p->fatal, 1) == 0)
                        log_fatal(p, rd_kafka_error_code(error),
                                  rd_kafka_error_string(error));
                rc = PRODUCER_TXN_FATAL;
        } else if (rd_kafka_error_txn_requires_abort(error)) {
                rd_kafka_resp_err_t code = rd_kafka_error_code(error);
                rc = kconf_group_moved(code) ? PRODUCER_TXN_MOVED
                                             : PRODUCER_TXN_ABORT;
        } else {
                rc = PRODUCER_TXN_RETRY;
        }
        rd_kafka_error_destroy(error);
        return rc;
}

int producer_txn_commit(producer_t *p,
                        const rd_kafka_topic_partition_list_t *offsets,
                        const rd_kafka_consumer_group_metadata_t *cgmd,
                        int timeout_ms, char *errstr, size_t errstr_size) {
        int rc;
        if (atomic_load(&p->fatal)) {
                snprintf(errstr, errstr_size, "the producer failed fatally");
                return PRODUCER_TXN_FATAL;
        }
        if (!p->offsets_sent && offsets && offsets->cnt > 0 && cgmd) {
                rc = txn_error(p,
                               rd_kafka_send_offsets_to_transaction(
                                   p->rk, offsets, cgmd, timeout_ms),
                               "add the offsets to the transaction", errstr,
                               errstr_size);
                if (rc != PRODUCER_TXN_OK)
                        return rc;
        }
        p->offsets_sent = 1;
        return txn_error(p, rd_kafka_commit_transaction(p->rk, timeout_ms),
                         "commit the transaction", errstr, errstr_size);
}

int producer_txn_abort(producer_t *p, int timeout_ms, char *errstr,
                       size_t errstr_size) {
        int rc = txn_error(p, rd_kafka_abort_transaction(p->rk, timeout_ms),
                           "abort the transaction", errstr, errstr_size);
        if (rc == PRODUCER_TXN_ABORT || rc == PRODUCER_TXN_MOVED)
                rc = PRODUCER_TXN_RETRY;
        if (rc != PRODUCER_TXN_OK)
                return rc;
        /* the purged messages' reports: their acks ran */
        (void)producer_txn_drain(p, timeout_ms > 0 ? timeout_ms : 1000);
        atomic_fetch_add(&p->epoch, 1);
        return PRODUCER_TXN_OK;
}

int producer_txn_begin(producer_t *p, char *errstr, size_t errstr_size) {
        int rc = txn_error(p, rd_kafka_begin_transaction(p->rk),
                           "begin a transaction", errstr, errstr_size);
        if (rc != PRODUCER_TXN_OK)
                return PRODUCER_TXN_FATAL;
        atomic_store(&p->sent, 0);
        atomic_store(&p->served, 0);
        p->offsets_sent = 0;
        gate_set(p, 1);
        return PRODUCER_TXN_OK;
}
