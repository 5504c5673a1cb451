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
                ack->fn(ack->ctx, ack->part, ack->off, rkm->err);
                free(ack);
        }
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason,
                     void *opaque) {
        producer_t *p = opaque;
        if (err == RD_KAFKA_RESP_ERR__FATAL) {
                char why[512];
                rd_kafka_resp_err_t orig =
                    rd_kafka_fatal_error(rk, why, sizeof(why));
                atomic_store(&p->fatal, 1);
                LOG_ERROR("producer", "fatal producer error: %s err=%s", why,
                          rd_kafka_err2name(orig));
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
 * (docs/webhooks.md "Partitioning"). kafka.partitioner overrides it. */
static const char *const defaults_kv[] = {
    "linger.ms", "5",      "message.timeout.ms", "0",
    "client.id", "bitmon", "partitioner",        "murmur2_random",
};

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
        conf = kconf_new(opts->bootstrap, &defaults, &opts->kafka, errstr,
                         errstr_size);
        if (!conf ||
            kconf_set(conf, "enable.idempotence", "true", errstr, errstr_size) <
                0 ||
            kconf_set(conf, "acks", "all", errstr, errstr_size) < 0)
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
        if (p->rk) {
                rd_kafka_poll(p->rk, 0);
                rd_kafka_destroy(p->rk);
        }
        free(p);
}

static int send_error(rd_kafka_resp_err_t err, const char *topic, char *errstr,
                      size_t errstr_size) {
        snprintf(errstr, errstr_size, "cannot produce to %s: %s", topic,
                 rd_kafka_err2str(err));
        return err == RD_KAFKA_RESP_ERR__QUEUE_FULL ? PRODUCER_ERR_TRANSIENT
                                                    : PRODUCER_ERR_PERMANENT;
}

int producer_send(producer_t *p, const char *topic, const void *key,
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
