/* consumer/txnmeta.h — what a transactional offset commit says beyond the
 * position (exactly-once mode, docs/results.md "Exactly once").
 *
 * Jobs finish out of order: the committed position stops at the oldest job
 * still in flight, while younger ones have their terminal results in the
 * same transaction. The commit's metadata lists those done offsets above
 * the position, as runs relative to it, so that a process that takes the
 * partition over (after a crash, a rebalance or an aborted transaction)
 * skips them instead of reporting them a second time. The text is capped
 * at TXNMETA_MAX bytes (Kafka's offset.metadata.max.bytes is 4096 by
 * default); runs beyond the cap are left out, which only costs a
 * duplicate (the done markers still catch most), never a lost job.
 *
 * Format: "bm1" then, per run, ",GAP.LEN" in decimal: the run starts GAP
 * offsets after the end of the previous one (the first after the
 * position) and has LEN offsets.
 *
 * Threads: pure functions.
 */
#ifndef BITMON_CONSUMER_TXNMETA_H
#define BITMON_CONSUMER_TXNMETA_H

#include <stddef.h>
#include <stdint.h>

#include "consumer/offsets.h"

#define TXNMETA_MAX 3000

typedef struct txnmeta_range {
        int64_t start, end; /* [start, end) */
} txnmeta_range_t;

/* Writes the metadata of partition `part` of the tracker into buf (NUL
 * terminated; "" when nothing above the position is done): the tracker's
 * done runs, then the parts above its last tracked offset of `later`
 * (n_later sorted ranges, may be NULL): done runs of an earlier commit not
 * consumed again yet, which must survive this commit. Returns its length.
 * size should be TXNMETA_MAX + 1. */
size_t txnmeta_encode(const offsets_t *o, int32_t part,
                      const txnmeta_range_t *later, size_t n_later, char *buf,
                      size_t size);

/* Parses metadata committed at position pos into sorted ranges (malloc'ed
 * into *out, caller frees; *n = 0 and *out = NULL when there are none).
 * Returns 0, or -1 when the text is not ours or malformed (nothing to
 * skip then). */
int txnmeta_decode(const char *meta, size_t len, int64_t pos,
                   txnmeta_range_t **out, size_t *n);

/* Whether off falls in one of the n sorted ranges; *idx is a cursor that
 * only moves forward (start it at 0; offsets are asked in order). */
int txnmeta_contains(const txnmeta_range_t *r, size_t n, size_t *idx,
                     int64_t off);

#endif
