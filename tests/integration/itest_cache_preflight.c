/* Integration tests for cache/preflight on a real Redis: each answer of the
 * one-round-trip build poll check (hit, refused, lease held elsewhere, budget
 * wait, go) with the keys it must and must not touch, the per-app role
 * fact, NOSCRIPT after a flush, and Redis down. */
#include "cache/buildcache.h"
#include "cache/preflight.h"
#include "common/log.h"
#include "tests/assert.h"
#include "tests/integration/itest_cache_redis.h"
#include "tests/integration/itest_cache_budget.h"

static tredis_t srv;

/* 1 when prefix+suffix exists (through a raw connection). */
static long long exists(const char *prefix, const char *suffix) {
        char key[512];
        snprintf(key, sizeof(key), "%s%s", prefix, suffix);
        redisContext *c = tredis_raw(&srv);
        long long v     = t_raw_int(c, "EXISTS %s", key);
        redisFree(c);
        return v;
}

typedef struct run {
        cache_redis_t *rc;
        cache_budget_t *b;
        cache_fp_t fp;
        buf_t out;
        cache_preflight_t pf;
} run_t;

static int pre(run_t *r, const char *app, const char *build,
               const char *owner) {
        char err[256];
        buf_reset(&r->out);
        int rc = cache_preflight(r->rc, r->b, &r->fp, "ws", app, build, owner,
                                 5000, &r->out, &r->pf, err, sizeof(err));
        if (rc < 0)
                fprintf(stderr, "  preflight: %s\n", err);
        return rc;
}

static void test_preflight_answers(void) {
        char prefix[64], err[256];
        t_prefix(prefix, sizeof(prefix), "pf");
        run_t r                  = {.rc = conn(&srv, prefix),
                                    .b  = budget(0.5, 2, 1),
                                    .fp = fp_of("bitwat_pf")};
        cache_redis_t *other     = conn(&srv, prefix);
        cache_validity_opts_t vo = {0};
        T_ASSERT(r.rc && r.b && other);
        buf_init(&r.out, CACHE_BUILD_MAX_JSON);

        /* miss: the lease is ours, one request is taken */
        T_EQ_INT(pre(&r, "app1", "b1", "w1"), 0);
        T_EQ_INT(r.pf.kind, CACHE_PREFLIGHT_GO);
        T_EQ_INT(r.pf.verdict, CACHE_VALIDITY_UNKNOWN);
        T_EQ_INT(exists(prefix, "build:app1:b1:lease"), 1);
        /* another worker: the lease is held, nothing taken */
        T_EQ_INT(pre(&r, "app1", "b1", "w2"), 0);
        T_EQ_INT(r.pf.kind, CACHE_PREFLIGHT_BUSY);
        /* the holder stores: a hit for everyone, with the verdict */
        T_EQ_INT(cache_build_store_release(r.rc, "app1", "b1", "{\"s\":1}", 7,
                                           5000, "w1", err, sizeof(err)),
                 1);
        T_EQ_INT(cache_validity_record(other, &vo, &r.fp, NULL, 200, err,
                                       sizeof(err)),
                 0);
        settle(other); /* the record was sent without waiting */
        T_EQ_INT(pre(&r, "app1", "b1", "w2"), 0);
        T_EQ_INT(r.pf.kind, CACHE_PREFLIGHT_HIT);
        T_EQ_INT(r.pf.verdict, CACHE_VALIDITY_VALID);
        T_ASSERT(r.out.len == 7 && memcmp(r.out.data, "{\"s\":1}", 7) == 0);
        /* the second request of the burst of 2, then the budget waits and
         * the lease goes back */
        T_EQ_INT(pre(&r, "app1", "b2", "w1"), 0);
        T_EQ_INT(r.pf.kind, CACHE_PREFLIGHT_GO);
        T_EQ_INT(pre(&r, "app1", "b3", "w1"), 0);
        T_EQ_INT(r.pf.kind, CACHE_PREFLIGHT_WAIT);
        T_ASSERTF(r.pf.wait_ms > 1000 && r.pf.wait_ms <= 2000, "wait %lld",
                  (long long)r.pf.wait_ms);
        T_EQ_INT(exists(prefix, "build:app1:b3:lease"), 0);

        /* a role fact refuses its app only; a 401 refuses every app, takes
         * no lease, but a cached build still comes back with the verdict */
        cache_fp_t fp2 = fp_of("bitwat_pf_2");
        r.fp           = fp2;
        T_EQ_INT(cache_validity_record(r.rc, &vo, &fp2, "app2", 403, err,
                                       sizeof(err)),
                 0);
        T_EQ_INT(pre(&r, "app2", "b4", "w1"), 0);
        T_EQ_INT(r.pf.kind, CACHE_PREFLIGHT_REFUSED);
        T_EQ_INT(r.pf.verdict, CACHE_VALIDITY_INSUFFICIENT_ROLE);
        T_EQ_INT(exists(prefix, "build:app2:b4:lease"), 0);
        T_EQ_INT(pre(&r, "app3", "b5", "w1"), 0);
        T_EQ_INT(r.pf.kind, CACHE_PREFLIGHT_GO);
        T_EQ_INT(
            cache_validity_record(r.rc, &vo, &fp2, NULL, 401, err, sizeof(err)),
            0);
        T_EQ_INT(pre(&r, "app3", "b6", "w1"), 0);
        T_EQ_INT(r.pf.kind, CACHE_PREFLIGHT_REFUSED);
        T_EQ_INT(r.pf.verdict, CACHE_VALIDITY_INVALID);
        T_EQ_INT(exists(prefix, "build:app3:b6:lease"), 0);
        T_EQ_INT(pre(&r, "app1", "b1", "w1"), 0);
        T_EQ_INT(r.pf.kind, CACHE_PREFLIGHT_HIT);
        T_EQ_INT(r.pf.verdict, CACHE_VALIDITY_INVALID);

        /* bad slugs never reach Redis */
        T_EQ_INT(pre(&r, "app:x", "b7", "w1"), CACHE_E_ARG);
        buf_release(&r.out);
        cache_budget_destroy(r.b);
        cache_redis_destroy(r.rc);
        cache_redis_destroy(other);
}

static void test_preflight_noscript_and_down(void) {
        tredis_t own;
        char err[256];
        T_EQ_INT(tredis_start(&own, true), 0);
        cache_redis_opts_t o = {.host           = own.host,
                                .port           = own.port,
                                .prefix         = "pf2:",
                                .backoff_min_ms = 50,
                                .backoff_max_ms = 200};
        run_t r              = {.rc = cache_redis_new(&o, err, sizeof(err)),
                                .b  = budget(100, 100, 1),
                                .fp = fp_of("bitwat_pf_down")};
        T_ASSERT(r.rc && r.b);
        buf_init(&r.out, CACHE_BUILD_MAX_JSON);
        T_EQ_INT(pre(&r, "app", "b1", "w1"), 0);
        redisContext *raw = tredis_raw(&own);
        freeReplyObject(redisCommand(raw, "SCRIPT FLUSH"));
        redisFree(raw);
        T_EQ_INT(pre(&r, "app", "b2", "w1"), 0); /* reloaded */
        T_EQ_INT(r.pf.kind, CACHE_PREFLIGHT_GO);
        tredis_kill(&own);
        T_EQ_INT(pre(&r, "app", "b3", "w1"), CACHE_E_DOWN);
        buf_release(&r.out);
        cache_budget_destroy(r.b);
        cache_redis_destroy(r.rc);
        tredis_stop(&own);
}

int main(void) {
        signal(SIGPIPE, SIG_IGN); /* as main does (hiredis uses write) */
        log_setup(LOG_LVL_WARN, LOG_FMT_AUTO, 2);
        if (tredis_start(&srv, false) != 0) {
                printf("FAIL cannot start redis-server\n");
                return 1;
        }
        T_RUN(test_preflight_answers);
        T_RUN(test_preflight_noscript_and_down);
        tredis_stop(&srv);
        return t_done();
}
