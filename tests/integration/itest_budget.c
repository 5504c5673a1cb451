/* Integration tests for cache/budget on a real Redis: rate/burst accuracy
 * measured with Redis TIME, a 429 block shared between connections (Retry-
 * After in seconds and as a date, backoff without it), X-RateLimit adoption,
 * workspace isolation, per-workspace overrides, the local fallback at
 * rate/replicas when Redis is killed, recovery after a restart, and the
 * NOSCRIPT reload path. */
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>

#include "cache/budget.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "tests/assert.h"
#include "tests/integration/itest_cache_redis.h"
#include "tests/integration/itest_cache_budget.h"

static tredis_t shared;

/* Redis TIME in ms through a raw connection. */
static int64_t redis_now_ms(const tredis_t *t) {
        redisContext *c = tredis_raw(t);
        redisReply *r   = c ? redisCommand(c, "TIME") : NULL;
        int64_t v       = -1;
        if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2)
                v = strtoll(r->element[0]->str, NULL, 10) * 1000 +
                    strtoll(r->element[1]->str, NULL, 10) / 1000;
        if (r)
                freeReplyObject(r);
        if (c)
                redisFree(c);
        return v;
}

static void test_budget_rate_burst_accuracy(void) {
        char prefix[64];
        t_prefix(prefix, sizeof(prefix), "rate");
        cache_redis_t *rc = conn(&shared, prefix);
        cache_budget_t *b = budget(20, 5, 1);
        T_ASSERT(rc && b);
        cache_fp_t fp = fp_of("bitwat_rate");
        int64_t t0    = redis_now_ms(&shared);
        for (int i = 0; i < 5; i++)
                T_EQ_INT(cache_budget_take(b, rc, &fp, "ws"),
                         0); /* the burst */
        int64_t w = cache_budget_take(b, rc, &fp, "ws");
        T_ASSERTF(w >= 1 && w <= 50, "wait after the burst %lld", (long long)w);
        int granted = 5;
        while (redis_now_ms(&shared) - t0 < 1500) {
                w = cache_budget_take(b, rc, &fp, "ws");
                if (w == 0)
                        granted++;
                else
                        t_sleep_ms(w);
        }
        int64_t elapsed = redis_now_ms(&shared) - t0;
        double allowed  = 5 + 20.0 * (double)elapsed / 1000.0;
        T_ASSERTF(granted <= allowed + 1, "granted %d > allowed %.1f", granted,
                  allowed);
        T_ASSERTF(granted >= 0.9 * allowed, "granted %d < 90%% of %.1f",
                  granted, allowed);
        T_ASSERT(!cache_budget_degraded(b));
        cache_budget_destroy(b);
        cache_redis_destroy(rc);
}

static void test_budget_429_shared_between_connections(void) {
        char prefix[64], date[64];
        t_prefix(prefix, sizeof(prefix), "block");
        cache_redis_t *a = conn(&shared, prefix), *c = conn(&shared, prefix);
        cache_budget_t *b = budget(20, 5, 1);
        T_ASSERT(a && c && b);
        cache_fp_t fp = fp_of("bitwat_429"), other = fp_of("bitwat_other");
        T_EQ_INT(cache_budget_take(b, c, &fp, "ws"), 0);
        int64_t blk = cache_budget_on_429(b, a, &fp, "2");
        T_ASSERTF(blk > 1900 && blk <= 2000, "block %lld", (long long)blk);
        int64_t w = cache_budget_take(b, c, &fp, "ws"); /* the other "pod" */
        T_ASSERTF(w > 1800 && w <= 2000, "other connection waits %lld",
                  (long long)w);
        T_EQ_INT(cache_budget_take(b, c, &other, "ws2"), 0); /* not blocked */
        /* Retry-After as an HTTP date */
        time_t when = time(NULL) + 3;
        struct tm tm;
        gmtime_r(&when, &tm);
        strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        cache_fp_t fp3 = fp_of("bitwat_429_date");
        blk            = cache_budget_on_429(b, a, &fp3, date);
        T_ASSERTF(blk >= 1000 && blk <= 3100, "date block %lld",
                  (long long)blk);
        w = cache_budget_take(b, c, &fp3, "ws3");
        T_ASSERTF(w >= 900 && w <= 3100, "date wait %lld", (long long)w);
        cache_budget_destroy(b);
        cache_redis_destroy(a);
        cache_redis_destroy(c);
}

static void test_budget_429_backoff_without_retry_after(void) {
        char prefix[64];
        t_prefix(prefix, sizeof(prefix), "backoff");
        cache_redis_t *a = conn(&shared, prefix), *c = conn(&shared, prefix);
        cache_budget_t *b = budget(20, 5, 1); /* backoff 200..800 ms */
        T_ASSERT(a && c && b);
        cache_fp_t fp = fp_of("bitwat_backoff");
        int64_t blk   = cache_budget_on_429(b, a, &fp, NULL);
        T_ASSERTF(blk > 150 && blk <= 200, "first backoff %lld",
                  (long long)blk);
        /* a second 429 of the same wave (from another pod) does not escalate */
        int64_t again = cache_budget_on_429(b, c, &fp, NULL);
        T_ASSERTF(again <= blk, "same wave escalated to %lld",
                  (long long)again);
        static const int64_t want[] = {400, 800, 800};
        for (int i = 0; i < 3; i++) {
                t_sleep_ms(cache_budget_take(b, c, &fp, "ws") + 5);
                blk = cache_budget_on_429(b, i % 2 ? a : c, &fp, "soon?");
                T_ASSERTF(blk > want[i] - 60 && blk <= want[i],
                          "backoff %d: %lld, want %lld", i, (long long)blk,
                          (long long)want[i]);
        }
        /* after the block the bucket refills from empty: no burst */
        t_sleep_ms(cache_budget_take(b, a, &fp, "ws") + 1);
        int immediate = 0;
        while (cache_budget_take(b, a, &fp, "ws") == 0)
                immediate++;
        T_ASSERTF(immediate <= 2, "burst of %d right after a 429 block",
                  immediate);
        cache_budget_destroy(b);
        cache_redis_destroy(a);
        cache_redis_destroy(c);
}

static void test_budget_xratelimit_adopted(void) {
        char prefix[64], reset[32];
        t_prefix(prefix, sizeof(prefix), "xrl");
        cache_redis_t *a = conn(&shared, prefix), *c = conn(&shared, prefix);
        cache_budget_t *b = budget(1000, 100, 1); /* the bucket never limits */
        T_ASSERT(a && c && b);
        cache_fp_t fp = fp_of("bitwat_xrl");
        T_EQ_INT(cache_budget_on_headers(b, a, &fp, "3", "5"), 0);
        settle(a);
        for (int i = 0; i < 3; i++)
                T_EQ_INT(cache_budget_take(b, i % 2 ? a : c, &fp, "ws"), 0);
        int64_t w = cache_budget_take(b, c, &fp, "ws");
        T_ASSERTF(w > 4000 && w <= 5000, "wait for Reset %lld", (long long)w);
        /* the latest answer wins: a sliding window frees slots early */
        T_EQ_INT(cache_budget_on_headers(b, c, &fp, "1", "5"), 0);
        settle(c);
        T_EQ_INT(cache_budget_take(b, a, &fp, "ws"), 0);
        w = cache_budget_take(b, a, &fp, "ws");
        T_ASSERTF(w > 3900, "capped again, wait %lld", (long long)w);
        T_EQ_INT(cache_budget_on_headers(b, c, &fp, "0", "4"), 0);
        settle(c);
        w = cache_budget_take(b, a, &fp, "ws");
        T_ASSERTF(w > 3000 && w <= 4000, "Remaining 0 waits %lld",
                  (long long)w);
        /* a new window (later Reset) starts over */
        T_EQ_INT(cache_budget_on_headers(b, c, &fp, "2", "30"), 0);
        settle(c);
        T_EQ_INT(cache_budget_take(b, a, &fp, "ws"), 0);
        T_EQ_INT(cache_budget_take(b, a, &fp, "ws"), 0);
        w = cache_budget_take(b, a, &fp, "ws");
        T_ASSERTF(w > 28000 && w <= 30000, "new window wait %lld",
                  (long long)w);
        /* Reset as epoch seconds */
        cache_fp_t fp2 = fp_of("bitwat_xrl_epoch");
        snprintf(reset, sizeof(reset), "%lld", (long long)time(NULL) + 6);
        T_EQ_INT(cache_budget_on_headers(b, a, &fp2, "1", reset), 0);
        settle(a);
        T_EQ_INT(cache_budget_take(b, c, &fp2, "ws"), 0);
        w = cache_budget_take(b, c, &fp2, "ws");
        T_ASSERTF(w > 4000 && w <= 6000, "epoch reset wait %lld", (long long)w);
        /* a Reset in the past, absent or garbage headers change nothing */
        cache_fp_t fp3 = fp_of("bitwat_xrl_past");
        snprintf(reset, sizeof(reset), "%lld", (long long)time(NULL) - 10);
        T_EQ_INT(cache_budget_on_headers(b, a, &fp3, "0", reset), 0);
        T_EQ_INT(cache_budget_on_headers(b, a, &fp3, NULL, "5"), 0);
        T_EQ_INT(cache_budget_on_headers(b, a, &fp3, "abc", "5"), CACHE_E_ARG);
        T_EQ_INT(cache_budget_on_headers(b, a, &fp3, "1", "-5"), CACHE_E_ARG);
        T_EQ_INT(cache_budget_on_headers(b, a, &fp3, "1", "5x"), CACHE_E_ARG);
        T_EQ_INT(cache_budget_take(b, a, &fp3, "ws"), 0);
        cache_budget_destroy(b);
        cache_redis_destroy(a);
        cache_redis_destroy(c);
}

static void test_budget_workspace_isolation(void) {
        char prefix[64];
        t_prefix(prefix, sizeof(prefix), "iso");
        cache_redis_t *rc = conn(&shared, prefix);
        cache_budget_t *b = budget(0.5, 2, 1);
        T_ASSERT(rc && b);
        cache_fp_t fa = fp_of("bitwat_ws_a"), fb = fp_of("bitwat_ws_b");
        T_EQ_INT(cache_budget_take(b, rc, &fa, "ws-a"), 0);
        T_EQ_INT(cache_budget_take(b, rc, &fa, "ws-a"), 0);
        int64_t w = cache_budget_take(b, rc, &fa, "ws-a");
        T_ASSERTF(w > 1500 && w <= 2000, "A waits %lld", (long long)w);
        cache_budget_on_429(b, rc, &fa, "60");
        T_ASSERT(cache_budget_take(b, rc, &fa, "ws-a") > 59000);
        T_EQ_INT(cache_budget_take(b, rc, &fb, "ws-b"), 0); /* B unaffected */
        T_EQ_INT(cache_budget_take(b, rc, &fb, "ws-b"), 0);
        cache_budget_destroy(b);
        cache_redis_destroy(rc);
}

/* The validity facts are read in the budget's round trip: a refused token
 * takes nothing, an unknown or valid one takes as cache_budget_take does,
 * and a role fact refuses only its own app. */
static void test_budget_take_checked(void) {
        char prefix[64], err[256];
        t_prefix(prefix, sizeof(prefix), "chk");
        cache_redis_t *rc = conn(&shared, prefix);
        cache_budget_t *b = budget(0.5, 2, 1);
        T_ASSERT(rc && b);
        cache_fp_t fa = fp_of("bitwat_chk_a"), fb = fp_of("bitwat_chk_b");
        cache_validity_t v       = CACHE_VALIDITY_VALID;
        cache_validity_opts_t vo = {0};

        T_EQ_INT(cache_budget_take_checked(b, rc, &fa, "ws", "app1", &v), 0);
        T_EQ_INT(v, CACHE_VALIDITY_UNKNOWN);
        T_EQ_INT(
            cache_validity_record(rc, &vo, &fa, NULL, 200, err, sizeof(err)),
            0);
        T_EQ_INT(cache_budget_take_checked(b, rc, &fa, "ws", NULL, &v), 0);
        T_EQ_INT(v, CACHE_VALIDITY_VALID);
        /* the burst of 2 is used up: the next call waits */
        int64_t w = cache_budget_take_checked(b, rc, &fa, "ws", "app1", &v);
        T_ASSERTF(w > 1500 && w <= 2000, "waits %lld", (long long)w);

        T_EQ_INT(
            cache_validity_record(rc, &vo, &fb, "app1", 403, err, sizeof(err)),
            0);
        for (int i = 0; i < 5; i++) { /* refused: nothing is taken */
                T_EQ_INT(
                    cache_budget_take_checked(b, rc, &fb, "ws", "app1", &v), 0);
                T_EQ_INT(v, CACHE_VALIDITY_INSUFFICIENT_ROLE);
        }
        T_EQ_INT(cache_budget_take_checked(b, rc, &fb, "ws", "app2", &v), 0);
        T_EQ_INT(v, CACHE_VALIDITY_UNKNOWN);
        T_EQ_INT(cache_budget_take(b, rc, &fb, "ws"), 0); /* 2nd of burst 2 */
        T_ASSERT(cache_budget_take(b, rc, &fb, "ws") > 0);

        T_EQ_INT(
            cache_validity_record(rc, &vo, &fa, NULL, 401, err, sizeof(err)),
            0);
        T_EQ_INT(cache_budget_take_checked(b, rc, &fa, "ws", "app1", &v), 0);
        T_EQ_INT(v, CACHE_VALIDITY_INVALID);
        T_ASSERT(!cache_budget_degraded(b));

        /* a slug that cannot name a key: no verdict, the budget still
         * counts (in Redis, not the fallback) */
        T_ASSERT(cache_budget_take_checked(b, rc, &fb, "ws", "bad:app", &v) >
                 0);
        T_EQ_INT(v, CACHE_VALIDITY_UNKNOWN);
        T_ASSERT(!cache_budget_degraded(b));
        cache_budget_destroy(b);
        cache_redis_destroy(rc);
}

/* A Redis that lost its state (restarted empty) hands no token a fresh
 * burst: its buckets fill from the loss; a Redis bitmon meets for the
 * first time starts them full. */
static void test_budget_redis_state_lost(void) {
        char prefix[64], key[160];
        t_prefix(prefix, sizeof(prefix), "lost");
        cache_redis_t *rc = conn(&shared, prefix);
        cache_budget_t *b = budget(2, 5, 1);
        T_ASSERT(rc && b);
        cache_fp_t fa = fp_of("bitwat_lost_a"), fb = fp_of("bitwat_lost_b");
        for (int i = 0; i < 5; i++) /* first contact: the burst is there */
                T_EQ_INT(cache_budget_take(b, rc, &fa, "ws"), 0);
        T_ASSERT(cache_budget_take(b, rc, &fa, "ws") > 0);
        /* the state is lost: every key of this prefix gone */
        redisContext *raw = tredis_raw(&shared);
        snprintf(key, sizeof(key), "%sbudget:epoch", prefix);
        T_EQ_INT(t_raw_int(raw, "EXISTS %s", key), 1);
        freeReplyObject(redisCommand(raw, "DEL %s", key));
        snprintf(key, sizeof(key), "%sbudget:%s", prefix, fa.id);
        freeReplyObject(redisCommand(raw, "DEL %s", key));
        int64_t wa = cache_budget_take(b, rc, &fa, "ws");
        int64_t wb = cache_budget_take(b, rc, &fb, "ws"); /* never seen */
        T_ASSERTF(wa > 300 && wa <= 500, "after the loss: wait %lld",
                  (long long)wa);
        T_ASSERTF(wb > 300 && wb <= 500, "another token: wait %lld",
                  (long long)wb);
        snprintf(key, sizeof(key), "%sbudget:epoch", prefix);
        T_ASSERT(t_raw_int(raw, "EXISTS %s", key) == 1);
        redisFree(raw);
        /* a new process (first contact) does not reset the epoch: a token
         * nobody took from yet still has no fresh burst */
        cache_fp_t fc      = fp_of("bitwat_lost_c");
        cache_budget_t *b2 = budget(2, 5, 1);
        T_ASSERT(b2 && cache_budget_take(b2, rc, &fc, "ws") > 0);
        cache_budget_destroy(b2);
        cache_budget_destroy(b);
        cache_redis_destroy(rc);
}

/* A list call (background) leaves share x half the burst to the calls
 * that finish builds; those still get everything that is left. */
static void test_budget_background_reserve(void) {
        char prefix[64];
        t_prefix(prefix, sizeof(prefix), "bg");
        cache_redis_t *rc = conn(&shared, prefix);
        cache_budget_t *b = budget(0.1, 20, 1); /* refills nothing here */
        T_ASSERT(rc && b);
        cache_fp_t fp      = fp_of("bitwat_bg");
        cache_validity_t v = CACHE_VALIDITY_UNKNOWN;
        for (int i = 0; i < 10; i++)
                T_EQ_INT(
                    cache_budget_take_checked(b, rc, &fp, "ws", "app1", &v), 0);
        /* 10 left: the whole reserve (10) stays */
        int64_t w =
            cache_budget_take_background(b, rc, &fp, "ws", "app1", 1.0, &v);
        T_ASSERTF(w > 0, "background call went with the reserve left (%lld)",
                  (long long)w);
        /* an overdue caller leaves a quarter of it (2): 8 more go */
        int n = 0;
        while (n < 50 && cache_budget_take_background(b, rc, &fp, "ws", "app1",
                                                      0.25, &v) == 0)
                n++;
        T_EQ_INT(n, 8);
        T_EQ_INT(cache_budget_take_checked(b, rc, &fp, "ws", "app1", &v), 0);
        T_EQ_INT(cache_budget_take_checked(b, rc, &fp, "ws", "app1", &v), 0);
        T_ASSERT(cache_budget_take_checked(b, rc, &fp, "ws", "app1", &v) > 0);
        cache_budget_destroy(b);
        cache_redis_destroy(rc);
}

static void test_budget_overrides(void) {
        char prefix[64], err[256];
        t_prefix(prefix, sizeof(prefix), "ovr");
        cache_redis_t *rc            = conn(&shared, prefix);
        cache_budget_override_t ov[] = {{"ws-slow", 0.1, 1},
                                        {"ws-big", 100, 50}};
        cache_budget_opts_t o        = {
                   .rate = 1, .burst = 3, .overrides = ov, .n_overrides = 2};
        cache_budget_t *b = cache_budget_new(&o, err, sizeof(err));
        T_ASSERT(rc && b);
        double r, bu;
        cache_budget_limits(b, "ws-big", &r, &bu);
        T_ASSERT(r == 100 && bu == 50);
        cache_budget_limits(b, "ws-none", &r, &bu);
        T_ASSERT(r == 1 && bu == 3);
        cache_fp_t fbig = fp_of("t_big"), fdef = fp_of("t_def"),
                   fslow = fp_of("t_slow");
        for (int i = 0; i < 50; i++)
                T_EQ_INT(cache_budget_take(b, rc, &fbig, "ws-big"), 0);
        T_ASSERT(cache_budget_take(b, rc, &fbig, "ws-big") > 0);
        for (int i = 0; i < 3; i++)
                T_EQ_INT(cache_budget_take(b, rc, &fdef, "ws-default"), 0);
        T_ASSERT(cache_budget_take(b, rc, &fdef, "ws-default") > 0);
        T_EQ_INT(cache_budget_take(b, rc, &fslow, "ws-slow"), 0);
        int64_t w = cache_budget_take(b, rc, &fslow, "ws-slow");
        T_ASSERTF(w > 9000 && w <= 10000, "slow wait %lld", (long long)w);
        cache_budget_destroy(b);
        /* bad options are refused with a reason */
        cache_budget_override_t dup[] = {{"ws", 1, 1}, {"ws", 2, 2}};
        o.overrides                   = dup;
        o.n_overrides                 = 2;
        T_ASSERT(!cache_budget_new(&o, err, sizeof(err)));
        T_ASSERT(strstr(err, "duplicate budget override for workspace ws"));
        cache_budget_override_t zero[] = {{"ws", 0, 1}};
        o.overrides                    = zero;
        o.n_overrides                  = 1;
        T_ASSERT(!cache_budget_new(&o, err, sizeof(err)));
        cache_budget_override_t noname[] = {{NULL, 1, 1}};
        o.overrides                      = noname;
        T_ASSERT(!cache_budget_new(&o, err, sizeof(err)));
        cache_budget_opts_t neg = {.rate = -1, .burst = 0.5};
        T_ASSERT(!cache_budget_new(&neg, err, sizeof(err)));
        T_ASSERT(strstr(err, "invalid request budget"));
        cache_redis_destroy(rc);
}

static void sha1_hex(const char *s, char out[41]) {
        unsigned char md[20];
        unsigned int n = 0;
        EVP_Digest(s, strlen(s), md, &n, EVP_sha1(), NULL);
        for (int i = 0; i < 20; i++)
                snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static long long script_exists(const tredis_t *t, const char *sha) {
        redisContext *c = tredis_raw(t);
        redisReply *r   = redisCommand(c, "SCRIPT EXISTS %s", sha);
        long long v     = r && r->type == REDIS_REPLY_ARRAY && r->elements == 1
                              ? r->element[0]->integer
                              : -1;
        if (r)
                freeReplyObject(r);
        redisFree(c);
        return v;
}

/* Counts grants of the local limiter over `ms` of sleeping on its waits. */
static int drain_for(cache_budget_t *b, cache_redis_t *rc, const cache_fp_t *fp,
                     int64_t ms) {
        int granted  = 0;
        int64_t stop = time_mono_ms() + ms;
        while (time_mono_ms() < stop) {
                int64_t w = cache_budget_take(b, rc, fp, "ws");
                if (w == 0)
                        granted++;
                else
                        t_sleep_ms(w < 20 ? w : 20);
        }
        return granted;
}

static void test_budget_redis_killed_fallback_and_recovery(void) {
        tredis_t own;
        char sha[41];
        T_EQ_INT(tredis_start(&own, true), 0);
        cache_redis_t *rc = conn(&own, "itest:kill:");
        cache_budget_t *b = budget(40, 8, 4); /* local share: 10/s, burst 2 */
        T_ASSERT(rc && b);
        cache_fp_t fp = fp_of("bitwat_kill");
        T_EQ_INT(cache_budget_take(b, rc, &fp, "ws"), 0);
        T_ASSERT(!cache_budget_degraded(b));
        /* NOSCRIPT: the script cache is flushed under us */
        sha1_hex(cache_budget_script_take.src, sha);
        T_EQ_INT(script_exists(&own, sha), 1);
        redisContext *raw = tredis_raw(&own);
        freeReplyObject(redisCommand(raw, "SCRIPT FLUSH"));
        redisFree(raw);
        T_EQ_INT(script_exists(&own, sha), 0);
        T_EQ_INT(cache_budget_take(b, rc, &fp, "ws"), 0);
        T_EQ_INT(script_exists(&own, sha), 1); /* reloaded by the take */
        T_ASSERT(!cache_budget_degraded(b));

        tredis_kill(&own);
        /* the shared state answered a moment ago: a connection that is down
         * waits for it (the grace) rather than take beside it */
        int64_t w = cache_budget_take(b, rc, &fp, "ws");
        T_EQ_INT(w, BUDGET_SHARED_RETRY_MS);
        T_ASSERT(!cache_budget_degraded(b));
        T_ASSERT(cache_redis_down_count() >= 1);
        t_sleep_ms(BUDGET_SHARED_GRACE_MS);
        /* then the local bucket, which starts empty: 10/s, nothing yet */
        w = cache_budget_take(b, rc, &fp, "ws");
        T_ASSERTF(w >= 1 && w <= 100, "local wait %lld", (long long)w);
        T_ASSERT(cache_budget_degraded(b));
        /* the local limiter holds rate / replicas = 10/s */
        int64_t t0  = time_mono_ms();
        int granted = drain_for(b, rc, &fp, 1000);
        double secs = (double)(time_mono_ms() - t0) / 1000.0;
        T_ASSERTF(granted <= 10 * secs + 2 && granted >= 8,
                  "local limiter granted %d in %.2f s", granted, secs);
        /* a 429 while Redis is down blocks locally */
        cache_fp_t fp2 = fp_of("bitwat_kill_429");
        T_ASSERT(cache_budget_on_429(b, rc, &fp2, "1") == 1000);
        T_ASSERT(cache_budget_take(b, rc, &fp2, "ws") > 900);

        T_EQ_INT(tredis_restart(&own), 0);
        int64_t until = time_mono_ms() + 3000 * (int64_t)t_scale();
        while (time_mono_ms() < until) {
                cache_budget_take(b, rc, &fp, "ws");
                if (!cache_budget_degraded(b))
                        break;
                t_sleep_ms(20);
        }
        T_ASSERT(!cache_budget_degraded(b)); /* shared again by itself */
        /* a second outage: the local bucket, full again after the seconds
         * in between, starts empty once more */
        tredis_kill(&own);
        t_sleep_ms(BUDGET_SHARED_GRACE_MS);
        w = cache_budget_take(b, rc, &fp, "ws");
        T_ASSERTF(w >= 1 && w <= 100, "local wait %lld after a second outage",
                  (long long)w);
        T_ASSERT(cache_budget_degraded(b));
        T_EQ_INT(tredis_restart(&own), 0);
        until = time_mono_ms() + 3000 * (int64_t)t_scale();
        while (time_mono_ms() < until) {
                cache_budget_take(b, rc, &fp, "ws");
                if (!cache_budget_degraded(b))
                        break;
                t_sleep_ms(20);
        }
        T_ASSERT(!cache_budget_degraded(b));
        char key[128];
        snprintf(key, sizeof(key), "itest:kill:budget:%s", fp.id);
        raw = tredis_raw(&own);
        T_EQ_INT(t_raw_int(raw, "EXISTS %s", key), 1);
        redisFree(raw);
        T_EQ_INT(script_exists(&own, sha), 1); /* NOSCRIPT after restart */
        cache_budget_destroy(b);
        cache_redis_destroy(rc);
        tredis_stop(&own);
}

static void test_budget_error_reply_and_wait_cap(void) {
        char prefix[64], key[128], err[256];
        t_prefix(prefix, sizeof(prefix), "odd");
        cache_redis_t *rc     = conn(&shared, prefix);
        cache_budget_opts_t o = {.rate = 10, .burst = 1, .max_wait_ms = 500};
        cache_budget_t *b     = cache_budget_new(&o, err, sizeof(err));
        T_ASSERT(rc && b);
        /* a 429 asking for a minute is answered in bounded steps */
        cache_fp_t fp = fp_of("bitwat_cap");
        T_EQ_INT(cache_budget_on_429(b, rc, &fp, "60"), 500);
        T_EQ_INT(cache_budget_take(b, rc, &fp, "ws"), 500);
        /* the key holds something else (WRONGTYPE): the script errs, the
         * local limiter answers, the connection stays up */
        cache_fp_t odd = fp_of("bitwat_wrongtype");
        snprintf(key, sizeof(key), "%sbudget:%s", prefix, odd.id);
        redisContext *raw = tredis_raw(&shared);
        freeReplyObject(redisCommand(raw, "SET %s not-a-hash EX 60", key));
        redisFree(raw);
        int64_t w = cache_budget_take(b, rc, &odd, "ws");
        T_ASSERTF(w >= 1 && w <= 100, "local wait %lld at 10/s", (long long)w);
        T_ASSERT(cache_budget_degraded(b)); /* no grace: the connection is up */
        T_ASSERT(cache_redis_is_up(rc));
        cache_fp_t fine = fp_of("bitwat_fine");
        T_EQ_INT(cache_budget_take(b, rc, &fine, "ws"), 0);
        T_ASSERT(!cache_budget_degraded(b)); /* shared again */
        cache_budget_destroy(b);
        cache_redis_destroy(rc);
}

static cache_budget_t *thr_b;
static atomic_int thr_granted;

static void *thr_take(void *arg) {
        atomic_fetch_add(&thr_granted, drain_for(thr_b, NULL, arg, 1000));
        return NULL;
}

static void test_budget_local_only_threads(void) {
        /* no Redis at all (rc NULL): the process-wide table is shared by
         * threads under its mutex */
        thr_b = budget(40, 8, 2); /* local: 20/s from empty, burst 4 */
        T_ASSERT(thr_b);
        cache_fp_t fp = fp_of("bitwat_threads");
        pthread_t th[4];
        int64_t t0 = time_mono_ms();
        for (int i = 0; i < 4; i++)
                pthread_create(&th[i], NULL, thr_take, &fp);
        for (int i = 0; i < 4; i++)
                pthread_join(th[i], NULL);
        double secs = (double)(time_mono_ms() - t0) / 1000.0;
        /* one bucket for the four: 20/s in all, not 20/s each */
        T_ASSERTF(atomic_load(&thr_granted) >= 10 &&
                      atomic_load(&thr_granted) <= 20 * secs + 1,
                  "granted %d in %.2f s at 20/s", atomic_load(&thr_granted),
                  secs);
        T_ASSERT(cache_budget_degraded(thr_b));
        cache_budget_destroy(thr_b);
}

int main(void) {
        signal(SIGPIPE,
               SIG_IGN); /* as main does: hiredis writes with write(2) */
        log_setup(LOG_LVL_WARN, LOG_FMT_AUTO, 2);
        if (tredis_start(&shared, false) != 0) {
                printf("FAIL cannot start redis-server\n");
                return 1;
        }
        T_RUN(test_budget_rate_burst_accuracy);
        T_RUN(test_budget_429_shared_between_connections);
        T_RUN(test_budget_429_backoff_without_retry_after);
        T_RUN(test_budget_xratelimit_adopted);
        T_RUN(test_budget_workspace_isolation);
        T_RUN(test_budget_overrides);
        T_RUN(test_budget_take_checked);
        T_RUN(test_budget_background_reserve);
        T_RUN(test_budget_redis_state_lost);
        T_RUN(test_budget_error_reply_and_wait_cap);
        T_RUN(test_budget_redis_killed_fallback_and_recovery);
        T_RUN(test_budget_local_only_threads);
        tredis_stop(&shared);
        return t_done();
}
