/* workers/workers.h — the worker pool as the rest of bitmon sees it.
 *
 * N worker threads (workers/pool), each with its own loop and watch table
 * (workers/watch) whose seams are built on that thread by a caller hook (so
 * each thread gets its own Redis connection). Jobs are routed by build key,
 * so every job for one build lands in the same table and shares one watch.
 *
 * Threads: workers_submit, workers_drop and workers_jobs may be called from
 * any thread but a worker's own (the consumer thread, its rebalance
 * callback); new/start/stop/destroy from the owning thread (main).
 */
#ifndef BITMON_WORKERS_WORKERS_H
#define BITMON_WORKERS_WORKERS_H

#include <stddef.h>

#include "workers/loop.h"
#include "workers/pool.h"
#include "workers/watch.h"

typedef struct workers workers_t;

typedef struct workers_opts {
        int threads;        /* workers.threads */
        loop_opts_t loop;   /* connection limits; its hooks and ud are
                             * ignored (the two below take their place) */
        watch_opts_t watch; /* poll.* timings */
        /* On each worker thread, before it takes jobs: fill *seams for this
         * thread (its Redis connection, token store, client...). Non-zero
         * fails workers_start with the reason. */
        int (*seams_init)(loop_t *loop, void *ud, watch_seams_t *seams,
                          char *errstr, size_t errstr_size);
        /* On each worker thread at its end, after its jobs were dropped
         * (job_done DROPPED): release what seams_init made. May be NULL. */
        void (*seams_release)(loop_t *loop, void *ud, watch_seams_t *seams);
        void *ud;
} workers_opts_t;

/* Validates and copies opts; threads are not started. NULL + errstr. */
workers_t *workers_new(const workers_opts_t *opts, char *errstr,
                       size_t errstr_size);

/* Starts every worker (runs seams_init on each). */
int workers_start(workers_t *w, char *errstr, size_t errstr_size);

/* Hands a job to the worker of its build. The strings are copied now; the
 * job handle goes to the seams. Returns 0: the job is accepted and its
 * job_done seam will run exactly once (DROPPED if the worker cannot take it
 * after all). Non-zero (stopping, out of memory): nothing will happen and
 * the job is still the caller's. */
int workers_submit(workers_t *w, const watch_job_t *job);

/* Hands a webhook hint to the worker of its build (the same routing as
 * workers_submit), which passes it to watch_table_hint on its thread.
 * Strings are copied. 0, or non-zero (stopping, out of memory): the hint is
 * lost, as a hint may be. */
int workers_hint(workers_t *w, const char *workspace, const char *app_slug,
                 const char *build_slug, int finished);

/* Drops, on every worker, the jobs for which pred(job, arg) is true (revoked
 * partitions): job_done DROPPED, nothing published. Waits until every worker
 * has done it or timeout_ms passed (< 0 = no limit). pred runs on the worker
 * threads; arg must stay valid until this returns. Returns the number of
 * jobs dropped, or LOOP_ERR_TIMEOUT (then some workers may still drop
 * theirs later: keep arg alive, e.g. static, if you use a timeout). */
long workers_drop(workers_t *w, int (*pred)(void *job, void *arg), void *arg,
                  int timeout_ms);

/* Jobs accepted and not yet done, across all workers (for back-pressure). */
long workers_jobs(const workers_t *w);

/* The loops' counters summed over every worker (for /metrics). Any
 * thread. */
void workers_stats_get(const workers_t *w, loop_stats_t *out);

/* Stops every worker: transfers in flight get grace_ms to finish, then every
 * remaining job is dropped (job_done DROPPED: its offset is not stored, the
 * next owner resumes it) and the threads exit, all within timeout_ms.
 * Returns 0 or LOOP_ERR_TIMEOUT (then exit the process, don't destroy). */
int workers_stop(workers_t *w, int grace_ms, int timeout_ms);

/* Stops if needed and frees. NULL is a no-op. */
void workers_destroy(workers_t *w);

/* The pool (for stats: loop_stats_get on each pool_loop). */
pool_t *workers_pool(workers_t *w);

#endif
