/* workers/pubq.h — results waiting for room in the producer's queue, one line
 * per worker loop, so that a full librdkafka queue (broker gone, too slow)
 * never blocks the loop that publishes (issue 11, "back-pressure instead of
 * blocking").
 *
 * pubq_send hands a result to the producer without blocking; when the
 * producer's queue is full, or results already wait in line, the result
 * joins the line (in order: a job's `status` events stay before its terminal
 * one) and a loop timer offers the line to the producer again until it has
 * drained. Ending results (terminal, or the one report of a follow=false job)
 * always wait; a `status` event is refused once PUBQ_STATUS_MAX results wait
 * (it only reports progress; the terminal result follows). Ending results
 * are bounded by the jobs in flight, which the consumer caps
 * (`workers.max_watches`: the consumer pauses its partitions, since a job's
 * offset stays in flight until its result is acknowledged).
 *
 * Threads: everything on the loop's thread, except pubq_waiting_total's
 * counter, which any thread may read.
 */
#ifndef BITMON_WORKERS_PUBQ_H
#define BITMON_WORKERS_PUBQ_H

#include <stdatomic.h>
#include <stddef.h>

#include "common/metrics.h"
#include "producer/producer.h"
#include "workers/loop.h"

typedef struct pubq pubq_t;

/* Status events refused beyond this many waiting results (per loop). */
#define PUBQ_STATUS_MAX 1024

/* The first retry after a full queue, and the cap of its doubling. */
#define PUBQ_RETRY_MIN_MS 10
#define PUBQ_RETRY_MAX_MS 200

typedef struct pubq_opts {
        loop_t *loop;
        producer_t *producer;
        const char *topic;          /* borrowed for the line's lifetime */
        _Atomic long *waiting;      /* shared: results waiting, all lines; may
                                     * be NULL */
        metrics_counter_t *retries; /* send attempts that found the queue
                                     * full; may be NULL */
        metrics_counter_t *refused; /* status events refused (line full) */
} pubq_opts_t;

/* A line for one loop. NULL on allocation failure. */
pubq_t *pubq_new(const pubq_opts_t *opts);

/* Offers the line to the producer once more (without blocking), then gives
 * up on what still waits: each waiting result's ack runs with
 * RD_KAFKA_RESP_ERR__PURGE_QUEUE (so its job's offset stays unstored and it
 * is redelivered), on this thread. Returns how many ending results were
 * given up (0 for NULL). Frees the line. */
size_t pubq_destroy(pubq_t *q);

/* Publishes value (key and value are copied) with ack (may be NULL; copied)
 * for a job consumed in `epoch` (producer_send_for; PRODUCER_EPOCH_ANY).
 * A transactional producer's closed gate (a commit under way) makes the
 * result wait like a full queue; PRODUCER_ERR_STALE (an abort since the job
 * was consumed: it is redone) is returned, or drops a waiting result with
 * its ack run with RD_KAFKA_RESP_ERR__PURGE_QUEUE.
 * `ending`: the message ends its job (always waits when it must). Returns 0
 * (handed to the producer or waiting in line: the ack runs exactly once), or
 * PRODUCER_ERR_PERMANENT / PRODUCER_ERR_TRANSIENT with errstr (refused: the
 * ack will not run). */
int pubq_send(pubq_t *q, int64_t epoch, const char *key, size_t key_len,
              const char *value, size_t value_len, const producer_ack_t *ack,
              int ending, char *errstr, size_t errstr_size);

/* Results waiting in this line. */
size_t pubq_waiting(const pubq_t *q);

#endif
