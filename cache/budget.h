/* cache/budget.h — the shared request budget of each Bitrise token.
 *
 * Every pod asks before each Bitrise call: cache_budget_take answers 0 ("go
 * now") or the milliseconds to wait before asking again. Nothing here sleeps
 * or spins: the caller arms a timer (adding its own jitter) and asks again.
 *
 * State lives in Redis, one hash per token fingerprint (`budget:<fp>`), and is
 * changed only by atomic Lua scripts whose clock is Redis `TIME`, so all pods
 * share one token bucket (rate per second, burst) per token and one
 * workspace's exhausted budget never delays another's. On top of the bucket:
 *   - X-RateLimit-Remaining/Reset, when Bitrise sends them, cap the requests
 *     until Reset (cache_budget_on_headers);
 *   - a 429 blocks the token for every pod until Retry-After, or for an
 *     exponential backoff kept per token when there is none; after the block
 *     the bucket refills from empty (cache_budget_on_429).
 * Rate and burst come from the options, with per-workspace overrides.
 *
 * When Redis is down (or errs), each process falls back to a local bucket per
 * token at rate / expected_replicas (burst likewise, at least 1), reports
 * itself degraded, and goes back to the shared state as soon as the calling
 * thread's connection answers again (cache/redis.h reconnects by itself).
 * A local bucket starts empty each time the process becomes degraded (what
 * the shared bucket had left is unknown: the others may have spent it). The
 * process switches as a whole: while another thread's connection answered
 * within BUDGET_SHARED_GRACE_MS, a thread whose connection is down waits
 * (BUDGET_SHARED_RETRY_MS) for its own to come back instead of taking from
 * the local bucket beside the shared one.
 *
 * Thread rules: one cache_budget_t per process, shared by all threads (its
 * options are immutable; the local fallback table has its own mutex). Each
 * call takes the calling thread's own cache_redis_t.
 */
#ifndef BITMON_CACHE_BUDGET_H
#define BITMON_CACHE_BUDGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache/fingerprint.h"
#include "cache/redis.h"
#include "cache/validity.h"

#define BUDGET_SHARED_GRACE_MS 2000
#define BUDGET_SHARED_RETRY_MS 250
#define BUDGET_LOCAL_IDLE_MS   5000

typedef struct cache_budget_override {
        const char *workspace;
        double rate;  /* requests per second; > 0 */
        double burst; /* >= 1 */
} cache_budget_override_t;

typedef struct cache_budget_opts {
        double rate;           /* requests per second per token; default 1 */
        double burst;          /* bucket size; default 20 */
        int expected_replicas; /* pods sharing a token; default 1 */
        int backoff_min_ms;    /* 429 without Retry-After; default 1000 */
        int backoff_max_ms;    /* cap of that backoff; default 60000 */
        int max_wait_ms;       /* cap on any answer; default 600000 */
        const cache_budget_override_t *overrides; /* copied */
        size_t n_overrides;
} cache_budget_opts_t;

typedef struct cache_budget cache_budget_t;

/* Validates and copies opts. Returns NULL with errstr on bad options (a rate
 * or burst out of range, a duplicate override). Free with
 * cache_budget_destroy. */
cache_budget_t *cache_budget_new(const cache_budget_opts_t *opts, char *errstr,
                                 size_t errstr_size);
void cache_budget_destroy(cache_budget_t *b);

/* Takes one request from the token's budget. Returns 0 when the call may go
 * now (the request is counted), else the wait in ms (> 0) before asking
 * again. rc may be NULL (local limiter only). Never fails: on a Redis error
 * the local fallback answers. workspace selects overrides (may be NULL). */
int64_t cache_budget_take(cache_budget_t *b, cache_redis_t *rc,
                          const cache_fp_t *fp, const char *workspace);

/* cache_budget_take with the token's cached validity (cache/validity.h)
 * read in the same Redis round trip: *verdict is what cache_validity_get
 * would say for (fp, app_slug; NULL = token only). When it is INVALID or
 * INSUFFICIENT_ROLE no request is taken and 0 is returned: the caller must
 * not make the call. On a Redis error *verdict is UNKNOWN and the local
 * fallback answers, as in cache_budget_take. */
int64_t cache_budget_take_checked(cache_budget_t *b, cache_redis_t *rc,
                                  const cache_fp_t *fp, const char *workspace,
                                  const char *app_slug,
                                  cache_validity_t *verdict);

/* cache_budget_take_checked for a background request (a scheduled list
 * call): it goes only while more than share (0..1) times half the burst
 * stays in the bucket, so requests that finish a build (/log) and hints
 * never wait behind polls; polls get what is left, and a caller that has
 * waited long passes a smaller share to get its turn. The local fallback
 * has no reserve. */
int64_t cache_budget_take_background(cache_budget_t *b, cache_redis_t *rc,
                                     const cache_fp_t *fp,
                                     const char *workspace,
                                     const char *app_slug, double share,
                                     cache_validity_t *verdict);

/* Records a 429. retry_after is the Retry-After header value (seconds or an
 * HTTP date) or NULL when absent. Returns the block length in ms. */
int64_t cache_budget_on_429(cache_budget_t *b, cache_redis_t *rc,
                            const cache_fp_t *fp, const char *retry_after);

/* Adopts X-RateLimit-Remaining and -Reset (header values, NULL when absent;
 * Reset above 10^9 is epoch seconds, else seconds from now). Until Reset, at
 * most Remaining more requests go out across all pods (the latest answer
 * wins; Remaining 0 waits for Reset). Returns 0, or
 * CACHE_E_ARG when the values do not parse (nothing adopted). */
int cache_budget_on_headers(cache_budget_t *b, cache_redis_t *rc,
                            const cache_fp_t *fp, const char *remaining,
                            const char *reset);

/* True when the most recent answer (of any thread) came from the local
 * fallback, within the last BUDGET_LOCAL_IDLE_MS (a process that has not
 * asked since is not using a local budget, whatever it used last); for
 * metrics and /readyz. Any thread. */
bool cache_budget_degraded(const cache_budget_t *b);

/* Once per process, at its first contact with Redis: marks that Redis as
 * known to bitmon (`budget:epoch` 0, NX), so its missing buckets are full.
 * A Redis that lost its state later has no mark; its buckets then fill from
 * the first take after the loss instead of starting full. Every take calls
 * it; scripts that take from the budget with other work call it first. */
void cache_budget_meet(cache_budget_t *b, cache_redis_t *rc);

/* The key of the token's budget hash into key: 0, or -1 when it does not
 * fit. For scripts that take from the budget with other work. */
int cache_budget_key(cache_redis_t *rc, const cache_fp_t *fp, char *key,
                     size_t size);

/* For scripts that take from the budget with other work: the wait a script
 * answered, capped as cache_budget_take caps it (< 0 = 0); it also marks the
 * shared budget as answering again. */
int64_t cache_budget_shared_wait(cache_budget_t *b, const cache_fp_t *fp,
                                 int64_t wait);

/* The rate/burst in effect for a workspace (overrides applied). */
void cache_budget_limits(const cache_budget_t *b, const char *workspace,
                         double *rate, double *burst);

/* Parses the budget.overrides setting, "WS=RATE:BURST[,WS=RATE:BURST...]"
 * ("" = none), into a malloc'd array (*out, *n) for cache_budget_opts_t;
 * free it with cache_budget_overrides_free. 0, or CACHE_E_ARG with errstr
 * naming the bad entry. */
int cache_budget_overrides_parse(const char *spec,
                                 cache_budget_override_t **out, size_t *n,
                                 char *errstr, size_t errstr_size);
void cache_budget_overrides_free(cache_budget_override_t *ov, size_t n);

/* The Lua scripts (embedded; documented in cache/budget_lua.c). */
extern const cache_script_t cache_budget_script_take;
extern const cache_script_t cache_budget_script_take_checked;
extern const cache_script_t cache_budget_script_block;
extern const cache_script_t cache_budget_script_observe;

#endif
