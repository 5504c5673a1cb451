/* cache/validity.h — what Bitrise last said about a token, shared by pods.
 *
 * Two facts are kept, both named by fingerprint (never the token):
 *   token level  `tok:<fp>:state`      "valid" or "invalid"  (2xx / 401)
 *   app level    `tok:<fp>:role:<app>` "insufficient_role"  (403 on an app)
 * A 403 is per app because a workspace token carries a role per app: the same
 * token may read logs of one app and not another. A 401 makes the token
 * invalid for every app. Each fact has its own TTL. A later 2xx does not
 * clear a role fact (a Tester reads builds but not logs): it expires after
 * role_ttl_s, which is also how a role upgrade is noticed.
 *
 * Only authoritative answers are written (2xx, 401, 403). Anything else —
 * network errors, timeouts, 404, 429, 5xx — is refused with CACHE_E_REFUSED,
 * so an outage never poisons the cache. A rotated token has a new
 * fingerprint and so needs no invalidation.
 *
 * Thread rules: stateless; use the calling thread's cache_redis_t.
 */
#ifndef BITMON_CACHE_VALIDITY_H
#define BITMON_CACHE_VALIDITY_H

#include <stddef.h>

#include "cache/fingerprint.h"
#include "cache/redis.h"

typedef enum {
        CACHE_VALIDITY_UNKNOWN = 0, /* nothing cached (or Redis down) */
        CACHE_VALIDITY_VALID,
        CACHE_VALIDITY_INVALID,           /* 401 seen: answer token_invalid */
        CACHE_VALIDITY_INSUFFICIENT_ROLE, /* 403 seen for this app */
} cache_validity_t;

typedef struct cache_validity_opts {
        int valid_ttl_s;   /* default 3600 */
        int invalid_ttl_s; /* default 300 (a re-issued token gets a new
                            * fingerprint anyway) */
        int role_ttl_s;    /* default 600 (roles are changed by admins) */
} cache_validity_opts_t;

/* Records the answer Bitrise gave to a call made with the token. http_status
 * is the HTTP status, or 0 for "no HTTP answer" (network error, timeout).
 * app_slug names the app the call was about; required for 403 (NULL for
 * app-less calls such as GET /apps). Returns CACHE_OK once sent (the reply
 * is not waited for: cache_redis_send_argv), CACHE_E_REFUSED for a
 * non-authoritative status (nothing written), CACHE_E_ARG, or a Redis error. */
int cache_validity_record(cache_redis_t *rc, const cache_validity_opts_t *opts,
                          const cache_fp_t *fp, const char *app_slug,
                          int http_status, char *errstr, size_t errstr_size);

/* Reads the cached verdict for the token and (when app_slug is not NULL) the
 * app: INVALID wins over INSUFFICIENT_ROLE, which wins over VALID. Returns
 * CACHE_OK with *out set, or a Redis error (then *out = UNKNOWN: the caller
 * asks Bitrise). */
int cache_validity_get(cache_redis_t *rc, const cache_fp_t *fp,
                       const char *app_slug, cache_validity_t *out,
                       char *errstr, size_t errstr_size);

/* The keys of the facts cache_validity_get reads, for scripts that read
 * them in the same round trip as other work: the token's into k_tok and,
 * when app_slug is not NULL, the app's into k_role (each `size` bytes).
 * Returns how many keys (1 or 2), or CACHE_E_ARG. */
int cache_validity_keys(const cache_redis_t *rc, const cache_fp_t *fp,
                        const char *app_slug, char *k_tok, char *k_role,
                        size_t size);

/* The verdict from the values of those keys (either reply may be NULL or
 * nil), with the precedence of cache_validity_get. */
cache_validity_t cache_validity_verdict(const redisReply *tok,
                                        const redisReply *role);

/* "valid", "invalid", "insufficient_role", "unknown". */
const char *cache_validity_name(cache_validity_t v);

#endif
