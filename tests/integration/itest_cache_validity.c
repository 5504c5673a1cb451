/* Integration tests for cache/validity and cache/buildcache on a real Redis:
 * validity written only from authoritative answers, with TTLs, visible from
 * another connection; build cache hit/miss/TTL, refresh lease exclusivity
 * between two connections, done markers. */
#include "cache/buildcache.h"
#include "cache/validity.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "tests/assert.h"
#include "tests/integration/itest_cache_redis.h"

static tredis_t srv;

static cache_redis_t *conn(const char *prefix) {
        char err[256];
        cache_redis_opts_t o = tredis_opts(&srv);
        o.prefix             = prefix;
        cache_redis_t *rc    = cache_redis_new(&o, err, sizeof(err));
        if (!rc || !cache_redis_is_up(rc))
                fprintf(stderr, "  cannot connect: %s\n", err);
        return rc;
}

/* PTTL of prefix+suffix through a raw connection (-2 = no key). */
static long long pttl(const char *prefix, const char *suffix) {
        char key[512];
        snprintf(key, sizeof(key), "%s%s", prefix, suffix);
        redisContext *c = tredis_raw(&srv);
        long long v     = t_raw_int(c, "PTTL %s", key);
        redisFree(c);
        return v;
}

/* Number of keys under prefix. */
static long long count_keys(const char *prefix) {
        char pat[128];
        long long n = 0;
        snprintf(pat, sizeof(pat), "%s*", prefix);
        redisContext *c = tredis_raw(&srv);
        redisReply *r   = redisCommand(c, "KEYS %s", pat);
        if (r && r->type == REDIS_REPLY_ARRAY)
                n = (long long)r->elements;
        if (r)
                freeReplyObject(r);
        redisFree(c);
        return n;
}

static cache_fp_t fp_of(const char *token) {
        cache_fp_t fp;
        cache_fp_compute((const unsigned char *)"k", 1, token, strlen(token),
                         &fp);
        return fp;
}

static void test_validity_only_authoritative(void) {
        char prefix[64], err[256];
        t_prefix(prefix, sizeof(prefix), "valid");
        cache_redis_t *rc = conn(prefix);
        T_ASSERT(rc);
        cache_fp_t fp           = fp_of("bitwat_validity_token");
        cache_validity_opts_t o = {
            .valid_ttl_s = 100, .invalid_ttl_s = 200, .role_ttl_s = 300};
        /* network error (0), 404, 429, 5xx: refused, nothing written */
        static const int transient[] = {0,   100, 301, 400, 404, 408,
                                        429, 500, 502, 503, 504, -1};
        for (size_t i = 0; i < sizeof(transient) / sizeof(transient[0]); i++) {
                T_EQ_INT(cache_validity_record(rc, &o, &fp, "app1",
                                               transient[i], err, sizeof(err)),
                         CACHE_E_REFUSED);
                T_ASSERT(strstr(err, fp.log) &&
                         strstr(err, "not authoritative"));
        }
        T_EQ_INT(count_keys(prefix), 0);
        cache_validity_t v;
        T_EQ_INT(cache_validity_get(rc, &fp, "app1", &v, err, sizeof(err)), 0);
        T_EQ_INT(v, CACHE_VALIDITY_UNKNOWN);

        T_EQ_INT(
            cache_validity_record(rc, &o, &fp, NULL, 200, err, sizeof(err)), 0);
        char suffix[128];
        snprintf(suffix, sizeof(suffix), "tok:%s:state", fp.id);
        long long t = pttl(prefix, suffix);
        T_ASSERTF(t > 98000 && t <= 100000, "valid ttl %lld", t);
        T_EQ_INT(cache_validity_get(rc, &fp, "app1", &v, err, sizeof(err)), 0);
        T_EQ_INT(v, CACHE_VALIDITY_VALID);

        /* 403 is per app: app1 insufficient, app2 still valid */
        T_EQ_INT(
            cache_validity_record(rc, &o, &fp, "app1", 403, err, sizeof(err)),
            0);
        snprintf(suffix, sizeof(suffix), "tok:%s:role:app1", fp.id);
        t = pttl(prefix, suffix);
        T_ASSERTF(t > 298000 && t <= 300000, "role ttl %lld", t);
        T_EQ_INT(cache_validity_get(rc, &fp, "app1", &v, err, sizeof(err)), 0);
        T_EQ_INT(v, CACHE_VALIDITY_INSUFFICIENT_ROLE);
        T_EQ_INT(cache_validity_get(rc, &fp, "app2", &v, err, sizeof(err)), 0);
        T_EQ_INT(v, CACHE_VALIDITY_VALID);
        T_EQ_INT(
            cache_validity_record(rc, &o, &fp, NULL, 403, err, sizeof(err)),
            CACHE_E_ARG);

        /* 401 wins everywhere, seen from another connection ("any pod") */
        T_EQ_INT(
            cache_validity_record(rc, &o, &fp, "app2", 401, err, sizeof(err)),
            0);
        snprintf(suffix, sizeof(suffix), "tok:%s:state", fp.id);
        t = pttl(prefix, suffix);
        T_ASSERTF(t > 198000 && t <= 200000, "invalid ttl %lld", t);
        cache_redis_t *other = conn(prefix);
        T_ASSERT(other);
        T_EQ_INT(cache_validity_get(other, &fp, "app1", &v, err, sizeof(err)),
                 0);
        T_EQ_INT(v, CACHE_VALIDITY_INVALID);
        T_EQ_INT(cache_validity_get(other, &fp, NULL, &v, err, sizeof(err)), 0);
        T_EQ_INT(v, CACHE_VALIDITY_INVALID);
        T_EQ_STR(cache_validity_name(v), "invalid");
        /* a network error afterwards changes nothing */
        T_EQ_INT(cache_validity_record(rc, &o, &fp, NULL, 0, err, sizeof(err)),
                 CACHE_E_REFUSED);
        T_EQ_INT(cache_validity_get(other, &fp, NULL, &v, err, sizeof(err)), 0);
        T_EQ_INT(v, CACHE_VALIDITY_INVALID);
        /* a new token (rotation) has its own, empty state */
        cache_fp_t fp2 = fp_of("bitwat_validity_token_rotated");
        T_EQ_INT(cache_validity_get(other, &fp2, "app1", &v, err, sizeof(err)),
                 0);
        T_EQ_INT(v, CACHE_VALIDITY_UNKNOWN);
        /* bad app slugs never reach a key */
        T_EQ_INT(
            cache_validity_record(rc, &o, &fp, "a b", 403, err, sizeof(err)),
            CACHE_E_ARG);
        T_EQ_INT(cache_validity_get(rc, &fp, "x:y", &v, err, sizeof(err)),
                 CACHE_E_ARG);
        cache_redis_destroy(other);
        cache_redis_destroy(rc);
}

static void test_validity_defaults_and_down(void) {
        char prefix[64], err[256], suffix[128];
        t_prefix(prefix, sizeof(prefix), "valid2");
        cache_redis_t *rc = conn(prefix);
        T_ASSERT(rc);
        cache_fp_t fp = fp_of("bitwat_defaults");
        T_EQ_INT(
            cache_validity_record(rc, NULL, &fp, NULL, 401, err, sizeof(err)),
            0);
        snprintf(suffix, sizeof(suffix), "tok:%s:state", fp.id);
        long long t = pttl(prefix, suffix);
        T_ASSERTF(t > 290000 && t <= 300000, "default invalid ttl %lld", t);
        cache_redis_destroy(rc);
        /* Redis down: UNKNOWN and an error, so the caller asks Bitrise */
        cache_redis_opts_t o = {.host = "127.0.0.1",
                                .port = tredis_free_port()};
        rc                   = cache_redis_new(&o, err, sizeof(err));
        cache_validity_t v   = CACHE_VALIDITY_VALID;
        T_EQ_INT(cache_validity_get(rc, &fp, NULL, &v, err, sizeof(err)),
                 CACHE_E_DOWN);
        T_EQ_INT(v, CACHE_VALIDITY_UNKNOWN);
        cache_redis_destroy(rc);
}

static void test_buildcache_hit_miss_ttl(void) {
        char prefix[64], err[256];
        buf_t b;
        t_prefix(prefix, sizeof(prefix), "build");
        cache_redis_t *rc = conn(prefix);
        T_ASSERT(rc);
        buf_init(&b, 1 << 16);
        const char *app = "669403bffbe35909", *build = "a1b2c3d4e5f60718";
        T_EQ_INT(cache_build_get(rc, app, build, &b, err, sizeof(err)), 0);
        const char *json = "{\"status\":0,\"status_text\":\"in-progress\"}";
        T_EQ_INT(cache_build_store(rc, app, build, json, strlen(json), 5000,
                                   err, sizeof(err)),
                 0);
        T_EQ_INT(cache_build_get(rc, app, build, &b, err, sizeof(err)), 1);
        T_EQ_STR(buf_cstr(&b), json);
        char suffix[128];
        snprintf(suffix, sizeof(suffix), "build:%s:%s", app, build);
        long long t = pttl(prefix, suffix);
        T_ASSERTF(t > 4000 && t <= 5000, "build ttl %lld", t);
        /* expires after the poll interval */
        T_EQ_INT(cache_build_store(rc, app, build, json, strlen(json), 50, err,
                                   sizeof(err)),
                 0);
        t_sleep_ms(120);
        buf_reset(&b);
        T_EQ_INT(cache_build_get(rc, app, build, &b, err, sizeof(err)), 0);
        /* bad input */
        T_EQ_INT(
            cache_build_store(rc, app, build, json, 0, 100, err, sizeof(err)),
            CACHE_E_ARG);
        T_EQ_INT(cache_build_store(rc, app, build, json, strlen(json), 0, err,
                                   sizeof(err)),
                 CACHE_E_ARG);
        T_EQ_INT(cache_build_get(rc, "a:b", build, &b, err, sizeof(err)),
                 CACHE_E_ARG);
        T_EQ_INT(cache_build_get(rc, "", build, &b, err, sizeof(err)),
                 CACHE_E_ARG);
        /* a value larger than the caller's buffer cap: error, not truncation */
        buf_t small;
        buf_init(&small, 8);
        T_EQ_INT(cache_build_store(rc, app, build, json, strlen(json), 5000,
                                   err, sizeof(err)),
                 0);
        T_EQ_INT(cache_build_get(rc, app, build, &small, err, sizeof(err)),
                 CACHE_E_ARG);
        buf_release(&small);
        buf_release(&b);
        cache_redis_destroy(rc);
}

static void test_buildcache_lease_exclusive(void) {
        char prefix[64], err[256];
        t_prefix(prefix, sizeof(prefix), "lease");
        cache_redis_t *a = conn(prefix), *b = conn(prefix);
        T_ASSERT(a && b);
        const char *app = "669403bffbe35909", *build = "0000000000000001";
        T_EQ_INT(cache_build_lease_try(a, app, build, "pod-a/w1", 5000, err,
                                       sizeof(err)),
                 1);
        T_EQ_INT(cache_build_lease_try(b, app, build, "pod-b/w1", 5000, err,
                                       sizeof(err)),
                 0);
        T_EQ_INT(cache_build_lease_try(a, app, build, "pod-a/w1", 5000, err,
                                       sizeof(err)),
                 0); /* not re-entrant either */
        /* only the holder releases */
        T_EQ_INT(cache_build_lease_release(b, app, build, "pod-b/w1", err,
                                           sizeof(err)),
                 0);
        T_EQ_INT(cache_build_lease_try(b, app, build, "pod-b/w1", 5000, err,
                                       sizeof(err)),
                 0);
        T_EQ_INT(cache_build_lease_release(a, app, build, "pod-a/w1", err,
                                           sizeof(err)),
                 1);
        T_EQ_INT(cache_build_lease_try(b, app, build, "pod-b/w1", 100, err,
                                       sizeof(err)),
                 1);
        /* an abandoned lease expires */
        t_sleep_ms(180);
        T_EQ_INT(cache_build_lease_try(a, app, build, "pod-a/w1", 5000, err,
                                       sizeof(err)),
                 1);
        /* another build has its own lease */
        T_EQ_INT(cache_build_lease_try(b, app, "0000000000000002", "pod-b/w1",
                                       5000, err, sizeof(err)),
                 1);
        /* many contenders, one winner */
        int winners = 0;
        for (int i = 0; i < 20; i++) {
                char owner[32];
                snprintf(owner, sizeof(owner), "pod-%d", i);
                winners += cache_build_lease_try(i % 2 ? a : b, app,
                                                 "0000000000000003", owner,
                                                 5000, err, sizeof(err));
        }
        T_EQ_INT(winners, 1);
        T_EQ_INT(
            cache_build_lease_try(a, app, build, "", 100, err, sizeof(err)),
            CACHE_E_ARG);
        cache_redis_destroy(a);
        cache_redis_destroy(b);
}

/* The one-round-trip forms keep the two-call semantics: a hit never takes
 * the lease, a miss takes it exactly once, the store releases only our own
 * lease and always stores. */
static void test_buildcache_combined(void) {
        char prefix[64], err[256], suffix[128];
        buf_t out;
        t_prefix(prefix, sizeof(prefix), "comb");
        cache_redis_t *a = conn(prefix), *b = conn(prefix);
        T_ASSERT(a && b);
        buf_init(&out, 1 << 16);
        const char *app = "669403bffbe35909", *build = "00000000000000c1";
        const char *json = "{\"status\":1,\"status_text\":\"success\"}";
        int lease        = -7;
        T_EQ_INT(cache_build_get_lease(a, app, build, "pod-a/w1", 5000, &out,
                                       &lease, err, sizeof(err)),
                 0);
        T_EQ_INT(lease, 1);
        snprintf(suffix, sizeof(suffix), "build:%s:%s:lease", app, build);
        long long t = pttl(prefix, suffix);
        T_ASSERTF(t > 4000 && t <= 5000, "lease ttl %lld", t);
        lease = -7;
        T_EQ_INT(cache_build_get_lease(b, app, build, "pod-b/w1", 5000, &out,
                                       &lease, err, sizeof(err)),
                 0);
        T_EQ_INT(lease, 0); /* held by a */
        /* b may store (no lease of its own) but does not release a's */
        T_EQ_INT(cache_build_store_release(b, app, build, json, strlen(json),
                                           5000, "pod-b/w1", err, sizeof(err)),
                 0);
        T_ASSERT(pttl(prefix, suffix) > 0);
        T_EQ_INT(cache_build_store_release(a, app, build, json, strlen(json),
                                           3000, "pod-a/w1", err, sizeof(err)),
                 1);
        T_EQ_INT(pttl(prefix, suffix), -2);
        snprintf(suffix, sizeof(suffix), "build:%s:%s", app, build);
        t = pttl(prefix, suffix);
        T_ASSERTF(t > 2000 && t <= 3000, "build ttl %lld", t);
        /* a hit: the value, and the lease is left alone */
        lease = -7;
        T_EQ_INT(cache_build_get_lease(b, app, build, "pod-b/w1", 5000, &out,
                                       &lease, err, sizeof(err)),
                 1);
        T_EQ_STR(buf_cstr(&out), json);
        T_EQ_INT(lease, -7);
        T_EQ_INT(cache_build_lease_try(a, app, build, "pod-a/w1", 100, err,
                                       sizeof(err)),
                 1);
        /* many contenders on a miss, one winner */
        int winners = 0;
        for (int i = 0; i < 20; i++) {
                char owner[32];
                snprintf(owner, sizeof(owner), "pod-%d", i);
                lease = -7;
                T_EQ_INT(cache_build_get_lease(i % 2 ? a : b, app,
                                               "00000000000000c2", owner, 5000,
                                               &out, &lease, err, sizeof(err)),
                         0);
                winners += lease;
        }
        T_EQ_INT(winners, 1);
        /* a value larger than the caller's buffer cap: error */
        buf_t small;
        buf_init(&small, 8);
        T_EQ_INT(cache_build_get_lease(a, app, build, "pod-a/w1", 5000, &small,
                                       &lease, err, sizeof(err)),
                 CACHE_E_ARG);
        buf_release(&small);
        /* bad input */
        T_EQ_INT(cache_build_get_lease(a, app, build, "", 5000, &out, &lease,
                                       err, sizeof(err)),
                 CACHE_E_ARG);
        T_EQ_INT(cache_build_get_lease(a, "a:b", build, "o", 5000, &out, &lease,
                                       err, sizeof(err)),
                 CACHE_E_ARG);
        T_EQ_INT(cache_build_get_lease(a, app, build, "o", 0, &out, &lease, err,
                                       sizeof(err)),
                 CACHE_E_ARG);
        T_EQ_INT(cache_build_store_release(a, app, build, json, 0, 100, "o",
                                           err, sizeof(err)),
                 CACHE_E_ARG);
        T_EQ_INT(cache_build_store_release(a, app, build, json, strlen(json), 0,
                                           "o", err, sizeof(err)),
                 CACHE_E_ARG);
        T_EQ_INT(cache_build_store_release(a, app, build, json, strlen(json),
                                           100, "", err, sizeof(err)),
                 CACHE_E_ARG);
        buf_release(&out);
        cache_redis_destroy(a);
        cache_redis_destroy(b);
}

static void test_done_markers(void) {
        char prefix[64], err[256], suffix[300];
        t_prefix(prefix, sizeof(prefix), "done");
        cache_redis_t *a = conn(prefix), *b = conn(prefix);
        T_ASSERT(a && b);
        const char *job = "job-7f3e:redelivered/1";
        T_EQ_INT(cache_done_check(a, job, err, sizeof(err)), 0);
        T_EQ_INT(cache_done_mark(a, job, 0, err, sizeof(err)), 0);
        T_EQ_INT(cache_done_check(b, job, err, sizeof(err)), 1);
        snprintf(suffix, sizeof(suffix), "done:%s", job);
        long long t = pttl(prefix, suffix);
        T_ASSERTF(t > (7LL * 86400 - 10) * 1000 && t <= 7LL * 86400 * 1000,
                  "default done ttl %lld", t);
        T_EQ_INT(cache_done_mark(a, "job-short", 1, err, sizeof(err)), 0);
        T_EQ_INT(cache_done_check(b, "job-short", err, sizeof(err)), 1);
        t = pttl(prefix, "done:job-short");
        T_ASSERTF(t > 0 && t <= 1000, "custom done ttl %lld", t);
        T_EQ_INT(cache_done_check(b, "job-other", err, sizeof(err)), 0);
        char long_id[200];
        memset(long_id, 'j', sizeof(long_id) - 1);
        long_id[sizeof(long_id) - 1] = '\0';
        T_EQ_INT(cache_done_mark(a, long_id, 0, err, sizeof(err)), CACHE_E_ARG);
        T_EQ_INT(cache_done_check(a, "", err, sizeof(err)), CACHE_E_ARG);
        /* Many at once: one MGET, an invalid id answered without asking. */
        const char *ids[] = {job, "job-other", "", "job-short"};
        int out[4]        = {9, 9, 9, 9};
        T_EQ_INT(cache_done_check_many(b, ids, 4, out, err, sizeof(err)), 0);
        T_EQ_INT(out[0], 1);
        T_EQ_INT(out[1], 0);
        T_EQ_INT(out[2], CACHE_E_ARG);
        T_EQ_INT(out[3], 1);
        T_EQ_INT(cache_done_check_many(b, ids + 2, 1, out, err, sizeof(err)),
                 0);
        T_EQ_INT(out[0], CACHE_E_ARG);
        /* Deferred writes leave at cache_redis_flush (or with the next
         * command waited for), not before. */
        cache_redis_defer_writes(a, true);
        T_EQ_INT(cache_done_mark(a, "job-deferred", 0, err, sizeof(err)), 0);
        T_EQ_INT(cache_done_check(b, "job-deferred", err, sizeof(err)), 0);
        T_EQ_INT(cache_redis_flush(a, err, sizeof(err)), 0);
        T_EQ_INT(cache_done_check(a, "job-other", err, sizeof(err)), 0);
        T_EQ_INT(cache_done_check(b, "job-deferred", err, sizeof(err)), 1);
        T_EQ_INT(cache_done_mark(a, "job-deferred-2", 0, err, sizeof(err)), 0);
        T_EQ_INT(cache_done_check(a, "job-deferred-2", err, sizeof(err)), 1);
        T_EQ_INT(cache_redis_flush(a, err, sizeof(err)), 0); /* nothing */
        cache_redis_destroy(a);
        cache_redis_destroy(b);
}

int main(void) {
        signal(SIGPIPE, SIG_IGN); /* as main does (hiredis uses write) */
        log_setup(LOG_LVL_WARN, LOG_FMT_AUTO, 2);
        if (tredis_start(&srv, false) != 0) {
                printf("FAIL cannot start redis-server\n");
                return 1;
        }
        T_RUN(test_validity_only_authoritative);
        T_RUN(test_validity_defaults_and_down);
        T_RUN(test_buildcache_hit_miss_ttl);
        T_RUN(test_buildcache_lease_exclusive);
        T_RUN(test_buildcache_combined);
        T_RUN(test_done_markers);
        tredis_stop(&srv);
        return t_done();
}
