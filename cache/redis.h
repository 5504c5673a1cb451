/* cache/redis.h — one Redis connection with short timeouts and lazy reconnect.
 *
 * A cache_redis_t wraps a hiredis (>= 1.0) context for one thread, over TCP
 * or TLS (server verified by CA and name, optional client certificate), as
 * an ACL user or with a password only. Name resolution, connect and the TLS
 * handshake together are bounded by connect_timeout_ms (cache/resolve.h);
 * every command is synchronous but bounded by a short timeout; when Redis is
 * unreachable the calls fail fast with CACHE_E_DOWN and the connection is
 * retried at most once per backoff interval (exponential, with jitter), so an
 * event loop that calls us never stalls on a dead server — or at once, when
 * another connection of the process has connected since (Redis is back).
 * Callers then fall back to local state. Lua scripts are loaded with SCRIPT
 * LOAD and run with EVALSHA; a NOSCRIPT answer (Redis restarted or flushed)
 * reloads and retries once.
 *
 * A failed connect (refused, unresolvable host, bad certificate, wrong
 * password) is logged once, on the transition to down, with its reason.
 *
 * hiredis writes with write(2) (and OpenSSL on the socket): the process must
 * ignore SIGPIPE (main does, before any thread starts), or a server that closes
 * the connection kills it.
 *
 * Thread rules: a cache_redis_t belongs to the thread that uses it (hiredis
 * contexts cannot be shared). cache_redis_down_count() is process-wide and
 * may be read from any thread (for /readyz).
 */
#ifndef BITMON_CACHE_REDIS_H
#define BITMON_CACHE_REDIS_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Status codes shared by every cache/ module:
 *   CACHE_E_DOWN      Redis unreachable or connection lost (transient)
 *   CACHE_E_REPLY     Redis answered with an error or an odd reply
 *   CACHE_E_ARG       bad argument from the caller
 *   CACHE_E_REFUSED   not written on purpose (e.g. non-authoritative)
 *   CACHE_E_NOTFOUND  no such entry
 *   CACHE_E_CRYPTO    decryption/authentication failed
 *   CACHE_E_IO        local file error */
#define CACHE_OK         0
#define CACHE_E_DOWN     (-1)
#define CACHE_E_REPLY    (-2)
#define CACHE_E_ARG      (-3)
#define CACHE_E_REFUSED  (-4)
#define CACHE_E_NOTFOUND (-5)
#define CACHE_E_CRYPTO   (-6)
#define CACHE_E_IO       (-7)

typedef struct cache_redis_opts {
        const char *host;     /* default "127.0.0.1" */
        int port;             /* default 6379 */
        const char *user;     /* ACL user; NULL/"" = "AUTH password" form */
        const char *password; /* NULL/"" = no AUTH; never logged */
        /* File holding the password, read at every connect (a rotated
         * Secret applies on the next reconnect); excludes password. */
        const char *password_file;
        bool tls;                    /* TLS instead of plain TCP */
        const char *tls_ca_file;     /* PEM CAs; with ca_dir unset both = */
        const char *tls_ca_dir;      /* ... the system store */
        const char *tls_cert_file;   /* client certificate (PEM), or NULL */
        const char *tls_key_file;    /* its key, with tls_cert_file */
        const char *tls_server_name; /* SNI + name checked; default host */
        int db;                      /* SELECT db when > 0 */
        const char *prefix;     /* prepended to every key; default "bitmon:" */
        int connect_timeout_ms; /* default 200 */
        int command_timeout_ms; /* default 100 */
        int backoff_min_ms;     /* first reconnect delay; default 250 */
        int backoff_max_ms;     /* cap; default 10000 */
        const char *name; /* for log lines ("worker-3"); default "redis" */
        /* Called on every up/down transition, from the owning thread, with
         * the reason when down (no secrets in it) — e.g. for health_set. */
        void (*on_state)(void *opaque, bool up, const char *reason);
        void *opaque;
} cache_redis_opts_t;

typedef struct cache_redis cache_redis_t;

/* A Lua script: static text; its SHA1 is learnt per connection. */
typedef struct cache_script {
        const char *name; /* for error messages */
        const char *src;
} cache_script_t;

/* Creates the wrapper and tries to connect once; a failed first connect is
 * not an error (the wrapper starts down and retries with backoff). Copies
 * every string in opts. Returns NULL only on bad options, TLS files that
 * cannot be loaded, or out of memory (reason in errstr). Caller frees with
 * cache_redis_destroy. */
cache_redis_t *cache_redis_new(const cache_redis_opts_t *opts, char *errstr,
                               size_t errstr_size);
void cache_redis_destroy(cache_redis_t *rc);

/* True when the last command (or connect) succeeded. */
bool cache_redis_is_up(const cache_redis_t *rc);

/* For a connection that may sit idle, called about once a second. When
 * down and the backoff interval has run out, tries to connect now, as the
 * next command would (else it stays down, and counted below, until its
 * next command). When up but nothing was heard from Redis for
 * CACHE_REDIS_PROBE_IDLE_MS, a PING: a server that restarted or closed the
 * connection is found now, not by the next command (which would be lost),
 * and the replies of fire-and-forget commands are read. Returns
 * cache_redis_is_up. */
#define CACHE_REDIS_PROBE_IDLE_MS 1000
bool cache_redis_probe(cache_redis_t *rc);

/* Number of cache_redis_t objects in this process that are down now. */
int cache_redis_down_count(void);

/* The key prefix (borrowed, lives as long as rc). */
const char *cache_redis_prefix(const cache_redis_t *rc);

/* Runs one command (hiredis format: %s, %b, %lld ...). On success returns
 * CACHE_OK and *out = the reply (caller frees with freeReplyObject); an error
 * reply from Redis gives CACHE_E_REPLY with its text in errstr and no reply.
 * When down and inside the backoff interval: CACHE_E_DOWN without I/O. */
int cache_redis_cmd(cache_redis_t *rc, redisReply **out, char *errstr,
                    size_t errstr_size, const char *fmt, ...);

/* The same with an argument vector (binary safe). */
int cache_redis_cmd_argv(cache_redis_t *rc, redisReply **out, char *errstr,
                         size_t errstr_size, int argc, const char **argv,
                         const size_t *argvlen);

#define CACHE_EVAL_MAX_ARGS 2048

/* EVALSHA script with nkeys keys followed by the other args (argv holds
 * keys then args, at most CACHE_EVAL_MAX_ARGS). Loads the script on first use
 * and again on NOSCRIPT. */
int cache_redis_eval(cache_redis_t *rc, const cache_script_t *script, int nkeys,
                     int argc, const char **argv, const size_t *argvlen,
                     redisReply **out, char *errstr, size_t errstr_size);

/* Fire-and-forget forms, for writes nobody waits on (cache stores, lease
 * releases, validity facts, done markers): the command is written at once
 * and its reply is read together with the next command's (or when 64 are
 * unread), so it costs no round trip of its own. An error reply is then
 * logged with `what` (a static string) and otherwise ignored; a NOSCRIPT
 * makes the next use of the script load it again. Returns CACHE_OK once
 * written; else as cache_redis_cmd. Whether the command ran is unknown when
 * the connection drops before its reply is read. */
int cache_redis_send_argv(cache_redis_t *rc, const char *what, int argc,
                          const char **argv, const size_t *argvlen,
                          char *errstr, size_t errstr_size);
int cache_redis_eval_send(cache_redis_t *rc, const cache_script_t *script,
                          int nkeys, int argc, const char **argv,
                          const size_t *argvlen, char *errstr,
                          size_t errstr_size);

/* With on, the fire-and-forget forms only queue their command (up to 64 KiB
 * of them): it goes out with the next command waited for, in the same
 * write, or at cache_redis_flush — which the owner must then call before
 * its thread sleeps (an event loop: once per turn), or the writes wait.
 * cache_redis_destroy flushes. Off by default. */
void cache_redis_defer_writes(cache_redis_t *rc, bool on);

/* Writes the queued commands now (without waiting for replies). CACHE_OK
 * when nothing is queued; a failed write drops the connection (as any
 * command would) and the queued commands are lost. */
int cache_redis_flush(cache_redis_t *rc, char *errstr, size_t errstr_size);

/* Builds "<prefix><formatted>" into buf. Returns the length, or -1 when it
 * does not fit. */
int cache_redis_key(const cache_redis_t *rc, char *buf, size_t size,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif
