/* cache/buildcache.h — shared build status cache and job done markers.
 *
 * Several jobs watching one build (on any pods) should cost one Bitrise call
 * per poll interval. The latest build JSON is kept for one interval
 * (`build:<app>:<build>`, SET PX); before calling Bitrise a worker takes a
 * short lease (`...:lease`, SET NX PX) so one pod at a time refreshes, and the
 * others read the cache (or wait a little) instead:
 *
 *     hit = cache_build_get(...)          -> use it
 *     miss: cache_build_lease_try(...)    -> 1: call Bitrise, then
 *           cache_build_store + cache_build_lease_release
 *                                          0: someone else refreshes; retry
 *                                             the get shortly
 *
 * cache_build_get_lease and cache_build_store_release do the same in one
 * round trip each (a script).
 *     Redis down (< 0): call Bitrise yourself.
 *
 * Done markers (`done:<job_id>`) let a redelivered job whose terminal result
 * was already published be skipped; they expire after ttl (default 7 days).
 * Values are build JSON and timestamps only: never a token.
 *
 * Thread rules: stateless; use the calling thread's cache_redis_t.
 */
#ifndef BITMON_CACHE_BUILDCACHE_H
#define BITMON_CACHE_BUILDCACHE_H

#include <stddef.h>

#include "cache/redis.h"
#include "common/buf.h"

#define CACHE_BUILD_MAX_JSON     (1024 * 1024) /* larger values are refused */
#define CACHE_DONE_TTL_S_DEFAULT (7 * 24 * 3600)

/* Reads the cached build JSON into out (appended; out's cap applies).
 * Returns 1 on a hit, 0 on a miss, or a negative CACHE_E_* error. */
int cache_build_get(cache_redis_t *rc, const char *app, const char *build,
                    buf_t *out, char *errstr, size_t errstr_size);

/* Stores the build JSON for ttl_ms (the poll interval). 0 or < 0. */
int cache_build_store(cache_redis_t *rc, const char *app, const char *build,
                      const char *json, size_t len, int ttl_ms, char *errstr,
                      size_t errstr_size);

/* Tries to take the refresh lease for lease_ms, naming the holder `owner`
 * (e.g. "pod-7/worker-2"; no secrets). Returns 1 when taken, 0 when another
 * holder has it, < 0 on error. */
int cache_build_lease_try(cache_redis_t *rc, const char *app, const char *build,
                          const char *owner, int lease_ms, char *errstr,
                          size_t errstr_size);

/* Releases the lease if `owner` still holds it (atomic compare-and-delete).
 * Returns 1 released, 0 not ours (expired or taken over), < 0 error. */
int cache_build_lease_release(cache_redis_t *rc, const char *app,
                              const char *build, const char *owner,
                              char *errstr, size_t errstr_size);
/* The same without waiting for the answer (cache_redis_eval_send): 0 once
 * sent, < 0 error. */
int cache_build_lease_release_send(cache_redis_t *rc, const char *app,
                                   const char *build, const char *owner,
                                   char *errstr, size_t errstr_size);

/* cache_build_get and, on a miss, cache_build_lease_try in one round trip
 * (one script). Returns 1 on a hit (JSON appended to out; the lease is not
 * tried), 0 on a miss with *lease = 1 taken or 0 held by another, or a
 * negative CACHE_E_* error (*lease untouched). */
int cache_build_get_lease(cache_redis_t *rc, const char *app, const char *build,
                          const char *owner, int lease_ms, buf_t *out,
                          int *lease, char *errstr, size_t errstr_size);

/* cache_build_store and cache_build_lease_release in one round trip (one
 * script): stores the JSON for ttl_ms, then releases the lease if `owner`
 * still holds it. Returns 1 stored and released, 0 stored (the lease was
 * not ours), < 0 error (nothing is known to have happened). */
int cache_build_store_release(cache_redis_t *rc, const char *app,
                              const char *build, const char *json, size_t len,
                              int ttl_ms, const char *owner, char *errstr,
                              size_t errstr_size);
/* The same without waiting for the answer (cache_redis_eval_send): 0 once
 * sent, < 0 error. */
int cache_build_store_release_send(cache_redis_t *rc, const char *app,
                                   const char *build, const char *json,
                                   size_t len, int ttl_ms, const char *owner,
                                   char *errstr, size_t errstr_size);

/* Both keys of a build, value and lease, into key and lkey (`size` bytes
 * each), after checking the slugs and owner: for scripts that use them with
 * other keys (cache/preflight.h). 0 or CACHE_E_ARG. */
int cache_build_keys(cache_redis_t *rc, char *key, char *lkey, size_t size,
                     const char *app, const char *build, const char *owner,
                     char *errstr, size_t errstr_size);

/* Marks job_id done for ttl_s seconds (<= 0: the 7-day default), without
 * waiting for the answer (cache_redis_send_argv): 0 once sent. */
int cache_done_mark(cache_redis_t *rc, const char *job_id, int ttl_s,
                    char *errstr, size_t errstr_size);

/* Returns 1 when job_id is marked done, 0 when not, < 0 on error. */
/* cache_done_check for n jobs in one MGET: out[i] = 1 (done), 0, or < 0
 * (every out[i] the error when Redis cannot answer, or an invalid id's
 * CACHE_E_ARG). Returns CACHE_OK or the error. */
int cache_done_check_many(cache_redis_t *rc, const char *const *job_ids,
                          size_t n, int *out, char *errstr, size_t errstr_size);
int cache_done_check(cache_redis_t *rc, const char *job_id, char *errstr,
                     size_t errstr_size);

#endif
