/* tests/integration/itest_cache_redis.h — a Redis for the cache/ tests.
 *
 * tredis_start uses $BITMON_TEST_REDIS (host:port, set by tests/run.sh) when
 * present and the test does not need to own the server; otherwise it starts
 * `redis-server` on a random free loopback port in a temporary dir. Servers
 * we start die with the test process (PR_SET_PDEATHSIG) and are killed at
 * exit. Every test uses its own key prefix, so runs never collide on a shared
 * server.
 */
#ifndef BITMON_ITEST_CACHE_REDIS_H
#define BITMON_ITEST_CACHE_REDIS_H

#include <arpa/inet.h>
#include <errno.h>
#include <hiredis/hiredis.h>
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

#include "common/rand.h"

typedef struct tredis {
        char host[64];
        int port;
        pid_t pid; /* 0 when not ours */
        char dir[128];
        char extra[256]; /* extra redis-server arguments, space separated */
} tredis_t;

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

static inline redisContext *tredis_raw(const tredis_t *t) {
        struct timeval tv = {1, 0};
        redisContext *c   = redisConnectWithTimeout(t->host, t->port, tv);
        if (c && c->err) {
                redisFree(c);
                return NULL;
        }
        if (c)
                redisSetTimeout(c, tv);
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
        static char extra[256];
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
