/* cache/resolve.h — host name resolution with a deadline.
 *
 * getaddrinfo(3) has no timeout: with an unreachable DNS server it blocks for
 * resolv.conf's timeout × attempts (10 s and more), and hiredis calls it
 * inside redisConnect. cache_resolve runs it on a detached helper thread and
 * waits at most timeout_ms; a lookup still running when the wait ends is
 * abandoned (its thread frees its own state when getaddrinfo returns).
 * Numeric addresses are parsed at once, without a thread.
 *
 * Thread rules: any thread may call it; it shares no state between calls.
 */
#ifndef BITMON_CACHE_RESOLVE_H
#define BITMON_CACHE_RESOLVE_H

#include <netinet/in.h>
#include <stddef.h>

#define CACHE_RESOLVE_MAX 4 /* addresses returned at most */

typedef struct cache_addrs {
        int n;
        char ip[CACHE_RESOLVE_MAX][INET6_ADDRSTRLEN]; /* numeric, for hiredis */
} cache_addrs_t;

/* Resolves host (a name or a numeric IPv4/IPv6 address) to up to
 * CACHE_RESOLVE_MAX TCP addresses, in getaddrinfo's order. Returns 0, or -1
 * with the reason in errstr ("cannot resolve NAME: no answer within N ms" or
 * getaddrinfo's message). */
int cache_resolve(const char *host, int timeout_ms, cache_addrs_t *out,
                  char *errstr, size_t errstr_size);

#endif
