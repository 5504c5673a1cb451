/* cache/redis_tls.h — TLS for cache/redis.c's hiredis connections.
 *
 * One OpenSSL client context per cache_redis_t, made once from the redis.tls_*
 * options: TLS 1.2 or later, the peer's chain verified against the CA file
 * and/or directory (the system store when neither is given), an optional
 * client certificate, and the server's name checked against its certificate
 * (hiredis itself only sends SNI and checks no name).
 *
 * Thread rules: a context belongs to the cache_redis_t that made it and is
 * used from its thread only.
 */
#ifndef BITMON_CACHE_REDIS_TLS_H
#define BITMON_CACHE_REDIS_TLS_H

#include <hiredis/hiredis.h>
#include <stddef.h>

typedef struct redis_tls redis_tls_t;

typedef struct redis_tls_opts {
        const char *ca_file; /* PEM bundle; NULL/"" = none */
        const char *ca_dir; /* hashed CA directory (c_rehash); NULL/"" = none */
        const char
            *cert_file; /* client certificate chain (PEM); NULL/"" = none */
        const char *key_file; /* its private key (PEM); with cert_file */
} redis_tls_opts_t;

/* Loads CAs, certificate and key. NULL with the reason in errstr on a file
 * that cannot be read or a key that does not match its certificate. Caller
 * frees with redis_tls_destroy. */
redis_tls_t *redis_tls_new(const redis_tls_opts_t *o, char *errstr,
                           size_t errstr_size);
void redis_tls_destroy(redis_tls_t *t);

/* Runs the TLS handshake on the connected blocking context c (bounded by
 * c's socket timeouts) and verifies the peer as server_name (a host name or
 * a numeric address). 0, or -1 with a one-line reason in errstr ("certificate
 * verify failed: certificate has expired", "tls handshake failed: ..."). On
 * success c owns the TLS session; redisFree ends it. */
int redis_tls_start(redis_tls_t *t, redisContext *c, const char *server_name,
                    char *errstr, size_t errstr_size);

#endif
