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
 * Transactional (exactly-once, producer.exactly_once): with a
 * transactional_id the producer runs one Kafka transaction after another
 * (docs/results.md "Exactly once"). A gate decides when a message may join
 * the open transaction: while a transaction is being committed or aborted
 * the gate is closed and producer_send_for fails with PRODUCER_ERR_WAIT
 * (a message without an epoch waits for the gate instead). Every abort
 * raises the epoch: a message sent for an epoch that is no longer current
 * (the result of a job consumed before the abort, whose offset was rewound
 * and which is being redone) is refused with PRODUCER_ERR_STALE. The
 * producer_txn_* calls belong to one thread (the consumer's, which knows
 * the offsets); a fatal error (fenced by a newer producer with the same
 * transactional.id) closes the gate for good and sets producer_fatal.
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
#define PRODUCER_ERR_STALE     (-3) /* transactional: sent for an aborted epoch */
#define PRODUCER_ERR_WAIT                                                      \
        (-4) /* transactional: a commit is under way, the                      \
              * gate opens again shortly */

/* producer_send_for's epoch for messages that belong to no job's
 * transaction epoch (DLQ copies, hints, submitted jobs). */
#define PRODUCER_EPOCH_ANY (-1)

typedef struct producer producer_t;

typedef struct producer_opts {
        const char *bootstrap;        /* bootstrap.servers, NULL = from kafka */
        kconf_pairs_t kafka;          /* `kafka.*` passthrough */
        int flush_timeout_ms;         /* producer_destroy's flush; 0 = 10000 */
        const char *transactional_id; /* NULL or "" = not transactional */
        int txn_timeout_ms;     /* transaction.timeout.ms (and the messages'
                                 * timeout); 0 = 60000 */
        const char *zstd_topic; /* messages to this topic are compressed
                                 * with zstd (topics.logs); NULL = none */
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

/* producer_ack_t.part for an ack that wants to know where its message went:
 * fn then gets the produced message's partition and offset instead of
 * part/off (the logs topic's segments, producer/logseg.h). */
#define PRODUCER_ACK_WHERE (-2)

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

/* producer_send for a message that belongs to a job consumed in `epoch`
 * (producer_txn_epoch at the time; PRODUCER_EPOCH_ANY: none). Not
 * transactional: the same as producer_send. Transactional: also
 * PRODUCER_ERR_WAIT while the gate is closed (for PRODUCER_EPOCH_ANY it
 * waits up to PRODUCER_GATE_WAIT_MS first) and PRODUCER_ERR_STALE for an
 * old epoch; the ack does not run then. */
#define PRODUCER_GATE_WAIT_MS 2000
int producer_send_for(producer_t *p, int64_t epoch, const char *topic,
                      const void *key, size_t key_len, const void *value,
                      size_t value_len, const producer_header_t *hdrs,
                      size_t n_hdrs, const producer_ack_t *ack, int block,
                      char *errstr, size_t errstr_size);

/* ---- transactions (transactional producers; one controlling thread) ---- */

#define PRODUCER_TXN_OK    0
#define PRODUCER_TXN_RETRY (-1) /* timed out or retriable: call again */
#define PRODUCER_TXN_ABORT (-2) /* the transaction must be aborted */
#define PRODUCER_TXN_FATAL (-3) /* fenced or fatal: stop the process */
#define PRODUCER_TXN_MOVED                                                     \
        (-4) /* the group moved on (rebalance): abort; the partitions and      \
              * their jobs are another member's now */

/* 1 when created with a transactional_id. */
int producer_transactional(const producer_t *p);

/* The current epoch (starts at 0, +1 per abort). Any thread. */
int64_t producer_txn_epoch(producer_t *p);

/* Messages that joined the open transaction. Any thread. */
uint64_t producer_txn_messages(producer_t *p);

/* Closes the gate (idempotent): no message joins the open transaction
 * from now on. */
void producer_txn_close(producer_t *p);

/* With the gate closed: waits up to timeout_ms until every message of the
 * open transaction has its delivery report served (its ack returned).
 * PRODUCER_TXN_OK or PRODUCER_TXN_RETRY. */
int producer_txn_drain(producer_t *p, int timeout_ms);

/* With the gate closed and drained: adds `offsets` (may be NULL or empty;
 * sent once per transaction, later calls' offsets are ignored) for the
 * consumer group `cgmd` (borrowed) and commits, within timeout_ms.
 * PRODUCER_TXN_OK (the gate stays closed: producer_txn_begin),
 * PRODUCER_TXN_RETRY, _ABORT or _FATAL with errstr. */
int producer_txn_commit(producer_t *p,
                        const rd_kafka_topic_partition_list_t *offsets,
                        const rd_kafka_consumer_group_metadata_t *cgmd,
                        int timeout_ms, char *errstr, size_t errstr_size);

/* Aborts the open transaction (its messages are purged and never visible
 * to read_committed readers), waits for their reports and raises the
 * epoch. PRODUCER_TXN_OK, _RETRY or _FATAL with errstr. */
int producer_txn_abort(producer_t *p, int timeout_ms, char *errstr,
                       size_t errstr_size);

/* Begins the next transaction and opens the gate. PRODUCER_TXN_OK or
 * PRODUCER_TXN_FATAL with errstr. */
int producer_txn_begin(producer_t *p, char *errstr, size_t errstr_size);

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
