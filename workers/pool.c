/* workers/pool.c — N worker loops and routing by key (see pool.h). */
#include "workers/pool.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/timeutil.h"

#define POOL_MAX_THREADS 256

struct pool {
        int n;
        loop_t **loops;
};

pool_t *pool_new(const pool_opts_t *opts, char *errstr, size_t errstr_size) {
        if (!opts || opts->threads < 1 || opts->threads > POOL_MAX_THREADS) {
                snprintf(errstr, errstr_size,
                         "invalid workers.threads %d: must be 1..%d",
                         opts ? opts->threads : 0, POOL_MAX_THREADS);
                return NULL;
        }
        pool_t *pool = calloc(1, sizeof(*pool));
        if (!pool || !(pool->loops = calloc((size_t)opts->threads,
                                            sizeof(*pool->loops)))) {
                free(pool);
                snprintf(errstr, errstr_size, "cannot allocate worker pool");
                return NULL;
        }
        pool->n = opts->threads;
        for (int i = 0; i < pool->n; i++) {
                loop_opts_t lo = opts->loop;
                lo.id          = i;
                pool->loops[i] = loop_new(&lo, errstr, errstr_size);
                if (!pool->loops[i]) {
                        pool_destroy(pool);
                        return NULL;
                }
        }
        return pool;
}

int pool_start(pool_t *pool, char *errstr, size_t errstr_size) {
        for (int i = 0; i < pool->n; i++) {
                int rc = loop_start(pool->loops[i], errstr, errstr_size);
                if (rc != 0) {
                        pool_stop(pool, 0, -1);
                        return rc;
                }
        }
        return 0;
}

int pool_size(const pool_t *pool) {
        return pool->n;
}

loop_t *pool_loop(const pool_t *pool, int i) {
        return i >= 0 && i < pool->n ? pool->loops[i] : NULL;
}

unsigned long long pool_hash(const void *key, size_t key_len) {
        const unsigned char *p = key;
        uint64_t h             = 0xcbf29ce484222325ULL;
        for (size_t i = 0; i < key_len; i++) {
                h ^= p[i];
                h *= 0x100000001b3ULL;
        }
        /* FNV's low bits depend only on the low bits of the input bytes;
         * murmur3's finaliser spreads every bit before the modulo. */
        h ^= h >> 33;
        h *= 0xff51afd7ed558ccdULL;
        h ^= h >> 33;
        h *= 0xc4ceb9fe1a85ec53ULL;
        h ^= h >> 33;
        return h;
}

int pool_index_for(const pool_t *pool, const void *key, size_t key_len) {
        return (int)(pool_hash(key, key_len) % (uint64_t)pool->n);
}

int pool_dispatch(pool_t *pool, const void *key, size_t key_len, loop_fn_t *fn,
                  void *arg) {
        return loop_post(pool->loops[pool_index_for(pool, key, key_len)], fn,
                         arg);
}

int pool_stop(pool_t *pool, int grace_ms, int timeout_ms) {
        int64_t deadline = time_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
        int rc           = 0;
        for (int i = 0; i < pool->n; i++)
                loop_stop_request(pool->loops[i], grace_ms);
        for (int i = 0; i < pool->n; i++) {
                int left = -1;
                if (timeout_ms >= 0) {
                        int64_t d = deadline - time_mono_ms();
                        left      = d > 0 ? (int)d : 0;
                }
                if (loop_join(pool->loops[i], left) != 0)
                        rc = LOOP_ERR_TIMEOUT;
        }
        return rc;
}

void pool_destroy(pool_t *pool) {
        if (!pool)
                return;
        for (int i = 0; i < pool->n; i++)
                if (pool->loops[i])
                        loop_stop_request(pool->loops[i], 0);
        for (int i = 0; i < pool->n; i++)
                loop_destroy(pool->loops[i]);
        free(pool->loops);
        free(pool);
}
