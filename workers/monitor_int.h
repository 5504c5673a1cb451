/* workers/monitor_int.h — the monitor's internals shared by monitor.c (the
 * seams) and monitor_result.c (result and build-cache JSON). Not an API. */
#ifndef BITMON_WORKERS_MONITOR_INT_H
#define BITMON_WORKERS_MONITOR_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "workers/monitor.h"
#include "workers/watch_bitrise.h"

struct monitor_job {
        job_t *job;
        int32_t partition;
        int64_t offset;
};

#define MONITOR_N_CLASSES (WATCH_ANS_CANCELLED + 1)
#define MONITOR_N_ERRS    WATCH_ERR__COUNT

struct monitor {
        monitor_opts_t o; /* strings borrowed (see monitor_new) */
        unsigned char fp_key[CACHE_FP_KEY_MAX];
        tokenstore_t *dir_ts; /* shared dir store, NULL for redis */
        pthread_mutex_t ack_lock;
        cache_redis_t *ack_rc;         /* done markers, under ack_lock */
        atomic_int threads;            /* worker thread numbering */
        atomic_int detached;           /* consumer gone: acks stop there */
        metrics_counter_t *results[3]; /* by event */
        metrics_counter_t *errors[MONITOR_N_ERRS]; /* error events by code */
        metrics_counter_t *logs_gone[WATCH_LOG_GONE__COUNT]; /* by why */
        metrics_counter_t *requests[MONITOR_N_CLASSES];
        metrics_counter_t *budget_waits, *skipped, *dropped, *pub_failed;
        metrics_counter_t *done_marks_failed;
        metrics_counter_t *pub_retries, *status_refused; /* workers/pubq */
        _Atomic long results_waiting;   /* in every thread's pubq */
        _Atomic long results_abandoned; /* given up at a thread's end */
};

/* The build as Bitrise-shaped JSON ({"data": {...}}) that
 * bitrise_build_parse reads back to the same struct. malloc'ed or NULL. */
char *monitor_build_to_json(const bitrise_build_t *b);

/* The result JSON for one event of mj (DESIGN "Result"); malloc'ed, or
 * NULL with errstr. `final` marks the last `status` of a follow=false job;
 * log_archived says whether lp came from the archived raw log. err: the
 * error of an error event; on a finished event without lp, why the log is
 * unavailable (err->log_gone). */
char *monitor_result_json(const monitor_job_t *mj, watch_event_t ev, int final,
                          const bitrise_build_t *b, const logparse_t *lp,
                          int log_archived, const watch_error_t *err,
                          const char *worker, char *errstr, size_t errstr_size);

#endif
