/* tests/integration/itest_cache_redis.h — a Redis for the cache/ tests.
 *
 * tredis_start uses $BITMON_TEST_REDIS (host:port, set by tests/run.sh) when
 * present and the test does not need to own the server; otherwise it starts
 * `redis-server` on a random free loopback port in a temporary dir. Servers
 * we start die with the test process (PR_SET_PDEATHSIG) and are killed at
 * exit. Every test uses its own key prefix, so runs never collide on a shared
 * server.
 *
 * Over TLS: with $BITMON_TEST_REDIS_TLS_DIR set (ca.crt, client.crt,
 * client.key; tests/integration/redis_tls.sh sets it), the shared server is
 * reached over TLS as the ACL user $BITMON_TEST_REDIS_USER with password
 * $BITMON_TEST_REDIS_PASSWORD, both by tredis_opts (cache_redis_t) and by
 * tredis_raw (raw checks), so the same tests run over TLS unchanged.
 */
#ifndef BITMON_ITEST_CACHE_REDIS_H
#define BITMON_ITEST_CACHE_REDIS_H

#include <arpa/inet.h>
#include <errno.h>
#include <hiredis/hiredis.h>
#include <hiredis/hiredis_ssl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cache/redis.h"
#include "common/rand.h"

typedef struct tredis {
        char host[64];
        int port;
        pid_t pid; /* 0 when not ours */
        char dir[128];
        char extra[512]; /* extra redis-server arguments, space separated */
        bool tls;        /* the shared server, over TLS as the ACL user */
} tredis_t;

static char tredis_tls_files[3][256]; /* ca.crt, client.crt, client.key */

static inline const char *tredis_env(const char *name) {
        const char *v = getenv(name);
        return v && *v ? v : NULL;
}

/* The TLS files under $BITMON_TEST_REDIS_TLS_DIR; false when unset. */
static inline bool tredis_tls_env(void) {
        const char *dir = tredis_env("BITMON_TEST_REDIS_TLS_DIR");
        if (!dir)
                return false;
        const char *names[3] = {"ca.crt", "client.crt", "client.key"};
        for (int i = 0; i < 3; i++)
                snprintf(tredis_tls_files[i], sizeof(tredis_tls_files[i]),
                         "%s/%s", dir, names[i]);
        return true;
}

/* Options for t: host and port, and TLS + ACL user when t->tls. */
static inline cache_redis_opts_t tredis_opts(const tredis_t *t) {
        cache_redis_opts_t o = {.host = t->host, .port = t->port};
        if (t->tls) {
                o.tls           = true;
                o.tls_ca_file   = tredis_tls_files[0];
                o.tls_cert_file = tredis_tls_files[1];
                o.tls_key_file  = tredis_tls_files[2];
                o.user          = tredis_env("BITMON_TEST_REDIS_USER");
                o.password      = tredis_env("BITMON_TEST_REDIS_PASSWORD");
        }
        return o;
}

static pid_t tredis_pids[8];

static inline double t_scale(void) {
        const char *s = getenv("BITMON_TEST_TIMEOUT_SCALE");
        double v      = s ? strtod(s, NULL) : 1.0;
        return v >= 1.0 ? v : 1.0;
}

static inline void t_sleep_ms(int64_t ms) {
        struct timespec ts = {.tv_sec  = ms / 1000,
                              .tv_nsec = (long)(ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
                ;
}

static inline void tredis_atexit(void) {
        for (int i = 0; i < 8; i++) {
                if (tredis_pids[i] > 0) {
                        kill(tredis_pids[i], SIGKILL);
                        waitpid(tredis_pids[i], NULL, 0);
                        tredis_pids[i] = 0;
                }
        }
}

static inline int tredis_free_port(void) {
        int fd               = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET};
        socklen_t len        = sizeof(a);
        a.sin_addr.s_addr    = htonl(INADDR_LOOPBACK);
        if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
            getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
                if (fd >= 0)
                        close(fd);
                return -1;
        }
        close(fd);
        return ntohs(a.sin_port);
}

/* TLS and AUTH on a raw context of the shared TLS server; 0 or -1. */
static inline int tredis_raw_tls(redisContext *c) {
        static redisSSLContext *ssl;
        if (!ssl)
                ssl = redisCreateSSLContext(tredis_tls_files[0], NULL,
                                            tredis_tls_files[1],
                                            tredis_tls_files[2], NULL, NULL);
        if (!ssl || redisInitiateSSLWithContext(c, ssl) != REDIS_OK)
                return -1;
        redisReply *r =
            redisCommand(c, "AUTH %s %s", tredis_env("BITMON_TEST_REDIS_USER"),
                         tredis_env("BITMON_TEST_REDIS_PASSWORD"));
        int rv = r && r->type == REDIS_REPLY_STATUS ? 0 : -1;
        if (r)
                freeReplyObject(r);
        return rv;
}

static inline redisContext *tredis_raw(const tredis_t *t) {
        struct timeval tv = {1, 0};
        redisContext *c   = redisConnectWithTimeout(t->host, t->port, tv);
        if (c && !c->err)
                redisSetTimeout(c, tv);
        if (c && (c->err || (t->tls && tredis_raw_tls(c) != 0))) {
                redisFree(c);
                return NULL;
        }
        return c;
}

static inline bool tredis_ping(const tredis_t *t, const char *auth) {
        redisContext *c = tredis_raw(t);
        if (!c)
                return false;
        redisReply *r = auth ? redisCommand(c, "AUTH %s", auth) : NULL;
        if (r)
                freeReplyObject(r);
        r       = redisCommand(c, "PING");
        bool ok = r && r->type == REDIS_REPLY_STATUS;
        if (r)
                freeReplyObject(r);
        redisFree(c);
        return ok;
}

/* Starts redis-server on t->port (0 = pick one). auth: password for PING
 * when extra sets requirepass. Returns 0 or -1. */
static inline int tredis_spawn(tredis_t *t, const char *auth) {
        char port_s[16];
        const char *argv[40];
        int argc = 0;
        if (!t->dir[0]) {
                snprintf(t->dir, sizeof(t->dir),
                         "/tmp/bitmon-itest-redis.XXXXXX");
                if (!mkdtemp(t->dir))
                        return -1;
        }
        if (t->port == 0)
                t->port = tredis_free_port();
        snprintf(t->host, sizeof(t->host), "127.0.0.1");
        snprintf(port_s, sizeof(port_s), "%d", t->port);
        static char extra[512];
        snprintf(extra, sizeof(extra), "%s", t->extra);
        argv[argc++] = "redis-server";
        argv[argc++] = "--port";
        argv[argc++] = port_s;
        argv[argc++] = "--bind";
        argv[argc++] = "127.0.0.1";
        argv[argc++] = "--save";
        argv[argc++] = "";
        argv[argc++] = "--appendonly";
        argv[argc++] = "no";
        argv[argc++] = "--dir";
        argv[argc++] = t->dir;
        char *save   = NULL;
        for (char *w = strtok_r(extra, " ", &save); w && argc < 38;
             w       = strtok_r(NULL, " ", &save))
                argv[argc++] = w;
        argv[argc] = NULL;
        pid_t pid  = fork();
        if (pid < 0)
                return -1;
        if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                FILE *f = freopen("/dev/null", "w", stdout);
                (void)f;
                char *args[40];
                for (int i = 0; i <= argc; i++)
                        args[i] = argv[i] ? strdup(argv[i]) : NULL;
                execvp("redis-server", args);
                _exit(127);
        }
        t->pid = pid;
        for (int i = 0; i < 8; i++) {
                if (tredis_pids[i] == 0) {
                        tredis_pids[i] = pid;
                        break;
                }
        }
        static int registered;
        if (!registered++)
                atexit(tredis_atexit);
        for (int i = 0; i < 100 * (int)t_scale(); i++) {
                if (tredis_ping(t, auth))
                        return 0;
                t_sleep_ms(50);
        }
        return -1;
}

/* A Redis for the test: the shared one unless own, else a fresh server. */
static inline int tredis_start(tredis_t *t, bool own) {
        memset(t, 0, sizeof(*t));
        const char *env = getenv("BITMON_TEST_REDIS");
        if (env && *env && !own) {
                const char *colon = strrchr(env, ':');
                if (colon && colon > env &&
                    (size_t)(colon - env) < sizeof(t->host)) {
                        memcpy(t->host, env, (size_t)(colon - env));
                        t->port = (int)strtol(colon + 1, NULL, 10);
                        t->tls  = tredis_tls_env();
                        if (tredis_ping(t, NULL))
                                return 0;
                }
        }
        memset(t, 0, sizeof(*t));
        for (int attempt = 0; attempt < 3; attempt++) {
                if (tredis_spawn(t, NULL) == 0)
                        return 0;
                t->port = 0; /* the free port may have been taken: retry */
        }
        return -1;
}

/* SIGKILL our server (the port stays reserved for tredis_restart). */
static inline void tredis_kill(tredis_t *t) {
        if (t->pid <= 0)
                return;
        kill(t->pid, SIGKILL);
        waitpid(t->pid, NULL, 0);
        for (int i = 0; i < 8; i++)
                if (tredis_pids[i] == t->pid)
                        tredis_pids[i] = 0;
        t->pid = 0;
}

static inline int tredis_restart(tredis_t *t) {
        return tredis_spawn(t, NULL);
}

static inline void tredis_stop(tredis_t *t) {
        tredis_kill(t);
        if (t->dir[0]) {
                char cmd[256];
                snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->dir);
                if (system(cmd) != 0)
                        fprintf(stderr, "cannot remove %s\n", t->dir);
                t->dir[0] = '\0';
        }
}

/* A key prefix unique to this process and call. */
static inline void t_prefix(char *buf, size_t size, const char *what) {
        snprintf(buf, size, "itest:%s:%d:%08llx:", what, (int)getpid(),
                 (unsigned long long)(rand_u64() & 0xffffffffULL));
}

/* Runs a command on a raw context and returns its integer (or -999). */
static inline long long t_raw_int(redisContext *c, const char *fmt,
                                  const char *arg) {
        redisReply *r = redisCommand(c, fmt, arg);
        long long v   = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -999;
        if (r)
                freeReplyObject(r);
        return v;
}

#endif
