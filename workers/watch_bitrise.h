/* workers/watch_bitrise.h — the watch's request seams on the Bitrise client.
 *
 * Turns a watch_request_t into a bitrise_req_t whose easy handle runs on the
 * worker's loop (loop_http_add), and the finished request into a
 * watch_answer_t whose payload is the client's own struct:
 *   BUILD     bitrise_build_t *      (free: watch_bitrise_payload_free)
 *   LOG_INFO  bitrise_log_info_t *   (holds the raw log URL: never logged)
 *   RAW_LOG   logparse_t *, finished (failed steps, tail, sha256, counts);
 *             for WATCH_LOG_FULL also a copy in the logs topic (logcopy.h)
 *   BUILD_LIST watch_list_t * whose items hold bitrise_build_t *
 * A seams implementation calls these from its request_start, request_cancel
 * and payload_free with its own per-thread watch_bitrise_t.
 *
 * Loop thread only.
 */
#ifndef BITMON_WORKERS_WATCH_BITRISE_H
#define BITMON_WORKERS_WATCH_BITRISE_H

#include "bitrise/client.h"
#include "bitrise/logparse.h"
#include "bitrise/srvclock.h"
#include "workers/logcopy.h"
#include "workers/loop.h"
#include "workers/watch.h"

typedef struct watch_bitrise {
        const bitrise_client_t *client; /* borrowed, shared by threads */
        logparse_opts_t logparse;       /* caps for each raw log */
        srvclock_t *clock; /* borrowed, shared; fed with each API answer's
                            * Date; may be NULL */
        /* `log: full` (issue 13): a RAW_LOG request asked with
         * WATCH_LOG_FULL is copied to the logs topic while it streams and
         * answers only once the copy is stored (a failed copy answers
         * TRANSIENT); the copy's reference is kept in refs under the
         * answer's payload. NULL copy (or copy->producer) = no copies. */
        const logcopy_opts_t *copy; /* borrowed */
        logcopy_refs_t *refs;       /* the thread's, borrowed */
} watch_bitrise_t;

/* Starts req on loop. Returns 0 (req->cb will run once, later), or < 0 with
 * a reason (bad slug or token, no memory, loop stopping). */
int watch_bitrise_request_start(const watch_bitrise_t *wb, loop_t *loop,
                                watch_request_t *req, char *errstr,
                                size_t errstr_size);

/* Cancels a started request; its callback will not run. */
void watch_bitrise_request_cancel(watch_request_t *req);

/* The build_facts seam for a BUILD payload (bitrise_build_t). */
void watch_bitrise_build_facts(const void *payload, watch_build_facts_t *out);

/* Frees an answer payload of the given kind. */
void watch_bitrise_payload_free(watch_req_kind_t kind, void *payload);

/* The log_fallback seam: a finished parser fed with the chunks of a
 * not-archived LOG_INFO payload, or NULL when it has none (or no memory). */
void *watch_bitrise_log_fallback(const watch_bitrise_t *wb,
                                 const void *log_info);

/* The class of a client answer as the watch sees it. */
watch_ans_class_t watch_bitrise_class(bitrise_class_t cls);

#endif
