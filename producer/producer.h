/* producer/producer.h — the process's one Kafka producer: results, DLQ and
 * job submission.
 *
 * Idempotent (enable.idempotence=true, acks=all: forced, whatever the
 * passthrough says), so retries never duplicate or reorder a partition's
 * messages. By default message.timeout.ms=0 (retry until delivered): a
 * terminal result is never dropped; if Kafka stays down, in-flight offsets
 * stop advancing and the consumer pauses instead.
 *
 * Every message may carry an acknowledgement (producer_ack_t): its callback
 * runs once, on the producer's poll thread (in producer_destroy: possibly on
 * the caller's thread, for the last purged messages), when Kafka has
 * acknowledged the message (err 0) or it definitively failed (purged on
 * shutdown, fatal error). That is how a job's offset becomes "done" only after
 * its terminal result is stored (DESIGN "Delivery semantics").
 *
 * Threads: one dedicated poll thread serves delivery reports and errors.
 * producer_send and producer_flush may be called from any thread.
 */
#ifndef BITMON_PRODUCER_PRODUCER_H
#define BITMON_PRODUCER_PRODUCER_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "producer/kconf.h"

#define PRODUCER_ERR_TRANSIENT (-1) /* queue full, retry later */
#define PRODUCER_ERR_PERMANENT (-2) /* too large, unknown topic, fatal */

typedef struct producer producer_t;

typedef struct producer_opts {
        const char *bootstrap; /* bootstrap.servers, NULL = from kafka */
        kconf_pairs_t kafka;   /* `kafka.*` passthrough */
        int flush_timeout_ms;  /* producer_destroy's flush; 0 = 10000 */
} producer_opts_t;

/* Called once per acknowledged message on the poll thread. It must not block
 * and must not call producer_destroy; typically it hands (part, off) to the
 * consumer's completion queue. `part`/`off` are the caller's values (the
 * source job's partition and offset), not the produced message's. */
typedef void producer_ack_fn(void *ctx, int32_t part, int64_t off,
                             rd_kafka_resp_err_t err);

typedef struct producer_ack {
        producer_ack_fn *fn;
        void *ctx;
        int32_t part;
        int64_t off;
} producer_ack_t;

typedef struct producer_header {
        const char *name;
        const void *value;
        size_t len;
} producer_header_t;

/* Creates the producer and starts its poll thread. Returns NULL with the
 * reason in errstr. Caller frees with producer_destroy. */
producer_t *producer_new(const producer_opts_t *opts, char *errstr,
                         size_t errstr_size);

/* Flushes (up to flush_timeout_ms), purges what is left (their acks run
 * with an error), stops the poll thread, destroys. NULL is a no-op. */
void producer_destroy(producer_t *p);

/* Gives up on every message not yet acknowledged: their acks run with an
 * error (waiting up to 1 s for them). For a shutdown whose flush ran out of
 * time, so that producer_destroy does not wait again. */
void producer_purge(producer_t *p);

/* Queues one message (key, value and headers are copied). `ack` may be NULL.
 * With `block` a full queue waits for room instead of failing. Returns 0 (the
 * ack will run exactly once), PRODUCER_ERR_TRANSIENT or
 * PRODUCER_ERR_PERMANENT with errstr (the ack will not run). */
int producer_send(producer_t *p, const char *topic, const void *key,
                  size_t key_len, const void *value, size_t value_len,
                  const producer_header_t *hdrs, size_t n_hdrs,
                  const producer_ack_t *ack, int block, char *errstr,
                  size_t errstr_size);

/* Waits up to timeout_ms for every queued message to be acknowledged.
 * Returns the number still outstanding (0 = all done). */
int producer_flush(producer_t *p, int timeout_ms);

/* Messages sent but not yet acknowledged. */
int producer_outstanding(producer_t *p);

/* Non-zero once librdkafka raised a fatal error (the idempotent producer
 * cannot continue); the process should shut down. */
int producer_fatal(producer_t *p);

/* The librdkafka handle, borrowed (for metadata and admin calls). */
rd_kafka_t *producer_rk(producer_t *p);

#endif
