/* workers/logcopy.h — a `log: full` watch's raw log copied into the logs
 * topic while it streams (issue 13; docs/results.md "The full log").
 *
 * logcopy_start tees a raw log request (bitrise_req_raw_log_tee) into a
 * segment writer (producer/logseg.h): bytes go to Kafka as they arrive, and
 * when the writer is busy (segments in flight at their cap, a full queue,
 * a transaction being committed) the transfer pauses and a loop timer
 * resumes it a little later — nothing blocks the loop, nothing but a
 * segment stays in memory. When the transfer has ended, logcopy_settle
 * sends the last segment and waits (on loop timers) until every segment is
 * acknowledged; only then does its callback say done, so the `finished`
 * results that reference the copy are produced after it is stored.
 *
 * The reference of a settled copy is kept per worker thread next to the
 * RAW_LOG payload it belongs to (logcopy_refs_t), where seam_publish finds
 * it for the jobs that asked for `log: full`. Every job of the watch shares
 * the one copy.
 *
 * Threads: the loop's only.
 */
#ifndef BITMON_WORKERS_LOGCOPY_H
#define BITMON_WORKERS_LOGCOPY_H

#include <stddef.h>

#include "bitrise/client.h"
#include "bitrise/logparse.h"
#include "common/metrics.h"
#include "producer/logseg.h"
#include "workers/loop.h"

typedef struct logcopy_opts {
        producer_t *producer;       /* borrowed; NULL = no copies (log: full
                                     * then reports the summary, log.full null) */
        const char *topic;          /* topics.logs, borrowed */
        size_t segment_bytes;       /* logs.segment_bytes */
        int max_in_flight;          /* logs.max_in_flight */
        int ref_ttl_s;              /* lookup records in Redis (cache/logref.h):
                                     * topics.logs_retention_ms */
        _Atomic int64_t *in_flight; /* the process's segment bytes on their
                                     * way (shared by the threads), NULL =
                                     * no cap */
        int64_t in_flight_max;      /* logs.max_buffer_bytes */
        /* bitmon_log_copies_total{result} and bitmon_log_copy_bytes_total
         * (may be NULL) */
        metrics_counter_t *stored, *failed, *bytes;
} logcopy_opts_t;

typedef struct logcopy logcopy_t;

/* Tees br (a raw log request not started yet) into a new copy of the log of
 * app/build. NULL with errstr on allocation failure. */
logcopy_t *logcopy_start(const logcopy_opts_t *opts, loop_t *loop,
                         bitrise_req_t *br, const char *app_slug,
                         const char *build_slug, char *errstr,
                         size_t errstr_size);

/* rc 0: every segment is stored; < 0: the copy failed, msg says why. */
typedef void logcopy_done_fn(void *arg, int rc, const char *msg);

/* The transfer ended OK and lp is finished: sends the last segment (with
 * lp's sha256 and truncated) and waits for every acknowledgement. fn runs
 * exactly once, later, on the loop (never inside this call) — unless
 * logcopy_destroy runs first. */
void logcopy_settle(logcopy_t *c, const logparse_t *lp, logcopy_done_fn *fn,
                    void *arg);

/* After fn said 0: the copy's reference (caller frees with
 * logseg_ref_free), NULL on allocation failure. */
logseg_ref_t *logcopy_ref_take(logcopy_t *c);

/* Stops its timers (no callback after this) and gives the writer up.
 * NULL is a no-op. */
void logcopy_destroy(logcopy_t *c);

/* ---- references by payload (one table per worker thread) -------------- */

typedef struct logcopy_refs logcopy_refs_t;

logcopy_refs_t *logcopy_refs_new(void);
void logcopy_refs_destroy(logcopy_refs_t *t); /* frees the refs too */

/* Keeps ref (takes it: freed with the entry) for payload. 0, or -1 on
 * allocation failure (ref freed). */
int logcopy_refs_put(logcopy_refs_t *t, const void *payload, logseg_ref_t *ref);

/* The reference kept for payload (borrowed until logcopy_refs_drop), or
 * NULL. */
const logseg_ref_t *logcopy_refs_get(const logcopy_refs_t *t,
                                     const void *payload);

/* Forgets payload's reference (the payload is freed). */
void logcopy_refs_drop(logcopy_refs_t *t, const void *payload);

#endif
