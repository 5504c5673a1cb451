/* Integration tests for cache/redis against real redis-server processes:
 * prefix, AUTH (ACL user and password-only, never logged), fail-fast while
 * down with exponential backoff, bounded commands, NOSCRIPT reload, and
 * recovery after the server is killed and restarted, commands sent without
 * waiting for their replies. */
#include <fcntl.h>

#include "cache/redis.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "tests/assert.h"
#include "tests/integration/itest_cache_redis.h"

static int state_ups, state_downs;

static char last_reason[256];

static void on_state(void *opaque, bool up, const char *reason) {
        (void)opaque;
        snprintf(last_reason, sizeof(last_reason), "%s", reason ? reason : "");
        if (up)
                state_ups++;
        else
                state_downs++;
}

static cache_redis_t *connect_to(const tredis_t *t, const char *prefix) {
        char err[256];
        cache_redis_opts_t o = tredis_opts(t);
        o.prefix             = prefix;
        o.backoff_min_ms     = 50;
        o.backoff_max_ms     = 200;
        o.on_state           = on_state;
        cache_redis_t *rc    = cache_redis_new(&o, err, sizeof(err));
        if (!rc)
                fprintf(stderr, "  %s\n", err);
        return rc;
}

static void test_redis_basic_and_prefix(void) {
        tredis_t t;
        char prefix[64], key[128], err[256];
        redisReply *r = NULL;
        T_EQ_INT(tredis_start(&t, false), 0);
        t_prefix(prefix, sizeof(prefix), "basic");
        cache_redis_t *rc = connect_to(&t, prefix);
        T_ASSERT(rc && cache_redis_is_up(rc));
        T_EQ_STR(cache_redis_prefix(rc), prefix);
        T_ASSERT(cache_redis_key(rc, key, sizeof(key), "x:%d", 7) > 0);
        T_ASSERT(strncmp(key, prefix, strlen(prefix)) == 0);
        T_EQ_STR(key + strlen(prefix), "x:7");
        char tiny[8];
        T_EQ_INT(cache_redis_key(rc, tiny, sizeof(tiny), "long-suffix"), -1);
        T_EQ_INT(cache_redis_cmd(rc, &r, err, sizeof(err), "SET %s %b PX 5000",
                                 key, "a\0b", (size_t)3),
                 0);
        freeReplyObject(r);
        const char *argv[] = {"GET", key};
        T_EQ_INT(cache_redis_cmd_argv(rc, &r, err, sizeof(err), 2, argv, NULL),
                 0);
        T_EQ_INT(r->type, REDIS_REPLY_STRING);
        T_EQ_INT(r->len, 3);
        T_ASSERT(memcmp(r->str, "a\0b", 3) == 0);
        freeReplyObject(r);
        /* an error reply is CACHE_E_REPLY and keeps the connection */
        T_EQ_INT(cache_redis_cmd(rc, &r, err, sizeof(err), "NOSUCHCOMMAND"),
                 CACHE_E_REPLY);
        T_ASSERT(r == NULL);
        T_ASSERT(strstr(err, "unknown command"));
        T_ASSERT(cache_redis_is_up(rc));
        cache_redis_destroy(rc);
        cache_redis_destroy(NULL);
        tredis_stop(&t);
}

/* Reads the whole log file. */
static void slurp(const char *path, char *buf, size_t size) {
        int fd             = open(path, O_RDONLY);
        ssize_t n          = fd >= 0 ? read(fd, buf, size - 1) : 0;
        buf[n > 0 ? n : 0] = '\0';
        if (fd >= 0)
                close(fd);
}

static void test_redis_auth_never_logged(void) {
        tredis_t t = {0};
        char err[256], logpath[256], logbuf[16384];
        snprintf(
            t.extra, sizeof(t.extra),
            "--requirepass defaultpw-Secret1 --user alice on >alicepw-Secret2 "
            "~* &* +@all");
        T_EQ_INT(tredis_spawn(&t, "defaultpw-Secret1"), 0);
        snprintf(logpath, sizeof(logpath), "%s/test.log", t.dir);
        int logfd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        T_ASSERT(logfd >= 0);
        log_setup(LOG_LVL_DEBUG, LOG_FMT_JSON, logfd);

        cache_redis_opts_t o = {.host     = t.host,
                                .port     = t.port,
                                .user     = "alice",
                                .password = "alicepw-Secret2",
                                .db       = 2};
        cache_redis_t *rc    = cache_redis_new(&o, err, sizeof(err));
        T_ASSERT(rc && cache_redis_is_up(rc));
        redisReply *r = NULL;
        T_EQ_INT(cache_redis_cmd(rc, &r, err, sizeof(err), "ACL WHOAMI"), 0);
        T_EQ_STR(r->str, "alice");
        freeReplyObject(r);
        cache_redis_destroy(rc);

        o.user     = NULL; /* AUTH <password> for the default user */
        o.password = "defaultpw-Secret1";
        rc         = cache_redis_new(&o, err, sizeof(err));
        T_ASSERT(rc && cache_redis_is_up(rc));
        cache_redis_destroy(rc);

        o.password = "wrongpw-Secret3";
        rc         = cache_redis_new(&o, err, sizeof(err));
        T_ASSERT(rc && !cache_redis_is_up(rc));
        T_EQ_INT(cache_redis_cmd(rc, &r, err, sizeof(err), "PING"),
                 CACHE_E_DOWN);
        T_ASSERT(strstr(err, "cannot authenticate"));
        T_ASSERT(!strstr(err, "Secret"));
        cache_redis_destroy(rc);

        log_setup(LOG_LVL_INFO, LOG_FMT_AUTO, 2);
        close(logfd);
        slurp(logpath, logbuf, sizeof(logbuf));
        T_ASSERT(
            strstr(logbuf, "cannot authenticate")); /* the reason is logged */
        T_ASSERT(!strstr(logbuf, "Secret"));        /* no password */
        tredis_stop(&t);
}

static long long next_attempt_in(const char *err) {
        const char *p = strstr(err, "next attempt in ");
        return p ? strtoll(p + 16, NULL, 10) : -1;
}

static void test_redis_down_fails_fast_with_backoff(void) {
        tredis_t t = {0};
        char err[256];
        redisReply *r = NULL;
        t.port        = tredis_free_port(); /* nothing listens there yet */
        snprintf(t.host, sizeof(t.host), "127.0.0.1");
        int downs0 = state_downs, ups0 = state_ups;
        int down0            = cache_redis_down_count();
        cache_redis_opts_t o = {.host           = t.host,
                                .port           = t.port,
                                .backoff_min_ms = 100,
                                .backoff_max_ms = 400,
                                .on_state       = on_state};
        cache_redis_t *rc    = cache_redis_new(&o, err, sizeof(err));
        T_ASSERT(rc && !cache_redis_is_up(rc));
        T_EQ_INT(state_downs, downs0 + 1);
        T_ASSERT(strstr(last_reason, "Connection refused"));
        T_EQ_INT(cache_redis_down_count(), down0 + 1);
        /* inside the interval: no I/O, just the answer */
        for (int i = 0; i < 1000; i++) {
                T_EQ_INT(cache_redis_cmd(rc, &r, err, sizeof(err), "PING"),
                         CACHE_E_DOWN);
                T_ASSERT(next_attempt_in(err) >= 0);
        }
        T_ASSERT(strstr(err, "Connection refused"));
        /* the interval doubles per failed attempt (+-20% jitter), capped */
        long long seen[4];
        for (int i = 0; i < 4; i++) {
                cache_redis_cmd(rc, &r, err, sizeof(err), "PING");
                t_sleep_ms(next_attempt_in(err) + 5);
                T_EQ_INT(cache_redis_cmd(rc, &r, err, sizeof(err), "PING"),
                         CACHE_E_DOWN); /* this one attempts and fails */
                T_EQ_INT(cache_redis_cmd(rc, &r, err, sizeof(err), "PING"),
                         CACHE_E_DOWN);
                seen[i] = next_attempt_in(err);
        }
        T_ASSERTF(seen[0] >= 150 && seen[0] <= 240, "2nd interval %lld",
                  seen[0]);
        T_ASSERTF(seen[1] >= 300 && seen[1] <= 480, "3rd interval %lld",
                  seen[1]);
        T_ASSERTF(seen[2] >= 300 && seen[2] <= 480, "capped %lld", seen[2]);
        T_ASSERTF(seen[3] >= 300 && seen[3] <= 480, "capped %lld", seen[3]);
        T_EQ_INT(state_downs,
                 downs0 + 1); /* one transition, not one per call */
        /* the server appears: a probe, without any command, brings the
         * connection back within one interval */
        T_EQ_INT(tredis_spawn(&t, NULL), 0);
        int64_t until = time_mono_ms() + 2000 * (int64_t)t_scale();
        while (!cache_redis_probe(rc) && time_mono_ms() < until)
                t_sleep_ms(20);
        T_ASSERT(cache_redis_is_up(rc));
        T_EQ_INT(state_ups, ups0 + 1);
        T_EQ_INT(cache_redis_down_count(), down0);
        T_EQ_INT(cache_redis_cmd(rc, &r, err, sizeof(err), "PING"), 0);
        T_ASSERT(r && r->type == REDIS_REPLY_STATUS);
        freeReplyObject(r);
        cache_redis_destroy(rc);
        tredis_stop(&t);
}

static void test_redis_command_timeout_bounded(void) {
        tredis_t t;
        char err[256];
        redisReply *r = NULL;
        T_EQ_INT(tredis_start(&t, true), 0);
        cache_redis_opts_t o = {
            .host = t.host, .port = t.port, .command_timeout_ms = 100};
        cache_redis_t *rc = cache_redis_new(&o, err, sizeof(err));
        T_ASSERT(rc && cache_redis_is_up(rc));
        redisContext *raw = tredis_raw(&t);
        T_ASSERT(raw);
        redisReply *p = redisCommand(raw, "CLIENT PAUSE 1500 ALL");
        T_ASSERT(p && p->type == REDIS_REPLY_STATUS);
        freeReplyObject(p);
        int64_t t0 = time_mono_ms();
        T_EQ_INT(cache_redis_cmd(rc, &r, err, sizeof(err), "PING"),
                 CACHE_E_DOWN);
        int64_t took = time_mono_ms() - t0;
        T_ASSERTF(took < 1000, "a paused server held us %lld ms",
                  (long long)took);
        T_ASSERT(!cache_redis_is_up(rc));
        redisFree(raw);
        cache_redis_destroy(rc);
        tredis_stop(&t);
}

static const cache_script_t answer_script = {"answer",
                                             "return tonumber(ARGV[1]) + 1"};

static long long eval_answer(cache_redis_t *rc, const char *arg) {
        char err[256];
        redisReply *r      = NULL;
        const char *argv[] = {arg};
        int rc_ = cache_redis_eval(rc, &answer_script, 0, 1, argv, NULL, &r,
                                   err, sizeof(err));
        if (rc_ != 0) {
                fprintf(stderr, "  eval: %s\n", err);
                return -1;
        }
        long long v = r->type == REDIS_REPLY_INTEGER ? r->integer : -2;
        freeReplyObject(r);
        return v;
}

static void test_redis_noscript_reload_and_restart(void) {
        tredis_t t;
        char err[256];
        redisReply *r = NULL;
        T_EQ_INT(tredis_start(&t, true), 0);
        cache_redis_t *rc = connect_to(&t, "itest:");
        T_ASSERT(rc);
        T_EQ_INT(eval_answer(rc, "41"), 42);
        redisContext *raw = tredis_raw(&t);
        redisReply *p     = redisCommand(raw, "SCRIPT FLUSH");
        freeReplyObject(p);
        redisFree(raw);
        T_EQ_INT(eval_answer(rc, "1"),
                 2); /* NOSCRIPT -> SCRIPT LOAD -> again */
        /* kill: fails fast; restart: recovers, script reloaded again */
        tredis_kill(&t);
        T_EQ_INT(cache_redis_cmd(rc, &r, err, sizeof(err), "PING"),
                 CACHE_E_DOWN);
        T_ASSERT(!cache_redis_is_up(rc));
        T_EQ_INT(eval_answer(rc, "1"), -1);
        T_EQ_INT(tredis_restart(&t), 0);
        int64_t until = time_mono_ms() + 2000 * (int64_t)t_scale();
        long long v   = -1;
        while ((v = eval_answer(rc, "9")) != 10 && time_mono_ms() < until)
                t_sleep_ms(20);
        T_EQ_INT(v, 10);
        T_ASSERT(cache_redis_is_up(rc));
        cache_redis_destroy(rc);
        tredis_stop(&t);
}

/* An idle connection to a server that restarted: the probe's PING finds it
 * (down once, with the reason), and a later probe is back up, with no
 * command of ours lost to the dead connection. A connection heard from
 * lately is left alone (no PING). */
static void test_redis_probe_finds_restart(void) {
        tredis_t t;
        char err[256];
        redisReply *r = NULL;
        T_EQ_INT(tredis_start(&t, true), 0);
        cache_redis_t *rc = connect_to(&t, "itest:");
        T_ASSERT(rc && cache_redis_is_up(rc));
        int downs0 = state_downs, ups0 = state_ups;
        tredis_kill(&t);
        T_ASSERT(cache_redis_probe(rc)); /* heard from just now: no PING */
        T_EQ_INT(state_downs, downs0);
        T_EQ_INT(tredis_restart(&t), 0);
        t_sleep_ms(CACHE_REDIS_PROBE_IDLE_MS + 50);
        T_ASSERT(!cache_redis_probe(rc)); /* the PING meets the old socket */
        T_EQ_INT(state_downs, downs0 + 1);
        int64_t until = time_mono_ms() + 2000 * (int64_t)t_scale();
        while (!cache_redis_probe(rc) && time_mono_ms() < until)
                t_sleep_ms(20);
        T_ASSERT(cache_redis_is_up(rc));
        T_EQ_INT(state_ups, ups0 + 1);
        T_EQ_INT(cache_redis_cmd(rc, &r, err, sizeof(err), "SET k v"), 0);
        freeReplyObject(r);
        cache_redis_destroy(rc);
        tredis_stop(&t);
}

/* Redis back for one connection of the process is back for all: a
 * connection deep in its backoff tries at once after another connected. */
static void test_redis_back_for_all(void) {
        tredis_t t;
        char err[256];
        redisReply *r = NULL;
        T_EQ_INT(tredis_start(&t, true), 0);
        cache_redis_opts_t o = tredis_opts(&t);
        o.backoff_min_ms     = 50;
        o.backoff_max_ms     = 50;
        cache_redis_t *quick = cache_redis_new(&o, err, sizeof(err));
        o.backoff_min_ms     = 60000;
        o.backoff_max_ms     = 60000;
        cache_redis_t *slow  = cache_redis_new(&o, err, sizeof(err));
        T_ASSERT(quick && slow);
        tredis_kill(&t);
        T_EQ_INT(cache_redis_cmd(slow, &r, err, sizeof(err), "PING"),
                 CACHE_E_DOWN);
        T_EQ_INT(cache_redis_cmd(slow, &r, err, sizeof(err), "PING"),
                 CACHE_E_DOWN);
        T_ASSERTF(next_attempt_in(err) > 30000, "slow: %s", err);
        T_EQ_INT(tredis_restart(&t), 0);
        int64_t until = time_mono_ms() + 2000 * (int64_t)t_scale();
        while (cache_redis_cmd(quick, &r, err, sizeof(err), "PING") != 0 &&
               time_mono_ms() < until)
                t_sleep_ms(20);
        freeReplyObject(r);
        T_ASSERT(cache_redis_is_up(quick));
        T_EQ_INT(cache_redis_cmd(slow, &r, err, sizeof(err), "PING"), 0);
        freeReplyObject(r);
        cache_redis_destroy(quick);
        cache_redis_destroy(slow);
        tredis_stop(&t);
}

static long long get_int(cache_redis_t *rc, const char *key) {
        char err[256];
        redisReply *r = NULL;
        long long v   = -1;
        if (cache_redis_cmd(rc, &r, err, sizeof(err), "GET %s", key) == 0 &&
            r->type == REDIS_REPLY_STRING)
                v = strtoll(r->str, NULL, 10);
        if (r)
                freeReplyObject(r);
        return v;
}

/* Fire-and-forget commands: more than the unread limit in a row, an error
 * reply among them, a script flushed under them, a connection killed under
 * them — every later command still gets its own reply. */
static void test_redis_send_without_waiting(void) {
        tredis_t t;
        char err[256], key[128], val[16];
        redisReply *r = NULL;
        T_EQ_INT(tredis_start(&t, true), 0);
        cache_redis_t *rc = connect_to(&t, "itest:");
        T_ASSERT(rc);
        cache_redis_key(rc, key, sizeof(key), "send:n");
        for (int i = 1; i <= 200; i++) {
                snprintf(val, sizeof(val), "%d", i);
                const char *argv[] = {"SET", key, val};
                T_EQ_INT(cache_redis_send_argv(rc, "test set", 3, argv, NULL,
                                               err, sizeof(err)),
                         0);
        }
        T_EQ_INT(get_int(rc, key), 200);

        const char *bad[] = {"INCR", key, "extra"}; /* wrong arity */
        const char *inc[] = {"INCR", key};
        T_EQ_INT(cache_redis_send_argv(rc, "test bad", 3, bad, NULL, err,
                                       sizeof(err)),
                 0);
        T_EQ_INT(cache_redis_send_argv(rc, "test incr", 2, inc, NULL, err,
                                       sizeof(err)),
                 0);
        T_EQ_INT(get_int(rc, key), 201);

        /* a flushed script: the sent call is lost (logged), the next
         * use loads it again */
        const char *one[] = {"1"};
        T_EQ_INT(eval_answer(rc, "1"), 2);
        redisContext *raw = tredis_raw(&t);
        freeReplyObject(redisCommand(raw, "SCRIPT FLUSH"));
        T_EQ_INT(cache_redis_eval_send(rc, &answer_script, 0, 1, one, NULL, err,
                                       sizeof(err)),
                 0);
        T_EQ_INT(get_int(rc, key), 201); /* reads the NOSCRIPT first */
        T_EQ_INT(cache_redis_eval_send(rc, &answer_script, 0, 1, one, NULL, err,
                                       sizeof(err)),
                 0);
        T_EQ_INT(eval_answer(rc, "5"), 6);

        /* the connection killed with replies unread */
        T_EQ_INT(cache_redis_send_argv(rc, "test incr", 2, inc, NULL, err,
                                       sizeof(err)),
                 0);
        freeReplyObject(
            redisCommand(raw, "CLIENT KILL TYPE normal SKIPME yes"));
        T_EQ_INT(cache_redis_cmd(rc, &r, err, sizeof(err), "PING"),
                 CACHE_E_DOWN);
        int64_t until = time_mono_ms() + 2000 * (int64_t)t_scale();
        long long v   = -1;
        while ((v = get_int(rc, key)) < 0 && time_mono_ms() < until)
                t_sleep_ms(20);
        T_EQ_INT(v, 202);
        redisFree(raw);
        cache_redis_destroy(rc);
        tredis_stop(&t);
}

static void test_redis_bad_options(void) {
        char err[256];
        cache_redis_opts_t o = {.port = 70000};
        T_ASSERT(!cache_redis_new(&o, err, sizeof(err)));
        T_ASSERT(strstr(err, "invalid redis options"));
        cache_redis_opts_t o2 = {.port = 1, .db = -1};
        T_ASSERT(!cache_redis_new(&o2, err, sizeof(err)));
}

int main(void) {
        signal(SIGPIPE, SIG_IGN); /* as main does (hiredis uses write) */
        log_setup(LOG_LVL_WARN, LOG_FMT_AUTO, 2);
        T_RUN(test_redis_basic_and_prefix);
        T_RUN(test_redis_auth_never_logged);
        T_RUN(test_redis_down_fails_fast_with_backoff);
        T_RUN(test_redis_probe_finds_restart);
        T_RUN(test_redis_back_for_all);
        T_RUN(test_redis_command_timeout_bounded);
        T_RUN(test_redis_noscript_reload_and_restart);
        T_RUN(test_redis_send_without_waiting);
        T_RUN(test_redis_bad_options);
        return t_done();
}
