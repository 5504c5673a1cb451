/* producer/logseg.h — one build's raw log written to the logs topic in
 * segments while it streams (issue 13, docs/results.md "The full log").
 *
 * The caller feeds the bytes as they arrive (logseg_write); every
 * segment_bytes a segment is produced, key `<app_slug>/<build_slug>`, so
 * all of one copy land in one partition, in order. A full segment is held
 * back until a byte follows it, so the last segment is known when it is
 * sent: every segment carries `bitmon-build`, `bitmon-copy` (the copy's
 * random id) and `bitmon-segment` (its index from 0); the last also
 * carries `bitmon-segments` (the count), `bitmon-sha256` (of the whole
 * log), `bitmon-bytes` and `bitmon-truncated`. An empty log is one empty
 * segment. logseg_finish sends the last one; once logseg_poll says every
 * segment is acknowledged, logseg_ref_take gives the reference a result
 * carries (topic, partition, offsets, bytes, sha256, truncated).
 *
 * Memory: at most segment_bytes plus one write of the caller here, and at
 * most max_in_flight segments in the producer's queue (and, across
 * writers, shared_max bytes of segments on their way); beyond that
 * logseg_write answers LOGSEG_BUSY (take nothing, offer the same bytes
 * again later), as it does while a transactional producer's gate is closed
 * or its queue is full. A refused or undelivered segment fails the copy for
 * good (LOGSEG_FAILED): the caller starts a new copy.
 *
 * Threads: one thread feeds, finishes and polls a writer; delivery reports
 * (producer poll thread) only record offsets under the writer's lock.
 */
#ifndef BITMON_PRODUCER_LOGSEG_H
#define BITMON_PRODUCER_LOGSEG_H

#include <cJSON.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "producer/producer.h"

#define LOGSEG_BUSY   1    /* nothing taken: offer it again shortly */
#define LOGSEG_FAILED (-1) /* the copy failed (see errstr) */

/* Bounds of logs.segment_bytes: the producer refuses messages above
 * message.max.bytes (1,000,000 by default) and headers need room. */
#define LOGSEG_MIN_BYTES 1024
#define LOGSEG_MAX_BYTES (960 * 1024)

typedef struct logseg logseg_t;

typedef struct logseg_opts {
        producer_t *producer;              /* borrowed */
        const char *topic;                 /* copied */
        const char *app_slug, *build_slug; /* copied */
        size_t segment_bytes;              /* 0 = 512 KiB */
        int max_in_flight;                 /* unacknowledged segments; 0 = 4 */
        int64_t epoch; /* producer_send_for (PRODUCER_EPOCH_ANY: none) */
        /* The process's bytes of segments on their way, shared by every
         * writer (any thread): a writer with a segment on its way waits
         * (busy) while sending another would pass shared_max. NULL = no
         * shared cap. */
        _Atomic int64_t *shared_bytes;
        int64_t shared_max;
} logseg_opts_t;

/* Where a finished copy is (what a `finished` result's log.full says). */
typedef struct logseg_ref {
        char *topic;
        int32_t partition;
        int64_t *offsets; /* one per segment, in order */
        size_t n;
        uint64_t bytes;
        char sha256[65];
        int truncated;
        char copy[17]; /* the copy's id (header bitmon-copy) */
} logseg_ref_t;

/* NULL on allocation failure. */
logseg_t *logseg_new(const logseg_opts_t *opts);

/* Gives the writer up (the caller's side); acknowledgements still on their
 * way free it at the end. NULL is a no-op. */
void logseg_destroy(logseg_t *s);

/* Takes all len bytes (0), none (LOGSEG_BUSY) or fails (LOGSEG_FAILED,
 * reason in errstr). */
int logseg_write(logseg_t *s, const void *data, size_t len, char *errstr,
                 size_t errstr_size);

/* The log ended: sends what is left as the last segment with the count,
 * sha256 (64 hex digits of the whole log) and truncated. 0 (sent),
 * LOGSEG_BUSY (call again) or LOGSEG_FAILED. */
int logseg_finish(logseg_t *s, const char *sha256, int truncated, char *errstr,
                  size_t errstr_size);

/* After logseg_finish: 0 once every segment is acknowledged, LOGSEG_BUSY
 * while some are on their way, LOGSEG_FAILED when one was not stored (or,
 * transactional, a transaction was aborted since the first was sent: they
 * are gone). */
int logseg_poll(logseg_t *s, char *errstr, size_t errstr_size);

/* Bytes written so far. */
uint64_t logseg_bytes(const logseg_t *s);

/* After logseg_poll returned 0: the reference (caller frees with
 * logseg_ref_free), or NULL on allocation failure. */
logseg_ref_t *logseg_ref_take(logseg_t *s);
void logseg_ref_free(logseg_ref_t *ref);

/* The reference as the JSON object of a result's log.full:
 * {"topic","partition","offsets":[...],"segments","bytes","sha256",
 * "truncated","copy"}; NULL on allocation failure. */
cJSON *logseg_ref_to_json(const logseg_ref_t *ref);

/* Reads such an object back (a consumer's side): the reference (caller
 * frees with logseg_ref_free), or NULL with errstr. */
logseg_ref_t *logseg_ref_from_json(const cJSON *obj, char *errstr,
                                   size_t errstr_size);

#endif
