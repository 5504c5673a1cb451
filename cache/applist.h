/* cache/applist.h — what the pods share to follow an app's builds with few
 * calls: one list call per app and interval (a marker and a lease, like the
 * build cache's), the recent durations of each (app, workflow), and which
 * apps deliver webhooks.
 *
 *   applist:<app>          "<after>:<ms>": the `after` (Unix s) of the
 *                          last list call and when it was stored (Redis
 *                          TIME, ms), for one interval (SET PX); its builds
 *                          are in the build cache (build:<app>:<build>)
 *   applist:<app>:lease    who is making the list call now (SET NX PX)
 *   applist:<app>:after    the oldest `after` a preflight asked for within
 *                          need_ttl_ms (each caller lists from there, so
 *                          one call covers the builds of every process
 *                          and loop that follows the app)
 *   hist:<app>:<wf>        running times (ms) of the newest finished builds
 *                          of a workflow (LIST, newest first, at most
 *                          CACHE_HIST_MAX, 14 days); wf = 16 hex digits of
 *                          a hash of the workflow's name
 *   hist:<app>:seen:<build> a build's time was recorded (2 days)
 *   webhook:<app>          the app delivered a webhook recently (EX trust)
 *
 * Values are slugs, numbers and build JSON only: never a token. Thread
 * rules: stateless; use the calling thread's cache_redis_t.
 */
#ifndef BITMON_CACHE_APPLIST_H
#define BITMON_CACHE_APPLIST_H

#include <stddef.h>
#include <stdint.h>

#include "cache/redis.h"
#include "common/buf.h"

#define CACHE_HIST_MAX    20
#define CACHE_APPLIST_MAX 400 /* builds per preflight or store */

/* Before a list call for app whose parked builds need `after` <= *after_s:
 * when another process listed it within max_age_ms (marker), returns 1,
 * sets *age_ms to that list's age and appends the cached JSON of builds[i]
 * to jsons[i] (nothing where it is not cached); else returns 0 with *lease = 1
 * (taken for lease_ms by owner) or 0 (held by another), and *after_s
 * lowered to the oldest `after` any caller asked for within need_ttl_ms:
 * the call to make, whose marker then covers them all. < 0: CACHE_E_*
 * (Redis down: call anyway). */
int cache_applist_preflight(cache_redis_t *rc, const char *app,
                            int64_t *after_s, const char *const *builds,
                            size_t n, const char *owner, int lease_ms,
                            int max_age_ms, int need_ttl_ms, buf_t *jsons,
                            int64_t *age_ms, int *lease, char *errstr,
                            size_t errstr_size);

/* After our own list call, without waiting for the answer: stores the n
 * builds' JSON in the build cache for ttl_ms; mark = 1 sets the marker
 * (after_s, ttl_ms); release = 1 drops the lease if owner holds it. 0 once
 * sent, < 0 error. */
int cache_applist_store_send(cache_redis_t *rc, const char *app,
                             int64_t after_s, const char *const *builds,
                             const char *const *jsons, const size_t *lens,
                             size_t n, int ttl_ms, int mark, int release,
                             const char *owner, char *errstr,
                             size_t errstr_size);

/* Up to max recent running times of (app, workflow), newest first, into
 * out. Returns how many (0 none), or < 0 CACHE_E_*. */
int cache_history_get(cache_redis_t *rc, const char *app, const char *workflow,
                      int64_t *out, int max, char *errstr, size_t errstr_size);

/* Records the running time of build (once per build, whoever sees its end
 * first), without waiting. 0 once sent, < 0 error. */
int cache_history_add_send(cache_redis_t *rc, const char *app,
                           const char *workflow, const char *build,
                           int64_t duration_ms, char *errstr,
                           size_t errstr_size);

/* The app delivered a webhook: mark it for ttl_s, without waiting. */
int cache_webhook_mark_send(cache_redis_t *rc, const char *app, int ttl_s,
                            char *errstr, size_t errstr_size);

/* 1 when the app is marked as delivering webhooks, 0 when not, < 0 error. */
int cache_webhook_check(cache_redis_t *rc, const char *app, char *errstr,
                        size_t errstr_size);

#endif
