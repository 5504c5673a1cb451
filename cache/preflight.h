/* cache/preflight.h — everything a worker asks Redis before polling a build,
 * in one round trip.
 *
 * One script reads the build cache; on a miss takes the refresh lease
 * (cache/buildcache.h); reads the token's validity facts (cache/validity.h);
 * and, when the lease was taken and the facts do not refuse the call, takes
 * one request from the token's budget (cache/budget.h). Separately that is
 * three round trips (build cache + lease, validity + budget); the keys and
 * the rules are those of the three modules, unchanged:
 *
 *   hit                   the cached JSON, and the verdict (a cached build is
 *                         only for a token not known to be refused); no
 *                         lease, no budget taken
 *   refused               INVALID or INSUFFICIENT_ROLE: no lease, no budget
 *   lease held elsewhere  someone else refreshes: read the cache again soon
 *   lease taken, wait     the budget said wait: the lease is given back
 *   lease taken, go       call Bitrise, then cache_build_store_release
 *
 * Thread rules: stateless; use the calling thread's cache_redis_t.
 */
#ifndef BITMON_CACHE_PREFLIGHT_H
#define BITMON_CACHE_PREFLIGHT_H

#include <stdint.h>

#include "cache/budget.h"
#include "cache/redis.h"
#include "cache/validity.h"
#include "common/buf.h"

typedef enum {
        CACHE_PREFLIGHT_HIT = 1, /* JSON appended to out */
        CACHE_PREFLIGHT_REFUSED, /* see verdict */
        CACHE_PREFLIGHT_BUSY,    /* the lease is held by another */
        CACHE_PREFLIGHT_WAIT,    /* the budget says wait: see wait_ms */
        CACHE_PREFLIGHT_GO,      /* lease taken, one request taken */
} cache_preflight_kind_t;

typedef struct cache_preflight {
        cache_preflight_kind_t kind;
        cache_validity_t verdict; /* always set */
        int64_t wait_ms;          /* WAIT: > 0, capped like cache_budget_take */
} cache_preflight_t;

/* Runs the preflight for a poll of app/build by the token fp of workspace
 * (budget overrides), lease owner `owner` for lease_ms. Returns 0 with *pf
 * filled, or a negative CACHE_E_* (Redis down, odd reply, bad slug): then
 * nothing is known to have happened and the caller goes the separate way
 * (its calls fall back to local state as each module says). */
int cache_preflight(cache_redis_t *rc, cache_budget_t *b, const cache_fp_t *fp,
                    const char *workspace, const char *app, const char *build,
                    const char *owner, int lease_ms, buf_t *out,
                    cache_preflight_t *pf, char *errstr, size_t errstr_size);

/* The script (embedded). */
extern const cache_script_t cache_preflight_script;

#endif
