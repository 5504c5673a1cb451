/* cache/logref.h — where the copy of a build's whole log is, by build and
 * by job, so that `bitmon log APP/BUILD` and `bitmon log --job ID` find it
 * without reading the results topic (issue 13). The value is the JSON of a
 * result's log.full (producer/logseg.h); keys `logref:build:<app>/<build>`
 * (the newest copy) and `logref:job:<job_id>`, with the logs topic's
 * retention as TTL. Written fire-and-forget when a `log: full` job's
 * result is handed over; losing them (Redis down, flushed) only costs the
 * lookup: the result still carries the reference.
 *
 * Threads: as the cache_redis_t used (one thread at a time).
 */
#ifndef BITMON_CACHE_LOGREF_H
#define BITMON_CACHE_LOGREF_H

#include <stddef.h>

#include "cache/redis.h"
#include "common/buf.h"

/* Stores json (the reference) for app/build and for job_id (NULL: only the
 * build). CACHE_OK or < 0 with errstr. */
int cache_logref_put(cache_redis_t *rc, const char *app_slug,
                     const char *build_slug, const char *job_id,
                     const char *json, int ttl_s, char *errstr,
                     size_t errstr_size);

/* The reference of build "app/build" (by = "build") or of a job (by =
 * "job") into out. 1 found, 0 not there, < 0 with errstr. */
int cache_logref_get(cache_redis_t *rc, const char *by, const char *id,
                     buf_t *out, char *errstr, size_t errstr_size);

#endif
