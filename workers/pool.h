/* workers/pool.h — the worker pool: N event loops, jobs routed by key.
 *
 * Every job for one build carries the same key ("<app_slug>/<build_slug>"),
 * and the same key always goes to the same worker (FNV-1a of the key, mixed,
 * modulo the number of workers: stable for a given size, in every process),
 * so one worker holds every watch of a build and they can share one poll.
 *
 * Threads: every function may be called from any thread except a pool
 * worker's own (pool_stop/pool_destroy wait for the workers).
 */
#ifndef BITMON_WORKERS_POOL_H
#define BITMON_WORKERS_POOL_H

#include <stddef.h>

#include "workers/loop.h"

typedef struct pool pool_t;

typedef struct pool_opts {
        int threads;      /* workers.threads: 1..256 */
        loop_opts_t loop; /* for every loop; `id` is set to the index */
} pool_opts_t;

/* Creates the loops (not started). Returns NULL with a reason in errstr. */
pool_t *pool_new(const pool_opts_t *opts, char *errstr, size_t errstr_size);

/* Starts every worker thread. On failure the ones already started are
 * stopped again and the reason is in errstr. */
int pool_start(pool_t *pool, char *errstr, size_t errstr_size);

int pool_size(const pool_t *pool);

/* The i-th loop (0 <= i < pool_size), borrowed for the pool's life. */
loop_t *pool_loop(const pool_t *pool, int i);

/* The worker index for key: the same key always gives the same index for a
 * pool of this size. */
int pool_index_for(const pool_t *pool, const void *key, size_t key_len);

/* The hash behind pool_index_for: 64-bit FNV-1a, then murmur3's fmix64
 * (exposed for tests). */
unsigned long long pool_hash(const void *key, size_t key_len);

/* loop_post to the worker for key; same return values as loop_post (on
 * failure fn never runs and arg is still the caller's). */
int pool_dispatch(pool_t *pool, const void *key, size_t key_len, loop_fn_t *fn,
                  void *arg);

/* Asks every worker to stop (loop_stop_request with grace_ms), then waits
 * for all of them until timeout_ms from now (< 0 = forever). Returns 0, or
 * LOOP_ERR_TIMEOUT when a worker is still running: then do not destroy the
 * pool (that would wait for it); exit the process instead. */
int pool_stop(pool_t *pool, int grace_ms, int timeout_ms);

/* Stops (without grace, waiting as long as it takes) and frees. NULL is a
 * no-op. */
void pool_destroy(pool_t *pool);

#endif
