/* workers/pubq.c — the line of results waiting for room in the producer's
 * queue (see pubq.h): a FIFO offered to the producer on a loop timer, with
 * a doubling retry interval while the queue stays full. */
#include "workers/pubq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

#define FAC "publish"

typedef struct pubq_item {
        struct pubq_item *next;
        char *key, *value;
        size_t key_len, value_len;
        producer_ack_t ack;
        int has_ack;
        int ending;
        int64_t epoch;
} pubq_item_t;

struct pubq {
        pubq_opts_t o;
        loop_timer_t *timer;
        pubq_item_t *head, *tail;
        size_t n;
        int64_t retry_ms; /* the next wait while the queue stays full */
        int warned;       /* "queue full" said since the line was empty */
};

static void pubq_count(pubq_t *q, long delta) {
        q->n += (size_t)delta;
        if (q->o.waiting)
                atomic_fetch_add_explicit(q->o.waiting, delta,
                                          memory_order_relaxed);
}

static void item_free(pubq_item_t *it) {
        free(it->key);
        free(it->value);
        free(it);
}

/* The ack of a result that will not be sent: its offset stays unstored. */
static void item_give_up(pubq_item_t *it, rd_kafka_resp_err_t err) {
        if (it->has_ack)
                it->ack.fn(it->ack.ctx, it->ack.part, it->ack.off, err);
        item_free(it);
}

/* PRODUCER_ERR_WAIT (a transaction commits) counts as TRANSIENT here. */
static int pubq_try(pubq_t *q, int64_t epoch, const char *key, size_t key_len,
                    const char *value, size_t value_len,
                    const producer_ack_t *ack, int *gate, char *errstr,
                    size_t errstr_size) {
        int rc = producer_send_for(q->o.producer, epoch, q->o.topic, key,
                                   key_len, value, value_len, NULL, 0, ack, 0,
                                   errstr, errstr_size);
        *gate  = rc == PRODUCER_ERR_WAIT;
        if (rc == PRODUCER_ERR_WAIT)
                return PRODUCER_ERR_TRANSIENT;
        if (rc == PRODUCER_ERR_TRANSIENT)
                metrics_counter_inc(q->o.retries);
        return rc;
}

/* Sends from the head until the line is empty or the queue is full.
 * Returns 1 while results still wait. */
static int pubq_drain(pubq_t *q) {
        char err[256];
        while (q->head) {
                pubq_item_t *it = q->head;
                int gate;
                int rc = pubq_try(q, it->epoch, it->key, it->key_len, it->value,
                                  it->value_len, it->has_ack ? &it->ack : NULL,
                                  &gate, err, sizeof(err));
                if (rc == PRODUCER_ERR_TRANSIENT)
                        return 1;
                q->head = it->next;
                if (!q->head)
                        q->tail = NULL;
                pubq_count(q, -1);
                if (rc == 0) {
                        item_free(it);
                        continue;
                }
                if (rc == PRODUCER_ERR_STALE) { /* its job is redone */
                        LOG_INFO(FAC, "waiting result dropped: %s", err);
                        item_give_up(it, RD_KAFKA_RESP_ERR__PURGE_QUEUE);
                        continue;
                }
                LOG_ERROR(FAC, "cannot publish a waiting result: %s", err);
                item_give_up(it, RD_KAFKA_RESP_ERR__FAIL);
        }
        return 0;
}

static void pubq_on_timer(void *arg) {
        pubq_t *q     = arg;
        size_t before = q->n;
        if (!pubq_drain(q)) {
                if (q->warned)
                        LOG_INFO(FAC, "waiting results drained count=%zu",
                                 before);
                q->warned   = 0;
                q->retry_ms = PUBQ_RETRY_MIN_MS;
                return;
        }
        /* some went: try again soon; none: wait longer */
        q->retry_ms = q->n < before                         ? PUBQ_RETRY_MIN_MS
                      : q->retry_ms * 2 > PUBQ_RETRY_MAX_MS ? PUBQ_RETRY_MAX_MS
                                                            : q->retry_ms * 2;
        loop_timer_start(q->timer, q->retry_ms, pubq_on_timer, q);
}

pubq_t *pubq_new(const pubq_opts_t *opts) {
        pubq_t *q = calloc(1, sizeof(*q));
        if (!q)
                return NULL;
        q->o        = *opts;
        q->retry_ms = PUBQ_RETRY_MIN_MS;
        if (!(q->timer = loop_timer_new(opts->loop))) {
                free(q);
                return NULL;
        }
        return q;
}

size_t pubq_destroy(pubq_t *q) {
        size_t lost = 0;
        if (!q)
                return 0;
        loop_timer_free(q->timer);
        pubq_drain(q);
        if (q->n)
                LOG_WARN(FAC,
                         "giving up on results waiting for the producer "
                         "count=%zu (their jobs are redelivered)",
                         q->n);
        while (q->head) {
                pubq_item_t *it = q->head;
                q->head         = it->next;
                lost += it->ending != 0;
                pubq_count(q, -1);
                item_give_up(it, RD_KAFKA_RESP_ERR__PURGE_QUEUE);
        }
        free(q);
        return lost;
}

static int pubq_push(pubq_t *q, int64_t epoch, const char *key, size_t key_len,
                     const char *value, size_t value_len,
                     const producer_ack_t *ack, int ending) {
        pubq_item_t *it = calloc(1, sizeof(*it));
        if (!it || !(it->key = malloc(key_len + 1)) ||
            !(it->value = malloc(value_len + 1))) {
                if (it)
                        item_free(it);
                return -1;
        }
        memcpy(it->key, key, key_len);
        memcpy(it->value, value, value_len);
        it->key_len   = key_len;
        it->value_len = value_len;
        it->ending    = ending;
        it->epoch     = epoch;
        if (ack) {
                it->ack     = *ack;
                it->has_ack = 1;
        }
        if (q->tail)
                q->tail->next = it;
        else
                q->head = it;
        q->tail = it;
        pubq_count(q, 1);
        if (!loop_timer_armed(q->timer))
                loop_timer_start(q->timer, q->retry_ms, pubq_on_timer, q);
        return 0;
}

int pubq_send(pubq_t *q, int64_t epoch, const char *key, size_t key_len,
              const char *value, size_t value_len, const producer_ack_t *ack,
              int ending, char *errstr, size_t errstr_size) {
        if (!q->head) { /* nothing waits: straight to the producer */
                int gate;
                int rc = pubq_try(q, epoch, key, key_len, value, value_len, ack,
                                  &gate, errstr, errstr_size);
                if (rc != PRODUCER_ERR_TRANSIENT)
                        return rc;
                if (!gate) { /* a commit's closed gate is no news */
                        LOG_WARN(FAC, "producer queue full, results wait: %s",
                                 errstr);
                        q->warned = 1;
                }
        }
        if (!ending && q->n >= PUBQ_STATUS_MAX) {
                metrics_counter_inc(q->o.refused);
                snprintf(errstr, errstr_size,
                         "%zu results wait for the producer: status event "
                         "not sent",
                         q->n);
                return PRODUCER_ERR_TRANSIENT;
        }
        if (pubq_push(q, epoch, key, key_len, value, value_len, ack, ending) <
            0) {
                snprintf(errstr, errstr_size, "out of memory");
                return PRODUCER_ERR_TRANSIENT;
        }
        return 0;
}

size_t pubq_waiting(const pubq_t *q) {
        return q ? q->n : 0;
}
