/* workers/monitor_int.h — the monitor's internals shared by monitor.c (the
 * seams) and monitor_result.c (result and build-cache JSON). Not an API. */
#ifndef BITMON_WORKERS_MONITOR_INT_H
#define BITMON_WORKERS_MONITOR_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "workers/monitor.h"
#include "workers/pubq.h"
#include "workers/watch_bitrise.h"

/* The last token read per workspace slot, with its fingerprint: tokens
 * change rarely and HMAC() fetches its OpenSSL methods on every call (~3 %
 * of a poll's CPU). Longer tokens are not memoised. Wiped on exit. */
#define FP_MEMO_SLOTS     64
#define FP_MEMO_TOKEN_MAX 256

typedef struct fp_memo {
        size_t len; /* 0 = empty */
        char tok[FP_MEMO_TOKEN_MAX];
        char fp[CACHE_FP_ID_LEN + 1];
} fp_memo_t;

typedef struct monitor_thread {
        monitor_t *m;
        fp_memo_t fp_memo[FP_MEMO_SLOTS];
        char worker[160]; /* "<worker.id>/w<N>": results, lease owner */
        cache_redis_t *rc;
        int index;                 /* N of "/w<N>" */
        loop_timer_t *redis_probe; /* reconnects idle connections */
        tokenstore_t *ts;          /* own (redis store) or m->dir_ts */
        int own_ts;
        watch_bitrise_t wb;
        pubq_t *pq; /* results waiting for room in the producer's queue */
        logcopy_refs_t *refs; /* `log: full` copies by RAW_LOG payload */
        void **fallback;      /* log_fallback payloads (not archived) */
        size_t n_fallback, cap_fallback;
} monitor_thread_t;

struct monitor_job {
        job_t *job;
        int32_t partition;
        int64_t offset;
        int64_t epoch; /* the producer's transaction epoch when consumed */
        int recheck;   /* its done marker could not be read when it came:
                        * read again before its terminal result */
};

#define MONITOR_N_CLASSES (WATCH_ANS_CANCELLED + 1)
#define MONITOR_N_ERRS    WATCH_ERR__COUNT

struct monitor {
        monitor_opts_t o; /* strings borrowed (see monitor_new) */
        unsigned char fp_key[CACHE_FP_KEY_MAX];
        tokenstore_t *dir_ts; /* shared dir store, NULL for redis */
        pthread_mutex_t ack_lock;
        cache_redis_t *ack_rc;           /* done markers, under ack_lock */
        char (*pending)[JOB_ID_MAX + 1]; /* exactly-once: jobs whose result
                                          * is in the open transaction;
                                          * marked done once it commits
                                          * (under ack_lock) */
        size_t n_pending, cap_pending;
        char (*recent)[JOB_ID_MAX + 1]; /* done markers written lately, a
                                         * ring (monitor_mark_done) */
        size_t recent_at, n_recent;
        atomic_int remark_due;         /* ack_rc came back: write them again */
        atomic_int threads;            /* worker thread numbering */
        atomic_int detached;           /* consumer gone: acks stop there */
        metrics_counter_t *results[3]; /* by event */
        metrics_counter_t *errors[MONITOR_N_ERRS]; /* error events by code */
        metrics_counter_t *logs_gone[WATCH_LOG_GONE__COUNT]; /* by why */
        metrics_counter_t *requests[MONITOR_N_CLASSES];
        metrics_counter_t *budget_waits, *skipped, *dropped, *pub_failed;
        metrics_counter_t *done_marks_failed, *stalled;
        /* issue 9: requests by endpoint, list calls, hints, detection */
        metrics_counter_t *endpoint[WATCH_REQ_BUILD_LIST + 1];
        metrics_counter_t *list_ok, *list_failed;
        metrics_counter_t *hints_routed, *hints_dropped;
        metrics_histogram_t *detection;
        srvclock_t *clock; /* Bitrise's clock, from answers' Date */
        metrics_counter_t *pub_retries, *status_refused; /* workers/pubq */
        _Atomic long results_waiting;   /* in every thread's pubq */
        _Atomic long results_abandoned; /* given up at a thread's end */
};

/* monitor_apps.c: the app poller's and the schedule's seams into *seams
 * (list sharing, history, webhook marks, build facts, Bitrise's clock,
 * hints), and their metrics. */
void monitor_apps_seams(watch_seams_t *seams);
void monitor_apps_metrics(monitor_t *m);

/* monitor_apps.c: the latency from Bitrise's finished_at to now (the
 * terminal result of a finished build is being produced). */
void monitor_observe_detection(monitor_t *m, const bitrise_build_t *b);

/* The build as Bitrise-shaped JSON ({"data": {...}}) that
 * bitrise_build_parse reads back to the same struct. malloc'ed or NULL. */
char *monitor_build_to_json(const bitrise_build_t *b);

/* The result JSON for one event of mj (DESIGN "Result"); malloc'ed, or
 * NULL with errstr. `final` marks the last `status` of a follow=false job;
 * log_archived says whether lp came from the archived raw log; full: the
 * copy of that log in the logs topic (a `log: full` job's log.full, null
 * when NULL; ignored for other jobs). err: the
 * error of an error event; on a finished event without lp, why the log is
 * unavailable (err->log_gone). */
char *monitor_result_json(const monitor_job_t *mj, watch_event_t ev, int final,
                          const bitrise_build_t *b, const logparse_t *lp,
                          int log_archived, const logseg_ref_t *full,
                          const watch_error_t *err, const char *worker,
                          char *errstr, size_t errstr_size);

/* Writes the done marker of a job whose terminal result is stored, and
 * remembers it among the newest MONITOR_RECENT_DONE: when the markers'
 * connection comes back after a failure (a Redis restarted empty lost
 * them; marks tried while it was away failed), those are written again.
 * With ack_lock held. CACHE_OK or the cache error, with errstr. */
#define MONITOR_RECENT_DONE 8192
int monitor_mark_done(monitor_t *m, const char *job_id, char *errstr,
                      size_t errstr_size);

/* The same replay when due, without a new mark (the probe); ack_lock held. */
void monitor_remark_if_due(monitor_t *m);

/* monitor_txn.c: remembers a job whose terminal result is in the open
 * transaction (exactly-once); monitor_txn_end marks it done. Any thread. */
void monitor_pending_add(monitor_t *m, const char *job_id);

#endif
