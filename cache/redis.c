/* cache/redis.c — hiredis context with bounded resolve, connect and
 * commands, optional TLS, lazy reconnect with exponential backoff + jitter,
 * AUTH/SELECT, and EVALSHA with NOSCRIPT reload.
 */
#include "cache/redis.h"

#if !defined(HIREDIS_MAJOR) || HIREDIS_MAJOR < 1
#error "bitmon needs hiredis >= 1.0 (TLS): run scripts/deps.sh"
#endif

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

#include "cache/redis_tls.h"
#include <hiredis/sds.h>

#include "cache/resolve.h"
#include "common/log.h"
#include "common/rand.h"
#include "common/timeutil.h"

#define MAX_SCRIPTS 8
#define MAX_UNREAD  64 /* sent commands whose replies are still unread */
#define MAX_DEFER   (64 * 1024) /* deferred bytes written at once beyond */
#define MAX_SECRET  1024        /* redis.password_file: bytes read at most */

struct cache_redis {
        redisContext *c; /* NULL while down */
        char *host, *user, *password, *password_file, *prefix, *name;
        redis_tls_t *tls;  /* NULL = plain TCP */
        char *server_name; /* TLS: name the certificate must carry */
        int port, db;
        int connect_timeout_ms, command_timeout_ms;
        int backoff_min_ms, backoff_max_ms;
        void (*on_state)(void *opaque, bool up, const char *reason);
        void *opaque;
        bool up;
        char last_err[192];      /* why we are down (no secrets in it) */
        int64_t backoff_ms;      /* current reconnect delay; 0 after success */
        int64_t next_attempt_ms; /* monotonic; no connect before this */
        struct {
                const cache_script_t *script;
                char sha[41];
        } scripts[MAX_SCRIPTS];
        int nscripts;
        /* Fire-and-forget commands (cache_redis_send_argv), oldest first:
         * what they were, and the script slot (-1 none) to reload when
         * the reply says NOSCRIPT. */
        struct {
                const char *what;
                int slot;
        } unread[MAX_UNREAD];
        int nunread;
        bool defer;        /* cache_redis_defer_writes */
        int64_t heard_ms;  /* monotonic: the last reply read */
        unsigned connects; /* `connects` when this one last connected or
                            * failed to */
};

static atomic_int down_count;
/* Bumped by every connect that succeeds: a connection that is down and
 * sees it moved tries at once instead of waiting out its backoff (Redis is
 * back for one connection of the process, so for all of them). */
static atomic_uint connects;

int cache_redis_down_count(void) {
        return atomic_load(&down_count);
}

static struct timeval ms_to_tv(int ms) {
        struct timeval tv = {.tv_sec  = ms / 1000,
                             .tv_usec = (ms % 1000) * 1000};
        return tv;
}

static void set_state(cache_redis_t *rc, bool up, const char *why) {
        if (rc->up == up)
                return;
        rc->up = up;
        if (up) {
                atomic_fetch_sub(&down_count, 1);
                LOG_INFO("cache", "redis reachable again name=%s addr=%s:%d",
                         rc->name, rc->host, rc->port);
        } else {
                atomic_fetch_add(&down_count, 1);
                LOG_WARN("cache",
                         "redis unreachable, using local state (%s) name=%s "
                         "addr=%s:%d",
                         why, rc->name, rc->host, rc->port);
        }
        if (rc->on_state)
                rc->on_state(rc->opaque, up, up ? NULL : why);
}

/* Plans the next connect attempt after a failure: exponential, jittered. */
static void schedule_retry(cache_redis_t *rc) {
        if (rc->backoff_ms <= 0)
                rc->backoff_ms = rc->backoff_min_ms;
        else if (rc->backoff_ms < rc->backoff_max_ms / 2)
                rc->backoff_ms *= 2;
        else
                rc->backoff_ms = rc->backoff_max_ms;
        rc->next_attempt_ms = time_mono_ms() + rand_jitter(rc->backoff_ms, 0.2);
}

static void drop(cache_redis_t *rc, const char *why) {
        snprintf(rc->last_err, sizeof(rc->last_err), "%s", why);
        rc->nunread  = 0; /* their replies are gone with the connection */
        rc->connects = atomic_load(&connects);
        if (rc->c) {
                redisFree(rc->c);
                rc->c = NULL;
        }
        schedule_retry(rc);
        set_state(rc, false, why);
}

/* The password: redis.password, or redis.password_file read now (so that a
 * rotated Secret is used on the next connect), trailing newline dropped.
 * 0, or -1 with errstr. The caller cleanses buf. */
static int password_get(const cache_redis_t *rc, char *buf, size_t size,
                        char *errstr, size_t errstr_size) {
        buf[0] = '\0';
        if (!rc->password_file[0]) {
                snprintf(buf, size, "%s", rc->password);
                return 0;
        }
        FILE *f = fopen(rc->password_file, "re");
        if (!f) {
                char why[96];
                snprintf(errstr, errstr_size,
                         "cannot read redis.password_file %s: %s",
                         rc->password_file,
                         strerror_r(errno, why, sizeof(why)));
                return -1;
        }
        size_t n = fread(buf, 1, size - 1, f);
        bool big = n == size - 1 && fgetc(f) != EOF;
        fclose(f);
        buf[n] = '\0';
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
                buf[--n] = '\0';
        if (big) {
                snprintf(errstr, errstr_size,
                         "redis.password_file %s: longer than %d bytes",
                         rc->password_file, MAX_SECRET - 1);
                return -1;
        }
        return 0;
}

/* AUTH (ACL user + password, or password only) on a fresh context. */
static int auth(cache_redis_t *rc, redisContext *c, char *errstr,
                size_t errstr_size) {
        char pw[MAX_SECRET];
        redisReply *r = NULL;
        int rv        = -1;
        if (password_get(rc, pw, sizeof(pw), errstr, errstr_size) != 0)
                goto out;
        rv = 0;
        if (!pw[0])
                goto out;
        if (rc->user[0])
                r = redisCommand(c, "AUTH %s %s", rc->user, pw);
        else
                r = redisCommand(c, "AUTH %s", pw);
        if (!r || r->type == REDIS_REPLY_ERROR) {
                snprintf(errstr, errstr_size,
                         "cannot authenticate to redis %s:%d as %s: %s",
                         rc->host, rc->port, rc->user[0] ? rc->user : "default",
                         r ? r->str : c->errstr);
                rv = -1;
        }
out:
        if (r)
                freeReplyObject(r);
        OPENSSL_cleanse(pw, sizeof(pw));
        return rv;
}

/* Runs AUTH and SELECT on a fresh context; 0 or -1 with errstr. */
static int handshake(cache_redis_t *rc, redisContext *c, char *errstr,
                     size_t errstr_size) {
        if (auth(rc, c, errstr, errstr_size) != 0)
                return -1;
        if (rc->db <= 0)
                return 0;
        redisReply *r = redisCommand(c, "SELECT %d", rc->db);
        int rv        = 0;
        if (!r || r->type == REDIS_REPLY_ERROR) {
                snprintf(errstr, errstr_size, "cannot select redis db %d: %s",
                         rc->db, r ? r->str : c->errstr);
                rv = -1;
        }
        if (r)
                freeReplyObject(r);
        return rv;
}

/* A TCP connection to one of host's addresses, resolved and connected (and
 * the TLS handshake done) within connect_timeout_ms in all. NULL with errstr.
 */
static redisContext *open_conn(cache_redis_t *rc, char *errstr,
                               size_t errstr_size) {
        int64_t deadline = time_mono_ms() + rc->connect_timeout_ms;
        cache_addrs_t addrs;
        if (cache_resolve(rc->host, rc->connect_timeout_ms, &addrs, errstr,
                          errstr_size) != 0)
                return NULL;
        redisContext *c = NULL;
        for (int i = 0; i < addrs.n; i++) {
                int64_t left = deadline - time_mono_ms();
                if (left < 1) {
                        snprintf(errstr, errstr_size,
                                 "cannot connect to redis %s:%d: no answer "
                                 "within %d ms",
                                 rc->host, rc->port, rc->connect_timeout_ms);
                        break;
                }
                struct timeval tv = ms_to_tv((int)left);
                redisOptions o    = {0};
                REDIS_OPTIONS_SET_TCP(&o, addrs.ip[i], rc->port);
                o.connect_timeout = &tv;
                o.command_timeout = &tv; /* bounds the TLS handshake */
                c                 = redisConnectWithOptions(&o);
                if (c && !c->err)
                        return c;
                snprintf(errstr, errstr_size,
                         "cannot connect to redis %s:%d: %s", rc->host,
                         rc->port, c ? c->errstr : "out of memory");
                redisFree(c);
                c = NULL;
        }
        return NULL;
}

static int try_connect(cache_redis_t *rc, char *errstr, size_t errstr_size) {
        redisContext *c = open_conn(rc, errstr, errstr_size);
        if (!c)
                goto fail;
        if (rc->tls) {
                char why[200];
                if (redis_tls_start(rc->tls, c, rc->server_name, why,
                                    sizeof(why)) != 0) {
                        snprintf(errstr, errstr_size,
                                 "cannot connect to redis %s:%d over TLS: %s",
                                 rc->host, rc->port, why);
                        goto fail;
                }
        }
        if (redisSetTimeout(c, ms_to_tv(rc->command_timeout_ms)) != REDIS_OK) {
                snprintf(errstr, errstr_size,
                         "cannot set redis command timeout: %s", c->errstr);
                goto fail;
        }
        if (handshake(rc, c, errstr, errstr_size) != 0)
                goto fail;
        rc->c          = c;
        rc->backoff_ms = 0;
        rc->connects   = atomic_fetch_add(&connects, 1) + 1;
        rc->heard_ms   = time_mono_ms();
        set_state(rc, true, NULL);
        return CACHE_OK;
fail:
        if (c)
                redisFree(c);
        snprintf(rc->last_err, sizeof(rc->last_err), "%s", errstr);
        rc->connects = atomic_load(&connects);
        schedule_retry(rc);
        set_state(rc, false, rc->last_err);
        return CACHE_E_DOWN;
}

/* Connected, or fails fast while the backoff interval runs. */
static int ensure_connected(cache_redis_t *rc, char *errstr,
                            size_t errstr_size) {
        if (rc->c)
                return CACHE_OK;
        int64_t now = time_mono_ms();
        if (now < rc->next_attempt_ms &&
            atomic_load(&connects) == rc->connects) {
                snprintf(errstr, errstr_size,
                         "redis %s:%d down (%s), next attempt in %lld ms",
                         rc->host, rc->port, rc->last_err,
                         (long long)(rc->next_attempt_ms - now));
                return CACHE_E_DOWN;
        }
        return try_connect(rc, errstr, errstr_size);
}

static char *dup_or(const char *s, const char *dflt) {
        return strdup(s && s[0] ? s : dflt);
}

/* The password source and TLS options; 0, or -1 with errstr. */
static int setup_auth_tls(cache_redis_t *rc, const cache_redis_opts_t *opts,
                          char *errstr, size_t errstr_size) {
        if (rc->password[0] && rc->password_file[0]) {
                snprintf(errstr, errstr_size,
                         "give redis.password or redis.password_file, not "
                         "both");
                return -1;
        }
        if (!opts->tls)
                return 0;
        redis_tls_opts_t to = {.ca_file   = opts->tls_ca_file,
                               .ca_dir    = opts->tls_ca_dir,
                               .cert_file = opts->tls_cert_file,
                               .key_file  = opts->tls_key_file};
        rc->server_name     = dup_or(opts->tls_server_name, rc->host);
        if (!rc->server_name) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
        }
        rc->tls = redis_tls_new(&to, errstr, errstr_size);
        return rc->tls ? 0 : -1;
}

cache_redis_t *cache_redis_new(const cache_redis_opts_t *opts, char *errstr,
                               size_t errstr_size) {
        cache_redis_t *rc = calloc(1, sizeof(*rc));
        if (!rc) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        rc->up            = true; /* so the first failure logs a transition */
        rc->host          = dup_or(opts->host, "127.0.0.1");
        rc->user          = dup_or(opts->user, "");
        rc->password      = dup_or(opts->password, "");
        rc->password_file = dup_or(opts->password_file, "");
        rc->prefix        = dup_or(opts->prefix, "bitmon:");
        rc->name          = dup_or(opts->name, "redis");
        rc->port          = opts->port > 0 ? opts->port : 6379;
        rc->db            = opts->db;
        rc->connect_timeout_ms =
            opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : 200;
        rc->command_timeout_ms =
            opts->command_timeout_ms > 0 ? opts->command_timeout_ms : 100;
        rc->backoff_min_ms =
            opts->backoff_min_ms > 0 ? opts->backoff_min_ms : 250;
        rc->backoff_max_ms =
            opts->backoff_max_ms > 0 ? opts->backoff_max_ms : 10000;
        if (rc->backoff_max_ms < rc->backoff_min_ms)
                rc->backoff_max_ms = rc->backoff_min_ms;
        rc->on_state = opts->on_state;
        rc->opaque   = opts->opaque;
        if (!rc->host || !rc->user || !rc->password || !rc->password_file ||
            !rc->prefix || !rc->name) {
                snprintf(errstr, errstr_size, "out of memory");
                cache_redis_destroy(rc);
                return NULL;
        }
        if (opts->port < 0 || opts->port > 65535 || opts->db < 0) {
                snprintf(errstr, errstr_size,
                         "invalid redis options: port %d db %d", opts->port,
                         opts->db);
                cache_redis_destroy(rc);
                return NULL;
        }
        if (setup_auth_tls(rc, opts, errstr, errstr_size) != 0) {
                cache_redis_destroy(rc);
                return NULL;
        }
        char why[256];
        (void)try_connect(rc, why, sizeof(why));
        return rc;
}

void cache_redis_destroy(cache_redis_t *rc) {
        if (!rc)
                return;
        char err[192];
        cache_redis_flush(rc, err, sizeof(err)); /* deferred writes */
        if (rc->c)
                redisFree(rc->c);
        if (!rc->up)
                atomic_fetch_sub(&down_count, 1);
        if (rc->password) {
                OPENSSL_cleanse(rc->password, strlen(rc->password));
                free(rc->password);
        }
        redis_tls_destroy(rc->tls);
        free(rc->server_name);
        free(rc->password_file);
        free(rc->host);
        free(rc->user);
        free(rc->prefix);
        free(rc->name);
        free(rc);
}

bool cache_redis_probe(cache_redis_t *rc) {
        char why[256];
        redisReply *r = NULL;
        if (!rc)
                return false;
        if (!rc->c)
                (void)ensure_connected(rc, why, sizeof(why));
        else if (time_mono_ms() - rc->heard_ms >= CACHE_REDIS_PROBE_IDLE_MS &&
                 cache_redis_cmd(rc, &r, why, sizeof(why), "PING") == 0)
                freeReplyObject(r);
        return cache_redis_is_up(rc);
}

bool cache_redis_is_up(const cache_redis_t *rc) {
        return rc && rc->c != NULL;
}

const char *cache_redis_prefix(const cache_redis_t *rc) {
        return rc->prefix;
}

/* Turns a hiredis answer into our status; NULL = connection lost. Error
 * replies are kept in *out when keep_errors (for NOSCRIPT). */
static int finish(cache_redis_t *rc, redisReply *r, redisReply **out,
                  bool keep_errors, char *errstr, size_t errstr_size) {
        *out = NULL;
        if (!r) {
                bool timeout =
                    rc->c && (rc->c->err == REDIS_ERR_TIMEOUT ||
                              (rc->c->err == REDIS_ERR_IO &&
                               (errno == EAGAIN || errno == EWOULDBLOCK)));
                if (timeout)
                        snprintf(errstr, errstr_size,
                                 "redis %s:%d: no answer within %d ms",
                                 rc->host, rc->port, rc->command_timeout_ms);
                else
                        snprintf(errstr, errstr_size, "redis %s:%d: %s",
                                 rc->host, rc->port,
                                 rc->c && rc->c->errstr[0] ? rc->c->errstr
                                                           : "connection lost");
                drop(rc, errstr);
                return CACHE_E_DOWN;
        }
        if (r->type == REDIS_REPLY_ERROR) {
                snprintf(errstr, errstr_size, "redis: %s", r->str);
                if (keep_errors) {
                        *out = r;
                } else {
                        freeReplyObject(r);
                }
                return CACHE_E_REPLY;
        }
        *out         = r;
        rc->heard_ms = time_mono_ms();
        return CACHE_OK;
}

/* Reads the replies of the fire-and-forget commands sent before the one
 * being waited for (hiredis writes that one first, so all replies usually
 * come in one read). An error reply is only logged: nobody waits for it. */
static int read_unread(cache_redis_t *rc, char *errstr, size_t errstr_size) {
        for (int i = 0; i < rc->nunread; i++) {
                void *v       = NULL;
                redisReply *r = NULL;
                if (redisGetReply(rc->c, &v) != REDIS_OK)
                        return finish(rc, NULL, &r, false, errstr, errstr_size);
                r = v;
                if (r->type == REDIS_REPLY_ERROR) {
                        LOG_WARN("cache", "redis %s failed: %s name=%s",
                                 rc->unread[i].what, r->str, rc->name);
                        if (rc->unread[i].slot >= 0 &&
                            strncmp(r->str, "NOSCRIPT", 8) == 0)
                                rc->scripts[rc->unread[i].slot].sha[0] = '\0';
                }
                freeReplyObject(r);
        }
        if (rc->nunread)
                rc->heard_ms = time_mono_ms();
        rc->nunread = 0;
        return CACHE_OK;
}

/* The reply of the command just appended, after the unread ones. */
static int await_reply(cache_redis_t *rc, redisReply **out, bool keep_errors,
                       char *errstr, size_t errstr_size) {
        void *v = NULL;
        int err = read_unread(rc, errstr, errstr_size);
        if (err)
                return err;
        if (redisGetReply(rc->c, &v) != REDIS_OK)
                v = NULL;
        return finish(rc, v, out, keep_errors, errstr, errstr_size);
}

int cache_redis_cmd(cache_redis_t *rc, redisReply **out, char *errstr,
                    size_t errstr_size, const char *fmt, ...) {
        *out    = NULL;
        int err = ensure_connected(rc, errstr, errstr_size);
        if (err)
                return err;
        va_list ap;
        va_start(ap, fmt);
        int rv = redisvAppendCommand(rc->c, fmt, ap);
        va_end(ap);
        if (rv != REDIS_OK) {
                snprintf(errstr, errstr_size, "cannot format redis command");
                return CACHE_E_ARG;
        }
        return await_reply(rc, out, false, errstr, errstr_size);
}

static int cmd_argv(cache_redis_t *rc, redisReply **out, bool keep_errors,
                    char *errstr, size_t errstr_size, int argc,
                    const char **argv, const size_t *argvlen) {
        *out    = NULL;
        int err = ensure_connected(rc, errstr, errstr_size);
        if (err)
                return err;
        if (redisAppendCommandArgv(rc->c, argc, argv, argvlen) != REDIS_OK) {
                snprintf(errstr, errstr_size, "out of memory");
                return CACHE_E_ARG;
        }
        return await_reply(rc, out, keep_errors, errstr, errstr_size);
}

/* Writes what hiredis holds for the socket, without waiting for replies. */
static int flush(cache_redis_t *rc, char *errstr, size_t errstr_size) {
        int done = 0;
        while (!done) {
                if (redisBufferWrite(rc->c, &done) != REDIS_OK) {
                        redisReply *r = NULL;
                        return finish(rc, NULL, &r, false, errstr, errstr_size);
                }
        }
        return CACHE_OK;
}

static int send_argv(cache_redis_t *rc, const char *what, int slot, int argc,
                     const char **argv, const size_t *argvlen, char *errstr,
                     size_t errstr_size) {
        int err = ensure_connected(rc, errstr, errstr_size);
        if (!err && rc->nunread == MAX_UNREAD)
                err = read_unread(rc, errstr, errstr_size);
        if (err)
                return err;
        if (redisAppendCommandArgv(rc->c, argc, argv, argvlen) != REDIS_OK) {
                snprintf(errstr, errstr_size, "out of memory");
                return CACHE_E_ARG;
        }
        rc->unread[rc->nunread].what = what;
        rc->unread[rc->nunread].slot = slot;
        rc->nunread++;
        if (rc->defer && sdslen(rc->c->obuf) < MAX_DEFER)
                return CACHE_OK; /* cache_redis_flush or the next command */
        return flush(rc, errstr, errstr_size);
}

void cache_redis_defer_writes(cache_redis_t *rc, bool on) {
        rc->defer = on;
}

int cache_redis_flush(cache_redis_t *rc, char *errstr, size_t errstr_size) {
        if (!rc->c || sdslen(rc->c->obuf) == 0)
                return CACHE_OK;
        return flush(rc, errstr, errstr_size);
}

int cache_redis_send_argv(cache_redis_t *rc, const char *what, int argc,
                          const char **argv, const size_t *argvlen,
                          char *errstr, size_t errstr_size) {
        return send_argv(rc, what, -1, argc, argv, argvlen, errstr,
                         errstr_size);
}

int cache_redis_cmd_argv(cache_redis_t *rc, redisReply **out, char *errstr,
                         size_t errstr_size, int argc, const char **argv,
                         const size_t *argvlen) {
        return cmd_argv(rc, out, false, errstr, errstr_size, argc, argv,
                        argvlen);
}

/* SCRIPT LOAD; stores the SHA1 in slot i. */
static int script_load(cache_redis_t *rc, int i, char *errstr,
                       size_t errstr_size) {
        redisReply *r = NULL;
        int err = cache_redis_cmd(rc, &r, errstr, errstr_size, "SCRIPT LOAD %s",
                                  rc->scripts[i].script->src);
        if (err)
                return err;
        if (r->type != REDIS_REPLY_STRING || r->len != 40) {
                snprintf(errstr, errstr_size,
                         "cannot load script %s: unexpected reply",
                         rc->scripts[i].script->name);
                freeReplyObject(r);
                return CACHE_E_REPLY;
        }
        memcpy(rc->scripts[i].sha, r->str, 40);
        rc->scripts[i].sha[40] = '\0';
        freeReplyObject(r);
        return CACHE_OK;
}

/* The slot of a script, loading it on first use. */
static int script_slot(cache_redis_t *rc, const cache_script_t *s, int *slot,
                       char *errstr, size_t errstr_size) {
        for (int i = 0; i < rc->nscripts; i++) {
                if (rc->scripts[i].script == s) {
                        *slot = i;
                        return CACHE_OK;
                }
        }
        if (rc->nscripts == MAX_SCRIPTS) {
                snprintf(errstr, errstr_size, "too many scripts");
                return CACHE_E_ARG;
        }
        int i                 = rc->nscripts;
        rc->scripts[i].script = s;
        int err               = script_load(rc, i, errstr, errstr_size);
        if (err)
                return err;
        rc->nscripts++;
        *slot = i;
        return CACHE_OK;
}

/* EVALSHA's argument vector in av/al: inline for up to EVAL_INLINE
 * arguments, on the heap beyond (up to CACHE_EVAL_MAX_ARGS; release with
 * evalsha_release). The script is loaded first when this connection has
 * not loaded it or a reply said NOSCRIPT. */
#define EVAL_INLINE 64
typedef struct evalsha {
        const char **av;
        size_t *al;
        const char *av_in[EVAL_INLINE + 3];
        size_t al_in[EVAL_INLINE + 3];
        char nk[16];
        int slot;
} evalsha_t;

static void evalsha_release(evalsha_t *e) {
        if (e->av != e->av_in)
                free(e->av);
        if (e->al != e->al_in)
                free(e->al);
        e->av = NULL;
        e->al = NULL;
}

static int evalsha_prepare(cache_redis_t *rc, evalsha_t *e,
                           const cache_script_t *script, int nkeys, int argc,
                           const char **argv, const size_t *argvlen,
                           char *errstr, size_t errstr_size) {
        e->av = e->av_in;
        e->al = e->al_in;
        if (argc < nkeys || nkeys < 0 || argc > CACHE_EVAL_MAX_ARGS) {
                snprintf(errstr, errstr_size, "bad script arguments");
                return CACHE_E_ARG;
        }
        if (argc > EVAL_INLINE) {
                e->av = malloc((size_t)(argc + 3) * sizeof(*e->av));
                e->al = malloc((size_t)(argc + 3) * sizeof(*e->al));
                if (!e->av || !e->al) {
                        evalsha_release(e);
                        snprintf(errstr, errstr_size, "out of memory");
                        return CACHE_E_IO;
                }
        }
        int err = script_slot(rc, script, &e->slot, errstr, errstr_size);
        if (!err && !rc->scripts[e->slot].sha[0])
                err = script_load(rc, e->slot, errstr, errstr_size);
        if (err)
                return err;
        snprintf(e->nk, sizeof(e->nk), "%d", nkeys);
        e->av[0] = "EVALSHA";
        e->al[0] = 7;
        e->av[1] = rc->scripts[e->slot].sha;
        e->al[1] = 40;
        e->av[2] = e->nk;
        e->al[2] = strlen(e->nk);
        for (int i = 0; i < argc; i++) {
                e->av[3 + i] = argv[i];
                e->al[3 + i] = argvlen ? argvlen[i] : strlen(argv[i]);
        }
        return CACHE_OK;
}

int cache_redis_eval(cache_redis_t *rc, const cache_script_t *script, int nkeys,
                     int argc, const char **argv, const size_t *argvlen,
                     redisReply **out, char *errstr, size_t errstr_size) {
        evalsha_t e;
        *out    = NULL;
        int err = evalsha_prepare(rc, &e, script, nkeys, argc, argv, argvlen,
                                  errstr, errstr_size);
        for (int attempt = 0; !err && attempt < 2; attempt++) {
                err = cmd_argv(rc, out, true, errstr, errstr_size, argc + 3,
                               e.av, e.al);
                if (err != CACHE_E_REPLY)
                        break;
                bool noscript = strncmp((*out)->str, "NOSCRIPT", 8) == 0;
                freeReplyObject(*out);
                *out = NULL;
                if (!noscript || attempt == 1)
                        break;
                LOG_INFO("cache", "reloading script after NOSCRIPT script=%s",
                         script->name);
                err = script_load(rc, e.slot, errstr, errstr_size);
        }
        evalsha_release(&e);
        return err;
}

int cache_redis_eval_send(cache_redis_t *rc, const cache_script_t *script,
                          int nkeys, int argc, const char **argv,
                          const size_t *argvlen, char *errstr,
                          size_t errstr_size) {
        evalsha_t e;
        int err = evalsha_prepare(rc, &e, script, nkeys, argc, argv, argvlen,
                                  errstr, errstr_size);
        if (!err)
                err = send_argv(rc, script->name, e.slot, argc + 3, e.av, e.al,
                                errstr, errstr_size);
        evalsha_release(&e);
        return err;
}

int cache_redis_key(const cache_redis_t *rc, char *buf, size_t size,
                    const char *fmt, ...) {
        int n = snprintf(buf, size, "%s", rc->prefix);
        if (n < 0 || (size_t)n >= size)
                return -1;
        va_list ap;
        va_start(ap, fmt);
        int m = vsnprintf(buf + n, size - (size_t)n, fmt, ap);
        va_end(ap);
        if (m < 0 || (size_t)m >= size - (size_t)n)
                return -1;
        return n + m;
}
