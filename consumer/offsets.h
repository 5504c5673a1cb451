/* consumer/offsets.h — per-partition tracking of in-flight job offsets.
 *
 * The consumer tracks every offset it hands out (a dispatched job or a DLQ
 * write) and marks it done once its terminal result is acknowledged by
 * Kafka. The committable position of a partition is the lowest offset still
 * in flight, or the last tracked offset + 1 when nothing is in flight, so a
 * crash never skips a job that was still running (DESIGN "Delivery
 * semantics"). Only tracked offsets are known: gaps left by compaction or
 * transaction markers are passed over naturally.
 *
 * Memory is one entry per in-flight offset (finished ones are forgotten at
 * once), so it is bounded by the consumer's in-flight limit.
 *
 * Threads: NOT thread-safe. The tracker belongs to the consumer thread.
 * Completions from other threads (producer delivery reports) are handed to
 * the consumer thread through its completion queue (consumer.c), which then
 * calls offsets_done here and stores the new positions.
 */
#ifndef BITMON_CONSUMER_OFFSETS_H
#define BITMON_CONSUMER_OFFSETS_H

#include <stddef.h>
#include <stdint.h>

#define OFFSETS_MAX_PARTITION 100000 /* sanity bound on partition ids */

typedef struct offsets offsets_t;

/* A new, empty tracker, or NULL on allocation failure. */
offsets_t *offsets_new(void);
void offsets_destroy(offsets_t *o);

/* Starts tracking `off` of partition `part`. Offsets of a partition must be
 * tracked in increasing order (Kafka delivers them so). Returns 0, -1 when
 * off is not above the last tracked offset (a duplicate, ignored) or the
 * partition id is out of range, -2 on allocation failure. */
int offsets_track(offsets_t *o, int32_t part, int64_t off);

/* Marks a tracked offset done. Returns 0, or -1 when it is not in flight
 * (unknown, already done, or dropped by a revoke): such completions are
 * ignored. */
int offsets_done(offsets_t *o, int32_t part, int64_t off);

/* The position to commit for the partition (next offset to consume), or -1
 * when nothing was tracked since the partition was (re)assigned. */
int64_t offsets_committable(const offsets_t *o, int32_t part);

/* Forgets everything about the partition (revoke: in-flight jobs are handed
 * to the next owner, nothing is stored). */
void offsets_drop(offsets_t *o, int32_t part);

/* In-flight offsets of one partition, and over all partitions. */
size_t offsets_inflight(const offsets_t *o, int32_t part);
size_t offsets_inflight_total(const offsets_t *o);

/* The partition's in-flight offsets, sorted (borrowed until the next call
 * that changes the tracker; *v may be NULL when none), and its last
 * tracked offset (-1 = none). For the transaction metadata
 * (consumer/txnmeta.h): offsets in (position, last] that are not in
 * flight are done. */
size_t offsets_inflight_list(const offsets_t *o, int32_t part,
                             const int64_t **v);
int64_t offsets_last(const offsets_t *o, int32_t part);

/* Calls fn(part, position, ctx) for every partition with a committable
 * position (something tracked since it was assigned). */
void offsets_foreach(const offsets_t *o,
                     void (*fn)(int32_t part, int64_t pos, void *ctx),
                     void *ctx);

/* Calls fn(part, position, ctx) for every partition whose committable
 * position advanced since the last call, and clears that mark. */
void offsets_foreach_advanced(offsets_t *o,
                              void (*fn)(int32_t part, int64_t pos, void *ctx),
                              void *ctx);

#endif
